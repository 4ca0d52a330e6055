//! Fuzz target `sql`: see `fuzz/checks/sql.rs`.
#![no_main]

#[path = "../checks/sql.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check(data));
