//! Every file in `shared/data/bad-images/` (and `pillow/`) gets its documented outcome
//! (see that folder's README.md): a decoded shape or a specific error, never a panic.

mod imageops_common;

use std::collections::BTreeMap;

use imageops_common::*;
use kernels::imageops::{self, DecodedPixels, ImageError};

#[derive(Debug)]
enum Want {
    /// Decodes to `[h, w, 3]`.
    Ok(usize, usize),
    /// Fails, and the error satisfies the check.
    Err(fn(&ImageError) -> bool),
}

fn unsupported(name: &'static str) -> impl Fn(&ImageError) -> bool {
    move |e| matches!(e, ImageError::UnsupportedFormat(f) if f == name)
}

fn expectations() -> BTreeMap<&'static str, Want> {
    use Want::*;
    fn gif(e: &ImageError) -> bool {
        unsupported("GIF")(e)
    }
    fn webp(e: &ImageError) -> bool {
        unsupported("WebP")(e)
    }
    fn corrupt_png(e: &ImageError) -> bool {
        matches!(e, ImageError::Corrupt { format: "PNG", .. })
    }
    fn corrupt_jpeg(e: &ImageError) -> bool {
        matches!(e, ImageError::Corrupt { format: "JPEG", .. })
    }
    BTreeMap::from([
        ("animated.gif", Err(gif)),
        ("cmyk.jpg", Ok(400, 600)),
        ("coffee.bmp", Ok(400, 600)),
        ("corrupt_idat_crc.png", Err(corrupt_png)),
        ("empty.jpg", Err(|e| *e == ImageError::Empty)),
        // EXIF orientation is ignored: stored (rotated) pixel layout.
        ("exif_orientation_6.jpg", Ok(668, 1097)),
        ("gray.jpg", Ok(400, 600)),
        (
            "huge_dimensions.jpg",
            Err(|e| {
                matches!(
                    e,
                    ImageError::TooManyPixels {
                        width: 65000,
                        height: 65000,
                        ..
                    }
                )
            }),
        ),
        (
            "huge_dimensions.png",
            Err(|e| {
                matches!(
                    e,
                    ImageError::TooManyPixels {
                        width: 100000,
                        height: 100000,
                        ..
                    }
                )
            }),
        ),
        ("image.webp", Err(webp)),
        ("jpeg_with_png_extension.png", Ok(549, 976)),
        (
            "not_an_image.jpg",
            Err(|e| matches!(e, ImageError::UnknownFormat { .. })),
        ),
        ("palette.png", Ok(400, 600)),
        ("progressive.jpg", Ok(400, 600)),
        ("rgb16.png", Ok(400, 600)),
        ("rgba.png", Ok(400, 600)),
        ("truncated.jpg", Err(corrupt_jpeg)),
        ("pillow/broken.png", Err(corrupt_png)),
        ("pillow/broken_data_stream.png", Err(corrupt_png)),
        ("pillow/decompression_bomb.gif", Err(gif)),
        ("pillow/hopper_16bit_qtables.jpg", Ok(128, 128)),
        ("pillow/hopper_gray.jpg", Ok(128, 128)),
        ("pillow/hopper_idat_after_image_end.png", Ok(128, 128)),
        ("pillow/hopper_orientation_6.jpg", Ok(128, 128)),
        ("pillow/junk_jpeg_header.jpg", Ok(768, 1024)),
        ("pillow/pil_sample_cmyk.jpg", Ok(100, 100)),
        // The png crate bounds text-chunk inflation, so the 1x1 image decodes.
        ("pillow/png_decompression_dos.png", Ok(1, 1)),
        ("pillow/truncated_end_chunk.png", Err(corrupt_png)),
        ("pillow/truncated_image.png", Err(corrupt_png)),
        ("pillow/truncated_jpeg.jpg", Err(corrupt_jpeg)),
        // Ancillary iCCP chunk with an unknown method is ignored, as libpng does.
        ("pillow/unknown_compression_method.png", Ok(57, 57)),
        ("pillow/zero_width.gif", Err(gif)),
    ])
}

#[test]
fn every_bad_image_has_its_documented_outcome() {
    let dir = shared_dir().join("data/bad-images");
    let want = expectations();
    // Every image file on disk is covered, so a new file cannot slip through.
    let mut on_disk = Vec::new();
    for sub in ["", "pillow/"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let p = e.unwrap().path();
            let n = p.file_name().unwrap().to_str().unwrap().to_string();
            if p.is_file() && !n.ends_with(".md") && !n.ends_with(".tsv") {
                on_disk.push(format!("{sub}{n}"));
            }
        }
    }
    on_disk.sort();
    let listed: Vec<String> = want.keys().map(|s| s.to_string()).collect();
    assert_eq!(on_disk, listed, "bad-images on disk vs expectations");

    let mut failures = Vec::new();
    for (name, w) in &want {
        let bytes = read(&dir.join(name));
        let got = imageops::decode(&bytes);
        let line = match &got {
            Ok(img) => format!("ok {:?}", img.shape()),
            Err(e) => format!("error: {e}"),
        };
        eprintln!("{name}: {line}");
        let good = match (w, &got) {
            (Want::Ok(h, wd), Ok(img)) => img.shape() == [*h, *wd, 3],
            (Want::Err(check), Err(e)) => check(e),
            _ => false,
        };
        if !good {
            failures.push(format!("{name}: want {w:?}, got {line}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_decodable_file_in_expected_tsv_decodes() {
    // expected.tsv lists the files the classifier check feeds the model; the ones in
    // BigQuery's formats must decode to 3-channel RGB in [0, 1].
    let dir = shared_dir().join("data/bad-images");
    let tsv = String::from_utf8(read(&dir.join("expected.tsv"))).unwrap();
    let mut n = 0;
    for line in tsv.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let name = line.split('\t').next().unwrap();
        let r = imageops::decode(&read(&dir.join(name)));
        if name.ends_with(".gif") || name.ends_with(".webp") {
            assert!(
                matches!(r, Err(ImageError::UnsupportedFormat(_))),
                "{name}: {r:?}"
            );
            continue;
        }
        let img = r.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(img.channels(), 3, "{name}");
        assert!(
            img.data().iter().all(|v| (0.0..=1.0).contains(v)),
            "{name}: values outside [0, 1]"
        );
        n += 1;
    }
    assert_eq!(n, 9, "decodable entries in expected.tsv");
}

#[test]
fn rgb16_keeps_sixteen_bits() {
    let dir = shared_dir().join("data/bad-images");
    let raw = imageops::decode_raw(
        &read(&dir.join("rgb16.png")),
        &imageops::DecodeLimits::default(),
    )
    .unwrap();
    let DecodedPixels::U16(px) = raw.pixels() else {
        panic!("rgb16.png should decode to 16-bit samples");
    };
    // The file stores value8 * 257, so every sample is a multiple of 257.
    assert!(px.iter().all(|v| v % 257 == 0));
    assert!(px.iter().any(|&v| v > 255), "high byte must be kept");
    let img = raw.to_f32();
    let png8 = imageops::decode(&read(&shared_dir().join("data/images/coffee.png"))).unwrap();
    assert!(max_abs_diff(img.data(), png8.data()) < 1e-6);
}

#[test]
fn rgba_alpha_is_dropped_not_composited() {
    let dir = shared_dir().join("data/bad-images");
    let rgba = imageops::decode(&read(&dir.join("rgba.png"))).unwrap();
    let rgb = imageops::decode(&read(&shared_dir().join("data/images/coffee.png"))).unwrap();
    assert_eq!(rgba, rgb);
}

#[test]
fn error_messages_say_what_failed() {
    let dir = shared_dir().join("data/bad-images");
    let msg = |n: &str| {
        imageops::decode(&read(&dir.join(n)))
            .unwrap_err()
            .to_string()
    };
    assert!(msg("animated.gif").contains("unsupported image format: GIF"));
    assert!(msg("huge_dimensions.png").contains("image too large: 100000x100000 pixels"));
    assert!(msg("truncated.jpg").starts_with("corrupt JPEG data"));
    assert!(msg("empty.jpg").contains("empty"));
    let big = vec![0u8; 10_000_001];
    assert_eq!(
        imageops::decode(&big).unwrap_err(),
        ImageError::InputTooLarge {
            size: 10_000_001,
            limit: 10_000_000
        }
    );
}

/// `bytes` with the first occurrence of `from` replaced by `to`.
fn patched(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern present");
    let mut out = bytes.to_vec();
    out[at..at + to.len()].copy_from_slice(to);
    out
}

#[test]
fn libjpeg_fatal_errors_become_image_errors() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sampling_440.jpg"
    );
    let jpeg = read(std::path::Path::new(path));
    assert!(imageops::decode(&jpeg).is_ok());
    // SOF3 (lossless) is a process libjpeg-turbo 2.x does not decode.
    let lossless = patched(&jpeg, &[0xFF, 0xC0], &[0xFF, 0xC3]);
    let e = imageops::decode(&lossless).unwrap_err();
    assert!(
        matches!(&e, ImageError::UnsupportedFeature { format: "JPEG", message } if message.contains("SOF type 0xc3")),
        "{e:?}"
    );
    // A Huffman table whose code counts overflow: libjpeg's error, not a panic.
    let dht = jpeg.windows(2).position(|w| w == [0xFF, 0xC4]).unwrap();
    let mut bogus = jpeg.clone();
    bogus[dht + 5..dht + 21].fill(0xFF);
    let e = imageops::decode(&bogus).unwrap_err();
    assert!(
        matches!(&e, ImageError::Corrupt { format: "JPEG", message } if message.contains("Huffman")),
        "{e:?}"
    );
    assert!(e.to_string().starts_with("corrupt JPEG data: "), "{e}");
}
