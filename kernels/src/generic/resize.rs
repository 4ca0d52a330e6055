//! Resize / Upsample: separable nearest, linear and cubic interpolation over any axes.
//!
//! All of ONNX's coordinate logic (coordinate_transformation_mode, nearest_mode, cubic
//! coefficient, exclude_outside, roi) is resolved at compile time by [`resize_axis_table`] into a
//! per-axis table of source indices and weights; the kernel only combines the tables, so the
//! generated code can embed them as constant data.

use super::common::{abort_bad_params, numel, MAX_RANK};
use crate::error::KernelError;
use crate::params::kernel_params;

/// Nearest neighbour (1 tap per axis).
pub const RESIZE_NEAREST: u32 = 0;
/// Linear (2 taps per axis; bilinear/trilinear when several axes are resized).
pub const RESIZE_LINEAR: u32 = 1;
/// Cubic (4 taps per axis).
pub const RESIZE_CUBIC: u32 = 2;

/// `(x + 0.5) / scale - 0.5`.
pub const COORD_HALF_PIXEL: u32 = 0;
/// Half pixel, but 0 when the output axis has length 1.
pub const COORD_PYTORCH_HALF_PIXEL: u32 = 1;
/// `x · (in - 1) / (out - 1)`.
pub const COORD_ALIGN_CORNERS: u32 = 2;
/// `x / scale`.
pub const COORD_ASYMMETRIC: u32 = 3;
/// Crop to `roi` then resize; samples outside the input give the extrapolation value.
pub const COORD_TF_CROP_AND_RESIZE: u32 = 4;
/// Opset 19 `half_pixel_symmetric`.
pub const COORD_HALF_PIXEL_SYMMETRIC: u32 = 5;

/// Round half down.
pub const NEAREST_ROUND_PREFER_FLOOR: u32 = 0;
/// Round half up.
pub const NEAREST_ROUND_PREFER_CEIL: u32 = 1;
/// Floor.
pub const NEAREST_FLOOR: u32 = 2;
/// Ceil.
pub const NEAREST_CEIL: u32 = 3;

kernel_params! {
/// Resize parameters, `#[repr(C)]`: contiguous f32 `x` (`in_shape`) to contiguous `y`
/// (`out_shape`). Output coordinate `o` on axis `d` reads input indices
/// `index[d][o·taps[d] + t]` with weights `weight[d][o·taps[d] + t]`, `t < taps[d]`; the output is
/// the sum over all tap combinations of the product of weights times the input element. An index
/// of -1 on any axis makes the output `extrapolation_value`. `weight[d]` may be null when
/// `taps[d] == 1` (weight 1). Build the tables with [`resize_axis_table`].
#[derive(Clone, Copy, Debug)]
pub struct ResizeParams {
    /// Number of axes (`<= MAX_RANK`).
    pub rank: usize,
    /// Input shape.
    pub in_shape: [usize; MAX_RANK],
    /// Output shape.
    pub out_shape: [usize; MAX_RANK],
    /// Taps per axis: 1, 2 or 4.
    pub taps: [usize; MAX_RANK],
    /// Per axis, `out_shape[d] · taps[d]` input indices in `[-1, in_shape[d])`.
    pub index: [*const i64; MAX_RANK],
    /// Per axis, `out_shape[d] · taps[d]` weights, or null for `taps[d] == 1`.
    pub weight: [*const f32; MAX_RANK],
    /// Value of outputs sampled outside the input (tf_crop_and_resize).
    pub extrapolation_value: f32,
    /// Input.
    pub x: *const f32,
    /// Output.
    pub y: *mut f32,
}
}

/// One axis' interpolation table.
#[derive(Clone, Debug, PartialEq)]
pub struct AxisTable {
    /// Taps per output coordinate.
    pub taps: usize,
    /// `out · taps` input indices (-1: outside, extrapolate).
    pub index: Vec<i64>,
    /// `out · taps` weights.
    pub weight: Vec<f32>,
}

/// ONNX Resize attributes for one axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AxisResize {
    /// `RESIZE_*`.
    pub mode: u32,
    /// `COORD_*`.
    pub coord: u32,
    /// `NEAREST_*` (nearest mode only).
    pub nearest: u32,
    /// Cubic coefficient `a` (ONNX default -0.75).
    pub cubic_a: f32,
    /// Zero the weights of taps outside the input and renormalise (cubic/linear).
    pub exclude_outside: bool,
    /// Input length.
    pub in_len: usize,
    /// Output length.
    pub out_len: usize,
    /// Scale (`out_len / in_len` when sizes were given).
    pub scale: f32,
    /// Region of interest start/end, normalised (tf_crop_and_resize only).
    pub roi: [f32; 2],
}

/// Build one axis' table from the ONNX attributes (compile-time helper; follows the ONNX
/// reference implementation's formulas in f64).
pub fn resize_axis_table(a: &AxisResize) -> Result<AxisTable, KernelError> {
    if a.mode > RESIZE_CUBIC
        || a.coord > COORD_HALF_PIXEL_SYMMETRIC
        || a.nearest > NEAREST_CEIL
        || a.in_len == 0
        || a.scale.is_nan()
        || a.scale <= 0.0
    {
        return Err(KernelError::new(format!("resize: invalid axis {a:?}")));
    }
    let (n_in, n_out, scale) = (a.in_len as f64, a.out_len as f64, a.scale as f64);
    let original = |x: f64| -> f64 {
        match a.coord {
            COORD_HALF_PIXEL => (x + 0.5) / scale - 0.5,
            COORD_PYTORCH_HALF_PIXEL => {
                if a.out_len > 1 {
                    (x + 0.5) / scale - 0.5
                } else {
                    0.0
                }
            }
            COORD_ALIGN_CORNERS => {
                if a.out_len == 1 {
                    0.0
                } else {
                    x * (n_in - 1.0) / (n_out - 1.0)
                }
            }
            COORD_ASYMMETRIC => x / scale,
            COORD_TF_CROP_AND_RESIZE => {
                let (s, e) = (a.roi[0] as f64, a.roi[1] as f64);
                if a.out_len > 1 {
                    s * (n_in - 1.0) + x * (e - s) * (n_in - 1.0) / (n_out - 1.0)
                } else {
                    0.5 * (s + e) * (n_in - 1.0)
                }
            }
            _ => {
                let adjustment = n_out / (scale * n_in);
                let center = n_in / 2.0;
                let offset = center * (1.0 - adjustment);
                offset + (x + 0.5) / scale - 0.5
            }
        }
    };
    let taps = [1, 2, 4][a.mode as usize];
    let mut index = Vec::with_capacity(a.out_len * taps);
    let mut weight = Vec::with_capacity(a.out_len * taps);
    let last = a.in_len as i64 - 1;
    for o in 0..a.out_len {
        let xo = original(o as f64);
        if a.coord == COORD_TF_CROP_AND_RESIZE && (xo < 0.0 || xo > n_in - 1.0) {
            index.extend(std::iter::repeat_n(-1, taps));
            weight.extend(std::iter::repeat_n(0.0, taps));
            continue;
        }
        match a.mode {
            RESIZE_NEAREST => {
                let i = match a.nearest {
                    NEAREST_ROUND_PREFER_FLOOR => {
                        if xo == xo.floor() + 0.5 {
                            xo.floor()
                        } else {
                            xo.round()
                        }
                    }
                    NEAREST_ROUND_PREFER_CEIL => {
                        if xo == xo.floor() + 0.5 {
                            xo.ceil()
                        } else {
                            xo.round()
                        }
                    }
                    NEAREST_FLOOR => xo.floor(),
                    _ => xo.ceil(),
                };
                index.push((i as i64).clamp(0, last));
                weight.push(1.0);
            }
            _ => {
                let base = xo.floor();
                let t = xo - base;
                let w: Vec<f64> = if a.mode == RESIZE_LINEAR {
                    vec![1.0 - t, t]
                } else {
                    let c = a.cubic_a as f64;
                    let k = |d: f64| {
                        let d = d.abs();
                        if d <= 1.0 {
                            ((c + 2.0) * d - (c + 3.0)) * d * d + 1.0
                        } else if d < 2.0 {
                            ((c * d - 5.0 * c) * d + 8.0 * c) * d - 4.0 * c
                        } else {
                            0.0
                        }
                    };
                    vec![k(t + 1.0), k(t), k(1.0 - t), k(2.0 - t)]
                };
                let first = base as i64 - if taps == 4 { 1 } else { 0 };
                let raw: Vec<i64> = (0..taps as i64).map(|j| first + j).collect();
                let mut w = w;
                if a.exclude_outside {
                    for (wj, &ij) in w.iter_mut().zip(&raw) {
                        if ij < 0 || ij > last {
                            *wj = 0.0;
                        }
                    }
                    let sum: f64 = w.iter().sum();
                    if sum != 0.0 {
                        w.iter_mut().for_each(|v| *v /= sum);
                    }
                }
                index.extend(raw.iter().map(|&i| i.clamp(0, last)));
                weight.extend(w.iter().map(|&v| v as f32));
            }
        }
    }
    Ok(AxisTable {
        taps,
        index,
        weight,
    })
}

/// Resize entry point for generated code.
///
/// # Safety
/// `p` points to a valid [`ResizeParams`]; `x` holds `Π in_shape` and `y` `Π out_shape` floats;
/// each axis' tables hold `out_shape[d] · taps[d]` entries with indices in `[-1, in_shape[d])`.
/// A rank above `MAX_RANK` or a tap count other than 1, 2, 4 aborts.
#[no_mangle]
pub unsafe extern "C" fn bqml_resize(p: *const ResizeParams) {
    // SAFETY: the caller guarantees `p` points to a valid ResizeParams.
    let p = unsafe { &*p };
    if p.rank > MAX_RANK || p.taps[..p.rank].iter().any(|t| !matches!(t, 1 | 2 | 4)) {
        abort_bad_params(format_args!(
            "bqml_resize: rank {} taps {:?}",
            p.rank, p.taps
        ));
    }
    // SAFETY: forwarded caller contract.
    unsafe { resize_raw(p) }
}

/// Safe wrapper: one table per axis (identity axes: nearest with scale 1).
pub fn resize(
    in_shape: &[usize],
    tables: &[AxisTable],
    extrapolation_value: f32,
    x: &[f32],
    y: &mut [f32],
) -> Result<(), KernelError> {
    let r = in_shape.len();
    let out_shape: Vec<usize> = tables
        .iter()
        .map(|t| t.index.len() / t.taps.max(1))
        .collect();
    let tables_ok = tables.len() == r
        && tables.iter().zip(in_shape).all(|(t, &n)| {
            matches!(t.taps, 1 | 2 | 4)
                && t.index.len() == t.weight.len()
                && t.index.len() % t.taps == 0
                && t.index.iter().all(|&i| i >= -1 && i < n as i64)
        });
    if r > MAX_RANK
        || !tables_ok
        || numel(in_shape) != Some(x.len())
        || numel(&out_shape) != Some(y.len())
    {
        return Err(KernelError::new(format!(
            "resize: in {in_shape:?} out {out_shape:?} x {} y {}",
            x.len(),
            y.len()
        )));
    }
    let mut p = ResizeParams {
        rank: r,
        in_shape: [1; MAX_RANK],
        out_shape: [1; MAX_RANK],
        taps: [1; MAX_RANK],
        index: [std::ptr::null(); MAX_RANK],
        weight: [std::ptr::null(); MAX_RANK],
        extrapolation_value,
        x: x.as_ptr(),
        y: y.as_mut_ptr(),
    };
    for d in 0..r {
        p.in_shape[d] = in_shape[d];
        p.out_shape[d] = out_shape[d];
        p.taps[d] = tables[d].taps;
        p.index[d] = tables[d].index.as_ptr();
        p.weight[d] = tables[d].weight.as_ptr();
    }
    // SAFETY: sizes and index ranges checked.
    unsafe { resize_raw(&p) };
    Ok(())
}

/// # Safety
/// As [`bqml_resize`] with valid rank and taps.
unsafe fn resize_raw(p: &ResizeParams) {
    let r = p.rank;
    let total: usize = p.out_shape[..r].iter().product();
    if total == 0 {
        return;
    }
    let mut in_strides = [0usize; MAX_RANK];
    let mut acc = 1;
    for d in (0..r).rev() {
        in_strides[d] = acc;
        acc *= p.in_shape[d];
    }
    let combos: usize = p.taps[..r].iter().product();
    let mut o = [0usize; MAX_RANK];
    for out in 0..total {
        let mut sum = 0f32;
        let mut outside = false;
        for combo in 0..combos {
            let mut rem = combo;
            let mut off = 0usize;
            let mut w = 1f32;
            for d in 0..r {
                let t = rem % p.taps[d];
                rem /= p.taps[d];
                let k = o[d] * p.taps[d] + t;
                // SAFETY: `k < out_shape[d] · taps[d]`, inside the axis tables.
                let i = unsafe { *p.index[d].add(k) };
                if i < 0 {
                    outside = true;
                    break;
                }
                off += i as usize * in_strides[d];
                if !p.weight[d].is_null() {
                    // SAFETY: as above.
                    w *= unsafe { *p.weight[d].add(k) };
                }
            }
            if outside {
                break;
            }
            // SAFETY: every index is in `[0, in_shape[d])`.
            sum += w * unsafe { *p.x.add(off) };
        }
        // SAFETY: `out < total`.
        unsafe { *p.y.add(out) = if outside { p.extrapolation_value } else { sum } };
        for d in (0..r).rev() {
            o[d] += 1;
            if o[d] < p.out_shape[d] {
                break;
            }
            o[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn axis(mode: u32, coord: u32, in_len: usize, out_len: usize) -> AxisResize {
        AxisResize {
            mode,
            coord,
            nearest: NEAREST_ROUND_PREFER_FLOOR,
            cubic_a: -0.75,
            exclude_outside: false,
            in_len,
            out_len,
            scale: out_len as f32 / in_len as f32,
            roi: [0.0, 1.0],
        }
    }

    fn run2d(h: AxisResize, w: AxisResize, x: &[f32]) -> Vec<f32> {
        let tables = [
            resize_axis_table(&h).unwrap(),
            resize_axis_table(&w).unwrap(),
        ];
        let mut y = vec![0f32; h.out_len * w.out_len];
        resize(&[h.in_len, w.in_len], &tables, 0.0, x, &mut y).unwrap();
        y
    }

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4)
    }

    /// Expected values from the ONNX operator documentation's Resize examples.
    #[test]
    fn onnx_examples() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let y = run2d(
            axis(RESIZE_NEAREST, COORD_HALF_PIXEL, 2, 4),
            axis(RESIZE_NEAREST, COORD_HALF_PIXEL, 2, 6),
            &x,
        );
        let want = [
            1., 1., 1., 2., 2., 2., 1., 1., 1., 2., 2., 2., 3., 3., 3., 4., 4., 4., 3., 3., 3., 4.,
            4., 4.,
        ];
        assert_eq!(y, want);
        let y = run2d(
            axis(RESIZE_LINEAR, COORD_HALF_PIXEL, 2, 4),
            axis(RESIZE_LINEAR, COORD_HALF_PIXEL, 2, 4),
            &x,
        );
        let want = [
            1.0, 1.25, 1.75, 2.0, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3.0, 3.25, 3.75, 4.0,
        ];
        assert!(close(&y, &want), "{y:?}");
        let y = run2d(
            axis(RESIZE_LINEAR, COORD_ALIGN_CORNERS, 2, 4),
            axis(RESIZE_LINEAR, COORD_ALIGN_CORNERS, 2, 4),
            &x,
        );
        let t = 1.0 / 3.0;
        let want = [
            1.0,
            1.0 + t,
            1.0 + 2.0 * t,
            2.0,
            1.0 + 2.0 * t,
            2.0,
            2.0 + t,
            2.0 + 2.0 * t,
            2.0 + t,
            2.0 + 2.0 * t,
            3.0,
            3.0 + t,
            3.0,
            3.0 + t,
            3.0 + 2.0 * t,
            4.0,
        ];
        assert!(close(&y, &want), "{y:?}");
    }

    #[test]
    fn tables_and_extrapolation() {
        let mut a = axis(RESIZE_CUBIC, COORD_ASYMMETRIC, 4, 8);
        let t = resize_axis_table(&a).unwrap();
        // Cubic weights sum to 1 and interpolate exactly at integer positions.
        for o in 0..8 {
            let s: f32 = t.weight[o * 4..o * 4 + 4].iter().sum();
            assert!((s - 1.0).abs() < 1e-6);
        }
        assert_eq!(t.weight[8..12], [0.0, 1.0, 0.0, 0.0]);
        a.exclude_outside = true;
        let t = resize_axis_table(&a).unwrap();
        assert_eq!(t.weight[1..4].iter().sum::<f32>(), 1.0);
        assert_eq!(t.weight[0], 0.0);
        let mut c = axis(RESIZE_LINEAR, COORD_TF_CROP_AND_RESIZE, 3, 3);
        c.roi = [0.5, 1.5];
        let t = resize_axis_table(&c).unwrap();
        assert_eq!(t.index[4..6], [-1, -1]);
        let mut y = [0f32; 3];
        resize(&[3], &[t], 9.0, &[1.0, 2.0, 3.0], &mut y).unwrap();
        assert_eq!(y, [2.0, 3.0, 9.0]);
        assert!(resize_axis_table(&axis(7, COORD_ASYMMETRIC, 4, 8)).is_err());
    }

    /// Direct evaluation of the tables, one output element at a time.
    fn reference(in_shape: &[usize], tables: &[AxisTable], x: &[f32]) -> Vec<f32> {
        let out_shape: Vec<usize> = tables.iter().map(|t| t.index.len() / t.taps).collect();
        let total: usize = out_shape.iter().product();
        (0..total)
            .map(|flat| {
                let mut o = vec![0; in_shape.len()];
                let mut rem = flat;
                for d in (0..in_shape.len()).rev() {
                    o[d] = rem % out_shape[d];
                    rem /= out_shape[d];
                }
                let mut terms = vec![(0usize, 1f64)];
                for d in 0..in_shape.len() {
                    let t = &tables[d];
                    let stride: usize = in_shape[d + 1..].iter().product();
                    let od = o[d];
                    terms = terms
                        .iter()
                        .flat_map(|&(off, w)| {
                            (0..t.taps).map(move |j| {
                                let k = od * t.taps + j;
                                (off + t.index[k] as usize * stride, w * t.weight[k] as f64)
                            })
                        })
                        .collect();
                }
                terms.iter().map(|&(off, w)| w * x[off] as f64).sum::<f64>() as f32
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(150))]

        #[test]
        fn kernel_matches_reference(
            axes in proptest::collection::vec((1usize..5, 1usize..7, 0u32..3, 0u32..4, 0u32..4), 1..=4),
        ) {
            let in_shape: Vec<usize> = axes.iter().map(|a| a.0).collect();
            let tables: Vec<AxisTable> = axes
                .iter()
                .map(|&(n, m, mode, coord, nearest)| {
                    let mut a = axis(mode, coord, n, m);
                    a.nearest = nearest;
                    resize_axis_table(&a).unwrap()
                })
                .collect();
            let n: usize = in_shape.iter().product();
            let x: Vec<f32> = (0..n).map(|i| (i * 7 % 11) as f32 - 5.0).collect();
            let want = reference(&in_shape, &tables, &x);
            let mut y = vec![0f32; want.len()];
            resize(&in_shape, &tables, 0.0, &x, &mut y).unwrap();
            for (g, w) in y.iter().zip(&want) {
                prop_assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "{} vs {}", g, w);
            }
        }
    }
}
