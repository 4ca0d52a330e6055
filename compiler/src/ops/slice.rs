//! Slice: strided sub-range along some axes.

use runtime::Tensor;

use super::def::{Fact, OpDef, OutFact, ParseCtx};
use super::util::{
    fact, for_each_index, gather_tensor, input, int_values, normalize_axis, strides,
};

/// `data[starts:ends:steps]` along `axes` (inputs 1..=4: starts, ends, optional axes,
/// optional steps), clamped like numpy.
#[derive(Clone, Debug)]
pub struct Slice;

/// Parses Slice, promoting the pre-opset-10 attributes to inputs 1–3.
pub fn parse(ctx: &mut ParseCtx) -> Result<Slice, String> {
    // Before opset 10 starts/ends/axes were attributes and steps were always 1.
    for (name, index) in [("starts", 1), ("ends", 2), ("axes", 3)] {
        ctx.moved_to_input(name, 10, index)?;
    }
    if ctx.opset < 10 {
        let list = |name: &str| -> Result<Option<Tensor>, String> {
            Ok(ctx.ints(name)?.map(|v| Tensor::i64(vec![v.len()], v)))
        };
        let starts = list("starts")?.ok_or("attribute 'starts' is required before opset 10")?;
        let ends = list("ends")?.ok_or("attribute 'ends' is required before opset 10")?;
        let axes = list("axes")?;
        ctx.promote(1, starts);
        ctx.promote(2, ends);
        if let Some(a) = axes {
            ctx.promote(3, a);
        }
    }
    Ok(Slice)
}

/// Per input axis: first index, step and element count of the slice.
#[derive(Debug, PartialEq, Eq)]
pub struct Ranges {
    pub start: Vec<i64>,
    pub step: Vec<i64>,
    pub len: Vec<usize>,
}

fn ranges(
    shape: &[usize],
    starts: &[i64],
    ends: &[i64],
    axes: Option<&[i64]>,
    steps: Option<&[i64]>,
) -> Result<Ranges, String> {
    let n = starts.len();
    if ends.len() != n {
        return Err(format!("starts has {n} values but ends has {}", ends.len()));
    }
    let default_axes: Vec<i64> = (0..n as i64).collect();
    let axes = axes.unwrap_or(&default_axes);
    if axes.len() != n || steps.is_some_and(|s| s.len() != n) {
        return Err(format!(
            "starts, ends, axes and steps must have the same length ({n})"
        ));
    }
    let mut r = Ranges {
        start: vec![0; shape.len()],
        step: vec![1; shape.len()],
        len: shape.to_vec(),
    };
    let mut seen = vec![false; shape.len()];
    for i in 0..n {
        let a = normalize_axis(axes[i], shape.len())?;
        if std::mem::replace(&mut seen[a], true) {
            return Err(format!("axes {axes:?} repeat axis {a}"));
        }
        let step = steps.map_or(1, |s| s[i]);
        if step == 0 {
            return Err("steps must not be 0".into());
        }
        // i128 so that INT64_MAX/MIN sentinels plus the dimension cannot overflow.
        let d = shape[a] as i128;
        let resolve = |v: i64| {
            let v = v as i128;
            if v < 0 {
                v + d
            } else {
                v
            }
        };
        let (s, e) = (resolve(starts[i]), resolve(ends[i]));
        let (s, e) = if step > 0 || d == 0 {
            (s.clamp(0, d), e.clamp(0, d))
        } else {
            (s.clamp(0, d - 1), e.clamp(-1, d - 1))
        };
        let st = step as i128;
        let len = if step > 0 {
            if e > s {
                (e - s + st - 1) / st
            } else {
                0
            }
        } else if s > e && d > 0 {
            (s - e + (-st) - 1) / (-st)
        } else {
            0
        };
        r.start[a] = s.max(0) as i64;
        r.step[a] = step;
        r.len[a] = len as usize;
    }
    Ok(r)
}

/// The starts/ends/axes/steps inputs as integers (`None` for omitted ones).
fn params(vals: [Option<&Tensor>; 4]) -> Result<[Option<Vec<i64>>; 4], String> {
    let names = ["starts", "ends", "axes", "steps"];
    let mut out: [Option<Vec<i64>>; 4] = Default::default();
    for (k, v) in vals.iter().enumerate() {
        if let Some(t) = v {
            if t.rank() != 1 {
                return Err(format!(
                    "{} must be 1-D, got shape {:?}",
                    names[k],
                    t.shape()
                ));
            }
            out[k] = Some(int_values(t, names[k])?);
        }
    }
    Ok(out)
}

pub fn resolve(shape: &[usize], vals: [Option<&Tensor>; 4]) -> Result<Ranges, String> {
    let [starts, ends, axes, steps] = params(vals)?;
    ranges(
        shape,
        &starts.ok_or("missing required input starts")?,
        &ends.ok_or("missing required input ends")?,
        axes.as_deref(),
        steps.as_deref(),
    )
}

impl OpDef for Slice {
    fn op_type(&self) -> &str {
        "Slice"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let x = fact(inputs, 0)?;
        let names = ["starts", "ends", "axes", "steps"];
        let mut vals: [Option<&Tensor>; 4] = [None; 4];
        for (k, v) in vals.iter_mut().enumerate() {
            if let Some(f) = inputs.get(k + 1).copied().flatten() {
                *v = Some(f.value.ok_or_else(|| {
                    format!(
                        "{} (input {}) must be a constant known at compile time",
                        names[k],
                        k + 1
                    )
                })?);
            }
        }
        let r = resolve(x.shape, vals)?;
        Ok(vec![OutFact::new(x.dtype, r.len)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let x = input(inputs, 0)?;
        let get = |k: usize| inputs.get(k).copied().flatten();
        let r = resolve(x.shape(), [get(1), get(2), get(3), get(4)])?;
        let xs = strides(x.shape());
        let mut idx = Vec::new();
        for_each_index(&r.len, |o| {
            let off: i64 = (0..o.len())
                .map(|d| (r.start[d] + o[d] as i64 * r.step[d]) * xs[d] as i64)
                .sum();
            idx.push(off as usize);
        });
        Ok(vec![gather_tensor(x, r.len, &idx)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[i64]) -> Tensor {
        Tensor::i64(vec![v.len()], v.to_vec())
    }

    #[test]
    fn clamps_and_walks_backwards() {
        let r = ranges(&[10], &[i64::MAX], &[i64::MIN], None, Some(&[-1])).unwrap();
        assert_eq!((r.start[0], r.len[0]), (9, 10));
        let r = ranges(&[10], &[-3], &[100], None, Some(&[2])).unwrap();
        assert_eq!((r.start[0], r.len[0]), (7, 2));
        let r = ranges(&[10], &[20], &[30], None, None).unwrap();
        assert_eq!(r.len[0], 0);
        assert!(ranges(&[10], &[0], &[1], None, Some(&[0])).is_err());
        assert_eq!(
            ranges(&[0], &[-1], &[0], None, Some(&[-1])).unwrap().len[0],
            0
        );
        assert!(ranges(&[10], &[0], &[1], Some(&[1]), None).is_err());
    }

    #[test]
    fn slices_int64_shape_vectors() {
        let x = t(&[1, 3, 224, 224]);
        let y = Slice
            .eval(&[Some(&x), Some(&t(&[-2])), Some(&t(&[i64::MAX])), None, None])
            .unwrap();
        assert_eq!(y[0], t(&[224, 224]));
        let y = Slice
            .eval(&[
                Some(&x),
                Some(&t(&[-1])),
                Some(&t(&[-5])),
                Some(&t(&[0])),
                Some(&t(&[-2])),
            ])
            .unwrap();
        assert_eq!(y[0], t(&[224, 3]));
    }
}
