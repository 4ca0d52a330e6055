//! Runtime values, their SQL types, ordering, casts and text/JSON rendering.

use crate::ast::DataType;
use std::fmt::Write;
use std::sync::Arc;

use kernels::imageops::DecodedImage;

/// Pixel storage of an image value. Images stay as flat buffers inside the engine; SQL
/// sees `STRUCT<ARRAY<INT64>, ARRAY<FLOAT64|INT64>>` only when a query asks for the arrays.
#[derive(Clone, Debug)]
pub enum ImagePixels {
    /// FLOAT64 form: values in `[0, 1]`.
    Float(Arc<[f32]>),
    /// FLOAT64 form still held as the decoder's 8/16-bit RGB samples (`ML.DECODE_IMAGE`'s
    /// output before anything reads it), so `ML.RESIZE_IMAGE` can resize from them directly.
    Decoded(Arc<DecodedImage>),
    /// INT64 form: values in `[0, 255]` (`ML.CONVERT_IMAGE_TYPE`'s output).
    Int(Arc<[u8]>),
}

/// An image value: row-major H×W×C pixels plus the object it came from, so that errors
/// about it can name the row's uri.
#[derive(Clone, Debug)]
pub struct ImageValue {
    /// `[height, width, channels]`.
    pub shape: [usize; 3],
    /// `height * width * channels` samples.
    pub pixels: ImagePixels,
    /// The uri of the object this image was decoded from, if any.
    pub source: Option<Arc<str>>,
}

impl ImageValue {
    /// A FLOAT64-form image.
    pub fn float(shape: [usize; 3], data: impl Into<Arc<[f32]>>) -> ImageValue {
        ImageValue {
            shape,
            pixels: ImagePixels::Float(data.into()),
            source: None,
        }
    }

    /// True for the INT64 form.
    pub fn is_int(&self) -> bool {
        matches!(self.pixels, ImagePixels::Int(_))
    }

    /// The values as SQL shows them (`[0, 1]` floats, or `0..=255` for the INT64 form).
    pub fn values_f32(&self) -> Arc<[f32]> {
        match &self.pixels {
            ImagePixels::Float(d) => Arc::clone(d),
            ImagePixels::Decoded(d) => d.to_f32().into_data().into(),
            ImagePixels::Int(d) => d.iter().map(|&v| f32::from(v)).collect(),
        }
    }

    /// `" (uri)"` for messages, or nothing when the image has no source object.
    pub fn origin(&self) -> String {
        self.source
            .as_deref()
            .map_or_else(String::new, |u| format!(" ({u})"))
    }
}

impl PartialEq for ImageValue {
    /// Equal when shape, form and values agree; the source uri is not part of the value.
    fn eq(&self, other: &ImageValue) -> bool {
        self.shape == other.shape
            && self.is_int() == other.is_int()
            && self.values_f32() == other.values_f32()
    }
}

/// Which part of a stored object a [`LazyValue`] stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LazyKind {
    /// The object's bytes (an object table's `data` pseudo-column).
    Bytes,
    /// The base64 MD5 of the object's bytes (`md5_hash`).
    Md5,
}

/// A value read from an object only when a query uses it: listing an object table
/// touches metadata alone. Evaluating a column reference turns it into the real value.
#[derive(Clone, Debug, PartialEq)]
pub struct LazyValue {
    /// The object's uri, named in errors.
    pub uri: String,
    /// Where the object is read from.
    pub source: crate::storage::ObjectSource,
    /// The object's size in bytes when listed.
    pub size: u64,
    /// What to produce.
    pub kind: LazyKind,
}

impl LazyValue {
    /// Reads the object: `BYTES` for [`LazyKind::Bytes`], `STRING` for [`LazyKind::Md5`].
    pub fn force(&self) -> Result<Value, String> {
        let bytes = self
            .source
            .read(runtime::limits::MAX_OBJECT_BYTES)
            .map_err(|e| format!("Error while reading object {}: {e}", self.uri))?;
        Ok(match self.kind {
            LazyKind::Bytes => Value::Bytes(bytes),
            LazyKind::Md5 => {
                use md5::Digest;
                Value::String(base64(&md5::Md5::digest(&bytes)))
            }
        })
    }

    /// The SQL type the value has once read.
    pub fn data_type(&self) -> DataType {
        match self.kind {
            LazyKind::Bytes => DataType::Bytes,
            LazyKind::Md5 => DataType::String,
        }
    }
}

/// An `INTERVAL` value, kept in BigQuery's three parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Interval {
    /// Whole months.
    pub months: i64,
    /// Whole days.
    pub days: i64,
    /// Microseconds.
    pub micros: i64,
}

/// A SQL value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `NULL` of any type.
    Null,
    /// `BOOL`
    Bool(bool),
    /// `INT64`
    Int64(i64),
    /// `FLOAT64`
    Float64(f64),
    /// `STRING`
    String(String),
    /// `BYTES`
    Bytes(Vec<u8>),
    /// `ARRAY<…>`
    Array(Vec<Value>),
    /// `STRUCT<…>`; field names may be empty.
    Struct(Vec<(String, Value)>),
    /// `TIMESTAMP`, microseconds since the Unix epoch (UTC).
    Timestamp(i64),
    /// `DATE`, days since 1970-01-01.
    Date(i32),
    /// `INTERVAL`
    Interval(Interval),
    /// An image (see [`ImageValue`]).
    Image(ImageValue),
    /// A value not read yet (see [`LazyValue`]).
    Lazy(Arc<LazyValue>),
}

impl Value {
    /// The value's type, or `None` for `NULL`.
    pub fn data_type(&self) -> Option<DataType> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(_) => DataType::Bool,
            Value::Int64(_) => DataType::Int64,
            Value::Float64(_) => DataType::Float64,
            Value::String(_) => DataType::String,
            Value::Bytes(_) => DataType::Bytes,
            Value::Array(items) => DataType::Array(Box::new(
                items
                    .iter()
                    .find_map(Value::data_type)
                    .unwrap_or(DataType::Int64),
            )),
            Value::Struct(fields) => DataType::Struct(
                fields
                    .iter()
                    .map(|(n, v)| {
                        (
                            (!n.is_empty()).then(|| n.clone()),
                            v.data_type().unwrap_or(DataType::Int64),
                        )
                    })
                    .collect(),
            ),
            Value::Timestamp(_) => DataType::Timestamp,
            Value::Date(_) => DataType::Date,
            Value::Interval(_) => DataType::Interval,
            Value::Image(img) => image_type_of(img.is_int()),
            Value::Lazy(l) => l.data_type(),
        })
    }

    /// True for `NULL`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The name of the value's type for messages.
    pub fn type_name(&self) -> String {
        self.data_type()
            .map_or_else(|| "NULL".to_string(), |t| t.to_string())
    }

    /// Expands an image into BigQuery's struct form (shape array, data array).
    pub fn image_as_struct(img: &ImageValue) -> Value {
        let data = match &img.pixels {
            ImagePixels::Int(d) => d.iter().map(|&x| Value::Int64(i64::from(x))).collect(),
            _ => img
                .values_f32()
                .iter()
                .map(|&x| Value::Float64(f64::from(x)))
                .collect(),
        };
        Value::Struct(vec![
            (
                String::new(),
                Value::Array(img.shape.iter().map(|&d| Value::Int64(d as i64)).collect()),
            ),
            (String::new(), Value::Array(data)),
        ])
    }

    /// Reads a [`Value::Lazy`]; any other value is returned as is.
    pub fn forced(self) -> Result<Value, String> {
        match self {
            Value::Lazy(l) => l.force(),
            v => Ok(v),
        }
    }

    /// Casts to `ty` following BigQuery's conversion rules; the error says why.
    pub fn cast(&self, ty: &DataType) -> Result<Value, String> {
        use Value::*;
        let fail = || format!("Invalid cast from {} to {ty}", self.type_name());
        Ok(match (self, ty) {
            (Null, _) => Null,
            (Bool(_), DataType::Bool)
            | (Int64(_), DataType::Int64)
            | (Float64(_), DataType::Float64)
            | (String(_), DataType::String)
            | (Bytes(_), DataType::Bytes)
            | (Timestamp(_), DataType::Timestamp)
            | (Date(_), DataType::Date)
            | (Interval(_), DataType::Interval) => self.clone(),
            (Bool(b), DataType::Int64) => Int64(*b as i64),
            (Bool(b), DataType::String) => String(if *b { "true" } else { "false" }.into()),
            (Int64(i), DataType::Bool) => Bool(*i != 0),
            (Int64(i), DataType::Float64) => Float64(*i as f64),
            (Int64(i), DataType::String) => String(i.to_string()),
            (Float64(f), DataType::Int64) => {
                let r = f.round();
                if !r.is_finite()
                    || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&r)
                {
                    return Err(format!("Illegal conversion of non-finite or out-of-range floating point number to an integer: {f}"));
                }
                Int64(r as i64)
            }
            (Float64(f), DataType::String) => String(format_float(*f)),
            (String(s), DataType::Int64) => {
                let t = s.trim();
                let parsed = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X"))
                {
                    i64::from_str_radix(h, 16).ok()
                } else {
                    t.parse::<i64>().ok()
                };
                Int64(parsed.ok_or_else(|| format!("Bad int64 value: {s}"))?)
            }
            (String(s), DataType::Float64) => {
                let t = s.trim();
                let v = match t.to_ascii_lowercase().as_str() {
                    "inf" | "+inf" | "infinity" => f64::INFINITY,
                    "-inf" | "-infinity" => f64::NEG_INFINITY,
                    "nan" => f64::NAN,
                    _ => t
                        .parse::<f64>()
                        .map_err(|_| format!("Bad double value: {s}"))?,
                };
                Float64(v)
            }
            (String(s), DataType::Bool) => match s.to_ascii_lowercase().as_str() {
                "true" => Bool(true),
                "false" => Bool(false),
                _ => return Err(format!("Bad bool value: {s}")),
            },
            (String(s), DataType::Bytes) => Bytes(s.as_bytes().to_vec()),
            (Bytes(b), DataType::String) => String(
                std::string::String::from_utf8(b.clone())
                    .map_err(|_| "Invalid UTF-8 in BYTES to STRING cast".to_string())?,
            ),
            (String(s), DataType::Timestamp) => {
                Timestamp(parse_timestamp(s).ok_or_else(|| format!("Invalid timestamp: '{s}'"))?)
            }
            (Timestamp(t), DataType::String) => String(format_timestamp(*t)),
            (String(s), DataType::Date) => {
                Date(parse_date(s).ok_or_else(|| format!("Invalid date: '{s}'"))?)
            }
            (Date(d), DataType::String) => String(format_date(*d)),
            (Date(d), DataType::Timestamp) => Timestamp(i64::from(*d) * MICROS_PER_DAY),
            (Timestamp(t), DataType::Date) => {
                Date(i32::try_from(t.div_euclid(MICROS_PER_DAY)).map_err(|_| fail())?)
            }
            (Array(items), DataType::Array(inner)) => Array(
                items
                    .iter()
                    .map(|v| v.cast(inner))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            (Image(img), DataType::Struct(_)) => Value::image_as_struct(img).cast(ty)?,
            (Struct(fields), DataType::Struct(types)) if fields.len() == types.len() => Struct(
                fields
                    .iter()
                    .zip(types)
                    .map(|((n, v), (tn, t))| {
                        Ok((tn.clone().unwrap_or_else(|| n.clone()), v.cast(t)?))
                    })
                    .collect::<Result<Vec<_>, std::string::String>>()?,
            ),
            _ => return Err(fail()),
        })
    }

    /// Text for table and CSV output; NULL is `None` so callers choose its rendering.
    pub fn to_text(&self) -> Option<String> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(b) => b.to_string(),
            Value::Int64(i) => i.to_string(),
            Value::Float64(f) => format_float(*f),
            Value::String(s) => s.clone(),
            Value::Bytes(b) => base64(b),
            Value::Timestamp(t) => format_timestamp(*t),
            Value::Date(d) => format_date(*d),
            Value::Interval(i) => format_interval(i),
            Value::Array(_) | Value::Struct(_) | Value::Image(_) => self.to_json().to_string(),
            Value::Lazy(l) => return l.force().ok()?.to_text(),
        })
    }

    /// JSON form: numbers for INT64/FLOAT64 (non-finite floats as strings), arrays, and
    /// objects for structs (unnamed fields as `_field_N`, 1-based).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int64(i) => J::from(*i),
            Value::Float64(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or_else(|| J::String(format_float(*f))),
            Value::Array(items) => J::Array(items.iter().map(Value::to_json).collect()),
            Value::Struct(fields) => {
                let mut m = serde_json::Map::new();
                for (i, (n, v)) in fields.iter().enumerate() {
                    let key = if n.is_empty() {
                        format!("_field_{}", i + 1)
                    } else {
                        n.clone()
                    };
                    m.insert(key, v.to_json());
                }
                J::Object(m)
            }
            Value::Image(img) => Value::image_as_struct(img).to_json(),
            other => J::String(other.to_text().unwrap_or_default()),
        }
    }
}

/// The SQL type of a FLOAT64-form image value.
pub fn image_type() -> DataType {
    image_type_of(false)
}

/// The SQL type of an image value of the INT64 (`int`) or FLOAT64 form.
pub fn image_type_of(int: bool) -> DataType {
    let values = if int {
        DataType::Int64
    } else {
        DataType::Float64
    };
    DataType::Struct(vec![
        (None, DataType::Array(Box::new(DataType::Int64))),
        (None, DataType::Array(Box::new(values))),
    ])
}

/// Formats a FLOAT64 as BigQuery prints it (`1.0` → `1.0`, `inf`, `NaN`).
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        }
    } else if f == f.trunc() && f.abs() < 1e15 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

pub(crate) fn base64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &x)| acc | (x as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn format_interval(i: &Interval) -> String {
    let (y, m) = (i.months / 12, i.months % 12);
    let secs = i.micros / 1_000_000;
    let (h, mi, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    format!("{y}-{m} {} {h}:{mi}:{s}", i.days)
}

/// Days since 1970-01-01 for a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date for a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Microseconds in a day.
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// `YYYY-MM-DD` (years 1 to 9999) as days since 1970-01-01.
pub fn parse_date(s: &str) -> Option<i32> {
    let s = s.trim();
    if s.contains([' ', 'T', ':']) {
        return None;
    }
    i32::try_from(parse_timestamp(s)?.div_euclid(MICROS_PER_DAY)).ok()
}

/// Days since 1970-01-01 as BigQuery shows a DATE: `YYYY-MM-DD`.
pub fn format_date(days: i32) -> String {
    let (y, m, d) = civil_from_days(i64::from(days));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses `YYYY-MM-DD[( |T)HH:MM:SS[.ffffff]][Z|UTC|±HH[:MM]]` to microseconds (UTC).
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    let num = |t: &str| -> Option<i64> {
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse().ok())?
    };
    let (date, rest) = s.split_at(s.find([' ', 'T']).unwrap_or(s.len()));
    let mut dp = date.split('-');
    let (y, m, d) = (num(dp.next()?)?, num(dp.next()?)?, num(dp.next()?)?);
    if !(1..=9999).contains(&y) {
        return None;
    }
    if dp.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    // February 30 and the like.
    if civil_from_days(days) != (y, m as u32, d as u32) {
        return None;
    }
    let mut micros = days * MICROS_PER_DAY;
    let rest = rest.trim_start_matches([' ', 'T']);
    let (time, tz) = match rest.find(['+', '-', 'Z', 'U', ' ']) {
        Some(i) => (&rest[..i], rest[i..].trim()),
        None => (rest, ""),
    };
    if !time.is_empty() {
        let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
        let mut tp = hms.split(':');
        let h = num(tp.next()?)?;
        let mi = num(tp.next()?)?;
        let sec = tp.next().map_or(Some(0), num)?;
        if h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        micros += ((h * 60 + mi) * 60 + sec) * 1_000_000;
        if !frac.is_empty() {
            if frac.len() > 6 {
                return None;
            }
            micros += num(frac)? * 10i64.pow(6 - frac.len() as u32);
        }
    }
    match tz {
        "" | "Z" | "UTC" | "+00" | "+00:00" => {}
        tz => {
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            let body = tz.get(1..)?;
            let (h, m) = body.split_once(':').unwrap_or((body, "0"));
            let (h, m) = (num(h)?, num(m)?);
            if h > 14 || m > 59 {
                return None;
            }
            micros -= sign * (h * 60 + m) * 60_000_000;
        }
    }
    Some(micros)
}

/// Microseconds since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC) and the microseconds
/// past that second.
pub fn split_timestamp(t: i64) -> (String, i64) {
    let days = t.div_euclid(MICROS_PER_DAY);
    let rem = t.rem_euclid(MICROS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let secs = rem / 1_000_000;
    let (h, min, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let text = format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02}:{s:02}");
    (text, rem % 1_000_000)
}

/// Formats microseconds since the epoch as `YYYY-MM-DD HH:MM:SS[.ffffff] UTC`.
pub fn format_timestamp(t: i64) -> String {
    let (mut s, frac) = split_timestamp(t);
    if frac != 0 {
        let _ = write!(s, ".{frac:06}");
        while s.ends_with('0') {
            s.pop();
        }
    }
    s.push_str(" UTC");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_cast_from_and_to_strings_and_timestamps() {
        let d = Value::String("2024-01-31".into())
            .cast(&DataType::Date)
            .unwrap();
        assert_eq!(d, Value::Date(19753));
        assert_eq!(d.to_text().unwrap(), "2024-01-31");
        assert_eq!(
            d.cast(&DataType::Timestamp).unwrap().to_text().unwrap(),
            "2024-01-31 00:00:00 UTC"
        );
        let ts = Value::String("1969-12-31 23:00:00".into())
            .cast(&DataType::Timestamp)
            .unwrap();
        assert_eq!(ts.cast(&DataType::Date).unwrap(), Value::Date(-1));
        for bad in [
            "2024-02-30",
            "2024-01-31 10:00:00",
            "31/01/2024",
            "0000-01-01",
        ] {
            let e = Value::String(bad.into()).cast(&DataType::Date).unwrap_err();
            assert_eq!(e, format!("Invalid date: '{bad}'"));
        }
    }

    #[test]
    fn objects_that_are_not_regular_files_are_refused_before_reading() {
        let lazy = |path: &str| LazyValue {
            uri: "gs://b/o".into(),
            source: crate::storage::ObjectSource::Local(path.into()),
            size: 0,
            kind: LazyKind::Bytes,
        };
        let e = lazy("/dev/zero").force().unwrap_err();
        assert!(
            e.starts_with("Error while reading object gs://b/o:") && e.contains("device"),
            "{e}"
        );
        let e = lazy("/").force().unwrap_err();
        assert!(e.contains("directory"), "{e}");
    }

    #[test]
    fn timestamps_round_trip() {
        let t = parse_timestamp("2024-02-29 13:45:01.5+01:00").unwrap();
        assert_eq!(format_timestamp(t), "2024-02-29 12:45:01.5 UTC");
        assert_eq!(parse_timestamp("1970-01-01"), Some(0));
        assert_eq!(parse_timestamp("1969-12-31T23:59:59Z"), Some(-1_000_000));
        assert_eq!(parse_timestamp("2024-13-01"), None);
        assert_eq!(parse_timestamp("x"), None);
        assert_eq!(parse_timestamp("99999999999999-01-01"), None);
        assert_eq!(parse_timestamp("2020-01-01 00:00:00+9999999999999"), None);
    }

    #[test]
    fn casts_follow_bigquery() {
        assert_eq!(
            Value::Float64(2.5).cast(&DataType::Int64),
            Ok(Value::Int64(3))
        );
        assert_eq!(
            Value::String("x".into()).cast(&DataType::Int64),
            Err("Bad int64 value: x".into())
        );
        assert_eq!(
            Value::Int64(3).cast(&DataType::String),
            Ok(Value::String("3".into()))
        );
        assert_eq!(
            Value::Bool(true).cast(&DataType::Float64),
            Err("Invalid cast from BOOL to FLOAT64".into())
        );
    }

    #[test]
    fn rendering() {
        assert_eq!(Value::Float64(1.0).to_text().unwrap(), "1.0");
        assert_eq!(Value::Bytes(b"hi!".to_vec()).to_text().unwrap(), "aGkh");
        let img = ImageValue::float([1, 1, 2], vec![0.5f32, 0.25]);
        assert_eq!(
            Value::Image(img).to_text().unwrap(),
            r#"{"_field_1":[1,1,2],"_field_2":[0.5,0.25]}"#
        );
    }
}
