//! Element-wise unary math and activations: Relu, Sigmoid, Tanh, Exp, Log, Sqrt, Erf, Neg,
//! Abs, Reciprocal, Floor, Ceil, LeakyRelu, HardSigmoid, HardSwish, Elu, Selu, Softplus, Gelu.
//!
//! Floats are evaluated in f64 and rounded once to the output type, which is at least as
//! close to numpy's float32 results as computing in f32.

use runtime::{DType, Tensor, TensorData};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{fact, input};

/// Which function a [`Unary`] applies, with its attributes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryKind {
    Relu,
    Sigmoid,
    Tanh,
    Exp,
    Log,
    Sqrt,
    Erf,
    Neg,
    Abs,
    Reciprocal,
    Floor,
    Ceil,
    LeakyRelu {
        alpha: f32,
    },
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    HardSwish,
    Elu {
        alpha: f32,
    },
    Selu {
        alpha: f32,
        gamma: f32,
    },
    Softplus,
    /// `0.5·x·(1 + erf(x/√2))`, or its tanh approximation (opset 20 `approximate`).
    Gelu {
        tanh: bool,
    },
}

/// `Y = f(X)` element-wise.
#[derive(Clone, Debug)]
pub struct Unary {
    pub kind: UnaryKind,
}

/// Selu's default `alpha` and `gamma` (the float32 values ONNX specifies).
const SELU_ALPHA: f32 = 1.673_263_2;
const SELU_GAMMA: f32 = 1.050_701;

fn finite_attr(ctx: &ParseCtx, name: &str, default: f32) -> Result<f32, String> {
    let v = ctx.float_or(name, default)?;
    if !v.is_finite() {
        return Err(format!("attribute '{name}' must be finite, got {v}"));
    }
    Ok(v)
}

pub fn parse(ctx: &mut ParseCtx) -> Result<Unary, String> {
    // Opsets before 6 carry a `consumed_inputs` attribute that has no effect at inference.
    let kind = match ctx.node.op_type() {
        "Relu" => UnaryKind::Relu,
        "Sigmoid" => UnaryKind::Sigmoid,
        "Tanh" => UnaryKind::Tanh,
        "Exp" => UnaryKind::Exp,
        "Log" => UnaryKind::Log,
        "Sqrt" => UnaryKind::Sqrt,
        "Erf" => UnaryKind::Erf,
        "Neg" => UnaryKind::Neg,
        "Abs" => UnaryKind::Abs,
        "Reciprocal" => UnaryKind::Reciprocal,
        "Floor" => UnaryKind::Floor,
        "Ceil" => UnaryKind::Ceil,
        "LeakyRelu" => UnaryKind::LeakyRelu {
            alpha: finite_attr(ctx, "alpha", 0.01)?,
        },
        "HardSigmoid" => UnaryKind::HardSigmoid {
            alpha: finite_attr(ctx, "alpha", 0.2)?,
            beta: finite_attr(ctx, "beta", 0.5)?,
        },
        "HardSwish" => UnaryKind::HardSwish,
        "Elu" => UnaryKind::Elu {
            alpha: finite_attr(ctx, "alpha", 1.0)?,
        },
        "Selu" => UnaryKind::Selu {
            alpha: finite_attr(ctx, "alpha", SELU_ALPHA)?,
            gamma: finite_attr(ctx, "gamma", SELU_GAMMA)?,
        },
        "Softplus" => UnaryKind::Softplus,
        "Gelu" => UnaryKind::Gelu {
            tanh: match ctx.string("approximate")?.as_deref() {
                None | Some("none") => false,
                Some("tanh") => true,
                Some(a) => {
                    return Err(format!(
                        "attribute 'approximate' must be none or tanh, got '{a}'"
                    ))
                }
            },
        },
        other => return Err(format!("not a unary op: {other}")),
    };
    Ok(Unary { kind })
}

/// The error function, accurate to about 1e-15 absolute in f64.
///
/// `|x| < 3`: the everywhere-positive series
/// `erf(x) = 2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1))`, which has no cancellation.
/// `|x| ≥ 3`: `1 − erfc(x)` with erfc from its continued fraction
/// `erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …))))`, evaluated bottom-up.
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    let two_over_sqrt_pi = std::f64::consts::FRAC_2_SQRT_PI;
    let r = if a < 3.0 {
        let (mut term, mut sum) = (a, a);
        let mut n = 0.0;
        // Terms shrink geometrically once 2x²/(2n+3) < 1; 200 bounds the loop for a < 3.
        for _ in 0..200 {
            n += 1.0;
            term *= 2.0 * a * a / (2.0 * n + 1.0);
            sum += term;
            if term < sum * 1e-17 {
                break;
            }
        }
        two_over_sqrt_pi * (-a * a).exp() * sum
    } else if a < 27.0 {
        let mut frac = 0.0;
        for k in (1..=60).rev() {
            frac = (k as f64 / 2.0) / (a + frac);
        }
        let erfc = (-a * a).exp() / std::f64::consts::PI.sqrt() / (a + frac);
        1.0 - erfc
    } else {
        1.0
    };
    if x < 0.0 {
        -r
    } else {
        r
    }
}

impl UnaryKind {
    fn name(self) -> &'static str {
        match self {
            UnaryKind::Relu => "Relu",
            UnaryKind::Sigmoid => "Sigmoid",
            UnaryKind::Tanh => "Tanh",
            UnaryKind::Exp => "Exp",
            UnaryKind::Log => "Log",
            UnaryKind::Sqrt => "Sqrt",
            UnaryKind::Erf => "Erf",
            UnaryKind::Neg => "Neg",
            UnaryKind::Abs => "Abs",
            UnaryKind::Reciprocal => "Reciprocal",
            UnaryKind::Floor => "Floor",
            UnaryKind::Ceil => "Ceil",
            UnaryKind::LeakyRelu { .. } => "LeakyRelu",
            UnaryKind::HardSigmoid { .. } => "HardSigmoid",
            UnaryKind::HardSwish => "HardSwish",
            UnaryKind::Elu { .. } => "Elu",
            UnaryKind::Selu { .. } => "Selu",
            UnaryKind::Softplus => "Softplus",
            UnaryKind::Gelu { .. } => "Gelu",
        }
    }

    /// The function on one float. NaN inputs stay NaN (comparisons below are written so).
    pub fn apply(self, x: f64) -> f64 {
        match self {
            UnaryKind::Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            UnaryKind::Sigmoid => {
                // Split by sign so exp never overflows to produce inf/inf.
                if x >= 0.0 {
                    1.0 / (1.0 + (-x).exp())
                } else {
                    let e = x.exp();
                    e / (1.0 + e)
                }
            }
            UnaryKind::Tanh => x.tanh(),
            UnaryKind::Exp => x.exp(),
            UnaryKind::Log => x.ln(),
            UnaryKind::Sqrt => x.sqrt(),
            UnaryKind::Erf => erf(x),
            UnaryKind::Neg => -x,
            UnaryKind::Abs => x.abs(),
            UnaryKind::Reciprocal => 1.0 / x,
            UnaryKind::Floor => x.floor(),
            UnaryKind::Ceil => x.ceil(),
            UnaryKind::LeakyRelu { alpha } => {
                if x < 0.0 {
                    alpha as f64 * x
                } else {
                    x
                }
            }
            UnaryKind::HardSigmoid { alpha, beta } => clamp01(alpha as f64 * x + beta as f64),
            UnaryKind::HardSwish => x * clamp01(x / 6.0 + 0.5),
            UnaryKind::Elu { alpha } => {
                if x < 0.0 {
                    alpha as f64 * x.exp_m1()
                } else {
                    x
                }
            }
            UnaryKind::Selu { alpha, gamma } => {
                let g = gamma as f64;
                if x > 0.0 {
                    g * x
                } else {
                    g * alpha as f64 * x.exp_m1()
                }
            }
            // ln(1 + eˣ) = max(x, 0) + ln(1 + e^(−|x|)), which cannot overflow.
            UnaryKind::Softplus => {
                if x.is_nan() {
                    x
                } else {
                    x.max(0.0) + (-x.abs()).exp().ln_1p()
                }
            }
            UnaryKind::Gelu { tanh: false } => {
                0.5 * x * (1.0 + erf(x * std::f64::consts::FRAC_1_SQRT_2))
            }
            UnaryKind::Gelu { tanh: true } => {
                let c = (2.0 / std::f64::consts::PI).sqrt();
                0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
            }
        }
    }

    /// Whether integer tensors are accepted (exact in integers).
    fn integer_ok(self) -> bool {
        matches!(self, UnaryKind::Relu | UnaryKind::Neg | UnaryKind::Abs)
    }

    fn apply_i64(self, x: i64) -> i64 {
        match self {
            UnaryKind::Relu => x.max(0),
            UnaryKind::Neg => x.wrapping_neg(),
            UnaryKind::Abs => x.wrapping_abs(),
            // `integer_ok` restricts integer inputs to the three kinds above.
            _ => x,
        }
    }
}

/// `v` limited to `[0, 1]`; NaN stays NaN.
fn clamp01(v: f64) -> f64 {
    v.clamp(0.0, 1.0)
}

impl OpDef for Unary {
    fn op_type(&self) -> &str {
        self.kind.name()
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let x = fact(inputs, 0)?;
        let ok = match x.dtype {
            DType::F32 | DType::F64 => true,
            DType::I32 | DType::I64 => self.kind.integer_ok(),
            _ => false,
        };
        if !ok {
            return Err(format!(
                "{} does not support {} input",
                self.kind.name(),
                x.dtype
            ));
        }
        Ok(vec![OutFact::new(x.dtype, x.shape.to_vec())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let x = input(inputs, 0)?;
        let k = self.kind;
        let data = match x.data() {
            TensorData::F32(v) => {
                TensorData::F32(v.iter().map(|&a| k.apply(a as f64) as f32).collect())
            }
            TensorData::F64(v) => TensorData::F64(v.iter().map(|&a| k.apply(a)).collect()),
            TensorData::I64(v) if k.integer_ok() => {
                TensorData::I64(v.iter().map(|&a| k.apply_i64(a)).collect())
            }
            TensorData::I32(v) if k.integer_ok() => {
                TensorData::I32(v.iter().map(|&a| k.apply_i64(a as i64) as i32).collect())
            }
            d => return Err(format!("{} does not support {} input", k.name(), d.dtype())),
        };
        Ok(vec![Tensor::new(x.shape().to_vec(), data)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        // Reference values of erf to 16 digits.
        let cases = [
            (0.0, 0.0),
            (0.1, 0.1124629160182849),
            (0.5, 0.5204998778130465),
            (1.0, 0.8427007929497149),
            (2.0, 0.9953222650189527),
            (2.9, 0.9999589021219005),
            (3.0, 0.9999779095030014),
            (3.5, 0.9999992569016276),
            (5.0, 0.9999999999984626),
        ];
        for (x, want) in cases {
            assert!((erf(x) - want).abs() < 1e-14, "erf({x}) = {}", erf(x));
            assert!((erf(-x) + want).abs() < 1e-14, "erf(-{x})");
        }
        assert_eq!(erf(40.0), 1.0);
        assert!(erf(f64::NAN).is_nan());
    }

    #[test]
    fn activations_follow_onnx_formulas() {
        let selu = UnaryKind::Selu {
            alpha: SELU_ALPHA,
            gamma: SELU_GAMMA,
        };
        assert!((selu.apply(-1.0) - (-1.111_330_737_812_562_6)).abs() < 1e-6);
        assert_eq!(UnaryKind::Elu { alpha: 2.0 }.apply(3.0), 3.0);
        assert!((UnaryKind::Elu { alpha: 2.0 }.apply(-1.0) - 2.0 * (-1f64).exp_m1()).abs() < 1e-15);
        assert!((UnaryKind::Softplus.apply(1000.0) - 1000.0).abs() < 1e-12);
        assert!((UnaryKind::Softplus.apply(0.0) - 2f64.ln()).abs() < 1e-15);
        assert_eq!(UnaryKind::HardSwish.apply(-4.0), 0.0);
        assert_eq!(UnaryKind::HardSwish.apply(4.0), 4.0);
        assert_eq!(UnaryKind::HardSwish.apply(0.0), 0.0);
        assert_eq!(UnaryKind::Sigmoid.apply(-1000.0), 0.0);
        assert!(UnaryKind::Relu.apply(f64::NAN).is_nan());
        assert_eq!(UnaryKind::Reciprocal.apply(4.0), 0.25);
    }

    #[test]
    fn attributes_have_onnx_defaults_and_are_checked() {
        use crate::onnx::{AttributeProto, NodeProto};
        let node = |op: &str, attrs: Vec<AttributeProto>| NodeProto {
            op_type: Some(op.into()),
            attribute: attrs,
            ..Default::default()
        };
        let kind = |n: &NodeProto| match parse(&mut ParseCtx::new(n, 13)) {
            Ok(u) => u.kind,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            kind(&node("LeakyRelu", vec![])),
            UnaryKind::LeakyRelu { alpha: 0.01 }
        );
        assert_eq!(
            kind(&node("HardSigmoid", vec![])),
            UnaryKind::HardSigmoid {
                alpha: 0.2,
                beta: 0.5
            }
        );
        let inf = AttributeProto {
            name: Some("alpha".into()),
            f: Some(f32::INFINITY),
            r#type: Some(1),
            ..Default::default()
        };
        let err = parse(&mut ParseCtx::new(&node("Elu", vec![inf]), 13)).unwrap_err();
        assert!(err.contains("'alpha'"), "{err}");
    }

    #[test]
    fn integers_only_where_exact() {
        let relu = Unary {
            kind: UnaryKind::Relu,
        };
        let x = Tensor::i64(vec![3], vec![-2, 0, 5]);
        let y = relu.eval(&[Some(&x)]).unwrap();
        assert_eq!(y[0].as_i64().unwrap(), &[0, 0, 5]);
        let exp = Unary {
            kind: UnaryKind::Exp,
        };
        let f = Fact {
            dtype: DType::I64,
            shape: &[3],
            value: None,
        };
        assert!(exp.infer(&[Some(f)]).unwrap_err().contains("int64"));
    }
}
