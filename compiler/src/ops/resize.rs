//! Resize (opsets 10–19) and Upsample (opsets 7 and 9, mapped onto Resize): nearest,
//! (multi)linear and cubic interpolation with ONNX's coordinate transformations.

use runtime::{DType, Tensor, TensorData};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{
    concat_data, fact, for_each_index, input, normalize_axis, offset, strides, take,
};

/// Interpolation kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResizeMode {
    Nearest,
    Linear,
    Cubic,
}

/// How an output coordinate maps back to an input coordinate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoordMode {
    HalfPixel,
    HalfPixelSymmetric,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
    TfHalfPixelForNn,
    TfCropAndResize,
}

/// How `nearest` rounds a fractional input coordinate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NearestMode {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
}

/// How `sizes` is honoured when only some aspect ratios can be kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AspectPolicy {
    Stretch,
    NotLarger,
    NotSmaller,
}

/// Resize `X` by `scales` or to `sizes` (over all axes, or over `axes`).
#[derive(Clone, Debug)]
pub struct Resize {
    /// `Resize` or `Upsample`.
    pub source: &'static str,
    /// Inputs are `(X, scales)` (Resize-10, Upsample) instead of `(X, roi, scales, sizes)`.
    pub scales_only: bool,
    pub mode: ResizeMode,
    pub coord: CoordMode,
    pub nearest: NearestMode,
    pub cubic_a: f64,
    pub exclude_outside: bool,
    pub extrapolation: f32,
    pub antialias: bool,
    pub axes: Option<Vec<i64>>,
    pub policy: AspectPolicy,
}

fn parse_mode(ctx: &ParseCtx, cubic: bool) -> Result<ResizeMode, String> {
    match ctx.string("mode")?.as_deref() {
        None | Some("nearest") => Ok(ResizeMode::Nearest),
        Some("linear") => Ok(ResizeMode::Linear),
        Some("cubic") if cubic => Ok(ResizeMode::Cubic),
        Some(m) => Err(format!(
            "attribute 'mode' '{m}' is not supported at opset {}",
            ctx.opset
        )),
    }
}

/// Parses Resize of any opset from 10 into the newest form.
pub fn parse(ctx: &mut ParseCtx) -> Result<Resize, String> {
    if ctx.opset < 10 {
        return Err(format!("Resize does not exist at opset {}", ctx.opset));
    }
    // Resize-10 takes (X, scales) and behaves like Upsample: asymmetric coordinates,
    // nearest rounds down.
    if ctx.opset < 11 {
        return Ok(Resize {
            source: "Resize",
            scales_only: true,
            mode: parse_mode(ctx, false)?,
            ..upsample_defaults()
        });
    }
    let coord = match ctx.string("coordinate_transformation_mode")?.as_deref() {
        None | Some("half_pixel") => CoordMode::HalfPixel,
        Some("half_pixel_symmetric") if ctx.opset >= 19 => CoordMode::HalfPixelSymmetric,
        Some("pytorch_half_pixel") => CoordMode::PytorchHalfPixel,
        Some("align_corners") => CoordMode::AlignCorners,
        Some("asymmetric") => CoordMode::Asymmetric,
        Some("tf_half_pixel_for_nn") if ctx.opset < 13 => CoordMode::TfHalfPixelForNn,
        Some("tf_crop_and_resize") => CoordMode::TfCropAndResize,
        Some(m) => {
            return Err(format!(
                "attribute 'coordinate_transformation_mode' '{m}' is not supported at opset {}",
                ctx.opset
            ))
        }
    };
    let nearest = match ctx.string("nearest_mode")?.as_deref() {
        None | Some("round_prefer_floor") => NearestMode::RoundPreferFloor,
        Some("round_prefer_ceil") => NearestMode::RoundPreferCeil,
        Some("floor") => NearestMode::Floor,
        Some("ceil") => NearestMode::Ceil,
        Some(m) => return Err(format!("attribute 'nearest_mode' '{m}' is not supported")),
    };
    let policy = match ctx.string("keep_aspect_ratio_policy")?.as_deref() {
        None | Some("stretch") => AspectPolicy::Stretch,
        Some("not_larger") => AspectPolicy::NotLarger,
        Some("not_smaller") => AspectPolicy::NotSmaller,
        Some(m) => {
            return Err(format!(
                "attribute 'keep_aspect_ratio_policy' '{m}' is not supported"
            ))
        }
    };
    let mode = parse_mode(ctx, true)?;
    let antialias = ctx.flag("antialias", false)?;
    if antialias && mode == ResizeMode::Nearest {
        return Err("attribute 'antialias' applies only to linear and cubic modes".into());
    }
    Ok(Resize {
        source: "Resize",
        scales_only: false,
        mode,
        coord,
        nearest,
        cubic_a: ctx.float_or("cubic_coeff_a", -0.75)? as f64,
        exclude_outside: ctx.flag("exclude_outside", false)?,
        extrapolation: ctx.float_or("extrapolation_value", 0.0)?,
        antialias,
        axes: ctx.ints("axes")?,
        policy,
    })
}

fn upsample_defaults() -> Resize {
    Resize {
        source: "Upsample",
        scales_only: true,
        mode: ResizeMode::Nearest,
        coord: CoordMode::Asymmetric,
        nearest: NearestMode::Floor,
        cubic_a: -0.75,
        exclude_outside: false,
        extrapolation: 0.0,
        antialias: false,
        axes: None,
        policy: AspectPolicy::Stretch,
    }
}

/// Upsample: `Y[i] = X[floor(i / scale)]` (nearest) or asymmetric linear interpolation.
pub fn parse_upsample(ctx: &mut ParseCtx) -> Result<Resize, String> {
    if ctx.opset < 7 {
        return Err(format!(
            "Upsample before opset 7 (experimental, opset {}) is not supported",
            ctx.opset
        ));
    }
    // Before opset 9 the scales were an attribute.
    if ctx.opset < 9 {
        let scales = ctx
            .floats("scales")?
            .ok_or("attribute 'scales' is required before opset 9")?;
        ctx.promote(1, Tensor::f32(vec![scales.len()], scales));
    }
    Ok(Resize {
        mode: parse_mode(ctx, false)?,
        ..upsample_defaults()
    })
}

/// For one output coordinate along one axis: the input taps and their weights, or
/// `None` when the coordinate falls outside the crop (tf_crop_and_resize).
/// One output coordinate's `(input index, weight)` taps on an axis; `None` samples outside
/// the input (tf_crop_and_resize: the extrapolation value).
pub type Taps = Option<Vec<(usize, f64)>>;

/// The resolved geometry: output shape, per-axis scale and crop box.
#[derive(Debug, PartialEq)]
struct Plan {
    out: Vec<usize>,
    scales: Vec<f64>,
    roi: Vec<(f64, f64)>,
}

impl Resize {
    /// The `(roi, scales, sizes)` operands; empty tensors count as omitted (opset 11
    /// passes an empty `scales` when `sizes` is used).
    fn operands<'a, T>(
        &self,
        inputs: &'a [Option<T>],
        len: impl Fn(&T) -> usize,
    ) -> [Option<&'a T>; 3] {
        let get = |i: usize| {
            inputs
                .get(i)
                .and_then(Option::as_ref)
                .filter(|t| len(t) > 0)
        };
        if self.scales_only {
            [None, get(1), None]
        } else {
            [get(1), get(2), get(3)]
        }
    }

    /// Axes that scales/sizes/roi refer to, normalised.
    fn axes_for(&self, rank: usize) -> Result<Vec<usize>, String> {
        match &self.axes {
            None => Ok((0..rank).collect()),
            Some(a) => {
                let mut seen = vec![false; rank];
                a.iter()
                    .map(|&v| {
                        let n = normalize_axis(v, rank)?;
                        if std::mem::replace(&mut seen[n], true) {
                            return Err(format!("attribute 'axes' {a:?} repeats axis {n}"));
                        }
                        Ok(n)
                    })
                    .collect()
            }
        }
    }

    fn plan(
        &self,
        shape: &[usize],
        roi: Option<&[f64]>,
        scales: Option<&[f64]>,
        sizes: Option<&[i64]>,
    ) -> Result<Plan, String> {
        let r = shape.len();
        let axes = self.axes_for(r)?;
        let n = axes.len();
        let mut p = Plan {
            out: shape.to_vec(),
            scales: vec![1.0; r],
            roi: vec![(0.0, 1.0); r],
        };
        if let Some(roi) = roi {
            if roi.len() != 2 * n {
                return Err(format!("roi has {} values, expected {}", roi.len(), 2 * n));
            }
            for (i, &a) in axes.iter().enumerate() {
                p.roi[a] = (roi[i], roi[i + n]);
            }
        }
        let p = self.sized(shape, &axes, scales, sizes, p)?;
        if let Some(a) = (0..r).find(|&a| shape[a] == 0 && p.out[a] > 0) {
            return Err(format!("cannot resize the empty axis {a} to {}", p.out[a]));
        }
        Ok(p)
    }

    /// Fills in the output size and scale of each resized axis.
    fn sized(
        &self,
        shape: &[usize],
        axes: &[usize],
        scales: Option<&[f64]>,
        sizes: Option<&[i64]>,
        mut p: Plan,
    ) -> Result<Plan, String> {
        let n = axes.len();
        match (scales, sizes) {
            (Some(s), None) => {
                if s.len() != n {
                    return Err(format!("scales has {} values, expected {n}", s.len()));
                }
                for (i, &a) in axes.iter().enumerate() {
                    if !(s[i] > 0.0 && s[i].is_finite()) {
                        return Err(format!("scales must be positive, got {s:?}"));
                    }
                    p.scales[a] = s[i];
                    p.out[a] = (shape[a] as f64 * s[i]).floor() as usize;
                }
            }
            (None, Some(z)) => {
                if z.len() != n {
                    return Err(format!("sizes has {} values, expected {n}", z.len()));
                }
                for (i, &a) in axes.iter().enumerate() {
                    let size = usize::try_from(z[i])
                        .map_err(|_| format!("sizes must be non-negative, got {z:?}"))?;
                    if shape[a] == 0 {
                        return Err(format!("cannot resize the empty axis {a}"));
                    }
                    p.out[a] = size;
                    p.scales[a] = size as f64 / shape[a] as f64;
                }
                if self.policy != AspectPolicy::Stretch {
                    let ratios = axes.iter().map(|&a| p.scales[a]);
                    let s = if self.policy == AspectPolicy::NotLarger {
                        ratios.fold(f64::INFINITY, f64::min)
                    } else {
                        ratios.fold(0.0, f64::max)
                    };
                    for &a in axes {
                        p.scales[a] = s;
                        // Round half up, as ONNX specifies.
                        p.out[a] = (s * shape[a] as f64 + 0.5).floor() as usize;
                    }
                }
            }
            (Some(_), Some(_)) => return Err("only one of scales and sizes may be given".into()),
            (None, None) => return Err("one of scales and sizes is required".into()),
        }
        Ok(p)
    }

    /// Maps output coordinate `x` of an axis of `len_in` → `len_out` to the input.
    fn source_coord(
        &self,
        x: usize,
        len_in: usize,
        len_out: usize,
        scale: f64,
        roi: (f64, f64),
    ) -> f64 {
        let (x, li, lo) = (x as f64, len_in as f64, len_out as f64);
        match self.coord {
            CoordMode::HalfPixel => (x + 0.5) / scale - 0.5,
            CoordMode::HalfPixelSymmetric => {
                // Centres the output on the input when the size was rounded down.
                let adjustment = lo / (scale * li);
                let offset = li / 2.0 * (1.0 - adjustment);
                offset + (x + 0.5) / scale - 0.5
            }
            CoordMode::PytorchHalfPixel if len_out > 1 => (x + 0.5) / scale - 0.5,
            CoordMode::PytorchHalfPixel => 0.0,
            CoordMode::AlignCorners if len_out > 1 => x * (li - 1.0) / (lo - 1.0),
            CoordMode::AlignCorners => 0.0,
            CoordMode::Asymmetric => x / scale,
            CoordMode::TfHalfPixelForNn => (x + 0.5) / scale,
            CoordMode::TfCropAndResize if len_out > 1 => {
                roi.0 * (li - 1.0) + x * (roi.1 - roi.0) * (li - 1.0) / (lo - 1.0)
            }
            CoordMode::TfCropAndResize => 0.5 * (roi.0 + roi.1) * (li - 1.0),
        }
    }

    /// The interpolation kernel at distance `d` (in input pixels, scaled for antialias).
    fn kernel(&self, d: f64) -> f64 {
        let d = d.abs();
        match self.mode {
            ResizeMode::Nearest => 0.0,
            ResizeMode::Linear => (1.0 - d).max(0.0),
            ResizeMode::Cubic => {
                let a = self.cubic_a;
                if d <= 1.0 {
                    ((a + 2.0) * d - (a + 3.0)) * d * d + 1.0
                } else if d < 2.0 {
                    ((a * d - 5.0 * a) * d + 8.0 * a) * d - 4.0 * a
                } else {
                    0.0
                }
            }
        }
    }

    /// Taps for every output coordinate of one axis.
    fn axis_taps(&self, len_in: usize, len_out: usize, scale: f64, roi: (f64, f64)) -> Vec<Taps> {
        let last = len_in as i64 - 1;
        let clamp = |i: i64| i.clamp(0, last) as usize;
        (0..len_out)
            .map(|x| {
                let xo = self.source_coord(x, len_in, len_out, scale, roi);
                if self.coord == CoordMode::TfCropAndResize && (xo < 0.0 || xo > last as f64) {
                    return None;
                }
                // `base + ratio == xo` with ratio in (0, 1]: an integral coordinate is
                // reached as the right neighbour of the previous pixel.
                let base = xo.ceil() - 1.0;
                let ratio = xo - base;
                let base = base as i64;
                if self.mode == ResizeMode::Nearest {
                    let right = match self.nearest {
                        _ if ratio == 1.0 => true,
                        NearestMode::RoundPreferFloor => ratio > 0.5,
                        NearestMode::RoundPreferCeil => ratio >= 0.5,
                        NearestMode::Floor => false,
                        NearestMode::Ceil => true,
                    };
                    return Some(vec![(clamp(base + right as i64), 1.0)]);
                }
                // Kernel support in input pixels: 1 (linear) or 2 (cubic), widened by
                // 1/scale when antialiasing a downscale.
                let support = if self.mode == ResizeMode::Linear {
                    1.0
                } else {
                    2.0
                };
                let s = if self.antialias { scale.min(1.0) } else { 1.0 };
                let start = (-support / s).floor() as i64 + 1;
                let count = 2 - 2 * start;
                let mut taps: Vec<(i64, f64)> = (start..start + count)
                    .map(|i| (base + i, self.kernel((i as f64 - ratio) * s)))
                    .collect();
                if self.exclude_outside {
                    for t in &mut taps {
                        if t.0 < 0 || t.0 > last {
                            t.1 = 0.0;
                        }
                    }
                }
                if self.antialias || self.exclude_outside {
                    let sum: f64 = taps.iter().map(|t| t.1).sum();
                    if sum != 0.0 {
                        taps.iter_mut().for_each(|t| t.1 /= sum);
                    }
                }
                // Out-of-range taps read the edge pixel.
                Some(
                    taps.into_iter()
                        .filter(|t| t.1 != 0.0)
                        .map(|(i, w)| (clamp(i), w))
                        .collect(),
                )
            })
            .collect()
    }

    /// The output shape and every axis' taps for an input of shape `xs`, with the
    /// `(X, roi, scales, sizes)` operands in `inputs` (the lowering's interpolation tables).
    pub fn resolve(
        &self,
        xs: &[usize],
        inputs: &[Option<&Tensor>],
    ) -> Result<(Vec<usize>, Vec<Vec<Taps>>), String> {
        let [roi, scales, sizes] = self.operands(inputs, |t| t.len());
        let roi = roi.map(|t| floats(t, "roi")).transpose()?;
        let scales = scales.map(|t| floats(t, "scales")).transpose()?;
        let sizes = sizes.map(|t| ints(t, "sizes")).transpose()?;
        let p = self.plan(xs, roi.as_deref(), scales.as_deref(), sizes.as_deref())?;
        let taps = (0..xs.len())
            .map(|a| self.axis_taps(xs[a], p.out[a], p.scales[a], p.roi[a]))
            .collect();
        Ok((p.out, taps))
    }

    fn check_dtype(&self, dtype: DType) -> Result<(), String> {
        if self.mode != ResizeMode::Nearest && dtype != DType::F32 {
            return Err(format!(
                "{} in {:?} mode needs float32 input, got {dtype}",
                self.source, self.mode
            ));
        }
        Ok(())
    }
}

/// The values of a float operand (roi, scales) as f64.
fn floats(t: &Tensor, what: &str) -> Result<Vec<f64>, String> {
    match t.data() {
        TensorData::F32(_) | TensorData::F64(_) if t.rank() == 1 => Ok(t.to_f64_vec()),
        _ => Err(format!(
            "{what} must be a 1-D float tensor, got {} {:?}",
            t.dtype(),
            t.shape()
        )),
    }
}

fn ints(t: &Tensor, what: &str) -> Result<Vec<i64>, String> {
    if t.dtype() != DType::I64 || t.rank() != 1 {
        return Err(format!(
            "{what} must be a 1-D int64 tensor, got {} {:?}",
            t.dtype(),
            t.shape()
        ));
    }
    t.to_i64_vec()
}

impl OpDef for Resize {
    fn op_type(&self) -> &str {
        self.source
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let x = fact(inputs, 0)?;
        self.check_dtype(x.dtype)?;
        let [roi, scales, sizes] = self.operands(inputs, |f| f.shape.iter().product());
        let constant = |f: Option<&Fact>, what: &str| -> Result<Option<Tensor>, String> {
            f.map(|f| {
                f.value
                    .cloned()
                    .ok_or_else(|| format!("{what} must be a constant known at compile time"))
            })
            .transpose()
        };
        let scales = constant(scales, "scales")?
            .map(|t| floats(&t, "scales"))
            .transpose()?;
        let sizes = constant(sizes, "sizes")?
            .map(|t| ints(&t, "sizes"))
            .transpose()?;
        // roi does not affect the output shape; only check it when it is known.
        let roi = roi
            .and_then(|f| f.value)
            .map(|t| floats(t, "roi"))
            .transpose()?;
        let p = self.plan(x.shape, roi.as_deref(), scales.as_deref(), sizes.as_deref())?;
        Ok(vec![OutFact::new(x.dtype, p.out)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let x = input(inputs, 0)?;
        self.check_dtype(x.dtype())?;
        let xs = x.shape();
        let (out, taps) = self.resolve(xs, inputs)?;
        let st = strides(xs);
        if self.mode == ResizeMode::Nearest {
            // One tap per axis: a gather; the extrapolation value sits past the input.
            let fill = match x.dtype() {
                DType::F32 => TensorData::F32(vec![self.extrapolation]),
                DType::F64 => TensorData::F64(vec![self.extrapolation as f64]),
                DType::I64 => TensorData::I64(vec![self.extrapolation as i64]),
                DType::I32 => TensorData::I32(vec![self.extrapolation as i32]),
                DType::U8 => TensorData::U8(vec![self.extrapolation as u8]),
                DType::Bool => TensorData::Bool(vec![self.extrapolation != 0.0]),
            };
            let ext = concat_data(&[x.data(), &fill])?;
            let mut idx = Vec::new();
            for_each_index(&out, |o| {
                let mut off = Some(0);
                for (a, &i) in o.iter().enumerate() {
                    off = match (&taps[a][i], off) {
                        (Some(t), Some(acc)) => t.first().map(|&(j, _)| acc + j * st[a]),
                        _ => None,
                    };
                }
                idx.push(off.unwrap_or(x.len()));
            });
            return Ok(vec![Tensor::new(out, take(&ext, &idx)?)?]);
        }
        let xd = x.as_f32()?;
        let mut y = Vec::with_capacity(out.iter().product());
        for_each_index(&out, |o| {
            let per_axis: Option<Vec<&Vec<(usize, f64)>>> = o
                .iter()
                .enumerate()
                .map(|(a, &i)| taps[a][i].as_ref())
                .collect();
            let Some(per_axis) = per_axis else {
                y.push(self.extrapolation);
                return;
            };
            // Separable: sum over every combination of one tap per axis.
            let counts: Vec<usize> = per_axis.iter().map(|t| t.len()).collect();
            let mut acc = 0f64;
            let mut pos = vec![0usize; counts.len()];
            for_each_index(&counts, |k| {
                let mut w = 1.0;
                for (a, &ki) in k.iter().enumerate() {
                    let (j, wa) = per_axis[a][ki];
                    pos[a] = j;
                    w *= wa;
                }
                acc += w * xd[offset(&pos, &st)] as f64;
            });
            y.push(acc as f32);
        });
        Ok(vec![Tensor::f32(out, y)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resize(mode: ResizeMode, coord: CoordMode) -> Resize {
        Resize {
            source: "Resize",
            scales_only: false,
            mode,
            coord,
            nearest: NearestMode::RoundPreferFloor,
            cubic_a: -0.75,
            exclude_outside: false,
            extrapolation: 0.0,
            antialias: false,
            axes: None,
            policy: AspectPolicy::Stretch,
        }
    }

    #[test]
    fn upsample_nearest_repeats_and_works_on_int64() {
        let up = upsample_defaults();
        let x = Tensor::i64(vec![1, 2], vec![1, 2]);
        let s = Tensor::f32(vec![2], vec![1.0, 3.0]);
        let y = up.eval(&[Some(&x), Some(&s)]).unwrap();
        assert_eq!(y[0], Tensor::i64(vec![1, 6], vec![1, 1, 1, 2, 2, 2]));
    }

    #[test]
    fn linear_half_pixel_and_align_corners() {
        let x = Tensor::f32(vec![2], vec![0.0, 4.0]);
        let s = Tensor::f32(vec![1], vec![2.0]);
        let r = resize(ResizeMode::Linear, CoordMode::HalfPixel);
        let y = r.eval(&[Some(&x), None, Some(&s)]).unwrap();
        assert_eq!(y[0].as_f32().unwrap(), &[0.0, 1.0, 3.0, 4.0]);
        let r = resize(ResizeMode::Linear, CoordMode::AlignCorners);
        let sizes = Tensor::i64(vec![1], vec![3]);
        let y = r.eval(&[Some(&x), None, None, Some(&sizes)]).unwrap();
        assert_eq!(y[0].as_f32().unwrap(), &[0.0, 2.0, 4.0]);
    }

    #[test]
    fn opset11_empty_scales_means_sizes_are_used() {
        let r = resize(ResizeMode::Nearest, CoordMode::Asymmetric);
        let x = Tensor::f32(vec![2], vec![5.0, 6.0]);
        let empty = Tensor::f32(vec![0], vec![]);
        let sizes = Tensor::i64(vec![1], vec![4]);
        let y = r
            .eval(&[Some(&x), Some(&empty), Some(&empty), Some(&sizes)])
            .unwrap();
        assert_eq!(y[0].as_f32().unwrap(), &[5.0, 5.0, 6.0, 6.0]);
        assert!(r.eval(&[Some(&x), None, None, None]).is_err());
        assert!(r
            .eval(&[Some(&x), None, Some(&empty), Some(&empty)])
            .is_err());
    }

    #[test]
    fn empty_axes_cannot_grow() {
        let r = resize(ResizeMode::Linear, CoordMode::HalfPixel);
        let x = Tensor::f32(vec![1, 0], vec![]);
        let sizes = Tensor::i64(vec![2], vec![1, 3]);
        let e = r.eval(&[Some(&x), None, None, Some(&sizes)]).unwrap_err();
        assert!(e.contains("empty axis 1"), "{e}");
        let scales = Tensor::f32(vec![2], vec![2.0, 2.0]);
        let y = r.eval(&[Some(&x), None, Some(&scales)]).unwrap();
        assert_eq!(y[0].shape(), &[2, 0]);
    }

    #[test]
    fn cubic_weights_sum_to_one_and_keep_integral_points() {
        let r = resize(ResizeMode::Cubic, CoordMode::Asymmetric);
        for t in r.axis_taps(5, 10, 2.0, (0.0, 1.0)).into_iter().flatten() {
            let sum: f64 = t.iter().map(|w| w.1).sum();
            assert!((sum - 1.0).abs() < 1e-9);
        }
        // x = 4 maps to input 2 exactly: a single tap.
        assert_eq!(r.axis_taps(5, 10, 2.0, (0.0, 1.0))[4], Some(vec![(2, 1.0)]));
    }
}
