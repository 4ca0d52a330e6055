//! Recursive-descent parser for bqmlc's own statements: datasets, models, tables and
//! external tables, INSERT and EXPORT DATA, with constant option values. A query is
//! found, not parsed: its text (up to the `;` that ends it) goes to DataFusion's SQL
//! parser and planner.

use crate::ast::*;
use crate::error::{Result, Span, SqlError};
use crate::tokenizer::{tokenize, Token, TokenWithSpan};

/// Deepest nesting of types and option values accepted, so that hostile input cannot
/// overflow the stack.
const MAX_DEPTH: usize = 200;
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

/// Parses one option value (a constant: literal, array, tuple or interval).
pub fn parse_option_value(sql: &str) -> Result<OptionValue> {
    let mut p = Parser::new(sql)?;
    let v = p.parse_option_value()?;
    if p.peek() != &Token::Eof {
        return Err(p.expected("end of input"));
    }
    Ok(v)
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
    /// The text, for the slices that query statements keep.
    src: String,
    tokens: Vec<TokenWithSpan>,
    pos: usize,
    /// Nesting levels entered (type parameters, arrays, tuples).
    depth: usize,
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
            src: sql.to_string(),
            tokens: tokenize(sql)?,
            pos: 0,
            depth: 0,
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

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SqlError::syntax(
                format!("Nesting deeper than {MAX_DEPTH} levels is not supported"),
                self.span(),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Parses one statement.
    pub fn parse_statement(&mut self) -> Result<Statement> {
        let start = self.span();
        if self.at_query() || self.peek().is_keyword("EXPLAIN") {
            return Ok(Statement::Query(self.query_text()));
        }
        if self.eat_kw("INSERT") {
            self.eat_kw("INTO");
            let name = self.parse_object_name()?;
            let mut columns = Vec::new();
            // `(` starts a column list unless a query follows it: `INSERT t (SELECT …)`.
            if self.peek() == &Token::LParen
                && !matches!(self.peek_nth(1), t if t.is_keyword("SELECT") || t.is_keyword("WITH"))
            {
                self.next();
                loop {
                    columns.push(self.parse_ident()?);
                    if !self.eat(&Token::Comma) {
                        break;
                    }
                }
                self.expect(&Token::RParen)?;
            }
            if !(self.at_query() || self.peek().is_keyword("VALUES")) {
                return Err(self.expected("SELECT, WITH or VALUES"));
            }
            let query = self.query_text();
            return Ok(Statement::Insert {
                name,
                columns,
                query,
                span: start.to(self.prev_span()),
            });
        }
        if self.eat_kws(&["EXPORT", "DATA"]) {
            let connection = self.parse_connection()?;
            let options = self.parse_options(true)?;
            let query = self.as_query()?;
            return Ok(Statement::ExportData {
                connection,
                options,
                query,
                span: start.to(self.prev_span()),
            });
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
            if self.peek().is_keyword("TEMP") || self.peek().is_keyword("TEMPORARY") {
                return Err(SqlError::syntax(
                    "Temporary tables are not supported; use CREATE TABLE",
                    self.span(),
                ));
            }
            if self.eat_kw("TABLE") {
                return self.parse_create_table(start, or_replace);
            }
            return Err(self.expected("keyword SCHEMA, MODEL, TABLE or EXTERNAL TABLE"));
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
            format!(
                "Expected a query (SELECT, WITH, EXPLAIN), CREATE, DROP, INSERT or EXPORT DATA but got {}",
                self.peek()
            ),
            self.span(),
        ))
    }

    /// Whether a query starts here: `SELECT`, `WITH` or `(`.
    fn at_query(&self) -> bool {
        self.peek().is_keyword("SELECT")
            || self.peek().is_keyword("WITH")
            || self.peek() == &Token::LParen
    }

    /// `AS query`.
    fn as_query(&mut self) -> Result<QueryText> {
        if !self.eat_kw("AS") {
            return Err(self.expected("keyword AS"));
        }
        if !self.at_query() {
            return Err(self.expected("a query (SELECT or WITH)"));
        }
        Ok(self.query_text())
    }

    /// `WITH CONNECTION name | DEFAULT`, if present.
    fn parse_connection(&mut self) -> Result<Option<Connection>> {
        if !self.eat_kws(&["WITH", "CONNECTION"]) {
            return Ok(None);
        }
        Ok(Some(if self.peek().is_keyword("DEFAULT") {
            Connection::Default(self.next().span)
        } else {
            Connection::Named(self.parse_object_name()?)
        }))
    }

    /// `(name TYPE, …)`, if present.
    fn parse_column_defs(&mut self) -> Result<Vec<ColumnDef>> {
        let mut columns = Vec::new();
        if self.eat(&Token::LParen) {
            loop {
                let cstart = self.span();
                let name = self.parse_ident()?;
                let data_type = self.parse_data_type()?;
                columns.push(ColumnDef {
                    name,
                    data_type,
                    span: cstart.to(self.prev_span()),
                });
                if !self.eat(&Token::Comma) {
                    break;
                }
            }
            self.expect(&Token::RParen)?;
        }
        Ok(columns)
    }

    fn parse_create_table(&mut self, start: Span, or_replace: bool) -> Result<Statement> {
        let if_not_exists = self.eat_kws(&["IF", "NOT", "EXISTS"]);
        let name = self.parse_object_name()?;
        let columns = self.parse_column_defs()?;
        for clause in ["PARTITION", "CLUSTER", "DEFAULT", "LIKE", "COPY", "CLONE"] {
            if self.peek().is_keyword(clause) {
                return Err(SqlError::syntax(
                    format!("CREATE TABLE … {clause} is not supported"),
                    self.span(),
                ));
            }
        }
        let options = self.parse_options(false)?;
        let query = if self.peek().is_keyword("AS") {
            Some(self.as_query()?)
        } else {
            None
        };
        if columns.is_empty() && query.is_none() {
            return Err(self.expected("a column list or AS query"));
        }
        Ok(Statement::CreateTable {
            name,
            or_replace,
            if_not_exists,
            columns,
            options,
            query,
            span: start.to(self.prev_span()),
        })
    }

    /// The query statement starting at the current token: every token up to the `;` that
    /// ends it (a `;` is a token only outside strings, comments and quoted names).
    fn query_text(&mut self) -> QueryText {
        let start = self.span();
        while !matches!(self.peek(), Token::Semicolon | Token::Eof) {
            self.next();
        }
        let span = start.to(self.prev_span());
        let text = self
            .src
            .get(span.offset as usize..(span.offset + span.len) as usize)
            .unwrap_or_default()
            .to_string();
        QueryText { text, span }
    }

    fn parse_create_external_table(&mut self, start: Span, or_replace: bool) -> Result<Statement> {
        let if_not_exists = self.eat_kws(&["IF", "NOT", "EXISTS"]);
        let name = self.parse_object_name()?;
        let columns = self.parse_column_defs()?;
        let connection = self.parse_connection()?;
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
            let start = self.span();
            let value = self.parse_option_value()?;
            let span = start.to(self.prev_span());
            out.push(SqlOption { name, value, span });
            if !self.eat(&Token::Comma) {
                break;
            }
        }
        self.expect(&Token::RParen)?;
        Ok(out)
    }

    /// An option value: a literal (a leading `-` belongs to a number), `[v, …]` or
    /// `ARRAY[v, …]`, `(v, …)`, or `INTERVAL n UNIT` / `INTERVAL 'text' UNIT [TO UNIT]`.
    pub fn parse_option_value(&mut self) -> Result<OptionValue> {
        self.enter()?;
        let r = self.parse_option_value_inner();
        self.leave();
        r
    }

    fn parse_option_value_inner(&mut self) -> Result<OptionValue> {
        let t = self.peek_tok().clone();
        let literal = |l| Ok(OptionValue::Literal(l));
        match &t.token {
            Token::Number(_) | Token::Minus => literal(self.parse_number()?),
            Token::String(s) => {
                self.next();
                literal(Literal::String(s.clone()))
            }
            Token::Bytes(b) => {
                self.next();
                literal(Literal::Bytes(b.clone()))
            }
            Token::Word(w) if w.eq_ignore_ascii_case("TRUE") || w.eq_ignore_ascii_case("FALSE") => {
                self.next();
                literal(Literal::Bool(w.eq_ignore_ascii_case("TRUE")))
            }
            Token::Word(w) if w.eq_ignore_ascii_case("NULL") => {
                self.next();
                literal(Literal::Null)
            }
            Token::Word(w) if w.eq_ignore_ascii_case("ARRAY") => {
                self.next();
                if self.peek() != &Token::LBracket {
                    return Err(self.expected("\"[\""));
                }
                self.parse_option_value_inner()
            }
            Token::LBracket => {
                self.next();
                let items = self.option_values_until(&Token::RBracket)?;
                Ok(OptionValue::Array(items))
            }
            Token::LParen => {
                self.next();
                let mut items = self.option_values_until(&Token::RParen)?;
                match items.len() {
                    0 => Err(SqlError::syntax(
                        "Expected an option value but got \")\"",
                        t.span,
                    )),
                    1 => Ok(items.remove(0)),
                    _ => Ok(OptionValue::Tuple(items)),
                }
            }
            Token::Word(w) if w.eq_ignore_ascii_case("INTERVAL") => {
                self.next();
                let value = match self.peek().clone() {
                    Token::String(s) => {
                        self.next();
                        Literal::String(s)
                    }
                    Token::Number(_) | Token::Minus => match self.parse_number()? {
                        Literal::Int(n) => Literal::Int(n),
                        _ => {
                            return Err(SqlError::syntax(
                                "An INTERVAL count must be an integer",
                                self.prev_span(),
                            ))
                        }
                    },
                    _ => return Err(self.expected("an integer or a string after INTERVAL")),
                };
                let unit = self.parse_interval_unit()?;
                let to = if self.eat_kw("TO") {
                    Some(self.parse_interval_unit()?)
                } else {
                    None
                };
                Ok(OptionValue::Interval { value, unit, to })
            }
            _ => Err(self.expected("an option value (a literal, [array], (tuple) or INTERVAL)")),
        }
    }

    /// Option values separated by commas, up to and including `close`.
    fn option_values_until(&mut self, close: &Token) -> Result<Vec<OptionValue>> {
        let mut items = Vec::new();
        if self.eat(close) {
            return Ok(items);
        }
        loop {
            items.push(self.parse_option_value()?);
            if !self.eat(&Token::Comma) {
                break;
            }
        }
        self.expect(close)?;
        Ok(items)
    }

    /// A number with an optional leading `-`.
    fn parse_number(&mut self) -> Result<Literal> {
        let start = self.span();
        let negative = self.eat(&Token::Minus);
        match self.peek().clone() {
            Token::Number(n) => {
                self.next();
                number_literal(&n, negative, start.to(self.prev_span()))
            }
            _ => Err(self.expected("number")),
        }
    }

    fn parse_interval_unit(&mut self) -> Result<IntervalUnit> {
        let found = match self.peek() {
            Token::Word(w) => IntervalUnit::ALL
                .iter()
                .find(|(_, n)| n.eq_ignore_ascii_case(w))
                .map(|(u, _)| *u),
            _ => None,
        };
        match found {
            Some(u) => {
                self.next();
                Ok(u)
            }
            None => Err(self.expected("an interval unit (YEAR, MONTH, DAY, HOUR, …)")),
        }
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
