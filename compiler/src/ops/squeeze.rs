//! Squeeze: drop size-1 axes (the listed ones, or all of them).

use runtime::Tensor;

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{fact, input, int_values, normalize_axis};

/// Removes the axes given by the optional int64 input 1 (all size-1 axes when omitted).
#[derive(Clone, Debug)]
pub struct Squeeze;

/// Parses Squeeze, promoting the pre-opset-13 `axes` attribute to input 1.
pub fn parse(ctx: &mut ParseCtx) -> Result<Squeeze, String> {
    // Before opset 13 the axes were an attribute.
    ctx.moved_to_input("axes", 13, 1)?;
    if ctx.opset < 13 {
        if let Some(axes) = ctx.ints("axes")? {
            ctx.promote(1, Tensor::i64(vec![axes.len()], axes));
        }
    }
    Ok(Squeeze)
}

/// Output shape of squeezing `shape` along `axes` (`None`: every size-1 axis).
fn squeezed(shape: &[usize], axes: Option<&[i64]>) -> Result<Vec<usize>, String> {
    let Some(axes) = axes else {
        return Ok(shape.iter().copied().filter(|&d| d != 1).collect());
    };
    let mut drop = vec![false; shape.len()];
    for &a in axes {
        let n = normalize_axis(a, shape.len())?;
        if drop[n] {
            return Err(format!("axes {axes:?} repeat axis {n}"));
        }
        if shape[n] != 1 {
            return Err(format!(
                "cannot squeeze axis {a} of shape {shape:?}: its size is not 1"
            ));
        }
        drop[n] = true;
    }
    Ok(shape
        .iter()
        .zip(&drop)
        .filter(|(_, &d)| !d)
        .map(|(&s, _)| s)
        .collect())
}

impl OpDef for Squeeze {
    fn op_type(&self) -> &str {
        "Squeeze"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let x = fact(inputs, 0)?;
        let axes = match inputs.get(1).copied().flatten() {
            None => None,
            Some(f) => {
                let t = f
                    .value
                    .ok_or("axes (input 1) must be a constant known at compile time")?;
                if t.rank() != 1 {
                    return Err(format!("axes must be 1-D, got shape {:?}", t.shape()));
                }
                Some(int_values(t, "axes")?)
            }
        };
        Ok(vec![OutFact::new(
            x.dtype,
            squeezed(x.shape, axes.as_deref())?,
        )])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let x = input(inputs, 0)?;
        let axes = inputs
            .get(1)
            .copied()
            .flatten()
            .map(|t| int_values(t, "axes"))
            .transpose()?;
        let shape = squeezed(x.shape(), axes.as_deref())?;
        Ok(vec![x.clone().reshaped(shape)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeezes_listed_or_all_unit_axes() {
        assert_eq!(squeezed(&[1, 3, 1, 2], None).unwrap(), vec![3, 2]);
        assert_eq!(squeezed(&[1, 3, 1, 2], Some(&[-2])).unwrap(), vec![1, 3, 2]);
        assert!(squeezed(&[1, 3], Some(&[1])).is_err());
        assert!(squeezed(&[1, 3], Some(&[0, -2])).is_err());
        let x = Tensor::i64(vec![1, 2], vec![7, 8]);
        let axes = Tensor::i64(vec![1], vec![0]);
        let y = Squeeze.eval(&[Some(&x), Some(&axes)]).unwrap();
        assert_eq!(y[0], Tensor::i64(vec![2], vec![7, 8]));
    }
}
