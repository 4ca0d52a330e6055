//! BigQuery ML's image functions over [`Value::Image`]: `ML.DECODE_IMAGE`,
//! `ML.RESIZE_IMAGE`, `ML.CONVERT_COLOR_SPACE` and `ML.CONVERT_IMAGE_TYPE`
//! (`SPEC-bigquery.md` §3). Pixels stay in flat buffers; the work is done by
//! `kernels::imageops`. Every error names the image's source uri when it has one.

use std::sync::Arc;

use kernels::imageops::{self, ColorSpace, DecodeLimits, Image, ImageError, ImageU8};

use crate::value::{ImagePixels, ImageValue, LazyKind, Value};

/// Names of the functions this module provides (upper case: the UDFs of `df::image_fns` are registered under them).
pub const FUNCTIONS: [&str; 4] = [
    "ML.DECODE_IMAGE",
    "ML.RESIZE_IMAGE",
    "ML.CONVERT_COLOR_SPACE",
    "ML.CONVERT_IMAGE_TYPE",
];

/// Calls one of [`FUNCTIONS`]; `args` may hold unread [`Value::Lazy`] column values.
pub fn call(name: &str, args: &[Value]) -> Result<Value, String> {
    let expect = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!(
                "Number of arguments does not match for function {name}: expected {n}, got {}",
                args.len()
            ))
        }
    };
    match name {
        "ML.DECODE_IMAGE" => {
            expect(1)?;
            decode_image(&args[0])
        }
        "ML.RESIZE_IMAGE" => {
            expect(4)?;
            let img = match image_arg(name, &args[0])? {
                Some(img) => img,
                None => return Ok(Value::Null),
            };
            let (Some(h), Some(w), Some(keep)) = (
                int_arg(name, "target_height", &args[1])?,
                int_arg(name, "target_width", &args[2])?,
                bool_arg(name, "preserve_aspect_ratio", &args[3])?,
            ) else {
                return Ok(Value::Null);
            };
            resize_image(&img, h, w, keep).map(Value::Image)
        }
        "ML.CONVERT_COLOR_SPACE" => {
            expect(2)?;
            let img = match image_arg(name, &args[0])? {
                Some(img) => img,
                None => return Ok(Value::Null),
            };
            let space = match args[1].clone().forced()? {
                Value::Null => return Ok(Value::Null),
                Value::String(s) => s.parse::<ColorSpace>().map_err(|e| fail(name, &img, e))?,
                other => return Err(arg_type(name, "target_color_space", "STRING", &other)),
            };
            let f = float_image(name, &img)?;
            let out = imageops::convert_color_space(&f, space).map_err(|e| fail(name, &img, e))?;
            Ok(Value::Image(from_float(out, &img)))
        }
        "ML.CONVERT_IMAGE_TYPE" => {
            expect(1)?;
            let img = match image_arg(name, &args[0])? {
                Some(img) => img,
                None => return Ok(Value::Null),
            };
            if img.is_int() {
                return Err(format!(
                    "{name} expects an image of type STRUCT<ARRAY<INT64>, ARRAY<FLOAT64>>, got STRUCT<ARRAY<INT64>, ARRAY<INT64>>{}",
                    img.origin()
                ));
            }
            let out = imageops::convert_image_type(&float_image(name, &img)?);
            Ok(Value::Image(ImageValue {
                shape: out.shape(),
                pixels: ImagePixels::Int(out.into_data().into()),
                source: img.source.clone(),
            }))
        }
        _ => Err(format!("Function not found: {name}")),
    }
}

/// `ML.DECODE_IMAGE(data)`: an object's bytes (read here, after its size is checked) or a
/// BYTES value → a FLOAT64-form image, kept as decoded samples until something reads it.
fn decode_image(arg: &Value) -> Result<Value, String> {
    let limits = DecodeLimits::default();
    let (bytes, source) = match arg {
        Value::Null => return Ok(Value::Null),
        Value::Lazy(l) if l.kind == LazyKind::Bytes => {
            let uri: Arc<str> = Arc::from(l.uri.as_str());
            if l.size > limits.max_input_bytes {
                let e = ImageError::InputTooLarge {
                    size: l.size,
                    limit: limits.max_input_bytes,
                };
                return Err(format!("ML.DECODE_IMAGE failed for {uri}: {e}"));
            }
            match l.force()? {
                Value::Bytes(b) => (b, Some(uri)),
                v => return Err(arg_type("ML.DECODE_IMAGE", "data", "BYTES", &v)),
            }
        }
        other => match other.clone().forced()? {
            Value::Bytes(b) => (b, None),
            v => return Err(arg_type("ML.DECODE_IMAGE", "data", "BYTES", &v)),
        },
    };
    decode_bytes(&bytes, source)
}

/// `ML.DECODE_IMAGE` of an object's bytes already read; `source` (the object's uri, when
/// known) is named in errors and kept on the image.
pub fn decode_bytes(bytes: &[u8], source: Option<Arc<str>>) -> Result<Value, String> {
    let limits = DecodeLimits::default();
    let where_ = source
        .as_deref()
        .map_or_else(String::new, |u| format!(" for {u}"));
    let raw = imageops::decode_raw(bytes, &limits)
        .map_err(|e| format!("ML.DECODE_IMAGE failed{where_}: {e}"))?;
    let img = match raw.downscaled_size(limits.max_struct_bytes) {
        None => ImageValue {
            shape: [raw.height(), raw.width(), 3],
            pixels: ImagePixels::Decoded(Arc::new(raw)),
            source,
        },
        // Over 60 MB as a struct: downscaled, keeping the aspect ratio (BigQuery's rule).
        Some(size) => {
            let out = imageops::resize_decoded(&raw, size.height as i64, size.width as i64, false)
                .map_err(|e| format!("ML.DECODE_IMAGE failed{where_}: {e}"))?;
            ImageValue {
                shape: out.shape(),
                pixels: ImagePixels::Float(out.into_data().into()),
                source,
            }
        }
    };
    Ok(Value::Image(img))
}

/// `ML.RESIZE_IMAGE` on any of the three pixel forms; the INT64 form stays INT64.
fn resize_image(img: &ImageValue, h: i64, w: i64, keep: bool) -> Result<ImageValue, String> {
    let name = "ML.RESIZE_IMAGE";
    let [ih, iw, c] = img.shape;
    Ok(match &img.pixels {
        ImagePixels::Decoded(raw) => from_float(
            imageops::resize_decoded(raw, h, w, keep).map_err(|e| fail(name, img, e))?,
            img,
        ),
        ImagePixels::Float(d) => {
            let src = Image::new(ih, iw, c, d.to_vec()).map_err(|e| fail(name, img, e))?;
            from_float(
                imageops::resize_bilinear(&src, h, w, keep).map_err(|e| fail(name, img, e))?,
                img,
            )
        }
        ImagePixels::Int(d) => {
            let src = ImageU8::new(ih, iw, c, d.to_vec()).map_err(|e| fail(name, img, e))?;
            let out =
                imageops::resize_bilinear_u8(&src, h, w, keep).map_err(|e| fail(name, img, e))?;
            ImageValue {
                shape: out.shape(),
                pixels: ImagePixels::Int(out.into_data().into()),
                source: img.source.clone(),
            }
        }
    })
}

/// The image as FLOAT64-form samples (an INT64-form image is divided by 255).
fn float_image(name: &str, img: &ImageValue) -> Result<Image, String> {
    let [h, w, c] = img.shape;
    let data = match &img.pixels {
        ImagePixels::Decoded(raw) => return Ok(raw.to_f32()),
        ImagePixels::Float(d) => d.to_vec(),
        ImagePixels::Int(d) => d.iter().map(|&v| f32::from(v) / 255.0).collect(),
    };
    Image::new(h, w, c, data).map_err(|e| fail(name, img, e))
}

fn from_float(out: Image, like: &ImageValue) -> ImageValue {
    ImageValue {
        shape: out.shape(),
        pixels: ImagePixels::Float(out.into_data().into()),
        source: like.source.clone(),
    }
}

fn fail(name: &str, img: &ImageValue, e: ImageError) -> String {
    match &img.source {
        Some(u) => format!("{name} failed for {u}: {e}"),
        None => format!("{name} failed: {e}"),
    }
}

fn arg_type(name: &str, arg: &str, want: &str, got: &Value) -> String {
    format!(
        "{name} argument {arg} must be {want}, got {}",
        got.type_name()
    )
}

fn int_arg(name: &str, arg: &str, v: &Value) -> Result<Option<i64>, String> {
    match v.clone().forced()? {
        Value::Null => Ok(None),
        Value::Int64(i) => Ok(Some(i)),
        other => Err(arg_type(name, arg, "INT64", &other)),
    }
}

fn bool_arg(name: &str, arg: &str, v: &Value) -> Result<Option<bool>, String> {
    match v.clone().forced()? {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        other => Err(arg_type(name, arg, "BOOL", &other)),
    }
}

/// An image argument: an image value, or BigQuery's struct form built in SQL.
/// `None` for NULL.
fn image_arg(name: &str, v: &Value) -> Result<Option<ImageValue>, String> {
    match v.clone().forced()? {
        Value::Null => Ok(None),
        Value::Image(img) => Ok(Some(img)),
        Value::Struct(fields) => image_from_struct(&fields)
            .map(Some)
            .map_err(|e| format!("{name} failed: {e}")),
        other => Err(arg_type(
            name,
            "image",
            "STRUCT<ARRAY<INT64>, ARRAY<FLOAT64>> or STRUCT<ARRAY<INT64>, ARRAY<INT64>>",
            &other,
        )),
    }
}

/// Parses `([H, W, C], values)`; FLOAT64 values must lie in `[0, 1]`, INT64 in `[0, 255]`.
pub fn image_from_struct(fields: &[(String, Value)]) -> Result<ImageValue, String> {
    let bad = || "an image struct is ([height, width, channels], values)".to_string();
    let [(_, Value::Array(dims)), (_, Value::Array(values))] = fields else {
        return Err(bad());
    };
    let dims = dims
        .iter()
        .map(|d| match d {
            Value::Int64(x) if *x > 0 => Ok(*x as usize),
            _ => Err(format!(
                "image dimensions must be positive INT64 values, got {}",
                d.to_text().unwrap_or_else(|| "NULL".into())
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let [h, w, c] = dims[..] else {
        return Err(format!(
            "an image shape has 3 values [height, width, channels], got {}",
            dims.len()
        ));
    };
    imageops::check_struct_size(h, w, c).map_err(|e| e.to_string())?;
    let n = h * w * c;
    if values.len() != n {
        return Err(format!(
            "image of shape [{h}, {w}, {c}] needs {n} values, got {}",
            values.len()
        ));
    }
    let int = matches!(values.first(), Some(Value::Int64(_)));
    let pixels = if int {
        let mut out = Vec::with_capacity(n);
        for v in values {
            match v {
                Value::Int64(x) if (0..=255).contains(x) => out.push(*x as u8),
                _ => {
                    return Err(format!(
                        "INT64 image values must be in [0, 255], got {}",
                        v.to_text().unwrap_or_else(|| "NULL".into())
                    ))
                }
            }
        }
        ImagePixels::Int(out.into())
    } else {
        let mut out = Vec::with_capacity(n);
        for v in values {
            match v {
                Value::Float64(x) if (0.0..=1.0).contains(x) => out.push(*x as f32),
                _ => {
                    return Err(format!(
                        "FLOAT64 image values must be in [0, 1], got {}",
                        v.to_text().unwrap_or_else(|| "NULL".into())
                    ))
                }
            }
        }
        ImagePixels::Float(out.into())
    };
    Ok(ImageValue {
        shape: [h, w, c],
        pixels,
        source: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image_rgb(w, h);
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, ::image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn image_rgb(w: u32, h: u32) -> ::image::DynamicImage {
        ::image::DynamicImage::ImageRgb8(::image::RgbImage::from_fn(w, h, |x, y| {
            ::image::Rgb([(x * 40) as u8, (y * 60) as u8, 200])
        }))
    }

    fn img(v: Value) -> ImageValue {
        match v {
            Value::Image(i) => i,
            other => panic!("not an image: {other:?}"),
        }
    }

    #[test]
    fn decode_resize_convert_chain() {
        let d = img(call("ML.DECODE_IMAGE", &[Value::Bytes(png(4, 3))]).unwrap());
        assert_eq!(d.shape, [3, 4, 3]);
        assert!(matches!(d.pixels, ImagePixels::Decoded(_)));
        assert_eq!(d.values_f32()[2], 200.0 / 255.0);
        let r = img(call(
            "ML.RESIZE_IMAGE",
            &[
                Value::Image(d.clone()),
                Value::Int64(6),
                Value::Int64(6),
                Value::Bool(true),
            ],
        )
        .unwrap());
        assert_eq!(r.shape, [4, 6, 3], "aspect kept, fits inside, no padding");
        let t = img(call("ML.CONVERT_IMAGE_TYPE", &[Value::Image(d.clone())]).unwrap());
        assert!(t.is_int());
        assert_eq!(
            Value::Image(t.clone()).data_type(),
            Some(crate::value::image_type_of(true))
        );
        let e = call("ML.CONVERT_IMAGE_TYPE", &[Value::Image(t.clone())]).unwrap_err();
        assert!(e.contains("expects an image of type"), "{e}");
        let ri = img(call(
            "ML.RESIZE_IMAGE",
            &[
                Value::Image(t),
                Value::Int64(2),
                Value::Int64(2),
                Value::Bool(false),
            ],
        )
        .unwrap());
        assert!(ri.is_int(), "an INT64 image stays INT64");
        let g = img(call(
            "ML.CONVERT_COLOR_SPACE",
            &[Value::Image(d), Value::String("grayscale".into())],
        )
        .unwrap());
        assert_eq!(g.shape, [3, 4, 1]);
    }

    #[test]
    fn struct_form_round_trips_and_is_checked() {
        let d = img(call("ML.DECODE_IMAGE", &[Value::Bytes(png(2, 2))]).unwrap());
        let Value::Struct(fields) = Value::image_as_struct(&d) else {
            panic!()
        };
        let back = image_from_struct(&fields).unwrap();
        assert_eq!(back, d);
        let e = call(
            "ML.RESIZE_IMAGE",
            &[
                Value::Struct(vec![
                    (String::new(), Value::Array(vec![Value::Int64(1); 3])),
                    (String::new(), Value::Array(vec![Value::Float64(1.5)])),
                ]),
                Value::Int64(2),
                Value::Int64(2),
                Value::Bool(false),
            ],
        )
        .unwrap_err();
        assert_eq!(
            e,
            "ML.RESIZE_IMAGE failed: FLOAT64 image values must be in [0, 1], got 1.5"
        );
    }

    #[test]
    fn errors_name_the_object() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.jpg");
        std::fs::write(&p, b"\xff\xd8\xff\xe0 truncated").unwrap();
        let lazy = Value::Lazy(Arc::new(crate::value::LazyValue {
            uri: "gs://b/bad.jpg".into(),
            source: crate::storage::ObjectSource::Local(p),
            size: 13,
            kind: LazyKind::Bytes,
        }));
        let e = call("ML.DECODE_IMAGE", &[lazy]).unwrap_err();
        assert!(
            e.starts_with("ML.DECODE_IMAGE failed for gs://b/bad.jpg: "),
            "{e}"
        );
        let big = Value::Lazy(Arc::new(crate::value::LazyValue {
            uri: "gs://b/huge.jpg".into(),
            source: crate::storage::ObjectSource::Local(dir.path().join("missing")),
            size: 10_000_001,
            kind: LazyKind::Bytes,
        }));
        let e = call("ML.DECODE_IMAGE", &[big]).unwrap_err();
        assert_eq!(
            e,
            "ML.DECODE_IMAGE failed for gs://b/huge.jpg: image data too large: 10000001 bytes exceeds the limit of 10000000 bytes"
        );
        assert_eq!(call("ML.DECODE_IMAGE", &[Value::Null]), Ok(Value::Null));
        let e = call("ML.DECODE_IMAGE", &[Value::Int64(1)]).unwrap_err();
        assert_eq!(e, "ML.DECODE_IMAGE argument data must be BYTES, got INT64");
    }
}
