//! Optimisation passes in pairs: a graph where a rewrite must fire, and a near-identical
//! graph where it must not. Each optimised graph is also run on the reference interpreter
//! and the jit against the unoptimised graph, so a wrong rewrite cannot pass.

mod common;

use common::*;
use compiler::{load_bytes, reference, Graph, ImportOptions};
use runtime::Tensor;

fn import(bytes: &[u8]) -> Graph {
    load_bytes(bytes, &ImportOptions::default()).unwrap()
}

fn optimized(bytes: &[u8]) -> Graph {
    let mut g = import(bytes);
    compiler::passes::optimize(&mut g).unwrap();
    g
}

fn op_types(g: &Graph) -> Vec<String> {
    g.nodes.iter().map(|n| n.op.op_type().to_string()).collect()
}

fn input(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::f32(
        shape.to_vec(),
        (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect(),
    )
}

/// Optimised reference and jit both agree with the unoptimised reference.
fn check_equivalent(bytes: &[u8], x: &Tensor) {
    let g = import(bytes);
    let want = reference::run(&g, &[("x", x)]).unwrap();
    let opt = optimized(bytes);
    let got = reference::run(&opt, &[("x", x)]).unwrap();
    let model = compiler::compile(g).unwrap();
    let mut st = model.new_state(1);
    let jit = model.predict(&mut st, &[x]).unwrap();
    for ((w, o), j) in want.iter().zip(&got).zip(&jit) {
        assert_eq!(w.shape(), o.shape());
        for ((a, b), c) in w
            .to_f64_vec()
            .iter()
            .zip(o.to_f64_vec())
            .zip(j.to_f64_vec())
        {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + a.abs()),
                "optimised reference {b} vs {a}"
            );
            assert!((a - c).abs() <= 1e-4 * (1.0 + a.abs()), "jit {c} vs {a}");
        }
    }
}

fn conv(name: &str, x: &str, w: &str, b: &str, y: &str) -> compiler::onnx::NodeProto {
    with_ints(node(name, "Conv", &[x, w, b], &[y]), "pads", &[1, 1, 1, 1])
}

/// x → conv1 → relu → conv2 (+ x) → relu: a ResNet basic block.
fn residual_block(extra_use_of_conv2: bool) -> Vec<u8> {
    let mut nodes = vec![
        conv("c1", "x", "w1", "b1", "t1"),
        node("r1", "Relu", &["t1"], &["a1"]),
        conv("c2", "a1", "w2", "b2", "t2"),
        node("add", "Add", &["t2", "x"], &["s"]),
        node("r2", "Relu", &["s"], &["y"]),
    ];
    let mut outputs = vec![vi("y", &[1, 4, 5, 5])];
    if extra_use_of_conv2 {
        nodes.push(node("also", "Sigmoid", &["t2"], &["z"]));
        outputs.push(vi("z", &[1, 4, 5, 5]));
    }
    let inits = vec![
        weights("w1", &[4, 4, 3, 3], 1),
        weights("b1", &[4], 2),
        weights("w2", &[4, 4, 3, 3], 3),
        weights("b2", &[4], 4),
    ];
    model(nodes, inits, vec![vi("x", &[1, 4, 5, 5])], outputs, 13)
}

#[test]
fn fused_residual_block_becomes_two_fused_convs() {
    let bytes = residual_block(false);
    let g = optimized(&bytes);
    assert_eq!(op_types(&g), ["FusedConv", "FusedConv"]);
    check_equivalent(&bytes, &input(&[1, 4, 5, 5]));
}

#[test]
fn must_not_fuse_a_residual_whose_conv_output_is_read_twice() {
    let bytes = residual_block(true);
    let g = optimized(&bytes);
    // conv1+relu still fuses; conv2's output is also read by the Sigmoid, so the Add and
    // the Relu after it must stay.
    assert_eq!(
        op_types(&g),
        ["FusedConv", "Conv", "Add", "Relu", "Sigmoid"]
    );
    check_equivalent(&bytes, &input(&[1, 4, 5, 5]));
}

fn classifier(softmax_is_output: bool) -> Vec<u8> {
    let mut nodes = vec![
        with_int(
            node("fc", "Gemm", &["x", "w", "b"], &["logits"]),
            "transB",
            1,
        ),
        with_int(node("sm", "Softmax", &["logits"], &["probs"]), "axis", 1),
        with_int(
            with_int(node("am", "ArgMax", &["probs"], &["label"]), "axis", 1),
            "keepdims",
            0,
        ),
    ];
    let mut outputs = vec![ValueInfoLabel::label()];
    if softmax_is_output {
        outputs.push(vi("probs", &[1, 10]));
    }
    nodes.rotate_left(0);
    model(
        nodes,
        vec![weights("w", &[10, 6], 5), weights("b", &[10], 6)],
        vec![vi("x", &[1, 6])],
        outputs,
        13,
    )
}

struct ValueInfoLabel;
impl ValueInfoLabel {
    fn label() -> compiler::onnx::ValueInfoProto {
        let mut v = vi("label", &[1]);
        if let Some(compiler::onnx::type_proto::Value::TensorType(t)) =
            v.r#type.as_mut().and_then(|t| t.value.as_mut())
        {
            t.elem_type = Some(7);
        }
        v
    }
}

#[test]
fn softmax_before_argmax_is_dropped() {
    let bytes = classifier(false);
    assert_eq!(op_types(&optimized(&bytes)), ["Gemm", "ArgMax"]);
    check_equivalent(&bytes, &input(&[1, 6]));
}

#[test]
fn must_not_drop_a_softmax_that_is_also_a_graph_output() {
    let bytes = classifier(true);
    assert_eq!(op_types(&optimized(&bytes)), ["Gemm", "Softmax", "ArgMax"]);
    check_equivalent(&bytes, &input(&[1, 6]));
}

#[test]
fn batchnorm_folds_into_the_conv_before_it() {
    let nodes = vec![
        conv("c", "x", "w", "b", "t"),
        node(
            "bn",
            "BatchNormalization",
            &["t", "s", "bb", "m", "v"],
            &["y"],
        ),
    ];
    let mut var = weights("v", &[4], 9);
    var.float_data.iter_mut().for_each(|x| *x = x.abs() + 0.1);
    let inits = vec![
        weights("w", &[4, 3, 3, 3], 1),
        weights("b", &[4], 2),
        weights("s", &[4], 3),
        weights("bb", &[4], 4),
        weights("m", &[4], 5),
        var,
    ];
    let bytes = model(
        nodes,
        inits,
        vec![vi("x", &[1, 3, 6, 6])],
        vec![vi("y", &[1, 4, 6, 6])],
        13,
    );
    assert_eq!(op_types(&optimized(&bytes)), ["Conv"]);
    check_equivalent(&bytes, &input(&[1, 3, 6, 6]));
}

#[test]
fn must_not_fold_batchnorm_when_the_conv_output_is_also_used() {
    let nodes = vec![
        conv("c", "x", "w", "b", "t"),
        node(
            "bn",
            "BatchNormalization",
            &["t", "s", "bb", "m", "v"],
            &["y"],
        ),
        node("other", "Relu", &["t"], &["z"]),
    ];
    let mut var = weights("v", &[4], 9);
    var.float_data.iter_mut().for_each(|x| *x = x.abs() + 0.1);
    let inits = vec![
        weights("w", &[4, 3, 3, 3], 1),
        weights("b", &[4], 2),
        weights("s", &[4], 3),
        weights("bb", &[4], 4),
        weights("m", &[4], 5),
        var,
    ];
    let bytes = model(
        nodes,
        inits,
        vec![vi("x", &[1, 3, 6, 6])],
        vec![vi("y", &[1, 4, 6, 6]), vi("z", &[1, 4, 6, 6])],
        13,
    );
    let ops = op_types(&optimized(&bytes));
    assert!(ops.contains(&"BatchNormalization".to_string()), "{ops:?}");
    check_equivalent(&bytes, &input(&[1, 3, 6, 6]));
}

#[test]
fn silu_and_clip_fuse_into_the_conv_epilogue() {
    let nodes = vec![
        conv("c1", "x", "w1", "b1", "t"),
        node("sig", "Sigmoid", &["t"], &["s"]),
        node("mul", "Mul", &["t", "s"], &["u"]),
        conv("c2", "u", "w2", "b2", "v"),
        node("clip", "Clip", &["v", "lo", "hi"], &["y"]),
    ];
    let mut lo = weights("lo", &[], 0);
    lo.float_data = vec![0.0];
    let mut hi = weights("hi", &[], 0);
    hi.float_data = vec![0.25];
    let inits = vec![
        weights("w1", &[4, 3, 3, 3], 1),
        weights("b1", &[4], 2),
        weights("w2", &[4, 4, 3, 3], 3),
        weights("b2", &[4], 4),
        lo,
        hi,
    ];
    let bytes = model(
        nodes,
        inits,
        vec![vi("x", &[1, 3, 6, 6])],
        vec![vi("y", &[1, 4, 6, 6])],
        13,
    );
    let g = optimized(&bytes);
    assert_eq!(op_types(&g), ["FusedConv", "FusedConv"]);
    let acts: Vec<String> = g.nodes.iter().map(|n| format!("{:?}", n.op)).collect();
    assert!(
        acts[0].contains("Silu") && acts[1].contains("Clip"),
        "{acts:?}"
    );
    check_equivalent(&bytes, &input(&[1, 3, 6, 6]));
}

#[test]
fn the_tutorial_graph_has_no_transpose_softmax_relu_or_add_after_optimisation() {
    let path = compiler::conformance::shared_dir().join("models/resnet18_tutorial.onnx");
    let mut g = compiler::load_file(&path, &ImportOptions::default()).unwrap();
    compiler::passes::optimize(&mut g).unwrap();
    let ops = op_types(&g);
    for banned in ["Softmax", "Relu", "Add", "BatchNormalization", "Identity"] {
        assert!(!ops.iter().any(|o| o == banned), "{banned} left in {ops:?}");
    }
    // The input Transpose is a view after lowering: no copy of the input is emitted except
    // the one into the first convolution's zero-halo buffer.
    let plan = compiler::lower::lower(&g).unwrap();
    let copies = plan
        .steps
        .iter()
        .filter(|s| {
            matches!(&s.kind, compiler::plan::StepKind::Call(c)
                if c.symbol == "bqml_copy" || c.symbol == "bqml_copy_rows")
        })
        .count();
    assert_eq!(
        copies, 2,
        "input into the first conv's halo, and the output\n{plan}"
    );
}
