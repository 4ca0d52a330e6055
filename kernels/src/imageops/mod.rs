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

use std::fmt;

mod color;
mod decode;
mod error;
mod jpeg;
mod resize;

pub use color::{convert_color_space, convert_image_type, ColorSpace};
pub use decode::{
    decode, decode_raw, decode_resized, decode_with, DecodeLimits, DecodedImage, DecodedPixels,
};
pub use error::ImageError;
pub use resize::{
    aspect_fit_size, resize_bilinear, resize_bilinear_u8, resize_decoded, TargetSize,
};

/// Largest accepted image struct, in bytes: "The struct value must be <= 60 MB."
pub const STRUCT_LIMIT_BYTES: u64 = 60_000_000;

/// Size in bytes of BigQuery's image struct for an `h`×`w`×`c` image: three INT64
/// dimensions plus one 8-byte value (FLOAT64 or INT64) per element. Saturates on overflow.
pub fn struct_bytes(height: usize, width: usize, channels: usize) -> u64 {
    (height as u64)
        .saturating_mul(width as u64)
        .saturating_mul(channels as u64)
        .saturating_add(3)
        .saturating_mul(8)
}

/// Errors if an `h`×`w`×`c` image struct exceeds [`STRUCT_LIMIT_BYTES`]
/// ("The struct value must be <= 60 MB").
pub fn check_struct_size(height: usize, width: usize, channels: usize) -> Result<(), ImageError> {
    let bytes = struct_bytes(height, width, channels);
    if bytes > STRUCT_LIMIT_BYTES {
        return Err(ImageError::StructTooLarge {
            bytes,
            limit: STRUCT_LIMIT_BYTES,
        });
    }
    Ok(())
}

/// Validates a shape and data length; shared by [`Image::new`] and [`ImageU8::new`].
fn check_shape(height: usize, width: usize, channels: usize, len: usize) -> Result<(), ImageError> {
    if height == 0 || width == 0 || channels == 0 {
        return Err(ImageError::InvalidImage(format!(
            "dimensions must be positive, got [{height}, {width}, {channels}]"
        )));
    }
    let expected = height
        .checked_mul(width)
        .and_then(|n| n.checked_mul(channels));
    match expected {
        Some(n) if n == len => Ok(()),
        Some(n) => Err(ImageError::InvalidImage(format!(
            "shape [{height}, {width}, {channels}] needs {n} values, got {len}"
        ))),
        None => Err(ImageError::InvalidImage(format!(
            "shape [{height}, {width}, {channels}] overflows"
        ))),
    }
}

/// Shape plus the first few values; images are too big to print whole.
fn debug_image<T: fmt::Debug>(
    f: &mut fmt::Formatter<'_>,
    kind: &str,
    shape: [usize; 3],
    data: &[T],
) -> fmt::Result {
    let head = &data[..data.len().min(6)];
    write!(
        f,
        "{kind}({}x{}x{}, {head:?}…)",
        shape[0], shape[1], shape[2]
    )
}

/// A float image, HWC row-major. Invariant: all dimensions ≥ 1 and
/// `data.len() == height * width * channels`.
#[derive(Clone, PartialEq)]
pub struct Image {
    height: usize,
    width: usize,
    channels: usize,
    data: Vec<f32>,
}

impl Image {
    /// Builds an image, checking that the dimensions are positive and match `data`.
    pub fn new(
        height: usize,
        width: usize,
        channels: usize,
        data: Vec<f32>,
    ) -> Result<Self, ImageError> {
        check_shape(height, width, channels, data.len())?;
        Ok(Image {
            height,
            width,
            channels,
            data,
        })
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }
    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }
    /// Channels per pixel (3 for RGB, 1 for GRAYSCALE).
    pub fn channels(&self) -> usize {
        self.channels
    }
    /// `[height, width, channels]`, the first array of BigQuery's image struct.
    pub fn shape(&self) -> [usize; 3] {
        [self.height, self.width, self.channels]
    }
    /// The values, HWC row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }
    /// Takes the values out (convert with `.into()` for an `Arc<[f32]>`).
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }
}

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_image(f, "Image", self.shape(), &self.data)
    }
}

impl fmt::Debug for ImageU8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_image(f, "ImageU8", self.shape(), &self.data)
    }
}

/// An integer image (BigQuery's INT64 form), HWC row-major, same invariant as [`Image`].
#[derive(Clone, PartialEq, Eq)]
pub struct ImageU8 {
    height: usize,
    width: usize,
    channels: usize,
    data: Vec<u8>,
}

impl ImageU8 {
    /// Builds an image, checking that the dimensions are positive and match `data`.
    pub fn new(
        height: usize,
        width: usize,
        channels: usize,
        data: Vec<u8>,
    ) -> Result<Self, ImageError> {
        check_shape(height, width, channels, data.len())?;
        Ok(ImageU8 {
            height,
            width,
            channels,
            data,
        })
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }
    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }
    /// Channels per pixel.
    pub fn channels(&self) -> usize {
        self.channels
    }
    /// `[height, width, channels]`.
    pub fn shape(&self) -> [usize; 3] {
        [self.height, self.width, self.channels]
    }
    /// The values, HWC row-major.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
    /// Takes the values out.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }
    /// The float form, `v / 255` (exactly what decode produces for 8-bit input).
    pub fn to_f32(&self) -> Image {
        Image {
            height: self.height,
            width: self.width,
            channels: self.channels,
            data: self.data.iter().map(|&v| f32::from(v) / 255.0).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_validated() {
        assert!(Image::new(2, 2, 3, vec![0.0; 12]).is_ok());
        let e = Image::new(2, 2, 3, vec![0.0; 11]).unwrap_err();
        assert!(e.to_string().contains("needs 12 values, got 11"), "{e}");
        assert!(Image::new(0, 2, 3, vec![]).is_err());
        assert!(ImageU8::new(usize::MAX, 2, 3, vec![]).is_err());
        assert_eq!(
            ImageU8::new(1, 2, 1, vec![0, 255]).unwrap().to_f32().data(),
            &[0.0, 1.0]
        );
    }

    #[test]
    fn struct_limit_is_sixty_mb_of_eight_byte_values() {
        // 2_499_999 RGB pixels: 8 * (3 + 7_499_997) = 60_000_000 bytes exactly.
        assert_eq!(struct_bytes(1, 2_499_999, 3), 60_000_000);
        assert!(check_struct_size(1, 2_499_999, 3).is_ok());
        assert!(matches!(
            check_struct_size(1, 2_500_000, 3),
            Err(ImageError::StructTooLarge { .. })
        ));
        assert!(check_struct_size(usize::MAX, usize::MAX, 3).is_err());
    }
}
