//! 8-lane AVX2+FMA transcendental functions, accurate to a few ulp over the whole f32 range.
//!
//! Every function propagates NaN inputs unchanged and handles ±inf and subnormal results; the
//! measured error bounds are asserted by the tests in `unary.rs`.

use std::arch::x86_64::*;

#[inline]
#[target_feature(enable = "avx2,fma")]
fn splat(v: f32) -> __m256 {
    _mm256_set1_ps(v)
}

/// `2^n` for integer lanes `n` in `[-126, 127]`, built from the exponent bits.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn pow2i(n: __m256i) -> __m256 {
    _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
        n,
        _mm256_set1_epi32(127),
    )))
}

/// `r` as NaN where `x` is NaN (returns `x`'s NaN).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn keep_nan(x: __m256, r: __m256) -> __m256 {
    _mm256_blendv_ps(r, x, _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x))
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn abs(x: __m256) -> __m256 {
    _mm256_andnot_ps(splat(-0.0), x)
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn sign_bit(x: __m256) -> __m256 {
    _mm256_and_ps(splat(-0.0), x)
}

/// `ln 2` split so that `n · LN2_HI` is exact inside an FMA for the `n` used here.
const LN2_HI: f32 = std::f32::consts::LN_2;
const LN2_LO: f32 = -1.904_654_3e-9;

/// `x = n ln2 + r`, `|r| <= ln2 / 2`; returns `(n, r)`. `r` is exact up to the `LN2_LO` term.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn reduce_ln2(x: __m256) -> (__m256, __m256) {
    let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(
        x,
        splat(std::f32::consts::LOG2_E),
    ));
    let r = _mm256_fnmadd_ps(n, splat(LN2_HI), x);
    (n, _mm256_fnmadd_ps(n, splat(LN2_LO), r))
}

/// `(e^r - 1 - r) / r²` for `|r| <= ln2 / 2`: Taylor series to `r^6 / 8!` (truncation < 6e-10).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn expm1_tail(r: __m256) -> __m256 {
    let mut p = splat(2.480_158_7e-5);
    p = _mm256_fmadd_ps(p, r, splat(1.984_127e-4));
    p = _mm256_fmadd_ps(p, r, splat(1.388_888_9e-3));
    p = _mm256_fmadd_ps(p, r, splat(8.333_334e-3));
    p = _mm256_fmadd_ps(p, r, splat(4.166_666_8e-2));
    p = _mm256_fmadd_ps(p, r, splat(0.166_666_67));
    _mm256_fmadd_ps(p, r, splat(0.5))
}

/// `e^x`. Overflows to `+inf` above ~88.72, gradual underflow below ~-87.34, `0` below
/// ~-103.97.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn exp(x: __m256) -> __m256 {
    let y = exp_scaled::<0>(x, -104.0);
    let zero = _mm256_cmp_ps::<_CMP_LT_OQ>(x, splat(-103.972_08));
    keep_nan(x, _mm256_andnot_ps(zero, y))
}

/// `e^x · 2^SHIFT` for `x` clamped to `[lo, 89]`; the caller keeps `n + SHIFT` within
/// `[-152, 252]` (n = round(x / ln2)). No NaN handling.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn exp_scaled<const SHIFT: i32>(x: __m256, lo: f32) -> __m256 {
    let xc = _mm256_min_ps(_mm256_max_ps(x, splat(lo)), splat(89.0));
    let (n, r) = reduce_ln2(xc);
    let r2 = _mm256_mul_ps(r, r);
    let y = _mm256_add_ps(splat(1.0), _mm256_fmadd_ps(expm1_tail(r), r2, r));
    // Scale in two exact steps so subnormal results round only once.
    let ni = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(SHIFT));
    let n1 = _mm256_srai_epi32::<1>(ni);
    let n2 = _mm256_sub_epi32(ni, n1);
    _mm256_mul_ps(_mm256_mul_ps(y, pow2i(n1)), pow2i(n2))
}

/// `e^x - 1` without cancellation near 0, for `x` in `[-88, 88]` (clamped outside).
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn expm1(x: __m256) -> __m256 {
    let xc = _mm256_min_ps(_mm256_max_ps(x, splat(-88.0)), splat(88.0));
    let (n, r) = reduce_ln2(xc);
    let em = _mm256_fmadd_ps(expm1_tail(r), _mm256_mul_ps(r, r), r);
    // e^x - 1 = 2^n · expm1(r) + (2^n - 1); 2^n - 1 is exact for |n| <= 24, and for larger |n|
    // its rounding is below the result's ulp.
    let s = pow2i(_mm256_cvtps_epi32(n));
    keep_nan(x, _mm256_fmadd_ps(s, em, _mm256_sub_ps(s, splat(1.0))))
}

/// `(num + num_lo) / (den + den_lo)` for `den >= 1`: one division plus a first-order correction
/// for the low parts and the division's own rounding (`rcp` is precise enough for a correction
/// term of relative size ~1e-7). Where the correction is NaN (infinite operands) the plain
/// quotient is kept.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn div_refined(num: __m256, num_lo: __m256, den: __m256, den_lo: __m256) -> __m256 {
    let q = _mm256_div_ps(num, den);
    let r = _mm256_fnmadd_ps(q, den, num);
    let c = _mm256_add_ps(r, _mm256_fnmadd_ps(q, den_lo, num_lo));
    let refined = _mm256_fmadd_ps(c, _mm256_rcp_ps(den), q);
    _mm256_blendv_ps(refined, q, _mm256_cmp_ps::<_CMP_UNORD_Q>(refined, refined))
}

/// `1 + e` as an exact high/low pair, `0 <= e <= 1`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn one_plus(e: __m256) -> (__m256, __m256) {
    let hi = _mm256_add_ps(splat(1.0), e);
    (hi, _mm256_add_ps(_mm256_sub_ps(splat(1.0), hi), e))
}

/// `1 / (1 + e^-x)`, evaluated as `e^x / (1 + e^x)` for negative `x` so tiny results stay
/// accurate.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn sigmoid(x: __m256) -> __m256 {
    let e = exp(_mm256_or_ps(abs(x), splat(-0.0)));
    let neg = _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_setzero_ps());
    let num = _mm256_blendv_ps(splat(1.0), e, neg);
    let (d, d_lo) = one_plus(e);
    keep_nan(x, div_refined(num, _mm256_setzero_ps(), d, d_lo))
}

/// `x · sigmoid(x)`. Below -80, where `e^x` loses precision as a subnormal but `x · e^x` may not,
/// the product is formed at a `2^64` scale and rounded once.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn silu(x: __m256) -> __m256 {
    let e = exp(_mm256_or_ps(abs(x), splat(-0.0)));
    let neg = _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_setzero_ps());
    // Clamping keeps -inf · 0 from producing NaN; the product is 0 long before -1e30.
    let xc = _mm256_max_ps(x, splat(-1e30));
    let xe = _mm256_mul_ps(xc, e);
    let xe_lo = _mm256_fmsub_ps(xc, e, xe);
    let num = _mm256_blendv_ps(x, xe, neg);
    let num_lo = _mm256_and_ps(xe_lo, neg);
    let (d, d_lo) = one_plus(e);
    let y = div_refined(num, num_lo, d, d_lo);
    let tiny = _mm256_cmp_ps::<_CMP_LT_OQ>(x, splat(-80.0));
    let y = if _mm256_movemask_ps(tiny) != 0 {
        // x in [-150, -80]: n + 64 in [-153, -51]; below -150 the result is 0 anyway.
        let xm = _mm256_max_ps(x, splat(-150.0));
        let scaled = _mm256_mul_ps(xm, exp_scaled::<64>(xm, -150.0));
        let t = _mm256_mul_ps(scaled, splat(f32::from_bits((127 - 64) << 23)));
        _mm256_blendv_ps(y, t, tiny)
    } else {
        y
    };
    keep_nan(x, y)
}

/// `tanh(x) = sign(x) · t / (t + 2)` with `t = expm1(2|x|)`; `|x| >= 10` gives exactly ±1.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn tanh(x: __m256) -> __m256 {
    let a = _mm256_min_ps(abs(x), splat(10.0));
    let t = expm1(_mm256_add_ps(a, a));
    // t + 2 as an exact pair (Fast2Sum on the larger and smaller operand).
    let (big, small) = (_mm256_max_ps(t, splat(2.0)), _mm256_min_ps(t, splat(2.0)));
    let d = _mm256_add_ps(big, small);
    let d_lo = _mm256_sub_ps(small, _mm256_sub_ps(d, big));
    let y = div_refined(t, _mm256_setzero_ps(), d, d_lo);
    keep_nan(x, _mm256_or_ps(y, sign_bit(x)))
}

/// erf(x) = x·(C0_HI + (C0_LO + u·Q(u))), u = x², |x| < 1; Q coefficients, constant first.
#[rustfmt::skip]
const ERF_SMALL_C0: [f32; 2] = [std::f32::consts::FRAC_2_SQRT_PI, -5.8669354e-8];
#[rustfmt::skip]
const ERF_SMALL_Q: [f32; 7] = [-0.37612638, 0.11283782, -0.02686543, 0.0052210316, -0.00084840803, 0.00011265959, -9.667045e-6];
/// erf(a), 1 <= a < 4, in 0.5-wide intervals i = floor(2a) - 2: t = a - ERF_MID[i],
/// erf = HI[i] + (LO[i] + t·P_i(t)), P_i coefficients ERF_P[k][i], constant first.
#[rustfmt::skip]
const ERF_MID: [f32; 8] = [1.25, 1.75, 2.25, 2.75, 3.25, 3.75, 3.75, 3.75];
#[rustfmt::skip]
const ERF_HI: [f32; 8] = [0.92290014, 0.9866717, 0.9985373, 0.9998994, 0.9999957, 0.9999999, 0.9999999, 0.9999999];
#[rustfmt::skip]
const ERF_LO: [f32; 8] = [-1.2029034e-8, -1.4953303e-8, -1.8603894e-8, -9.281739e-9, -1.124504e-8, 5.482033e-9, 5.482033e-9, 5.482033e-9];
#[rustfmt::skip]
const ERF_P: [[f32; 8]; 8] = [
    [0.23652112, 0.052774996, 0.0071423193, 0.0005862773, 2.9189012e-5, 8.8142883e-7, 8.8142883e-7, 8.8142883e-7],
    [-0.2956514, -0.09235624, -0.016070217, -0.0016122625, -9.486433e-5, -3.3053693e-6, -3.3053693e-6, -3.3053693e-6],
    [0.16753589, 0.09015739, 0.021724513, 0.0027603803, 0.00019581264, 7.970327e-6, 7.970327e-6, 7.970327e-6],
    [-0.0061593144, -0.04810226, -0.019083384, -0.0032581075, -0.0002865696, -1.3841539e-5, -1.3841539e-5, -1.3841539e-5],
    [-0.04718656, 0.0066184727, 0.010660062, 0.0027562906, 0.00031362879, 1.833008e-5, 1.833008e-5, 1.833008e-5],
    [0.021296086, 0.008965909, -0.0029042633, -0.001657689, -0.0002635147, -1.925549e-5, -1.925549e-5, -1.925549e-5],
    [0.0037451868, -0.005933097, -0.0007215428, 0.0006358191, 0.00017359722, 1.7144524e-5, 1.7144524e-5, 1.7144524e-5],
    [-0.005586789, 0.00066868996, 0.0009975857, -8.129269e-5, -8.195002e-5, -1.1495462e-5, -1.1495462e-5, -1.1495462e-5],
];

/// `erf(x)`: an odd polynomial for `|x| < 1`, piecewise polynomials on `[1, 4)` looked up per
/// lane, and ±1 beyond (where `erf` rounds to 1 in f32). Leading coefficients are split in
/// high/low parts so the result is rounded essentially once.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn erf(x: __m256) -> __m256 {
    let a = abs(x);
    // |x| < 1.
    let u = _mm256_mul_ps(x, x);
    let mut q = splat(ERF_SMALL_Q[6]);
    for &c in ERF_SMALL_Q[..6].iter().rev() {
        q = _mm256_fmadd_ps(q, u, splat(c));
    }
    let tail = _mm256_mul_ps(x, _mm256_fmadd_ps(u, q, splat(ERF_SMALL_C0[1])));
    let small = _mm256_fmadd_ps(x, splat(ERF_SMALL_C0[0]), tail);
    // 1 <= |x| < 4, interval i = floor(2|x|) - 2 selected per lane.
    let ac = _mm256_min_ps(_mm256_max_ps(a, splat(1.0)), splat(3.999_999_8));
    let idx = _mm256_sub_epi32(
        _mm256_cvttps_epi32(_mm256_add_ps(ac, ac)),
        _mm256_set1_epi32(2),
    );
    let t = _mm256_sub_ps(ac, lookup(&ERF_MID, idx));
    let mut p = lookup(&ERF_P[7], idx);
    for row in ERF_P[..7].iter().rev() {
        p = _mm256_fmadd_ps(p, t, lookup(row, idx));
    }
    let big = _mm256_add_ps(
        lookup(&ERF_HI, idx),
        _mm256_fmadd_ps(t, p, lookup(&ERF_LO, idx)),
    );
    let big = _mm256_or_ps(_mm256_min_ps(big, splat(1.0)), sign_bit(x));
    let y = _mm256_blendv_ps(big, small, _mm256_cmp_ps::<_CMP_LT_OQ>(a, splat(1.0)));
    keep_nan(x, y)
}

/// `table[idx[lane]]` per lane (`idx` in `0..8`).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn lookup(table: &[f32; 8], idx: __m256i) -> __m256 {
    // SAFETY: `table` holds 8 readable f32s.
    let t = unsafe { _mm256_loadu_ps(table.as_ptr()) };
    _mm256_permutevar8x32_ps(t, idx)
}

/// Lane mask selecting the first `n` of 8 lanes (`n` may exceed 8 or be negative). Kept here
/// rather than shared with the conv epilogue so the generic kernels build on their own.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn first_lanes(n: isize) -> __m256i {
    let n = n.clamp(0, 8) as i32;
    _mm256_cmpgt_epi32(
        _mm256_set1_epi32(n),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    )
}

/// 16-lane versions for AVX-512 code.
pub(crate) mod avx512 {
    use super::{ERF_HI, ERF_LO, ERF_MID, ERF_P, ERF_SMALL_C0, ERF_SMALL_Q};
    use std::arch::x86_64::*;

    /// `table[idx[lane]]` per lane (`idx` in `0..8`).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn lookup(table: &[f32; 8], idx: __m512i) -> __m512 {
        // SAFETY: `table` holds 8 readable f32s; the upper half of the register is unused.
        let t = _mm512_castps256_ps512(unsafe { _mm256_loadu_ps(table.as_ptr()) });
        _mm512_permutexvar_ps(idx, t)
    }

    /// [`super::erf`] on 16 lanes: the same polynomials and intervals, the same accuracy.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) fn erf(x: __m512) -> __m512 {
        let s = _mm512_set1_ps;
        let a = _mm512_abs_ps(x);
        let u = _mm512_mul_ps(x, x);
        let mut q = s(ERF_SMALL_Q[6]);
        for &c in ERF_SMALL_Q[..6].iter().rev() {
            q = _mm512_fmadd_ps(q, u, s(c));
        }
        let tail = _mm512_mul_ps(x, _mm512_fmadd_ps(u, q, s(ERF_SMALL_C0[1])));
        let small = _mm512_fmadd_ps(x, s(ERF_SMALL_C0[0]), tail);
        let ac = _mm512_min_ps(_mm512_max_ps(a, s(1.0)), s(3.999_999_8));
        let idx = _mm512_sub_epi32(
            _mm512_cvttps_epi32(_mm512_add_ps(ac, ac)),
            _mm512_set1_epi32(2),
        );
        let t = _mm512_sub_ps(ac, lookup(&ERF_MID, idx));
        let mut p = lookup(&ERF_P[7], idx);
        for row in ERF_P[..7].iter().rev() {
            p = _mm512_fmadd_ps(p, t, lookup(row, idx));
        }
        let big = _mm512_add_ps(
            lookup(&ERF_HI, idx),
            _mm512_fmadd_ps(t, p, lookup(&ERF_LO, idx)),
        );
        // |big| with x's sign.
        let sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(i32::MIN));
        let big = _mm512_castsi512_ps(_mm512_or_si512(
            _mm512_castps_si512(_mm512_min_ps(big, s(1.0))),
            sign,
        ));
        let y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, s(1.0)), big, small);
        // NaN in, NaN out.
        _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x, x), y, x)
    }
}
