//! The check before lowering: which nodes the lowering cannot handle, and why.

use kernels::generic as gk;
use runtime::DType;

use super::resize;
use crate::error::{Error, Result, UnsupportedNode};
use crate::ir::{Graph, Node};
use crate::ops::Op;

/// The verify step before lowering: every node the lowering cannot handle, all in one
/// [`Error::Unsupported`] (node, op, domain, opset and why), or `Ok` when there is none.
pub fn check(graph: &Graph) -> Result<()> {
    let opset = graph
        .meta
        .opsets
        .iter()
        .find(|(d, _)| d.is_empty() || d == "ai.onnx")
        .map_or(0, |&(_, v)| v);
    let unsupported: Vec<UnsupportedNode> = graph
        .nodes
        .iter()
        .filter_map(|n| {
            unsupported_reason(graph, n).map(|reason| UnsupportedNode {
                node: n.name.clone(),
                op_type: n.op.op_type().to_string(),
                domain: String::new(),
                opset,
                reason,
            })
        })
        .collect();
    if unsupported.is_empty() {
        Ok(())
    } else {
        Err(Error::Unsupported(unsupported))
    }
}

/// Why the lowering cannot handle `node`, or `None` when it can.
fn unsupported_reason(g: &Graph, node: &Node) -> Option<String> {
    let dtype = |i: usize| {
        node.inputs
            .get(i)
            .copied()
            .flatten()
            .map(|v| g.values[v].dtype)
    };
    let rank = |i: usize| {
        node.inputs
            .get(i)
            .copied()
            .flatten()
            .map_or(0, |v| g.values[v].shape.len())
    };
    let constant = |i: usize| g.constant_or_absent(node, i);
    let float_only = |what: &str| {
        (dtype(0) != Some(DType::F32)).then(|| {
            format!(
                "{what} on {} is not supported by the compiler",
                dtype(0).map_or("?".into(), |d| d.to_string())
            )
        })
    };
    match &node.op {
        Op::ConvTranspose(_) => Some("ConvTranspose is not supported by the compiler".into()),
        Op::Mod(_) if !matches!(dtype(0)?, DType::F32 | DType::I32 | DType::I64) => Some(format!(
            "Mod on {} is not supported by the compiler",
            dtype(0)?
        )),
        Op::CumSum(_) if !constant(1) => {
            Some("CumSum's axis must be a constant for the compiler".into())
        }
        Op::ScatterNd(_) if !constant(1) => {
            Some("ScatterND's indices must be a constant for the compiler".into())
        }
        Op::Where(_) if !matches!(g.values[node.outputs[0]].dtype.size(), 1 | 2 | 4 | 8) => {
            Some("Where on this element type is not supported by the compiler".into())
        }
        Op::Einsum(e)
            if e.inputs.len() > kernels::generic::EINSUM_MAX_INPUTS
                || e.inputs
                    .iter()
                    .flatten()
                    .collect::<std::collections::HashSet<_>>()
                    .len()
                    > kernels::generic::MAX_RANK =>
        {
            Some(
                "Einsum with more than 3 operands or 6 labels is not supported by the compiler"
                    .into(),
            )
        }
        // Folded at compile time when their inputs are constants; no kernels yet otherwise.
        Op::ConstantOfShape(_) | Op::Range(_) | Op::Loop(_) => Some(format!(
            "{} on values computed at run time is not supported by the compiler",
            node.op.op_type()
        )),
        Op::LayerNorm(_) => float_only("LayerNormalization"),
        Op::Resize(r) if dtype(0) != Some(DType::F32) => Some(format!(
            "{} on {} is not supported by the compiler",
            r.source,
            dtype(0).map_or("?".into(), |d| d.to_string())
        )),
        Op::Resize(_) if !(1..=4).all(constant) => {
            Some("Resize roi, scales and sizes must be constants for the compiler".into())
        }
        Op::Resize(r) => resize_reason(g, node, r),
        Op::Conv(_) | Op::FusedConv(_) if !matches!(rank(0), 3 | 4) => Some(format!(
            "{}-D convolution is not supported by the compiler (1-D and 2-D are)",
            rank(0).saturating_sub(2)
        )),
        Op::Pool(p) if p.window.is_some() && !(3..=5).contains(&rank(0)) => Some(format!(
            "{}-D pooling is not supported by the compiler",
            rank(0).saturating_sub(2)
        )),
        Op::Binary(_) if b_is_i64_pow(dtype(0)?, dtype(1)?) => {
            Some("Pow with an int64 exponent is not supported by the compiler".into())
        }
        Op::Binary(b)
            if !(matches!(g.values[node.outputs[0]].dtype, DType::F32 | DType::I64)
                || (g.values[node.outputs[0]].dtype == DType::I32
                    && b.kind != crate::ops::BinaryKind::Pow)) =>
        {
            Some(format!(
                "element-wise {} is not supported by the compiler",
                g.values[node.outputs[0]].dtype
            ))
        }
        Op::Variadic(_) if !matches!(g.values[node.outputs[0]].dtype, DType::F32 | DType::I64) => {
            Some(format!(
                "element-wise {} is not supported by the compiler",
                g.values[node.outputs[0]].dtype
            ))
        }
        Op::Unary(_) => float_only("unary op"),
        Op::Clip(_) => float_only("Clip"),
        Op::Gather(_) if !constant(1) => {
            Some("Gather indices must be constants for the compiler".into())
        }
        Op::Pad(_) if !constant(1) || !constant(3) => {
            Some("Pad pads and axes must be constants for the compiler".into())
        }
        Op::Cast(c) if !cast_supported(dtype(0)?, c.to) => Some(format!(
            "Cast from {} to {} is not supported by the compiler",
            dtype(0)?,
            c.to
        )),
        Op::CastLike(_) if !cast_supported(dtype(0)?, dtype(1)?) => Some(format!(
            "CastLike from {} to {} is not supported by the compiler",
            dtype(0)?,
            dtype(1)?
        )),
        _ => None,
    }
}

/// Why a float Resize with constant operands cannot be lowered (taps the kernel lacks).
fn resize_reason(g: &Graph, node: &Node, r: &crate::ops::Resize) -> Option<String> {
    let xs = &g.values[node.inputs.first().copied().flatten()?].shape;
    let operands: Vec<Option<&runtime::Tensor>> = node
        .inputs
        .iter()
        .map(|i| i.and_then(|v| g.consts.get(&v)).map(|t| t.as_ref()))
        .collect();
    let (_, taps) = r.resolve(xs, &operands).ok()?;
    taps.iter().find_map(|t| resize::axis_table(t).err())
}

/// Whether a binary op reads a float32 base and an int64 exponent (Pow's mixed form,
/// which the compiler does not lower).
pub(super) fn b_is_i64_pow(a: DType, b: DType) -> bool {
    a == DType::F32 && b == DType::I64
}

/// Whether the cast kernel converts `from` → `to` (every dtype the IR has: the kernel's
/// `DT_*` codes are the ONNX codes that `DType` uses).
fn cast_supported(from: DType, to: DType) -> bool {
    gk::dtype_size(from as u32).is_some() && gk::dtype_size(to as u32).is_some()
}
