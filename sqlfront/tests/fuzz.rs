//! Property tests: the parser never panics, every error carries a position inside the
//! input, and whatever parses prints back to an equal tree.

use proptest::prelude::*;
use sqlfront::{parse_sql, parse_statement};

const VOCAB: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "ORDER",
    "BY",
    "LIMIT",
    "OFFSET",
    "DISTINCT",
    "AS",
    "JOIN",
    "LEFT",
    "INNER",
    "ON",
    "AND",
    "OR",
    "NOT",
    "LIKE",
    "IN",
    "IS",
    "NULL",
    "TRUE",
    "BETWEEN",
    "CREATE",
    "OR REPLACE",
    "MODEL",
    "SCHEMA",
    "EXTERNAL",
    "TABLE",
    "DROP",
    "IF",
    "EXISTS",
    "OPTIONS",
    "WITH",
    "CONNECTION",
    "DEFAULT",
    "CASCADE",
    "ML.PREDICT",
    "ML",
    ".",
    "MODEL",
    "STRUCT",
    "ARRAY",
    "INTERVAL",
    "DAY",
    "CAST",
    "INT64",
    "STRING",
    "ARRAY<",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "OFFSET(",
    "ORDINAL(",
    "a",
    "t",
    "ds.t",
    "`p.ds.m`",
    "`x`",
    "1",
    "-",
    "2.5",
    "1e3",
    "'s'",
    "b'\\x01'",
    "(",
    ")",
    "[",
    "]",
    ",",
    ";",
    "*",
    "+",
    "/",
    "=",
    "<>",
    "<",
    ">=",
    "||",
    "--c\n",
    "/*c*/",
    "\n",
    "DESC",
    "ASC",
    "COUNT(*)",
    "t.*",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(VOCAB), 0..40).prop_map(|v| v.join(" "))
}

fn check(sql: &str) {
    match parse_sql(sql) {
        Ok(stmts) => {
            for s in stmts {
                let printed = s.to_string();
                let again = parse_statement(&printed)
                    .unwrap_or_else(|e| panic!("{sql:?} printed as {printed:?}: {e}"));
                assert_eq!(again, s, "{sql:?} printed as {printed:?}");
            }
        }
        Err(e) => {
            let span = e
                .span
                .unwrap_or_else(|| panic!("no position for {sql:?}: {e}"));
            assert!(span.line >= 1 && span.col >= 1, "{sql:?}: {e}");
            assert!(
                (span.offset + span.len) as usize <= sql.len(),
                "{sql:?}: {e}"
            );
            assert!(sql.is_char_boundary(span.offset as usize), "{sql:?}: {e}");
            let rendered = e.render(sql);
            assert!(rendered.contains(&format!("at [{}:{}]", span.line, span.col)));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn token_soup_never_panics(sql in soup()) {
        check(&sql);
    }

    #[test]
    fn prefixed_soup_never_panics(tail in soup(), head in prop::sample::select(&["SELECT a", "SELECT * FROM t", "CREATE MODEL m", "SELECT * FROM ML.PREDICT(MODEL m,"][..])) {
        check(&format!("{head} {tail}"));
    }

    #[test]
    fn random_text_never_panics(sql in "\\PC{0,60}") {
        check(&sql);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        check(&String::from_utf8_lossy(&bytes));
    }
}
