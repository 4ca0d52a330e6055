//! Ahead-of-time artifacts: the metadata block every compiled `.so` embeds, the CPU-feature
//! mask it was compiled for, and the loader that turns a `.so` back into a [`CompiledModel`].
//!
//! # Metadata format (version 1, little-endian)
//!
//! The shared library exports a data symbol [`META_SYMBOL`] holding:
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic [`MAGIC`] |
//! | 4 | format version ([`FORMAT_VERSION`]) |
//! | 4 | total length of the block in bytes |
//! | 8 | CPU-feature mask the code needs ([`FEATURES`] bit numbers) |
//! | 32 | sha256 of the ONNX model bytes |
//! | 8 | arena size in bytes |
//! | 8 | floating-point operations of one run (2 × multiply-adds of Conv/Gemm/MatMul) |
//! | 4+4+4 | input, output and status counts |
//! | … | per input then output: name (u32 length + UTF-8), ONNX dtype code (u32), rank (u32), dims (u64 each) |
//! | … | per status: text (u32 length + UTF-8) |
//!
//! The entry function [`ENTRY_SYMBOL`] has the [`EntryFn`] signature; [`POOL_NEW_SYMBOL`] and
//! [`POOL_FREE_SYMBOL`] create and free the library's own worker pool, which its generated code
//! is handed (the pool type is private to the library's copy of this crate).

use std::ffi::c_void;
use std::path::Path;

use crate::model::{CompiledModel, EntryFn, ForeignPool};
use crate::tensor::DType;
use crate::IoSpec;

/// First bytes of the metadata block.
pub const MAGIC: [u8; 8] = *b"BQMLAOT\0";
/// The metadata format this runtime reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Exported data symbol holding the metadata block.
pub const META_SYMBOL: &str = "bqml_model_meta";
/// Exported generated entry function.
pub const ENTRY_SYMBOL: &str = "bqml_model_entry";
/// Exported `extern "C" fn(threads: u32) -> *mut c_void` creating the library's pool.
pub const POOL_NEW_SYMBOL: &str = "bqml_pool_new";
/// Exported `extern "C" fn(*mut c_void)` freeing a pool from [`POOL_NEW_SYMBOL`].
pub const POOL_FREE_SYMBOL: &str = "bqml_pool_free";

/// CPU features an artifact may require: `(bit, name)`. Names follow
/// `is_x86_feature_detected!`. Bits not listed here are unknown to this runtime and refused.
pub const FEATURES: &[(u32, &str)] = &[
    (0, "sse3"),
    (1, "ssse3"),
    (2, "sse4.1"),
    (3, "sse4.2"),
    (4, "popcnt"),
    (5, "avx"),
    (6, "avx2"),
    (7, "fma"),
    (8, "bmi1"),
    (9, "bmi2"),
    (10, "lzcnt"),
    (11, "avx512f"),
    (12, "avx512dq"),
    (13, "avx512vl"),
    (14, "avx512vbmi"),
    (15, "avx512bitalg"),
    (16, "avx512vnni"),
    (17, "cmpxchg16b"),
    (18, "avx512bw"),
];

/// The bit of a feature name from [`FEATURES`].
pub fn feature_bit(name: &str) -> Option<u64> {
    FEATURES
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(b, _)| 1u64 << b)
}

/// Comma-separated names of the features in `mask` (unknown bits as `bitN`).
pub fn feature_names(mask: u64) -> String {
    let names: Vec<String> = (0..64)
        .filter(|b| mask & (1u64 << b) != 0)
        .map(|b| {
            FEATURES
                .iter()
                .find(|(fb, _)| *fb == b)
                .map_or(format!("bit{b}"), |(_, n)| n.to_string())
        })
        .collect();
    if names.is_empty() {
        "none (baseline x86-64)".into()
    } else {
        names.join(",")
    }
}

/// The features of this CPU, as a mask over [`FEATURES`].
pub fn host_features() -> u64 {
    let mut mask = 0u64;
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! detect {
            ($($f:tt),*) => {$(
                if std::arch::is_x86_feature_detected!($f) {
                    mask |= feature_bit($f).unwrap_or(0);
                }
            )*};
        }
        detect!(
            "sse3",
            "ssse3",
            "sse4.1",
            "sse4.2",
            "popcnt",
            "avx",
            "avx2",
            "fma",
            "bmi1",
            "bmi2",
            "lzcnt",
            "avx512f",
            "avx512bw",
            "avx512dq",
            "avx512vl",
            "avx512vbmi",
            "avx512bitalg",
            "avx512vnni",
            "cmpxchg16b"
        );
    }
    mask
}

/// `Ok` when this CPU has every feature in `required`; otherwise an error naming the
/// missing ones.
pub fn check_features(required: u64) -> Result<(), String> {
    let known: u64 = FEATURES
        .iter()
        .map(|(b, _)| 1u64 << b)
        .fold(0, |a, b| a | b);
    if required & !known != 0 {
        return Err(format!(
            "the artifact requires CPU features unknown to this runtime ({}); rebuild it with this bqmlc",
            feature_names(required & !known)
        ));
    }
    let missing = required & !host_features();
    if missing != 0 {
        return Err(format!(
            "the artifact was compiled for CPU features {} but this CPU lacks {}; recompile it with --target-cpu native or x86-64",
            feature_names(required),
            feature_names(missing)
        ));
    }
    Ok(())
}

/// What an artifact records about its model.
#[derive(Clone, Debug, PartialEq)]
pub struct ArtifactMeta {
    pub version: u32,
    /// Required CPU features ([`FEATURES`] bits).
    pub features: u64,
    /// sha256 of the ONNX model bytes.
    pub sha256: [u8; 32],
    pub arena_size: usize,
    /// Floating-point operations of one run (for GFLOP/s reports).
    pub flops: u64,
    pub inputs: Vec<IoSpec>,
    pub outputs: Vec<IoSpec>,
    /// Texts of the failure statuses (code `i + 1` is `statuses[i]`).
    pub statuses: Vec<String>,
}

/// Fixed-size prefix: magic, version, length.
pub const HEADER_LEN: usize = 16;

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ArtifactMeta {
    /// The metadata block.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&self.version.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes()); // length, patched below
        b.extend_from_slice(&self.features.to_le_bytes());
        b.extend_from_slice(&self.sha256);
        b.extend_from_slice(&(self.arena_size as u64).to_le_bytes());
        b.extend_from_slice(&self.flops.to_le_bytes());
        for n in [self.inputs.len(), self.outputs.len(), self.statuses.len()] {
            b.extend_from_slice(&(n as u32).to_le_bytes());
        }
        let put_str = |b: &mut Vec<u8>, s: &str| {
            b.extend_from_slice(&(s.len() as u32).to_le_bytes());
            b.extend_from_slice(s.as_bytes());
        };
        for io in self.inputs.iter().chain(&self.outputs) {
            put_str(&mut b, &io.name);
            b.extend_from_slice(&(io.dtype.onnx_code() as u32).to_le_bytes());
            b.extend_from_slice(&(io.shape.len() as u32).to_le_bytes());
            for &d in &io.shape {
                b.extend_from_slice(&(d as u64).to_le_bytes());
            }
        }
        for s in &self.statuses {
            put_str(&mut b, s);
        }
        let len = b.len() as u32;
        b[12..16].copy_from_slice(&len.to_le_bytes());
        b
    }

    /// Total block length from its 16-byte header, after checking magic and version.
    pub fn block_len(header: &[u8]) -> Result<usize, String> {
        if header.len() < HEADER_LEN || header[..8] != MAGIC {
            return Err("not a bqmlc artifact (bad metadata magic)".into());
        }
        let version = u32::from_le_bytes(header[8..12].try_into().unwrap_or_default());
        if version != FORMAT_VERSION {
            return Err(format!(
                "artifact format version {version} is not supported (this runtime reads version {FORMAT_VERSION})"
            ));
        }
        let len = u32::from_le_bytes(header[12..16].try_into().unwrap_or_default()) as usize;
        if len < HEADER_LEN {
            return Err(format!("artifact metadata length {len} is too small"));
        }
        Ok(len)
    }

    /// Parses a metadata block; every length is bounds-checked.
    pub fn parse(bytes: &[u8]) -> Result<ArtifactMeta, String> {
        let len = Self::block_len(bytes)?;
        if bytes.len() < len {
            return Err("artifact metadata is truncated".into());
        }
        let mut r = Reader {
            b: &bytes[..len],
            pos: 8,
        };
        let version = r.u32()?;
        r.u32()?;
        let features = r.u64()?;
        let sha256: [u8; 32] = r.take(32)?.try_into().map_err(|_| r.err())?;
        let arena_size = usize::try_from(r.u64()?).map_err(|_| r.err())?;
        let max = crate::limits::MAX_ARENA_BYTES;
        if arena_size > max {
            return Err(format!(
                "artifact metadata asks for an arena of {arena_size} bytes, more than the limit of {max}"
            ));
        }
        let flops = r.u64()?;
        let (ni, no, ns) = (r.u32()?, r.u32()?, r.u32()?);
        let mut io = |n: u32| -> Result<Vec<IoSpec>, String> {
            (0..n)
                .map(|_| {
                    let name = r.string()?;
                    let code = r.u32()?;
                    let dtype = DType::from_onnx(code as i32)
                        .ok_or_else(|| format!("artifact metadata: unknown dtype code {code}"))?;
                    let rank = r.u32()?;
                    if rank > 64 {
                        return Err(format!("artifact metadata: rank {rank} is implausible"));
                    }
                    let shape = (0..rank)
                        .map(|_| r.u64().map(|d| d as usize))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(IoSpec { name, dtype, shape })
                })
                .collect()
        };
        let inputs = io(ni)?;
        let outputs = io(no)?;
        let statuses = (0..ns).map(|_| r.string()).collect::<Result<_, _>>()?;
        Ok(ArtifactMeta {
            version,
            features,
            sha256,
            arena_size,
            flops,
            inputs,
            outputs,
            statuses,
        })
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn err(&self) -> String {
        format!("artifact metadata is corrupt at byte {}", self.pos)
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or_else(|| self.err())?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().unwrap_or_default(),
        ))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().unwrap_or_default(),
        ))
    }
    fn string(&mut self) -> Result<String, String> {
        let n = self.u32()? as usize;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| self.err())
    }
}

/// True when the file starts like an ELF shared object (the artifact container).
pub fn looks_like_artifact(path: &Path) -> bool {
    if path.extension().is_some_and(|e| e == "so") {
        return true;
    }
    let mut head = [0u8; 4];
    crate::limits::open_regular(path)
        .ok()
        .is_some_and(|mut f| std::io::Read::read_exact(&mut f, &mut head).is_ok())
        && head == *b"\x7fELF"
}

type PoolNewFn = unsafe extern "C" fn(u32) -> *mut c_void;
type PoolFreeFn = unsafe extern "C" fn(*mut c_void);

/// Loads an artifact: checks it is a bqmlc `.so` of a supported format version compiled for
/// features this CPU has, before any of its generated code can run. Returns the model and
/// its metadata.
pub fn load(path: &Path) -> Result<(CompiledModel, ArtifactMeta), String> {
    load_checked(path, |_| Ok(()))
}

/// [`load`], with `check` shown the file's bytes before anything else is done with them
/// (a catalog compares their sha256 with the one it recorded); an error from `check`
/// refuses the file, which is then never mapped.
pub fn load_checked(
    path: &Path,
    check: impl FnOnce(&[u8]) -> Result<(), String>,
) -> Result<(CompiledModel, ArtifactMeta), String> {
    let where_ = path.display();
    let bytes = crate::limits::read_file(path, crate::limits::MAX_ARTIFACT_BYTES)
        .map_err(|e| format!("cannot read {where_}: {e}"))?;
    check(&bytes)?;
    if bytes.len() < 64 || bytes[..4] != *b"\x7fELF" {
        return Err(format!("{where_}: not a shared library (no ELF header)"));
    }
    // Check metadata in the file before mapping it: a foreign or damaged file is refused
    // without running its initialisers.
    let at = find_meta(&bytes).ok_or_else(|| {
        format!("{where_}: not a bqmlc artifact (no metadata block with a supported version)")
    })?;
    let meta = ArtifactMeta::parse(&bytes[at..]).map_err(|e| format!("{where_}: {e}"))?;
    check_features(meta.features).map_err(|e| format!("{where_}: {e}"))?;
    // SAFETY: the file is a bqmlc artifact (checked above); its initialisers are those of
    // the runtime/kernels static library it was linked with, which have no side effects
    // beyond Rust's standard library setup.
    let lib = unsafe { libloading::Library::new(path) }
        .map_err(|e| format!("{where_}: cannot load: {e}"))?;
    // SAFETY: symbol types follow the format documented at the top of this module; the
    // metadata is re-read from the mapped library so it is exactly what the code uses.
    let (entry, pool_new, pool_free, meta) = unsafe {
        let sym = |name: &str| -> Result<*const c_void, String> {
            lib.get::<*const c_void>(name.as_bytes())
                .map(|s| *s)
                .map_err(|e| format!("{where_}: missing symbol {name}: {e}"))
        };
        let meta_ptr = sym(META_SYMBOL)? as *const u8;
        let header = std::slice::from_raw_parts(meta_ptr, HEADER_LEN);
        let len = ArtifactMeta::block_len(header).map_err(|e| format!("{where_}: {e}"))?;
        let mapped = ArtifactMeta::parse(std::slice::from_raw_parts(meta_ptr, len))
            .map_err(|e| format!("{where_}: {e}"))?;
        if mapped != meta {
            return Err(format!(
                "{where_}: the exported metadata differs from the file's"
            ));
        }
        (
            std::mem::transmute::<*const c_void, EntryFn>(sym(ENTRY_SYMBOL)?),
            std::mem::transmute::<*const c_void, PoolNewFn>(sym(POOL_NEW_SYMBOL)?),
            std::mem::transmute::<*const c_void, PoolFreeFn>(sym(POOL_FREE_SYMBOL)?),
            mapped,
        )
    };
    // SAFETY: the entry was generated for exactly these specs and arena size (the
    // metadata it was linked with) and lives as long as `lib`, which the model keeps.
    let lib = std::sync::Arc::new(lib);
    let model = unsafe {
        CompiledModel::new(
            entry,
            meta.arena_size,
            meta.inputs.clone(),
            meta.outputs.clone(),
            vec![Box::new(lib.clone())],
            meta.statuses.clone(),
        )
        .with_foreign_pool(ForeignPool {
            new: pool_new,
            free: pool_free,
            library: lib,
        })
    };
    Ok((model, meta))
}

/// Offset of the first well-formed metadata block (magic, supported version, parses) in
/// `bytes`.
pub fn find_meta(bytes: &[u8]) -> Option<usize> {
    let mut key = MAGIC.to_vec();
    key.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes
        .windows(key.len())
        .enumerate()
        .filter(|(_, w)| *w == key.as_slice())
        .map(|(i, _)| i)
        .find(|&i| ArtifactMeta::parse(&bytes[i..]).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ArtifactMeta {
        ArtifactMeta {
            version: FORMAT_VERSION,
            features: feature_bit("avx2").unwrap() | feature_bit("fma").unwrap(),
            sha256: [7; 32],
            arena_size: 12345,
            flops: 3_640_000_000,
            inputs: vec![IoSpec {
                name: "x".into(),
                dtype: DType::F32,
                shape: vec![1, 224, 224, 3],
            }],
            outputs: vec![IoSpec {
                name: "probs".into(),
                dtype: DType::F32,
                shape: vec![1, 1000],
            }],
            statuses: vec!["bad index".into()],
        }
    }

    #[test]
    fn metadata_round_trips_and_truncation_is_an_error() {
        let m = sample();
        let b = m.to_bytes();
        assert_eq!(ArtifactMeta::parse(&b).unwrap(), m);
        for cut in [0, 10, 20, b.len() - 1] {
            assert!(ArtifactMeta::parse(&b[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = b.clone();
        bad[8] = 9;
        assert!(ArtifactMeta::parse(&bad).unwrap_err().contains("version 9"));
    }

    #[test]
    fn an_arena_beyond_the_limit_is_refused_before_any_state_exists() {
        let m = ArtifactMeta {
            arena_size: crate::limits::MAX_ARENA_BYTES + 1,
            ..sample()
        };
        assert_eq!(
            ArtifactMeta::parse(&m.to_bytes()).unwrap_err(),
            "artifact metadata asks for an arena of 2147483649 bytes, more than the limit of 2147483648"
        );
    }

    #[test]
    fn missing_and_unknown_features_are_refused_by_name() {
        assert!(check_features(0).is_ok());
        let err = check_features(1u64 << 63).unwrap_err();
        assert!(err.contains("bit63"), "{err}");
        if host_features() & feature_bit("avx512f").unwrap() == 0 {
            let err = check_features(feature_bit("avx512f").unwrap()).unwrap_err();
            assert!(err.contains("lacks avx512f"), "{err}");
        }
    }
}
