//! LayerNormalization: one kernel call over `[rows, cols]`, rows split between threads.

use kernels::generic as gk;

use super::layout::{Loc, Lowerer};
use super::split::SPLIT_ELEMENTWISE_BYTES;
use crate::ir::Node;
use crate::ops;
use crate::plan::CallKind;

impl Lowerer<'_> {
    /// Scale or B (input `i`) as a dense `norm`-shaped vector: the value itself when it is
    /// already dense in that shape, else a broadcast copy.
    fn dense_param(
        &mut self,
        node: &Node,
        i: usize,
        norm: &[usize],
    ) -> Result<Option<Loc>, String> {
        let Some(v) = node.inputs.get(i).copied().flatten() else {
            return Ok(None);
        };
        let l = self.loc(v)?;
        let shape = self.shape(v).to_vec();
        let lead = norm.len() - shape.len().min(norm.len());
        let full = shape.len() == norm.len() && shape == norm;
        if full && super::layout::is_row_major(&l, &shape) {
            return Ok(Some(l));
        }
        // Strides of `v` read over `norm` (0 on broadcast axes).
        let strides: Vec<isize> = (0..norm.len())
            .map(|a| {
                if a < lead || shape[a - lead] == 1 {
                    0
                } else {
                    l.strides[a - lead]
                }
            })
            .collect();
        let src = l.view(0, strides);
        let dst = self.temp(norm, 4, &format!("{} dense", self.g.values[v].name));
        self.copy(&node.name, &src, &dst, norm)?;
        Ok(Some(dst))
    }

    /// LayerNormalization with its optional Mean / InvStdDev outputs.
    pub(super) fn lower_layer_norm(
        &mut self,
        node: &Node,
        ln: &ops::LayerNorm,
    ) -> Result<(), String> {
        let x = node.inputs.first().copied().flatten().ok_or("no input")?;
        let shape = self.shape(x).to_vec();
        let (axis, rows, cols) = ln.split(&shape)?;
        let norm = &shape[axis..];
        let lx = self.row_major_loc(&node.name, x)?;
        let scale = self.dense_param(node, 1, norm)?;
        let bias = self.dense_param(node, 2, norm)?;
        let y = self.alloc(node.outputs[0], false);
        let stats: Vec<Option<Loc>> = (1..3)
            .map(|k| node.outputs.get(k).map(|&o| self.alloc(o, false)))
            .collect();
        let p = gk::LayerNormParams {
            rows,
            cols,
            x: std::ptr::null(),
            x_stride: cols,
            scale: std::ptr::null(),
            bias: std::ptr::null(),
            y: std::ptr::null_mut(),
            y_stride: cols,
            epsilon: ln.epsilon,
            mean: std::ptr::null_mut(),
            inv_std: std::ptr::null_mut(),
        };
        let mut ptrs = vec![
            (std::mem::offset_of!(gk::LayerNormParams, x), lx.ptr(0)),
            (std::mem::offset_of!(gk::LayerNormParams, y), y.ptr(0)),
        ];
        let optional = [
            (std::mem::offset_of!(gk::LayerNormParams, scale), &scale),
            (std::mem::offset_of!(gk::LayerNormParams, bias), &bias),
            (std::mem::offset_of!(gk::LayerNormParams, mean), &stats[0]),
            (
                std::mem::offset_of!(gk::LayerNormParams, inv_std),
                &stats[1],
            ),
        ];
        for (field, l) in optional {
            if let Some(l) = l {
                ptrs.push((field, l.ptr(0)));
            }
        }
        let split = rows > 1 && rows * cols * 4 >= SPLIT_ELEMENTWISE_BYTES;
        let (symbol, addr, kind) = if split {
            (
                "bqml_layernorm_rows",
                gk::bqml_layernorm_rows as *const () as usize,
                CallKind::Rows { rows },
            )
        } else {
            (
                "bqml_layernorm",
                gk::bqml_layernorm as *const () as usize,
                CallKind::Once,
            )
        };
        let call = crate::plan::KernelCall {
            symbol,
            addr,
            kind,
            template: crate::plan::template_of(&p),
            ptrs,
            loads: Vec::new(),
            desc: format!("layernorm [{rows}, {cols}] eps={}", ln.epsilon),
        };
        self.plan
            .push(&node.name, crate::plan::StepKind::Call(call), 0);
        self.set(node.outputs[0], y);
        for (k, l) in stats.into_iter().enumerate() {
            if let Some(l) = l {
                self.set(node.outputs[k + 1], l);
            }
        }
        Ok(())
    }
}
