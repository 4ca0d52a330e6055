//! Runs ONNX backend-test folders (`model.onnx` + `test_data_set_*/{input,output}_N.pb`)
//! against any backend and compares like `onnx.backend.test.runner`: same number of
//! outputs, exact shape and dtype, `|actual - expected| <= atol + rtol * |expected|`.

use std::path::{Path, PathBuf};

use prost::Message;
use runtime::tensor::fmt_shape;
use runtime::Tensor;

use crate::onnx::TensorProto;
use crate::proto::tensor_from_proto;

/// The ONNX runner's default tolerances.
pub const RTOL: f64 = 1e-3;
pub const ATOL: f64 = 1e-7;

/// Where the shared fixtures live: `$BQMLC_SHARED`, else `../shared` beside the workspace.
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("BQMLC_SHARED") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
    }
}

/// Reads a serialised `TensorProto` file.
pub fn read_tensor_pb(path: &Path) -> Result<(String, Tensor), String> {
    let bytes = runtime::limits::read_file(path, runtime::limits::MAX_TENSOR_FILE_BYTES)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let tp = TensorProto::decode(bytes.as_slice())
        .map_err(|e| format!("{}: not a TensorProto: {e}", path.display()))?;
    let t =
        tensor_from_proto(&tp, path.parent()).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((tp.name().to_string(), t))
}

/// Decodes a serialized `TensorProto` held in memory: its name and value. External data is
/// refused (there is no folder to resolve it against).
pub fn tensor_pb_from_bytes(bytes: &[u8]) -> Result<(String, Tensor), String> {
    let tp = TensorProto::decode(bytes).map_err(|e| format!("not a TensorProto: {e}"))?;
    let t = tensor_from_proto(&tp, None)?;
    Ok((tp.name().to_string(), t))
}

/// One test data set: inputs in graph-input order and expected outputs.
pub struct DataSet {
    pub inputs: Vec<Tensor>,
    pub outputs: Vec<Tensor>,
}

/// Reads `input_N.pb` / `output_N.pb` of one data set folder.
pub fn read_data_set(dir: &Path) -> Result<DataSet, String> {
    let read_all = |prefix: &str| -> Result<Vec<Tensor>, String> {
        let mut v = Vec::new();
        loop {
            let p = dir.join(format!("{prefix}_{}.pb", v.len()));
            if !p.exists() {
                return Ok(v);
            }
            v.push(read_tensor_pb(&p)?.1);
        }
    };
    Ok(DataSet {
        inputs: read_all("input")?,
        outputs: read_all("output")?,
    })
}

/// Largest |Δ| and whether every element is within tolerance, or a shape/dtype mismatch.
pub fn compare(actual: &Tensor, expected: &Tensor) -> Result<f64, String> {
    if actual.shape() != expected.shape() {
        return Err(format!(
            "shape {} differs from expected {}",
            fmt_shape(actual.shape()),
            fmt_shape(expected.shape())
        ));
    }
    if actual.dtype() != expected.dtype() {
        return Err(format!(
            "dtype {} differs from expected {}",
            actual.dtype(),
            expected.dtype()
        ));
    }
    let (a, e) = (actual.to_f64_vec(), expected.to_f64_vec());
    let mut max_delta = 0f64;
    let mut bad = None;
    for (i, (x, y)) in a.iter().zip(&e).enumerate() {
        let both_nan = x.is_nan() && y.is_nan();
        let d = (x - y).abs();
        if !both_nan && (d.is_nan() || d > ATOL + RTOL * y.abs()) && bad.is_none() {
            bad = Some((i, *x, *y));
        }
        if d > max_delta || d.is_nan() {
            max_delta = d;
        }
    }
    match bad {
        None => Ok(max_delta),
        Some((i, x, y)) => Err(format!(
            "max |Δ| = {max_delta:.3e}; first mismatch at flat index {i}: got {x}, expected {y}"
        )),
    }
}

/// A backend under test: model path and inputs (in graph-input order) to outputs.
pub type Backend<'a> = &'a dyn Fn(&Path, &[Tensor]) -> Result<Vec<Tensor>, String>;

/// Runs every data set of one test folder; returns the max |Δ| over all outputs.
pub fn run_case(dir: &Path, backend: Backend) -> Result<f64, String> {
    let model = dir.join("model.onnx");
    let mut sets: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("test_data_set"))
        })
        .collect();
    sets.sort();
    if sets.is_empty() {
        return Err(format!("{} has no test_data_set_*", dir.display()));
    }
    let mut max_delta = 0f64;
    for set in sets {
        let ds = read_data_set(&set)?;
        let got = backend(&model, &ds.inputs)?;
        if got.len() != ds.outputs.len() {
            return Err(format!(
                "{} outputs, expected {}",
                got.len(),
                ds.outputs.len()
            ));
        }
        for (i, (g, e)) in got.iter().zip(&ds.outputs).enumerate() {
            let d = compare(g, e).map_err(|m| format!("output {i}: {m}"))?;
            max_delta = max_delta.max(d);
        }
    }
    Ok(max_delta)
}

/// Imports a test model for a data set whose int64 inputs are bound as constants.
///
/// bqmlc specialises every shape at compile time, so operands that determine shapes
/// (Reshape's shape, ReduceMean's axes, …) must be constants. The node tests feed them
/// as graph inputs; in the selected tests int64 data is only ever such an index operand,
/// so each int64 input becomes an initializer holding the data set's value. When the model
/// still needs a value to know a shape (Range's float or int32 bounds), its scalar inputs are
/// bound too. Returns the graph and the remaining (runtime) inputs in graph-input order.
pub fn load_with_index_inputs_bound(
    model: &Path,
    inputs: &[Tensor],
) -> Result<(crate::ir::Graph, Vec<Tensor>), String> {
    match load_binding(model, inputs, false) {
        Err(e) if e.contains("must be a constant known at compile time") => {
            load_binding(model, inputs, true)
        }
        r => r,
    }
}

/// [`load_with_index_inputs_bound`] binding int64 inputs, and scalar inputs when `scalars`.
fn load_binding(
    model: &Path,
    inputs: &[Tensor],
    scalars: bool,
) -> Result<(crate::ir::Graph, Vec<Tensor>), String> {
    let bytes =
        std::fs::read(model).map_err(|e| format!("cannot read {}: {e}", model.display()))?;
    let proto = crate::import::decode(&bytes).map_err(|e| e.to_string())?;
    let graph = proto.graph.as_ref().ok_or("the model has no graph")?;
    let initialized: Vec<&str> = graph.initializer.iter().map(|t| t.name()).collect();
    let declared: Vec<&str> = graph
        .input
        .iter()
        .map(|v| v.name())
        .filter(|n| !initialized.contains(n))
        .collect();
    if declared.len() != inputs.len() {
        return Err(format!(
            "model has {} inputs, data set has {}",
            declared.len(),
            inputs.len()
        ));
    }
    let mut opts = crate::import::ImportOptions {
        base_dir: model.parent().map(Path::to_path_buf),
        ..Default::default()
    };
    let mut runtime = Vec::new();
    for (name, t) in declared.iter().zip(inputs) {
        if t.dtype() == runtime::DType::I64 || (scalars && t.rank() == 0) {
            opts.const_inputs.insert(name.to_string(), t.clone());
        } else {
            runtime.push(t.clone());
        }
    }
    let g = crate::import::load_bytes(&bytes, &opts).map_err(|e| e.to_string())?;
    Ok((g, runtime))
}

/// The reference-interpreter backend.
pub fn reference_backend(model: &Path, inputs: &[Tensor]) -> Result<Vec<Tensor>, String> {
    let (g, inputs) = load_with_index_inputs_bound(model, inputs)?;
    if g.inputs.len() != inputs.len() {
        return Err(format!(
            "model has {} runtime inputs, data set has {}",
            g.inputs.len(),
            inputs.len()
        ));
    }
    let named: Vec<(&str, &Tensor)> = g
        .inputs
        .iter()
        .map(|&id| g.values[id].name.as_str())
        .zip(&inputs)
        .collect();
    crate::reference::run(&g, &named).map_err(|e| e.to_string())
}

/// Test names listed in a manifest file.
pub fn manifest(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

/// The compiled (Cranelift JIT) backend: optimise, lower, generate, run on one thread.
pub fn jit_backend(model: &Path, inputs: &[Tensor]) -> Result<Vec<Tensor>, String> {
    jit_backend_on(None, model, inputs)
}

/// [`jit_backend`] with convolutions pinned to the portable kernel tier.
pub fn jit_portable_backend(model: &Path, inputs: &[Tensor]) -> Result<Vec<Tensor>, String> {
    jit_backend_on(Some(kernels::Isa::Portable), model, inputs)
}

/// [`jit_backend`] with convolutions pinned to the AVX2 kernel tier.
pub fn jit_avx2_backend(model: &Path, inputs: &[Tensor]) -> Result<Vec<Tensor>, String> {
    jit_backend_on(Some(kernels::Isa::Avx2Fma), model, inputs)
}

/// [`jit_backend`] with convolutions pinned to the AVX-512 kernel tier.
pub fn jit_avx512_backend(model: &Path, inputs: &[Tensor]) -> Result<Vec<Tensor>, String> {
    jit_backend_on(Some(kernels::Isa::Avx512), model, inputs)
}

/// The JIT with kernel tier `isa` (`None`: the best this CPU has).
fn jit_backend_on(
    isa: Option<kernels::Isa>,
    model: &Path,
    inputs: &[Tensor],
) -> Result<Vec<Tensor>, String> {
    let (g, inputs) = load_with_index_inputs_bound(model, inputs)?;
    let opts = crate::pipeline::CompileOptions {
        isa,
        ..Default::default()
    };
    let (compiled, _) = crate::compile_with(g, &opts).map_err(|e| e.to_string())?;
    let mut state = compiled.new_state(1);
    let refs: Vec<&Tensor> = inputs.iter().collect();
    compiled.predict(&mut state, &refs)
}
