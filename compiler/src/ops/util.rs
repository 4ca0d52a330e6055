//! Helpers shared by op implementations: input access, axes, broadcasting, strides.

use runtime::{Tensor, TensorData};

use super::def::Fact;

/// Input `i`, required.
pub fn fact<'a>(inputs: &[Option<Fact<'a>>], i: usize) -> Result<Fact<'a>, String> {
    inputs
        .get(i)
        .copied()
        .flatten()
        .ok_or_else(|| format!("missing required input {i}"))
}

/// Input tensor `i`, required.
pub fn input<'a>(inputs: &[Option<&'a Tensor>], i: usize) -> Result<&'a Tensor, String> {
    inputs
        .get(i)
        .copied()
        .flatten()
        .ok_or_else(|| format!("missing required input {i}"))
}

/// The compile-time value of input `i`, required (e.g. Reshape's shape).
pub fn const_input<'a>(
    inputs: &[Option<Fact<'a>>],
    i: usize,
    what: &str,
) -> Result<&'a Tensor, String> {
    fact(inputs, i)?
        .value
        .ok_or_else(|| format!("{what} (input {i}) must be a constant known at compile time"))
}

/// Resolves a possibly negative axis against `rank`.
pub fn normalize_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(format!("axis {axis} is out of range for rank {rank}"));
    }
    Ok(a as usize)
}

/// Row-major strides of `shape`.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Numpy (multidirectional) broadcast of several shapes.
pub fn broadcast_shapes(shapes: &[&[usize]]) -> Result<Vec<usize>, String> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; rank];
    for s in shapes {
        let off = rank - s.len();
        for (i, &d) in s.iter().enumerate() {
            let o = &mut out[off + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                let all: Vec<String> = shapes
                    .iter()
                    .map(|s| runtime::tensor::fmt_shape(s))
                    .collect();
                return Err(format!(
                    "shapes {} cannot be broadcast together",
                    all.join(" and ")
                ));
            }
        }
    }
    Ok(out)
}

/// Strides for reading an input of `shape` while iterating over the broadcast `out` shape:
/// broadcast dimensions get stride 0.
pub fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let st = strides(shape);
    let off = out.len() - shape.len();
    (0..out.len())
        .map(|i| {
            if i < off || shape[i - off] == 1 {
                0
            } else {
                st[i - off]
            }
        })
        .collect()
}

/// For every element of `out` in row-major order, the linear offsets into each input.
pub fn broadcast_offsets(inputs: &[&[usize]], out: &[usize]) -> Vec<Vec<usize>> {
    let n: usize = out.iter().product();
    let bstrides: Vec<Vec<usize>> = inputs.iter().map(|s| broadcast_strides(s, out)).collect();
    let mut idx = vec![0usize; out.len()];
    let mut result = vec![Vec::with_capacity(n); inputs.len()];
    for _ in 0..n {
        for (k, st) in bstrides.iter().enumerate() {
            result[k].push(idx.iter().zip(st).map(|(i, s)| i * s).sum());
        }
        for d in (0..out.len()).rev() {
            idx[d] += 1;
            if idx[d] < out[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    result
}

/// Converts a non-negative i64 to usize with a message naming `what`.
pub fn to_usize(v: i64, what: &str) -> Result<usize, String> {
    usize::try_from(v).map_err(|_| format!("{what} must be non-negative, got {v}"))
}

/// The shape tensor of a `Shape`-like output: an int64 vector.
pub fn shape_tensor(dims: &[usize]) -> Tensor {
    Tensor::i64(vec![dims.len()], dims.iter().map(|&d| d as i64).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasts_like_numpy() {
        assert_eq!(
            broadcast_shapes(&[&[2, 3, 4], &[3, 1]]).unwrap(),
            vec![2, 3, 4]
        );
        assert_eq!(broadcast_shapes(&[&[], &[5]]).unwrap(), vec![5]);
        assert!(broadcast_shapes(&[&[2, 3], &[4]])
            .unwrap_err()
            .contains("[2, 3] and [4]"));
        let offs = broadcast_offsets(&[&[2, 1], &[3]], &[2, 3]);
        assert_eq!(offs[0], vec![0, 0, 0, 1, 1, 1]);
        assert_eq!(offs[1], vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn ceil_mode_drops_every_window_starting_in_the_end_padding() {
        let w = |pads: Vec<usize>, ceil_mode| Window {
            kernel: vec![1],
            strides: vec![2],
            dilations: vec![1],
            pads,
            auto_pad: AutoPad::NotSet,
            ceil_mode,
        };
        // Starts 0, 2, 4 lie in the input; 6 and 8 would start in the 4-wide end pad.
        assert_eq!(w(vec![0, 4], true).resolve(&[5]).unwrap().out, vec![3]);
        assert_eq!(w(vec![0, 4], false).resolve(&[5]).unwrap().out, vec![5]);
        // Kernel 3, stride 2, end pad 2 over 4: the ceil window at 4 starts in the pad;
        // over 5 the window at 4 starts inside the input and stays.
        let mut k3 = w(vec![0, 2], true);
        k3.kernel = vec![3];
        assert_eq!(k3.resolve(&[4]).unwrap().out, vec![2]);
        assert_eq!(k3.resolve(&[5]).unwrap().out, vec![3]);
    }

    #[test]
    fn same_padding_rejects_an_empty_axis() {
        let w = Window {
            kernel: vec![3],
            strides: vec![2],
            dilations: vec![1],
            pads: vec![0, 0],
            auto_pad: AutoPad::SameLower,
            ceil_mode: false,
        };
        let r = w.resolve(&[5]).unwrap();
        assert_eq!(
            (r.out, r.pads_begin, r.pads_end),
            (vec![3], vec![1], vec![1])
        );
        assert!(w.resolve(&[0]).is_err());
    }

    #[test]
    fn normalizes_axes() {
        assert_eq!(normalize_axis(-1, 4).unwrap(), 3);
        assert!(normalize_axis(4, 4).is_err());
        assert!(normalize_axis(-5, 4).is_err());
    }
}

/// How a conv-like op pads: explicit `pads` or one of ONNX's `auto_pad` modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoPad {
    NotSet,
    SameUpper,
    SameLower,
    Valid,
}

impl AutoPad {
    pub fn parse(s: Option<String>) -> Result<AutoPad, String> {
        Ok(match s.as_deref() {
            None | Some("NOTSET") | Some("") => AutoPad::NotSet,
            Some("SAME_UPPER") => AutoPad::SameUpper,
            Some("SAME_LOWER") => AutoPad::SameLower,
            Some("VALID") => AutoPad::Valid,
            Some(o) => return Err(format!("unknown auto_pad '{o}'")),
        })
    }
}

/// Window geometry shared by Conv and the pools: kernel, strides, dilations and explicit
/// pads (`[begin_0.., end_0..]`) per spatial axis, and the pad mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    pub pads: Vec<usize>,
    pub auto_pad: AutoPad,
    pub ceil_mode: bool,
}

/// A window resolved against a concrete input: pads per axis and output size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedWindow {
    pub pads_begin: Vec<usize>,
    pub pads_end: Vec<usize>,
    pub out: Vec<usize>,
}

impl Window {
    /// Reads `kernel_shape` (or `kernel` when given), `strides`, `dilations`, `pads`,
    /// `auto_pad` and `ceil_mode` for `rank` spatial axes.
    pub fn parse(ctx: &super::def::ParseCtx, kernel: Option<Vec<usize>>) -> Result<Window, String> {
        let kernel = match (ctx.ints("kernel_shape")?, kernel) {
            (Some(k), _) => k
                .iter()
                .map(|&v| to_usize(v, "kernel_shape"))
                .collect::<Result<Vec<_>, _>>()?,
            (None, Some(k)) => k,
            (None, None) => return Err("attribute 'kernel_shape' is required".into()),
        };
        let n = kernel.len();
        check_spatial_values("kernel_shape", &kernel)?;
        let list = |name: &str, default: usize, len: usize| -> Result<Vec<usize>, String> {
            let v: Vec<usize> = match ctx.ints(name)? {
                None => vec![default; len],
                Some(v) if v.len() == len => v
                    .iter()
                    .map(|&x| to_usize(x, name))
                    .collect::<Result<_, _>>()?,
                Some(v) => {
                    return Err(format!(
                        "attribute '{name}' has {} values, expected {len}",
                        v.len()
                    ))
                }
            };
            check_spatial_values(name, &v)?;
            Ok(v)
        };
        let w = Window {
            strides: list("strides", 1, n)?,
            dilations: list("dilations", 1, n)?,
            pads: list("pads", 0, 2 * n)?,
            auto_pad: AutoPad::parse(ctx.string("auto_pad")?)?,
            ceil_mode: ctx.int_or("ceil_mode", 0)? != 0,
            kernel,
        };
        if w.strides.contains(&0) || w.dilations.contains(&0) || w.kernel.contains(&0) {
            return Err("kernel_shape, strides and dilations must be positive".into());
        }
        Ok(w)
    }

    /// Checks every per-axis list against `n` spatial axes and every value against
    /// [`MAX_ELEMENTS`](runtime::limits::MAX_ELEMENTS), naming the attribute.
    pub fn check(&self, n: usize) -> Result<(), String> {
        let lists = [
            ("kernel_shape", &self.kernel, n),
            ("strides", &self.strides, n),
            ("dilations", &self.dilations, n),
            ("pads", &self.pads, 2 * n),
        ];
        for (name, v, len) in lists {
            if v.len() != len {
                return Err(format!(
                    "attribute '{name}' has {} values, expected {len} for {n} spatial axes",
                    v.len()
                ));
            }
            check_spatial_values(name, v)?;
        }
        Ok(())
    }

    /// Pads and output size for spatial input dims `input`.
    #[allow(clippy::needless_range_loop)]
    pub fn resolve(&self, input: &[usize]) -> Result<ResolvedWindow, String> {
        let n = self.kernel.len();
        if input.len() != n {
            return Err(format!(
                "kernel has {n} spatial dims but the input has {}",
                input.len()
            ));
        }
        self.check(n)?;
        let mut r = ResolvedWindow {
            pads_begin: vec![0; n],
            pads_end: vec![0; n],
            out: vec![0; n],
        };
        for (i, &len) in input.iter().enumerate() {
            let span = self.dilations[i] * (self.kernel[i] - 1) + 1;
            let s = self.strides[i];
            match self.auto_pad {
                AutoPad::NotSet | AutoPad::Valid => {
                    let (pb, pe) = if self.auto_pad == AutoPad::Valid {
                        (0, 0)
                    } else {
                        (self.pads[i], self.pads[i + n])
                    };
                    let padded = len + pb + pe;
                    if padded < span {
                        return Err(format!(
                            "window {span} is larger than the padded input {padded} on spatial axis {i}"
                        ));
                    }
                    let mut out = if self.ceil_mode {
                        (padded - span).div_ceil(s) + 1
                    } else {
                        (padded - span) / s + 1
                    };
                    // With ceil_mode, windows starting in the end padding are dropped: only
                    // starts below input + pads_begin count (there may be more than one
                    // such window when the end pad exceeds the stride).
                    if self.ceil_mode {
                        out = out.min((len + pb).div_ceil(s));
                    }
                    r.pads_begin[i] = pb;
                    r.pads_end[i] = pe;
                    r.out[i] = out;
                }
                AutoPad::SameUpper | AutoPad::SameLower => {
                    if len == 0 {
                        return Err(format!("spatial axis {i} is empty"));
                    }
                    let out = len.div_ceil(s);
                    let total = ((out - 1) * s + span).saturating_sub(len);
                    let small = total / 2;
                    let (pb, pe) = if self.auto_pad == AutoPad::SameUpper {
                        (small, total - small)
                    } else {
                        (total - small, small)
                    };
                    r.pads_begin[i] = pb;
                    r.pads_end[i] = pe;
                    r.out[i] = out;
                }
            }
        }
        Ok(r)
    }
}

/// Rejects a spatial attribute value beyond [`MAX_ELEMENTS`](runtime::limits::MAX_ELEMENTS):
/// no axis can be that long, and the bound keeps window arithmetic far from overflow.
pub fn check_spatial_values(name: &str, v: &[usize]) -> Result<(), String> {
    let max = runtime::limits::MAX_ELEMENTS;
    match v.iter().find(|&&x| x > max) {
        Some(x) => Err(format!(
            "attribute '{name}' value {x} is more than the limit of {max}"
        )),
        None => Ok(()),
    }
}

/// Iterates over every multi-index of `shape` in row-major order.
pub fn for_each_index(shape: &[usize], mut f: impl FnMut(&[usize])) {
    if shape.contains(&0) {
        return;
    }
    let mut idx = vec![0usize; shape.len()];
    loop {
        f(&idx);
        let mut d = shape.len();
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// The elements of `data` at positions `idx`, in that order, keeping the element type
/// (shape ops move elements without looking at them, so they work for every dtype).
pub fn take(data: &TensorData, idx: &[usize]) -> Result<TensorData, String> {
    fn pick<T: Copy>(v: &[T], idx: &[usize]) -> Result<Vec<T>, String> {
        idx.iter()
            .map(|&i| {
                v.get(i).copied().ok_or_else(|| {
                    format!("element offset {i} is outside data of {} elements", v.len())
                })
            })
            .collect()
    }
    Ok(match data {
        TensorData::F32(v) => TensorData::F32(pick(v, idx)?),
        TensorData::U8(v) => TensorData::U8(pick(v, idx)?),
        TensorData::I32(v) => TensorData::I32(pick(v, idx)?),
        TensorData::I64(v) => TensorData::I64(pick(v, idx)?),
        TensorData::Bool(v) => TensorData::Bool(pick(v, idx)?),
        TensorData::F64(v) => TensorData::F64(pick(v, idx)?),
    })
}

/// The elements of all `parts` one after another; every part must have the same dtype.
pub fn concat_data(parts: &[&TensorData]) -> Result<TensorData, String> {
    fn join<T: Copy>(
        parts: &[&TensorData],
        get: impl Fn(&TensorData) -> Option<&Vec<T>>,
    ) -> Result<Vec<T>, String> {
        let mut out = Vec::new();
        for p in parts {
            out.extend_from_slice(get(p).ok_or_else(|| {
                format!("cannot join {} data with {}", parts[0].dtype(), p.dtype())
            })?);
        }
        Ok(out)
    }
    let Some(first) = parts.first() else {
        return Err("nothing to join".into());
    };
    Ok(match first {
        TensorData::F32(_) => TensorData::F32(join(parts, |d| match d {
            TensorData::F32(v) => Some(v),
            _ => None,
        })?),
        TensorData::U8(_) => TensorData::U8(join(parts, |d| match d {
            TensorData::U8(v) => Some(v),
            _ => None,
        })?),
        TensorData::I32(_) => TensorData::I32(join(parts, |d| match d {
            TensorData::I32(v) => Some(v),
            _ => None,
        })?),
        TensorData::I64(_) => TensorData::I64(join(parts, |d| match d {
            TensorData::I64(v) => Some(v),
            _ => None,
        })?),
        TensorData::Bool(_) => TensorData::Bool(join(parts, |d| match d {
            TensorData::Bool(v) => Some(v),
            _ => None,
        })?),
        TensorData::F64(_) => TensorData::F64(join(parts, |d| match d {
            TensorData::F64(v) => Some(v),
            _ => None,
        })?),
    })
}

/// A tensor of `shape` whose elements are `src`'s at the row-major offsets `idx`.
pub fn gather_tensor(src: &Tensor, shape: Vec<usize>, idx: &[usize]) -> Result<Tensor, String> {
    Tensor::new(shape, take(src.data(), idx)?)
}

/// The integer values of an index-like constant (int64 or int32), named `what` in errors.
pub fn int_values(t: &Tensor, what: &str) -> Result<Vec<i64>, String> {
    t.to_i64_vec().map_err(|e| format!("{what}: {e}"))
}

/// The row-major offset of multi-index `idx` for `strides`.
pub fn offset(idx: &[usize], strides: &[usize]) -> usize {
    idx.iter().zip(strides).map(|(i, s)| i * s).sum()
}

/// Product of dimensions, with an error instead of overflow.
pub fn checked_numel(shape: &[usize]) -> Result<usize, String> {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format!("shape {shape:?} has too many elements"))
}
