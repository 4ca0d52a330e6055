//! Helpers shared by the `imageops_*` integration tests: where `shared/` is, the
//! Python oracle (`shared/tools/preprocess.py`), and a minimal `.npy` reader.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// `shared/`: `$BQMLC_SHARED`, else `../shared` next to the workspace root.
pub fn shared_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("BQMLC_SHARED") {
        return PathBuf::from(p);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().expect("kernels/ has a parent");
    let dir = root.join("../shared");
    assert!(
        dir.join("data/images").is_dir(),
        "shared data not found at {}; set BQMLC_SHARED",
        dir.display()
    );
    dir
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The photos in `shared/data/images/`, sorted.
pub fn photos() -> Vec<PathBuf> {
    let dir = shared_dir().join("data/images");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("jpg" | "png" | "bmp")
            )
        })
        .collect();
    v.sort();
    assert_eq!(v.len(), 9, "expected the 9 photos in {}", dir.display());
    v
}

/// The Python interpreter (`$BQMLC_PYTHON`, default `python3`), checked to import
/// numpy and Pillow. Panics with instructions otherwise: the oracle tests must not skip.
pub fn python() -> String {
    let py = std::env::var("BQMLC_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&py)
        .args(["-c", "import numpy, PIL"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run Python '{py}': {e}; set BQMLC_PYTHON to a Python with numpy and Pillow (e.g. /work/venv/bin/python)"));
    assert!(
        out.status.success(),
        "Python '{py}' cannot import numpy and Pillow (needed by the preprocess.py oracle): {}\n\
         set BQMLC_PYTHON to a Python with numpy and Pillow (e.g. /work/venv/bin/python)",
        String::from_utf8_lossy(&out.stderr)
    );
    py
}

/// Runs `script` with `shared/tools` on `sys.path` and `args` as `sys.argv[1:]`.
pub fn run_python(script: &str, args: &[&str]) {
    let py = python();
    let tools = shared_dir().join("tools");
    let out = Command::new(&py)
        .arg("-c")
        .arg(script)
        .args(args)
        .env("PYTHONPATH", &tools)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python oracle failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh empty scratch directory for one test.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bqmlc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A little-endian float32, C-order `.npy` array (versions 1–3).
pub struct Npy {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

pub fn read_npy(path: &Path) -> Npy {
    let bytes = read(path);
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{}: not .npy", path.display());
    let major = bytes[6];
    let (hlen, start) = if major == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        )
    };
    let header = std::str::from_utf8(&bytes[start..start + hlen]).unwrap();
    assert!(
        header.contains("'descr': '<f4'"),
        "{}: only <f4 supported: {header}",
        path.display()
    );
    assert!(
        header.contains("'fortran_order': False"),
        "{}: {header}",
        path.display()
    );
    let shape_txt = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .unwrap();
    let shape: Vec<usize> = shape_txt
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let body = &bytes[start + hlen..];
    let n: usize = shape.iter().product();
    assert_eq!(body.len(), n * 4, "{}: size mismatch", path.display());
    let data = body
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    Npy { shape, data }
}

/// Max |a - b| over equal-length slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
