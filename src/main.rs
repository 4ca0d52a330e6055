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
    #[command(flatten)]
    global: cmd_sql::GlobalArgs,
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
    // Rust ignores SIGPIPE, so writing to a closed pipe (`bqmlc … | head -1`) is an error
    // that `println!` turns into a panic. Like `cat`, end quietly instead: the default
    // action terminates the process by SIGPIPE on the first such write, on any thread.
    // SAFETY: runs first in `main`, before any other thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE and no Rust code relies on SIGPIPE being ignored.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let g = cli.global;
    cmd_sql::exit_code(match cli.command {
        Some(Command::Inspect(a)) => g.none_for("inspect").and_then(|()| cmd_model::inspect(&a)),
        Some(Command::Run(a)) => g.none_for("run").and_then(|()| cmd_model::run(&a)),
        Some(Command::Compile(a)) => g
            .none_for("compile")
            .and_then(|()| cmd_compile::compile(&a)),
        Some(Command::Bench(a)) => g.none_for("bench").and_then(|()| cmd_bench::bench(&a)),
        Some(Command::Demo(mut a)) => g.for_demo(&mut a).and_then(|()| {
            cmd_sql::engine(a.threads).and_then(|engine| cmd_demo::demo(&a, engine))
        }),
        Some(Command::Sql(cmd)) => cmd_sql::run(cmd, &g),
        None => cmd_sql::run_default(&g),
    })
}
