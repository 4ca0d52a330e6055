//! Inverted residuals (1×1 expansion → depthwise k×k → 1×1 projection) fused into one
//! [`MobileBlock`], so lowering can run them band by band.

use std::collections::HashMap;

use super::graph_util::consumers;
use crate::ir::{Graph, Node, ValueId};
use crate::ops::mobile_block::RESIDUAL_INPUT;
use crate::ops::{FusedConv, MobileBlock, Op};

/// Blocks whose largest intermediate (the expanded map, or the depthwise output a
/// projection reads) is smaller stay unfused: such a tensor stays in L2 between the layers
/// anyway, and the unfused layers split their weights between threads (channel slices),
/// where a block's threads each stream all of them. Measured on MobileNetV3-Large and
/// EfficientNet-Lite0 (kernels/PERF.md): fusing every block was 4% faster at 1 thread but
/// 18% slower at 2.
pub const MIN_INTERMEDIATE_BYTES: usize = 768 * 1024;

/// The node's convolution as a [`FusedConv`] when it is a 2-D, NCHW-input convolution with
/// constant weights and bias (a [`Op::Conv`] counts as one without activation).
fn constant_conv(graph: &Graph, node: &Node) -> Option<FusedConv> {
    // A scaled input is not a block's: the scale needs the whole map first.
    let f = FusedConv::of(&node.op).filter(|f| !f.input_scale)?;
    let x = node.inputs.first().copied().flatten()?;
    let rank4 = graph.values[x].shape.len() == 4;
    let weights = node.inputs.get(1).copied().flatten()?;
    (rank4
        && !f.conv.input_nhwc
        && graph.consts.contains_key(&weights)
        && graph.constant_or_absent(node, 2))
    .then_some(f)
}

/// `(x shape, w shape)` of a conv node.
fn shapes<'g>(graph: &'g Graph, node: &Node) -> Option<(&'g [usize], &'g [usize])> {
    let x = node.inputs.first().copied().flatten()?;
    let w = node.inputs.get(1).copied().flatten()?;
    Some((&graph.values[x].shape, &graph.values[w].shape))
}

/// A 1×1, stride-1, unpadded, ungrouped convolution.
fn is_pointwise(graph: &Graph, node: &Node, f: &FusedConv) -> bool {
    let Some((xs, ws)) = shapes(graph, node) else {
        return false;
    };
    let Ok(win) = f.conv.window_for(ws) else {
        return false;
    };
    let Ok(r) = win.resolve(&xs[2..]) else {
        return false;
    };
    f.conv.group == 1
        && ws[2..] == [1, 1]
        && win.strides == [1, 1]
        && r.pads_begin.iter().chain(&r.pads_end).all(|&p| p == 0)
        && r.out == xs[2..]
}

/// A depthwise convolution: one group per input channel, one output channel per group.
fn is_depthwise(graph: &Graph, node: &Node, f: &FusedConv) -> bool {
    let Some((xs, ws)) = shapes(graph, node) else {
        return false;
    };
    f.conv.group > 1 && f.conv.group == xs[1] && ws[0] == xs[1] && ws[1] == 1
}

/// The node (index) that produces `v` when `v` is read by exactly one node input and is
/// not a graph output.
fn single_use_producer(
    graph: &Graph,
    uses: &HashMap<ValueId, Vec<(usize, usize)>>,
    v: ValueId,
) -> Option<usize> {
    if graph.outputs.contains(&v) || uses.get(&v).map_or(0, Vec::len) != 1 {
        return None;
    }
    graph
        .nodes
        .iter()
        .position(|n| n.outputs.first() == Some(&v))
}

/// Fuses one inverted residual: a depthwise convolution (no residual) together with the
/// pointwise expansion that is its only producer and/or the pointwise projection that is
/// its only consumer — at least one of the two, with an intermediate of at least
/// [`MIN_INTERMEDIATE_BYTES`]. The block takes the position of its last
/// part, so every value it reads is defined before it.
pub fn fuse_mobile_block(graph: &mut Graph) -> Result<bool, String> {
    let uses = consumers(graph);
    for d in 0..graph.nodes.len() {
        let node = &graph.nodes[d];
        let Some(dw) =
            constant_conv(graph, node).filter(|f| !f.has_residual && is_depthwise(graph, node, f))
        else {
            continue;
        };
        let expand = node.inputs[0]
            .and_then(|x| single_use_producer(graph, &uses, x))
            .and_then(|e| {
                let n = &graph.nodes[e];
                constant_conv(graph, n)
                    .filter(|f| !f.has_residual && is_pointwise(graph, n, f))
                    .map(|f| (e, f))
            });
        let dw_out = node.outputs[0];
        let project = uses
            .get(&dw_out)
            .filter(|u| u.len() == 1 && u[0].1 == 0 && !graph.outputs.contains(&dw_out))
            .and_then(|u| {
                let n = &graph.nodes[u[0].0];
                constant_conv(graph, n)
                    .filter(|f| is_pointwise(graph, n, f))
                    .map(|f| (u[0].0, f))
            });
        if expand.is_none() && project.is_none() {
            continue;
        }
        let bytes = |v: ValueId| graph.values[v].shape.iter().product::<usize>() * 4;
        let expanded = node.inputs[0].filter(|_| expand.is_some()).map_or(0, bytes);
        let depthwise_out = if project.is_some() { bytes(dw_out) } else { 0 };
        if expanded.max(depthwise_out) < MIN_INTERMEDIATE_BYTES {
            continue;
        }
        let at = |n: usize, i: usize| graph.nodes[n].inputs.get(i).copied().flatten();
        let mut inputs = vec![None; RESIDUAL_INPUT + 1];
        inputs[3] = at(d, 1);
        inputs[4] = at(d, 2);
        inputs[0] = node.inputs[0];
        if let Some((e, _)) = &expand {
            inputs[0] = at(*e, 0);
            inputs[1] = at(*e, 1);
            inputs[2] = at(*e, 2);
        }
        let mut last = d;
        let mut outputs = node.outputs.clone();
        if let Some((p, f)) = &project {
            inputs[5] = at(*p, 1);
            inputs[6] = at(*p, 2);
            if f.has_residual {
                inputs[RESIDUAL_INPUT] = at(*p, 3);
            }
            last = *p;
            outputs = graph.nodes[*p].outputs.clone();
        }
        let block = Node {
            name: graph.nodes[last].name.clone(),
            op: Op::MobileBlock(MobileBlock {
                expand: expand.as_ref().map(|(_, f)| Box::new(f.clone())),
                depthwise: Box::new(dw),
                project: project.as_ref().map(|(_, f)| Box::new(f.clone())),
            }),
            inputs,
            outputs,
        };
        graph.nodes[last] = block;
        let mut remove: Vec<usize> = [Some(d), expand.map(|(e, _)| e)]
            .into_iter()
            .flatten()
            .filter(|&n| n != last)
            .collect();
        remove.sort_unstable_by(|a, b| b.cmp(a));
        for n in remove {
            graph.nodes.remove(n);
        }
        return Ok(true);
    }
    Ok(false)
}
