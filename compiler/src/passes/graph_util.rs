//! Graph queries and edits the rewrite passes share: who reads a value, rewiring readers.

use std::collections::HashMap;

use crate::ir::{Graph, ValueId};

/// For every value, the `(node index, input index)` pairs that read it.
pub fn consumers(graph: &Graph) -> HashMap<ValueId, Vec<(usize, usize)>> {
    let mut m: HashMap<ValueId, Vec<(usize, usize)>> = HashMap::new();
    for (n, node) in graph.nodes.iter().enumerate() {
        for (k, i) in node.inputs.iter().enumerate() {
            if let Some(i) = i {
                m.entry(*i).or_default().push((n, k));
            }
        }
    }
    m
}

/// Makes every node input that reads `old` read `new` instead (graph outputs untouched).
pub fn replace_uses(graph: &mut Graph, old: ValueId, new: ValueId) {
    for node in &mut graph.nodes {
        for i in node.inputs.iter_mut().flatten() {
            if *i == old {
                *i = new;
            }
        }
    }
}

/// For every value, the index of the node that produces it.
pub fn producers(graph: &Graph) -> HashMap<ValueId, usize> {
    graph
        .nodes
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.outputs.iter().map(move |&o| (o, i)))
        .collect()
}

/// The node that alone reads `v` (once or several times), if `v` is not a graph output:
/// a value a rewrite may absorb.
pub fn sole_reader(
    graph: &Graph,
    uses: &HashMap<ValueId, Vec<(usize, usize)>>,
    v: ValueId,
) -> Option<usize> {
    if graph.outputs.contains(&v) {
        return None;
    }
    let readers = uses.get(&v)?;
    let first = readers.first()?.0;
    readers.iter().all(|&(n, _)| n == first).then_some(first)
}

/// The single f32 value of a scalar-like constant (any shape holding one element).
pub fn scalar_const(graph: &Graph, v: ValueId) -> Option<f32> {
    let t = graph.consts.get(&v)?;
    let x = t.as_f32().ok()?;
    (x.len() == 1).then(|| x[0])
}
