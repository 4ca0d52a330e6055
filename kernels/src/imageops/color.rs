//! `ML.CONVERT_COLOR_SPACE` and `ML.CONVERT_IMAGE_TYPE`, with the `tf.image` formulas.

use std::fmt;
use std::str::FromStr;

use super::buffer::{Image, ImageU8};
use super::error::ImageError;

/// A target of `ML.CONVERT_COLOR_SPACE`. Output channels: HSV 3, GRAYSCALE 1, YIQ 3, YUV 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColorSpace {
    /// `tf.image.rgb_to_hsv`: hue, saturation, value, each in `[0, 1]`.
    Hsv,
    /// `tf.image.rgb_to_grayscale`: `0.2989 R + 0.5870 G + 0.1140 B`, one channel.
    Grayscale,
    /// `tf.image.rgb_to_yiq`: Y in `[0, 1]`, I in about ±0.596, Q in about ±0.523.
    Yiq,
    /// `tf.image.rgb_to_yuv`: Y in `[0, 1]`, U in about ±0.436, V in about ±0.615.
    Yuv,
}

impl ColorSpace {
    /// The SQL spelling.
    pub fn name(self) -> &'static str {
        match self {
            ColorSpace::Hsv => "HSV",
            ColorSpace::Grayscale => "GRAYSCALE",
            ColorSpace::Yiq => "YIQ",
            ColorSpace::Yuv => "YUV",
        }
    }
    /// Channels of the converted image.
    pub fn channels(self) -> usize {
        match self {
            ColorSpace::Grayscale => 1,
            _ => 3,
        }
    }
}

impl fmt::Display for ColorSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ColorSpace {
    type Err = ImageError;
    /// Accepts `HSV`, `GRAYSCALE`, `YIQ`, `YUV`, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, ImageError> {
        [
            ColorSpace::Hsv,
            ColorSpace::Grayscale,
            ColorSpace::Yiq,
            ColorSpace::Yuv,
        ]
        .into_iter()
        .find(|c| c.name().eq_ignore_ascii_case(s))
        .ok_or_else(|| {
            ImageError::InvalidArgument(format!(
                "unknown target color space '{s}'; expected one of HSV, GRAYSCALE, YIQ, YUV"
            ))
        })
    }
}

/// `tf.image` kernels, indexed `[input channel][output channel]`, with TensorFlow's digits.
#[allow(clippy::excessive_precision)]
const RGB_TO_YIQ: [[f32; 3]; 3] = [
    [0.299, 0.59590059, 0.2115],
    [0.587, -0.27455667, -0.52273617],
    [0.114, -0.32134392, 0.31119955],
];
#[allow(clippy::excessive_precision)]
const RGB_TO_YUV: [[f32; 3]; 3] = [
    [0.299, -0.14714119, 0.61497538],
    [0.587, -0.28886916, -0.51496512],
    [0.114, 0.43601035, -0.10001026],
];
const GRAY_WEIGHTS: [f32; 3] = [0.2989, 0.5870, 0.1140];

/// Converts an RGB float image; errors unless it has 3 channels.
pub fn convert_color_space(img: &Image, target: ColorSpace) -> Result<Image, ImageError> {
    if img.channels() != 3 {
        return Err(ImageError::InvalidImage(format!(
            "{target} conversion needs an RGB image with 3 channels, got {}",
            img.channels()
        )));
    }
    let px = img.data().chunks_exact(3);
    let data: Vec<f32> = match target {
        ColorSpace::Grayscale => px
            .map(|p| p[0] * GRAY_WEIGHTS[0] + p[1] * GRAY_WEIGHTS[1] + p[2] * GRAY_WEIGHTS[2])
            .collect(),
        ColorSpace::Yiq => px.flat_map(|p| matmul(p, &RGB_TO_YIQ)).collect(),
        ColorSpace::Yuv => px.flat_map(|p| matmul(p, &RGB_TO_YUV)).collect(),
        ColorSpace::Hsv => px.flat_map(rgb_to_hsv).collect(),
    };
    Image::new(img.height(), img.width(), target.channels(), data)
}

fn matmul(p: &[f32], k: &[[f32; 3]; 3]) -> [f32; 3] {
    std::array::from_fn(|j| p[0] * k[0][j] + p[1] * k[1][j] + p[2] * k[2][j])
}

/// TensorFlow's `RGBToHSV` kernel: hue in `[0, 1)` (0 for grey), saturation
/// `range / max` (0 when max is 0), value `max`.
fn rgb_to_hsv(p: &[f32]) -> [f32; 3] {
    let (r, g, b) = (p[0], p[1], p[2]);
    let v = r.max(g).max(b);
    let range = v - r.min(g).min(b);
    let s = if v > 0.0 { range / v } else { 0.0 };
    let mut h = if range > 0.0 {
        let norm = 1.0 / (6.0 * range);
        if r == v {
            norm * (g - b)
        } else if g == v {
            norm * (b - r) + 2.0 / 6.0
        } else {
            norm * (r - g) + 4.0 / 6.0
        }
    } else {
        0.0
    };
    if h < 0.0 {
        h += 1.0;
    }
    [h, s, v]
}

/// `ML.CONVERT_IMAGE_TYPE`: float `[0, 1]` → integer `[0, 255]` with
/// `tf.image.convert_image_dtype`'s rule, `trunc(x * 255.5)` saturated (NaN → 0).
/// It inverts decode exactly: `convert_image_type(v / 255) == v` for every `u8` v.
pub fn convert_image_type(img: &Image) -> ImageU8 {
    let data = img
        .data()
        .iter()
        .map(|&x| (x * 255.5).clamp(0.0, 255.0) as u8)
        .collect();
    ImageU8::new(img.height(), img.width(), img.channels(), data).expect("same shape as input")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn px(r: f32, g: f32, b: f32) -> Image {
        Image::new(1, 1, 3, vec![r, g, b]).unwrap()
    }

    #[test]
    fn parse_names() {
        assert_eq!("hsv".parse::<ColorSpace>().unwrap(), ColorSpace::Hsv);
        assert_eq!(
            "GRAYSCALE".parse::<ColorSpace>().unwrap(),
            ColorSpace::Grayscale
        );
        let e = "RBG".parse::<ColorSpace>().unwrap_err();
        assert!(e.to_string().contains("'RBG'"), "{e}");
    }

    #[test]
    fn hsv_hand_checked() {
        let hsv = |r, g, b| convert_color_space(&px(r, g, b), ColorSpace::Hsv).unwrap();
        assert_eq!(hsv(1.0, 0.0, 0.0).data(), &[0.0, 1.0, 1.0]);
        assert_eq!(hsv(0.0, 0.0, 0.0).data(), &[0.0, 0.0, 0.0]);
        assert_eq!(hsv(0.5, 0.5, 0.5).data(), &[0.0, 0.0, 0.5]);
        let d = hsv(0.0, 1.0, 0.0);
        assert!((d.data()[0] - 1.0 / 3.0).abs() < 1e-6);
        let d = hsv(0.0, 0.0, 1.0);
        assert!((d.data()[0] - 2.0 / 3.0).abs() < 1e-6);
        // Magenta: r == max, g - b < 0 wraps to 5/6.
        let d = hsv(1.0, 0.0, 1.0);
        assert!((d.data()[0] - 5.0 / 6.0).abs() < 1e-6);
        let d = hsv(0.8, 0.4, 0.2);
        assert!((d.data()[0] - 1.0 / 18.0).abs() < 1e-6);
        assert!((d.data()[1] - 0.75).abs() < 1e-6);
    }

    #[test]
    fn tf_docstring_yiq_example() {
        // tf.image.rgb_to_yiq([[[1., 2., 3.]]]) == [1.815, -0.91724455, 0.09962624].
        let d = convert_color_space(&px(1.0, 2.0, 3.0), ColorSpace::Yiq).unwrap();
        for (a, b) in d.data().iter().zip([1.815, -0.917_244_55, 0.099_626_24]) {
            assert!((a - b).abs() < 1e-5, "{:?}", d.data());
        }
    }

    #[test]
    fn grayscale_one_channel_and_white_is_white() {
        let g = convert_color_space(&px(1.0, 1.0, 1.0), ColorSpace::Grayscale).unwrap();
        assert_eq!(g.shape(), [1, 1, 1]);
        assert!((g.data()[0] - 0.9999).abs() < 1e-6);
        let yuv = convert_color_space(&px(1.0, 1.0, 1.0), ColorSpace::Yuv).unwrap();
        assert!((yuv.data()[0] - 1.0).abs() < 1e-6);
        assert!(yuv.data()[1].abs() < 1e-6 && yuv.data()[2].abs() < 1e-6);
        let bad = Image::new(1, 1, 1, vec![0.5]).unwrap();
        assert!(convert_color_space(&bad, ColorSpace::Hsv).is_err());
    }

    #[test]
    fn image_type_inverts_decode_scaling() {
        let all: Vec<f32> = (0..=255u8).map(|v| f32::from(v) / 255.0).collect();
        let img = Image::new(1, 256, 1, all).unwrap();
        let back = convert_image_type(&img);
        assert_eq!(back.data(), (0..=255u8).collect::<Vec<_>>().as_slice());
        let odd = Image::new(1, 4, 1, vec![-0.5, f32::NAN, 2.0, 0.5]).unwrap();
        assert_eq!(convert_image_type(&odd).data(), &[0, 0, 255, 127]);
    }
}
