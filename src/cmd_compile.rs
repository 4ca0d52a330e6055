//! `bqmlc compile`: run the compiler pipeline and print a named stage (`--emit`).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use clap::{Args, ValueEnum};
use compiler::ImportOptions;

use crate::cmd_model::parse_input_shape;

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

#[derive(Args)]
pub struct CompileArgs {
    /// The .onnx file.
    pub model: PathBuf,
    /// Concrete shape for an input: NAME=AxBxC (repeatable).
    #[arg(long = "input-shape", value_name = "NAME=AxBxC")]
    pub input_shapes: Vec<String>,
    /// Stop after this stage and print it.
    #[arg(long, value_enum)]
    pub emit: Emit,
}

/// Writes a stage to stdout; a reader that stops early (`| head`) is not an error.
fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn print_onnx(path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let proto = compiler::import::decode(&bytes)?;
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

pub fn compile(args: &CompileArgs) -> Result<()> {
    if args.emit == Emit::Onnx {
        return print_onnx(&args.model);
    }
    let mut opts = ImportOptions::default();
    for s in &args.input_shapes {
        let (n, shape) = parse_input_shape(s)?;
        opts.input_shapes.insert(n, shape);
    }
    let mut graph = compiler::load_file(&args.model, &opts)
        .with_context(|| args.model.display().to_string())?;
    if args.emit == Emit::Ir {
        return emit(&graph.to_string());
    }
    let fired = compiler::passes::optimize(&mut graph)?;
    if args.emit == Emit::Optimized {
        let fired: Vec<String> = fired.iter().map(|(n, c)| format!("{n}×{c}")).collect();
        println!("# passes: {}", fired.join(", "));
        return emit(&graph.to_string());
    }
    let plan = compiler::lower::lower(&graph)?;
    if args.emit == Emit::Plan {
        return emit(&plan.to_string());
    }
    let generated = compiler::codegen::generate(&plan, false).map_err(|e| anyhow!(e))?;
    emit(&generated.clif)
}
