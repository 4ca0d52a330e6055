//! Reading and writing numpy `.npy` files (format versions 1–3, little-endian, C order).

use crate::tensor::{DType, Tensor};

const MAGIC: &[u8] = b"\x93NUMPY";

fn descr_dtype(descr: &str) -> Option<DType> {
    Some(match descr {
        "<f4" => DType::F32,
        "<f8" => DType::F64,
        "<i4" => DType::I32,
        "<i8" => DType::I64,
        "|u1" | "<u1" => DType::U8,
        "|b1" => DType::Bool,
        _ => return None,
    })
}

fn dtype_descr(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "<f4",
        DType::F64 => "<f8",
        DType::I32 => "<i4",
        DType::I64 => "<i8",
        DType::U8 => "|u1",
        DType::Bool => "|b1",
    }
}

/// Value of `'key':` in a numpy header dict, up to the next top-level comma or brace.
fn header_field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("'{key}'");
    let start = header.find(&pat)? + pat.len();
    let rest = header[start..].trim_start().strip_prefix(':')?.trim_start();
    if let Some(inner) = rest.strip_prefix('(') {
        return Some(&inner[..inner.find(')')?]);
    }
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim())
}

/// Parses the bytes of a `.npy` file.
pub fn parse(bytes: &[u8]) -> Result<Tensor, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not a .npy file (bad magic)".into());
    }
    let major = bytes[6];
    let (hlen, hstart) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("truncated .npy header".into());
            }
            let l = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
            (l, 12)
        }
        v => return Err(format!("unsupported .npy format version {v}")),
    };
    let header = bytes
        .get(hstart..hstart + hlen)
        .ok_or("truncated .npy header")?;
    let header = std::str::from_utf8(header).map_err(|_| "non-text .npy header")?;
    let descr = header_field(header, "descr").ok_or("npy header has no 'descr'")?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let dtype = descr_dtype(descr).ok_or_else(|| format!("unsupported npy dtype '{descr}'"))?;
    if header_field(header, "fortran_order") == Some("True") {
        return Err("Fortran-ordered .npy arrays are not supported".into());
    }
    let shape_s = header_field(header, "shape").ok_or("npy header has no 'shape'")?;
    let mut shape = Vec::new();
    for part in shape_s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let d = part
            .trim_end_matches('L')
            .parse::<usize>()
            .map_err(|_| format!("bad dimension '{part}' in npy shape"))?;
        shape.push(d);
    }
    Tensor::from_le_bytes(dtype, shape, &bytes[hstart + hlen..])
}

/// Serialises a tensor as a version-1 `.npy` file.
pub fn to_bytes(t: &Tensor) -> Vec<u8> {
    let dims: Vec<String> = t.shape().iter().map(|d| d.to_string()).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        dtype_descr(t.dtype())
    );
    // Header (magic + version + length + dict + newline) is padded to a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + t.len() * t.dtype().size());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&t.to_le_bytes());
    out
}

/// Reads a `.npy` file from disk: a regular file of at most
/// [`MAX_TENSOR_FILE_BYTES`](crate::limits::MAX_TENSOR_FILE_BYTES).
pub fn read(path: &std::path::Path) -> Result<Tensor, String> {
    let bytes = crate::limits::read_file(path, crate::limits::MAX_TENSOR_FILE_BYTES)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes a `.npy` file to disk.
pub fn write(path: &std::path::Path, t: &Tensor) -> Result<(), String> {
    std::fs::write(path, to_bytes(t)).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_dtype_and_rank() {
        let cases = vec![
            Tensor::f32(vec![2, 3], vec![1.0, -2.5, 3.0, 0.0, 5.5, 6.0]),
            Tensor::i64(vec![3], vec![-1, 0, 1 << 40]),
            Tensor::f32(vec![], vec![7.0]),
            Tensor::i64(vec![0, 4], vec![]),
        ];
        for t in cases {
            let bytes = to_bytes(&t);
            assert_eq!(
                (10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize) % 64,
                0
            );
            assert_eq!(parse(&bytes).unwrap(), t);
        }
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        assert!(parse(b"hello world").unwrap_err().contains("magic"));
        let t = Tensor::f32(vec![4], vec![1.0; 4]);
        let bytes = to_bytes(&t);
        let err = parse(&bytes[..bytes.len() - 3]).unwrap_err();
        assert!(err.contains("do not fit shape [4]"), "{err}");
    }
}
