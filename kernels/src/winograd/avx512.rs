//! AVX-512 tier of the Winograd kernels: a 16-channel panel is one zmm.
//!
//! Same block structure as the AVX2 code (input transforms of a block of tiles into `V`, one
//! GEMM per transform position into `M`, output transforms fused with the epilogue). The GEMM
//! register tile is up to 12 tiles (rows of `V`) × two panels in 24 zmm accumulators, or one
//! panel for an odd last panel; the transforms work on 16 channels per vector.

use std::arch::x86_64::*;

use super::{Dims, TilePos};
use crate::conv::store_row_avx512;
use crate::conv_params::ConvParams;
use crate::epilogue::{avx512::first_lanes, Act};
use crate::pack::NR;

/// Most `V` rows (tiles) per GEMM register tile.
const MT: usize = 12;
/// Reduction steps per loop iteration.
const UNROLL: usize = 4;

/// `Bᵀ d` over 16 lanes; A = 6 (F4) or 4 (F2, first four used).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
fn bt<const A: usize>(d: [__m512; 6]) -> [__m512; 6] {
    if A == 6 {
        let four = _mm512_set1_ps(4.0);
        let five = _mm512_set1_ps(5.0);
        let a = _mm512_fnmadd_ps(four, d[2], d[4]);
        let b = _mm512_fnmadd_ps(four, d[1], d[3]);
        let c = _mm512_sub_ps(d[4], d[2]);
        let e = _mm512_sub_ps(d[3], d[1]);
        let e = _mm512_add_ps(e, e);
        [
            _mm512_fmadd_ps(four, d[0], _mm512_fnmadd_ps(five, d[2], d[4])),
            _mm512_add_ps(a, b),
            _mm512_sub_ps(a, b),
            _mm512_add_ps(c, e),
            _mm512_sub_ps(c, e),
            _mm512_fmadd_ps(four, d[1], _mm512_fnmadd_ps(five, d[3], d[5])),
        ]
    } else {
        let z = _mm512_setzero_ps();
        [
            _mm512_sub_ps(d[0], d[2]),
            _mm512_add_ps(d[1], d[2]),
            _mm512_sub_ps(d[2], d[1]),
            _mm512_sub_ps(d[1], d[3]),
            z,
            z,
        ]
    }
}

/// `Aᵀ m` over 16 lanes into F = A - 2 values.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
fn at<const A: usize>(m: [__m512; 6]) -> [__m512; 4] {
    if A == 6 {
        let a = _mm512_add_ps(m[1], m[2]);
        let b = _mm512_sub_ps(m[1], m[2]);
        let c = _mm512_add_ps(m[3], m[4]);
        let d = _mm512_sub_ps(m[3], m[4]);
        [
            _mm512_add_ps(_mm512_add_ps(m[0], a), c),
            _mm512_fmadd_ps(_mm512_set1_ps(2.0), d, b),
            _mm512_fmadd_ps(_mm512_set1_ps(4.0), c, a),
            _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.0), d, b), m[5]),
        ]
    } else {
        let z = _mm512_setzero_ps();
        [
            _mm512_add_ps(_mm512_add_ps(m[0], m[1]), m[2]),
            _mm512_sub_ps(_mm512_sub_ps(m[1], m[2]), m[3]),
            z,
            z,
        ]
    }
}

/// One block of `n` tiles from `first`: input transforms, one GEMM per position, output
/// transforms with the epilogue.
///
/// # Safety
/// As [`super::bqml_winograd`] on a CPU with AVX-512 F/BW/DQ/VL; `v`/`m` hold a block.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
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
    let panel = d.cin * NR;
    for pos in 0..A * A {
        // SAFETY: position `pos` of the packed weights; `v`/`m` rows of the block; the second
        // panel of a pair exists (`b + 1 < pass.end`).
        unsafe {
            let u = p.weights.add(pos * d.panels * panel);
            let vp = v.add(pos * vs);
            let mp = m.add(pos * ms);
            let mut b = d.pass.start;
            while b < d.pass.end {
                let (ub, mb) = (u.add(b * panel), mp.add(b * NR));
                if b + 1 < d.pass.end {
                    gemm_panels::<2>(vp, d.kpad, d.cin, n, ub, panel, mb, d.cpad);
                    b += 2;
                } else {
                    gemm_panels::<1>(vp, d.kpad, d.cin, n, ub, panel, mb, d.cpad);
                    b += 1;
                }
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

/// Input transform of one tile: `A × A` vectors per 16-channel group, stored at
/// `v + pos * vs + c` (lanes past `kpad` are not stored, lanes past `cin` are zero).
///
/// # Safety
/// The tile's valid patch is inside the input; `v` has `A * A` rows of `kpad` floats `vs`
/// apart.
// Indexed loops on purpose: they address several arrays of vectors at once.
#[allow(clippy::needless_range_loop)]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
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
        let nc = (d.cin - c0).min(NR);
        let load = first_lanes(nc);
        let store = first_lanes(d.kpad - c0);
        let mut x = [[_mm512_setzero_ps(); 6]; 6];
        // SAFETY: (y0 + r, x0 + col) for r < in_rows, col < in_cols is in the receptive
        // field; masked loads touch only the `nc` valid channels.
        unsafe {
            let base = p
                .input
                .add(tp.y0 * p.in_row_stride + tp.x0 * p.in_pixel_stride + c0);
            if full_patch && nc == NR {
                for (r, row) in x.iter_mut().enumerate().take(A) {
                    for (col, xv) in row.iter_mut().enumerate().take(A) {
                        *xv = _mm512_loadu_ps(
                            base.add(r * p.in_row_stride + col * p.in_pixel_stride),
                        );
                    }
                }
            } else {
                for (r, row) in x.iter_mut().enumerate().take(tp.in_rows) {
                    for (col, xv) in row.iter_mut().enumerate().take(tp.in_cols) {
                        *xv = _mm512_maskz_loadu_ps(
                            load,
                            base.add(r * p.in_row_stride + col * p.in_pixel_stride),
                        );
                    }
                }
            }
        }
        // Columns, then rows.
        let mut cols = [[_mm512_setzero_ps(); 6]; 6];
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
                // SAFETY: row `i * A + j` of `v` has `kpad` floats; the store is masked to
                // those from `c0` on.
                unsafe { _mm512_mask_storeu_ps(v.add((i * A + j) * vs + c0), store, uv) };
            }
        }
        c0 += NR;
    }
}

/// `M[n × 16P] = V[n × k] · U[k × 16P]` for one position and `P` (1 or 2) adjacent panels,
/// in register tiles of up to 12 rows (equal sizes, no small tail tile).
///
/// # Safety
/// `v` has `n` rows `vs` apart of `k` floats, `u` `P` panels `us` apart of `k * 16` floats,
/// `m` `n` rows `ms` apart of `16P` floats.
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
unsafe fn gemm_panels<const P: usize>(
    v: *const f32,
    vs: usize,
    k: usize,
    n: usize,
    u: *const f32,
    us: usize,
    m: *mut f32,
    ms: usize,
) {
    let tiles = n.div_ceil(MT);
    let mut t = 0;
    for ti in 0..tiles {
        let rows = n / tiles + usize::from(ti < n % tiles);
        // SAFETY: rows `t..t + rows` exist; forwarded contract.
        unsafe {
            let (vt, mt) = (v.add(t * vs), m.add(t * ms));
            match rows {
                12 => gemm_tile::<P, 12>(vt, vs, k, u, us, mt, ms),
                11 => gemm_tile::<P, 11>(vt, vs, k, u, us, mt, ms),
                10 => gemm_tile::<P, 10>(vt, vs, k, u, us, mt, ms),
                9 => gemm_tile::<P, 9>(vt, vs, k, u, us, mt, ms),
                8 => gemm_tile::<P, 8>(vt, vs, k, u, us, mt, ms),
                7 => gemm_tile::<P, 7>(vt, vs, k, u, us, mt, ms),
                6 => gemm_tile::<P, 6>(vt, vs, k, u, us, mt, ms),
                5 => gemm_tile::<P, 5>(vt, vs, k, u, us, mt, ms),
                4 => gemm_tile::<P, 4>(vt, vs, k, u, us, mt, ms),
                3 => gemm_tile::<P, 3>(vt, vs, k, u, us, mt, ms),
                2 => gemm_tile::<P, 2>(vt, vs, k, u, us, mt, ms),
                1 => gemm_tile::<P, 1>(vt, vs, k, u, us, mt, ms),
                other => unreachable!("GEMM tile of {other} rows"),
            }
        }
        t += rows;
    }
}

/// `R` rows × `P` panels in `P * R` zmm accumulators.
///
/// # Safety
/// As [`gemm_panels`] with `n = R`.
// Indexed loops on purpose: iterators over `acc` take its address and LLVM then keeps the
// accumulators in memory instead of registers.
#[allow(clippy::needless_range_loop)]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
unsafe fn gemm_tile<const P: usize, const R: usize>(
    v: *const f32,
    vs: usize,
    k: usize,
    u: *const f32,
    us: usize,
    m: *mut f32,
    ms: usize,
) {
    let mut acc = [[_mm512_setzero_ps(); P]; R];
    let mut q = [v; R];
    for i in 0..R {
        // SAFETY: row i of `v` exists.
        q[i] = unsafe { v.add(i * vs) };
    }
    let mut w = u;
    // One reduction step: `P` weight loads, `R` broadcasts, `P * R` FMAs.
    macro_rules! step {
        ($c:expr) => {
            // SAFETY: `w + j * us` walks panel j's `k * 16` floats; `q[i] + c` is row i's
            // value c. (No software prefetch of the next panels, unlike AVX2: it measured
            // slower here.)
            unsafe {
                let mut wv = [_mm512_setzero_ps(); P];
                for j in 0..P {
                    wv[j] = _mm512_loadu_ps(w.add(j * us));
                }
                for i in 0..R {
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
    while c + UNROLL <= k {
        for s in 0..UNROLL {
            step!(c + s);
        }
        c += UNROLL;
    }
    while c < k {
        step!(c);
        c += 1;
    }
    for i in 0..R {
        for j in 0..P {
            // SAFETY: row i of `m` has `16P` floats.
            unsafe { _mm512_storeu_ps(m.add(i * ms + j * NR), acc[i][j]) };
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
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
unsafe fn output_tile<const A: usize>(
    p: &ConvParams,
    act: Act,
    tp: &TilePos,
    m: *const f32,
    ms: usize,
    b: usize,
) {
    let n = NR.min(p.out_channels_per_group - b * NR);
    let mut cols = [[_mm512_setzero_ps(); 6]; 4];
    for col in 0..A {
        let mut mv = [_mm512_setzero_ps(); 6];
        for (r, x) in mv.iter_mut().enumerate().take(A) {
            // SAFETY: position `r * A + col` of the tile's panel.
            *x = unsafe { _mm512_loadu_ps(m.add((r * A + col) * ms)) };
        }
        let t = at::<A>(mv);
        for r in 0..A - 2 {
            cols[r][col] = t[r];
        }
    }
    let mut y = [[_mm512_setzero_ps(); 4]; 4];
    for r in 0..A - 2 {
        y[r] = at::<A>(cols[r]);
    }
    // SAFETY: bias holds 16 floats per panel.
    let bias = unsafe { _mm512_loadu_ps(p.bias.add(b * NR)) };
    for r in 0..tp.out_rows {
        for c in 0..tp.out_cols {
            let (oy, ox) = (tp.y0 + r, tp.x0 + c);
            // SAFETY: pixel (oy, ox) is a valid output; stores are masked to `n` channels.
            unsafe {
                store_row_avx512(
                    p,
                    act,
                    _mm512_add_ps(y[r][c], bias),
                    oy * p.out_row_stride + ox * p.out_pixel_stride + b * NR,
                    oy * p.res_row_stride + ox * p.res_pixel_stride + b * NR,
                    n,
                )
            }
        }
    }
}
