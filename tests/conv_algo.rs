//! Per-layer convolution algorithm choice: a 3×3 stride-1 conv that is lowered to Winograd and
//! convolutions that must not be (stride 2, 1×1, depthwise), each compiled result checked
//! against the reference interpreter.

use crate::common::*;
use compiler::lower::{lower_for, lower_with};
use compiler::plan::StepKind;
use compiler::{load_bytes, reference, ConvAlgo, Graph, ImportOptions};
use kernels::Isa;
use runtime::Tensor;

fn optimized(bytes: &[u8]) -> Graph {
    let mut g = load_bytes(bytes, &ImportOptions::default()).unwrap();
    compiler::passes::optimize(&mut g).unwrap();
    g
}

/// `(symbol, desc)` of every conv-kernel step of the plan under `algo`.
fn conv_steps(g: &Graph, algo: ConvAlgo) -> Vec<(String, String)> {
    steps_of(lower_with(g, algo).unwrap())
}

/// As [`conv_steps`], lowered for kernel tier `isa` (the plan is only inspected, so any tier
/// can be asked for on any CPU).
fn conv_steps_for(g: &Graph, algo: ConvAlgo, isa: Isa) -> Vec<(String, String)> {
    steps_of(lower_for(g, algo, isa).unwrap())
}

fn steps_of(plan: compiler::plan::Plan) -> Vec<(String, String)> {
    plan.steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Call(c) if c.symbol == "bqml_conv2d" || c.symbol == "bqml_winograd" => {
                Some((c.symbol.to_string(), c.desc.clone()))
            }
            _ => None,
        })
        .collect()
}

fn input(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::f32(
        shape.to_vec(),
        (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
            .collect(),
    )
}

/// The jit under `algo` agrees with the reference interpreter on the unoptimised graph.
fn check_jit(bytes: &[u8], x: &Tensor, algo: ConvAlgo) {
    let g = load_bytes(bytes, &ImportOptions::default()).unwrap();
    let want = reference::run(&g, &[("x", x)]).unwrap();
    let opts = compiler::CompileOptions {
        conv_algo: algo,
        ..Default::default()
    };
    let (m, _) = compiler::compile_with(g, &opts).unwrap();
    for threads in [1, 2] {
        let mut st = m.new_state(threads);
        let got = m.predict(&mut st, &[x]).unwrap();
        for (w, j) in want.iter().zip(&got) {
            assert_eq!(w.shape(), j.shape());
            for (a, b) in w.to_f64_vec().iter().zip(j.to_f64_vec()) {
                assert!(
                    (a - b).abs() <= 1e-4 * (1.0 + a.abs()),
                    "{algo:?}, {threads} threads: jit {b} vs reference {a}"
                );
            }
        }
    }
}

fn conv3x3(
    name: &str,
    x: &str,
    w: &str,
    b: &str,
    y: &str,
    stride: i64,
    group: i64,
) -> compiler::onnx::NodeProto {
    let n = with_ints(node(name, "Conv", &[x, w, b], &[y]), "pads", &[1, 1, 1, 1]);
    let n = with_ints(n, "strides", &[stride, stride]);
    with_int(n, "group", group)
}

/// x → 3×3/1 conv (24 → 40) → + x' → relu, with odd spatial sizes (13 × 11) so edge tiles
/// are partial: a residual block shape Winograd must take.
#[test]
fn three_by_three_stride_one_conv_is_lowered_to_winograd() {
    let nodes = vec![
        conv3x3("c0", "x", "w0", "b0", "t0", 1, 1),
        conv3x3("c1", "t0", "w1", "b1", "t1", 1, 1),
        node("add", "Add", &["t1", "t0"], &["s"]),
        node("relu", "Relu", &["s"], &["y"]),
    ];
    let inits = vec![
        weights("w0", &[40, 24, 3, 3], 1),
        weights("b0", &[40], 2),
        weights("w1", &[40, 40, 3, 3], 3),
        weights("b1", &[40], 4),
    ];
    let bytes = model(
        nodes,
        inits,
        vec![vi("x", &[1, 24, 13, 11])],
        vec![vi("y", &[1, 40, 13, 11])],
        13,
    );
    let g = optimized(&bytes);
    for isa in [Isa::Avx2Fma, Isa::Portable] {
        let auto = conv_steps_for(&g, ConvAlgo::Auto, isa);
        assert_eq!(auto.len(), 2, "{auto:?}");
        for (sym, desc) in &auto {
            assert_eq!(sym, "bqml_winograd", "{desc}");
            assert!(
                desc.contains("F(2x2,3x3)"),
                "{isa}: 11-wide map gets F(2x2): {desc}"
            );
        }
    }
    // The avx512 direct convolution wins below 14² (fewer weight bytes to stream); from 14²
    // on F(2×2) does.
    let auto = conv_steps_for(&g, ConvAlgo::Auto, Isa::Avx512);
    assert!(
        auto.iter()
            .all(|(s, d)| s == "bqml_conv2d" && d.contains("[avx512]")),
        "avx512: 11-wide map stays direct: {auto:?}"
    );
    assert!(conv_steps(&g, ConvAlgo::Winograd)
        .iter()
        .all(|(s, d)| s == "bqml_winograd" && d.contains("F(4x4,3x3)")));
    assert!(conv_steps(&g, ConvAlgo::Direct)
        .iter()
        .all(|(s, _)| s == "bqml_conv2d"));
    let x = input(&[1, 24, 13, 11]);
    for algo in [
        ConvAlgo::Auto,
        ConvAlgo::Direct,
        ConvAlgo::Winograd,
        ConvAlgo::WinogradF2,
    ] {
        check_jit(&bytes, &x, algo);
    }
}

/// Stride 2, 1×1 and depthwise convolutions stay direct even when Winograd is forced; a
/// 3×3/1 conv with 8 channels is direct under `auto` (too narrow to pay) but Winograd when
/// forced.
#[test]
fn stride_two_pointwise_and_depthwise_convs_are_not_winograd() {
    let pointwise = with_ints(
        node("pw", "Conv", &["t0", "w1", "b1"], &["t1"]),
        "strides",
        &[1, 1],
    );
    let nodes = vec![
        conv3x3("s2", "x", "w0", "b0", "t0", 2, 1),
        pointwise,
        conv3x3("dw", "t1", "w2", "b2", "t2", 1, 32),
        conv3x3("narrow", "t2", "w3", "b3", "y", 1, 1),
    ];
    let inits = vec![
        weights("w0", &[32, 32, 3, 3], 1),
        weights("b0", &[32], 2),
        weights("w1", &[32, 32, 1, 1], 3),
        weights("b1", &[32], 4),
        weights("w2", &[32, 1, 3, 3], 5),
        weights("b2", &[32], 6),
        weights("w3", &[8, 32, 3, 3], 7),
        weights("b3", &[8], 8),
    ];
    let bytes = model(
        nodes,
        inits,
        vec![vi("x", &[1, 32, 16, 16])],
        vec![vi("y", &[1, 8, 8, 8])],
        13,
    );
    let g = optimized(&bytes);
    let auto = conv_steps(&g, ConvAlgo::Auto);
    assert_eq!(auto.len(), 4, "{auto:?}");
    assert!(auto.iter().all(|(s, _)| s == "bqml_conv2d"), "{auto:?}");
    let forced = conv_steps(&g, ConvAlgo::Winograd);
    let wino: Vec<&String> = forced
        .iter()
        .filter(|(s, _)| s == "bqml_winograd")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(wino.len(), 1, "only the 3×3/1 dense conv: {forced:?}");
    assert!(wino[0].contains("32->8"), "{wino:?}");
    let x = input(&[1, 32, 16, 16]);
    check_jit(&bytes, &x, ConvAlgo::Auto);
    check_jit(&bytes, &x, ConvAlgo::Winograd);
}

#[test]
fn conv_algo_names_parse() {
    assert_eq!(ConvAlgo::parse("auto"), Some(ConvAlgo::Auto));
    assert_eq!(ConvAlgo::parse("Direct"), Some(ConvAlgo::Direct));
    assert_eq!(ConvAlgo::parse("winograd"), Some(ConvAlgo::Winograd));
    assert_eq!(ConvAlgo::parse("winograd-f2"), Some(ConvAlgo::WinogradF2));
    assert_eq!(ConvAlgo::parse("fft"), None);
}

/// The `auto` choice per tier by map size, on one 3×3/1 32→32 layer: avx512 keeps direct
/// below 14², F(2×2) below 28², F(4×4) from there; avx2 (and portable) start F(2×2) at any
/// size and F(4×4) at 14².
#[test]
fn auto_choice_follows_each_tiers_thresholds() {
    let kind = |steps: Vec<(String, String)>| -> &'static str {
        let (sym, desc) = &steps[0];
        match (sym.as_str(), desc.contains("F(4x4")) {
            ("bqml_conv2d", _) => "direct",
            (_, true) => "F4",
            _ => "F2",
        }
    };
    for (side, avx512, avx2) in [
        (7, "direct", "F2"),
        (13, "direct", "F2"),
        (14, "F2", "F4"),
        (27, "F2", "F4"),
        (28, "F4", "F4"),
    ] {
        let bytes = model(
            vec![conv3x3("c", "x", "w", "b", "y", 1, 1)],
            vec![weights("w", &[32, 32, 3, 3], 1), weights("b", &[32], 2)],
            vec![vi("x", &[1, 32, side, side])],
            vec![vi("y", &[1, 32, side, side])],
            13,
        );
        let g = optimized(&bytes);
        for (isa, want) in [
            (Isa::Avx512, avx512),
            (Isa::Avx2Fma, avx2),
            (Isa::Portable, avx2),
        ] {
            let got = kind(conv_steps_for(&g, ConvAlgo::Auto, isa));
            assert_eq!(got, want, "{side}² on {isa}");
        }
    }
}
