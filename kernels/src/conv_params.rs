//! [`ConvParams`], the `#[repr(C)]` block every convolution kernel takes (implicit GEMM,
//! depthwise, Winograd; Gemm runs as a 1×1 convolution), and the [`ConvGeometry`] it is built
//! from. A module of its own so that the kernels depend on it rather than on each other.

use crate::epilogue::{Act, Activation};
use crate::error::KernelError;
use crate::isa::ISA_AUTO;
use crate::pack::PackedConv;
use crate::params::kernel_params;
use crate::view::{Nhwc, NhwcMut};

kernel_params! {
/// Everything one convolution call needs, `#[repr(C)]` so generated code can emit it as constant
/// data and call [`crate::bqml_conv2d`]. Strides are in floats.
///
/// * `input` points at the element read by output pixel `(0, 0)`, kernel tap `(0, 0)`, channel 0 of
///   group 0, i.e. at `(-pad_top, -pad_left)` inside a buffer whose zeroed halo holds the padding.
///   Input pixel `(y, x)` of that frame is `input + y * in_row_stride + x * in_pixel_stride`.
/// * `output` points at output pixel `(0, 0)`, channel 0. Its strides may exceed the channel count,
///   so a conv can write into the interior of the next layer's haloed buffer or into a channel
///   slice of a Concat (add the channel offset to the pointer).
/// * `residual` (nullable) is added before the activation; same addressing as `output`. It may be
///   the output itself (in-place `y = act(conv(x) + y)`): each element's residual is read before
///   that element is written.
/// * `weights`/`bias`/`layout` come from a [`PackedConv`] (`bias` is never null).
#[derive(Clone, Copy, Debug)]
pub struct ConvParams {
    /// Receptive-field origin of output pixel (0, 0); see the type doc.
    pub input: *const f32,
    /// Floats between input rows.
    pub in_row_stride: usize,
    /// Floats between input pixels.
    pub in_pixel_stride: usize,
    /// [`PackedConv::weights`].
    pub weights: *const f32,
    /// [`PackedConv::bias`].
    pub bias: *const f32,
    /// Output pixel (0, 0), channel 0.
    pub output: *mut f32,
    /// Floats between output rows.
    pub out_row_stride: usize,
    /// Floats between output pixels.
    pub out_pixel_stride: usize,
    /// Residual pixel (0, 0), channel 0, or null.
    pub residual: *const f32,
    /// Floats between residual rows.
    pub res_row_stride: usize,
    /// Floats between residual pixels.
    pub res_pixel_stride: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Kernel height.
    pub kernel_h: usize,
    /// Kernel width.
    pub kernel_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Vertical dilation.
    pub dilation_h: usize,
    /// Horizontal dilation.
    pub dilation_w: usize,
    /// Group count.
    pub groups: usize,
    /// Input channels per group.
    pub in_channels_per_group: usize,
    /// Output channels per group.
    pub out_channels_per_group: usize,
    /// [`PackedConv::layout`]: `LAYOUT_PANELS` or `LAYOUT_DEPTHWISE` for [`crate::bqml_conv2d`],
    /// `LAYOUT_WINOGRAD_F4` or `LAYOUT_WINOGRAD_F2` for [`crate::bqml_winograd`].
    pub layout: u32,
    /// Fused activation.
    pub activation: Activation,
    /// Kernel tier to run: [`ISA_AUTO`] (detect at run time) or a tier code pinned at compile
    /// time ([`Isa::code`](crate::Isa::code)). A pinned tier this CPU lacks aborts the call.
    /// The safe wrappers ignore it and take an explicit [`Isa`](crate::Isa).
    pub isa: u32,
    /// Output-channel slices (0 reads as 1). [`crate::bqml_conv2d`]'s work units are
    /// `channel_slices × out_h`, slice-major: unit `u` is output row `u % out_h` of slice
    /// `u / out_h` (whole pairs of 16-channel panels of each group, or of depthwise 8-channel
    /// blocks; see [`slice_panels`]). Threads that take disjoint unit ranges then stream
    /// disjoint weights and never re-read each other's input rows, which is what layers with
    /// few rows need.
    pub channel_slices: usize,
}
}

/// The panels (of `panels` per group) that output-channel slice `slice` of `slices` covers:
/// whole pairs of panels, so that the avx512 two-panel tile is never cut; slices past the
/// pairs are empty.
pub fn slice_panels(panels: usize, slice: usize, slices: usize) -> std::ops::Range<usize> {
    let pairs = panels.div_ceil(2);
    let at = |s: usize| (2 * (pairs * s / slices)).min(panels);
    at(slice)..at(slice + 1)
}

/// Output geometry of a convolution: what packing does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Vertical dilation.
    pub dilation_h: usize,
    /// Horizontal dilation.
    pub dilation_w: usize,
}

impl ConvGeometry {
    /// Input rows and columns the receptive field of the whole output spans (halo included).
    pub fn input_extent(&self, kernel_h: usize, kernel_w: usize) -> (usize, usize) {
        (
            (self.out_h - 1) * self.stride_h + (kernel_h - 1) * self.dilation_h + 1,
            (self.out_w - 1) * self.stride_w + (kernel_w - 1) * self.dilation_w + 1,
        )
    }
}

impl ConvParams {
    /// Params with every shape field filled from `packed` and `geo`, and null pointers / zero strides
    /// for the caller to fill in.
    pub fn from_packed(packed: &PackedConv, geo: &ConvGeometry, act: Act) -> ConvParams {
        let s = packed.shape;
        ConvParams {
            input: std::ptr::null(),
            in_row_stride: 0,
            in_pixel_stride: 0,
            weights: packed.weights.as_ptr(),
            bias: packed.bias.as_ptr(),
            output: std::ptr::null_mut(),
            out_row_stride: 0,
            out_pixel_stride: 0,
            residual: std::ptr::null(),
            res_row_stride: 0,
            res_pixel_stride: 0,
            out_h: geo.out_h,
            out_w: geo.out_w,
            kernel_h: s.kernel_h,
            kernel_w: s.kernel_w,
            stride_h: geo.stride_h,
            stride_w: geo.stride_w,
            dilation_h: geo.dilation_h,
            dilation_w: geo.dilation_w,
            groups: s.groups,
            in_channels_per_group: s.in_per_group(),
            out_channels_per_group: s.out_per_group(),
            layout: packed.layout,
            activation: act.to_c(),
            isa: ISA_AUTO,
            channel_slices: 1,
        }
    }

    /// [`ConvParams::from_packed`] pointed into buffer views, for the safe wrappers: checks that
    /// `input` covers the receptive field ([`ConvGeometry::input_extent`]) and `output` and
    /// `residual` the whole output, then fills in their pointers and strides.
    pub(crate) fn from_views(
        packed: &PackedConv,
        geo: &ConvGeometry,
        act: Act,
        input: &Nhwc<'_>,
        output: &mut NhwcMut<'_>,
        residual: Option<&Nhwc<'_>>,
    ) -> Result<ConvParams, KernelError> {
        let s = packed.shape;
        let (ih, iw) = geo.input_extent(s.kernel_h, s.kernel_w);
        input.check(ih, iw, s.in_channels, "conv input")?;
        output.check(geo.out_h, geo.out_w, s.out_channels, "conv output")?;
        if let Some(r) = residual {
            r.check(geo.out_h, geo.out_w, s.out_channels, "conv residual")?;
        }
        let mut p = ConvParams::from_packed(packed, geo, act);
        p.input = input.ptr();
        p.in_row_stride = input.row_stride;
        p.in_pixel_stride = input.pixel_stride;
        p.output = output.ptr();
        p.out_row_stride = output.row_stride;
        p.out_pixel_stride = output.pixel_stride;
        if let Some(r) = residual {
            p.residual = r.ptr();
            p.res_row_stride = r.row_stride;
            p.res_pixel_stride = r.pixel_stride;
        }
        Ok(p)
    }
}
