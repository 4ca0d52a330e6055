//! `bqmlc`: compile imported ONNX image models and run BigQuery ML's ML.PREDICT locally.

use clap::{Parser, Subcommand};

/// mimalloc keeps freed memory for reuse instead of returning it to the OS, so compiling a
/// model (file buffer, decoded tensors, packed weights: ~200 MB for ResNet-18) faults far
/// fewer fresh pages.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cmd_bench;
mod cmd_compile;
mod cmd_demo;
mod cmd_model;
mod cmd_sql;
mod compile_flags;

/// Compile imported ONNX image models and run BigQuery ML's ML.PREDICT locally.
#[derive(Parser)]
#[command(name = "bqmlc", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Show a model's inputs, outputs, opsets, op histogram, parameters, FLOPs and unsupported nodes.
    Inspect(cmd_model::InspectArgs),
    /// Run a model on inputs from .npy or TensorProto .pb files and write every output as .npy.
    Run(cmd_model::RunArgs),
    /// Compile a model; --emit=STAGE prints a pipeline stage and stops.
    Compile(cmd_compile::CompileArgs),
    /// Measure latency, GFLOP/s and memory; --peak, --profile, --compare-ort.
    Bench(cmd_bench::BenchArgs),
    /// Run the BigQuery ML ONNX tutorial on the bundled EfficientNet-Lite0 and photos.
    Demo(cmd_demo::DemoArgs),
    #[command(flatten)]
    Sql(cmd_sql::SqlCommand),
}

fn main() -> std::process::ExitCode {
    cmd_sql::exit_code(match Cli::parse().command {
        Some(Command::Inspect(a)) => cmd_model::inspect(&a),
        Some(Command::Run(a)) => cmd_model::run(&a),
        Some(Command::Compile(a)) => cmd_compile::compile(&a),
        Some(Command::Bench(a)) => cmd_bench::bench(&a),
        Some(Command::Demo(a)) => {
            cmd_sql::engine(a.threads).and_then(|engine| cmd_demo::demo(&a, engine))
        }
        Some(Command::Sql(cmd)) => cmd_sql::run(cmd),
        None => cmd_sql::run_default(),
    })
}
