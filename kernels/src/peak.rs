//! FMA peak measurement for `bqmlc bench --peak`.

use std::time::{Duration, Instant};

use crate::isa::Isa;

/// Independent accumulator chains: FMA latency (4 cycles on Zen 3 and Sapphire Rapids) × 2 FMA
/// ports = 8, plus slack.
const CHAINS: usize = 12;
/// FMA steps per chain between clock reads.
const BURST: u64 = 1 << 16;

/// Measured f32 FLOP/s in GFLOP/s of the detected tier: one OS thread per requested thread, each
/// running independent `vfmadd231ps` chains (zmm for AVX-512, ymm for AVX2, portable
/// multiply-add chains otherwise) for `duration`; the threads' rates are summed.
pub fn measure_fma_peak(threads: usize, duration: Duration) -> f64 {
    measure_fma_peak_with(Isa::detect(), threads, duration)
}

/// [`measure_fma_peak`] with an explicit implementation (falls back to portable when unavailable).
pub fn measure_fma_peak_with(isa: Isa, threads: usize, duration: Duration) -> f64 {
    let isa = isa.or_portable();
    let handles: Vec<_> = (0..threads.max(1))
        .map(|_| std::thread::spawn(move || one_thread(isa, duration)))
        .collect();
    handles.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
}

fn one_thread(isa: Isa, duration: Duration) -> f64 {
    let start = Instant::now();
    let mut flops = 0u64;
    let mut sink = 0.0f32;
    loop {
        sink += burst(isa, BURST);
        flops += BURST * fma_burst_flops_per_step(isa);
        if start.elapsed() >= duration {
            break;
        }
    }
    std::hint::black_box(sink);
    flops as f64 / start.elapsed().as_secs_f64() / 1e9
}

/// FLOPs one step of [`fma_burst`] performs on the portable and AVX2 tiers (chains × 8 lanes × 2);
/// see [`fma_burst_flops_per_step`] for any tier.
pub const FMA_BURST_FLOPS_PER_STEP: u64 = (CHAINS * 8 * 2) as u64;

/// FLOPs one step of [`fma_burst`] performs with `isa` (after its fallback to portable):
/// chains × lanes (16 for AVX-512, else 8) × 2.
pub fn fma_burst_flops_per_step(isa: Isa) -> u64 {
    match isa.or_portable() {
        Isa::Avx512 => (CHAINS * 16 * 2) as u64,
        _ => FMA_BURST_FLOPS_PER_STEP,
    }
}

/// Run `steps` rounds of the independent FMA chains once and return a value that depends on all
/// of them (so the work cannot be optimised away). For benches that time the peak themselves.
pub fn fma_burst(isa: Isa, steps: u64) -> f32 {
    burst(isa.or_portable(), steps)
}

fn burst(isa: Isa, steps: u64) -> f32 {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` is Avx2Fma only when the CPU supports it (`or_portable`).
        Isa::Avx2Fma => unsafe { burst_avx2(steps) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` is Avx512 only when the CPU supports it (`or_portable`).
        Isa::Avx512 => unsafe { burst_avx512(steps) },
        _ => burst_portable(steps),
    }
}

/// Same dependency structure as the AVX2 burst, in plain Rust (8-wide arrays the compiler may
/// vectorise; without FMA each step is a multiply and an add, still counted as 2 FLOP per lane).
fn burst_portable(steps: u64) -> f32 {
    let mut acc = [[1.0f32; 8]; CHAINS];
    let (m, a) = (
        std::hint::black_box(0.999_99f32),
        std::hint::black_box(1e-6f32),
    );
    for _ in 0..steps {
        for chain in acc.iter_mut() {
            for v in chain.iter_mut() {
                *v = *v * m + a;
            }
        }
    }
    acc.iter().flatten().sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn burst_avx2(steps: u64) -> f32 {
    use std::arch::x86_64::*;
    let m = _mm256_set1_ps(std::hint::black_box(0.999_99));
    let a = _mm256_set1_ps(std::hint::black_box(1e-6));
    let mut acc = [_mm256_set1_ps(1.0); CHAINS];
    for _ in 0..steps {
        for v in acc.iter_mut() {
            *v = _mm256_fmadd_ps(*v, m, a);
        }
    }
    let mut total = _mm256_setzero_ps();
    for v in acc {
        total = _mm256_add_ps(total, v);
    }
    let mut lanes = [0.0f32; 8];
    // SAFETY: `lanes` holds exactly 8 floats.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), total) };
    lanes.iter().sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
fn burst_avx512(steps: u64) -> f32 {
    use std::arch::x86_64::*;
    let m = _mm512_set1_ps(std::hint::black_box(0.999_99));
    let a = _mm512_set1_ps(std::hint::black_box(1e-6));
    let mut acc = [_mm512_set1_ps(1.0); CHAINS];
    for _ in 0..steps {
        for v in acc.iter_mut() {
            *v = _mm512_fmadd_ps(*v, m, a);
        }
    }
    let mut total = _mm512_setzero_ps();
    for v in acc {
        total = _mm512_add_ps(total, v);
    }
    _mm512_reduce_add_ps(total)
}
