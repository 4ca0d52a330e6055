//! Pooling over the spatial axes of NC… tensors: MaxPool (with optional argmax
//! `Indices`), AveragePool, GlobalMaxPool and GlobalAveragePool.

use runtime::{DType, Tensor};

use super::def::{elements, Fact, OpDef, OutFact, ParseCtx};
use super::util::{fact, for_each_index, input, strides, AutoPad, ResolvedWindow, Window};

/// What a pooling window reduces to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Average,
}

/// A pooling op. `window == None` pools each channel's whole spatial extent (Global…).
#[derive(Clone, Debug)]
pub struct Pool {
    pub kind: PoolKind,
    pub window: Option<Window>,
    /// AveragePool: padding positions count in the divisor.
    pub count_include_pad: bool,
    /// MaxPool `Indices`: column-major spatial offsets instead of row-major.
    pub column_major_indices: bool,
    /// MaxPool: the node lists the `Indices` output.
    pub indices: bool,
}

/// A pooling window: at most [`MAX_WINDOW_TAPS`](runtime::limits::MAX_WINDOW_TAPS) taps,
/// and explicit pads smaller than the kernel (as ONNX Runtime requires: a window that lies
/// wholly in the padding has no value).
fn pool_window(ctx: &ParseCtx) -> Result<Window, String> {
    let w = Window::parse(ctx, None)?;
    let max = runtime::limits::MAX_WINDOW_TAPS;
    let taps = w
        .kernel
        .iter()
        .try_fold(1usize, |a, &k| a.checked_mul(k))
        .filter(|&t| t <= max);
    if taps.is_none() {
        return Err(format!(
            "attribute 'kernel_shape' {:?} has more than the limit of {max} taps per window",
            w.kernel
        ));
    }
    if w.auto_pad == AutoPad::NotSet {
        let n = w.kernel.len();
        for (i, &p) in w.pads.iter().enumerate() {
            let k = w.kernel[i % n];
            if p >= k {
                return Err(format!(
                    "attribute 'pads' {:?}: pad {p} on spatial axis {} is not smaller than the kernel size {k}",
                    w.pads,
                    i % n
                ));
            }
        }
    }
    Ok(w)
}

/// Parses MaxPool (window attributes and `storage_order`).
pub fn parse_max(ctx: &mut ParseCtx) -> Result<Pool, String> {
    let window = pool_window(ctx)?;
    let column_major_indices = ctx.flag("storage_order", false)?;
    Ok(Pool {
        kind: PoolKind::Max,
        window: Some(window),
        count_include_pad: false,
        column_major_indices,
        // Produced whenever the node lists a second output, even an unnamed one, so
        // that every declared output exists.
        indices: ctx.node.output.len() > 1,
    })
}

/// Parses AveragePool (window attributes and `count_include_pad`).
pub fn parse_average(ctx: &mut ParseCtx) -> Result<Pool, String> {
    let window = pool_window(ctx)?;
    let count_include_pad = ctx.flag("count_include_pad", false)?;
    Ok(Pool {
        kind: PoolKind::Average,
        window: Some(window),
        count_include_pad,
        column_major_indices: false,
        indices: false,
    })
}

/// Parses GlobalMaxPool and GlobalAveragePool.
pub fn parse_global(ctx: &mut ParseCtx) -> Result<Pool, String> {
    let kind = match ctx.node.op_type() {
        "GlobalMaxPool" => PoolKind::Max,
        "GlobalAveragePool" => PoolKind::Average,
        other => return Err(format!("not a global pool: {other}")),
    };
    Ok(Pool {
        kind,
        window: None,
        count_include_pad: false,
        column_major_indices: false,
        indices: false,
    })
}

impl Pool {
    /// The window for spatial dims `spatial` (the whole extent for global pools).
    fn window_for(&self, spatial: &[usize]) -> Result<(Window, ResolvedWindow), String> {
        let w = match &self.window {
            Some(w) => w.clone(),
            None => Window {
                kernel: spatial.to_vec(),
                strides: vec![1; spatial.len()],
                dilations: vec![1; spatial.len()],
                pads: vec![0; 2 * spatial.len()],
                auto_pad: AutoPad::NotSet,
                ceil_mode: false,
            },
        };
        let r = w.resolve(spatial)?;
        Ok((w, r))
    }

    fn check(&self, x: &[usize], dtype: DType) -> Result<(), String> {
        if dtype != DType::F32 {
            return Err(format!(
                "{} needs float32 input, got {dtype}",
                self.op_type()
            ));
        }
        if x.len() < 3 {
            return Err(format!(
                "{} needs an N×C×spatial input of rank ≥ 3, got shape {x:?}",
                self.op_type()
            ));
        }
        if self.window.is_none() && x[2..].contains(&0) {
            return Err(format!("cannot pool an empty spatial extent {x:?}"));
        }
        Ok(())
    }
}

impl OpDef for Pool {
    fn op_type(&self) -> &str {
        match (self.kind, self.window.is_some()) {
            (PoolKind::Max, true) => "MaxPool",
            (PoolKind::Average, true) => "AveragePool",
            (PoolKind::Max, false) => "GlobalMaxPool",
            (PoolKind::Average, false) => "GlobalAveragePool",
        }
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<OutFact>, String> {
        let x = fact(inputs, 0)?;
        self.check(x.shape, x.dtype)?;
        let (_, r) = self.window_for(&x.shape[2..])?;
        let mut shape = x.shape[..2].to_vec();
        shape.extend(&r.out);
        let mut outs = vec![OutFact::new(DType::F32, shape.clone())];
        if self.indices {
            outs.push(OutFact::new(DType::I64, shape));
        }
        Ok(outs)
    }

    /// Every output visits each tap of its window.
    fn work(&self, inputs: &[Option<&[usize]>], outputs: &[&[usize]]) -> u64 {
        let read = inputs.first().copied().flatten().map_or(0, elements);
        let taps = self.window.as_ref().map_or(1, |w| elements(&w.kernel));
        let written: u64 = outputs.iter().map(|s| elements(s)).sum();
        read.saturating_add(written.saturating_mul(taps))
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, String> {
        let x = input(inputs, 0)?;
        self.check(x.shape(), x.dtype())?;
        let xd = x.as_f32()?;
        let xs = x.shape();
        let spatial = &xs[2..];
        let (w, r) = self.window_for(spatial)?;
        let sp = spatial.len();
        let plane: usize = spatial.iter().product();
        let row = strides(spatial);
        // Column-major spatial strides for storage_order=1 indices.
        let mut col = vec![1usize; sp];
        for d in 1..sp {
            col[d] = col[d - 1] * spatial[d - 1];
        }
        let channels = xs[0] * xs[1];
        let out_plane: usize = r.out.iter().product();
        let mut y = Vec::with_capacity(channels * out_plane);
        let mut ind = Vec::new();
        for c in 0..channels {
            let base = c * plane;
            for_each_index(&r.out, |o| {
                let mut best: Option<(f32, usize)> = None;
                let (mut sum, mut real, mut padded) = (0f32, 0usize, 0usize);
                for_each_index(&w.kernel, |k| {
                    let mut inside = true;
                    let mut in_pads = true;
                    let (mut off, mut coff) = (0, 0);
                    for d in 0..sp {
                        let p = (o[d] * w.strides[d] + k[d] * w.dilations[d]) as isize
                            - r.pads_begin[d] as isize;
                        if p < 0 || p >= spatial[d] as isize {
                            inside = false;
                            // Past the end padding (possible with ceil_mode) never counts.
                            if p >= (spatial[d] + r.pads_end[d]) as isize {
                                in_pads = false;
                            }
                        } else {
                            off += p as usize * row[d];
                            coff += p as usize * col[d];
                        }
                    }
                    if !inside {
                        if in_pads {
                            padded += 1;
                        }
                        return;
                    }
                    let v = xd[base + off];
                    real += 1;
                    sum += v;
                    let idx = if self.column_major_indices { coff } else { off };
                    // Strictly greater keeps the first maximum; NaN never replaces.
                    if best.is_none_or(|(b, _)| v > b) {
                        best = Some((v, idx));
                    }
                });
                match self.kind {
                    PoolKind::Max => {
                        let (v, i) = best.unwrap_or((f32::NAN, 0));
                        y.push(v);
                        ind.push((base + i) as i64);
                    }
                    PoolKind::Average => {
                        let n = if self.count_include_pad {
                            real + padded
                        } else {
                            real
                        };
                        y.push(if n == 0 { f32::NAN } else { sum / n as f32 });
                    }
                }
            });
        }
        let mut shape = xs[..2].to_vec();
        shape.extend(&r.out);
        let mut outs = vec![Tensor::f32(shape.clone(), y)];
        if self.indices {
            outs.push(Tensor::i64(shape, ind));
        }
        Ok(outs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avg(pads: Vec<usize>, ceil_mode: bool, count_include_pad: bool) -> Pool {
        Pool {
            kind: PoolKind::Average,
            window: Some(Window {
                kernel: vec![3],
                strides: vec![2],
                dilations: vec![1],
                pads,
                auto_pad: AutoPad::NotSet,
                ceil_mode,
            }),
            count_include_pad,
            column_major_indices: false,
            indices: false,
        }
    }

    #[test]
    fn average_divisor_ignores_positions_past_the_end_padding() {
        let x = Tensor::f32(vec![1, 1, 5], vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        // Windows start at -1, 1 and (ceil) 3: [pad,1,2], [2,3,4], [4,5,past-end].
        let y = avg(vec![1, 0], true, true).eval(&[Some(&x)]).unwrap();
        assert_eq!(y[0].as_f32().unwrap(), &[1.0, 3.0, 4.5]);
        // With an end pad of 1 the last window is [4, 5, pad].
        let y = avg(vec![1, 1], true, true).eval(&[Some(&x)]).unwrap();
        assert_eq!(y[0].as_f32().unwrap(), &[1.0, 3.0, 3.0]);
        let y = avg(vec![1, 1], true, false).eval(&[Some(&x)]).unwrap();
        assert_eq!(y[0].as_f32().unwrap(), &[1.5, 3.0, 4.5]);
    }

    #[test]
    fn max_indices_are_flat_over_batch_and_channels() {
        let x = Tensor::f32(
            vec![2, 1, 2, 2],
            vec![1.0, 4.0, 3.0, 2.0, 0.0, 1.0, 9.0, 2.0],
        );
        let mut p = Pool {
            kind: PoolKind::Max,
            window: Some(Window {
                kernel: vec![2, 2],
                strides: vec![1, 1],
                dilations: vec![1, 1],
                pads: vec![0; 4],
                auto_pad: AutoPad::NotSet,
                ceil_mode: false,
            }),
            count_include_pad: false,
            column_major_indices: false,
            indices: true,
        };
        let y = p.eval(&[Some(&x)]).unwrap();
        assert_eq!(y[0].as_f32().unwrap(), &[4.0, 9.0]);
        assert_eq!(y[1].as_i64().unwrap(), &[1, 6]);
        p.column_major_indices = true;
        let y = p.eval(&[Some(&x)]).unwrap();
        // (h=0, w=1) is 0 + 1·2 column-major; (h=1, w=0) is 1.
        assert_eq!(y[1].as_i64().unwrap(), &[2, 5]);
    }

    #[test]
    fn global_pools_reduce_each_channel() {
        let x = Tensor::f32(vec![1, 2, 1, 2], vec![1.0, 3.0, -1.0, -5.0]);
        let g = |kind| Pool {
            kind,
            window: None,
            count_include_pad: false,
            column_major_indices: false,
            indices: false,
        };
        let y = g(PoolKind::Average).eval(&[Some(&x)]).unwrap();
        assert_eq!(y[0], Tensor::f32(vec![1, 2, 1, 1], vec![2.0, -3.0]));
        let y = g(PoolKind::Max).eval(&[Some(&x)]).unwrap();
        assert_eq!(y[0], Tensor::f32(vec![1, 2, 1, 1], vec![3.0, -1.0]));
    }
}
