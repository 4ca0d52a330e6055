//! Where values live: the lowering state, locations (base + offset + strides + halo),
//! layout assignment (which values are stored channel-last and with how much zero halo)
//! and the buffer, view and copy helpers every op family uses.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use kernels::generic as gk;
use runtime::{DType, Tensor};

use super::conv_algo::ConvAlgo;
use super::split::SPLIT_ELEMENTWISE_BYTES;
use crate::ir::{Graph, ValueId};
use crate::ops::{self, Conv, Op};
use crate::plan::{BufId, Plan, Ptr};

/// The lowering state: the graph, the plan being built and every value's location.
pub(super) struct Lowerer<'g> {
    pub(super) g: &'g Graph,
    pub(super) conv_algo: ConvAlgo,
    /// The kernel tier convolution steps pin.
    pub(super) isa: kernels::Isa,
    pub(super) plan: Plan,
    pub(super) locs: HashMap<ValueId, Loc>,
    pub(super) halo_need: HashMap<ValueId, [usize; 4]>,
    pub(super) channel_last: HashSet<ValueId>,
    /// Values whose producer writes them straight into their slice of a Concat's output.
    pub(super) concat_slots: HashMap<ValueId, ConcatSlot>,
    /// Storage of Concat outputs, made when the first producer writing into one is lowered.
    pub(super) concat_bufs: HashMap<ValueId, Loc>,
}

/// Where a Concat input lives inside the Concat's output: `start` along `axis` of `concat`.
#[derive(Clone, Copy, Debug)]
pub(super) struct ConcatSlot {
    pub(super) concat: ValueId,
    pub(super) axis: usize,
    pub(super) start: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Base {
    Buf(BufId),
    Input(usize),
    Output(usize),
    Abs(usize),
}

/// A value's storage: base, element offset of logical index 0, per-axis element strides,
/// and the zero halo (top, bottom, left, right) around it for channel-last buffers.
#[derive(Clone, Debug)]
pub(super) struct Loc {
    pub(super) base: Base,
    pub(super) offset: isize,
    pub(super) strides: Vec<isize>,
    pub(super) elem: usize,
    pub(super) halo: [usize; 4],
}

impl Loc {
    pub(super) fn ptr(&self, extra_elems: isize) -> Ptr {
        let bytes = (self.offset + extra_elems) * self.elem as isize;
        match self.base {
            Base::Buf(b) => Ptr::Buf(b, bytes),
            Base::Input(i) => Ptr::Input(i, bytes),
            Base::Output(i) => Ptr::Output(i, bytes),
            Base::Abs(a) => Ptr::Abs((a as isize + bytes) as usize),
        }
    }

    pub(super) fn view(&self, offset: isize, strides: Vec<isize>) -> Loc {
        Loc {
            base: self.base,
            offset,
            strides,
            elem: self.elem,
            halo: [0; 4],
        }
    }
}

pub(super) fn row_major(shape: &[usize]) -> Vec<isize> {
    ops::util::strides(shape)
        .into_iter()
        .map(|s| s as isize)
        .collect()
}

/// Strides that view a tensor laid out as `shape`/`strides` as `new_shape` (the same number of
/// elements) without moving data, or `None`. Possible when every run of old axes that the new
/// shape merges or splits is dense within itself (numpy's no-copy reshape); size-1 axes are
/// free. A channel-last `[N, C, H, W]` viewed as `[N, g, C/g, H, W]` only splits the channel
/// axis, so it stays a view.
pub(super) fn reshape_strides(
    shape: &[usize],
    strides: &[isize],
    new_shape: &[usize],
) -> Option<Vec<isize>> {
    let count: usize = shape.iter().product();
    if count == 0 || count != new_shape.iter().product::<usize>() {
        return None;
    }
    let old: Vec<(usize, isize)> = shape
        .iter()
        .zip(strides)
        .filter(|(d, _)| **d != 1)
        .map(|(&d, &s)| (d, s))
        .collect();
    let axes: Vec<usize> = (0..new_shape.len())
        .filter(|&a| new_shape[a] != 1)
        .collect();
    let mut out = vec![0isize; new_shape.len()];
    let (mut o, mut n) = (0, 0);
    while n < axes.len() {
        // One group: old axes [o, oe) and new axes [n, ne) with equal element counts.
        let (mut oe, mut ne) = (o + 1, n + 1);
        let (mut po, mut pn) = (old[o].0, new_shape[axes[n]]);
        while po != pn {
            if po < pn {
                po *= old[oe].0;
                oe += 1;
            } else {
                pn *= new_shape[axes[ne]];
                ne += 1;
            }
        }
        if (o..oe - 1).any(|k| old[k].1 != old[k + 1].1 * old[k + 1].0 as isize) {
            return None;
        }
        let mut st = old[oe - 1].1;
        for k in (n..ne).rev() {
            out[axes[k]] = st;
            st *= new_shape[axes[k]] as isize;
        }
        (o, n) = (oe, ne);
    }
    // Size-1 axes take the stride the axis after them spans (any value would do).
    for a in (0..new_shape.len()).rev() {
        if new_shape[a] == 1 {
            out[a] = out.get(a + 1).map_or(1, |&s| s * new_shape[a + 1] as isize);
        }
    }
    Some(out)
}

/// True when the location holds `shape` densely in row-major order (size-1 axes ignored).
pub(super) fn is_row_major(loc: &Loc, shape: &[usize]) -> bool {
    let rm = row_major(shape);
    shape
        .iter()
        .zip(loc.strides.iter().zip(&rm))
        .all(|(&d, (&s, &r))| d == 1 || s == r)
}

/// Dense strides for `shape` ordered like `loc`'s strides (so an element-wise result keeps
/// its input's layout), or `None` when `loc` is not dense in some axis order.
pub(super) fn same_order_dense(loc: &Loc, shape: &[usize]) -> Option<Vec<isize>> {
    let mut axes: Vec<usize> = (0..shape.len()).filter(|&a| shape[a] > 1).collect();
    axes.sort_by_key(|&a| std::cmp::Reverse(loc.strides[a]));
    let mut out = vec![0isize; shape.len()];
    let mut s = 1isize;
    for &a in axes.iter().rev() {
        if loc.strides[a] != s {
            return None;
        }
        out[a] = s;
        s *= shape[a] as isize;
    }
    // Size-1 axes are never stepped along, so any stride addresses them: use the dense
    // size (or, for a tensor of one element, the row-major stride).
    let rm = row_major(shape);
    for a in (0..shape.len()).filter(|&a| shape[a] <= 1) {
        out[a] = if axes.is_empty() { rm[a].max(1) } else { s };
    }
    Some(out)
}

/// The same element-wise iteration space in memory order: size-1 axes dropped, axes
/// sorted by decreasing stride of the first operand (the output, which is written
/// densely), and neighbours merged where every operand steps over them as one axis. A
/// kernel that runs its innermost axis as a loop then walks contiguous memory (e.g. a
/// channel-last tensor times a per-channel scale). Returns `[1]` and zero strides for an
/// empty iteration space.
pub(super) fn memory_order(
    shape: &[usize],
    strides: &[Vec<isize>],
) -> (Vec<usize>, Vec<Vec<isize>>) {
    let mut axes: Vec<usize> = (0..shape.len()).filter(|&a| shape[a] != 1).collect();
    axes.sort_by_key(|&a| std::cmp::Reverse(strides[0][a].unsigned_abs()));
    let mut out_shape: Vec<usize> = Vec::new();
    let mut out: Vec<Vec<isize>> = vec![Vec::new(); strides.len()];
    for a in axes {
        let mergeable = !out_shape.is_empty()
            && strides
                .iter()
                .zip(&out)
                .all(|(s, o)| o[o.len() - 1] == s[a] * shape[a] as isize);
        if mergeable {
            *out_shape.last_mut().unwrap_or(&mut 0) *= shape[a];
            for (s, o) in strides.iter().zip(out.iter_mut()) {
                let last = o.len() - 1;
                o[last] = s[a];
            }
        } else {
            out_shape.push(shape[a]);
            for (s, o) in strides.iter().zip(out.iter_mut()) {
                o.push(s[a]);
            }
        }
    }
    if out_shape.is_empty() {
        return (vec![1], vec![vec![0]; strides.len()]);
    }
    (out_shape, out)
}

/// `(elements before axis, the axis' length, elements after axis)` of a row-major shape.
pub(super) fn around_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis],
        shape[axis + 1..].iter().product(),
    )
}

pub(super) fn arr<T: Copy + Default, const N: usize>(v: &[T]) -> Result<[T; N], String> {
    if v.len() > N {
        return Err(format!(
            "rank {} exceeds the kernels' maximum of {N}",
            v.len()
        ));
    }
    let mut a = [T::default(); N];
    a[..v.len()].copy_from_slice(v);
    Ok(a)
}

/// The convolution a Conv or FusedConv node computes.
pub(super) fn conv_of(op: &Op) -> Option<&Conv> {
    match op {
        Op::Conv(c) => Some(c),
        Op::FusedConv(f) => Some(&f.conv),
        _ => None,
    }
}

/// Pads (top, bottom, left, right) of a conv's input for its resolved window.
pub(super) fn conv_pads(
    conv: &Conv,
    x_shape: &[usize],
    w_shape: &[usize],
) -> Result<[usize; 4], String> {
    let win = conv.window_for(w_shape)?;
    let r = win.resolve(&x_shape[2..])?;
    Ok(match r.pads_begin.len() {
        1 => [0, 0, r.pads_begin[0], r.pads_end[0]],
        2 => [
            r.pads_begin[0],
            r.pads_end[0],
            r.pads_begin[1],
            r.pads_end[1],
        ],
        n => {
            return Err(format!(
                "{n}-D convolution is not supported by the compiler (1-D and 2-D are)"
            ))
        }
    })
}

impl<'g> Lowerer<'g> {
    pub(super) fn shape(&self, v: ValueId) -> &'g [usize] {
        &self.g.values[v].shape
    }

    pub(super) fn dtype(&self, v: ValueId) -> DType {
        self.g.values[v].dtype
    }

    /// Which values are stored channel-last and how much halo each needs.
    pub(super) fn analyse(&mut self) {
        for node in &self.g.nodes {
            let spatial_2d = |v: ValueId| {
                matches!(self.g.values[v].shape.len(), 3 | 4)
                    && self.g.values[v].dtype == DType::F32
            };
            let is_conv = conv_of(&node.op).is_some() || matches!(node.op, Op::MobileBlock(_));
            let is_pool = matches!(&node.op, Op::Pool(p) if p.window.is_some());
            let nhwc_input = conv_of(&node.op).is_some_and(|c| c.input_nhwc);
            if is_conv || is_pool {
                if let Some(x) = node.inputs[0].filter(|_| !nhwc_input) {
                    if spatial_2d(x) {
                        self.channel_last.insert(x);
                    }
                }
                if spatial_2d(node.outputs[0]) {
                    self.channel_last.insert(node.outputs[0]);
                }
            }
            if let (Some(conv), Some(x), Some(w)) = (
                conv_of(&node.op).filter(|c| !c.input_nhwc),
                node.inputs[0],
                node.inputs.get(1).copied().flatten(),
            ) {
                if let Ok(p) = conv_pads(conv, self.shape(x), self.shape(w)) {
                    let e = self.halo_need.entry(x).or_insert([0; 4]);
                    for i in 0..4 {
                        e[i] = e[i].max(p[i]);
                    }
                }
            }
        }
        for node in &self.g.nodes {
            // A block without an expansion reads its input through the depthwise padding.
            let Op::MobileBlock(b) = &node.op else {
                continue;
            };
            let (Some(x), Some(w)) = (node.inputs[0], node.inputs[3]) else {
                continue;
            };
            if b.expand.is_some() {
                continue;
            }
            if let Ok(p) = conv_pads(&b.depthwise.conv, self.shape(x), self.shape(w)) {
                let e = self.halo_need.entry(x).or_insert([0; 4]);
                for i in 0..4 {
                    e[i] = e[i].max(p[i]);
                }
            }
        }
        self.plan_concat_slots();
    }

    /// Chooses the Concat inputs that their producers write in place ([`ConcatSlot`]): a
    /// channel-last Concat output (Concats of channel-last values are made channel-last),
    /// an input that nothing else reads, produced by a step that writes through strides
    /// (convolution, 2-D pooling, an inner Concat). Nodes are in topological order, so an
    /// inner Concat is decided before the outer one that it feeds.
    fn plan_concat_slots(&mut self) {
        let g = self.g;
        let mut uses: HashMap<ValueId, usize> = HashMap::new();
        for v in g.nodes.iter().flat_map(|n| n.inputs.iter().flatten()) {
            *uses.entry(*v).or_default() += 1;
        }
        for v in &g.outputs {
            *uses.entry(*v).or_default() += 1;
        }
        let mut strided_producer: HashSet<ValueId> = HashSet::new();
        for node in &g.nodes {
            let strided = match &node.op {
                Op::Conv(_) | Op::FusedConv(_) | Op::MobileBlock(_) | Op::Concat(_) => true,
                Op::Pool(p) => p.window.is_some() && !p.indices,
                _ => false,
            };
            let out = node.outputs[0];
            if strided && matches!(self.shape(out).len(), 3 | 4) && self.dtype(out) == DType::F32 {
                strided_producer.insert(out);
            }
            // Views keep their source's layout: the pieces of a Split and the Reshape-family
            // and Transpose results of a channel-last value count as channel-last, so a Concat
            // of them and a Reshape that has to copy (a channel shuffle) stay channel-last
            // instead of converting to NCHW and back.
            let view = matches!(
                node.op,
                Op::Split(_)
                    | Op::Identity(_)
                    | Op::Transpose(_)
                    | Op::Reshape(_)
                    | Op::Flatten(_)
                    | Op::Squeeze(_)
                    | Op::Unsqueeze(_)
            );
            if view && node.inputs[0].is_some_and(|x| self.channel_last.contains(&x)) {
                for &o in &node.outputs {
                    if self.dtype(o) == DType::F32 {
                        self.channel_last.insert(o);
                    }
                }
            }
            let Op::Concat(c) = &node.op else { continue };
            let inputs: Vec<ValueId> = node.inputs.iter().flatten().copied().collect();
            if strided_producer.contains(&out)
                && inputs.iter().all(|i| self.channel_last.contains(i))
            {
                self.channel_last.insert(out);
            }
            let Ok(axis) = ops::util::normalize_axis(c.axis, self.shape(out).len()) else {
                continue;
            };
            if !self.channel_last.contains(&out) {
                continue;
            }
            let mut start = 0;
            for i in inputs {
                if uses.get(&i) == Some(&1)
                    && strided_producer.contains(&i)
                    && self.channel_last.contains(&i)
                {
                    let slot = ConcatSlot {
                        concat: out,
                        axis,
                        start,
                    };
                    self.concat_slots.insert(i, slot);
                }
                start += self.shape(i)[axis];
            }
        }
    }

    /// A row-major location for a constant the model keeps alive.
    pub(super) fn const_loc(&mut self, t: Arc<Tensor>) -> Loc {
        let (strides, elem) = (row_major(t.shape()), t.dtype().size());
        let addr = self.plan.keep_tensor(t);
        Loc {
            base: Base::Abs(addr),
            offset: 0,
            strides,
            elem,
            halo: [0; 4],
        }
    }

    /// A float32 scalar constant.
    pub(super) fn scalar_loc(&mut self, v: f32) -> Loc {
        self.const_loc(Arc::new(Tensor::f32(vec![], vec![v])))
    }

    /// Location of an input value: computed, graph input, or constant.
    pub(super) fn loc(&mut self, v: ValueId) -> Result<Loc, String> {
        if let Some(l) = self.locs.get(&v) {
            return Ok(l.clone());
        }
        if let Some(t) = self.g.consts.get(&v) {
            let l = self.const_loc(t.clone());
            self.locs.insert(v, l.clone());
            return Ok(l);
        }
        Err(format!(
            "value '{}' has no location (internal error)",
            self.g.values[v].name
        ))
    }

    /// A fresh buffer for `v`: channel-last with its halo when `channel_last`, else row-major.
    pub(super) fn alloc(&mut self, v: ValueId, channel_last: bool) -> Loc {
        let shape = self.shape(v).to_vec();
        let elem = self.dtype(v).size();
        let label = format!("{} {}{:?}", self.g.values[v].name, self.dtype(v), shape);
        let h = self.halo_need.get(&v).copied().unwrap_or([0; 4]);
        self.alloc_shape(&shape, elem, channel_last, h, label)
    }

    /// Storage for `v` from a producer that writes through `v`'s strides (convolution,
    /// pooling, Concat): its slice of a Concat's output when [`Self::plan_concat_slots`]
    /// chose one, else [`Self::alloc`].
    pub(super) fn alloc_out(&mut self, v: ValueId, channel_last: bool) -> Loc {
        let Some(slot) = self.concat_slots.get(&v).copied() else {
            return self.alloc(v, channel_last);
        };
        let y = self.concat_buffer(slot.concat);
        y.view(
            y.offset + slot.start as isize * y.strides[slot.axis],
            y.strides.clone(),
        )
    }

    /// The storage of Concat output `c`, made on the first request (by the first producer
    /// writing into it, or by the Concat itself).
    pub(super) fn concat_buffer(&mut self, c: ValueId) -> Loc {
        if let Some(l) = self.concat_bufs.get(&c) {
            return l.clone();
        }
        let l = self.alloc_out(c, self.channel_last.contains(&c));
        self.concat_bufs.insert(c, l.clone());
        l
    }

    /// A fresh buffer for a logical NC… `shape`: channel-last with halo `h` when asked.
    pub(super) fn alloc_shape(
        &mut self,
        shape: &[usize],
        elem: usize,
        channel_last: bool,
        h: [usize; 4],
        label: String,
    ) -> Loc {
        if channel_last && matches!(shape.len(), 3 | 4) {
            let pinned = h != [0; 4];
            let c = shape[1];
            let (strides, offset, total) = if shape.len() == 4 {
                let (hh, ww) = (shape[2] + h[0] + h[1], shape[3] + h[2] + h[3]);
                let rs = (ww * c) as isize;
                let ns = hh as isize * rs;
                (
                    vec![ns, 1, rs, c as isize],
                    h[0] as isize * rs + (h[2] * c) as isize,
                    shape[0] * hh * ww * c,
                )
            } else {
                let ll = shape[2] + h[2] + h[3];
                let ns = (ll * c) as isize;
                (
                    vec![ns, 1, c as isize],
                    (h[2] * c) as isize,
                    shape[0] * ll * c,
                )
            };
            let class = pinned.then(|| format!("{shape:?}/{h:?}/{elem}"));
            let b = self.plan.new_buffer(total.max(1) * elem, class, label);
            return Loc {
                base: Base::Buf(b),
                offset,
                strides,
                elem,
                halo: if shape.len() == 4 {
                    h
                } else {
                    [0, 0, h[2], h[3]]
                },
            };
        }
        let n: usize = shape.iter().product();
        let b = self.plan.new_buffer(n.max(1) * elem, None, label);
        Loc {
            base: Base::Buf(b),
            offset: 0,
            strides: row_major(shape),
            elem,
            halo: [0; 4],
        }
    }

    pub(super) fn alloc_strided(&mut self, v: ValueId, strides: Vec<isize>) -> Loc {
        let n: usize = self.shape(v).iter().product();
        let elem = self.dtype(v).size();
        let label = format!(
            "{} {}{:?}",
            self.g.values[v].name,
            self.dtype(v),
            self.shape(v)
        );
        let b = self.plan.new_buffer(n.max(1) * elem, None, label);
        Loc {
            base: Base::Buf(b),
            offset: 0,
            strides,
            elem,
            halo: [0; 4],
        }
    }

    /// A temporary row-major f32 buffer of `shape` not tied to a graph value.
    pub(super) fn temp(&mut self, shape: &[usize], elem: usize, label: &str) -> Loc {
        let n: usize = shape.iter().product();
        let b = self
            .plan
            .new_buffer(n.max(1) * elem, None, label.to_string());
        Loc {
            base: Base::Buf(b),
            offset: 0,
            strides: row_major(shape),
            elem,
            halo: [0; 4],
        }
    }

    pub(super) fn copy(
        &mut self,
        node: &str,
        src: &Loc,
        dst: &Loc,
        shape: &[usize],
    ) -> Result<(), String> {
        let (shape, st) = memory_order(shape, &[dst.strides.clone(), src.strides.clone()]);
        let (ds, ss) = (&st[0], &st[1]);
        let p = gk::CopyParams {
            src: std::ptr::null(),
            dst: std::ptr::null_mut(),
            elem_size: src.elem,
            rank: shape.len(),
            shape: arr(&shape)?,
            src_strides: arr(ss)?,
            dst_strides: arr(ds)?,
        };
        let bytes = shape.iter().product::<usize>() * src.elem;
        // Large copies (a model input's relayout) split between threads along one axis.
        let split = gk::copy_split_axis(&p).filter(|_| bytes >= SPLIT_ELEMENTWISE_BYTES);
        split_call!(
            self.plan,
            node,
            gk::bqml_copy,
            gk::bqml_copy_rows,
            split,
            p,
            format!("copy {shape:?}"),
            [
                (gk::CopyParams, src, src.ptr(0)),
                (gk::CopyParams, dst, dst.ptr(0))
            ]
        );
        Ok(())
    }

    /// `v`'s location if row-major, else a row-major copy.
    pub(super) fn row_major_loc(&mut self, node: &str, v: ValueId) -> Result<Loc, String> {
        let l = self.loc(v)?;
        let shape = self.shape(v);
        if is_row_major(&l, shape) {
            return Ok(l);
        }
        let dst = self.temp(
            shape,
            l.elem,
            &format!("{} row-major", self.g.values[v].name),
        );
        self.copy(node, &l, &dst, shape)?;
        Ok(dst)
    }

    /// `v`'s location if channel-last with at least `halo`, else a channel-last copy.
    pub(super) fn channel_last_loc(
        &mut self,
        node: &str,
        v: ValueId,
        halo: [usize; 4],
    ) -> Result<Loc, String> {
        let l = self.loc(v)?;
        let shape = self.shape(v);
        let label = format!("{} channel-last", self.g.values[v].name);
        self.channel_last_from(node, l, shape, halo, label)
    }

    /// `l` (holding logical NC… `shape`) if it is channel-last with at least `halo`, else a
    /// channel-last copy with that halo.
    pub(super) fn channel_last_from(
        &mut self,
        node: &str,
        l: Loc,
        shape: &[usize],
        halo: [usize; 4],
        label: String,
    ) -> Result<Loc, String> {
        let ok_layout = shape.len() >= 3 && l.strides[1] == 1 || shape[1] == 1;
        let ok_layout =
            ok_layout && (shape.len() != 4 || l.strides[3] as usize >= shape[1] || shape[3] == 1);
        if ok_layout
            && (0..4).all(|i| l.halo[i] >= halo[i])
            && !matches!(l.base, Base::Input(_) if halo != [0; 4])
        {
            return Ok(l);
        }
        let dst = self.alloc_shape(shape, l.elem, true, halo, label);
        self.copy(node, &l, &dst, shape)?;
        Ok(dst)
    }

    pub(super) fn set(&mut self, v: ValueId, l: Loc) {
        self.locs.insert(v, l);
    }
}

#[cfg(test)]
mod tests {
    use super::{memory_order, reshape_strides};

    #[test]
    fn reshape_views_split_and_merge_only_dense_runs() {
        // Channel-last [1, 8, 5, 5]: splitting the channel axis is a view (a size-1 axis gets
        // the span of the axis after it)...
        let cl = [200, 1, 40, 8];
        assert_eq!(
            reshape_strides(&[1, 8, 5, 5], &cl, &[1, 2, 4, 5, 5]),
            Some(vec![8, 4, 1, 40, 8])
        );
        // ...and so is merging H and W (dense together), but not C with H.
        assert_eq!(
            reshape_strides(&[1, 8, 5, 5], &cl, &[1, 8, 25]),
            Some(vec![8, 1, 8])
        );
        assert_eq!(reshape_strides(&[1, 8, 5, 5], &cl, &[1, 40, 5]), None);
        // The shuffled [1, 4, 2, 5, 5] (channel axes swapped) cannot merge back.
        assert_eq!(
            reshape_strides(&[1, 4, 2, 5, 5], &[200, 1, 4, 40, 8], &[1, 8, 5, 5]),
            None
        );
        // Row-major stays row-major; size-1 axes are free; empty tensors are not viewed.
        assert_eq!(
            reshape_strides(&[2, 3, 4], &[12, 4, 1], &[6, 1, 4]),
            Some(vec![4, 4, 1])
        );
        assert_eq!(
            reshape_strides(&[1, 8, 1, 1], &[8, 1, 8, 8], &[1, 8]),
            Some(vec![8, 1])
        );
        assert_eq!(reshape_strides(&[0, 3], &[3, 1], &[3, 0]), None);
    }

    #[test]
    fn channel_last_times_a_channel_scale_runs_as_pixels_by_channels() {
        // y, x: [1, 8, 5, 5] stored channel-last; s: [1, 8, 1, 1] broadcast (0 strides).
        let cl = vec![200, 1, 40, 8];
        let (shape, st) = memory_order(&[1, 8, 5, 5], &[cl.clone(), cl, vec![0, 1, 0, 0]]);
        assert_eq!(shape, [25, 8]);
        assert_eq!(st, [vec![8, 1], vec![8, 1], vec![0, 1]]);
    }

    #[test]
    fn must_not_merge_axes_that_one_operand_does_not_store_together() {
        // A channel-last destination read from a row-major (NCHW) source.
        let (shape, st) = memory_order(&[1, 3, 4, 4], &[vec![48, 1, 12, 3], vec![48, 16, 4, 1]]);
        // Rows and columns merge (both store them together); channels stay apart.
        assert_eq!(shape, [16, 3]);
        assert_eq!(st, [vec![3, 1], vec![1, 16]]);
    }

    #[test]
    fn a_scalar_iteration_space_is_one_element() {
        let (shape, st) = memory_order(&[], &[vec![], vec![]]);
        assert_eq!((shape, st), (vec![1], vec![vec![0], vec![0]]));
    }
}
