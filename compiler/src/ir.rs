//! The typed graph: values with concrete dtypes and shapes, nodes holding parsed ops, and
//! constant tensors. Built by [`crate::import`]; every value's shape is known after import.

use std::collections::HashMap;
use std::sync::Arc;

use runtime::{DType, Tensor};

use crate::ops::{Activation, Op, UnaryKind};

/// Index of a value in [`Graph::values`].
pub type ValueId = usize;

/// A tensor-valued edge of the graph.
#[derive(Clone, Debug)]
pub struct Value {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
}

/// One operation. `inputs[i] == None` is an omitted optional input.
#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub op: Op,
    pub inputs: Vec<Option<ValueId>>,
    pub outputs: Vec<ValueId>,
}

/// A dimension as the model file declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    Fixed(usize),
    Symbolic(String),
    Unknown,
}

impl std::fmt::Display for Dim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dim::Fixed(d) => write!(f, "{d}"),
            Dim::Symbolic(s) => f.write_str(s),
            Dim::Unknown => f.write_str("?"),
        }
    }
}

/// A graph input or output as declared in the model file (before specialisation).
#[derive(Clone, Debug)]
pub struct DeclaredValue {
    pub name: String,
    pub dtype: Option<DType>,
    pub dims: Option<Vec<Dim>>,
}

/// Facts about the model file that are not part of the computation.
#[derive(Clone, Debug, Default)]
pub struct ModelMeta {
    pub ir_version: i64,
    pub producer_name: String,
    pub producer_version: String,
    pub graph_name: String,
    /// `(domain, version)`; the default domain is spelled "".
    pub opsets: Vec<(String, i64)>,
    pub declared_inputs: Vec<DeclaredValue>,
    pub declared_outputs: Vec<DeclaredValue>,
}

/// A specialised, typed graph. Invariants: nodes are in topological order; every value has
/// a concrete shape; `consts` holds the values known at compile time (initializers).
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub values: Vec<Value>,
    pub nodes: Vec<Node>,
    pub inputs: Vec<ValueId>,
    pub outputs: Vec<ValueId>,
    pub consts: HashMap<ValueId, Arc<Tensor>>,
    pub meta: ModelMeta,
}

impl Graph {
    /// Adds a value and returns its id.
    pub fn add_value(&mut self, name: String, dtype: DType, shape: Vec<usize>) -> ValueId {
        self.values.push(Value { name, dtype, shape });
        self.values.len() - 1
    }

    /// Whether `node`'s input `i` is a constant, or absent (an optional input not given).
    pub fn constant_or_absent(&self, node: &Node, i: usize) -> bool {
        node.inputs
            .get(i)
            .copied()
            .flatten()
            .is_none_or(|v| self.consts.contains_key(&v))
    }

    /// Looks a value up by name.
    pub fn value_by_name(&self, name: &str) -> Option<ValueId> {
        self.values.iter().position(|v| v.name == name)
    }

    /// Number of parameters: elements of all float constants.
    pub fn parameter_count(&self) -> usize {
        self.consts
            .values()
            .filter(|t| t.dtype() == DType::F32)
            .map(|t| t.len())
            .sum()
    }

    /// FLOPs as 2 × multiply-adds of Conv, ConvTranspose, Gemm and MatMul (bias,
    /// activations and pooling not counted), the convention of `shared/tools/flops.py`.
    pub fn flops(&self) -> u64 {
        self.nodes.iter().map(|n| self.node_macs(n) * 2).sum()
    }

    /// Multiply-adds of `node` (one of this graph's nodes).
    pub fn node_macs(&self, node: &Node) -> u64 {
        self.with_shapes(node, |ins, outs| node.op.def().macs(ins, outs))
    }

    /// Scalar steps the reference interpreter takes to run every node (see
    /// [`OpDef::work`](crate::ops::def::OpDef::work)), dead nodes included.
    pub fn reference_work(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| self.with_shapes(n, |ins, outs| n.op.def().work(ins, outs)))
            .fold(0, u64::saturating_add)
    }

    fn with_shapes<R>(
        &self,
        node: &Node,
        f: impl FnOnce(&[Option<&[usize]>], &[&[usize]]) -> R,
    ) -> R {
        let ins: Vec<Option<&[usize]>> = node
            .inputs
            .iter()
            .map(|i| i.map(|v| self.values[v].shape.as_slice()))
            .collect();
        let outs: Vec<&[usize]> = node
            .outputs
            .iter()
            .map(|&v| self.values[v].shape.as_slice())
            .collect();
        f(&ins, &outs)
    }

    /// Bytes of every distinct value `node` reads or writes (weights included): the least
    /// memory traffic a step computing it can have, for GB/s in profiles.
    pub fn node_bytes(&self, node: &Node) -> u64 {
        let mut vals: Vec<ValueId> = node
            .inputs
            .iter()
            .flatten()
            .chain(&node.outputs)
            .copied()
            .collect();
        vals.sort_unstable();
        vals.dedup();
        vals.iter()
            .map(|&v| {
                let x = &self.values[v];
                (x.shape.iter().product::<usize>() * x.dtype.size()) as u64
            })
            .sum()
    }

    /// The activation `node` computes element-wise on a float tensor, if kernels can fuse
    /// it. Clip needs constant bounds (absent bounds are ±∞).
    pub fn activation(&self, node: &Node) -> Option<Activation> {
        match &node.op {
            Op::Unary(u) => match u.kind {
                UnaryKind::Relu => Some(Activation::Relu),
                UnaryKind::Sigmoid => Some(Activation::Sigmoid),
                UnaryKind::LeakyRelu { alpha } => Some(Activation::LeakyRelu { alpha }),
                UnaryKind::HardSigmoid { alpha, beta } => {
                    Some(Activation::HardSigmoid { alpha, beta })
                }
                UnaryKind::HardSwish => Some(Activation::HardSwish),
                UnaryKind::Gelu { tanh: false } => Some(Activation::Gelu),
                UnaryKind::Gelu { tanh: true } => Some(Activation::GeluTanh),
                _ => None,
            },
            Op::Clip(_) => {
                let bound = |i: usize, default: f32| -> Option<f32> {
                    match node.inputs.get(i).copied().flatten() {
                        None => Some(default),
                        Some(id) => self.consts.get(&id)?.as_f32().ok()?.first().copied(),
                    }
                };
                let x = node.inputs.first().copied().flatten()?;
                (self.values[x].dtype == DType::F32).then_some(())?;
                Some(Activation::Clip {
                    min: bound(1, f32::NEG_INFINITY)?,
                    max: bound(2, f32::INFINITY)?,
                })
            }
            _ => None,
        }
    }

    /// Histogram of op types, sorted by name.
    pub fn op_histogram(&self) -> Vec<(String, usize)> {
        let mut h: std::collections::BTreeMap<String, usize> = Default::default();
        for n in &self.nodes {
            *h.entry(n.op.op_type().to_string()).or_default() += 1;
        }
        h.into_iter().collect()
    }
}

impl std::fmt::Display for Graph {
    /// One line per input, constant summary, node and output:
    /// `%y: float32[1, 64, 56, 56] = Conv { … }(%x, %w)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = |id: ValueId| {
            let x = &self.values[id];
            format!("%{}: {}{:?}", x.name, x.dtype, x.shape)
        };
        for &i in &self.inputs {
            writeln!(f, "input {}", v(i))?;
        }
        let consts: usize = self.consts.values().map(|t| t.len()).sum();
        writeln!(
            f,
            "constants: {} tensors, {consts} elements",
            self.consts.len()
        )?;
        for n in &self.nodes {
            let outs: Vec<String> = n.outputs.iter().map(|&o| v(o)).collect();
            let ins: Vec<String> = n
                .inputs
                .iter()
                .map(|i| match i {
                    None => "_".to_string(),
                    Some(id) if self.consts.contains_key(id) => {
                        format!("const %{}", self.values[*id].name)
                    }
                    Some(id) => format!("%{}", self.values[*id].name),
                })
                .collect();
            writeln!(
                f,
                "{} = {:?}({})  # {}",
                outs.join(", "),
                n.op,
                ins.join(", "),
                n.name
            )?;
        }
        for &o in &self.outputs {
            writeln!(f, "output {}", v(o))?;
        }
        Ok(())
    }
}
