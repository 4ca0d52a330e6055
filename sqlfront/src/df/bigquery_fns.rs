//! BigQuery functions DataFusion lacks or spells differently, as scalar UDFs:
//! `SAFE_DIVIDE`, `bq_divide` (BigQuery's `/`: FLOAT64, an error on a zero divisor),
//! `REGEXP_EXTRACT`, `FORMAT`, `LENGTH` (also of BYTES), `bq_date_diff` (`DATE_DIFF` /
//! `TIMESTAMP_DIFF`) and `bq_string` (`CAST(… AS STRING)`); and the
//! aggregate `bq_single` that gives a scalar subquery BigQuery's meaning.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType as ArrowType, Float64Type, TimeUnit};
use datafusion::arrow::datatypes::{Field, FieldRef};
use datafusion::common::{exec_err, plan_err, Result as DfResult, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};

use crate::value::{civil_from_days, MICROS_PER_DAY};

/// Every function of this module, for registration.
pub fn functions() -> Vec<ScalarUDF> {
    let numeric2 = || Signature::uniform(2, vec![ArrowType::Float64], Volatility::Immutable);
    vec![
        ScalarUDF::new_from_impl(Divide {
            name: "bq_divide",
            safe: false,
            signature: numeric2(),
        }),
        ScalarUDF::new_from_impl(Divide {
            name: "safe_divide",
            safe: true,
            signature: numeric2(),
        }),
        ScalarUDF::new_from_impl(RegexpExtract {
            signature: Signature::uniform(2, vec![ArrowType::Utf8], Volatility::Immutable),
        }),
        ScalarUDF::new_from_impl(Format {
            signature: Signature::variadic_any(Volatility::Immutable),
        }),
        ScalarUDF::new_from_impl(DateDiff {
            signature: Signature::any(3, Volatility::Immutable),
        }),
        ScalarUDF::new_from_impl(ArrayAt {
            signature: Signature::any(4, Volatility::Immutable),
        }),
        ScalarUDF::new_from_impl(Length {
            signature: Signature::any(1, Volatility::Immutable),
        }),
        ScalarUDF::new_from_impl(CastString {
            signature: Signature::any(2, Volatility::Immutable),
        }),
    ]
}

/// `bq_string(x, safe)`: `CAST(x AS STRING)` (`SAFE_CAST` when `safe`) as BigQuery writes
/// FLOAT64 (`1`, `0.1`, `1e+20`, `inf`, `nan`: up to 15 significant digits, 17 when 15 do
/// not round-trip), TIMESTAMP (`2024-01-02 03:04:05.120+00`: zero, three or six fraction
/// digits, UTC) and DATETIME (the same without the zone); other types as Arrow casts them.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CastString {
    signature: Signature,
}

impl ScalarUDFImpl for CastString {
    fn name(&self) -> &str {
        "bq_string"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[ArrowType]) -> DfResult<ArrowType> {
        Ok(ArrowType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let safe = matches!(
            &args.args[1],
            ColumnarValue::Scalar(ScalarValue::Boolean(Some(true)))
        );
        let col = args.args[0].to_array(args.number_rows)?;
        let text = |f: &dyn Fn(usize) -> String| -> ArrayRef {
            let mut out = StringBuilder::new();
            for i in 0..col.len() {
                match col.is_null(i) {
                    true => out.append_null(),
                    false => out.append_value(f(i)),
                }
            }
            Arc::new(out.finish())
        };
        let out = match col.data_type() {
            ArrowType::Float64 | ArrowType::Float32 => {
                let col = cast(&col, &ArrowType::Float64)?;
                let floats = col.as_primitive::<Float64Type>();
                text(&|i| float_text(floats.value(i)))
            }
            ArrowType::Timestamp(_, zone) => {
                // The stored values are UTC whatever the zone; only the unit changes.
                let micros = ArrowType::Timestamp(TimeUnit::Microsecond, zone.clone());
                let micros = cast(&cast(&col, &micros)?, &ArrowType::Int64)?;
                let micros = micros.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
                let suffix = if zone.is_some() { "+00" } else { "" };
                text(&|i| format!("{}{suffix}", datetime_text(micros.value(i))))
            }
            _ => {
                let options = datafusion::arrow::compute::CastOptions {
                    safe,
                    ..Default::default()
                };
                datafusion::arrow::compute::cast_with_options(&col, &ArrowType::Utf8, &options)?
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}

/// A FLOAT64 as BigQuery's CAST to STRING writes it: C's `%.15g`, or `%.17g` when 15
/// significant digits do not give the value back; `inf`, `-inf`, `nan`, and no sign on 0.
pub fn float_text(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    if f == 0.0 {
        return "0".into();
    }
    let g15 = format_g(f, 15);
    match g15.parse::<f64>() == Ok(f) {
        true => g15,
        false => format_g(f, 17),
    }
}

/// C's `%.{precision}g`: scientific when the exponent is below -4 or at least the
/// precision, trailing zeros (and a bare point) removed, exponent with at least 2 digits.
fn format_g(f: f64, precision: usize) -> String {
    let sci = format!("{f:.*e}", precision - 1);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        match s.contains('.') {
            true => s.trim_end_matches('0').trim_end_matches('.').to_string(),
            false => s.to_string(),
        }
    };
    if exp < -4 || exp >= precision as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    } else {
        let decimals = (precision as i32 - 1 - exp).max(0) as usize;
        trim(&format!("{f:.decimals$}"))
    }
}

/// Microseconds since the epoch as `YYYY-MM-DD HH:MM:SS[.fff|.ffffff]` (BigQuery keeps
/// zero, three or six fraction digits: as few as hold the value).
fn datetime_text(micros: i64) -> String {
    let (base, frac) = crate::value::split_timestamp(micros);
    match frac {
        0 => base,
        f if f % 1000 == 0 => format!("{base}.{:03}", f / 1000),
        f => format!("{base}.{f:06}"),
    }
}

/// `bq_array_at(array, position, base, safe)`: BigQuery's `array[OFFSET(i)]` (base 0)
/// and `array[ORDINAL(i)]` (base 1); out of bounds an error, or NULL when `safe`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ArrayAt {
    signature: Signature,
}

impl ScalarUDFImpl for ArrayAt {
    fn name(&self) -> &str {
        "bq_array_at"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[ArrowType]) -> DfResult<ArrowType> {
        match &args[0] {
            ArrowType::List(f) | ArrowType::LargeList(f) | ArrowType::FixedSizeList(f, _) => {
                Ok(f.data_type().clone())
            }
            ArrowType::Null => Ok(ArrowType::Null),
            t => plan_err!("Array element access expects an ARRAY, got {t}"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let cols = columns(&args)?;
        let element = args.return_field.data_type().clone();
        if element == ArrowType::Null || rows == 0 {
            return Ok(ColumnarValue::Array(
                datafusion::arrow::array::new_null_array(&element, rows),
            ));
        }
        let list = cast(
            &cols[0],
            &ArrowType::LargeList(Arc::new(Field::new("item", element.clone(), true))),
        )?;
        let list = list.as_list::<i64>();
        let position = cast(&cols[1], &ArrowType::Int64)?;
        let position = position.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let base = ScalarValue::try_from_array(&cols[2], 0)?;
        let base = if base == ScalarValue::Int64(Some(1)) {
            1
        } else {
            0
        };
        let safe = ScalarValue::try_from_array(&cols[3], 0)? == ScalarValue::Boolean(Some(true));
        let mut out = Vec::with_capacity(rows);
        for r in 0..rows {
            if list.is_null(r) || position.is_null(r) {
                out.push(ScalarValue::try_from(&element)?);
                continue;
            }
            let items = list.value(r);
            let i = position.value(r);
            let k = i
                .checked_sub(base)
                .filter(|k| *k >= 0 && (*k as usize) < items.len());
            match k {
                Some(k) => out.push(ScalarValue::try_from_array(&items, k as usize)?),
                None if safe => out.push(ScalarValue::try_from(&element)?),
                None => {
                    let side = if i < base { "underflow" } else { "overflow" };
                    return exec_err!("Array index {i} is out of bounds ({side})");
                }
            }
        }
        Ok(ColumnarValue::Array(ScalarValue::iter_to_array(out)?))
    }
}

/// BigQuery's `LENGTH`: characters of a STRING, bytes of a BYTES value (DataFusion's
/// `length` takes strings only).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Length {
    signature: Signature,
}

impl ScalarUDFImpl for Length {
    fn name(&self) -> &str {
        "length"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[ArrowType]) -> DfResult<ArrowType> {
        match &args[0] {
            ArrowType::Utf8
            | ArrowType::LargeUtf8
            | ArrowType::Utf8View
            | ArrowType::Binary
            | ArrowType::LargeBinary
            | ArrowType::BinaryView
            | ArrowType::Null => Ok(ArrowType::Int64),
            t => plan_err!(
                "No matching signature for function LENGTH for argument types: {t}; supported: LENGTH(STRING), LENGTH(BYTES)"
            ),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let col = args.args[0].to_array(args.number_rows)?;
        let col = match col.data_type() {
            ArrowType::LargeUtf8 | ArrowType::Utf8View => cast(&col, &ArrowType::Utf8)?,
            ArrowType::LargeBinary | ArrowType::BinaryView => cast(&col, &ArrowType::Binary)?,
            _ => col,
        };
        let out: Int64Array = match col.data_type() {
            ArrowType::Utf8 => col
                .as_string::<i32>()
                .iter()
                .map(|v| v.map(|s| s.chars().count() as i64))
                .collect(),
            ArrowType::Binary => col
                .as_binary::<i32>()
                .iter()
                .map(|v| v.map(|b| b.len() as i64))
                .collect(),
            _ => (0..col.len()).map(|_| None::<i64>).collect(),
        };
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// Every aggregate of this module, for registration.
pub fn aggregates() -> Vec<AggregateUDF> {
    vec![AggregateUDF::new_from_impl(Single {
        signature: Signature::any(1, Volatility::Immutable),
    })]
}

/// `bq_single(x)`: the one value of its group, NULL for none, an error for more — a scalar
/// subquery's result in BigQuery, which DataFusion plans (decorrelated) only when the
/// subquery aggregates.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Single {
    signature: Signature,
}

impl AggregateUDFImpl for Single {
    fn name(&self) -> &str {
        "bq_single"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[ArrowType]) -> DfResult<ArrowType> {
        Ok(args[0].clone())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        Ok(Box::new(SingleAccumulator {
            value: ScalarValue::try_from(args.return_field.data_type())?,
            rows: 0,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(
                args.return_field
                    .as_ref()
                    .clone()
                    .with_name("value")
                    .with_nullable(true),
            ),
            Arc::new(Field::new("rows", ArrowType::UInt64, false)),
        ])
    }
}

#[derive(Debug)]
struct SingleAccumulator {
    value: ScalarValue,
    rows: u64,
}

impl SingleAccumulator {
    fn add(&mut self, rows: u64, value: impl FnOnce() -> DfResult<ScalarValue>) -> DfResult<()> {
        self.rows += rows;
        if self.rows > 1 {
            return exec_err!("Scalar subquery produced more than one element");
        }
        if rows == 1 {
            self.value = value()?;
        }
        Ok(())
    }
}

impl Accumulator for SingleAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        let col = &values[0];
        match col.len() {
            0 => Ok(()),
            1 => self.add(1, || ScalarValue::try_from_array(col, 0)),
            n => self.add(n as u64, || {
                unreachable!("more than one row is an error first")
            }),
        }
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        let rows = states[1].as_primitive::<datafusion::arrow::datatypes::UInt64Type>();
        for r in 0..rows.len() {
            let n = rows.value(r);
            if n > 0 {
                self.add(n, || ScalarValue::try_from_array(&states[0], r))?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        Ok(vec![
            self.value.clone(),
            ScalarValue::UInt64(Some(self.rows)),
        ])
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        Ok(self.value.clone())
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.value.size()
    }
}

/// The argument columns of one call, each `number_rows` long.
fn columns(args: &ScalarFunctionArgs) -> DfResult<Vec<ArrayRef>> {
    args.args
        .iter()
        .map(|a| a.to_array(args.number_rows))
        .collect()
}

/// `a / b` in FLOAT64: NULL when either is NULL; a zero `b` is NULL (`safe`) or an error.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Divide {
    name: &'static str,
    safe: bool,
    signature: Signature,
}

impl ScalarUDFImpl for Divide {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[ArrowType]) -> DfResult<ArrowType> {
        Ok(ArrowType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let cols = columns(&args)?;
        let (a, b) = (
            cols[0].as_primitive::<Float64Type>(),
            cols[1].as_primitive::<Float64Type>(),
        );
        let mut out = Vec::with_capacity(a.len());
        for r in 0..a.len() {
            if a.is_null(r) || b.is_null(r) {
                out.push(None);
            } else if b.value(r) == 0.0 {
                if self.safe {
                    out.push(None);
                } else {
                    return exec_err!("division by zero: {} / {}", a.value(r), b.value(r));
                }
            } else {
                out.push(Some(a.value(r) / b.value(r)));
            }
        }
        Ok(ColumnarValue::Array(Arc::new(Float64Array::from(out))))
    }
}

/// `REGEXP_EXTRACT(value, regex)`: the first match's capture group (the whole match when
/// the regex has none); NULL without a match. More than one group is an error, as in
/// BigQuery.
#[derive(Debug, PartialEq, Eq, Hash)]
struct RegexpExtract {
    signature: Signature,
}

impl ScalarUDFImpl for RegexpExtract {
    fn name(&self) -> &str {
        "regexp_extract"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[ArrowType]) -> DfResult<ArrowType> {
        Ok(ArrowType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let cols = columns(&args)?;
        let (values, patterns) = (cols[0].as_string::<i32>(), cols[1].as_string::<i32>());
        let mut compiled: Option<(String, regex::Regex)> = None;
        let mut out = StringBuilder::new();
        for r in 0..values.len() {
            if values.is_null(r) || patterns.is_null(r) {
                out.append_null();
                continue;
            }
            let pattern = patterns.value(r);
            if compiled.as_ref().is_none_or(|(p, _)| p != pattern) {
                let re = match regex::Regex::new(pattern) {
                    Ok(re) => re,
                    Err(e) => return exec_err!("Cannot parse regular expression: {e}"),
                };
                if re.captures_len() > 2 {
                    return exec_err!(
                        "Regular expressions passed into extraction functions must not have more than 1 capturing group"
                    );
                }
                compiled = Some((pattern.to_string(), re));
            }
            let (_, re) = compiled.as_ref().expect("compiled above");
            match re.captures(values.value(r)) {
                Some(c) => match c.get(if re.captures_len() == 2 { 1 } else { 0 }) {
                    Some(m) => out.append_value(m.as_str()),
                    None => out.append_null(),
                },
                None => out.append_null(),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// `FORMAT(format_string, value, ...)`: `%d %i %s %t %f %e %g %x %o %%`, with width,
/// precision and the `- + 0 space` flags, as BigQuery's printf-style FORMAT.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Format {
    signature: Signature,
}

impl ScalarUDFImpl for Format {
    fn name(&self) -> &str {
        "format"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[ArrowType]) -> DfResult<ArrowType> {
        match args.first() {
            Some(
                ArrowType::Utf8 | ArrowType::Utf8View | ArrowType::LargeUtf8 | ArrowType::Null,
            ) => Ok(ArrowType::Utf8),
            Some(t) => plan_err!("FORMAT: the format string must be a STRING, got {t}"),
            None => plan_err!("FORMAT takes a format string"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let cols = columns(&args)?;
        let fmt = cast(&cols[0], &ArrowType::Utf8)?;
        let fmt = fmt.as_string::<i32>();
        let mut out = StringBuilder::new();
        for r in 0..fmt.len() {
            if fmt.is_null(r) {
                out.append_null();
                continue;
            }
            let values = cols[1..]
                .iter()
                .map(|c| ScalarValue::try_from_array(c, r))
                .collect::<DfResult<Vec<_>>>()?;
            match format_row(fmt.value(r), &values)? {
                Some(s) => out.append_value(s),
                None => out.append_null(),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// One FORMAT result; `None` when a formatted value is NULL (BigQuery's rule for all but
/// `%t`, which prints `NULL`).
fn format_row(fmt: &str, values: &[ScalarValue]) -> DfResult<Option<String>> {
    let mut out = String::new();
    let mut next = values.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = chars.peek().filter(|f| "-+ 0#'".contains(**f)) {
            flags.push(f);
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut precision = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            precision = Some(p.parse::<usize>().unwrap_or(0));
        }
        let Some(spec) = chars.next() else {
            return exec_err!("FORMAT: the format string ends inside a specifier: \"{fmt}\"");
        };
        if spec == '%' {
            out.push('%');
            continue;
        }
        let Some(v) = next.next() else {
            return exec_err!("FORMAT: too few arguments for the format string \"{fmt}\"");
        };
        if v.is_null() && spec != 't' && spec != 'T' {
            return Ok(None);
        }
        let body = match spec {
            'd' | 'i' => match v {
                ScalarValue::Int8(_)
                | ScalarValue::Int16(_)
                | ScalarValue::Int32(_)
                | ScalarValue::Int64(_)
                | ScalarValue::UInt8(_)
                | ScalarValue::UInt16(_)
                | ScalarValue::UInt32(_)
                | ScalarValue::UInt64(_) => signed(v.to_string(), &flags),
                _ => return exec_err!("FORMAT: %{spec} needs an INT64, got {}", v.data_type()),
            },
            'x' | 'X' | 'o' => {
                let n = match v.cast_to(&ArrowType::Int64)? {
                    ScalarValue::Int64(Some(n)) => n,
                    _ => return exec_err!("FORMAT: %{spec} needs an INT64"),
                };
                match spec {
                    'x' => format!("{n:x}"),
                    'X' => format!("{n:X}"),
                    _ => format!("{n:o}"),
                }
            }
            'f' | 'F' | 'e' | 'E' | 'g' | 'G' => {
                let x = match v.cast_to(&ArrowType::Float64)? {
                    ScalarValue::Float64(Some(x)) => x,
                    _ => return exec_err!("FORMAT: %{spec} needs a number"),
                };
                let p = precision.unwrap_or(6);
                let s = match spec {
                    'f' | 'F' => format!("{x:.p$}"),
                    'e' => format!("{x:.p$e}"),
                    'E' => format!("{x:.p$E}"),
                    _ => format!("{x}"),
                };
                signed(s, &flags)
            }
            's' | 't' | 'T' => {
                let s = if v.is_null() {
                    "NULL".to_string()
                } else {
                    match v {
                        ScalarValue::Utf8(Some(s))
                        | ScalarValue::Utf8View(Some(s))
                        | ScalarValue::LargeUtf8(Some(s)) => s.clone(),
                        other => other.to_string(),
                    }
                };
                match precision {
                    Some(p) => s.chars().take(p).collect(),
                    None => s,
                }
            }
            other => return exec_err!("FORMAT: unsupported specifier %{other} in \"{fmt}\""),
        };
        let width = width.parse::<usize>().unwrap_or(0);
        let len = body.chars().count();
        if len >= width {
            out.push_str(&body);
        } else if flags.contains('-') {
            out.push_str(&body);
            out.extend(std::iter::repeat_n(' ', width - len));
        } else if flags.contains('0') && "dfFeEgGi".contains(spec) {
            let (sign, digits) = match body.strip_prefix(['-', '+']) {
                Some(rest) => (&body[..1], rest),
                None => ("", body.as_str()),
            };
            out.push_str(sign);
            out.extend(std::iter::repeat_n('0', width - len));
            out.push_str(digits);
        } else {
            out.extend(std::iter::repeat_n(' ', width - len));
            out.push_str(&body);
        }
    }
    if next.next().is_some() {
        return exec_err!("FORMAT: too many arguments for the format string \"{fmt}\"");
    }
    Ok(Some(out))
}

/// A number's text with the `+` / space flag applied.
fn signed(s: String, flags: &str) -> String {
    if s.starts_with('-') {
        s
    } else if flags.contains('+') {
        format!("+{s}")
    } else if flags.contains(' ') {
        format!(" {s}")
    } else {
        s
    }
}

/// `bq_date_diff(part, a, b)`: whole `part`s from `b` to `a` (DATE, DATETIME or TIMESTAMP).
/// Units up to DAY count elapsed time truncated toward zero; WEEK, MONTH, QUARTER and
/// YEAR count calendar boundaries crossed (weeks start on Sunday), as BigQuery does.
#[derive(Debug, PartialEq, Eq, Hash)]
struct DateDiff {
    signature: Signature,
}

impl ScalarUDFImpl for DateDiff {
    fn name(&self) -> &str {
        "bq_date_diff"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[ArrowType]) -> DfResult<ArrowType> {
        for t in &args[1..] {
            if !matches!(
                t,
                ArrowType::Date32 | ArrowType::Date64 | ArrowType::Timestamp(..) | ArrowType::Null
            ) {
                return plan_err!(
                    "DATE_DIFF / TIMESTAMP_DIFF take DATE, DATETIME or TIMESTAMP values, got {t}"
                );
            }
        }
        Ok(ArrowType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let part = match &args.args[0] {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(p))) => p.clone(),
            _ => return exec_err!("bq_date_diff: the part must be a literal"),
        };
        let cols = columns(&args)?;
        let micros = |c: &ArrayRef| cast(c, &ArrowType::Timestamp(TimeUnit::Microsecond, None));
        let (a, b) = (micros(&cols[1])?, micros(&cols[2])?);
        let (a, b) = (
            a.as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>(),
            b.as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>(),
        );
        let mut out = Vec::with_capacity(a.len());
        for r in 0..a.len() {
            if a.is_null(r) || b.is_null(r) {
                out.push(None);
                continue;
            }
            out.push(Some(diff(&part, a.value(r), b.value(r))?));
        }
        Ok(ColumnarValue::Array(Arc::new(Int64Array::from(out))))
    }
}

/// Whole `part`s between two instants in microseconds since the epoch (`a - b`).
fn diff(part: &str, a: i64, b: i64) -> DfResult<i64> {
    const DAY: i64 = MICROS_PER_DAY;
    let Some(delta) = a.checked_sub(b) else {
        return exec_err!("DATE_DIFF: the difference of {a} and {b} microseconds overflows INT64");
    };
    let elapsed = |unit: i64| delta / unit;
    // Months since year 0 of the civil (proleptic Gregorian) date of an instant.
    let months = |t: i64| {
        let (y, m, _) = civil_from_days(t.div_euclid(DAY));
        y * 12 + i64::from(m) - 1
    };
    Ok(match part {
        "microsecond" => elapsed(1),
        "millisecond" => elapsed(1_000),
        "second" => elapsed(1_000_000),
        "minute" => elapsed(60_000_000),
        "hour" => elapsed(3_600_000_000),
        "day" => a.div_euclid(DAY) - b.div_euclid(DAY),
        "week" => {
            // Days since a Sunday (1970-01-04), in weeks.
            let week = |t: i64| (t.div_euclid(DAY) - 3).div_euclid(7);
            week(a) - week(b)
        }
        "month" => months(a) - months(b),
        "quarter" => months(a).div_euclid(3) - months(b).div_euclid(3),
        "year" => months(a).div_euclid(12) - months(b).div_euclid(12),
        other => return exec_err!("DATE_DIFF: unsupported part {}", other.to_uppercase()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_become_text_as_printf_g_that_round_trips() {
        // Expected values from C's printf (Python's `%.15g` / `%.17g`).
        for (f, want) in [
            (1.0, "1"),
            (0.1, "0.1"),
            (1e20, "1e+20"),
            (1e15, "1e+15"),
            (123456789012345.0, "123456789012345"),
            (1.0 / 3.0, "0.33333333333333331"),
            (1.5e-7, "1.5e-07"),
            (0.0001, "0.0001"),
            (1e-5, "1e-05"),
            (-2.5, "-2.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (2f64.powi(70), "1.1805916207174113e+21"),
            (5e-324, "4.94065645841247e-324"),
            (-0.0, "0"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(float_text(f), want, "{f:e}");
        }
    }

    #[test]
    fn datetimes_keep_zero_three_or_six_fraction_digits() {
        let t = 1_704_164_645_000_000; // 2024-01-02 03:04:05 UTC
        assert_eq!(datetime_text(t), "2024-01-02 03:04:05");
        assert_eq!(datetime_text(t + 120_000), "2024-01-02 03:04:05.120");
        assert_eq!(datetime_text(t + 120_001), "2024-01-02 03:04:05.120001");
        assert_eq!(datetime_text(-1), "1969-12-31 23:59:59.999999");
    }

    fn fmt(f: &str, v: Vec<ScalarValue>) -> Option<String> {
        format_row(f, &v).unwrap()
    }

    #[test]
    fn format_follows_bigquery_printf() {
        use ScalarValue as S;
        assert_eq!(fmt("%d items", vec![S::Int64(Some(7))]).unwrap(), "7 items");
        assert_eq!(
            fmt("%.2f", vec![S::Float64(Some(1.23456))]).unwrap(),
            "1.23"
        );
        assert_eq!(
            fmt("%5d|%-5d|%05d", vec![S::Int64(Some(42)); 3]).unwrap(),
            "   42|42   |00042"
        );
        assert_eq!(
            fmt(
                "%s=%t%%",
                vec![S::Utf8(Some("p".into())), S::Int64(Some(1))]
            )
            .unwrap(),
            "p=1%"
        );
        assert_eq!(fmt("%t", vec![S::Int64(None)]).unwrap(), "NULL");
        assert_eq!(fmt("%d", vec![S::Int64(None)]), None);
        assert!(format_row("%d", &[]).is_err());
        assert!(format_row("%d", &[S::Utf8(Some("x".into()))]).is_err());
    }

    #[test]
    fn date_diff_counts_boundaries_for_calendar_parts() {
        let day = 86_400_000_000i64;
        // 2024-01-31 and 2024-02-01: one month boundary, one day.
        let jan31 = 19753 * day;
        let feb1 = 19754 * day;
        assert_eq!(diff("month", feb1, jan31).unwrap(), 1);
        assert_eq!(diff("day", feb1, jan31).unwrap(), 1);
        assert_eq!(diff("year", feb1, jan31).unwrap(), 0);
        // 90 minutes: 1 hour (truncated), -1 the other way.
        assert_eq!(diff("hour", 90 * 60_000_000, 0).unwrap(), 1);
        assert_eq!(diff("hour", 0, 90 * 60_000_000).unwrap(), -1);
        // 1970-01-03 (Sat) to 1970-01-04 (Sun): a week boundary.
        assert_eq!(diff("week", 3 * day, 2 * day).unwrap(), 1);
        // 1999-12-31 to 2000-01-01: a year and a quarter boundary; before the epoch too.
        assert_eq!(diff("year", 10957 * day, 10956 * day).unwrap(), 1);
        assert_eq!(diff("quarter", 10957 * day, 10956 * day).unwrap(), 1);
        assert_eq!(diff("month", -day, 0).unwrap(), -1);
        // Extreme instants are an error, not an overflow.
        assert!(diff("second", i64::MAX, i64::MIN).is_err());
    }
}
