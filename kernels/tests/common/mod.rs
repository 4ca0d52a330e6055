//! Shared test helpers: deterministic data, activation strategies, tolerance checks.
#![allow(dead_code)]

use kernels::Act;
use proptest::prelude::*;

/// Small deterministic generator so test data comes from one proptest-chosen seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next_f32()).collect()
    }
}

pub fn act_strategy() -> impl Strategy<Value = Act> {
    prop_oneof![
        Just(Act::None),
        Just(Act::Relu),
        (-1.0f32..0.5, 0.5f32..6.0).prop_map(|(min, max)| Act::Clip { min, max }),
        Just(Act::Sigmoid),
        Just(Act::Silu),
        (0.1f32..0.5, 0.2f32..0.8).prop_map(|(alpha, beta)| Act::HardSigmoid { alpha, beta }),
        Just(Act::HardSwish),
        (0.0f32..0.5).prop_map(|alpha| Act::LeakyRelu { alpha }),
        Just(Act::Gelu),
        Just(Act::GeluTanh),
    ]
}

/// Every activation once, for exhaustive epilogue tests.
pub fn all_acts() -> Vec<Act> {
    vec![
        Act::None,
        Act::Relu,
        Act::Clip { min: 0.0, max: 6.0 },
        Act::Sigmoid,
        Act::Silu,
        Act::HardSigmoid {
            alpha: 0.2,
            beta: 0.5,
        },
        Act::HardSwish,
        Act::LeakyRelu { alpha: 0.1 },
        Act::Gelu,
        Act::GeluTanh,
    ]
}

/// `|got - want| <= 1e-4 * magnitude + 1e-5` for every element; the magnitude is `Σ|terms|` of
/// the pre-activation sum (all activations have slope <= ~1.1).
pub fn assert_close(got: &[f32], want: &[f32], mag: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for i in 0..got.len() {
        let tol = 1e-4 * mag[i] + 1e-5;
        assert!(
            (got[i] - want[i]).abs() <= tol,
            "{what}: element {i}: got {} want {} (tol {tol})",
            got[i],
            want[i]
        );
    }
}

pub const SENTINEL: f32 = 7777.0;

/// Every kernel tier this CPU runs ([`Isa::all_available`]), for tests to loop over. Prints
/// once per test binary which tiers `what` exercised and which it could not (`--nocapture`
/// shows it), so a run on a CPU without AVX-512 says so instead of passing silently.
pub fn tiers(what: &str) -> Vec<kernels::Isa> {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let isas = kernels::Isa::all_available();
    ONCE.call_once(|| {
        let names: Vec<_> = isas.iter().map(|i| i.name()).collect();
        eprintln!("{what}: tiers exercised: {}", names.join(", "));
        for isa in kernels::Isa::ALL {
            if !isas.contains(&isa) {
                eprintln!(
                    "{what}: tier {} NOT exercised (this CPU lacks it)",
                    isa.name()
                );
            }
        }
    });
    isas
}

/// A params pointer the scoped threads of [`run_ranges`] share.
struct SharedParams<P>(*const P);
// SAFETY: the kernels only read the params; callers of `run_ranges` guarantee the ranges'
// writes are disjoint.
unsafe impl<P> Sync for SharedParams<P> {}

/// Calls `kernel(p, start, end)` for every range at once, each on its own thread (a pool's
/// job split, without the pool).
///
/// # Safety
/// `p` describes buffers that outlive the call and `kernel` accepts concurrent calls over the
/// given (disjoint) ranges.
pub unsafe fn run_ranges<P>(
    p: &P,
    ranges: &[std::ops::Range<usize>],
    kernel: unsafe extern "C" fn(*const P, usize, usize),
) {
    let shared = SharedParams(p as *const P);
    std::thread::scope(|s| {
        for r in ranges {
            let (shared, r) = (&shared, r.clone());
            // SAFETY: forwarded caller contract.
            s.spawn(move || unsafe { kernel(shared.0, r.start, r.end) });
        }
    });
}
