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
pub mod gcs;
pub mod image_fns;
pub mod object_table;
pub mod predict;
pub mod rewrite;
pub mod tables;
pub mod values;

/// The Arrow crate DataFusion uses, for callers of [`QueryEngine`] and [`tables`].
pub use datafusion::arrow;

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
use crate::sources::ExecContext;

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

    /// Runs the query `sql` over the catalog snapshot of `ctx`, collecting its batches.
    pub fn query(&self, sql: &str, ctx: &ExecContext<'_>) -> Result<QueryResult> {
        let mut batches = Vec::new();
        let schema = self.query_stream(sql, ctx, &mut |b| {
            batches.push(b);
            Ok(())
        })?;
        Ok(QueryResult { schema, batches })
    }

    /// Runs the query `sql` over the catalog snapshot of `ctx`, handing each batch to
    /// `on_batch` as it is computed (a query ends early, cancelled, on the first error
    /// or after Ctrl-C). Returns the result's schema.
    pub fn query_stream(
        &self,
        sql: &str,
        ctx: &ExecContext<'_>,
        on_batch: &mut dyn FnMut(RecordBatch) -> Result<()>,
    ) -> Result<SchemaRef> {
        self.query_batches(sql, ctx, &mut |_| Ok(()), on_batch)
    }

    /// [`QueryEngine::query_stream`], handing the result's schema to `on_schema` once the
    /// query is planned, before it runs.
    pub fn query_batches(
        &self,
        sql: &str,
        ctx: &ExecContext<'_>,
        on_schema: &mut dyn FnMut(&SchemaRef) -> Result<()>,
        on_batch: &mut dyn FnMut(RecordBatch) -> Result<()>,
    ) -> Result<SchemaRef> {
        use futures::StreamExt;
        let rewritten = rewrite::rewrite(sql, &mut 0)?;
        self.runtime.block_on(async {
            let session = self.session(ctx)?;
            let plan = self
                .plan(&session, &rewritten, ctx, sql)
                .await
                .map_err(|e| at_subject(missing_dataset(e, ctx), sql))?;
            let plan = restore_alias_case(plan, sql).map_err(|e| sql_error(e, sql))?;
            let schema = Arc::new(plan.schema().as_arrow().clone());
            on_schema(&schema)?;
            let df = session
                .execute_logical_plan(plan)
                .await
                .map_err(|e| sql_error(e, sql))?;
            let mut stream = df
                .execute_stream()
                .await
                .map_err(|e| at_subject(sql_error(e, sql), sql))?;
            while let Some(batch) = stream.next().await {
                crate::progress::check_cancelled()?;
                on_batch(batch.map_err(|e| at_subject(sql_error(e, sql), sql))?)?;
            }
            Ok(schema)
        })
    }

    /// A DataFusion session over the catalog snapshot, with the image functions.
    fn session(&self, ctx: &ExecContext<'_>) -> Result<SessionContext> {
        let config = SessionConfig::new()
            .with_target_partitions(self.threads)
            .with_information_schema(false)
            .set_str("datafusion.sql_parser.dialect", "BigQuery")
            // BigQuery's TIMESTAMP is an instant (shown in UTC), as the tables' columns
            // (Timestamp(µs, "UTC")) are; DATETIME is the zone-less kind.
            .set_str("datafusion.execution.time_zone", "UTC")
            // BigQuery orders NULL before every value: first ascending, last descending.
            .set_str("datafusion.sql_parser.default_null_ordering", "nulls_min")
            // Planner errors (unknown names, ...) carry their position.
            .set_bool("datafusion.sql_parser.collect_spans", true)
            // Rows keep the order of their source unless the query sorts them, as in
            // BigQuery's console and DuckDB: the image functions and ML.PREDICT run a
            // batch's rows on all threads, so they need no round-robin partitions, and
            // file scans are still split by byte ranges.
            .set_bool("datafusion.optimizer.enable_round_robin_repartition", false)
            // A batch of images is large: a selective filter must not gather 8192 rows.
            .set_bool("datafusion.execution.coalesce_batches", false);
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
                ctx.gcs,
                ctx.data_dir,
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
                        plan_sql(session, &text, &text, ctx)
                            .await
                            .map_err(|e| e.with_span(call.span))?
                    }
                };
                let table = self.predict_table(call, input, ctx)?;
                session
                    .register_table(&call.placeholder, Arc::new(table))
                    .map_err(|e| sql_error(e, sql))?;
            }
            plan_sql(session, &q.sql, sql, ctx).await
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
        if let Some(settings) = &call.settings {
            // `STRUCT(0.5 AS threshold)`: name the (first) option, as BigQuery does.
            let option = settings
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .skip_while(|w| !w.eq_ignore_ascii_case("AS"))
                .find(|w| !w.is_empty() && !w.eq_ignore_ascii_case("AS"));
            let what = match option {
                Some(o) => format!("option {o} is"),
                None => "options are".to_string(),
            };
            return Err(SqlError::invalid(
                format!("ML.PREDICT {what} not supported for ONNX models"),
                call.span,
            ));
        }
        let model = ctx
            .sources
            .open_model(&format!("{ds}.{m}"), entry, ctx)
            .map_err(|e| e.with_span(call.span))?;
        predict::PredictTable::new(&model, input, self.threads, call.span)
            .map_err(|e| e.with_span(call.span))
    }
}

/// Checks the syntax of the query `sql` (its `ML.PREDICT` inputs included) without
/// planning it, so that a script with a syntax error anywhere runs nothing.
pub fn check_syntax(sql: &str) -> Result<()> {
    fn check(q: &Rewritten, sql: &str) -> Result<()> {
        for call in &q.predicts {
            if let PredictInput::Query(inner) = &call.input {
                check(inner, sql)?;
            }
        }
        parse_one(&q.sql, sql).map(drop)
    }
    check(&rewrite::rewrite(sql, &mut 0)?, sql)
}

/// Parses `text`, which must hold one statement, with DataFusion's parser (BigQuery
/// dialect); errors point into `sql`, the user's text (`text` keeps its offsets).
fn parse_one(text: &str, sql: &str) -> Result<DFStatement> {
    let mut statements = DFParserBuilder::new(text)
        .with_dialect(&BigQueryDialect {})
        .build()
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| sql_error(e, sql))?;
    match (statements.pop_front(), statements.is_empty()) {
        (Some(s), true) => Ok(s),
        (None, _) => Err(SqlError::new(
            ErrorKind::Syntax,
            "Syntax error: empty query",
        )),
        (Some(_), false) => Err(SqlError::new(
            ErrorKind::Syntax,
            "Syntax error: expected one statement",
        )),
    }
}

/// Parses `text` ([`parse_one`]), rewrites BigQuery's forms ([`bigquery`]) and plans it.
async fn plan_sql(
    session: &SessionContext,
    text: &str,
    sql: &str,
    ctx: &ExecContext<'_>,
) -> Result<LogicalPlan> {
    let state = session.state();
    let mut statement = parse_one(text, sql)?;
    if let DFStatement::Statement(s) = &mut statement {
        let aggregates = state.aggregate_functions();
        let names = bigquery::Names {
            is_aggregate: &|name| aggregates.contains_key(name),
            is_object_table: &|parts| is_object_table(ctx.state, parts),
        };
        bigquery::rewrite_statement(s, sql, &names)?;
    }
    state
        .statement_to_plan(statement)
        .await
        .map_err(|e| sql_error(e, sql))
}

/// The result's columns named as the query spells its aliases: DataFusion folds unquoted
/// names to lower case (so that they match case-insensitively, as BigQuery's do), but
/// BigQuery keeps an alias as written (`AS Label` is the column `Label`).
fn restore_alias_case(plan: LogicalPlan, sql: &str) -> datafusion::common::Result<LogicalPlan> {
    use datafusion::logical_expr::{Expr, LogicalPlanBuilder};
    use std::collections::HashMap;
    // lower case -> spelling, for `AS Name` with capitals; `None` when spelled two ways.
    let mut spelled: HashMap<String, Option<String>> = HashMap::new();
    let tokens = crate::tokenizer::tokenize(sql).unwrap_or_default();
    for pair in tokens.windows(2) {
        if let (true, crate::tokenizer::Token::Word(w)) =
            (pair[0].token.is_keyword("AS"), &pair[1].token)
        {
            let lower = w.to_lowercase();
            if lower != *w {
                spelled
                    .entry(lower)
                    .and_modify(|s| {
                        if s.as_deref() != Some(w) {
                            *s = None
                        }
                    })
                    .or_insert_with(|| Some(w.clone()));
            }
        }
    }
    let renames: Vec<Option<&String>> = plan
        .schema()
        .fields()
        .iter()
        .map(|f| spelled.get(f.name()).and_then(Option::as_ref))
        .collect();
    if renames.iter().all(Option::is_none) {
        return Ok(plan);
    }
    let exprs: Vec<Expr> = plan
        .schema()
        .iter()
        .zip(&renames)
        .map(|((q, f), to)| {
            let c = Expr::Column(datafusion::common::Column::from((q, f)));
            match to {
                Some(name) => c.alias(name.as_str()),
                None => c,
            }
        })
        .collect();
    LogicalPlanBuilder::from(plan).project(exprs)?.build()
}

/// Whether `[project.]dataset.table` names an object table of `state`, found as a query
/// finds it ([`find_dataset`], [`dataset_schema::find_table`]).
fn is_object_table(state: &crate::catalog::CatalogState, parts: &[String]) -> bool {
    let [.., ds, t] = parts else {
        return false;
    };
    find_dataset(state, ds)
        .and_then(|d| dataset_schema::find_table(&d.tables, t))
        .is_some_and(|(_, e)| e.kind == crate::catalog::TableKind::Object)
}

/// The dataset a query's `ds` names: registered under its own name and, when it
/// differs, its lower-case name ([`names`]).
fn find_dataset<'a>(
    state: &'a crate::catalog::CatalogState,
    ds: &str,
) -> Option<&'a crate::catalog::Dataset> {
    state.datasets.get(ds).or_else(|| {
        state
            .datasets
            .iter()
            .find(|(n, _)| n.to_lowercase() == ds)
            .map(|(_, d)| d)
    })
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
    loop {
        let stripped = [
            "SQL error: ",
            "sql parser error: ",
            "Error during planning: ",
            "Execution error: ",
            "Arrow error: ",
            "Invalid argument error: ",
            "Cast error: ",
        ]
        .iter()
        .find_map(|p| message.strip_prefix(p).map(str::to_string));
        match stripped {
            Some(rest) => message = rest,
            None => break,
        }
    }
    // DataFusion's texts that BigQuery words its own way (at most one applies).
    const TRANSLATIONS: [fn(&str) -> Option<String>; 5] = [
        bigquery_cast_message,
        bigquery_group_by_message,
        bigquery_signature_message,
        bigquery_where_message,
        bigquery_position_message,
    ];
    if let Some(bq) = TRANSLATIONS.iter().find_map(|t| t(&message)) {
        message = bq;
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

/// BigQuery's text for a failed cast of a string: `Bad int64 value: x`, `Invalid date:
/// 'x'`, …
fn bigquery_cast_message(message: &str) -> Option<String> {
    let rest = message.strip_prefix("Cannot cast string '")?;
    let (value, tail) = rest.rsplit_once("' to value of ")?;
    let ty = tail.split_whitespace().next()?;
    Some(match ty {
        "Int64" | "Int32" => format!("Bad int64 value: {value}"),
        "Float64" | "Float32" => format!("Bad double value: {value}"),
        "Date32" => format!("Invalid date: '{value}'"),
        t if t.starts_with("Timestamp") => format!("Invalid timestamp: '{value}'"),
        "Boolean" => format!("Bad bool value: {value}"),
        _ => return None,
    })
}

/// BigQuery's name for an Arrow type as DataFusion prints it (`Utf8` is STRING, …).
fn bigquery_type_name(t: &str) -> String {
    match t.trim() {
        "Utf8" | "LargeUtf8" | "Utf8View" => "STRING".to_string(),
        "Int64" | "Int32" => "INT64".to_string(),
        "Float64" | "Float32" => "FLOAT64".to_string(),
        "Boolean" => "BOOL".to_string(),
        "Binary" | "LargeBinary" | "BinaryView" => "BYTES".to_string(),
        "Date32" => "DATE".to_string(),
        t if t.starts_with("Timestamp") => "TIMESTAMP".to_string(),
        t if t.starts_with("List") || t.starts_with("LargeList") => "ARRAY".to_string(),
        t if t.starts_with("Struct") => "STRUCT".to_string(),
        t => t.to_string(),
    }
}

/// BigQuery's text for a call whose argument types match no signature, from DataFusion's
/// `No function matches the given name and argument types 'sum(Utf8)'`.
fn bigquery_signature_message(message: &str) -> Option<String> {
    let (_, call) =
        message.split_once("No function matches the given name and argument types '")?;
    let (call, _) = call.split_once('\'')?;
    let (name, args) = call.split_once('(')?;
    let args = args.strip_suffix(')')?;
    let types: Vec<String> = args
        .split(", ")
        .filter(|a| !a.is_empty())
        .map(bigquery_type_name)
        .collect();
    const AGGREGATES: &[&str] = &[
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "array_agg",
        "string_agg",
        "any_value",
        "stddev",
        "variance",
        "logical_and",
        "logical_or",
    ];
    let kind = if AGGREGATES.contains(&name.to_lowercase().as_str()) {
        "aggregate function"
    } else {
        "function"
    };
    Some(format!(
        "No matching signature for {kind} {} for argument types: {}",
        name.to_uppercase(),
        types.join(", ")
    ))
}

/// BigQuery's text for a WHERE clause that is not BOOL.
fn bigquery_where_message(message: &str) -> Option<String> {
    let rest = message.strip_prefix("Cannot create filter with non-boolean predicate '")?;
    let (_, ty) = rest.rsplit_once("' returning ")?;
    Some(format!(
        "WHERE clause should return type BOOL, but returns {}",
        bigquery_type_name(ty)
    ))
}

/// BigQuery's text for `GROUP BY n` / `ORDER BY n` beyond the select list.
fn bigquery_position_message(message: &str) -> Option<String> {
    let rest = message.strip_prefix("Cannot find column with position ")?;
    let n = rest.split_whitespace().next().unwrap_or("");
    let (_, valid) = rest.rsplit_once("Valid columns: ")?;
    let (lo, hi) = valid.split_once(" to ")?;
    Some(format!(
        "Column number is out of range. Column numbers must be between {lo} and {hi}, but got {n}"
    ))
}

/// BigQuery's text for a select list that reads a column neither grouped nor aggregated.
fn bigquery_group_by_message(message: &str) -> Option<String> {
    if !message.starts_with("Column in SELECT must be in GROUP BY or an aggregate function") {
        return None;
    }
    let (_, after) = message.split_once("column \"")?;
    let (qualified, _) = after.split_once('"')?;
    let column = qualified.rsplit('.').next()?;
    Some(format!(
        "SELECT list expression references column {column} which is neither grouped nor aggregated"
    ))
}

/// An error without a position shown where `sql` names its subject: a call matching no
/// signature at the function's first call, a non-BOOL WHERE clause at its condition, a
/// table that cannot be read (`Error while reading table: ds.t, …`) at the table's name.
fn at_subject(e: SqlError, sql: &str) -> SqlError {
    use crate::tokenizer::Token;
    if e.span.is_some() {
        return e;
    }
    let tokens = crate::tokenizer::tokenize(sql).unwrap_or_default();
    let token = |k: usize| tokens.get(k).map(|t| &t.token);
    let name_at = |k: usize, w: &str| matches!(token(k), Some(Token::Word(x) | Token::QuotedIdent(x)) if x.eq_ignore_ascii_case(w));
    let span = if let Some(f) = e
        .message
        .strip_prefix("No matching signature for ")
        .and_then(|r| {
            r.split(' ')
                .find(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        }) {
        (0..tokens.len())
            .find(|&k| {
                matches!(token(k), Some(Token::Word(x)) if x.eq_ignore_ascii_case(f))
                    && token(k + 1) == Some(&Token::LParen)
            })
            .map(|k| tokens[k].span)
    } else if e
        .message
        .starts_with("WHERE clause should return type BOOL")
    {
        (0..tokens.len())
            .find(|&k| tokens[k].token.is_keyword("WHERE"))
            .and_then(|k| tokens.get(k + 1))
            .map(|t| t.span)
    } else if let Some((name, (ds, t))) = e
        .message
        .strip_prefix("Error while reading table: ")
        .and_then(|r| r.split_once(',').map(|(n, _)| n))
        .and_then(|n| Some((n, n.split_once('.')?)))
    {
        (0..tokens.len()).find_map(|k| {
            if name_at(k, name) {
                Some(tokens[k].span)
            } else if name_at(k, ds) && token(k + 1) == Some(&Token::Dot) && name_at(k + 2, t) {
                Some(tokens[k].span.to(tokens[k + 2].span))
            } else {
                None
            }
        })
    } else {
        None
    };
    match span {
        Some(span) => e.with_span(span),
        None => e,
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
    if find_dataset(ctx.state, ds).is_some() {
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
            SchemaError::AmbiguousReference { field } => Some((
                ErrorKind::InvalidQuery,
                format!("Column name {} is ambiguous", field.name),
            )),
            SchemaError::FieldNotFound {
                field,
                valid_fields,
            } => Some((
                ErrorKind::InvalidQuery,
                match closest_name(&field.name, valid_fields.iter().map(|c| c.name.as_str())) {
                    Some(hint) => format!("Unrecognized name: {}; Did you mean {hint}?", field.name),
                    None => format!("Unrecognized name: {}", field.name),
                },
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

/// The candidate nearest to `name` by edit distance, when it is near enough to be a typo
/// (at most 2 edits, and at most a third of the name).
fn closest_name<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let name = name.to_lowercase();
    let limit = (name.chars().count() / 3).clamp(1, 2);
    candidates
        .filter(|c| !c.starts_with("__"))
        .map(|c| (edit_distance(&name, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(cur)
            };
            prev = cur;
        }
    }
    row[b.len()]
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

/// The byte length of the name or quoted name that `text` starts with, else of its first
/// character.
fn word_len(text: &str) -> usize {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    match text.chars().next() {
        None => 0,
        Some('`') => text[1..].find('`').map_or(1, |k| k + 2),
        Some(c) if is_word(c) => text.find(|c: char| !is_word(c)).unwrap_or(text.len()),
        Some(c) => c.len_utf8(),
    }
}

/// The span of the name (or character) at 1-based `line` and `col` (characters) of `sql`.
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
                len: word_len(&text[byte..]) as u32,
            });
        }
        offset += text.len();
    }
    None
}
