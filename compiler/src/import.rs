//! ONNX → [`Graph`]: decode the protobuf, parse every node into a typed op (reporting all
//! unsupported nodes in one error), order the nodes, specialise input shapes and infer the
//! dtype and shape of every value.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use prost::Message;
use runtime::tensor::fmt_shape;
use runtime::{DType, Tensor};

use crate::error::{Diagnostic, Error, Result, UnsupportedNode};
use crate::ir::{DeclaredValue, Dim, Graph, ModelMeta, Node, ValueId};
use crate::onnx::{self, tensor_shape_proto::dimension, type_proto, ModelProto};
use crate::ops::{self, Fact, Op, ParseCtx};
use crate::proto::tensor_from_proto;

/// Constant values computed during inference (e.g. shape arithmetic) are kept for later
/// ops only up to this many elements; bigger ones are left to the constant-folding pass.
const MAX_FOLDED_ELEMENTS: usize = 1 << 16;

/// How to specialise a model while importing it.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Concrete shapes for graph inputs, by name (`--input-shape input=1x224x224x3`).
    pub input_shapes: HashMap<String, Vec<usize>>,
    /// Directory that external tensor data files are relative to (the model's folder).
    pub base_dir: Option<PathBuf>,
    /// Graph inputs bound to values at compile time, by name: they become constants, like
    /// initializers. Shape-determining index inputs (Reshape's shape, Slice's starts, …)
    /// must be bound so that every shape is static.
    pub const_inputs: HashMap<String, Tensor>,
}

pub use runtime::limits::MAX_ELEMENTS;
use runtime::limits::{MAX_MODEL_BYTES, MAX_NODES};

/// Checks that a shape's element count, and each of its dimensions (an empty value must
/// not hide a huge one), is at most [`MAX_ELEMENTS`].
fn check_size(shape: &[usize]) -> Result<(), String> {
    match shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) {
        Some(n) if n <= MAX_ELEMENTS && shape.iter().all(|&d| d <= MAX_ELEMENTS) => Ok(()),
        _ => Err(format!(
            "has shape {} with more than the limit of {MAX_ELEMENTS} elements",
            fmt_shape(shape)
        )),
    }
}

/// Reads an `.onnx` file: a regular file of at most [`MAX_MODEL_BYTES`].
pub fn read_model_file(path: &Path) -> Result<Vec<u8>> {
    runtime::limits::read_file(path, MAX_MODEL_BYTES).map_err(|message| Error::Io {
        path: path.display().to_string(),
        message,
    })
}

/// Reads and imports an `.onnx` file.
pub fn load_file(path: &Path, opts: &ImportOptions) -> Result<Graph> {
    let bytes = read_model_file(path)?;
    let mut opts = opts.clone();
    if opts.base_dir.is_none() {
        opts.base_dir = path.parent().map(Path::to_path_buf);
    }
    load_bytes(&bytes, &opts)
}

/// Decodes the ONNX protobuf without importing it (for tools that only need metadata).
pub fn decode(bytes: &[u8]) -> Result<ModelProto> {
    ModelProto::decode(bytes).map_err(|e| Error::Decode(e.to_string()))
}

/// Imports ONNX bytes.
pub fn load_bytes(bytes: &[u8], opts: &ImportOptions) -> Result<Graph> {
    let model = decode(bytes)?;
    Importer::new(&model, opts)?.run()
}

/// The dtype and dims a `ValueInfoProto` declares.
pub fn declared(v: &onnx::ValueInfoProto) -> DeclaredValue {
    let (dtype, dims) = match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(tt)) => {
            let dims = tt.shape.as_ref().map(|s| {
                s.dim
                    .iter()
                    .map(|d| match &d.value {
                        Some(dimension::Value::DimValue(v)) if *v >= 0 => Dim::Fixed(*v as usize),
                        Some(dimension::Value::DimParam(p)) if !p.is_empty() => {
                            Dim::Symbolic(p.clone())
                        }
                        _ => Dim::Unknown,
                    })
                    .collect()
            });
            (DType::from_onnx(tt.elem_type()), dims)
        }
        _ => (None, None),
    };
    DeclaredValue {
        name: v.name().to_string(),
        dtype,
        dims,
    }
}

/// The first negative `dim_value` a `ValueInfoProto` declares.
fn negative_dim(v: &onnx::ValueInfoProto) -> Option<i64> {
    let Some(type_proto::Value::TensorType(tt)) = v.r#type.as_ref()?.value.as_ref() else {
        return None;
    };
    tt.shape.as_ref()?.dim.iter().find_map(|d| match d.value {
        Some(dimension::Value::DimValue(v)) if v < 0 => Some(v),
        _ => None,
    })
}

fn fmt_dims(dims: &[Dim]) -> String {
    let s: Vec<String> = dims.iter().map(Dim::to_string).collect();
    format!("[{}]", s.join(", "))
}

/// Concrete shape for a graph input: the given shape (checked against the declaration) or
/// the declared one, with a symbolic leading (batch) dimension defaulting to 1.
fn specialise(decl: &DeclaredValue, given: Option<&Vec<usize>>) -> Result<Vec<usize>> {
    let err = |message: String| Error::Input {
        name: decl.name.clone(),
        message,
    };
    match (decl.dims.as_ref(), given) {
        (None, Some(g)) => Ok(g.clone()),
        (None, None) => Err(err("the model declares no shape; give one with --input-shape".into())),
        (Some(dims), Some(g)) => {
            let conflict = dims.len() != g.len()
                || dims.iter().zip(g).any(|(d, &v)| matches!(d, Dim::Fixed(f) if *f != v));
            if conflict {
                return Err(err(format!(
                    "the given shape {} conflicts with the model's declared shape {}",
                    fmt_shape(g),
                    fmt_dims(dims)
                )));
            }
            Ok(g.clone())
        }
        (Some(dims), None) => dims
            .iter()
            .enumerate()
            .map(|(i, d)| match d {
                Dim::Fixed(v) => Ok(*v),
                Dim::Symbolic(_) | Dim::Unknown if i == 0 => Ok(1),
                _ => Err(err(format!(
                    "declared shape {} has a symbolic dimension; give a concrete one with --input-shape {}=…",
                    fmt_dims(dims),
                    decl.name
                ))),
            })
            .collect(),
    }
}

struct ParsedNode {
    name: String,
    op: Op,
    inputs: Vec<String>,
    outputs: Vec<String>,
    promoted: Vec<(usize, Tensor)>,
}

struct Importer<'m> {
    model: &'m ModelProto,
    graph_proto: &'m onnx::GraphProto,
    opts: &'m ImportOptions,
    opsets: HashMap<String, i64>,
}

fn node_name(n: &onnx::NodeProto, idx: usize) -> String {
    match n.name() {
        "" => format!("{}_{idx}", n.op_type()),
        s => s.to_string(),
    }
}

impl<'m> Importer<'m> {
    fn new(model: &'m ModelProto, opts: &'m ImportOptions) -> Result<Importer<'m>> {
        let graph_proto = model
            .graph
            .as_ref()
            .ok_or_else(|| Error::Decode("the model has no graph".into()))?;
        let mut opsets = HashMap::new();
        for o in &model.opset_import {
            let domain = match o.domain() {
                "ai.onnx" => "",
                d => d,
            };
            opsets.insert(domain.to_string(), o.version());
        }
        Ok(Importer {
            model,
            graph_proto,
            opts,
            opsets,
        })
    }

    fn run(self) -> Result<Graph> {
        let g = self.graph_proto;
        if g.node.len() > MAX_NODES {
            return Err(Error::Invalid(vec![Diagnostic {
                location: "graph".into(),
                message: format!(
                    "{} nodes are more than the limit of {MAX_NODES}",
                    g.node.len()
                ),
            }]));
        }
        let mut diags = Vec::new();
        // A negative declared dimension is malformed, not symbolic.
        for (kind, values) in [("input", &g.input), ("output", &g.output)] {
            for v in values.iter() {
                if let Some(d) = negative_dim(v) {
                    diags.push(Diagnostic {
                        location: format!("{kind} '{}'", v.name()),
                        message: format!("declared dimension {d} is negative"),
                    });
                }
            }
        }

        // Initializers.
        let mut consts: HashMap<String, Tensor> = HashMap::new();
        for t in &g.initializer {
            match tensor_from_proto(t, self.opts.base_dir.as_deref()) {
                Ok(v) => {
                    consts.insert(t.name().to_string(), v);
                }
                Err(message) => diags.push(Diagnostic {
                    location: format!("initializer '{}'", t.name()),
                    message,
                }),
            }
        }

        for (name, t) in &self.opts.const_inputs {
            if !g.input.iter().any(|v| v.name() == name) {
                diags.push(Diagnostic {
                    location: format!("input '{name}'"),
                    message: "bound to a constant, but the graph has no such input".into(),
                });
            }
            consts.insert(name.clone(), t.clone());
        }

        // Parse every node before failing, so one error lists all problems.
        let default_opset = self.opsets.get("").copied();
        let mut unsupported = Vec::new();
        let mut parsed = Vec::new();
        for (idx, n) in g.node.iter().enumerate() {
            let name = node_name(n, idx);
            let domain = match n.domain() {
                "ai.onnx" => "",
                d => d,
            };
            let opset = self.opsets.get(domain).copied().unwrap_or(0);
            let unsupported_node = || UnsupportedNode {
                node: name.clone(),
                op_type: n.op_type().to_string(),
                domain: domain.to_string(),
                opset,
                reason: String::new(),
            };
            if !domain.is_empty() {
                unsupported.push(unsupported_node());
                continue;
            }
            let Some(opset) = default_opset else {
                diags.push(Diagnostic {
                    location: format!("node '{name}' ({})", n.op_type()),
                    message: "the model imports no ai.onnx opset".into(),
                });
                continue;
            };
            let mut ctx = ParseCtx::new(n, opset);
            match ops::parse(&mut ctx) {
                None => unsupported.push(unsupported_node()),
                Some(Err(message)) => diags.push(Diagnostic {
                    location: format!("node '{name}' ({})", n.op_type()),
                    message,
                }),
                Some(Ok(op)) => {
                    let promoted = std::mem::take(&mut ctx.promoted);
                    let mut inputs = n.input.clone();
                    // A Loop body's outer-scope reads are inputs of the node.
                    if let ops::Op::Loop(l) = &op {
                        inputs.extend(l.outer.iter().cloned());
                    }
                    parsed.push(ParsedNode {
                        name,
                        op,
                        inputs,
                        outputs: n.output.clone(),
                        promoted,
                    })
                }
            }
        }
        if !unsupported.is_empty() {
            return Err(Error::Unsupported(unsupported));
        }

        // Graph inputs that are not initializers are the runtime inputs.
        let declared_inputs: Vec<DeclaredValue> = g
            .input
            .iter()
            .filter(|v| !consts.contains_key(v.name()))
            .map(declared)
            .collect();
        let declared_outputs: Vec<DeclaredValue> = g.output.iter().map(declared).collect();
        for name in self.opts.input_shapes.keys() {
            if !declared_inputs.iter().any(|d| &d.name == name) {
                let known: Vec<&str> = declared_inputs.iter().map(|d| d.name.as_str()).collect();
                diags.push(Diagnostic {
                    location: format!("input '{name}'"),
                    message: format!(
                        "--input-shape names no graph input (inputs: {})",
                        known.join(", ")
                    ),
                });
            }
        }

        let order = match topo_order(&parsed, &declared_inputs, &consts) {
            Ok(o) => o,
            Err(mut d) => {
                diags.append(&mut d);
                Vec::new()
            }
        };
        if !diags.is_empty() {
            return Err(Error::Invalid(diags));
        }

        let mut graph = Graph {
            meta: ModelMeta {
                ir_version: self.model.ir_version(),
                producer_name: self.model.producer_name().to_string(),
                producer_version: self.model.producer_version().to_string(),
                graph_name: g.name().to_string(),
                opsets: {
                    let mut v: Vec<(String, i64)> =
                        self.opsets.iter().map(|(d, v)| (d.clone(), *v)).collect();
                    v.sort();
                    v
                },
                declared_inputs: declared_inputs.clone(),
                declared_outputs: declared_outputs.clone(),
            },
            ..Graph::default()
        };
        let mut ids: HashMap<String, ValueId> = HashMap::new();
        // Known compile-time values (initializers and small folded constants).
        let mut known: HashMap<ValueId, Arc<Tensor>> = HashMap::new();
        for (name, t) in consts {
            let id = graph.add_value(name.clone(), t.dtype(), t.shape().to_vec());
            let t = Arc::new(t);
            graph.consts.insert(id, t.clone());
            known.insert(id, t);
            ids.insert(name, id);
        }
        for decl in &declared_inputs {
            let shape = specialise(decl, self.opts.input_shapes.get(&decl.name))?;
            check_size(&shape).map_err(|message| Error::Input {
                name: decl.name.clone(),
                message,
            })?;
            let dtype = decl.dtype.ok_or_else(|| Error::Input {
                name: decl.name.clone(),
                message: "the model declares no supported tensor element type".into(),
            })?;
            let id = graph.add_value(decl.name.clone(), dtype, shape);
            graph.inputs.push(id);
            ids.insert(decl.name.clone(), id);
        }

        for idx in order {
            let p = &parsed[idx];
            let node_err = |message: String| Error::Node {
                node: p.name.clone(),
                op_type: p.op.op_type().to_string(),
                message,
            };
            let n_inputs = p
                .inputs
                .len()
                .max(p.promoted.iter().map(|(i, _)| i + 1).max().unwrap_or(0));
            let mut inputs: Vec<Option<ValueId>> = vec![None; n_inputs];
            for (i, name) in p.inputs.iter().enumerate() {
                if !name.is_empty() {
                    inputs[i] = Some(ids[name]);
                }
            }
            for (i, t) in &p.promoted {
                let id =
                    graph.add_value(format!("{}:attr{i}", p.name), t.dtype(), t.shape().to_vec());
                let t = Arc::new(t.clone());
                graph.consts.insert(id, t.clone());
                known.insert(id, t);
                inputs[*i] = Some(id);
            }
            let facts: Vec<Option<Fact>> = inputs
                .iter()
                .map(|i| {
                    i.map(|id| Fact {
                        dtype: graph.values[id].dtype,
                        shape: &graph.values[id].shape,
                        value: known.get(&id).map(|t| t.as_ref()),
                    })
                })
                .collect();
            let mut outs = p.op.def().infer(&facts).map_err(node_err)?;
            // Fold small all-constant nodes so shape arithmetic stays known.
            let all_const = facts.iter().flatten().all(|f| f.value.is_some());
            if all_const && outs.iter().all(|o| o.value.is_none()) {
                let small = outs
                    .iter()
                    .all(|o| o.shape.iter().product::<usize>() <= MAX_FOLDED_ELEMENTS);
                if small {
                    let vals: Vec<Option<&Tensor>> =
                        facts.iter().map(|f| f.and_then(|f| f.value)).collect();
                    let results = p.op.def().eval(&vals).map_err(node_err)?;
                    for (o, v) in outs.iter_mut().zip(results) {
                        o.value = Some(v);
                    }
                }
            }
            drop(facts);
            let mut outputs = Vec::new();
            for (i, o) in outs.into_iter().enumerate().take(p.outputs.len()) {
                let name = match p.outputs[i].as_str() {
                    "" => format!("{}:out{i}", p.name),
                    s => s.to_string(),
                };
                if let Some(v) = &o.value {
                    if v.shape() != o.shape || v.dtype() != o.dtype {
                        return Err(node_err(format!(
                            "output {i} was inferred as {} {} but evaluates to {} {}",
                            o.dtype,
                            fmt_shape(&o.shape),
                            v.dtype(),
                            fmt_shape(v.shape())
                        )));
                    }
                }
                check_size(&o.shape).map_err(|m| node_err(format!("output '{name}' {m}")))?;
                let id = graph.add_value(name.clone(), o.dtype, o.shape);
                if let Some(v) = o.value {
                    known.insert(id, Arc::new(v));
                }
                ids.insert(name, id);
                outputs.push(id);
            }
            if p.outputs.is_empty() {
                // Every ONNX op has a first output; the passes rely on it.
                return Err(node_err("the node declares no outputs".into()));
            }
            if outputs.len() < p.outputs.len() {
                return Err(node_err(format!(
                    "the node declares {} outputs but the op produces {}",
                    p.outputs.len(),
                    outputs.len()
                )));
            }
            graph.nodes.push(Node {
                name: p.name.clone(),
                op: p.op.clone(),
                inputs,
                outputs,
            });
        }

        let mut diags = Vec::new();
        for decl in &declared_outputs {
            let Some(&id) = ids.get(&decl.name) else {
                diags.push(Diagnostic {
                    location: format!("output '{}'", decl.name),
                    message: "no node or initializer produces this graph output".into(),
                });
                continue;
            };
            let v = &graph.values[id];
            if let Some(dt) = decl.dtype {
                if dt != v.dtype {
                    diags.push(Diagnostic {
                        location: format!("output '{}'", decl.name),
                        message: format!("declared as {dt} but computes {}", v.dtype),
                    });
                }
            }
            if let Some(dims) = &decl.dims {
                let clash = dims.len() != v.shape.len()
                    || dims
                        .iter()
                        .zip(&v.shape)
                        .any(|(d, &s)| matches!(d, Dim::Fixed(f) if *f != s));
                if clash {
                    diags.push(Diagnostic {
                        location: format!("output '{}'", decl.name),
                        message: format!(
                            "declared shape {} but computes {}",
                            fmt_dims(dims),
                            fmt_shape(&v.shape)
                        ),
                    });
                }
            }
            graph.outputs.push(id);
        }
        if !diags.is_empty() {
            return Err(Error::Invalid(diags));
        }
        Ok(graph)
    }
}

/// Kahn's algorithm over value names: reports reads of undefined values, values defined
/// twice, and the nodes on a cycle.
fn topo_order(
    nodes: &[ParsedNode],
    inputs: &[DeclaredValue],
    consts: &HashMap<String, Tensor>,
) -> Result<Vec<usize>, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut producer: HashMap<&str, usize> = HashMap::new();
    let defined: HashSet<&str> = inputs
        .iter()
        .map(|d| d.name.as_str())
        .chain(consts.keys().map(String::as_str))
        .collect();
    for (i, n) in nodes.iter().enumerate() {
        for o in n.outputs.iter().filter(|o| !o.is_empty()) {
            if defined.contains(o.as_str()) || producer.insert(o, i).is_some() {
                diags.push(Diagnostic {
                    location: format!("node '{}'", n.name),
                    message: format!("value '{o}' is defined more than once"),
                });
            }
        }
    }
    let mut pending = vec![0usize; nodes.len()];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for inp in n.inputs.iter().filter(|s| !s.is_empty()) {
            if let Some(&p) = producer.get(inp.as_str()) {
                pending[i] += 1;
                users[p].push(i);
            } else if !defined.contains(inp.as_str()) {
                diags.push(Diagnostic {
                    location: format!("node '{}'", n.name),
                    message: format!("reads undefined value '{inp}'"),
                });
            }
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    // Ready nodes are taken in file order so an already sorted graph keeps its order.
    let mut ready: std::collections::BTreeSet<usize> =
        (0..nodes.len()).filter(|&i| pending[i] == 0).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &u in &users[i] {
            pending[u] -= 1;
            if pending[u] == 0 {
                ready.insert(u);
            }
        }
    }
    if order.len() < nodes.len() {
        let stuck: Vec<&str> = (0..nodes.len())
            .filter(|&i| pending[i] > 0)
            .map(|i| nodes[i].name.as_str())
            .collect();
        return Err(vec![Diagnostic {
            location: "graph".into(),
            message: format!("the graph has a cycle through nodes {}", stuck.join(", ")),
        }]);
    }
    Ok(order)
}
