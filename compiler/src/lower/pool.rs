//! Pooling: 2-D max/average windows on channel-last buffers, 1-3-D and MaxPool with
//! indices through the generic N-D kernel, global pools as reductions.

use kernels::generic as gk;

use super::layout::{arr, Loc, Lowerer};
use crate::ir::Node;
use crate::ops::{self, PoolKind};
use crate::plan::CallKind;

impl Lowerer<'_> {
    pub(super) fn lower_pool(&mut self, node: &Node, pool: &ops::Pool) -> Result<(), String> {
        let (x, out) = (node.inputs[0].ok_or("no input")?, node.outputs[0]);
        let xs = self.shape(x).to_vec();
        let Some(win) = &pool.window else {
            // Global pools: reduce over the spatial axes.
            let lx = self.loc(x)?;
            let mut mask = vec![true; xs.len()];
            mask[0] = false;
            mask[1] = false;
            let y = self.alloc(out, false);
            let op = if pool.kind == PoolKind::Max {
                gk::REDUCE_MAX
            } else {
                gk::REDUCE_MEAN
            };
            self.reduce(&node.name, op, &lx, &xs, &mask, &y)?;
            self.set(out, y);
            return Ok(());
        };
        let r = win.resolve(&xs[2..])?;
        let kind = match (pool.kind, pool.count_include_pad) {
            (PoolKind::Max, _) => kernels::POOL_MAX,
            (_, true) => kernels::POOL_AVG_INCLUDE_PAD,
            (_, false) => kernels::POOL_AVG_EXCLUDE_PAD,
        };
        if xs.len() == 4 && !pool.indices {
            let lx = self.channel_last_loc(&node.name, x, [0; 4])?;
            let y = self.alloc_out(out, true);
            for n in 0..xs[0] {
                let n = n as isize;
                let p = kernels::PoolParams {
                    input: std::ptr::null(),
                    in_row_stride: lx.strides[2] as usize,
                    in_pixel_stride: lx.strides[3] as usize,
                    in_h: xs[2],
                    in_w: xs[3],
                    channels: xs[1],
                    output: std::ptr::null_mut(),
                    out_row_stride: y.strides[2] as usize,
                    out_pixel_stride: y.strides[3] as usize,
                    out_h: r.out[0],
                    out_w: r.out[1],
                    kernel_h: win.kernel[0],
                    kernel_w: win.kernel[1],
                    stride_h: win.strides[0],
                    stride_w: win.strides[1],
                    dilation_h: win.dilations[0],
                    dilation_w: win.dilations[1],
                    pad_top: r.pads_begin[0],
                    pad_left: r.pads_begin[1],
                    pad_bottom: r.pads_end[0],
                    pad_right: r.pads_end[1],
                    kind,
                    isa: self.isa.code(),
                };
                call!(
                    self.plan,
                    &node.name,
                    kernels::bqml_pool2d,
                    p,
                    CallKind::Rows { rows: r.out[0] },
                    0,
                    format!(
                        "pool2d kind {kind} {:?}/{:?} [{}]",
                        win.kernel,
                        win.strides,
                        self.isa.name()
                    ),
                    [
                        (kernels::PoolParams, input, lx.ptr(n * lx.strides[0])),
                        (kernels::PoolParams, output, y.ptr(n * y.strides[0]))
                    ]
                );
            }
            self.set(out, y);
            return Ok(());
        }
        let sp = xs.len() - 2;
        if !(1..=3).contains(&sp) {
            return Err(format!("{sp}-D pooling is not supported by the compiler"));
        }
        // Column-major indices (storage_order=1) are the row-major indices of the input with
        // its spatial axes reversed: pool that reversed copy, then reverse the results back.
        let rev = pool.indices && pool.column_major_indices;
        let flip = |v: &[usize]| -> Vec<usize> {
            if rev {
                v.iter().rev().copied().collect()
            } else {
                v.to_vec()
            }
        };
        let flip_loc = |l: &Loc| -> Loc {
            let mut st = l.strides[..2].to_vec();
            st.extend(l.strides[2..].iter().rev());
            l.view(l.offset, st)
        };
        let mut in_shape = xs[..2].to_vec();
        in_shape.extend(flip(&xs[2..]));
        let mut out_shape = xs[..2].to_vec();
        out_shape.extend(flip(&r.out));
        let lx = if rev {
            let src = flip_loc(&self.loc(x)?);
            let t = self.temp(
                &in_shape,
                4,
                &format!("{} spatially reversed input", node.name),
            );
            self.copy(&node.name, &src, &t, &in_shape)?;
            t
        } else {
            self.row_major_loc(&node.name, x)?
        };
        let y_final = self.alloc(out, false);
        let y = if rev {
            self.temp(&out_shape, 4, &format!("{} reversed output", node.name))
        } else {
            y_final.clone()
        };
        let idx_final = match node.outputs.get(1) {
            Some(&i) if pool.indices => {
                let l = self.alloc(i, false);
                self.set(i, l.clone());
                Some((i, l))
            }
            _ => None,
        };
        let idx = match &idx_final {
            Some(_) if rev => {
                Some(self.temp(&out_shape, 8, &format!("{} reversed indices", node.name)))
            }
            Some((_, l)) => Some(l.clone()),
            None => None,
        };
        let p = gk::PoolNdParams {
            kind,
            spatial: sp,
            batch_channels: xs[0] * xs[1],
            in_shape: arr(&in_shape[2..])?,
            out_shape: arr(&out_shape[2..])?,
            kernel: arr(&flip(&win.kernel))?,
            strides: arr(&flip(&win.strides))?,
            dilations: arr(&flip(&win.dilations))?,
            pads_begin: arr(&flip(&r.pads_begin))?,
            pads_end: arr(&flip(&r.pads_end))?,
            x: std::ptr::null(),
            y: std::ptr::null_mut(),
            indices: std::ptr::null_mut(),
        };
        let desc = format!("pool_nd kind {kind} {:?}", win.kernel);
        match &idx {
            Some(li) => call!(
                self.plan,
                &node.name,
                gk::bqml_pool_nd,
                p,
                CallKind::Once,
                0,
                desc,
                [
                    (gk::PoolNdParams, x, lx.ptr(0)),
                    (gk::PoolNdParams, y, y.ptr(0)),
                    (gk::PoolNdParams, indices, li.ptr(0))
                ]
            ),
            None => call!(
                self.plan,
                &node.name,
                gk::bqml_pool_nd,
                p,
                CallKind::Once,
                0,
                desc,
                [
                    (gk::PoolNdParams, x, lx.ptr(0)),
                    (gk::PoolNdParams, y, y.ptr(0))
                ]
            ),
        }
        if rev {
            let ys = self.shape(out).to_vec();
            self.copy(&node.name, &flip_loc(&y), &y_final, &ys)?;
            if let (Some((_, li)), Some(t)) = (&idx_final, &idx) {
                self.copy(&node.name, &flip_loc(t), li, &ys)?;
            }
        }
        self.set(out, y_final);
        Ok(())
    }
}
