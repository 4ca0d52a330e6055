//! Golden snapshots of the Cranelift IR generated for small fused graphs. Addresses of
//! kernels, params templates and constants differ per process and are normalised to
//! `ADDR`; everything else (arena offsets, loop bounds, call sequence) must match.
//! `BQMLC_UPDATE_GOLDEN=1 cargo test --test clif_golden` rewrites the snapshots.

use crate::common::*;
use compiler::{load_bytes, ImportOptions};

fn clif_of(bytes: &[u8]) -> String {
    let mut g = load_bytes(bytes, &ImportOptions::default()).unwrap();
    compiler::passes::optimize(&mut g).unwrap();
    let plan = compiler::lower::lower(&g).unwrap();
    normalise(&compiler::codegen::generate(&plan, false).unwrap().clif)
}

/// Replaces 64-bit immediates that are addresses (≥ 2^32) by `ADDR` and drops the
/// printer's `; vN = …` constant comments (which repeat them).
fn normalise(clif: &str) -> String {
    clif.lines()
        .map(|line| line.split("  ; ").next().unwrap_or(line))
        .map(|line| {
            let Some(pos) = line.find("iconst.i64 ") else {
                return line.to_string();
            };
            let (head, imm) = line.split_at(pos + "iconst.i64 ".len());
            let digits: String = imm.chars().filter(|c| *c != '_').collect();
            let value = match digits.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => digits.parse::<i64>().ok().map(|v| v as u64),
            };
            match value {
                Some(v) if v >= 1 << 32 && (v as i64) > 0 => format!("{head}ADDR"),
                _ => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn check(name: &str, bytes: &[u8]) {
    let got = clif_of(bytes);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.clif"));
    if std::env::var_os("BQMLC_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with BQMLC_UPDATE_GOLDEN=1)", path.display()));
    assert_eq!(
        got, want,
        "generated CLIF for {name} changed; review and update the snapshot"
    );
}

#[test]
fn conv_bias_relu_is_one_kernel_call_into_a_haloed_arena() {
    let nodes = vec![
        with_ints(
            node("c", "Conv", &["x", "w", "b"], &["t"]),
            "pads",
            &[1, 1, 1, 1],
        ),
        node("r", "Relu", &["t"], &["y"]),
    ];
    let bytes = model(
        nodes,
        vec![weights("w", &[8, 3, 3, 3], 1), weights("b", &[8], 2)],
        vec![vi("x", &[1, 3, 4, 4])],
        vec![vi("y", &[1, 8, 4, 4])],
        13,
    );
    check("conv_bias_relu", &bytes);
}

#[test]
fn add_then_relu_are_inline_f32x4_loops() {
    let nodes = vec![
        node("a", "Add", &["x", "x"], &["s"]),
        node("r", "Relu", &["s"], &["y"]),
    ];
    let bytes = model(
        nodes,
        vec![],
        vec![vi("x", &[2, 9])],
        vec![vi("y", &[2, 9])],
        13,
    );
    check("add_relu", &bytes);
}

#[test]
fn conv_residual_clip_fuses_into_one_call() {
    let mut lo = weights("lo", &[], 0);
    lo.float_data = vec![0.0];
    let mut hi = weights("hi", &[], 0);
    hi.float_data = vec![6.0];
    let nodes = vec![
        node("c", "Conv", &["x", "w", "b"], &["t"]),
        node("a", "Add", &["t", "x"], &["s"]),
        node("clip", "Clip", &["s", "lo", "hi"], &["y"]),
    ];
    let bytes = model(
        nodes,
        vec![
            weights("w", &[4, 4, 1, 1], 3),
            weights("b", &[4], 4),
            lo,
            hi,
        ],
        vec![vi("x", &[1, 4, 3, 3])],
        vec![vi("y", &[1, 4, 3, 3])],
        13,
    );
    check("conv_residual_clip", &bytes);
}
