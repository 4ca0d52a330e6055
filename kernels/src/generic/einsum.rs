//! `Einsum`: a sum of products of up to three operands over a label space of at most
//! [`MAX_RANK`] labels, f32 or f64. The output's labels come first (`out_rank` of them, the
//! output dense and row-major in that order), then the summed-over labels; each output
//! element is accumulated in f64 over the summed index space and stored once.

use super::cast::DT_F64;
use super::common::{abort_bad_params, numel, DT_F32, MAX_RANK};
use crate::error::KernelError;
use crate::params::kernel_params;

/// Most operands an [`EinsumParams`] takes.
pub const EINSUM_MAX_INPUTS: usize = 3;

kernel_params! {
/// One Einsum, `#[repr(C)]`. Operand `i` is read at `Σ_l index[l] · x_strides[i][l]`
/// (elements; 0 for a label the operand lacks).
#[derive(Clone, Copy, Debug)]
pub struct EinsumParams {
    /// [`DT_F32`] or [`DT_F64`] (every operand and the output).
    pub dtype: u32,
    /// Number of labels (`<= MAX_RANK`).
    pub rank: usize,
    /// Leading labels that index the output (`<= rank`).
    pub out_rank: usize,
    /// Extent of each label.
    pub extents: [usize; MAX_RANK],
    /// Number of operands (1 to [`EINSUM_MAX_INPUTS`]).
    pub inputs: usize,
    /// Operand origins.
    pub x: [*const u8; EINSUM_MAX_INPUTS],
    /// Operand strides per label.
    pub x_strides: [[isize; MAX_RANK]; EINSUM_MAX_INPUTS],
    /// Dense output, `Π extents[..out_rank]` elements.
    pub y: *mut u8,
}
}

/// Einsum entry point for generated code.
///
/// # Safety
/// `p` points to a valid [`EinsumParams`] whose addressed elements all lie inside their
/// tensors; `y` does not overlap an operand. Bad dtype, rank or operand counts abort.
#[no_mangle]
pub unsafe extern "C" fn bqml_einsum(p: *const EinsumParams) {
    // SAFETY: the caller guarantees `p` points to a valid EinsumParams.
    let p = unsafe { &*p };
    if !matches!(p.dtype, DT_F32 | DT_F64)
        || p.rank > MAX_RANK
        || p.out_rank > p.rank
        || !(1..=EINSUM_MAX_INPUTS).contains(&p.inputs)
        || numel(&p.extents[..p.rank]).is_none()
    {
        abort_bad_params(format_args!(
            "bqml_einsum: dtype {} rank {} out_rank {} inputs {}",
            p.dtype, p.rank, p.out_rank, p.inputs
        ));
    }
    // SAFETY: forwarded caller contract.
    unsafe { einsum_raw(p) }
}

/// Reads element `off` of operand `x` as f64.
///
/// # Safety
/// `x + off` is a valid element of type `dtype`.
#[inline(always)]
unsafe fn load(dtype: u32, x: *const u8, off: isize) -> f64 {
    // SAFETY: caller contract; both element types are read at their own alignment.
    unsafe {
        if dtype == DT_F64 {
            *(x as *const f64).offset(off)
        } else {
            *(x as *const f32).offset(off) as f64
        }
    }
}

/// # Safety
/// As [`bqml_einsum`], with the params already validated.
unsafe fn einsum_raw(p: &EinsumParams) {
    let ext = &p.extents[..p.rank];
    let (outer, inner) = ext.split_at(p.out_rank);
    let n_out: usize = outer.iter().product();
    let n_in: usize = inner.iter().product();
    let mut idx = [0usize; MAX_RANK];
    for o in 0..n_out {
        // Output label indices, row-major.
        let mut rem = o;
        for l in (0..p.out_rank).rev() {
            idx[l] = rem % ext[l];
            rem /= ext[l];
        }
        let mut acc = 0f64;
        for r in 0..n_in {
            let mut rem = r;
            for l in (p.out_rank..p.rank).rev() {
                idx[l] = rem % ext[l];
                rem /= ext[l];
            }
            let mut prod = 1f64;
            for i in 0..p.inputs {
                let off: isize = (0..p.rank)
                    .map(|l| idx[l] as isize * p.x_strides[i][l])
                    .sum();
                // SAFETY: every index is below its extent, so the offset addresses an
                // element of operand `i` (caller contract).
                prod *= unsafe { load(p.dtype, p.x[i], off) };
            }
            acc += prod;
        }
        // SAFETY: `o < n_out`, the output's element count (caller contract).
        unsafe {
            if p.dtype == DT_F64 {
                *(p.y as *mut f64).add(o) = acc;
            } else {
                *(p.y as *mut f32).add(o) = acc as f32;
            }
        }
    }
}

/// Safe wrapper over f32 or f64 slices (`dtype` says which; byte slices are read at the
/// element type): checks that every addressed element is inside its operand.
pub fn einsum(p: &EinsumParams, xs: &[&[u8]], y: &mut [u8]) -> Result<(), KernelError> {
    let es = if p.dtype == DT_F64 { 8 } else { 4 };
    if !matches!(p.dtype, DT_F32 | DT_F64) || p.rank > MAX_RANK || p.out_rank > p.rank {
        return Err(KernelError::new("einsum: bad dtype or rank".to_string()));
    }
    if xs.len() != p.inputs || !(1..=EINSUM_MAX_INPUTS).contains(&p.inputs) {
        return Err(KernelError::new("einsum: operand count".to_string()));
    }
    let ext = &p.extents[..p.rank];
    for (i, x) in xs.iter().enumerate() {
        if !(x.as_ptr() as usize).is_multiple_of(es) {
            return Err(KernelError::new(format!("einsum: operand {i} misaligned")));
        }
        if ext.contains(&0) {
            continue;
        }
        let (mut lo, mut hi) = (0isize, 0isize);
        for (l, &e) in ext.iter().enumerate() {
            let s = p.x_strides[i][l] * (e as isize - 1);
            if s < 0 {
                lo += s
            } else {
                hi += s
            }
        }
        if lo < 0 || (hi as usize + 1) * es > x.len() {
            return Err(KernelError::new(format!(
                "einsum: operand {i} out of bounds"
            )));
        }
    }
    let n_out =
        numel(&ext[..p.out_rank]).ok_or_else(|| KernelError::new("einsum: size".to_string()))?;
    if n_out * es > y.len() || !(y.as_ptr() as usize).is_multiple_of(es) {
        return Err(KernelError::new("einsum: output too small".to_string()));
    }
    let mut q = *p;
    for (i, x) in xs.iter().enumerate() {
        q.x[i] = x.as_ptr();
    }
    q.y = y.as_mut_ptr();
    // SAFETY: bounds and alignment checked above.
    unsafe { einsum_raw(&q) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// `bij,bjk->bik` against a plain triple loop, and `ij->` (a full sum) on f64.
    #[test]
    fn batch_matmul_and_sum_match_loops() {
        let (b, i, j, k) = (2, 3, 4, 5);
        let x: Vec<f32> = (0..b * i * j).map(|v| (v as f32 * 0.37).sin()).collect();
        let w: Vec<f32> = (0..b * j * k).map(|v| (v as f32 * 0.11).cos()).collect();
        // Labels b, i, k (output), j (summed).
        let mut p = EinsumParams {
            dtype: DT_F32,
            rank: 4,
            out_rank: 3,
            extents: [b, i, k, j, 0, 0],
            inputs: 2,
            x: [std::ptr::null(); 3],
            x_strides: [[0; MAX_RANK]; 3],
            y: std::ptr::null_mut(),
        };
        p.x_strides[0][..4].copy_from_slice(&[(i * j) as isize, j as isize, 0, 1]);
        p.x_strides[1][..4].copy_from_slice(&[(j * k) as isize, 0, 1, k as isize]);
        let (xb, wb) = (bytes(&x), bytes(&w));
        let mut y = vec![0u8; b * i * k * 4];
        einsum(&p, &[&xb, &wb], &mut y).unwrap();
        for bb in 0..b {
            for ii in 0..i {
                for kk in 0..k {
                    let want: f32 = (0..j)
                        .map(|jj| x[(bb * i + ii) * j + jj] * w[(bb * j + jj) * k + kk])
                        .sum();
                    let o = ((bb * i + ii) * k + kk) * 4;
                    let got = f32::from_le_bytes(y[o..o + 4].try_into().unwrap());
                    assert!((got - want).abs() < 1e-5, "{got} vs {want}");
                }
            }
        }
        let v: Vec<f64> = (0..12).map(|q| q as f64).collect();
        let vb: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        let mut s = EinsumParams {
            dtype: DT_F64,
            rank: 2,
            out_rank: 0,
            extents: [3, 4, 0, 0, 0, 0],
            inputs: 1,
            ..p
        };
        s.x_strides[0][..2].copy_from_slice(&[4, 1]);
        let mut y = vec![0u8; 8];
        einsum(&s, &[&vb], &mut y).unwrap();
        assert_eq!(f64::from_le_bytes(y[..8].try_into().unwrap()), 66.0);
        // An operand too short for its strides is refused.
        assert!(einsum(&s, &[&vb[..80]], &mut y).is_err());
    }
}
