//! Unsqueeze: insert size-1 axes.

use runtime::Tensor;

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{const_input, fact, input, int_values, normalize_axis};

/// Inserts size-1 axes at the positions (in the output) given by int64 input 1.
#[derive(Clone, Debug)]
pub struct Unsqueeze;

/// Parses Unsqueeze, promoting the pre-opset-13 `axes` attribute to input 1.
pub fn parse(ctx: &mut ParseCtx) -> Result<Unsqueeze, String> {
    // Before opset 13 the axes were an attribute.
    ctx.moved_to_input("axes", 13, 1)?;
    if ctx.opset < 13 {
        let axes = ctx
            .ints("axes")?
            .ok_or("attribute 'axes' is required before opset 13")?;
        ctx.promote(1, Tensor::i64(vec![axes.len()], axes));
    }
    Ok(Unsqueeze)
}

/// Output shape of inserting unit axes at `axes` (any order, negative from the end of
/// the output) into `shape`.
fn unsqueezed(shape: &[usize], axes: &[i64]) -> Result<Vec<usize>, String> {
    let rank = shape.len() + axes.len();
    let mut unit = vec![false; rank];
    for &a in axes {
        let n = normalize_axis(a, rank)?;
        if unit[n] {
            return Err(format!("axes {axes:?} repeat axis {n}"));
        }
        unit[n] = true;
    }
    let mut rest = shape.iter();
    // Exactly `shape.len()` positions are not unit, so `rest` never runs out.
    Ok(unit
        .iter()
        .map(|&u| {
            if u {
                1
            } else {
                rest.next().copied().unwrap_or(1)
            }
        })
        .collect())
}

impl OpDef for Unsqueeze {
    fn op_type(&self) -> &str {
        "Unsqueeze"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let x = fact(inputs, 0)?;
        let t = const_input(inputs, 1, "axes")?;
        if t.rank() != 1 {
            return Err(format!("axes must be 1-D, got shape {:?}", t.shape()));
        }
        let shape = unsqueezed(x.shape, &int_values(t, "axes")?)?;
        Ok(vec![OutFact::new(x.dtype, shape)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let x = input(inputs, 0)?;
        let axes = int_values(input(inputs, 1)?, "axes")?;
        let shape = unsqueezed(x.shape(), &axes)?;
        Ok(vec![x.clone().reshaped(shape)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_unsorted_and_negative_axes() {
        assert_eq!(unsqueezed(&[3, 4], &[2, 0]).unwrap(), vec![1, 3, 1, 4]);
        assert_eq!(unsqueezed(&[3, 4], &[-1]).unwrap(), vec![3, 4, 1]);
        assert!(unsqueezed(&[3], &[0, -3]).is_err());
        assert!(unsqueezed(&[3], &[2]).is_err());
        let x = Tensor::i64(vec![], vec![5]);
        let axes = Tensor::i64(vec![1], vec![0]);
        let y = Unsqueeze.eval(&[Some(&x), Some(&axes)]).unwrap();
        assert_eq!(y[0], Tensor::i64(vec![1], vec![5]));
    }
}
