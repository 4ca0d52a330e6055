//! Convolutions: weight packing (at compile time, or at run time for weights that are graph
//! inputs), the direct/Winograd choice per layer and one kernel call per batch item.

use std::mem::offset_of;

use super::layout::{conv_pads, Loc, Lowerer};
use super::split::{channel_slices, depthwise_slices};
use crate::ir::{Node, ValueId};
use crate::ops::{self, Activation, Conv};
use crate::plan::{template_of, CallKind, KernelCall, Ptr, StepKind};

/// A convolution's params and weights, ready for its input and output locations.
pub(super) struct PreparedConv {
    /// Params with null pointer fields and zero strides.
    pub(super) p: kernels::ConvParams,
    /// Packed weights and bias.
    pub(super) wp: Ptr,
    pub(super) bp: Ptr,
    /// Winograd output tile, when the layer uses it.
    pub(super) wino: Option<usize>,
    /// Winograd work units.
    pub(super) units: usize,
    /// Input padding (top, bottom, left, right).
    pub(super) pads: [usize; 4],
}

impl Lowerer<'_> {
    pub(super) fn lower_conv(
        &mut self,
        node: &Node,
        conv: &Conv,
        act: Activation,
        residual: Option<ValueId>,
        scale: Option<ValueId>,
    ) -> Result<(), String> {
        let (x, out) = (node.inputs[0].ok_or("no input")?, node.outputs[0]);
        let w = node.inputs.get(1).copied().flatten().ok_or("no weights")?;
        let b_id = node.inputs.get(2).copied().flatten();
        // A channel-last input ([N, H, W, C]) is viewed as NCHW with permuted strides.
        let xs = if conv.input_nhwc {
            ops::nhwc_to_nchw(self.shape(x))
        } else {
            self.shape(x).to_vec()
        };
        let PreparedConv {
            mut p,
            mut wp,
            bp,
            wino,
            units,
            pads,
        } = self.prepare_conv(&node.name, conv, act, &xs, w, b_id, scale.is_none())?;
        if let Some(s) = scale {
            wp = self.scale_weights(&node.name, &p, wp, s)?;
        }
        let g = self.g;
        let ws = self.shape(w);
        let two_d = xs.len() == 4;
        let (kh, kw) = (p.kernel_h, p.kernel_w);
        let (sw, oh, ow) = (p.stride_w, p.out_h, p.out_w);
        let lx = if conv.input_nhwc {
            let l = self.loc(x)?;
            let r = l.strides.len();
            let mut st = vec![l.strides[0], l.strides[r - 1]];
            st.extend(&l.strides[1..r - 1]);
            let view = l.view(l.offset, st);
            self.channel_last_from(
                &node.name,
                view,
                &xs,
                pads,
                format!("{} channel-last input", node.name),
            )?
        } else {
            self.channel_last_loc(&node.name, x, pads)?
        };
        let y = self.alloc_out(out, true);
        let lr = match residual {
            Some(r) => Some(self.channel_last_loc(&node.name, r, [0; 4])?),
            None => None,
        };
        let strides_of = |l: &Loc| -> (isize, isize) {
            if two_d {
                (l.strides[2], l.strides[3])
            } else {
                (l.strides[2] * ow as isize, l.strides[2])
            }
        };
        let (irs, ips) = strides_of(&lx);
        let (ors, ops_) = strides_of(&y);
        p.in_row_stride = irs as usize;
        p.in_pixel_stride = ips as usize;
        p.out_row_stride = ors as usize;
        p.out_pixel_stride = ops_ as usize;
        if let Some(lr) = &lr {
            let (rrs, rps) = strides_of(lr);
            p.res_row_stride = rrs as usize;
            p.res_pixel_stride = rps as usize;
        }
        let macs = g.node_macs(node) / xs[0].max(1) as u64;
        for n in 0..xs[0] {
            let n = n as isize;
            let origin = n * lx.strides[0] - pads[0] as isize * irs - pads[2] as isize * ips;
            let desc = format!(
                "{} {}x{} /{} {}->{} {}x{} g{} {:?} [{}]",
                match wino {
                    Some(f) => format!("winograd F({f}x{f},3x3)"),
                    None => "conv".to_string(),
                },
                kh,
                kw,
                sw,
                xs[1],
                ws[0],
                oh,
                ow,
                conv.group,
                act,
                self.isa.name()
            ) + &match p.channel_slices {
                1 => String::new(),
                n => format!(" oc/{n}"),
            };
            // Direct conv splits output rows (times channel slices) between threads, Winograd its
            // work units (tiles, and output-channel halves when the layer has few tiles).
            let (symbol, addr, rows) = match wino {
                Some(_) => (
                    "bqml_winograd",
                    kernels::bqml_winograd as *const () as usize,
                    units,
                ),
                None => (
                    "bqml_conv2d",
                    kernels::bqml_conv2d as *const () as usize,
                    oh * p.channel_slices.max(1),
                ),
            };
            let mut ptrs = vec![
                (offset_of!(kernels::ConvParams, input), lx.ptr(origin)),
                (
                    offset_of!(kernels::ConvParams, output),
                    y.ptr(n * y.strides[0]),
                ),
            ];
            if let Some(lr) = &lr {
                ptrs.push((
                    offset_of!(kernels::ConvParams, residual),
                    lr.ptr(n * lr.strides[0]),
                ));
            }
            let call = KernelCall {
                symbol,
                addr,
                kind: CallKind::Rows { rows },
                template: template_of(&p),
                ptrs,
                loads: Vec::new(),
                desc,
            };
            self.plan.push(&node.name, StepKind::Call(call), macs);
            let step = self.plan.steps.len() - 1;
            self.plan
                .add_ptr(step, offset_of!(kernels::ConvParams, weights), wp);
            self.plan
                .add_ptr(step, offset_of!(kernels::ConvParams, bias), bp);
        }
        self.set(out, y);
        Ok(())
    }
    /// Emits the step that scales packed panel weights `wp` (of `p`) by the input-channel
    /// scale `s` into an arena buffer, and returns that buffer (`fold-channel-scale`).
    fn scale_weights(
        &mut self,
        name: &str,
        p: &kernels::ConvParams,
        wp: Ptr,
        s: ValueId,
    ) -> Result<Ptr, String> {
        if p.layout != kernels::LAYOUT_PANELS || p.groups != 1 {
            return Err("an input-scaled convolution needs ungrouped panel weights".into());
        }
        let panels = p.out_channels_per_group.div_ceil(kernels::NR);
        let k_len = p.kernel_h * p.kernel_w * p.in_channels_per_group;
        let buf = self.temp(
            &[panels * k_len * kernels::NR],
            4,
            &format!("{name} scaled weights"),
        );
        let ls = self.row_major_loc(name, s)?;
        let sp = kernels::ScalePanelsParams {
            weights: std::ptr::null(),
            scale: std::ptr::null(),
            out: std::ptr::null_mut(),
            panels,
            k_len,
            in_channels: p.in_channels_per_group,
        };
        call!(
            self.plan,
            name,
            kernels::bqml_scale_panels,
            sp,
            CallKind::Once,
            0,
            format!("scale {panels}x{k_len}x16 weights by input channel"),
            [
                (kernels::ScalePanelsParams, weights, wp),
                (kernels::ScalePanelsParams, scale, ls.ptr(0)),
                (kernels::ScalePanelsParams, out, buf.ptr(0))
            ]
        );
        Ok(buf.ptr(0))
    }

    /// Packs a convolution's weights (now when they are constants, else in a step emitted
    /// here) and fills its params for input shape `xs` (NCHW): every field but the input,
    /// output and residual pointers and strides. `allow_winograd` lets the per-layer policy
    /// pick Winograd.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn prepare_conv(
        &mut self,
        name: &str,
        conv: &Conv,
        act: Activation,
        xs: &[usize],
        w: ValueId,
        b_id: Option<ValueId>,
        allow_winograd: bool,
    ) -> Result<PreparedConv, String> {
        let g = self.g;
        let ws = self.shape(w);
        let wt = g.consts.get(&w).cloned();
        let bt = b_id.and_then(|b| g.consts.get(&b).cloned());
        let pads = conv_pads(conv, xs, ws)?;
        let win = conv.window_for(ws)?;
        let r = win.resolve(&xs[2..])?;
        let two_d = xs.len() == 4;
        let (kh, kw) = if two_d { (ws[2], ws[3]) } else { (1, ws[2]) };
        let (sh, sw, dh, dw) = if two_d {
            (
                win.strides[0],
                win.strides[1],
                win.dilations[0],
                win.dilations[1],
            )
        } else {
            (1, win.strides[0], 1, win.dilations[0])
        };
        let (oh, ow) = if two_d {
            (r.out[0], r.out[1])
        } else {
            (1, r.out[0])
        };
        let shape = kernels::ConvShape {
            in_channels: xs[1],
            out_channels: ws[0],
            kernel_h: kh,
            kernel_w: kw,
            groups: conv.group,
        };
        let geo = kernels::ConvGeometry {
            out_h: oh,
            out_w: ow,
            stride_h: sh,
            stride_w: sw,
            dilation_h: dh,
            dilation_w: dw,
        };
        let const_weights = wt.is_some() && (b_id.is_none() || bt.is_some());
        // Winograd output tile, when this layer uses it (constant weights only).
        let wino =
            (allow_winograd && const_weights && two_d && kernels::winograd_applies(&shape, &geo))
                .then(|| {
                    self.conv_algo
                        .tile(shape.in_channels, shape.out_channels, oh, ow, self.isa)
                })
                .flatten();
        // Constant weights are packed now; weights that are graph inputs are packed at run
        // time into arena buffers of the sizes a placeholder packing gives.
        let mut runtime_weights = None;
        let packed = match (&wt, const_weights) {
            (Some(wt), true) => {
                let (w, b) = (wt.as_f32()?, bt.as_ref().map(|b| b.as_f32()).transpose()?);
                Box::new(
                    match wino {
                        Some(f) => kernels::pack_winograd(shape, w, b, f),
                        None => kernels::pack_conv(shape, w, b),
                    }
                    .map_err(|e| e.0)?,
                )
            }
            _ => {
                let n_w: usize = ws.iter().product();
                let zeros = vec![0.0f32; n_w.max(ws[0])];
                let placeholder =
                    kernels::pack_conv(shape, &zeros[..n_w], b_id.map(|_| &zeros[..ws[0]]))
                        .map_err(|e| e.0)?;
                let (wl, bl) = (placeholder.weights.len(), placeholder.bias.len());
                let wbuf = self.temp(&[wl], 4, &format!("{name} packed weights"));
                let bbuf = self.temp(&[bl], 4, &format!("{name} packed bias"));
                let lw = self.row_major_loc(name, w)?;
                let pp = kernels::PackConvParams {
                    in_channels: shape.in_channels,
                    out_channels: shape.out_channels,
                    kernel_h: kh,
                    kernel_w: kw,
                    groups: conv.group,
                    weights: std::ptr::null(),
                    bias: std::ptr::null(),
                    out_weights: std::ptr::null_mut(),
                    out_weights_len: wl,
                    out_bias: std::ptr::null_mut(),
                    out_bias_len: bl,
                };
                let lb = match b_id {
                    Some(b) => Some(self.row_major_loc(name, b)?),
                    None => None,
                };
                call!(
                    self.plan,
                    name,
                    kernels::bqml_pack_conv,
                    pp,
                    CallKind::Once,
                    0,
                    format!("pack conv weights {ws:?} at run time"),
                    [
                        (kernels::PackConvParams, weights, lw.ptr(0)),
                        (kernels::PackConvParams, out_weights, wbuf.ptr(0)),
                        (kernels::PackConvParams, out_bias, bbuf.ptr(0))
                    ]
                );
                if let Some(lb) = lb {
                    let step = self.plan.steps.len() - 1;
                    self.plan
                        .add_ptr(step, offset_of!(kernels::PackConvParams, bias), lb.ptr(0));
                }
                runtime_weights = Some((wbuf.ptr(0), bbuf.ptr(0)));
                Box::new(placeholder)
            }
        };
        let mut p = kernels::ConvParams::from_packed(&packed, &geo, act.to_kernel());
        let units = kernels::winograd_units(packed.layout, oh, ow, ws[0]);
        if packed.layout == kernels::LAYOUT_PANELS {
            let (ih, iw) = geo.input_extent(kh, kw);
            p.channel_slices = channel_slices(
                packed.weights.len(),
                ih * iw * shape.in_channels,
                shape.out_per_group(),
            );
        } else if packed.layout == kernels::LAYOUT_DEPTHWISE {
            p.channel_slices = depthwise_slices(oh, shape.out_channels);
        }
        // Weight pointers are per-call pointer fields, not template bytes, so the template
        // holds no addresses and an object file can relocate them.
        p.isa = self.isa.code();
        p.weights = std::ptr::null();
        p.bias = std::ptr::null();
        let (wp, bp) = match runtime_weights {
            Some(ptrs) => {
                self.plan.keep.push(packed);
                ptrs
            }
            None => self.plan.keep_packed(packed),
        };
        Ok(PreparedConv {
            p,
            wp,
            bp,
            wino,
            units,
            pads,
        })
    }
}
