//! Loop (control flow): runs its body graph up to `M` times while `cond` holds, threading the
//! loop-carried values through and stacking the scan outputs. bqmlc specialises shapes at
//! compile time, so a Loop is evaluated when its inputs (and the outer values its body reads)
//! are known — the exporters' shape computations (Range's expansion, for one) fold away; a
//! Loop over run-time values is refused by the compiler and run by the reference interpreter.
//!
//! The body's reads of outer-scope values become extra inputs of the node (after `M`, `cond`
//! and the initial carried values), so ordering and constant propagation see them.

use std::collections::{HashMap, HashSet};

use runtime::{DType, Tensor, TensorData};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use crate::onnx::GraphProto;

/// Iterations a Loop may run (a body whose condition never turns false is an error).
const MAX_ITERATIONS: usize = 1 << 20;

/// A Loop node: its body and how many of its inputs are ONNX's own (the rest are the outer
/// values the body reads, in [`Loop::outer`] order).
#[derive(Clone, Debug)]
pub struct Loop {
    pub body: GraphProto,
    pub opset: i64,
    /// Number of ONNX inputs (`M`, `cond`, carried values).
    pub explicit: usize,
    /// Outer-scope names the body reads, appended to the node's inputs.
    pub outer: Vec<String>,
}

pub fn parse(ctx: &mut ParseCtx) -> Result<Loop, String> {
    let body = ctx.graph("body")?.ok_or("attribute 'body' is required")?;
    if body.input.len() < 2 || body.output.is_empty() {
        return Err(
            "the body needs (iteration, condition, carried…) inputs and a condition output".into(),
        );
    }
    let carried = body.input.len() - 2;
    if ctx.node.input.len() != carried + 2 {
        return Err(format!(
            "the body carries {carried} values but the node passes {}",
            ctx.node.input.len().saturating_sub(2)
        ));
    }
    // Names defined inside the body; everything else it reads comes from outside.
    let mut inner: HashSet<&str> = body.input.iter().map(|v| v.name()).collect();
    inner.extend(body.initializer.iter().map(|t| t.name()));
    for n in &body.node {
        inner.extend(n.output.iter().map(String::as_str));
    }
    let mut outer = Vec::new();
    for n in &body.node {
        if n.op_type() == "Loop" || n.op_type() == "If" || n.op_type() == "Scan" {
            return Err(format!(
                "a {} inside a Loop body is not supported",
                n.op_type()
            ));
        }
        for i in n
            .input
            .iter()
            .filter(|i| !i.is_empty() && !inner.contains(i.as_str()))
        {
            if !outer.contains(i) {
                outer.push(i.clone());
            }
        }
    }
    Ok(Loop {
        explicit: ctx.node.input.len(),
        opset: ctx.opset,
        outer,
        body,
    })
}

/// Runs one body node on `env`, storing its outputs.
fn run_node(
    node: &crate::onnx::NodeProto,
    opset: i64,
    env: &mut HashMap<String, Tensor>,
) -> Result<(), String> {
    let mut ctx = ParseCtx::new(node, opset);
    let op = super::parse(&mut ctx)
        .ok_or_else(|| format!("op {} is not supported inside a Loop body", node.op_type()))??;
    let mut args: Vec<Option<Tensor>> = node
        .input
        .iter()
        .map(|i| {
            if i.is_empty() {
                Ok(None)
            } else {
                env.get(i)
                    .cloned()
                    .map(Some)
                    .ok_or_else(|| format!("body value '{i}' is not defined"))
            }
        })
        .collect::<Result<_, String>>()?;
    for (i, t) in std::mem::take(&mut ctx.promoted) {
        if args.len() <= i {
            args.resize(i + 1, None);
        }
        args[i] = Some(t);
    }
    let refs: Vec<Option<&Tensor>> = args.iter().map(Option::as_ref).collect();
    let outs = op
        .def()
        .eval(&refs)
        .map_err(|m| format!("body node {}: {m}", node.name()))?;
    for (name, t) in node.output.iter().zip(outs) {
        if !name.is_empty() {
            env.insert(name.clone(), t);
        }
    }
    Ok(())
}

/// Stacks equally shaped tensors along a new leading axis.
fn stack(parts: &[Tensor]) -> Result<Tensor, String> {
    let first = parts.first().ok_or("nothing to stack")?;
    if parts.iter().any(|p| p.shape() != first.shape()) {
        return Err("scan outputs change shape between iterations".into());
    }
    let datas: Vec<&TensorData> = parts.iter().map(|p| p.data()).collect();
    let mut shape = vec![parts.len()];
    shape.extend_from_slice(first.shape());
    Tensor::new(shape, super::util::concat_data(&datas)?)
}

impl Loop {
    /// Runs the loop on known inputs: the final carried values, then the scan outputs.
    fn run(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let max = match inputs.first().copied().flatten() {
            Some(m) => usize::try_from(
                super::util::int_values(m, "M")?
                    .first()
                    .copied()
                    .unwrap_or(0)
                    .max(0),
            )
            .map_err(|_| "M is too large".to_string())?,
            None => usize::MAX,
        };
        let mut cond = match inputs.get(1).copied().flatten() {
            Some(c) => match c.data() {
                TensorData::Bool(v) => v.first().copied().unwrap_or(false),
                _ => return Err("cond must be bool".into()),
            },
            None => true,
        };
        let body_in: Vec<&str> = self.body.input.iter().map(|v| v.name()).collect();
        let body_out: Vec<&str> = self.body.output.iter().map(|v| v.name()).collect();
        let carried_n = body_in.len() - 2;
        let mut carried: Vec<Tensor> = (0..carried_n)
            .map(|k| {
                inputs
                    .get(2 + k)
                    .copied()
                    .flatten()
                    .cloned()
                    .ok_or_else(|| format!("missing carried input {k}"))
            })
            .collect::<Result<_, _>>()?;
        let mut base: HashMap<String, Tensor> = HashMap::new();
        for (name, t) in self
            .outer
            .iter()
            .zip(&inputs[self.explicit.min(inputs.len())..])
        {
            base.insert(
                name.clone(),
                t.ok_or_else(|| format!("outer value '{name}' is missing"))?
                    .clone(),
            );
        }
        for t in &self.body.initializer {
            base.insert(
                t.name().to_string(),
                crate::proto::tensor_from_proto(t, None)?,
            );
        }
        let scans = body_out.len() - 1 - carried_n;
        let mut scanned: Vec<Vec<Tensor>> = vec![Vec::new(); scans];
        let mut i = 0usize;
        while i < max && cond {
            if i >= MAX_ITERATIONS {
                return Err(format!(
                    "the Loop ran {MAX_ITERATIONS} iterations without ending"
                ));
            }
            let mut env = base.clone();
            env.insert(body_in[0].to_string(), Tensor::i64(vec![], vec![i as i64]));
            env.insert(
                body_in[1].to_string(),
                Tensor::new(vec![], TensorData::Bool(vec![cond]))?,
            );
            for (name, t) in body_in[2..].iter().zip(&carried) {
                env.insert(name.to_string(), t.clone());
            }
            for n in &self.body.node {
                run_node(n, self.opset, &mut env)?;
            }
            let get = |name: &str| {
                env.get(name)
                    .cloned()
                    .ok_or_else(|| format!("body output '{name}' is not computed"))
            };
            cond = match get(body_out[0])?.data() {
                TensorData::Bool(v) => v.first().copied().unwrap_or(false),
                _ => return Err("the body's condition output must be bool".into()),
            };
            for (k, name) in body_out[1..=carried_n].iter().enumerate() {
                carried[k] = get(name)?;
            }
            for (k, name) in body_out[1 + carried_n..].iter().enumerate() {
                scanned[k].push(get(name)?);
            }
            i += 1;
        }
        let mut outs = carried;
        for (k, parts) in scanned.into_iter().enumerate() {
            if parts.is_empty() {
                // No iteration ran: an empty stack of the declared element type.
                let elem = self.body.output[1 + carried_n + k]
                    .r#type
                    .as_ref()
                    .and_then(|t| match &t.value {
                        Some(crate::onnx::type_proto::Value::TensorType(tt)) => tt.elem_type,
                        _ => None,
                    });
                let dtype = elem.and_then(DType::from_onnx).unwrap_or(DType::F32);
                outs.push(Tensor::zeros(dtype, vec![0]));
            } else {
                outs.push(stack(&parts)?);
            }
        }
        Ok(outs)
    }
}

impl OpDef for Loop {
    fn op_type(&self) -> &str {
        "Loop"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let values: Option<Vec<Option<&Tensor>>> = inputs
            .iter()
            .map(|f| match f {
                None => Some(None),
                Some(f) => f.value.map(Some),
            })
            .collect();
        let values = values.ok_or(
            "the Loop's inputs and the outer values its body reads must be a constant known at compile time",
        )?;
        Ok(self
            .run(&values)?
            .into_iter()
            .map(|t| OutFact {
                dtype: t.dtype(),
                shape: t.shape().to_vec(),
                value: Some(t),
            })
            .collect())
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        self.run(inputs)
    }
}
