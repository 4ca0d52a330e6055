//! Max / average / global pooling over NHWC, vectorised over channels.
//!
//! Pooling reads the unpadded input and clips each window itself (a zero halo would be wrong for
//! max pooling of negative values), so its `input` points at pixel (0, 0), not at a halo corner.

use crate::params::kernel_params;
use std::ops::Range;

use crate::error::KernelError;
use crate::isa::Isa;
use crate::view::{Nhwc, NhwcMut};

/// Max pooling; padding never wins.
pub const POOL_MAX: u32 = 0;
/// Average over the in-bounds window elements (ONNX `count_include_pad = 0`).
pub const POOL_AVG_EXCLUDE_PAD: u32 = 1;
/// Average dividing by the window elements inside the padded extent (`count_include_pad = 1`).
pub const POOL_AVG_INCLUDE_PAD: u32 = 2;

kernel_params! {
/// Pooling parameters for generated code, `#[repr(C)]`; strides are in floats.
#[derive(Clone, Copy, Debug)]
pub struct PoolParams {
    /// Input pixel (0, 0), channel 0 (no halo needed).
    pub input: *const f32,
    /// Floats between input rows.
    pub in_row_stride: usize,
    /// Floats between input pixels.
    pub in_pixel_stride: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Channels pooled.
    pub channels: usize,
    /// Output pixel (0, 0), channel 0.
    pub output: *mut f32,
    /// Floats between output rows.
    pub out_row_stride: usize,
    /// Floats between output pixels.
    pub out_pixel_stride: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Window height.
    pub kernel_h: usize,
    /// Window width.
    pub kernel_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Vertical dilation.
    pub dilation_h: usize,
    /// Horizontal dilation.
    pub dilation_w: usize,
    /// Padding rows above.
    pub pad_top: usize,
    /// Padding columns left.
    pub pad_left: usize,
    /// Padding rows below (only affects `POOL_AVG_INCLUDE_PAD` divisors).
    pub pad_bottom: usize,
    /// Padding columns right (only affects `POOL_AVG_INCLUDE_PAD` divisors).
    pub pad_right: usize,
    /// `POOL_MAX`, `POOL_AVG_EXCLUDE_PAD` or `POOL_AVG_INCLUDE_PAD`.
    pub kind: u32,
    /// Kernel tier, as [`crate::ConvParams::isa`] ([`crate::ISA_AUTO`] detects at run time).
    pub isa: u32,
}
}

/// Window geometry for the safe wrapper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeometry {
    /// `POOL_*` kind.
    pub kind: u32,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Window `[h, w]`.
    pub kernel: [usize; 2],
    /// Stride `[h, w]`.
    pub stride: [usize; 2],
    /// Dilation `[h, w]`.
    pub dilation: [usize; 2],
    /// Pads `[top, left, bottom, right]`.
    pub pads: [usize; 4],
}

impl PoolParams {
    /// Params with every size taken from `geo` and the input shape, and null pointers / zero
    /// strides for the caller to fill in.
    pub fn from_geometry(geo: &PoolGeometry, channels: usize, in_h: usize, in_w: usize) -> Self {
        PoolParams {
            input: std::ptr::null(),
            in_row_stride: 0,
            in_pixel_stride: 0,
            in_h,
            in_w,
            channels,
            output: std::ptr::null_mut(),
            out_row_stride: 0,
            out_pixel_stride: 0,
            out_h: geo.out_h,
            out_w: geo.out_w,
            kernel_h: geo.kernel[0],
            kernel_w: geo.kernel[1],
            stride_h: geo.stride[0],
            stride_w: geo.stride[1],
            dilation_h: geo.dilation[0],
            dilation_w: geo.dilation[1],
            pad_top: geo.pads[0],
            pad_left: geo.pads[1],
            pad_bottom: geo.pads[2],
            pad_right: geo.pads[3],
            kind: geo.kind,
            isa: crate::isa::ISA_AUTO,
        }
    }
}

impl PoolGeometry {
    /// GlobalAveragePool / GlobalMaxPool of an `h × w` map: one window covering it all.
    pub fn global(kind: u32, h: usize, w: usize) -> Self {
        PoolGeometry {
            kind,
            out_h: 1,
            out_w: 1,
            kernel: [h, w],
            stride: [1, 1],
            dilation: [1, 1],
            pads: [0; 4],
        }
    }
}

/// Pooling entry point for generated code: computes output rows `[row_start, row_end)`.
///
/// # Safety
/// `p` points to a valid [`PoolParams`] whose input covers `in_h × in_w × channels` and output
/// covers `out_h × out_w × channels`; `row_end <= out_h`. An unknown `kind`, or a pinned
/// tier this CPU lacks, aborts.
#[no_mangle]
pub unsafe extern "C" fn bqml_pool2d(p: *const PoolParams, row_start: usize, row_end: usize) {
    // SAFETY: the caller guarantees `p` points to a valid PoolParams.
    let p = unsafe { &*p };
    if p.kind > POOL_AVG_INCLUDE_PAD {
        eprintln!("bqml kernels: unknown pool kind {}", p.kind);
        std::process::abort();
    }
    let isa = Isa::resolve_or_abort(p.isa);
    // SAFETY: forwarded caller contract; `resolve_or_abort` only returns a runnable tier.
    unsafe { pool_raw(isa, p, row_start, row_end.min(p.out_h)) }
}

/// Pool `input` (`in_h × in_w × channels`) into output rows `rows`.
#[allow(clippy::too_many_arguments)]
pub fn pool2d(
    isa: Isa,
    geo: &PoolGeometry,
    channels: usize,
    in_h: usize,
    in_w: usize,
    input: Nhwc<'_>,
    mut output: NhwcMut<'_>,
    rows: Range<usize>,
) -> Result<(), KernelError> {
    if geo.kind > POOL_AVG_INCLUDE_PAD
        || geo.kernel.contains(&0)
        || geo.stride.contains(&0)
        || geo.dilation.contains(&0)
        || geo.out_h == 0
        || geo.out_w == 0
    {
        return Err(KernelError::new(format!("invalid pool geometry {geo:?}")));
    }
    if rows.start > rows.end || rows.end > geo.out_h {
        return Err(KernelError::new(format!(
            "pool rows {rows:?} outside 0..{}",
            geo.out_h
        )));
    }
    input.check(in_h, in_w, channels, "pool input")?;
    output.check(geo.out_h, geo.out_w, channels, "pool output")?;
    let mut p = PoolParams::from_geometry(geo, channels, in_h, in_w);
    p.input = input.ptr();
    p.in_row_stride = input.row_stride;
    p.in_pixel_stride = input.pixel_stride;
    p.output = output.ptr();
    p.out_row_stride = output.row_stride;
    p.out_pixel_stride = output.pixel_stride;
    // SAFETY: buffers checked above; windows are clipped to the input inside the kernel.
    unsafe { pool_raw(isa.or_portable(), &p, rows.start, rows.end) };
    Ok(())
}

/// In-bounds taps of one window axis: `(first tap, tap count, taps inside the padded extent)`.
fn window(
    o: usize,
    stride: usize,
    dil: usize,
    k: usize,
    pad: usize,
    n: usize,
    pad_end: usize,
) -> (usize, usize, usize) {
    let start = (o * stride) as isize - pad as isize;
    let pos = |t: usize| start + (t * dil) as isize;
    let valid = |t: usize| pos(t) >= 0 && pos(t) < n as isize;
    let padded = |t: usize| pos(t) >= -(pad as isize) && pos(t) < (n + pad_end) as isize;
    let first = (0..k).find(|&t| valid(t)).unwrap_or(k);
    let count = (first..k).take_while(|&t| valid(t)).count();
    (first, count, (0..k).filter(|&t| padded(t)).count())
}

/// # Safety
/// As [`bqml_pool2d`] (with `kind` valid and `isa` runnable).
pub(crate) unsafe fn pool_raw(isa: Isa, p: &PoolParams, row_start: usize, row_end: usize) {
    for oy in row_start..row_end {
        let (ty, ny, py) = window(
            oy,
            p.stride_h,
            p.dilation_h,
            p.kernel_h,
            p.pad_top,
            p.in_h,
            p.pad_bottom,
        );
        for ox in 0..p.out_w {
            let (tx, nx, px) = window(
                ox,
                p.stride_w,
                p.dilation_w,
                p.kernel_w,
                p.pad_left,
                p.in_w,
                p.pad_right,
            );
            let w = Window {
                // Offset of the first in-bounds tap; only formed when the window is non-empty.
                first: if ny > 0 && nx > 0 {
                    (oy * p.stride_h + ty * p.dilation_h - p.pad_top) * p.in_row_stride
                        + (ox * p.stride_w + tx * p.dilation_w - p.pad_left) * p.in_pixel_stride
                } else {
                    0
                },
                rows: ny,
                cols: nx,
                row_step: p.dilation_h * p.in_row_stride,
                col_step: p.dilation_w * p.in_pixel_stride,
                divisor: match p.kind {
                    POOL_AVG_INCLUDE_PAD => (py * px) as f32,
                    _ => (ny * nx) as f32,
                },
            };
            let out = oy * p.out_row_stride + ox * p.out_pixel_stride;
            match isa {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: window taps are in bounds; AVX-512 availability checked by the caller.
                Isa::Avx512 => unsafe { pool_pixel_avx512(p, &w, out) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: window taps are in bounds; AVX2 availability checked by the caller.
                Isa::Avx2Fma => unsafe { pool_pixel_avx2(p, &w, out) },
                // SAFETY: window taps are in bounds.
                _ => unsafe { pool_pixel_portable(p, &w, out) },
            }
        }
    }
}

/// The in-bounds taps of one output pixel's window.
struct Window {
    first: usize,
    rows: usize,
    cols: usize,
    row_step: usize,
    col_step: usize,
    divisor: f32,
}

/// # Safety
/// Every tap of `w` and `channels` floats at `out` are in bounds.
unsafe fn pool_pixel_portable(p: &PoolParams, w: &Window, out: usize) {
    let empty = w.rows == 0 || w.cols == 0;
    for c in 0..p.channels {
        let mut acc = if p.kind == POOL_MAX {
            f32::NEG_INFINITY
        } else {
            0.0
        };
        for y in 0..w.rows {
            for x in 0..w.cols {
                // SAFETY: in-bounds tap, valid channel.
                let v = unsafe { *p.input.add(w.first + y * w.row_step + x * w.col_step + c) };
                acc = if p.kind == POOL_MAX {
                    acc.max(v)
                } else {
                    acc + v
                };
            }
        }
        let v = match p.kind {
            POOL_MAX => acc,
            _ if empty || w.divisor == 0.0 => 0.0,
            _ => acc / w.divisor,
        };
        // SAFETY: valid output channel.
        unsafe { *p.output.add(out + c) = v };
    }
}

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// # Safety
/// Every tap of `w` and `channels` floats at `out` are in bounds; AVX2 available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn pool_pixel_avx2(p: &PoolParams, w: &Window, out: usize) {
    let is_max = p.kind == POOL_MAX;
    let init = if is_max { f32::NEG_INFINITY } else { 0.0 };
    let scale = if is_max || w.rows == 0 || w.cols == 0 || w.divisor == 0.0 {
        if is_max {
            1.0
        } else {
            0.0
        }
    } else {
        1.0 / w.divisor
    };
    let mut c = 0;
    while c < p.channels {
        let n = (p.channels - c).min(8);
        let mask = crate::epilogue::avx2::first_lanes(n as isize);
        let mut acc = _mm256_set1_ps(init);
        for y in 0..w.rows {
            for x in 0..w.cols {
                // SAFETY: in-bounds tap; the tail block is masked to the valid channels.
                let v = unsafe {
                    let src = p.input.add(w.first + y * w.row_step + x * w.col_step + c);
                    if n == 8 {
                        _mm256_loadu_ps(src)
                    } else {
                        _mm256_maskload_ps(src, mask)
                    }
                };
                acc = if is_max {
                    _mm256_max_ps(acc, v)
                } else {
                    _mm256_add_ps(acc, v)
                };
            }
        }
        if !is_max {
            acc = _mm256_mul_ps(acc, _mm256_set1_ps(scale));
        }
        // SAFETY: full blocks store 8 valid channels; the tail is masked.
        unsafe {
            if n == 8 {
                _mm256_storeu_ps(p.output.add(out + c), acc);
            } else {
                _mm256_maskstore_ps(p.output.add(out + c), mask, acc);
            }
        }
        c += 8;
    }
}

/// Zmm blocks (16 channels each) pooled together: independent max/add chains, so the window's
/// taps do not wait on one another.
#[cfg(target_arch = "x86_64")]
const POOL_BLOCKS: usize = 4;

/// # Safety
/// Every tap of `w` and `channels` floats at `out` are in bounds; AVX-512 F/BW/DQ/VL available.
// Indexed loops on purpose: iterators over `acc` take its address and LLVM then keeps the
// accumulators in memory instead of registers.
#[allow(clippy::needless_range_loop)]
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
unsafe fn pool_pixel_avx512(p: &PoolParams, w: &Window, out: usize) {
    use crate::epilogue::avx512::first_lanes;
    let is_max = p.kind == POOL_MAX;
    let init = _mm512_set1_ps(if is_max { f32::NEG_INFINITY } else { 0.0 });
    let empty = w.rows == 0 || w.cols == 0 || w.divisor == 0.0;
    let scale = _mm512_set1_ps(if empty { 0.0 } else { 1.0 / w.divisor });
    let mut c = 0;
    while c < p.channels {
        let mut acc = [init; POOL_BLOCKS];
        let mut mask = [0u16; POOL_BLOCKS];
        for b in 0..POOL_BLOCKS {
            mask[b] = first_lanes(p.channels.saturating_sub(c + 16 * b));
        }
        for y in 0..w.rows {
            for x in 0..w.cols {
                let tap = w.first + y * w.row_step + x * w.col_step + c;
                for b in 0..POOL_BLOCKS {
                    // SAFETY: in-bounds tap; the load is masked to the valid channels.
                    let v = unsafe { _mm512_maskz_loadu_ps(mask[b], p.input.add(tap + 16 * b)) };
                    acc[b] = if is_max {
                        _mm512_mask_max_ps(acc[b], mask[b], acc[b], v)
                    } else {
                        _mm512_add_ps(acc[b], v)
                    };
                }
            }
        }
        for b in 0..POOL_BLOCKS {
            let v = if is_max {
                acc[b]
            } else {
                _mm512_mul_ps(acc[b], scale)
            };
            // SAFETY: the store is masked to the valid output channels.
            unsafe { _mm512_mask_storeu_ps(p.output.add(out + c + 16 * b), mask[b], v) };
        }
        c += 16 * POOL_BLOCKS;
    }
}
