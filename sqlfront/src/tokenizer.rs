//! Splits BigQuery Standard SQL text into tokens with positions.

use crate::error::{Result, Span, SqlError};
use std::fmt;

/// One lexical token.
#[derive(Clone, Debug, PartialEq)]
pub enum Token {
    /// An unquoted identifier or keyword, as written.
    Word(String),
    /// A backtick-quoted identifier, unescaped (may contain dots).
    QuotedIdent(String),
    /// A string literal, unescaped.
    String(String),
    /// A bytes literal (`b'…'`), unescaped.
    Bytes(Vec<u8>),
    /// An integer or floating-point literal, as written.
    Number(String),
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `,`
    Comma,
    /// `.`
    Dot,
    /// `;`
    Semicolon,
    /// `*`
    Star,
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `/`
    Slash,
    /// `||`
    Concat,
    /// `=`
    Eq,
    /// `!=` or `<>`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// Another operator character of BigQuery's query syntax (`% & | ^ ~ @ ? : { }`):
    /// queries go to DataFusion's parser, which reads them.
    Symbol(char),
    /// End of input.
    Eof,
}

impl Token {
    /// True when this token is the unquoted keyword `kw` (case-insensitive).
    pub fn is_keyword(&self, kw: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(kw))
    }
}

impl fmt::Display for Token {
    /// Describes the token the way BigQuery's error messages do.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Word(w) if crate::ast::is_reserved(w) || is_grammar_keyword(w) => {
                write!(f, "keyword {}", w.to_ascii_uppercase())
            }
            Token::Word(w) => write!(f, "identifier \"{w}\""),
            Token::QuotedIdent(w) => write!(f, "identifier `{w}`"),
            Token::String(s) => write!(f, "string literal \"{}\"", clip(s)),
            Token::Bytes(_) => write!(f, "bytes literal"),
            Token::Number(n) if n.contains(['.', 'e', 'E']) && !n.starts_with("0x") => {
                write!(f, "floating point literal \"{n}\"")
            }
            Token::Number(n) => write!(f, "integer literal \"{n}\""),
            Token::Eof => write!(f, "end of input"),
            Token::Symbol(c) => write!(f, "\"{c}\""),
            other => write!(f, "\"{}\"", other.symbol()),
        }
    }
}

/// Unreserved words that the grammar treats as keywords; errors call them keywords.
fn is_grammar_keyword(w: &str) -> bool {
    const WORDS: &[&str] = &[
        "TABLE",
        "MODEL",
        "SCHEMA",
        "OPTIONS",
        "EXTERNAL",
        "REPLACE",
        "CONNECTION",
        "CASCADE",
        "RESTRICT",
        "OFFSET",
        "ORDINAL",
        "INSERT",
        "UPDATE",
        "DELETE",
        "ALTER",
        "TRUNCATE",
        "DECLARE",
        "BEGIN",
        "CALL",
        "EXPORT",
    ];
    WORDS.iter().any(|k| k.eq_ignore_ascii_case(w))
}

fn clip(s: &str) -> String {
    if s.chars().count() > 20 {
        let head: String = s.chars().take(20).collect();
        format!("{head}...")
    } else {
        s.to_string()
    }
}

impl Token {
    fn symbol(&self) -> &'static str {
        match self {
            Token::LParen => "(",
            Token::RParen => ")",
            Token::LBracket => "[",
            Token::RBracket => "]",
            Token::Comma => ",",
            Token::Dot => ".",
            Token::Semicolon => ";",
            Token::Star => "*",
            Token::Plus => "+",
            Token::Minus => "-",
            Token::Slash => "/",
            Token::Concat => "||",
            Token::Eq => "=",
            Token::NotEq => "!=",
            Token::Lt => "<",
            Token::LtEq => "<=",
            Token::Gt => ">",
            Token::GtEq => ">=",
            _ => "",
        }
    }
}

/// A token and where it is.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenWithSpan {
    /// The token.
    pub token: Token,
    /// Its position; for `Eof` a zero-length span after the last character.
    pub span: Span,
}

/// Splits `sql` into tokens, dropping whitespace and comments (`--`, `#`, `/* */`).
/// The last token is always `Eof`.
pub fn tokenize(sql: &str) -> Result<Vec<TokenWithSpan>> {
    let mut t = Tokenizer {
        src: sql,
        pos: 0,
        line: 1,
        col: 1,
        out: Vec::new(),
    };
    t.run()?;
    Ok(t.out)
}

struct Tokenizer<'a> {
    src: &'a str,
    pos: usize,
    line: u32,
    col: u32,
    out: Vec<TokenWithSpan>,
}

/// A saved position, to build spans from.
#[derive(Clone, Copy)]
struct Mark {
    pos: usize,
    line: u32,
    col: u32,
}

impl<'a> Tokenizer<'a> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn mark(&self) -> Mark {
        Mark {
            pos: self.pos,
            line: self.line,
            col: self.col,
        }
    }

    fn span_from(&self, m: Mark) -> Span {
        Span {
            line: m.line,
            col: m.col,
            offset: m.pos as u32,
            len: (self.pos - m.pos) as u32,
        }
    }

    /// A one-character span at the current position, for errors.
    fn here(&self) -> Span {
        Span {
            line: self.line,
            col: self.col,
            offset: self.pos as u32,
            len: self.peek().map_or(0, |c| c.len_utf8() as u32),
        }
    }

    fn push(&mut self, token: Token, m: Mark) {
        let span = self.span_from(m);
        self.out.push(TokenWithSpan { token, span });
    }

    fn run(&mut self) -> Result<()> {
        while let Some(c) = self.peek() {
            let m = self.mark();
            match c {
                c if c.is_whitespace() => {
                    self.bump();
                }
                '#' => self.skip_line(),
                '-' if self.peek_at(1) == Some('-') => self.skip_line(),
                '/' if self.peek_at(1) == Some('*') => self.skip_block_comment()?,
                '`' => {
                    self.bump();
                    let s = self.quoted_body('`', false, false, m)?;
                    let s = String::from_utf8(s).map_err(|_| {
                        SqlError::syntax("Identifier is not valid UTF-8", self.span_from(m))
                    })?;
                    self.push(Token::QuotedIdent(s), m);
                }
                '\'' | '"' => {
                    let tok = self.string_literal(false, false, m)?;
                    self.push(tok, m);
                }
                c if c.is_ascii_digit() => self.number(m)?,
                '.' if self.peek_at(1).is_some_and(|d| d.is_ascii_digit())
                    && !self.after_name() =>
                {
                    self.number(m)?
                }
                c if c.is_ascii_alphabetic() || c == '_' => {
                    if let Some((raw, bytes, skip)) = self.string_prefix() {
                        for _ in 0..skip {
                            self.bump();
                        }
                        let tok = self.string_literal(raw, bytes, m)?;
                        self.push(tok, m);
                    } else {
                        while self
                            .peek()
                            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                        {
                            self.bump();
                        }
                        let w = self.src[m.pos..self.pos].to_string();
                        self.push(Token::Word(w), m);
                    }
                }
                _ => {
                    let tok = self.symbol(c)?;
                    self.push(tok, m);
                }
            }
        }
        let m = self.mark();
        self.push(Token::Eof, m);
        Ok(())
    }

    /// True when the previous token ends a name, so `.5` after it is field access.
    fn after_name(&self) -> bool {
        matches!(
            self.out.last().map(|t| &t.token),
            Some(Token::Word(_) | Token::QuotedIdent(_) | Token::RParen | Token::RBracket)
        )
    }

    /// Detects `r'`, `b'`, `rb'`, `br'` (any case, either quote); returns (raw, bytes, prefix length).
    fn string_prefix(&self) -> Option<(bool, bool, usize)> {
        let a = self.peek()?.to_ascii_lowercase();
        let b = self.peek_at(1)?;
        let is_q = |c: char| c == '\'' || c == '"';
        match (a, b.to_ascii_lowercase()) {
            ('r', q) if is_q(q) => Some((true, false, 1)),
            ('b', q) if is_q(q) => Some((false, true, 1)),
            ('r', 'b') | ('b', 'r') if self.peek_at(2).is_some_and(is_q) => Some((true, true, 2)),
            _ => None,
        }
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.bump() {
            if c == '\n' {
                break;
            }
        }
    }

    fn skip_block_comment(&mut self) -> Result<()> {
        let start = self.here();
        self.bump();
        self.bump();
        loop {
            match self.bump() {
                None => {
                    return Err(SqlError::syntax(
                        "Unclosed comment",
                        Span { len: 2, ..start },
                    ))
                }
                Some('*') if self.peek() == Some('/') => {
                    self.bump();
                    return Ok(());
                }
                Some(_) => {}
            }
        }
    }

    fn string_literal(&mut self, raw: bool, bytes: bool, m: Mark) -> Result<Token> {
        let q = self.bump().unwrap_or('\'');
        let triple = self.peek() == Some(q) && self.peek_at(1) == Some(q);
        if triple {
            self.bump();
            self.bump();
        }
        let body = self.quoted_body(q, raw, triple, m)?;
        if bytes {
            Ok(Token::Bytes(body))
        } else {
            String::from_utf8(body).map(Token::String).map_err(|_| {
                SqlError::syntax("String literal is not valid UTF-8", self.span_from(m))
            })
        }
    }

    /// Reads up to the closing quote (already past the opening one). Returns raw bytes so
    /// that `\x` escapes can build bytes literals.
    fn quoted_body(&mut self, q: char, raw: bool, triple: bool, m: Mark) -> Result<Vec<u8>> {
        let what = if q == '`' { "identifier" } else { "string" };
        let unclosed = |t: &Self| {
            SqlError::syntax(
                format!("Unclosed {what} literal"),
                Span {
                    len: 1,
                    ..t.span_from(m)
                },
            )
        };
        let mut out = Vec::new();
        loop {
            let c = match self.peek() {
                None => return Err(unclosed(self)),
                Some(c) => c,
            };
            if c == q {
                if !triple {
                    self.bump();
                    return Ok(out);
                }
                if self.peek_at(1) == Some(q) && self.peek_at(2) == Some(q) {
                    self.bump();
                    self.bump();
                    self.bump();
                    return Ok(out);
                }
            }
            if c == '\n' && !triple {
                return Err(unclosed(self));
            }
            if c == '\\' {
                let esc = self.here();
                self.bump();
                let Some(e) = self.peek() else {
                    return Err(unclosed(self));
                };
                if raw {
                    // Raw literals keep the backslash; it only stops the quote from closing.
                    out.push(b'\\');
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(
                        self.bump().unwrap_or(e).encode_utf8(&mut buf).as_bytes(),
                    );
                    continue;
                }
                self.escape(e, esc, &mut out)?;
                continue;
            }
            self.bump();
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }

    fn escape(&mut self, e: char, esc: Span, out: &mut Vec<u8>) -> Result<()> {
        let simple = match e {
            'a' => Some(7u8),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '\\' | '?' | '"' | '\'' | '`' => Some(e as u8),
            _ => None,
        };
        if let Some(b) = simple {
            self.bump();
            out.push(b);
            return Ok(());
        }
        let bad = |t: &Self, n: usize| {
            let text: String = t.src[esc.offset as usize..].chars().take(n).collect();
            SqlError::syntax(
                format!("Illegal escape sequence: {text}"),
                Span {
                    len: text.len() as u32,
                    ..esc
                },
            )
        };
        let (digits, radix) = match e {
            'x' | 'X' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            '0'..='7' => (3, 8),
            _ => return Err(bad(self, 2)),
        };
        if radix == 16 {
            self.bump();
        }
        let mut v: u32 = 0;
        for i in 0..digits {
            let d = self.peek().and_then(|c| c.to_digit(radix));
            match d {
                Some(d) => {
                    v = v * radix + d;
                    self.bump();
                }
                None => return Err(bad(self, i + if radix == 16 { 2 } else { 1 })),
            }
        }
        if radix == 8 && v > 0o377 {
            // Octal escapes denote one byte: \000 to \377.
            return Err(bad(self, 4));
        }
        if matches!(e, 'x' | 'X') || radix == 8 {
            // \x and octal escapes denote one byte.
            out.push(v as u8);
            return Ok(());
        }
        match char::from_u32(v) {
            Some(c) => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                Ok(())
            }
            None => Err(bad(self, digits + 2)),
        }
    }

    fn number(&mut self, m: Mark) -> Result<()> {
        let hex = self.peek() == Some('0') && matches!(self.peek_at(1), Some('x' | 'X'));
        if hex {
            self.bump();
            self.bump();
            while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                self.bump();
            }
        } else {
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.bump();
            }
            if self.peek() == Some('.') {
                self.bump();
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.bump();
                }
            }
            if matches!(self.peek(), Some('e' | 'E')) {
                let sign = matches!(self.peek_at(1), Some('+' | '-'));
                let digit_at = if sign { 2 } else { 1 };
                if self.peek_at(digit_at).is_some_and(|c| c.is_ascii_digit()) {
                    for _ in 0..digit_at {
                        self.bump();
                    }
                    while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                        self.bump();
                    }
                }
            }
        }
        if self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(SqlError::syntax(
                "Missing whitespace between literal and alias",
                self.here(),
            ));
        }
        let text = self.src[m.pos..self.pos].to_string();
        if hex && text.len() == 2 {
            return Err(SqlError::syntax("Invalid hex literal", self.span_from(m)));
        }
        self.push(Token::Number(text), m);
        Ok(())
    }

    fn symbol(&mut self, c: char) -> Result<Token> {
        let next = self.peek_at(1);
        let (tok, n) = match (c, next) {
            ('(', _) => (Token::LParen, 1),
            (')', _) => (Token::RParen, 1),
            ('[', _) => (Token::LBracket, 1),
            (']', _) => (Token::RBracket, 1),
            (',', _) => (Token::Comma, 1),
            ('.', _) => (Token::Dot, 1),
            (';', _) => (Token::Semicolon, 1),
            ('*', _) => (Token::Star, 1),
            ('+', _) => (Token::Plus, 1),
            ('-', _) => (Token::Minus, 1),
            ('/', _) => (Token::Slash, 1),
            ('|', Some('|')) => (Token::Concat, 2),
            ('=', _) => (Token::Eq, 1),
            ('!', Some('=')) => (Token::NotEq, 2),
            ('<', Some('>')) => (Token::NotEq, 2),
            ('<', Some('=')) => (Token::LtEq, 2),
            ('<', _) => (Token::Lt, 1),
            ('>', Some('=')) => (Token::GtEq, 2),
            ('>', _) => (Token::Gt, 1),
            ('%' | '&' | '|' | '^' | '~' | '@' | '?' | ':' | '{' | '}', _) => (Token::Symbol(c), 1),
            _ => {
                return Err(SqlError::syntax(
                    format!(
                        "Illegal input character \"{}\"",
                        if c.is_control() {
                            c.escape_default().to_string()
                        } else {
                            c.to_string()
                        }
                    ),
                    self.here(),
                ))
            }
        };
        for _ in 0..n {
            self.bump();
        }
        Ok(tok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Token> {
        tokenize(s).unwrap().into_iter().map(|t| t.token).collect()
    }

    #[test]
    fn words_numbers_symbols_and_comments() {
        assert_eq!(
            toks("SELECT a.b, 1.5e3 -- c\n/* x */ FROM `p.d`#z\n<>"),
            vec![
                Token::Word("SELECT".into()),
                Token::Word("a".into()),
                Token::Dot,
                Token::Word("b".into()),
                Token::Comma,
                Token::Number("1.5e3".into()),
                Token::Word("FROM".into()),
                Token::QuotedIdent("p.d".into()),
                Token::NotEq,
                Token::Eof,
            ]
        );
    }

    #[test]
    fn string_forms() {
        assert_eq!(
            toks(r#"'a\'b' "c\n" r'\d' b'\x00\xff' '''x'y'''"#),
            vec![
                Token::String("a'b".into()),
                Token::String("c\n".into()),
                Token::String("\\d".into()),
                Token::Bytes(vec![0, 255]),
                Token::String("x'y".into()),
                Token::Eof,
            ]
        );
    }

    #[test]
    fn spans_count_lines_and_characters() {
        let t = tokenize("SELECT\n  'é', x").unwrap();
        let x = &t[3];
        assert_eq!(x.token, Token::Word("x".into()));
        assert!(x.span.same_position(&Span {
            line: 2,
            col: 8,
            offset: 15,
            len: 1
        }));
    }

    #[test]
    fn lexical_errors_have_positions() {
        let e = tokenize("SELECT 'abc").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Syntax error: Unclosed string literal at [1:8]"
        );
        let e = tokenize("SELECT é").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Syntax error: Illegal input character \"é\" at [1:8]"
        );
        let e = tokenize("SELECT $").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Syntax error: Illegal input character \"$\" at [1:8]"
        );
        let e = tokenize("SELECT 1 /* x").unwrap_err();
        assert_eq!(e.to_string(), "Syntax error: Unclosed comment at [1:10]");
        let e = tokenize("SELECT '\\q'").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Syntax error: Illegal escape sequence: \\q at [1:9]"
        );
        // Octal escapes are one byte: \000 to \377.
        let e = tokenize("SELECT 1,\n  '\\777'").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Syntax error: Illegal escape sequence: \\777 at [2:4]"
        );
        assert!(tokenize("SELECT b'\\377\\000'").is_ok());
        let e = tokenize("SELECT 12abc").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Syntax error: Missing whitespace between literal and alias at [1:10]"
        );
    }
}
