//! Comparisons and boolean logic with numpy broadcasting, producing ONNX bool (one byte, 0/1),
//! and Where (select).

use super::cast::DT_BOOL;
use super::{
    abort_bad_params, for_each_run, normalize, shape_array, Element, Strided, StridedMut, DT_F32,
    DT_I64, MAX_RANK,
};
use crate::KernelError;

/// `a == b`.
pub const COMPARE_EQUAL: u32 = 0;
/// `a < b`.
pub const COMPARE_LESS: u32 = 1;
/// `a <= b`.
pub const COMPARE_LESS_OR_EQUAL: u32 = 2;
/// `a > b`.
pub const COMPARE_GREATER: u32 = 3;
/// `a >= b`.
pub const COMPARE_GREATER_OR_EQUAL: u32 = 4;
/// Bool `a && b` (dtype [`DT_BOOL`]).
pub const COMPARE_AND: u32 = 5;
/// Bool `a || b`.
pub const COMPARE_OR: u32 = 6;
/// Bool `a != b` (Not is Xor with a broadcast `true`).
pub const COMPARE_XOR: u32 = 7;

/// Broadcast comparison `y[idx] = op(a[idx], b[idx])` as bool bytes, `#[repr(C)]`. Strides in
/// elements of each operand's type; `y` must not overlap the inputs. Every comparison with NaN is
/// false, as in IEEE and numpy.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CompareParams {
    /// `COMPARE_*` code.
    pub op: u32,
    /// Input dtype: [`DT_F32`] or [`DT_I64`] for comparisons, [`DT_BOOL`] for logic ops.
    pub dtype: u32,
    /// Number of axes.
    pub rank: usize,
    /// Output shape.
    pub shape: [usize; MAX_RANK],
    /// First operand.
    pub a: *const u8,
    /// First operand strides.
    pub a_strides: [isize; MAX_RANK],
    /// Second operand.
    pub b: *const u8,
    /// Second operand strides.
    pub b_strides: [isize; MAX_RANK],
    /// Output (bool bytes).
    pub y: *mut u8,
    /// Output strides.
    pub y_strides: [isize; MAX_RANK],
}

/// Where: `y[idx] = cond[idx] != 0 ? a[idx] : b[idx]` with broadcasting, `#[repr(C)]`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WhereParams {
    /// Bytes per element of `a`, `b`, `y` (1, 2, 4 or 8).
    pub elem_size: usize,
    /// Number of axes.
    pub rank: usize,
    /// Output shape.
    pub shape: [usize; MAX_RANK],
    /// Condition (bool bytes).
    pub cond: *const u8,
    /// Condition strides.
    pub cond_strides: [isize; MAX_RANK],
    /// Value where true.
    pub a: *const u8,
    /// Strides of `a`.
    pub a_strides: [isize; MAX_RANK],
    /// Value where false.
    pub b: *const u8,
    /// Strides of `b`.
    pub b_strides: [isize; MAX_RANK],
    /// Output.
    pub y: *mut u8,
    /// Output strides.
    pub y_strides: [isize; MAX_RANK],
}

fn compare_supported(op: u32, dtype: u32) -> bool {
    match dtype {
        DT_F32 | DT_I64 => op <= COMPARE_GREATER_OR_EQUAL,
        DT_BOOL => op <= COMPARE_XOR,
        _ => false,
    }
}

/// Compare entry point for generated code.
///
/// # Safety
/// `p` points to a valid [`CompareParams`]; every addressed element is inside its tensor. An
/// unsupported op/dtype or rank aborts.
#[no_mangle]
pub unsafe extern "C" fn bqml_compare(p: *const CompareParams) {
    // SAFETY: the caller guarantees `p` points to a valid CompareParams.
    let p = unsafe { &*p };
    if !compare_supported(p.op, p.dtype) || p.rank > MAX_RANK {
        abort_bad_params(format_args!(
            "bqml_compare: op {} dtype {} rank {}",
            p.op, p.dtype, p.rank
        ));
    }
    // SAFETY: forwarded caller contract.
    unsafe { compare_raw(p) }
}

/// Where entry point for generated code.
///
/// # Safety
/// `p` points to a valid [`WhereParams`]; every addressed element is inside its tensor. An
/// invalid element size or rank aborts.
#[no_mangle]
pub unsafe extern "C" fn bqml_where(p: *const WhereParams) {
    // SAFETY: the caller guarantees `p` points to a valid WhereParams.
    let p = unsafe { &*p };
    if !matches!(p.elem_size, 1 | 2 | 4 | 8) || p.rank > MAX_RANK {
        abort_bad_params(format_args!(
            "bqml_where: elem_size {} rank {}",
            p.elem_size, p.rank
        ));
    }
    // SAFETY: forwarded caller contract.
    unsafe { where_raw(p) }
}

/// Safe compare wrapper for f32 / i64 inputs (`u8` inputs: bool logic ops).
pub fn compare<T: CompareElem>(
    op: u32,
    shape: &[usize],
    a: Strided<'_, T>,
    b: Strided<'_, T>,
    mut y: StridedMut<'_, u8>,
) -> Result<(), KernelError> {
    if !compare_supported(op, T::CODE) {
        return Err(KernelError::new(format!(
            "compare: op {op} unsupported for dtype {}",
            T::CODE
        )));
    }
    a.check(shape, "compare a")?;
    b.check(shape, "compare b")?;
    y.check(shape, "compare y")?;
    let p = CompareParams {
        op,
        dtype: T::CODE,
        rank: shape.len(),
        shape: shape_array(shape),
        a: a.origin() as *const u8,
        a_strides: a.strides,
        b: b.origin() as *const u8,
        b_strides: b.strides,
        y: y.origin(),
        y_strides: y.strides,
    };
    // SAFETY: extents checked; `y` is a distinct borrow.
    unsafe { compare_raw(&p) };
    Ok(())
}

/// Element types accepted by [`compare`]: f32, i64, and `u8` as ONNX bool.
pub trait CompareElem: Copy {
    /// `DT_*` code.
    const CODE: u32;
}

impl<T: Element> CompareElem for T {
    const CODE: u32 = T::DTYPE;
}

impl CompareElem for u8 {
    const CODE: u32 = DT_BOOL;
}

/// Safe Where wrapper.
pub fn select<T: Copy>(
    shape: &[usize],
    cond: Strided<'_, u8>,
    a: Strided<'_, T>,
    b: Strided<'_, T>,
    mut y: StridedMut<'_, T>,
) -> Result<(), KernelError> {
    let es = std::mem::size_of::<T>();
    if !matches!(es, 1 | 2 | 4 | 8) || shape.len() > MAX_RANK {
        return Err(KernelError::new(format!("where: element size {es}")));
    }
    cond.check(shape, "where cond")?;
    a.check(shape, "where a")?;
    b.check(shape, "where b")?;
    y.check(shape, "where y")?;
    let p = WhereParams {
        elem_size: es,
        rank: shape.len(),
        shape: shape_array(shape),
        cond: cond.origin(),
        cond_strides: cond.strides,
        a: a.origin() as *const u8,
        a_strides: a.strides,
        b: b.origin() as *const u8,
        b_strides: b.strides,
        y: y.origin() as *mut u8,
        y_strides: y.strides,
    };
    // SAFETY: extents checked; `y` is a distinct borrow.
    unsafe { where_raw(&p) };
    Ok(())
}

/// Scalar definition of each comparison (`a`, `b` already loaded as f64 or i64).
pub mod scalar {
    use super::*;

    /// f32 comparison.
    #[inline(always)]
    pub fn f32_cmp(op: u32, a: f32, b: f32) -> bool {
        match op {
            COMPARE_EQUAL => a == b,
            COMPARE_LESS => a < b,
            COMPARE_LESS_OR_EQUAL => a <= b,
            COMPARE_GREATER => a > b,
            _ => a >= b,
        }
    }

    /// i64 comparison.
    #[inline(always)]
    pub fn i64_cmp(op: u32, a: i64, b: i64) -> bool {
        match op {
            COMPARE_EQUAL => a == b,
            COMPARE_LESS => a < b,
            COMPARE_LESS_OR_EQUAL => a <= b,
            COMPARE_GREATER => a > b,
            _ => a >= b,
        }
    }

    /// Bool logic / comparison on bytes (nonzero is true).
    #[inline(always)]
    pub fn bool_op(op: u32, a: u8, b: u8) -> bool {
        let (a, b) = (a != 0, b != 0);
        match op {
            COMPARE_EQUAL => a == b,
            COMPARE_LESS => !a & b,
            COMPARE_LESS_OR_EQUAL => !a | b,
            COMPARE_GREATER => a & !b,
            COMPARE_GREATER_OR_EQUAL => a | !b,
            COMPARE_AND => a && b,
            COMPARE_OR => a || b,
            _ => a != b,
        }
    }
}

/// # Safety
/// As [`bqml_compare`] with a supported op/dtype.
unsafe fn compare_raw(p: &CompareParams) {
    let mut shape = p.shape;
    let mut strides = [p.a_strides, p.b_strides, p.y_strides];
    let Some(rank) = normalize(p.rank, &mut shape, &mut strides) else {
        return;
    };
    let last = rank.max(1) - 1;
    let [sa, sb, sy] = [strides[0][last], strides[1][last], strides[2][last]];
    let es: isize = match p.dtype {
        DT_BOOL => 1,
        DT_F32 => 4,
        _ => 8,
    };
    for_each_run(rank, &shape, &strides, |[oa, ob, oy], n| {
        for i in 0..n as isize {
            // SAFETY: addressed elements are valid by contract.
            unsafe {
                let a = p.a.offset((oa + i * sa) * es);
                let b = p.b.offset((ob + i * sb) * es);
                let r = match p.dtype {
                    DT_F32 => scalar::f32_cmp(
                        p.op,
                        a.cast::<f32>().read_unaligned(),
                        b.cast::<f32>().read_unaligned(),
                    ),
                    DT_I64 => scalar::i64_cmp(
                        p.op,
                        a.cast::<i64>().read_unaligned(),
                        b.cast::<i64>().read_unaligned(),
                    ),
                    _ => scalar::bool_op(p.op, *a, *b),
                };
                *p.y.offset(oy + i * sy) = r as u8;
            }
        }
    });
}

/// # Safety
/// As [`bqml_where`] with a valid element size.
unsafe fn where_raw(p: &WhereParams) {
    let mut shape = p.shape;
    let mut strides = [p.cond_strides, p.a_strides, p.b_strides, p.y_strides];
    let Some(rank) = normalize(p.rank, &mut shape, &mut strides) else {
        return;
    };
    let last = rank.max(1) - 1;
    let s = [
        strides[0][last],
        strides[1][last],
        strides[2][last],
        strides[3][last],
    ];
    let es = p.elem_size as isize;
    for_each_run(rank, &shape, &strides, |[oc, oa, ob, oy], n| {
        for i in 0..n as isize {
            // SAFETY: addressed elements are valid by contract.
            unsafe {
                let src = if *p.cond.offset(oc + i * s[0]) != 0 {
                    p.a.offset((oa + i * s[1]) * es)
                } else {
                    p.b.offset((ob + i * s[2]) * es)
                };
                std::ptr::copy_nonoverlapping(src, p.y.offset((oy + i * s[3]) * es), es as usize);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::super::contiguous_strides;
    use super::*;
    use proptest::prelude::*;

    /// Shape with some axes broadcast in `b` and the condition.
    fn layout(shape: &[usize], bcast: &[bool]) -> ([isize; MAX_RANK], usize) {
        let stored: Vec<usize> = shape
            .iter()
            .zip(bcast)
            .map(|(&n, &b)| if b { 1 } else { n })
            .collect();
        let mut s = contiguous_strides(&stored);
        for (i, &b) in bcast.iter().enumerate() {
            if b {
                s[i] = 0;
            }
        }
        (s, stored.iter().product())
    }

    fn index(shape: &[usize], flat: usize, strides: &[isize; MAX_RANK]) -> usize {
        let (mut rem, mut off) = (flat, 0isize);
        for d in (0..shape.len()).rev() {
            off += (rem % shape[d]) as isize * strides[d];
            rem /= shape[d];
        }
        off as usize
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn compare_and_where_match_elementwise(
            axes in proptest::collection::vec((1usize..6, any::<bool>(), any::<bool>()), 0..=4),
            op in 0u32..=4,
            logic_op in 0u32..=7,
            seed in any::<u32>(),
        ) {
            let shape: Vec<usize> = axes.iter().map(|a| a.0).collect();
            let (bs, blen) = layout(&shape, &axes.iter().map(|a| a.1).collect::<Vec<_>>());
            let (cs, clen) = layout(&shape, &axes.iter().map(|a| a.2).collect::<Vec<_>>());
            let n: usize = shape.iter().product();
            let h = |i: usize| ((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 7;
            let a: Vec<f32> = (0..n).map(|i| if h(i) == 6 { f32::NAN } else { h(i) as f32 }).collect();
            let b: Vec<f32> = (0..blen).map(|i| h(i + 99) as f32).collect();
            let ys = contiguous_strides(&shape);
            let mut y = vec![9u8; n];
            compare(op, &shape, Strided::contiguous(&a, &shape), Strided { data: &b, offset: 0, strides: bs }, StridedMut::contiguous(&mut y, &shape)).unwrap();
            let ai: Vec<i64> = a.iter().map(|&v| v as i64).collect();
            let bi: Vec<i64> = b.iter().map(|&v| v as i64).collect();
            let mut yi = vec![9u8; n];
            compare(op, &shape, Strided::contiguous(&ai, &shape), Strided { data: &bi, offset: 0, strides: bs }, StridedMut::contiguous(&mut yi, &shape)).unwrap();
            let ab: Vec<u8> = a.iter().map(|&v| (v > 2.0) as u8).collect();
            let bb: Vec<u8> = b.iter().map(|&v| (v > 2.0) as u8).collect();
            let mut yb = vec![9u8; n];
            compare(logic_op, &shape, Strided::contiguous(&ab, &shape), Strided { data: &bb, offset: 0, strides: bs }, StridedMut::contiguous(&mut yb, &shape)).unwrap();
            let cond: Vec<u8> = (0..clen).map(|i| (h(i + 7) % 2) as u8).collect();
            let mut w = vec![0f32; n];
            select(&shape, Strided { data: &cond, offset: 0, strides: cs }, Strided::contiguous(&a, &shape), Strided { data: &b, offset: 0, strides: bs }, StridedMut::contiguous(&mut w, &shape)).unwrap();
            for f in 0..n {
                let (ia, ib, ic) = (index(&shape, f, &ys), index(&shape, f, &bs), index(&shape, f, &cs));
                prop_assert_eq!(y[f], scalar::f32_cmp(op, a[ia], b[ib]) as u8);
                prop_assert_eq!(yi[f], scalar::i64_cmp(op, ai[ia], bi[ib]) as u8);
                let (x, z) = (ab[ia] != 0, bb[ib] != 0);
                let want = match logic_op {
                    COMPARE_EQUAL => x == z,
                    COMPARE_LESS => !x && z,
                    COMPARE_LESS_OR_EQUAL => !x || z,
                    COMPARE_GREATER => x && !z,
                    COMPARE_GREATER_OR_EQUAL => x || !z,
                    COMPARE_AND => x && z,
                    COMPARE_OR => x || z,
                    _ => x != z,
                };
                prop_assert_eq!(yb[f], want as u8);
                let pick = if cond[ic] != 0 { a[ia] } else { b[ib] };
                prop_assert!(w[f] == pick || (w[f].is_nan() && pick.is_nan()));
            }
        }
    }

    #[test]
    fn nan_compares_false_and_bad_ops_rejected() {
        let a = [f32::NAN, 1.0];
        let b = [f32::NAN, 1.0];
        let mut y = [7u8; 2];
        for op in 0..=4 {
            compare(
                op,
                &[2],
                Strided::contiguous(&a, &[2]),
                Strided::contiguous(&b, &[2]),
                StridedMut::contiguous(&mut y, &[2]),
            )
            .unwrap();
            assert_eq!(y[0], 0, "op {op}");
            assert_eq!(y[1], [1, 0, 1, 0, 1][op as usize], "op {op}");
        }
        assert!(compare(
            COMPARE_AND,
            &[2],
            Strided::contiguous(&a, &[2]),
            Strided::contiguous(&b, &[2]),
            StridedMut::contiguous(&mut y, &[2])
        )
        .is_err());
    }
}
