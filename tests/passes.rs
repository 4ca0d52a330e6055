//! Optimisation passes in pairs: a graph where a rewrite must fire, and a near-identical
//! graph where it must not. Each optimised graph is also run on the reference interpreter
//! and the jit against the unoptimised graph, so a wrong rewrite cannot pass.

use crate::common::*;
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

/// An Inception-style block: four branches (a 1×1 conv with 5 output channels, a 3×3 conv
/// with 24, a 3×3 max pool, a depthwise 3×3 conv) joined by a Concat along channels (the
/// pool and depthwise branches through an inner Concat), read by a padded 3×3 conv. With
/// `extra_use`, the 3×3 branch is also a graph output.
fn concat_block(extra_use: bool) -> Vec<u8> {
    let pads = |n: compiler::onnx::NodeProto| with_ints(n, "pads", &[1, 1, 1, 1]);
    let mut nodes = vec![
        node("b1", "Conv", &["x", "w1", "bias1"], &["t1"]),
        pads(node("b2", "Conv", &["x", "w2", "bias2"], &["t2"])),
        with_ints(
            with_ints(
                pads(node("b3", "MaxPool", &["x"], &["t3"])),
                "kernel_shape",
                &[3, 3],
            ),
            "strides",
            &[1, 1],
        ),
        with_int(pads(node("b4", "Conv", &["x", "w4"], &["t4"])), "group", 8),
        with_int(node("inner", "Concat", &["t3", "t4"], &["t34"]), "axis", 1),
        with_int(
            node("cat", "Concat", &["t1", "t2", "t34"], &["c"]),
            "axis",
            1,
        ),
        pads(node("head", "Conv", &["c", "w5", "bias5"], &["y"])),
    ];
    let mut outputs = vec![vi("y", &[1, 4, 12, 12])];
    if extra_use {
        nodes.push(node("also", "Sigmoid", &["t2"], &["z"]));
        outputs.push(vi("z", &[1, 24, 12, 12]));
    }
    let inits = vec![
        weights("w1", &[5, 8, 1, 1], 1),
        weights("bias1", &[5], 2),
        weights("w2", &[24, 8, 3, 3], 3),
        weights("bias2", &[24], 4),
        weights("w4", &[8, 1, 3, 3], 5),
        weights("w5", &[4, 45, 3, 3], 6),
        weights("bias5", &[4], 7),
    ];
    model(nodes, inits, vec![vi("x", &[1, 8, 12, 12])], outputs, 13)
}

/// Copy steps the plan emits for node `name`.
fn copies_of(plan: &compiler::plan::Plan, name: &str) -> usize {
    plan.steps
        .iter()
        .filter(|s| {
            s.node == name
                && matches!(&s.kind, compiler::plan::StepKind::Call(c)
                    if c.symbol == "bqml_copy" || c.symbol == "bqml_copy_rows")
        })
        .count()
}

/// The block under every convolution algorithm and every kernel tier this CPU has agrees
/// with the reference interpreter (producers writing into a channel slice must not touch
/// their neighbours' channels, e.g. the 5-channel tail panel).
fn check_every_algo_and_tier(bytes: &[u8], x: &Tensor) {
    let g = import(bytes);
    let want = reference::run(&g, &[("x", x)]).unwrap();
    let tiers = kernels::Isa::all_available();
    eprintln!("kernel tiers exercised: {tiers:?}");
    for isa in tiers {
        for algo in [compiler::ConvAlgo::Direct, compiler::ConvAlgo::WinogradF2] {
            let opts = compiler::CompileOptions {
                conv_algo: algo,
                isa: Some(isa),
                ..Default::default()
            };
            let (model, _) = compiler::compile_with(import(bytes), &opts).unwrap();
            let mut st = model.new_state(1);
            let got = model.predict(&mut st, &[x]).unwrap();
            for (w, j) in want.iter().zip(&got) {
                for (a, c) in w.to_f64_vec().iter().zip(j.to_f64_vec()) {
                    assert!(
                        (a - c).abs() <= 1e-4 * (1.0 + a.abs()),
                        "{isa:?} {algo:?}: jit {c} vs {a}"
                    );
                }
            }
        }
    }
}

#[test]
fn concat_inputs_are_written_in_place_by_their_producers() {
    let bytes = concat_block(false);
    let plan = compiler::lower::lower(&optimized(&bytes)).unwrap();
    assert_eq!(copies_of(&plan, "cat"), 0, "{plan}");
    assert_eq!(copies_of(&plan, "inner"), 0, "{plan}");
    assert!(
        plan.to_string().contains("3 of 3 inputs written in place"),
        "{plan}"
    );
    check_equivalent(&bytes, &input(&[1, 8, 12, 12]));
    check_every_algo_and_tier(&bytes, &input(&[1, 8, 12, 12]));
}

#[test]
fn must_not_write_in_place_a_concat_input_that_is_also_read_elsewhere() {
    let bytes = concat_block(true);
    let plan = compiler::lower::lower(&optimized(&bytes)).unwrap();
    // The 3×3 branch is also a graph output: it keeps its own buffer and is copied.
    assert_eq!(copies_of(&plan, "cat"), 1, "{plan}");
    assert!(
        plan.to_string().contains("2 of 3 inputs written in place"),
        "{plan}"
    );
    check_equivalent(&bytes, &input(&[1, 8, 12, 12]));
    check_every_algo_and_tier(&bytes, &input(&[1, 8, 12, 12]));
}

/// Squeeze-excite of map `x` into `out`: global average pool, 1×1 conv (`ws1`, `bs1`), ReLU,
/// 1×1 conv (`ws2`, `bs2`), the `gate` activation, and the channel scale.
fn squeeze_excite(x: &str, gate: &str, out: &str) -> Vec<compiler::onnx::NodeProto> {
    vec![
        node("se_pool", "GlobalAveragePool", &[x], &["s0"]),
        node("se_fc1", "Conv", &["s0", "ws1", "bs1"], &["s1"]),
        node("se_relu", "Relu", &["s1"], &["s2"]),
        node("se_fc2", "Conv", &["s2", "ws2", "bs2"], &["s3"]),
        node("se_gate", gate, &["s3"], &["s4"]),
        node("se_scale", "Mul", &["s4", x], &[out]),
    ]
}

/// An inverted residual on a `size`² map with 16 channels: 1×1 expansion to 64 (+ReLU),
/// depthwise `k`×`k` stride `stride` (+ReLU), optionally a squeeze-excite, 1×1 projection
/// to 16, plus the input as residual when the shape allows. With `expanded_is_output`, the
/// expanded map is also a graph output.
fn inverted_residual(
    size: i64,
    k: i64,
    stride: i64,
    se: bool,
    expanded_is_output: bool,
) -> Vec<u8> {
    let p = k / 2;
    let out = (size + 2 * p - k) / stride + 1;
    let dw = with_ints(
        with_ints(
            with_int(node("dw", "Conv", &["e", "wd", "bd"], &["dc"]), "group", 64),
            "pads",
            &[p, p, p, p],
        ),
        "strides",
        &[stride, stride],
    );
    let mut nodes = vec![
        node("expand", "Conv", &["x", "we", "be"], &["ec"]),
        node("expand_relu", "Relu", &["ec"], &["e"]),
        dw,
        node("dw_relu", "Relu", &["dc"], &["d"]),
    ];
    let mut inits = vec![
        weights("we", &[64, 16, 1, 1], 11),
        weights("be", &[64], 12),
        weights("wd", &[64, 1, k, k], 13),
        weights("bd", &[64], 14),
        weights("wp", &[16, 64, 1, 1], 15),
        weights("bp", &[16], 16),
    ];
    let mut projected = "d";
    if se {
        nodes.extend(squeeze_excite("d", "HardSigmoid", "ds"));
        inits.extend([
            weights("ws1", &[16, 64, 1, 1], 17),
            weights("bs1", &[16], 18),
            weights("ws2", &[64, 16, 1, 1], 19),
            weights("bs2", &[64], 20),
        ]);
        projected = "ds";
    }
    if stride == 1 {
        nodes.push(node("project", "Conv", &[projected, "wp", "bp"], &["pc"]));
        nodes.push(node("residual", "Add", &["pc", "x"], &["y"]));
    } else {
        nodes.push(node("project", "Conv", &[projected, "wp", "bp"], &["y"]));
    }
    let mut outputs = vec![vi("y", &[1, 16, out, out])];
    if expanded_is_output {
        outputs.push(vi("e", &[1, 64, size, size]));
    }
    model(
        nodes,
        inits,
        vec![vi("x", &[1, 16, size, size])],
        outputs,
        13,
    )
}

#[test]
fn inverted_residual_becomes_one_mobile_block() {
    for (k, stride) in [(3, 1), (5, 2)] {
        let bytes = inverted_residual(56, k, stride, false, false);
        assert_eq!(
            op_types(&optimized(&bytes)),
            ["MobileBlock"],
            "{k}x{k}/{stride}"
        );
        let plan = compiler::lower::lower(&optimized(&bytes)).unwrap();
        let bands = plan.steps.iter().find_map(|s| match &s.kind {
            compiler::plan::StepKind::Call(c) if c.symbol == "bqml_block" => match c.kind {
                compiler::plan::CallKind::Rows { rows } => Some(rows),
                _ => None,
            },
            _ => None,
        });
        // Several bands, so rows carried from one band to the next are exercised; an even
        // number, so two threads get equal shares.
        assert!(
            bands.is_some_and(|b| b > 1 && b % 2 == 0),
            "{bands:?}\n{plan}"
        );
        check_equivalent(&bytes, &input(&[1, 16, 56, 56]));
        check_every_algo_and_tier(&bytes, &input(&[1, 16, 56, 56]));
    }
}

#[test]
fn squeeze_excite_block_fuses_the_expansion_and_depthwise_only() {
    let bytes = inverted_residual(56, 3, 1, true, false);
    let g = optimized(&bytes);
    let ops = op_types(&g);
    assert_eq!(ops[0], "MobileBlock", "{ops:?}");
    assert_eq!(
        ops.iter().filter(|o| *o == "MobileBlock").count(),
        1,
        "{ops:?}"
    );
    // The projection needs the whole excitation first, so it stays a convolution of its own,
    // and the channel scale moves into its weights (fold-channel-scale): no Mul is left.
    assert!(!ops.contains(&"Mul".to_string()), "{ops:?}");
    assert!(scales_its_input(g.nodes.last().unwrap()), "{ops:?}");
    check_equivalent(&bytes, &input(&[1, 16, 56, 56]));
    check_every_algo_and_tier(&bytes, &input(&[1, 16, 56, 56]));
}

fn scales_its_input(n: &compiler::ir::Node) -> bool {
    matches!(&n.op, compiler::ops::Op::FusedConv(f) if f.input_scale)
}

/// Squeeze-excite on a `size`² map with 16 channels, the scaled map projected to 8 channels
/// by a 1×1 conv (`k`×`k` when given); with `scaled_is_output` the scaled map is also a graph
/// output, with `batch` > 1 each image has its own scale.
fn channel_scale(size: i64, k: i64, scaled_is_output: bool, batch: i64) -> Vec<u8> {
    let project = with_ints(
        node("project", "Conv", &["xs", "wp", "bp"], &["y"]),
        "pads",
        &[k / 2; 4],
    );
    let mut nodes = squeeze_excite("x", "Sigmoid", "xs");
    nodes.push(project);
    let inits = vec![
        weights("ws1", &[4, 16, 1, 1], 31),
        weights("bs1", &[4], 32),
        weights("ws2", &[16, 4, 1, 1], 33),
        weights("bs2", &[16], 34),
        weights("wp", &[8, 16, k, k], 35),
        weights("bp", &[8], 36),
    ];
    let mut outputs = vec![vi("y", &[batch, 8, size, size])];
    if scaled_is_output {
        outputs.push(vi("xs", &[batch, 16, size, size]));
    }
    model(
        nodes,
        inits,
        vec![vi("x", &[batch, 16, size, size])],
        outputs,
        13,
    )
}

#[test]
fn channel_scale_folds_into_the_next_convolutions_weights() {
    for k in [1, 3] {
        let bytes = channel_scale(12, k, false, 1);
        let g = optimized(&bytes);
        let ops = op_types(&g);
        assert!(!ops.contains(&"Mul".to_string()), "{k}: {ops:?}");
        assert!(scales_its_input(g.nodes.last().unwrap()), "{k}: {ops:?}");
        let plan = compiler::lower::lower(&g).unwrap();
        let scaled = plan.steps.iter().any(|s| {
            matches!(&s.kind, compiler::plan::StepKind::Call(c) if c.symbol == "bqml_scale_panels")
        });
        assert!(scaled, "{plan}");
        check_equivalent(&bytes, &input(&[1, 16, 12, 12]));
        check_every_algo_and_tier(&bytes, &input(&[1, 16, 12, 12]));
    }
}

#[test]
fn must_not_fold_a_channel_scale_that_is_read_elsewhere_larger_than_the_map_or_per_image() {
    // The scaled map is also a graph output; the 3×3 weights (8 × 9) outweigh a 4² map
    // twice over; with two images the scale differs per image.
    for (size, k, scaled_is_output, batch) in
        [(12, 1, true, 1), (4, 3, false, 1), (12, 1, false, 2)]
    {
        let bytes = channel_scale(size, k, scaled_is_output, batch);
        let ops = op_types(&optimized(&bytes));
        assert!(
            ops.contains(&"Mul".to_string()),
            "{size} {k} {batch}: {ops:?}"
        );
        check_equivalent(
            &bytes,
            &input(&[batch as usize, 16, size as usize, size as usize]),
        );
    }
}

#[test]
fn must_not_fuse_an_expansion_whose_output_is_read_twice() {
    let bytes = inverted_residual(56, 3, 1, false, true);
    // The expanded map is also a graph output: the expansion stays; depthwise and
    // projection (the depthwise output, 56²×64, is large enough) still fuse.
    assert_eq!(op_types(&optimized(&bytes)), ["FusedConv", "MobileBlock"]);
    check_equivalent(&bytes, &input(&[1, 16, 56, 56]));
}

#[test]
fn must_not_fuse_a_block_whose_intermediates_stay_in_cache() {
    // 14²×64 floats (50 KB) is below compiler::passes::MIN_INTERMEDIATE_BYTES.
    let bytes = inverted_residual(14, 3, 1, false, false);
    assert_eq!(
        op_types(&optimized(&bytes)),
        ["FusedConv", "FusedConv", "FusedConv"]
    );
    check_equivalent(&bytes, &input(&[1, 16, 14, 14]));
}

/// Image normalisation inside the graph: NHWC input → Transpose → `(x - mean) * scale`
/// (per-channel constants) → a padded conv.
fn normalised_input() -> Vec<u8> {
    let nodes = vec![
        with_ints(
            node("to_nchw", "Transpose", &["x"], &["xt"]),
            "perm",
            &[0, 3, 1, 2],
        ),
        node("center", "Sub", &["xt", "mean"], &["xc"]),
        node("scale", "Mul", &["xc", "inv_std"], &["xs"]),
        conv("stem", "xs", "w", "b", "y"),
    ];
    let inits = vec![
        weights("mean", &[1, 3, 1, 1], 21),
        weights("inv_std", &[1, 3, 1, 1], 22),
        weights("w", &[4, 3, 3, 3], 23),
        weights("b", &[4], 24),
    ];
    model(
        nodes,
        inits,
        vec![vi("x", &[1, 10, 10, 3])],
        vec![vi("y", &[1, 4, 10, 10])],
        13,
    )
}

#[test]
fn per_channel_constants_on_a_three_channel_image_run_in_wide_rows() {
    let bytes = normalised_input();
    let plan = compiler::lower::lower(&optimized(&bytes)).unwrap();
    // Each Sub/Mul step's innermost run: several pixels' channels, not 3 values.
    let runs: Vec<usize> = plan
        .steps
        .iter()
        .filter(|s| s.node == "center" || s.node == "scale")
        .filter_map(|s| match &s.kind {
            compiler::plan::StepKind::Call(c) => c
                .desc
                .rsplit_once(", ")
                .and_then(|(_, last)| last.split(']').next()?.parse().ok()),
            _ => None,
        })
        .collect();
    assert_eq!(runs.len(), 2, "{plan}");
    assert!(
        runs.iter().all(|&r| r > 3 && r % 3 == 0),
        "{runs:?}\n{plan}"
    );
    check_equivalent(&bytes, &input(&[1, 10, 10, 3]));
}

/// `Conv` followed by per-channel constants: `((conv(x) + b2) * s) / d - e` (every operand
/// `[1, 4, 1, 1]` or scalar), and the same chain with the constant on the left of the Add
/// and Mul. `per_pixel` makes the Mul's constant vary over a spatial axis instead.
fn conv_affine_chain(per_pixel: bool, extra_use: bool) -> Vec<u8> {
    let mut nodes = vec![
        conv("c", "x", "w", "b", "t"),
        node("bias", "Add", &["b2", "t"], &["t1"]),
        node("scale", "Mul", &["t1", "s"], &["t2"]),
        node("div", "Div", &["t2", "d"], &["t3"]),
        node("shift", "Sub", &["t3", "e"], &["y"]),
    ];
    let mut outputs = vec![vi("y", &[1, 4, 6, 6])];
    if extra_use {
        nodes.push(node("other", "Relu", &["t"], &["z"]));
        outputs.push(vi("z", &[1, 4, 6, 6]));
    }
    let mut d = weights("d", &[], 34);
    d.float_data.iter_mut().for_each(|x| *x = x.abs() + 0.5);
    let inits = vec![
        weights("w", &[4, 3, 3, 3], 31),
        weights("b", &[4], 32),
        weights("b2", &[1, 4, 1, 1], 33),
        if per_pixel {
            weights("s", &[1, 1, 1, 6], 35)
        } else {
            weights("s", &[4, 1, 1], 35)
        },
        d,
        weights("e", &[1], 36),
    ];
    model(nodes, inits, vec![vi("x", &[1, 3, 6, 6])], outputs, 13)
}

#[test]
fn per_channel_add_mul_div_sub_fold_into_the_conv() {
    let bytes = conv_affine_chain(false, false);
    assert_eq!(op_types(&optimized(&bytes)), ["Conv"]);
    check_equivalent(&bytes, &input(&[1, 3, 6, 6]));
}

#[test]
fn must_not_fold_a_constant_that_varies_over_pixels() {
    let bytes = conv_affine_chain(true, false);
    // The Add before it folds; the per-pixel Mul and everything after it stay.
    assert_eq!(op_types(&optimized(&bytes)), ["Conv", "Mul", "Div", "Sub"]);
    check_equivalent(&bytes, &input(&[1, 3, 6, 6]));
}

#[test]
fn must_not_fold_into_a_conv_whose_output_is_read_twice() {
    let bytes = conv_affine_chain(false, true);
    let ops = op_types(&optimized(&bytes));
    assert!(ops.contains(&"Add".to_string()), "{ops:?}");
    check_equivalent(&bytes, &input(&[1, 3, 6, 6]));
}

/// A ShuffleNetV2 unit on channel-last data: 1×1 conv → Split in halves → 1×1 conv on the
/// second → Concat → channel shuffle (Reshape [1, 2, 4, H, W] → Transpose → Reshape) → 1×1
/// conv. With `merge_strided`, the shuffle's first Reshape instead flattens H and W after the
/// Transpose has moved them apart, which no strides can express.
fn shuffle_unit(merge_strided: bool) -> Vec<u8> {
    let mut nodes = vec![
        node("in", "Conv", &["x", "w0", "b0"], &["t"]),
        with_int(
            node("split", "Split", &["t", "halves"], &["a", "b"]),
            "axis",
            1,
        ),
        node("branch", "Conv", &["b", "w1", "b1"], &["bb"]),
        with_int(node("cat", "Concat", &["a", "bb"], &["c"]), "axis", 1),
        node("group", "Reshape", &["c", "s5"], &["g"]),
        with_ints(
            node("swap", "Transpose", &["g"], &["gt"]),
            "perm",
            &[0, 2, 1, 3, 4],
        ),
        node("shuffle", "Reshape", &["gt", "s4"], &["z"]),
        node("out", "Conv", &["z", "w2", "b2"], &["y"]),
    ];
    let mut inits = vec![
        weights("w0", &[8, 3, 1, 1], 41),
        weights("b0", &[8], 42),
        weights("w1", &[4, 4, 1, 1], 43),
        weights("b1", &[4], 44),
        weights("w2", &[5, 8, 1, 1], 45),
        weights("b2", &[5], 46),
        ints("halves", &[4, 4]),
        ints("s5", &[1, 2, 4, 6, 6]),
        ints("s4", &[1, 8, 6, 6]),
    ];
    if merge_strided {
        // [1, 8, 6, 6] → Transpose to [1, 6, 8, 6] → Reshape [1, 6, 48] → Reshape back.
        nodes.splice(
            4..7,
            [
                with_ints(
                    node("swap", "Transpose", &["c"], &["gt"]),
                    "perm",
                    &[0, 2, 1, 3],
                ),
                node("group", "Reshape", &["gt", "s3"], &["g"]),
                node("shuffle", "Reshape", &["g", "s4"], &["z"]),
            ],
        );
        inits.push(ints("s3", &[1, 6, 48]));
    }
    model(
        nodes,
        inits,
        vec![vi("x", &[1, 3, 6, 6])],
        vec![vi("y", &[1, 5, 6, 6])],
        13,
    )
}

#[test]
fn channel_shuffle_and_split_are_views_but_one_copy() {
    let bytes = shuffle_unit(false);
    let plan = compiler::lower::lower(&optimized(&bytes)).unwrap();
    assert_eq!(copies_of(&plan, "split"), 0, "{plan}");
    assert_eq!(copies_of(&plan, "group"), 0, "{plan}");
    assert_eq!(copies_of(&plan, "swap"), 0, "{plan}");
    // The shuffle itself, straight into a channel-last buffer: no NCHW round trip before the
    // next conv, and the Concat copies only the Split half.
    assert_eq!(copies_of(&plan, "shuffle"), 1, "{plan}");
    assert_eq!(copies_of(&plan, "out"), 0, "{plan}");
    assert_eq!(copies_of(&plan, "cat"), 1, "{plan}");
    check_equivalent(&bytes, &input(&[1, 3, 6, 6]));
    check_every_algo_and_tier(&bytes, &input(&[1, 3, 6, 6]));
}

#[test]
fn must_not_view_a_reshape_that_merges_axes_the_layout_keeps_apart() {
    let bytes = shuffle_unit(true);
    let plan = compiler::lower::lower(&optimized(&bytes)).unwrap();
    assert!(copies_of(&plan, "group") >= 1, "{plan}");
    check_equivalent(&bytes, &input(&[1, 3, 6, 6]));
    check_every_algo_and_tier(&bytes, &input(&[1, 3, 6, 6]));
}

/// A scalar f32 initializer.
fn scalar(name: &str, v: f32) -> compiler::onnx::TensorProto {
    compiler::onnx::TensorProto {
        name: Some(name.into()),
        data_type: Some(1),
        float_data: vec![v],
        ..Default::default()
    }
}

/// x [1, 6, 8] → MatMul → bias Add → erf GELU → MatMul → bias Add → + x: a transformer MLP.
/// `erf_also_output` makes the Erf an extra graph output; `row_bias` gives the first bias
/// the shape [6, 1] (varying along rows, which a GEMM bias cannot hold).
fn mlp_block(erf_also_output: bool, row_bias: bool) -> Vec<u8> {
    let nodes = vec![
        node("fc1", "MatMul", &["x", "w1"], &["h0"]),
        node("bias1", "Add", &["h0", "b1"], &["h"]),
        node("div", "Div", &["h", "sqrt2"], &["hd"]),
        node("erf", "Erf", &["hd"], &["e"]),
        node("plus1", "Add", &["e", "one"], &["e1"]),
        node("mulx", "Mul", &["h", "e1"], &["g0"]),
        node("half", "Mul", &["g0", "half_c"], &["g"]),
        node("fc2", "MatMul", &["g", "w2"], &["o0"]),
        node("bias2", "Add", &["o0", "b2"], &["o"]),
        node("res", "Add", &["o", "x"], &["y"]),
    ];
    let mut outputs = vec![vi("y", &[1, 6, 8])];
    if erf_also_output {
        outputs.push(vi("e", &[1, 6, 16]));
    }
    let b1 = if row_bias {
        weights("b1", &[6, 1], 3)
    } else {
        weights("b1", &[16], 3)
    };
    let inits = vec![
        weights("w1", &[8, 16], 1),
        weights("w2", &[16, 8], 2),
        b1,
        weights("b2", &[8], 4),
        scalar("sqrt2", std::f32::consts::SQRT_2),
        scalar("one", 1.0),
        scalar("half_c", 0.5),
    ];
    model(nodes, inits, vec![vi("x", &[1, 6, 8])], outputs, 17)
}

#[test]
fn transformer_mlp_becomes_two_linears_with_gelu_and_residual_epilogues() {
    let bytes = mlp_block(false, false);
    let g = optimized(&bytes);
    assert_eq!(op_types(&g), ["Linear", "Linear"]);
    let acts: Vec<String> = g.nodes.iter().map(|n| format!("{:?}", n.op)).collect();
    assert!(acts[0].contains("Gelu"), "{acts:?}");
    assert_eq!(
        g.nodes[1].inputs.len(),
        4,
        "bias and residual fused: {acts:?}"
    );
    check_equivalent(&bytes, &input(&[1, 6, 8]));
}

#[test]
fn must_not_fuse_a_gelu_whose_erf_is_read_elsewhere_nor_a_bias_along_rows() {
    let bytes = mlp_block(true, true);
    let g = optimized(&bytes);
    let ops = op_types(&g);
    assert!(ops.contains(&"Erf".to_string()), "{ops:?}");
    assert!(!ops.contains(&"Gelu".to_string()), "{ops:?}");
    // The row bias stays an Add; the second bias and the residual still fuse.
    assert_eq!(ops.iter().filter(|o| *o == "Add").count(), 2, "{ops:?}");
    assert_eq!(ops.iter().filter(|o| *o == "Linear").count(), 2, "{ops:?}");
    check_equivalent(&bytes, &input(&[1, 6, 8]));
}

/// x [1, 6, 8] → MatMul + bias → tanh GELU as PyTorch exports it,
/// `0.5 · (h · (1 + tanh(√(2/π) · (h + 0.044715 · h³))))` → MatMul: the cube as `Pow(h, 3)`
/// or, with `cube_by_muls`, as `h · (h · h)`. `kappa` is the cubic coefficient (0.044715 for
/// GELU; anything else is a different function that must not fuse).
fn tanh_mlp_block(cube_by_muls: bool, kappa: f32) -> Vec<u8> {
    let mut nodes = vec![
        node("fc1", "MatMul", &["x", "w1"], &["h0"]),
        node("bias1", "Add", &["h0", "b1"], &["h"]),
    ];
    if cube_by_muls {
        nodes.push(node("sq", "Mul", &["h", "h"], &["h2"]));
        nodes.push(node("cube", "Mul", &["h", "h2"], &["h3"]));
    } else {
        nodes.push(node("cube", "Pow", &["h", "three"], &["h3"]));
    }
    nodes.extend([
        node("kappa", "Mul", &["kappa_c", "h3"], &["k"]),
        node("inner", "Add", &["h", "k"], &["u"]),
        node("beta", "Mul", &["beta_c", "u"], &["v"]),
        node("tanh", "Tanh", &["v"], &["t"]),
        node("plus1", "Add", &["one", "t"], &["s"]),
        node("mulx", "Mul", &["h", "s"], &["g0"]),
        node("half", "Mul", &["half_c", "g0"], &["g"]),
        node("fc2", "MatMul", &["g", "w2"], &["y"]),
    ]);
    let inits = vec![
        weights("w1", &[8, 16], 11),
        weights("w2", &[16, 8], 12),
        weights("b1", &[16], 13),
        scalar("three", 3.0),
        scalar("kappa_c", kappa),
        scalar("beta_c", (2.0 / std::f32::consts::PI).sqrt()),
        scalar("one", 1.0),
        scalar("half_c", 0.5),
    ];
    model(
        nodes,
        inits,
        vec![vi("x", &[1, 6, 8])],
        vec![vi("y", &[1, 6, 8])],
        13,
    )
}

#[test]
fn tanh_gelu_in_either_cube_form_fuses_into_the_linear_epilogue() {
    for cube_by_muls in [false, true] {
        let bytes = tanh_mlp_block(cube_by_muls, 0.044715);
        let g = optimized(&bytes);
        assert_eq!(
            op_types(&g),
            ["Linear", "Linear"],
            "cube_by_muls {cube_by_muls}"
        );
        let first = format!("{:?}", g.nodes[0].op);
        assert!(first.contains("GeluTanh"), "{first}");
        check_equivalent(&bytes, &input(&[1, 6, 8]));
        check_every_algo_and_tier(&bytes, &input(&[1, 6, 8]));
    }
}

#[test]
fn the_opset_20_gelu_op_with_tanh_fuses_into_the_linear_epilogue() {
    let nodes = vec![
        node("fc1", "MatMul", &["x", "w1"], &["h0"]),
        node("bias1", "Add", &["h0", "b1"], &["h"]),
        with_str(node("gelu", "Gelu", &["h"], &["y"]), "approximate", "tanh"),
    ];
    let inits = vec![weights("w1", &[8, 16], 21), weights("b1", &[16], 22)];
    let bytes = model(
        nodes,
        inits,
        vec![vi("x", &[1, 6, 8])],
        vec![vi("y", &[1, 6, 16])],
        20,
    );
    let g = optimized(&bytes);
    assert_eq!(op_types(&g), ["Linear"]);
    let op = format!("{:?}", g.nodes[0].op);
    assert!(op.contains("GeluTanh"), "{op}");
    check_equivalent(&bytes, &input(&[1, 6, 8]));
    check_every_algo_and_tier(&bytes, &input(&[1, 6, 8]));
}

#[test]
fn must_not_fuse_a_tanh_form_with_another_cubic_coefficient() {
    let bytes = tanh_mlp_block(false, 0.05);
    let ops = op_types(&optimized(&bytes));
    assert!(ops.contains(&"Tanh".to_string()), "{ops:?}");
    assert!(!ops.contains(&"Gelu".to_string()), "{ops:?}");
    check_equivalent(&bytes, &input(&[1, 6, 8]));
}

/// Self-attention over x [1, 2, 5, 4] (2 heads): `softmax(x·c · (xᵀ·c)) · x`, the
/// sqrt(scale)-on-each-side form of PyTorch's SDPA export.
fn attention_block(probs_also_output: bool) -> Vec<u8> {
    let nodes = vec![
        with_ints(
            node("kt", "Transpose", &["x"], &["xt"]),
            "perm",
            &[0, 1, 3, 2],
        ),
        node("sq", "Mul", &["x", "c"], &["qs"]),
        node("sk", "Mul", &["xt", "c"], &["ks"]),
        node("qk", "MatMul", &["qs", "ks"], &["s"]),
        with_int(node("sm", "Softmax", &["s"], &["p"]), "axis", -1),
        node("pv", "MatMul", &["p", "x"], &["y"]),
    ];
    let mut outputs = vec![vi("y", &[1, 2, 5, 4])];
    if probs_also_output {
        outputs.push(vi("p", &[1, 2, 5, 5]));
    }
    let inits = vec![scalar("c", 0.5f32.sqrt())];
    model(nodes, inits, vec![vi("x", &[1, 2, 5, 4])], outputs, 17)
}

#[test]
fn matmul_softmax_matmul_becomes_one_attention() {
    let bytes = attention_block(false);
    let g = optimized(&bytes);
    // The transpose stays a node; lowering makes it a view that the kernel reads.
    assert_eq!(op_types(&g), ["Transpose", "ScaledDotAttention"]);
    // Both sqrt(0.5) factors fold into the kernel's scale.
    match &g.nodes[1].op {
        compiler::ops::Op::ScaledDotAttention(a) => assert!((a.scale - 0.5).abs() < 1e-6, "{a:?}"),
        other => panic!("{other:?}"),
    }
    check_equivalent(&bytes, &input(&[1, 2, 5, 4]));
}

#[test]
fn must_not_fuse_attention_whose_probabilities_are_an_output() {
    let bytes = attention_block(true);
    let ops = op_types(&optimized(&bytes));
    assert!(ops.contains(&"Softmax".to_string()), "{ops:?}");
    assert!(!ops.contains(&"ScaledDotAttention".to_string()), "{ops:?}");
    check_equivalent(&bytes, &input(&[1, 2, 5, 4]));
}

/// Windowed self-attention over x [4, 2, 5, 4] (2 images × 2 windows, 2 heads), Swin-style:
/// scores + a relative-position bias [2, 5, 5], then viewed as [2, 2 windows, 2, 5, 5] to add
/// a per-window mask [2, 1, 5, 5] and viewed back. `masked_also_output` makes the masked
/// [2, 2, 2, 5, 5] view an extra graph output.
fn windowed_attention_block(masked_also_output: bool) -> Vec<u8> {
    let nodes = vec![
        with_ints(
            node("kt", "Transpose", &["x"], &["xt"]),
            "perm",
            &[0, 1, 3, 2],
        ),
        node("qk", "MatMul", &["x", "xt"], &["s"]),
        node("relpos", "Add", &["s", "rel"], &["sb"]),
        node("per_window", "Reshape", &["sb", "s5"], &["sw"]),
        node("mask", "Add", &["sw", "m"], &["swm"]),
        node("back", "Reshape", &["swm", "s4"], &["sm_in"]),
        with_int(node("sm", "Softmax", &["sm_in"], &["p"]), "axis", -1),
        node("pv", "MatMul", &["p", "x"], &["y"]),
    ];
    let mut outputs = vec![vi("y", &[4, 2, 5, 4])];
    if masked_also_output {
        outputs.push(vi("swm", &[2, 2, 2, 5, 5]));
    }
    let mut mask = weights("m", &[2, 1, 5, 5], 61);
    mask.float_data
        .iter_mut()
        .for_each(|v| *v = if *v > 0.3 { -100.0 } else { 0.0 });
    let inits = vec![
        weights("rel", &[2, 5, 5], 62),
        mask,
        ints("s5", &[2, 2, 2, 5, 5]),
        ints("s4", &[4, 2, 5, 5]),
    ];
    model(nodes, inits, vec![vi("x", &[4, 2, 5, 4])], outputs, 17)
}

#[test]
fn a_mask_added_per_window_joins_the_bias_of_one_attention() {
    let bytes = windowed_attention_block(false);
    let g = optimized(&bytes);
    assert_eq!(op_types(&g), ["Transpose", "ScaledDotAttention"]);
    // One bias: relative positions + mask, tiled over images, constant over nothing.
    let bias = g.nodes[1].inputs[3].expect("bias input");
    assert_eq!(g.values[bias].shape, [4, 2, 5, 5]);
    check_equivalent(&bytes, &input(&[4, 2, 5, 4]));
    check_every_algo_and_tier(&bytes, &input(&[4, 2, 5, 4]));
}

#[test]
fn must_not_fold_a_mask_whose_per_window_sum_is_an_output() {
    let bytes = windowed_attention_block(true);
    let ops = op_types(&optimized(&bytes));
    assert!(ops.contains(&"Reshape".to_string()), "{ops:?}");
    assert!(ops.contains(&"Softmax".to_string()), "{ops:?}");
    // The two constant adds stay apart: the first is fused nowhere, the second is read out.
    assert_eq!(ops.iter().filter(|o| *o == "Add").count(), 2, "{ops:?}");
    check_equivalent(&bytes, &input(&[4, 2, 5, 4]));
}

/// LayerNormalization as exporters write it before opset 17, over the last axis of
/// x [1, 5, 8]; `mean_also_output` makes the first mean an extra graph output.
fn expanded_layer_norm(mean_also_output: bool) -> Vec<u8> {
    let nodes = vec![
        with_int(node("m1", "ReduceMean", &["x"], &["m"]), "keepdims", 1),
        node("sub", "Sub", &["x", "m"], &["d"]),
        node("pow", "Pow", &["d", "two"], &["d2"]),
        with_int(node("m2", "ReduceMean", &["d2"], &["v"]), "keepdims", 1),
        node("add", "Add", &["v", "eps"], &["ve"]),
        node("sqrt", "Sqrt", &["ve"], &["s"]),
        node("div", "Div", &["d", "s"], &["n"]),
        node("scale", "Mul", &["n", "gamma"], &["ns"]),
        node("bias", "Add", &["ns", "beta"], &["y"]),
    ];
    let nodes: Vec<_> = nodes
        .into_iter()
        .map(|n| {
            if n.op_type() == "ReduceMean" {
                with_ints(n, "axes", &[-1])
            } else {
                n
            }
        })
        .collect();
    let mut outputs = vec![vi("y", &[1, 5, 8])];
    if mean_also_output {
        outputs.push(vi("m", &[1, 5, 1]));
    }
    let inits = vec![
        scalar("two", 2.0),
        scalar("eps", 1e-5),
        weights("gamma", &[8], 7),
        weights("beta", &[8], 8),
    ];
    model(nodes, inits, vec![vi("x", &[1, 5, 8])], outputs, 13)
}

#[test]
fn expanded_layer_norm_becomes_one_layer_normalization() {
    let bytes = expanded_layer_norm(false);
    let g = optimized(&bytes);
    assert_eq!(op_types(&g), ["LayerNormalization"]);
    check_equivalent(&bytes, &input(&[1, 5, 8]));
}

#[test]
fn must_not_fuse_a_layer_norm_whose_mean_is_read_elsewhere() {
    let bytes = expanded_layer_norm(true);
    let ops = op_types(&optimized(&bytes));
    assert!(!ops.contains(&"LayerNormalization".to_string()), "{ops:?}");
    check_equivalent(&bytes, &input(&[1, 5, 8]));
}

/// Separate Q, K and V projections of x [1, 5, 8] (as Hugging Face exports write them), the
/// K one without a bias; with `k_reads_other`, K projects `x2 = x + 1` instead.
fn separate_qkv(k_reads_other: bool) -> Vec<u8> {
    let k_in = if k_reads_other { "x2" } else { "x" };
    let nodes = vec![
        node("plus", "Add", &["x", "one"], &["x2"]),
        node("q", "MatMul", &["x", "wq"], &["q0"]),
        node("qb", "Add", &["q0", "bq"], &["q"]),
        node("k", "MatMul", &[k_in, "wk"], &["k"]),
        node("v", "MatMul", &["x", "wv"], &["v0"]),
        node("vb", "Add", &["v0", "bv"], &["v"]),
        with_int(node("cat", "Concat", &["q", "k", "v"], &["y"]), "axis", -1),
    ];
    let inits = vec![
        scalar("one", 1.0),
        weights("wq", &[8, 6], 1),
        weights("bq", &[6], 2),
        weights("wk", &[8, 6], 3),
        weights("wv", &[8, 6], 4),
        weights("bv", &[6], 5),
    ];
    model(
        nodes,
        inits,
        vec![vi("x", &[1, 5, 8])],
        vec![vi("y", &[1, 5, 18])],
        17,
    )
}

#[test]
fn projections_of_one_input_become_one_linear_and_column_views() {
    let bytes = separate_qkv(false);
    let ops = op_types(&optimized(&bytes));
    assert_eq!(ops.iter().filter(|o| *o == "Linear").count(), 1, "{ops:?}");
    assert_eq!(ops.iter().filter(|o| *o == "Slice").count(), 3, "{ops:?}");
    check_equivalent(&bytes, &input(&[1, 5, 8]));
}

#[test]
fn must_not_merge_projections_of_different_inputs() {
    let bytes = separate_qkv(true);
    let ops = op_types(&optimized(&bytes));
    assert_eq!(ops.iter().filter(|o| *o == "Linear").count(), 2, "{ops:?}");
    assert_eq!(ops.iter().filter(|o| *o == "Slice").count(), 2, "{ops:?}");
    check_equivalent(&bytes, &input(&[1, 5, 8]));
}
