//! Lowering: the optimised graph → a [`Plan`] of kernel calls over arena buffers.
//!
//! Every value gets a *location*: a base (arena buffer, caller input, constant) plus an
//! element offset and one stride per logical axis. Layout assignment happens here:
//! 4-D (and 3-D) activations that convolutions and pools produce or read are stored
//! channel-last (NHWC) — with a zeroed halo holding the padding of every convolution that
//! reads them — and Transpose, Slice, Reshape-family ops and Identity become views
//! (strides, no data movement) wherever the data allows. A consumer whose kernel needs
//! another layout gets an explicit copy step.
//!
//! [`check`] runs first and lists every node the lowering cannot handle in one error.
//!
//! | module | concern |
//! |---|---|
//! | `layout` | the lowering state, locations, channel-last/halo assignment, buffers, copies |
//! | `conv_algo` | direct vs Winograd per layer ([`ConvAlgo`]) |
//! | `conv` | Conv / FusedConv: weight packing and kernel calls |
//! | `pool` | windowed and global pooling |
//! | `gemm` | Gemm and MatMul |
//! | `elementwise` | binary/unary/Clip/variadic/PRelu/BatchNorm/Cast |
//! | `reduce` | Reduce*, Softmax, ArgMax |
//! | `resize` | Resize/Upsample through constant interpolation tables |
//! | `shape` | views and data movement: Transpose, Reshape family, Slice, Concat, Split, Gather, Pad |

use std::collections::{HashMap, HashSet};

use runtime::{DType, IoSpec};

use crate::error::{Error, Result, UnsupportedNode};
use crate::ir::{Graph, Node};
use crate::ops::{Activation, Op};
use crate::plan::Plan;

/// Pushes one kernel call: `call!(plan, node, kernel_fn, params, kind, macs, desc,
/// [(ParamsType, pointer_field, Ptr), …])`. The params value becomes the step's template;
/// each listed pointer field is patched with its location when the code runs.
macro_rules! call {
    ($plan:expr, $node:expr, $kernel:path, $params:expr, $kind:expr, $macs:expr, $desc:expr, [$(($ty:ty, $field:ident, $ptr:expr)),* $(,)?]) => {{
        let params = $params;
        let call = $crate::plan::KernelCall {
            symbol: stringify!($kernel).rsplit("::").next().unwrap_or(""),
            addr: $kernel as *const () as usize,
            kind: $kind,
            template: $crate::plan::template_of(&params),
            ptrs: vec![$((::std::mem::offset_of!($ty, $field), $ptr)),*],
            loads: Vec::new(),
            desc: $desc,
        };
        $plan.push($node, $crate::plan::StepKind::Call(call), $macs);
    }};
}

mod conv;
mod conv_algo;
mod elementwise;
mod gemm;
mod layout;
mod pool;
mod reduce;
mod resize;
mod shape;

pub use conv_algo::ConvAlgo;
use layout::{row_major, Base, Loc, Lowerer};

/// Lowers an optimised graph with the default conv algorithm policy ([`ConvAlgo::Auto`]).
pub fn lower(graph: &Graph) -> Result<Plan> {
    lower_with(graph, ConvAlgo::Auto)
}

/// Lowers an optimised graph with an explicit conv algorithm policy.
pub fn lower_with(graph: &Graph, conv_algo: ConvAlgo) -> Result<Plan> {
    check(graph)?;
    let mut l = Lowerer {
        g: graph,
        conv_algo,
        plan: Plan::default(),
        locs: HashMap::new(),
        halo_need: HashMap::new(),
        channel_last: HashSet::new(),
    };
    l.analyse();
    for (i, &id) in graph.inputs.iter().enumerate() {
        let v = &graph.values[id];
        l.plan.inputs.push(IoSpec {
            name: v.name.clone(),
            dtype: v.dtype,
            shape: v.shape.clone(),
        });
        l.locs.insert(
            id,
            Loc {
                base: Base::Input(i),
                offset: 0,
                strides: row_major(&v.shape),
                elem: v.dtype.size(),
                halo: [0; 4],
            },
        );
    }
    for node in &graph.nodes {
        l.lower_node(node).map_err(|message| Error::Node {
            node: node.name.clone(),
            op_type: node.op.op_type().to_string(),
            message,
        })?;
    }
    for (i, &id) in graph.outputs.iter().enumerate() {
        let v = &graph.values[id];
        l.plan.outputs.push(IoSpec {
            name: v.name.clone(),
            dtype: v.dtype,
            shape: v.shape.clone(),
        });
        let output_err = |message: String| Error::Node {
            node: v.name.clone(),
            op_type: "output".into(),
            message,
        };
        let src = l.loc(id).map_err(output_err)?;
        let dst = Loc {
            base: Base::Output(i),
            offset: 0,
            strides: row_major(&v.shape),
            elem: v.dtype.size(),
            halo: [0; 4],
        };
        l.copy(&format!("output {}", v.name), &src, &dst, &v.shape)
            .map_err(output_err)?;
    }
    l.plan.assign_offsets();
    Ok(l.plan)
}

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
    let constant = |i: usize| {
        node.inputs
            .get(i)
            .copied()
            .flatten()
            .is_none_or(|v| g.consts.contains_key(&v))
    };
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
        Op::Binary(_) if elementwise::b_is_i64_pow(dtype(0)?, dtype(1)?) => {
            Some("Pow with an int64 exponent is not supported by the compiler".into())
        }
        Op::Binary(_) | Op::Variadic(_)
            if !matches!(g.values[node.outputs[0]].dtype, DType::F32 | DType::I64) =>
        {
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
        Op::Cast(c) if !elementwise::cast_supported(dtype(0)?, c.to) => Some(format!(
            "Cast from {} to {} is not supported by the compiler",
            dtype(0)?,
            c.to
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

impl Lowerer<'_> {
    /// Lowers one node: dispatches to its op family's module.
    fn lower_node(&mut self, node: &Node) -> Result<(), String> {
        match &node.op {
            Op::Identity(_) => self.lower_identity(node),
            Op::Transpose(t) => self.lower_transpose(node, t),
            Op::Reshape(_) | Op::Flatten(_) | Op::Squeeze(_) | Op::Unsqueeze(_) => {
                self.lower_reshape(node)
            }
            Op::Slice(_) => self.lower_slice(node),
            Op::Concat(c) => self.lower_concat(node, c),
            Op::Split(s) => self.lower_split(node, s),
            Op::Gather(ga) => self.lower_gather(node, ga),
            Op::Pad(p) => self.lower_pad(node, p),
            Op::Constant(_) | Op::Shape(_) | Op::Size(_) => self.lower_constant(node),
            Op::Conv(c) => self.lower_conv(node, c, Activation::None, None),
            Op::FusedConv(f) => {
                let residual = if f.has_residual {
                    node.inputs.get(3).copied().flatten()
                } else {
                    None
                };
                self.lower_conv(node, &f.conv, f.activation, residual)
            }
            Op::Pool(p) => self.lower_pool(node, p),
            Op::Gemm(gm) => self.lower_gemm(node, gm),
            Op::MatMul(_) => self.lower_matmul(node),
            Op::Binary(b) => self.lower_binary(node, b.kind),
            Op::PRelu(_) => self.lower_prelu(node),
            Op::Unary(u) => self.lower_unary(node, u.kind),
            Op::Clip(_) => self.lower_clip(node),
            Op::Variadic(v) => self.lower_variadic(node, v.kind),
            Op::BatchNorm(b) => self.lower_batchnorm(node, b.epsilon),
            Op::Cast(c) => self.lower_cast(node, c.to),
            Op::Softmax(s) => self.lower_softmax(node, s),
            Op::ArgMax(a) => self.lower_argmax(node, a),
            Op::Reduce(r) => self.lower_reduce(node, r),
            Op::Resize(r) => self.lower_resize(node, r),
            Op::ConvTranspose(_) => Err(format!(
                "op {} is not supported by the compiler",
                node.op.op_type()
            )),
        }
    }
}
