//! Added constants brought together, so that a fused consumer sees one bias:
//! - `fold-add-through-reshape`: `Reshape(x) → Add(const) → Reshape` back to `x`'s shape is
//!   `Add(x, const')`, the constant broadcast and reshaped at compile time (Swin's shifted-window
//!   mask, added per window on a `[batch, windows, heads, S, S]` view of the scores);
//! - `merge-constant-adds`: `Add(Add(x, c1), c2)` is `Add(x, c1 + c2)`.
//!
//! The new constant is never larger than the tensor it is added to: axes along which it does
//! not vary are kept at size 1 (broadcast).

use std::sync::Arc;

use runtime::{DType, Tensor};

use crate::ir::{Graph, Node, ValueId};
use crate::ops::util::{broadcast_offsets, broadcast_shapes, for_each_index, offset, strides};
use crate::ops::{BinaryKind, Op};

use super::graph_util::{consumers, producers, sole_reader};

/// `(other operand, f32 constant)` if `node` is an Add of a run-time value and a constant.
fn add_of_const<'g>(graph: &'g Graph, node: &Node) -> Option<(ValueId, &'g Tensor)> {
    if !matches!(&node.op, Op::Binary(b) if b.kind == BinaryKind::Add) {
        return None;
    }
    let (a, b) = (node.inputs[0]?, node.inputs[1]?);
    let f32_const = |v: ValueId| {
        graph
            .consts
            .get(&v)
            .filter(|t| t.dtype() == DType::F32)
            .map(|t| t.as_ref())
    };
    match (f32_const(a), f32_const(b)) {
        (None, Some(c)) => Some((a, c)),
        (Some(c), None) => Some((b, c)),
        _ => None,
    }
}

/// `c` broadcast to `shape`, as a dense row-major vector.
fn broadcast_to(c: &Tensor, shape: &[usize]) -> Result<Vec<f32>, String> {
    let data = c.as_f32()?;
    let offsets = broadcast_offsets(&[c.shape()], shape);
    Ok(offsets[0].iter().map(|&o| data[o]).collect())
}

/// `(shape, data)` with every axis along which `data` does not vary cut to size 1.
fn squeeze_constant_axes(mut shape: Vec<usize>, mut data: Vec<f32>) -> (Vec<usize>, Vec<f32>) {
    for axis in 0..shape.len() {
        if shape[axis] == 1 {
            continue;
        }
        let st = strides(&shape);
        // Element `i` sits at coordinate `k` along `axis`; compare it with its slice-0 twin.
        let varies = data.iter().enumerate().any(|(i, &v)| {
            let k = (i / st[axis]) % shape[axis];
            data[i - k * st[axis]].to_bits() != v.to_bits()
        });
        if varies {
            continue;
        }
        let mut kept = shape.clone();
        kept[axis] = 1;
        let mut out = Vec::with_capacity(data.len() / shape[axis]);
        for_each_index(&kept, |idx| out.push(data[offset(idx, &st)]));
        shape = kept;
        data = out;
    }
    (shape, data)
}

/// A new f32 constant value named after `node`.
fn add_const(graph: &mut Graph, node: &str, t: Tensor) -> ValueId {
    let id = graph.add_value(format!("{node}:bias"), DType::F32, t.shape().to_vec());
    graph.consts.insert(id, Arc::new(t));
    id
}

pub fn fold_add_through_reshape(graph: &mut Graph) -> Result<bool, String> {
    let uses = consumers(graph);
    let producer = producers(graph);
    for (r2, node) in graph.nodes.iter().enumerate() {
        if !matches!(node.op, Op::Reshape(_)) {
            continue;
        }
        let Some(sum) = node.inputs[0] else { continue };
        let Some(&a) = producer.get(&sum) else {
            continue;
        };
        let Some((y1, c)) = add_of_const(graph, &graph.nodes[a]) else {
            continue;
        };
        let Some(&r1) = producer.get(&y1) else {
            continue;
        };
        let Some(x) = graph.nodes[r1].inputs[0] else {
            continue;
        };
        let target = &graph.values[node.outputs[0]].shape;
        let mid = &graph.values[y1].shape;
        if !matches!(graph.nodes[r1].op, Op::Reshape(_))
            || graph.values[x].shape != *target
            || graph.values[x].dtype != DType::F32
            || graph.consts.contains_key(&x)
            || broadcast_shapes(&[mid, c.shape()]).ok().as_ref() != Some(mid)
            || sole_reader(graph, &uses, y1) != Some(a)
            || sole_reader(graph, &uses, sum) != Some(r2)
        {
            continue;
        }
        let dense = broadcast_to(c, mid)?;
        let (shape, data) = squeeze_constant_axes(target.clone(), dense);
        let name = graph.nodes[a].name.clone();
        let bias = add_const(graph, &name, Tensor::f32(shape, data));
        let mut fused = graph.nodes[a].clone();
        fused.inputs = vec![Some(x), Some(bias)];
        fused.outputs = graph.nodes[r2].outputs.clone();
        // r1 < a < r2: the Add takes r2's place, r2's output keeps its name.
        graph.nodes[r2] = fused;
        graph.nodes.remove(a);
        graph.nodes.remove(r1);
        return Ok(true);
    }
    Ok(false)
}

pub fn merge_constant_adds(graph: &mut Graph) -> Result<bool, String> {
    let uses = consumers(graph);
    let producer = producers(graph);
    for (outer, node) in graph.nodes.iter().enumerate() {
        let Some((inner_out, c2)) = add_of_const(graph, node) else {
            continue;
        };
        let Some(&inner) = producer.get(&inner_out) else {
            continue;
        };
        let Some((x, c1)) = add_of_const(graph, &graph.nodes[inner]) else {
            continue;
        };
        if sole_reader(graph, &uses, inner_out) != Some(outer) {
            continue;
        }
        // The Add's own reference evaluation broadcasts and sums the two constants.
        let sum = node.op.def().eval(&[Some(c1), Some(c2)])?.remove(0);
        let name = node.name.clone();
        let bias = add_const(graph, &name, sum);
        graph.nodes[outer].inputs = vec![Some(x), Some(bias)];
        graph.nodes.remove(inner);
        return Ok(true);
    }
    Ok(false)
}
