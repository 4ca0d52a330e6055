//! Pad: constant, reflect, edge and wrap modes; negative pads crop.

use super::common::{abort_bad_params, numel, MAX_RANK};
use crate::error::KernelError;
use crate::params::kernel_params;

/// Fill with `value`.
pub const PAD_CONSTANT: u32 = 0;
/// Mirror without repeating the edge (numpy `reflect`; periodic for pads wider than the axis).
pub const PAD_REFLECT: u32 = 1;
/// Repeat the edge element.
pub const PAD_EDGE: u32 = 2;
/// Wrap around (numpy `wrap`).
pub const PAD_WRAP: u32 = 3;

kernel_params! {
/// Pad parameters, `#[repr(C)]`; input and output are contiguous row-major. Output element `o`
/// reads input `o - pads_begin` per axis (mapped by `mode` when outside the input), so a
/// negative `pads_begin` crops, and `out_shape` determines the end pads (also possibly
/// negative). Axes of input extent 0 pad with `value` in every mode. `x` and `y` must not overlap.
#[derive(Clone, Copy, Debug)]
pub struct PadParams {
    /// `PAD_*` mode.
    pub mode: u32,
    /// Bytes per element: 1, 2, 4 or 8.
    pub elem_size: usize,
    /// Number of axes (`<= MAX_RANK`).
    pub rank: usize,
    /// Input shape.
    pub in_shape: [usize; MAX_RANK],
    /// Elements added before each axis (negative: removed).
    pub pads_begin: [isize; MAX_RANK],
    /// Output shape.
    pub out_shape: [usize; MAX_RANK],
    /// Input.
    pub x: *const u8,
    /// Output.
    pub y: *mut u8,
    /// Constant bit pattern in the low `elem_size` bytes.
    pub value: u64,
}
}

/// Pad entry point for generated code.
///
/// # Safety
/// `p` points to a valid [`PadParams`]; `x` holds `Π in_shape` and `y` `Π out_shape` elements.
/// An invalid mode, element size or rank aborts.
#[no_mangle]
pub unsafe extern "C" fn bqml_pad(p: *const PadParams) {
    // SAFETY: the caller guarantees `p` points to a valid PadParams.
    let p = unsafe { &*p };
    if p.mode > PAD_WRAP || !matches!(p.elem_size, 1 | 2 | 4 | 8) || p.rank > MAX_RANK {
        abort_bad_params(format_args!(
            "bqml_pad: mode {} elem_size {} rank {}",
            p.mode, p.elem_size, p.rank
        ));
    }
    // SAFETY: forwarded caller contract.
    unsafe { pad_raw(p) }
}

/// Safe wrapper over contiguous `x` (`in_shape`) and `y` (`out_shape`).
pub fn pad<T: Copy>(
    mode: u32,
    in_shape: &[usize],
    pads_begin: &[isize],
    out_shape: &[usize],
    value: T,
    x: &[T],
    y: &mut [T],
) -> Result<(), KernelError> {
    let es = std::mem::size_of::<T>();
    let r = in_shape.len();
    if mode > PAD_WRAP
        || !matches!(es, 1 | 2 | 4 | 8)
        || r > MAX_RANK
        || pads_begin.len() != r
        || out_shape.len() != r
        || numel(in_shape) != Some(x.len())
        || numel(out_shape) != Some(y.len())
    {
        return Err(KernelError::new(format!(
            "pad: mode {mode} in {in_shape:?} pads {pads_begin:?} out {out_shape:?} x {} y {}",
            x.len(),
            y.len()
        )));
    }
    let mut bits = [0u8; 8];
    // SAFETY: `value` is `es <= 8` readable bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(&value as *const T as *const u8, bits.as_mut_ptr(), es)
    };
    let mut p = PadParams {
        mode,
        elem_size: es,
        rank: r,
        in_shape: [1; MAX_RANK],
        pads_begin: [0; MAX_RANK],
        out_shape: [1; MAX_RANK],
        x: x.as_ptr() as *const u8,
        y: y.as_mut_ptr() as *mut u8,
        value: u64::from_le_bytes(bits),
    };
    p.in_shape[..r].copy_from_slice(in_shape);
    p.pads_begin[..r].copy_from_slice(pads_begin);
    p.out_shape[..r].copy_from_slice(out_shape);
    // SAFETY: sizes checked; distinct borrows.
    unsafe { pad_raw(&p) };
    Ok(())
}

/// Input index read by output index `o` on an axis, or `None` for the constant.
#[inline]
pub fn source_index(mode: u32, o: usize, pad_begin: isize, n: usize) -> Option<usize> {
    let i = o as isize - pad_begin;
    let n = n as isize;
    if (0..n).contains(&i) {
        return Some(i as usize);
    }
    if n == 0 {
        return None;
    }
    Some(match mode {
        PAD_EDGE => i.clamp(0, n - 1) as usize,
        PAD_WRAP => i.rem_euclid(n) as usize,
        PAD_REFLECT => {
            if n == 1 {
                0
            } else {
                let period = 2 * (n - 1);
                let m = i.rem_euclid(period);
                (if m >= n { period - m } else { m }) as usize
            }
        }
        _ => return None,
    })
}

/// # Safety
/// As [`bqml_pad`] with valid mode/size/rank.
unsafe fn pad_raw(p: &PadParams) {
    // SAFETY: forwarded; each arm reinterprets the buffers as `elem_size`-byte elements.
    unsafe {
        match p.elem_size {
            1 => pad_typed::<u8>(p, p.value as u8),
            2 => pad_typed::<u16>(p, p.value as u16),
            4 => pad_typed::<u32>(p, p.value as u32),
            _ => pad_typed::<u64>(p, p.value),
        }
    }
}

/// # Safety
/// As [`pad_raw`]; `T` is `elem_size` bytes.
unsafe fn pad_typed<T: Copy>(p: &PadParams, value: T) {
    let r = p.rank;
    let x = p.x as *const T;
    let y = p.y as *mut T;
    let total: usize = p.out_shape[..r].iter().product();
    if total == 0 {
        return;
    }
    if r == 0 {
        // SAFETY: one element each.
        unsafe { y.write_unaligned(x.read_unaligned()) };
        return;
    }
    let last = r - 1;
    let (w, n, pb) = (p.out_shape[last], p.in_shape[last], p.pads_begin[last]);
    let mut in_strides = [0usize; MAX_RANK];
    let mut acc = 1;
    for d in (0..r).rev() {
        in_strides[d] = acc;
        acc *= p.in_shape[d];
    }
    // Output columns copied straight from the input row: o in [lo, hi).
    let lo = pb.clamp(0, w as isize) as usize;
    let hi = (pb + n as isize).clamp(lo as isize, w as isize) as usize;
    let rows = total / w;
    let mut idx = [0usize; MAX_RANK];
    for row in 0..rows {
        let yr = row * w;
        // Source row, or None when an outer axis maps to the constant.
        let mut src = Some(0usize);
        for d in 0..last {
            src = match (
                src,
                source_index(p.mode, idx[d], p.pads_begin[d], p.in_shape[d]),
            ) {
                (Some(s), Some(i)) => Some(s + i * in_strides[d]),
                _ => None,
            };
        }
        // SAFETY: `yr + o` with `o < w` is inside the output; reads are inside
        // input row `s` because `source_index` returns in-range indices.
        unsafe {
            match src {
                None => {
                    for o in 0..w {
                        y.add(yr + o).write_unaligned(value);
                    }
                }
                Some(s) => {
                    for o in (0..lo).chain(hi..w) {
                        let v = match source_index(p.mode, o, pb, n) {
                            Some(i) => x.add(s + i).read_unaligned(),
                            None => value,
                        };
                        y.add(yr + o).write_unaligned(v);
                    }
                    if hi > lo {
                        let from = (lo as isize - pb) as usize;
                        std::ptr::copy_nonoverlapping(x.add(s + from), y.add(yr + lo), hi - lo);
                    }
                }
            }
        }
        // Advance the outer odometer.
        for d in (0..last).rev() {
            idx[d] += 1;
            if idx[d] < p.out_shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// Scalar reference: every output element mapped independently.
pub mod reference {
    use super::source_index;

    /// Padded copy of `x`.
    pub fn pad<T: Copy>(
        mode: u32,
        in_shape: &[usize],
        pads_begin: &[isize],
        out_shape: &[usize],
        value: T,
        x: &[T],
    ) -> Vec<T> {
        let total: usize = out_shape.iter().product();
        (0..total)
            .map(|flat| {
                let mut rem = flat;
                let mut src = 0usize;
                let mut stride = 1usize;
                let mut constant = false;
                for d in (0..out_shape.len()).rev() {
                    let o = rem % out_shape[d];
                    rem /= out_shape[d];
                    match source_index(mode, o, pads_begin[d], in_shape[d]) {
                        Some(i) => src += i * stride,
                        None => constant = true,
                    }
                    stride *= in_shape[d];
                }
                if constant {
                    value
                } else {
                    x[src]
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn matches_reference(
            mode in 0u32..=3,
            axes in proptest::collection::vec((0usize..=5, -3isize..=4, -3isize..=4), 0..=4),
        ) {
            let in_shape: Vec<usize> = axes.iter().map(|a| a.0).collect();
            let pb: Vec<isize> = axes.iter().map(|a| a.1.max(-(a.0 as isize))).collect();
            let out_shape: Vec<usize> = axes
                .iter()
                .zip(&pb)
                .map(|(a, &b)| (a.0 as isize + b + a.2).max(0) as usize)
                .collect();
            let n: usize = in_shape.iter().product();
            let x: Vec<u32> = (0..n as u32).map(|v| v + 100).collect();
            let want = reference::pad(mode, &in_shape, &pb, &out_shape, 7u32, &x);
            let mut y = vec![0u32; want.len()];
            pad(mode, &in_shape, &pb, &out_shape, 7u32, &x, &mut y).unwrap();
            prop_assert_eq!(&y, &want);
            let x8: Vec<u8> = x.iter().map(|&v| v as u8).collect();
            let mut y8 = vec![0u8; want.len()];
            pad(mode, &in_shape, &pb, &out_shape, 7u8, &x8, &mut y8).unwrap();
            prop_assert_eq!(y8, want.iter().map(|&v| v as u8).collect::<Vec<_>>());
        }
    }

    #[test]
    fn numpy_examples() {
        let x = [1.0f32, 2.0, 3.0];
        let mut y = [0f32; 9];
        pad(PAD_REFLECT, &[3], &[3], &[9], 0.0, &x, &mut y).unwrap();
        assert_eq!(y, [2.0, 3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0, 2.0]);
        pad(PAD_WRAP, &[3], &[3], &[9], 0.0, &x, &mut y).unwrap();
        assert_eq!(y, [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
        pad(PAD_EDGE, &[3], &[3], &[9], 0.0, &x, &mut y).unwrap();
        assert_eq!(y, [1.0, 1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0]);
        let mut z = [0f32; 1];
        pad(PAD_CONSTANT, &[3], &[-1], &[1], 0.0, &x, &mut z).unwrap();
        assert_eq!(z, [2.0]);
        assert!(pad(PAD_CONSTANT, &[3], &[0], &[4], 0.0, &x, &mut z).is_err());
    }
}
