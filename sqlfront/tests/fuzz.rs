//! Property tests: the parser and the query engine never panic, every error carries a
//! position inside the input, and whatever parses prints back to an equal tree (the
//! `sql` fuzz target's check over generated token soups).

use proptest::prelude::*;

const VOCAB: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "HAVING",
    "SUM(a)",
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

/// The `sql` fuzz target's check (parse, print, re-parse; error positions; queries
/// planned and run on an empty catalog).
#[path = "../../fuzz/checks/sql.rs"]
mod sql_check;

fn check(sql: &str) {
    sql_check::check(sql.as_bytes());
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

mod generated_ast {
    //! Random DDL statements with random option values: printing then parsing gives the
    //! same tree.
    use proptest::prelude::*;
    use sqlfront::ast::*;
    use sqlfront::error::Span;

    fn plain_ident() -> impl Strategy<Value = Ident> {
        "[a-z_][a-z0-9_]{0,6}"
            .prop_filter("reserved", |s| !is_reserved(s))
            .prop_map(Ident::new)
    }

    fn ident() -> impl Strategy<Value = Ident> {
        prop_oneof![
            3 => plain_ident(),
            1 => "[a-z `\\\\]{1,5}".prop_map(|s| Ident { value: s, quoted: true, span: Span::default() }),
        ]
    }

    fn name() -> impl Strategy<Value = ObjectName> {
        prop::collection::vec(plain_ident(), 1..4).prop_map(|parts| ObjectName {
            parts,
            span: Span::default(),
        })
    }

    fn data_type() -> impl Strategy<Value = DataType> {
        prop_oneof![
            Just(DataType::Bool),
            Just(DataType::Int64),
            Just(DataType::Float64),
            Just(DataType::String),
            Just(DataType::Bytes),
            Just(DataType::Timestamp),
            Just(DataType::Date),
            Just(DataType::Array(Box::new(DataType::String))),
            plain_ident().prop_map(|n| DataType::Struct(vec![
                (Some(n.value), DataType::Int64),
                (None, DataType::Bool)
            ])),
        ]
    }

    fn literal() -> impl Strategy<Value = Literal> {
        prop_oneof![
            Just(Literal::Null),
            any::<bool>().prop_map(Literal::Bool),
            any::<i64>().prop_map(Literal::Int),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Literal::Float),
            "\\PC{0,8}".prop_map(Literal::String),
            prop::collection::vec(any::<u8>(), 0..6).prop_map(Literal::Bytes),
        ]
    }

    fn option_value() -> impl Strategy<Value = OptionValue> {
        let leaf = prop_oneof![
            4 => literal().prop_map(OptionValue::Literal),
            1 => (
                prop_oneof![any::<i64>().prop_map(Literal::Int), "[0-9: -]{1,8}".prop_map(Literal::String)],
                prop::sample::select(&IntervalUnit::ALL[..]),
                prop::option::of(prop::sample::select(&IntervalUnit::ALL[..])),
            )
                .prop_map(|(value, (unit, _), to)| OptionValue::Interval {
                    value,
                    unit,
                    to: to.map(|(u, _)| u),
                }),
        ];
        leaf.prop_recursive(3, 12, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(OptionValue::Array),
                prop::collection::vec(inner, 2..4).prop_map(OptionValue::Tuple),
            ]
        })
    }

    fn options() -> impl Strategy<Value = Vec<SqlOption>> {
        prop::collection::vec((ident(), option_value()), 0..4).prop_map(|v| {
            v.into_iter()
                .map(|(name, value)| SqlOption {
                    name,
                    value,
                    span: Span::default(),
                })
                .collect()
        })
    }

    fn statement() -> impl Strategy<Value = Statement> {
        let span = Span::default();
        prop_oneof![
            (name(), any::<bool>(), options()).prop_map(move |(name, if_not_exists, options)| {
                Statement::CreateSchema {
                    name,
                    if_not_exists,
                    options,
                    span,
                }
            }),
            (
                name(),
                any::<bool>(),
                options().prop_filter("required", |o| !o.is_empty())
            )
                .prop_map(move |(name, or_replace, options)| Statement::CreateModel {
                    name,
                    or_replace,
                    if_not_exists: !or_replace,
                    options,
                    span,
                }),
            (
                name(),
                prop::collection::vec((ident(), data_type()), 0..3),
                prop::option::of(name()),
                options().prop_filter("required", |o| !o.is_empty()),
            )
                .prop_map(move |(name, cols, connection, options)| {
                    Statement::CreateExternalTable {
                        name,
                        or_replace: false,
                        if_not_exists: false,
                        columns: cols
                            .into_iter()
                            .map(|(name, data_type)| ColumnDef {
                                name,
                                data_type,
                                span,
                            })
                            .collect(),
                        connection: connection.map(Connection::Named),
                        options,
                        span,
                    }
                }),
            (name(), any::<bool>()).prop_map(move |(name, if_exists)| Statement::DropTable {
                name,
                external: if_exists,
                if_exists,
                span,
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn printed_statements_parse_back(x in statement()) {
            let printed = x.to_string();
            let parsed = sqlfront::parse_statement(&printed)
                .unwrap_or_else(|err| panic!("{printed:?}: {}", err.render(&printed)));
            prop_assert_eq!(&parsed, &x, "printed as {}", printed);
        }
    }
}

mod execution {
    //! Whatever parses also executes without panicking: results or positioned errors.
    use super::soup;
    use proptest::prelude::*;
    use sqlfront::{Session, SessionConfig};
    use std::sync::OnceLock;

    fn session() -> &'static Session {
        static S: OnceLock<(tempfile::TempDir, Session)> = OnceLock::new();
        &S.get_or_init(|| {
            let tmp = tempfile::tempdir().unwrap();
            std::fs::write(tmp.path().join("t.csv"), "a,b\n1,x\n2,\n,z\n").unwrap();
            let s = Session::open(SessionConfig {
                data_dir: tmp.path().join("data"),
                gcs_root: Some(tmp.path().to_path_buf()),
                gcs_endpoint: None,
            })
            .unwrap();
            s.run_script(
                "CREATE SCHEMA ds; CREATE EXTERNAL TABLE ds.t OPTIONS(format='CSV', uris=['gs://t.csv'], skip_leading_rows=1)",
                |_, _| {},
            )
            .unwrap();
            (tmp, s)
        })
        .1
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn executing_soup_never_panics(tail in soup(), head in prop::sample::select(&["SELECT", "SELECT a,", "SELECT * FROM ds.t WHERE", "SELECT a FROM ds.t t JOIN ds.t u ON", "SELECT b FROM ds.t ORDER BY"][..])) {
            let sql = format!("{head} {tail}");
            if let Err(e) = session().run_script(&sql, |_, _| {}) {
                let rendered = e.render(&sql);
                prop_assert!(!rendered.is_empty());
            }
        }
    }
}
