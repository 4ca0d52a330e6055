//! Runs queries over materialized relations.
//!
//! Row sources are named tables (CSV external tables are read here; object tables and
//! `ML.PREDICT` come from a [`TableSources`] implementation), subqueries and joins.

use crate::aggregate::AGG_PREFIX;
use crate::ast::*;
use crate::binder::{bind, eval, eval_const, ScalarFunctions, ScopeColumn};
use crate::catalog::{CatalogState, ModelEntry, TableEntry, TableKind};
use crate::error::{ErrorKind, Result, SqlError};
use crate::value::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use runtime::CompiledModel;

/// A set of rows with named columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Relation {
    /// The columns, in order.
    pub columns: Vec<ScopeColumn>,
    /// The rows; each has one value per column.
    pub rows: Vec<Vec<Value>>,
}

/// Table-valued sources that live outside this crate: object-table listings and
/// `ML.PREDICT`. The default methods report "not supported yet".
pub trait TableSources: ScalarFunctions {
    /// Lists an object table's rows (including the hidden `data` column).
    fn scan_object_table(
        &self,
        name: &str,
        table: &TableEntry,
        ctx: &ExecContext<'_>,
    ) -> Result<Relation> {
        let _ = (table, ctx);
        Err(SqlError::new(
            ErrorKind::NotSupported,
            format!("Reading object table {name} is not supported yet"),
        ))
    }

    /// Opens `model` (whose files are relative to `ctx.data_dir`, compiled as
    /// `ctx.compile` asks) for one `ML.PREDICT` with `settings`. The query keeps what this
    /// returns until it ends, so dropping or replacing the model meanwhile does not
    /// affect it.
    fn open_model(
        &self,
        name: &str,
        model: &ModelEntry,
        settings: Option<&Value>,
        ctx: &ExecContext<'_>,
    ) -> Result<Arc<CompiledModel>> {
        let _ = (model, settings, ctx);
        Err(SqlError::new(
            ErrorKind::NotSupported,
            format!("ML.PREDICT with model {name} is not supported yet"),
        ))
    }

    /// Runs `model` (from [`TableSources::open_model`]) over `input`; returns output
    /// columns followed by the input columns.
    fn predict(&self, name: &str, model: &Arc<CompiledModel>, input: Relation) -> Result<Relation> {
        let _ = (model, input);
        Err(SqlError::new(
            ErrorKind::NotSupported,
            format!("ML.PREDICT with model {name} is not supported yet"),
        ))
    }
}

/// No external sources or functions.
pub struct NoSources;

impl ScalarFunctions for NoSources {
    fn has_function(&self, _name: &str) -> bool {
        false
    }
    fn call(&self, name: &str, _args: &[Value]) -> std::result::Result<Value, String> {
        Err(format!("Function not found: {name}"))
    }
}

impl TableSources for NoSources {}

/// A consumer's answer to a piece of a query's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Send the next piece.
    More,
    /// Stop: no more rows are needed.
    Enough,
}

/// The rows of a query still to be output, as OFFSET and LIMIT say, over a result that
/// arrives in pieces.
struct Window {
    /// Rows still to be skipped.
    skip: usize,
    /// Rows still to be output (`None`: all).
    take: Option<usize>,
}

impl Window {
    fn new(q: &Query) -> Result<Window> {
        Ok(Window {
            skip: q
                .offset
                .as_ref()
                .map_or(Ok(0), |e| count_arg(e, "OFFSET"))?,
            take: q
                .limit
                .as_ref()
                .map(|e| count_arg(e, "LIMIT"))
                .transpose()?,
        })
    }

    /// The range of the next piece's `n` rows that is output; moves past the piece.
    fn advance(&mut self, n: usize) -> std::ops::Range<usize> {
        let start = self.skip.min(n);
        self.skip -= start;
        let len = self.take.map_or(n - start, |t| t.min(n - start));
        if let Some(t) = &mut self.take {
            *t -= len;
        }
        start..start + len
    }

    /// Whether every row the query outputs has been output.
    fn is_full(&self) -> bool {
        self.take == Some(0)
    }
}

/// Everything a query needs besides its text.
pub struct ExecContext<'a> {
    /// The catalog snapshot the query reads.
    pub state: &'a CatalogState,
    /// The data directory (model files are relative to it).
    pub data_dir: &'a Path,
    /// Local stand-in for Cloud Storage.
    pub gcs_root: Option<&'a Path>,
    /// External functions and sources.
    pub sources: &'a dyn TableSources,
    /// The options models are compiled with.
    pub compile: &'a compiler::CompileOptions,
}

/// Splits `[project.]ds.name` into (dataset, name).
pub fn split_table_name(name: &ObjectName, what: &str) -> Result<(String, String)> {
    match name.parts.as_slice() {
        [ds, n] | [_, ds, n] => Ok((ds.value.clone(), n.value.clone())),
        _ => Err(SqlError::invalid(
            format!(
                "{what} name \"{}\" missing dataset while no default dataset is set in the request",
                name.dotted()
            ),
            name.span,
        )),
    }
}

impl ExecContext<'_> {
    /// Runs a query and returns its result with unqualified column names.
    pub fn query(&self, q: &Query) -> Result<Relation> {
        let mut result: Option<Relation> = None;
        self.query_chunks(q, usize::MAX, &mut |part, _, _| {
            append(&mut result, part);
            Ok(Flow::More)
        })?;
        Ok(result.unwrap_or_default())
    }

    /// [`ExecContext::query`]; with `dry`, every table is read as empty, so the result
    /// has the query's columns and no row is decoded or predicted.
    fn query_rows(&self, q: &Query, dry: bool) -> Result<Relation> {
        let mut result: Option<Relation> = None;
        self.chunks(q, usize::MAX, dry, &mut |part, _, _| {
            append(&mut result, part);
            Ok(Flow::More)
        })?;
        Ok(result.unwrap_or_default())
    }

    /// Runs a query and hands its result to `sink` in pieces of at most `chunk` rows, each
    /// with the number of source rows it covers and the total known so far, so that a
    /// consumer (`ML.PREDICT`, output) can work while the rest is being computed. Every
    /// piece has the same columns. Queries that need all rows before the first can be
    /// output (DISTINCT, ORDER BY, aggregates) come in one piece; a query that reads one
    /// `ML.PREDICT` row by row streams, so its rows are never all in memory. `sink` is
    /// called at least once; once it answers [`Flow::Enough`], no more rows are computed.
    pub fn query_chunks(
        &self,
        q: &Query,
        chunk: usize,
        sink: &mut dyn FnMut(Relation, usize, usize) -> Result<Flow>,
    ) -> Result<()> {
        if has_predict(q) {
            // Names are resolved before any row is read or predicted: the same query over
            // no rows binds every expression against the real columns (the model's outputs
            // included).
            self.query_rows(q, true)?;
        }
        self.chunks(q, chunk, false, sink).map(drop)
    }

    fn chunks(
        &self,
        q: &Query,
        chunk: usize,
        dry: bool,
        sink: &mut dyn FnMut(Relation, usize, usize) -> Result<Flow>,
    ) -> Result<Flow> {
        let mut window = Window::new(q)?;
        if let Some(predict) = self.streaming_predict(q, dry)? {
            let needed = referenced_names(q);
            let (mut covered, mut flow) = (0, Flow::More);
            self.predict_pieces(predict, needed.as_ref(), false, &mut |piece, total| {
                covered += piece.rows.len();
                let mut counted = |part, _: usize, _: usize| sink(part, covered, total);
                flow = self.select(q, piece, chunk, false, &mut window, &mut counted)?;
                Ok(if window.is_full() { Flow::Enough } else { flow })
            })?;
            return Ok(flow);
        }
        let source = match &q.select.from {
            Some(from) => self.run_from(from, referenced_names(q).as_ref(), dry)?,
            None => Relation {
                columns: vec![],
                rows: if dry { vec![] } else { vec![vec![]] },
            },
        };
        self.select(q, source, chunk, dry, &mut window, sink)
    }

    /// The `ML.PREDICT` whose pieces `q` can consume one at a time: `q` reads it as its
    /// only FROM item, and neither aggregates, groups, orders nor removes duplicates.
    fn streaming_predict<'q>(&self, q: &'q Query, dry: bool) -> Result<Option<&'q TableFactor>> {
        let select = &q.select;
        let Some(from) = &select.from else {
            return Ok(None);
        };
        if dry
            || !from.joins.is_empty()
            || !matches!(from.relation, TableFactor::Predict { .. })
            || !q.order_by.is_empty()
            || select.distinct
            || !select.group_by.is_empty()
            || select.having.is_some()
        {
            return Ok(None);
        }
        // Without GROUP BY, whether the select list aggregates does not depend on the
        // FROM clause's columns (they only resolve group keys), so none are read here.
        let aggregates = crate::aggregate::aggregate(
            &select.projection,
            &[],
            &[],
            None,
            &[],
            None,
            self.sources as &dyn ScalarFunctions,
        )?;
        Ok(aggregates.is_none().then_some(&from.relation))
    }

    /// Everything after FROM (WHERE, aggregation, projection, ORDER BY, DISTINCT) over
    /// `source`, one piece of the FROM clause's rows; `window` is the part of the
    /// query's rows still to be output (OFFSET/LIMIT), advanced past this piece.
    fn select(
        &self,
        q: &Query,
        source: Relation,
        chunk: usize,
        dry: bool,
        window: &mut Window,
        sink: &mut dyn FnMut(Relation, usize, usize) -> Result<Flow>,
    ) -> Result<Flow> {
        let select = &q.select;
        let funcs = self.sources as &dyn ScalarFunctions;
        let mut rows = source.rows;
        if let Some(w) = &select.selection {
            let b = bind(w, &source.columns, funcs)?;
            let mut kept = Vec::with_capacity(rows.len());
            for row in rows {
                match eval(&b, &row, funcs)? {
                    Value::Bool(true) => kept.push(row),
                    Value::Bool(false) | Value::Null => {}
                    other => {
                        return Err(SqlError::invalid(
                            format!(
                                "WHERE clause should return type BOOL, but returns {}",
                                other.type_name()
                            ),
                            w.span,
                        ))
                    }
                }
            }
            rows = kept;
        }

        // Whole-input aggregation turns the rows into one row of aggregate results.
        let mut source_columns = source.columns;
        let mut projection = std::borrow::Cow::Borrowed(select.projection.as_slice());
        let mut order_exprs: Vec<Expr> = q.order_by.iter().map(|o| o.expr.clone()).collect();
        if let Some(agg) = crate::aggregate::aggregate(
            &select.projection,
            &order_exprs,
            &select.group_by,
            select.having.as_ref(),
            &source_columns,
            (!dry).then_some(rows.as_slice()),
            funcs,
        )? {
            projection = std::borrow::Cow::Owned(agg.items);
            order_exprs = agg.order_by;
            source_columns = agg.columns;
            rows = agg.rows;
        }

        // Projection: expand wildcards and bind each item.
        let mut out_cols: Vec<ScopeColumn> = Vec::new();
        let mut exprs = Vec::new();
        let mut anon = 0;
        for item in projection.iter() {
            match item {
                SelectItem::Wildcard(span) => {
                    if source_columns.is_empty() {
                        return Err(SqlError::invalid("SELECT * must have a FROM clause", *span));
                    }
                    for (i, c) in source_columns.iter().enumerate() {
                        if !c.hidden {
                            out_cols.push(ScopeColumn::new(c.name.clone(), c.data_type.clone()));
                            exprs.push(Projection::Column(i));
                        }
                    }
                }
                SelectItem::QualifiedWildcard(name) => {
                    let q = name.dotted();
                    let mut any = false;
                    for (i, c) in source_columns.iter().enumerate() {
                        if c.qualifiers.iter().any(|x| x.eq_ignore_ascii_case(&q)) {
                            any = true;
                            if !c.hidden {
                                out_cols
                                    .push(ScopeColumn::new(c.name.clone(), c.data_type.clone()));
                                exprs.push(Projection::Column(i));
                            }
                        }
                    }
                    if !any {
                        return Err(SqlError::invalid(
                            format!("Unrecognized name: {q}"),
                            name.span,
                        ));
                    }
                }
                SelectItem::Expr { expr, alias } => {
                    let b = bind(expr, &source_columns, funcs)?;
                    let (name, ty) = match (alias, &b.kind) {
                        (Some(a), crate::binder::BoundKind::Column(i)) => {
                            (a.value.clone(), source_columns[*i].data_type.clone())
                        }
                        (Some(a), _) => (a.value.clone(), None),
                        (None, crate::binder::BoundKind::Column(i))
                            if !source_columns[*i].name.starts_with(AGG_PREFIX) =>
                        {
                            (
                                source_columns[*i].name.clone(),
                                source_columns[*i].data_type.clone(),
                            )
                        }
                        (None, _) => match &expr.kind {
                            ExprKind::Column(parts)
                                if !parts.iter().any(|p| p.value.starts_with(AGG_PREFIX)) =>
                            {
                                (
                                    parts.last().map(|p| p.value.clone()).unwrap_or_default(),
                                    None,
                                )
                            }
                            _ => {
                                anon += 1;
                                (format!("f{}_", anon - 1), None)
                            }
                        },
                    };
                    out_cols.push(ScopeColumn::new(name, ty));
                    exprs.push(Projection::Expr(b));
                }
            }
        }

        // ORDER BY keys: an output column (by position or name) or an input expression.
        enum Key {
            Output(usize),
            Input(crate::binder::Bound),
        }
        let mut keys = Vec::new();
        for (o, oexpr) in q.order_by.iter().zip(&order_exprs) {
            let key = match &oexpr.kind {
                ExprKind::Literal(Literal::Int(k)) => {
                    let k = *k;
                    if k < 1 || k as usize > out_cols.len() {
                        return Err(SqlError::invalid(
                            format!("ORDER BY column number item is out of range. Column numbers must be between 1 and {}, but got {k}", out_cols.len()),
                            oexpr.span,
                        ));
                    }
                    Key::Output(k as usize - 1)
                }
                ExprKind::Column(parts)
                    if parts.len() == 1
                        && out_cols
                            .iter()
                            .any(|c| c.name.eq_ignore_ascii_case(&parts[0].value)) =>
                {
                    let hits: Vec<usize> = out_cols
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| c.name.eq_ignore_ascii_case(&parts[0].value))
                        .map(|(i, _)| i)
                        .collect();
                    if hits.len() > 1 {
                        return Err(SqlError::invalid(
                            format!("Column name {} is ambiguous", parts[0].value),
                            oexpr.span,
                        ));
                    }
                    Key::Output(hits[0])
                }
                _ => {
                    if select.distinct {
                        return Err(SqlError::invalid(
                            "ORDER BY clause expression references columns not visible after SELECT DISTINCT",
                            oexpr.span,
                        ));
                    }
                    Key::Input(bind(oexpr, &source_columns, funcs)?)
                }
            };
            keys.push((key, o.desc));
        }

        if dry {
            // Everything is bound; evaluating the placeholder row of an aggregate over no
            // rows could fail where the real rows would not (1 / COUNT(*)).
            return sink(
                Relation {
                    columns: out_cols,
                    rows: vec![],
                },
                0,
                0,
            );
        }
        let produce = |row: &Vec<Value>| -> Result<(Vec<Value>, Vec<Value>)> {
            crate::progress::check_cancelled()?;
            let mut out = Vec::with_capacity(exprs.len());
            for p in &exprs {
                out.push(match p {
                    // Output values are read values: a lazy object value is read here.
                    Projection::Column(i) => {
                        row.get(*i)
                            .cloned()
                            .unwrap_or(Value::Null)
                            .forced()
                            .map_err(|m| SqlError::new(ErrorKind::InvalidQuery, m))?
                    }
                    Projection::Expr(b) => eval(b, row, funcs)?,
                });
            }
            let mut k = Vec::new();
            for (key, _) in &keys {
                k.push(match key {
                    Key::Output(i) => out[*i].clone(),
                    Key::Input(b) => eval(b, row, funcs)?,
                });
            }
            Ok((out, k))
        };
        // Rows are independent: when the select list calls external functions (image
        // decoding), they are evaluated in parallel. The first failing row in input order
        // decides the error, so results and errors do not depend on scheduling.
        let heavy = exprs
            .iter()
            .any(|p| matches!(p, Projection::Expr(b) if b.calls_external()));
        let run = |part: &[Vec<Value>]| -> Result<Vec<(Vec<Value>, Vec<Value>)>> {
            let results: Vec<Result<(Vec<Value>, Vec<Value>)>> = if heavy && part.len() > 1 {
                use rayon::prelude::*;
                part.par_iter().map(produce).collect()
            } else {
                part.iter().map(produce).collect()
            };
            results.into_iter().collect()
        };
        let typed = |mut columns: Vec<ScopeColumn>, rows: Vec<Vec<Value>>| {
            for (i, c) in columns.iter_mut().enumerate() {
                if c.data_type.is_none() {
                    c.data_type = rows.iter().find_map(|r| r[i].data_type());
                }
            }
            Relation { columns, rows }
        };
        // Without ORDER BY or DISTINCT each source row makes one output row in order, so
        // LIMIT/OFFSET select source rows before any is projected (no image is decoded
        // for a row LIMIT drops), and the output can stream.
        if keys.is_empty() && !select.distinct {
            let rows = &rows[window.advance(rows.len())];
            for part in rows.chunks(chunk.max(1)) {
                let out = run(part)?.into_iter().map(|(o, _)| o).collect();
                if sink(typed(out_cols.clone(), out), part.len(), rows.len())? == Flow::Enough {
                    return Ok(Flow::Enough);
                }
            }
            if rows.is_empty() {
                return sink(typed(out_cols, vec![]), 0, 0);
            }
            return Ok(Flow::More);
        }
        let mut produced = run(&rows)?;
        if select.distinct {
            let mut seen = std::collections::HashSet::new();
            produced.retain(|(out, _)| {
                let mut key = String::new();
                for v in out {
                    v.group_key(&mut key);
                }
                seen.insert(key)
            });
        }
        if !keys.is_empty() {
            produced.sort_by(|(_, a), (_, b)| {
                for (i, (_, desc)) in keys.iter().enumerate() {
                    let o = a[i].sort_cmp(&b[i]);
                    let o = if *desc { o.reverse() } else { o };
                    if o.is_ne() {
                        return o;
                    }
                }
                std::cmp::Ordering::Equal
            });
        }
        let kept = window.advance(produced.len());
        let out: Vec<Vec<Value>> = produced.drain(kept).map(|(out, _)| out).collect();
        sink(typed(out_cols, out), rows.len(), rows.len())
    }

    /// Joins the FROM clause's relations. `needed` holds the column names the enclosing
    /// query may read (`None`: all); `ML.PREDICT` drops other passthrough columns.
    fn run_from(
        &self,
        from: &TableWithJoins,
        needed: Option<&HashSet<String>>,
        dry: bool,
    ) -> Result<Relation> {
        let mut left = self.table_factor(&from.relation, needed, dry)?;
        for j in &from.joins {
            let right = self.table_factor(&j.relation, needed, dry)?;
            let mut columns = left.columns.clone();
            columns.extend(right.columns.iter().cloned());
            let funcs = self.sources as &dyn ScalarFunctions;
            let on = bind(&j.on, &columns, funcs)?;
            let mut rows = Vec::new();
            for l in &left.rows {
                let mut matched = false;
                for r in &right.rows {
                    let mut row = l.clone();
                    row.extend(r.iter().cloned());
                    match eval(&on, &row, funcs)? {
                        Value::Bool(true) => {
                            matched = true;
                            rows.push(row);
                        }
                        Value::Bool(false) | Value::Null => {}
                        other => {
                            return Err(SqlError::invalid(
                                format!(
                                    "JOIN ON clause should return type BOOL, but returns {}",
                                    other.type_name()
                                ),
                                j.on.span,
                            ))
                        }
                    }
                }
                if !matched && j.kind == JoinKind::Left {
                    let mut row = l.clone();
                    row.extend(std::iter::repeat_n(Value::Null, right.columns.len()));
                    rows.push(row);
                }
            }
            left = Relation { columns, rows };
        }
        Ok(left)
    }

    fn table_factor(
        &self,
        tf: &TableFactor,
        needed: Option<&HashSet<String>>,
        dry: bool,
    ) -> Result<Relation> {
        match tf {
            TableFactor::Table { name, alias } => {
                let (ds, t) = split_table_name(name, "Table")?;
                let entry = self
                    .state
                    .table(&ds, &t)
                    .map_err(|e| e.with_span(name.span))?;
                let full = format!("{ds}.{t}");
                let mut rel = match entry.kind {
                    TableKind::Csv => read_csv_table(&full, entry, self.gcs_root)
                        .map_err(|e| e.with_span(name.span))?,
                    TableKind::Object => self
                        .sources
                        .scan_object_table(&full, entry, self)
                        .map_err(|e| e.with_span(name.span))?,
                };
                if dry {
                    rel.rows.clear();
                }
                let quals = match alias {
                    Some(a) => vec![a.value.clone()],
                    None => vec![t.clone(), full],
                };
                for c in &mut rel.columns {
                    c.qualifiers = quals.clone();
                }
                Ok(rel)
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                let mut rel = self.query_rows(subquery, dry)?;
                for c in &mut rel.columns {
                    c.qualifiers = alias.iter().map(|a| a.value.clone()).collect();
                }
                Ok(rel)
            }
            TableFactor::Predict { .. } => {
                let mut result: Option<Relation> = None;
                self.predict_pieces(tf, needed, dry, &mut |piece, _| {
                    append(&mut result, piece);
                    Ok(Flow::More)
                })?;
                Ok(result.unwrap_or_default())
            }
        }
    }

    /// Runs the `ML.PREDICT` `tf` and hands its rows to `on_piece` as the model finishes
    /// them, with the number of input rows known so far; stops early when `on_piece`
    /// answers [`Flow::Enough`]. `on_piece` is called at least once.
    fn predict_pieces(
        &self,
        tf: &TableFactor,
        needed: Option<&HashSet<String>>,
        dry: bool,
        on_piece: &mut dyn FnMut(Relation, usize) -> Result<Flow>,
    ) -> Result<()> {
        let TableFactor::Predict {
            model,
            input,
            settings,
            alias,
            span,
        } = tf
        else {
            unreachable!("predict_pieces is only called on ML.PREDICT");
        };
        let (ds, m) = split_table_name(model, "Model")?;
        let entry = self
            .state
            .model(&ds, &m)
            .map_err(|e| e.with_span(model.span))?;
        let settings = settings.as_ref().map(eval_const).transpose()?;
        let full = format!("{ds}.{m}");
        // Opened once: every piece runs the model the query started with.
        let compiled = self
            .sources
            .open_model(&full, entry, settings.as_ref(), self)
            .map_err(|e| e.with_span(*span))?;
        let qualifiers: Vec<String> = alias.iter().map(|a| a.value.clone()).collect();
        // Rows are counted as the model finishes them (`progress::row_done`).
        let mut bar = None;
        let mut predict_part = |part: Relation, _covered: usize, total: usize| -> Result<Flow> {
            if !dry {
                bar.get_or_insert_with(|| crate::progress::Bar::start(total));
            }
            let inputs = part.columns.len();
            let mut out = self
                .sources
                .predict(&full, &compiled, part)
                .map_err(|e| e.with_span(*span))?;
            prune_passthrough(&mut out, inputs, needed);
            for c in &mut out.columns {
                c.qualifiers = qualifiers.clone();
            }
            on_piece(out, total)
        };
        match input {
            PredictInput::Table(t) => {
                let rel = self.table_factor(
                    &TableFactor::Table {
                        name: t.clone(),
                        alias: None,
                    },
                    None,
                    dry,
                )?;
                let n = rel.rows.len();
                predict_part(rel, n, n)?;
            }
            // Rows stream from the input query to the model in chunks: decoded images
            // of one chunk are dropped before the next is decoded.
            PredictInput::Query { query, .. } => {
                self.chunks(query, PREDICT_CHUNK_ROWS, dry, &mut predict_part)?;
            }
        }
        Ok(())
    }
}

/// Whether `ML.PREDICT` appears anywhere in `q`'s FROM clauses.
fn has_predict(q: &Query) -> bool {
    fn factor(tf: &TableFactor) -> bool {
        match tf {
            TableFactor::Table { .. } => false,
            TableFactor::Derived { subquery, .. } => has_predict(subquery),
            TableFactor::Predict { .. } => true,
        }
    }
    q.select
        .from
        .as_ref()
        .is_some_and(|f| factor(&f.relation) || f.joins.iter().any(|j| factor(&j.relation)))
}

/// Rows per piece when an input query streams into `ML.PREDICT`: enough for every
/// thread to have work, few enough that only one piece of decoded images is in memory.
const PREDICT_CHUNK_ROWS: usize = 64;

/// Appends `part` to `acc` (column types unknown so far are taken from `part`).
fn append(acc: &mut Option<Relation>, part: Relation) {
    match acc {
        None => *acc = Some(part),
        Some(r) => {
            for (c, p) in r.columns.iter_mut().zip(&part.columns) {
                if c.data_type.is_none() {
                    c.data_type = p.data_type.clone();
                }
            }
            r.rows.extend(part.rows);
        }
    }
}

/// Column names the query may read from its FROM clause: every identifier in its select
/// list, WHERE, GROUP BY, HAVING, ORDER BY and JOIN conditions (lower-cased; a superset of
/// the real references), or `None` when a wildcard reads all columns.
fn referenced_names(q: &Query) -> Option<HashSet<String>> {
    let s = &q.select;
    let mut text = String::new();
    for item in &s.projection {
        match item {
            SelectItem::Expr { expr, .. } => text.push_str(&format!("{expr} ")),
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(_) => return None,
        }
    }
    let exprs = s
        .selection
        .iter()
        .chain(&s.group_by)
        .chain(&s.having)
        .chain(q.order_by.iter().map(|o| &o.expr))
        .chain(s.from.iter().flat_map(|f| f.joins.iter().map(|j| &j.on)));
    for e in exprs {
        text.push_str(&format!("{e} "));
    }
    let tokens = crate::tokenizer::tokenize(&text).ok()?;
    Some(
        tokens
            .into_iter()
            .filter_map(|t| match t.token {
                crate::tokenizer::Token::Word(w) => Some(vec![w]),
                crate::tokenizer::Token::QuotedIdent(w) => {
                    Some(w.split('.').map(str::to_string).collect())
                }
                _ => None,
            })
            .flatten()
            .map(|w| w.to_ascii_lowercase())
            .collect(),
    )
}

/// Drops `ML.PREDICT` passthrough columns (those after the model outputs) that the
/// enclosing query cannot read, so their values (decoded images) are freed early.
fn prune_passthrough(rel: &mut Relation, inputs: usize, needed: Option<&HashSet<String>>) {
    let Some(needed) = needed else { return };
    let outputs = rel.columns.len() - inputs;
    let keep: Vec<bool> = rel
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| i < outputs || needed.contains(&c.name.to_ascii_lowercase()))
        .collect();
    if keep.iter().all(|&k| k) {
        return;
    }
    let mut it = keep.iter();
    rel.columns.retain(|_| *it.next().unwrap_or(&true));
    for row in &mut rel.rows {
        let mut it = keep.iter();
        row.retain(|_| *it.next().unwrap_or(&true));
    }
}

enum Projection {
    Column(usize),
    Expr(crate::binder::Bound),
}

fn count_arg(e: &Expr, what: &str) -> Result<usize> {
    match eval_const(e)? {
        Value::Int64(n) if n >= 0 => Ok(n as usize),
        other => Err(SqlError::invalid(
            format!(
                "{what} expects a non-negative integer literal, got {}",
                other.to_text().unwrap_or_else(|| "NULL".into())
            ),
            e.span,
        )),
    }
}

/// The local Cloud Storage root that a `gs://` uri needs, or an error naming the uri.
pub(crate) fn require_gcs_root<'a>(uri: &str, gcs_root: Option<&'a Path>) -> Result<&'a Path> {
    gcs_root.ok_or_else(|| {
        SqlError::new(
            ErrorKind::InvalidQuery,
            format!(
                "Cannot read {uri}: gs:// paths need a local root (--gcs-root or BQMLC_GCS_ROOT)"
            ),
        )
    })
}

/// A local Cloud Storage root: every `gs://` path must resolve, symlinks followed,
/// to a file or directory inside it.
pub(crate) struct GcsRoot {
    /// The root as configured (paths below it are built by joining to this).
    dir: PathBuf,
    /// Its canonical form, which resolved paths must start with.
    canonical: PathBuf,
}

impl GcsRoot {
    /// The root for `uri`, or an error naming the uri when there is none or it is missing.
    pub(crate) fn new(uri: &str, gcs_root: Option<&Path>) -> Result<GcsRoot> {
        let dir = require_gcs_root(uri, gcs_root)?;
        let canonical = dir.canonicalize().map_err(|e| {
            SqlError::new(
                ErrorKind::NotFound,
                format!(
                    "Cannot read {uri}: Cloud Storage root {} is not readable: {e}",
                    dir.display()
                ),
            )
        })?;
        Ok(GcsRoot {
            dir: dir.to_path_buf(),
            canonical,
        })
    }

    /// `root/rest`, not checked.
    pub(crate) fn join(&self, rest: &str) -> PathBuf {
        self.dir.join(rest)
    }

    /// The `gs://` uri of a path below the root.
    pub(crate) fn uri_of(&self, path: &Path) -> String {
        match path.strip_prefix(&self.dir) {
            Ok(rel) => format!("gs://{}", rel.to_string_lossy()),
            Err(_) => path.display().to_string(),
        }
    }

    /// Checks that `path` (below the root) resolves inside it once symlinks are followed;
    /// a path that does not exist passes (the caller reports it as not found). Returns
    /// the canonical path when it exists.
    pub(crate) fn confine(&self, path: &Path) -> Result<Option<PathBuf>> {
        match path.canonicalize() {
            Ok(c) if c.starts_with(&self.canonical) => Ok(Some(c)),
            Ok(c) => Err(SqlError::new(
                ErrorKind::InvalidQuery,
                format!(
                    "Cannot read {}: it resolves to {}, outside the Cloud Storage root {}",
                    self.uri_of(path),
                    c.display(),
                    self.dir.display()
                ),
            )),
            Err(_) => Ok(None),
        }
    }
}

/// Maps a URI to a local path: `gs://bucket/object` under `gcs_root` (which it must
/// resolve inside, symlinks followed, when it exists), `file://path`, or a plain path.
pub fn resolve_uri(uri: &str, gcs_root: Option<&Path>) -> Result<PathBuf> {
    if let Some(rest) = uri.strip_prefix("gs://") {
        let root = GcsRoot::new(uri, gcs_root)?;
        if rest.split('/').any(|p| p == "..") || rest.is_empty() {
            return Err(SqlError::new(
                ErrorKind::InvalidQuery,
                format!("Invalid Cloud Storage URI: {uri}"),
            ));
        }
        let path = root.join(rest);
        if !rest.contains('*') {
            root.confine(&path)?;
        }
        return Ok(path);
    }
    if let Some(rest) = uri.strip_prefix("file://") {
        return Ok(PathBuf::from(rest));
    }
    if uri.contains("://") {
        return Err(SqlError::new(
            ErrorKind::InvalidQuery,
            format!("Unsupported URI scheme: {uri}; use gs://, file:// or a local path"),
        ));
    }
    Ok(PathBuf::from(uri))
}

/// Resolves a URI that may hold one `*` (matching any characters, `/` included) to the
/// sorted list of existing files. Directory symlinks are followed, but each real
/// directory is entered once, so symlink loops end; `gs://` files must resolve inside
/// the root.
pub fn expand_uri(uri: &str, gcs_root: Option<&Path>) -> Result<Vec<PathBuf>> {
    let path = resolve_uri(uri, gcs_root)?;
    let text = path.to_string_lossy().into_owned();
    let Some(star) = text.find('*') else {
        return Ok(vec![path]);
    };
    let confine = match uri.starts_with("gs://") {
        true => Some(GcsRoot::new(uri, gcs_root)?),
        false => None,
    };
    let base_end = text[..star].rfind('/').map_or(0, |i| i + 1);
    let (base, prefix) = if base_end == 0 {
        (PathBuf::from("."), "")
    } else {
        (PathBuf::from(&text[..base_end]), &text[..base_end])
    };
    let (pre, post) = (&text[..star], &text[star + 1..]);
    let mut files = Vec::new();
    crate::objects::walk(&base, prefix, confine.as_ref(), &mut files)?;
    let mut out: Vec<PathBuf> = files
        .into_iter()
        .filter(|(s, _)| {
            s.len() >= pre.len() + post.len() && s.starts_with(pre) && s.ends_with(post)
        })
        .map(|(_, p)| p)
        .collect();
    out.sort();
    Ok(out)
}

fn read_err(table: &str, msg: impl std::fmt::Display) -> SqlError {
    SqlError::new(
        ErrorKind::InvalidQuery,
        format!("Error while reading table: {table}, error message: {msg}"),
    )
}

/// Reads every file of a CSV external table.
pub fn read_csv_table(name: &str, t: &TableEntry, gcs_root: Option<&Path>) -> Result<Relation> {
    let mut files = Vec::new();
    for u in &t.uris {
        files.extend(expand_uri(u, gcs_root)?);
    }
    let mut declared: Vec<(String, DataType)> = Vec::new();
    for c in &t.columns {
        let ty = crate::parser::parse_data_type(&c.data_type)
            .map_err(|e| read_err(name, format!("bad column type {}: {e}", c.data_type)))?;
        declared.push((c.name.clone(), ty));
    }
    let mut header: Option<Vec<String>> = None;
    let mut raw: Vec<(String, u64, Vec<String>)> = Vec::new();
    for f in &files {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_path(f)
            .map_err(|e| read_err(name, format!("{}: {e}", f.display())))?;
        for (i, rec) in rdr.records().enumerate() {
            let rec = rec.map_err(|e| read_err(name, format!("{}: {e}", f.display())))?;
            let fields: Vec<String> = rec.iter().map(str::to_string).collect();
            if (i as u64) < t.skip_leading_rows {
                if i == 0 && header.is_none() {
                    header = Some(fields);
                }
                continue;
            }
            raw.push((f.display().to_string(), i as u64 + 1, fields));
        }
    }
    if declared.is_empty() {
        declared = detect_schema(header.as_deref(), &raw);
    }
    let mut rows = Vec::with_capacity(raw.len());
    for (file, line, fields) in raw {
        if fields.len() != declared.len() {
            return Err(read_err(
                name,
                format!(
                    "{file} line {line}: expected {} fields but found {}",
                    declared.len(),
                    fields.len()
                ),
            ));
        }
        let mut row = Vec::with_capacity(fields.len());
        for (pos, (f, (col, ty))) in fields.iter().zip(&declared).enumerate() {
            if f.is_empty() {
                row.push(Value::Null);
                continue;
            }
            let v = Value::String(f.clone()).cast(ty).map_err(|_| {
                read_err(
                    name,
                    format!(
                        "Could not parse '{f}' as {ty} for field {col} (position {pos}) in {file} line {line}"
                    ),
                )
            })?;
            row.push(v);
        }
        rows.push(row);
    }
    Ok(Relation {
        columns: declared
            .into_iter()
            .map(|(n, t)| ScopeColumn::new(n, Some(t)))
            .collect(),
        rows,
    })
}

/// Schema auto-detection: names from the header row (else `string_field_N`), each column
/// the narrowest of INT64, FLOAT64, BOOL, STRING that fits every value.
fn detect_schema(
    header: Option<&[String]>,
    raw: &[(String, u64, Vec<String>)],
) -> Vec<(String, DataType)> {
    let width = header
        .map(<[String]>::len)
        .or_else(|| raw.first().map(|r| r.2.len()))
        .unwrap_or(0);
    (0..width)
        .map(|i| {
            let name = header
                .and_then(|h| h.get(i))
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| format!("string_field_{i}"));
            let vals = raw
                .iter()
                .filter_map(|r| r.2.get(i))
                .filter(|v| !v.is_empty());
            let fits = |ty: &DataType| {
                vals.clone().next().is_some()
                    && vals
                        .clone()
                        .all(|v| Value::String(v.clone()).cast(ty).is_ok())
            };
            let ty = [DataType::Int64, DataType::Float64, DataType::Bool]
                .into_iter()
                .find(|t| fits(t))
                .unwrap_or(DataType::String);
            (name, ty)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(sql: &str) -> Option<Vec<String>> {
        let Statement::Query(q) = crate::parser::parse_statement(sql).unwrap() else {
            panic!("not a query")
        };
        referenced_names(&q).map(|s| {
            let mut v: Vec<String> = s.into_iter().collect();
            v.sort();
            v
        })
    }

    #[test]
    fn referenced_names_cover_every_clause_but_not_the_from_subquery() {
        let n = names(
            "SELECT p.class_label FROM ML.PREDICT(MODEL ds.m, (SELECT a AS input, uri FROM t)) AS p \
             JOIN c ON p.class_label = c.`x.Label` WHERE Size > 1 ORDER BY Updated",
        )
        .unwrap();
        for want in ["class_label", "label", "p", "size", "updated", "x"] {
            assert!(n.contains(&want.to_string()), "{want} missing from {n:?}");
        }
        assert!(!n.contains(&"input".to_string()) && !n.contains(&"uri".to_string()));
        assert_eq!(names("SELECT *, 1 FROM t"), None);
        assert_eq!(names("SELECT t.* FROM t"), None);
    }

    #[test]
    fn pruning_keeps_outputs_and_read_columns() {
        let col = |n: &str| ScopeColumn::new(n, None);
        let mut rel = Relation {
            columns: vec![col("class_label"), col("uri"), col("input")],
            rows: vec![vec![
                Value::Int64(1),
                Value::String("u".into()),
                Value::Null,
            ]],
        };
        let needed: HashSet<String> = ["uri".to_string()].into();
        prune_passthrough(&mut rel, 2, Some(&needed));
        assert_eq!(
            rel.columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["class_label", "uri"]
        );
        assert_eq!(rel.rows, [[Value::Int64(1), Value::String("u".into())]]);
    }
}
