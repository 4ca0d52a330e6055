//! JPEG decoding with libjpeg-turbo's decoder, so that pixels match Pillow (our oracle,
//! `shared/tools/preprocess.py`) exactly.
//!
//! The decoder is MozJPEG, libjpeg-turbo's fork with an unchanged decompressor, compiled
//! from the C sources vendored in the `mozjpeg-sys` crate with `cc` (no cmake). With
//! `nasm` on the build machine its x86 SIMD code is assembled too (picked at run time by
//! CPUID, so the binary still runs without AVX2); without `nasm` the portable C code is
//! used. libjpeg-turbo keeps both bit-identical, and the oracle tests pass on both. Like
//! Pillow it uses the ISLOW integer IDCT, "fancy" (triangular) chroma upsampling and
//! libjpeg's YCbCr tables. The pure-Rust decoders differ from Pillow by up to 6/255
//! (zune-jpeg, the `image` crate's backend) and 3/255 (jpeg-decoder) on our photos.
//!
//! libjpeg reports fatal errors by unwinding out of its callbacks (the `mozjpeg` crate's
//! error manager, which bypasses the panic hook); [`decode_jpeg`] catches that and returns
//! an [`ImageError`].

use std::panic::catch_unwind;

use mozjpeg::{ColorSpace, Decompress};

use super::buffer::{check_dimensions, DecodeLimits, DecodedImage, DecodedPixels};
use super::error::ImageError;

/// Decodes a JPEG to 8-bit RGB: grey is repeated by libjpeg, CMYK/YCCK is converted with
/// Pillow's formula (see [`cmyk_to_rgb`]), EXIF orientation is ignored. The header's
/// pixel count is checked against `limits` before libjpeg allocates any image buffer.
pub(super) fn decode_jpeg(bytes: &[u8], limits: &DecodeLimits) -> Result<DecodedImage, ImageError> {
    check_jpeg_complete(bytes)?;
    match catch_unwind(|| decode_unwinding(bytes, limits)) {
        Ok(result) => result,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("unknown libjpeg error");
            Err(libjpeg_error(msg))
        }
    }
}

/// The decode proper; libjpeg errors unwind out of it.
fn decode_unwinding(bytes: &[u8], limits: &DecodeLimits) -> Result<DecodedImage, ImageError> {
    // Reads the markers up to the first scan; no image buffer exists yet.
    let header = Decompress::new_mem(bytes).map_err(io_error)?;
    let (width, height) = header.size();
    check_dimensions(width as u64, height as u64, limits)?;
    let cmyk = matches!(
        header.color_space(),
        ColorSpace::JCS_CMYK | ColorSpace::JCS_YCCK
    );
    let (out_space, channels) = if cmyk {
        (ColorSpace::JCS_CMYK, 4)
    } else {
        (ColorSpace::JCS_RGB, 3)
    };
    let out_bytes = (width as u64) * (height as u64) * channels as u64;
    if out_bytes > limits.max_alloc {
        return Err(ImageError::MemoryLimit(format!(
            "a {width}x{height} JPEG needs {out_bytes} bytes of output, over the limit of {} bytes",
            limits.max_alloc
        )));
    }
    let mut started = header.to_colorspace(out_space).map_err(io_error)?;
    let samples: Vec<u8> = started.read_scanlines().map_err(io_error)?;
    started.finish().map_err(io_error)?;
    if samples.len() != width * height * channels {
        return Err(ImageError::Corrupt {
            format: "JPEG",
            message: format!(
                "decoder returned {} samples for {width}x{height}x{channels}",
                samples.len()
            ),
        });
    }
    let rgb = if cmyk { cmyk_to_rgb(&samples) } else { samples };
    Ok(DecodedImage::new(height, width, DecodedPixels::U8(rgb)))
}

/// CMYK samples as libjpeg returns them → RGB, exactly as Pillow does it: Pillow reads
/// every 4-component JPEG as inverted ("Adobe") CMYK, so its `C = 255 - c`, `K = 255 - k`,
/// then `convert("RGB")` computes `255 - K - round(C * (255 - K) / 255)` (its
/// `MULDIV255`) per channel, which with the inversion is `k - MULDIV255(255 - c, k)`.
fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    let muldiv255 = |a: u32, b: u32| {
        let t = a * b + 128;
        ((t >> 8) + t) >> 8
    };
    let mut out = Vec::with_capacity(cmyk.len() / 4 * 3);
    for px in cmyk.chunks_exact(4) {
        let k = u32::from(px[3]);
        for &c in &px[..3] {
            // muldiv255(x, k) <= k, so this never underflows.
            out.push((k - muldiv255(255 - u32::from(c), k)) as u8);
        }
    }
    out
}

/// Rejects a JPEG whose last scan is not followed by an end-of-image marker.
///
/// libjpeg fills a truncated scan with grey and only warns; Pillow reports truncation,
/// and so do we. `FF DA` (start of scan) and `FF D9` (end of image) cannot occur inside
/// entropy-coded data, where every `FF` is followed by `00` or a restart marker, so the
/// last `FF DA` starts the final scan. The common case, a file ending in `FF D9`, is
/// decided without scanning the entropy-coded data.
fn check_jpeg_complete(bytes: &[u8]) -> Result<(), ImageError> {
    const SOS: [u8; 2] = [0xFF, 0xDA];
    const EOI: [u8; 2] = [0xFF, 0xD9];
    let has_scan = bytes.windows(2).any(|w| w == SOS);
    let complete = if !has_scan {
        false
    } else if bytes.ends_with(&EOI) {
        true
    } else {
        // Trailing bytes after EOI are tolerated: look for EOI after the last scan.
        let last_sos = bytes.windows(2).rposition(|w| w == SOS).unwrap_or(0);
        bytes[last_sos..].windows(2).any(|w| w == EOI)
    };
    if complete {
        Ok(())
    } else {
        Err(ImageError::Corrupt {
            format: "JPEG",
            message: "truncated: no end-of-image marker after the last scan".into(),
        })
    }
}

/// A libjpeg error message → [`ImageError`]: features libjpeg lacks are
/// `UnsupportedFeature`, everything else is corrupt data.
fn libjpeg_error(msg: &str) -> ImageError {
    let message = msg
        .strip_prefix("libjpeg fatal error: ")
        .unwrap_or(msg)
        .to_string();
    let unsupported = ["Unsupported", "not supported", "Requested features"]
        .iter()
        .any(|p| message.contains(p));
    if unsupported {
        ImageError::UnsupportedFeature {
            format: "JPEG",
            message,
        }
    } else {
        ImageError::Corrupt {
            format: "JPEG",
            message,
        }
    }
}

/// The `mozjpeg` crate's non-unwinding errors (no image in the file, data ended early).
fn io_error(e: std::io::Error) -> ImageError {
    let message = match e.kind() {
        std::io::ErrorKind::UnexpectedEof => format!("truncated data ({e})"),
        _ => e.to_string(),
    };
    ImageError::Corrupt {
        format: "JPEG",
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_completeness_check() {
        let ok = [0xFF, 0xD8, 0xFF, 0xDA, 0, 2, 1, 0xFF, 0x00, 0xFF, 0xD9];
        assert!(check_jpeg_complete(&ok).is_ok());
        assert!(check_jpeg_complete(&ok[..9]).is_err());
        assert!(check_jpeg_complete(&[0xFF, 0xD8, 0xFF, 0xD9]).is_err());
        // Trailing garbage after EOI is fine.
        let mut tail = ok.to_vec();
        tail.extend_from_slice(&[0, 0, 1]);
        assert!(check_jpeg_complete(&tail).is_ok());
    }

    #[test]
    fn cmyk_conversion_follows_pillow() {
        // Raw (Adobe-inverted) c = 255 means no ink; k = 255 means no black.
        assert_eq!(cmyk_to_rgb(&[255, 255, 255, 255]), vec![255, 255, 255]);
        assert_eq!(cmyk_to_rgb(&[0, 0, 0, 255]), vec![0, 0, 0]);
        assert_eq!(cmyk_to_rgb(&[255, 0, 128, 0]), vec![0, 0, 0]);
        // k = 200: 200 - round(255 * 200 / 255) = 0, and 200 - round(55 * 200 / 255) = 157.
        assert_eq!(cmyk_to_rgb(&[0, 200, 255, 200]), vec![0, 157, 200]);
    }

    #[test]
    fn libjpeg_messages_are_classified() {
        let e = libjpeg_error("libjpeg fatal error: Unsupported JPEG process: SOF type 0xc3");
        assert_eq!(
            e,
            ImageError::UnsupportedFeature {
                format: "JPEG",
                message: "Unsupported JPEG process: SOF type 0xc3".into()
            }
        );
        let e = libjpeg_error("libjpeg fatal error: Bogus Huffman table definition");
        assert!(
            e.to_string()
                .starts_with("corrupt JPEG data: Bogus Huffman table definition"),
            "{e}"
        );
    }
}
