//! The SQL subcommands: `repl`, `query`, and the bq-like `mk`, `ls`, `show`, `rm`.

use crate::compile_flags::CompileFlags;
use anyhow::{anyhow, bail};
use sqlfront::ast::{Ident, ObjectName};
use sqlfront::df::arrow::datatypes::SchemaRef;
use sqlfront::df::arrow::record_batch::RecordBatch;
use sqlfront::df::tables::{self, ColumnMapping, ParquetFileWriter};
use sqlfront::error::{ErrorKind, SqlError};
use sqlfront::format::{OutputFormat, ResultWriter, TableLimits};
use sqlfront::session::{
    ArrowSink, DdlOutcome, ObjectKind, OutputSink, ResultColumn, Session, SessionConfig,
};
use sqlfront::sources::TableSources;
use sqlfront::value::Value;
use sqlfront::{listing, Span};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// The most worker threads `--threads` and `$BQMLC_THREADS` may ask for. Each thread
/// holds a model state (its arena) during `ML.PREDICT`, so far more threads than cores
/// only cost memory and start-up time.
pub const MAX_THREADS: usize = 1024;

/// Parses a thread count in `1..=MAX_THREADS`.
pub fn parse_threads(s: &str) -> Result<u16, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n as u16),
        _ => Err(format!(
            "'{s}' is not a thread count from 1 to {MAX_THREADS}"
        )),
    }
}

/// Options accepted before the subcommand (`bqmlc --data-dir D ls`); each applies to
/// the subcommands that have the same option.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct GlobalArgs {
    /// Data directory holding the catalog (repl, query, mk, ls, show, rm)
    /// [default: $BQMLC_DATA_DIR, else $XDG_DATA_HOME/bqmlc, else ~/.local/share/bqmlc]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Local directory standing in for Cloud Storage: gs://BUCKET/OBJECT is read from
    /// DIR/BUCKET/OBJECT (repl, query) [default: $BQMLC_GCS_ROOT]
    #[arg(long, value_name = "DIR")]
    pub gcs_root: Option<PathBuf>,
    /// Cloud Storage emulator serving gs:// when there is no --gcs-root, e.g.
    /// http://127.0.0.1:4443 (repl, query) [default: $STORAGE_EMULATOR_HOST; with neither,
    /// Google Cloud Storage when Google credentials are set]
    #[arg(long, value_name = "URL")]
    pub gcs_endpoint: Option<String>,
    /// Threads for image decoding and ML.PREDICT, at most 1024 (repl, query, demo)
    /// [default: $BQMLC_THREADS, else all cores]
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    pub threads: Option<u16>,
}

/// `after` (given after the subcommand) or `before`; both with different values is an error.
fn merge<T: PartialEq + Clone>(
    flag: &str,
    before: &Option<T>,
    after: Option<T>,
) -> anyhow::Result<Option<T>> {
    match (before, after) {
        (Some(b), Some(a)) if *b != a => {
            bail!("--{flag} is given both before and after the subcommand, with different values")
        }
        (b, None) => Ok(b.clone()),
        (_, a) => Ok(a),
    }
}

impl GlobalArgs {
    /// Checks that no option was given before a subcommand none of them applies to.
    pub fn none_for(&self, command: &str) -> anyhow::Result<()> {
        for (given, flag) in [
            (self.data_dir.is_some(), "--data-dir"),
            (self.gcs_root.is_some(), "--gcs-root"),
            (self.gcs_endpoint.is_some(), "--gcs-endpoint"),
            (self.threads.is_some(), "--threads"),
        ] {
            if given {
                bail!("{flag} does not apply to `bqmlc {command}`");
            }
        }
        Ok(())
    }

    /// Applies `--threads` to `demo` (which makes its own data directory and root).
    pub fn for_demo(&self, args: &mut crate::cmd_demo::DemoArgs) -> anyhow::Result<()> {
        if self.data_dir.is_some() || self.gcs_root.is_some() || self.gcs_endpoint.is_some() {
            bail!("--data-dir, --gcs-root and --gcs-endpoint do not apply to `bqmlc demo`, which makes its own (see --keep)");
        }
        args.threads = merge("threads", &self.threads, args.threads)?;
        Ok(())
    }
}

/// Where the catalog and the Cloud Storage stand-in are, and how many threads run queries.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Locations {
    /// Data directory holding the catalog [default: $BQMLC_DATA_DIR, else ~/.local/share/bqmlc]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Local directory standing in for Cloud Storage: gs://BUCKET/OBJECT is read from
    /// DIR/BUCKET/OBJECT [default: $BQMLC_GCS_ROOT]
    #[arg(long, value_name = "DIR")]
    pub gcs_root: Option<PathBuf>,
    /// Cloud Storage emulator serving gs:// when there is no --gcs-root, e.g.
    /// http://127.0.0.1:4443 [default: $STORAGE_EMULATOR_HOST; with neither, Google Cloud
    /// Storage when Google credentials are set]
    #[arg(long, value_name = "URL")]
    pub gcs_endpoint: Option<String>,
    /// Threads for image decoding and ML.PREDICT, at most 1024 [default: $BQMLC_THREADS,
    /// else all cores]
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    pub threads: Option<u16>,
}

/// The data directory of the catalog-only subcommands (`mk`, `ls`, `show`, `rm`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DataDir {
    /// Data directory holding the catalog [default: $BQMLC_DATA_DIR, else ~/.local/share/bqmlc]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl Locations {
    /// These locations, with those given before the subcommand filling the gaps.
    fn merged(&self, g: &GlobalArgs) -> anyhow::Result<Locations> {
        Ok(Locations {
            data_dir: merge("data-dir", &g.data_dir, self.data_dir.clone())?,
            gcs_root: merge("gcs-root", &g.gcs_root, self.gcs_root.clone())?,
            gcs_endpoint: merge("gcs-endpoint", &g.gcs_endpoint, self.gcs_endpoint.clone())?,
            threads: merge("threads", &g.threads, self.threads)?,
        })
    }
}

impl Locations {
    fn engine(&self) -> anyhow::Result<Arc<dyn TableSources>> {
        engine(self.threads)
    }

    fn session(&self, sources: &Arc<dyn TableSources>) -> anyhow::Result<Session> {
        let cfg = SessionConfig::from_args(self.data_dir.clone(), self.gcs_root.clone())
            .with_gcs_endpoint(self.gcs_endpoint.clone());
        Ok(Session::open(cfg)
            .map_err(|e| anyhow!("{e}"))?
            .with_sources(Arc::clone(sources)))
    }

    /// [`Locations::session`] compiling models (CREATE MODEL, `ML.PREDICT`) as `flags` ask.
    fn compiling_session(
        &self,
        flags: &CompileFlags,
        sources: &Arc<dyn TableSources>,
    ) -> anyhow::Result<Session> {
        Ok(self
            .session(sources)?
            .with_compile_options(flags.options()?))
    }
}

/// Result formats of `query`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatArg {
    /// Bordered table (bq's `pretty`)
    Table,
    /// CSV with a header row
    Csv,
    /// JSON array of row objects
    Json,
    /// A Parquet file (one query's result; standard output must not be a terminal)
    Parquet,
}

impl FormatArg {
    /// The text format, or `None` for Parquet.
    fn text(self) -> Option<OutputFormat> {
        match self {
            FormatArg::Table => Some(OutputFormat::Table),
            FormatArg::Csv => Some(OutputFormat::Csv),
            FormatArg::Json => Some(OutputFormat::Json),
            FormatArg::Parquet => None,
        }
    }
}

/// SQL and catalog subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum SqlCommand {
    /// Interactive SQL shell (line editing, history, `.help` for dot-commands)
    Repl {
        #[command(flatten)]
        loc: Locations,
        #[command(flatten)]
        flags: CompileFlags,
    },
    /// Run SQL statements (`;`-separated) and print their results
    Query {
        #[command(flatten)]
        loc: Locations,
        #[command(flatten)]
        flags: CompileFlags,
        /// Result format
        #[arg(long, value_enum, default_value = "table")]
        format: FormatArg,
        /// Table format: characters per line; longer cells are cut, ending in '…'. 0 shows
        /// cells whole [default: the terminal's width, else $COLUMNS, else 120]
        #[arg(long, value_name = "N")]
        max_width: Option<usize>,
        /// Table format: rows shown, then a footer with the total; 0 shows all [default: 40]
        #[arg(long, value_name = "N")]
        max_rows: Option<usize>,
        /// Read the SQL from FILE ('-' for standard input)
        #[arg(
            short = 'f',
            long = "file",
            value_name = "FILE",
            conflicts_with = "sql"
        )]
        file: Option<PathBuf>,
        /// Accepted for bq compatibility; only standard SQL (false) is supported
        #[arg(long = "use_legacy_sql", value_name = "BOOL", default_value = "false")]
        use_legacy_sql: String,
        /// The SQL text
        sql: Option<String>,
    },
    /// Create a dataset (like `bq mk --dataset`)
    Mk {
        #[command(flatten)]
        data: DataDir,
        /// Create a dataset (the only kind `mk` makes)
        #[arg(short = 'd', long)]
        dataset: bool,
        /// Dataset description
        #[arg(long)]
        description: Option<String>,
        /// Dataset location (recorded only)
        #[arg(long)]
        location: Option<String>,
        /// Do not fail if the dataset exists
        #[arg(short = 'f', long)]
        force: bool,
        /// Dataset name (`[PROJECT:]DATASET`)
        name: String,
    },
    /// List datasets, a dataset's tables, or with -m its models (like `bq ls`)
    Ls {
        #[command(flatten)]
        data: DataDir,
        /// List models instead of tables
        #[arg(short = 'm', long = "models")]
        models: bool,
        /// The dataset to list
        dataset: Option<String>,
    },
    /// Show a dataset, table, or with -m a model (like `bq show`)
    Show {
        #[command(flatten)]
        data: DataDir,
        /// NAME is a model
        #[arg(short = 'm', long = "model")]
        model: bool,
        /// `DATASET`, `DATASET.TABLE` or `DATASET.MODEL`
        name: String,
    },
    /// Delete a dataset, table or model (like `bq rm`)
    Rm {
        #[command(flatten)]
        data: DataDir,
        /// Do not ask for confirmation
        #[arg(short = 'f', long)]
        force: bool,
        /// NAME is a model
        #[arg(short = 'm', long = "model")]
        model: bool,
        /// NAME is a table
        #[arg(short = 't', long = "table")]
        table: bool,
        /// NAME is a dataset
        #[arg(short = 'd', long = "dataset")]
        dataset: bool,
        /// With a dataset: delete its tables and models too
        #[arg(short = 'r', long)]
        recursive: bool,
        /// The object to delete
        name: String,
    },
}

/// The thread count: `threads` if given, else `$BQMLC_THREADS`, else the number of cores.
fn thread_count(threads: Option<u16>) -> anyhow::Result<usize> {
    if let Some(n) = threads {
        return Ok(n.into());
    }
    match std::env::var("BQMLC_THREADS") {
        Ok(v) => parse_threads(&v)
            .map(usize::from)
            .map_err(|e| anyhow!("BQMLC_THREADS: {e}")),
        Err(_) => Ok(std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_THREADS)),
    }
}

/// The ML engine (object tables, image functions, ML.PREDICT) on [`thread_count`]
/// threads; rayon's global pool, which runs row-parallel work, gets the same size.
pub fn engine(threads: Option<u16>) -> anyhow::Result<Arc<dyn TableSources>> {
    let threads = thread_count(threads)?;
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
    {
        // An error with a source is a failure to start the threads, which leaves rayon
        // without a global pool; without one the pool already exists (built by an
        // earlier call in this process) and is kept.
        if std::error::Error::source(&e).is_some() {
            bail!("cannot start {threads} worker threads: {e}");
        }
    }
    Ok(Arc::new(sqlfront::engine::Engine::new()))
}

impl SqlCommand {
    /// This command's locations merged with those given before the subcommand.
    fn locations(&self, g: &GlobalArgs) -> anyhow::Result<Locations> {
        match self {
            SqlCommand::Repl { loc, .. } | SqlCommand::Query { loc, .. } => loc.merged(g),
            SqlCommand::Mk { data, .. }
            | SqlCommand::Ls { data, .. }
            | SqlCommand::Show { data, .. }
            | SqlCommand::Rm { data, .. } => Locations {
                data_dir: data.data_dir.clone(),
                ..Locations::default()
            }
            .merged(g),
        }
    }
}

/// Runs a SQL subcommand with the ML engine (object tables, `ML.*` image functions,
/// `ML.PREDICT`); `g` holds the options given before the subcommand.
pub fn run(cmd: SqlCommand, g: &GlobalArgs) -> anyhow::Result<()> {
    let loc = cmd.locations(g)?;
    let engine = loc.engine()?;
    run_with(cmd, loc, engine)
}

/// Runs a SQL subcommand with `sources` providing `ML.PREDICT`, object tables and
/// the `ML.*` functions.
fn run_with(cmd: SqlCommand, loc: Locations, sources: Arc<dyn TableSources>) -> anyhow::Result<()> {
    let sources = &sources;
    match cmd {
        SqlCommand::Repl { flags, .. } => repl(&loc, &flags, sources),
        SqlCommand::Query {
            loc: _,
            flags,
            format,
            max_width,
            max_rows,
            file,
            use_legacy_sql,
            sql,
        } => {
            if !matches!(use_legacy_sql.to_ascii_lowercase().as_str(), "false" | "0") {
                bail!("legacy SQL is not supported; use --use_legacy_sql=false");
            }
            let max = sqlfront::parser::MAX_SQL_BYTES;
            let text = match (file, sql) {
                (Some(f), _) if f.as_os_str() == "-" => {
                    sqlfront::parser::read_sql(std::io::stdin().lock(), max)
                        .map_err(|e| anyhow!("cannot read SQL from standard input: {e}"))?
                }
                (Some(f), _) => std::fs::File::open(&f)
                    .map_err(|e| e.to_string())
                    .and_then(|file| sqlfront::parser::read_sql(file, max))
                    .map_err(|e| anyhow!("cannot read {}: {e}", f.display()))?,
                (None, Some(s)) => s,
                (None, None) => bail!("no SQL given: pass it as an argument or with -f FILE"),
            };
            let mut limits = TableLimits::for_stdout();
            let nonzero = |n: usize| (n > 0).then_some(n);
            if let Some(w) = max_width {
                limits.max_width = nonzero(w);
            }
            if let Some(r) = max_rows {
                limits.max_rows = nonzero(r);
            }
            let session = loc.compiling_session(&flags, sources)?;
            match format.text() {
                Some(format) => query(&session, &text, format, limits),
                None => query_parquet(&session, &text),
            }
        }
        SqlCommand::Mk {
            data: _,
            dataset,
            description,
            location,
            force,
            name,
        } => {
            if !dataset {
                bail!("bqmlc mk only creates datasets: use --dataset (tables and models are made with SQL)");
            }
            let ds = strip_project(&name);
            let session = loc.session(sources)?;
            let exists = session
                .catalog()
                .snapshot()
                .map_err(|e| anyhow!("{e}"))?
                .datasets
                .contains_key(ds);
            if exists {
                if force {
                    println!("Dataset '{ds}' already exists.");
                    return Ok(());
                }
                bail!("Dataset '{ds}' already exists.");
            }
            session
                .create_dataset(ds, description, location, false)
                .map_err(|e| anyhow!("{e}"))?;
            println!("Dataset '{ds}' successfully created.");
            Ok(())
        }
        SqlCommand::Ls {
            data: _,
            models,
            dataset,
        } => {
            let session = loc.session(sources)?;
            let state = session.catalog().snapshot().map_err(|e| anyhow!("{e}"))?;
            let out =
                match (dataset, models) {
                    (None, false) => listing::ls_datasets(&state),
                    (None, true) => bail!("ls -m needs a dataset"),
                    (Some(ds), false) => listing::ls_tables(&state, strip_project(&ds))
                        .map_err(|e| anyhow!("{e}"))?,
                    (Some(ds), true) => listing::ls_models(&state, strip_project(&ds))
                        .map_err(|e| anyhow!("{e}"))?,
                };
            if !out.is_empty() {
                println!("{out}");
            }
            Ok(())
        }
        SqlCommand::Show { model, name, .. } => {
            let session = loc.session(sources)?;
            let state = session.catalog().snapshot().map_err(|e| anyhow!("{e}"))?;
            let name = strip_project(&name);
            let out = match (name.split_once('.'), model) {
                (Some((ds, m)), true) => listing::show_model(&state, ds, m),
                (Some((ds, t)), false) => listing::show_table(&state, ds, t),
                (None, true) => bail!("show -m needs DATASET.MODEL"),
                (None, false) => listing::show_dataset(&state, name),
            }
            .map_err(|e| anyhow!("{e}"))?;
            println!("{out}");
            Ok(())
        }
        SqlCommand::Rm {
            data: _,
            force,
            model,
            table,
            dataset,
            recursive,
            name,
        } => {
            let name = strip_project(&name).to_string();
            let kind = match (model, table, dataset) {
                (true, false, false) => ObjectKind::Model,
                (false, _, false) if name.contains('.') => ObjectKind::Table,
                (false, false, _) if !name.contains('.') => ObjectKind::Dataset,
                _ => bail!("specify at most one of -m, -t, -d, matching the name's form"),
            };
            let word = match kind {
                ObjectKind::Model => "model",
                ObjectKind::Table => "table",
                ObjectKind::Dataset => "dataset",
            };
            if recursive && kind != ObjectKind::Dataset {
                bail!("Cannot specify -r with {word} '{name}'");
            }
            if !force && !confirm(&format!("rm: remove {word} '{name}'? (y/N) "))? {
                println!("NOT deleting {word} '{name}', exiting.");
                return Ok(());
            }
            let session = loc.session(sources)?;
            match kind {
                ObjectKind::Dataset => session.drop_dataset(&name, false, recursive),
                _ => session.drop_object(&object_name(&name), false, kind),
            }
            .map_err(|e| anyhow!("{e}"))?;
            Ok(())
        }
    }
}

/// `proj:ds.t` → `ds.t` (the project part is accepted and ignored).
fn strip_project(name: &str) -> &str {
    name.split_once(':').map_or(name, |(_, rest)| rest)
}

fn object_name(dotted: &str) -> ObjectName {
    ObjectName {
        parts: dotted.split('.').map(Ident::new).collect(),
        span: Span::default(),
    }
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    print!("{question}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

/// Runs a script, printing results to stdout as they are computed; on error prints the
/// rendered error to stderr and fails.
pub(crate) fn query(
    session: &Session,
    sql: &str,
    format: OutputFormat,
    limits: TableLimits,
) -> anyhow::Result<()> {
    let mut out = StdoutSink {
        writer: None,
        format,
        limits,
    };
    session
        .run_script_streaming(sql, &mut out)
        .map_err(|e| anyhow!("{}", e.render(sql)))
}

/// Runs a script whose one query's result is written to standard output as a Parquet
/// file; DDL messages go to standard error.
fn query_parquet(session: &Session, sql: &str) -> anyhow::Result<()> {
    if std::io::stdout().is_terminal() {
        bail!("--format parquet writes binary data: redirect standard output to a file");
    }
    let statements = sqlfront::parser::parse_sql(sql).map_err(|e| anyhow!("{}", e.render(sql)))?;
    let queries = statements
        .iter()
        .filter(|s| matches!(s, sqlfront::ast::Statement::Query(_)))
        .count();
    if queries != 1 {
        bail!("--format parquet writes one query's result; the script has {queries} queries");
    }
    let mut out = ParquetSink { writer: None };
    session
        .run_script_streaming(sql, &mut out)
        .map_err(|e| anyhow!("{}", e.render(sql)))
}

/// Writes a query's batches to standard output as one Parquet file.
struct ParquetSink {
    writer: Option<(
        ParquetFileWriter<std::io::BufWriter<std::io::Stdout>>,
        ColumnMapping,
    )>,
}

impl OutputSink for ParquetSink {
    fn ddl(&mut self, outcome: DdlOutcome) -> sqlfront::error::Result<()> {
        let text = outcome.bq_message();
        if !text.is_empty() {
            eprintln!("{text}");
        }
        Ok(())
    }

    fn rows(&mut self, _: &[ResultColumn], _: Vec<Vec<Value>>) -> sqlfront::error::Result<()> {
        Err(SqlError::new(
            ErrorKind::Io,
            "a Parquet result takes Arrow batches",
        ))
    }

    fn end_rows(&mut self) -> sqlfront::error::Result<()> {
        Ok(())
    }

    fn arrow(&mut self) -> Option<&mut dyn ArrowSink> {
        Some(self)
    }
}

impl ArrowSink for ParquetSink {
    fn start(&mut self, schema: &SchemaRef) -> sqlfront::error::Result<()> {
        let target = tables::storage_schema(schema);
        let sources = (0..schema.fields().len()).map(Some).collect();
        let mapping = ColumnMapping::new(target.clone(), schema, sources)?;
        let out = std::io::BufWriter::new(std::io::stdout());
        self.writer = Some((ParquetFileWriter::new(out, target)?, mapping));
        Ok(())
    }

    fn batch(&mut self, batch: RecordBatch) -> sqlfront::error::Result<()> {
        let (w, m) = self.writer.as_mut().expect("start comes first");
        w.write(&m.apply(&batch)?)
    }

    fn end(&mut self) -> sqlfront::error::Result<()> {
        if let Some((w, _)) = self.writer.take() {
            w.finish()?.1.flush().map_err(write_error)?;
        }
        Ok(())
    }
}

/// Prints each statement's output to standard output: DDL messages as `bq` does, query
/// results through a [`ResultWriter`], which writes CSV/JSON row by row.
struct StdoutSink {
    writer: Option<ResultWriter<std::io::BufWriter<std::io::Stdout>>>,
    format: OutputFormat,
    limits: TableLimits,
}

fn write_error(e: std::io::Error) -> SqlError {
    SqlError::new(ErrorKind::Io, format!("cannot write the result: {e}"))
}

impl OutputSink for StdoutSink {
    fn ddl(&mut self, outcome: DdlOutcome) -> sqlfront::error::Result<()> {
        let text = outcome.bq_message();
        if text.is_empty() {
            return Ok(());
        }
        writeln!(std::io::stdout(), "{text}").map_err(write_error)
    }

    fn rows(
        &mut self,
        columns: &[ResultColumn],
        rows: Vec<Vec<Value>>,
    ) -> sqlfront::error::Result<()> {
        let (format, limits) = (self.format, self.limits);
        self.writer
            .get_or_insert_with(|| {
                ResultWriter::new(std::io::BufWriter::new(std::io::stdout()), format, limits)
            })
            .rows(columns, rows)
    }

    fn end_rows(&mut self) -> sqlfront::error::Result<()> {
        if let Some(w) = self.writer.take() {
            w.finish()?.flush().map_err(write_error)?;
        }
        Ok(())
    }
}

fn repl(
    loc: &Locations,
    flags: &CompileFlags,
    sources: &Arc<dyn TableSources>,
) -> anyhow::Result<()> {
    let session = loc.compiling_session(flags, sources)?;
    let history = session.catalog().dir().join("history");
    if std::io::stdin().is_terminal() {
        return sqlfront::repl::run_interactive(&session, Some(history)).map_err(|e| anyhow!(e));
    }
    // Piped input: same shell, no line editing or prompts.
    let mut shell = sqlfront::repl::Repl::new(&session);
    for line in std::io::stdin().lock().lines() {
        let (out, flow) = shell.feed_line(&line?);
        if !out.is_empty() {
            println!("{out}");
        }
        if flow == sqlfront::repl::Flow::Quit {
            break;
        }
    }
    // Like `duckdb < file`: the errors were printed, the exit status says there were some.
    if shell.failed() {
        bail!("some statements failed");
    }
    Ok(())
}

/// What `bqmlc` with no subcommand does: the REPL on a terminal (compile options from the
/// environment), else an error message.
pub fn run_default(g: &GlobalArgs) -> anyhow::Result<()> {
    if std::io::stdin().is_terminal() {
        let loc = Locations::default().merged(g)?;
        repl(&loc, &CompileFlags::default(), &loc.engine()?)
    } else {
        bail!("no subcommand given; see `bqmlc --help`")
    }
}

/// Prints a failed command's error (with its SQL context, no backtrace) to stderr and
/// turns the result into the process exit code.
pub fn exit_code(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
