//! Constant: a tensor given by exactly one of the `value`, `value_float(s)` or
//! `value_int(s)` attributes. Its value is known at inference.

use runtime::Tensor;

use super::def::{Fact, OpDef, OutFact, ParseCtx};

/// Produces `value`.
#[derive(Clone, Debug)]
pub struct Constant {
    pub value: Tensor,
}

pub fn parse(ctx: &mut ParseCtx) -> Result<Constant, String> {
    for unsupported in ["sparse_value", "value_string", "value_strings"] {
        if ctx.has_attr(unsupported) {
            return Err(format!(
                "Constant with attribute '{unsupported}' is not supported"
            ));
        }
    }
    let given: Vec<&str> = [
        "value",
        "value_float",
        "value_floats",
        "value_int",
        "value_ints",
    ]
    .into_iter()
    .filter(|n| ctx.has_attr(n))
    .collect();
    let value = match given.as_slice() {
        ["value"] => ctx.tensor("value")?,
        ["value_float"] => ctx.float("value_float")?.map(|f| Tensor::f32(vec![], vec![f])),
        ["value_floats"] => ctx
            .floats("value_floats")?
            .map(|v| Tensor::f32(vec![v.len()], v)),
        ["value_int"] => ctx.int("value_int")?.map(|i| Tensor::i64(vec![], vec![i])),
        ["value_ints"] => ctx.ints("value_ints")?.map(|v| Tensor::i64(vec![v.len()], v)),
        [] => return Err("Constant needs one of the attributes 'value', 'value_float', 'value_floats', 'value_int', 'value_ints'".into()),
        many => {
            return Err(format!(
                "Constant needs exactly one value attribute, got {}",
                many.join(", ")
            ))
        }
    };
    let value = value.ok_or("Constant's value attribute is missing")?;
    Ok(Constant { value })
}

impl OpDef for Constant {
    fn op_type(&self) -> &str {
        "Constant"
    }

    fn infer(&self, _inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        Ok(vec![OutFact {
            dtype: self.value.dtype(),
            shape: self.value.shape().to_vec(),
            value: Some(self.value.clone()),
        }])
    }

    fn eval(&self, _inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        Ok(vec![self.value.clone()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::{AttributeProto, NodeProto};
    use runtime::DType;

    fn node(attrs: Vec<AttributeProto>) -> NodeProto {
        NodeProto {
            op_type: Some("Constant".into()),
            output: vec!["y".into()],
            attribute: attrs,
            ..Default::default()
        }
    }

    #[test]
    fn scalar_and_list_forms() {
        let n = node(vec![AttributeProto {
            name: Some("value_ints".into()),
            ints: vec![3, 4],
            r#type: Some(7),
            ..Default::default()
        }]);
        let c = parse(&mut ParseCtx::new(&n, 13)).unwrap();
        let out = c.infer(&[]).unwrap();
        assert_eq!(out[0].shape, vec![2]);
        assert_eq!(out[0].value.as_ref().unwrap().as_i64().unwrap(), &[3, 4]);
        let n = node(vec![AttributeProto {
            name: Some("value_float".into()),
            f: Some(1.5),
            r#type: Some(1),
            ..Default::default()
        }]);
        let c = parse(&mut ParseCtx::new(&n, 13)).unwrap();
        assert_eq!(c.value.dtype(), DType::F32);
        assert_eq!(c.eval(&[]).unwrap()[0].shape(), &[] as &[usize]);
    }

    #[test]
    fn sparse_and_missing_values_are_errors() {
        let n = node(vec![AttributeProto {
            name: Some("sparse_value".into()),
            r#type: Some(11),
            ..Default::default()
        }]);
        let err = parse(&mut ParseCtx::new(&n, 13)).unwrap_err();
        assert!(err.contains("sparse_value"), "{err}");
        let err = parse(&mut ParseCtx::new(&node(vec![]), 13)).unwrap_err();
        assert!(err.contains("needs one of"), "{err}");
    }
}
