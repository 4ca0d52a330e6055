//! Recursive-descent parser for the BigQuery dialect subset bqmlc runs.

use crate::ast::*;
use crate::error::{Result, Span, SqlError};
use crate::tokenizer::{tokenize, Token, TokenWithSpan};

/// Deepest nesting of expressions and subqueries accepted, so that hostile input
/// cannot overflow the stack.
const MAX_DEPTH: usize = 200;
/// Deepest expression tree, left-deep operator chains included: printing, binding and
/// evaluating recurse along every path of the tree, so its depth bounds their stack use
/// (the deepest accepted trees run on a 2 MiB thread).
const MAX_TREE_DEPTH: usize = 500;
/// Longest SQL text accepted, in bytes.
pub const MAX_SQL_BYTES: usize = 1 << 20;

/// Parses a script of `;`-separated statements (empty statements are skipped).
pub fn parse_sql(sql: &str) -> Result<Vec<Statement>> {
    let mut p = Parser::new(sql)?;
    let mut out = Vec::new();
    loop {
        while p.eat(&Token::Semicolon) {}
        if p.peek() == &Token::Eof {
            return Ok(out);
        }
        out.push(p.parse_statement()?);
        if p.peek() != &Token::Eof && !p.eat(&Token::Semicolon) {
            return Err(p.expected("end of input"));
        }
    }
}

/// Parses exactly one statement (a trailing `;` is allowed).
pub fn parse_statement(sql: &str) -> Result<Statement> {
    let mut p = Parser::new(sql)?;
    let s = p.parse_statement()?;
    p.eat(&Token::Semicolon);
    if p.peek() != &Token::Eof {
        return Err(p.expected("end of input"));
    }
    Ok(s)
}

/// Parses one expression (used for tests and for option values given on the command line).
pub fn parse_expr(sql: &str) -> Result<Expr> {
    let mut p = Parser::new(sql)?;
    let e = p.parse_expr()?;
    if p.peek() != &Token::Eof {
        return Err(p.expected("end of input"));
    }
    Ok(e)
}

/// Parses a type name such as `INT64` or `ARRAY<STRUCT<a STRING>>`.
pub fn parse_data_type(sql: &str) -> Result<DataType> {
    let mut p = Parser::new(sql)?;
    let t = p.parse_data_type()?;
    if p.peek() != &Token::Eof {
        return Err(p.expected("end of input"));
    }
    Ok(t)
}

/// The parser state: a token vector and a cursor.
pub struct Parser {
    tokens: Vec<TokenWithSpan>,
    pos: usize,
    /// Nesting levels entered (parentheses, calls, subqueries, operands).
    depth: usize,
    /// Depth of the expression tree being built (nesting plus operator chains).
    tree_depth: usize,
    /// Inside a bare `SELECT` argument of `ML.PREDICT`, where a comma after `FROM t`
    /// starts the next argument rather than a comma join.
    in_bare_predict: bool,
}

/// Reads SQL text from `r` without a leading UTF-8 byte-order mark (editors on Windows
/// write one; it is not SQL). More than `limit` bytes is an error naming the limit,
/// found after reading at most `limit` + 4 bytes, so `/dev/zero` cannot exhaust memory.
pub fn read_sql(r: impl std::io::Read, limit: usize) -> std::result::Result<String, String> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(r, limit as u64 + 4), &mut bytes)
        .map_err(|e| e.to_string())?;
    let body = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&bytes);
    if body.len() > limit {
        return Err(format!(
            "the SQL text is larger than the limit of {limit} bytes"
        ));
    }
    String::from_utf8(body.to_vec()).map_err(|e| format!("the SQL text is not UTF-8: {e}"))
}

impl Parser {
    /// Tokenizes `sql`.
    pub fn new(sql: &str) -> Result<Parser> {
        if sql.len() > MAX_SQL_BYTES {
            return Err(SqlError::syntax(
                format!(
                    "The SQL text is {} bytes long; at most {MAX_SQL_BYTES} bytes are accepted",
                    sql.len()
                ),
                Span {
                    line: 1,
                    col: 1,
                    offset: 0,
                    len: 0,
                },
            ));
        }
        Ok(Parser {
            tokens: tokenize(sql)?,
            pos: 0,
            depth: 0,
            tree_depth: 0,
            in_bare_predict: false,
        })
    }

    fn peek(&self) -> &Token {
        &self.peek_tok().token
    }

    fn peek_tok(&self) -> &TokenWithSpan {
        // The tokenizer always ends the vector with `Eof`, and `next` never moves past it.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn peek_nth(&self, n: usize) -> &Token {
        &self.tokens[(self.pos + n).min(self.tokens.len() - 1)].token
    }

    fn span(&self) -> Span {
        self.peek_tok().span
    }

    /// The span of the token just consumed.
    fn prev_span(&self) -> Span {
        self.tokens[self.pos.saturating_sub(1)].span
    }

    fn next(&mut self) -> TokenWithSpan {
        let t = self.peek_tok().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn eat(&mut self, t: &Token) -> bool {
        if self.peek() == t {
            self.next();
            true
        } else {
            false
        }
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.peek().is_keyword(kw) {
            self.next();
            true
        } else {
            false
        }
    }

    fn eat_kws(&mut self, kws: &[&str]) -> bool {
        if kws
            .iter()
            .enumerate()
            .all(|(i, k)| self.peek_nth(i).is_keyword(k))
        {
            for _ in kws {
                self.next();
            }
            true
        } else {
            false
        }
    }

    /// "Expected X but got Y" at the current token.
    fn expected(&self, what: &str) -> SqlError {
        SqlError::syntax(
            format!("Expected {what} but got {}", self.peek()),
            self.span(),
        )
    }

    fn expect(&mut self, t: &Token) -> Result<Span> {
        if self.peek() == t {
            Ok(self.next().span)
        } else {
            let shown = format!("{t}");
            Err(self.expected(&shown))
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<Span> {
        if self.peek().is_keyword(kw) {
            Ok(self.next().span)
        } else {
            Err(self.expected(&format!("keyword {kw}")))
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SqlError::syntax(
                format!("Nesting deeper than {MAX_DEPTH} levels is not supported"),
                self.span(),
            ));
        }
        self.deepen()
    }

    /// One more level of expression tree (an operator applied to the chain so far).
    fn deepen(&mut self) -> Result<()> {
        self.tree_depth += 1;
        if self.tree_depth > MAX_TREE_DEPTH {
            return Err(SqlError::syntax(
                format!(
                    "Expression deeper than {MAX_TREE_DEPTH} levels (operator chains included) is not supported"
                ),
                self.span(),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
        self.tree_depth -= 1;
    }

    /// Parses one statement.
    pub fn parse_statement(&mut self) -> Result<Statement> {
        let start = self.span();
        if self.peek().is_keyword("SELECT") || self.peek() == &Token::LParen {
            return Ok(Statement::Query(Box::new(self.parse_query()?)));
        }
        if self.eat_kw("CREATE") {
            let or_replace = self.eat_kws(&["OR", "REPLACE"]);
            if self.eat_kw("SCHEMA") {
                if or_replace {
                    return Err(SqlError::syntax(
                        "CREATE OR REPLACE SCHEMA is not supported; use CREATE SCHEMA IF NOT EXISTS",
                        start,
                    ));
                }
                let if_not_exists = self.eat_kws(&["IF", "NOT", "EXISTS"]);
                let name = self.parse_object_name()?;
                let options = self.parse_options(false)?;
                return Ok(Statement::CreateSchema {
                    name,
                    if_not_exists,
                    options,
                    span: start.to(self.prev_span()),
                });
            }
            if self.eat_kw("MODEL") {
                let if_not_exists = self.eat_kws(&["IF", "NOT", "EXISTS"]);
                let name = self.parse_object_name()?;
                let options = self.parse_options(true)?;
                return Ok(Statement::CreateModel {
                    name,
                    or_replace,
                    if_not_exists,
                    options,
                    span: start.to(self.prev_span()),
                });
            }
            if self.eat_kws(&["EXTERNAL", "TABLE"]) {
                return self.parse_create_external_table(start, or_replace);
            }
            return Err(self.expected("keyword SCHEMA, MODEL or EXTERNAL TABLE"));
        }
        if self.eat_kw("DROP") {
            if self.eat_kw("SCHEMA") {
                let if_exists = self.eat_kws(&["IF", "EXISTS"]);
                let name = self.parse_object_name()?;
                let behavior = if self.eat_kw("CASCADE") {
                    Some(DropBehavior::Cascade)
                } else if self.eat_kw("RESTRICT") {
                    Some(DropBehavior::Restrict)
                } else {
                    None
                };
                return Ok(Statement::DropSchema {
                    name,
                    if_exists,
                    behavior,
                    span: start.to(self.prev_span()),
                });
            }
            if self.eat_kw("MODEL") {
                let if_exists = self.eat_kws(&["IF", "EXISTS"]);
                let name = self.parse_object_name()?;
                return Ok(Statement::DropModel {
                    name,
                    if_exists,
                    span: start.to(self.prev_span()),
                });
            }
            let external = self.eat_kw("EXTERNAL");
            if self.eat_kw("TABLE") {
                let if_exists = self.eat_kws(&["IF", "EXISTS"]);
                let name = self.parse_object_name()?;
                return Ok(Statement::DropTable {
                    name,
                    external,
                    if_exists,
                    span: start.to(self.prev_span()),
                });
            }
            return Err(self.expected(if external {
                "keyword TABLE"
            } else {
                "keyword SCHEMA, MODEL, TABLE or EXTERNAL TABLE"
            }));
        }
        Err(SqlError::syntax(
            format!("Unexpected {}", self.peek()),
            self.span(),
        ))
    }

    fn parse_create_external_table(&mut self, start: Span, or_replace: bool) -> Result<Statement> {
        let if_not_exists = self.eat_kws(&["IF", "NOT", "EXISTS"]);
        let name = self.parse_object_name()?;
        let mut columns = Vec::new();
        if self.eat(&Token::LParen) {
            loop {
                let cstart = self.span();
                let cname = self.parse_ident()?;
                let data_type = self.parse_data_type()?;
                columns.push(ColumnDef {
                    name: cname,
                    data_type,
                    span: cstart.to(self.prev_span()),
                });
                if !self.eat(&Token::Comma) {
                    break;
                }
            }
            self.expect(&Token::RParen)?;
        }
        let connection = if self.eat_kws(&["WITH", "CONNECTION"]) {
            if self.peek().is_keyword("DEFAULT") {
                Some(Connection::Default(self.next().span))
            } else {
                Some(Connection::Named(self.parse_object_name()?))
            }
        } else {
            None
        };
        let options = self.parse_options(true)?;
        Ok(Statement::CreateExternalTable {
            name,
            or_replace,
            if_not_exists,
            columns,
            connection,
            options,
            span: start.to(self.prev_span()),
        })
    }

    /// `OPTIONS(name = expr, …)`; when `required`, the clause must be present.
    fn parse_options(&mut self, required: bool) -> Result<Vec<SqlOption>> {
        if !self.eat_kw("OPTIONS") {
            if required {
                return Err(self.expected("keyword OPTIONS"));
            }
            return Ok(Vec::new());
        }
        self.expect(&Token::LParen)?;
        let mut out = Vec::new();
        if self.eat(&Token::RParen) {
            return Ok(out);
        }
        loop {
            let name = self.parse_ident()?;
            self.expect(&Token::Eq)?;
            let value = self.parse_expr()?;
            out.push(SqlOption { name, value });
            if !self.eat(&Token::Comma) {
                break;
            }
        }
        self.expect(&Token::RParen)?;
        Ok(out)
    }

    /// An identifier: an unreserved word or a backtick name (which must not contain dots).
    fn parse_ident(&mut self) -> Result<Ident> {
        let t = self.peek_tok().clone();
        match t.token {
            Token::Word(w) if !is_reserved(&w) => {
                self.next();
                Ok(Ident {
                    value: w,
                    quoted: false,
                    span: t.span,
                })
            }
            Token::QuotedIdent(w) if !w.is_empty() => {
                self.next();
                Ok(Ident {
                    value: w,
                    quoted: true,
                    span: t.span,
                })
            }
            Token::QuotedIdent(_) => Err(SqlError::syntax("Invalid empty identifier", t.span)),
            _ => Err(self.expected("identifier")),
        }
    }

    /// Splits a backtick name on dots into parts (`` `p.ds.t` `` is three parts).
    fn split_quoted(w: &str, span: Span) -> Result<Vec<Ident>> {
        let mut parts = Vec::new();
        for part in w.split('.') {
            if part.is_empty() {
                return Err(SqlError::syntax("Invalid empty identifier", span));
            }
            parts.push(Ident {
                value: part.to_string(),
                quoted: true,
                span,
            });
        }
        Ok(parts)
    }

    /// One dotted-name component, which may itself hold several parts when backticked.
    fn parse_name_parts(&mut self, out: &mut Vec<Ident>) -> Result<()> {
        let t = self.peek_tok().clone();
        if let Token::QuotedIdent(w) = &t.token {
            self.next();
            out.extend(Self::split_quoted(w, t.span)?);
            Ok(())
        } else {
            out.push(self.parse_ident()?);
            Ok(())
        }
    }

    /// `a`, `a.b`, `` `a.b`.c ``, … (one to three parts after splitting).
    pub fn parse_object_name(&mut self) -> Result<ObjectName> {
        let start = self.span();
        let mut parts = Vec::new();
        self.parse_name_parts(&mut parts)?;
        while self.peek() == &Token::Dot
            && matches!(self.peek_nth(1), Token::Word(_) | Token::QuotedIdent(_))
        {
            self.next();
            self.parse_name_parts(&mut parts)?;
        }
        let span = start.to(self.prev_span());
        if parts.len() > 3 {
            return Err(SqlError::syntax(
                format!(
                    "Name {} has more than 3 parts (project.dataset.name)",
                    parts
                        .iter()
                        .map(|p| p.value.as_str())
                        .collect::<Vec<_>>()
                        .join(".")
                ),
                span,
            ));
        }
        Ok(ObjectName { parts, span })
    }

    /// A type name with BigQuery's aliases folded.
    fn parse_data_type(&mut self) -> Result<DataType> {
        self.enter()?;
        let r = self.parse_data_type_inner();
        self.leave();
        r
    }

    fn parse_data_type_inner(&mut self) -> Result<DataType> {
        let t = self.peek_tok().clone();
        let Token::Word(w) = &t.token else {
            return Err(self.expected("type name"));
        };
        let upper = w.to_ascii_uppercase();
        let simple = match upper.as_str() {
            "BOOL" | "BOOLEAN" => Some(DataType::Bool),
            "INT64" | "INT" | "INTEGER" | "SMALLINT" | "BIGINT" | "TINYINT" | "BYTEINT" => {
                Some(DataType::Int64)
            }
            "FLOAT64" | "FLOAT" | "DOUBLE" => Some(DataType::Float64),
            "STRING" => Some(DataType::String),
            "BYTES" => Some(DataType::Bytes),
            "TIMESTAMP" => Some(DataType::Timestamp),
            "DATE" => Some(DataType::Date),
            "INTERVAL" => Some(DataType::Interval),
            _ => None,
        };
        if let Some(s) = simple {
            self.next();
            // `STRING(10)` / `BYTES(10)` length parameters are accepted and ignored.
            if matches!(s, DataType::String | DataType::Bytes) && self.peek() == &Token::LParen {
                self.next();
                match self.next().token {
                    Token::Number(_) => {}
                    _ => {
                        return Err(SqlError::syntax(
                            "Expected integer type parameter",
                            self.prev_span(),
                        ))
                    }
                }
                self.expect(&Token::RParen)?;
            }
            return Ok(s);
        }
        match upper.as_str() {
            "ARRAY" => {
                self.next();
                self.expect(&Token::Lt)?;
                let inner = self.parse_data_type()?;
                self.expect(&Token::Gt)?;
                Ok(DataType::Array(Box::new(inner)))
            }
            "STRUCT" => {
                self.next();
                self.expect(&Token::Lt)?;
                let mut fields = Vec::new();
                loop {
                    // `name TYPE` or just `TYPE`: a name is followed by another word or `<`-less type.
                    let named = matches!(self.peek(), Token::Word(_) | Token::QuotedIdent(_))
                        && matches!(self.peek_nth(1), Token::Word(_));
                    let name = if named {
                        Some(self.parse_ident()?.value)
                    } else {
                        None
                    };
                    fields.push((name, self.parse_data_type()?));
                    if !self.eat(&Token::Comma) {
                        break;
                    }
                }
                self.expect(&Token::Gt)?;
                Ok(DataType::Struct(fields))
            }
            _ => Err(SqlError::syntax(format!("Type not found: {w}"), t.span)),
        }
    }

    /// A full query: `SELECT … [ORDER BY …] [LIMIT n [OFFSET m]]`, or a parenthesised one.
    pub fn parse_query(&mut self) -> Result<Query> {
        self.enter()?;
        let r = self.parse_query_inner();
        self.leave();
        r
    }

    fn parse_query_inner(&mut self) -> Result<Query> {
        let start = self.span();
        if self.peek() == &Token::LParen {
            self.next();
            let q = self.parse_query()?;
            self.expect(&Token::RParen)?;
            if self.peek().is_keyword("ORDER") || self.peek().is_keyword("LIMIT") {
                return Err(SqlError::syntax(
                    "ORDER BY or LIMIT after a parenthesized query is not supported",
                    self.span(),
                ));
            }
            return Ok(q);
        }
        let select = self.parse_select()?;
        let mut order_by = Vec::new();
        if self.eat_kws(&["ORDER", "BY"]) {
            loop {
                let expr = self.parse_expr()?;
                let (desc, explicit) = if self.eat_kw("DESC") {
                    (true, true)
                } else if self.eat_kw("ASC") {
                    (false, true)
                } else {
                    (false, false)
                };
                order_by.push(OrderByExpr {
                    expr,
                    desc,
                    explicit,
                });
                if !self.eat(&Token::Comma) {
                    break;
                }
            }
        }
        let mut limit = None;
        let mut offset = None;
        if self.eat_kw("LIMIT") {
            limit = Some(self.parse_expr()?);
            if self.eat_kw("OFFSET") {
                offset = Some(self.parse_expr()?);
            }
        }
        Ok(Query {
            select,
            order_by,
            limit,
            offset,
            span: start.to(self.prev_span()),
        })
    }

    fn parse_select(&mut self) -> Result<Select> {
        let start = self.expect_kw("SELECT")?;
        let distinct = if self.eat_kw("DISTINCT") {
            true
        } else {
            self.eat_kw("ALL");
            false
        };
        let mut projection = Vec::new();
        loop {
            projection.push(self.parse_select_item()?);
            if !self.eat(&Token::Comma) {
                break;
            }
        }
        let from = if self.eat_kw("FROM") {
            let relation = self.parse_table_factor()?;
            let mut joins = Vec::new();
            loop {
                let jstart = self.span();
                let kind = if self.eat_kw("JOIN") || self.eat_kws(&["INNER", "JOIN"]) {
                    JoinKind::Inner
                } else if self.eat_kws(&["LEFT", "JOIN"])
                    || self.eat_kws(&["LEFT", "OUTER", "JOIN"])
                {
                    JoinKind::Left
                } else if self.peek().is_keyword("RIGHT")
                    || self.peek().is_keyword("FULL")
                    || self.peek().is_keyword("CROSS")
                {
                    return Err(SqlError::at(
                        crate::error::ErrorKind::NotSupported,
                        format!(
                            "{} JOIN is not supported; use JOIN or LEFT JOIN",
                            self.peek().to_string().trim_start_matches("keyword ")
                        ),
                        self.span(),
                    ));
                } else {
                    break;
                };
                let relation = self.parse_table_factor()?;
                self.expect_kw("ON")?;
                let on = self.parse_expr()?;
                joins.push(Join {
                    kind,
                    relation,
                    on,
                    span: jstart.to(self.prev_span()),
                });
            }
            if self.peek() == &Token::Comma && !self.in_bare_predict {
                return Err(SqlError::at(
                    crate::error::ErrorKind::NotSupported,
                    "Comma joins are not supported; use JOIN … ON",
                    self.span(),
                ));
            }
            Some(TableWithJoins { relation, joins })
        } else {
            None
        };
        let selection = if self.eat_kw("WHERE") {
            Some(self.parse_expr()?)
        } else {
            None
        };
        let mut group_by = Vec::new();
        if self.eat_kws(&["GROUP", "BY"]) {
            loop {
                group_by.push(self.parse_expr()?);
                if !self.eat(&Token::Comma) {
                    break;
                }
            }
        }
        if self.peek().is_keyword("GROUP") {
            return Err(SqlError::at(
                crate::error::ErrorKind::NotSupported,
                "GROUP BY ROLLUP/CUBE/GROUPING SETS are not supported yet",
                self.span(),
            ));
        }
        let having = if self.eat_kw("HAVING") {
            Some(self.parse_expr()?)
        } else {
            None
        };
        Ok(Select {
            distinct,
            projection,
            from,
            selection,
            group_by,
            having,
            span: start.to(self.prev_span()),
        })
    }

    fn parse_select_item(&mut self) -> Result<SelectItem> {
        if self.peek() == &Token::Star {
            return Ok(SelectItem::Wildcard(self.next().span));
        }
        // `t.*` / `ds.t.*`: a name followed by `.` `*`.
        let save = self.pos;
        if matches!(self.peek(), Token::Word(w) if !is_reserved(w))
            || matches!(self.peek(), Token::QuotedIdent(_))
        {
            if let Ok(name) = self.parse_object_name() {
                if self.peek() == &Token::Dot && self.peek_nth(1) == &Token::Star {
                    self.next();
                    self.next();
                    return Ok(SelectItem::QualifiedWildcard(name));
                }
            }
            self.pos = save;
        }
        let expr = self.parse_expr()?;
        let alias = self.parse_alias()?;
        Ok(SelectItem::Expr { expr, alias })
    }

    /// `[AS] alias`; without `AS`, only an unreserved word or a backtick name counts.
    fn parse_alias(&mut self) -> Result<Option<Ident>> {
        if self.eat_kw("AS") {
            return Ok(Some(self.parse_ident()?));
        }
        match self.peek() {
            Token::Word(w) if !is_reserved(w) && !w.eq_ignore_ascii_case("OPTIONS") => {
                Ok(Some(self.parse_ident()?))
            }
            Token::QuotedIdent(_) => Ok(Some(self.parse_ident()?)),
            _ => Ok(None),
        }
    }

    fn parse_table_factor(&mut self) -> Result<TableFactor> {
        let start = self.span();
        if self.peek() == &Token::LParen {
            self.next();
            let subquery = self.parse_query()?;
            self.expect(&Token::RParen)?;
            let span = start.to(self.prev_span());
            let alias = self.parse_alias()?;
            return Ok(TableFactor::Derived {
                subquery: Box::new(subquery),
                alias,
                span,
            });
        }
        if self.peek().is_keyword("ML")
            && self.peek_nth(1) == &Token::Dot
            && self.peek_nth(2).is_keyword("PREDICT")
            && self.peek_nth(3) == &Token::LParen
        {
            for _ in 0..4 {
                self.next();
            }
            self.expect_kw("MODEL")?;
            let model = self.parse_object_name()?;
            self.expect(&Token::Comma)?;
            let input = if self.eat_kw("TABLE") {
                PredictInput::Table(self.parse_object_name()?)
            } else if self.peek().is_keyword("SELECT") {
                let saved = std::mem::replace(&mut self.in_bare_predict, true);
                let q = self.parse_query();
                self.in_bare_predict = saved;
                PredictInput::Query {
                    query: Box::new(q?),
                    parenthesized: false,
                }
            } else if self.peek() == &Token::LParen {
                self.next();
                let q = self.parse_query()?;
                self.expect(&Token::RParen)?;
                PredictInput::Query {
                    query: Box::new(q),
                    parenthesized: true,
                }
            } else {
                return Err(self.expected("keyword TABLE or a query"));
            };
            let settings = if self.eat(&Token::Comma) {
                let e = self.parse_expr()?;
                if !matches!(e.kind, ExprKind::Struct(_)) {
                    return Err(SqlError::syntax(
                        "Expected STRUCT(…) as the third argument of ML.PREDICT",
                        e.span,
                    ));
                }
                Some(e)
            } else {
                None
            };
            self.expect(&Token::RParen)?;
            let span = start.to(self.prev_span());
            let alias = self.parse_alias()?;
            return Ok(TableFactor::Predict {
                model,
                input,
                settings,
                alias,
                span,
            });
        }
        let name = self.parse_object_name()?;
        let alias = self.parse_alias()?;
        Ok(TableFactor::Table { name, alias })
    }

    /// Parses an expression.
    pub fn parse_expr(&mut self) -> Result<Expr> {
        self.parse_subexpr(0)
    }

    fn parse_subexpr(&mut self, min_prec: u8) -> Result<Expr> {
        self.enter()?;
        let r = self.parse_subexpr_inner(min_prec);
        self.leave();
        r
    }

    fn parse_subexpr_inner(&mut self, min_prec: u8) -> Result<Expr> {
        let mut left = self.parse_prefix()?;
        // Each operator applied here deepens the left spine of the tree: that is no
        // nesting, but it counts toward the tree depth (printing, binding and evaluating
        // recurse along that spine).
        let entered = self.tree_depth;
        let result = loop {
            let prec = self.next_precedence();
            if prec <= min_prec {
                break Ok(left);
            }
            if let Err(e) = self.deepen() {
                break Err(e);
            }
            left = match self.parse_infix(left, prec) {
                Ok(l) => l,
                Err(e) => break Err(e),
            };
        };
        self.tree_depth = entered;
        result
    }

    fn next_precedence(&self) -> u8 {
        let t = self.peek();
        match t {
            Token::Word(w) => match w.to_ascii_uppercase().as_str() {
                "OR" => PREC_OR,
                "AND" => PREC_AND,
                "LIKE" | "IN" | "BETWEEN" | "IS" => PREC_CMP,
                "NOT" => {
                    let n = self.peek_nth(1);
                    if n.is_keyword("LIKE") || n.is_keyword("IN") || n.is_keyword("BETWEEN") {
                        PREC_CMP
                    } else {
                        0
                    }
                }
                _ => 0,
            },
            Token::Eq | Token::NotEq | Token::Lt | Token::LtEq | Token::Gt | Token::GtEq => {
                PREC_CMP
            }
            Token::Plus | Token::Minus => PREC_ADD,
            Token::Star | Token::Slash | Token::Concat => PREC_MUL,
            Token::LBracket => PREC_ATOM,
            _ => 0,
        }
    }

    fn parse_infix(&mut self, left: Expr, prec: u8) -> Result<Expr> {
        let start = left.span;
        let t = self.next();
        let op = match &t.token {
            Token::Eq => Some(BinaryOp::Eq),
            Token::NotEq => Some(BinaryOp::NotEq),
            Token::Lt => Some(BinaryOp::Lt),
            Token::LtEq => Some(BinaryOp::LtEq),
            Token::Gt => Some(BinaryOp::Gt),
            Token::GtEq => Some(BinaryOp::GtEq),
            Token::Plus => Some(BinaryOp::Plus),
            Token::Minus => Some(BinaryOp::Minus),
            Token::Star => Some(BinaryOp::Multiply),
            Token::Slash => Some(BinaryOp::Divide),
            Token::Concat => Some(BinaryOp::Concat),
            Token::Word(w) if w.eq_ignore_ascii_case("OR") => Some(BinaryOp::Or),
            Token::Word(w) if w.eq_ignore_ascii_case("AND") => Some(BinaryOp::And),
            _ => None,
        };
        let kind = if let Some(op) = op {
            let right = self.parse_subexpr(prec)?;
            ExprKind::Binary {
                left: Box::new(left),
                op,
                right: Box::new(right),
            }
        } else if t.token == Token::LBracket {
            self.parse_subscript(left)?
        } else if t.token.is_keyword("IS") {
            let negated = self.eat_kw("NOT");
            self.expect_kw("NULL")?;
            ExprKind::IsNull {
                expr: Box::new(left),
                negated,
            }
        } else {
            let negated = t.token.is_keyword("NOT");
            let kw = if negated { self.next().token } else { t.token };
            if kw.is_keyword("LIKE") {
                let pattern = self.parse_subexpr(PREC_CMP)?;
                ExprKind::Like {
                    expr: Box::new(left),
                    negated,
                    pattern: Box::new(pattern),
                }
            } else if kw.is_keyword("IN") {
                self.expect(&Token::LParen)?;
                if self.peek().is_keyword("SELECT") {
                    return Err(SqlError::at(
                        crate::error::ErrorKind::NotSupported,
                        "IN (subquery) is not supported yet",
                        self.span(),
                    ));
                }
                let mut list = vec![self.parse_expr()?];
                while self.eat(&Token::Comma) {
                    list.push(self.parse_expr()?);
                }
                self.expect(&Token::RParen)?;
                ExprKind::InList {
                    expr: Box::new(left),
                    list,
                    negated,
                }
            } else {
                // BETWEEN: the bounds bind tighter than AND.
                let low = self.parse_subexpr(PREC_CMP)?;
                self.expect_kw("AND")?;
                let high = self.parse_subexpr(PREC_CMP)?;
                ExprKind::Between {
                    expr: Box::new(left),
                    negated,
                    low: Box::new(low),
                    high: Box::new(high),
                }
            }
        };
        Ok(Expr {
            kind,
            span: start.to(self.prev_span()),
        })
    }

    fn parse_subscript(&mut self, array: Expr) -> Result<ExprKind> {
        let modes = [
            ("OFFSET", SubscriptMode::Offset),
            ("ORDINAL", SubscriptMode::Ordinal),
            ("SAFE_OFFSET", SubscriptMode::SafeOffset),
            ("SAFE_ORDINAL", SubscriptMode::SafeOrdinal),
        ];
        let mut mode = SubscriptMode::Plain;
        if self.peek_nth(1) == &Token::LParen {
            if let Some((_, m)) = modes.iter().find(|(k, _)| self.peek().is_keyword(k)) {
                mode = *m;
            }
        }
        let index = if mode == SubscriptMode::Plain {
            self.parse_expr()?
        } else {
            self.next();
            self.next();
            let e = self.parse_expr()?;
            self.expect(&Token::RParen)?;
            e
        };
        self.expect(&Token::RBracket)?;
        Ok(ExprKind::Subscript {
            expr: Box::new(array),
            index: Box::new(index),
            mode,
        })
    }

    fn parse_prefix(&mut self) -> Result<Expr> {
        let t = self.next();
        let start = t.span;
        let done = |p: &Parser, kind: ExprKind| Expr {
            kind,
            span: start.to(p.prev_span()),
        };
        match t.token {
            Token::Number(n) => Ok(Expr {
                kind: ExprKind::Literal(number_literal(&n, false, start)?),
                span: start,
            }),
            Token::Minus => {
                if let Token::Number(n) = self.peek().clone() {
                    // A minus directly before a number is part of the literal, so that
                    // -9223372036854775808 is representable.
                    self.next();
                    let lit = number_literal(&n, true, start.to(self.prev_span()))?;
                    return Ok(done(self, ExprKind::Literal(lit)));
                }
                let e = self.parse_subexpr(PREC_UNARY)?;
                Ok(done(self, ExprKind::Negate(Box::new(e))))
            }
            Token::Plus => {
                // Unary plus is the identity.
                self.parse_subexpr(PREC_UNARY)
            }
            Token::String(s) => Ok(done(self, ExprKind::Literal(Literal::String(s)))),
            Token::Bytes(b) => Ok(done(self, ExprKind::Literal(Literal::Bytes(b)))),
            Token::LParen => {
                if self.peek().is_keyword("SELECT") {
                    return Err(SqlError::at(
                        crate::error::ErrorKind::NotSupported,
                        "Scalar subqueries are not supported yet",
                        self.span(),
                    ));
                }
                let e = self.parse_expr()?;
                if self.peek() == &Token::Comma {
                    return Err(SqlError::at(
                        crate::error::ErrorKind::NotSupported,
                        "Tuple syntax (a, b) is not supported; use STRUCT(a, b)",
                        self.span(),
                    ));
                }
                self.expect(&Token::RParen)?;
                // Parentheses leave no node; the span widens to include them.
                Ok(Expr {
                    kind: e.kind,
                    span: start.to(self.prev_span()),
                })
            }
            Token::LBracket => {
                let items = self.parse_array_items()?;
                Ok(done(self, ExprKind::Array(items)))
            }
            Token::QuotedIdent(w) => {
                let mut parts = Self::split_quoted(&w, start)?;
                self.parse_path_rest(&mut parts)?;
                if self.peek() == &Token::LParen {
                    return self.parse_function(parts, start);
                }
                Ok(done(self, ExprKind::Column(parts)))
            }
            Token::Word(w) => self.parse_word_prefix(w, start),
            Token::Eof => Err(SqlError::syntax("Unexpected end of input", start)),
            other => Err(SqlError::syntax(format!("Unexpected {other}"), start)),
        }
    }

    fn parse_array_items(&mut self) -> Result<Vec<Expr>> {
        let mut items = Vec::new();
        if !self.eat(&Token::RBracket) {
            loop {
                items.push(self.parse_expr()?);
                if !self.eat(&Token::Comma) {
                    break;
                }
            }
            self.expect(&Token::RBracket)?;
        }
        Ok(items)
    }

    /// Continues a dotted path after its first part(s).
    fn parse_path_rest(&mut self, parts: &mut Vec<Ident>) -> Result<()> {
        while self.peek() == &Token::Dot {
            match self.peek_nth(1).clone() {
                Token::Word(w) => {
                    self.next();
                    let t = self.next();
                    // Reserved words are fine after a dot (`t.select` is a field).
                    parts.push(Ident {
                        value: w,
                        quoted: false,
                        span: t.span,
                    });
                }
                Token::QuotedIdent(w) => {
                    self.next();
                    let t = self.next();
                    parts.extend(Self::split_quoted(&w, t.span)?);
                }
                _ => {
                    self.next();
                    return Err(self.expected("identifier"));
                }
            }
        }
        Ok(())
    }

    fn parse_word_prefix(&mut self, w: String, start: Span) -> Result<Expr> {
        let upper = w.to_ascii_uppercase();
        let done = |p: &Parser, kind: ExprKind| Expr {
            kind,
            span: start.to(p.prev_span()),
        };
        match upper.as_str() {
            "NULL" => return Ok(done(self, ExprKind::Literal(Literal::Null))),
            "TRUE" => return Ok(done(self, ExprKind::Literal(Literal::Bool(true)))),
            "FALSE" => return Ok(done(self, ExprKind::Literal(Literal::Bool(false)))),
            "NOT" => {
                let e = self.parse_subexpr(PREC_NOT)?;
                return Ok(done(self, ExprKind::Not(Box::new(e))));
            }
            "ARRAY" if self.peek() == &Token::LBracket => {
                self.next();
                let items = self.parse_array_items()?;
                return Ok(done(self, ExprKind::Array(items)));
            }
            "STRUCT" if self.peek() == &Token::LParen => {
                self.next();
                let mut fields = Vec::new();
                if !self.eat(&Token::RParen) {
                    loop {
                        let e = self.parse_expr()?;
                        let alias = if self.eat_kw("AS") {
                            Some(self.parse_ident()?)
                        } else {
                            None
                        };
                        fields.push((e, alias));
                        if !self.eat(&Token::Comma) {
                            break;
                        }
                    }
                    self.expect(&Token::RParen)?;
                }
                return Ok(done(self, ExprKind::Struct(fields)));
            }
            "INTERVAL" => {
                let value = self.parse_subexpr(PREC_UNARY)?;
                let ut = self.next();
                let unit = IntervalUnit::ALL
                    .iter()
                    .find(|(_, k)| ut.token.is_keyword(k))
                    .map(|(u, _)| *u)
                    .ok_or_else(|| {
                        SqlError::syntax(
                            format!(
                                "Expected interval date part (YEAR, MONTH, DAY, HOUR, …) but got {}",
                                ut.token
                            ),
                            ut.span,
                        )
                    })?;
                return Ok(done(
                    self,
                    ExprKind::Interval {
                        value: Box::new(value),
                        unit,
                    },
                ));
            }
            "CAST" | "SAFE_CAST" if self.peek() == &Token::LParen => {
                self.next();
                let e = self.parse_expr()?;
                self.expect_kw("AS")?;
                let data_type = self.parse_data_type()?;
                self.expect(&Token::RParen)?;
                return Ok(done(
                    self,
                    ExprKind::Cast {
                        expr: Box::new(e),
                        data_type,
                        safe: upper == "SAFE_CAST",
                    },
                ));
            }
            "CASE" => return self.parse_case(start),
            "TIMESTAMP" if matches!(self.peek(), Token::String(_)) => {
                let Token::String(s) = self.next().token else {
                    return Err(self.expected("string literal"));
                };
                return Ok(done(
                    self,
                    ExprKind::TypedString {
                        data_type: DataType::Timestamp,
                        value: s,
                    },
                ));
            }
            _ => {}
        }
        let callable_reserved = matches!(upper.as_str(), "IF" | "LEFT" | "RIGHT");
        if is_reserved(&w) && !(callable_reserved && self.peek() == &Token::LParen) {
            return Err(SqlError::syntax(
                format!("Unexpected keyword {upper}"),
                start,
            ));
        }
        let mut parts = vec![Ident {
            value: w,
            quoted: false,
            span: start,
        }];
        self.parse_path_rest(&mut parts)?;
        if self.peek() == &Token::LParen {
            return self.parse_function(parts, start);
        }
        Ok(done(self, ExprKind::Column(parts)))
    }

    fn parse_function(&mut self, parts: Vec<Ident>, start: Span) -> Result<Expr> {
        let name = ObjectName {
            span: start.to(self.prev_span()),
            parts,
        };
        self.expect(&Token::LParen)?;
        let mut args = Vec::new();
        let mut distinct = false;
        let mut star = false;
        if self.peek() == &Token::Star && self.peek_nth(1) == &Token::RParen {
            self.next();
            star = true;
        } else if self.peek() != &Token::RParen {
            distinct = self.eat_kw("DISTINCT");
            loop {
                args.push(self.parse_expr()?);
                if !self.eat(&Token::Comma) {
                    break;
                }
            }
        }
        self.expect(&Token::RParen)?;
        Ok(Expr {
            kind: ExprKind::Function {
                name,
                args,
                distinct,
                star,
            },
            span: start.to(self.prev_span()),
        })
    }

    fn parse_case(&mut self, start: Span) -> Result<Expr> {
        let operand = if self.peek().is_keyword("WHEN") {
            None
        } else {
            Some(Box::new(self.parse_expr()?))
        };
        let mut branches = Vec::new();
        while self.eat_kw("WHEN") {
            let w = self.parse_expr()?;
            self.expect_kw("THEN")?;
            let t = self.parse_expr()?;
            branches.push((w, t));
        }
        if branches.is_empty() {
            return Err(self.expected("keyword WHEN"));
        }
        let else_result = if self.eat_kw("ELSE") {
            Some(Box::new(self.parse_expr()?))
        } else {
            None
        };
        self.expect_kw("END")?;
        Ok(Expr {
            kind: ExprKind::Case {
                operand,
                branches,
                else_result,
            },
            span: start.to(self.prev_span()),
        })
    }
}

/// Converts a number token to a literal; `negative` when a minus sign preceded it.
fn number_literal(text: &str, negative: bool, span: Span) -> Result<Literal> {
    let signed = if negative {
        format!("-{text}")
    } else {
        text.to_string()
    };
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        let v = i64::from_str_radix(hex, 16).ok().and_then(|v| {
            if negative {
                v.checked_neg()
            } else {
                Some(v)
            }
        });
        return v.map(Literal::Int).ok_or_else(|| {
            SqlError::syntax(format!("Invalid hex integer literal: {signed}"), span)
        });
    }
    if text.contains(['.', 'e', 'E']) {
        match signed.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Literal::Float(x)),
            _ => Err(SqlError::syntax(
                format!("Invalid floating point literal: {signed}"),
                span,
            )),
        }
    } else {
        signed
            .parse::<i64>()
            .map(Literal::Int)
            .map_err(|_| SqlError::syntax(format!("Invalid integer literal: {signed}"), span))
    }
}
