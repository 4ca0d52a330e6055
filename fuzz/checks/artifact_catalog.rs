//! The readers of files bqmlc keeps between runs: the AOT artifact's metadata block (and the
//! scan that finds it in a library) and the catalog file of a data directory. The first byte
//! picks the reader. Oracles: a metadata block that parses prints back to the same block;
//! a catalog that loads names only files inside its data directory.
//!
//! Shared by the fuzz target and `tests/fuzz_regressions.rs`.

use std::sync::OnceLock;

use runtime::artifact::{find_meta, ArtifactMeta};
use sqlfront::catalog::Catalog;

fn data_dir() -> &'static std::path::Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"))
        .path()
}

/// Runs the target on one input; panics on a finding.
pub fn check(data: &[u8]) {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    if which & 1 == 0 {
        if let Ok(meta) = ArtifactMeta::parse(bytes) {
            let again = ArtifactMeta::parse(&meta.to_bytes()).expect("own metadata block");
            assert_eq!(again, meta);
        }
        let _ = find_meta(bytes);
    } else {
        let dir = data_dir();
        std::fs::write(dir.join("catalog.json"), bytes).expect("write catalog file");
        let Ok(catalog) = Catalog::open(dir) else {
            return;
        };
        if let Ok(state) = catalog.snapshot() {
            for ds in state.datasets.values() {
                for m in ds.models.values() {
                    let _ = catalog.model_file(m);
                }
            }
        }
    }
}
