//! AVX-512 tier of the depthwise convolution: 16 channels (two packed 8-channel blocks) per
//! zmm, tiles of up to 14 output pixels of one row (the map widths of the usual nets, 112 to
//! 7, split into equal tiles), one accumulator per pixel.

use std::arch::x86_64::*;
use std::ops::Range;

use crate::conv::store_row_avx512;
use crate::conv_params::ConvParams;
use crate::epilogue::{avx512::first_lanes, Act};
use crate::pack::DW_BLOCK;

/// Most output pixels per register tile: 14 accumulators, a weight and an input vector.
const MR: usize = 14;
/// Receptive-field bytes of a tile column's channel chunk kept in L1 (48 KiB) as it walks down.
const L1_FIELD_BYTES: usize = 24 * 1024;

/// Output rows `[row_start, row_end)`, 8-channel blocks `blocks` (a pair-aligned start).
///
/// # Safety
/// As [`crate::bqml_conv2d`] with `layout == LAYOUT_DEPTHWISE`, on a CPU with AVX-512
/// F/BW/DQ/VL; `blocks` inside the channel blocks.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
pub(crate) unsafe fn depthwise_avx512(
    p: &ConvParams,
    act: Act,
    row_start: usize,
    row_end: usize,
    blocks: Range<usize>,
) {
    let tiles = p.out_w.div_ceil(MR);
    let widest = p.out_w.div_ceil(tiles);
    // A tile column walks down its rows with the channels of a chunk innermost: the chunk's
    // receptive field (`kernel_h` input rows of the column, 64 bytes per pixel and block pair)
    // stays in L1 while the column moves down, so each input row comes from L2 once per
    // column rather than once per output row that reads it, and the chunk's channels of a
    // pixel are contiguous for the prefetchers.
    let field_rows = (p.kernel_h - 1) * p.dilation_h + 1;
    let field_cols = (widest - 1) * p.stride_w + (p.kernel_w - 1) * p.dilation_w + 1;
    let chunk_pairs = (L1_FIELD_BYTES / (field_rows * field_cols * 64)).max(1);
    for chunk in blocks.clone().step_by(2 * chunk_pairs) {
        let chunk_end = (chunk + 2 * chunk_pairs).min(blocks.end);
        let mut ox = 0;
        for ti in 0..tiles {
            let m = p.out_w / tiles + usize::from(ti < p.out_w % tiles);
            for oy in row_start..row_end {
                for cb in (chunk..chunk_end).step_by(2) {
                    let pair = cb + 1 < chunk_end;
                    // SAFETY: pixels `ox..ox+m` of row `oy` are valid; blocks `cb` (and
                    // `cb + 1` when `pair`) exist; forwarded caller contract.
                    unsafe {
                        match m {
                            14 => tile::<14>(p, act, oy, ox, cb, pair),
                            13 => tile::<13>(p, act, oy, ox, cb, pair),
                            12 => tile::<12>(p, act, oy, ox, cb, pair),
                            11 => tile::<11>(p, act, oy, ox, cb, pair),
                            10 => tile::<10>(p, act, oy, ox, cb, pair),
                            9 => tile::<9>(p, act, oy, ox, cb, pair),
                            8 => tile::<8>(p, act, oy, ox, cb, pair),
                            7 => tile::<7>(p, act, oy, ox, cb, pair),
                            6 => tile::<6>(p, act, oy, ox, cb, pair),
                            5 => tile::<5>(p, act, oy, ox, cb, pair),
                            4 => tile::<4>(p, act, oy, ox, cb, pair),
                            3 => tile::<3>(p, act, oy, ox, cb, pair),
                            2 => tile::<2>(p, act, oy, ox, cb, pair),
                            1 => tile::<1>(p, act, oy, ox, cb, pair),
                            other => unreachable!("depthwise tile of {other} pixels"),
                        }
                    }
                }
            }
            ox += m;
        }
    }
}

/// `M` pixels from `ox` of row `oy` × the 16 channels of blocks `cb` and `cb + 1` (8 when
/// not `pair`).
///
/// # Safety
/// As [`depthwise_avx512`]; the pixels are valid outputs and block `cb + 1` exists when
/// `pair`.
// Indexed loops on purpose: iterators over `acc` take its address and LLVM then keeps the
// accumulators in memory instead of registers.
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
#[inline]
unsafe fn tile<const M: usize>(
    p: &ConvParams,
    act: Act,
    oy: usize,
    ox: usize,
    cb: usize,
    pair: bool,
) {
    let channels = p.groups;
    let c0 = cb * DW_BLOCK;
    let n = (channels - c0).min(if pair { 2 * DW_BLOCK } else { DW_BLOCK });
    let full = n == 2 * DW_BLOCK;
    let mask = first_lanes(n);
    let taps = p.kernel_h * p.kernel_w;
    let pix = p.stride_w * p.in_pixel_stride;
    let mut acc = [_mm512_setzero_ps(); M];
    for ky in 0..p.kernel_h {
        let row = (oy * p.stride_h + ky * p.dilation_h) * p.in_row_stride + ox * pix + c0;
        for kx in 0..p.kernel_w {
            let t = ky * p.kernel_w + kx;
            // SAFETY: each packed block has `taps * 8` floats (zero past the channels); the
            // input reads are (masked to) the valid channels of taps inside the receptive
            // field.
            unsafe {
                let lo = _mm256_loadu_ps(p.weights.add((cb * taps + t) * DW_BLOCK));
                let hi = if pair {
                    _mm256_loadu_ps(p.weights.add(((cb + 1) * taps + t) * DW_BLOCK))
                } else {
                    _mm256_setzero_ps()
                };
                let w = _mm512_insertf32x8::<1>(_mm512_castps256_ps512(lo), hi);
                let base = p.input.add(row + kx * p.dilation_w * p.in_pixel_stride);
                for i in 0..M {
                    let x = if full {
                        _mm512_loadu_ps(base.add(i * pix))
                    } else {
                        _mm512_maskz_loadu_ps(mask, base.add(i * pix))
                    };
                    acc[i] = _mm512_fmadd_ps(x, w, acc[i]);
                }
            }
        }
    }
    // SAFETY: the masked load reads only valid channels' bias.
    let b = unsafe { _mm512_maskz_loadu_ps(mask, p.bias.add(c0)) };
    for i in 0..M {
        let oo = oy * p.out_row_stride + (ox + i) * p.out_pixel_stride + c0;
        let ro = oy * p.res_row_stride + (ox + i) * p.res_pixel_stride + c0;
        // SAFETY: pixel `ox + i` is a valid output; `n` channels from `c0` are valid.
        unsafe { store_row_avx512(p, act, _mm512_add_ps(acc[i], b), oo, ro, n) };
    }
}
