//! Reductions over a set of axes: ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceProd,
//! ReduceL2, ReduceSumSquare.
//!
//! `axes` is an attribute before opset 18 (13 for ReduceSum) and is then promoted to
//! input 1; from those opsets it is an optional input that must be a compile-time
//! constant. No axes (or an empty list) means all axes, unless `noop_with_empty_axes`.

use runtime::{DType, Tensor, TensorData};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{fact, for_each_index, input, normalize_axis, strides};

/// What a [`Reduce`] computes over each group of elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceKind {
    Mean,
    Sum,
    Max,
    Min,
    Prod,
    L2,
    SumSquare,
}

/// Reduction of input 0 over the axes given by constant input 1.
#[derive(Clone, Debug)]
pub struct Reduce {
    pub kind: ReduceKind,
    pub keepdims: bool,
    pub noop_with_empty_axes: bool,
}

pub fn parse(ctx: &mut ParseCtx) -> Result<Reduce, String> {
    let kind = match ctx.node.op_type() {
        "ReduceMean" => ReduceKind::Mean,
        "ReduceSum" => ReduceKind::Sum,
        "ReduceMax" => ReduceKind::Max,
        "ReduceMin" => ReduceKind::Min,
        "ReduceProd" => ReduceKind::Prod,
        "ReduceL2" => ReduceKind::L2,
        "ReduceSumSquare" => ReduceKind::SumSquare,
        other => return Err(format!("not a reduction: {other}")),
    };
    let axes_input_from = if kind == ReduceKind::Sum { 13 } else { 18 };
    if ctx.opset < axes_input_from {
        if ctx.node.input.len() > 1 {
            return Err(format!(
                "axes is an attribute before opset {axes_input_from}, but the node has {} inputs",
                ctx.node.input.len()
            ));
        }
        if let Some(axes) = ctx.ints("axes")? {
            ctx.promote(1, Tensor::i64(vec![axes.len()], axes));
        }
    } else if ctx.has_attr("axes") {
        return Err(format!(
            "attribute 'axes' became an input in opset {axes_input_from} (model uses opset {})",
            ctx.opset
        ));
    }
    Ok(Reduce {
        kind,
        keepdims: ctx.flag("keepdims", true)?,
        noop_with_empty_axes: ctx.flag("noop_with_empty_axes", false)?,
    })
}

impl ReduceKind {
    fn name(self) -> &'static str {
        match self {
            ReduceKind::Mean => "ReduceMean",
            ReduceKind::Sum => "ReduceSum",
            ReduceKind::Max => "ReduceMax",
            ReduceKind::Min => "ReduceMin",
            ReduceKind::Prod => "ReduceProd",
            ReduceKind::L2 => "ReduceL2",
            ReduceKind::SumSquare => "ReduceSumSquare",
        }
    }

    /// The accumulator's start value (also the result over an empty group).
    fn init(self) -> f64 {
        match self {
            ReduceKind::Max => f64::NEG_INFINITY,
            ReduceKind::Min => f64::INFINITY,
            ReduceKind::Prod => 1.0,
            _ => 0.0,
        }
    }

    fn step(self, acc: f64, v: f64) -> f64 {
        match self {
            ReduceKind::Mean | ReduceKind::Sum => acc + v,
            ReduceKind::L2 | ReduceKind::SumSquare => acc + v * v,
            ReduceKind::Prod => acc * v,
            // NaN propagates, as in numpy's max/min.
            ReduceKind::Max if v.is_nan() || acc.is_nan() => f64::NAN,
            ReduceKind::Min if v.is_nan() || acc.is_nan() => f64::NAN,
            ReduceKind::Max => acc.max(v),
            ReduceKind::Min => acc.min(v),
        }
    }

    fn finish(self, acc: f64, count: usize) -> f64 {
        match self {
            ReduceKind::Mean => acc / count as f64,
            ReduceKind::L2 => acc.sqrt(),
            _ => acc,
        }
    }
}

/// The reduced-axes mask of a `rank`-D input (`None` = identity, nothing reduced).
pub fn reduced_axes(
    axes: Option<&Tensor>,
    rank: usize,
    noop_with_empty_axes: bool,
) -> Result<Option<Vec<bool>>, String> {
    let list = match axes {
        Some(t) => t.to_i64_vec().map_err(|e| format!("axes: {e}"))?,
        None => Vec::new(),
    };
    if list.is_empty() {
        return Ok(if noop_with_empty_axes {
            None
        } else {
            Some(vec![true; rank])
        });
    }
    let mut mask = vec![false; rank];
    for &a in &list {
        let a = normalize_axis(a, rank)?;
        if mask[a] {
            return Err(format!("axes {list:?} name axis {a} twice"));
        }
        mask[a] = true;
    }
    Ok(Some(mask))
}

fn out_shape(shape: &[usize], mask: &[bool], keepdims: bool) -> Vec<usize> {
    shape
        .iter()
        .zip(mask)
        .filter_map(|(&d, &m)| match (m, keepdims) {
            (false, _) => Some(d),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect()
}

impl OpDef for Reduce {
    fn op_type(&self) -> &str {
        self.kind.name()
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let x = fact(inputs, 0)?;
        let ints_ok = matches!(
            self.kind,
            ReduceKind::Sum | ReduceKind::Max | ReduceKind::Min | ReduceKind::Prod
        );
        let ok = match x.dtype {
            DType::F32 | DType::F64 => true,
            DType::I64 | DType::I32 => ints_ok,
            _ => false,
        };
        if !ok {
            return Err(format!(
                "{} does not support {} input",
                self.op_type(),
                x.dtype
            ));
        }
        let axes =
            match inputs.get(1).copied().flatten() {
                None => None,
                Some(f) => {
                    if !matches!(f.dtype, DType::I64 | DType::I32) || f.shape.len() > 1 {
                        return Err(format!(
                            "axes must be a 1-D int64 tensor, got {} {:?}",
                            f.dtype, f.shape
                        ));
                    }
                    Some(f.value.ok_or(
                        "axes (input 1) must be a constant known at compile time".to_string(),
                    )?)
                }
            };
        let shape = match reduced_axes(axes, x.shape.len(), self.noop_with_empty_axes)? {
            None => x.shape.to_vec(),
            Some(mask) => {
                if matches!(self.kind, ReduceKind::Max | ReduceKind::Min)
                    && x.shape.iter().zip(&mask).any(|(&d, &m)| m && d == 0)
                {
                    return Err(format!("{} over an empty axis", self.op_type()));
                }
                out_shape(x.shape, &mask, self.keepdims)
            }
        };
        Ok(vec![OutFact::new(x.dtype, shape)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let x = input(inputs, 0)?;
        let axes = inputs.get(1).copied().flatten();
        let Some(mask) = reduced_axes(axes, x.rank(), self.noop_with_empty_axes)? else {
            return Ok(vec![x.clone()]);
        };
        let shape = x.shape();
        let kept = out_shape(shape, &mask, true);
        let kept_strides = strides(&kept);
        let n_out: usize = kept.iter().product();
        let count = x.len().checked_div(n_out).unwrap_or(0);
        // Each input element's output slot: its index with reduced coordinates zeroed.
        let mut slots = Vec::with_capacity(x.len());
        for_each_index(shape, |idx| {
            let o: usize = idx
                .iter()
                .zip(&mask)
                .zip(&kept_strides)
                .map(|((&i, &m), &s)| if m { 0 } else { i * s })
                .sum();
            slots.push(o);
        });
        let k = self.kind;
        let final_shape = out_shape(shape, &mask, self.keepdims);
        let data = match x.data() {
            TensorData::F32(_) | TensorData::F64(_) => {
                let v = x.to_f64_vec();
                let mut acc = vec![k.init(); n_out];
                for (&s, &val) in slots.iter().zip(&v) {
                    acc[s] = k.step(acc[s], val);
                }
                let out = acc.into_iter().map(|a| k.finish(a, count));
                match x.dtype() {
                    DType::F32 => TensorData::F32(out.map(|a| a as f32).collect()),
                    _ => TensorData::F64(out.collect()),
                }
            }
            TensorData::I64(_) | TensorData::I32(_) => {
                let v = x.to_i64_vec()?;
                let (init, step): (i64, fn(i64, i64) -> i64) = match k {
                    ReduceKind::Sum => (0, i64::wrapping_add),
                    ReduceKind::Prod => (1, i64::wrapping_mul),
                    ReduceKind::Max => (i64::MIN, i64::max),
                    ReduceKind::Min => (i64::MAX, i64::min),
                    _ => return Err(format!("{} does not support integer input", k.name())),
                };
                let mut acc = vec![init; n_out];
                for (&s, &val) in slots.iter().zip(&v) {
                    acc[s] = step(acc[s], val);
                }
                match x.dtype() {
                    DType::I64 => TensorData::I64(acc),
                    _ => TensorData::I32(acc.into_iter().map(|a| a as i32).collect()),
                }
            }
            d => return Err(format!("{} does not support {} input", k.name(), d.dtype())),
        };
        Ok(vec![Tensor::new(final_shape, data)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::{AttributeProto, NodeProto};

    fn reduce(kind: ReduceKind, keepdims: bool) -> Reduce {
        Reduce {
            kind,
            keepdims,
            noop_with_empty_axes: false,
        }
    }

    #[test]
    fn axes_attribute_is_promoted_before_opset_18() {
        let n = NodeProto {
            op_type: Some("ReduceMean".into()),
            input: vec!["x".into()],
            output: vec!["y".into()],
            attribute: vec![AttributeProto {
                name: Some("axes".into()),
                ints: vec![-1],
                r#type: Some(7),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut ctx = ParseCtx::new(&n, 13);
        parse(&mut ctx).unwrap();
        assert_eq!(ctx.promoted.len(), 1);
        assert_eq!(ctx.promoted[0].1.as_i64().unwrap(), &[-1]);
        // ReduceSum took axes as an input already at 13.
        let mut sum = n.clone();
        sum.op_type = Some("ReduceSum".into());
        let err = parse(&mut ParseCtx::new(&sum, 13)).unwrap_err();
        assert!(err.contains("'axes'"), "{err}");
    }

    #[test]
    fn reduces_selected_axes() {
        let x = Tensor::f32(vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let axes = Tensor::i64(vec![1], vec![1]);
        let y = reduce(ReduceKind::Sum, false)
            .eval(&[Some(&x), Some(&axes)])
            .unwrap();
        assert_eq!(y[0].shape(), &[2]);
        assert_eq!(y[0].as_f32().unwrap(), &[6.0, 15.0]);
        let axes0 = Tensor::i64(vec![1], vec![0]);
        let y = reduce(ReduceKind::Prod, true)
            .eval(&[Some(&x), Some(&axes0)])
            .unwrap();
        assert_eq!(y[0].shape(), &[1, 3]);
        assert_eq!(y[0].as_f32().unwrap(), &[4.0, 10.0, 18.0]);
        let y = reduce(ReduceKind::L2, false)
            .eval(&[Some(&x), None])
            .unwrap();
        assert_eq!(y[0].shape(), &[] as &[usize]);
        assert!((y[0].as_f32().unwrap()[0] - 91f32.sqrt()).abs() < 1e-6);
        let y = reduce(ReduceKind::SumSquare, true)
            .eval(&[Some(&x), Some(&axes)])
            .unwrap();
        assert_eq!(y[0].as_f32().unwrap(), &[14.0, 77.0]);
    }

    #[test]
    fn noop_with_empty_axes_and_errors() {
        let x = Tensor::i64(vec![2, 2], vec![1, 9, -3, 4]);
        let mut op = reduce(ReduceKind::Max, true);
        op.noop_with_empty_axes = true;
        let empty = Tensor::i64(vec![0], vec![]);
        assert_eq!(op.eval(&[Some(&x), Some(&empty)]).unwrap()[0], x);
        op.noop_with_empty_axes = false;
        let y = op.eval(&[Some(&x), Some(&empty)]).unwrap();
        assert_eq!(y[0].shape(), &[1, 1]);
        assert_eq!(y[0].as_i64().unwrap(), &[9]);
        let dup = Tensor::i64(vec![2], vec![0, -2]);
        assert!(op
            .eval(&[Some(&x), Some(&dup)])
            .unwrap_err()
            .contains("twice"));
        let f = Fact {
            dtype: DType::I64,
            shape: &[1],
            value: None,
        };
        let xf = Fact {
            dtype: DType::F32,
            shape: &[2],
            value: None,
        };
        assert!(op
            .infer(&[Some(xf), Some(f)])
            .unwrap_err()
            .contains("constant"));
    }
}
