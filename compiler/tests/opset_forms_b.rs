//! Older-opset forms and dtype-generic use of op group B (shape ops, Pad, pools,
//! Resize/Upsample), end to end (import → shape inference → reference run): the node
//! tests only cover recent opsets and float32 data for these.

use compiler::onnx::{
    attribute_proto::AttributeType, tensor_shape_proto::dimension, type_proto, AttributeProto,
    GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto,
    TypeProto, ValueInfoProto,
};
use compiler::{load_bytes, ImportOptions};
use prost::Message;
use runtime::Tensor;

fn typed(name: &str, t: &Tensor) -> ValueInfoProto {
    let dim = |d: usize| compiler::onnx::tensor_shape_proto::Dimension {
        value: Some(dimension::Value::DimValue(d as i64)),
        ..Default::default()
    };
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(t.dtype().onnx_code()),
                shape: Some(TensorShapeProto {
                    dim: t.shape().iter().map(|&d| dim(d)).collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn tensor_proto(name: &str, t: &Tensor) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        data_type: Some(t.dtype().onnx_code()),
        dims: t.shape().iter().map(|&d| d as i64).collect(),
        raw_data: Some(t.to_le_bytes()),
        ..Default::default()
    }
}

enum A {
    I(i64),
    F(f32),
    S(&'static str),
    Is(&'static [i64]),
    Fs(&'static [f32]),
}

fn attr(name: &str, a: &A) -> AttributeProto {
    let mut p = AttributeProto {
        name: Some(name.into()),
        ..Default::default()
    };
    let t = match a {
        A::I(i) => {
            p.i = Some(*i);
            AttributeType::Int
        }
        A::F(f) => {
            p.f = Some(*f);
            AttributeType::Float
        }
        A::S(s) => {
            p.s = Some(s.as_bytes().to_vec());
            AttributeType::String
        }
        A::Is(v) => {
            p.ints = v.to_vec();
            AttributeType::Ints
        }
        A::Fs(v) => {
            p.floats = v.to_vec();
            AttributeType::Floats
        }
    };
    p.r#type = Some(t as i32);
    p
}

/// One node: `inputs` are (name, value, is_initializer); an empty name is an omitted
/// input. Returns the outputs of a reference run.
fn run_node(
    opset: i64,
    op_type: &str,
    inputs: &[(&str, &Tensor, bool)],
    outputs: &[&str],
    attrs: &[(&str, A)],
) -> Result<Vec<Tensor>, String> {
    let node = NodeProto {
        op_type: Some(op_type.into()),
        input: inputs.iter().map(|(n, _, _)| n.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute: attrs.iter().map(|(n, a)| attr(n, a)).collect(),
        ..Default::default()
    };
    let present = || inputs.iter().filter(|(n, _, _)| !n.is_empty());
    let graph = GraphProto {
        node: vec![node],
        input: present().map(|(n, t, _)| typed(n, t)).collect(),
        initializer: present()
            .filter(|(_, _, init)| *init)
            .map(|(n, t, _)| tensor_proto(n, t))
            .collect(),
        output: outputs
            .iter()
            .filter(|o| !o.is_empty())
            .map(|o| ValueInfoProto {
                name: Some(o.to_string()),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: Some(7),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(opset),
        }],
        graph: Some(graph),
        ..Default::default()
    };
    let g =
        load_bytes(&model.encode_to_vec(), &ImportOptions::default()).map_err(|e| e.to_string())?;
    let runtime: Vec<(&str, &Tensor)> = present()
        .filter(|(_, _, init)| !init)
        .map(|(n, t, _)| (*n, *t))
        .collect();
    compiler::reference::run(&g, &runtime).map_err(|e| e.to_string())
}

fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::f32(shape.to_vec(), v.to_vec())
}

fn i64s(v: &[i64]) -> Tensor {
    Tensor::i64(vec![v.len()], v.to_vec())
}

fn iota(shape: &[usize]) -> Tensor {
    let n = shape.iter().product::<usize>();
    Tensor::f32(shape.to_vec(), (0..n).map(|i| i as f32).collect())
}

#[test]
fn reshape_opset4_takes_the_shape_attribute() {
    let x = iota(&[2, 3]);
    let y = run_node(
        4,
        "Reshape",
        &[("x", &x, false)],
        &["y"],
        &[("shape", A::Is(&[3, -1]))],
    );
    assert_eq!(y.unwrap()[0], iota(&[3, 2]));
    let e = run_node(4, "Reshape", &[("x", &x, false)], &["y"], &[]).unwrap_err();
    assert!(e.contains("'shape'"), "{e}");
}

#[test]
fn squeeze_and_unsqueeze_opset11_take_the_axes_attribute() {
    let x = iota(&[2, 1]);
    let y = run_node(
        11,
        "Squeeze",
        &[("x", &x, false)],
        &["y"],
        &[("axes", A::Is(&[-1]))],
    );
    assert_eq!(y.unwrap()[0], iota(&[2]));
    let y = run_node(
        11,
        "Unsqueeze",
        &[("x", &x, false)],
        &["y"],
        &[("axes", A::Is(&[3, 0]))],
    );
    assert_eq!(y.unwrap()[0], iota(&[1, 2, 1, 1]));
    let e = run_node(11, "Unsqueeze", &[("x", &x, false)], &["y"], &[]).unwrap_err();
    assert!(e.contains("'axes'"), "{e}");
    // From opset 13 the attribute form is an error, not silently ignored.
    let axes = i64s(&[1]);
    let e = run_node(
        13,
        "Squeeze",
        &[("x", &x, false), ("a", &axes, true)],
        &["y"],
        &[("axes", A::Is(&[1]))],
    )
    .unwrap_err();
    assert!(
        e.contains("attribute 'axes' is input 1 from opset 13"),
        "{e}"
    );
}

#[test]
fn slice_opset9_takes_starts_ends_axes_attributes() {
    let x = iota(&[3, 4]);
    let y = run_node(
        9,
        "Slice",
        &[("x", &x, false)],
        &["y"],
        &[
            ("starts", A::Is(&[1, -2])),
            ("ends", A::Is(&[i64::MAX, 100])),
            ("axes", A::Is(&[0, 1])),
        ],
    );
    assert_eq!(y.unwrap()[0], f32s(&[2, 2], &[6.0, 7.0, 10.0, 11.0]));
}

#[test]
fn split_opset11_takes_the_split_attribute() {
    let x = iota(&[3]);
    let y = run_node(
        11,
        "Split",
        &[("x", &x, false)],
        &["a", "b"],
        &[("split", A::Is(&[1, 2]))],
    )
    .unwrap();
    assert_eq!(y, vec![f32s(&[1], &[0.0]), f32s(&[2], &[1.0, 2.0])]);
}

#[test]
fn pad_before_opset11_takes_pads_and_value_attributes() {
    let x = f32s(&[1, 2], &[1.0, 2.0]);
    let y = run_node(
        2,
        "Pad",
        &[("x", &x, false)],
        &["y"],
        &[("pads", A::Is(&[0, 1, 0, 2])), ("value", A::F(7.0))],
    );
    assert_eq!(y.unwrap()[0], f32s(&[1, 5], &[7.0, 1.0, 2.0, 7.0, 7.0]));
    // Opset 1 spelled the attribute `paddings`.
    let y = run_node(
        1,
        "Pad",
        &[("x", &x, false)],
        &["y"],
        &[
            ("paddings", A::Is(&[0, 2, 0, 0])),
            ("mode", A::S("reflect")),
        ],
    );
    assert_eq!(y.unwrap()[0], f32s(&[1, 4], &[1.0, 2.0, 1.0, 2.0]));
    let e = run_node(
        11,
        "Pad",
        &[("x", &x, false), ("p", &i64s(&[0, 0, 0, 1]), true)],
        &["y"],
        &[("mode", A::S("wrap"))],
    )
    .unwrap_err();
    assert!(e.contains("'mode'"), "{e}");
}

#[test]
fn upsample_opset7_attribute_and_opset9_input() {
    let x = f32s(&[1, 2], &[1.0, 2.0]);
    let want = f32s(&[2, 4], &[1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]);
    let y = run_node(
        7,
        "Upsample",
        &[("x", &x, false)],
        &["y"],
        &[("scales", A::Fs(&[2.0, 2.0]))],
    );
    assert_eq!(y.unwrap()[0], want);
    let s = f32s(&[2], &[2.0, 2.0]);
    let y = run_node(
        9,
        "Upsample",
        &[("x", &x, false), ("s", &s, true)],
        &["y"],
        &[],
    );
    assert_eq!(y.unwrap()[0], want);
    // Linear Upsample is asymmetric: the last input pixel is repeated at the end.
    let y = run_node(
        9,
        "Upsample",
        &[("x", &x, false), ("s", &f32s(&[2], &[1.0, 2.0]), true)],
        &["y"],
        &[("mode", A::S("linear"))],
    );
    assert_eq!(y.unwrap()[0], f32s(&[1, 4], &[1.0, 1.5, 2.0, 2.0]));
}

#[test]
fn resize_opset10_and_opset11_forms() {
    let x = f32s(&[1, 2], &[1.0, 2.0]);
    let s = f32s(&[2], &[1.0, 1.5]);
    // Resize-10 is (X, scales), asymmetric, nearest rounding down: floor(i / 1.5).
    let y = run_node(
        10,
        "Resize",
        &[("x", &x, false), ("s", &s, true)],
        &["y"],
        &[],
    );
    assert_eq!(y.unwrap()[0], f32s(&[1, 3], &[1.0, 1.0, 2.0]));
    // Resize-11 passes empty roi/scales tensors when sizes are used.
    let empty = Tensor::f32(vec![0], vec![]);
    let sizes = i64s(&[1, 4]);
    let y = run_node(
        11,
        "Resize",
        &[
            ("x", &x, false),
            ("roi", &empty, true),
            ("scales", &empty, true),
            ("sizes", &sizes, true),
        ],
        &["y"],
        &[
            ("mode", A::S("linear")),
            ("coordinate_transformation_mode", A::S("align_corners")),
        ],
    );
    let y = y.unwrap();
    let got = y[0].as_f32().unwrap();
    let want = [1.0, 4.0 / 3.0, 5.0 / 3.0, 2.0];
    assert!(
        got.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6),
        "{got:?}"
    );
    let e = run_node(
        13,
        "Resize",
        &[("x", &x, false), ("", &empty, false), ("s", &s, true)],
        &["y"],
        &[(
            "coordinate_transformation_mode",
            A::S("tf_half_pixel_for_nn"),
        )],
    )
    .unwrap_err();
    assert!(e.contains("coordinate_transformation_mode"), "{e}");
}

#[test]
fn maxpool_with_an_unnamed_indices_output_imports() {
    let x = iota(&[1, 1, 2, 2]);
    let y = run_node(
        12,
        "MaxPool",
        &[("x", &x, false)],
        &["y", ""],
        &[("kernel_shape", A::Is(&[2, 2]))],
    );
    assert_eq!(y.unwrap()[0], f32s(&[1, 1, 1, 1], &[3.0]));
}

#[test]
fn int64_shape_arithmetic_folds_through_shape_ops() {
    // A flatten-like reshape target built from int64 constants, as exporters emit it:
    // Gather the batch dim, Unsqueeze it, Concat with -1; import folds all of it.
    let dims = i64s(&[1, 2, 3]);
    let idx = Tensor::i64(vec![], vec![0]);
    let axes = i64s(&[0]);
    let minus1 = i64s(&[-1]);
    let x = iota(&[1, 2, 3]);
    let nodes = [
        ("Gather", vec!["dims", "idx"], "n", vec![]),
        ("Unsqueeze", vec!["n", "axes"], "n1", vec![]),
        (
            "Concat",
            vec!["n1", "minus1"],
            "shape",
            vec![("axis", A::I(0))],
        ),
        ("Reshape", vec!["x", "shape"], "y", vec![]),
    ];
    let graph = GraphProto {
        node: nodes
            .iter()
            .map(|(op, ins, out, attrs)| NodeProto {
                op_type: Some(op.to_string()),
                input: ins.iter().map(|s| s.to_string()).collect(),
                output: vec![out.to_string()],
                attribute: attrs.iter().map(|(n, a)| attr(n, a)).collect(),
                ..Default::default()
            })
            .collect(),
        input: vec![typed("x", &x)],
        initializer: [
            ("dims", &dims),
            ("idx", &idx),
            ("axes", &axes),
            ("minus1", &minus1),
        ]
        .iter()
        .map(|(n, t)| tensor_proto(n, t))
        .collect(),
        output: vec![ValueInfoProto {
            name: Some("y".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(13),
        }],
        graph: Some(graph),
        ..Default::default()
    };
    let g = load_bytes(&model.encode_to_vec(), &ImportOptions::default()).unwrap();
    let y = compiler::reference::run(&g, &[("x", &x)]).unwrap();
    assert_eq!(y[0], iota(&[1, 6]));
}
