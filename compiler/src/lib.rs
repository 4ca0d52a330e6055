//! The bqmlc compiler: ONNX import into a typed IR with shape inference and
//! specialisation, the scalar reference interpreter (the oracle), optimisation passes,
//! lowering to a plan of kernel calls, and Cranelift code generation — sequenced by
//! [`pipeline`].

pub mod aot;
pub mod codegen;
pub mod conformance;
pub mod error;
pub mod import;
pub mod interface;
pub mod ir;
pub mod lower;
pub mod onnx;
pub mod ops;
pub mod passes;
pub mod pipeline;
pub mod plan;
pub mod proto;
pub mod reference;

pub use error::{Error, Result};
pub use import::{load_bytes, load_file, read_model_file, ImportOptions};
pub use ir::Graph;
pub use lower::ConvAlgo;
pub use pipeline::{CompileOptions, Stage, StepInfo};
pub use runtime::limits;

/// Compiles an imported graph with default options into a runnable model.
pub fn compile(graph: Graph) -> Result<runtime::CompiledModel> {
    compile_with(graph, &CompileOptions::default()).map(|(m, _)| m)
}

/// Compiles an imported graph ([`pipeline::run`] to [`Stage::Jit`]); also returns a
/// description of every step. `opts.import` is not used: the graph is already imported.
pub fn compile_with(
    graph: Graph,
    opts: &CompileOptions,
) -> Result<(runtime::CompiledModel, Vec<StepInfo>)> {
    match pipeline::run(pipeline::Source::Graph(graph), opts, Stage::Jit)? {
        pipeline::Output::Jit { model, steps } => Ok((model, steps)),
        _ => unreachable!("run to Stage::Jit returns Output::Jit"),
    }
}
