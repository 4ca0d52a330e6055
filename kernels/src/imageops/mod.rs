//! Image functions behind BigQuery ML's `ML.DECODE_IMAGE`, `ML.RESIZE_IMAGE`,
//! `ML.CONVERT_COLOR_SPACE` and `ML.CONVERT_IMAGE_TYPE`, with no SQL knowledge.
//!
//! Images are row-major HWC (interleaved channels), the layout of BigQuery's image
//! struct `([H, W, C], values)`. Float images hold values in `[0, 1]`; integer images
//! hold `u8` values (BigQuery's INT64 form, `[0, 255]`).
//!
//! Choices BigQuery leaves undocumented (see `SPEC-bigquery.md` §3 and `DESIGN.md`):
//! - decode gives 3-channel RGB, `u8 / 255` or `u16 / 65535`; grey is repeated, alpha is
//!   dropped (not composited), palettes are expanded, CMYK JPEGs are converted to RGB,
//!   EXIF orientation is ignored; JPEG pixels are libjpeg-turbo's, as in Pillow;
//! - resize is bilinear with half-pixel centres and no antialiasing (`tf.image.resize`);
//! - colour conversions use the `tf.image.rgb_to_*` formulas (GRAYSCALE has 1 channel,
//!   YIQ/YUV chroma can be negative);
//! - `convert_image_type` uses `tf.image.convert_image_dtype`'s rule `trunc(x * 255.5)`.
//!
//! How the SQL layer maps onto this module (it prefixes every [`ImageError`] with the
//! row's uri):
//! - `ML.DECODE_IMAGE(data)` → [`decode`];
//! - `ML.RESIZE_IMAGE` → [`resize_bilinear`] (FLOAT64 form) or [`resize_bilinear_u8`]
//!   (INT64 form); `ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), …)` → [`decode_resized`],
//!   the per-row fast path of `ML.PREDICT` (no full-size float copy);
//! - `ML.CONVERT_COLOR_SPACE` → `name.parse::<ColorSpace>()` then
//!   [`convert_color_space`] (an INT64 image goes through [`ImageU8::to_f32`] first);
//! - `ML.CONVERT_IMAGE_TYPE` → [`convert_image_type`];
//! - an image struct coming from SQL → [`Image::new`] / [`ImageU8::new`] plus
//!   [`check_struct_size`] (the 60 MB input limit).

mod buffer;
mod color;
mod decode;
mod error;
mod jpeg;
mod resize;

pub use buffer::{
    check_struct_size, struct_bytes, DecodeLimits, DecodedImage, DecodedPixels, Image, ImageU8,
    TargetSize, STRUCT_LIMIT_BYTES,
};
pub use color::{convert_color_space, convert_image_type, ColorSpace};
pub use decode::{decode, decode_raw, decode_resized, decode_with};
pub use error::ImageError;
pub use resize::{aspect_fit_size, resize_bilinear, resize_bilinear_u8, resize_decoded};
