//! `bqmlc compile`: run the compiler pipeline and print a named stage (`--emit`).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use clap::{Args, ValueEnum};
use compiler::pipeline::{self, Output, Source};
use compiler::{CompileOptions, Stage};

use crate::cmd_model::parse_input_shape;
use crate::compile_flags::CompileFlags;

/// A pipeline stage to stop after and print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    /// The ONNX graph as the file has it (nodes, op types, inputs/outputs).
    Onnx,
    /// The imported, typed and shape-specialised IR.
    Ir,
    /// The IR after the optimisation passes.
    Optimized,
    /// The lowered plan: arena buffers (offsets, sizes, lifetimes) and kernel calls.
    Plan,
    /// The generated Cranelift IR of the model's entry function.
    Clif,
}

impl Emit {
    /// The pipeline stage this prints.
    fn stage(self) -> Stage {
        match self {
            Emit::Onnx => Stage::Onnx,
            Emit::Ir => Stage::Ir,
            Emit::Optimized => Stage::Optimized,
            Emit::Plan => Stage::Plan,
            Emit::Clif => Stage::Clif,
        }
    }
}

#[derive(Args)]
pub struct CompileArgs {
    /// The .onnx file.
    pub model: PathBuf,
    /// Concrete shape for an input: NAME=AxBxC (repeatable).
    #[arg(long = "input-shape", value_name = "NAME=AxBxC")]
    pub input_shapes: Vec<String>,
    /// Stop after this stage and print it.
    #[arg(long, value_enum, required_unless_present = "output")]
    pub emit: Option<Emit>,
    /// Write a shared library (ahead-of-time artifact with a C ABI) to this path.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "libNAME.so",
        conflicts_with = "emit"
    )]
    pub output: Option<PathBuf>,
    /// With -o: also write the C header documenting the library's interface.
    #[arg(long, value_name = "NAME.h", requires = "output")]
    pub header: Option<PathBuf>,
    /// With -o: the CPU the code is compiled for: native, x86-64-v4 (AVX-512), x86-64-v3
    /// (AVX2+FMA) or x86-64.
    #[arg(long = "target-cpu", default_value = "native", requires = "output")]
    pub target_cpu: compiler::aot::TargetCpu,
    #[command(flatten)]
    pub flags: CompileFlags,
}

/// Writes a stage to stdout; a reader that stops early (`| head`) is not an error.
fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn print_onnx(proto: compiler::onnx::ModelProto) -> Result<()> {
    let g = proto
        .graph
        .ok_or_else(|| anyhow!("the model has no graph"))?;
    let mut text = String::new();
    for i in &g.input {
        text.push_str(&format!("input {}\n", i.name()));
    }
    text.push_str(&format!("initializers: {}\n", g.initializer.len()));
    for n in &g.node {
        text.push_str(&format!(
            "{} = {}({})  # {}\n",
            n.output.join(", "),
            n.op_type(),
            n.input.join(", "),
            n.name()
        ));
    }
    for o in &g.output {
        text.push_str(&format!("output {}\n", o.name()));
    }
    emit(&text)
}

/// `compile -o`: the shared library and, optionally, its header.
fn compile_library(args: &CompileArgs, out: &Path, opts: &CompileOptions) -> Result<()> {
    let bytes = compiler::read_model_file(&args.model)?;
    let artifact = compiler::aot::compile_library(&bytes, opts, out)
        .with_context(|| args.model.display().to_string())?;
    if let Some(h) = &args.header {
        let name = out
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        std::fs::write(h, compiler::aot::header(&artifact.meta, &name))
            .with_context(|| format!("cannot write {}", h.display()))?;
    }
    println!(
        "wrote {} ({} bytes, target {}, CPU features {}) in {} ms",
        out.display(),
        artifact.size,
        args.target_cpu,
        runtime::artifact::feature_names(artifact.meta.features),
        artifact.compile_ms
    );
    println!(
        "kernel tier {}; kernels: {}",
        artifact.isa.name(),
        fmt_kernel_counts(&artifact.steps)
    );
    Ok(())
}

/// `bqml_conv2d×3, bqml_winograd×8, inline×2`: how many steps call each kernel.
pub fn fmt_kernel_counts(steps: &[compiler::StepInfo]) -> String {
    compiler::pipeline::kernel_counts(steps)
        .iter()
        .map(|(k, n)| format!("{k}×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn compile(args: &CompileArgs) -> Result<()> {
    let mut opts = args.flags.options()?;
    opts.target = args.target_cpu;
    for s in &args.input_shapes {
        let (n, shape) = parse_input_shape(s)?;
        opts.import.input_shapes.insert(n, shape);
    }
    opts.import.base_dir = args.model.parent().map(Path::to_path_buf);
    let stage = match (&args.output, args.emit) {
        (Some(out), _) => return compile_library(args, out, &opts),
        (None, Some(e)) => e.stage(),
        (None, None) => return Err(anyhow!("give --emit=STAGE or -o libNAME.so")),
    };
    let bytes = compiler::read_model_file(&args.model)?;
    let output = pipeline::run(Source::Bytes(&bytes), &opts, stage)
        .with_context(|| args.model.display().to_string())?;
    match output {
        Output::Onnx(proto) => print_onnx(proto),
        Output::Ir(graph) => emit(&graph.to_string()),
        Output::Optimized { graph, fired } => {
            let fired: Vec<String> = fired.iter().map(|(n, c)| format!("{n}×{c}")).collect();
            emit(&format!("# passes: {}\n{graph}", fired.join(", ")))
        }
        Output::Plan(plan) => emit(&plan.to_string()),
        Output::Clif(clif) => emit(&clif),
        Output::Jit { .. } | Output::Object { .. } => Err(anyhow!("no --emit stage produces code")),
    }
}
