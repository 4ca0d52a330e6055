//! ConvTranspose: the gradient of Conv with respect to its input (a "deconvolution")
//! over NC… layout, N-dimensional, grouped, strided, dilated and padded.

use runtime::{DType, Tensor};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{fact, for_each_index, input, offset, strides, to_usize, AutoPad};

/// `Y = conv_transpose(X, W) + B`. Lists left empty were absent and default per rank.
#[derive(Clone, Debug)]
pub struct ConvTranspose {
    pub kernel: Option<Vec<usize>>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    /// `[begin…, end…]`.
    pub pads: Vec<usize>,
    pub output_padding: Vec<usize>,
    pub output_shape: Option<Vec<usize>>,
    pub auto_pad: AutoPad,
    pub group: usize,
}

/// Per spatial axis: where input position 0, kernel tap 0 lands (`-pads_begin`) and the
/// output size.
#[derive(Debug, PartialEq, Eq)]
struct Geometry {
    pads_begin: Vec<i64>,
    out: Vec<usize>,
}

/// Parses ConvTranspose; per-axis lists are checked against the rank in `infer`.
pub fn parse(ctx: &mut ParseCtx) -> Result<ConvTranspose, String> {
    let list = |name: &str| -> Result<Vec<usize>, String> {
        let v = ctx
            .ints(name)?
            .unwrap_or_default()
            .iter()
            .map(|&v| to_usize(v, &format!("attribute '{name}'")))
            .collect::<Result<Vec<_>, _>>()?;
        // Bounded values keep the i64 geometry below far from overflow.
        super::util::check_spatial_values(name, &v)?;
        Ok(v)
    };
    let group = to_usize(ctx.int_or("group", 1)?, "attribute 'group'")?;
    if group == 0 {
        return Err("attribute 'group' must be positive".into());
    }
    let kernel = ctx
        .has_attr("kernel_shape")
        .then(|| list("kernel_shape"))
        .transpose()?;
    let output_shape = ctx
        .has_attr("output_shape")
        .then(|| list("output_shape"))
        .transpose()?;
    let op = ConvTranspose {
        kernel,
        strides: list("strides")?,
        dilations: list("dilations")?,
        pads: list("pads")?,
        output_padding: list("output_padding")?,
        output_shape,
        auto_pad: AutoPad::parse(ctx.string("auto_pad")?)?,
        group,
    };
    if op.strides.contains(&0) || op.dilations.contains(&0) {
        return Err("attributes 'strides' and 'dilations' must be positive".into());
    }
    if op.kernel.as_ref().is_some_and(|k| k.contains(&0)) {
        return Err("attribute 'kernel_shape' must be positive".into());
    }
    Ok(op)
}

impl ConvTranspose {
    /// A list attribute for `n` axes: `default` when absent, else exactly `n` values.
    fn per_axis(name: &str, v: &[usize], n: usize, default: usize) -> Result<Vec<usize>, String> {
        match v.len() {
            0 => Ok(vec![default; n]),
            l if l == n => Ok(v.to_vec()),
            l => Err(format!("attribute '{name}' has {l} values, expected {n}")),
        }
    }

    fn geometry(&self, input: &[usize], kernel: &[usize]) -> Result<Geometry, String> {
        let n = input.len();
        let s = Self::per_axis("strides", &self.strides, n, 1)?;
        let d = Self::per_axis("dilations", &self.dilations, n, 1)?;
        let op = Self::per_axis("output_padding", &self.output_padding, n, 0)?;
        let pads = Self::per_axis("pads", &self.pads, 2 * n, 0)?;
        if let Some(k) = &self.kernel {
            if k != kernel {
                return Err(format!(
                    "attribute 'kernel_shape' {k:?} disagrees with W's kernel {kernel:?}"
                ));
            }
        }
        // Some exporters give the full N×C×… shape; the spatial part is what counts.
        let out_shape = match &self.output_shape {
            Some(o) if o.len() == n => Some(o.clone()),
            Some(o) if o.len() == n + 2 => Some(o[2..].to_vec()),
            Some(o) => {
                return Err(format!(
                    "attribute 'output_shape' {o:?} does not fit {n} spatial axes"
                ))
            }
            None => None,
        };
        let mut g = Geometry {
            pads_begin: vec![0; n],
            out: vec![0; n],
        };
        for i in 0..n {
            if op[i] >= s[i].max(d[i]) {
                return Err(format!(
                    "attribute 'output_padding' {} must be smaller than the stride or dilation on axis {i}",
                    op[i]
                ));
            }
            let span = (kernel[i] as i64 - 1) * d[i] as i64 + 1;
            let full = s[i] as i64 * (input[i] as i64 - 1) + op[i] as i64 + span;
            let same = matches!(self.auto_pad, AutoPad::SameUpper | AutoPad::SameLower);
            let (pb, out) = match (&out_shape, same) {
                (Some(o), false) => (pads[i] as i64, o[i] as i64),
                (o, true) => {
                    let out = o
                        .as_ref()
                        .map_or(input[i] as i64 * s[i] as i64, |o| o[i] as i64);
                    // The padding that makes the full result `out` long, split like ONNX
                    // (floor division; the odd element goes to the end for SAME_UPPER).
                    let total = full - out;
                    let half = total.div_euclid(2);
                    let pb = if self.auto_pad == AutoPad::SameUpper {
                        half
                    } else {
                        total - half
                    };
                    (pb, out)
                }
                (None, false) => {
                    let (pb, pe) = if self.auto_pad == AutoPad::Valid {
                        (0, 0)
                    } else {
                        (pads[i] as i64, pads[i + n] as i64)
                    };
                    (pb, full - pb - pe)
                }
            };
            if out <= 0 {
                return Err(format!(
                    "the output would have size {out} on spatial axis {i}"
                ));
            }
            g.pads_begin[i] = pb;
            g.out[i] = out as usize;
        }
        Ok(g)
    }

    fn output_shape(&self, x: &[usize], w: &[usize]) -> Result<(Geometry, Vec<usize>), String> {
        if x.len() < 3 || w.len() != x.len() {
            return Err(format!(
                "X rank {} and W rank {} must match and be ≥ 3",
                x.len(),
                w.len()
            ));
        }
        if x[1] != w[0] || !x[1].is_multiple_of(self.group) {
            return Err(format!(
                "X has {} channels but W is {w:?} with group {}: W's first dimension must equal the channels, which the group must divide",
                x[1], self.group
            ));
        }
        let g = self.geometry(&x[2..], &w[2..])?;
        let mut shape = vec![x[0], w[1] * self.group];
        shape.extend(&g.out);
        Ok((g, shape))
    }
}

impl OpDef for ConvTranspose {
    fn op_type(&self) -> &str {
        "ConvTranspose"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let (x, w) = (fact(inputs, 0)?, fact(inputs, 1)?);
        if x.dtype != DType::F32 || w.dtype != DType::F32 {
            return Err(format!(
                "ConvTranspose needs float32 inputs, got {} and {}",
                x.dtype, w.dtype
            ));
        }
        let (_, shape) = self.output_shape(x.shape, w.shape)?;
        if let Some(b) = inputs.get(2).copied().flatten() {
            if b.dtype != DType::F32 || b.shape != [shape[1]] {
                return Err(format!(
                    "bias must be float32 [{}], got {} {:?}",
                    shape[1], b.dtype, b.shape
                ));
            }
        }
        Ok(vec![OutFact::new(DType::F32, shape)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let (x, w) = (input(inputs, 0)?, input(inputs, 1)?);
        let (xd, wd) = (x.as_f32()?, w.as_f32()?);
        let bd = inputs
            .get(2)
            .copied()
            .flatten()
            .map(|b| b.as_f32())
            .transpose()?;
        let (xs, ws) = (x.shape(), w.shape());
        let (g, yshape) = self.output_shape(xs, ws)?;
        let (n, c, m) = (xs[0], xs[1], yshape[1]);
        let (cg, mg) = (c / self.group, m / self.group);
        let sp = xs.len() - 2;
        let s = Self::per_axis("strides", &self.strides, sp, 1)?;
        let d = Self::per_axis("dilations", &self.dilations, sp, 1)?;
        let (xst, wst, yst) = (strides(xs), strides(ws), strides(&yshape));
        let mut y = vec![0f32; yshape.iter().product()];
        for b in 0..n {
            for oc in 0..m {
                let bias = bd.and_then(|bd| bd.get(oc).copied()).unwrap_or(0.0);
                let base = b * yst[0] + oc * yst[1];
                y[base..base + yst[1]].iter_mut().for_each(|v| *v = bias);
            }
        }
        let kernel = &ws[2..];
        for b in 0..n {
            for ic in 0..c {
                let grp = ic / cg;
                for_each_index(&xs[2..], |p| {
                    let xv = xd[b * xst[0] + ic * xst[1] + offset(p, &xst[2..])];
                    for_each_index(kernel, |k| {
                        // Every input position scatters through every kernel tap.
                        let mut yo = 0;
                        for a in 0..sp {
                            let o = (p[a] * s[a] + k[a] * d[a]) as i64 - g.pads_begin[a];
                            if o < 0 || o >= g.out[a] as i64 {
                                return;
                            }
                            yo += o as usize * yst[2 + a];
                        }
                        let wo = ic * wst[0] + offset(k, &wst[2..]);
                        for j in 0..mg {
                            let oc = grp * mg + j;
                            y[b * yst[0] + oc * yst[1] + yo] += xv * wd[wo + j * wst[1]];
                        }
                    });
                });
            }
        }
        Ok(vec![Tensor::f32(yshape, y)])
    }

    fn macs(&self, inputs: &[Option<&[usize]>], _outputs: &[&[usize]]) -> u64 {
        // Each input element meets (M/group × kernel volume) weights.
        let x = inputs.first().copied().flatten().unwrap_or(&[]);
        let w = inputs.get(1).copied().flatten().unwrap_or(&[]);
        let per: usize = w.iter().skip(1).product();
        (x.iter().product::<usize>() * per) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op() -> ConvTranspose {
        ConvTranspose {
            kernel: None,
            strides: vec![2],
            dilations: vec![],
            pads: vec![],
            output_padding: vec![],
            output_shape: None,
            auto_pad: AutoPad::NotSet,
            group: 1,
        }
    }

    #[test]
    fn scatters_with_stride_pads_and_output_padding() {
        let x = Tensor::f32(vec![1, 1, 2], vec![1.0, 2.0]);
        let w = Tensor::f32(vec![1, 1, 2], vec![1.0, 10.0]);
        let y = op().eval(&[Some(&x), Some(&w)]).unwrap();
        assert_eq!(y[0], Tensor::f32(vec![1, 1, 4], vec![1.0, 10.0, 2.0, 20.0]));
        let mut p = op();
        p.pads = vec![1, 0];
        p.output_padding = vec![1];
        let y = p.eval(&[Some(&x), Some(&w)]).unwrap();
        assert_eq!(y[0], Tensor::f32(vec![1, 1, 4], vec![10.0, 2.0, 20.0, 0.0]));
    }

    #[test]
    fn same_padding_and_output_shape_fix_the_size() {
        let mut p = op();
        p.auto_pad = AutoPad::SameUpper;
        assert_eq!(p.geometry(&[3], &[3]).unwrap().out, vec![6]);
        p.auto_pad = AutoPad::NotSet;
        p.output_shape = Some(vec![9]);
        let g = p.geometry(&[3], &[3]).unwrap();
        assert_eq!((g.out, g.pads_begin), (vec![9], vec![0]));
        p.output_padding = vec![2];
        assert!(p.geometry(&[3], &[3]).is_err());
    }

    #[test]
    fn groups_and_macs() {
        let mut p = op();
        p.group = 2;
        p.strides = vec![];
        let x = Tensor::f32(vec![1, 2, 1], vec![1.0, 2.0]);
        let w = Tensor::f32(vec![2, 1, 1], vec![3.0, 5.0]);
        let y = p.eval(&[Some(&x), Some(&w)]).unwrap();
        assert_eq!(y[0], Tensor::f32(vec![1, 2, 1], vec![3.0, 10.0]));
        assert_eq!(p.macs(&[Some(&[1, 4, 5]), Some(&[4, 3, 2])], &[]), 20 * 6);
    }
}
