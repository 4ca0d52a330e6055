//! Winograd convolution for 3×3, stride-1, dilation-1, single-group layers: F(4×4, 3×3)
//! (36 transform positions) and F(2×2, 3×3) (16 positions).
//!
//! Output tiles of `F×F` pixels are numbered row-major over a `ceil(out_h/F) × ceil(out_w/F)`
//! grid; a call computes a range of work units (tiles, or tiles × output-channel halves for
//! layers with few tiles, see [`winograd_units`]), so threads split a layer by unit ranges.
//! Tiles are processed in blocks: the input transform of a block, `V = Bᵀ d B` for every tile
//! and 8-channel group, read straight from the NHWC zero-halo input, lands in a per-thread
//! scratch laid out `[pos][tile][channel]`; then one GEMM per transform position `pos`
//! multiplies `V[pos]` (tiles × Cin) with the pre-transformed weights `U[pos]` (Cin × Cout,
//! `U = G g Gᵀ` packed at compile time in 16-channel panels) using the same register tile as
//! the direct convolution (6 × 16 on AVX2, 12 × 32 on AVX-512, see `winograd/avx512.rs`),
//! into `M[pos][tile][channel]`; last the output transform
//! `Aᵀ M A` of each tile is fused with the usual epilogue (bias, residual, activation, masked
//! stores) and written into the output. Edge tiles read only the receptive field
//! (`(out_h + 2) × (out_w + 2)`, the same extent as the direct kernel) and treat the rest as
//! zero; outputs past `out_h × out_w` are computed but not stored.

use std::cell::RefCell;
use std::ops::Range;

use crate::conv_params::{ConvGeometry, ConvParams};
use crate::epilogue::Act;
use crate::error::KernelError;
use crate::isa::Isa;
use crate::pack::{ConvShape, PackedConv, NR};
use crate::view::{Nhwc, NhwcMut};

/// Panel layout code for [`ConvParams::layout`]: Winograd F(4×4, 3×3) weights.
pub const LAYOUT_WINOGRAD_F4: u32 = 3;
/// Panel layout code for [`ConvParams::layout`]: Winograd F(2×2, 3×3) weights.
pub const LAYOUT_WINOGRAD_F2: u32 = 4;

/// Channels per input-transform vector.
const CB: usize = 8;
/// Tiles per register tile of the batched GEMM (AVX2 and portable).
const MT: usize = 6;
/// Bytes of `V` + `M` scratch a tile block keeps in L2 (about half of a 512 KiB L2).
const BLOCK_BYTES: usize = 256 << 10;
/// Bytes of one position's `V` + `M` rows: the part of a block reused across all panels.
const POS_BYTES: usize = 192 << 10;

/// How a pass is cut into tile blocks.
#[derive(Clone, Copy)]
struct Blocking {
    /// Blocks hold a multiple of this many tiles (once they hold more): whole register tiles.
    round: usize,
    /// Bytes of `V` + `M` scratch a tile block keeps in L2.
    block_bytes: usize,
    /// Bytes of one position's `V` + `M` rows.
    pos_bytes: usize,
}

impl Blocking {
    /// Per tier and tile size `f`. AVX-512 CPUs have 1-2 MiB of L2, so its blocks are twice the
    /// AVX2 ones (measured on Sapphire Rapids); its GEMM splits any row count into equal register
    /// tiles of up to 12, which F4 runs best without rounding the block and F2 with it.
    fn new(isa: Isa, f: usize) -> Blocking {
        match isa {
            Isa::Avx512 => Blocking {
                round: if f == 4 { 1 } else { 12 },
                block_bytes: 512 << 10,
                pos_bytes: 768 << 10,
            },
            _ => Blocking {
                round: MT,
                block_bytes: BLOCK_BYTES,
                pos_bytes: POS_BYTES,
            },
        }
    }
}

/// Output tile size `F` of a Winograd layout (`None` for other layouts).
pub fn winograd_tile(layout: u32) -> Option<usize> {
    match layout {
        LAYOUT_WINOGRAD_F4 => Some(4),
        LAYOUT_WINOGRAD_F2 => Some(2),
        _ => None,
    }
}

/// Number of output tiles of an `out_h × out_w` output.
pub fn winograd_tiles(layout: u32, out_h: usize, out_w: usize) -> usize {
    let f = winograd_tile(layout).unwrap_or(1);
    out_h.div_ceil(f) * out_w.div_ceil(f)
}

/// Layers with fewer tiles than this split their work units by output-channel halves too,
/// so two threads each stream half of the transformed weights instead of all of them. From
/// 7² tiles on, splitting the tiles wins: each half would transform every input tile again,
/// and both threads' weight streams come from the shared L3 (ResNet-18 at two threads on an
/// AVX-512 Xeon: F(4×4) at 28² 0.40 → 0.32 ms, F(2×2) at 14² 0.51 → 0.47 ms per layer).
const SPLIT_BELOW_TILES: usize = 40;

/// Output-channel halves of a layer's work units (1 or 2).
fn channel_splits(tiles: usize, panels: usize) -> usize {
    if tiles < SPLIT_BELOW_TILES && panels >= 2 {
        2
    } else {
        1
    }
}

/// Work units of [`bqml_winograd`]: unit `u` is tile `u % tiles` of output-channel half
/// `u / tiles` (one half, i.e. all channels, unless the layer has few tiles). A call over all
/// units makes one pass; calls over disjoint unit ranges may run concurrently.
pub fn winograd_units(layout: u32, out_h: usize, out_w: usize, out_channels: usize) -> usize {
    let tiles = winograd_tiles(layout, out_h, out_w);
    tiles * channel_splits(tiles, out_channels.div_ceil(NR))
}

/// True when [`pack_winograd`] accepts the shape and geometry: 3×3, one group, stride 1,
/// dilation 1.
pub fn winograd_applies(shape: &ConvShape, geo: &ConvGeometry) -> bool {
    shape.kernel_h == 3
        && shape.kernel_w == 3
        && shape.groups == 1
        && geo.stride_h == 1
        && geo.stride_w == 1
        && geo.dilation_h == 1
        && geo.dilation_w == 1
}

/// Sixteen lanes (the output channels of one panel) of f64.
type Lanes = [f64; NR];

/// `G g` on one kernel column for sixteen output channels at once: F(4×4, 3×3) with
/// interpolation points 0, ±1, ±2, ∞ when `A` is 6, F(2×2, 3×3) with 0, ±1, ∞ when `A` is 4
/// (the last two rows then unused).
#[inline]
fn weight_transform<const A: usize>(g: [&Lanes; 3]) -> [Lanes; 6] {
    let mut out = [[0.0; NR]; 6];
    for j in 0..NR {
        let (g0, g1, g2) = (g[0][j], g[1][j], g[2][j]);
        let s = g0 + g2;
        let col = if A == 6 {
            [
                g0 / 4.0,
                -(s + g1) / 6.0,
                -(s - g1) / 6.0,
                g0 / 24.0 + g1 / 12.0 + g2 / 6.0,
                g0 / 24.0 - g1 / 12.0 + g2 / 6.0,
                g2,
            ]
        } else {
            [g0, (s + g1) / 2.0, (s - g1) / 2.0, g2, 0.0, 0.0]
        };
        for (o, v) in out.iter_mut().zip(col) {
            o[j] = v;
        }
    }
    out
}

/// `U = G g Gᵀ` for one (panel, input channel) into `w`: position `pos`'s 16 channels at
/// `w[pos * pos_stride..][..16]`. `k[tap][j]` is tap `ky * 3 + kx` of output channel `16b + j`.
fn transform_panel<const A: usize>(k: &[Lanes; 9], w: &mut [f32], pos_stride: usize) {
    let cols: [[Lanes; 6]; 3] =
        std::array::from_fn(|x| weight_transform::<A>([&k[x], &k[3 + x], &k[6 + x]]));
    for i in 0..A {
        let u = weight_transform::<A>([&cols[0][i], &cols[1][i], &cols[2][i]]);
        for (jj, uj) in u.iter().enumerate().take(A) {
            let dst = &mut w[(i * A + jj) * pos_stride..][..NR];
            for (d, &v) in dst.iter_mut().zip(uj) {
                *d = v as f32;
            }
        }
    }
}

/// Pack ONNX OIHW 3×3 weights for Winograd `F(f×f, 3×3)` (`f` = 4 or 2): `U = G g Gᵀ` computed
/// in f64, stored `weights[((pos * panels + b) * in_channels + c) * 16 + j]` for output channel
/// `16b + j` (zero past `out_channels`); bias as [`pack_conv`](crate::pack_conv) pads it.
pub fn pack_winograd(
    shape: ConvShape,
    weights_oihw: &[f32],
    bias: Option<&[f32]>,
    f: usize,
) -> Result<PackedConv, KernelError> {
    let layout = match f {
        4 => LAYOUT_WINOGRAD_F4,
        2 => LAYOUT_WINOGRAD_F2,
        _ => return Err(KernelError::new(format!("Winograd tile {f} (2 or 4)"))),
    };
    if shape.kernel_h != 3 || shape.kernel_w != 3 || shape.groups != 1 {
        return Err(KernelError::new(format!(
            "Winograd needs a 3×3 single-group conv, got {shape:?}"
        )));
    }
    let (cin, cout) = (shape.in_channels, shape.out_channels);
    if cin == 0 || cout == 0 || weights_oihw.len() != cout * cin * 9 {
        return Err(KernelError::new(format!(
            "conv weights: {} values for {shape:?}",
            weights_oihw.len()
        )));
    }
    if bias.is_some_and(|b| b.len() != cout) {
        return Err(KernelError::new("conv bias length"));
    }
    let a = f + 2;
    let panels = cout.div_ceil(NR);
    let mut w = vec![0.0f32; a * a * panels * cin * NR];
    // One (panel, input channel) at a time, its 16 output channels as vector lanes: every
    // position's 16 values are one contiguous run (a cache line).
    let pos_stride = panels * cin * NR;
    for b in 0..panels {
        let valid = NR.min(cout - b * NR);
        // Channels past `cout` stay zero.
        let mut k = [[0.0f64; NR]; 9];
        for c in 0..cin {
            for j in 0..valid {
                let src = &weights_oihw[((b * NR + j) * cin + c) * 9..][..9];
                for (t, &v) in src.iter().enumerate() {
                    k[t][j] = v as f64;
                }
            }
            let dst = &mut w[(b * cin + c) * NR..];
            if f == 4 {
                transform_panel::<6>(&k, dst, pos_stride);
            } else {
                transform_panel::<4>(&k, dst, pos_stride);
            }
        }
    }
    let mut bv = vec![0.0f32; panels * NR];
    if let Some(bias) = bias {
        bv[..cout].copy_from_slice(bias);
    }
    Ok(PackedConv {
        shape,
        layout,
        weights: w,
        bias: bv,
    })
}

/// Winograd convolution entry point for generated code: computes work units
/// `[unit_start, unit_end)` (see [`winograd_units`]).
///
/// # Safety
/// As [`crate::bqml_conv2d`], with `layout` a Winograd layout from [`pack_winograd`] and a unit
/// range inside `0..winograd_units(..)`. Concurrent calls may share `p` if their unit ranges
/// are disjoint.
#[no_mangle]
pub unsafe extern "C" fn bqml_winograd(p: *const ConvParams, unit_start: usize, unit_end: usize) {
    // SAFETY: the caller guarantees `p` points to a valid ConvParams.
    let p = unsafe { &*p };
    let act = p.activation.decode_or_abort();
    if winograd_tile(p.layout).is_none() {
        eprintln!(
            "bqml kernels: bqml_winograd called with layout {}",
            p.layout
        );
        std::process::abort()
    }
    let isa = Isa::resolve_or_abort(p.isa);
    // SAFETY: forwarded caller contract; `resolve_or_abort` only returns a runnable tier.
    unsafe { winograd_raw(isa, p, act, unit_start, unit_end) }
}

/// Safe wrapper: Winograd convolution of work units `units` (see [`winograd_units`]) with `isa` (portable when AVX2 is
/// unavailable). Buffers as for [`crate::conv2d`]; `packed` from [`pack_winograd`].
#[allow(clippy::too_many_arguments)]
pub fn winograd_conv2d(
    isa: Isa,
    packed: &PackedConv,
    geo: &ConvGeometry,
    act: Act,
    input: Nhwc<'_>,
    mut output: NhwcMut<'_>,
    residual: Option<Nhwc<'_>>,
    units: Range<usize>,
) -> Result<(), KernelError> {
    let s = packed.shape;
    if winograd_tile(packed.layout).is_none() || !winograd_applies(&s, geo) {
        return Err(KernelError::new(format!(
            "not a Winograd layer: layout {} {s:?} {geo:?}",
            packed.layout
        )));
    }
    if geo.out_h == 0 || geo.out_w == 0 {
        return Err(KernelError::new("empty output"));
    }
    let n = winograd_units(packed.layout, geo.out_h, geo.out_w, s.out_channels);
    if units.start > units.end || units.end > n {
        return Err(KernelError::new(format!(
            "unit range {units:?} outside 0..{n}"
        )));
    }
    let p = ConvParams::from_views(packed, geo, act, &input, &mut output, residual.as_ref())?;
    // SAFETY: `from_views` bounds-checked every buffer for the full output and receptive field;
    // the kernel reads no input outside that extent; `or_portable` never picks an ISA this CPU
    // lacks.
    unsafe { winograd_raw(isa.or_portable(), &p, act, units.start, units.end) };
    Ok(())
}

thread_local! {
    /// Per-thread `V` + `M` scratch, grown on first use and then reused by every call.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Block geometry shared by both ISAs.
#[derive(Clone)]
struct Dims {
    /// Output tile size F and transform size A = F + 2.
    f: usize,
    a: usize,
    /// Tiles per grid row.
    tiles_w: usize,
    cin: usize,
    /// `cin` rounded up to 8: the `V` row length.
    kpad: usize,
    /// Output channels rounded up to 16: the `M` row length.
    cpad: usize,
    panels: usize,
    /// Panels this pass computes.
    pass: Range<usize>,
    /// Tiles per block.
    tb: usize,
}

impl Dims {
    /// Geometry for a call over `tiles` tiles. The block size trades re-reading the
    /// transformed weights `U` once per block against spilling `V`/`M` out of L2: narrow
    /// layers (small `U`) use L2-sized blocks, wide ones one block for the whole call.
    fn new(p: &ConvParams, f: usize, tiles: usize, pass: Range<usize>, bl: Blocking) -> Dims {
        let Blocking {
            round: mt,
            block_bytes,
            pos_bytes,
        } = bl;
        let a = f + 2;
        let cin = p.in_channels_per_group;
        let kpad = cin.next_multiple_of(CB);
        let panels = p.out_channels_per_group.div_ceil(NR);
        let cpad = panels * NR;
        let per_tile = a * a * (kpad + cpad) * 4;
        let u_bytes = a * a * cin * pass.len() * NR * 4;
        let small = (block_bytes / per_tile).max(1);
        let big = (pos_bytes / ((kpad + cpad) * 4)).max(small);
        let traffic = |tb: usize| {
            let spill = if tb * per_tile > block_bytes {
                2 * tiles * per_tile
            } else {
                0
            };
            tiles.div_ceil(tb) * u_bytes + spill
        };
        let tb = if traffic(big) < traffic(small) {
            big
        } else {
            small
        };
        // Whole register tiles, and even blocks: as many blocks, none nearly empty.
        let tb = if tb >= mt { tb / mt * mt } else { tb };
        let even = tiles.div_ceil(tiles.div_ceil(tb));
        let tb = if tb >= mt {
            even.next_multiple_of(mt).min(tb)
        } else {
            even
        };
        Dims {
            f,
            a,
            tiles_w: p.out_w.div_ceil(f),
            cin,
            kpad,
            cpad,
            panels,
            pass,
            tb,
        }
    }

    /// `V` floats, then `M` floats.
    fn scratch(&self) -> (usize, usize) {
        let p = self.a * self.a * self.tb;
        (p * self.kpad, p * self.cpad)
    }
}

/// Where one tile sits: input origin (receptive-field frame), valid input rows/cols of the
/// `A × A` patch, and valid output rows/cols of the `F × F` tile.
#[derive(Clone, Copy)]
struct TilePos {
    y0: usize,
    x0: usize,
    in_rows: usize,
    in_cols: usize,
    out_rows: usize,
    out_cols: usize,
}

impl TilePos {
    fn new(p: &ConvParams, d: &Dims, tile: usize) -> TilePos {
        let (ty, tx) = (tile / d.tiles_w, tile % d.tiles_w);
        let (y0, x0) = (ty * d.f, tx * d.f);
        TilePos {
            y0,
            x0,
            in_rows: (p.out_h + 2 - y0).min(d.a),
            in_cols: (p.out_w + 2 - x0).min(d.a),
            out_rows: (p.out_h - y0).min(d.f),
            out_cols: (p.out_w - x0).min(d.f),
        }
    }
}

/// # Safety
/// As [`bqml_winograd`], and `isa` is runnable on this CPU.
pub(crate) unsafe fn winograd_raw(isa: Isa, p: &ConvParams, act: Act, start: usize, end: usize) {
    let Some(f) = winograd_tile(p.layout) else {
        return;
    };
    let tiles = winograd_tiles(p.layout, p.out_h, p.out_w);
    let panels = p.out_channels_per_group.div_ceil(NR);
    let splits = channel_splits(tiles, panels);
    let end = end.min(tiles * splits);
    // (tile range, panel range) of each channel half the units touch; the same tiles of both
    // halves make one pass over all panels (the input transform is done once).
    let per = panels.div_ceil(splits);
    let mut passes = [(0..0, 0..0), (0..0, 0..0)];
    for (g, pass) in passes.iter_mut().enumerate().take(splits) {
        let (lo, hi) = (start.max(g * tiles), end.min((g + 1) * tiles));
        if lo < hi {
            *pass = (
                lo - g * tiles..hi - g * tiles,
                g * per..((g + 1) * per).min(panels),
            );
        }
    }
    if splits == 2 && passes[0].0 == passes[1].0 {
        passes = [(passes[0].0.clone(), 0..panels), (0..0, 0..0)];
    }
    for (tr, pr) in passes {
        if tr.is_empty() {
            continue;
        }
        let d = Dims::new(p, f, tr.len(), pr, Blocking::new(isa, f));
        // SAFETY: forwarded caller contract.
        unsafe { run_pass(isa, p, act, &d, tr) };
    }
}

/// All blocks of one pass, in this thread's scratch.
///
/// # Safety
/// As [`bqml_winograd`]; `isa` is runnable on this CPU.
unsafe fn run_pass(isa: Isa, p: &ConvParams, act: Act, d: &Dims, tiles: Range<usize>) {
    let (nv, nm) = d.scratch();
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < nv + nm {
            s.resize(nv + nm, 0.0);
        }
        let (v, m) = s.split_at_mut(nv);
        let mut block = tiles.start;
        while block < tiles.end {
            let n = (tiles.end - block).min(d.tb);
            // SAFETY: forwarded caller contract; `v`/`m` hold a whole block.
            unsafe {
                match (isa, d.f) {
                    #[cfg(target_arch = "x86_64")]
                    (Isa::Avx512, 4) => {
                        avx512::block::<6>(p, act, d, block, n, v.as_mut_ptr(), m.as_mut_ptr())
                    }
                    #[cfg(target_arch = "x86_64")]
                    (Isa::Avx512, _) => {
                        avx512::block::<4>(p, act, d, block, n, v.as_mut_ptr(), m.as_mut_ptr())
                    }
                    #[cfg(target_arch = "x86_64")]
                    (Isa::Avx2Fma, 4) => {
                        avx2::block::<6>(p, act, d, block, n, v.as_mut_ptr(), m.as_mut_ptr())
                    }
                    #[cfg(target_arch = "x86_64")]
                    (Isa::Avx2Fma, _) => {
                        avx2::block::<4>(p, act, d, block, n, v.as_mut_ptr(), m.as_mut_ptr())
                    }
                    (_, 4) => portable::block::<6>(p, act, d, block, n, v, m),
                    _ => portable::block::<4>(p, act, d, block, n, v, m),
                }
            }
            block += n;
        }
    });
}

/// Scalar 1-D transforms, the definitions the AVX2 code mirrors.
mod transforms {
    /// `Bᵀ d` for F(4, 3) (A = 6).
    #[inline]
    pub(super) fn bt6(d: [f32; 6]) -> [f32; 6] {
        let a = d[4] - 4.0 * d[2];
        let b = d[3] - 4.0 * d[1];
        let c = d[4] - d[2];
        let e = 2.0 * (d[3] - d[1]);
        [
            4.0 * d[0] - 5.0 * d[2] + d[4],
            a + b,
            a - b,
            c + e,
            c - e,
            4.0 * d[1] - 5.0 * d[3] + d[5],
        ]
    }

    /// `Aᵀ m` for F(4, 3).
    #[inline]
    pub(super) fn at6(m: [f32; 6]) -> [f32; 4] {
        let (a, b) = (m[1] + m[2], m[1] - m[2]);
        let (c, d) = (m[3] + m[4], m[3] - m[4]);
        [m[0] + a + c, b + 2.0 * d, a + 4.0 * c, b + 8.0 * d + m[5]]
    }

    /// `Bᵀ d` for F(2, 3) (A = 4).
    #[inline]
    pub(super) fn bt4(d: [f32; 4]) -> [f32; 4] {
        [d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3]]
    }

    /// `Aᵀ m` for F(2, 3).
    #[inline]
    pub(super) fn at4(m: [f32; 4]) -> [f32; 2] {
        [m[0] + m[1] + m[2], m[1] - m[2] - m[3]]
    }
}

mod portable {
    use super::transforms::*;
    use super::{Dims, TilePos};
    use crate::conv_params::ConvParams;
    use crate::epilogue::Act;
    use crate::pack::NR;

    /// 1-D input transform of `A` values (A = 6 or 4).
    fn bt<const A: usize>(d: [f32; 6]) -> [f32; 6] {
        if A == 6 {
            bt6(d)
        } else {
            let t = bt4([d[0], d[1], d[2], d[3]]);
            [t[0], t[1], t[2], t[3], 0.0, 0.0]
        }
    }

    /// 1-D output transform of `A` values into `F = A - 2`.
    fn at<const A: usize>(m: [f32; 6]) -> [f32; 4] {
        if A == 6 {
            at6(m)
        } else {
            let t = at4([m[0], m[1], m[2], m[3]]);
            [t[0], t[1], 0.0, 0.0]
        }
    }

    /// One block of `n` tiles from `first`, scalar.
    ///
    /// # Safety
    /// As [`super::bqml_winograd`]; `v`/`m` hold a block.
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn block<const A: usize>(
        p: &ConvParams,
        act: Act,
        d: &Dims,
        first: usize,
        n: usize,
        v: &mut [f32],
        m: &mut [f32],
    ) {
        let (vs, ms) = (d.tb * d.kpad, d.tb * d.cpad);
        for t in 0..n {
            let tp = TilePos::new(p, d, first + t);
            for c in 0..d.cin {
                let mut x = [[0.0f32; 6]; 6];
                for (r, row) in x.iter_mut().enumerate().take(tp.in_rows) {
                    for (col, xv) in row.iter_mut().enumerate().take(tp.in_cols) {
                        // SAFETY: (y0 + r, x0 + col) is inside the receptive field.
                        *xv = unsafe {
                            *p.input.add(
                                (tp.y0 + r) * p.in_row_stride
                                    + (tp.x0 + col) * p.in_pixel_stride
                                    + c,
                            )
                        };
                    }
                }
                let mut cols = [[0.0f32; 6]; 6];
                for col in 0..A {
                    let tcol = bt::<A>(std::array::from_fn(|r| x[r][col]));
                    for r in 0..A {
                        cols[r][col] = tcol[r];
                    }
                }
                for (i, row) in cols.iter().enumerate().take(A) {
                    let u = bt::<A>(*row);
                    for (j, &uv) in u.iter().enumerate().take(A) {
                        v[(i * A + j) * vs + t * d.kpad + c] = uv;
                    }
                }
            }
        }
        for pos in 0..A * A {
            // SAFETY: position `pos` of the packed weights holds `panels * cin * 16` floats.
            let u = unsafe {
                std::slice::from_raw_parts(
                    p.weights.add(pos * d.panels * d.cin * NR),
                    d.panels * d.cin * NR,
                )
            };
            for t in 0..n {
                let vr = &v[pos * vs + t * d.kpad..][..d.cin];
                let mr = &mut m[pos * ms + t * d.cpad..][..d.cpad];
                mr.fill(0.0);
                for b in d.pass.clone() {
                    let ub = &u[b * d.cin * NR..][..d.cin * NR];
                    for (c, &x) in vr.iter().enumerate() {
                        for j in 0..NR {
                            mr[b * NR + j] += x * ub[c * NR + j];
                        }
                    }
                }
            }
        }
        let f = A - 2;
        let channels = d.pass.start * NR..(d.pass.end * NR).min(p.out_channels_per_group);
        for t in 0..n {
            let tp = TilePos::new(p, d, first + t);
            for o in channels.clone() {
                let mut cols = [[0.0f32; 6]; 4];
                for col in 0..A {
                    let tcol = at::<A>(std::array::from_fn(|r| {
                        if r < A {
                            m[(r * A + col) * ms + t * d.cpad + o]
                        } else {
                            0.0
                        }
                    }));
                    for r in 0..f {
                        cols[r][col] = tcol[r];
                    }
                }
                // SAFETY: bias is padded to whole panels.
                let bias = unsafe { *p.bias.add(o) };
                for (r, row) in cols.iter().enumerate().take(tp.out_rows) {
                    let y = at::<A>(*row);
                    for (col, &yv) in y.iter().enumerate().take(tp.out_cols) {
                        let (oy, ox) = (tp.y0 + r, tp.x0 + col);
                        let mut val = yv + bias;
                        // SAFETY: (oy, ox, o) is inside the output (and residual) box.
                        unsafe {
                            if !p.residual.is_null() {
                                val += *p
                                    .residual
                                    .add(oy * p.res_row_stride + ox * p.res_pixel_stride + o);
                            }
                            *p.output
                                .add(oy * p.out_row_stride + ox * p.out_pixel_stride + o) =
                                act.apply(val);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512;

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Dims, TilePos, CB, MT};
    use crate::conv::store_row_avx2;
    use crate::conv_params::ConvParams;
    use crate::epilogue::{avx2::first_lanes, Act};
    use crate::pack::NR;

    /// `Bᵀ d` over 8 lanes; A = 6 (F4) or 4 (F2, first four used).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn bt<const A: usize>(d: [__m256; 6]) -> [__m256; 6] {
        if A == 6 {
            let four = _mm256_set1_ps(4.0);
            let five = _mm256_set1_ps(5.0);
            let a = _mm256_fnmadd_ps(four, d[2], d[4]);
            let b = _mm256_fnmadd_ps(four, d[1], d[3]);
            let c = _mm256_sub_ps(d[4], d[2]);
            let e = _mm256_sub_ps(d[3], d[1]);
            let e = _mm256_add_ps(e, e);
            [
                _mm256_fmadd_ps(four, d[0], _mm256_fnmadd_ps(five, d[2], d[4])),
                _mm256_add_ps(a, b),
                _mm256_sub_ps(a, b),
                _mm256_add_ps(c, e),
                _mm256_sub_ps(c, e),
                _mm256_fmadd_ps(four, d[1], _mm256_fnmadd_ps(five, d[3], d[5])),
            ]
        } else {
            let z = _mm256_setzero_ps();
            [
                _mm256_sub_ps(d[0], d[2]),
                _mm256_add_ps(d[1], d[2]),
                _mm256_sub_ps(d[2], d[1]),
                _mm256_sub_ps(d[1], d[3]),
                z,
                z,
            ]
        }
    }

    /// `Aᵀ m` over 8 lanes into F = A - 2 values.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn at<const A: usize>(m: [__m256; 6]) -> [__m256; 4] {
        if A == 6 {
            let a = _mm256_add_ps(m[1], m[2]);
            let b = _mm256_sub_ps(m[1], m[2]);
            let c = _mm256_add_ps(m[3], m[4]);
            let d = _mm256_sub_ps(m[3], m[4]);
            [
                _mm256_add_ps(_mm256_add_ps(m[0], a), c),
                _mm256_fmadd_ps(_mm256_set1_ps(2.0), d, b),
                _mm256_fmadd_ps(_mm256_set1_ps(4.0), c, a),
                _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(8.0), d, b), m[5]),
            ]
        } else {
            let z = _mm256_setzero_ps();
            [
                _mm256_add_ps(_mm256_add_ps(m[0], m[1]), m[2]),
                _mm256_sub_ps(_mm256_sub_ps(m[1], m[2]), m[3]),
                z,
                z,
            ]
        }
    }

    /// One block of `n` tiles from `first`: input transforms, one GEMM per position, output
    /// transforms with the epilogue.
    ///
    /// # Safety
    /// As [`super::bqml_winograd`] on an AVX2+FMA CPU; `v`/`m` hold a block.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn block<const A: usize>(
        p: &ConvParams,
        act: Act,
        d: &Dims,
        first: usize,
        n: usize,
        v: *mut f32,
        m: *mut f32,
    ) {
        let (vs, ms) = (d.tb * d.kpad, d.tb * d.cpad);
        for t in 0..n {
            let tp = TilePos::new(p, d, first + t);
            // SAFETY: tile `t` of the block has room in `v`; reads stay in the receptive field.
            unsafe { input_tile::<A>(p, d, &tp, v.add(t * d.kpad), vs) };
        }
        for pos in 0..A * A {
            // SAFETY: position `pos` of the packed weights; `v`/`m` rows of the block.
            unsafe {
                let u = p.weights.add(pos * d.panels * d.cin * NR);
                let vp = v.add(pos * vs);
                let mp = m.add(pos * ms);
                for b in d.pass.clone() {
                    gemm_panel(
                        vp,
                        d.kpad,
                        d.cin,
                        n,
                        u.add(b * d.cin * NR),
                        mp.add(b * NR),
                        d.cpad,
                    );
                }
            }
        }
        for t in 0..n {
            let tp = TilePos::new(p, d, first + t);
            for b in d.pass.clone() {
                // SAFETY: tile `t`, panel `b` of `m`; stores stay inside the output box.
                unsafe { output_tile::<A>(p, act, &tp, m.add(t * d.cpad + b * NR), ms, b) };
            }
        }
    }

    /// Input transform of one tile: `A × A` vectors per 8-channel group, stored at
    /// `v + pos * vs + c`.
    ///
    /// # Safety
    /// The tile's valid patch is inside the input; `v` has `A * A` rows of `kpad` floats `vs`
    /// apart.
    // Indexed loops on purpose: they address several arrays of vectors at once.
    #[allow(clippy::needless_range_loop)]
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn input_tile<const A: usize>(
        p: &ConvParams,
        d: &Dims,
        tp: &TilePos,
        v: *mut f32,
        vs: usize,
    ) {
        let full_patch = tp.in_rows == A && tp.in_cols == A;
        let mut c0 = 0;
        while c0 < d.cin {
            let nc = (d.cin - c0).min(CB);
            let mask = first_lanes(nc as isize);
            let mut x = [[_mm256_setzero_ps(); 6]; 6];
            // SAFETY: (y0 + r, x0 + col) for r < in_rows, col < in_cols is in the receptive
            // field; masked loads touch only the `nc` valid channels.
            unsafe {
                let base = p
                    .input
                    .add(tp.y0 * p.in_row_stride + tp.x0 * p.in_pixel_stride + c0);
                if full_patch && nc == CB {
                    for (r, row) in x.iter_mut().enumerate().take(A) {
                        for (col, xv) in row.iter_mut().enumerate().take(A) {
                            *xv = _mm256_loadu_ps(
                                base.add(r * p.in_row_stride + col * p.in_pixel_stride),
                            );
                        }
                    }
                } else {
                    for (r, row) in x.iter_mut().enumerate().take(tp.in_rows) {
                        for (col, xv) in row.iter_mut().enumerate().take(tp.in_cols) {
                            *xv = _mm256_maskload_ps(
                                base.add(r * p.in_row_stride + col * p.in_pixel_stride),
                                mask,
                            );
                        }
                    }
                }
            }
            // Columns, then rows.
            let mut cols = [[_mm256_setzero_ps(); 6]; 6];
            for col in 0..A {
                let t = bt::<A>([
                    x[0][col], x[1][col], x[2][col], x[3][col], x[4][col], x[5][col],
                ]);
                for r in 0..A {
                    cols[r][col] = t[r];
                }
            }
            for (i, row) in cols.iter().enumerate().take(A) {
                let u = bt::<A>(*row);
                for (j, &uv) in u.iter().enumerate().take(A) {
                    // SAFETY: row `i * A + j` of `v` has `kpad >= c0 + 8` floats.
                    unsafe { _mm256_storeu_ps(v.add((i * A + j) * vs + c0), uv) };
                }
            }
            c0 += CB;
        }
    }

    /// `M[n × 16] = V[n × k] · U[k × 16]` for one position and panel, in 6-row register tiles.
    ///
    /// # Safety
    /// `v` has `n` rows `vs` apart of `k` floats, `u` `k * 16` floats, `m` `n` rows `ms` apart
    /// of 16 floats.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn gemm_panel(
        v: *const f32,
        vs: usize,
        k: usize,
        n: usize,
        u: *const f32,
        m: *mut f32,
        ms: usize,
    ) {
        let mut t = 0;
        while t < n {
            let rows = (n - t).min(MT);
            // SAFETY: rows `t..t + rows` exist; forwarded contract.
            unsafe {
                let (vt, mt) = (v.add(t * vs), m.add(t * ms));
                match rows {
                    6 => gemm_tile::<6>(vt, vs, k, u, mt, ms),
                    5 => gemm_tile::<5>(vt, vs, k, u, mt, ms),
                    4 => gemm_tile::<4>(vt, vs, k, u, mt, ms),
                    3 => gemm_tile::<3>(vt, vs, k, u, mt, ms),
                    2 => gemm_tile::<2>(vt, vs, k, u, mt, ms),
                    _ => gemm_tile::<1>(vt, vs, k, u, mt, ms),
                }
            }
            t += rows;
        }
    }

    /// `R` rows × 16 channels in `2R` accumulators.
    ///
    /// # Safety
    /// As [`gemm_panel`] with `n = R`.
    // Indexed loops on purpose: iterators over `acc` take its address and LLVM then keeps the
    // accumulators in memory instead of registers.
    #[allow(clippy::needless_range_loop)]
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn gemm_tile<const R: usize>(
        v: *const f32,
        vs: usize,
        k: usize,
        u: *const f32,
        m: *mut f32,
        ms: usize,
    ) {
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        let mut q = [v; R];
        for i in 0..R {
            // SAFETY: row i of `v` exists.
            q[i] = unsafe { v.add(i * vs) };
        }
        let mut w = u;
        for c in 0..k {
            // SAFETY: `w` walks the panel's `k * 16` floats; `q[i] + c` is row i's value c.
            // The prefetch address (the next panel's row, one panel ahead) may lie past the
            // weights; prefetches never fault.
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(w.wrapping_add(k * NR) as *const i8);
                let w0 = _mm256_loadu_ps(w);
                let w1 = _mm256_loadu_ps(w.add(8));
                for i in 0..R {
                    let a = _mm256_broadcast_ss(&*q[i].add(c));
                    acc[i][0] = _mm256_fmadd_ps(a, w0, acc[i][0]);
                    acc[i][1] = _mm256_fmadd_ps(a, w1, acc[i][1]);
                }
                w = w.add(NR);
            }
        }
        for i in 0..R {
            // SAFETY: row i of `m` has 16 floats.
            unsafe {
                _mm256_storeu_ps(m.add(i * ms), acc[i][0]);
                _mm256_storeu_ps(m.add(i * ms + 8), acc[i][1]);
            }
        }
    }

    /// Output transform of one tile × one 16-channel panel, fused with the epilogue.
    ///
    /// # Safety
    /// `m` is the tile's panel in position 0, later positions `ms` apart; the tile's valid
    /// pixels are inside the output (and residual) box.
    // Indexed loops on purpose: they address several arrays of vectors at once.
    #[allow(clippy::needless_range_loop)]
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn output_tile<const A: usize>(
        p: &ConvParams,
        act: Act,
        tp: &TilePos,
        m: *const f32,
        ms: usize,
        b: usize,
    ) {
        let n = NR.min(p.out_channels_per_group - b * NR);
        let mut y = [[[_mm256_setzero_ps(); 4]; 4]; 2];
        for (h, yh) in y.iter_mut().enumerate() {
            if h == 1 && n <= 8 {
                break;
            }
            let mut cols = [[_mm256_setzero_ps(); 6]; 4];
            for col in 0..A {
                let mut mv = [_mm256_setzero_ps(); 6];
                for (r, x) in mv.iter_mut().enumerate().take(A) {
                    // SAFETY: position `r * A + col` of the tile's panel.
                    *x = unsafe { _mm256_loadu_ps(m.add((r * A + col) * ms + h * 8)) };
                }
                let t = at::<A>(mv);
                for r in 0..A - 2 {
                    cols[r][col] = t[r];
                }
            }
            for r in 0..A - 2 {
                yh[r] = at::<A>(cols[r]);
            }
        }
        // SAFETY: bias holds 16 floats per panel.
        let (b0, b1) = unsafe {
            (
                _mm256_loadu_ps(p.bias.add(b * NR)),
                _mm256_loadu_ps(p.bias.add(b * NR + 8)),
            )
        };
        for r in 0..tp.out_rows {
            for c in 0..tp.out_cols {
                let (oy, ox) = (tp.y0 + r, tp.x0 + c);
                // SAFETY: pixel (oy, ox) is a valid output; stores are masked to `n` channels.
                unsafe {
                    store_row_avx2(
                        p,
                        act,
                        _mm256_add_ps(y[0][r][c], b0),
                        _mm256_add_ps(y[1][r][c], b1),
                        oy * p.out_row_stride + ox * p.out_pixel_stride + b * NR,
                        oy * p.res_row_stride + ox * p.res_pixel_stride + b * NR,
                        n,
                    )
                }
            }
        }
    }
}
