//! bqmlc's SQL front-end: BigQuery-dialect tokenizer, parser and AST, binder and row
//! executor, the persisted catalog, model import, result formatting and the REPL.

pub mod ast;
pub mod binder;
pub mod catalog;
pub mod error;
pub mod executor;
pub mod format;
pub mod listing;
pub mod model_import;
pub mod parser;
pub mod repl;
pub mod session;
pub mod tokenizer;
pub mod value;

pub use error::{ErrorKind, Result, Span, SqlError};
pub use parser::{parse_expr, parse_sql, parse_statement};
pub use session::{Session, SessionConfig, StatementOutput};
