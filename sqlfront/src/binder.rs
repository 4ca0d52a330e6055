//! Resolves names in expressions against the columns in scope and evaluates the
//! resulting bound expressions over rows.

use crate::agg_names::{call_name, AGGREGATES, SUPPORTED};
use crate::ast::{BinaryOp, DataType, Expr, ExprKind, Ident, IntervalUnit, Literal, SubscriptMode};
use crate::error::{ErrorKind, Result, Span, SqlError};
use crate::value::{parse_timestamp, Interval, Value};

/// A column visible to expressions.
#[derive(Clone, Debug, PartialEq)]
pub struct ScopeColumn {
    /// Names that qualify it (`t`, `ds.t`), empty for derived columns without alias.
    pub qualifiers: Vec<String>,
    /// The column name.
    pub name: String,
    /// Declared type, when known before reading rows.
    pub data_type: Option<DataType>,
    /// Pseudo-columns (an object table's `data`) are addressable but not part of `*`.
    pub hidden: bool,
}

impl ScopeColumn {
    /// A visible, unqualified column.
    pub fn new(name: impl Into<String>, data_type: Option<DataType>) -> ScopeColumn {
        ScopeColumn {
            qualifiers: Vec::new(),
            name: name.into(),
            data_type,
            hidden: false,
        }
    }
}

/// Scalar functions supplied outside this crate (the `ML.*` image functions).
pub trait ScalarFunctions: Send + Sync {
    /// True when `name` (upper-case, dotted) is provided.
    fn has_function(&self, name: &str) -> bool;
    /// Calls `name`; the error message is reported at the call site.
    fn call(&self, name: &str, args: &[Value]) -> std::result::Result<Value, String>;
}

/// No external functions.
pub struct NoFunctions;

impl ScalarFunctions for NoFunctions {
    fn has_function(&self, _name: &str) -> bool {
        false
    }
    fn call(&self, name: &str, _args: &[Value]) -> std::result::Result<Value, String> {
        Err(format!("Function not found: {name}"))
    }
}

/// An expression with column references resolved to row positions.
#[derive(Clone, Debug)]
pub struct Bound {
    /// What to compute.
    pub kind: BoundKind,
    /// Where it came from, for runtime errors.
    pub span: Span,
}

impl Bound {
    /// True if evaluating this expression calls an external (`ML.*`) function.
    pub fn calls_external(&self) -> bool {
        use BoundKind::*;
        let any = |v: &[Bound]| v.iter().any(Bound::calls_external);
        match &self.kind {
            External(..) => true,
            Column(_) | Const(_) => false,
            Field(e, _) | Interval(e, _) | Not(e) | Negate(e) | IsNull(e, _) | Cast(e, ..) => {
                e.calls_external()
            }
            Array(v) | Builtin(_, v) => any(v),
            Struct(fields) => fields.iter().any(|(_, b)| b.calls_external()),
            Binary(a, _, b) | Like(a, _, b) | Subscript(a, b, _) => {
                a.calls_external() || b.calls_external()
            }
            InList(e, v, _) => e.calls_external() || any(v),
            Between(a, _, b, c) => a.calls_external() || b.calls_external() || c.calls_external(),
            Case(op, branches, els) => {
                op.as_deref().is_some_and(Bound::calls_external)
                    || branches
                        .iter()
                        .any(|(w, t)| w.calls_external() || t.calls_external())
                    || els.as_deref().is_some_and(Bound::calls_external)
            }
        }
    }
}

/// Bound expression variants.
#[derive(Clone, Debug)]
pub enum BoundKind {
    /// Row position.
    Column(usize),
    /// Access to a struct field by name.
    Field(Box<Bound>, String),
    /// A constant.
    Const(Value),
    /// `[…]`
    Array(Vec<Bound>),
    /// `STRUCT(…)`
    Struct(Vec<(String, Bound)>),
    /// `INTERVAL n unit`
    Interval(Box<Bound>, IntervalUnit),
    /// `NOT`
    Not(Box<Bound>),
    /// Unary minus.
    Negate(Box<Bound>),
    /// Binary operator.
    Binary(Box<Bound>, BinaryOp, Box<Bound>),
    /// `LIKE`
    Like(Box<Bound>, bool, Box<Bound>),
    /// `IN (…)`
    InList(Box<Bound>, Vec<Bound>, bool),
    /// `BETWEEN`
    Between(Box<Bound>, bool, Box<Bound>, Box<Bound>),
    /// `IS [NOT] NULL`
    IsNull(Box<Bound>, bool),
    /// A built-in function.
    Builtin(Builtin, Vec<Bound>),
    /// An externally supplied function.
    External(String, Vec<Bound>),
    /// `CAST` / `SAFE_CAST`
    Cast(Box<Bound>, DataType, bool),
    /// `CASE`
    Case(Option<Box<Bound>>, Vec<(Bound, Bound)>, Option<Box<Bound>>),
    /// Array subscript.
    Subscript(Box<Bound>, Box<Bound>, SubscriptMode),
}

/// Built-in scalar functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    /// `UPPER(s)`
    Upper,
    /// `LOWER(s)`
    Lower,
    /// `LENGTH(s)`
    Length,
    /// `CONCAT(s, …)`
    Concat,
    /// `ABS(x)`
    Abs,
    /// `ROUND(x)`
    Round,
    /// `FLOOR(x)`
    Floor,
    /// `CEIL(x)`
    Ceil,
    /// `SQRT(x)`
    Sqrt,
    /// `COALESCE(…)`
    Coalesce,
    /// `IFNULL(a, b)`
    IfNull,
    /// `IF(c, a, b)`
    If,
    /// `ARRAY_LENGTH(a)`
    ArrayLength,
    /// `SUBSTR(s, pos[, len])`
    Substr,
    /// `STARTS_WITH(s, p)`
    StartsWith,
    /// `ENDS_WITH(s, p)`
    EndsWith,
    /// `CURRENT_TIMESTAMP()`
    CurrentTimestamp,
}

const BUILTINS: &[(&str, Builtin, usize, usize)] = &[
    ("UPPER", Builtin::Upper, 1, 1),
    ("LOWER", Builtin::Lower, 1, 1),
    ("LENGTH", Builtin::Length, 1, 1),
    ("CHAR_LENGTH", Builtin::Length, 1, 1),
    ("CONCAT", Builtin::Concat, 1, usize::MAX),
    ("ABS", Builtin::Abs, 1, 1),
    ("ROUND", Builtin::Round, 1, 1),
    ("FLOOR", Builtin::Floor, 1, 1),
    ("CEIL", Builtin::Ceil, 1, 1),
    ("CEILING", Builtin::Ceil, 1, 1),
    ("SQRT", Builtin::Sqrt, 1, 1),
    ("COALESCE", Builtin::Coalesce, 1, usize::MAX),
    ("IFNULL", Builtin::IfNull, 2, 2),
    ("IF", Builtin::If, 3, 3),
    ("ARRAY_LENGTH", Builtin::ArrayLength, 1, 1),
    ("SUBSTR", Builtin::Substr, 2, 3),
    ("SUBSTRING", Builtin::Substr, 2, 3),
    ("STARTS_WITH", Builtin::StartsWith, 2, 2),
    ("ENDS_WITH", Builtin::EndsWith, 2, 2),
    ("CURRENT_TIMESTAMP", Builtin::CurrentTimestamp, 0, 0),
];

/// Binds `expr` against `scope`.
pub fn bind(expr: &Expr, scope: &[ScopeColumn], funcs: &dyn ScalarFunctions) -> Result<Bound> {
    let b = |e: &Expr| bind(e, scope, funcs);
    let bx = |e: &Expr| bind(e, scope, funcs).map(Box::new);
    let kind = match &expr.kind {
        ExprKind::Column(parts) => return resolve_column(parts, scope, expr.span),
        ExprKind::Literal(l) => BoundKind::Const(match l {
            Literal::Null => Value::Null,
            Literal::Bool(v) => Value::Bool(*v),
            Literal::Int(i) => Value::Int64(*i),
            Literal::Float(f) => Value::Float64(*f),
            Literal::String(s) => Value::String(s.clone()),
            Literal::Bytes(v) => Value::Bytes(v.clone()),
        }),
        ExprKind::TypedString { value, .. } => match parse_timestamp(value) {
            Some(t) => BoundKind::Const(Value::Timestamp(t)),
            None => {
                return Err(SqlError::invalid(
                    format!("Invalid TIMESTAMP literal: '{value}'"),
                    expr.span,
                ))
            }
        },
        ExprKind::Array(items) => BoundKind::Array(items.iter().map(b).collect::<Result<_>>()?),
        ExprKind::Struct(fields) => BoundKind::Struct(
            fields
                .iter()
                .map(|(e, alias)| {
                    let name = match (alias, &e.kind) {
                        (Some(a), _) => a.value.clone(),
                        (None, ExprKind::Column(parts)) => {
                            parts.last().map(|p| p.value.clone()).unwrap_or_default()
                        }
                        _ => String::new(),
                    };
                    Ok((name, b(e)?))
                })
                .collect::<Result<_>>()?,
        ),
        ExprKind::Interval { value, unit } => BoundKind::Interval(bx(value)?, *unit),
        ExprKind::Not(e) => BoundKind::Not(bx(e)?),
        ExprKind::Negate(e) => BoundKind::Negate(bx(e)?),
        ExprKind::Binary { left, op, right } => BoundKind::Binary(bx(left)?, *op, bx(right)?),
        ExprKind::Like {
            expr: e,
            negated,
            pattern,
        } => BoundKind::Like(bx(e)?, *negated, bx(pattern)?),
        ExprKind::InList {
            expr: e,
            list,
            negated,
        } => BoundKind::InList(bx(e)?, list.iter().map(b).collect::<Result<_>>()?, *negated),
        ExprKind::Between {
            expr: e,
            negated,
            low,
            high,
        } => BoundKind::Between(bx(e)?, *negated, bx(low)?, bx(high)?),
        ExprKind::IsNull { expr: e, negated } => BoundKind::IsNull(bx(e)?, *negated),
        ExprKind::Function {
            name,
            args,
            distinct,
            star,
        } => {
            let fname = call_name(name);
            if AGGREGATES.contains(&fname.as_str()) {
                if SUPPORTED.contains(&fname.as_str()) {
                    return Err(SqlError::invalid(
                        format!("Aggregate function {fname} not allowed here; aggregates are supported only in the SELECT list"),
                        expr.span,
                    ));
                }
                return Err(SqlError::at(
                    ErrorKind::NotSupported,
                    format!("Aggregate function {fname} is not supported yet"),
                    expr.span,
                ));
            }
            if *star || *distinct {
                return Err(SqlError::invalid(
                    format!(
                        "{} is only allowed in aggregate functions, and {fname} is not one",
                        if *star { "*" } else { "DISTINCT" }
                    ),
                    expr.span,
                ));
            }
            let bargs = args.iter().map(b).collect::<Result<Vec<_>>>()?;
            if let Some((_, f, min, max)) = BUILTINS.iter().find(|(n, ..)| *n == fname) {
                if bargs.len() < *min || bargs.len() > *max {
                    return Err(SqlError::invalid(
                        format!(
                            "Number of arguments does not match for function {fname}: expected {}, got {}",
                            if min == max { min.to_string() } else if *max == usize::MAX { format!("at least {min}") } else { format!("{min} to {max}") },
                            bargs.len()
                        ),
                        expr.span,
                    ));
                }
                BoundKind::Builtin(*f, bargs)
            } else if funcs.has_function(&fname) {
                BoundKind::External(fname, bargs)
            } else if fname.starts_with("ML.") {
                return Err(SqlError::at(
                    ErrorKind::NotSupported,
                    format!("Function {fname} is not supported yet"),
                    expr.span,
                ));
            } else {
                return Err(SqlError::invalid(
                    format!("Function not found: {fname}"),
                    name.span,
                ));
            }
        }
        ExprKind::Cast {
            expr: e,
            data_type,
            safe,
        } => BoundKind::Cast(bx(e)?, data_type.clone(), *safe),
        ExprKind::Case {
            operand,
            branches,
            else_result,
        } => BoundKind::Case(
            operand.as_deref().map(bx).transpose()?,
            branches
                .iter()
                .map(|(w, t)| Ok((b(w)?, b(t)?)))
                .collect::<Result<_>>()?,
            else_result.as_deref().map(bx).transpose()?,
        ),
        ExprKind::Subscript {
            expr: e,
            index,
            mode,
        } => BoundKind::Subscript(bx(e)?, bx(index)?, *mode),
    };
    Ok(Bound {
        kind,
        span: expr.span,
    })
}

fn matches_qualifier(col: &ScopeColumn, q: &str) -> bool {
    col.qualifiers.iter().any(|c| c.eq_ignore_ascii_case(q))
}

fn resolve_column(parts: &[Ident], scope: &[ScopeColumn], span: Span) -> Result<Bound> {
    let find = |quals: &[Ident], name: &str| -> Result<Option<usize>> {
        let q = quals
            .iter()
            .map(|p| p.value.as_str())
            .collect::<Vec<_>>()
            .join(".");
        let hits: Vec<usize> = scope
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.name.eq_ignore_ascii_case(name) && (quals.is_empty() || matches_qualifier(c, &q))
            })
            .map(|(i, _)| i)
            .collect();
        match hits.len() {
            0 => Ok(None),
            1 => Ok(Some(hits[0])),
            _ => Err(SqlError::invalid(
                format!("Column name {name} is ambiguous"),
                span,
            )),
        }
    };
    // Longest qualifier first: `ds.t.col` before `t.col` before `col.field`.
    for qlen in (0..parts.len().min(3)).rev() {
        if let Some(i) = find(&parts[..qlen], &parts[qlen].value)? {
            let mut b = Bound {
                kind: BoundKind::Column(i),
                span,
            };
            for f in &parts[qlen + 1..] {
                b = Bound {
                    kind: BoundKind::Field(Box::new(b), f.value.clone()),
                    span,
                };
            }
            return Ok(b);
        }
    }
    let shown = parts
        .iter()
        .map(|p| p.value.as_str())
        .collect::<Vec<_>>()
        .join(".");
    if parts.len() > 1
        && scope.iter().any(|c| {
            matches_qualifier(
                c,
                &parts[..parts.len() - 1]
                    .iter()
                    .map(|p| p.value.as_str())
                    .collect::<Vec<_>>()
                    .join("."),
            )
        })
    {
        return Err(SqlError::invalid(
            format!(
                "Name {} not found inside {}",
                parts[parts.len() - 1].value,
                parts[..parts.len() - 1]
                    .iter()
                    .map(|p| p.value.as_str())
                    .collect::<Vec<_>>()
                    .join(".")
            ),
            span,
        ));
    }
    let hint = match (parts, closest_name(&shown, scope)) {
        ([_], Some(near)) => format!("; Did you mean {near}?"),
        _ => String::new(),
    };
    Err(SqlError::invalid(
        format!("Unrecognized name: {shown}{hint}"),
        span,
    ))
}

/// The column whose name is nearest to `name` (case-insensitive edit distance at
/// most a third of its length, at least 1), for "Did you mean" hints.
fn closest_name<'a>(name: &str, scope: &'a [ScopeColumn]) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    let limit = (name.chars().count() / 3).max(1);
    scope
        .iter()
        .filter(|c| !c.name.starts_with(crate::aggregate::AGG_PREFIX))
        .map(|c| {
            (
                edit_distance(&name, &c.name.to_ascii_lowercase()),
                c.name.as_str(),
            )
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Levenshtein distance counting an adjacent transposition as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, v) in d[0].iter_mut().enumerate() {
        *v = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

fn err(msg: impl Into<String>, span: Span) -> SqlError {
    SqlError::invalid(msg, span)
}

/// Evaluates a bound expression over one row.
pub fn eval(b: &Bound, row: &[Value], funcs: &dyn ScalarFunctions) -> Result<Value> {
    let ev = |x: &Bound| eval(x, row, funcs);
    Ok(match &b.kind {
        // Reading a column reads a lazy object value (an object table's `data`).
        BoundKind::Column(i) => row
            .get(*i)
            .cloned()
            .unwrap_or(Value::Null)
            .forced()
            .map_err(|m| err(m, b.span))?,
        BoundKind::Field(e, name) => match ev(e)? {
            Value::Null => Value::Null,
            Value::Struct(fields) => fields
                .into_iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
                .ok_or_else(|| {
                    err(
                        format!("Field name {name} does not exist in STRUCT"),
                        b.span,
                    )
                })?,
            other => {
                return Err(err(
                    format!(
                        "Cannot access field {name} on a value with type {}",
                        other.type_name()
                    ),
                    b.span,
                ))
            }
        },
        BoundKind::Const(v) => v.clone(),
        BoundKind::Array(items) => {
            let vals = items.iter().map(ev).collect::<Result<Vec<_>>>()?;
            if vals.iter().any(|v| matches!(v, Value::Array(_))) {
                return Err(err(
                    "Cannot construct array with element type ARRAY",
                    b.span,
                ));
            }
            Value::Array(vals)
        }
        BoundKind::Struct(fields) => Value::Struct(
            fields
                .iter()
                .map(|(n, e)| Ok((n.clone(), ev(e)?)))
                .collect::<Result<_>>()?,
        ),
        BoundKind::Interval(v, unit) => match ev(v)? {
            Value::Null => Value::Null,
            Value::Int64(n) => {
                Value::Interval(make_interval(n, *unit).map_err(|m| err(m, b.span))?)
            }
            Value::String(s) => match s.trim().parse::<i64>() {
                Ok(n) => Value::Interval(make_interval(n, *unit).map_err(|m| err(m, b.span))?),
                Err(_) => return Err(err(format!("Invalid interval literal: '{s}'"), b.span)),
            },
            other => {
                return Err(err(
                    format!("INTERVAL needs an INT64 value, got {}", other.type_name()),
                    b.span,
                ))
            }
        },
        BoundKind::Not(e) => match ev(e)? {
            Value::Null => Value::Null,
            Value::Bool(v) => Value::Bool(!v),
            other => return Err(type_mismatch("NOT", &[&other], b.span)),
        },
        BoundKind::Negate(e) => match ev(e)? {
            Value::Null => Value::Null,
            Value::Int64(i) => Value::Int64(
                i.checked_neg()
                    .ok_or_else(|| err(format!("int64 overflow: -{i}"), b.span))?,
            ),
            Value::Float64(f) => Value::Float64(-f),
            other => return Err(type_mismatch("-", &[&other], b.span)),
        },
        BoundKind::Binary(l, op, r) => binary(ev(l)?, *op, || ev(r), b.span)?,
        BoundKind::Like(e, negated, p) => match (ev(e)?, ev(p)?) {
            (Value::Null, _) | (_, Value::Null) => Value::Null,
            (Value::String(s), Value::String(p)) => Value::Bool(like(&s, &p) != *negated),
            (x, y) => return Err(type_mismatch("LIKE", &[&x, &y], b.span)),
        },
        BoundKind::InList(e, list, negated) => {
            let v = ev(e)?;
            if v.is_null() {
                return Ok(Value::Null);
            }
            let mut saw_null = false;
            let mut found = false;
            for item in list {
                let c = ev(item)?;
                match compare(&v, &c, "IN", b.span)? {
                    None => saw_null = true,
                    Some(o) if o.is_eq() => {
                        found = true;
                        break;
                    }
                    Some(_) => {}
                }
            }
            if found {
                Value::Bool(!negated)
            } else if saw_null {
                Value::Null
            } else {
                Value::Bool(*negated)
            }
        }
        BoundKind::Between(e, negated, lo, hi) => {
            let v = ev(e)?;
            let ge = compare(&v, &ev(lo)?, "BETWEEN", b.span)?.map(|o| o.is_ge());
            let le = compare(&v, &ev(hi)?, "BETWEEN", b.span)?.map(|o| o.is_le());
            match and3(ge, le) {
                None => Value::Null,
                Some(x) => Value::Bool(x != *negated),
            }
        }
        BoundKind::IsNull(e, negated) => Value::Bool(ev(e)?.is_null() != *negated),
        BoundKind::Builtin(f, args) => {
            // IF / COALESCE / IFNULL evaluate lazily.
            match f {
                Builtin::If => {
                    return match ev(&args[0])? {
                        Value::Bool(true) => ev(&args[1]),
                        Value::Bool(false) | Value::Null => ev(&args[2]),
                        other => Err(type_mismatch("IF", &[&other], b.span)),
                    }
                }
                Builtin::Coalesce | Builtin::IfNull => {
                    for a in args {
                        let v = ev(a)?;
                        if !v.is_null() {
                            return Ok(v);
                        }
                    }
                    return Ok(Value::Null);
                }
                _ => {}
            }
            let vals = args.iter().map(ev).collect::<Result<Vec<_>>>()?;
            builtin(*f, &vals, b.span)?
        }
        BoundKind::External(name, args) => {
            // Column arguments are passed unread so that `ML.DECODE_IMAGE(data)` can check
            // an object's size before reading it.
            let vals = args
                .iter()
                .map(|a| match a.kind {
                    BoundKind::Column(i) => Ok(row.get(i).cloned().unwrap_or(Value::Null)),
                    _ => ev(a),
                })
                .collect::<Result<Vec<_>>>()?;
            funcs.call(name, &vals).map_err(|m| err(m, b.span))?
        }
        BoundKind::Cast(e, ty, safe) => match ev(e)?.cast(ty) {
            Ok(v) => v,
            Err(_) if *safe => Value::Null,
            Err(m) => return Err(err(m, b.span)),
        },
        BoundKind::Case(operand, branches, else_result) => {
            let op = operand.as_deref().map(ev).transpose()?;
            for (w, t) in branches {
                let wv = ev(w)?;
                let hit = match &op {
                    Some(o) => compare(o, &wv, "CASE", b.span)?.is_some_and(|c| c.is_eq()),
                    None => match wv {
                        Value::Bool(x) => x,
                        Value::Null => false,
                        other => return Err(type_mismatch("CASE WHEN", &[&other], w.span)),
                    },
                };
                if hit {
                    return ev(t);
                }
            }
            match else_result {
                Some(e) => ev(e)?,
                None => Value::Null,
            }
        }
        BoundKind::Subscript(a, i, mode) => {
            let arr = ev(a)?;
            let idx = ev(i)?;
            let (items, n) = match (arr, idx) {
                (Value::Null, _) | (_, Value::Null) => return Ok(Value::Null),
                (Value::Array(items), Value::Int64(n)) => (items, n),
                (x, y) => return Err(type_mismatch("array subscript", &[&x, &y], b.span)),
            };
            let (pos, safe) = match mode {
                SubscriptMode::Plain | SubscriptMode::Offset => (n, false),
                SubscriptMode::SafeOffset => (n, true),
                SubscriptMode::Ordinal => (n.saturating_sub(1), false),
                SubscriptMode::SafeOrdinal => (n.saturating_sub(1), true),
            };
            match usize::try_from(pos).ok().and_then(|p| items.get(p)) {
                Some(v) => v.clone(),
                None if safe => Value::Null,
                None => {
                    return Err(err(
                        format!("Array index {n} is out of bounds (overflow)"),
                        b.span,
                    ))
                }
            }
        }
    })
}

/// `INTERVAL n unit`, or an error when it is outside BigQuery's range (±10000 years:
/// ±120000 months, ±3660000 days, ±87840000 hours).
fn make_interval(n: i64, unit: IntervalUnit) -> std::result::Result<Interval, String> {
    const MAX_MONTHS: i64 = 120_000;
    const MAX_DAYS: i64 = 3_660_000;
    const MAX_MICROS: i64 = 87_840_000 * 3_600_000_000;
    let mut i = Interval::default();
    let (field, scale, max) = match unit {
        IntervalUnit::Year => (&mut i.months, 12, MAX_MONTHS),
        IntervalUnit::Quarter => (&mut i.months, 3, MAX_MONTHS),
        IntervalUnit::Month => (&mut i.months, 1, MAX_MONTHS),
        IntervalUnit::Week => (&mut i.days, 7, MAX_DAYS),
        IntervalUnit::Day => (&mut i.days, 1, MAX_DAYS),
        IntervalUnit::Hour => (&mut i.micros, 3_600_000_000, MAX_MICROS),
        IntervalUnit::Minute => (&mut i.micros, 60_000_000, MAX_MICROS),
        IntervalUnit::Second => (&mut i.micros, 1_000_000, MAX_MICROS),
        IntervalUnit::Millisecond => (&mut i.micros, 1000, MAX_MICROS),
        IntervalUnit::Microsecond => (&mut i.micros, 1, MAX_MICROS),
    };
    match n.checked_mul(scale) {
        Some(v) if v.abs() <= max => *field = v,
        _ => {
            return Err(format!(
                "Interval field out of range: INTERVAL {n} {} is beyond ±10000 years",
                unit.name()
            ))
        }
    }
    Ok(i)
}

fn type_mismatch(op: &str, args: &[&Value], span: Span) -> SqlError {
    let types: Vec<String> = args.iter().map(|v| v.type_name()).collect();
    err(
        format!(
            "No matching signature for operator {op} for argument types: {}",
            types.join(", ")
        ),
        span,
    )
}

/// Compares two values; NULL gives `None`, incomparable types an error.
fn compare(a: &Value, b: &Value, op: &str, span: Span) -> Result<Option<std::cmp::Ordering>> {
    if a.is_null() || b.is_null() {
        return Ok(None);
    }
    match a.sql_cmp(b) {
        Some(o) => Ok(Some(o)),
        None if matches!((a, b), (Value::Float64(x), _) | (_, Value::Float64(x)) if x.is_nan()) => {
            Ok(None)
        }
        None => Err(type_mismatch(op, &[a, b], span)),
    }
}

fn and3(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

fn as_bool3(v: &Value, op: &str, span: Span) -> Result<Option<bool>> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        other => Err(type_mismatch(op, &[other], span)),
    }
}

fn binary(l: Value, op: BinaryOp, r: impl FnOnce() -> Result<Value>, span: Span) -> Result<Value> {
    use BinaryOp::*;
    match op {
        And | Or => {
            let lb = as_bool3(&l, op.symbol(), span)?;
            // Short-circuit only when the result is decided.
            if lb == Some(op == Or) {
                return Ok(Value::Bool(op == Or));
            }
            let rv = r()?;
            let rb = as_bool3(&rv, op.symbol(), span)?;
            let res = if op == And {
                and3(lb, rb)
            } else {
                match (lb, rb) {
                    (Some(true), _) | (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                }
            };
            return Ok(res.map_or(Value::Null, Value::Bool));
        }
        _ => {}
    }
    let r = r()?;
    if let Eq | NotEq | Lt | LtEq | Gt | GtEq = op {
        let o = compare(&l, &r, op.symbol(), span)?;
        return Ok(match o {
            None => Value::Null,
            Some(o) => Value::Bool(match op {
                Eq => o.is_eq(),
                NotEq => o.is_ne(),
                Lt => o.is_lt(),
                LtEq => o.is_le(),
                Gt => o.is_gt(),
                _ => o.is_ge(),
            }),
        });
    }
    if l.is_null() || r.is_null() {
        return Ok(Value::Null);
    }
    let overflow = |a: &dyn std::fmt::Display, b: &dyn std::fmt::Display| {
        err(format!("int64 overflow: {a} {} {b}", op.symbol()), span)
    };
    Ok(match (op, &l, &r) {
        (Concat, Value::String(a), Value::String(b)) => Value::String(format!("{a}{b}")),
        (Concat, Value::Bytes(a), Value::Bytes(b)) => Value::Bytes([a.as_slice(), b].concat()),
        (Divide, Value::Int64(_) | Value::Float64(_), Value::Int64(_) | Value::Float64(_)) => {
            let (a, b) = (num(&l), num(&r));
            if b == 0.0 {
                return Err(err(
                    format!("division by zero: {} / {}", text(&l), text(&r)),
                    span,
                ));
            }
            Value::Float64(a / b)
        }
        (Plus | Minus | Multiply, Value::Int64(a), Value::Int64(b)) => Value::Int64(
            match op {
                Plus => a.checked_add(*b),
                Minus => a.checked_sub(*b),
                _ => a.checked_mul(*b),
            }
            .ok_or_else(|| overflow(a, b))?,
        ),
        (
            Plus | Minus | Multiply,
            Value::Int64(_) | Value::Float64(_),
            Value::Int64(_) | Value::Float64(_),
        ) => {
            let (a, b) = (num(&l), num(&r));
            Value::Float64(match op {
                Plus => a + b,
                Minus => a - b,
                _ => a * b,
            })
        }
        (Plus | Minus, Value::Timestamp(t), Value::Interval(i)) if i.months == 0 => {
            let shifted = i
                .days
                .checked_mul(86_400_000_000)
                .and_then(|d| d.checked_add(i.micros))
                .and_then(|d| {
                    if op == Plus {
                        t.checked_add(d)
                    } else {
                        t.checked_sub(d)
                    }
                })
                .filter(|r| (MIN_TIMESTAMP..=MAX_TIMESTAMP).contains(r));
            Value::Timestamp(shifted.ok_or_else(|| err("TIMESTAMP overflow", span))?)
        }
        _ => return Err(type_mismatch(op.symbol(), &[&l, &r], span)),
    })
}

/// 0001-01-01 00:00:00 UTC, in microseconds.
const MIN_TIMESTAMP: i64 = -62_135_596_800_000_000;
/// 9999-12-31 23:59:59.999999 UTC, in microseconds.
const MAX_TIMESTAMP: i64 = 253_402_300_799_999_999;

fn num(v: &Value) -> f64 {
    match v {
        Value::Int64(i) => *i as f64,
        Value::Float64(f) => *f,
        _ => f64::NAN,
    }
}

fn text(v: &Value) -> String {
    v.to_text().unwrap_or_else(|| "NULL".into())
}

/// SQL `LIKE` with `%`, `_` and backslash escapes, in O(len(s) × len(p)).
pub fn like(s: &str, p: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Tok {
        Any,
        One,
        Lit(char),
    }
    let mut toks = Vec::new();
    let mut it = p.chars();
    while let Some(c) = it.next() {
        toks.push(match c {
            '%' => Tok::Any,
            '_' => Tok::One,
            '\\' => Tok::Lit(it.next().unwrap_or('\\')),
            c => Tok::Lit(c),
        });
    }
    let s: Vec<char> = s.chars().collect();
    // dp[j]: pattern prefix of length j matches the text prefix seen so far.
    let mut dp = vec![false; toks.len() + 1];
    dp[0] = true;
    for j in 0..toks.len() {
        dp[j + 1] = dp[j] && toks[j] == Tok::Any;
    }
    for &c in &s {
        let mut next = vec![false; toks.len() + 1];
        for j in 0..toks.len() {
            next[j + 1] = match toks[j] {
                Tok::Any => next[j] || dp[j + 1],
                Tok::One => dp[j],
                Tok::Lit(l) => dp[j] && l == c,
            };
        }
        dp = next;
    }
    dp[toks.len()]
}

fn builtin(f: Builtin, a: &[Value], span: Span) -> Result<Value> {
    use Value::*;
    if a.iter().any(Value::is_null) && f != Builtin::Concat {
        return Ok(Null);
    }
    let name = BUILTINS
        .iter()
        .find(|(_, g, ..)| *g == f)
        .map_or("function", |(n, ..)| n);
    let bad = || {
        let refs: Vec<&Value> = a.iter().collect();
        err(
            format!(
                "No matching signature for function {name} for argument types: {}",
                refs.iter()
                    .map(|v| v.type_name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            span,
        )
    };
    Ok(match (f, a) {
        (Builtin::Upper, [String(s)]) => String(s.to_uppercase()),
        (Builtin::Lower, [String(s)]) => String(s.to_lowercase()),
        (Builtin::Length, [String(s)]) => Int64(s.chars().count() as i64),
        (Builtin::Length, [Bytes(b)]) => Int64(b.len() as i64),
        (Builtin::Concat, _) => {
            if a.iter().any(Value::is_null) {
                return Ok(Null);
            }
            let mut out = std::string::String::new();
            for v in a {
                match v {
                    String(s) => out.push_str(s),
                    _ => return Err(bad()),
                }
            }
            String(out)
        }
        (Builtin::Abs, [Int64(i)]) => Int64(
            i.checked_abs()
                .ok_or_else(|| err(format!("int64 overflow: ABS({i})"), span))?,
        ),
        (Builtin::Abs, [Float64(x)]) => Float64(x.abs()),
        (Builtin::Round, [Float64(x)]) => Float64(x.round()),
        (Builtin::Floor, [Float64(x)]) => Float64(x.floor()),
        (Builtin::Ceil, [Float64(x)]) => Float64(x.ceil()),
        (Builtin::Round | Builtin::Floor | Builtin::Ceil, [Int64(i)]) => Float64(*i as f64),
        (Builtin::Sqrt, [x @ (Int64(_) | Float64(_))]) => {
            let v = num(x);
            if v < 0.0 {
                return Err(err(
                    format!("Argument to SQRT cannot be negative: {}", text(x)),
                    span,
                ));
            }
            Float64(v.sqrt())
        }
        (Builtin::ArrayLength, [Array(items)]) => Int64(items.len() as i64),
        (Builtin::Substr, [String(s), Int64(pos), rest @ ..]) => {
            let chars: Vec<char> = s.chars().collect();
            let n = chars.len() as i64;
            let start = if *pos > 0 {
                pos - 1
            } else if *pos < 0 {
                (n + pos).max(0)
            } else {
                0
            }
            .min(n);
            let len = match rest {
                [Int64(l)] if *l < 0 => {
                    return Err(err(
                        format!("Third argument in SUBSTR() cannot be negative: {l}"),
                        span,
                    ))
                }
                [Int64(l)] => *l,
                [] => n,
                _ => return Err(bad()),
            };
            let end = start.saturating_add(len).min(n);
            String(chars[start as usize..end as usize].iter().collect())
        }
        (Builtin::StartsWith, [String(s), String(p)]) => Bool(s.starts_with(p.as_str())),
        (Builtin::EndsWith, [String(s), String(p)]) => Bool(s.ends_with(p.as_str())),
        (Builtin::CurrentTimestamp, []) => Timestamp(crate::catalog::now_ms() * 1000),
        _ => return Err(bad()),
    })
}

/// Evaluates an expression that must not reference columns (option values, LIMIT).
pub fn eval_const(expr: &Expr) -> Result<Value> {
    let b = bind(expr, &[], &NoFunctions)?;
    eval(&b, &[], &NoFunctions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(sql: &str) -> Result<Value> {
        eval_const(&crate::parser::parse_expr(sql).unwrap())
    }

    #[test]
    fn expression_semantics() {
        assert_eq!(ev("1 + 2 * 3").unwrap(), Value::Int64(7));
        assert_eq!(ev("7 / 2").unwrap(), Value::Float64(3.5));
        assert_eq!(ev("NULL OR TRUE").unwrap(), Value::Bool(true));
        assert_eq!(ev("NULL AND TRUE").unwrap(), Value::Null);
        assert_eq!(ev("1 IN (2, NULL)").unwrap(), Value::Null);
        assert_eq!(ev("1 NOT IN (2, 3)").unwrap(), Value::Bool(true));
        assert_eq!(ev("'abc' LIKE 'a%c'").unwrap(), Value::Bool(true));
        assert_eq!(ev("'a_c' LIKE 'a\\\\_c'").unwrap(), Value::Bool(true));
        assert_eq!(ev("'abc' LIKE 'a\\\\_c'").unwrap(), Value::Bool(false));
        assert_eq!(ev("[1, 2, 3][OFFSET(1)]").unwrap(), Value::Int64(2));
        assert_eq!(ev("[1, 2, 3][ORDINAL(1)]").unwrap(), Value::Int64(1));
        assert_eq!(ev("[1][SAFE_OFFSET(5)]").unwrap(), Value::Null);
        assert_eq!(ev("CAST('12' AS INT64) + 1").unwrap(), Value::Int64(13));
        assert_eq!(ev("SAFE_CAST('x' AS INT64)").unwrap(), Value::Null);
        assert_eq!(
            ev("CASE 2 WHEN 1 THEN 'a' WHEN 2 THEN 'b' END").unwrap(),
            Value::String("b".into())
        );
        assert_eq!(
            ev("SUBSTR('hello', 2, 3)").unwrap(),
            Value::String("ell".into())
        );
        assert_eq!(ev("2 BETWEEN 1 AND 3").unwrap(), Value::Bool(true));
    }

    #[test]
    fn runtime_errors_are_positioned() {
        let e = ev("1 + 1 / 0").unwrap_err();
        assert_eq!(e.to_string(), "division by zero: 1 / 0 at [1:5]");
        let e = ev("9223372036854775807 + 1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "int64 overflow: 9223372036854775807 + 1 at [1:1]"
        );
        let e = ev("'a' = 1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "No matching signature for operator = for argument types: STRING, INT64 at [1:1]"
        );
        let e = ev("[1][OFFSET(3)]").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Array index 3 is out of bounds (overflow) at [1:1]"
        );
        let e = ev("x + 1").unwrap_err();
        assert_eq!(e.to_string(), "Unrecognized name: x at [1:1]");
        let e = ev("NOPE(1)").unwrap_err();
        assert_eq!(e.to_string(), "Function not found: NOPE at [1:1]");
        let e = ev("ML.DECODE_IMAGE(1)").unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotSupported);
        assert_eq!(
            e.to_string(),
            "Function ML.DECODE_IMAGE is not supported yet at [1:1]"
        );
        let e = ev("TIMESTAMP '2020-01-01' + INTERVAL 3660000 DAY").unwrap_err();
        assert_eq!(e.to_string(), "TIMESTAMP overflow at [1:1]");
        let e = ev("TIMESTAMP '2020-01-01' + INTERVAL 9223372036854775807 DAY").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Interval field out of range: INTERVAL 9223372036854775807 DAY is beyond ±10000 years at [1:26]"
        );
        let e = ev("[1][ORDINAL(-9223372036854775808)]").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Array index -9223372036854775808 is out of bounds (overflow) at [1:1]"
        );
        assert_eq!(
            ev("TIMESTAMP '2020-01-01' + INTERVAL 36 HOUR").unwrap(),
            Value::Timestamp(parse_timestamp("2020-01-02 12:00:00").unwrap())
        );
        let e = ev("COUNT(*) + 1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Aggregate function COUNT not allowed here; aggregates are supported only in the SELECT list at [1:1]"
        );
        let e = ev("STRING_AGG(x)").unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotSupported);
        assert_eq!(
            e.to_string(),
            "Aggregate function STRING_AGG is not supported yet at [1:1]"
        );
    }
}
