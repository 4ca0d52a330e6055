//! Compares the image functions with the Python reference `shared/tools/preprocess.py`
//! (numpy + Pillow) and with the shipped goldfish input tensor.

mod imageops_common;

use std::path::{Path, PathBuf};

use imageops_common::*;
use kernels::imageops::{self, ColorSpace, Image};

/// Lossless formats (PNG, BMP) must reproduce Pillow's values exactly, up to float rounding.
const LOSSLESS_TOL: f32 = 1e-6;
/// JPEG: the acceptance bound, one 8-bit step (plus float rounding). We decode with
/// libjpeg-turbo's decoder like Pillow, so the measured difference is 0.
const JPEG_TOL: f32 = 1.0 / 255.0 + 1e-6;

/// Per-file differences: max and mean |Δ| of decode and of resize(224, 224).
struct Diff {
    name: String,
    jpeg: bool,
    dec_max: f32,
    dec_mean: f32,
    res_max: f32,
    res_mean: f32,
}

impl Diff {
    fn check(&self) {
        let name = &self.name;
        let tol = if self.jpeg { JPEG_TOL } else { LOSSLESS_TOL };
        assert!(
            self.dec_max <= tol,
            "{name}: decode max |Δ| {} > {tol}",
            self.dec_max
        );
        assert!(
            self.res_max <= tol,
            "{name}: resize max |Δ| {} > {tol}",
            self.res_max
        );
    }
}

fn mean_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    let s: f64 = a.iter().zip(b).map(|(x, y)| f64::from((x - y).abs())).sum();
    (s / a.len() as f64) as f32
}

/// Writes `<out>/<name>.decode.npy` and `<name>.resize.npy` (224x224, no aspect) for
/// every `kind:path` argument; kind `pil` is `preprocess.decode`, `png16` is
/// `preprocess.decode_png16` (Pillow reads 16-bit RGB PNGs as 8-bit).
const DECODE_SCRIPT: &str = r#"
import os, sys
import numpy as np
import preprocess as pp
out = sys.argv[1]
for arg in sys.argv[2:]:
    kind, path = arg.split(":", 1)
    img = pp.decode_png16(path) if kind == "png16" else pp.decode(path)
    name = os.path.basename(path)
    np.save(os.path.join(out, name + ".decode.npy"), np.ascontiguousarray(img, dtype=np.float32))
    np.save(os.path.join(out, name + ".resize.npy"), pp.resize_bilinear(img, 224, 224))
"#;

/// Runs [`DECODE_SCRIPT`] over `files` and returns, per file, the Rust-vs-Python
/// max |Δ| of decode and of resize(224, 224, false).
fn compare_with_preprocess(tag: &str, files: &[(PathBuf, &str)]) -> Vec<Diff> {
    let dir = scratch_dir(tag);
    let mut args = vec![dir.to_str().unwrap().to_string()];
    for (p, kind) in files {
        args.push(format!("{kind}:{}", p.display()));
    }
    let argrefs: Vec<&str> = args.iter().map(String::as_str).collect();
    run_python(DECODE_SCRIPT, &argrefs);

    let mut rows = Vec::new();
    for (path, _) in files {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let bytes = read(path);
        let img = imageops::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = read_npy(&dir.join(format!("{name}.decode.npy")));
        assert_eq!(
            want.shape,
            img.shape().to_vec(),
            "{name}: decoded shape differs from preprocess.py"
        );
        let (dec_max, dec_mean) = (
            max_abs_diff(img.data(), &want.data),
            mean_abs_diff(img.data(), &want.data),
        );

        let resized = imageops::resize_bilinear(&img, 224, 224, false).unwrap();
        let want = read_npy(&dir.join(format!("{name}.resize.npy")));
        assert_eq!(want.shape, vec![224, 224, 3]);
        let (res_max, res_mean) = (
            max_abs_diff(resized.data(), &want.data),
            mean_abs_diff(resized.data(), &want.data),
        );

        // The fused decode+resize path must agree with decode then resize.
        let fused =
            imageops::decode_resized(&bytes, &imageops::DecodeLimits::default(), 224, 224, false)
                .unwrap();
        let d_fused = max_abs_diff(fused.data(), resized.data());
        assert!(d_fused < 1e-5, "{name}: fused path differs by {d_fused}");
        rows.push(Diff {
            name,
            jpeg: bytes.starts_with(&[0xFF, 0xD8]),
            dec_max,
            dec_mean,
            res_max,
            res_mean,
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("| file | decode max |Δ| (mean) | resize 224 max |Δ| (mean) |  in 8-bit steps");
    for d in &rows {
        eprintln!(
            "| {} | {:.3e} = {:.2} ({:.3}) | {:.3e} = {:.2} ({:.3}) |",
            d.name,
            d.dec_max,
            d.dec_max * 255.0,
            d.dec_mean * 255.0,
            d.res_max,
            d.res_max * 255.0,
            d.res_mean * 255.0
        );
    }
    rows
}

#[test]
fn photos_match_preprocess_decode_and_resize() {
    let files: Vec<(PathBuf, &str)> = photos().into_iter().map(|p| (p, "pil")).collect();
    for d in compare_with_preprocess("photos", &files) {
        d.check();
    }
}

#[test]
fn decodable_bad_images_match_preprocess() {
    let bad = shared_dir().join("data/bad-images");
    let names = [
        ("gray.jpg", "pil"),
        ("rgb16.png", "png16"),
        ("rgba.png", "pil"),
        ("palette.png", "pil"),
        ("progressive.jpg", "pil"),
        ("coffee.bmp", "pil"),
        ("exif_orientation_6.jpg", "pil"),
        ("jpeg_with_png_extension.png", "pil"),
        ("cmyk.jpg", "pil"),
        ("pillow/pil_sample_cmyk.jpg", "pil"),
        ("pillow/hopper_gray.jpg", "pil"),
        ("pillow/hopper_16bit_qtables.jpg", "pil"),
        ("pillow/hopper_idat_after_image_end.png", "pil"),
        ("pillow/hopper_orientation_6.jpg", "pil"),
        ("pillow/junk_jpeg_header.jpg", "pil"),
    ];
    let files: Vec<(PathBuf, &str)> = names.iter().map(|(n, k)| (bad.join(n), *k)).collect();
    for d in compare_with_preprocess("bad", &files) {
        d.check();
    }
}

/// Writes JPEG variants of an odd-sized crop (partial MCUs on both edges) with Pillow:
/// 4:4:4, 4:2:2 and 4:2:0 chroma (Pillow writes no others), progressive, restart markers, grey, CMYK,
/// extreme qualities, and tiny images.
const JPEG_VARIANTS_SCRIPT: &str = r#"
import os, sys
from PIL import Image
out, src = sys.argv[1], sys.argv[2]
crop = Image.open(src).convert("RGB").crop((101, 37, 101 + 173, 37 + 131))
rgb = {
    "baseline_444.jpg": dict(subsampling=0),
    "baseline_422.jpg": dict(subsampling=1),
    "baseline_420.jpg": dict(subsampling=2),
    "progressive_444.jpg": dict(subsampling=0, progressive=True),
    "progressive_420.jpg": dict(subsampling=2, progressive=True),
    "restart_blocks_420.jpg": dict(subsampling=2, restart_marker_blocks=3),
    "restart_rows_progressive_422.jpg": dict(subsampling=1, progressive=True, restart_marker_rows=1),
    "quality_100_420.jpg": dict(subsampling=2, quality=100),
    "quality_10_420.jpg": dict(subsampling=2, quality=10),
}
for name, kw in rgb.items():
    crop.save(os.path.join(out, name), "JPEG", **kw)
crop.convert("L").save(os.path.join(out, "grey.jpg"), "JPEG")
crop.convert("L").save(os.path.join(out, "grey_progressive.jpg"), "JPEG", progressive=True)
crop.convert("CMYK").save(os.path.join(out, "cmyk.jpg"), "JPEG")
crop.crop((0, 0, 1, 1)).save(os.path.join(out, "one_pixel_420.jpg"), "JPEG", subsampling=2)
crop.crop((0, 0, 17, 9)).save(os.path.join(out, "tiny_17x9_420.jpg"), "JPEG", subsampling=2)
"#;

/// What a JPEG's frame header says: the SOF marker byte, each component's (h, v)
/// sampling factors, and whether a restart interval (DRI) precedes the first scan.
fn jpeg_frame(bytes: &[u8]) -> (u8, Vec<(u8, u8)>, bool) {
    let (mut sof, mut sampling, mut restart) = (0, Vec::new(), false);
    let mut i = 2;
    while i + 4 <= bytes.len() {
        assert_eq!(bytes[i], 0xFF, "marker expected at {i}");
        let marker = bytes[i + 1];
        let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        let body = &bytes[i + 4..i + 2 + len];
        match marker {
            0xDA => break,
            0xDD => restart = u16::from_be_bytes([body[0], body[1]]) > 0,
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                sof = marker;
                sampling = body[6..]
                    .chunks_exact(3)
                    .map(|c| (c[1] >> 4, c[1] & 15))
                    .collect();
            }
            _ => {}
        }
        i += 2 + len;
    }
    (sof, sampling, restart)
}

/// A JPEG test file: name, SOF marker, sampling factors, restart markers present.
type Expected = (&'static str, u8, &'static [(u8, u8)], bool);

#[test]
fn jpeg_encodings_match_pillow() {
    const BASELINE: u8 = 0xC0;
    const PROGRESSIVE: u8 = 0xC2;
    const ARITHMETIC: u8 = 0xC9;
    let s444: &[(u8, u8)] = &[(1, 1), (1, 1), (1, 1)];
    let s422: &[(u8, u8)] = &[(2, 1), (1, 1), (1, 1)];
    let s420: &[(u8, u8)] = &[(2, 2), (1, 1), (1, 1)];
    let s411: &[(u8, u8)] = &[(4, 1), (1, 1), (1, 1)];
    let s440: &[(u8, u8)] = &[(1, 2), (1, 1), (1, 1)];
    let cmyk: &[(u8, u8)] = &[(1, 1), (1, 1), (1, 1), (1, 1)];
    // name, SOF marker, sampling factors, restart markers: checked so that each file
    // really exercises what its name says.
    let pillow: [Expected; 14] = [
        ("baseline_444.jpg", BASELINE, s444, false),
        ("baseline_422.jpg", BASELINE, s422, false),
        ("baseline_420.jpg", BASELINE, s420, false),
        ("progressive_444.jpg", PROGRESSIVE, s444, false),
        ("progressive_420.jpg", PROGRESSIVE, s420, false),
        ("restart_blocks_420.jpg", BASELINE, s420, true),
        ("restart_rows_progressive_422.jpg", PROGRESSIVE, s422, true),
        ("quality_100_420.jpg", BASELINE, s420, false),
        ("quality_10_420.jpg", BASELINE, s420, false),
        ("grey.jpg", BASELINE, &[(1, 1)], false),
        ("grey_progressive.jpg", PROGRESSIVE, &[(1, 1)], false),
        ("cmyk.jpg", BASELINE, cmyk, false),
        ("one_pixel_420.jpg", BASELINE, s420, false),
        ("tiny_17x9_420.jpg", BASELINE, s420, false),
    ];
    let dir = scratch_dir("jpeg-variants");
    let coffee = shared_dir().join("data/images/coffee.png");
    run_python(
        JPEG_VARIANTS_SCRIPT,
        &[dir.to_str().unwrap(), coffee.to_str().unwrap()],
    );
    // Committed fixtures for what Pillow cannot write (see tests/fixtures/README.md).
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let committed: [Expected; 3] = [
        ("arithmetic_420.jpg", ARITHMETIC, s420, false),
        ("sampling_440.jpg", BASELINE, s440, false),
        ("sampling_411.jpg", BASELINE, s411, false),
    ];
    let mut files = Vec::new();
    for (dir, list) in [(&dir, &pillow[..]), (&fixtures, &committed[..])] {
        for &(name, sof, sampling, restart) in list {
            let path = dir.join(name);
            let (got_sof, got_sampling, got_restart) = jpeg_frame(&read(&path));
            assert_eq!(
                (got_sof, got_sampling.as_slice(), got_restart),
                (sof, sampling, restart),
                "{name}: frame header is not what the test expects"
            );
            files.push((path, "pil"));
        }
    }
    let rows = compare_with_preprocess("jpeg-variants-cmp", &files);
    assert_eq!(rows.len(), 17);
    for d in rows {
        assert!(d.jpeg, "{}", d.name);
        d.check();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn goldfish_matches_reference_input_tensor() {
    let shared = shared_dir();
    let want = read_npy(&shared.join("models/reference/efficientnet_lite0_goldfish_input.npy"));
    assert_eq!(want.shape, vec![1, 224, 224, 3]);
    let img = imageops::decode(&read(&shared.join("data/images/goldfish.jpg"))).unwrap();
    let got = imageops::resize_bilinear(&img, 224, 224, false).unwrap();
    let (max, mean) = (
        max_abs_diff(got.data(), &want.data),
        mean_abs_diff(got.data(), &want.data),
    );
    eprintln!(
        "goldfish vs efficientnet_lite0_goldfish_input.npy: max |Δ| {max:.3e} ({:.2} steps), mean {:.3} steps",
        max * 255.0,
        mean * 255.0
    );
    assert!(max <= JPEG_TOL, "goldfish max |Δ| {max}");
}

/// numpy versions of the TF formulas, and the TF aspect-preserving size rule on top of
/// `preprocess.resize_bilinear`. Input: a float32 HWC `.npy`; writes one `.npy` per op.
const NUMPY_OPS_SCRIPT: &str = r#"
import os, sys
import numpy as np
import preprocess as pp
src, out = sys.argv[1], sys.argv[2]
img = np.load(src).astype(np.float32)
h, w, _ = img.shape
def save(name, a):
    np.save(os.path.join(out, name + ".npy"), np.ascontiguousarray(a, dtype=np.float32))
for th, tw in [(224, 224), (100, 300), (300, 100), (57, 33), (500, 700)]:
    s = min(np.float32(th) / np.float32(h), np.float32(tw) / np.float32(w))
    nh = max(1, int(np.round(np.float32(s * np.float32(h)))))
    nw = max(1, int(np.round(np.float32(s * np.float32(w)))))
    save(f"aspect_{th}x{tw}", pp.resize_bilinear(img, nh, nw))
r, g, b = img[..., 0], img[..., 1], img[..., 2]
save("GRAYSCALE", (img @ np.array([0.2989, 0.5870, 0.1140], np.float32))[..., None])
yiq = np.array([[0.299, 0.59590059, 0.2115], [0.587, -0.27455667, -0.52273617],
                [0.114, -0.32134392, 0.31119955]], np.float32)
yuv = np.array([[0.299, -0.14714119, 0.61497538], [0.587, -0.28886916, -0.51496512],
                [0.114, 0.43601035, -0.10001026]], np.float32)
save("YIQ", img @ yiq)
save("YUV", img @ yuv)
v = img.max(-1)
rng = v - img.min(-1)
s = np.where(v > 0, rng / np.where(v > 0, v, 1), 0)
norm = 1.0 / (6.0 * np.where(rng > 0, rng, 1))
hue = np.where(r == v, norm * (g - b), np.where(g == v, norm * (b - r) + 2 / 6, norm * (r - g) + 4 / 6))
hue = np.where(rng > 0, hue, 0)
hue = np.where(hue < 0, hue + 1, hue)
save("HSV", np.stack([hue, s, v], -1))
save("TYPE", np.clip(np.trunc(img.astype(np.float32) * np.float32(255.5)), 0, 255))
"#;

fn write_npy(path: &Path, img: &Image) {
    let [h, w, c] = img.shape();
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({h}, {w}, {c}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in img.data() {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn aspect_resize_color_and_type_match_numpy() {
    let shared = shared_dir();
    // A non-square photo (480x640-ish) so the aspect cases differ per axis.
    let img = imageops::decode(&read(&shared.join("data/images/grace_hopper.jpg"))).unwrap();
    let dir = scratch_dir("numpy-ops");
    let src = dir.join("src.npy");
    write_npy(&src, &img);
    run_python(
        NUMPY_OPS_SCRIPT,
        &[src.to_str().unwrap(), dir.to_str().unwrap()],
    );

    for (th, tw) in [(224, 224), (100, 300), (300, 100), (57, 33), (500, 700)] {
        let got = imageops::resize_bilinear(&img, th, tw, true).unwrap();
        let want = read_npy(&dir.join(format!("aspect_{th}x{tw}.npy")));
        assert_eq!(got.shape().to_vec(), want.shape, "aspect {th}x{tw}");
        assert!(got.height() <= th as usize && got.width() <= tw as usize);
        let d = max_abs_diff(got.data(), &want.data);
        assert!(d < 1e-5, "aspect {th}x{tw}: max |Δ| {d}");
    }
    for cs in ["GRAYSCALE", "YIQ", "YUV", "HSV"] {
        let space: ColorSpace = cs.parse().unwrap();
        let got = imageops::convert_color_space(&img, space).unwrap();
        let want = read_npy(&dir.join(format!("{cs}.npy")));
        assert_eq!(got.shape().to_vec(), want.shape, "{cs}");
        assert_eq!(got.channels(), space.channels());
        let d = max_abs_diff(got.data(), &want.data);
        assert!(d < 1e-5, "{cs}: max |Δ| {d}");
    }
    let got = imageops::convert_image_type(&img);
    let want = read_npy(&dir.join("TYPE.npy"));
    let got_f: Vec<f32> = got.data().iter().map(|&v| f32::from(v)).collect();
    assert_eq!(
        got_f, want.data,
        "convert_image_type differs from trunc(x * 255.5)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
