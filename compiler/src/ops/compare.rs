//! Comparisons with numpy broadcasting: Equal, Less, LessOrEqual, Greater, GreaterOrEqual.
//! The output is bool; NaN compares unequal and unordered, as in IEEE 754.

use runtime::{DType, Tensor, TensorData};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{broadcast_offsets, broadcast_shapes, fact, input};

/// Which comparison a [`Compare`] performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareKind {
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// `C = A cmp B` element-wise, bool output.
#[derive(Clone, Debug)]
pub struct Compare {
    pub kind: CompareKind,
}

pub fn parse(ctx: &mut ParseCtx) -> Result<Compare, String> {
    let kind = match ctx.node.op_type() {
        "Equal" => CompareKind::Equal,
        "Less" => CompareKind::Less,
        "LessOrEqual" => CompareKind::LessOrEqual,
        "Greater" => CompareKind::Greater,
        "GreaterOrEqual" => CompareKind::GreaterOrEqual,
        other => return Err(format!("not a comparison: {other}")),
    };
    Ok(Compare { kind })
}

impl CompareKind {
    /// The comparison on any ordered element type.
    pub fn apply<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CompareKind::Equal => a == b,
            CompareKind::Less => a < b,
            CompareKind::LessOrEqual => a <= b,
            CompareKind::Greater => a > b,
            CompareKind::GreaterOrEqual => a >= b,
        }
    }
}

impl OpDef for Compare {
    fn op_type(&self) -> &str {
        match self.kind {
            CompareKind::Equal => "Equal",
            CompareKind::Less => "Less",
            CompareKind::LessOrEqual => "LessOrEqual",
            CompareKind::Greater => "Greater",
            CompareKind::GreaterOrEqual => "GreaterOrEqual",
        }
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let (a, b) = (fact(inputs, 0)?, fact(inputs, 1)?);
        if a.dtype != b.dtype {
            return Err(format!(
                "inputs must have the same type, got {} and {}",
                a.dtype, b.dtype
            ));
        }
        let shape = broadcast_shapes(&[a.shape, b.shape])?;
        Ok(vec![OutFact::new(DType::Bool, shape)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let (a, b) = (input(inputs, 0)?, input(inputs, 1)?);
        let shape = broadcast_shapes(&[a.shape(), b.shape()])?;
        let offs = broadcast_offsets(&[a.shape(), b.shape()], &shape);
        let k = self.kind;
        fn go<T: PartialOrd + Copy>(
            k: CompareKind,
            x: &[T],
            y: &[T],
            o: &[Vec<usize>],
        ) -> Vec<bool> {
            o[0].iter()
                .zip(&o[1])
                .map(|(&i, &j)| k.apply(x[i], y[j]))
                .collect()
        }
        let out = match (a.data(), b.data()) {
            (TensorData::F32(x), TensorData::F32(y)) => go(k, x, y, &offs),
            (TensorData::F64(x), TensorData::F64(y)) => go(k, x, y, &offs),
            (TensorData::I32(x), TensorData::I32(y)) => go(k, x, y, &offs),
            (TensorData::I64(x), TensorData::I64(y)) => go(k, x, y, &offs),
            (TensorData::U8(x), TensorData::U8(y)) => go(k, x, y, &offs),
            (TensorData::Bool(x), TensorData::Bool(y)) => go(k, x, y, &offs),
            (x, y) => {
                return Err(format!(
                    "inputs must have the same type, got {} and {}",
                    x.dtype(),
                    y.dtype()
                ))
            }
        };
        Ok(vec![Tensor::new(shape, TensorData::Bool(out))?])
    }
}
