//! MatMul with numpy's `matmul` semantics: a 1-D A is a row vector and a 1-D B a column
//! vector (the added dim is dropped from the result), and leading batch dims broadcast.

use runtime::{DType, Tensor};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{broadcast_offsets, broadcast_shapes, fact, input};

/// `Y = A @ B`.
#[derive(Clone, Debug)]
pub struct MatMul;

pub fn parse(_ctx: &mut ParseCtx) -> Result<MatMul, String> {
    Ok(MatMul)
}

/// Resolved geometry: batch shape of the output, matrix dims, and the output shape.
struct Geometry {
    a_batch: Vec<usize>,
    b_batch: Vec<usize>,
    batch: Vec<usize>,
    m: usize,
    k: usize,
    n: usize,
    out: Vec<usize>,
}

fn geometry(a: &[usize], b: &[usize]) -> Result<Geometry, String> {
    if a.is_empty() || b.is_empty() {
        return Err(format!(
            "MatMul operands must have rank ≥ 1, got {a:?} and {b:?}"
        ));
    }
    // Promote 1-D operands to matrices: A [K] → [1, K], B [K] → [K, 1].
    let a2: Vec<usize> = if a.len() == 1 {
        vec![1, a[0]]
    } else {
        a.to_vec()
    };
    let b2: Vec<usize> = if b.len() == 1 {
        vec![b[0], 1]
    } else {
        b.to_vec()
    };
    let (ra, rb) = (a2.len(), b2.len());
    let (m, k) = (a2[ra - 2], a2[ra - 1]);
    let (kb, n) = (b2[rb - 2], b2[rb - 1]);
    if k != kb {
        return Err(format!(
            "inner dimensions differ: A {a:?} has {k} columns but B {b:?} has {kb} rows"
        ));
    }
    let (a_batch, b_batch) = (a2[..ra - 2].to_vec(), b2[..rb - 2].to_vec());
    let batch =
        broadcast_shapes(&[&a_batch, &b_batch]).map_err(|e| format!("MatMul batch dims: {e}"))?;
    let mut out = batch.clone();
    if a.len() > 1 {
        out.push(m);
    }
    if b.len() > 1 {
        out.push(n);
    }
    Ok(Geometry {
        a_batch,
        b_batch,
        batch,
        m,
        k,
        n,
        out,
    })
}

impl OpDef for MatMul {
    fn op_type(&self) -> &str {
        "MatMul"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let (a, b) = (fact(inputs, 0)?, fact(inputs, 1)?);
        if a.dtype != DType::F32 || b.dtype != DType::F32 {
            return Err(format!(
                "MatMul needs float32 inputs, got {} and {}",
                a.dtype, b.dtype
            ));
        }
        Ok(vec![OutFact::new(
            DType::F32,
            geometry(a.shape, b.shape)?.out,
        )])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let (a, b) = (input(inputs, 0)?, input(inputs, 1)?);
        let g = geometry(a.shape(), b.shape())?;
        let (ad, bd) = (a.as_f32()?, b.as_f32()?);
        let (m, k, n) = (g.m, g.k, g.n);
        // Batch-matrix offsets of A and B for every output batch index.
        let offs = broadcast_offsets(&[&g.a_batch, &g.b_batch], &g.batch);
        let mut y = Vec::with_capacity(g.out.iter().product());
        for (&ai, &bi) in offs[0].iter().zip(&offs[1]) {
            let (abase, bbase) = (ai * m * k, bi * k * n);
            for i in 0..m {
                for j in 0..n {
                    let dot: f32 = (0..k)
                        .map(|p| ad[abase + i * k + p] * bd[bbase + p * n + j])
                        .sum();
                    y.push(dot);
                }
            }
        }
        Ok(vec![Tensor::f32(g.out, y)])
    }

    fn macs(&self, inputs: &[Option<&[usize]>], _outputs: &[&[usize]]) -> u64 {
        let a = inputs.first().copied().flatten().unwrap_or(&[]);
        let b = inputs.get(1).copied().flatten().unwrap_or(&[]);
        match geometry(a, b) {
            Ok(g) => (g.batch.iter().product::<usize>() * g.m * g.k * g.n) as u64,
            Err(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_promotion_and_batch_broadcast() {
        let v = Tensor::f32(vec![2], vec![1.0, 2.0]);
        let y = MatMul.eval(&[Some(&v), Some(&v)]).unwrap();
        assert_eq!(y[0].shape(), &[] as &[usize]);
        assert_eq!(y[0].as_f32().unwrap(), &[5.0]);
        // [2, 1, 2] @ [2, 2] with B broadcast over the batch.
        let a = Tensor::f32(vec![2, 1, 2], vec![1.0, 0.0, 0.0, 1.0]);
        let b = Tensor::f32(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]);
        let y = MatMul.eval(&[Some(&a), Some(&b)]).unwrap();
        assert_eq!(y[0].shape(), &[2, 1, 2]);
        assert_eq!(y[0].as_f32().unwrap(), &[1.0, 2.0, 3.0, 4.0]);
        let y = MatMul.eval(&[Some(&b), Some(&v)]).unwrap();
        assert_eq!(y[0].shape(), &[2]);
        assert_eq!(y[0].as_f32().unwrap(), &[5.0, 11.0]);
        assert_eq!(MatMul.macs(&[Some(&[2, 1, 2]), Some(&[2, 2])], &[]), 8);
    }

    #[test]
    fn mismatches_are_reported() {
        let f = |shape| Fact {
            dtype: DType::F32,
            shape,
            value: None,
        };
        let err = MatMul
            .infer(&[Some(f(&[2, 3])), Some(f(&[2, 3]))])
            .unwrap_err();
        assert!(err.contains("inner dimensions"), "{err}");
        let err = MatMul
            .infer(&[Some(f(&[2, 2, 3])), Some(f(&[3, 3, 1]))])
            .unwrap_err();
        assert!(err.contains("batch"), "{err}");
    }
}
