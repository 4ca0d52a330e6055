//! Element-wise reductions over 1..N inputs with multidirectional broadcasting: Sum, Max,
//! Min, Mean.

use runtime::{DType, Tensor, TensorData};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{broadcast_offsets, broadcast_shapes, fact};

/// How a [`Variadic`] combines its inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VariadicKind {
    Sum,
    Max,
    Min,
    Mean,
}

/// `Y = op(X0, X1, …)` element-wise after broadcasting all inputs together.
#[derive(Clone, Debug)]
pub struct Variadic {
    pub kind: VariadicKind,
}

pub fn parse(ctx: &mut ParseCtx) -> Result<Variadic, String> {
    let kind = match ctx.node.op_type() {
        "Sum" => VariadicKind::Sum,
        "Max" => VariadicKind::Max,
        "Min" => VariadicKind::Min,
        "Mean" => VariadicKind::Mean,
        other => return Err(format!("not a variadic op: {other}")),
    };
    if ctx.node.input.is_empty() || ctx.node.input.iter().any(String::is_empty) {
        return Err(format!(
            "{} needs one or more inputs, none omitted",
            ctx.node.op_type()
        ));
    }
    Ok(Variadic { kind })
}

impl VariadicKind {
    fn name(self) -> &'static str {
        match self {
            VariadicKind::Sum => "Sum",
            VariadicKind::Max => "Max",
            VariadicKind::Min => "Min",
            VariadicKind::Mean => "Mean",
        }
    }

    /// Combines the accumulator with the next input. NaN propagates through Max/Min, as
    /// in numpy's `maximum`/`minimum`.
    fn f32(self, acc: f32, v: f32) -> f32 {
        match self {
            VariadicKind::Sum | VariadicKind::Mean => acc + v,
            VariadicKind::Max => {
                if acc.is_nan() || v.is_nan() {
                    f32::NAN
                } else {
                    acc.max(v)
                }
            }
            VariadicKind::Min => {
                if acc.is_nan() || v.is_nan() {
                    f32::NAN
                } else {
                    acc.min(v)
                }
            }
        }
    }

    fn i64(self, acc: i64, v: i64) -> i64 {
        match self {
            VariadicKind::Sum | VariadicKind::Mean => acc.wrapping_add(v),
            VariadicKind::Max => acc.max(v),
            VariadicKind::Min => acc.min(v),
        }
    }
}

impl OpDef for Variadic {
    fn op_type(&self) -> &str {
        self.kind.name()
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        if inputs.is_empty() {
            return Err(format!("{} needs at least one input", self.kind.name()));
        }
        let facts: Vec<Fact> = (0..inputs.len())
            .map(|i| fact(inputs, i))
            .collect::<Result<_, _>>()?;
        let dtype = facts[0].dtype;
        let ok = match self.kind {
            VariadicKind::Mean => dtype == DType::F32,
            _ => matches!(dtype, DType::F32 | DType::I64),
        };
        if !ok {
            return Err(format!(
                "{} does not support {dtype} inputs",
                self.kind.name()
            ));
        }
        if let Some(f) = facts.iter().find(|f| f.dtype != dtype) {
            return Err(format!(
                "all inputs must have the same type, got {dtype} and {}",
                f.dtype
            ));
        }
        let shapes: Vec<&[usize]> = facts.iter().map(|f| f.shape).collect();
        Ok(vec![OutFact::new(dtype, broadcast_shapes(&shapes)?)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let ts: Vec<&Tensor> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| t.ok_or_else(|| format!("missing required input {i}")))
            .collect::<Result<_, _>>()?;
        let first = ts
            .first()
            .ok_or_else(|| format!("{} needs at least one input", self.kind.name()))?;
        let shapes: Vec<&[usize]> = ts.iter().map(|t| t.shape()).collect();
        let shape = broadcast_shapes(&shapes)?;
        let offs = broadcast_offsets(&shapes, &shape);
        let k = self.kind;
        let data = match first.data() {
            TensorData::F32(_) => {
                let vals: Vec<&[f32]> = ts.iter().map(|t| t.as_f32()).collect::<Result<_, _>>()?;
                let mut out: Vec<f32> = offs[0].iter().map(|&j| vals[0][j]).collect();
                for (v, off) in vals.iter().zip(&offs).skip(1) {
                    for (o, &j) in out.iter_mut().zip(off) {
                        *o = k.f32(*o, v[j]);
                    }
                }
                if k == VariadicKind::Mean {
                    let c = ts.len() as f32;
                    out.iter_mut().for_each(|o| *o /= c);
                }
                TensorData::F32(out)
            }
            TensorData::I64(_) if k != VariadicKind::Mean => {
                let vals: Vec<&[i64]> = ts.iter().map(|t| t.as_i64()).collect::<Result<_, _>>()?;
                let mut out: Vec<i64> = offs[0].iter().map(|&j| vals[0][j]).collect();
                for (v, off) in vals.iter().zip(&offs).skip(1) {
                    for (o, &j) in out.iter_mut().zip(off) {
                        *o = k.i64(*o, v[j]);
                    }
                }
                TensorData::I64(out)
            }
            d => {
                return Err(format!(
                    "{} does not support {} inputs",
                    k.name(),
                    d.dtype()
                ))
            }
        };
        Ok(vec![Tensor::new(shape, data)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasts_three_inputs() {
        let a = Tensor::f32(vec![2, 1], vec![1.0, 2.0]);
        let b = Tensor::f32(vec![3], vec![10.0, 20.0, 30.0]);
        let c = Tensor::f32(vec![], vec![100.0]);
        let sum = Variadic {
            kind: VariadicKind::Sum,
        };
        let y = sum.eval(&[Some(&a), Some(&b), Some(&c)]).unwrap();
        assert_eq!(y[0].shape(), &[2, 3]);
        assert_eq!(
            y[0].as_f32().unwrap(),
            &[111.0, 121.0, 131.0, 112.0, 122.0, 132.0]
        );
        let mean = Variadic {
            kind: VariadicKind::Mean,
        };
        let y = mean.eval(&[Some(&a), Some(&b)]).unwrap();
        assert_eq!(y[0].as_f32().unwrap(), &[5.5, 10.5, 15.5, 6.0, 11.0, 16.0]);
    }

    #[test]
    fn max_min_int64_and_nan() {
        let a = Tensor::i64(vec![3], vec![1, 5, -2]);
        let b = Tensor::i64(vec![3], vec![4, 0, -3]);
        let max = Variadic {
            kind: VariadicKind::Max,
        };
        let min = Variadic {
            kind: VariadicKind::Min,
        };
        assert_eq!(
            max.eval(&[Some(&a), Some(&b)]).unwrap()[0]
                .as_i64()
                .unwrap(),
            &[4, 5, -2]
        );
        assert_eq!(
            min.eval(&[Some(&a), Some(&b)]).unwrap()[0]
                .as_i64()
                .unwrap(),
            &[1, 0, -3]
        );
        let x = Tensor::f32(vec![2], vec![f32::NAN, 1.0]);
        let z = Tensor::f32(vec![2], vec![0.0, 2.0]);
        let y = max.eval(&[Some(&x), Some(&z)]).unwrap();
        assert!(y[0].as_f32().unwrap()[0].is_nan());
        assert_eq!(y[0].as_f32().unwrap()[1], 2.0);
    }

    #[test]
    fn mixed_types_rejected() {
        let f = |dtype| Fact {
            dtype,
            shape: &[2],
            value: None,
        };
        let sum = Variadic {
            kind: VariadicKind::Sum,
        };
        let err = sum
            .infer(&[Some(f(DType::F32)), Some(f(DType::I64))])
            .unwrap_err();
        assert!(err.contains("same type"), "{err}");
    }
}
