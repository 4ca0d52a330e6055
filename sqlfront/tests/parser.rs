use sqlfront::ast::*;
use sqlfront::{parse_sql, parse_statement};

/// Parses, prints, re-parses, and checks the trees agree (spans aside) and that printing
/// is a fixpoint.
fn round_trip(sql: &str) -> Vec<Statement> {
    let first = parse_sql(sql).unwrap_or_else(|e| panic!("{}", e.render(sql)));
    for s in &first {
        let printed = s.to_string();
        let again = parse_statement(&printed)
            .unwrap_or_else(|e| panic!("re-parse of {printed:?}: {}", e.render(&printed)));
        assert_eq!(&again, s, "printed as {printed}");
        assert_eq!(again.to_string(), printed);
    }
    first
}

const TUTORIAL: &str = r#"
-- The tutorial flow, as a single script.
CREATE SCHEMA IF NOT EXISTS bqml_tutorial OPTIONS(description = 'BigQuery ML tutorial dataset.', location = 'US');
CREATE OR REPLACE MODEL `bqml_tutorial.imported_onnx_model`
  OPTIONS (MODEL_TYPE='ONNX', MODEL_PATH='gs://cloud-samples-data/bigquery/ml/onnx/resnet18.onnx');
CREATE EXTERNAL TABLE `bqml_tutorial.goldfish_image_table`
WITH CONNECTION `us.bqml_tutorial`
OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://bqml_images/goldfish.jpg'],
        max_staleness = INTERVAL 1 DAY, metadata_cache_mode = 'AUTOMATIC');
/* predict */
SELECT class_label
FROM ML.PREDICT(MODEL `bqml_tutorial.imported_onnx_model`,
  (SELECT ML.RESIZE_IMAGE(ML.DECODE_IMAGE(DATA), 224, 224, FALSE) AS input
   FROM bqml_tutorial.goldfish_image_table));
DROP MODEL bqml_tutorial.imported_onnx_model;
DROP SCHEMA IF EXISTS bqml_tutorial CASCADE
"#;

#[test]
fn tutorial_script_round_trips() {
    let stmts = round_trip(TUTORIAL);
    assert_eq!(stmts.len(), 6);
    match &stmts[1] {
        Statement::CreateModel {
            name,
            or_replace,
            if_not_exists,
            options,
            ..
        } => {
            assert_eq!(name.dotted(), "bqml_tutorial.imported_onnx_model");
            assert_eq!(name.parts.len(), 2);
            assert!(name.parts.iter().all(|p| p.quoted));
            assert!(*or_replace && !*if_not_exists);
            assert_eq!(options.len(), 2);
            assert_eq!(options[0].name.value, "MODEL_TYPE");
        }
        other => panic!("not a model: {other:?}"),
    }
    match &stmts[2] {
        Statement::CreateExternalTable {
            connection: Some(Connection::Named(c)),
            options,
            ..
        } => {
            assert_eq!(c.dotted(), "us.bqml_tutorial");
            assert_eq!(
                options[2].value.kind,
                ExprKind::Interval {
                    value: Box::new(Expr {
                        kind: ExprKind::Literal(Literal::Int(1)),
                        span: Default::default()
                    }),
                    unit: IntervalUnit::Day
                }
            );
        }
        other => panic!("not a table: {other:?}"),
    }
    match &stmts[3] {
        Statement::Query(q) => match &q.select.from.as_ref().unwrap().relation {
            TableFactor::Predict { model, input, .. } => {
                assert_eq!(model.dotted(), "bqml_tutorial.imported_onnx_model");
                assert!(matches!(
                    input,
                    PredictInput::Query {
                        parenthesized: true,
                        ..
                    }
                ));
            }
            other => panic!("not predict: {other:?}"),
        },
        other => panic!("not a query: {other:?}"),
    }
    assert!(matches!(
        stmts[5],
        Statement::DropSchema {
            if_exists: true,
            behavior: Some(DropBehavior::Cascade),
            ..
        }
    ));
}

#[test]
fn statement_forms_round_trip() {
    let cases = [
        "create schema ds",
        "CREATE SCHEMA `my-project`.ds",
        "DROP SCHEMA ds RESTRICT",
        "CREATE MODEL IF NOT EXISTS p.ds.m OPTIONS(model_type = 'onnx', model_path = 'file:///tmp/m.onnx', kms_key_name = 'k')",
        "DROP MODEL IF EXISTS `p`.`ds`.`m`",
        "CREATE OR REPLACE EXTERNAL TABLE IF NOT EXISTS ds.t (a INT64, b STRING, c ARRAY<FLOAT64>, d STRUCT<x INT64, BOOL>) WITH CONNECTION DEFAULT OPTIONS(format = 'CSV', uris = ['gs://b/*.csv'], skip_leading_rows = 1)",
        "CREATE EXTERNAL TABLE ds.t (a INTEGER, b BOOLEAN, c FLOAT, s STRING(10)) OPTIONS(format = 'CSV', uris = ['/tmp/x.csv'])",
        "DROP EXTERNAL TABLE ds.t",
        "DROP TABLE IF EXISTS ds.t",
        "SELECT DISTINCT a AS x, t.*, * FROM ds.t AS t WHERE a > 1 ORDER BY x DESC, 2 LIMIT 10 OFFSET 5",
        "SELECT a FROM (SELECT 1 AS a) sub",
        "SELECT kind, COUNT(*) AS n FROM ds.t WHERE x > 0 GROUP BY kind, 2 HAVING COUNT(*) > 1 ORDER BY n DESC LIMIT 3",
        "SELECT a.x, b.y FROM ds.a a JOIN ds.b b ON a.k = b.k LEFT OUTER JOIN ds.c ON c.k = a.k INNER JOIN ds.d ON TRUE",
        "SELECT * FROM ML.PREDICT(MODEL ds.m, TABLE ds.t)",
        "SELECT * FROM ML.PREDICT(MODEL ds.m, SELECT a AS input FROM ds.t, STRUCT(0.5 AS threshold)) AS p",
        "SELECT * FROM ML.PREDICT(MODEL ds.m, (SELECT 1 AS input), STRUCT())",
        "SELECT 1, -2, 3.5, -4.25e-10, 1e300, 0x1F, -9223372036854775808",
        "SELECT 'a\\'b\\n', \"dq\", r'raw\\d', b'\\x00ab', '''tri\nple''', NULL, TRUE, false",
        "SELECT [1, 2, 3], ARRAY[], STRUCT(1 AS a, 'x'), INTERVAL -3 HOUR, INTERVAL (1 + 2) MINUTE",
        "SELECT a[OFFSET(0)], a[ORDINAL(1)], a[SAFE_OFFSET(9)], a[SAFE_ORDINAL(9)], a[0], f(x)[OFFSET(1)]",
        "SELECT NOT a AND b OR c, NOT (a OR b), (a OR b) AND c, a - (b - c), (a - b) - c, a * (b + c), -a, -(-a), -(1), - - 1",
        "SELECT a = b = c, a = (b = c), (a < b) IS NULL, a IS NOT NULL, a NOT LIKE 'x%', a IN (1, 2), a NOT IN (3), a BETWEEN 1 AND 2 + 3, a NOT BETWEEN b AND c",
        "SELECT CAST(a AS INT64), SAFE_CAST('1' AS FLOAT64), CAST(x AS ARRAY<STRING>), TIMESTAMP '2024-01-01 00:00:00+00'",
        "SELECT COUNT(*), COUNT(DISTINCT a), IF(a, 1, 2), ML.DECODE_IMAGE(data), `weird name`, t.`select`, CONCAT(a, b) || 'x'",
        "SELECT CASE WHEN a THEN 1 WHEN b THEN 2 ELSE 3 END, CASE x WHEN 1 THEN 'one' END",
        "SELECT a FROM `p.ds.t` WHERE a LIKE '%x' AND NOT b",
        "SELECT (SELECT_1) FROM t",
        "(SELECT 1)",
    ];
    for c in cases {
        round_trip(c);
    }
}

#[test]
fn precedence_is_standard() {
    let s = parse_statement("SELECT 1 + 2 * 3 = 7 AND NOT FALSE OR x").unwrap();
    let Statement::Query(q) = s else { panic!() };
    let SelectItem::Expr { expr, .. } = &q.select.projection[0] else {
        panic!()
    };
    assert_eq!(expr.to_string(), "1 + 2 * 3 = 7 AND NOT FALSE OR x");
    let ExprKind::Binary { op, left, .. } = &expr.kind else {
        panic!()
    };
    assert_eq!(*op, BinaryOp::Or);
    let ExprKind::Binary { op, .. } = &left.kind else {
        panic!()
    };
    assert_eq!(*op, BinaryOp::And);
}

#[test]
fn spans_point_into_the_source() {
    let sql = "SELECT a,\n  bb + 1 AS c\nFROM ds.t";
    let Statement::Query(q) = parse_statement(sql).unwrap() else {
        panic!()
    };
    let SelectItem::Expr { expr, alias } = &q.select.projection[1] else {
        panic!()
    };
    assert_eq!((expr.span.line, expr.span.col), (2, 3));
    assert_eq!(
        &sql[expr.span.offset as usize..(expr.span.offset + expr.span.len) as usize],
        "bb + 1"
    );
    let alias = alias.as_ref().unwrap();
    assert_eq!((alias.span.line, alias.span.col), (2, 13));
    let TableFactor::Table { name, .. } = &q.select.from.as_ref().unwrap().relation else {
        panic!()
    };
    assert_eq!((name.span.line, name.span.col, name.span.len), (3, 6, 4));
    assert_eq!((q.span.offset, q.span.len as usize), (0, sql.len()));
}

fn err(sql: &str) -> String {
    parse_sql(sql).unwrap_err().render(sql)
}

#[test]
fn errors_name_the_token_and_position() {
    assert_eq!(
        err("SELECT a FROM t WHERE"),
        "Syntax error: Unexpected end of input at [1:22]\nSELECT a FROM t WHERE\n                     ^"
    );
    assert_eq!(
        err("SELECT 1\nFROM t t2 t3"),
        "Syntax error: Expected end of input but got identifier \"t3\" at [2:11]\nFROM t t2 t3\n          ^^"
    );
    assert_eq!(
        err("CREATE MODEL ds.m"),
        "Syntax error: Expected keyword OPTIONS but got end of input at [1:18]\nCREATE MODEL ds.m\n                 ^"
    );
    assert_eq!(
        err("CREATE TABLE ds.t (a INT64)"),
        "Syntax error: Expected keyword SCHEMA, MODEL or EXTERNAL TABLE but got keyword TABLE at [1:8]\nCREATE TABLE ds.t (a INT64)\n       ^^^^^"
    );
    assert_eq!(
        err("UPDATE t SET a = 1"),
        "Syntax error: Unexpected keyword UPDATE at [1:1]\nUPDATE t SET a = 1\n^^^^^^"
    );
    assert_eq!(
        err("SELECT * FROM ML.PREDICT(MODEL m, 42)"),
        "Syntax error: Expected keyword TABLE or a query but got integer literal \"42\" at [1:35]\nSELECT * FROM ML.PREDICT(MODEL m, 42)\n                                  ^^"
    );
    assert_eq!(
        err("SELECT 99999999999999999999"),
        "Syntax error: Invalid integer literal: 99999999999999999999 at [1:8]\nSELECT 99999999999999999999\n       ^^^^^^^^^^^^^^^^^^^^"
    );
    assert_eq!(
        err("SELECT CAST(1 AS DECIMAL)"),
        "Syntax error: Type not found: DECIMAL at [1:18]\nSELECT CAST(1 AS DECIMAL)\n                 ^^^^^^^"
    );
    assert_eq!(
        err("SELECT a FROM `p.d.t.x`"),
        "Syntax error: Name p.d.t.x has more than 3 parts (project.dataset.name) at [1:15]\nSELECT a FROM `p.d.t.x`\n              ^^^^^^^^^"
    );
    assert_eq!(
        err("SELECT INTERVAL 1 FORTNIGHT"),
        "Syntax error: Expected interval date part (YEAR, MONTH, DAY, HOUR, …) but got identifier \"FORTNIGHT\" at [1:19]\nSELECT INTERVAL 1 FORTNIGHT\n                  ^^^^^^^^^"
    );
}

#[test]
fn unsupported_constructs_say_so() {
    let e = parse_sql("SELECT a FROM t GROUP BY ROLLUP(a)").unwrap_err();
    assert_eq!(
        e.to_string(),
        "Syntax error: Unexpected keyword ROLLUP at [1:26]"
    );
    let e = parse_sql("SELECT a FROM t WHERE a IN (SELECT 1)").unwrap_err();
    assert_eq!(e.kind, sqlfront::ErrorKind::NotSupported);
    assert_eq!(
        e.to_string(),
        "IN (subquery) is not supported yet at [1:29]"
    );
    let e = parse_sql("SELECT a FROM t1, t2").unwrap_err();
    assert_eq!(
        e.to_string(),
        "Comma joins are not supported; use JOIN … ON at [1:17]"
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let sql = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
    let e = parse_sql(&sql).unwrap_err();
    assert!(e.message.contains("Nesting deeper than"), "{e}");
    let sql = format!("SELECT {}1", "NOT ".repeat(5000));
    assert!(parse_sql(&sql).is_err());
    let sql = format!("SELECT {}1", "-".repeat(5000));
    assert!(parse_sql(&sql).is_err());
    // Long operator chains build deep trees too: they are no nesting, but the tree's
    // depth is bounded.
    let sql = format!("SELECT 1{}", " + 1".repeat(5000));
    assert_eq!(
        parse_sql(&sql).unwrap_err().message,
        "Expression deeper than 500 levels (operator chains included) is not supported"
    );
    let sql = format!("SELECT {}", vec!["a"; 5000].join(" OR "));
    assert!(parse_sql(&sql).is_err());
}

/// The deepest accepted trees still print, bind and run on a default-size test thread.
#[test]
fn deepest_accepted_expressions_execute() {
    let tmp = tempfile::tempdir().unwrap();
    let s = sqlfront::Session::open(sqlfront::SessionConfig {
        data_dir: tmp.path().into(),
        gcs_root: None,
    })
    .unwrap();
    let mut deepest = None;
    for n in (50..400).step_by(10) {
        let sql = format!("SELECT {}1{}", "(1 + ".repeat(n), ")".repeat(n));
        if parse_sql(&sql).is_err() {
            break;
        }
        deepest = Some(sql);
    }
    let sql = deepest.unwrap();
    round_trip(&sql);
    s.run_script(&sql, |_, _| {}).unwrap();
    // Flat chains of 200+ terms are no nesting.
    for chain in [
        format!("SELECT 1{}", " + 1".repeat(490)),
        format!("SELECT TRUE{}", " AND TRUE".repeat(490)),
        format!("SELECT ({})", vec!["1"; 300].join(" + ")),
    ] {
        round_trip(&chain);
        s.run_script(&chain, |_, _| {}).unwrap();
    }
    // Nesting and chains together stay within the tree depth.
    let both = format!("SELECT {}1{}", "(1 + ".repeat(90), " + 1 + 1)".repeat(90));
    round_trip(&both);
    s.run_script(&both, |_, _| {}).unwrap();
}

#[test]
fn sql_text_length_is_limited() {
    let limit = sqlfront::parser::MAX_SQL_BYTES;
    let ok = format!("SELECT '{}'", "x".repeat(limit - 9));
    assert_eq!(ok.len(), limit);
    assert!(parse_sql(&ok).is_ok());
    let long = format!("SELECT '{}'", "x".repeat(limit - 8));
    assert_eq!(
        parse_sql(&long).unwrap_err().to_string(),
        format!(
            "Syntax error: The SQL text is {} bytes long; at most {limit} bytes are accepted at [1:1]",
            limit + 1
        )
    );
}

#[test]
fn scripts_skip_empty_statements_and_need_separators() {
    assert_eq!(parse_sql(";; SELECT 1;;SELECT 2;").unwrap().len(), 2);
    assert!(parse_sql("").unwrap().is_empty());
    assert_eq!(
        parse_sql("SELECT 1 SELECT 2").unwrap_err().to_string(),
        "Syntax error: Expected end of input but got keyword SELECT at [1:10]"
    );
}
