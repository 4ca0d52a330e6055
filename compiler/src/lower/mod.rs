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
//! | `check` | which nodes the lowering cannot handle, and why |
//! | `layout` | the lowering state, locations, channel-last/halo assignment, buffers, copies |
//! | `conv_algo` | direct vs Winograd per layer ([`ConvAlgo`]) |
//! | `conv` | Conv / FusedConv: weight packing and kernel calls |
//! | `block` | MobileBlock: expansion, depthwise and projection as one banded call |
//! | `split` | rows or output-channel slices: how a layer's work splits between threads |
//! | `pool` | windowed and global pooling |
//! | `gemm` | Gemm and MatMul |
//! | `elementwise` | binary/unary/Clip/variadic/PRelu/BatchNorm/Cast |
//! | `reduce` | Reduce*, Softmax, ArgMax |
//! | `attention` | Attention (and fused scaled-dot-product attention) |
//! | `norm` | LayerNormalization |
//! | `logic` | comparisons, And/Or/Xor/Not, Where, Mod, CumSum, ScatterND |
//! | `resize` | Resize/Upsample through constant interpolation tables |
//! | `shape` | views and data movement: Transpose, Reshape family, Slice, Concat, Split, Gather, Pad |

use std::collections::{HashMap, HashSet};

use kernels::Isa;

use runtime::IoSpec;

use crate::error::{Error, Result};
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

/// Pushes a call of a kernel that also has an entry point splitting it between threads:
/// `split_call!(plan, node, once_fn, rows_fn, split, params, desc, [(ParamsType, field,
/// Ptr), …])` calls `once_fn` once when `split` is `None`, else `rows_fn` over
/// `Some((axis, extent))` (each thread a range of that axis), and the desc names the axis.
macro_rules! split_call {
    ($plan:expr, $node:expr, $once:path, $rows:path, $split:expr, $params:expr, $desc:expr, [$(($ty:ty, $field:ident, $ptr:expr)),* $(,)?]) => {{
        let params = $params;
        let name = |s: &'static str| s.rsplit("::").next().unwrap_or("");
        let (symbol, addr, kind, desc) = match $split {
            Some((axis, rows)) => (
                name(stringify!($rows)),
                $rows as *const () as usize,
                $crate::plan::CallKind::Rows { rows },
                format!("{} split on axis {axis}", $desc),
            ),
            None => (
                name(stringify!($once)),
                $once as *const () as usize,
                $crate::plan::CallKind::Once,
                $desc,
            ),
        };
        let call = $crate::plan::KernelCall {
            symbol,
            addr,
            kind,
            template: $crate::plan::template_of(&params),
            ptrs: vec![$((::std::mem::offset_of!($ty, $field), $ptr)),*],
            loads: Vec::new(),
            desc,
        };
        $plan.push($node, $crate::plan::StepKind::Call(call), 0);
    }};
}

mod attention;
mod block;
mod check;
mod conv;
mod conv_algo;
mod elementwise;
mod gemm;
mod layout;
mod logic;
mod norm;
mod pool;
mod reduce;
mod resize;
mod shape;
mod split;

pub use check::check;
pub use conv_algo::ConvAlgo;
use layout::{row_major, Base, Loc, Lowerer};

/// Lowers an optimised graph with the default conv algorithm policy ([`ConvAlgo::Auto`]).
pub fn lower(graph: &Graph) -> Result<Plan> {
    lower_with(graph, ConvAlgo::Auto)
}

/// Lowers an optimised graph with an explicit conv algorithm policy, for the best kernel
/// tier of this CPU.
pub fn lower_with(graph: &Graph, conv_algo: ConvAlgo) -> Result<Plan> {
    lower_for(graph, conv_algo, Isa::detect())
}

/// Lowers an optimised graph with an explicit conv algorithm policy; convolution steps pin
/// kernel tier `isa` (the caller checked that the code's CPU has it).
pub fn lower_for(graph: &Graph, conv_algo: ConvAlgo, isa: Isa) -> Result<Plan> {
    check(graph)?;
    let mut l = Lowerer {
        g: graph,
        conv_algo,
        isa,
        plan: Plan::default(),
        locs: HashMap::new(),
        halo_need: HashMap::new(),
        channel_last: HashSet::new(),
        concat_slots: HashMap::new(),
        concat_bufs: HashMap::new(),
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
        let first = l.plan.steps.len();
        l.lower_node(node).map_err(|message| Error::Node {
            node: node.name.clone(),
            op_type: node.op.op_type().to_string(),
            message,
        })?;
        // The node's traffic, shared equally by its steps (one per batch item, usually).
        let steps = &mut l.plan.steps[first..];
        let share = graph.node_bytes(node) / steps.len().max(1) as u64;
        steps.iter_mut().for_each(|s| s.bytes = share);
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
    check_arena(graph, &l.plan)?;
    Ok(l.plan)
}

/// Refuses a plan whose arena exceeds [`MAX_ARENA_BYTES`](runtime::limits::MAX_ARENA_BYTES)
/// before any state is allocated, naming the node that first writes its largest buffer.
fn check_arena(graph: &Graph, plan: &Plan) -> Result<()> {
    let max = runtime::limits::MAX_ARENA_BYTES;
    if plan.arena_size <= max {
        return Ok(());
    }
    let big = plan.buffers.iter().max_by_key(|b| b.bytes);
    let node = big
        .and_then(|b| plan.steps.get(b.first_use))
        .map_or("", |s| s.node.as_str());
    let op_type = graph
        .nodes
        .iter()
        .find(|n| n.name == node)
        .map_or("", |n| n.op.op_type());
    Err(Error::Node {
        node: node.to_string(),
        op_type: op_type.to_string(),
        message: format!(
            "the compiled model needs an arena of {} bytes, more than the limit of {max}; its largest buffer is {} ({} bytes)",
            plan.arena_size,
            big.map_or("", |b| b.label.as_str()),
            big.map_or(0, |b| b.bytes)
        ),
    })
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
            Op::Expand(_) => self.lower_expand(node),
            Op::LayerNorm(ln) => self.lower_layer_norm(node, ln),
            Op::Conv(c) => self.lower_conv(node, c, Activation::None, None, None),
            Op::FusedConv(f) => {
                let input =
                    |i: usize, used: bool| node.inputs.get(i).copied().flatten().filter(|_| used);
                let (residual, scale) = (input(3, f.has_residual), input(4, f.input_scale));
                self.lower_conv(node, &f.conv, f.activation, residual, scale)
            }
            Op::MobileBlock(b) => self.lower_mobile_block(node, b),
            Op::Pool(p) => self.lower_pool(node, p),
            Op::Gemm(gm) => self.lower_gemm(node, gm),
            Op::MatMul(_) => self.lower_matmul(node),
            Op::Linear(l) => self.lower_linear(node, l),
            Op::Compare(c) => self.lower_compare(node, Self::compare_code(c.kind)),
            Op::Logical(l) => self.lower_compare(node, Self::logical_code(l.kind)),
            Op::Where(_) => self.lower_where(node),
            Op::Einsum(e) => self.lower_einsum(node, e),
            Op::Attention(a) => self.lower_attention(node, a),
            Op::ScaledDotAttention(a) => self.lower_sdp_attention(node, a),
            Op::Mod(m) => self.lower_mod(node, m.fmod),
            Op::CumSum(c) => self.lower_cumsum(node, c),
            Op::ScatterNd(sc) => self.lower_scatter_nd(node, sc),
            Op::Binary(b) => self.lower_binary(node, b.kind),
            Op::PRelu(_) => self.lower_prelu(node),
            Op::Unary(u) => self.lower_unary(node, u.kind),
            Op::Clip(_) => self.lower_clip(node),
            Op::Variadic(v) => self.lower_variadic(node, v.kind),
            Op::BatchNorm(b) => self.lower_batchnorm(node, b.epsilon),
            Op::Cast(c) => self.lower_cast(node, c.to),
            Op::CastLike(_) => self.lower_cast(node, self.g.values[node.outputs[0]].dtype),
            Op::Softmax(s) => self.lower_softmax(node, s),
            Op::ArgMax(a) => self.lower_argmax(node, a),
            Op::Reduce(r) => self.lower_reduce(node, r),
            Op::Resize(r) => self.lower_resize(node, r),
            Op::ConvTranspose(_) | Op::ConstantOfShape(_) | Op::Range(_) | Op::Loop(_) => Err(
                format!("op {} is not supported by the compiler", node.op.op_type()),
            ),
        }
    }
}
