//! The op interface: [`OpDef`], the facts shape inference reads and returns, and [`ParseCtx`].

use runtime::{DType, Tensor};

use crate::onnx::{AttributeProto, NodeProto};

/// What is known about one input while inferring shapes: always its dtype and shape,
/// and its value when it is a compile-time constant.
#[derive(Clone, Copy, Debug)]
pub struct Fact<'a> {
    pub dtype: DType,
    pub shape: &'a [usize],
    pub value: Option<&'a Tensor>,
}

/// An inferred output. `value` may be set when the op can compute it from shapes alone
/// (e.g. `Shape`); constant inputs are otherwise folded by the caller through `eval`.
#[derive(Clone, Debug, PartialEq)]
pub struct OutFact {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub value: Option<Tensor>,
}

impl OutFact {
    pub fn new(dtype: DType, shape: Vec<usize>) -> OutFact {
        OutFact {
            dtype,
            shape,
            value: None,
        }
    }
}

/// Behaviour shared by every op.
pub trait OpDef {
    /// The ONNX op type this node came from (or a fused op's name).
    fn op_type(&self) -> &str;
    /// Output dtypes and shapes from the inputs' (`None` = omitted optional input).
    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String>;
    /// Scalar reference evaluation; inputs already passed `infer`.
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String>;
    /// Multiply-adds performed, for FLOP counts (0 for ops FLOP counts ignore).
    fn macs(&self, _inputs: &[Option<&[usize]>], _outputs: &[&[usize]]) -> u64 {
        0
    }
    /// Scalar steps the reference interpreter takes, roughly: multiply-adds plus one per
    /// element read and written. Bounds a run's time where memory limits do not (fuzzing).
    fn work(&self, inputs: &[Option<&[usize]>], outputs: &[&[usize]]) -> u64 {
        let read: u64 = inputs.iter().flatten().map(|s| elements(s)).sum();
        let written: u64 = outputs.iter().map(|s| elements(s)).sum();
        self.macs(inputs, outputs)
            .saturating_add(read)
            .saturating_add(written)
    }
}

/// Elements of a tensor of shape `s`, for work estimates.
pub fn elements(s: &[usize]) -> u64 {
    s.iter().map(|&d| d as u64).product()
}

/// The parsed node being imported: attribute accessors with type checks, and the list of
/// attribute operands promoted to constant inputs.
pub struct ParseCtx<'a> {
    pub node: &'a NodeProto,
    /// Version of the node's domain in the model's opset imports.
    pub opset: i64,
    /// `(input index, constant)` pairs that replace attribute-form operands.
    pub promoted: Vec<(usize, Tensor)>,
}

impl<'a> ParseCtx<'a> {
    pub fn new(node: &'a NodeProto, opset: i64) -> ParseCtx<'a> {
        ParseCtx {
            node,
            opset,
            promoted: Vec::new(),
        }
    }

    fn attr(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name() == name)
    }

    /// True when input `i` is present (not omitted with an empty name).
    pub fn has_input(&self, i: usize) -> bool {
        self.node.input.get(i).is_some_and(|s| !s.is_empty())
            || self.promoted.iter().any(|(j, _)| *j == i)
    }

    /// An int attribute.
    pub fn int(&self, name: &str) -> Result<Option<i64>, String> {
        match self.attr(name) {
            None => Ok(None),
            Some(a) => {
                a.i.map(Some)
                    .ok_or_else(|| format!("attribute '{name}' must be an int"))
            }
        }
    }

    /// An int attribute with a default.
    pub fn int_or(&self, name: &str, default: i64) -> Result<i64, String> {
        Ok(self.int(name)?.unwrap_or(default))
    }

    /// A 0/1 int attribute as a bool, with a default; any other value is an error.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, String> {
        match self.int_or(name, default as i64)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(format!("attribute '{name}' must be 0 or 1, got {v}")),
        }
    }

    /// A float attribute with a default.
    pub fn float_or(&self, name: &str, default: f32) -> Result<f32, String> {
        match self.attr(name) {
            None => Ok(default),
            Some(a) => {
                a.f.ok_or_else(|| format!("attribute '{name}' must be a float"))
            }
        }
    }

    /// An optional float attribute.
    pub fn float(&self, name: &str) -> Result<Option<f32>, String> {
        match self.attr(name) {
            None => Ok(None),
            Some(_) => self.float_or(name, 0.0).map(Some),
        }
    }

    /// A list-of-ints attribute.
    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, String> {
        Ok(self.attr(name).map(|a| a.ints.clone()))
    }

    /// A list-of-floats attribute.
    pub fn floats(&self, name: &str) -> Result<Option<Vec<f32>>, String> {
        Ok(self.attr(name).map(|a| a.floats.clone()))
    }

    /// A string attribute.
    pub fn string(&self, name: &str) -> Result<Option<String>, String> {
        match self.attr(name) {
            None => Ok(None),
            Some(a) => {
                let s =
                    a.s.as_ref()
                        .ok_or_else(|| format!("attribute '{name}' must be a string"))?;
                String::from_utf8(s.clone())
                    .map(Some)
                    .map_err(|_| format!("attribute '{name}' is not UTF-8"))
            }
        }
    }

    /// A tensor attribute.
    pub fn tensor(&self, name: &str) -> Result<Option<Tensor>, String> {
        match self.attr(name) {
            None => Ok(None),
            Some(a) => {
                let t =
                    a.t.as_ref()
                        .ok_or_else(|| format!("attribute '{name}' must be a tensor"))?;
                crate::proto::tensor_from_proto(t, None).map(Some)
            }
        }
    }

    /// A graph attribute (a control-flow body).
    pub fn graph(&self, name: &str) -> Result<Option<crate::onnx::GraphProto>, String> {
        match self.attr(name) {
            None => Ok(None),
            Some(a) => {
                a.g.clone()
                    .map(Some)
                    .ok_or_else(|| format!("attribute '{name}' must be a graph"))
            }
        }
    }

    /// True when the attribute is present at all.
    pub fn has_attr(&self, name: &str) -> bool {
        self.attr(name).is_some()
    }

    /// Rejects attribute `name` from opset `since` on, where it became input `index`.
    pub fn moved_to_input(&self, name: &str, since: i64, index: usize) -> Result<(), String> {
        if self.opset >= since && self.has_attr(name) {
            return Err(format!(
                "attribute '{name}' is input {index} from opset {since} (this model uses opset {})",
                self.opset
            ));
        }
        Ok(())
    }

    /// Makes an attribute-form operand into constant input `index` (older opsets).
    pub fn promote(&mut self, index: usize, value: Tensor) {
        self.promoted.push((index, value));
    }
}
