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
                options[2].value,
                OptionValue::Interval {
                    value: Literal::Int(1),
                    unit: IntervalUnit::Day,
                    to: None,
                }
            );
            assert_eq!(
                options[1].value,
                OptionValue::Array(vec![OptionValue::Literal(Literal::String(
                    "gs://bqml_images/goldfish.jpg".into()
                ))])
            );
        }
        other => panic!("not a table: {other:?}"),
    }
    // A query is kept as written, from its first token to its last, for DataFusion.
    match &stmts[3] {
        Statement::Query(q) => {
            assert!(
                q.text.starts_with("SELECT class_label\nFROM ML.PREDICT("),
                "{}",
                q.text
            );
            assert!(
                q.text.ends_with("bqml_tutorial.goldfish_image_table))"),
                "{}",
                q.text
            );
            assert_eq!(&TUTORIAL[q.span.offset as usize..][..q.text.len()], q.text);
            assert_eq!((q.span.line, q.span.col), (11, 1));
        }
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
        "CREATE SCHEMA ds OPTIONS(labels = [('env', 'dev'), ('team', 'ml')], default_table_expiration_days = 3.75)",
        "DROP SCHEMA ds RESTRICT",
        "CREATE MODEL IF NOT EXISTS p.ds.m OPTIONS(model_type = 'onnx', model_path = 'file:///tmp/m.onnx', kms_key_name = 'k')",
        "DROP MODEL IF EXISTS `p`.`ds`.`m`",
        "CREATE OR REPLACE EXTERNAL TABLE IF NOT EXISTS ds.t (a INT64, b STRING, c ARRAY<FLOAT64>, d STRUCT<x INT64, BOOL>) WITH CONNECTION DEFAULT OPTIONS(format = 'CSV', uris = ['gs://b/*.csv'], skip_leading_rows = 1)",
        "CREATE EXTERNAL TABLE ds.t (a INTEGER, b BOOLEAN, c FLOAT, s STRING(10), d DATE) OPTIONS(format = 'CSV', uris = ARRAY['/tmp/x.csv'])",
        "CREATE EXTERNAL TABLE ds.o OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://b/*'], max_staleness = INTERVAL '0-0 0 4:0:0' YEAR TO SECOND)",
        "CREATE EXTERNAL TABLE ds.o OPTIONS(a = -9223372036854775808, b = -4.25e-10, c = 0x1F, d = b'\\x00ab', e = NULL, f = TRUE, g = [], h = INTERVAL -3 HOUR)",
        "DROP EXTERNAL TABLE ds.t",
        "DROP TABLE IF EXISTS ds.t",
        "SELECT DISTINCT a AS x FROM ds.t AS t WHERE a > 1 ORDER BY x DESC LIMIT 10 OFFSET 5",
        "WITH a AS (SELECT 1 AS x) SELECT x FROM a",
        "(SELECT 1) UNION ALL (SELECT 2)",
        "SELECT 'a;b', `c;d` -- e;f\n FROM t",
        "CREATE TABLE ds.t (a INT64, b ARRAY<STRING>)",
        "CREATE OR REPLACE TABLE ds.t OPTIONS(description = 'x') AS SELECT 1 AS a",
        "CREATE TABLE IF NOT EXISTS ds.t (a INT64) AS (SELECT 1) UNION ALL (SELECT 2)",
        "INSERT INTO ds.t (a, b) VALUES (1, 'x'), (2, NULL)",
        "INSERT INTO ds.t WITH q AS (SELECT 1 AS a) SELECT a FROM q",
        "INSERT INTO ds.t (SELECT 1)",
        "EXPORT DATA WITH CONNECTION `us.c` OPTIONS(uri = 'gs://b/*.parquet', format = 'PARQUET', overwrite = TRUE) AS SELECT * FROM ds.t",
    ];
    for c in cases {
        round_trip(c);
    }
}

#[test]
fn queries_are_kept_as_text_up_to_their_semicolon() {
    let sql = "CREATE SCHEMA ds;\n  SELECT ';' AS s, a % 2 FROM t /* ; */ WHERE b = @p;\nSELECT 2";
    let stmts = parse_sql(sql).unwrap();
    assert_eq!(stmts.len(), 3);
    let Statement::Query(q) = &stmts[1] else {
        panic!("{:?}", stmts[1])
    };
    assert_eq!(q.text, "SELECT ';' AS s, a % 2 FROM t /* ; */ WHERE b = @p");
    assert_eq!((q.span.line, q.span.col, q.span.offset), (2, 3, 20));
    // Positioned text keeps line:column; the offset shift maps offsets back.
    let positioned = q.positioned();
    assert_eq!(
        positioned.lines().nth(1),
        Some("  SELECT ';' AS s, a % 2 FROM t /* ; */ WHERE b = @p")
    );
    let at = positioned.find("FROM").unwrap() as u32;
    assert_eq!(&sql[(at + q.offset_shift()) as usize..][..4], "FROM");
}

fn err(sql: &str) -> String {
    parse_sql(sql).unwrap_err().render(sql)
}

#[test]
fn errors_name_the_token_and_position() {
    assert_eq!(
        err("CREATE MODEL ds.m"),
        "Syntax error: Expected keyword OPTIONS but got end of input at [1:18]\nCREATE MODEL ds.m\n                 ^"
    );
    assert_eq!(
        err("CREATE FUNCTION ds.f (a INT64)"),
        "Syntax error: Expected keyword SCHEMA, MODEL, TABLE or EXTERNAL TABLE but got identifier \"FUNCTION\" at [1:8]\nCREATE FUNCTION ds.f (a INT64)\n       ^^^^^^^^"
    );
    assert_eq!(
        err("UPDATE t SET a = 1"),
        "Syntax error: Expected a query (SELECT, WITH, EXPLAIN), CREATE, DROP, INSERT or EXPORT DATA but got keyword UPDATE at [1:1]\nUPDATE t SET a = 1\n^^^^^^"
    );
    assert_eq!(
        err("CREATE TABLE ds.t"),
        "Syntax error: Expected a column list or AS query but got end of input at [1:18]\nCREATE TABLE ds.t\n                 ^"
    );
    assert_eq!(
        err("INSERT INTO ds.t SET a = 1"),
        "Syntax error: Expected SELECT, WITH or VALUES but got keyword SET at [1:18]\nINSERT INTO ds.t SET a = 1\n                 ^^^"
    );
    assert_eq!(
        err("EXPORT DATA OPTIONS(uri = 'gs://b/*') SELECT 1"),
        "Syntax error: Expected keyword AS but got keyword SELECT at [1:39]\nEXPORT DATA OPTIONS(uri = 'gs://b/*') SELECT 1\n                                      ^^^^^^"
    );
    assert_eq!(
        err("CREATE TEMP TABLE t (a INT64)"),
        "Syntax error: Temporary tables are not supported; use CREATE TABLE at [1:8]\nCREATE TEMP TABLE t (a INT64)\n       ^^^^"
    );
    assert_eq!(
        err("CREATE SCHEMA ds OPTIONS(x = 99999999999999999999)"),
        "Syntax error: Invalid integer literal: 99999999999999999999 at [1:30]\nCREATE SCHEMA ds OPTIONS(x = 99999999999999999999)\n                             ^^^^^^^^^^^^^^^^^^^^"
    );
    assert_eq!(
        err("CREATE EXTERNAL TABLE ds.t (a DECIMAL) OPTIONS()"),
        "Syntax error: Type not found: DECIMAL at [1:31]\nCREATE EXTERNAL TABLE ds.t (a DECIMAL) OPTIONS()\n                              ^^^^^^^"
    );
    assert_eq!(
        err("DROP TABLE `p.d.t.x`"),
        "Syntax error: Name p.d.t.x has more than 3 parts (project.dataset.name) at [1:12]\nDROP TABLE `p.d.t.x`\n           ^^^^^^^^^"
    );
    assert_eq!(
        err("CREATE SCHEMA ds OPTIONS(x = INTERVAL 1 FORTNIGHT)"),
        "Syntax error: Expected an interval unit (YEAR, MONTH, DAY, HOUR, …) but got identifier \"FORTNIGHT\" at [1:41]\nCREATE SCHEMA ds OPTIONS(x = INTERVAL 1 FORTNIGHT)\n                                        ^^^^^^^^^"
    );
    assert_eq!(
        err("CREATE SCHEMA ds OPTIONS(x = 1 + 1)"),
        "Syntax error: Expected \")\" but got \"+\" at [1:32]\nCREATE SCHEMA ds OPTIONS(x = 1 + 1)\n                               ^"
    );
    assert_eq!(
        err("CREATE SCHEMA ds OPTIONS(x = CURRENT_DATE())"),
        "Syntax error: Expected an option value (a literal, [array], (tuple) or INTERVAL) but got identifier \"CURRENT_DATE\" at [1:30]\nCREATE SCHEMA ds OPTIONS(x = CURRENT_DATE())\n                             ^^^^^^^^^^^^"
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let sql = format!(
        "CREATE SCHEMA ds OPTIONS(x = {}1{})",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let e = parse_sql(&sql).unwrap_err();
    assert!(e.message.contains("Nesting deeper than"), "{e}");
    let sql = format!(
        "CREATE EXTERNAL TABLE ds.t (a {}INT64{}) OPTIONS()",
        "ARRAY<".repeat(5000),
        ">".repeat(5000)
    );
    let e = parse_sql(&sql).unwrap_err();
    assert!(e.message.contains("Nesting deeper than"), "{e}");
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
        parse_sql("DROP TABLE ds.t SELECT 2")
            .unwrap_err()
            .to_string(),
        "Syntax error: Expected end of input but got keyword SELECT at [1:17]"
    );
}
