//! What the generic kernels share: the rank limit and dtype codes, strided views and their
//! bounds check, N-d iteration (axis merging, runs along the last axis), and the abort for
//! malformed params.

use super::cast::{DT_BOOL, DT_F64, DT_I32, DT_U8};
use crate::error::KernelError;
use crate::isa::Isa;

/// Maximum tensor rank of the strided kernels.
pub const MAX_RANK: usize = 6;
/// ONNX `TensorProto.FLOAT`.
pub const DT_F32: u32 = 1;
/// ONNX `TensorProto.INT64`.
pub const DT_I64: u32 = 7;

/// Element types of the arithmetic kernels, with their ONNX dtype code.
pub trait Element: Copy + Default + PartialEq + std::fmt::Debug + 'static {
    /// `DT_*` code.
    const DTYPE: u32;
}

impl Element for f32 {
    const DTYPE: u32 = DT_F32;
}

impl Element for i64 {
    const DTYPE: u32 = DT_I64;
}

impl Element for i32 {
    const DTYPE: u32 = DT_I32;
}

impl Element for f64 {
    const DTYPE: u32 = DT_F64;
}

impl Element for u8 {
    const DTYPE: u32 = DT_U8;
}

/// Stored as one byte, 0 or 1 (ONNX `BOOL`).
impl Element for bool {
    const DTYPE: u32 = DT_BOOL;
}

/// A strided read-only view for the safe wrappers: element `idx` is
/// `data[offset + Σ idx[i] * strides[i]]`.
#[derive(Clone, Copy, Debug)]
pub struct Strided<'a, T> {
    /// Backing storage.
    pub data: &'a [T],
    /// Element index of the view's origin (all indices 0).
    pub offset: usize,
    /// Per-axis strides in elements (first `rank` used).
    pub strides: [isize; MAX_RANK],
}

/// A strided writable view; see [`Strided`].
#[derive(Debug)]
pub struct StridedMut<'a, T> {
    /// Backing storage.
    pub data: &'a mut [T],
    /// Element index of the view's origin.
    pub offset: usize,
    /// Per-axis strides in elements.
    pub strides: [isize; MAX_RANK],
}

/// Row-major strides of a contiguous tensor of `shape`.
pub fn contiguous_strides(shape: &[usize]) -> [isize; MAX_RANK] {
    let mut s = [0isize; MAX_RANK];
    let mut acc = 1isize;
    for i in (0..shape.len().min(MAX_RANK)).rev() {
        s[i] = acc;
        acc *= shape[i] as isize;
    }
    s
}

impl<'a, T> Strided<'a, T> {
    /// A contiguous row-major view of all of `data` with `shape`.
    pub fn contiguous(data: &'a [T], shape: &[usize]) -> Self {
        Strided {
            data,
            offset: 0,
            strides: contiguous_strides(shape),
        }
    }

    pub(crate) fn check(&self, shape: &[usize], what: &str) -> Result<(), KernelError> {
        check_extent(self.data.len(), self.offset, shape, &self.strides, what)
    }

    pub(crate) fn origin(&self) -> *const T {
        self.data.as_ptr().wrapping_add(self.offset)
    }
}

impl<'a, T> StridedMut<'a, T> {
    /// A contiguous row-major view of all of `data` with `shape`.
    pub fn contiguous(data: &'a mut [T], shape: &[usize]) -> Self {
        StridedMut {
            data,
            offset: 0,
            strides: contiguous_strides(shape),
        }
    }

    pub(crate) fn check(&self, shape: &[usize], what: &str) -> Result<(), KernelError> {
        check_extent(self.data.len(), self.offset, shape, &self.strides, what)
    }

    pub(crate) fn origin(&mut self) -> *mut T {
        self.data.as_mut_ptr().wrapping_add(self.offset)
    }
}

/// Check that every element `offset + Σ idx[i] * strides[i]` (`idx < shape`) is inside `0..len`.
pub(crate) fn check_extent(
    len: usize,
    offset: usize,
    shape: &[usize],
    strides: &[isize],
    what: &str,
) -> Result<(), KernelError> {
    if shape.len() > MAX_RANK {
        return Err(KernelError::new(format!(
            "{what}: rank {} exceeds {MAX_RANK}",
            shape.len()
        )));
    }
    if shape.contains(&0) {
        return Ok(());
    }
    let (mut lo, mut hi) = (offset as i128, offset as i128);
    for (&n, &s) in shape.iter().zip(strides) {
        let span = (n as i128 - 1) * s as i128;
        if span < 0 {
            lo += span;
        } else {
            hi += span;
        }
    }
    if lo < 0 || hi >= len as i128 {
        return Err(KernelError::new(format!(
            "{what}: shape {shape:?} strides {:?} offset {offset} address elements {lo}..={hi} outside 0..{len}",
            &strides[..shape.len()]
        )));
    }
    Ok(())
}

/// Shape array from a slice (rank checked by the caller).
pub(crate) fn shape_array(shape: &[usize]) -> [usize; MAX_RANK] {
    let mut a = [1usize; MAX_RANK];
    a[..shape.len()].copy_from_slice(shape);
    a
}

/// Number of elements of `shape`, `None` on overflow.
pub(crate) fn numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &n| a.checked_mul(n))
}

/// Report a code-generation bug from an `extern "C"` entry point without unwinding.
pub(crate) fn abort_bad_params(msg: std::fmt::Arguments<'_>) -> ! {
    eprintln!("bqml kernels: {msg}");
    std::process::abort()
}

/// Simplify an N-d iteration over `K` strided operands: drop size-1 axes and merge axis pairs
/// that are contiguous in every operand (`stride[i] == stride[i+1] * shape[i+1]`). Returns the new
/// rank, or `None` if some axis has length 0 (nothing to do). Iteration order is preserved.
pub(crate) fn normalize<const K: usize>(
    rank: usize,
    shape: &mut [usize; MAX_RANK],
    strides: &mut [[isize; MAX_RANK]; K],
) -> Option<usize> {
    let rank = rank.min(MAX_RANK);
    if shape[..rank].contains(&0) {
        return None;
    }
    let mut out = 0;
    for i in 0..rank {
        if shape[i] == 1 {
            continue;
        }
        if out > 0 {
            let prev = out - 1;
            let mergeable = strides
                .iter()
                .all(|s| s[prev] == s[i].wrapping_mul(shape[i] as isize));
            if mergeable {
                shape[prev] *= shape[i];
                for s in strides.iter_mut() {
                    s[prev] = s[i];
                }
                continue;
            }
        }
        shape[out] = shape[i];
        for s in strides.iter_mut() {
            s[out] = s[i];
        }
        out += 1;
    }
    for i in out..MAX_RANK {
        shape[i] = 1;
        for s in strides.iter_mut() {
            s[i] = 0;
        }
    }
    Some(out)
}

/// Call `f(offsets, n)` for every run along the last axis of an N-d iteration, in row-major
/// order, where `offsets[j]` is operand `j`'s element offset of the run's first element and `n`
/// the last axis' length. Rank 0 gives one run of length 1.
#[inline]
pub(crate) fn for_each_run<const K: usize>(
    rank: usize,
    shape: &[usize; MAX_RANK],
    strides: &[[isize; MAX_RANK]; K],
    mut f: impl FnMut([isize; K], usize),
) {
    if rank == 0 {
        f([0; K], 1);
        return;
    }
    let last = rank - 1;
    let inner = shape[last];
    let mut idx = [0usize; MAX_RANK];
    let mut off = [0isize; K];
    loop {
        f(off, inner);
        // Odometer over axes 0..last.
        let mut ax = last;
        loop {
            if ax == 0 {
                return;
            }
            ax -= 1;
            idx[ax] += 1;
            for (o, s) in off.iter_mut().zip(strides) {
                *o += s[ax];
            }
            if idx[ax] < shape[ax] {
                break;
            }
            for (o, s) in off.iter_mut().zip(strides) {
                *o -= s[ax] * shape[ax] as isize;
            }
            idx[ax] = 0;
        }
    }
}

/// The ISA the `extern "C"` entry points use.
#[inline]
pub(crate) fn detected() -> Isa {
    Isa::detect()
}

/// The axis an element-wise kernel's `_rows` entry point splits between threads, and its
/// extent: the longest axis that is unit-stride on no side (every part keeps whole
/// contiguous runs), else the longest axis. Axes where the output stride is 0 are never
/// split (broadcast writes: two threads would race on them); `None` when nothing is left.
pub(crate) fn split_axis(
    rank: usize,
    shape: &[usize; MAX_RANK],
    out_strides: &[isize; MAX_RANK],
    in_strides: &[&[isize; MAX_RANK]],
) -> Option<(usize, usize)> {
    let rank = rank.min(MAX_RANK);
    let candidates = || (0..rank).filter(|&i| out_strides[i] != 0 && shape[i] > 1);
    let inner = |i: usize| out_strides[i].abs() == 1 || in_strides.iter().any(|s| s[i].abs() == 1);
    let longest = |it: &mut dyn Iterator<Item = usize>| it.max_by_key(|&i| (shape[i], rank - i));
    longest(&mut candidates().filter(|&i| !inner(i)))
        .or_else(|| longest(&mut candidates()))
        .map(|i| (i, shape[i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_merges_contiguous_and_drops_unit_axes() {
        let mut shape = [2, 1, 3, 4, 1, 1];
        let mut strides = [[12, 99, 4, 1, 7, 7], [1, 5, 8, 2, 0, 0]];
        let r = normalize(4, &mut shape, &mut strides).unwrap();
        // Operand 0 is contiguous over (2, 3, 4); operand 1 only over (3, 4).
        assert_eq!(r, 2);
        assert_eq!(&shape[..2], &[2, 12]);
        assert_eq!(strides[0][..2], [12, 1]);
        assert_eq!(strides[1][..2], [1, 2]);
        assert!(normalize(3, &mut [2, 0, 3, 1, 1, 1], &mut [[0; MAX_RANK]]).is_none());
    }

    #[test]
    fn for_each_run_visits_row_major() {
        let shape = [2, 3, 2, 1, 1, 1];
        let strides = [[6, 2, 1, 0, 0, 0], [1, -2, 10, 0, 0, 0]];
        let mut seen = vec![];
        for_each_run(3, &shape, &strides, |o, n| seen.push((o, n)));
        assert_eq!(seen.len(), 6);
        assert_eq!(seen[0], ([0, 0], 2));
        assert_eq!(seen[1], ([2, -2], 2));
        assert_eq!(seen[3], ([6, 1], 2));
        assert_eq!(seen[5], ([10, -3], 2));
    }

    #[test]
    fn extent_check_handles_negative_and_zero_strides() {
        assert!(check_extent(10, 9, &[10], &[-1], "x").is_ok());
        assert!(check_extent(10, 8, &[10], &[-1], "x").is_err());
        assert!(check_extent(1, 0, &[5, 7], &[0, 0], "x").is_ok());
        assert!(check_extent(0, 0, &[5, 0], &[1, 1], "x").is_ok());
        assert!(check_extent(12, 0, &[3, 4], &[4, 1], "x").is_ok());
        assert!(check_extent(11, 0, &[3, 4], &[4, 1], "x").is_err());
    }
}
