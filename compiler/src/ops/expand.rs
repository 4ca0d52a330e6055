//! Expand: broadcasts the input to a shape given as a constant int64 vector (numpy rules in
//! both directions: the result has the broadcast of the input's and the given shape).

use runtime::Tensor;

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{broadcast_offsets, broadcast_shapes, const_input, fact, input, int_values};

/// `Y = X` broadcast to `broadcast(shape(X), shape)`.
#[derive(Clone, Debug)]
pub struct Expand;

pub fn parse(_ctx: &mut ParseCtx) -> Result<Expand, String> {
    Ok(Expand)
}

/// The requested dims (input 1), each ≥ 0.
fn target(t: &Tensor) -> Result<Vec<usize>, String> {
    if t.rank() != 1 {
        return Err(format!("shape must be a 1-D tensor, got rank {}", t.rank()));
    }
    int_values(t, "shape")?
        .into_iter()
        .map(|d| usize::try_from(d).map_err(|_| format!("shape has a negative dimension {d}")))
        .collect()
}

impl OpDef for Expand {
    fn op_type(&self) -> &str {
        "Expand"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let x = fact(inputs, 0)?;
        let dims = target(const_input(inputs, 1, "Expand's shape")?)?;
        let shape = broadcast_shapes(&[x.shape, &dims])?;
        super::util::checked_numel(&shape)?;
        Ok(vec![OutFact::new(x.dtype, shape)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let x = input(inputs, 0)?;
        let dims = target(input(inputs, 1)?)?;
        let shape = broadcast_shapes(&[x.shape(), &dims])?;
        let offs = broadcast_offsets(&[x.shape()], &shape);
        Ok(vec![super::util::gather_tensor(x, shape, &offs[0])?])
    }
}
