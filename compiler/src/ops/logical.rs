//! Boolean logic: And, Or, Xor (numpy broadcasting) and Not.

use runtime::{DType, Tensor, TensorData};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{broadcast_offsets, broadcast_shapes, fact, input};

/// Which function a [`Logical`] applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogicalKind {
    And,
    Or,
    Xor,
    /// Unary: only input 0.
    Not,
}

/// Element-wise boolean logic on bool tensors.
#[derive(Clone, Debug)]
pub struct Logical {
    pub kind: LogicalKind,
}

pub fn parse(ctx: &mut ParseCtx) -> Result<Logical, String> {
    let kind = match ctx.node.op_type() {
        "And" => LogicalKind::And,
        "Or" => LogicalKind::Or,
        "Xor" => LogicalKind::Xor,
        "Not" => LogicalKind::Not,
        other => return Err(format!("not a logical op: {other}")),
    };
    Ok(Logical { kind })
}

impl LogicalKind {
    /// The function on two booleans (`Not` ignores `b`).
    pub fn apply(self, a: bool, b: bool) -> bool {
        match self {
            LogicalKind::And => a && b,
            LogicalKind::Or => a || b,
            LogicalKind::Xor => a != b,
            LogicalKind::Not => !a,
        }
    }

    /// Number of inputs.
    pub fn arity(self) -> usize {
        if self == LogicalKind::Not {
            1
        } else {
            2
        }
    }
}

fn bools(t: &Tensor) -> Result<&[bool], String> {
    match t.data() {
        TensorData::Bool(v) => Ok(v),
        d => Err(format!("inputs must be bool, got {}", d.dtype())),
    }
}

impl OpDef for Logical {
    fn op_type(&self) -> &str {
        match self.kind {
            LogicalKind::And => "And",
            LogicalKind::Or => "Or",
            LogicalKind::Xor => "Xor",
            LogicalKind::Not => "Not",
        }
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let facts: Vec<Fact> = (0..self.kind.arity())
            .map(|i| fact(inputs, i))
            .collect::<Result<_, _>>()?;
        if let Some(f) = facts.iter().find(|f| f.dtype != DType::Bool) {
            return Err(format!("inputs must be bool, got {}", f.dtype));
        }
        let shapes: Vec<&[usize]> = facts.iter().map(|f| f.shape).collect();
        Ok(vec![OutFact::new(DType::Bool, broadcast_shapes(&shapes)?)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let a = input(inputs, 0)?;
        let x = bools(a)?;
        if self.kind == LogicalKind::Not {
            let out = x.iter().map(|&v| !v).collect();
            return Ok(vec![Tensor::new(
                a.shape().to_vec(),
                TensorData::Bool(out),
            )?]);
        }
        let b = input(inputs, 1)?;
        let y = bools(b)?;
        let shape = broadcast_shapes(&[a.shape(), b.shape()])?;
        let offs = broadcast_offsets(&[a.shape(), b.shape()], &shape);
        let out = offs[0]
            .iter()
            .zip(&offs[1])
            .map(|(&i, &j)| self.kind.apply(x[i], y[j]))
            .collect();
        Ok(vec![Tensor::new(shape, TensorData::Bool(out))?])
    }
}
