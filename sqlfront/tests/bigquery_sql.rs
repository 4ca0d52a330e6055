//! The SQL BigQuery users write around predictions, on the DataFusion path
//! (`Session::query_arrow`), each query against hand-written expected rows (computed by
//! hand from the CSV data below, with BigQuery's semantics).

use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use sqlfront::{Session, SessionConfig};

/// Predictions as a table: one row per photo (the broken one has no label or score).
const PREDS: &str = "\
uri,label,score,taken,tags
gs://b/goldfish.jpg,1,0.91,2024-01-31 10:00:00,fish;orange;water
gs://b/samoyed.jpg,258,0.85,2024-02-01 09:30:00,dog;white
gs://b/tabby.jpg,281,0.42,2024-02-15 23:59:59,cat
gs://b/tench.jpg,0,0.77,2024-03-03 00:00:01,fish;green
gs://b/broken.jpg,,,2024-03-04 12:00:00,
";

/// Class names and their group.
const CLASSES: &str = "\
label,name,kind
0,tench,fish
1,goldfish,fish
258,Samoyed,dog
281,tabby,cat
999,toilet tissue,thing
";

struct Env {
    _dir: tempfile::TempDir,
    session: Session,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let gcs = dir.path().join("gcs");
    std::fs::create_dir_all(gcs.join("b")).unwrap();
    std::fs::write(gcs.join("b/preds.csv"), PREDS).unwrap();
    std::fs::write(gcs.join("b/classes.csv"), CLASSES).unwrap();
    let session = Session::open(SessionConfig {
        data_dir: dir.path().join("data"),
        gcs_root: Some(gcs),
        gcs_endpoint: None,
    })
    .unwrap();
    session
        .run_script(
            "CREATE SCHEMA ds;
             CREATE EXTERNAL TABLE ds.preds OPTIONS(format = 'CSV', uris = ['gs://b/preds.csv'], skip_leading_rows = 1);
             CREATE EXTERNAL TABLE ds.classes OPTIONS(format = 'CSV', uris = ['gs://b/classes.csv'], skip_leading_rows = 1)",
            |_, _| {},
        )
        .unwrap();
    Env { _dir: dir, session }
}

/// The rows of `sql`, each as its cells joined by ` | ` (NULL as `NULL`).
fn rows(e: &Env, sql: &str) -> Vec<String> {
    let result = e
        .session
        .query_arrow(sql)
        .unwrap_or_else(|err| panic!("{}\n{sql}", err.render(sql)));
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in &result.batches {
        let cells: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            let row: Vec<String> = cells.iter().map(|f| f.value(r).to_string()).collect();
            out.push(row.join(" | "));
        }
    }
    out
}

/// The names of the result columns of `sql`.
fn column_names(e: &Env, sql: &str) -> Vec<String> {
    let result = e
        .session
        .query_arrow(sql)
        .unwrap_or_else(|err| panic!("{}\n{sql}", err.render(sql)));
    let names = result.schema.fields().iter().map(|f| f.name().clone());
    names.collect()
}

/// Asserts that `sql` returns exactly `want`, in order.
#[track_caller]
fn check(e: &Env, sql: &str, want: &[&str]) {
    assert_eq!(rows(e, sql), want, "\n{sql}");
}

#[test]
fn with_and_set_operations() {
    let e = env();
    check(
        &e,
        "WITH fish AS (SELECT label FROM ds.classes WHERE kind = 'fish')
         SELECT label FROM fish ORDER BY label",
        &["0", "1"],
    );
    check(
        &e,
        "WITH a AS (SELECT label, score FROM ds.preds WHERE score > 0.5),
              b AS (SELECT label FROM a WHERE score < 0.9)
         SELECT label FROM b ORDER BY label",
        &["0", "258"],
    );
    check(
        &e,
        "SELECT label FROM ds.preds WHERE label < 10
         UNION ALL SELECT label FROM ds.classes WHERE label < 10
         ORDER BY label",
        &["0", "0", "1", "1"],
    );
    check(
        &e,
        "SELECT label FROM ds.preds WHERE label < 10
         UNION DISTINCT SELECT label FROM ds.classes WHERE label < 10
         ORDER BY label",
        &["0", "1"],
    );
}

#[test]
fn window_functions_and_qualify() {
    let e = env();
    check(
        &e,
        "SELECT name, kind, ROW_NUMBER() OVER (PARTITION BY kind ORDER BY label) AS n
         FROM ds.classes ORDER BY kind, n",
        &[
            "tabby | cat | 1",
            "Samoyed | dog | 1",
            "tench | fish | 1",
            "goldfish | fish | 2",
            "toilet tissue | thing | 1",
        ],
    );
    check(
        &e,
        "SELECT label, RANK() OVER (ORDER BY kind) AS r FROM ds.classes ORDER BY label",
        &["0 | 3", "1 | 3", "258 | 2", "281 | 1", "999 | 5"],
    );
    check(
        &e,
        "SELECT label, SUM(label) OVER (PARTITION BY kind ORDER BY label) AS running
         FROM ds.classes WHERE kind = 'fish' ORDER BY label",
        &["0 | 0", "1 | 1"],
    );
    check(
        &e,
        "SELECT kind, name FROM ds.classes
         QUALIFY ROW_NUMBER() OVER (PARTITION BY kind ORDER BY label DESC) = 1
         ORDER BY kind",
        &[
            "cat | tabby",
            "dog | Samoyed",
            "fish | goldfish",
            "thing | toilet tissue",
        ],
    );
}

#[test]
fn unnest_with_offset_in_from() {
    let e = env();
    // Correlated after a comma, with an offset; the broken photo's empty tag list
    // yields no rows.
    check(
        &e,
        "SELECT p.label, tag, pos FROM ds.preds AS p, UNNEST(SPLIT(p.tags, ';')) AS tag WITH OFFSET AS pos
         WHERE p.label IN (0, 1) ORDER BY p.label, pos",
        &["0 | fish | 0", "0 | green | 1", "1 | fish | 0", "1 | orange | 1", "1 | water | 2"],
    );
    // CROSS JOIN spelling, no offset, a table without alias.
    check(
        &e,
        "SELECT label, t FROM ds.preds CROSS JOIN UNNEST(SPLIT(tags, ';')) AS t
         WHERE t = 'fish' ORDER BY label",
        &["0 | fish", "1 | fish"],
    );
    // A NULL or empty array contributes no rows to a comma/CROSS JOIN, one row with NULL
    // element and offset to a LEFT JOIN.
    check(
        &e,
        "SELECT COUNT(*), COUNT(DISTINCT uri) FROM ds.preds p, UNNEST(SPLIT(p.tags, ';')) AS t",
        &["8 | 4"],
    );
    check(
        &e,
        "SELECT p.label, t, o FROM ds.preds p LEFT JOIN UNNEST(SPLIT(p.tags, ';')) AS t WITH OFFSET AS o
         WHERE p.label IS NULL OR p.label = 281 ORDER BY p.label",
        &["NULL | NULL | NULL", "281 | cat | 0"],
    );
    // Uncorrelated, alone in FROM.
    check(
        &e,
        "SELECT x, o FROM UNNEST([10, 20, 30]) AS x WITH OFFSET AS o ORDER BY o DESC",
        &["30 | 2", "20 | 1", "10 | 0"],
    );
    // Top-2 per row by value: the top-k pattern over an array column.
    check(
        &e,
        "WITH p AS (SELECT 'a' AS id, [0.1, 0.7, 0.2] AS probs UNION ALL SELECT 'b', [0.5, 0.3, 0.2])
         SELECT id, class, prob FROM p, UNNEST(p.probs) AS prob WITH OFFSET AS class
         QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY prob DESC) <= 2
         ORDER BY id, prob DESC",
        &["a | 1 | 0.7", "a | 2 | 0.2", "b | 0 | 0.5", "b | 1 | 0.3"],
    );
}

#[test]
fn aggregates() {
    let e = env();
    check(
        &e,
        "SELECT kind, ARRAY_AGG(name ORDER BY label DESC) AS names FROM ds.classes
         GROUP BY kind ORDER BY kind",
        &[
            "cat | [tabby]",
            "dog | [Samoyed]",
            "fish | [goldfish, tench]",
            "thing | [toilet tissue]",
        ],
    );
    check(
        &e,
        "SELECT ARRAY_AGG(label ORDER BY label LIMIT 2) AS first FROM ds.classes",
        &["[0, 1]"],
    );
    check(
        &e,
        "SELECT STRING_AGG(name, ', ' ORDER BY name) FROM ds.classes WHERE kind = 'fish'",
        &["goldfish, tench"],
    );
    check(
        &e,
        "SELECT COUNT(*), COUNT(label), COUNTIF(score > 0.8), LOGICAL_AND(score > 0.4),
                LOGICAL_OR(score > 0.9) FROM ds.preds",
        &["5 | 4 | 2 | true | true"],
    );
    check(
        &e,
        "SELECT kind, COUNT(*) AS n, MAX(label) FROM ds.classes GROUP BY kind
         HAVING COUNT(*) > 1",
        &["fish | 2 | 1"],
    );
}

#[test]
fn nulls_sort_first_ascending_and_last_descending() {
    let e = env();
    check(
        &e,
        "SELECT label FROM ds.preds ORDER BY label",
        &["NULL", "0", "1", "258", "281"],
    );
    check(
        &e,
        "SELECT label FROM ds.preds ORDER BY label DESC",
        &["281", "258", "1", "0", "NULL"],
    );
    check(
        &e,
        "SELECT label, ROW_NUMBER() OVER (ORDER BY score) FROM ds.preds ORDER BY 2",
        &["NULL | 1", "281 | 2", "0 | 3", "258 | 4", "1 | 5"],
    );
}

#[test]
fn subqueries() {
    let e = env();
    check(
        &e,
        "SELECT name FROM ds.classes WHERE label = (SELECT MAX(label) FROM ds.preds)",
        &["tabby"],
    );
    check(
        &e,
        "SELECT name FROM ds.classes WHERE label IN (SELECT label FROM ds.preds WHERE score > 0.8)
         ORDER BY name",
        &["Samoyed", "goldfish"],
    );
    check(
        &e,
        "SELECT name FROM ds.classes c
         WHERE NOT EXISTS (SELECT 1 FROM ds.preds p WHERE p.label = c.label)",
        &["toilet tissue"],
    );
    check(
        &e,
        "SELECT label, (SELECT name FROM ds.classes c WHERE c.label = p.label) AS name
         FROM ds.preds p WHERE label IS NOT NULL ORDER BY label",
        &["0 | tench", "1 | goldfish", "258 | Samoyed", "281 | tabby"],
    );
    // A subquery that aggregates (any of the session's aggregates) is left as it is.
    check(
        &e,
        "SELECT (SELECT regr_count(label, label) FROM ds.classes)",
        &["5"],
    );
    // BigQuery's scalar-subquery rules: no row is NULL, more than one is an error.
    check(
        &e,
        "SELECT (SELECT name FROM ds.classes WHERE label = -5) IS NULL",
        &["true"],
    );
    let sql =
        "SELECT label, (SELECT name FROM ds.classes c WHERE c.label > p.label) FROM ds.preds p";
    let err = e.session.query_arrow(sql).err().unwrap();
    assert_eq!(err.kind, sqlfront::ErrorKind::NotSupported, "{err:?}");
    assert!(err.message.contains("equality conditions"), "{err:?}");
    let sql =
        "SELECT kind, (SELECT name FROM ds.classes c2 WHERE c2.kind = c.kind) FROM ds.classes c";
    let err = e.session.query_arrow(sql).err().unwrap();
    assert!(err.message.contains("more than one element"), "{err:?}");
}

#[test]
fn joins() {
    let e = env();
    let on = "ON p.label = c.label";
    check(
        &e,
        &format!("SELECT c.name FROM ds.preds p JOIN ds.classes c {on} ORDER BY c.name"),
        &["Samoyed", "goldfish", "tabby", "tench"],
    );
    check(
        &e,
        &format!(
            "SELECT p.uri, c.name FROM ds.preds p LEFT JOIN ds.classes c {on}
             WHERE c.name IS NULL"
        ),
        &["gs://b/broken.jpg | NULL"],
    );
    check(
        &e,
        &format!("SELECT c.name FROM ds.preds p RIGHT JOIN ds.classes c {on} WHERE p.uri IS NULL"),
        &["toilet tissue"],
    );
    check(
        &e,
        &format!(
            "SELECT COUNT(*) FROM ds.preds p FULL JOIN ds.classes c {on}
             WHERE p.uri IS NULL OR c.name IS NULL"
        ),
        &["2"],
    );
    check(
        &e,
        "SELECT COUNT(*) FROM ds.preds CROSS JOIN ds.classes",
        &["25"],
    );
    check(
        &e,
        "SELECT COUNT(*) FROM ds.preds p, ds.classes c WHERE p.label = c.label",
        &["4"],
    );
}

#[test]
fn select_star_except_and_replace() {
    let e = env();
    check(
        &e,
        "SELECT * EXCEPT (kind) FROM ds.classes WHERE label = 0",
        &["0 | tench"],
    );
    check(
        &e,
        "SELECT * REPLACE (UPPER(name) AS name) FROM ds.classes WHERE label = 1",
        &["1 | GOLDFISH | fish"],
    );
}

#[test]
fn arithmetic_and_conditionals() {
    let e = env();
    // `/` is FLOAT64 in BigQuery, also for INT64 operands.
    check(
        &e,
        "SELECT 7 / 2, DIV(7, 2), SAFE_DIVIDE(1, 0), SAFE_DIVIDE(3, 4)",
        &["3.5 | 3 | NULL | 0.75"],
    );
    let err = e.session.query_arrow("SELECT 1 / 0").err().unwrap();
    assert!(err.message.contains("division by zero"), "{err:?}");
    check(
        &e,
        "SELECT IF(score > 0.8, 'sure', 'unsure') FROM ds.preds WHERE label IN (1, 0) ORDER BY label",
        &["unsure", "sure"],
    );
    check(
        &e,
        "SELECT SAFE_CAST('12' AS INT64), SAFE_CAST('x' AS INT64), CAST(label AS STRING),
                CAST('2.5' AS FLOAT64) FROM ds.classes WHERE label = 258",
        &["12 | NULL | 258 | 2.5"],
    );
    // CAST to STRING writes FLOAT64, TIMESTAMP and DATETIME as BigQuery does (expected
    // values from BigQuery's documentation of the conversion rules: `%.15g`-style floats,
    // zero/three/six fraction digits, `+00` on timestamps).
    check(
        &e,
        "SELECT CAST(2.0 AS STRING), CAST(0.1 AS STRING), CAST(1e20 AS STRING),
                CAST(TIMESTAMP '2024-01-02 03:04:05.12+00' AS STRING),
                CAST(DATETIME '2024-01-02 03:04:05' AS STRING),
                SAFE_CAST(CAST(NULL AS FLOAT64) AS STRING), CAST(DATE '2024-01-02' AS STRING),
                CAST(TIMESTAMP '2024-01-02 03:04:05-05' AS STRING)",
        &["2 | 0.1 | 1e+20 | 2024-01-02 03:04:05.120+00 | 2024-01-02 03:04:05 | NULL | 2024-01-02 | 2024-01-02 08:04:05+00"],
    );
    check(
        &e,
        "SELECT COALESCE(label, -1), IFNULL(score, 0) FROM ds.preds WHERE uri LIKE '%broken%'",
        &["-1 | 0.0"],
    );
}

#[test]
fn strings_and_regexes() {
    let e = env();
    check(
        &e,
        "SELECT FORMAT('%s is class %d (%.1f%%)', name, label, 12.34) FROM ds.classes WHERE label = 1",
        &["goldfish is class 1 (12.3%)"],
    );
    check(
        &e,
        "SELECT REGEXP_EXTRACT(uri, r'([a-z]+)\\.jpg$') FROM ds.preds ORDER BY 1",
        &["broken", "goldfish", "samoyed", "tabby", "tench"],
    );
    check(
        &e,
        "SELECT COUNT(*) FROM ds.preds WHERE REGEXP_CONTAINS(uri, r'^gs://b/t')",
        &["2"],
    );
    check(
        &e,
        "SELECT REGEXP_REPLACE('a1b22c333', r'[0-9]+', '#'), REGEXP_REPLACE('ab', r'(a)(b)', '\\\\2\\\\1')",
        &["a#b#c# | ba"],
    );
    check(
        &e,
        "SELECT SPLIT('a,b,c'), SPLIT('x;y', ';'), ARRAY_LENGTH(SPLIT(tags, ';'))
         FROM ds.preds WHERE label = 1",
        &["[a, b, c] | [x, y] | 3"],
    );
    check(
        &e,
        "SELECT GENERATE_ARRAY(1, 5), GENERATE_ARRAY(0, 10, 5), ARRAY_LENGTH(GENERATE_ARRAY(1, 0))",
        &["[1, 2, 3, 4, 5] | [0, 5, 10] | 0"],
    );
    check(
        &e,
        "SELECT LOWER(name), LENGTH(name), SUBSTR(name, 2, 3), CONCAT(name, '!'), STARTS_WITH(name, 'gold')
         FROM ds.classes WHERE label = 1",
        &["goldfish | 8 | old | goldfish! | true"],
    );
}

#[test]
fn dates_and_timestamps() {
    let e = env();
    let taken = "CAST(taken AS TIMESTAMP)";
    check(
        &e,
        &format!(
            "SELECT EXTRACT(YEAR FROM {taken}), EXTRACT(MONTH FROM {taken}), EXTRACT(DAYOFWEEK FROM {taken})
             FROM ds.preds WHERE label = 1"
        ),
        // 2024-01-31 is a Wednesday: BigQuery's DAYOFWEEK counts Sunday as 1.
        &["2024 | 1 | 4"],
    );
    check(
        &e,
        &format!("SELECT DATE_TRUNC(CAST({taken} AS DATE), MONTH) FROM ds.preds WHERE label = 258"),
        &["2024-02-01"],
    );
    check(
        &e,
        "SELECT DATE_DIFF(DATE '2024-03-01', DATE '2024-01-31', DAY),
                DATE_DIFF(DATE '2024-03-01', DATE '2024-01-31', MONTH),
                DATE_DIFF(DATE '2025-01-01', DATE '2024-12-31', YEAR)",
        &["30 | 2 | 1"],
    );
    check(
        &e,
        &format!(
            "SELECT TIMESTAMP_DIFF(MAX({taken}), MIN({taken}), HOUR),
                    TIMESTAMP_DIFF(TIMESTAMP '2024-01-01 00:01:30', TIMESTAMP '2024-01-01 00:00:00', MINUTE)
             FROM ds.preds"
        ),
        // 2024-01-31 10:00 to 2024-03-04 12:00: 33 days and 2 hours.
        &["794 | 1"],
    );
    check(
        &e,
        &format!(
            "SELECT FORMAT_TIMESTAMP('%Y/%m/%d %H:%M', {taken}) FROM ds.preds WHERE label = 281"
        ),
        &["2024/02/15 23:59"],
    );
    check(
        &e,
        "SELECT DATE_ADD(DATE '2024-02-28', INTERVAL 2 DAY), DATE_SUB(DATE '2024-03-01', INTERVAL 1 MONTH)",
        &["2024-03-01 | 2024-02-01"],
    );
    check(
        &e,
        "SELECT PARSE_DATE('%d/%m/%Y', '15/02/2024'), EXTRACT(HOUR FROM DATETIME '2024-02-15 10:11:12')",
        &["2024-02-15 | 10"],
    );
    check(
        &e,
        "SELECT CURRENT_DATE() >= DATE '2024-01-01', DATE_DIFF(CURRENT_DATE(), CURRENT_DATE(), DAY)",
        &["true | 0"],
    );
    check(
        &e,
        &format!(
            "SELECT EXTRACT(MONTH FROM {taken}) AS m, COUNT(*) FROM ds.preds GROUP BY m ORDER BY m"
        ),
        &["1 | 1", "2 | 2", "3 | 2"],
    );
}

#[test]
fn dates_come_back_as_date_values() {
    let e = env();
    let rs = e
        .session
        .query_sql("SELECT DATE '2024-01-31', CAST(CAST(taken AS TIMESTAMP) AS DATE) FROM ds.preds WHERE label = 0")
        .unwrap();
    assert_eq!(rs.columns[0].data_type, Some(sqlfront::ast::DataType::Date));
    assert_eq!(
        rs.rows,
        [[
            sqlfront::value::Value::Date(19753),
            sqlfront::value::Value::Date(19785)
        ]]
    );
}

#[test]
fn unsupported_forms_are_clear_errors_with_positions() {
    let e = env();
    let sql = "SELECT x\nFROM ds.preds p FULL JOIN UNNEST(SPLIT(p.tags)) AS x";
    let err = e.session.query_arrow(sql).err().unwrap();
    assert_eq!(err.kind, sqlfront::ErrorKind::NotSupported, "{err:?}");
    assert!(err.message.contains("UNNEST"), "{err:?}");
    assert_eq!(err.span.map(|s| (s.line, s.col)), Some((2, 34)), "{err:?}");
    let sql = "SELECT DATE_TRUNC(DATE '2024-01-01', 'MONTH')";
    let err = e.session.query_arrow(sql).err().unwrap();
    assert!(err.message.contains("date part"), "{err:?}");
}

#[test]
fn anonymous_columns_and_unknown_names_read_as_in_bigquery() {
    let e = env();
    assert_eq!(
        column_names(
            &e,
            "SELECT label, 1, UPPER(name) AS up, c.label + 1 FROM ds.classes c LIMIT 1"
        ),
        ["label", "f0_", "up", "f1_"]
    );
    check(
        &e,
        "SELECT kind, COUNT(*) FROM ds.classes GROUP BY kind ORDER BY COUNT(*) DESC, kind LIMIT 1",
        &["fish | 2"],
    );
    for (sql, want) in [
        ("SELECT nope FROM ds.classes", "Unrecognized name: nope"),
        ("SELECT * FROM ds.nope", "Not found: Table ds.nope"),
        ("SELECT * FROM nods.t", "Not found: Dataset nods"),
        ("SELECT NOPE_FN(1)", "Function not found: nope_fn"),
    ] {
        let err = e.session.query_arrow(sql).err().unwrap();
        assert!(err.message.starts_with(want), "{sql}: {err:?}");
    }
    let err = e
        .session
        .query_arrow("SELECT label,\n  nope FROM ds.classes")
        .err()
        .unwrap();
    assert_eq!(err.span.map(|s| (s.line, s.col)), Some((2, 3)), "{err:?}");
}

#[test]
fn array_subscripts_and_lengths_read_as_in_bigquery() {
    let e = env();
    check(
        &e,
        "SELECT a[0], a[OFFSET(1)], a[ORDINAL(1)], a[SAFE_OFFSET(5)], a[SAFE_ORDINAL(0)] \
         FROM (SELECT [10, 20, 30] AS a)",
        &["10 | 20 | 10 | NULL | NULL"],
    );
    check(
        &e,
        "SELECT SPLIT(tags, ';')[OFFSET(0)] AS first FROM ds.preds WHERE label = 1",
        &["fish"],
    );
    for (sql, want) in [
        (
            "SELECT [1, 2][OFFSET(2)]",
            "Array index 2 is out of bounds (overflow)",
        ),
        (
            "SELECT [1, 2][ORDINAL(0)]",
            "Array index 0 is out of bounds (underflow)",
        ),
    ] {
        let err = e.session.query_arrow(sql).err().unwrap();
        assert!(err.message.starts_with(want), "{sql}: {err:?}");
    }
    check(
        &e,
        "SELECT LENGTH('héllo'), LENGTH(b'h\\xc3\\xa9llo'), LENGTH(CAST(NULL AS STRING))",
        &["5 | 6 | NULL"],
    );
}

#[test]
fn aliases_keep_their_spelling_and_match_any_case() {
    let e = env();
    let sql = "SELECT Label AS ClassId, name AS Name FROM (SELECT label AS LABEL, name FROM ds.classes) WHERE Label = 0";
    assert_eq!(column_names(&e, sql), ["ClassId", "Name"]);
    check(&e, sql, &["0 | tench"]);
}

#[test]
fn intervals_beyond_ten_thousand_years_are_refused_when_planned() {
    let e = env();
    let sql = "SELECT DATE '2024-01-01' + INTERVAL 10001 YEAR";
    let err = e.session.query_arrow(sql).err().unwrap();
    assert_eq!(err.kind, sqlfront::ErrorKind::InvalidQuery);
    assert_eq!(
        err.message,
        "Interval field out of range: INTERVAL 10001 YEAR is beyond ±10000 years"
    );
    check(
        &e,
        "SELECT DATE '2024-01-31' + INTERVAL 1 MONTH",
        &["2024-02-29"],
    );
}

/// Runs a script, panicking with the rendered error if it fails; returns each
/// statement's `bq` message.
fn run(e: &Env, sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    e.session
        .run_script(sql, |_, o| {
            if let sqlfront::StatementOutput::Ddl(d) = o {
                out.push(d.bq_message());
            }
        })
        .unwrap_or_else(|err| panic!("{}\n{sql}", err.render(sql)));
    out
}

/// The message of the error `sql` fails with.
fn error(e: &Env, sql: &str) -> String {
    match e.session.run_script(sql, |_, _| {}) {
        Ok(()) => panic!("no error from\n{sql}"),
        Err(err) => err.message,
    }
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn create_table_as_select_and_insert_store_parquet_files() {
    let e = env();
    let msgs = run(
        &e,
        "CREATE TABLE ds.labels AS
           SELECT uri, label, score FROM ds.preds WHERE label IS NOT NULL;
         INSERT INTO ds.labels (uri, label) VALUES ('gs://b/new.jpg', 7);
         INSERT ds.labels SELECT uri, label, score FROM ds.labels WHERE label = 0",
    );
    assert_eq!(
        msgs,
        [
            "Created ds.labels",
            "Number of affected rows: 1",
            "Number of affected rows: 1"
        ]
    );
    check(
        &e,
        "SELECT uri, label, score FROM ds.labels ORDER BY label, uri",
        &[
            "gs://b/tench.jpg | 0 | 0.77",
            "gs://b/tench.jpg | 0 | 0.77",
            "gs://b/goldfish.jpg | 1 | 0.91",
            "gs://b/new.jpg | 7 | NULL",
            "gs://b/samoyed.jpg | 258 | 0.85",
            "gs://b/tabby.jpg | 281 | 0.42",
        ],
    );
    // One file per statement, and the types of the query's columns.
    assert_eq!(files_in(&e._dir.path().join("data/tables")).len(), 3);
    let state = e.session.catalog().snapshot().unwrap();
    let cols: Vec<String> = state.datasets["ds"].tables["labels"]
        .columns
        .iter()
        .map(|c| format!("{} {}", c.name, c.data_type))
        .collect();
    assert_eq!(cols, ["uri STRING", "label INT64", "score FLOAT64"]);
    // Dropping the table deletes its files.
    run(&e, "DROP TABLE ds.labels");
    assert!(files_in(&e._dir.path().join("data/tables")).is_empty());
}

#[test]
fn create_table_with_a_column_list_then_insert_values() {
    let e = env();
    run(
        &e,
        "CREATE TABLE ds.t (id INT64, name STRING, weight FLOAT64, tags ARRAY<STRING>)",
    );
    check(&e, "SELECT COUNT(*) FROM ds.t", &["0"]);
    let msgs = run(
        &e,
        "INSERT INTO ds.t VALUES (1, 'a', 2, ['x', 'y']), (2, NULL, 0.5, []);
         INSERT INTO ds.t (name, id) SELECT name, label FROM ds.classes WHERE kind = 'dog'",
    );
    assert_eq!(
        msgs,
        ["Number of affected rows: 2", "Number of affected rows: 1"]
    );
    check(
        &e,
        "SELECT id, name, weight, ARRAY_LENGTH(tags) FROM ds.t ORDER BY id",
        &[
            "1 | a | 2.0 | 2",
            "2 | NULL | 0.5 | 0",
            "258 | Samoyed | NULL | NULL",
        ],
    );
    // The column list and an AS query together: columns by position, types converted.
    run(
        &e,
        "CREATE TABLE ds.u (n INT64, x FLOAT64) AS SELECT label, label AS y FROM ds.classes WHERE label < 2",
    );
    check(
        &e,
        "SELECT n, x FROM ds.u ORDER BY n",
        &["0 | 0.0", "1 | 1.0"],
    );
}

#[test]
fn insert_checks_columns_and_types_like_bigquery() {
    let e = env();
    run(&e, "CREATE TABLE ds.t (id INT64, name STRING)");
    assert_eq!(
        error(&e, "INSERT INTO ds.t VALUES ('one', 'a')"),
        "Query column 1 has type STRING which cannot be inserted into column id, which has type INT64"
    );
    assert_eq!(
        error(&e, "INSERT INTO ds.t VALUES (1)"),
        "Inserted row has wrong column count; Has 1, 2 expected"
    );
    assert_eq!(
        error(&e, "INSERT INTO ds.t (id, nope) VALUES (1, 'a')"),
        "Column nope is not present in table ds.t"
    );
    assert_eq!(
        error(&e, "INSERT INTO ds.t (id, ID) VALUES (1, 2)"),
        "INSERT has columns with duplicate name: ID"
    );
    assert_eq!(
        error(&e, "INSERT INTO ds.preds VALUES (1)"),
        "Cannot insert into ds.preds: it is an external table, whose rows are its files"
    );
    assert_eq!(
        error(&e, "INSERT INTO ds.nope VALUES (1)"),
        "Not found: Table ds.nope"
    );
    // A failed INSERT adds nothing and leaves no file behind.
    check(&e, "SELECT COUNT(*) FROM ds.t", &["0"]);
    assert_eq!(files_in(&e._dir.path().join("data/tables")).len(), 1);
    assert!(files_in(&e._dir.path().join("data/staging"))
        .iter()
        .all(|f| f == "LOCK"));
}

#[test]
fn create_table_if_not_exists_or_replace() {
    let e = env();
    run(&e, "CREATE TABLE ds.t AS SELECT 1 AS x");
    assert_eq!(
        error(&e, "CREATE TABLE ds.t AS SELECT 2 AS x"),
        "Already Exists: Table ds.t"
    );
    // IF NOT EXISTS does not run the query (it would fail).
    assert_eq!(
        run(
            &e,
            "CREATE TABLE IF NOT EXISTS ds.t AS SELECT * FROM ds.nope"
        ),
        ["Skipped ds.t"]
    );
    assert_eq!(
        run(
            &e,
            "CREATE OR REPLACE TABLE ds.t AS SELECT 'two' AS y, NULL AS z"
        ),
        ["Replaced ds.t"]
    );
    check(&e, "SELECT * FROM ds.t", &["two | NULL"]);
    assert_eq!(files_in(&e._dir.path().join("data/tables")).len(), 1);
    assert_eq!(
        error(&e, "CREATE TABLE ds.d AS SELECT 1 AS a, 2 AS `A`"),
        "CREATE TABLE has columns with duplicate name A"
    );
    // A query that fails while running creates nothing.
    let msg = error(
        &e,
        "CREATE TABLE ds.bad AS SELECT CAST(name AS INT64) AS n FROM ds.classes",
    );
    assert!(msg.contains("Bad int64 value"), "{msg}");
    assert_eq!(error(&e, "SELECT * FROM ds.bad"), "Not found: Table ds.bad");
}

#[test]
fn export_data_writes_csv_json_and_parquet_that_external_tables_read_back() {
    let e = env();
    let gcs = e._dir.path().join("gcs");
    let msgs = run(
        &e,
        "EXPORT DATA OPTIONS(uri = 'gs://b/out/*.csv', format = 'CSV', header = true)
           AS SELECT label, uri FROM ds.preds WHERE label IS NOT NULL ORDER BY label",
    );
    assert_eq!(msgs, ["Exported 4 rows to gs://b/out/*.csv"]);
    assert_eq!(
        std::fs::read_to_string(gcs.join("b/out/000000000000.csv")).unwrap(),
        "label,uri\n0,gs://b/tench.jpg\n1,gs://b/goldfish.jpg\n258,gs://b/samoyed.jpg\n281,gs://b/tabby.jpg\n"
    );
    assert_eq!(
        error(
            &e,
            "EXPORT DATA OPTIONS(uri = 'gs://b/out/*.csv', format = 'CSV') AS SELECT 1 AS x"
        ),
        "The destination gs://b/out/*.csv is not empty (1 matching file(s)); use overwrite = true to replace them"
    );
    run(
        &e,
        "EXPORT DATA OPTIONS(uri = 'gs://b/out/*.csv', format = 'CSV', overwrite = true, field_delimiter = ';')
           AS SELECT 1 AS x, 'a;b' AS y",
    );
    assert_eq!(
        std::fs::read_to_string(gcs.join("b/out/000000000000.csv")).unwrap(),
        "1;\"a;b\"\n"
    );
    assert_eq!(
        error(
            &e,
            "EXPORT DATA OPTIONS(uri = 'gs://b/n/*.csv', format = 'CSV') AS SELECT [1, 2] AS probs"
        ),
        "Operation cannot be performed on a nested schema. Field: probs"
    );
    assert_eq!(
        error(&e, "EXPORT DATA OPTIONS(uri = 'gs://b/x.csv') AS SELECT 1 AS x"),
        "The uri of EXPORT DATA must contain exactly one '*' wildcard, as in gs://bucket/folder/*.csv; got gs://b/x.csv"
    );

    // Parquet and JSON round trips through external tables.
    run(
        &e,
        "EXPORT DATA OPTIONS(uri = 'gs://b/pq/*.parquet', format = 'PARQUET')
           AS SELECT uri, label, score, SPLIT(tags, ';') AS tags FROM ds.preds;
         EXPORT DATA OPTIONS(uri = 'gs://b/js/*.json', format = 'JSON')
           AS SELECT uri, label, score FROM ds.preds;
         CREATE EXTERNAL TABLE ds.pq OPTIONS(format = 'PARQUET', uris = ['gs://b/pq/*.parquet']);
         CREATE EXTERNAL TABLE ds.js OPTIONS(format = 'NEWLINE_DELIMITED_JSON', uris = ['gs://b/js/*'])",
    );
    let want = [
        "gs://b/broken.jpg | NULL | NULL",
        "gs://b/goldfish.jpg | 1 | 0.91",
        "gs://b/samoyed.jpg | 258 | 0.85",
        "gs://b/tabby.jpg | 281 | 0.42",
        "gs://b/tench.jpg | 0 | 0.77",
    ];
    check(
        &e,
        "SELECT uri, label, score FROM ds.pq ORDER BY uri",
        &want,
    );
    check(
        &e,
        "SELECT uri, label, score FROM ds.js ORDER BY uri",
        &want,
    );
    check(
        &e,
        "SELECT uri, t FROM ds.pq, UNNEST(tags) AS t WHERE label = 1 ORDER BY t",
        &[
            "gs://b/goldfish.jpg | fish",
            "gs://b/goldfish.jpg | orange",
            "gs://b/goldfish.jpg | water",
        ],
    );
    let state = e.session.catalog().snapshot().unwrap();
    let types = |t: &str| -> Vec<String> {
        state.datasets["ds"].tables[t]
            .columns
            .iter()
            .map(|c| format!("{} {}", c.name, c.data_type))
            .collect()
    };
    assert_eq!(
        types("pq"),
        [
            "uri STRING",
            "label INT64",
            "score FLOAT64",
            "tags ARRAY<STRING>"
        ]
    );
    assert_eq!(types("js"), ["uri STRING", "label INT64", "score FLOAT64"]);
}
