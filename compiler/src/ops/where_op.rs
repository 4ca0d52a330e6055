//! Where: `Y = cond ? X : Y` element-wise, numpy broadcasting over all three inputs.

use runtime::{DType, Tensor, TensorData};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{broadcast_offsets, broadcast_shapes, fact, input};

/// Picks from input 1 where the bool input 0 is true, else from input 2.
#[derive(Clone, Debug)]
pub struct Where;

pub fn parse(_ctx: &mut ParseCtx) -> Result<Where, String> {
    Ok(Where)
}

impl OpDef for Where {
    fn op_type(&self) -> &str {
        "Where"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let (c, x, y) = (fact(inputs, 0)?, fact(inputs, 1)?, fact(inputs, 2)?);
        if c.dtype != DType::Bool {
            return Err(format!("condition must be bool, got {}", c.dtype));
        }
        if x.dtype != y.dtype {
            return Err(format!(
                "X and Y must have the same type, got {} and {}",
                x.dtype, y.dtype
            ));
        }
        let shape = broadcast_shapes(&[c.shape, x.shape, y.shape])?;
        Ok(vec![OutFact::new(x.dtype, shape)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let (c, x, y) = (input(inputs, 0)?, input(inputs, 1)?, input(inputs, 2)?);
        let TensorData::Bool(cond) = c.data() else {
            return Err(format!("condition must be bool, got {}", c.dtype()));
        };
        let shapes = [c.shape(), x.shape(), y.shape()];
        let shape = broadcast_shapes(&shapes)?;
        let o = broadcast_offsets(&shapes, &shape);
        fn pick<T: Copy>(cond: &[bool], a: &[T], b: &[T], o: &[Vec<usize>]) -> Vec<T> {
            (0..o[0].len())
                .map(|k| {
                    if cond[o[0][k]] {
                        a[o[1][k]]
                    } else {
                        b[o[2][k]]
                    }
                })
                .collect()
        }
        let data = match (x.data(), y.data()) {
            (TensorData::F32(a), TensorData::F32(b)) => TensorData::F32(pick(cond, a, b, &o)),
            (TensorData::F64(a), TensorData::F64(b)) => TensorData::F64(pick(cond, a, b, &o)),
            (TensorData::I32(a), TensorData::I32(b)) => TensorData::I32(pick(cond, a, b, &o)),
            (TensorData::I64(a), TensorData::I64(b)) => TensorData::I64(pick(cond, a, b, &o)),
            (TensorData::U8(a), TensorData::U8(b)) => TensorData::U8(pick(cond, a, b, &o)),
            (TensorData::Bool(a), TensorData::Bool(b)) => TensorData::Bool(pick(cond, a, b, &o)),
            (a, b) => {
                return Err(format!(
                    "X and Y must have the same type, got {} and {}",
                    a.dtype(),
                    b.dtype()
                ))
            }
        };
        Ok(vec![Tensor::new(shape, data)?])
    }
}
