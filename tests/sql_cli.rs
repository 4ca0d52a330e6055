//! End-to-end tests of the SQL subcommands through the real binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct Env {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    gcs: PathBuf,
}

fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let gcs = tmp.path().join("gcs");
    std::fs::create_dir_all(gcs.join("cloud-samples-data/onnx")).unwrap();
    std::fs::create_dir_all(gcs.join("bqml_images")).unwrap();
    std::fs::copy(
        compiler::conformance::shared_dir().join("data/images/goldfish.jpg"),
        gcs.join("bqml_images/goldfish.jpg"),
    )
    .unwrap();
    // CREATE MODEL compiles the model, so the tutorial's model must be a real one.
    std::fs::copy(
        compiler::conformance::shared_dir().join("models/resnet18_tutorial.onnx"),
        gcs.join("cloud-samples-data/onnx/resnet18.onnx"),
    )
    .unwrap();
    std::fs::write(
        gcs.join("cloud-samples-data/iris.csv"),
        "sepal,species\n5.1,setosa\n7.0,versicolor\n6.3,virginica\n",
    )
    .unwrap();
    Env {
        data: tmp.path().join("data"),
        gcs,
        _tmp: tmp,
    }
}

/// ONNX Runtime's `class_label` for `image` preprocessed by `shared/tools/preprocess.py`.
fn ort_class_label(model: &Path, image: &Path) -> i64 {
    let python = std::env::var("BQMLC_PYTHON").unwrap_or_else(|_| "python3".into());
    let tools = compiler::conformance::shared_dir().join("tools");
    let script = "import sys; sys.path.insert(0, sys.argv[1]); import preprocess, onnxruntime as ort\n\
s = ort.InferenceSession(sys.argv[2], providers=['CPUExecutionProvider'])\n\
print(int(s.run(None, {s.get_inputs()[0].name: preprocess.load_input(sys.argv[3])})[0].ravel()[0]))";
    let out = Command::new(&python)
        .args(["-c", script])
        .arg(&tools)
        .arg(model)
        .arg(image)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "ONNX Runtime oracle failed (set BQMLC_PYTHON to a Python with onnxruntime, numpy and Pillow; scripts/test does): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn bqmlc(e: &Env, args: &[&str], stdin: &str) -> Output {
    bqmlc_env(e, args, stdin, &[])
}

/// [`bqmlc`] with extra environment variables (and no inherited `BQMLC_CONV_ALGO`).
fn bqmlc_env(e: &Env, args: &[&str], stdin: &str, vars: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bqmlc"))
        .args(args)
        .env("BQMLC_DATA_DIR", &e.data)
        .env("BQMLC_GCS_ROOT", &e.gcs)
        .env_remove("RUST_BACKTRACE")
        .env_remove("BQMLC_CONV_ALGO")
        .envs(vars.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn ok(e: &Env, args: &[&str]) -> String {
    let out = bqmlc(e, args, "");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn err(e: &Env, args: &[&str]) -> String {
    let out = bqmlc(e, args, "");
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn tutorial_flow_through_the_cli() {
    let e = env();
    assert_eq!(
        ok(
            &e,
            &[
                "mk",
                "--dataset",
                "--location=US",
                "--description",
                "BigQuery ML tutorial dataset.",
                "bqml_tutorial"
            ]
        ),
        "Dataset 'bqml_tutorial' successfully created.\n"
    );
    assert_eq!(
        ok(&e, &["ls"]),
        "    datasetId    \n --------------- \n  bqml_tutorial  \n"
    );
    assert_eq!(
        ok(&e, &[
            "query",
            "--use_legacy_sql=false",
            "CREATE OR REPLACE MODEL `bqml_tutorial.imported_onnx_model` OPTIONS (MODEL_TYPE='ONNX', MODEL_PATH='gs://cloud-samples-data/onnx/resnet18.onnx')",
        ]),
        "Created bqml_tutorial.imported_onnx_model\n"
    );
    let ls_m = ok(&e, &["ls", "-m", "bqml_tutorial"]);
    let lines: Vec<&str> = ls_m.lines().collect();
    assert_eq!(lines.len(), 3, "{ls_m}");
    assert!(
        lines[0].contains("Id")
            && lines[0].contains("Model Type")
            && lines[0].contains("Creation Time")
    );
    assert!(
        lines[2]
            .trim_start()
            .starts_with("imported_onnx_model   ONNX"),
        "{ls_m}"
    );

    let show = ok(&e, &["show", "-m", "bqml_tutorial.imported_onnx_model"]);
    assert!(
        show.starts_with("Model bqml_tutorial.imported_onnx_model\n\n"),
        "{show}"
    );
    assert!(show.contains("|- input: float64 [1,224,224,3]"), "{show}");
    assert!(show.contains("|- class_label: int64 [1]"), "{show}");

    assert_eq!(
        ok(&e, &["query", "CREATE EXTERNAL TABLE `bqml_tutorial.goldfish_image_table` WITH CONNECTION `us.bqml_tutorial` OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://bqml_images/goldfish.jpg'], max_staleness = INTERVAL 1 DAY, metadata_cache_mode = 'AUTOMATIC')"]),
        "Created bqml_tutorial.goldfish_image_table\n"
    );
    let ls = ok(&e, &["ls", "bqml_tutorial"]);
    assert!(
        ls.lines()
            .nth(2)
            .unwrap()
            .trim_start()
            .starts_with("goldfish_image_table   EXTERNAL"),
        "{ls}"
    );

    // The tutorial's query, verbatim; the oracle is ONNX Runtime on the goldfish
    // preprocessed by shared/tools/preprocess.py.
    let predict = ok(&e, &["query", "--format", "csv", "SELECT class_label\nFROM ML.PREDICT(MODEL `bqml_tutorial.imported_onnx_model`,\n  (SELECT ML.RESIZE_IMAGE(ML.DECODE_IMAGE(DATA), 224, 224, FALSE) AS input\n   FROM bqml_tutorial.goldfish_image_table))"]);
    let want = ort_class_label(
        &compiler::conformance::shared_dir().join("models/resnet18_tutorial.onnx"),
        &compiler::conformance::shared_dir().join("data/images/goldfish.jpg"),
    );
    assert_eq!(predict, format!("class_label\n{want}\n"));

    assert_eq!(
        ok(&e, &["rm", "-f", "-m", "bqml_tutorial.imported_onnx_model"]),
        ""
    );
    assert_eq!(ok(&e, &["ls", "-m", "bqml_tutorial"]), "");
    assert_eq!(
        err(&e, &["rm", "-f", "-m", "bqml_tutorial.imported_onnx_model"]),
        "Error: Not found: Model bqml_tutorial.imported_onnx_model\n"
    );
    assert_eq!(
        err(&e, &["rm", "-f", "-d", "bqml_tutorial"]),
        "Error: Dataset bqml_tutorial is still in use\n"
    );
    assert_eq!(ok(&e, &["rm", "-r", "-f", "-d", "bqml_tutorial"]), "");
    assert_eq!(ok(&e, &["ls"]), "");
}

#[test]
fn query_formats_files_and_errors() {
    let e = env();
    ok(&e, &["mk", "-d", "ds"]);
    ok(&e, &["query", "CREATE EXTERNAL TABLE ds.iris OPTIONS(format = 'CSV', uris = ['gs://cloud-samples-data/iris.csv'], skip_leading_rows = 1)"]);
    let q = "SELECT species, sepal FROM ds.iris WHERE sepal > 6 ORDER BY sepal DESC";
    assert_eq!(
        ok(&e, &["query", q]),
        "+------------+-------+\n|   species  | sepal |\n+------------+-------+\n| versicolor |   7.0 |\n| virginica  |   6.3 |\n+------------+-------+\n"
    );
    assert_eq!(
        ok(&e, &["query", "--format", "json", q]),
        "[{\"sepal\":7.0,\"species\":\"versicolor\"},{\"sepal\":6.3,\"species\":\"virginica\"}]\n"
    );
    assert_eq!(
        ok(&e, &["query", "--format=csv", q]),
        "species,sepal\nversicolor,7.0\nvirginica,6.3\n"
    );
    let file = e.data.join("q.sql");
    std::fs::write(
        &file,
        "-- a script\nSELECT 1 AS one;\nSELECT 'two' AS two;\n",
    )
    .unwrap();
    assert_eq!(
        ok(
            &e,
            &["query", "--format", "json", "-f", file.to_str().unwrap()]
        ),
        "[{\"one\":1}]\n[{\"two\":\"two\"}]\n"
    );
    assert_eq!(
        err(&e, &["query", "SELECT sepal\nFROM ds.iris WHERE nope"]),
        "Error: Unrecognized name: nope at [2:20]\nFROM ds.iris WHERE nope\n                   ^^^^\n"
    );
    assert_eq!(
        err(&e, &["query", "SELEC 1"]),
        "Error: Syntax error: Expected a query (SELECT, WITH, EXPLAIN), CREATE, DROP, INSERT or EXPORT DATA but got identifier \"SELEC\" at [1:1]\nSELEC 1\n^^^^^\n"
    );
    // A Parquet result reads back as the same rows.
    let parquet = bqmlc(&e, &["query", "--format", "parquet", q], "");
    assert!(
        parquet.status.success(),
        "{}",
        String::from_utf8_lossy(&parquet.stderr)
    );
    assert!(parquet.stdout.starts_with(b"PAR1") && parquet.stdout.ends_with(b"PAR1"));
    std::fs::write(
        e.gcs.join("cloud-samples-data/iris.parquet"),
        &parquet.stdout,
    )
    .unwrap();
    ok(&e, &["query", "CREATE EXTERNAL TABLE ds.p OPTIONS(format = 'PARQUET', uris = ['gs://cloud-samples-data/iris.parquet'])"]);
    assert_eq!(
        ok(&e, &["query", "--format=csv", "SELECT * FROM ds.p"]),
        "species,sepal\nversicolor,7.0\nvirginica,6.3\n"
    );
    assert_eq!(
        err(
            &e,
            &[
                "query",
                "--format",
                "parquet",
                "SELECT 1 AS a; SELECT 2 AS b"
            ]
        ),
        "Error: --format parquet writes one query's result; the script has 2 queries\n"
    );
    assert_eq!(
        err(&e, &["query", "--use_legacy_sql=true", "SELECT 1"]),
        "Error: legacy SQL is not supported; use --use_legacy_sql=false\n"
    );
    assert_eq!(
        err(&e, &["mk", "-d", "ds"]),
        "Error: Dataset 'ds' already exists.\n"
    );
    assert_eq!(
        err(&e, &["mk", "-d", "bad-name"]),
        "Error: Dataset name: bad-name is invalid, must be letters (uppercase or lowercase), numbers, and underscores up to 1024 characters.\n"
    );
}

#[test]
fn repl_reads_piped_input_and_rm_asks_first() {
    let e = env();
    let out = bqmlc(
        &e,
        &["repl"],
        "CREATE SCHEMA ds;\n.datasets\nSELECT 1 + 1\n  AS two;\n.mode csv\nSELECT 'x' AS y;\n.quit\nSELECT 'never';\n",
    );
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "This statement created a new dataset named ds\n  datasetId  \n ----------- \n  ds         \n+-----+\n| two |\n+-----+\n|   2 |\n+-----+\ny\nx\n"
    );
    let out = bqmlc(&e, &["rm", "ds"], "n\n");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "rm: remove dataset 'ds'? (y/N) NOT deleting dataset 'ds', exiting.\n"
    );
    assert!(Path::new(&e.data).join("catalog.json").exists());
    let out = bqmlc(&e, &["rm", "ds"], "y\n");
    assert!(out.status.success());
    assert_eq!(ok(&e, &["ls"]), "");
}

#[test]
fn query_conv_algo_reaches_create_model_and_ml_predict() {
    let e = env();
    ok(&e, &["mk", "-d", "ds"]);
    let create = |name: &str| {
        format!(
            "CREATE MODEL ds.{name} OPTIONS(MODEL_TYPE='ONNX', MODEL_PATH='gs://cloud-samples-data/onnx/resnet18.onnx')"
        )
    };
    ok(&e, &["query", "--conv-algo", "direct", &create("direct")]);
    let out = bqmlc_env(
        &e,
        &["query", &create("winograd")],
        "",
        &[("BQMLC_CONV_ALGO", "winograd")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan = |name: &str| {
        let show = ok(&e, &["show", "-m", &format!("ds.{name}")]);
        let line = |prefix: &str| {
            show.lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix} line:\n{show}"))
                .to_string()
        };
        (line("Compile options: "), line("Kernels (plan steps): "))
    };
    let (options, kernels) = plan("direct");
    assert_eq!(
        options,
        format!(
            "Compile options: conv_algo direct, kernel tier {}",
            kernels::Isa::detect().name()
        )
    );
    assert!(
        !kernels.contains("bqml_winograd") && kernels.contains("bqml_conv2d "),
        "{kernels}"
    );
    let (options, kernels) = plan("winograd");
    assert_eq!(
        options,
        format!(
            "Compile options: conv_algo winograd, kernel tier {}",
            kernels::Isa::detect().name()
        )
    );
    assert!(kernels.contains("bqml_winograd "), "{kernels}");

    // ML.PREDICT runs the stored library under the options it was compiled with, and
    // compiles afresh under others; both give the same answer.
    let predict = "SELECT class_label FROM ML.PREDICT(MODEL ds.direct, (SELECT ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 224, 224, FALSE) AS input FROM ds.images))";
    ok(&e, &["query", "CREATE EXTERNAL TABLE ds.images OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://bqml_images/*'])"]);
    let cached = ok(
        &e,
        &["query", "--conv-algo", "direct", "--format", "csv", predict],
    );
    let recompiled = ok(
        &e,
        &[
            "query",
            "--conv-algo",
            "winograd-f2",
            "--format",
            "csv",
            predict,
        ],
    );
    assert!(cached.starts_with("class_label\n"), "{cached}");
    assert_eq!(cached, recompiled);

    assert!(err(&e, &["query", "--conv-algo", "fast", "SELECT 1"])
        .contains("unknown convolution algorithm 'fast'"),);
}

/// Runs `bqmlc args` with stdout (and with `both`, stderr too) on a pipe whose reading end
/// is closed before the command starts, as `bqmlc … | head -0` does; returns its status
/// and stderr.
fn closed_pipe(e: &Env, args: &[&str], both: bool) -> (std::process::ExitStatus, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bqmlc"));
    cmd.args(args)
        .env("BQMLC_DATA_DIR", &e.data)
        .env("BQMLC_GCS_ROOT", &e.gcs)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null());
    if both {
        cmd.stderr(writer.try_clone().unwrap()).stdout(writer);
        let status = cmd.status().unwrap();
        (status, String::new())
    } else {
        let out = cmd.stdout(writer).stderr(Stdio::piped()).output().unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let e = env();
    ok(&e, &["mk", "-d", "ds"]);
    let model = compiler::conformance::shared_dir().join("models/resnet18_tutorial.onnx");
    let commands: &[&[&str]] = &[
        &["inspect", model.to_str().unwrap()],
        &["demo"],
        &["ls", "ds"],
        &["ls"],
        &["query", "SELECT 1"],
        &["query", "--format", "csv", "SELECT 1"],
    ];
    for args in commands {
        for both in [false, true] {
            let (status, stderr) = closed_pipe(&e, args, both);
            assert!(
                status.code() == Some(0) || status.signal() == Some(libc::SIGPIPE),
                "{args:?} (stderr closed too: {both}) ended with {status}: {stderr}"
            );
            // `demo` reports its directory on stderr before its first statement.
            assert!(
                !stderr.contains("panicked")
                    && !stderr.contains("Broken pipe")
                    && !stderr.contains("Error"),
                "{args:?}: {stderr}"
            );
        }
    }
}

#[test]
fn thread_counts_are_checked_before_any_work() {
    let e = env();
    let out = bqmlc(&e, &["query", "--threads", "65535", "SELECT 1"], "");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: invalid value '65535' for '--threads <N>': '65535' is not a thread count from 1 to 1024\n\nFor more information, try '--help'.\n"
    );
    for bad in ["65535", "0", "many"] {
        let out = bqmlc_env(&e, &["query", "SELECT 1"], "", &[("BQMLC_THREADS", bad)]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("Error: BQMLC_THREADS: '{bad}' is not a thread count from 1 to 1024\n")
        );
    }
    let out = bqmlc_env(
        &e,
        &["query", "SELECT 1 AS one"],
        "",
        &[("BQMLC_THREADS", "1024")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bqmlc(&e, &["bench", "--peak", "--threads", "2000"], "");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("'2000' is not a thread count from 1 to 1024"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn options_before_the_subcommand_and_help_texts() {
    let e = env();
    let other = e.data.with_file_name("other-data");
    let other = other.to_str().unwrap();
    assert_eq!(
        ok(&e, &["--data-dir", other, "mk", "-d", "elsewhere"]),
        "Dataset 'elsewhere' successfully created.\n"
    );
    assert!(ok(&e, &["--data-dir", other, "ls"]).contains("elsewhere"));
    assert!(ok(&e, &["ls", "--data-dir", other]).contains("elsewhere"));
    assert!(!ok(&e, &["ls"]).contains("elsewhere"));
    assert!(ok(
        &e,
        &[
            "--data-dir",
            other,
            "--threads",
            "1",
            "query",
            "SELECT 1 AS x"
        ]
    )
    .contains("| 1 |"));
    assert_eq!(
        err(
            &e,
            &[
                "--data-dir",
                other,
                "query",
                "--data-dir",
                "/elsewhere",
                "SELECT 1"
            ]
        ),
        "Error: --data-dir is given both before and after the subcommand, with different values\n"
    );
    assert_eq!(
        err(&e, &["--gcs-root", other, "inspect", "m.onnx"]),
        "Error: --gcs-root does not apply to `bqmlc inspect`\n"
    );
    assert_eq!(
        err(&e, &["--data-dir", other, "demo"]),
        "Error: --data-dir, --gcs-root and --gcs-endpoint do not apply to `bqmlc demo`, which makes its own (see --keep)\n"
    );
    let help = ok(&e, &["--help"]);
    for want in [
        "--data-dir",
        "$BQMLC_DATA_DIR",
        "--gcs-root",
        "$BQMLC_GCS_ROOT",
        "--threads",
        "$BQMLC_THREADS",
    ] {
        assert!(help.contains(want), "bqmlc --help lacks {want}:\n{help}");
    }
    for cmd in ["mk", "ls", "show", "rm"] {
        let help = ok(&e, &[cmd, "--help"]);
        assert!(help.contains("--data-dir"), "{help}");
        assert!(
            !help.contains("--gcs-root") && !help.contains("--threads"),
            "{cmd} --help:\n{help}"
        );
    }
    let help = ok(&e, &["demo", "--help"]);
    assert!(!help.contains(env!("CARGO_MANIFEST_DIR")), "{help}");
}

#[test]
fn query_file_may_start_with_a_byte_order_mark() {
    let e = env();
    let file = e.gcs.join("bom.sql");
    std::fs::write(&file, "\u{feff}SELECT 1 AS one;\n").unwrap();
    assert_eq!(
        ok(
            &e,
            &["query", "--format", "csv", "-f", file.to_str().unwrap()]
        ),
        "one\n1\n"
    );
    let out = bqmlc(
        &e,
        &["query", "--format", "csv", "-f", "-"],
        "\u{feff}SELECT 2 AS two;",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "two\n2\n");
}

#[test]
fn piped_repl_exits_non_zero_when_a_statement_failed() {
    let e = env();
    let out = bqmlc(&e, &["repl"], "SELECT nope;\nSELECT 1 AS one;\n");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Error: Unrecognized name: nope at [1:8]\nSELECT nope;\n       ^^^^\n+-----+\n| one |\n+-----+\n|   1 |\n+-----+\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Error: some statements failed\n"
    );
    let out = bqmlc(&e, &["repl"], ".mode xml\n");
    assert_eq!(out.status.code(), Some(1));
    let out = bqmlc(&e, &["repl"], "SELECT 1 AS one;\n.mode csv\n");
    assert!(out.status.success());
}

#[test]
fn tables_are_cut_to_the_width_and_row_limit_but_csv_is_whole() {
    let e = env();
    let long = "x".repeat(300);
    let sql = format!("SELECT '{long}' AS s, 1 AS n");
    // Not a terminal: $COLUMNS, else 120 characters.
    let table = ok(&e, &["query", &sql]);
    assert!(table.lines().all(|l| l.chars().count() == 120), "{table}");
    assert!(
        table.contains(&format!("| {}… | 1 |", "x".repeat(111))),
        "{table}"
    );
    let out = bqmlc_env(&e, &["query", &sql], "", &[("COLUMNS", "30")]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        table,
        format!(
            "+{0}+---+\n|            s           | n |\n+{0}+---+\n| {1}… | 1 |\n+{0}+---+\n",
            "-".repeat(24),
            "x".repeat(21)
        )
    );
    let whole = ok(&e, &["query", "--max-width", "0", &sql]);
    assert!(whole.contains(&long), "{whole}");
    assert!(ok(&e, &["query", "--format", "csv", &sql]).contains(&long));

    ok(&e, &["mk", "-d", "ds"]);
    let rows: String = (0..50).map(|i| format!("{i},r{i}\n")).collect();
    std::fs::write(e.gcs.join("rows.csv"), format!("i,s\n{rows}")).unwrap();
    ok(&e, &["query", "CREATE EXTERNAL TABLE ds.r OPTIONS(format = 'CSV', uris = ['gs://rows.csv'], skip_leading_rows = 1)"]);
    let table = ok(&e, &["query", "SELECT i FROM ds.r"]);
    assert!(table.ends_with("+----+\n50 rows (40 shown)\n"), "{table}");
    assert_eq!(table.lines().count(), 4 + 40 + 1);
    let table = ok(&e, &["query", "--max-rows", "3", "SELECT i FROM ds.r"]);
    assert!(
        table.ends_with("| 2 |\n+---+\n50 rows (3 shown)\n"),
        "{table}"
    );
    let table = ok(&e, &["query", "--max-rows", "0", "SELECT i FROM ds.r"]);
    assert_eq!(table.lines().count(), 4 + 50);
    assert_eq!(
        ok(&e, &["query", "--format", "csv", "SELECT i FROM ds.r"])
            .lines()
            .count(),
        51
    );
}
