//! `fuse-gelu`: the exporters' written-out GELU becomes one `Gelu` node, which `fuse-linear`
//! and `fuse-conv-epilogue` then take into the producer's epilogue. Two forms:
//! - erf: `x · 0.5 · (1 + erf(x / √2))` (or `erf(x · (1/√2))`);
//! - tanh: `x · 0.5 · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))`, the cube as `Pow(x, 3)`,
//!   `x · (x · x)` or `(x · x) · x`, the constant factors on either side;
//!
//! and in both the three outer products in any grouping.

use std::collections::HashMap;

use crate::ir::{Graph, Node, ValueId};
use crate::ops::{BinaryKind, Op, Unary, UnaryKind};

use super::graph_util::{consumers, producers, scalar_const, sole_reader};

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-4 * b.abs()
}

/// If `node` is `Binary(kind)` with one operand the constant `c` (within 1e-4), the other.
fn binary_with_const(graph: &Graph, node: &Node, kind: BinaryKind, c: f32) -> Option<ValueId> {
    match &node.op {
        Op::Binary(b) if b.kind == kind => {
            let (x, y) = (node.inputs[0]?, node.inputs[1]?);
            if scalar_const(graph, y).is_some_and(|v| close(v, c)) {
                Some(x)
            } else if kind != BinaryKind::Div && scalar_const(graph, x).is_some_and(|v| close(v, c))
            {
                Some(y)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The other operand of a Mul node that reads `v`.
fn mul_other(node: &Node, v: ValueId) -> Option<ValueId> {
    match &node.op {
        Op::Binary(b) if b.kind == BinaryKind::Mul => {
            let (x, y) = (node.inputs[0]?, node.inputs[1]?);
            if x == v {
                Some(y)
            } else if y == v {
                Some(x)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The `x` of an erf-GELU whose `Erf` node is `e`, with the node computing `x / √2`.
fn erf_argument(
    graph: &Graph,
    producer: &HashMap<ValueId, usize>,
    sole_user: &dyn Fn(ValueId) -> Option<usize>,
    e: usize,
) -> Option<(ValueId, Vec<usize>)> {
    let u = graph.nodes[e].inputs[0]?;
    let d = *producer.get(&u)?;
    let dn = &graph.nodes[d];
    let x =
        binary_with_const(graph, dn, BinaryKind::Div, std::f32::consts::SQRT_2).or_else(|| {
            binary_with_const(graph, dn, BinaryKind::Mul, std::f32::consts::FRAC_1_SQRT_2)
        })?;
    (sole_user(u) == Some(e)).then(|| (x, vec![d]))
}

/// The `x` of a tanh-GELU whose `Tanh` node is `t`, with the nodes computing
/// `√(2/π) · (x + 0.044715 · x³)`.
fn tanh_argument(
    graph: &Graph,
    producer: &HashMap<ValueId, usize>,
    sole_user: &dyn Fn(ValueId) -> Option<usize>,
    t: usize,
) -> Option<(ValueId, Vec<usize>)> {
    // The node producing `v` if only `reader` reads `v`.
    let inner = |v: ValueId, reader: usize| -> Option<usize> {
        (sole_user(v) == Some(reader)).then_some(())?;
        producer.get(&v).copied()
    };
    let scaled = inner(graph.nodes[t].inputs[0]?, t)?;
    let u = binary_with_const(
        graph,
        &graph.nodes[scaled],
        BinaryKind::Mul,
        (2.0 / std::f32::consts::PI).sqrt(),
    )?;
    let sum = inner(u, scaled)?;
    let sn = &graph.nodes[sum];
    if !matches!(&sn.op, Op::Binary(b) if b.kind == BinaryKind::Add) {
        return None;
    }
    // `x + k·x³` with either operand order: try each side as `x`.
    for (x, other) in [
        (sn.inputs[0]?, sn.inputs[1]?),
        (sn.inputs[1]?, sn.inputs[0]?),
    ] {
        let Some(k) = inner(other, sum) else { continue };
        let Some(cube) = binary_with_const(graph, &graph.nodes[k], BinaryKind::Mul, 0.044715)
        else {
            continue;
        };
        let Some(c) = inner(cube, k) else { continue };
        let cn = &graph.nodes[c];
        let mut absorbed = vec![scaled, sum, k, c];
        let is_cube = match &cn.op {
            Op::Binary(b) if b.kind == BinaryKind::Pow => {
                cn.inputs[0] == Some(x)
                    && cn.inputs[1].and_then(|e| scalar_const(graph, e)) == Some(3.0)
            }
            Op::Binary(b) if b.kind == BinaryKind::Mul => {
                // x · (x · x) in either order.
                match mul_other(cn, x).and_then(|sq| Some((sq, inner(sq, c)?))) {
                    Some((sq, q)) if sq != x => {
                        absorbed.push(q);
                        let qn = &graph.nodes[q];
                        matches!(&qn.op, Op::Binary(b) if b.kind == BinaryKind::Mul)
                            && qn.inputs[0] == Some(x)
                            && qn.inputs[1] == Some(x)
                    }
                    _ => false,
                }
            }
            _ => false,
        };
        if is_cube {
            return Some((x, absorbed));
        }
    }
    None
}

pub fn fuse_gelu(graph: &mut Graph) -> Result<bool, String> {
    let uses = consumers(graph);
    let producer = producers(graph);
    let sole_user = |v: ValueId| sole_reader(graph, &uses, v);
    for (e, node) in graph.nodes.iter().enumerate() {
        let (tanh, argument) = match &node.op {
            Op::Unary(Unary {
                kind: UnaryKind::Erf,
            }) => (false, erf_argument(graph, &producer, &sole_user, e)),
            Op::Unary(Unary {
                kind: UnaryKind::Tanh,
            }) => (true, tanh_argument(graph, &producer, &sole_user, e)),
            _ => continue,
        };
        let Some((x, mut absorbed)) = argument else {
            continue;
        };
        absorbed.push(e);
        // s = erf/tanh + 1.
        let Some(a) = sole_user(node.outputs[0]) else {
            continue;
        };
        if binary_with_const(graph, &graph.nodes[a], BinaryKind::Add, 1.0) != Some(node.outputs[0])
        {
            continue;
        }
        let s = graph.nodes[a].outputs[0];
        let Some(m1) = sole_user(s) else { continue };
        let m1n = &graph.nodes[m1];
        let Some(other) = mul_other(m1n, s) else {
            continue;
        };
        // The product of x, s and 0.5 in any grouping; `absorbed` are the nodes it replaces.
        let (last, outer) = if other == x {
            // (x · s) · 0.5
            let t = m1n.outputs[0];
            let Some(m2) = sole_user(t) else { continue };
            if binary_with_const(graph, &graph.nodes[m2], BinaryKind::Mul, 0.5) != Some(t) {
                continue;
            }
            (m2, vec![a, m1])
        } else if scalar_const(graph, other).is_some_and(|v| close(v, 0.5)) {
            // x · (s · 0.5)
            let t = m1n.outputs[0];
            let Some(m2) = sole_user(t) else { continue };
            if mul_other(&graph.nodes[m2], t) != Some(x) {
                continue;
            }
            (m2, vec![a, m1])
        } else if let Some(&h) = producer.get(&other) {
            if binary_with_const(graph, &graph.nodes[h], BinaryKind::Mul, 0.5) == Some(x) {
                // (x · 0.5) · s
                if sole_user(other) != Some(m1) {
                    continue;
                }
                (m1, vec![a, h])
            } else {
                continue;
            }
        } else {
            continue;
        };
        let mut fused = graph.nodes[last].clone();
        fused.op = Op::Unary(Unary {
            kind: UnaryKind::Gelu { tanh },
        });
        fused.inputs = vec![Some(x)];
        graph.nodes[last] = fused;
        absorbed.extend(outer);
        absorbed.sort_unstable();
        // Every absorbed node comes before `last` (each feeds it), so removing them from the
        // back leaves `last`'s rewrite in place.
        for i in absorbed.into_iter().rev() {
            graph.nodes.remove(i);
        }
        return Ok(true);
    }
    Ok(false)
}
