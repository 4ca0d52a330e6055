//! ScaledDotAttention: `softmax(scale · Q · Kt + bias) · V` over the last two axes, with
//! equal leading (batch/head) axes — the MatMul → scale → [Add bias] → Softmax → MatMul chain
//! of exported attention, produced by the `fuse-attention` pass. Inputs `[Q, Kt, V, bias?]`:
//! Q `[.., q, d]`, Kt `[.., d, k]` (keys already transposed, as the exporters write it),
//! V `[.., k, dv]`, bias broadcastable to `[.., q, k]` (a mask or a relative-position table).

use runtime::{DType, Tensor};

use super::def::{Fact, OpDef, OutFact};
use super::util::{fact, input};

/// Fused scaled dot-product attention.
#[derive(Clone, Debug)]
pub struct ScaledDotAttention {
    pub scale: f32,
}

/// `(leading axes, q, d, k, dv)` for inputs of these shapes.
pub fn sdp_dims(
    q: &[usize],
    kt: &[usize],
    v: &[usize],
) -> Result<(Vec<usize>, usize, usize, usize, usize), String> {
    let r = q.len();
    if !(3..=4).contains(&r) || kt.len() != r || v.len() != r {
        return Err("Q, Kt and V must all be 3-D or all 4-D".into());
    }
    let lead = &q[..r - 2];
    if &kt[..r - 2] != lead || &v[..r - 2] != lead {
        return Err("Q, Kt and V must have the same leading axes".into());
    }
    let (sq, d, sk, dv) = (q[r - 2], q[r - 1], kt[r - 1], v[r - 1]);
    if kt[r - 2] != d || v[r - 2] != sk {
        return Err(format!(
            "shapes {} · {} · {} do not chain",
            runtime::tensor::fmt_shape(q),
            runtime::tensor::fmt_shape(kt),
            runtime::tensor::fmt_shape(v)
        ));
    }
    Ok((lead.to_vec(), sq, d, sk, dv))
}

impl OpDef for ScaledDotAttention {
    fn op_type(&self) -> &str {
        "ScaledDotAttention"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let (q, kt, v) = (fact(inputs, 0)?, fact(inputs, 1)?, fact(inputs, 2)?);
        if [q.dtype, kt.dtype, v.dtype]
            .iter()
            .any(|&d| d != DType::F32)
        {
            return Err("ScaledDotAttention is float32 only".into());
        }
        let (mut lead, sq, _, sk, dv) = sdp_dims(q.shape, kt.shape, v.shape)?;
        if let Some(Some(b)) = inputs.get(3) {
            let mut scores = lead.clone();
            scores.extend([sq, sk]);
            if b.dtype != DType::F32
                || super::util::broadcast_shapes(&[&scores, b.shape]).ok() != Some(scores)
            {
                return Err("bias must be float32 and broadcast to the scores' shape".into());
            }
        }
        lead.extend([sq, dv]);
        Ok(vec![OutFact::new(DType::F32, lead)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let (q, kt, v) = (input(inputs, 0)?, input(inputs, 1)?, input(inputs, 2)?);
        let (lead, sq, d, sk, dv) = sdp_dims(q.shape(), kt.shape(), v.shape())?;
        let (qv, kv, vv) = (q.as_f32()?, kt.as_f32()?, v.as_f32()?);
        let groups: usize = lead.iter().product();
        let mut scores_shape = lead.clone();
        scores_shape.extend([sq, sk]);
        let bias: Option<Vec<f32>> = match inputs.get(3).copied().flatten() {
            None => None,
            Some(b) => {
                let bv = b.as_f32()?;
                let offs = super::util::broadcast_offsets(&[b.shape()], &scores_shape);
                Some(offs[0].iter().map(|&o| bv[o]).collect())
            }
        };
        let mut y = vec![0f32; groups * sq * dv];
        let mut p = vec![0f64; sk];
        for g in 0..groups {
            let (qo, ko, vo) = (g * sq * d, g * d * sk, g * sk * dv);
            for i in 0..sq {
                for (j, pj) in p.iter_mut().enumerate() {
                    let dot: f64 = (0..d)
                        .map(|e| qv[qo + i * d + e] as f64 * kv[ko + e * sk + j] as f64)
                        .sum();
                    *pj = dot * self.scale as f64
                        + bias
                            .as_ref()
                            .map_or(0.0, |b| b[(g * sq + i) * sk + j] as f64);
                }
                let m = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                p.iter_mut().for_each(|x| *x = (*x - m).exp());
                let s: f64 = p.iter().sum();
                for e in 0..dv {
                    let acc: f64 = (0..sk).map(|j| p[j] * vv[vo + j * dv + e] as f64).sum();
                    y[(g * sq + i) * dv + e] = (acc / s) as f32;
                }
            }
        }
        let mut shape = lead;
        shape.extend([sq, dv]);
        Ok(vec![Tensor::f32(shape, y)])
    }

    fn macs(&self, inputs: &[Option<&[usize]>], outputs: &[&[usize]]) -> u64 {
        let (Some(Some(q)), Some(Some(kt))) = (inputs.first(), inputs.get(1)) else {
            return 0;
        };
        let (sk, d) = (kt[kt.len() - 1], q[q.len() - 1]);
        outputs.first().map_or(0, |o| {
            let dv = o[o.len() - 1];
            (o.iter().product::<usize>() / dv.max(1) * sk * (d + dv)) as u64
        })
    }
}
