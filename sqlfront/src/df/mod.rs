//! Query execution on Apache DataFusion.
//!
//! [`QueryEngine::query`] runs one query text: the BigQuery-ML forms are found first
//! ([`rewrite`]: `ML.PREDICT` calls become placeholder tables, `ML.*` function names get
//! their registered spelling), each `ML.PREDICT` input is planned by DataFusion and bound
//! to a [`predict::PredictTable`], and the rest is DataFusion's SQL (BigQuery dialect)
//! over the catalog: every dataset is a DataFusion schema
//! ([`dataset_schema::DatasetSchema`]) whose tables are built when named: object tables
//! are [`object_table::ObjectTable`]s, CSV external tables are read once per query, and the
//! image functions are UDFs ([`image_fns`]). BigQuery's own spellings and semantics are
//! rewritten on the parsed statement ([`bigquery`]) or are UDFs ([`bigquery_fns`]).
//!
//! Names: DataFusion folds unquoted identifiers to lower case, so datasets are registered
//! under their own name and, when it differs, their lower-case name, and a dataset's
//! tables are found ignoring case when the name is unambiguous.

pub mod bigquery;
pub mod bigquery_fns;
pub mod dataset_schema;
pub mod image_fns;
pub mod object_table;
pub mod predict;
pub mod rewrite;
pub mod values;

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::SchemaProvider;
use datafusion::common::DataFusionError;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParserBuilder, Statement as DFStatement};
use datafusion::sql::sqlparser::dialect::BigQueryDialect;

use crate::error::{ErrorKind, Result, Span, SqlError};
use crate::executor::ExecContext;

use self::rewrite::{PredictCall, PredictInput, Rewritten};

/// Runs queries on DataFusion with a fixed number of threads.
pub struct QueryEngine {
    runtime: tokio::runtime::Runtime,
    threads: usize,
}

/// A query's result: its schema and batches.
pub struct QueryResult {
    /// The result's columns.
    pub schema: SchemaRef,
    /// The rows, in order.
    pub batches: Vec<RecordBatch>,
}

impl QueryEngine {
    /// An engine whose plans run `threads` partitions (and model states) at once.
    pub fn new(threads: usize) -> Result<QueryEngine> {
        let threads = threads.max(1);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("bqmlc-query")
            .build()
            .map_err(|e| SqlError::io("starting the query runtime", e))?;
        Ok(QueryEngine { runtime, threads })
    }

    /// Runs the query `sql` over the catalog snapshot of `ctx`.
    pub fn query(&self, sql: &str, ctx: &ExecContext<'_>) -> Result<QueryResult> {
        let rewritten = rewrite::rewrite(sql, &mut 0)?;
        self.runtime.block_on(async {
            let session = self.session(ctx)?;
            let plan = self
                .plan(&session, &rewritten, ctx, sql)
                .await
                .map_err(|e| missing_dataset(e, ctx))?;
            let schema = Arc::new(plan.schema().as_arrow().clone());
            let df = session
                .execute_logical_plan(plan)
                .await
                .map_err(|e| sql_error(e, sql))?;
            let batches = df.collect().await.map_err(|e| sql_error(e, sql))?;
            Ok(QueryResult { schema, batches })
        })
    }

    /// A DataFusion session over the catalog snapshot, with the image functions.
    fn session(&self, ctx: &ExecContext<'_>) -> Result<SessionContext> {
        let config = SessionConfig::new()
            .with_target_partitions(self.threads)
            .with_information_schema(false)
            .set_str("datafusion.sql_parser.dialect", "BigQuery")
            // BigQuery orders NULL before every value: first ascending, last descending.
            .set_str("datafusion.sql_parser.default_null_ordering", "nulls_min")
            // Planner errors (unknown names, ...) carry their position.
            .set_bool("datafusion.sql_parser.collect_spans", true);
        let session = SessionContext::new_with_config(config);
        image_fns::register(&session);
        for f in bigquery_fns::functions() {
            session.register_udf(f);
        }
        for f in bigquery_fns::aggregates() {
            session.register_udaf(f);
        }
        let catalog = session
            .catalog("datafusion")
            .ok_or_else(|| SqlError::new(ErrorKind::Io, "DataFusion has no default catalog"))?;
        for (ds_name, ds) in &ctx.state.datasets {
            let schema: Arc<dyn SchemaProvider> = Arc::new(dataset_schema::DatasetSchema::new(
                ds_name,
                ds,
                ctx.gcs_root.map(std::path::Path::to_path_buf),
            ));
            for ds_alias in names(ds_name) {
                catalog
                    .register_schema(&ds_alias, Arc::clone(&schema))
                    .map_err(|e| sql_error(e, ""))?;
            }
        }
        Ok(session)
    }

    /// Binds the `ML.PREDICT` calls of `q` (inputs first) and plans its text.
    fn plan<'a>(
        &'a self,
        session: &'a SessionContext,
        q: &'a Rewritten,
        ctx: &'a ExecContext<'a>,
        sql: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<LogicalPlan>> + 'a>> {
        Box::pin(async move {
            for call in &q.predicts {
                let input = match &call.input {
                    PredictInput::Query(inner) => self.plan(session, inner, ctx, sql).await?,
                    PredictInput::Table(name) => {
                        let text = format!("SELECT * FROM {}", quoted(name));
                        plan_sql(session, &text, &text)
                            .await
                            .map_err(|e| e.with_span(call.span))?
                    }
                };
                let table = self.predict_table(call, input, ctx)?;
                session
                    .register_table(&call.placeholder, Arc::new(table))
                    .map_err(|e| sql_error(e, sql))?;
            }
            plan_sql(session, &q.sql, sql).await
        })
    }

    fn predict_table(
        &self,
        call: &PredictCall,
        input: LogicalPlan,
        ctx: &ExecContext<'_>,
    ) -> Result<predict::PredictTable> {
        let (ds, m) = match &call.model[..] {
            [ds, m] | [_, ds, m] => (ds, m),
            _ => {
                return Err(SqlError::invalid(
                    format!(
                        "Model name \"{}\" missing dataset while no default dataset is set in the request",
                        call.model.join(".")
                    ),
                    call.model_span,
                ))
            }
        };
        let entry = ctx
            .state
            .model(ds, m)
            .map_err(|e| e.with_span(call.model_span))?;
        if call.settings.is_some() {
            return Err(SqlError::invalid(
                "ML.PREDICT options are not supported for ONNX models",
                call.span,
            ));
        }
        let model = ctx
            .sources
            .open_model(&format!("{ds}.{m}"), entry, None, ctx)
            .map_err(|e| e.with_span(call.span))?;
        predict::PredictTable::new(&model, input, self.threads).map_err(|e| e.with_span(call.span))
    }
}

/// Parses `text` (BigQuery dialect), rewrites BigQuery's forms ([`bigquery`]) and plans
/// it; errors point into `sql`, the user's text (`text` keeps its offsets).
async fn plan_sql(session: &SessionContext, text: &str, sql: &str) -> Result<LogicalPlan> {
    let state = session.state();
    let mut statements = DFParserBuilder::new(text)
        .with_dialect(&BigQueryDialect {})
        .build()
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| sql_error(e, sql))?;
    let mut statement = match (statements.pop_front(), statements.is_empty()) {
        (Some(s), true) => s,
        (None, _) => {
            return Err(SqlError::new(
                ErrorKind::Syntax,
                "Syntax error: empty query",
            ))
        }
        (Some(_), false) => {
            return Err(SqlError::new(
                ErrorKind::Syntax,
                "Syntax error: expected one statement",
            ))
        }
    };
    if let DFStatement::Statement(s) = &mut statement {
        let aggregates = state.aggregate_functions();
        bigquery::rewrite_statement(s, sql, &|name| aggregates.contains_key(name))?;
    }
    state
        .statement_to_plan(statement)
        .await
        .map_err(|e| sql_error(e, sql))
}

/// `name` and, when different, its lower-case form (what DataFusion looks up for an
/// unquoted identifier).
fn names(name: &str) -> Vec<String> {
    let lower = name.to_lowercase();
    if lower == name {
        vec![lower]
    } else {
        vec![name.to_string(), lower]
    }
}

/// A name whose parts are quoted (case kept) for DataFusion's parser.
fn quoted(parts: &[String]) -> String {
    let parts = match parts {
        [_, ds, t] => vec![ds.clone(), t.clone()],
        p => p.to_vec(),
    };
    parts
        .iter()
        .map(|p| format!("`{}`", p.replace('`', "")))
        .collect::<Vec<_>>()
        .join(".")
}

/// A DataFusion error as a [`SqlError`]: bqmlc's own errors come back as they were;
/// parser errors and planner diagnostics keep their position in `sql`.
pub fn sql_error(e: DataFusionError, sql: &str) -> SqlError {
    if let Some(own) = own_error(&e) {
        return own;
    }
    let diag_span = e.diagnostic().and_then(|d| d.span).map(|s| s.start);
    let (kind, mut message) = match bigquery_message(e.find_root()) {
        Some(known) => known,
        None => {
            let kind = match e.find_root() {
                DataFusionError::SQL(..) => ErrorKind::Syntax,
                DataFusionError::NotImplemented(_) => ErrorKind::NotSupported,
                _ => ErrorKind::InvalidQuery,
            };
            (kind, e.find_root().to_string())
        }
    };
    let mut at = diag_span.map(|l| (l.line, l.column));
    if let Some(k) = message.find(" at Line: ") {
        let tail = &message[k + " at Line: ".len()..];
        let mut nums = tail
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<u64>().unwrap_or(0));
        if let (Some(l), Some(c)) = (nums.next(), nums.next()) {
            at = at.or(Some((l, c)));
        }
        message.truncate(k);
    }
    for prefix in [
        "SQL error: ",
        "sql parser error: ",
        "Error during planning: ",
        "Execution error: ",
    ] {
        while let Some(rest) = message.strip_prefix(prefix) {
            message = rest.to_string();
        }
    }
    if let Some(inner) = message
        .strip_prefix("ParserError(\"")
        .and_then(|m| m.strip_suffix("\")"))
    {
        message = inner.replace("\\\"", "\"");
    }
    let err = SqlError::new(kind, message);
    match at.and_then(|(l, c)| span_at(sql, l, c)) {
        Some(span) => err.with_span(span),
        // A parser error without a position is at the end of the text.
        None if kind == ErrorKind::Syntax && !sql.is_empty() => {
            let last = sql.trim_end();
            let line = last.lines().count().max(1);
            let col = last.lines().last().map_or(0, |l| l.chars().count());
            match span_at(sql, line as u64, col.max(1) as u64) {
                Some(span) => err.with_span(span),
                None => err,
            }
        }
        None => err,
    }
}

/// `Not found: Table ds.t` where the dataset `ds` itself is missing says so, as BigQuery.
fn missing_dataset(e: SqlError, ctx: &ExecContext<'_>) -> SqlError {
    let Some(name) = e.message.strip_prefix("Not found: Table ") else {
        return e;
    };
    let parts: Vec<&str> = name.split('.').collect();
    let [.., ds, _] = parts[..] else {
        return e;
    };
    let known = ctx
        .state
        .datasets
        .keys()
        .any(|d| d == ds || d.to_lowercase() == ds);
    if known {
        return e;
    }
    SqlError {
        message: format!("Not found: Dataset {ds}"),
        ..e
    }
}

/// BigQuery's text for the DataFusion planning errors users meet most: unknown names of
/// columns, tables (a missing dataset is told apart by [`missing_dataset`]) and functions;
/// and what to do about a correlated subquery DataFusion cannot decorrelate.
fn bigquery_message(root: &DataFusionError) -> Option<(ErrorKind, String)> {
    use datafusion::common::SchemaError;
    match root {
        DataFusionError::NotImplemented(m)
            if m.starts_with("Physical plan does not support logical expression")
                && (m.contains("Subquery") || m.contains("Exists")) =>
        {
            Some((
                ErrorKind::NotSupported,
                "Correlated subqueries are supported when they refer to the outer query only in equality conditions (inner.column = outer.column)".to_string(),
            ))
        }
        DataFusionError::SchemaError(e, _) => match e.as_ref() {
            SchemaError::FieldNotFound { field, .. } => Some((
                ErrorKind::InvalidQuery,
                format!("Unrecognized name: {}", field.name),
            )),
            _ => None,
        },
        DataFusionError::Plan(m) => {
            if let Some(t) = m
                .strip_prefix("table '")
                .and_then(|r| r.strip_suffix("' not found"))
            {
                let t = t.strip_prefix("datafusion.").unwrap_or(t);
                Some((ErrorKind::NotFound, format!("Not found: Table {t}")))
            } else if let Some(rest) = m.strip_prefix("Invalid function '") {
                let (name, tail) = rest.split_once('\'')?;
                let hint = tail
                    .split_once("Did you mean '")
                    .and_then(|(_, h)| h.split_once('\''))
                    .map(|(h, _)| h);
                Some((
                    ErrorKind::InvalidQuery,
                    match hint {
                        Some(h) => format!("Function not found: {name}; Did you mean {h}?"),
                        None => format!("Function not found: {name}"),
                    },
                ))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The [`SqlError`] that a table provider or UDF wrapped, if `e` carries one.
fn own_error(e: &DataFusionError) -> Option<SqlError> {
    match e {
        DataFusionError::External(inner) => inner.downcast_ref::<SqlError>().cloned(),
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            own_error(inner)
        }
        DataFusionError::Shared(inner) => own_error(inner),
        _ => None,
    }
}

/// The one-character span at 1-based `line` and `col` (characters) of `sql`.
fn span_at(sql: &str, line: u64, col: u64) -> Option<Span> {
    let mut offset = 0usize;
    for (n, text) in sql.split_inclusive('\n').enumerate() {
        if n as u64 + 1 == line {
            let byte = text
                .char_indices()
                .nth(col.checked_sub(1)? as usize)
                .map_or(text.len(), |(b, _)| b);
            return Some(Span {
                line: line as u32,
                col: col as u32,
                offset: (offset + byte) as u32,
                len: text[byte..].chars().next().map_or(0, char::len_utf8) as u32,
            });
        }
        offset += text.len();
    }
    None
}
