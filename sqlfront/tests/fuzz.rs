//! Property tests: the parser never panics, every error carries a position inside the
//! input, and whatever parses prints back to an equal tree (the `sql` fuzz target's check
//! over generated token soups).

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

/// The `sql` fuzz target's check (parse, print, re-parse; error positions; queries bound
/// and run on an empty catalog).
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
    //! Random expression trees: printing then parsing gives the same tree.
    use proptest::prelude::*;
    use sqlfront::ast::*;
    use sqlfront::error::Span;

    fn e(kind: ExprKind) -> Expr {
        Expr {
            kind,
            span: Span::default(),
        }
    }

    fn plain_ident() -> impl Strategy<Value = Ident> {
        "[a-z_][a-z0-9_]{0,6}"
            .prop_filter("reserved", |s| {
                !is_reserved(s) && s != "safe_cast" && s != "timestamp"
            })
            .prop_map(Ident::new)
    }

    fn ident() -> impl Strategy<Value = Ident> {
        prop_oneof![
            3 => plain_ident(),
            1 => "[a-z `\\\\]{1,5}".prop_map(|s| Ident { value: s, quoted: true, span: Span::default() }),
        ]
    }

    fn data_type() -> impl Strategy<Value = DataType> {
        prop_oneof![
            Just(DataType::Bool),
            Just(DataType::Int64),
            Just(DataType::Float64),
            Just(DataType::String),
            Just(DataType::Bytes),
            Just(DataType::Timestamp),
            Just(DataType::Array(Box::new(DataType::String))),
            plain_ident().prop_map(|n| DataType::Struct(vec![
                (Some(n.value), DataType::Int64),
                (None, DataType::Bool)
            ])),
        ]
    }

    fn leaf() -> impl Strategy<Value = Expr> {
        prop_oneof![
            Just(e(ExprKind::Literal(Literal::Null))),
            any::<bool>().prop_map(|b| e(ExprKind::Literal(Literal::Bool(b)))),
            any::<i64>().prop_map(|i| e(ExprKind::Literal(Literal::Int(i)))),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| e(ExprKind::Literal(Literal::Float(f)))),
            "\\PC{0,8}".prop_map(|s| e(ExprKind::Literal(Literal::String(s)))),
            "[\\x00-\\x7f]{0,6}".prop_map(|s| e(ExprKind::Literal(Literal::String(s)))),
            prop::collection::vec(any::<u8>(), 0..6)
                .prop_map(|b| e(ExprKind::Literal(Literal::Bytes(b)))),
            prop::collection::vec(ident(), 1..4).prop_map(|p| e(ExprKind::Column(p))),
        ]
    }

    const OPS: [BinaryOp; 13] = [
        BinaryOp::Or,
        BinaryOp::And,
        BinaryOp::Eq,
        BinaryOp::NotEq,
        BinaryOp::Lt,
        BinaryOp::LtEq,
        BinaryOp::Gt,
        BinaryOp::GtEq,
        BinaryOp::Plus,
        BinaryOp::Minus,
        BinaryOp::Multiply,
        BinaryOp::Divide,
        BinaryOp::Concat,
    ];
    const MODES: [SubscriptMode; 5] = [
        SubscriptMode::Plain,
        SubscriptMode::Offset,
        SubscriptMode::Ordinal,
        SubscriptMode::SafeOffset,
        SubscriptMode::SafeOrdinal,
    ];

    fn expr() -> impl Strategy<Value = Expr> {
        leaf().prop_recursive(5, 48, 4, |inner| {
            let boxed = inner.clone();
            let b = move || boxed.clone().prop_map(Box::new);
            prop_oneof![
                b().prop_map(|x| e(ExprKind::Not(x))),
                b().prop_map(|x| e(ExprKind::Negate(x))),
                (b(), prop::sample::select(&OPS[..]), b())
                    .prop_map(|(left, op, right)| e(ExprKind::Binary { left, op, right })),
                (b(), any::<bool>(), b()).prop_map(|(x, negated, pattern)| e(ExprKind::Like {
                    expr: x,
                    negated,
                    pattern
                })),
                (
                    b(),
                    prop::collection::vec(inner.clone(), 1..3),
                    any::<bool>()
                )
                    .prop_map(|(x, list, negated)| e(ExprKind::InList {
                        expr: x,
                        list,
                        negated
                    })),
                (b(), any::<bool>(), b(), b()).prop_map(|(x, negated, low, high)| {
                    e(ExprKind::Between {
                        expr: x,
                        negated,
                        low,
                        high,
                    })
                }),
                (b(), any::<bool>())
                    .prop_map(|(x, negated)| e(ExprKind::IsNull { expr: x, negated })),
                (
                    prop::collection::vec(ident(), 1..3),
                    prop::collection::vec(inner.clone(), 0..3)
                )
                    .prop_map(|(parts, args)| e(ExprKind::Function {
                        name: ObjectName {
                            parts,
                            span: Span::default()
                        },
                        args,
                        distinct: false,
                        star: false,
                    })),
                (b(), data_type(), any::<bool>()).prop_map(|(x, data_type, safe)| e(
                    ExprKind::Cast {
                        expr: x,
                        data_type,
                        safe
                    }
                )),
                (b(), b(), prop::sample::select(&MODES[..])).prop_map(|(x, index, mode)| e(
                    ExprKind::Subscript {
                        expr: x,
                        index,
                        mode
                    }
                )),
                prop::collection::vec(inner.clone(), 0..3).prop_map(|v| e(ExprKind::Array(v))),
                prop::collection::vec((inner.clone(), prop::option::of(plain_ident())), 0..3)
                    .prop_map(|v| e(ExprKind::Struct(v))),
                (
                    prop::option::of(b()),
                    prop::collection::vec((inner.clone(), inner.clone()), 1..3),
                    prop::option::of(b())
                )
                    .prop_map(|(operand, branches, else_result)| e(
                        ExprKind::Case {
                            operand,
                            branches,
                            else_result
                        }
                    )),
                (b(), prop::sample::select(&IntervalUnit::ALL[..]))
                    .prop_map(|(value, (unit, _))| e(ExprKind::Interval { value, unit })),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn printed_expressions_parse_back(x in expr()) {
            let printed = x.to_string();
            let parsed = sqlfront::parse_expr(&printed)
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
