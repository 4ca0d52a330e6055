//! Softmax / LogSoftmax over the middle axis of a contiguous `[outer, n, inner]` tensor.

use super::common::{abort_bad_params, detected, numel};
use crate::error::KernelError;
use crate::isa::Isa;
use crate::params::kernel_params;

kernel_params! {
/// Softmax over axis 1 of a contiguous `[outer, n, inner]` tensor, `#[repr(C)]`. `x` may equal
/// `y` (in place); otherwise they must not overlap.
#[derive(Clone, Copy, Debug)]
pub struct SoftmaxParams {
    /// Input.
    pub x: *const f32,
    /// Output, same shape.
    pub y: *mut f32,
    /// Product of the axes before the softmax axis.
    pub outer: usize,
    /// Length of the softmax axis.
    pub n: usize,
    /// Product of the axes after it.
    pub inner: usize,
    /// Nonzero: LogSoftmax (`x - max - ln Σ e^(x - max)`).
    pub log: u32,
}
}

/// Softmax entry point for generated code.
///
/// # Safety
/// `p` points to a valid [`SoftmaxParams`]; `x` and `y` hold `outer · n · inner` floats and are
/// equal or disjoint.
#[no_mangle]
pub unsafe extern "C" fn bqml_softmax(p: *const SoftmaxParams) {
    // SAFETY: the caller guarantees `p` points to a valid SoftmaxParams.
    let p = unsafe { &*p };
    if p.outer
        .checked_mul(p.n)
        .and_then(|v| v.checked_mul(p.inner))
        .is_none()
    {
        abort_bad_params(format_args!("bqml_softmax: size overflow"));
    }
    // SAFETY: forwarded caller contract.
    unsafe { softmax_raw(detected(), p) }
}

/// Safe wrapper: softmax (or log-softmax) of `x` shaped `[outer, n, inner]` into `y`.
pub fn softmax(
    isa: Isa,
    log: bool,
    outer: usize,
    n: usize,
    inner: usize,
    x: &[f32],
    y: &mut [f32],
) -> Result<(), KernelError> {
    let total = numel(&[outer, n, inner]);
    if total != Some(x.len()) || x.len() != y.len() {
        return Err(KernelError::new(format!(
            "softmax: [{outer}, {n}, {inner}] vs x {} y {}",
            x.len(),
            y.len()
        )));
    }
    let p = SoftmaxParams {
        x: x.as_ptr(),
        y: y.as_mut_ptr(),
        outer,
        n,
        inner,
        log: log as u32,
    };
    // SAFETY: sizes checked; distinct borrows.
    unsafe { softmax_raw(isa.or_portable(), &p) };
    Ok(())
}

/// NaN-propagating max.
#[inline(always)]
fn fmax(a: f32, b: f32) -> f32 {
    if a.is_nan() || a > b {
        a
    } else {
        b
    }
}

/// # Safety
/// As [`bqml_softmax`]; `isa` runnable.
pub(crate) unsafe fn softmax_raw(isa: Isa, p: &SoftmaxParams) {
    let (n, inner) = (p.n, p.inner);
    if n == 0 || inner == 0 {
        return;
    }
    let log = p.log != 0;
    let mut scratch = if inner > 1 {
        vec![0f32; 2 * inner]
    } else {
        Vec::new()
    };
    for o in 0..p.outer {
        let base = o * n * inner;
        // SAFETY: one `[n, inner]` block, inside both tensors.
        let (x, y) = unsafe { (p.x.add(base), p.y.add(base)) };
        if inner == 1 {
            // SAFETY: `n` contiguous floats.
            unsafe { row(isa, x, y, n, log) };
        } else {
            // SAFETY: the block's `n · inner` floats.
            unsafe { columns(isa, x, y, n, inner, log, &mut scratch) };
        }
    }
}

/// `e^v` for the active ISA (scalar reads of the AVX2 kernel would be slower than f64 `exp`).
#[inline(always)]
fn exp_scalar(v: f32) -> f32 {
    (v as f64).exp() as f32
}

/// Softmax of one contiguous row.
///
/// # Safety
/// `x`, `y` hold `n` floats; equal or disjoint.
unsafe fn row(isa: Isa, x: *const f32, y: *mut f32, n: usize, log: bool) {
    let mut m = f32::NEG_INFINITY;
    for i in 0..n {
        // SAFETY: `i < n`.
        m = fmax(m, unsafe { *x.add(i) });
    }
    // Sum of e^(x - m), writing the exponentials to y unless log-softmax.
    let sum = match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: forwarded; AVX2 checked by the caller (implied by the AVX-512 tier).
        Isa::Avx2Fma | Isa::Avx512 => unsafe { avx2::exp_shift_sum(x, y, n, m, !log) },
        _ => {
            let mut s = 0f32;
            for i in 0..n {
                // SAFETY: `i < n`; each element is read before it is written.
                unsafe {
                    let e = exp_scalar(*x.add(i) - m);
                    if !log {
                        *y.add(i) = e;
                    }
                    s += e;
                }
            }
            s
        }
    };
    if log {
        // (x - m) first: exact for the values that matter, so large shifts lose nothing.
        let ls = sum.ln();
        for i in 0..n {
            // SAFETY: `i < n`.
            unsafe { *y.add(i) = (*x.add(i) - m) - ls };
        }
    } else {
        let r = 1.0 / sum;
        for i in 0..n {
            // SAFETY: `i < n`.
            unsafe { *y.add(i) *= r };
        }
    }
}

/// Softmax down the columns of an `[n, inner]` block, vectorised along `inner`.
///
/// # Safety
/// `x`, `y` hold `n · inner` floats; equal or disjoint; `scratch` has `2 · inner` floats.
unsafe fn columns(
    isa: Isa,
    x: *const f32,
    y: *mut f32,
    n: usize,
    inner: usize,
    log: bool,
    scratch: &mut [f32],
) {
    let (m, s) = scratch.split_at_mut(inner);
    m.fill(f32::NEG_INFINITY);
    s.fill(0.0);
    for i in 0..n {
        // SAFETY: row `i` of the block.
        let xr = unsafe { std::slice::from_raw_parts(x.add(i * inner), inner) };
        for (a, &v) in m.iter_mut().zip(xr) {
            *a = fmax(*a, v);
        }
    }
    for i in 0..n {
        // SAFETY: row `i`, read before written.
        let (xr, yr) = unsafe { (x.add(i * inner), y.add(i * inner)) };
        match isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: row of `inner` floats; AVX2 checked by the caller (implied by AVX-512).
            Isa::Avx2Fma | Isa::Avx512 => unsafe { avx2::exp_shift_acc(xr, yr, inner, m, s, !log) },
            _ => {
                for j in 0..inner {
                    // SAFETY: `j < inner`.
                    unsafe {
                        let e = exp_scalar(*xr.add(j) - m[j]);
                        if !log {
                            *yr.add(j) = e;
                        }
                        s[j] += e;
                    }
                }
            }
        }
    }
    if log {
        for v in s.iter_mut() {
            *v = v.ln();
        }
    } else {
        for v in s.iter_mut() {
            *v = 1.0 / *v;
        }
    }
    for i in 0..n {
        for j in 0..inner {
            // SAFETY: element `(i, j)` of the block.
            unsafe {
                let o = i * inner + j;
                *y.add(o) = if log {
                    (*x.add(o) - m[j]) - s[j]
                } else {
                    *y.add(o) * s[j]
                };
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::super::vmath;
    use std::arch::x86_64::*;

    /// `Σ e^(x[i] - m)`, storing each term to `y` when `store`.
    ///
    /// # Safety
    /// `x`, `y` hold `n` floats, equal or disjoint; AVX2+FMA available.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn exp_shift_sum(
        x: *const f32,
        y: *mut f32,
        n: usize,
        m: f32,
        store: bool,
    ) -> f32 {
        let mv = _mm256_set1_ps(m);
        let mut acc = _mm256_setzero_ps();
        let mut i = 0;
        while i < n {
            let mask = super::super::vmath::first_lanes((n - i) as isize);
            // SAFETY: masked to the `n - i` remaining elements.
            let v = unsafe { _mm256_maskload_ps(x.add(i), mask) };
            let e = vmath::exp(_mm256_sub_ps(v, mv));
            let e = _mm256_and_ps(e, _mm256_castsi256_ps(mask));
            if store {
                // SAFETY: as above.
                unsafe { _mm256_maskstore_ps(y.add(i), mask, e) };
            }
            acc = _mm256_add_ps(acc, e);
            i += 8;
        }
        let mut lanes = [0f32; 8];
        // SAFETY: 8 floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
        lanes.iter().sum()
    }

    /// `s[j] += e^(x[j] - m[j])`, storing each term to `y` when `store`.
    ///
    /// # Safety
    /// `x`, `y` hold `n` floats, equal or disjoint; `m`, `s` have `n`; AVX2+FMA available.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn exp_shift_acc(
        x: *const f32,
        y: *mut f32,
        n: usize,
        m: &[f32],
        s: &mut [f32],
        store: bool,
    ) {
        let mut j = 0;
        while j < n {
            let mask = super::super::vmath::first_lanes((n - j) as isize);
            // SAFETY: masked to the `n - j` remaining elements of each array.
            unsafe {
                let v = _mm256_maskload_ps(x.add(j), mask);
                let mv = _mm256_maskload_ps(m.as_ptr().add(j), mask);
                let e = vmath::exp(_mm256_sub_ps(v, mv));
                if store {
                    _mm256_maskstore_ps(y.add(j), mask, e);
                }
                let sv = _mm256_maskload_ps(s.as_ptr().add(j), mask);
                _mm256_maskstore_ps(s.as_mut_ptr().add(j), mask, _mm256_add_ps(sv, e));
            }
            j += 8;
        }
    }
}

/// Scalar reference in f64.
pub mod reference {
    /// Softmax / log-softmax of `[outer, n, inner]`.
    pub fn softmax(log: bool, outer: usize, n: usize, inner: usize, x: &[f32]) -> Vec<f32> {
        let mut y = vec![0f32; x.len()];
        for o in 0..outer {
            for j in 0..inner {
                let at = |i: usize| o * n * inner + i * inner + j;
                let m = (0..n)
                    .map(|i| x[at(i)] as f64)
                    .fold(f64::NEG_INFINITY, |a, b| {
                        if a.is_nan() || b.is_nan() {
                            f64::NAN
                        } else {
                            a.max(b)
                        }
                    });
                let s: f64 = (0..n).map(|i| (x[at(i)] as f64 - m).exp()).sum();
                for i in 0..n {
                    let d = x[at(i)] as f64 - m;
                    y[at(i)] = if log { d - s.ln() } else { d.exp() / s } as f32;
                }
            }
        }
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn matches_reference(
            outer in 0usize..4,
            n in 0usize..20,
            inner in 1usize..12,
            log in any::<bool>(),
            scale in prop_oneof![Just(1.0f32), Just(30.0), Just(1000.0)],
            seed in any::<u32>(),
        ) {
            let x: Vec<f32> = (0..outer * n * inner)
                .map(|i| {
                    let h = (i as u32).wrapping_mul(2_654_435_761) ^ seed;
                    ((h % 2000) as f32 / 1000.0 - 1.0) * scale
                })
                .collect();
            let want = reference::softmax(log, outer, n, inner, &x);
            for isa in Isa::all_available() {
                let mut y = vec![0f32; x.len()];
                softmax(isa, log, outer, n, inner, &x, &mut y).unwrap();
                for (i, (&g, &w)) in y.iter().zip(&want).enumerate() {
                    // f32 `x - max` is rounded to ulp(2·scale), which e^(x - max) turns into a
                    // relative error of up to scale · 2^-23.
                    let tol = if log { 1e-6 * (1.0 + w.abs()) } else { (2e-6 + 2.4e-7 * scale) * w.abs() + 1e-30 };
                    prop_assert!((g - w).abs() <= tol, "{:?} at {}: {} vs {}", isa, i, g, w);
                }
                // In place gives the same result.
                let mut z = x.clone();
                let p = SoftmaxParams { x: z.as_ptr(), y: z.as_mut_ptr(), outer, n, inner, log: log as u32 };
                // SAFETY: `z` holds the whole tensor; in place is allowed.
                unsafe { softmax_raw(isa, &p) };
                prop_assert_eq!(&z, &y);
            }
        }
    }

    #[test]
    fn extreme_rows() {
        for isa in Isa::all_available() {
            let mut y = [0f32; 3];
            softmax(
                isa,
                false,
                1,
                3,
                1,
                &[f32::NEG_INFINITY, 0.0, f32::NEG_INFINITY],
                &mut y,
            )
            .unwrap();
            assert_eq!(y, [0.0, 1.0, 0.0]);
            softmax(isa, false, 1, 3, 1, &[1.0, f32::NAN, 2.0], &mut y).unwrap();
            assert!(y.iter().all(|v| v.is_nan()));
            softmax(isa, true, 1, 3, 1, &[88.0, 89.0, -1e30], &mut y).unwrap();
            assert!(y[0] < y[1] && y[1] <= 0.0 && y[2] < -1e29, "{y:?}");
        }
        assert!(softmax(Isa::Portable, false, 2, 3, 1, &[0.0; 5], &mut [0.0; 5]).is_err());
    }
}
