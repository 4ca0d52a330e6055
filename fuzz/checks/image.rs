//! Image decoding, resizing and colour/type conversion through the SQL functions, with the
//! production limits: `ML.DECODE_IMAGE` → `ML.RESIZE_IMAGE` → `ML.CONVERT_COLOR_SPACE` →
//! `ML.CONVERT_IMAGE_TYPE`. The first three bytes choose the resize target and options; the
//! rest is the encoded image. Errors are fine; panics, aborts, hangs and unbounded memory
//! are findings.
//!
//! Shared by the fuzz target and `tests/fuzz_regressions.rs`.

use sqlfront::imagefns::call;
use sqlfront::value::Value;

/// Runs the target on one input; panics on a finding.
pub fn check(data: &[u8]) {
    let [h, w, flags, rest @ ..] = data else {
        return;
    };
    let Ok(img) = call("ML.DECODE_IMAGE", &[Value::Bytes(rest.to_vec())]) else {
        return;
    };
    // 0 and negative sizes exercise the argument checks; the rest stay small.
    let size = |b: u8| i64::from(b) - 8;
    let Ok(img) = call(
        "ML.RESIZE_IMAGE",
        &[
            img,
            Value::Int64(size(*h)),
            Value::Int64(size(*w)),
            Value::Bool(flags & 1 == 1),
        ],
    ) else {
        return;
    };
    let space = ["RGB", "HSV", "GRAYSCALE", "YIQ", "YUV", "rgb", ""][usize::from(flags >> 1) % 7];
    let img = match call(
        "ML.CONVERT_COLOR_SPACE",
        &[img.clone(), Value::String(space.into())],
    ) {
        Ok(converted) => converted,
        Err(_) => img,
    };
    let _ = call("ML.CONVERT_IMAGE_TYPE", &[img]);
}
