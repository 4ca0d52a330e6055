//! Einsum: a sum of products over index labels, `"bij,bjk->bik"` style (explicit or
//! implicit output; `...` is refused). The reference sums over every label assignment.

use std::collections::BTreeMap;

use runtime::{DType, Tensor, TensorData};

use super::def::{Fact, OpDef, OutFact, ParseCtx};

/// A parsed equation: one label list per input and the output's labels.
#[derive(Clone, Debug)]
pub struct Einsum {
    pub inputs: Vec<Vec<char>>,
    pub output: Vec<char>,
}

pub fn parse(ctx: &mut ParseCtx) -> Result<Einsum, String> {
    let eq = ctx
        .string("equation")?
        .ok_or("attribute 'equation' is required")?;
    parse_equation(&eq)
}

/// Parses `lhs[->rhs]`; an implicit output is the labels seen once, in alphabetical order.
pub fn parse_equation(eq: &str) -> Result<Einsum, String> {
    let eq: String = eq.chars().filter(|c| !c.is_whitespace()).collect();
    if eq.contains("...") {
        return Err(format!("equation '{eq}': ellipsis is not supported"));
    }
    let (lhs, rhs) = match eq.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (eq.as_str(), None),
    };
    let labels = |s: &str| -> Result<Vec<char>, String> {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphabetic() {
                    Ok(c)
                } else {
                    Err(format!("equation '{eq}': unexpected character '{c}'"))
                }
            })
            .collect()
    };
    let inputs: Vec<Vec<char>> = lhs.split(',').map(labels).collect::<Result<_, _>>()?;
    let output = match rhs {
        Some(r) => {
            let out = labels(r)?;
            for c in &out {
                if !inputs.iter().any(|i| i.contains(c)) {
                    return Err(format!(
                        "equation '{eq}': output label '{c}' is in no input"
                    ));
                }
                if out.iter().filter(|d| *d == c).count() > 1 {
                    return Err(format!("equation '{eq}': output label '{c}' repeats"));
                }
            }
            out
        }
        None => {
            let mut count: BTreeMap<char, usize> = BTreeMap::new();
            for c in inputs.iter().flatten() {
                *count.entry(*c).or_default() += 1;
            }
            count
                .into_iter()
                .filter(|&(_, n)| n == 1)
                .map(|(c, _)| c)
                .collect()
        }
    };
    Ok(Einsum { inputs, output })
}

impl Einsum {
    /// Each label's extent, checked across inputs.
    fn extents(&self, shapes: &[&[usize]]) -> Result<BTreeMap<char, usize>, String> {
        if shapes.len() != self.inputs.len() {
            return Err(format!(
                "the equation has {} operands but the node has {} inputs",
                self.inputs.len(),
                shapes.len()
            ));
        }
        let mut ext = BTreeMap::new();
        for (k, (labels, shape)) in self.inputs.iter().zip(shapes).enumerate() {
            if labels.len() != shape.len() {
                return Err(format!(
                    "operand {k} has rank {} but the equation gives it {} labels",
                    shape.len(),
                    labels.len()
                ));
            }
            for (&c, &d) in labels.iter().zip(shape.iter()) {
                if *ext.entry(c).or_insert(d) != d {
                    return Err(format!("label '{c}' has extents {} and {d}", ext[&c]));
                }
            }
        }
        Ok(ext)
    }
}

impl OpDef for Einsum {
    fn op_type(&self) -> &str {
        "Einsum"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let facts: Vec<Fact> = (0..inputs.len())
            .map(|i| super::util::fact(inputs, i))
            .collect::<Result<_, _>>()?;
        let dtype = facts.first().ok_or("Einsum needs an input")?.dtype;
        if !matches!(dtype, DType::F32 | DType::F64) || facts.iter().any(|f| f.dtype != dtype) {
            return Err("Einsum inputs must all be float32 or all float64".into());
        }
        let shapes: Vec<&[usize]> = facts.iter().map(|f| f.shape).collect();
        let ext = self.extents(&shapes)?;
        Ok(vec![OutFact::new(
            dtype,
            self.output.iter().map(|c| ext[c]).collect(),
        )])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let ts: Vec<&Tensor> = (0..inputs.len())
            .map(|i| super::util::input(inputs, i))
            .collect::<Result<_, _>>()?;
        let shapes: Vec<&[usize]> = ts.iter().map(|t| t.shape()).collect();
        let ext = self.extents(&shapes)?;
        let labels: Vec<char> = ext.keys().copied().collect();
        let dims: Vec<usize> = labels.iter().map(|c| ext[c]).collect();
        let pos = |c: &char| labels.iter().position(|l| l == c).unwrap_or(0);
        let vals: Vec<Vec<f64>> = ts.iter().map(|t| t.to_f64_vec()).collect();
        let in_strides: Vec<Vec<(usize, usize)>> = self
            .inputs
            .iter()
            .zip(&shapes)
            .map(|(ls, s)| {
                let st = super::util::strides(s);
                ls.iter().zip(st).map(|(c, st)| (pos(c), st)).collect()
            })
            .collect();
        let out_shape: Vec<usize> = self.output.iter().map(|c| ext[c]).collect();
        let out_strides: Vec<(usize, usize)> = self
            .output
            .iter()
            .zip(super::util::strides(&out_shape))
            .map(|(c, st)| (pos(c), st))
            .collect();
        let mut out = vec![0f64; super::util::checked_numel(&out_shape)?];
        super::util::for_each_index(&dims, |idx| {
            let prod: f64 = vals
                .iter()
                .zip(&in_strides)
                .map(|(v, st)| v[st.iter().map(|&(p, s)| idx[p] * s).sum::<usize>()])
                .product();
            out[out_strides.iter().map(|&(p, s)| idx[p] * s).sum::<usize>()] += prod;
        });
        let data = match ts[0].dtype() {
            DType::F64 => TensorData::F64(out),
            _ => TensorData::F32(out.into_iter().map(|v| v as f32).collect()),
        };
        Ok(vec![Tensor::new(out_shape, data)?])
    }
}
