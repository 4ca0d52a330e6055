//! Bad input of every kind gets a clear error that names the thing, never a panic.

use std::path::PathBuf;
use std::process::Command;

use crate::common;

use crate::common::{node, vi};
use compiler::onnx::{NodeProto, TensorProto};
use compiler::{load_bytes, Error, ImportOptions};

/// A graph `x: float[2, 2] → y: float[2, 2]` at opset 13.
fn model(nodes: Vec<NodeProto>, inits: Vec<TensorProto>) -> Vec<u8> {
    common::model(
        nodes,
        inits,
        vec![vi("x", &[2, 2])],
        vec![vi("y", &[2, 2])],
        13,
    )
}

fn import_err(bytes: &[u8]) -> String {
    match load_bytes(bytes, &ImportOptions::default()) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

fn good_model() -> Vec<u8> {
    model(vec![node("add", "Add", &["x", "x"], &["y"])], vec![])
}

#[test]
fn the_good_model_loads() {
    load_bytes(&good_model(), &ImportOptions::default()).unwrap();
}

#[test]
fn truncated_model_is_a_decode_error() {
    let bytes =
        std::fs::read(compiler::conformance::shared_dir().join("models/resnet18_probs.onnx"))
            .unwrap();
    for cut in [1, 100, 1000, bytes.len() / 2, bytes.len() - 1] {
        let e = import_err(&bytes[..cut]);
        assert!(e.starts_with("malformed ONNX model"), "cut {cut}: {e}");
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut state = 0x9E3779B97F4A7C15u64;
    for len in [0usize, 1, 7, 64, 4096] {
        for _ in 0..50 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            // Any outcome but a panic is acceptable; most are decode errors.
            let _ = load_bytes(&bytes, &ImportOptions::default());
        }
    }
    let e = import_err(&[]);
    assert!(e.contains("no graph"), "{e}");
}

#[test]
fn two_unsupported_ops_are_listed_in_one_error() {
    let bytes = model(
        vec![
            node("a", "Add", &["x", "x"], &["t"]),
            node("weird1", "FancyOp", &["t"], &["u"]),
            node("weird2", "OtherOp", &["u"], &["y"]),
        ],
        vec![],
    );
    let err = load_bytes(&bytes, &ImportOptions::default()).unwrap_err();
    let Error::Unsupported(list) = &err else {
        panic!("{err}")
    };
    assert_eq!(list.len(), 2);
    assert_eq!(
        err.to_string(),
        "the model has 2 unsupported node(s):\n  node 'weird1': op FancyOp (domain ai.onnx, opset 13)\n  node 'weird2': op OtherOp (domain ai.onnx, opset 13)"
    );
}

#[test]
fn a_cycle_is_reported_with_its_nodes() {
    let bytes = model(
        vec![
            node("n1", "Add", &["x", "b"], &["a"]),
            node("n2", "Add", &["a", "x"], &["b"]),
            node("n3", "Add", &["a", "b"], &["y"]),
        ],
        vec![],
    );
    let e = import_err(&bytes);
    assert!(
        e.contains("the graph has a cycle through nodes n1, n2, n3"),
        "{e}"
    );
}

#[test]
fn reading_an_undefined_value_names_node_and_value() {
    let bytes = model(vec![node("adder", "Add", &["x", "ghost"], &["y"])], vec![]);
    let e = import_err(&bytes);
    assert!(
        e.contains("node 'adder': reads undefined value 'ghost'"),
        "{e}"
    );
}

#[test]
fn initializer_length_disagreeing_with_dims_is_named() {
    let w = TensorProto {
        name: Some("w".into()),
        dims: vec![2, 2],
        data_type: Some(1),
        raw_data: Some(vec![0u8; 12]),
        ..Default::default()
    };
    let bytes = model(vec![node("add", "Add", &["x", "w"], &["y"])], vec![w]);
    let e = import_err(&bytes);
    assert!(
        e.contains("initializer 'w': 12 bytes of float32 data do not fit shape [2, 2]"),
        "{e}"
    );
}

#[test]
fn bad_attributes_are_reported_per_node_all_at_once() {
    let mut c1 = node("c1", "Conv", &["x", "x"], &["t"]);
    c1.attribute.push(compiler::onnx::AttributeProto {
        name: Some("group".into()),
        i: Some(0),
        ..Default::default()
    });
    let mut c2 = node("c2", "Conv", &["t", "x"], &["y"]);
    c2.attribute.push(compiler::onnx::AttributeProto {
        name: Some("auto_pad".into()),
        s: Some(b"SIDEWAYS".to_vec()),
        ..Default::default()
    });
    let e = import_err(&model(vec![c1, c2], vec![]));
    assert!(
        e.contains("node 'c1' (Conv): group must be positive"),
        "{e}"
    );
    assert!(
        e.contains("node 'c2' (Conv): unknown auto_pad 'SIDEWAYS'"),
        "{e}"
    );
}

#[test]
fn conflicting_input_shape_names_both_shapes() {
    let opts = ImportOptions {
        input_shapes: [("x".to_string(), vec![3, 2])].into(),
        ..Default::default()
    };
    let e = load_bytes(&good_model(), &opts).unwrap_err().to_string();
    assert_eq!(
        e,
        "input 'x': the given shape [3, 2] conflicts with the model's declared shape [2, 2]"
    );
}

fn bqmlc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bqmlc"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bqmlc-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn run_rejects_wrong_rank_and_dtype_npy_naming_the_input() {
    let m = tmp("m.onnx");
    std::fs::write(&m, good_model()).unwrap();
    let rank3 = tmp("rank3.npy");
    runtime::npy::write(&rank3, &runtime::Tensor::f32(vec![1, 2, 2], vec![0.0; 4])).unwrap();
    let out = bqmlc()
        .args([
            "run",
            m.to_str().unwrap(),
            "--input",
            &format!("x={}", rank3.display()),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(
            "input 'x': the given shape [1, 2, 2] conflicts with the model's declared shape [2, 2]"
        ),
        "{err}"
    );

    let ints = tmp("ints.npy");
    runtime::npy::write(&ints, &runtime::Tensor::f64(vec![2, 2], vec![0.0; 4])).unwrap();
    let out = bqmlc()
        .args([
            "run",
            m.to_str().unwrap(),
            "--input",
            &format!("x={}", ints.display()),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("input 'x': expected float32 but got float64"),
        "{err}"
    );

    let out = bqmlc()
        .args([
            "run",
            m.to_str().unwrap(),
            "--input",
            "x=/nonexistent/file.npy",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("input 'x': cannot read /nonexistent/file.npy"),
        "{err}"
    );

    let out = bqmlc().args(["run", m.to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("input 'x': missing"), "{err}");
}

#[test]
fn run_on_a_missing_model_names_the_file() {
    let out = bqmlc()
        .args(["run", "/nonexistent/model.onnx"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cannot read /nonexistent/model.onnx"), "{err}");
}

#[test]
fn external_tensor_data_is_read_next_to_the_model_and_bad_ranges_are_named() {
    use compiler::onnx::StringStringEntryProto;
    let dir = tmp("external");
    std::fs::create_dir_all(&dir).unwrap();
    let vals: Vec<u8> = [1.5f32, -2.0, 3.25, 4.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let mut blob = vec![0u8; 8];
    blob.extend(&vals);
    std::fs::write(dir.join("weights.bin"), &blob).unwrap();
    let entry = |k: &str, v: &str| StringStringEntryProto {
        key: Some(k.into()),
        value: Some(v.into()),
    };
    let w = |offset: &str| TensorProto {
        name: Some("w".into()),
        dims: vec![2, 2],
        data_type: Some(1),
        data_location: Some(1),
        external_data: vec![
            entry("location", "weights.bin"),
            entry("offset", offset),
            entry("length", "16"),
        ],
        ..Default::default()
    };
    let good = model(vec![node("add", "Add", &["x", "w"], &["y"])], vec![w("8")]);
    std::fs::write(dir.join("m.onnx"), &good).unwrap();
    let g = compiler::load_file(&dir.join("m.onnx"), &ImportOptions::default()).unwrap();
    let x = runtime::Tensor::f32(vec![2, 2], vec![0.0; 4]);
    let y = compiler::reference::run(&g, &[("x", &x)]).unwrap();
    assert_eq!(y[0].as_f32().unwrap(), &[1.5, -2.0, 3.25, 4.0]);

    let bad = model(
        vec![node("add", "Add", &["x", "w"], &["y"])],
        vec![w("100")],
    );
    std::fs::write(dir.join("bad.onnx"), &bad).unwrap();
    let e = compiler::load_file(&dir.join("bad.onnx"), &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("initializer 'w': external data range 100..116 is outside"),
        "{e}"
    );
}

/// A float value of `rank` symbolic dimensions `d0`, `d1`, ….
fn symbolic(name: &str, rank: usize) -> compiler::onnx::ValueInfoProto {
    use compiler::onnx::{tensor_shape_proto::dimension, type_proto};
    let mut v = vi(name, &vec![0; rank]);
    if let Some(type_proto::Value::TensorType(t)) = v.r#type.as_mut().and_then(|t| t.value.as_mut())
    {
        for (i, d) in t.shape.as_mut().unwrap().dim.iter_mut().enumerate() {
            d.value = Some(dimension::Value::DimParam(format!("d{i}")));
        }
    }
    v
}

#[test]
fn huge_shapes_are_refused_at_import_instead_of_overflowing() {
    let opts = ImportOptions {
        input_shapes: [("x".to_string(), vec![1 << 20, 1 << 20])].into(),
        ..Default::default()
    };
    let bytes = common::model(
        vec![node("add", "Add", &["x", "x"], &["y"])],
        vec![],
        vec![symbolic("x", 2)],
        vec![symbolic("y", 2)],
        13,
    );
    let e = load_bytes(&bytes, &opts).unwrap_err().to_string();
    assert_eq!(
        e,
        "input 'x': has shape [1048576, 1048576] with more than the limit of 268435456 elements"
    );
}

/// `y = Loop(m = 3, start = 0)` whose body adds a constant 1 or, with `body_reads_input`,
/// the run-time input `x` (an outer-scope read) to the carried value.
fn loop_model(body_reads_input: bool) -> Vec<u8> {
    use compiler::onnx::{attribute_proto::AttributeType, AttributeProto, GraphProto};
    let addend = if body_reads_input { "x" } else { "one" };
    let body = GraphProto {
        name: Some("body".into()),
        node: vec![
            node("keep", "Identity", &["cond"], &["cond_out"]),
            node("acc", "Add", &["prev", addend], &["next"]),
        ],
        input: vec![vi("i", &[]), vi("cond", &[]), vi("prev", &[2, 2])],
        output: vec![vi("cond_out", &[]), vi("next", &[2, 2])],
        ..Default::default()
    };
    let mut lp = node("loop", "Loop", &["m", "", "start"], &["y"]);
    lp.attribute.push(AttributeProto {
        name: Some("body".into()),
        r#type: Some(AttributeType::Graph as i32),
        g: Some(body),
        ..Default::default()
    });
    let mut m = common::ints("m", &[3]);
    m.dims.clear();
    let mut start = common::weights("start", &[2, 2], 1);
    start.float_data = vec![0.0; 4];
    let mut one = common::weights("one", &[2, 2], 2);
    one.float_data = vec![1.0; 4];
    model(vec![lp], vec![m, start, one])
}

#[test]
fn a_loop_over_constants_folds_and_over_run_time_values_is_refused_by_name() {
    let g = load_bytes(&loop_model(false), &ImportOptions::default()).unwrap();
    let x = runtime::Tensor::f32(vec![2, 2], vec![5.0; 4]);
    let y = compiler::reference::run(&g, &[("x", &x)]).unwrap();
    assert_eq!(y[0].as_f32().unwrap(), &[3.0; 4], "three iterations of +1");
    let m = compiler::compile(g).unwrap();
    let mut st = m.new_state(1);
    assert_eq!(
        m.predict(&mut st, &[&x]).unwrap()[0].as_f32().unwrap(),
        &[3.0; 4]
    );
    let err = import_err(&loop_model(true));
    assert!(
        err.contains("node 'loop'") && err.contains("must be a constant known at compile time"),
        "{err}"
    );
}
