//! Fuzz target `artifact_catalog`: see `fuzz/checks/artifact_catalog.rs`.
#![no_main]

#[path = "../checks/artifact_catalog.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check(data));
