//! Strided N-d copy (Transpose, Slice, Concat/Split, Expand, relayout) and fill.

use super::common::{
    abort_bad_params, detected, for_each_run, normalize, shape_array, split_axis, Strided,
    StridedMut, MAX_RANK,
};
use crate::error::KernelError;
use crate::isa::Isa;
use crate::params::kernel_params;

kernel_params! {
/// Strided copy `dst[idx] = src[idx]` for every `idx < shape`, `#[repr(C)]`. Strides are in
/// elements and may be negative (reversed) or 0 (broadcast reads; a 0 *destination* stride means
/// the last write wins). `src` and `dst` must not overlap.
#[derive(Clone, Copy, Debug)]
pub struct CopyParams {
    /// Source origin (element with all indices 0).
    pub src: *const u8,
    /// Destination origin.
    pub dst: *mut u8,
    /// Bytes per element, at least 1 (1, 2, 4 and 8 take typed fast paths).
    pub elem_size: usize,
    /// Number of axes used (`<= MAX_RANK`).
    pub rank: usize,
    /// Extent of each axis.
    pub shape: [usize; MAX_RANK],
    /// Source strides in elements.
    pub src_strides: [isize; MAX_RANK],
    /// Destination strides in elements.
    pub dst_strides: [isize; MAX_RANK],
}
}

kernel_params! {
/// Fill `count` contiguous elements with one value, `#[repr(C)]`.
#[derive(Clone, Copy, Debug)]
pub struct FillParams {
    /// First element.
    pub dst: *mut u8,
    /// Bytes per element: 1, 2, 4 or 8.
    pub elem_size: usize,
    /// Elements to write.
    pub count: usize,
    /// Bit pattern of the value in its low `elem_size` bytes (little-endian element).
    pub value: u64,
}
}

fn valid_elem_size(e: usize) -> bool {
    matches!(e, 1 | 2 | 4 | 8)
}

/// Strided copy entry point for generated code.
///
/// # Safety
/// `p` points to a valid [`CopyParams`]; every element addressed through `src`/`dst` with the
/// given shape and strides is inside its allocation; the two regions do not overlap. A zero
/// `elem_size` or a rank above `MAX_RANK` aborts.
#[no_mangle]
pub unsafe extern "C" fn bqml_copy(p: *const CopyParams) {
    // SAFETY: the caller guarantees `p` points to a valid CopyParams.
    let p = unsafe { &*p };
    if p.elem_size == 0 || p.rank > MAX_RANK {
        abort_bad_params(format_args!(
            "bqml_copy: elem_size {} rank {}",
            p.elem_size, p.rank
        ));
    }
    // SAFETY: forwarded caller contract.
    unsafe { copy_raw(detected(), p) }
}

/// The axis [`bqml_copy_rows`] splits and its extent: the longest axis that is unit-stride on
/// neither side (each part keeps whole contiguous runs and transpose blocks), else the
/// longest axis. `None` when no axis can be split safely: rank 0, or a destination stride of 0
/// on every axis longer than 1 (broadcast writes: "last write wins" would race).
pub fn copy_split_axis(p: &CopyParams) -> Option<(usize, usize)> {
    split_axis(p.rank, &p.shape, &p.dst_strides, &[&p.src_strides])
}

/// Strided copy entry point for generated code that splits one copy between threads: copies
/// indices `[start, end)` of the axis [`copy_split_axis`] picks (which must be `Some`).
///
/// # Safety
/// As [`bqml_copy`]; concurrent calls on the same `p` must take disjoint ranges.
#[no_mangle]
pub unsafe extern "C" fn bqml_copy_rows(p: *const CopyParams, start: usize, end: usize) {
    // SAFETY: the caller guarantees `p` points to a valid CopyParams.
    let p = unsafe { &*p };
    if p.elem_size == 0 || p.rank > MAX_RANK {
        abort_bad_params(format_args!(
            "bqml_copy_rows: elem_size {} rank {}",
            p.elem_size, p.rank
        ));
    }
    let Some((axis, n)) = copy_split_axis(p) else {
        abort_bad_params(format_args!("bqml_copy_rows: no axis to split"));
    };
    let end = end.min(n);
    if start >= end {
        return;
    }
    let mut part = *p;
    part.shape[axis] = end - start;
    let es = p.elem_size as isize;
    // SAFETY: index `start` of the split axis is inside the copy, so both origins stay inside
    // the caller's regions; the part addresses a subset of the whole copy's elements.
    unsafe {
        part.src = p.src.offset(start as isize * p.src_strides[axis] * es);
        part.dst = p.dst.offset(start as isize * p.dst_strides[axis] * es);
        copy_raw(detected(), &part)
    }
}

/// Fill entry point for generated code.
///
/// # Safety
/// `p` points to a valid [`FillParams`] and `dst` has room for `count` elements. An invalid
/// `elem_size` aborts.
#[no_mangle]
pub unsafe extern "C" fn bqml_fill(p: *const FillParams) {
    // SAFETY: the caller guarantees `p` points to a valid FillParams.
    let p = unsafe { &*p };
    if !valid_elem_size(p.elem_size) {
        abort_bad_params(format_args!("bqml_fill: elem_size {}", p.elem_size));
    }
    // SAFETY: forwarded caller contract.
    unsafe { fill_raw(p) }
}

/// Safe strided copy of `shape` elements from `src` to `dst` (any sized `Copy` type).
pub fn copy<T: Copy>(
    shape: &[usize],
    src: Strided<'_, T>,
    dst: StridedMut<'_, T>,
) -> Result<(), KernelError> {
    copy_with(Isa::detect(), shape, src, dst)
}

/// [`copy`] with an explicit ISA (the AVX2 path transposes 4-byte elements in 8×8 registers).
pub fn copy_with<T: Copy>(
    isa: Isa,
    shape: &[usize],
    src: Strided<'_, T>,
    mut dst: StridedMut<'_, T>,
) -> Result<(), KernelError> {
    let es = std::mem::size_of::<T>();
    if es == 0 {
        return Err(KernelError::new(format!("copy: element size {es}")));
    }
    src.check(shape, "copy src")?;
    dst.check(shape, "copy dst")?;
    let p = CopyParams {
        src: src.origin() as *const u8,
        dst: dst.origin() as *mut u8,
        elem_size: es,
        rank: shape.len(),
        shape: shape_array(shape),
        src_strides: src.strides,
        dst_strides: dst.strides,
    };
    // SAFETY: extents checked; `src` and `dst` are distinct borrows so they do not overlap.
    unsafe { copy_raw(isa.or_portable(), &p) };
    Ok(())
}

/// Safe fill of all of `dst` with `value`.
pub fn fill<T: Copy>(dst: &mut [T], value: T) -> Result<(), KernelError> {
    let es = std::mem::size_of::<T>();
    if !valid_elem_size(es) {
        return Err(KernelError::new(format!("fill: element size {es}")));
    }
    let mut bits = [0u8; 8];
    // SAFETY: `value` is `es <= 8` readable bytes; `bits` has room for 8.
    unsafe {
        std::ptr::copy_nonoverlapping(&value as *const T as *const u8, bits.as_mut_ptr(), es)
    };
    let p = FillParams {
        dst: dst.as_mut_ptr() as *mut u8,
        elem_size: es,
        count: dst.len(),
        value: u64::from_le_bytes(bits),
    };
    // SAFETY: `dst` holds `count` elements.
    unsafe { fill_raw(&p) };
    Ok(())
}

/// # Safety
/// As [`bqml_fill`], with a valid `elem_size`.
unsafe fn fill_raw(p: &FillParams) {
    // SAFETY: `dst` holds `count` elements of `elem_size` bytes; unaligned writes are
    // used because the buffer is only byte-aligned by contract.
    unsafe {
        match p.elem_size {
            1 => std::ptr::write_bytes(p.dst, p.value as u8, p.count),
            2 => fill_typed(p.dst as *mut u16, p.count, p.value as u16),
            4 => fill_typed(p.dst as *mut u32, p.count, p.value as u32),
            _ => fill_typed(p.dst as *mut u64, p.count, p.value),
        }
    }
}

/// # Safety
/// `dst` has room for `n` elements of `T`.
unsafe fn fill_typed<T: Copy>(dst: *mut T, n: usize, v: T) {
    for i in 0..n {
        // SAFETY: `i < n`.
        unsafe { dst.add(i).write_unaligned(v) };
    }
}

/// Edge of the square tiles of the blocked transpose, in elements.
const TILE: usize = 32;

/// # Safety
/// As [`bqml_copy`], with a valid `elem_size` and `rank`; `isa` runnable.
pub(crate) unsafe fn copy_raw(isa: Isa, p: &CopyParams) {
    let mut shape = p.shape;
    let mut strides = [p.src_strides, p.dst_strides];
    let Some(rank) = normalize(p.rank, &mut shape, &mut strides) else {
        return;
    };
    let es = p.elem_size;
    if rank >= 2 && valid_elem_size(es) {
        // Blocked transpose: one axis is unit-stride in the source, another in the destination.
        let sa = (0..rank).find(|&i| strides[0][i] == 1);
        let da = (0..rank).find(|&i| strides[1][i] == 1);
        if let (Some(sa), Some(da)) = (sa, da) {
            if sa != da && shape[sa] >= 4 && shape[da] >= 4 {
                // SAFETY: forwarded caller contract.
                unsafe { transpose_blocked(isa, p, rank, shape, strides, sa, da) };
                return;
            }
        }
    }
    // Runs along the longest axis that is unit-stride on either side: a channel shuffle's
    // copy has a 2-long unit-stride destination axis but a 58-long unit-stride source one,
    // and one run per pair of elements made it ~4 cycles per float. (Not with broadcast
    // writes, whose "last write wins" order must not change.)
    if rank >= 2 && (0..rank).all(|i| strides[1][i] != 0 || shape[i] == 1) {
        let unit = (0..rank).filter(|&i| strides[0][i] == 1 || strides[1][i] == 1);
        if let Some(a) = unit.max_by_key(|&i| shape[i]) {
            let last = rank - 1;
            if shape[a] > shape[last] {
                shape.swap(a, last);
                strides[0].swap(a, last);
                strides[1].swap(a, last);
            }
        }
    }
    let [ss, ds] = [strides[0][rank.max(1) - 1], strides[1][rank.max(1) - 1]];
    for_each_run(rank, &shape, &strides, |[so, dof], n| {
        // SAFETY: every element of the run is addressed by the caller's shape/strides.
        unsafe {
            let s = p.src.offset(so * es as isize);
            let d = p.dst.offset(dof * es as isize);
            if ss == 1 && ds == 1 {
                std::ptr::copy_nonoverlapping(s, d, n * es);
            } else {
                match es {
                    1 => run_typed(s, ss, d, ds, n),
                    2 => run_typed(s as *const u16, ss, d as *mut u16, ds, n),
                    4 => run_typed(s as *const u32, ss, d as *mut u32, ds, n),
                    8 => run_typed(s as *const u64, ss, d as *mut u64, ds, n),
                    _ => {
                        for i in 0..n as isize {
                            std::ptr::copy_nonoverlapping(
                                s.offset(i * ss * es as isize),
                                d.offset(i * ds * es as isize),
                                es,
                            );
                        }
                    }
                }
            }
        }
    });
}

/// # Safety
/// `n` elements at strides `ss`/`ds` from `s`/`d` are valid.
#[inline(always)]
unsafe fn run_typed<T: Copy>(s: *const T, ss: isize, d: *mut T, ds: isize, n: usize) {
    for i in 0..n as isize {
        // SAFETY: `i < n`, in bounds by the caller's contract.
        unsafe {
            d.offset(i * ds)
                .write_unaligned(s.offset(i * ss).read_unaligned())
        };
    }
}

/// Copy with axis `sa` unit-stride in the source and `da` unit-stride in the destination, in
/// `TILE × TILE` tiles so both sides touch whole cache lines.
///
/// # Safety
/// As [`copy_raw`]; `shape`/`strides` are the normalized form of `p`'s.
unsafe fn transpose_blocked(
    isa: Isa,
    p: &CopyParams,
    rank: usize,
    shape: [usize; MAX_RANK],
    strides: [[isize; MAX_RANK]; 2],
    sa: usize,
    da: usize,
) {
    // Iterate over the other axes; the two tile axes are given length 1 there.
    let mut outer = shape;
    outer[sa] = 1;
    outer[da] = 1;
    let es = p.elem_size as isize;
    let (n_s, n_d) = (shape[sa], shape[da]);
    // Strides of the source along `da` and of the destination along `sa`.
    let (s_d, d_s) = (strides[0][da], strides[1][sa]);
    for_each_run(rank, &outer, &strides, |[so0, do0], n| {
        // The last axis is iterated by `for_each_run` unless it is a tile axis (then n == 1).
        let last = rank - 1;
        for r in 0..n as isize {
            let (so, dof) = if n > 1 {
                (so0 + r * strides[0][last], do0 + r * strides[1][last])
            } else {
                (so0, do0)
            };
            // SAFETY: every tile element is addressed by the caller's shape/strides.
            unsafe {
                let s = p.src.offset(so * es);
                let d = p.dst.offset(dof * es);
                match p.elem_size {
                    1 => tiles(s, s_d, d, d_s, n_s, n_d),
                    2 => tiles(s as *const u16, s_d, d as *mut u16, d_s, n_s, n_d),
                    #[cfg(target_arch = "x86_64")]
                    4 if isa >= Isa::Avx2Fma => {
                        avx2::tiles(s as *const f32, s_d, d as *mut f32, d_s, n_s, n_d)
                    }
                    4 => tiles(s as *const u32, s_d, d as *mut u32, d_s, n_s, n_d),
                    _ => tiles(s as *const u64, s_d, d as *mut u64, d_s, n_s, n_d),
                }
            }
        }
    });
}

/// `d[i * d_s + j] = s[i + j * s_d]` for `i < n_s`, `j < n_d`, tiled.
///
/// # Safety
/// All addressed elements are valid.
#[inline(always)]
unsafe fn tiles<T: Copy>(s: *const T, s_d: isize, d: *mut T, d_s: isize, n_s: usize, n_d: usize) {
    for i0 in (0..n_s).step_by(TILE) {
        for j0 in (0..n_d).step_by(TILE) {
            for i in i0..(i0 + TILE).min(n_s) {
                let i = i as isize;
                for j in j0..(j0 + TILE).min(n_d) {
                    let j = j as isize;
                    // SAFETY: `i < n_s`, `j < n_d`.
                    unsafe {
                        d.offset(i * d_s + j)
                            .write_unaligned(s.offset(i + j * s_d).read_unaligned())
                    };
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::TILE;
    use std::arch::x86_64::*;

    /// [`super::tiles`] for 4-byte elements: full 8×8 blocks are transposed in registers, edges
    /// element by element. Moves bit patterns only (no float arithmetic).
    ///
    /// # Safety
    /// All addressed elements are valid; AVX2 available.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tiles(
        s: *const f32,
        s_d: isize,
        d: *mut f32,
        d_s: isize,
        n_s: usize,
        n_d: usize,
    ) {
        for i0 in (0..n_s).step_by(TILE) {
            let i1 = (i0 + TILE).min(n_s);
            let i_full = i0 + (i1 - i0) / 8 * 8;
            for j0 in (0..n_d).step_by(TILE) {
                let j1 = (j0 + TILE).min(n_d);
                let j_full = j0 + (j1 - j0) / 8 * 8;
                for i in (i0..i_full).step_by(8) {
                    for j in (j0..j_full).step_by(8) {
                        let (i, j) = (i as isize, j as isize);
                        // SAFETY: the 8×8 block is inside the tile.
                        unsafe { block8(s.offset(i + j * s_d), s_d, d.offset(i * d_s + j), d_s) };
                    }
                }
                let edge = |i: usize, j: usize| {
                    let (i, j) = (i as isize, j as isize);
                    // SAFETY: `i < n_s`, `j < n_d`; a bit-pattern move.
                    unsafe {
                        d.offset(i * d_s + j)
                            .cast::<u32>()
                            .write_unaligned(s.offset(i + j * s_d).cast::<u32>().read_unaligned())
                    };
                };
                for i in i0..i_full {
                    (j_full..j1).for_each(|j| edge(i, j));
                }
                for i in i_full..i1 {
                    (j0..j1).for_each(|j| edge(i, j));
                }
            }
        }
    }

    /// `d[i * d_s + j] = s[i + j * s_d]` for an 8×8 block.
    ///
    /// # Safety
    /// The 64 source and destination elements are valid; AVX2 available.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn block8(s: *const f32, s_d: isize, d: *mut f32, d_s: isize) {
        // SAFETY: row `j` of the source block holds 8 elements along `i`.
        let r = |j: isize| unsafe { _mm256_loadu_ps(s.offset(j * s_d)) };
        let (r0, r1, r2, r3) = (r(0), r(1), r(2), r(3));
        let (r4, r5, r6, r7) = (r(4), r(5), r(6), r(7));
        let t0 = _mm256_unpacklo_ps(r0, r1);
        let t1 = _mm256_unpackhi_ps(r0, r1);
        let t2 = _mm256_unpacklo_ps(r2, r3);
        let t3 = _mm256_unpackhi_ps(r2, r3);
        let t4 = _mm256_unpacklo_ps(r4, r5);
        let t5 = _mm256_unpackhi_ps(r4, r5);
        let t6 = _mm256_unpacklo_ps(r6, r7);
        let t7 = _mm256_unpackhi_ps(r6, r7);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        let o = [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ];
        for (i, v) in o.into_iter().enumerate() {
            // SAFETY: row `i` of the destination block holds 8 elements along `j`.
            unsafe { _mm256_storeu_ps(d.offset(i as isize * d_s), v) };
        }
    }
}

/// Scalar reference: element-by-element copy over the full index space.
pub mod reference {
    use super::super::common::MAX_RANK;

    /// `dst[off + Σ idx·ds] = src[off + Σ idx·ss]` for every index, row-major.
    pub fn copy<T: Copy>(
        shape: &[usize],
        src: &[T],
        src_off: usize,
        ss: &[isize; MAX_RANK],
        dst: &mut [T],
        dst_off: usize,
        ds: &[isize; MAX_RANK],
    ) {
        let total: usize = shape.iter().product();
        for flat in 0..total {
            let mut rem = flat;
            let (mut so, mut dof) = (src_off as isize, dst_off as isize);
            for ax in (0..shape.len()).rev() {
                let i = (rem % shape[ax]) as isize;
                rem /= shape[ax];
                so += i * ss[ax];
                dof += i * ds[ax];
            }
            dst[dof as usize] = src[so as usize];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::contiguous_strides;
    use super::*;
    use proptest::prelude::*;

    /// A random strided view: a permutation, some reversed axes, some broadcast source axes.
    #[derive(Clone, Debug)]
    struct Case {
        shape: Vec<usize>,
        perm: Vec<usize>,
        reversed: Vec<bool>,
        broadcast: Vec<bool>,
        dst_perm: Vec<usize>,
    }

    fn case() -> impl Strategy<Value = Case> {
        (0usize..=MAX_RANK)
            .prop_flat_map(|r| {
                (
                    proptest::collection::vec(1usize..=6, r),
                    Just((0..r).collect::<Vec<_>>()).prop_shuffle(),
                    proptest::collection::vec(any::<bool>(), r),
                    proptest::collection::vec(proptest::bool::weighted(0.2), r),
                    Just((0..r).collect::<Vec<_>>()).prop_shuffle(),
                )
            })
            .prop_map(|(shape, perm, reversed, broadcast, dst_perm)| Case {
                shape,
                perm,
                reversed,
                broadcast,
                dst_perm,
            })
    }

    /// Strides of a buffer holding `shape` in the axis order `perm` (perm[0] outermost), with
    /// reversed axes, plus the origin offset; broadcast axes get stride 0.
    fn layout(
        shape: &[usize],
        perm: &[usize],
        reversed: &[bool],
        broadcast: &[bool],
    ) -> (usize, [isize; MAX_RANK], usize) {
        let stored: Vec<usize> = perm
            .iter()
            .map(|&a| if broadcast[a] { 1 } else { shape[a] })
            .collect();
        let cs = contiguous_strides(&stored);
        let mut strides = [0isize; MAX_RANK];
        let mut off = 0isize;
        for (pos, &a) in perm.iter().enumerate() {
            if broadcast[a] {
                continue;
            }
            if reversed[a] {
                strides[a] = -cs[pos];
                off += cs[pos] * (shape[a] as isize - 1);
            } else {
                strides[a] = cs[pos];
            }
        }
        (off as usize, strides, stored.iter().product())
    }

    fn run_case<T: Copy + PartialEq + std::fmt::Debug>(c: &Case, make: impl Fn(usize) -> T) {
        let r = c.shape.len();
        let (soff, ss, slen) = layout(&c.shape, &c.perm, &c.reversed, &c.broadcast);
        let src: Vec<T> = (0..slen).map(&make).collect();
        let no = vec![false; r];
        let (doff, ds, dlen) = layout(&c.shape, &c.dst_perm, &c.reversed, &no);
        let sentinel = make(usize::MAX / 2);
        let mut want = vec![sentinel; dlen + 3];
        reference::copy(&c.shape, &src, soff, &ss, &mut want, doff, &ds);
        for isa in Isa::all_available() {
            let mut got = vec![sentinel; dlen + 3];
            copy_with(
                isa,
                &c.shape,
                Strided {
                    data: &src,
                    offset: soff,
                    strides: ss,
                },
                StridedMut {
                    data: &mut got,
                    offset: doff,
                    strides: ds,
                },
            )
            .unwrap();
            assert_eq!(got, want, "{isa:?}");
            assert_eq!(got[dlen..], [sentinel; 3]);
        }
        // The splitting entry point, called in 1, 2 and 3 parts (the destination has no
        // broadcast axis, so an axis is found whenever one is longer than 1).
        let mut p = CopyParams {
            src: std::ptr::null(),
            dst: std::ptr::null_mut(),
            elem_size: std::mem::size_of::<T>(),
            rank: r,
            shape: [1; MAX_RANK],
            src_strides: ss,
            dst_strides: ds,
        };
        p.shape[..r].copy_from_slice(&c.shape);
        let Some((axis, n)) = copy_split_axis(&p) else {
            assert!(c.shape.iter().all(|&e| e <= 1), "{c:?}");
            return;
        };
        assert_eq!(n, c.shape[axis]);
        for parts in [1, 2, 3] {
            let mut got = vec![sentinel; dlen + 3];
            p.src = src[soff..].as_ptr().cast();
            p.dst = got[doff..].as_mut_ptr().cast();
            for i in 0..parts {
                // SAFETY: the params describe `src` and `got` exactly as the safe copy did;
                // the parts are disjoint and run one after another.
                unsafe { bqml_copy_rows(&p, n * i / parts, n * (i + 1) / parts) };
            }
            assert_eq!(got, want, "{parts} parts on axis {axis}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn copy_matches_reference_all_elem_sizes(c in case()) {
            run_case(&c, |i| i as u8);
            run_case(&c, |i| i as u16);
            run_case(&c, |i| i as f32);
            run_case(&c, |i| (i as i64).wrapping_mul(1_000_000_007));
            run_case(&c, |i| [i as u8, (i >> 8) as u8, 3]);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]

        /// NCHW <-> NHWC style relayouts with extents large enough for whole 8×8 blocks.
        #[test]
        fn relayout_matches_reference(
            n in 1usize..3, c in 1usize..40, hw in 1usize..70, to_nhwc in any::<bool>(),
        ) {
            let c = Case {
                shape: vec![n, c, hw],
                perm: if to_nhwc { vec![0, 1, 2] } else { vec![0, 2, 1] },
                reversed: vec![false; 3],
                broadcast: vec![false; 3],
                dst_perm: if to_nhwc { vec![0, 2, 1] } else { vec![0, 1, 2] },
            };
            run_case(&c, |i| i as f32);
            run_case(&c, |i| i as u16);
        }
    }

    /// The split axis is the longest one that is unit-stride on neither side; broadcast
    /// destination axes and rank 0 are never split.
    #[test]
    fn split_axis_choice() {
        let params = |shape: &[usize], ss: &[isize], ds: &[isize]| {
            let mut p = CopyParams {
                src: std::ptr::null(),
                dst: std::ptr::null_mut(),
                elem_size: 4,
                rank: shape.len(),
                shape: [1; MAX_RANK],
                src_strides: [0; MAX_RANK],
                dst_strides: [0; MAX_RANK],
            };
            p.shape[..shape.len()].copy_from_slice(shape);
            p.src_strides[..ss.len()].copy_from_slice(ss);
            p.dst_strides[..ds.len()].copy_from_slice(ds);
            p
        };
        // NCHW -> NHWC of 1×3×224×224: H, not the unit-stride W or C.
        let nchw = params(
            &[1, 3, 224, 224],
            &[150528, 50176, 224, 1],
            &[150528, 1, 672, 3],
        );
        assert_eq!(copy_split_axis(&nchw), Some((2, 224)));
        // Contiguous 1-D: the only axis.
        assert_eq!(
            copy_split_axis(&params(&[1000], &[1], &[1])),
            Some((0, 1000))
        );
        // A broadcast destination axis is never split; nothing else is longer than 1.
        assert_eq!(copy_split_axis(&params(&[1, 8], &[8, 1], &[8, 0])), None);
        assert_eq!(copy_split_axis(&params(&[], &[], &[])), None);
    }

    /// A channel shuffle of 2 groups per pixel: the destination's unit-stride axis is 2 long,
    /// the source's 58; the runs go along the longer one (and the result is the same).
    #[test]
    fn channel_shuffle_runs_along_the_long_unit_axis() {
        let (px, half) = (5usize, 58usize);
        let c = 2 * half;
        let src: Vec<f32> = (0..px * c).map(|i| i as f32).collect();
        for isa in Isa::all_available() {
            let mut dst = vec![0f32; px * c];
            // dst[p][i][j] = src[p][j * half + i]
            copy_with(
                isa,
                &[px, half, 2],
                Strided {
                    data: &src,
                    offset: 0,
                    strides: [c as isize, 1, half as isize, 0, 0, 0],
                },
                StridedMut::contiguous(&mut dst, &[px, half, 2]),
            )
            .unwrap();
            for p in 0..px {
                for i in 0..half {
                    for j in 0..2 {
                        assert_eq!(dst[p * c + i * 2 + j], src[p * c + j * half + i], "{isa:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn transpose_large_blocked() {
        let (h, w) = (70, 45);
        let src: Vec<f32> = (0..h * w).map(|i| i as f32).collect();
        for isa in Isa::all_available() {
            let mut dst = vec![0f32; h * w];
            // dst[j][i] = src[i][j]
            copy_with(
                isa,
                &[w, h],
                Strided {
                    data: &src,
                    offset: 0,
                    strides: [1, w as isize, 0, 0, 0, 0],
                },
                StridedMut::contiguous(&mut dst, &[w, h]),
            )
            .unwrap();
            for i in 0..h {
                for j in 0..w {
                    assert_eq!(dst[j * h + i], src[i * w + j], "{isa:?}");
                }
            }
        }
    }

    #[test]
    fn copy_rejects_out_of_bounds() {
        let src = [0f32; 5];
        let mut dst = [0f32; 6];
        let e = copy(
            &[6],
            Strided::contiguous(&src, &[6]),
            StridedMut::contiguous(&mut dst, &[6]),
        );
        assert!(e.is_err());
        let e = copy(
            &[3],
            Strided {
                data: &src,
                offset: 1,
                strides: [-1, 0, 0, 0, 0, 0],
            },
            StridedMut::contiguous(&mut dst, &[3]),
        );
        assert!(e.is_err());
    }

    #[test]
    fn fill_writes_pattern() {
        let mut a = [0u16; 7];
        fill(&mut a, 0xBEEF).unwrap();
        assert_eq!(a, [0xBEEF; 7]);
        let mut b = [0f32; 5];
        fill(&mut b, -2.5).unwrap();
        assert_eq!(b, [-2.5; 5]);
        let mut c = [0i64; 3];
        fill(&mut c, -7).unwrap();
        assert_eq!(c, [-7; 3]);
        let mut d = [0u8; 9];
        fill(&mut d, 0xAB).unwrap();
        assert_eq!(d, [0xAB; 9]);
    }
}
