//! Range: `start, start + delta, …` while short of `limit`, from three constant scalars.
//! The length `max(ceil((limit - start) / delta), 0)` depends on the values, so they must be
//! known at compile time.

use runtime::{DType, Tensor, TensorData};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{const_input, input};

/// A 1-D sequence of the scalar inputs' type.
#[derive(Clone, Debug)]
pub struct Range;

pub fn parse(_ctx: &mut ParseCtx) -> Result<Range, String> {
    Ok(Range)
}

/// The sequence for `start`, `limit`, `delta` (all one scalar type).
fn sequence(s: &Tensor, l: &Tensor, d: &Tensor) -> Result<Tensor, String> {
    for (t, name) in [(s, "start"), (l, "limit"), (d, "delta")] {
        if t.len() != 1 {
            return Err(format!("{name} must be a scalar, got {} elements", t.len()));
        }
        if t.dtype() != s.dtype() {
            return Err(format!(
                "{name} is {} but start is {}",
                t.dtype(),
                s.dtype()
            ));
        }
    }
    let max = runtime::limits::MAX_ELEMENTS;
    let count = |n: f64| -> Result<usize, String> {
        let n = n.ceil().max(0.0);
        if !n.is_finite() || n > max as f64 {
            return Err(format!("Range would have {n} elements, more than {max}"));
        }
        Ok(n as usize)
    };
    let data = match (s.data(), l.data(), d.data()) {
        (TensorData::F32(a), TensorData::F32(b), TensorData::F32(c)) => {
            let (a, b, c) = (a[0], b[0], c[0]);
            if c == 0.0 {
                return Err("delta must not be 0".into());
            }
            let n = count(((b - a) / c) as f64)?;
            TensorData::F32((0..n).map(|i| a + i as f32 * c).collect())
        }
        (TensorData::F64(a), TensorData::F64(b), TensorData::F64(c)) => {
            let (a, b, c) = (a[0], b[0], c[0]);
            if c == 0.0 {
                return Err("delta must not be 0".into());
            }
            let n = count((b - a) / c)?;
            TensorData::F64((0..n).map(|i| a + i as f64 * c).collect())
        }
        _ if matches!(s.dtype(), DType::I32 | DType::I64) => {
            let (a, b, c) = (s.to_i64_vec()?[0], l.to_i64_vec()?[0], d.to_i64_vec()?[0]);
            if c == 0 {
                return Err("delta must not be 0".into());
            }
            let n = count((b as f64 - a as f64) / c as f64)?;
            let v = (0..n as i64).map(|i| a.wrapping_add(i.wrapping_mul(c)));
            if s.dtype() == DType::I32 {
                TensorData::I32(v.map(|x| x as i32).collect())
            } else {
                TensorData::I64(v.collect())
            }
        }
        _ => return Err(format!("Range does not support {} inputs", s.dtype())),
    };
    let n = data.len();
    Tensor::new(vec![n], data)
}

impl OpDef for Range {
    fn op_type(&self) -> &str {
        "Range"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let s = const_input(inputs, 0, "Range's start")?;
        let l = const_input(inputs, 1, "Range's limit")?;
        let d = const_input(inputs, 2, "Range's delta")?;
        let t = sequence(s, l, d)?;
        Ok(vec![OutFact {
            dtype: t.dtype(),
            shape: t.shape().to_vec(),
            value: Some(t),
        }])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        Ok(vec![sequence(
            input(inputs, 0)?,
            input(inputs, 1)?,
            input(inputs, 2)?,
        )?])
    }
}
