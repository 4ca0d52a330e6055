//! Attention: one fused kernel call over (batch, head, query-row block) units, reading Q, K
//! and V through strides (3-D packed `[b, s, h·d]` and 4-D `[b, h, s, d]` views alike, no
//! transposed copies); the key/value cache, the mask (as an additive f32 bias, padded with
//! −∞ to the total key length) and the optional outputs are prepared around it.

use kernels::generic as gk;
use runtime::DType;

use super::layout::{row_major, Loc, Lowerer};
use crate::ir::{Node, ValueId};
use crate::ops::{self, attention::Dims};
use crate::plan::CallKind;

/// A tensor operand of the kernel: location and (batch, head, row, feature) strides.
pub(super) struct Operand {
    pub loc: Loc,
    pub strides: [isize; 4],
}

/// Everything one attention kernel call needs besides Q, K, V and Y.
pub(super) struct AttentionCall {
    pub dims: Dims,
    pub scale: f32,
    pub softcap: f32,
    pub bias: Option<Operand>,
    pub causal: Option<usize>,
    pub qk: Option<(Operand, u32)>,
}

/// (b, h, s, e) strides of a 3-D packed `[b, s, h·size]` or 4-D `[b, h, s, size]` location.
fn bhse(l: &Loc, packed: bool, size: usize) -> [isize; 4] {
    let s = &l.strides;
    if packed {
        [s[0], size as isize * s[2], s[1], s[2]]
    } else {
        [s[0], s[1], s[2], s[3]]
    }
}

impl Lowerer<'_> {
    /// Pushes the kernel call.
    pub(super) fn attention_call(
        &mut self,
        node: &str,
        q: Operand,
        k: Operand,
        v: Operand,
        y: Operand,
        c: AttentionCall,
    ) -> Result<(), String> {
        let d = c.dims;
        let zero = [0isize; 4];
        let p = gk::AttentionParams {
            batch: d.batch,
            q_heads: d.q_heads,
            kv_heads: d.kv_heads,
            q_seq: d.q_seq,
            kv_seq: d.past + d.kv_seq,
            head: d.head,
            v_head: d.v_head,
            // Enough units for two threads even with one (batch, head) pair.
            unit_rows: if d.batch * d.q_heads >= 4 {
                0
            } else {
                d.q_seq.div_ceil(2).max(gk::sdpa::RB)
            },
            q: std::ptr::null(),
            q_strides: q.strides,
            k: std::ptr::null(),
            k_strides: k.strides,
            v: std::ptr::null(),
            v_strides: v.strides,
            y: std::ptr::null_mut(),
            y_strides: y.strides,
            scale: c.scale,
            softcap: c.softcap,
            bias: std::ptr::null(),
            bias_strides: c.bias.as_ref().map_or(zero, |b| b.strides),
            causal: c.causal.is_some() as u32,
            causal_offset: c.causal.unwrap_or(0),
            qk: std::ptr::null_mut(),
            qk_strides: c.qk.as_ref().map_or(zero, |(o, _)| o.strides),
            qk_mode: c.qk.as_ref().map_or(0, |(_, m)| *m),
        };
        let mut ptrs = vec![
            (std::mem::offset_of!(gk::AttentionParams, q), q.loc.ptr(0)),
            (std::mem::offset_of!(gk::AttentionParams, k), k.loc.ptr(0)),
            (std::mem::offset_of!(gk::AttentionParams, v), v.loc.ptr(0)),
            (std::mem::offset_of!(gk::AttentionParams, y), y.loc.ptr(0)),
        ];
        if let Some(b) = &c.bias {
            ptrs.push((
                std::mem::offset_of!(gk::AttentionParams, bias),
                b.loc.ptr(0),
            ));
        }
        if let Some((o, _)) = &c.qk {
            ptrs.push((std::mem::offset_of!(gk::AttentionParams, qk), o.loc.ptr(0)));
        }
        let units = gk::attention_units(&p);
        let macs =
            (d.batch * d.q_heads * d.q_seq * (d.past + d.kv_seq) * (d.head + d.v_head)) as u64;
        let call = crate::plan::KernelCall {
            symbol: "bqml_attention_rows",
            addr: gk::bqml_attention_rows as *const () as usize,
            kind: CallKind::Rows { rows: units },
            template: crate::plan::template_of(&p),
            ptrs,
            loads: Vec::new(),
            desc: format!(
                "attention {}x{} heads ({} kv) [{}x{}]·[{}x{}]{}",
                d.batch,
                d.q_heads,
                d.kv_heads,
                d.q_seq,
                d.head,
                d.past + d.kv_seq,
                d.v_head,
                if c.bias.is_some() { " +bias" } else { "" }
            ) + if c.causal.is_some() { " causal" } else { "" },
        };
        self.plan
            .push(node, crate::plan::StepKind::Call(call), macs);
        Ok(())
    }

    /// `present_*`: the cache then this step's keys or values, `[b, kv_heads, total, size]`
    /// in `dst` (row-major).
    fn present(
        &mut self,
        node: &str,
        dst: &Loc,
        past: Option<ValueId>,
        cur: &Loc,
        d: &Dims,
        size: usize,
    ) -> Result<(), String> {
        let total = d.past + d.kv_seq;
        if let Some(p) = past {
            let lp = self.loc(p)?;
            self.copy(
                node,
                &lp,
                &dst.view(dst.offset, dst.strides.clone()),
                &[d.batch, d.kv_heads, d.past, size],
            )?;
        }
        let st = bhse(cur, d.packed, size);
        let src = cur.view(cur.offset, st.to_vec());
        let at = dst.view(
            dst.offset + d.past as isize * dst.strides[2],
            dst.strides.clone(),
        );
        let _ = total;
        self.copy(node, &src, &at, &[d.batch, d.kv_heads, d.kv_seq, size])
    }

    /// The ONNX Attention op.
    pub(super) fn lower_attention(
        &mut self,
        node: &Node,
        a: &ops::Attention,
    ) -> Result<(), String> {
        let input = |i: usize| node.inputs.get(i).copied().flatten();
        let shapes: Vec<Option<&[usize]>> = (0..node.inputs.len())
            .map(|i| input(i).map(|v| self.shape(v)))
            .collect();
        let d = a.dims(&shapes)?;
        let total = d.past + d.kv_seq;
        let (qv, kv, vv) = (
            input(0).ok_or("no Q")?,
            input(1).ok_or("no K")?,
            input(2).ok_or("no V")?,
        );
        let (lq, lk, lv) = (self.loc(qv)?, self.loc(kv)?, self.loc(vv)?);
        let q = Operand {
            strides: bhse(&lq, d.packed, d.head),
            loc: lq,
        };
        // K and V: read in place, unless there is a cache or the present outputs are wanted.
        let mut kv_ops = Vec::new();
        for (i, (cur, size)) in [(lk, d.head), (lv, d.v_head)].into_iter().enumerate() {
            let out = node.outputs.get(1 + i).copied();
            let past = input(4 + i);
            if past.is_none() && out.is_none() {
                kv_ops.push(Operand {
                    strides: bhse(&cur, d.packed, size),
                    loc: cur,
                });
                continue;
            }
            let dst = match out {
                Some(o) => self.alloc(o, false),
                None => self.temp(
                    &[d.batch, d.kv_heads, total, size],
                    4,
                    &format!("{} present", node.name),
                ),
            };
            self.present(&node.name, &dst, past, &cur, &d, size)?;
            if let Some(o) = out {
                self.set(o, dst.clone());
            }
            let s = &dst.strides;
            kv_ops.push(Operand {
                strides: [s[0], s[1], s[2], s[3]],
                loc: dst,
            });
        }
        let v = kv_ops.pop().ok_or("no V")?;
        let k = kv_ops.pop().ok_or("no K")?;
        let y = self.alloc(node.outputs[0], false);
        let y_op = Operand {
            strides: bhse(&y, d.packed, d.v_head),
            loc: y.clone(),
        };
        let full = [d.batch, d.q_heads, d.q_seq, total];
        let bias = match input(3) {
            None => None,
            Some(m) => Some(self.mask_bias(&node.name, m, total, &full)?),
        };
        let qk = match node.outputs.get(3) {
            None => None,
            Some(&o) => {
                let l = self.alloc(o, false);
                self.set(o, l.clone());
                let s = &l.strides;
                Some((
                    Operand {
                        strides: [s[0], s[1], s[2], s[3]],
                        loc: l.clone(),
                    },
                    a.qk_mode as u32,
                ))
            }
        };
        let call = AttentionCall {
            dims: d,
            scale: a.scale.unwrap_or(1.0 / (d.head as f32).sqrt()),
            softcap: a.softcap,
            bias,
            causal: a.is_causal.then_some(d.past),
            qk,
        };
        self.attention_call(&node.name, q, k, v, y_op, call)?;
        self.set(node.outputs[0], y);
        Ok(())
    }

    /// The attention mask as an additive f32 bias whose last axis covers all `total` keys
    /// (missing keys −∞; a bool mask gives 0 where true, −∞ where false), with strides over
    /// `full` = (batch, q head, query, key), 0 on broadcast axes.
    fn mask_bias(
        &mut self,
        node: &str,
        m: ValueId,
        total: usize,
        full: &[usize; 4],
    ) -> Result<Operand, String> {
        let ms = self.shape(m).to_vec();
        let lm = self.loc(m)?;
        let mlast = ms[ms.len() - 1];
        let mut bshape = ms.clone();
        *bshape.last_mut().unwrap_or(&mut 0) = total;
        let t = self.temp(&bshape, 4, &format!("{node} mask bias"));
        if mlast < total {
            let p = gk::FillParams {
                dst: std::ptr::null_mut(),
                elem_size: 4,
                count: bshape.iter().product(),
                value: f32::NEG_INFINITY.to_bits() as u64,
            };
            call!(
                self.plan,
                node,
                gk::bqml_fill,
                p,
                CallKind::Once,
                0,
                "fill −∞".to_string(),
                [(gk::FillParams, dst, t.ptr(0))]
            );
        }
        let head = t.view(t.offset, t.strides.clone());
        if self.dtype(m) == DType::Bool {
            let (zero, ninf) = (self.scalar_loc(0.0), self.scalar_loc(f32::NEG_INFINITY));
            let (shape, st) = super::layout::memory_order(
                &ms,
                &[
                    head.strides.clone(),
                    lm.strides.clone(),
                    vec![0; ms.len()],
                    vec![0; ms.len()],
                ],
            );
            let p = gk::WhereParams {
                elem_size: 4,
                rank: shape.len(),
                shape: super::layout::arr(&shape)?,
                c: std::ptr::null(),
                c_strides: super::layout::arr(&st[1])?,
                x: std::ptr::null(),
                x_strides: super::layout::arr(&st[2])?,
                y: std::ptr::null(),
                y_strides: super::layout::arr(&st[3])?,
                out: std::ptr::null_mut(),
                out_strides: super::layout::arr(&st[0])?,
            };
            call!(
                self.plan,
                node,
                gk::bqml_where,
                p,
                CallKind::Once,
                0,
                "mask → bias".to_string(),
                [
                    (gk::WhereParams, c, lm.ptr(0)),
                    (gk::WhereParams, x, zero.ptr(0)),
                    (gk::WhereParams, y, ninf.ptr(0)),
                    (gk::WhereParams, out, head.ptr(0))
                ]
            );
        } else {
            self.copy(node, &lm, &head, &ms)?;
        }
        let st = Self::bstrides(&t.view(t.offset, row_major(&bshape)), &bshape, full);
        Ok(Operand {
            strides: [st[0], st[1], st[2], st[3]],
            loc: t,
        })
    }

    /// The fused MatMul–Softmax–MatMul chain: leading axes are (batch, head) for 4-D
    /// operands and (head) for 3-D ones; Kt is read transposed through its strides.
    pub(super) fn lower_sdp_attention(
        &mut self,
        node: &Node,
        a: &ops::ScaledDotAttention,
    ) -> Result<(), String> {
        let ids: Vec<ValueId> = (0..3)
            .map(|i| node.inputs.get(i).copied().flatten().ok_or("missing input"))
            .collect::<Result<_, _>>()?;
        let (lead, sq, d, sk, dv) =
            ops::sdp_dims(self.shape(ids[0]), self.shape(ids[1]), self.shape(ids[2]))?;
        let y = self.alloc(node.outputs[0], false);
        // (batch, head) strides of a location's leading axes.
        let lead_strides = |l: &Loc| -> [isize; 2] {
            if lead.len() == 2 {
                [l.strides[0], l.strides[1]]
            } else {
                [0, l.strides[0]]
            }
        };
        let r = lead.len();
        let op = |l: Loc, swap: bool| {
            let [b, h] = lead_strides(&l);
            let (row, col) = (l.strides[r], l.strides[r + 1]);
            let strides = if swap {
                [b, h, col, row]
            } else {
                [b, h, row, col]
            };
            Operand { loc: l, strides }
        };
        let (lq, lk, lv) = (self.loc(ids[0])?, self.loc(ids[1])?, self.loc(ids[2])?);
        let (batch, heads) = if r == 2 {
            (lead[0], lead[1])
        } else {
            (1, lead[0])
        };
        let dims = Dims {
            batch,
            q_heads: heads,
            kv_heads: heads,
            q_seq: sq,
            kv_seq: sk,
            past: 0,
            head: d,
            v_head: dv,
            packed: false,
        };
        let bias = match node.inputs.get(3).copied().flatten() {
            None => None,
            Some(b) => {
                let lb = self.loc(b)?;
                let mut full = lead.clone();
                full.extend([sq, sk]);
                let st = Self::bstrides(&lb, self.shape(b), &full);
                let [bb, bh] = if r == 2 { [st[0], st[1]] } else { [0, st[0]] };
                Some(Operand {
                    loc: lb,
                    strides: [bb, bh, st[r], st[r + 1]],
                })
            }
        };
        let call = AttentionCall {
            dims,
            scale: a.scale,
            softcap: 0.0,
            bias,
            causal: None,
            qk: None,
        };
        let (q, k, v, yo) = (
            op(lq, false),
            op(lk, true),
            op(lv, false),
            op(y.clone(), false),
        );
        self.attention_call(&node.name, q, k, v, yo, call)?;
        self.set(node.outputs[0], y);
        Ok(())
    }
}
