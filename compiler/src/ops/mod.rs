//! ONNX operators: one op (or one small family) per file. An op is a small type holding its
//! parsed, validated attributes; it infers output types and shapes from input facts and
//! evaluates itself in plain scalar Rust for the reference interpreter.
//!
//! Import normalises opset differences: operands that older opsets pass as attributes
//! (Clip min/max, Squeeze/Unsqueeze/ReduceMean axes, Pad pads, Split split, Slice
//! starts/ends/axes) are turned into constant inputs by [`ParseCtx::promote`], so each op
//! implements the newest form only.

mod def;
pub mod util;

mod argmax;
pub mod attention;
mod batchnorm;
mod binary;
mod cast;
mod clip;
mod compare;
mod concat;
mod constant;
mod constant_of_shape;
mod conv;
mod conv_transpose;
mod cumsum;
mod einsum;
mod expand;
mod flatten;
mod fused_conv;
mod gather;
mod gemm;
mod identity;
mod layer_norm;
mod linear;
mod logical;
mod loop_op;
mod matmul;
pub mod mobile_block;
mod modulo;
mod pad;
mod pool;
mod prelu;
mod range;
pub mod reduce;
mod reshape;
mod resize;
mod scatter_nd;
mod sdp_attention;
mod shape;
pub mod slice;
mod softmax;
mod split;
mod squeeze;
mod transpose;
mod unary;
mod unsqueeze;
mod variadic;
mod where_op;

pub use argmax::ArgMax;
pub use attention::Attention;
pub use batchnorm::BatchNorm;
pub use binary::{Binary, BinaryKind};
pub use cast::{Cast, CastLike};
pub use clip::Clip;
pub use compare::{Compare, CompareKind};
pub use concat::Concat;
pub use constant::Constant;
pub use constant_of_shape::ConstantOfShape;
pub use conv::{nhwc_to_nchw, Conv};
pub use conv_transpose::ConvTranspose;
pub use cumsum::{axis_of as cumsum_axis, CumSum};
pub use def::{Fact, OpDef, OutFact, ParseCtx};
pub use einsum::Einsum;
pub use expand::Expand;
pub use flatten::Flatten;
pub use fused_conv::{Activation, FusedConv};
pub use gather::Gather;
pub use gemm::Gemm;
pub use identity::Identity;
pub use layer_norm::LayerNorm;
pub use linear::Linear;
pub use logical::{Logical, LogicalKind};
pub use loop_op::Loop;
pub use matmul::MatMul;
pub use mobile_block::MobileBlock;
pub use modulo::Mod;
pub use pad::{Pad, PadMode};
pub use pool::{Pool, PoolKind};
pub use prelu::PRelu;
pub use range::Range;
pub use reduce::{Reduce, ReduceKind};
pub use reshape::Reshape;
pub use resize::{AspectPolicy, CoordMode, NearestMode, Resize, ResizeMode};
pub use scatter_nd::{plan as scatter_plan, ScatterNd, ScatterReduction};
pub use sdp_attention::{sdp_dims, ScaledDotAttention};
pub use shape::{Shape, Size};
pub use slice::Slice;
pub use softmax::Softmax;
pub use split::Split;
pub use squeeze::Squeeze;
pub use transpose::Transpose;
pub use unary::{Unary, UnaryKind};
pub use unsqueeze::Unsqueeze;
pub use variadic::{Variadic, VariadicKind};
pub use where_op::Where;

type ParseFn = fn(&mut ParseCtx) -> Result<Op, String>;

macro_rules! ops {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        /// Every op bqmlc knows, imported or produced by optimisation passes.
        #[derive(Clone, Debug)]
        pub enum Op {
            $($variant($ty),)*
        }

        impl Op {
            /// The op's shared behaviour.
            pub fn def(&self) -> &dyn OpDef {
                match self {
                    $(Op::$variant(o) => o,)*
                }
            }
        }
    };
}

ops! {
    Identity(Identity),
    Binary(Binary),
    Conv(Conv),
    FusedConv(FusedConv),
    MobileBlock(MobileBlock),
    Unary(Unary),
    PRelu(PRelu),
    Clip(Clip),
    Variadic(Variadic),
    Softmax(Softmax),
    ArgMax(ArgMax),
    Reduce(Reduce),
    Cast(Cast),
    Constant(Constant),
    Shape(Shape),
    Size(Size),
    BatchNorm(BatchNorm),
    Gemm(Gemm),
    MatMul(MatMul),
    Reshape(Reshape),
    Flatten(Flatten),
    Transpose(Transpose),
    Squeeze(Squeeze),
    Unsqueeze(Unsqueeze),
    Concat(Concat),
    Split(Split),
    Slice(Slice),
    Gather(Gather),
    Pad(Pad),
    Pool(Pool),
    ConvTranspose(ConvTranspose),
    Resize(Resize),
    Compare(Compare),
    Logical(Logical),
    Where(Where),
    Expand(Expand),
    ConstantOfShape(ConstantOfShape),
    Mod(Mod),
    Range(Range),
    CumSum(CumSum),
    ScatterNd(ScatterNd),
    LayerNorm(LayerNorm),
    Einsum(Einsum),
    CastLike(CastLike),
    Attention(Attention),
    Linear(Linear),
    ScaledDotAttention(ScaledDotAttention),
    Loop(Loop),
}

/// ONNX op type (default domain) → parser. Each op file's parser returns its own type,
/// wrapped into [`Op`] here; ops sharing a type (e.g. `Binary`) parse from `ctx.node.op_type`.
const REGISTRY: &[(&str, ParseFn)] = &[
    ("Identity", |c| identity::parse(c).map(Op::Identity)),
    ("Dropout", |c| identity::parse_dropout(c).map(Op::Identity)),
    ("Add", |c| binary::parse(c).map(Op::Binary)),
    ("Sub", |c| binary::parse(c).map(Op::Binary)),
    ("Mul", |c| binary::parse(c).map(Op::Binary)),
    ("Div", |c| binary::parse(c).map(Op::Binary)),
    ("Pow", |c| binary::parse(c).map(Op::Binary)),
    ("Conv", |c| conv::parse(c).map(Op::Conv)),
    ("Relu", |c| unary::parse(c).map(Op::Unary)),
    ("Sigmoid", |c| unary::parse(c).map(Op::Unary)),
    ("Tanh", |c| unary::parse(c).map(Op::Unary)),
    ("Exp", |c| unary::parse(c).map(Op::Unary)),
    ("Log", |c| unary::parse(c).map(Op::Unary)),
    ("Sqrt", |c| unary::parse(c).map(Op::Unary)),
    ("Erf", |c| unary::parse(c).map(Op::Unary)),
    ("Neg", |c| unary::parse(c).map(Op::Unary)),
    ("Abs", |c| unary::parse(c).map(Op::Unary)),
    ("Reciprocal", |c| unary::parse(c).map(Op::Unary)),
    ("Floor", |c| unary::parse(c).map(Op::Unary)),
    ("Ceil", |c| unary::parse(c).map(Op::Unary)),
    ("LeakyRelu", |c| unary::parse(c).map(Op::Unary)),
    ("HardSigmoid", |c| unary::parse(c).map(Op::Unary)),
    ("HardSwish", |c| unary::parse(c).map(Op::Unary)),
    ("Elu", |c| unary::parse(c).map(Op::Unary)),
    ("Selu", |c| unary::parse(c).map(Op::Unary)),
    ("Softplus", |c| unary::parse(c).map(Op::Unary)),
    ("PRelu", |c| prelu::parse(c).map(Op::PRelu)),
    ("Clip", |c| clip::parse(c).map(Op::Clip)),
    ("Sum", |c| variadic::parse(c).map(Op::Variadic)),
    ("Max", |c| variadic::parse(c).map(Op::Variadic)),
    ("Min", |c| variadic::parse(c).map(Op::Variadic)),
    ("Mean", |c| variadic::parse(c).map(Op::Variadic)),
    ("Softmax", |c| softmax::parse(c).map(Op::Softmax)),
    ("LogSoftmax", |c| softmax::parse(c).map(Op::Softmax)),
    ("ArgMax", |c| argmax::parse(c).map(Op::ArgMax)),
    ("ArgMin", |c| argmax::parse(c).map(Op::ArgMax)),
    ("ReduceMean", |c| reduce::parse(c).map(Op::Reduce)),
    ("ReduceSum", |c| reduce::parse(c).map(Op::Reduce)),
    ("ReduceMax", |c| reduce::parse(c).map(Op::Reduce)),
    ("ReduceMin", |c| reduce::parse(c).map(Op::Reduce)),
    ("ReduceProd", |c| reduce::parse(c).map(Op::Reduce)),
    ("ReduceL2", |c| reduce::parse(c).map(Op::Reduce)),
    ("ReduceSumSquare", |c| reduce::parse(c).map(Op::Reduce)),
    ("Cast", |c| cast::parse(c).map(Op::Cast)),
    ("CastLike", |c| cast::parse_like(c).map(Op::CastLike)),
    ("Constant", |c| constant::parse(c).map(Op::Constant)),
    ("Shape", |c| shape::parse(c).map(Op::Shape)),
    ("Size", |c| shape::parse_size(c).map(Op::Size)),
    ("BatchNormalization", |c| {
        batchnorm::parse(c).map(Op::BatchNorm)
    }),
    ("Gemm", |c| gemm::parse(c).map(Op::Gemm)),
    ("MatMul", |c| matmul::parse(c).map(Op::MatMul)),
    ("Reshape", |c| reshape::parse(c).map(Op::Reshape)),
    ("Flatten", |c| flatten::parse(c).map(Op::Flatten)),
    ("Transpose", |c| transpose::parse(c).map(Op::Transpose)),
    ("Squeeze", |c| squeeze::parse(c).map(Op::Squeeze)),
    ("Unsqueeze", |c| unsqueeze::parse(c).map(Op::Unsqueeze)),
    ("Concat", |c| concat::parse(c).map(Op::Concat)),
    ("Split", |c| split::parse(c).map(Op::Split)),
    ("Slice", |c| slice::parse(c).map(Op::Slice)),
    ("Gather", |c| gather::parse(c).map(Op::Gather)),
    ("Pad", |c| pad::parse(c).map(Op::Pad)),
    ("MaxPool", |c| pool::parse_max(c).map(Op::Pool)),
    ("AveragePool", |c| pool::parse_average(c).map(Op::Pool)),
    ("GlobalMaxPool", |c| pool::parse_global(c).map(Op::Pool)),
    ("GlobalAveragePool", |c| pool::parse_global(c).map(Op::Pool)),
    ("ConvTranspose", |c| {
        conv_transpose::parse(c).map(Op::ConvTranspose)
    }),
    ("Resize", |c| resize::parse(c).map(Op::Resize)),
    ("Upsample", |c| resize::parse_upsample(c).map(Op::Resize)),
    ("Gelu", |c| unary::parse(c).map(Op::Unary)),
    ("Equal", |c| compare::parse(c).map(Op::Compare)),
    ("Less", |c| compare::parse(c).map(Op::Compare)),
    ("LessOrEqual", |c| compare::parse(c).map(Op::Compare)),
    ("Greater", |c| compare::parse(c).map(Op::Compare)),
    ("GreaterOrEqual", |c| compare::parse(c).map(Op::Compare)),
    ("And", |c| logical::parse(c).map(Op::Logical)),
    ("Or", |c| logical::parse(c).map(Op::Logical)),
    ("Xor", |c| logical::parse(c).map(Op::Logical)),
    ("Not", |c| logical::parse(c).map(Op::Logical)),
    ("Where", |c| where_op::parse(c).map(Op::Where)),
    ("Expand", |c| expand::parse(c).map(Op::Expand)),
    ("ConstantOfShape", |c| {
        constant_of_shape::parse(c).map(Op::ConstantOfShape)
    }),
    ("Mod", |c| modulo::parse(c).map(Op::Mod)),
    ("Range", |c| range::parse(c).map(Op::Range)),
    ("CumSum", |c| cumsum::parse(c).map(Op::CumSum)),
    ("ScatterND", |c| scatter_nd::parse(c).map(Op::ScatterNd)),
    ("Einsum", |c| einsum::parse(c).map(Op::Einsum)),
    ("Attention", |c| attention::parse(c).map(Op::Attention)),
    ("Loop", |c| loop_op::parse(c).map(Op::Loop)),
    ("LayerNormalization", |c| {
        layer_norm::parse(c).map(Op::LayerNorm)
    }),
];

/// Parses a default-domain node; `None` when the op type is not supported.
pub fn parse(ctx: &mut ParseCtx) -> Option<Result<Op, String>> {
    let op_type = ctx.node.op_type();
    REGISTRY
        .iter()
        .find(|(name, _)| *name == op_type)
        .map(|(_, f)| f(ctx))
}

/// Op types the importer accepts in the default domain.
pub fn supported_op_types() -> impl Iterator<Item = &'static str> {
    REGISTRY.iter().map(|(n, _)| *n)
}

impl Op {
    pub fn op_type(&self) -> &str {
        self.def().op_type()
    }
}

/// Epsilon of a BatchNormalization node (inference form), `None` for other ops.
pub fn batchnorm_epsilon(op: &Op) -> Option<f32> {
    match op {
        Op::BatchNorm(b) if b.spatial => Some(b.epsilon),
        _ => None,
    }
}

/// The axis of an ArgMax (not ArgMin) node, `None` for other ops.
pub fn argmax_axis(op: &Op) -> Option<i64> {
    match op {
        Op::ArgMax(a) if !a.min => Some(a.axis),
        _ => None,
    }
}

/// The single axis a Softmax (not LogSoftmax) normalises over for an input of `rank`;
/// `None` when the pre-13 form flattens several trailing axes together.
pub fn softmax_axis(op: &Op, rank: usize) -> Option<usize> {
    match op {
        Op::Softmax(s) if !s.log => {
            let axis = util::normalize_axis(s.axis, rank).ok()?;
            (!s.flatten || axis + 1 == rank).then_some(axis)
        }
        _ => None,
    }
}
