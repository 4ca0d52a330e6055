//! LayerNormalization (opset 17): normalises over the axes from `axis` to the last,
//! `Y = (X - mean) / sqrt(var + epsilon) · Scale + B`, with the optional Mean and
//! InvStdDev outputs (shaped like X with the normalised axes set to 1).

use runtime::{DType, Tensor};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{broadcast_offsets, broadcast_shapes, fact, input, normalize_axis};

/// Layer normalisation over the trailing axes starting at `axis`.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    pub axis: i64,
    pub epsilon: f32,
}

pub fn parse(ctx: &mut ParseCtx) -> Result<LayerNorm, String> {
    let stash = ctx.int_or("stash_type", 1)?;
    if stash != 1 {
        return Err(format!(
            "stash_type {stash} is not supported (statistics are computed in float32 or wider)"
        ));
    }
    let epsilon = ctx.float_or("epsilon", 1e-5)?;
    if !(epsilon.is_finite() && epsilon >= 0.0) {
        return Err(format!(
            "attribute 'epsilon' must be finite and ≥ 0, got {epsilon}"
        ));
    }
    Ok(LayerNorm {
        axis: ctx.int_or("axis", -1)?,
        epsilon,
    })
}

impl LayerNorm {
    /// `(rows, cols)`: the number of normalised groups and the size of each.
    pub fn split(&self, shape: &[usize]) -> Result<(usize, usize, usize), String> {
        let axis = normalize_axis(self.axis, shape.len())?;
        let rows = shape[..axis].iter().product();
        let cols = shape[axis..].iter().product();
        Ok((axis, rows, cols))
    }
}

impl OpDef for LayerNorm {
    fn op_type(&self) -> &str {
        "LayerNormalization"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let x = fact(inputs, 0)?;
        if x.dtype != DType::F32 {
            return Err(format!(
                "LayerNormalization does not support {} inputs",
                x.dtype
            ));
        }
        let (axis, _, _) = self.split(x.shape)?;
        let norm = &x.shape[axis..];
        for i in [1, 2] {
            if let Some(Some(p)) = inputs.get(i) {
                if p.dtype != DType::F32 {
                    return Err(format!("input {i} must be float32, got {}", p.dtype));
                }
                // Scale and B broadcast to the normalised axes (unidirectionally).
                if broadcast_shapes(&[norm, p.shape])? != norm {
                    return Err(format!(
                        "input {i} of shape {} does not broadcast to the normalised shape {}",
                        runtime::tensor::fmt_shape(p.shape),
                        runtime::tensor::fmt_shape(norm)
                    ));
                }
            }
        }
        fact(inputs, 1)?;
        let mut stat = x.shape.to_vec();
        stat[axis..].iter_mut().for_each(|d| *d = 1);
        Ok(vec![
            OutFact::new(DType::F32, x.shape.to_vec()),
            OutFact::new(DType::F32, stat.clone()),
            OutFact::new(DType::F32, stat),
        ])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let x = input(inputs, 0)?;
        let (axis, rows, cols) = self.split(x.shape())?;
        let norm = &x.shape()[axis..];
        // Scale and B as dense `cols` vectors.
        let dense = |i: usize, default: f32| -> Result<Vec<f32>, String> {
            match inputs.get(i).copied().flatten() {
                None => Ok(vec![default; cols]),
                Some(t) => {
                    let v = t.as_f32()?;
                    Ok(broadcast_offsets(&[t.shape()], norm)[0]
                        .iter()
                        .map(|&j| v[j])
                        .collect())
                }
            }
        };
        let (scale, bias) = (dense(1, 1.0)?, dense(2, 0.0)?);
        let xv = x.as_f32()?;
        let mut y = vec![0f32; xv.len()];
        let (mut means, mut inv) = (vec![0f32; rows], vec![0f32; rows]);
        for r in 0..rows {
            let row = &xv[r * cols..(r + 1) * cols];
            let mean = row.iter().map(|&v| v as f64).sum::<f64>() / cols as f64;
            let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / cols as f64;
            let inv_std = 1.0 / (var + self.epsilon as f64).sqrt();
            for (c, (o, &v)) in y[r * cols..(r + 1) * cols].iter_mut().zip(row).enumerate() {
                *o = ((v as f64 - mean) * inv_std * scale[c] as f64 + bias[c] as f64) as f32;
            }
            means[r] = mean as f32;
            inv[r] = inv_std as f32;
        }
        let mut stat = x.shape().to_vec();
        stat[axis..].iter_mut().for_each(|d| *d = 1);
        Ok(vec![
            Tensor::f32(x.shape().to_vec(), y),
            Tensor::f32(stat.clone(), means),
            Tensor::f32(stat, inv),
        ])
    }
}
