//! Transpose: permute the axes.

use runtime::Tensor;

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{fact, for_each_index, gather_tensor, input, offset, strides, to_usize};

/// Output axis `i` is input axis `perm[i]`; without `perm` the axes are reversed.
#[derive(Clone, Debug)]
pub struct Transpose {
    pub perm: Option<Vec<usize>>,
}

/// Parses Transpose, checking that `perm` is a permutation.
pub fn parse(ctx: &mut ParseCtx) -> Result<Transpose, String> {
    let perm = match ctx.ints("perm")? {
        None => None,
        Some(p) => {
            let p: Vec<usize> = p
                .iter()
                .map(|&v| to_usize(v, "attribute 'perm'"))
                .collect::<Result<_, _>>()?;
            let mut seen = vec![false; p.len()];
            for &a in &p {
                match seen.get_mut(a) {
                    Some(s) if !*s => *s = true,
                    _ => return Err(format!("attribute 'perm' {p:?} is not a permutation")),
                }
            }
            Some(p)
        }
    };
    Ok(Transpose { perm })
}

impl Transpose {
    fn perm_for(&self, rank: usize) -> Result<Vec<usize>, String> {
        match &self.perm {
            None => Ok((0..rank).rev().collect()),
            Some(p) if p.len() == rank => Ok(p.clone()),
            Some(p) => Err(format!(
                "attribute 'perm' {p:?} has {} axes but the input has rank {rank}",
                p.len()
            )),
        }
    }
}

impl OpDef for Transpose {
    fn op_type(&self) -> &str {
        "Transpose"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let x = fact(inputs, 0)?;
        let perm = self.perm_for(x.shape.len())?;
        let shape = perm.iter().map(|&a| x.shape[a]).collect();
        Ok(vec![OutFact::new(x.dtype, shape)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let x = input(inputs, 0)?;
        let perm = self.perm_for(x.rank())?;
        let xs = strides(x.shape());
        let shape: Vec<usize> = perm.iter().map(|&a| x.shape()[a]).collect();
        // Output index i reads the input at stride xs[perm[i]] along output axis i.
        let pst: Vec<usize> = perm.iter().map(|&a| xs[a]).collect();
        let mut idx = Vec::with_capacity(x.len());
        for_each_index(&shape, |o| idx.push(offset(o, &pst)));
        Ok(vec![gather_tensor(x, shape, &idx)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_reverses_and_works_on_int64() {
        let x = Tensor::i64(vec![2, 3], vec![0, 1, 2, 3, 4, 5]);
        let y = Transpose { perm: None }.eval(&[Some(&x)]).unwrap();
        assert_eq!(y[0], Tensor::i64(vec![3, 2], vec![0, 3, 1, 4, 2, 5]));
        assert!(Transpose {
            perm: Some(vec![0])
        }
        .eval(&[Some(&x)])
        .is_err());
    }
}
