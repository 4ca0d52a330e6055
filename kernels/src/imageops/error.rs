//! The one error type of the image functions. Messages say what failed and never
//! name the row: the SQL layer prefixes them with the object's uri.

/// Why an image function failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// Zero-length input.
    #[error("empty image data")]
    Empty,
    /// The encoded bytes exceed the input limit (10 MB for `ML.DECODE_IMAGE`).
    #[error("image data too large: {size} bytes exceeds the limit of {limit} bytes")]
    InputTooLarge { size: u64, limit: u64 },
    /// The magic bytes match no known image format.
    #[error("unrecognised image format (first bytes: {magic}); expected JPEG, PNG or BMP")]
    UnknownFormat { magic: String },
    /// A known format that BigQuery does not accept (GIF, WebP, …).
    #[error("unsupported image format: {0} (only JPEG, PNG and BMP are accepted)")]
    UnsupportedFormat(String),
    /// The header declares more pixels than the decoder accepts; nothing was allocated.
    #[error("image too large: {width}x{height} pixels exceeds the limit of {limit} pixels")]
    TooManyPixels { width: u64, height: u64, limit: u64 },
    /// The header declares a zero width or height.
    #[error("invalid image dimensions: {width}x{height}")]
    ZeroDimensions { width: u64, height: u64 },
    /// Truncated or malformed data in a supported format.
    #[error("corrupt {format} data: {message}")]
    Corrupt {
        format: &'static str,
        message: String,
    },
    /// A valid file using a feature the decoder does not implement.
    #[error("unsupported {format} feature: {message}")]
    UnsupportedFeature {
        format: &'static str,
        message: String,
    },
    /// The decoder would need more memory than allowed.
    #[error("image needs too much memory to decode: {0}")]
    MemoryLimit(String),
    /// An image struct (shape + values) that is malformed.
    #[error("invalid image: {0}")]
    InvalidImage(String),
    /// An image struct over the 60 MB limit.
    #[error("image struct too large: {bytes} bytes exceeds the limit of {limit} bytes")]
    StructTooLarge { bytes: u64, limit: u64 },
    /// A bad non-image argument (target size, colour space name, …).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}
