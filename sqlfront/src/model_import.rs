//! What CREATE MODEL records about an ONNX model, and where its code comes from.
//!
//! The interface (inputs, outputs, producer, opsets) is read by the compiler
//! ([`compiler::interface`]); this module maps it to BigQuery types and to the catalog's
//! serialisable form. CREATE MODEL also compiles the model ahead of time into a shared
//! library kept in the catalog ([`compile_artifact`]), so a model that cannot run —
//! unsupported nodes, invalid graph — fails CREATE MODEL, and reopening the data directory
//! loads that library instead of recompiling ([`load_compiled`]).

use std::collections::BTreeMap;

use compiler::interface::{Port, ReadError, ValueKind};
use compiler::onnx::tensor_proto::DataType;
use compiler::CompileOptions;
use serde::{Deserialize, Serialize};

/// One dimension of a declared tensor shape (the catalog's form of [`compiler::ir::Dim`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dim {
    /// A fixed size.
    Fixed(i64),
    /// A named symbolic size (`batch`, `N`, …).
    Symbolic(String),
    /// Neither size nor name was given.
    Unknown,
}

impl From<&compiler::ir::Dim> for Dim {
    fn from(d: &compiler::ir::Dim) -> Dim {
        match d {
            compiler::ir::Dim::Fixed(v) => i64::try_from(*v).map_or(Dim::Unknown, Dim::Fixed),
            compiler::ir::Dim::Symbolic(s) => Dim::Symbolic(s.clone()),
            compiler::ir::Dim::Unknown => Dim::Unknown,
        }
    }
}

/// A graph input or output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorInfo {
    /// The ONNX value name, which is also the SQL column name.
    pub name: String,
    /// The ONNX element type, e.g. `FLOAT`.
    pub onnx_type: String,
    /// The BigQuery type of one element, e.g. `FLOAT64`.
    pub sql_type: String,
    /// The declared shape, `None` when the model does not declare one.
    pub shape: Option<Vec<Dim>>,
}

/// An `(domain, version)` operator-set import; the default domain is `""`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opset {
    /// Domain, `""` for the default ONNX domain.
    pub domain: String,
    /// Version.
    pub version: i64,
}

/// What CREATE MODEL records about an imported model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// ONNX IR version.
    pub ir_version: i64,
    /// `producer_name`, e.g. `pytorch`.
    pub producer_name: String,
    /// `producer_version`.
    pub producer_version: String,
    /// Operator-set imports.
    pub opsets: Vec<Opset>,
    /// Graph inputs that are not initializers (the model's features).
    pub inputs: Vec<TensorInfo>,
    /// Graph outputs (the model's labels).
    pub outputs: Vec<TensorInfo>,
}

impl ModelMeta {
    /// The default-domain opset version, if imported.
    pub fn onnx_opset(&self) -> Option<i64> {
        self.opsets
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map(|o| o.version)
    }
}

/// A model's ahead-of-time compiled library, kept in the catalog next to its ONNX copy.
/// It is valid for the key (model sha256, input shapes, CPU features, `conv_algo`, kernel
/// tier): loading checks them against the library's own metadata, this CPU and the
/// caller's compile options.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledArtifact {
    /// The shared library, relative to the data directory.
    pub file: String,
    /// Hex sha256 of the ONNX bytes it was compiled from.
    pub sha256: String,
    /// Hex sha256 of the library file itself, checked before the library is loaded
    /// (empty in catalogs from before it was recorded: such a library is never loaded,
    /// the ONNX copy is compiled instead).
    #[serde(default)]
    pub library_sha256: String,
    /// The input shapes it is specialised to, in input order.
    pub input_shapes: Vec<Vec<usize>>,
    /// CPU features its code needs (comma-separated names).
    pub cpu_features: String,
    /// Compile and link time in milliseconds.
    pub compile_ms: u64,
    /// Library size in bytes.
    pub size: u64,
    /// The convolution algorithm it was compiled with ([`compiler::ConvAlgo`]'s name;
    /// libraries from before this was recorded were compiled with `auto`).
    #[serde(default = "auto")]
    pub conv_algo: String,
    /// How many plan steps call each kernel (empty when not recorded).
    #[serde(default)]
    pub kernels: BTreeMap<String, usize>,
    /// The kernel tier its convolutions pin (`kernels::Isa` name; empty for libraries from
    /// before tiers were pinned, whose kernels took the best tier of the running CPU).
    #[serde(default)]
    pub isa: String,
}

impl CompiledArtifact {
    /// The tier its kernels run on this CPU.
    fn tier(&self) -> &str {
        if self.isa.is_empty() {
            kernels::Isa::detect().name()
        } else {
            &self.isa
        }
    }
}

fn auto() -> String {
    compiler::ConvAlgo::Auto.to_string()
}

/// Compiles ONNX `bytes` with `opts` for this CPU into a shared library at `dest`
/// (atomically), for the catalog entry `file` (where the library will be kept, relative to
/// the data directory).
pub fn compile_artifact(
    bytes: &[u8],
    opts: &CompileOptions,
    dest: &std::path::Path,
    file: String,
) -> Result<CompiledArtifact, ImportError> {
    let a = compiler::aot::compile_library(bytes, opts, dest)
        .map_err(|e| ImportError(e.to_string()))?;
    let library = compiler::limits::read_file(dest, compiler::limits::MAX_ARTIFACT_BYTES)
        .map_err(|e| ImportError(format!("cannot read {}: {e}", dest.display())))?;
    Ok(CompiledArtifact {
        file,
        sha256: runtime::artifact::hex(&a.meta.sha256),
        library_sha256: runtime::artifact::hex(&compiler::pipeline::sha256(&library)),
        input_shapes: a.meta.inputs.iter().map(|s| s.shape.clone()).collect(),
        cpu_features: runtime::artifact::feature_names(a.meta.features),
        compile_ms: a.compile_ms,
        size: a.size,
        conv_algo: opts.conv_algo.to_string(),
        kernels: compiler::pipeline::kernel_counts(&a.steps),
        isa: a.isa.name().to_string(),
    })
}

/// Compiles ONNX `bytes` with `opts` in this process.
pub fn compile_in_memory(
    bytes: &[u8],
    opts: &CompileOptions,
) -> Result<runtime::CompiledModel, ImportError> {
    let graph =
        compiler::load_bytes(bytes, &opts.import).map_err(|e| ImportError(e.to_string()))?;
    compiler::compile_with(graph, opts)
        .map(|(model, _)| model)
        .map_err(|e| ImportError(e.to_string()))
}

/// Where [`load_compiled`] got the model's code from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeSource {
    /// The catalog's compiled library (no compilation).
    Cached,
    /// Compiled now from the ONNX copy; the string says why the library was not used.
    Compiled(String),
}

/// The runnable model for catalog entry `model`: its compiled library when that is
/// present and valid for this model, its input shapes, this CPU and `opts`; otherwise
/// the ONNX copy `onnx_file` compiled in memory with `opts` (the catalog is not changed).
/// The library must lie inside `data_dir` ([`crate::catalog::data_file`]) and match its
/// recorded sha256 before it is loaded; a library that does not is an error naming the
/// model and the file (it was changed behind the catalog's back), and one without a
/// recorded sha256 is not loaded.
pub fn load_compiled(
    model: &str,
    data_dir: &std::path::Path,
    onnx_file: &std::path::Path,
    compiled: Option<&CompiledArtifact>,
    opts: &CompileOptions,
) -> Result<(runtime::CompiledModel, CodeSource), ImportError> {
    let conv_algo = opts.conv_algo.to_string();
    let isa = compiler::pipeline::kernel_tier(opts, compiler::Stage::Object)
        .map_err(|e| ImportError(e.to_string()))?
        .name();
    let why = match compiled {
        None => "the catalog has no compiled library for it".to_string(),
        Some(c) if c.conv_algo != conv_algo => format!(
            "{} was compiled with conv_algo {}, not {conv_algo}",
            c.file, c.conv_algo
        ),
        Some(c) if c.tier() != isa => format!(
            "{} was compiled for kernel tier {}, not {isa}",
            c.file,
            c.tier()
        ),
        Some(c) if c.library_sha256.is_empty() => {
            format!("the catalog records no sha256 for {}", c.file)
        }
        Some(c) => {
            let tampered = std::cell::Cell::new(false);
            let path = crate::catalog::data_file(data_dir, &format!("Model {model}"), &c.file)
                .map_err(|e| ImportError(e.message))?;
            let loaded = runtime::artifact::load_checked(&path, |bytes| {
                let got = runtime::artifact::hex(&compiler::pipeline::sha256(bytes));
                if got == c.library_sha256 {
                    return Ok(());
                }
                tampered.set(true);
                Err(format!(
                    "Model {model}: the compiled library {} has sha256 {got}, not the {} the catalog recorded; it was changed after CREATE MODEL and is not loaded",
                    c.file, c.library_sha256
                ))
            });
            match loaded {
                Ok((loaded, meta)) => {
                    let shapes: Vec<Vec<usize>> =
                        meta.inputs.iter().map(|s| s.shape.clone()).collect();
                    if runtime::artifact::hex(&meta.sha256) == c.sha256 && shapes == c.input_shapes
                    {
                        return Ok((loaded, CodeSource::Cached));
                    }
                    format!("{} was compiled from another model or shapes", c.file)
                }
                Err(e) if tampered.get() => return Err(ImportError(e)),
                Err(e) => e,
            }
        }
    };
    let bytes = compiler::read_model_file(onnx_file).map_err(|e| ImportError(e.to_string()))?;
    let model = compile_in_memory(&bytes, opts)?;
    Ok((model, CodeSource::Compiled(why)))
}

/// Why an ONNX file cannot be imported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ImportError(pub String);

/// Reads an ONNX model's interface ([`compiler::interface::read`]) and checks that its
/// inputs and outputs are named tensors of types BigQuery can map. Does not compile:
/// CREATE MODEL compiles ahead of time instead ([`compile_artifact`]).
pub fn read_interface(bytes: &[u8]) -> Result<ModelMeta, ImportError> {
    let i = compiler::interface::read(bytes).map_err(|e| {
        ImportError(match e {
            ReadError::Decode(m) => format!("The file is not a valid ONNX model: {m}"),
            ReadError::NoGraph => "The ONNX model has no graph".into(),
        })
    })?;
    let inputs = i
        .inputs
        .iter()
        .map(|p| tensor_info(p, "input"))
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = i
        .outputs
        .iter()
        .map(|p| tensor_info(p, "output"))
        .collect::<Result<Vec<_>, _>>()?;
    if inputs.is_empty() {
        return Err(ImportError("The ONNX model has no inputs".into()));
    }
    if outputs.is_empty() {
        return Err(ImportError("The ONNX model has no outputs".into()));
    }
    Ok(ModelMeta {
        ir_version: i.ir_version,
        producer_name: i.producer_name,
        producer_version: i.producer_version,
        opsets: i
            .opsets
            .into_iter()
            .map(|(domain, version)| Opset { domain, version })
            .collect(),
        inputs,
        outputs,
    })
}

/// The catalog's record of one input or output: its BigQuery element type and declared
/// shape, or BigQuery's error for a value it cannot map.
fn tensor_info(p: &Port, role: &str) -> Result<TensorInfo, ImportError> {
    if p.name.is_empty() {
        return Err(ImportError(format!(
            "ONNX model has an {role} without a name"
        )));
    }
    let name = &p.name;
    let kind = match p.kind {
        ValueKind::Tensor => None,
        ValueKind::Sequence => Some("ONNX_TYPE_SEQUENCE"),
        ValueKind::Map => Some("ONNX_TYPE_MAP"),
        ValueKind::Optional => Some("ONNX_TYPE_OPTIONAL"),
        ValueKind::SparseTensor => Some("ONNX_TYPE_SPARSETENSOR"),
        ValueKind::Unknown => Some("ONNX_TYPE_UNKNOWN"),
    };
    if let Some(kind) = kind {
        return Err(ImportError(format!(
            "ONNX model {role} '{name}' has unsupported ONNX type: {kind}."
        )));
    }
    use DataType as D;
    let sql_type = match p.elem_type {
        D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::Uint8 | D::Uint16 | D::Uint32 | D::Uint64 => {
            "INT64"
        }
        D::Float16 | D::Bfloat16 | D::Float | D::Double => "FLOAT64",
        D::Bool => "BOOL",
        D::String => "STRING",
        other => {
            return Err(ImportError(format!(
                "ONNX model {role} '{name}' has unsupported tensor element type {}.",
                other.as_str_name()
            )))
        }
    };
    Ok(TensorInfo {
        name: name.clone(),
        onnx_type: p.elem_type.as_str_name().to_string(),
        sql_type: sql_type.to_string(),
        shape: p.dims.as_ref().map(|d| d.iter().map(Dim::from).collect()),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use compiler::onnx::{
        tensor_proto, tensor_shape_proto, type_proto, GraphProto, ModelProto, OperatorSetIdProto,
        TensorShapeProto, TypeProto, ValueInfoProto,
    };
    use prost::Message;

    /// What CREATE MODEL checks: the interface, then that the model compiles.
    fn import_model(bytes: &[u8]) -> Result<ModelMeta, ImportError> {
        let meta = read_interface(bytes)?;
        compile_in_memory(bytes, &CompileOptions::default())?;
        Ok(meta)
    }

    pub(crate) fn tensor(
        name: &str,
        elem: tensor_proto::DataType,
        dims: &[Option<i64>],
    ) -> ValueInfoProto {
        ValueInfoProto {
            name: Some(name.into()),
            r#type: Some(TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: Some(elem as i32),
                    shape: Some(TensorShapeProto {
                        dim: dims
                            .iter()
                            .map(|d| tensor_shape_proto::Dimension {
                                value: Some(match d {
                                    Some(v) => tensor_shape_proto::dimension::Value::DimValue(*v),
                                    None => {
                                        tensor_shape_proto::dimension::Value::DimParam("N".into())
                                    }
                                }),
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

    /// A tiny runnable model with the tutorial ResNet's interface: the argmax of the
    /// flattened image.
    pub(crate) fn resnet_like() -> Vec<u8> {
        ModelProto {
            ir_version: Some(8),
            producer_name: Some("pytorch".into()),
            producer_version: Some("2.1".into()),
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(10),
            }],
            graph: Some(GraphProto {
                input: vec![tensor(
                    "input",
                    tensor_proto::DataType::Float,
                    &[Some(1), Some(224), Some(224), Some(3)],
                )],
                node: argmax_nodes(),
                output: vec![tensor(
                    "class_label",
                    tensor_proto::DataType::Int64,
                    &[Some(1)],
                )],
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    /// `class_label = ArgMax(Flatten(input), axis=1, keepdims=0)`.
    pub(crate) fn argmax_nodes() -> Vec<compiler::onnx::NodeProto> {
        use compiler::onnx::{AttributeProto, NodeProto};
        let attr = |name: &str, i: i64| AttributeProto {
            name: Some(name.into()),
            i: Some(i),
            r#type: Some(2),
            ..Default::default()
        };
        vec![
            NodeProto {
                name: Some("flatten".into()),
                op_type: Some("Flatten".into()),
                input: vec!["input".into()],
                output: vec!["flat".into()],
                ..Default::default()
            },
            NodeProto {
                name: Some("argmax".into()),
                op_type: Some("ArgMax".into()),
                input: vec!["flat".into()],
                output: vec!["class_label".into()],
                attribute: vec![attr("axis", 1), attr("keepdims", 0)],
                ..Default::default()
            },
        ]
    }

    #[test]
    fn reads_interface() {
        let m = import_model(&resnet_like()).unwrap();
        assert_eq!(m.producer_name, "pytorch");
        assert_eq!(m.onnx_opset(), Some(10));
        assert_eq!(m.inputs[0].name, "input");
        assert_eq!(m.inputs[0].sql_type, "FLOAT64");
        assert_eq!(m.inputs[0].shape.as_ref().unwrap()[1], Dim::Fixed(224));
        assert_eq!(m.outputs[0].onnx_type, "INT64");
    }

    #[test]
    fn rejects_garbage_and_unsupported_types() {
        let e = import_model(b"\xff\xff\xff\xff not onnx").unwrap_err();
        assert!(
            e.0.starts_with("The file is not a valid ONNX model: "),
            "{e}"
        );
        let mut model = ModelProto::decode(resnet_like().as_slice()).unwrap();
        let g = model.graph.as_mut().unwrap();
        g.output[0].r#type = Some(TypeProto {
            value: Some(type_proto::Value::SequenceType(Box::default())),
            ..Default::default()
        });
        g.output[0].name = Some("output_probability".into());
        assert_eq!(
            import_model(&model.encode_to_vec()).unwrap_err().0,
            "ONNX model output 'output_probability' has unsupported ONNX type: ONNX_TYPE_SEQUENCE."
        );
        let g = model.graph.as_mut().unwrap();
        g.output[0] = tensor("z", tensor_proto::DataType::Complex64, &[None]);
        assert_eq!(
            import_model(&model.encode_to_vec()).unwrap_err().0,
            "ONNX model output 'z' has unsupported tensor element type COMPLEX64."
        );
        model.graph = None;
        assert_eq!(
            import_model(&model.encode_to_vec()).unwrap_err().0,
            "The ONNX model has no graph"
        );
    }
}
