//! Replays every input the fuzzers found (`fuzz/regressions/TARGET/`) and the committed
//! minimised corpus (`fuzz/corpus-min/TARGET/`) through the same checks the fuzz targets
//! run (`fuzz/checks/`), so a finding that comes back fails the ordinary test suite.

use std::path::{Path, PathBuf};

#[path = "../fuzz/checks/artifact_catalog.rs"]
mod artifact_catalog;
#[path = "../fuzz/checks/image.rs"]
mod image;
#[path = "../fuzz/checks/onnx_compile.rs"]
mod onnx_compile;
#[path = "../fuzz/checks/sql.rs"]
mod sql;
#[path = "../fuzz/checks/tensor_readers.rs"]
mod tensor_readers;

/// The inputs kept for `target`, in name order.
fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files: Vec<PathBuf> = ["regressions", "corpus-min"]
        .iter()
        .filter_map(|d| std::fs::read_dir(root.join(d).join(target)).ok())
        .flatten()
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// CI builds the fuzz targets from `fuzz/Cargo.toml`: each file of `fuzz/fuzz_targets/`
/// must be one of its `[[bin]]`s (a manifest without them fails only there).
#[test]
fn every_fuzz_target_is_a_bin_of_the_fuzz_manifest() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let mut targets: Vec<String> = std::fs::read_dir(root.join("fuzz_targets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    targets.sort();
    assert_eq!(targets.len(), 5, "{targets:?}");
    for t in targets {
        let bin = format!("[[bin]]\nname = \"{t}\"\npath = \"fuzz_targets/{t}.rs\"");
        assert!(manifest.contains(&bin), "fuzz/Cargo.toml lacks:\n{bin}");
    }
}

/// Runs `check` on every kept input of `target`, naming the input that fails.
fn replay(target: &str, min_inputs: usize, check: fn(&[u8])) {
    let files = inputs(target);
    assert!(
        files.len() >= min_inputs,
        "{target}: {} kept inputs, expected at least {min_inputs}",
        files.len()
    );
    for f in &files {
        let data = std::fs::read(f).expect("read kept input");
        if let Err(e) = std::panic::catch_unwind(|| check(&data)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{target}: {} fails: {msg}", f.display());
        }
    }
    eprintln!("{target}: {} kept inputs replayed", files.len());
}

#[test]
fn tensor_readers_inputs_pass() {
    replay("tensor_readers", 1, tensor_readers::check);
}

#[test]
fn artifact_catalog_inputs_pass() {
    replay("artifact_catalog", 1, artifact_catalog::check);
}

#[test]
fn image_inputs_pass() {
    replay("image", 1, image::check);
}

#[test]
fn sql_inputs_pass() {
    replay("sql", 1, sql::check);
}

#[test]
fn onnx_compile_inputs_pass() {
    replay("onnx_compile", 1, onnx_compile::check);
}

/// The first finding: a `.npy` whose shape has a zero and dimensions whose product
/// overflows was refused as "too large" while the same tensor from a `.pb` was accepted.
#[test]
fn empty_npy_with_overflowing_dims_reads_as_empty() {
    let data = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/regressions/tensor_readers/npy-empty-shape-product-overflow"),
    )
    .expect("kept input");
    let t = compiler::conformance::tensor_pb_from_bytes(&data[1..])
        .expect("the .pb reader accepts it")
        .1;
    assert_eq!(t.len(), 0);
    let again = runtime::npy::parse(&runtime::npy::to_bytes(&t)).expect("the .npy reader too");
    assert_eq!(again.shape(), t.shape());
}
