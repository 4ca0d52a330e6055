//! `Where`: elementwise select `out = c ? x : y` with numpy broadcasting (0 strides) over a bool
//! condition, for any element type of 1, 2, 4 or 8 bytes (bit patterns are moved, never
//! interpreted).

use super::common::{
    abort_bad_params, detected, for_each_run, normalize, shape_array, split_axis, Strided,
    StridedMut, MAX_RANK,
};
use crate::error::KernelError;
use crate::isa::Isa;
use crate::params::kernel_params;

kernel_params! {
/// Broadcast select `out[idx] = c[idx] ? x[idx] : y[idx]` over the output `shape`,
/// `#[repr(C)]`. Strides are in elements of each tensor's own type (`c` is bool, one byte;
/// any nonzero byte counts as true); broadcast input axes have stride 0. Pointers need no
/// alignment. `out` may be the same tensor as `x` or `y` (identical pointer and strides);
/// otherwise it must not overlap the inputs.
#[derive(Clone, Copy, Debug)]
pub struct WhereParams {
    /// Bytes per element of `x`, `y` and `out`: 1, 2, 4 or 8.
    pub elem_size: usize,
    /// Number of axes (`<= MAX_RANK`).
    pub rank: usize,
    /// Output shape.
    pub shape: [usize; MAX_RANK],
    /// Condition origin (bool bytes).
    pub c: *const u8,
    /// Condition strides (bytes = elements).
    pub c_strides: [isize; MAX_RANK],
    /// Origin of the values taken where `c` is true.
    pub x: *const u8,
    /// `x` strides (elements).
    pub x_strides: [isize; MAX_RANK],
    /// Origin of the values taken where `c` is false.
    pub y: *const u8,
    /// `y` strides (elements).
    pub y_strides: [isize; MAX_RANK],
    /// Output origin.
    pub out: *mut u8,
    /// Output strides (elements).
    pub out_strides: [isize; MAX_RANK],
}
}

fn valid_elem_size(e: usize) -> bool {
    matches!(e, 1 | 2 | 4 | 8)
}

/// Where entry point for generated code.
///
/// # Safety
/// `p` points to a valid [`WhereParams`]; every addressed element is inside its tensor. An
/// element size other than 1, 2, 4 or 8, or a rank above `MAX_RANK`, aborts.
#[no_mangle]
pub unsafe extern "C" fn bqml_where(p: *const WhereParams) {
    // SAFETY: the caller guarantees `p` points to a valid WhereParams.
    let p = unsafe { &*p };
    if !valid_elem_size(p.elem_size) || p.rank > MAX_RANK {
        abort_bad_params(format_args!(
            "bqml_where: elem_size {} rank {}",
            p.elem_size, p.rank
        ));
    }
    // SAFETY: forwarded caller contract.
    unsafe { where_raw(detected(), p) }
}

/// The axis [`bqml_where_rows`] splits and its extent (as [`super::copy_split_axis`]).
pub fn where_split_axis(p: &WhereParams) -> Option<(usize, usize)> {
    split_axis(
        p.rank,
        &p.shape,
        &p.out_strides,
        &[&p.c_strides, &p.x_strides, &p.y_strides],
    )
}

/// Where entry point for generated code that splits one op between threads: indices
/// `[start, end)` of the axis [`where_split_axis`] picks (which must be `Some`).
///
/// # Safety
/// As [`bqml_where`]; concurrent calls on the same `p` must take disjoint ranges.
#[no_mangle]
pub unsafe extern "C" fn bqml_where_rows(p: *const WhereParams, start: usize, end: usize) {
    // SAFETY: the caller guarantees `p` points to a valid WhereParams.
    let p = unsafe { &*p };
    if !valid_elem_size(p.elem_size) || p.rank > MAX_RANK {
        abort_bad_params(format_args!(
            "bqml_where_rows: elem_size {} rank {}",
            p.elem_size, p.rank
        ));
    }
    let Some((axis, n)) = where_split_axis(p) else {
        abort_bad_params(format_args!("bqml_where_rows: no axis to split"));
    };
    let end = end.min(n);
    if start >= end {
        return;
    }
    let es = p.elem_size as isize;
    let at = |origin: *const u8, strides: &[isize; MAX_RANK], es: isize| {
        origin.wrapping_offset(start as isize * strides[axis] * es)
    };
    let mut part = *p;
    part.shape[axis] = end - start;
    part.c = at(p.c, &p.c_strides, 1);
    part.x = at(p.x, &p.x_strides, es);
    part.y = at(p.y, &p.y_strides, es);
    part.out = at(p.out, &p.out_strides, es).cast_mut();
    // SAFETY: index `start` of the split axis is inside the op, so the part's origins and
    // elements are a subset of the whole op's; forwarded caller contract.
    unsafe { where_raw(detected(), &part) }
}

/// Safe wrapper: `out[idx] = if c[idx] { x[idx] } else { y[idx] }` for every `idx < shape`;
/// `T` is 1, 2, 4 or 8 bytes.
pub fn where_select<T: Copy>(
    isa: Isa,
    shape: &[usize],
    c: Strided<'_, bool>,
    x: Strided<'_, T>,
    y: Strided<'_, T>,
    mut out: StridedMut<'_, T>,
) -> Result<(), KernelError> {
    let es = std::mem::size_of::<T>();
    if !valid_elem_size(es) {
        return Err(KernelError::new(format!("where: element size {es}")));
    }
    c.check(shape, "where c")?;
    x.check(shape, "where x")?;
    y.check(shape, "where y")?;
    out.check(shape, "where out")?;
    let p = WhereParams {
        elem_size: es,
        rank: shape.len(),
        shape: shape_array(shape),
        c: c.origin() as *const u8,
        c_strides: c.strides,
        x: x.origin() as *const u8,
        x_strides: x.strides,
        y: y.origin() as *const u8,
        y_strides: y.strides,
        out: out.origin() as *mut u8,
        out_strides: out.strides,
    };
    // SAFETY: extents checked; `out` is a distinct mutable borrow; `T` is `es` bytes and only
    // whole values of `x` or `y` are written to it.
    unsafe { where_raw(isa.or_portable(), &p) };
    Ok(())
}

/// # Safety
/// As [`bqml_where`], with a valid `elem_size` and `rank`; `isa` runnable.
pub(crate) unsafe fn where_raw(isa: Isa, p: &WhereParams) {
    let mut shape = p.shape;
    let mut strides = [p.c_strides, p.x_strides, p.y_strides, p.out_strides];
    let Some(rank) = normalize(p.rank, &mut shape, &mut strides) else {
        return;
    };
    let last = rank.max(1) - 1;
    let inner = [
        strides[0][last],
        strides[1][last],
        strides[2][last],
        strides[3][last],
    ];
    let es = p.elem_size as isize;
    for_each_run(rank, &shape, &strides, |[oc, ox, oy, oo], n| {
        let run = Run {
            c: p.c.wrapping_offset(oc),
            sc: inner[0],
            x: p.x.wrapping_offset(ox * es),
            sx: inner[1],
            y: p.y.wrapping_offset(oy * es),
            sy: inner[2],
            out: p.out.wrapping_offset(oo * es),
            so: inner[3],
            n,
        };
        // SAFETY: the run's elements are addressed by the caller's shape and strides.
        unsafe { run_isa(isa, p.elem_size, &run) }
    });
}

/// One innermost-axis run: `n` elements at strides `sc` (bytes), `sx`, `sy`, `so` (elements).
struct Run {
    c: *const u8,
    sc: isize,
    x: *const u8,
    sx: isize,
    y: *const u8,
    sy: isize,
    out: *mut u8,
    so: isize,
    n: usize,
}

/// Select between two loaded values (both are always loaded, so the loops vectorise to blends).
#[inline(always)]
fn pick<T>(c: u8, x: T, y: T) -> T {
    if c != 0 {
        x
    } else {
        y
    }
}

/// Monomorphised loop over one run with unaligned accesses. The all-unit-stride and
/// broadcast-scalar `x` / `y` cases are separate loops so the compiler vectorises them.
///
/// # Safety
/// The run's elements are valid.
#[inline(always)]
unsafe fn run_with<T: Copy>(r: &Run) {
    let (c, x, y, out, n) = (r.c, r.x as *const T, r.y as *const T, r.out as *mut T, r.n);
    // SAFETY: in every loop `i < n` and every element of the run is valid (unaligned access
    // is used throughout); each output element depends only on the inputs at the same index,
    // so in-place aliasing with `x` or `y` is harmless.
    unsafe {
        match (r.sc, r.sx, r.sy, r.so) {
            (1, 1, 1, 1) => {
                for i in 0..n {
                    let v = pick(
                        *c.add(i),
                        x.add(i).read_unaligned(),
                        y.add(i).read_unaligned(),
                    );
                    out.add(i).write_unaligned(v);
                }
            }
            (1, 1, 0, 1) => {
                let yv = y.read_unaligned();
                for i in 0..n {
                    let v = pick(*c.add(i), x.add(i).read_unaligned(), yv);
                    out.add(i).write_unaligned(v);
                }
            }
            (1, 0, 1, 1) => {
                let xv = x.read_unaligned();
                for i in 0..n {
                    let v = pick(*c.add(i), xv, y.add(i).read_unaligned());
                    out.add(i).write_unaligned(v);
                }
            }
            (sc, sx, sy, so) => {
                for i in 0..n as isize {
                    let v = pick(
                        *c.offset(i * sc),
                        x.offset(i * sx).read_unaligned(),
                        y.offset(i * sy).read_unaligned(),
                    );
                    out.offset(i * so).write_unaligned(v);
                }
            }
        }
    }
}

/// # Safety
/// The run's elements are valid; `es` is 1, 2, 4 or 8.
#[inline(always)]
unsafe fn run_generic(es: usize, r: &Run) {
    // SAFETY: forwarded; each type is `es` bytes, moved as a bit pattern.
    unsafe {
        match es {
            1 => run_with::<u8>(r),
            2 => run_with::<u16>(r),
            4 => run_with::<u32>(r),
            _ => run_with::<u64>(r),
        }
    }
}

/// [`run_generic`] compiled with AVX2 enabled so its loops vectorise 32 bytes wide.
///
/// # Safety
/// As [`run_generic`]; AVX2+FMA available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2(es: usize, r: &Run) {
    // SAFETY: forwarded.
    unsafe { run_generic(es, r) }
}

/// # Safety
/// As [`run_generic`]; `isa` runnable.
unsafe fn run_isa(isa: Isa, es: usize, r: &Run) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: forwarded; AVX2 availability is the caller's guarantee (implied by AVX-512).
        Isa::Avx2Fma | Isa::Avx512 => unsafe { run_avx2(es, r) },
        // SAFETY: forwarded.
        _ => unsafe { run_generic(es, r) },
    }
}

/// Scalar reference: full index-space loop.
pub mod reference {
    use super::super::common::MAX_RANK;

    /// One tensor operand of the reference: storage, origin offset and strides (elements).
    pub type View<'a, T> = (&'a [T], usize, &'a [isize; MAX_RANK]);

    /// `out[oo + Σ idx·os] = if c[..] { x[..] } else { y[..] }` for every index of `shape`.
    pub fn where_select<T: Copy>(
        shape: &[usize],
        c: View<'_, bool>,
        x: View<'_, T>,
        y: View<'_, T>,
        out: &mut [T],
        oo: usize,
        os: &[isize; MAX_RANK],
    ) {
        let total: usize = shape.iter().product();
        for flat in 0..total {
            let mut rem = flat;
            let mut i = [c.1 as isize, x.1 as isize, y.1 as isize, oo as isize];
            for ax in (0..shape.len()).rev() {
                let k = (rem % shape[ax]) as isize;
                rem /= shape[ax];
                i[0] += k * c.2[ax];
                i[1] += k * x.2[ax];
                i[2] += k * y.2[ax];
                i[3] += k * os[ax];
            }
            out[i[3] as usize] = if c.0[i[0] as usize] {
                x.0[i[1] as usize]
            } else {
                y.0[i[2] as usize]
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::contiguous_strides;
    use super::*;
    use proptest::prelude::*;

    /// Output shape plus, per input, which axes are broadcast (stored with extent 1); `x` may
    /// be stored transposed (reversed axis order) and the output with its first axis reversed.
    #[derive(Clone, Debug)]
    struct Case {
        shape: Vec<usize>,
        c_bcast: Vec<bool>,
        x_bcast: Vec<bool>,
        y_bcast: Vec<bool>,
        x_rev: bool,
        out_neg: bool,
    }

    fn case() -> impl Strategy<Value = Case> {
        (0usize..=4)
            .prop_flat_map(|r| {
                let bc = move || proptest::collection::vec(proptest::bool::weighted(0.3), r);
                (
                    proptest::collection::vec(1usize..=9, r),
                    bc(),
                    bc(),
                    bc(),
                    any::<bool>(),
                    proptest::bool::weighted(0.2),
                )
            })
            .prop_map(|(shape, c_bcast, x_bcast, y_bcast, x_rev, out_neg)| Case {
                shape,
                c_bcast,
                x_bcast,
                y_bcast,
                x_rev,
                out_neg,
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

    /// Run one case through the safe wrapper (every ISA) and the splitting entry point (1, 2
    /// and 3 parts) and compare with the reference.
    fn check<T: Copy + PartialEq + std::fmt::Debug>(
        c: &Case,
        seed: u32,
        gen: impl Fn(usize, bool) -> T,
        sentinel: T,
    ) {
        let (cs, clen) = input_layout(&c.shape, &c.c_bcast, false);
        let (xs, xlen) = input_layout(&c.shape, &c.x_bcast, c.x_rev);
        let (ys, ylen) = input_layout(&c.shape, &c.y_bcast, false);
        let cond: Vec<bool> = (0..clen)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 5 < 2)
            .collect();
        let x: Vec<T> = (0..xlen).map(|i| gen(i, true)).collect();
        let y: Vec<T> = (0..ylen).map(|i| gen(i, false)).collect();
        let n: usize = c.shape.iter().product();
        let mut os = contiguous_strides(&c.shape);
        let mut oo = 0;
        if c.out_neg && !c.shape.is_empty() {
            os[0] = -os[0];
            oo = (c.shape[0] - 1) * (-os[0]) as usize;
        }
        let mut want = vec![sentinel; n];
        reference::where_select(
            &c.shape,
            (&cond, 0, &cs),
            (&x, 0, &xs),
            (&y, 0, &ys),
            &mut want,
            oo,
            &os,
        );
        for isa in Isa::all_available() {
            let mut got = vec![sentinel; n];
            where_select(
                isa,
                &c.shape,
                Strided {
                    data: &cond,
                    offset: 0,
                    strides: cs,
                },
                Strided {
                    data: &x,
                    offset: 0,
                    strides: xs,
                },
                Strided {
                    data: &y,
                    offset: 0,
                    strides: ys,
                },
                StridedMut {
                    data: &mut got,
                    offset: oo,
                    strides: os,
                },
            )
            .unwrap();
            assert_eq!(got, want, "{isa:?} {c:?}");
        }
        let r = c.shape.len();
        let mut p = WhereParams {
            elem_size: std::mem::size_of::<T>(),
            rank: r,
            shape: [1; MAX_RANK],
            c: cond.as_ptr().cast(),
            c_strides: cs,
            x: x.as_ptr().cast(),
            x_strides: xs,
            y: y.as_ptr().cast(),
            y_strides: ys,
            out: std::ptr::null_mut(),
            out_strides: os,
        };
        p.shape[..r].copy_from_slice(&c.shape);
        let Some((axis, rows)) = where_split_axis(&p) else {
            assert!(c.shape.iter().all(|&e| e <= 1), "{c:?}");
            return;
        };
        for parts in [1, 2, 3] {
            let mut got = vec![sentinel; n];
            p.out = got[oo..].as_mut_ptr().cast();
            for i in 0..parts {
                // SAFETY: the params describe the buffers as the safe call did; the parts are
                // disjoint and run one after another.
                unsafe { bqml_where_rows(&p, rows * i / parts, rows * (i + 1) / parts) };
            }
            assert_eq!(got, want, "{c:?} {parts} parts on axis {axis}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]

        #[test]
        fn where_matches_reference_all_elem_sizes(c in case(), seed in any::<u32>()) {
            let tag = |i: usize, first: bool| (i as u64) * 2 + first as u64 + 1;
            check(&c, seed, |i, f| tag(i, f) as u8, 0);
            check(&c, seed, |i, f| tag(i, f) as u16 ^ 0x8000, 0);
            // f32 NaN bit patterns (with payloads): moved, never interpreted.
            check(&c, seed, |i, f| 0x7FC0_0000u32 | tag(i, f) as u32, 0);
            check(&c, seed, |i, f| (tag(i, f) as i64).wrapping_mul(-1_000_000_007), 0);
        }
    }

    #[test]
    fn rejects_bad_elem_size_and_out_of_bounds() {
        let c = [true, false, true];
        let x = [[1u8; 3]; 3];
        let mut out = [[0u8; 3]; 3];
        let e = where_select(
            Isa::Portable,
            &[3],
            Strided::contiguous(&c, &[3]),
            Strided::contiguous(&x, &[3]),
            Strided::contiguous(&x, &[3]),
            StridedMut::contiguous(&mut out, &[3]),
        );
        assert!(e.is_err());
        let x = [1f32; 3];
        let mut out = [0f32; 4];
        let e = where_select(
            Isa::Portable,
            &[4],
            Strided {
                data: &c,
                offset: 0,
                strides: [0; MAX_RANK],
            },
            Strided::contiguous(&x, &[4]),
            Strided::contiguous(&x, &[4]),
            StridedMut::contiguous(&mut out, &[4]),
        );
        assert!(e.is_err());
    }

    /// The `extern "C"` symbol with misaligned 4-byte elements, a broadcast condition row and
    /// a scalar `y`, and the output written in place over `x`.
    #[test]
    fn entry_point_unaligned_in_place() {
        let mut buf = [0u8; 1 + 4 * 6];
        let vals: Vec<f32> = (0..6).map(|i| i as f32 + 0.5).collect();
        for (i, v) in vals.iter().enumerate() {
            buf[1 + 4 * i..5 + 4 * i].copy_from_slice(&v.to_le_bytes());
        }
        let cond = [1u8, 0, 2];
        let other = (-1f32).to_le_bytes();
        let xo = buf[1..].as_mut_ptr();
        let p = WhereParams {
            elem_size: 4,
            rank: 2,
            shape: [2, 3, 1, 1, 1, 1],
            c: cond.as_ptr(),
            c_strides: [0, 1, 0, 0, 0, 0],
            x: xo,
            x_strides: [3, 1, 0, 0, 0, 0],
            y: other.as_ptr(),
            y_strides: [0; MAX_RANK],
            out: xo,
            out_strides: [3, 1, 0, 0, 0, 0],
        };
        // SAFETY: all addressed elements are inside the buffers; `out` is identical to `x`.
        unsafe { bqml_where(&p) };
        let got: Vec<f32> = (0..6)
            .map(|i| f32::from_le_bytes(buf[1 + 4 * i..5 + 4 * i].try_into().unwrap()))
            .collect();
        assert_eq!(got, [0.5, -1.0, 2.5, 3.5, -1.0, 5.5]);
    }
}
