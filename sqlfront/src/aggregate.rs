//! Whole-input aggregation (`SELECT COUNT(*), MAX(x) FROM t` without `GROUP BY`).
//!
//! Aggregate calls in the select list are computed over all input rows and replaced by
//! references to hidden columns of a one-row relation; the rewritten select list is then
//! evaluated over that row as usual.

use crate::ast::{Expr, ExprKind, Ident, ObjectName, SelectItem};
use crate::binder::{bind, eval, ScalarFunctions, ScopeColumn};
use crate::error::{Result, SqlError};
use crate::value::Value;

/// Prefix of the hidden columns holding aggregate results; NUL keeps it out of the way
/// of names users write.
pub const AGG_PREFIX: &str = "\u{0}agg";

/// Aggregate functions computed over the whole input.
pub const SUPPORTED: &[&str] = &["COUNT", "COUNTIF", "SUM", "AVG", "MIN", "MAX", "ANY_VALUE"];

struct AggCall {
    name: String,
    arg: Option<Expr>,
    distinct: bool,
    expr: Expr,
}

fn func_name(name: &ObjectName) -> String {
    name.parts
        .iter()
        .map(|p| p.value.to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(".")
}

/// Replaces supported aggregate calls in `e` by hidden column references.
fn rewrite(e: &Expr, calls: &mut Vec<AggCall>) -> Result<Expr> {
    let r = |x: &Expr, calls: &mut Vec<AggCall>| rewrite(x, calls);
    let bx = |x: &Expr, calls: &mut Vec<AggCall>| rewrite(x, calls).map(Box::new);
    let kind = match &e.kind {
        ExprKind::Function {
            name,
            args,
            distinct,
            star,
        } if SUPPORTED.contains(&func_name(name).as_str()) => {
            let fname = func_name(name);
            let arity_ok = match (fname.as_str(), *star) {
                ("COUNT", true) => args.is_empty(),
                (_, true) => false,
                _ => args.len() == 1,
            };
            if !arity_ok {
                return Err(SqlError::invalid(
                    format!("Number of arguments does not match for aggregate function {fname}"),
                    e.span,
                ));
            }
            let mut inner = Vec::new();
            if let Some(a) = args.first() {
                rewrite(a, &mut inner)?;
                if !inner.is_empty() {
                    return Err(SqlError::invalid(
                        "Aggregations of aggregations are not allowed",
                        e.span,
                    ));
                }
            }
            calls.push(AggCall {
                name: fname,
                arg: args.first().cloned(),
                distinct: *distinct,
                expr: e.clone(),
            });
            ExprKind::Column(vec![Ident {
                value: format!("{AGG_PREFIX}{}", calls.len() - 1),
                quoted: true,
                span: e.span,
            }])
        }
        ExprKind::Function {
            name,
            args,
            distinct,
            star,
        } => ExprKind::Function {
            name: name.clone(),
            args: args.iter().map(|a| r(a, calls)).collect::<Result<_>>()?,
            distinct: *distinct,
            star: *star,
        },
        ExprKind::Column(_) | ExprKind::Literal(_) | ExprKind::TypedString { .. } => e.kind.clone(),
        ExprKind::Array(items) => {
            ExprKind::Array(items.iter().map(|a| r(a, calls)).collect::<Result<_>>()?)
        }
        ExprKind::Struct(fields) => ExprKind::Struct(
            fields
                .iter()
                .map(|(x, a)| Ok((r(x, calls)?, a.clone())))
                .collect::<Result<_>>()?,
        ),
        ExprKind::Interval { value, unit } => ExprKind::Interval {
            value: bx(value, calls)?,
            unit: *unit,
        },
        ExprKind::Not(x) => ExprKind::Not(bx(x, calls)?),
        ExprKind::Negate(x) => ExprKind::Negate(bx(x, calls)?),
        ExprKind::Binary { left, op, right } => ExprKind::Binary {
            left: bx(left, calls)?,
            op: *op,
            right: bx(right, calls)?,
        },
        ExprKind::Like {
            expr,
            negated,
            pattern,
        } => ExprKind::Like {
            expr: bx(expr, calls)?,
            negated: *negated,
            pattern: bx(pattern, calls)?,
        },
        ExprKind::InList {
            expr,
            list,
            negated,
        } => ExprKind::InList {
            expr: bx(expr, calls)?,
            list: list.iter().map(|a| r(a, calls)).collect::<Result<_>>()?,
            negated: *negated,
        },
        ExprKind::Between {
            expr,
            negated,
            low,
            high,
        } => ExprKind::Between {
            expr: bx(expr, calls)?,
            negated: *negated,
            low: bx(low, calls)?,
            high: bx(high, calls)?,
        },
        ExprKind::IsNull { expr, negated } => ExprKind::IsNull {
            expr: bx(expr, calls)?,
            negated: *negated,
        },
        ExprKind::Cast {
            expr,
            data_type,
            safe,
        } => ExprKind::Cast {
            expr: bx(expr, calls)?,
            data_type: data_type.clone(),
            safe: *safe,
        },
        ExprKind::Case {
            operand,
            branches,
            else_result,
        } => ExprKind::Case {
            operand: operand.as_deref().map(|x| bx(x, calls)).transpose()?,
            branches: branches
                .iter()
                .map(|(w, t)| Ok((r(w, calls)?, r(t, calls)?)))
                .collect::<Result<_>>()?,
            else_result: else_result.as_deref().map(|x| bx(x, calls)).transpose()?,
        },
        ExprKind::Subscript { expr, index, mode } => ExprKind::Subscript {
            expr: bx(expr, calls)?,
            index: bx(index, calls)?,
            mode: *mode,
        },
    };
    Ok(Expr { kind, span: e.span })
}

/// The result of [`aggregate`].
pub struct Aggregated {
    /// The select list with aggregate calls replaced by hidden column references.
    pub items: Vec<SelectItem>,
    /// The hidden columns.
    pub columns: Vec<ScopeColumn>,
    /// Their values: the single row.
    pub row: Vec<Value>,
}

/// When the select list aggregates, returns the rewritten select list and the one-row
/// relation of aggregate results; `None` for ordinary queries.
pub fn aggregate(
    projection: &[SelectItem],
    scope: &[ScopeColumn],
    rows: &[Vec<Value>],
    funcs: &dyn ScalarFunctions,
) -> Result<Option<Aggregated>> {
    let mut calls = Vec::new();
    let mut items = Vec::with_capacity(projection.len());
    for item in projection {
        items.push(match item {
            SelectItem::Expr { expr, alias } => SelectItem::Expr {
                expr: rewrite(expr, &mut calls)?,
                alias: alias.clone(),
            },
            other => other.clone(),
        });
    }
    if calls.is_empty() {
        return Ok(None);
    }
    if let Some(span) = items.iter().find_map(|i| match i {
        SelectItem::Wildcard(s) => Some(*s),
        SelectItem::QualifiedWildcard(n) => Some(n.span),
        SelectItem::Expr { .. } => None,
    }) {
        return Err(SqlError::invalid(
            "SELECT * cannot be combined with aggregate functions without GROUP BY",
            span,
        ));
    }
    let mut columns = Vec::with_capacity(calls.len());
    let mut values = Vec::with_capacity(calls.len());
    for (i, call) in calls.iter().enumerate() {
        let arg = call
            .arg
            .as_ref()
            .map(|a| bind(a, scope, funcs))
            .transpose()?;
        let mut vals = Vec::with_capacity(rows.len());
        for row in rows {
            vals.push(match &arg {
                Some(b) => eval(b, row, funcs)?,
                None => Value::Bool(true),
            });
        }
        if call.distinct {
            let mut seen = std::collections::HashSet::new();
            vals.retain(|v| {
                let mut k = String::new();
                v.group_key(&mut k);
                seen.insert(k)
            });
        }
        let v = fold(&call.name, vals, call)?;
        columns.push(ScopeColumn {
            qualifiers: Vec::new(),
            name: format!("{AGG_PREFIX}{i}"),
            data_type: v.data_type(),
            hidden: true,
        });
        values.push(v);
    }
    // A plain column outside any aggregate has no single value.
    let mut combined = scope.to_vec();
    combined.extend(columns.iter().cloned());
    for item in &items {
        if let SelectItem::Expr { expr, .. } = item {
            if let Err(e) = bind(expr, &columns, funcs) {
                if let Some(name) = e.message.strip_prefix("Unrecognized name: ") {
                    if bind(expr, &combined, funcs).is_ok() {
                        return Err(SqlError {
                            message: format!("SELECT list expression references column {name} which is neither grouped nor aggregated"),
                            ..e
                        });
                    }
                }
                return Err(e);
            }
        }
    }
    Ok(Some(Aggregated {
        items,
        columns,
        row: values,
    }))
}

fn fold(name: &str, vals: Vec<Value>, call: &AggCall) -> Result<Value> {
    let span = call.expr.span;
    let bad = |v: &Value| {
        SqlError::invalid(
            format!(
                "No matching signature for aggregate function {name} for argument types: {}",
                v.type_name()
            ),
            span,
        )
    };
    let non_null: Vec<Value> = vals.into_iter().filter(|v| !v.is_null()).collect();
    Ok(match name {
        "COUNT" => Value::Int64(non_null.len() as i64),
        "COUNTIF" => {
            let mut n = 0;
            for v in &non_null {
                match v {
                    Value::Bool(true) => n += 1,
                    Value::Bool(false) => {}
                    other => return Err(bad(other)),
                }
            }
            Value::Int64(n)
        }
        "SUM" | "AVG" => {
            if non_null.is_empty() {
                return Ok(Value::Null);
            }
            let mut int_sum: Option<i64> = Some(0);
            let mut float_sum = 0.0;
            for v in &non_null {
                match v {
                    Value::Int64(i) => {
                        int_sum = int_sum.and_then(|s| s.checked_add(*i));
                        float_sum += *i as f64;
                    }
                    Value::Float64(f) => {
                        int_sum = None;
                        float_sum += f;
                    }
                    other => return Err(bad(other)),
                }
            }
            let all_int = non_null.iter().all(|v| matches!(v, Value::Int64(_)));
            match (name, all_int, int_sum) {
                ("SUM", true, Some(s)) => Value::Int64(s),
                ("SUM", true, None) => {
                    return Err(SqlError::invalid("int64 overflow in SUM", span))
                }
                ("SUM", false, _) => Value::Float64(float_sum),
                _ => Value::Float64(float_sum / non_null.len() as f64),
            }
        }
        "MIN" | "MAX" => {
            let mut best: Option<Value> = None;
            for v in non_null {
                if matches!(v, Value::Array(_) | Value::Struct(_) | Value::Image(_)) {
                    return Err(bad(&v));
                }
                best = Some(match best {
                    None => v,
                    Some(b) => {
                        let o = v.sort_cmp(&b);
                        if (name == "MIN" && o.is_lt()) || (name == "MAX" && o.is_gt()) {
                            v
                        } else {
                            b
                        }
                    }
                });
            }
            best.unwrap_or(Value::Null)
        }
        // ANY_VALUE
        _ => non_null.into_iter().next().unwrap_or(Value::Null),
    })
}
