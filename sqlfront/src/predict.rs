//! `ML.PREDICT` over a relation with a compiled model (`SPEC-bigquery.md` §§1.4–1.5, 2).
//!
//! - Each model input is fed from the column of the same name (case-insensitive). Images
//!   feed `[1, H, W, C]` inputs (NHWC); scalars and arrays feed inputs with that many
//!   elements per row. The batch dimension is always 1: rows run one by one.
//! - Result columns: the model's outputs in graph order, named as in ONNX, with the batch
//!   dimension dropped (`[1]` → scalar, `[1, K]` → `ARRAY` of K), then every input column.
//!   An output whose name equals an input column's is an error (BigQuery leaves it open).
//! - A NULL input value, a wrong-shaped image or a failing row fails the whole query,
//!   naming the row's uri (or row number): BigQuery fails queries on scalar errors too.
//! - Rows run in parallel on rayon's pool, each worker with its own model state; the
//!   output keeps the input's row order.

use std::sync::{Arc, Mutex};

use runtime::tensor::fmt_shape;
use runtime::{CompiledModel, DType, IoSpec, State, Tensor, TensorData};

use crate::ast::DataType;
use crate::error::{Result, SqlError};
use crate::imagefns::image_from_struct;
use crate::sources::ScopeColumn;
use crate::value::{ImagePixels, ImageValue, Value};

fn invalid(msg: impl Into<String>) -> SqlError {
    SqlError::new(crate::error::ErrorKind::InvalidQuery, msg)
}

/// What `ML.PREDICT` runs for one model over one input schema: which input column feeds
/// each model input, and the output columns' names and types.
pub struct PredictPlan {
    model: Arc<CompiledModel>,
    feeds: Vec<usize>,
    uri_col: Option<usize>,
    /// The output columns, in the model's output order.
    pub outputs: Vec<(String, DataType)>,
}

impl PredictPlan {
    /// Matches the model's inputs to `columns` by name (case-insensitive) and checks that
    /// no output name collides with an input column.
    pub fn new(model: &Arc<CompiledModel>, columns: &[ScopeColumn]) -> Result<PredictPlan> {
        let feeds = model
            .inputs()
            .iter()
            .map(|spec| find_column(columns, &spec.name))
            .collect::<Result<Vec<_>>>()?;
        let mut outputs = Vec::new();
        for spec in model.outputs() {
            if columns
                .iter()
                .any(|c| !c.hidden && c.name.eq_ignore_ascii_case(&spec.name))
            {
                return Err(invalid(format!(
                    "ML.PREDICT output column {0} has the same name as an input column; rename the input column {0}",
                    spec.name
                )));
            }
            outputs.push((spec.name.clone(), output_type(spec)?));
        }
        let uri_col = columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case("uri"));
        Ok(PredictPlan {
            model: Arc::clone(model),
            feeds,
            uri_col,
            outputs,
        })
    }

    /// The compiled model.
    pub fn model(&self) -> &Arc<CompiledModel> {
        &self.model
    }

    /// Whether [`PredictPlan::run_row`] reads input column `c` (a feed, or the uri that
    /// names a failing row); other columns may be passed as NULL.
    pub fn reads_column(&self, c: usize) -> bool {
        self.feeds.contains(&c) || self.uri_col == Some(c)
    }

    /// The model's outputs for row number `index` (0-based) with values `row`.
    pub fn run_row(&self, states: &StatePool, index: usize, row: &[Value]) -> Result<Vec<Value>> {
        crate::progress::check_cancelled()?;
        let model = &self.model;
        let at = RowRef {
            index,
            uri: self.uri_col.and_then(|c| match &row[c] {
                Value::String(s) => Some(s.as_str()),
                _ => None,
            }),
        };
        let tensors = model
            .inputs()
            .iter()
            .zip(&self.feeds)
            .map(|(spec, &c)| to_tensor(&row[c], spec, &at))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&Tensor> = tensors.iter().collect();
        let outs = states
            .with(|state| model.predict(state, &refs))
            .map_err(|m| invalid(format!("ML.PREDICT failed for {at}: {m}")))?;
        let out = model
            .outputs()
            .iter()
            .zip(outs)
            .map(|(spec, t)| from_tensor(t, spec))
            .collect();
        crate::progress::row_done();
        Ok(out)
    }
}

/// A row's name in messages: its uri when the input has one, else its number.
struct RowRef<'a> {
    index: usize,
    uri: Option<&'a str>,
}

impl std::fmt::Display for RowRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.uri {
            Some(u) => write!(f, "{u}"),
            None => write!(f, "row {}", self.index + 1),
        }
    }
}

/// Model states handed to workers; each is used by one row at a time.
pub struct StatePool {
    model: Arc<CompiledModel>,
    threads: usize,
    free: Mutex<Vec<State>>,
}

impl StatePool {
    /// A pool of states for `model`, each running on `threads` threads.
    pub fn new(model: &Arc<CompiledModel>, threads: usize) -> StatePool {
        StatePool {
            model: Arc::clone(model),
            threads,
            free: Mutex::new(Vec::new()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let taken = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut state = taken.unwrap_or_else(|| self.model.new_state(self.threads));
        let out = f(&mut state);
        self.free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(state);
        out
    }
}

fn find_column(columns: &[ScopeColumn], name: &str) -> Result<usize> {
    let hits: Vec<usize> = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.name.eq_ignore_ascii_case(name))
        .map(|(i, _)| i)
        .collect();
    match hits[..] {
        [i] => Ok(i),
        [] => Err(invalid(format!(
            "Invalid table-valued function ML.PREDICT Column {name} is not found in the input data to the PREDICT function."
        ))),
        _ => Err(invalid(format!(
            "Invalid table-valued function ML.PREDICT Column {name} is ambiguous in the input data to the PREDICT function."
        ))),
    }
}

/// The per-row shape: the model's shape without its batch dimension of 1.
fn row_shape(spec: &IoSpec) -> &[usize] {
    match spec.shape.split_first() {
        Some((1, rest)) => rest,
        _ => &spec.shape,
    }
}

/// The SQL type of an output column (§1.4: integers → INT64, floats → FLOAT64).
fn output_type(spec: &IoSpec) -> Result<DataType> {
    let scalar = match spec.dtype {
        DType::F32 | DType::F64 => DataType::Float64,
        DType::U8 | DType::I32 | DType::I64 => DataType::Int64,
        DType::Bool => DataType::Bool,
    };
    Ok(if row_shape(spec).is_empty() {
        scalar
    } else {
        DataType::Array(Box::new(scalar))
    })
}

fn from_tensor(t: Tensor, spec: &IoSpec) -> Value {
    let mut vals: Vec<Value> = match t.into_data() {
        TensorData::F32(v) => v.into_iter().map(|x| Value::Float64(x.into())).collect(),
        TensorData::F64(v) => v.into_iter().map(Value::Float64).collect(),
        TensorData::U8(v) => v.into_iter().map(|x| Value::Int64(x.into())).collect(),
        TensorData::I32(v) => v.into_iter().map(|x| Value::Int64(x.into())).collect(),
        TensorData::I64(v) => v.into_iter().map(Value::Int64).collect(),
        TensorData::Bool(v) => v.into_iter().map(Value::Bool).collect(),
    };
    if row_shape(spec).is_empty() && vals.len() == 1 {
        vals.pop().unwrap_or(Value::Null)
    } else {
        Value::Array(vals)
    }
}

/// Converts one row's value for `spec`, checking its shape first.
fn to_tensor(v: &Value, spec: &IoSpec, at: &RowRef<'_>) -> Result<Tensor> {
    let per_row = row_shape(spec);
    let want: usize = per_row.iter().product();
    let name = &spec.name;
    let image = match v {
        Value::Null => {
            return Err(invalid(format!(
                "ML.PREDICT input column {name} is NULL for {at}; NULL inputs are not supported for ONNX models"
            )))
        }
        Value::Image(img) => Some(img.clone()),
        Value::Struct(fields) => Some(
            image_from_struct(fields)
                .map_err(|e| invalid(format!("ML.PREDICT input column {name} for {at}: {e}")))?,
        ),
        _ => None,
    };
    if let Some(img) = image {
        return image_tensor(&img, spec, at);
    }
    let nums: Vec<f64> = match v {
        Value::Int64(i) => vec![*i as f64],
        Value::Float64(f) => vec![*f],
        Value::Bool(b) => vec![f64::from(u8::from(*b))],
        Value::Array(items) => items
            .iter()
            .map(|x| match x {
                Value::Int64(i) => Ok(*i as f64),
                Value::Float64(f) => Ok(*f),
                Value::Bool(b) => Ok(f64::from(u8::from(*b))),
                other => Err(invalid(format!(
                    "ML.PREDICT input column {name} for {at}: array element of type {} is not convertible to {}",
                    other.type_name(),
                    spec.dtype
                ))),
            })
            .collect::<Result<_>>()?,
        other => {
            return Err(invalid(format!(
                "ML.PREDICT input column {name} has type {}, which is not convertible to the model's {} input {}",
                other.type_name(),
                spec.dtype,
                fmt_shape(&spec.shape)
            )))
        }
    };
    if nums.len() != want {
        return Err(invalid(format!(
            "ML.PREDICT input column {name} for {at} has {} values; the model input {} needs {want} per row",
            nums.len(),
            fmt_shape(&spec.shape)
        )));
    }
    let data = match spec.dtype {
        DType::F32 => TensorData::F32(nums.iter().map(|&x| x as f32).collect()),
        DType::F64 => TensorData::F64(nums),
        DType::I64 => TensorData::I64(nums.iter().map(|&x| x as i64).collect()),
        DType::I32 => TensorData::I32(nums.iter().map(|&x| x as i32).collect()),
        DType::U8 => TensorData::U8(nums.iter().map(|&x| x as u8).collect()),
        DType::Bool => TensorData::Bool(nums.iter().map(|&x| x != 0.0).collect()),
    };
    Tensor::new(spec.shape.clone(), data).map_err(invalid)
}

fn image_tensor(img: &ImageValue, spec: &IoSpec, at: &RowRef<'_>) -> Result<Tensor> {
    let name = &spec.name;
    // The image's own uri is the most precise name for it.
    let who = img
        .source
        .as_deref()
        .map_or_else(|| at.to_string(), str::to_string);
    let [h, w, c] = img.shape;
    if row_shape(spec) != [h, w, c] {
        return Err(invalid(format!(
            "ML.PREDICT input column {name}: the image {who} has shape [{h}, {w}, {c}] but the model expects {}; resize it with ML.RESIZE_IMAGE",
            fmt_shape(row_shape(spec))
        )));
    }
    let data = match (spec.dtype, &img.pixels) {
        // An INT64 image (0–255) is not the FLOAT64 image (0–1) a float model expects:
        // feeding it would silently scale every value by 255.
        (dt @ (DType::F32 | DType::F64), ImagePixels::Int(_)) => {
            return Err(invalid(format!(
                "ML.PREDICT input column {name} has type STRUCT<ARRAY<INT64>, ARRAY<INT64>> (an INT64 image, values 0-255, from ML.CONVERT_IMAGE_TYPE) for {who}, but the model's input {name} is {dt}; feed the FLOAT64 image (values 0-1) instead"
            )))
        }
        (DType::F32, _) => TensorData::F32(img.values_f32().to_vec()),
        (DType::F64, _) => TensorData::F64(img.values_f32().iter().map(|&x| x.into()).collect()),
        (DType::U8, ImagePixels::Int(d)) => TensorData::U8(d.to_vec()),
        (dt, _) => {
            return Err(invalid(format!(
                "ML.PREDICT input column {name}: the image {who} is not convertible to the model's {dt} input{}",
                if dt == DType::U8 {
                    "; convert it with ML.CONVERT_IMAGE_TYPE"
                } else {
                    ""
                }
            )))
        }
    };
    Tensor::new(spec.shape.clone(), data).map_err(invalid)
}
