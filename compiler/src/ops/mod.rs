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
mod batchnorm;
mod binary;
mod cast;
mod clip;
mod concat;
mod constant;
mod conv;
mod conv_transpose;
mod flatten;
mod fused_conv;
mod gather;
mod gemm;
mod identity;
mod matmul;
mod pad;
mod pool;
mod prelu;
pub mod reduce;
mod reshape;
mod resize;
mod shape;
pub mod slice;
mod softmax;
mod split;
mod squeeze;
mod transpose;
mod unary;
mod unsqueeze;
mod variadic;

pub use argmax::ArgMax;
pub use batchnorm::BatchNorm;
pub use binary::{Binary, BinaryKind};
pub use cast::Cast;
pub use clip::Clip;
pub use concat::Concat;
pub use constant::Constant;
pub use conv::{nhwc_to_nchw, Conv};
pub use conv_transpose::ConvTranspose;
pub use def::{Fact, OpDef, OutFact, ParseCtx};
pub use flatten::Flatten;
pub use fused_conv::{Activation, FusedConv};
pub use gather::Gather;
pub use gemm::Gemm;
pub use identity::Identity;
pub use matmul::MatMul;
pub use pad::{Pad, PadMode};
pub use pool::{Pool, PoolKind};
pub use prelu::PRelu;
pub use reduce::{Reduce, ReduceKind};
pub use reshape::Reshape;
pub use resize::{AspectPolicy, CoordMode, NearestMode, Resize, ResizeMode};
pub use shape::{Shape, Size};
pub use slice::Slice;
pub use softmax::Softmax;
pub use split::Split;
pub use squeeze::Squeeze;
pub use transpose::Transpose;
pub use unary::{Unary, UnaryKind};
pub use unsqueeze::Unsqueeze;
pub use variadic::{Variadic, VariadicKind};

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
}

/// ONNX op type (default domain) → parser. Ops sharing a type (e.g. `Binary`) parse from
/// `ctx.node.op_type`.
const REGISTRY: &[(&str, ParseFn)] = &[
    ("Identity", identity::parse),
    ("Dropout", identity::parse_dropout),
    ("Add", binary::parse),
    ("Sub", binary::parse),
    ("Mul", binary::parse),
    ("Div", binary::parse),
    ("Pow", binary::parse),
    ("Conv", conv::parse),
    ("Relu", unary::parse),
    ("Sigmoid", unary::parse),
    ("Tanh", unary::parse),
    ("Exp", unary::parse),
    ("Log", unary::parse),
    ("Sqrt", unary::parse),
    ("Erf", unary::parse),
    ("Neg", unary::parse),
    ("Abs", unary::parse),
    ("Reciprocal", unary::parse),
    ("Floor", unary::parse),
    ("Ceil", unary::parse),
    ("LeakyRelu", unary::parse),
    ("HardSigmoid", unary::parse),
    ("HardSwish", unary::parse),
    ("Elu", unary::parse),
    ("Selu", unary::parse),
    ("Softplus", unary::parse),
    ("PRelu", prelu::parse),
    ("Clip", clip::parse),
    ("Sum", variadic::parse),
    ("Max", variadic::parse),
    ("Min", variadic::parse),
    ("Mean", variadic::parse),
    ("Softmax", softmax::parse),
    ("LogSoftmax", softmax::parse),
    ("ArgMax", argmax::parse),
    ("ArgMin", argmax::parse),
    ("ReduceMean", reduce::parse),
    ("ReduceSum", reduce::parse),
    ("ReduceMax", reduce::parse),
    ("ReduceMin", reduce::parse),
    ("ReduceProd", reduce::parse),
    ("ReduceL2", reduce::parse),
    ("ReduceSumSquare", reduce::parse),
    ("Cast", cast::parse),
    ("Constant", constant::parse),
    ("Shape", shape::parse),
    ("Size", shape::parse_size),
    ("BatchNormalization", batchnorm::parse),
    ("Gemm", gemm::parse),
    ("MatMul", matmul::parse),
    ("Reshape", reshape::parse),
    ("Flatten", flatten::parse),
    ("Transpose", transpose::parse),
    ("Squeeze", squeeze::parse),
    ("Unsqueeze", unsqueeze::parse),
    ("Concat", concat::parse),
    ("Split", split::parse),
    ("Slice", slice::parse),
    ("Gather", gather::parse),
    ("Pad", pad::parse),
    ("MaxPool", pool::parse_max),
    ("AveragePool", pool::parse_average),
    ("GlobalMaxPool", pool::parse_global),
    ("GlobalAveragePool", pool::parse_global),
    ("ConvTranspose", conv_transpose::parse),
    ("Resize", resize::parse),
    ("Upsample", resize::parse_upsample),
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
