//! `ML.DECODE_IMAGE`: JPEG/PNG/BMP bytes → RGB; PNG and BMP through the `image` crate,
//! JPEG through libjpeg-turbo's decoder (see [`super::jpeg`]).

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use super::buffer::{check_dimensions, DecodeLimits, DecodedImage, DecodedPixels, Image};
use super::error::ImageError;
use super::jpeg::decode_jpeg;
use super::resize::{resize_bilinear, resize_decoded};

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
/// Same result as composing [`decode_with`] and [`resize_bilinear`].
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
            resize_bilinear(&shrunk, target_height, target_width, preserve_aspect_ratio)
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

    let stripped;
    let bytes = match format {
        ImageFormat::Png => {
            stripped = strip_compressed_png_metadata(bytes);
            stripped.as_deref().unwrap_or(bytes)
        }
        _ => bytes,
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

/// The PNG without its `iCCP`, `zTXt` and `iTXt` chunks, or `None` when it has none (or
/// its chunk layout is broken, which the decoder then reports). These chunks hold
/// zlib streams that the decoder would inflate into memory before the pixels, up to its
/// whole allocation limit — a 2 MB file can hold a 2 GiB colour profile — and nothing
/// here uses them: colour profiles are not applied (as by the Pillow reference) and text
/// is not read.
fn strip_compressed_png_metadata(bytes: &[u8]) -> Option<Vec<u8>> {
    const SIGNATURE: usize = 8;
    let mut keep: Vec<std::ops::Range<usize>> = Vec::new();
    keep.push(0..SIGNATURE);
    let mut at = SIGNATURE;
    let mut dropped = false;
    while at < bytes.len() {
        let header = bytes.get(at..at + 8)?;
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let end = at.checked_add(12)?.checked_add(len)?;
        if end > bytes.len() {
            return None;
        }
        match &header[4..8] {
            b"iCCP" | b"zTXt" | b"iTXt" => dropped = true,
            _ => keep.push(at..end),
        }
        if &header[4..8] == b"IEND" {
            break;
        }
        at = end;
    }
    dropped.then(|| {
        keep.into_iter()
            .flat_map(|r| bytes[r].iter().copied())
            .collect()
    })
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
    DecodedImage::new(height, width, pixels)
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
    fn grey_and_alpha_expansion() {
        assert_eq!(grey_to_rgb(&[7u8, 9], 1), vec![7, 7, 7, 9, 9, 9]);
        assert_eq!(grey_to_rgb(&[7u16, 0, 9, 1], 2), vec![7, 7, 7, 9, 9, 9]);
        assert_eq!(
            take_rgb(&[1u8, 2, 3, 4, 5, 6, 7, 8], 4),
            vec![1, 2, 3, 5, 6, 7]
        );
    }
}
