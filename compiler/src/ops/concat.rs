//! Concat: join tensors along one axis.

use runtime::Tensor;

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{concat_data, fact, input, normalize_axis};

/// Joins all inputs along `axis`; every other dimension must agree.
#[derive(Clone, Debug)]
pub struct Concat {
    pub axis: i64,
}

/// Parses Concat (`axis` is required from opset 4).
pub fn parse(ctx: &mut ParseCtx) -> Result<Concat, String> {
    // `axis` became required in opset 4; before, it defaulted to 1.
    let axis = match ctx.int("axis")? {
        Some(a) => a,
        None if ctx.opset < 4 => 1,
        None => return Err("attribute 'axis' is required".into()),
    };
    if ctx.node.input.is_empty() {
        return Err("Concat needs at least one input".into());
    }
    Ok(Concat { axis })
}

impl Concat {
    /// Normalised axis and output shape for input `shapes`.
    fn output_shape(&self, shapes: &[&[usize]]) -> Result<(usize, Vec<usize>), String> {
        let first = shapes.first().ok_or("Concat needs at least one input")?;
        let axis = normalize_axis(self.axis, first.len())?;
        let mut out = first.to_vec();
        out[axis] = 0;
        for (i, s) in shapes.iter().enumerate() {
            let same_rest =
                s.len() == first.len() && (0..s.len()).all(|d| d == axis || s[d] == first[d]);
            if !same_rest {
                return Err(format!(
                    "input {i} has shape {s:?}, which does not match input 0 {first:?} outside axis {axis}"
                ));
            }
            out[axis] += s[axis];
        }
        Ok((axis, out))
    }
}

impl OpDef for Concat {
    fn op_type(&self) -> &str {
        "Concat"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let facts = (0..inputs.len())
            .map(|i| fact(inputs, i))
            .collect::<Result<Vec<_>, _>>()?;
        let dtype = facts
            .first()
            .ok_or("Concat needs at least one input")?
            .dtype;
        if let Some((i, f)) = facts.iter().enumerate().find(|(_, f)| f.dtype != dtype) {
            return Err(format!(
                "input {i} is {} but input 0 is {dtype}; all inputs must share one type",
                f.dtype
            ));
        }
        let shapes: Vec<&[usize]> = facts.iter().map(|f| f.shape).collect();
        Ok(vec![OutFact::new(dtype, self.output_shape(&shapes)?.1)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let ts = (0..inputs.len())
            .map(|i| input(inputs, i))
            .collect::<Result<Vec<_>, _>>()?;
        let shapes: Vec<&[usize]> = ts.iter().map(|t| t.shape()).collect();
        let (axis, out) = self.output_shape(&shapes)?;
        // Row-major: the output is `outer` repetitions of each input's block of
        // (its axis length × inner) elements, in input order.
        let outer: usize = out[..axis].iter().product();
        let inner: usize = out[axis + 1..].iter().product();
        let mut parts = Vec::new();
        for o in 0..outer {
            for t in &ts {
                let block = t.shape()[axis] * inner;
                let idx: Vec<usize> = (o * block..(o + 1) * block).collect();
                parts.push(super::util::take(t.data(), &idx)?);
            }
        }
        if parts.is_empty() {
            // Some dimension is zero: the output has no elements.
            return Ok(vec![Tensor::zeros(ts[0].dtype(), out)]);
        }
        let refs: Vec<_> = parts.iter().collect();
        Ok(vec![Tensor::new(out, concat_data(&refs)?)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_int64_shape_vectors_and_checks_shapes() {
        let a = Tensor::i64(vec![2], vec![1, 3]);
        let b = Tensor::i64(vec![1], vec![-1]);
        let y = Concat { axis: 0 }.eval(&[Some(&a), Some(&b)]).unwrap();
        assert_eq!(y[0], Tensor::i64(vec![3], vec![1, 3, -1]));
        let c = Concat { axis: -1 };
        assert_eq!(
            c.output_shape(&[&[2, 1], &[2, 3]]).unwrap(),
            (1, vec![2, 4])
        );
        assert!(c.output_shape(&[&[2, 1], &[3, 1]]).is_err());
    }
}
