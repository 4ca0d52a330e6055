//! Aggregation: `GROUP BY`, `HAVING` and aggregate functions.
//!
//! Group keys and aggregate calls in the select list, `HAVING` and `ORDER BY` are
//! replaced by references to hidden columns of a relation with one row per group (one
//! row in all when there is no `GROUP BY`); the rewritten expressions are then
//! evaluated over those rows as usual.

use crate::agg_names::{call_name, SUPPORTED};
use crate::ast::{Expr, ExprKind, Ident, SelectItem};
use crate::binder::{bind, eval, ScalarFunctions, ScopeColumn};
use crate::error::{Result, SqlError};
use crate::value::Value;

/// Prefix of the hidden columns holding aggregate results; NUL keeps it out of the way
/// of names users write.
pub const AGG_PREFIX: &str = "\u{0}agg";

struct AggCall {
    name: String,
    arg: Option<Expr>,
    distinct: bool,
    expr: Expr,
}

/// Prefix of the hidden columns holding `GROUP BY` key values.
pub const GROUP_PREFIX: &str = "\u{0}grp";

struct Ctx<'a> {
    /// Group keys and, when a key is a plain column, its position in `scope`.
    keys: &'a [(Expr, Option<usize>)],
    scope: &'a [ScopeColumn],
    funcs: &'a dyn ScalarFunctions,
    calls: Vec<AggCall>,
}

fn column_index(e: &Expr, scope: &[ScopeColumn], funcs: &dyn ScalarFunctions) -> Option<usize> {
    if !matches!(e.kind, ExprKind::Column(_)) {
        return None;
    }
    match bind(e, scope, funcs).ok()?.kind {
        crate::binder::BoundKind::Column(i) => Some(i),
        _ => None,
    }
}

fn hidden(prefix: &str, i: usize, e: &Expr) -> ExprKind {
    ExprKind::Column(vec![Ident {
        value: format!("{prefix}{i}"),
        quoted: true,
        span: e.span,
    }])
}

/// Replaces group keys and supported aggregate calls in `e` by hidden column references.
fn rewrite(e: &Expr, calls: &mut Ctx<'_>) -> Result<Expr> {
    for (i, (k, col)) in calls.keys.iter().enumerate() {
        if e == k || (col.is_some() && column_index(e, calls.scope, calls.funcs) == *col) {
            return Ok(Expr {
                kind: hidden(GROUP_PREFIX, i, e),
                span: e.span,
            });
        }
    }
    let r = |x: &Expr, calls: &mut Ctx<'_>| rewrite(x, calls);
    let bx = |x: &Expr, calls: &mut Ctx<'_>| rewrite(x, calls).map(Box::new);
    let kind = match &e.kind {
        ExprKind::Function {
            name,
            args,
            distinct,
            star,
        } if SUPPORTED.contains(&call_name(name).as_str()) => {
            let fname = call_name(name);
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
            let mut inner = Ctx {
                keys: &[],
                scope: calls.scope,
                funcs: calls.funcs,
                calls: Vec::new(),
            };
            if let Some(a) = args.first() {
                rewrite(a, &mut inner)?;
                if !inner.calls.is_empty() {
                    return Err(SqlError::invalid(
                        "Aggregations of aggregations are not allowed",
                        e.span,
                    ));
                }
            }
            calls.calls.push(AggCall {
                name: fname,
                arg: args.first().cloned(),
                distinct: *distinct,
                expr: e.clone(),
            });
            hidden(AGG_PREFIX, calls.calls.len() - 1, e)
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
    /// The select list with group keys and aggregate calls replaced by hidden columns.
    pub items: Vec<SelectItem>,
    /// The `ORDER BY` expressions, rewritten the same way.
    pub order_by: Vec<Expr>,
    /// The hidden columns: group keys, then aggregate results.
    pub columns: Vec<ScopeColumn>,
    /// One row per group.
    pub rows: Vec<Vec<Value>>,
}

/// Resolves `GROUP BY 2` and `GROUP BY alias` to the select item's expression.
fn resolve_key(
    g: &Expr,
    projection: &[SelectItem],
    scope: &[ScopeColumn],
    funcs: &dyn ScalarFunctions,
) -> Result<Expr> {
    let item_expr = |i: usize| match projection.get(i) {
        Some(SelectItem::Expr { expr, .. }) => Ok(expr.clone()),
        _ => Err(SqlError::invalid(
            format!(
                "GROUP BY position {} does not name a select list expression",
                i + 1
            ),
            g.span,
        )),
    };
    match &g.kind {
        ExprKind::Literal(crate::ast::Literal::Int(k)) => {
            if *k < 1 || *k as usize > projection.len() {
                return Err(SqlError::invalid(
                    format!("GROUP BY column number is out of range. Column numbers must be between 1 and {}, but got {k}", projection.len()),
                    g.span,
                ));
            }
            item_expr(*k as usize - 1)
        }
        ExprKind::Column(parts) if parts.len() == 1 && bind(g, scope, funcs).is_err() => {
            let alias = projection.iter().position(|p| {
                matches!(p, SelectItem::Expr { alias: Some(a), .. } if a.value.eq_ignore_ascii_case(&parts[0].value))
            });
            match alias {
                Some(i) => item_expr(i),
                None => Ok(g.clone()),
            }
        }
        _ => Ok(g.clone()),
    }
}

/// When the query aggregates or groups, computes one row per group and returns the
/// rewritten select list and `ORDER BY`; `None` for ordinary queries. With `rows` `None`
/// everything is bound but nothing evaluated, and no row is returned (a query checked
/// before it runs).
pub fn aggregate(
    projection: &[SelectItem],
    order_by: &[Expr],
    group_by: &[Expr],
    having: Option<&Expr>,
    scope: &[ScopeColumn],
    rows: Option<&[Vec<Value>]>,
    funcs: &dyn ScalarFunctions,
) -> Result<Option<Aggregated>> {
    let bind_only = rows.is_none();
    let rows = rows.unwrap_or(&[]);
    let mut keys = Vec::with_capacity(group_by.len());
    for g in group_by {
        let k = resolve_key(g, projection, scope, funcs)?;
        let col = column_index(&k, scope, funcs);
        keys.push((k, col));
    }
    let mut ctx = Ctx {
        keys: &keys,
        scope,
        funcs,
        calls: Vec::new(),
    };
    let mut items = Vec::with_capacity(projection.len());
    for item in projection {
        items.push(match item {
            SelectItem::Expr { expr, alias } => {
                // A grouped column keeps its name after being replaced.
                let alias = alias.clone().or_else(|| match &expr.kind {
                    ExprKind::Column(parts) => parts.last().cloned(),
                    _ => None,
                });
                SelectItem::Expr {
                    expr: rewrite(expr, &mut ctx)?,
                    alias,
                }
            }
            other => other.clone(),
        });
    }
    let order_by = order_by
        .iter()
        .map(|o| rewrite(o, &mut ctx))
        .collect::<Result<Vec<_>>>()?;
    let having = having.map(|h| rewrite(h, &mut ctx)).transpose()?;
    let calls = ctx.calls;
    if calls.is_empty() && keys.is_empty() && having.is_none() {
        return Ok(None);
    }
    if let Some(span) = items.iter().find_map(|i| match i {
        SelectItem::Wildcard(s) => Some(*s),
        SelectItem::QualifiedWildcard(n) => Some(n.span),
        SelectItem::Expr { .. } => None,
    }) {
        return Err(SqlError::invalid(
            "SELECT * cannot be combined with GROUP BY or aggregate functions",
            span,
        ));
    }

    // Partition rows by key values, in order of first appearance.
    let bound_keys = keys
        .iter()
        .map(|(k, _)| bind(k, scope, funcs))
        .collect::<Result<Vec<_>>>()?;
    let mut groups: Vec<(Vec<Value>, Vec<usize>)> = Vec::new();
    if keys.is_empty() {
        groups.push((Vec::new(), (0..rows.len()).collect()));
    } else {
        let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for (ri, row) in rows.iter().enumerate() {
            let kv = bound_keys
                .iter()
                .map(|b| eval(b, row, funcs))
                .collect::<Result<Vec<_>>>()?;
            let mut key = String::new();
            for v in &kv {
                v.group_key(&mut key);
            }
            match index.get(&key) {
                Some(&g) => groups[g].1.push(ri),
                None => {
                    index.insert(key, groups.len());
                    groups.push((kv, vec![ri]));
                }
            }
        }
    }

    let mut out_rows: Vec<Vec<Value>> = groups.iter().map(|(kv, _)| kv.clone()).collect();
    for call in &calls {
        let arg = call
            .arg
            .as_ref()
            .map(|a| bind(a, scope, funcs))
            .transpose()?;
        for (g, (_, members)) in groups.iter().enumerate() {
            let mut vals = Vec::with_capacity(members.len());
            for &ri in members {
                vals.push(match &arg {
                    Some(b) => eval(b, &rows[ri], funcs)?,
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
            out_rows[g].push(fold(&call.name, vals, call)?);
        }
    }
    let type_of = |i: usize| out_rows.iter().find_map(|r| r[i].data_type());
    let mut columns = Vec::with_capacity(keys.len() + calls.len());
    for i in 0..keys.len() + calls.len() {
        let name = if i < keys.len() {
            format!("{GROUP_PREFIX}{i}")
        } else {
            format!("{AGG_PREFIX}{}", i - keys.len())
        };
        columns.push(ScopeColumn {
            qualifiers: Vec::new(),
            name,
            data_type: type_of(i),
            hidden: true,
        });
    }

    // A plain column outside any aggregate or group key has no single value.
    let mut combined = scope.to_vec();
    combined.extend(columns.iter().cloned());
    let exprs = items
        .iter()
        .filter_map(|i| match i {
            SelectItem::Expr { expr, .. } => Some(expr),
            _ => None,
        })
        .chain(order_by.iter().filter(|o| {
            // ORDER BY may name output columns; those are checked by the caller.
            !matches!(&o.kind, ExprKind::Column(p) if p.len() == 1)
        }));
    for expr in exprs {
        if let Err(e) = bind(expr, &columns, funcs) {
            if let Some(name) = e.message.strip_prefix("Unrecognized name: ") {
                let name = name.split("; Did you mean").next().unwrap_or(name);
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
    if let Some(h) = &having {
        let b = bind(h, &columns, funcs).map_err(|e| {
            match e.message.strip_prefix("Unrecognized name: ") {
                Some(name) if bind(h, &combined, funcs).is_ok() => SqlError {
                    message: format!(
                    "HAVING clause references column {} which is neither grouped nor aggregated",
                    name.split("; Did you mean").next().unwrap_or(name)
                ),
                    ..e
                },
                _ => e,
            }
        })?;
        let mut kept = Vec::with_capacity(out_rows.len());
        if bind_only {
            out_rows.clear();
        }
        for row in out_rows {
            match eval(&b, &row, funcs)? {
                Value::Bool(true) => kept.push(row),
                Value::Bool(false) | Value::Null => {}
                other => {
                    return Err(SqlError::invalid(
                        format!(
                            "HAVING clause should return type BOOL, but returns {}",
                            other.type_name()
                        ),
                        h.span,
                    ))
                }
            }
        }
        out_rows = kept;
    }
    Ok(Some(Aggregated {
        items,
        order_by,
        columns,
        rows: out_rows,
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
