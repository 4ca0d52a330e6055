//! Kills a writer process at random moments and checks the catalog is always either the
//! old or the new state; runs concurrent writers and checks no update is lost.
//!
//! The child is this same test binary re-run on one test with `CRASH_CHILD_DIR` set.

use sqlfront::catalog::{Catalog, ModelEntry, TableEntry, TableKind};
use sqlfront::model_import::ModelMeta;
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD_DIR: &str = "CRASH_CHILD_DIR";
const CHILD_ROUNDS: &str = "CRASH_CHILD_ROUNDS";

fn meta() -> ModelMeta {
    ModelMeta {
        ir_version: 8,
        producer_name: "test".into(),
        producer_version: String::new(),
        opsets: vec![],
        inputs: vec![],
        outputs: vec![],
    }
}

fn table() -> TableEntry {
    TableEntry {
        created_ms: 0,
        kind: TableKind::Csv,
        columns: vec![],
        uris: vec![],
        connection: None,
        skip_leading_rows: 0,
        max_staleness: None,
        metadata_cache_mode: None,
        description: None,
        files: vec![],
    }
}

/// One step: counter n → n+1, with exactly (n+1) % 5 tables and a model whose file
/// holds the counter, so a torn state is detectable; and a table file staged before the
/// update (as CREATE TABLE … AS and INSERT do) that the update appends to `ds2.stored`.
fn step(cat: &Catalog) -> u64 {
    let (staged, ()) = cat
        .stage_table_file(|mut f| {
            use std::io::Write;
            f.write_all(&[7u8; 30_000])
                .map_err(|e| sqlfront::SqlError::io("table file", e))
        })
        .unwrap();
    cat.update(|s, files| {
        let stored = s
            .datasets
            .entry("ds2".into())
            .or_default()
            .tables
            .entry("stored".into())
            .or_insert_with(table);
        stored.files.push(files.commit_table_file(staged)?);
        let ds = s.datasets.entry("ds".into()).or_default();
        let n: u64 = ds.description.as_deref().unwrap_or("0").parse().unwrap();
        let next = n + 1;
        ds.description = Some(next.to_string());
        ds.tables.clear();
        for k in 0..next % 5 {
            ds.tables.insert(format!("t{k}"), table());
        }
        let body = format!("model {next} {}", "x".repeat(20_000));
        let file = files.store(body.as_bytes())?;
        ds.models.insert(
            "m".into(),
            ModelEntry {
                created_ms: 0,
                model_path: next.to_string(),
                file,
                size: body.len() as u64,
                kms_key_name: None,
                meta: meta(),
                compiled: None,
            },
        );
        Ok(next)
    })
    .unwrap()
}

/// Checks the invariants of `step`; returns the counter.
fn check(cat: &Catalog) -> u64 {
    let s = cat.snapshot().expect("catalog must load");
    let Some(ds) = s.datasets.get("ds") else {
        return 0;
    };
    let n: u64 = ds.description.as_deref().unwrap().parse().unwrap();
    assert_eq!(ds.tables.len() as u64, n % 5, "torn table set at {n}");
    let m = &ds.models["m"];
    assert_eq!(m.model_path, n.to_string());
    let body = std::fs::read_to_string(cat.model_file(m)).expect("model file must exist");
    assert!(
        body.starts_with(&format!("model {n} ")),
        "model file of another state"
    );
    assert_eq!(body.len() as u64, m.size);
    let stored = &s.datasets["ds2"].tables["stored"];
    assert_eq!(stored.files.len() as u64, n, "torn file list at {n}");
    for f in &stored.files {
        let len = std::fs::metadata(cat.dir().join(f))
            .expect("table file must exist")
            .len();
        assert_eq!(len, 30_000, "table file {f} is torn");
    }
    n
}

fn child_mode() -> bool {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return false;
    };
    let cat = Catalog::open(dir).unwrap();
    let rounds: u64 = std::env::var(CHILD_ROUNDS)
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(u64::MAX);
    for _ in 0..rounds {
        step(&cat);
    }
    true
}

fn spawn_child(test: &str, dir: &std::path::Path, rounds: Option<u64>) -> std::process::Child {
    // Test names are module paths below the test crate: `catalog_crash::<test>`.
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let name = format!("{module}::{test}");
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([name.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(r) = rounds {
        c.env(CHILD_ROUNDS, r.to_string());
    }
    c.spawn().unwrap()
}

/// Cheap jitter without a random-number crate.
fn jitter_ms(i: u32) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    // 10..210 ms: long enough for the child to start and commit on a loaded machine,
    // spread so kills land at different points of a write.
    10 + (nanos
        .wrapping_mul(6364136223846793005)
        .wrapping_add(i as u64)
        >> 33)
        % 200
}

#[test]
fn sigkill_mid_write_leaves_old_or_new_state() {
    if child_mode() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cat = Catalog::open(tmp.path()).unwrap();
    let mut last = 0;
    let mut progressed = 0;
    for round in 0..12 {
        let mut child = spawn_child(
            "sigkill_mid_write_leaves_old_or_new_state",
            tmp.path(),
            None,
        );
        std::thread::sleep(Duration::from_millis(jitter_ms(round)));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let n = check(&cat);
        assert!(n >= last, "counter went back from {last} to {n}");
        if n > last {
            progressed += 1;
        }
        last = n;
    }
    assert!(progressed > 0, "the child never committed anything");
    // A later update still works and sweeps files the killed writers left behind.
    let n = step(&cat);
    assert_eq!(check(&cat), n);
    assert_eq!(
        std::fs::read_dir(tmp.path().join("models"))
            .unwrap()
            .count(),
        1
    );
    assert_eq!(
        std::fs::read_dir(tmp.path().join("tables"))
            .unwrap()
            .count() as u64,
        n
    );
}

#[test]
fn concurrent_writers_lose_no_update() {
    if child_mode() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cat = Catalog::open(tmp.path()).unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| spawn_child("concurrent_writers_lose_no_update", tmp.path(), Some(15)))
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(check(&cat), 45);
}
