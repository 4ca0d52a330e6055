//! Ahead-of-time compilation: an ONNX model → a shared library with a small C ABI.
//!
//! The pipeline is the JIT's (import, passes, lowering, the same code translator) with a
//! `cranelift-object` backend. The object is linked by the system `cc` with the embedded
//! `bqml-capi` static library (kernels, worker pool, C glue, built by this crate's build
//! script) into `libNAME.so`. The library records the format version, the model's sha256,
//! its input/output specs and the CPU features of its code (`runtime::artifact`); see
//! [`header`] for the C interface.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use runtime::artifact::ArtifactMeta;

pub use crate::codegen::TargetCpu;
use crate::error::{Diagnostic, Error, Result};
pub use crate::pipeline::sha256;
use crate::pipeline::{self, CompileOptions, Output, Source, Stage, StepInfo};

/// The `bqml-capi` static library linked into every artifact.
static CAPI_ARCHIVE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libbqml_capi.a"));

/// Symbols a model library exports (everything else stays local).
pub const EXPORTS: &[&str] = &[
    "bqml_last_error",
    "bqml_model_create",
    "bqml_model_destroy",
    "bqml_model_run",
    "bqml_model_run_checked",
    "bqml_model_num_inputs",
    "bqml_model_num_outputs",
    "bqml_model_io_name",
    "bqml_model_io_dtype",
    "bqml_model_io_rank",
    "bqml_model_io_shape",
    "bqml_model_io_bytes",
    "bqml_model_sha256",
    "bqml_model_cpu_features",
    "bqml_model_format_version",
    "bqml_pool_new",
    "bqml_pool_free",
    "bqml_model_entry",
    "bqml_model_meta",
];

/// What [`compile_library`] produced.
#[derive(Clone, Debug)]
pub struct Artifact {
    /// The metadata the library embeds (features filled in).
    pub meta: ArtifactMeta,
    /// Size of the written library in bytes.
    pub size: u64,
    /// Wall time of compilation and linking, in milliseconds.
    pub compile_ms: u64,
    /// The kernel tier its convolution steps pin.
    pub isa: kernels::Isa,
    /// What each step of the compiled plan does.
    pub steps: Vec<StepInfo>,
}

fn aot_err(message: String) -> Error {
    Error::Invalid(vec![Diagnostic {
        location: "ahead-of-time compilation".into(),
        message,
    }])
}

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("bqmlc-aot-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Compiles ONNX `model_bytes` into a shared library at `out` ([`crate::pipeline::run`] to
/// [`Stage::Object`] with `opts`, then linking). The file appears atomically (written under
/// a temporary name, then renamed).
pub fn compile_library(model_bytes: &[u8], opts: &CompileOptions, out: &Path) -> Result<Artifact> {
    let start = Instant::now();
    let Output::Object {
        object,
        meta,
        isa,
        steps,
    } = pipeline::run(Source::Bytes(model_bytes), opts, Stage::Object)?
    else {
        unreachable!("run to Stage::Object returns Output::Object")
    };
    link(&object.bytes, out)?;
    let size = std::fs::metadata(out)
        .map_err(|e| aot_err(format!("{}: {e}", out.display())))?
        .len();
    Ok(Artifact {
        meta,
        size,
        compile_ms: start.elapsed().as_millis() as u64,
        isa,
        steps,
    })
}

/// The C compiler used for linking: `$CC`, else `cc`.
fn cc() -> std::ffi::OsString {
    std::env::var_os("CC").unwrap_or_else(|| "cc".into())
}

/// Whether the C compiler that links libraries can be run here.
pub fn linker_available() -> bool {
    Command::new(cc())
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Links a model object with the embedded static library into the shared library `out`.
fn link(object: &[u8], out: &Path) -> Result<()> {
    let io = |what: &Path, e: std::io::Error| aot_err(format!("{}: {e}", what.display()));
    let tmp = TempDir::new().map_err(|e| io(&std::env::temp_dir(), e))?;
    let obj = tmp.0.join("model.o");
    let archive = tmp.0.join("libbqml_capi.a");
    let script = tmp.0.join("exports.map");
    std::fs::write(&obj, object).map_err(|e| io(&obj, e))?;
    std::fs::write(&archive, CAPI_ARCHIVE).map_err(|e| io(&archive, e))?;
    let globals: String = EXPORTS.iter().map(|s| format!("{s}; ")).collect();
    std::fs::write(&script, format!("{{ global: {globals}local: *; }};\n"))
        .map_err(|e| io(&script, e))?;
    let file_name = out
        .file_name()
        .ok_or_else(|| aot_err(format!("{}: not a file path", out.display())))?;
    let staged = out.with_file_name(format!(
        ".{}.tmp{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let cc = cc();
    let mut cmd = Command::new(&cc);
    cmd.arg("-shared")
        .arg("-o")
        .arg(&staged)
        .arg(&obj)
        .arg(&archive)
        .arg("-Wl,--gc-sections")
        .arg(format!("-Wl,--version-script={}", script.display()))
        .arg("-s");
    // Pull the C API's archive members in: nothing in the model object refers to them.
    for s in EXPORTS {
        cmd.arg(format!("-Wl,-u,{s}"));
    }
    cmd.args([
        "-lgcc_s",
        "-lutil",
        "-lrt",
        "-lpthread",
        "-lm",
        "-ldl",
        "-lc",
    ]);
    let output = cmd.output().map_err(|e| {
        aot_err(format!(
            "cannot run the C compiler '{}' to link the library: {e} (install cc or set CC)",
            cc.to_string_lossy()
        ))
    })?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&staged);
        return Err(aot_err(format!(
            "linking {} failed ({}): {}",
            out.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    std::fs::rename(&staged, out).map_err(|e| {
        let _ = std::fs::remove_file(&staged);
        io(out, e)
    })
}

/// C string literal for `s` (escapes quotes, backslashes and control characters).
fn c_str(s: &str) -> String {
    let mut o = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => o.push_str(&format!("\\{:03o}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// The C header documenting a library's interface and this model's inputs and outputs.
pub fn header(meta: &ArtifactMeta, library: &str) -> String {
    let mut io_doc = String::new();
    let mut macros = String::new();
    for (kind, list) in [("INPUT", &meta.inputs), ("OUTPUT", &meta.outputs)] {
        for (i, s) in list.iter().enumerate() {
            let dims: Vec<String> = s.shape.iter().map(|d| d.to_string()).collect();
            let elems: usize = s.shape.iter().product();
            io_doc.push_str(&format!(
                " *   {} {i}: {} {} [{}]  ({} bytes)\n",
                kind.to_lowercase(),
                s.name.replace("*/", "* /"),
                s.dtype.name(),
                dims.join(", "),
                elems * s.dtype.size()
            ));
            macros.push_str(&format!(
                "#define BQML_MODEL_{kind}{i}_NAME {}\n#define BQML_MODEL_{kind}{i}_DTYPE {}\n\
                 #define BQML_MODEL_{kind}{i}_RANK {}\n#define BQML_MODEL_{kind}{i}_ELEMENTS {}\n\
                 #define BQML_MODEL_{kind}{i}_BYTES {}\n",
                c_str(&s.name),
                c_str(s.dtype.name()),
                s.shape.len(),
                elems,
                elems * s.dtype.size()
            ));
        }
    }
    format!(
        r#"/* {library}: a bqmlc ahead-of-time compiled model (artifact format {version}).
 *
 * Model sha256: {sha}
 * CPU features required: {features}
{io_doc} *
 * Usage:
 *   bqml_model *m = bqml_model_create(1);          // 1 thread; NULL on error
 *   if (!m) {{ fprintf(stderr, "%s\n", bqml_last_error()); ... }}
 *   const void *in[] = {{ input_data }};             // dense row-major elements
 *   void *out[] = {{ output_buffer }};               // BQML_MODEL_OUTPUT0_BYTES bytes
 *   if (bqml_model_run(m, in, out) != 0) {{ ... bqml_last_error() ... }}
 *   bqml_model_destroy(m);
 *
 * bqml_model_entry, bqml_model_meta, bqml_pool_new and bqml_pool_free are also exported, for
 * bqmlc's own loader (runtime::artifact); C programs need not use them.
 *
 * Thread safety: every function may be called from any thread. A handle owns its arena
 * (scratch memory) and worker threads, so it must not run on two threads at once; create
 * one handle per concurrent caller. Errors: functions return NULL or non-zero and set a
 * per-thread message read with bqml_last_error().
 */
#ifndef BQML_MODEL_H
#define BQML_MODEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

#define BQML_FORMAT_VERSION {version}
#define BQML_MODEL_SHA256 {sha_lit}
#define BQML_MODEL_CPU_FEATURES {features_lit}
#define BQML_MODEL_NUM_INPUTS {ni}
#define BQML_MODEL_NUM_OUTPUTS {no}
{macros}
/** An instance of the model: its arena and worker pool. */
typedef struct bqml_model bqml_model;

/** The calling thread's last error message ("" if none); valid until its next call. */
const char *bqml_last_error(void);

/** Creates an instance running on `threads` threads (0 or 1: the calling thread only).
 *  Fails (NULL) if this CPU lacks the features the code was compiled for, or the
 *  library's metadata is unreadable. */
bqml_model *bqml_model_create(unsigned threads);

/** Frees an instance (NULL is ignored). */
void bqml_model_destroy(bqml_model *model);

/** Runs the model: inputs[i] points to input i's elements, outputs[i] to room for output
 *  i (sizes above or from bqml_model_io_bytes). Returns 0, or non-zero with an error. */
int bqml_model_run(bqml_model *model, const void *const *inputs, void *const *outputs);

/** bqml_model_run after validating shapes: input i has input_ranks[i] dimensions at
 *  input_shapes[i]. A mismatch returns -1 (naming the input and both shapes) before any
 *  generated code runs. */
int bqml_model_run_checked(bqml_model *model, const void *const *inputs,
                           const int64_t *const *input_shapes, const size_t *input_ranks,
                           void *const *outputs);

/** Number of inputs / outputs. */
size_t bqml_model_num_inputs(void);
size_t bqml_model_num_outputs(void);

/** Input (is_output = 0) or output (is_output = 1) number i: name, element type
 *  ("float32", "int64", ...), rank, dimensions and size in bytes. NULL / 0 if out of range. */
const char *bqml_model_io_name(int is_output, size_t i);
const char *bqml_model_io_dtype(int is_output, size_t i);
size_t bqml_model_io_rank(int is_output, size_t i);
const int64_t *bqml_model_io_shape(int is_output, size_t i);
size_t bqml_model_io_bytes(int is_output, size_t i);

/** Hex sha256 of the source ONNX model, the required CPU features (comma-separated), and
 *  the artifact format version. */
const char *bqml_model_sha256(void);
const char *bqml_model_cpu_features(void);
uint32_t bqml_model_format_version(void);

#ifdef __cplusplus
}}
#endif

#endif /* BQML_MODEL_H */
"#,
        library = library.replace("*/", "* /"),
        version = meta.version,
        sha = runtime::artifact::hex(&meta.sha256),
        sha_lit = c_str(&runtime::artifact::hex(&meta.sha256)),
        features = runtime::artifact::feature_names(meta.features),
        features_lit = c_str(&runtime::artifact::feature_names(meta.features)),
        ni = meta.inputs.len(),
        no = meta.outputs.len(),
    )
}
