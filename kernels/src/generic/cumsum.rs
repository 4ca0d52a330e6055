//! `CumSum`: running sum along one axis of contiguous `[outer, n, inner]` data, f32, f64, i32
//! and i64, with ONNX's `exclusive` and `reverse` attributes.
//!
//! Sums are accumulated in the element type, one addition per step in axis order (so float
//! results equal a sequential scalar loop's bit for bit); integers wrap.

use super::cast::{DT_F64, DT_I32};
use super::common::{abort_bad_params, detected, numel, Element, DT_F32, DT_I64};
use crate::error::KernelError;
use crate::isa::Isa;
use crate::params::kernel_params;

kernel_params! {
/// Cumulative sum over axis `n` of contiguous row-major `[outer, n, inner]` data,
/// `#[repr(C)]`: with `exclusive = 0, reverse = 0`, `y[o, j, i] = Σ_{k <= j} x[o, k, i]`.
/// `x` and `y` must not overlap.
#[derive(Clone, Copy, Debug)]
pub struct CumSumParams {
    /// [`DT_F32`], [`DT_F64`], [`DT_I32`] or [`DT_I64`] (both
    /// tensors).
    pub dtype: u32,
    /// Product of the axes before the summed one.
    pub outer: usize,
    /// Length of the summed axis.
    pub n: usize,
    /// Product of the axes after the summed one.
    pub inner: usize,
    /// Input, `outer · n · inner` elements.
    pub x: *const u8,
    /// Output, `outer · n · inner` elements.
    pub y: *mut u8,
    /// Nonzero: each output excludes its own element (`Σ_{k < j}`; the first is 0).
    pub exclusive: u32,
    /// Nonzero: sum from the end of the axis (`Σ_{k >= j}`, or `k > j` when exclusive).
    pub reverse: u32,
}
}

fn supported(dtype: u32) -> bool {
    matches!(dtype, DT_F32 | DT_F64 | DT_I32 | DT_I64)
}

/// CumSum entry point for generated code.
///
/// # Safety
/// `p` points to a valid [`CumSumParams`]; `x` and `y` hold `outer · n · inner` elements of
/// `dtype`, aligned, and do not overlap. An unsupported dtype aborts.
#[no_mangle]
pub unsafe extern "C" fn bqml_cumsum(p: *const CumSumParams) {
    // SAFETY: the caller guarantees `p` points to a valid CumSumParams.
    let p = unsafe { &*p };
    if !supported(p.dtype) {
        abort_bad_params(format_args!("bqml_cumsum: dtype {}", p.dtype));
    }
    // SAFETY: forwarded caller contract.
    unsafe { cumsum_raw(detected(), p) }
}

/// Safe wrapper: cumulative sum over axis 1 of contiguous `[outer, n, inner]` (`dims`) data;
/// `T` is `f32`, `f64`, `i32` or `i64`, and `x` and `y` hold `outer · n · inner` elements.
pub fn cumsum<T: Element>(
    isa: Isa,
    dims: [usize; 3],
    exclusive: bool,
    reverse: bool,
    x: &[T],
    y: &mut [T],
) -> Result<(), KernelError> {
    if !supported(T::DTYPE) {
        return Err(KernelError::new(format!(
            "cumsum: dtype {} unsupported",
            T::DTYPE
        )));
    }
    let [outer, n, inner] = dims;
    let total = numel(&dims);
    if total != Some(x.len()) || x.len() != y.len() {
        return Err(KernelError::new(format!(
            "cumsum: [{outer}, {n}, {inner}] with {} input and {} output elements",
            x.len(),
            y.len()
        )));
    }
    let p = CumSumParams {
        dtype: T::DTYPE,
        outer,
        n,
        inner,
        x: x.as_ptr() as *const u8,
        y: y.as_mut_ptr() as *mut u8,
        exclusive: exclusive as u32,
        reverse: reverse as u32,
    };
    // SAFETY: both slices hold `outer · n · inner` elements of `T` (matching `dtype`) and are
    // distinct borrows.
    unsafe { cumsum_raw(isa.or_portable(), &p) };
    Ok(())
}

/// # Safety
/// As [`bqml_cumsum`], with a supported dtype and runnable `isa`.
pub(crate) unsafe fn cumsum_raw(isa: Isa, p: &CumSumParams) {
    if p.outer == 0 || p.n == 0 || p.inner == 0 {
        return;
    }
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: forwarded; AVX2 availability is the caller's guarantee (implied by AVX-512).
        Isa::Avx2Fma | Isa::Avx512 => unsafe { cumsum_avx2(p) },
        // SAFETY: forwarded.
        _ => unsafe { cumsum_generic(p) },
    }
}

/// [`cumsum_generic`] compiled with AVX2 enabled so the row loops vectorise.
///
/// # Safety
/// As [`cumsum_generic`]; AVX2+FMA available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn cumsum_avx2(p: &CumSumParams) {
    // SAFETY: forwarded.
    unsafe { cumsum_generic(p) }
}

/// # Safety
/// As [`bqml_cumsum`], with a supported dtype and nonzero extents.
#[inline(always)]
unsafe fn cumsum_generic(p: &CumSumParams) {
    // SAFETY: forwarded; the element type matches `dtype`.
    unsafe {
        match p.dtype {
            DT_F32 => cumsum_typed::<f32>(p, 0.0, |a, b| a + b),
            DT_F64 => cumsum_typed::<f64>(p, 0.0, |a, b| a + b),
            DT_I32 => cumsum_typed::<i32>(p, 0, i32::wrapping_add),
            _ => cumsum_typed::<i64>(p, 0, i64::wrapping_add),
        }
    }
}

/// Row by row along `n`: each output row is the previous output row plus one input row (the
/// current one, or for `exclusive` the previous one), so the work is whole `inner`-long rows
/// that vectorise.
///
/// # Safety
/// `x` and `y` hold `outer · n · inner` elements of `T`, aligned and not overlapping.
#[inline(always)]
unsafe fn cumsum_typed<T: Copy>(p: &CumSumParams, zero: T, add: impl Fn(T, T) -> T) {
    let (x, y) = (p.x as *const T, p.y as *mut T);
    let (n, inner) = (p.n, p.inner);
    let (exclusive, reverse) = (p.exclusive != 0, p.reverse != 0);
    for o in 0..p.outer {
        let base = o * n * inner;
        // Row `j` of this outer slice.
        let row = |j: usize| base + j * inner;
        for step in 0..n {
            let j = if reverse { n - 1 - step } else { step };
            // SAFETY: every index is `base + j' * inner + k` with `j' < n`, `k < inner`, inside
            // both tensors; `y`'s rows are disjoint from `x`'s.
            unsafe {
                let yr = y.add(row(j));
                if step == 0 {
                    if exclusive {
                        for k in 0..inner {
                            *yr.add(k) = zero;
                        }
                    } else {
                        std::ptr::copy_nonoverlapping(x.add(row(j)), yr, inner);
                    }
                    continue;
                }
                let prev = if reverse { j + 1 } else { j - 1 };
                let acc = y.add(row(prev)) as *const T;
                let xr = x.add(row(if exclusive { prev } else { j }));
                for k in 0..inner {
                    *yr.add(k) = add(*acc.add(k), *xr.add(k));
                }
            }
        }
    }
}

/// Scalar reference: one running accumulator per `(outer, inner)` position.
pub mod reference {
    /// Cumulative sum over axis 1 of `[outer, n, inner]` with `add` and `zero`.
    pub fn cumsum<T: Copy>(
        dims: [usize; 3],
        exclusive: bool,
        reverse: bool,
        zero: T,
        add: impl Fn(T, T) -> T,
        x: &[T],
        y: &mut [T],
    ) {
        let [outer, n, inner] = dims;
        for o in 0..outer {
            for i in 0..inner {
                let mut acc = zero;
                let order: Box<dyn Iterator<Item = usize>> = if reverse {
                    Box::new((0..n).rev())
                } else {
                    Box::new(0..n)
                };
                for j in order {
                    let at = (o * n + j) * inner + i;
                    if exclusive {
                        y[at] = acc;
                        acc = add(acc, x[at]);
                    } else {
                        acc = add(acc, x[at]);
                        y[at] = acc;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Run the safe wrapper on every ISA and the `extern "C"` symbol, and compare with the
    /// reference.
    fn check<T: Element>(
        dims: [usize; 3],
        exclusive: bool,
        reverse: bool,
        x: &[T],
        zero: T,
        add: impl Fn(T, T) -> T,
        same: impl Fn(T, T) -> bool,
    ) {
        let mut want = vec![zero; x.len()];
        reference::cumsum(dims, exclusive, reverse, zero, add, x, &mut want);
        let cmp = |got: &[T], what: &str| {
            for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    same(g, w),
                    "{what} dtype {} {dims:?} ex {exclusive} rev {reverse} at {i}: got {g:?} want {w:?}",
                    T::DTYPE
                );
            }
        };
        for isa in Isa::all_available() {
            let mut got = vec![T::default(); x.len()];
            cumsum(isa, dims, exclusive, reverse, x, &mut got).unwrap();
            cmp(&got, &format!("{isa:?}"));
        }
        let mut got = vec![T::default(); x.len()];
        let p = CumSumParams {
            dtype: T::DTYPE,
            outer: dims[0],
            n: dims[1],
            inner: dims[2],
            x: x.as_ptr().cast(),
            y: got.as_mut_ptr().cast(),
            exclusive: exclusive as u32,
            reverse: reverse as u32,
        };
        // SAFETY: both buffers hold `outer · n · inner` elements of `T`.
        unsafe { bqml_cumsum(&p) };
        cmp(&got, "bqml_cumsum");
    }

    fn dims() -> impl Strategy<Value = [usize; 3]> {
        (0usize..=4, 0usize..=20, 0usize..=19).prop_map(|(o, n, i)| [o, n, i])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]

        #[test]
        fn cumsum_matches_reference_all_dtypes(
            d in dims(),
            exclusive in any::<bool>(),
            reverse in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let len = d.iter().product::<usize>();
            let h = |i: usize| (i as u64 ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20;
            let xf: Vec<f32> = (0..len)
                .map(|i| match h(i) % 41 { 0 => f32::NAN, 1 => 1e30, v => v as f32 * 0.37 - 7.0 })
                .collect();
            let same_f32 = |g: f32, w: f32| g == w || (g.is_nan() && w.is_nan());
            check(d, exclusive, reverse, &xf, 0.0, |a, b| a + b, same_f32);
            let xd: Vec<f64> = xf.iter().map(|&v| v as f64 * 1.0001).collect();
            let same_f64 = |g: f64, w: f64| g == w || (g.is_nan() && w.is_nan());
            check(d, exclusive, reverse, &xd, 0.0, |a, b| a + b, same_f64);
            let xi: Vec<i32> = (0..len)
                .map(|i| match h(i) % 7 { 0 => i32::MAX, 1 => i32::MIN + 3, v => v as i32 * 1000 - 3000 })
                .collect();
            check(d, exclusive, reverse, &xi, 0, i32::wrapping_add, |g, w| g == w);
            let xl: Vec<i64> = (0..len)
                .map(|i| match h(i) % 7 { 0 => i64::MAX, 1 => i64::MIN + 3, v => v as i64 - 3 })
                .collect();
            check(d, exclusive, reverse, &xl, 0, i64::wrapping_add, |g, w| g == w);
        }
    }

    #[test]
    fn small_examples() {
        let x = [1i64, 2, 3, 4, 5];
        for (ex, rev, want) in [
            (false, false, [1, 3, 6, 10, 15]),
            (true, false, [0, 1, 3, 6, 10]),
            (false, true, [15, 14, 12, 9, 5]),
            (true, true, [14, 12, 9, 5, 0]),
        ] {
            let mut y = [0i64; 5];
            cumsum(Isa::detect(), [1, 5, 1], ex, rev, &x, &mut y).unwrap();
            assert_eq!(y, want, "exclusive {ex} reverse {rev}");
        }
        // Axis 0 of [2, 3]: sums down the columns; i32 wraps.
        let x = [1i32, i32::MAX, 3, 10, 1, 30];
        let mut y = [0i32; 6];
        cumsum(Isa::detect(), [1, 2, 3], false, false, &x, &mut y).unwrap();
        assert_eq!(y, [1, i32::MAX, 3, 11, i32::MIN, 33]);
    }

    #[test]
    fn rejects_bad_dtype_and_sizes() {
        let x = [1u8; 6];
        let mut y = [0u8; 6];
        assert!(cumsum(Isa::Portable, [1, 6, 1], false, false, &x, &mut y).is_err());
        let x = [1f32; 6];
        let mut y = [0f32; 6];
        assert!(cumsum(Isa::Portable, [2, 2, 2], false, false, &x, &mut y).is_err());
        let mut y5 = [0f32; 5];
        assert!(cumsum(Isa::Portable, [1, 6, 1], false, false, &x, &mut y5).is_err());
        assert!(cumsum(Isa::Portable, [usize::MAX, 2, 1], false, false, &x, &mut y).is_err());
    }
}
