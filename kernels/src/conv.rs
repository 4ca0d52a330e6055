//! NHWC convolution as a register-blocked implicit GEMM (any kernel, stride, dilation, groups).
//!
//! The reduction for one output pixel runs over `(ky, kx, c)`. The input pointer of a pixel plus a
//! per-tap offset addresses a contiguous run of `icg` channels; when the input pixels are dense
//! (`pixel_stride == icg`, one group, `dilation_w == 1`) the `kx` taps of a kernel row merge into one
//! contiguous run of `kernel_w * icg` values, which is what makes 1×1 convolutions a plain GEMM and
//! keeps the 3-channel first layer (runs of 21 for 7×7) efficient.

use std::ops::Range;

use crate::conv_params::{slice_panels, ConvGeometry, ConvParams};
use crate::epilogue::Act;
use crate::error::KernelError;
use crate::isa::Isa;
use crate::pack::{PackedConv, DW_BLOCK, LAYOUT_DEPTHWISE, LAYOUT_PANELS, NR};
use crate::view::{Nhwc, NhwcMut};

/// Output pixels per register tile.
pub const MR: usize = 6;
/// Pixels per cache block: the input of a block stays in L1/L2 while every panel passes over it.
const PIXEL_BLOCK: usize = 16 * MR;

/// Convolution entry point for generated code: computes output rows `[row_start, row_end)`.
///
/// # Safety
/// `p` must point to a valid [`ConvParams`] whose pointers cover every element the layer reads and
/// writes (the input's halo included), `weights`/`bias`/`layout` from one [`PackedConv`] of this
/// shape, and `row_start <= row_end <= out_h`. Two concurrent calls may share `p` if their row
/// ranges are disjoint.
#[no_mangle]
pub unsafe extern "C" fn bqml_conv2d(p: *const ConvParams, start: usize, end: usize) {
    // SAFETY: the caller guarantees `p` points to a valid ConvParams.
    let p = unsafe { &*p };
    let act = p.activation.decode_or_abort();
    let isa = Isa::resolve_or_abort(p.isa);
    // SAFETY: forwarded caller contract; `resolve_or_abort` only returns a runnable tier.
    unsafe { conv_units(isa, p, act, start, end) }
}

/// Work units `[start, end)` of `p` (output rows times [`ConvParams::channel_slices`],
/// slice-major): each slice's part runs as one row range over that slice's panels.
///
/// # Safety
/// As [`bqml_conv2d`], and `isa` must be runnable on this CPU.
pub(crate) unsafe fn conv_units(isa: Isa, p: &ConvParams, act: Act, start: usize, end: usize) {
    let slices = p.channel_slices.max(1);
    let oh = p.out_h;
    let panels = channel_blocks(p);
    let end = end.min(slices * oh);
    let mut u = start;
    while u < end {
        let slice = u / oh;
        let rows = u - slice * oh..end.min((slice + 1) * oh) - slice * oh;
        u = (slice + 1) * oh;
        let panels = slice_panels(panels, slice, slices);
        // SAFETY: forwarded caller contract; rows and panels lie inside the layer.
        unsafe { conv_raw(isa, p, act, rows.start, rows.end, panels) }
    }
}

/// What channel slices divide: 16-channel panels per group (`LAYOUT_PANELS`), or the
/// 8-channel blocks of a depthwise layer.
fn channel_blocks(p: &ConvParams) -> usize {
    match p.layout {
        LAYOUT_DEPTHWISE => p.groups.div_ceil(DW_BLOCK),
        _ => p.out_channels_per_group.div_ceil(NR),
    }
}

/// Output rows `[row_start, row_end)` and channel blocks `panels` ([`channel_blocks`]: panels
/// of every group, or depthwise 8-channel blocks).
///
/// # Safety
/// As [`bqml_conv2d`], `panels` inside `0..channel_blocks(p)`, and `isa` runnable on this
/// CPU.
pub(crate) unsafe fn conv_raw(
    isa: Isa,
    p: &ConvParams,
    act: Act,
    row_start: usize,
    row_end: usize,
    panels: Range<usize>,
) {
    let row_end = row_end.min(p.out_h);
    if row_start >= row_end || panels.is_empty() {
        return;
    }
    match (p.layout, isa) {
        #[cfg(target_arch = "x86_64")]
        (LAYOUT_DEPTHWISE, Isa::Avx2Fma) => {
            // SAFETY: forwarded caller contract; AVX2+FMA checked by the caller.
            unsafe { crate::depthwise::depthwise_avx2(p, act, row_start, row_end, panels) }
        }
        #[cfg(target_arch = "x86_64")]
        (LAYOUT_DEPTHWISE, Isa::Avx512) => {
            // SAFETY: forwarded caller contract; AVX-512 checked by the caller.
            unsafe { crate::depthwise::depthwise_avx512(p, act, row_start, row_end, panels) }
        }
        (LAYOUT_DEPTHWISE, _) => {
            // SAFETY: forwarded caller contract.
            unsafe { crate::depthwise::depthwise_portable(p, act, row_start, row_end, panels) }
        }
        #[cfg(target_arch = "x86_64")]
        (LAYOUT_PANELS, Isa::Avx2Fma) => {
            // SAFETY: forwarded caller contract; AVX2+FMA checked by the caller.
            unsafe { panels_avx2(p, act, row_start, row_end, panels) }
        }
        #[cfg(target_arch = "x86_64")]
        (LAYOUT_PANELS, Isa::Avx512) => {
            // SAFETY: forwarded caller contract; AVX-512 checked by the caller.
            unsafe { avx512::panels_avx512(p, act, row_start, row_end, panels) }
        }
        (LAYOUT_PANELS, _) => {
            // SAFETY: forwarded caller contract.
            unsafe { panels_portable(p, act, row_start, row_end, panels) }
        }
        (other, _) => {
            eprintln!("bqml kernels: unknown conv layout {other}");
            std::process::abort()
        }
    }
}

/// Convolve `input` into output rows `rows` with `isa` (falls back to portable when unavailable).
///
/// `input` is the receptive-field origin (see [`ConvParams`]) and must cover
/// [`ConvGeometry::input_extent`] × `in_channels`; `output` and `residual` cover
/// `out_h × out_w × out_channels`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    isa: Isa,
    packed: &PackedConv,
    geo: &ConvGeometry,
    act: Act,
    input: Nhwc<'_>,
    mut output: NhwcMut<'_>,
    residual: Option<Nhwc<'_>>,
    rows: Range<usize>,
) -> Result<(), KernelError> {
    let s = packed.shape;
    if geo.out_h == 0
        || geo.out_w == 0
        || geo.stride_h == 0
        || geo.stride_w == 0
        || geo.dilation_h == 0
        || geo.dilation_w == 0
    {
        return Err(KernelError::new(format!("invalid conv geometry {geo:?}")));
    }
    if rows.start > rows.end || rows.end > geo.out_h {
        return Err(KernelError::new(format!(
            "row range {rows:?} outside 0..{}",
            geo.out_h
        )));
    }
    let p = ConvParams::from_views(packed, geo, act, &input, &mut output, residual.as_ref())?;
    let (_, iw) = geo.input_extent(s.kernel_h, s.kernel_w);
    if s.groups > 1 && input.pixel_stride < s.in_channels && iw > 1 {
        return Err(KernelError::new(
            "conv input pixel stride below channel count",
        ));
    }
    // SAFETY: `from_views` bounds-checked every buffer for the full output and receptive field; the
    // packed weights match the shape by construction; `or_portable` ensures the ISA is runnable.
    let panels = 0..channel_blocks(&p);
    // SAFETY: (see above)
    unsafe { conv_raw(isa.or_portable(), &p, act, rows.start, rows.end, panels) };
    Ok(())
}

/// Contiguous runs of the reduction: `(input offset, length)`, in packed `k` order.
pub(crate) fn tap_runs(p: &ConvParams) -> Vec<(usize, usize)> {
    let icg = p.in_channels_per_group;
    let merge_kx = p.dilation_w == 1 && p.in_pixel_stride == icg;
    let mut runs = Vec::with_capacity(p.kernel_h * p.kernel_w);
    for ky in 0..p.kernel_h {
        let row = ky * p.dilation_h * p.in_row_stride;
        if merge_kx {
            runs.push((row, p.kernel_w * icg));
        } else {
            for kx in 0..p.kernel_w {
                runs.push((row + kx * p.dilation_w * p.in_pixel_stride, icg));
            }
        }
    }
    runs
}

/// Per-pixel base offsets (input, output, residual) of flattened output pixel `px`.
#[inline(always)]
fn pixel_offsets(p: &ConvParams, px: usize) -> (usize, usize, usize) {
    let (oy, ox) = (px / p.out_w, px % p.out_w);
    (
        oy * p.stride_h * p.in_row_stride + ox * p.stride_w * p.in_pixel_stride,
        oy * p.out_row_stride + ox * p.out_pixel_stride,
        oy * p.res_row_stride + ox * p.res_pixel_stride,
    )
}

/// # Safety
/// As [`bqml_conv2d`] with `layout == LAYOUT_PANELS`.
unsafe fn panels_portable(
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
    for g in 0..p.groups {
        for px in row_start * p.out_w..row_end * p.out_w {
            let (io, oo, ro) = pixel_offsets(p, px);
            for b in range.clone() {
                let panel = g * panels + b;
                let n = NR.min(ocg - b * NR);
                let mut acc = [0.0f32; NR];
                // SAFETY: `panel * k_len * NR .. + k_len * NR` lies in the packed weights, and every
                // input read stays inside the receptive field the caller guarantees.
                unsafe {
                    let mut w = p.weights.add(panel * k_len * NR);
                    let base = p.input.add(io + g * icg);
                    for &(off, len) in &runs {
                        let q = base.add(off);
                        for c in 0..len {
                            let a = *q.add(c);
                            let wv = &*(w as *const [f32; NR]);
                            for j in 0..NR {
                                acc[j] += a * wv[j];
                            }
                            w = w.add(NR);
                        }
                    }
                }
                let oc = g * ocg + b * NR;
                for (j, &v) in acc.iter().enumerate().take(n) {
                    // SAFETY: channel `oc + j` < out channels and the pixel is inside the output /
                    // residual box the caller guarantees; bias is padded to whole panels.
                    unsafe {
                        let mut v = v + *p.bias.add(panel * NR + j);
                        if !p.residual.is_null() {
                            v += *p.residual.add(ro + oc + j);
                        }
                        *p.output.add(oo + oc + j) = act.apply(v);
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
pub(crate) use avx512::{store_act, store_row_avx512};

/// # Safety
/// As [`bqml_conv2d`] with `layout == LAYOUT_PANELS`, on a CPU with AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn panels_avx2(
    p: &ConvParams,
    act: Act,
    row_start: usize,
    row_end: usize,
    range: Range<usize>,
) {
    let (icg, ocg) = (p.in_channels_per_group, p.out_channels_per_group);
    let panels = ocg.div_ceil(NR);
    let k_len = p.kernel_h * p.kernel_w * icg;
    let chunks = k_chunks(&tap_runs(p), k_len, KC);
    // Partial sums of the current pixel block between K-chunks (16 floats per pixel).
    let mut scratch = [0.0f32; PIXEL_BLOCK * NR];
    let (first, last) = (row_start * p.out_w, row_end * p.out_w);
    for g in 0..p.groups {
        let mut block = first;
        while block < last {
            let block_end = (block + PIXEL_BLOCK).min(last);
            let offsets = BlockOffsets::<PIXEL_BLOCK>::new(p, block, block_end);
            // A lone pixel (GEMV) has no pixel reuse: run 4 panels at once instead, so 8
            // independent accumulators hide the FMA latency.
            let mut wide = range.start;
            if block_end - block == 1 {
                let runs = tap_runs(p);
                while wide + GEMV_PANELS <= range.end {
                    // SAFETY: panels `wide..wide+4` of group g exist; pixel `block` is in range.
                    unsafe { gemv_tile_avx2(p, act, &runs, g, wide, offsets.at(0)[0]) };
                    wide += GEMV_PANELS;
                }
            }
            for b in wide..range.end {
                let panel = g * panels + b;
                for (ci, chunk) in chunks.iter().enumerate() {
                    let tile = Tile {
                        // SAFETY: the chunk lies inside its panel, inside the packed weights.
                        weights: unsafe { p.weights.add((panel * k_len + chunk.k_start) * NR) },
                        // SAFETY: bias is padded to whole panels.
                        bias: unsafe { p.bias.add(panel * NR) },
                        in_channel: g * icg,
                        out_channel: g * ocg + b * NR,
                        n: NR.min(ocg - b * NR),
                        resume: ci > 0,
                        finish: ci + 1 == chunks.len(),
                    };
                    let runs = &chunk.runs[..];
                    if tile.n <= 8 {
                        // SAFETY: the block's pixels are inside the caller's output range and
                        // the scratch has 16 floats per block pixel.
                        unsafe {
                            narrow_block_avx2(
                                p,
                                act,
                                runs,
                                &tile,
                                &offsets,
                                block_end - block,
                                scratch.as_mut_ptr(),
                            )
                        };
                        continue;
                    }
                    let mut px = block;
                    while px < block_end {
                        let m = (block_end - px).min(MR);
                        let partial = scratch[(px - block) * NR..].as_mut_ptr();
                        // SAFETY: pixels `px..px+m` are inside the caller's output range and
                        // `partial` has room for `m * 16` floats.
                        unsafe {
                            match m {
                                MR => tile_avx2::<MR>(
                                    p,
                                    act,
                                    runs,
                                    &tile,
                                    offsets.at(px - block),
                                    partial,
                                ),
                                1 => tile_avx2::<1>(
                                    p,
                                    act,
                                    runs,
                                    &tile,
                                    offsets.at(px - block),
                                    partial,
                                ),
                                2 => tile_avx2::<2>(
                                    p,
                                    act,
                                    runs,
                                    &tile,
                                    offsets.at(px - block),
                                    partial,
                                ),
                                3 => tile_avx2::<3>(
                                    p,
                                    act,
                                    runs,
                                    &tile,
                                    offsets.at(px - block),
                                    partial,
                                ),
                                4 => tile_avx2::<4>(
                                    p,
                                    act,
                                    runs,
                                    &tile,
                                    offsets.at(px - block),
                                    partial,
                                ),
                                _ => tile_avx2::<5>(
                                    p,
                                    act,
                                    runs,
                                    &tile,
                                    offsets.at(px - block),
                                    partial,
                                ),
                            }
                        }
                        px += m;
                    }
                }
            }
            block = block_end;
        }
    }
}

/// Pixels per narrow tile, used for panels with at most 8 valid channels: 12 pixels × one
/// vector, so a half-empty tail panel does not pay for 16 lanes.
const MR_NARROW: usize = 12;

/// Call `$f::<m>(args…)` for a runtime `m` among the listed constants.
macro_rules! dispatch_m {
    ($m:expr, $f:ident, [$($n:literal),*], $args:tt) => {
        match $m {
            $($n => $f::<$n> $args,)*
            other => unreachable!("tile of {other} pixels"),
        }
    };
}

/// All tiles of one pixel block for a panel with at most 8 valid channels and one K-chunk.
///
/// # Safety
/// As [`panels_avx2`]; `offsets` holds `len` pixels and `scratch` `len * 16` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn narrow_block_avx2<const N: usize>(
    p: &ConvParams,
    act: Act,
    runs: &[(usize, usize)],
    t: &Tile,
    offsets: &BlockOffsets<N>,
    len: usize,
    scratch: *mut f32,
) {
    let mut i = 0;
    while i < len {
        let m = (len - i).min(MR_NARROW);
        let offs = offsets.at(i);
        // SAFETY: pixel `i` of the block has 16 scratch floats from `i * 16` on.
        let partial = unsafe { scratch.add(i * NR) };
        // SAFETY: pixels `i..i+m` are valid block pixels; forwarded caller contract.
        unsafe {
            dispatch_m!(
                m,
                narrow_tile_avx2,
                [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
                (p, act, runs, t, offs, partial)
            )
        }
        i += m;
    }
}

/// Like [`tile_avx2`] for a panel with at most 8 valid channels: `M` (up to 12) pixels × one
/// vector, reading only the first half of each packed 16-wide weight row.
///
/// # Safety
/// As [`tile_avx2`], and `t.n <= 8`.
// Indexed loops on purpose, as in `tile_avx2`.
#[allow(clippy::needless_range_loop)]
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn narrow_tile_avx2<const M: usize>(
    p: &ConvParams,
    act: Act,
    runs: &[(usize, usize)],
    t: &Tile,
    offs: &[[usize; 3]],
    partial: *mut f32,
) {
    let mut inp = [std::ptr::null::<f32>(); M];
    for i in 0..M {
        // SAFETY: the pixel's receptive field (its group's channels) is inside the input.
        inp[i] = unsafe { p.input.add(offs[i][0] + t.in_channel) };
    }
    let mut acc = [_mm256_setzero_ps(); M];
    if t.resume {
        for i in 0..M {
            // SAFETY: `partial` holds 16 floats per pixel saved by the previous chunk.
            acc[i] = unsafe { _mm256_loadu_ps(partial.add(i * NR)) };
        }
    }
    let mut w = t.weights;
    for &(off, len) in runs {
        let mut q = [std::ptr::null::<f32>(); M];
        for i in 0..M {
            // SAFETY: `off` is a tap offset inside the receptive field.
            q[i] = unsafe { inp[i].add(off) };
        }
        for c in 0..len {
            // SAFETY: `w` walks the chunk's 16-wide weight rows in order; `q[i] + c` is inside
            // the receptive field of pixel i.
            unsafe {
                let w0 = _mm256_loadu_ps(w);
                for i in 0..M {
                    let a = _mm256_broadcast_ss(&*q[i].add(c));
                    acc[i] = _mm256_fmadd_ps(a, w0, acc[i]);
                }
                w = w.add(NR);
            }
        }
    }
    if !t.finish {
        for i in 0..M {
            // SAFETY: `partial` has room for 16 floats per pixel.
            unsafe { _mm256_storeu_ps(partial.add(i * NR), acc[i]) };
        }
        return;
    }
    // SAFETY: bias holds 16 floats per panel.
    let b0 = unsafe { _mm256_loadu_ps(t.bias) };
    for i in 0..M {
        // SAFETY: output/residual accesses are masked to the `n <= 8` valid channels of pixel i.
        unsafe {
            store_row_avx2(
                p,
                act,
                _mm256_add_ps(acc[i], b0),
                _mm256_setzero_ps(),
                offs[i][1] + t.out_channel,
                offs[i][2] + t.out_channel,
                t.n,
            )
        }
    }
}

/// Panels computed together for a single output pixel.
const GEMV_PANELS: usize = 4;

/// One output pixel × panels `first..first + 4` of group `g` over the whole reduction.
///
/// # Safety
/// As [`panels_avx2`]; the four panels exist and `offs` are the pixel's offsets.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gemv_tile_avx2(
    p: &ConvParams,
    act: Act,
    runs: &[(usize, usize)],
    g: usize,
    first: usize,
    offs: [usize; 3],
) {
    let (icg, ocg) = (p.in_channels_per_group, p.out_channels_per_group);
    let panels = ocg.div_ceil(NR);
    let k_len = p.kernel_h * p.kernel_w * icg;
    let [io, oo, ro] = offs;
    // SAFETY: the pixel's receptive field is inside the input; the four panels are inside the
    // packed weights.
    let (inp, w) = unsafe {
        (
            p.input.add(io + g * icg),
            p.weights.add((g * panels + first) * k_len * NR),
        )
    };
    let stride = k_len * NR;
    let mut acc = [[_mm256_setzero_ps(); 2]; GEMV_PANELS];
    let mut k = 0;
    for &(off, len) in runs {
        for c in 0..len {
            // SAFETY: `inp + off + c` is in the receptive field; `w + j * stride + k * 16` is
            // element k of panel `first + j`.
            unsafe {
                let a = _mm256_broadcast_ss(&*inp.add(off + c));
                for (j, acc_j) in acc.iter_mut().enumerate() {
                    let wj = w.add(j * stride + k * NR);
                    acc_j[0] = _mm256_fmadd_ps(a, _mm256_loadu_ps(wj), acc_j[0]);
                    acc_j[1] = _mm256_fmadd_ps(a, _mm256_loadu_ps(wj.add(8)), acc_j[1]);
                }
            }
            k += 1;
        }
    }
    for (j, acc_j) in acc.into_iter().enumerate() {
        let b = first + j;
        let panel = g * panels + b;
        let oc = g * ocg + b * NR;
        // SAFETY: bias holds 16 floats per panel; output/residual accesses are masked to the
        // valid channels of this pixel.
        unsafe {
            let bias = p.bias.add(panel * NR);
            store_row_avx2(
                p,
                act,
                _mm256_add_ps(acc_j[0], _mm256_loadu_ps(bias)),
                _mm256_add_ps(acc_j[1], _mm256_loadu_ps(bias.add(8))),
                oo + oc,
                ro + oc,
                NR.min(ocg - b * NR),
            )
        }
    }
}

/// Reduction values per K-chunk: 256 × 16 floats = 16 KiB of a panel, which stays in L1 while
/// all the tiles of a pixel block pass over it. Shorter reductions are not split.
const KC: usize = 256;

/// A slice of the reduction: its tap runs and where it starts in packed `k` order.
struct KChunk {
    k_start: usize,
    runs: Vec<(usize, usize)>,
}

/// Split the tap runs into chunks of about `kc` values (a run split in two stays contiguous);
/// reductions up to `2 * kc` stay whole.
fn k_chunks(runs: &[(usize, usize)], k_len: usize, kc: usize) -> Vec<KChunk> {
    if k_len <= 2 * kc {
        return vec![KChunk {
            k_start: 0,
            runs: runs.to_vec(),
        }];
    }
    let mut chunks = vec![KChunk {
        k_start: 0,
        runs: Vec::new(),
    }];
    let mut filled = 0;
    let mut k = 0;
    for &(mut off, mut len) in runs {
        while len > 0 {
            if filled == kc {
                chunks.push(KChunk {
                    k_start: k,
                    runs: Vec::new(),
                });
                filled = 0;
            }
            let take = len.min(kc - filled);
            chunks.last_mut().expect("non-empty").runs.push((off, take));
            (off, len, filled, k) = (off + take, len - take, filled + take, k + take);
        }
    }
    chunks
}

/// Input, output and residual offsets of each pixel of a block of up to `N` pixels, computed
/// once per block (no per-tile divisions) and shared by every panel and K-chunk.
struct BlockOffsets<const N: usize> {
    offs: [[usize; 3]; N],
}

impl<const N: usize> BlockOffsets<N> {
    fn new(p: &ConvParams, block: usize, block_end: usize) -> Self {
        let mut offs = [[0; 3]; N];
        let (oy, mut ox) = (block / p.out_w, block % p.out_w);
        // Steps along a row and from one row start to the next, in locals so that the loop
        // adds registers instead of multiplying fields of `p` per pixel.
        let step = [
            p.stride_w * p.in_pixel_stride,
            p.out_pixel_stride,
            p.res_pixel_stride,
        ];
        let down = [
            p.stride_h * p.in_row_stride,
            p.out_row_stride,
            p.res_row_stride,
        ];
        let mut row = [oy * down[0], oy * down[1], oy * down[2]];
        let mut at = [
            row[0] + ox * step[0],
            row[1] + ox * step[1],
            row[2] + ox * step[2],
        ];
        let out_w = p.out_w;
        for o in offs.iter_mut().take(block_end - block) {
            *o = at;
            ox += 1;
            if ox == out_w {
                ox = 0;
                row = [row[0] + down[0], row[1] + down[1], row[2] + down[2]];
                at = row;
            } else {
                at = [at[0] + step[0], at[1] + step[1], at[2] + step[2]];
            }
        }
        BlockOffsets { offs }
    }

    /// Offsets from pixel `i` of the block on.
    fn at(&self, i: usize) -> &[[usize; 3]] {
        &self.offs[i..]
    }
}

/// One panel's worth of a tile: where its weights and channels are.
struct Tile {
    weights: *const f32,
    bias: *const f32,
    in_channel: usize,
    out_channel: usize,
    /// Valid output channels in this panel (1..=16).
    n: usize,
    /// Start from the partial sums saved by the previous K-chunk instead of zero.
    resume: bool,
    /// Last K-chunk: run the epilogue (otherwise save partial sums).
    finish: bool,
}

/// `M` consecutive flattened output pixels × one 16-channel panel, accumulated in `2 * M` ymm
/// registers over the whole reduction, then bias, residual and activation, then stored.
///
/// # Safety
/// As [`panels_avx2`]; pixels `px..px + M` are valid output pixels.
// Indexed loops on purpose: iterators over `acc` take its address and LLVM then keeps the
// accumulators in memory instead of registers.
#[allow(clippy::needless_range_loop)]
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile_avx2<const M: usize>(
    p: &ConvParams,
    act: Act,
    runs: &[(usize, usize)],
    t: &Tile,
    offs: &[[usize; 3]],
    partial: *mut f32,
) {
    let mut inp = [std::ptr::null::<f32>(); M];
    let mut out = [0usize; M];
    let mut res = [0usize; M];
    for i in 0..M {
        let [io, oo, ro] = offs[i];
        // SAFETY: the pixel's receptive field (channel offset of its group included) is inside the input.
        inp[i] = unsafe { p.input.add(io + t.in_channel) };
        out[i] = oo + t.out_channel;
        res[i] = ro + t.out_channel;
    }
    let mut acc = [[_mm256_setzero_ps(); 2]; M];
    if t.resume {
        for i in 0..M {
            // SAFETY: `partial` holds `M * 16` floats saved by the previous chunk.
            unsafe {
                acc[i][0] = _mm256_loadu_ps(partial.add(i * NR));
                acc[i][1] = _mm256_loadu_ps(partial.add(i * NR + 8));
            }
        }
    }
    let mut w = t.weights;
    for &(off, len) in runs {
        let mut q = [std::ptr::null::<f32>(); M];
        for i in 0..M {
            // SAFETY: `off` is a tap offset inside the receptive field.
            q[i] = unsafe { inp[i].add(off) };
        }
        for c in 0..len {
            // SAFETY: `w` walks the panel's `k_len * 16` floats in order; `q[i] + c` is inside the
            // receptive field of pixel i (run `len` never exceeds the tap's contiguous channels).
            unsafe {
                let w0 = _mm256_loadu_ps(w);
                let w1 = _mm256_loadu_ps(w.add(8));
                for i in 0..M {
                    let a = _mm256_broadcast_ss(&*q[i].add(c));
                    acc[i][0] = _mm256_fmadd_ps(a, w0, acc[i][0]);
                    acc[i][1] = _mm256_fmadd_ps(a, w1, acc[i][1]);
                }
                w = w.add(NR);
            }
        }
    }
    if !t.finish {
        for i in 0..M {
            // SAFETY: `partial` has room for `M * 16` floats.
            unsafe {
                _mm256_storeu_ps(partial.add(i * NR), acc[i][0]);
                _mm256_storeu_ps(partial.add(i * NR + 8), acc[i][1]);
            }
        }
        return;
    }
    // SAFETY: bias holds 16 floats per panel.
    let (b0, b1) = unsafe { (_mm256_loadu_ps(t.bias), _mm256_loadu_ps(t.bias.add(8))) };
    for i in 0..M {
        // SAFETY: output/residual accesses are masked to the `n` valid channels of pixel i.
        unsafe {
            store_row_avx2(
                p,
                act,
                _mm256_add_ps(acc[i][0], b0),
                _mm256_add_ps(acc[i][1], b1),
                out[i],
                res[i],
                t.n,
            )
        }
    }
}

/// Epilogue for one pixel × 16 channels (bias already added): `act(v [+ residual])`, stored with
/// lane masks when fewer than 16 channels are valid. Takes values, not the accumulator array, so
/// the accumulators never have their address taken and stay in registers.
///
/// # Safety
/// `out`/`res` index `n` valid channels of the output/residual.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) unsafe fn store_row_avx2(
    p: &ConvParams,
    act: Act,
    mut v0: __m256,
    mut v1: __m256,
    out: usize,
    res: usize,
    n: usize,
) {
    use crate::epilogue::avx2;
    let full = n == NR;
    let m0 = avx2::first_lanes(n as isize);
    let m1 = avx2::first_lanes(n as isize - 8);
    if !p.residual.is_null() {
        // SAFETY: masked loads touch only the `n` valid channels.
        unsafe {
            let r = p.residual.add(res);
            if full {
                v0 = _mm256_add_ps(v0, _mm256_loadu_ps(r));
                v1 = _mm256_add_ps(v1, _mm256_loadu_ps(r.add(8)));
            } else {
                v0 = _mm256_add_ps(v0, _mm256_maskload_ps(r, m0));
                if n > 8 {
                    v1 = _mm256_add_ps(v1, _mm256_maskload_ps(r.add(8), m1));
                }
            }
        }
    }
    v0 = avx2::apply(act, v0);
    if n > 8 {
        v1 = avx2::apply(act, v1);
    }
    // SAFETY: masked stores touch only the `n` valid channels.
    unsafe {
        let o = p.output.add(out);
        if full {
            _mm256_storeu_ps(o, v0);
            _mm256_storeu_ps(o.add(8), v1);
        } else {
            _mm256_maskstore_ps(o, m0, v0);
            if n > 8 {
                _mm256_maskstore_ps(o.add(8), m1, v1);
            }
        }
    }
}
