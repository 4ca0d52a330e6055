//! `fuse-layernorm`: the expanded LayerNormalization that exporters write before opset 17,
//! `(x − mean(x)) / sqrt(mean((x − mean(x))²) + ε) [· scale] [+ bias]` with both means over
//! the same trailing axes (kept), becomes one [`LayerNorm`] node. The square may be
//! `Pow(d, 2)` or `Mul(d, d)`. Every intermediate must be read only inside the pattern.

use std::sync::Arc;

use runtime::{DType, Tensor};

use super::graph_util::{consumers, scalar_const};
use crate::ir::{Graph, ValueId};
use crate::ops::{BinaryKind, LayerNorm, Op, ReduceKind, UnaryKind};

pub fn fuse_layer_norm(graph: &mut Graph) -> Result<bool, String> {
    let uses = consumers(graph);
    let readers = |v: ValueId| -> Vec<usize> {
        if graph.outputs.contains(&v) {
            return vec![usize::MAX];
        }
        let mut r: Vec<usize> = uses
            .get(&v)
            .map_or(vec![], |u| u.iter().map(|&(n, _)| n).collect());
        r.dedup();
        r
    };
    let sole = |v: ValueId| -> Option<usize> {
        match readers(v).as_slice() {
            [n] if *n != usize::MAX => Some(*n),
            _ => None,
        }
    };
    let binary = |i: usize, kind: BinaryKind| -> Option<(ValueId, ValueId)> {
        let n = &graph.nodes[i];
        match &n.op {
            Op::Binary(b) if b.kind == kind => Some((n.inputs[0]?, n.inputs[1]?)),
            _ => None,
        }
    };
    // Trailing reduced axes of a keepdims ReduceMean node: the first one, if they are trailing.
    let mean_axes = |i: usize| -> Option<(ValueId, usize)> {
        let n = &graph.nodes[i];
        let Op::Reduce(r) = &n.op else { return None };
        if r.kind != ReduceKind::Mean || !r.keepdims {
            return None;
        }
        let x = n.inputs[0]?;
        let rank = graph.values[x].shape.len();
        let axes = graph
            .consts
            .get(&n.inputs.get(1).copied().flatten()?)?
            .to_i64_vec()
            .ok()?;
        let mut axes: Vec<usize> = axes
            .iter()
            .map(|&a| if a < 0 { a + rank as i64 } else { a } as usize)
            .collect();
        axes.sort_unstable();
        let first = *axes.first()?;
        (axes == (first..rank).collect::<Vec<_>>()).then_some((x, first))
    };
    for (m1, _) in graph.nodes.iter().enumerate() {
        let Some((x, axis)) = mean_axes(m1) else {
            continue;
        };
        let mean = graph.nodes[m1].outputs[0];
        // d = x − mean
        let Some(sub) = sole(mean) else { continue };
        if binary(sub, BinaryKind::Sub) != Some((x, mean)) {
            continue;
        }
        let d = graph.nodes[sub].outputs[0];
        // d² and the division, the only readers of d.
        let rd = readers(d);
        if rd.len() != 2 {
            continue;
        }
        let is_square = |i: usize| {
            binary(i, BinaryKind::Pow)
                .is_some_and(|(a, e)| a == d && scalar_const(graph, e) == Some(2.0))
                || binary(i, BinaryKind::Mul) == Some((d, d))
        };
        let (sq, div) = if is_square(rd[0]) {
            (rd[0], rd[1])
        } else {
            (rd[1], rd[0])
        };
        if !is_square(sq) || binary(div, BinaryKind::Div).map(|(a, _)| a) != Some(d) {
            continue;
        }
        // var = mean(d²) over the same axes; + ε; sqrt; d / that.
        let Some(m2) = sole(graph.nodes[sq].outputs[0]) else {
            continue;
        };
        if mean_axes(m2) != Some((graph.nodes[sq].outputs[0], axis)) {
            continue;
        }
        let Some(add) = sole(graph.nodes[m2].outputs[0]) else {
            continue;
        };
        let Some(eps) = binary(add, BinaryKind::Add).and_then(|(a, b)| {
            let v = graph.nodes[m2].outputs[0];
            if a == v {
                scalar_const(graph, b)
            } else if b == v {
                scalar_const(graph, a)
            } else {
                None
            }
        }) else {
            continue;
        };
        let Some(sqrt) = sole(graph.nodes[add].outputs[0]) else {
            continue;
        };
        if !matches!(&graph.nodes[sqrt].op, Op::Unary(u) if u.kind == UnaryKind::Sqrt) {
            continue;
        }
        if binary(div, BinaryKind::Div) != Some((d, graph.nodes[sqrt].outputs[0]))
            || sole(graph.nodes[sqrt].outputs[0]) != Some(div)
        {
            continue;
        }
        if !(eps.is_finite() && eps >= 0.0) || graph.values[x].dtype != DType::F32 {
            continue;
        }
        let norm: Vec<usize> = graph.values[x].shape[axis..].to_vec();
        // Optional constant scale and bias over the normalised axes.
        let affine = |i: usize, kind: BinaryKind| -> Option<(usize, ValueId)> {
            let v = graph.nodes[i].outputs[0];
            let j = sole(v)?;
            let (a, b) = binary(j, kind)?;
            let c = if a == v {
                b
            } else if b == v && kind != BinaryKind::Sub {
                a
            } else {
                return None;
            };
            let t = graph.consts.get(&c)?;
            let ok = t.dtype() == DType::F32
                && crate::ops::util::broadcast_shapes(&[&norm, t.shape()])
                    .ok()
                    .as_deref()
                    == Some(&norm[..]);
            ok.then_some((j, c))
        };
        let mut last = div;
        let scale = affine(last, BinaryKind::Mul);
        if let Some((j, _)) = scale {
            last = j;
        }
        let bias = affine(last, BinaryKind::Add);
        if let Some((j, _)) = bias {
            last = j;
        }
        let scale_v = match scale {
            Some((_, c)) => c,
            None => {
                let name = format!("{}_scale", graph.nodes[div].name);
                let n: usize = norm.iter().product();
                let id = graph.add_value(name, DType::F32, norm.clone());
                graph
                    .consts
                    .insert(id, Arc::new(Tensor::f32(norm.clone(), vec![1.0; n])));
                id
            }
        };
        let mut fused = graph.nodes[last].clone();
        fused.op = Op::LayerNorm(LayerNorm {
            axis: axis as i64,
            epsilon: eps,
        });
        fused.inputs = vec![Some(x), Some(scale_v)];
        if let Some((_, c)) = bias {
            fused.inputs.push(Some(c));
        }
        let mut absorbed = vec![m1, sub, sq, m2, add, sqrt, div];
        if let Some((j, _)) = scale {
            absorbed.push(j);
        }
        if let Some((j, _)) = bias {
            absorbed.push(j);
        }
        absorbed.retain(|&i| i != last);
        graph.nodes[last] = fused;
        absorbed.sort_unstable();
        // Every absorbed node feeds `last`, so precedes it.
        for i in absorbed.into_iter().rev() {
            graph.nodes.remove(i);
        }
        return Ok(true);
    }
    Ok(false)
}
