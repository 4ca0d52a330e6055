//! ONNX protobuf values → runtime types: tensors from `TensorProto` (raw, typed fields or
//! external data). Shared by import, op parsing (tensor attributes) and the conformance
//! reader; depends on nothing else in the compiler.

use std::path::Path;

use runtime::tensor::fmt_shape;
use runtime::{DType, Tensor, TensorData};

use crate::onnx::{self, TensorProto};

/// Converts a `TensorProto` (raw_data, typed fields or external data) to a [`Tensor`].
pub fn tensor_from_proto(t: &TensorProto, base_dir: Option<&Path>) -> Result<Tensor, String> {
    let code = t.data_type();
    let dtype =
        DType::from_onnx(code).ok_or_else(|| format!("unsupported tensor data type {code}"))?;
    let shape = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d}")))
        .collect::<Result<Vec<_>, _>>()?;
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("dimensions overflow")?;
    let max = runtime::limits::MAX_ELEMENTS;
    if n > max {
        return Err(format!(
            "dims {} hold {n} elements, more than the limit of {max}",
            fmt_shape(&shape)
        ));
    }
    if t.data_location() == onnx::tensor_proto::DataLocation::External {
        let bytes = read_external(t, base_dir)?;
        return Tensor::from_le_bytes(dtype, shape, &bytes);
    }
    if let Some(raw) = &t.raw_data {
        return Tensor::from_le_bytes(dtype, shape, raw);
    }
    let check = |len: usize, field: &str| {
        if len == n {
            Ok(())
        } else {
            Err(format!(
                "{field} holds {len} values but dims {} need {n}",
                fmt_shape(&shape)
            ))
        }
    };
    let data = match dtype {
        DType::F32 => {
            check(t.float_data.len(), "float_data")?;
            TensorData::F32(t.float_data.clone())
        }
        DType::F64 => {
            check(t.double_data.len(), "double_data")?;
            TensorData::F64(t.double_data.clone())
        }
        DType::I64 => {
            check(t.int64_data.len(), "int64_data")?;
            TensorData::I64(t.int64_data.clone())
        }
        DType::I32 => {
            check(t.int32_data.len(), "int32_data")?;
            TensorData::I32(t.int32_data.clone())
        }
        DType::U8 => {
            check(t.int32_data.len(), "int32_data")?;
            TensorData::U8(t.int32_data.iter().map(|&v| v as u8).collect())
        }
        DType::Bool => {
            check(t.int32_data.len(), "int32_data")?;
            TensorData::Bool(t.int32_data.iter().map(|&v| v != 0).collect())
        }
    };
    Tensor::new(shape, data)
}

fn read_external(t: &TensorProto, base_dir: Option<&Path>) -> Result<Vec<u8>, String> {
    let get = |k: &str| {
        t.external_data
            .iter()
            .find(|e| e.key() == k)
            .map(|e| e.value().to_string())
    };
    let location = get("location").ok_or("external data without a 'location'")?;
    if Path::new(&location).is_absolute() || location.split(['/', '\\']).any(|c| c == "..") {
        return Err(format!(
            "external data location '{location}' must stay inside the model's folder"
        ));
    }
    let base =
        base_dir.ok_or("external data needs the model's folder (load the model from a file)")?;
    let path = base.join(&location);
    let parse = |k: &str| -> Result<Option<u64>, String> {
        get(k)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| format!("bad external data {k} '{v}'"))
            })
            .transpose()
    };
    let offset = parse("offset")?.unwrap_or(0);
    let length = parse("length")?;
    let limit = runtime::limits::MAX_TENSOR_FILE_BYTES;
    let end = match length {
        Some(l) => Some(offset.checked_add(l).ok_or("length too large")?),
        None => None,
    };
    let range = || match end {
        Some(e) => format!("{offset}..{e}"),
        None => format!("{offset}.."),
    };
    if length.is_some_and(|l| l > limit) {
        return Err(format!(
            "external data range {} is longer than the limit of {limit} bytes",
            range()
        ));
    }
    let cannot = |e: String| format!("cannot read external data {}: {e}", path.display());
    let mut file = runtime::limits::open_regular(&path).map_err(cannot)?;
    let file_len = file.metadata().map_err(|e| cannot(e.to_string()))?.len();
    if offset > file_len || end.is_some_and(|e| e > file_len) {
        return Err(format!(
            "external data range {} is outside {} ({file_len} bytes)",
            range(),
            path.display()
        ));
    }
    use std::io::{Read, Seek};
    file.seek(std::io::SeekFrom::Start(offset))
        .map_err(|e| cannot(e.to_string()))?;
    let want = length.unwrap_or(limit.saturating_add(1));
    let mut bytes = Vec::new();
    file.take(want)
        .read_to_end(&mut bytes)
        .map_err(|e| cannot(e.to_string()))?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "external data range {} is longer than the limit of {limit} bytes",
            range()
        ));
    }
    if length.is_some_and(|l| bytes.len() as u64 != l) {
        return Err(format!(
            "external data range {} is outside {} ({} bytes read)",
            range(),
            path.display(),
            offset + bytes.len() as u64
        ));
    }
    Ok(bytes)
}
