//! Malformed and adversarial models and input files: each gets a clear error naming the
//! node, attribute, limit or file, within seconds and bounded memory — never a panic,
//! abort, hang or unbounded read.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common;

use crate::common::{ints, node, vi, weights, with_int, with_ints};
use compiler::onnx::{AttributeProto, NodeProto, TensorProto};
use compiler::pipeline::{self, Source};
use compiler::{load_bytes, CompileOptions, ImportOptions, Stage};

fn import_err(bytes: &[u8]) -> String {
    match load_bytes(bytes, &ImportOptions::default()) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

fn assert_contains(e: &str, want: &str) {
    assert!(e.contains(want), "expected {want:?} in:\n{e}");
}

/// `x[x_dims] → y` through `nodes`, with a float initializer `w` of `w_dims` when given.
fn model_x(x_dims: &[i64], nodes: Vec<NodeProto>, inits: Vec<TensorProto>, opset: i64) -> Vec<u8> {
    common::model(
        nodes,
        inits,
        vec![vi("x", x_dims)],
        vec![vi("y", &[])],
        opset,
    )
}

fn with_str(mut n: NodeProto, name: &str, v: &str) -> NodeProto {
    n.attribute.push(AttributeProto {
        name: Some(name.into()),
        s: Some(v.as_bytes().to_vec()),
        r#type: Some(3),
        ..Default::default()
    });
    n
}

fn conv_model(x: &[i64], w: &[i64], attrs: &[(&str, &[i64])]) -> Vec<u8> {
    let mut n = node("c", "Conv", &["x", "w"], &["y"]);
    for (k, v) in attrs {
        n = with_ints(n, k, v);
    }
    model_x(x, vec![n], vec![weights("w", w, 1)], 13)
}

fn pool_model(op: &str, x: &[i64], attrs: &[(&str, &[i64])], auto_pad: Option<&str>) -> Vec<u8> {
    let mut n = node("p", op, &["x"], &["y"]);
    for (k, v) in attrs {
        n = with_ints(n, k, v);
    }
    if let Some(a) = auto_pad {
        n = with_str(n, "auto_pad", a);
    }
    model_x(x, vec![n], vec![], 13)
}

#[test]
fn spatial_attributes_of_the_wrong_length_name_node_and_attribute() {
    let (x2, w2) = (&[1, 1, 4, 4][..], &[1, 1, 3, 3][..]);
    // Without kernel_shape the rank comes from W: this used to index out of bounds.
    let e = import_err(&conv_model(x2, w2, &[("pads", &[1, 1])]));
    assert_eq!(
        e,
        "node 'c' (Conv): attribute 'pads' has 2 values, expected 4 for W's shape [1, 1, 3, 3]"
    );
    let e = import_err(&conv_model(x2, w2, &[("strides", &[1])]));
    assert_contains(
        &e,
        "node 'c' (Conv): attribute 'strides' has 1 values, expected 2",
    );
    let e = import_err(&conv_model(x2, w2, &[("pads", &[1, 1, 1])]));
    assert_contains(
        &e,
        "node 'c' (Conv): attribute 'pads' has 3 values, an odd count",
    );
    let e = import_err(&conv_model(
        &[1, 1, 4, 4, 4],
        &[1, 1, 3, 3, 3],
        &[("dilations", &[1, 1])],
    ));
    assert_contains(
        &e,
        "node 'c' (Conv): attribute 'dilations' has 2 values, expected 3",
    );
    let e = import_err(&conv_model(
        x2,
        w2,
        &[("kernel_shape", &[3, 3]), ("pads", &[1, 1])],
    ));
    assert_contains(
        &e,
        "node 'c' (Conv): attribute 'pads' has 2 values, expected 4",
    );
    for attr in ["pads", "output_padding", "dilations"] {
        let v: &[i64] = if attr == "pads" { &[1, 1] } else { &[1] };
        let mut n = with_ints(node("t", "ConvTranspose", &["x", "w"], &["y"]), attr, v);
        n = with_ints(n, "strides", &[2, 2]);
        let e = import_err(&model_x(x2, vec![n], vec![weights("w", w2, 1)], 13));
        assert_contains(
            &e,
            &format!(
                "node 't' (ConvTranspose): attribute '{attr}' has {} values",
                v.len()
            ),
        );
    }
    for op in ["MaxPool", "AveragePool"] {
        let e = import_err(&pool_model(
            op,
            x2,
            &[("kernel_shape", &[2, 2]), ("pads", &[0, 0])],
            None,
        ));
        assert_contains(
            &e,
            &format!("node 'p' ({op}): attribute 'pads' has 2 values"),
        );
        let e = import_err(&pool_model(
            op,
            x2,
            &[("kernel_shape", &[2, 2]), ("strides", &[1])],
            None,
        ));
        assert_contains(
            &e,
            &format!("node 'p' ({op}): attribute 'strides' has 1 values"),
        );
        let e = import_err(&pool_model(op, x2, &[("kernel_shape", &[2])], None));
        assert_contains(
            &e,
            &format!("node 'p' ({op}): kernel has 1 spatial dims but the input has 2"),
        );
    }
}

#[test]
fn huge_pads_are_refused_before_anything_is_allocated() {
    let pad = |pads: &[i64]| {
        model_x(
            &[1, 4],
            vec![node("p", "Pad", &["x", "pads"], &["y"])],
            vec![ints("pads", pads)],
            13,
        )
    };
    // The output shape used to be computed by allocating an index map per output element.
    let e = import_err(&pad(&[0, 0, 0, 1 << 28]));
    assert_eq!(
        e,
        "node 'p' (Pad): output 'y' has shape [1, 268435460] with more than the limit of 268435456 elements"
    );
    for v in [1i64 << 40, i64::MIN, i64::MAX] {
        let e = import_err(&pad(&[0, v, 0, 0]));
        assert_eq!(
            e,
            format!("node 'p' (Pad): pads value {v} on axis 1 is beyond the limit of 268435456 elements")
        );
    }
    // An empty axis must not hide a huge one.
    let e = import_err(&model_x(
        &[0, 4],
        vec![node("p", "Pad", &["x", "pads"], &["y"])],
        vec![ints("pads", &[0, 0, 0, 1 << 28])],
        13,
    ));
    assert_contains(
        &e,
        "output 'y' has shape [0, 268435460] with more than the limit",
    );
}

#[test]
fn values_and_arenas_beyond_the_limits_are_refused_before_running() {
    // Conv padded by 15000 on every side: compiled, then aborted allocating 25 GB.
    let bytes = conv_model(&[1, 3, 8, 8], &[1, 3, 3, 3], &[("pads", &[15000; 4])]);
    let e = import_err(&bytes);
    assert_eq!(
        e,
        "node 'c' (Conv): the padded input [1, 3, 30008, 30008] has more than the limit of 268435456 elements"
    );
    // Every value fits, but five 512 MiB values are alive at once.
    let n = 1i64 << 27;
    let nodes = vec![
        node("a", "Softmax", &["x"], &["a"]),
        node("b", "LogSoftmax", &["x"], &["b"]),
        with_int(node("c", "Softmax", &["x"], &["c"]), "axis", 0),
        with_int(node("d", "LogSoftmax", &["x"], &["d"]), "axis", 0),
        node("s", "Sum", &["a", "b", "c", "d"], &["y"]),
    ];
    let bytes = common::model(
        nodes,
        vec![],
        vec![vi("x", &[1, n])],
        vec![vi("y", &[1, n])],
        13,
    );
    let opts = CompileOptions::default();
    let e = pipeline::run(Source::Bytes(&bytes), &opts, Stage::Plan)
        .err()
        .expect("the plan must be refused")
        .to_string();
    assert_contains(&e, "the compiled model needs an arena of ");
    assert_contains(&e, "bytes, more than the limit of 2147483648");
    let graph = load_bytes(&bytes, &ImportOptions::default()).unwrap();
    let e = compiler::reference::run(&graph, &[])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "node 's' (Sum): running needs 2684354560 bytes of intermediate values at once, more than the limit of 2147483648"
    );
}

#[test]
fn windows_too_large_to_scan_are_refused() {
    for op in ["MaxPool", "AveragePool"] {
        for auto in ["SAME_LOWER", "SAME_UPPER"] {
            // Compiled, then spun for minutes on both backends.
            let e = import_err(&pool_model(
                op,
                &[1, 1, 4, 4],
                &[("kernel_shape", &[2, 1 << 31])],
                Some(auto),
            ));
            assert_eq!(
                e,
                format!(
                    "the model is invalid (1 problem(s)):\n  node 'p' ({op}): attribute 'kernel_shape' value 2147483648 is more than the limit of 268435456"
                )
            );
            let e = import_err(&pool_model(
                op,
                &[1, 1, 4, 4],
                &[("kernel_shape", &[2, 1 << 20])],
                Some(auto),
            ));
            assert_contains(
                &e,
                &format!("node 'p' ({op}): attribute 'kernel_shape' [2, 1048576] has more than the limit of 1048576 taps per window"),
            );
        }
    }
    let mut t = node("t", "ConvTranspose", &["x", "w"], &["y"]);
    t = with_ints(t, "strides", &[1, i64::MAX]);
    let e = import_err(&model_x(
        &[1, 1, 4, 4],
        vec![t],
        vec![weights("w", &[1, 1, 3, 3], 1)],
        13,
    ));
    assert_contains(
        &e,
        "node 't' (ConvTranspose): attribute 'strides' value 9223372036854775807 is more than the limit",
    );
    let e = import_err(&conv_model(
        &[1, 1, 4, 4],
        &[1, 1, 3, 3],
        &[("dilations", &[1, 1 << 40])],
    ));
    assert_contains(
        &e,
        "node 'c' (Conv): attribute 'dilations' value 1099511627776 is more than the limit",
    );
}

#[test]
fn pool_pads_must_be_smaller_than_the_kernel() {
    // The compiled AveragePool gave 0.0 where the reference gave NaN for an all-padding window.
    for op in ["MaxPool", "AveragePool"] {
        let e = import_err(&pool_model(
            op,
            &[1, 1, 4, 4],
            &[("kernel_shape", &[2, 2]), ("pads", &[0, 2, 0, 0])],
            None,
        ));
        assert_contains(
            &e,
            &format!("node 'p' ({op}): attribute 'pads' [0, 2, 0, 0]: pad 2 on spatial axis 1 is not smaller than the kernel size 2"),
        );
    }
    // Pads below the kernel stay fine.
    let n = with_ints(
        with_ints(
            node("p", "AveragePool", &["x"], &["y"]),
            "kernel_shape",
            &[2, 2],
        ),
        "pads",
        &[1, 1, 1, 1],
    );
    let bytes = common::model(
        vec![n],
        vec![],
        vec![vi("x", &[1, 1, 4, 4])],
        vec![vi("y", &[1, 1, 5, 5])],
        13,
    );
    load_bytes(&bytes, &ImportOptions::default()).unwrap();
}

#[test]
fn a_negative_declared_dimension_is_rejected_naming_the_input() {
    let bytes = common::model(
        vec![node("r", "Relu", &["x"], &["y"])],
        vec![],
        vec![vi("x", &[1, -3])],
        vec![vi("y", &[1, 3])],
        13,
    );
    let e = import_err(&bytes);
    assert_eq!(
        e,
        "the model is invalid (1 problem(s)):\n  input 'x': declared dimension -3 is negative"
    );
}

#[test]
fn graphs_beyond_the_node_limit_are_refused() {
    let n = compiler::limits::MAX_NODES + 1;
    let nodes = common::chain(n, "Relu", &[]);
    let bytes = common::model(nodes, vec![], vec![vi("x", &[1])], vec![vi("y", &[1])], 13);
    let e = import_err(&bytes);
    assert_eq!(
        e,
        "the model is invalid (1 problem(s)):\n  graph: 1000001 nodes are more than the limit of 1000000"
    );
}

fn tmp_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Runs `cmd`, failing the test if it takes more than 20 s (killing it).
fn within_seconds(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("RUST_BACKTRACE")
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("{cmd:?} did not finish within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn bqmlc(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bqmlc"));
    c.args(args);
    c
}

fn fails_with(out: Output, want: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_contains(&err, want);
}

#[test]
fn fifos_and_devices_are_refused_instead_of_read() {
    let dir = tmp_dir();
    let fifo = dir.path().join("model.onnx");
    common::mkfifo(&fifo);
    let f = fifo.to_str().unwrap();
    for args in [
        vec!["inspect", f],
        vec!["compile", f, "--emit=ir"],
        vec!["run", f],
    ] {
        fails_with(
            within_seconds(bqmlc(&args)),
            &format!("cannot read {f}: a FIFO, not a regular file"),
        );
    }
    fails_with(
        within_seconds(bqmlc(&["inspect", "/dev/zero"])),
        "cannot read /dev/zero: a device, not a regular file",
    );

    let m = dir.path().join("m.onnx");
    std::fs::write(
        &m,
        common::model(
            vec![node("r", "Relu", &["x"], &["y"])],
            vec![],
            vec![vi("x", &[2])],
            vec![vi("y", &[2])],
            13,
        ),
    )
    .unwrap();
    let m = m.to_str().unwrap();
    let in_fifo = dir.path().join("x.npy");
    common::mkfifo(&in_fifo);
    for (file, what) in [
        ("/dev/zero", "a device"),
        (in_fifo.to_str().unwrap(), "a FIFO"),
    ] {
        for backend in ["reference", "jit"] {
            fails_with(
                within_seconds(bqmlc(&[
                    "run",
                    m,
                    "--backend",
                    backend,
                    "--input",
                    &format!("x={file}"),
                ])),
                &format!("input 'x': cannot read {file}: {what}, not a regular file"),
            );
        }
    }
    let pb = dir.path().join("x.pb");
    common::mkfifo(&pb);
    fails_with(
        within_seconds(bqmlc(&[
            "run",
            m,
            "--input",
            &format!("x={}", pb.display()),
        ])),
        &format!("cannot read {}: a FIFO, not a regular file", pb.display()),
    );
}

#[test]
fn create_model_refuses_a_fifo_or_device_model_path() {
    let dir = tmp_dir();
    let gcs = dir.path().join("gcs");
    std::fs::create_dir_all(gcs.join("b")).unwrap();
    common::mkfifo(&gcs.join("b/fifo.onnx"));
    let data: PathBuf = dir.path().join("data");
    let mut mk = bqmlc(&["mk", "--dataset", "ds"]);
    mk.env("BQMLC_DATA_DIR", &data);
    assert!(within_seconds(mk).status.success());
    // A device is named by a local path: a symlink to it inside the bucket is refused
    // earlier, as a path leaving the Cloud Storage root.
    for (uri, what) in [("gs://b/fifo.onnx", "a FIFO"), ("/dev/zero", "a device")] {
        let mut c = bqmlc(&[
            "query",
            &format!("CREATE MODEL ds.m OPTIONS(MODEL_TYPE='ONNX', MODEL_PATH='{uri}')"),
        ]);
        c.env("BQMLC_DATA_DIR", &data).env("BQMLC_GCS_ROOT", &gcs);
        let out = within_seconds(c);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert_contains(
            &err,
            &format!("cannot read {uri}: {what}, not a regular file"),
        );
    }
}

#[test]
fn external_data_in_a_fifo_is_refused() {
    use compiler::onnx::StringStringEntryProto;
    let dir = tmp_dir();
    common::mkfifo(&dir.path().join("w.bin"));
    let w = TensorProto {
        name: Some("w".into()),
        dims: vec![2],
        data_type: Some(1),
        data_location: Some(1),
        external_data: vec![StringStringEntryProto {
            key: Some("location".into()),
            value: Some("w.bin".into()),
        }],
        ..Default::default()
    };
    let bytes = common::model(
        vec![node("a", "Add", &["x", "w"], &["y"])],
        vec![w],
        vec![vi("x", &[2])],
        vec![vi("y", &[2])],
        13,
    );
    let opts = ImportOptions {
        base_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let e = load_bytes(&bytes, &opts).unwrap_err().to_string();
    assert_contains(&e, "initializer 'w': cannot read external data ");
    assert_contains(&e, "w.bin: a FIFO, not a regular file");
}

/// `y = (n + 1) · x` through a chain of `n` Add nodes that each add `x` again (a run-time
/// value, so no pass can merge the chain).
fn add_chain(n: usize) -> Vec<u8> {
    common::model(
        common::chain(n, "Add", &["x"]),
        vec![],
        vec![vi("x", &[1, 8])],
        vec![vi("y", &[1, 8])],
        13,
    )
}

#[test]
fn long_chains_compile_as_bounded_functions_and_run() {
    // Register allocation over one function per plan made a 32k-node chain take 7 s (and
    // a 100k one minutes); the plan is now split into part functions of bounded size.
    let n = 3 * compiler::codegen::STEPS_PER_FUNCTION + 5;
    let bytes = add_chain(n);
    let opts = CompileOptions::default();
    let Ok(pipeline::Output::Plan(plan)) = pipeline::run(Source::Bytes(&bytes), &opts, Stage::Plan)
    else {
        panic!("no plan");
    };
    let parts = compiler::codegen::parts(&plan);
    assert!(
        parts.len() > 1,
        "{} steps in one function",
        plan.steps.len()
    );
    assert!(parts
        .iter()
        .all(|r| r.len() <= compiler::codegen::STEPS_PER_FUNCTION));
    assert_eq!(parts.last().unwrap().end, plan.steps.len());

    let x = runtime::Tensor::f32(vec![1, 8], (0..8).map(|i| i as f32 - 4.0).collect());
    let want: Vec<f32> = (0..8).map(|i| (i as f32 - 4.0) * (n + 1) as f32).collect();
    let Ok(pipeline::Output::Jit { model, .. }) =
        pipeline::run(Source::Bytes(&bytes), &opts, Stage::Jit)
    else {
        panic!("no jit model");
    };
    let mut st = model.new_state(1);
    assert_eq!(
        model.predict(&mut st, &[&x]).unwrap()[0].as_f32().unwrap(),
        &want[..]
    );
    if compiler::aot::linker_available() {
        let dir = tmp_dir();
        let so = dir.path().join("libchain.so");
        compiler::aot::compile_library(&bytes, &opts, &so).unwrap();
        let (m, _) = runtime::artifact::load(&so).unwrap();
        let mut st = m.new_state(1);
        assert_eq!(
            m.predict(&mut st, &[&x]).unwrap()[0].as_f32().unwrap(),
            &want[..]
        );
    }
}
