//! ONNX MaxPool (with Indices) / AveragePool over NC + 1-D, 2-D or 3-D spatial data, NCHW-contiguous.

use super::common::{abort_bad_params, numel};
use crate::error::KernelError;
use crate::params::kernel_params;

/// Max pooling (NaN propagates; padding never wins). Same code as [`crate::POOL_MAX`].
pub const POOL_ND_MAX: u32 = crate::pool::POOL_MAX;
/// Average over the in-bounds elements (`count_include_pad = 0`).
pub const POOL_ND_AVG_EXCLUDE_PAD: u32 = crate::pool::POOL_AVG_EXCLUDE_PAD;
/// Average dividing by the window elements inside the padded input (`count_include_pad = 1`).
pub const POOL_ND_AVG_INCLUDE_PAD: u32 = crate::pool::POOL_AVG_INCLUDE_PAD;

kernel_params! {
/// N-d pooling parameters, `#[repr(C)]`. Data is `[batch_channels, spatial…]` contiguous. Spatial
/// arrays use their first `spatial` entries (outermost first).
#[derive(Clone, Copy, Debug)]
pub struct PoolNdParams {
    /// `POOL_ND_*` kind.
    pub kind: u32,
    /// Number of spatial axes, 1..=3.
    pub spatial: usize,
    /// `N · C`: independent planes.
    pub batch_channels: usize,
    /// Input spatial shape.
    pub in_shape: [usize; 3],
    /// Output spatial shape.
    pub out_shape: [usize; 3],
    /// Window extent.
    pub kernel: [usize; 3],
    /// Window stride.
    pub strides: [usize; 3],
    /// Tap dilation.
    pub dilations: [usize; 3],
    /// Padding before each axis.
    pub pads_begin: [usize; 3],
    /// Padding after each axis (ONNX `pads` end values). Windows that reach past it (ceil_mode)
    /// are clipped: such taps are neither read nor counted, even with `AVG_INCLUDE_PAD`.
    pub pads_end: [usize; 3],
    /// Input.
    pub x: *const f32,
    /// Output.
    pub y: *mut f32,
    /// Null, or (MaxPool) the flat index into `x` (`[0, N·C·D·H·W)`) of each output's maximum.
    pub indices: *mut i64,
}
}

/// Pooling geometry for the safe wrapper: [`PoolNdParams`] without the pointers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolNdGeometry {
    /// `POOL_ND_*` kind.
    pub kind: u32,
    /// Number of spatial axes, 1..=3.
    pub spatial: usize,
    /// `N · C`.
    pub batch_channels: usize,
    /// Input spatial shape.
    pub in_shape: [usize; 3],
    /// Output spatial shape.
    pub out_shape: [usize; 3],
    /// Window extent.
    pub kernel: [usize; 3],
    /// Window stride.
    pub strides: [usize; 3],
    /// Tap dilation.
    pub dilations: [usize; 3],
    /// Padding before each axis.
    pub pads_begin: [usize; 3],
    /// Padding after each axis.
    pub pads_end: [usize; 3],
}

impl PoolNdGeometry {
    fn valid(&self) -> bool {
        let s = self.spatial;
        (1..=3).contains(&s)
            && self.kind <= POOL_ND_AVG_INCLUDE_PAD
            && self.kernel[..s].iter().all(|&k| k > 0)
            && self.strides[..s].iter().all(|&k| k > 0)
            && self.dilations[..s].iter().all(|&k| k > 0)
    }

    /// Geometry from raw params.
    fn of(p: &PoolNdParams) -> Self {
        PoolNdGeometry {
            kind: p.kind,
            spatial: p.spatial,
            batch_channels: p.batch_channels,
            in_shape: p.in_shape,
            out_shape: p.out_shape,
            kernel: p.kernel,
            strides: p.strides,
            dilations: p.dilations,
            pads_begin: p.pads_begin,
            pads_end: p.pads_end,
        }
    }

    /// The geometry as 3 axes, unused leading axes of extent 1.
    fn as_3d(&self) -> PoolNdGeometry {
        let s = self.spatial;
        let mut g = PoolNdGeometry {
            kind: self.kind,
            spatial: 3,
            batch_channels: self.batch_channels,
            in_shape: [1; 3],
            out_shape: [1; 3],
            kernel: [1; 3],
            strides: [1; 3],
            dilations: [1; 3],
            pads_begin: [0; 3],
            pads_end: [0; 3],
        };
        let o = 3 - s;
        g.in_shape[o..].copy_from_slice(&self.in_shape[..s]);
        g.out_shape[o..].copy_from_slice(&self.out_shape[..s]);
        g.kernel[o..].copy_from_slice(&self.kernel[..s]);
        g.strides[o..].copy_from_slice(&self.strides[..s]);
        g.dilations[o..].copy_from_slice(&self.dilations[..s]);
        g.pads_begin[o..].copy_from_slice(&self.pads_begin[..s]);
        g.pads_end[o..].copy_from_slice(&self.pads_end[..s]);
        g
    }
}

/// N-d pooling entry point for generated code.
///
/// # Safety
/// `p` points to a valid [`PoolNdParams`]; `x` holds `batch_channels · Π in_shape` floats, `y`
/// (and `indices` if not null) `batch_channels · Π out_shape` elements. An invalid kind, spatial
/// rank or zero kernel/stride/dilation aborts.
#[no_mangle]
pub unsafe extern "C" fn bqml_pool_nd(p: *const PoolNdParams) {
    // SAFETY: the caller guarantees `p` points to a valid PoolNdParams.
    let p = unsafe { &*p };
    let g = PoolNdGeometry::of(p);
    if !g.valid() {
        abort_bad_params(format_args!("bqml_pool_nd: invalid geometry {g:?}"));
    }
    // SAFETY: forwarded caller contract.
    unsafe { pool_raw(&g.as_3d(), p.x, p.y, p.indices) }
}

/// Safe wrapper; `indices` (MaxPool only) must have `y.len()` elements.
pub fn pool_nd(
    g: &PoolNdGeometry,
    x: &[f32],
    y: &mut [f32],
    indices: Option<&mut [i64]>,
) -> Result<(), KernelError> {
    if !g.valid() {
        return Err(KernelError::new(format!("pool_nd: invalid geometry {g:?}")));
    }
    let s = g.spatial;
    let xn = numel(&g.in_shape[..s]).and_then(|v| v.checked_mul(g.batch_channels));
    let yn = numel(&g.out_shape[..s]).and_then(|v| v.checked_mul(g.batch_channels));
    let idx_ok = match &indices {
        Some(i) => g.kind == POOL_ND_MAX && Some(i.len()) == yn,
        None => true,
    };
    if xn != Some(x.len()) || yn != Some(y.len()) || !idx_ok {
        return Err(KernelError::new(format!(
            "pool_nd: {g:?} vs x {} y {} indices {:?}",
            x.len(),
            y.len(),
            indices.as_ref().map(|i| i.len())
        )));
    }
    let ip = indices.map_or(std::ptr::null_mut(), |i| i.as_mut_ptr());
    // SAFETY: sizes checked.
    unsafe { pool_raw(&g.as_3d(), x.as_ptr(), y.as_mut_ptr(), ip) };
    Ok(())
}

/// In-bounds taps of one window axis: `(first tap, tap count, taps inside the padded extent)`.
fn window(o: usize, g: &PoolNdGeometry, ax: usize) -> (usize, usize, usize) {
    let (k, dil, n) = (
        g.kernel[ax],
        g.dilations[ax] as isize,
        g.in_shape[ax] as isize,
    );
    let start = (o * g.strides[ax]) as isize - g.pads_begin[ax] as isize;
    let pos = |t: usize| start + t as isize * dil;
    let lo = -(g.pads_begin[ax] as isize);
    let hi = n + g.pads_end[ax] as isize;
    let first = (0..k).find(|&t| pos(t) >= 0).unwrap_or(k);
    let count = (first..k).take_while(|&t| pos(t) < n).count();
    let padded = (0..k).filter(|&t| pos(t) >= lo && pos(t) < hi).count();
    (first, count, padded)
}

/// Whether tap value `v` replaces the running maximum `cur`: strictly greater (the first maximum
/// wins), or the first NaN.
#[inline(always)]
fn takes(v: f32, cur: f32) -> bool {
    v > cur || (v.is_nan() && !cur.is_nan())
}

/// # Safety
/// `g` is valid and 3-D; the pointers cover the sizes documented on [`bqml_pool_nd`].
unsafe fn pool_raw(g: &PoolNdGeometry, x: *const f32, y: *mut f32, indices: *mut i64) {
    let [id, ih, iw] = g.in_shape;
    let [od, oh, ow] = g.out_shape;
    let in_plane = id * ih * iw;
    let out_plane = od * oh * ow;
    if out_plane == 0 {
        return;
    }
    let wins: [Vec<(usize, usize, usize)>; 3] = [
        (0..od).map(|o| window(o, g, 0)).collect(),
        (0..oh).map(|o| window(o, g, 1)).collect(),
        (0..ow).map(|o| window(o, g, 2)).collect(),
    ];
    let [dd, dh, dw] = g.dilations;
    let [sd, sh, sw] = g.strides;
    let is_max = g.kind == POOL_ND_MAX;
    let with_idx = is_max && !indices.is_null();
    // Taps along W: for tap `tx`, outputs `e` in `ranges[tx]` read input column
    // `e·sw + tx·dw - pad`, all in bounds.
    let ranges: Vec<(usize, usize)> = (0..g.kernel[2])
        .map(|tx| {
            let lo = (0..ow).find(|&e| wins[2][e].0 <= tx && tx < wins[2][e].0 + wins[2][e].1);
            match lo {
                Some(lo) => {
                    let n = (lo..ow)
                        .take_while(|&e| wins[2][e].0 <= tx && tx < wins[2][e].0 + wins[2][e].1)
                        .count();
                    (lo, lo + n)
                }
                None => (0, 0),
            }
        })
        .collect();
    let mut acc = vec![0f32; ow];
    let mut arg = vec![0usize; if with_idx { ow } else { 0 }];
    for c in 0..g.batch_channels {
        let xc = c * in_plane;
        for (a, &(fd, nd, pd)) in wins[0].iter().enumerate() {
            for (b, &(fh, nh, ph)) in wins[1].iter().enumerate() {
                acc.fill(if is_max { f32::NEG_INFINITY } else { 0.0 });
                for tz in fd..fd + nd {
                    let z = a * sd + tz * dd - g.pads_begin[0];
                    for ty in fh..fh + nh {
                        let yy = b * sh + ty * dh - g.pads_begin[1];
                        let row = xc + (z * ih + yy) * iw;
                        for (tx, &(lo, hi)) in ranges.iter().enumerate() {
                            // Input column of output `e` is `e·sw + base` (>= 0 for e >= lo).
                            let base = (tx * dw) as isize - g.pads_begin[2] as isize;
                            let at = |e: usize| (row as isize + (e * sw) as isize + base) as usize;
                            if with_idx {
                                for e in lo..hi {
                                    // SAFETY: an in-bounds tap of plane `c` (see `ranges`).
                                    let v = unsafe { *x.add(at(e)) };
                                    if takes(v, acc[e]) {
                                        acc[e] = v;
                                        arg[e] = at(e);
                                    }
                                }
                            } else if is_max {
                                // Branch-free select so the loop vectorises.
                                for (e, m) in acc.iter_mut().enumerate().take(hi).skip(lo) {
                                    // SAFETY: as above.
                                    let v = unsafe { *x.add(at(e)) };
                                    *m = if takes(v, *m) { v } else { *m };
                                }
                            } else {
                                for (e, s) in acc.iter_mut().enumerate().take(hi).skip(lo) {
                                    // SAFETY: as above.
                                    *s += unsafe { *x.add(at(e)) };
                                }
                            }
                        }
                    }
                }
                let out = c * out_plane + (a * oh + b) * ow;
                for (e, &v) in acc.iter().enumerate() {
                    let (_, nw, pw) = wins[2][e];
                    let n_in = nd * nh * nw;
                    let v = match g.kind {
                        POOL_ND_MAX => v,
                        _ if n_in == 0 => 0.0,
                        POOL_ND_AVG_EXCLUDE_PAD => v / n_in as f32,
                        _ => v / (pd * ph * pw) as f32,
                    };
                    // SAFETY: output row `(c, a, b)` holds `ow` elements.
                    unsafe {
                        *y.add(out + e) = v;
                        if !indices.is_null() {
                            *indices.add(out + e) = if with_idx { arg[e] as i64 } else { 0 };
                        }
                    }
                }
                if with_idx {
                    arg.fill(0);
                }
            }
        }
    }
}

/// Scalar reference: every window tap checked against the (padded) input bounds.
pub mod reference {
    use super::*;

    /// Returns `(y, indices)`.
    pub fn pool_nd(g: &PoolNdGeometry, x: &[f32]) -> (Vec<f32>, Vec<i64>) {
        let g = g.as_3d();
        let (is, os) = (g.in_shape, g.out_shape);
        let mut y = vec![];
        let mut ind = vec![];
        for c in 0..g.batch_channels {
            for o0 in 0..os[0] {
                for o1 in 0..os[1] {
                    for o2 in 0..os[2] {
                        let o = [o0, o1, o2];
                        let (mut best, mut at, mut sum, mut n_in, mut n_pad) =
                            (f32::NEG_INFINITY, 0usize, 0f64, 0usize, 0usize);
                        for k0 in 0..g.kernel[0] {
                            for k1 in 0..g.kernel[1] {
                                for k2 in 0..g.kernel[2] {
                                    let k = [k0, k1, k2];
                                    let p: Vec<isize> = (0..3)
                                        .map(|d| {
                                            (o[d] * g.strides[d] + k[d] * g.dilations[d]) as isize
                                                - g.pads_begin[d] as isize
                                        })
                                        .collect();
                                    let inside = (0..3).all(|d| p[d] >= 0 && p[d] < is[d] as isize);
                                    let in_pad = (0..3).all(|d| {
                                        p[d] >= -(g.pads_begin[d] as isize)
                                            && p[d] < (is[d] + g.pads_end[d]) as isize
                                    });
                                    n_pad += in_pad as usize;
                                    if !inside {
                                        continue;
                                    }
                                    n_in += 1;
                                    let flat = ((c * is[0] + p[0] as usize) * is[1]
                                        + p[1] as usize)
                                        * is[2]
                                        + p[2] as usize;
                                    let v = x[flat];
                                    sum += v as f64;
                                    if v > best || (v.is_nan() && !best.is_nan()) {
                                        best = v;
                                        at = flat;
                                    }
                                }
                            }
                        }
                        y.push(match g.kind {
                            POOL_ND_MAX => best,
                            _ if n_in == 0 => 0.0,
                            POOL_ND_AVG_EXCLUDE_PAD => (sum / n_in as f64) as f32,
                            _ => (sum / n_pad as f64) as f32,
                        });
                        ind.push(at as i64);
                    }
                }
            }
        }
        (y, ind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn geometry() -> impl Strategy<Value = PoolNdGeometry> {
        (1usize..=3, 0u32..=2, 1usize..=3)
            .prop_flat_map(|(s, kind, bc)| {
                (
                    Just((s, kind, bc)),
                    proptest::collection::vec(
                        (
                            1usize..=7,
                            1usize..=3,
                            1usize..=3,
                            1usize..=2,
                            0usize..=2,
                            0usize..=2,
                            any::<bool>(),
                        ),
                        s,
                    ),
                )
            })
            .prop_filter_map(
                "window larger than padded input",
                |((s, kind, bc), axes)| {
                    let mut g = PoolNdGeometry {
                        kind,
                        spatial: s,
                        batch_channels: bc,
                        in_shape: [0; 3],
                        out_shape: [0; 3],
                        kernel: [0; 3],
                        strides: [0; 3],
                        dilations: [0; 3],
                        pads_begin: [0; 3],
                        pads_end: [0; 3],
                    };
                    for (d, &(n, k, st, dil, pb, pe, ceil)) in axes.iter().enumerate() {
                        // ONNX requires pads smaller than the kernel.
                        let (pb, pe) = (pb.min(k - 1), pe.min(k - 1));
                        let span = (k - 1) * dil + 1;
                        let padded = n + pb + pe;
                        if padded < span {
                            return None;
                        }
                        let mut out = (padded - span) / st + 1;
                        if ceil && (padded - span) % st != 0 {
                            out += 1;
                        }
                        // The last window must start inside the input or left padding (ONNX rule).
                        if (out - 1) * st >= n + pb {
                            out -= 1;
                        }
                        g.in_shape[d] = n;
                        g.out_shape[d] = out;
                        g.kernel[d] = k;
                        g.strides[d] = st;
                        g.dilations[d] = dil;
                        g.pads_begin[d] = pb;
                        g.pads_end[d] = pe;
                    }
                    Some(g)
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn matches_reference(g in geometry(), seed in any::<u32>(), with_idx in any::<bool>()) {
            let xn: usize = g.batch_channels * g.in_shape[..g.spatial].iter().product::<usize>();
            let yn: usize = g.batch_channels * g.out_shape[..g.spatial].iter().product::<usize>();
            let x: Vec<f32> = (0..xn)
                .map(|i| ((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 17)
                .map(|h| h as f32 - 8.0)
                .collect();
            let (want, want_idx) = reference::pool_nd(&g, &x);
            let mut y = vec![f32::NAN; yn];
            let mut idx = vec![-1i64; yn];
            let use_idx = with_idx && g.kind == POOL_ND_MAX;
            pool_nd(&g, &x, &mut y, if use_idx { Some(&mut idx) } else { None }).unwrap();
            for i in 0..yn {
                prop_assert!(
                    y[i] == want[i] || (y[i] - want[i]).abs() <= 1e-5 * (1.0 + want[i].abs()),
                    "{} {} {}", i, y[i], want[i]
                );
                if use_idx {
                    prop_assert_eq!(idx[i], want_idx[i]);
                }
            }
        }
    }

    #[test]
    fn include_pad_counts_only_the_padded_input() {
        // 1-D: input 4, kernel 3, stride 2, pads 1/1, ceil_mode adds one window ending past the
        // end padding: windows [-1,2), [1,4), [3,6) -> the last one has 1 in-bounds element and
        // 2 inside the padded extent [-1, 5).
        let g = PoolNdGeometry {
            kind: POOL_ND_AVG_INCLUDE_PAD,
            spatial: 1,
            batch_channels: 1,
            in_shape: [4, 0, 0],
            out_shape: [3, 0, 0],
            kernel: [3, 0, 0],
            strides: [2, 0, 0],
            dilations: [1, 0, 0],
            pads_begin: [1, 0, 0],
            pads_end: [1, 0, 0],
        };
        let x = [1.0, 2.0, 3.0, 4.0];
        let mut y = [0f32; 3];
        pool_nd(&g, &x, &mut y, None).unwrap();
        assert_eq!(y, [3.0 / 3.0, 9.0 / 3.0, 4.0 / 2.0]);
        let g = PoolNdGeometry {
            kind: POOL_ND_AVG_EXCLUDE_PAD,
            ..g
        };
        pool_nd(&g, &x, &mut y, None).unwrap();
        assert_eq!(y, [1.5, 3.0, 4.0]);
        let g = PoolNdGeometry {
            kind: POOL_ND_MAX,
            ..g
        };
        let mut idx = [0i64; 3];
        pool_nd(&g, &x, &mut y, Some(&mut idx)).unwrap();
        assert_eq!((y, idx), ([2.0, 4.0, 4.0], [1, 3, 3]));
        assert!(pool_nd(&g, &x, &mut [0.0; 2], None).is_err());
    }
}
