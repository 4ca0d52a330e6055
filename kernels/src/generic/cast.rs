//! Cast between f32, f64, i64, i32, i8, u8 and bool over contiguous data.

use super::common::{abort_bad_params, DT_F32, DT_I64};
use crate::error::KernelError;
use crate::params::kernel_params;

/// ONNX `UINT8`.
pub const DT_U8: u32 = 2;
/// ONNX `INT8`.
pub const DT_I8: u32 = 3;
/// ONNX `INT32`.
pub const DT_I32: u32 = 6;
/// ONNX `BOOL` (one byte, 0 or 1).
pub const DT_BOOL: u32 = 9;
/// ONNX `DOUBLE`.
pub const DT_F64: u32 = 11;

kernel_params! {
/// Elementwise type conversion of `n` contiguous elements, `#[repr(C)]`. Float to integer
/// truncates toward zero and saturates (NaN gives 0); integer narrowing wraps (two's complement);
/// anything to bool is `x != 0` (NaN gives true); bool to number is 0 or 1. `x` and `y` must not
/// overlap unless they are equal and the element sizes match.
#[derive(Clone, Copy, Debug)]
pub struct CastParams {
    /// Source `DT_*` code.
    pub from: u32,
    /// Destination `DT_*` code.
    pub to: u32,
    /// Number of elements.
    pub n: usize,
    /// Input.
    pub x: *const u8,
    /// Output.
    pub y: *mut u8,
}
}

fn supported(dt: u32) -> bool {
    matches!(
        dt,
        DT_F32 | DT_I64 | DT_U8 | DT_I8 | DT_I32 | DT_BOOL | DT_F64
    )
}

/// Bytes per element of a supported dtype.
pub fn dtype_size(dt: u32) -> Option<usize> {
    Some(match dt {
        DT_U8 | DT_I8 | DT_BOOL => 1,
        DT_F32 | DT_I32 => 4,
        DT_I64 | DT_F64 => 8,
        _ => return None,
    })
}

/// Cast entry point for generated code.
///
/// # Safety
/// `p` points to a valid [`CastParams`]; `x` and `y` hold `n` elements of their types. An
/// unsupported dtype aborts.
#[no_mangle]
pub unsafe extern "C" fn bqml_cast(p: *const CastParams) {
    // SAFETY: the caller guarantees `p` points to a valid CastParams.
    let p = unsafe { &*p };
    if !supported(p.from) || !supported(p.to) {
        abort_bad_params(format_args!("bqml_cast: {} -> {}", p.from, p.to));
    }
    // SAFETY: forwarded caller contract.
    unsafe { cast_raw(p) }
}

/// Safe wrapper over raw byte buffers holding `x.len() / size(from)` elements.
pub fn cast(from: u32, to: u32, x: &[u8], y: &mut [u8]) -> Result<(), KernelError> {
    let (Some(fs), Some(ts)) = (dtype_size(from), dtype_size(to)) else {
        return Err(KernelError::new(format!("cast: {from} -> {to}")));
    };
    let n = x.len() / fs;
    if !x.len().is_multiple_of(fs) || y.len() != n * ts {
        return Err(KernelError::new(format!(
            "cast: {} bytes of {from} into {} bytes of {to}",
            x.len(),
            y.len()
        )));
    }
    let p = CastParams {
        from,
        to,
        n,
        x: x.as_ptr(),
        y: y.as_mut_ptr(),
    };
    // SAFETY: sizes checked; distinct borrows.
    unsafe { cast_raw(&p) };
    Ok(())
}

/// A value in transit: every supported type converts losslessly to one of these.
#[derive(Clone, Copy)]
enum V {
    F(f64),
    I(i64),
}

/// # Safety
/// `x` holds element `i` of type `dt`.
#[inline(always)]
unsafe fn load(dt: u32, x: *const u8, i: usize) -> V {
    // SAFETY: in every arm element `i` is valid; reads are unaligned as buffers are byte pointers.
    unsafe {
        match dt {
            DT_F32 => V::F(x.cast::<f32>().add(i).read_unaligned() as f64),
            DT_F64 => V::F(x.cast::<f64>().add(i).read_unaligned()),
            DT_I64 => V::I(x.cast::<i64>().add(i).read_unaligned()),
            DT_I32 => V::I(x.cast::<i32>().add(i).read_unaligned() as i64),
            DT_I8 => V::I(*x.add(i) as i8 as i64),
            DT_BOOL => V::I((*x.add(i) != 0) as i64),
            _ => V::I(*x.add(i) as i64),
        }
    }
}

/// # Safety
/// `y` has room for element `i` of type `dt`.
#[inline(always)]
unsafe fn store(dt: u32, y: *mut u8, i: usize, v: V) {
    let as_i64 = |v: V| match v {
        V::F(f) => f as i64,
        V::I(i) => i,
    };
    // SAFETY: in every arm element `i` is valid.
    unsafe {
        match dt {
            DT_F32 => y.cast::<f32>().add(i).write_unaligned(match v {
                V::F(f) => f as f32,
                V::I(i) => i as f32,
            }),
            DT_F64 => y.cast::<f64>().add(i).write_unaligned(match v {
                V::F(f) => f,
                V::I(i) => i as f64,
            }),
            DT_I64 => y.cast::<i64>().add(i).write_unaligned(as_i64(v)),
            DT_I32 => y.cast::<i32>().add(i).write_unaligned(match v {
                V::F(f) => f as i32,
                V::I(i) => i as i32,
            }),
            DT_BOOL => {
                *y.add(i) = match v {
                    V::F(f) => (f != 0.0) as u8,
                    V::I(i) => (i != 0) as u8,
                }
            }
            DT_I8 => {
                *y.add(i) = match v {
                    V::F(f) => f as i8 as u8,
                    V::I(i) => i as i8 as u8,
                }
            }
            _ => {
                *y.add(i) = match v {
                    V::F(f) => f as u8,
                    V::I(i) => i as u8,
                }
            }
        }
    }
}

/// # Safety
/// As [`bqml_cast`] with supported dtypes.
unsafe fn cast_raw(p: &CastParams) {
    match (p.from, p.to) {
        // The common shape-arithmetic and model-boundary casts get tight loops.
        (DT_I64, DT_F32) => {
            for i in 0..p.n {
                // SAFETY: element `i` of both buffers.
                unsafe {
                    let v = p.x.cast::<i64>().add(i).read_unaligned();
                    p.y.cast::<f32>().add(i).write_unaligned(v as f32);
                }
            }
        }
        (DT_F32, DT_I64) => {
            for i in 0..p.n {
                // SAFETY: element `i` of both buffers.
                unsafe {
                    let v = p.x.cast::<f32>().add(i).read_unaligned();
                    p.y.cast::<i64>().add(i).write_unaligned(v as i64);
                }
            }
        }
        (from, to) => {
            for i in 0..p.n {
                // SAFETY: element `i` of both buffers; read before write (in place allowed for
                // equal sizes).
                unsafe { store(to, p.y, i, load(from, p.x, i)) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bytes_f32(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn onnx_cast_semantics() {
        let x = bytes_f32(&[1.9, -1.9, f32::NAN, 3e10, -0.0, 0.5]);
        let mut y = vec![0u8; 6 * 8];
        cast(DT_F32, DT_I64, &x, &mut y).unwrap();
        let got: Vec<i64> = y
            .chunks(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(got, [1, -1, 0, 3e10f32 as i64, 0, 0]);
        let mut b = vec![0u8; 6];
        cast(DT_F32, DT_BOOL, &x, &mut b).unwrap();
        assert_eq!(b, [1, 1, 1, 1, 0, 1]);
        let mut f = vec![0u8; 24];
        cast(DT_BOOL, DT_F32, &[0, 1, 7, 0, 1, 0], &mut f).unwrap();
        assert_eq!(f, bytes_f32(&[0.0, 1.0, 1.0, 0.0, 1.0, 0.0]));
        let mut i8s = vec![0u8; 2];
        cast(
            DT_I32,
            DT_I8,
            &[0x81, 0x01, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF],
            &mut i8s,
        )
        .unwrap();
        assert_eq!(i8s, [0x81, 0xFF]);
        assert!(cast(DT_F32, 5, &x, &mut y).is_err());
        assert!(cast(DT_F32, DT_I64, &x, &mut y[..40]).is_err());
    }

    proptest! {
        /// Round trips through wider types are exact; i64 <-> f32 matches Rust's `as`.
        #[test]
        fn conversions_match_as(v in proptest::collection::vec(any::<i32>(), 0..20)) {
            let x: Vec<u8> = v.iter().flat_map(|a| a.to_le_bytes()).collect();
            let mut wide = vec![0u8; v.len() * 8];
            cast(DT_I32, DT_I64, &x, &mut wide).unwrap();
            let mut back = vec![0u8; v.len() * 4];
            cast(DT_I64, DT_I32, &wide, &mut back).unwrap();
            prop_assert_eq!(&back, &x);
            let mut f = vec![0u8; v.len() * 4];
            cast(DT_I64, DT_F32, &wide, &mut f).unwrap();
            prop_assert_eq!(f, bytes_f32(&v.iter().map(|&a| a as i64 as f32).collect::<Vec<_>>()));
            let mut d = vec![0u8; v.len() * 8];
            cast(DT_I32, DT_F64, &x, &mut d).unwrap();
            let mut u = vec![0u8; v.len()];
            cast(DT_F64, DT_U8, &d, &mut u).unwrap();
            prop_assert_eq!(u, v.iter().map(|&a| a as f64 as u8).collect::<Vec<_>>());
        }
    }
}
