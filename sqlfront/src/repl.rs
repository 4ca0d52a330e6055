//! The interactive shell: multi-line statements ending at `;`, dot-commands, history.

use crate::format::{render, OutputFormat};
use crate::listing;
use crate::session::{Session, StatementOutput};
use crate::tokenizer::{tokenize, Token};
use std::time::Instant;

/// Text shown by `.help`.
pub const HELP: &str = "\
Enter SQL statements ending with ';' (they may span several lines).
Dot-commands:
  .help                 this text
  .datasets             list datasets
  .tables [DATASET]     list tables (of all datasets when none is given)
  .models [DATASET]     list models (of all datasets when none is given)
  .schema DATASET.NAME  show a model's or a table's schema
  .mode table|csv|json  result format (default table)
  .timer on|off         print each statement's run time (and rows/s)
  .quit                 leave (also .exit or Ctrl-D)";

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
    buffer: String,
    /// The last complete entry (statement or dot-command), for history.
    completed: Option<String>,
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

impl<'a> Repl<'a> {
    /// A shell over `session` in table mode.
    pub fn new(session: &'a Session) -> Repl<'a> {
        Repl {
            session,
            mode: OutputFormat::Table,
            timer: false,
            buffer: String::new(),
            completed: None,
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

    /// Drops a partly typed statement (Ctrl-C).
    pub fn cancel(&mut self) {
        self.buffer.clear();
    }

    /// Feeds one line; returns what to print and whether to go on.
    pub fn feed_line(&mut self, line: &str) -> (String, Flow) {
        if self.buffer.is_empty() {
            let t = line.trim();
            if t.is_empty() {
                return (String::new(), Flow::Continue);
            }
            if t.starts_with('.') {
                self.completed = Some(t.to_string());
                return self.dot_command(t);
            }
        }
        if !self.buffer.is_empty() {
            self.buffer.push('\n');
        }
        self.buffer.push_str(line);
        if !is_complete(&self.buffer) {
            return (String::new(), Flow::Continue);
        }
        let sql = std::mem::take(&mut self.buffer);
        let out = self.run_sql(&sql);
        self.completed = Some(sql);
        (out, Flow::Continue)
    }

    /// Runs a script and renders every statement's output (or the error).
    pub fn run_sql(&self, sql: &str) -> String {
        let mut out = Vec::new();
        let mode = self.mode;
        let timer = self.timer;
        let mut started = Instant::now();
        let result = self.session.run_script(sql, |_, o| {
            let secs = started.elapsed().as_secs_f64();
            let rows = match &o {
                StatementOutput::Rows(rs) => Some(rs.rows.len()),
                StatementOutput::Ddl(_) => None,
            };
            out.push(match o {
                StatementOutput::Ddl(d) => d.console_message(),
                StatementOutput::Rows(rs) => render(&rs, mode),
            });
            if timer {
                out.push(match rows {
                    Some(n) => format!(
                        "Run time: {secs:.3} s, {n} rows, {:.1} rows/s",
                        n as f64 / secs.max(1e-9)
                    ),
                    None => format!("Run time: {secs:.3} s"),
                });
            }
            started = Instant::now();
        });
        if let Err(e) = result {
            out.push(format!("Error: {}", e.render(sql)));
        }
        out.join("\n")
    }

    fn dot_command(&mut self, line: &str) -> (String, Flow) {
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or("");
        let arg = words.next();
        let state = match self.session.catalog().snapshot() {
            Ok(s) => s,
            Err(e) => return (format!("Error: {e}"), Flow::Continue),
        };
        let all_datasets: Vec<String> = state.datasets.keys().cloned().collect();
        let out = match (cmd, arg) {
            (".quit" | ".exit", _) => return (String::new(), Flow::Quit),
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

/// Runs the shell on the terminal with line editing; history is kept in `history`.
pub fn run_interactive(
    session: &Session,
    history: Option<std::path::PathBuf>,
) -> Result<(), String> {
    use rustyline::error::ReadlineError;
    let mut rl = rustyline::DefaultEditor::new().map_err(|e| e.to_string())?;
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
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
