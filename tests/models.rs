//! Real models on the reference interpreter against ONNX Runtime's outputs in
//! `shared/models/reference/`.

use std::path::PathBuf;

use compiler::conformance::shared_dir;
use compiler::{load_file, reference, ImportOptions};
use runtime::{npy, Tensor};

fn models() -> PathBuf {
    shared_dir().join("models")
}

fn run(model: &str, input: &Tensor) -> Vec<Tensor> {
    let g = load_file(&models().join(model), &ImportOptions::default()).unwrap();
    reference::run(&g, &[("input", input)]).unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.shape(), b.shape());
    a.to_f64_vec()
        .iter()
        .zip(b.to_f64_vec())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn resnet18_probs_matches_onnxruntime_and_tutorial_labels() {
    let refdir = models().join("reference");
    let probs_model = load_file(
        &models().join("resnet18_probs.onnx"),
        &ImportOptions::default(),
    )
    .unwrap();
    let label_model = load_file(
        &models().join("resnet18_tutorial.onnx"),
        &ImportOptions::default(),
    )
    .unwrap();
    for i in 0..4 {
        let input = npy::read(&refdir.join(format!("input_{i}.npy"))).unwrap();
        let probs = reference::run(&probs_model, &[("input", &input)]).unwrap();
        let want = npy::read(&refdir.join(format!("probs_{i}.npy"))).unwrap();
        let d = max_abs_diff(&probs[0], &want);
        assert!(d <= 1e-6, "input_{i}: max |Δprobs| = {d:e}");
        let label = reference::run(&label_model, &[("input", &input)]).unwrap();
        let want = npy::read(&refdir.join(format!("class_label_{i}.npy"))).unwrap();
        assert_eq!(label[0], want, "input_{i}: class_label");
    }
}

#[test]
fn efficientnet_lite0_goldfish_matches_onnxruntime() {
    let refdir = models().join("reference");
    let input = npy::read(&refdir.join("efficientnet_lite0_goldfish_input.npy")).unwrap();
    let probs = run("efficientnet_lite0_probs.onnx", &input);
    let want = npy::read(&refdir.join("efficientnet_lite0_goldfish_probs.npy")).unwrap();
    let d = max_abs_diff(&probs[0], &want);
    assert!(d <= 1e-6, "max |Δprobs| = {d:e}");
    let label = run("efficientnet_lite0_tutorial.onnx", &input);
    assert_eq!(
        label[0].as_i64().unwrap(),
        &[1],
        "goldfish is ImageNet class 1"
    );
}
