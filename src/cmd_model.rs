//! `bqmlc inspect` and `bqmlc run`: the model-level commands.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use compiler::ir::{DeclaredValue, Dim};
use compiler::{Error, Graph, ImportOptions};
use runtime::tensor::fmt_shape;
use runtime::{Tensor, TensorData};

/// Which engine executes the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// The scalar reference interpreter (the oracle; slow).
    Reference,
    /// The Cranelift-compiled model.
    Jit,
}

#[derive(Args)]
pub struct InspectArgs {
    /// The .onnx file.
    pub model: PathBuf,
    /// Concrete shape for an input with symbolic dimensions: NAME=AxBxC (repeatable).
    #[arg(long = "input-shape", value_name = "NAME=AxBxC")]
    pub input_shapes: Vec<String>,
}

#[derive(Args)]
pub struct RunArgs {
    /// The .onnx file, or a shared library from `bqmlc compile -o` (runs its compiled code).
    pub model: PathBuf,
    /// Engine for an .onnx file (default: reference).
    #[arg(long, value_enum)]
    pub backend: Option<Backend>,
    /// An input value: NAME=FILE with FILE a .npy or an ONNX TensorProto .pb (repeatable).
    #[arg(long = "input", value_name = "NAME=FILE")]
    pub inputs: Vec<String>,
    /// Concrete shape for an input: NAME=AxBxC (repeatable). Defaults to the input file's shape.
    #[arg(long = "input-shape", value_name = "NAME=AxBxC")]
    pub input_shapes: Vec<String>,
    /// Directory that receives `<output name>.npy` for every graph output.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    #[command(flatten)]
    pub flags: crate::compile_flags::CompileFlags,
}

/// Parses `NAME=AxBxC` (a scalar is `NAME=`).
pub fn parse_input_shape(s: &str) -> Result<(String, Vec<usize>)> {
    let (name, dims) = s
        .split_once('=')
        .ok_or_else(|| anyhow!("--input-shape '{s}' must look like NAME=1x224x224x3"))?;
    let shape = if dims.is_empty() {
        Vec::new()
    } else {
        dims.split(['x', 'X', ','])
            .map(|d| d.trim().parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| anyhow!("--input-shape '{s}': dimensions must be non-negative integers"))?
    };
    Ok((name.to_string(), shape))
}

fn shapes_from_args(args: &[String]) -> Result<HashMap<String, Vec<usize>>> {
    args.iter().map(|s| parse_input_shape(s)).collect()
}

/// Reads a `.npy` or TensorProto `.pb` file.
pub fn read_tensor_file(path: &Path) -> Result<Tensor, String> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("pb") => compiler::conformance::read_tensor_pb(path).map(|(_, t)| t),
        _ => runtime::npy::read(path),
    }
}

fn fmt_declared(d: &DeclaredValue) -> String {
    let dtype = d.dtype.map_or("?".to_string(), |t| t.to_string());
    let dims = match &d.dims {
        None => "unknown shape".into(),
        Some(dims) => {
            let s: Vec<String> = dims.iter().map(Dim::to_string).collect();
            format!("[{}]", s.join(", "))
        }
    };
    format!("{} {dtype} {dims}", d.name)
}

pub fn inspect(args: &InspectArgs) -> Result<()> {
    let bytes = compiler::read_model_file(&args.model)?;
    let proto =
        compiler::import::decode(&bytes).with_context(|| args.model.display().to_string())?;
    let opts = ImportOptions {
        input_shapes: shapes_from_args(&args.input_shapes)?,
        base_dir: args.model.parent().map(Path::to_path_buf),
        ..Default::default()
    };
    println!("model: {}", args.model.display());
    println!(
        "producer: {} {}  ir_version: {}",
        proto.producer_name(),
        proto.producer_version(),
        proto.ir_version()
    );
    let opsets: Vec<String> = proto
        .opset_import
        .iter()
        .map(|o| {
            format!(
                "{}={}",
                if o.domain().is_empty() {
                    "ai.onnx"
                } else {
                    o.domain()
                },
                o.version()
            )
        })
        .collect();
    println!("opsets: {}", opsets.join(", "));
    match compiler::load_bytes(&bytes, &opts) {
        Ok(g) => print_graph_summary(&g),
        Err(Error::Unsupported(nodes)) => {
            let g = proto.graph.unwrap_or_default();
            let inits: std::collections::HashSet<&str> =
                g.initializer.iter().map(|t| t.name()).collect();
            println!("inputs:");
            for v in g.input.iter().filter(|v| !inits.contains(v.name())) {
                println!("  {}", fmt_declared(&compiler::import::declared(v)));
            }
            println!("outputs:");
            for v in &g.output {
                println!("  {}", fmt_declared(&compiler::import::declared(v)));
            }
            let mut hist: std::collections::BTreeMap<&str, usize> = Default::default();
            for n in &g.node {
                *hist.entry(n.op_type()).or_default() += 1;
            }
            println!("ops ({} nodes):", g.node.len());
            for (op, c) in hist {
                println!("  {op:<24} {c}");
            }
            println!("unsupported nodes ({}):", nodes.len());
            for n in nodes {
                let domain = if n.domain.is_empty() {
                    "ai.onnx"
                } else {
                    &n.domain
                };
                println!(
                    "  {} ({}, domain {domain}, opset {})",
                    n.node, n.op_type, n.opset
                );
            }
        }
        Err(e) => return Err(anyhow!(e).context(args.model.display().to_string())),
    }
    Ok(())
}

fn print_graph_summary(g: &Graph) {
    println!("inputs:");
    for (&id, d) in g.inputs.iter().zip(&g.meta.declared_inputs) {
        let v = &g.values[id];
        println!(
            "  {} {} {}  (declared {})",
            v.name,
            v.dtype,
            fmt_shape(&v.shape),
            fmt_declared(d)
        );
    }
    println!("outputs:");
    for &id in &g.outputs {
        let v = &g.values[id];
        println!("  {} {} {}", v.name, v.dtype, fmt_shape(&v.shape));
    }
    let hist = g.op_histogram();
    println!("ops ({} nodes):", g.nodes.len());
    for (op, c) in hist {
        println!("  {op:<24} {c}");
    }
    println!("parameters: {}", g.parameter_count());
    let flops = g.flops();
    println!(
        "FLOPs: {} ({:.4} GFLOP, 2 x multiply-adds of Conv/Gemm/MatMul)",
        flops,
        flops as f64 / 1e9
    );
    println!("unsupported nodes: none");
    // What the optimised graph has that only the reference interpreter runs.
    let mut optimized = g.clone();
    let lowering =
        compiler::passes::optimize(&mut optimized).and_then(|_| compiler::lower::check(&optimized));
    match lowering {
        Ok(()) => println!("compiled (jit): every node"),
        Err(Error::Unsupported(nodes)) => {
            println!(
                "compiled (jit): no, reference only ({} node(s)):",
                nodes.len()
            );
            for n in nodes {
                println!("  {} ({}): {}", n.node, n.op_type, n.reason);
            }
        }
        Err(e) => println!("compiled (jit): no: {e}"),
    }
}

/// Loads the inputs named on the command line, in any order.
fn load_inputs(args: &[String]) -> Result<Vec<(String, Tensor)>> {
    let mut out = Vec::new();
    for s in args {
        let (name, file) = s
            .split_once('=')
            .ok_or_else(|| anyhow!("--input '{s}' must look like NAME=FILE"))?;
        let t = read_tensor_file(Path::new(file)).map_err(|e| anyhow!("input '{name}': {e}"))?;
        out.push((name.to_string(), t));
    }
    Ok(out)
}

/// `run` on an ahead-of-time library: inputs by name, outputs in the library's order.
fn run_artifact(args: &RunArgs) -> Result<()> {
    if args.backend.is_some() {
        bail!(
            "{}: an ahead-of-time library runs its own compiled code; --backend does not apply",
            args.model.display()
        );
    }
    if !args.input_shapes.is_empty() {
        bail!(
            "{}: an ahead-of-time library has fixed input shapes; --input-shape does not apply",
            args.model.display()
        );
    }
    let (model, _) = runtime::artifact::load(&args.model).map_err(|e| anyhow!(e))?;
    let inputs = load_inputs(&args.inputs)?;
    let named: Vec<(&str, &Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut state = model.new_state(1);
    let outputs = model
        .predict_named(&mut state, &named)
        .map_err(|e| anyhow!("{}: {e}", args.model.display()))?;
    let names: Vec<String> = model.outputs().iter().map(|s| s.name.clone()).collect();
    write_outputs(args, &names, &outputs)
}

fn write_outputs(args: &RunArgs, names: &[String], outputs: &[Tensor]) -> Result<()> {
    if let Some(dir) = &args.output_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    for (name, t) in names.iter().zip(outputs) {
        println!("{}", summarize(name, t));
        if let Some(dir) = &args.output_dir {
            let file = dir.join(format!("{}.npy", sanitize(name)));
            runtime::npy::write(&file, t).map_err(|e| anyhow!(e))?;
        }
    }
    Ok(())
}

pub fn run(args: &RunArgs) -> Result<()> {
    if runtime::artifact::looks_like_artifact(&args.model) {
        return run_artifact(args);
    }
    let (consts, inputs): (Vec<_>, Vec<_>) = load_inputs(&args.inputs)?
        .into_iter()
        .partition(|(_, t)| t.dtype() == runtime::DType::I64);
    let mut shapes = shapes_from_args(&args.input_shapes)?;
    for (name, t) in &inputs {
        shapes
            .entry(name.clone())
            .or_insert_with(|| t.shape().to_vec());
    }
    // int64 inputs are index/shape operands: bind them at compile time so shapes stay static.
    let opts = ImportOptions {
        input_shapes: shapes,
        base_dir: None,
        const_inputs: consts.into_iter().collect(),
    };
    let graph = compiler::load_file(&args.model, &opts)
        .with_context(|| args.model.display().to_string())?;
    let named: Vec<(&str, &Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let outputs = match args.backend.unwrap_or(Backend::Reference) {
        Backend::Reference => compiler::reference::run(&graph, &named)?,
        Backend::Jit => {
            let (model, _) = compiler::compile_with(graph.clone(), &args.flags.options()?)?;
            let mut state = model.new_state(1);
            model
                .predict_named(&mut state, &named)
                .map_err(|e| anyhow!(e))?
        }
    };
    let names: Vec<String> = graph
        .outputs
        .iter()
        .map(|&id| graph.values[id].name.clone())
        .collect();
    write_outputs(args, &names, &outputs)
}

/// Output names may contain path separators; keep them inside the output directory.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == '/' || c == '\\' || c == '\0' {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// `name: float32 [1, 1000] first [..] argmax 1` — one line per output.
pub fn summarize(name: &str, t: &Tensor) -> String {
    let vals = t.to_f64_vec();
    let first: Vec<String> = vals.iter().take(5).map(|v| format!("{v:.6}")).collect();
    let more = if vals.len() > 5 { ", …" } else { "" };
    let mut s = format!(
        "{name}: {} {} first [{}{more}]",
        t.dtype(),
        fmt_shape(t.shape()),
        first.join(", ")
    );
    if let TensorData::F32(v) = t.data() {
        if (1..=2).contains(&t.rank()) && !v.is_empty() {
            let row = *t.shape().last().unwrap_or(&1);
            let arg: Vec<String> = v
                .chunks(row.max(1))
                .map(|r| {
                    let (i, _) = r
                        .iter()
                        .enumerate()
                        .fold(
                            (0, f32::NEG_INFINITY),
                            |b, (i, &x)| if x > b.1 { (i, x) } else { b },
                        );
                    i.to_string()
                })
                .collect();
            s.push_str(&format!(" argmax {}", arg.join(",")));
        }
    }
    s
}
