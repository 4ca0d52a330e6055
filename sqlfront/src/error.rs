//! Source positions and the one error type of the SQL front-end.

use std::fmt;

/// A region of the SQL source text.
///
/// `line` and `col` are 1-based and count characters; `offset` and `len` are byte
/// positions in the source. Every `Span` compares equal to every other `Span`, so that
/// ASTs can be compared "modulo spans" with the derived `PartialEq`; compare the fields
/// when a test cares about positions.
#[derive(Clone, Copy, Debug, Default, Eq)]
pub struct Span {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
    /// Byte offset of the first byte.
    pub offset: u32,
    /// Length in bytes.
    pub len: u32,
}

impl PartialEq for Span {
    fn eq(&self, _other: &Span) -> bool {
        true
    }
}

impl std::hash::Hash for Span {
    fn hash<H: std::hash::Hasher>(&self, _state: &mut H) {}
}

impl Span {
    /// The smallest span covering `self` and `other` (`self` must start first).
    pub fn to(self, other: Span) -> Span {
        let end = (other.offset + other.len).max(self.offset + self.len);
        Span {
            len: end.saturating_sub(self.offset),
            ..self
        }
    }

    /// Field-by-field equality (the `PartialEq` impl ignores positions).
    pub fn same_position(&self, other: &Span) -> bool {
        (self.line, self.col, self.offset, self.len)
            == (other.line, other.col, other.offset, other.len)
    }
}

/// What went wrong, in BigQuery's error classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text is not valid SQL for this dialect.
    Syntax,
    /// The statement is well-formed but wrong (bad names, types, options).
    InvalidQuery,
    /// A dataset, table or model does not exist.
    NotFound,
    /// A dataset, table or model already exists.
    AlreadyExists,
    /// Valid BigQuery that this engine does not run (yet).
    NotSupported,
    /// A file-system or catalog-storage failure.
    Io,
    /// The statement was cancelled (Ctrl-C) before it finished.
    Cancelled,
}

/// An error with an optional position in the SQL text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlError {
    /// The error class.
    pub kind: ErrorKind,
    /// The message, without position.
    pub message: String,
    /// Where in the source the error is, when it comes from SQL text.
    pub span: Option<Span>,
}

/// Result alias used throughout the crate.
pub type Result<T, E = SqlError> = std::result::Result<T, E>;

impl SqlError {
    /// An error of `kind` with no position.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> SqlError {
        SqlError {
            kind,
            message: message.into(),
            span: None,
        }
    }

    /// An error of `kind` at `span`.
    pub fn at(kind: ErrorKind, message: impl Into<String>, span: Span) -> SqlError {
        SqlError {
            kind,
            message: message.into(),
            span: Some(span),
        }
    }

    /// A syntax error at `span`.
    pub fn syntax(message: impl Into<String>, span: Span) -> SqlError {
        SqlError::at(ErrorKind::Syntax, message, span)
    }

    /// An invalid-query error at `span`.
    pub fn invalid(message: impl Into<String>, span: Span) -> SqlError {
        SqlError::at(ErrorKind::InvalidQuery, message, span)
    }

    /// An I/O error; `what` says which file or operation.
    pub fn io(what: impl fmt::Display, err: std::io::Error) -> SqlError {
        SqlError::new(ErrorKind::Io, format!("{what}: {err}"))
    }

    /// Attaches `span` if the error has no position yet. A span with line 0 (the
    /// default, used for names that do not come from SQL text) is no position.
    pub fn with_span(mut self, span: Span) -> SqlError {
        if self.span.is_none() && span.line > 0 {
            self.span = Some(span);
        }
        self
    }

    /// The message with BigQuery's `at [line:col]` suffix, then the source line and a
    /// caret under the offending text.
    pub fn render(&self, source: &str) -> String {
        let mut out = self.to_string();
        if let Some(span) = self.span {
            if let Some(line) = source.lines().nth(span.line.saturating_sub(1) as usize) {
                let line = line.trim_end_matches('\r');
                let col = span.col.max(1) as usize - 1;
                let pad: String = line
                    .chars()
                    .take(col)
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                let width = source
                    .get(span.offset as usize..(span.offset + span.len) as usize)
                    .map(|s| s.lines().next().unwrap_or("").chars().count())
                    .unwrap_or(1)
                    .max(1);
                out.push('\n');
                out.push_str(line);
                out.push('\n');
                out.push_str(&pad);
                out.push_str(&"^".repeat(width));
            }
        }
        out
    }
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == ErrorKind::Syntax {
            write!(f, "Syntax error: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(s) = self.span {
            write!(f, " at [{}:{}]", s.line, s.col)?;
        }
        Ok(())
    }
}

impl std::error::Error for SqlError {}
