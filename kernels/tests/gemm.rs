//! Gemm (both ISAs) against the scalar reference.

mod common;

use common::{act_strategy, assert_close, tiers, Rng};
use kernels::*;
use proptest::prelude::*;

#[allow(clippy::too_many_arguments)]
fn check(
    m: usize,
    k: usize,
    n: usize,
    trans_b: bool,
    alpha: f32,
    c_len: Option<usize>,
    beta: f32,
    residual: bool,
    act: Act,
    split: usize,
    seed: u64,
) {
    let mut rng = Rng::new(seed);
    let a = rng.vec(m * k);
    let b = rng.vec(k * n);
    let c = c_len.map(|l| rng.vec(l));
    let r = residual.then(|| rng.vec(m * n));
    let packed = pack_gemm_b(k, n, &b, trans_b, alpha, c.as_deref(), beta).unwrap();
    let (want, mag) = reference::gemm(
        m,
        k,
        n,
        &a,
        &b,
        trans_b,
        alpha,
        c.as_deref(),
        beta,
        r.as_deref(),
        act,
    );
    for isa in tiers("gemm") {
        let mut y = vec![0.0; m * n];
        let split = split.min(m);
        for rows in [0..split, split..m] {
            gemm(isa, &packed, act, m, &a, &mut y, r.as_deref(), rows).unwrap();
        }
        assert_close(
            &y,
            &want,
            &mag,
            &format!("{isa:?} gemm m={m} k={k} n={n} trans_b={trans_b}"),
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn gemm_matches_reference(
        (m, k, n) in (1usize..=14, 1usize..=40, 1usize..=40),
        trans_b in any::<bool>(),
        alpha in prop_oneof![Just(1.0f32), -2.0f32..2.0],
        c_len in prop_oneof![Just(None), Just(Some(1)), Just(Some(usize::MAX))],
        beta in prop_oneof![Just(1.0f32), -2.0f32..2.0],
        residual in any::<bool>(),
        act in act_strategy(),
        split in 0usize..=14,
        seed in any::<u64>(),
    ) {
        let c_len = c_len.map(|l| if l == usize::MAX { n } else { l });
        check(m, k, n, trans_b, alpha, c_len, beta, residual, act, split, seed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Single-row products (GEMV) with enough columns for the 4-panel path and its tails.
    #[test]
    fn gemv_matches_reference(
        (k, n) in (1usize..=300, 60usize..=140),
        residual in any::<bool>(),
        act in act_strategy(),
        seed in any::<u64>(),
    ) {
        check(1, k, n, true, 1.0, Some(n), 1.0, residual, act, 0, seed);
    }
}

/// The classifier head of ResNet-18: 1 × 512 · 512 × 1000 (`transB = 1` as in torchvision exports).
#[test]
fn resnet_classifier_shape() {
    check(
        1,
        512,
        1000,
        true,
        1.0,
        Some(1000),
        1.0,
        false,
        Act::None,
        0,
        3,
    );
}

#[test]
fn gemm_rejects_conv_packing_and_short_buffers() {
    let conv = pack_conv(
        ConvShape {
            in_channels: 4,
            out_channels: 4,
            kernel_h: 3,
            kernel_w: 3,
            groups: 1,
        },
        &[0.0; 144],
        None,
    )
    .unwrap();
    let mut y = vec![0.0; 8];
    assert!(gemm(
        Isa::Portable,
        &conv,
        Act::None,
        2,
        &[0.0; 8],
        &mut y,
        None,
        0..2
    )
    .is_err());
    let b = pack_gemm_b(4, 4, &[0.0; 16], false, 1.0, None, 1.0).unwrap();
    assert!(gemm(
        Isa::Portable,
        &b,
        Act::None,
        3,
        &[0.0; 8],
        &mut y,
        None,
        0..3
    )
    .is_err());
    assert!(pack_gemm_b(4, 4, &[0.0; 15], false, 1.0, None, 1.0).is_err());
    assert!(pack_gemm_b(4, 4, &[0.0; 16], false, 1.0, Some(&[0.0; 3]), 1.0).is_err());
}

/// The extern "C" entry point computes the same rows as the wrapper.
#[test]
fn extern_gemm_matches_wrapper() {
    let (m, k, n) = (7, 33, 21);
    let mut rng = Rng::new(11);
    let a = rng.vec(m * k);
    let packed = pack_gemm_b(k, n, &rng.vec(k * n), false, 0.5, Some(&rng.vec(n)), 2.0).unwrap();
    let mut want = vec![0.0; m * n];
    gemm(
        Isa::detect(),
        &packed,
        Act::Relu,
        m,
        &a,
        &mut want,
        None,
        0..m,
    )
    .unwrap();
    let mut got = vec![0.0; m * n];
    let p = GemmParams {
        a: a.as_ptr(),
        lda: k,
        b_packed: packed.weights.as_ptr(),
        bias: packed.bias.as_ptr(),
        y: got.as_mut_ptr(),
        ldy: n,
        residual: std::ptr::null(),
        ldr: 0,
        m,
        k,
        n,
        activation: Act::Relu.to_c(),
        isa: ISA_AUTO,
        channel_slices: 1,
    };
    // SAFETY: a, got and the packed operand are sized for m × k · k × n.
    unsafe {
        bqml_gemm(&p, 0, 4);
        bqml_gemm(&p, 4, m);
    }
    assert_eq!(got, want);
}

/// A one-row Gemm (a classifier head) split into column slices: on every tier, the units
/// (slices × rows) called in pieces give the wrapper's result for that tier.
#[test]
fn extern_gemm_column_slices() {
    let (k, n) = (70, 230);
    let mut rng = Rng::new(12);
    let packed = pack_gemm_b(k, n, &rng.vec(k * n), false, 1.0, Some(&rng.vec(n)), 1.0).unwrap();
    for m in [1, 3] {
        let a = rng.vec(m * k);
        for isa in tiers("gemm") {
            let mut want = vec![0.0; m * n];
            gemm(isa, &packed, Act::None, m, &a, &mut want, None, 0..m).unwrap();
            for slices in [2, 4] {
                let mut got = vec![f32::NAN; m * n];
                let mut p = GemmParams::from_packed(&packed, m, Act::None);
                (p.a, p.y, p.isa, p.channel_slices) =
                    (a.as_ptr(), got.as_mut_ptr(), isa.code(), slices);
                // SAFETY: a, got and the packed operand are sized for m × k · k × n.
                unsafe {
                    bqml_gemm(&p, 0, 1);
                    bqml_gemm(&p, 1, slices * m - 1);
                    bqml_gemm(&p, slices * m - 1, slices * m);
                }
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
                        "{isa} m={m} {slices} slices: y[{i}] {g} vs {w}"
                    );
                }
            }
        }
    }
}
