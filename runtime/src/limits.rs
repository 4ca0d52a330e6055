//! Resource limits against malformed or adversarial models and input files, in one place.
//!
//! Each limit is checked before the memory or time it bounds is spent (at import or compile
//! time for model limits, before reading for files), and exceeding one is an error that
//! names the limit, its value and the node, value or file that exceeds it. Together they
//! keep a model's compile and run within a few GiB of memory: one value is at most 1 GiB
//! of float32, a compiled model's per-call arena at most 2 GiB.

use std::io::Read;
use std::path::Path;

/// Most elements of any single tensor value (2^28: 1 GiB of float32). Shapes beyond it are
/// refused at import, so every later size computation fits comfortably in `usize`.
pub const MAX_ELEMENTS: usize = 1 << 28;

/// Largest per-call arena (the intermediate values of one run) of a compiled model, in
/// bytes (2 GiB). Checked when the plan is made, before any state is allocated.
pub const MAX_ARENA_BYTES: usize = 1 << 31;

/// Most nodes in one graph (1,000,000; ResNet-50 has about 180).
pub const MAX_NODES: usize = 1_000_000;

/// Most taps (kernel volume) in one pooling window (2^20, e.g. 1024 × 1024). Larger
/// windows would make every output scan billions of mostly padded positions.
pub const MAX_WINDOW_TAPS: usize = 1 << 20;

/// Largest ONNX model file (450 MB, BigQuery ML's limit for imported ONNX models).
pub const MAX_MODEL_BYTES: u64 = 450_000_000;

/// Largest ahead-of-time compiled model library (1 GiB: code plus packed weights of a
/// model within [`MAX_MODEL_BYTES`]).
pub const MAX_ARTIFACT_BYTES: u64 = 1 << 30;

/// Largest tensor file (`.npy` input, ONNX `TensorProto` `.pb`, external tensor data):
/// 2 GiB, one [`MAX_ELEMENTS`] value of 8-byte elements.
pub const MAX_TENSOR_FILE_BYTES: u64 = 2 << 30;

/// Largest object read into an object table's `data` column (1 GiB; `ML.DECODE_IMAGE`
/// itself takes at most 10 MB).
pub const MAX_OBJECT_BYTES: u64 = 1 << 30;

/// Largest catalog file of a data directory (256 MiB, millions of entries).
pub const MAX_CATALOG_BYTES: u64 = 256 << 20;

/// Reads the regular file at `path`, refusing anything else (a FIFO, a device such as
/// `/dev/zero`, a directory) before opening it, and refusing more than `limit` bytes even
/// when the file grows while being read. The error names neither the path nor the limit's
/// purpose: callers add both.
pub fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let mut file = open_regular(path)?;
    let mut bytes = Vec::new();
    (&mut file)
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "the file is larger than the limit of {limit} bytes"
        ));
    }
    Ok(bytes)
}

/// Opens `path` for reading if it is a regular file (checked before opening, so that a
/// FIFO never blocks the open, and again on the open file).
pub fn open_regular(path: &Path) -> Result<std::fs::File, String> {
    let not_regular = |m: &std::fs::Metadata| {
        let t = m.file_type();
        let kind = if t.is_dir() {
            "a directory"
        } else {
            use std::os::unix::fs::FileTypeExt;
            if t.is_fifo() {
                "a FIFO"
            } else if t.is_char_device() || t.is_block_device() {
                "a device"
            } else if t.is_socket() {
                "a socket"
            } else {
                "a special file"
            }
        };
        format!("{kind}, not a regular file")
    };
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_directories_are_refused_and_the_limit_holds() {
        let e = read_file(Path::new("/dev/zero"), 10).unwrap_err();
        assert_eq!(e, "a device, not a regular file");
        let e = read_file(Path::new("/"), 10).unwrap_err();
        assert_eq!(e, "a directory, not a regular file");
        let dir = std::env::temp_dir().join(format!("bqmlc-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("eleven");
        std::fs::write(&f, b"hello world").unwrap();
        assert_eq!(read_file(&f, 11).unwrap(), b"hello world");
        assert_eq!(
            read_file(&f, 10).unwrap_err(),
            "the file is larger than the limit of 10 bytes"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
