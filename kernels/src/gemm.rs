//! Gemm / MatMul: `Y = act(A · B' + bias [+ R])` with `B'` pre-packed by [`crate::pack_gemm_b`].
//!
//! A is row-major activations (`M × K`, row stride `lda`); a GEMM is run as a 1×1 convolution
//! whose "pixels" are the rows of A, so it shares the implicit-GEMM micro-kernel.

use crate::params::kernel_params;
use std::ops::Range;

use crate::conv::{conv_raw, conv_units};
use crate::conv_params::ConvParams;
use crate::epilogue::{Act, Activation};
use crate::error::KernelError;
use crate::isa::{Isa, ISA_AUTO};
use crate::pack::{PackedConv, LAYOUT_PANELS, NR};

kernel_params! {
/// Gemm call parameters for generated code, `#[repr(C)]`; strides are in floats.
#[derive(Clone, Copy, Debug)]
pub struct GemmParams {
    /// `A[0][0]`; row `i` starts at `a + i * lda`.
    pub a: *const f32,
    /// Floats between rows of A (>= k).
    pub lda: usize,
    /// [`PackedConv::weights`] from [`crate::pack_gemm_b`].
    pub b_packed: *const f32,
    /// [`PackedConv::bias`] (never null; zeros without C).
    pub bias: *const f32,
    /// `Y[0][0]`.
    pub y: *mut f32,
    /// Floats between rows of Y.
    pub ldy: usize,
    /// Residual `R[0][0]` added before the activation, or null.
    pub residual: *const f32,
    /// Floats between rows of R.
    pub ldr: usize,
    /// Rows of A and Y.
    pub m: usize,
    /// Reduction length.
    pub k: usize,
    /// Columns of Y.
    pub n: usize,
    /// Fused activation.
    pub activation: Activation,
    /// Kernel tier, as [`ConvParams::isa`].
    pub isa: u32,
    /// Column slices: [`bqml_gemm`]'s work units are `channel_slices × m`, slice-major, as
    /// [`ConvParams::channel_slices`] (0 reads as 1). A one-row Gemm (a classifier head) splits
    /// between threads only this way.
    pub channel_slices: usize,
}
}

impl GemmParams {
    /// Params for `m` rows with `k`, `n`, weights and bias from `b` (packed by
    /// [`crate::pack_gemm_b`]), dense strides (`lda = k`, `ldy = ldr = n`) and null pointers for
    /// the caller to fill in.
    pub fn from_packed(b: &PackedConv, m: usize, act: Act) -> GemmParams {
        let (k, n) = (b.shape.in_channels, b.shape.out_channels);
        GemmParams {
            a: std::ptr::null(),
            lda: k,
            b_packed: b.weights.as_ptr(),
            bias: b.bias.as_ptr(),
            y: std::ptr::null_mut(),
            ldy: n,
            residual: std::ptr::null(),
            ldr: n,
            m,
            k,
            n,
            activation: act.to_c(),
            isa: ISA_AUTO,
            channel_slices: 1,
        }
    }

    fn as_conv(&self) -> ConvParams {
        ConvParams {
            input: self.a,
            in_row_stride: self.lda,
            in_pixel_stride: self.k,
            weights: self.b_packed,
            bias: self.bias,
            output: self.y,
            out_row_stride: self.ldy,
            out_pixel_stride: self.n,
            residual: self.residual,
            res_row_stride: self.ldr,
            res_pixel_stride: self.n,
            out_h: self.m,
            out_w: 1,
            kernel_h: 1,
            kernel_w: 1,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            groups: 1,
            in_channels_per_group: self.k,
            out_channels_per_group: self.n,
            layout: LAYOUT_PANELS,
            activation: self.activation,
            isa: self.isa,
            channel_slices: self.channel_slices,
        }
    }
}

/// Gemm entry point for generated code: computes work units `[start, end)` of Y (rows, times
/// [`GemmParams::channel_slices`]).
///
/// # Safety
/// `p` points to a valid [`GemmParams`]; `a`, `y` and `residual` cover `m` rows of `k` / `n` / `n`
/// floats at their strides; `b_packed`/`bias` come from `pack_gemm_b` with the same `k`, `n`.
#[no_mangle]
pub unsafe extern "C" fn bqml_gemm(p: *const GemmParams, start: usize, end: usize) {
    // SAFETY: the caller guarantees `p` points to a valid GemmParams.
    let p = unsafe { &*p };
    let act = p.activation.decode_or_abort();
    let isa = Isa::resolve_or_abort(p.isa);
    // SAFETY: a Gemm is exactly a 1×1 conv over `m` one-pixel rows; forwarded caller contract;
    // `resolve_or_abort` only returns a runnable tier.
    unsafe { conv_units(isa, &p.as_conv(), act, start, end) }
}

/// `Y[rows] = act(A · B + bias [+ R])` for a dense row-major `A` (`m × k`) and `Y` (`m × n`).
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    isa: Isa,
    b: &PackedConv,
    act: Act,
    m: usize,
    a: &[f32],
    y: &mut [f32],
    residual: Option<&[f32]>,
    rows: Range<usize>,
) -> Result<(), KernelError> {
    let s = b.shape;
    if b.layout != LAYOUT_PANELS || s.kernel_h != 1 || s.kernel_w != 1 || s.groups != 1 {
        return Err(KernelError::new("gemm: B was not packed by pack_gemm_b"));
    }
    let (k, n) = (s.in_channels, s.out_channels);
    if m == 0 || a.len() < m * k || y.len() < m * n || residual.is_some_and(|r| r.len() < m * n) {
        return Err(KernelError::new(format!(
            "gemm: buffers too small for M={m}, K={k}, N={n}"
        )));
    }
    if rows.start > rows.end || rows.end > m {
        return Err(KernelError::new(format!(
            "gemm: rows {rows:?} outside 0..{m}"
        )));
    }
    let mut p = GemmParams::from_packed(b, m, act);
    p.a = a.as_ptr();
    p.y = y.as_mut_ptr();
    p.residual = residual.map_or(std::ptr::null(), |r| r.as_ptr());
    // SAFETY: sizes checked above; `or_portable` ensures the ISA is runnable.
    unsafe {
        conv_raw(
            isa.or_portable(),
            &p.as_conv(),
            act,
            rows.start,
            rows.end,
            0..n.div_ceil(NR),
        )
    };
    Ok(())
}
