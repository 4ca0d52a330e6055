//! Ahead-of-time artifacts: `bqmlc compile -o` libraries used from C (against the generated
//! header) and from `bqmlc run`, which must agree with the JIT; artifacts for another CPU,
//! damaged or foreign files are refused with clear errors, never a crash.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{model, node, vi, weights, with_ints};
use compiler::conformance::shared_dir;

fn bqmlc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bqmlc"))
        .args(args)
        .output()
        .expect("run bqmlc")
}

fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Exit status of a command that must fail with a message on stderr, not a signal or a panic.
fn clean_failure(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected exit 1, got {}: {err}",
        o.status
    );
    assert!(!err.contains("panicked"), "panicked: {err}");
    err
}

fn compile_so(onnx: &Path, dir: &Path, name: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
    let so = dir.join(format!("lib{name}.so"));
    let h = dir.join(format!("{name}.h"));
    let mut args = vec![
        "compile",
        onnx.to_str().unwrap(),
        "-o",
        so.to_str().unwrap(),
        "--header",
        h.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ok(&bqmlc(&args), "bqmlc compile -o");
    (so, h)
}

/// A small Conv+Relu model written to `dir`.
fn tiny_model(dir: &Path) -> PathBuf {
    let bytes = model(
        vec![
            with_ints(
                node("c", "Conv", &["x", "w", "b"], &["t"]),
                "pads",
                &[1, 1, 1, 1],
            ),
            node("r", "Relu", &["t"], &["y"]),
        ],
        vec![weights("w", &[8, 3, 3, 3], 1), weights("b", &[8], 2)],
        vec![vi("x", &[1, 3, 6, 6])],
        vec![vi("y", &[1, 8, 6, 6])],
        13,
    );
    let p = dir.join("tiny.onnx");
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Add and Relu (inline `f32x4` loops in the generated code) then a Conv.
fn inline_ops_model(dir: &Path) -> PathBuf {
    let bytes = model(
        vec![
            node("a", "Add", &["x", "x"], &["s"]),
            node("r", "Relu", &["s"], &["t"]),
            node("c", "Conv", &["t", "w", "b"], &["y"]),
        ],
        vec![weights("w", &[8, 3, 3, 3], 1), weights("b", &[8], 2)],
        vec![vi("x", &[1, 3, 6, 6])],
        vec![vi("y", &[1, 8, 4, 4])],
        13,
    );
    let p = dir.join("inline.onnx");
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Reads raw f32 from a file, runs the model once, writes raw f32 output 0; exit 2 with
/// bqml_last_error() on any failure. argv[3] = "badshape" passes a wrong input shape.
const C_PROGRAM: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model.h"

int main(int argc, char **argv) {
    if (argc < 3) return 3;
    bqml_model *m = bqml_model_create(2);
    if (!m) { fprintf(stderr, "create: %s\n", bqml_last_error()); return 2; }
    if (bqml_model_num_inputs() != BQML_MODEL_NUM_INPUTS || bqml_model_format_version() != BQML_FORMAT_VERSION
        || strcmp(bqml_model_sha256(), BQML_MODEL_SHA256) != 0
        || strcmp(bqml_model_io_dtype(0, 0), "float32") != 0
        || bqml_model_io_bytes(1, 0) != BQML_MODEL_OUTPUT0_BYTES) {
        fprintf(stderr, "metadata disagrees with the header\n"); return 4;
    }
    float *in = malloc(BQML_MODEL_INPUT0_BYTES), *out = malloc(BQML_MODEL_OUTPUT0_BYTES);
    FILE *f = fopen(argv[1], "rb");
    if (!f || fread(in, 1, BQML_MODEL_INPUT0_BYTES, f) != BQML_MODEL_INPUT0_BYTES) { fprintf(stderr, "short input\n"); return 5; }
    fclose(f);
    int64_t shape[8];
    size_t rank = bqml_model_io_rank(0, 0);
    memcpy(shape, bqml_model_io_shape(0, 0), rank * sizeof(int64_t));
    if (argc > 3 && strcmp(argv[3], "badshape") == 0) shape[1] += 1;
    const void *ins[] = { in };
    const int64_t *shapes[] = { shape };
    void *outs[] = { out };
    if (bqml_model_run_checked(m, ins, shapes, &rank, outs) != 0) {
        fprintf(stderr, "run: %s\n", bqml_last_error()); bqml_model_destroy(m); return 2;
    }
    f = fopen(argv[2], "wb");
    fwrite(out, 1, BQML_MODEL_OUTPUT0_BYTES, f);
    fclose(f);
    printf("%s -> %s, features %s\n", bqml_model_io_name(0, 0), bqml_model_io_name(1, 0), bqml_model_cpu_features());
    bqml_model_destroy(m);
    free(in); free(out);
    return 0;
}
"#;

/// Builds the C program against `header`, linked with `so`.
fn build_c(dir: &Path, so: &Path, header: &Path) -> PathBuf {
    std::fs::copy(header, dir.join("model.h")).unwrap();
    let src = dir.join("main.c");
    std::fs::write(&src, C_PROGRAM).unwrap();
    let exe = dir.join("main");
    let o = Command::new("cc")
        .args(["-std=c99", "-Wall", "-Werror", "-O1", "-o"])
        .arg(&exe)
        .arg(&src)
        .arg(so)
        .arg(format!("-Wl,-rpath,{}", so.parent().unwrap().display()))
        .output()
        .expect("run cc");
    ok(&o, "cc main.c");
    exe
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn c_program_runs_resnet18_library_against_the_reference_probabilities() {
    let shared = shared_dir();
    let dir = tempfile::tempdir().unwrap();
    let (so, h) = compile_so(
        &shared.join("models/resnet18_probs.onnx"),
        dir.path(),
        "resnet18",
        &[],
    );
    let exe = build_c(dir.path(), &so, &h);
    let input = runtime::npy::read(&shared.join("models/reference/input_0.npy")).unwrap();
    let want = runtime::npy::read(&shared.join("models/reference/probs_0.npy")).unwrap();
    let raw_in = dir.path().join("input.f32");
    std::fs::write(&raw_in, f32_bytes(input.as_f32().unwrap())).unwrap();
    let raw_out = dir.path().join("probs.f32");
    let o = Command::new(&exe)
        .arg(&raw_in)
        .arg(&raw_out)
        .output()
        .unwrap();
    let text = ok(&o, "C program");
    assert!(text.contains("input -> probs"), "{text}");
    let got: Vec<f32> = std::fs::read(&raw_out)
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let want = want.as_f32().unwrap();
    assert_eq!(got.len(), want.len());
    let max = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(max <= 1e-5, "max |Δ| = {max}");

    // A wrong input shape is refused before any generated code runs.
    let o = Command::new(&exe)
        .arg(&raw_in)
        .arg(&raw_out)
        .arg("badshape")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("input 'input': expected shape [1, 224, 224, 3] but got [1, 225, 224, 3]"),
        "{err}"
    );
}

/// `bqmlc run` on the library and on the .onnx (JIT) write byte-identical outputs.
fn run_library_matches_jit(model_file: &str, input_file: &str, target: &str) {
    let shared = shared_dir();
    let dir = tempfile::tempdir().unwrap();
    let onnx = shared.join("models").join(model_file);
    let (so, _) = compile_so(&onnx, dir.path(), "m", &["--target-cpu", target]);
    let input = format!(
        "input={}",
        shared.join("models/reference").join(input_file).display()
    );
    let (a, b) = (dir.path().join("so"), dir.path().join("jit"));
    let so_out = ok(
        &bqmlc(&[
            "run",
            so.to_str().unwrap(),
            "--input",
            &input,
            "--output-dir",
            a.to_str().unwrap(),
        ]),
        "bqmlc run lib.so",
    );
    let jit_out = ok(
        &bqmlc(&[
            "run",
            onnx.to_str().unwrap(),
            "--backend",
            "jit",
            "--input",
            &input,
            "--output-dir",
            b.to_str().unwrap(),
        ]),
        "bqmlc run --backend jit",
    );
    assert_eq!(so_out, jit_out);
    let mut files: Vec<_> = std::fs::read_dir(&a)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no outputs written");
    for f in files {
        let got = std::fs::read(a.join(&f)).unwrap();
        assert_eq!(got, std::fs::read(b.join(&f)).unwrap(), "{f:?} differs");
        assert!(got.len() > 128, "{f:?} is only {} bytes", got.len());
    }
}

#[test]
fn resnet18_library_and_jit_agree_exactly() {
    run_library_matches_jit("resnet18_probs.onnx", "input_0.npy", "native");
}

#[test]
fn tutorial_models_with_int64_labels_agree_exactly() {
    run_library_matches_jit("resnet18_tutorial.onnx", "input_1.npy", "x86-64-v3");
    run_library_matches_jit("efficientnet_lite0_tutorial.onnx", "input_2.npy", "native");
}

#[test]
fn efficientnet_library_and_jit_agree_exactly() {
    run_library_matches_jit(
        "efficientnet_lite0_probs.onnx",
        "efficientnet_lite0_goldfish_input.npy",
        "native",
    );
}

/// Instructions of the library's generated entry function that use AVX (VEX-encoded `v…`
/// mnemonics or ymm registers); `None` where binutils is missing. Address and size come
/// from the dynamic symbol table (the library is stripped).
fn avx_in_entry(so: &Path) -> Option<(usize, Vec<String>)> {
    let nm = Command::new("nm")
        .args(["-D", "-S"])
        .arg(so)
        .output()
        .ok()?;
    let nm = String::from_utf8_lossy(&nm.stdout).into_owned();
    let line = nm
        .lines()
        .find(|l| l.ends_with(" bqml_model_entry"))
        .unwrap_or_else(|| panic!("no bqml_model_entry in nm output:\n{nm}"));
    let f: Vec<u64> = line
        .split_whitespace()
        .take(2)
        .map(|x| u64::from_str_radix(x, 16).unwrap())
        .collect();
    let o = Command::new("objdump")
        .args(["-d", "--no-show-raw-insn"])
        .arg(format!("--start-address={:#x}", f[0]))
        .arg(format!("--stop-address={:#x}", f[0] + f[1]))
        .arg(so)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&o.stdout);
    let insns: Vec<&str> = text.lines().filter(|l| l.contains(":\t")).collect();
    let avx = insns
        .iter()
        .filter(|l| l.contains("\tv") || l.contains("ymm"))
        .map(|l| l.to_string())
        .collect();
    Some((insns.len(), avx))
}

#[test]
fn baseline_x86_64_library_uses_no_avx_and_still_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = inline_ops_model(dir.path());
    let (base, h) = compile_so(&onnx, dir.path(), "base", &["--target-cpu", "x86-64"]);
    // Same kernel tier on both sides (an x86-64 library pins the portable kernels), so the
    // outputs must agree bit for bit while the generated code differs.
    let (native, _) = compile_so(&onnx, dir.path(), "native", &["--isa", "portable"]);
    let header = std::fs::read_to_string(&h).unwrap();
    assert!(
        header.contains("#define BQML_MODEL_CPU_FEATURES \"none (baseline x86-64)\""),
        "{header}"
    );
    let (base_model, meta) = runtime::artifact::load(&base).unwrap();
    assert_eq!(meta.features, 0);
    let (native_model, _) = runtime::artifact::load(&native).unwrap();
    let x = runtime::Tensor::f32(
        vec![1, 3, 6, 6],
        (0..108).map(|i| (i as f32 - 50.0) / 37.0).collect(),
    );
    let run = |m: &runtime::CompiledModel| {
        let mut st = m.new_state(1);
        m.predict(&mut st, &[&x]).unwrap().remove(0)
    };
    assert_eq!(run(&base_model).as_f32(), run(&native_model).as_f32());
    if let (Some((n, avx)), Some((_, native_avx))) = (avx_in_entry(&base), avx_in_entry(&native)) {
        assert!(n > 20, "entry not disassembled ({n} instructions)");
        assert!(avx.is_empty(), "AVX instructions in baseline code: {avx:?}");
        if std::arch::is_x86_feature_detected!("avx") {
            // The check above can fail: native code on this CPU does use AVX.
            assert!(!native_avx.is_empty(), "native code uses no AVX");
        }
    }
}

/// Sets, in the library file, a feature bit this CPU lacks in the recorded mask.
fn patch_features(so: &Path) -> String {
    let mut bytes = std::fs::read(so).unwrap();
    let at = runtime::artifact::find_meta(&bytes).expect("metadata block");
    let host = runtime::artifact::host_features();
    let (bit, name) = match runtime::artifact::feature_bit("avx512f") {
        Some(b) if host & b == 0 => (b, "avx512f".to_string()),
        // A CPU with AVX-512: use a bit no runtime knows.
        _ => (1u64 << 63, "bit63".to_string()),
    };
    // Features are bytes 16..24 of the block (see runtime::artifact).
    let mask = u64::from_le_bytes(bytes[at + 16..at + 24].try_into().unwrap()) | bit;
    bytes[at + 16..at + 24].copy_from_slice(&mask.to_le_bytes());
    std::fs::write(so, bytes).unwrap();
    name
}

#[test]
fn library_for_missing_cpu_features_is_refused_by_run_bench_and_c() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = tiny_model(dir.path());
    let (so, h) = compile_so(&onnx, dir.path(), "tiny", &[]);
    let exe = build_c(dir.path(), &so, &h);
    let raw_in = dir.path().join("in.f32");
    std::fs::write(&raw_in, vec![0u8; 3 * 36 * 4]).unwrap();
    let raw_out = dir.path().join("out.f32");
    // Unpatched, the C program runs.
    ok(
        &Command::new(&exe)
            .arg(&raw_in)
            .arg(&raw_out)
            .output()
            .unwrap(),
        "C program on tiny",
    );
    let missing = patch_features(&so);
    let o = Command::new(&exe)
        .arg(&raw_in)
        .arg(&raw_out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&missing) && err.contains("CPU"), "{err}");

    let x = dir.path().join("x.npy");
    runtime::npy::write(&x, &runtime::Tensor::f32(vec![1, 3, 6, 6], vec![0.5; 108])).unwrap();
    let input = format!("x={}", x.display());
    for args in [
        vec!["run", so.to_str().unwrap(), "--input", &input],
        vec!["bench", so.to_str().unwrap(), "--runs", "1"],
    ] {
        let err = clean_failure(&bqmlc(&args));
        assert!(
            err.contains(&missing) && err.contains("libtiny.so"),
            "{err}"
        );
    }
}

#[test]
fn damaged_or_foreign_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = tiny_model(dir.path());
    let (so, _) = compile_so(&onnx, dir.path(), "tiny", &[]);
    let full = std::fs::read(&so).unwrap();
    let x = dir.path().join("x.npy");
    runtime::npy::write(&x, &runtime::Tensor::f32(vec![1, 3, 6, 6], vec![0.5; 108])).unwrap();
    let input = format!("x={}", x.display());
    let mut seed = 0x9e3779b97f4a7c15u64;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "no ELF header"),
        ("random", random, "no ELF header"),
        ("truncated", full[..full.len() / 3].to_vec(), ""),
        ("header-only", full[..64].to_vec(), "not a bqmlc artifact"),
    ];
    for (name, bytes, want) in cases {
        let p = dir.path().join(format!("{name}.so"));
        std::fs::write(&p, bytes).unwrap();
        let err = clean_failure(&bqmlc(&["run", p.to_str().unwrap(), "--input", &input]));
        assert!(err.contains(&format!("{name}.so")), "{name}: {err}");
        assert!(err.contains(want), "{name}: {err}");
    }
    // A real shared library that is not a bqmlc artifact.
    let libm = [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists());
    if let Some(libm) = libm {
        let err = runtime::artifact::load(Path::new(libm)).unwrap_err();
        assert!(err.contains("not a bqmlc artifact"), "{err}");
    }
    // The intact library still loads and runs.
    let out = ok(
        &bqmlc(&["run", so.to_str().unwrap(), "--input", &input]),
        "run tiny",
    );
    assert!(out.starts_with("y: float32 [1, 8, 6, 6]"), "{out}");
}

/// `bqmlc` with a private data directory and `gs://` root.
fn sql(data: &Path, gcs: &Path, args: &[&str]) -> String {
    sql_cc(data, gcs, args, None)
}

/// [`sql`] with `$CC` set to `cc`.
fn sql_cc(data: &Path, gcs: &Path, args: &[&str], cc: Option<&str>) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bqmlc"));
    cmd.args(args)
        .env("BQMLC_DATA_DIR", data)
        .env("BQMLC_GCS_ROOT", gcs);
    if let Some(cc) = cc {
        cmd.env("CC", cc);
    }
    let o = cmd.output().expect("run bqmlc");
    ok(&o, &format!("bqmlc {args:?}"))
}

#[test]
fn create_model_keeps_a_compiled_library_that_reopening_loads_without_compiling() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, gcs) = (tmp.path().join("data"), tmp.path().join("gcs"));
    std::fs::create_dir_all(gcs.join("b")).unwrap();
    let onnx = tiny_model(&gcs.join("b"));
    sql(&data, &gcs, &["query", "CREATE SCHEMA ds"]);
    sql(
        &data,
        &gcs,
        &[
            "query",
            "CREATE MODEL `ds.m` OPTIONS (MODEL_TYPE='ONNX', MODEL_PATH='gs://b/tiny.onnx')",
        ],
    );
    let show = sql(&data, &gcs, &["show", "-m", "ds.m"]);
    let line = show
        .lines()
        .find(|l| l.starts_with("Compiled: models/"))
        .unwrap_or_else(|| panic!("no compiled library reported:\n{show}"));
    assert!(
        line.contains(".so (") && line.contains(" bytes), ahead of time in "),
        "{line}"
    );

    // A new process (a reopened catalog) loads the stored library: no compilation.
    let catalog = sqlfront::catalog::Catalog::open(&data).unwrap();
    let state = catalog.snapshot().unwrap();
    let entry = state.model("ds", "m").unwrap();
    let compiled = entry
        .compiled
        .clone()
        .expect("compiled library in the catalog");
    let model_bytes = std::fs::read(&onnx).unwrap();
    assert_eq!(
        compiled.sha256,
        runtime::artifact::hex(&compiler::aot::sha256(&model_bytes))
    );
    assert_eq!(compiled.input_shapes, vec![vec![1, 3, 6, 6]]);
    assert!(
        line.contains(&format!("({} bytes)", compiled.size)),
        "{line}"
    );
    let onnx_copy = catalog.model_file(entry);
    let load = |c: Option<&sqlfront::model_import::CompiledArtifact>| {
        sqlfront::model_import::load_compiled("ds.m", &data, &onnx_copy, c, &Default::default())
            .unwrap()
    };
    let (cached, source) = load(Some(&compiled));
    assert_eq!(source, sqlfront::model_import::CodeSource::Cached);
    // Same results as compiling the model now.
    let (jit, _) = load(None);
    let x = runtime::Tensor::f32(
        vec![1, 3, 6, 6],
        (0..108).map(|i| i as f32 / 50.0).collect(),
    );
    let run = |m: &runtime::CompiledModel| {
        let mut st = m.new_state(1);
        m.predict(&mut st, &[&x]).unwrap().remove(0)
    };
    assert_eq!(run(&cached).as_f32(), run(&jit).as_f32());

    // A library that does not match its key is not used.
    let mut other = compiled.clone();
    other.sha256 = "0".repeat(64);
    let (_, source) = load(Some(&other));
    assert!(
        matches!(&source, sqlfront::model_import::CodeSource::Compiled(why) if why.contains("another model")),
        "{source:?}"
    );

    // DROP MODEL removes the library with the model copy.
    let lib = data.join(&compiled.file);
    assert!(lib.exists());
    sql(&data, &gcs, &["query", "DROP MODEL ds.m"]);
    assert!(!lib.exists(), "{} survived DROP MODEL", lib.display());

    // Without a C compiler, CREATE MODEL still compiles (in memory) and stores no library.
    let create = "CREATE MODEL `ds.n` OPTIONS (MODEL_TYPE='ONNX', MODEL_PATH='gs://b/tiny.onnx')";
    sql_cc(&data, &gcs, &["query", create], Some("/nonexistent/cc"));
    let show = sql(&data, &gcs, &["show", "-m", "ds.n"]);
    assert!(
        show.contains("Compiled: not stored (compiled when the model is used)"),
        "{show}"
    );
    let state = catalog.snapshot().unwrap();
    assert!(state.model("ds", "n").unwrap().compiled.is_none());
}

#[test]
fn ml_predict_runs_the_stored_library_and_agrees_with_compiling() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, gcs) = (tmp.path().join("data"), tmp.path().join("gcs"));
    std::fs::create_dir_all(gcs.join("b")).unwrap();
    tiny_model(&gcs.join("b"));
    sql(&data, &gcs, &["query", "CREATE SCHEMA ds"]);
    let create = "CREATE MODEL `ds.m` OPTIONS (MODEL_TYPE='ONNX', MODEL_PATH='gs://b/tiny.onnx')";
    sql(&data, &gcs, &["query", create]);
    let values: Vec<String> = (0..108)
        .map(|i| format!("{:.2}", i as f64 / 50.0 - 1.0))
        .collect();
    let query = format!(
        "SELECT y FROM ML.PREDICT(MODEL `ds.m`, (SELECT [{}] AS x))",
        values.join(", ")
    );
    let state = sqlfront::catalog::Catalog::open(&data)
        .unwrap()
        .snapshot()
        .unwrap();
    let entry = state.model("ds", "m").unwrap().clone();
    let (onnx_copy, lib) = (
        data.join(&entry.file),
        data.join(&entry.compiled.as_ref().unwrap().file),
    );
    let bytes = std::fs::read(&onnx_copy).unwrap();
    // Only the library: ML.PREDICT must not need the ONNX copy.
    std::fs::remove_file(&onnx_copy).unwrap();
    let from_library = sql(&data, &gcs, &["query", "--format", "csv", &query]);
    let mut lines = from_library.lines();
    assert_eq!(lines.next(), Some("y"), "{from_library}");
    let row = lines.next().unwrap_or_default();
    // 8 × 6 × 6 values, each a number.
    assert_eq!(row.matches(',').count(), 287, "{row}");
    // Only the ONNX copy: compiled at query time, same output.
    std::fs::write(&onnx_copy, bytes).unwrap();
    std::fs::remove_file(&lib).unwrap();
    let compiled = sql(&data, &gcs, &["query", "--format", "csv", &query]);
    assert_eq!(from_library, compiled);
}
