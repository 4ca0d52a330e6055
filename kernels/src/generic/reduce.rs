//! Reductions over any subset of axes (ReduceSum/Mean/Max/Min/Prod/L1/L2/SumSquare/LogSum/
//! LogSumExp).

use super::common::{
    abort_bad_params, detected, for_each_run, normalize, shape_array, Strided, StridedMut, MAX_RANK,
};
use crate::error::KernelError;
use crate::isa::Isa;
use crate::params::kernel_params;

/// `Σ x` (empty: 0).
pub const REDUCE_SUM: u32 = 0;
/// `Σ x / count` (empty: NaN).
pub const REDUCE_MEAN: u32 = 1;
/// `max x` (empty: -inf; NaN propagates).
pub const REDUCE_MAX: u32 = 2;
/// `min x` (empty: +inf; NaN propagates).
pub const REDUCE_MIN: u32 = 3;
/// `Π x` (empty: 1).
pub const REDUCE_PROD: u32 = 4;
/// `Σ |x|`.
pub const REDUCE_L1: u32 = 5;
/// `sqrt(Σ x²)`.
pub const REDUCE_L2: u32 = 6;
/// `Σ x²`.
pub const REDUCE_SUM_SQUARE: u32 = 7;
/// `ln(Σ x)` (empty: -inf).
pub const REDUCE_LOG_SUM: u32 = 8;
/// `ln(Σ e^x)`, computed as `m + ln(Σ e^(x - m))` with `m = max x` (empty: -inf).
pub const REDUCE_LOG_SUM_EXP: u32 = 9;
/// Largest valid reduce op code.
pub const REDUCE_LAST: u32 = REDUCE_LOG_SUM_EXP;

kernel_params! {
/// Reduction of `x` (input `shape`) over the axes in `reduce_mask`, `#[repr(C)]`. The output is
/// addressed with the *input's* axes: `y_strides` has the output strides on kept axes and 0 on
/// reduced axes (so keepdims and not-keepdims layouts are the same call). `y` must not overlap
/// `x`.
#[derive(Clone, Copy, Debug)]
pub struct ReduceParams {
    /// One of the `REDUCE_*` codes.
    pub op: u32,
    /// Number of input axes (`<= MAX_RANK`).
    pub rank: usize,
    /// Input shape.
    pub shape: [usize; MAX_RANK],
    /// Input origin.
    pub x: *const f32,
    /// Input strides (elements).
    pub x_strides: [isize; MAX_RANK],
    /// Bit `i` set: axis `i` is reduced.
    pub reduce_mask: u32,
    /// Output origin.
    pub y: *mut f32,
    /// Output strides per input axis (ignored on reduced axes).
    pub y_strides: [isize; MAX_RANK],
}
}

/// Reduce entry point for generated code.
///
/// # Safety
/// `p` points to a valid [`ReduceParams`]; every addressed input and output element is inside
/// its tensor. An unknown op or rank aborts.
#[no_mangle]
pub unsafe extern "C" fn bqml_reduce(p: *const ReduceParams) {
    // SAFETY: the caller guarantees `p` points to a valid ReduceParams.
    let p = unsafe { &*p };
    if p.op > REDUCE_LAST || p.rank > MAX_RANK {
        abort_bad_params(format_args!("bqml_reduce: op {} rank {}", p.op, p.rank));
    }
    // SAFETY: forwarded caller contract.
    unsafe { reduce_raw(detected(), p) }
}

/// Safe wrapper. `y.strides` are per input axis; they must be 0 on reduced axes.
pub fn reduce(
    isa: Isa,
    op: u32,
    shape: &[usize],
    reduce_mask: u32,
    x: Strided<'_, f32>,
    mut y: StridedMut<'_, f32>,
) -> Result<(), KernelError> {
    if op > REDUCE_LAST {
        return Err(KernelError::new(format!("reduce: unknown op {op}")));
    }
    if reduce_mask >> shape.len().min(31) != 0 && shape.len() < 32 {
        return Err(KernelError::new(format!(
            "reduce: mask {reduce_mask:#b} has axes beyond rank {}",
            shape.len()
        )));
    }
    x.check(shape, "reduce x")?;
    let mut out_shape = shape.to_vec();
    for (i, n) in out_shape.iter_mut().enumerate() {
        if reduce_mask & (1 << i) != 0 {
            if y.strides[i] != 0 {
                return Err(KernelError::new(format!(
                    "reduce: y stride of reduced axis {i} must be 0"
                )));
            }
            *n = 1;
        }
    }
    y.check(&out_shape, "reduce y")?;
    let p = ReduceParams {
        op,
        rank: shape.len(),
        shape: shape_array(shape),
        x: x.origin(),
        x_strides: x.strides,
        reduce_mask,
        y: y.origin(),
        y_strides: y.strides,
    };
    // SAFETY: extents checked; `y` is a distinct mutable borrow.
    unsafe { reduce_raw(isa.or_portable(), &p) };
    Ok(())
}

/// NaN-propagating max / min.
#[inline(always)]
fn fmax(a: f32, b: f32) -> f32 {
    if a.is_nan() || a > b {
        a
    } else {
        b
    }
}

#[inline(always)]
fn fmin(a: f32, b: f32) -> f32 {
    if a.is_nan() || a < b {
        a
    } else {
        b
    }
}

/// What is accumulated per element.
#[derive(Clone, Copy, PartialEq)]
enum Acc {
    Sum,
    Max,
    Min,
    Prod,
    Abs,
    Square,
    /// `e^(x - shift)`.
    ExpShifted(f32),
}

impl Acc {
    fn of(op: u32) -> Acc {
        match op {
            REDUCE_MAX => Acc::Max,
            REDUCE_MIN => Acc::Min,
            REDUCE_PROD => Acc::Prod,
            REDUCE_L1 => Acc::Abs,
            REDUCE_L2 | REDUCE_SUM_SQUARE => Acc::Square,
            _ => Acc::Sum,
        }
    }

    #[inline(always)]
    fn init(self) -> f32 {
        match self {
            Acc::Max => f32::NEG_INFINITY,
            Acc::Min => f32::INFINITY,
            Acc::Prod => 1.0,
            _ => 0.0,
        }
    }

    #[inline(always)]
    fn step(self, acc: f32, x: f32) -> f32 {
        match self {
            Acc::Sum => acc + x,
            Acc::Max => fmax(acc, x),
            Acc::Min => fmin(acc, x),
            Acc::Prod => acc * x,
            Acc::Abs => acc + x.abs(),
            Acc::Square => acc + x * x,
            Acc::ExpShifted(m) => acc + (x - m).exp(),
        }
    }

    /// Combine two partial accumulators.
    #[inline(always)]
    fn merge(self, a: f32, b: f32) -> f32 {
        match self {
            Acc::Max => fmax(a, b),
            Acc::Min => fmin(a, b),
            Acc::Prod => a * b,
            _ => a + b,
        }
    }
}

/// Final value from the accumulator (`max` is the LogSumExp shift).
#[inline]
fn finish(op: u32, acc: f32, count: usize, max: f32) -> f32 {
    match op {
        REDUCE_MEAN => acc / count as f32,
        REDUCE_L2 => acc.sqrt(),
        REDUCE_LOG_SUM => acc.ln(),
        REDUCE_LOG_SUM_EXP => {
            if max.is_finite() {
                max + acc.ln()
            } else {
                max
            }
        }
        _ => acc,
    }
}

/// Accumulate `n` elements at stride `s` from `x` into `acc`. Unit-stride runs use 8 partial
/// accumulators (vectorisable, and more accurate than one serial sum).
///
/// # Safety
/// The `n` elements are valid.
#[inline(always)]
unsafe fn reduce_run(k: Acc, x: *const f32, s: isize, n: usize, acc: f32) -> f32 {
    if s == 1 && n >= 16 {
        let mut lanes = [k.init(); 8];
        let mut i = 0;
        while i + 8 <= n {
            for (l, lane) in lanes.iter_mut().enumerate() {
                // SAFETY: `i + l < n`.
                *lane = k.step(*lane, unsafe { *x.add(i + l) });
            }
            i += 8;
        }
        let mut acc = k.merge(acc, lanes.iter().fold(k.init(), |a, &b| k.merge(a, b)));
        for j in i..n {
            // SAFETY: `j < n`.
            acc = k.step(acc, unsafe { *x.add(j) });
        }
        acc
    } else {
        let mut acc = acc;
        for i in 0..n as isize {
            // SAFETY: `i < n`.
            acc = k.step(acc, unsafe { *x.offset(i * s) });
        }
        acc
    }
}

/// Kept and reduced axes of the input, each with its strides.
struct Split {
    kept_rank: usize,
    kept_shape: [usize; MAX_RANK],
    /// `[x strides, y strides]` of the kept axes.
    kept_strides: [[isize; MAX_RANK]; 2],
    red_rank: usize,
    red_shape: [usize; MAX_RANK],
    red_strides: [[isize; MAX_RANK]; 1],
    count: usize,
}

fn split(p: &ReduceParams) -> Split {
    let mut s = Split {
        kept_rank: 0,
        kept_shape: [1; MAX_RANK],
        kept_strides: [[0; MAX_RANK]; 2],
        red_rank: 0,
        red_shape: [1; MAX_RANK],
        red_strides: [[0; MAX_RANK]],
        count: 1,
    };
    for i in 0..p.rank {
        if p.reduce_mask & (1 << i) != 0 {
            s.red_shape[s.red_rank] = p.shape[i];
            s.red_strides[0][s.red_rank] = p.x_strides[i];
            s.red_rank += 1;
            s.count = s.count.saturating_mul(p.shape[i]);
        } else {
            s.kept_shape[s.kept_rank] = p.shape[i];
            s.kept_strides[0][s.kept_rank] = p.x_strides[i];
            s.kept_strides[1][s.kept_rank] = p.y_strides[i];
            s.kept_rank += 1;
        }
    }
    s
}

/// # Safety
/// As [`bqml_reduce`] with a valid op; `isa` runnable.
pub(crate) unsafe fn reduce_raw(isa: Isa, p: &ReduceParams) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: forwarded; AVX2 availability is the caller's guarantee (the AVX-512 tier
        // implies it and runs the AVX2 code).
        Isa::Avx2Fma | Isa::Avx512 => unsafe { reduce_avx2(p) },
        // SAFETY: forwarded.
        _ => unsafe { reduce_generic(p) },
    }
}

/// # Safety
/// As [`reduce_raw`]; AVX2+FMA available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn reduce_avx2(p: &ReduceParams) {
    // SAFETY: forwarded.
    unsafe { reduce_generic(p) }
}

/// # Safety
/// As [`reduce_raw`].
#[inline(always)]
unsafe fn reduce_generic(p: &ReduceParams) {
    let mut s = split(p);
    let Some(kept_rank) = normalize(s.kept_rank, &mut s.kept_shape, &mut s.kept_strides) else {
        return;
    };
    let red_rank = normalize(s.red_rank, &mut s.red_shape, &mut s.red_strides);
    let op = p.op;
    let k = Acc::of(op);
    let last = kept_rank.max(1) - 1;
    let row_mode = kept_rank >= 1
        && s.kept_strides[0][last] == 1
        && s.kept_strides[1][last] == 1
        && s.kept_shape[last] >= 8
        && red_rank.is_some();
    if row_mode {
        // Kept innermost axis contiguous in x and y: accumulate whole rows elementwise.
        let w = s.kept_shape[last];
        let red_rank = red_rank.unwrap_or(0);
        let mut outer = s.kept_shape;
        outer[last] = 1;
        let mut scratch = if op == REDUCE_LOG_SUM_EXP {
            vec![0f32; w]
        } else {
            Vec::new()
        };
        for_each_run(kept_rank, &outer, &s.kept_strides, |[xo, yo], _| {
            let y = p.y.wrapping_offset(yo);
            let x = p.x.wrapping_offset(xo);
            // SAFETY: the row's `w` outputs and every addressed input are valid by contract.
            unsafe { reduce_rows(op, k, x, y, w, red_rank, &s, &mut scratch) };
        });
        return;
    }
    for_each_run(kept_rank, &s.kept_shape, &s.kept_strides, |[xo, yo], n| {
        let (sx, sy) = (s.kept_strides[0][last], s.kept_strides[1][last]);
        for j in 0..n as isize {
            let x = p.x.wrapping_offset(xo + j * sx);
            let Some(red_rank) = red_rank else {
                // Empty reduction.
                // SAFETY: a valid output element.
                unsafe { *p.y.offset(yo + j * sy) = finish(op, k.init(), 0, f32::NEG_INFINITY) };
                continue;
            };
            let max = if op == REDUCE_LOG_SUM_EXP {
                let mut m = f32::NEG_INFINITY;
                for_each_run(red_rank, &s.red_shape, &s.red_strides, |[o], n| {
                    // SAFETY: addressed input elements are valid.
                    m = unsafe {
                        reduce_run(
                            Acc::Max,
                            x.offset(o),
                            s.red_strides[0][red_rank.max(1) - 1],
                            n,
                            m,
                        )
                    };
                });
                m
            } else {
                0.0
            };
            let kk = if op == REDUCE_LOG_SUM_EXP {
                Acc::ExpShifted(max)
            } else {
                k
            };
            let mut acc = kk.init();
            let rs = s.red_strides[0][red_rank.max(1) - 1];
            for_each_run(red_rank, &s.red_shape, &s.red_strides, |[o], n| {
                // SAFETY: addressed input elements are valid.
                acc = unsafe { reduce_run(kk, x.offset(o), rs, n, acc) };
            });
            // SAFETY: a valid output element.
            unsafe { *p.y.offset(yo + j * sy) = finish(op, acc, s.count, max) };
        }
    });
}

/// Reduce `w`-wide contiguous rows: `y[j] = op over the reduced axes of x[.. + j]`.
///
/// # Safety
/// `y[..w]` and every `x` row addressed through the reduced axes are valid.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn reduce_rows(
    op: u32,
    k: Acc,
    x: *const f32,
    y: *mut f32,
    w: usize,
    red_rank: usize,
    s: &Split,
    scratch: &mut [f32],
) {
    // SAFETY: `y` holds `w` floats not aliased by `x`.
    let y = unsafe { std::slice::from_raw_parts_mut(y, w) };
    let red_last = red_rank.max(1) - 1;
    let rs = s.red_strides[0][red_last];
    // Visit every reduced row start, in order.
    let each_row = |f: &mut dyn FnMut(&[f32])| {
        for_each_run(red_rank, &s.red_shape, &s.red_strides, |[o], n| {
            for r in 0..n as isize {
                // SAFETY: a row of `w` valid inputs.
                let row = unsafe { std::slice::from_raw_parts(x.offset(o + r * rs), w) };
                f(row);
            }
        });
    };
    if op == REDUCE_LOG_SUM_EXP {
        y.fill(f32::NEG_INFINITY);
        each_row(&mut |row| {
            for (a, &v) in y.iter_mut().zip(row) {
                *a = fmax(*a, v);
            }
        });
        scratch.fill(0.0);
        each_row(&mut |row| {
            for ((a, &v), &m) in scratch.iter_mut().zip(row).zip(y.iter()) {
                *a += (v - m).exp();
            }
        });
        for (m, &a) in y.iter_mut().zip(scratch.iter()) {
            *m = finish(op, a, s.count, *m);
        }
        return;
    }
    y.fill(k.init());
    match k {
        Acc::Sum => each_row(&mut |row| y.iter_mut().zip(row).for_each(|(a, &v)| *a += v)),
        Acc::Square => each_row(&mut |row| y.iter_mut().zip(row).for_each(|(a, &v)| *a += v * v)),
        _ => each_row(&mut |row| y.iter_mut().zip(row).for_each(|(a, &v)| *a = k.step(*a, v))),
    }
    if !matches!(
        op,
        REDUCE_SUM | REDUCE_MAX | REDUCE_MIN | REDUCE_PROD | REDUCE_L1 | REDUCE_SUM_SQUARE
    ) {
        for a in y.iter_mut() {
            *a = finish(op, *a, s.count, 0.0);
        }
    }
}

/// Scalar reference in f64 (max/min exact).
pub mod reference {
    use super::*;

    /// Reduce over the masked axes of a strided `x`; `y` is indexed like [`ReduceParams::y`].
    #[allow(clippy::too_many_arguments)]
    pub fn reduce(
        op: u32,
        shape: &[usize],
        mask: u32,
        x: &[f32],
        xo: usize,
        xs: &[isize; MAX_RANK],
        y: &mut [f32],
        yo: usize,
        ys: &[isize; MAX_RANK],
    ) {
        let total: usize = shape.iter().product();
        let count: usize = (0..shape.len())
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| shape[i])
            .product();
        let mut groups: std::collections::BTreeMap<isize, Vec<f64>> = Default::default();
        let mut out_shape = shape.to_vec();
        for (i, n) in out_shape.iter_mut().enumerate() {
            if mask & (1 << i) != 0 {
                *n = 1;
            }
        }
        // Every output element exists even when the reduction is empty.
        let out_total: usize = if shape.contains(&0) && out_shape.contains(&0) {
            0
        } else {
            out_shape.iter().product()
        };
        for flat in 0..out_total {
            let mut rem = flat;
            let mut iy = yo as isize;
            for ax in (0..shape.len()).rev() {
                iy += (rem % out_shape[ax]) as isize * ys[ax];
                rem /= out_shape[ax];
            }
            groups.entry(iy).or_default();
        }
        for flat in 0..total {
            let mut rem = flat;
            let (mut ix, mut iy) = (xo as isize, yo as isize);
            for ax in (0..shape.len()).rev() {
                let i = (rem % shape[ax]) as isize;
                rem /= shape[ax];
                ix += i * xs[ax];
                if mask & (1 << ax) == 0 {
                    iy += i * ys[ax];
                }
            }
            groups.entry(iy).or_default().push(x[ix as usize] as f64);
        }
        for (iy, v) in groups {
            let nan = v.iter().any(|a| a.is_nan());
            let r = match op {
                REDUCE_SUM => v.iter().sum(),
                REDUCE_MEAN => v.iter().sum::<f64>() / count as f64,
                REDUCE_MAX if nan => f64::NAN,
                REDUCE_MAX => v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                REDUCE_MIN if nan => f64::NAN,
                REDUCE_MIN => v.iter().copied().fold(f64::INFINITY, f64::min),
                REDUCE_PROD => v.iter().product(),
                REDUCE_L1 => v.iter().map(|a| a.abs()).sum(),
                REDUCE_L2 => v.iter().map(|a| a * a).sum::<f64>().sqrt(),
                REDUCE_SUM_SQUARE => v.iter().map(|a| a * a).sum(),
                REDUCE_LOG_SUM => v.iter().sum::<f64>().ln(),
                _ => v.iter().map(|a| a.exp()).sum::<f64>().ln(),
            };
            y[iy as usize] = r as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::contiguous_strides;
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    struct Case {
        shape: Vec<usize>,
        mask: u32,
        transposed: bool,
        keepdims: bool,
    }

    fn case() -> impl Strategy<Value = Case> {
        (0usize..=4)
            .prop_flat_map(|r| {
                (
                    proptest::collection::vec(0usize..=12, r),
                    0u32..(1 << r),
                    any::<bool>(),
                    any::<bool>(),
                )
            })
            .prop_map(|(shape, mask, transposed, keepdims)| Case {
                shape,
                mask,
                transposed,
                keepdims,
            })
    }

    fn run(c: &Case, op: u32, seed: u32) {
        let r = c.shape.len();
        let total: usize = c.shape.iter().product();
        let x: Vec<f32> = (0..total)
            .map(|i| {
                let h = (i as u32).wrapping_mul(2_654_435_761) ^ seed;
                let u = (h % 1000) as f32 / 1000.0;
                match op {
                    // Keep products and log-sums well conditioned.
                    REDUCE_PROD => 0.99 + 0.02 * u,
                    REDUCE_LOG_SUM => 4.0 * u,
                    _ => 4.0 * u - 2.0,
                }
            })
            .collect();
        let xs = if c.transposed {
            // Store x with reversed axis order.
            let rev: Vec<usize> = c.shape.iter().rev().copied().collect();
            let cs = contiguous_strides(&rev);
            let mut s = [0; MAX_RANK];
            for i in 0..r {
                s[i] = cs[r - 1 - i];
            }
            s
        } else {
            contiguous_strides(&c.shape)
        };
        let kept: Vec<usize> = (0..r)
            .filter(|&i| c.mask & (1 << i) == 0 || c.keepdims)
            .map(|i| {
                if c.mask & (1 << i) != 0 {
                    1
                } else {
                    c.shape[i]
                }
            })
            .collect();
        let ks = contiguous_strides(&kept);
        let mut ys = [0isize; MAX_RANK];
        let mut k = 0;
        for (i, y) in ys.iter_mut().enumerate().take(r) {
            if c.mask & (1 << i) == 0 {
                *y = ks[k];
                k += 1;
            } else if c.keepdims {
                k += 1;
            }
        }
        let ylen: usize = kept.iter().product();
        let mut want = vec![-7.0f32; ylen];
        reference::reduce(op, &c.shape, c.mask, &x, 0, &xs, &mut want, 0, &ys);
        for isa in Isa::all_available() {
            let mut got = vec![-7.0f32; ylen];
            reduce(
                isa,
                op,
                &c.shape,
                c.mask,
                Strided {
                    data: &x,
                    offset: 0,
                    strides: xs,
                },
                StridedMut {
                    data: &mut got,
                    offset: 0,
                    strides: ys,
                },
            )
            .unwrap();
            for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                let tol = 1e-5 * (1.0 + w.abs()) * (1.0 + (total as f32).sqrt());
                let ok = g == w || (g.is_nan() && w.is_nan()) || (g - w).abs() <= tol;
                assert!(ok, "op {op} {isa:?} {c:?} at {i}: got {g} want {w}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn matches_reference(c in case(), op in 0..=REDUCE_LAST, seed in any::<u32>()) {
            run(&c, op, seed);
        }
    }

    #[test]
    fn empty_reductions_and_nan() {
        for (op, want) in [
            (REDUCE_SUM, 0.0),
            (REDUCE_MAX, f32::NEG_INFINITY),
            (REDUCE_MIN, f32::INFINITY),
            (REDUCE_PROD, 1.0),
            (REDUCE_LOG_SUM_EXP, f32::NEG_INFINITY),
        ] {
            let mut y = [5.0f32; 3];
            reduce(
                Isa::Portable,
                op,
                &[3, 0],
                0b10,
                Strided::contiguous(&[], &[3, 0]),
                StridedMut {
                    data: &mut y,
                    offset: 0,
                    strides: [1, 0, 0, 0, 0, 0],
                },
            )
            .unwrap();
            assert_eq!(y, [want; 3], "op {op}");
        }
        let mut y = [0f32; 1];
        reduce(
            Isa::Portable,
            REDUCE_MEAN,
            &[0],
            1,
            Strided::contiguous(&[], &[0]),
            StridedMut {
                data: &mut y,
                offset: 0,
                strides: [0; MAX_RANK],
            },
        )
        .unwrap();
        assert!(y[0].is_nan());
        let x = [1.0, f32::NAN, 3.0];
        for isa in Isa::all_available() {
            let mut y = [0f32; 1];
            reduce(
                isa,
                REDUCE_MAX,
                &[3],
                1,
                Strided::contiguous(&x, &[3]),
                StridedMut {
                    data: &mut y,
                    offset: 0,
                    strides: [0; MAX_RANK],
                },
            )
            .unwrap();
            assert!(y[0].is_nan());
        }
        let mut y = [0f32; 2];
        let e = reduce(
            Isa::Portable,
            REDUCE_SUM,
            &[2, 3],
            0b10,
            Strided::contiguous(&[0.0; 6], &[2, 3]),
            StridedMut {
                data: &mut y,
                offset: 0,
                strides: [1, 1, 0, 0, 0, 0],
            },
        );
        assert!(e.is_err(), "nonzero y stride on a reduced axis");
    }

    #[test]
    fn log_sum_exp_is_stable() {
        let x = [1000.0f32, 1000.0, 999.0];
        let mut y = [0f32; 1];
        reduce(
            Isa::detect(),
            REDUCE_LOG_SUM_EXP,
            &[3],
            1,
            Strided::contiguous(&x, &[3]),
            StridedMut {
                data: &mut y,
                offset: 0,
                strides: [0; MAX_RANK],
            },
        )
        .unwrap();
        let want = 1000.0 + (2.0f64 + (-1.0f64).exp()).ln();
        assert!((y[0] as f64 - want).abs() < 1e-3, "{}", y[0]);
    }
}
