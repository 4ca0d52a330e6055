//! Robustness: corrupted variants of real models (random byte flips) are imported and
//! compiled; every outcome must be a value or an error, never a panic.

use compiler::{load_bytes, ImportOptions};

#[test]
fn byte_flipped_models_never_panic() {
    let dir = compiler::conformance::shared_dir();
    let seeds = [
        "onnx-pytorch-tests/test_Conv2d_depthwise_padded/model.onnx",
        "onnx-node-tests/test_maxpool_2d_ceil/model.onnx",
        "onnx-node-tests/test_gemm_all_attributes/model.onnx",
        "onnx-node-tests/test_reshape_negative_dim/model.onnx",
        "onnx-node-tests/test_slice_neg_steps/model.onnx",
        "onnx-node-tests/test_resize_upsample_scales_linear/model.onnx",
    ];
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut decoded = 0;
    for seed in seeds {
        let bytes = std::fs::read(dir.join(seed)).unwrap();
        for _ in 0..300 {
            let mut m = bytes.clone();
            for _ in 0..1 + next() % 4 {
                let i = (next() as usize) % m.len();
                m[i] = next() as u8;
            }
            let r = std::panic::catch_unwind(|| {
                if let Ok(g) = load_bytes(&m, &ImportOptions::default()) {
                    let _ = compiler::compile(g);
                    true
                } else {
                    false
                }
            });
            match r {
                Ok(ok) => decoded += ok as usize,
                Err(_) => panic!("{seed}: a mutated model panicked the compiler (bytes: {m:?})"),
            }
        }
    }
    // Some mutations must survive decoding, or the test exercises nothing past prost.
    assert!(decoded > 50, "only {decoded} mutated models imported");
}
