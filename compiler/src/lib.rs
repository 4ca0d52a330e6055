//! The bqmlc compiler: ONNX import into a typed IR with shape inference and
//! specialisation, the scalar reference interpreter (the oracle), and — as the compiler
//! work lands — optimisation passes, memory planning and Cranelift code generation.

pub mod aot;
pub mod codegen;
pub mod conformance;
pub mod error;
pub mod import;
pub mod ir;
pub mod lower;
pub mod ops;
pub mod passes;
pub mod plan;
pub mod reference;

/// Types generated from the vendored `proto/onnx.proto` (ONNX 1.22) by prost.
#[allow(clippy::all, missing_docs)]
pub mod onnx {
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

pub use error::{Error, Result};
pub use import::{load_bytes, load_file, ImportOptions};
pub use ir::Graph;

/// What a compiled step did, for profiles: node, kernel summary, multiply-adds.
#[derive(Clone, Debug)]
pub struct StepInfo {
    pub node: String,
    pub desc: String,
    pub macs: u64,
}

/// Options for [`compile_with`].
#[derive(Clone, Copy, Debug)]
pub struct CompileOptions {
    /// Emit timestamp calls around every step (see `runtime::profile`).
    pub profile: bool,
    /// Algorithm for 3×3 stride-1 convolutions (default: [`ConvAlgo::from_env`]).
    pub conv_algo: ConvAlgo,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            profile: false,
            conv_algo: ConvAlgo::from_env(),
        }
    }
}

pub use lower::ConvAlgo;

/// Compiles a graph end to end (optimise, lower, generate) into a runnable model.
pub fn compile(graph: Graph) -> Result<runtime::CompiledModel> {
    compile_with(graph, CompileOptions::default()).map(|(m, _)| m)
}

/// [`compile`] with options; also returns a description of every step.
pub fn compile_with(
    mut graph: Graph,
    opts: CompileOptions,
) -> Result<(runtime::CompiledModel, Vec<StepInfo>)> {
    passes::optimize(&mut graph)?;
    let plan = lower::lower_with(&graph, opts.conv_algo)?;
    let generated = codegen::generate(&plan, opts.profile).map_err(|m| {
        Error::Invalid(vec![error::Diagnostic {
            location: "codegen".into(),
            message: m,
        }])
    })?;
    let infos = plan
        .steps
        .iter()
        .map(|s| StepInfo {
            node: s.node.clone(),
            desc: match &s.kind {
                plan::StepKind::Call(c) => format!("{} {}", c.symbol, c.desc),
                plan::StepKind::Inline { op, n, .. } => format!("inline {op:?} n={n}"),
            },
            macs: s.macs,
        })
        .collect();
    let mut keep = plan.keep;
    keep.push(generated.code);
    // Kernel params templates are read by the generated code.
    let templates: Vec<Box<[std::mem::MaybeUninit<u64>]>> = plan
        .steps
        .into_iter()
        .filter_map(|s| match s.kind {
            plan::StepKind::Call(c) => Some(c.template),
            _ => None,
        })
        .collect();
    keep.push(Box::new(templates));
    // SAFETY: the entry was generated from this plan: it touches only the arena of
    // `arena_size` bytes, the spec-sized inputs/outputs and the data kept in `keep`.
    let model = unsafe {
        runtime::CompiledModel::new(
            generated.entry,
            plan.arena_size,
            plan.inputs,
            plan.outputs,
            keep,
            plan.statuses,
        )
    };
    Ok((model, infos))
}
