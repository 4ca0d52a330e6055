//! CPU feature dispatch: pick the AVX2+FMA path once, fall back to portable code.

use std::sync::atomic::{AtomicU8, Ordering};

/// Which implementation of a kernel to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Plain Rust, auto-vectorised by the compiler for the baseline target. Runs everywhere.
    Portable,
    /// `std::arch` AVX2 + FMA intrinsics (8-lane f32 vectors). Only valid where [`Isa::avx2_fma_available`].
    Avx2Fma,
}

const UNKNOWN: u8 = 0;
const PORTABLE: u8 = 1;
const AVX2: u8 = 2;
static DETECTED: AtomicU8 = AtomicU8::new(UNKNOWN);

impl Isa {
    /// True when this CPU supports AVX2 and FMA.
    pub fn avx2_fma_available() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// The best implementation for this CPU; detected on first call, then cached.
    pub fn detect() -> Isa {
        match DETECTED.load(Ordering::Relaxed) {
            PORTABLE => Isa::Portable,
            AVX2 => Isa::Avx2Fma,
            _ => {
                let isa = if Self::avx2_fma_available() {
                    Isa::Avx2Fma
                } else {
                    Isa::Portable
                };
                let tag = if isa == Isa::Avx2Fma { AVX2 } else { PORTABLE };
                DETECTED.store(tag, Ordering::Relaxed);
                isa
            }
        }
    }

    /// Every implementation this CPU can run (for tests and benches).
    pub fn all_available() -> Vec<Isa> {
        let mut v = vec![Isa::Portable];
        if Self::avx2_fma_available() {
            v.push(Isa::Avx2Fma);
        }
        v
    }

    /// `self` if this CPU can run it, otherwise [`Isa::Portable`]. Safe wrappers call this so a
    /// request for AVX2 on an older CPU can never execute unsupported instructions.
    pub fn or_portable(self) -> Isa {
        if self == Isa::Avx2Fma && !Self::avx2_fma_available() {
            Isa::Portable
        } else {
            self
        }
    }
}
