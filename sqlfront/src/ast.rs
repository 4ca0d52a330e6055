//! The abstract syntax tree. `Display` prints SQL that parses back to an equal tree
//! (spans aside: every `Span` compares equal).

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
    /// A query.
    Query(Box<Query>),
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
            | Statement::DropTable { span, .. } => *span,
            Statement::Query(q) => q.span,
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

/// `name = value` inside `OPTIONS(…)`.
#[derive(Clone, Debug, PartialEq)]
pub struct SqlOption {
    /// The option name (case-insensitive).
    pub name: Ident,
    /// The value expression (evaluated as a constant).
    pub value: Expr,
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

/// A query: a `SELECT` with optional `ORDER BY`, `LIMIT` and `OFFSET`.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// The `SELECT`.
    pub select: Select,
    /// `ORDER BY` items, empty when absent.
    pub order_by: Vec<OrderByExpr>,
    /// `LIMIT n`.
    pub limit: Option<Expr>,
    /// `OFFSET m` (only after `LIMIT`).
    pub offset: Option<Expr>,
    /// The whole query.
    pub span: Span,
}

/// `SELECT [DISTINCT] items [FROM …] [WHERE …]`
#[derive(Clone, Debug, PartialEq)]
pub struct Select {
    /// `DISTINCT` was given.
    pub distinct: bool,
    /// The select list.
    pub projection: Vec<SelectItem>,
    /// `FROM`, if any.
    pub from: Option<TableWithJoins>,
    /// `WHERE`, if any.
    pub selection: Option<Expr>,
    /// `GROUP BY` keys, empty when absent.
    pub group_by: Vec<Expr>,
    /// `HAVING`, if any.
    pub having: Option<Expr>,
    /// From `SELECT` to the end of the `HAVING` clause.
    pub span: Span,
}

/// One item of a select list.
#[derive(Clone, Debug, PartialEq)]
pub enum SelectItem {
    /// `expr [AS alias]`
    Expr {
        /// The expression.
        expr: Expr,
        /// The alias, if any.
        alias: Option<Ident>,
    },
    /// `*`
    Wildcard(Span),
    /// `t.*`
    QualifiedWildcard(ObjectName),
}

/// `relation [JOIN …]*`
#[derive(Clone, Debug, PartialEq)]
pub struct TableWithJoins {
    /// The first relation.
    pub relation: TableFactor,
    /// Joins applied left to right.
    pub joins: Vec<Join>,
}

/// A relation in `FROM`.
#[derive(Clone, Debug, PartialEq)]
pub enum TableFactor {
    /// A named table.
    Table {
        /// The table name.
        name: ObjectName,
        /// `[AS] alias`
        alias: Option<Ident>,
    },
    /// `(query) [AS] alias`
    Derived {
        /// The subquery.
        subquery: Box<Query>,
        /// `[AS] alias`
        alias: Option<Ident>,
        /// The parenthesised subquery.
        span: Span,
    },
    /// `ML.PREDICT(MODEL m, input [, STRUCT(…)])`
    Predict {
        /// The model name.
        model: ObjectName,
        /// The input rows.
        input: PredictInput,
        /// The optional settings `STRUCT(…)`.
        settings: Option<Expr>,
        /// `[AS] alias`
        alias: Option<Ident>,
        /// The call.
        span: Span,
    },
}

/// The second argument of `ML.PREDICT`.
#[derive(Clone, Debug, PartialEq)]
pub enum PredictInput {
    /// `TABLE name`
    Table(ObjectName),
    /// `(query)` or a bare `SELECT …`.
    Query {
        /// The query.
        query: Box<Query>,
        /// Whether it was written in parentheses.
        parenthesized: bool,
    },
}

/// `[INNER|LEFT [OUTER]] JOIN relation ON expr`
#[derive(Clone, Debug, PartialEq)]
pub struct Join {
    /// Inner or left outer.
    pub kind: JoinKind,
    /// The right-hand relation.
    pub relation: TableFactor,
    /// The join condition.
    pub on: Expr,
    /// From the join keyword to the end of the condition.
    pub span: Span,
}

/// The kind of a join.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    /// `JOIN` or `INNER JOIN`
    Inner,
    /// `LEFT [OUTER] JOIN`
    Left,
}

/// One `ORDER BY` item.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderByExpr {
    /// The sort key.
    pub expr: Expr,
    /// `DESC` was given (default ascending).
    pub desc: bool,
    /// `ASC` or `DESC` was written explicitly.
    pub explicit: bool,
}

/// An expression with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it is.
    pub span: Span,
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

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `OR`
    Or,
    /// `AND`
    And,
    /// `=`
    Eq,
    /// `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Multiply,
    /// `/`
    Divide,
    /// `||`
    Concat,
}

impl BinaryOp {
    /// The operator's text.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "OR",
            BinaryOp::And => "AND",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::Plus => "+",
            BinaryOp::Minus => "-",
            BinaryOp::Multiply => "*",
            BinaryOp::Divide => "/",
            BinaryOp::Concat => "||",
        }
    }

    /// Binding strength; higher binds tighter. Shared by the parser and `Display`.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => PREC_OR,
            BinaryOp::And => PREC_AND,
            BinaryOp::Eq
            | BinaryOp::NotEq
            | BinaryOp::Lt
            | BinaryOp::LtEq
            | BinaryOp::Gt
            | BinaryOp::GtEq => PREC_CMP,
            BinaryOp::Plus | BinaryOp::Minus => PREC_ADD,
            BinaryOp::Multiply | BinaryOp::Divide | BinaryOp::Concat => PREC_MUL,
        }
    }
}

/// Precedence of `OR`.
pub const PREC_OR: u8 = 5;
/// Precedence of `AND`.
pub const PREC_AND: u8 = 10;
/// Precedence of prefix `NOT`.
pub const PREC_NOT: u8 = 15;
/// Precedence of comparisons, `LIKE`, `IN`, `BETWEEN`, `IS`.
pub const PREC_CMP: u8 = 20;
/// Precedence of `+` and `-`.
pub const PREC_ADD: u8 = 30;
/// Precedence of `*`, `/`, `||`.
pub const PREC_MUL: u8 = 40;
/// Precedence of unary minus.
pub const PREC_UNARY: u8 = 50;
/// Precedence of subscripts and of atoms.
pub const PREC_ATOM: u8 = 100;

/// How an array is subscripted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriptMode {
    /// `a[i]` (zero-based, errors when out of range)
    Plain,
    /// `a[OFFSET(i)]`
    Offset,
    /// `a[ORDINAL(i)]`
    Ordinal,
    /// `a[SAFE_OFFSET(i)]`
    SafeOffset,
    /// `a[SAFE_ORDINAL(i)]`
    SafeOrdinal,
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

/// Expression variants.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A column or a path `t.col`, `t.col.field`.
    Column(Vec<Ident>),
    /// A literal.
    Literal(Literal),
    /// `TIMESTAMP '…'`
    TypedString {
        /// The type (only `TIMESTAMP` today).
        data_type: DataType,
        /// The text.
        value: String,
    },
    /// `[a, b]` or `ARRAY[a, b]`
    Array(Vec<Expr>),
    /// `STRUCT(a [AS x], …)`
    Struct(Vec<(Expr, Option<Ident>)>),
    /// `INTERVAL value unit`
    Interval {
        /// The amount.
        value: Box<Expr>,
        /// The unit.
        unit: IntervalUnit,
    },
    /// `NOT expr`
    Not(Box<Expr>),
    /// `-expr`
    Negate(Box<Expr>),
    /// `left op right`
    Binary {
        /// Left operand.
        left: Box<Expr>,
        /// The operator.
        op: BinaryOp,
        /// Right operand.
        right: Box<Expr>,
    },
    /// `expr [NOT] LIKE pattern`
    Like {
        /// The tested value.
        expr: Box<Expr>,
        /// `NOT LIKE`.
        negated: bool,
        /// The pattern.
        pattern: Box<Expr>,
    },
    /// `expr [NOT] IN (list)`
    InList {
        /// The tested value.
        expr: Box<Expr>,
        /// The candidates.
        list: Vec<Expr>,
        /// `NOT IN`.
        negated: bool,
    },
    /// `expr [NOT] BETWEEN low AND high`
    Between {
        /// The tested value.
        expr: Box<Expr>,
        /// `NOT BETWEEN`.
        negated: bool,
        /// Lower bound.
        low: Box<Expr>,
        /// Upper bound.
        high: Box<Expr>,
    },
    /// `expr IS [NOT] NULL`
    IsNull {
        /// The tested value.
        expr: Box<Expr>,
        /// `IS NOT NULL`.
        negated: bool,
    },
    /// `name(args)`, `name(*)`, `name(DISTINCT …)`
    Function {
        /// The function name, possibly qualified (`ML.DECODE_IMAGE`).
        name: ObjectName,
        /// The arguments.
        args: Vec<Expr>,
        /// `DISTINCT` before the arguments.
        distinct: bool,
        /// The single argument was `*` (`COUNT(*)`).
        star: bool,
    },
    /// `CAST(expr AS type)` or `SAFE_CAST(…)`
    Cast {
        /// The value.
        expr: Box<Expr>,
        /// The target type.
        data_type: DataType,
        /// `SAFE_CAST`: NULL instead of an error.
        safe: bool,
    },
    /// `CASE [operand] WHEN … THEN … [ELSE …] END`
    Case {
        /// The operand of a simple `CASE`.
        operand: Option<Box<Expr>>,
        /// `WHEN` / `THEN` pairs.
        branches: Vec<(Expr, Expr)>,
        /// `ELSE`.
        else_result: Option<Box<Expr>>,
    },
    /// `array[index]` in one of the subscript modes.
    Subscript {
        /// The array.
        expr: Box<Expr>,
        /// The index.
        index: Box<Expr>,
        /// How the index counts.
        mode: SubscriptMode,
    },
}

impl Expr {
    /// The binding strength of this expression's outermost operator.
    pub fn precedence(&self) -> u8 {
        match &self.kind {
            ExprKind::Binary { op, .. } => op.precedence(),
            ExprKind::Not(_) => PREC_NOT,
            ExprKind::Negate(_) => PREC_UNARY,
            ExprKind::Like { .. }
            | ExprKind::InList { .. }
            | ExprKind::Between { .. }
            | ExprKind::IsNull { .. } => PREC_CMP,
            ExprKind::Literal(Literal::Int(i)) if *i < 0 => PREC_UNARY,
            ExprKind::Literal(Literal::Float(x)) if x.is_sign_negative() => PREC_UNARY,
            _ => PREC_ATOM,
        }
    }
}

/// Writes `e`, parenthesised when its precedence is below `min`.
fn write_operand(f: &mut Formatter<'_>, e: &Expr, min: u8) -> fmt::Result {
    if e.precedence() < min {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
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

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Column(parts) => {
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        f.write_char('.')?;
                    }
                    // After a dot, reserved words are plain field names (`t.select`).
                    if i > 0 && !p.quoted && plain_ident_ok(&format!("x{}", p.value)) {
                        f.write_str(&p.value)?;
                    } else {
                        write!(f, "{p}")?;
                    }
                }
                Ok(())
            }
            ExprKind::Literal(l) => write!(f, "{l}"),
            ExprKind::TypedString { data_type, value } => {
                write!(f, "{data_type} ")?;
                write_string_literal(f, value)
            }
            ExprKind::Array(items) => {
                f.write_char('[')?;
                comma_list(f, items)?;
                f.write_char(']')
            }
            ExprKind::Struct(fields) => {
                f.write_str("STRUCT(")?;
                for (i, (e, alias)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{e}")?;
                    if let Some(a) = alias {
                        write!(f, " AS {a}")?;
                    }
                }
                f.write_char(')')
            }
            ExprKind::Interval { value, unit } => {
                f.write_str("INTERVAL ")?;
                write_operand(f, value, PREC_UNARY)?;
                write!(f, " {}", unit.name())
            }
            ExprKind::Not(e) => {
                f.write_str("NOT ")?;
                write_operand(f, e, PREC_NOT)
            }
            ExprKind::Negate(e) => {
                // A minus directly before a number becomes part of the literal when read
                // back, and `--` starts a comment: parenthesise an operand whose text
                // starts with a digit, `.` or `-`.
                let inner = e.to_string();
                let wrap = e.precedence() < PREC_ATOM
                    || inner.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == '-');
                if wrap {
                    write!(f, "-({inner})")
                } else {
                    write!(f, "-{inner}")
                }
            }
            ExprKind::Binary { left, op, right } => {
                // Operators of equal precedence, comparisons included, group to the left
                // (`a = b = c` is `(a = b) = c`), as the parser reads them.
                let p = op.precedence();
                write_operand(f, left, p)?;
                write!(f, " {} ", op.symbol())?;
                write_operand(f, right, p + 1)
            }
            ExprKind::Like {
                expr,
                negated,
                pattern,
            } => {
                write_operand(f, expr, PREC_CMP + 1)?;
                f.write_str(if *negated { " NOT LIKE " } else { " LIKE " })?;
                write_operand(f, pattern, PREC_CMP + 1)
            }
            ExprKind::InList {
                expr,
                list,
                negated,
            } => {
                write_operand(f, expr, PREC_CMP + 1)?;
                f.write_str(if *negated { " NOT IN (" } else { " IN (" })?;
                comma_list(f, list)?;
                f.write_char(')')
            }
            ExprKind::Between {
                expr,
                negated,
                low,
                high,
            } => {
                write_operand(f, expr, PREC_CMP + 1)?;
                f.write_str(if *negated {
                    " NOT BETWEEN "
                } else {
                    " BETWEEN "
                })?;
                write_operand(f, low, PREC_CMP + 1)?;
                f.write_str(" AND ")?;
                write_operand(f, high, PREC_CMP + 1)
            }
            ExprKind::IsNull { expr, negated } => {
                write_operand(f, expr, PREC_CMP + 1)?;
                f.write_str(if *negated { " IS NOT NULL" } else { " IS NULL" })
            }
            ExprKind::Function {
                name,
                args,
                distinct,
                star,
            } => {
                // Function names print as written: `IF` and `LEFT` are reserved words but
                // valid function names.
                for (i, p) in name.parts.iter().enumerate() {
                    if i > 0 {
                        f.write_char('.')?;
                    }
                    if p.quoted {
                        write!(f, "{p}")?;
                    } else {
                        f.write_str(&p.value)?;
                    }
                }
                f.write_char('(')?;
                if *star {
                    f.write_char('*')?;
                } else {
                    if *distinct {
                        f.write_str("DISTINCT ")?;
                    }
                    comma_list(f, args)?;
                }
                f.write_char(')')
            }
            ExprKind::Cast {
                expr,
                data_type,
                safe,
            } => {
                let kw = if *safe { "SAFE_CAST" } else { "CAST" };
                write!(f, "{kw}({expr} AS {data_type})")
            }
            ExprKind::Case {
                operand,
                branches,
                else_result,
            } => {
                f.write_str("CASE")?;
                if let Some(o) = operand {
                    write!(f, " {o}")?;
                }
                for (w, t) in branches {
                    write!(f, " WHEN {w} THEN {t}")?;
                }
                if let Some(e) = else_result {
                    write!(f, " ELSE {e}")?;
                }
                f.write_str(" END")
            }
            ExprKind::Subscript { expr, index, mode } => {
                write_operand(f, expr, PREC_ATOM)?;
                match mode {
                    SubscriptMode::Plain => write!(f, "[{index}]"),
                    SubscriptMode::Offset => write!(f, "[OFFSET({index})]"),
                    SubscriptMode::Ordinal => write!(f, "[ORDINAL({index})]"),
                    SubscriptMode::SafeOffset => write!(f, "[SAFE_OFFSET({index})]"),
                    SubscriptMode::SafeOrdinal => write!(f, "[SAFE_ORDINAL({index})]"),
                }
            }
        }
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

fn write_alias(f: &mut Formatter<'_>, alias: &Option<Ident>) -> fmt::Result {
    match alias {
        Some(a) => write!(f, " AS {a}"),
        None => Ok(()),
    }
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
                if !columns.is_empty() {
                    f.write_str(" (")?;
                    for (i, c) in columns.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{} {}", c.name, c.data_type)?;
                    }
                    f.write_char(')')?;
                }
                match connection {
                    Some(Connection::Named(n)) => write!(f, " WITH CONNECTION {n}")?,
                    Some(Connection::Default(_)) => f.write_str(" WITH CONNECTION DEFAULT")?,
                    None => {}
                }
                write_options(f, options)
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
            Statement::Query(q) => write!(f, "{q}"),
        }
    }
}

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.select)?;
        if !self.order_by.is_empty() {
            f.write_str(" ORDER BY ")?;
            for (i, o) in self.order_by.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{}", o.expr)?;
                if o.explicit {
                    f.write_str(if o.desc { " DESC" } else { " ASC" })?;
                }
            }
        }
        if let Some(l) = &self.limit {
            write!(f, " LIMIT {l}")?;
        }
        if let Some(o) = &self.offset {
            write!(f, " OFFSET {o}")?;
        }
        Ok(())
    }
}

impl Display for Select {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        if self.distinct {
            f.write_str("DISTINCT ")?;
        }
        for (i, item) in self.projection.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match item {
                SelectItem::Expr { expr, alias } => {
                    write!(f, "{expr}")?;
                    write_alias(f, alias)?;
                }
                SelectItem::Wildcard(_) => f.write_char('*')?,
                SelectItem::QualifiedWildcard(n) => write!(f, "{n}.*")?,
            }
        }
        if let Some(from) = &self.from {
            write!(f, " FROM {}", from.relation)?;
            for j in &from.joins {
                let kw = match j.kind {
                    JoinKind::Inner => "JOIN",
                    JoinKind::Left => "LEFT JOIN",
                };
                write!(f, " {kw} {} ON {}", j.relation, j.on)?;
            }
        }
        if let Some(w) = &self.selection {
            write!(f, " WHERE {w}")?;
        }
        if !self.group_by.is_empty() {
            f.write_str(" GROUP BY ")?;
            comma_list(f, &self.group_by)?;
        }
        if let Some(h) = &self.having {
            write!(f, " HAVING {h}")?;
        }
        Ok(())
    }
}

impl Display for TableFactor {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            TableFactor::Table { name, alias } => {
                write!(f, "{name}")?;
                write_alias(f, alias)
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                write!(f, "({subquery})")?;
                write_alias(f, alias)
            }
            TableFactor::Predict {
                model,
                input,
                settings,
                alias,
                ..
            } => {
                write!(f, "ML.PREDICT(MODEL {model}, ")?;
                match input {
                    PredictInput::Table(t) => write!(f, "TABLE {t}")?,
                    PredictInput::Query {
                        query,
                        parenthesized: true,
                    } => write!(f, "({query})")?,
                    PredictInput::Query { query, .. } => write!(f, "{query}")?,
                }
                if let Some(s) = settings {
                    write!(f, ", {s}")?;
                }
                f.write_char(')')?;
                write_alias(f, alias)
            }
        }
    }
}
