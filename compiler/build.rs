//! 1. Generates the ONNX protobuf types from the vendored `proto/onnx.proto` with protox (pure
//!    Rust), so no system `protoc` is needed.
//! 2. Builds the `bqml-capi` static library (kernels, worker pool, C ABI glue) that
//!    `compiler::aot` links into ahead-of-time model libraries, with a nested
//!    `cargo build` in its own target directory (`target/bqml-capi`, so it does not wait on
//!    the outer build's lock), offline against the workspace's `Cargo.lock`. The archive is embedded
//!    in this crate with `include_bytes!`.
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=proto/onnx.proto");
    let fds = protox::compile(["onnx.proto"], ["proto"]).expect("compile proto/onnx.proto");
    prost_build::Config::new()
        .compile_fds(fds)
        .expect("generate ONNX protobuf types");
    build_capi();
}

fn build_capi() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let root = manifest.parent().expect("workspace root").to_path_buf();
    for dir in ["capi", "kernels/src", "runtime/src"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    for file in ["Cargo.lock", "kernels/Cargo.toml", "runtime/Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    // One nested target directory per outer target directory (`OUT_DIR` is
    // `<target>/<profile>/build/<pkg>/out`), shared by every profile and by check/clippy
    // runs, so CI's clippy and test runs build the archive once; cargo's own lock
    // serialises concurrent nested builds.
    let target_dir = out
        .ancestors()
        .find(|d| d.file_name().is_some_and(|n| n == "build"))
        .and_then(|b| b.parent()?.parent())
        .map_or_else(|| out.join("capi-target"), |t| t.join("bqml-capi"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--release",
            "--offline",
            "--locked",
            "-p",
            "bqml-capi",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        // The archive only needs code: no debug info keeps it (and bqmlc) small.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "0")
        .env("CARGO_PROFILE_RELEASE_INCREMENTAL", "false");
    // Wrappers such as clippy-driver and outer target settings must not leak in.
    for var in [
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_MANIFEST_DIR",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build bqml-capi: {e}"));
    assert!(
        status.success(),
        "building the bqml-capi static library failed ({status}); see the output above"
    );
    let lib = target_dir.join("release/libbqml_capi.a");
    assert!(
        Path::new(&lib).exists(),
        "{} was not produced",
        lib.display()
    );
    let dest = out.join("libbqml_capi.a");
    std::fs::copy(&lib, &dest).expect("copy libbqml_capi.a");
}
