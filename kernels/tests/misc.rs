//! Activations, the FMA peak probe and ISA detection.

mod common;

use common::{all_acts, tiers};
use kernels::*;
use std::time::Duration;

/// Every activation round-trips through its `#[repr(C)]` encoding.
#[test]
fn activation_encoding_round_trips() {
    for act in all_acts() {
        assert_eq!(act.to_c().decode(), Some(act));
    }
    let bad = Activation {
        kind: 99,
        alpha: 0.0,
        beta: 0.0,
    };
    assert_eq!(bad.decode(), None);
}

/// The vectorised activations (through a 1×1 identity conv) match the scalar definitions over a
/// wide input range, including the sigmoid saturation regions.
#[test]
fn vector_activations_match_scalar_over_wide_range() {
    let n = 4096;
    let xs: Vec<f32> = (0..n).map(|i| (i as f32 - n as f32 / 2.0) * 0.05).collect(); // [-102, 102)
    let shape = ConvShape {
        in_channels: 1,
        out_channels: 1,
        kernel_h: 1,
        kernel_w: 1,
        groups: 1,
    };
    let packed = pack_conv(shape, &[1.0], None).unwrap();
    let geo = ConvGeometry {
        out_h: 1,
        out_w: n,
        stride_h: 1,
        stride_w: 1,
        dilation_h: 1,
        dilation_w: 1,
    };
    for act in all_acts() {
        for isa in tiers("misc") {
            let mut out = vec![0.0; n];
            conv2d(
                isa,
                &packed,
                &geo,
                act,
                Nhwc::dense(&xs, n, 1),
                NhwcMut::dense(&mut out, n, 1),
                None,
                0..1,
            )
            .unwrap();
            for (x, y) in xs.iter().zip(&out) {
                let want = act.apply(*x);
                let tol = 2e-6 * want.abs().max(1e-3) + 1e-7;
                assert!(
                    (y - want).abs() <= tol,
                    "{isa:?} {act:?} at {x}: {y} vs {want}"
                );
            }
        }
    }
}

#[test]
fn fma_peak_is_positive_and_finite() {
    for isa in tiers("misc") {
        let g = measure_fma_peak_with(isa, 1, Duration::from_millis(20));
        assert!(g.is_finite() && g > 0.0, "{isa:?}: {g}");
    }
    let g = measure_fma_peak(2, Duration::from_millis(20));
    assert!(g.is_finite() && g > 0.0, "two threads: {g}");
}

#[test]
fn fma_burst_depends_on_its_work() {
    for isa in tiers("misc") {
        let lanes = if isa == Isa::Avx512 { 2 } else { 1 };
        assert_eq!(
            fma_burst_flops_per_step(isa),
            lanes * FMA_BURST_FLOPS_PER_STEP
        );
        let a = fma_burst(isa, 10);
        let b = fma_burst(isa, 1000);
        assert!(a.is_finite() && b.is_finite());
        assert_ne!(
            a, b,
            "{isa:?}: the burst result must depend on the step count"
        );
    }
}

/// Generated code stores these structs as constant data: pin their C layout (x86-64) so a field
/// reorder is a visible, deliberate ABI change.
#[test]
fn params_c_layout_is_pinned() {
    use std::mem::{offset_of, size_of};
    assert_eq!(size_of::<Activation>(), 12);
    assert_eq!(size_of::<ConvParams>(), 208);
    assert_eq!(offset_of!(ConvParams, input), 0);
    assert_eq!(offset_of!(ConvParams, weights), 24);
    assert_eq!(offset_of!(ConvParams, output), 40);
    assert_eq!(offset_of!(ConvParams, residual), 64);
    assert_eq!(offset_of!(ConvParams, out_h), 88);
    assert_eq!(offset_of!(ConvParams, layout), 176);
    assert_eq!(offset_of!(ConvParams, activation), 180);
    assert_eq!(offset_of!(ConvParams, isa), 192);
    assert_eq!(offset_of!(ConvParams, channel_slices), 200);
    assert_eq!(size_of::<GemmParams>(), 112);
    assert_eq!(offset_of!(GemmParams, activation), 88);
    assert_eq!(offset_of!(GemmParams, isa), 100);
    assert_eq!(offset_of!(GemmParams, channel_slices), 104);
    assert_eq!(size_of::<PoolParams>(), 176);
    assert_eq!(offset_of!(PoolParams, kind), 168);
}
