//! The compile options every command that compiles a model shares (`run`, `bench`,
//! `compile`, and the SQL commands for CREATE MODEL). The CLI is the only place that reads
//! the environment for them.

use anyhow::{anyhow, Result};
use clap::Args;
use compiler::{CompileOptions, ConvAlgo};
use kernels::Isa;

/// The environment variable that sets `--conv-algo`'s default.
pub const CONV_ALGO_ENV: &str = "BQMLC_CONV_ALGO";

#[derive(Args, Clone, Debug, Default)]
pub struct CompileFlags {
    /// Algorithm for 3×3 stride-1 convolutions: auto, direct, winograd (F(4×4)) or
    /// winograd-f2 [default: $BQMLC_CONV_ALGO, else auto].
    #[arg(long = "conv-algo", value_name = "ALGO", value_parser = parse_conv_algo)]
    pub conv_algo: Option<ConvAlgo>,
    /// Kernel tier: auto (the best this CPU has, or for `compile -o` its --target-cpu
    /// allows), avx512, avx2 or portable. A tier the CPU lacks is an error.
    #[arg(long = "isa", value_name = "TIER", value_parser = parse_isa)]
    pub isa: Option<IsaFlag>,
}

/// `--isa`: `auto` or a kernel tier.
#[derive(Clone, Copy, Debug)]
pub struct IsaFlag(Option<Isa>);

fn parse_isa(s: &str) -> Result<IsaFlag, String> {
    match s {
        "auto" => Ok(IsaFlag(None)),
        _ => s
            .parse::<Isa>()
            .map(|i| IsaFlag(Some(i)))
            .map_err(|_| format!("unknown kernel tier '{s}' (auto|avx512|avx2|portable)")),
    }
}

fn parse_conv_algo(s: &str) -> Result<ConvAlgo, String> {
    ConvAlgo::parse(s).ok_or_else(|| {
        format!("unknown convolution algorithm '{s}' (auto|direct|winograd|winograd-f2)")
    })
}

impl CompileFlags {
    /// The options these flags and the environment ask for (import options left default).
    pub fn options(&self) -> Result<CompileOptions> {
        let conv_algo = match self.conv_algo {
            Some(a) => a,
            None => match std::env::var(CONV_ALGO_ENV) {
                Ok(v) => parse_conv_algo(&v).map_err(|e| anyhow!("{CONV_ALGO_ENV}: {e}"))?,
                Err(_) => ConvAlgo::Auto,
            },
        };
        Ok(CompileOptions {
            conv_algo,
            isa: self.isa.and_then(|f| f.0),
            ..Default::default()
        })
    }
}
