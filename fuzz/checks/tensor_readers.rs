//! The `.npy` and ONNX `TensorProto` (`.pb`) readers behind `bqmlc run --input`. The first
//! byte picks the reader. A tensor that parses must have as many values as its shape says.
//!
//! Shared by the fuzz target and `tests/fuzz_regressions.rs`.

/// Runs the target on one input; panics on a finding.
pub fn check(data: &[u8]) {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let parsed = if which & 1 == 0 {
        runtime::npy::parse(bytes)
    } else {
        compiler::conformance::tensor_pb_from_bytes(bytes).map(|(_, t)| t)
    };
    if let Ok(t) = parsed {
        assert_eq!(t.len(), t.shape().iter().product::<usize>());
        // What was read writes back as a .npy that reads back equal.
        let again = runtime::npy::parse(&runtime::npy::to_bytes(&t)).expect("own .npy output");
        assert_eq!(again.shape(), t.shape());
        assert_eq!(again.dtype(), t.dtype());
    }
}
