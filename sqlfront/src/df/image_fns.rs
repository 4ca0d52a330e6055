//! BigQuery ML's image functions (`ML.DECODE_IMAGE`, `ML.RESIZE_IMAGE`,
//! `ML.CONVERT_COLOR_SPACE`, `ML.CONVERT_IMAGE_TYPE`) as DataFusion scalar UDFs over
//! [`crate::imagefns`]. A batch's rows run in parallel on rayon's pool; the first failing
//! row (in row order) names the error.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::DataType as ArrowType;
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use rayon::prelude::*;
use std::sync::Arc;

use crate::value::Value;

use super::values::{image_at, image_kind, image_type, images_to_array, scalar_to_value};

/// One of [`crate::imagefns::FUNCTIONS`] as a UDF named as BigQuery spells it.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ImageFunction {
    name: &'static str,
    arity: usize,
    signature: Signature,
}

/// `ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data[, uri]), h, w, keep)` as one function (see
/// [`ImageFunction::simplify`]): each image is resized straight from the decoder's 8/16-bit
/// samples, never held as a full-size float image in an Arrow column.
const DECODE_RESIZE: &str = "ML.RESIZE_IMAGE_DECODED";

fn image_function(name: &'static str) -> ScalarUDF {
    let arity = match name {
        "ML.DECODE_IMAGE" | "ML.CONVERT_IMAGE_TYPE" => 1,
        "ML.CONVERT_COLOR_SPACE" => 2,
        _ => 4,
    };
    // ML.DECODE_IMAGE(data, uri): the last argument, added by the query rewrite for an
    // object table's data, names the object in errors.
    let signature = match name {
        "ML.DECODE_IMAGE" | DECODE_RESIZE => Signature::one_of(
            vec![TypeSignature::Any(arity), TypeSignature::Any(arity + 1)],
            Volatility::Immutable,
        ),
        _ => Signature::any(arity, Volatility::Immutable),
    };
    ScalarUDF::new_from_impl(ImageFunction {
        name,
        arity,
        signature,
    })
}

/// Every image function, ready to register on a DataFusion session.
pub fn image_functions() -> Vec<ScalarUDF> {
    crate::imagefns::FUNCTIONS
        .iter()
        .chain(&[DECODE_RESIZE])
        .map(|&name| image_function(name))
        .collect()
}

/// Decodes an object's bytes (naming its uri in errors), or applies ML.DECODE_IMAGE to
/// another value (NULL).
fn decode(data: &Value, uri: Option<String>) -> Result<Value, String> {
    match (data, uri) {
        (Value::Bytes(bytes), Some(uri)) => crate::imagefns::decode_bytes(bytes, Some(uri.into())),
        (other, _) => crate::imagefns::call("ML.DECODE_IMAGE", std::slice::from_ref(other)),
    }
}

impl ScalarUDFImpl for ImageFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[ArrowType]) -> DfResult<ArrowType> {
        let int_in = args.first().and_then(image_kind);
        match self.name {
            "ML.DECODE_IMAGE" | DECODE_RESIZE => match &args[0] {
                ArrowType::Binary
                | ArrowType::LargeBinary
                | ArrowType::BinaryView
                | ArrowType::Null => Ok(image_type(false)),
                t => Err(DataFusionError::Plan(format!(
                    "No matching signature for function ML.DECODE_IMAGE for argument types: {t}; the argument must be BYTES (an object table's data column)"
                ))),
            },
            "ML.CONVERT_IMAGE_TYPE" => Ok(image_type(true)),
            _ if args[0] == ArrowType::Null => Ok(image_type(false)),
            _ => match int_in {
                Some(int) => Ok(image_type(int && self.name != "ML.CONVERT_COLOR_SPACE")),
                None => Err(DataFusionError::Plan(format!(
                    "No matching signature for function {}: the first argument must be an image (from ML.DECODE_IMAGE), got {}",
                    self.name, args[0]
                ))),
            },
        }
    }

    /// `ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data[, uri]), h, w, keep)` becomes
    /// `ML.RESIZE_IMAGE_DECODED(data, h, w, keep[, uri])`: the same values, without the
    /// full-size float image between the two calls.
    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> DfResult<ExprSimplifyResult> {
        if self.name != "ML.RESIZE_IMAGE" {
            return Ok(ExprSimplifyResult::Original(args));
        }
        let Some(Expr::ScalarFunction(decode)) = args.first() else {
            return Ok(ExprSimplifyResult::Original(args));
        };
        if decode.func.name() != "ML.DECODE_IMAGE" || args.len() != 4 {
            return Ok(ExprSimplifyResult::Original(args));
        }
        let (data, uri) = decode
            .args
            .split_first()
            .expect("ML.DECODE_IMAGE has an argument");
        let fused_args = std::iter::once(data.clone())
            .chain(args[1..].iter().cloned())
            .chain(uri.iter().cloned())
            .collect();
        Ok(ExprSimplifyResult::Simplified(Expr::ScalarFunction(
            ScalarFunction::new_udf(Arc::new(image_function(DECODE_RESIZE)), fused_args),
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let mut columns: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<DfResult<_>>()?;
        // The uri that names the object in errors (ML.DECODE_IMAGE's second argument).
        let uris = (columns.len() > self.arity).then(|| columns.split_off(self.arity));
        let name = self.name;
        let out = (0..rows)
            .into_par_iter()
            .map(|r| {
                let vals = columns
                    .iter()
                    .map(|c| arg_value(c.as_ref(), r))
                    .collect::<DfResult<Vec<_>>>()?;
                // An object's bytes with its uri: errors name the object.
                let uri = uris
                    .as_ref()
                    .and_then(|u| arg_value(u[0].as_ref(), r).ok())
                    .and_then(|v| v.to_text());
                let result = match (name, &vals[..]) {
                    ("ML.DECODE_IMAGE", [data]) => decode(data, uri),
                    (DECODE_RESIZE, [data, size @ ..]) => decode(data, uri).and_then(|img| {
                        let args: Vec<Value> =
                            std::iter::once(img).chain(size.iter().cloned()).collect();
                        crate::imagefns::call("ML.RESIZE_IMAGE", &args)
                    }),
                    _ => crate::imagefns::call(name, &vals),
                }
                .map_err(DataFusionError::Execution)?;
                match result {
                    Value::Image(img) => Ok(Some(img)),
                    Value::Null => Ok(None),
                    other => Err(DataFusionError::Internal(format!(
                        "{name} returned {}",
                        other.type_name()
                    ))),
                }
            })
            .collect::<DfResult<Vec<_>>>()?;
        let array = images_to_array(&out)?;
        if array.data_type() != args.return_field.data_type() && out.iter().any(Option::is_some) {
            return Err(DataFusionError::Internal(format!(
                "{name} produced {} for a column typed {}",
                array.data_type(),
                args.return_field.data_type()
            )));
        }
        let array = if array.data_type() == args.return_field.data_type() {
            array
        } else {
            // Every row NULL: an all-null column of the declared type.
            datafusion::arrow::array::new_null_array(args.return_field.data_type(), rows)
        };
        Ok(ColumnarValue::Array(array))
    }
}

/// Row `r` of an argument column as the [`Value`] `imagefns` expects.
fn arg_value(col: &dyn Array, r: usize) -> DfResult<Value> {
    if image_kind(col.data_type()).is_some() {
        return Ok(image_at(col.as_struct(), r)?.map_or(Value::Null, Value::Image));
    }
    match col.data_type() {
        ArrowType::Binary if !col.is_null(r) => {
            Ok(Value::Bytes(col.as_binary::<i32>().value(r).to_vec()))
        }
        _ => scalar_to_value(ScalarValue::try_from_array(col, r)?),
    }
}

/// The image functions keyed by their upper-case names, for registration.
pub fn register(ctx: &datafusion::prelude::SessionContext) {
    for f in image_functions() {
        ctx.register_udf(f);
    }
}
