//! The interactive shell: multi-line statements ending at `;`, dot-commands, history,
//! tab completion, and Ctrl-C cancelling the running statement.

use crate::catalog::CatalogState;
use crate::format::{OutputFormat, ResultWriter, TableLimits};
use crate::listing;
use crate::session::{DdlOutcome, OutputSink, ResultColumn, Session};
use crate::tokenizer::{tokenize, Token};
use crate::value::Value;
use std::io::Write;
use std::time::Instant;

/// Text shown by `.help`.
pub const HELP: &str = "\
Enter SQL statements ending with ';' (they may span several lines).
Ctrl-C cancels a running statement (nothing is written) or drops a partly typed one;
Tab completes keywords, dataset, table and model names, and dot-commands.
Dot-commands (also accepted inside an unfinished statement, which they leave pending):
  .help                 this text
  .datasets             list datasets
  .tables [DATASET]     list tables (of all datasets when none is given)
  .models [DATASET]     list models (of all datasets when none is given)
  .schema DATASET.NAME  show a model's or a table's schema
  .mode table|csv|json  result format (default table)
  .maxwidth [N]         table width in characters; longer cells end in '…' (0: no limit)
  .maxrows [N]          rows a table shows (0: all; default 40)
  .output [FILE]        write results to FILE; without FILE, to the screen again
  .read FILE            run the statements and dot-commands in FILE
  .timer on|off         print each statement's run time (and rows/s)
  .quit                 leave (also .exit or Ctrl-D)";

/// The line shown when the interactive shell starts.
pub const GREETING: &str = "Enter .help for usage hints.";

/// The dot-commands, for completion.
pub const DOT_COMMANDS: &[&str] = &[
    ".datasets",
    ".exit",
    ".help",
    ".maxrows",
    ".maxwidth",
    ".mode",
    ".models",
    ".output",
    ".quit",
    ".read",
    ".schema",
    ".tables",
    ".timer",
];

/// SQL keywords and functions offered by completion.
const KEYWORDS: &[&str] = &[
    "ALL",
    "AND",
    "ANY_VALUE",
    "ARRAY",
    "AS",
    "ASC",
    "AVG",
    "BETWEEN",
    "BY",
    "CASE",
    "CAST",
    "CONNECTION",
    "COUNT",
    "COUNTIF",
    "CREATE",
    "DATA",
    "DEFAULT",
    "DESC",
    "DISTINCT",
    "DROP",
    "ELSE",
    "END",
    "EXISTS",
    "EXPORT",
    "EXTERNAL",
    "FALSE",
    "FROM",
    "GROUP",
    "HAVING",
    "IF",
    "IN",
    "INNER",
    "INSERT",
    "INTERVAL",
    "INTO",
    "IS",
    "JOIN",
    "LEFT",
    "LIKE",
    "LIMIT",
    "MAX",
    "MIN",
    "ML.CONVERT_COLOR_SPACE",
    "ML.CONVERT_IMAGE_TYPE",
    "ML.DECODE_IMAGE",
    "ML.PREDICT",
    "ML.RESIZE_IMAGE",
    "MODEL",
    "MODEL_PATH",
    "MODEL_TYPE",
    "NOT",
    "NULL",
    "OFFSET",
    "ON",
    "OPTIONS",
    "OR",
    "ORDER",
    "OVER",
    "PARTITION",
    "QUALIFY",
    "REPLACE",
    "SCHEMA",
    "SELECT",
    "SUM",
    "TABLE",
    "THEN",
    "TRUE",
    "UNION",
    "UNNEST",
    "VALUES",
    "WHEN",
    "WHERE",
    "WITH",
];

/// Largest file `.read` takes (64 MiB: many statements, each within the SQL text limit).
const MAX_READ_BYTES: usize = 64 << 20;

/// Nesting limit of `.read` (a file that reads itself stops here).
const MAX_READ_DEPTH: usize = 16;

/// Whether the shell should keep reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Read the next line.
    Continue,
    /// Leave the shell.
    Quit,
}

/// Shell state, independent of the terminal so that it can be tested line by line.
pub struct Repl<'a> {
    session: &'a Session,
    mode: OutputFormat,
    timer: bool,
    limits: TableLimits,
    buffer: String,
    /// The last complete entry (statement or dot-command), for history.
    completed: Option<String>,
    /// `.output`'s file, if results go to one.
    output: Option<(String, std::fs::File)>,
    /// Whether any statement or dot-command failed.
    failed: bool,
    /// `.read` nesting.
    depth: usize,
}

/// One piece of a statement's output.
enum Piece {
    /// Results: to `.output`'s file when there is one.
    Result(String),
    /// Timings: always to the screen.
    Note(String),
    /// An error: to the screen, and the shell has failed.
    Error(String),
}

/// Collects a script's output as [`Piece`]s; query rows go through a [`ResultWriter`], so
/// only their text is kept.
struct PieceSink {
    pieces: Vec<Piece>,
    writer: Option<ResultWriter<Vec<u8>>>,
    mode: OutputFormat,
    limits: TableLimits,
    timer: bool,
    started: Instant,
}

impl PieceSink {
    fn finished(&mut self, result: String, rows: Option<usize>) {
        self.pieces.push(Piece::Result(result));
        if self.timer {
            let secs = self.started.elapsed().as_secs_f64();
            self.pieces.push(Piece::Note(match rows {
                Some(n) => format!(
                    "Run time: {secs:.3} s, {n} rows, {:.1} rows/s",
                    n as f64 / secs.max(1e-9)
                ),
                None => format!("Run time: {secs:.3} s"),
            }));
        }
        self.started = Instant::now();
    }
}

impl OutputSink for PieceSink {
    fn ddl(&mut self, outcome: DdlOutcome) -> crate::error::Result<()> {
        self.finished(outcome.console_message(), None);
        Ok(())
    }

    fn rows(
        &mut self,
        columns: &[ResultColumn],
        rows: Vec<Vec<Value>>,
    ) -> crate::error::Result<()> {
        let (mode, limits) = (self.mode, self.limits);
        self.writer
            .get_or_insert_with(|| ResultWriter::new(Vec::new(), mode, limits))
            .rows(columns, rows)
    }

    fn end_rows(&mut self) -> crate::error::Result<()> {
        let (text, rows) = match self.writer.take() {
            Some(w) => {
                let rows = w.rows_seen();
                (
                    String::from_utf8_lossy(&w.finish()?).trim_end().to_string(),
                    rows,
                )
            }
            None => (String::new(), 0),
        };
        self.finished(text, Some(rows));
        Ok(())
    }
}

/// True when `sql` holds a complete statement: it ends with `;` outside strings and
/// comments.
pub fn is_complete(sql: &str) -> bool {
    match tokenize(sql) {
        Ok(tokens) => {
            let n = tokens.len();
            n >= 2 && tokens[n - 2].token == Token::Semicolon
        }
        // An unclosed string or comment needs more lines; other lexical errors are
        // reported once the statement is submitted.
        Err(e) => !e.message.starts_with("Unclosed"),
    }
}

/// A line that is a dot-command: `.` then a letter (`.5` continues SQL).
fn is_dot_command(t: &str) -> bool {
    t.strip_prefix('.')
        .and_then(|r| r.chars().next())
        .is_some_and(|c| c.is_ascii_alphabetic())
}

/// Tab completion of the word that ends at `pos` in `line`: dot-commands at the start
/// of a line, else keywords and `ML.` functions (in the case the word is typed in) and
/// the names in `state` (datasets, `dataset.table`, `dataset.model`). Returns where the
/// word starts and the sorted candidates.
pub fn completions(line: &str, pos: usize, state: Option<&CatalogState>) -> (usize, Vec<String>) {
    let before = &line[..pos.min(line.len())];
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '`')))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let word = &before[start..];
    if word.starts_with('.') && before[..start].trim().is_empty() {
        let v = DOT_COMMANDS
            .iter()
            .filter(|c| c.starts_with(word))
            .map(|c| c.to_string())
            .collect();
        return (start, v);
    }
    if word.is_empty() {
        return (start, Vec::new());
    }
    let (tick, bare) = match word.strip_prefix('`') {
        Some(b) => ("`", b),
        None => ("", word),
    };
    let lower = bare.chars().any(|c| c.is_ascii_lowercase());
    let mut out: Vec<String> = Vec::new();
    if tick.is_empty() {
        for k in KEYWORDS {
            if k.len() >= bare.len() && k[..bare.len()].eq_ignore_ascii_case(bare) {
                out.push(if lower {
                    k.to_ascii_lowercase()
                } else {
                    k.to_string()
                });
            }
        }
    }
    if let Some(state) = state {
        for (ds, d) in &state.datasets {
            let names = std::iter::once(ds.clone()).chain(
                d.tables
                    .keys()
                    .chain(d.models.keys())
                    .map(|n| format!("{ds}.{n}")),
            );
            for n in names {
                if n.starts_with(bare) {
                    out.push(format!("{tick}{n}"));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    (start, out)
}

impl<'a> Repl<'a> {
    /// A shell over `session` in table mode, tables sized for standard output.
    pub fn new(session: &'a Session) -> Repl<'a> {
        Repl {
            session,
            mode: OutputFormat::Table,
            timer: false,
            limits: TableLimits::for_stdout(),
            buffer: String::new(),
            completed: None,
            output: None,
            failed: false,
            depth: 0,
        }
    }

    /// The prompt for the next line.
    pub fn prompt(&self) -> &'static str {
        if self.buffer.is_empty() {
            "bqmlc> "
        } else {
            "   ...> "
        }
    }

    /// The entry completed by the last `feed_line`, once: a whole multi-line statement
    /// is one history entry.
    pub fn take_completed(&mut self) -> Option<String> {
        self.completed.take()
    }

    /// Whether any statement or dot-command has failed so far.
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Drops a partly typed statement (Ctrl-C).
    pub fn cancel(&mut self) {
        self.buffer.clear();
    }

    /// Feeds one line; returns what to print and whether to go on. A dot-command inside
    /// an unfinished statement runs at once and leaves the statement pending.
    pub fn feed_line(&mut self, line: &str) -> (String, Flow) {
        let t = line.trim();
        if self.buffer.is_empty() {
            if t.is_empty() {
                return (String::new(), Flow::Continue);
            }
            if t.starts_with('.') {
                self.completed = Some(t.to_string());
                return self.dot_command(t);
            }
        } else if is_dot_command(t) {
            self.completed = Some(t.to_string());
            return self.dot_command(t);
        }
        if !self.buffer.is_empty() {
            self.buffer.push('\n');
        }
        self.buffer.push_str(line);
        if !is_complete(&self.buffer) {
            return (String::new(), Flow::Continue);
        }
        let sql = std::mem::take(&mut self.buffer);
        crate::progress::reset_cancel();
        let pieces = self.run_pieces(&sql);
        self.completed = Some(sql);
        (self.emit(pieces), Flow::Continue)
    }

    /// Sends results to `.output`'s file (if any) and returns what the screen shows.
    fn emit(&mut self, pieces: Vec<Piece>) -> String {
        let mut screen = Vec::new();
        for p in pieces {
            match p {
                Piece::Result(r) => match &mut self.output {
                    Some((name, f)) => {
                        if let Err(e) = writeln!(f, "{r}") {
                            self.failed = true;
                            screen.push(format!("Error: cannot write {name}: {e}"));
                        }
                    }
                    None => screen.push(r),
                },
                Piece::Note(n) => screen.push(n),
                Piece::Error(e) => {
                    self.failed = true;
                    screen.push(e);
                }
            }
        }
        screen.join("\n")
    }

    /// Runs a script and renders every statement's output (or the error).
    pub fn run_sql(&self, sql: &str) -> String {
        self.run_pieces(sql)
            .into_iter()
            .map(|p| match p {
                Piece::Result(s) | Piece::Note(s) | Piece::Error(s) => s,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn run_pieces(&self, sql: &str) -> Vec<Piece> {
        let mut sink = PieceSink {
            pieces: Vec::new(),
            writer: None,
            mode: self.mode,
            limits: self.limits,
            timer: self.timer,
            started: Instant::now(),
        };
        if let Err(e) = self.session.run_script_streaming(sql, &mut sink) {
            sink.pieces
                .push(Piece::Error(format!("Error: {}", e.render(sql))));
        }
        sink.pieces
    }

    fn dot_command(&mut self, line: &str) -> (String, Flow) {
        let (out, flow) = self.dot_command_inner(line);
        if out.starts_with("Error: ") {
            self.failed = true;
        }
        (out, flow)
    }

    /// `.read FILE`: every line of FILE as if typed, the pending statement set aside.
    fn read_file(&mut self, path: &str) -> String {
        if self.depth >= MAX_READ_DEPTH {
            return format!(
                "Error: .read {path}: more than {MAX_READ_DEPTH} nested .read commands"
            );
        }
        let text = match std::fs::File::open(path)
            .map_err(|e| e.to_string())
            .and_then(|f| crate::parser::read_sql(f, MAX_READ_BYTES))
        {
            Ok(t) => t,
            Err(e) => return format!("Error: cannot read {path}: {e}"),
        };
        let pending = std::mem::take(&mut self.buffer);
        self.depth += 1;
        let mut outs = Vec::new();
        for line in text.lines() {
            let (o, flow) = self.feed_line(line);
            if !o.is_empty() {
                outs.push(o);
            }
            // `.quit` ends the file; Ctrl-C ends every file being read.
            if flow == Flow::Quit || crate::progress::cancel_requested() {
                break;
            }
        }
        if !self.buffer.trim().is_empty() && !crate::progress::cancel_requested() {
            self.failed = true;
            outs.push(format!(
                "Error: {path} ends inside a statement (no ';' after it): {}",
                self.buffer.trim()
            ));
        }
        self.depth -= 1;
        self.buffer = pending;
        outs.join("\n")
    }

    fn dot_command_inner(&mut self, line: &str) -> (String, Flow) {
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or("");
        let arg = words.next();
        // The rest of the line, for file names with spaces.
        let rest = line[cmd.len()..].trim();
        let number = |a: &str| -> Result<Option<usize>, String> {
            match a.parse::<usize>() {
                Ok(0) => Ok(None),
                Ok(n) => Ok(Some(n)),
                Err(_) => Err(format!("Error: {cmd} expects a number, got '{a}'")),
            }
        };
        let show = |v: Option<usize>| v.map_or("0 (no limit)".to_string(), |n| n.to_string());
        match (cmd, arg) {
            (".quit" | ".exit", _) => return (String::new(), Flow::Quit),
            (".read", None) => {
                return (
                    "Error: .read needs a file name; see .help".into(),
                    Flow::Continue,
                )
            }
            (".read", Some(_)) => return (self.read_file(rest), Flow::Continue),
            (".output", None) => {
                self.output = None;
                return (String::new(), Flow::Continue);
            }
            (".output", Some(_)) => {
                return match std::fs::File::create(rest) {
                    Ok(f) => {
                        self.output = Some((rest.to_string(), f));
                        (String::new(), Flow::Continue)
                    }
                    Err(e) => (format!("Error: cannot write {rest}: {e}"), Flow::Continue),
                }
            }
            (".maxwidth", None) => return (show(self.limits.max_width), Flow::Continue),
            (".maxrows", None) => return (show(self.limits.max_rows), Flow::Continue),
            (".maxwidth", Some(a)) => {
                return match number(a) {
                    Ok(n) => {
                        self.limits.max_width = n;
                        (String::new(), Flow::Continue)
                    }
                    Err(e) => (e, Flow::Continue),
                }
            }
            (".maxrows", Some(a)) => {
                return match number(a) {
                    Ok(n) => {
                        self.limits.max_rows = n;
                        (String::new(), Flow::Continue)
                    }
                    Err(e) => (e, Flow::Continue),
                }
            }
            _ => {}
        }
        let state = match self.session.catalog().snapshot() {
            Ok(s) => s,
            Err(e) => return (format!("Error: {e}"), Flow::Continue),
        };
        let all_datasets: Vec<String> = state.datasets.keys().cloned().collect();
        let out = match (cmd, arg) {
            (".help", _) => Ok(HELP.to_string()),
            (".datasets", _) => Ok(listing::ls_datasets(&state)),
            (".tables" | ".models", Some(ds)) => {
                if cmd == ".tables" {
                    listing::ls_tables(&state, ds)
                } else {
                    listing::ls_models(&state, ds)
                }
            }
            (".tables" | ".models", None) => all_datasets
                .iter()
                .map(|ds| {
                    let body = if cmd == ".tables" {
                        listing::ls_tables(&state, ds)
                    } else {
                        listing::ls_models(&state, ds)
                    }?;
                    Ok(if body.is_empty() {
                        String::new()
                    } else {
                        format!("{ds}:\n{body}")
                    })
                })
                .collect::<crate::Result<Vec<_>>>()
                .map(|v| {
                    v.into_iter()
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join("\n\n")
                }),
            (".schema", Some(name)) => match name.split_once('.') {
                Some((ds, n)) => listing::show_model(&state, ds, n)
                    .or_else(|_| listing::show_table(&state, ds, n)),
                None => listing::show_dataset(&state, name),
            },
            (".mode", Some(m)) => match m.parse::<OutputFormat>() {
                Ok(f) => {
                    self.mode = f;
                    Ok(String::new())
                }
                Err(e) => Ok(format!("Error: {e}")),
            },
            (".timer", Some("on")) => {
                self.timer = true;
                Ok(String::new())
            }
            (".timer", Some("off")) => {
                self.timer = false;
                Ok(String::new())
            }
            (".schema" | ".mode" | ".timer", _) => {
                Ok(format!("Error: {cmd} needs an argument; see .help"))
            }
            _ => Ok(format!("Error: unknown command {cmd}; see .help")),
        };
        (
            out.unwrap_or_else(|e| format!("Error: {e}")),
            Flow::Continue,
        )
    }
}

/// Line-editor glue: tab completion from [`completions`] over the current catalog.
struct Helper<'a> {
    session: &'a Session,
}

impl rustyline::completion::Completer for Helper<'_> {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let state = self.session.catalog().snapshot().ok();
        Ok(completions(line, pos, state.as_ref()))
    }
}

impl rustyline::hint::Hinter for Helper<'_> {
    type Hint = String;
}

impl rustyline::highlight::Highlighter for Helper<'_> {}

impl rustyline::validate::Validator for Helper<'_> {}

impl rustyline::Helper for Helper<'_> {}

/// SIGINT while a statement runs (the terminal is not in raw mode then): ask the
/// statement to stop at its next row instead of ending the process.
extern "C" fn on_sigint(_: libc::c_int) {
    crate::progress::cancel();
}

/// Makes Ctrl-C cancel the running statement for the rest of the process. The line
/// editor puts its own handler in place while it reads a line and restores this one.
fn install_sigint_handler() -> Result<(), String> {
    // SAFETY: `sa` is zero-initialised plain data with its handler and empty mask set
    // before use; `on_sigint` only stores to an atomic, which is async-signal-safe.
    let rc = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigint as *const () as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut())
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!(
            "cannot install the Ctrl-C handler: {}",
            std::io::Error::last_os_error()
        ))
    }
}

/// Runs the shell on the terminal with line editing and tab completion; history is
/// kept in `history`. Ctrl-C cancels a running statement; the shell goes on.
pub fn run_interactive(
    session: &Session,
    history: Option<std::path::PathBuf>,
) -> Result<(), String> {
    use rustyline::error::ReadlineError;
    install_sigint_handler()?;
    let config = rustyline::Config::builder()
        .completion_type(rustyline::CompletionType::List)
        .build();
    let mut rl: rustyline::Editor<Helper<'_>, rustyline::history::DefaultHistory> =
        rustyline::Editor::with_config(config).map_err(|e| e.to_string())?;
    rl.set_helper(Some(Helper { session }));
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    println!("{GREETING}");
    let mut repl = Repl::new(session);
    loop {
        match rl.readline(repl.prompt()) {
            Ok(line) => {
                let (out, flow) = repl.feed_line(&line);
                if let Some(entry) = repl.take_completed() {
                    let _ = rl.add_history_entry(entry.as_str());
                }
                if !out.is_empty() {
                    println!("{out}");
                }
                if flow == Flow::Quit {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => repl.cancel(),
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.to_string()),
        }
    }
    if let Some(h) = &history {
        let _ = rl.save_history(h);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SessionConfig;

    #[test]
    fn multi_line_statements_and_dot_commands() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Session::open(SessionConfig {
            data_dir: tmp.path().into(),
            gcs_root: None,
            gcs_endpoint: None,
        })
        .unwrap();
        let mut r = Repl::new(&s);
        assert_eq!(
            r.feed_line("CREATE SCHEMA ds"),
            (String::new(), Flow::Continue)
        );
        assert_eq!(r.prompt(), "   ...> ");
        assert_eq!(
            r.feed_line("  OPTIONS(description = 'a;b');").0,
            "This statement created a new dataset named ds"
        );
        assert_eq!(r.prompt(), "bqmlc> ");
        assert_eq!(
            r.take_completed().as_deref(),
            Some("CREATE SCHEMA ds\n  OPTIONS(description = 'a;b');")
        );
        assert_eq!(r.take_completed(), None);
        assert_eq!(
            r.feed_line(".datasets").0,
            "  datasetId  \n ----------- \n  ds         "
        );
        r.feed_line("SELECT 1 AS x, 'y' AS s");
        assert_eq!(
            r.feed_line(";").0,
            "+---+---+\n| x | s |\n+---+---+\n| 1 | y |\n+---+---+"
        );
        r.feed_line(".mode json");
        assert_eq!(r.feed_line("SELECT 1 AS x;").0, r#"[{"x":1}]"#);
        assert_eq!(
            r.feed_line("SELECT nope;").0,
            "Error: Unrecognized name: nope at [1:8]\nSELECT nope;\n       ^^^^"
        );
        assert_eq!(
            r.feed_line(".mode xml").0,
            "Error: unknown format 'xml'; use table, csv or json"
        );
        assert_eq!(
            r.feed_line(".frobnicate").0,
            "Error: unknown command .frobnicate; see .help"
        );
        assert_eq!(
            r.feed_line(".schema ds.nope").0,
            "Error: Not found: Table ds.nope"
        );
        r.feed_line(".timer on");
        let timed = r.feed_line("SELECT 1;").0;
        assert!(
            timed.contains("Run time: ") && timed.contains(" s, 1 rows, "),
            "{timed}"
        );
        assert_eq!(r.feed_line(".quit").1, Flow::Quit);
    }

    fn session(dir: &std::path::Path) -> Session {
        Session::open(SessionConfig {
            data_dir: dir.into(),
            gcs_root: None,
            gcs_endpoint: None,
        })
        .unwrap()
    }

    #[test]
    fn dot_commands_inside_a_statement_run_and_leave_it_pending() {
        let tmp = tempfile::tempdir().unwrap();
        let s = session(tmp.path());
        let mut r = Repl::new(&s);
        assert_eq!(
            r.feed_line("SELECT 1 AS x"),
            (String::new(), Flow::Continue)
        );
        assert_eq!(r.feed_line("  .mode csv"), (String::new(), Flow::Continue));
        assert_eq!(r.prompt(), "   ...> ", "the statement is still pending");
        assert_eq!(
            r.feed_line(".frob").0,
            "Error: unknown command .frob; see .help"
        );
        assert_eq!(r.feed_line(";").0, "x\n1");
        assert!(r.failed(), ".frob failed");
        // `.5` is not a command: the line continues the statement.
        r.feed_line("SELECT");
        assert_eq!(r.feed_line(".5 AS h;").0, "h\n0.5");
        assert_eq!(r.feed_line("SELECT 1 AS x").1, Flow::Continue);
        assert_eq!(r.feed_line(".quit").1, Flow::Quit);
    }

    #[test]
    fn read_output_maxrows_maxwidth_and_failure() {
        let tmp = tempfile::tempdir().unwrap();
        let s = session(tmp.path());
        let mut r = Repl::new(&s);
        let script = tmp.path().join("a b.sql");
        std::fs::write(
            &script,
            "\u{feff}.mode csv\nSELECT 1 AS x;\nSELECT 'a'\n  AS y;\n",
        )
        .unwrap();
        let read = format!(".read {}", script.display());
        assert_eq!(r.feed_line(&read).0, "x\n1\ny\na");
        assert!(!r.failed());
        let out = tmp.path().join("out.txt");
        assert_eq!(r.feed_line(&format!(".output {}", out.display())).0, "");
        assert_eq!(r.feed_line("SELECT 2 AS z;").0, "");
        assert_eq!(
            r.feed_line("SELECT nope;").0,
            "Error: Unrecognized name: nope at [1:8]\nSELECT nope;\n       ^^^^"
        );
        assert!(r.failed());
        assert_eq!(r.feed_line(".output").0, "");
        assert_eq!(r.feed_line("SELECT 3 AS w;").0, "w\n3");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "z\n2\n");

        r.feed_line(".mode table");
        let csv = tmp.path().join("n.csv");
        std::fs::write(&csv, "x\n1\n2\n3\n").unwrap();
        r.feed_line("CREATE SCHEMA ds;");
        r.feed_line(&format!(
            "CREATE EXTERNAL TABLE ds.n OPTIONS(format = 'CSV', uris = ['{}'], skip_leading_rows = 1);",
            csv.display()
        ));
        assert_eq!(r.feed_line(".maxrows 2").0, "");
        assert_eq!(r.feed_line(".maxrows").0, "2");
        assert_eq!(
            r.feed_line("SELECT x FROM ds.n;").0,
            "+---+\n| x |\n+---+\n| 1 |\n| 2 |\n+---+\n3 rows (2 shown)"
        );
        assert_eq!(r.feed_line(".maxwidth 12").0, "");
        assert_eq!(
            r.feed_line("SELECT 'abcdefghijkl' AS s;").0,
            "+----------+\n|     s    |\n+----------+\n| abcdefg… |\n+----------+"
        );
        assert_eq!(r.feed_line(".maxwidth 0").0, "");
        assert_eq!(r.feed_line(".maxwidth").0, "0 (no limit)");
        assert_eq!(
            r.feed_line(".maxrows x").0,
            "Error: .maxrows expects a number, got 'x'"
        );
        let unfinished = tmp.path().join("u.sql");
        std::fs::write(&unfinished, "SELECT 1").unwrap();
        assert_eq!(
            r.feed_line(&format!(".read {}", unfinished.display())).0,
            format!(
                "Error: {} ends inside a statement (no ';' after it): SELECT 1",
                unfinished.display()
            )
        );
        assert_eq!(r.prompt(), "bqmlc> ");
        let own = tmp.path().join("self.sql");
        std::fs::write(&own, format!(".read {}\n", own.display())).unwrap();
        assert!(r
            .feed_line(&format!(".read {}", own.display()))
            .0
            .ends_with("more than 16 nested .read commands"));
    }

    #[test]
    fn completion_offers_commands_keywords_and_catalog_names() {
        let tmp = tempfile::tempdir().unwrap();
        let s = session(tmp.path());
        let mut r = Repl::new(&s);
        r.feed_line("CREATE SCHEMA bqml_tutorial;");
        let state = s.catalog().snapshot().unwrap();
        let c = |line: &str| completions(line, line.len(), Some(&state));
        assert_eq!(c(".ma"), (0, vec![".maxrows".into(), ".maxwidth".into()]));
        assert_eq!(c("  .re"), (2, vec![".read".into()]));
        assert_eq!(c("SEL"), (0, vec!["SELECT".into()]));
        assert_eq!(c("ins"), (0, vec!["insert".into()]));
        assert_eq!(c("EXPORT DA"), (7, vec!["DATA".into()]));
        assert_eq!(c("select * fr"), (9, vec!["from".into()]));
        assert_eq!(c("SELECT * FROM ML.PR"), (14, vec!["ML.PREDICT".into()]));
        assert_eq!(c("SELECT * FROM bqml"), (14, vec!["bqml_tutorial".into()]));
        assert_eq!(c("SELECT * FROM `bq"), (14, vec!["`bqml_tutorial".into()]));
        assert_eq!(c("SELECT 1 "), (9, vec![]));
    }

    #[test]
    fn completeness_ignores_semicolons_in_strings_and_comments() {
        assert!(is_complete("SELECT 1;"));
        assert!(is_complete("SELECT 1; -- done"));
        assert!(!is_complete("SELECT ';"));
        assert!(!is_complete("SELECT 1 /* ; */"));
        assert!(!is_complete("SELECT 1 -- ;"));
        assert!(is_complete("SELECT $;"));
    }
}
