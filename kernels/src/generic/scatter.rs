//! `ScatterND` in place: `count` update slices of `slice` contiguous elements each land at
//! element offsets of the output (which already holds a copy of `data`), replacing the
//! elements or combining with them (add, mul, max, min). The offsets are validated by the
//! caller (the compiler computes them from constant indices), so no index can leave the
//! output; slices are applied in order, so a repeated offset keeps the last update.

use super::cast::{dtype_size, DT_F64, DT_I32};
use super::common::{abort_bad_params, Element, DT_F32, DT_I64};
use crate::error::KernelError;
use crate::params::kernel_params;

/// Replace the addressed elements.
pub const SCATTER_NONE: u32 = 0;
/// `y += u`.
pub const SCATTER_ADD: u32 = 1;
/// `y *= u`.
pub const SCATTER_MUL: u32 = 2;
/// `y = max(y, u)`.
pub const SCATTER_MAX: u32 = 3;
/// `y = min(y, u)`.
pub const SCATTER_MIN: u32 = 4;

kernel_params! {
/// Scatter call parameters, `#[repr(C)]`.
#[derive(Clone, Copy, Debug)]
pub struct ScatterParams {
    /// ONNX dtype code of `y` and `updates`: any [`dtype_size`] knows for [`SCATTER_NONE`];
    /// f32, f64, i32 or i64 for the reductions.
    pub dtype: u32,
    /// One of the `SCATTER_*` codes.
    pub reduction: u32,
    /// The output, already holding `data`.
    pub y: *mut u8,
    /// `count` element offsets into `y`, each with `slice` elements after it inside `y`.
    pub offsets: *const u64,
    /// `count · slice` elements.
    pub updates: *const u8,
    /// Number of update slices.
    pub count: usize,
    /// Elements per slice.
    pub slice: usize,
}
}

fn supported(p: &ScatterParams) -> bool {
    match p.reduction {
        SCATTER_NONE => dtype_size(p.dtype).is_some(),
        SCATTER_ADD..=SCATTER_MIN => matches!(p.dtype, DT_F32 | DT_F64 | DT_I32 | DT_I64),
        _ => false,
    }
}

/// ScatterND entry point for generated code.
///
/// # Safety
/// `p` points to a valid [`ScatterParams`]; every offset plus `slice` stays inside `y`;
/// `updates` holds `count · slice` elements; `y` and `updates` do not overlap. An unsupported
/// dtype or reduction aborts.
#[no_mangle]
pub unsafe extern "C" fn bqml_scatter(p: *const ScatterParams) {
    // SAFETY: the caller guarantees `p` points to a valid ScatterParams.
    let p = unsafe { &*p };
    if !supported(p) {
        abort_bad_params(format_args!(
            "bqml_scatter: dtype {} reduction {}",
            p.dtype, p.reduction
        ));
    }
    // SAFETY: forwarded caller contract.
    unsafe { scatter_raw(p) }
}

/// Safe wrapper: applies `updates` (`offsets.len()` slices of `slice` elements) to `y` at
/// `offsets` with `reduction`.
pub fn scatter<T: Element>(
    reduction: u32,
    y: &mut [T],
    offsets: &[u64],
    slice: usize,
    updates: &[T],
) -> Result<(), KernelError> {
    let p = ScatterParams {
        dtype: T::DTYPE,
        reduction,
        y: y.as_mut_ptr() as *mut u8,
        offsets: offsets.as_ptr(),
        updates: updates.as_ptr() as *const u8,
        count: offsets.len(),
        slice,
    };
    if !supported(&p) {
        return Err(KernelError::new(format!(
            "scatter: dtype {} with reduction {reduction} unsupported",
            T::DTYPE
        )));
    }
    if Some(updates.len()) != offsets.len().checked_mul(slice)
        || offsets.iter().any(|&o| {
            (o as usize)
                .checked_add(slice)
                .is_none_or(|end| end > y.len())
        })
    {
        return Err(KernelError::new(format!(
            "scatter: {} slices of {slice} into {} elements with {} updates",
            offsets.len(),
            y.len(),
            updates.len()
        )));
    }
    // SAFETY: checked above: every slice lies inside `y`, `updates` has `count · slice`
    // elements, and the borrows are distinct.
    unsafe { scatter_raw(&p) };
    Ok(())
}

/// # Safety
/// As [`bqml_scatter`], with a supported dtype and reduction.
unsafe fn scatter_raw(p: &ScatterParams) {
    // SAFETY (all arms): forwarded; the element type matches `dtype`.
    unsafe {
        match (p.reduction, p.dtype) {
            (SCATTER_NONE, _) => {
                let elem = dtype_size(p.dtype).unwrap_or(1);
                let bytes = elem * p.slice;
                for n in 0..p.count {
                    let dst = p.y.add(*p.offsets.add(n) as usize * elem);
                    std::ptr::copy_nonoverlapping(p.updates.add(n * bytes), dst, bytes);
                }
            }
            (r, DT_F32) => combine::<f32>(p, r),
            (r, DT_F64) => combine::<f64>(p, r),
            (r, DT_I32) => combine::<i32>(p, r),
            (r, _) => combine::<i64>(p, r),
        }
    }
}

trait Arith: Copy + PartialOrd {
    fn add(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
}

macro_rules! arith {
    ($t:ty, $add:expr, $mul:expr) => {
        impl Arith for $t {
            fn add(self, o: Self) -> Self {
                $add(self, o)
            }
            fn mul(self, o: Self) -> Self {
                $mul(self, o)
            }
        }
    };
}
arith!(f32, |a, b| a + b, |a, b| a * b);
arith!(f64, |a, b| a + b, |a, b| a * b);
arith!(i32, i32::wrapping_add, i32::wrapping_mul);
arith!(i64, i64::wrapping_add, i64::wrapping_mul);

/// # Safety
/// As [`bqml_scatter`] with `T` matching `dtype`.
unsafe fn combine<T: Arith>(p: &ScatterParams, reduction: u32) {
    let (y, u) = (p.y as *mut T, p.updates as *const T);
    for n in 0..p.count {
        // SAFETY: the offset's slice is inside `y`; update `n`'s slice inside `updates`.
        unsafe {
            let dst = y.add(*p.offsets.add(n) as usize);
            for e in 0..p.slice {
                let (a, b) = (*dst.add(e), *u.add(n * p.slice + e));
                *dst.add(e) = match reduction {
                    SCATTER_ADD => a.add(b),
                    SCATTER_MUL => a.mul(b),
                    SCATTER_MAX if b > a => b,
                    SCATTER_MIN if b < a => b,
                    _ => a,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_replace_and_combine_in_order() {
        let mut y: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let u = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0];
        scatter(SCATTER_NONE, &mut y, &[8, 0, 8], 2, &u).unwrap();
        // The repeated offset 8 keeps the last slice.
        assert_eq!(y[..2], [30.0, 40.0]);
        assert_eq!(y[8..10], [50.0, 60.0]);
        let mut z: Vec<i64> = vec![5; 6];
        scatter(
            SCATTER_ADD,
            &mut z,
            &[0, 0, 3],
            3,
            &[1, 2, 3, 4, 5, 6, 7, 8, 9],
        )
        .unwrap();
        assert_eq!(z, [10, 12, 14, 12, 13, 14]);
        let mut m = vec![1.0f64, 9.0];
        scatter(SCATTER_MAX, &mut m, &[0, 1], 1, &[3.0, 4.0]).unwrap();
        assert_eq!(m, [3.0, 9.0]);
        scatter(SCATTER_MIN, &mut m, &[0, 1], 1, &[2.0, 4.0]).unwrap();
        assert_eq!(m, [2.0, 4.0]);
        let mut b = vec![false; 4];
        scatter(SCATTER_NONE, &mut b, &[2], 2, &[true, true]).unwrap();
        assert_eq!(b, [false, false, true, true]);
    }

    #[test]
    fn a_slice_past_the_end_or_a_reduction_on_bool_is_an_error() {
        let mut y = vec![0.0f32; 4];
        assert!(scatter(SCATTER_NONE, &mut y, &[3], 2, &[1.0, 2.0]).is_err());
        assert!(scatter(SCATTER_NONE, &mut y, &[0], 2, &[1.0]).is_err());
        let mut b = vec![false; 2];
        assert!(scatter(SCATTER_ADD, &mut b, &[0], 1, &[true]).is_err());
    }
}
