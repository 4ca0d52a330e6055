//! bqmlc's SQL front-end: BigQuery-dialect tokenizer, parser and AST, binder and row
//! executor, the persisted catalog, model import, result formatting and the REPL.
//!
//! Entry point: [`Session::open`] on a [`SessionConfig`], then [`Session::run_script`].
//! Queries can also run on Apache DataFusion ([`df`], `Session::query_arrow`), which
//! is to replace the row engine (binder, executor, aggregate).
//!
//! SQL: `CREATE/DROP SCHEMA`, `CREATE [OR REPLACE] MODEL … OPTIONS(MODEL_TYPE='ONNX', …)`,
//! `DROP MODEL`, `CREATE [OR REPLACE] EXTERNAL TABLE` (object tables and CSV), `DROP
//! [EXTERNAL] TABLE`, and `SELECT [DISTINCT] … FROM` tables, subqueries, `ML.PREDICT`
//! and `[INNER|LEFT] JOIN … ON`, with `WHERE`, `GROUP BY`, `HAVING`, `ORDER BY`,
//! `LIMIT … OFFSET`, aggregates (`COUNT SUM AVG MIN MAX COUNTIF ANY_VALUE`), `CAST`,
//! `CASE`, `LIKE`, `IN`, `BETWEEN`, `IS NULL`, array subscripts and a few scalar
//! functions. Parsing is separate from execution: every statement prints back to SQL
//! that parses to the same tree.
//!
//! Storage and paths:
//! - The catalog lives in a data directory: `--data-dir`, else `$BQMLC_DATA_DIR`, else
//!   `$XDG_DATA_HOME/bqmlc`, else `~/.local/share/bqmlc` ([`catalog::default_data_dir`]).
//!   Every change is atomic and crash-safe; concurrent processes serialize on a lock file.
//! - `gs://BUCKET/OBJECT` is the offline stand-in for Cloud Storage: it is read from
//!   `GCS_ROOT/BUCKET/OBJECT`, where `GCS_ROOT` is `--gcs-root` or `$BQMLC_GCS_ROOT`.
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
//! - `ML.PREDICT`, object-table reads and the `ML.*` image functions plug in through
//!   [`executor::TableSources`]; [`engine::Engine`] implements them ([`objects`],
//!   [`imagefns`], [`predict`]); without it they report "not supported yet".
//! - Object-table listings are live (no metadata cache); `data` and `md5_hash` are read
//!   only when used. Select lists that call `ML.*` functions and `ML.PREDICT` run their
//!   rows in parallel; output order and the reported error (the first failing row) do not
//!   depend on scheduling. A NULL model input is an error.

#![warn(missing_docs)]

pub mod agg_names;
pub mod aggregate;
pub mod ast;
pub mod binder;
pub mod catalog;
#[cfg(feature = "datafusion")]
pub mod df;
pub mod engine;
pub mod error;
pub mod executor;
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
pub mod tokenizer;
pub mod value;

pub use error::{ErrorKind, Result, Span, SqlError};
pub use parser::{parse_expr, parse_sql, parse_statement};
pub use session::{Session, SessionConfig, StatementOutput};
