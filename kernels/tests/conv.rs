//! Convolution kernels (panels and depthwise, both ISAs) against the scalar reference.

mod common;

use common::{act_strategy, all_acts, assert_close, run_ranges, tiers, Rng, SENTINEL};
use kernels::reference;
use kernels::*;
use proptest::prelude::*;

/// One randomised convolution problem, laid out with halos, strides and channel offsets.
#[derive(Clone, Debug)]
struct Case {
    shape: ConvShape,
    geo: ConvGeometry,
    act: Act,
    has_bias: bool,
    has_residual: bool,
    /// Extra input rows/cols before the receptive-field origin and after its end.
    in_margin: [usize; 4],
    in_extra_channels: usize,
    in_channel_offset: usize,
    out_margin: [usize; 4],
    out_extra_channels: usize,
    out_channel_offset: usize,
    res_extra_channels: usize,
    split: usize,
    seed: u64,
}

fn geometry() -> impl Strategy<Value = (usize, usize, usize, usize, usize, usize, usize, usize)> {
    (
        1usize..=4,
        1usize..=5,
        1usize..=3,
        1usize..=3,
        1usize..=2,
        1usize..=2,
        1usize..=5,
        1usize..=9,
    )
}

fn case_strategy() -> impl Strategy<Value = Case> {
    let channels = prop_oneof![
        // general grouped / dense
        (1usize..=3, 1usize..=6, 1usize..=20).prop_map(|(g, i, o)| (g, g * i, g * o)),
        // depthwise
        (1usize..=20).prop_map(|c| (c.max(2), c.max(2), c.max(2))),
        // dense with more input channels
        (1usize..=40, 1usize..=40).prop_map(|(i, o)| (1, i, o)),
    ];
    (
        channels,
        geometry(),
        act_strategy(),
        any::<(bool, bool)>(),
        prop::array::uniform4(0usize..=2),
        (0usize..=3, 0usize..=2),
        prop::array::uniform4(0usize..=2),
        (0usize..=3, 0usize..=2, 0usize..=2),
        (0usize..=6, any::<u64>()),
    )
        .prop_map(
            |(
                (groups, cin, cout),
                (kh, kw, sh, sw, dh, dw, oh, ow),
                act,
                (has_bias, has_residual),
                in_margin,
                (in_extra, in_off),
                out_margin,
                (out_extra, out_off, res_extra),
                (split, seed),
            )| Case {
                shape: ConvShape {
                    in_channels: cin,
                    out_channels: cout,
                    kernel_h: kh,
                    kernel_w: kw,
                    groups,
                },
                geo: ConvGeometry {
                    out_h: oh,
                    out_w: ow,
                    stride_h: sh,
                    stride_w: sw,
                    dilation_h: dh,
                    dilation_w: dw,
                },
                act,
                has_bias,
                has_residual,
                in_margin,
                in_extra_channels: in_extra,
                in_channel_offset: in_off,
                out_margin,
                out_extra_channels: out_extra,
                out_channel_offset: out_off,
                res_extra_channels: res_extra,
                split: split.min(oh),
                seed,
            },
        )
}

/// Run `case` with `isa` (two calls split at `case.split` rows) and compare with the reference;
/// also check that nothing outside the output box was written.
fn check(case: &Case, isa: Isa) {
    let s = case.shape;
    let g = &case.geo;
    let mut rng = Rng::new(case.seed);
    let w = rng.vec(s.out_channels * s.in_per_group() * s.kernel_h * s.kernel_w);
    let bias = case.has_bias.then(|| rng.vec(s.out_channels));
    let packed = pack_conv(s, &w, bias.as_deref()).unwrap();

    let (eh, ew) = g.input_extent(s.kernel_h, s.kernel_w);
    let [mt, ml, mb, mr] = case.in_margin;
    let (ih, iw) = (eh + mt + mb, ew + ml + mr);
    let ips = s.in_channels + case.in_extra_channels + case.in_channel_offset;
    let input_buf = rng.vec(ih * iw * ips);
    let input = Nhwc {
        data: &input_buf,
        offset: (mt * iw + ml) * ips + case.in_channel_offset,
        row_stride: iw * ips,
        pixel_stride: ips,
    };

    let rps = s.out_channels + case.res_extra_channels;
    let res_buf = rng.vec(g.out_h * g.out_w * rps);
    let residual = case.has_residual.then(|| Nhwc {
        data: &res_buf,
        offset: 0,
        row_stride: g.out_w * rps,
        pixel_stride: rps,
    });

    let [ot, ol, ob, or] = case.out_margin;
    let (oh, ow) = (g.out_h + ot + ob, g.out_w + ol + or);
    let ops = s.out_channels + case.out_extra_channels + case.out_channel_offset;
    let mut out_buf = vec![SENTINEL; oh * ow * ops];
    let out_offset = (ot * ow + ol) * ops + case.out_channel_offset;
    for rows in [0..case.split, case.split..g.out_h] {
        let out = NhwcMut {
            data: &mut out_buf,
            offset: out_offset,
            row_stride: ow * ops,
            pixel_stride: ops,
        };
        conv2d(isa, &packed, g, case.act, input, out, residual, rows).unwrap();
    }

    let (want, mag) = reference::conv2d_halo(
        s,
        g,
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
                let inside = (ot..ot + g.out_h).contains(&y)
                    && (ol..ol + g.out_w).contains(&x)
                    && (case.out_channel_offset..case.out_channel_offset + s.out_channels)
                        .contains(&c);
                if inside {
                    got.push(v);
                } else {
                    assert_eq!(
                        v, SENTINEL,
                        "{isa:?}: wrote outside the output box at {y},{x},{c}"
                    );
                }
            }
        }
    }
    assert_close(&got, &want, &mag, &format!("{isa:?} {case:?}"));
}

fn check_all_isas(case: &Case) {
    for isa in tiers("conv") {
        check(case, isa);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn conv_matches_reference(case in case_strategy()) {
        check_all_isas(&case);
    }

    /// The halo convention reproduces ONNX padding, including asymmetric pads.
    #[test]
    fn halo_reproduces_onnx_padding(
        (groups, icg, ocg) in (1usize..=2, 1usize..=5, 1usize..=18),
        (kh, kw, sh, sw, dh, dw) in (1usize..=3, 1usize..=3, 1usize..=2, 1usize..=2, 1usize..=2, 1usize..=2),
        (h, w) in (1usize..=7, 1usize..=7),
        pads in prop::array::uniform4(0usize..=2),
        seed in any::<u64>(),
    ) {
        let shape = ConvShape { in_channels: groups * icg, out_channels: groups * ocg, kernel_h: kh, kernel_w: kw, groups };
        prop_assume!(h + pads[0] + pads[2] > (kh - 1) * dh && w + pads[1] + pads[3] > (kw - 1) * dw);
        let mut rng = Rng::new(seed);
        let weights = rng.vec(shape.out_channels * icg * kh * kw);
        let bias = rng.vec(shape.out_channels);
        let x = rng.vec(h * w * shape.in_channels);
        let (oh, ow, want) = reference::conv2d_padded(shape, &weights, Some(&bias), &x, h, w, pads, [sh, sw], [dh, dw]);
        // Haloed copy: pads[..] zero rows/cols around the image, plus 1 spare on each side.
        let (hh, hw) = (h + pads[0] + pads[2] + 2, w + pads[1] + pads[3] + 2);
        let c = shape.in_channels;
        let mut haloed = vec![0.0; hh * hw * c];
        for y in 0..h {
            for xx in 0..w {
                let dst = ((y + pads[0] + 1) * hw + xx + pads[1] + 1) * c;
                haloed[dst..dst + c].copy_from_slice(&x[(y * w + xx) * c..][..c]);
            }
        }
        let packed = pack_conv(shape, &weights, Some(&bias)).unwrap();
        let geo = ConvGeometry { out_h: oh, out_w: ow, stride_h: sh, stride_w: sw, dilation_h: dh, dilation_w: dw };
        let input = Nhwc { data: &haloed, offset: (hw + 1) * c, row_stride: hw * c, pixel_stride: c };
        for isa in tiers("conv") {
            let mut out = vec![0.0; oh * ow * shape.out_channels];
            conv2d(isa, &packed, &geo, Act::None, input, NhwcMut::dense(&mut out, ow, shape.out_channels), None, 0..oh).unwrap();
            for (i, (g, r)) in out.iter().zip(&want).enumerate() {
                prop_assert!((g - r).abs() <= 1e-4 * (1.0 + r.abs()) * (icg * kh * kw) as f32, "{isa:?} element {i}: {g} vs {r}");
            }
        }
    }
}

fn base_case(shape: ConvShape, geo: ConvGeometry) -> Case {
    Case {
        shape,
        geo,
        act: Act::None,
        has_bias: true,
        has_residual: true,
        in_margin: [1, 1, 1, 1],
        in_extra_channels: 1,
        in_channel_offset: 1,
        out_margin: [1, 0, 0, 1],
        out_extra_channels: 2,
        out_channel_offset: 1,
        res_extra_channels: 1,
        split: geo.out_h / 2,
        seed: 42,
    }
}

fn geo(out: usize, stride: usize) -> ConvGeometry {
    ConvGeometry {
        out_h: out,
        out_w: out,
        stride_h: stride,
        stride_w: stride,
        dilation_h: 1,
        dilation_w: 1,
    }
}

/// Every activation through every kernel family (dense 3×3, 1×1, depthwise, 3-channel stem).
#[test]
fn every_epilogue_on_every_family() {
    let shapes = [
        ConvShape {
            in_channels: 8,
            out_channels: 20,
            kernel_h: 3,
            kernel_w: 3,
            groups: 1,
        },
        ConvShape {
            in_channels: 17,
            out_channels: 33,
            kernel_h: 1,
            kernel_w: 1,
            groups: 1,
        },
        ConvShape {
            in_channels: 13,
            out_channels: 13,
            kernel_h: 5,
            kernel_w: 5,
            groups: 13,
        },
        ConvShape {
            in_channels: 3,
            out_channels: 16,
            kernel_h: 7,
            kernel_w: 7,
            groups: 1,
        },
    ];
    for shape in shapes {
        for act in all_acts() {
            let mut case = base_case(shape, geo(7, 2));
            case.act = act;
            check_all_isas(&case);
        }
    }
}

/// Real first-layer shapes with dense input pixels (the merged-run path): ResNet 7×7/2 and
/// EfficientNet 3×3/2, on a cropped output.
#[test]
fn stem_layers_dense_input() {
    for (k, oc) in [(7, 64), (3, 32)] {
        let shape = ConvShape {
            in_channels: 3,
            out_channels: oc,
            kernel_h: k,
            kernel_w: k,
            groups: 1,
        };
        let mut case = base_case(shape, geo(9, 2));
        case.in_extra_channels = 0;
        case.in_channel_offset = 0;
        case.act = Act::Relu;
        check_all_isas(&case);
    }
}

/// Larger reduction (K = 9 × 64) with tails in both pixels (7×7 = 49) and channels (OC = 72).
#[test]
fn deep_reduction_with_tails() {
    let shape = ConvShape {
        in_channels: 64,
        out_channels: 72,
        kernel_h: 3,
        kernel_w: 3,
        groups: 1,
    };
    check_all_isas(&base_case(shape, geo(7, 1)));
}

/// Reductions longer than one K-chunk (256 values), with chunk edges falling inside tap runs:
/// runs of 100 channels (not merged: the input pixels have a spare channel) and of 3 × 150
/// (merged: dense pixels).
#[test]
fn k_chunked_reductions() {
    let shape = ConvShape {
        in_channels: 100,
        out_channels: 20,
        kernel_h: 3,
        kernel_w: 3,
        groups: 1,
    };
    check_all_isas(&base_case(shape, geo(5, 1)));
    let shape = ConvShape {
        in_channels: 150,
        out_channels: 17,
        kernel_h: 3,
        kernel_w: 3,
        groups: 1,
    };
    let mut case = base_case(shape, geo(4, 2));
    case.in_extra_channels = 0;
    case.in_channel_offset = 0;
    case.act = Act::Silu;
    check_all_isas(&case);
}

/// A single output pixel with ≥ 4 panels per group takes the 4-panel (GEMV) path; with two
/// groups, a residual and a partial last panel.
#[test]
fn single_pixel_wide_groups() {
    let shape = ConvShape {
        in_channels: 10,
        out_channels: 2 * 70,
        kernel_h: 3,
        kernel_w: 3,
        groups: 2,
    };
    let mut case = base_case(shape, geo(1, 1));
    case.act = Act::HardSwish;
    check_all_isas(&case);
    let shape = ConvShape {
        in_channels: 33,
        out_channels: 64,
        kernel_h: 1,
        kernel_w: 1,
        groups: 1,
    };
    check_all_isas(&base_case(shape, geo(1, 1)));
}

/// Channel multiplier 2 (groups == in channels but not out channels) uses the grouped path.
/// Depthwise layers wide enough for several channel chunks of the AVX-512 column walk
/// (3×3: 128 channels a chunk; 5×5/2: 64) with an odd block at the end, maps wider than one
/// 14-pixel tile, and a row split between two calls; at stride 1 the register-reuse tiles
/// (5×5 at 23 = 12 + 11 pixels and at 6, 17 channels: a pair and a 1-channel block). Each
/// with and without a residual, through the in-line epilogues (clip, HardSwish) and the
/// general one (sigmoid).
#[test]
fn depthwise_channel_chunks_and_tile_columns() {
    for (c, k, stride, out) in [
        (296, 3, 1, 17),
        (200, 5, 2, 15),
        (24, 3, 2, 29),
        (40, 5, 1, 23),
        (17, 5, 1, 6),
        (17, 3, 1, 14),
    ] {
        let shape = ConvShape {
            in_channels: c,
            out_channels: c,
            kernel_h: k,
            kernel_w: k,
            groups: c,
        };
        for act in [
            Act::HardSwish,
            Act::Clip {
                min: -0.5,
                max: 0.5,
            },
            Act::Sigmoid,
        ] {
            for has_residual in [true, false] {
                let mut case = base_case(shape, geo(out, stride));
                case.act = act;
                case.has_residual = has_residual;
                check_all_isas(&case);
            }
        }
    }
}

/// Odd panel counts (48, 80, 112 output channels; 44 and 40 = a partial third panel, wider and
/// narrower than 8 channels) run one three-panel tile first on the AVX-512 tier: short and K-chunked reductions (1×1 × 40 and
/// 3×3 × 300 inputs), clamp and general epilogues (HardSwish, SiLU), with and without a
/// residual.
#[test]
fn odd_panel_counts_use_three_panel_tiles() {
    for (cin, cout, k) in [
        (40, 48, 1),
        (40, 80, 1),
        (300, 44, 3),
        (300, 112, 3),
        (40, 112, 1),
    ] {
        let shape = ConvShape {
            in_channels: cin,
            out_channels: cout,
            kernel_h: k,
            kernel_w: k,
            groups: 1,
        };
        for act in [Act::Relu, Act::HardSwish, Act::Silu] {
            for has_residual in [true, false] {
                let mut case = base_case(shape, geo(5, 1));
                case.act = act;
                case.has_residual = has_residual;
                check_all_isas(&case);
            }
        }
    }
}

#[test]
fn depthwise_multiplier_two_uses_panels() {
    let shape = ConvShape {
        in_channels: 6,
        out_channels: 12,
        kernel_h: 3,
        kernel_w: 3,
        groups: 6,
    };
    let packed = pack_conv(shape, &vec![0.5; 12 * 9], None).unwrap();
    assert_eq!(packed.layout, LAYOUT_PANELS);
    check_all_isas(&base_case(shape, geo(5, 1)));
}

#[test]
fn depthwise_shape_gets_depthwise_layout() {
    let shape = ConvShape {
        in_channels: 12,
        out_channels: 12,
        kernel_h: 3,
        kernel_w: 3,
        groups: 12,
    };
    let packed = pack_conv(shape, &vec![0.5; 12 * 9], None).unwrap();
    assert_eq!(packed.layout, LAYOUT_DEPTHWISE);
    assert_eq!(packed.weights.len(), 2 * 9 * DW_BLOCK);
}

#[test]
fn wrapper_rejects_short_buffers() {
    let shape = ConvShape {
        in_channels: 4,
        out_channels: 4,
        kernel_h: 3,
        kernel_w: 3,
        groups: 1,
    };
    let packed = pack_conv(shape, &[0.0; 4 * 4 * 9], None).unwrap();
    let g = geo(4, 1);
    let input = vec![0.0; 5 * 6 * 4]; // needs 6 × 6 × 4
    let mut out = vec![0.0; 4 * 4 * 4];
    let err = conv2d(
        Isa::Portable,
        &packed,
        &g,
        Act::None,
        Nhwc::dense(&input, 6, 4),
        NhwcMut::dense(&mut out, 4, 4),
        None,
        0..4,
    );
    assert!(err.is_err());
    let input = vec![0.0; 6 * 6 * 4];
    let err = conv2d(
        Isa::Portable,
        &packed,
        &g,
        Act::None,
        Nhwc::dense(&input, 6, 4),
        NhwcMut::dense(&mut out, 4, 4),
        None,
        0..5,
    );
    assert!(err.is_err(), "row range past out_h must be rejected");
}

#[test]
fn pack_rejects_bad_shapes() {
    let bad = ConvShape {
        in_channels: 5,
        out_channels: 4,
        kernel_h: 3,
        kernel_w: 3,
        groups: 2,
    };
    assert!(pack_conv(bad, &[0.0; 90], None).is_err());
    let ok = ConvShape {
        in_channels: 4,
        out_channels: 4,
        kernel_h: 1,
        kernel_w: 1,
        groups: 1,
    };
    assert!(pack_conv(ok, &[0.0; 15], None).is_err());
    assert!(pack_conv(ok, &[0.0; 16], Some(&[0.0; 3])).is_err());
}

/// The extern "C" entry point agrees with the safe wrapper (it uses the detected ISA).
#[test]
fn extern_entry_point_matches_wrapper() {
    let shape = ConvShape {
        in_channels: 5,
        out_channels: 19,
        kernel_h: 3,
        kernel_w: 3,
        groups: 1,
    };
    let mut rng = Rng::new(7);
    let w = rng.vec(19 * 5 * 9);
    let packed = pack_conv(shape, &w, None).unwrap();
    let g = geo(6, 1);
    let input = rng.vec(8 * 8 * 5);
    let mut want = vec![0.0; 6 * 6 * 19];
    conv2d(
        Isa::detect(),
        &packed,
        &g,
        Act::Silu,
        Nhwc::dense(&input, 8, 5),
        NhwcMut::dense(&mut want, 6, 19),
        None,
        0..6,
    )
    .unwrap();
    let mut got = vec![0.0; 6 * 6 * 19];
    let mut p = ConvParams::from_packed(&packed, &g, Act::Silu);
    p.input = input.as_ptr();
    p.in_row_stride = 8 * 5;
    p.in_pixel_stride = 5;
    p.output = got.as_mut_ptr();
    p.out_row_stride = 6 * 19;
    p.out_pixel_stride = 19;
    // SAFETY: buffers sized for the 6×6 output and its 8×8 receptive field.
    unsafe {
        bqml_conv2d(&p, 0, 3);
        bqml_conv2d(&p, 3, 6);
    }
    assert_eq!(got, want);
}

#[test]
fn tiers_are_consistent() {
    let isas = tiers("conv");
    assert_eq!(isas[0], Isa::Portable);
    assert_eq!(isas.contains(&Isa::Avx2Fma), Isa::avx2_fma_available());
    assert_eq!(isas.contains(&Isa::Avx512), Isa::avx512_available());
    assert!(!Isa::avx512_available() || Isa::avx2_fma_available());
    assert_eq!(
        Isa::detect(),
        *isas.last().unwrap(),
        "detect picks the best tier"
    );
    for isa in Isa::ALL {
        assert_eq!(isa.is_available(), isas.contains(&isa));
        assert_eq!(isa.name().parse::<Isa>().unwrap(), isa);
        assert_eq!(isa.to_string(), isa.name());
        assert_eq!(Isa::from_code(isa.code()), Some(isa));
        assert_ne!(isa.code(), ISA_AUTO);
        let want = if isa.is_available() {
            isa
        } else {
            Isa::Portable
        };
        assert_eq!(isa.or_portable(), want);
    }
    assert_eq!("AVX512".parse::<Isa>().unwrap(), Isa::Avx512);
    assert!("avx2fma".parse::<Isa>().is_err());
    assert!("sse".parse::<Isa>().is_err());
    assert_eq!(Isa::from_code(ISA_AUTO), None);
    assert_eq!(
        [ISA_PORTABLE, ISA_AVX2, ISA_AVX512].map(Isa::from_code),
        [Some(Isa::Portable), Some(Isa::Avx2Fma), Some(Isa::Avx512)]
    );
}

/// `ConvParams::from_packed` leaves the tier to run-time detection; a pinned tier runs that
/// tier's kernels through the extern "C" entry point (the same results as the safe wrapper
/// with that tier, bit for bit).
#[test]
fn pinned_tier_runs_that_tier() {
    let shape = ConvShape {
        in_channels: 7,
        out_channels: 45,
        kernel_h: 3,
        kernel_w: 3,
        groups: 1,
    };
    let mut rng = Rng::new(11);
    let packed = pack_conv(shape, &rng.vec(45 * 7 * 9), Some(&rng.vec(45))).unwrap();
    let g = geo(9, 1);
    let input = rng.vec(11 * 11 * 7);
    let mut p = ConvParams::from_packed(&packed, &g, Act::Relu);
    assert_eq!(p.isa, ISA_AUTO);
    for isa in tiers("conv") {
        let mut want = vec![0.0; 9 * 9 * 45];
        conv2d(
            isa,
            &packed,
            &g,
            Act::Relu,
            Nhwc::dense(&input, 11, 7),
            NhwcMut::dense(&mut want, 9, 45),
            None,
            0..9,
        )
        .unwrap();
        let mut got = vec![0.0; 9 * 9 * 45];
        p.isa = isa.code();
        p.input = input.as_ptr();
        p.in_row_stride = 11 * 7;
        p.in_pixel_stride = 7;
        p.output = got.as_mut_ptr();
        p.out_row_stride = 9 * 45;
        p.out_pixel_stride = 45;
        // SAFETY: buffers sized for the 9×9 output and its 11×11 receptive field.
        unsafe { bqml_conv2d(&p, 0, 9) };
        assert_eq!(got, want, "{isa}");
    }
}

/// Environment variable that makes [`pinned_tier_abort_child`] run its aborting call.
const ABORT_CHILD: &str = "BQML_TEST_PINNED_TIER_CHILD";

/// Run only as a child of [`bad_tier_aborts_naming_it`]: calls `bqml_conv2d` with the tier code
/// in [`ABORT_CHILD`], which must abort before computing anything.
#[test]
fn pinned_tier_abort_child() {
    let Ok(code) = std::env::var(ABORT_CHILD) else {
        return;
    };
    let shape = ConvShape {
        in_channels: 1,
        out_channels: 1,
        kernel_h: 1,
        kernel_w: 1,
        groups: 1,
    };
    let packed = pack_conv(shape, &[1.0], None).unwrap();
    let (input, mut out) = ([1.0f32], [0.0f32]);
    let mut p = ConvParams::from_packed(&packed, &geo(1, 1), Act::None);
    p.isa = code.parse().unwrap();
    p.input = input.as_ptr();
    p.output = out.as_mut_ptr();
    // SAFETY: buffers cover the 1×1 layer.
    unsafe { bqml_conv2d(&p, 0, 1) };
    println!("computed {}", out[0]);
}

/// An unknown tier code, and a pinned tier this CPU lacks (when there is one), abort the
/// process with a message naming it instead of running.
#[test]
fn bad_tier_aborts_naming_it() {
    let mut cases = vec![(99, "unknown kernel tier code 99".to_string())];
    match Isa::ALL.into_iter().find(|i| !i.is_available()) {
        Some(isa) => cases.push((isa.code(), format!("compiled for the {} kernel tier", isa))),
        None => eprintln!("conv: every tier is available; the missing-tier abort is not exercised"),
    }
    for (code, msg) in cases {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "pinned_tier_abort_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ABORT_CHILD, code.to_string())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !out.status.success(),
            "code {code}: child succeeded: {stdout}"
        );
        assert!(stderr.contains(&msg), "code {code}: stderr {stderr}");
        assert!(!stdout.contains("computed"), "code {code}: ran the conv");
    }
}

/// Two threads splitting one layer by rows through the extern "C" entry point give the same
/// result as one call.
#[test]
fn two_threads_split_rows() {
    let shape = ConvShape {
        in_channels: 24,
        out_channels: 40,
        kernel_h: 3,
        kernel_w: 3,
        groups: 1,
    };
    let mut rng = Rng::new(9);
    let packed = pack_conv(shape, &rng.vec(40 * 24 * 9), Some(&rng.vec(40))).unwrap();
    let g = geo(13, 1);
    let input = rng.vec(15 * 15 * 24);
    let mut want = vec![0.0; 13 * 13 * 40];
    conv2d(
        Isa::detect(),
        &packed,
        &g,
        Act::Relu,
        Nhwc::dense(&input, 15, 24),
        NhwcMut::dense(&mut want, 13, 40),
        None,
        0..13,
    )
    .unwrap();
    let mut got = vec![0.0; 13 * 13 * 40];
    let mut p = ConvParams::from_packed(&packed, &g, Act::Relu);
    p.input = input.as_ptr();
    p.in_row_stride = 15 * 24;
    p.in_pixel_stride = 24;
    p.output = got.as_mut_ptr();
    p.out_row_stride = 13 * 40;
    p.out_pixel_stride = 40;
    // SAFETY: buffers cover the layer; the two row ranges are disjoint.
    unsafe { run_ranges(&p, &[0..7, 7..13], bqml_conv2d) };
    assert_eq!(got, want);
}

/// The residual may alias the output (in-place accumulate) through the extern entry point,
/// for the K-chunked panel path and the depthwise path.
#[test]
fn residual_in_place() {
    for (shape, out) in [
        (
            ConvShape {
                in_channels: 300,
                out_channels: 21,
                kernel_h: 3,
                kernel_w: 3,
                groups: 1,
            },
            4,
        ),
        (
            ConvShape {
                in_channels: 19,
                out_channels: 19,
                kernel_h: 3,
                kernel_w: 3,
                groups: 19,
            },
            9,
        ),
    ] {
        let mut rng = Rng::new(21);
        let w = rng.vec(shape.out_channels * shape.in_per_group() * 9);
        let packed = pack_conv(shape, &w, None).unwrap();
        let g = geo(out, 1);
        let c = shape.in_channels;
        let oc = shape.out_channels;
        let input = rng.vec((out + 2) * (out + 2) * c);
        let y0 = rng.vec(out * out * oc);
        let isa = Isa::detect();
        let mut want = vec![0.0; out * out * oc];
        conv2d(
            isa,
            &packed,
            &g,
            Act::Relu,
            Nhwc::dense(&input, out + 2, c),
            NhwcMut::dense(&mut want, out, oc),
            Some(Nhwc::dense(&y0, out, oc)),
            0..out,
        )
        .unwrap();
        let mut y = y0.clone();
        let mut p = ConvParams::from_packed(&packed, &g, Act::Relu);
        p.input = input.as_ptr();
        p.in_row_stride = (out + 2) * c;
        p.in_pixel_stride = c;
        p.output = y.as_mut_ptr();
        p.out_row_stride = out * oc;
        p.out_pixel_stride = oc;
        p.residual = p.output;
        p.res_row_stride = out * oc;
        p.res_pixel_stride = oc;
        // SAFETY: buffers cover the layer; output and residual alias by design.
        unsafe { bqml_conv2d(&p, 0, out) };
        assert_eq!(y, want, "{shape:?}");
    }
}

fn dense(cin: usize, cout: usize, k: usize) -> ConvShape {
    ConvShape {
        in_channels: cin,
        out_channels: cout,
        kernel_h: k,
        kernel_w: k,
        groups: 1,
    }
}

/// Output channel counts around the AVX-512 two-panel tile: whole pairs, a pair plus a full
/// odd panel, a pair plus a narrow (≤ 8) or wider partial panel, a partial second panel of a
/// pair; with two groups so the panel index restarts per group.
#[test]
fn odd_panel_counts_and_partial_panels() {
    for oc in [32, 48, 40, 47, 20, 31, 64, 80, 81] {
        check_all_isas(&base_case(dense(9, oc, 3), geo(6, 1)));
        let grouped = ConvShape {
            in_channels: 2 * 5,
            out_channels: 2 * oc,
            kernel_h: 3,
            kernel_w: 3,
            groups: 2,
        };
        check_all_isas(&base_case(grouped, geo(5, 1)));
    }
}

/// Fewer than 16 output channels: one (masked) panel, through the 8-wide tile (≤ 8) or the
/// one-panel zmm tile (9..15).
#[test]
fn narrow_outputs_below_16_channels() {
    for oc in [1, 3, 8, 9, 13, 15] {
        let mut case = base_case(dense(11, oc, 3), geo(7, 1));
        case.act = Act::LeakyRelu { alpha: 0.1 };
        check_all_isas(&case);
    }
}

/// One output pixel: the four-panel GEMV tile then the leftover panels (a pair, a lone
/// panel), and layers with fewer than four panels that take the register tile with M = 1.
#[test]
fn single_pixel_odd_panels() {
    for oc in [16, 24, 48, 64, 80, 96, 100, 7] {
        let mut case = base_case(dense(37, oc, 3), geo(1, 1));
        case.act = Act::Relu;
        check_all_isas(&case);
    }
}

/// Reductions longer than 512 split into K-chunks (128 long on the AVX-512 tier, 256 on AVX2)
/// with chunk edges inside tap runs: unmerged runs of 100 channels (K = 900), merged runs of
/// 3 × 200 (K = 1800), and a 1×1 with K = 700; pairs, a lone panel and a narrow panel.
#[test]
fn k_chunked_reductions_over_512() {
    for oc in [32, 48, 40] {
        check_all_isas(&base_case(dense(100, oc, 3), geo(5, 1)));
        let mut case = base_case(dense(200, oc, 3), geo(4, 1));
        case.in_extra_channels = 0;
        case.in_channel_offset = 0;
        case.act = Act::Clip {
            min: -0.5,
            max: 2.0,
        };
        check_all_isas(&case);
        let mut case = base_case(dense(700, oc, 1), geo(3, 2));
        case.act = Act::Sigmoid;
        check_all_isas(&case);
    }
}

/// Residual plus every activation on a layer whose tiles are two-panel, one-panel and
/// narrow, with the output written into a channel slice of a wider buffer.
#[test]
fn residual_and_activation_on_pair_tiles() {
    for act in all_acts() {
        let mut case = base_case(dense(24, 45, 3), geo(9, 1));
        case.act = act;
        case.out_extra_channels = 5;
        case.out_channel_offset = 3;
        case.res_extra_channels = 2;
        check_all_isas(&case);
    }
}

/// Pixel counts around the AVX-512 tile (12) and block (96) sizes: a call's pixels split into
/// equal blocks and each block into equal tiles of up to 12, including ranges that start
/// mid-layer (two calls split at a row).
#[test]
fn pixel_counts_around_tile_and_block_sizes() {
    for (oh, ow) in [
        (1, 11),
        (1, 13),
        (2, 12),
        (5, 5),
        (1, 97),
        (10, 11),
        (14, 14),
        (13, 15),
    ] {
        let mut case = base_case(dense(6, 34, 3), geo(1, 1));
        case.geo.out_h = oh;
        case.geo.out_w = ow;
        case.split = oh / 2;
        case.act = Act::HardSwish;
        check_all_isas(&case);
    }
}

/// Whole panels with a clamp activation (none, ReLU, clip) finish straight from the AVX-512
/// registers: with and without a residual, a lone last panel, and after K-chunks.
#[test]
fn clamp_epilogue_from_registers() {
    let acts = [
        Act::None,
        Act::Relu,
        Act::Clip {
            min: -0.25,
            max: 0.5,
        },
    ];
    for act in acts {
        for residual in [false, true] {
            for (cin, oc) in [(7, 32), (7, 48), (300, 64)] {
                let mut case = base_case(dense(cin, oc, 3), geo(5, 1));
                case.act = act;
                case.has_residual = residual;
                check_all_isas(&case);
            }
        }
    }
}

/// Output-channel slices (`ConvParams::channel_slices`): the work units are rows × slices,
/// slice-major. On every tier, concurrent calls over disjoint unit ranges (cut inside a slice,
/// across slices, and one thread for all) match the safe wrapper's single pass, for a
/// K-chunked 3×3 layer with a partial last panel, two groups, a one-pixel layer (the GEMV
/// tile) and a depthwise layer, with 2, 3 and 4 slices.
#[test]
fn channel_slices_split_work_units() {
    let cases = [
        // (shape, out side, stride)
        (
            ConvShape {
                in_channels: 300,
                out_channels: 150,
                kernel_h: 3,
                kernel_w: 3,
                groups: 1,
            },
            5,
            1,
        ),
        (
            ConvShape {
                in_channels: 40,
                out_channels: 132,
                kernel_h: 3,
                kernel_w: 3,
                groups: 2,
            },
            4,
            2,
        ),
        (
            ConvShape {
                in_channels: 96,
                out_channels: 200,
                kernel_h: 1,
                kernel_w: 1,
                groups: 1,
            },
            1,
            1,
        ),
        // Depthwise: slices of 8-channel blocks, the last one partial.
        (
            ConvShape {
                in_channels: 140,
                out_channels: 140,
                kernel_h: 5,
                kernel_w: 5,
                groups: 140,
            },
            3,
            2,
        ),
    ];
    let mut rng = Rng::new(17);
    for (shape, out, stride) in cases {
        let cout = shape.out_channels;
        let (w, bias) = (rng.vec(cout * shape.k()), rng.vec(cout));
        let packed = pack_conv(shape, &w, Some(&bias)).unwrap();
        let g = geo(out, stride);
        let (ih, iw) = g.input_extent(shape.kernel_h, shape.kernel_w);
        let cin = shape.in_channels;
        let input = rng.vec(ih * iw * cin);
        let (oracle, mag) = reference::conv2d_halo(
            shape,
            &g,
            &w,
            Some(&bias),
            &Nhwc::dense(&input, iw, cin),
            None,
            Act::Relu,
        );
        for isa in tiers("conv") {
            let mut want = vec![0.0; out * out * cout];
            conv2d(
                isa,
                &packed,
                &g,
                Act::Relu,
                Nhwc::dense(&input, iw, cin),
                NhwcMut::dense(&mut want, out, cout),
                None,
                0..out,
            )
            .unwrap();
            assert_close(&want, &oracle, &mag, &format!("{shape:?} {isa} wrapper"));
            for slices in [2, 3, 4] {
                let units = slices * out;
                let cuts: [&[usize]; 3] = [&[], &[units / 2], &[1, out + 1]];
                for cut in cuts {
                    let bounds: Vec<usize> =
                        [0].iter().chain(cut).chain(&[units]).copied().collect();
                    let ranges: Vec<_> = bounds.windows(2).map(|b| b[0]..b[1]).collect();
                    let mut got = vec![SENTINEL; out * out * cout];
                    let mut p = ConvParams::from_packed(&packed, &g, Act::Relu);
                    p.isa = isa.code();
                    p.channel_slices = slices;
                    p.input = input.as_ptr();
                    p.in_row_stride = iw * cin;
                    p.in_pixel_stride = cin;
                    p.output = got.as_mut_ptr();
                    p.out_row_stride = out * cout;
                    p.out_pixel_stride = cout;
                    // SAFETY: buffers cover the layer; the unit ranges are disjoint.
                    unsafe { run_ranges(&p, &ranges, bqml_conv2d) };
                    let what = format!("{shape:?} {isa} {slices} slices {ranges:?}");
                    assert_close(&got, &want, &mag, &what);
                }
            }
        }
    }
}
