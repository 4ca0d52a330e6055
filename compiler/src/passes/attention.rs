//! `fuse-attention`: `MatMul(Q, Kt) → [scale] → [Add bias] → Softmax(last axis) →
//! MatMul(·, V)` becomes one [`ScaledDotAttention`]. Scalar constant Muls on Q or Kt (the `sqrt(scale)` each side
//! that PyTorch's SDPA export writes) and a Mul/Div of the scores fold into its `scale`.
//! Every absorbed intermediate must have no other reader and not be a graph output.

use crate::ir::{Graph, ValueId};
use crate::ops::{BinaryKind, Op, ScaledDotAttention};

use super::graph_util::{consumers, producers, scalar_const, sole_reader};

pub fn fuse_attention(graph: &mut Graph) -> Result<bool, String> {
    let uses = consumers(graph);
    let producer = producers(graph);
    let sole_user = |v: ValueId| sole_reader(graph, &uses, v);
    // `v` through an absorbable scalar scale: (source, factor, node absorbed).
    let unscale = |v: ValueId, kinds: &[BinaryKind]| -> (ValueId, f32, Option<usize>) {
        if let Some(&i) = producer.get(&v) {
            let n = &graph.nodes[i];
            if let (Op::Binary(b), Some(x), Some(c)) =
                (&n.op, n.inputs[0], n.inputs.get(1).copied().flatten())
            {
                if kinds.contains(&b.kind) && sole_user(v).is_some() {
                    if let Some(s) = scalar_const(graph, c) {
                        let f = if b.kind == BinaryKind::Div {
                            1.0 / s
                        } else {
                            s
                        };
                        if f.is_finite() && !graph.consts.contains_key(&x) {
                            return (x, f, Some(i));
                        }
                    }
                }
            }
        }
        (v, 1.0, None)
    };
    for (s, node) in graph.nodes.iter().enumerate() {
        let Op::Softmax(_) = &node.op else { continue };
        let Some(x) = node.inputs[0] else { continue };
        let rank = graph.values[x].shape.len();
        if crate::ops::softmax_axis(&node.op, rank) != Some(rank.saturating_sub(1)) {
            continue;
        }
        let p = node.outputs[0];
        let Some(m2) = sole_user(p) else { continue };
        let m2n = &graph.nodes[m2];
        if !matches!(m2n.op, Op::MatMul(_)) || m2n.inputs[0] != Some(p) {
            continue;
        }
        let Some(v) = m2n.inputs[1].filter(|&v| v != p) else {
            continue;
        };
        // An added bias (mask, relative positions): either operand of an Add.
        let (x, bias, bias_node) = match producer.get(&x).map(|&i| (i, &graph.nodes[i])) {
            Some((i, n))
                if matches!(&n.op, Op::Binary(b) if b.kind == BinaryKind::Add)
                    && sole_user(x).is_some() =>
            {
                let (a, b) = (n.inputs[0], n.inputs[1]);
                let from_matmul = |v: Option<ValueId>| {
                    v.and_then(|v| producer.get(&unscale(v, &[BinaryKind::Mul, BinaryKind::Div]).0))
                        .is_some_and(|&j| matches!(graph.nodes[j].op, Op::MatMul(_)))
                };
                match (a, b) {
                    (Some(a), Some(b)) if from_matmul(Some(a)) => (a, Some(b), Some(i)),
                    (Some(a), Some(b)) if from_matmul(Some(b)) => (b, Some(a), Some(i)),
                    _ => (x, None, None),
                }
            }
            _ => (x, None, None),
        };
        let (scores, post, post_node) = unscale(x, &[BinaryKind::Mul, BinaryKind::Div]);
        let Some(&m1) = producer.get(&scores) else {
            continue;
        };
        let m1n = &graph.nodes[m1];
        if !matches!(m1n.op, Op::MatMul(_)) || sole_user(scores).is_none() {
            continue;
        }
        let (Some(qa), Some(ka)) = (m1n.inputs[0], m1n.inputs[1]) else {
            continue;
        };
        let (q, fq, nq) = unscale(qa, &[BinaryKind::Mul]);
        let (kt, fk, nk) = unscale(ka, &[BinaryKind::Mul]);
        let shapes = [
            &graph.values[q].shape,
            &graph.values[kt].shape,
            &graph.values[v].shape,
        ];
        let bias_ok = bias.is_none_or(|b| {
            let s = &graph.values[scores].shape;
            graph.values[b].dtype == runtime::DType::F32
                && crate::ops::util::broadcast_shapes(&[s, &graph.values[b].shape])
                    .ok()
                    .as_ref()
                    == Some(s)
        });
        if !bias_ok
            || crate::ops::sdp_dims(shapes[0], shapes[1], shapes[2]).is_err()
            || [q, kt, v].iter().any(|&t| graph.consts.contains_key(&t))
        {
            continue;
        }
        let mut fused = graph.nodes[m2].clone();
        fused.op = Op::ScaledDotAttention(ScaledDotAttention {
            scale: post * fq * fk,
        });
        fused.inputs = vec![Some(q), Some(kt), Some(v)];
        if bias.is_some() {
            fused.inputs.push(bias);
        }
        graph.nodes[m2] = fused;
        let mut absorbed: Vec<usize> = [Some(s), Some(m1), post_node, nq, nk, bias_node]
            .into_iter()
            .flatten()
            .collect();
        absorbed.sort_unstable();
        // All absorbed nodes feed the last MatMul, so they precede it.
        for i in absorbed.into_iter().rev() {
            graph.nodes.remove(i);
        }
        return Ok(true);
    }
    Ok(false)
}
