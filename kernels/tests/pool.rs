//! Pooling (both ISAs) against the scalar reference.

mod common;

use common::{tiers, Rng, SENTINEL};
use kernels::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn pool_matches_reference(
        kind in prop_oneof![Just(POOL_MAX), Just(POOL_AVG_EXCLUDE_PAD), Just(POOL_AVG_INCLUDE_PAD)],
        (h, w, channels) in (1usize..=9, 1usize..=9, 1usize..=21),
        (kh, kw, sh, sw, dh, dw) in (1usize..=4, 1usize..=4, 1usize..=3, 1usize..=3, 1usize..=2, 1usize..=2),
        pads in prop::array::uniform4(0usize..=2),
        (extra_channels, channel_offset) in (0usize..=3, 0usize..=2),
        split in 0usize..=9,
        seed in any::<u64>(),
    ) {
        // ONNX requires pads smaller than the kernel.
        prop_assume!(pads[0] < kh && pads[2] < kh && pads[1] < kw && pads[3] < kw);
        let span_h = (kh - 1) * dh + 1;
        let span_w = (kw - 1) * dw + 1;
        prop_assume!(h + pads[0] + pads[2] >= span_h && w + pads[1] + pads[3] >= span_w);
        let out_h = (h + pads[0] + pads[2] - span_h) / sh + 1;
        let out_w = (w + pads[1] + pads[3] - span_w) / sw + 1;
        let mut rng = Rng::new(seed);
        let ps = channels + extra_channels + channel_offset;
        let buf = rng.vec(h * w * ps);
        let input = Nhwc { data: &buf, offset: channel_offset, row_stride: w * ps, pixel_stride: ps };
        let want = reference::pool2d(kind, &input, h, w, channels, out_h, out_w, [kh, kw], [sh, sw], [dh, dw], pads);
        let geo = PoolGeometry { kind, out_h, out_w, kernel: [kh, kw], stride: [sh, sw], dilation: [dh, dw], pads };
        for isa in tiers("pool") {
            let ops = channels + 1;
            let mut out = vec![SENTINEL; out_h * out_w * ops];
            let split = split.min(out_h);
            for rows in [0..split, split..out_h] {
                let view = NhwcMut { data: &mut out, offset: 1, row_stride: out_w * ops, pixel_stride: ops };
                pool2d(isa, &geo, channels, h, w, input, view, rows).unwrap();
            }
            for p in 0..out_h * out_w {
                prop_assert_eq!(out[p * ops], SENTINEL, "{:?} wrote outside the channel slice", isa);
                for c in 0..channels {
                    let (g, r) = (out[p * ops + 1 + c], want[p * channels + c]);
                    prop_assert!(g == r || (g - r).abs() <= 1e-5 * (1.0 + r.abs()) * (kh * kw) as f32,
                        "{:?} kind {} pixel {} channel {}: {} vs {}", isa, kind, p, c, g, r);
                }
            }
        }
    }
}

/// Global average / max pooling of a 7 × 7 × 37 map.
#[test]
fn global_pools() {
    let (h, w, c) = (7, 7, 37);
    let x = Rng::new(5).vec(h * w * c);
    for kind in [POOL_MAX, POOL_AVG_EXCLUDE_PAD] {
        let mut want = vec![0.0f32; c];
        for ch in 0..c {
            let vals = (0..h * w).map(|p| x[p * c + ch]);
            want[ch] = if kind == POOL_MAX {
                vals.fold(f32::NEG_INFINITY, f32::max)
            } else {
                vals.sum::<f32>() / (h * w) as f32
            };
        }
        for isa in tiers("pool") {
            let mut out = vec![0.0; c];
            pool2d(
                isa,
                &PoolGeometry::global(kind, h, w),
                c,
                h,
                w,
                Nhwc::dense(&x, w, c),
                NhwcMut::dense(&mut out, 1, c),
                0..1,
            )
            .unwrap();
            for ch in 0..c {
                assert!(
                    (out[ch] - want[ch]).abs() <= 1e-5,
                    "{isa:?} kind {kind} channel {ch}: {} vs {}",
                    out[ch],
                    want[ch]
                );
            }
        }
    }
}

/// count_include_pad changes the divisor only at the borders.
#[test]
fn average_pad_modes_differ_at_borders_only() {
    let x = vec![1.0f32; 4 * 4];
    let run = |kind| {
        let geo = PoolGeometry {
            kind,
            out_h: 4,
            out_w: 4,
            kernel: [3, 3],
            stride: [1, 1],
            dilation: [1, 1],
            pads: [1; 4],
        };
        let mut out = vec![0.0; 16];
        pool2d(
            Isa::detect(),
            &geo,
            1,
            4,
            4,
            Nhwc::dense(&x, 4, 1),
            NhwcMut::dense(&mut out, 4, 1),
            0..4,
        )
        .unwrap();
        out
    };
    let excl = run(POOL_AVG_EXCLUDE_PAD);
    let incl = run(POOL_AVG_INCLUDE_PAD);
    assert!(excl.iter().all(|&v| (v - 1.0).abs() < 1e-6));
    assert!((incl[0] - 4.0 / 9.0).abs() < 1e-6, "corner: {}", incl[0]);
    assert!((incl[1] - 6.0 / 9.0).abs() < 1e-6, "edge: {}", incl[1]);
    assert!((incl[5] - 1.0).abs() < 1e-6, "interior: {}", incl[5]);
}

/// Max pooling never lets the (virtual) padding win over negative inputs.
#[test]
fn max_pool_ignores_padding_for_negative_inputs() {
    let x = vec![-3.0f32; 5 * 5 * 2];
    let geo = PoolGeometry {
        kind: POOL_MAX,
        out_h: 3,
        out_w: 3,
        kernel: [3, 3],
        stride: [2, 2],
        dilation: [1, 1],
        pads: [1; 4],
    };
    for isa in tiers("pool") {
        let mut out = vec![0.0; 3 * 3 * 2];
        pool2d(
            isa,
            &geo,
            2,
            5,
            5,
            Nhwc::dense(&x, 5, 2),
            NhwcMut::dense(&mut out, 3, 2),
            0..3,
        )
        .unwrap();
        assert!(out.iter().all(|&v| v == -3.0), "{isa:?}: {out:?}");
    }
}

#[test]
fn pool_rejects_bad_geometry() {
    let x = vec![0.0f32; 16];
    let mut out = vec![0.0; 16];
    let geo = PoolGeometry {
        kind: 9,
        out_h: 4,
        out_w: 4,
        kernel: [1, 1],
        stride: [1, 1],
        dilation: [1, 1],
        pads: [0; 4],
    };
    assert!(pool2d(
        Isa::Portable,
        &geo,
        1,
        4,
        4,
        Nhwc::dense(&x, 4, 1),
        NhwcMut::dense(&mut out, 4, 1),
        0..4
    )
    .is_err());
    let geo = PoolGeometry {
        kind: POOL_MAX,
        ..geo
    };
    assert!(pool2d(
        Isa::Portable,
        &geo,
        1,
        5,
        4,
        Nhwc::dense(&x, 4, 1),
        NhwcMut::dense(&mut out, 4, 1),
        0..4
    )
    .is_err());
}

/// Regression (proptest): a dilated window can lie entirely in the padding; max gives -inf and
/// the average gives 0 on both ISAs, as in the reference.
#[test]
fn window_entirely_in_padding() {
    let x = [2.0f32, 3.0];
    for (kind, want) in [(POOL_MAX, f32::NEG_INFINITY), (POOL_AVG_EXCLUDE_PAD, 0.0)] {
        let geo = PoolGeometry {
            kind,
            out_h: 1,
            out_w: 1,
            kernel: [3, 2],
            stride: [1, 1],
            dilation: [1, 2],
            pads: [0, 1, 1, 1],
        };
        for isa in tiers("pool") {
            let mut out = [7.0f32];
            pool2d(
                isa,
                &geo,
                1,
                2,
                1,
                Nhwc::dense(&x, 1, 1),
                NhwcMut::dense(&mut out, 1, 1),
                0..1,
            )
            .unwrap();
            assert_eq!(out[0], want, "{isa:?} kind {kind}");
        }
    }
}
