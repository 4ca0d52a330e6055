//! Constant folding: a node whose inputs are all constants is evaluated once, at compile
//! time, by the reference interpreter's op, and its outputs become constants.

use std::sync::Arc;

use crate::ir::Graph;

/// Folds every all-constant node (Constant, Shape arithmetic, weight transforms, …).
pub fn fold_constants(graph: &mut Graph) -> Result<bool, String> {
    let mut changed = false;
    let mut i = 0;
    while i < graph.nodes.len() {
        let node = &graph.nodes[i];
        let all_const = node
            .inputs
            .iter()
            .flatten()
            .all(|id| graph.consts.contains_key(id));
        // Shape needs no input value at all: its output follows from the input's shape.
        let shape_only = node.op.op_type() == "Shape";
        if !(all_const || shape_only) {
            i += 1;
            continue;
        }
        let args: Vec<Option<&runtime::Tensor>> = node
            .inputs
            .iter()
            .map(|id| id.and_then(|id| graph.consts.get(&id).map(|t| t.as_ref())))
            .collect();
        let outs = if shape_only && !all_const {
            let id = node.inputs[0].ok_or("Shape without input")?;
            let v = &graph.values[id];
            let placeholder = runtime::Tensor::zeros(v.dtype, v.shape.clone());
            node.op.def().eval(&[Some(&placeholder)])
        } else {
            node.op.def().eval(&args)
        }
        .map_err(|m| format!("folding node '{}': {m}", node.name))?;
        let node = graph.nodes.remove(i);
        for (&id, t) in node.outputs.iter().zip(outs) {
            graph.consts.insert(id, Arc::new(t));
        }
        changed = true;
    }
    Ok(changed)
}
