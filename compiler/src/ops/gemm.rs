//! Gemm: `Y = alpha · A' · B' + beta · C` with `A'`, `B'` optionally transposed 2-D
//! matrices and C (optional) broadcast unidirectionally to `(M, N)`.

use runtime::{DType, Tensor};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{broadcast_offsets, broadcast_shapes, fact, input};

/// General matrix multiply with ONNX's Gemm attributes.
#[derive(Clone, Debug)]
pub struct Gemm {
    pub alpha: f32,
    pub beta: f32,
    pub trans_a: bool,
    pub trans_b: bool,
    /// Before opset 7, C must already be `(M, N)` unless `broadcast=1`.
    pub exact_c: bool,
}

pub fn parse(ctx: &mut ParseCtx) -> Result<Gemm, String> {
    let alpha = ctx.float_or("alpha", 1.0)?;
    let beta = ctx.float_or("beta", 1.0)?;
    for (name, v) in [("alpha", alpha), ("beta", beta)] {
        if !v.is_finite() {
            return Err(format!("attribute '{name}' must be finite, got {v}"));
        }
    }
    let exact_c = ctx.opset < 7 && !ctx.flag("broadcast", false)?;
    Ok(Gemm {
        alpha,
        beta,
        trans_a: ctx.flag("transA", false)?,
        trans_b: ctx.flag("transB", false)?,
        exact_c,
    })
}

impl Gemm {
    /// `(M, K, N)` from the shapes of A and B.
    fn dims(&self, a: &[usize], b: &[usize]) -> Result<(usize, usize, usize), String> {
        let (&[a0, a1], &[b0, b1]) = (a, b) else {
            return Err(format!("A and B must be 2-D, got {a:?} and {b:?}"));
        };
        let (m, k) = if self.trans_a { (a1, a0) } else { (a0, a1) };
        let (kb, n) = if self.trans_b { (b1, b0) } else { (b0, b1) };
        if k != kb {
            return Err(format!(
                "inner dimensions differ: A {a:?} (transA={}) and B {b:?} (transB={})",
                self.trans_a as u8, self.trans_b as u8
            ));
        }
        Ok((m, k, n))
    }

    fn check_c(&self, c: &[usize], m: usize, n: usize) -> Result<(), String> {
        let ok = if self.exact_c {
            c == [m, n]
        } else {
            broadcast_shapes(&[c, &[m, n]]).is_ok_and(|s| s == [m, n])
        };
        if !ok {
            return Err(format!("C of shape {c:?} does not broadcast to [{m}, {n}]"));
        }
        Ok(())
    }
}

impl OpDef for Gemm {
    fn op_type(&self) -> &str {
        "Gemm"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let (a, b) = (fact(inputs, 0)?, fact(inputs, 1)?);
        if a.dtype != DType::F32 || b.dtype != DType::F32 {
            return Err(format!(
                "Gemm needs float32 A and B, got {} and {}",
                a.dtype, b.dtype
            ));
        }
        let (m, _, n) = self.dims(a.shape, b.shape)?;
        if let Some(c) = inputs.get(2).copied().flatten() {
            if c.dtype != DType::F32 {
                return Err(format!("C must be float32, got {}", c.dtype));
            }
            self.check_c(c.shape, m, n)?;
        }
        Ok(vec![OutFact::new(DType::F32, vec![m, n])])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let (a, b) = (input(inputs, 0)?, input(inputs, 1)?);
        let (m, k, n) = self.dims(a.shape(), b.shape())?;
        let (ad, bd) = (a.as_f32()?, b.as_f32()?);
        // Element (i, p) of A' and (p, j) of B' in the stored row-major layouts.
        let a_at = |i: usize, p: usize| {
            if self.trans_a {
                ad[p * m + i]
            } else {
                ad[i * k + p]
            }
        };
        let b_at = |p: usize, j: usize| {
            if self.trans_b {
                bd[j * k + p]
            } else {
                bd[p * n + j]
            }
        };
        let mut y = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let dot: f32 = (0..k).map(|p| a_at(i, p) * b_at(p, j)).sum();
                y[i * n + j] = self.alpha * dot;
            }
        }
        if let Some(c) = inputs.get(2).copied().flatten() {
            self.check_c(c.shape(), m, n)?;
            let cd = c.as_f32()?;
            let offs = broadcast_offsets(&[c.shape()], &[m, n]);
            for (v, &o) in y.iter_mut().zip(&offs[0]) {
                *v += self.beta * cd[o];
            }
        }
        Ok(vec![Tensor::f32(vec![m, n], y)])
    }

    fn macs(&self, inputs: &[Option<&[usize]>], _outputs: &[&[usize]]) -> u64 {
        let a = inputs.first().copied().flatten().unwrap_or(&[]);
        let b = inputs.get(1).copied().flatten().unwrap_or(&[]);
        match self.dims(a, b) {
            Ok((m, k, n)) => (m * k * n) as u64,
            Err(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gemm(trans_a: bool, trans_b: bool, exact_c: bool) -> Gemm {
        Gemm {
            alpha: 2.0,
            beta: 0.5,
            trans_a,
            trans_b,
            exact_c,
        }
    }

    #[test]
    fn transposes_and_bias() {
        // A' = [[1, 2], [3, 4]], B' = [[1, 0], [0, 1]], C = [10, 20] per column.
        let at = Tensor::f32(vec![2, 2], vec![1.0, 3.0, 2.0, 4.0]);
        let b = Tensor::f32(vec![2, 2], vec![1.0, 0.0, 0.0, 1.0]);
        let c = Tensor::f32(vec![2], vec![10.0, 20.0]);
        let y = gemm(true, true, false)
            .eval(&[Some(&at), Some(&b), Some(&c)])
            .unwrap();
        assert_eq!(y[0].as_f32().unwrap(), &[7.0, 14.0, 11.0, 18.0]);
        assert_eq!(
            gemm(true, false, false).macs(&[Some(&[3, 2]), Some(&[3, 5])], &[]),
            2 * 3 * 5
        );
    }

    #[test]
    fn legacy_c_without_broadcast_must_be_full() {
        let f = |shape| Fact {
            dtype: DType::F32,
            shape,
            value: None,
        };
        let args = [Some(f(&[2, 3])), Some(f(&[3, 4])), Some(f(&[4]))];
        assert!(gemm(false, false, false).infer(&args).is_ok());
        let err = gemm(false, false, true).infer(&args).unwrap_err();
        assert!(err.contains("does not broadcast"), "{err}");
        let bad = [Some(f(&[2, 3])), Some(f(&[2, 4])), None];
        assert!(gemm(false, false, false)
            .infer(&bad)
            .unwrap_err()
            .contains("inner dimensions"));
    }
}
