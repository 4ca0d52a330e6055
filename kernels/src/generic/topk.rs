//! TopK over the middle axis of a contiguous `[outer, n, inner]` tensor.

use std::cmp::Ordering;

use crate::KernelError;

/// TopK, `#[repr(C)]`: for each `(o, i)`, the `k` largest (or smallest) of `x[o, :, i]`, written
/// sorted (best first) to `values[o, :, i]` and `indices[o, :, i]` (both `[outer, k, inner]`).
/// Equal values keep ascending index order (ONNX); NaN counts as larger than every number.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TopKParams {
    /// Input.
    pub x: *const f32,
    /// Output values.
    pub values: *mut f32,
    /// Output indices into the `n` axis.
    pub indices: *mut i64,
    /// Product of the axes before the TopK axis.
    pub outer: usize,
    /// Length of the TopK axis.
    pub n: usize,
    /// Product of the axes after it.
    pub inner: usize,
    /// Elements kept (`<= n`).
    pub k: usize,
    /// Nonzero: largest first; zero: smallest first.
    pub largest: u32,
}

/// TopK entry point for generated code.
///
/// # Safety
/// `p` points to a valid [`TopKParams`]; `x` holds `outer · n · inner` floats, `values` and
/// `indices` `outer · k · inner` elements each. `k > n` aborts.
#[no_mangle]
pub unsafe extern "C" fn bqml_topk(p: *const TopKParams) {
    // SAFETY: the caller guarantees `p` points to a valid TopKParams.
    let p = unsafe { &*p };
    if p.k > p.n {
        super::abort_bad_params(format_args!("bqml_topk: k {} > n {}", p.k, p.n));
    }
    // SAFETY: forwarded caller contract.
    unsafe { topk_raw(p) }
}

/// Safe wrapper.
#[allow(clippy::too_many_arguments)]
pub fn topk(
    largest: bool,
    outer: usize,
    n: usize,
    inner: usize,
    k: usize,
    x: &[f32],
    values: &mut [f32],
    indices: &mut [i64],
) -> Result<(), KernelError> {
    let out = super::numel(&[outer, k, inner]);
    if k > n
        || super::numel(&[outer, n, inner]) != Some(x.len())
        || out != Some(values.len())
        || out != Some(indices.len())
    {
        return Err(KernelError::new(format!(
            "topk: [{outer}, {n}, {inner}] k {k} vs x {} values {} indices {}",
            x.len(),
            values.len(),
            indices.len()
        )));
    }
    let p = TopKParams {
        x: x.as_ptr(),
        values: values.as_mut_ptr(),
        indices: indices.as_mut_ptr(),
        outer,
        n,
        inner,
        k,
        largest: largest as u32,
    };
    // SAFETY: sizes checked; distinct borrows.
    unsafe { topk_raw(&p) };
    Ok(())
}

/// Ascending order with NaN above every number and all NaNs equal.
#[inline]
fn value_order(a: f32, b: f32) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// # Safety
/// As [`bqml_topk`], with `k <= n`.
unsafe fn topk_raw(p: &TopKParams) {
    let k = p.k;
    if k == 0 || p.inner == 0 {
        return;
    }
    let largest = p.largest != 0;
    // Best first; ties by ascending index.
    let order = |a: &(f32, usize), b: &(f32, usize)| {
        let v = value_order(a.0, b.0);
        let v = if largest { v.reverse() } else { v };
        v.then(a.1.cmp(&b.1))
    };
    let mut cand: Vec<(f32, usize)> = Vec::with_capacity(p.n);
    for o in 0..p.outer {
        for i in 0..p.inner {
            cand.clear();
            for j in 0..p.n {
                // SAFETY: element `(o, j, i)` of `x`.
                cand.push((unsafe { *p.x.add((o * p.n + j) * p.inner + i) }, j));
            }
            if k < p.n {
                cand.select_nth_unstable_by(k - 1, order);
            }
            cand[..k].sort_unstable_by(order);
            for (r, &(v, j)) in cand[..k].iter().enumerate() {
                let at = (o * k + r) * p.inner + i;
                // SAFETY: element `(o, r, i)` of the outputs.
                unsafe {
                    *p.values.add(at) = v;
                    *p.indices.add(at) = j as i64;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Against a stable sort of the whole column.
        #[test]
        fn matches_full_stable_sort(
            outer in 0usize..3, n in 0usize..20, inner in 1usize..4,
            kf in 0.0f64..=1.0, largest in any::<bool>(), seed in any::<u32>(),
        ) {
            let k = ((n as f64) * kf) as usize;
            let x: Vec<f32> = (0..outer * n * inner)
                .map(|i| {
                    let h = ((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 9;
                    if h == 8 { f32::NAN } else { h as f32 }
                })
                .collect();
            let mut vals = vec![0f32; outer * k * inner];
            let mut idx = vec![0i64; outer * k * inner];
            topk(largest, outer, n, inner, k, &x, &mut vals, &mut idx).unwrap();
            for o in 0..outer {
                for i in 0..inner {
                    let mut col: Vec<(f32, usize)> =
                        (0..n).map(|j| (x[(o * n + j) * inner + i], j)).collect();
                    // Stable sort keeps equal values in index order.
                    col.sort_by(|a, b| {
                        let v = value_order(a.0, b.0);
                        if largest { v.reverse() } else { v }
                    });
                    for (r, &(want_v, want_j)) in col.iter().take(k).enumerate() {
                        let at = (o * k + r) * inner + i;
                        prop_assert_eq!(idx[at], want_j as i64);
                        prop_assert!(vals[at] == want_v || (vals[at].is_nan() && want_v.is_nan()));
                    }
                }
            }
        }
    }

    #[test]
    fn onnx_example() {
        let x = [
            0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 11.0, 10.0, 9.0, 8.0,
        ];
        let mut v = [0f32; 9];
        let mut i = [0i64; 9];
        topk(true, 3, 4, 1, 3, &x, &mut v, &mut i).unwrap();
        assert_eq!(v, [3.0, 2.0, 1.0, 7.0, 6.0, 5.0, 11.0, 10.0, 9.0]);
        assert_eq!(i, [3, 2, 1, 3, 2, 1, 0, 1, 2]);
        assert!(topk(true, 3, 4, 1, 5, &x, &mut v, &mut i).is_err());
    }
}
