//! The reference interpreter: runs a [`Graph`] node by node with each op's plain scalar
//! `eval`. It is the oracle that compiled code is tested against, not the product: it
//! favours obvious correctness over speed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use runtime::tensor::fmt_shape;
use runtime::Tensor;

use crate::error::{Error, Result};
use crate::ir::{Graph, ValueId};

/// Checks caller inputs against the graph's specialised inputs: names, dtypes, shapes.
pub fn check_inputs(graph: &Graph, inputs: &[(&str, &Tensor)]) -> Result<()> {
    for (name, _) in inputs {
        if !graph
            .inputs
            .iter()
            .any(|&id| graph.values[id].name == *name)
        {
            let known: Vec<&str> = graph
                .inputs
                .iter()
                .map(|&id| graph.values[id].name.as_str())
                .collect();
            return Err(Error::Input {
                name: name.to_string(),
                message: format!("the model has no such input (inputs: {})", known.join(", ")),
            });
        }
    }
    for &id in &graph.inputs {
        let v = &graph.values[id];
        let err = |message: String| Error::Input {
            name: v.name.clone(),
            message,
        };
        let (_, t) = inputs
            .iter()
            .find(|(n, _)| *n == v.name)
            .ok_or_else(|| err("missing: no value given for this input".into()))?;
        if t.dtype() != v.dtype {
            return Err(err(format!("expected {} but got {}", v.dtype, t.dtype())));
        }
        if t.shape() != v.shape {
            return Err(err(format!(
                "expected shape {} but got {}",
                fmt_shape(&v.shape),
                fmt_shape(t.shape())
            )));
        }
    }
    Ok(())
}

/// Time spent in one node, for `bench --profile`.
#[derive(Clone, Debug)]
pub struct NodeTiming {
    pub node: String,
    pub op_type: String,
    pub time: Duration,
    pub macs: u64,
}

/// Refuses a graph whose intermediate values, alive at once in [`run_profiled`]'s order,
/// would exceed [`MAX_ARENA_BYTES`](runtime::limits::MAX_ARENA_BYTES) (the compiled
/// models' arena limit), naming the node at the peak; nothing is allocated before.
fn check_live_bytes(graph: &Graph) -> Result<()> {
    let max = runtime::limits::MAX_ARENA_BYTES;
    let bytes = |id: ValueId| {
        let v = &graph.values[id];
        v.shape.iter().product::<usize>() * v.dtype.size()
    };
    let mut last_use: HashMap<ValueId, usize> = HashMap::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        for id in n.inputs.iter().flatten() {
            last_use.insert(*id, i);
        }
    }
    let mut live = 0usize;
    for (i, node) in graph.nodes.iter().enumerate() {
        live += node.outputs.iter().map(|&id| bytes(id)).sum::<usize>();
        if live > max {
            return Err(Error::Node {
                node: node.name.clone(),
                op_type: node.op.op_type().to_string(),
                message: format!(
                    "running needs {live} bytes of intermediate values at once, more than the limit of {max}"
                ),
            });
        }
        let mut freed: Vec<ValueId> = node.inputs.iter().flatten().copied().collect();
        freed.sort_unstable();
        freed.dedup();
        for id in freed {
            let produced = !graph.consts.contains_key(&id) && !graph.inputs.contains(&id);
            if produced && last_use.get(&id) == Some(&i) && !graph.outputs.contains(&id) {
                live -= bytes(id);
            }
        }
    }
    Ok(())
}

/// Runs the graph; returns the graph outputs in order.
pub fn run(graph: &Graph, inputs: &[(&str, &Tensor)]) -> Result<Vec<Tensor>> {
    run_profiled(graph, inputs, None)
}

/// Runs the graph, recording per-node timings when `profile` is given.
pub fn run_profiled(
    graph: &Graph,
    inputs: &[(&str, &Tensor)],
    mut profile: Option<&mut Vec<NodeTiming>>,
) -> Result<Vec<Tensor>> {
    check_live_bytes(graph)?;
    check_inputs(graph, inputs)?;
    let mut env: HashMap<ValueId, Arc<Tensor>> = graph.consts.clone();
    for &id in &graph.inputs {
        let (_, t) = inputs
            .iter()
            .find(|(n, _)| *n == graph.values[id].name)
            .expect("checked");
        env.insert(id, Arc::new((*t).clone()));
    }
    // Free each intermediate after its last use.
    let mut last_use: HashMap<ValueId, usize> = HashMap::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        for id in n.inputs.iter().flatten() {
            last_use.insert(*id, i);
        }
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        let start = Instant::now();
        let args: Vec<Option<&Tensor>> = node
            .inputs
            .iter()
            .map(|i| i.map(|id| env[&id].as_ref()))
            .collect();
        let node_err = |message: String| Error::Node {
            node: node.name.clone(),
            op_type: node.op.op_type().to_string(),
            message,
        };
        let outs = node.op.def().eval(&args).map_err(node_err)?;
        if outs.len() < node.outputs.len() {
            return Err(node_err(format!(
                "produced {} outputs, expected {}",
                outs.len(),
                node.outputs.len()
            )));
        }
        for (&id, t) in node.outputs.iter().zip(outs) {
            let v = &graph.values[id];
            if t.shape() != v.shape || t.dtype() != v.dtype {
                return Err(node_err(format!(
                    "output '{}' is {} {} but inference said {} {}",
                    v.name,
                    t.dtype(),
                    fmt_shape(t.shape()),
                    v.dtype,
                    fmt_shape(&v.shape)
                )));
            }
            env.insert(id, Arc::new(t));
        }
        if let Some(p) = profile.as_deref_mut() {
            p.push(NodeTiming {
                node: node.name.clone(),
                op_type: node.op.op_type().to_string(),
                time: start.elapsed(),
                macs: graph.node_macs(node),
            });
        }
        for id in node.inputs.iter().flatten() {
            if last_use.get(id) == Some(&i)
                && !graph.outputs.contains(id)
                && !graph.consts.contains_key(id)
            {
                env.remove(id);
            }
        }
    }
    Ok(graph
        .outputs
        .iter()
        .map(|id| env[id].as_ref().clone())
        .collect())
}
