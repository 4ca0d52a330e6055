//! LayerNormalization over the last `cols` elements of each row of a row-strided f32 matrix.
//!
//! ONNX LayerNormalization (opset 17, `stash_type = 1`: statistics in f32) with the normalized
//! axes flattened to `cols` and the axes before them to `rows`. For each row:
//!
//! ```text
//! mean    = Σ x / cols
//! var     = Σ (x - mean)² / cols          (two passes, not E[x²] - mean²)
//! inv_std = 1 / sqrt(var + epsilon)
//! y       = (x - mean) · inv_std · scale + bias
//! ```
//!
//! The optional outputs `Mean` and `InvStdDev` (ONNX outputs 1 and 2) are written per row when
//! their pointers are non-null. A NaN in a row makes that row's `y`, mean and inv_std NaN; other
//! rows are unaffected. `cols == 0` writes no `y` and NaN statistics (`0 / 0`).
//!
//! Three paths: AVX-512F (16-lane zmm, masked tails), AVX2+FMA (8-lane ymm, masked tails) and
//! portable Rust; the sums run in four vector accumulators (eight scalar ones on the portable
//! path). Results of the tiers agree up to float rounding, not bit for bit.

use super::common::{abort_bad_params, detected};
use crate::error::KernelError;
use crate::isa::Isa;
use crate::params::kernel_params;

kernel_params! {
/// LayerNormalization of `rows` rows of `cols` floats each, `#[repr(C)]`. Row `r` of `x` starts
/// at `x + r · x_stride`, row `r` of `y` at `y + r · y_stride`. `x` may equal `y` with
/// `x_stride == y_stride` (in place); otherwise `y` must not overlap `x`, `scale` or `bias`.
#[derive(Clone, Copy, Debug)]
pub struct LayerNormParams {
    /// Number of rows: the product of the axes before the normalized ones.
    pub rows: usize,
    /// Row length: the product of the normalized axes (`axis..rank`).
    pub cols: usize,
    /// Input, row 0.
    pub x: *const f32,
    /// Elements between the starts of consecutive input rows. Usually `>= cols`; out of place a
    /// smaller one (even 0, repeating one row) is allowed, in place it equals `y_stride`.
    pub x_stride: usize,
    /// `cols` scale values (ONNX input `Scale`); null means all 1.
    pub scale: *const f32,
    /// `cols` bias values (ONNX input `B`); null means all 0.
    pub bias: *const f32,
    /// Output, row 0.
    pub y: *mut f32,
    /// Elements between the starts of consecutive output rows; at least `cols` when
    /// `rows > 1`, so output rows do not overlap.
    pub y_stride: usize,
    /// Added to the variance before the square root (ONNX attribute `epsilon`, default 1e-5).
    pub epsilon: f32,
    /// `rows` floats receiving each row's mean (ONNX output `Mean`), or null.
    pub mean: *mut f32,
    /// `rows` floats receiving each row's `1 / sqrt(var + epsilon)` (ONNX output
    /// `InvStdDev`), or null.
    pub inv_std: *mut f32,
}
}

/// Abort unless the params describe addressable, non-overlapping output rows (a code-generation
/// bug otherwise).
fn validate(p: &LayerNormParams, who: &str) {
    if p.rows == 0 || p.cols == 0 {
        return;
    }
    if p.rows > 1 && p.y_stride < p.cols {
        abort_bad_params(format_args!(
            "{who}: y_stride {} < cols {}: output rows overlap",
            p.y_stride, p.cols
        ));
    }
    if extent(p.rows, p.cols, p.x_stride).is_none() || extent(p.rows, p.cols, p.y_stride).is_none()
    {
        abort_bad_params(format_args!(
            "{who}: size overflow ({} rows of {}, strides {} and {})",
            p.rows, p.cols, p.x_stride, p.y_stride
        ));
    }
}

/// Elements spanned by `rows` rows of `cols` at `stride`: `(rows - 1) · stride + cols`
/// (`rows`, `cols > 0`); `None` on overflow.
fn extent(rows: usize, cols: usize, stride: usize) -> Option<usize> {
    (rows - 1).checked_mul(stride)?.checked_add(cols)
}

/// LayerNormalization entry point for generated code: every row.
///
/// # Safety
/// `p` points to a valid [`LayerNormParams`]; `x` and `y` hold `(rows - 1) · stride + cols`
/// floats at their strides, `scale` and `bias` are null or hold `cols` floats, `mean` and
/// `inv_std` are null or hold `rows` floats; `y` equals `x` with equal strides or overlaps none
/// of the inputs, and `mean`/`inv_std` overlap nothing else. Overlapping output rows
/// (`rows > 1`, `y_stride < cols`) or sizes that overflow abort.
#[no_mangle]
pub unsafe extern "C" fn bqml_layernorm(p: *const LayerNormParams) {
    // SAFETY: the caller guarantees `p` points to a valid LayerNormParams.
    let p = unsafe { &*p };
    validate(p, "bqml_layernorm");
    // SAFETY: forwarded caller contract; the detected tier is runnable.
    unsafe { layernorm_raw(detected(), p, 0, p.rows) }
}

/// LayerNormalization entry point for generated code that splits one op between threads:
/// rows `[start, end)` (`end` is clamped to `rows`; an empty range does nothing).
///
/// # Safety
/// As [`bqml_layernorm`]; concurrent calls on the same `p` must take disjoint ranges (their
/// writes, including `mean[r]` and `inv_std[r]`, are then disjoint).
#[no_mangle]
pub unsafe extern "C" fn bqml_layernorm_rows(p: *const LayerNormParams, start: usize, end: usize) {
    // SAFETY: the caller guarantees `p` points to a valid LayerNormParams.
    let p = unsafe { &*p };
    validate(p, "bqml_layernorm_rows");
    // SAFETY: forwarded caller contract; the detected tier is runnable.
    unsafe { layernorm_raw(detected(), p, start, end) }
}

/// Safe wrapper: LayerNormalization of `rows` rows of `cols` floats, row `r` of `x` at
/// `x[r · x_stride..][..cols]`, written to `y[r · y_stride..][..cols]` (elements between rows
/// are left alone). `scale` and `bias` hold `cols` values each when given. A tier this CPU
/// lacks runs the portable code ([`Isa::or_portable`]).
#[allow(clippy::too_many_arguments)]
pub fn layernorm(
    isa: Isa,
    rows: usize,
    cols: usize,
    x: &[f32],
    x_stride: usize,
    scale: Option<&[f32]>,
    bias: Option<&[f32]>,
    y: &mut [f32],
    y_stride: usize,
    epsilon: f32,
) -> Result<(), KernelError> {
    for (what, v) in [("scale", scale), ("bias", bias)] {
        if let Some(v) = v {
            if v.len() != cols {
                return Err(KernelError::new(format!(
                    "layernorm: {what} has {} elements, cols is {cols}",
                    v.len()
                )));
            }
        }
    }
    if rows > 0 && cols > 0 {
        if rows > 1 && y_stride < cols {
            return Err(KernelError::new(format!(
                "layernorm: y_stride {y_stride} < cols {cols}: output rows overlap"
            )));
        }
        for (what, stride, len) in [("x", x_stride, x.len()), ("y", y_stride, y.len())] {
            match extent(rows, cols, stride) {
                Some(need) if need <= len => {}
                _ => {
                    return Err(KernelError::new(format!(
                        "layernorm: {rows} rows of {cols} at {what}_stride {stride} do not fit \
                         {what} ({len} elements)"
                    )))
                }
            }
        }
    }
    let p = LayerNormParams {
        rows,
        cols,
        x: x.as_ptr(),
        x_stride,
        scale: scale.map_or(std::ptr::null(), <[f32]>::as_ptr),
        bias: bias.map_or(std::ptr::null(), <[f32]>::as_ptr),
        y: y.as_mut_ptr(),
        y_stride,
        epsilon,
        mean: std::ptr::null_mut(),
        inv_std: std::ptr::null_mut(),
    };
    // SAFETY: extents and parameter lengths checked above; `y` is a distinct mutable borrow;
    // no statistics are requested; the tier is runnable after `or_portable`.
    unsafe { layernorm_raw(isa.or_portable(), &p, 0, rows) };
    Ok(())
}

/// Which implementation a tier runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
enum Path {
    /// Scalar Rust, eight accumulators.
    Portable,
    /// AVX2 + FMA, 8-lane ymm.
    Avx2,
    /// AVX-512F, 16-lane zmm.
    Avx512,
}

impl Path {
    /// The path tier `isa` runs (the AVX-512 tier has its own, unlike most generic kernels).
    fn of(isa: Isa) -> Path {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => Path::Avx512,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => Path::Avx2,
            _ => Path::Portable,
        }
    }
}

/// Rows `[start, end)` (`end` clamped to `rows`).
///
/// # Safety
/// As [`bqml_layernorm`] (validated params); `isa` runnable.
pub(crate) unsafe fn layernorm_raw(isa: Isa, p: &LayerNormParams, start: usize, end: usize) {
    let end = end.min(p.rows);
    if start >= end {
        return;
    }
    if p.cols == 0 {
        for r in start..end {
            // SAFETY: `r < rows`; the statistics pointers are null or hold `rows` floats.
            unsafe { store_stats(p, r, f32::NAN, f32::NAN) };
        }
        return;
    }
    // One monomorphised loop per (scale, bias) presence, so the row loops carry no branches.
    macro_rules! run {
        ($($f:ident)::+) => {
            match (!p.scale.is_null(), !p.bias.is_null()) {
                (true, true) => $($f)::+::<true, true>(p, start, end),
                (true, false) => $($f)::+::<true, false>(p, start, end),
                (false, true) => $($f)::+::<false, true>(p, start, end),
                (false, false) => $($f)::+::<false, false>(p, start, end),
            }
        };
    }
    match Path::of(isa) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: forwarded contract, rows in range; the AVX-512 tier (so AVX-512F) is runnable.
        Path::Avx512 => unsafe { run!(avx512::rows) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: forwarded contract, rows in range; the AVX2 tier (AVX2 + FMA) is runnable.
        Path::Avx2 => unsafe { run!(avx2::rows) },
        // SAFETY: forwarded contract, rows in range.
        _ => unsafe { run!(portable::rows) },
    }
}

/// The mean of a row from its sum.
#[inline(always)]
fn mean_of(sum: f32, cols: usize) -> f32 {
    sum / cols as f32
}

/// `1 / sqrt(var + epsilon)` from the sum of squared deviations.
#[inline(always)]
fn inv_std_of(sum_sq: f32, cols: usize, epsilon: f32) -> f32 {
    1.0 / (sum_sq / cols as f32 + epsilon).sqrt()
}

/// Write row `r`'s statistics where requested.
///
/// # Safety
/// `r < p.rows`; `p.mean` and `p.inv_std` are null or hold `rows` floats.
#[inline(always)]
unsafe fn store_stats(p: &LayerNormParams, r: usize, mean: f32, inv_std: f32) {
    if !p.mean.is_null() {
        // SAFETY: `r < rows`.
        unsafe { *p.mean.add(r) = mean };
    }
    if !p.inv_std.is_null() {
        // SAFETY: `r < rows`.
        unsafe { *p.inv_std.add(r) = inv_std };
    }
}

mod portable {
    use super::{inv_std_of, mean_of, store_stats, LayerNormParams};

    /// `Σ f(v)` over `xs` in eight accumulators (vectorisable without reassociation).
    #[inline(always)]
    fn sum8(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
        let mut acc = [0f32; 8];
        let mut chunks = xs.chunks_exact(8);
        for c in &mut chunks {
            for (a, &v) in acc.iter_mut().zip(c) {
                *a += f(v);
            }
        }
        let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
        ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail
    }

    /// Rows `[start, end)`, scale present iff `S`, bias iff `B`.
    ///
    /// # Safety
    /// As [`super::layernorm_raw`] with `start < end <= rows` and `cols > 0`.
    pub(super) unsafe fn rows<const S: bool, const B: bool>(
        p: &LayerNormParams,
        start: usize,
        end: usize,
    ) {
        let n = p.cols;
        for r in start..end {
            // SAFETY: row `r < rows` starts inside both tensors.
            let (x, y) = unsafe { (p.x.add(r * p.x_stride), p.y.add(r * p.y_stride)) };
            let (mean, inv_std) = {
                // SAFETY: the row's `n` floats; the slice is dead before `y` (possibly the same
                // memory) is written.
                let xr = unsafe { std::slice::from_raw_parts(x, n) };
                let mean = mean_of(sum8(xr, |v| v), n);
                let sum_sq = sum8(xr, |v| {
                    let d = v - mean;
                    d * d
                });
                (mean, inv_std_of(sum_sq, n, p.epsilon))
            };
            for i in 0..n {
                // SAFETY: `i < n`: inside the row, `scale` and `bias` (read only when present);
                // element `i` is read before it is (possibly in place) written.
                unsafe {
                    let t = (*x.add(i) - mean) * inv_std;
                    let t = if S { t * *p.scale.add(i) } else { t };
                    *y.add(i) = if B { t + *p.bias.add(i) } else { t };
                }
            }
            // SAFETY: `r < rows`; statistics pointers per the contract.
            unsafe { store_stats(p, r, mean, inv_std) };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::super::vmath::first_lanes;
    use super::{inv_std_of, mean_of, store_stats, LayerNormParams};
    use std::arch::x86_64::*;

    /// Sum of the 8 lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s)))
    }

    /// `(x - mean) · inv_std [· scale] [+ bias]`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn affine<const S: bool, const B: bool>(d: __m256, iv: __m256, s: __m256, b: __m256) -> __m256 {
        match (S, B) {
            (true, true) => _mm256_fmadd_ps(_mm256_mul_ps(d, iv), s, b),
            (true, false) => _mm256_mul_ps(_mm256_mul_ps(d, iv), s),
            (false, true) => _mm256_fmadd_ps(d, iv, b),
            (false, false) => _mm256_mul_ps(d, iv),
        }
    }

    /// Rows `[start, end)`, scale present iff `S`, bias iff `B`.
    ///
    /// # Safety
    /// As [`super::layernorm_raw`] with `start < end <= rows` and `cols > 0`; AVX2+FMA
    /// available.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn rows<const S: bool, const B: bool>(
        p: &LayerNormParams,
        start: usize,
        end: usize,
    ) {
        let n = p.cols;
        let body = n & !7;
        let mask = first_lanes((n - body) as isize);
        let keep = _mm256_castsi256_ps(mask);
        let zero = _mm256_setzero_ps();
        for r in start..end {
            // SAFETY: row `r < rows` starts inside both tensors.
            let (x, y) = unsafe { (p.x.add(r * p.x_stride), p.y.add(r * p.y_stride)) };

            // Pass 1: Σ x in four accumulators, 32 floats per step.
            let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
            let mut i = 0;
            while i + 32 <= n {
                // SAFETY: `i + 32 <= n`: inside the row.
                unsafe {
                    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x.add(i)));
                    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x.add(i + 8)));
                    a2 = _mm256_add_ps(a2, _mm256_loadu_ps(x.add(i + 16)));
                    a3 = _mm256_add_ps(a3, _mm256_loadu_ps(x.add(i + 24)));
                }
                i += 32;
            }
            while i < body {
                // SAFETY: `i + 8 <= body <= n`.
                a0 = _mm256_add_ps(a0, unsafe { _mm256_loadu_ps(x.add(i)) });
                i += 8;
            }
            if body < n {
                // SAFETY: masked to the `n - body` remaining floats (zeros elsewhere).
                a1 = _mm256_add_ps(a1, unsafe { _mm256_maskload_ps(x.add(body), mask) });
            }
            let mean = mean_of(
                hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))),
                n,
            );
            let mv = _mm256_set1_ps(mean);

            // Pass 2: Σ (x - mean)².
            let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
            let mut i = 0;
            while i + 32 <= n {
                // SAFETY: `i + 32 <= n`: inside the row.
                unsafe {
                    let d0 = _mm256_sub_ps(_mm256_loadu_ps(x.add(i)), mv);
                    let d1 = _mm256_sub_ps(_mm256_loadu_ps(x.add(i + 8)), mv);
                    let d2 = _mm256_sub_ps(_mm256_loadu_ps(x.add(i + 16)), mv);
                    let d3 = _mm256_sub_ps(_mm256_loadu_ps(x.add(i + 24)), mv);
                    a0 = _mm256_fmadd_ps(d0, d0, a0);
                    a1 = _mm256_fmadd_ps(d1, d1, a1);
                    a2 = _mm256_fmadd_ps(d2, d2, a2);
                    a3 = _mm256_fmadd_ps(d3, d3, a3);
                }
                i += 32;
            }
            while i < body {
                // SAFETY: `i + 8 <= body <= n`.
                let d = _mm256_sub_ps(unsafe { _mm256_loadu_ps(x.add(i)) }, mv);
                a0 = _mm256_fmadd_ps(d, d, a0);
                i += 8;
            }
            if body < n {
                // SAFETY: masked to the remaining floats.
                let v = unsafe { _mm256_maskload_ps(x.add(body), mask) };
                // Inactive lanes would contribute mean²: zero them.
                let d = _mm256_and_ps(_mm256_sub_ps(v, mv), keep);
                a1 = _mm256_fmadd_ps(d, d, a1);
            }
            let sum_sq = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
            let inv_std = inv_std_of(sum_sq, n, p.epsilon);
            let iv = _mm256_set1_ps(inv_std);

            // Pass 3: y = (x - mean) · inv_std · scale + bias.
            let mut i = 0;
            while i < body {
                // SAFETY: `i + 8 <= n`: inside the row, `scale` and `bias` (loaded only when
                // present); x is read before y (possibly the same floats) is written.
                unsafe {
                    let d = _mm256_sub_ps(_mm256_loadu_ps(x.add(i)), mv);
                    let s = if S {
                        _mm256_loadu_ps(p.scale.add(i))
                    } else {
                        zero
                    };
                    let b = if B {
                        _mm256_loadu_ps(p.bias.add(i))
                    } else {
                        zero
                    };
                    _mm256_storeu_ps(y.add(i), affine::<S, B>(d, iv, s, b));
                }
                i += 8;
            }
            if body < n {
                // SAFETY: masked loads and store of the `n - body` remaining floats.
                unsafe {
                    let d = _mm256_sub_ps(_mm256_maskload_ps(x.add(body), mask), mv);
                    let s = if S {
                        _mm256_maskload_ps(p.scale.add(body), mask)
                    } else {
                        zero
                    };
                    let b = if B {
                        _mm256_maskload_ps(p.bias.add(body), mask)
                    } else {
                        zero
                    };
                    _mm256_maskstore_ps(y.add(body), mask, affine::<S, B>(d, iv, s, b));
                }
            }
            // SAFETY: `r < rows`; statistics pointers per the contract.
            unsafe { store_stats(p, r, mean, inv_std) };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{inv_std_of, mean_of, store_stats, LayerNormParams};
    use std::arch::x86_64::*;

    /// `(x - mean) · inv_std [· scale] [+ bias]`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn affine<const S: bool, const B: bool>(d: __m512, iv: __m512, s: __m512, b: __m512) -> __m512 {
        match (S, B) {
            (true, true) => _mm512_fmadd_ps(_mm512_mul_ps(d, iv), s, b),
            (true, false) => _mm512_mul_ps(_mm512_mul_ps(d, iv), s),
            (false, true) => _mm512_fmadd_ps(d, iv, b),
            (false, false) => _mm512_mul_ps(d, iv),
        }
    }

    /// Rows `[start, end)`, scale present iff `S`, bias iff `B`.
    ///
    /// # Safety
    /// As [`super::layernorm_raw`] with `start < end <= rows` and `cols > 0`; AVX-512F
    /// available.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn rows<const S: bool, const B: bool>(
        p: &LayerNormParams,
        start: usize,
        end: usize,
    ) {
        let n = p.cols;
        let body = n & !15;
        // The first `n - body` (< 16) lanes.
        let k: __mmask16 = ((1u32 << (n - body)) - 1) as u16;
        let zero = _mm512_setzero_ps();
        for r in start..end {
            // SAFETY: row `r < rows` starts inside both tensors.
            let (x, y) = unsafe { (p.x.add(r * p.x_stride), p.y.add(r * p.y_stride)) };

            // Pass 1: Σ x in four accumulators, 64 floats per step.
            let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
            let mut i = 0;
            while i + 64 <= n {
                // SAFETY: `i + 64 <= n`: inside the row.
                unsafe {
                    a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x.add(i)));
                    a1 = _mm512_add_ps(a1, _mm512_loadu_ps(x.add(i + 16)));
                    a2 = _mm512_add_ps(a2, _mm512_loadu_ps(x.add(i + 32)));
                    a3 = _mm512_add_ps(a3, _mm512_loadu_ps(x.add(i + 48)));
                }
                i += 64;
            }
            while i < body {
                // SAFETY: `i + 16 <= body <= n`.
                a0 = _mm512_add_ps(a0, unsafe { _mm512_loadu_ps(x.add(i)) });
                i += 16;
            }
            if body < n {
                // SAFETY: masked to the `n - body` remaining floats (zeros elsewhere).
                a1 = _mm512_add_ps(a1, unsafe { _mm512_maskz_loadu_ps(k, x.add(body)) });
            }
            let mean = mean_of(
                _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3))),
                n,
            );
            let mv = _mm512_set1_ps(mean);

            // Pass 2: Σ (x - mean)².
            let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
            let mut i = 0;
            while i + 64 <= n {
                // SAFETY: `i + 64 <= n`: inside the row.
                unsafe {
                    let d0 = _mm512_sub_ps(_mm512_loadu_ps(x.add(i)), mv);
                    let d1 = _mm512_sub_ps(_mm512_loadu_ps(x.add(i + 16)), mv);
                    let d2 = _mm512_sub_ps(_mm512_loadu_ps(x.add(i + 32)), mv);
                    let d3 = _mm512_sub_ps(_mm512_loadu_ps(x.add(i + 48)), mv);
                    a0 = _mm512_fmadd_ps(d0, d0, a0);
                    a1 = _mm512_fmadd_ps(d1, d1, a1);
                    a2 = _mm512_fmadd_ps(d2, d2, a2);
                    a3 = _mm512_fmadd_ps(d3, d3, a3);
                }
                i += 64;
            }
            while i < body {
                // SAFETY: `i + 16 <= body <= n`.
                let d = _mm512_sub_ps(unsafe { _mm512_loadu_ps(x.add(i)) }, mv);
                a0 = _mm512_fmadd_ps(d, d, a0);
                i += 16;
            }
            if body < n {
                // SAFETY: masked to the remaining floats.
                let v = unsafe { _mm512_maskz_loadu_ps(k, x.add(body)) };
                // Inactive lanes would contribute mean²: zero them.
                let d = _mm512_maskz_sub_ps(k, v, mv);
                a1 = _mm512_fmadd_ps(d, d, a1);
            }
            let sum_sq =
                _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
            let inv_std = inv_std_of(sum_sq, n, p.epsilon);
            let iv = _mm512_set1_ps(inv_std);

            // Pass 3: y = (x - mean) · inv_std · scale + bias.
            let mut i = 0;
            while i < body {
                // SAFETY: `i + 16 <= n`: inside the row, `scale` and `bias` (loaded only when
                // present); x is read before y (possibly the same floats) is written.
                unsafe {
                    let d = _mm512_sub_ps(_mm512_loadu_ps(x.add(i)), mv);
                    let s = if S {
                        _mm512_loadu_ps(p.scale.add(i))
                    } else {
                        zero
                    };
                    let b = if B {
                        _mm512_loadu_ps(p.bias.add(i))
                    } else {
                        zero
                    };
                    _mm512_storeu_ps(y.add(i), affine::<S, B>(d, iv, s, b));
                }
                i += 16;
            }
            if body < n {
                // SAFETY: masked loads and store of the `n - body` remaining floats.
                unsafe {
                    let d = _mm512_sub_ps(_mm512_maskz_loadu_ps(k, x.add(body)), mv);
                    let s = if S {
                        _mm512_maskz_loadu_ps(k, p.scale.add(body))
                    } else {
                        zero
                    };
                    let b = if B {
                        _mm512_maskz_loadu_ps(k, p.bias.add(body))
                    } else {
                        zero
                    };
                    _mm512_mask_storeu_ps(y.add(body), k, affine::<S, B>(d, iv, s, b));
                }
            }
            // SAFETY: `r < rows`; statistics pointers per the contract.
            unsafe { store_stats(p, r, mean, inv_std) };
        }
    }
}

/// Scalar reference in f64.
pub mod reference {
    /// What [`layernorm`] returns: `y` as contiguous `[rows, cols]`, and each row's mean and
    /// `1 / sqrt(var + epsilon)`, all computed in f64 and rounded once.
    #[derive(Clone, Debug, PartialEq)]
    pub struct LayerNormOut {
        /// Normalized rows, `rows · cols` floats.
        pub y: Vec<f32>,
        /// Mean of each row.
        pub mean: Vec<f32>,
        /// Inverse standard deviation of each row.
        pub inv_std: Vec<f32>,
    }

    /// LayerNormalization of `rows` rows of `cols` at `x_stride` (scale 1 and bias 0 when
    /// absent).
    pub fn layernorm(
        rows: usize,
        cols: usize,
        x: &[f32],
        x_stride: usize,
        scale: Option<&[f32]>,
        bias: Option<&[f32]>,
        epsilon: f32,
    ) -> LayerNormOut {
        let mut out = LayerNormOut {
            y: Vec::with_capacity(rows * cols),
            mean: Vec::with_capacity(rows),
            inv_std: Vec::with_capacity(rows),
        };
        for r in 0..rows {
            let row: Vec<f64> = (0..cols).map(|j| x[r * x_stride + j] as f64).collect();
            let mean = row.iter().sum::<f64>() / cols as f64;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / cols as f64;
            let inv_std = 1.0 / (var + epsilon as f64).sqrt();
            for (j, v) in row.iter().enumerate() {
                let s = scale.map_or(1.0, |s| s[j] as f64);
                let b = bias.map_or(0.0, |b| b[j] as f64);
                out.y.push(((v - mean) * inv_std * s + b) as f32);
            }
            out.mean.push(mean as f32);
            out.inv_std.push(inv_std as f32);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::reference::LayerNormOut;
    use super::*;
    use proptest::prelude::*;

    /// Marks `y` elements the kernel must not touch (between rows).
    const SENTINEL: f32 = 7777.0;

    /// Every tier this CPU runs. The first call prints which tiers the layernorm tests exercise
    /// and which they cannot (`--nocapture` shows it), as `tests/common::tiers` does.
    fn tiers() -> Vec<Isa> {
        static ONCE: std::sync::Once = std::sync::Once::new();
        let isas = Isa::all_available();
        ONCE.call_once(|| {
            let names: Vec<_> = isas.iter().map(|i| i.name()).collect();
            eprintln!("layernorm: tiers exercised: {}", names.join(", "));
            for isa in Isa::ALL {
                if !isas.contains(&isa) {
                    eprintln!(
                        "layernorm: tier {} NOT exercised (this CPU lacks it)",
                        isa.name()
                    );
                }
            }
        });
        isas
    }

    /// Deterministic values in `[-1, 1)` (splitmix64).
    struct Rng(u64);

    impl Rng {
        fn unit(&mut self) -> f32 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        }

        fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
            (0..n)
                .map(|_| lo + (hi - lo) * 0.5 * (self.unit() + 1.0))
                .collect()
        }
    }

    /// One test problem: `rows` rows of `cols` at `x_stride` (the gaps hold garbage).
    struct Case {
        rows: usize,
        cols: usize,
        x: Vec<f32>,
        x_stride: usize,
        scale: Option<Vec<f32>>,
        bias: Option<Vec<f32>>,
        epsilon: f32,
    }

    impl Case {
        /// Rows `offset + spread · u` (u uniform in [-1, 1)), every `constant_every`-th row
        /// constant (0: none).
        #[allow(clippy::too_many_arguments)]
        fn new(
            seed: u64,
            rows: usize,
            cols: usize,
            x_pad: usize,
            spread: f32,
            offset: f32,
            affine: (bool, bool),
            epsilon: f32,
            constant_every: usize,
        ) -> Case {
            let mut rng = Rng(seed);
            let x_stride = cols + x_pad;
            let mut x = vec![0f32; rows * x_stride];
            for r in 0..rows {
                let constant = constant_every > 0 && r % constant_every == constant_every - 1;
                for (j, v) in x[r * x_stride..][..x_stride].iter_mut().enumerate() {
                    *v = if j >= cols {
                        f32::NAN // padding: must not be read
                    } else if constant {
                        offset
                    } else {
                        offset + spread * rng.unit()
                    };
                }
            }
            Case {
                rows,
                cols,
                x,
                x_stride,
                scale: affine.0.then(|| rng.vec(cols, -2.0, 2.0)),
                bias: affine.1.then(|| rng.vec(cols, -2.0, 2.0)),
                epsilon,
            }
        }

        fn reference(&self) -> LayerNormOut {
            reference::layernorm(
                self.rows,
                self.cols,
                &self.x,
                self.x_stride,
                self.scale.as_deref(),
                self.bias.as_deref(),
                self.epsilon,
            )
        }

        /// Runs tier `isa` through the raw kernel (rows `[start, end)` of a sentinel-filled
        /// output at `y_stride`, with statistics) and returns `(y, mean, inv_std)`.
        fn run(&self, isa: Isa, y_stride: usize, in_place: bool) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
            assert!(!in_place || y_stride == self.x_stride);
            let mut y = if in_place {
                self.x.clone()
            } else {
                vec![SENTINEL; self.rows * y_stride]
            };
            let mut mean = vec![SENTINEL; self.rows];
            let mut inv_std = vec![SENTINEL; self.rows];
            let p = LayerNormParams {
                rows: self.rows,
                cols: self.cols,
                x: if in_place {
                    y.as_ptr()
                } else {
                    self.x.as_ptr()
                },
                x_stride: self.x_stride,
                scale: self.scale.as_ref().map_or(std::ptr::null(), |v| v.as_ptr()),
                bias: self.bias.as_ref().map_or(std::ptr::null(), |v| v.as_ptr()),
                y: y.as_mut_ptr(),
                y_stride,
                epsilon: self.epsilon,
                mean: mean.as_mut_ptr(),
                inv_std: inv_std.as_mut_ptr(),
            };
            // SAFETY: every buffer is sized for `rows` rows at its stride; in place uses one
            // buffer for x and y with equal strides.
            unsafe { layernorm_raw(isa, &p, 0, self.rows) };
            (y, mean, inv_std)
        }

        /// Checks tier `isa` against `want` (see [`tolerance`]), untouched padding, in place,
        /// the safe wrapper, and that split row ranges give the same bits.
        fn check(&self, isa: Isa, y_pad: usize, want: &LayerNormOut) -> Result<(), TestCaseError> {
            let (rows, cols) = (self.rows, self.cols);
            let y_stride = cols + y_pad;
            let (y, mean, inv_std) = self.run(isa, y_stride, false);
            for r in 0..rows {
                let xr = &self.x[r * self.x_stride..][..cols];
                let max_abs = xr.iter().fold(0f64, |m, &v| m.max((v as f64).abs()));
                let mean_abs = xr.iter().map(|&v| (v as f64).abs()).sum::<f64>() / cols as f64;
                let (m, is) = (want.mean[r] as f64, want.inv_std[r] as f64);
                // Bound on the f32 mean's error (sums of at most cols / 8 + 8 terms per
                // accumulator and reduction), and on that of `x - mean`.
                let mean_tol = (cols / 8 + 8) as f64 * EPS * mean_abs;
                let diff_tol = mean_tol + 4.0 * EPS * max_abs;
                prop_assert!(
                    (mean[r] as f64 - m).abs() <= mean_tol,
                    "{isa}: row {r} mean {} want {m}",
                    mean[r]
                );
                // A deviation error `e` moves the variance by about `e · σ` (or `e²` for a
                // constant row), so inv_std by at most `e · inv_std²`.
                prop_assert!(
                    (inv_std[r] as f64 - is).abs() <= 1e-5 * is + diff_tol * is * is,
                    "{isa}: row {r} inv_std {} want {is}",
                    inv_std[r]
                );
                for j in 0..y_stride {
                    let got = y[r * y_stride + j];
                    if j >= cols {
                        prop_assert_eq!(got, SENTINEL, "{}: row {} gap {} written", isa, r, j);
                        continue;
                    }
                    let w = want.y[r * cols + j] as f64;
                    let s = self.scale.as_ref().map_or(1.0, |v| v[j] as f64);
                    let b = self.bias.as_ref().map_or(0.0, |v| v[j] as f64);
                    let normalized = (xr[j] as f64 - m) * is;
                    let tol = tolerance(normalized, diff_tol * is, s, b);
                    prop_assert!(
                        (got as f64 - w).abs() <= tol,
                        "{isa}: [{rows}, {cols}] row {r} col {j}: {got} want {w} (tol {tol:e})"
                    );
                }
            }
            // In place gives the same bits.
            let (z, zm, zi) = self.run(isa, self.x_stride, true);
            for r in 0..rows {
                prop_assert_eq!(
                    &z[r * self.x_stride..][..cols],
                    &y[r * y_stride..][..cols],
                    "{} in place, row {}",
                    isa,
                    r
                );
            }
            prop_assert_eq!((&zm, &zi), (&mean, &inv_std));
            // The safe wrapper agrees.
            let mut w = vec![SENTINEL; rows * y_stride];
            layernorm(
                isa,
                rows,
                cols,
                &self.x,
                self.x_stride,
                self.scale.as_deref(),
                self.bias.as_deref(),
                &mut w,
                y_stride,
                self.epsilon,
            )
            .unwrap();
            prop_assert_eq!(&w, &y, "{} safe wrapper", isa);
            Ok(())
        }
    }

    /// f32 machine epsilon, as f64.
    const EPS: f64 = f32::EPSILON as f64;

    /// Allowed error of one output against the f64 reference: 1e-5 relative to the row's scale
    /// (`|scale| · (1 + |normalized|)`) plus the bias' rounding, widened by `diff_err`, the
    /// relative error that the f32 mean's rounding puts into `x - mean` and `inv_std` (which
    /// only matters for rows far from zero mean, or nearly constant next to `sqrt(epsilon)`,
    /// where f32 statistics cannot do better).
    fn tolerance(normalized: f64, diff_err: f64, scale: f64, bias: f64) -> f64 {
        scale.abs() * (1.0 + normalized.abs()) * (1e-5 + diff_err) + 1e-6 * bias.abs() + 1e-30
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn matches_reference(
            rows in 1usize..40,
            cols in prop_oneof![
                4 => 1usize..300,
                1 => 1usize..20,
                2 => prop::sample::select(vec![15usize, 16, 17, 63, 64, 65, 129]),
            ],
            x_pad in prop_oneof![Just(0usize), 1usize..9],
            y_pad in prop_oneof![Just(0usize), 1usize..9],
            spread in prop_oneof![Just(1.0f32), Just(1e-3), Just(300.0)],
            offset_ratio in -4.0f32..4.0,
            affine in any::<(bool, bool)>(),
            epsilon in prop_oneof![Just(1e-5f32), Just(1e-12), Just(0.5)],
            constant_every in 0usize..6,
            seed in any::<u64>(),
        ) {
            let case = Case::new(
                seed, rows, cols, x_pad, spread, offset_ratio * spread, affine, epsilon,
                constant_every,
            );
            let want = case.reference();
            for isa in tiers() {
                case.check(isa, y_pad, &want)?;
            }
        }
    }

    /// Transformer widths (multiples of both vector widths, and of 64 for the unrolled loops).
    fn check_width(cols: usize) {
        for (affine, x_pad) in [((true, true), 0), ((true, false), 5), ((false, true), 3)] {
            let case = Case::new(cols as u64, 9, cols, x_pad, 2.0, 0.3, affine, 1e-5, 4);
            let want = case.reference();
            for isa in tiers() {
                case.check(isa, 7, &want).unwrap();
            }
        }
    }

    #[test]
    fn cols_192() {
        check_width(192);
    }

    #[test]
    fn cols_768() {
        check_width(768);
    }

    /// Says which tiers ran, and that each runs its own code path: the AVX-512 tier its 16-lane
    /// kernel, not the AVX2 one.
    #[test]
    fn tiers_exercised() {
        let case = Case::new(7, 3, 37, 2, 1.0, 0.5, (true, true), 1e-5, 0);
        let want = case.reference();
        let mut ran = vec![];
        for isa in Isa::ALL {
            if !isa.is_available() {
                println!("layernorm: tier {isa} NOT exercised (this CPU lacks it)");
                continue;
            }
            case.check(isa, 1, &want).unwrap();
            println!("layernorm: tier {isa} exercised ({:?} path)", Path::of(isa));
            ran.push(isa);
        }
        assert_eq!(ran, tiers());
        assert!(ran.contains(&Isa::Portable));
        assert_eq!(Path::of(Isa::Portable), Path::Portable);
        #[cfg(target_arch = "x86_64")]
        {
            assert_eq!(Path::of(Isa::Avx2Fma), Path::Avx2);
            assert_eq!(Path::of(Isa::Avx512), Path::Avx512);
        }
        assert_eq!(ran.contains(&Isa::Avx512), Isa::avx512_available());
    }

    #[test]
    fn nan_stays_in_its_row_and_edge_shapes() {
        for isa in tiers() {
            let mut case = Case::new(3, 3, 21, 0, 1.0, 0.0, (true, true), 1e-5, 0);
            case.x[21 + 4] = f32::NAN;
            let (y, mean, inv_std) = case.run(isa, 21, false);
            assert!(y[21..42].iter().all(|v| v.is_nan()), "{isa}");
            assert!(mean[1].is_nan() && inv_std[1].is_nan(), "{isa}");
            assert!(
                y[..21].iter().chain(&y[42..]).all(|v| v.is_finite()),
                "{isa}"
            );

            // One column: y = bias, inv_std = 1 / sqrt(epsilon).
            let case = Case::new(5, 4, 1, 2, 3.0, 1.0, (true, true), 0.25, 0);
            let (y, mean, inv_std) = case.run(isa, 1, false);
            assert_eq!(y, case.bias.as_ref().unwrap().repeat(4), "{isa}");
            assert_eq!(inv_std, [2.0; 4], "{isa}");
            assert_eq!(mean[2], case.x[2 * 3], "{isa}");

            // No columns: no y, NaN statistics; no rows: nothing at all.
            let case = Case::new(5, 2, 0, 0, 1.0, 0.0, (false, false), 1e-5, 0);
            let (y, mean, inv_std) = case.run(isa, 0, false);
            assert!(y.is_empty() && mean.iter().chain(&inv_std).all(|v| v.is_nan()));
            layernorm(isa, 0, 8, &[], 8, None, None, &mut [], 8, 1e-5).unwrap();
        }
    }

    #[test]
    fn safe_wrapper_checks_sizes() {
        let x = [1f32; 20];
        let mut y = [0f32; 20];
        let isa = Isa::detect();
        // 3 rows of 5 at stride 7 span 19 elements.
        assert!(layernorm(isa, 3, 5, &x, 7, None, None, &mut y, 7, 1e-5).is_ok());
        assert!(layernorm(isa, 3, 5, &x[..18], 7, None, None, &mut y, 7, 1e-5).is_err());
        assert!(layernorm(isa, 3, 5, &x, 7, None, None, &mut y[..18], 7, 1e-5).is_err());
        assert!(layernorm(isa, 3, 5, &x, 7, None, None, &mut y, 4, 1e-5).is_err());
        assert!(layernorm(isa, 3, 5, &x, 7, Some(&x[..4]), None, &mut y, 7, 1e-5).is_err());
        assert!(layernorm(isa, 3, 5, &x, 7, None, Some(&x[..6]), &mut y, 7, 1e-5).is_err());
        assert!(layernorm(isa, 2, 5, &x, usize::MAX, None, None, &mut y, 7, 1e-5).is_err());
        // A zero input stride repeats one row; a single row may have any output stride.
        assert!(layernorm(isa, 3, 5, &x[..5], 0, None, None, &mut y, 5, 1e-5).is_ok());
        assert!(layernorm(isa, 1, 5, &x, 7, None, None, &mut y[..5], 0, 1e-5).is_ok());
    }

    /// The entry points, called the way generated code calls them: whole, and split into
    /// row ranges (one of them past `rows`, one empty) from several threads at once.
    #[test]
    fn entry_points_match_raw_kernel() {
        let case = Case::new(11, 13, 50, 3, 1.5, -0.5, (true, true), 1e-5, 0);
        let (want, want_mean, want_inv) = case.run(detected(), 52, false);
        let mut y = vec![SENTINEL; 13 * 52];
        let mut mean = vec![SENTINEL; 13];
        let mut inv_std = vec![SENTINEL; 13];
        let p = LayerNormParams {
            rows: 13,
            cols: 50,
            x: case.x.as_ptr(),
            x_stride: case.x_stride,
            scale: case.scale.as_ref().unwrap().as_ptr(),
            bias: case.bias.as_ref().unwrap().as_ptr(),
            y: y.as_mut_ptr(),
            y_stride: 52,
            epsilon: 1e-5,
            mean: mean.as_mut_ptr(),
            inv_std: inv_std.as_mut_ptr(),
        };
        // SAFETY: buffers sized for 13 rows at their strides.
        unsafe { bqml_layernorm(&p) };
        assert_eq!((&y, &mean, &inv_std), (&want, &want_mean, &want_inv));

        y.fill(SENTINEL);
        mean.fill(SENTINEL);
        inv_std.fill(SENTINEL);
        let p = LayerNormParams {
            y: y.as_mut_ptr(),
            mean: mean.as_mut_ptr(),
            inv_std: inv_std.as_mut_ptr(),
            ..p
        };
        struct Shared(*const LayerNormParams);
        // SAFETY: the kernel only reads the params; the ranges below are disjoint.
        unsafe impl Sync for Shared {}
        let shared = Shared(&p);
        std::thread::scope(|s| {
            for (start, end) in [(0, 4), (4, 4), (4, 9), (9, 1000)] {
                let shared = &shared;
                // SAFETY: disjoint row ranges of valid params.
                s.spawn(move || unsafe { bqml_layernorm_rows(shared.0, start, end) });
            }
        });
        assert_eq!((&y, &mean, &inv_std), (&want, &want_mean, &want_inv));
    }
}
