//! FusedConv: `act(conv(X [⊙ S], W) + B [+ R])`, produced by the fusion passes from Conv, a
//! residual Add, an activation and a per-channel scale of the input. Inputs:
//! `[X, W, B?, R?, S?]`, `S` of shape `[1, C, 1, 1]` for `X` of `[1, C, H, W]`.

use runtime::Tensor;

use super::conv::Conv;
use super::def::{Fact, OpDef, OutFact};
use super::util::{fact, input};

/// An activation that kernels apply in their epilogue.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    None,
    Relu,
    Clip {
        min: f32,
        max: f32,
    },
    Sigmoid,
    /// `x * sigmoid(x)`.
    Silu,
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    HardSwish,
    LeakyRelu {
        alpha: f32,
    },
    /// `0.5 · x · (1 + erf(x / √2))`.
    Gelu,
    /// `0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 x³)))`.
    GeluTanh,
}

impl Activation {
    /// Scalar definition (the oracle for the kernels' epilogues).
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::None => x,
            Activation::Relu => x.max(0.0),
            Activation::Clip { min, max } => x.max(min).min(max),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::Silu => x / (1.0 + (-x).exp()),
            Activation::HardSigmoid { alpha, beta } => (alpha * x + beta).clamp(0.0, 1.0),
            Activation::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            Activation::LeakyRelu { alpha } => {
                if x >= 0.0 {
                    x
                } else {
                    alpha * x
                }
            }
            Activation::Gelu | Activation::GeluTanh => {
                let tanh = self == Activation::GeluTanh;
                super::UnaryKind::Gelu { tanh }.apply(x as f64) as f32
            }
        }
    }

    /// The kernels' encoding of this activation.
    pub fn to_kernel(self) -> kernels::Act {
        use kernels::Act as K;
        match self {
            Activation::None => K::None,
            Activation::Relu => K::Relu,
            Activation::Clip { min, max } => K::Clip { min, max },
            Activation::Sigmoid => K::Sigmoid,
            Activation::Silu => K::Silu,
            Activation::HardSigmoid { alpha, beta } => K::HardSigmoid { alpha, beta },
            Activation::HardSwish => K::HardSwish,
            Activation::LeakyRelu { alpha } => K::LeakyRelu { alpha },
            Activation::Gelu => K::Gelu,
            Activation::GeluTanh => K::GeluTanh,
        }
    }
}

/// A convolution with its bias, an optional residual input and an activation fused.
#[derive(Clone, Debug)]
pub struct FusedConv {
    pub conv: Conv,
    pub activation: Activation,
    pub has_residual: bool,
    /// Input 4 scales the input's channels (`fold-channel-scale`).
    pub input_scale: bool,
}

impl FusedConv {
    /// A convolution op as a [`FusedConv`]: a plain [`Conv`] without epilogue, a
    /// `FusedConv` as itself; `None` for other ops.
    pub fn of(op: &super::Op) -> Option<FusedConv> {
        match op {
            super::Op::Conv(c) => Some(FusedConv {
                conv: c.clone(),
                activation: Activation::None,
                has_residual: false,
                input_scale: false,
            }),
            super::Op::FusedConv(f) => Some(f.clone()),
            _ => None,
        }
    }
}

impl OpDef for FusedConv {
    fn op_type(&self) -> &str {
        "FusedConv"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let out = self.conv.infer(&inputs[..inputs.len().min(3)])?;
        if self.has_residual {
            let r = fact(inputs, 3)?;
            if r.shape != out[0].shape.as_slice() || r.dtype != out[0].dtype {
                return Err(format!(
                    "residual {:?} must match the conv output {:?}",
                    r.shape, out[0].shape
                ));
            }
        }
        if self.input_scale {
            if self.conv.input_nhwc {
                return Err("an input scale needs a channels-first input".to_string());
            }
            let (x, s) = (fact(inputs, 0)?, fact(inputs, 4)?);
            let channels = x.shape.get(1).copied().unwrap_or(0);
            if x.shape.first() != Some(&1) || s.shape != [1, channels, 1, 1] {
                return Err(format!(
                    "input scale {:?} must be [1, C, 1, 1] for an input {:?} of batch 1",
                    s.shape, x.shape
                ));
            }
        }
        Ok(out)
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let scaled;
        let mut conv_inputs = inputs[..inputs.len().min(3)].to_vec();
        if self.input_scale {
            let (x, s) = (input(inputs, 0)?, input(inputs, 4)?.as_f32()?);
            let plane: usize = x.shape()[2..].iter().product();
            let v: Vec<f32> = (x.as_f32()?.iter().enumerate())
                .map(|(i, &a)| a * s[(i / plane.max(1)) % s.len()])
                .collect();
            scaled = Tensor::f32(x.shape().to_vec(), v);
            conv_inputs[0] = Some(&scaled);
        }
        let y = self.conv.eval(&conv_inputs)?.remove(0);
        let shape = y.shape().to_vec();
        let mut v = y.as_f32()?.to_vec();
        if self.has_residual {
            let r = input(inputs, 3)?.as_f32()?;
            for (a, b) in v.iter_mut().zip(r) {
                *a += b;
            }
        }
        for a in v.iter_mut() {
            *a = self.activation.apply(*a);
        }
        Ok(vec![Tensor::f32(shape, v)])
    }

    fn macs(&self, inputs: &[Option<&[usize]>], outputs: &[&[usize]]) -> u64 {
        self.conv.macs(inputs, outputs)
    }
}
