//! bqmlc's SQL front-end: BigQuery-dialect tokenizer, the grammar of bqmlc's own
//! statements, the persisted catalog, model import, result formatting and the REPL;
//! queries run on Apache DataFusion ([`df`]).
//!
//! Entry point: [`Session::open`] on a [`SessionConfig`], then [`Session::run_script`]
//! (or [`Session::run_script_streaming`], which hands rows over as they are computed).
//!
//! SQL: `CREATE/DROP SCHEMA`, `CREATE [OR REPLACE] MODEL … OPTIONS(MODEL_TYPE='ONNX', …)`,
//! `DROP MODEL`, `CREATE [OR REPLACE] EXTERNAL TABLE` (object tables and CSV), `DROP
//! [EXTERNAL] TABLE` are parsed here ([`parser`]; option values are constants). A query
//! (`SELECT …`, `WITH …`, `EXPLAIN …`, `(…)`) is kept as its text up to the `;` that ends
//! it: its `ML.PREDICT` calls are found ([`df::rewrite`]), the rest is parsed and planned by
//! DataFusion (BigQuery dialect) after BigQuery's forms are rewritten ([`df::bigquery`]).
//! A script is checked whole before anything runs: a syntax error anywhere runs nothing.
//!
//! Storage and paths:
//! - The catalog lives in a data directory: `--data-dir`, else `$BQMLC_DATA_DIR`, else
//!   `$XDG_DATA_HOME/bqmlc`, else `~/.local/share/bqmlc` ([`catalog::default_data_dir`]).
//!   Every change is atomic and crash-safe; concurrent processes serialize on a lock file.
//! - `gs://BUCKET/OBJECT` is read from `GCS_ROOT/BUCKET/OBJECT` when a local stand-in
//!   for Cloud Storage is configured (`--gcs-root` or `$BQMLC_GCS_ROOT`), else from a
//!   [`storage::RemoteStorage`]: an emulator (`--gcs-endpoint`, `$STORAGE_EMULATOR_HOST`)
//!   or Google Cloud Storage with credentials from the environment (`df::gcs`).
//!   `file://PATH` and plain paths are read directly. One `*` per URI matches any
//!   characters, `/` included.
//!
//! Decisions where BigQuery is silent or does not apply offline:
//! - Names may carry a project (`project.ds.name`, `project:ds` on the command line); it
//!   is accepted and ignored, and messages name objects as `ds.name`.
//! - Dataset, table and model names are case-sensitive; column names and keywords are not.
//! - `CREATE MODEL` copies the ONNX file into the data directory (the model is frozen at
//!   creation) and refuses files over 450 MB (450 × 10^6 bytes) from their size alone.
//! - CSV external tables without a column list get their schema detected once, at
//!   creation (header names when `skip_leading_rows` ≥ 1, else `string_field_N`).
//! - Times in listings are UTC.
//! - `ML.PREDICT` opens its compiled model through [`sources::TableSources`];
//!   [`engine::Engine`] implements it; without it `ML.PREDICT` reports "not supported yet".
//! - Object-table listings are live (no metadata cache); `data` and `md5_hash` are read
//!   only when used, and `data` is not part of `*`. The `ML.*` functions and
//!   `ML.PREDICT` run a batch's rows in parallel; rows keep their source order unless the
//!   query sorts them, and the reported error is the first failing row's. A NULL model
//!   input is an error.

#![warn(missing_docs)]

pub mod ast;
pub mod catalog;
#[cfg(feature = "datafusion")]
pub mod df;
pub mod engine;
pub mod error;
pub mod format;
pub mod imagefns;
pub mod listing;
pub mod model_import;
pub mod objects;
pub mod parser;
pub mod predict;
pub mod progress;
pub mod repl;
pub mod session;
pub mod sources;
pub mod storage;
pub mod tokenizer;
pub mod value;
#[cfg(feature = "datafusion")]
mod writes;

pub use error::{ErrorKind, Result, Span, SqlError};
pub use parser::{parse_option_value, parse_sql, parse_statement};
pub use session::{Session, SessionConfig, StatementOutput};
