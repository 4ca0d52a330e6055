//! Compile-time weight packing into the micro-kernels' panel layouts.

use crate::error::KernelError;

/// Output channels per packed panel (the register tile width: two 8-lane vectors).
pub const NR: usize = 16;
/// Channels per depthwise weight block (one 8-lane vector).
pub const DW_BLOCK: usize = 8;

/// Panel layout code for [`crate::ConvParams::layout`]: implicit-GEMM panels of [`NR`] channels.
pub const LAYOUT_PANELS: u32 = 1;
/// Panel layout code for [`crate::ConvParams::layout`]: depthwise blocks of [`DW_BLOCK`] channels.
pub const LAYOUT_DEPTHWISE: u32 = 2;

/// Static shape of a convolution's weights (what packing needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Total input channels (all groups).
    pub in_channels: usize,
    /// Total output channels (all groups).
    pub out_channels: usize,
    /// Kernel height.
    pub kernel_h: usize,
    /// Kernel width.
    pub kernel_w: usize,
    /// ONNX `group`; must divide both channel counts.
    pub groups: usize,
}

impl ConvShape {
    /// Input channels per group.
    pub fn in_per_group(&self) -> usize {
        self.in_channels / self.groups
    }
    /// Output channels per group.
    pub fn out_per_group(&self) -> usize {
        self.out_channels / self.groups
    }
    /// Length of one group's reduction: `kernel_h * kernel_w * in_per_group`.
    pub fn k(&self) -> usize {
        self.kernel_h * self.kernel_w * self.in_per_group()
    }
    /// True when the depthwise kernel applies (one input and one output channel per group).
    pub fn is_depthwise(&self) -> bool {
        self.groups > 1 && self.in_per_group() == 1 && self.out_per_group() == 1
    }
    fn validate(&self) -> Result<(), KernelError> {
        let ok = self.groups > 0
            && self.in_channels > 0
            && self.out_channels > 0
            && self.kernel_h > 0
            && self.kernel_w > 0
            && self.in_channels.is_multiple_of(self.groups)
            && self.out_channels.is_multiple_of(self.groups);
        if ok {
            Ok(())
        } else {
            Err(KernelError::new(format!("invalid conv shape {self:?}")))
        }
    }
}

/// Weights (and bias) packed once for one layer.
///
/// * `LAYOUT_PANELS`: for group `g`, panel `b` (output channels `g*ocg + 16b ..`), reduction index
///   `k = (ky * kernel_w + kx) * icg + c`: `weights[((g * panels + b) * K + k) * 16 + j]`;
///   channels past `ocg` are zero. `bias[(g * panels + b) * 16 + j]`, zero-padded likewise.
/// * `LAYOUT_DEPTHWISE`: channel block `cb` of 8: `weights[((cb * kh + ky) * kw + kx) * 8 + j]`,
///   `bias[cb * 8 + j]`, zero-padded past the channel count.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedConv {
    /// Weight shape this was packed from.
    pub shape: ConvShape,
    /// `LAYOUT_PANELS`, `LAYOUT_DEPTHWISE`, or a Winograd layout ([`crate::pack_winograd`]).
    pub layout: u32,
    /// Packed weights (see the type's doc).
    pub weights: Vec<f32>,
    /// Packed bias, always present (zeros when the layer has none).
    pub bias: Vec<f32>,
}

impl PackedConv {
    /// Panels per group (`LAYOUT_PANELS`) or channel blocks (`LAYOUT_DEPTHWISE`).
    pub fn blocks(&self) -> usize {
        match self.layout {
            LAYOUT_DEPTHWISE => self.shape.out_channels.div_ceil(DW_BLOCK),
            _ => self.shape.out_per_group().div_ceil(NR),
        }
    }
}

/// Pack ONNX Conv weights (`OIHW`: `[out_channels][in_channels / groups][kh][kw]`) and an optional
/// bias of `out_channels`. Depthwise shapes (groups == channels, multiplier 1) get the depthwise
/// layout; everything else gets implicit-GEMM panels.
pub fn pack_conv(
    shape: ConvShape,
    weights_oihw: &[f32],
    bias: Option<&[f32]>,
) -> Result<PackedConv, KernelError> {
    shape.validate()?;
    let (icg, ocg, kh, kw) = (
        shape.in_per_group(),
        shape.out_per_group(),
        shape.kernel_h,
        shape.kernel_w,
    );
    let expect = shape.out_channels * icg * kh * kw;
    if weights_oihw.len() != expect {
        return Err(KernelError::new(format!(
            "conv weights: {} values, expected {expect} for {shape:?}",
            weights_oihw.len()
        )));
    }
    if let Some(b) = bias {
        if b.len() != shape.out_channels {
            return Err(KernelError::new(format!(
                "conv bias: {} values, expected {}",
                b.len(),
                shape.out_channels
            )));
        }
    }
    let w_at = |o: usize, c: usize, ky: usize, kx: usize| {
        weights_oihw[((o * icg + c) * kh + ky) * kw + kx]
    };
    let b_at = |o: usize| bias.map_or(0.0, |b| b[o]);

    if shape.is_depthwise() {
        let blocks = shape.out_channels.div_ceil(DW_BLOCK);
        let mut w = vec![0.0; blocks * kh * kw * DW_BLOCK];
        let mut b = vec![0.0; blocks * DW_BLOCK];
        for (ch, bias_slot) in b.iter_mut().enumerate().take(shape.out_channels) {
            let (cb, j) = (ch / DW_BLOCK, ch % DW_BLOCK);
            *bias_slot = b_at(ch);
            for ky in 0..kh {
                for kx in 0..kw {
                    w[((cb * kh + ky) * kw + kx) * DW_BLOCK + j] = w_at(ch, 0, ky, kx);
                }
            }
        }
        return Ok(PackedConv {
            shape,
            layout: LAYOUT_DEPTHWISE,
            weights: w,
            bias: b,
        });
    }

    let panels = ocg.div_ceil(NR);
    let k_len = shape.k();
    let mut w = vec![0.0; shape.groups * panels * k_len * NR];
    let mut b = vec![0.0; shape.groups * panels * NR];
    for g in 0..shape.groups {
        for oc in 0..ocg {
            let o = g * ocg + oc;
            let (p, j) = (oc / NR, oc % NR);
            let panel = g * panels + p;
            b[panel * NR + j] = b_at(o);
            for ky in 0..kh {
                for kx in 0..kw {
                    for c in 0..icg {
                        let k = (ky * kw + kx) * icg + c;
                        w[(panel * k_len + k) * NR + j] = w_at(o, c, ky, kx);
                    }
                }
            }
        }
    }
    Ok(PackedConv {
        shape,
        layout: LAYOUT_PANELS,
        weights: w,
        bias: b,
    })
}

/// Pack the constant `B` operand of ONNX Gemm / MatMul: `Y = alpha * A·op(B) + beta * C`.
///
/// `b` is `K×N` row-major, or `N×K` when `trans_b`. `alpha` is folded into the weights and
/// `beta` into the bias; `c` is a length-`N` row (or a single value) broadcast over the rows.
/// (A full `M×N` `C` is a runtime tensor: pass it as the residual input with `beta` pre-applied.)
/// The result is the panel layout of a 1×1 convolution with `K` inputs and `N` outputs.
pub fn pack_gemm_b(
    k: usize,
    n: usize,
    b: &[f32],
    trans_b: bool,
    alpha: f32,
    c: Option<&[f32]>,
    beta: f32,
) -> Result<PackedConv, KernelError> {
    if k == 0 || n == 0 || b.len() != k * n {
        return Err(KernelError::new(format!(
            "gemm B: {} values for K={k}, N={n}",
            b.len()
        )));
    }
    let bias: Option<Vec<f32>> = match c {
        None => None,
        Some(c) if c.len() == n => Some(c.iter().map(|v| v * beta).collect()),
        Some(c) if c.len() == 1 => Some(vec![c[0] * beta; n]),
        Some(c) => {
            return Err(KernelError::new(format!(
                "gemm C: {} values, expected {n} or 1",
                c.len()
            )))
        }
    };
    // OIHW with H = W = 1 is just [N][K].
    let mut oihw = vec![0.0; n * k];
    for kk in 0..k {
        for nn in 0..n {
            let v = if trans_b {
                b[nn * k + kk]
            } else {
                b[kk * n + nn]
            };
            oihw[nn * k + kk] = alpha * v;
        }
    }
    pack_conv(
        ConvShape {
            in_channels: k,
            out_channels: n,
            kernel_h: 1,
            kernel_w: 1,
            groups: 1,
        },
        &oihw,
        bias.as_deref(),
    )
}
