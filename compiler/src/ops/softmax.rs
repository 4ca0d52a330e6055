//! Softmax and LogSoftmax.
//!
//! Opsets before 13 coerce the input to 2-D at `axis` (default 1) and normalise each row
//! over all trailing dimensions; from 13 they normalise along `axis` alone (default -1).

use runtime::{DType, Tensor};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{fact, input, normalize_axis};

/// A softmax over groups of elements; `log` selects LogSoftmax.
#[derive(Clone, Debug)]
pub struct Softmax {
    pub log: bool,
    pub axis: i64,
    /// Opset < 13 semantics: normalise over the flattened dims from `axis` on.
    pub flatten: bool,
}

pub fn parse(ctx: &mut ParseCtx) -> Result<Softmax, String> {
    let log = match ctx.node.op_type() {
        "Softmax" => false,
        "LogSoftmax" => true,
        other => return Err(format!("not a softmax op: {other}")),
    };
    let flatten = ctx.opset < 13;
    let axis = ctx.int_or("axis", if flatten { 1 } else { -1 })?;
    Ok(Softmax { log, axis, flatten })
}

impl Softmax {
    /// `(outer, n, inner)`: the input is viewed as `[outer, n, inner]` and normalised
    /// over the middle dimension.
    fn geometry(&self, shape: &[usize]) -> Result<(usize, usize, usize), String> {
        if shape.is_empty() {
            return Err("the input must have rank ≥ 1".into());
        }
        let a = normalize_axis(self.axis, shape.len())?;
        let outer: usize = shape[..a].iter().product();
        if self.flatten {
            Ok((outer, shape[a..].iter().product(), 1))
        } else {
            Ok((outer, shape[a], shape[a + 1..].iter().product()))
        }
    }
}

impl OpDef for Softmax {
    fn op_type(&self) -> &str {
        if self.log {
            "LogSoftmax"
        } else {
            "Softmax"
        }
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let x = fact(inputs, 0)?;
        if x.dtype != DType::F32 {
            return Err(format!(
                "{} needs float32 input, got {}",
                self.op_type(),
                x.dtype
            ));
        }
        self.geometry(x.shape)?;
        Ok(vec![OutFact::new(DType::F32, x.shape.to_vec())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let x = input(inputs, 0)?;
        let xd = x.as_f32()?;
        let (outer, n, inner) = self.geometry(x.shape())?;
        let mut y = vec![0f32; xd.len()];
        for o in 0..outer {
            for i in 0..inner {
                let at = |k: usize| (o * n + k) * inner + i;
                // Subtracting the max keeps exp() ≤ 1, so nothing overflows.
                let max = (0..n).map(|k| xd[at(k)]).fold(f32::NEG_INFINITY, f32::max) as f64;
                let sum: f64 = (0..n).map(|k| (xd[at(k)] as f64 - max).exp()).sum();
                for k in 0..n {
                    let d = xd[at(k)] as f64 - max;
                    y[at(k)] = if self.log {
                        (d - sum.ln()) as f32
                    } else {
                        (d.exp() / sum) as f32
                    };
                }
            }
        }
        Ok(vec![Tensor::f32(x.shape().to_vec(), y)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(op: &Softmax, x: &Tensor) -> Vec<f32> {
        op.eval(&[Some(x)]).unwrap()[0].as_f32().unwrap().to_vec()
    }

    #[test]
    fn opset_11_normalises_flattened_trailing_dims() {
        let x = Tensor::f32(vec![1, 2, 2], vec![0.0, 0.0, 0.0, 0.0]);
        let old = Softmax {
            log: false,
            axis: 1,
            flatten: true,
        };
        assert_eq!(run(&old, &x), vec![0.25; 4]);
        let new = Softmax {
            log: false,
            axis: 1,
            flatten: false,
        };
        assert_eq!(run(&new, &x), vec![0.5; 4]);
    }

    #[test]
    fn log_softmax_is_stable_for_large_inputs() {
        let x = Tensor::f32(vec![2], vec![1000.0, 0.0]);
        let op = Softmax {
            log: true,
            axis: -1,
            flatten: false,
        };
        let y = run(&op, &x);
        assert_eq!(y[0], 0.0);
        assert_eq!(y[1], -1000.0);
    }

    #[test]
    fn axis_out_of_range_is_reported() {
        let op = Softmax {
            log: false,
            axis: 3,
            flatten: false,
        };
        let f = Fact {
            dtype: DType::F32,
            shape: &[2, 2],
            value: None,
        };
        assert!(op.infer(&[Some(f)]).unwrap_err().contains("axis 3"));
    }
}
