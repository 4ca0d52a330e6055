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

/// `merge-linear`: Linear nodes that read the same input with the same activation and no
/// residual (separate Q, K and V projections) become one Linear over the concatenated weights
/// and biases, each former output a Slice of its columns (a view once lowered): one GEMM
/// that reads the input once instead of three.
pub fn merge_linear(graph: &mut Graph) -> Result<bool, String> {
    let mut groups: std::collections::HashMap<(usize, String), Vec<usize>> =
        std::collections::HashMap::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        if let (Op::Linear(l), Some(a)) = (&n.op, n.inputs[0]) {
            if n.inputs.get(3).copied().flatten().is_none() {
                groups
                    .entry((a, format!("{:?}", l.activation)))
                    .or_default()
                    .push(i);
            }
        }
    }
    let Some(group) = groups
        .into_values()
        .filter(|g| g.len() > 1)
        .min_by_key(|g| g[0])
    else {
        return Ok(false);
    };
    let weight =
        |i: usize| -> Option<Arc<Tensor>> { graph.consts.get(&graph.nodes[i].inputs[1]?).cloned() };
    let ws: Vec<Arc<Tensor>> = group
        .iter()
        .map(|&i| weight(i))
        .collect::<Option<_>>()
        .ok_or("Linear weight is not constant")?;
    let k = ws[0].shape()[0];
    if ws.iter().any(|w| w.shape()[0] != k) {
        return Ok(false);
    }
    let ns: Vec<usize> = ws.iter().map(|w| w.shape()[1]).collect();
    let total: usize = ns.iter().sum();
    let mut w = vec![0f32; k * total];
    let mut b = vec![0f32; total];
    let mut off = 0;
    for ((&i, wt), &n) in group.iter().zip(&ws).zip(&ns) {
        let wv = wt.as_f32()?;
        for r in 0..k {
            w[r * total + off..r * total + off + n].copy_from_slice(&wv[r * n..(r + 1) * n]);
        }
        if let Some(bt) = graph.nodes[i]
            .inputs
            .get(2)
            .copied()
            .flatten()
            .and_then(|v| graph.consts.get(&v))
        {
            b[off..off + n].copy_from_slice(bt.as_f32()?);
        }
        off += n;
    }
    let first = graph.nodes[group[0]].clone();
    let a = first.inputs[0].ok_or("Linear without input")?;
    let mut out_shape = graph.values[a].shape.clone();
    *out_shape.last_mut().ok_or("Linear input of rank 0")? = total;
    let name = format!("{}_merged", first.name);
    let wid = graph.add_value(format!("{name}_w"), DType::F32, vec![k, total]);
    graph
        .consts
        .insert(wid, Arc::new(Tensor::f32(vec![k, total], w)));
    let bid = graph.add_value(format!("{name}_b"), DType::F32, vec![total]);
    graph
        .consts
        .insert(bid, Arc::new(Tensor::f32(vec![total], b)));
    let merged_out = graph.add_value(name.clone(), DType::F32, out_shape);
    let mut nodes = vec![crate::ir::Node {
        name: name.clone(),
        op: first.op.clone(),
        inputs: vec![Some(a), Some(wid), Some(bid)],
        outputs: vec![merged_out],
    }];
    let mut off = 0i64;
    for (&i, &n) in group.iter().zip(&ns) {
        let node_name = graph.nodes[i].name.clone();
        let c = |v: i64| Arc::new(Tensor::i64(vec![1], vec![v]));
        let mut ids = Vec::new();
        for (what, t) in [
            ("starts", c(off)),
            ("ends", c(off + n as i64)),
            ("axes", c(-1)),
        ] {
            let id = graph.add_value(format!("{node_name}_{what}"), DType::I64, vec![1]);
            graph.consts.insert(id, t);
            ids.push(Some(id));
        }
        nodes.push(crate::ir::Node {
            name: format!("{node_name}_columns"),
            op: Op::Slice(crate::ops::Slice),
            inputs: [vec![Some(merged_out)], ids].concat(),
            outputs: graph.nodes[i].outputs.clone(),
        });
        off += n as i64;
    }
    // The merged node and its slices take the first Linear's place: every Linear of the group
    // reads `a`, defined before the first of them, and every reader of their outputs comes
    // after the first.
    for &i in group.iter().rev() {
        graph.nodes.remove(i);
    }
    let at = group[0];
    graph.nodes.splice(at..at, nodes);
    Ok(true)
}
