//! LayerNormalization, InstanceNormalization and GroupNormalization: normalise contiguous rows,
//! then apply a per-channel affine transform.

use super::abort_bad_params;
use crate::KernelError;

/// Normalise each of `rows` contiguous rows of `n` floats to zero mean and unit (population)
/// variance, then `y = x̂ · scale[k] + bias[k]` with
/// `k = (row % scale_period) · scales_per_row + j / elems_per_scale` for element `j` of the row,
/// `#[repr(C)]`. `x` may equal `y`.
///
/// * LayerNormalization over the last `n` elements: `scale_period = 1`, `scales_per_row = n`,
///   `elems_per_scale = 1`.
/// * InstanceNormalization on `[N, C, spatial]`: `rows = N·C`, `n = spatial`,
///   `scale_period = C`, `scales_per_row = 1`, `elems_per_scale = n`.
/// * GroupNormalization (per-channel scale) on `[N, C, spatial]` with `G` groups:
///   `rows = N·G`, `n = C/G · spatial`, `scale_period = G`, `scales_per_row = C/G`,
///   `elems_per_scale = spatial`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NormParams {
    /// Input.
    pub x: *const f32,
    /// Output.
    pub y: *mut f32,
    /// Number of rows.
    pub rows: usize,
    /// Row length.
    pub n: usize,
    /// Scale (`scale_period · scales_per_row` floats).
    pub scale: *const f32,
    /// Bias (same length), or null for none.
    pub bias: *const f32,
    /// Rows after which the scale index repeats.
    pub scale_period: usize,
    /// Scale entries spanned by one row.
    pub scales_per_row: usize,
    /// Consecutive row elements sharing one scale entry.
    pub elems_per_scale: usize,
    /// Added to the variance.
    pub epsilon: f32,
}

/// Normalisation entry point for generated code.
///
/// # Safety
/// `p` points to a valid [`NormParams`]; `x`, `y` hold `rows · n` floats (equal or disjoint),
/// `scale` (and `bias` unless null) `scale_period · scales_per_row`; every computed scale index
/// is inside. Zero `scale_period` or `elems_per_scale` aborts.
#[no_mangle]
pub unsafe extern "C" fn bqml_norm(p: *const NormParams) {
    // SAFETY: the caller guarantees `p` points to a valid NormParams.
    let p = unsafe { &*p };
    if p.scale_period == 0 || p.elems_per_scale == 0 {
        abort_bad_params(format_args!("bqml_norm: zero period in {p:?}"));
    }
    // SAFETY: forwarded caller contract.
    unsafe { norm_raw(p) }
}

/// Safe wrapper; see [`NormParams`] for the scale indexing.
#[allow(clippy::too_many_arguments)]
pub fn norm(
    rows: usize,
    n: usize,
    scale_period: usize,
    scales_per_row: usize,
    elems_per_scale: usize,
    epsilon: f32,
    scale: &[f32],
    bias: Option<&[f32]>,
    x: &[f32],
    y: &mut [f32],
) -> Result<(), KernelError> {
    let table = scale_period.checked_mul(scales_per_row);
    // The largest index used: last row in the period, last element of the row.
    let max_k = if rows == 0 || n == 0 {
        None
    } else {
        Some((rows.min(scale_period) - 1) * scales_per_row + (n - 1) / elems_per_scale.max(1))
    };
    let ok = scale_period > 0
        && elems_per_scale > 0
        && super::numel(&[rows, n]) == Some(x.len())
        && x.len() == y.len()
        && table == Some(scale.len())
        && bias.is_none_or(|b| b.len() == scale.len())
        && max_k.is_none_or(|k| k < scale.len());
    if !ok {
        return Err(KernelError::new(format!(
            "norm: rows {rows} n {n} period {scale_period}×{scales_per_row}/{elems_per_scale} \
             vs x {} y {} scale {}",
            x.len(),
            y.len(),
            scale.len()
        )));
    }
    let p = NormParams {
        x: x.as_ptr(),
        y: y.as_mut_ptr(),
        rows,
        n,
        scale: scale.as_ptr(),
        bias: bias.map_or(std::ptr::null(), |b| b.as_ptr()),
        scale_period,
        scales_per_row,
        elems_per_scale,
        epsilon,
    };
    // SAFETY: sizes and the largest scale index checked; distinct borrows.
    unsafe { norm_raw(&p) };
    Ok(())
}

/// Sum of a row with 8 partial sums (vectorisable, and more accurate than one serial sum).
#[inline(always)]
fn sum8(v: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0f32; 8];
    let mut chunks = v.chunks_exact(8);
    for c in &mut chunks {
        for (l, &e) in lanes.iter_mut().zip(c) {
            *l += f(e);
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|&e| f(e)).sum();
    lanes.iter().sum::<f32>() + tail
}

/// # Safety
/// As [`bqml_norm`].
unsafe fn norm_raw(p: &NormParams) {
    let n = p.n;
    if n == 0 {
        return;
    }
    for r in 0..p.rows {
        // SAFETY: row `r` of `x`; `y` may be the same memory, so only raw writes below.
        let xr = unsafe { std::slice::from_raw_parts(p.x.add(r * n), n) };
        // Statistics of `x - x[0]`: the shift is exact for values near it, so a large common
        // offset does not swamp the deviations (shifted-data variance).
        let shift = xr[0];
        let mean = sum8(xr, |v| v - shift) / n as f32;
        let var = sum8(xr, |v| (v - shift - mean) * (v - shift - mean)) / n as f32;
        let inv = 1.0 / (var + p.epsilon).sqrt();
        let k0 = (r % p.scale_period) * p.scales_per_row;
        let mut j = 0;
        while j < n {
            let k = k0 + j / p.elems_per_scale;
            let end = ((j / p.elems_per_scale + 1) * p.elems_per_scale).min(n);
            // SAFETY: `k` is a valid scale index by contract.
            let (s, b) = unsafe {
                (
                    *p.scale.add(k),
                    if p.bias.is_null() {
                        0.0
                    } else {
                        *p.bias.add(k)
                    },
                )
            };
            // Deviations first: folding the mean into the bias would cancel catastrophically
            // when the mean is large against the deviation.
            let m = inv * s;
            for i in j..end {
                // SAFETY: element `i` of row `r`, read before written.
                unsafe {
                    let v = *p.x.add(r * n + i);
                    *p.y.add(r * n + i) = (v - shift - mean) * m + b;
                }
            }
            j = end;
        }
    }
}

/// Scalar reference in f64.
pub mod reference {
    /// See [`super::NormParams`].
    #[allow(clippy::too_many_arguments)]
    pub fn norm(
        rows: usize,
        n: usize,
        period: usize,
        per_row: usize,
        per_scale: usize,
        eps: f32,
        scale: &[f32],
        bias: Option<&[f32]>,
        x: &[f32],
    ) -> Vec<f32> {
        let mut y = vec![0f32; x.len()];
        for r in 0..rows {
            let row = &x[r * n..(r + 1) * n];
            let mean = row.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
            let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
            for j in 0..n {
                let k = (r % period) * per_row + j / per_scale;
                let b = bias.map_or(0.0, |b| b[k] as f64);
                let v = (row[j] as f64 - mean) / (var + eps as f64).sqrt();
                y[r * n + j] = (v * scale[k] as f64 + b) as f32;
            }
        }
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// (rows, n, period, per_row, per_scale) for LayerNorm, InstanceNorm and GroupNorm layouts.
    fn layout() -> impl Strategy<Value = (usize, usize, usize, usize, usize)> {
        prop_oneof![
            (1usize..5, 1usize..40).prop_map(|(r, n)| (r, n, 1, n, 1)),
            (1usize..3, 1usize..5, 1usize..30).prop_map(|(b, c, s)| (b * c, s, c, 1, s)),
            (1usize..3, 1usize..4, 1usize..4, 1usize..10).prop_map(|(b, g, cg, s)| (
                b * g,
                cg * s,
                g,
                cg,
                s
            )),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn matches_reference(
            (rows, n, period, per_row, per_scale) in layout(),
            with_bias in any::<bool>(),
            offset in -100.0f32..100.0,
            seed in any::<u32>(),
        ) {
            let x: Vec<f32> = (0..rows * n)
                .map(|i| offset + (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 100.0)
                .collect();
            let scale: Vec<f32> = (0..period * per_row).map(|k| 0.5 + k as f32 * 0.25).collect();
            let bias: Vec<f32> = (0..period * per_row).map(|k| k as f32 - 1.0).collect();
            let b = with_bias.then_some(&bias[..]);
            let want = reference::norm(rows, n, period, per_row, per_scale, 1e-5, &scale, b, &x);
            let mut y = vec![0f32; x.len()];
            norm(rows, n, period, per_row, per_scale, 1e-5, &scale, b, &x, &mut y).unwrap();
            for (i, (&g, &w)) in y.iter().zip(&want).enumerate() {
                prop_assert!((g - w).abs() <= 2e-4 * (1.0 + w.abs()), "{}: {} vs {}", i, g, w);
            }
        }
    }

    #[test]
    fn layer_norm_example_and_validation() {
        let x = [1.0f32, 2.0, 3.0, 4.0];
        let mut y = [0f32; 4];
        norm(
            1,
            4,
            1,
            4,
            1,
            0.0,
            &[1.0, 1.0, 2.0, 2.0],
            Some(&[0.0, 0.0, 0.0, 1.0]),
            &x,
            &mut y,
        )
        .unwrap();
        let s = 1.25f32.sqrt();
        let want = [-1.5 / s, -0.5 / s, 2.0 * 0.5 / s, 2.0 * 1.5 / s + 1.0];
        for (g, w) in y.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{y:?}");
        }
        assert!(norm(1, 4, 1, 3, 1, 0.0, &[1.0; 3], None, &x, &mut y).is_err());
        assert!(norm(2, 2, 1, 2, 0, 0.0, &[1.0; 2], None, &x, &mut y).is_err());
    }
}
