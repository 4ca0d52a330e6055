//! Winograd F(4×4,3×3) and F(2×2,3×3) kernels (both ISAs) against the scalar reference.

mod common;

use common::{act_strategy, all_acts, assert_close, run_ranges, tiers, Rng, SENTINEL};
use kernels::reference;
use kernels::*;
use proptest::prelude::*;

/// One randomised 3×3 stride-1 problem inside larger buffers (margins, extra channels,
/// channel offsets), computed in two tile ranges split at `split`.
#[derive(Clone, Debug)]
struct Case {
    f: usize,
    cin: usize,
    cout: usize,
    oh: usize,
    ow: usize,
    act: Act,
    has_bias: bool,
    has_residual: bool,
    in_margin: [usize; 4],
    in_extra_channels: usize,
    out_margin: [usize; 4],
    out_extra_channels: usize,
    out_channel_offset: usize,
    split: usize,
    seed: u64,
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        prop_oneof![Just(4usize), Just(2usize)],
        (1usize..=40, 1usize..=40),
        (1usize..=13, 1usize..=13),
        act_strategy(),
        any::<(bool, bool)>(),
        prop::array::uniform4(0usize..=2),
        0usize..=3,
        prop::array::uniform4(0usize..=2),
        (0usize..=3, 0usize..=2),
        (0usize..=40, any::<u64>()),
    )
        .prop_map(
            |(
                f,
                (cin, cout),
                (oh, ow),
                act,
                (has_bias, has_residual),
                in_margin,
                in_extra_channels,
                out_margin,
                (out_extra_channels, out_channel_offset),
                (split, seed),
            )| Case {
                f,
                cin,
                cout,
                oh,
                ow,
                act,
                has_bias,
                has_residual,
                in_margin,
                in_extra_channels,
                out_margin,
                out_extra_channels,
                out_channel_offset,
                split,
                seed,
            },
        )
}

fn check(case: &Case, isa: Isa) {
    let shape = ConvShape {
        in_channels: case.cin,
        out_channels: case.cout,
        kernel_h: 3,
        kernel_w: 3,
        groups: 1,
    };
    let geo = ConvGeometry {
        out_h: case.oh,
        out_w: case.ow,
        stride_h: 1,
        stride_w: 1,
        dilation_h: 1,
        dilation_w: 1,
    };
    let mut rng = Rng::new(case.seed);
    let w = rng.vec(case.cout * case.cin * 9);
    let bias = case.has_bias.then(|| rng.vec(case.cout));
    let packed = pack_winograd(shape, &w, bias.as_deref(), case.f).unwrap();

    let [mt, ml, mb, mr] = case.in_margin;
    let (ih, iw) = (case.oh + 2 + mt + mb, case.ow + 2 + ml + mr);
    let ips = case.cin + case.in_extra_channels;
    // Margins hold garbage: the kernel must read only the receptive field.
    let input_buf = rng.vec(ih * iw * ips);
    let input = Nhwc {
        data: &input_buf,
        offset: (mt * iw + ml) * ips,
        row_stride: iw * ips,
        pixel_stride: ips,
    };
    let res_buf = rng.vec(case.oh * case.ow * (case.cout + 1));
    let residual = case.has_residual.then(|| Nhwc {
        data: &res_buf,
        offset: 0,
        row_stride: case.ow * (case.cout + 1),
        pixel_stride: case.cout + 1,
    });
    let [ot, ol, ob, or] = case.out_margin;
    let (oh, ow) = (case.oh + ot + ob, case.ow + ol + or);
    let ops = case.cout + case.out_extra_channels + case.out_channel_offset;
    let mut out_buf = vec![SENTINEL; oh * ow * ops];
    let out_offset = (ot * ow + ol) * ops + case.out_channel_offset;
    let tiles = winograd_units(packed.layout, case.oh, case.ow, case.cout);
    let split = case.split.min(tiles);
    for range in [0..split, split..tiles] {
        let out = NhwcMut {
            data: &mut out_buf,
            offset: out_offset,
            row_stride: ow * ops,
            pixel_stride: ops,
        };
        winograd_conv2d(isa, &packed, &geo, case.act, input, out, residual, range).unwrap();
    }
    let (want, mag) = reference::conv2d_halo(
        shape,
        &geo,
        &w,
        bias.as_deref(),
        &input,
        residual.as_ref(),
        case.act,
    );
    let mut got = Vec::with_capacity(want.len());
    for y in 0..oh {
        for x in 0..ow {
            for c in 0..ops {
                let v = out_buf[(y * ow + x) * ops + c];
                let inside = (ot..ot + case.oh).contains(&y)
                    && (ol..ol + case.ow).contains(&x)
                    && (case.out_channel_offset..case.out_channel_offset + case.cout).contains(&c);
                if inside {
                    got.push(v);
                } else {
                    assert_eq!(
                        v, SENTINEL,
                        "{isa:?}: wrote outside the output at {y},{x},{c}"
                    );
                }
            }
        }
    }
    assert_close(&got, &want, &mag, &format!("{isa:?} {case:?}"));
}

fn check_all_isas(case: &Case) {
    for isa in tiers("winograd") {
        check(case, isa);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn winograd_matches_reference(case in case_strategy()) {
        check_all_isas(&case);
    }
}

fn base(f: usize, cin: usize, cout: usize, oh: usize, ow: usize) -> Case {
    Case {
        f,
        cin,
        cout,
        oh,
        ow,
        act: Act::Relu,
        has_bias: true,
        has_residual: true,
        in_margin: [1, 0, 2, 1],
        in_extra_channels: 3,
        out_margin: [0, 1, 1, 0],
        out_extra_channels: 1,
        out_channel_offset: 2,
        split: 5,
        seed: 7,
    }
}

/// Every activation, both tile sizes, tails in channels and in both spatial axes.
#[test]
fn every_epilogue_both_tile_sizes() {
    for f in [4, 2] {
        for act in all_acts() {
            let mut case = base(f, 19, 35, 9, 7);
            case.act = act;
            check_all_isas(&case);
        }
    }
}

/// Blocks of several tiles (more tiles than one block holds) and reductions of hundreds of
/// channels, as in ResNet's wide layers; relative error stays ~1e-5 of the magnitude.
#[test]
fn many_tiles_and_wide_reductions() {
    check_all_isas(&base(4, 64, 48, 30, 29));
    check_all_isas(&base(4, 300, 20, 7, 7));
    check_all_isas(&base(2, 130, 33, 14, 14));
}

/// The AVX2 path agrees with the portable one to float rounding, and both stay within a
/// tight relative bound of an f64 reference at a ResNet-like shape.
#[test]
fn accuracy_against_f64() {
    let (cin, cout, n) = (64, 16, 12);
    let mut rng = Rng::new(3);
    let w = rng.vec(cout * cin * 9);
    let x = rng.vec((n + 2) * (n + 2) * cin);
    let shape = ConvShape {
        in_channels: cin,
        out_channels: cout,
        kernel_h: 3,
        kernel_w: 3,
        groups: 1,
    };
    let geo = ConvGeometry {
        out_h: n,
        out_w: n,
        stride_h: 1,
        stride_w: 1,
        dilation_h: 1,
        dilation_w: 1,
    };
    for f in [4, 2] {
        let packed = pack_winograd(shape, &w, None, f).unwrap();
        for isa in tiers("winograd") {
            let mut out = vec![0.0; n * n * cout];
            let tiles = winograd_units(packed.layout, n, n, cout);
            winograd_conv2d(
                isa,
                &packed,
                &geo,
                Act::None,
                Nhwc::dense(&x, n + 2, cin),
                NhwcMut::dense(&mut out, n, cout),
                None,
                0..tiles,
            )
            .unwrap();
            let mut worst = 0.0f64;
            for oy in 0..n {
                for ox in 0..n {
                    for o in 0..cout {
                        let (mut s, mut m) = (0.0f64, 0.0f64);
                        for c in 0..cin {
                            for ky in 0..3 {
                                for kx in 0..3 {
                                    let t = x[((oy + ky) * (n + 2) + ox + kx) * cin + c] as f64
                                        * w[((o * cin + c) * 3 + ky) * 3 + kx] as f64;
                                    s += t;
                                    m += t.abs();
                                }
                            }
                        }
                        let got = out[(oy * n + ox) * cout + o] as f64;
                        worst = worst.max((got - s).abs() / m);
                    }
                }
            }
            assert!(
                worst < 2e-6,
                "F({f}) {isa:?}: worst error {worst:e} of the magnitude"
            );
        }
    }
}

#[test]
fn rejects_non_winograd_shapes() {
    let shape = ConvShape {
        in_channels: 4,
        out_channels: 4,
        kernel_h: 1,
        kernel_w: 1,
        groups: 1,
    };
    assert!(pack_winograd(shape, &[0.0; 16], None, 4).is_err());
    let shape = ConvShape {
        kernel_h: 3,
        kernel_w: 3,
        groups: 2,
        ..shape
    };
    assert!(pack_winograd(shape, &[0.0; 72], None, 4).is_err());
    let shape = ConvShape { groups: 1, ..shape };
    assert!(pack_winograd(shape, &[0.0; 144], None, 3).is_err());
    let packed = pack_winograd(shape, &[0.0; 144], None, 4).unwrap();
    let geo = ConvGeometry {
        out_h: 4,
        out_w: 4,
        stride_h: 2,
        stride_w: 2,
        dilation_h: 1,
        dilation_w: 1,
    };
    assert!(!winograd_applies(&shape, &geo));
    let x = vec![0.0; 9 * 9 * 4];
    let mut y = vec![0.0; 4 * 4 * 4];
    let r = winograd_conv2d(
        Isa::Portable,
        &packed,
        &geo,
        Act::None,
        Nhwc::dense(&x, 9, 4),
        NhwcMut::dense(&mut y, 4, 4),
        None,
        0..1,
    );
    assert!(r.is_err());
}

/// A few-tile layer splits its work units by output-channel halves: disjoint unit ranges on
/// concurrent threads (2 and 3 of them, cutting inside a half) give bit-identical output to
/// one call over all units, with an in-place residual.
#[test]
fn concurrent_unit_ranges_match_one_call() {
    let (cin, cout, n) = (48, 70, 10);
    let shape = ConvShape {
        in_channels: cin,
        out_channels: cout,
        kernel_h: 3,
        kernel_w: 3,
        groups: 1,
    };
    let geo = ConvGeometry {
        out_h: n,
        out_w: n,
        stride_h: 1,
        stride_w: 1,
        dilation_h: 1,
        dilation_w: 1,
    };
    let mut rng = Rng::new(11);
    let w = rng.vec(cout * cin * 9);
    let bias = rng.vec(cout);
    let input = rng.vec((n + 2) * (n + 2) * cin);
    let start = rng.vec(n * n * cout);
    for f in [4, 2] {
        let packed = pack_winograd(shape, &w, Some(&bias), f).unwrap();
        let units = winograd_units(packed.layout, n, n, cout);
        let tiles = winograd_tiles(packed.layout, n, n);
        assert_eq!(
            units,
            2 * tiles,
            "F({f}): {tiles} tiles split by channel halves"
        );
        let run = |ranges: &[std::ops::Range<usize>]| {
            let mut out = start.clone();
            let mut p = ConvParams::from_packed(&packed, &geo, Act::Relu);
            p.input = input.as_ptr();
            p.in_row_stride = (n + 2) * cin;
            p.in_pixel_stride = cin;
            p.output = out.as_mut_ptr();
            p.out_row_stride = n * cout;
            p.out_pixel_stride = cout;
            p.residual = out.as_ptr();
            p.res_row_stride = n * cout;
            p.res_pixel_stride = cout;
            // SAFETY: buffers cover the layer; the unit ranges are disjoint.
            unsafe { run_ranges(&p, ranges, bqml_winograd) };
            out
        };
        let all = 0..units;
        let one = run(std::slice::from_ref(&all));
        assert_ne!(one, start);
        assert_eq!(run(&[0..tiles, tiles..units]), one, "F({f}) two threads");
        assert_eq!(
            run(&[0..tiles / 2, tiles / 2..tiles + 3, tiles + 3..units]),
            one,
            "F({f}) three threads"
        );
    }
}

/// Output channel counts around the AVX-512 two-panel GEMM tile (pairs, a lone full or
/// partial last panel, fewer than 16 channels) with input channel counts whose 16-wide
/// input transform has a tail (masked loads, and stores masked to the 8-padded `V` rows).
#[test]
fn odd_panels_and_channel_tails() {
    for f in [4, 2] {
        for (cin, cout) in [
            (8, 32),
            (24, 48),
            (33, 40),
            (5, 20),
            (17, 13),
            (40, 70),
            (16, 16),
        ] {
            let mut case = base(f, cin, cout, 9, 11);
            case.act = Act::HardSwish;
            check_all_isas(&case);
        }
    }
}

/// Tile counts that need several blocks and uneven GEMM row splits (F2 on 57×43: 638 tiles;
/// F4 on 26×50: 91 tiles), and a single tile.
#[test]
fn block_splits_and_single_tile() {
    check_all_isas(&base(2, 16, 32, 57, 43));
    check_all_isas(&base(4, 24, 36, 26, 50));
    check_all_isas(&base(4, 20, 18, 3, 4));
    check_all_isas(&base(2, 20, 18, 2, 1));
}

/// A pinned tier (`ConvParams::isa`) runs that tier's Winograd kernels through the extern "C"
/// entry point: the same output as the safe wrapper with that tier, bit for bit.
#[test]
fn pinned_tier_runs_that_tier() {
    let (cin, cout, n) = (20, 35, 10);
    let shape = ConvShape {
        in_channels: cin,
        out_channels: cout,
        kernel_h: 3,
        kernel_w: 3,
        groups: 1,
    };
    let geo = ConvGeometry {
        out_h: n,
        out_w: n,
        stride_h: 1,
        stride_w: 1,
        dilation_h: 1,
        dilation_w: 1,
    };
    let mut rng = Rng::new(5);
    let w = rng.vec(cout * cin * 9);
    let input = rng.vec((n + 2) * (n + 2) * cin);
    for f in [4, 2] {
        let packed = pack_winograd(shape, &w, None, f).unwrap();
        let units = winograd_units(packed.layout, n, n, cout);
        for isa in tiers("winograd") {
            let mut want = vec![0.0; n * n * cout];
            winograd_conv2d(
                isa,
                &packed,
                &geo,
                Act::Relu,
                Nhwc::dense(&input, n + 2, cin),
                NhwcMut::dense(&mut want, n, cout),
                None,
                0..units,
            )
            .unwrap();
            let mut got = vec![0.0; n * n * cout];
            let mut p = ConvParams::from_packed(&packed, &geo, Act::Relu);
            p.isa = isa.code();
            p.input = input.as_ptr();
            p.in_row_stride = (n + 2) * cin;
            p.in_pixel_stride = cin;
            p.output = got.as_mut_ptr();
            p.out_row_stride = n * cout;
            p.out_pixel_stride = cout;
            // SAFETY: buffers cover the layer and its receptive field.
            unsafe { bqml_winograd(&p, 0, units) };
            assert_eq!(got, want, "F({f}) {isa}");
        }
    }
}
