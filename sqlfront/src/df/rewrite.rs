//! The BigQuery-ML forms inside a query, found with bqmlc's tokenizer before the rest of
//! the text goes to DataFusion's SQL planner:
//!
//! - `ML.PREDICT(MODEL name, TABLE t | (query) [, settings])` is replaced by a placeholder
//!   table name that [`super::QueryEngine`] binds to a [`super::predict::PredictTable`];
//! - `ML.<function>` names are upper-cased, the spelling the image UDFs are registered
//!   under (BigQuery function names are case-insensitive; DataFusion keeps a dotted name
//!   as written).
//!
//! Replacements keep every byte offset outside them (the placeholder is padded with
//! spaces, newlines kept), so line:column positions in later errors still point into the
//! user's text.

use crate::error::{ErrorKind, Result, Span, SqlError};
use crate::tokenizer::{tokenize, Token, TokenWithSpan};

/// One `ML.PREDICT` call.
#[derive(Clone, Debug, PartialEq)]
pub struct PredictCall {
    /// The table name standing for the call in [`Rewritten::sql`].
    pub placeholder: String,
    /// The model's name parts (`[project.]dataset.model`).
    pub model: Vec<String>,
    /// Where the model name is, for errors.
    pub model_span: Span,
    /// The input relation.
    pub input: PredictInput,
    /// The settings argument's text, when given.
    pub settings: Option<String>,
    /// The whole call, for errors.
    pub span: Span,
}

/// The input of an `ML.PREDICT` call.
#[derive(Clone, Debug, PartialEq)]
pub enum PredictInput {
    /// `TABLE name`: the name parts.
    Table(Vec<String>),
    /// `(query)`, itself rewritten.
    Query(Box<Rewritten>),
}

/// A query with its `ML.PREDICT` calls replaced by placeholders.
#[derive(Clone, Debug, PartialEq)]
pub struct Rewritten {
    /// The text DataFusion plans.
    pub sql: String,
    /// The calls, in text order (nested calls live in their input's [`Rewritten`]).
    pub predicts: Vec<PredictCall>,
}

/// Rewrites `sql`; placeholders are numbered from `*next` on.
pub fn rewrite(sql: &str, next: &mut usize) -> Result<Rewritten> {
    // Text the tokenizer refuses goes to DataFusion as it is, which reports its own error.
    let Ok(tokens) = tokenize(sql) else {
        return Ok(Rewritten {
            sql: sql.to_string(),
            predicts: Vec::new(),
        });
    };
    let mut out = sql.as_bytes().to_vec();
    let mut predicts = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let is_ml_call = tokens[i].token.is_keyword("ML")
            && matches!(tokens.get(i + 1).map(|t| &t.token), Some(Token::Dot))
            && matches!(tokens.get(i + 2).map(|t| &t.token), Some(Token::Word(_)))
            && matches!(tokens.get(i + 3).map(|t| &t.token), Some(Token::LParen));
        if !is_ml_call {
            i += 1;
            continue;
        }
        if tokens[i + 2].token.is_keyword("PREDICT") {
            let (call, end) = predict_call(sql, &tokens, i, next)?;
            blank(&mut out, call.span, &call.placeholder);
            predicts.push(call);
            i = end;
        } else {
            for t in [&tokens[i], &tokens[i + 2]] {
                let s = t.span;
                let range = s.offset as usize..(s.offset + s.len) as usize;
                out[range.clone()].make_ascii_uppercase();
            }
            i += 4;
        }
    }
    let sql = String::from_utf8(out).map_err(|_| {
        SqlError::new(
            ErrorKind::Syntax,
            "the query text is not valid UTF-8 after rewriting",
        )
    })?;
    Ok(Rewritten { sql, predicts })
}

/// Overwrites `span` of `out` with `name` followed by spaces, keeping newlines.
fn blank(out: &mut [u8], span: Span, name: &str) {
    let range = span.offset as usize..(span.offset + span.len) as usize;
    for (k, b) in out[range].iter_mut().enumerate() {
        *b = match name.as_bytes().get(k) {
            Some(&c) => c,
            None if *b == b'\n' => b'\n',
            None => b' ',
        };
    }
}

fn syntax(message: impl Into<String>, at: &TokenWithSpan) -> SqlError {
    SqlError::at(ErrorKind::Syntax, message, at.span)
}

/// Parses the `ML.PREDICT` call whose `ML` is token `start`; returns it and the index of
/// the token after its closing parenthesis.
fn predict_call(
    sql: &str,
    tokens: &[TokenWithSpan],
    start: usize,
    next: &mut usize,
) -> Result<(PredictCall, usize)> {
    let mut i = start + 4;
    let expect_word = |i: usize, kw: &str| -> Result<()> {
        let t = &tokens[i.min(tokens.len() - 1)];
        if t.token.is_keyword(kw) {
            Ok(())
        } else {
            Err(syntax(
                format!("Expected keyword {kw} but got {}", t.token),
                t,
            ))
        }
    };
    expect_word(i, "MODEL")?;
    i += 1;
    let model_start = tokens[i.min(tokens.len() - 1)].span;
    let (model, after) = name_parts(tokens, i)?;
    let model_end = tokens[after - 1].span;
    i = after;
    expect(tokens, i, &Token::Comma, "\",\" after the model name")?;
    i += 1;
    let input = if tokens[i].token.is_keyword("TABLE") {
        let (name, after) = name_parts(tokens, i + 1)?;
        i = after;
        PredictInput::Table(name)
    } else {
        // `(query)`, or a bare `SELECT …` / `WITH …` up to the call's closing
        // parenthesis or a `, STRUCT(…)` settings argument.
        let (a, b, after) =
            if tokens[i].token.is_keyword("SELECT") || tokens[i].token.is_keyword("WITH") {
                let end = bare_query_end(tokens, i)?;
                (
                    tokens[i].span.offset as usize,
                    tokens[end].span.offset as usize,
                    end,
                )
            } else {
                expect(tokens, i, &Token::LParen, "TABLE or a query")?;
                let close = matching_paren(tokens, i)?;
                let (a, b) = (
                    (tokens[i].span.offset + 1) as usize,
                    tokens[close].span.offset as usize,
                );
                (a, b, close + 1)
            };
        // Positions inside the input stay those of the whole text: the input is planned
        // from a copy of the text with everything around it blanked out.
        let mut inner = blank_outside(sql, a, b);
        let rewritten = rewrite(&inner, next)?;
        inner = rewritten.sql.clone();
        i = after;
        PredictInput::Query(Box::new(Rewritten {
            sql: inner,
            predicts: rewritten.predicts,
        }))
    };
    let mut settings = None;
    if matches!(tokens[i].token, Token::Comma) {
        let open = start + 3;
        let close = matching_paren(tokens, open)?;
        let (a, b) = (
            (tokens[i].span.offset + 1) as usize,
            tokens[close].span.offset as usize,
        );
        settings = Some(sql[a..b].trim().to_string());
        i = close;
    }
    expect(tokens, i, &Token::RParen, "\")\" closing ML.PREDICT")?;
    let first = tokens[start].span;
    let last = tokens[i].span;
    let span = Span {
        len: last.offset + last.len - first.offset,
        ..first
    };
    let placeholder = format!("__bqml_predict_{}", *next);
    *next += 1;
    Ok((
        PredictCall {
            placeholder,
            model,
            model_span: Span {
                len: model_end.offset + model_end.len - model_start.offset,
                ..model_start
            },
            input,
            settings,
            span,
        },
        i + 1,
    ))
}

/// The index of the token ending a bare query argument that starts at token `i`: the
/// `)` closing the call, or a `,` before `STRUCT` (the settings), outside parentheses.
fn bare_query_end(tokens: &[TokenWithSpan], i: usize) -> Result<usize> {
    let mut depth = 0usize;
    for (k, t) in tokens.iter().enumerate().skip(i) {
        match &t.token {
            Token::LParen => depth += 1,
            Token::RParen if depth == 0 => return Ok(k),
            Token::RParen => depth -= 1,
            Token::Comma
                if depth == 0
                    && tokens
                        .get(k + 1)
                        .is_some_and(|n| n.token.is_keyword("STRUCT")) =>
            {
                return Ok(k)
            }
            Token::Eof | Token::Semicolon => {
                return Err(syntax("Expected \")\" closing ML.PREDICT", t))
            }
            _ => {}
        }
    }
    Err(syntax(
        "Expected \")\" closing ML.PREDICT",
        &tokens[tokens.len() - 1],
    ))
}

/// `sql` with every byte outside `a..b` blanked (newlines kept).
fn blank_outside(sql: &str, a: usize, b: usize) -> String {
    let mut bytes = sql.as_bytes().to_vec();
    for (k, x) in bytes.iter_mut().enumerate() {
        if (k < a || k >= b) && *x != b'\n' {
            *x = b' ';
        }
    }
    // Only ASCII bytes outside a..b were replaced by ASCII; a..b keeps whole characters
    // because both ends are token boundaries.
    String::from_utf8(bytes).unwrap_or_default()
}

fn expect(tokens: &[TokenWithSpan], i: usize, want: &Token, what: &str) -> Result<()> {
    let t = &tokens[i.min(tokens.len() - 1)];
    if &t.token == want {
        Ok(())
    } else {
        Err(syntax(format!("Expected {what} but got {}", t.token), t))
    }
}

/// A dotted name (`a.b.c`, backquoted parts split at dots) from token `i`; returns the
/// parts and the index after the name.
fn name_parts(tokens: &[TokenWithSpan], mut i: usize) -> Result<(Vec<String>, usize)> {
    let mut parts = Vec::new();
    loop {
        let t = &tokens[i.min(tokens.len() - 1)];
        match &t.token {
            Token::Word(w) => parts.push(w.clone()),
            Token::QuotedIdent(w) => parts.extend(w.split('.').map(str::to_string)),
            other => return Err(syntax(format!("Expected a name but got {other}"), t)),
        }
        i += 1;
        if matches!(tokens.get(i).map(|t| &t.token), Some(Token::Dot)) {
            i += 1;
        } else {
            return Ok((parts, i));
        }
    }
}

/// The index of the `)` matching the `(` at token `open`.
fn matching_paren(tokens: &[TokenWithSpan], open: usize) -> Result<usize> {
    let mut depth = 0usize;
    for (k, t) in tokens.iter().enumerate().skip(open) {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Ok(k);
                }
            }
            _ => {}
        }
    }
    Err(syntax(
        "Unclosed parenthesis: expected \")\"",
        &tokens[open],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predict_over_a_query_becomes_a_placeholder_of_the_same_length() {
        let sql = "SELECT class_label\nFROM ML.PREDICT(MODEL d.m,\n  (SELECT ml.resize_image(ml.decode_image(data), 2, 2, FALSE) AS input FROM d.t))\nWHERE x = 1";
        let r = rewrite(sql, &mut 0).unwrap();
        assert_eq!(r.sql.len(), sql.len());
        assert_eq!(r.sql.lines().count(), sql.lines().count());
        assert!(r.sql.contains("FROM __bqml_predict_0 "), "{}", r.sql);
        assert!(r.sql.ends_with("WHERE x = 1"));
        let [call] = &r.predicts[..] else {
            panic!("{:?}", r.predicts)
        };
        assert_eq!(call.model, ["d", "m"]);
        assert_eq!(call.settings, None);
        let PredictInput::Query(q) = &call.input else {
            panic!("{:?}", call.input)
        };
        assert!(
            q.sql.contains("ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data)"),
            "{}",
            q.sql
        );
        // The input keeps its place in the text: its line is the user's line 3.
        assert_eq!(q.sql.len(), sql.len());
        assert!(q
            .sql
            .lines()
            .nth(2)
            .unwrap()
            .trim_start()
            .starts_with("SELECT"));
    }

    #[test]
    fn nested_predicts_table_inputs_and_settings() {
        let sql = "SELECT * FROM ML.PREDICT(MODEL `p.d.m`, (SELECT * FROM ML.PREDICT(MODEL d.n, TABLE d.t)), STRUCT(0.5 AS threshold))";
        let mut next = 0;
        let r = rewrite(sql, &mut next).unwrap();
        assert_eq!(next, 2);
        let call = &r.predicts[0];
        assert_eq!(call.model, ["p", "d", "m"]);
        assert_eq!(call.settings.as_deref(), Some("STRUCT(0.5 AS threshold)"));
        let PredictInput::Query(q) = &call.input else {
            panic!()
        };
        assert_eq!(
            q.predicts[0].input,
            PredictInput::Table(vec!["d".into(), "t".into()])
        );
        assert!(q.sql.contains("FROM __bqml_predict_"), "{}", q.sql);
    }

    #[test]
    fn strings_and_comments_are_left_alone() {
        let sql = "SELECT 'ML.PREDICT(MODEL x, TABLE y)' -- ML.decode_image(\nFROM t";
        let r = rewrite(sql, &mut 0).unwrap();
        assert_eq!(r.sql, sql);
        assert!(r.predicts.is_empty());
    }

    #[test]
    fn malformed_calls_name_the_position() {
        let e = rewrite("SELECT * FROM ML.PREDICT(d.m, TABLE t)", &mut 0).unwrap_err();
        assert_eq!(e.message, "Expected keyword MODEL but got identifier \"d\"");
        assert_eq!(e.span.map(|s| (s.line, s.col)), Some((1, 26)));
        let e = rewrite("SELECT * FROM ML.PREDICT(MODEL d.m, (SELECT 1)", &mut 0).unwrap_err();
        assert!(e.message.contains("closing ML.PREDICT"), "{}", e.message);
    }
}
