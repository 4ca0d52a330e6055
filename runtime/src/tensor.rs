//! Dense host tensors: the values that cross the boundary between callers and models.

use std::fmt;

/// Element type of a tensor. The discriminants are ONNX's `TensorProto.DataType` codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32 = 1,
    U8 = 2,
    I32 = 6,
    I64 = 7,
    Bool = 9,
    F64 = 11,
}

impl DType {
    /// Maps an ONNX `TensorProto.DataType` code, `None` for types bqmlc does not handle.
    pub fn from_onnx(code: i32) -> Option<DType> {
        Some(match code {
            1 => DType::F32,
            2 => DType::U8,
            6 => DType::I32,
            7 => DType::I64,
            9 => DType::Bool,
            11 => DType::F64,
            _ => return None,
        })
    }

    /// The ONNX `TensorProto.DataType` code.
    pub fn onnx_code(self) -> i32 {
        self as i32
    }

    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::I64 | DType::F64 => 8,
            DType::U8 | DType::Bool => 1,
        }
    }

    /// Lower-case name as ONNX and numpy spell it (`float32`, `int64`, …).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::U8 => "uint8",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::Bool => "bool",
            DType::F64 => "float64",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The elements of a tensor, row-major.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    U8(Vec<u8>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
    F64(Vec<f64>),
}

/// A dense row-major tensor. Invariant: the element count equals the product of `shape`.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: TensorData,
}

/// Formats a shape as `[1, 3, 224, 224]`.
pub fn fmt_shape(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

impl Tensor {
    /// Builds a tensor, checking that the data length matches the shape.
    pub fn new(shape: Vec<usize>, data: TensorData) -> Result<Tensor, String> {
        let n: usize = shape.iter().product();
        let len = data.len();
        if n != len {
            return Err(format!(
                "shape {} needs {n} elements but {len} were given",
                fmt_shape(&shape)
            ));
        }
        Ok(Tensor { shape, data })
    }

    /// A float32 tensor; panics if the length disagrees with the shape (for internal use
    /// where the length is computed from the shape).
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Tensor {
        Tensor::new(shape, TensorData::F32(data)).expect("f32 tensor length")
    }

    /// An int64 tensor; panics if the length disagrees with the shape.
    pub fn i64(shape: Vec<usize>, data: Vec<i64>) -> Tensor {
        Tensor::new(shape, TensorData::I64(data)).expect("i64 tensor length")
    }

    /// A float64 tensor; panics if the length disagrees with the shape.
    pub fn f64(shape: Vec<usize>, data: Vec<f64>) -> Tensor {
        Tensor::new(shape, TensorData::F64(data)).expect("f64 tensor length")
    }

    /// A zero-filled tensor of the given type.
    pub fn zeros(dtype: DType, shape: Vec<usize>) -> Tensor {
        let n = shape.iter().product();
        let data = match dtype {
            DType::F32 => TensorData::F32(vec![0.0; n]),
            DType::U8 => TensorData::U8(vec![0; n]),
            DType::I32 => TensorData::I32(vec![0; n]),
            DType::I64 => TensorData::I64(vec![0; n]),
            DType::Bool => TensorData::Bool(vec![false; n]),
            DType::F64 => TensorData::F64(vec![0.0; n]),
        };
        Tensor { shape, data }
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.len() == 0
    }

    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    pub fn data(&self) -> &TensorData {
        &self.data
    }

    pub fn into_data(self) -> TensorData {
        self.data
    }

    /// Raw pointer to the element storage (for generated code reading inputs in place).
    pub fn data_ptr(&self) -> *const u8 {
        match &self.data {
            TensorData::F32(v) => v.as_ptr() as *const u8,
            TensorData::U8(v) => v.as_ptr(),
            TensorData::I32(v) => v.as_ptr() as *const u8,
            TensorData::I64(v) => v.as_ptr() as *const u8,
            TensorData::Bool(v) => v.as_ptr() as *const u8,
            TensorData::F64(v) => v.as_ptr() as *const u8,
        }
    }

    /// Raw pointer to the element storage (for generated code writing outputs in place).
    pub fn data_mut_ptr(&mut self) -> *mut u8 {
        match &mut self.data {
            TensorData::F32(v) => v.as_mut_ptr() as *mut u8,
            TensorData::U8(v) => v.as_mut_ptr(),
            TensorData::I32(v) => v.as_mut_ptr() as *mut u8,
            TensorData::I64(v) => v.as_mut_ptr() as *mut u8,
            TensorData::Bool(v) => v.as_mut_ptr() as *mut u8,
            TensorData::F64(v) => v.as_mut_ptr() as *mut u8,
        }
    }

    /// Same elements, new shape of equal element count.
    pub fn reshaped(mut self, shape: Vec<usize>) -> Result<Tensor, String> {
        let n: usize = shape.iter().product();
        if n != self.len() {
            return Err(format!(
                "cannot reshape {} elements to {}",
                self.len(),
                fmt_shape(&shape)
            ));
        }
        self.shape = shape;
        Ok(self)
    }

    /// The float32 elements, or an error naming the actual type.
    pub fn as_f32(&self) -> Result<&[f32], String> {
        match &self.data {
            TensorData::F32(v) => Ok(v),
            d => Err(format!("expected float32, got {}", d.dtype())),
        }
    }

    /// The int64 elements, or an error naming the actual type.
    pub fn as_i64(&self) -> Result<&[i64], String> {
        match &self.data {
            TensorData::I64(v) => Ok(v),
            d => Err(format!("expected int64, got {}", d.dtype())),
        }
    }

    /// Integer view of an index/shape tensor (int64 or int32), as ONNX allows either.
    pub fn to_i64_vec(&self) -> Result<Vec<i64>, String> {
        match &self.data {
            TensorData::I64(v) => Ok(v.clone()),
            TensorData::I32(v) => Ok(v.iter().map(|&x| x as i64).collect()),
            d => Err(format!("expected an integer tensor, got {}", d.dtype())),
        }
    }

    /// Every element converted to f64 (for comparisons and printing).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match &self.data {
            TensorData::F32(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::U8(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::I32(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::Bool(v) => v.iter().map(|&x| x as u8 as f64).collect(),
            TensorData::F64(v) => v.clone(),
        }
    }

    /// Little-endian bytes of the elements (bool as one byte each).
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match &self.data {
            TensorData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::U8(v) => v.clone(),
            TensorData::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::Bool(v) => v.iter().map(|&b| b as u8).collect(),
            TensorData::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }

    /// Decodes little-endian bytes into a tensor of `dtype` and `shape`.
    pub fn from_le_bytes(dtype: DType, shape: Vec<usize>, bytes: &[u8]) -> Result<Tensor, String> {
        // A zero dimension makes the tensor empty whatever the others are.
        let want = if shape.contains(&0) {
            0
        } else {
            shape
                .iter()
                .try_fold(dtype.size(), |a, &d| a.checked_mul(d))
                .ok_or_else(|| format!("shape {} is too large", fmt_shape(&shape)))?
        };
        if bytes.len() != want {
            return Err(format!(
                "{} bytes of {dtype} data do not fit shape {} ({want} bytes expected)",
                bytes.len(),
                fmt_shape(&shape)
            ));
        }
        fn chunks<const K: usize, T>(b: &[u8], f: impl Fn([u8; K]) -> T) -> Vec<T> {
            b.chunks_exact(K)
                .map(|c| f(c.try_into().expect("exact chunk")))
                .collect()
        }
        let data = match dtype {
            DType::F32 => TensorData::F32(chunks(bytes, f32::from_le_bytes)),
            DType::U8 => TensorData::U8(bytes.to_vec()),
            DType::I32 => TensorData::I32(chunks(bytes, i32::from_le_bytes)),
            DType::I64 => TensorData::I64(chunks(bytes, i64::from_le_bytes)),
            DType::Bool => TensorData::Bool(bytes.iter().map(|&b| b != 0).collect()),
            DType::F64 => TensorData::F64(chunks(bytes, f64::from_le_bytes)),
        };
        Ok(Tensor { shape, data })
    }
}

impl TensorData {
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::U8(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::I64(v) => v.len(),
            TensorData::Bool(v) => v.len(),
            TensorData::F64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dtype(&self) -> DType {
        match self {
            TensorData::F32(_) => DType::F32,
            TensorData::U8(_) => DType::U8,
            TensorData::I32(_) => DType::I32,
            TensorData::I64(_) => DType::I64,
            TensorData::Bool(_) => DType::Bool,
            TensorData::F64(_) => DType::F64,
        }
    }
}
