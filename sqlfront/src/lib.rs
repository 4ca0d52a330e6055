//! bqmlc's SQL front-end: BigQuery-dialect tokenizer, parser and AST, the persisted
//! catalog, model import, the row executor and result formatting.

pub mod ast;
pub mod error;
pub mod parser;
pub mod tokenizer;

pub use error::{ErrorKind, Result, Span, SqlError};
pub use parser::{parse_expr, parse_sql, parse_statement};
pub mod binder;
pub mod catalog;
pub mod model_import;
pub mod value;
