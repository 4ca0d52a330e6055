//! Object tables, the `ML.*` image functions and `ML.PREDICT` through a SQL session with
//! the real engine, on the shared photos, broken images and models (`../shared`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::common;

use compiler::conformance::shared_dir;
use sqlfront::engine::Engine;
use sqlfront::session::{Session, SessionConfig, StatementOutput};
use sqlfront::value::Value;

struct Env {
    _tmp: tempfile::TempDir,
    gcs: PathBuf,
    data: PathBuf,
    session: Session,
}

/// A session over a fresh data directory and Cloud Storage root, with a dataset `ds`,
/// the model `ds.m` imported from `model` (a file in `../shared/models`) and the
/// bucket `imgs` holding `images`.
fn env(model: &str, images: &[PathBuf], threads: usize) -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let gcs = tmp.path().join("gcs");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(gcs.join("imgs")).unwrap();
    std::fs::create_dir_all(gcs.join("models")).unwrap();
    for i in images {
        std::fs::copy(i, gcs.join("imgs").join(i.file_name().unwrap())).unwrap();
    }
    std::fs::copy(
        shared_dir().join("models").join(model),
        gcs.join("models/m.onnx"),
    )
    .unwrap();
    let session = Session::open(SessionConfig::from_args(
        Some(data.clone()),
        Some(gcs.clone()),
    ))
    .unwrap()
    .with_sources(Arc::new(Engine::new()))
    .with_threads(threads);
    let e = Env {
        _tmp: tmp,
        gcs,
        data,
        session,
    };
    run(&e, "CREATE SCHEMA ds").unwrap();
    run(
        &e,
        "CREATE MODEL ds.m OPTIONS (MODEL_TYPE = 'ONNX', MODEL_PATH = 'gs://models/m.onnx')",
    )
    .unwrap();
    run(&e, "CREATE EXTERNAL TABLE ds.t WITH CONNECTION DEFAULT OPTIONS (object_metadata = 'SIMPLE', uris = ['gs://imgs/*'])").unwrap();
    e
}

/// Runs one statement; a query's rows come back as (column names, rows).
fn run(e: &Env, sql: &str) -> Result<(Vec<String>, Vec<Vec<Value>>), String> {
    let mut result = (vec![], vec![]);
    e.session
        .run_script(sql, |_, out| {
            if let StatementOutput::Rows(rs) = out {
                result = (rs.columns.iter().map(|c| c.name.clone()).collect(), rs.rows);
            }
        })
        .map_err(|err| err.render(sql))?;
    Ok(result)
}

const TUTORIAL_INPUT: &str =
    "SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 224, 224, FALSE) AS input FROM ds.t";

fn photos() -> Vec<PathBuf> {
    let dir = shared_dir().join("data/images");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("jpg" | "png")))
        .collect();
    v.sort();
    v
}

/// `file → top-1` from `reference_top5.tsv` (ONNX Runtime, preprocess.py).
fn reference_top1() -> BTreeMap<String, i64> {
    let text =
        std::fs::read_to_string(shared_dir().join("data/images/reference_top5.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let mut f = l.split('\t');
            let name = f.next().unwrap().to_string();
            let top: i64 = f
                .next()
                .unwrap()
                .split(',')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            (name, top)
        })
        .collect()
}

fn labels(rows: &[Vec<Value>]) -> BTreeMap<String, i64> {
    rows.iter()
        .map(|r| {
            let (Value::String(uri), Value::Int64(label)) = (&r[1], &r[0]) else {
                panic!("unexpected row {r:?}")
            };
            (uri.rsplit('/').next().unwrap().to_string(), *label)
        })
        .collect()
}

#[test]
fn efficientnet_top1_matches_onnxruntime_on_every_photo() {
    let e = env("efficientnet_lite0_tutorial.onnx", &photos(), 2);
    let (cols, rows) = run(
        &e,
        &format!("SELECT * FROM ML.PREDICT(MODEL ds.m, ({TUTORIAL_INPUT}))"),
    )
    .unwrap();
    // Model outputs first, then the input columns in query order.
    assert_eq!(cols, ["class_label", "uri", "input"]);
    let want = reference_top1();
    assert_eq!(want.len(), 9);
    assert_eq!(labels(&rows), want);
    // The passthrough image is the resized one.
    let Value::Image(img) = &rows[0][2] else {
        panic!("{:?}", rows[0][2])
    };
    assert_eq!(img.shape, [224, 224, 3]);
}

#[test]
fn results_do_not_depend_on_thread_count() {
    let one = env("efficientnet_lite0_probs.onnx", &photos(), 1);
    let two = env("efficientnet_lite0_probs.onnx", &photos(), 2);
    let q = format!("SELECT uri, probs FROM ML.PREDICT(MODEL ds.m, ({TUTORIAL_INPUT}))");
    let (cols, a) = run(&one, &q).unwrap();
    let (_, b) = run(&two, &q).unwrap();
    assert_eq!(cols, ["uri", "probs"]);
    assert_eq!(a.len(), 9);
    assert_eq!(a, b, "same rows, same order, same bits on 1 and 2 threads");
    // `[1, 1000]` becomes ARRAY<FLOAT64> of 1000 per row, summing to 1 (softmax).
    let Value::Array(p) = &a[0][1] else { panic!() };
    assert_eq!(p.len(), 1000);
    let sum: f64 = p
        .iter()
        .map(|v| {
            if let Value::Float64(x) = v {
                *x
            } else {
                panic!()
            }
        })
        .sum();
    assert!((sum - 1.0).abs() < 1e-4, "{sum}");
}

#[test]
fn predict_output_composes_with_where_order_limit_and_joins() {
    let e = env("efficientnet_lite0_tutorial.onnx", &photos(), 2);
    std::fs::write(
        e.gcs.join("models/classes.csv"),
        "class_label,class_name\n0,tench\n1,goldfish\n258,Samoyed\n652,military uniform\n",
    )
    .unwrap();
    run(&e, "CREATE EXTERNAL TABLE ds.classes OPTIONS (format = 'CSV', uris = ['gs://models/classes.csv'], skip_leading_rows = 1)").unwrap();
    let (cols, rows) = run(
        &e,
        &format!(
            "SELECT p.uri, c.class_name FROM ML.PREDICT(MODEL ds.m, ({TUTORIAL_INPUT} WHERE content_type = 'image/jpeg')) AS p \
             JOIN ds.classes AS c ON p.class_label = c.class_label ORDER BY c.class_name DESC LIMIT 2"
        ),
    )
    .unwrap();
    assert_eq!(cols, ["uri", "class_name"]);
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r[0].to_text().unwrap(), r[1].to_text().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "gs://imgs/grace_hopper.jpg".to_string(),
                "military uniform".to_string()
            ),
            ("gs://imgs/goldfish.jpg".to_string(), "goldfish".to_string()),
        ],
        "strings sort by bytes: 'Samoyed' < 'goldfish'"
    );
    // `TABLE` input and a bare query are accepted too; here the column is missing.
    let err = run(&e, "SELECT * FROM ML.PREDICT(MODEL ds.m, TABLE ds.t)").unwrap_err();
    assert!(
        err.starts_with("Invalid table-valued function ML.PREDICT Column input is not found in the input data to the PREDICT function. at [1:15]"),
        "{err}"
    );
    let (_, rows) = run(
        &e,
        "SELECT class_label FROM ML.PREDICT(MODEL ds.m, SELECT ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 224, 224, FALSE) AS input FROM ds.t WHERE uri LIKE '%goldfish%')",
    )
    .unwrap();
    assert_eq!(rows, [[Value::Int64(1)]]);
}

#[test]
fn predict_input_errors_name_the_column_and_the_object() {
    let e = env("efficientnet_lite0_tutorial.onnx", &photos(), 2);
    let err = run(
        &e,
        "SELECT * FROM ML.PREDICT(MODEL ds.m, (SELECT uri, ML.DECODE_IMAGE(data) AS input FROM ds.t WHERE uri LIKE '%rocket%'))",
    )
    .unwrap_err();
    assert!(
        err.starts_with("ML.PREDICT input column input: the image gs://imgs/rocket.jpg has shape [427, 640, 3] but the model expects [224, 224, 3]; resize it with ML.RESIZE_IMAGE at [1:15]"),
        "{err}"
    );
    let err = run(
        &e,
        "SELECT * FROM ML.PREDICT(MODEL ds.m, (SELECT uri AS input FROM ds.t))",
    )
    .unwrap_err();
    assert!(
        err.starts_with("ML.PREDICT input column input has type STRING, which is not convertible to the model's float32 input [1, 224, 224, 3]"),
        "{err}"
    );
    let err = run(
        &e,
        "SELECT * FROM ML.PREDICT(MODEL ds.m, (SELECT uri, CAST(NULL AS INT64) AS input FROM ds.t))",
    )
    .unwrap_err();
    assert!(
        err.starts_with("ML.PREDICT input column input is NULL for gs://imgs/cat_snow.jpg;"),
        "{err}"
    );
    let err = run(
        &e,
        &format!("SELECT * FROM ML.PREDICT(MODEL ds.m, (SELECT 1 AS class_label, input FROM ({TUTORIAL_INPUT})))"),
    )
    .unwrap_err();
    assert!(
        err.starts_with(
            "ML.PREDICT output column class_label has the same name as an input column"
        ),
        "{err}"
    );
    let err = run(
        &e,
        &format!(
            "SELECT * FROM ML.PREDICT(MODEL ds.m, ({TUTORIAL_INPUT}), STRUCT(0.5 AS threshold))"
        ),
    )
    .unwrap_err();
    assert!(
        err.starts_with("ML.PREDICT option threshold is not supported for ONNX models"),
        "{err}"
    );
}

#[test]
fn one_bad_image_fails_the_query_naming_its_uri_and_writes_nothing() {
    let mut imgs = photos();
    imgs.push(shared_dir().join("data/bad-images/truncated.jpg"));
    let e = env("efficientnet_lite0_tutorial.onnx", &imgs, 2);
    let before = snapshot(&e.data);
    let err = run(
        &e,
        &format!("SELECT class_label FROM ML.PREDICT(MODEL ds.m, ({TUTORIAL_INPUT}))"),
    )
    .unwrap_err();
    assert!(
        err.starts_with("ML.DECODE_IMAGE failed for gs://imgs/truncated.jpg: "),
        "{err}"
    );
    assert_eq!(
        snapshot(&e.data),
        before,
        "a failed query changes no catalog file"
    );
    // LIMIT without ORDER BY picks rows before they are projected: the bad file (last by
    // uri) is never decoded unless the limit reaches it.
    let q =
        |limit: &str| format!("SELECT uri FROM ML.PREDICT(MODEL ds.m, ({TUTORIAL_INPUT} {limit}))");
    let (_, rows) = run(&e, &q("LIMIT 2 OFFSET 7")).unwrap();
    assert_eq!(
        rows,
        [
            [Value::String("gs://imgs/samoyed.jpg".into())],
            [Value::String("gs://imgs/tench.png".into())]
        ]
    );
    let err = run(&e, &q("LIMIT 3 OFFSET 7")).unwrap_err();
    assert!(err.contains("gs://imgs/truncated.jpg"), "{err}");
}

/// Every file below `dir` with its contents.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn every_broken_image_decodes_as_documented_or_fails_naming_its_uri() {
    let bad = shared_dir().join("data/bad-images");
    let mut files: Vec<PathBuf> = Vec::new();
    for d in [bad.clone(), bad.join("pillow")] {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if p.is_file() && !name.ends_with(".md") && !name.ends_with(".tsv") {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 30, "{files:?}");
    // Acceptable classes of the decodable generated files (bad-images/expected.tsv).
    let acceptable: BTreeMap<String, Vec<i64>> = std::fs::read_to_string(bad.join("expected.tsv"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let ids = f[2].split(',').map(|x| x.parse().unwrap()).collect();
            (f[0].to_string(), ids)
        })
        .collect();
    // Not BigQuery formats (GIF, WebP) or broken: these must fail.
    let must_fail = [
        "animated.gif",
        "image.webp",
        "truncated.jpg",
        "empty.jpg",
        "not_an_image.jpg",
        "corrupt_idat_crc.png",
        "huge_dimensions.png",
        "huge_dimensions.jpg",
        "truncated_jpeg.jpg",
        "truncated_image.png",
        "broken.png",
        "broken_data_stream.png",
        "decompression_bomb.gif",
        "zero_width.gif",
    ];
    // Flatten both folders into one bucket with distinct names.
    let named: Vec<(String, PathBuf)> = files
        .iter()
        .map(|p| {
            let in_pillow = p.parent().unwrap().ends_with("pillow");
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            (
                if in_pillow {
                    format!("pillow_{name}")
                } else {
                    name
                },
                p.clone(),
            )
        })
        .collect();
    let e = env("efficientnet_lite0_tutorial.onnx", &[], 2);
    for (name, p) in &named {
        std::fs::copy(p, e.gcs.join("imgs").join(name)).unwrap();
    }
    let mut report = Vec::new();
    for (name, _) in &named {
        let uri = format!("gs://imgs/{name}");
        let r = run(
            &e,
            &format!("SELECT class_label FROM ML.PREDICT(MODEL ds.m, ({TUTORIAL_INPUT} WHERE uri = '{uri}'))"),
        );
        let base = name.strip_prefix("pillow_").unwrap_or(name);
        match r {
            Ok((_, rows)) => {
                assert!(!must_fail.contains(&base), "{name} decoded but must fail");
                let [row] = &rows[..] else {
                    panic!("{name}: {rows:?}")
                };
                if let Some(ok) = acceptable.get(name.as_str()) {
                    let Value::Int64(label) = row[0] else {
                        panic!()
                    };
                    assert!(ok.contains(&label), "{name}: class {label} not in {ok:?}");
                }
                report.push(format!("{name}: class {:?}", row[0]));
            }
            Err(msg) => {
                assert!(
                    msg.contains(&uri),
                    "the error for {name} does not name its uri: {msg}"
                );
                assert!(!msg.contains("panick"), "{msg}");
                report.push(format!("{name}: {msg}"));
            }
        }
    }
    for (name, _) in &named {
        let base = name.strip_prefix("pillow_").unwrap_or(name);
        if must_fail.contains(&base) {
            assert!(
                report
                    .iter()
                    .any(|r| r.starts_with(&format!("{name}: ML."))),
                "{name} must fail: {report:#?}"
            );
        }
    }
    // The decodable generated files are all classified (listed in expected.tsv).
    for name in acceptable
        .keys()
        .filter(|n| !must_fail.contains(&n.as_str()))
    {
        assert!(
            report
                .iter()
                .any(|r| r.starts_with(&format!("{name}: class"))),
            "{name} should decode: {report:#?}"
        );
    }
}

#[test]
fn object_tables_list_live_with_the_bigquery_schema() {
    let e = env("efficientnet_lite0_tutorial.onnx", &photos()[..2], 1);
    let (cols, rows) = run(&e, "SELECT * FROM ds.t ORDER BY uri").unwrap();
    assert_eq!(
        cols,
        [
            "uri",
            "generation",
            "content_type",
            "size",
            "md5_hash",
            "updated",
            "metadata",
            "ref"
        ],
        "data is a pseudo-column: not part of *"
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][2], Value::String("image/jpeg".into()));
    let Value::String(md5) = &rows[0][4] else {
        panic!("{:?}", rows[0][4])
    };
    assert_eq!(md5.len(), 24, "base64 of 16 bytes");
    std::fs::copy(
        shared_dir().join("data/images/tench.png"),
        e.gcs.join("imgs/later.png"),
    )
    .unwrap();
    let (_, rows) = run(
        &e,
        "SELECT uri, content_type, size FROM ds.t WHERE uri LIKE '%later%'",
    )
    .unwrap();
    assert_eq!(
        rows,
        [[
            Value::String("gs://imgs/later.png".into()),
            Value::String("image/png".into()),
            Value::Int64(134_422)
        ]],
        "files added after CREATE appear"
    );
    let (_, rows) = run(&e, "SELECT LENGTH(data) FROM ds.t WHERE uri LIKE '%later%'").unwrap();
    assert_eq!(
        rows,
        [[Value::Int64(134_422)]],
        "data reads the object's bytes"
    );
    run(&e, "CREATE EXTERNAL TABLE ds.gone OPTIONS (object_metadata = 'SIMPLE', uris = ['gs://nobucket/*'])").unwrap();
    let err = run(&e, "SELECT uri FROM ds.gone").unwrap_err();
    assert!(
        err.starts_with("Error while reading table: ds.gone, error message: Not found: bucket gs://nobucket (gs://nobucket/*) at [1:17]"),
        "{err}"
    );
}

#[test]
fn many_rows_stream_through_predict_in_order() {
    // More rows than one streaming piece (64), so several pieces are decoded, predicted
    // and appended; small PNGs keep it quick.
    let e = env("efficientnet_lite0_tutorial.onnx", &[], 2);
    let src = shared_dir().join("data/images/tench.png");
    for i in 0..130 {
        std::fs::copy(&src, e.gcs.join(format!("imgs/{i:03}.png"))).unwrap();
    }
    let (cols, rows) = run(
        &e,
        &format!("SELECT uri, class_label FROM ML.PREDICT(MODEL ds.m, ({TUTORIAL_INPUT}))"),
    )
    .unwrap();
    assert_eq!(cols, ["uri", "class_label"]);
    let want: Vec<Vec<Value>> = (0..130)
        .map(|i| {
            vec![
                Value::String(format!("gs://imgs/{i:03}.png")),
                Value::Int64(reference_top1()["tench.png"]),
            ]
        })
        .collect();
    assert_eq!(rows, want);
    // An input query that must see all rows first (ORDER BY … LIMIT) still works.
    let (_, rows) = run(
        &e,
        &format!("SELECT COUNT(*) AS n FROM ML.PREDICT(MODEL ds.m, ({TUTORIAL_INPUT} ORDER BY uri DESC LIMIT 70))"),
    )
    .unwrap();
    assert_eq!(rows, [[Value::Int64(70)]]);
}

#[test]
fn scalar_and_array_columns_feed_non_image_models() {
    // sum = a + b with a: [1, 1] and b: [1, 2] (like the iris tutorial's per-feature inputs).
    let bytes = common::model(
        vec![common::node("add", "Add", &["a", "b"], &["sum"])],
        vec![],
        vec![common::vi("a", &[1, 1]), common::vi("b", &[1, 2])],
        vec![common::vi("sum", &[1, 2])],
        13,
    );
    let e = env("efficientnet_lite0_tutorial.onnx", &[], 1);
    std::fs::write(e.gcs.join("models/add.onnx"), bytes).unwrap();
    std::fs::write(e.gcs.join("models/x.csv"), "x,name\n1.5,one\n-2,two\n").unwrap();
    run(
        &e,
        "CREATE MODEL ds.add OPTIONS (MODEL_TYPE = 'ONNX', MODEL_PATH = 'gs://models/add.onnx')",
    )
    .unwrap();
    run(&e, "CREATE EXTERNAL TABLE ds.x OPTIONS (format = 'CSV', uris = ['gs://models/x.csv'], skip_leading_rows = 1)").unwrap();
    let (cols, rows) = run(
        &e,
        "SELECT * FROM ML.PREDICT(MODEL ds.add, (SELECT x AS A, [x, x * 2] AS b, name FROM ds.x))",
    )
    .unwrap();
    assert_eq!(
        cols,
        ["sum", "A", "b", "name"],
        "input names match case-insensitively"
    );
    let f = Value::Float64;
    assert_eq!(
        rows,
        [
            vec![
                Value::Array(vec![f(3.0), f(4.5)]),
                f(1.5),
                Value::Array(vec![f(1.5), f(3.0)]),
                Value::String("one".into())
            ],
            vec![
                Value::Array(vec![f(-4.0), f(-6.0)]),
                f(-2.0),
                Value::Array(vec![f(-2.0), f(-4.0)]),
                Value::String("two".into())
            ],
        ]
    );
    let err = run(
        &e,
        "SELECT * FROM ML.PREDICT(MODEL ds.add, (SELECT x AS a, [x] AS b FROM ds.x))",
    )
    .unwrap_err();
    assert!(
        err.starts_with("ML.PREDICT input column b for row 1 has 1 values; the model input [1, 2] needs 2 per row"),
        "{err}"
    );
}

#[test]
fn goldfish_probabilities_through_sql_match_onnxruntime() {
    // JPEG decoding matches Pillow exactly, so the SQL path reproduces ONNX Runtime's
    // output on preprocess.py's tensor to float tolerance.
    let e = env(
        "efficientnet_lite0_probs.onnx",
        &[shared_dir().join("data/images/goldfish.jpg")],
        2,
    );
    let (_, rows) = run(
        &e,
        &format!("SELECT probs FROM ML.PREDICT(MODEL ds.m, ({TUTORIAL_INPUT}))"),
    )
    .unwrap();
    let Value::Array(got) = &rows[0][0] else {
        panic!("{:?}", rows[0][0])
    };
    let want = runtime::npy::read(
        &shared_dir().join("models/reference/efficientnet_lite0_goldfish_probs.npy"),
    )
    .unwrap();
    let want = want.as_f32().unwrap();
    assert_eq!(got.len(), want.len());
    let max = got
        .iter()
        .zip(want)
        .map(|(g, w)| match g {
            Value::Float64(g) => (g - f64::from(*w)).abs(),
            other => panic!("{other:?}"),
        })
        .fold(0.0, f64::max);
    assert!(max <= 1e-5, "max |Δprobs| = {max:e}");
}

#[test]
fn vit_runs_through_create_model_and_predict_on_every_photo() {
    // A transformer (ViT-Ti/16, random weights, logits output) through SQL: the logits of
    // every photo equal the compiled model's output on the same resized image.
    let e = env("zoo/vit_tiny_16.onnx", &photos(), 2);
    let (cols, rows) = run(
        &e,
        &format!("SELECT * FROM ML.PREDICT(MODEL ds.m, ({TUTORIAL_INPUT})) ORDER BY uri"),
    )
    .unwrap();
    assert_eq!(cols, ["logits", "uri", "input"]);
    assert_eq!(rows.len(), photos().len());
    let g = compiler::load_file(
        &shared_dir().join("models/zoo/vit_tiny_16.onnx"),
        &compiler::ImportOptions::default(),
    )
    .unwrap();
    let model = compiler::compile(g).unwrap();
    let mut st = model.new_state(1);
    for r in &rows {
        let (Value::Array(got), Value::Image(img)) = (&r[0], &r[2]) else {
            panic!("{r:?}")
        };
        let sqlfront::value::ImagePixels::Float(px) = &img.pixels else {
            panic!("resized images are float")
        };
        let x = runtime::Tensor::f32(vec![1, 224, 224, 3], px.to_vec());
        let want = model.predict(&mut st, &[&x]).unwrap().remove(0);
        let want = want.as_f32().unwrap();
        assert_eq!(got.len(), 1000);
        for (g, w) in got.iter().zip(want) {
            let Value::Float64(g) = g else {
                panic!("{g:?}")
            };
            assert!((g - f64::from(*w)).abs() <= 1e-5, "{:?}: {g} vs {w}", r[1]);
        }
    }
}

/// Runs one query on the DataFusion path; rows come back as (column names, rows).
fn run_df(e: &Env, sql: &str) -> Result<(Vec<String>, Vec<Vec<Value>>), String> {
    let rs = e.session.query_sql(sql).map_err(|err| err.render(sql))?;
    Ok((rs.columns.iter().map(|c| c.name.clone()).collect(), rs.rows))
}

#[test]
fn datafusion_runs_the_tutorial_like_the_row_engine() {
    let e = env("efficientnet_lite0_tutorial.onnx", &photos(), 2);
    // Function names in any case, as in BigQuery.
    let sql = "SELECT * FROM ML.PREDICT(MODEL ds.m, (SELECT uri, ml.resize_image(Ml.Decode_Image(data), 224, 224, FALSE) AS input FROM ds.t))";
    let (cols, rows) = run_df(&e, sql).unwrap();
    assert_eq!(cols, ["class_label", "uri", "input"]);
    assert_eq!(labels(&rows), reference_top1());
    let (_, legacy) = run(&e, sql).unwrap();
    assert_eq!(labels(&legacy), labels(&rows));
}

// The tutorial's top-5 per image as BigQuery users write it: UNNEST ... WITH OFFSET.
#[test]
fn datafusion_top5_per_image_matches_onnxruntime() {
    let e = env(
        "efficientnet_lite0_probs.onnx",
        &[
            shared_dir().join("data/images/goldfish.jpg"),
            shared_dir().join("data/images/samoyed.jpg"),
        ],
        2,
    );
    let sql = format!(
        "SELECT REGEXP_EXTRACT(uri, r'[^/]+$') AS file, class, prob
         FROM ML.PREDICT(MODEL ds.m, ({TUTORIAL_INPUT})) AS p,
              UNNEST(p.probs) AS prob WITH OFFSET AS class
         QUALIFY ROW_NUMBER() OVER (PARTITION BY uri ORDER BY prob DESC) <= 5
         ORDER BY file, prob DESC"
    );
    let (cols, rows) = run_df(&e, &sql).unwrap();
    assert_eq!(cols, ["file", "class", "prob"]);
    let text =
        std::fs::read_to_string(shared_dir().join("data/images/reference_top5.tsv")).unwrap();
    let mut want = Vec::new();
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = l.split('\t').collect();
        if f[0] == "goldfish.jpg" || f[0] == "samoyed.jpg" {
            for (c, p) in f[1].split(',').zip(f[2].split(',')) {
                want.push((
                    f[0].to_string(),
                    c.parse::<i64>().unwrap(),
                    p.parse::<f64>().unwrap(),
                ));
            }
        }
    }
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(rows.len(), want.len());
    for (row, (file, class, prob)) in rows.iter().zip(&want) {
        assert_eq!(row[0], Value::String(file.clone()), "{row:?}");
        assert_eq!(row[1], Value::Int64(*class), "{row:?}");
        let Value::Float64(p) = row[2] else {
            panic!("{row:?}")
        };
        assert!((p - prob).abs() <= 1e-5, "{row:?} vs {prob}");
    }
}

#[test]
fn datafusion_errors_name_the_model_and_the_position() {
    let e = env("efficientnet_lite0_tutorial.onnx", &[], 1);
    let sql = "SELECT *\nFROM ML.PREDICT(MODEL ds.nope, TABLE ds.t)";
    let err = e.session.query_sql(sql).unwrap_err();
    assert_eq!(err.message, "Not found: Model ds.nope");
    assert_eq!(err.span.map(|s| (s.line, s.col)), Some((2, 23)));
    let sql = "SELECT uri FROM ds.t WHERE";
    let err = e.session.query_sql(sql).unwrap_err();
    assert_eq!(err.kind, sqlfront::ErrorKind::Syntax, "{err:?}");
    assert!(err.span.is_some(), "{err:?}");
}

/// `ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), …)` runs fused (resized from the decoder's
/// samples); the same resize of a decoded image the planner cannot fuse (behind a CASE)
/// gives the same pixels, to float rounding, on every photo and size.
#[test]
fn fused_decode_resize_equals_the_two_calls() {
    let e = env("efficientnet_lite0_tutorial.onnx", &photos(), 2);
    for (h, w, keep) in [(224, 224, "FALSE"), (100, 37, "FALSE"), (64, 300, "TRUE")] {
        let fused = format!(
            "SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), {h}, {w}, {keep}) AS img FROM ds.t ORDER BY uri"
        );
        let plan = run_df(&e, &format!("EXPLAIN {fused}")).unwrap().1;
        let text = format!("{plan:?}");
        assert!(
            text.contains("ML.RESIZE_IMAGE_DECODED"),
            "not fused: {text}"
        );
        let apart = format!(
            "SELECT uri, ML.RESIZE_IMAGE(CASE WHEN uri IS NOT NULL THEN ML.DECODE_IMAGE(data) END, {h}, {w}, {keep}) AS img FROM ds.t ORDER BY uri"
        );
        let text = format!("{:?}", run_df(&e, &format!("EXPLAIN {apart}")).unwrap().1);
        assert!(!text.contains("ML.RESIZE_IMAGE_DECODED"), "fused: {text}");
        let (a, b) = (run_df(&e, &fused).unwrap().1, run_df(&e, &apart).unwrap().1);
        assert_eq!(a.len(), photos().len());
        for (ra, rb) in a.iter().zip(&b) {
            assert_eq!(ra[0], rb[0]);
            let (Value::Image(ia), Value::Image(ib)) = (&ra[1], &rb[1]) else {
                panic!("not images: {:?}", (&ra[1], &rb[1]))
            };
            assert_eq!(ia.shape, ib.shape, "{:?}", ra[0]);
            let (va, vb) = (ia.values_f32(), ib.values_f32());
            let worst = va
                .iter()
                .zip(vb.iter())
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            assert!(worst < 1e-6, "{:?}: {worst}", ra[0]);
        }
    }
}
