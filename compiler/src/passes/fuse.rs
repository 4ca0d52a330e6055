//! Convolution fusions: BatchNormalization and per-channel affine constants folded into the
//! preceding Conv's weights and bias, and Conv + bias + residual Add + activation fused into
//! one [`FusedConv`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use runtime::{DType, Tensor};

use crate::ir::{Graph, Node, ValueId};
use crate::ops::{Activation, FusedConv, Op};

use super::graph_util::consumers;

fn const_f32(graph: &Graph, id: Option<ValueId>) -> Option<&[f32]> {
    graph.consts.get(&id?)?.as_f32().ok()
}

/// A plain Conv that produces `v`, when `v` is read once and is not a graph output, with
/// constant weights and a constant (or no) bias: its node index, weights and bias (zeros when
/// absent).
fn foldable_conv<'g>(
    graph: &'g Graph,
    uses: &HashMap<ValueId, Vec<(usize, usize)>>,
    v: ValueId,
) -> Option<(usize, &'g [f32], Vec<f32>)> {
    if graph.outputs.contains(&v) || uses.get(&v).map_or(0, Vec::len) != 1 {
        return None;
    }
    let c = graph
        .nodes
        .iter()
        .position(|n| n.outputs.first() == Some(&v) && matches!(n.op, Op::Conv(_)))?;
    let conv = &graph.nodes[c];
    let w = const_f32(graph, conv.inputs[1])?;
    let m = graph.values[conv.inputs[1]?].shape[0];
    let bias = conv.inputs.get(2).copied().flatten();
    let b = match bias {
        None => vec![0.0; m],
        Some(_) => const_f32(graph, bias)?.to_vec(),
    };
    Some((c, w, b))
}

/// Gives conv `c` new constant weights (when `weights` is `Some`) and bias, named after the
/// conv and `tag`, makes it produce `out` directly and removes node `folded`, whose output
/// that was.
fn fold_into_conv(
    graph: &mut Graph,
    c: usize,
    weights: Option<Vec<f32>>,
    bias: Vec<f32>,
    out: ValueId,
    folded: usize,
    tag: &str,
) {
    let name = graph.nodes[c].name.clone();
    if let Some(w) = weights {
        let w_id = graph.nodes[c].inputs[1].expect("checked by foldable_conv");
        let shape = graph.values[w_id].shape.clone();
        let nw = graph.add_value(format!("{name}:{tag}_weight"), DType::F32, shape.clone());
        graph.consts.insert(nw, Arc::new(Tensor::f32(shape, w)));
        graph.nodes[c].inputs[1] = Some(nw);
    }
    let m = bias.len();
    let nb = graph.add_value(format!("{name}:{tag}_bias"), DType::F32, vec![m]);
    graph
        .consts
        .insert(nb, Arc::new(Tensor::f32(vec![m], bias)));
    let conv = &mut graph.nodes[c];
    conv.inputs.resize(3, None);
    conv.inputs[2] = Some(nb);
    conv.outputs[0] = out;
    graph.nodes.remove(folded);
}

/// `w` with output channel `o`'s weights (the `w.len() / s.len()` values of each) times `s[o]`.
fn scale_rows(w: &[f32], s: &[f32]) -> Vec<f32> {
    let per = w.len() / s.len();
    w.iter().enumerate().map(|(i, &v)| v * s[i / per]).collect()
}

/// `BN(Conv(x, W, B))` → `Conv(x, W·s, (B − mean)·s + β)` with `s = γ / √(var + ε)`, when
/// the conv's output feeds only the BatchNormalization and all parameters are constants.
pub fn fold_batchnorm(graph: &mut Graph) -> Result<bool, String> {
    let uses = consumers(graph);
    for b in 0..graph.nodes.len() {
        let Some(eps) = crate::ops::batchnorm_epsilon(&graph.nodes[b].op) else {
            continue;
        };
        let Some(x) = graph.nodes[b].inputs[0] else {
            continue;
        };
        let Some((c, w, old_b)) = foldable_conv(graph, &uses, x) else {
            continue;
        };
        let bn = &graph.nodes[b];
        let (Some(gamma), Some(beta), Some(mean), Some(var)) = (
            const_f32(graph, bn.inputs[1]),
            const_f32(graph, bn.inputs[2]),
            const_f32(graph, bn.inputs[3]),
            const_f32(graph, bn.inputs[4]),
        ) else {
            continue;
        };
        let m = old_b.len();
        let s: Vec<f32> = (0..m).map(|o| gamma[o] / (var[o] + eps).sqrt()).collect();
        let new_w = scale_rows(w, &s);
        let new_b: Vec<f32> = (0..m)
            .map(|o| (old_b[o] - mean[o]) * s[o] + beta[o])
            .collect();
        // The conv now produces the BN's output value directly.
        let out = bn.outputs[0];
        fold_into_conv(graph, c, Some(new_w), new_b, out, b, "bn");
        return Ok(true);
    }
    Ok(false)
}

/// Per-output-channel values of constant `c` broadcast against a conv output of shape
/// `[N, M, H, W]`: `Some` when `c` is float32, does not widen the output, and varies at
/// most along the channel axis (a scalar, `[M, 1, 1]`, `[1, M, 1, 1]`, …).
fn per_channel(graph: &Graph, c: ValueId, out: &[usize]) -> Option<Vec<f32>> {
    let values = const_f32(graph, Some(c))?;
    let shape = &graph.values[c].shape;
    if out.len() != 4 || shape.len() > 4 {
        return None;
    }
    let m = out[1];
    // Right-aligned against [N, M, H, W]: every axis but the channel axis must be 1.
    let at = |axis: usize| (shape.len() + axis).checked_sub(4).map_or(1, |i| shape[i]);
    if at(0) != 1 || at(2) != 1 || at(3) != 1 || (at(1) != 1 && at(1) != m) {
        return None;
    }
    Some(if at(1) == m {
        values.to_vec()
    } else {
        vec![values[0]; m]
    })
}

/// `Conv(x, W, B) ⊙ c` with `c` constant per output channel, for `⊙` one of Add, Sub (conv
/// first), Mul and Div (conv first) → `Conv(x, W', B')`: Mul/Div scale `W` and `B`, Add/Sub
/// shift `B`. Exporters write biases and BN this way (tf2onnx, separate `bias` parameters).
/// Only a plain Conv whose output feeds nothing else is rewritten.
pub fn fold_conv_affine(graph: &mut Graph) -> Result<bool, String> {
    let uses = consumers(graph);
    for u in 0..graph.nodes.len() {
        let node = &graph.nodes[u];
        let op = node.op.op_type().to_string();
        let op = op.as_str();
        if !matches!(op, "Add" | "Sub" | "Mul" | "Div") || node.inputs.len() != 2 {
            continue;
        }
        // Add and Mul take the conv on either side; Sub and Div only on the left.
        let sides: &[usize] = if matches!(op, "Add" | "Mul") {
            &[0, 1]
        } else {
            &[0]
        };
        for &k in sides {
            let (Some(a), Some(c)) = (node.inputs[k], node.inputs[1 - k]) else {
                continue;
            };
            let Some((ci, w, mut new_b)) = foldable_conv(graph, &uses, a) else {
                continue;
            };
            let Some(v) = per_channel(graph, c, &graph.values[a].shape) else {
                continue;
            };
            let mut new_w = None;
            match op {
                "Add" => new_b.iter_mut().zip(&v).for_each(|(b, c)| *b += c),
                "Sub" => new_b.iter_mut().zip(&v).for_each(|(b, c)| *b -= c),
                _ => {
                    let s: Vec<f32> = if op == "Mul" {
                        v
                    } else {
                        v.iter().map(|c| 1.0 / c).collect()
                    };
                    // A zero or non-finite scale would turn `0 * inf` into NaN where the
                    // unfolded graph has ±inf or 0: leave such graphs as they are.
                    if s.iter().any(|s| !s.is_finite() || *s == 0.0) {
                        continue;
                    }
                    new_b.iter_mut().zip(&s).for_each(|(b, s)| *b *= s);
                    new_w = Some(scale_rows(w, &s));
                }
            }
            // The conv now produces the folded node's output value directly.
            let out = node.outputs[0];
            let tag = op.to_string();
            fold_into_conv(graph, ci, new_w, new_b, out, u, &tag);
            return Ok(true);
        }
    }
    Ok(false)
}

/// Node index by the value it produces first, and the graph outputs: built once per pass
/// run so that each lookup is O(1) (a linear scan per node made the pass quadratic).
struct Producers {
    by_value: HashMap<ValueId, usize>,
    outputs: HashSet<ValueId>,
}

impl Producers {
    fn of(graph: &Graph) -> Producers {
        let mut by_value = HashMap::new();
        for (i, n) in graph.nodes.iter().enumerate() {
            if let Some(&v) = n.outputs.first() {
                by_value.entry(v).or_insert(i);
            }
        }
        Producers {
            by_value,
            outputs: graph.outputs.iter().copied().collect(),
        }
    }
}

/// The conv node producing `v`, if `v`'s only consumer is node `user` and it is not a graph
/// output (so fusing it away loses nothing).
fn sole_conv_producer(
    graph: &Graph,
    producers: &Producers,
    uses: &HashMap<ValueId, Vec<(usize, usize)>>,
    v: ValueId,
    allowed_uses: usize,
) -> Option<usize> {
    if producers.outputs.contains(&v) || uses.get(&v).map_or(0, Vec::len) != allowed_uses {
        return None;
    }
    let &i = producers.by_value.get(&v)?;
    match &graph.nodes[i].op {
        Op::Conv(_) => Some(i),
        Op::FusedConv(f) if f.activation == Activation::None => Some(i),
        _ => None,
    }
}

fn as_fused(node: &Node) -> FusedConv {
    FusedConv::of(&node.op).expect("checked by sole_conv_producer")
}

/// Fuses, one rewrite at a time: a residual `Add(conv, r)` (same shape, conv output used
/// once), then an activation of a conv output used once, then SiLU `Mul(conv, Sigmoid(conv))`.
/// The fused node takes the position of the last node it absorbs, so every input it reads
/// is defined before it.
pub fn fuse_conv_epilogue(graph: &mut Graph) -> Result<bool, String> {
    let uses = consumers(graph);
    let producers = Producers::of(graph);
    for u in 0..graph.nodes.len() {
        let node = &graph.nodes[u];
        // Residual add.
        if node.op.op_type() == "Add" && node.inputs.len() == 2 {
            for k in 0..2 {
                let (Some(a), Some(r)) = (node.inputs[k], node.inputs[1 - k]) else {
                    continue;
                };
                let Some(c) = sole_conv_producer(graph, &producers, &uses, a, 1) else {
                    continue;
                };
                let f = as_fused(&graph.nodes[c]);
                let same = graph.values[r].shape == graph.values[a].shape
                    && !graph.consts.contains_key(&r);
                if f.has_residual || !same {
                    continue;
                }
                let mut fused = graph.nodes[c].clone();
                let scale = fused
                    .inputs
                    .get(4)
                    .copied()
                    .flatten()
                    .filter(|_| f.input_scale);
                fused.op = Op::FusedConv(FusedConv {
                    has_residual: true,
                    ..f
                });
                fused.inputs.resize(3, None);
                fused.inputs.push(Some(r));
                fused.inputs.extend(scale.map(Some));
                fused.outputs = graph.nodes[u].outputs.clone();
                graph.nodes[u] = fused;
                graph.nodes.remove(c);
                return Ok(true);
            }
        }
        // Plain activation.
        if let Some(act) = graph.activation(node) {
            let Some(a) = node.inputs[0] else { continue };
            if let Some(c) = sole_conv_producer(graph, &producers, &uses, a, 1) {
                let f = as_fused(&graph.nodes[c]);
                let mut fused = graph.nodes[c].clone();
                fused.op = Op::FusedConv(FusedConv {
                    activation: act,
                    ..f
                });
                fused.outputs = graph.nodes[u].outputs.clone();
                graph.nodes[u] = fused;
                graph.nodes.remove(c);
                return Ok(true);
            }
        }
        // SiLU: Mul(x, Sigmoid(x)) with x a conv output read by exactly these two nodes.
        if node.op.op_type() == "Mul" && node.inputs.len() == 2 {
            for k in 0..2 {
                let (Some(x), Some(s)) = (node.inputs[k], node.inputs[1 - k]) else {
                    continue;
                };
                let Some(&sig) = producers.by_value.get(&s).filter(|&&i| {
                    let n = &graph.nodes[i];
                    n.op.op_type() == "Sigmoid" && n.inputs[0] == Some(x)
                }) else {
                    continue;
                };
                if uses.get(&s).map_or(0, Vec::len) != 1 || producers.outputs.contains(&s) {
                    continue;
                }
                let Some(c) = sole_conv_producer(graph, &producers, &uses, x, 2) else {
                    continue;
                };
                let f = as_fused(&graph.nodes[c]);
                let mut fused = graph.nodes[c].clone();
                fused.op = Op::FusedConv(FusedConv {
                    activation: Activation::Silu,
                    ..f
                });
                fused.outputs = graph.nodes[u].outputs.clone();
                graph.nodes[u] = fused;
                let (first, second) = if sig > c { (sig, c) } else { (c, sig) };
                graph.nodes.remove(first);
                graph.nodes.remove(second);
                return Ok(true);
            }
        }
    }
    Ok(false)
}
