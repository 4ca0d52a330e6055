//! Plain scalar reference implementations: the oracle for the kernel tests. Obviously correct,
//! deliberately slow, no unsafe. Each returns dense NHWC output and, where useful, the magnitude
//! `Σ|terms|` of every output's sum so tests can use a tolerance relative to it.

use crate::conv_params::ConvGeometry;
use crate::epilogue::Act;
use crate::pack::ConvShape;
use crate::pool::{POOL_AVG_INCLUDE_PAD, POOL_MAX};
use crate::view::Nhwc;

fn at(v: &Nhwc<'_>, y: usize, x: usize, c: usize) -> f32 {
    v.data[v.offset + y * v.row_stride + x * v.pixel_stride + c]
}

/// Convolution over a haloed input exactly as the kernels see it: `input` is the receptive-field
/// origin. Returns `(out, magnitude)`, both dense `out_h × out_w × out_channels`.
pub fn conv2d_halo(
    shape: ConvShape,
    geo: &ConvGeometry,
    weights_oihw: &[f32],
    bias: Option<&[f32]>,
    input: &Nhwc<'_>,
    residual: Option<&Nhwc<'_>>,
    act: Act,
) -> (Vec<f32>, Vec<f32>) {
    let (icg, ocg) = (shape.in_per_group(), shape.out_per_group());
    let (kh, kw) = (shape.kernel_h, shape.kernel_w);
    let oc_total = shape.out_channels;
    let mut out = vec![0.0; geo.out_h * geo.out_w * oc_total];
    let mut mag = vec![0.0; out.len()];
    for oy in 0..geo.out_h {
        for ox in 0..geo.out_w {
            for o in 0..oc_total {
                let g = o / ocg;
                let mut s = bias.map_or(0.0, |b| b[o]);
                let mut m = s.abs();
                for c in 0..icg {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let y = oy * geo.stride_h + ky * geo.dilation_h;
                            let x = ox * geo.stride_w + kx * geo.dilation_w;
                            let t = at(input, y, x, g * icg + c)
                                * weights_oihw[((o * icg + c) * kh + ky) * kw + kx];
                            s += t;
                            m += t.abs();
                        }
                    }
                }
                if let Some(r) = residual {
                    let v = at(r, oy, ox, o);
                    s += v;
                    m += v.abs();
                }
                let i = (oy * geo.out_w + ox) * oc_total + o;
                out[i] = act.apply(s);
                mag[i] = m;
            }
        }
    }
    (out, mag)
}

/// ONNX Conv semantics on a dense, unpadded NHWC input (`h × w × in_channels`) with explicit
/// `pads = [top, left, bottom, right]`; out-of-range taps read zero. Dense output.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_padded(
    shape: ConvShape,
    weights_oihw: &[f32],
    bias: Option<&[f32]>,
    input: &[f32],
    h: usize,
    w: usize,
    pads: [usize; 4],
    stride: [usize; 2],
    dilation: [usize; 2],
) -> (usize, usize, Vec<f32>) {
    let (kh, kw) = (shape.kernel_h, shape.kernel_w);
    let out_h = (h + pads[0] + pads[2] - (kh - 1) * dilation[0] - 1) / stride[0] + 1;
    let out_w = (w + pads[1] + pads[3] - (kw - 1) * dilation[1] - 1) / stride[1] + 1;
    let (icg, ocg) = (shape.in_per_group(), shape.out_per_group());
    let cin = shape.in_channels;
    let mut out = vec![0.0; out_h * out_w * shape.out_channels];
    for oy in 0..out_h {
        for ox in 0..out_w {
            for o in 0..shape.out_channels {
                let g = o / ocg;
                let mut s = bias.map_or(0.0, |b| b[o]);
                for c in 0..icg {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let y = (oy * stride[0] + ky * dilation[0]) as isize - pads[0] as isize;
                            let x = (ox * stride[1] + kx * dilation[1]) as isize - pads[1] as isize;
                            if y < 0 || x < 0 || y >= h as isize || x >= w as isize {
                                continue;
                            }
                            let v = input[(y as usize * w + x as usize) * cin + g * icg + c];
                            s += v * weights_oihw[((o * icg + c) * kh + ky) * kw + kx];
                        }
                    }
                }
                out[(oy * out_w + ox) * shape.out_channels + o] = s;
            }
        }
    }
    (out_h, out_w, out)
}

/// `act(alpha · A·op(B) + beta · c + R)` for dense row-major `A` (`m × k`); `b` is `k × n`, or
/// `n × k` when `trans_b`; `c` has `n` values or one. Returns `(y, magnitude)`.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    b: &[f32],
    trans_b: bool,
    alpha: f32,
    c: Option<&[f32]>,
    beta: f32,
    residual: Option<&[f32]>,
    act: Act,
) -> (Vec<f32>, Vec<f32>) {
    let mut y = vec![0.0; m * n];
    let mut mag = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0;
            let mut mm = 0.0;
            for kk in 0..k {
                let bv = if trans_b {
                    b[j * k + kk]
                } else {
                    b[kk * n + j]
                };
                let t = alpha * a[i * k + kk] * bv;
                s += t;
                mm += t.abs();
            }
            if let Some(c) = c {
                let t = beta * if c.len() == 1 { c[0] } else { c[j] };
                s += t;
                mm += t.abs();
            }
            if let Some(r) = residual {
                s += r[i * n + j];
                mm += r[i * n + j].abs();
            }
            y[i * n + j] = act.apply(s);
            mag[i * n + j] = mm;
        }
    }
    (y, mag)
}

/// ONNX MaxPool / AveragePool on an unpadded NHWC view. `pads = [top, left, bottom, right]`.
/// A window with no in-bounds element yields `-inf` (max) or 0 (average). Dense output.
#[allow(clippy::too_many_arguments)]
pub fn pool2d(
    kind: u32,
    input: &Nhwc<'_>,
    h: usize,
    w: usize,
    channels: usize,
    out_h: usize,
    out_w: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    pads: [usize; 4],
) -> Vec<f32> {
    let mut out = vec![0.0; out_h * out_w * channels];
    for oy in 0..out_h {
        for ox in 0..out_w {
            for c in 0..channels {
                let mut best = f32::NEG_INFINITY;
                let mut sum = 0.0;
                let (mut n_in, mut n_padded) = (0usize, 0usize);
                for ky in 0..kernel[0] {
                    for kx in 0..kernel[1] {
                        let y = (oy * stride[0] + ky * dilation[0]) as isize - pads[0] as isize;
                        let x = (ox * stride[1] + kx * dilation[1]) as isize - pads[1] as isize;
                        let inside_pad = y >= -(pads[0] as isize)
                            && x >= -(pads[1] as isize)
                            && y < (h + pads[2]) as isize
                            && x < (w + pads[3]) as isize;
                        if inside_pad {
                            n_padded += 1;
                        }
                        if y < 0 || x < 0 || y >= h as isize || x >= w as isize {
                            continue;
                        }
                        let v = at(input, y as usize, x as usize, c);
                        best = best.max(v);
                        sum += v;
                        n_in += 1;
                    }
                }
                let divisor = if kind == POOL_AVG_INCLUDE_PAD {
                    n_padded
                } else {
                    n_in
                };
                out[(oy * out_w + ox) * channels + c] = if kind == POOL_MAX {
                    best
                } else if n_in == 0 {
                    0.0
                } else {
                    sum / divisor as f32
                };
            }
        }
    }
    out
}
