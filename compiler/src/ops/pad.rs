//! Pad: grow (or, with negative pads, crop) every axis in constant, reflect, edge or wrap
//! mode.

use runtime::{DType, Tensor, TensorData};

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{
    concat_data, fact, for_each_index, input, int_values, normalize_axis, strides, take,
};

/// How positions outside the input are filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PadMode {
    Constant,
    Reflect,
    Edge,
    Wrap,
}

/// Pads `data` by int64 input 1 (`[begin…, end…]` for all axes or for `axes`, input 3),
/// filling with scalar input 2 (default 0) in constant mode.
#[derive(Clone, Debug)]
pub struct Pad {
    pub mode: PadMode,
    /// The fill value came from the pre-opset-11 float `value` attribute and is converted
    /// to the data type (newer opsets require the types to match).
    pub legacy_value: bool,
}

/// Parses Pad, promoting the pre-opset-11 `pads`/`value` attributes to inputs.
pub fn parse(ctx: &mut ParseCtx) -> Result<Pad, String> {
    let mode = match ctx.string("mode")?.as_deref() {
        None | Some("constant") => PadMode::Constant,
        Some("reflect") => PadMode::Reflect,
        Some("edge") => PadMode::Edge,
        Some("wrap") if ctx.opset >= 19 => PadMode::Wrap,
        Some(m) => {
            return Err(format!(
                "attribute 'mode' '{m}' is not supported at opset {} (constant, reflect, edge{})",
                ctx.opset,
                if ctx.opset >= 19 { ", wrap" } else { "" }
            ))
        }
    };
    let mut legacy_value = false;
    // Before opset 11 pads and value were attributes (opset 1 spelled pads `paddings`).
    ctx.moved_to_input("pads", 11, 1)?;
    ctx.moved_to_input("value", 11, 2)?;
    if ctx.opset < 11 {
        let name = if ctx.opset < 2 { "paddings" } else { "pads" };
        let pads = ctx
            .ints(name)?
            .ok_or_else(|| format!("attribute '{name}' is required before opset 11"))?;
        ctx.promote(1, Tensor::i64(vec![pads.len()], pads));
        let value = ctx.float_or("value", 0.0)?;
        ctx.promote(2, Tensor::f32(vec![], vec![value]));
        legacy_value = true;
    }
    Ok(Pad { mode, legacy_value })
}

/// One element of `dtype` holding `v` (converted as a numpy cast would).
fn scalar(dtype: DType, v: f64) -> TensorData {
    match dtype {
        DType::F32 => TensorData::F32(vec![v as f32]),
        DType::F64 => TensorData::F64(vec![v]),
        DType::I64 => TensorData::I64(vec![v as i64]),
        DType::I32 => TensorData::I32(vec![v as i32]),
        DType::U8 => TensorData::U8(vec![v as u8]),
        DType::Bool => TensorData::Bool(vec![v != 0.0]),
    }
}

/// Per-axis `(begin, end)` pads for a tensor of `rank` from the pads and axes values.
fn axis_pads(rank: usize, pads: &[i64], axes: Option<&[i64]>) -> Result<Vec<(i64, i64)>, String> {
    let default_axes: Vec<i64> = (0..rank as i64).collect();
    let axes = axes.unwrap_or(&default_axes);
    if pads.len() != 2 * axes.len() {
        return Err(format!(
            "pads has {} values but {} axes need {}",
            pads.len(),
            axes.len(),
            2 * axes.len()
        ));
    }
    let mut out = vec![(0, 0); rank];
    let mut seen = vec![false; rank];
    for (i, &a) in axes.iter().enumerate() {
        let a = normalize_axis(a, rank)?;
        if std::mem::replace(&mut seen[a], true) {
            return Err(format!("axes {axes:?} repeat axis {a}"));
        }
        out[a] = (pads[i], pads[i + axes.len()]);
    }
    Ok(out)
}

impl Pad {
    /// Per axis: `(first kept input coordinate, kept count, begin fill, end fill)`.
    /// Negative pads crop first; the other pads then extend the cropped range. Costs
    /// nothing proportional to the pads, so huge pads are refused before anything is
    /// allocated for them.
    fn extents(
        &self,
        shape: &[usize],
        pads: &[(i64, i64)],
    ) -> Result<Vec<(i64, i64, i64, i64)>, String> {
        let max = runtime::limits::MAX_ELEMENTS;
        let mut out = Vec::with_capacity(shape.len());
        for (a, (&d, &(b, e))) in shape.iter().zip(pads).enumerate() {
            if let Some(v) = [b, e].into_iter().find(|v| v.unsigned_abs() > max as u64) {
                return Err(format!(
                    "pads value {v} on axis {a} is beyond the limit of {max} elements"
                ));
            }
            let d = d as i64;
            let lo = (-b).max(0);
            let hi = d - (-e).max(0);
            let kept = hi - lo;
            if kept < 0 {
                return Err(format!(
                    "pads ({b}, {e}) crop more than the {d} elements of axis {a}"
                ));
            }
            let (gb, ge) = (b.max(0), e.max(0));
            if kept == 0 && (gb > 0 || ge > 0) && self.mode != PadMode::Constant {
                return Err(format!(
                    "{:?} padding needs a non-empty axis {a}",
                    self.mode
                ));
            }
            out.push((lo, kept, gb, ge));
        }
        Ok(out)
    }

    /// For each axis, the input coordinate each output coordinate reads (`None`: fill).
    /// Only for a shape that passed inference (its output dims are within the limits).
    fn maps(
        &self,
        shape: &[usize],
        pads: &[(i64, i64)],
    ) -> Result<Vec<Vec<Option<usize>>>, String> {
        let mut maps = Vec::with_capacity(shape.len());
        for (lo, kept, gb, ge) in self.extents(shape, pads)? {
            let len = kept + gb + ge;
            let map = (0..len)
                .map(|o| {
                    // Position relative to the kept range.
                    let j = o - gb;
                    let j = if (0..kept).contains(&j) {
                        j
                    } else {
                        match self.mode {
                            PadMode::Constant => return None,
                            PadMode::Edge => j.clamp(0, kept - 1),
                            PadMode::Wrap => j.rem_euclid(kept),
                            PadMode::Reflect if kept == 1 => 0,
                            PadMode::Reflect => {
                                let p = 2 * (kept - 1);
                                let m = j.rem_euclid(p);
                                if m < kept {
                                    m
                                } else {
                                    p - m
                                }
                            }
                        }
                    };
                    Some((lo + j) as usize)
                })
                .collect();
            maps.push(map);
        }
        Ok(maps)
    }

    pub fn pads_of(
        rank: usize,
        pads: &Tensor,
        axes: Option<&Tensor>,
    ) -> Result<Vec<(i64, i64)>, String> {
        if pads.rank() != 1 {
            return Err(format!("pads must be 1-D, got shape {:?}", pads.shape()));
        }
        let axes = axes.map(|t| int_values(t, "axes")).transpose()?;
        axis_pads(rank, &int_values(pads, "pads")?, axes.as_deref())
    }
}

impl OpDef for Pad {
    fn op_type(&self) -> &str {
        "Pad"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let x = fact(inputs, 0)?;
        let pads = super::util::const_input(inputs, 1, "pads")?;
        let axes = match inputs.get(3).copied().flatten() {
            None => None,
            Some(f) => Some(
                f.value
                    .ok_or("axes (input 3) must be a constant known at compile time")?,
            ),
        };
        if let Some(v) = inputs.get(2).copied().flatten() {
            if !v.shape.iter().all(|&d| d == 1) {
                return Err(format!(
                    "constant_value must be a scalar, got shape {:?}",
                    v.shape
                ));
            }
            if v.dtype != x.dtype && !self.legacy_value {
                return Err(format!(
                    "constant_value is {} but data is {}",
                    v.dtype, x.dtype
                ));
            }
        }
        let p = Pad::pads_of(x.shape.len(), pads, axes)?;
        let shape = self
            .extents(x.shape, &p)?
            .iter()
            .map(|&(_, kept, gb, ge)| (kept + gb + ge) as usize)
            .collect();
        Ok(vec![OutFact::new(x.dtype, shape)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let x = input(inputs, 0)?;
        let get = |k: usize| inputs.get(k).copied().flatten();
        let p = Pad::pads_of(x.rank(), input(inputs, 1)?, get(3))?;
        let maps = self.maps(x.shape(), &p)?;
        let fill = match get(2) {
            Some(v) if v.dtype() == x.dtype() => v.data().clone(),
            Some(v) => scalar(x.dtype(), v.to_f64_vec().first().copied().unwrap_or(0.0)),
            None => scalar(x.dtype(), 0.0),
        };
        if fill.len() != 1 {
            return Err(format!(
                "constant_value must hold one element, got {}",
                fill.len()
            ));
        }
        // The fill value sits just past the input's elements.
        let ext = concat_data(&[x.data(), &fill])?;
        let shape: Vec<usize> = maps.iter().map(Vec::len).collect();
        let xs = strides(x.shape());
        let mut idx = Vec::new();
        for_each_index(&shape, |o| {
            let mut off = Some(0);
            for (d, &i) in o.iter().enumerate() {
                off = off.and_then(|acc| maps[d][i].map(|s| acc + s * xs[d]));
            }
            idx.push(off.unwrap_or(x.len()));
        });
        Ok(vec![Tensor::new(shape, take(&ext, &idx)?)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mode: PadMode, x: &[i64], pads: &[i64]) -> Vec<i64> {
        let x = Tensor::i64(vec![x.len()], x.to_vec());
        let p = Tensor::i64(vec![pads.len()], pads.to_vec());
        let v = Tensor::i64(vec![], vec![9]);
        let y = Pad {
            mode,
            legacy_value: false,
        }
        .eval(&[Some(&x), Some(&p), Some(&v)])
        .unwrap();
        y[0].as_i64().unwrap().to_vec()
    }

    #[test]
    fn modes_on_int64_like_numpy() {
        assert_eq!(
            run(PadMode::Constant, &[1, 2, 3], &[1, 2]),
            [9, 1, 2, 3, 9, 9]
        );
        assert_eq!(
            run(PadMode::Reflect, &[1, 2, 3], &[2, 3]),
            [3, 2, 1, 2, 3, 2, 1, 2]
        );
        assert_eq!(run(PadMode::Edge, &[1, 2, 3], &[2, 1]), [1, 1, 1, 2, 3, 3]);
        assert_eq!(
            run(PadMode::Wrap, &[1, 2, 3], &[2, 4]),
            [2, 3, 1, 2, 3, 1, 2, 3, 1]
        );
    }

    #[test]
    fn negative_pads_crop_before_padding() {
        assert_eq!(
            run(PadMode::Constant, &[1, 2, 3, 4], &[-1, 1]),
            [2, 3, 4, 9]
        );
        assert_eq!(run(PadMode::Wrap, &[1, 2, 3, 4], &[-1, 2]), [2, 3, 4, 2, 3]);
        assert_eq!(run(PadMode::Edge, &[1, 2, 3, 4], &[1, -3]), [1, 1]);
    }

    #[test]
    fn legacy_float_value_is_converted_and_axes_select() {
        let x = Tensor::i64(vec![1, 2], vec![1, 2]);
        let p = Tensor::i64(vec![2], vec![1, 0]);
        let v = Tensor::f32(vec![], vec![5.0]);
        let axes = Tensor::i64(vec![1], vec![-1]);
        let pad = Pad {
            mode: PadMode::Constant,
            legacy_value: true,
        };
        let y = pad
            .eval(&[Some(&x), Some(&p), Some(&v), Some(&axes)])
            .unwrap();
        assert_eq!(y[0], Tensor::i64(vec![1, 3], vec![5, 1, 2]));
    }
}
