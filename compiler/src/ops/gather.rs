//! Gather: pick slices along one axis by (possibly negative) integer indices.

use runtime::{DType, Tensor};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{fact, gather_tensor, input, int_values, normalize_axis};

/// `out[a.., i.., b..] = data[a.., indices[i..], b..]` along `axis`.
#[derive(Clone, Debug)]
pub struct Gather {
    pub axis: i64,
}

/// Parses Gather (`axis`, default 0).
pub fn parse(ctx: &mut ParseCtx) -> Result<Gather, String> {
    Ok(Gather {
        axis: ctx.int_or("axis", 0)?,
    })
}

impl Gather {
    fn output_shape(
        &self,
        data: &[usize],
        indices: &[usize],
    ) -> Result<(usize, Vec<usize>), String> {
        if data.is_empty() {
            return Err("data must have rank ≥ 1".into());
        }
        let axis = normalize_axis(self.axis, data.len())?;
        let mut out = data[..axis].to_vec();
        out.extend_from_slice(indices);
        out.extend_from_slice(&data[axis + 1..]);
        Ok((axis, out))
    }
}

impl OpDef for Gather {
    fn op_type(&self) -> &str {
        "Gather"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let (x, i) = (fact(inputs, 0)?, fact(inputs, 1)?);
        if !matches!(i.dtype, DType::I64 | DType::I32) {
            return Err(format!("indices must be int64 or int32, got {}", i.dtype));
        }
        let (_, shape) = self.output_shape(x.shape, i.shape)?;
        Ok(vec![OutFact::new(x.dtype, shape)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let (x, ind) = (input(inputs, 0)?, input(inputs, 1)?);
        let (axis, shape) = self.output_shape(x.shape(), ind.shape())?;
        let d = x.shape()[axis];
        let indices = int_values(ind, "indices")?
            .into_iter()
            .map(|v| {
                let r = if v < 0 { v + d as i64 } else { v };
                usize::try_from(r)
                    .ok()
                    .filter(|&r| r < d)
                    .ok_or_else(|| format!("index {v} is out of range for axis {axis} of size {d}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let outer: usize = x.shape()[..axis].iter().product();
        let inner: usize = x.shape()[axis + 1..].iter().product();
        let mut idx = Vec::with_capacity(outer * indices.len() * inner);
        for o in 0..outer {
            for &k in &indices {
                let base = (o * d + k) * inner;
                idx.extend(base..base + inner);
            }
        }
        Ok(vec![gather_tensor(x, shape, &idx)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathers_scalar_index_from_shape_vector() {
        let x = Tensor::i64(vec![4], vec![1, 3, 224, 112]);
        let i = Tensor::i64(vec![], vec![-1]);
        let y = Gather { axis: 0 }.eval(&[Some(&x), Some(&i)]).unwrap();
        assert_eq!(y[0], Tensor::i64(vec![], vec![112]));
        let bad = Tensor::i64(vec![1], vec![4]);
        assert!(Gather { axis: 0 }.eval(&[Some(&x), Some(&bad)]).is_err());
    }
}
