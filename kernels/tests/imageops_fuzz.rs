//! Property tests: arbitrary, truncated and bit-flipped inputs give `Ok` or `Err`, never a
//! panic; resize and colour conversion keep their range and shape invariants.

mod imageops_common;

use std::sync::OnceLock;

use imageops_common::*;
use kernels::imageops::{self, ColorSpace, Image, ImageError};
use proptest::prelude::*;

/// Small real files of every accepted format and flavour (baseline, progressive,
/// grey, CMYK, 16-bit quant tables, palette/RGBA/16-bit PNG, BMP).
fn samples() -> &'static [(String, Vec<u8>)] {
    static S: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    S.get_or_init(|| {
        let d = shared_dir().join("data");
        [
            "images/goldfish.jpg",
            "images/kitten_rgba.png",
            "bad-images/progressive.jpg",
            "bad-images/palette.png",
            "bad-images/pillow/hopper_gray.jpg",
            "bad-images/pillow/hopper_16bit_qtables.jpg",
            "bad-images/pillow/pil_sample_cmyk.jpg",
            "bad-images/pillow/hopper_idat_after_image_end.png",
            "bad-images/pillow/png_decompression_dos.png",
        ]
        .iter()
        .map(|n| (n.to_string(), read(&d.join(n))))
        .collect()
    })
}

/// Decode must not panic; on success the result is well-formed RGB in [0, 1].
fn decode_checked(bytes: &[u8]) -> Result<Image, ImageError> {
    let r = imageops::decode(bytes);
    if let Ok(img) = &r {
        assert_eq!(img.channels(), 3);
        assert_eq!(img.data().len(), img.height() * img.width() * 3);
        assert!(img.data().iter().all(|v| (0.0..=1.0).contains(v)));
    }
    r
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode_checked(&bytes);
    }

    #[test]
    fn random_bytes_behind_real_magic_never_panic(
        magic in prop_oneof![
            Just(&b"\xFF\xD8\xFF"[..]),
            Just(&b"\x89PNG\r\n\x1a\n"[..]),
            Just(&b"BM"[..]),
        ],
        tail in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut bytes = magic.to_vec();
        bytes.extend_from_slice(&tail);
        let _ = decode_checked(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn truncated_real_images_are_errors(which in 0usize..9, cut in 0.0f64..1.0) {
        let (name, bytes) = &samples()[which];
        let n = (bytes.len() as f64 * cut) as usize;
        let r = decode_checked(&bytes[..n]);
        // A JPEG cut anywhere before its end-of-image marker is an error.
        if bytes.starts_with(&[0xFF, 0xD8]) && n < bytes.len() - 1 {
            prop_assert!(r.is_err(), "{name} cut at {n} decoded");
        }
    }

    #[test]
    fn corrupted_real_images_never_panic(
        which in 0usize..9,
        flips in proptest::collection::vec((0.0f64..1.0, any::<u8>()), 1..8),
    ) {
        let (_, bytes) = &samples()[which];
        let mut bytes: Vec<u8> = bytes.clone();
        let len = bytes.len();
        for (pos, val) in flips {
            bytes[((len as f64 * pos) as usize).min(len - 1)] = val;
        }
        let _ = decode_checked(&bytes);
    }

    #[test]
    fn resize_is_a_convex_blend_with_the_requested_shape(
        h in 1usize..24, w in 1usize..24, c in 1usize..5,
        th in 1i64..48, tw in 1i64..48, keep in any::<bool>(), seed in any::<u64>(),
    ) {
        let mut x = seed | 1;
        let data: Vec<f32> = (0..h * w * c)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 1000) as f32 / 999.0
            })
            .collect();
        let (lo, hi) = data.iter().fold((1f32, 0f32), |(a, b), &v| (a.min(v), b.max(v)));
        let img = Image::new(h, w, c, data).unwrap();
        let out = imageops::resize_bilinear(&img, th, tw, keep).unwrap();
        if keep {
            let s = imageops::aspect_fit_size(h, w, th as usize, tw as usize);
            prop_assert_eq!(out.shape(), [s.height, s.width, c]);
            prop_assert!(s.height <= th as usize && s.width <= tw as usize);
            prop_assert!(s.height == th as usize || s.width == tw as usize
                || s.height == 1 || s.width == 1);
        } else {
            prop_assert_eq!(out.shape(), [th as usize, tw as usize, c]);
        }
        prop_assert!(out.data().iter().all(|&v| v >= lo - 1e-6 && v <= hi + 1e-6));
        // Same size in, same image out.
        let same = imageops::resize_bilinear(&img, h as i64, w as i64, false).unwrap();
        prop_assert_eq!(same, img);
    }

    #[test]
    fn color_conversions_stay_in_range(px in proptest::collection::vec(0.0f32..=1.0, 3..60)) {
        let n = px.len() / 3;
        let img = Image::new(1, n, 3, px[..n * 3].to_vec()).unwrap();
        let hsv = imageops::convert_color_space(&img, ColorSpace::Hsv).unwrap();
        prop_assert!(hsv.data().iter().all(|v| (0.0..=1.0).contains(v)));
        let g = imageops::convert_color_space(&img, ColorSpace::Grayscale).unwrap();
        prop_assert_eq!(g.shape(), [1, n, 1]);
        prop_assert!(g.data().iter().all(|&v| (-1e-6..=1.0).contains(&v)));
        for space in [ColorSpace::Yiq, ColorSpace::Yuv] {
            let o = imageops::convert_color_space(&img, space).unwrap();
            prop_assert!(o.data().chunks(3).all(|p| (-1e-6..=1.0 + 1e-6).contains(&p[0])
                && p[1].abs() < 0.62 && p[2].abs() < 0.62));
        }
        let u8s = imageops::convert_image_type(&img);
        prop_assert_eq!(u8s.shape(), img.shape());
    }
}
