//! Data-movement ops: views (Identity, Transpose, Reshape family, Slice) that move no data,
//! and the copies of Concat, Split, Gather and Pad.

use std::mem::offset_of;
use std::sync::Arc;

use kernels::generic as gk;
use runtime::Tensor;

use super::layout::{around_axis, arr, reshape_strides, row_major, Base, Lowerer};
use crate::ir::Node;
use crate::ops::{self};
use crate::plan::{CallKind, Ptr};

impl Lowerer<'_> {
    /// Identity: the output is the input's location.
    pub(super) fn lower_identity(&mut self, node: &Node) -> Result<(), String> {
        let out = node.outputs[0];
        let x = node.inputs.first().copied().flatten();
        let l = self.loc(x.ok_or("no input")?)?;
        self.set(out, l);
        Ok(())
    }

    /// Transpose as a view: permuted strides.
    pub(super) fn lower_transpose(
        &mut self,
        node: &Node,
        t: &ops::Transpose,
    ) -> Result<(), String> {
        let out = node.outputs[0];
        let x = node.inputs.first().copied().flatten();
        let x = x.ok_or("no input")?;
        let l = self.loc(x)?;
        let rank = self.shape(x).len();
        let perm: Vec<usize> = t.perm.clone().unwrap_or_else(|| (0..rank).rev().collect());
        let strides = perm.iter().map(|&p| l.strides[p]).collect();
        self.set(out, l.view(l.offset, strides));
        Ok(())
    }

    /// Reshape, Flatten, Squeeze, Unsqueeze: a view of the input's layout when the new axes
    /// only split or merge dense runs of it (see [`reshape_strides`]), else a row-major view of
    /// a row-major copy.
    pub(super) fn lower_reshape(&mut self, node: &Node) -> Result<(), String> {
        let out = node.outputs[0];
        let x = node.inputs.first().copied().flatten();
        let name = node.name.as_str();
        let x = x.ok_or("no input")?;
        let l = self.loc(x)?;
        if let Some(strides) = reshape_strides(self.shape(x), &l.strides, self.shape(out)) {
            self.set(out, l.view(l.offset, strides));
            return Ok(());
        }
        // A channel-last 4-D result (a channel shuffle's last Reshape): copy straight into a
        // channel-last buffer, viewed in the input's shape.
        if self.channel_last.contains(&out) && self.shape(out).len() == 4 {
            let y = self.alloc(out, true);
            if let Some(st) = reshape_strides(self.shape(out), &y.strides, self.shape(x)) {
                self.copy(name, &l, &y.view(y.offset, st), self.shape(x))?;
                self.set(out, y);
                return Ok(());
            }
        }
        let l = self.row_major_loc(name, x)?;
        let strides = row_major(self.shape(out));
        self.set(out, l.view(l.offset, strides));
        Ok(())
    }

    /// Slice with constant starts/ends/axes/steps as a view.
    pub(super) fn lower_slice(&mut self, node: &Node) -> Result<(), String> {
        let g = self.g;
        let out = node.outputs[0];
        let x = node.inputs.first().copied().flatten();
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
        Ok(())
    }

    /// Concat: each input not already written in place by its producer (see
    /// [`Lowerer::plan_concat_slots`]) is copied into its slice of the output.
    pub(super) fn lower_concat(&mut self, node: &Node, c: &ops::Concat) -> Result<(), String> {
        let out = node.outputs[0];
        let name = node.name.as_str();
        let axis = ops::util::normalize_axis(c.axis, self.shape(out).len())?;
        let y = self.concat_buffer(out);
        let (mut start, mut in_place) = (0isize, 0);
        for &i in node.inputs.iter().flatten() {
            let li = self.loc(i)?;
            let dst = y.view(y.offset + start * y.strides[axis], y.strides.clone());
            if li.base == dst.base && li.offset == dst.offset && li.strides == dst.strides {
                in_place += 1;
            } else {
                self.copy(name, &li, &dst, self.shape(i))?;
            }
            start += self.shape(i)[axis] as isize;
        }
        if let (Base::Buf(b), true) = (y.base, in_place > 0) {
            let n = node.inputs.iter().flatten().count();
            let label = &mut self.plan.buffers[b].label;
            label.push_str(&format!(
                " (Concat {name}: {in_place} of {n} inputs written in place)"
            ));
        }
        self.set(out, y);
        Ok(())
    }

    /// Split: each output a view of its slice of the input, as Slice.
    pub(super) fn lower_split(&mut self, node: &Node, s: &ops::Split) -> Result<(), String> {
        let g = self.g;
        let x = node.inputs.first().copied().flatten();
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
            self.set(
                o,
                lx.view(lx.offset + start * lx.strides[axis], lx.strides.clone()),
            );
            start += sizes[k] as isize;
        }
        Ok(())
    }

    /// Gather with constant indices (checked against the axis at run time).
    pub(super) fn lower_gather(&mut self, node: &Node, ga: &ops::Gather) -> Result<(), String> {
        let g = self.g;
        let out = node.outputs[0];
        let x = node.inputs.first().copied().flatten();
        let name = node.name.as_str();
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
        // One index is a view: an offset along the axis, which a scalar index also drops.
        if it.len() == 1 {
            let n = shape[axis] as i64;
            let i = it.as_i64()?[0];
            let i = if i < 0 { i + n } else { i };
            if !(0..n).contains(&i) {
                return Err(format!(
                    "index {} is out of range for axis {axis} of size {n}",
                    it.as_i64()?[0]
                ));
            }
            let l = self.loc(x)?;
            let mut strides = l.strides.clone();
            let step = strides[axis];
            if it.rank() == 0 {
                strides.remove(axis);
            }
            let v = l.view(l.offset + i as isize * step, strides);
            self.set(out, v);
            return Ok(());
        }
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
        Ok(())
    }

    /// Pad with constant pads; the fill value is constant or read at run time.
    pub(super) fn lower_pad(&mut self, node: &Node, p: &ops::Pad) -> Result<(), String> {
        let g = self.g;
        let out = node.outputs[0];
        let x = node.inputs.first().copied().flatten();
        let name = node.name.as_str();
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
                Some(runtime::TensorData::I64(d)) => (d.first().copied().unwrap_or(0) as u64, None),
                Some(d) => return Err(format!("Pad value of type {} is not supported", d.dtype())),
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
        Ok(())
    }

    /// Constant, Shape, Size that were not folded (graph outputs): evaluated now.
    pub(super) fn lower_constant(&mut self, node: &Node) -> Result<(), String> {
        let out = node.outputs[0];
        // Folded away unless a graph output; evaluate now.
        let t = node.op.def().eval(&[])?.remove(0);
        let l = self.const_loc(Arc::new(t));
        self.set(out, l);
        Ok(())
    }
}

impl Lowerer<'_> {
    /// Expand: a copy from a view of the input with stride 0 on every broadcast axis.
    pub(super) fn lower_expand(&mut self, node: &Node) -> Result<(), String> {
        let x = node.inputs.first().copied().flatten().ok_or("no input")?;
        let out = node.outputs[0];
        let l = self.loc(x)?;
        let xs = self.shape(x).to_vec();
        let ys = self.shape(out).to_vec();
        let lead = ys.len() - xs.len();
        let strides: Vec<isize> = (0..ys.len())
            .map(|a| {
                if a < lead || xs[a - lead] != ys[a] {
                    0
                } else {
                    l.strides[a - lead]
                }
            })
            .collect();
        let src = l.view(0, strides);
        let y = self.alloc(out, false);
        self.copy(&node.name, &src, &y, &ys)?;
        self.set(out, y);
        Ok(())
    }
}
