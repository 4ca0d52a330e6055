//! The per-layer choice between direct convolution and Winograd.

use kernels::Isa;

/// Which algorithm convolutions use where there is a choice (3×3, stride 1, dilation 1, one
/// group, constant weights): the direct implicit GEMM or Winograd.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConvAlgo {
    /// Per layer, from its shape: direct below 16 input or output channels, else Winograd
    /// F(4×4) on maps of at least 14² (28² on the avx512 tier), F(2×2) on smaller ones (fewer
    /// wasted edge outputs; on avx2 at 7² × 512 F(2×2) took ResNet-18's layers from 3.1 to
    /// 2.3 ms, F(4×4) was slower than direct), and on the avx512 tier direct below 14².
    /// See `kernels/PERF.md`.
    #[default]
    Auto,
    /// Direct convolution everywhere.
    Direct,
    /// Winograd F(4×4, 3×3) on every eligible convolution.
    Winograd,
    /// Winograd F(2×2, 3×3) on every eligible convolution.
    WinogradF2,
}

impl ConvAlgo {
    /// Parses `auto`, `direct`, `winograd` (F4) or `winograd-f2` (the CLI's `--conv-algo`
    /// and `BQMLC_CONV_ALGO`).
    pub fn parse(s: &str) -> Option<ConvAlgo> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => ConvAlgo::Auto,
            "direct" => ConvAlgo::Direct,
            "winograd" | "winograd-f4" => ConvAlgo::Winograd,
            "winograd-f2" => ConvAlgo::WinogradF2,
            _ => return None,
        })
    }

    /// Winograd output tile (4 or 2) for an eligible layer on kernel tier `isa`, or `None`
    /// for direct. F(4×4) needs larger maps to pay on the avx512 tier: at 14² × 256 it took
    /// 1.28 ms per ResNet-18 layer against F(2×2)'s 1.00 (F(4×4) still wins at 28²). Below
    /// 14² the avx512 direct convolution wins outright: at 7² × 512 its weights (9.4 MB,
    /// streamed once per inference) are 9/16 of F(2×2)'s, and it took 1.55 ms per ResNet-18
    /// layer against F(2×2)'s 2.1 (see `kernels/PERF.md`).
    pub(super) fn tile(
        self,
        cin: usize,
        cout: usize,
        oh: usize,
        ow: usize,
        isa: Isa,
    ) -> Option<usize> {
        let (f2_from, f4_from) = if isa == Isa::Avx512 {
            (14, 28)
        } else {
            (1, 14)
        };
        let side = oh.min(ow);
        match self {
            ConvAlgo::Direct => None,
            ConvAlgo::Winograd => Some(4),
            ConvAlgo::WinogradF2 => Some(2),
            ConvAlgo::Auto if cin < 16 || cout < 16 || side < f2_from => None,
            ConvAlgo::Auto if side >= f4_from => Some(4),
            ConvAlgo::Auto => Some(2),
        }
    }
}

impl std::fmt::Display for ConvAlgo {
    /// The name [`ConvAlgo::parse`] reads back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConvAlgo::Auto => "auto",
            ConvAlgo::Direct => "direct",
            ConvAlgo::Winograd => "winograd",
            ConvAlgo::WinogradF2 => "winograd-f2",
        })
    }
}
