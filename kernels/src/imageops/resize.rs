//! `ML.RESIZE_IMAGE`: bilinear resize with half-pixel centres and no antialiasing,
//! the convention of `tf.image.resize(method="bilinear", antialias=False)`.
//!
//! Output pixel `i` on an axis samples source coordinate
//! `clamp((i + 0.5) * in / out - 0.5, 0, in - 1)` and blends its two neighbours.
//! The resize is separable: each needed source row is interpolated horizontally once
//! (two row buffers slide down the image), then rows are blended vertically.

use super::buffer::{check_struct_size, DecodedImage, DecodedPixels, Image, ImageU8, TargetSize};
use super::error::ImageError;

/// The size `ML.RESIZE_IMAGE(…, preserve_aspect_ratio => TRUE)` produces: the input
/// scaled by `min(target_h / h, target_w / w)`, each side rounded half-to-even in f32
/// as `tf.image.resize` does, and at least 1. It fits inside the target; no padding.
pub fn aspect_fit_size(
    height: usize,
    width: usize,
    target_height: usize,
    target_width: usize,
) -> TargetSize {
    let sh = target_height as f32 / height as f32;
    let sw = target_width as f32 / width as f32;
    let s = sh.min(sw);
    let side = |n: usize, t: usize| ((s * n as f32).round_ties_even() as usize).clamp(1, t.max(1));
    TargetSize {
        height: side(height, target_height),
        width: side(width, target_width),
    }
}

/// Validates the requested size and returns the output size.
fn output_size(
    height: usize,
    width: usize,
    channels: usize,
    target_height: i64,
    target_width: i64,
    preserve_aspect_ratio: bool,
) -> Result<TargetSize, ImageError> {
    if target_height < 1 || target_width < 1 {
        return Err(ImageError::InvalidArgument(format!(
            "target height and width must be positive, got {target_height}x{target_width}"
        )));
    }
    let (th, tw) = (
        usize::try_from(target_height).unwrap_or(usize::MAX),
        usize::try_from(target_width).unwrap_or(usize::MAX),
    );
    let size = if preserve_aspect_ratio {
        aspect_fit_size(height, width, th, tw)
    } else {
        TargetSize {
            height: th,
            width: tw,
        }
    };
    check_struct_size(size.height, size.width, channels)?;
    Ok(size)
}

/// Resizes a float image (any channel count). With `preserve_aspect_ratio` the
/// result is [`aspect_fit_size`] and is not padded. Errors on a non-positive target
/// or an output struct over 60 MB.
pub fn resize_bilinear(
    img: &Image,
    target_height: i64,
    target_width: i64,
    preserve_aspect_ratio: bool,
) -> Result<Image, ImageError> {
    let [h, w, c] = img.shape();
    let size = output_size(h, w, c, target_height, target_width, preserve_aspect_ratio)?;
    let data = resize_samples(img.data(), h, w, c, size, 1.0);
    Image::new(size.height, size.width, c, data)
}

/// Resizes an integer image; results are rounded to the nearest integer, so an
/// INT64 image stays INT64 as `ML.RESIZE_IMAGE` requires.
pub fn resize_bilinear_u8(
    img: &ImageU8,
    target_height: i64,
    target_width: i64,
    preserve_aspect_ratio: bool,
) -> Result<ImageU8, ImageError> {
    let [h, w, c] = img.shape();
    let size = output_size(h, w, c, target_height, target_width, preserve_aspect_ratio)?;
    let data = resize_samples(img.data(), h, w, c, size, 1.0)
        .into_iter()
        .map(|v| (v + 0.5).clamp(0.0, 255.0) as u8)
        .collect();
    ImageU8::new(size.height, size.width, c, data)
}

/// Resizes straight from decoded 8/16-bit samples to float, equal (to float
/// rounding) to `resize_bilinear(&img.to_f32(), …)` without the full-size float copy.
pub fn resize_decoded(
    img: &DecodedImage,
    target_height: i64,
    target_width: i64,
    preserve_aspect_ratio: bool,
) -> Result<Image, ImageError> {
    let (h, w) = (img.height(), img.width());
    let size = output_size(h, w, 3, target_height, target_width, preserve_aspect_ratio)?;
    let data = match img.pixels() {
        DecodedPixels::U8(v) => resize_samples(v, h, w, 3, size, 1.0 / 255.0),
        DecodedPixels::U16(v) => resize_samples(v, h, w, 3, size, 1.0 / 65535.0),
    };
    Image::new(size.height, size.width, 3, data)
}

/// A source sample type; values are converted to f32 before blending.
trait Sample: Copy {
    /// True for f32 samples, which never need a conversion pass.
    const IS_F32: bool = false;
    fn to_f32(self) -> f32;
}
impl Sample for u8 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f32::from(self)
    }
}
impl Sample for u16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f32::from(self)
    }
}
impl Sample for f32 {
    const IS_F32: bool = true;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
}

/// One output coordinate's two source neighbours (pixel or row indices) and the
/// weight of `hi`. Invariant: `lo <= hi < in_n`.
#[derive(Clone, Copy)]
struct Tap {
    lo: usize,
    hi: usize,
    frac: f32,
}

/// Index/weight table for one axis, in f64 like the reference (`preprocess.py`).
fn axis_taps(out_n: usize, in_n: usize) -> Vec<Tap> {
    let scale = in_n as f64 / out_n as f64;
    let max = (in_n - 1) as f64;
    (0..out_n)
        .map(|i| {
            let src = ((i as f64 + 0.5) * scale - 0.5).clamp(0.0, max);
            let lo = src.floor() as usize;
            let hi = (lo + 1).min(in_n - 1);
            Tap {
                lo,
                hi,
                frac: (src - lo as f64) as f32,
            }
        })
        .collect()
}

/// Interpolates one source row horizontally into `dst` (`out_w * c` values).
#[inline]
fn horizontal<T: Sample>(row: &[T], taps: &[Tap], c: usize, dst: &mut [f32]) {
    if c == 3 {
        // Whole-pixel indexing: one bounds check per neighbour, channels unrolled.
        let (px, _) = row.as_chunks::<3>();
        let (out, _) = dst.as_chunks_mut::<3>();
        for (d, t) in out.iter_mut().zip(taps) {
            let (a, b) = (px[t.lo], px[t.hi]);
            for k in 0..3 {
                let a = a[k].to_f32();
                d[k] = a + (b[k].to_f32() - a) * t.frac;
            }
        }
    } else {
        for (d, t) in dst.chunks_exact_mut(c).zip(taps) {
            let (a, b) = (&row[t.lo * c..][..c], &row[t.hi * c..][..c]);
            for ((dk, a), b) in d.iter_mut().zip(a).zip(b) {
                let a = a.to_f32();
                *dk = a + (b.to_f32() - a) * t.frac;
            }
        }
    }
}

/// The separable resize. `src` is `h * w * c` samples; every output value is
/// multiplied by `scale` (1/255 or 1/65535 for integer samples).
fn resize_samples<T: Sample>(
    src: &[T],
    h: usize,
    w: usize,
    c: usize,
    size: TargetSize,
    scale: f32,
) -> Vec<f32> {
    debug_assert_eq!(src.len(), h * w * c);
    let xs = axis_taps(size.width, w);
    let ys = axis_taps(size.height, h);
    let in_row = w * c;
    let out_row = size.width * c;
    let mut out = vec![0f32; size.height * out_row];
    let mut top = vec![0f32; out_row];
    let mut bot = vec![0f32; out_row];
    // Integer rows that the taps mostly cover are converted to f32 in one vectorised
    // pass first (measured faster); sparse taps (strong downscale) convert per tap.
    let convert_rows = !T::IS_F32 && w <= 3 * size.width;
    let mut scratch: Vec<f32> = Vec::with_capacity(if convert_rows { in_row } else { 0 });
    let mut hpass = |y: usize, dst: &mut [f32]| {
        let row = &src[y * in_row..(y + 1) * in_row];
        if convert_rows {
            scratch.clear();
            scratch.extend(row.iter().map(|v| v.to_f32()));
            horizontal(&scratch, &xs, c, dst);
        } else {
            horizontal(row, &xs, c, dst);
        }
    };
    // Source row currently held in `top` / `bot` (usize::MAX: none).
    let (mut top_y, mut bot_y) = (usize::MAX, usize::MAX);
    for (dst, ty) in out.chunks_exact_mut(out_row).zip(&ys) {
        let (y0, y1) = (ty.lo, ty.hi);
        if top_y != y0 {
            if bot_y == y0 {
                std::mem::swap(&mut top, &mut bot);
                std::mem::swap(&mut top_y, &mut bot_y);
            } else {
                hpass(y0, &mut top);
                top_y = y0;
            }
        }
        if y1 == y0 || ty.frac == 0.0 {
            for (d, &t) in dst.iter_mut().zip(&top) {
                *d = t * scale;
            }
            continue;
        }
        if bot_y != y1 {
            hpass(y1, &mut bot);
            bot_y = y1;
        }
        let f = ty.frac;
        for ((d, &t), &b) in dst.iter_mut().zip(&top).zip(&bot) {
            *d = (t + (b - t) * f) * scale;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aspect_fit_matches_tf_rounding() {
        // The doc example: (20, 200) into (10, 120) gives (10, 100).
        assert_eq!(
            aspect_fit_size(20, 200, 10, 120),
            TargetSize {
                height: 10,
                width: 100
            }
        );
        // 5x4 into 2x2: scale 0.5, height 2.5 rounds half to even -> 2.
        assert_eq!(
            aspect_fit_size(5, 4, 10, 2),
            TargetSize {
                height: 2,
                width: 2
            }
        );
        // 7x4 into 10x2: height 3.5 -> 4.
        assert_eq!(aspect_fit_size(7, 4, 10, 2).height, 4);
        // Extreme aspect never yields a zero side.
        assert_eq!(
            aspect_fit_size(1, 1000, 10, 10),
            TargetSize {
                height: 1,
                width: 10
            }
        );
    }

    #[test]
    fn taps_half_pixel_centres() {
        // 4 -> 2: sources at 0.5 and 2.5.
        let t = axis_taps(2, 4);
        assert_eq!((t[0].lo, t[0].hi, t[0].frac), (0, 1, 0.5));
        assert_eq!((t[1].lo, t[1].hi, t[1].frac), (2, 3, 0.5));
        // 2 -> 4: -0.25 clamps to 0; 1.25 clamps to 1 (last).
        let t = axis_taps(4, 2);
        assert_eq!((t[0].lo, t[0].hi, t[0].frac), (0, 1, 0.0));
        assert_eq!((t[1].lo, t[1].hi, t[1].frac), (0, 1, 0.25));
        assert_eq!((t[3].lo, t[3].hi, t[3].frac), (1, 1, 0.0));
    }

    #[test]
    fn integer_resize_rounds_hand_checked() {
        // 1x2 -> 1x4: sources clamp(-0.25)=0, 0.25, 0.75, clamp(1.25)=1.
        let img = ImageU8::new(1, 2, 1, vec![0, 255]).unwrap();
        let out = resize_bilinear_u8(&img, 1, 4, false).unwrap();
        assert_eq!(out.data(), &[0, 64, 191, 255]);
        // Float version of the same, 2x2 -> 1x1 averages all four.
        let img = Image::new(2, 2, 1, vec![0.0, 0.2, 0.4, 1.0]).unwrap();
        let out = resize_bilinear(&img, 1, 1, false).unwrap();
        assert!((out.data()[0] - 0.4).abs() < 1e-6);
    }

    #[test]
    fn rejects_bad_targets() {
        let img = Image::new(2, 2, 3, vec![0.5; 12]).unwrap();
        assert!(matches!(
            resize_bilinear(&img, 0, 5, false),
            Err(ImageError::InvalidArgument(_))
        ));
        assert!(matches!(
            resize_bilinear(&img, 5, -1, true),
            Err(ImageError::InvalidArgument(_))
        ));
        assert!(matches!(
            resize_bilinear(&img, 100_000, 100_000, false),
            Err(ImageError::StructTooLarge { .. })
        ));
        assert!(matches!(
            resize_bilinear(&img, i64::MAX, i64::MAX, true),
            Err(ImageError::StructTooLarge { .. })
        ));
    }
}
