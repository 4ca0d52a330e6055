//! The syntax tree of bqmlc's own statements (datasets, models, external tables); a
//! query is kept as text for DataFusion. `Display` prints SQL that parses back to an
//! equal tree (spans aside: every `Span` compares equal).

use crate::error::Span;
use std::fmt::{self, Display, Formatter, Write};

/// BigQuery's reserved keywords: they cannot be unquoted identifiers.
const RESERVED: &[&str] = &[
    "ALL",
    "AND",
    "ANY",
    "ARRAY",
    "AS",
    "ASC",
    "ASSERT_ROWS_MODIFIED",
    "AT",
    "BETWEEN",
    "BY",
    "CASE",
    "CAST",
    "COLLATE",
    "CONTAINS",
    "CREATE",
    "CROSS",
    "CUBE",
    "CURRENT",
    "DEFAULT",
    "DEFINE",
    "DESC",
    "DISTINCT",
    "ELSE",
    "END",
    "ENUM",
    "ESCAPE",
    "EXCEPT",
    "EXCLUDE",
    "EXISTS",
    "EXTRACT",
    "FALSE",
    "FETCH",
    "FOLLOWING",
    "FOR",
    "FROM",
    "FULL",
    "GROUP",
    "GROUPING",
    "GROUPS",
    "HASH",
    "HAVING",
    "IF",
    "IGNORE",
    "IN",
    "INNER",
    "INTERSECT",
    "INTERVAL",
    "INTO",
    "IS",
    "JOIN",
    "LATERAL",
    "LEFT",
    "LIKE",
    "LIMIT",
    "LOOKUP",
    "MERGE",
    "NATURAL",
    "NEW",
    "NO",
    "NOT",
    "NULL",
    "NULLS",
    "OF",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "OVER",
    "PARTITION",
    "PRECEDING",
    "PROTO",
    "QUALIFY",
    "RANGE",
    "RECURSIVE",
    "RESPECT",
    "RIGHT",
    "ROLLUP",
    "ROWS",
    "SELECT",
    "SET",
    "SOME",
    "STRUCT",
    "TABLESAMPLE",
    "THEN",
    "TO",
    "TREAT",
    "TRUE",
    "UNBOUNDED",
    "UNION",
    "UNNEST",
    "USING",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
    "WITHIN",
];

/// True when `word` is a reserved keyword (case-insensitive).
pub fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// An identifier. `quoted` records backticks so that `Display` can reproduce them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ident {
    /// The name, unescaped.
    pub value: String,
    /// Whether it was written in backticks.
    pub quoted: bool,
    /// Where it is.
    pub span: Span,
}

impl Ident {
    /// An unquoted identifier without a position.
    pub fn new(value: impl Into<String>) -> Ident {
        Ident {
            value: value.into(),
            quoted: false,
            span: Span::default(),
        }
    }
}

fn plain_ident_ok(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !is_reserved(s)
}

impl Display for Ident {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.quoted || !plain_ident_ok(&self.value) {
            f.write_char('`')?;
            for c in self.value.chars() {
                match c {
                    '`' => f.write_str("\\`")?,
                    '\\' => f.write_str("\\\\")?,
                    '\n' => f.write_str("\\n")?,
                    '\r' => f.write_str("\\r")?,
                    '\t' => f.write_str("\\t")?,
                    c if c.is_control() => write!(f, "\\U{:08x}", c as u32)?,
                    c => f.write_char(c)?,
                }
            }
            f.write_char('`')
        } else {
            f.write_str(&self.value)
        }
    }
}

/// A dotted name such as `ds.model` or `project.ds.table`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectName {
    /// The parts, outermost first; backtick names containing dots are split into parts.
    pub parts: Vec<Ident>,
    /// Where the whole name is.
    pub span: Span,
}

impl ObjectName {
    /// The parts joined by dots, without quoting (for messages and lookups).
    pub fn dotted(&self) -> String {
        self.parts
            .iter()
            .map(|p| p.value.as_str())
            .collect::<Vec<_>>()
            .join(".")
    }
}

impl Display for ObjectName {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, p) in self.parts.iter().enumerate() {
            if i > 0 {
                f.write_char('.')?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// One SQL statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    /// `CREATE SCHEMA [IF NOT EXISTS] name [OPTIONS(…)]`
    CreateSchema {
        /// The dataset name (`ds` or `project.ds`).
        name: ObjectName,
        /// `IF NOT EXISTS` was given.
        if_not_exists: bool,
        /// `OPTIONS(…)`, empty when absent.
        options: Vec<SqlOption>,
        /// The whole statement.
        span: Span,
    },
    /// `DROP SCHEMA [IF EXISTS] name [CASCADE|RESTRICT]`
    DropSchema {
        /// The dataset name.
        name: ObjectName,
        /// `IF EXISTS` was given.
        if_exists: bool,
        /// `CASCADE` or `RESTRICT`, if given.
        behavior: Option<DropBehavior>,
        /// The whole statement.
        span: Span,
    },
    /// `CREATE [OR REPLACE] MODEL [IF NOT EXISTS] name OPTIONS(…)`
    CreateModel {
        /// The model name.
        name: ObjectName,
        /// `OR REPLACE` was given.
        or_replace: bool,
        /// `IF NOT EXISTS` was given.
        if_not_exists: bool,
        /// `OPTIONS(…)`.
        options: Vec<SqlOption>,
        /// The whole statement.
        span: Span,
    },
    /// `DROP MODEL [IF EXISTS] name`
    DropModel {
        /// The model name.
        name: ObjectName,
        /// `IF EXISTS` was given.
        if_exists: bool,
        /// The whole statement.
        span: Span,
    },
    /// `CREATE [OR REPLACE] EXTERNAL TABLE [IF NOT EXISTS] name [(cols)] [WITH CONNECTION …] OPTIONS(…)`
    CreateExternalTable {
        /// The table name.
        name: ObjectName,
        /// `OR REPLACE` was given.
        or_replace: bool,
        /// `IF NOT EXISTS` was given.
        if_not_exists: bool,
        /// The column list, empty when absent.
        columns: Vec<ColumnDef>,
        /// `WITH CONNECTION …`, if given.
        connection: Option<Connection>,
        /// `OPTIONS(…)`.
        options: Vec<SqlOption>,
        /// The whole statement.
        span: Span,
    },
    /// `DROP [EXTERNAL] TABLE [IF EXISTS] name`
    DropTable {
        /// The table name.
        name: ObjectName,
        /// `EXTERNAL` was written.
        external: bool,
        /// `IF EXISTS` was given.
        if_exists: bool,
        /// The whole statement.
        span: Span,
    },
    /// `CREATE [OR REPLACE] TABLE [IF NOT EXISTS] name [(cols)] [OPTIONS(…)] [AS query]`:
    /// a table stored as Parquet in the data directory.
    CreateTable {
        /// The table name.
        name: ObjectName,
        /// `OR REPLACE` was given.
        or_replace: bool,
        /// `IF NOT EXISTS` was given.
        if_not_exists: bool,
        /// The column list, empty when absent.
        columns: Vec<ColumnDef>,
        /// `OPTIONS(…)`, empty when absent.
        options: Vec<SqlOption>,
        /// `AS query`, if given.
        query: Option<QueryText>,
        /// The whole statement.
        span: Span,
    },
    /// `INSERT [INTO] name [(cols)] query`, the query being a `SELECT …` or `VALUES …`.
    Insert {
        /// The table name.
        name: ObjectName,
        /// The column list, empty when absent (every column, in order).
        columns: Vec<Ident>,
        /// The rows to insert.
        query: QueryText,
        /// The whole statement.
        span: Span,
    },
    /// `EXPORT DATA [WITH CONNECTION …] OPTIONS(…) AS query`
    ExportData {
        /// `WITH CONNECTION …`, if given.
        connection: Option<Connection>,
        /// `OPTIONS(uri = …, format = …, …)`.
        options: Vec<SqlOption>,
        /// The rows to export.
        query: QueryText,
        /// The whole statement.
        span: Span,
    },
    /// A query (`SELECT …`, `WITH …`, `VALUES …`, `(…)`), kept as written: DataFusion
    /// parses and plans it.
    Query(QueryText),
}

impl Statement {
    /// The span of the whole statement.
    pub fn span(&self) -> Span {
        match self {
            Statement::CreateSchema { span, .. }
            | Statement::DropSchema { span, .. }
            | Statement::CreateModel { span, .. }
            | Statement::DropModel { span, .. }
            | Statement::CreateExternalTable { span, .. }
            | Statement::DropTable { span, .. }
            | Statement::CreateTable { span, .. }
            | Statement::Insert { span, .. }
            | Statement::ExportData { span, .. } => *span,
            Statement::Query(q) => q.span,
        }
    }

    /// The query this statement runs, if any: a query statement's own text, or the
    /// `AS`/`SELECT` part of CREATE TABLE, INSERT and EXPORT DATA.
    pub fn query(&self) -> Option<&QueryText> {
        match self {
            Statement::Query(q)
            | Statement::Insert { query: q, .. }
            | Statement::ExportData { query: q, .. } => Some(q),
            Statement::CreateTable { query, .. } => query.as_ref(),
            _ => None,
        }
    }
}

/// `CASCADE` or `RESTRICT` in `DROP SCHEMA`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropBehavior {
    /// Drop the contents too.
    Cascade,
    /// Fail if the dataset is not empty.
    Restrict,
}

/// The connection of an external table.
#[derive(Clone, Debug, PartialEq)]
pub enum Connection {
    /// `WITH CONNECTION name`
    Named(ObjectName),
    /// `WITH CONNECTION DEFAULT`
    Default(Span),
}

/// The text of a query statement and where it is in the script.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryText {
    /// The statement's text, from its first token to its last.
    pub text: String,
    /// Where it is.
    pub span: Span,
}

impl QueryText {
    /// The text preceded by blank lines and spaces so that its line:column positions
    /// are those of the script. Byte offsets within it are
    /// [`QueryText::offset_shift`] less than the script's.
    pub fn positioned(&self) -> String {
        let line = self.span.line.saturating_sub(1) as usize;
        let col = self.span.col.saturating_sub(1) as usize;
        let mut s = String::with_capacity(line + col + self.text.len());
        s.extend(std::iter::repeat_n('\n', line));
        s.extend(std::iter::repeat_n(' ', col));
        s.push_str(&self.text);
        s
    }

    /// The span of the query's first word, where an error without a position of its own
    /// is shown.
    pub fn head_span(&self) -> Span {
        let len = self
            .text
            .find(|c: char| c.is_whitespace())
            .unwrap_or(self.text.len());
        Span {
            len: len as u32,
            ..self.span
        }
    }

    /// What to add to a byte offset in [`QueryText::positioned`] to get the script's.
    pub fn offset_shift(&self) -> u32 {
        let prefix = self.span.line.saturating_sub(1) + self.span.col.saturating_sub(1);
        self.span.offset.saturating_sub(prefix)
    }
}

/// `name = value` inside `OPTIONS(…)`.
#[derive(Clone, Debug, PartialEq)]
pub struct SqlOption {
    /// The option name (case-insensitive).
    pub name: Ident,
    /// The value.
    pub value: OptionValue,
    /// Where the value is.
    pub span: Span,
}

/// An option value: a constant, as BigQuery's DDL options take.
#[derive(Clone, Debug, PartialEq)]
pub enum OptionValue {
    /// `'text'`, `42`, `-1.5`, `TRUE`, `NULL`, `b'…'`.
    Literal(Literal),
    /// `[v, …]` (also written `ARRAY[v, …]`).
    Array(Vec<OptionValue>),
    /// `(v, v, …)`: a STRUCT's fields in order, e.g. the pairs of `labels = [('k', 'v')]`.
    Tuple(Vec<OptionValue>),
    /// `INTERVAL n UNIT` or `INTERVAL 'text' UNIT [TO UNIT]`.
    Interval {
        /// The count (an integer) or the text of a range interval.
        value: Literal,
        /// The unit, or the first unit of a range.
        unit: IntervalUnit,
        /// The last unit of a range (`… HOUR TO SECOND`).
        to: Option<IntervalUnit>,
    },
}

impl OptionValue {
    /// The BigQuery type name of the value, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            OptionValue::Literal(Literal::Null) => "NULL",
            OptionValue::Literal(Literal::Bool(_)) => "BOOL",
            OptionValue::Literal(Literal::Int(_)) => "INT64",
            OptionValue::Literal(Literal::Float(_)) => "FLOAT64",
            OptionValue::Literal(Literal::String(_)) => "STRING",
            OptionValue::Literal(Literal::Bytes(_)) => "BYTES",
            OptionValue::Array(_) => "ARRAY",
            OptionValue::Tuple(_) => "STRUCT",
            OptionValue::Interval { .. } => "INTERVAL",
        }
    }
}

impl Display for OptionValue {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            OptionValue::Literal(l) => write!(f, "{l}"),
            OptionValue::Array(items) => {
                f.write_char('[')?;
                comma_list(f, items)?;
                f.write_char(']')
            }
            OptionValue::Tuple(items) => {
                f.write_char('(')?;
                comma_list(f, items)?;
                f.write_char(')')
            }
            OptionValue::Interval { value, unit, to } => {
                write!(f, "INTERVAL {value} {}", unit.name())?;
                match to {
                    Some(t) => write!(f, " TO {}", t.name()),
                    None => Ok(()),
                }
            }
        }
    }
}

/// A column in a `CREATE … TABLE` column list.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnDef {
    /// The column name.
    pub name: Ident,
    /// Its type.
    pub data_type: DataType,
    /// Where the definition is.
    pub span: Span,
}

/// A SQL type, with BigQuery's aliases resolved (`INT` is `INT64`, …).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    /// `BOOL`
    Bool,
    /// `INT64`
    Int64,
    /// `FLOAT64`
    Float64,
    /// `STRING`
    String,
    /// `BYTES`
    Bytes,
    /// `TIMESTAMP`
    Timestamp,
    /// `DATE`
    Date,
    /// `INTERVAL`
    Interval,
    /// `ARRAY<T>`
    Array(Box<DataType>),
    /// `STRUCT<name T, …>`; names are optional.
    Struct(Vec<(Option<String>, DataType)>),
}

impl Display for DataType {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            DataType::Bool => f.write_str("BOOL"),
            DataType::Int64 => f.write_str("INT64"),
            DataType::Float64 => f.write_str("FLOAT64"),
            DataType::String => f.write_str("STRING"),
            DataType::Bytes => f.write_str("BYTES"),
            DataType::Timestamp => f.write_str("TIMESTAMP"),
            DataType::Date => f.write_str("DATE"),
            DataType::Interval => f.write_str("INTERVAL"),
            DataType::Array(t) => write!(f, "ARRAY<{t}>"),
            DataType::Struct(fields) => {
                f.write_str("STRUCT<")?;
                for (i, (n, t)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    if let Some(n) = n {
                        write!(f, "{} ", Ident::new(n.clone()))?;
                    }
                    write!(f, "{t}")?;
                }
                f.write_char('>')
            }
        }
    }
}

/// Units of `INTERVAL n unit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntervalUnit {
    /// `YEAR`
    Year,
    /// `QUARTER`
    Quarter,
    /// `MONTH`
    Month,
    /// `WEEK`
    Week,
    /// `DAY`
    Day,
    /// `HOUR`
    Hour,
    /// `MINUTE`
    Minute,
    /// `SECOND`
    Second,
    /// `MILLISECOND`
    Millisecond,
    /// `MICROSECOND`
    Microsecond,
}

impl IntervalUnit {
    /// All units with their keywords.
    pub const ALL: [(IntervalUnit, &'static str); 10] = [
        (IntervalUnit::Year, "YEAR"),
        (IntervalUnit::Quarter, "QUARTER"),
        (IntervalUnit::Month, "MONTH"),
        (IntervalUnit::Week, "WEEK"),
        (IntervalUnit::Day, "DAY"),
        (IntervalUnit::Hour, "HOUR"),
        (IntervalUnit::Minute, "MINUTE"),
        (IntervalUnit::Second, "SECOND"),
        (IntervalUnit::Millisecond, "MILLISECOND"),
        (IntervalUnit::Microsecond, "MICROSECOND"),
    ];

    /// The keyword.
    pub fn name(self) -> &'static str {
        IntervalUnit::ALL
            .iter()
            .find(|(u, _)| *u == self)
            .map_or("DAY", |(_, n)| n)
    }
}

/// Literal values.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// `NULL`
    Null,
    /// `TRUE` / `FALSE`
    Bool(bool),
    /// An integer (negative when written with a leading minus).
    Int(i64),
    /// A floating-point number (always finite).
    Float(f64),
    /// A string.
    String(String),
    /// A bytes literal.
    Bytes(Vec<u8>),
}

/// Writes a string literal with escapes the tokenizer reads back.
pub fn write_string_literal(f: &mut impl Write, s: &str) -> fmt::Result {
    f.write_char('\'')?;
    for c in s.chars() {
        match c {
            '\'' => f.write_str("\\'")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c.is_control() => write!(f, "\\U{:08x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('\'')
}

fn write_float(f: &mut Formatter<'_>, x: f64) -> fmt::Result {
    // `{:?}` is the shortest text that parses back to the same f64 and always has a
    // `.` or an exponent, so it reads back as a float.
    write!(f, "{x:?}")
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("NULL"),
            Literal::Bool(true) => f.write_str("TRUE"),
            Literal::Bool(false) => f.write_str("FALSE"),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Float(x) => write_float(f, *x),
            Literal::String(s) => write_string_literal(f, s),
            Literal::Bytes(b) => {
                f.write_str("b'")?;
                for &byte in b {
                    match byte {
                        b'\'' => f.write_str("\\'")?,
                        b'\\' => f.write_str("\\\\")?,
                        0x20..=0x7e => f.write_char(byte as char)?,
                        _ => write!(f, "\\x{byte:02x}")?,
                    }
                }
                f.write_char('\'')
            }
        }
    }
}

fn comma_list<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{it}")?;
    }
    Ok(())
}

fn write_columns(f: &mut Formatter<'_>, columns: &[ColumnDef]) -> fmt::Result {
    if columns.is_empty() {
        return Ok(());
    }
    f.write_str(" (")?;
    for (i, c) in columns.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{} {}", c.name, c.data_type)?;
    }
    f.write_char(')')
}

fn write_connection(f: &mut Formatter<'_>, connection: &Option<Connection>) -> fmt::Result {
    match connection {
        Some(Connection::Named(n)) => write!(f, " WITH CONNECTION {n}"),
        Some(Connection::Default(_)) => f.write_str(" WITH CONNECTION DEFAULT"),
        None => Ok(()),
    }
}

fn write_options(f: &mut Formatter<'_>, options: &[SqlOption]) -> fmt::Result {
    if options.is_empty() {
        return Ok(());
    }
    f.write_str(" OPTIONS(")?;
    for (i, o) in options.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{} = {}", o.name, o.value)?;
    }
    f.write_char(')')
}

impl Display for Statement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Statement::CreateSchema {
                name,
                if_not_exists,
                options,
                ..
            } => {
                f.write_str("CREATE SCHEMA ")?;
                if *if_not_exists {
                    f.write_str("IF NOT EXISTS ")?;
                }
                write!(f, "{name}")?;
                write_options(f, options)
            }
            Statement::DropSchema {
                name,
                if_exists,
                behavior,
                ..
            } => {
                f.write_str("DROP SCHEMA ")?;
                if *if_exists {
                    f.write_str("IF EXISTS ")?;
                }
                write!(f, "{name}")?;
                match behavior {
                    Some(DropBehavior::Cascade) => f.write_str(" CASCADE"),
                    Some(DropBehavior::Restrict) => f.write_str(" RESTRICT"),
                    None => Ok(()),
                }
            }
            Statement::CreateModel {
                name,
                or_replace,
                if_not_exists,
                options,
                ..
            } => {
                f.write_str("CREATE ")?;
                if *or_replace {
                    f.write_str("OR REPLACE ")?;
                }
                f.write_str("MODEL ")?;
                if *if_not_exists {
                    f.write_str("IF NOT EXISTS ")?;
                }
                write!(f, "{name}")?;
                write_options(f, options)
            }
            Statement::DropModel {
                name, if_exists, ..
            } => {
                f.write_str("DROP MODEL ")?;
                if *if_exists {
                    f.write_str("IF EXISTS ")?;
                }
                write!(f, "{name}")
            }
            Statement::CreateExternalTable {
                name,
                or_replace,
                if_not_exists,
                columns,
                connection,
                options,
                ..
            } => {
                f.write_str("CREATE ")?;
                if *or_replace {
                    f.write_str("OR REPLACE ")?;
                }
                f.write_str("EXTERNAL TABLE ")?;
                if *if_not_exists {
                    f.write_str("IF NOT EXISTS ")?;
                }
                write!(f, "{name}")?;
                write_columns(f, columns)?;
                write_connection(f, connection)?;
                write_options(f, options)
            }
            Statement::CreateTable {
                name,
                or_replace,
                if_not_exists,
                columns,
                options,
                query,
                ..
            } => {
                f.write_str("CREATE ")?;
                if *or_replace {
                    f.write_str("OR REPLACE ")?;
                }
                f.write_str("TABLE ")?;
                if *if_not_exists {
                    f.write_str("IF NOT EXISTS ")?;
                }
                write!(f, "{name}")?;
                write_columns(f, columns)?;
                write_options(f, options)?;
                match query {
                    Some(q) => write!(f, " AS {}", q.text),
                    None => Ok(()),
                }
            }
            Statement::Insert {
                name,
                columns,
                query,
                ..
            } => {
                write!(f, "INSERT INTO {name}")?;
                if !columns.is_empty() {
                    f.write_str(" (")?;
                    comma_list(f, columns)?;
                    f.write_char(')')?;
                }
                write!(f, " {}", query.text)
            }
            Statement::ExportData {
                connection,
                options,
                query,
                ..
            } => {
                f.write_str("EXPORT DATA")?;
                write_connection(f, connection)?;
                write_options(f, options)?;
                write!(f, " AS {}", query.text)
            }
            Statement::DropTable {
                name,
                external,
                if_exists,
                ..
            } => {
                f.write_str(if *external {
                    "DROP EXTERNAL TABLE "
                } else {
                    "DROP TABLE "
                })?;
                if *if_exists {
                    f.write_str("IF EXISTS ")?;
                }
                write!(f, "{name}")
            }
            Statement::Query(q) => f.write_str(&q.text),
        }
    }
}
