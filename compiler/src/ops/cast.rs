//! Cast between float32, float64, int32, int64, uint8 and bool with numpy's `astype`
//! semantics: float → integer truncates toward zero, integer → narrower integer wraps,
//! anything → bool is `!= 0`.

use runtime::{DType, Tensor, TensorData};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{fact, input};

/// Converts input 0 to `to`.
#[derive(Clone, Debug)]
pub struct Cast {
    pub to: DType,
}

/// Opset 1 spells `to` as a string (`"FLOAT"`); later opsets use the data type code.
fn dtype_from_name(name: &str) -> Option<DType> {
    Some(match name.to_ascii_uppercase().as_str() {
        "FLOAT" => DType::F32,
        "DOUBLE" => DType::F64,
        "INT32" => DType::I32,
        "INT64" => DType::I64,
        "UINT8" => DType::U8,
        "BOOL" => DType::Bool,
        _ => return None,
    })
}

pub fn parse(ctx: &mut ParseCtx) -> Result<Cast, String> {
    let to = if ctx.opset < 6 {
        match ctx.string("to")? {
            Some(s) => dtype_from_name(&s)
                .ok_or_else(|| format!("attribute 'to' names unsupported type '{s}'"))?,
            None => return Err("attribute 'to' is required".into()),
        }
    } else {
        let code = ctx
            .int("to")?
            .ok_or("attribute 'to' is required".to_string())?;
        i32::try_from(code)
            .ok()
            .and_then(DType::from_onnx)
            .ok_or_else(|| format!("attribute 'to' is unsupported data type {code}"))?
    };
    Ok(Cast { to })
}

/// One element on its way between types: floats and integers keep their own domain.
#[derive(Clone, Copy)]
enum Scalar {
    F(f64),
    I(i64),
}

fn elements(data: &TensorData) -> Vec<Scalar> {
    match data {
        TensorData::F32(v) => v.iter().map(|&x| Scalar::F(x as f64)).collect(),
        TensorData::F64(v) => v.iter().map(|&x| Scalar::F(x)).collect(),
        TensorData::I32(v) => v.iter().map(|&x| Scalar::I(x as i64)).collect(),
        TensorData::I64(v) => v.iter().map(|&x| Scalar::I(x)).collect(),
        TensorData::U8(v) => v.iter().map(|&x| Scalar::I(x as i64)).collect(),
        TensorData::Bool(v) => v.iter().map(|&x| Scalar::I(x as i64)).collect(),
    }
}

impl Scalar {
    /// Integer value: floats truncate toward zero (saturating at the i64 range, NaN → 0).
    fn int(self) -> i64 {
        match self {
            Scalar::F(f) => f as i64,
            Scalar::I(i) => i,
        }
    }

    fn float(self) -> f64 {
        match self {
            Scalar::F(f) => f,
            Scalar::I(i) => i as f64,
        }
    }

    fn f32(self) -> f32 {
        match self {
            Scalar::F(f) => f as f32,
            // Direct conversion rounds once (via f64 could round twice).
            Scalar::I(i) => i as f32,
        }
    }

    fn bool(self) -> bool {
        match self {
            Scalar::F(f) => f != 0.0,
            Scalar::I(i) => i != 0,
        }
    }
}

/// Converts a tensor to `to`.
pub fn cast(x: &Tensor, to: DType) -> Result<Tensor, String> {
    let v = elements(x.data());
    let data = match to {
        DType::F32 => TensorData::F32(v.iter().map(|s| s.f32()).collect()),
        DType::F64 => TensorData::F64(v.iter().map(|s| s.float()).collect()),
        DType::I64 => TensorData::I64(v.iter().map(|s| s.int()).collect()),
        DType::I32 => TensorData::I32(v.iter().map(|s| s.int() as i32).collect()),
        DType::U8 => TensorData::U8(v.iter().map(|s| s.int() as u8).collect()),
        DType::Bool => TensorData::Bool(v.iter().map(|s| s.bool()).collect()),
    };
    Tensor::new(x.shape().to_vec(), data)
}

impl OpDef for Cast {
    fn op_type(&self) -> &str {
        "Cast"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let x = fact(inputs, 0)?;
        Ok(vec![OutFact::new(self.to, x.shape.to_vec())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        Ok(vec![cast(input(inputs, 0)?, self.to)?])
    }
}

/// CastLike: converts input 0 to the element type of input 1 (whose values are unused).
#[derive(Clone, Debug)]
pub struct CastLike;

pub fn parse_like(ctx: &mut ParseCtx) -> Result<CastLike, String> {
    // `saturate` only affects float8 targets, which bqmlc does not have.
    ctx.int_or("saturate", 1)?;
    Ok(CastLike)
}

impl OpDef for CastLike {
    fn op_type(&self) -> &str {
        "CastLike"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let (x, like) = (fact(inputs, 0)?, fact(inputs, 1)?);
        Ok(vec![OutFact::new(like.dtype, x.shape.to_vec())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        Ok(vec![cast(input(inputs, 0)?, input(inputs, 1)?.dtype())?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_to_int_truncates_toward_zero() {
        let x = Tensor::f32(vec![5], vec![-2.7, -0.5, 0.5, 2.7, f32::NAN]);
        let y = cast(&x, DType::I64).unwrap();
        assert_eq!(y.as_i64().unwrap(), &[-2, 0, 0, 2, 0]);
        let b = cast(&x, DType::Bool).unwrap();
        assert_eq!(
            b.data(),
            &TensorData::Bool(vec![true, true, true, true, true])
        );
    }

    #[test]
    fn integers_wrap_and_bools_are_zero_one() {
        let x = Tensor::i64(vec![3], vec![256 + 7, -1, 0]);
        assert_eq!(
            cast(&x, DType::U8).unwrap().data(),
            &TensorData::U8(vec![7, 255, 0])
        );
        let b = cast(&x, DType::Bool).unwrap();
        assert_eq!(
            cast(&b, DType::F32).unwrap().as_f32().unwrap(),
            &[1.0, 1.0, 0.0]
        );
        let d = cast(&Tensor::f32(vec![1], vec![0.1]), DType::F64).unwrap();
        assert_eq!(d.data(), &TensorData::F64(vec![0.1f32 as f64]));
    }

    #[test]
    fn rejects_unknown_target() {
        use crate::onnx::{AttributeProto, NodeProto};
        let n = NodeProto {
            op_type: Some("Cast".into()),
            attribute: vec![AttributeProto {
                name: Some("to".into()),
                i: Some(10),
                r#type: Some(2),
                ..Default::default()
            }],
            ..Default::default()
        };
        let err = parse(&mut ParseCtx::new(&n, 13)).unwrap_err();
        assert!(err.contains("'to'") && err.contains("10"), "{err}");
    }

    #[test]
    fn opset1_names_the_type() {
        use crate::onnx::{AttributeProto, NodeProto};
        let n = |name: &str| NodeProto {
            op_type: Some("Cast".into()),
            attribute: vec![AttributeProto {
                name: Some("to".into()),
                s: Some(name.as_bytes().to_vec()),
                r#type: Some(3),
                ..Default::default()
            }],
            ..Default::default()
        };
        let c = parse(&mut ParseCtx::new(&n("INT64"), 1)).unwrap();
        assert_eq!(c.to, DType::I64);
        let err = parse(&mut ParseCtx::new(&n("FLOAT16"), 1)).unwrap_err();
        assert!(err.contains("FLOAT16"), "{err}");
    }
}
