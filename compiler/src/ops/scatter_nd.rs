//! ScatterND: a copy of `data` with slices replaced (or combined by `reduction`) by `updates`
//! at the index tuples in `indices`. Exporters emit it for slice assignment
//! (`mask[a:b, c:d] = v`, as in Swin's shifted-window mask); such graphs usually fold it away.

use runtime::{DType, Tensor, TensorData};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{fact, input, int_values};

/// How an update combines with the element it lands on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScatterReduction {
    None,
    Add,
    Mul,
    Max,
    Min,
}

#[derive(Clone, Debug)]
pub struct ScatterNd {
    pub reduction: ScatterReduction,
}

pub fn parse(ctx: &mut ParseCtx) -> Result<ScatterNd, String> {
    let reduction = match ctx.string("reduction")?.as_deref().unwrap_or("none") {
        "none" => ScatterReduction::None,
        "add" => ScatterReduction::Add,
        "mul" => ScatterReduction::Mul,
        "max" => ScatterReduction::Max,
        "min" => ScatterReduction::Min,
        other => return Err(format!("unknown reduction '{other}'")),
    };
    Ok(ScatterNd { reduction })
}

/// Elements per update slice: index tuples address the first `k` axes of `data`; each update
/// is a slice of the remaining axes.
fn slice_len(data: &[usize], indices: &[usize], updates: &[usize]) -> Result<usize, String> {
    let k = *indices
        .last()
        .ok_or("ScatterND's indices must have rank >= 1")?;
    if k > data.len() {
        return Err(format!(
            "index tuples of length {k} for data of rank {}",
            data.len()
        ));
    }
    let want: Vec<usize> = indices[..indices.len() - 1]
        .iter()
        .chain(&data[k..])
        .copied()
        .collect();
    if updates != want.as_slice() {
        return Err(format!(
            "updates of shape {:?}, expected {want:?} (indices {indices:?}, data {data:?})",
            updates
        ));
    }
    Ok(data[k..].iter().product())
}

/// `(offsets, slice)`: the element offset in `data` of the slice each index tuple selects
/// (negative indices count from the end; out of range is an error naming the tuple) and the
/// elements per slice.
pub fn plan(
    data: &[usize],
    indices: &Tensor,
    updates: &[usize],
) -> Result<(Vec<usize>, usize), String> {
    let slice = slice_len(data, indices.shape(), updates)?;
    Ok((slice_offsets(data, indices)?, slice))
}

fn slice_offsets(data: &[usize], indices: &Tensor) -> Result<Vec<usize>, String> {
    let (tuples, k) = match indices.shape() {
        [lead @ .., k] => (lead.iter().product::<usize>(), *k),
        [] => return Err("indices must have rank >= 1".into()),
    };
    let idx = int_values(indices, "indices")?;
    let strides = super::util::strides(data);
    (0..tuples)
        .map(|n| {
            let tuple = &idx[n * k..(n + 1) * k];
            let mut off = 0;
            for (axis, &i) in tuple.iter().enumerate() {
                let d = data[axis] as i64;
                let j = if i < 0 { i + d } else { i };
                if !(0..d).contains(&j) {
                    return Err(format!(
                        "index {i} out of range for axis {axis} of size {d} (tuple {tuple:?})"
                    ));
                }
                off += j as usize * strides[axis];
            }
            Ok(off)
        })
        .collect()
}

impl ScatterNd {
    fn apply<T: Copy>(
        &self,
        y: &mut [T],
        offsets: &[usize],
        slice: usize,
        u: &[T],
        f: impl Fn(T, T) -> T,
    ) {
        for (n, &off) in offsets.iter().enumerate() {
            for e in 0..slice {
                let (dst, src) = (off + e, u[n * slice + e]);
                y[dst] = match self.reduction {
                    ScatterReduction::None => src,
                    _ => f(y[dst], src),
                };
            }
        }
    }
}

impl OpDef for ScatterNd {
    fn op_type(&self) -> &str {
        "ScatterND"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let (data, indices, updates) = (fact(inputs, 0)?, fact(inputs, 1)?, fact(inputs, 2)?);
        if indices.dtype != DType::I64 {
            return Err(format!("indices must be int64, got {}", indices.dtype));
        }
        if updates.dtype != data.dtype {
            return Err(format!(
                "updates are {} but data is {}",
                updates.dtype, data.dtype
            ));
        }
        if self.reduction != ScatterReduction::None
            && !matches!(
                data.dtype,
                DType::F32 | DType::F64 | DType::I32 | DType::I64
            )
        {
            return Err(format!(
                "reduction {:?} does not support {} data",
                self.reduction, data.dtype
            ));
        }
        slice_len(data.shape, indices.shape, updates.shape)?;
        Ok(vec![OutFact::new(data.dtype, data.shape.to_vec())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let (data, indices, updates) = (input(inputs, 0)?, input(inputs, 1)?, input(inputs, 2)?);
        let (offsets, slice) = plan(data.shape(), indices, updates.shape())?;
        let r = self.reduction;
        // Integers wrap, as in the binary ops and the kernel.
        macro_rules! num {
            ($y:expr, $u:expr, $add:expr, $mul:expr) => {{
                let mut y = $y.clone();
                self.apply(&mut y, &offsets, slice, $u, |a, b| match r {
                    ScatterReduction::Add => $add(a, b),
                    ScatterReduction::Mul => $mul(a, b),
                    ScatterReduction::Max if b > a => b,
                    ScatterReduction::Min if b < a => b,
                    ScatterReduction::Max | ScatterReduction::Min => a,
                    ScatterReduction::None => b,
                });
                y
            }};
        }
        macro_rules! replace {
            ($y:expr, $u:expr) => {{
                let mut y = $y.clone();
                self.apply(&mut y, &offsets, slice, $u, |_, b| b);
                y
            }};
        }
        let none = r == ScatterReduction::None;
        let (fadd, fmul) = (|a, b| a + b, |a, b| a * b);
        let (dadd, dmul) = (|a, b| a + b, |a, b| a * b);
        let out = match (data.data(), updates.data()) {
            (TensorData::F32(y), TensorData::F32(u)) => TensorData::F32(num!(y, u, fadd, fmul)),
            (TensorData::F64(y), TensorData::F64(u)) => TensorData::F64(num!(y, u, dadd, dmul)),
            (TensorData::I32(y), TensorData::I32(u)) => {
                TensorData::I32(num!(y, u, i32::wrapping_add, i32::wrapping_mul))
            }
            (TensorData::I64(y), TensorData::I64(u)) => {
                TensorData::I64(num!(y, u, i64::wrapping_add, i64::wrapping_mul))
            }
            (TensorData::Bool(y), TensorData::Bool(u)) if none => TensorData::Bool(replace!(y, u)),
            (TensorData::U8(y), TensorData::U8(u)) if none => TensorData::U8(replace!(y, u)),
            (d, _) => return Err(format!("ScatterND does not support {} data", d.dtype())),
        };
        Ok(vec![Tensor::new(data.shape().to_vec(), out)?])
    }
}
