//! Elementwise binary ops with numpy broadcasting (0 strides), f32, i64 and i32.

use super::cast::DT_I32;
use super::common::{
    abort_bad_params, detected, for_each_run, normalize, shape_array, split_axis, Element, Strided,
    StridedMut, DT_F32, DT_I64, MAX_RANK,
};
use crate::error::KernelError;
use crate::isa::Isa;
use crate::params::kernel_params;

/// `a + b` (integers: wrapping).
pub const BINARY_ADD: u32 = 0;
/// `a - b` (integers: wrapping).
pub const BINARY_SUB: u32 = 1;
/// `a · b` (integers: wrapping).
pub const BINARY_MUL: u32 = 2;
/// `a / b` (integers: truncating; division by zero gives 0, `MIN / -1` wraps to `MIN`).
pub const BINARY_DIV: u32 = 3;
/// `a ^ b` (f32: C `pow`; i64: wrapping, negative exponents truncate toward 0; not i32).
pub const BINARY_POW: u32 = 4;
/// `max(a, b)` (f32: NaN propagates).
pub const BINARY_MAX: u32 = 5;
/// `min(a, b)` (f32: NaN propagates).
pub const BINARY_MIN: u32 = 6;
/// PRelu, f32 only: `a` if `a >= 0` else `a · b` (`b` is the slope).
pub const BINARY_PRELU: u32 = 7;
/// Integer remainder with the sign of the divisor (Python `%`, ONNX `Mod` with `fmod = 0`);
/// integers only. Division by zero gives 0; `MIN % -1` is 0.
pub const BINARY_MOD: u32 = 8;
/// Truncated remainder with the sign of the dividend (C `fmod`, ONNX `Mod` with `fmod = 1`):
/// f32 as Rust `%` (NaN for a zero divisor); integers as `wrapping_rem`, division by zero
/// gives 0.
pub const BINARY_FMOD: u32 = 9;
/// Largest valid binary op code.
pub const BINARY_LAST: u32 = BINARY_FMOD;

kernel_params! {
/// Broadcast binary op `y[idx] = op(a[idx], b[idx])` over the output `shape`, `#[repr(C)]`.
/// Strides are in elements; broadcast input axes have stride 0. `y` may be the same tensor as `a`
/// or `b` (identical pointer and strides); otherwise it must not overlap them.
#[derive(Clone, Copy, Debug)]
pub struct BinaryParams {
    /// One of the `BINARY_*` codes.
    pub op: u32,
    /// [`DT_F32`], [`DT_I64`] or [`DT_I32`] (all three tensors).
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
    /// Second operand strides.
    pub b_strides: [isize; MAX_RANK],
    /// Output origin.
    pub y: *mut u8,
    /// Output strides.
    pub y_strides: [isize; MAX_RANK],
}
}

/// Which op codes each dtype supports: f32 everything but Mod; i64 everything but PRelu;
/// i32 everything but Pow and PRelu.
fn supported(op: u32, dtype: u32) -> bool {
    match dtype {
        DT_F32 => op <= BINARY_PRELU || op == BINARY_FMOD,
        DT_I64 => op <= BINARY_MIN || op == BINARY_MOD || op == BINARY_FMOD,
        DT_I32 => op <= BINARY_LAST && op != BINARY_POW && op != BINARY_PRELU,
        _ => false,
    }
}

/// Bytes per element of a supported dtype.
fn elem_bytes(dtype: u32) -> isize {
    if dtype == DT_I64 {
        8
    } else {
        4
    }
}

/// Binary entry point for generated code.
///
/// # Safety
/// `p` points to a valid [`BinaryParams`]; every addressed element is inside its tensor. An
/// unsupported `op`/`dtype` pair or rank aborts.
#[no_mangle]
pub unsafe extern "C" fn bqml_binary(p: *const BinaryParams) {
    // SAFETY: the caller guarantees `p` points to a valid BinaryParams.
    let p = unsafe { &*p };
    if !supported(p.op, p.dtype) || p.rank > MAX_RANK {
        abort_bad_params(format_args!(
            "bqml_binary: op {} dtype {} rank {}",
            p.op, p.dtype, p.rank
        ));
    }
    // SAFETY: forwarded caller contract.
    unsafe { binary_raw(detected(), p) }
}

/// The axis [`bqml_binary_rows`] splits and its extent (as [`super::copy_split_axis`]).
pub fn binary_split_axis(p: &BinaryParams) -> Option<(usize, usize)> {
    split_axis(
        p.rank,
        &p.shape,
        &p.y_strides,
        &[&p.a_strides, &p.b_strides],
    )
}

/// Binary entry point for generated code that splits one op between threads: indices
/// `[start, end)` of the axis [`binary_split_axis`] picks (which must be `Some`).
///
/// # Safety
/// As [`bqml_binary`]; concurrent calls on the same `p` must take disjoint ranges.
#[no_mangle]
pub unsafe extern "C" fn bqml_binary_rows(p: *const BinaryParams, start: usize, end: usize) {
    // SAFETY: the caller guarantees `p` points to a valid BinaryParams.
    let p = unsafe { &*p };
    if !supported(p.op, p.dtype) || p.rank > MAX_RANK {
        abort_bad_params(format_args!(
            "bqml_binary_rows: op {} dtype {} rank {}",
            p.op, p.dtype, p.rank
        ));
    }
    let Some((axis, n)) = binary_split_axis(p) else {
        abort_bad_params(format_args!("bqml_binary_rows: no axis to split"));
    };
    let end = end.min(n);
    if start >= end {
        return;
    }
    let es = elem_bytes(p.dtype);
    let at = |origin: *const u8, strides: &[isize; MAX_RANK]| {
        origin.wrapping_offset(start as isize * strides[axis] * es)
    };
    let mut part = *p;
    part.shape[axis] = end - start;
    part.a = at(p.a, &p.a_strides);
    part.b = at(p.b, &p.b_strides);
    part.y = at(p.y, &p.y_strides).cast_mut();
    // SAFETY: index `start` of the split axis is inside the op, so the part's origins and
    // elements are a subset of the whole op's; forwarded caller contract.
    unsafe { binary_raw(detected(), &part) }
}

/// Safe wrapper: `y[idx] = op(a[idx], b[idx])` for every `idx < shape`.
pub fn binary<T: Element>(
    isa: Isa,
    op: u32,
    shape: &[usize],
    a: Strided<'_, T>,
    b: Strided<'_, T>,
    mut y: StridedMut<'_, T>,
) -> Result<(), KernelError> {
    if !supported(op, T::DTYPE) {
        return Err(KernelError::new(format!(
            "binary: op {op} unsupported for dtype {}",
            T::DTYPE
        )));
    }
    a.check(shape, "binary a")?;
    b.check(shape, "binary b")?;
    y.check(shape, "binary y")?;
    let p = BinaryParams {
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
    // SAFETY: extents checked; `y` is a distinct mutable borrow.
    unsafe { binary_raw(isa.or_portable(), &p) };
    Ok(())
}

/// # Safety
/// As [`bqml_binary`], with a supported op/dtype and runnable `isa`.
pub(crate) unsafe fn binary_raw(isa: Isa, p: &BinaryParams) {
    let mut shape = p.shape;
    let mut strides = [p.a_strides, p.b_strides, p.y_strides];
    let Some(rank) = normalize(p.rank, &mut shape, &mut strides) else {
        return;
    };
    let last = rank.max(1) - 1;
    let inner = [strides[0][last], strides[1][last], strides[2][last]];
    let es = elem_bytes(p.dtype);
    for_each_run(rank, &shape, &strides, |[oa, ob, oy], n| {
        let run = Run {
            a: p.a.wrapping_offset(oa * es),
            sa: inner[0],
            b: p.b.wrapping_offset(ob * es),
            sb: inner[1],
            y: p.y.wrapping_offset(oy * es),
            sy: inner[2],
            n,
        };
        // SAFETY: the run's elements are addressed by the caller's shape and strides.
        unsafe {
            match p.dtype {
                DT_F32 => f32_run(isa, p.op, &run),
                DT_I64 => i64_run(isa, p.op, &run),
                _ => i32_run(isa, p.op, &run),
            }
        }
    });
}

/// One innermost-axis run: `n` elements at strides `sa`, `sb`, `sy`.
struct Run {
    a: *const u8,
    sa: isize,
    b: *const u8,
    sb: isize,
    y: *mut u8,
    sy: isize,
    n: usize,
}

/// NaN-propagating max: the comparison is false when either side is NaN.
#[inline(always)]
fn fmax(a: f32, b: f32) -> f32 {
    if a.is_nan() || a > b {
        a
    } else {
        b
    }
}

#[inline(always)]
fn fmin(a: f32, b: f32) -> f32 {
    if a.is_nan() || a < b {
        a
    } else {
        b
    }
}

/// Integer power by squaring, wrapping; a negative exponent truncates `1 / a^-b` toward 0.
#[inline]
fn ipow(a: i64, b: i64) -> i64 {
    if b < 0 {
        return match a {
            1 => 1,
            -1 => {
                if b % 2 == 0 {
                    1
                } else {
                    -1
                }
            }
            _ => 0,
        };
    }
    let (mut base, mut e, mut acc) = (a, b as u64, 1i64);
    while e > 0 {
        if e & 1 == 1 {
            acc = acc.wrapping_mul(base);
        }
        base = base.wrapping_mul(base);
        e >>= 1;
    }
    acc
}

/// Scalar definition of each op, shared by the kernels and the reference.
pub mod scalar {
    use super::*;

    /// f32 `op(a, b)`.
    #[inline(always)]
    pub fn f32_op(op: u32, a: f32, b: f32) -> f32 {
        match op {
            BINARY_ADD => a + b,
            BINARY_SUB => a - b,
            BINARY_MUL => a * b,
            BINARY_DIV => a / b,
            BINARY_POW => a.powf(b),
            BINARY_MAX => fmax(a, b),
            BINARY_MIN => fmin(a, b),
            BINARY_FMOD => a % b,
            _ => {
                if a < 0.0 {
                    a * b
                } else {
                    a
                }
            }
        }
    }

    /// i64 `op(a, b)`.
    #[inline(always)]
    pub fn i64_op(op: u32, a: i64, b: i64) -> i64 {
        match op {
            BINARY_ADD => a.wrapping_add(b),
            BINARY_SUB => a.wrapping_sub(b),
            BINARY_MUL => a.wrapping_mul(b),
            BINARY_DIV => {
                if b == 0 {
                    0
                } else {
                    a.wrapping_div(b)
                }
            }
            BINARY_POW => ipow(a, b),
            BINARY_MAX => a.max(b),
            BINARY_MOD => {
                if b == 0 {
                    0
                } else {
                    let r = a.wrapping_rem(b);
                    if r != 0 && (r < 0) != (b < 0) {
                        r + b
                    } else {
                        r
                    }
                }
            }
            BINARY_FMOD => {
                if b == 0 {
                    0
                } else {
                    a.wrapping_rem(b)
                }
            }
            _ => a.min(b),
        }
    }

    /// i32 `op(a, b)` (not Pow or PRelu).
    #[inline(always)]
    pub fn i32_op(op: u32, a: i32, b: i32) -> i32 {
        match op {
            BINARY_ADD => a.wrapping_add(b),
            BINARY_SUB => a.wrapping_sub(b),
            BINARY_MUL => a.wrapping_mul(b),
            BINARY_DIV => {
                if b == 0 {
                    0
                } else {
                    a.wrapping_div(b)
                }
            }
            BINARY_MAX => a.max(b),
            BINARY_MOD => {
                if b == 0 {
                    0
                } else {
                    let r = a.wrapping_rem(b);
                    if r != 0 && (r < 0) != (b < 0) {
                        r + b
                    } else {
                        r
                    }
                }
            }
            BINARY_FMOD => {
                if b == 0 {
                    0
                } else {
                    a.wrapping_rem(b)
                }
            }
            _ => a.min(b),
        }
    }
}

/// Monomorphised loop over one run. The unit-stride / broadcast-scalar cases are separate loops
/// so the compiler vectorises them (with AVX2 when inlined into the `avx2` wrappers).
///
/// # Safety
/// The run's elements are valid.
#[inline(always)]
unsafe fn run_with<T: Copy>(r: &Run, f: impl Fn(T, T) -> T) {
    let (a, b, y, n) = (r.a as *const T, r.b as *const T, r.y as *mut T, r.n);
    // SAFETY: in every loop `i < n` and every element of the run is valid; each output element
    // depends only on the inputs at the same index, so in-place aliasing is harmless.
    unsafe {
        match (r.sa, r.sb, r.sy) {
            (1, 1, 1) => {
                for i in 0..n {
                    *y.add(i) = f(*a.add(i), *b.add(i));
                }
            }
            (1, 0, 1) => {
                let bv = *b;
                for i in 0..n {
                    *y.add(i) = f(*a.add(i), bv);
                }
            }
            (0, 1, 1) => {
                let av = *a;
                for i in 0..n {
                    *y.add(i) = f(av, *b.add(i));
                }
            }
            (sa, sb, sy) => {
                for i in 0..n as isize {
                    *y.offset(i * sy) = f(*a.offset(i * sa), *b.offset(i * sb));
                }
            }
        }
    }
}

/// Dispatch a run on `op` so each op gets its own loop.
macro_rules! dispatch {
    ($ty:ty, $op:expr, $run:expr, $scalar:path, [$($code:ident),*]) => {
        match $op {
            $($code => run_with::<$ty>($run, |a, b| $scalar($code, a, b)),)*
            _ => {}
        }
    };
}

/// # Safety
/// The run's elements are valid.
#[inline(always)]
unsafe fn f32_run_generic(op: u32, r: &Run) {
    // SAFETY: forwarded.
    unsafe {
        dispatch!(
            f32,
            op,
            r,
            scalar::f32_op,
            [
                BINARY_ADD,
                BINARY_SUB,
                BINARY_MUL,
                BINARY_DIV,
                BINARY_POW,
                BINARY_MAX,
                BINARY_MIN,
                BINARY_PRELU,
                BINARY_FMOD
            ]
        )
    }
}

/// # Safety
/// The run's elements are valid.
#[inline(always)]
unsafe fn i64_run_generic(op: u32, r: &Run) {
    // SAFETY: forwarded.
    unsafe {
        dispatch!(
            i64,
            op,
            r,
            scalar::i64_op,
            [
                BINARY_ADD,
                BINARY_SUB,
                BINARY_MUL,
                BINARY_DIV,
                BINARY_POW,
                BINARY_MAX,
                BINARY_MIN,
                BINARY_MOD,
                BINARY_FMOD
            ]
        )
    }
}

/// # Safety
/// The run's elements are valid.
#[inline(always)]
unsafe fn i32_run_generic(op: u32, r: &Run) {
    // SAFETY: forwarded.
    unsafe {
        dispatch!(
            i32,
            op,
            r,
            scalar::i32_op,
            [
                BINARY_ADD,
                BINARY_SUB,
                BINARY_MUL,
                BINARY_DIV,
                BINARY_MAX,
                BINARY_MIN,
                BINARY_MOD,
                BINARY_FMOD
            ]
        )
    }
}

/// The generic loops compiled with AVX2+FMA enabled so they vectorise 8 lanes wide.
///
/// # Safety
/// The run's elements are valid; AVX2+FMA available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn f32_run_avx2(op: u32, r: &Run) {
    // SAFETY: forwarded.
    unsafe { f32_run_generic(op, r) }
}

/// # Safety
/// The run's elements are valid; AVX2+FMA available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn i64_run_avx2(op: u32, r: &Run) {
    // SAFETY: forwarded.
    unsafe { i64_run_generic(op, r) }
}

/// # Safety
/// The run's elements are valid; AVX2+FMA available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn i32_run_avx2(op: u32, r: &Run) {
    // SAFETY: forwarded.
    unsafe { i32_run_generic(op, r) }
}

/// # Safety
/// The run's elements are valid; `isa` runnable.
unsafe fn f32_run(isa: Isa, op: u32, r: &Run) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: forwarded; AVX2 availability is the caller's guarantee (implied by AVX-512).
        Isa::Avx2Fma | Isa::Avx512 => unsafe { f32_run_avx2(op, r) },
        // SAFETY: forwarded.
        _ => unsafe { f32_run_generic(op, r) },
    }
}

/// # Safety
/// The run's elements are valid; `isa` runnable.
unsafe fn i64_run(isa: Isa, op: u32, r: &Run) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: forwarded; AVX2 availability is the caller's guarantee (implied by AVX-512).
        Isa::Avx2Fma | Isa::Avx512 => unsafe { i64_run_avx2(op, r) },
        // SAFETY: forwarded.
        _ => unsafe { i64_run_generic(op, r) },
    }
}

/// # Safety
/// The run's elements are valid; `isa` runnable.
unsafe fn i32_run(isa: Isa, op: u32, r: &Run) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: forwarded; AVX2 availability is the caller's guarantee (implied by AVX-512).
        Isa::Avx2Fma | Isa::Avx512 => unsafe { i32_run_avx2(op, r) },
        // SAFETY: forwarded.
        _ => unsafe { i32_run_generic(op, r) },
    }
}

/// Scalar reference: full index-space loop.
pub mod reference {
    use super::super::common::MAX_RANK;

    /// `y[yo + Σ idx·ys] = f(a[..], b[..])` for every index of `shape`.
    #[allow(clippy::too_many_arguments)]
    pub fn binary<T: Copy>(
        shape: &[usize],
        f: impl Fn(T, T) -> T,
        a: &[T],
        ao: usize,
        as_: &[isize; MAX_RANK],
        b: &[T],
        bo: usize,
        bs: &[isize; MAX_RANK],
        y: &mut [T],
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

    fn check<T: Element>(
        c: &Case,
        op: u32,
        gen: impl Fn(usize, bool) -> T,
        same: impl Fn(T, T) -> bool,
        f: impl Fn(T, T) -> T + Copy,
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
        let mut want = vec![T::default(); n];
        reference::binary(&c.shape, f, &a, 0, &as_, &b, 0, &bs, &mut want, yo, &ys);
        for isa in Isa::all_available() {
            let mut got = vec![T::default(); n];
            binary(
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
            for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    same(g, w),
                    "op {op} {isa:?} {c:?} at {i}: got {g:?} want {w:?}"
                );
            }
        }
        // The splitting entry point, in 1, 2 and 3 parts along the axis it picks.
        let r = c.shape.len();
        let mut p = BinaryParams {
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
        let Some((axis, rows)) = binary_split_axis(&p) else {
            assert!(c.shape.iter().all(|&e| e <= 1), "{c:?}");
            return;
        };
        for parts in [1, 2, 3] {
            let mut got = vec![T::default(); n];
            p.y = got[yo..].as_mut_ptr().cast();
            for i in 0..parts {
                // SAFETY: the params describe `a`, `b` and `got` as the safe call did; the
                // parts are disjoint and run one after another.
                unsafe { bqml_binary_rows(&p, rows * i / parts, rows * (i + 1) / parts) };
            }
            for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    same(g, w),
                    "op {op} {c:?} {parts} parts on axis {axis} at {i}: got {g:?} want {w:?}"
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn f32_ops_match_reference(
            c in case(),
            op in prop::sample::select(F32_OPS.to_vec()),
            seed in any::<u32>(),
        ) {
            let gen = |i: usize, first: bool| {
                let h = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed ^ first as u32);
                let v = (h % 2001) as f32 / 100.0 - 10.0;
                // Sprinkle exact zeros and NaNs.
                match h % 97 { 0 => 0.0, 1 => f32::NAN, _ => v }
            };
            let same = |g: f32, w: f32| g == w || (g.is_nan() && w.is_nan());
            check(&c, op, gen, same, move |a, b| scalar::f32_op(op, a, b));
        }

        #[test]
        fn i64_ops_match_reference(
            c in case(),
            op in prop::sample::select(I64_OPS.to_vec()),
            seed in any::<u32>(),
        ) {
            let gen = |i: usize, first: bool| {
                let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(seed as u64 + first as u64);
                match h % 13 { 0 => 0, 1 => i64::MIN, 2 => -1, 3 => i64::MAX, _ => (h % 41) as i64 - 20 }
            };
            let f = move |a: i64, b: i64| match op {
                BINARY_POW => scalar::i64_op(op, a, b),
                _ => wide_int_op(op, a as i128, b as i128) as i64,
            };
            check(&c, op, gen, |g: i64, w| g == w, f);
        }

        #[test]
        fn i32_ops_match_reference(
            c in case(),
            op in prop::sample::select(I32_OPS.to_vec()),
            seed in any::<u32>(),
        ) {
            let gen = |i: usize, first: bool| {
                let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(seed as u64 + first as u64);
                match h % 13 { 0 => 0, 1 => i32::MIN, 2 => -1, 3 => i32::MAX, _ => (h % 41) as i32 - 20 }
            };
            let f = move |a: i32, b: i32| wide_int_op(op, a as i128, b as i128) as i32;
            check(&c, op, gen, |g: i32, w| g == w, f);
        }
    }

    /// The op codes each dtype supports.
    const F32_OPS: [u32; 9] = [
        BINARY_ADD,
        BINARY_SUB,
        BINARY_MUL,
        BINARY_DIV,
        BINARY_POW,
        BINARY_MAX,
        BINARY_MIN,
        BINARY_PRELU,
        BINARY_FMOD,
    ];
    const I64_OPS: [u32; 9] = [
        BINARY_ADD,
        BINARY_SUB,
        BINARY_MUL,
        BINARY_DIV,
        BINARY_POW,
        BINARY_MAX,
        BINARY_MIN,
        BINARY_MOD,
        BINARY_FMOD,
    ];
    const I32_OPS: [u32; 8] = [
        BINARY_ADD,
        BINARY_SUB,
        BINARY_MUL,
        BINARY_DIV,
        BINARY_MAX,
        BINARY_MIN,
        BINARY_MOD,
        BINARY_FMOD,
    ];

    /// Integer ops (not Pow) computed exactly in i128, independently of [`scalar`]; the caller
    /// truncates the result to its width (two's-complement wrapping).
    fn wide_int_op(op: u32, a: i128, b: i128) -> i128 {
        match op {
            BINARY_ADD => a + b,
            BINARY_SUB => a - b,
            BINARY_MUL => a * b,
            BINARY_MAX => a.max(b),
            BINARY_MIN => a.min(b),
            _ if b == 0 => 0,
            BINARY_DIV => a / b,
            BINARY_FMOD => a - b * (a / b),
            BINARY_MOD => {
                // The Euclidean remainder is in [0, |b|); Python's takes b's sign.
                let r = a.rem_euclid(b);
                if b < 0 && r != 0 {
                    r + b
                } else {
                    r
                }
            }
            _ => unreachable!("op {op}"),
        }
    }

    #[test]
    fn scalar_semantics() {
        use scalar::{f32_op, i64_op};
        assert_eq!(i64_op(BINARY_DIV, 7, -2), -3);
        assert_eq!(i64_op(BINARY_DIV, -7, 2), -3);
        assert_eq!(i64_op(BINARY_DIV, 5, 0), 0);
        assert_eq!(i64_op(BINARY_DIV, i64::MIN, -1), i64::MIN);
        assert_eq!(i64_op(BINARY_POW, 3, 4), 81);
        assert_eq!(i64_op(BINARY_POW, 2, -1), 0);
        assert_eq!(i64_op(BINARY_POW, -1, -3), -1);
        assert!(f32_op(BINARY_MAX, f32::NAN, 1.0).is_nan());
        assert!(f32_op(BINARY_MAX, 1.0, f32::NAN).is_nan());
        assert!(f32_op(BINARY_MIN, 1.0, f32::NAN).is_nan());
        assert_eq!(f32_op(BINARY_PRELU, -2.0, 0.25), -0.5);
        assert_eq!(f32_op(BINARY_PRELU, 3.0, 0.25), 3.0);
        assert_eq!(f32_op(BINARY_POW, 2.0, 10.0), 1024.0);
        // Mod takes the divisor's sign, Fmod the dividend's.
        for (a, b, m, f) in [
            (7, 3, 1, 1),
            (-7, 3, 2, -1),
            (7, -3, -2, 1),
            (-7, -3, -1, -1),
        ] {
            assert_eq!(i64_op(BINARY_MOD, a, b), m, "{a} mod {b}");
            assert_eq!(i64_op(BINARY_FMOD, a, b), f, "{a} fmod {b}");
            assert_eq!(scalar::i32_op(BINARY_MOD, a as i32, b as i32), m as i32);
            assert_eq!(scalar::i32_op(BINARY_FMOD, a as i32, b as i32), f as i32);
            assert_eq!(f32_op(BINARY_FMOD, a as f32, b as f32), f as f32);
        }
        assert_eq!(i64_op(BINARY_MOD, 6, -3), 0);
        assert_eq!(i64_op(BINARY_MOD, 5, 0), 0);
        assert_eq!(i64_op(BINARY_FMOD, 5, 0), 0);
        assert_eq!(i64_op(BINARY_MOD, i64::MIN, -1), 0);
        assert_eq!(scalar::i32_op(BINARY_MOD, i32::MIN, -1), 0);
        assert_eq!(scalar::i32_op(BINARY_FMOD, i32::MIN, -1), 0);
        assert_eq!(scalar::i32_op(BINARY_DIV, i32::MIN, -1), i32::MIN);
        assert_eq!(scalar::i32_op(BINARY_DIV, 9, 0), 0);
        assert_eq!(scalar::i32_op(BINARY_ADD, i32::MAX, 1), i32::MIN);
        assert_eq!(f32_op(BINARY_FMOD, 5.5, 2.0), 1.5);
        assert_eq!(f32_op(BINARY_FMOD, -5.5, 2.0), -1.5);
        assert!(f32_op(BINARY_FMOD, 1.0, 0.0).is_nan());
    }

    #[test]
    fn rejects_unsupported_and_out_of_bounds() {
        let a = [1i64; 4];
        let mut y = [0i64; 4];
        let e = binary(
            Isa::Portable,
            BINARY_PRELU,
            &[4],
            Strided::contiguous(&a, &[4]),
            Strided::contiguous(&a, &[4]),
            StridedMut::contiguous(&mut y, &[4]),
        );
        assert!(e.is_err());
        let f = [1f32; 4];
        let mut fy = [0f32; 4];
        let e = binary(
            Isa::Portable,
            BINARY_MOD,
            &[4],
            Strided::contiguous(&f, &[4]),
            Strided::contiguous(&f, &[4]),
            StridedMut::contiguous(&mut fy, &[4]),
        );
        assert!(e.is_err());
        let i = [1i32; 4];
        let mut iy = [0i32; 4];
        for op in [BINARY_POW, BINARY_PRELU, BINARY_LAST + 1] {
            let e = binary(
                Isa::Portable,
                op,
                &[4],
                Strided::contiguous(&i, &[4]),
                Strided::contiguous(&i, &[4]),
                StridedMut::contiguous(&mut iy, &[4]),
            );
            assert!(e.is_err(), "op {op}");
        }
        let e = binary(
            Isa::Portable,
            BINARY_ADD,
            &[5],
            Strided::contiguous(&a, &[5]),
            Strided {
                data: &a,
                offset: 0,
                strides: [0; MAX_RANK],
            },
            StridedMut::contiguous(&mut y, &[4]),
        );
        assert!(e.is_err());
    }
}
