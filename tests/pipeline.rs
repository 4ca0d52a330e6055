//! The compile pipeline's front doors: the `CompileOptions` a caller chooses (here a forced
//! convolution algorithm) reach the plan through `bqmlc compile --emit=plan`, `compile -o`,
//! `bench` and `run`; the lowering check lists every node it cannot lower in one error;
//! ops lowered onto the generic kernels agree with the reference interpreter.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::*;
use compiler::pipeline::{self, Source};
use compiler::{load_bytes, reference, CompileOptions, ConvAlgo, Error, ImportOptions, Stage};
use runtime::{DType, Tensor};

/// x[1,24,15,17] → 3×3/1 conv (24 → 40) → relu: a layer `auto` lowers to Winograd on every
/// tier (the avx512 tier keeps maps under 14² direct).
fn winograd_model() -> Vec<u8> {
    let conv = with_ints(
        node("c0", "Conv", &["x", "w0", "b0"], &["t0"]),
        "pads",
        &[1, 1, 1, 1],
    );
    model(
        vec![conv, node("relu", "Relu", &["t0"], &["y"])],
        vec![weights("w0", &[40, 24, 3, 3], 1), weights("b0", &[40], 2)],
        vec![vi("x", &[1, 24, 15, 17])],
        vec![vi("y", &[1, 40, 15, 17])],
        13,
    )
}

fn bqmlc(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bqmlc"));
    cmd.args(args).env_remove("BQMLC_CONV_ALGO");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run bqmlc")
}

fn stdout_ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn write_model(dir: &Path) -> String {
    let path = dir.join("conv.onnx");
    std::fs::write(&path, winograd_model()).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn emit_plan_follows_conv_algo_flag_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_model(dir.path());
    let plan = |args: &[&str], env: &[(&str, &str)]| {
        let mut a = vec!["compile", m.as_str(), "--emit=plan"];
        a.extend(args);
        stdout_ok(&bqmlc(&a, env))
    };
    assert!(plan(&[], &[]).contains("bqml_winograd"));
    let direct = plan(&["--conv-algo", "direct"], &[]);
    assert!(!direct.contains("bqml_winograd"), "{direct}");
    assert!(direct.contains("bqml_conv2d"), "{direct}");
    let env_direct = plan(&[], &[("BQMLC_CONV_ALGO", "direct")]);
    assert!(!env_direct.contains("bqml_winograd"), "{env_direct}");
    // The flag wins over the environment.
    let flag_wins = plan(
        &["--conv-algo", "winograd"],
        &[("BQMLC_CONV_ALGO", "direct")],
    );
    assert!(flag_wins.contains("F(4x4,3x3)"), "{flag_wins}");
    let bad = bqmlc(
        &["compile", &m, "--emit=plan"],
        &[("BQMLC_CONV_ALGO", "fft")],
    );
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("BQMLC_CONV_ALGO: unknown convolution algorithm 'fft'"),
        "{err}"
    );
}

#[test]
fn bench_profile_and_run_take_the_conv_algo() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_model(dir.path());
    let bench = |algo: &str| {
        stdout_ok(&bqmlc(
            &[
                "bench",
                &m,
                "--backend",
                "jit",
                "--profile",
                "--warmup",
                "0",
                "--runs",
                "1",
                "--conv-algo",
                algo,
            ],
            &[],
        ))
    };
    let direct = bench("direct");
    assert!(
        direct.contains("bqml_conv2d") && !direct.contains("winograd"),
        "{direct}"
    );
    let wino = bench("winograd-f2");
    assert!(wino.contains("F(2x2,3x3)"), "{wino}");
    let x = dir.path().join("x.npy");
    let data = (0..24 * 15 * 17).map(|i| (i % 17) as f32 / 17.0).collect();
    runtime::npy::write(&x, &Tensor::f32(vec![1, 24, 15, 17], data)).unwrap();
    let mut outputs = Vec::new();
    for algo in ["direct", "winograd"] {
        let out = dir.path().join(algo);
        stdout_ok(&bqmlc(
            &[
                "run",
                &m,
                "--backend",
                "jit",
                "--conv-algo",
                algo,
                "--input",
                &format!("x={}", x.display()),
                "--output-dir",
                out.to_str().unwrap(),
            ],
            &[],
        ));
        outputs.push(runtime::npy::read(&out.join("y.npy")).unwrap());
    }
    let (d, w) = (outputs[0].as_f32().unwrap(), outputs[1].as_f32().unwrap());
    assert!(d
        .iter()
        .zip(w)
        .all(|(a, b)| (a - b).abs() <= 1e-4 * (1.0 + a.abs())));
}

#[test]
fn compile_library_reports_the_kernels_of_its_plan() {
    if !compiler::aot::linker_available() {
        panic!("ahead-of-time compilation needs a C compiler (cc) to link");
    }
    let dir = tempfile::tempdir().unwrap();
    let m = write_model(dir.path());
    let lib = dir.path().join("libconv.so");
    let kernels = |algo: &str| {
        let out = stdout_ok(&bqmlc(
            &[
                "compile",
                &m,
                "-o",
                lib.to_str().unwrap(),
                "--conv-algo",
                algo,
            ],
            &[],
        ));
        out.lines()
            .find_map(|l| l.split_once("kernels: ").map(|(_, k)| k))
            .unwrap_or_else(|| panic!("no kernels line: {out}"))
            .to_string()
    };
    let direct = kernels("direct");
    assert!(direct.contains("bqml_conv2d×1"), "{direct}");
    assert!(!direct.contains("winograd"), "{direct}");
    assert!(kernels("winograd").contains("bqml_winograd×1"));
}

#[test]
fn every_stage_runs_and_options_reach_the_jit() {
    let bytes = winograd_model();
    for stage in [
        Stage::Onnx,
        Stage::Ir,
        Stage::Optimized,
        Stage::Plan,
        Stage::Clif,
        Stage::Jit,
    ] {
        pipeline::run(Source::Bytes(&bytes), &CompileOptions::default(), stage)
            .unwrap_or_else(|e| panic!("{stage:?}: {e}"));
    }
    let g = load_bytes(&bytes, &ImportOptions::default()).unwrap();
    assert!(pipeline::run(
        Source::Graph(g.clone()),
        &CompileOptions::default(),
        Stage::Onnx
    )
    .is_err());
    let opts = CompileOptions {
        conv_algo: ConvAlgo::Direct,
        ..Default::default()
    };
    let (_, steps) = compiler::compile_with(g, &opts).unwrap();
    let counts = pipeline::kernel_counts(&steps);
    assert_eq!(counts.get("bqml_conv2d"), Some(&1), "{counts:?}");
    assert!(!counts.contains_key("bqml_winograd"), "{counts:?}");
}

/// ConvTranspose and 3-D Conv import and run on the reference interpreter but have no
/// lowering: compiling lists both in one error, before any node is lowered.
#[test]
fn two_ops_the_lowering_lacks_are_listed_in_one_error() {
    let bytes = model(
        vec![
            node("up", "ConvTranspose", &["x", "w"], &["y1"]),
            node("vol", "Conv", &["v", "w3"], &["y2"]),
        ],
        vec![
            weights("w", &[2, 3, 3, 3], 1),
            weights("w3", &[3, 2, 3, 3, 3], 2),
        ],
        vec![vi("x", &[1, 2, 4, 4]), vi("v", &[1, 2, 4, 4, 4])],
        vec![vi("y1", &[1, 3, 6, 6]), vi("y2", &[1, 3, 2, 2, 2])],
        13,
    );
    let g = load_bytes(&bytes, &ImportOptions::default()).unwrap();
    let x = Tensor::f32(vec![1, 2, 4, 4], vec![0.5; 32]);
    let v = Tensor::f32(vec![1, 2, 4, 4, 4], vec![0.25; 128]);
    reference::run(&g, &[("x", &x), ("v", &v)]).expect("the reference runs both ops");
    let err = match compiler::compile(g) {
        Err(e) => e,
        Ok(_) => panic!("compiled a model whose ops the lowering lacks"),
    };
    let Error::Unsupported(list) = &err else {
        panic!("{err}")
    };
    let names: Vec<&str> = list.iter().map(|n| n.node.as_str()).collect();
    assert_eq!(names, ["up", "vol"]);
    assert_eq!(
        err.to_string(),
        "the model has 2 unsupported node(s):\n  \
         node 'up': op ConvTranspose (domain ai.onnx, opset 13): ConvTranspose is not supported by the compiler\n  \
         node 'vol': op Conv (domain ai.onnx, opset 13): 3-D convolution is not supported by the compiler (1-D and 2-D are)"
    );
    // `inspect` shows the same list, and the front doors fail with it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.onnx");
    std::fs::write(&path, &bytes).unwrap();
    let inspect = stdout_ok(&bqmlc(&["inspect", path.to_str().unwrap()], &[]));
    assert!(
        inspect.contains("compiled (jit): no, reference only (2 node(s)):\n  up (ConvTranspose): ConvTranspose is not supported by the compiler\n  vol (Conv): 3-D convolution"),
        "{inspect}"
    );
    let plan = bqmlc(&["compile", path.to_str().unwrap(), "--emit=plan"], &[]);
    assert!(!plan.status.success());
    assert!(String::from_utf8_lossy(&plan.stderr).contains("the model has 2 unsupported node(s)"));
    // The same list from the plan stage.
    let e = pipeline::run(
        Source::Bytes(&bytes),
        &CompileOptions::default(),
        Stage::Plan,
    )
    .err()
    .expect("the plan stage fails");
    assert_eq!(e.to_string(), err.to_string());
}

/// Cast is lowered onto the generic cast kernel: every conversion a classifier graph uses
/// agrees with the reference interpreter (values inside every target's range).
#[test]
fn cast_on_the_jit_matches_the_reference() {
    let cast =
        |name: &str, x: &str, y: &str, to: i64| with_int(node(name, "Cast", &[x], &[y]), "to", to);
    // f32 → i64 → f32, f32 → bool → f32, f32 → f64 → f32, f32 → i32 → u8 → f32.
    let nodes = vec![
        cast("to_i64", "x", "a", 7),
        cast("i64_back", "a", "ya", 1),
        cast("to_bool", "x", "b", 9),
        cast("bool_back", "b", "yb", 1),
        cast("to_f64", "x", "c", 11),
        cast("f64_back", "c", "yc", 1),
        cast("to_i32", "x", "d", 6),
        cast("to_u8", "d", "e", 2),
        cast("u8_back", "e", "yd", 1),
    ];
    let outs = ["ya", "yb", "yc", "yd"];
    let bytes = model(
        nodes,
        vec![],
        vec![vi("x", &[2, 3, 5])],
        outs.iter().map(|o| vi(o, &[2, 3, 5])).collect(),
        13,
    );
    let g = load_bytes(&bytes, &ImportOptions::default()).unwrap();
    let data: Vec<f32> = (0..30).map(|i| (i as f32 - 4.0) * 7.3 % 250.0).collect();
    let x = Tensor::f32(vec![2, 3, 5], data.iter().map(|v| v.abs()).collect());
    let want = reference::run(&g, &[("x", &x)]).unwrap();
    let (m, steps) = compiler::compile_with(g, &CompileOptions::default()).unwrap();
    assert!(steps.iter().any(|s| s.kernel == "bqml_cast"));
    let mut st = m.new_state(1);
    let got = m.predict(&mut st, &[&x]).unwrap();
    for (o, (w, j)) in outs.iter().zip(want.iter().zip(&got)) {
        assert_eq!(j.dtype(), DType::F32, "{o}");
        assert_eq!(w, j, "{o}");
    }
}

/// ScatterND over run-time data and updates (constant indices, one negative), replacing and
/// adding (a repeated index accumulates): the reference against a hand-written scatter, the
/// jit against the reference, and indices out of range are an error naming the node.
#[test]
fn scatter_nd_on_the_jit_matches_the_reference_and_a_hand_scatter() {
    let idx = |name: &str, dims: &[i64], v: &[i64]| compiler::onnx::TensorProto {
        dims: dims.to_vec(),
        ..ints(name, v)
    };
    let build = |first: i64| {
        let add = with_str(
            node("acc", "ScatterND", &["x", "rows", "c"], &["z"]),
            "reduction",
            "add",
        );
        model(
            vec![node("put", "ScatterND", &["x", "pairs", "u"], &["y"]), add],
            vec![
                idx("pairs", &[3, 2], &[first, 1, 1, 2, -1, 0]),
                idx("rows", &[3, 1], &[1, 0, 1]),
                weights("c", &[3, 3, 4], 7),
            ],
            vec![vi("x", &[2, 3, 4]), vi("u", &[3, 4])],
            vec![vi("y", &[2, 3, 4]), vi("z", &[2, 3, 4])],
            16,
        )
    };
    let g = load_bytes(&build(0), &ImportOptions::default()).unwrap();
    let x = Tensor::f32(
        vec![2, 3, 4],
        (0..24).map(|i| i as f32 * 0.5 - 3.0).collect(),
    );
    let u = Tensor::f32(vec![3, 4], (0..12).map(|i| 100.0 + i as f32).collect());
    let want = reference::run(&g, &[("x", &x), ("u", &u)]).unwrap();
    // By hand: y[0,1,:] = u[0], y[1,2,:] = u[1], y[1,0,:] = u[2]; z[1] += c[0] + c[2],
    // z[0] += c[1].
    let (xv, uv) = (x.as_f32().unwrap(), u.as_f32().unwrap());
    let mut y = xv.to_vec();
    for (n, (i, j)) in [(0, 1), (1, 2), (1, 0)].into_iter().enumerate() {
        y[(i * 3 + j) * 4..(i * 3 + j + 1) * 4].copy_from_slice(&uv[n * 4..(n + 1) * 4]);
    }
    assert_eq!(want[0].as_f32().unwrap(), y.as_slice());
    let c = compiler::proto::tensor_from_proto(&weights("c", &[36], 7), None).unwrap();
    let c = c.as_f32().unwrap();
    let mut z = xv.to_vec();
    for (n, row) in [1usize, 0, 1].into_iter().enumerate() {
        for e in 0..12 {
            z[row * 12 + e] += c[n * 12 + e];
        }
    }
    for (a, b) in want[1].as_f32().unwrap().iter().zip(&z) {
        assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{a} vs {b}");
    }
    let (m, steps) = compiler::compile_with(g, &CompileOptions::default()).unwrap();
    assert_eq!(
        steps.iter().filter(|s| s.kernel == "bqml_scatter").count(),
        2
    );
    let mut st = m.new_state(1);
    let got = m.predict(&mut st, &[&x, &u]).unwrap();
    assert_eq!(got, want);
    let bad = load_bytes(&build(2), &ImportOptions::default()).unwrap();
    let Err(err) = compiler::compile(bad) else {
        panic!("index 2 on an axis of 2 compiled");
    };
    let err = err.to_string();
    assert!(err.contains("put") && err.contains("out of range"), "{err}");
}

/// `--isa` pins the kernel tier of every convolution step (`--emit=plan` names it); a tier
/// the CPU or the target lacks is a clear error, never code that cannot run.
#[test]
fn isa_flag_pins_the_kernel_tier_of_conv_steps() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_model(dir.path());
    let plan = |isa: &str| bqmlc(&["compile", &m, "--emit=plan", "--isa", isa], &[]);
    let mut exercised = Vec::new();
    for isa in kernels::Isa::ALL {
        let out = plan(isa.name());
        if isa.is_available() {
            let text = stdout_ok(&out);
            let tag = format!("[{}]", isa.name());
            assert!(text.contains(&tag), "{tag} missing:\n{text}");
            exercised.push(isa.name());
        } else {
            assert!(!out.status.success());
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains(&format!("kernel tier {} needs", isa.name()))
                    && err.contains("which this CPU lacks"),
                "{err}"
            );
            eprintln!("tier {} not exercised: this CPU lacks it", isa.name());
        }
    }
    eprintln!("tiers exercised: {}", exercised.join(", "));
    let auto = stdout_ok(&plan("auto"));
    assert!(
        auto.contains(&format!("[{}]", kernels::Isa::detect().name())),
        "{auto}"
    );
    let bad = plan("sse9");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown kernel tier 'sse9'"));
}

#[test]
fn object_tiers_follow_the_target_cpu() {
    if !compiler::aot::linker_available() {
        panic!("ahead-of-time compilation needs a C compiler (cc) to link");
    }
    let dir = tempfile::tempdir().unwrap();
    let m = write_model(dir.path());
    let lib = dir.path().join("libv.so");
    let compile = |target: &str, isa: &str| {
        bqmlc(
            &[
                "compile",
                &m,
                "-o",
                lib.to_str().unwrap(),
                "--target-cpu",
                target,
                "--isa",
                isa,
            ],
            &[],
        )
    };
    let refused = compile("x86-64-v3", "avx512");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains(
            "kernel tier avx512 needs AVX-512 F/BW/DQ/VL, which target x86-64-v3 lacks (it supports up to avx2)"
        ),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    // x86-64-v4: the library's feature mask names AVX-512, whatever this CPU has.
    let v4 = stdout_ok(&compile("x86-64-v4", "auto"));
    assert!(
        v4.contains("avx512f") && v4.contains("avx512bw") && v4.contains("avx512vl"),
        "{v4}"
    );
    assert!(v4.contains("kernel tier avx512"), "{v4}");
    let x = dir.path().join("x.npy");
    let data = (0..24 * 15 * 17).map(|i| (i % 13) as f32 / 13.0).collect();
    runtime::npy::write(&x, &Tensor::f32(vec![1, 24, 15, 17], data)).unwrap();
    let run = |model: &str, out: &str| {
        // A library runs its own code; an .onnx file runs on the jit.
        let backend: &[&str] = if model.ends_with(".onnx") {
            &["--backend", "jit"]
        } else {
            &[]
        };
        bqmlc(
            &[
                &["run", model][..],
                backend,
                &[
                    "--input",
                    &format!("x={}", x.display()),
                    "--output-dir",
                    dir.path().join(out).to_str().unwrap(),
                ][..],
            ]
            .concat(),
            &[],
        )
    };
    let ran = run(lib.to_str().unwrap(), "v4");
    if kernels::Isa::Avx512.is_available() {
        stdout_ok(&ran);
        stdout_ok(&run(&m, "jit"));
        let a = runtime::npy::read(&dir.path().join("v4/y.npy")).unwrap();
        let b = runtime::npy::read(&dir.path().join("jit/y.npy")).unwrap();
        assert_eq!(
            a, b,
            "the x86-64-v4 library and the jit (avx512 tier) differ"
        );
    } else {
        assert!(
            !ran.status.success(),
            "a v4 library ran on a CPU without AVX-512"
        );
        eprintln!("x86-64-v4 library refused here: this CPU lacks AVX-512");
    }
    // x86-64 and x86-64-v3 libraries run everywhere this test does.
    for target in ["x86-64", "x86-64-v3"] {
        let out = stdout_ok(&compile(target, "auto"));
        let tier = if target == "x86-64" {
            "portable"
        } else {
            "avx2"
        };
        assert!(out.contains(&format!("kernel tier {tier}")), "{out}");
        stdout_ok(&run(lib.to_str().unwrap(), target));
    }
}
