//! Executes statements against a data directory: DDL changes the catalog, queries
//! return result sets.

use crate::ast::*;
use crate::catalog::{now_ms, Catalog, ColumnSchema, Dataset, ModelEntry, TableEntry, TableKind};
use crate::error::{ErrorKind, Result, Span, SqlError};
use crate::model_import::{compile_artifact, compile_in_memory, read_interface};
use crate::sources::{expand_uri, split_table_name, NoSources, TableSources};
use crate::storage::ObjectSource;
use crate::value::Value;
use std::path::PathBuf;
use std::sync::Arc;

/// Environment variable naming the local directory that stands in for Cloud Storage:
/// `gs://bucket/object` is read from `$BQMLC_GCS_ROOT/bucket/object`.
pub const GCS_ROOT_ENV: &str = "BQMLC_GCS_ROOT";

/// BigQuery's size limit for imported ONNX models: 450 MB (450 × 10^6 bytes).
pub use compiler::limits::MAX_MODEL_BYTES;

/// What a DDL statement did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DdlOp {
    /// A new object.
    Created,
    /// An existing object was replaced.
    Replaced,
    /// Nothing was done (`IF NOT EXISTS` / `IF EXISTS`).
    Skipped,
    /// The object was deleted.
    Dropped,
    /// `INSERT` added this many rows.
    Inserted(u64),
    /// `EXPORT DATA` wrote this many rows (to the URI in [`DdlOutcome::dataset`]).
    Exported(u64),
}

/// The kind of object a DDL statement targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    /// A dataset (schema).
    Dataset,
    /// A model.
    Model,
    /// A table.
    Table,
}

/// The outcome of a DDL statement, INSERT or EXPORT DATA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DdlOutcome {
    /// What happened.
    pub op: DdlOp,
    /// To what kind of object.
    pub kind: ObjectKind,
    /// Dataset name (for EXPORT DATA, the destination URI).
    pub dataset: String,
    /// Object name within the dataset (`None` for datasets).
    pub name: Option<String>,
}

impl DdlOutcome {
    fn short_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.dataset)
    }

    fn kind_word(&self) -> &'static str {
        match self.kind {
            ObjectKind::Dataset => "dataset",
            ObjectKind::Model => "model",
            ObjectKind::Table => "table",
        }
    }

    /// The message the BigQuery console shows, e.g.
    /// `This statement created a new table named goldfish_image_table`.
    pub fn console_message(&self) -> String {
        let (k, n) = (self.kind_word(), self.short_name());
        match (self.op, self.kind) {
            (DdlOp::Created | DdlOp::Replaced, ObjectKind::Model) => {
                format!("Successfully created model named {n}")
            }
            (DdlOp::Created, _) => format!("This statement created a new {k} named {n}"),
            (DdlOp::Replaced, _) => format!("This statement replaced the {k} named {n}"),
            (DdlOp::Dropped, _) => format!("This statement deleted the {k} named {n}"),
            (DdlOp::Skipped, _) => format!("This statement did not change the {k} named {n}"),
            (DdlOp::Inserted(r), _) => format!("This statement added {} to {n}", rows(r)),
            (DdlOp::Exported(r), _) => format!("This statement exported {} to {n}", rows(r)),
        }
    }

    /// The line `bq query` prints for a DDL job, e.g. `Created bqml_tutorial.m`; empty for
    /// dataset DDL, for which bq prints nothing.
    pub fn bq_message(&self) -> String {
        let op = match self.op {
            DdlOp::Inserted(r) => return format!("Number of affected rows: {r}"),
            DdlOp::Exported(r) => return format!("Exported {} to {}", rows(r), self.dataset),
            DdlOp::Created => "Created",
            DdlOp::Replaced => "Replaced",
            DdlOp::Skipped => "Skipped",
            DdlOp::Dropped => "Dropped",
        };
        let Some(name) = &self.name else {
            return String::new();
        };
        format!("{op} {}.{name}", self.dataset)
    }
}

/// `1 row`, `3 rows`.
fn rows(n: u64) -> String {
    match n {
        1 => "1 row".into(),
        n => format!("{n} rows"),
    }
}

/// A column of a query result.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultColumn {
    /// Column name.
    pub name: String,
    /// Type, when known (`None` only for an all-NULL computed column).
    pub data_type: Option<DataType>,
}

/// A query result.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultSet {
    /// Columns in order.
    pub columns: Vec<ResultColumn>,
    /// Rows.
    pub rows: Vec<Vec<Value>>,
}

/// The output of one statement.
#[derive(Clone, Debug, PartialEq)]
pub enum StatementOutput {
    /// A DDL statement's outcome.
    Ddl(DdlOutcome),
    /// A query's rows.
    Rows(ResultSet),
}

/// Receives a script's output as it is produced: DDL outcomes whole, query results in
/// pieces, so that a long `ML.PREDICT` never holds all its rows at once.
pub trait OutputSink {
    /// A DDL statement finished.
    fn ddl(&mut self, outcome: DdlOutcome) -> Result<()>;
    /// The next piece of the running query's result. Every piece has the same columns;
    /// a column type unknown in one piece (all NULL so far) may be known in a later one.
    fn rows(&mut self, columns: &[ResultColumn], rows: Vec<Vec<Value>>) -> Result<()>;
    /// The running query's last piece has been delivered.
    fn end_rows(&mut self) -> Result<()>;
    /// Where query results go as Arrow batches instead of rows, if anywhere (Parquet
    /// output): then [`OutputSink::rows`] and [`OutputSink::end_rows`] are not called for
    /// queries.
    #[cfg(feature = "datafusion")]
    fn arrow(&mut self) -> Option<&mut dyn ArrowSink> {
        None
    }
}

/// Receives query results as Arrow batches ([`OutputSink::arrow`]).
#[cfg(feature = "datafusion")]
pub trait ArrowSink {
    /// A query is planned; its batches follow.
    fn start(&mut self, schema: &datafusion::arrow::datatypes::SchemaRef) -> Result<()>;
    /// The next batch of the running query.
    fn batch(&mut self, batch: datafusion::arrow::record_batch::RecordBatch) -> Result<()>;
    /// The running query's last batch has been delivered.
    fn end(&mut self) -> Result<()>;
}

/// Rows per piece of a query result handed to an [`OutputSink`].
#[cfg(feature = "datafusion")]
const OUTPUT_CHUNK_ROWS: usize = 256;

/// Configuration of a [`Session`].
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// The data directory holding the catalog.
    pub data_dir: PathBuf,
    /// Local stand-in for Cloud Storage; when set, `gs://` is read there only.
    pub gcs_root: Option<PathBuf>,
    /// A Cloud Storage emulator's URL (`http://host:port`, or `host:port`) that serves
    /// `gs://` when there is no `gcs_root`. With neither, `gs://` goes to Google Cloud
    /// Storage when Google credentials are in the environment.
    pub gcs_endpoint: Option<String>,
}

/// The emulator endpoint Google's client libraries honour.
pub const STORAGE_EMULATOR_ENV: &str = "STORAGE_EMULATOR_HOST";

/// Environment variables that hold Google credentials (any one enables Cloud Storage).
const GOOGLE_CREDENTIAL_ENVS: [&str; 4] = [
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_SERVICE_ACCOUNT",
    "GOOGLE_SERVICE_ACCOUNT_PATH",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
];

fn env_value(name: &str) -> Option<std::ffi::OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

impl SessionConfig {
    /// `--data-dir`/`--gcs-root` when given, else the environment defaults; the
    /// Cloud Storage endpoint from `$STORAGE_EMULATOR_HOST`.
    pub fn from_args(data_dir: Option<PathBuf>, gcs_root: Option<PathBuf>) -> SessionConfig {
        SessionConfig {
            data_dir: data_dir.unwrap_or_else(crate::catalog::default_data_dir),
            gcs_root: gcs_root.or_else(|| env_value(GCS_ROOT_ENV).map(PathBuf::from)),
            gcs_endpoint: env_value(STORAGE_EMULATOR_ENV).map(|v| v.to_string_lossy().into_owned()),
        }
    }

    /// This configuration with `gs://` served by the emulator at `endpoint`.
    pub fn with_gcs_endpoint(mut self, endpoint: Option<String>) -> SessionConfig {
        if endpoint.is_some() {
            self.gcs_endpoint = endpoint;
        }
        self
    }

    /// The store that serves `gs://`, when it is not `gcs_root`.
    fn remote_storage(&self) -> Result<Option<Arc<dyn crate::storage::RemoteStorage>>> {
        if self.gcs_root.is_some() {
            return Ok(None);
        }
        let google = GOOGLE_CREDENTIAL_ENVS
            .iter()
            .any(|v| env_value(v).is_some());
        #[cfg(feature = "datafusion")]
        {
            use crate::df::gcs::{GcsEndpoint, GcsStorage};
            let endpoint = match (&self.gcs_endpoint, google) {
                (Some(url), _) => GcsEndpoint::Emulator(url.clone()),
                (None, true) => GcsEndpoint::Google,
                (None, false) => return Ok(None),
            };
            Ok(Some(Arc::new(GcsStorage::new(endpoint)?)))
        }
        #[cfg(not(feature = "datafusion"))]
        match self.gcs_endpoint.is_some() || google {
            true => Err(SqlError::new(
                ErrorKind::NotSupported,
                "this build reads gs:// only under a local root (--gcs-root)",
            )),
            false => Ok(None),
        }
    }
}

/// Executes SQL against one data directory.
pub struct Session {
    catalog: Catalog,
    gcs: crate::objects::GcsConfig,
    sources: Arc<dyn TableSources>,
    compile: compiler::CompileOptions,
    /// Partitions (and model states) a query runs at once; `None`: rayon's pool size.
    threads: Option<usize>,
    #[cfg(feature = "datafusion")]
    datafusion: std::sync::OnceLock<crate::df::QueryEngine>,
}

/// An option's lower-case name, value and the value's position.
type OptionEntry<'a> = (String, &'a OptionValue, Span);

pub(crate) fn option_map<'a>(
    options: &'a [SqlOption],
    allowed: &[&str],
) -> Result<Vec<OptionEntry<'a>>> {
    let mut out: Vec<OptionEntry<'a>> = Vec::new();
    for o in options {
        let key = o.name.value.to_ascii_lowercase();
        if !allowed.contains(&key.as_str()) {
            return Err(SqlError::invalid(
                format!("Unknown option: {}", o.name.value),
                o.name.span,
            ));
        }
        if out.iter().any(|(k, ..)| *k == key) {
            return Err(SqlError::invalid(
                format!("Duplicate option: {}", o.name.value),
                o.name.span,
            ));
        }
        out.push((key, &o.value, o.span));
    }
    Ok(out)
}

pub(crate) fn get<'a, 'b>(opts: &'b [OptionEntry<'a>], key: &str) -> Option<&'b OptionEntry<'a>> {
    opts.iter().find(|(k, ..)| k == key)
}

pub(crate) fn opt_string(opts: &[OptionEntry<'_>], key: &str) -> Result<Option<String>> {
    match get(opts, key) {
        None | Some((_, OptionValue::Literal(Literal::Null), _)) => Ok(None),
        Some((_, OptionValue::Literal(Literal::String(s)), _)) => Ok(Some(s.clone())),
        Some((k, v, span)) => Err(SqlError::invalid(
            format!("Option {k} must be a STRING, got {}", v.type_name()),
            *span,
        )),
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 1024
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(crate) fn check_name(kind: &str, name: &str, span: Span) -> Result<()> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(SqlError::invalid(
            format!(
                "Invalid {kind} name: {name}; it must contain only letters, numbers and underscores, up to 1024 characters"
            ),
            span,
        ))
    }
}

fn dataset_name(name: &ObjectName) -> Result<String> {
    match name.parts.as_slice() {
        [ds] | [_, ds] => Ok(ds.value.clone()),
        _ => Err(SqlError::invalid(
            format!("Invalid dataset name: {}", name.dotted()),
            name.span,
        )),
    }
}

pub(crate) fn already_exists(kind: &str, ds: &str, name: &str, span: Span) -> SqlError {
    SqlError::at(
        ErrorKind::AlreadyExists,
        format!("Already Exists: {kind} {ds}.{name}"),
        span,
    )
}

/// What `CREATE [OR REPLACE] MODEL|TABLE [IF NOT EXISTS] ds.name` does in the dataset
/// `d`: Created, Replaced or Skipped, or BigQuery's "Already Exists" error (an object of
/// the other kind with that name is one too).
pub(crate) fn create_op(
    d: &Dataset,
    kind: ObjectKind,
    (ds, name): (&str, &str),
    or_replace: bool,
    if_not_exists: bool,
    span: Span,
) -> Result<DdlOp> {
    let (same, other) = match kind {
        ObjectKind::Model => (
            d.models.contains_key(name),
            ("Table", d.tables.contains_key(name)),
        ),
        _ => (
            d.tables.contains_key(name),
            ("Model", d.models.contains_key(name)),
        ),
    };
    if other.1 {
        return Err(already_exists(other.0, ds, name, span));
    }
    match (same, if_not_exists, or_replace) {
        (false, ..) => Ok(DdlOp::Created),
        (true, true, _) => Ok(DdlOp::Skipped),
        (true, false, true) => Ok(DdlOp::Replaced),
        (true, false, false) => {
            let word = if kind == ObjectKind::Model {
                "Model"
            } else {
                "Table"
            };
            Err(already_exists(word, ds, name, span))
        }
    }
}

impl Session {
    /// Opens the data directory with no ML extensions.
    pub fn open(cfg: SessionConfig) -> Result<Session> {
        let remote = cfg.remote_storage()?;
        Ok(Session {
            catalog: Catalog::open(cfg.data_dir)?,
            gcs: crate::objects::GcsConfig {
                root: cfg.gcs_root,
                remote,
            },
            sources: Arc::new(NoSources),
            compile: compiler::CompileOptions::default(),
            threads: None,
            #[cfg(feature = "datafusion")]
            datafusion: std::sync::OnceLock::new(),
        })
    }

    /// Sets the options CREATE MODEL compiles with and `ML.PREDICT` expects its library
    /// to have been compiled with (default: [`compiler::CompileOptions::default`]).
    pub fn with_compile_options(mut self, opts: compiler::CompileOptions) -> Session {
        self.compile = opts;
        self
    }

    /// Runs queries on `threads` threads (default: as many as rayon's global pool has).
    pub fn with_threads(mut self, threads: usize) -> Session {
        self.threads = Some(threads.max(1));
        self
    }

    /// Serves `gs://` from `store` (unless a `--gcs-root` directory was configured,
    /// which wins).
    pub fn with_remote_storage(mut self, store: Arc<dyn crate::storage::RemoteStorage>) -> Session {
        self.gcs.remote = Some(store);
        self
    }

    /// Plugs in the engine that opens the compiled models of `ML.PREDICT`.
    pub fn with_sources(mut self, sources: Arc<dyn TableSources>) -> Session {
        self.sources = sources;
        self
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The Cloud Storage stand-in directory, if set.
    pub fn gcs_root(&self) -> Option<&std::path::Path> {
        self.gcs.root.as_deref()
    }

    /// How `gs://` is reached: under the stand-in directory, else the remote store.
    pub fn gcs(&self) -> crate::objects::GcsAccess<'_> {
        self.gcs.access()
    }

    /// Parses and runs a `;`-separated script, calling `on_output` after each statement.
    /// Stops at the first error. Parsing happens first, so a syntax error anywhere runs
    /// nothing.
    pub fn run_script(
        &self,
        sql: &str,
        mut on_output: impl FnMut(&Statement, StatementOutput),
    ) -> Result<()> {
        self.for_each_statement(sql, |s| {
            on_output(s, self.execute(s)?);
            Ok(())
        })
    }

    /// [`Session::run_script`] with each query's rows handed to `sink` as they are
    /// computed instead of collected.
    pub fn run_script_streaming(&self, sql: &str, sink: &mut dyn OutputSink) -> Result<()> {
        self.for_each_statement(sql, |s| match s {
            Statement::Query(q) => self
                .query_stream(q, sink)
                .map_err(|e| e.with_span(q.head_span())),
            other => match self.execute(other)? {
                StatementOutput::Ddl(d) => sink.ddl(d),
                StatementOutput::Rows(rs) => {
                    sink.rows(&rs.columns, rs.rows)?;
                    sink.end_rows()
                }
            },
        })
    }

    /// Parses `sql` and checks the syntax of its queries (a syntax error anywhere runs
    /// nothing), then runs `run` on each statement in turn, stopping at the first error.
    fn for_each_statement(
        &self,
        sql: &str,
        mut run: impl FnMut(&Statement) -> Result<()>,
    ) -> Result<()> {
        let statements = crate::parser::parse_sql(sql)?;
        for q in statements.iter().filter_map(Statement::query) {
            check_query_syntax(q)?;
        }
        for s in &statements {
            // After Ctrl-C, the statements not started yet do not run.
            crate::progress::check_cancelled()?;
            run(s)?;
        }
        Ok(())
    }

    /// Runs one statement.
    pub fn execute(&self, stmt: &Statement) -> Result<StatementOutput> {
        let span = match stmt {
            Statement::Query(q) => q.head_span(),
            other => other.span(),
        };
        let r = match stmt {
            Statement::Query(q) => self.query(q).map(StatementOutput::Rows),
            Statement::CreateSchema {
                name,
                if_not_exists,
                options,
                ..
            } => self.create_schema(name, *if_not_exists, options),
            Statement::DropSchema {
                name,
                if_exists,
                behavior,
                ..
            } => self.drop_schema(name, *if_exists, *behavior),
            Statement::CreateModel {
                name,
                or_replace,
                if_not_exists,
                options,
                ..
            } => self.create_model(name, *or_replace, *if_not_exists, options),
            Statement::DropModel {
                name, if_exists, ..
            } => self.drop_object(name, *if_exists, ObjectKind::Model),
            Statement::CreateExternalTable {
                name,
                or_replace,
                if_not_exists,
                columns,
                connection,
                options,
                ..
            } => self.create_external_table(
                name,
                *or_replace,
                *if_not_exists,
                columns,
                connection.as_ref(),
                options,
            ),
            Statement::DropTable {
                name, if_exists, ..
            } => self.drop_object(name, *if_exists, ObjectKind::Table),
            #[cfg(feature = "datafusion")]
            Statement::CreateTable {
                name,
                or_replace,
                if_not_exists,
                columns,
                options,
                query,
                ..
            } => self.create_table(
                name,
                *or_replace,
                *if_not_exists,
                columns,
                options,
                query.as_ref(),
            ),
            #[cfg(feature = "datafusion")]
            Statement::Insert {
                name,
                columns,
                query,
                ..
            } => self.insert(name, columns, query),
            #[cfg(feature = "datafusion")]
            Statement::ExportData {
                options,
                query,
                span,
                ..
            } => self.export_data(options, query, *span),
            #[cfg(not(feature = "datafusion"))]
            Statement::CreateTable { .. }
            | Statement::Insert { .. }
            | Statement::ExportData { .. } => Err(SqlError::at(
                ErrorKind::NotSupported,
                "This build of bqmlc has no query engine (cargo feature \"datafusion\")",
                span,
            )),
        };
        r.map_err(|e| e.with_span(span))
    }

    /// Runs a query, collecting its rows.
    pub fn query(&self, q: &QueryText) -> Result<ResultSet> {
        let mut sink = CollectRows::default();
        self.query_stream(q, &mut sink)?;
        Ok(ResultSet {
            columns: sink.columns,
            rows: sink.rows,
        })
    }

    /// Runs a query on DataFusion ([`crate::df`]), handing its rows to `sink` piece by
    /// piece as they are computed. Errors point into the script `q` came from.
    #[cfg(feature = "datafusion")]
    pub fn query_stream(&self, q: &QueryText, sink: &mut dyn OutputSink) -> Result<()> {
        let text = q.positioned();
        let state = self.catalog.snapshot()?;
        let ctx = self.exec_context(&state);
        if let Some(arrow) = sink.arrow() {
            let arrow = std::cell::RefCell::new(arrow);
            self.query_engine()?
                .query_batches(
                    &text,
                    &ctx,
                    &mut |schema| arrow.borrow_mut().start(schema),
                    &mut |batch| arrow.borrow_mut().batch(batch),
                )
                .map_err(|e| shift_span(e, q.offset_shift()))?;
            return arrow.into_inner().end();
        }
        let mut columns: Option<Vec<ResultColumn>> = None;
        let schema = self
            .query_engine()?
            .query_stream(&text, &ctx, &mut |batch| {
                let columns = columns.get_or_insert_with(|| result_columns(&batch.schema()));
                let mut rows = batch_rows(&batch, &text)?;
                while !rows.is_empty() {
                    let rest = rows.split_off(rows.len().min(OUTPUT_CHUNK_ROWS));
                    sink.rows(columns, std::mem::replace(&mut rows, rest))?;
                }
                Ok(())
            })
            .map_err(|e| shift_span(e, q.offset_shift()))?;
        if columns.is_none() {
            sink.rows(&result_columns(&schema), Vec::new())?;
        }
        sink.end_rows()
    }

    /// Without DataFusion (the fuzz build) queries do not run.
    #[cfg(not(feature = "datafusion"))]
    pub fn query_stream(&self, q: &QueryText, _sink: &mut dyn OutputSink) -> Result<()> {
        Err(SqlError::at(
            ErrorKind::NotSupported,
            "This build of bqmlc has no query engine (cargo feature \"datafusion\")",
            q.span,
        ))
    }

    /// The DataFusion engine, started on first use.
    #[cfg(feature = "datafusion")]
    pub(crate) fn query_engine(&self) -> Result<&crate::df::QueryEngine> {
        match self.datafusion.get() {
            Some(e) => Ok(e),
            None => {
                let threads = self.threads.unwrap_or_else(rayon::current_num_threads);
                let e = crate::df::QueryEngine::new(threads)?;
                Ok(self.datafusion.get_or_init(|| e))
            }
        }
    }

    /// Runs the query text `sql` on DataFusion ([`crate::df`]); the result as Arrow
    /// batches.
    #[cfg(feature = "datafusion")]
    pub fn query_arrow(&self, sql: &str) -> Result<crate::df::QueryResult> {
        let state = self.catalog.snapshot()?;
        let ctx = self.exec_context(&state);
        self.query_engine()?.query(sql, &ctx)
    }

    /// Runs the query text `sql`, collecting its rows.
    pub fn query_sql(&self, sql: &str) -> Result<ResultSet> {
        let q = QueryText {
            text: sql.to_string(),
            span: Span {
                line: 1,
                col: 1,
                offset: 0,
                len: sql.len() as u32,
            },
        };
        check_query_syntax(&q)?;
        self.query(&q)
    }

    /// What a query over the catalog snapshot `state` runs with.
    #[cfg(feature = "datafusion")]
    pub(crate) fn exec_context<'a>(
        &'a self,
        state: &'a crate::catalog::CatalogState,
    ) -> crate::sources::ExecContext<'a> {
        crate::sources::ExecContext {
            state,
            data_dir: self.catalog.dir(),
            gcs: self.gcs(),
            sources: self.sources.as_ref(),
            compile: &self.compile,
        }
    }

    fn create_schema(
        &self,
        name: &ObjectName,
        if_not_exists: bool,
        options: &[SqlOption],
    ) -> Result<StatementOutput> {
        let ds = dataset_name(name)?;
        check_name("dataset", &ds, name.span)?;
        let opts = option_map(
            options,
            &[
                "description",
                "location",
                "labels",
                "default_table_expiration_days",
            ],
        )?;
        let description = opt_string(&opts, "description")?;
        let location = opt_string(&opts, "location")?;
        self.create_dataset(&ds, description, location, if_not_exists)
            .map_err(|e| e.with_span(name.span))
    }

    /// Creates a dataset (`bq mk --dataset` and `CREATE SCHEMA`).
    pub fn create_dataset(
        &self,
        ds: &str,
        description: Option<String>,
        location: Option<String>,
        if_not_exists: bool,
    ) -> Result<StatementOutput> {
        if !valid_name(ds) {
            return Err(SqlError::new(
                ErrorKind::InvalidQuery,
                format!("Dataset name: {ds} is invalid, must be letters (uppercase or lowercase), numbers, and underscores up to 1024 characters."),
            ));
        }
        let op = self.catalog.update(|s, _| {
            if s.datasets.contains_key(ds) {
                if if_not_exists {
                    return Ok(DdlOp::Skipped);
                }
                return Err(SqlError::new(
                    ErrorKind::AlreadyExists,
                    format!("Already Exists: Dataset {ds}"),
                ));
            }
            s.datasets.insert(
                ds.to_string(),
                Dataset {
                    description,
                    location,
                    created_ms: now_ms(),
                    ..Default::default()
                },
            );
            Ok(DdlOp::Created)
        })?;
        Ok(StatementOutput::Ddl(DdlOutcome {
            op,
            kind: ObjectKind::Dataset,
            dataset: ds.to_string(),
            name: None,
        }))
    }

    fn drop_schema(
        &self,
        name: &ObjectName,
        if_exists: bool,
        behavior: Option<DropBehavior>,
    ) -> Result<StatementOutput> {
        let ds = dataset_name(name)?;
        self.drop_dataset(&ds, if_exists, behavior == Some(DropBehavior::Cascade))
            .map_err(|e| e.with_span(name.span))
    }

    /// Deletes a dataset; with `cascade` also its tables and models.
    pub fn drop_dataset(
        &self,
        ds: &str,
        if_exists: bool,
        cascade: bool,
    ) -> Result<StatementOutput> {
        let op = self.catalog.update(|s, _| {
            let Some(d) = s.datasets.get(ds) else {
                if if_exists {
                    return Ok(DdlOp::Skipped);
                }
                return Err(crate::catalog::dataset_not_found(ds));
            };
            if !cascade && (!d.tables.is_empty() || !d.models.is_empty()) {
                return Err(SqlError::new(
                    ErrorKind::InvalidQuery,
                    format!("Dataset {ds} is still in use"),
                ));
            }
            s.datasets.remove(ds);
            Ok(DdlOp::Dropped)
        })?;
        Ok(StatementOutput::Ddl(DdlOutcome {
            op,
            kind: ObjectKind::Dataset,
            dataset: ds.to_string(),
            name: None,
        }))
    }

    /// Deletes a model or table (`DROP MODEL`, `DROP TABLE`, `bq rm`).
    pub fn drop_object(
        &self,
        name: &ObjectName,
        if_exists: bool,
        kind: ObjectKind,
    ) -> Result<StatementOutput> {
        let what = if kind == ObjectKind::Model {
            "Model"
        } else {
            "Table"
        };
        let (ds, n) = split_table_name(name, what)?;
        let op = self
            .catalog
            .update(|s, _| {
                let d = s.dataset_mut(&ds)?;
                let removed = match kind {
                    ObjectKind::Model => d.models.remove(&n).is_some(),
                    _ => d.tables.remove(&n).is_some(),
                };
                match (removed, if_exists) {
                    (true, _) => Ok(DdlOp::Dropped),
                    (false, true) => Ok(DdlOp::Skipped),
                    (false, false) => Err(SqlError::new(
                        ErrorKind::NotFound,
                        format!("Not found: {what} {ds}.{n}"),
                    )),
                }
            })
            .map_err(|e| e.with_span(name.span))?;
        Ok(StatementOutput::Ddl(DdlOutcome {
            op,
            kind,
            dataset: ds,
            name: Some(n),
        }))
    }

    fn create_model(
        &self,
        name: &ObjectName,
        or_replace: bool,
        if_not_exists: bool,
        options: &[SqlOption],
    ) -> Result<StatementOutput> {
        let (ds, m) = split_table_name(name, "Model")?;
        check_name("model", &m, name.span)?;
        if or_replace && if_not_exists {
            return Err(SqlError::invalid(
                "CREATE MODEL cannot have both OR REPLACE and IF NOT EXISTS",
                name.span,
            ));
        }
        let opts = option_map(options, &["model_type", "model_path", "kms_key_name"])?;
        let model_type = opt_string(&opts, "model_type")?
            .ok_or_else(|| SqlError::invalid("Missing required option: MODEL_TYPE", name.span))?;
        if !model_type.eq_ignore_ascii_case("onnx") {
            let span = get(&opts, "model_type").map_or(name.span, |o| o.2);
            return Err(SqlError::at(
                ErrorKind::NotSupported,
                format!("MODEL_TYPE '{model_type}' is not supported; bqmlc imports only MODEL_TYPE='ONNX'"),
                span,
            ));
        }
        let model_path = opt_string(&opts, "model_path")?
            .ok_or_else(|| SqlError::invalid("Missing required option: MODEL_PATH", name.span))?;
        let path_span = get(&opts, "model_path").map_or(name.span, |o| o.2);
        let kms_key_name = opt_string(&opts, "kms_key_name")?;

        // Cheap checks before reading the file.
        let state = self.catalog.snapshot()?;
        let d = state.dataset(&ds).map_err(|e| e.with_span(name.span))?;
        let at = (ds.as_str(), m.as_str());
        if create_op(
            d,
            ObjectKind::Model,
            at,
            or_replace,
            if_not_exists,
            name.span,
        )? == DdlOp::Skipped
        {
            return Ok(skipped_model(ds, m));
        }
        let fail = |msg: String| {
            SqlError::at(
                ErrorKind::InvalidQuery,
                format!("Failed to create model {ds}.{m}: {msg}"),
                path_span,
            )
        };
        let (source, size) = self
            .model_source(&model_path)
            .map_err(|e| fail(e.message))?;
        if size > MAX_MODEL_BYTES {
            return Err(fail(format!(
                "the model file is {size} bytes; imported ONNX models are limited to 450 MB"
            )));
        }
        // Bounded and regular-files-only: metadata of a FIFO or device says nothing.
        let bytes = source
            .read(MAX_MODEL_BYTES)
            .map_err(|e| fail(format!("cannot read {model_path}: {e}")))?;
        let meta = read_interface(&bytes).map_err(|e| fail(e.0))?;
        // Compiled before the catalog lock is taken (a compile error fails CREATE MODEL);
        // the library is kept so that reopening the data directory does not recompile.
        // Without a C compiler to link with, the model is compiled in memory only (same
        // errors) and no library is kept.
        let bytes = Arc::new(bytes);
        let staged = self
            .catalog
            .stage_model(&bytes, |dest, file| {
                let (bytes, opts, dest) = (bytes.clone(), self.compile.clone(), dest.to_path_buf());
                cancellable(move || {
                    if !compiler::aot::linker_available() {
                        return compile_in_memory(&bytes, &opts).map(|_| None);
                    }
                    compile_artifact(&bytes, &opts, &dest, file).map(Some)
                })?
                .map_err(|e| fail(e.0))
            })
            .map_err(|e| e.with_span(name.span))?;

        let op = self
            .catalog
            .update(|s, files| {
                let d = s.dataset_mut(&ds)?;
                let at = (ds.as_str(), m.as_str());
                let op = create_op(
                    d,
                    ObjectKind::Model,
                    at,
                    or_replace,
                    if_not_exists,
                    name.span,
                )?;
                if op == DdlOp::Skipped {
                    return Ok(op);
                }
                let (file, compiled) = files.commit(staged)?;
                d.models.insert(
                    m.clone(),
                    ModelEntry {
                        created_ms: now_ms(),
                        model_path: model_path.clone(),
                        file,
                        size: bytes.len() as u64,
                        kms_key_name,
                        meta,
                        compiled,
                    },
                );
                Ok(op)
            })
            .map_err(|e| e.with_span(name.span))?;
        Ok(StatementOutput::Ddl(DdlOutcome {
            op,
            kind: ObjectKind::Model,
            dataset: ds,
            name: Some(m),
        }))
    }

    /// Resolves `MODEL_PATH` to one `.onnx` object (a local file or a remote object)
    /// and its size.
    fn model_source(&self, model_path: &str) -> Result<(ObjectSource, u64)> {
        let not_found = || SqlError::new(ErrorKind::NotFound, format!("Not found: {model_path}"));
        let files: Vec<(ObjectSource, u64)> = match self.gcs().remote_store() {
            Some(store) if model_path.starts_with("gs://") => {
                let (bucket, pattern) = crate::storage::split_gs_uri(model_path)?;
                crate::storage::list_matching(store.as_ref(), bucket, pattern)?
                    .into_iter()
                    .map(|o| {
                        let source = ObjectSource::Remote {
                            store: Arc::clone(store),
                            bucket: bucket.to_string(),
                            name: o.name,
                        };
                        (source, o.size)
                    })
                    .collect()
            }
            _ => {
                let mut found = Vec::new();
                for f in expand_uri(model_path, self.gcs.root.as_deref())? {
                    match std::fs::metadata(&f) {
                        Ok(m) => found.push((ObjectSource::Local(f), m.len())),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(SqlError::io(format!("cannot read {model_path}"), e)),
                    }
                }
                found
            }
        };
        if !model_path.contains('*') {
            return files.into_iter().next().ok_or_else(not_found);
        }
        let onnx: Vec<(ObjectSource, u64)> = files
            .into_iter()
            .filter(|(f, _)| match f {
                ObjectSource::Local(p) => p.extension().is_some_and(|e| e == "onnx"),
                ObjectSource::Remote { name, .. } => name.ends_with(".onnx"),
            })
            .collect();
        match onnx.len() {
            1 => onnx.into_iter().next().ok_or_else(not_found),
            0 => Err(SqlError::new(
                ErrorKind::NotFound,
                format!("No .onnx file matches {model_path}"),
            )),
            n => Err(SqlError::new(
                ErrorKind::InvalidQuery,
                format!("{n} .onnx files match {model_path}; exactly one is needed"),
            )),
        }
    }

    fn create_external_table(
        &self,
        name: &ObjectName,
        or_replace: bool,
        if_not_exists: bool,
        columns: &[ColumnDef],
        connection: Option<&Connection>,
        options: &[SqlOption],
    ) -> Result<StatementOutput> {
        let (ds, t) = split_table_name(name, "Table")?;
        check_name("table", &t, name.span)?;
        if or_replace && if_not_exists {
            return Err(SqlError::invalid(
                "CREATE TABLE cannot have both OR REPLACE and IF NOT EXISTS",
                name.span,
            ));
        }
        let opts = option_map(
            options,
            &[
                "object_metadata",
                "uris",
                "max_staleness",
                "metadata_cache_mode",
                "format",
                "skip_leading_rows",
                "description",
            ],
        )?;
        let object_metadata = opt_string(&opts, "object_metadata")?;
        let format = opt_string(&opts, "format")?;
        let kind = match (&object_metadata, &format) {
            (Some(om), _) if om.eq_ignore_ascii_case("SIMPLE") => TableKind::Object,
            (Some(om), _) => {
                return Err(SqlError::invalid(
                    format!("object_metadata must be 'SIMPLE', got '{om}'"),
                    get(&opts, "object_metadata").map_or(name.span, |o| o.2),
                ))
            }
            (None, Some(f)) if f.eq_ignore_ascii_case("CSV") => TableKind::Csv,
            (None, Some(f)) if f.eq_ignore_ascii_case("PARQUET") => TableKind::Parquet,
            (None, Some(f))
                if f.eq_ignore_ascii_case("JSON")
                    || f.eq_ignore_ascii_case("NEWLINE_DELIMITED_JSON") =>
            {
                TableKind::Json
            }
            (None, Some(f)) => {
                return Err(SqlError::at(
                    ErrorKind::NotSupported,
                    format!("External table format '{f}' is not supported; use format = 'CSV', 'PARQUET' or 'JSON', or object_metadata = 'SIMPLE'"),
                    get(&opts, "format").map_or(name.span, |o| o.2),
                ))
            }
            (None, None) => {
                return Err(SqlError::invalid(
                    "CREATE EXTERNAL TABLE needs OPTIONS(format = 'CSV' | 'PARQUET' | 'JSON', …) or OPTIONS(object_metadata = 'SIMPLE', …)",
                    name.span,
                ))
            }
        };
        let uris = match get(&opts, "uris") {
            Some((_, OptionValue::Array(items), span)) if !items.is_empty() => items
                .iter()
                .map(|v| match v {
                    OptionValue::Literal(Literal::String(s)) if s.matches('*').count() <= 1 => {
                        Ok(s.clone())
                    }
                    OptionValue::Literal(Literal::String(s)) => Err(SqlError::invalid(
                        format!("Only one wildcard (*) is allowed in each URI: {s}"),
                        *span,
                    )),
                    other => Err(SqlError::invalid(
                        format!("uris must be an ARRAY<STRING>, found {}", other.type_name()),
                        *span,
                    )),
                })
                .collect::<Result<Vec<_>>>()?,
            Some((_, _, span)) => {
                return Err(SqlError::invalid(
                    "uris must be a non-empty ARRAY<STRING>",
                    *span,
                ))
            }
            None => {
                return Err(SqlError::invalid(
                    "Missing required option: uris",
                    name.span,
                ))
            }
        };
        let skip_leading_rows =
            match get(&opts, "skip_leading_rows") {
                None => 0,
                Some((_, OptionValue::Literal(Literal::Int(n)), _))
                    if *n >= 0 && kind == TableKind::Csv =>
                {
                    *n as u64
                }
                Some((_, _, span)) => return Err(SqlError::invalid(
                    "skip_leading_rows must be a non-negative INT64 and applies only to CSV tables",
                    *span,
                )),
            };
        let max_staleness = match get(&opts, "max_staleness") {
            None => None,
            Some((_, v @ OptionValue::Interval { .. }, _)) => Some(v.to_string()),
            Some((_, v, span)) => {
                return Err(SqlError::invalid(
                    format!("max_staleness must be an INTERVAL, got {}", v.type_name()),
                    *span,
                ))
            }
        };
        let metadata_cache_mode = opt_string(&opts, "metadata_cache_mode")?;
        if let Some(m) = &metadata_cache_mode {
            if !m.eq_ignore_ascii_case("AUTOMATIC") && !m.eq_ignore_ascii_case("MANUAL") {
                return Err(SqlError::invalid(
                    format!("metadata_cache_mode must be 'AUTOMATIC' or 'MANUAL', got '{m}'"),
                    get(&opts, "metadata_cache_mode").map_or(name.span, |o| o.2),
                ));
            }
        }
        if matches!(kind, TableKind::Object | TableKind::Parquet) && !columns.is_empty() {
            return Err(SqlError::invalid(
                match kind {
                    TableKind::Object => {
                        "Object tables have a fixed schema; remove the column list"
                    }
                    _ => "Parquet files carry their schema; remove the column list",
                },
                columns[0].span,
            ));
        }
        let entry = TableEntry {
            created_ms: now_ms(),
            kind,
            columns: columns
                .iter()
                .map(|c| ColumnSchema {
                    name: c.name.value.clone(),
                    data_type: c.data_type.to_string(),
                })
                .collect(),
            uris,
            connection: connection.map(|c| match c {
                Connection::Named(n) => n.dotted(),
                Connection::Default(_) => "DEFAULT".to_string(),
            }),
            skip_leading_rows,
            max_staleness,
            metadata_cache_mode,
            description: opt_string(&opts, "description")?,
            files: Vec::new(),
        };
        let state = self.catalog.snapshot()?;
        let d = state.dataset(&ds).map_err(|e| e.with_span(name.span))?;
        let at = (ds.as_str(), t.as_str());
        if create_op(
            d,
            ObjectKind::Table,
            at,
            or_replace,
            if_not_exists,
            name.span,
        )? == DdlOp::Skipped
        {
            return Ok(StatementOutput::Ddl(DdlOutcome {
                op: DdlOp::Skipped,
                kind: ObjectKind::Table,
                dataset: ds,
                name: Some(t),
            }));
        }
        let mut entry = entry;
        if kind != TableKind::Object {
            crate::sources::check_external_uris(&entry.uris, self.gcs())
                .map_err(|e| e.with_span(name.span))?;
        }
        if kind == TableKind::Csv && entry.columns.is_empty() {
            // Schema auto-detection happens once, at creation, like BigQuery's.
            let rel = crate::sources::read_csv_table(
                &format!("{ds}.{t}"),
                &entry,
                self.gcs.root.as_deref(),
            )
            .map_err(|e| e.with_span(name.span))?;
            entry.columns = rel
                .columns
                .into_iter()
                .map(|c| ColumnSchema {
                    name: c.name,
                    data_type: c
                        .data_type
                        .map_or_else(|| "STRING".into(), |t| t.to_string()),
                })
                .collect();
        }
        #[cfg(feature = "datafusion")]
        if kind == TableKind::Parquet || (kind == TableKind::Json && entry.columns.is_empty()) {
            use crate::df::tables;
            let full = format!("{ds}.{t}");
            let gcs_root = self.gcs.root.as_deref();
            entry.columns = match kind {
                TableKind::Json => tables::detect_json_columns(&full, &entry, gcs_root),
                _ => tables::parquet_table(&full, &entry, gcs_root)
                    .map(|p| tables::columns_of(&p.schema())),
            }
            .map_err(|e| e.with_span(name.span))?;
        }
        let op = self
            .catalog
            .update(|s, _| {
                let d = s.dataset_mut(&ds)?;
                let at = (ds.as_str(), t.as_str());
                let op = create_op(
                    d,
                    ObjectKind::Table,
                    at,
                    or_replace,
                    if_not_exists,
                    name.span,
                )?;
                if op != DdlOp::Skipped {
                    d.tables.insert(t.clone(), entry);
                }
                Ok(op)
            })
            .map_err(|e| e.with_span(name.span))?;
        Ok(StatementOutput::Ddl(DdlOutcome {
            op,
            kind: ObjectKind::Table,
            dataset: ds,
            name: Some(t),
        }))
    }
}

/// Collects a query's rows ([`Session::query`]).
#[derive(Default)]
struct CollectRows {
    columns: Vec<ResultColumn>,
    rows: Vec<Vec<Value>>,
}

impl OutputSink for CollectRows {
    fn ddl(&mut self, _outcome: DdlOutcome) -> Result<()> {
        Ok(())
    }

    fn rows(&mut self, columns: &[ResultColumn], mut rows: Vec<Vec<Value>>) -> Result<()> {
        if self.columns.is_empty() {
            self.columns = columns.to_vec();
        }
        self.rows.append(&mut rows);
        Ok(())
    }

    fn end_rows(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Checks a query's syntax with DataFusion's parser; errors point into the script.
fn check_query_syntax(q: &QueryText) -> Result<()> {
    #[cfg(feature = "datafusion")]
    crate::df::check_syntax(&q.positioned()).map_err(|e| shift_span(e, q.offset_shift()))?;
    let _ = q;
    Ok(())
}

/// `e` with its position moved from a [`QueryText::positioned`] text into the script.
#[cfg(feature = "datafusion")]
pub(crate) fn shift_span(mut e: SqlError, by: u32) -> SqlError {
    if let Some(span) = &mut e.span {
        span.offset += by;
    }
    e
}

/// A result's columns, named and typed as its Arrow schema says.
#[cfg(feature = "datafusion")]
fn result_columns(schema: &datafusion::arrow::datatypes::Schema) -> Vec<ResultColumn> {
    schema
        .fields()
        .iter()
        .map(|f| ResultColumn {
            name: f.name().clone(),
            data_type: crate::df::values::sql_type(f.data_type()),
        })
        .collect()
}

/// A batch's rows as [`Value`]s.
#[cfg(feature = "datafusion")]
fn batch_rows(
    batch: &datafusion::arrow::record_batch::RecordBatch,
    sql: &str,
) -> Result<Vec<Vec<Value>>> {
    (0..batch.num_rows())
        .map(|r| {
            batch
                .columns()
                .iter()
                .map(|c| crate::df::values::value_at(c.as_ref(), r))
                .collect::<datafusion::common::Result<Vec<_>>>()
                .map_err(|e| crate::df::sql_error(e, sql))
        })
        .collect()
}

fn skipped_model(ds: String, m: String) -> StatementOutput {
    StatementOutput::Ddl(DdlOutcome {
        op: DdlOp::Skipped,
        kind: ObjectKind::Model,
        dataset: ds,
        name: Some(m),
    })
}

/// Runs `work` (compiling a model: seconds) on its own thread and returns its result, or
/// [`ErrorKind::Cancelled`] within 50 ms of Ctrl-C. A cancelled thread runs to its end
/// unobserved; what it writes under `staging/` is swept by a later catalog update.
fn cancellable<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    use std::sync::mpsc::{channel, RecvTimeoutError};
    let (tx, rx) = channel();
    std::thread::Builder::new()
        .name("bqmlc-compile".into())
        // Deep graphs recurse in the passes; the main thread's 8 MiB is not the default here.
        .stack_size(64 << 20)
        .spawn(move || {
            let _ = tx.send(work());
        })
        .map_err(|e| {
            SqlError::new(
                ErrorKind::Io,
                format!("cannot start the compiler thread: {e}"),
            )
        })?;
    loop {
        match rx.recv_timeout(std::time::Duration::from_millis(50)) {
            Ok(v) => return Ok(v),
            Err(RecvTimeoutError::Timeout) => crate::progress::check_cancelled()?,
            Err(RecvTimeoutError::Disconnected) => {
                return Err(SqlError::new(
                    ErrorKind::InvalidQuery,
                    "the model compiler stopped unexpectedly (a bug in bqmlc)",
                ))
            }
        }
    }
}
