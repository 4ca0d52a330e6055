//! MobileBlock: an inverted residual's convolutions as one banded call of
//! [`kernels::bqml_block`], the expanded tensor kept in a per-thread scratch.

use std::mem::offset_of;

use kernels::BlockParams;

use super::conv::PreparedConv;
use super::layout::Lowerer;
use crate::ir::Node;
use crate::ops::mobile_block::{weights_input, RESIDUAL_INPUT};
use crate::ops::MobileBlock;
use crate::plan::{template_of, CallKind, KernelCall, Ptr, StepKind};

/// Scratch one thread may use for a band (expanded rows and the depthwise output): half
/// the 1–2 MiB L2 of the CPUs measured, so the band's data is still there when the next
/// part reads it. 256 KiB – 1 MiB measured the same within noise on MobileNetV3-Large.
pub(super) const BLOCK_SCRATCH_BYTES: usize = 512 * 1024;

impl Lowerer<'_> {
    pub(super) fn lower_mobile_block(
        &mut self,
        node: &Node,
        b: &MobileBlock,
    ) -> Result<(), String> {
        let (x, out) = (node.inputs[0].ok_or("no input")?, node.outputs[0]);
        let at = |i: usize| node.inputs.get(i).copied().flatten();
        let name = node.name.as_str();
        let xs = self.shape(x).to_vec();
        if xs.len() != 4 {
            return Err(format!("a mobile block needs a 4-D input, not {xs:?}"));
        }
        let mut shape = xs.clone();
        let mut parts: [Option<PreparedConv>; 3] = [None, None, None];
        let mut descs = Vec::new();
        for (k, part) in b.parts() {
            let w = at(weights_input(k)).ok_or("no weights")?;
            let prep = self.prepare_conv(
                name,
                &part.conv,
                part.activation,
                &shape,
                w,
                at(weights_input(k) + 1),
                false,
            )?;
            let q = &prep.p;
            let cout = q.groups * q.out_channels_per_group;
            descs.push(format!(
                "{}x{}/{} {}->{}{} {:?}",
                q.kernel_h,
                q.kernel_w,
                q.stride_w,
                shape[1],
                cout,
                if q.groups > 1 { " dw" } else { "" },
                part.activation
            ));
            shape = vec![shape[0], cout, q.out_h, q.out_w];
            parts[k] = Some(prep);
        }
        let [expand, Some(dw), project] = parts else {
            return Err("a mobile block needs its depthwise convolution".into());
        };
        let pads = dw.pads;
        let lx = self.channel_last_loc(name, x, if expand.is_some() { [0; 4] } else { pads })?;
        let y = self.alloc_out(out, true);
        let lr = match at(RESIDUAL_INPUT) {
            Some(r) => Some(self.channel_last_loc(name, r, [0; 4])?),
            None => None,
        };
        let (xrs, xps) = (lx.strides[2] as usize, lx.strides[3] as usize);
        let (yrs, yps) = (y.strides[2] as usize, y.strides[3] as usize);
        let mut pd = dw.p;
        if expand.is_none() {
            pd.in_row_stride = xrs;
            pd.in_pixel_stride = xps;
        }
        if project.is_none() {
            pd.out_row_stride = yrs;
            pd.out_pixel_stride = yps;
        }
        let pe = expand.as_ref().map_or(pd, |e| {
            let mut pe = e.p;
            pe.in_row_stride = xrs;
            pe.in_pixel_stride = xps;
            pe
        });
        let pp = project.as_ref().map_or(pd, |pr| {
            let mut pp = pr.p;
            pp.out_row_stride = yrs;
            pp.out_pixel_stride = yps;
            if let Some(lr) = &lr {
                pp.res_row_stride = lr.strides[2] as usize;
                pp.res_pixel_stride = lr.strides[3] as usize;
            }
            pp
        });
        let mut p = BlockParams {
            expand: pe,
            depthwise: pd,
            project: pp,
            has_expand: expand.is_some() as u32,
            has_project: project.is_some() as u32,
            pad_top: pads[0],
            pad_left: pads[2],
            band_rows: pd.out_h,
        };
        // The largest band within the scratch budget; a band of one row at least.
        while p.band_rows > 1 && p.scratch_floats() * 4 > BLOCK_SCRATCH_BYTES {
            p.band_rows -= 1;
        }
        // Then bands of equal height, an even number of them when there are several: threads
        // take contiguous runs of bands, and 3 bands of 36 + 1 of 4 rows (112²), or 2 of 11
        // + 1 of 6 (28²), leave one of two threads idle for a third of the block.
        let mut bands = pd.out_h.div_ceil(p.band_rows);
        if bands > 1 && bands % 2 == 1 {
            bands += 1;
        }
        p.band_rows = pd.out_h.div_ceil(bands);
        let macs = self.g.node_macs(node) / xs[0].max(1) as u64;
        let desc = format!(
            "mobile block {} {}x{} band {} [{}]",
            descs.join(", "),
            pd.out_h,
            pd.out_w,
            p.band_rows,
            self.isa.name()
        );
        type B = BlockParams;
        type C = kernels::ConvParams;
        for n in 0..xs[0] as isize {
            let x_at = n * lx.strides[0];
            let weights = |base: usize, prep: &PreparedConv| {
                [
                    (base + offset_of!(C, weights), prep.wp),
                    (base + offset_of!(C, bias), prep.bp),
                ]
            };
            let mut ptrs: Vec<(usize, Ptr)> = weights(offset_of!(B, depthwise), &dw).to_vec();
            if let Some(e) = &expand {
                ptrs.extend(weights(offset_of!(B, expand), e));
                ptrs.push((offset_of!(B, expand.input), lx.ptr(x_at)));
            } else {
                let origin = x_at - (pads[0] * xrs + pads[2] * xps) as isize;
                ptrs.push((offset_of!(B, depthwise.input), lx.ptr(origin)));
            }
            let y_at = y.ptr(n * y.strides[0]);
            if let Some(pr) = &project {
                ptrs.extend(weights(offset_of!(B, project), pr));
                ptrs.push((offset_of!(B, project.output), y_at));
                if let Some(lr) = &lr {
                    ptrs.push((offset_of!(B, project.residual), lr.ptr(n * lr.strides[0])));
                }
            } else {
                ptrs.push((offset_of!(B, depthwise.output), y_at));
            }
            let call = KernelCall {
                symbol: "bqml_block",
                addr: kernels::bqml_block as *const () as usize,
                kind: CallKind::Rows { rows: p.bands() },
                template: template_of(&p),
                ptrs: Vec::new(),
                loads: Vec::new(),
                desc: desc.clone(),
            };
            self.plan.push(name, StepKind::Call(call), macs);
            let step = self.plan.steps.len() - 1;
            for (field, ptr) in ptrs {
                self.plan.add_ptr(step, field, ptr);
            }
        }
        self.set(out, y);
        Ok(())
    }
}
