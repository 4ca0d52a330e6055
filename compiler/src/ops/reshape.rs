//! Reshape: same elements, new shape from a constant int64 `shape` input.

use runtime::{DType, Tensor};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{checked_numel, const_input, fact, input, int_values};

/// `reshaped = data` viewed with the shape given by input 1 (`0` copies the input
/// dimension unless `allowzero`, one `-1` is inferred).
#[derive(Clone, Debug)]
pub struct Reshape {
    pub allowzero: bool,
}

/// Parses Reshape, promoting the pre-opset-5 `shape` attribute to input 1.
pub fn parse(ctx: &mut ParseCtx) -> Result<Reshape, String> {
    // Before opset 5 the target shape was the `shape` attribute.
    ctx.moved_to_input("shape", 5, 1)?;
    if ctx.opset < 5 {
        let shape = ctx
            .ints("shape")?
            .ok_or("attribute 'shape' is required before opset 5")?;
        ctx.promote(1, Tensor::i64(vec![shape.len()], shape));
    }
    let allowzero = ctx.flag("allowzero", false)?;
    Ok(Reshape { allowzero })
}

impl Reshape {
    /// The output shape for an input of `input` dims and requested `spec`.
    pub fn output_shape(&self, input: &[usize], spec: &[i64]) -> Result<Vec<usize>, String> {
        let numel = checked_numel(input)?;
        let mut out = Vec::with_capacity(spec.len());
        let mut infer_at = None;
        for (i, &d) in spec.iter().enumerate() {
            match d {
                -1 => {
                    if infer_at.replace(i).is_some() {
                        return Err("shape may contain at most one -1".into());
                    }
                    out.push(1);
                }
                0 if !self.allowzero => out.push(*input.get(i).ok_or_else(|| {
                    format!(
                        "shape {spec:?} copies dimension {i} (0) but the input has rank {}",
                        input.len()
                    )
                })?),
                d if d >= 0 => out.push(d as usize),
                d => return Err(format!("shape {spec:?} has invalid dimension {d}")),
            }
        }
        if self.allowzero && infer_at.is_some() && spec.contains(&0) {
            return Err(format!(
                "shape {spec:?} has both 0 and -1, which allowzero=1 forbids"
            ));
        }
        let known = checked_numel(&out)?;
        if let Some(i) = infer_at {
            if known == 0 || numel % known != 0 {
                return Err(format!(
                    "cannot infer -1 in shape {spec:?} for an input of {numel} elements"
                ));
            }
            out[i] = numel / known;
        } else if known != numel {
            return Err(format!(
                "cannot reshape {input:?} ({numel} elements) to {out:?} ({known} elements)"
            ));
        }
        Ok(out)
    }
}

impl OpDef for Reshape {
    fn op_type(&self) -> &str {
        "Reshape"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let x = fact(inputs, 0)?;
        let s = const_input(inputs, 1, "shape")?;
        if s.dtype() != DType::I64 || s.rank() != 1 {
            return Err(format!(
                "shape must be a 1-D int64 tensor, got {} {:?}",
                s.dtype(),
                s.shape()
            ));
        }
        let shape = self.output_shape(x.shape, &int_values(s, "shape")?)?;
        Ok(vec![OutFact::new(x.dtype, shape)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let x = input(inputs, 0)?;
        let spec = int_values(input(inputs, 1)?, "shape")?;
        let shape = self.output_shape(x.shape(), &spec)?;
        Ok(vec![x.clone().reshaped(shape)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_copies_unless_allowzero_and_minus_one_is_inferred() {
        let r = Reshape { allowzero: false };
        assert_eq!(r.output_shape(&[2, 3, 4], &[0, -1]).unwrap(), vec![2, 12]);
        assert!(r.output_shape(&[2, 3], &[-1, -1]).is_err());
        assert!(r.output_shape(&[2, 3], &[4, -1]).is_err());
        let z = Reshape { allowzero: true };
        assert_eq!(z.output_shape(&[0, 3], &[3, 0]).unwrap(), vec![3, 0]);
        assert!(z.output_shape(&[2, 3], &[0, 6]).is_err());
    }

    #[test]
    fn reshapes_int64_shape_tensors() {
        let r = Reshape { allowzero: false };
        let x = Tensor::i64(vec![4], vec![1, 3, 224, 224]);
        let s = Tensor::i64(vec![2], vec![2, 2]);
        let y = r.eval(&[Some(&x), Some(&s)]).unwrap();
        assert_eq!(y[0], Tensor::i64(vec![2, 2], vec![1, 3, 224, 224]));
    }
}
