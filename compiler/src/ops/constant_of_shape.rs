//! ConstantOfShape: a tensor of a constant shape filled with one value (default float 0).

use runtime::{Tensor, TensorData};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{checked_numel, const_input, input, int_values};

/// Fills the shape given by input 0 with `value`'s single element.
#[derive(Clone, Debug)]
pub struct ConstantOfShape {
    /// A one-element tensor holding the fill value and the output dtype.
    pub value: Tensor,
}

pub fn parse(ctx: &mut ParseCtx) -> Result<ConstantOfShape, String> {
    let value = match ctx.tensor("value")? {
        Some(t) if t.len() == 1 => t.reshaped(vec![])?,
        Some(t) => {
            return Err(format!(
                "attribute 'value' must hold one element, got {}",
                t.len()
            ))
        }
        None => Tensor::f32(vec![], vec![0.0]),
    };
    Ok(ConstantOfShape { value })
}

fn dims(t: &Tensor) -> Result<Vec<usize>, String> {
    if t.rank() != 1 {
        return Err(format!("input must be a 1-D shape, got rank {}", t.rank()));
    }
    let d = int_values(t, "shape")?
        .into_iter()
        .map(|d| usize::try_from(d).map_err(|_| format!("shape has a negative dimension {d}")))
        .collect::<Result<Vec<_>, _>>()?;
    checked_numel(&d)?;
    Ok(d)
}

impl OpDef for ConstantOfShape {
    fn op_type(&self) -> &str {
        "ConstantOfShape"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let shape = dims(const_input(inputs, 0, "ConstantOfShape's shape")?)?;
        Ok(vec![OutFact::new(self.value.dtype(), shape)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let shape = dims(input(inputs, 0)?)?;
        let n = checked_numel(&shape)?;
        let data = match self.value.data() {
            TensorData::F32(v) => TensorData::F32(vec![v[0]; n]),
            TensorData::F64(v) => TensorData::F64(vec![v[0]; n]),
            TensorData::I32(v) => TensorData::I32(vec![v[0]; n]),
            TensorData::I64(v) => TensorData::I64(vec![v[0]; n]),
            TensorData::U8(v) => TensorData::U8(vec![v[0]; n]),
            TensorData::Bool(v) => TensorData::Bool(vec![v[0]; n]),
        };
        Ok(vec![Tensor::new(shape, data)?])
    }
}
