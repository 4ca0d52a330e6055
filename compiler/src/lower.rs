//! Lowering: the optimised graph → a [`Plan`] of kernel calls over arena buffers.
//!
//! Every value gets a *location*: a base (arena buffer, caller input, constant) plus an
//! element offset and one stride per logical axis. Layout assignment happens here:
//! 4-D (and 3-D) activations that convolutions and pools produce or read are stored
//! channel-last (NHWC) — with a zeroed halo holding the padding of every convolution that
//! reads them — and Transpose, Slice, Reshape-family ops and Identity become views
//! (strides, no data movement) wherever the data allows. A consumer whose kernel needs
//! another layout gets an explicit copy step.

use std::collections::{HashMap, HashSet};
use std::mem::offset_of;
use std::sync::Arc;

use kernels::generic as gk;
use runtime::{DType, IoSpec, Tensor};

use crate::error::{Error, Result};
use crate::ir::{Graph, Node, ValueId};
use crate::ops::{
    self, Activation, BinaryKind, Conv, Op, PoolKind, ReduceKind, UnaryKind, VariadicKind,
};
use crate::plan::{template_of, BufId, CallKind, InlineOp, KernelCall, Plan, Ptr, StepKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Base {
    Buf(BufId),
    Input(usize),
    Output(usize),
    Abs(usize),
}

/// A value's storage: base, element offset of logical index 0, per-axis element strides,
/// and the zero halo (top, bottom, left, right) around it for channel-last buffers.
#[derive(Clone, Debug)]
struct Loc {
    base: Base,
    offset: isize,
    strides: Vec<isize>,
    elem: usize,
    halo: [usize; 4],
}

impl Loc {
    fn ptr(&self, extra_elems: isize) -> Ptr {
        let bytes = (self.offset + extra_elems) * self.elem as isize;
        match self.base {
            Base::Buf(b) => Ptr::Buf(b, bytes),
            Base::Input(i) => Ptr::Input(i, bytes),
            Base::Output(i) => Ptr::Output(i, bytes),
            Base::Abs(a) => Ptr::Abs((a as isize + bytes) as usize),
        }
    }

    fn view(&self, offset: isize, strides: Vec<isize>) -> Loc {
        Loc {
            base: self.base,
            offset,
            strides,
            elem: self.elem,
            halo: [0; 4],
        }
    }
}

fn row_major(shape: &[usize]) -> Vec<isize> {
    ops::util::strides(shape)
        .into_iter()
        .map(|s| s as isize)
        .collect()
}

/// True when the location holds `shape` densely in row-major order (size-1 axes ignored).
fn is_row_major(loc: &Loc, shape: &[usize]) -> bool {
    let rm = row_major(shape);
    shape
        .iter()
        .zip(loc.strides.iter().zip(&rm))
        .all(|(&d, (&s, &r))| d == 1 || s == r)
}

/// Dense strides for `shape` ordered like `loc`'s strides (so an element-wise result keeps
/// its input's layout), or `None` when `loc` is not dense in some axis order.
fn same_order_dense(loc: &Loc, shape: &[usize]) -> Option<Vec<isize>> {
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

/// `(elements before axis, the axis' length, elements after axis)` of a row-major shape.
fn around_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis],
        shape[axis + 1..].iter().product(),
    )
}

fn arr<T: Copy + Default, const N: usize>(v: &[T]) -> Result<[T; N], String> {
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

macro_rules! call {
    ($plan:expr, $node:expr, $kernel:path, $params:expr, $kind:expr, $macs:expr, $desc:expr, [$(($ty:ty, $field:ident, $ptr:expr)),* $(,)?]) => {{
        let params = $params;
        let call = KernelCall {
            symbol: stringify!($kernel).rsplit("::").next().unwrap_or(""),
            addr: $kernel as *const () as usize,
            kind: $kind,
            template: template_of(&params),
            ptrs: vec![$((offset_of!($ty, $field), $ptr)),*],
            loads: Vec::new(),
            desc: $desc,
        };
        $plan.push($node, StepKind::Call(call), $macs);
    }};
}

struct Lowerer<'g> {
    g: &'g Graph,
    conv_algo: ConvAlgo,
    plan: Plan,
    locs: HashMap<ValueId, Loc>,
    halo_need: HashMap<ValueId, [usize; 4]>,
    channel_last: HashSet<ValueId>,
}

/// Which algorithm convolutions use where there is a choice (3×3, stride 1, dilation 1, one
/// group, constant weights): the direct implicit GEMM or Winograd.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConvAlgo {
    /// Per layer, from its shape: direct below 16 input or output channels, else Winograd
    /// F(4×4) on maps of at least 14², F(2×2) on smaller ones (fewer wasted edge outputs;
    /// at 7² × 512 F(2×2) took ResNet-18's layers from 3.1 to 2.3 ms, F(4×4) was slower than
    /// direct). See `kernels/PERF.md`.
    #[default]
    Auto,
    /// Direct convolution everywhere.
    Direct,
    /// Winograd F(4×4, 3×3) on every eligible convolution.
    Winograd,
    /// Winograd F(2×2, 3×3) on every eligible convolution.
    WinogradF2,
}

impl ConvAlgo {
    /// Parses `auto`, `direct`, `winograd` (F4) or `winograd-f2`.
    pub fn parse(s: &str) -> Option<ConvAlgo> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => ConvAlgo::Auto,
            "direct" => ConvAlgo::Direct,
            "winograd" | "winograd-f4" => ConvAlgo::Winograd,
            "winograd-f2" => ConvAlgo::WinogradF2,
            _ => return None,
        })
    }

    /// The `BQMLC_CONV_ALGO` environment variable, else [`ConvAlgo::Auto`] (an unknown value
    /// is reported on stderr and ignored).
    pub fn from_env() -> ConvAlgo {
        match std::env::var("BQMLC_CONV_ALGO") {
            Ok(v) => ConvAlgo::parse(&v).unwrap_or_else(|| {
                eprintln!(
                    "bqmlc: ignoring BQMLC_CONV_ALGO={v:?} (auto|direct|winograd|winograd-f2)"
                );
                ConvAlgo::Auto
            }),
            Err(_) => ConvAlgo::Auto,
        }
    }

    /// Winograd output tile (4 or 2) for an eligible layer, or `None` for direct.
    fn tile(self, cin: usize, cout: usize, oh: usize, ow: usize) -> Option<usize> {
        match self {
            ConvAlgo::Direct => None,
            ConvAlgo::Winograd => Some(4),
            ConvAlgo::WinogradF2 => Some(2),
            ConvAlgo::Auto if cin < 16 || cout < 16 => None,
            ConvAlgo::Auto if oh.min(ow) >= 14 => Some(4),
            ConvAlgo::Auto => Some(2),
        }
    }
}

/// Lowers an optimised graph, choosing conv algorithms by [`ConvAlgo::from_env`].
pub fn lower(graph: &Graph) -> Result<Plan> {
    lower_with(graph, ConvAlgo::from_env())
}

/// Lowers an optimised graph with an explicit conv algorithm policy.
pub fn lower_with(graph: &Graph, conv_algo: ConvAlgo) -> Result<Plan> {
    let mut l = Lowerer {
        g: graph,
        conv_algo,
        plan: Plan::default(),
        locs: HashMap::new(),
        halo_need: HashMap::new(),
        channel_last: HashSet::new(),
    };
    l.analyse()?;
    for (i, &id) in graph.inputs.iter().enumerate() {
        let v = &graph.values[id];
        l.plan.inputs.push(IoSpec {
            name: v.name.clone(),
            dtype: v.dtype,
            shape: v.shape.clone(),
        });
        l.locs.insert(
            id,
            Loc {
                base: Base::Input(i),
                offset: 0,
                strides: row_major(&v.shape),
                elem: v.dtype.size(),
                halo: [0; 4],
            },
        );
    }
    for node in &graph.nodes {
        l.lower_node(node).map_err(|message| Error::Node {
            node: node.name.clone(),
            op_type: node.op.op_type().to_string(),
            message,
        })?;
    }
    for (i, &id) in graph.outputs.iter().enumerate() {
        let v = &graph.values[id];
        l.plan.outputs.push(IoSpec {
            name: v.name.clone(),
            dtype: v.dtype,
            shape: v.shape.clone(),
        });
        let src = l.loc(id).map_err(|m| Error::Node {
            node: v.name.clone(),
            op_type: "output".into(),
            message: m,
        })?;
        let dst = Loc {
            base: Base::Output(i),
            offset: 0,
            strides: row_major(&v.shape),
            elem: v.dtype.size(),
            halo: [0; 4],
        };
        l.copy(&format!("output {}", v.name), &src, &dst, &v.shape)
            .map_err(|m| Error::Node {
                node: v.name.clone(),
                op_type: "output".into(),
                message: m,
            })?;
    }
    l.plan.assign_offsets();
    Ok(l.plan)
}

/// Pads (top, bottom, left, right) of a conv's input for its resolved window.
fn conv_pads(conv: &Conv, x_shape: &[usize], w_shape: &[usize]) -> Result<[usize; 4], String> {
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
    fn shape(&self, v: ValueId) -> &'g [usize] {
        &self.g.values[v].shape
    }

    fn dtype(&self, v: ValueId) -> DType {
        self.g.values[v].dtype
    }

    fn conv_of(op: &Op) -> Option<&Conv> {
        match op {
            Op::Conv(c) => Some(c),
            Op::FusedConv(f) => Some(&f.conv),
            _ => None,
        }
    }

    /// Which values are stored channel-last and how much halo each needs.
    fn analyse(&mut self) -> Result<()> {
        for node in &self.g.nodes {
            let spatial_2d = |v: ValueId| {
                matches!(self.g.values[v].shape.len(), 3 | 4)
                    && self.g.values[v].dtype == DType::F32
            };
            let is_conv = Self::conv_of(&node.op).is_some();
            let is_pool = matches!(&node.op, Op::Pool(p) if p.window.is_some());
            let nhwc_input = Self::conv_of(&node.op).is_some_and(|c| c.input_nhwc);
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
                Self::conv_of(&node.op).filter(|c| !c.input_nhwc),
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
        Ok(())
    }

    /// A row-major location for a constant the model keeps alive.
    fn const_loc(&mut self, t: Arc<Tensor>) -> Loc {
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
    fn scalar_loc(&mut self, v: f32) -> Loc {
        self.const_loc(Arc::new(Tensor::f32(vec![], vec![v])))
    }

    /// Location of an input value: computed, graph input, or constant.
    fn loc(&mut self, v: ValueId) -> Result<Loc, String> {
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
    fn alloc(&mut self, v: ValueId, channel_last: bool) -> Loc {
        let shape = self.shape(v).to_vec();
        let elem = self.dtype(v).size();
        let label = format!("{} {}{:?}", self.g.values[v].name, self.dtype(v), shape);
        let h = self.halo_need.get(&v).copied().unwrap_or([0; 4]);
        self.alloc_shape(&shape, elem, channel_last, h, label)
    }

    /// A fresh buffer for a logical NC… `shape`: channel-last with halo `h` when asked.
    fn alloc_shape(
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

    fn alloc_strided(&mut self, v: ValueId, strides: Vec<isize>) -> Loc {
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
    fn temp(&mut self, shape: &[usize], elem: usize, label: &str) -> Loc {
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

    fn copy(&mut self, node: &str, src: &Loc, dst: &Loc, shape: &[usize]) -> Result<(), String> {
        let (shape, ss, ds) = if shape.is_empty() {
            (vec![1], vec![0], vec![0])
        } else {
            (shape.to_vec(), src.strides.clone(), dst.strides.clone())
        };
        let p = gk::CopyParams {
            src: std::ptr::null(),
            dst: std::ptr::null_mut(),
            elem_size: src.elem,
            rank: shape.len(),
            shape: arr(&shape)?,
            src_strides: arr(&ss)?,
            dst_strides: arr(&ds)?,
        };
        call!(
            self.plan,
            node,
            gk::bqml_copy,
            p,
            CallKind::Once,
            0,
            format!("copy {shape:?}"),
            [
                (gk::CopyParams, src, src.ptr(0)),
                (gk::CopyParams, dst, dst.ptr(0))
            ]
        );
        Ok(())
    }

    /// `v`'s location if row-major, else a row-major copy.
    fn row_major_loc(&mut self, node: &str, v: ValueId) -> Result<Loc, String> {
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
    fn channel_last_loc(
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
    fn channel_last_from(
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

    fn set(&mut self, v: ValueId, l: Loc) {
        self.locs.insert(v, l);
    }

    fn lower_node(&mut self, node: &Node) -> Result<(), String> {
        let g = self.g;
        let out = node.outputs[0];
        let x = node.inputs.first().copied().flatten();
        let name = node.name.as_str();
        match &node.op {
            Op::Identity(_) => {
                let l = self.loc(x.ok_or("no input")?)?;
                self.set(out, l);
            }
            Op::Transpose(t) => {
                let x = x.ok_or("no input")?;
                let l = self.loc(x)?;
                let rank = self.shape(x).len();
                let perm: Vec<usize> = t.perm.clone().unwrap_or_else(|| (0..rank).rev().collect());
                let strides = perm.iter().map(|&p| l.strides[p]).collect();
                self.set(out, l.view(l.offset, strides));
            }
            Op::Reshape(_) | Op::Flatten(_) | Op::Squeeze(_) | Op::Unsqueeze(_) => {
                let x = x.ok_or("no input")?;
                let l = self.row_major_loc(name, x)?;
                let strides = row_major(self.shape(out));
                self.set(out, l.view(l.offset, strides));
            }
            Op::Slice(_) => {
                let x = x.ok_or("no input")?;
                let l = self.loc(x)?;
                let vals: Vec<Option<&Tensor>> = (1..5)
                    .map(|i| {
                        node.inputs
                            .get(i)
                            .copied()
                            .flatten()
                            .and_then(|v| g.consts.get(&v).map(|t| t.as_ref()))
                    })
                    .collect();
                let r = ops::slice::resolve(self.shape(x), [vals[0], vals[1], vals[2], vals[3]])?;
                let offset = l.offset
                    + r.start
                        .iter()
                        .zip(&l.strides)
                        .map(|(&s, &st)| s as isize * st)
                        .sum::<isize>();
                let strides = l
                    .strides
                    .iter()
                    .zip(&r.step)
                    .map(|(&st, &step)| st * step as isize)
                    .collect();
                self.set(out, l.view(offset, strides));
            }
            Op::Conv(c) => self.lower_conv(node, c, Activation::None, None)?,
            Op::FusedConv(f) => {
                let r = if f.has_residual {
                    node.inputs.get(3).copied().flatten()
                } else {
                    None
                };
                self.lower_conv(node, &f.conv, f.activation, r)?
            }
            Op::Pool(p) => self.lower_pool(node, p)?,
            Op::Unary(u) => self.lower_unary(node, u.kind)?,
            Op::Clip(_) => self.lower_clip(node)?,
            Op::Binary(b) => {
                let code = match b.kind {
                    BinaryKind::Add => gk::BINARY_ADD,
                    BinaryKind::Sub => gk::BINARY_SUB,
                    BinaryKind::Mul => gk::BINARY_MUL,
                    BinaryKind::Div => gk::BINARY_DIV,
                    BinaryKind::Pow => gk::BINARY_POW,
                };
                let (a, b) = (x.ok_or("no input")?, node.inputs[1].ok_or("no input")?);
                let (la, lb) = (self.loc(a)?, self.loc(b)?);
                if b_is_i64_pow(self.dtype(a), self.dtype(b)) {
                    return Err(
                        "Pow with an int64 exponent is not supported by the compiler".into(),
                    );
                }
                let y = self.binary_out(out, &la, self.shape(a));
                self.binary(
                    name,
                    code,
                    &la,
                    self.shape(a),
                    &lb,
                    self.shape(b),
                    &y,
                    self.shape(out),
                    self.dtype(out),
                )?;
                self.set(out, y);
            }
            Op::PRelu(_) => {
                let (a, b) = (x.ok_or("no input")?, node.inputs[1].ok_or("no slope")?);
                let (la, lb) = (self.loc(a)?, self.loc(b)?);
                let y = self.binary_out(out, &la, self.shape(a));
                self.binary(
                    name,
                    gk::BINARY_PRELU,
                    &la,
                    self.shape(a),
                    &lb,
                    self.shape(b),
                    &y,
                    self.shape(out),
                    DType::F32,
                )?;
                self.set(out, y);
            }
            Op::Variadic(v) => self.lower_variadic(node, v.kind)?,
            Op::Softmax(s) => {
                let x = x.ok_or("no input")?;
                let shape = self.shape(x);
                let axis = ops::util::normalize_axis(s.axis, shape.len())?;
                let (outer, n, inner) = if s.flatten {
                    let (outer, n, inner) = around_axis(shape, axis);
                    (outer, n * inner, 1)
                } else {
                    around_axis(shape, axis)
                };
                let lx = self.row_major_loc(name, x)?;
                let y = self.alloc(out, false);
                let p = gk::SoftmaxParams {
                    x: std::ptr::null(),
                    y: std::ptr::null_mut(),
                    outer,
                    n,
                    inner,
                    log: s.log as u32,
                };
                call!(
                    self.plan,
                    name,
                    gk::bqml_softmax,
                    p,
                    CallKind::Once,
                    0,
                    format!("softmax [{outer}, {n}, {inner}] log={}", s.log),
                    [
                        (gk::SoftmaxParams, x, lx.ptr(0)),
                        (gk::SoftmaxParams, y, y.ptr(0))
                    ]
                );
                self.set(out, y);
            }
            Op::ArgMax(a) => {
                let x = x.ok_or("no input")?;
                let shape = self.shape(x);
                let axis = ops::util::normalize_axis(a.axis, shape.len())?;
                let (outer, n, inner) = around_axis(shape, axis);
                let lx = self.row_major_loc(name, x)?;
                let y = self.alloc(out, false);
                let p = gk::ArgParams {
                    x: std::ptr::null(),
                    y: std::ptr::null_mut(),
                    outer,
                    n,
                    inner,
                    is_min: a.min as u32,
                    select_last: a.select_last_index as u32,
                };
                call!(
                    self.plan,
                    name,
                    gk::bqml_argmax,
                    p,
                    CallKind::Once,
                    0,
                    format!(
                        "arg{} [{outer}, {n}, {inner}]",
                        if a.min { "min" } else { "max" }
                    ),
                    [(gk::ArgParams, x, lx.ptr(0)), (gk::ArgParams, y, y.ptr(0))]
                );
                self.set(out, y);
            }
            Op::Reduce(r) => {
                let x = x.ok_or("no input")?;
                let axes = node
                    .inputs
                    .get(1)
                    .copied()
                    .flatten()
                    .and_then(|v| g.consts.get(&v))
                    .map(|t| t.as_ref());
                let mask =
                    ops::reduce::reduced_axes(axes, self.shape(x).len(), r.noop_with_empty_axes)?;
                let code = match r.kind {
                    ReduceKind::Mean => gk::REDUCE_MEAN,
                    ReduceKind::Sum => gk::REDUCE_SUM,
                    ReduceKind::Max => gk::REDUCE_MAX,
                    ReduceKind::Min => gk::REDUCE_MIN,
                    ReduceKind::Prod => gk::REDUCE_PROD,
                    ReduceKind::L2 => gk::REDUCE_L2,
                    ReduceKind::SumSquare => gk::REDUCE_SUM_SQUARE,
                    #[allow(unreachable_patterns)]
                    _ => {
                        return Err(format!(
                            "reduction {:?} is not supported by the compiler",
                            r.kind
                        ))
                    }
                };
                let lx = self.loc(x)?;
                match mask {
                    None => {
                        let y = self.alloc(out, false);
                        self.copy(name, &lx, &y, self.shape(x))?;
                        self.set(out, y);
                    }
                    Some(mask) => {
                        let y = self.alloc(out, false);
                        self.reduce(name, code, &lx, self.shape(x), &mask, &y)?;
                        self.set(out, y);
                    }
                }
            }
            Op::BatchNorm(b) => self.lower_batchnorm(node, b.epsilon)?,
            Op::Gemm(gm) => self.lower_gemm(node, gm)?,
            Op::MatMul(_) => self.lower_matmul(node)?,
            Op::Concat(c) => {
                let axis = ops::util::normalize_axis(c.axis, self.shape(out).len())?;
                let y = self.alloc(out, self.channel_last.contains(&out));
                let mut start = 0isize;
                for &i in node.inputs.iter().flatten() {
                    let li = self.loc(i)?;
                    let dst = y.view(y.offset + start * y.strides[axis], y.strides.clone());
                    self.copy(name, &li, &dst, self.shape(i))?;
                    start += self.shape(i)[axis] as isize;
                }
                self.set(out, y);
            }
            Op::Split(s) => {
                let x = x.ok_or("no input")?;
                let split = node
                    .inputs
                    .get(1)
                    .copied()
                    .flatten()
                    .and_then(|v| g.consts.get(&v))
                    .map(|t| t.to_i64_vec())
                    .transpose()?;
                let (axis, sizes) = s.pieces(self.shape(x), split.as_deref())?;
                let lx = self.loc(x)?;
                let mut start = 0isize;
                for (k, &o) in node.outputs.iter().enumerate() {
                    let src = lx.view(lx.offset + start * lx.strides[axis], lx.strides.clone());
                    let y = self.alloc(o, false);
                    self.copy(name, &src, &y, self.shape(o))?;
                    self.set(o, y);
                    start += sizes[k] as isize;
                }
            }
            Op::Gather(ga) => {
                let x = x.ok_or("no input")?;
                let idx = node.inputs.get(1).copied().flatten().ok_or("no indices")?;
                let it = g
                    .consts
                    .get(&idx)
                    .ok_or("Gather indices must be constants for the compiler")?
                    .clone();
                let it = Arc::new(Tensor::i64(it.shape().to_vec(), it.to_i64_vec()?));
                let shape = self.shape(x);
                let axis = ops::util::normalize_axis(ga.axis, shape.len())?;
                let lx = self.row_major_loc(name, x)?;
                let y = self.alloc(out, false);
                let addr = self.plan.keep_tensor(it.clone());
                self.plan
                    .statuses
                    .push(format!("node '{name}' (Gather): an index is out of range"));
                let code = self.plan.statuses.len() as u32;
                let (outer, axis_len, inner) = around_axis(shape, axis);
                let p = gk::GatherParams {
                    elem_size: lx.elem,
                    outer,
                    axis_len,
                    inner,
                    x: std::ptr::null(),
                    indices: std::ptr::null(),
                    n_indices: it.len(),
                    y: std::ptr::null_mut(),
                };
                call!(
                    self.plan,
                    name,
                    gk::bqml_gather,
                    p,
                    CallKind::Checked { code },
                    0,
                    format!("gather axis {axis} of {shape:?}"),
                    [
                        (gk::GatherParams, x, lx.ptr(0)),
                        (gk::GatherParams, indices, Ptr::Abs(addr)),
                        (gk::GatherParams, y, y.ptr(0))
                    ]
                );
                self.set(out, y);
            }
            Op::Pad(p) => {
                let x = x.ok_or("no input")?;
                let pads_t = node
                    .inputs
                    .get(1)
                    .copied()
                    .flatten()
                    .and_then(|v| g.consts.get(&v))
                    .ok_or("Pad pads must be constants")?
                    .clone();
                let axes_t = node
                    .inputs
                    .get(3)
                    .copied()
                    .flatten()
                    .and_then(|v| g.consts.get(&v))
                    .cloned();
                let pads = ops::Pad::pads_of(self.shape(x).len(), &pads_t, axes_t.as_deref())?;
                // The fill value is a compile-time constant, or read at run time.
                let (value, runtime_value) = match node.inputs.get(2).copied().flatten() {
                    None => (0u64, None),
                    Some(v) => match g.consts.get(&v).map(|t| t.data()) {
                        Some(runtime::TensorData::F32(d)) => {
                            (d.first().copied().unwrap_or(0.0).to_bits() as u64, None)
                        }
                        Some(runtime::TensorData::I64(d)) => {
                            (d.first().copied().unwrap_or(0) as u64, None)
                        }
                        Some(d) => {
                            return Err(format!("Pad value of type {} is not supported", d.dtype()))
                        }
                        None => (0, Some(self.loc(v)?.ptr(0))),
                    },
                };
                let mode = match p.mode {
                    ops::PadMode::Constant => gk::PAD_CONSTANT,
                    ops::PadMode::Reflect => gk::PAD_REFLECT,
                    ops::PadMode::Edge => gk::PAD_EDGE,
                    ops::PadMode::Wrap => gk::PAD_WRAP,
                };
                let lx = self.row_major_loc(name, x)?;
                let y = self.alloc(out, false);
                let begins: Vec<isize> = pads.iter().map(|&(b, _)| b as isize).collect();
                let pp = gk::PadParams {
                    mode,
                    elem_size: lx.elem,
                    rank: self.shape(x).len(),
                    in_shape: arr(self.shape(x))?,
                    pads_begin: arr(&begins)?,
                    out_shape: arr(self.shape(out))?,
                    x: std::ptr::null(),
                    y: std::ptr::null_mut(),
                    value,
                };
                call!(
                    self.plan,
                    name,
                    gk::bqml_pad,
                    pp,
                    CallKind::Once,
                    0,
                    format!("pad {:?}", pads),
                    [(gk::PadParams, x, lx.ptr(0)), (gk::PadParams, y, y.ptr(0))]
                );
                if let Some(p) = runtime_value {
                    let step = self.plan.steps.len() - 1;
                    self.plan
                        .add_load(step, offset_of!(gk::PadParams, value), p, lx.elem as u8);
                }
                self.set(out, y);
            }
            Op::Constant(_) | Op::Shape(_) | Op::Size(_) => {
                // Folded away unless a graph output; evaluate now.
                let t = node.op.def().eval(&[])?.remove(0);
                let l = self.const_loc(Arc::new(t));
                self.set(out, l);
            }
            other => {
                return Err(format!(
                    "op {} is not supported by the compiler yet",
                    other.op_type()
                ))
            }
        }
        Ok(())
    }

    /// Output location for an element-wise op: the first operand's dense layout when it has
    /// the output's shape, else row-major.
    fn binary_out(&mut self, out: ValueId, la: &Loc, a_shape: &[usize]) -> Loc {
        if a_shape == self.shape(out) {
            if let Some(s) = same_order_dense(la, a_shape) {
                return self.alloc_strided(out, s);
            }
            if self.channel_last.contains(&out) || la.strides.len() == 4 && la.strides[1] == 1 {
                return self.alloc(out, true);
            }
        }
        self.alloc(out, false)
    }

    /// Strides of an operand broadcast to `out_shape` (0 on broadcast axes).
    fn bstrides(l: &Loc, shape: &[usize], out_shape: &[usize]) -> Vec<isize> {
        let off = out_shape.len() - shape.len();
        (0..out_shape.len())
            .map(|i| {
                if i < off || shape[i - off] == 1 {
                    0
                } else {
                    l.strides[i - off]
                }
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn binary(
        &mut self,
        node: &str,
        op: u32,
        la: &Loc,
        a_shape: &[usize],
        lb: &Loc,
        b_shape: &[usize],
        y: &Loc,
        y_shape: &[usize],
        dtype: DType,
    ) -> Result<(), String> {
        let dense_same = a_shape == y_shape
            && b_shape == y_shape
            && la.strides == y.strides
            && lb.strides == y.strides
            && same_order_dense(y, y_shape).is_some();
        let inline = match op {
            gk::BINARY_ADD => Some(InlineOp::Add),
            gk::BINARY_SUB => Some(InlineOp::Sub),
            gk::BINARY_MUL => Some(InlineOp::Mul),
            gk::BINARY_DIV => Some(InlineOp::Div),
            _ => None,
        };
        if let (true, Some(op), DType::F32) = (dense_same, inline, dtype) {
            let n = y_shape.iter().product();
            self.plan.push(
                node,
                StepKind::Inline {
                    op,
                    a: la.ptr(0),
                    b: Some(lb.ptr(0)),
                    y: y.ptr(0),
                    n,
                },
                0,
            );
            return Ok(());
        }
        let (shape, sa, sb, sy) = if y_shape.is_empty() {
            (vec![1], vec![0], vec![0], vec![0])
        } else {
            (
                y_shape.to_vec(),
                Self::bstrides(la, a_shape, y_shape),
                Self::bstrides(lb, b_shape, y_shape),
                y.strides.clone(),
            )
        };
        let p = gk::BinaryParams {
            op,
            dtype: match dtype {
                DType::F32 => gk::DT_F32,
                DType::I64 => gk::DT_I64,
                d => return Err(format!("element-wise {d} is not supported by the compiler")),
            },
            rank: shape.len(),
            shape: arr(&shape)?,
            a: std::ptr::null(),
            a_strides: arr(&sa)?,
            b: std::ptr::null(),
            b_strides: arr(&sb)?,
            y: std::ptr::null_mut(),
            y_strides: arr(&sy)?,
        };
        call!(
            self.plan,
            node,
            gk::bqml_binary,
            p,
            CallKind::Once,
            0,
            format!("binary op {op} {shape:?}"),
            [
                (gk::BinaryParams, a, la.ptr(0)),
                (gk::BinaryParams, b, lb.ptr(0)),
                (gk::BinaryParams, y, y.ptr(0))
            ]
        );
        Ok(())
    }

    fn reduce(
        &mut self,
        node: &str,
        op: u32,
        lx: &Loc,
        shape: &[usize],
        mask: &[bool],
        y: &Loc,
    ) -> Result<(), String> {
        // Output strides indexed by the input's axes; 0 on reduced axes.
        let kept: Vec<usize> = (0..shape.len()).filter(|&a| !mask[a]).collect();
        let kept_shape: Vec<usize> = kept.iter().map(|&a| shape[a]).collect();
        let kept_strides = row_major(&kept_shape);
        let mut ys = vec![0isize; shape.len()];
        for (k, &a) in kept.iter().enumerate() {
            ys[a] = kept_strides[k];
        }
        let _ = y.strides.len();
        let bits: u32 = mask
            .iter()
            .enumerate()
            .filter(|(_, &m)| m)
            .map(|(i, _)| 1u32 << i)
            .sum();
        let p = gk::ReduceParams {
            op,
            rank: shape.len(),
            shape: arr(shape)?,
            x: std::ptr::null(),
            x_strides: arr(&lx.strides)?,
            reduce_mask: bits,
            y: std::ptr::null_mut(),
            y_strides: arr(&ys)?,
        };
        call!(
            self.plan,
            node,
            gk::bqml_reduce,
            p,
            CallKind::Once,
            0,
            format!("reduce op {op} {shape:?} mask {bits:#b}"),
            [
                (gk::ReduceParams, x, lx.ptr(0)),
                (gk::ReduceParams, y, y.ptr(0))
            ]
        );
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn unary_call(
        &mut self,
        node: &str,
        op: u32,
        alpha: f32,
        beta: f32,
        lx: &Loc,
        y: &Loc,
        n: usize,
    ) {
        let p = gk::UnaryParams {
            op,
            x: std::ptr::null(),
            y: std::ptr::null_mut(),
            n,
            alpha,
            beta,
        };
        call!(
            self.plan,
            node,
            gk::bqml_unary,
            p,
            CallKind::Once,
            0,
            format!("unary op {op} n={n}"),
            [
                (gk::UnaryParams, x, lx.ptr(0)),
                (gk::UnaryParams, y, y.ptr(0))
            ]
        );
    }

    /// Dense input location (any axis order) and a same-order output location.
    fn dense_pair(&mut self, node: &str, x: ValueId, out: ValueId) -> Result<(Loc, Loc), String> {
        let lx = self.loc(x)?;
        let shape = self.shape(x);
        let lx = match same_order_dense(&lx, shape) {
            Some(_) => lx,
            None => self.row_major_loc(node, x)?,
        };
        let s = same_order_dense(&lx, shape).ok_or("internal: dense layout expected")?;
        let y = self.alloc_strided(out, s);
        Ok((lx, y))
    }

    fn lower_unary(&mut self, node: &Node, kind: UnaryKind) -> Result<(), String> {
        let (x, out) = (node.inputs[0].ok_or("no input")?, node.outputs[0]);
        if self.dtype(x) != DType::F32 {
            return Err(format!(
                "{:?} on {} is not supported by the compiler",
                kind,
                self.dtype(x)
            ));
        }
        let (lx, y) = self.dense_pair(&node.name, x, out)?;
        let n = self.shape(x).iter().product();
        let (op, a, b) = match kind {
            UnaryKind::Relu => {
                self.plan.push(
                    &node.name,
                    StepKind::Inline {
                        op: InlineOp::Relu,
                        a: lx.ptr(0),
                        b: None,
                        y: y.ptr(0),
                        n,
                    },
                    0,
                );
                self.set(out, y);
                return Ok(());
            }
            UnaryKind::Sigmoid => (gk::UNARY_SIGMOID, 0.0, 0.0),
            UnaryKind::Tanh => (gk::UNARY_TANH, 0.0, 0.0),
            UnaryKind::Exp => (gk::UNARY_EXP, 0.0, 0.0),
            UnaryKind::Log => (gk::UNARY_LOG, 0.0, 0.0),
            UnaryKind::Sqrt => (gk::UNARY_SQRT, 0.0, 0.0),
            UnaryKind::Erf => (gk::UNARY_ERF, 0.0, 0.0),
            UnaryKind::Neg => (gk::UNARY_NEG, 0.0, 0.0),
            UnaryKind::Abs => (gk::UNARY_ABS, 0.0, 0.0),
            UnaryKind::Reciprocal => (gk::UNARY_RECIPROCAL, 0.0, 0.0),
            UnaryKind::Floor => (gk::UNARY_FLOOR, 0.0, 0.0),
            UnaryKind::Ceil => (gk::UNARY_CEIL, 0.0, 0.0),
            UnaryKind::LeakyRelu { alpha } => (gk::UNARY_LEAKY_RELU, alpha, 0.0),
            UnaryKind::HardSigmoid { alpha, beta } => (gk::UNARY_HARD_SIGMOID, alpha, beta),
            UnaryKind::HardSwish => (gk::UNARY_HARD_SWISH, 0.0, 0.0),
            UnaryKind::Elu { alpha } => (gk::UNARY_ELU, alpha, 0.0),
            UnaryKind::Selu { alpha, gamma } => (gk::UNARY_SELU, alpha, gamma),
            UnaryKind::Softplus => (gk::UNARY_SOFTPLUS, 0.0, 0.0),
        };
        self.unary_call(&node.name, op, a, b, &lx, &y, n);
        self.set(out, y);
        Ok(())
    }

    fn lower_clip(&mut self, node: &Node) -> Result<(), String> {
        let (x, out) = (node.inputs[0].ok_or("no input")?, node.outputs[0]);
        if self.dtype(x) != DType::F32 {
            return Err("Clip on int64 is not supported by the compiler".into());
        }
        if let Some(Activation::Clip { min, max }) = ops::as_activation(node, self.g) {
            let (lx, y) = self.dense_pair(&node.name, x, out)?;
            let n = self.shape(x).iter().product();
            self.plan.push(
                &node.name,
                StepKind::Inline {
                    op: InlineOp::Clip { min, max },
                    a: lx.ptr(0),
                    b: None,
                    y: y.ptr(0),
                    n,
                },
                0,
            );
            self.set(out, y);
            return Ok(());
        }
        // Runtime bounds: max(x, min) then min(·, max), NaN bounds ignored like the reference.
        let mut cur = self.loc(x)?;
        let shape = self.shape(x).to_vec();
        for (i, op) in [(1, gk::BINARY_MAX), (2, gk::BINARY_MIN)] {
            if let Some(b) = node.inputs.get(i).copied().flatten() {
                let lb = self.loc(b)?;
                let y = self.temp(&shape, 4, &format!("{} clip{i}", node.name));
                self.binary(
                    &node.name,
                    op,
                    &cur,
                    &shape,
                    &lb,
                    self.shape(b),
                    &y,
                    &shape,
                    DType::F32,
                )?;
                cur = y;
            }
        }
        if matches!(cur.base, Base::Input(_) | Base::Abs(_))
            || Some(&cur.base) == self.locs.get(&x).map(|l| &l.base)
        {
            let y = self.alloc(out, false);
            self.copy(&node.name, &cur, &y, &shape)?;
            cur = y;
        }
        self.set(out, cur);
        Ok(())
    }

    fn lower_variadic(&mut self, node: &Node, kind: VariadicKind) -> Result<(), String> {
        let out = node.outputs[0];
        let out_shape = self.shape(out).to_vec();
        let dtype = self.dtype(out);
        let ins: Vec<ValueId> = node.inputs.iter().flatten().copied().collect();
        let op = match kind {
            VariadicKind::Sum | VariadicKind::Mean => gk::BINARY_ADD,
            VariadicKind::Max => gk::BINARY_MAX,
            VariadicKind::Min => gk::BINARY_MIN,
        };
        let y = self.alloc(out, false);
        let first = self.loc(ins[0])?;
        if ins.len() == 1 {
            // Broadcast copy of the single input.
            let l = first.view(
                first.offset,
                Self::bstrides(&first, self.shape(ins[0]), &out_shape),
            );
            self.copy(&node.name, &l, &y, &out_shape)?;
        } else {
            let (mut cur, mut cur_shape) = (first, self.shape(ins[0]).to_vec());
            for &i in &ins[1..] {
                let li = self.loc(i)?;
                self.binary(
                    &node.name,
                    op,
                    &cur,
                    &cur_shape,
                    &li,
                    self.shape(i),
                    &y,
                    &out_shape,
                    dtype,
                )?;
                cur = y.clone();
                cur_shape = out_shape.clone();
            }
        }
        if kind == VariadicKind::Mean {
            let lk = self.scalar_loc(1.0 / ins.len() as f32);
            self.binary(
                &node.name,
                gk::BINARY_MUL,
                &y.clone(),
                &out_shape,
                &lk,
                &[],
                &y,
                &out_shape,
                dtype,
            )?;
        }
        self.set(out, y);
        Ok(())
    }

    fn lower_batchnorm(&mut self, node: &Node, eps: f32) -> Result<(), String> {
        let (x, out) = (node.inputs[0].ok_or("no input")?, node.outputs[0]);
        let shape = self.shape(x).to_vec();
        let c = shape[1];
        // Per-channel operands broadcast as [C, 1, …] against [N, C, …].
        let mut pshape = vec![c];
        pshape.extend(std::iter::repeat_n(1, shape.len().saturating_sub(2)));
        let p = |i: usize| {
            node.inputs
                .get(i)
                .copied()
                .flatten()
                .ok_or(format!("missing input {i}"))
        };
        let (scale, bias, mean, var) = (p(1)?, p(2)?, p(3)?, p(4)?);
        let view = |s: &mut Self, v: ValueId| -> Result<Loc, String> {
            let l = s.loc(v)?;
            let mut strides = vec![l.strides[0]];
            strides.extend(std::iter::repeat_n(0, pshape.len() - 1));
            Ok(l.view(l.offset, strides))
        };
        let (ls, lb, lm, lv) = (
            view(self, scale)?,
            view(self, bias)?,
            view(self, mean)?,
            view(self, var)?,
        );
        // s = scale / sqrt(var + eps), computed at run time (parameters may be inputs).
        let le = self.scalar_loc(eps);
        let t = self.temp(&pshape, 4, &format!("{} scale", node.name));
        self.binary(
            &node.name,
            gk::BINARY_ADD,
            &lv,
            &pshape,
            &le,
            &[],
            &t,
            &pshape,
            DType::F32,
        )?;
        self.unary_call(&node.name, gk::UNARY_SQRT, 0.0, 0.0, &t, &t, c);
        self.binary(
            &node.name,
            gk::BINARY_DIV,
            &ls,
            &pshape,
            &t.clone(),
            &pshape,
            &t,
            &pshape,
            DType::F32,
        )?;
        let lx = self.loc(x)?;
        let y = self.binary_out(out, &lx, &shape);
        self.binary(
            &node.name,
            gk::BINARY_SUB,
            &lx,
            &shape,
            &lm,
            &pshape,
            &y,
            &shape,
            DType::F32,
        )?;
        self.binary(
            &node.name,
            gk::BINARY_MUL,
            &y.clone(),
            &shape,
            &t,
            &pshape,
            &y,
            &shape,
            DType::F32,
        )?;
        self.binary(
            &node.name,
            gk::BINARY_ADD,
            &y.clone(),
            &shape,
            &lb,
            &pshape,
            &y,
            &shape,
            DType::F32,
        )?;
        self.set(out, y);
        Ok(())
    }

    fn lower_conv(
        &mut self,
        node: &Node,
        conv: &Conv,
        act: Activation,
        residual: Option<ValueId>,
    ) -> Result<(), String> {
        let g = self.g;
        let (x, out) = (node.inputs[0].ok_or("no input")?, node.outputs[0]);
        let w = node.inputs.get(1).copied().flatten().ok_or("no weights")?;
        let ws = self.shape(w);
        // A channel-last input ([N, H, W, C]) is viewed as NCHW with permuted strides.
        let nchw;
        let xs: &[usize] = if conv.input_nhwc {
            nchw = ops::nhwc_to_nchw(self.shape(x));
            &nchw
        } else {
            self.shape(x)
        };
        let wt = g.consts.get(&w).cloned();
        let b_id = node.inputs.get(2).copied().flatten();
        let bt = b_id.and_then(|b| g.consts.get(&b).cloned());
        let pads = conv_pads(conv, xs, ws)?;
        let win = conv.window_for(ws)?;
        let r = win.resolve(&xs[2..])?;
        let two_d = xs.len() == 4;
        let (kh, kw) = if two_d { (ws[2], ws[3]) } else { (1, ws[2]) };
        let (sh, sw, dh, dw) = if two_d {
            (
                win.strides[0],
                win.strides[1],
                win.dilations[0],
                win.dilations[1],
            )
        } else {
            (1, win.strides[0], 1, win.dilations[0])
        };
        let (oh, ow) = if two_d {
            (r.out[0], r.out[1])
        } else {
            (1, r.out[0])
        };
        let shape = kernels::ConvShape {
            in_channels: xs[1],
            out_channels: ws[0],
            kernel_h: kh,
            kernel_w: kw,
            groups: conv.group,
        };
        let geo = kernels::ConvGeometry {
            out_h: oh,
            out_w: ow,
            stride_h: sh,
            stride_w: sw,
            dilation_h: dh,
            dilation_w: dw,
        };
        let const_weights = wt.is_some() && (b_id.is_none() || bt.is_some());
        // Winograd output tile, when this layer uses it (constant weights only).
        let wino = (const_weights && two_d && kernels::winograd_applies(&shape, &geo))
            .then(|| {
                self.conv_algo
                    .tile(shape.in_channels, shape.out_channels, oh, ow)
            })
            .flatten();
        // Constant weights are packed now; weights that are graph inputs are packed at run
        // time into arena buffers of the sizes a placeholder packing gives.
        let mut runtime_weights = None;
        let packed = match (&wt, const_weights) {
            (Some(wt), true) => {
                let (w, b) = (wt.as_f32()?, bt.as_ref().map(|b| b.as_f32()).transpose()?);
                Box::new(
                    match wino {
                        Some(f) => kernels::pack_winograd(shape, w, b, f),
                        None => kernels::pack_conv(shape, w, b),
                    }
                    .map_err(|e| e.0)?,
                )
            }
            _ => {
                let n_w: usize = ws.iter().product();
                let zeros = vec![0.0f32; n_w.max(ws[0])];
                let placeholder =
                    kernels::pack_conv(shape, &zeros[..n_w], b_id.map(|_| &zeros[..ws[0]]))
                        .map_err(|e| e.0)?;
                let (wl, bl) = (placeholder.weights.len(), placeholder.bias.len());
                let wbuf = self.temp(&[wl], 4, &format!("{} packed weights", node.name));
                let bbuf = self.temp(&[bl], 4, &format!("{} packed bias", node.name));
                let lw = self.row_major_loc(&node.name, w)?;
                let pp = kernels::PackConvParams {
                    in_channels: shape.in_channels,
                    out_channels: shape.out_channels,
                    kernel_h: kh,
                    kernel_w: kw,
                    groups: conv.group,
                    weights: std::ptr::null(),
                    bias: std::ptr::null(),
                    out_weights: std::ptr::null_mut(),
                    out_weights_len: wl,
                    out_bias: std::ptr::null_mut(),
                    out_bias_len: bl,
                };
                let lb = match b_id {
                    Some(b) => Some(self.row_major_loc(&node.name, b)?),
                    None => None,
                };
                call!(
                    self.plan,
                    &node.name,
                    kernels::bqml_pack_conv,
                    pp,
                    CallKind::Once,
                    0,
                    format!("pack conv weights {ws:?} at run time"),
                    [
                        (kernels::PackConvParams, weights, lw.ptr(0)),
                        (kernels::PackConvParams, out_weights, wbuf.ptr(0)),
                        (kernels::PackConvParams, out_bias, bbuf.ptr(0))
                    ]
                );
                if let Some(lb) = lb {
                    let step = self.plan.steps.len() - 1;
                    self.plan
                        .add_ptr(step, offset_of!(kernels::PackConvParams, bias), lb.ptr(0));
                }
                runtime_weights = Some((wbuf.ptr(0), bbuf.ptr(0)));
                Box::new(placeholder)
            }
        };
        let mut p = kernels::ConvParams::from_packed(&packed, &geo, act.to_kernel());
        let units = kernels::winograd_units(packed.layout, oh, ow, ws[0]);
        // Weight pointers are per-call pointer fields, not template bytes, so the template
        // holds no addresses and an object file can relocate them.
        p.weights = std::ptr::null();
        p.bias = std::ptr::null();
        let (wp, bp) = match runtime_weights {
            Some(ptrs) => {
                self.plan.keep.push(packed);
                ptrs
            }
            None => self.plan.keep_packed(packed),
        };
        let lx = if conv.input_nhwc {
            let l = self.loc(x)?;
            let r = l.strides.len();
            let mut st = vec![l.strides[0], l.strides[r - 1]];
            st.extend(&l.strides[1..r - 1]);
            let view = l.view(l.offset, st);
            self.channel_last_from(
                &node.name,
                view,
                xs,
                pads,
                format!("{} channel-last input", node.name),
            )?
        } else {
            self.channel_last_loc(&node.name, x, pads)?
        };
        let y = self.alloc(out, true);
        let lr = match residual {
            Some(r) => Some(self.channel_last_loc(&node.name, r, [0; 4])?),
            None => None,
        };
        let strides_of = |l: &Loc| -> (isize, isize) {
            if two_d {
                (l.strides[2], l.strides[3])
            } else {
                (l.strides[2] * ow as isize, l.strides[2])
            }
        };
        let (irs, ips) = strides_of(&lx);
        let (ors, ops_) = strides_of(&y);
        p.in_row_stride = irs as usize;
        p.in_pixel_stride = ips as usize;
        p.out_row_stride = ors as usize;
        p.out_pixel_stride = ops_ as usize;
        if let Some(lr) = &lr {
            let (rrs, rps) = strides_of(lr);
            p.res_row_stride = rrs as usize;
            p.res_pixel_stride = rps as usize;
        }
        let macs = node.op.macs(g, node) / xs[0].max(1) as u64;
        for n in 0..xs[0] {
            let n = n as isize;
            let origin = n * lx.strides[0] - pads[0] as isize * irs - pads[2] as isize * ips;
            let desc = format!(
                "{} {}x{} /{} {}->{} {}x{} g{} {:?}",
                match wino {
                    Some(f) => format!("winograd F({f}x{f},3x3)"),
                    None => "conv".to_string(),
                },
                kh,
                kw,
                sw,
                xs[1],
                ws[0],
                oh,
                ow,
                conv.group,
                act
            );
            // Direct conv splits output rows between threads, Winograd its work units (tiles, and
            // output-channel halves when the layer has few tiles).
            let (symbol, addr, rows) = match wino {
                Some(_) => (
                    "bqml_winograd",
                    kernels::bqml_winograd as *const () as usize,
                    units,
                ),
                None => (
                    "bqml_conv2d",
                    kernels::bqml_conv2d as *const () as usize,
                    oh,
                ),
            };
            let mut ptrs = vec![
                (offset_of!(kernels::ConvParams, input), lx.ptr(origin)),
                (
                    offset_of!(kernels::ConvParams, output),
                    y.ptr(n * y.strides[0]),
                ),
            ];
            if let Some(lr) = &lr {
                ptrs.push((
                    offset_of!(kernels::ConvParams, residual),
                    lr.ptr(n * lr.strides[0]),
                ));
            }
            let call = KernelCall {
                symbol,
                addr,
                kind: CallKind::Rows { rows },
                template: template_of(&p),
                ptrs,
                loads: Vec::new(),
                desc,
            };
            self.plan.push(&node.name, StepKind::Call(call), macs);
            let step = self.plan.steps.len() - 1;
            self.plan
                .add_ptr(step, offset_of!(kernels::ConvParams, weights), wp);
            self.plan
                .add_ptr(step, offset_of!(kernels::ConvParams, bias), bp);
        }
        self.set(out, y);
        Ok(())
    }

    fn lower_pool(&mut self, node: &Node, pool: &ops::Pool) -> Result<(), String> {
        let (x, out) = (node.inputs[0].ok_or("no input")?, node.outputs[0]);
        let xs = self.shape(x).to_vec();
        let Some(win) = &pool.window else {
            // Global pools: reduce over the spatial axes.
            let lx = self.loc(x)?;
            let mut mask = vec![true; xs.len()];
            mask[0] = false;
            mask[1] = false;
            let y = self.alloc(out, false);
            let op = if pool.kind == PoolKind::Max {
                gk::REDUCE_MAX
            } else {
                gk::REDUCE_MEAN
            };
            self.reduce(&node.name, op, &lx, &xs, &mask, &y)?;
            self.set(out, y);
            return Ok(());
        };
        let r = win.resolve(&xs[2..])?;
        let kind = match (pool.kind, pool.count_include_pad) {
            (PoolKind::Max, _) => kernels::POOL_MAX,
            (_, true) => kernels::POOL_AVG_INCLUDE_PAD,
            (_, false) => kernels::POOL_AVG_EXCLUDE_PAD,
        };
        if xs.len() == 4 && !pool.indices {
            let lx = self.channel_last_loc(&node.name, x, [0; 4])?;
            let y = self.alloc(out, true);
            for n in 0..xs[0] {
                let n = n as isize;
                let p = kernels::PoolParams {
                    input: std::ptr::null(),
                    in_row_stride: lx.strides[2] as usize,
                    in_pixel_stride: lx.strides[3] as usize,
                    in_h: xs[2],
                    in_w: xs[3],
                    channels: xs[1],
                    output: std::ptr::null_mut(),
                    out_row_stride: y.strides[2] as usize,
                    out_pixel_stride: y.strides[3] as usize,
                    out_h: r.out[0],
                    out_w: r.out[1],
                    kernel_h: win.kernel[0],
                    kernel_w: win.kernel[1],
                    stride_h: win.strides[0],
                    stride_w: win.strides[1],
                    dilation_h: win.dilations[0],
                    dilation_w: win.dilations[1],
                    pad_top: r.pads_begin[0],
                    pad_left: r.pads_begin[1],
                    pad_bottom: r.pads_end[0],
                    pad_right: r.pads_end[1],
                    kind,
                };
                call!(
                    self.plan,
                    &node.name,
                    kernels::bqml_pool2d,
                    p,
                    CallKind::Rows { rows: r.out[0] },
                    0,
                    format!("pool2d kind {kind} {:?}/{:?}", win.kernel, win.strides),
                    [
                        (kernels::PoolParams, input, lx.ptr(n * lx.strides[0])),
                        (kernels::PoolParams, output, y.ptr(n * y.strides[0]))
                    ]
                );
            }
            self.set(out, y);
            return Ok(());
        }
        let sp = xs.len() - 2;
        if !(1..=3).contains(&sp) {
            return Err(format!("{sp}-D pooling is not supported by the compiler"));
        }
        // Column-major indices (storage_order=1) are the row-major indices of the input with
        // its spatial axes reversed: pool that reversed copy, then reverse the results back.
        let rev = pool.indices && pool.column_major_indices;
        let flip = |v: &[usize]| -> Vec<usize> {
            if rev {
                v.iter().rev().copied().collect()
            } else {
                v.to_vec()
            }
        };
        let flip_loc = |l: &Loc| -> Loc {
            let mut st = l.strides[..2].to_vec();
            st.extend(l.strides[2..].iter().rev());
            l.view(l.offset, st)
        };
        let mut in_shape = xs[..2].to_vec();
        in_shape.extend(flip(&xs[2..]));
        let mut out_shape = xs[..2].to_vec();
        out_shape.extend(flip(&r.out));
        let lx = if rev {
            let src = flip_loc(&self.loc(x)?);
            let t = self.temp(
                &in_shape,
                4,
                &format!("{} spatially reversed input", node.name),
            );
            self.copy(&node.name, &src, &t, &in_shape)?;
            t
        } else {
            self.row_major_loc(&node.name, x)?
        };
        let y_final = self.alloc(out, false);
        let y = if rev {
            self.temp(&out_shape, 4, &format!("{} reversed output", node.name))
        } else {
            y_final.clone()
        };
        let idx_final = match node.outputs.get(1) {
            Some(&i) if pool.indices => {
                let l = self.alloc(i, false);
                self.set(i, l.clone());
                Some((i, l))
            }
            _ => None,
        };
        let idx = match &idx_final {
            Some(_) if rev => {
                Some(self.temp(&out_shape, 8, &format!("{} reversed indices", node.name)))
            }
            Some((_, l)) => Some(l.clone()),
            None => None,
        };
        let p = gk::PoolNdParams {
            kind,
            spatial: sp,
            batch_channels: xs[0] * xs[1],
            in_shape: arr(&in_shape[2..])?,
            out_shape: arr(&out_shape[2..])?,
            kernel: arr(&flip(&win.kernel))?,
            strides: arr(&flip(&win.strides))?,
            dilations: arr(&flip(&win.dilations))?,
            pads_begin: arr(&flip(&r.pads_begin))?,
            pads_end: arr(&flip(&r.pads_end))?,
            x: std::ptr::null(),
            y: std::ptr::null_mut(),
            indices: std::ptr::null_mut(),
        };
        let desc = format!("pool_nd kind {kind} {:?}", win.kernel);
        match &idx {
            Some(li) => call!(
                self.plan,
                &node.name,
                gk::bqml_pool_nd,
                p,
                CallKind::Once,
                0,
                desc,
                [
                    (gk::PoolNdParams, x, lx.ptr(0)),
                    (gk::PoolNdParams, y, y.ptr(0)),
                    (gk::PoolNdParams, indices, li.ptr(0))
                ]
            ),
            None => call!(
                self.plan,
                &node.name,
                gk::bqml_pool_nd,
                p,
                CallKind::Once,
                0,
                desc,
                [
                    (gk::PoolNdParams, x, lx.ptr(0)),
                    (gk::PoolNdParams, y, y.ptr(0))
                ]
            ),
        }
        if rev {
            let ys = self.shape(out).to_vec();
            self.copy(&node.name, &flip_loc(&y), &y_final, &ys)?;
            if let (Some((_, li)), Some(t)) = (&idx_final, &idx) {
                self.copy(&node.name, &flip_loc(t), li, &ys)?;
            }
        }
        self.set(out, y_final);
        Ok(())
    }

    fn lower_gemm(&mut self, node: &Node, gm: &ops::Gemm) -> Result<(), String> {
        let g = self.g;
        let (a, b, out) = (
            node.inputs[0].ok_or("no A")?,
            node.inputs[1].ok_or("no B")?,
            node.outputs[0],
        );
        let c = node.inputs.get(2).copied().flatten();
        let (as_, bs) = (self.shape(a).to_vec(), self.shape(b).to_vec());
        let (m, k) = if gm.trans_a {
            (as_[1], as_[0])
        } else {
            (as_[0], as_[1])
        };
        let n = if gm.trans_b { bs[0] } else { bs[1] };
        let c_const = c.map(|c| g.consts.get(&c));
        let c_ok = match c_const {
            None => Some(None),
            Some(Some(t)) if t.len() == n || t.len() == 1 => Some(Some(t.clone())),
            _ => None,
        };
        if let (Some(bt), Some(ct)) = (g.consts.get(&b), c_ok) {
            let packed = Box::new(
                kernels::pack_gemm_b(
                    k,
                    n,
                    bt.as_f32()?,
                    gm.trans_b,
                    gm.alpha,
                    ct.as_ref().map(|t| t.as_f32()).transpose()?,
                    gm.beta,
                )
                .map_err(|e| e.0)?,
            );
            let la = self.loc(a)?;
            let la = if gm.trans_a || la.strides[1] != 1 {
                let t = self.temp(&[m, k], 4, &format!("{} A", node.name));
                let src = if gm.trans_a {
                    la.view(la.offset, vec![la.strides[1], la.strides[0]])
                } else {
                    la
                };
                self.copy(&node.name, &src, &t, &[m, k])?;
                t
            } else {
                la
            };
            let y = self.alloc(out, false);
            let p = kernels::GemmParams {
                a: std::ptr::null(),
                lda: la.strides[0] as usize,
                b_packed: std::ptr::null(),
                bias: std::ptr::null(),
                y: std::ptr::null_mut(),
                ldy: n,
                residual: std::ptr::null(),
                ldr: 0,
                m,
                k,
                n,
                activation: kernels::Act::None.to_c(),
            };
            let (wp, bp) = self.plan.keep_packed(packed);
            call!(
                self.plan,
                &node.name,
                kernels::bqml_gemm,
                p,
                CallKind::Rows { rows: m },
                (m * n * k) as u64,
                format!("gemm {m}x{k}x{n}"),
                [
                    (kernels::GemmParams, a, la.ptr(0)),
                    (kernels::GemmParams, y, y.ptr(0)),
                    (kernels::GemmParams, b_packed, wp),
                    (kernels::GemmParams, bias, bp)
                ]
            );
            self.set(out, y);
            return Ok(());
        }
        // General form: alpha·op(A)·op(B) + beta·C with run-time operands.
        let la = self.loc(a)?;
        let lb = self.loc(b)?;
        let la = if gm.trans_a {
            la.view(la.offset, vec![la.strides[1], la.strides[0]])
        } else {
            la
        };
        let lb = if gm.trans_b {
            lb.view(lb.offset, vec![lb.strides[1], lb.strides[0]])
        } else {
            lb
        };
        let y = self.alloc(out, false);
        self.matmul(&node.name, 1, m, k, n, &la, 0, &lb, 0, &y, 0)?;
        if gm.alpha != 1.0 {
            let lt = self.scalar_loc(gm.alpha);
            self.binary(
                &node.name,
                gk::BINARY_MUL,
                &y.clone(),
                &[m, n],
                &lt,
                &[],
                &y,
                &[m, n],
                DType::F32,
            )?;
        }
        if let Some(c) = c {
            let lc = self.loc(c)?;
            let cs = self.shape(c).to_vec();
            let lc = if gm.beta != 1.0 {
                let lt = self.scalar_loc(gm.beta);
                let tmp = self.temp(&cs, 4, &format!("{} beta*C", node.name));
                self.binary(
                    &node.name,
                    gk::BINARY_MUL,
                    &lc,
                    &cs,
                    &lt,
                    &[],
                    &tmp,
                    &cs,
                    DType::F32,
                )?;
                tmp
            } else {
                lc
            };
            self.binary(
                &node.name,
                gk::BINARY_ADD,
                &y.clone(),
                &[m, n],
                &lc,
                &cs,
                &y,
                &[m, n],
                DType::F32,
            )?;
        }
        self.set(out, y);
        Ok(())
    }

    /// `batch` matmuls of `[m,k]·[k,n]`; operand matrices must have unit column stride
    /// (copied to row-major otherwise).
    #[allow(clippy::too_many_arguments)]
    fn matmul(
        &mut self,
        node: &str,
        batch: usize,
        m: usize,
        k: usize,
        n: usize,
        la: &Loc,
        a_bs: isize,
        lb: &Loc,
        b_bs: isize,
        y: &Loc,
        y_bs: isize,
    ) -> Result<(), String> {
        let fix = |s: &mut Self,
                   l: &Loc,
                   rows: usize,
                   cols: usize,
                   bs: isize,
                   what: &str|
         -> Result<(Loc, isize), String> {
            let r = l.strides.len();
            if l.strides[r - 1] == 1 || cols == 1 {
                return Ok((l.clone(), bs));
            }
            let t = s.temp(&[batch, rows, cols], 4, &format!("{node} {what}"));
            let src = l.view(l.offset, vec![bs, l.strides[r - 2], l.strides[r - 1]]);
            s.copy(node, &src, &t, &[batch, rows, cols])?;
            Ok((
                t.view(0, vec![(rows * cols) as isize, cols as isize, 1]),
                (rows * cols) as isize,
            ))
        };
        let (la, a_bs) = fix(self, la, m, k, a_bs, "A")?;
        let (lb, b_bs) = fix(self, lb, k, n, b_bs, "B")?;
        let ra = la.strides.len();
        let rb = lb.strides.len();
        let lda = if ra >= 2 {
            la.strides[ra - 2]
        } else {
            k as isize
        };
        let ldb = if rb >= 2 {
            lb.strides[rb - 2]
        } else {
            n as isize
        };
        let p = gk::MatMulParams {
            batch,
            m,
            k,
            n,
            a: std::ptr::null(),
            a_batch_stride: a_bs,
            lda: lda.max(0) as usize,
            b: std::ptr::null(),
            b_batch_stride: b_bs,
            ldb: ldb.max(0) as usize,
            y: std::ptr::null_mut(),
            y_batch_stride: y_bs,
            ldy: n,
        };
        call!(
            self.plan,
            node,
            gk::bqml_matmul,
            p,
            CallKind::Once,
            (batch * m * n * k) as u64,
            format!("matmul {batch}x[{m}x{k}x{n}]"),
            [
                (gk::MatMulParams, a, la.ptr(0)),
                (gk::MatMulParams, b, lb.ptr(0)),
                (gk::MatMulParams, y, y.ptr(0))
            ]
        );
        Ok(())
    }

    fn lower_matmul(&mut self, node: &Node) -> Result<(), String> {
        let (a, b, out) = (
            node.inputs[0].ok_or("no A")?,
            node.inputs[1].ok_or("no B")?,
            node.outputs[0],
        );
        let (sa, sb) = (self.shape(a).to_vec(), self.shape(b).to_vec());
        let la = self.row_major_loc(&node.name, a)?;
        let lb = self.row_major_loc(&node.name, b)?;
        // Promote 1-D operands: [k] → [1, k] and [k] → [k, 1].
        let (sa2, sb2) = (
            if sa.len() == 1 {
                vec![1, sa[0]]
            } else {
                sa.clone()
            },
            if sb.len() == 1 {
                vec![sb[0], 1]
            } else {
                sb.clone()
            },
        );
        let (m, k, n) = (sa2[sa2.len() - 2], sa2[sa2.len() - 1], sb2[sb2.len() - 1]);
        let ba = &sa2[..sa2.len() - 2];
        let bb = &sb2[..sb2.len() - 2];
        let bshape = ops::util::broadcast_shapes(&[ba, bb])?;
        let y = self.alloc(out, false);
        let la2 = la.view(la.offset, row_major(&sa2));
        let lb2 = lb.view(lb.offset, row_major(&sb2));
        let batches: usize = bshape.iter().product();
        let sta = Self::bstrides(&la.view(0, row_major(ba)), ba, &bshape);
        let stb = Self::bstrides(&lb.view(0, row_major(bb)), bb, &bshape);
        let (ma, mb) = ((m * k) as isize, (k * n) as isize);
        let mut idx = vec![0usize; bshape.len()];
        for bi in 0..batches.max(1) {
            let oa: isize = idx
                .iter()
                .zip(&sta)
                .map(|(&i, &s)| i as isize * s)
                .sum::<isize>()
                * ma;
            let ob: isize = idx
                .iter()
                .zip(&stb)
                .map(|(&i, &s)| i as isize * s)
                .sum::<isize>()
                * mb;
            let oy = (bi * m * n) as isize;
            let a_l = la2.view(
                la2.offset + oa,
                la2.strides[la2.strides.len() - 2..].to_vec(),
            );
            let b_l = lb2.view(
                lb2.offset + ob,
                lb2.strides[lb2.strides.len() - 2..].to_vec(),
            );
            let y_l = y.view(y.offset + oy, vec![n as isize, 1]);
            self.matmul(&node.name, 1, m, k, n, &a_l, 0, &b_l, 0, &y_l, 0)?;
            for d in (0..bshape.len()).rev() {
                idx[d] += 1;
                if idx[d] < bshape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        self.set(out, y);
        Ok(())
    }
}

fn b_is_i64_pow(a: DType, b: DType) -> bool {
    a == DType::F32 && b == DType::I64
}
