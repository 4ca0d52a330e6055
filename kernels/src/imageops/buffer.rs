//! The image types, sizes and limits that decoding, JPEG and resizing share: float and integer
//! images, decoded samples at native depth, the 60 MB struct limit and the decode limits. The
//! other files take these from here rather than from each other.

use std::fmt;

use super::error::ImageError;

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

/// An output size in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetSize {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

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
}
