//! BatchNormalization in inference mode:
//! `Y = (X − mean) / sqrt(var + epsilon) · scale + B` per channel (axis 1).
//!
//! Training (`training_mode=1`, opset ≥ 14, or `is_test=0` before opset 7) and the running
//! statistics outputs are refused. Before opset 9, `spatial=0` gives the parameters one
//! value per element of a sample (`X.shape[1..]`) instead of per channel.

use runtime::{DType, Tensor};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{fact, input};

/// Inference-mode batch normalisation.
#[derive(Clone, Debug)]
pub struct BatchNorm {
    pub epsilon: f32,
    /// Per-channel parameters (`spatial=1`, always from opset 9).
    pub spatial: bool,
}

pub fn parse(ctx: &mut ParseCtx) -> Result<BatchNorm, String> {
    if ctx.node.output.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(
            "BatchNormalization's mean/var outputs are not supported (inference only)".into(),
        );
    }
    if ctx.int_or("training_mode", 0)? != 0 {
        return Err("BatchNormalization with training_mode=1 is not supported".into());
    }
    if ctx.opset < 7 && ctx.has_attr("is_test") && ctx.int_or("is_test", 1)? == 0 {
        return Err("BatchNormalization with is_test=0 (training) is not supported".into());
    }
    let spatial = ctx.opset >= 9 || ctx.int_or("spatial", 1)? != 0;
    let epsilon = ctx.float_or("epsilon", 1e-5)?;
    if !(epsilon.is_finite() && epsilon >= 0.0) {
        return Err(format!(
            "attribute 'epsilon' must be finite and ≥ 0, got {epsilon}"
        ));
    }
    // `momentum` and `consumed_inputs` only matter in training.
    Ok(BatchNorm { epsilon, spatial })
}

const PARAMS: [&str; 4] = ["scale", "B", "mean", "var"];

impl BatchNorm {
    /// Shape each parameter must have for input shape `x`.
    fn param_shape<'a>(&self, x: &'a [usize]) -> &'a [usize] {
        if self.spatial {
            &x[1..2]
        } else {
            &x[1..]
        }
    }
}

impl OpDef for BatchNorm {
    fn op_type(&self) -> &str {
        "BatchNormalization"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let x = fact(inputs, 0)?;
        if x.dtype != DType::F32 {
            return Err(format!("X must be float32, got {}", x.dtype));
        }
        if x.shape.len() < 2 {
            return Err(format!("X must have rank ≥ 2, got shape {:?}", x.shape));
        }
        let want = self.param_shape(x.shape);
        for (i, name) in PARAMS.iter().enumerate() {
            let p = fact(inputs, i + 1).map_err(|_| format!("missing input '{name}'"))?;
            if p.dtype != DType::F32 {
                return Err(format!("{name} must be float32, got {}", p.dtype));
            }
            if p.shape != want {
                return Err(format!(
                    "{name} has shape {:?}, expected {:?} for X {:?}",
                    p.shape, want, x.shape
                ));
            }
        }
        Ok(vec![OutFact::new(DType::F32, x.shape.to_vec())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let x = input(inputs, 0)?;
        let p: Vec<&[f32]> = (1..=4)
            .map(|i| input(inputs, i).and_then(|t| t.as_f32()))
            .collect::<Result<_, _>>()?;
        let shape = x.shape();
        if shape.len() < 2 {
            return Err(format!("X must have rank ≥ 2, got shape {shape:?}"));
        }
        let per: usize = self.param_shape(shape).iter().product();
        if p.iter().any(|v| v.len() != per) {
            return Err(format!("parameters must hold {per} values each"));
        }
        // Parameter index of element `e`: its channel, or its offset within the sample.
        let inner: usize = if self.spatial {
            shape[2..].iter().product()
        } else {
            1
        };
        let (scale, b, mean, var) = (p[0], p[1], p[2], p[3]);
        let eps = self.epsilon as f64;
        let y = x
            .as_f32()?
            .iter()
            .enumerate()
            .map(|(e, &v)| {
                let c = (e / inner) % per;
                let norm = (v as f64 - mean[c] as f64) / (var[c] as f64 + eps).sqrt();
                (norm * scale[c] as f64 + b[c] as f64) as f32
            })
            .collect();
        Ok(vec![Tensor::f32(shape.to_vec(), y)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::{AttributeProto, NodeProto};

    fn node(attrs: Vec<AttributeProto>, outputs: usize) -> NodeProto {
        NodeProto {
            op_type: Some("BatchNormalization".into()),
            input: ["x", "s", "b", "m", "v"].map(String::from).to_vec(),
            output: (0..outputs).map(|i| format!("y{i}")).collect(),
            attribute: attrs,
            ..Default::default()
        }
    }

    fn int_attr(name: &str, v: i64) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            i: Some(v),
            r#type: Some(2),
            ..Default::default()
        }
    }

    #[test]
    fn training_forms_are_refused() {
        let err = parse(&mut ParseCtx::new(&node(vec![], 3), 15)).unwrap_err();
        assert!(err.contains("outputs"), "{err}");
        let err = parse(&mut ParseCtx::new(
            &node(vec![int_attr("training_mode", 1)], 1),
            15,
        ))
        .unwrap_err();
        assert!(err.contains("training_mode"), "{err}");
        let err = parse(&mut ParseCtx::new(
            &node(vec![int_attr("is_test", 0)], 1),
            6,
        ))
        .unwrap_err();
        assert!(err.contains("is_test"), "{err}");
        assert!(parse(&mut ParseCtx::new(
            &node(vec![int_attr("is_test", 1)], 1),
            6
        ))
        .is_ok());
    }

    #[test]
    fn per_channel_and_non_spatial() {
        let x = Tensor::f32(vec![1, 2, 2], vec![1.0, 2.0, 3.0, 4.0]);
        let ch = |a: f32, b: f32| Tensor::f32(vec![2], vec![a, b]);
        let (s, b, m, v) = (ch(2.0, 1.0), ch(0.0, 1.0), ch(1.0, 3.0), ch(4.0, 1.0));
        let op = BatchNorm {
            epsilon: 0.0,
            spatial: true,
        };
        let y = op
            .eval(&[Some(&x), Some(&s), Some(&b), Some(&m), Some(&v)])
            .unwrap();
        assert_eq!(y[0].as_f32().unwrap(), &[0.0, 1.0, 1.0, 2.0]);
        let per_elem = |vals: [f32; 4]| Tensor::f32(vec![2, 2], vals.to_vec());
        let op = BatchNorm {
            epsilon: 0.0,
            spatial: false,
        };
        let ones = per_elem([1.0; 4]);
        let zeros = per_elem([0.0; 4]);
        let mean = per_elem([1.0, 1.0, 1.0, 5.0]);
        let y = op
            .eval(&[
                Some(&x),
                Some(&ones),
                Some(&zeros),
                Some(&mean),
                Some(&ones),
            ])
            .unwrap();
        assert_eq!(y[0].as_f32().unwrap(), &[0.0, 1.0, 2.0, -1.0]);
    }
}
