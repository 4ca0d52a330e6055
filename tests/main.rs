//! bqmlc's integration tests as one test binary (one link of the workspace instead of
//! one per file): each file of `tests/` is a module; `tests/common` holds their helpers.
//! Run one file's tests with `cargo test --release --test integration -- aot::`.

mod aot;
mod bad_input;
mod cli_run;
mod clif_golden;
mod cnn_zoo;
mod common;
mod conformance;
mod conv_algo;
mod demo;
mod fuzz_regressions;
mod gcs_emulator;
mod hardening_model;
mod hardening_sql;
mod ml_predict;
mod models;
mod mutated_models;
mod passes;
mod pipeline;
mod repl_pty;
mod sql_cli;
mod transformer_zoo;
mod zoo_models;
