//! AVX-512 tier of the depthwise convolution: 16 channels (two packed 8-channel blocks) per
//! zmm, tiles of up to 14 output pixels of one row (the map widths of the usual nets, 112 to
//! 7, split into equal tiles), one accumulator per pixel.

use std::arch::x86_64::*;
use std::ops::Range;

use crate::conv::store_act;
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
    let reuse = reuses_columns(p);
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
                        match (reuse, m) {
                            (true, _) => tile_reuse_any(p, act, oy, ox, m, cb, pair),
                            (false, 14) => tile::<14>(p, act, oy, ox, cb, pair),
                            (false, 13) => tile::<13>(p, act, oy, ox, cb, pair),
                            (false, 12) => tile::<12>(p, act, oy, ox, cb, pair),
                            (false, 11) => tile::<11>(p, act, oy, ox, cb, pair),
                            (false, 10) => tile::<10>(p, act, oy, ox, cb, pair),
                            (false, 9) => tile::<9>(p, act, oy, ox, cb, pair),
                            (false, 8) => tile::<8>(p, act, oy, ox, cb, pair),
                            (false, 7) => tile::<7>(p, act, oy, ox, cb, pair),
                            (false, 6) => tile::<6>(p, act, oy, ox, cb, pair),
                            (false, 5) => tile::<5>(p, act, oy, ox, cb, pair),
                            (false, 4) => tile::<4>(p, act, oy, ox, cb, pair),
                            (false, 3) => tile::<3>(p, act, oy, ox, cb, pair),
                            (false, 2) => tile::<2>(p, act, oy, ox, cb, pair),
                            (false, 1) => tile::<1>(p, act, oy, ox, cb, pair),
                            (false, other) => unreachable!("depthwise tile of {other} pixels"),
                        }
                    }
                }
            }
            ox += m;
        }
    }
}

/// The tile's epilogue: bias, residual, activation and (masked) stores of the `M`
/// accumulators. The usual activations are written out here with the residual test hoisted,
/// so the accumulators stay in registers; the others in one loop per activation. (The same
/// loops through `epilogue::avx512::apply` were slower — LLVM does not inline it into these
/// unrolled bodies: 3×3/1 480 ch at 14² 75 → 51 GFLOP/s.)
macro_rules! finish {
    ($p:ident, $act:ident, $acc:ident, $m:ident, $oy:ident, $ox:ident, $c0:ident, $n:ident, $mask:ident) => {{
        // SAFETY: the masked load reads only valid channels' bias.
        let b = unsafe { _mm512_maskz_loadu_ps($mask, $p.bias.add($c0)) };
        let out = |i: usize| $oy * $p.out_row_stride + ($ox + i) * $p.out_pixel_stride + $c0;
        let res = |i: usize| $oy * $p.res_row_stride + ($ox + i) * $p.res_pixel_stride + $c0;
        let clamp = match $act {
            Act::None => Some((f32::NEG_INFINITY, f32::INFINITY)),
            Act::Relu => Some((0.0, f32::INFINITY)),
            Act::Clip { min, max } => Some((min, max)),
            _ => None,
        };
        if let Some((lo, hi)) = clamp {
            let (lo, hi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
            let finish = |v: __m512| _mm512_min_ps(_mm512_max_ps(v, lo), hi);
            // Two loops rather than a residual test per store: branch-free bodies unroll.
            if $p.residual.is_null() {
                for i in 0..$m {
                    let v = finish(_mm512_add_ps($acc[i], b));
                    // SAFETY: pixel `ox + i` is a valid output; the store is masked to the
                    // valid channels.
                    unsafe { _mm512_mask_storeu_ps($p.output.add(out(i)), $mask, v) };
                }
            } else {
                for i in 0..$m {
                    // SAFETY: as above, for the residual too; each residual element is read
                    // before the output element (which may alias it) is written.
                    unsafe {
                        let r = _mm512_maskz_loadu_ps($mask, $p.residual.add(res(i)));
                        let v = finish(_mm512_add_ps(_mm512_add_ps($acc[i], b), r));
                        _mm512_mask_storeu_ps($p.output.add(out(i)), $mask, v);
                    }
                }
            }
        } else if matches!($act, Act::HardSwish) && $p.residual.is_null() {
            let (sixth, half) = (_mm512_set1_ps(1.0 / 6.0), _mm512_set1_ps(0.5));
            let (zero, one) = (_mm512_setzero_ps(), _mm512_set1_ps(1.0));
            for i in 0..$m {
                let x = _mm512_add_ps($acc[i], b);
                let y = _mm512_min_ps(_mm512_max_ps(_mm512_fmadd_ps(x, sixth, half), zero), one);
                // SAFETY: pixel `ox + i` is a valid output; the store is masked.
                unsafe { _mm512_mask_storeu_ps($p.output.add(out(i)), $mask, _mm512_mul_ps(x, y)) };
            }
        } else {
            macro_rules! each {
                ($a:expr) => {
                    for i in 0..$m {
                        // SAFETY: pixel `ox + i` is a valid output; the accesses are masked to
                        // the `n` valid channels from `c0`.
                        unsafe {
                            store_act!($p, $a, _mm512_add_ps($acc[i], b), out(i), res(i), $n)
                        };
                    }
                };
            }
            // One loop per activation: applied in line, not through a `match` per vector.
            match $act {
                Act::Silu => each!(Act::Silu),
                Act::Sigmoid => each!(Act::Sigmoid),
                Act::HardSwish => each!(Act::HardSwish),
                _ => each!($act),
            }
        }
    }};
}

/// `(first channel, valid channels, lane mask)` of block `cb` and, when `pair`, `cb + 1`.
fn lanes(p: &ConvParams, cb: usize, pair: bool) -> (usize, usize, __mmask16) {
    let c0 = cb * DW_BLOCK;
    let n = (p.groups - c0).min(if pair { 2 * DW_BLOCK } else { DW_BLOCK });
    (c0, n, first_lanes(n))
}

/// Tap `t`'s weights of channel blocks `cb` and, when `pair`, `cb + 1` (zero lanes
/// otherwise) as one 16-lane vector.
///
/// # Safety
/// Block `cb` (and `cb + 1` when `pair`) and tap `t < taps` exist in the packed weights.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
#[inline]
unsafe fn tap_weights(p: &ConvParams, cb: usize, pair: bool, taps: usize, t: usize) -> __m512 {
    // SAFETY: each packed block has `taps * 8` floats (zero past the channels).
    unsafe {
        let lo = _mm256_loadu_ps(p.weights.add((cb * taps + t) * DW_BLOCK));
        let hi = if pair {
            _mm256_loadu_ps(p.weights.add(((cb + 1) * taps + t) * DW_BLOCK))
        } else {
            _mm256_setzero_ps()
        };
        _mm512_insertf32x8::<1>(_mm512_castps256_ps512(lo), hi)
    }
}

/// Whether [`tile_reuse`] has a form for this kernel row: stride 1, unit dilation, 3 or 5
/// taps. At stride 2 it measured slower than [`tile`] (3×3/2 240 ch at 28²: 43 → 37 GFLOP/s);
/// at stride 1 it keeps up to `KW` FMAs per load (5×5/1 672 ch at 14²: 60 → 75).
fn reuses_columns(p: &ConvParams) -> bool {
    p.stride_w == 1 && p.dilation_w == 1 && matches!(p.kernel_w, 3 | 5)
}

/// One tile of `m` pixels in the register-reuse form.
///
/// # Safety
/// As [`tile_reuse`]; `reuses_columns(p)`.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
unsafe fn tile_reuse_any(
    p: &ConvParams,
    act: Act,
    oy: usize,
    ox: usize,
    m: usize,
    cb: usize,
    pair: bool,
) {
    macro_rules! by_width {
        ($k:literal) => {
            match m {
                14 => tile_reuse::<14, $k, 1>(p, act, oy, ox, cb, pair),
                13 => tile_reuse::<13, $k, 1>(p, act, oy, ox, cb, pair),
                12 => tile_reuse::<12, $k, 1>(p, act, oy, ox, cb, pair),
                11 => tile_reuse::<11, $k, 1>(p, act, oy, ox, cb, pair),
                10 => tile_reuse::<10, $k, 1>(p, act, oy, ox, cb, pair),
                9 => tile_reuse::<9, $k, 1>(p, act, oy, ox, cb, pair),
                8 => tile_reuse::<8, $k, 1>(p, act, oy, ox, cb, pair),
                7 => tile_reuse::<7, $k, 1>(p, act, oy, ox, cb, pair),
                6 => tile_reuse::<6, $k, 1>(p, act, oy, ox, cb, pair),
                5 => tile_reuse::<5, $k, 1>(p, act, oy, ox, cb, pair),
                4 => tile_reuse::<4, $k, 1>(p, act, oy, ox, cb, pair),
                3 => tile_reuse::<3, $k, 1>(p, act, oy, ox, cb, pair),
                2 => tile_reuse::<2, $k, 1>(p, act, oy, ox, cb, pair),
                1 => tile_reuse::<1, $k, 1>(p, act, oy, ox, cb, pair),
                other => unreachable!("depthwise tile of {other} pixels"),
            }
        };
    }
    // SAFETY: forwarded caller contract; `reuses_columns(p)` gives the width and stride.
    unsafe {
        if p.kernel_w == 3 {
            by_width!(3)
        } else {
            by_width!(5)
        }
    }
}

/// Widest input span of a reuse tile: `(MR - 1) * 2 + 5` columns.
const _: () = assert!((MR - 1) * 2 + 5 <= 31);

/// [`tile`] for a kernel `KW` taps wide at stride `S` (unit dilation): along each kernel row
/// every input vector is loaded once and used for all the taps and pixels that read it (up
/// to `KW / S` FMAs per load instead of one), the row's `KW` weights held in registers.
///
/// # Safety
/// As [`tile`], with `p.kernel_w == KW`, `p.stride_w == S` and `p.dilation_w == 1`.
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
#[inline]
unsafe fn tile_reuse<const M: usize, const KW: usize, const S: usize>(
    p: &ConvParams,
    act: Act,
    oy: usize,
    ox: usize,
    cb: usize,
    pair: bool,
) {
    // All lanes set when the pair is full: a masked load then costs what a plain one does.
    let (c0, n, mask) = lanes(p, cb, pair);
    let taps = p.kernel_h * KW;
    let mut acc = [_mm512_setzero_ps(); M];
    for ky in 0..p.kernel_h {
        let row = (oy * p.stride_h + ky * p.dilation_h) * p.in_row_stride
            + ox * S * p.in_pixel_stride
            + c0;
        let mut w = [_mm512_setzero_ps(); KW];
        for kx in 0..KW {
            // SAFETY: tap `ky * KW + kx` of the kernel; forwarded caller contract.
            w[kx] = unsafe { tap_weights(p, cb, pair, taps, ky * KW + kx) };
        }
        // Input column `j` of the row feeds output pixel `i` through tap `kx` when
        // `j == i * S + kx`. The columns are spelled out (LLVM does not unroll a loop this
        // long by itself) so that every condition below is decided at compile time and the
        // accumulators, weights and the one live input stay in registers.
        macro_rules! columns {
            ($($j:literal)*) => {$(
                if $j < (M - 1) * S + KW {
                    // SAFETY: column `j` lies inside the tile's receptive field; the load is
                    // masked to the valid channels.
                    let x = unsafe {
                        _mm512_maskz_loadu_ps(mask, p.input.add(row + $j * p.in_pixel_stride))
                    };
                    for kx in 0..KW {
                        if $j >= kx && ($j - kx) % S == 0 && ($j - kx) / S < M {
                            let i = ($j - kx) / S;
                            acc[i] = _mm512_fmadd_ps(x, w[kx], acc[i]);
                        }
                    }
                }
            )*};
        }
        columns!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30);
    }
    finish!(p, act, acc, M, oy, ox, c0, n, mask);
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
    let (c0, n, mask) = lanes(p, cb, pair);
    let full = n == 2 * DW_BLOCK;
    let taps = p.kernel_h * p.kernel_w;
    let pix = p.stride_w * p.in_pixel_stride;
    let mut acc = [_mm512_setzero_ps(); M];
    for ky in 0..p.kernel_h {
        let row = (oy * p.stride_h + ky * p.dilation_h) * p.in_row_stride + ox * pix + c0;
        for kx in 0..p.kernel_w {
            // SAFETY: tap `ky * kernel_w + kx` of the kernel; the input reads are (masked to)
            // the valid channels of taps inside the receptive field.
            unsafe {
                let w = tap_weights(p, cb, pair, taps, ky * p.kernel_w + kx);
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
    finish!(p, act, acc, M, oy, ox, c0, n, mask);
}
