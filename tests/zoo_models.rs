//! The zoo architectures in `shared/models/zoo/` (MobileNetV3-Large, GoogLeNet, ViT-Ti/16;
//! random weights, logits output) on the JIT against ONNX Runtime: the stored batch-1
//! references, and for the ViT (symbolic batch `N`) a batch of 4 that ONNX Runtime computes
//! here (`tools/ort_run.py`). Bar: max |Δlogits| ≤ 1e-4 × max |logit|, same argmax per row.

use std::path::PathBuf;

use crate::common::run_tool;
use compiler::conformance::shared_dir;
use compiler::{load_file, ImportOptions};
use runtime::{npy, Tensor};

fn zoo() -> PathBuf {
    shared_dir().join("models/zoo")
}

/// JIT logits of `model` for `input` (its batch specialises the graph), on `threads` threads.
fn jit_logits(model: &str, input: &Tensor, threads: usize) -> Tensor {
    let opts = ImportOptions {
        input_shapes: [("input".to_string(), input.shape().to_vec())].into(),
        ..Default::default()
    };
    let g = load_file(&zoo().join(model), &opts).unwrap();
    let m = compiler::compile(g).unwrap();
    let mut st = m.new_state(threads);
    m.predict(&mut st, &[input]).unwrap().remove(0)
}

/// Asserts the bar above, row by row.
fn assert_logits_close(name: &str, got: &Tensor, want: &Tensor) {
    assert_eq!(got.shape(), want.shape(), "{name}: shape");
    let cols = *want.shape().last().unwrap();
    let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
    for (r, (gr, wr)) in g.chunks(cols).zip(w.chunks(cols)).enumerate() {
        let scale = wr.iter().fold(0f64, |m, v| m.max(v.abs()));
        let d = gr
            .iter()
            .zip(wr)
            .fold(0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            d <= 1e-4 * scale,
            "{name} row {r}: max |Δ| {d:e} > 1e-4 × {scale:e}"
        );
        let argmax = |v: &[f64]| (0..v.len()).max_by(|&i, &j| v[i].total_cmp(&v[j]));
        assert_eq!(argmax(gr), argmax(wr), "{name} row {r}: argmax");
    }
}

fn check_stored_reference(stem: &str) {
    let refdir = zoo().join("reference");
    let input = npy::read(&refdir.join(format!("{stem}_input.npy"))).unwrap();
    let want = npy::read(&refdir.join(format!("{stem}_logits.npy"))).unwrap();
    for threads in [1, 2] {
        let got = jit_logits(&format!("{stem}.onnx"), &input, threads);
        assert_logits_close(&format!("{stem} ({threads} threads)"), &got, &want);
    }
}

#[test]
fn jit_mobilenet_v3_large_matches_onnxruntime() {
    check_stored_reference("mobilenet_v3_large");
}

#[test]
fn jit_googlenet_matches_onnxruntime() {
    check_stored_reference("googlenet");
}

#[test]
fn jit_vit_tiny_matches_onnxruntime() {
    check_stored_reference("vit_tiny_16");
}

#[test]
fn jit_vit_tiny_batch_4_matches_onnxruntime() {
    let refdir = zoo().join("reference");
    let one = npy::read(&refdir.join("vit_tiny_16_input.npy")).unwrap();
    let one = one.as_f32().unwrap();
    // Row 0 is the stored input; rows 1..3 are other images (affine variants of it).
    let mut data = Vec::with_capacity(one.len() * 4);
    for k in 0..4 {
        data.extend(one.iter().enumerate().map(|(i, &v)| {
            if k == 0 {
                v
            } else {
                (v * (1.0 + k as f32 * 0.25) + ((i * k) % 7) as f32 * 0.05).fract()
            }
        }));
    }
    let input = Tensor::f32(vec![4, 224, 224, 3], data);
    let dir = std::env::temp_dir().join(format!("bqmlc-vit-b4-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (inp, out) = (dir.join("input.npy"), dir.join("logits.npy"));
    npy::write(&inp, &input).unwrap();
    run_tool(
        "ort_run.py",
        &[
            zoo().join("vit_tiny_16.onnx").as_os_str(),
            inp.as_os_str(),
            out.as_os_str(),
        ],
    );
    let want = npy::read(&out).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    for threads in [1, 2] {
        let got = jit_logits("vit_tiny_16.onnx", &input, threads);
        assert_logits_close(&format!("vit batch 4 ({threads} threads)"), &got, &want);
    }
}
