//! sqlfront's integration tests as one test binary (DataFusion is linked once, not once
//! per file): each file is a module. Run one file's tests with
//! `cargo test --release -p sqlfront --test integration -- session::`.

#[cfg(feature = "datafusion")]
mod bigquery_sql;
mod catalog_crash;
mod fuzz;
mod parser;
mod session;
