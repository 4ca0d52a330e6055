//! The C ABI of an ahead-of-time model library (see `compiler::aot` for the header that
//! documents it). This crate is built as a static library and linked by `bqmlc compile -o`
//! together with one generated model object, which defines `bqml_model_entry` and
//! `bqml_model_meta`; the kernels and the worker pool come from `kernels` and `runtime`.
//!
//! Every function is safe to call from any thread. A model handle owns its arena and pool,
//! so one handle serves one caller at a time; use one handle per thread for concurrency.
//! Errors are reported by return value and `bqml_last_error()` (per thread).

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::OnceLock;

use runtime::artifact::{self, ArtifactMeta};
use runtime::pool::Pool;

// Link `kernels` (and with it every `bqml_*` kernel symbol the model object imports).
pub use kernels::bqml_conv2d;

extern "C" {
    /// The generated model function (defined by the model object).
    fn bqml_model_entry(
        arena: *mut u8,
        inputs: *const *const u8,
        outputs: *const *mut u8,
        pool: *const c_void,
    ) -> u32;
    /// The metadata block (defined by the model object); its header gives its length.
    static bqml_model_meta: [u8; artifact::HEADER_LEN];
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_error(msg: &str) {
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// Metadata with C strings prepared for the query functions.
struct Meta {
    meta: ArtifactMeta,
    names: Vec<CString>,
    dtypes: Vec<CString>,
    shapes: Vec<Vec<i64>>,
    sha256: CString,
    features: CString,
}

fn meta() -> Result<&'static Meta, String> {
    static META: OnceLock<Result<Meta, String>> = OnceLock::new();
    META.get_or_init(|| {
        // SAFETY: the symbol is at least a header long; its header gives the block's
        // length, which the object defined in full.
        let m = unsafe {
            let base = std::ptr::addr_of!(bqml_model_meta) as *const u8;
            let len =
                ArtifactMeta::block_len(std::slice::from_raw_parts(base, artifact::HEADER_LEN))?;
            ArtifactMeta::parse(std::slice::from_raw_parts(base, len))?
        };
        let ios = m.inputs.iter().chain(&m.outputs);
        Ok(Meta {
            names: ios
                .clone()
                .map(|s| CString::new(s.name.clone()).unwrap_or_default())
                .collect(),
            dtypes: ios
                .clone()
                .map(|s| CString::new(s.dtype.name()).unwrap_or_default())
                .collect(),
            shapes: ios
                .map(|s| s.shape.iter().map(|&d| d as i64).collect())
                .collect(),
            sha256: CString::new(artifact::hex(&m.sha256)).unwrap_or_default(),
            features: CString::new(artifact::feature_names(m.features)).unwrap_or_default(),
            meta: m,
        })
    })
    .as_ref()
    .map_err(|e| e.clone())
}

/// A model instance: its arena and optional worker pool.
pub struct BqmlModel {
    arena: *mut u8,
    layout: Layout,
    pool: Option<Pool>,
    meta: &'static Meta,
}

/// The calling thread's last error message ("" if none). Valid until the thread's next call.
#[no_mangle]
pub extern "C" fn bqml_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// Creates a model instance running on `threads` threads (0 or 1: the caller only).
/// Checks the metadata and that this CPU has the features the code was compiled for.
/// Returns NULL on failure (see `bqml_last_error`).
#[no_mangle]
pub extern "C" fn bqml_model_create(threads: u32) -> *mut BqmlModel {
    let m = match meta().and_then(|m| artifact::check_features(m.meta.features).map(|_| m)) {
        Ok(m) => m,
        Err(e) => {
            set_error(&e);
            return std::ptr::null_mut();
        }
    };
    let Ok(layout) = Layout::from_size_align(m.meta.arena_size.max(64), 64) else {
        set_error("arena size overflows");
        return std::ptr::null_mut();
    };
    // SAFETY: the layout has a non-zero size.
    let arena = unsafe { alloc_zeroed(layout) };
    if arena.is_null() {
        set_error(&format!("cannot allocate the {}-byte arena", layout.size()));
        return std::ptr::null_mut();
    }
    Box::into_raw(Box::new(BqmlModel {
        arena,
        layout,
        pool: (threads > 1).then(|| Pool::new(threads as usize)),
        meta: m,
    }))
}

/// Frees a model instance (NULL is ignored).
///
/// # Safety
/// `model` is NULL or came from `bqml_model_create` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn bqml_model_destroy(model: *mut BqmlModel) {
    if model.is_null() {
        return;
    }
    // SAFETY: caller contract: a live handle from bqml_model_create, freed once.
    let m = unsafe { Box::from_raw(model) };
    // SAFETY: allocated in bqml_model_create with this layout.
    unsafe { dealloc(m.arena, m.layout) };
}

/// Runs the model. `inputs[i]` points to input `i`'s dense row-major elements and
/// `outputs[i]` to room for output `i` (sizes from the header or the query functions).
/// Returns 0 on success, non-zero on failure (see `bqml_last_error`).
///
/// # Safety
/// `model` is a live handle not used concurrently; the buffers have the sizes above.
#[no_mangle]
pub unsafe extern "C" fn bqml_model_run(
    model: *mut BqmlModel,
    inputs: *const *const c_void,
    outputs: *const *mut c_void,
) -> c_int {
    if model.is_null() || inputs.is_null() || outputs.is_null() {
        set_error("bqml_model_run: model, inputs and outputs must not be NULL");
        return -1;
    }
    // SAFETY: caller contract: a live, unshared handle.
    let m = unsafe { &mut *model };
    let n = m.meta.meta.inputs.len() + m.meta.meta.outputs.len();
    // SAFETY: caller contract: the arrays hold one pointer per input and output.
    let any_null = unsafe {
        (0..m.meta.meta.inputs.len()).any(|i| (*inputs.add(i)).is_null())
            || (0..n - m.meta.meta.inputs.len()).any(|i| (*outputs.add(i)).is_null())
    };
    if any_null {
        set_error("bqml_model_run: an input or output pointer is NULL");
        return -1;
    }
    let pool = m
        .pool
        .as_ref()
        .map_or(std::ptr::null(), |p| p as *const Pool as *const c_void);
    // SAFETY: the arena has the model's size, the buffers the documented sizes; the pool
    // is this library's own `Pool`, which is what its `bqml_run_rows` expects.
    let status = unsafe { bqml_model_entry(m.arena, inputs as _, outputs as _, pool) };
    if status != 0 {
        let msg = m
            .meta
            .meta
            .statuses
            .get(status as usize - 1)
            .cloned()
            .unwrap_or_else(|| format!("status {status}"));
        set_error(&msg);
        return status as c_int;
    }
    0
}

/// `bqml_model_run` after checking each input's shape: `input_ranks[i]` dimensions at
/// `input_shapes[i]` must equal the compiled shape. Returns -1 with a message naming the
/// input and both shapes otherwise, before any generated code runs.
///
/// # Safety
/// As `bqml_model_run`; the shape arrays hold one entry per input.
#[no_mangle]
pub unsafe extern "C" fn bqml_model_run_checked(
    model: *mut BqmlModel,
    inputs: *const *const c_void,
    input_shapes: *const *const i64,
    input_ranks: *const usize,
    outputs: *const *mut c_void,
) -> c_int {
    if model.is_null() || input_shapes.is_null() || input_ranks.is_null() {
        set_error("bqml_model_run_checked: model and shape arrays must not be NULL");
        return -1;
    }
    // SAFETY: caller contract: a live handle.
    let meta = unsafe { (*model).meta };
    for (i, spec) in meta.meta.inputs.iter().enumerate() {
        // SAFETY: caller contract: one rank and one shape pointer per input.
        let (rank, dims) = unsafe { (*input_ranks.add(i), *input_shapes.add(i)) };
        let given: Vec<i64> = if rank == 0 {
            Vec::new()
        } else if dims.is_null() {
            set_error(&format!("input '{}': shape pointer is NULL", spec.name));
            return -1;
        } else {
            // SAFETY: caller contract: `rank` dimensions at `dims`.
            unsafe { std::slice::from_raw_parts(dims, rank) }.to_vec()
        };
        if given != meta.shapes[i] {
            set_error(&format!(
                "input '{}': expected shape {:?} but got {:?}",
                spec.name, meta.shapes[i], given
            ));
            return -1;
        }
    }
    // SAFETY: forwarded caller contract; shapes checked.
    unsafe { bqml_model_run(model, inputs, outputs) }
}

fn io_index(output: bool, i: usize) -> Option<(&'static Meta, usize)> {
    let m = meta().ok()?;
    let (n, base) = if output {
        (m.meta.outputs.len(), m.meta.inputs.len())
    } else {
        (m.meta.inputs.len(), 0)
    };
    (i < n).then_some((m, base + i))
}

/// Number of inputs (0 if the metadata is unreadable).
#[no_mangle]
pub extern "C" fn bqml_model_num_inputs() -> usize {
    meta().map_or(0, |m| m.meta.inputs.len())
}

/// Number of outputs (0 if the metadata is unreadable).
#[no_mangle]
pub extern "C" fn bqml_model_num_outputs() -> usize {
    meta().map_or(0, |m| m.meta.outputs.len())
}

/// Name of input (`is_output` = 0) or output (1) `i`, NULL if out of range.
#[no_mangle]
pub extern "C" fn bqml_model_io_name(is_output: c_int, i: usize) -> *const c_char {
    io_index(is_output != 0, i).map_or(std::ptr::null(), |(m, k)| m.names[k].as_ptr())
}

/// Element type name (`float32`, `int64`, …) of an input or output, NULL if out of range.
#[no_mangle]
pub extern "C" fn bqml_model_io_dtype(is_output: c_int, i: usize) -> *const c_char {
    io_index(is_output != 0, i).map_or(std::ptr::null(), |(m, k)| m.dtypes[k].as_ptr())
}

/// Rank of an input or output (0 if out of range: check the name first).
#[no_mangle]
pub extern "C" fn bqml_model_io_rank(is_output: c_int, i: usize) -> usize {
    io_index(is_output != 0, i).map_or(0, |(m, k)| m.shapes[k].len())
}

/// Dimensions of an input or output (`rank` values), NULL if out of range.
#[no_mangle]
pub extern "C" fn bqml_model_io_shape(is_output: c_int, i: usize) -> *const i64 {
    io_index(is_output != 0, i).map_or(std::ptr::null(), |(m, k)| m.shapes[k].as_ptr())
}

/// Size in bytes of an input or output, 0 if out of range.
#[no_mangle]
pub extern "C" fn bqml_model_io_bytes(is_output: c_int, i: usize) -> usize {
    io_index(is_output != 0, i).map_or(0, |(m, k)| {
        let spec = m.meta.inputs.iter().chain(&m.meta.outputs).nth(k);
        spec.map_or(0, |s| s.shape.iter().product::<usize>() * s.dtype.size())
    })
}

/// Hex sha256 of the ONNX model the library was compiled from ("" if unreadable).
#[no_mangle]
pub extern "C" fn bqml_model_sha256() -> *const c_char {
    meta().map_or(c"".as_ptr(), |m| m.sha256.as_ptr())
}

/// Comma-separated CPU features the code needs ("" if unreadable).
#[no_mangle]
pub extern "C" fn bqml_model_cpu_features() -> *const c_char {
    meta().map_or(c"".as_ptr(), |m| m.features.as_ptr())
}

/// The artifact format version (0 if unreadable).
#[no_mangle]
pub extern "C" fn bqml_model_format_version() -> u32 {
    meta().map_or(0, |m| m.meta.version)
}

/// A worker pool of `threads` threads for `runtime::artifact`'s loader (its generated code
/// expects this library's own pool type).
#[no_mangle]
pub extern "C" fn bqml_pool_new(threads: u32) -> *mut c_void {
    Box::into_raw(Box::new(Pool::new(threads.max(1) as usize))) as *mut c_void
}

/// Frees a pool from `bqml_pool_new` (NULL is ignored).
///
/// # Safety
/// `pool` is NULL or from `bqml_pool_new`, not in use, and freed once.
#[no_mangle]
pub unsafe extern "C" fn bqml_pool_free(pool: *mut c_void) {
    if !pool.is_null() {
        // SAFETY: caller contract.
        drop(unsafe { Box::from_raw(pool as *mut Pool) });
    }
}
