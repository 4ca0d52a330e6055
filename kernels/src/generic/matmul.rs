//! Batched MatMul of two activation operands (B is not pre-packed).

use super::common::{check_extent, detected};
use crate::error::KernelError;
use crate::isa::Isa;
use crate::params::kernel_params;

kernel_params! {
/// Batched row-major `Y[b] = A[b] · B[b]` (`m × k` times `k × n`), `#[repr(C)]`. Batch strides
/// are in floats and may be 0 (broadcast operand) or negative; row strides are `lda`, `ldb`,
/// `ldy`. `y` must not overlap `a` or `b`.
#[derive(Clone, Copy, Debug)]
pub struct MatMulParams {
    /// Number of matrix products.
    pub batch: usize,
    /// Rows of A and Y.
    pub m: usize,
    /// Columns of A, rows of B.
    pub k: usize,
    /// Columns of B and Y.
    pub n: usize,
    /// `A[0][0][0]`.
    pub a: *const f32,
    /// Floats between consecutive A matrices.
    pub a_batch_stride: isize,
    /// Floats between rows of A.
    pub lda: usize,
    /// `B[0][0][0]`.
    pub b: *const f32,
    /// Floats between consecutive B matrices.
    pub b_batch_stride: isize,
    /// Floats between rows of B.
    pub ldb: usize,
    /// `Y[0][0][0]`.
    pub y: *mut f32,
    /// Floats between consecutive Y matrices.
    pub y_batch_stride: isize,
    /// Floats between rows of Y.
    pub ldy: usize,
}
}

/// Shape and strides for the safe wrapper ([`MatMulParams`] without pointers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatMulShape {
    /// Number of products.
    pub batch: usize,
    /// Rows of A and Y.
    pub m: usize,
    /// Columns of A, rows of B.
    pub k: usize,
    /// Columns of B and Y.
    pub n: usize,
    /// Floats between A matrices.
    pub a_batch_stride: isize,
    /// Floats between rows of A.
    pub lda: usize,
    /// Floats between B matrices.
    pub b_batch_stride: isize,
    /// Floats between rows of B.
    pub ldb: usize,
    /// Floats between Y matrices.
    pub y_batch_stride: isize,
    /// Floats between rows of Y.
    pub ldy: usize,
}

impl MatMulShape {
    /// Densely packed operands, A and B both batched.
    pub fn dense(batch: usize, m: usize, k: usize, n: usize) -> Self {
        MatMulShape {
            batch,
            m,
            k,
            n,
            a_batch_stride: (m * k) as isize,
            lda: k,
            b_batch_stride: (k * n) as isize,
            ldb: n,
            y_batch_stride: (m * n) as isize,
            ldy: n,
        }
    }
}

/// MatMul entry point for generated code.
///
/// # Safety
/// `p` points to a valid [`MatMulParams`] whose operands cover every addressed element.
#[no_mangle]
pub unsafe extern "C" fn bqml_matmul(p: *const MatMulParams) {
    // SAFETY: the caller guarantees `p` points to a valid MatMulParams.
    let p = unsafe { &*p };
    // SAFETY: forwarded caller contract.
    unsafe { matmul_raw(detected(), p) }
}

/// Safe wrapper: operands start at element 0 of each slice.
pub fn matmul(
    isa: Isa,
    s: &MatMulShape,
    a: &[f32],
    b: &[f32],
    y: &mut [f32],
) -> Result<(), KernelError> {
    check_extent(
        a.len(),
        0,
        &[s.batch, s.m, s.k],
        &[s.a_batch_stride, s.lda as isize, 1],
        "matmul a",
    )?;
    check_extent(
        b.len(),
        0,
        &[s.batch, s.k, s.n],
        &[s.b_batch_stride, s.ldb as isize, 1],
        "matmul b",
    )?;
    check_extent(
        y.len(),
        0,
        &[s.batch, s.m, s.n],
        &[s.y_batch_stride, s.ldy as isize, 1],
        "matmul y",
    )?;
    let p = MatMulParams {
        batch: s.batch,
        m: s.m,
        k: s.k,
        n: s.n,
        a: a.as_ptr(),
        a_batch_stride: s.a_batch_stride,
        lda: s.lda,
        b: b.as_ptr(),
        b_batch_stride: s.b_batch_stride,
        ldb: s.ldb,
        y: y.as_mut_ptr(),
        y_batch_stride: s.y_batch_stride,
        ldy: s.ldy,
    };
    // SAFETY: extents checked; `y` is a distinct mutable borrow.
    unsafe { matmul_raw(isa.or_portable(), &p) };
    Ok(())
}

/// # Safety
/// As [`bqml_matmul`]; `isa` runnable.
pub(crate) unsafe fn matmul_raw(isa: Isa, p: &MatMulParams) {
    if p.m == 0 || p.n == 0 {
        return;
    }
    for bi in 0..p.batch as isize {
        let a = p.a.wrapping_offset(bi * p.a_batch_stride);
        let b = p.b.wrapping_offset(bi * p.b_batch_stride);
        let y = p.y.wrapping_offset(bi * p.y_batch_stride);
        // SAFETY: one product's operands, valid by contract.
        unsafe {
            match isa {
                #[cfg(target_arch = "x86_64")]
                // The AVX-512 tier runs the AVX2 code (avx512f implies avx2+fma).
                Isa::Avx2Fma | Isa::Avx512 => avx2::one(p, a, b, y),
                _ => portable(p, a, b, y),
            }
        }
    }
}

/// Row-at-a-time `y_i = Σ_k a_ik · b_k` (axpy over contiguous rows; vectorised by the compiler).
///
/// # Safety
/// One product's operands are valid.
unsafe fn portable(p: &MatMulParams, a: *const f32, b: *const f32, y: *mut f32) {
    for i in 0..p.m {
        // SAFETY: row `i` of Y holds `n` floats and does not overlap A or B.
        let yr = unsafe { std::slice::from_raw_parts_mut(y.add(i * p.ldy), p.n) };
        yr.fill(0.0);
        for kk in 0..p.k {
            // SAFETY: `A[i][kk]` and row `kk` of B are valid.
            let (av, br) = unsafe {
                (
                    *a.add(i * p.lda + kk),
                    std::slice::from_raw_parts(b.add(kk * p.ldb), p.n),
                )
            };
            for (o, &bv) in yr.iter_mut().zip(br) {
                *o += av * bv;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::super::vmath::first_lanes;
    use super::MatMulParams;
    use std::arch::x86_64::*;

    /// Rows per register tile.
    const MR: usize = 4;
    /// Columns per register tile (two vectors).
    const NR: usize = 16;
    /// Depth of one pass; a `KC × NR` slice of B (16 KiB) stays in L1 across all row tiles.
    const KC: usize = 256;

    /// # Safety
    /// One product's operands are valid; AVX2+FMA available.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn one(p: &MatMulParams, a: *const f32, b: *const f32, y: *mut f32) {
        let mut j = 0;
        while j < p.n {
            let cols = (p.n - j).min(NR);
            let mut k0 = 0;
            loop {
                let kc = (p.k - k0).min(KC);
                let first = k0 == 0;
                let mut i = 0;
                while i < p.m {
                    let rows = (p.m - i).min(MR);
                    let t = Tile {
                        a: a.wrapping_add(i * p.lda + k0),
                        lda: p.lda,
                        b: b.wrapping_add(k0 * p.ldb + j),
                        ldb: p.ldb,
                        y: y.wrapping_add(i * p.ldy + j),
                        ldy: p.ldy,
                        kc,
                        cols,
                        accumulate: !first,
                    };
                    // SAFETY: the tile's rows/columns/depth are inside the operands.
                    unsafe {
                        match rows {
                            4 => tile::<4>(&t),
                            3 => tile::<3>(&t),
                            2 => tile::<2>(&t),
                            _ => tile::<1>(&t),
                        }
                    }
                    i += MR;
                }
                k0 += kc;
                if k0 >= p.k {
                    break;
                }
            }
            j += NR;
        }
    }

    /// One `R × cols` (cols <= 16) tile of Y over depth `kc`.
    struct Tile {
        a: *const f32,
        lda: usize,
        b: *const f32,
        ldb: usize,
        y: *mut f32,
        ldy: usize,
        kc: usize,
        cols: usize,
        /// Add to the existing Y values (later depth passes) instead of overwriting.
        accumulate: bool,
    }

    /// # Safety
    /// `R` rows of A (depth `kc`), `kc` rows of B and `R` rows of Y (`cols` wide) are valid;
    /// AVX2+FMA available.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile<const R: usize>(t: &Tile) {
        let m0 = first_lanes(t.cols as isize);
        let m1 = first_lanes(t.cols as isize - 8);
        let full = t.cols == 16;
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        if t.accumulate {
            for (r, row) in acc.iter_mut().enumerate() {
                // SAFETY: masked to the tile's columns of Y row `r`.
                unsafe {
                    let yr = t.y.add(r * t.ldy);
                    row[0] = _mm256_maskload_ps(yr, m0);
                    row[1] = _mm256_maskload_ps(yr.add(8), m1);
                }
            }
        }
        for kk in 0..t.kc {
            // SAFETY: row `kk` of the B slice, masked unless all 16 columns exist.
            let (b0, b1) = unsafe {
                let br = t.b.add(kk * t.ldb);
                if full {
                    (_mm256_loadu_ps(br), _mm256_loadu_ps(br.add(8)))
                } else {
                    (
                        _mm256_maskload_ps(br, m0),
                        _mm256_maskload_ps(br.add(8), m1),
                    )
                }
            };
            for (r, row) in acc.iter_mut().enumerate() {
                // SAFETY: `A[r][kk]` of the tile.
                let av = _mm256_set1_ps(unsafe { *t.a.add(r * t.lda + kk) });
                row[0] = _mm256_fmadd_ps(av, b0, row[0]);
                row[1] = _mm256_fmadd_ps(av, b1, row[1]);
            }
        }
        for (r, row) in acc.iter().enumerate() {
            // SAFETY: masked to the tile's columns of Y row `r`.
            unsafe {
                let yr = t.y.add(r * t.ldy);
                if full {
                    _mm256_storeu_ps(yr, row[0]);
                    _mm256_storeu_ps(yr.add(8), row[1]);
                } else {
                    _mm256_maskstore_ps(yr, m0, row[0]);
                    _mm256_maskstore_ps(yr.add(8), m1, row[1]);
                }
            }
        }
    }
}

/// Scalar reference in f64.
pub mod reference {
    use super::MatMulShape;

    /// `Y[b] = A[b] · B[b]`, written into `y` at the shape's strides.
    pub fn matmul(s: &MatMulShape, a: &[f32], b: &[f32], y: &mut [f32]) {
        for bi in 0..s.batch as isize {
            for i in 0..s.m {
                for j in 0..s.n {
                    let mut acc = 0f64;
                    for kk in 0..s.k {
                        let av = a[(bi * s.a_batch_stride) as usize + i * s.lda + kk];
                        let bv = b[(bi * s.b_batch_stride) as usize + kk * s.ldb + j];
                        acc += av as f64 * bv as f64;
                    }
                    y[(bi * s.y_batch_stride) as usize + i * s.ldy + j] = acc as f32;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn shape() -> impl Strategy<Value = (MatMulShape, usize, usize)> {
        (
            1usize..=3,
            1usize..=9,
            0usize..=300,
            1usize..=37,
            any::<bool>(),
            0usize..=3,
            0usize..=3,
        )
            .prop_map(|(batch, m, k, n, bcast_b, pad_a, pad_b)| {
                let lda = k + pad_a;
                let ldb = n + pad_b;
                let ldy = n + 1;
                let s = MatMulShape {
                    batch,
                    m,
                    k,
                    n,
                    a_batch_stride: (m * lda) as isize,
                    lda,
                    b_batch_stride: if bcast_b { 0 } else { (k * ldb) as isize },
                    ldb,
                    y_batch_stride: (m * ldy) as isize,
                    ldy,
                };
                let blen = if bcast_b { k * ldb } else { batch * k * ldb };
                (s, batch * m * lda, blen)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(120))]

        #[test]
        fn matches_reference((s, alen, blen) in shape(), seed in any::<u32>()) {
            let gen = |i: usize, salt: u32| {
                let h = (i as u32).wrapping_mul(2_654_435_761) ^ seed ^ salt;
                (h % 2001) as f32 / 1000.0 - 1.0
            };
            let a: Vec<f32> = (0..alen).map(|i| gen(i, 1)).collect();
            let b: Vec<f32> = (0..blen).map(|i| gen(i, 2)).collect();
            let ylen = s.batch * s.m * s.ldy;
            let mut want = vec![-3.0f32; ylen];
            reference::matmul(&s, &a, &b, &mut want);
            for isa in Isa::all_available() {
                let mut y = vec![-3.0f32; ylen];
                matmul(isa, &s, &a, &b, &mut y).unwrap();
                for (i, (&g, &w)) in y.iter().zip(&want).enumerate() {
                    // Padding columns of Y must be untouched.
                    let tol = 1e-6 * (s.k as f32 + 1.0);
                    prop_assert!((g - w).abs() <= tol, "{:?} {:?} at {}: {} vs {}", isa, s, i, g, w);
                }
            }
        }
    }

    #[test]
    fn rejects_short_operands() {
        let s = MatMulShape::dense(2, 3, 4, 5);
        let a = vec![0f32; 24];
        let b = vec![0f32; 39];
        let mut y = vec![0f32; 30];
        assert!(matmul(Isa::Portable, &s, &a, &b, &mut y).is_err());
        let b = vec![1f32; 40];
        let a = vec![1f32; 24];
        matmul(Isa::detect(), &s, &a, &b, &mut y).unwrap();
        assert!(y.iter().all(|&v| v == 4.0));
    }
}
