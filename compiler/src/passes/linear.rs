//! `fuse-linear`: MatMul by a constant 2-D weight becomes [`Linear`], which then absorbs,
//! one rewrite at a time, a constant bias Add (broadcast over the last axis only), a residual
//! Add of a same-shaped run-time value, and an activation — the transformer MLP and
//! projection pattern, computed as one packed GEMM with an epilogue.

use std::sync::Arc;

use runtime::{DType, Tensor};

use super::graph_util::consumers;
use crate::ir::Graph;
use crate::ops::{Activation, Linear, Op};

/// The Linear node producing `v`, if `v` is read only by one node and is not a graph output.
fn sole_linear(
    graph: &Graph,
    uses: &std::collections::HashMap<usize, Vec<(usize, usize)>>,
    v: usize,
) -> Option<usize> {
    if graph.outputs.contains(&v) || uses.get(&v).map_or(0, Vec::len) != 1 {
        return None;
    }
    graph
        .nodes
        .iter()
        .position(|n| n.outputs.first() == Some(&v) && matches!(n.op, Op::Linear(_)))
}

/// A constant that only varies along the last axis of an `[.., n]` output: its `n` values.
fn row_vector(graph: &Graph, c: usize, out: &[usize]) -> Option<Vec<f32>> {
    let t = graph.consts.get(&c)?;
    let n = *out.last()?;
    let s = t.shape();
    if t.dtype() != DType::F32 || s.len() > out.len() || s.iter().rev().skip(1).any(|&d| d != 1) {
        return None;
    }
    let v = t.as_f32().ok()?;
    match s.last() {
        None | Some(1) => Some(vec![v[0]; n]),
        Some(&d) if d == n => Some(v.to_vec()),
        _ => None,
    }
}

pub fn fuse_linear(graph: &mut Graph) -> Result<bool, String> {
    // MatMul(A, W) with W a constant matrix and A at least 2-D.
    for i in 0..graph.nodes.len() {
        let n = &graph.nodes[i];
        if !matches!(n.op, Op::MatMul(_)) {
            continue;
        }
        let (Some(a), Some(w)) = (n.inputs[0], n.inputs[1]) else {
            continue;
        };
        let w_ok = graph
            .consts
            .get(&w)
            .is_some_and(|t| t.rank() == 2 && t.dtype() == DType::F32);
        if w_ok && graph.values[a].shape.len() >= 2 && graph.values[a].dtype == DType::F32 {
            graph.nodes[i].op = Op::Linear(Linear {
                activation: Activation::None,
            });
            return Ok(true);
        }
    }
    let uses = consumers(graph);
    for u in 0..graph.nodes.len() {
        let node = &graph.nodes[u];
        if node.op.op_type() == "Add" && node.inputs.len() == 2 {
            for k in 0..2 {
                let (Some(x), Some(other)) = (node.inputs[k], node.inputs[1 - k]) else {
                    continue;
                };
                let Some(l) = sole_linear(graph, &uses, x) else {
                    continue;
                };
                let lin = &graph.nodes[l];
                let Op::Linear(op) = &lin.op else { continue };
                if op.activation != Activation::None
                    || lin.inputs.get(3).copied().flatten().is_some()
                {
                    continue;
                }
                let out = graph.values[x].shape.clone();
                let mut fused = lin.clone();
                fused.inputs.resize(4, None);
                if graph.consts.contains_key(&other) {
                    // Bias: only before a residual, and only one.
                    if fused.inputs[2].is_some() {
                        continue;
                    }
                    let Some(b) = row_vector(graph, other, &out) else {
                        continue;
                    };
                    let n = b.len();
                    let name = format!("{}_bias", graph.nodes[u].name);
                    let id = graph.add_value(name, DType::F32, vec![n]);
                    graph.consts.insert(id, Arc::new(Tensor::f32(vec![n], b)));
                    fused.inputs[2] = Some(id);
                } else if graph.values[other].shape == out
                    && graph.values[other].dtype == DType::F32
                {
                    fused.inputs[3] = Some(other);
                } else {
                    continue;
                }
                fused
                    .inputs
                    .truncate(if fused.inputs[3].is_some() { 4 } else { 3 });
                fused.outputs = graph.nodes[u].outputs.clone();
                graph.nodes[u] = fused;
                graph.nodes.remove(l);
                return Ok(true);
            }
        }
        if let Some(act) = graph.activation(node) {
            let Some(x) = node.inputs[0] else { continue };
            let Some(l) = sole_linear(graph, &uses, x) else {
                continue;
            };
            let Op::Linear(op) = &graph.nodes[l].op else {
                continue;
            };
            if op.activation != Activation::None {
                continue;
            }
            let mut fused = graph.nodes[l].clone();
            fused.op = Op::Linear(Linear { activation: act });
            fused.outputs = graph.nodes[u].outputs.clone();
            graph.nodes[u] = fused;
            graph.nodes.remove(l);
            return Ok(true);
        }
    }
    Ok(false)
}
