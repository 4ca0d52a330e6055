//! `ML.DECODE_IMAGE`: JPEG/PNG/BMP bytes → RGB; PNG and BMP through the `image` crate,
//! JPEG through libjpeg-turbo's decoder (see [`super::jpeg`]).

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use super::jpeg::decode_jpeg;
use super::resize::{resize_decoded, TargetSize};
use super::{struct_bytes, Image, ImageError, STRUCT_LIMIT_BYTES};

/// Bounds applied while decoding. The pixel limit is checked against the header
/// before any pixel buffer is allocated, so decompression bombs fail cheaply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted encoded input ("must be <= 10 MB (10,000,000 bytes)").
    pub max_input_bytes: u64,
    /// Largest accepted `width * height` from the header.
    pub max_pixels: u64,
    /// Largest allocation the codec may make (its output buffer included). For JPEG
    /// only the output buffer is checked; libjpeg's working memory is bounded by `max_pixels`.
    pub max_alloc: u64,
    /// Largest output struct; bigger images are downscaled to fit, keeping the
    /// aspect ratio ("If the struct value is larger than 60 MB, it is downscaled").
    pub max_struct_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_input_bytes: 10_000_000,
            max_pixels: 100_000_000,
            max_alloc: 1 << 30,
            max_struct_bytes: STRUCT_LIMIT_BYTES,
        }
    }
}

/// Decoded pixel values, always 3 interleaved RGB channels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodedPixels {
    /// 8-bit samples; the float value is `v / 255`.
    U8(Vec<u8>),
    /// 16-bit samples (16-bit PNG); the float value is `v / 65535`.
    U16(Vec<u16>),
}

/// A decoded RGB image at its native sample depth, before conversion to float.
/// Invariant: `height, width ≥ 1` and the pixel vector holds `height * width * 3` samples.
#[derive(Clone, PartialEq, Eq)]
pub struct DecodedImage {
    height: usize,
    width: usize,
    pixels: DecodedPixels,
}

impl std::fmt::Debug for DecodedImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let depth = match self.pixels {
            DecodedPixels::U8(_) => 8,
            DecodedPixels::U16(_) => 16,
        };
        write!(
            f,
            "DecodedImage({}x{}x3, {depth}-bit)",
            self.height, self.width
        )
    }
}

impl DecodedImage {
    /// Wraps samples from a codec. Panics unless `pixels` holds `height * width * 3`
    /// samples and both dimensions are positive (the codecs guarantee it).
    pub(super) fn new(height: usize, width: usize, pixels: DecodedPixels) -> Self {
        let len = match &pixels {
            DecodedPixels::U8(v) => v.len(),
            DecodedPixels::U16(v) => v.len(),
        };
        assert!(height > 0 && width > 0 && len == height * width * 3);
        DecodedImage {
            height,
            width,
            pixels,
        }
    }
    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }
    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }
    /// The samples, HWC with 3 channels.
    pub fn pixels(&self) -> &DecodedPixels {
        &self.pixels
    }
    /// Converts to float: `u8 / 255` or `u16 / 65535`, 3 channels.
    pub fn to_f32(&self) -> Image {
        let data = match &self.pixels {
            DecodedPixels::U8(v) => v.iter().map(|&s| f32::from(s) / 255.0).collect(),
            DecodedPixels::U16(v) => v.iter().map(|&s| f32::from(s) / 65535.0).collect(),
        };
        Image::new(self.height, self.width, 3, data).expect("decoded image invariant")
    }
    /// The size this image is downscaled to so that its float struct fits in
    /// `max_struct_bytes`, or `None` if it already fits.
    pub fn downscaled_size(&self, max_struct_bytes: u64) -> Option<TargetSize> {
        fit_struct(self.height, self.width, max_struct_bytes)
    }
}

/// Largest `h × w × 3` with the aspect ratio of `height × width` whose struct fits.
fn fit_struct(height: usize, width: usize, max_struct_bytes: u64) -> Option<TargetSize> {
    if struct_bytes(height, width, 3) <= max_struct_bytes {
        return None;
    }
    let max_values = (max_struct_bytes / 8).saturating_sub(3) as f64;
    let scale = (max_values / (3.0 * height as f64 * width as f64)).sqrt();
    let mut h = ((height as f64 * scale).floor() as usize).max(1);
    let mut w = ((width as f64 * scale).floor() as usize).max(1);
    // Float rounding can leave the product one row or column over the limit.
    while struct_bytes(h, w, 3) > max_struct_bytes && (h > 1 || w > 1) {
        if h * width >= w * height && h > 1 {
            h -= 1;
        } else if w > 1 {
            w -= 1;
        } else {
            h -= 1;
        }
    }
    Some(TargetSize {
        height: h,
        width: w,
    })
}

/// `ML.DECODE_IMAGE` with the default limits: RGB float in `[0, 1]`, 3 channels,
/// downscaled (bilinear, aspect kept) if the result would exceed 60 MB.
pub fn decode(bytes: &[u8]) -> Result<Image, ImageError> {
    decode_with(bytes, &DecodeLimits::default())
}

/// [`decode`] with explicit limits.
pub fn decode_with(bytes: &[u8], limits: &DecodeLimits) -> Result<Image, ImageError> {
    let raw = decode_raw(bytes, limits)?;
    match raw.downscaled_size(limits.max_struct_bytes) {
        None => Ok(raw.to_f32()),
        Some(size) => resize_decoded(&raw, size.height as i64, size.width as i64, false),
    }
}

/// `ML.RESIZE_IMAGE(ML.DECODE_IMAGE(bytes), h, w, preserve_aspect_ratio)` in one pass
/// when no 60 MB downscale intervenes (resizing straight from the 8/16-bit samples).
/// Same result as composing [`decode_with`] and [`super::resize_bilinear`].
pub fn decode_resized(
    bytes: &[u8],
    limits: &DecodeLimits,
    target_height: i64,
    target_width: i64,
    preserve_aspect_ratio: bool,
) -> Result<Image, ImageError> {
    let raw = decode_raw(bytes, limits)?;
    match raw.downscaled_size(limits.max_struct_bytes) {
        None => resize_decoded(&raw, target_height, target_width, preserve_aspect_ratio),
        Some(size) => {
            let shrunk = resize_decoded(&raw, size.height as i64, size.width as i64, false)?;
            super::resize_bilinear(&shrunk, target_height, target_width, preserve_aspect_ratio)
        }
    }
}

/// Decodes to RGB samples at native depth without the 60 MB downscale.
/// The format is detected from the content; only JPEG, PNG and BMP are accepted.
pub fn decode_raw(bytes: &[u8], limits: &DecodeLimits) -> Result<DecodedImage, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    let size = bytes.len() as u64;
    if size > limits.max_input_bytes {
        return Err(ImageError::InputTooLarge {
            size,
            limit: limits.max_input_bytes,
        });
    }
    let format = image::guess_format(bytes).map_err(|_| ImageError::UnknownFormat {
        magic: magic_hex(bytes),
    })?;
    let name = match format {
        ImageFormat::Jpeg => return decode_jpeg(bytes, limits),
        ImageFormat::Png => "PNG",
        ImageFormat::Bmp => "BMP",
        other => return Err(ImageError::UnsupportedFormat(format_name(other))),
    };

    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut codec_limits = image::Limits::default();
    codec_limits.max_alloc = Some(limits.max_alloc);
    reader.limits(codec_limits);
    // Reads the header only; no pixel buffer exists yet.
    let decoder = reader.into_decoder().map_err(|e| map_error(name, e))?;
    let (w, h) = decoder.dimensions();
    check_dimensions(u64::from(w), u64::from(h), limits)?;
    let img = DynamicImage::from_decoder(decoder).map_err(|e| map_error(name, e))?;
    Ok(to_rgb(img))
}

/// Rejects zero dimensions and more than `limits.max_pixels` pixels, from the header.
pub(super) fn check_dimensions(
    width: u64,
    height: u64,
    limits: &DecodeLimits,
) -> Result<(), ImageError> {
    if width == 0 || height == 0 {
        return Err(ImageError::ZeroDimensions { width, height });
    }
    if width.saturating_mul(height) > limits.max_pixels {
        return Err(ImageError::TooManyPixels {
            width,
            height,
            limit: limits.max_pixels,
        });
    }
    Ok(())
}

/// Drops alpha and repeats grey; keeps 16-bit samples.
fn to_rgb(img: DynamicImage) -> DecodedImage {
    let (height, width) = (img.height() as usize, img.width() as usize);
    let pixels = match img {
        DynamicImage::ImageRgb8(b) => DecodedPixels::U8(b.into_raw()),
        DynamicImage::ImageRgba8(b) => DecodedPixels::U8(take_rgb(b.as_raw(), 4)),
        DynamicImage::ImageLuma8(b) => DecodedPixels::U8(grey_to_rgb(b.as_raw(), 1)),
        DynamicImage::ImageLumaA8(b) => DecodedPixels::U8(grey_to_rgb(b.as_raw(), 2)),
        DynamicImage::ImageRgb16(b) => DecodedPixels::U16(b.into_raw()),
        DynamicImage::ImageRgba16(b) => DecodedPixels::U16(take_rgb(b.as_raw(), 4)),
        DynamicImage::ImageLuma16(b) => DecodedPixels::U16(grey_to_rgb(b.as_raw(), 1)),
        DynamicImage::ImageLumaA16(b) => DecodedPixels::U16(grey_to_rgb(b.as_raw(), 2)),
        // Float variants come only from formats this module rejects.
        other => DecodedPixels::U16(other.into_rgb16().into_raw()),
    };
    DecodedImage {
        height,
        width,
        pixels,
    }
}

fn take_rgb<T: Copy>(src: &[T], stride: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(src.len() / stride * 3);
    for px in src.chunks_exact(stride) {
        out.extend_from_slice(&px[..3]);
    }
    out
}

fn grey_to_rgb<T: Copy>(src: &[T], stride: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(src.len() / stride * 3);
    for px in src.chunks_exact(stride) {
        out.extend_from_slice(&[px[0], px[0], px[0]]);
    }
    out
}

fn magic_hex(bytes: &[u8]) -> String {
    let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
    head.join(" ")
}

fn format_name(f: ImageFormat) -> String {
    match f {
        ImageFormat::Gif => "GIF".into(),
        ImageFormat::WebP => "WebP".into(),
        ImageFormat::Tiff => "TIFF".into(),
        ImageFormat::Ico => "ICO".into(),
        ImageFormat::Avif => "AVIF".into(),
        ImageFormat::Pnm => "PNM".into(),
        ImageFormat::Tga => "TGA".into(),
        ImageFormat::Dds => "DDS".into(),
        ImageFormat::Hdr => "HDR".into(),
        ImageFormat::OpenExr => "OpenEXR".into(),
        ImageFormat::Farbfeld => "farbfeld".into(),
        ImageFormat::Qoi => "QOI".into(),
        other => format!("{other:?}"),
    }
}

fn map_error(format: &'static str, e: image::ImageError) -> ImageError {
    use image::error::{ImageError as E, LimitErrorKind};
    match e {
        E::Limits(l) => match l.kind() {
            LimitErrorKind::InsufficientMemory => ImageError::MemoryLimit(l.to_string()),
            _ => ImageError::MemoryLimit(l.to_string()),
        },
        E::Unsupported(u) => ImageError::UnsupportedFeature {
            format,
            message: u.to_string(),
        },
        E::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => ImageError::Corrupt {
            format,
            message: format!("truncated data ({io})"),
        },
        other => ImageError::Corrupt {
            format,
            message: inner_message(&other),
        },
    }
}

/// The innermost useful message: `image` wraps codec errors as
/// "Format error decoding Png: <codec message>".
fn inner_message(e: &image::ImageError) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg = s.to_string();
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_struct_keeps_aspect_and_fits() {
        assert_eq!(fit_struct(100, 100, STRUCT_LIMIT_BYTES), None);
        let s = fit_struct(4000, 3000, STRUCT_LIMIT_BYTES).unwrap();
        assert!(struct_bytes(s.height, s.width, 3) <= STRUCT_LIMIT_BYTES);
        // One more row or column would not fit with the same aspect.
        assert!(struct_bytes(s.height + 1, s.width + 1, 3) > STRUCT_LIMIT_BYTES);
        let aspect = s.height as f64 / s.width as f64;
        assert!((aspect - 4.0 / 3.0).abs() < 0.01, "{s:?}");
        let thin = fit_struct(1, 10_000_000, STRUCT_LIMIT_BYTES).unwrap();
        assert_eq!(thin.height, 1);
        assert!(struct_bytes(1, thin.width, 3) <= STRUCT_LIMIT_BYTES);
    }

    #[test]
    fn grey_and_alpha_expansion() {
        assert_eq!(grey_to_rgb(&[7u8, 9], 1), vec![7, 7, 7, 9, 9, 9]);
        assert_eq!(grey_to_rgb(&[7u16, 0, 9, 1], 2), vec![7, 7, 7, 9, 9, 9]);
        assert_eq!(
            take_rgb(&[1u8, 2, 3, 4, 5, 6, 7, 8], 4),
            vec![1, 2, 3, 5, 6, 7]
        );
    }
}
