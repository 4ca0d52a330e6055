//! Quick conformance loop for op work: runs every test of a manifest on the reference
//! interpreter and prints one line per test; fails listing the failures.
//! `BQMLC_ONLY=substr` restricts to matching test names. The full, per-case suite
//! (generated per manifest and backend) lives in the root package's `tests/`.

use compiler::conformance::{manifest, reference_backend, run_case, shared_dir};

fn run_manifest(rel: &str) -> (usize, Vec<String>) {
    let path = shared_dir().join(rel);
    let root = path.parent().unwrap().to_path_buf();
    let only = std::env::var("BQMLC_ONLY").ok();
    let mut passed = 0;
    let mut failed = Vec::new();
    for name in manifest(&path).unwrap() {
        if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        match run_case(&root.join(&name), &reference_backend) {
            Ok(d) => {
                passed += 1;
                println!("ok   {name} (max |Δ| {d:.2e})");
            }
            Err(e) => {
                println!("FAIL {name}: {e}");
                failed.push(format!("{name}: {e}"));
            }
        }
    }
    (passed, failed)
}

#[test]
fn node_manifests_on_reference() {
    let mut all_failed = Vec::new();
    for m in [
        "onnx-node-tests/MANIFEST-core.txt",
        "onnx-pytorch-tests/MANIFEST.txt",
    ] {
        let (p, f) = run_manifest(m);
        println!("{m}: {p} passed, {} failed", f.len());
        all_failed.extend(f);
    }
    assert!(
        all_failed.is_empty(),
        "{} failures:\n{}",
        all_failed.len(),
        all_failed.join("\n")
    );
}
