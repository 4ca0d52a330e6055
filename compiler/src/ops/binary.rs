//! Element-wise binary arithmetic with numpy broadcasting: Add, Sub, Mul, Div, Pow.

use runtime::{DType, Tensor, TensorData};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{broadcast_offsets, broadcast_shapes, fact, input};

/// Which arithmetic a [`Binary`] performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryKind {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

/// `C = A op B` with multidirectional broadcasting.
#[derive(Clone, Debug)]
pub struct Binary {
    pub kind: BinaryKind,
}

pub fn parse(ctx: &mut ParseCtx) -> Result<Binary, String> {
    let kind = match ctx.node.op_type() {
        "Add" => BinaryKind::Add,
        "Sub" => BinaryKind::Sub,
        "Mul" => BinaryKind::Mul,
        "Div" => BinaryKind::Div,
        "Pow" => BinaryKind::Pow,
        other => return Err(format!("not a binary op: {other}")),
    };
    // Before opset 7, broadcasting needed `broadcast=1` and an `axis` for suffix alignment.
    if ctx.opset < 7 && ctx.int_or("broadcast", 0)? != 0 && ctx.has_attr("axis") {
        return Err("legacy broadcast with an explicit 'axis' is not supported".into());
    }
    Ok(Binary { kind })
}

impl BinaryKind {
    fn f32(self, a: f32, b: f32) -> f32 {
        match self {
            BinaryKind::Add => a + b,
            BinaryKind::Sub => a - b,
            BinaryKind::Mul => a * b,
            BinaryKind::Div => a / b,
            BinaryKind::Pow => a.powf(b),
        }
    }

    fn i64(self, a: i64, b: i64) -> Result<i64, String> {
        Ok(match self {
            BinaryKind::Add => a.wrapping_add(b),
            BinaryKind::Sub => a.wrapping_sub(b),
            BinaryKind::Mul => a.wrapping_mul(b),
            BinaryKind::Div => {
                if b == 0 {
                    return Err("integer division by zero".into());
                }
                a.wrapping_div(b)
            }
            BinaryKind::Pow => {
                if b < 0 {
                    return Err("negative integer exponent".into());
                }
                a.wrapping_pow(b.min(u32::MAX as i64) as u32)
            }
        })
    }
}

impl OpDef for Binary {
    fn op_type(&self) -> &str {
        match self.kind {
            BinaryKind::Add => "Add",
            BinaryKind::Sub => "Sub",
            BinaryKind::Mul => "Mul",
            BinaryKind::Div => "Div",
            BinaryKind::Pow => "Pow",
        }
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let (a, b) = (fact(inputs, 0)?, fact(inputs, 1)?);
        let ok = match self.kind {
            BinaryKind::Pow => a.dtype == DType::F32 && matches!(b.dtype, DType::F32 | DType::I64),
            _ => a.dtype == b.dtype && matches!(a.dtype, DType::F32 | DType::I64 | DType::I32),
        };
        if !ok {
            return Err(format!(
                "unsupported input types {} and {}",
                a.dtype, b.dtype
            ));
        }
        let shape = broadcast_shapes(&[a.shape, b.shape])?;
        Ok(vec![OutFact::new(a.dtype, shape)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let (a, b) = (input(inputs, 0)?, input(inputs, 1)?);
        let shape = broadcast_shapes(&[a.shape(), b.shape()])?;
        let offs = broadcast_offsets(&[a.shape(), b.shape()], &shape);
        let pairs = offs[0].iter().zip(&offs[1]);
        let data = match (a.data(), b.data()) {
            (TensorData::F32(x), TensorData::F32(y)) => {
                TensorData::F32(pairs.map(|(&i, &j)| self.kind.f32(x[i], y[j])).collect())
            }
            (TensorData::F32(x), TensorData::I64(y)) => TensorData::F32(
                pairs
                    .map(|(&i, &j)| self.kind.f32(x[i], y[j] as f32))
                    .collect(),
            ),
            (TensorData::I64(x), TensorData::I64(y)) => TensorData::I64(
                pairs
                    .map(|(&i, &j)| self.kind.i64(x[i], y[j]))
                    .collect::<Result<_, _>>()?,
            ),
            (TensorData::I32(x), TensorData::I32(y)) => TensorData::I32(
                pairs
                    .map(|(&i, &j)| self.kind.i64(x[i] as i64, y[j] as i64).map(|v| v as i32))
                    .collect::<Result<_, _>>()?,
            ),
            (x, y) => {
                return Err(format!(
                    "unsupported input types {} and {}",
                    x.dtype(),
                    y.dtype()
                ))
            }
        };
        Ok(vec![Tensor::new(shape, data)?])
    }
}
