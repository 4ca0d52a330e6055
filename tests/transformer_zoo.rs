//! Transformers the compiler was not written against: `tools/transformer_zoo.py` builds a ViT
//! at opset 13 (LayerNorm written out, exporter shape arithmetic, fused QKV) and a windowed
//! (Swin-like) attention model at opset 17 (relative-position bias, shifted-window mask added
//! through a per-window view, tanh GELU) with a
//! symbolic batch, and ONNX Runtime computes their outputs. Each runs at batch 2 on the
//! reference interpreter and the jit; the optimised graphs must show the fused transformer ops.

use crate::common::run_tool;
use compiler::{load_file, ImportOptions};
use runtime::npy;

/// What the optimised graph of one model must show.
struct Expect {
    name: &'static str,
    /// Fused ops that must appear at least this often.
    present: &'static [(&'static str, usize)],
    /// Ops that must be gone.
    absent: &'static [&'static str],
}

#[test]
fn transformer_zoo_matches_onnxruntime_and_fuses_attention_and_layer_norm() {
    let dir = std::env::temp_dir().join(format!("bqmlc-transformer-zoo-{}", std::process::id()));
    run_tool("transformer_zoo.py", &[dir.as_os_str()]);
    let expect = [
        Expect {
            name: "vit_op13",
            present: &[
                ("ScaledDotAttention", 2),
                ("LayerNormalization", 5),
                ("Linear", 9),
            ],
            absent: &["Softmax", "Erf", "Sqrt", "MatMul"],
        },
        Expect {
            name: "swin_op17",
            present: &[
                ("ScaledDotAttention", 2),
                ("LayerNormalization", 5),
                ("Linear", 9),
            ],
            absent: &["Softmax", "Tanh", "Pow", "MatMul"],
        },
    ];
    let mut failures = Vec::new();
    for Expect {
        name,
        present,
        absent,
    } in expect
    {
        let x = npy::read(&dir.join(format!("{name}.input.npy"))).unwrap();
        let want = npy::read(&dir.join(format!("{name}.output.npy"))).unwrap();
        let opts = ImportOptions {
            input_shapes: [("x".to_string(), x.shape().to_vec())].into(),
            ..Default::default()
        };
        let g = load_file(&dir.join(format!("{name}.onnx")), &opts).unwrap();
        let mut opt = g.clone();
        compiler::passes::optimize(&mut opt).unwrap();
        let count = |op: &str| opt.nodes.iter().filter(|n| n.op.op_type() == op).count();
        for &(op, n) in present {
            if count(op) < n {
                failures.push(format!("{name}: {} {op}, expected at least {n}", count(op)));
            }
        }
        for op in absent {
            if count(op) > 0 {
                failures.push(format!(
                    "{name}: {} {op} left after optimisation",
                    count(op)
                ));
            }
        }
        let reference = compiler::reference::run(&g, &[("x", &x)]).map_err(|e| e.to_string());
        let jit = compiler::compile(g)
            .map_err(|e| e.to_string())
            .and_then(|m| {
                let mut st = m.new_state(2);
                m.predict(&mut st, &[&x])
            });
        let scale = want.to_f64_vec().iter().fold(0f64, |m, v| m.max(v.abs()));
        for (backend, got) in [("reference", reference), ("jit", jit)] {
            match got {
                Err(e) => failures.push(format!("{name} ({backend}): {e}")),
                Ok(y) => {
                    let d = y[0]
                        .to_f64_vec()
                        .iter()
                        .zip(want.to_f64_vec())
                        .fold(0f64, |m, (a, b)| m.max((a - b).abs()));
                    if y[0].shape() != want.shape() || d > 1e-4 * scale {
                        failures.push(format!(
                            "{name} ({backend}): max |Δ| {d:e} (scale {scale:e})"
                        ));
                    }
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{failures:#?}");
}
