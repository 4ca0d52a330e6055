//! Arrow arrays ↔ [`Value`]s, the bridge between DataFusion's batches and the parts of
//! bqmlc that work on single values (the image functions, result formatting).
//!
//! Types: `INT64` ↔ Int64, `FLOAT64` ↔ Float64 (Float32 is read as FLOAT64), `STRING` ↔
//! Utf8, `BYTES` ↔ Binary, `BOOL` ↔ Boolean, `TIMESTAMP` ↔ Timestamp(µs, UTC), `ARRAY` ↔
//! List, `STRUCT` ↔ Struct. An image is the struct `(shape ARRAY<INT64>, image ARRAY<…>)`
//! that BigQuery shows; its samples are stored as Float32 (FLOAT64 form, values in
//! `[0, 1]`) or UInt8 (INT64 form, `0..=255`), so a 224×224×3 image costs 600 KB, not 1.2 MB.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float32Array, Int64Array, ListArray, StructArray, UInt8Array,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType as ArrowType, Field, Fields, TimeUnit};
use datafusion::common::{DataFusionError, ScalarValue};

use crate::ast::DataType;
use crate::value::{ImagePixels, ImageValue, Value};

type DfResult<T> = datafusion::common::Result<T>;

fn exec_err(msg: impl Into<String>) -> DataFusionError {
    DataFusionError::Execution(msg.into())
}

/// The Arrow type that holds values of the SQL type `ty`.
pub fn arrow_type(ty: &DataType) -> ArrowType {
    match ty {
        DataType::Bool => ArrowType::Boolean,
        DataType::Int64 => ArrowType::Int64,
        DataType::Float64 => ArrowType::Float64,
        DataType::String => ArrowType::Utf8,
        DataType::Bytes => ArrowType::Binary,
        DataType::Timestamp => ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        DataType::Date => ArrowType::Date32,
        DataType::Interval => {
            ArrowType::Interval(datafusion::arrow::datatypes::IntervalUnit::MonthDayNano)
        }
        DataType::Array(t) => ArrowType::List(Arc::new(Field::new_list_field(arrow_type(t), true))),
        DataType::Struct(fields) => ArrowType::Struct(
            fields
                .iter()
                .enumerate()
                .map(|(i, (n, t))| {
                    let name = n.clone().unwrap_or_else(|| format!("_field_{}", i + 1));
                    Field::new(name, arrow_type(t), true)
                })
                .collect::<Fields>(),
        ),
    }
}

/// The SQL type of an Arrow type (images as BigQuery shows them; `None` for Null).
pub fn sql_type(ty: &ArrowType) -> Option<DataType> {
    Some(match ty {
        ArrowType::Null => return None,
        ArrowType::Boolean => DataType::Bool,
        ArrowType::Int8
        | ArrowType::Int16
        | ArrowType::Int32
        | ArrowType::Int64
        | ArrowType::UInt8
        | ArrowType::UInt16
        | ArrowType::UInt32
        | ArrowType::UInt64 => DataType::Int64,
        ArrowType::Float16 | ArrowType::Float32 | ArrowType::Float64 => DataType::Float64,
        ArrowType::Binary | ArrowType::LargeBinary | ArrowType::BinaryView => DataType::Bytes,
        ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => DataType::String,
        ArrowType::Timestamp(..) => DataType::Timestamp,
        ArrowType::Date32 | ArrowType::Date64 => DataType::Date,
        ArrowType::Interval(_) => DataType::Interval,
        ArrowType::List(f) | ArrowType::LargeList(f) | ArrowType::FixedSizeList(f, _) => {
            DataType::Array(Box::new(sql_type(f.data_type())?))
        }
        ArrowType::Struct(fields) => DataType::Struct(
            fields
                .iter()
                .map(|f| Some((Some(f.name().clone()), sql_type(f.data_type())?)))
                .collect::<Option<Vec<_>>>()?,
        ),
        // DATE, TIME, DECIMAL, …: shown as text until they have SQL types of their own.
        _ => DataType::String,
    })
}

/// The Arrow type of an image column: FLOAT64 form (`int == false`) or INT64 form.
pub fn image_type(int: bool) -> ArrowType {
    let sample = if int {
        ArrowType::UInt8
    } else {
        ArrowType::Float32
    };
    ArrowType::Struct(image_fields(sample))
}

fn image_fields(sample: ArrowType) -> Fields {
    Fields::from(vec![
        Field::new(
            "shape",
            ArrowType::List(Arc::new(Field::new_list_field(ArrowType::Int64, false))),
            false,
        ),
        Field::new(
            "image",
            ArrowType::List(Arc::new(Field::new_list_field(sample, false))),
            false,
        ),
    ])
}

/// Whether `ty` is an image column's type; `Some(true)` for the INT64 form.
pub fn image_kind(ty: &ArrowType) -> Option<bool> {
    match ty {
        t if *t == image_type(false) => Some(false),
        t if *t == image_type(true) => Some(true),
        _ => None,
    }
}

/// The image in row `i` of an image column (see [`image_type`]), or `None` for NULL.
pub fn image_at(array: &StructArray, i: usize) -> DfResult<Option<ImageValue>> {
    if array.is_null(i) {
        return Ok(None);
    }
    let shape = array.column(0).as_list::<i32>().value(i);
    let shape = shape.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    let dims: Vec<usize> = shape.values().iter().map(|&d| d.max(0) as usize).collect();
    let [h, w, c] = dims[..] else {
        return Err(exec_err(format!(
            "an image shape has 3 values [height, width, channels], got {}",
            dims.len()
        )));
    };
    let samples = array.column(1).as_list::<i32>().value(i);
    if samples.len() != h * w * c {
        return Err(exec_err(format!(
            "image of shape [{h}, {w}, {c}] needs {} values, got {}",
            h * w * c,
            samples.len()
        )));
    }
    let pixels = match samples.data_type() {
        ArrowType::Float32 => ImagePixels::Float(
            samples
                .as_primitive::<datafusion::arrow::datatypes::Float32Type>()
                .values()
                .to_vec()
                .into(),
        ),
        ArrowType::UInt8 => ImagePixels::Int(
            samples
                .as_primitive::<datafusion::arrow::datatypes::UInt8Type>()
                .values()
                .to_vec()
                .into(),
        ),
        t => {
            return Err(exec_err(format!(
                "image samples of type {t} are not supported"
            )))
        }
    };
    Ok(Some(ImageValue {
        shape: [h, w, c],
        pixels,
        source: None,
    }))
}

/// An image column from per-row images (all of one form; NULL rows are `None`).
pub fn images_to_array(images: &[Option<ImageValue>]) -> DfResult<ArrayRef> {
    let int = images
        .iter()
        .flatten()
        .next()
        .is_some_and(ImageValue::is_int);
    if images.iter().flatten().any(|i| i.is_int() != int) {
        return Err(exec_err(
            "an image column mixes FLOAT64 and INT64 images; convert them to one type",
        ));
    }
    let mut dims = Vec::with_capacity(images.len() * 3);
    let mut shape_offsets = vec![0i32];
    let mut sample_offsets = vec![0i32];
    let mut floats: Vec<f32> = Vec::new();
    let mut bytes: Vec<u8> = Vec::new();
    for img in images {
        if let Some(img) = img {
            dims.extend(img.shape.iter().map(|&d| d as i64));
            match (&img.pixels, int) {
                (ImagePixels::Int(d), true) => bytes.extend_from_slice(d),
                _ => floats.extend_from_slice(&img.values_f32()),
            }
        }
        let total = if int { bytes.len() } else { floats.len() };
        let total =
            i32::try_from(total).map_err(|_| exec_err("a batch of images exceeds 2^31 samples"))?;
        shape_offsets.push(dims.len() as i32);
        sample_offsets.push(total);
    }
    let nulls = NullBuffer::from(images.iter().map(Option::is_some).collect::<Vec<_>>());
    let sample_type = if int {
        ArrowType::UInt8
    } else {
        ArrowType::Float32
    };
    let fields = image_fields(sample_type.clone());
    let shape = ListArray::new(
        Arc::new(Field::new_list_field(ArrowType::Int64, false)),
        OffsetBuffer::new(shape_offsets.into()),
        Arc::new(Int64Array::from(dims)),
        None,
    );
    let samples: ArrayRef = if int {
        Arc::new(UInt8Array::from(bytes))
    } else {
        Arc::new(Float32Array::from(floats))
    };
    let image = ListArray::new(
        Arc::new(Field::new_list_field(sample_type, false)),
        OffsetBuffer::new(sample_offsets.into()),
        samples,
        None,
    );
    Ok(Arc::new(StructArray::try_new(
        fields,
        vec![Arc::new(shape), Arc::new(image)],
        Some(nulls),
    )?))
}

/// The value in row `i` of `array`.
pub fn value_at(array: &dyn Array, i: usize) -> DfResult<Value> {
    if image_kind(array.data_type()).is_some() {
        return Ok(match image_at(array.as_struct(), i)? {
            Some(img) => Value::Image(img),
            None => Value::Null,
        });
    }
    scalar_to_value(ScalarValue::try_from_array(array, i)?)
}

/// A DataFusion scalar as a [`Value`].
pub fn scalar_to_value(s: ScalarValue) -> DfResult<Value> {
    if s.is_null() {
        return Ok(Value::Null);
    }
    Ok(match s {
        ScalarValue::Boolean(Some(b)) => Value::Bool(b),
        ScalarValue::Int8(Some(x)) => Value::Int64(x.into()),
        ScalarValue::Int16(Some(x)) => Value::Int64(x.into()),
        ScalarValue::Int32(Some(x)) => Value::Int64(x.into()),
        ScalarValue::Int64(Some(x)) => Value::Int64(x),
        ScalarValue::UInt8(Some(x)) => Value::Int64(x.into()),
        ScalarValue::UInt16(Some(x)) => Value::Int64(x.into()),
        ScalarValue::UInt32(Some(x)) => Value::Int64(x.into()),
        ScalarValue::UInt64(Some(x)) => {
            Value::Int64(i64::try_from(x).map_err(|_| exec_err(format!("{x} overflows INT64")))?)
        }
        ScalarValue::Float32(Some(x)) => Value::Float64(x.into()),
        ScalarValue::Float64(Some(x)) => Value::Float64(x),
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Value::String(s),
        ScalarValue::Binary(Some(b))
        | ScalarValue::LargeBinary(Some(b))
        | ScalarValue::BinaryView(Some(b)) => Value::Bytes(b),
        ScalarValue::TimestampMicrosecond(Some(t), _) => Value::Timestamp(t),
        ScalarValue::TimestampMillisecond(Some(t), _) => Value::Timestamp(t * 1000),
        ScalarValue::TimestampSecond(Some(t), _) => Value::Timestamp(t * 1_000_000),
        ScalarValue::TimestampNanosecond(Some(t), _) => Value::Timestamp(t.div_euclid(1000)),
        ScalarValue::Date32(Some(d)) => Value::Date(d),
        ScalarValue::Date64(Some(ms)) => Value::Date(
            i32::try_from(ms.div_euclid(86_400_000))
                .map_err(|_| exec_err(format!("DATE {ms} ms is out of range")))?,
        ),
        ScalarValue::IntervalMonthDayNano(Some(iv)) => Value::Interval(crate::value::Interval {
            months: iv.months.into(),
            days: iv.days.into(),
            micros: iv.nanoseconds.div_euclid(1000),
        }),
        ScalarValue::IntervalYearMonth(Some(m)) => Value::Interval(crate::value::Interval {
            months: m.into(),
            ..Default::default()
        }),
        ScalarValue::IntervalDayTime(Some(dt)) => Value::Interval(crate::value::Interval {
            days: dt.days.into(),
            micros: i64::from(dt.milliseconds) * 1000,
            ..Default::default()
        }),
        ScalarValue::List(l) => list_values(l.as_ref())?,
        ScalarValue::LargeList(l) => list_values(l.as_ref())?,
        ScalarValue::FixedSizeList(l) => list_values(l.as_ref())?,
        ScalarValue::Struct(s) => {
            let mut fields = Vec::with_capacity(s.num_columns());
            for (f, col) in s.fields().iter().zip(s.columns()) {
                fields.push((f.name().clone(), value_at(col.as_ref(), 0)?));
            }
            Value::Struct(fields)
        }
        other => {
            return Err(exec_err(format!(
                "values of type {} cannot be shown yet",
                other.data_type()
            )))
        }
    })
}

/// The one list in a single-row list array, as an ARRAY value.
fn list_values(array: &dyn Array) -> DfResult<Value> {
    let items = match array.data_type() {
        ArrowType::List(_) => array.as_list::<i32>().value(0),
        ArrowType::LargeList(_) => array.as_list::<i64>().value(0),
        ArrowType::FixedSizeList(..) => array.as_fixed_size_list().value(0),
        t => return Err(exec_err(format!("not a list: {t}"))),
    };
    (0..items.len())
        .map(|i| value_at(items.as_ref(), i))
        .collect::<DfResult<Vec<_>>>()
        .map(Value::Array)
}

/// A DataFusion scalar holding `v` (images as their struct, lazy values read first).
pub fn value_to_scalar(v: &Value) -> DfResult<ScalarValue> {
    Ok(match v {
        Value::Null => ScalarValue::Null,
        Value::Bool(b) => ScalarValue::Boolean(Some(*b)),
        Value::Int64(x) => ScalarValue::Int64(Some(*x)),
        Value::Float64(x) => ScalarValue::Float64(Some(*x)),
        Value::String(s) => ScalarValue::Utf8(Some(s.clone())),
        Value::Bytes(b) => ScalarValue::Binary(Some(b.clone())),
        Value::Timestamp(t) => ScalarValue::TimestampMicrosecond(Some(*t), Some("UTC".into())),
        Value::Date(d) => ScalarValue::Date32(Some(*d)),
        Value::Image(img) => {
            let arr = images_to_array(std::slice::from_ref(&Some(img.clone())))?;
            ScalarValue::try_from_array(arr.as_ref(), 0)?
        }
        Value::Lazy(_) => value_to_scalar(&v.clone().forced().map_err(exec_err)?)?,
        Value::Array(items) => {
            let scalars = items
                .iter()
                .map(value_to_scalar)
                .collect::<DfResult<Vec<_>>>()?;
            let item_type = scalars
                .iter()
                .find(|s| !s.is_null())
                .map_or(ArrowType::Null, ScalarValue::data_type);
            let typed = scalars
                .into_iter()
                .map(|s| match s {
                    ScalarValue::Null => ScalarValue::try_from(&item_type),
                    s => s.cast_to(&item_type),
                })
                .collect::<DfResult<Vec<_>>>()?;
            let items = if typed.is_empty() {
                datafusion::arrow::array::new_empty_array(&item_type)
            } else {
                ScalarValue::iter_to_array(typed)?
            };
            datafusion::common::utils::SingleRowListArrayBuilder::new(items).build_list_scalar()
        }
        Value::Struct(fields) => {
            let mut b = datafusion::common::scalar::ScalarStructBuilder::new();
            for (i, (n, x)) in fields.iter().enumerate() {
                let s = value_to_scalar(x)?;
                let name = if n.is_empty() {
                    format!("_field_{}", i + 1)
                } else {
                    n.clone()
                };
                b = b.with_scalar(Field::new(name, s.data_type(), true), s);
            }
            b.build()?
        }
        Value::Interval(_) => {
            return Err(exec_err(
                "INTERVAL values are not supported in this position",
            ))
        }
    })
}

/// An array of `ty` holding `values` (NULL where `Value::Null`).
pub fn values_to_array(values: &[Value], ty: &ArrowType) -> DfResult<ArrayRef> {
    if let Some(_int) = image_kind(ty) {
        let images = values
            .iter()
            .map(|v| match v {
                Value::Image(img) => Ok(Some(img.clone())),
                Value::Null => Ok(None),
                other => Err(exec_err(format!(
                    "expected an image, got {}",
                    other.type_name()
                ))),
            })
            .collect::<DfResult<Vec<_>>>()?;
        return images_to_array(&images);
    }
    let scalars = values
        .iter()
        .map(|v| match v {
            Value::Null => ScalarValue::try_from(ty),
            v => value_to_scalar(v)?.cast_to(ty),
        })
        .collect::<DfResult<Vec<_>>>()?;
    if scalars.is_empty() {
        return Ok(datafusion::arrow::array::new_empty_array(ty));
    }
    ScalarValue::iter_to_array(scalars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_round_trip_through_arrow() {
        let a = ImageValue::float([1, 2, 3], vec![0.0, 0.1, 0.2, 0.3, 0.4, 0.5]);
        let b = ImageValue {
            shape: [1, 1, 3],
            pixels: ImagePixels::Float(vec![1.0, 0.5, 0.25].into()),
            source: None,
        };
        let arr = images_to_array(&[Some(a.clone()), None, Some(b.clone())]).unwrap();
        assert_eq!(arr.data_type(), &image_type(false));
        let s = arr.as_struct();
        let back = image_at(s, 0).unwrap().unwrap();
        assert_eq!(back.shape, [1, 2, 3]);
        assert_eq!(&*back.values_f32(), &*a.values_f32());
        assert!(image_at(s, 1).unwrap().is_none());
        assert_eq!(
            &*image_at(s, 2).unwrap().unwrap().values_f32(),
            &[1.0, 0.5, 0.25]
        );
    }

    #[test]
    fn mixed_image_forms_are_refused() {
        let f = ImageValue::float([1, 1, 1], vec![0.5]);
        let i = ImageValue {
            shape: [1, 1, 1],
            pixels: ImagePixels::Int(vec![7u8].into()),
            source: None,
        };
        let e = images_to_array(&[Some(f), Some(i)]).unwrap_err();
        assert!(e.to_string().contains("mixes FLOAT64 and INT64"), "{e}");
    }

    #[test]
    fn nested_values_round_trip() {
        let v = Value::Struct(vec![
            ("a".into(), Value::Int64(3)),
            (
                "b".into(),
                Value::Array(vec![Value::Float64(1.5), Value::Null]),
            ),
        ]);
        let s = value_to_scalar(&v).unwrap();
        let arr = values_to_array(&[v.clone(), Value::Null], &s.data_type()).unwrap();
        assert_eq!(value_at(arr.as_ref(), 0).unwrap(), v);
        assert_eq!(value_at(arr.as_ref(), 1).unwrap(), Value::Null);
    }
}
