//! Fuzz target `tensor_readers`: see `fuzz/checks/tensor_readers.rs`.
#![no_main]

#[path = "../checks/tensor_readers.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check(data));
