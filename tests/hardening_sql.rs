//! Hardening of the SQL front end through the real binary: symlinks and tampered catalogs
//! cannot reach files outside the Cloud Storage root or the data directory, listings end,
//! and bad statements fail early and clearly.

use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use compiler::conformance::shared_dir;

use crate::common;

struct Env {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    data: PathBuf,
    gcs: PathBuf,
}

/// A fresh data directory and Cloud Storage root (`TMP/data`, `TMP/gcs`) with the
/// tutorial model at `gs://models/m.onnx` and the goldfish at `gs://imgs/goldfish.jpg`.
fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let gcs = root.join("gcs");
    std::fs::create_dir_all(gcs.join("models")).unwrap();
    std::fs::create_dir_all(gcs.join("imgs")).unwrap();
    std::fs::copy(
        shared_dir().join("models/resnet18_tutorial.onnx"),
        gcs.join("models/m.onnx"),
    )
    .unwrap();
    std::fs::copy(
        shared_dir().join("data/images/goldfish.jpg"),
        gcs.join("imgs/goldfish.jpg"),
    )
    .unwrap();
    Env {
        data: root.join("data"),
        gcs,
        root,
        _tmp: tmp,
    }
}

fn command(e: &Env, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bqmlc"));
    c.args(args)
        .env("BQMLC_DATA_DIR", &e.data)
        .env("BQMLC_GCS_ROOT", &e.gcs)
        .env_remove("RUST_BACKTRACE")
        .env_remove("BQMLC_CONV_ALGO")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Waits for `child` at most `limit`, killing it (and failing the test) after that.
fn wait_within(mut child: Child, limit: Duration, what: &str) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn query(e: &Env, sql: &str) -> Output {
    let child = command(e, &["query", "--format", "csv", sql])
        .spawn()
        .unwrap();
    wait_within(child, Duration::from_secs(120), sql)
}

fn ok(e: &Env, sql: &str) -> String {
    let out = query(e, sql);
    assert!(
        out.status.success(),
        "{sql} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn err(e: &Env, sql: &str) -> String {
    let out = query(e, sql);
    assert!(
        !out.status.success(),
        "{sql} should fail; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

fn create_model(e: &Env, name: &str, path: &str) -> Output {
    query(
        e,
        &format!("CREATE MODEL {name} OPTIONS (MODEL_TYPE = 'ONNX', MODEL_PATH = '{path}')"),
    )
}

fn object_table(e: &Env, name: &str, uri: &str) {
    ok(
        e,
        &format!(
            "CREATE OR REPLACE EXTERNAL TABLE {name} WITH CONNECTION DEFAULT OPTIONS (object_metadata = 'SIMPLE', uris = ['{uri}'])"
        ),
    );
}

fn outside(e: &Env) -> PathBuf {
    let dir = e.root.join("outside");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn symlinks_cannot_leave_the_cloud_storage_root() {
    let e = env();
    let out = outside(&e);
    std::fs::copy(e.gcs.join("models/m.onnx"), out.join("secret.onnx")).unwrap();
    std::fs::write(out.join("secret.txt"), "secret").unwrap();
    std::fs::create_dir_all(e.gcs.join("b")).unwrap();
    symlink("../../outside/secret.onnx", e.gcs.join("b/link.onnx")).unwrap();
    ok(&e, "CREATE SCHEMA ds");

    let o = create_model(&e, "ds.m", "gs://b/link.onnx");
    assert!(!o.status.success());
    let msg = String::from_utf8_lossy(&o.stderr);
    assert!(
        msg.contains(&format!(
            "Cannot read gs://b/link.onnx: it resolves to {}, outside the Cloud Storage root {}",
            out.canonicalize().unwrap().join("secret.onnx").display(),
            e.gcs.display()
        )),
        "{msg}"
    );
    // A wildcard that reaches the link fails the same way.
    let o = create_model(&e, "ds.m", "gs://b/*");
    assert!(String::from_utf8_lossy(&o.stderr).contains("Cannot read gs://b/link.onnx"));

    // An object table cannot list through a directory link or a linked bucket.
    symlink("../../outside", e.gcs.join("b/dir")).unwrap();
    std::fs::remove_file(e.gcs.join("b/link.onnx")).unwrap();
    object_table(&e, "ds.t", "gs://b/*");
    let msg = err(&e, "SELECT uri FROM ds.t");
    assert!(
        msg.contains("Cannot read gs://b/dir: it resolves to"),
        "{msg}"
    );
    object_table(&e, "ds.t2", "gs://b/dir/secret.txt");
    let msg = err(&e, "SELECT uri FROM ds.t2");
    assert!(
        msg.contains("Cannot read gs://b/dir/secret.txt: it resolves to"),
        "{msg}"
    );
    symlink("../outside", e.gcs.join("linked")).unwrap();
    object_table(&e, "ds.t3", "gs://linked/*");
    let msg = err(&e, "SELECT uri FROM ds.t3");
    assert!(
        msg.contains("Cannot read gs://linked: it resolves to"),
        "{msg}"
    );

    // Links that stay inside the root still work.
    symlink("../imgs", e.gcs.join("b/inner")).unwrap();
    std::fs::remove_file(e.gcs.join("b/dir")).unwrap();
    assert_eq!(
        ok(&e, "SELECT uri FROM ds.t"),
        "uri\ngs://b/inner/goldfish.jpg\n"
    );
}

#[test]
fn symlink_loops_in_a_bucket_are_listed_once() {
    let e = env();
    let c = e.gcs.join("c");
    std::fs::create_dir_all(c.join("sub")).unwrap();
    std::fs::write(c.join("a.txt"), "a").unwrap();
    std::fs::write(c.join("sub/b.txt"), "b").unwrap();
    symlink(".", c.join("l1")).unwrap();
    symlink(".", c.join("l2")).unwrap();
    symlink("..", c.join("sub/up")).unwrap();
    ok(&e, "CREATE SCHEMA ds");
    object_table(&e, "ds.t", "gs://c/*");
    let start = Instant::now();
    assert_eq!(
        ok(&e, "SELECT uri FROM ds.t ORDER BY uri"),
        "uri\ngs://c/a.txt\ngs://c/sub/b.txt\n"
    );
    assert!(start.elapsed() < Duration::from_secs(30));
    // Local paths and CSV tables walk the same way.
    object_table(&e, "ds.local", &format!("{}/*", c.display()));
    assert_eq!(ok(&e, "SELECT COUNT(*) AS n FROM ds.local"), "n\n2\n");
}

const PREDICT: &str = "SELECT class_label FROM ML.PREDICT(MODEL ds.m, (SELECT ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 224, 224, FALSE) AS input FROM ds.imgs))";

/// `ds.m` (the tutorial model, with its compiled library) and the object table `ds.imgs`.
fn tutorial(e: &Env) {
    ok(e, "CREATE SCHEMA ds");
    let o = create_model(e, "ds.m", "gs://models/m.onnx");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    object_table(e, "ds.imgs", "gs://imgs/*");
}

/// The model entry's (ONNX copy, compiled library) paths as the catalog records them.
fn recorded_files(e: &Env) -> (String, String) {
    let state = sqlfront::catalog::Catalog::open(&e.data)
        .unwrap()
        .snapshot()
        .unwrap();
    let m = state.model("ds", "m").unwrap();
    let lib = m
        .compiled
        .as_ref()
        .expect("a compiled library")
        .file
        .clone();
    (m.file.clone(), lib)
}

/// Rewrites `catalog.json`, replacing the quoted string `from` by `to`.
fn tamper(e: &Env, from: &str, to: &str) {
    let path = e.data.join("catalog.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let quoted = format!("\"{from}\"");
    assert!(text.contains(&quoted), "{from} not in the catalog");
    std::fs::write(&path, text.replace(&quoted, &format!("\"{to}\""))).unwrap();
}

#[test]
fn catalog_paths_stay_in_the_data_directory_and_libraries_are_checked() {
    let e = env();
    tutorial(&e);
    let good = ok(&e, PREDICT);
    assert!(good.starts_with("class_label\n"), "{good}");
    let (onnx, lib) = recorded_files(&e);
    let catalog = std::fs::read(e.data.join("catalog.json")).unwrap();
    let restore = || std::fs::write(e.data.join("catalog.json"), &catalog).unwrap();

    // An absolute or `..` ONNX path is refused, naming the model and the file.
    let secret = outside(&e).join("secret.onnx");
    std::fs::copy(e.gcs.join("models/m.onnx"), &secret).unwrap();
    let abs = secret.display().to_string();
    tamper(&e, &onnx, &abs);
    let msg = err(&e, PREDICT);
    assert!(
        msg.contains(&format!(
            "Model ds.m: the catalog's file {abs} is not a plain relative path, outside the data directory {}",
            e.data.display()
        )),
        "{msg}"
    );
    restore();
    tamper(&e, &onnx, "../outside/secret.onnx");
    let msg = err(&e, PREDICT);
    assert!(
        msg.contains(
            "Model ds.m: the catalog's file ../outside/secret.onnx is not a plain relative path"
        ),
        "{msg}"
    );
    restore();

    // A library path outside the data directory is never loaded: absolute, `..`, or a
    // symlink inside `models/` that leads out.
    let evil = outside(&e).join("evil.so");
    std::fs::copy(e.data.join(&lib), &evil).unwrap();
    tamper(&e, &lib, &evil.display().to_string());
    let msg = err(&e, PREDICT);
    assert!(
        msg.contains(&format!(
            "Model ds.m: the catalog's file {}",
            evil.display()
        )),
        "{msg}"
    );
    restore();
    std::fs::remove_file(e.data.join(&lib)).unwrap();
    symlink(&evil, e.data.join(&lib)).unwrap();
    let msg = err(&e, PREDICT);
    assert!(
        msg.contains(&format!("Model ds.m: the catalog's file {lib} resolves to")),
        "{msg}"
    );

    // A library changed after CREATE MODEL fails its sha256 check before it is loaded.
    std::fs::remove_file(e.data.join(&lib)).unwrap();
    let mut bytes = std::fs::read(&evil).unwrap();
    bytes.push(0);
    std::fs::write(e.data.join(&lib), &bytes).unwrap();
    let msg = err(&e, PREDICT);
    assert!(
        msg.contains(&format!(
            "Model ds.m: the compiled library {lib} has sha256 "
        )) && msg.contains("it was changed after CREATE MODEL and is not loaded"),
        "{msg}"
    );
}

#[test]
fn int64_images_are_not_fed_to_float_inputs() {
    let e = env();
    tutorial(&e);
    let msg = err(&e, "SELECT class_label FROM ML.PREDICT(MODEL ds.m, (SELECT uri, ML.CONVERT_IMAGE_TYPE(ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 224, 224, FALSE)) AS input FROM ds.imgs))");
    assert!(
        msg.contains("ML.PREDICT input column input has type STRUCT<ARRAY<INT64>, ARRAY<INT64>> (an INT64 image, values 0-255, from ML.CONVERT_IMAGE_TYPE) for gs://imgs/goldfish.jpg, but the model's input input is float32; feed the FLOAT64 image (values 0-1) instead"),
        "{msg}"
    );
}

#[test]
fn outer_names_are_resolved_before_any_row_is_predicted() {
    let e = env();
    tutorial(&e);
    // 60 copies of the photo: predicting them all takes seconds.
    for i in 0..60 {
        std::fs::copy(
            e.gcs.join("imgs/goldfish.jpg"),
            e.gcs.join(format!("imgs/g{i:02}.jpg")),
        )
        .unwrap();
    }
    let start = Instant::now();
    let msg = err(
        &e,
        &PREDICT.replace("SELECT class_label", "SELECT class_lable"),
    );
    let took = start.elapsed();
    assert!(
        msg.contains("Unrecognized name: class_lable; Did you mean class_label? at [1:8]"),
        "{msg}"
    );
    // A typo in the input query's select list fails as early, naming the table's column.
    let msg = err(
        &e,
        &PREDICT.replace("DECODE_IMAGE(data)", "DECODE_IMAGE(dta)"),
    );
    assert!(
        msg.contains("Unrecognized name: dta; Did you mean data?"),
        "{msg}"
    );
    // No row was decoded or predicted: a fraction of the real query's time.
    let start = Instant::now();
    ok(&e, PREDICT);
    let full = start.elapsed();
    assert!(
        took * 2 < full,
        "the typo took {took:?}, the whole query {full:?}"
    );
}

#[test]
fn a_running_query_keeps_its_model_when_another_process_drops_it() {
    let e = env();
    tutorial(&e);
    let n = 240;
    for i in 1..n {
        std::fs::copy(
            e.gcs.join("imgs/goldfish.jpg"),
            e.gcs.join(format!("imgs/g{i:03}.jpg")),
        )
        .unwrap();
    }
    let start = Instant::now();
    let whole = ok(&e, PREDICT);
    let full = start.elapsed();
    assert_eq!(whole.lines().count(), n + 1);

    let mut child = command(&e, &["query", "--format", "csv", PREDICT])
        .spawn()
        .unwrap();
    std::thread::sleep(full / 3);
    let dropped = query(&e, "DROP MODEL ds.m");
    assert!(dropped.status.success());
    assert!(
        child.try_wait().unwrap().is_none(),
        "the query ended before the model was dropped ({full:?} for the whole query)"
    );
    let out = wait_within(child, Duration::from_secs(120), PREDICT);
    assert!(
        out.status.success(),
        "the query failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), whole);
    // The drop happened while the query ran (else this test proves nothing).
    assert!(err(&e, PREDICT).contains("Not found: Model ds.m"));
}

/// A 1×1 RGB PNG whose `iCCP` chunk inflates to `profile_bytes` zero bytes.
fn png_with_huge_icc_profile(profile_bytes: usize) -> Vec<u8> {
    use std::io::Write;
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in bytes {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    let zlib = |data: &[u8], total: usize| {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        let mut left = total;
        while left > 0 {
            let n = left.min(data.len());
            z.write_all(&data[..n]).unwrap();
            left -= n;
        }
        z.finish().unwrap()
    };
    let mut iccp = b"icc\0\0".to_vec();
    iccp.extend(zlib(&vec![0u8; 1 << 20], profile_bytes));
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]);
    chunk(&mut png, b"iCCP", &iccp);
    chunk(&mut png, b"IDAT", &zlib(&[0, 10, 20, 30], 4));
    chunk(&mut png, b"IEND", &[]);
    png
}

#[test]
fn a_png_colour_profile_bomb_decodes_in_bounded_memory() {
    let e = env();
    let png = png_with_huge_icc_profile(2 << 30);
    assert!(png.len() < 3_000_000, "{} bytes", png.len());
    std::fs::write(e.gcs.join("imgs/bomb.png"), &png).unwrap();
    ok(&e, "CREATE SCHEMA ds");
    object_table(&e, "ds.t", "gs://imgs/bomb.png");
    // Under a 1 GiB address-space limit: inflating the profile would need 2 GiB.
    let sql = "SELECT uri, ML.DECODE_IMAGE(data) AS image FROM ds.t";
    let child = Command::new("prlimit")
        .arg(format!("--as={}", 1u64 << 30))
        .arg(env!("CARGO_BIN_EXE_bqmlc"))
        .args(["query", "--format", "csv", sql])
        .env("BQMLC_DATA_DIR", &e.data)
        .env("BQMLC_GCS_ROOT", &e.gcs)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("prlimit (util-linux)");
    let out = wait_within(child, Duration::from_secs(60), sql);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("gs://imgs/bomb.png,")
            && text.contains("[1,1,3],\"\"_field_2\"\":[0.0392156"),
        "{text}"
    );
}

#[test]
fn catalog_files_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let e = env();
    let run = |sql: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg("umask 000 && exec \"$0\" query \"$1\"")
            .arg(env!("CARGO_BIN_EXE_bqmlc"))
            .arg(sql)
            .env("BQMLC_DATA_DIR", &e.data)
            .env("BQMLC_GCS_ROOT", &e.gcs)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run("CREATE SCHEMA ds");
    run("CREATE MODEL ds.m OPTIONS (MODEL_TYPE = 'ONNX', MODEL_PATH = 'gs://models/m.onnx')");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let mut files = 0;
    let mut stack = vec![e.data.clone()];
    while let Some(dir) = stack.pop() {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                assert_eq!(mode(&p), 0o600, "{}", p.display());
                files += 1;
            }
        }
    }
    // catalog.json, LOCK, staging/LOCK, the model copy and its library.
    assert!(files >= 5, "{files} files");
}

#[test]
fn early_binding_does_not_evaluate_placeholder_rows() {
    let e = env();
    tutorial(&e);
    let inner = PREDICT.replace("SELECT class_label FROM ", "");
    assert_eq!(
        ok(
            &e,
            &format!("SELECT 1 / COUNT(*) AS r FROM {inner} HAVING 1 / COUNT(*) > 0")
        ),
        "r\n1.0\n"
    );
    let msg = err(
        &e,
        &format!("SELECT COUNT(*) FROM {inner} HAVING COUNT(class_lable) > 0"),
    );
    assert!(msg.contains("Did you mean class_label?"), "{msg}");
}

/// Peak resident memory (KiB) of `bqmlc query --format FORMAT SQL`, whose output is
/// discarded; fails the test if the query fails.
// The child is reaped by `wait4` (which also reports its peak memory), not `Child::wait`.
#[allow(clippy::zombie_processes)]
fn peak_rss_kib(e: &Env, format: &str, sql: &str) -> i64 {
    use std::os::unix::process::ExitStatusExt;
    let child = command(e, &["query", "--format", format, sql])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: `rusage` is plain data (all-zero is valid); wait4 writes one status and one
    // `rusage` through the pointers, both valid for the call, for our own child.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        let pid = libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage);
        assert_eq!(pid, child.id() as libc::pid_t, "wait4");
        usage
    };
    assert!(
        std::process::ExitStatus::from_raw(status).success(),
        "{sql} failed ({format})"
    );
    usage.ru_maxrss
}

#[test]
fn select_star_over_predict_streams_in_bounded_memory() {
    let e = env();
    tutorial(&e);
    let sql = |n: usize| {
        format!(
            "SELECT * FROM ML.PREDICT(MODEL ds.m, (SELECT uri, ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 224, 224, FALSE) AS input FROM ds.imgs LIMIT {n}))"
        )
    };
    for i in 1..200 {
        std::fs::hard_link(
            e.gcs.join("imgs/goldfish.jpg"),
            e.gcs.join(format!("imgs/g{i:03}.jpg")),
        )
        .unwrap();
    }
    // Each row carries a 224×224×3 image and 1,000 probabilities (1.5 MB as CSV text):
    // 100 more rows held until the end would add well over 100 MB. (Both runs have full
    // 64-row pieces in flight.)
    for format in ["csv", "table"] {
        let few = peak_rss_kib(&e, format, &sql(100));
        let many = peak_rss_kib(&e, format, &sql(200));
        assert!(
            many < few + 48 * 1024,
            "{format}: peak RSS {few} KiB for 100 rows, {many} KiB for 200"
        );
    }
}

#[test]
fn sql_files_objects_and_catalogs_are_read_within_limits() {
    let e = env();
    // `-f /dev/zero`: refused after reading just past the SQL text limit.
    let child = command(&e, &["query", "-f", "/dev/zero"]).spawn().unwrap();
    let out = wait_within(child, Duration::from_secs(20), "query -f /dev/zero");
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        msg.contains(
            "cannot read /dev/zero: the SQL text is larger than the limit of 1048576 bytes"
        ),
        "{msg}"
    );

    // A FIFO among a bucket's objects is not an object: it is not listed (so its `data`
    // is never read; `LazyValue::force` refuses non-regular files as well).
    ok(&e, "CREATE SCHEMA ds");
    common::mkfifo(&e.gcs.join("imgs/pipe.jpg"));
    object_table(&e, "ds.t", "gs://imgs/*");
    assert_eq!(
        ok(
            &e,
            "SELECT uri FROM ds.t WHERE ML.DECODE_IMAGE(data) IS NOT NULL"
        ),
        "uri\ngs://imgs/goldfish.jpg\n"
    );

    // A catalog file that is a FIFO: a clear error, no hang.
    let catalog = e.data.join("catalog.json");
    std::fs::remove_file(&catalog).unwrap();
    common::mkfifo(&catalog);
    let msg = err(&e, "SELECT 1 AS x FROM ds.t");
    assert!(
        msg.contains("cannot read catalog file") && msg.contains("FIFO"),
        "{msg}"
    );
}
