//! Generates one `#[test]` per conformance case and backend from the manifests under the
//! shared fixtures (`$BQMLC_SHARED`, default `../shared`), included by `tests/conformance.rs`.

use std::fmt::Write;
use std::path::PathBuf;

/// (module name, manifest path relative to the shared folder).
const MANIFESTS: &[(&str, &str)] = &[
    ("node_core", "onnx-node-tests/MANIFEST-core.txt"),
    ("pytorch", "onnx-pytorch-tests/MANIFEST.txt"),
];

/// Backends every case runs on.
const BACKENDS: &[&str] = &["reference", "jit"];

fn main() {
    let shared = std::env::var_os("BQMLC_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    println!("cargo:rerun-if-env-changed=BQMLC_SHARED");
    let mut out = String::new();
    for backend in BACKENDS {
        writeln!(out, "mod {backend} {{").unwrap();
        for (module, rel) in MANIFESTS {
            let path = shared.join(rel);
            println!("cargo:rerun-if-changed={}", path.display());
            let dir = PathBuf::from(rel)
                .parent()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            writeln!(out, "  mod {module} {{").unwrap();
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    for name in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                        writeln!(
                            out,
                            "    #[test] fn {name}() {{ crate::check(\"{backend}\", \"{dir}\", \"{name}\"); }}"
                        )
                        .unwrap();
                    }
                }
                // Keep the failure visible at test time rather than silently generating nothing.
                Err(e) => writeln!(
                    out,
                    "    #[test] fn manifest_missing() {{ panic!(\"cannot read {}: {e}\"); }}",
                    path.display()
                )
                .unwrap(),
            }
            writeln!(out, "  }}").unwrap();
        }
        writeln!(out, "}}").unwrap();
    }
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("conformance_cases.rs");
    std::fs::write(dest, out).unwrap();
}
