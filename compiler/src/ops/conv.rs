//! Conv: N-dimensional grouped, strided, dilated, padded convolution over NC… layout.

use runtime::{DType, Tensor};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{fact, for_each_index, input, strides, Window};

/// `Y = conv(X, W) + B` with ONNX's Conv semantics.
#[derive(Clone, Debug)]
pub struct Conv {
    pub window: Window,
    pub group: usize,
    /// `kernel_shape` was given explicitly (otherwise taken from W at inference).
    pub explicit_kernel: bool,
    /// Without `kernel_shape`: the attribute that fixed the window's rank at parse time
    /// and its length, to name it when W's rank disagrees.
    pub rank_attr: Option<(&'static str, usize)>,
    /// Input 0 is given channel-last (`[N, H, W, C]`), set by the layout pass when it
    /// absorbs an NHWC→NCHW Transpose; the op's semantics are otherwise unchanged.
    pub input_nhwc: bool,
}

/// `[N, H, W, C]` → `[N, C, H, W]` (and the 3-D analogue).
pub fn nhwc_to_nchw(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![shape[0], shape[shape.len() - 1]];
    s.extend(&shape[1..shape.len() - 1]);
    s
}

pub fn parse(ctx: &mut ParseCtx) -> Result<Conv, String> {
    let group = super::util::to_usize(ctx.int_or("group", 1)?, "group")?;
    if group == 0 {
        return Err("group must be positive".into());
    }
    let explicit_kernel = ctx.has_attr("kernel_shape");
    // Without kernel_shape the window is completed from W's shape in `infer`; parse the
    // other attributes against a placeholder kernel of the right rank when possible.
    let mut rank_attr = None;
    let window = if explicit_kernel {
        Window::parse(ctx, None)?
    } else {
        for name in ["strides", "dilations", "pads"] {
            if let (None, Some(v)) = (rank_attr, ctx.ints(name)?) {
                rank_attr = Some((name, v.len()));
            }
        }
        match rank_attr {
            Some(("pads", l)) if l % 2 != 0 => {
                return Err(format!("attribute 'pads' has {l} values, an odd count"))
            }
            Some((name, l)) => {
                let r = if name == "pads" { l / 2 } else { l };
                Window::parse(ctx, Some(vec![1; r]))?
            }
            None => Window::parse(ctx, Some(vec![]))?,
        }
    };
    Ok(Conv {
        window,
        group,
        explicit_kernel,
        rank_attr,
        input_nhwc: false,
    })
}

impl Conv {
    /// The window with the kernel taken from W when `kernel_shape` was absent and
    /// default-sized lists filled for W's rank.
    pub fn window_for(&self, w_shape: &[usize]) -> Result<Window, String> {
        let k: Vec<usize> = w_shape.get(2..).unwrap_or(&[]).to_vec();
        let mut win = self.window.clone();
        if !self.explicit_kernel {
            let n = k.len();
            if let Some((name, l)) = self.rank_attr.filter(|_| win.kernel.len() != n) {
                let want = if name == "pads" { 2 * n } else { n };
                return Err(format!(
                    "attribute '{name}' has {l} values, expected {want} for W's shape {w_shape:?}"
                ));
            }
            if win.kernel.is_empty() {
                win.strides = vec![1; n];
                win.dilations = vec![1; n];
                win.pads = vec![0; 2 * n];
            }
            win.kernel = k.clone();
        }
        if win.kernel != k {
            return Err(format!(
                "kernel_shape {:?} disagrees with W's shape {:?}",
                win.kernel, w_shape
            ));
        }
        Ok(win)
    }
}

impl OpDef for Conv {
    fn op_type(&self) -> &str {
        "Conv"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        if self.input_nhwc {
            let x = fact(inputs, 0)?;
            if x.shape.len() < 3 {
                return Err(format!(
                    "channel-last input must have rank >= 3, got {:?}",
                    x.shape
                ));
            }
            let shape = nhwc_to_nchw(x.shape);
            let mut ins = inputs.to_vec();
            ins[0] = Some(Fact {
                dtype: x.dtype,
                shape: &shape,
                value: None,
            });
            let plain = Conv {
                input_nhwc: false,
                ..self.clone()
            };
            return plain.infer(&ins);
        }
        let (x, w) = (fact(inputs, 0)?, fact(inputs, 1)?);
        if x.dtype != DType::F32 || w.dtype != DType::F32 {
            return Err(format!(
                "Conv needs float32 inputs, got {} and {}",
                x.dtype, w.dtype
            ));
        }
        if x.shape.len() < 3 || w.shape.len() != x.shape.len() {
            return Err(format!(
                "X rank {} and W rank {} must match and be ≥ 3",
                x.shape.len(),
                w.shape.len()
            ));
        }
        let (c, m) = (x.shape[1], w.shape[0]);
        if c != w.shape[1] * self.group || m % self.group != 0 {
            return Err(format!(
                "X has {c} channels and W is {:?} with group {}: channels do not divide",
                w.shape, self.group
            ));
        }
        if let Some(b) = inputs.get(2).copied().flatten() {
            if b.shape != [m] {
                return Err(format!("bias shape {:?} must be [{m}]", b.shape));
            }
        }
        let win = self.window_for(w.shape)?;
        let r = win.resolve(&x.shape[2..])?;
        // Compiled convolutions may hold the padded input; it obeys the value limit too.
        let mut padded = x.shape[..2].to_vec();
        padded.extend((0..r.out.len()).map(|i| x.shape[2 + i] + r.pads_begin[i] + r.pads_end[i]));
        let max = runtime::limits::MAX_ELEMENTS;
        if padded
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .is_none_or(|n| n > max)
        {
            return Err(format!(
                "the padded input {padded:?} has more than the limit of {max} elements"
            ));
        }
        let mut shape = vec![x.shape[0], m];
        shape.extend(r.out);
        Ok(vec![OutFact::new(DType::F32, shape)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        if self.input_nhwc {
            let x = input(inputs, 0)?;
            let mut perm = vec![0, x.rank() - 1];
            perm.extend(1..x.rank() - 1);
            let t = super::transpose::Transpose { perm: Some(perm) }
                .eval(&[Some(x)])?
                .remove(0);
            let mut ins = inputs.to_vec();
            ins[0] = Some(&t);
            return Conv {
                input_nhwc: false,
                ..self.clone()
            }
            .eval(&ins);
        }
        let (x, w) = (input(inputs, 0)?, input(inputs, 1)?);
        let b = inputs.get(2).copied().flatten();
        let (xd, wd) = (x.as_f32()?, w.as_f32()?);
        let bd = b.map(|b| b.as_f32()).transpose()?;
        let (xs, ws) = (x.shape(), w.shape());
        let win = self.window_for(ws)?;
        let r = win.resolve(&xs[2..])?;
        let (n, c, m) = (xs[0], xs[1], ws[0]);
        let (cg, mg) = (c / self.group, m / self.group);
        let mut oshape = vec![n, m];
        oshape.extend(&r.out);
        let mut y = vec![0f32; oshape.iter().product()];
        let (xst, wst, yst) = (strides(xs), strides(ws), strides(&oshape));
        let sp = r.out.len();
        if sp == 2 {
            // The common 2-D case as plain loops (same arithmetic, same order).
            let (kh, kw) = (win.kernel[0], win.kernel[1]);
            let (ih, iw) = (xs[2] as isize, xs[3] as isize);
            for b_i in 0..n {
                for oc in 0..m {
                    let g = oc / mg;
                    let bias = bd.map_or(0.0, |bd| bd[oc]);
                    for oy in 0..r.out[0] {
                        for ox in 0..r.out[1] {
                            let mut acc = bias;
                            for ic in 0..cg {
                                let xbase = b_i * xst[0] + (g * cg + ic) * xst[1];
                                let wbase = oc * wst[0] + ic * wst[1];
                                for ky in 0..kh {
                                    let py = (oy * win.strides[0] + ky * win.dilations[0]) as isize
                                        - r.pads_begin[0] as isize;
                                    if py < 0 || py >= ih {
                                        continue;
                                    }
                                    for kx in 0..kw {
                                        let px = (ox * win.strides[1] + kx * win.dilations[1])
                                            as isize
                                            - r.pads_begin[1] as isize;
                                        if px < 0 || px >= iw {
                                            continue;
                                        }
                                        acc += xd
                                            [xbase + py as usize * xst[2] + px as usize * xst[3]]
                                            * wd[wbase + ky * wst[2] + kx * wst[3]];
                                    }
                                }
                            }
                            y[b_i * yst[0] + oc * yst[1] + oy * yst[2] + ox * yst[3]] = acc;
                        }
                    }
                }
            }
            return Ok(vec![Tensor::f32(oshape, y)]);
        }
        let mut pos = vec![0isize; sp];
        for b_i in 0..n {
            for oc in 0..m {
                let g = oc / mg;
                let bias = bd.map_or(0.0, |bd| bd[oc]);
                for_each_index(&r.out, |o| {
                    let mut acc = bias;
                    for ic in 0..cg {
                        let xbase = b_i * xst[0] + (g * cg + ic) * xst[1];
                        let wbase = oc * wst[0] + ic * wst[1];
                        for_each_index(&win.kernel, |k| {
                            let mut xo = xbase;
                            for d in 0..sp {
                                pos[d] = (o[d] * win.strides[d] + k[d] * win.dilations[d]) as isize
                                    - r.pads_begin[d] as isize;
                                if pos[d] < 0 || pos[d] >= xs[2 + d] as isize {
                                    return;
                                }
                                xo += pos[d] as usize * xst[2 + d];
                            }
                            let wo = wbase
                                + k.iter()
                                    .enumerate()
                                    .map(|(d, &kd)| kd * wst[2 + d])
                                    .sum::<usize>();
                            acc += xd[xo] * wd[wo];
                        });
                    }
                    let yo = b_i * yst[0]
                        + oc * yst[1]
                        + o.iter()
                            .enumerate()
                            .map(|(d, &od)| od * yst[2 + d])
                            .sum::<usize>();
                    y[yo] = acc;
                });
            }
        }
        Ok(vec![Tensor::f32(oshape, y)])
    }

    fn macs(&self, inputs: &[Option<&[usize]>], outputs: &[&[usize]]) -> u64 {
        let w = inputs.get(1).copied().flatten().unwrap_or(&[]);
        let y = outputs.first().copied().unwrap_or(&[]);
        // Each output element needs (C/group × kernel volume) multiply-adds.
        let per: usize = w.iter().skip(1).product();
        (y.iter().product::<usize>() * per) as u64
    }
}
