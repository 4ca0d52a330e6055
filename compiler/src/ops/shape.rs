//! Shape (with opset 15's `start`/`end` slice of the dims) and Size. Both are computed
//! from the input's static shape, so `infer` returns their values.

use runtime::{DType, Tensor};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{fact, input, shape_tensor};

/// The input's dims `[start, end)` as an int64 vector.
#[derive(Clone, Debug)]
pub struct Shape {
    pub start: i64,
    /// `None` = through the last dim.
    pub end: Option<i64>,
}

/// The input's element count as an int64 scalar.
#[derive(Clone, Debug)]
pub struct Size;

pub fn parse(ctx: &mut ParseCtx) -> Result<Shape, String> {
    if ctx.opset < 15 && (ctx.has_attr("start") || ctx.has_attr("end")) {
        return Err(format!(
            "attributes 'start'/'end' exist from opset 15 (model uses opset {})",
            ctx.opset
        ));
    }
    Ok(Shape {
        start: ctx.int_or("start", 0)?,
        end: ctx.int("end")?,
    })
}

pub fn parse_size(_ctx: &mut ParseCtx) -> Result<Size, String> {
    Ok(Size)
}

impl Shape {
    /// The selected dims: negative bounds count from the end, then both are clamped to
    /// `[0, rank]`; `start ≥ end` selects nothing.
    fn dims<'a>(&self, shape: &'a [usize]) -> &'a [usize] {
        let r = shape.len() as i64;
        let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
        let (s, e) = (clamp(self.start), clamp(self.end.unwrap_or(r)));
        shape.get(s..e.max(s)).unwrap_or(&[])
    }
}

impl OpDef for Shape {
    fn op_type(&self) -> &str {
        "Shape"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let x = fact(inputs, 0)?;
        let v = shape_tensor(self.dims(x.shape));
        Ok(vec![OutFact {
            dtype: DType::I64,
            shape: v.shape().to_vec(),
            value: Some(v),
        }])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        Ok(vec![shape_tensor(self.dims(input(inputs, 0)?.shape()))])
    }
}

impl OpDef for Size {
    fn op_type(&self) -> &str {
        "Size"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let n = fact(inputs, 0)?.shape.iter().product::<usize>();
        Ok(vec![OutFact {
            dtype: DType::I64,
            shape: vec![],
            value: Some(Tensor::i64(vec![], vec![n as i64])),
        }])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let n = input(inputs, 0)?.len();
        Ok(vec![Tensor::i64(vec![], vec![n as i64])])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_end_are_clamped() {
        let s = |start, end| Shape { start, end }.dims(&[2, 3, 4]).to_vec();
        assert_eq!(s(0, None), vec![2, 3, 4]);
        assert_eq!(s(-1, None), vec![4]);
        assert_eq!(s(-10, Some(10)), vec![2, 3, 4]);
        assert_eq!(s(1, Some(-1)), vec![3]);
        assert_eq!(s(2, Some(1)), Vec::<usize>::new());
    }

    #[test]
    fn size_is_known_at_inference() {
        let f = Fact {
            dtype: DType::F32,
            shape: &[2, 3],
            value: None,
        };
        let out = Size.infer(&[Some(f)]).unwrap();
        assert_eq!(out[0].value.as_ref().unwrap().as_i64().unwrap(), &[6]);
    }
}
