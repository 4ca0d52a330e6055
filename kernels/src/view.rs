//! Bounds-checked NHWC views for the safe wrappers.

use crate::error::KernelError;

/// Read-only NHWC view: element `(y, x, c)` is `data[offset + y * row_stride + x * pixel_stride + c]`.
///
/// `offset` selects the origin (e.g. the top-left of a halo, or a channel slice of a Concat).
#[derive(Clone, Copy, Debug)]
pub struct Nhwc<'a> {
    /// Backing storage.
    pub data: &'a [f32],
    /// Index of element `(0, 0, 0)`.
    pub offset: usize,
    /// Floats between vertically adjacent pixels.
    pub row_stride: usize,
    /// Floats between horizontally adjacent pixels (>= the channels used).
    pub pixel_stride: usize,
}

/// Mutable NHWC view; same addressing as [`Nhwc`].
#[derive(Debug)]
pub struct NhwcMut<'a> {
    /// Backing storage.
    pub data: &'a mut [f32],
    /// Index of element `(0, 0, 0)`.
    pub offset: usize,
    /// Floats between vertically adjacent pixels.
    pub row_stride: usize,
    /// Floats between horizontally adjacent pixels (>= the channels written).
    pub pixel_stride: usize,
}

impl<'a> Nhwc<'a> {
    /// A dense `h × w × c` tensor at the start of `data`.
    pub fn dense(data: &'a [f32], w: usize, c: usize) -> Self {
        Nhwc {
            data,
            offset: 0,
            row_stride: w * c,
            pixel_stride: c,
        }
    }

    /// Check that the `rows × cols × channels` box from the origin lies inside `data`.
    pub(crate) fn check(
        &self,
        rows: usize,
        cols: usize,
        channels: usize,
        what: &str,
    ) -> Result<(), KernelError> {
        check_box(
            self.data.len(),
            self.offset,
            self.row_stride,
            self.pixel_stride,
            [rows, cols, channels],
            what,
        )
    }

    pub(crate) fn ptr(&self) -> *const f32 {
        self.data[self.offset..].as_ptr()
    }
}

impl<'a> NhwcMut<'a> {
    /// A dense `h × w × c` tensor at the start of `data`.
    pub fn dense(data: &'a mut [f32], w: usize, c: usize) -> Self {
        NhwcMut {
            data,
            offset: 0,
            row_stride: w * c,
            pixel_stride: c,
        }
    }

    /// Check the box and that distinct pixels cannot overlap.
    pub(crate) fn check(
        &self,
        rows: usize,
        cols: usize,
        channels: usize,
        what: &str,
    ) -> Result<(), KernelError> {
        if (cols > 1 && self.pixel_stride < channels)
            || (rows > 1 && self.row_stride < (cols.max(1) - 1) * self.pixel_stride + channels)
        {
            return Err(KernelError::new(format!(
                "{what}: strides {}/{} make pixels of a {rows}×{cols}×{channels} output overlap",
                self.row_stride, self.pixel_stride
            )));
        }
        check_box(
            self.data.len(),
            self.offset,
            self.row_stride,
            self.pixel_stride,
            [rows, cols, channels],
            what,
        )
    }

    pub(crate) fn ptr(&mut self) -> *mut f32 {
        self.data[self.offset..].as_mut_ptr()
    }
}

fn check_box(
    len: usize,
    offset: usize,
    row_stride: usize,
    pixel_stride: usize,
    [rows, cols, channels]: [usize; 3],
    what: &str,
) -> Result<(), KernelError> {
    if rows == 0 || cols == 0 || channels == 0 {
        return Err(KernelError::new(format!("{what}: empty box")));
    }
    let last = (rows - 1)
        .checked_mul(row_stride)
        .and_then(|a| {
            (cols - 1)
                .checked_mul(pixel_stride)
                .and_then(|b| a.checked_add(b))
        })
        .and_then(|a| a.checked_add(offset + channels - 1));
    match last {
        Some(last) if last < len => Ok(()),
        _ => Err(KernelError::new(format!(
            "{what}: {rows}×{cols}×{channels} at offset {offset} with strides {row_stride}/{pixel_stride} exceeds {len} floats"
        ))),
    }
}
