//! CPU feature dispatch: three kernel tiers (portable, AVX2+FMA, AVX-512), the best one
//! detected once; generated code may instead pin a tier chosen at compile time
//! ([`ConvParams::isa`](crate::ConvParams::isa)).

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::error::KernelError;

/// Which implementation of a kernel to run. Tiers are ordered: each one can run everything the
/// previous one can (an AVX-512 CPU also has AVX2 and FMA).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Isa {
    /// Plain Rust, auto-vectorised by the compiler for the baseline target. Runs everywhere.
    Portable,
    /// `std::arch` AVX2 + FMA intrinsics (8-lane f32 vectors). Only valid where [`Isa::avx2_fma_available`].
    Avx2Fma,
    /// AVX-512 F/BW/DQ/VL intrinsics (16-lane f32 vectors) on top of AVX2 + FMA. Only valid
    /// where [`Isa::avx512_available`]. Kernels without a 512-bit version (depthwise, pooling,
    /// the generic ops except LayerNorm) run their AVX2 code under this tier.
    Avx512,
}

/// [`ConvParams::isa`](crate::ConvParams::isa) code: detect the tier at run time
/// ([`Isa::detect`]).
pub const ISA_AUTO: u32 = 0;
/// Tier code of [`Isa::Portable`].
pub const ISA_PORTABLE: u32 = 1;
/// Tier code of [`Isa::Avx2Fma`].
pub const ISA_AVX2: u32 = 2;
/// Tier code of [`Isa::Avx512`].
pub const ISA_AVX512: u32 = 3;

/// Cached [`Isa::detect`] result: 0 until the first call, else the tier code.
static DETECTED: AtomicU8 = AtomicU8::new(0);

impl Isa {
    /// Every tier, worst first.
    pub const ALL: [Isa; 3] = [Isa::Portable, Isa::Avx2Fma, Isa::Avx512];

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

    /// True when this CPU supports AVX-512 F, BW, DQ and VL (and AVX2 + FMA).
    pub fn avx512_available() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            Self::avx2_fma_available()
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512dq")
                && is_x86_feature_detected!("avx512vl")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// True when this CPU can run `self`.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Portable => true,
            Isa::Avx2Fma => Self::avx2_fma_available(),
            Isa::Avx512 => Self::avx512_available(),
        }
    }

    /// The best tier for this CPU; detected on first call, then cached.
    pub fn detect() -> Isa {
        if let Some(isa) = Isa::from_code(DETECTED.load(Ordering::Relaxed) as u32) {
            return isa;
        }
        let isa = *Self::all_available()
            .last()
            .expect("portable is always available");
        DETECTED.store(isa.code() as u8, Ordering::Relaxed);
        isa
    }

    /// Every tier this CPU can run, worst first (for tests and benches).
    pub fn all_available() -> Vec<Isa> {
        Self::ALL.into_iter().filter(|i| i.is_available()).collect()
    }

    /// `self` if this CPU can run it, otherwise [`Isa::Portable`]: a tier the CPU lacks falls
    /// back to portable code. Safe wrappers call this so a request for AVX2 or AVX-512 on an
    /// older CPU can never execute unsupported instructions.
    pub fn or_portable(self) -> Isa {
        if self.is_available() {
            self
        } else {
            Isa::Portable
        }
    }

    /// Stable name: `"portable"`, `"avx2"` or `"avx512"` (what [`FromStr`] parses).
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2Fma => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Code for params structs: [`ISA_PORTABLE`], [`ISA_AVX2`] or [`ISA_AVX512`].
    pub fn code(self) -> u32 {
        match self {
            Isa::Portable => ISA_PORTABLE,
            Isa::Avx2Fma => ISA_AVX2,
            Isa::Avx512 => ISA_AVX512,
        }
    }

    /// The tier of a code; `None` for [`ISA_AUTO`] and unknown codes.
    pub fn from_code(code: u32) -> Option<Isa> {
        match code {
            ISA_PORTABLE => Some(Isa::Portable),
            ISA_AVX2 => Some(Isa::Avx2Fma),
            ISA_AVX512 => Some(Isa::Avx512),
            _ => None,
        }
    }

    /// The tier an `extern "C"` entry point runs for params code `code`: [`ISA_AUTO`] detects;
    /// a pinned tier this CPU lacks, or an unknown code, aborts the process with a message
    /// naming it (never execute unsupported instructions).
    pub(crate) fn resolve_or_abort(code: u32) -> Isa {
        if code == ISA_AUTO {
            return Isa::detect();
        }
        match Isa::from_code(code) {
            Some(isa) if isa.is_available() => isa,
            Some(isa) => {
                let have: Vec<_> = Isa::all_available().iter().map(|i| i.name()).collect();
                eprintln!(
                    "bqml kernels: this code was compiled for the {} kernel tier, which this CPU \
                     does not support (available: {}); recompile it for this CPU",
                    isa.name(),
                    have.join(", ")
                );
                std::process::abort()
            }
            None => {
                eprintln!("bqml kernels: unknown kernel tier code {code}");
                std::process::abort()
            }
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Isa {
    type Err = KernelError;

    /// Parse a [`Isa::name`] (ASCII case-insensitive).
    fn from_str(s: &str) -> Result<Isa, KernelError> {
        Isa::ALL
            .into_iter()
            .find(|i| i.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                KernelError::new(format!(
                    "unknown kernel tier {s:?} (expected portable, avx2 or avx512)"
                ))
            })
    }
}
