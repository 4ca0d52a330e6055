//! Clip: limit values to `[min, max]`. Opsets before 11 pass the bounds as `min`/`max`
//! attributes, which are promoted to inputs 1 and 2; from 11 they are optional scalar inputs.

use runtime::{DType, Tensor, TensorData};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{fact, input};

/// `Y = min(max(X, min), max)`; an omitted bound does not limit. When `min > max` every
/// element becomes `max`, as ONNX specifies.
#[derive(Clone, Debug)]
pub struct Clip;

pub fn parse(ctx: &mut ParseCtx) -> Result<Clip, String> {
    if ctx.opset < 11 {
        for (i, name) in [(1, "min"), (2, "max")] {
            if let Some(v) = ctx.float(name)? {
                if v.is_nan() {
                    return Err(format!("attribute '{name}' must not be NaN"));
                }
                ctx.promote(i, Tensor::f32(vec![], vec![v]));
            }
        }
    } else if ctx.has_attr("min") || ctx.has_attr("max") {
        return Err(format!(
            "attributes 'min'/'max' were replaced by inputs in opset 11 (model uses opset {})",
            ctx.opset
        ));
    }
    Ok(Clip)
}

fn bound(inputs: &[Option<Fact>], i: usize, x: DType) -> Result<(), String> {
    if let Some(b) = inputs.get(i).copied().flatten() {
        let what = if i == 1 { "min" } else { "max" };
        if b.dtype != x {
            return Err(format!("{what} is {} but the input is {x}", b.dtype));
        }
        if b.shape.iter().product::<usize>() != 1 || b.shape.len() > 1 {
            return Err(format!("{what} must be a scalar, got shape {:?}", b.shape));
        }
    }
    Ok(())
}

impl OpDef for Clip {
    fn op_type(&self) -> &str {
        "Clip"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let x = fact(inputs, 0)?;
        if !matches!(x.dtype, DType::F32 | DType::I64) {
            return Err(format!("Clip supports float32 and int64, got {}", x.dtype));
        }
        bound(inputs, 1, x.dtype)?;
        bound(inputs, 2, x.dtype)?;
        Ok(vec![OutFact::new(x.dtype, x.shape.to_vec())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let x = input(inputs, 0)?;
        let lo = inputs.get(1).copied().flatten();
        let hi = inputs.get(2).copied().flatten();
        let data = match x.data() {
            TensorData::F32(v) => {
                let scalar = |t: Option<&Tensor>| -> Result<Option<f32>, String> {
                    t.map(|t| t.as_f32().map(|d| d.first().copied()))
                        .transpose()
                        .map(Option::flatten)
                };
                let (lo, hi) = (scalar(lo)?, scalar(hi)?);
                // Written with comparisons so NaN elements pass through unchanged.
                TensorData::F32(
                    v.iter()
                        .map(|&a| {
                            let a = match lo {
                                Some(l) if a < l => l,
                                _ => a,
                            };
                            match hi {
                                Some(h) if a > h => h,
                                _ => a,
                            }
                        })
                        .collect(),
                )
            }
            TensorData::I64(v) => {
                let scalar = |t: Option<&Tensor>| -> Result<Option<i64>, String> {
                    t.map(|t| t.as_i64().map(|d| d.first().copied()))
                        .transpose()
                        .map(Option::flatten)
                };
                let (lo, hi) = (
                    scalar(lo)?.unwrap_or(i64::MIN),
                    scalar(hi)?.unwrap_or(i64::MAX),
                );
                TensorData::I64(v.iter().map(|&a| a.max(lo).min(hi)).collect())
            }
            d => {
                return Err(format!(
                    "Clip supports float32 and int64, got {}",
                    d.dtype()
                ))
            }
        };
        Ok(vec![Tensor::new(x.shape().to_vec(), data)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::{AttributeProto, NodeProto};

    fn node(attrs: Vec<AttributeProto>) -> NodeProto {
        NodeProto {
            op_type: Some("Clip".into()),
            input: vec!["x".into()],
            output: vec!["y".into()],
            attribute: attrs,
            ..Default::default()
        }
    }

    fn float_attr(name: &str, v: f32) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            f: Some(v),
            r#type: Some(1),
            ..Default::default()
        }
    }

    #[test]
    fn opset6_attributes_become_inputs() {
        let n = node(vec![float_attr("min", -1.0), float_attr("max", 2.0)]);
        let mut ctx = ParseCtx::new(&n, 6);
        parse(&mut ctx).unwrap();
        assert_eq!(ctx.promoted.len(), 2);
        assert_eq!(ctx.promoted[0].0, 1);
        assert_eq!(ctx.promoted[0].1.as_f32().unwrap(), &[-1.0]);
        assert_eq!(ctx.promoted[1].0, 2);
        assert_eq!(ctx.promoted[1].1.as_f32().unwrap(), &[2.0]);
        let x = Tensor::f32(vec![4], vec![-5.0, 0.5, 1.0, 9.0]);
        let y = Clip
            .eval(&[Some(&x), Some(&ctx.promoted[0].1), Some(&ctx.promoted[1].1)])
            .unwrap();
        assert_eq!(y[0].as_f32().unwrap(), &[-1.0, 0.5, 1.0, 2.0]);
    }

    #[test]
    fn opset6_missing_attribute_is_unbounded() {
        let n = node(vec![float_attr("max", 0.0)]);
        let mut ctx = ParseCtx::new(&n, 6);
        parse(&mut ctx).unwrap();
        assert_eq!(ctx.promoted.len(), 1);
        assert_eq!(ctx.promoted[0].0, 2);
    }

    #[test]
    fn attributes_rejected_from_opset_11() {
        let n = node(vec![float_attr("min", 0.0)]);
        let err = parse(&mut ParseCtx::new(&n, 11)).unwrap_err();
        assert!(err.contains("'min'"), "{err}");
    }

    #[test]
    fn int64_and_nonscalar_bounds() {
        let x = Tensor::i64(vec![3], vec![-7, 3, 9]);
        let hi = Tensor::i64(vec![], vec![4]);
        let y = Clip.eval(&[Some(&x), None, Some(&hi)]).unwrap();
        assert_eq!(y[0].as_i64().unwrap(), &[-7, 3, 4]);
        let f = |dtype, shape| Fact {
            dtype,
            shape,
            value: None,
        };
        let err = Clip
            .infer(&[Some(f(DType::F32, &[3])), Some(f(DType::F32, &[2]))])
            .unwrap_err();
        assert!(err.contains("min must be a scalar"), "{err}");
    }
}
