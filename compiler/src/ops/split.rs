//! Split: cut a tensor into consecutive pieces along one axis.

use runtime::{DType, Tensor};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{
    fact, for_each_index, gather_tensor, input, int_values, normalize_axis, strides,
};

/// Splits along `axis` into `outputs` pieces: sizes from int64 input 1 when given, else
/// `num_outputs` chunks of ⌈d/n⌉ with a smaller last one, else equal parts.
#[derive(Clone, Debug)]
pub struct Split {
    pub axis: i64,
    pub outputs: usize,
    /// Opset-18 `num_outputs`: the last chunk may be smaller.
    pub uneven: bool,
}

/// Parses Split, promoting the pre-opset-13 `split` attribute to input 1.
pub fn parse(ctx: &mut ParseCtx) -> Result<Split, String> {
    let outputs = ctx.node.output.len();
    if outputs == 0 {
        return Err("Split needs at least one output".into());
    }
    // Before opset 13 the sizes were the `split` attribute.
    ctx.moved_to_input("split", 13, 1)?;
    if ctx.opset < 13 {
        if let Some(split) = ctx.ints("split")? {
            ctx.promote(1, Tensor::i64(vec![split.len()], split));
        }
    }
    let mut uneven = false;
    if let Some(n) = ctx.int("num_outputs")? {
        if ctx.has_input(1) {
            return Err("attribute 'num_outputs' and the 'split' input are exclusive".into());
        }
        if n != outputs as i64 {
            return Err(format!(
                "attribute 'num_outputs' is {n} but the node has {outputs} outputs"
            ));
        }
        uneven = true;
    }
    Ok(Split {
        axis: ctx.int_or("axis", 0)?,
        outputs,
        uneven,
    })
}

impl Split {
    /// The axis and piece sizes for `shape` and the optional `split` sizes.
    pub fn pieces(
        &self,
        shape: &[usize],
        split: Option<&[i64]>,
    ) -> Result<(usize, Vec<usize>), String> {
        let axis = normalize_axis(self.axis, shape.len())?;
        let d = shape[axis];
        let n = self.outputs;
        if n == 0 {
            return Err("Split needs at least one output".into());
        }
        let sizes = match split {
            Some(s) => {
                if s.len() != n {
                    return Err(format!(
                        "split {s:?} has {} sizes but the node has {n} outputs",
                        s.len()
                    ));
                }
                let sizes = s
                    .iter()
                    .map(|&v| {
                        usize::try_from(v).map_err(|_| format!("split {s:?} has a negative size"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if sizes.iter().sum::<usize>() != d {
                    return Err(format!(
                        "split {s:?} does not add up to dimension {d} of axis {axis}"
                    ));
                }
                sizes
            }
            None if self.uneven => {
                let chunk = d.div_ceil(n);
                let mut sizes = vec![chunk; n];
                let before = chunk * (n - 1);
                if before > d {
                    return Err(format!(
                        "dimension {d} cannot be split into {n} chunks of {chunk} with a smaller last one"
                    ));
                }
                sizes[n - 1] = d - before;
                sizes
            }
            None => {
                if !d.is_multiple_of(n) {
                    return Err(format!(
                        "dimension {d} of axis {axis} does not split into {n} equal parts"
                    ));
                }
                vec![d / n; n]
            }
        };
        Ok((axis, sizes))
    }

    fn split_input(inputs: &[Option<Fact>]) -> Result<Option<Vec<i64>>, String> {
        match inputs.get(1).copied().flatten() {
            None => Ok(None),
            Some(f) => {
                let t = f
                    .value
                    .ok_or("split (input 1) must be a constant known at compile time")?;
                if t.dtype() != DType::I64 || t.rank() != 1 {
                    return Err(format!(
                        "split must be a 1-D int64 tensor, got {} {:?}",
                        t.dtype(),
                        t.shape()
                    ));
                }
                Ok(Some(int_values(t, "split")?))
            }
        }
    }
}

impl OpDef for Split {
    fn op_type(&self) -> &str {
        "Split"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let x = fact(inputs, 0)?;
        let split = Split::split_input(inputs)?;
        let (axis, sizes) = self.pieces(x.shape, split.as_deref())?;
        Ok(sizes
            .iter()
            .map(|&s| {
                let mut shape = x.shape.to_vec();
                shape[axis] = s;
                OutFact::new(x.dtype, shape)
            })
            .collect())
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let x = input(inputs, 0)?;
        let split = inputs
            .get(1)
            .copied()
            .flatten()
            .map(|t| int_values(t, "split"))
            .transpose()?;
        let (axis, sizes) = self.pieces(x.shape(), split.as_deref())?;
        let xs = strides(x.shape());
        let mut start = 0;
        let mut out = Vec::with_capacity(sizes.len());
        for s in sizes {
            let mut shape = x.shape().to_vec();
            shape[axis] = s;
            let mut idx = Vec::new();
            for_each_index(&shape, |o| {
                idx.push(
                    o.iter()
                        .enumerate()
                        .map(|(d, &i)| (if d == axis { i + start } else { i }) * xs[d])
                        .sum(),
                )
            });
            out.push(gather_tensor(x, shape, &idx)?);
            start += s;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uneven_equal_and_explicit_pieces() {
        let s = |outputs, uneven| Split {
            axis: -1,
            outputs,
            uneven,
        };
        assert_eq!(
            s(3, true).pieces(&[2, 7], None).unwrap(),
            (1, vec![3, 3, 1])
        );
        assert!(s(3, false).pieces(&[2, 7], None).is_err());
        assert!(s(4, true).pieces(&[5], None).is_err());
        assert_eq!(
            s(3, false).pieces(&[4], Some(&[0, 4, 0])).unwrap(),
            (0, vec![0, 4, 0])
        );
        assert!(s(2, false).pieces(&[4], Some(&[1, 2])).is_err());
        let x = Tensor::i64(vec![2, 2], vec![1, 2, 3, 4]);
        let y = s(2, false).eval(&[Some(&x)]).unwrap();
        assert_eq!(y[0], Tensor::i64(vec![2, 1], vec![1, 3]));
        assert_eq!(y[1], Tensor::i64(vec![2, 1], vec![2, 4]));
    }
}
