//! Elementwise unary ops over contiguous f32.
//!
//! The AVX2 path evaluates `exp`, `sigmoid`, `tanh`, `erf`, `silu` (and `elu`, `selu`, `gelu`
//! through them) with the polynomial kernels in `vmath`; the portable path and the reference
//! evaluate transcendental functions in f64 and round once.

use crate::error::KernelError;
use crate::isa::Isa;
use crate::params::kernel_params;

use super::common::{abort_bad_params, detected};

/// `max(x, 0)` (NaN propagates).
pub const UNARY_RELU: u32 = 0;
/// `1 / (1 + e^-x)`.
pub const UNARY_SIGMOID: u32 = 1;
/// `tanh(x)`.
pub const UNARY_TANH: u32 = 2;
/// `e^x`.
pub const UNARY_EXP: u32 = 3;
/// `ln(x)` (`-inf` at 0, NaN below).
pub const UNARY_LOG: u32 = 4;
/// `sqrt(x)`.
pub const UNARY_SQRT: u32 = 5;
/// `erf(x)`.
pub const UNARY_ERF: u32 = 6;
/// `-x`.
pub const UNARY_NEG: u32 = 7;
/// `|x|`.
pub const UNARY_ABS: u32 = 8;
/// `1 / x`.
pub const UNARY_RECIPROCAL: u32 = 9;
/// `floor(x)`.
pub const UNARY_FLOOR: u32 = 10;
/// `ceil(x)`.
pub const UNARY_CEIL: u32 = 11;
/// `x` if `x >= 0` else `alpha · x`.
pub const UNARY_LEAKY_RELU: u32 = 12;
/// `max(0, min(1, alpha · x + beta))`.
pub const UNARY_HARD_SIGMOID: u32 = 13;
/// `x · max(0, min(1, x / 6 + 0.5))`.
pub const UNARY_HARD_SWISH: u32 = 14;
/// `x` if `x > 0` else `alpha · (e^x - 1)`.
pub const UNARY_ELU: u32 = 15;
/// ONNX Selu with `alpha = alpha`, `gamma = beta`: `gamma · x` if `x > 0` else
/// `gamma · alpha · (e^x - 1)`.
pub const UNARY_SELU: u32 = 16;
/// `ln(1 + e^x)`, without overflow for large `x`.
pub const UNARY_SOFTPLUS: u32 = 17;
/// `min(max(x, alpha), beta)` (`alpha = min`, `beta = max`; NaN propagates).
pub const UNARY_CLIP: u32 = 18;
/// `x · sigmoid(x)` (SiLU / Swish).
pub const UNARY_SILU: u32 = 19;
/// Round half to even.
pub const UNARY_ROUND: u32 = 20;
/// `-1`, `0` or `1` (NaN propagates).
pub const UNARY_SIGN: u32 = 21;
/// `x / (1 + |x|)`.
pub const UNARY_SOFTSIGN: u32 = 22;
/// Exact Gelu `0.5 · x · (1 + erf(x / √2))` (ONNX `approximate = "none"`).
pub const UNARY_GELU: u32 = 23;
/// `sin(x)`.
pub const UNARY_SIN: u32 = 24;
/// `cos(x)`.
pub const UNARY_COS: u32 = 25;
/// `x` if `x > alpha` else 0 (ThresholdedRelu).
pub const UNARY_THRESHOLDED_RELU: u32 = 26;
/// `x · tanh(softplus(x))` (Mish).
pub const UNARY_MISH: u32 = 27;
/// Tanh-approximated Gelu `0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 x³)))`.
pub const UNARY_GELU_TANH: u32 = 28;
/// `x` (Identity, Dropout at inference).
pub const UNARY_IDENTITY: u32 = 29;
/// Largest valid unary op code.
pub const UNARY_LAST: u32 = UNARY_IDENTITY;

kernel_params! {
/// Unary op over `n` contiguous floats, `#[repr(C)]`. `x` may equal `y` (in place); otherwise
/// they must not overlap.
#[derive(Clone, Copy, Debug)]
pub struct UnaryParams {
    /// One of the `UNARY_*` codes.
    pub op: u32,
    /// Input.
    pub x: *const f32,
    /// Output.
    pub y: *mut f32,
    /// Number of elements.
    pub n: usize,
    /// First op parameter (see the op's doc); 0 when unused.
    pub alpha: f32,
    /// Second op parameter; 0 when unused.
    pub beta: f32,
}
}

/// Unary entry point for generated code.
///
/// # Safety
/// `p` points to a valid [`UnaryParams`]; `x` and `y` hold `n` floats and are equal or disjoint.
/// An unknown `op` aborts.
#[no_mangle]
pub unsafe extern "C" fn bqml_unary(p: *const UnaryParams) {
    // SAFETY: the caller guarantees `p` points to a valid UnaryParams.
    let p = unsafe { &*p };
    if p.op > UNARY_LAST {
        abort_bad_params(format_args!("bqml_unary: unknown op {}", p.op));
    }
    // SAFETY: forwarded caller contract.
    unsafe { unary_raw(detected(), p) }
}

/// Safe wrapper: `y[i] = op(x[i])`; `x.len() == y.len()`.
pub fn unary(
    isa: Isa,
    op: u32,
    alpha: f32,
    beta: f32,
    x: &[f32],
    y: &mut [f32],
) -> Result<(), KernelError> {
    if op > UNARY_LAST {
        return Err(KernelError::new(format!("unary: unknown op {op}")));
    }
    if x.len() != y.len() {
        return Err(KernelError::new(format!(
            "unary: x has {} elements, y {}",
            x.len(),
            y.len()
        )));
    }
    let p = UnaryParams {
        op,
        x: x.as_ptr(),
        y: y.as_mut_ptr(),
        n: x.len(),
        alpha,
        beta,
    };
    // SAFETY: both slices hold `n` floats and are distinct borrows.
    unsafe { unary_raw(isa.or_portable(), &p) };
    Ok(())
}

/// Safe in-place wrapper: `x[i] = op(x[i])`.
pub fn unary_inplace(
    isa: Isa,
    op: u32,
    alpha: f32,
    beta: f32,
    x: &mut [f32],
) -> Result<(), KernelError> {
    if op > UNARY_LAST {
        return Err(KernelError::new(format!("unary: unknown op {op}")));
    }
    let p = UnaryParams {
        op,
        x: x.as_ptr(),
        y: x.as_mut_ptr(),
        n: x.len(),
        alpha,
        beta,
    };
    // SAFETY: `x` holds `n` floats; in-place is allowed.
    unsafe { unary_raw(isa.or_portable(), &p) };
    Ok(())
}

/// # Safety
/// As [`bqml_unary`] with a valid op and a runnable `isa`.
pub(crate) unsafe fn unary_raw(isa: Isa, p: &UnaryParams) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: forwarded contract; AVX2+FMA availability is the caller's guarantee (the
        // AVX-512 tier implies it and runs the AVX2 code).
        Isa::Avx2Fma | Isa::Avx512 => unsafe { avx2::unary(p) },
        // SAFETY: forwarded contract.
        _ => unsafe { portable(p) },
    }
}

/// `y[i] = f(x[i])`.
///
/// # Safety
/// `x`, `y` hold `n` floats, equal or disjoint.
#[inline(always)]
unsafe fn map(p: &UnaryParams, f: impl Fn(f32) -> f32) {
    for i in 0..p.n {
        // SAFETY: `i < n`; element `i` is read before it is (possibly in place) written.
        unsafe { *p.y.add(i) = f(*p.x.add(i)) };
    }
}

/// One loop per op with the op constant-folded, so the simple ones vectorise.
///
/// # Safety
/// As [`unary_raw`].
unsafe fn portable(p: &UnaryParams) {
    let (a, b) = (p.alpha, p.beta);
    macro_rules! per_op {
        ($($op:ident),*) => {
            match p.op {
                // SAFETY: forwarded.
                $($op => unsafe { map(p, |v| reference::apply($op, a, b, v)) },)*
                _ => {}
            }
        };
    }
    per_op!(
        UNARY_RELU,
        UNARY_SIGMOID,
        UNARY_TANH,
        UNARY_EXP,
        UNARY_LOG,
        UNARY_SQRT,
        UNARY_ERF,
        UNARY_NEG,
        UNARY_ABS,
        UNARY_RECIPROCAL,
        UNARY_FLOOR,
        UNARY_CEIL,
        UNARY_LEAKY_RELU,
        UNARY_HARD_SIGMOID,
        UNARY_HARD_SWISH,
        UNARY_ELU,
        UNARY_SELU,
        UNARY_SOFTPLUS,
        UNARY_CLIP,
        UNARY_SILU,
        UNARY_ROUND,
        UNARY_SIGN,
        UNARY_SOFTSIGN,
        UNARY_GELU,
        UNARY_SIN,
        UNARY_COS,
        UNARY_THRESHOLDED_RELU,
        UNARY_MISH,
        UNARY_GELU_TANH,
        UNARY_IDENTITY
    );
}

/// Scalar reference: each op evaluated in f64 where it is transcendental, rounded once.
pub mod reference {
    use super::*;

    /// NaN-propagating `min(max(v, lo), hi)`.
    #[inline]
    pub fn clamp(v: f32, lo: f32, hi: f32) -> f32 {
        if v < lo {
            lo
        } else if v > hi {
            hi
        } else {
            v
        }
    }

    #[inline]
    fn sigmoid64(x: f64) -> f64 {
        if x >= 0.0 {
            1.0 / (1.0 + (-x).exp())
        } else {
            let e = x.exp();
            e / (1.0 + e)
        }
    }

    #[inline]
    fn softplus64(x: f64) -> f64 {
        if x > 0.0 {
            x + (-x).exp().ln_1p()
        } else {
            x.exp().ln_1p()
        }
    }

    /// `op(x)` with parameters `alpha`, `beta`; unknown ops give NaN.
    #[inline(always)]
    pub fn apply(op: u32, alpha: f32, beta: f32, x: f32) -> f32 {
        let d = x as f64;
        match op {
            UNARY_RELU => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            UNARY_SIGMOID => sigmoid64(d) as f32,
            UNARY_TANH => d.tanh() as f32,
            UNARY_EXP => d.exp() as f32,
            UNARY_LOG => d.ln() as f32,
            UNARY_SQRT => x.sqrt(),
            UNARY_ERF => libm::erf(d) as f32,
            UNARY_NEG => -x,
            UNARY_ABS => x.abs(),
            UNARY_RECIPROCAL => 1.0 / x,
            UNARY_FLOOR => x.floor(),
            UNARY_CEIL => x.ceil(),
            UNARY_LEAKY_RELU => {
                if x >= 0.0 {
                    x
                } else {
                    alpha * x
                }
            }
            UNARY_HARD_SIGMOID => clamp(alpha * x + beta, 0.0, 1.0),
            UNARY_HARD_SWISH => x * clamp(x * (1.0 / 6.0) + 0.5, 0.0, 1.0),
            UNARY_ELU => {
                if x > 0.0 {
                    x
                } else {
                    (alpha as f64 * d.exp_m1()) as f32
                }
            }
            UNARY_SELU => {
                if x > 0.0 {
                    beta * x
                } else {
                    (beta as f64 * alpha as f64 * d.exp_m1()) as f32
                }
            }
            UNARY_SOFTPLUS => softplus64(d) as f32,
            UNARY_CLIP => clamp(x, alpha, beta),
            // The limit at -inf is -0 (the product form would give NaN).
            UNARY_SILU if x == f32::NEG_INFINITY => -0.0,
            UNARY_SILU => (d * sigmoid64(d)) as f32,
            UNARY_ROUND => x.round_ties_even(),
            UNARY_SIGN => {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    x * 0.0
                }
            }
            UNARY_SOFTSIGN => x / (1.0 + x.abs()),
            UNARY_GELU => (0.5 * d * (1.0 + libm::erf(d * std::f64::consts::FRAC_1_SQRT_2))) as f32,
            UNARY_SIN => d.sin() as f32,
            UNARY_COS => d.cos() as f32,
            UNARY_THRESHOLDED_RELU => {
                if x > alpha || x.is_nan() {
                    x
                } else {
                    0.0
                }
            }
            UNARY_MISH => (d * softplus64(d).tanh()) as f32,
            UNARY_GELU_TANH => {
                let k = (2.0 / std::f64::consts::PI).sqrt();
                (0.5 * d * (1.0 + (k * (d + 0.044715 * d * d * d)).tanh())) as f32
            }
            UNARY_IDENTITY => x,
            _ => f32::NAN,
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::super::vmath;
    use super::*;
    use std::arch::x86_64::*;

    /// Apply `$f` (an expression of the 8-lane vector `$v`) over the whole array; the tail is
    /// processed with masked loads/stores.
    macro_rules! map8 {
        ($p:expr, |$v:ident| $f:expr) => {{
            let p = $p;
            let mut i = 0;
            while i + 8 <= p.n {
                // SAFETY: `i + 8 <= n`; each block is loaded before it is stored (in place ok).
                let $v = unsafe { _mm256_loadu_ps(p.x.add(i)) };
                let r = $f;
                // SAFETY: as above.
                unsafe { _mm256_storeu_ps(p.y.add(i), r) };
                i += 8;
            }
            if i < p.n {
                let m = super::super::vmath::first_lanes((p.n - i) as isize);
                // SAFETY: masked to the `n - i` remaining elements.
                let $v = unsafe { _mm256_maskload_ps(p.x.add(i), m) };
                let r = $f;
                // SAFETY: as above.
                unsafe { _mm256_maskstore_ps(p.y.add(i), m, r) };
            }
        }};
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn s(v: f32) -> __m256 {
        _mm256_set1_ps(v)
    }

    /// NaN-propagating clamp: `max`/`min` return their second operand when either is NaN.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn clamp(x: __m256, lo: __m256, hi: __m256) -> __m256 {
        _mm256_min_ps(hi, _mm256_max_ps(lo, x))
    }

    /// # Safety
    /// As [`unary_raw`]; AVX2+FMA available.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn unary(p: &UnaryParams) {
        let (a, b) = (p.alpha, p.beta);
        let zero = _mm256_setzero_ps();
        match p.op {
            UNARY_RELU => map8!(p, |v| _mm256_max_ps(zero, v)),
            UNARY_SIGMOID => map8!(p, |v| vmath::sigmoid(v)),
            UNARY_TANH => map8!(p, |v| vmath::tanh(v)),
            UNARY_EXP => map8!(p, |v| vmath::exp(v)),
            UNARY_SQRT => map8!(p, |v| _mm256_sqrt_ps(v)),
            UNARY_ERF => map8!(p, |v| vmath::erf(v)),
            UNARY_NEG => map8!(p, |v| _mm256_xor_ps(v, s(-0.0))),
            UNARY_ABS => map8!(p, |v| _mm256_andnot_ps(s(-0.0), v)),
            UNARY_RECIPROCAL => map8!(p, |v| _mm256_div_ps(s(1.0), v)),
            UNARY_FLOOR => map8!(p, |v| _mm256_floor_ps(v)),
            UNARY_CEIL => map8!(p, |v| _mm256_ceil_ps(v)),
            UNARY_ROUND => map8!(p, |v| _mm256_round_ps::<
                { _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC },
            >(v)),
            UNARY_LEAKY_RELU => map8!(p, |v| {
                let neg = _mm256_cmp_ps::<_CMP_LT_OQ>(v, zero);
                _mm256_blendv_ps(v, _mm256_mul_ps(v, s(a)), neg)
            }),
            UNARY_HARD_SIGMOID => {
                map8!(p, |v| clamp(_mm256_fmadd_ps(v, s(a), s(b)), zero, s(1.0)))
            }
            UNARY_HARD_SWISH => map8!(p, |v| {
                let g = clamp(_mm256_fmadd_ps(v, s(1.0 / 6.0), s(0.5)), zero, s(1.0));
                _mm256_mul_ps(v, g)
            }),
            UNARY_ELU => map8!(p, |v| {
                let pos = _mm256_cmp_ps::<_CMP_GT_OQ>(v, zero);
                _mm256_blendv_ps(_mm256_mul_ps(s(a), vmath::expm1(v)), v, pos)
            }),
            UNARY_SELU => map8!(p, |v| {
                let pos = _mm256_cmp_ps::<_CMP_GT_OQ>(v, zero);
                let neg = _mm256_mul_ps(s(a * b), vmath::expm1(v));
                _mm256_blendv_ps(neg, _mm256_mul_ps(s(b), v), pos)
            }),
            UNARY_CLIP => map8!(p, |v| clamp(v, s(a), s(b))),
            UNARY_SILU => map8!(p, |v| vmath::silu(v)),
            UNARY_SOFTSIGN => map8!(p, |v| {
                _mm256_div_ps(v, _mm256_add_ps(s(1.0), _mm256_andnot_ps(s(-0.0), v)))
            }),
            UNARY_GELU => map8!(p, |v| {
                let e = vmath::erf(_mm256_mul_ps(v, s(std::f32::consts::FRAC_1_SQRT_2)));
                _mm256_mul_ps(_mm256_mul_ps(s(0.5), v), _mm256_add_ps(s(1.0), e))
            }),
            UNARY_GELU_TANH => map8!(p, |v| {
                let v3 = _mm256_mul_ps(_mm256_mul_ps(v, v), v);
                let inner = _mm256_mul_ps(s(0.797_884_6), _mm256_fmadd_ps(v3, s(0.044_715), v));
                let t = vmath::tanh(inner);
                _mm256_mul_ps(_mm256_mul_ps(s(0.5), v), _mm256_add_ps(s(1.0), t))
            }),
            UNARY_IDENTITY => {
                if !std::ptr::eq(p.x, p.y) {
                    // SAFETY: `n` floats each, disjoint by contract.
                    unsafe { std::ptr::copy_nonoverlapping(p.x, p.y, p.n) };
                }
            }
            _ => {
                // Log, Softplus, Sin, Cos, Mish, ThresholdedRelu, Sign: scalar.
                for i in 0..p.n {
                    // SAFETY: `i < n`; read before write.
                    unsafe { *p.y.add(i) = reference::apply(p.op, a, b, *p.x.add(i)) };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Inputs covering each function's interesting range densely, plus specials.
    fn dense(lo: f32, hi: f32, steps: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..=steps)
            .map(|i| lo + (hi - lo) * (i as f32 / steps as f32))
            .collect();
        v.extend([
            0.0,
            -0.0,
            1e-30,
            -1e-30,
            1e-7,
            -1e-7,
            f32::MIN_POSITIVE,
            1e-40,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
        ]);
        // Log-spaced magnitudes from 1e-38 to the range end, both signs.
        let top = lo.abs().max(hi.abs()).log10();
        let mut e = -38.0f32;
        while e < top {
            let m = 10f32.powf(e);
            if m >= lo && m <= hi {
                v.push(m);
            }
            if -m >= lo && -m <= hi {
                v.push(-m);
            }
            e += 1e-3;
        }
        v
    }

    /// Max relative error of the AVX2 path against an f64 function over `xs`, for results of
    /// magnitude >= `f32::MIN_POSITIVE`; smaller (subnormal) results must be within 2 units of the
    /// smallest subnormal. Infinities and NaNs must match exactly.
    fn max_rel_err(op: u32, xs: &[f32], f: impl Fn(f64) -> f64) -> f64 {
        let mut y = vec![0f32; xs.len()];
        // alpha = 1 makes Elu = expm1 on the negative side.
        unary(Isa::Avx2Fma, op, 1.0, 0.0, xs, &mut y).unwrap();
        let mut worst = 0f64;
        for (&x, &got) in xs.iter().zip(&y) {
            let want = f(x as f64);
            let w32 = want as f32;
            if !w32.is_finite() || w32 == 0.0 {
                let ok = if w32.is_nan() {
                    got.is_nan()
                } else {
                    got == w32 || (got.abs() as f64) < 3.0 * 1.4e-45
                };
                assert!(ok, "op {op} x {x:e}: got {got:e}, want {want:e}");
                continue;
            }
            if want.abs() < f32::MIN_POSITIVE as f64 {
                let err = (got as f64 - want).abs();
                assert!(
                    err <= 2.0 * 1.401_298_5e-45,
                    "op {op} x {x:e}: got {got:e}, want {want:e}"
                );
                continue;
            }
            let err = ((got as f64 - want) / want).abs();
            assert!(
                err.is_finite(),
                "op {op} x {x:e}: got {got:e}, want {want:e}"
            );
            worst = worst.max(err);
        }
        worst
    }

    fn sig64(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    /// Measured maxima (1M-point linear grid plus log-spaced magnitudes down to 1e-38):
    /// exp 7.98e-8, sigmoid 1.21e-7, silu 1.28e-7, tanh 1.16e-7, erf 1.05e-7, expm1 (Elu with
    /// alpha 1) 8.19e-8. The asserted limits are these rounded up. One f32 ulp is 5.96e-8 to
    /// 1.19e-7 relative.
    #[test]
    fn avx2_transcendentals_accuracy() {
        if !Isa::avx2_fma_available() {
            // The portable path is covered by `portable_matches_reference`.
            assert_eq!(Isa::Avx2Fma.or_portable(), Isa::Portable);
            return;
        }
        let xs = dense(-110.0, 90.0, 1 << 20);
        let e = max_rel_err(UNARY_EXP, &xs, f64::exp);
        assert!(e < 1.0e-7, "exp {e:e}");
        let xs = dense(-120.0, 120.0, 1 << 20);
        let s = max_rel_err(UNARY_SIGMOID, &xs, sig64);
        assert!(s < 1.3e-7, "sigmoid {s:e}");
        let si = max_rel_err(UNARY_SILU, &xs, |x| {
            if x == f64::NEG_INFINITY {
                -0.0
            } else {
                x * sig64(x)
            }
        });
        assert!(si < 1.4e-7, "silu {si:e}");
        let xs = dense(-12.0, 12.0, 1 << 20);
        let t = max_rel_err(UNARY_TANH, &xs, f64::tanh);
        assert!(t < 1.3e-7, "tanh {t:e}");
        let xs = dense(-6.0, 6.0, 1 << 20);
        let r = max_rel_err(UNARY_ERF, &xs, libm::erf);
        assert!(r < 1.2e-7, "erf {r:e}");
        let xs: Vec<f32> = dense(-100.0, 0.0, 1 << 20);
        let m = max_rel_err(UNARY_ELU, &xs, |x| if x > 0.0 { x } else { x.exp_m1() });
        assert!(m < 1.0e-7, "expm1 {m:e}");
        eprintln!(
            "max rel err: exp {e:e} sigmoid {s:e} silu {si:e} tanh {t:e} erf {r:e} expm1 {m:e}"
        );
    }

    #[test]
    fn nan_propagates_on_every_op_and_isa() {
        for isa in Isa::all_available() {
            for op in 0..=UNARY_LAST {
                let x = [f32::NAN; 11];
                let mut y = [0f32; 11];
                unary(isa, op, 0.5, 2.0, &x, &mut y).unwrap();
                assert!(y.iter().all(|v| v.is_nan()), "op {op} {isa:?}: {y:?}");
            }
        }
    }

    #[test]
    fn onnx_definitions() {
        let r = |op, a, b, x| reference::apply(op, a, b, x);
        assert_eq!(r(UNARY_HARD_SWISH, 0.0, 0.0, 3.0), 3.0);
        assert_eq!(r(UNARY_HARD_SWISH, 0.0, 0.0, -3.0), -0.0);
        assert_eq!(r(UNARY_HARD_SWISH, 0.0, 0.0, 1.5), 1.5 * 0.75);
        assert_eq!(r(UNARY_HARD_SIGMOID, 0.2, 0.5, 1.0), 0.7);
        assert_eq!(r(UNARY_CLIP, -1.0, 6.0, 7.0), 6.0);
        assert_eq!(r(UNARY_CLIP, -1.0, 6.0, -7.0), -1.0);
        assert_eq!(r(UNARY_LEAKY_RELU, 0.1, 0.0, -2.0), -0.2);
        let selu = r(UNARY_SELU, 1.673_263_2, 1.050_701, -1.0);
        assert!((selu - (1.050_701 * 1.673_263_2 * ((-1f32).exp() - 1.0))).abs() < 1e-6);
        assert_eq!(r(UNARY_SELU, 1.673_263_2, 1.050_701, 2.0), 2.0 * 1.050_701);
        assert_eq!(r(UNARY_ROUND, 0.0, 0.0, 2.5), 2.0);
        assert_eq!(r(UNARY_ROUND, 0.0, 0.0, -1.5), -2.0);
        assert_eq!(r(UNARY_SOFTPLUS, 0.0, 0.0, 100.0), 100.0);
        assert!((r(UNARY_SOFTPLUS, 0.0, 0.0, 0.0) - std::f32::consts::LN_2).abs() < 1e-7);
        assert_eq!(r(UNARY_THRESHOLDED_RELU, 1.0, 0.0, 1.0), 0.0);
        assert_eq!(r(UNARY_THRESHOLDED_RELU, 1.0, 0.0, 1.5), 1.5);
        assert_eq!(r(UNARY_SIGN, 0.0, 0.0, -3.0), -1.0);
        assert_eq!(r(UNARY_SIGN, 0.0, 0.0, 0.0), 0.0);
    }

    #[test]
    fn inplace_and_length_mismatch() {
        let mut x = [-1.0f32, 2.0, -3.0, 4.0, -5.0, 6.0, -7.0, 8.0, -9.0];
        for isa in Isa::all_available() {
            let mut v = x;
            unary_inplace(isa, UNARY_RELU, 0.0, 0.0, &mut v).unwrap();
            assert_eq!(v, [0.0, 2.0, 0.0, 4.0, 0.0, 6.0, 0.0, 8.0, 0.0]);
        }
        let mut y = [0f32; 3];
        assert!(unary(Isa::Portable, UNARY_EXP, 0.0, 0.0, &x, &mut y).is_err());
        assert!(unary_inplace(Isa::Portable, UNARY_LAST + 1, 0.0, 0.0, &mut x).is_err());
    }

    /// Per-op tolerance of the AVX2 path relative to the f64 reference: exact ops must match
    /// bit for bit (up to the sign of zero); composed transcendental ops get a few ulp.
    fn tolerance(op: u32, x: f32, want: f32) -> f32 {
        let ulp = f32::EPSILON * want.abs().max(f32::MIN_POSITIVE);
        match op {
            UNARY_GELU | UNARY_GELU_TANH => 4.0 * ulp + 2.0 * f32::EPSILON * x.abs(),
            UNARY_ELU | UNARY_SELU => 4.0 * ulp + 1e-30,
            UNARY_SIGMOID | UNARY_TANH | UNARY_EXP | UNARY_ERF | UNARY_SILU => 2.0 * ulp,
            // The AVX2 path fuses `alpha · x + beta` into one FMA.
            UNARY_HARD_SIGMOID | UNARY_HARD_SWISH => {
                2.0 * f32::EPSILON * (1.0 + x.abs()) * (1.0 + x.abs())
            }
            _ => 0.0,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn every_isa_matches_reference(
            op in 0..=UNARY_LAST,
            xs in proptest::collection::vec(-30.0f32..30.0, 0..40),
            alpha in -2.0f32..2.0,
            beta in -2.0f32..2.0,
        ) {
            let (alpha, beta) = if op == UNARY_CLIP { (alpha.min(beta), alpha.max(beta)) } else { (alpha, beta) };
            for isa in Isa::all_available() {
                let mut y = vec![0f32; xs.len()];
                unary(isa, op, alpha, beta, &xs, &mut y).unwrap();
                for (&x, &got) in xs.iter().zip(&y) {
                    let want = reference::apply(op, alpha, beta, x);
                    let tol = if isa == Isa::Portable { 0.0 } else { tolerance(op, x, want) };
                    prop_assert!(
                        (got - want).abs() <= tol || (got.is_nan() && want.is_nan()),
                        "op {} {:?} x {:e}: got {:e} want {:e}", op, isa, x, got, want
                    );
                }
            }
        }
    }
}
