//! Reductions: Reduce* over any axes, Softmax, ArgMax/ArgMin (and global pooling, through
//! the shared reduce helper).

use kernels::generic as gk;

use super::layout::{around_axis, arr, row_major, Loc, Lowerer};
use crate::ir::Node;
use crate::ops::{self, ReduceKind};
use crate::plan::CallKind;

impl Lowerer<'_> {
    /// Softmax / LogSoftmax over one axis (or the flattened trailing axes before opset 13).
    pub(super) fn lower_softmax(&mut self, node: &Node, s: &ops::Softmax) -> Result<(), String> {
        let out = node.outputs[0];
        let x = node.inputs.first().copied().flatten();
        let name = node.name.as_str();
        let x = x.ok_or("no input")?;
        let shape = self.shape(x);
        let axis = ops::util::normalize_axis(s.axis, shape.len())?;
        let (outer, n, inner) = if s.flatten {
            let (outer, n, inner) = around_axis(shape, axis);
            (outer, n * inner, 1)
        } else {
            around_axis(shape, axis)
        };
        let lx = self.row_major_loc(name, x)?;
        let y = self.alloc(out, false);
        let p = gk::SoftmaxParams {
            x: std::ptr::null(),
            y: std::ptr::null_mut(),
            outer,
            n,
            inner,
            log: s.log as u32,
        };
        call!(
            self.plan,
            name,
            gk::bqml_softmax,
            p,
            CallKind::Once,
            0,
            format!("softmax [{outer}, {n}, {inner}] log={}", s.log),
            [
                (gk::SoftmaxParams, x, lx.ptr(0)),
                (gk::SoftmaxParams, y, y.ptr(0))
            ]
        );
        self.set(out, y);
        Ok(())
    }

    /// ArgMax / ArgMin along one axis.
    pub(super) fn lower_argmax(&mut self, node: &Node, a: &ops::ArgMax) -> Result<(), String> {
        let out = node.outputs[0];
        let x = node.inputs.first().copied().flatten();
        let name = node.name.as_str();
        let x = x.ok_or("no input")?;
        let shape = self.shape(x);
        let axis = ops::util::normalize_axis(a.axis, shape.len())?;
        let (outer, n, inner) = around_axis(shape, axis);
        let lx = self.row_major_loc(name, x)?;
        let y = self.alloc(out, false);
        let p = gk::ArgParams {
            x: std::ptr::null(),
            y: std::ptr::null_mut(),
            outer,
            n,
            inner,
            is_min: a.min as u32,
            select_last: a.select_last_index as u32,
        };
        call!(
            self.plan,
            name,
            gk::bqml_argmax,
            p,
            CallKind::Once,
            0,
            format!(
                "arg{} [{outer}, {n}, {inner}]",
                if a.min { "min" } else { "max" }
            ),
            [(gk::ArgParams, x, lx.ptr(0)), (gk::ArgParams, y, y.ptr(0))]
        );
        self.set(out, y);
        Ok(())
    }

    /// Reduce* over constant axes.
    pub(super) fn lower_reduce(&mut self, node: &Node, r: &ops::Reduce) -> Result<(), String> {
        let g = self.g;
        let out = node.outputs[0];
        let x = node.inputs.first().copied().flatten();
        let name = node.name.as_str();
        let x = x.ok_or("no input")?;
        let axes = node
            .inputs
            .get(1)
            .copied()
            .flatten()
            .and_then(|v| g.consts.get(&v))
            .map(|t| t.as_ref());
        let mask = ops::reduce::reduced_axes(axes, self.shape(x).len(), r.noop_with_empty_axes)?;
        let code = match r.kind {
            ReduceKind::Mean => gk::REDUCE_MEAN,
            ReduceKind::Sum => gk::REDUCE_SUM,
            ReduceKind::Max => gk::REDUCE_MAX,
            ReduceKind::Min => gk::REDUCE_MIN,
            ReduceKind::Prod => gk::REDUCE_PROD,
            ReduceKind::L2 => gk::REDUCE_L2,
            ReduceKind::SumSquare => gk::REDUCE_SUM_SQUARE,
            #[allow(unreachable_patterns)]
            _ => {
                return Err(format!(
                    "reduction {:?} is not supported by the compiler",
                    r.kind
                ))
            }
        };
        let lx = self.loc(x)?;
        match mask {
            None => {
                let y = self.alloc(out, false);
                self.copy(name, &lx, &y, self.shape(x))?;
                self.set(out, y);
            }
            Some(mask) => {
                let y = self.alloc(out, false);
                self.reduce(name, code, &lx, self.shape(x), &mask, &y)?;
                self.set(out, y);
            }
        }
        Ok(())
    }

    pub(super) fn reduce(
        &mut self,
        node: &str,
        op: u32,
        lx: &Loc,
        shape: &[usize],
        mask: &[bool],
        y: &Loc,
    ) -> Result<(), String> {
        // Output strides indexed by the input's axes; 0 on reduced axes.
        let kept: Vec<usize> = (0..shape.len()).filter(|&a| !mask[a]).collect();
        let kept_shape: Vec<usize> = kept.iter().map(|&a| shape[a]).collect();
        let kept_strides = row_major(&kept_shape);
        let mut ys = vec![0isize; shape.len()];
        for (k, &a) in kept.iter().enumerate() {
            ys[a] = kept_strides[k];
        }
        let _ = y.strides.len();
        let bits: u32 = mask
            .iter()
            .enumerate()
            .filter(|(_, &m)| m)
            .map(|(i, _)| 1u32 << i)
            .sum();
        let p = gk::ReduceParams {
            op,
            rank: shape.len(),
            shape: arr(shape)?,
            x: std::ptr::null(),
            x_strides: arr(&lx.strides)?,
            reduce_mask: bits,
            y: std::ptr::null_mut(),
            y_strides: arr(&ys)?,
        };
        call!(
            self.plan,
            node,
            gk::bqml_reduce,
            p,
            CallKind::Once,
            0,
            format!("reduce op {op} {shape:?} mask {bits:#b}"),
            [
                (gk::ReduceParams, x, lx.ptr(0)),
                (gk::ReduceParams, y, y.ptr(0))
            ]
        );
        Ok(())
    }
}
