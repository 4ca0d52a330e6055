//! Element-wise ops: binary arithmetic with broadcasting (inline when dense), unary
//! activations, Clip, variadic Sum/Mean/Max/Min, PRelu, inference BatchNormalization, Cast.

use kernels::generic as gk;
use std::sync::Arc;

use runtime::{DType, Tensor};

use super::check::b_is_i64_pow;
use super::layout::{arr, memory_order, same_order_dense, Base, Loc, Lowerer};
use super::split::SPLIT_ELEMENTWISE_BYTES;
use crate::ir::{Node, ValueId};
use crate::ops::{Activation, BinaryKind, UnaryKind, VariadicKind};
use crate::plan::{CallKind, InlineOp, StepKind};

impl Lowerer<'_> {
    /// Add, Sub, Mul, Div, Pow with broadcasting.
    pub(super) fn lower_binary(&mut self, node: &Node, kind: BinaryKind) -> Result<(), String> {
        let out = node.outputs[0];
        let x = node.inputs.first().copied().flatten();
        let name = node.name.as_str();
        let code = match kind {
            BinaryKind::Add => gk::BINARY_ADD,
            BinaryKind::Sub => gk::BINARY_SUB,
            BinaryKind::Mul => gk::BINARY_MUL,
            BinaryKind::Div => gk::BINARY_DIV,
            BinaryKind::Pow => gk::BINARY_POW,
        };
        let (a, b) = (x.ok_or("no input")?, node.inputs[1].ok_or("no input")?);
        let (la, lb) = (self.loc(a)?, self.loc(b)?);
        if b_is_i64_pow(self.dtype(a), self.dtype(b)) {
            return Err("Pow with an int64 exponent is not supported by the compiler".into());
        }
        let y = self.binary_out(out, &[(&la, self.shape(a)), (&lb, self.shape(b))]);
        self.binary(
            name,
            code,
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

    /// PRelu: `x < 0 ? slope·x : x` with a broadcast slope.
    pub(super) fn lower_prelu(&mut self, node: &Node) -> Result<(), String> {
        let out = node.outputs[0];
        let x = node.inputs.first().copied().flatten();
        let name = node.name.as_str();
        let (a, b) = (x.ok_or("no input")?, node.inputs[1].ok_or("no slope")?);
        let (la, lb) = (self.loc(a)?, self.loc(b)?);
        let y = self.binary_out(out, &[(&la, self.shape(a)), (&lb, self.shape(b))]);
        self.binary(
            name,
            gk::BINARY_PRELU,
            &la,
            self.shape(a),
            &lb,
            self.shape(b),
            &y,
            self.shape(out),
            DType::F32,
        )?;
        self.set(out, y);
        Ok(())
    }

    /// Output location for an element-wise op: channel-last (with its halo) when a
    /// convolution or pool reads it, else the dense layout of the first operand that has the
    /// output's shape (either side: a squeeze-excite `scale * x` keeps `x`'s layout), else
    /// row-major.
    pub(super) fn binary_out(&mut self, out: ValueId, operands: &[(&Loc, &[usize])]) -> Loc {
        let shape = self.shape(out);
        if self.channel_last.contains(&out) {
            return self.alloc(out, true);
        }
        let full = || operands.iter().filter(|(_, s)| *s == shape);
        if let Some(s) = full().find_map(|(l, s)| same_order_dense(l, s)) {
            return self.alloc_strided(out, s);
        }
        if full().any(|(l, _)| l.strides.len() == 4 && l.strides[1] == 1) {
            return self.alloc(out, true);
        }
        self.alloc(out, false)
    }

    /// Strides of an operand broadcast to `out_shape` (0 on broadcast axes).
    pub(super) fn bstrides(l: &Loc, shape: &[usize], out_shape: &[usize]) -> Vec<isize> {
        let off = out_shape.len() - shape.len();
        (0..out_shape.len())
            .map(|i| {
                if i < off || shape[i - off] == 1 {
                    0
                } else {
                    l.strides[i - off]
                }
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn binary(
        &mut self,
        node: &str,
        op: u32,
        la: &Loc,
        a_shape: &[usize],
        lb: &Loc,
        b_shape: &[usize],
        y: &Loc,
        y_shape: &[usize],
        dtype: DType,
    ) -> Result<(), String> {
        let dense_same = a_shape == y_shape
            && b_shape == y_shape
            && la.strides == y.strides
            && lb.strides == y.strides
            && same_order_dense(y, y_shape).is_some();
        let inline = match op {
            gk::BINARY_ADD => Some(InlineOp::Add),
            gk::BINARY_SUB => Some(InlineOp::Sub),
            gk::BINARY_MUL => Some(InlineOp::Mul),
            gk::BINARY_DIV => Some(InlineOp::Div),
            _ => None,
        };
        if let (true, Some(op), DType::F32) = (dense_same, inline, dtype) {
            let n = y_shape.iter().product();
            self.plan.push(
                node,
                StepKind::Inline {
                    op,
                    a: la.ptr(0),
                    b: Some(lb.ptr(0)),
                    y: y.ptr(0),
                    n,
                },
                0,
            );
            return Ok(());
        }
        let (mut shape, mut st) = memory_order(
            y_shape,
            &[
                y.strides.clone(),
                Self::bstrides(la, a_shape, y_shape),
                Self::bstrides(lb, b_shape, y_shape),
            ],
        );
        let (mut la, mut lb) = (la.clone(), lb.clone());
        if dtype == DType::F32 {
            self.widen_short_runs(&mut shape, &mut st, [&mut la, &mut lb]);
        }
        let (la, lb) = (&la, &lb);
        let (sy, sa, sb) = (&st[0], &st[1], &st[2]);
        let p = gk::BinaryParams {
            op,
            dtype: match dtype {
                DType::F32 => gk::DT_F32,
                DType::I64 => gk::DT_I64,
                DType::I32 => gk::DT_I32,
                d => return Err(format!("element-wise {d} is not supported by the compiler")),
            },
            rank: shape.len(),
            shape: arr(&shape)?,
            a: std::ptr::null(),
            a_strides: arr(sa)?,
            b: std::ptr::null(),
            b_strides: arr(sb)?,
            y: std::ptr::null_mut(),
            y_strides: arr(sy)?,
        };
        let bytes = shape.iter().product::<usize>() * dtype.size();
        let split = gk::binary_split_axis(&p).filter(|_| bytes >= SPLIT_ELEMENTWISE_BYTES);
        split_call!(
            self.plan,
            node,
            gk::bqml_binary,
            gk::bqml_binary_rows,
            split,
            p,
            format!("binary op {op} {shape:?}"),
            [
                (gk::BinaryParams, a, la.ptr(0)),
                (gk::BinaryParams, b, lb.ptr(0)),
                (gk::BinaryParams, y, y.ptr(0))
            ]
        );
        Ok(())
    }

    /// Lengthens a short innermost run (e.g. a 3-channel image minus a per-channel mean:
    /// runs of 3) by folding `r` steps of the next axis into it, where every operand either
    /// steps over both axes as one or is a constant that only varies along the run; such
    /// constants are replaced by `r` copies of their run. `st[0]` is the output's strides,
    /// `st[1..]` the operands' (`ops`). Leaves everything as it is otherwise.
    pub(super) fn widen_short_runs(
        &mut self,
        shape: &mut [usize],
        st: &mut [Vec<isize>],
        ops: [&mut Loc; 2],
    ) {
        const WIDE: usize = 64;
        let k = shape.len();
        if k < 2 || shape[k - 1] >= 16 {
            return;
        }
        let (len, n) = (shape[k - 1], shape[k - 2]);
        let Some(r) = (2..=n.min(WIDE / len)).rev().find(|r| n % r == 0) else {
            return;
        };
        let joined = |s: &[isize]| s[k - 2] == s[k - 1] * len as isize;
        // A constant operand that only varies along the run: its run's values.
        let g = self.g;
        let run_of = |l: &Loc, s: &[isize]| -> Option<Vec<f32>> {
            let Base::Abs(addr) = l.base else { return None };
            if s[..k - 1].iter().any(|&x| x != 0) {
                return None;
            }
            let t = g.consts.values().find(|t| t.data_ptr() as usize == addr)?;
            let data = t.as_f32().ok()?;
            (0..len)
                .map(|i| {
                    data.get((l.offset + i as isize * s[k - 1]) as usize)
                        .copied()
                })
                .collect()
        };
        let mut tiles: [Option<Vec<f32>>; 2] = [None, None];
        for (j, l) in ops.iter().enumerate() {
            if !joined(&st[j + 1]) {
                match run_of(l, &st[j + 1]) {
                    Some(run) => tiles[j] = Some(run.repeat(r)),
                    None => return,
                }
            }
        }
        if !joined(&st[0]) {
            return;
        }
        shape[k - 2] = n / r;
        shape[k - 1] = r * len;
        for (j, l) in ops.into_iter().enumerate() {
            let s = &mut st[j + 1];
            match tiles[j].take() {
                Some(tile) => {
                    *l = self.const_loc(Arc::new(Tensor::f32(vec![r * len], tile)));
                    s.iter_mut().for_each(|x| *x = 0);
                    s[k - 1] = 1;
                }
                None => s[k - 2] *= r as isize,
            }
        }
        st[0][k - 2] *= r as isize;
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn unary_call(
        &mut self,
        node: &str,
        op: u32,
        alpha: f32,
        beta: f32,
        lx: &Loc,
        y: &Loc,
        n: usize,
    ) {
        let p = gk::UnaryParams {
            op,
            x: std::ptr::null(),
            y: std::ptr::null_mut(),
            n,
            alpha,
            beta,
        };
        call!(
            self.plan,
            node,
            gk::bqml_unary,
            p,
            CallKind::Once,
            0,
            format!("unary op {op} n={n}"),
            [
                (gk::UnaryParams, x, lx.ptr(0)),
                (gk::UnaryParams, y, y.ptr(0))
            ]
        );
    }

    /// Dense input location (any axis order) and a same-order output location.
    pub(super) fn dense_pair(
        &mut self,
        node: &str,
        x: ValueId,
        out: ValueId,
    ) -> Result<(Loc, Loc), String> {
        let lx = self.loc(x)?;
        let shape = self.shape(x);
        let lx = match same_order_dense(&lx, shape) {
            Some(_) => lx,
            None => self.row_major_loc(node, x)?,
        };
        let s = same_order_dense(&lx, shape).ok_or("internal: dense layout expected")?;
        let y = self.alloc_strided(out, s);
        Ok((lx, y))
    }

    pub(super) fn lower_unary(&mut self, node: &Node, kind: UnaryKind) -> Result<(), String> {
        let (x, out) = (node.inputs[0].ok_or("no input")?, node.outputs[0]);
        if self.dtype(x) != DType::F32 {
            return Err(format!(
                "{:?} on {} is not supported by the compiler",
                kind,
                self.dtype(x)
            ));
        }
        let (lx, y) = self.dense_pair(&node.name, x, out)?;
        let n = self.shape(x).iter().product();
        let (op, a, b) = match kind {
            UnaryKind::Relu => {
                self.plan.push(
                    &node.name,
                    StepKind::Inline {
                        op: InlineOp::Relu,
                        a: lx.ptr(0),
                        b: None,
                        y: y.ptr(0),
                        n,
                    },
                    0,
                );
                self.set(out, y);
                return Ok(());
            }
            UnaryKind::Sigmoid => (gk::UNARY_SIGMOID, 0.0, 0.0),
            UnaryKind::Tanh => (gk::UNARY_TANH, 0.0, 0.0),
            UnaryKind::Exp => (gk::UNARY_EXP, 0.0, 0.0),
            UnaryKind::Log => (gk::UNARY_LOG, 0.0, 0.0),
            UnaryKind::Sqrt => (gk::UNARY_SQRT, 0.0, 0.0),
            UnaryKind::Erf => (gk::UNARY_ERF, 0.0, 0.0),
            UnaryKind::Neg => (gk::UNARY_NEG, 0.0, 0.0),
            UnaryKind::Abs => (gk::UNARY_ABS, 0.0, 0.0),
            UnaryKind::Reciprocal => (gk::UNARY_RECIPROCAL, 0.0, 0.0),
            UnaryKind::Floor => (gk::UNARY_FLOOR, 0.0, 0.0),
            UnaryKind::Ceil => (gk::UNARY_CEIL, 0.0, 0.0),
            UnaryKind::LeakyRelu { alpha } => (gk::UNARY_LEAKY_RELU, alpha, 0.0),
            UnaryKind::HardSigmoid { alpha, beta } => (gk::UNARY_HARD_SIGMOID, alpha, beta),
            UnaryKind::HardSwish => (gk::UNARY_HARD_SWISH, 0.0, 0.0),
            UnaryKind::Elu { alpha } => (gk::UNARY_ELU, alpha, 0.0),
            UnaryKind::Selu { alpha, gamma } => (gk::UNARY_SELU, alpha, gamma),
            UnaryKind::Softplus => (gk::UNARY_SOFTPLUS, 0.0, 0.0),
            UnaryKind::Gelu { tanh: false } => (gk::UNARY_GELU, 0.0, 0.0),
            UnaryKind::Gelu { tanh: true } => (gk::UNARY_GELU_TANH, 0.0, 0.0),
        };
        self.unary_call(&node.name, op, a, b, &lx, &y, n);
        self.set(out, y);
        Ok(())
    }

    pub(super) fn lower_clip(&mut self, node: &Node) -> Result<(), String> {
        let (x, out) = (node.inputs[0].ok_or("no input")?, node.outputs[0]);
        if self.dtype(x) != DType::F32 {
            return Err("Clip on int64 is not supported by the compiler".into());
        }
        if let Some(Activation::Clip { min, max }) = self.g.activation(node) {
            let (lx, y) = self.dense_pair(&node.name, x, out)?;
            let n = self.shape(x).iter().product();
            self.plan.push(
                &node.name,
                StepKind::Inline {
                    op: InlineOp::Clip { min, max },
                    a: lx.ptr(0),
                    b: None,
                    y: y.ptr(0),
                    n,
                },
                0,
            );
            self.set(out, y);
            return Ok(());
        }
        // Runtime bounds: max(x, min) then min(·, max), NaN bounds ignored like the reference.
        let mut cur = self.loc(x)?;
        let shape = self.shape(x).to_vec();
        for (i, op) in [(1, gk::BINARY_MAX), (2, gk::BINARY_MIN)] {
            if let Some(b) = node.inputs.get(i).copied().flatten() {
                let lb = self.loc(b)?;
                let y = self.temp(&shape, 4, &format!("{} clip{i}", node.name));
                self.binary(
                    &node.name,
                    op,
                    &cur,
                    &shape,
                    &lb,
                    self.shape(b),
                    &y,
                    &shape,
                    DType::F32,
                )?;
                cur = y;
            }
        }
        if matches!(cur.base, Base::Input(_) | Base::Abs(_))
            || Some(&cur.base) == self.locs.get(&x).map(|l| &l.base)
        {
            let y = self.alloc(out, false);
            self.copy(&node.name, &cur, &y, &shape)?;
            cur = y;
        }
        self.set(out, cur);
        Ok(())
    }

    pub(super) fn lower_variadic(&mut self, node: &Node, kind: VariadicKind) -> Result<(), String> {
        let out = node.outputs[0];
        let out_shape = self.shape(out).to_vec();
        let dtype = self.dtype(out);
        let ins: Vec<ValueId> = node.inputs.iter().flatten().copied().collect();
        let op = match kind {
            VariadicKind::Sum | VariadicKind::Mean => gk::BINARY_ADD,
            VariadicKind::Max => gk::BINARY_MAX,
            VariadicKind::Min => gk::BINARY_MIN,
        };
        let y = self.alloc(out, false);
        let first = self.loc(ins[0])?;
        if ins.len() == 1 {
            // Broadcast copy of the single input.
            let l = first.view(
                first.offset,
                Self::bstrides(&first, self.shape(ins[0]), &out_shape),
            );
            self.copy(&node.name, &l, &y, &out_shape)?;
        } else {
            let (mut cur, mut cur_shape) = (first, self.shape(ins[0]).to_vec());
            for &i in &ins[1..] {
                let li = self.loc(i)?;
                self.binary(
                    &node.name,
                    op,
                    &cur,
                    &cur_shape,
                    &li,
                    self.shape(i),
                    &y,
                    &out_shape,
                    dtype,
                )?;
                cur = y.clone();
                cur_shape = out_shape.clone();
            }
        }
        if kind == VariadicKind::Mean {
            let lk = self.scalar_loc(1.0 / ins.len() as f32);
            self.binary(
                &node.name,
                gk::BINARY_MUL,
                &y.clone(),
                &out_shape,
                &lk,
                &[],
                &y,
                &out_shape,
                dtype,
            )?;
        }
        self.set(out, y);
        Ok(())
    }

    pub(super) fn lower_batchnorm(&mut self, node: &Node, eps: f32) -> Result<(), String> {
        let (x, out) = (node.inputs[0].ok_or("no input")?, node.outputs[0]);
        let shape = self.shape(x).to_vec();
        let c = shape[1];
        // Per-channel operands broadcast as [C, 1, …] against [N, C, …].
        let mut pshape = vec![c];
        pshape.extend(std::iter::repeat_n(1, shape.len().saturating_sub(2)));
        let p = |i: usize| {
            node.inputs
                .get(i)
                .copied()
                .flatten()
                .ok_or(format!("missing input {i}"))
        };
        let (scale, bias, mean, var) = (p(1)?, p(2)?, p(3)?, p(4)?);
        let view = |s: &mut Self, v: ValueId| -> Result<Loc, String> {
            let l = s.loc(v)?;
            let mut strides = vec![l.strides[0]];
            strides.extend(std::iter::repeat_n(0, pshape.len() - 1));
            Ok(l.view(l.offset, strides))
        };
        let (ls, lb, lm, lv) = (
            view(self, scale)?,
            view(self, bias)?,
            view(self, mean)?,
            view(self, var)?,
        );
        // s = scale / sqrt(var + eps), computed at run time (parameters may be inputs).
        let le = self.scalar_loc(eps);
        let t = self.temp(&pshape, 4, &format!("{} scale", node.name));
        self.binary(
            &node.name,
            gk::BINARY_ADD,
            &lv,
            &pshape,
            &le,
            &[],
            &t,
            &pshape,
            DType::F32,
        )?;
        self.unary_call(&node.name, gk::UNARY_SQRT, 0.0, 0.0, &t, &t, c);
        self.binary(
            &node.name,
            gk::BINARY_DIV,
            &ls,
            &pshape,
            &t.clone(),
            &pshape,
            &t,
            &pshape,
            DType::F32,
        )?;
        let lx = self.loc(x)?;
        let y = self.binary_out(out, &[(&lx, &shape)]);
        self.binary(
            &node.name,
            gk::BINARY_SUB,
            &lx,
            &shape,
            &lm,
            &pshape,
            &y,
            &shape,
            DType::F32,
        )?;
        self.binary(
            &node.name,
            gk::BINARY_MUL,
            &y.clone(),
            &shape,
            &t,
            &pshape,
            &y,
            &shape,
            DType::F32,
        )?;
        self.binary(
            &node.name,
            gk::BINARY_ADD,
            &y.clone(),
            &shape,
            &lb,
            &pshape,
            &y,
            &shape,
            DType::F32,
        )?;
        self.set(out, y);
        Ok(())
    }
}

impl Lowerer<'_> {
    /// Cast: one pass over the dense input into a same-order output of the new dtype.
    pub(super) fn lower_cast(&mut self, node: &Node, to: DType) -> Result<(), String> {
        let (x, out) = (node.inputs[0].ok_or("no input")?, node.outputs[0]);
        let from = self.dtype(x);
        let (lx, y) = self.dense_pair(&node.name, x, out)?;
        let n = self.shape(x).iter().product();
        let p = gk::CastParams {
            from: from as u32,
            to: to as u32,
            n,
            x: std::ptr::null(),
            y: std::ptr::null_mut(),
        };
        call!(
            self.plan,
            &node.name,
            gk::bqml_cast,
            p,
            CallKind::Once,
            0,
            format!("cast {from} -> {to} n={n}"),
            [
                (gk::CastParams, x, lx.ptr(0)),
                (gk::CastParams, y, y.ptr(0))
            ]
        );
        self.set(out, y);
        Ok(())
    }
}
