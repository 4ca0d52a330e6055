//! Comparisons (Equal, Less, LessOrEqual, Greater, GreaterOrEqual) and boolean logic (And, Or,
//! Xor) with numpy broadcasting (0 strides). The output is bool: one byte, 0 or 1.

use super::cast::{DT_BOOL, DT_F64, DT_I32, DT_U8};
use super::common::{
    abort_bad_params, detected, for_each_run, normalize, shape_array, split_axis, Element, Strided,
    StridedMut, DT_F32, DT_I64, MAX_RANK,
};
use crate::error::KernelError;
use crate::isa::Isa;
use crate::params::kernel_params;

/// `a == b` (floats: false when either is NaN; `-0.0 == 0.0`).
pub const CMP_EQ: u32 = 0;
/// `a < b` (floats: false when either is NaN).
pub const CMP_LT: u32 = 1;
/// `a <= b` (floats: false when either is NaN).
pub const CMP_LE: u32 = 2;
/// `a > b` (floats: false when either is NaN).
pub const CMP_GT: u32 = 3;
/// `a >= b` (floats: false when either is NaN).
pub const CMP_GE: u32 = 4;
/// `a && b`, bool inputs only.
pub const LOGIC_AND: u32 = 5;
/// `a || b`, bool inputs only.
pub const LOGIC_OR: u32 = 6;
/// `a != b` (exclusive or), bool inputs only.
pub const LOGIC_XOR: u32 = 7;
/// Largest valid compare op code.
pub const COMPARE_LAST: u32 = LOGIC_XOR;

kernel_params! {
/// Broadcast comparison or logic op `y[idx] = op(a[idx], b[idx])` over the output `shape`,
/// `#[repr(C)]`. Strides are in elements of each tensor's own type (`y` is bool, one byte);
/// broadcast input axes have stride 0. For 1-byte input dtypes (`DT_U8`, `DT_BOOL`) `y` may be
/// the same tensor as `a` or `b` (identical pointer and strides); otherwise it must not overlap
/// them.
#[derive(Clone, Copy, Debug)]
pub struct CompareParams {
    /// One of the `CMP_*` / `LOGIC_*` codes.
    pub op: u32,
    /// Input dtype (both inputs): for `CMP_*` one of [`DT_F32`], [`DT_F64`],
    /// [`DT_I32`], [`DT_I64`], [`DT_U8`],
    /// [`DT_BOOL`]; for `LOGIC_*` only `DT_BOOL` (bytes 0 or 1).
    pub dtype: u32,
    /// Number of axes (`<= MAX_RANK`).
    pub rank: usize,
    /// Output shape.
    pub shape: [usize; MAX_RANK],
    /// First operand origin.
    pub a: *const u8,
    /// First operand strides (elements).
    pub a_strides: [isize; MAX_RANK],
    /// Second operand origin.
    pub b: *const u8,
    /// Second operand strides (elements).
    pub b_strides: [isize; MAX_RANK],
    /// Output origin (bool bytes).
    pub y: *mut u8,
    /// Output strides (bytes = elements).
    pub y_strides: [isize; MAX_RANK],
}
}

/// Whether `op` is defined for input `dtype`.
fn supported(op: u32, dtype: u32) -> bool {
    match op {
        CMP_EQ..=CMP_GE => matches!(dtype, DT_F32 | DT_F64 | DT_I32 | DT_I64 | DT_U8 | DT_BOOL),
        LOGIC_AND..=LOGIC_XOR => dtype == DT_BOOL,
        _ => false,
    }
}

/// Bytes per input element of a supported dtype.
fn in_bytes(dtype: u32) -> isize {
    match dtype {
        DT_F32 | DT_I32 => 4,
        DT_F64 | DT_I64 => 8,
        _ => 1,
    }
}

/// Compare entry point for generated code.
///
/// # Safety
/// `p` points to a valid [`CompareParams`]; every addressed element is inside its tensor and
/// aligned for its type; bool inputs hold 0 or 1. An unsupported `op`/`dtype` pair or rank
/// aborts.
#[no_mangle]
pub unsafe extern "C" fn bqml_compare(p: *const CompareParams) {
    // SAFETY: the caller guarantees `p` points to a valid CompareParams.
    let p = unsafe { &*p };
    if !supported(p.op, p.dtype) || p.rank > MAX_RANK {
        abort_bad_params(format_args!(
            "bqml_compare: op {} dtype {} rank {}",
            p.op, p.dtype, p.rank
        ));
    }
    // SAFETY: forwarded caller contract.
    unsafe { compare_raw(detected(), p) }
}

/// The axis [`bqml_compare_rows`] splits and its extent (as [`super::copy_split_axis`]).
pub fn compare_split_axis(p: &CompareParams) -> Option<(usize, usize)> {
    split_axis(
        p.rank,
        &p.shape,
        &p.y_strides,
        &[&p.a_strides, &p.b_strides],
    )
}

/// Compare entry point for generated code that splits one op between threads: indices
/// `[start, end)` of the axis [`compare_split_axis`] picks (which must be `Some`).
///
/// # Safety
/// As [`bqml_compare`]; concurrent calls on the same `p` must take disjoint ranges.
#[no_mangle]
pub unsafe extern "C" fn bqml_compare_rows(p: *const CompareParams, start: usize, end: usize) {
    // SAFETY: the caller guarantees `p` points to a valid CompareParams.
    let p = unsafe { &*p };
    if !supported(p.op, p.dtype) || p.rank > MAX_RANK {
        abort_bad_params(format_args!(
            "bqml_compare_rows: op {} dtype {} rank {}",
            p.op, p.dtype, p.rank
        ));
    }
    let Some((axis, n)) = compare_split_axis(p) else {
        abort_bad_params(format_args!("bqml_compare_rows: no axis to split"));
    };
    let end = end.min(n);
    if start >= end {
        return;
    }
    let es = in_bytes(p.dtype);
    let at = |origin: *const u8, strides: &[isize; MAX_RANK], es: isize| {
        origin.wrapping_offset(start as isize * strides[axis] * es)
    };
    let mut part = *p;
    part.shape[axis] = end - start;
    part.a = at(p.a, &p.a_strides, es);
    part.b = at(p.b, &p.b_strides, es);
    part.y = at(p.y, &p.y_strides, 1).cast_mut();
    // SAFETY: index `start` of the split axis is inside the op, so the part's origins and
    // elements are a subset of the whole op's; forwarded caller contract.
    unsafe { compare_raw(detected(), &part) }
}

/// Safe wrapper: `y[idx] = op(a[idx], b[idx])` for every `idx < shape`. `T` is `f32`, `f64`,
/// `i32`, `i64`, `u8` or `bool` for `CMP_*`, and `bool` for `LOGIC_*`.
pub fn compare<T: Element>(
    isa: Isa,
    op: u32,
    shape: &[usize],
    a: Strided<'_, T>,
    b: Strided<'_, T>,
    mut y: StridedMut<'_, bool>,
) -> Result<(), KernelError> {
    if !supported(op, T::DTYPE) {
        return Err(KernelError::new(format!(
            "compare: op {op} unsupported for dtype {}",
            T::DTYPE
        )));
    }
    a.check(shape, "compare a")?;
    b.check(shape, "compare b")?;
    y.check(shape, "compare y")?;
    let p = CompareParams {
        op,
        dtype: T::DTYPE,
        rank: shape.len(),
        shape: shape_array(shape),
        a: a.origin() as *const u8,
        a_strides: a.strides,
        b: b.origin() as *const u8,
        b_strides: b.strides,
        y: y.origin() as *mut u8,
        y_strides: y.strides,
    };
    // SAFETY: extents checked; the element types match `dtype` (bool slices hold 0 or 1 and
    // the kernel writes only 0 or 1 into `y`); `y` is a distinct mutable borrow.
    unsafe { compare_raw(isa.or_portable(), &p) };
    Ok(())
}

/// # Safety
/// As [`bqml_compare`], with a supported op/dtype and runnable `isa`.
pub(crate) unsafe fn compare_raw(isa: Isa, p: &CompareParams) {
    let mut shape = p.shape;
    let mut strides = [p.a_strides, p.b_strides, p.y_strides];
    let Some(rank) = normalize(p.rank, &mut shape, &mut strides) else {
        return;
    };
    let last = rank.max(1) - 1;
    let inner = [strides[0][last], strides[1][last], strides[2][last]];
    let es = in_bytes(p.dtype);
    for_each_run(rank, &shape, &strides, |[oa, ob, oy], n| {
        let run = Run {
            a: p.a.wrapping_offset(oa * es),
            sa: inner[0],
            b: p.b.wrapping_offset(ob * es),
            sb: inner[1],
            y: p.y.wrapping_offset(oy),
            sy: inner[2],
            n,
        };
        // SAFETY: the run's elements are addressed by the caller's shape and strides.
        unsafe { run_isa(isa, p.op, p.dtype, &run) }
    });
}

/// One innermost-axis run: `n` elements at strides `sa`, `sb` (input elements) and `sy`
/// (bytes).
struct Run {
    a: *const u8,
    sa: isize,
    b: *const u8,
    sb: isize,
    y: *mut u8,
    sy: isize,
    n: usize,
}

/// Monomorphised loop over one run, writing `f(a, b)` as a 0/1 byte. The unit-stride and
/// broadcast-scalar cases are separate loops so the compiler vectorises them.
///
/// # Safety
/// The run's elements are valid and aligned for `T`.
#[inline(always)]
unsafe fn run_with<T: Copy>(r: &Run, f: impl Fn(T, T) -> bool) {
    let (a, b, y, n) = (r.a as *const T, r.b as *const T, r.y, r.n);
    // SAFETY: in every loop `i < n` and every element of the run is valid; each output byte
    // depends only on the inputs at the same index, so in-place aliasing is harmless.
    unsafe {
        match (r.sa, r.sb, r.sy) {
            (1, 1, 1) => {
                for i in 0..n {
                    *y.add(i) = f(*a.add(i), *b.add(i)) as u8;
                }
            }
            (1, 0, 1) => {
                let bv = *b;
                for i in 0..n {
                    *y.add(i) = f(*a.add(i), bv) as u8;
                }
            }
            (0, 1, 1) => {
                let av = *a;
                for i in 0..n {
                    *y.add(i) = f(av, *b.add(i)) as u8;
                }
            }
            (sa, sb, sy) => {
                for i in 0..n as isize {
                    *y.offset(i * sy) = f(*a.offset(i * sa), *b.offset(i * sb)) as u8;
                }
            }
        }
    }
}

/// Dispatch a run on `dtype` and `op` so each pair gets its own loop.
///
/// # Safety
/// The run's elements are valid; `op`/`dtype` supported.
#[inline(always)]
unsafe fn run_generic(op: u32, dtype: u32, r: &Run) {
    macro_rules! cmp {
        ($t:ty) => {
            match op {
                CMP_EQ => run_with::<$t>(r, |a, b| a == b),
                CMP_LT => run_with::<$t>(r, |a, b| a < b),
                CMP_LE => run_with::<$t>(r, |a, b| a <= b),
                CMP_GT => run_with::<$t>(r, |a, b| a > b),
                _ => run_with::<$t>(r, |a, b| a >= b),
            }
        };
    }
    // SAFETY: forwarded; the element type matches `dtype` (bool bytes are compared as u8,
    // which orders 0 < 1 like false < true).
    unsafe {
        match (dtype, op) {
            (DT_F32, _) => cmp!(f32),
            (DT_F64, _) => cmp!(f64),
            (DT_I32, _) => cmp!(i32),
            (DT_I64, _) => cmp!(i64),
            (_, LOGIC_AND) => run_with::<u8>(r, |a, b| (a != 0) & (b != 0)),
            (_, LOGIC_OR) => run_with::<u8>(r, |a, b| (a != 0) | (b != 0)),
            (_, LOGIC_XOR) => run_with::<u8>(r, |a, b| (a != 0) ^ (b != 0)),
            _ => cmp!(u8),
        }
    }
}

/// [`run_generic`] compiled with AVX2 enabled so its loops vectorise 32 bytes wide.
///
/// # Safety
/// As [`run_generic`]; AVX2+FMA available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2(op: u32, dtype: u32, r: &Run) {
    // SAFETY: forwarded.
    unsafe { run_generic(op, dtype, r) }
}

/// # Safety
/// As [`run_generic`]; `isa` runnable.
unsafe fn run_isa(isa: Isa, op: u32, dtype: u32, r: &Run) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: forwarded; AVX2 availability is the caller's guarantee (implied by AVX-512).
        Isa::Avx2Fma | Isa::Avx512 => unsafe { run_avx2(op, dtype, r) },
        // SAFETY: forwarded.
        _ => unsafe { run_generic(op, dtype, r) },
    }
}

/// Scalar reference: full index-space loop.
pub mod reference {
    use super::super::common::MAX_RANK;

    /// `y[yo + Σ idx·ys] = f(a[..], b[..])` for every index of `shape`.
    #[allow(clippy::too_many_arguments)]
    pub fn compare<T: Copy>(
        shape: &[usize],
        f: impl Fn(T, T) -> bool,
        a: &[T],
        ao: usize,
        as_: &[isize; MAX_RANK],
        b: &[T],
        bo: usize,
        bs: &[isize; MAX_RANK],
        y: &mut [bool],
        yo: usize,
        ys: &[isize; MAX_RANK],
    ) {
        let total: usize = shape.iter().product();
        for flat in 0..total {
            let mut rem = flat;
            let (mut ia, mut ib, mut iy) = (ao as isize, bo as isize, yo as isize);
            for ax in (0..shape.len()).rev() {
                let i = (rem % shape[ax]) as isize;
                rem /= shape[ax];
                ia += i * as_[ax];
                ib += i * bs[ax];
                iy += i * ys[ax];
            }
            y[iy as usize] = f(a[ia as usize], b[ib as usize]);
        }
    }

    /// The op's definition through `partial_cmp` (`None`, i.e. a NaN operand, is false for
    /// every comparison) and Rust's bool operators.
    pub fn op<T: PartialOrd + Copy>(op: u32, a: T, b: T) -> bool {
        use std::cmp::Ordering::*;
        let ord = a.partial_cmp(&b);
        match op {
            super::CMP_EQ => ord == Some(Equal),
            super::CMP_LT => ord == Some(Less),
            super::CMP_LE => matches!(ord, Some(Less | Equal)),
            super::CMP_GT => ord == Some(Greater),
            super::CMP_GE => matches!(ord, Some(Greater | Equal)),
            _ => panic!("not a comparison: {op}"),
        }
    }

    /// Boolean logic ops.
    pub fn logic(op: u32, a: bool, b: bool) -> bool {
        match op {
            super::LOGIC_AND => a && b,
            super::LOGIC_OR => a || b,
            super::LOGIC_XOR => a != b,
            _ => panic!("not a logic op: {op}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::contiguous_strides;
    use super::*;
    use proptest::prelude::*;

    /// Output shape plus, per input, which axes are broadcast (stored with extent 1) and
    /// whether the input is stored transposed (reversed axis order).
    #[derive(Clone, Debug)]
    struct Case {
        shape: Vec<usize>,
        a_bcast: Vec<bool>,
        b_bcast: Vec<bool>,
        a_rev: bool,
        y_neg: bool,
    }

    fn case() -> impl Strategy<Value = Case> {
        (0usize..=4)
            .prop_flat_map(|r| {
                (
                    proptest::collection::vec(1usize..=9, r),
                    proptest::collection::vec(proptest::bool::weighted(0.3), r),
                    proptest::collection::vec(proptest::bool::weighted(0.3), r),
                    any::<bool>(),
                    proptest::bool::weighted(0.2),
                )
            })
            .prop_map(|(shape, a_bcast, b_bcast, a_rev, y_neg)| Case {
                shape,
                a_bcast,
                b_bcast,
                a_rev,
                y_neg,
            })
    }

    /// Storage of an input with broadcast axes collapsed, strides (0 on broadcast axes).
    fn input_layout(shape: &[usize], bcast: &[bool], rev: bool) -> ([isize; MAX_RANK], usize) {
        let stored: Vec<usize> = shape
            .iter()
            .zip(bcast)
            .map(|(&n, &b)| if b { 1 } else { n })
            .collect();
        let mut strides = if rev {
            let rs: Vec<usize> = stored.iter().rev().copied().collect();
            let c = contiguous_strides(&rs);
            let mut s = [0; MAX_RANK];
            for i in 0..stored.len() {
                s[i] = c[stored.len() - 1 - i];
            }
            s
        } else {
            contiguous_strides(&stored)
        };
        for (i, &b) in bcast.iter().enumerate() {
            if b {
                strides[i] = 0;
            }
        }
        (strides, stored.iter().product())
    }

    /// Run `op` on generated inputs through the safe wrapper (every ISA) and the splitting
    /// entry point (1, 2 and 3 parts), and compare with the reference `f`.
    fn check<T: Element>(
        c: &Case,
        op: u32,
        gen: impl Fn(usize, bool) -> T,
        f: impl Fn(T, T) -> bool + Copy,
    ) {
        let (as_, alen) = input_layout(&c.shape, &c.a_bcast, c.a_rev);
        let (bs, blen) = input_layout(&c.shape, &c.b_bcast, false);
        let a: Vec<T> = (0..alen).map(|i| gen(i, true)).collect();
        let b: Vec<T> = (0..blen).map(|i| gen(i, false)).collect();
        let n: usize = c.shape.iter().product();
        let mut ys = contiguous_strides(&c.shape);
        let mut yo = 0;
        if c.y_neg && !c.shape.is_empty() {
            // Write the output with its first axis reversed.
            ys[0] = -ys[0];
            yo = (c.shape[0] - 1) * (-ys[0]) as usize;
        }
        let mut want = vec![false; n];
        reference::compare(&c.shape, f, &a, 0, &as_, &b, 0, &bs, &mut want, yo, &ys);
        for isa in Isa::all_available() {
            // Start from the wrong answers so unwritten elements show up.
            let mut got: Vec<bool> = want.iter().map(|&w| !w).collect();
            compare(
                isa,
                op,
                &c.shape,
                Strided {
                    data: &a,
                    offset: 0,
                    strides: as_,
                },
                Strided {
                    data: &b,
                    offset: 0,
                    strides: bs,
                },
                StridedMut {
                    data: &mut got,
                    offset: yo,
                    strides: ys,
                },
            )
            .unwrap();
            assert_eq!(got, want, "op {op} dtype {} {isa:?} {c:?}", T::DTYPE);
        }
        let r = c.shape.len();
        let mut p = CompareParams {
            op,
            dtype: T::DTYPE,
            rank: r,
            shape: [1; MAX_RANK],
            a: a.as_ptr().cast(),
            a_strides: as_,
            b: b.as_ptr().cast(),
            b_strides: bs,
            y: std::ptr::null_mut(),
            y_strides: ys,
        };
        p.shape[..r].copy_from_slice(&c.shape);
        let Some((axis, rows)) = compare_split_axis(&p) else {
            assert!(c.shape.iter().all(|&e| e <= 1), "{c:?}");
            return;
        };
        let want: Vec<u8> = want.iter().map(|&w| w as u8).collect();
        for parts in [1, 2, 3] {
            let mut got = vec![7u8; n];
            p.y = got[yo..].as_mut_ptr();
            for i in 0..parts {
                // SAFETY: the params describe `a`, `b` and `got` as the safe call did; the
                // parts are disjoint and run one after another.
                unsafe { bqml_compare_rows(&p, rows * i / parts, rows * (i + 1) / parts) };
            }
            assert_eq!(
                got,
                want,
                "op {op} dtype {} {c:?} {parts} parts on axis {axis}",
                T::DTYPE
            );
        }
    }

    /// A hash of an element's index, the seed and the operand.
    fn h(i: usize, first: bool, seed: u32) -> u64 {
        (i as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(seed as u64 * 2 + first as u64)
            .wrapping_mul(0xD6E8_FEB8_6659_FD93)
            >> 17
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Every comparison on every dtype; small value ranges so equal pairs are common.
        #[test]
        fn comparisons_match_reference(
            c in case(),
            op in CMP_EQ..=CMP_GE,
            seed in any::<u32>(),
        ) {
            let f32_gen = |i: usize, first: bool| {
                let h = h(i, first, seed);
                match h % 23 {
                    0 => f32::NAN,
                    1 => f32::INFINITY,
                    2 => f32::NEG_INFINITY,
                    3 => -0.0,
                    _ => (h % 9) as f32 * 0.5 - 2.0,
                }
            };
            check(&c, op, f32_gen, move |a, b| reference::op(op, a, b));
            check(&c, op, |i, first| f32_gen(i, first) as f64, move |a, b| reference::op(op, a, b));
            let i64_gen = |i: usize, first: bool| {
                let h = h(i, first, seed);
                match h % 17 { 0 => i64::MIN, 1 => i64::MAX, _ => (h % 7) as i64 - 3 }
            };
            check(&c, op, i64_gen, move |a, b| reference::op(op, a, b));
            let i32_gen = |i: usize, first: bool| {
                let h = h(i, first, seed);
                match h % 17 { 0 => i32::MIN, 1 => i32::MAX, _ => (h % 7) as i32 - 3 }
            };
            check(&c, op, i32_gen, move |a, b| reference::op(op, a, b));
            let u8_gen = |i: usize, first: bool| {
                let h = h(i, first, seed);
                match h % 11 { 0 => 255, 1 => 128, _ => (h % 5) as u8 }
            };
            check(&c, op, u8_gen, move |a, b| reference::op(op, a, b));
            let bool_gen = |i: usize, first: bool| h(i, first, seed) % 2 == 1;
            check(&c, op, bool_gen, move |a, b| reference::op(op, a, b));
        }

        #[test]
        fn logic_matches_reference(
            c in case(),
            op in LOGIC_AND..=LOGIC_XOR,
            seed in any::<u32>(),
        ) {
            let gen = |i: usize, first: bool| !h(i, first, seed).is_multiple_of(3);
            check(&c, op, gen, move |a, b| reference::logic(op, a, b));
        }
    }

    #[test]
    fn nan_compares_false() {
        let a = [f32::NAN, 1.0, f32::NAN, -0.0];
        let b = [1.0, f32::NAN, f32::NAN, 0.0];
        for isa in Isa::all_available() {
            for (op, want) in [
                (CMP_EQ, [false, false, false, true]),
                (CMP_LT, [false; 4]),
                (CMP_LE, [false, false, false, true]),
                (CMP_GT, [false; 4]),
                (CMP_GE, [false, false, false, true]),
            ] {
                let mut y = [true; 4];
                compare(
                    isa,
                    op,
                    &[4],
                    Strided::contiguous(&a, &[4]),
                    Strided::contiguous(&b, &[4]),
                    StridedMut::contiguous(&mut y, &[4]),
                )
                .unwrap();
                assert_eq!(y, want, "op {op} {isa:?}");
            }
        }
    }

    #[test]
    fn rejects_unsupported_and_out_of_bounds() {
        let f = [1f32; 4];
        let mut y = [false; 4];
        for op in [LOGIC_AND, LOGIC_OR, LOGIC_XOR, COMPARE_LAST + 1] {
            let e = compare(
                Isa::Portable,
                op,
                &[4],
                Strided::contiguous(&f, &[4]),
                Strided::contiguous(&f, &[4]),
                StridedMut::contiguous(&mut y, &[4]),
            );
            assert!(e.is_err(), "op {op}");
        }
        let e = compare(
            Isa::Portable,
            CMP_EQ,
            &[5],
            Strided::contiguous(&f, &[5]),
            Strided {
                data: &f,
                offset: 0,
                strides: [0; MAX_RANK],
            },
            StridedMut::contiguous(&mut y, &[4]),
        );
        assert!(e.is_err());
    }

    /// The `extern "C"` symbol, called as generated code does: `[3, 4] < [4]` on i64, and an
    /// in-place bool Xor.
    #[test]
    fn entry_point() {
        let a: Vec<i64> = (0..12).collect();
        let b = [5i64, 0, 11, 2];
        let mut y = [7u8; 12];
        let p = CompareParams {
            op: CMP_LT,
            dtype: DT_I64,
            rank: 2,
            shape: [3, 4, 1, 1, 1, 1],
            a: a.as_ptr().cast(),
            a_strides: [4, 1, 0, 0, 0, 0],
            b: b.as_ptr().cast(),
            b_strides: [0, 1, 0, 0, 0, 0],
            y: y.as_mut_ptr(),
            y_strides: [4, 1, 0, 0, 0, 0],
        };
        // SAFETY: every addressed element is inside `a`, `b` and `y`.
        unsafe { bqml_compare(&p) };
        let want: Vec<u8> = (0..12).map(|i| (a[i] < b[i % 4]) as u8).collect();
        assert_eq!(y.to_vec(), want);

        let mut x = [0u8, 1, 1, 0];
        let m = [1u8, 1, 0, 0];
        let p = CompareParams {
            op: LOGIC_XOR,
            dtype: DT_BOOL,
            rank: 1,
            shape: [4, 1, 1, 1, 1, 1],
            a: x.as_ptr(),
            a_strides: [1, 0, 0, 0, 0, 0],
            b: m.as_ptr(),
            b_strides: [1, 0, 0, 0, 0, 0],
            y: x.as_mut_ptr(),
            y_strides: [1, 0, 0, 0, 0, 0],
        };
        // SAFETY: 4 bytes each; `y` is identical to `a`, which 1-byte dtypes allow.
        unsafe { bqml_compare(&p) };
        assert_eq!(x, [1, 0, 1, 0]);
    }
}
