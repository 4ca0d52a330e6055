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
//!   row-major data, described as `[outer, n, inner]` where one axis is special;
//!   [`layernorm`](mod@layernorm) takes rows of contiguous elements with a row stride.
//! * **Element types.** Type-generic kernels ([`copy`](mod@copy), [`pad`](mod@pad), [`gather`](mod@gather)) take an `elem_size`
//!   in bytes and move bit patterns; [`binary`](mod@binary) takes a `dtype` code ([`DT_F32`], [`DT_I64`],
//!   ONNX numbering); the rest are `f32` (ArgMax writes `i64`).
//! * **Entry points** are `#[no_mangle] pub unsafe extern "C" fn bqml_<name>(p: *const
//!   <Name>Params)`, one call per op (no work ranges), single-threaded; the `_rows` variants
//!   ([`bqml_copy_rows`], [`bqml_binary_rows`], [`bqml_layernorm_rows`]) also take `(start, end)`
//!   to split one op between threads. They never unwind: an unknown op code, element size or
//!   rank (or, for [`bqml_layernorm`], overlapping output rows) is a code-generation bug and
//!   aborts the process with a message on stderr; index errors in data ([`bqml_gather`]) are
//!   returned as a status. Buffer sizes are the caller's contract (documented under `# Safety`
//!   on each symbol). Pointers must be aligned for their element type even where a field is
//!   declared `*const u8` (only [`bqml_copy`], [`bqml_fill`], [`bqml_pad`], [`bqml_gather`] and
//!   [`bqml_cast`] accept any alignment).
//! * **Aliasing.** Outputs never overlap inputs, except where a kernel documents in-place use
//!   (`x == y` for [`bqml_unary`] and [`bqml_softmax`]; `x == y` with equal strides for
//!   [`bqml_layernorm`]; `y` identical to `a` or `b` for [`bqml_binary`]).
//! * **NaN** propagates through arithmetic, Max/Min, Relu, Clip and reductions (numpy
//!   semantics); ArgMax/ArgMin treat NaN as the extreme (first NaN wins).
//! * **Safe wrappers** (`copy`, `unary`, …) take slices (plus [`Strided`] views for the strided
//!   kernels), check that every addressed element lies inside its slice, and return
//!   [`KernelError`](crate::KernelError) otherwise. Kernels with SIMD paths take an explicit
//!   [`Isa`](crate::Isa) so tests can run every tier; the `extern "C"` symbols use
//!   [`Isa::detect`](crate::Isa::detect). Most run their AVX2 code under the AVX-512 tier;
//!   [`layernorm`](mod@layernorm) has a 16-lane AVX-512 path of its own.
//! * **References.** Each family has a plain scalar reference in its `reference` submodule
//!   (transcendental functions in f64), which the proptests compare against.
//!
//! # Families
//!
//! | file | symbol | params | ONNX ops |
//! |---|---|---|---|
//! | `copy` | [`bqml_copy`], [`bqml_copy_rows`], [`bqml_fill`] | [`CopyParams`], [`FillParams`] | Transpose, Slice, Concat/Split (one copy per part), Expand, Tile (one copy per tile), DepthToSpace/SpaceToDepth (as strided copies), relayouts, Identity, ConstantOfShape |
//! | `unary` | [`bqml_unary`] | [`UnaryParams`], `UNARY_*` | Relu, Sigmoid, Tanh, Exp, Log, Sqrt, Erf, Neg, Abs, Reciprocal, Floor, Ceil, LeakyRelu, HardSigmoid, HardSwish, Elu, Selu, Softplus, Clip, Silu, Round, Sign, Softsign, Gelu (exact and tanh), Sin, Cos, ThresholdedRelu, Mish, Identity/Dropout |
//! | `binary` | [`bqml_binary`] | [`BinaryParams`], `BINARY_*` | Add, Sub, Mul, Div, Pow, Max, Min (two inputs), PRelu; numpy broadcasting through 0 strides |
//! | `binary` (cont.) | [`bqml_binary`] | [`BINARY_MOD`], [`BINARY_FMOD`]; `dtype` [`DT_I32`] too | Mod (`fmod = 0`: integer remainder with the divisor's sign; `fmod = 1`: truncated remainder, f32 or integers); i32 Add, Sub, Mul, Div, Max, Min, Mod |
//! | `compare` | [`bqml_compare`], [`bqml_compare_rows`] | [`CompareParams`], `CMP_*`, `LOGIC_*` | Equal, Less, LessOrEqual, Greater, GreaterOrEqual (f32, f64, i32, i64, u8, bool; NaN compares false), And, Or, Xor (bool); numpy broadcasting; output bool bytes |
//! | `where_op` | [`bqml_where`], [`bqml_where_rows`] | [`WhereParams`] | Where (bool condition, any 1/2/4/8-byte element type, any alignment; numpy broadcasting) |
//! | `cast` | [`bqml_cast`] | [`CastParams`], `DT_*` | Cast between f32, f64, i64, i32, i8, u8, bool |
//! | `reduce` | [`bqml_reduce`] | [`ReduceParams`], `REDUCE_*` | ReduceSum/Mean/Max/Min/Prod/L1/L2/SumSquare/LogSum/LogSumExp, GlobalAverage/MaxPool on NCHW |
//! | `scatter` | [`bqml_scatter`] | [`ScatterParams`], `SCATTER_*` | ScatterND (update slices at precomputed offsets; none/add/mul/max/min) |
//! | `cumsum` | [`bqml_cumsum`] | [`CumSumParams`] | CumSum (f32, f64, i32, i64; `exclusive`, `reverse`; axis as `[outer, n, inner]`) |
//! | `einsum` | [`bqml_einsum`] | [`EinsumParams`] | Einsum (f32, f64; up to 3 operands and 6 labels; output labels first, summed labels after) |
//! | `sdpa` | [`bqml_attention`], [`bqml_attention_rows`] | [`AttentionParams`] | Attention (opset 23: GQA, mask/bias, causal, softcap, qk output) and the fused MatMul–Softmax–MatMul chain; strided Q/K/V |
//! | `softmax` | [`bqml_softmax`] | [`SoftmaxParams`] | Softmax, LogSoftmax (opset 13 single axis; older opsets flatten to `[outer, n, 1]`) |
//! | `layernorm` | [`bqml_layernorm`], [`bqml_layernorm_rows`] | [`LayerNormParams`] | LayerNormalization (opset 17, `stash_type = 1`; axes from `axis` on flattened to `cols`, the rest to `rows`; optional Mean and InvStdDev outputs) |
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

pub mod argmax;
pub mod binary;
pub mod cast;
mod common;
pub mod compare;
pub mod copy;
pub mod cumsum;
pub mod einsum;
pub mod gather;
pub mod layernorm;
pub mod matmul;
pub mod pad;
pub mod pool_nd;
pub mod reduce;
pub mod resize;
pub mod scatter;
pub mod sdpa;
pub mod softmax;
pub mod unary;
#[cfg(target_arch = "x86_64")]
pub(crate) mod vmath;
pub mod where_op;

pub use argmax::{argmax, bqml_argmax, ArgParams};
pub use binary::{
    binary, binary_split_axis, bqml_binary, bqml_binary_rows, BinaryParams, BINARY_ADD, BINARY_DIV,
    BINARY_LAST, BINARY_MAX, BINARY_MIN, BINARY_MUL, BINARY_POW, BINARY_PRELU, BINARY_SUB,
};
pub use binary::{BINARY_FMOD, BINARY_MOD};
pub use cast::{bqml_cast, cast, dtype_size, CastParams, DT_BOOL, DT_F64, DT_I32, DT_I8, DT_U8};
pub use common::{contiguous_strides, Element, Strided, StridedMut, DT_F32, DT_I64, MAX_RANK};
pub use compare::{
    bqml_compare, bqml_compare_rows, compare, compare_split_axis, CompareParams, CMP_EQ, CMP_GE,
    CMP_GT, CMP_LE, CMP_LT, COMPARE_LAST, LOGIC_AND, LOGIC_OR, LOGIC_XOR,
};
pub use copy::{
    bqml_copy, bqml_copy_rows, bqml_fill, copy, copy_split_axis, copy_with, fill, CopyParams,
    FillParams,
};
pub use cumsum::{bqml_cumsum, cumsum, CumSumParams};
pub use einsum::{bqml_einsum, einsum, EinsumParams, EINSUM_MAX_INPUTS};
pub use gather::{bqml_gather, gather, GatherParams, GATHER_INDEX_OUT_OF_RANGE, GATHER_OK};
pub use layernorm::{bqml_layernorm, bqml_layernorm_rows, layernorm, LayerNormParams};
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
pub use scatter::{
    bqml_scatter, scatter, ScatterParams, SCATTER_ADD, SCATTER_MAX, SCATTER_MIN, SCATTER_MUL,
    SCATTER_NONE,
};
pub use sdpa::{attention, attention_units, bqml_attention, bqml_attention_rows, AttentionParams};
pub use softmax::{bqml_softmax, softmax, SoftmaxParams};
pub use unary::{
    bqml_unary, unary, unary_inplace, UnaryParams, UNARY_ABS, UNARY_CEIL, UNARY_CLIP, UNARY_COS,
    UNARY_ELU, UNARY_ERF, UNARY_EXP, UNARY_FLOOR, UNARY_GELU, UNARY_GELU_TANH, UNARY_HARD_SIGMOID,
    UNARY_HARD_SWISH, UNARY_IDENTITY, UNARY_LAST, UNARY_LEAKY_RELU, UNARY_LOG, UNARY_MISH,
    UNARY_NEG, UNARY_RECIPROCAL, UNARY_RELU, UNARY_ROUND, UNARY_SELU, UNARY_SIGMOID, UNARY_SIGN,
    UNARY_SILU, UNARY_SIN, UNARY_SOFTPLUS, UNARY_SOFTSIGN, UNARY_SQRT, UNARY_TANH,
    UNARY_THRESHOLDED_RELU,
};
pub use where_op::{bqml_where, bqml_where_rows, where_select, where_split_axis, WhereParams};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::Isa;

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

        // LayerNorm of [4, 6] viewed as 3 rows of 5 at stride 8, with scale and bias.
        let (scale, bias) = (&x[..5], &x[5..10]);
        let mut y = vec![0f32; 24];
        let mut mean = vec![0f32; 3];
        let p = LayerNormParams {
            rows: 3,
            cols: 5,
            x: x.as_ptr(),
            x_stride: 8,
            scale: scale.as_ptr(),
            bias: bias.as_ptr(),
            y: y.as_mut_ptr(),
            y_stride: 8,
            epsilon: 1e-5,
            mean: mean.as_mut_ptr(),
            inv_std: std::ptr::null_mut(),
        };
        // SAFETY: 3 rows of 5 at stride 8 fit 24 floats; 3 means.
        unsafe { bqml_layernorm(&p) };
        let mut want = vec![0f32; 24];
        layernorm(
            isa,
            3,
            5,
            &x,
            8,
            Some(scale),
            Some(bias),
            &mut want,
            8,
            1e-5,
        )
        .unwrap();
        assert_eq!(y, want);
        assert!((mean[2] - x[16..21].iter().sum::<f32>() / 5.0).abs() < 1e-5);
    }
}
