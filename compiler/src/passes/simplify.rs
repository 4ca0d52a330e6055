//! Structural simplifications: identities removed, Softmax→ArgMax reduced to ArgMax of the
//! logits, dead nodes dropped.

use crate::ir::Graph;

use super::{consumers, replace_uses};

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
