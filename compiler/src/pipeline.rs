//! The one owner of the compile sequence: import → passes → lowering check → lower (plan)
//! → code (Cranelift JIT or a relocatable object). Every front door (`compile`, `aot`, the
//! CLI's `compile --emit`/`run`/`bench` and CREATE MODEL) runs [`run`] up to the [`Stage`] it
//! needs with a [`CompileOptions`]; nothing in here reads the environment.

use std::collections::BTreeMap;

use runtime::artifact::{ArtifactMeta, FORMAT_VERSION};

use crate::codegen::{GeneratedObject, TargetCpu};
use crate::error::{Diagnostic, Error, Result};
use crate::import::ImportOptions;
use crate::ir::Graph;
use crate::lower::ConvAlgo;
use crate::onnx;
use crate::plan::{Plan, StepKind};
use kernels::Isa;

/// The pipeline's stages, in order. `Jit` and `Object` are the two alternative ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// The decoded ONNX protobuf.
    Onnx,
    /// The imported, typed and shape-specialised IR.
    Ir,
    /// The IR after the optimisation passes.
    Optimized,
    /// The lowered plan: arena buffers and one kernel call (or inline op) per step. Before
    /// lowering, one check lists every node the lowering cannot handle.
    Plan,
    /// The Cranelift IR of the model's entry function.
    Clif,
    /// Runnable code in this process.
    Jit,
    /// A position-independent object file for [`CompileOptions::target`].
    Object,
}

/// Everything that steers compilation. The CLI builds it from flags and the environment.
#[derive(Clone, Debug, Default)]
pub struct CompileOptions {
    /// How to specialise the model while importing it.
    pub import: ImportOptions,
    /// Algorithm for convolutions with a choice (see [`ConvAlgo`]).
    pub conv_algo: ConvAlgo,
    /// Emit timestamp calls around every step (see `runtime::profile`); JIT only.
    pub profile: bool,
    /// The CPU an object file is compiled for (the JIT always targets this machine).
    pub target: TargetCpu,
    /// The kernel tier the code pins; `None` picks the best one the code's CPU has (this
    /// machine for the JIT, [`CompileOptions::target`] for an object).
    pub isa: Option<Isa>,
}

/// The kernel tier code compiled with `opts` for `stage` pins: the requested one, else the
/// best available. The JIT's tier must run on this CPU; an object's must be within its
/// target CPU (x86-64: portable, x86-64-v3: avx2, x86-64-v4: avx512, native: this CPU's).
pub fn kernel_tier(opts: &CompileOptions, stage: Stage) -> Result<Isa> {
    let (best, code_for) = match (stage, opts.target) {
        (Stage::Object, TargetCpu::X86_64) => (Isa::Portable, "target x86-64"),
        (Stage::Object, TargetCpu::X86_64V3) => (Isa::Avx2Fma, "target x86-64-v3"),
        (Stage::Object, TargetCpu::X86_64V4) => (Isa::Avx512, "target x86-64-v4"),
        _ => (Isa::detect(), "this CPU"),
    };
    match opts.isa {
        None => Ok(best),
        Some(isa) if isa.code() <= best.code() => Ok(isa),
        Some(isa) => Err(Error::Options(format!(
            "kernel tier {} needs {}, which {code_for} lacks (it supports up to {})",
            isa.name(),
            tier_requirement(isa),
            best.name()
        ))),
    }
}

/// The CPU features a kernel tier's code uses, in words.
fn tier_requirement(isa: Isa) -> &'static str {
    match isa {
        Isa::Avx512 => "AVX-512 F/BW/DQ/VL",
        Isa::Avx2Fma => "AVX2 and FMA",
        Isa::Portable => "nothing beyond x86-64",
    }
}

/// The `runtime::artifact` feature mask of a kernel tier.
fn tier_features(isa: Isa) -> u64 {
    let names: &[&str] = match isa {
        Isa::Avx512 => &[
            "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl",
        ],
        Isa::Avx2Fma => &["avx", "avx2", "fma"],
        Isa::Portable => &[],
    };
    names
        .iter()
        .filter_map(|n| runtime::artifact::feature_bit(n))
        .fold(0, |a, b| a | b)
}

/// What a compiled step does, for profiles and summaries.
#[derive(Clone, Debug)]
pub struct StepInfo {
    /// The graph node the step comes from.
    pub node: String,
    /// The kernel symbol it calls, or `inline` for code generated in place.
    pub kernel: String,
    /// The kernel and its shape, e.g. `bqml_conv2d conv 3x3 /1 64->64 56x56 g1 Relu`.
    pub desc: String,
    /// Multiply-adds the step performs.
    pub macs: u64,
    /// Bytes its node reads and writes, its share (see [`crate::plan::Step::bytes`]).
    pub bytes: u64,
}

/// Where the pipeline starts: ONNX bytes, or a graph imported earlier (which cannot be run
/// to [`Stage::Onnx`] nor, lacking the bytes' hash, to [`Stage::Object`]).
// Built once per run and moved straight into it: boxing the graph would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Source<'a> {
    Bytes(&'a [u8]),
    Graph(Graph),
}

/// What [`run`] produced at the stage it stopped after.
pub enum Output {
    Onnx(onnx::ModelProto),
    Ir(Graph),
    Optimized {
        graph: Graph,
        /// How often each pass fired, in pipeline order.
        fired: Vec<(&'static str, usize)>,
    },
    Plan(Plan),
    Clif(String),
    Jit {
        model: runtime::CompiledModel,
        steps: Vec<StepInfo>,
    },
    Object {
        object: GeneratedObject,
        /// The metadata the object embeds (CPU features filled in).
        meta: ArtifactMeta,
        /// The kernel tier its convolution steps pin.
        isa: Isa,
        steps: Vec<StepInfo>,
    },
}

/// Runs the pipeline from `source` up to and including `stage`.
pub fn run(source: Source<'_>, opts: &CompileOptions, stage: Stage) -> Result<Output> {
    let (mut graph, bytes) = match source {
        Source::Bytes(b) if stage == Stage::Onnx => {
            return crate::import::decode(b).map(Output::Onnx)
        }
        Source::Bytes(b) => (crate::import::load_bytes(b, &opts.import)?, Some(b)),
        Source::Graph(_) if stage == Stage::Onnx => {
            return Err(stage_error("an imported graph has no ONNX stage"))
        }
        Source::Graph(g) => (g, None),
    };
    if stage == Stage::Ir {
        return Ok(Output::Ir(graph));
    }
    let fired = crate::passes::optimize(&mut graph)?;
    if stage == Stage::Optimized {
        return Ok(Output::Optimized { graph, fired });
    }
    let isa = kernel_tier(opts, stage)?;
    // Lowering starts with `lower::check`, which lists every node it cannot handle.
    let plan = crate::lower::lower_for(&graph, opts.conv_algo, isa)?;
    match stage {
        Stage::Plan => Ok(Output::Plan(plan)),
        Stage::Clif => {
            let generated = crate::codegen::generate(&plan, opts.profile).map_err(codegen_error)?;
            Ok(Output::Clif(generated.clif))
        }
        Stage::Jit => {
            let steps = step_infos(&plan);
            let model = jit(plan, opts.profile)?;
            Ok(Output::Jit { model, steps })
        }
        Stage::Object => {
            let bytes = bytes.ok_or_else(|| stage_error("an object needs the model's bytes"))?;
            let steps = step_infos(&plan);
            let meta = ArtifactMeta {
                version: FORMAT_VERSION,
                features: tier_features(isa),
                sha256: sha256(bytes),
                arena_size: plan.arena_size,
                flops: graph.flops(),
                inputs: plan.inputs.clone(),
                outputs: plan.outputs.clone(),
                statuses: plan.statuses.clone(),
            };
            let object = crate::codegen::generate_object(&plan, opts.target, meta.to_bytes())
                .map_err(codegen_error)?;
            let meta = ArtifactMeta {
                features: object.features,
                ..meta
            };
            Ok(Output::Object {
                object,
                meta,
                isa,
                steps,
            })
        }
        Stage::Onnx | Stage::Ir | Stage::Optimized => unreachable!("returned above"),
    }
}

/// sha256 of `bytes` (the model's identity in artifacts and the catalog).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// How many steps call each kernel (`inline` for code generated in place), by name.
pub fn kernel_counts(steps: &[StepInfo]) -> BTreeMap<String, usize> {
    let mut h = BTreeMap::new();
    for s in steps {
        *h.entry(s.kernel.clone()).or_default() += 1;
    }
    h
}

fn stage_error(message: &str) -> Error {
    Error::Invalid(vec![Diagnostic {
        location: "pipeline".into(),
        message: message.into(),
    }])
}

fn codegen_error(message: String) -> Error {
    Error::Invalid(vec![Diagnostic {
        location: "codegen".into(),
        message,
    }])
}

fn step_infos(plan: &Plan) -> Vec<StepInfo> {
    plan.steps
        .iter()
        .map(|s| {
            let (kernel, desc) = match &s.kind {
                StepKind::Call(c) => (c.symbol.to_string(), format!("{} {}", c.symbol, c.desc)),
                StepKind::Inline { op, n, .. } => ("inline".into(), format!("inline {op:?} n={n}")),
            };
            StepInfo {
                node: s.node.clone(),
                kernel,
                desc,
                macs: s.macs,
                bytes: s.bytes,
            }
        })
        .collect()
}

/// Generates code for `plan` in this process and wraps it as a runnable model.
fn jit(plan: Plan, profile: bool) -> Result<runtime::CompiledModel> {
    let generated = crate::codegen::generate(&plan, profile).map_err(codegen_error)?;
    let mut keep = plan.keep;
    keep.push(generated.code);
    // Kernel params templates are read by the generated code.
    let templates: Vec<Box<[u64]>> = plan
        .steps
        .into_iter()
        .filter_map(|s| match s.kind {
            StepKind::Call(c) => Some(c.template),
            _ => None,
        })
        .collect();
    keep.push(Box::new(templates));
    // SAFETY: the entry was generated from this plan: it touches only the arena of
    // `arena_size` bytes, the spec-sized inputs/outputs and the data kept in `keep`.
    Ok(unsafe {
        runtime::CompiledModel::new(
            generated.entry,
            plan.arena_size,
            plan.inputs,
            plan.outputs,
            keep,
            plan.statuses,
        )
    })
}
