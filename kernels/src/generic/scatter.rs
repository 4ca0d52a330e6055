//! ScatterND (reduction "none"): write update slices at index tuples.

use super::{abort_bad_params, MAX_RANK};
use crate::KernelError;

/// Every index tuple was in range.
pub const SCATTER_OK: u32 = 0;
/// Some index tuple was out of range; its update was skipped.
pub const SCATTER_INDEX_OUT_OF_RANGE: u32 = 1;

/// ScatterND with reduction "none", `#[repr(C)]`. `y` already holds a copy of `data`
/// (contiguous, `data_shape`); for each of the `n_updates` index tuples `indices[u, 0..q]`, the
/// contiguous slice `y[indices[u], ...]` (the trailing `rank - q` axes) is overwritten with
/// `updates[u, ...]`. Negative indices count from the end; later updates win on duplicates.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ScatterNdParams {
    /// Bytes per element (any size >= 1).
    pub elem_size: usize,
    /// Rank of `data`.
    pub rank: usize,
    /// Shape of `data` / `y`.
    pub data_shape: [usize; MAX_RANK],
    /// Output, pre-filled with `data`.
    pub y: *mut u8,
    /// `n_updates × q` index tuples.
    pub indices: *const i64,
    /// Index tuple length, `1..=rank`.
    pub q: usize,
    /// Number of updates.
    pub n_updates: usize,
    /// `n_updates` slices of `Π data_shape[q..]` elements.
    pub updates: *const u8,
}

/// ScatterND entry point; returns [`SCATTER_OK`] or [`SCATTER_INDEX_OUT_OF_RANGE`].
///
/// # Safety
/// `p` points to a valid [`ScatterNdParams`] and the buffers hold the documented sizes. A zero
/// `elem_size` or `q` outside `1..=rank <= MAX_RANK` aborts.
#[no_mangle]
pub unsafe extern "C" fn bqml_scatter_nd(p: *const ScatterNdParams) -> u32 {
    // SAFETY: the caller guarantees `p` points to a valid ScatterNdParams.
    let p = unsafe { &*p };
    if p.elem_size == 0 || p.rank > MAX_RANK || p.q == 0 || p.q > p.rank {
        abort_bad_params(format_args!("bqml_scatter_nd: {p:?}"));
    }
    // SAFETY: forwarded caller contract.
    unsafe { scatter_raw(p) }
}

/// Safe wrapper: `y` holds the data (modified in place), `indices` is `[n, q]`, `updates` is
/// `[n, data_shape[q..]]`.
pub fn scatter_nd<T: Copy>(
    data_shape: &[usize],
    y: &mut [T],
    indices: &[i64],
    q: usize,
    updates: &[T],
) -> Result<u32, KernelError> {
    let r = data_shape.len();
    let es = std::mem::size_of::<T>();
    let slice = super::numel(&data_shape[q.min(r)..]);
    let n = indices.len().checked_div(q).unwrap_or(0);
    let ok = es > 0
        && r <= MAX_RANK
        && (1..=r).contains(&q)
        && indices.len().is_multiple_of(q)
        && super::numel(data_shape) == Some(y.len())
        && slice.and_then(|s| s.checked_mul(n)) == Some(updates.len());
    if !ok {
        return Err(KernelError::new(format!(
            "scatter_nd: data {data_shape:?} y {} indices {} q {q} updates {}",
            y.len(),
            indices.len(),
            updates.len()
        )));
    }
    let p = ScatterNdParams {
        elem_size: es,
        rank: r,
        data_shape: super::shape_array(data_shape),
        y: y.as_mut_ptr() as *mut u8,
        indices: indices.as_ptr(),
        q,
        n_updates: n,
        updates: updates.as_ptr() as *const u8,
    };
    // SAFETY: sizes checked; distinct borrows.
    Ok(unsafe { scatter_raw(&p) })
}

/// # Safety
/// As [`bqml_scatter_nd`] with valid sizes.
unsafe fn scatter_raw(p: &ScatterNdParams) -> u32 {
    let slice: usize = p.data_shape[p.q..p.rank].iter().product();
    let bytes = slice * p.elem_size;
    let mut status = SCATTER_OK;
    'updates: for u in 0..p.n_updates {
        let mut off = 0usize;
        for d in 0..p.q {
            // SAFETY: tuple element `(u, d)`.
            let raw = unsafe { *p.indices.add(u * p.q + d) };
            let n = p.data_shape[d] as i64;
            let i = if raw < 0 { raw.wrapping_add(n) } else { raw };
            if !(0..n).contains(&i) {
                status = SCATTER_INDEX_OUT_OF_RANGE;
                continue 'updates;
            }
            off = off * p.data_shape[d] + i as usize;
        }
        // SAFETY: slice `off` of `y` and update `u` are inside their buffers; distinct buffers.
        unsafe {
            std::ptr::copy_nonoverlapping(p.updates.add(u * bytes), p.y.add(off * bytes), bytes)
        };
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn onnx_example() {
        // ONNX ScatterND example 2: data [4, 4, 4], indices [[0], [2]], updates [2, 4, 4].
        let mut y: Vec<i32> = (0..64).collect();
        let updates: Vec<i32> = (100..132).collect();
        let s = scatter_nd(&[4, 4, 4], &mut y, &[0, -2], 1, &updates).unwrap();
        assert_eq!(s, SCATTER_OK);
        assert_eq!(y[..16], updates[..16]);
        assert_eq!(y[16..32], (16..32).collect::<Vec<_>>()[..]);
        assert_eq!(y[32..48], updates[16..]);
        let s = scatter_nd(&[4, 4, 4], &mut y, &[1, 0, 0, 4], 2, &[7; 8]).unwrap();
        assert_eq!(s, SCATTER_INDEX_OUT_OF_RANGE);
        assert_eq!(y[16..20], [7; 4]);
        assert!(scatter_nd(&[4, 4, 4], &mut y, &[0], 1, &[0; 15]).is_err());
    }

    proptest! {
        #[test]
        fn matches_elementwise_definition(
            shape in proptest::collection::vec(1usize..4, 1..=4),
            qf in 0.0f64..1.0,
            idx in proptest::collection::vec(-4i64..4, 0..12),
        ) {
            let r = shape.len();
            let q = 1 + ((r as f64) * qf) as usize % r;
            let idx = &idx[..idx.len() / q * q];
            let n = idx.len() / q;
            let slice: usize = shape[q..].iter().product();
            let total: usize = shape.iter().product();
            let updates: Vec<u16> = (0..n * slice).map(|v| 1000 + v as u16).collect();
            let mut y: Vec<u16> = (0..total as u16).collect();
            let status = scatter_nd(&shape, &mut y, idx, q, &updates).unwrap();
            let mut want: Vec<u16> = (0..total as u16).collect();
            let mut bad = false;
            for u in 0..n {
                let mut off = 0usize;
                let mut ok = true;
                for d in 0..q {
                    let i = idx[u * q + d];
                    let i = if i < 0 { i + shape[d] as i64 } else { i };
                    ok &= i >= 0 && i < shape[d] as i64;
                    off = off * shape[d] + i.max(0) as usize;
                }
                if !ok { bad = true; continue; }
                want[off * slice..(off + 1) * slice].copy_from_slice(&updates[u * slice..(u + 1) * slice]);
            }
            prop_assert_eq!(y, want);
            prop_assert_eq!(status, bad as u32);
        }
    }
}
