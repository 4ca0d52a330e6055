//! Decode limits: input size, header pixel count, and the 60 MB struct downscale.

use image::{ImageEncoder, Rgb, RgbImage};
use kernels::imageops::{self, struct_bytes, DecodeLimits, ImageError, STRUCT_LIMIT_BYTES};

fn gradient_png(w: u32, h: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| {
        Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

#[test]
fn pixel_and_input_limits_are_enforced() {
    let png = gradient_png(40, 30);
    let limits = DecodeLimits {
        max_pixels: 1199,
        ..DecodeLimits::default()
    };
    assert_eq!(
        imageops::decode_with(&png, &limits).unwrap_err(),
        ImageError::TooManyPixels {
            width: 40,
            height: 30,
            limit: 1199
        }
    );
    let limits = DecodeLimits {
        max_pixels: 1200,
        ..DecodeLimits::default()
    };
    assert_eq!(
        imageops::decode_with(&png, &limits).unwrap().shape(),
        [30, 40, 3]
    );
    let limits = DecodeLimits {
        max_input_bytes: png.len() as u64 - 1,
        ..DecodeLimits::default()
    };
    assert!(matches!(
        imageops::decode_with(&png, &limits),
        Err(ImageError::InputTooLarge { .. })
    ));
}

#[test]
fn oversized_struct_is_downscaled_keeping_aspect() {
    let png = gradient_png(40, 30);
    let limits = DecodeLimits {
        max_struct_bytes: struct_bytes(15, 20, 3),
        ..DecodeLimits::default()
    };
    let img = imageops::decode_with(&png, &limits).unwrap();
    assert_eq!(img.shape(), [15, 20, 3]);
    // The downscale is the same bilinear resize ML.RESIZE_IMAGE uses.
    let full = imageops::decode(&png).unwrap();
    let want = imageops::resize_bilinear(&full, 15, 20, false).unwrap();
    let d = img
        .data()
        .iter()
        .zip(want.data())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(d < 1e-6, "downscale differs from resize by {d}");
    // decode_resized composes the downscale and the resize.
    let r = imageops::decode_resized(&png, &limits, 7, 9, false).unwrap();
    let want = imageops::resize_bilinear(&img, 7, 9, false).unwrap();
    assert_eq!(r.shape(), [7, 9, 3]);
    assert!(r
        .data()
        .iter()
        .zip(want.data())
        .all(|(a, b)| (a - b).abs() < 1e-6));
}

#[test]
fn default_limit_downscales_a_photo_over_60_mb() {
    // 1800x1400x3 FLOAT64 values are 60.48 MB, just over the limit.
    let png = gradient_png(1800, 1400);
    let img = imageops::decode(&png).unwrap();
    let [h, w, c] = img.shape();
    assert_eq!(c, 3);
    assert!(struct_bytes(h, w, c) <= STRUCT_LIMIT_BYTES);
    assert!(h < 1400 && w < 1800 && h > 1350 && w > 1750, "{h}x{w}");
    let aspect = w as f64 / h as f64;
    assert!((aspect - 1800.0 / 1400.0).abs() < 0.01);
    // Just under the limit: untouched.
    let png = gradient_png(1700, 1400);
    assert_eq!(imageops::decode(&png).unwrap().shape(), [1400, 1700, 3]);
}

/// A 61x45 JPEG committed under `tests/fixtures/`.
fn small_jpeg() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sampling_440.jpg"
    );
    std::fs::read(path).unwrap()
}

#[test]
fn jpeg_limits_are_checked_from_the_header() {
    let jpeg = small_jpeg();
    let limits = DecodeLimits {
        max_pixels: 61 * 45 - 1,
        ..DecodeLimits::default()
    };
    assert_eq!(
        imageops::decode_with(&jpeg, &limits).unwrap_err(),
        ImageError::TooManyPixels {
            width: 61,
            height: 45,
            limit: 61 * 45 - 1
        }
    );
    let limits = DecodeLimits {
        max_pixels: 61 * 45,
        ..DecodeLimits::default()
    };
    assert_eq!(
        imageops::decode_with(&jpeg, &limits).unwrap().shape(),
        [45, 61, 3]
    );
    // The RGB output buffer alone is 61 * 45 * 3 bytes.
    let limits = DecodeLimits {
        max_alloc: 61 * 45 * 3 - 1,
        ..DecodeLimits::default()
    };
    let e = imageops::decode_with(&jpeg, &limits).unwrap_err();
    assert!(matches!(e, ImageError::MemoryLimit(_)), "{e:?}");
    assert!(e.to_string().contains("61x45 JPEG"), "{e}");
}
