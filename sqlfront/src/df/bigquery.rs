//! BigQuery's SQL on DataFusion's planner. DataFusion parses the text with sqlparser's
//! BigQuery dialect; before planning, [`rewrite_statement`] turns the BigQuery forms whose
//! names, argument orders or semantics differ into DataFusion's (or into the UDFs of
//! [`super::bigquery_fns`]):
//!
//! - `UNNEST(array) [AS x] [WITH OFFSET [AS o]]` in FROM, after a comma, CROSS JOIN or
//!   LEFT JOIN (correlated, as BigQuery allows) or alone: a derived table whose select
//!   list unnests the array and, zipped with it, its offsets `0..n`;
//! - `/` returns FLOAT64 and errors on a zero divisor; `DIV`, `SAFE_DIVIDE`, `IF`,
//!   `COUNTIF`, `LOGICAL_AND/OR`, `ARRAY_LENGTH`, `GENERATE_ARRAY`, `SPLIT`,
//!   `REGEXP_CONTAINS`, `REGEXP_REPLACE` (every match), `ARRAY_AGG(… LIMIT n)`;
//! - dates and times: `DATE_TRUNC(x, PART)`, `DATE_DIFF/TIMESTAMP_DIFF(a, b, PART)`,
//!   `DATE_ADD/SUB(x, INTERVAL …)`, `FORMAT_DATE/TIMESTAMP(fmt, x)`, `PARSE_DATE/TIMESTAMP`,
//!   `EXTRACT(DAYOFWEEK …)` (1 = Sunday), `DATETIME` as a type and literal;
//! - the type names `INT64`, `FLOAT64`, `BYTES`, `DATETIME` in CAST / SAFE_CAST, and
//!   `CAST(x AS STRING)` as `bq_string` (BigQuery's text of FLOAT64, TIMESTAMP, DATETIME);
//! - a select-list expression without a name is named `f0_`, `f1_`, … as in BigQuery.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    self, BinaryOperator, CastKind, DataType, DateTimeField, Expr, Function, FunctionArg,
    FunctionArgExpr, FunctionArgumentClause, FunctionArgumentList, FunctionArguments, Ident,
    ObjectName, ObjectNamePart, Query, Select, SelectItem, SetExpr, TableAlias, TableFactor,
    TableWithJoins, TimezoneInfo, Value, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::tokenizer::Span as SqlSpan;

use crate::error::{ErrorKind, Span, SqlError};

/// What the rewrite needs to know of the session.
pub struct Names<'a> {
    /// Whether a function (lower-case name or alias) is an aggregate.
    pub is_aggregate: &'a dyn Fn(&str) -> bool,
    /// Whether a table name (its parts as written) names an object table, whose `data`
    /// column is a pseudo-column: read when named, not part of `*`.
    pub is_object_table: &'a dyn Fn(&[String]) -> bool,
}

/// Rewrites one parsed statement in place; an error names the first construct DataFusion
/// cannot run with BigQuery's meaning.
pub fn rewrite_statement(
    stmt: &mut ast::Statement,
    sql: &str,
    names: &Names<'_>,
) -> Result<(), SqlError> {
    let mut v = Rewriter {
        sql,
        is_aggregate: names.is_aggregate,
        is_object_table: names.is_object_table,
        error: None,
    };
    let _ = stmt.visit(&mut v);
    match v.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

struct Rewriter<'a> {
    sql: &'a str,
    is_aggregate: &'a dyn Fn(&str) -> bool,
    is_object_table: &'a dyn Fn(&[String]) -> bool,
    error: Option<SqlError>,
}

impl VisitorMut for Rewriter<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        rewrite_object_table_selects(&mut query.body, self.is_object_table);
        // FROM rewrites run before the expressions inside them are visited, so the
        // select lists they build go through the expression rewrites too.
        if let Err(e) = rewrite_set_expr_from(&mut query.body) {
            self.error = Some(e.located(self.sql));
            return ControlFlow::Break(());
        }
        name_anonymous_columns(&mut query.body);
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match rewrite_expr(expr, self.is_aggregate) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                self.error = Some(e.located(self.sql));
                ControlFlow::Break(())
            }
        }
    }
}

/// A rewrite failure before it is placed in the text.
struct Unsupported {
    kind: ErrorKind,
    message: String,
    at: SqlSpan,
}

impl Unsupported {
    fn new(message: impl Into<String>, at: SqlSpan) -> Unsupported {
        Unsupported {
            kind: ErrorKind::NotSupported,
            message: message.into(),
            at,
        }
    }

    /// An invalid query rather than an unsupported one.
    fn invalid(message: impl Into<String>, at: SqlSpan) -> Unsupported {
        Unsupported {
            kind: ErrorKind::InvalidQuery,
            ..Unsupported::new(message, at)
        }
    }

    fn located(self, sql: &str) -> SqlError {
        let err = SqlError::new(self.kind, self.message);
        match span_of(sql, self.at) {
            Some(s) => err.with_span(s),
            None => err,
        }
    }
}

/// sqlparser's 1-based line/column span as a [`Span`] into `sql` (`None` when empty).
fn span_of(sql: &str, at: SqlSpan) -> Option<Span> {
    super::span_at(sql, at.start.line, at.start.column)
}

/// BigQuery names a select-list expression that is neither aliased nor a column (or field)
/// reference `f<n>_`, counting such expressions from 0.
fn name_anonymous_columns(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            let mut n = 0;
            for item in &mut select.projection {
                let SelectItem::UnnamedExpr(e) = item else {
                    continue;
                };
                if matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
                    continue;
                }
                let expr = take(e);
                *item = SelectItem::ExprWithAlias {
                    expr,
                    alias: Ident::new(format!("f{n}_")),
                };
                n += 1;
            }
        }
        // A set operation's columns are named by its first query.
        SetExpr::SetOperation { left, .. } => name_anonymous_columns(left),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------
// SELECT *: pseudo-columns

/// The pseudo-column of object tables.
const PSEUDO_COLUMN: &str = "data";

/// The object-table forms of each SELECT in `body` whose FROM reads an object table:
/// [`hide_pseudo_columns`] and [`name_decoded_objects`].
fn rewrite_object_table_selects(body: &mut SetExpr, is_object_table: &dyn Fn(&[String]) -> bool) {
    let select = match body {
        SetExpr::Select(select) => select,
        SetExpr::SetOperation { left, right, .. } => {
            rewrite_object_table_selects(left, is_object_table);
            rewrite_object_table_selects(right, is_object_table);
            return;
        }
        _ => return,
    };
    let relations: Vec<&TableFactor> = select
        .from
        .iter()
        .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)))
        .collect();
    // The names (lower case) that qualify the object tables' columns.
    let objects: Vec<String> = relations
        .iter()
        .filter(|r| match r {
            TableFactor::Table { name, .. } => {
                let parts: Vec<String> = name
                    .0
                    .iter()
                    .filter_map(|p| p.as_ident().map(|i| i.value.clone()))
                    .collect();
                is_object_table(&parts)
            }
            _ => false,
        })
        .filter_map(|r| relation_name(r).map(|n| n.value.to_lowercase()))
        .collect();
    if objects.is_empty() {
        return;
    }
    let all_objects = objects.len() == relations.len();
    hide_pseudo_columns(select, &objects, all_objects);
    name_decoded_objects(select, &objects);
}

/// Adds `EXCEPT(data)` to `*` when every FROM item is an object table (`all_objects`),
/// and to `t.*` when `t` is one of `objects`.
fn hide_pseudo_columns(select: &mut Select, objects: &[String], all_objects: bool) {
    for item in &mut select.projection {
        let options = match item {
            SelectItem::Wildcard(options) if all_objects => options,
            SelectItem::QualifiedWildcard(
                ast::SelectItemQualifiedWildcardKind::ObjectName(name),
                options,
            ) if name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .is_some_and(|i| objects.contains(&i.value.to_lowercase())) =>
            {
                options
            }
            _ => continue,
        };
        let hidden = Ident::new(PSEUDO_COLUMN);
        match &mut options.opt_except {
            None => {
                options.opt_except = Some(ast::ExceptSelectItem {
                    first_element: hidden,
                    additional_elements: Vec::new(),
                })
            }
            Some(except) => {
                let named = std::iter::once(&except.first_element)
                    .chain(&except.additional_elements)
                    .any(|i| i.value.eq_ignore_ascii_case(PSEUDO_COLUMN));
                if !named {
                    except.additional_elements.push(hidden);
                }
            }
        }
    }
}

/// `ML.DECODE_IMAGE(data)` over an object table's `data` gets the row's `uri` as a
/// second argument, so that a decoding error names the object (BigQuery's messages do).
fn name_decoded_objects(select: &mut Select, objects: &[String]) {
    use datafusion::sql::sqlparser::ast::visit_expressions_mut;
    let uri_of = |arg: &Expr| -> Option<Expr> {
        match arg {
            Expr::Identifier(i)
                if i.value.eq_ignore_ascii_case(PSEUDO_COLUMN) && objects.len() == 1 =>
            {
                Some(Expr::Identifier(Ident::new("uri")))
            }
            Expr::CompoundIdentifier(parts)
                if parts.len() == 2
                    && parts[1].value.eq_ignore_ascii_case(PSEUDO_COLUMN)
                    && objects.contains(&parts[0].value.to_lowercase()) =>
            {
                Some(Expr::CompoundIdentifier(vec![
                    parts[0].clone(),
                    Ident::new("uri"),
                ]))
            }
            _ => None,
        }
    };
    let mut add_uri = |e: &mut Expr| {
        if let Expr::Function(f) = e {
            let is_decode = f.name.to_string().eq_ignore_ascii_case("ML.DECODE_IMAGE");
            if let (true, FunctionArguments::List(list)) = (is_decode, &mut f.args) {
                if let [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))] = &list.args[..] {
                    if let Some(uri) = uri_of(arg) {
                        list.args
                            .push(FunctionArg::Unnamed(FunctionArgExpr::Expr(uri)));
                    }
                }
            }
        }
        ControlFlow::<()>::Continue(())
    };
    let _ = visit_expressions_mut(&mut select.projection, &mut add_uri);
    let _ = visit_expressions_mut(&mut select.selection, &mut add_uri);
}

// ---------------------------------------------------------------------------------------
// FROM: UNNEST

fn rewrite_set_expr_from(body: &mut SetExpr) -> Result<(), Unsupported> {
    match body {
        SetExpr::Select(select) => rewrite_select_from(select),
        SetExpr::SetOperation { left, right, .. } => {
            rewrite_set_expr_from(left)?;
            rewrite_set_expr_from(right)
        }
        // Nested queries are visited on their own.
        _ => Ok(()),
    }
}

/// Folds every FROM item left of an UNNEST into the derived table that unnests it.
fn rewrite_select_from(select: &mut Select) -> Result<(), Unsupported> {
    if !select.from.iter().any(has_unnest) {
        return Ok(());
    }
    // The FROM list as one left-deep sequence: (relation, how it joins the left side).
    let mut items: Vec<(TableFactor, Option<ast::JoinOperator>)> = Vec::new();
    for twj in std::mem::take(&mut select.from) {
        items.push((twj.relation, None));
        for j in twj.joins {
            items.push((j.relation, Some(j.join_operator)));
        }
    }
    let mut left: Option<TableWithJoins> = None;
    for (relation, op) in items {
        let TableFactor::UNNEST {
            alias,
            array_exprs,
            with_offset,
            with_offset_alias,
            with_ordinality,
        } = relation
        else {
            match (&mut left, op) {
                (Some(l), Some(op)) => l.joins.push(ast::Join {
                    relation,
                    global: false,
                    join_operator: op,
                }),
                (Some(l), None) => l.joins.push(ast::Join {
                    relation,
                    global: false,
                    join_operator: ast::JoinOperator::CrossJoin(ast::JoinConstraint::None),
                }),
                (None, _) => {
                    left = Some(TableWithJoins {
                        relation,
                        joins: Vec::new(),
                    })
                }
            }
            continue;
        };
        let at = array_exprs
            .first()
            .map_or(SqlSpan::empty(), ast::Spanned::span);
        if with_ordinality {
            return Err(Unsupported::new(
                "UNNEST ... WITH ORDINALITY is not BigQuery SQL",
                at,
            ));
        }
        let keep_empty = match &op {
            None
            | Some(ast::JoinOperator::CrossJoin(_))
            | Some(ast::JoinOperator::Join(ast::JoinConstraint::None))
            | Some(ast::JoinOperator::Inner(ast::JoinConstraint::None)) => false,
            Some(ast::JoinOperator::Left(c) | ast::JoinOperator::LeftOuter(c))
                if is_true_or_none(c) =>
            {
                true
            }
            Some(_) => {
                return Err(Unsupported::new(
                    "UNNEST is supported after a comma, CROSS JOIN or LEFT JOIN (without a condition other than ON TRUE)",
                    at,
                ))
            }
        };
        let [array] = <[Expr; 1]>::try_from(array_exprs)
            .map_err(|_| Unsupported::new("UNNEST takes exactly one array in BigQuery", at))?;
        let element = alias
            .as_ref()
            .map_or_else(|| Ident::new("f0_"), |a| a.name.clone());
        let offset = with_offset.then(|| {
            with_offset_alias
                .clone()
                .unwrap_or_else(|| Ident::new("offset"))
        });
        let unnest = Unnest {
            array,
            element,
            offset,
            keep_empty,
        };
        left = Some(unnest_table(left.take(), unnest, at)?);
    }
    select.from = left.into_iter().collect();
    Ok(())
}

fn has_unnest(t: &TableWithJoins) -> bool {
    matches!(t.relation, TableFactor::UNNEST { .. })
        || t.joins
            .iter()
            .any(|j| matches!(j.relation, TableFactor::UNNEST { .. }))
}

/// `LEFT JOIN UNNEST(…)` may say `ON TRUE` (or nothing).
fn is_true_or_none(c: &ast::JoinConstraint) -> bool {
    match c {
        ast::JoinConstraint::None => true,
        ast::JoinConstraint::On(Expr::Value(v)) => v.value == Value::Boolean(true),
        _ => false,
    }
}

/// One UNNEST in FROM.
struct Unnest {
    array: Expr,
    element: Ident,
    offset: Option<Ident>,
    /// LEFT JOIN: a row whose array is empty or NULL stays, with NULL element and offset.
    keep_empty: bool,
}

/// `(SELECT l.*, UNNEST(array) AS element, UNNEST(range(0, n)) AS offset FROM left) AS l`,
/// keeping the left relation's name so that `l.column` still resolves outside. For a
/// LEFT JOIN both arrays become `[NULL]` where the array is empty or NULL.
fn unnest_table(
    left: Option<TableWithJoins>,
    u: Unnest,
    at: SqlSpan,
) -> Result<TableWithJoins, Unsupported> {
    let Unnest {
        array,
        element,
        offset,
        keep_empty,
    } = u;
    let (name, from) = match left {
        None => (Ident::new("__unnest"), Vec::new()),
        Some(mut l) if l.joins.is_empty() => {
            let name = relation_name(&l.relation).ok_or_else(|| {
                Unsupported::new(
                    "UNNEST after a FROM item without a name: give the item an alias (FROM (...) AS t, UNNEST(t.array))",
                    at,
                )
            })?;
            // `ds.t` becomes `ds.t AS t`, so that `t.*` names its columns.
            if let TableFactor::Table { alias: alias @ None, .. } = &mut l.relation {
                *alias = Some(table_alias(name.clone()));
            }
            (name, vec![l])
        }
        Some(_) => {
            return Err(Unsupported::new(
                "UNNEST after a join: write the join as a subquery with an alias, then UNNEST (FROM (SELECT ... JOIN ...) AS t, UNNEST(t.array))",
                at,
            ))
        }
    };
    let mut projection = Vec::new();
    if !from.is_empty() {
        projection.push(SelectItem::QualifiedWildcard(
            ast::SelectItemQualifiedWildcardKind::ObjectName(ObjectName::from(vec![name.clone()])),
            ast::WildcardAdditionalOptions::default(),
        ));
    }
    let n = cast(
        call("cardinality", vec![array.clone()]),
        DataType::BigInt(None),
    );
    let unnest = |e: Expr| {
        let e = if keep_empty {
            let nonempty = Expr::BinaryOp {
                left: Box::new(call("coalesce", vec![n.clone(), number("0")])),
                op: BinaryOperator::Gt,
                right: Box::new(number("0")),
            };
            case_when(
                nonempty,
                e,
                Some(call("make_array", vec![Expr::Value(Value::Null.into())])),
            )
        } else {
            e
        };
        call("unnest", vec![e])
    };
    let offsets = call("range", vec![number("0"), n.clone()]);
    projection.push(SelectItem::ExprWithAlias {
        expr: unnest(array),
        alias: element,
    });
    if let Some(offset) = offset {
        projection.push(SelectItem::ExprWithAlias {
            expr: unnest(offsets),
            alias: offset,
        });
    }
    let select = Select {
        projection,
        from,
        ..empty_select()
    };
    let query = Query {
        body: Box::new(SetExpr::Select(Box::new(select))),
        ..empty_query()
    };
    Ok(TableWithJoins {
        relation: TableFactor::Derived {
            lateral: false,
            subquery: Box::new(query),
            alias: Some(table_alias(name)),
            sample: None,
        },
        joins: Vec::new(),
    })
}

fn table_alias(name: Ident) -> TableAlias {
    TableAlias {
        explicit: true,
        name,
        columns: Vec::new(),
        at: None,
    }
}

/// The name a FROM item's columns are qualified with: its alias, else a table's last part.
fn relation_name(t: &TableFactor) -> Option<Ident> {
    match t {
        TableFactor::Table { alias: Some(a), .. } | TableFactor::Derived { alias: Some(a), .. } => {
            Some(a.name.clone())
        }
        TableFactor::Table { name, .. } => match name.0.last()? {
            ObjectNamePart::Identifier(id) => Some(id.clone()),
            ObjectNamePart::Function(_) => None,
        },
        _ => None,
    }
}

fn empty_select() -> Select {
    Select {
        select_token: ast::helpers::attached_token::AttachedToken::empty(),
        optimizer_hints: Vec::new(),
        distinct: None,
        select_modifiers: None,
        top: None,
        top_before_distinct: false,
        projection: Vec::new(),
        exclude: None,
        into: None,
        from: Vec::new(),
        lateral_views: Vec::new(),
        prewhere: None,
        selection: None,
        group_by: ast::GroupByExpr::Expressions(Vec::new(), Vec::new()),
        cluster_by: Vec::new(),
        distribute_by: Vec::new(),
        sort_by: Vec::new(),
        having: None,
        named_window: Vec::new(),
        qualify: None,
        window_before_qualify: false,
        value_table_mode: None,
        connect_by: Vec::new(),
        flavor: ast::SelectFlavor::Standard,
    }
}

fn empty_query() -> Query {
    Query {
        with: None,
        body: Box::new(SetExpr::Select(Box::new(empty_select()))),
        order_by: None,
        limit_clause: None,
        fetch: None,
        locks: Vec::new(),
        for_clause: None,
        settings: None,
        format_clause: None,
        pipe_operators: Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------
// Expressions

fn rewrite_expr(expr: &mut Expr, is_aggregate: &dyn Fn(&str) -> bool) -> Result<(), Unsupported> {
    match expr {
        Expr::Interval(iv) => check_interval_range(iv)?,
        Expr::CompoundFieldAccess { root, access_chain } => {
            // `a[i]`, `a[OFFSET(i)]`, `a[SAFE_ORDINAL(i)]`, …: BigQuery's array subscripts
            // (0-based unless ORDINAL, an error out of bounds unless SAFE_).
            let mut rewritten = 0;
            for access in access_chain.iter_mut() {
                let ast::AccessExpr::Subscript(ast::Subscript::Index { index }) = access else {
                    break;
                };
                if matches!(index, Expr::Value(v) if matches!(v.value, Value::SingleQuotedString(_) | Value::DoubleQuotedString(_)))
                {
                    break;
                }
                let (position, base, safe) = subscript_mode(take(index));
                let array = take(root);
                **root = call(
                    "bq_array_at",
                    vec![
                        array,
                        position,
                        number(base),
                        Expr::Value(Value::Boolean(safe).into()),
                    ],
                );
                rewritten += 1;
            }
            access_chain.drain(..rewritten);
            if access_chain.is_empty() {
                *expr = take(root);
            }
        }
        Expr::BinaryOp {
            op: BinaryOperator::Divide,
            left,
            right,
        } => {
            let (l, r) = (take(left), take(right));
            *expr = call("bq_divide", vec![l, r]);
        }
        // A raw string's text is its value: DataFusion plans only the plain kinds.
        Expr::Value(v) => {
            let plain = match &mut v.value {
                Value::SingleQuotedRawStringLiteral(t)
                | Value::TripleSingleQuotedRawStringLiteral(t)
                | Value::TripleSingleQuotedString(t) => {
                    Some(Value::SingleQuotedString(std::mem::take(t)))
                }
                Value::DoubleQuotedRawStringLiteral(t)
                | Value::TripleDoubleQuotedRawStringLiteral(t)
                | Value::TripleDoubleQuotedString(t) => {
                    Some(Value::DoubleQuotedString(std::mem::take(t)))
                }
                // A BYTES literal becomes the hex literal of its bytes, escapes applied.
                Value::SingleQuotedByteStringLiteral(t)
                | Value::DoubleQuotedByteStringLiteral(t)
                | Value::TripleSingleQuotedByteStringLiteral(t)
                | Value::TripleDoubleQuotedByteStringLiteral(t) => {
                    Some(Value::HexStringLiteral(hex(&unescape_bytes(t))))
                }
                _ => None,
            };
            if let Some(p) = plain {
                v.value = p;
            }
        }
        Expr::Cast {
            kind: kind @ (CastKind::Cast | CastKind::SafeCast),
            expr: inner,
            data_type: DataType::String(None),
            array: false,
            format: None,
        } => {
            let safe = Expr::Value(Value::Boolean(*kind == CastKind::SafeCast).into());
            *expr = call("bq_string", vec![take(inner), safe]);
        }
        Expr::Cast { data_type, .. } => {
            if let Some(t) = datafusion_type(data_type) {
                *data_type = t;
            }
        }
        Expr::TypedString(ts) => {
            if let Some(t) = datafusion_type(&ts.data_type) {
                ts.data_type = t;
            }
        }
        Expr::Extract {
            field, expr: inner, ..
        } => {
            let part = match field {
                DateTimeField::DayOfWeek => Some(("dow", true)),
                DateTimeField::DayOfYear => Some(("doy", false)),
                DateTimeField::Custom(id) if id.value.eq_ignore_ascii_case("dayofweek") => {
                    Some(("dow", true))
                }
                DateTimeField::Custom(id) if id.value.eq_ignore_ascii_case("dayofyear") => {
                    Some(("doy", false))
                }
                _ => None,
            };
            if let Some((part, plus_one)) = part {
                let e = call("date_part", vec![string(part), take(inner)]);
                let e = cast(e, DataType::BigInt(None));
                *expr = if plus_one {
                    Expr::BinaryOp {
                        left: Box::new(e),
                        op: BinaryOperator::Plus,
                        right: Box::new(number("1")),
                    }
                } else {
                    e
                };
            }
        }
        Expr::Function(f) => {
            if let Some(e) = rewrite_call(f)? {
                *expr = e;
            }
        }
        Expr::Subquery(q) => single_row(q, is_aggregate),
        _ => {}
    }
    Ok(())
}

/// A scalar subquery `(SELECT e FROM … WHERE …)` that does not aggregate becomes
/// `(SELECT bq_single(e) …)`: BigQuery's value (NULL for no row, an error for more than
/// one), in the aggregated form DataFusion can decorrelate.
fn single_row(q: &mut Query, is_aggregate: &dyn Fn(&str) -> bool) {
    let SetExpr::Select(select) = q.body.as_mut() else {
        return;
    };
    let grouped = !matches!(&select.group_by, ast::GroupByExpr::Expressions(g, _) if g.is_empty());
    if grouped || select.having.is_some() || select.distinct.is_some() {
        return;
    }
    let [item] = &mut select.projection[..] else {
        return;
    };
    let e = match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
        _ => return,
    };
    let mut aggregates = false;
    let _ = ast::visit_expressions(e, |x| {
        if let Expr::Function(f) = x {
            let name = f.name.to_string().to_ascii_lowercase();
            if f.over.is_some() || is_aggregate(&name) {
                aggregates = true;
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    if !aggregates {
        let inner = take(e);
        *e = call("bq_single", vec![inner]);
    }
}

/// BigQuery's types under the names DataFusion plans.
fn datafusion_type(t: &DataType) -> Option<DataType> {
    match t {
        DataType::Int64 => Some(DataType::BigInt(None)),
        DataType::Float64 => Some(DataType::Double(ast::ExactNumberInfo::None)),
        DataType::Bytes(_) => Some(DataType::Bytea),
        DataType::Datetime(_) => Some(DataType::Timestamp(None, TimezoneInfo::None)),
        DataType::Timestamp(p, TimezoneInfo::None) => {
            Some(DataType::Timestamp(*p, TimezoneInfo::WithTimeZone))
        }
        _ => None,
    }
}

/// A call with BigQuery's name or argument order, as DataFusion's; `None` to keep it.
fn rewrite_call(f: &mut Function) -> Result<Option<Expr>, Unsupported> {
    let [ObjectNamePart::Identifier(id)] = &f.name.0[..] else {
        return Ok(None);
    };
    let name = id.value.to_ascii_uppercase();
    let at = id.span;
    let FunctionArguments::List(list) = &mut f.args else {
        return Ok(None);
    };
    let arity = list.args.len();
    let wrong_arity = |want: &str| {
        Err(Unsupported::new(
            format!("{name} takes {want} arguments, got {arity}"),
            at,
        ))
    };
    match name.as_str() {
        // Aggregates: only the name or a clause changes.
        "COUNTIF" => {
            let [cond] = plain_args(list, &name, at)?;
            let when = case_when(cond, number("1"), None);
            list.args = vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(when))];
            f.name = function_name("count");
            return Ok(None);
        }
        "LOGICAL_AND" => f.name = function_name("bool_and"),
        "LOGICAL_OR" => f.name = function_name("bool_or"),
        "ARRAY_AGG" => {
            let limit = list
                .clauses
                .iter()
                .position(|c| matches!(c, FunctionArgumentClause::Limit(_)));
            if let Some(FunctionArgumentClause::Limit(n)) = limit.map(|i| list.clauses.remove(i)) {
                let agg = Expr::Function(f.clone());
                return Ok(Some(call("array_slice", vec![agg, number("1"), n])));
            }
        }
        _ => {}
    }
    if f.over.is_some() || f.filter.is_some() || !f.within_group.is_empty() {
        return Ok(None);
    }
    let e = match name.as_str() {
        "IF" => {
            let [c, a, b] = plain_args(list, &name, at)?;
            case_when(c, a, Some(b))
        }
        "DIV" => {
            let [a, b] = plain_args(list, &name, at)?;
            Expr::BinaryOp {
                left: Box::new(cast(a, DataType::BigInt(None))),
                op: BinaryOperator::Divide,
                right: Box::new(cast(b, DataType::BigInt(None))),
            }
        }
        "ARRAY_LENGTH" => {
            let [a] = plain_args(list, &name, at)?;
            cast(call("cardinality", vec![a]), DataType::BigInt(None))
        }
        "GENERATE_ARRAY" => match arity {
            2 | 3 => call("generate_series", plain_args_vec(list)),
            _ => return wrong_arity("2 or 3"),
        },
        "SPLIT" => match arity {
            1 => {
                let [s] = plain_args(list, &name, at)?;
                call("string_to_array", vec![s, string(",")])
            }
            2 => call("string_to_array", plain_args_vec(list)),
            _ => return wrong_arity("1 or 2"),
        },
        "REGEXP_CONTAINS" => {
            let [s, re] = plain_args(list, &name, at)?;
            call("regexp_like", vec![s, re])
        }
        "REGEXP_REPLACE" => {
            // BigQuery replaces every match.
            let [s, re, with] = plain_args(list, &name, at)?;
            call("regexp_replace", vec![s, re, with, string("g")])
        }
        "DATE_TRUNC" | "DATETIME_TRUNC" | "TIMESTAMP_TRUNC" => {
            let [x, part] = plain_args(list, &name, at)?;
            let part = date_part_name(&part, &name)?;
            let truncated = call("date_trunc", vec![string(&part), x.clone()]);
            if name == "DATE_TRUNC" {
                // BigQuery keeps a DATE a DATE.
                cast(truncated, DataType::Date)
            } else {
                truncated
            }
        }
        "DATE_DIFF" | "DATETIME_DIFF" | "TIMESTAMP_DIFF" => {
            let [a, b, part] = plain_args(list, &name, at)?;
            let part = date_part_name(&part, &name)?;
            call("bq_date_diff", vec![string(&part), a, b])
        }
        "DATE_ADD" | "DATETIME_ADD" | "TIMESTAMP_ADD" | "DATE_SUB" | "DATETIME_SUB"
        | "TIMESTAMP_SUB" => {
            let [x, interval] = plain_args(list, &name, at)?;
            let op = if name.ends_with("_ADD") {
                BinaryOperator::Plus
            } else {
                BinaryOperator::Minus
            };
            Expr::BinaryOp {
                left: Box::new(x),
                op,
                right: Box::new(interval),
            }
        }
        "FORMAT_DATE" | "FORMAT_DATETIME" | "FORMAT_TIMESTAMP" => {
            let [fmt, x] = plain_args(list, &name, at)?;
            call("to_char", vec![x, fmt])
        }
        "PARSE_DATE" => {
            let [fmt, s] = plain_args(list, &name, at)?;
            call("to_date", vec![s, fmt])
        }
        "PARSE_DATETIME" | "PARSE_TIMESTAMP" => {
            let [fmt, s] = plain_args(list, &name, at)?;
            call("to_timestamp", vec![s, fmt])
        }
        "CURRENT_DATETIME" | "CURRENT_TIMESTAMP" if arity == 0 => call("now", Vec::new()),
        _ => return Ok(None),
    };
    Ok(Some(e))
}

/// `MONTH` (an identifier) as DataFusion's part name `'month'`.
/// BigQuery's interval range, ±10000 years, for `INTERVAL n UNIT` with a literal `n`.
fn check_interval_range(iv: &ast::Interval) -> Result<(), Unsupported> {
    let (negative, digits) = match iv.value.as_ref() {
        Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => (true, expr.as_ref()),
        e => (false, e),
    };
    let Expr::Value(v) = digits else {
        return Ok(());
    };
    let Value::Number(n, _) = &v.value else {
        return Ok(());
    };
    let (Some(unit), None) = (&iv.leading_field, &iv.last_field) else {
        return Ok(());
    };
    let limit: i128 = match unit {
        DateTimeField::Year => 10_000,
        DateTimeField::Quarter => 40_000,
        DateTimeField::Month => 120_000,
        DateTimeField::Week(_) => 522_857,
        DateTimeField::Day => 3_660_000,
        DateTimeField::Hour => 87_840_000,
        DateTimeField::Minute => 5_270_400_000,
        DateTimeField::Second => 316_224_000_000,
        DateTimeField::Millisecond => 316_224_000_000_000,
        DateTimeField::Microsecond => 316_224_000_000_000_000,
        _ => return Ok(()),
    };
    match n.parse::<i128>() {
        Ok(count) if count <= limit => Ok(()),
        Err(_) if n.contains(['.', 'e', 'E']) => Ok(()),
        _ => Err(Unsupported::invalid(
            format!(
                "Interval field out of range: INTERVAL {}{n} {unit} is beyond ±10000 years",
                if negative { "-" } else { "" }
            ),
            v.span,
        )),
    }
}

/// The bytes of a BYTES literal's text: `\\xHH`, octal `\\ooo`, `\\n`, `\\r`, `\\t`,
/// `\\\\` and escaped quotes applied; other characters as their UTF-8 bytes.
fn unescape_bytes(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            Some('x' | 'X') => {
                let digits: String = (0..2)
                    .filter_map(|_| chars.next_if(char::is_ascii_hexdigit))
                    .collect();
                out.push(u8::from_str_radix(&digits, 16).unwrap_or(0));
            }
            Some(d @ '0'..='7') => {
                let mut digits = d.to_string();
                while digits.len() < 3 {
                    match chars.next_if(|c| ('0'..='7').contains(c)) {
                        Some(c) => digits.push(c),
                        None => break,
                    }
                }
                out.push(u8::from_str_radix(&digits, 8).unwrap_or(0));
            }
            Some('n') => out.push(b'\n'),
            Some('r') => out.push(b'\r'),
            Some('t') => out.push(b'\t'),
            Some('a') => out.push(0x07),
            Some('b') => out.push(0x08),
            Some('f') => out.push(0x0c),
            Some('v') => out.push(0x0b),
            Some(other) => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
            }
            None => out.push(b'\\'),
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The position, base (`"0"` or `"1"`) and safety of a subscript's index expression.
fn subscript_mode(index: Expr) -> (Expr, &'static str, bool) {
    if let Expr::Function(f) = &index {
        let name = f.name.to_string().to_ascii_uppercase();
        let mode = match name.as_str() {
            "OFFSET" => Some(("0", false)),
            "ORDINAL" => Some(("1", false)),
            "SAFE_OFFSET" => Some(("0", true)),
            "SAFE_ORDINAL" => Some(("1", true)),
            _ => None,
        };
        if let (Some((base, safe)), FunctionArguments::List(list)) = (mode, &f.args) {
            if let [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))] = &list.args[..] {
                return (arg.clone(), base, safe);
            }
        }
    }
    (index, "0", false)
}

fn date_part_name(part: &Expr, function: &str) -> Result<String, Unsupported> {
    let (name, at) = match part {
        Expr::Identifier(id) => (id.value.to_ascii_lowercase(), id.span),
        other => {
            return Err(Unsupported::new(
                format!("{function}: the date part must be a name such as DAY or MONTH"),
                ast::Spanned::span(other),
            ))
        }
    };
    match name.as_str() {
        "microsecond" | "millisecond" | "second" | "minute" | "hour" | "day" | "week" | "month"
        | "quarter" | "year" => Ok(name),
        _ => Err(Unsupported::new(
            format!("{function}: unsupported date part {}", name.to_uppercase()),
            at,
        )),
    }
}

fn function_name(name: &str) -> ObjectName {
    ObjectName::from(vec![Ident::new(name)])
}

/// The arguments of a call that takes exactly `N` plain (unnamed, non-wildcard) ones.
fn plain_args<const N: usize>(
    list: &mut FunctionArgumentList,
    name: &str,
    at: SqlSpan,
) -> Result<[Expr; N], Unsupported> {
    let got = list.args.len();
    let args = plain_args_vec(list);
    <[Expr; N]>::try_from(args)
        .map_err(|_| Unsupported::new(format!("{name} takes {N} arguments, got {got}"), at))
}

fn plain_args_vec(list: &mut FunctionArgumentList) -> Vec<Expr> {
    std::mem::take(&mut list.args)
        .into_iter()
        .filter_map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect()
}

/// Moves `e` out, leaving a NULL literal in its place.
fn take(e: &mut Expr) -> Expr {
    std::mem::replace(e, Expr::Value(Value::Null.into()))
}

/// `CASE WHEN condition THEN result [ELSE otherwise] END`.
fn case_when(condition: Expr, result: Expr, otherwise: Option<Expr>) -> Expr {
    Expr::Case {
        case_token: ast::helpers::attached_token::AttachedToken::empty(),
        end_token: ast::helpers::attached_token::AttachedToken::empty(),
        operand: None,
        conditions: vec![ast::CaseWhen { condition, result }],
        else_result: otherwise.map(Box::new),
    }
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

fn cast(e: Expr, data_type: DataType) -> Expr {
    Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(e),
        data_type,
        array: false,
        format: None,
    }
}

fn string(s: &str) -> Expr {
    Expr::Value(Value::SingleQuotedString(s.to_string()).into())
}

fn number(n: &str) -> Expr {
    Expr::Value(Value::Number(n.to_string(), false).into())
}
