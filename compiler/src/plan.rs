//! The execution plan: the optimised graph lowered to a list of kernel calls over buffers
//! with concrete strides, plus the arena layout. Codegen turns it into one native function.

use std::sync::Arc;

use runtime::{IoSpec, Tensor};

/// Index of an arena buffer in [`Plan::buffers`].
pub type BufId = usize;

/// Where a kernel's pointer argument points, plus a byte offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ptr {
    /// Inside arena buffer `BufId`.
    Buf(BufId, isize),
    /// Inside the caller's input `i`.
    Input(usize, isize),
    /// Inside the caller's output `i`.
    Output(usize, isize),
    /// An absolute address of data the model keeps alive (weights, constants).
    Abs(usize),
}

/// How a kernel is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    /// `kernel(params)`.
    Once,
    /// `kernel(params) -> u32`; non-zero aborts the run with status `code`.
    Checked { code: u32 },
    /// `kernel(params, start, end)` over `rows` rows, split between threads.
    Rows { rows: usize },
}

/// One call of an `extern "C"` kernel with a params struct. The struct's bytes (pointer
/// fields null) are the template; generated code copies it to the stack and stores the
/// pointer fields.
pub struct KernelCall {
    /// The kernel's exported symbol name.
    pub symbol: &'static str,
    /// Its address in this process.
    pub addr: usize,
    pub kind: CallKind,
    /// The params struct's bytes as 8-byte words, padding zeroed.
    pub template: Box<[u64]>,
    /// `(byte offset of a pointer field, where it points)`.
    pub ptrs: Vec<(usize, Ptr)>,
    /// `(byte offset of a scalar field, where to read its value, bytes)`: fields whose value
    /// is only known at run time (e.g. Pad's fill value given as a graph input).
    pub loads: Vec<(usize, Ptr, u8)>,
    /// Human-readable summary for `--emit=plan` and profiles.
    pub desc: String,
}

/// An element-wise f32 loop emitted inline as Cranelift `f32x4` code.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum InlineOp {
    Relu,
    Clip { min: f32, max: f32 },
    Add,
    Sub,
    Mul,
    Div,
}

/// One step of the plan.
pub enum StepKind {
    Call(KernelCall),
    /// `y[i] = op(a[i] [, b[i]])` for `i < n`, all contiguous f32.
    Inline {
        op: InlineOp,
        a: Ptr,
        b: Option<Ptr>,
        y: Ptr,
        n: usize,
    },
}

/// A step with the graph node it came from, the multiply-adds it performs and its share
/// of the node's memory traffic ([`crate::ir::Graph::node_bytes`]).
pub struct Step {
    pub node: String,
    pub kind: StepKind,
    pub macs: u64,
    pub bytes: u64,
}

/// An arena buffer. `pinned` buffers hold a zeroed halo: they share memory only with
/// buffers of the same `halo_class` (identical storage layout), whose writers also touch
/// only the interior, so the halo stays zero from the arena's initialisation on.
#[derive(Clone, Debug)]
pub struct Buffer {
    pub bytes: usize,
    pub pinned: bool,
    /// Storage-layout key of a pinned buffer (empty otherwise).
    pub halo_class: String,
    pub first_use: usize,
    pub last_use: usize,
    /// Byte offset in the arena, set by [`Plan::assign_offsets`].
    pub offset: usize,
    pub label: String,
}

/// The lowered model.
#[derive(Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub buffers: Vec<Buffer>,
    pub arena_size: usize,
    pub inputs: Vec<IoSpec>,
    pub outputs: Vec<IoSpec>,
    /// Data the steps point into (packed weights, constant tensors).
    pub keep: Vec<Box<dyn std::any::Any + Send + Sync>>,
    /// Error texts for `CallKind::Checked` status codes (code `i + 1` is `statuses[i]`).
    pub statuses: Vec<String>,
    /// Every constant region that a `Ptr::Abs` may point into (each alive in `keep`), so
    /// an object file can define it as data and refer to it by symbol.
    pub consts: Vec<ConstBlob>,
}

/// A constant region of `len` bytes at `addr`, owned by something in [`Plan::keep`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConstBlob {
    pub addr: usize,
    pub len: usize,
}

const ALIGN: usize = 64;

/// The bytes of a kernel params struct as 8-byte words, padding zeroed (so a template holds
/// nothing but its fields: no stack garbage that could look like an address).
pub fn template_of<T: kernels::params::ParamBytes>(params: &T) -> Box<[u64]> {
    let mut bytes = params.to_bytes();
    bytes.resize(bytes.len().next_multiple_of(8), 0);
    bytes
        .chunks_exact(8)
        .map(|w| u64::from_ne_bytes(w.try_into().expect("8-byte chunk")))
        .collect()
}

impl Plan {
    /// Keeps a constant tensor alive and returns the address of its elements.
    pub fn keep_tensor(&mut self, t: Arc<Tensor>) -> usize {
        let addr = t.data_ptr() as usize;
        self.consts.push(ConstBlob {
            addr,
            len: t.len() * t.dtype().size(),
        });
        self.keep.push(Box::new(t));
        addr
    }

    /// Keeps packed weights alive; returns pointers to the weights and the bias.
    pub fn keep_packed(&mut self, packed: Box<kernels::PackedConv>) -> (Ptr, Ptr) {
        let mut ptr = |v: &[f32]| {
            let addr = v.as_ptr() as usize;
            self.consts.push(ConstBlob {
                addr,
                len: std::mem::size_of_val(v),
            });
            Ptr::Abs(addr)
        };
        let ptrs = (ptr(&packed.weights), ptr(&packed.bias));
        // Moving the box does not move the vectors' heap storage.
        self.keep.push(packed);
        ptrs
    }

    /// The constant region holding `addr` and the offset into it (a region's one-past-end
    /// address counts as inside it, for empty tensors).
    pub fn const_at(&self, addr: usize) -> Option<(usize, usize)> {
        let inside = |c: &ConstBlob| addr >= c.addr && addr < c.addr + c.len;
        let at_end = |c: &ConstBlob| addr == c.addr + c.len;
        self.consts
            .iter()
            .position(inside)
            .or_else(|| self.consts.iter().position(at_end))
            .map(|i| (i, addr - self.consts[i].addr))
    }

    /// A new arena buffer of `bytes` bytes; `halo_class` marks a zero-halo buffer and names
    /// its storage layout.
    pub fn new_buffer(&mut self, bytes: usize, halo_class: Option<String>, label: String) -> BufId {
        self.buffers.push(Buffer {
            bytes,
            pinned: halo_class.is_some(),
            halo_class: halo_class.unwrap_or_default(),
            first_use: usize::MAX,
            last_use: 0,
            offset: 0,
            label,
        });
        self.buffers.len() - 1
    }

    /// Records that step `step` touches `ptr`'s buffer (extends its lifetime).
    fn touch_at(&mut self, step: usize, ptr: Ptr) {
        if let Ptr::Buf(b, _) = ptr {
            let buf = &mut self.buffers[b];
            buf.first_use = buf.first_use.min(step);
            buf.last_use = buf.last_use.max(step);
        }
    }

    /// Adds a pointer field to kernel call `step`.
    pub fn add_ptr(&mut self, step: usize, field: usize, ptr: Ptr) {
        self.touch_at(step, ptr);
        if let StepKind::Call(c) = &mut self.steps[step].kind {
            c.ptrs.push((field, ptr));
        }
    }

    /// Adds a run-time scalar field to kernel call `step`.
    pub fn add_load(&mut self, step: usize, field: usize, ptr: Ptr, bytes: u8) {
        self.touch_at(step, ptr);
        if let StepKind::Call(c) = &mut self.steps[step].kind {
            c.loads.push((field, ptr, bytes));
        }
    }

    /// Appends a step, recording buffer lifetimes.
    pub fn push(&mut self, node: &str, kind: StepKind, macs: u64) {
        match &kind {
            StepKind::Call(c) => {
                let ptrs: Vec<Ptr> = c
                    .ptrs
                    .iter()
                    .map(|&(_, p)| p)
                    .chain(c.loads.iter().map(|&(_, p, _)| p))
                    .collect();
                for p in ptrs {
                    self.touch_at(self.steps.len(), p);
                }
            }
            StepKind::Inline { a, b, y, .. } => {
                let (a, b, y) = (*a, *b, *y);
                self.touch_at(self.steps.len(), a);
                if let Some(b) = b {
                    self.touch_at(self.steps.len(), b);
                }
                self.touch_at(self.steps.len(), y);
            }
        }
        self.steps.push(Step {
            node: node.to_string(),
            kind,
            macs,
            bytes: 0,
        });
    }

    /// Assigns arena offsets. Pinned (zero-halo) buffers come first: within each halo class,
    /// buffers with disjoint lifetimes share a slot; classes never overlap each other or
    /// anything else. The other buffers follow, sharing space first-fit by lifetime (two
    /// buffers overlap in memory only if their step intervals are disjoint).
    pub fn assign_offsets(&mut self) {
        let used: Vec<BufId> = (0..self.buffers.len())
            .filter(|&b| self.buffers[b].first_use != usize::MAX)
            .collect();
        let mut end = 0usize;
        let mut classes: Vec<String> = used
            .iter()
            .filter(|&&b| self.buffers[b].pinned)
            .map(|&b| self.buffers[b].halo_class.clone())
            .collect();
        classes.sort();
        classes.dedup();
        for class in classes {
            let mut members: Vec<BufId> = used
                .iter()
                .copied()
                .filter(|&b| self.buffers[b].pinned && self.buffers[b].halo_class == class)
                .collect();
            members.sort_by_key(|&b| self.buffers[b].first_use);
            let size = members
                .iter()
                .map(|&b| self.buffers[b].bytes)
                .max()
                .unwrap_or(0)
                .div_ceil(ALIGN)
                * ALIGN;
            // (offset, last step using it)
            let mut slots: Vec<(usize, usize)> = Vec::new();
            for b in members {
                let (first, last) = (self.buffers[b].first_use, self.buffers[b].last_use);
                let offset = match slots.iter_mut().find(|(_, l)| *l < first) {
                    Some(slot) => {
                        slot.1 = last;
                        slot.0
                    }
                    None => {
                        slots.push((end, last));
                        end += size;
                        end - size
                    }
                };
                self.buffers[b].offset = offset;
            }
        }
        let base = end;
        // Placed buffers by (first use, id) → (offset, bytes, last use). A buffer overlapping
        // [first, last] in time starts at most `longest` steps before `first`, so only that
        // range is scanned (linear in the buffer count for short-lived values, not quadratic).
        let mut placed: std::collections::BTreeMap<(usize, BufId), (usize, usize, usize)> =
            std::collections::BTreeMap::new();
        let mut longest = 0usize;
        let mut order: Vec<BufId> = used
            .into_iter()
            .filter(|&b| !self.buffers[b].pinned)
            .collect();
        order.sort_by_key(|&b| std::cmp::Reverse(self.buffers[b].bytes));
        for b in order {
            let (bytes, first, last) = {
                let x = &self.buffers[b];
                (x.bytes.div_ceil(ALIGN) * ALIGN, x.first_use, x.last_use)
            };
            let from = (first.saturating_sub(longest), 0);
            let mut conflicts: Vec<(usize, usize)> = placed
                .range(from..=(last, usize::MAX))
                .filter(|&(_, &(_, _, l))| l >= first)
                .map(|(_, &(o, s, _))| (o, o + s))
                .collect();
            conflicts.sort();
            let mut offset = base;
            for (s, e) in conflicts {
                if offset + bytes <= s {
                    break;
                }
                offset = offset.max(e);
            }
            self.buffers[b].offset = offset;
            placed.insert((first, b), (offset, bytes, last));
            longest = longest.max(last.saturating_sub(first));
            end = end.max(offset + bytes);
        }
        self.arena_size = end;
    }

    /// Arena byte offset of a buffer pointer (after [`Self::assign_offsets`]).
    pub fn buf_offset(&self, b: BufId, off: isize) -> isize {
        self.buffers[b].offset as isize + off
    }
}

impl std::fmt::Display for Ptr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ptr::Buf(b, o) => write!(f, "buf{b}{o:+}"),
            Ptr::Input(i, o) => write!(f, "in{i}{o:+}"),
            Ptr::Output(i, o) => write!(f, "out{i}{o:+}"),
            Ptr::Abs(a) => write!(f, "const@{a:#x}"),
        }
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "arena: {} bytes in {} buffers",
            self.arena_size,
            self.buffers.len()
        )?;
        for (i, b) in self.buffers.iter().enumerate() {
            if b.first_use == usize::MAX {
                continue;
            }
            let life = if b.pinned {
                format!(
                    "halo class {} steps {}..={}",
                    b.halo_class, b.first_use, b.last_use
                )
            } else {
                format!("steps {}..={}", b.first_use, b.last_use)
            };
            writeln!(
                f,
                "  buf{i}: offset {:>9} size {:>9}  {life}  {}",
                b.offset, b.bytes, b.label
            )?;
        }
        for (i, s) in self.steps.iter().enumerate() {
            match &s.kind {
                StepKind::Call(c) => {
                    let ptrs: Vec<String> =
                        c.ptrs.iter().map(|(o, p)| format!("@{o}={p}")).collect();
                    let kind = match c.kind {
                        CallKind::Once => String::new(),
                        CallKind::Checked { code } => format!(" checked({code})"),
                        CallKind::Rows { rows } => format!(" rows={rows}"),
                    };
                    writeln!(
                        f,
                        "{i:>4}: {}{kind} [{}] {}  # {}",
                        c.symbol,
                        ptrs.join(" "),
                        c.desc,
                        s.node
                    )?;
                }
                StepKind::Inline { op, a, b, y, n } => {
                    let b = b.map_or(String::new(), |b| format!(", {b}"));
                    writeln!(
                        f,
                        "{i:>4}: inline {op:?} n={n} ({a}{b}) -> {y}  # {}",
                        s.node
                    )?;
                }
            }
        }
        Ok(())
    }
}
