//! ArgMax / ArgMin over the middle axis of a contiguous `[outer, n, inner]` tensor.

use super::common::numel;
use crate::error::KernelError;
use crate::params::kernel_params;

kernel_params! {
/// ArgMax/ArgMin over axis 1 of a contiguous f32 `[outer, n, inner]` tensor into an i64
/// `[outer, inner]` tensor, `#[repr(C)]`. NaN counts as the extreme value (numpy: the first NaN
/// wins; with `select_last`, the last NaN). `n == 0` writes 0.
#[derive(Clone, Copy, Debug)]
pub struct ArgParams {
    /// Input.
    pub x: *const f32,
    /// Output indices.
    pub y: *mut i64,
    /// Product of the axes before the reduced axis.
    pub outer: usize,
    /// Length of the reduced axis.
    pub n: usize,
    /// Product of the axes after it.
    pub inner: usize,
    /// Nonzero: ArgMin.
    pub is_min: u32,
    /// Nonzero: the last index among ties (ONNX `select_last_index`).
    pub select_last: u32,
}
}

/// ArgMax/ArgMin entry point for generated code.
///
/// # Safety
/// `p` points to a valid [`ArgParams`]; `x` holds `outer · n · inner` floats and `y`
/// `outer · inner` i64s.
#[no_mangle]
pub unsafe extern "C" fn bqml_argmax(p: *const ArgParams) {
    // SAFETY: the caller guarantees `p` points to a valid ArgParams.
    let p = unsafe { &*p };
    // SAFETY: forwarded caller contract.
    unsafe { argmax_raw(p) }
}

/// Safe wrapper: `y[o, j] = argmax_i x[o, i, j]` (or argmin).
#[allow(clippy::too_many_arguments)]
pub fn argmax(
    is_min: bool,
    select_last: bool,
    outer: usize,
    n: usize,
    inner: usize,
    x: &[f32],
    y: &mut [i64],
) -> Result<(), KernelError> {
    if numel(&[outer, n, inner]) != Some(x.len()) || numel(&[outer, inner]) != Some(y.len()) {
        return Err(KernelError::new(format!(
            "argmax: [{outer}, {n}, {inner}] vs x {} y {}",
            x.len(),
            y.len()
        )));
    }
    let p = ArgParams {
        x: x.as_ptr(),
        y: y.as_mut_ptr(),
        outer,
        n,
        inner,
        is_min: is_min as u32,
        select_last: select_last as u32,
    };
    // SAFETY: sizes checked.
    unsafe { argmax_raw(&p) };
    Ok(())
}

/// Whether `v` replaces the current best `b`.
#[inline(always)]
fn better(v: f32, b: f32, is_min: bool, last: bool) -> bool {
    if b.is_nan() {
        // A NaN best is only replaced by a later NaN when selecting the last.
        return last && v.is_nan();
    }
    if v.is_nan() {
        return true;
    }
    match (is_min, last) {
        (false, false) => v > b,
        (false, true) => v >= b,
        (true, false) => v < b,
        (true, true) => v <= b,
    }
}

/// # Safety
/// As [`bqml_argmax`].
unsafe fn argmax_raw(p: &ArgParams) {
    let (is_min, last) = (p.is_min != 0, p.select_last != 0);
    if p.inner == 0 {
        return;
    }
    let mut best = vec![0f32; p.inner];
    for o in 0..p.outer {
        // SAFETY: output row `o` holds `inner` indices.
        let y = unsafe { std::slice::from_raw_parts_mut(p.y.add(o * p.inner), p.inner) };
        y.fill(0);
        if p.n == 0 {
            continue;
        }
        let block = o * p.n * p.inner;
        // SAFETY: row 0 of the block.
        best.copy_from_slice(unsafe { std::slice::from_raw_parts(p.x.add(block), p.inner) });
        for i in 1..p.n {
            // SAFETY: row `i` of the block.
            let row = unsafe { std::slice::from_raw_parts(p.x.add(block + i * p.inner), p.inner) };
            for j in 0..p.inner {
                if better(row[j], best[j], is_min, last) {
                    best[j] = row[j];
                    y[j] = i as i64;
                }
            }
        }
    }
}

/// Scalar reference.
pub mod reference {
    /// Index of the extreme of `v` (NaN is extreme; first or last occurrence).
    pub fn arg(v: &[f32], is_min: bool, last: bool) -> i64 {
        if v.is_empty() {
            return 0;
        }
        let nan: Vec<usize> = (0..v.len()).filter(|&i| v[i].is_nan()).collect();
        if !nan.is_empty() {
            return if last { *nan.last().unwrap() } else { nan[0] } as i64;
        }
        let ext = if is_min {
            v.iter().copied().fold(f32::INFINITY, f32::min)
        } else {
            v.iter().copied().fold(f32::NEG_INFINITY, f32::max)
        };
        let hits: Vec<usize> = (0..v.len()).filter(|&i| v[i] == ext).collect();
        (if last { *hits.last().unwrap() } else { hits[0] }) as i64
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
            outer in 0usize..4, n in 0usize..12, inner in 1usize..6,
            is_min in any::<bool>(), last in any::<bool>(), seed in any::<u32>(),
        ) {
            // Few distinct values so ties are common, occasional NaN.
            let x: Vec<f32> = (0..outer * n * inner)
                .map(|i| {
                    let h = (i as u32).wrapping_mul(2_654_435_761) ^ seed;
                    if h.is_multiple_of(23) { f32::NAN } else { (h % 5) as f32 - 2.0 }
                })
                .collect();
            let mut y = vec![-1i64; outer * inner];
            argmax(is_min, last, outer, n, inner, &x, &mut y).unwrap();
            for o in 0..outer {
                for j in 0..inner {
                    let col: Vec<f32> = (0..n).map(|i| x[o * n * inner + i * inner + j]).collect();
                    prop_assert_eq!(y[o * inner + j], reference::arg(&col, is_min, last));
                }
            }
        }
    }

    #[test]
    fn numpy_nan_rule_and_ties() {
        let mut y = [0i64; 1];
        argmax(
            false,
            false,
            1,
            4,
            1,
            &[1.0, f32::NAN, 5.0, f32::NAN],
            &mut y,
        )
        .unwrap();
        assert_eq!(y, [1]);
        argmax(true, true, 1, 4, 1, &[1.0, 0.0, 5.0, 0.0], &mut y).unwrap();
        assert_eq!(y, [3]);
        argmax(false, false, 1, 4, 1, &[7.0, 0.0, 7.0, 0.0], &mut y).unwrap();
        assert_eq!(y, [0]);
        assert!(argmax(false, false, 1, 4, 1, &[0.0; 4], &mut [0; 2]).is_err());
    }
}
