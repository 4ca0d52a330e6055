mod cmd_sql;

use clap::Parser;

/// Compile imported ONNX image models and run BigQuery ML's ML.PREDICT locally.
#[derive(Parser)]
#[command(name = "bqmlc", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<cmd_sql::SqlCommand>,
}

fn main() -> std::process::ExitCode {
    cmd_sql::exit_code(match Cli::parse().command {
        Some(cmd) => cmd_sql::run(cmd),
        None => cmd_sql::run_default(),
    })
}
