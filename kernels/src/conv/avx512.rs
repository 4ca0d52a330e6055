//! AVX-512 tier of the panel convolution (`LAYOUT_PANELS`): a 16-channel panel is one zmm.
//!
//! The register tile is `M` (up to 12) output pixels × two adjacent panels (32 output channels)
//! in `2M` zmm accumulators; each reduction step loads the two panels' 16-wide weight rows and
//! broadcasts one input value per pixel (2 loads + 12 broadcasts per 24 FMAs). An odd panel
//! count starts with one tile of 8 pixels × three panels (3 + 8 loads per 24 FMAs) so that no
//! panel runs alone; a layer of a single panel runs the tile with one panel, or the AVX2
//! 8-wide tile when it has at most 8 channels; a lone output pixel (GEMV) runs the AVX2 four-panel tile. Blocking is as in the
//! AVX2 code: pixel blocks that stay in L2 while every panel pair passes over them, and
//! reductions longer than `2 * KC` split into K-chunks whose weights stay in L1.

use std::arch::x86_64::*;
use std::ops::Range;

use super::{
    gemv_tile_avx2, k_chunks, narrow_block_avx2, tap_runs, BlockOffsets, Tile, GEMV_PANELS,
};
use crate::conv_params::ConvParams;
use crate::epilogue::{avx512 as act512, Act};
use crate::pack::NR;

/// Most output pixels per register tile: 12 × 2 panels = 24 accumulators, plus 2 weight
/// vectors and 1 broadcast, of the 32 zmm registers.
const MR: usize = 12;
/// Pixels per cache block (at most; a call's pixels are split into equal blocks).
const PIXEL_BLOCK: usize = 8 * MR;
/// Reduction values per K-chunk: 128 × 2 panels × 64 B = 16 KiB of weights, which stay in L1
/// (48 KiB) next to the tiles' input lines while the whole pixel block passes.
const KC: usize = 128;
/// Pixels per register tile of three panels: 8 × 3 = 24 accumulators, 3 weight loads and 8
/// broadcasts per 24 FMAs.
const MR3: usize = 8;
/// Floats of K-chunk partial sums per block pixel (up to three panels).
const PARTIAL: usize = 3 * NR;
/// Reduction steps per loop iteration.
const UNROLL: usize = 4;
/// Weight prefetch distance in K-chunks. Layers whose weights exceed L2 (3×3 at 7² × 512:
/// 9.4 MB) stream them from L3 or memory once per inference; fetched into L2 this far ahead,
/// spread over all the tiles of a chunk, 7² × 512 went from 2.0 to 1.55 ms in ResNet-18.
const AHEAD: usize = 4;
/// Prefetch into L2 (and L3), not L1: the chunk in use and its input lines fill L1.
const HINT: i32 = _MM_HINT_T1;

/// One to three adjacent panels of a tile: where their weights and channels are.
#[derive(Clone, Copy)]
struct Tile512 {
    /// The first panel's weights at the chunk's first `k`.
    weights: *const f32,
    /// Floats from the first panel's weights to the second's (`k_len * 16`).
    panel_stride: usize,
    /// The first panel's 16 bias values; the second's follow.
    bias: *const f32,
    in_channel: usize,
    out_channel: usize,
    /// Valid output channels of each panel (1..=16; only the last panel of a group is partial).
    n: [usize; 3],
    /// Start from the partial sums saved by the previous K-chunk instead of zero.
    resume: bool,
    /// Last K-chunk: run the epilogue (otherwise save partial sums).
    finish: bool,
    /// Where the block's weight prefetch starts (each tile takes the next share): first-panel
    /// weights `AHEAD` chunks on (the second panel's at `panel_stride` from it). Only an
    /// address hint: it may point past the weights near the end.
    prefetch: *const f32,
}

/// # Safety
/// As [`crate::bqml_conv2d`] with `layout == LAYOUT_PANELS`, on a CPU with AVX-512 F/BW/DQ/VL
/// (which implies AVX2 + FMA).
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
pub(super) unsafe fn panels_avx512(
    p: &ConvParams,
    act: Act,
    row_start: usize,
    row_end: usize,
    range: Range<usize>,
) {
    let (icg, ocg) = (p.in_channels_per_group, p.out_channels_per_group);
    let panels = ocg.div_ceil(NR);
    let k_len = p.kernel_h * p.kernel_w * icg;
    let runs = tap_runs(p);
    let chunks = k_chunks(&runs, k_len, KC);
    // Partial sums of the current pixel block between K-chunks (32 floats per pixel).
    let mut scratch = [0.0f32; PIXEL_BLOCK * PARTIAL];
    let (first, last) = (row_start * p.out_w, row_end * p.out_w);
    let total = last - first;
    // Equal blocks: no nearly empty last block.
    let blocks = total.div_ceil(PIXEL_BLOCK);
    for g in 0..p.groups {
        for bi in 0..blocks {
            let block = first + bi * total / blocks;
            let block_end = first + (bi + 1) * total / blocks;
            let len = block_end - block;
            let offsets = BlockOffsets::<PIXEL_BLOCK>::new(p, block, block_end);
            // A lone pixel (GEMV) has no pixel reuse: the AVX2 tile runs 4 panels at once.
            let mut b = range.start;
            if len == 1 {
                while b + GEMV_PANELS <= range.end {
                    // SAFETY: panels `b..b+4` of group g exist; pixel `block` is in range.
                    unsafe { gemv_tile_avx2(p, act, &runs, g, b, offsets.at(0)[0]) };
                    b += GEMV_PANELS;
                }
            }
            while b < range.end {
                let left = range.end - b;
                // Panels of this tile: pairs, and one triple where the count is odd so that no
                // panel runs alone (13 loads per 12 FMAs). A partial panel (even one of at most
                // 8 channels) rides in a pair or triple as masked lanes: 240 -> 40 channels at
                // 28² ran 104 GFLOP/s as pair + 8-wide tile and 116 as one triple.
                let width = match left {
                    1 => 1,
                    _ if left % 2 == 1 => 3,
                    _ => 2,
                };
                let panel = g * panels + b;
                let mut n = [0; 3];
                for (j, n) in n.iter_mut().enumerate().take(width) {
                    *n = NR.min(ocg - (b + j) * NR);
                }
                for (ci, chunk) in chunks.iter().enumerate() {
                    let (resume, finish) = (ci > 0, ci + 1 == chunks.len());
                    // SAFETY: the chunk lies inside its panel, inside the packed weights.
                    let weights = unsafe { p.weights.add((panel * k_len + chunk.k_start) * NR) };
                    // Prefetch `AHEAD` chunks on, continuing into the next panels.
                    let (tiles_on, next_chunk) =
                        ((ci + AHEAD) / chunks.len(), (ci + AHEAD) % chunks.len());
                    let next = (panel + width * tiles_on) * k_len + chunks[next_chunk].k_start;
                    let prefetch = p.weights.wrapping_add(next * NR);
                    // SAFETY: bias is padded to whole panels.
                    let bias = unsafe { p.bias.add(panel * NR) };
                    let runs = &chunk.runs[..];
                    if width == 1 && n[0] <= 8 {
                        let t = Tile {
                            weights,
                            bias,
                            in_channel: g * icg,
                            out_channel: g * ocg + b * NR,
                            n: n[0],
                            resume,
                            finish,
                        };
                        // SAFETY: the block's pixels are inside the caller's output range; the
                        // scratch has at least 16 floats per block pixel.
                        unsafe {
                            narrow_block_avx2(p, act, runs, &t, &offsets, len, scratch.as_mut_ptr())
                        };
                        continue;
                    }
                    let t = Tile512 {
                        weights,
                        panel_stride: k_len * NR,
                        bias,
                        in_channel: g * icg,
                        out_channel: g * ocg + b * NR,
                        n,
                        resume,
                        finish,
                        prefetch,
                    };
                    let scratch = scratch.as_mut_ptr();
                    // SAFETY: as above, with `PARTIAL` scratch floats per block pixel; the
                    // tile's `width` panels exist.
                    unsafe {
                        match width {
                            1 => block_tiles::<1>(p, act, runs, &t, &offsets, len, scratch),
                            2 => block_tiles::<2>(p, act, runs, &t, &offsets, len, scratch),
                            _ => block_tiles::<3>(p, act, runs, &t, &offsets, len, scratch),
                        }
                    }
                }
                b += width;
            }
        }
    }
}

/// All register tiles of one pixel block for `P` panels and one K-chunk: `ceil(len / 12)` tiles
/// of equal size (no small tail tile whose few accumulators could not hide the FMA latency).
///
/// # Safety
/// As [`panels_avx512`]; `offsets` holds `len` pixels and `scratch` `len * PARTIAL` floats.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
#[allow(clippy::too_many_arguments)]
unsafe fn block_tiles<const P: usize>(
    p: &ConvParams,
    act: Act,
    runs: &[(usize, usize)],
    t: &Tile512,
    offsets: &BlockOffsets<PIXEL_BLOCK>,
    len: usize,
    scratch: *mut f32,
) {
    let mr = if P == 3 { MR3 } else { MR };
    let tiles = len.div_ceil(mr);
    // Each tile prefetches one line per panel every UNROLL steps; tile `ti` starts where the
    // previous tiles' lines end.
    let share = runs.iter().map(|r| r.1).sum::<usize>() / UNROLL;
    let mut i = 0;
    for ti in 0..tiles {
        let m = len / tiles + usize::from(ti < len % tiles);
        let pf = t.prefetch.wrapping_add(ti * share * NR);
        let offs = offsets.at(i);
        // SAFETY: pixel `i` of the block has `PARTIAL` scratch floats from `i * PARTIAL` on.
        let partial = unsafe { scratch.add(i * PARTIAL) };
        macro_rules! by_pixels {
            ($($m:literal)*) => {
                match m {
                    $($m => tile::<P, $m>(p, act, runs, t, offs, partial, pf),)*
                    other => unreachable!("tile of {other} pixels × {P} panels"),
                }
            };
        }
        // SAFETY: pixels `i..i+m` are valid block pixels; forwarded caller contract.
        unsafe {
            if P == 3 {
                by_pixels!(8 7 6 5 4 3 2 1)
            } else {
                by_pixels!(12 11 10 9 8 7 6 5 4 3 2 1)
            }
        }
        i += m;
    }
}

/// `M` consecutive flattened output pixels × `P` (1 to 3) adjacent panels, accumulated in
/// `P * M` zmm registers over the chunk's reduction, then either saved as partial sums or
/// finished with bias, residual and activation and stored.
///
/// # Safety
/// As [`panels_avx512`]; `offs` holds the offsets of `M` valid output pixels and `partial` has
/// `M * PARTIAL` floats. `prefetch` is this tile's share of the block's weight prefetch (an
/// address hint, as [`Tile512::prefetch`]).
// Indexed loops on purpose: iterators over `acc` take its address and LLVM then keeps the
// accumulators in memory instead of registers.
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
#[inline]
unsafe fn tile<const P: usize, const M: usize>(
    p: &ConvParams,
    act: Act,
    runs: &[(usize, usize)],
    t: &Tile512,
    offs: &[[usize; 3]],
    partial: *mut f32,
    prefetch: *const f32,
) {
    let mut inp = [std::ptr::null::<f32>(); M];
    for i in 0..M {
        // SAFETY: the pixel's receptive field (its group's channels) is inside the input.
        inp[i] = unsafe { p.input.add(offs[i][0] + t.in_channel) };
    }
    let mut acc = [[_mm512_setzero_ps(); P]; M];
    if t.resume {
        for i in 0..M {
            for j in 0..P {
                // SAFETY: `partial` holds the previous chunk's `P * 16` floats per pixel.
                acc[i][j] = unsafe { _mm512_loadu_ps(partial.add(i * PARTIAL + j * NR)) };
            }
        }
    }
    let mut w = t.weights;
    let mut pf = prefetch;
    let ws = t.panel_stride;
    for &(off, len) in runs {
        let mut q = [std::ptr::null::<f32>(); M];
        for i in 0..M {
            // SAFETY: `off` is a tap offset inside the receptive field.
            q[i] = unsafe { inp[i].add(off) };
        }
        // One reduction step: P weight loads, M broadcasts, P * M FMAs.
        macro_rules! step {
            ($c:expr) => {
                // SAFETY: `w` (and `w + ws` for the second panel) walks the chunk's 16-wide
                // weight rows in order; `q[i] + c` is inside the receptive field of pixel i.
                unsafe {
                    let mut wv = [_mm512_setzero_ps(); P];
                    for j in 0..P {
                        wv[j] = _mm512_loadu_ps(w.add(j * ws));
                    }
                    for i in 0..M {
                        let a = _mm512_set1_ps(*q[i].add($c));
                        for j in 0..P {
                            acc[i][j] = _mm512_fmadd_ps(a, wv[j], acc[i][j]);
                        }
                    }
                    w = w.add(NR);
                }
            };
        }
        let mut c = 0;
        while c + UNROLL <= len {
            for u in 0..UNROLL {
                step!(c + u);
            }
            // One line of each panel's next weights per UNROLL steps: the block's tiles
            // together spread the next chunk's fetch over the whole chunk.
            for j in 0..P {
                _mm_prefetch::<HINT>(pf.wrapping_add(j * ws).cast());
            }
            pf = pf.wrapping_add(NR);
            c += UNROLL;
        }
        while c < len {
            step!(c);
            c += 1;
        }
    }
    // Common finish straight from the registers: whole panels and a clamp activation (none,
    // ReLU, clip). The body is small enough that LLVM unrolls it, so `acc` keeps fixed indices.
    let clamp = match act {
        Act::None => Some((f32::NEG_INFINITY, f32::INFINITY)),
        Act::Relu => Some((0.0, f32::INFINITY)),
        Act::Clip { min, max } => Some((min, max)),
        _ => None,
    };
    if let (true, Some((lo, hi))) = (t.finish && t.n[P - 1] == NR, clamp) {
        let (lo, hi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
        let mut bias = [_mm512_setzero_ps(); P];
        for j in 0..P {
            // SAFETY: bias holds 16 floats per panel.
            bias[j] = unsafe { _mm512_loadu_ps(t.bias.add(j * NR)) };
        }
        // Two loops rather than a residual test per store: branch-free bodies get unrolled.
        if p.residual.is_null() {
            for i in 0..M {
                for j in 0..P {
                    let v = _mm512_add_ps(acc[i][j], bias[j]);
                    let v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
                    // SAFETY: all 16 channels of panel j are valid output channels of pixel i.
                    unsafe {
                        _mm512_storeu_ps(p.output.add(offs[i][1] + t.out_channel + j * NR), v)
                    };
                }
            }
        } else {
            for i in 0..M {
                for j in 0..P {
                    let ch = t.out_channel + j * NR;
                    // SAFETY: all 16 channels of panel j are valid output and residual channels
                    // of pixel i; each residual element is read before it is written.
                    unsafe {
                        let r = _mm512_loadu_ps(p.residual.add(offs[i][2] + ch));
                        let v = _mm512_add_ps(_mm512_add_ps(acc[i][j], bias[j]), r);
                        let v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
                        _mm512_storeu_ps(p.output.add(offs[i][1] + ch), v);
                    }
                }
            }
        }
        return;
    }
    // Otherwise save the sums (partial, or final for the general epilogue): fixed-index stores,
    // so `acc` stays in registers; an epilogue indexing `acc` in a loop LLVM does not unroll
    // would force it into memory, with a store after every FMA.
    for i in 0..M {
        for j in 0..P {
            // SAFETY: `partial` has `PARTIAL` floats per pixel.
            unsafe { _mm512_storeu_ps(partial.add(i * PARTIAL + j * NR), acc[i][j]) };
        }
    }
    if t.finish {
        // SAFETY: forwarded contract; `partial` now holds the tile's sums.
        unsafe { epilogue::<P>(p, act, t, &offs[..M], partial) };
    }
}

/// [`store_row_avx512`] spelled out, for epilogue loops specialised to one activation.
macro_rules! store_act {
    ($p:expr, $act:expr, $v:expr, $out:expr, $res:expr, $n:expr) => {{
        let mask = $crate::epilogue::avx512::first_lanes($n);
        let mut v = $v;
        if !$p.residual.is_null() {
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, $p.residual.add($res)));
        }
        _mm512_mask_storeu_ps(
            $p.output.add($out),
            mask,
            $crate::epilogue::avx512::apply($act, v),
        );
    }};
}
pub(crate) use store_act;

/// Bias, residual, activation and store for the sums of `offs.len()` pixels × `P` panels
/// saved in `sums` (`PARTIAL` floats per pixel).
///
/// # Safety
/// As [`tile`].
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
unsafe fn epilogue<const P: usize>(
    p: &ConvParams,
    act: Act,
    t: &Tile512,
    offs: &[[usize; 3]],
    sums: *const f32,
) {
    macro_rules! rows {
        ($act:expr) => {
            for (i, &[_, oo, ro]) in offs.iter().enumerate() {
                for j in 0..P {
                    let ch = t.out_channel + j * NR;
                    // SAFETY: `sums` and bias hold 16 floats per pixel and panel; output and
                    // residual accesses are masked to the valid channels of panel j of pixel i.
                    unsafe {
                        let v = _mm512_add_ps(
                            _mm512_loadu_ps(sums.add(i * PARTIAL + j * NR)),
                            _mm512_loadu_ps(t.bias.add(j * NR)),
                        );
                        store_act!(p, $act, v, oo + ch, ro + ch, t.n[j]);
                    }
                }
            }
        };
    }
    // One loop per activation, so that each is applied in line rather than through a
    // `match` per vector (SiLU epilogues took twice as long that way).
    match act {
        Act::Silu => rows!(Act::Silu),
        Act::Sigmoid => rows!(Act::Sigmoid),
        Act::HardSwish => rows!(Act::HardSwish),
        Act::Gelu => rows!(Act::Gelu),
        Act::GeluTanh => rows!(Act::GeluTanh),
        _ => rows!(act),
    }
}

/// Epilogue for one pixel × 16 channels (bias already added): `act(v [+ residual])`, stored
/// with a lane mask when fewer than 16 channels are valid. The residual element is read before
/// the output element is written, so they may alias.
///
/// # Safety
/// `out`/`res` index `n` valid channels of the output/residual.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
#[inline]
pub(crate) unsafe fn store_row_avx512(
    p: &ConvParams,
    act: Act,
    mut v: __m512,
    out: usize,
    res: usize,
    n: usize,
) {
    let full = n >= NR;
    let mask = act512::first_lanes(n);
    if !p.residual.is_null() {
        // SAFETY: the (masked) load touches only the `n` valid channels.
        unsafe {
            let r = p.residual.add(res);
            let rv = if full {
                _mm512_loadu_ps(r)
            } else {
                _mm512_maskz_loadu_ps(mask, r)
            };
            v = _mm512_add_ps(v, rv);
        }
    }
    v = act512::apply(act, v);
    // SAFETY: the (masked) store touches only the `n` valid channels.
    unsafe {
        let o = p.output.add(out);
        if full {
            _mm512_storeu_ps(o, v);
        } else {
            _mm512_mask_storeu_ps(o, mask, v);
        }
    }
}
