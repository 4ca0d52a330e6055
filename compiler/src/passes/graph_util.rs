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
