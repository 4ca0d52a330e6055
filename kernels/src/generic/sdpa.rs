//! Fused scaled dot-product attention, f32: `y = softmax(scale · q · kᵀ [softcap] + bias
//! [causal]) · v` per (batch, head), every operand read through (batch, head, row, feature)
//! strides, so 3-D packed `[b, s, h·d]` and 4-D `[b, h, s, d]` layouts need no copies.
//!
//! Work is split into units of `unit_rows` query rows of one (batch, head) — see
//! [`attention_units`] — that write disjoint output rows, so threads run units concurrently.
//! A unit copies its head's keys transposed (`[feature][key]`) and its values (`[key][feature]`)
//! into a thread-local scratch, then takes [`RB`] query rows at a time: scores as a
//! register-blocked `RB × 16` product, the softmax of each row (vector `exp`), and `P · V` as
//! another `RB × 16` product. One generic body is compiled three times, with AVX-512F, with
//! AVX2+FMA and for the baseline target, so each tier gets its own vector width.
//!
//! Softmax follows numpy: a row whose scores are all −∞ gives NaN, NaN propagates.

use crate::params::kernel_params;
use std::cell::RefCell;

use super::common::abort_bad_params;
use crate::error::KernelError;
use crate::isa::Isa;

/// Query rows per register block.
pub const RB: usize = 8;
/// Keys (and output features) per register block: one 16-lane vector.
const KB: usize = 16;

kernel_params! {
/// One attention op, `#[repr(C)]`. Strides are in elements, for (batch, head, row, feature)
/// (`k`, `v`: kv head and key; `bias`, `qk`: query and key as the last two).
#[derive(Clone, Copy, Debug)]
pub struct AttentionParams {
    /// Batch size.
    pub batch: usize,
    /// Query heads; a multiple of `kv_heads`.
    pub q_heads: usize,
    /// Key/value heads: query head `h` reads kv head `h / (q_heads / kv_heads)`.
    pub kv_heads: usize,
    /// Query rows per head.
    pub q_seq: usize,
    /// Keys per head.
    pub kv_seq: usize,
    /// Features of a query/key.
    pub head: usize,
    /// Features of a value (and of the output).
    pub v_head: usize,
    /// Query rows per work unit (0: all of a head's rows).
    pub unit_rows: usize,
    /// Queries.
    pub q: *const f32,
    /// Query strides.
    pub q_strides: [isize; 4],
    /// Keys.
    pub k: *const f32,
    /// Key strides.
    pub k_strides: [isize; 4],
    /// Values.
    pub v: *const f32,
    /// Value strides.
    pub v_strides: [isize; 4],
    /// Output; must not overlap the inputs.
    pub y: *mut f32,
    /// Output strides.
    pub y_strides: [isize; 4],
    /// Multiplies `q · k`.
    pub scale: f32,
    /// `> 0`: scores become `softcap · tanh(scores / softcap)` (after `scale`, before the bias).
    pub softcap: f32,
    /// Additive bias over (batch, head, query, key), or null; −∞ masks a key.
    pub bias: *const f32,
    /// Bias strides (0 on broadcast axes).
    pub bias_strides: [isize; 4],
    /// Nonzero: key `j` is masked for query `i` when `j > i + causal_offset`.
    pub causal: u32,
    /// Keys before the first query's own position (the cache length).
    pub causal_offset: usize,
    /// Optional extra output over (batch, head, query, key), or null.
    pub qk: *mut f32,
    /// `qk` strides.
    pub qk_strides: [isize; 4],
    /// What `qk` receives: 0 or 1 the scaled (softcapped) scores, 2 those plus bias and causal
    /// mask, 3 the softmax probabilities.
    pub qk_mode: u32,
}
}

impl AttentionParams {
    fn rows_per_unit(&self) -> usize {
        if self.unit_rows == 0 {
            self.q_seq.max(1)
        } else {
            self.unit_rows
        }
    }

    /// Why the params are unusable, if they are.
    fn invalid(&self) -> Option<&'static str> {
        if self.kv_heads == 0 || !self.q_heads.is_multiple_of(self.kv_heads) {
            return Some("q_heads must be a positive multiple of kv_heads");
        }
        if self.qk_mode > 3 {
            return Some("qk_mode must be 0..=3");
        }
        let total = [
            self.batch,
            self.q_heads,
            self.q_seq,
            self.kv_seq,
            self.head + self.v_head,
        ]
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d.max(1)));
        total.is_none().then_some("size overflow")
    }
}

/// Work units of one op: `batch · q_heads · ⌈q_seq / unit_rows⌉`.
pub fn attention_units(p: &AttentionParams) -> usize {
    p.batch * p.q_heads * p.q_seq.div_ceil(p.rows_per_unit())
}

/// Whole-op entry point for generated code.
///
/// # Safety
/// `p` points to valid [`AttentionParams`]; every element the strides address for indices
/// below the sizes lies inside its tensor; `y` and `qk` overlap no input. Invalid sizes abort.
#[no_mangle]
pub unsafe extern "C" fn bqml_attention(p: *const AttentionParams) {
    // SAFETY: the caller guarantees `p` points to valid params.
    let p = unsafe { &*p };
    // SAFETY: forwarded caller contract.
    unsafe { bqml_attention_rows(p, 0, attention_units(p)) }
}

/// Entry point over work units `[start, end)` (clamped to [`attention_units`]); concurrent
/// calls on the same op must take disjoint ranges.
///
/// # Safety
/// As [`bqml_attention`].
#[no_mangle]
pub unsafe extern "C" fn bqml_attention_rows(p: *const AttentionParams, start: usize, end: usize) {
    // SAFETY: the caller guarantees `p` points to valid params.
    let p = unsafe { &*p };
    if let Some(why) = p.invalid() {
        abort_bad_params(format_args!("bqml_attention: {why}"));
    }
    let isa = super::common::detected();
    for u in start..end.min(attention_units(p)) {
        // SAFETY: forwarded caller contract; `u` is a valid unit.
        unsafe { run_unit(isa, p, u) }
    }
}

/// Safe wrapper: `p`'s pointers are ignored and taken from the slices, after checking that
/// every addressed element lies inside its slice.
#[allow(clippy::too_many_arguments)]
pub fn attention(
    isa: Isa,
    p: &AttentionParams,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    qk: Option<&mut [f32]>,
) -> Result<(), KernelError> {
    if let Some(why) = p.invalid() {
        return Err(KernelError::new(format!("attention: {why}")));
    }
    let kvh = p.kv_heads;
    let checks: [(&str, usize, [usize; 4], [isize; 4]); 3] = [
        (
            "q",
            q.len(),
            [p.batch, p.q_heads, p.q_seq, p.head],
            p.q_strides,
        ),
        ("k", k.len(), [p.batch, kvh, p.kv_seq, p.head], p.k_strides),
        (
            "v",
            v.len(),
            [p.batch, kvh, p.kv_seq, p.v_head],
            p.v_strides,
        ),
    ];
    let within = |len: usize, dims: [usize; 4], st: [isize; 4]| -> bool {
        if dims.contains(&0) {
            return true;
        }
        let (mut lo, mut hi) = (0isize, 0isize);
        for (d, s) in dims.iter().zip(st) {
            let r = s * (*d as isize - 1);
            if r < 0 {
                lo += r
            } else {
                hi += r
            }
        }
        lo >= 0 && (hi as usize) < len
    };
    for (name, len, dims, st) in checks {
        if !within(len, dims, st) {
            return Err(KernelError::new(format!(
                "attention: {name} is out of bounds"
            )));
        }
    }
    let scores = [p.batch, p.q_heads, p.q_seq, p.kv_seq];
    if !within(
        y.len(),
        [p.batch, p.q_heads, p.q_seq, p.v_head],
        p.y_strides,
    ) {
        return Err(KernelError::new(
            "attention: y is out of bounds".to_string(),
        ));
    }
    if let Some(b) = bias {
        if !within(b.len(), scores, p.bias_strides) {
            return Err(KernelError::new(
                "attention: bias is out of bounds".to_string(),
            ));
        }
    }
    if let Some(o) = &qk {
        if !within(o.len(), scores, p.qk_strides) {
            return Err(KernelError::new(
                "attention: qk is out of bounds".to_string(),
            ));
        }
    }
    let mut c = *p;
    c.q = q.as_ptr();
    c.k = k.as_ptr();
    c.v = v.as_ptr();
    c.bias = bias.map_or(std::ptr::null(), |b| b.as_ptr());
    c.y = y.as_mut_ptr();
    c.qk = qk.map_or(std::ptr::null_mut(), |o| o.as_mut_ptr());
    for u in 0..attention_units(&c) {
        // SAFETY: bounds checked above; the slices do not overlap (borrow rules).
        unsafe { run_unit(isa.or_portable(), &c, u) }
    }
    Ok(())
}

/// Dispatches one unit to the tier's compiled body.
///
/// # Safety
/// As [`bqml_attention`], `u < attention_units(p)`, `isa` available on this CPU.
unsafe fn run_unit(isa: Isa, p: &AttentionParams, u: usize) {
    SCRATCH.with(|s| {
        let s = &mut s.borrow_mut();
        match isa {
            // SAFETY: the tier is available (caller contract); forwarded contract.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { unit_avx512(p, u, s) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => unsafe { unit_avx2(p, u, s) },
            // SAFETY: forwarded contract.
            _ => unsafe { unit_body::<false, false>(p, u, s) },
        }
    })
}

thread_local! {
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// # Safety
/// As [`run_unit`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
unsafe fn unit_avx512(p: &AttentionParams, u: usize, s: &mut Vec<f32>) {
    // SAFETY: forwarded.
    unsafe { unit_body::<true, true>(p, u, s) }
}

/// # Safety
/// As [`run_unit`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn unit_avx2(p: &AttentionParams, u: usize, s: &mut Vec<f32>) {
    // SAFETY: forwarded.
    unsafe { unit_body::<true, false>(p, u, s) }
}

/// `a · b + c`, fused where the tier has FMA.
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `exp(x)` to about 2 ulp, branch-free so that loops over it vectorise: `2^n · p(r)` with
/// `n = round(x · log2 e)`, `r = x − n · ln 2` (two-part ln 2), a degree-7 polynomial. `n` is
/// rounded with the `1.5 · 2^23` trick, which also leaves it as an integer in the low bits
/// (no saturating float→int conversion). Inputs above 88 give `e^88`; below −87.33 they give
/// 0 (no subnormal results: a masked key weighs exactly nothing); NaN stays NaN.
#[inline(always)]
fn exp<const FMA: bool>(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const P: [f32; 6] = [
        1.987_569_1e-4,
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        0.166_666_65,
        0.5,
    ];
    const MAGIC: f32 = 12_582_912.0;
    let (nan, zero) = (x.is_nan(), x < -87.33);
    let x = x.clamp(-87.33, 88.0);
    let t = madd::<FMA>(x, std::f32::consts::LOG2_E, MAGIC);
    let n = t - MAGIC;
    let ni = t.to_bits() as i32 - MAGIC.to_bits() as i32;
    let r = madd::<FMA>(-n, LN2_HI, x);
    let r = madd::<FMA>(-n, LN2_LO, r);
    let mut y = P[0];
    for c in &P[1..] {
        y = madd::<FMA>(y, r, *c);
    }
    let y = madd::<FMA>(y, r * r, r + 1.0);
    // n is in [-126, 127] after the clamp: 2^n is a normal float.
    let v = y * f32::from_bits(((ni + 127) as u32) << 23);
    if nan {
        f32::NAN
    } else if zero {
        0.0
    } else {
        v
    }
}

/// The largest value of `row`, NaN if it holds one (numpy's max), in KB lanes.
#[inline(always)]
fn row_max(row: &[f32]) -> f32 {
    let mut mx = [f32::NEG_INFINITY; KB];
    let mut nan = [false; KB];
    let mut chunks = row.chunks_exact(KB);
    for c in &mut chunks {
        for l in 0..KB {
            mx[l] = if c[l] > mx[l] { c[l] } else { mx[l] };
            nan[l] |= c[l].is_nan();
        }
    }
    let mut m = f32::NEG_INFINITY;
    let mut any_nan = nan.iter().any(|&x| x);
    for &x in chunks.remainder().iter().chain(&mx) {
        m = if x > m { x } else { m };
        any_nan |= x.is_nan();
    }
    if any_nan {
        f32::NAN
    } else {
        m
    }
}

/// One unit: (batch, head, row chunk).
///
/// # Safety
/// As [`run_unit`].
#[inline(always)]
unsafe fn unit_body<const FMA: bool, const WIDE: bool>(
    p: &AttentionParams,
    u: usize,
    scratch: &mut Vec<f32>,
) {
    let chunks = p.q_seq.div_ceil(p.rows_per_unit());
    let (bh, chunk) = (u / chunks, u % chunks);
    let (b, h) = (bh / p.q_heads, bh % p.q_heads);
    let kvh = h / (p.q_heads / p.kv_heads);
    let rows = chunk * p.rows_per_unit()..((chunk + 1) * p.rows_per_unit()).min(p.q_seq);
    let (n, d, dv) = (p.kv_seq, p.head, p.v_head);
    // Keys padded to 32 and value features to 64: whole blocks of the AVX-512 micro-kernels.
    let np = n.div_ceil(2 * KB) * 2 * KB;
    let dvp = dv.div_ceil(4 * KB) * 4 * KB;
    // Scratch: kᵀ [d][np], v [n][dvp], q block [RB][d], scores [RB][np], P·V block [RB][dvp].
    let need = d * np + n * dvp + RB * d + RB * np + RB * dvp;
    if scratch.len() < need {
        scratch.resize(need, 0.0);
    }
    let (kt, rest) = scratch.split_at_mut(d * np);
    let (vb, rest) = rest.split_at_mut(n * dvp);
    let (qb, rest) = rest.split_at_mut(RB * d);
    let (sc, rest) = rest.split_at_mut(RB * np);
    let ob = &mut rest[..RB * dvp];
    let at = |s: &[isize; 4], b: usize, h: usize, r: usize, f: usize| -> isize {
        b as isize * s[0] + h as isize * s[1] + r as isize * s[2] + f as isize * s[3]
    };
    // SAFETY (all reads and writes through p's pointers below): indices stay below the sizes,
    // which the caller guarantees addressable; scratch indices stay below `need`.
    // Whole blocks of 16 keys by vector gathers on the AVX-512 tier (strides fitting i32).
    let k_base = unsafe { p.k.offset(at(&p.k_strides, b, kvh, 0, 0)) };
    let gathered = if WIDE && i32::try_from(p.k_strides[2] * 15).is_ok() && p.k_strides[2] > 0 {
        let blocks = n / KB * KB;
        #[cfg(target_arch = "x86_64")]
        // SAFETY: keys 0..blocks and features 0..d are addressable; kt holds d·np floats.
        unsafe {
            avx512::transpose_keys(
                k_base,
                p.k_strides[2],
                p.k_strides[3],
                blocks,
                d,
                kt.as_mut_ptr(),
                np,
            )
        };
        blocks
    } else {
        0
    };
    for j in 0..n {
        let k0 = unsafe { p.k.offset(at(&p.k_strides, b, kvh, j, 0)) };
        if j >= gathered && p.k_strides[3] == 1 {
            // SAFETY: the key's `d` features are contiguous and addressable.
            let krow = unsafe { std::slice::from_raw_parts(k0, d) };
            for (e, &x) in krow.iter().enumerate() {
                kt[e * np + j] = x;
            }
        } else if j >= gathered {
            for e in 0..d {
                kt[e * np + j] = unsafe { *k0.offset(e as isize * p.k_strides[3]) };
            }
        }
        let vrow = &mut vb[j * dvp..(j + 1) * dvp];
        if p.v_strides[3] == 1 {
            // SAFETY: the row's `dv` elements are contiguous and addressable.
            let src = unsafe {
                std::slice::from_raw_parts(p.v.offset(at(&p.v_strides, b, kvh, j, 0)), dv)
            };
            vrow[..dv].copy_from_slice(src);
        } else {
            for (f, o) in vrow[..dv].iter_mut().enumerate() {
                *o = unsafe { *p.v.offset(at(&p.v_strides, b, kvh, j, f)) };
            }
        }
        vrow[dv..].fill(0.0);
    }
    for e in 0..d {
        kt[e * np + n..(e + 1) * np].fill(0.0);
    }
    // The AVX-512 row softmax covers the common case: no softcap, no score outputs, no
    // causal mask, a contiguous (or no) bias.
    #[cfg(target_arch = "x86_64")]
    let fast_softmax = WIDE
        && p.softcap == 0.0
        && p.qk.is_null()
        && p.causal == 0
        && (p.bias.is_null() || p.bias_strides[3] == 1);
    let mut i0 = rows.start;
    while i0 < rows.end {
        let nr = RB.min(rows.end - i0);
        for r in 0..RB {
            let qrow = &mut qb[r * d..(r + 1) * d];
            if r >= nr {
                qrow.fill(0.0);
                continue;
            }
            let q0 = unsafe { p.q.offset(at(&p.q_strides, b, h, i0 + r, 0)) };
            if p.q_strides[3] == 1 {
                // SAFETY: the query's `d` features are contiguous and addressable.
                qrow.copy_from_slice(unsafe { std::slice::from_raw_parts(q0, d) });
            } else {
                for (e, x) in qrow.iter_mut().enumerate() {
                    *x = unsafe { *q0.offset(e as isize * p.q_strides[3]) };
                }
            }
        }
        // Scores: RB rows × KB keys per block.
        #[cfg(target_arch = "x86_64")]
        if WIDE {
            // SAFETY: qb holds RB·d, kt d·np, sc RB·np floats; np is a multiple of 32.
            unsafe { avx512::scores(qb.as_ptr(), d, kt.as_ptr(), np, sc.as_mut_ptr()) };
        }
        for j0 in (0..np).step_by(KB).filter(|_| !WIDE) {
            let mut acc = [[0f32; KB]; RB];
            for e in 0..d {
                let kv: &[f32; KB] = (&kt[e * np + j0..e * np + j0 + KB])
                    .try_into()
                    .unwrap_or(&[0.0; KB]);
                for (r, a) in acc.iter_mut().enumerate() {
                    let qv = qb[r * d + e];
                    for l in 0..KB {
                        a[l] = madd::<FMA>(qv, kv[l], a[l]);
                    }
                }
            }
            for (r, a) in acc.iter().enumerate() {
                sc[r * np + j0..r * np + j0 + KB].copy_from_slice(a);
            }
        }
        // Softmax per row; `inv` keeps 1 / Σ so P·V scales once at the end. Loops are kept
        // branch-free and reductions run in KB lane accumulators so that they vectorise.
        let mut inv = [0f32; RB];
        for r in 0..nr {
            let i = i0 + r;
            let row = &mut sc[r * np..r * np + n];
            // The AVX-512 row softmax does the whole row when it can; for a NaN or a fully
            // masked row it leaves the biased scores, which the code below finishes with
            // numpy's NaN semantics.
            #[cfg(target_arch = "x86_64")]
            let biased = fast_softmax && {
                let b0 = if p.bias.is_null() {
                    std::ptr::null()
                } else {
                    unsafe { p.bias.offset(at(&p.bias_strides, b, h, i, 0)) }
                };
                // SAFETY: the row holds `n` floats; the bias row `n` contiguous ones.
                let sum = unsafe { avx512::softmax_row(row.as_mut_ptr(), n, p.scale, b0) };
                if let Some(sum) = sum {
                    inv[r] = 1.0 / sum;
                    sc[r * np + n..(r + 1) * np].fill(0.0);
                    continue;
                }
                true
            };
            #[cfg(not(target_arch = "x86_64"))]
            let biased = false;
            if !biased {
                row.iter_mut().for_each(|x| *x *= p.scale);
                if p.softcap > 0.0 {
                    row.iter_mut()
                        .for_each(|x| *x = p.softcap * (*x / p.softcap).tanh());
                }
                let write_qk = |row: &[f32], mode_ok: bool| {
                    if !p.qk.is_null() && mode_ok {
                        for (j, x) in row.iter().enumerate() {
                            unsafe { *p.qk.offset(at(&p.qk_strides, b, h, i, j)) = *x };
                        }
                    }
                };
                write_qk(row, p.qk_mode <= 1);
                if !p.bias.is_null() {
                    let b0 = unsafe { p.bias.offset(at(&p.bias_strides, b, h, i, 0)) };
                    if p.bias_strides[3] == 1 {
                        // SAFETY: the row's `n` bias values are contiguous and addressable.
                        let bias = unsafe { std::slice::from_raw_parts(b0, n) };
                        row.iter_mut().zip(bias).for_each(|(x, c)| *x += c);
                    } else {
                        for (j, x) in row.iter_mut().enumerate() {
                            *x += unsafe { *b0.offset(j as isize * p.bias_strides[3]) };
                        }
                    }
                }
                if p.causal != 0 && i + p.causal_offset + 1 < n {
                    row[i + p.causal_offset + 1..].fill(f32::NEG_INFINITY);
                }
                write_qk(row, p.qk_mode == 2);
            }
            let m = row_max(row);
            let mut lanes = [0f32; KB];
            let mut chunks = row.chunks_exact_mut(KB);
            for c in &mut chunks {
                for l in 0..KB {
                    c[l] = exp::<FMA>(c[l] - m);
                    lanes[l] += c[l];
                }
            }
            let mut sum = 0f32;
            for x in chunks.into_remainder() {
                *x = exp::<FMA>(*x - m);
                sum += *x;
            }
            inv[r] = 1.0 / (lanes.iter().sum::<f32>() + sum);
            if !p.qk.is_null() && p.qk_mode == 3 {
                for (j, x) in row.iter().enumerate() {
                    unsafe { *p.qk.offset(at(&p.qk_strides, b, h, i, j)) = x * inv[r] };
                }
            }
            sc[r * np + n..(r + 1) * np].fill(0.0);
        }
        // P · V: RB rows × KB features per block.
        #[cfg(target_arch = "x86_64")]
        if WIDE {
            // SAFETY: sc holds RB·np, vb n·dvp, ob RB·dvp floats; dvp is a multiple of 64.
            unsafe { avx512::pv(sc.as_ptr(), np, n, vb.as_ptr(), dvp, ob.as_mut_ptr()) };
            for r in 0..nr {
                let y0 = unsafe { p.y.offset(at(&p.y_strides, b, h, i0 + r, 0)) };
                let src = &ob[r * dvp..r * dvp + dv];
                if p.y_strides[3] == 1 {
                    // SAFETY: the output row's `dv` features are contiguous, addressable and
                    // written by this unit only.
                    let dst = unsafe { std::slice::from_raw_parts_mut(y0, dv) };
                    dst.iter_mut().zip(src).for_each(|(o, &x)| *o = x * inv[r]);
                } else {
                    for (f, &x) in src.iter().enumerate() {
                        unsafe { *y0.offset(f as isize * p.y_strides[3]) = x * inv[r] };
                    }
                }
            }
        }
        for f0 in (0..dvp).step_by(KB).filter(|_| !WIDE) {
            let mut acc = [[0f32; KB]; RB];
            for j in 0..n {
                let vv: &[f32; KB] = (&vb[j * dvp + f0..j * dvp + f0 + KB])
                    .try_into()
                    .unwrap_or(&[0.0; KB]);
                for (r, a) in acc.iter_mut().enumerate() {
                    let pr = sc[r * np + j];
                    for l in 0..KB {
                        a[l] = madd::<FMA>(pr, vv[l], a[l]);
                    }
                }
            }
            for (r, a) in acc.iter().enumerate().take(nr) {
                for (l, &x) in a.iter().enumerate().take(dv.saturating_sub(f0).min(KB)) {
                    unsafe { *p.y.offset(at(&p.y_strides, b, h, i0 + r, f0 + l)) = x * inv[r] };
                }
            }
        }
        i0 += nr;
    }
}

/// The AVX-512 micro-kernels: register-blocked products over the unit's scratch.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::RB;
    use std::arch::x86_64::*;

    /// `kt[e][j] = k[j·key_stride + e·feat_stride]` for `j < keys` (a multiple of 16), 16 keys
    /// per gather.
    ///
    /// # Safety
    /// Every addressed key element is readable; `kt` holds `d · np` floats, `keys <= np`;
    /// `15 · key_stride` fits an i32.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn transpose_keys(
        k: *const f32,
        key_stride: isize,
        feat_stride: isize,
        keys: usize,
        d: usize,
        kt: *mut f32,
        np: usize,
    ) {
        let ks = key_stride as i32;
        let idx = _mm512_mullo_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            _mm512_set1_epi32(ks),
        );
        for j0 in (0..keys).step_by(16) {
            for e in 0..d {
                // SAFETY: the 16 keys j0.. and feature e are addressable; j0 + 16 <= np.
                unsafe {
                    let base = k.offset(j0 as isize * key_stride + e as isize * feat_stride);
                    let v = _mm512_i32gather_ps::<4>(idx, base.cast());
                    _mm512_storeu_ps(kt.add(e * np + j0), v);
                }
            }
        }
    }

    /// `sc[r][j] = Σ_e qb[r][e] · kt[e][j]` for all RB rows and `np` keys (a multiple of 32),
    /// 32 keys × 8 rows (16 zmm accumulators) at a time.
    ///
    /// # Safety
    /// `qb` holds `RB · d`, `kt` `d · np`, `sc` `RB · np` floats.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn scores(qb: *const f32, d: usize, kt: *const f32, np: usize, sc: *mut f32) {
        const _: () = assert!(RB == 8);
        for j0 in (0..np).step_by(32) {
            let mut a = [[_mm512_setzero_ps(); 2]; RB];
            for e in 0..d {
                // SAFETY: e < d and j0 + 32 <= np.
                let (k0, k1) = unsafe {
                    let row = kt.add(e * np + j0);
                    (_mm512_loadu_ps(row), _mm512_loadu_ps(row.add(16)))
                };
                for (r, ar) in a.iter_mut().enumerate() {
                    // SAFETY: r < RB, e < d.
                    let q = _mm512_set1_ps(unsafe { *qb.add(r * d + e) });
                    ar[0] = _mm512_fmadd_ps(q, k0, ar[0]);
                    ar[1] = _mm512_fmadd_ps(q, k1, ar[1]);
                }
            }
            for (r, ar) in a.iter().enumerate() {
                // SAFETY: r < RB, j0 + 32 <= np.
                unsafe {
                    _mm512_storeu_ps(sc.add(r * np + j0), ar[0]);
                    _mm512_storeu_ps(sc.add(r * np + j0 + 16), ar[1]);
                }
            }
        }
    }

    /// One softmax row in place, unnormalised: `x = row · scale + bias` (bias may be null),
    /// then `row = exp(x − max x)`; returns `Σ row`. Returns `None`, with `row = x`, when `x`
    /// holds a NaN or no finite maximum (every key masked), which the scalar code handles.
    ///
    /// # Safety
    /// `row` holds `n` floats, `bias` (if not null) `n` contiguous ones.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
    pub(super) unsafe fn softmax_row(
        row: *mut f32,
        n: usize,
        scale: f32,
        bias: *const f32,
    ) -> Option<f32> {
        use crate::epilogue::avx512::{exp, first_lanes};
        let sv = _mm512_set1_ps(scale);
        let mut mx = _mm512_set1_ps(f32::NEG_INFINITY);
        let mut nan: __mmask16 = 0;
        let mut j = 0;
        while j < n {
            let mask = first_lanes(n - j);
            // SAFETY: the masked lanes stay below `n`.
            unsafe {
                let x = _mm512_maskz_loadu_ps(mask, row.add(j));
                let x = if bias.is_null() {
                    _mm512_mul_ps(x, sv)
                } else {
                    _mm512_fmadd_ps(x, sv, _mm512_maskz_loadu_ps(mask, bias.add(j)))
                };
                _mm512_mask_storeu_ps(row.add(j), mask, x);
                nan |= _mm512_mask_cmp_ps_mask::<_CMP_UNORD_Q>(mask, x, x);
                mx = _mm512_mask_max_ps(mx, mask, mx, x);
            }
            j += 16;
        }
        let m = _mm512_reduce_max_ps(mx);
        if nan != 0 || !m.is_finite() {
            return None;
        }
        let (mv, mut sum) = (_mm512_set1_ps(m), _mm512_setzero_ps());
        let mut j = 0;
        while j < n {
            let mask = first_lanes(n - j);
            // SAFETY: as above.
            unsafe {
                let d = _mm512_sub_ps(_mm512_maskz_loadu_ps(mask, row.add(j)), mv);
                // Below ln(f32::MIN_POSITIVE) exp would be subnormal (or, for a masked −∞
                // key, exp's clamped minimum): exactly 0 instead. Subnormal probabilities
                // would also slow the P·V products that read them by orders of magnitude.
                let live = _mm512_mask_cmp_ps_mask::<_CMP_GE_OQ>(mask, d, _mm512_set1_ps(-87.33));
                let e = _mm512_maskz_mov_ps(live, exp(d));
                _mm512_mask_storeu_ps(row.add(j), mask, e);
                sum = _mm512_add_ps(sum, e);
            }
            j += 16;
        }
        Some(_mm512_reduce_add_ps(sum))
    }

    /// `ob[r][f] = Σ_{j<n} sc[r][j] · vb[j][f]` for all RB rows and `dvp` features (a multiple
    /// of 64), 4 rows × 64 features (16 zmm accumulators) at a time.
    ///
    /// # Safety
    /// `sc` holds `RB · np`, `vb` `n · dvp`, `ob` `RB · dvp` floats.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn pv(
        sc: *const f32,
        np: usize,
        n: usize,
        vb: *const f32,
        dvp: usize,
        ob: *mut f32,
    ) {
        for r0 in (0..RB).step_by(4) {
            for f0 in (0..dvp).step_by(64) {
                let mut a = [[_mm512_setzero_ps(); 4]; 4];
                for j in 0..n {
                    // SAFETY: j < n, f0 + 64 <= dvp.
                    let v = unsafe {
                        let row = vb.add(j * dvp + f0);
                        [
                            _mm512_loadu_ps(row),
                            _mm512_loadu_ps(row.add(16)),
                            _mm512_loadu_ps(row.add(32)),
                            _mm512_loadu_ps(row.add(48)),
                        ]
                    };
                    for (r, ar) in a.iter_mut().enumerate() {
                        // SAFETY: r0 + r < RB, j < n <= np.
                        let pr = _mm512_set1_ps(unsafe { *sc.add((r0 + r) * np + j) });
                        for k in 0..4 {
                            ar[k] = _mm512_fmadd_ps(pr, v[k], ar[k]);
                        }
                    }
                }
                for (r, ar) in a.iter().enumerate() {
                    for (k, x) in ar.iter().enumerate() {
                        // SAFETY: r0 + r < RB, f0 + 64 <= dvp.
                        unsafe { _mm512_storeu_ps(ob.add((r0 + r) * dvp + f0 + 16 * k), *x) };
                    }
                }
            }
        }
    }
}

/// The scalar f64 definition the tests compare against.
pub mod reference {
    use super::AttentionParams;

    /// `(y, qk)` for params whose pointers address `q`, `k`, `v`, `bias` in these slices by
    /// their strides (the pointers themselves are ignored); outputs dense row-major.
    pub fn attention(
        p: &AttentionParams,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        bias: Option<&[f32]>,
    ) -> (Vec<f32>, Vec<f32>) {
        let at = |s: &[isize; 4], b: usize, h: usize, r: usize, f: usize| -> usize {
            (b as isize * s[0] + h as isize * s[1] + r as isize * s[2] + f as isize * s[3]) as usize
        };
        let (n, dv) = (p.kv_seq, p.v_head);
        let mut y = vec![0f32; p.batch * p.q_heads * p.q_seq * dv];
        let mut qk = vec![0f32; p.batch * p.q_heads * p.q_seq * n];
        let group = p.q_heads / p.kv_heads;
        for b in 0..p.batch {
            for h in 0..p.q_heads {
                let kvh = h / group;
                for i in 0..p.q_seq {
                    let o = ((b * p.q_heads + h) * p.q_seq + i) * n;
                    let mut s = vec![0f64; n];
                    for (j, sj) in s.iter_mut().enumerate() {
                        let dot: f64 = (0..p.head)
                            .map(|e| {
                                q[at(&p.q_strides, b, h, i, e)] as f64
                                    * k[at(&p.k_strides, b, kvh, j, e)] as f64
                            })
                            .sum();
                        let mut x = dot * p.scale as f64;
                        if p.softcap > 0.0 {
                            x = p.softcap as f64 * (x / p.softcap as f64).tanh();
                        }
                        if p.qk_mode <= 1 {
                            qk[o + j] = x as f32;
                        }
                        if let Some(bv) = bias {
                            x += bv[at(&p.bias_strides, b, h, i, j)] as f64;
                        }
                        if p.causal != 0 && j > i + p.causal_offset {
                            x = f64::NEG_INFINITY;
                        }
                        if p.qk_mode == 2 {
                            qk[o + j] = x as f32;
                        }
                        *sj = x;
                    }
                    let m = s.iter().copied().fold(f64::NEG_INFINITY, |m, x| {
                        if x.is_nan() || m.is_nan() {
                            f64::NAN
                        } else {
                            m.max(x)
                        }
                    });
                    s.iter_mut().for_each(|x| *x = (*x - m).exp());
                    let sum: f64 = s.iter().sum();
                    if p.qk_mode == 3 {
                        for j in 0..n {
                            qk[o + j] = (s[j] / sum) as f32;
                        }
                    }
                    for f in 0..dv {
                        let acc: f64 = (0..n)
                            .map(|j| s[j] * v[at(&p.v_strides, b, kvh, j, f)] as f64)
                            .sum();
                        y[((b * p.q_heads + h) * p.q_seq + i) * dv + f] = (acc / sum) as f32;
                    }
                }
            }
        }
        (y, qk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tiers() -> Vec<Isa> {
        Isa::all_available()
    }

    /// Dense row-major (b, h, s, f) strides.
    fn dense(h: usize, s: usize, f: usize) -> [isize; 4] {
        [(h * s * f) as isize, (s * f) as isize, f as isize, 1]
    }

    /// Strides of a 3-D packed `[b, s, h·f]` layout.
    fn packed(h: usize, s: usize, f: usize) -> [isize; 4] {
        [(s * h * f) as isize, f as isize, (h * f) as isize, 1]
    }

    #[derive(Clone, Debug)]
    struct Case {
        p: AttentionParams,
        q: Vec<f32>,
        k: Vec<f32>,
        v: Vec<f32>,
        bias: Option<Vec<f32>>,
    }

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn case(
        b: usize,
        kvh: usize,
        g: usize,
        sq: usize,
        sk: usize,
        d: usize,
        dv: usize,
        pack: bool,
        bias: u8,
        causal: bool,
        softcap: bool,
        mode: u32,
        unit_rows: usize,
        seed: u64,
    ) -> Case {
        let qh = kvh * g;
        let st = |h, s, f| {
            if pack {
                packed(h, s, f)
            } else {
                dense(h, s, f)
            }
        };
        let p = AttentionParams {
            batch: b,
            q_heads: qh,
            kv_heads: kvh,
            q_seq: sq,
            kv_seq: sk,
            head: d,
            v_head: dv,
            unit_rows,
            q: std::ptr::null(),
            q_strides: st(qh, sq, d),
            k: std::ptr::null(),
            k_strides: st(kvh, sk, d),
            v: std::ptr::null(),
            v_strides: st(kvh, sk, dv),
            y: std::ptr::null_mut(),
            y_strides: dense(qh, sq, dv),
            scale: 1.0 / (d as f32).sqrt(),
            softcap: if softcap { 2.0 } else { 0.0 },
            bias: std::ptr::null(),
            // Bias [sq, sk] broadcast over batch and heads.
            bias_strides: [0, 0, sk as isize, 1],
            causal: causal as u32,
            causal_offset: if causal { sk.saturating_sub(sq) } else { 0 },
            qk: std::ptr::null_mut(),
            qk_strides: dense(qh, sq, sk),
            qk_mode: mode,
        };
        let bias = match bias {
            0 => None,
            1 => Some(values(sq * sk, seed + 3)),
            // A mask: some keys −∞ (never a whole row).
            _ => Some(
                (0..sq * sk)
                    .map(|i| {
                        if i % 3 == 1 && i % sk != 0 {
                            f32::NEG_INFINITY
                        } else {
                            0.0
                        }
                    })
                    .collect(),
            ),
        };
        Case {
            q: values(b * qh * sq * d, seed),
            k: values(b * kvh * sk * d, seed + 1),
            v: values(b * kvh * sk * dv, seed + 2),
            bias,
            p,
        }
    }

    fn check(c: &Case, isa: Isa) -> Result<(), String> {
        let (want_y, want_qk) = reference::attention(&c.p, &c.q, &c.k, &c.v, c.bias.as_deref());
        let mut y = vec![f32::NAN; want_y.len()];
        let mut qk = vec![f32::NAN; want_qk.len()];
        attention(
            isa,
            &c.p,
            &c.q,
            &c.k,
            &c.v,
            c.bias.as_deref(),
            &mut y,
            Some(&mut qk),
        )
        .map_err(|e| e.0)?;
        let close = |a: f32, b: f32| {
            (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-5 * (1.0 + b.abs())
        };
        for (i, (a, b)) in y.iter().zip(&want_y).enumerate() {
            if !close(*a, *b) {
                return Err(format!("{isa}: y[{i}] = {a}, want {b}"));
            }
        }
        for (i, (a, b)) in qk.iter().zip(&want_qk).enumerate() {
            if !close(*a, *b) {
                return Err(format!("{isa}: qk[{i}] = {a}, want {b}"));
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        #[test]
        fn matches_reference_on_every_tier(
            b in 1usize..3, kvh in 1usize..3, g in 1usize..4, sq in 1usize..21, sk in 1usize..41,
            d in 1usize..71, dv in 1usize..71, pack: bool, bias in 0u8..3, causal: bool,
            softcap: bool, mode in 0u32..4, unit_rows in 0usize..12, seed in 0u64..1000,
        ) {
            let c = case(b, kvh, g, sq, sk, d, dv, pack, bias, causal, softcap, mode, unit_rows, seed);
            for isa in tiers() {
                prop_assert!(check(&c, isa).is_ok(), "{}", check(&c, isa).unwrap_err());
            }
        }
    }

    #[test]
    fn vit_shape_through_a_strided_qkv_buffer() {
        // Q, K, V are head slices of one [197, 576] buffer (ViT-Ti/16, 3 heads of 64).
        let (s, h, d) = (197, 3, 64);
        let qkv = values(s * 3 * h * d, 9);
        let st = [0, d as isize, (3 * h * d) as isize, 1];
        let p = AttentionParams {
            batch: 1,
            q_heads: h,
            kv_heads: h,
            q_seq: s,
            kv_seq: s,
            head: d,
            v_head: d,
            unit_rows: 99,
            q: std::ptr::null(),
            q_strides: st,
            k: std::ptr::null(),
            k_strides: st,
            v: std::ptr::null(),
            v_strides: st,
            y: std::ptr::null_mut(),
            y_strides: dense(h, s, d),
            scale: 0.125,
            softcap: 0.0,
            bias: std::ptr::null(),
            bias_strides: [0; 4],
            causal: 0,
            causal_offset: 0,
            qk: std::ptr::null_mut(),
            qk_strides: [0; 4],
            qk_mode: 0,
        };
        let (q, k, v) = (&qkv[..], &qkv[h * d..], &qkv[2 * h * d..]);
        let (want, _) = reference::attention(&p, q, k, v, None);
        for isa in tiers() {
            let mut y = vec![0f32; want.len()];
            attention(isa, &p, q, k, v, None, &mut y, None).unwrap();
            let err = y
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(err < 1e-5, "{isa}: max |Δ| {err}");
        }
        assert_eq!(attention_units(&p), 6);
    }

    #[test]
    fn split_ranges_match_the_whole_call_and_masked_rows_give_nan() {
        let mut c = case(2, 1, 2, 13, 9, 8, 10, false, 0, false, false, 0, 4, 5);
        // Every key of query row 0 masked: numpy's softmax gives NaN for that row.
        c.bias = Some(
            (0..13 * 9)
                .map(|i| if i < 9 { f32::NEG_INFINITY } else { 0.0 })
                .collect(),
        );
        let mut whole = vec![0f32; 2 * 2 * 13 * 10];
        let mut parts = whole.clone();
        let mut p = c.p;
        p.q = c.q.as_ptr();
        p.k = c.k.as_ptr();
        p.v = c.v.as_ptr();
        p.bias = c.bias.as_ref().unwrap().as_ptr();
        p.y = whole.as_mut_ptr();
        // SAFETY: dense buffers sized for the params.
        unsafe { bqml_attention(&p) };
        p.y = parts.as_mut_ptr();
        let units = attention_units(&p);
        assert_eq!(units, 2 * 2 * 4);
        std::thread::scope(|s| {
            let pp = SendParams(p);
            let pq = SendParams(p);
            // SAFETY: disjoint unit ranges of one op over live buffers.
            s.spawn(move || {
                let pp = pp;
                unsafe { bqml_attention_rows(&pp.0, 0, 7) }
            });
            // SAFETY: as above.
            s.spawn(move || {
                let pq = pq;
                unsafe { bqml_attention_rows(&pq.0, 7, 1000) }
            });
        });
        assert_eq!(
            whole.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            parts.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        // The bias broadcasts over batch and heads: query row 0 of every head is NaN.
        for (o, x) in whole.iter().enumerate() {
            assert_eq!(x.is_nan(), (o / 10) % 13 == 0, "y[{o}] = {x}");
        }
    }

    struct SendParams(AttentionParams);
    // SAFETY: test-only; the threads write disjoint units of buffers that outlive the scope.
    unsafe impl Send for SendParams {}

    #[test]
    fn tiers_exercised() {
        let c = case(1, 2, 2, 11, 19, 24, 17, true, 2, true, true, 2, 5, 1);
        for isa in Isa::ALL {
            if !isa.is_available() {
                println!("attention: tier {isa} NOT exercised (this CPU lacks it)");
                continue;
            }
            check(&c, isa).unwrap();
            println!("attention: tier {isa} exercised");
        }
        assert!(Isa::Portable.is_available());
    }

    /// Regression (Swin-T ran 4× slower): scores 100 below the row maximum must give exact
    /// zeros, never subnormal probabilities; NaN and fully masked rows go to the scalar code.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_softmax_row_flushes_subnormals_and_defers_nan_rows() {
        if !Isa::avx512_available() {
            println!("softmax_row: avx512 NOT exercised (CPU lacks it)");
            return;
        }
        let scores: Vec<f32> = (0..37)
            .map(|j| match j % 5 {
                0 => 0.5 * j as f32,
                1 => -100.0,
                2 => -300.0,
                3 => f32::NEG_INFINITY,
                _ => -3.0,
            })
            .collect();
        let bias: Vec<f32> = (0..37)
            .map(|j| if j % 7 == 0 { -1.0 } else { 0.25 })
            .collect();
        let mut row = scores.clone();
        // SAFETY: both hold 37 floats; AVX-512 is available.
        let sum = unsafe { avx512::softmax_row(row.as_mut_ptr(), 37, 0.5, bias.as_ptr()) }
            .expect("finite row");
        let x: Vec<f64> = scores
            .iter()
            .zip(&bias)
            .map(|(&s, &b)| 0.5 * s as f64 + b as f64)
            .collect();
        let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let want: f64 = x.iter().map(|v| (v - m).exp()).sum();
        assert!(((sum as f64 - want) / want).abs() < 1e-6, "{sum} vs {want}");
        for (j, &e) in row.iter().enumerate() {
            assert!(
                e == 0.0 || e >= f32::MIN_POSITIVE,
                "row[{j}] = {e:e} is subnormal"
            );
            if x[j] - m < -88.0 {
                assert_eq!(e, 0.0, "row[{j}]");
            }
        }
        for bad in [f32::NAN, f32::NEG_INFINITY] {
            let mut row = vec![bad; 20];
            row[3] = if bad.is_nan() { 1.0 } else { bad };
            // SAFETY: 20 floats; no bias.
            let r = unsafe { avx512::softmax_row(row.as_mut_ptr(), 20, 1.0, std::ptr::null()) };
            assert!(r.is_none(), "{bad} row");
        }
    }

    #[test]
    fn vector_exp_is_within_two_ulp() {
        // Down to e^-87.3 (below, results would be subnormal and are flushed to 0).
        for i in -1997..2000 {
            let x = i as f32 * 0.0437;
            let want = (x as f64).exp();
            let got = exp::<false>(x) as f64;
            assert!(
                ((got - want) / want).abs() < 2.5e-7,
                "exp({x}) = {got}, want {want}"
            );
        }
        assert_eq!(exp::<false>(f32::NEG_INFINITY), 0.0);
        assert!(exp::<false>(f32::NAN).is_nan());
    }
}
