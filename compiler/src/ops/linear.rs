//! Linear: `act(A · W + bias [+ R])` over the last axis of `A` (any leading axes), with a
//! constant 2-D weight. Produced by the `fuse-linear` pass from MatMul, a bias Add, a
//! residual Add and an activation; lowered to one packed GEMM call with that epilogue.
//! Inputs: `[A, W, bias?, R?]`.

use runtime::{DType, Tensor};

use super::def::{Fact, OpDef, OutFact};
use super::fused_conv::Activation;
use super::util::{fact, input};

/// A dense layer with its epilogue fused.
#[derive(Clone, Debug)]
pub struct Linear {
    pub activation: Activation,
}

/// `(rows, k, n)` for A of `a` and W of `w`.
fn dims(a: &[usize], w: &[usize]) -> Result<(usize, usize, usize), String> {
    if a.len() < 2 || w.len() != 2 || a[a.len() - 1] != w[0] {
        return Err(format!(
            "Linear needs A [..., k] and W [k, n], got {} and {}",
            runtime::tensor::fmt_shape(a),
            runtime::tensor::fmt_shape(w)
        ));
    }
    Ok((a[..a.len() - 1].iter().product(), w[0], w[1]))
}

impl OpDef for Linear {
    fn op_type(&self) -> &str {
        "Linear"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let (a, w) = (fact(inputs, 0)?, fact(inputs, 1)?);
        let (_, _, n) = dims(a.shape, w.shape)?;
        let mut out = a.shape.to_vec();
        *out.last_mut().unwrap_or(&mut 0) = n;
        if let Some(Some(b)) = inputs.get(2) {
            if b.shape != [n] {
                return Err(format!(
                    "bias must be [{n}], got {}",
                    runtime::tensor::fmt_shape(b.shape)
                ));
            }
        }
        if let Some(Some(r)) = inputs.get(3) {
            if r.shape != out.as_slice() {
                return Err("residual must have the output's shape".into());
            }
        }
        if inputs.iter().flatten().any(|f| f.dtype != DType::F32) {
            return Err("Linear is float32 only".into());
        }
        Ok(vec![OutFact::new(DType::F32, out)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let (a, w) = (input(inputs, 0)?, input(inputs, 1)?);
        let (rows, k, n) = dims(a.shape(), w.shape())?;
        let (av, wv) = (a.as_f32()?, w.as_f32()?);
        let bias = inputs
            .get(2)
            .copied()
            .flatten()
            .map(|t| t.as_f32())
            .transpose()?;
        let res = inputs
            .get(3)
            .copied()
            .flatten()
            .map(|t| t.as_f32())
            .transpose()?;
        let mut y = vec![0f32; rows * n];
        for r in 0..rows {
            for c in 0..n {
                let mut acc: f64 = (0..k)
                    .map(|i| av[r * k + i] as f64 * wv[i * n + c] as f64)
                    .sum();
                acc += bias.map_or(0.0, |b| b[c] as f64);
                acc += res.map_or(0.0, |x| x[r * n + c] as f64);
                y[r * n + c] = self.activation.apply(acc as f32);
            }
        }
        let mut shape = a.shape().to_vec();
        *shape.last_mut().unwrap_or(&mut 0) = n;
        Ok(vec![Tensor::f32(shape, y)])
    }

    fn macs(&self, inputs: &[Option<&[usize]>], outputs: &[&[usize]]) -> u64 {
        let k = inputs
            .first()
            .copied()
            .flatten()
            .and_then(|s| s.last())
            .copied()
            .unwrap_or(0);
        outputs
            .first()
            .map_or(0, |o| o.iter().product::<usize>() * k) as u64
    }
}
