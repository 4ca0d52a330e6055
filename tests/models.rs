//! Real models on the reference interpreter against ONNX Runtime's outputs in
//! `shared/models/reference/`.

use std::path::PathBuf;

use compiler::conformance::shared_dir;
use compiler::{load_file, reference, ConvAlgo, ImportOptions};
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

fn jit(model: &str) -> (runtime::CompiledModel, runtime::State) {
    let g = load_file(&models().join(model), &ImportOptions::default()).unwrap();
    let m = compiler::compile(g).unwrap();
    let s = m.new_state(1);
    (m, s)
}

#[test]
fn jit_resnet18_matches_onnxruntime_and_tutorial_labels_on_one_and_two_threads() {
    let refdir = models().join("reference");
    let (probs_model, mut st) = jit("resnet18_probs.onnx");
    let mut st2 = probs_model.new_state(2);
    let (label_model, mut lst) = jit("resnet18_tutorial.onnx");
    for i in 0..4 {
        let input = npy::read(&refdir.join(format!("input_{i}.npy"))).unwrap();
        let want = npy::read(&refdir.join(format!("probs_{i}.npy"))).unwrap();
        for state in [&mut st, &mut st2] {
            let probs = probs_model.predict(state, &[&input]).unwrap();
            let d = max_abs_diff(&probs[0], &want);
            assert!(d <= 1e-5, "input_{i}: max |Δprobs| = {d:e}");
        }
        let label = label_model.predict(&mut lst, &[&input]).unwrap();
        let want = npy::read(&refdir.join(format!("class_label_{i}.npy"))).unwrap();
        assert_eq!(label[0], want, "input_{i}: class_label");
    }
}

/// Every conv algorithm policy (direct everywhere, Winograd F(4×4) or F(2×2) on every 3×3
/// stride-1 layer, the per-layer default) stays within 1e-5 of ONNX Runtime's probabilities.
#[test]
fn jit_resnet18_every_conv_algo_within_1e_5() {
    let refdir = models().join("reference");
    let g = load_file(
        &models().join("resnet18_probs.onnx"),
        &ImportOptions::default(),
    )
    .unwrap();
    for algo in [
        ConvAlgo::Direct,
        ConvAlgo::Winograd,
        ConvAlgo::WinogradF2,
        ConvAlgo::Auto,
    ] {
        let opts = compiler::CompileOptions {
            conv_algo: algo,
            ..Default::default()
        };
        let (m, steps) = compiler::compile_with(g.clone(), &opts).unwrap();
        let wino = steps.iter().filter(|s| s.desc.contains("winograd")).count();
        assert_eq!(
            wino == 0,
            algo == ConvAlgo::Direct,
            "{algo:?}: {wino} Winograd steps"
        );
        let mut st = m.new_state(1);
        for i in 0..4 {
            let input = npy::read(&refdir.join(format!("input_{i}.npy"))).unwrap();
            let want = npy::read(&refdir.join(format!("probs_{i}.npy"))).unwrap();
            let probs = m.predict(&mut st, &[&input]).unwrap();
            let d = max_abs_diff(&probs[0], &want);
            eprintln!("{algo:?} input_{i}: max |Δprobs| = {d:e}");
            assert!(d <= 1e-5, "{algo:?} input_{i}: max |Δprobs| = {d:e}");
        }
    }
}

#[test]
fn jit_efficientnet_lite0_goldfish_matches_onnxruntime() {
    let refdir = models().join("reference");
    let input = npy::read(&refdir.join("efficientnet_lite0_goldfish_input.npy")).unwrap();
    let (m, mut st) = jit("efficientnet_lite0_probs.onnx");
    let probs = m.predict(&mut st, &[&input]).unwrap();
    let want = npy::read(&refdir.join("efficientnet_lite0_goldfish_probs.npy")).unwrap();
    let d = max_abs_diff(&probs[0], &want);
    assert!(d <= 1e-5, "max |Δprobs| = {d:e}");
    let (m, mut st) = jit("efficientnet_lite0_tutorial.onnx");
    assert_eq!(
        m.predict(&mut st, &[&input]).unwrap()[0].as_i64().unwrap(),
        &[1]
    );
}

#[test]
fn jit_rejects_wrong_input_shapes_and_dtypes_before_running() {
    let (m, mut st) = jit("efficientnet_lite0_probs.onnx");
    let small = Tensor::f32(vec![1, 224, 224, 1], vec![0.0; 224 * 224]);
    let e = m.predict(&mut st, &[&small]).unwrap_err();
    assert_eq!(
        e,
        "input 'input': expected shape [1, 224, 224, 3] but got [1, 224, 224, 1]"
    );
    let ints = Tensor::i64(vec![1, 224, 224, 3], vec![0; 224 * 224 * 3]);
    let e = m.predict(&mut st, &[&ints]).unwrap_err();
    assert_eq!(e, "input 'input': expected float32 but got int64");
}
