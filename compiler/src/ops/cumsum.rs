//! CumSum: running sums along one axis (given as a constant scalar input), optionally
//! exclusive (each output excludes its own element) and/or reversed.

use runtime::{DType, Tensor, TensorData};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{const_input, fact, input, int_values, normalize_axis};

/// Cumulative sum of input 0 along the axis in input 1.
#[derive(Clone, Debug)]
pub struct CumSum {
    pub exclusive: bool,
    pub reverse: bool,
}

pub fn parse(ctx: &mut ParseCtx) -> Result<CumSum, String> {
    Ok(CumSum {
        exclusive: ctx.flag("exclusive", false)?,
        reverse: ctx.flag("reverse", false)?,
    })
}

/// The axis operand, resolved against `rank`.
pub fn axis_of(t: &Tensor, rank: usize) -> Result<usize, String> {
    let v = int_values(t, "axis")?;
    match v.as_slice() {
        [a] => normalize_axis(*a, rank),
        _ => Err(format!("axis must be a scalar, got {} values", v.len())),
    }
}

impl CumSum {
    fn run<T: Copy + std::ops::Add<Output = T>>(
        &self,
        x: &[T],
        shape: &[usize],
        axis: usize,
        zero: T,
    ) -> Vec<T> {
        let n = shape[axis];
        let inner: usize = shape[axis + 1..].iter().product();
        let outer: usize = shape[..axis].iter().product();
        let mut y = vec![zero; x.len()];
        for o in 0..outer {
            for i in 0..inner {
                let at = |k: usize| (o * n + k) * inner + i;
                let mut acc = zero;
                for step in 0..n {
                    let k = if self.reverse { n - 1 - step } else { step };
                    if self.exclusive {
                        y[at(k)] = acc;
                        acc = acc + x[at(k)];
                    } else {
                        acc = acc + x[at(k)];
                        y[at(k)] = acc;
                    }
                }
            }
        }
        y
    }
}

impl OpDef for CumSum {
    fn op_type(&self) -> &str {
        "CumSum"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let x = fact(inputs, 0)?;
        if !matches!(x.dtype, DType::F32 | DType::F64 | DType::I32 | DType::I64) {
            return Err(format!("CumSum does not support {} inputs", x.dtype));
        }
        axis_of(const_input(inputs, 1, "CumSum's axis")?, x.shape.len())?;
        Ok(vec![OutFact::new(x.dtype, x.shape.to_vec())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let x = input(inputs, 0)?;
        let axis = axis_of(input(inputs, 1)?, x.rank())?;
        let s = x.shape();
        let data = match x.data() {
            // Sums of floats accumulate in f64 and round once per output.
            TensorData::F32(v) => {
                let w: Vec<f64> = v.iter().map(|&a| a as f64).collect();
                TensorData::F32(
                    self.run(&w, s, axis, 0.0)
                        .into_iter()
                        .map(|a| a as f32)
                        .collect(),
                )
            }
            TensorData::F64(v) => TensorData::F64(self.run(v, s, axis, 0.0)),
            TensorData::I32(v) => {
                let w: Vec<i64> = v.iter().map(|&a| a as i64).collect();
                TensorData::I32(
                    self.run(&w, s, axis, 0)
                        .into_iter()
                        .map(|a| a as i32)
                        .collect(),
                )
            }
            TensorData::I64(v) => TensorData::I64(self.run(v, s, axis, 0)),
            d => return Err(format!("CumSum does not support {} inputs", d.dtype())),
        };
        Ok(vec![Tensor::new(s.to_vec(), data)?])
    }
}
