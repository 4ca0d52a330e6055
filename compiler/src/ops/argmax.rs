//! ArgMax and ArgMin along one axis, producing int64 indices.

use runtime::{DType, Tensor, TensorData};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{fact, input, normalize_axis};

/// Index of the largest (`min == false`) or smallest element along `axis`.
#[derive(Clone, Debug)]
pub struct ArgMax {
    pub min: bool,
    pub axis: i64,
    pub keepdims: bool,
    /// On ties, report the last index instead of the first.
    pub select_last_index: bool,
}

pub fn parse(ctx: &mut ParseCtx) -> Result<ArgMax, String> {
    let min = match ctx.node.op_type() {
        "ArgMax" => false,
        "ArgMin" => true,
        other => return Err(format!("not an arg-reduction: {other}")),
    };
    Ok(ArgMax {
        min,
        axis: ctx.int_or("axis", 0)?,
        keepdims: ctx.flag("keepdims", true)?,
        select_last_index: ctx.flag("select_last_index", false)?,
    })
}

impl ArgMax {
    fn out_shape(&self, shape: &[usize]) -> Result<(usize, Vec<usize>), String> {
        let a = normalize_axis(self.axis, shape.len())?;
        if shape[a] == 0 {
            return Err(format!(
                "cannot take {} over empty axis {a}",
                self.op_type()
            ));
        }
        let mut out = shape.to_vec();
        if self.keepdims {
            out[a] = 1;
        } else {
            out.remove(a);
        }
        Ok((a, out))
    }

    /// Whether `v` replaces the current best `best`.
    fn better(&self, v: f64, best: f64) -> bool {
        match (self.min, self.select_last_index) {
            (false, false) => v > best,
            (false, true) => v >= best,
            (true, false) => v < best,
            (true, true) => v <= best,
        }
    }
}

impl OpDef for ArgMax {
    fn op_type(&self) -> &str {
        if self.min {
            "ArgMin"
        } else {
            "ArgMax"
        }
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let x = fact(inputs, 0)?;
        if !matches!(x.dtype, DType::F32 | DType::I64 | DType::I32) {
            return Err(format!(
                "{} does not support {} input",
                self.op_type(),
                x.dtype
            ));
        }
        let (_, out) = self.out_shape(x.shape)?;
        Ok(vec![OutFact::new(DType::I64, out)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let x = input(inputs, 0)?;
        if !matches!(
            x.data(),
            TensorData::F32(_) | TensorData::I64(_) | TensorData::I32(_)
        ) {
            return Err(format!(
                "{} does not support {} input",
                self.op_type(),
                x.dtype()
            ));
        }
        // Every f32/i32 is exact in f64; int64 beyond 2^53 could tie falsely, which is
        // outside what index tensors hold.
        let v = x.to_f64_vec();
        let (a, out) = self.out_shape(x.shape())?;
        let shape = x.shape();
        let outer: usize = shape[..a].iter().product();
        let n = shape[a];
        let inner: usize = shape[a + 1..].iter().product();
        let mut y = Vec::with_capacity(outer * inner);
        for o in 0..outer {
            for i in 0..inner {
                let at = |k: usize| (o * n + k) * inner + i;
                let mut best = 0;
                for k in 1..n {
                    if self.better(v[at(k)], v[at(best)]) {
                        best = k;
                    }
                }
                y.push(best as i64);
            }
        }
        Ok(vec![Tensor::i64(out, y)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_and_last_index() {
        let x = Tensor::f32(vec![2, 3], vec![1.0, 3.0, 3.0, 2.0, 0.0, 2.0]);
        let mut op = ArgMax {
            min: false,
            axis: -1,
            keepdims: false,
            select_last_index: false,
        };
        let y = op.eval(&[Some(&x)]).unwrap();
        assert_eq!(y[0].shape(), &[2]);
        assert_eq!(y[0].as_i64().unwrap(), &[1, 0]);
        op.select_last_index = true;
        assert_eq!(op.eval(&[Some(&x)]).unwrap()[0].as_i64().unwrap(), &[2, 2]);
        op.min = true;
        op.axis = 0;
        op.keepdims = true;
        let y = op.eval(&[Some(&x)]).unwrap();
        assert_eq!(y[0].shape(), &[1, 3]);
        assert_eq!(y[0].as_i64().unwrap(), &[0, 1, 1]);
    }

    #[test]
    fn empty_axis_is_an_error() {
        let op = ArgMax {
            min: false,
            axis: 0,
            keepdims: true,
            select_last_index: false,
        };
        let f = Fact {
            dtype: DType::F32,
            shape: &[0, 2],
            value: None,
        };
        assert!(op.infer(&[Some(f)]).unwrap_err().contains("empty axis"));
    }
}
