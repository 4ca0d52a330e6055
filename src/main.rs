//! `bqmlc`: compile imported ONNX image models and run BigQuery ML's ML.PREDICT locally.

use clap::{Parser, Subcommand};

mod cmd_bench;
mod cmd_model;

#[derive(Parser)]
#[command(
    name = "bqmlc",
    version,
    about = "Local, compiled BigQuery ML ONNX inference"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show a model's inputs, outputs, opsets, op histogram, parameters, FLOPs and unsupported nodes.
    Inspect(cmd_model::InspectArgs),
    /// Run a model on inputs from .npy or TensorProto .pb files and write every output as .npy.
    Run(cmd_model::RunArgs),
    /// Measure latency, GFLOP/s and memory; --peak, --profile, --compare-ort.
    Bench(cmd_bench::BenchArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(a) => cmd_model::inspect(&a),
        Command::Run(a) => cmd_model::run(&a),
        Command::Bench(a) => cmd_bench::bench(&a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
