//! ONNX import, the optimisation passes, lowering and the Cranelift JIT on arbitrary bytes;
//! when a model compiles and its working memory and work are small, one run on zero inputs through
//! both the compiled code and the reference interpreter. Errors are fine; panics, aborts,
//! hangs, unbounded memory and crashes in generated code are findings.
//!
//! Shared by the fuzz target and `tests/fuzz_regressions.rs`.

use compiler::ImportOptions;
use runtime::Tensor;

/// Largest arena (and input size) a model may need to be run: fuzzing explores shapes,
/// not throughput.
const RUN_BYTES: usize = 64 << 20;

/// Most scalar steps the reference interpreter may take (see `Graph::reference_work`): its
/// slowest ops take ~0.3 µs a step in release builds and several times that under
/// AddressSanitizer, whose per-input timeout is 10 s.
const RUN_WORK: u64 = 1 << 22;

/// Runs the target on one input; panics on a finding.
pub fn check(data: &[u8]) {
    let Ok(graph) = compiler::load_bytes(data, &ImportOptions::default()) else {
        return;
    };
    let Ok(model) = compiler::compile(graph.clone()) else {
        return;
    };
    let inputs: Vec<Tensor> = model
        .inputs()
        .iter()
        .map(|spec| Tensor::zeros(spec.dtype, spec.shape.clone()))
        .collect();
    let input_bytes: usize = inputs.iter().map(|t| t.len() * 8).sum();
    if model.arena_size() > RUN_BYTES
        || input_bytes > RUN_BYTES
        || graph.reference_work() > RUN_WORK
    {
        return;
    }
    let mut state = model.new_state(1);
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let compiled = model.predict(&mut state, &refs);
    let named: Vec<(&str, &Tensor)> = model
        .inputs()
        .iter()
        .zip(&inputs)
        .map(|(spec, t)| (spec.name.as_str(), t))
        .collect();
    let reference = compiler::reference::run(&graph, &named);
    if let (Ok(c), Ok(r)) = (&compiled, &reference) {
        assert_eq!(c.len(), r.len(), "output count");
        for (c, r) in c.iter().zip(r) {
            assert_eq!(c.shape(), r.shape(), "output shape: compiled vs reference");
        }
    }
}
