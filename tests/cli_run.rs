//! `bqmlc run` is the contract other work builds on: it must run every conformance folder's
//! model from its `.pb` inputs and write outputs that match the expected `.pb` outputs.

use std::path::Path;
use std::process::Command;

use compiler::conformance::{compare, manifest, read_data_set, shared_dir};

fn run_folder(dir: &Path, backend: &str, out: &Path) -> Result<(), String> {
    let model = dir.join("model.onnx");
    let proto = compiler::import::decode(&std::fs::read(&model).unwrap()).unwrap();
    let g = proto.graph.unwrap();
    let inits: Vec<&str> = g.initializer.iter().map(|t| t.name()).collect();
    let inputs: Vec<&str> = g
        .input
        .iter()
        .map(|v| v.name())
        .filter(|n| !inits.contains(n))
        .collect();
    let set = dir.join("test_data_set_0");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bqmlc"));
    cmd.args([
        "run",
        model.to_str().unwrap(),
        "--backend",
        backend,
        "--output-dir",
        out.to_str().unwrap(),
    ]);
    for (i, name) in inputs.iter().enumerate() {
        cmd.arg("--input").arg(format!(
            "{name}={}",
            set.join(format!("input_{i}.pb")).display()
        ));
    }
    let o = cmd.output().unwrap();
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    let expected = read_data_set(&set)?.outputs;
    for (v, want) in g.output.iter().zip(&expected) {
        let file = out.join(format!("{}.npy", v.name().replace('/', "_")));
        let got = runtime::npy::read(&file)?;
        compare(&got, want).map_err(|e| format!("output {}: {e}", v.name()))?;
    }
    Ok(())
}

#[test]
fn run_handles_every_conformance_folder_on_both_backends() {
    let tmp = std::env::temp_dir().join(format!("bqmlc-cli-run-{}", std::process::id()));
    let mut failures = Vec::new();
    let mut count = 0;
    for m in [
        "onnx-node-tests/MANIFEST-core.txt",
        "onnx-pytorch-tests/MANIFEST.txt",
    ] {
        let path = shared_dir().join(m);
        let root = path.parent().unwrap().to_path_buf();
        for name in manifest(&path).unwrap() {
            for backend in ["reference", "jit"] {
                let out = tmp.join(&name).join(backend);
                if let Err(e) = run_folder(&root.join(&name), backend, &out) {
                    failures.push(format!("{name} ({backend}): {e}"));
                }
                count += 1;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert_eq!(count, 626);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn compare_ort_without_onnxruntime_says_how_to_install_it() {
    let model = shared_dir().join("onnx-node-tests/test_relu/model.onnx");
    let o = Command::new(env!("CARGO_BIN_EXE_bqmlc"))
        .args([
            "bench",
            model.to_str().unwrap(),
            "--compare-ort",
            "--python",
            "/nonexistent/python3",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("ONNX Runtime is needed for --compare-ort: install it with"),
        "{err}"
    );
    assert!(err.contains("pip install onnxruntime numpy"), "{err}");
}

/// `--compare-ort` against the test venv's ONNX Runtime: blocks of each side in turn with
/// ONNX Runtime configured as `shared/tools/bench_ort.py` (options printed), one ratio per
/// round, and the JSON summary.
#[test]
fn compare_ort_alternates_blocks_and_prints_ort_options() {
    let python = std::env::var("BQMLC_PYTHON")
        .expect("BQMLC_PYTHON names the test venv's python (scripts/test sets it)");
    let model = shared_dir().join("onnx-node-tests/test_relu/model.onnx");
    let o = Command::new(env!("CARGO_BIN_EXE_bqmlc"))
        .args([
            "bench",
            model.to_str().unwrap(),
            "--backend",
            "jit",
            "--compare-ort",
            "--runs",
            "3",
            "--warmup",
            "1",
            "--json",
            "--python",
            &python,
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("ONNX Runtime session: intra_op_num_threads=1 inter_op_num_threads=1 execution_mode=sequential graph_optimization_level=all allow_spinning=default"),
        "{out}"
    );
    // Both sides start each block warm, so neither pays for the pause before it.
    assert!(
        out.contains("each side's block after 2 untimed runs"),
        "{out}"
    );
    let rounds: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("round"))
        .skip(1)
        .take_while(|l| !l.starts_with("median"))
        .collect();
    assert_eq!(rounds.len(), 3, "{out}");
    for r in rounds {
        let v: Vec<f64> = r.split_whitespace().map(|x| x.parse().unwrap()).collect();
        // round, bqmlc ms, ORT ms (printed to 3 decimals: a Relu can show 0.000), ratio.
        assert!(
            v[0] >= 0.0 && v[1] >= 0.0 && v[2] > 0.0 && v[3] > 0.0,
            "{r}"
        );
    }
    let json = out.lines().last().unwrap();
    assert!(json.contains("\"ratio_ort_over_bqmlc\":"), "{json}");
}

#[test]
fn bench_json_last_line_has_the_documented_keys() {
    let model = shared_dir().join("onnx-node-tests/test_relu/model.onnx");
    for backend in ["reference", "jit"] {
        let o = Command::new(env!("CARGO_BIN_EXE_bqmlc"))
            .args([
                "bench",
                model.to_str().unwrap(),
                "--backend",
                backend,
                "--runs",
                "3",
                "--warmup",
                "1",
                "--json",
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let out = String::from_utf8_lossy(&o.stdout);
        let last = out.lines().last().unwrap();
        assert!(last.starts_with('{') && last.ends_with('}'), "{last}");
        for key in [
            "model",
            "backend",
            "threads",
            "runs",
            "median_ms",
            "min_ms",
            "p90_ms",
            "compile_ms",
            "gflop",
            "gflops",
            "peak_rss_mib",
        ] {
            assert!(
                last.contains(&format!("\"{key}\":")),
                "{key} missing in {last}"
            );
        }
        assert!(
            last.contains(&format!("\"backend\":\"{backend}\"")),
            "{last}"
        );
    }
}
