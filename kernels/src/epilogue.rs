//! Fused epilogues: `act(acc + bias [+ residual])`, applied while accumulators are in registers.

use crate::params::kernel_params;

kernel_params! {
/// Activation applied last in every conv/GEMM epilogue. `#[repr(C)]` so generated code can store it
/// as constant data: `kind` is one of the `ACT_*` codes, `alpha`/`beta` are its parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Activation {
    /// One of [`ACT_NONE`], [`ACT_RELU`], … ; unknown codes abort the process.
    pub kind: u32,
    /// Clip: min. HardSigmoid: alpha. LeakyRelu: alpha. Otherwise unused.
    pub alpha: f32,
    /// Clip: max. HardSigmoid: beta. Otherwise unused.
    pub beta: f32,
}
}

/// `x`.
pub const ACT_NONE: u32 = 0;
/// `max(x, 0)`.
pub const ACT_RELU: u32 = 1;
/// `min(max(x, alpha), beta)` (ReLU6 is `clip(0, 6)`).
pub const ACT_CLIP: u32 = 2;
/// `1 / (1 + exp(-x))`.
pub const ACT_SIGMOID: u32 = 3;
/// `x * sigmoid(x)` (SiLU / Swish).
pub const ACT_SILU: u32 = 4;
/// `max(0, min(1, alpha * x + beta))` (ONNX HardSigmoid).
pub const ACT_HARD_SIGMOID: u32 = 5;
/// `x * max(0, min(1, x / 6 + 1/2))` (ONNX HardSwish).
pub const ACT_HARD_SWISH: u32 = 6;
/// `x` if `x >= 0` else `alpha * x`.
pub const ACT_LEAKY_RELU: u32 = 7;
/// [`Act::Gelu`].
pub const ACT_GELU: u32 = 8;
/// [`Act::GeluTanh`].
pub const ACT_GELU_TANH: u32 = 9;

/// Decoded activation, the Rust-side view of [`Activation`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    /// Identity.
    None,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, min), max)`.
    Clip { min: f32, max: f32 },
    /// Logistic sigmoid.
    Sigmoid,
    /// `x * sigmoid(x)`.
    Silu,
    /// `max(0, min(1, alpha * x + beta))`.
    HardSigmoid { alpha: f32, beta: f32 },
    /// `x * max(0, min(1, x / 6 + 0.5))`.
    HardSwish,
    /// `x` if `x >= 0`, else `alpha * x`.
    LeakyRelu { alpha: f32 },
    /// `0.5 · x · (1 + erf(x / √2))` (exact GELU).
    Gelu,
    /// `0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 x³)))`, computed on the vector tiers as
    /// `x · sigmoid(2√(2/π) · (x + 0.044715 x³))` (the same function).
    GeluTanh,
}

impl Act {
    /// The `#[repr(C)]` encoding stored in params structs.
    pub fn to_c(self) -> Activation {
        let (kind, alpha, beta) = match self {
            Act::None => (ACT_NONE, 0.0, 0.0),
            Act::Relu => (ACT_RELU, 0.0, 0.0),
            Act::Clip { min, max } => (ACT_CLIP, min, max),
            Act::Sigmoid => (ACT_SIGMOID, 0.0, 0.0),
            Act::Silu => (ACT_SILU, 0.0, 0.0),
            Act::HardSigmoid { alpha, beta } => (ACT_HARD_SIGMOID, alpha, beta),
            Act::HardSwish => (ACT_HARD_SWISH, 0.0, 0.0),
            Act::LeakyRelu { alpha } => (ACT_LEAKY_RELU, alpha, 0.0),
            Act::Gelu => (ACT_GELU, 0.0, 0.0),
            Act::GeluTanh => (ACT_GELU_TANH, 0.0, 0.0),
        };
        Activation { kind, alpha, beta }
    }

    /// Scalar definition; the reference and the portable kernels use it.
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Act::None => x,
            Act::Relu => x.max(0.0),
            Act::Clip { min, max } => x.max(min).min(max),
            Act::Sigmoid => sigmoid(x),
            Act::Silu => x * sigmoid(x),
            Act::HardSigmoid { alpha, beta } => (alpha * x + beta).clamp(0.0, 1.0),
            Act::HardSwish => x * (x * (1.0 / 6.0) + 0.5).clamp(0.0, 1.0),
            Act::LeakyRelu { alpha } => {
                if x >= 0.0 {
                    x
                } else {
                    alpha * x
                }
            }
            Act::Gelu => {
                let d = x as f64;
                (0.5 * d * (1.0 + libm::erf(d * std::f64::consts::FRAC_1_SQRT_2))) as f32
            }
            Act::GeluTanh => gelu_tanh(x),
        }
    }
}

/// `2√(2/π)`: `0.5 · (1 + tanh(z)) = sigmoid(2z)` turns tanh-GELU into `x · sigmoid(k · u)`.
const GELU_TANH_K: f32 = 1.595_769;
/// The cubic coefficient of tanh-GELU.
const GELU_TANH_C: f32 = 0.044_715;

/// Scalar tanh-GELU in f64 (the portable tier's form).
fn gelu_tanh(x: f32) -> f32 {
    let d = x as f64;
    let inner = (2.0 / std::f64::consts::PI).sqrt() * (d + 0.044715 * d * d * d);
    (0.5 * d * (1.0 + inner.tanh())) as f32
}

impl Activation {
    /// No activation.
    pub const NONE: Activation = Activation {
        kind: ACT_NONE,
        alpha: 0.0,
        beta: 0.0,
    };

    /// Decode; `None` for an unknown `kind`.
    pub fn decode(self) -> Option<Act> {
        Some(match self.kind {
            ACT_NONE => Act::None,
            ACT_RELU => Act::Relu,
            ACT_CLIP => Act::Clip {
                min: self.alpha,
                max: self.beta,
            },
            ACT_SIGMOID => Act::Sigmoid,
            ACT_SILU => Act::Silu,
            ACT_HARD_SIGMOID => Act::HardSigmoid {
                alpha: self.alpha,
                beta: self.beta,
            },
            ACT_HARD_SWISH => Act::HardSwish,
            ACT_LEAKY_RELU => Act::LeakyRelu { alpha: self.alpha },
            ACT_GELU => Act::Gelu,
            ACT_GELU_TANH => Act::GeluTanh,
            _ => return None,
        })
    }

    /// Decode for an `extern "C"` entry point: an unknown code is a code-generation bug, abort.
    pub(crate) fn decode_or_abort(self) -> Act {
        match self.decode() {
            Some(a) => a,
            None => {
                eprintln!("bqml kernels: unknown activation kind {}", self.kind);
                std::process::abort()
            }
        }
    }
}

#[inline]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Constants of the 8- and 16-lane `exp`: the input clamp, `ln 2` in two parts (so that
/// `n · LN2_HI` is exact), and the degree-7 minimax polynomial for `e^r` on `[-ln2/2, ln2/2]`,
/// evaluated as `1 + r + r² · (POLY in Horner form)`.
#[cfg(target_arch = "x86_64")]
mod exp_consts {
    pub(super) const CLAMP: f32 = 88.376_26;
    pub(super) const LN2_HI: f32 = 0.693_359_4;
    pub(super) const LN2_LO: f32 = -2.121_944_4e-4;
    pub(super) const POLY: [f32; 6] = [
        1.987_569_1e-4,
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        0.166_666_65,
        0.5,
    ];
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    //! 8-lane versions of the activations, for use inside `avx2,fma` functions.
    use super::Act;
    use std::arch::x86_64::*;

    /// `exp(x)` to about 2 ulp over the f32 range; inputs are clamped to ±88.376.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn exp(x: __m256) -> __m256 {
        use super::exp_consts::*;
        let x = _mm256_min_ps(x, _mm256_set1_ps(CLAMP));
        let x = _mm256_max_ps(x, _mm256_set1_ps(-CLAMP));
        let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm256_mul_ps(x, _mm256_set1_ps(std::f32::consts::LOG2_E)),
        );
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), x);
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
        let mut y = _mm256_set1_ps(POLY[0]);
        for c in &POLY[1..] {
            y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(*c));
        }
        let r2 = _mm256_mul_ps(r, r);
        y = _mm256_fmadd_ps(y, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0)));
        // Scale by 2^n through the exponent bits; n is in [-127, 127] after the clamp.
        let e = _mm256_slli_epi32::<23>(_mm256_add_epi32(
            _mm256_cvtps_epi32(n),
            _mm256_set1_epi32(127),
        ));
        _mm256_mul_ps(y, _mm256_castsi256_ps(e))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn sigmoid(x: __m256) -> __m256 {
        let one = _mm256_set1_ps(1.0);
        let e = exp(_mm256_sub_ps(_mm256_setzero_ps(), x));
        _mm256_div_ps(one, _mm256_add_ps(one, e))
    }

    /// Apply `act` to 8 lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn apply(act: Act, x: __m256) -> __m256 {
        match act {
            Act::None => x,
            Act::Relu => _mm256_max_ps(x, _mm256_setzero_ps()),
            Act::Clip { min, max } => {
                _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(min)), _mm256_set1_ps(max))
            }
            Act::Sigmoid => sigmoid(x),
            Act::Silu => _mm256_mul_ps(x, sigmoid(x)),
            Act::HardSigmoid { alpha, beta } => {
                let y = _mm256_fmadd_ps(x, _mm256_set1_ps(alpha), _mm256_set1_ps(beta));
                _mm256_min_ps(_mm256_max_ps(y, _mm256_setzero_ps()), _mm256_set1_ps(1.0))
            }
            Act::HardSwish => {
                let y = _mm256_fmadd_ps(x, _mm256_set1_ps(1.0 / 6.0), _mm256_set1_ps(0.5));
                let y = _mm256_min_ps(_mm256_max_ps(y, _mm256_setzero_ps()), _mm256_set1_ps(1.0));
                _mm256_mul_ps(x, y)
            }
            Act::LeakyRelu { alpha } => {
                let neg = _mm256_mul_ps(x, _mm256_set1_ps(alpha));
                let nonneg = _mm256_cmp_ps::<_CMP_GE_OQ>(x, _mm256_setzero_ps());
                _mm256_blendv_ps(neg, x, nonneg)
            }
            Act::Gelu => gelu(x),
            Act::GeluTanh => {
                let u = _mm256_fmadd_ps(
                    _mm256_mul_ps(_mm256_mul_ps(x, x), x),
                    _mm256_set1_ps(super::GELU_TANH_C),
                    x,
                );
                _mm256_mul_ps(
                    x,
                    sigmoid(_mm256_mul_ps(u, _mm256_set1_ps(super::GELU_TANH_K))),
                )
            }
        }
    }

    /// `0.5 · x · (1 + erf(x / √2))` with the vector `erf` of the generic kernels.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn gelu(x: __m256) -> __m256 {
        let e = crate::generic::vmath::erf(_mm256_mul_ps(
            x,
            _mm256_set1_ps(std::f32::consts::FRAC_1_SQRT_2),
        ));
        let half_x = _mm256_mul_ps(x, _mm256_set1_ps(0.5));
        _mm256_fmadd_ps(half_x, e, half_x)
    }

    /// Lane mask selecting the first `n` of 8 lanes (`n` may exceed 8 or be negative).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn first_lanes(n: isize) -> __m256i {
        let n = n.clamp(0, 8) as i32;
        _mm256_cmpgt_epi32(
            _mm256_set1_epi32(n),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        )
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
    //! 16-lane versions of the activations, for use inside AVX-512 functions.
    use super::Act;
    use std::arch::x86_64::*;

    /// Apply `act` to 16 lanes.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
    pub(crate) fn apply(act: Act, x: __m512) -> __m512 {
        match act {
            Act::None => x,
            Act::Relu => _mm512_max_ps(x, _mm512_setzero_ps()),
            Act::Clip { min, max } => {
                _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(min)), _mm512_set1_ps(max))
            }
            Act::HardSigmoid { alpha, beta } => {
                let y = _mm512_fmadd_ps(x, _mm512_set1_ps(alpha), _mm512_set1_ps(beta));
                _mm512_min_ps(_mm512_max_ps(y, _mm512_setzero_ps()), _mm512_set1_ps(1.0))
            }
            Act::HardSwish => {
                let y = _mm512_fmadd_ps(x, _mm512_set1_ps(1.0 / 6.0), _mm512_set1_ps(0.5));
                let y = _mm512_min_ps(_mm512_max_ps(y, _mm512_setzero_ps()), _mm512_set1_ps(1.0));
                _mm512_mul_ps(x, y)
            }
            Act::LeakyRelu { alpha } => {
                let neg = _mm512_mul_ps(x, _mm512_set1_ps(alpha));
                let nonneg = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(x, _mm512_setzero_ps());
                _mm512_mask_blend_ps(nonneg, neg, x)
            }
            Act::Sigmoid => sigmoid(x),
            Act::Silu => _mm512_mul_ps(x, sigmoid(x)),
            Act::Gelu => {
                let e = crate::generic::vmath::avx512::erf(_mm512_mul_ps(
                    x,
                    _mm512_set1_ps(std::f32::consts::FRAC_1_SQRT_2),
                ));
                let half_x = _mm512_mul_ps(x, _mm512_set1_ps(0.5));
                _mm512_fmadd_ps(half_x, e, half_x)
            }
            Act::GeluTanh => {
                let u = _mm512_fmadd_ps(
                    _mm512_mul_ps(_mm512_mul_ps(x, x), x),
                    _mm512_set1_ps(super::GELU_TANH_C),
                    x,
                );
                _mm512_mul_ps(
                    x,
                    sigmoid(_mm512_mul_ps(u, _mm512_set1_ps(super::GELU_TANH_K))),
                )
            }
        }
    }

    /// `exp(x)`, the AVX2 [`super::avx2::exp`] on 16 lanes: the same clamp to ±88.376, range
    /// reduction and polynomial, with the `2^n` scaling done by `vscalefps`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
    pub(crate) fn exp(x: __m512) -> __m512 {
        use super::exp_consts::*;
        let x = _mm512_min_ps(x, _mm512_set1_ps(CLAMP));
        let x = _mm512_max_ps(x, _mm512_set1_ps(-CLAMP));
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)),
        );
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
        let mut y = _mm512_set1_ps(POLY[0]);
        for c in &POLY[1..] {
            y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(*c));
        }
        let r2 = _mm512_mul_ps(r, r);
        y = _mm512_fmadd_ps(y, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0)));
        _mm512_scalef_ps(y, n)
    }

    /// `1 / (1 + exp(-x))`, the reciprocal from `vrcp14ps` and one Newton step (relative error
    /// about 2^-28, against one `vdivps` that costs as much as the whole `exp`).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
    fn sigmoid(x: __m512) -> __m512 {
        let d = _mm512_add_ps(
            _mm512_set1_ps(1.0),
            exp(_mm512_sub_ps(_mm512_setzero_ps(), x)),
        );
        let y = _mm512_rcp14_ps(d);
        _mm512_mul_ps(y, _mm512_fnmadd_ps(d, y, _mm512_set1_ps(2.0)))
    }

    /// Mask of the first `n` of 16 lanes (`n` may exceed 16).
    #[inline]
    pub(crate) fn first_lanes(n: usize) -> __mmask16 {
        if n >= 16 {
            0xffff
        } else {
            (1u16 << n) - 1
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::Act;
    use std::arch::x86_64::*;

    /// The 16-lane exp, sigmoid and SiLU against f64 over the clamp range and beyond.
    #[test]
    fn avx512_exp_and_sigmoid_match_f64() {
        if !crate::isa::Isa::avx512_available() {
            println!("avx512 tier NOT exercised: this CPU lacks AVX-512");
            return;
        }
        let xs: Vec<f32> = (-2000..=2000)
            .map(|i| i as f32 * 0.05)
            .chain([-1e30, -88.5, -87.0, 0.0, -0.0, 87.0, 88.3, 1e30])
            .collect();
        for chunk in xs.chunks(16) {
            let mut lanes = [0.0f32; 16];
            lanes[..chunk.len()].copy_from_slice(chunk);
            let (mut e, mut s, mut silu) = ([0.0f32; 16], [0.0f32; 16], [0.0f32; 16]);
            // SAFETY: AVX-512 is available (checked above); the arrays hold 16 floats.
            unsafe {
                let x = _mm512_loadu_ps(lanes.as_ptr());
                _mm512_storeu_ps(e.as_mut_ptr(), super::avx512::exp(x));
                _mm512_storeu_ps(s.as_mut_ptr(), super::avx512::apply(Act::Sigmoid, x));
                _mm512_storeu_ps(silu.as_mut_ptr(), super::avx512::apply(Act::Silu, x));
            }
            for (i, &x) in chunk.iter().enumerate() {
                let xc = f64::from(x.clamp(-88.376_26, 88.376_26));
                let want = xc.exp();
                assert!(
                    (f64::from(e[i]) - want).abs() <= 4e-7 * want,
                    "exp({x}) = {} want {want}",
                    e[i]
                );
                let sig = 1.0 / (1.0 + (-f64::from(x)).clamp(-88.376_26, 88.376_26).exp());
                assert!(
                    (f64::from(s[i]) - sig).abs() <= 5e-7 * sig + 1e-37,
                    "sigmoid({x}) = {} want {sig}",
                    s[i]
                );
                let want_silu = f64::from(x) * sig;
                assert!(
                    (f64::from(silu[i]) - want_silu).abs() <= 1e-6 * want_silu.abs() + 1e-8,
                    "silu({x}) = {} want {want_silu}",
                    silu[i]
                );
            }
        }
    }

    /// GELU, erf and tanh forms, on both vector tiers against f64, over [-10, 10] and the edges.
    #[test]
    fn gelu_on_8_and_16_lanes_matches_f64() {
        let xs: Vec<f32> = (-2000..=2000)
            .map(|i| i as f32 * 0.005)
            .chain([-1e30, -30.0, -0.0, 0.0, 30.0, 1e30])
            .collect();
        let erf_form = |d: f64| 0.5 * d * (1.0 + libm::erf(d * std::f64::consts::FRAC_1_SQRT_2));
        let tanh_form = |d: f64| {
            0.5 * d
                * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (d + 0.044715 * d * d * d)).tanh())
        };
        let forms: [(Act, &dyn Fn(f64) -> f64); 2] =
            [(Act::Gelu, &erf_form), (Act::GeluTanh, &tanh_form)];
        for (act, want) in forms {
            let check = |x: f32, got: f32, tier: &str| {
                let w = want(f64::from(x));
                assert!(
                    // 1 + erf cancels for large negative x: the absolute error scales with |x|.
                    (f64::from(got) - w).abs()
                        <= 2e-7 * w.abs() + 1e-7 * f64::from(x.abs().min(1e3)),
                    "{tier} {act:?}({x}) = {got} want {w}"
                );
            };
            for chunk in xs.chunks(16) {
                let mut lanes = [0.0f32; 16];
                lanes[..chunk.len()].copy_from_slice(chunk);
                if crate::isa::Isa::avx512_available() {
                    let mut y = [0.0f32; 16];
                    // SAFETY: AVX-512 is available; the arrays hold 16 floats.
                    unsafe {
                        let x = _mm512_loadu_ps(lanes.as_ptr());
                        _mm512_storeu_ps(y.as_mut_ptr(), super::avx512::apply(act, x));
                    }
                    chunk
                        .iter()
                        .zip(y)
                        .for_each(|(&x, g)| check(x, g, "avx512"));
                }
                if crate::isa::Isa::avx2_fma_available() {
                    let mut y = [0.0f32; 8];
                    for (half, part) in chunk.chunks(8).enumerate() {
                        // SAFETY: AVX2+FMA is available; the arrays hold 8 floats.
                        unsafe {
                            let x = _mm256_loadu_ps(lanes.as_ptr().add(8 * half));
                            _mm256_storeu_ps(y.as_mut_ptr(), super::avx2::apply(act, x));
                        }
                        part.iter().zip(y).for_each(|(&x, g)| check(x, g, "avx2"));
                    }
                }
                chunk.iter().for_each(|&x| check(x, act.apply(x), "scalar"));
            }
        }
        println!(
            "gelu: avx512 {}, avx2 {}",
            if crate::isa::Isa::avx512_available() {
                "exercised"
            } else {
                "NOT exercised (CPU lacks it)"
            },
            if crate::isa::Isa::avx2_fma_available() {
                "exercised"
            } else {
                "NOT exercised (CPU lacks it)"
            }
        );
    }
}
