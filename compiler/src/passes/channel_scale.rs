//! `fold-channel-scale`: a per-channel scale computed at run time and applied to a
//! convolution's input becomes part of that convolution,
//!
//! `Conv(Mul(y, s), W)` ⇒ `FusedConv(y, W, …, scale s)`  with `s` of shape `[1, C, 1, 1]`,
//!
//! since `Σ_c W[o, c, ky, kx] · (s[c] · y[c, …]) = Σ_c (W[o, c, ky, kx] · s[c]) · y[c, …]`:
//! the lowering scales the packed weights once per run (`bqml_scale_panels`) instead of
//! making a pass over the whole `[C, H, W]` map. This is squeeze-excite's channel scale
//! (EfficientNet, MobileNetV3, RegNetY). Zero padding stays zero either way.
//!
//! Applied only where that is less work: batch 1 (one scale per weight tensor), an ungrouped
//! channels-first convolution with constant weights reading the scaled map alone, and a map
//! at least twice the size of the weights (`2 · O · kh · kw ≤ H · W`: the weights are read
//! cold, scaled and written, where the map would be read and written hot; at 14² the step
//! scaling 672 → 112 weights took 0.050 ms against 0.027 for the map's `Mul`).

use crate::ir::{Graph, ValueId};
use crate::ops::{BinaryKind, FusedConv, Op};

use super::graph_util::{consumers, sole_reader};

/// The rewrite described in the module documentation; one site per call.
pub fn fold_channel_scale(graph: &mut Graph) -> Result<bool, String> {
    let uses = consumers(graph);
    for (m, node) in graph.nodes.iter().enumerate() {
        if !matches!(&node.op, Op::Binary(b) if b.kind == BinaryKind::Mul) {
            continue;
        }
        let (Some(a), Some(b)) = (node.inputs[0], node.inputs[1]) else {
            continue;
        };
        let Some((y, s)) = map_and_scale(graph, a, b).or_else(|| map_and_scale(graph, b, a)) else {
            continue;
        };
        let z = node.outputs[0];
        let Some(c) = sole_reader(graph, &uses, z) else {
            continue;
        };
        // The map must be the convolution's data input and nothing else.
        if uses[&z].iter().any(|&(_, k)| k != 0) {
            continue;
        }
        let conv = &graph.nodes[c];
        let Some(f) = FusedConv::of(&conv.op).filter(|f| !f.input_scale) else {
            continue;
        };
        let Some(Some(w)) = conv.inputs.get(1).copied() else {
            continue;
        };
        let constant = |i: usize| graph.constant_or_absent(conv, i);
        let (ws, ys) = (&graph.values[w].shape, &graph.values[y].shape);
        let fits = f.conv.group == 1 && !f.conv.input_nhwc && ws.len() == 4 && ws[1] == ys[1];
        if !fits || !constant(1) || !constant(2) || 2 * ws[0] * ws[2] * ws[3] > ys[2] * ys[3] {
            continue;
        }
        let mut fused = graph.nodes[c].clone();
        fused.op = Op::FusedConv(FusedConv {
            input_scale: true,
            ..f
        });
        fused.inputs[0] = Some(y);
        fused.inputs.resize(4, None);
        fused.inputs.push(Some(s));
        graph.nodes[c] = fused;
        graph.nodes.remove(m);
        return Ok(true);
    }
    Ok(false)
}

/// `(map, scale)` when `y` is a run-time `[1, C, H, W]` f32 map and `s` a run-time
/// `[1, C, 1, 1]` f32 scale of it (constant scales are the constant-folding passes' business).
fn map_and_scale(graph: &Graph, y: ValueId, s: ValueId) -> Option<(ValueId, ValueId)> {
    let (yv, sv) = (&graph.values[y], &graph.values[s]);
    let f32s = yv.dtype == runtime::DType::F32 && sv.dtype == runtime::DType::F32;
    let shapes = yv.shape.len() == 4
        && yv.shape[0] == 1
        && sv.shape == [1, yv.shape[1], 1, 1]
        && yv.shape[2] * yv.shape[3] > 1;
    let runtime = !graph.consts.contains_key(&y) && !graph.consts.contains_key(&s);
    (f32s && shapes && runtime).then_some((y, s))
}
