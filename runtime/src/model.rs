//! `CompiledModel`: native code for one model specialised to its input shapes, the data it
//! refers to (packed weights, constants, kernel params templates), and the arena size.
//! A model is shared (`Send + Sync`); each caller owns a [`State`] with its arena.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::any::Any;

use crate::pool::Pool;
use crate::tensor::{fmt_shape, DType, Tensor};

/// The generated entry point: `(arena, inputs, outputs, pool) -> status` (0 = ok).
pub type EntryFn =
    unsafe extern "C" fn(*mut u8, *const *const u8, *const *mut u8, *const Pool) -> u32;

/// Name, dtype and concrete shape of a model input or output.
#[derive(Clone, Debug, PartialEq)]
pub struct IoSpec {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
}

/// A compiled model. Invariant: `entry` only touches the arena (of `arena_size` bytes), the
/// input/output buffers of the specs' sizes, and the data kept alive in `keep`.
pub struct CompiledModel {
    entry: EntryFn,
    arena_size: usize,
    inputs: Vec<IoSpec>,
    outputs: Vec<IoSpec>,
    /// Code memory and data the generated code points into; dropped with the model.
    _keep: Vec<Box<dyn Any + Send + Sync>>,
    /// Human-readable text describing each failure status code the entry may return.
    statuses: Vec<String>,
    /// Pool constructor of an ahead-of-time library (its code expects its own pool type).
    foreign_pool: Option<ForeignPool>,
}

/// The worker-pool constructor and destructor exported by an ahead-of-time library.
#[derive(Clone)]
pub struct ForeignPool {
    /// `threads -> pool` (never null for `threads > 1`).
    pub new: unsafe extern "C" fn(u32) -> *mut std::ffi::c_void,
    /// Frees a pool from `new`.
    pub free: unsafe extern "C" fn(*mut std::ffi::c_void),
    /// Keeps the library mapped while a state still holds one of its pools.
    pub library: std::sync::Arc<dyn Any + Send + Sync>,
}

/// The pool handed to generated code.
enum StatePool {
    None,
    Own(Pool),
    Foreign(*mut std::ffi::c_void, ForeignPool),
}

impl std::fmt::Debug for CompiledModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledModel")
            .field("arena_size", &self.arena_size)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish()
    }
}

/// Per-caller scratch: the zero-initialised arena (halos stay zero: nothing writes them).
pub struct State {
    arena: *mut u8,
    layout: Layout,
    pool: StatePool,
}

// SAFETY: the arena is owned exclusively by this State; both pool kinds are thread-safe
// (a foreign pool is the same `Pool` type compiled into the library).
unsafe impl Send for State {}

impl Drop for State {
    fn drop(&mut self) {
        if let StatePool::Foreign(p, f) = &self.pool {
            // SAFETY: `p` came from `f.new` and is freed once, here.
            unsafe { (f.free)(*p) };
        }
        if self.layout.size() > 0 {
            // SAFETY: allocated in `State::new` with this layout.
            unsafe { dealloc(self.arena, self.layout) };
        }
    }
}

const ARENA_ALIGN: usize = 64;

impl CompiledModel {
    /// Wraps generated code.
    ///
    /// # Safety
    /// `entry` must uphold the type's invariant for these specs and `arena_size`, and stay
    /// valid while `keep` lives.
    pub unsafe fn new(
        entry: EntryFn,
        arena_size: usize,
        inputs: Vec<IoSpec>,
        outputs: Vec<IoSpec>,
        keep: Vec<Box<dyn Any + Send + Sync>>,
        statuses: Vec<String>,
    ) -> CompiledModel {
        CompiledModel {
            entry,
            arena_size,
            inputs,
            outputs,
            _keep: keep,
            statuses,
            foreign_pool: None,
        }
    }

    /// Makes [`Self::new_state`] create worker pools with an ahead-of-time library's own
    /// constructor.
    ///
    /// # Safety
    /// `pool` must be the constructor pair of the library that the entry belongs to.
    pub unsafe fn with_foreign_pool(mut self, pool: ForeignPool) -> CompiledModel {
        self.foreign_pool = Some(pool);
        self
    }

    pub fn inputs(&self) -> &[IoSpec] {
        &self.inputs
    }

    pub fn outputs(&self) -> &[IoSpec] {
        &self.outputs
    }

    pub fn arena_size(&self) -> usize {
        self.arena_size
    }

    /// A fresh caller state running on `threads` threads.
    pub fn new_state(&self, threads: usize) -> State {
        let layout = Layout::from_size_align(self.arena_size.max(ARENA_ALIGN), ARENA_ALIGN)
            .expect("arena layout");
        // SAFETY: the layout has a non-zero size.
        let arena = unsafe { alloc_zeroed(layout) };
        if arena.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        let pool = match (threads > 1, &self.foreign_pool) {
            (false, _) => StatePool::None,
            (true, None) => StatePool::Own(Pool::new(threads)),
            (true, Some(f)) => {
                let f = f.clone();
                // SAFETY: the library's own constructor; freed in `State::drop`.
                let p = unsafe { (f.new)(threads.min(u32::MAX as usize) as u32) };
                if p.is_null() {
                    StatePool::None
                } else {
                    StatePool::Foreign(p, f)
                }
            }
        };
        State {
            arena,
            layout,
            pool,
        }
    }

    /// Runs the model on inputs given by name, in any order.
    pub fn predict_named(
        &self,
        state: &mut State,
        inputs: &[(&str, &Tensor)],
    ) -> Result<Vec<Tensor>, String> {
        let ordered = self
            .inputs
            .iter()
            .map(|spec| {
                inputs
                    .iter()
                    .find(|(n, _)| *n == spec.name)
                    .map(|(_, t)| *t)
                    .ok_or_else(|| {
                        format!(
                            "input '{}': missing: no value given for this input",
                            spec.name
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.predict(state, &ordered)
    }

    /// Runs the model on inputs given in [`Self::inputs`] order, after checking their
    /// dtypes and shapes.
    pub fn predict(&self, state: &mut State, inputs: &[&Tensor]) -> Result<Vec<Tensor>, String> {
        if inputs.len() != self.inputs.len() {
            return Err(format!(
                "the model takes {} inputs, {} were given",
                self.inputs.len(),
                inputs.len()
            ));
        }
        for (spec, t) in self.inputs.iter().zip(inputs) {
            if t.dtype() != spec.dtype {
                return Err(format!(
                    "input '{}': expected {} but got {}",
                    spec.name,
                    spec.dtype,
                    t.dtype()
                ));
            }
            if t.shape() != spec.shape {
                return Err(format!(
                    "input '{}': expected shape {} but got {}",
                    spec.name,
                    fmt_shape(&spec.shape),
                    fmt_shape(t.shape())
                ));
            }
        }
        if state.layout.size() < self.arena_size {
            return Err("the state was created for another model".into());
        }
        let mut outs: Vec<Tensor> = self
            .outputs
            .iter()
            .map(|s| Tensor::zeros(s.dtype, s.shape.clone()))
            .collect();
        let in_ptrs: Vec<*const u8> = inputs.iter().map(|t| t.data_ptr()).collect();
        let out_ptrs: Vec<*mut u8> = outs.iter_mut().map(tensor_data_ptr).collect();
        let pool = match &state.pool {
            StatePool::None => std::ptr::null(),
            StatePool::Own(p) => p as *const Pool,
            StatePool::Foreign(p, _) => *p as *const Pool,
        };
        // SAFETY: inputs match the specs (checked above), outputs were allocated from the
        // specs, the arena is at least `arena_size` bytes, and `keep` is alive.
        let _run = match &state.pool {
            StatePool::Own(p) => Some(p.active()),
            _ => None,
        };
        let status =
            unsafe { (self.entry)(state.arena, in_ptrs.as_ptr(), out_ptrs.as_ptr(), pool) };
        if status != 0 {
            let msg = self
                .statuses
                .get(status as usize - 1)
                .cloned()
                .unwrap_or_else(|| format!("status {status}"));
            return Err(msg);
        }
        Ok(outs)
    }
}

/// Pointer to a tensor's element storage (little-endian hosts: the in-memory layout is
/// the one generated code writes).
fn tensor_data_ptr(t: &mut Tensor) -> *mut u8 {
    t.data_mut_ptr()
}
