//! Architectures the compiler was not written against: `tools/cnn_zoo.py` builds small CNNs in
//! the shapes of MobileNetV3, EfficientNet, ShuffleNet, SqueezeNet, RegNet and MnasNet at
//! opsets 11, 13 and 17 with a symbolic batch dimension, and ONNX Runtime computes their
//! outputs. Each model runs specialised to batch 2 on the reference interpreter and the jit.

use crate::common::run_tool;
use compiler::{load_file, ImportOptions};
use runtime::npy;

#[test]
fn cnn_zoo_matches_onnxruntime_on_both_backends() {
    let dir = std::env::temp_dir().join(format!("bqmlc-cnn-zoo-{}", std::process::id()));
    let stdout = run_tool("cnn_zoo.py", &[dir.as_os_str()]);
    let names: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect();
    assert_eq!(names.len(), 18, "{names:?}");
    let mut failures = Vec::new();
    for name in &names {
        let x = npy::read(&dir.join(format!("{name}.input.npy"))).unwrap();
        let want = npy::read(&dir.join(format!("{name}.output.npy"))).unwrap();
        let opts = ImportOptions {
            input_shapes: [("x".to_string(), x.shape().to_vec())].into(),
            ..Default::default()
        };
        let g = match load_file(&dir.join(format!("{name}.onnx")), &opts) {
            Ok(g) => g,
            Err(e) => {
                failures.push(format!("{name}: import: {e}"));
                continue;
            }
        };
        let reference = compiler::reference::run(&g, &[("x", &x)]).map_err(|e| e.to_string());
        let jit = compiler::compile(g)
            .map_err(|e| e.to_string())
            .and_then(|m| {
                let mut st = m.new_state(2);
                m.predict(&mut st, &[&x])
            });
        for (backend, got) in [("reference", reference), ("jit", jit)] {
            match got {
                Err(e) => failures.push(format!("{name} ({backend}): {e}")),
                Ok(y) => {
                    let d = y[0]
                        .to_f64_vec()
                        .iter()
                        .zip(want.to_f64_vec())
                        .map(|(a, b)| (a - b).abs())
                        .fold(0.0, f64::max);
                    if y[0].shape() != want.shape() || d > 1e-5 {
                        failures.push(format!(
                            "{name} ({backend}): shape {:?} vs {:?}, max |Δ| {d:e}",
                            y[0].shape(),
                            want.shape()
                        ));
                    }
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
