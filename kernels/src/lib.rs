//! SIMD micro-kernels for bqmlc's generated code: NHWC convolution (implicit GEMM, depthwise),
//! Gemm, pooling, weight packing, CPU dispatch and an FMA peak probe.
//!
//! # Conventions
//!
//! * **Layout.** Activations are NHWC `f32`, one image at a time. A tensor is addressed by a base
//!   pointer plus a *row stride* and a *pixel stride* in floats: element `(y, x, c)` is
//!   `base[y * row_stride + x * pixel_stride + c]`. Strides may exceed the logical width and channel
//!   count, so a kernel can read from or write into the interior of a larger (haloed) buffer, and a
//!   channel offset is just added to the base pointer (Concat writes into a channel slice).
//! * **Halo.** A convolution input is stored with a zeroed halo holding its padding; the kernel never
//!   bounds-checks. `ConvParams::input` points at the receptive-field origin of output pixel
//!   `(0, 0)`: the buffer element `(halo_top - pad_top, halo_left - pad_left)`. Asymmetric padding
//!   just means a larger halo on one side. Pooling clips its windows itself and takes the
//!   unpadded origin instead.
//! * **Params structs.** Every kernel takes one `#[repr(C)]` struct ([`ConvParams`], [`GemmParams`],
//!   [`PoolParams`]) of pointers, strides, sizes and the fused [`Activation`], which generated code
//!   can emit once as constant data, and is called through an `extern "C"` symbol:
//!   [`bqml_conv2d`], [`bqml_gemm`], [`bqml_pool2d`].
//! * **Work ranges.** Each entry point takes `(params, start, end)`: output rows `[start, end)` (Gemm:
//!   rows of Y). Calls with disjoint ranges may run concurrently on the same params, so the runtime
//!   splits a layer between threads statically.
//! * **Epilogue.** `act(acc + bias [+ residual])`, computed while accumulators are in registers;
//!   the residual is a second NHWC input with its own strides.
//! * **Weights** are packed once, at compile time ([`pack_conv`], [`pack_gemm_b`]), into the
//!   micro-kernel's panel layout, output channels padded with zeros to the tile width.
//! * **Dispatch.** Three tiers: AVX-512 (F/BW/DQ/VL), AVX2+FMA (`std::arch` intrinsics in
//!   `#[target_feature]` functions) and portable Rust, with the same results up to float
//!   rounding. [`Isa::detect`] picks the best one once. The `extern "C"` symbols use the detected
//!   tier, except that [`bqml_conv2d`] and [`bqml_winograd`] run [`ConvParams::isa`] when
//!   generated code pins one ([`ISA_AUTO`] detects; a pinned tier the CPU lacks aborts). The
//!   safe wrappers take an explicit [`Isa`] (for tests and benches; one the CPU lacks falls back
//!   to portable) and validate every buffer size. Kernels without a 512-bit version (the generic
//!   ops except LayerNorm) run their AVX2 code under the AVX-512 tier.
//!
//! # Entry points for generated code
//!
//! | symbol | signature | params built by |
//! |---|---|---|
//! | [`bqml_conv2d`] | `unsafe extern "C" fn(*const ConvParams, unit_start: usize, unit_end: usize)` | [`ConvParams::from_packed`] + pointers/strides; units are rows × [`ConvParams::channel_slices`] |
//! | [`bqml_gemm`] | `unsafe extern "C" fn(*const GemmParams, unit_start: usize, unit_end: usize)` | [`GemmParams::from_packed`] + pointers; units are rows × [`GemmParams::channel_slices`] |
//! | [`bqml_pool2d`] | `unsafe extern "C" fn(*const PoolParams, row_start: usize, row_end: usize)` | [`PoolParams::from_geometry`] + pointers/strides |
//! | [`bqml_winograd`] | `unsafe extern "C" fn(*const ConvParams, unit_start: usize, unit_end: usize)` | [`ConvParams::from_packed`] of a [`pack_winograd`] result; units from [`winograd_units`] |
//!
//! `bqml_conv2d` serves dense, grouped, 1×1 and depthwise convolutions alike: it dispatches on
//! `ConvParams::layout`, which [`pack_conv`] chooses. 3×3 stride-1 single-group layers may
//! instead be packed with [`pack_winograd`] (Winograd F(4×4,3×3) or F(2×2,3×3)) and run through
//! [`bqml_winograd`], whose work units are output tiles rather than rows. All strides and sizes are `usize` (8 bytes
//! on x86-64) and all pointers are to `f32`; generated code should take field offsets from
//! `std::mem::offset_of!` rather than hard-coding them. The packed weights and bias must outlive
//! every call (the params hold raw pointers into [`PackedConv`]).
//!
//! # Performance shape
//!
//! On AVX-512 the panel kernel computes 12 output pixels × 32 output channels (two panels) in 24
//! zmm accumulators (2 weight loads + 12 broadcasts per 24 FMAs), over 96-pixel blocks with
//! 128-long K-chunks. On AVX2 it computes 6 output pixels × 16 output channels in 12 ymm accumulators
//! (1 broadcast + 2 weight loads per 12 FMAs), over 96-pixel blocks so the input stays in cache
//! while each panel passes, with reductions longer than 512 split into 256-long chunks whose
//! weights stay in L1. Panels with at most 8 valid channels use 12 pixels × 8 channels; a lone
//! output pixel (GEMV) runs 4 panels at once. Depthwise tiles are 8 pixels × 8 channels.
//! Winograd runs one GEMM per transform position on the same register tiles. See `kernels/PERF.md`.

#![deny(unsafe_op_in_unsafe_fn)]

mod block;
mod conv;
mod conv_params;
mod depthwise;
mod epilogue;
mod error;
mod gemm;
pub mod generic;
#[cfg(feature = "imageops")]
pub mod imageops;
mod isa;
mod pack;
mod pack_ffi;
pub mod params;
mod peak;
mod pool;
pub mod reference;
mod view;
mod winograd;

pub use block::{bqml_block, BlockParams};
pub use conv::{bqml_conv2d, conv2d, MR};
pub use conv_params::{ConvGeometry, ConvParams};
pub use epilogue::{
    Act, Activation, ACT_CLIP, ACT_HARD_SIGMOID, ACT_HARD_SWISH, ACT_LEAKY_RELU, ACT_NONE,
    ACT_RELU, ACT_SIGMOID, ACT_SILU,
};
pub use error::KernelError;
pub use gemm::{bqml_gemm, gemm, GemmParams};
pub use isa::{Isa, ISA_AUTO, ISA_AVX2, ISA_AVX512, ISA_PORTABLE};
pub use pack::{
    pack_conv, pack_gemm_b, ConvShape, PackedConv, DW_BLOCK, LAYOUT_DEPTHWISE, LAYOUT_PANELS, NR,
};
pub use pack_ffi::{bqml_pack_conv, bqml_scale_panels, PackConvParams, ScalePanelsParams};
pub use peak::{
    fma_burst, fma_burst_flops_per_step, measure_fma_peak, measure_fma_peak_with,
    FMA_BURST_FLOPS_PER_STEP,
};
pub use pool::{
    bqml_pool2d, pool2d, PoolGeometry, PoolParams, POOL_AVG_EXCLUDE_PAD, POOL_AVG_INCLUDE_PAD,
    POOL_MAX,
};
pub use view::{Nhwc, NhwcMut};
pub use winograd::{
    bqml_winograd, pack_winograd, winograd_applies, winograd_conv2d, winograd_tile, winograd_tiles,
    winograd_units, LAYOUT_WINOGRAD_F2, LAYOUT_WINOGRAD_F4,
};
