//! Older-opset forms of op group A, end to end (import → shape inference → reference run):
//! the node-test data only covers recent opsets for these.

use compiler::onnx::{
    attribute_proto::AttributeType, tensor_shape_proto::dimension, type_proto, AttributeProto,
    GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};
use prost::Message;
use runtime::Tensor;

fn value_info(name: &str, dims: &[usize]) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(1),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| compiler::onnx::tensor_shape_proto::Dimension {
                            value: Some(dimension::Value::DimValue(d as i64)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn attr_f(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        f: Some(f),
        r#type: Some(AttributeType::Float as i32),
        ..Default::default()
    }
}

fn attr_i(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        i: Some(i),
        r#type: Some(AttributeType::Int as i32),
        ..Default::default()
    }
}

fn attr_ints(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        ints: ints.to_vec(),
        r#type: Some(AttributeType::Ints as i32),
        ..Default::default()
    }
}

/// Runs a one-node float32 model at `opset` on the reference interpreter.
fn run(
    opset: i64,
    op: &str,
    attrs: Vec<AttributeProto>,
    inputs: &[(&str, Tensor)],
    out_dims: &[usize],
) -> Result<Tensor, String> {
    let node = NodeProto {
        op_type: Some(op.into()),
        input: inputs.iter().map(|(n, _)| n.to_string()).collect(),
        output: vec!["y".into()],
        attribute: attrs,
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: Some(7),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(opset),
        }],
        graph: Some(GraphProto {
            name: Some("g".into()),
            node: vec![node],
            input: inputs
                .iter()
                .map(|(n, t)| value_info(n, t.shape()))
                .collect(),
            output: vec![value_info("y", out_dims)],
            ..Default::default()
        }),
        ..Default::default()
    };
    let g = compiler::load_bytes(&model.encode_to_vec(), &Default::default())
        .map_err(|e| e.to_string())?;
    let named: Vec<(&str, &Tensor)> = inputs.iter().map(|(n, t)| (*n, t)).collect();
    let mut out = compiler::reference::run(&g, &named).map_err(|e| e.to_string())?;
    Ok(out.remove(0))
}

#[test]
fn clip_opset6_attributes() {
    let x = Tensor::f32(vec![4], vec![-3.0, -0.5, 0.5, 3.0]);
    let y = run(
        6,
        "Clip",
        vec![attr_f("min", -1.0), attr_f("max", 1.0)],
        &[("x", x.clone())],
        &[4],
    )
    .unwrap();
    assert_eq!(y.as_f32().unwrap(), &[-1.0, -0.5, 0.5, 1.0]);
    let y = run(6, "Clip", vec![attr_f("min", 0.0)], &[("x", x)], &[4]).unwrap();
    assert_eq!(y.as_f32().unwrap(), &[0.0, 0.0, 0.5, 3.0]);
}

#[test]
fn reduce_mean_opset13_axes_attribute() {
    let x = Tensor::f32(vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let y = run(
        13,
        "ReduceMean",
        vec![attr_ints("axes", &[-1]), attr_i("keepdims", 0)],
        &[("x", x.clone())],
        &[2],
    )
    .unwrap();
    assert_eq!(y.as_f32().unwrap(), &[2.0, 5.0]);
    // No axes: all of them.
    let y = run(13, "ReduceMean", vec![], &[("x", x)], &[1, 1]).unwrap();
    assert_eq!(y.as_f32().unwrap(), &[3.5]);
}

#[test]
fn softmax_opset11_coerces_to_2d() {
    let x = Tensor::f32(vec![1, 2, 2], vec![0.0; 4]);
    let y = run(11, "Softmax", vec![], &[("x", x.clone())], &[1, 2, 2]).unwrap();
    assert_eq!(y.as_f32().unwrap(), &[0.25; 4]);
    let y = run(
        13,
        "Softmax",
        vec![attr_i("axis", 1)],
        &[("x", x)],
        &[1, 2, 2],
    )
    .unwrap();
    assert_eq!(y.as_f32().unwrap(), &[0.5; 4]);
}

#[test]
fn gemm_opset6_broadcast_attribute() {
    let a = Tensor::f32(vec![1, 2], vec![1.0, 2.0]);
    let b = Tensor::f32(vec![2, 2], vec![1.0, 0.0, 0.0, 1.0]);
    let c = Tensor::f32(vec![2], vec![10.0, 20.0]);
    let inputs = [("a", a), ("b", b), ("c", c)];
    let y = run(6, "Gemm", vec![attr_i("broadcast", 1)], &inputs, &[1, 2]).unwrap();
    assert_eq!(y.as_f32().unwrap(), &[11.0, 22.0]);
    let err = run(6, "Gemm", vec![], &inputs, &[1, 2]).unwrap_err();
    assert!(err.contains("does not broadcast"), "{err}");
}

#[test]
fn bad_attributes_are_named_at_import() {
    let x = Tensor::f32(vec![2], vec![0.0, 1.0]);
    let err = run(
        13,
        "ArgMax",
        vec![attr_i("keepdims", 2)],
        &[("x", x.clone())],
        &[1],
    )
    .unwrap_err();
    assert!(err.contains("'keepdims'"), "{err}");
    let err = run(11, "Clip", vec![attr_f("max", 1.0)], &[("x", x)], &[2]).unwrap_err();
    assert!(err.contains("'min'/'max'"), "{err}");
}
