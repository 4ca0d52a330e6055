//! Gather along one axis with int64 indices.

use super::common::{abort_bad_params, numel};
use crate::error::KernelError;
use crate::params::kernel_params;

/// Every index was in range.
pub const GATHER_OK: u32 = 0;
/// Some index was outside `[-axis_len, axis_len)`; its output slices were zero-filled.
pub const GATHER_INDEX_OUT_OF_RANGE: u32 = 1;

kernel_params! {
/// Gather parameters, `#[repr(C)]`: `x` is contiguous `[outer, axis_len, inner]`, `y` is
/// `[outer, n_indices, inner]` with `y[o, j, i] = x[o, indices[j], i]` (negative indices count
/// from the end). `x` and `y` must not overlap.
#[derive(Clone, Copy, Debug)]
pub struct GatherParams {
    /// Bytes per element (any size ≥ 1; slices are moved with `memcpy`).
    pub elem_size: usize,
    /// Product of the axes before the gather axis.
    pub outer: usize,
    /// Length of the gather axis.
    pub axis_len: usize,
    /// Product of the axes after it.
    pub inner: usize,
    /// Input.
    pub x: *const u8,
    /// Indices (flattened).
    pub indices: *const i64,
    /// Number of indices.
    pub n_indices: usize,
    /// Output.
    pub y: *mut u8,
}
}

/// Gather entry point for generated code; returns [`GATHER_OK`] or
/// [`GATHER_INDEX_OUT_OF_RANGE`].
///
/// # Safety
/// `p` points to a valid [`GatherParams`]; the buffers hold the documented sizes.
#[no_mangle]
pub unsafe extern "C" fn bqml_gather(p: *const GatherParams) -> u32 {
    // SAFETY: the caller guarantees `p` points to a valid GatherParams.
    let p = unsafe { &*p };
    if p.elem_size == 0 {
        abort_bad_params(format_args!("bqml_gather: elem_size 0"));
    }
    // SAFETY: forwarded caller contract.
    unsafe { gather_raw(p) }
}

/// Safe wrapper over `x` (`[outer, axis_len, inner]`) into `y` (`[outer, indices.len(), inner]`);
/// returns the status code.
pub fn gather<T: Copy>(
    outer: usize,
    axis_len: usize,
    inner: usize,
    x: &[T],
    indices: &[i64],
    y: &mut [T],
) -> Result<u32, KernelError> {
    let es = std::mem::size_of::<T>();
    if es == 0
        || numel(&[outer, axis_len, inner]) != Some(x.len())
        || numel(&[outer, indices.len(), inner]) != Some(y.len())
    {
        return Err(KernelError::new(format!(
            "gather: [{outer}, {axis_len}, {inner}] with {} indices vs x {} y {}",
            indices.len(),
            x.len(),
            y.len()
        )));
    }
    let p = GatherParams {
        elem_size: es,
        outer,
        axis_len,
        inner,
        x: x.as_ptr() as *const u8,
        indices: indices.as_ptr(),
        n_indices: indices.len(),
        y: y.as_mut_ptr() as *mut u8,
    };
    // SAFETY: sizes checked; distinct borrows.
    Ok(unsafe { gather_raw(&p) })
}

/// # Safety
/// As [`bqml_gather`].
unsafe fn gather_raw(p: &GatherParams) -> u32 {
    let slice = p.inner * p.elem_size;
    let n = p.axis_len as i64;
    let mut status = GATHER_OK;
    for o in 0..p.outer {
        for j in 0..p.n_indices {
            // SAFETY: `j < n_indices`.
            let raw = unsafe { *p.indices.add(j) };
            let idx = if raw < 0 { raw.wrapping_add(n) } else { raw };
            // SAFETY: output slice `(o, j)` is inside `y`; input slice `(o, idx)` is inside `x`
            // because `0 <= idx < axis_len` is checked first.
            unsafe {
                let dst = p.y.add((o * p.n_indices + j) * slice);
                if (0..n).contains(&idx) {
                    let src = p.x.add((o * p.axis_len + idx as usize) * slice);
                    std::ptr::copy_nonoverlapping(src, dst, slice);
                } else {
                    std::ptr::write_bytes(dst, 0, slice);
                    status = GATHER_INDEX_OUT_OF_RANGE;
                }
            }
        }
    }
    status
}

/// Scalar reference.
pub mod reference {
    /// `y[o, j, i] = x[o, idx[j], i]`, zeros for out-of-range indices; also the status.
    pub fn gather<T: Copy + Default>(
        outer: usize,
        axis_len: usize,
        inner: usize,
        x: &[T],
        indices: &[i64],
    ) -> (Vec<T>, u32) {
        let mut y = vec![];
        let mut bad = 0;
        for o in 0..outer {
            for &raw in indices {
                let i = if raw < 0 { raw + axis_len as i64 } else { raw };
                let ok = i >= 0 && (i as usize) < axis_len;
                if !ok {
                    bad = 1;
                }
                for k in 0..inner {
                    y.push(if ok {
                        x[(o * axis_len + i as usize) * inner + k]
                    } else {
                        T::default()
                    });
                }
            }
        }
        (y, bad)
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
            outer in 0usize..4, axis_len in 0usize..6, inner in 0usize..5,
            indices in proptest::collection::vec(-7i64..7, 0..8),
        ) {
            let x: Vec<i64> = (0..(outer * axis_len * inner) as i64).map(|v| v * 3 + 1).collect();
            let (want, want_status) = reference::gather(outer, axis_len, inner, &x, &indices);
            let mut y = vec![-5i64; want.len()];
            let status = gather(outer, axis_len, inner, &x, &indices, &mut y).unwrap();
            prop_assert_eq!(&y, &want);
            prop_assert_eq!(status, want_status);
        }
    }

    #[test]
    fn negative_and_out_of_range() {
        let x = [10.0f32, 11.0, 20.0, 21.0, 30.0, 31.0];
        let mut y = [9.0f32; 6];
        assert_eq!(gather(1, 3, 2, &x, &[-1, 0, 1], &mut y), Ok(GATHER_OK));
        assert_eq!(y, [30.0, 31.0, 10.0, 11.0, 20.0, 21.0]);
        assert_eq!(
            gather(1, 3, 2, &x, &[3, -4, 2], &mut y),
            Ok(GATHER_INDEX_OUT_OF_RANGE)
        );
        assert_eq!(y, [0.0, 0.0, 0.0, 0.0, 30.0, 31.0]);
        assert!(gather(1, 3, 2, &x, &[0], &mut y).is_err());
    }
}
