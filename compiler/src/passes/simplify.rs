//! Structural simplifications: identities removed, Softmax→ArgMax reduced to ArgMax of the
//! logits, dead nodes dropped.

use crate::ir::Graph;

use super::graph_util::{consumers, replace_uses};

/// Removes Identity/Dropout nodes whose output is not a graph output (graph outputs keep
/// their name, so such an identity stays and is lowered to a copy or a view).
pub fn remove_identity(graph: &mut Graph) -> Result<bool, String> {
    let mut changed = false;
    let mut i = 0;
    while i < graph.nodes.len() {
        let n = &graph.nodes[i];
        let is_identity = matches!(n.op.op_type(), "Identity" | "Dropout");
        if is_identity && !graph.outputs.contains(&n.outputs[0]) {
            let (src, dst) = (n.inputs[0].ok_or("identity without input")?, n.outputs[0]);
            graph.nodes.remove(i);
            replace_uses(graph, dst, src);
            changed = true;
        } else {
            i += 1;
        }
    }
    Ok(changed)
}

/// `ArgMax(Softmax(x))` → `ArgMax(x)` when the probabilities have no other use: softmax is
/// monotonic along its axis, so the index of the maximum is unchanged.
pub fn softmax_argmax(graph: &mut Graph) -> Result<bool, String> {
    let uses = consumers(graph);
    for a in 0..graph.nodes.len() {
        let Some(axis) = crate::ops::argmax_axis(&graph.nodes[a].op) else {
            continue;
        };
        let Some(p) = graph.nodes[a].inputs[0] else {
            continue;
        };
        let Some(s) = graph.nodes.iter().position(|n| n.outputs.contains(&p)) else {
            continue;
        };
        let Some(soft_axis) =
            crate::ops::softmax_axis(&graph.nodes[s].op, graph.values[p].shape.len())
        else {
            continue;
        };
        let only_use = uses.get(&p).is_some_and(|u| u.len() == 1) && !graph.outputs.contains(&p);
        let rank = graph.values[p].shape.len() as i64;
        let norm = |x: i64| if x < 0 { x + rank } else { x };
        if only_use && norm(axis) == soft_axis as i64 {
            let logits = graph.nodes[s].inputs[0].ok_or("softmax without input")?;
            graph.nodes[a].inputs[0] = Some(logits);
            return Ok(true);
        }
    }
    Ok(false)
}

/// Removes nodes none of whose outputs is read or is a graph output.
pub fn dead_nodes(graph: &mut Graph) -> Result<bool, String> {
    let mut changed = false;
    loop {
        let uses = consumers(graph);
        let before = graph.nodes.len();
        let outputs = graph.outputs.clone();
        graph.nodes.retain(|n| {
            n.outputs
                .iter()
                .any(|o| uses.contains_key(o) || outputs.contains(o))
        });
        if graph.nodes.len() == before {
            return Ok(changed);
        }
        changed = true;
    }
}

/// Layout assignment at the graph level: an NHWC→NCHW `Transpose(perm=[0,3,1,2])` whose
/// every reader is a convolution's data input disappears; the convolutions read the
/// channel-last tensor directly (`input_nhwc`), which is the layout their kernels use.
pub fn absorb_input_transpose(graph: &mut Graph) -> Result<bool, String> {
    use crate::ops::Op;
    let uses = consumers(graph);
    for t in 0..graph.nodes.len() {
        let Op::Transpose(tr) = &graph.nodes[t].op else {
            continue;
        };
        let out = graph.nodes[t].outputs[0];
        let rank = graph.values[out].shape.len();
        let mut nchw = vec![0, rank - 1];
        nchw.extend(1..rank.saturating_sub(1));
        if !(rank == 4 || rank == 3)
            || tr.perm.as_deref() != Some(&nchw[..])
            || graph.outputs.contains(&out)
        {
            continue;
        }
        let Some(readers) = uses.get(&out) else {
            continue;
        };
        let all_conv = readers.iter().all(|&(n, k)| {
            k == 0
                && match &graph.nodes[n].op {
                    Op::Conv(c) => !c.input_nhwc,
                    Op::FusedConv(f) => !f.conv.input_nhwc,
                    _ => false,
                }
        });
        if !all_conv {
            continue;
        }
        let src = graph.nodes[t].inputs[0].ok_or("transpose without input")?;
        for &(n, _) in readers {
            match &mut graph.nodes[n].op {
                Op::Conv(c) => c.input_nhwc = true,
                Op::FusedConv(f) => f.conv.input_nhwc = true,
                _ => {}
            }
            graph.nodes[n].inputs[0] = Some(src);
        }
        graph.nodes.remove(t);
        return Ok(true);
    }
    Ok(false)
}
