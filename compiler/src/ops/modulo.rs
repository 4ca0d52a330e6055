//! Mod with numpy broadcasting. Integers: `fmod = 0` gives the remainder with the divisor's
//! sign (Python's `%`), `fmod = 1` the truncated remainder (C's `%`). Floats require
//! `fmod = 1` (C's `fmod`), as the ONNX spec says.

use runtime::{DType, Tensor, TensorData};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{broadcast_offsets, broadcast_shapes, fact, input};

/// `C = A mod B` element-wise.
#[derive(Clone, Debug)]
pub struct Mod {
    /// Truncated (C) remainder instead of the divisor-signed one.
    pub fmod: bool,
}

pub fn parse(ctx: &mut ParseCtx) -> Result<Mod, String> {
    Ok(Mod {
        fmod: ctx.flag("fmod", false)?,
    })
}

/// Integer remainder; `None` for a zero divisor.
pub fn int_mod(a: i64, b: i64, fmod: bool) -> Option<i64> {
    if b == 0 {
        return None;
    }
    let r = a.wrapping_rem(b);
    Some(if !fmod && r != 0 && ((r < 0) != (b < 0)) {
        r + b
    } else {
        r
    })
}

impl OpDef for Mod {
    fn op_type(&self) -> &str {
        "Mod"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let (a, b) = (fact(inputs, 0)?, fact(inputs, 1)?);
        if a.dtype != b.dtype {
            return Err(format!(
                "inputs must have the same type, got {} and {}",
                a.dtype, b.dtype
            ));
        }
        match a.dtype {
            DType::F32 | DType::F64 if !self.fmod => {
                return Err("Mod on floats requires fmod=1".into())
            }
            DType::F32 | DType::F64 | DType::I32 | DType::I64 | DType::U8 => {}
            d => return Err(format!("Mod does not support {d} inputs")),
        }
        let shape = broadcast_shapes(&[a.shape, b.shape])?;
        Ok(vec![OutFact::new(a.dtype, shape)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let (a, b) = (input(inputs, 0)?, input(inputs, 1)?);
        let shape = broadcast_shapes(&[a.shape(), b.shape()])?;
        let o = broadcast_offsets(&[a.shape(), b.shape()], &shape);
        let pairs = || o[0].iter().zip(&o[1]);
        let fmod = self.fmod;
        let int = |x: i64, y: i64| int_mod(x, y, fmod).ok_or("integer modulo by zero".to_string());
        let data = match (a.data(), b.data()) {
            (TensorData::F32(x), TensorData::F32(y)) if fmod => {
                TensorData::F32(pairs().map(|(&i, &j)| x[i] % y[j]).collect())
            }
            (TensorData::F64(x), TensorData::F64(y)) if fmod => {
                TensorData::F64(pairs().map(|(&i, &j)| x[i] % y[j]).collect())
            }
            (TensorData::I64(x), TensorData::I64(y)) => TensorData::I64(
                pairs()
                    .map(|(&i, &j)| int(x[i], y[j]))
                    .collect::<Result<_, _>>()?,
            ),
            (TensorData::I32(x), TensorData::I32(y)) => TensorData::I32(
                pairs()
                    .map(|(&i, &j)| int(x[i] as i64, y[j] as i64).map(|v| v as i32))
                    .collect::<Result<_, _>>()?,
            ),
            (TensorData::U8(x), TensorData::U8(y)) => TensorData::U8(
                pairs()
                    .map(|(&i, &j)| int(x[i] as i64, y[j] as i64).map(|v| v as u8))
                    .collect::<Result<_, _>>()?,
            ),
            (x, y) => {
                return Err(format!(
                    "Mod does not support {} and {} inputs with fmod={}",
                    x.dtype(),
                    y.dtype(),
                    fmod as u8
                ))
            }
        };
        Ok(vec![Tensor::new(shape, data)?])
    }
}
