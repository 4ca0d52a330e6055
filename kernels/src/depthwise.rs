//! Depthwise NHWC convolution (groups == channels, multiplier 1), vectorised over channels.
//!
//! Uses [`ConvParams`] with `layout == LAYOUT_DEPTHWISE`: `in_channels_per_group` and
//! `out_channels_per_group` are 1 and `groups` is the channel count. Tiles are 8 output pixels of
//! one row × 8 channels, one accumulator register per pixel; the AVX-512 tier (`avx512.rs`) takes
//! 16 channels and up to 14 pixels.

use std::ops::Range;

use crate::conv_params::ConvParams;
use crate::epilogue::Act;
use crate::pack::DW_BLOCK;

/// Output pixels per depthwise register tile.
const DW_MR: usize = 8;
/// 8-channel blocks per cache chunk (128 channels).
const DW_CHUNK: usize = 16;

/// Output rows `[row_start, row_end)`, 8-channel blocks `blocks`.
///
/// # Safety
/// As [`crate::bqml_conv2d`] with `layout == LAYOUT_DEPTHWISE`; `blocks` inside the channel
/// blocks.
pub(crate) unsafe fn depthwise_portable(
    p: &ConvParams,
    act: Act,
    row_start: usize,
    row_end: usize,
    blocks: Range<usize>,
) {
    let channels = p.groups;
    let taps = p.kernel_h * p.kernel_w;
    for oy in row_start..row_end {
        for ox in 0..p.out_w {
            let ib = oy * p.stride_h * p.in_row_stride + ox * p.stride_w * p.in_pixel_stride;
            let ob = oy * p.out_row_stride + ox * p.out_pixel_stride;
            let rb = oy * p.res_row_stride + ox * p.res_pixel_stride;
            for cb in blocks.clone() {
                let n = DW_BLOCK.min(channels - cb * DW_BLOCK);
                let mut acc = [0.0f32; DW_BLOCK];
                for ky in 0..p.kernel_h {
                    for kx in 0..p.kernel_w {
                        let off = ib
                            + ky * p.dilation_h * p.in_row_stride
                            + kx * p.dilation_w * p.in_pixel_stride
                            + cb * DW_BLOCK;
                        // SAFETY: the packed block has `taps * 8` floats; the input reads are the
                        // `n` valid channels of a tap inside the receptive field.
                        unsafe {
                            let w = p.weights.add((cb * taps + ky * p.kernel_w + kx) * DW_BLOCK);
                            for (j, a) in acc.iter_mut().enumerate().take(n) {
                                *a += *p.input.add(off + j) * *w.add(j);
                            }
                        }
                    }
                }
                for (j, &v) in acc.iter().enumerate().take(n) {
                    let c = cb * DW_BLOCK + j;
                    // SAFETY: channel `c` is valid; the pixel is inside the output/residual box.
                    unsafe {
                        let mut v = v + *p.bias.add(c);
                        if !p.residual.is_null() {
                            v += *p.residual.add(rb + c);
                        }
                        *p.output.add(ob + c) = act.apply(v);
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
pub(crate) use avx512::depthwise_avx512;

/// Output rows `[row_start, row_end)`, 8-channel blocks `blocks`.
///
/// # Safety
/// As [`crate::bqml_conv2d`] with `layout == LAYOUT_DEPTHWISE`, on a CPU with AVX2 and FMA;
/// `blocks` inside the channel blocks.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn depthwise_avx2(
    p: &ConvParams,
    act: Act,
    row_start: usize,
    row_end: usize,
    blocks: Range<usize>,
) {
    let channels = p.groups;
    // Channel chunks outer, then pixel tiles, then the chunk's 8-channel blocks: a tile's
    // receptive field over one chunk (kh rows × ~10 pixels × 128 channels) stays in cache while every
    // block of the chunk passes over it.
    for oy in row_start..row_end {
        for chunk in blocks.clone().step_by(DW_CHUNK) {
            let mut ox = 0;
            while ox < p.out_w {
                let m = (p.out_w - ox).min(DW_MR);
                for cb in chunk..(chunk + DW_CHUNK).min(blocks.end) {
                    let n = DW_BLOCK.min(channels - cb * DW_BLOCK);
                    // SAFETY: pixels `ox..ox+m` of row `oy` are valid; forwarded caller contract.
                    unsafe {
                        match m {
                            DW_MR => dw_tile_avx2::<DW_MR>(p, act, oy, ox, cb, n),
                            1 => dw_tile_avx2::<1>(p, act, oy, ox, cb, n),
                            2 => dw_tile_avx2::<2>(p, act, oy, ox, cb, n),
                            3 => dw_tile_avx2::<3>(p, act, oy, ox, cb, n),
                            4 => dw_tile_avx2::<4>(p, act, oy, ox, cb, n),
                            5 => dw_tile_avx2::<5>(p, act, oy, ox, cb, n),
                            6 => dw_tile_avx2::<6>(p, act, oy, ox, cb, n),
                            _ => dw_tile_avx2::<7>(p, act, oy, ox, cb, n),
                        }
                    }
                }
                ox += m;
            }
        }
    }
}

/// # Safety
/// Pixels `ox..ox+M` of row `oy` are valid outputs; `n` (1..=8) channels of block `cb` are valid.
// Indexed loops on purpose: iterators over `acc` take its address and LLVM then keeps the
// accumulators in memory instead of registers.
#[allow(clippy::needless_range_loop)]
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn dw_tile_avx2<const M: usize>(
    p: &ConvParams,
    act: Act,
    oy: usize,
    ox: usize,
    cb: usize,
    n: usize,
) {
    use crate::epilogue::avx2;
    let c0 = cb * DW_BLOCK;
    let full = n == DW_BLOCK;
    let mask = avx2::first_lanes(n as isize);
    let taps = p.kernel_h * p.kernel_w;
    let pix = p.stride_w * p.in_pixel_stride;
    let mut acc = [_mm256_setzero_ps(); M];
    for ky in 0..p.kernel_h {
        let row = (oy * p.stride_h + ky * p.dilation_h) * p.in_row_stride
            + ox * p.stride_w * p.in_pixel_stride
            + c0;
        for kx in 0..p.kernel_w {
            // SAFETY: the weight block has `taps * 8` floats; input reads are (masked to) the valid
            // channels of taps inside the receptive field.
            unsafe {
                let w =
                    _mm256_loadu_ps(p.weights.add((cb * taps + ky * p.kernel_w + kx) * DW_BLOCK));
                let base = p.input.add(row + kx * p.dilation_w * p.in_pixel_stride);
                for i in 0..M {
                    let x = if full {
                        _mm256_loadu_ps(base.add(i * pix))
                    } else {
                        _mm256_maskload_ps(base.add(i * pix), mask)
                    };
                    acc[i] = _mm256_fmadd_ps(x, w, acc[i]);
                }
            }
        }
    }
    // SAFETY: bias is padded to whole blocks.
    let b = unsafe { _mm256_loadu_ps(p.bias.add(c0)) };
    for i in 0..M {
        let mut v = _mm256_add_ps(acc[i], b);
        // SAFETY: residual/output accesses are masked to the valid channels of valid pixels.
        unsafe {
            if !p.residual.is_null() {
                let r = p
                    .residual
                    .add(oy * p.res_row_stride + (ox + i) * p.res_pixel_stride + c0);
                v = _mm256_add_ps(
                    v,
                    if full {
                        _mm256_loadu_ps(r)
                    } else {
                        _mm256_maskload_ps(r, mask)
                    },
                );
            }
            v = avx2::apply(act, v);
            let o = p
                .output
                .add(oy * p.out_row_stride + (ox + i) * p.out_pixel_stride + c0);
            if full {
                _mm256_storeu_ps(o, v);
            } else {
                _mm256_maskstore_ps(o, mask, v);
            }
        }
    }
}
