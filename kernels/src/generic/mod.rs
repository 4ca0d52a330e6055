//! Generic kernels: ONNX ops other than convolution, Gemm and 2-D NHWC pooling, as native calls
//! for the compiler's generated code.
//!
//! # Conventions
//!
//! * **Tensors** are a base pointer plus per-axis strides in *elements* (`isize`; negative for
//!   reversed views such as `Slice` with negative steps, `0` for broadcast axes) and a shape of at
//!   most [`MAX_RANK`] axes. Params structs carry `[usize; MAX_RANK]` / `[isize; MAX_RANK]` arrays
//!   and a `rank`; entries at and beyond `rank` are ignored. Rank 0 is a scalar. Kernels without
//!   strides ([`softmax`](mod@softmax), [`argmax`](mod@argmax), [`pad`](mod@pad), [`gather`](mod@gather), [`unary`](mod@unary), [`pool_nd`](mod@pool_nd)) take contiguous
//!   row-major data, described as `[outer, n, inner]` where one axis is special.
//! * **Element types.** Type-generic kernels ([`copy`](mod@copy), [`pad`](mod@pad), [`gather`](mod@gather)) take an `elem_size`
//!   in bytes and move bit patterns; [`binary`](mod@binary) takes a `dtype` code ([`DT_F32`], [`DT_I64`],
//!   ONNX numbering); the rest are `f32` (ArgMax writes `i64`).
//! * **Entry points** are `#[no_mangle] pub unsafe extern "C" fn bqml_<name>(p: *const
//!   <Name>Params)`, one call per op (no work ranges), single-threaded. They never unwind: an
//!   unknown op code, element size or rank is a code-generation bug and aborts the process with a
//!   message on stderr; index errors in data ([`bqml_gather`]) are returned as a status. Buffer
//!   sizes are the caller's contract (documented under `# Safety` on each symbol). Pointers must
//!   be aligned for their element type even where a field is declared `*const u8` (only
//!   [`bqml_copy`], [`bqml_fill`], [`bqml_pad`], [`bqml_gather`] and [`bqml_cast`] accept any
//!   alignment).
//! * **Aliasing.** Outputs never overlap inputs, except where a kernel documents in-place use
//!   (`x == y` for [`bqml_unary`] and [`bqml_softmax`]; `y` identical to `a` or `b` for
//!   [`bqml_binary`]).
//! * **NaN** propagates through arithmetic, Max/Min, Relu, Clip and reductions (numpy
//!   semantics); ArgMax/ArgMin treat NaN as the extreme (first NaN wins).
//! * **Safe wrappers** (`copy`, `unary`, …) take slices (plus [`Strided`] views for the strided
//!   kernels), check that every addressed element lies inside its slice, and return
//!   [`KernelError`] otherwise. Kernels with SIMD paths take an explicit [`Isa`] so tests can run
//!   both; the `extern "C"` symbols use [`Isa::detect`].
//! * **References.** Each family has a plain scalar reference in its `reference` submodule
//!   (transcendental functions in f64), which the proptests compare against.
//!
//! # Families
//!
//! | file | symbol | params | ONNX ops |
//! |---|---|---|---|
//! | `copy` | [`bqml_copy`], [`bqml_fill`] | [`CopyParams`], [`FillParams`] | Transpose, Slice, Concat/Split (one copy per part), Expand, Tile (one copy per tile), DepthToSpace/SpaceToDepth (as strided copies), relayouts, Identity, ConstantOfShape |
//! | `unary` | [`bqml_unary`] | [`UnaryParams`], `UNARY_*` | Relu, Sigmoid, Tanh, Exp, Log, Sqrt, Erf, Neg, Abs, Reciprocal, Floor, Ceil, LeakyRelu, HardSigmoid, HardSwish, Elu, Selu, Softplus, Clip, Silu, Round, Sign, Softsign, Gelu (exact and tanh), Sin, Cos, ThresholdedRelu, Mish, Identity/Dropout |
//! | `binary` | [`bqml_binary`] | [`BinaryParams`], `BINARY_*` | Add, Sub, Mul, Div, Pow, Max, Min (two inputs), PRelu; numpy broadcasting through 0 strides |
//! | `cast` | [`bqml_cast`] | [`CastParams`], `DT_*` | Cast between f32, f64, i64, i32, i8, u8, bool |
//! | `reduce` | [`bqml_reduce`] | [`ReduceParams`], `REDUCE_*` | ReduceSum/Mean/Max/Min/Prod/L1/L2/SumSquare/LogSum/LogSumExp, GlobalAverage/MaxPool on NCHW |
//! | `softmax` | [`bqml_softmax`] | [`SoftmaxParams`] | Softmax, LogSoftmax (opset 13 single axis; older opsets flatten to `[outer, n, 1]`) |
//! | `argmax` | [`bqml_argmax`] | [`ArgParams`] | ArgMax, ArgMin (keepdims only changes the shape) |
//! | `pool_nd` | [`bqml_pool_nd`] | [`PoolNdParams`], `POOL_ND_*` | MaxPool (with Indices), AveragePool; 1-D/2-D/3-D, NCHW |
//! | `pad` | [`bqml_pad`] | [`PadParams`], `PAD_*` | Pad (constant, reflect, edge, wrap; negative pads crop) |
//! | `gather` | [`bqml_gather`] | [`GatherParams`] | Gather (any axis, negative indices) |
//! | `resize` | [`bqml_resize`] | [`ResizeParams`], tables from [`resize_axis_table`] | Resize / Upsample: nearest, linear, cubic over any axes, every coordinate_transformation_mode |
//! | `matmul` | [`bqml_matmul`] | [`MatMulParams`] | MatMul with two activation operands (batched; 0 batch strides broadcast) |
//!
//! # Accuracy
//!
//! The AVX2 `exp`, `expm1`, `sigmoid`, `silu`, `tanh` and `erf` (also used by Elu, Selu, Gelu and
//! Softmax) have a measured maximum relative error of 0.8–1.3e-7 (about one ulp) over the whole
//! f32 range, asserted in `unary`'s tests; the portable path rounds f64 results once.

use crate::error::KernelError;

pub mod argmax;
pub mod binary;
pub mod cast;
pub mod copy;
pub mod gather;
pub mod matmul;
pub mod pad;
pub mod pool_nd;
pub mod reduce;
pub mod resize;
pub mod softmax;
pub mod unary;
#[cfg(target_arch = "x86_64")]
pub(crate) mod vmath;

pub use argmax::{argmax, bqml_argmax, ArgParams};
pub use binary::{
    binary, bqml_binary, BinaryParams, BINARY_ADD, BINARY_DIV, BINARY_LAST, BINARY_MAX, BINARY_MIN,
    BINARY_MUL, BINARY_POW, BINARY_PRELU, BINARY_SUB,
};
pub use cast::{bqml_cast, cast, dtype_size, CastParams, DT_BOOL, DT_F64, DT_I32, DT_I8, DT_U8};
pub use copy::{bqml_copy, bqml_fill, copy, copy_with, fill, CopyParams, FillParams};
pub use gather::{bqml_gather, gather, GatherParams, GATHER_INDEX_OUT_OF_RANGE, GATHER_OK};
pub use matmul::{bqml_matmul, matmul, MatMulParams, MatMulShape};
pub use pad::{bqml_pad, pad, PadParams, PAD_CONSTANT, PAD_EDGE, PAD_REFLECT, PAD_WRAP};
pub use pool_nd::{
    bqml_pool_nd, pool_nd, PoolNdGeometry, PoolNdParams, POOL_ND_AVG_EXCLUDE_PAD,
    POOL_ND_AVG_INCLUDE_PAD, POOL_ND_MAX,
};
pub use reduce::{
    bqml_reduce, reduce, ReduceParams, REDUCE_L1, REDUCE_L2, REDUCE_LAST, REDUCE_LOG_SUM,
    REDUCE_LOG_SUM_EXP, REDUCE_MAX, REDUCE_MEAN, REDUCE_MIN, REDUCE_PROD, REDUCE_SUM,
    REDUCE_SUM_SQUARE,
};
pub use resize::{
    bqml_resize, resize, resize_axis_table, AxisResize, AxisTable, ResizeParams,
    COORD_ALIGN_CORNERS, COORD_ASYMMETRIC, COORD_HALF_PIXEL, COORD_HALF_PIXEL_SYMMETRIC,
    COORD_PYTORCH_HALF_PIXEL, COORD_TF_CROP_AND_RESIZE, NEAREST_CEIL, NEAREST_FLOOR,
    NEAREST_ROUND_PREFER_CEIL, NEAREST_ROUND_PREFER_FLOOR, RESIZE_CUBIC, RESIZE_LINEAR,
    RESIZE_NEAREST,
};
pub use softmax::{bqml_softmax, softmax, SoftmaxParams};
pub use unary::{
    bqml_unary, unary, unary_inplace, UnaryParams, UNARY_ABS, UNARY_CEIL, UNARY_CLIP, UNARY_COS,
    UNARY_ELU, UNARY_ERF, UNARY_EXP, UNARY_FLOOR, UNARY_GELU, UNARY_GELU_TANH, UNARY_HARD_SIGMOID,
    UNARY_HARD_SWISH, UNARY_IDENTITY, UNARY_LAST, UNARY_LEAKY_RELU, UNARY_LOG, UNARY_MISH,
    UNARY_NEG, UNARY_RECIPROCAL, UNARY_RELU, UNARY_ROUND, UNARY_SELU, UNARY_SIGMOID, UNARY_SIGN,
    UNARY_SILU, UNARY_SIN, UNARY_SOFTPLUS, UNARY_SOFTSIGN, UNARY_SQRT, UNARY_TANH,
    UNARY_THRESHOLDED_RELU,
};

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

    /// Empty tensors are no-ops that touch no memory, even with dangling strides.
    #[test]
    fn zero_sized_shapes_are_no_ops() {
        let src = [1f32; 4];
        let mut dst = [7f32; 4];
        let huge = [1_000_000, -1_000_000, 0, 0, 0, 0];
        copy(
            &[3, 0],
            Strided {
                data: &src,
                offset: 0,
                strides: huge,
            },
            StridedMut {
                data: &mut dst,
                offset: 0,
                strides: huge,
            },
        )
        .unwrap();
        for isa in Isa::all_available() {
            binary(
                isa,
                BINARY_ADD,
                &[0, 5],
                Strided {
                    data: &src,
                    offset: 0,
                    strides: huge,
                },
                Strided {
                    data: &src,
                    offset: 0,
                    strides: huge,
                },
                StridedMut {
                    data: &mut dst,
                    offset: 0,
                    strides: huge,
                },
            )
            .unwrap();
            matmul(
                isa,
                &MatMulShape::dense(3, 0, 4, 2),
                &[],
                &[0.0; 24],
                &mut [],
            )
            .unwrap();
        }
        assert_eq!(dst, [7.0; 4]);
    }

    /// Every `extern "C"` symbol, called the way generated code calls it, agrees with its safe
    /// wrapper (which the per-family proptests check against the references).
    #[test]
    fn entry_points_match_safe_wrappers() {
        let x: Vec<f32> = (0..24).map(|i| i as f32 * 0.37 - 4.0).collect();
        let isa = Isa::detect();

        // Transpose [2, 3, 4] -> [4, 3, 2].
        let mut via_ffi = vec![0f32; 24];
        let mut via_safe = vec![0f32; 24];
        let src_strides = [1, 4, 12, 0, 0, 0];
        let p = CopyParams {
            src: x.as_ptr() as *const u8,
            dst: via_ffi.as_mut_ptr() as *mut u8,
            elem_size: 4,
            rank: 3,
            shape: [4, 3, 2, 1, 1, 1],
            src_strides,
            dst_strides: contiguous_strides(&[4, 3, 2]),
        };
        // SAFETY: both buffers hold the 24 addressed elements.
        unsafe { bqml_copy(&p) };
        copy(
            &[4, 3, 2],
            Strided {
                data: &x,
                offset: 0,
                strides: src_strides,
            },
            StridedMut::contiguous(&mut via_safe, &[4, 3, 2]),
        )
        .unwrap();
        assert_eq!(via_ffi, via_safe);
        assert_eq!(via_ffi[1], x[12]);

        let mut filled = [0i64; 5];
        let p = FillParams {
            dst: filled.as_mut_ptr() as *mut u8,
            elem_size: 8,
            count: 5,
            value: (-3i64) as u64,
        };
        // SAFETY: 5 elements.
        unsafe { bqml_fill(&p) };
        assert_eq!(filled, [-3; 5]);

        let mut y = vec![0f32; 24];
        let p = UnaryParams {
            op: UNARY_TANH,
            x: x.as_ptr(),
            y: y.as_mut_ptr(),
            n: 24,
            alpha: 0.0,
            beta: 0.0,
        };
        // SAFETY: 24 floats each.
        unsafe { bqml_unary(&p) };
        let mut want = vec![0f32; 24];
        unary(isa, UNARY_TANH, 0.0, 0.0, &x, &mut want).unwrap();
        assert_eq!(y, want);

        // [4, 6] + row vector [6].
        let mut y = vec![0f32; 24];
        let p = BinaryParams {
            op: BINARY_MUL,
            dtype: DT_F32,
            rank: 2,
            shape: [4, 6, 1, 1, 1, 1],
            a: x.as_ptr() as *const u8,
            a_strides: [6, 1, 0, 0, 0, 0],
            b: x.as_ptr() as *const u8,
            b_strides: [0, 1, 0, 0, 0, 0],
            y: y.as_mut_ptr() as *mut u8,
            y_strides: [6, 1, 0, 0, 0, 0],
        };
        // SAFETY: all addressed elements are inside the 24-element buffers.
        unsafe { bqml_binary(&p) };
        assert_eq!(y[13], x[13] * x[1]);

        // Mean over axis 1 of [4, 6].
        let mut y = vec![0f32; 4];
        let p = ReduceParams {
            op: REDUCE_MEAN,
            rank: 2,
            shape: [4, 6, 1, 1, 1, 1],
            x: x.as_ptr(),
            x_strides: [6, 1, 0, 0, 0, 0],
            reduce_mask: 0b10,
            y: y.as_mut_ptr(),
            y_strides: [1, 0, 0, 0, 0, 0],
        };
        // SAFETY: in bounds.
        unsafe { bqml_reduce(&p) };
        let want: f32 = x[6..12].iter().sum::<f32>() / 6.0;
        assert!((y[1] - want).abs() < 1e-5);

        let mut y = vec![0f32; 24];
        let p = SoftmaxParams {
            x: x.as_ptr(),
            y: y.as_mut_ptr(),
            outer: 2,
            n: 3,
            inner: 4,
            log: 0,
        };
        // SAFETY: 24 floats each.
        unsafe { bqml_softmax(&p) };
        let mut want = vec![0f32; 24];
        softmax(isa, false, 2, 3, 4, &x, &mut want).unwrap();
        assert_eq!(y, want);

        let mut idx = vec![0i64; 8];
        let p = ArgParams {
            x: x.as_ptr(),
            y: idx.as_mut_ptr(),
            outer: 2,
            n: 3,
            inner: 4,
            is_min: 0,
            select_last: 0,
        };
        // SAFETY: 24 inputs, 8 outputs.
        unsafe { bqml_argmax(&p) };
        assert_eq!(idx, [2; 8]);

        // MaxPool 1-D over [2 planes, 12], kernel 3 stride 3.
        let mut y = vec![0f32; 8];
        let mut ind = vec![0i64; 8];
        let p = PoolNdParams {
            kind: POOL_ND_MAX,
            spatial: 1,
            batch_channels: 2,
            in_shape: [12, 1, 1],
            out_shape: [4, 1, 1],
            kernel: [3, 1, 1],
            strides: [3, 1, 1],
            dilations: [1, 1, 1],
            pads_begin: [0; 3],
            pads_end: [0; 3],
            x: x.as_ptr(),
            y: y.as_mut_ptr(),
            indices: ind.as_mut_ptr(),
        };
        // SAFETY: sizes as documented.
        unsafe { bqml_pool_nd(&p) };
        assert_eq!(ind, [2, 5, 8, 11, 14, 17, 20, 23]);
        assert_eq!(y[7], x[23]);

        let mut y = vec![0f32; 8];
        let p = PadParams {
            mode: PAD_EDGE,
            elem_size: 4,
            rank: 1,
            in_shape: [4, 1, 1, 1, 1, 1],
            pads_begin: [2, 0, 0, 0, 0, 0],
            out_shape: [8, 1, 1, 1, 1, 1],
            x: x.as_ptr() as *const u8,
            y: y.as_mut_ptr() as *mut u8,
            value: 0,
        };
        // SAFETY: 4 inputs, 8 outputs.
        unsafe { bqml_pad(&p) };
        assert_eq!(y, [x[0], x[0], x[0], x[1], x[2], x[3], x[3], x[3]]);

        let indices = [5i64, -1, 9];
        let mut y = vec![0f32; 3];
        let mut p = GatherParams {
            elem_size: 4,
            outer: 1,
            axis_len: 24,
            inner: 1,
            x: x.as_ptr() as *const u8,
            indices: indices.as_ptr(),
            n_indices: 3,
            y: y.as_mut_ptr() as *mut u8,
        };
        // SAFETY: sizes as documented.
        assert_eq!(unsafe { bqml_gather(&p) }, GATHER_OK);
        assert_eq!(y, [x[5], x[23], x[9]]);
        p.axis_len = 8;
        // SAFETY: a smaller view of the same input.
        assert_eq!(unsafe { bqml_gather(&p) }, GATHER_INDEX_OUT_OF_RANGE);
        assert_eq!(y, [x[5], x[7], 0.0]);

        // [2, 3] · [3, 4], B broadcast over a batch of 2 A matrices from x.
        let s = MatMulShape {
            b_batch_stride: 0,
            ..MatMulShape::dense(2, 3, 3, 4)
        };
        let mut y = vec![0f32; 24];
        let p = MatMulParams {
            batch: 2,
            m: 3,
            k: 3,
            n: 4,
            a: x.as_ptr(),
            a_batch_stride: 9,
            lda: 3,
            b: x.as_ptr(),
            b_batch_stride: 0,
            ldb: 4,
            y: y.as_mut_ptr(),
            y_batch_stride: 12,
            ldy: 4,
        };
        // SAFETY: in bounds.
        unsafe { bqml_matmul(&p) };
        let mut want = vec![0f32; 24];
        matmul(isa, &s, &x, &x, &mut want).unwrap();
        assert_eq!(y, want);

        // Nearest 2x upsample of the last axis of [2, 12].
        let t = resize_axis_table(&AxisResize {
            mode: RESIZE_NEAREST,
            coord: COORD_ASYMMETRIC,
            nearest: NEAREST_FLOOR,
            cubic_a: -0.75,
            exclude_outside: false,
            in_len: 12,
            out_len: 24,
            scale: 2.0,
            roi: [0.0, 1.0],
        })
        .unwrap();
        let ident = [0i64, 1];
        let mut y = vec![0f32; 48];
        let p = ResizeParams {
            rank: 2,
            in_shape: [2, 12, 1, 1, 1, 1],
            out_shape: [2, 24, 1, 1, 1, 1],
            taps: [1, 1, 1, 1, 1, 1],
            index: [
                ident.as_ptr(),
                t.index.as_ptr(),
                std::ptr::null(),
                std::ptr::null(),
                std::ptr::null(),
                std::ptr::null(),
            ],
            weight: [std::ptr::null(); MAX_RANK],
            extrapolation_value: 0.0,
            x: x.as_ptr(),
            y: y.as_mut_ptr(),
        };
        // SAFETY: tables and buffers sized as documented.
        unsafe { bqml_resize(&p) };
        assert_eq!((y[0], y[1], y[2], y[47]), (x[0], x[0], x[1], x[23]));

        let mut ints = vec![0i64; 24];
        let p = CastParams {
            from: DT_F32,
            to: DT_I64,
            n: 24,
            x: x.as_ptr() as *const u8,
            y: ints.as_mut_ptr() as *mut u8,
        };
        // SAFETY: 24 elements each.
        unsafe { bqml_cast(&p) };
        assert_eq!(ints, x.iter().map(|&v| v as i64).collect::<Vec<_>>());
    }
}
