//! Flatten: collapse the dims before and from `axis` into a 2-D tensor.

use runtime::Tensor;

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{fact, input};

/// `[d0 … d(axis-1), d(axis) … dn]` → `[d0·…·d(axis-1), d(axis)·…·dn]`.
#[derive(Clone, Debug)]
pub struct Flatten {
    /// In `[-rank, rank]`; negative counts from the end.
    pub axis: i64,
}

/// Parses Flatten (`axis`, default 1; negative from opset 11).
pub fn parse(ctx: &mut ParseCtx) -> Result<Flatten, String> {
    let axis = ctx.int_or("axis", 1)?;
    // Negative axes exist from opset 11.
    if axis < 0 && ctx.opset < 11 {
        return Err(format!(
            "attribute 'axis' must be non-negative before opset 11, got {axis}"
        ));
    }
    Ok(Flatten { axis })
}

impl Flatten {
    fn output_shape(&self, shape: &[usize]) -> Result<Vec<usize>, String> {
        let r = shape.len() as i64;
        let a = if self.axis < 0 {
            self.axis + r
        } else {
            self.axis
        };
        if a < 0 || a > r {
            return Err(format!(
                "attribute 'axis' {} is out of range for rank {r}",
                self.axis
            ));
        }
        let a = a as usize;
        Ok(vec![
            shape[..a].iter().product(),
            shape[a..].iter().product(),
        ])
    }
}

impl OpDef for Flatten {
    fn op_type(&self) -> &str {
        "Flatten"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let x = fact(inputs, 0)?;
        Ok(vec![OutFact::new(x.dtype, self.output_shape(x.shape)?)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let x = input(inputs, 0)?;
        let shape = self.output_shape(x.shape())?;
        Ok(vec![x.clone().reshaped(shape)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_bounds_and_dtype_generic() {
        let f = Flatten { axis: -1 };
        assert_eq!(f.output_shape(&[2, 3, 4]).unwrap(), vec![6, 4]);
        assert_eq!(
            Flatten { axis: 0 }.output_shape(&[2, 3]).unwrap(),
            vec![1, 6]
        );
        assert_eq!(
            Flatten { axis: 2 }.output_shape(&[2, 3]).unwrap(),
            vec![6, 1]
        );
        assert!(Flatten { axis: 3 }.output_shape(&[2, 3]).is_err());
        assert!(Flatten { axis: -3 }.output_shape(&[2, 3]).is_err());
        let x = Tensor::i64(vec![1, 2, 2], vec![1, 2, 3, 4]);
        let y = Flatten { axis: 1 }.eval(&[Some(&x)]).unwrap();
        assert_eq!(y[0], Tensor::i64(vec![1, 4], vec![1, 2, 3, 4]));
    }
}
