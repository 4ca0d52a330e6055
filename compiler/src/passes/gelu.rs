//! `fuse-gelu`: the exporters' erf form of GELU, `x · 0.5 · (1 + erf(x / √2))` (or
//! `erf(x · (1/√2))`, the three products in any grouping), becomes one `Gelu` node, which
//! `fuse-linear` and `fuse-conv-epilogue` then take into the producer's epilogue.

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

pub fn fuse_gelu(graph: &mut Graph) -> Result<bool, String> {
    let uses = consumers(graph);
    let producer = producers(graph);
    let sole_user = |v: ValueId| sole_reader(graph, &uses, v);
    for (e, node) in graph.nodes.iter().enumerate() {
        if !matches!(
            node.op,
            Op::Unary(Unary {
                kind: UnaryKind::Erf
            })
        ) {
            continue;
        }
        let Some(u) = node.inputs[0] else { continue };
        // u = x / √2 or x · (1/√2).
        let Some(&d) = producer.get(&u) else { continue };
        let dn = &graph.nodes[d];
        let Some(x) = binary_with_const(graph, dn, BinaryKind::Div, std::f32::consts::SQRT_2)
            .or_else(|| {
                binary_with_const(graph, dn, BinaryKind::Mul, std::f32::consts::FRAC_1_SQRT_2)
            })
        else {
            continue;
        };
        if sole_user(u) != Some(e) {
            continue;
        }
        // s = erf + 1.
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
        let (last, absorbed) = if other == x {
            // (x · s) · 0.5
            let t = m1n.outputs[0];
            let Some(m2) = sole_user(t) else { continue };
            if binary_with_const(graph, &graph.nodes[m2], BinaryKind::Mul, 0.5) != Some(t) {
                continue;
            }
            (m2, vec![d, e, a, m1])
        } else if scalar_const(graph, other).is_some_and(|v| close(v, 0.5)) {
            // x · (s · 0.5)
            let t = m1n.outputs[0];
            let Some(m2) = sole_user(t) else { continue };
            if mul_other(&graph.nodes[m2], t) != Some(x) {
                continue;
            }
            (m2, vec![d, e, a, m1])
        } else if let Some(&h) = producer.get(&other) {
            if binary_with_const(graph, &graph.nodes[h], BinaryKind::Mul, 0.5) == Some(x) {
                // (x · 0.5) · s
                if sole_user(other) != Some(m1) {
                    continue;
                }
                (m1, vec![d, e, a, h])
            } else {
                continue;
            }
        } else {
            continue;
        };
        let mut fused = graph.nodes[last].clone();
        fused.op = Op::Unary(Unary {
            kind: UnaryKind::Gelu { tanh: false },
        });
        fused.inputs = vec![Some(x)];
        graph.nodes[last] = fused;
        let mut absorbed = absorbed;
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
