//! Fuzz target `onnx_compile`: see `fuzz/checks/onnx_compile.rs`.
#![no_main]

#[path = "../checks/onnx_compile.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check(data));
