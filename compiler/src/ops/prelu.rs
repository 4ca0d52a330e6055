//! PRelu: leaky ReLU with a learned slope broadcast (unidirectionally) to the input.

use runtime::{DType, Tensor};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{broadcast_offsets, broadcast_shapes, fact, input};

/// `Y = X < 0 ? slope · X : X`, `slope` broadcast to X's shape.
#[derive(Clone, Debug)]
pub struct PRelu;

pub fn parse(_ctx: &mut ParseCtx) -> Result<PRelu, String> {
    Ok(PRelu)
}

/// Checks that `slope` broadcasts to `x` without growing it.
fn check_shapes(x: &[usize], slope: &[usize]) -> Result<(), String> {
    let out = broadcast_shapes(&[x, slope])?;
    if out != x {
        return Err(format!(
            "slope shape {:?} must broadcast to the input shape {:?}",
            slope, x
        ));
    }
    Ok(())
}

impl OpDef for PRelu {
    fn op_type(&self) -> &str {
        "PRelu"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let (x, s) = (fact(inputs, 0)?, fact(inputs, 1)?);
        if x.dtype != DType::F32 || s.dtype != DType::F32 {
            return Err(format!(
                "PRelu needs float32 X and slope, got {} and {}",
                x.dtype, s.dtype
            ));
        }
        check_shapes(x.shape, s.shape)?;
        Ok(vec![OutFact::new(DType::F32, x.shape.to_vec())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let (x, s) = (input(inputs, 0)?, input(inputs, 1)?);
        check_shapes(x.shape(), s.shape())?;
        let (xd, sd) = (x.as_f32()?, s.as_f32()?);
        let offs = broadcast_offsets(&[s.shape()], x.shape());
        let y = xd
            .iter()
            .zip(&offs[0])
            .map(|(&v, &j)| if v < 0.0 { sd[j] * v } else { v })
            .collect();
        Ok(vec![Tensor::f32(x.shape().to_vec(), y)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_channel_slope() {
        let x = Tensor::f32(vec![1, 2, 2], vec![-1.0, 2.0, -3.0, 4.0]);
        let s = Tensor::f32(vec![2, 1], vec![0.5, 0.25]);
        let y = PRelu.eval(&[Some(&x), Some(&s)]).unwrap();
        assert_eq!(y[0].as_f32().unwrap(), &[-0.5, 2.0, -0.75, 4.0]);
    }

    #[test]
    fn slope_may_not_grow_the_input() {
        let f = |shape| Fact {
            dtype: DType::F32,
            shape,
            value: None,
        };
        let err = PRelu.infer(&[Some(f(&[3])), Some(f(&[2, 3]))]).unwrap_err();
        assert!(err.contains("must broadcast"), "{err}");
    }
}
