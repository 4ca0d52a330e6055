//! Generates one `#[test]` per conformance case and backend from the manifests under the
//! shared fixtures (`$BQMLC_SHARED`, default `../shared`), included by `tests/conformance.rs`.

use std::fmt::Write;
use std::path::PathBuf;

/// (module name, manifest path relative to the shared folder).
const MANIFESTS: &[(&str, &str)] = &[
    ("node_core", "onnx-node-tests/MANIFEST-core.txt"),
    ("pytorch", "onnx-pytorch-tests/MANIFEST.txt"),
    (
        "node_transformer",
        "onnx-node-tests/MANIFEST-transformer.txt",
    ),
];

/// Cases known not to pass yet: `tests/conformance-pending.txt`, lines `<backend> <case> <why>`
/// where backend `jit` stands for every JIT tier. Such a case runs as a test that asserts it
/// still fails (a strict expected failure), so a fixed case must leave the list.
fn pending() -> Vec<(String, String)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance-pending.txt");
    println!("cargo:rerun-if-changed={}", path.display());
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?.to_string(), words.next()?.to_string()))
        })
        .collect()
}

/// Backends every case runs on, whatever the CPU.
const BACKENDS: &[&str] = &["reference", "jit"];

/// JIT backends pinned to one kernel tier: (backend, tier, whether this CPU has it). The
/// build script runs on the machine the tests run on.
fn tier_backends() -> Vec<(&'static str, &'static str, bool)> {
    #[cfg(target_arch = "x86_64")]
    let (avx2, avx512) = (
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"),
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512dq")
            && std::is_x86_feature_detected!("avx512vl"),
    );
    #[cfg(not(target_arch = "x86_64"))]
    let (avx2, avx512) = (false, false);
    vec![
        ("jit_portable", "Portable", true),
        ("jit_avx2", "Avx2Fma", avx2),
        ("jit_avx512", "Avx512", avx2 && avx512),
    ]
}

fn main() {
    let shared = std::env::var_os("BQMLC_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    println!("cargo:rerun-if-env-changed=BQMLC_SHARED");
    let mut out = String::new();
    let pending = pending();
    let mut backends: Vec<&str> = BACKENDS.to_vec();
    for (backend, tier, available) in tier_backends() {
        if available {
            backends.push(backend);
        } else {
            writeln!(
                out,
                "#[test] fn {backend}_tier_not_exercised_on_this_cpu() {{ \
                 assert!(!kernels::Isa::{tier}.is_available(), \"the build found no {tier} but the CPU has it\"); }}"
            )
            .unwrap();
        }
    }
    for backend in backends {
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
                        let family = if backend.starts_with("jit") {
                            "jit"
                        } else {
                            backend
                        };
                        let check = if pending.iter().any(|(b, n)| b == family && n == name) {
                            "check_pending"
                        } else {
                            "check"
                        };
                        writeln!(
                            out,
                            "    #[test] fn {name}() {{ crate::conformance::{check}(\"{backend}\", \"{dir}\", \"{name}\"); }}"
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
