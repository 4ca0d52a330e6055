//! Resize / Upsample on float32: the IR op resolves every axis' taps (the reference
//! interpreter's own coordinate arithmetic) at compile time; they become constant
//! index/weight tables that the separable generic resize kernel combines.

use std::sync::Arc;

use kernels::generic as gk;
use runtime::{DType, Tensor};

use super::layout::{arr, Lowerer};
use crate::ir::Node;
use crate::ops::Resize;
use crate::plan::{CallKind, Ptr};

/// One axis' kernel table: `(taps, index, weight)` with `out · taps` entries each.
type Table = (usize, Vec<i64>, Vec<f32>);

/// The fixed-width kernel table of one axis' taps (see `ops::Resize::resolve`): the widest coordinate's tap count (which
/// must be 1, 2 or 4), narrower ones padded with zero weights, and index -1 where the
/// coordinate samples outside the input.
pub(super) fn axis_table(taps: &[Option<Vec<(usize, f64)>>]) -> Result<Table, String> {
    let width = taps.iter().flatten().map(Vec::len).max().unwrap_or(1);
    let width = match width {
        0 | 1 => 1,
        2 => 2,
        3 | 4 => 4,
        n => {
            return Err(format!(
            "a resize axis needs {n} taps (antialiased downscale); the compiler supports at most 4"
        ))
        }
    };
    let (mut index, mut weight) = (Vec::new(), Vec::new());
    for t in taps {
        match t {
            None => {
                index.extend(std::iter::repeat_n(-1, width));
                weight.extend(std::iter::repeat_n(0.0, width));
            }
            Some(t) => {
                let pad = t.first().map_or(0, |&(i, _)| i as i64);
                for k in 0..width {
                    let (i, w) = t.get(k).map_or((pad, 0.0), |&(i, w)| (i as i64, w as f32));
                    index.push(i);
                    weight.push(w);
                }
            }
        }
    }
    Ok((width, index, weight))
}

impl Lowerer<'_> {
    /// Resize with constant roi/scales/sizes: one `bqml_resize` call over tables kept as
    /// model constants.
    pub(super) fn lower_resize(&mut self, node: &Node, r: &Resize) -> Result<(), String> {
        let g = self.g;
        let (x, out) = (node.inputs[0].ok_or("no input")?, node.outputs[0]);
        if self.dtype(x) != DType::F32 {
            return Err(format!(
                "{} on {} is not supported by the compiler",
                r.source,
                self.dtype(x)
            ));
        }
        let xs = self.shape(x).to_vec();
        let operands: Vec<Option<&Tensor>> = node
            .inputs
            .iter()
            .map(|i| i.and_then(|v| g.consts.get(&v)).map(|t| t.as_ref()))
            .collect();
        let (out_shape, taps) = r.resolve(&xs, &operands)?;
        let tables = taps
            .iter()
            .map(|t| axis_table(t))
            .collect::<Result<Vec<_>, _>>()?;
        let lx = self.row_major_loc(&node.name, x)?;
        let y = self.alloc(out, false);
        let taps_per_axis: Vec<usize> = tables.iter().map(|t| t.0).collect();
        let desc = format!("resize {xs:?} -> {out_shape:?} taps {taps_per_axis:?}");
        let p = gk::ResizeParams {
            rank: xs.len(),
            in_shape: arr(&xs)?,
            out_shape: arr(&out_shape)?,
            taps: arr(&taps_per_axis)?,
            index: [std::ptr::null(); gk::MAX_RANK],
            weight: [std::ptr::null(); gk::MAX_RANK],
            extrapolation_value: r.extrapolation,
            x: std::ptr::null(),
            y: std::ptr::null_mut(),
        };
        call!(
            self.plan,
            &node.name,
            gk::bqml_resize,
            p,
            CallKind::Once,
            0,
            desc,
            [
                (gk::ResizeParams, x, lx.ptr(0)),
                (gk::ResizeParams, y, y.ptr(0))
            ]
        );
        // Table pointers are per-call pointer fields, so the template holds no addresses.
        let step = self.plan.steps.len() - 1;
        let slot = std::mem::size_of::<usize>();
        for (d, (n_taps, index, weight)) in tables.into_iter().enumerate() {
            let n = index.len();
            let ia = self.plan.keep_tensor(Arc::new(Tensor::i64(vec![n], index)));
            let field = std::mem::offset_of!(gk::ResizeParams, index) + d * slot;
            self.plan.add_ptr(step, field, Ptr::Abs(ia));
            if n_taps > 1 {
                let wa = self
                    .plan
                    .keep_tensor(Arc::new(Tensor::f32(vec![n], weight)));
                let field = std::mem::offset_of!(gk::ResizeParams, weight) + d * slot;
                self.plan.add_ptr(step, field, Ptr::Abs(wa));
            }
        }
        self.set(out, y);
        Ok(())
    }
}
