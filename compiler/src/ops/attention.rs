//! Attention (opset 23/24): scaled dot-product attention over heads, with the optional
//! mask (bool: keep where true; float: added), causal masking, key/value cache
//! (`past_key`/`past_value` → `present_*`), grouped-query heads (each KV head serves
//! `q_heads / kv_heads` consecutive query heads), softcap and the `qk_matmul_output` output.
//! 3-D inputs are `[batch, seq, heads · head_size]`; 4-D are `[batch, heads, seq, head_size]`.

use runtime::{DType, Tensor, TensorData};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{broadcast_offsets, broadcast_shapes, fact};

/// The Attention op's attributes.
#[derive(Clone, Debug)]
pub struct Attention {
    pub is_causal: bool,
    pub q_num_heads: Option<usize>,
    pub kv_num_heads: Option<usize>,
    /// Which intermediate the 4th output holds, as ONNX's reference computes it: 0 and 1
    /// the scaled (and softcapped) Q·Kᵀ, 2 that plus the mask, 3 the softmax.
    pub qk_mode: u8,
    pub scale: Option<f32>,
    pub softcap: f32,
}

pub fn parse(ctx: &mut ParseCtx) -> Result<Attention, String> {
    let heads = |name: &str| -> Result<Option<usize>, String> {
        match ctx.int(name)? {
            None => Ok(None),
            Some(h) if h > 0 => Ok(Some(h as usize)),
            Some(h) => Err(format!("attribute '{name}' must be positive, got {h}")),
        }
    };
    let qk_mode = match ctx.int_or("qk_matmul_output_mode", 0)? {
        m @ 0..=3 => m as u8,
        m => {
            return Err(format!(
                "attribute 'qk_matmul_output_mode' must be 0..3, got {m}"
            ))
        }
    };
    let softcap = ctx.float_or("softcap", 0.0)?;
    if !(softcap.is_finite() && softcap >= 0.0) {
        return Err(format!(
            "attribute 'softcap' must be finite and ≥ 0, got {softcap}"
        ));
    }
    Ok(Attention {
        is_causal: ctx.flag("is_causal", false)?,
        q_num_heads: heads("q_num_heads")?,
        kv_num_heads: heads("kv_num_heads")?,
        qk_mode,
        scale: ctx.float("scale")?,
        softcap,
    })
}

/// The sizes one Attention node works with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dims {
    pub batch: usize,
    pub q_heads: usize,
    pub kv_heads: usize,
    pub q_seq: usize,
    /// Key/value sequence length of this step (without the cache).
    pub kv_seq: usize,
    /// Cached sequence length (`past_key`'s axis 2), 0 without a cache.
    pub past: usize,
    pub head: usize,
    pub v_head: usize,
    /// Whether Q, K, V (and Y) are 3-D.
    pub packed: bool,
}

impl Attention {
    /// Validates the inputs' shapes (Q, K, V, mask, past key, past value) and returns the sizes.
    pub fn dims(&self, s: &[Option<&[usize]>]) -> Result<Dims, String> {
        let get =
            |i: usize, what: &str| s.get(i).copied().flatten().ok_or(format!("missing {what}"));
        let (q, k, v) = (get(0, "Q")?, get(1, "K")?, get(2, "V")?);
        if q.len() != k.len() || q.len() != v.len() || !matches!(q.len(), 3 | 4) {
            return Err("Q, K and V must all be 3-D or all 4-D".into());
        }
        let d = if q.len() == 3 {
            let (qh, kvh) = match (self.q_num_heads, self.kv_num_heads) {
                (Some(a), Some(b)) => (a, b),
                _ => return Err("3-D inputs need q_num_heads and kv_num_heads".into()),
            };
            if q[2] % qh != 0 || k[2] % kvh != 0 || v[2] % kvh != 0 {
                return Err("hidden sizes must be multiples of the head counts".into());
            }
            Dims {
                batch: q[0],
                q_heads: qh,
                kv_heads: kvh,
                q_seq: q[1],
                kv_seq: k[1],
                past: 0,
                head: q[2] / qh,
                v_head: v[2] / kvh,
                packed: true,
            }
        } else {
            Dims {
                batch: q[0],
                q_heads: q[1],
                kv_heads: k[1],
                q_seq: q[2],
                kv_seq: k[2],
                past: 0,
                head: q[3],
                v_head: v[3],
                packed: false,
            }
        };
        let mut d = d;
        let kh = if d.packed { k[2] / d.kv_heads } else { k[3] };
        if k[0] != d.batch || v[0] != d.batch || kh != d.head {
            return Err("K must match Q's batch and head size".into());
        }
        let v_seq = if d.packed { v[1] } else { v[2] };
        if (!d.packed && v[1] != d.kv_heads) || v_seq != d.kv_seq {
            return Err("V must match K's heads and sequence length".into());
        }
        if d.kv_heads == 0 || d.q_heads % d.kv_heads != 0 {
            return Err(format!(
                "q heads ({}) must be a multiple of kv heads ({})",
                d.q_heads, d.kv_heads
            ));
        }
        match (s.get(4).copied().flatten(), s.get(5).copied().flatten()) {
            (None, None) => {}
            (Some(pk), Some(pv)) => {
                if pk != [d.batch, d.kv_heads, pk[2], d.head]
                    || pv != [d.batch, d.kv_heads, pk[2], d.v_head]
                {
                    return Err("past_key/past_value must be [batch, kv_heads, past, head]".into());
                }
                d.past = pk[2];
            }
            _ => return Err("past_key and past_value must be given together".into()),
        }
        if let Some(m) = s.get(3).copied().flatten() {
            if m.len() < 2 {
                return Err("attn_mask must have rank ≥ 2".into());
            }
            let total = d.past + d.kv_seq;
            if m[m.len() - 1] > total {
                return Err(format!(
                    "attn_mask covers {} keys but there are {total}",
                    m[m.len() - 1]
                ));
            }
            let mut padded = m.to_vec();
            *padded.last_mut().unwrap_or(&mut 0) = total;
            broadcast_shapes(&[&padded, &[d.batch, d.q_heads, d.q_seq, total]])
                .ok()
                .filter(|b| b == &[d.batch, d.q_heads, d.q_seq, total])
                .ok_or("attn_mask does not broadcast to [batch, q_heads, q_seq, total_seq]")?;
        }
        Ok(d)
    }
}

impl OpDef for Attention {
    fn op_type(&self) -> &str {
        "Attention"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let q = fact(inputs, 0)?;
        for i in [1, 2, 4, 5] {
            if let Some(Some(f)) = inputs.get(i) {
                if f.dtype != q.dtype {
                    return Err(format!("input {i} is {} but Q is {}", f.dtype, q.dtype));
                }
            }
        }
        if q.dtype != DType::F32 {
            return Err(format!("Attention does not support {} inputs", q.dtype));
        }
        if let Some(Some(m)) = inputs.get(3) {
            if !matches!(m.dtype, DType::F32 | DType::Bool) {
                return Err(format!(
                    "attn_mask must be bool or float32, got {}",
                    m.dtype
                ));
            }
        }
        if let Some(Some(_)) = inputs.get(6) {
            return Err("nonpad_kv_seqlen is not supported".into());
        }
        let shapes: Vec<Option<&[usize]>> = inputs.iter().map(|f| f.map(|f| f.shape)).collect();
        let d = self.dims(&shapes)?;
        let total = d.past + d.kv_seq;
        let y = if d.packed {
            vec![d.batch, d.q_seq, d.q_heads * d.v_head]
        } else {
            vec![d.batch, d.q_heads, d.q_seq, d.v_head]
        };
        Ok(vec![
            OutFact::new(DType::F32, y),
            OutFact::new(DType::F32, vec![d.batch, d.kv_heads, total, d.head]),
            OutFact::new(DType::F32, vec![d.batch, d.kv_heads, total, d.v_head]),
            OutFact::new(DType::F32, vec![d.batch, d.q_heads, d.q_seq, total]),
        ])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let shapes: Vec<Option<&[usize]>> = inputs.iter().map(|t| t.map(|t| t.shape())).collect();
        let d = self.dims(&shapes)?;
        let total = d.past + d.kv_seq;
        let val = |i: usize| -> Result<Option<Vec<f64>>, String> {
            Ok(inputs.get(i).copied().flatten().map(|t| t.to_f64_vec()))
        };
        let (q, k, v) = (
            val(0)?.unwrap_or_default(),
            val(1)?.unwrap_or_default(),
            val(2)?.unwrap_or_default(),
        );
        let (pk, pv) = (val(4)?, val(5)?);
        // Element (b, h, s, e) of a 3-D or 4-D Q/K/V with `heads` heads of `size`.
        let at = |x: &[f64],
                  heads: usize,
                  seq: usize,
                  size: usize,
                  b: usize,
                  h: usize,
                  s: usize,
                  e: usize| {
            if d.packed {
                x[(b * seq + s) * heads * size + h * size + e]
            } else {
                x[((b * heads + h) * seq + s) * size + e]
            }
        };
        // present_key / present_value: cache then this step's keys, [b, kv_heads, total, size].
        let present = |x: &[f64], past: &Option<Vec<f64>>, size: usize| -> Vec<f64> {
            let mut out = Vec::with_capacity(d.batch * d.kv_heads * total * size);
            for b in 0..d.batch {
                for h in 0..d.kv_heads {
                    for s in 0..total {
                        for e in 0..size {
                            out.push(if s < d.past {
                                past.as_ref().map_or(0.0, |p| {
                                    p[((b * d.kv_heads + h) * d.past + s) * size + e]
                                })
                            } else {
                                at(x, d.kv_heads, d.kv_seq, size, b, h, s - d.past, e)
                            });
                        }
                    }
                }
            }
            out
        };
        let (kp, vp) = (present(&k, &pk, d.head), present(&v, &pv, d.v_head));
        // The additive bias over [b, q_heads, q_seq, total]: mask (padded with −∞ / false), causal.
        let bias_shape = [d.batch, d.q_heads, d.q_seq, total];
        let mut bias = vec![0f64; bias_shape.iter().product()];
        if let Some(m) = inputs.get(3).copied().flatten() {
            let ms = m.shape();
            let mlast = ms[ms.len() - 1];
            let mut rows = ms.to_vec();
            *rows.last_mut().unwrap_or(&mut 0) = 1;
            let mut row_shape = bias_shape;
            row_shape[3] = 1;
            let offs = broadcast_offsets(&[&rows], &row_shape);
            let add: Vec<f64> = match m.data() {
                TensorData::Bool(x) => x
                    .iter()
                    .map(|&k| if k { 0.0 } else { f64::NEG_INFINITY })
                    .collect(),
                _ => m.to_f64_vec(),
            };
            for (r, &o) in offs[0].iter().enumerate() {
                for j in 0..total {
                    bias[r * total + j] += if j < mlast {
                        add[o * mlast + j]
                    } else {
                        f64::NEG_INFINITY
                    };
                }
            }
        }
        if self.is_causal {
            for (r, row) in bias.chunks_mut(total).enumerate() {
                let i = r % d.q_seq;
                for (j, b) in row.iter_mut().enumerate() {
                    if j > i + d.past {
                        *b = f64::NEG_INFINITY;
                    }
                }
            }
        }
        let scale = self
            .scale
            .map_or(1.0 / (d.head as f64).sqrt(), |s| s as f64);
        let group = d.q_heads / d.kv_heads;
        let mut y = vec![0f32; d.batch * d.q_heads * d.q_seq * d.v_head];
        let mut qk_out = vec![0f32; bias.len()];
        let mut scores = vec![0f64; total];
        for b in 0..d.batch {
            for h in 0..d.q_heads {
                let kh = h / group;
                for i in 0..d.q_seq {
                    let r = ((b * d.q_heads + h) * d.q_seq + i) * total;
                    for (j, sc) in scores.iter_mut().enumerate() {
                        let mut dot = 0.0;
                        for e in 0..d.head {
                            let kv = kp[((b * d.kv_heads + kh) * total + j) * d.head + e];
                            dot += at(&q, d.q_heads, d.q_seq, d.head, b, h, i, e) * kv;
                        }
                        let mut x = dot * scale;
                        if self.softcap > 0.0 {
                            let c = self.softcap as f64;
                            x = (x / c).tanh() * c;
                        }
                        if matches!(self.qk_mode, 0 | 1) {
                            qk_out[r + j] = x as f32;
                        }
                        x += bias[r + j];
                        if self.qk_mode == 2 {
                            qk_out[r + j] = x as f32;
                        }
                        *sc = x;
                    }
                    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    scores.iter_mut().for_each(|s| *s = (*s - max).exp());
                    let sum: f64 = scores.iter().sum();
                    scores.iter_mut().for_each(|s| *s /= sum);
                    if self.qk_mode == 3 {
                        for (j, &s) in scores.iter().enumerate() {
                            qk_out[r + j] = s as f32;
                        }
                    }
                    for e in 0..d.v_head {
                        let acc: f64 = (0..total)
                            .map(|j| {
                                scores[j] * vp[((b * d.kv_heads + kh) * total + j) * d.v_head + e]
                            })
                            .sum();
                        let o = if d.packed {
                            (b * d.q_seq + i) * d.q_heads * d.v_head + h * d.v_head + e
                        } else {
                            ((b * d.q_heads + h) * d.q_seq + i) * d.v_head + e
                        };
                        y[o] = acc as f32;
                    }
                }
            }
        }
        let outs = self.infer(
            &inputs
                .iter()
                .map(|t| {
                    t.map(|t| Fact {
                        dtype: t.dtype(),
                        shape: t.shape(),
                        value: None,
                    })
                })
                .collect::<Vec<_>>(),
        )?;
        let f32s = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
        Ok(vec![
            Tensor::f32(outs[0].shape.clone(), y),
            Tensor::f32(outs[1].shape.clone(), f32s(kp)),
            Tensor::f32(outs[2].shape.clone(), f32s(vp)),
            Tensor::f32(outs[3].shape.clone(), qk_out),
        ])
    }
}
