//! Comparisons, boolean logic, Where, Mod, CumSum and ScatterND: strided kernels over any
//! element type, with numpy broadcasting through 0 strides (as the binary ops).

use std::sync::Arc;

use kernels::generic as gk;
use runtime::{DType, Tensor, TensorData};

use super::layout::{arr, memory_order, Loc, Lowerer};
use super::split::SPLIT_ELEMENTWISE_BYTES;
use crate::ir::Node;
use crate::ops::{CompareKind, Einsum, LogicalKind};
use crate::plan::CallKind;

/// The kernels' code for an element type.
pub(super) fn dtype_code(d: DType) -> u32 {
    d.onnx_code() as u32
}

impl Lowerer<'_> {
    /// Comparisons (any dtype → bool) and And/Or/Xor/Not (bool).
    pub(super) fn lower_compare(&mut self, node: &Node, op: u32) -> Result<(), String> {
        let out = node.outputs[0];
        let a = node.inputs[0].ok_or("no input")?;
        let la = self.loc(a)?;
        let a_shape = self.shape(a).to_vec();
        // Not is Xor with a true scalar.
        let (lb, b_shape) = match node.inputs.get(1).copied().flatten() {
            Some(b) => (self.loc(b)?, self.shape(b).to_vec()),
            None => {
                let t = Tensor::new(vec![], TensorData::Bool(vec![true]))?;
                (self.const_loc(Arc::new(t)), vec![])
            }
        };
        let y = self.alloc(out, false);
        let y_shape = self.shape(out).to_vec();
        let (shape, st) = memory_order(
            &y_shape,
            &[
                y.strides.clone(),
                Self::bstrides(&la, &a_shape, &y_shape),
                Self::bstrides(&lb, &b_shape, &y_shape),
            ],
        );
        let p = gk::CompareParams {
            op,
            dtype: dtype_code(self.dtype(a)),
            rank: shape.len(),
            shape: arr(&shape)?,
            a: std::ptr::null(),
            a_strides: arr(&st[1])?,
            b: std::ptr::null(),
            b_strides: arr(&st[2])?,
            y: std::ptr::null_mut(),
            y_strides: arr(&st[0])?,
        };
        let bytes = shape.iter().product::<usize>() * self.dtype(a).size();
        let split = gk::compare_split_axis(&p).filter(|_| bytes >= SPLIT_ELEMENTWISE_BYTES);
        split_call!(
            self.plan,
            &node.name,
            gk::bqml_compare,
            gk::bqml_compare_rows,
            split,
            p,
            format!("compare op {op} {shape:?}"),
            [
                (gk::CompareParams, a, la.ptr(0)),
                (gk::CompareParams, b, lb.ptr(0)),
                (gk::CompareParams, y, y.ptr(0))
            ]
        );
        self.set(out, y);
        Ok(())
    }

    /// A comparison's kernel code.
    pub(super) fn compare_code(kind: CompareKind) -> u32 {
        match kind {
            CompareKind::Equal => gk::CMP_EQ,
            CompareKind::Less => gk::CMP_LT,
            CompareKind::LessOrEqual => gk::CMP_LE,
            CompareKind::Greater => gk::CMP_GT,
            CompareKind::GreaterOrEqual => gk::CMP_GE,
        }
    }

    /// A logical op's kernel code (Not runs as Xor with true).
    pub(super) fn logical_code(kind: LogicalKind) -> u32 {
        match kind {
            LogicalKind::And => gk::LOGIC_AND,
            LogicalKind::Or => gk::LOGIC_OR,
            LogicalKind::Xor | LogicalKind::Not => gk::LOGIC_XOR,
        }
    }

    /// Where: `cond ? x : y`, moving element bit patterns.
    pub(super) fn lower_where(&mut self, node: &Node) -> Result<(), String> {
        let out = node.outputs[0];
        let ids: Vec<_> = (0..3)
            .map(|i| node.inputs.get(i).copied().flatten().ok_or("missing input"))
            .collect::<Result<_, _>>()?;
        let locs: Vec<Loc> = ids.iter().map(|&v| self.loc(v)).collect::<Result<_, _>>()?;
        let y = self.alloc(out, false);
        let y_shape = self.shape(out).to_vec();
        let mut strides = vec![y.strides.clone()];
        for (l, &v) in locs.iter().zip(&ids) {
            strides.push(Self::bstrides(l, self.shape(v), &y_shape));
        }
        let (shape, st) = memory_order(&y_shape, &strides);
        let p = gk::WhereParams {
            elem_size: self.dtype(out).size(),
            rank: shape.len(),
            shape: arr(&shape)?,
            c: std::ptr::null(),
            c_strides: arr(&st[1])?,
            x: std::ptr::null(),
            x_strides: arr(&st[2])?,
            y: std::ptr::null(),
            y_strides: arr(&st[3])?,
            out: std::ptr::null_mut(),
            out_strides: arr(&st[0])?,
        };
        let bytes = shape.iter().product::<usize>() * self.dtype(out).size();
        let split = gk::where_split_axis(&p).filter(|_| bytes >= SPLIT_ELEMENTWISE_BYTES);
        split_call!(
            self.plan,
            &node.name,
            gk::bqml_where,
            gk::bqml_where_rows,
            split,
            p,
            format!("where {shape:?}"),
            [
                (gk::WhereParams, c, locs[0].ptr(0)),
                (gk::WhereParams, x, locs[1].ptr(0)),
                (gk::WhereParams, y, locs[2].ptr(0)),
                (gk::WhereParams, out, y.ptr(0))
            ]
        );
        self.set(out, y);
        Ok(())
    }

    /// Mod through the binary kernel's remainder ops.
    pub(super) fn lower_mod(&mut self, node: &Node, fmod: bool) -> Result<(), String> {
        let out = node.outputs[0];
        let (a, b) = (
            node.inputs[0].ok_or("no input")?,
            node.inputs[1].ok_or("no input")?,
        );
        let (la, lb) = (self.loc(a)?, self.loc(b)?);
        let y = self.alloc(out, false);
        let op = if fmod {
            gk::BINARY_FMOD
        } else {
            gk::BINARY_MOD
        };
        self.binary(
            &node.name,
            op,
            &la,
            self.shape(a),
            &lb,
            self.shape(b),
            &y,
            self.shape(out),
            self.dtype(out),
        )?;
        self.set(out, y);
        Ok(())
    }

    /// CumSum over a row-major `[outer, n, inner]` view of the input.
    pub(super) fn lower_cumsum(
        &mut self,
        node: &Node,
        c: &crate::ops::CumSum,
    ) -> Result<(), String> {
        let out = node.outputs[0];
        let x = node.inputs[0].ok_or("no input")?;
        let axis_v = node.inputs[1].ok_or("no axis")?;
        let axis_t = self
            .g
            .consts
            .get(&axis_v)
            .ok_or("CumSum's axis must be a constant for the compiler")?;
        let shape = self.shape(x).to_vec();
        let axis = crate::ops::cumsum_axis(axis_t, shape.len())?;
        let (outer, n, inner) = super::layout::around_axis(&shape, axis);
        let lx = self.row_major_loc(&node.name, x)?;
        let y = self.alloc(out, false);
        let p = gk::CumSumParams {
            dtype: dtype_code(self.dtype(x)),
            outer,
            n,
            inner,
            x: std::ptr::null(),
            y: std::ptr::null_mut(),
            exclusive: c.exclusive as u32,
            reverse: c.reverse as u32,
        };
        call!(
            self.plan,
            &node.name,
            gk::bqml_cumsum,
            p,
            CallKind::Once,
            0,
            format!("cumsum [{outer}, {n}, {inner}]"),
            [
                (gk::CumSumParams, x, lx.ptr(0)),
                (gk::CumSumParams, y, y.ptr(0))
            ]
        );
        self.set(out, y);
        Ok(())
    }

    /// ScatterND: the data copied into the output, then the update slices applied at the
    /// element offsets computed (and range-checked) here from the constant indices.
    pub(super) fn lower_scatter_nd(
        &mut self,
        node: &Node,
        sc: &crate::ops::ScatterNd,
    ) -> Result<(), String> {
        use crate::ops::ScatterReduction as R;
        let out = node.outputs[0];
        let input = |i: usize| node.inputs.get(i).copied().flatten().ok_or("missing input");
        let (data, idx, upd) = (input(0)?, input(1)?, input(2)?);
        let indices = self
            .g
            .consts
            .get(&idx)
            .ok_or("ScatterND's indices must be a constant for the compiler")?
            .clone();
        let shape = self.shape(data).to_vec();
        let (offsets, slice) = crate::ops::scatter_plan(&shape, &indices, self.shape(upd))
            .map_err(|m| format!("ScatterND: {m}"))?;
        let ld = self.loc(data)?;
        let y = self.alloc(out, false);
        self.copy(&node.name, &ld, &y, &shape)?;
        if offsets.is_empty() || slice == 0 {
            self.set(out, y);
            return Ok(());
        }
        let lu = self.row_major_loc(&node.name, upd)?;
        let count = offsets.len();
        let table = Tensor::i64(vec![count], offsets.iter().map(|&o| o as i64).collect());
        let lo = self.const_loc(Arc::new(table));
        let p = gk::ScatterParams {
            dtype: dtype_code(self.dtype(out)),
            reduction: match sc.reduction {
                R::None => gk::SCATTER_NONE,
                R::Add => gk::SCATTER_ADD,
                R::Mul => gk::SCATTER_MUL,
                R::Max => gk::SCATTER_MAX,
                R::Min => gk::SCATTER_MIN,
            },
            y: std::ptr::null_mut(),
            offsets: std::ptr::null(),
            updates: std::ptr::null(),
            count,
            slice,
        };
        call!(
            self.plan,
            &node.name,
            gk::bqml_scatter,
            p,
            CallKind::Once,
            0,
            format!("scatter {count} x {slice} into {shape:?}"),
            [
                (gk::ScatterParams, y, y.ptr(0)),
                (gk::ScatterParams, offsets, lo.ptr(0)),
                (gk::ScatterParams, updates, lu.ptr(0))
            ]
        );
        self.set(out, y);
        Ok(())
    }

    /// Einsum: output labels first (output order), then the summed labels; each operand's
    /// stride per label is the sum of its axes' strides carrying that label (a repeated label
    /// reads a diagonal).
    pub(super) fn lower_einsum(&mut self, node: &Node, e: &Einsum) -> Result<(), String> {
        let out = node.outputs[0];
        let mut labels: Vec<char> = e.output.clone();
        for c in e.inputs.iter().flatten() {
            if !labels.contains(c) {
                labels.push(*c);
            }
        }
        if labels.len() > gk::MAX_RANK || e.inputs.len() > gk::EINSUM_MAX_INPUTS {
            return Err(
                "Einsum with more than 6 labels or 3 operands is not supported by the compiler"
                    .into(),
            );
        }
        let mut p = gk::EinsumParams {
            dtype: dtype_code(self.dtype(out)),
            rank: labels.len(),
            out_rank: e.output.len(),
            extents: [0; gk::MAX_RANK],
            inputs: e.inputs.len(),
            x: [std::ptr::null(); gk::EINSUM_MAX_INPUTS],
            x_strides: [[0; gk::MAX_RANK]; gk::EINSUM_MAX_INPUTS],
            y: std::ptr::null_mut(),
        };
        let mut ptrs = Vec::new();
        for (i, ls) in e.inputs.iter().enumerate() {
            let v = node
                .inputs
                .get(i)
                .copied()
                .flatten()
                .ok_or("missing operand")?;
            let l = self.loc(v)?;
            let shape = self.shape(v);
            for (axis, c) in ls.iter().enumerate() {
                let li = labels.iter().position(|x| x == c).unwrap_or(0);
                p.extents[li] = shape[axis];
                p.x_strides[i][li] += l.strides[axis];
            }
            ptrs.push((
                std::mem::offset_of!(gk::EinsumParams, x) + i * std::mem::size_of::<*const u8>(),
                l.ptr(0),
            ));
        }
        let y = self.alloc(out, false);
        ptrs.push((std::mem::offset_of!(gk::EinsumParams, y), y.ptr(0)));
        let desc = format!("einsum {} labels, {} out", p.rank, p.out_rank);
        let call = crate::plan::KernelCall {
            symbol: "bqml_einsum",
            addr: gk::bqml_einsum as *const () as usize,
            kind: CallKind::Once,
            template: crate::plan::template_of(&p),
            ptrs,
            loads: Vec::new(),
            desc,
        };
        self.plan
            .push(&node.name, crate::plan::StepKind::Call(call), 0);
        self.set(out, y);
        Ok(())
    }
}
