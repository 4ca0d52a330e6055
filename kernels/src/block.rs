//! Inverted residual blocks (MobileNetV2/V3, EfficientNet, MnasNet) band by band: an
//! optional 1×1 expansion, a depthwise k×k convolution and an optional 1×1 projection run
//! over a few output rows at a time, so the expanded tensor lives in a per-thread scratch
//! that stays in L1/L2 instead of making a round trip through memory.
//!
//! A thread walks its bands top to bottom. The expanded rows a band shares with the one
//! before it (`kernel_h - stride_h` rows for undilated kernels) are moved to the top of the
//! scratch instead of being recomputed, so the expansion computes every row once per thread.

use crate::params::kernel_params;
use std::cell::RefCell;

use crate::conv::conv_units;
use crate::conv_params::ConvParams;
use crate::isa::Isa;

kernel_params! {
/// One block call. Each part is a complete [`ConvParams`] of that layer, with the pointers
/// and strides of the whole layer; the kernel re-points them band by band:
///
/// * `expand` (when `has_expand`): `input` is the block input (a 1×1, stride 1, unpadded
///   convolution); its output goes to the scratch.
/// * `depthwise`: without an expansion, `input` is the block input's receptive-field origin
///   (as for [`crate::bqml_conv2d`]); with one, the scratch replaces it and `pad_top` /
///   `pad_left` say where the expanded map sits in the depthwise input frame. Without a
///   projection, `output` is the block output.
/// * `project` (when `has_project`): input from the scratch; `output` and `residual` are the
///   block's.
#[derive(Clone, Copy, Debug)]
pub struct BlockParams {
    /// The 1×1 expansion.
    pub expand: ConvParams,
    /// The depthwise convolution.
    pub depthwise: ConvParams,
    /// The 1×1 projection.
    pub project: ConvParams,
    /// Non-zero when `expand` is part of the block.
    pub has_expand: u32,
    /// Non-zero when `project` is part of the block.
    pub has_project: u32,
    /// Zero rows above the expanded map in the depthwise input frame.
    pub pad_top: usize,
    /// Zero columns left of the expanded map in the depthwise input frame.
    pub pad_left: usize,
    /// Depthwise output rows per band; a band is the work unit.
    pub band_rows: usize,
}
}

impl BlockParams {
    /// Bands (work units) of the block.
    pub fn bands(&self) -> usize {
        self.depthwise.out_h.div_ceil(self.band_rows.max(1))
    }

    /// Floats of scratch one thread needs: the expanded rows of a band and, from the next
    /// multiple of 16 floats, the depthwise output of a band.
    pub fn scratch_floats(&self) -> usize {
        let (e, _) = self.expanded_frame();
        let d = self.band_rows * self.depthwise.out_w * self.depthwise.groups;
        e.next_multiple_of(16) + d
    }

    /// `(floats, row stride)` of the expanded-rows scratch: the frame rows of one band, each
    /// as wide as the depthwise input frame (halo columns included).
    fn expanded_frame(&self) -> (usize, usize) {
        if self.has_expand == 0 {
            return (0, 0);
        }
        let d = &self.depthwise;
        let rows = (self.band_rows - 1) * d.stride_h + (d.kernel_h - 1) * d.dilation_h + 1;
        let row = self.frame_w() * d.groups;
        (rows * row, row)
    }

    /// Depthwise input frame width: the receptive field, and at least the expanded map.
    fn frame_w(&self) -> usize {
        let d = &self.depthwise;
        let field = (d.out_w - 1) * d.stride_w + (d.kernel_w - 1) * d.dilation_w + 1;
        field.max(self.pad_left + self.expand.out_w)
    }
}

thread_local! {
    /// Per-thread band scratch, grown on first use and reused by every block call.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Block entry point for generated code: computes bands `[start, end)`.
///
/// # Safety
/// `p` must point to a valid [`BlockParams`] whose parts are valid [`ConvParams`] of one
/// block (see the type doc): the expansion's input covers its whole output, the expanded map
/// is `expand.out_h × expand.out_w × depthwise.groups`, and the parts' channel counts chain.
/// Two concurrent calls may share `p` if their band ranges are disjoint.
#[no_mangle]
pub unsafe extern "C" fn bqml_block(p: *const BlockParams, start: usize, end: usize) {
    // SAFETY: the caller guarantees `p` points to a valid BlockParams.
    let p = unsafe { &*p };
    let isa = Isa::resolve_or_abort(p.depthwise.isa);
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        let need = p.scratch_floats();
        // 16 spare floats so the scratch can start on a 64-byte line: a misaligned zmm load
        // spans two lines, and the depthwise part runs 20-30% slower on such loads.
        if s.len() < need + 16 {
            s.resize(need + 16, 0.0);
        }
        let start_at = (16 - (s.as_ptr() as usize % 64) / 4) % 16;
        // SAFETY: forwarded caller contract; the scratch holds `scratch_floats` floats.
        unsafe { block_bands(isa, p, &mut s[start_at..start_at + need], start, end) }
    })
}

/// Bands `[start, end)` of `p` with `scratch` of [`BlockParams::scratch_floats`] floats.
///
/// # Safety
/// As [`bqml_block`], and `isa` runnable on this CPU.
unsafe fn block_bands(isa: Isa, p: &BlockParams, scratch: &mut [f32], start: usize, end: usize) {
    let d = &p.depthwise;
    let c = d.groups;
    let (e_len, e_row) = p.expanded_frame();
    // The depthwise output starts on a 64-byte line, like the scratch.
    let (expanded, dw_out) = scratch.split_at_mut(e_len.next_multiple_of(16));
    let fw = p.frame_w();
    // Frame rows currently held at the top of `expanded`: `[held.0, held.0 + held.1)`.
    let mut held = (0usize, 0usize);
    for band in start..end.min(p.bands()) {
        let r0 = band * p.band_rows;
        let rows = p.band_rows.min(d.out_h - r0);
        let mut dp = *d;
        dp.out_h = rows;
        dp.channel_slices = 1;
        if p.has_expand != 0 {
            let first = r0 * d.stride_h;
            let need = (rows - 1) * d.stride_h + (d.kernel_h - 1) * d.dilation_h + 1;
            let keep = if held.1 > 0 && first >= held.0 && first < held.0 + held.1 {
                held.0 + held.1 - first
            } else {
                0
            };
            if keep > 0 {
                let from = (first - held.0) * e_row;
                expanded.copy_within(from..from + keep * e_row, 0);
            }
            let rows_out = &mut expanded[keep * e_row..need * e_row];
            // SAFETY: forwarded caller contract; `rows_out` holds frame rows `[keep, need)`.
            unsafe { fill_frame_rows(isa, p, first + keep, rows_out, fw, c) };
            held = (first, need);
            dp.input = expanded.as_ptr();
            dp.in_row_stride = e_row;
            dp.in_pixel_stride = c;
        } else {
            // SAFETY: rows below `r0 * stride_h` of the caller's receptive field.
            dp.input = unsafe { d.input.add(r0 * d.stride_h * d.in_row_stride) };
        }
        if p.has_project != 0 {
            dp.output = dw_out.as_mut_ptr();
            dp.out_row_stride = d.out_w * c;
            dp.out_pixel_stride = c;
        } else {
            // SAFETY: output rows `[r0, r0 + rows)` of the block output.
            dp.output = unsafe { d.output.add(r0 * d.out_row_stride) };
        }
        let act = d.activation.decode_or_abort();
        // SAFETY: `dp` covers `rows` output rows whose receptive field is in the scratch (or the
        // caller's input) and whose output is in `dw_out` (or the caller's output).
        unsafe { conv_units(isa, &dp, act, 0, rows) };
        if p.has_project != 0 {
            let mut pp = p.project;
            pp.input = dw_out.as_ptr();
            pp.in_row_stride = d.out_w * c;
            pp.in_pixel_stride = c;
            pp.out_h = rows;
            pp.channel_slices = 1;
            // SAFETY: rows `[r0, r0 + rows)` of the block output and residual.
            unsafe {
                pp.output = pp.output.add(r0 * pp.out_row_stride);
                if !pp.residual.is_null() {
                    pp.residual = pp.residual.add(r0 * pp.res_row_stride);
                }
            }
            let act = pp.activation.decode_or_abort();
            // SAFETY: the projection reads the band's depthwise output from `dw_out`.
            unsafe { conv_units(isa, &pp, act, 0, rows) };
        }
    }
}

/// Frame rows from `first` on of the depthwise input (as many as `out` holds, `fw * c`
/// floats each): zero outside the expanded map, else zero halo columns around the
/// expansion of the matching map rows, computed in one call.
///
/// # Safety
/// As [`block_bands`].
unsafe fn fill_frame_rows(
    isa: Isa,
    p: &BlockParams,
    first: usize,
    out: &mut [f32],
    fw: usize,
    c: usize,
) {
    let row = fw * c;
    let n = out.len() / row;
    let (map_top, map_end) = (p.pad_top, p.pad_top + p.expand.out_h);
    // Scratch rows [lo, hi) are map rows; the rest are zero.
    let lo = (map_top.max(first) - first).min(n);
    let hi = (map_end.max(first) - first).min(n).max(lo);
    out[..lo * row].fill(0.0);
    out[hi * row..].fill(0.0);
    if lo == hi {
        return;
    }
    let right = (p.pad_left + p.expand.out_w) * c;
    for r in out[lo * row..hi * row].chunks_exact_mut(row) {
        r[..p.pad_left * c].fill(0.0);
        r[right..].fill(0.0);
    }
    let mut ep = p.expand;
    // SAFETY: map rows `[first + lo - pad_top, first + hi - pad_top)` of the expansion's
    // input (1×1, stride 1: input row y for map row y).
    ep.input = unsafe { ep.input.add((first + lo - map_top) * ep.in_row_stride) };
    ep.output = out[lo * row + p.pad_left * c..].as_mut_ptr();
    ep.out_row_stride = row;
    ep.out_pixel_stride = c;
    ep.out_h = hi - lo;
    ep.residual = std::ptr::null();
    ep.channel_slices = 1;
    let act = ep.activation.decode_or_abort();
    // SAFETY: `hi - lo` output rows of `expand.out_w` pixels × `c` channels inside `out`.
    unsafe { conv_units(isa, &ep, act, 0, hi - lo) };
}
