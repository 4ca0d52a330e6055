//! A model's interface as the file declares it — producer, opsets, and the graph's inputs
//! (initializers excluded) and outputs — read without importing the graph, for front ends
//! that describe a model before (or instead of) compiling it.

use runtime::DType;

use crate::import::{declared, decode};
use crate::ir::Dim;
use crate::onnx::{tensor_proto::DataType, type_proto, ValueInfoProto};

/// What a model file declares about how it is called.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// ONNX IR version.
    pub ir_version: i64,
    /// `producer_name`, e.g. `pytorch`.
    pub producer_name: String,
    /// `producer_version`.
    pub producer_version: String,
    /// `(domain, version)` in file order; the default domain (`ai.onnx`) is spelled "".
    pub opsets: Vec<(String, i64)>,
    /// Graph inputs that are not initializers, in file order.
    pub inputs: Vec<Port>,
    /// Graph outputs, in file order.
    pub outputs: Vec<Port>,
}

/// The kind of value an input or output is (the case of its ONNX `TypeProto`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    Tensor,
    Sequence,
    Map,
    Optional,
    SparseTensor,
    /// No type, or one this ONNX version does not know.
    Unknown,
}

/// One declared input or output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// The value's name (may be empty in a malformed file).
    pub name: String,
    pub kind: ValueKind,
    /// A tensor's element type as declared; `Undefined` when not a tensor, not given, or
    /// not a known code.
    pub elem_type: DataType,
    /// `elem_type` as a runtime dtype, when the runtime has it.
    pub dtype: Option<DType>,
    /// A tensor's declared dims; `None` when it declares no shape.
    pub dims: Option<Vec<Dim>>,
}

/// Why [`read`] found no interface.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The bytes are not an ONNX `ModelProto` (the protobuf decoder's message).
    #[error("malformed ONNX model: {0}")]
    Decode(String),
    /// The model has no graph.
    #[error("the model has no graph")]
    NoGraph,
}

/// Reads the interface of the ONNX model in `bytes`.
pub fn read(bytes: &[u8]) -> Result<Interface, ReadError> {
    let model = decode(bytes).map_err(|e| match e {
        crate::Error::Decode(m) => ReadError::Decode(m),
        other => ReadError::Decode(other.to_string()),
    })?;
    let graph = model.graph.as_ref().ok_or(ReadError::NoGraph)?;
    let initializers: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name()).collect();
    Ok(Interface {
        ir_version: model.ir_version(),
        producer_name: model.producer_name().to_string(),
        producer_version: model.producer_version().to_string(),
        opsets: model
            .opset_import
            .iter()
            .map(|o| {
                let domain = match o.domain() {
                    "ai.onnx" => "",
                    d => d,
                };
                (domain.to_string(), o.version())
            })
            .collect(),
        inputs: graph
            .input
            .iter()
            .filter(|v| !initializers.contains(v.name()))
            .map(port)
            .collect(),
        outputs: graph.output.iter().map(port).collect(),
    })
}

fn port(v: &ValueInfoProto) -> Port {
    let d = declared(v);
    let value = v.r#type.as_ref().and_then(|t| t.value.as_ref());
    let (kind, elem_type) = match value {
        Some(type_proto::Value::TensorType(t)) => (
            ValueKind::Tensor,
            DataType::try_from(t.elem_type()).unwrap_or(DataType::Undefined),
        ),
        Some(type_proto::Value::SequenceType(_)) => (ValueKind::Sequence, DataType::Undefined),
        Some(type_proto::Value::MapType(_)) => (ValueKind::Map, DataType::Undefined),
        Some(type_proto::Value::OptionalType(_)) => (ValueKind::Optional, DataType::Undefined),
        Some(type_proto::Value::SparseTensorType(_)) => {
            (ValueKind::SparseTensor, DataType::Undefined)
        }
        None => (ValueKind::Unknown, DataType::Undefined),
    };
    Port {
        name: d.name,
        kind,
        elem_type,
        dtype: d.dtype,
        dims: d.dims,
    }
}

impl Interface {
    /// The default-domain opset version, if the model imports one.
    pub fn onnx_opset(&self) -> Option<i64> {
        self.opsets
            .iter()
            .find(|(d, _)| d.is_empty())
            .map(|&(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::{
        tensor_shape_proto::{dimension, Dimension},
        GraphProto, ModelProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto,
    };
    use prost::Message;

    fn tensor(name: &str, elem: DataType, dims: Vec<Option<dimension::Value>>) -> ValueInfoProto {
        ValueInfoProto {
            name: Some(name.into()),
            r#type: Some(TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: Some(elem as i32),
                    shape: Some(TensorShapeProto {
                        dim: dims
                            .into_iter()
                            .map(|value| Dimension {
                                value,
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

    #[test]
    fn reads_declared_interface_without_importing() {
        use dimension::Value::{DimParam, DimValue};
        let model = ModelProto {
            ir_version: Some(8),
            producer_name: Some("pytorch".into()),
            opset_import: vec![
                OperatorSetIdProto {
                    domain: Some("ai.onnx".into()),
                    version: Some(13),
                },
                OperatorSetIdProto {
                    domain: Some("com.microsoft".into()),
                    version: Some(1),
                },
            ],
            graph: Some(GraphProto {
                input: vec![
                    tensor(
                        "x",
                        DataType::Float,
                        vec![
                            Some(DimParam("N".into())),
                            Some(DimValue(3)),
                            Some(DimValue(-1)),
                            None,
                        ],
                    ),
                    tensor("w", DataType::Float, vec![Some(DimValue(3))]),
                ],
                initializer: vec![TensorProto {
                    name: Some("w".into()),
                    ..Default::default()
                }],
                output: vec![
                    tensor("y", DataType::Complex64, vec![]),
                    ValueInfoProto {
                        name: Some("s".into()),
                        r#type: Some(TypeProto {
                            value: Some(type_proto::Value::SequenceType(Box::default())),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }),
            ..Default::default()
        };
        let i = read(&model.encode_to_vec()).unwrap();
        assert_eq!(i.producer_name, "pytorch");
        assert_eq!(i.opsets, vec![("".into(), 13), ("com.microsoft".into(), 1)]);
        assert_eq!(i.onnx_opset(), Some(13));
        assert_eq!(i.inputs.len(), 1, "the initializer is not an input");
        let x = &i.inputs[0];
        assert_eq!(
            (x.kind, x.elem_type, x.dtype),
            (ValueKind::Tensor, DataType::Float, Some(DType::F32))
        );
        assert_eq!(
            x.dims,
            Some(vec![
                Dim::Symbolic("N".into()),
                Dim::Fixed(3),
                Dim::Unknown,
                Dim::Unknown
            ])
        );
        assert_eq!(
            (i.outputs[0].elem_type, i.outputs[0].dtype),
            (DataType::Complex64, None)
        );
        assert_eq!(
            (i.outputs[1].kind, i.outputs[1].dims.clone()),
            (ValueKind::Sequence, None)
        );
    }

    #[test]
    fn garbage_and_graphless_models_are_errors() {
        assert!(matches!(
            read(b"\xff\xff\xff\xff not onnx"),
            Err(ReadError::Decode(_))
        ));
        assert_eq!(
            read(&ModelProto::default().encode_to_vec()),
            Err(ReadError::NoGraph)
        );
    }
}
