//! Kernel benchmarks at the real layer shapes of ResNet-18 and EfficientNet-Lite0 (batch 1).
//!
//! Throughput is reported as `Throughput::Elements(flops)` with `flops = 2 × multiply-adds`, so
//! criterion's "elem/s" column reads directly as FLOP/s (e.g. `80.1 Gelem/s` = 80.1 GFLOP/s).
//! Time is the benchmark thread's CPU time ([`CpuTime`]), not wall time: the project's 2-core
//! host is shared with other builds, and being descheduled must not count as kernel time. The
//! `peak/fma` entry measures the FMA peak the same way in the same run, for ratios.
//! Run: `cargo bench --bench kernels -- --warm-up-time 1 --measurement-time 3`.

use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kernels::*;

/// Criterion measurement: CPU time of the calling thread, in nanoseconds.
struct CpuTime;

fn thread_cpu_ns() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for clock_gettime to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e9 + ts.tv_nsec as f64
}

impl Measurement for CpuTime {
    type Intermediate = f64;
    type Value = f64;
    fn start(&self) -> f64 {
        thread_cpu_ns()
    }
    fn end(&self, start: f64) -> f64 {
        thread_cpu_ns() - start
    }
    fn add(&self, a: &f64, b: &f64) -> f64 {
        a + b
    }
    fn zero(&self) -> f64 {
        0.0
    }
    fn to_f64(&self, v: &f64) -> f64 {
        *v
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuTimeFormatter
    }
}

/// Formats CPU nanoseconds as µs/ms and element throughput as G/s.
struct CpuTimeFormatter;

impl ValueFormatter for CpuTimeFormatter {
    fn scale_values(&self, typical_ns: f64, values: &mut [f64]) -> &'static str {
        let (div, unit) = if typical_ns >= 1e6 {
            (1e6, "ms (cpu)")
        } else {
            (1e3, "µs (cpu)")
        };
        values.iter_mut().for_each(|v| *v /= div);
        unit
    }
    fn scale_throughputs(&self, _typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let per_iter = match *t {
            Throughput::Elements(e) | Throughput::ElementsAndBytes { elements: e, .. } => e as f64,
            Throughput::Bytes(b) | Throughput::BytesDecimal(b) => b as f64,
            Throughput::Bits(b) => b as f64,
        };
        // elements per nanosecond = G elements per second
        values.iter_mut().for_each(|v| *v = per_iter / *v);
        "Gelem/s"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

type Crit = Criterion<CpuTime>;

fn peak(c: &mut Crit) {
    let isa = Isa::detect();
    let steps = 1 << 16;
    let mut g = c.benchmark_group("peak");
    g.throughput(Throughput::Elements(steps * fma_burst_flops_per_step(isa)));
    g.bench_function("fma", |b| b.iter(|| fma_burst(isa, steps)));
    g.finish();
}

/// Deterministic pseudo-random values in [-1, 1).
fn data(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

/// One convolution layer: `in_hw`² × `cin` input, square kernel `k`, ONNX-style symmetric pads.
struct Layer {
    name: &'static str,
    in_hw: usize,
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    groups: usize,
    act: Act,
}

fn bench_conv(c: &mut Crit, group: &str, layers: &[Layer]) {
    let isa = Isa::detect();
    let mut g = c.benchmark_group(group);
    for l in layers {
        let pad = l.k / 2;
        let out = (l.in_hw + 2 * pad - l.k) / l.stride + 1;
        let shape = ConvShape {
            in_channels: l.cin,
            out_channels: l.cout,
            kernel_h: l.k,
            kernel_w: l.k,
            groups: l.groups,
        };
        let weights = data(l.cout * (l.cin / l.groups) * l.k * l.k, 1);
        let bias = data(l.cout, 2);
        let packed = pack_conv(shape, &weights, Some(&bias)).expect("pack");
        let geo = ConvGeometry {
            out_h: out,
            out_w: out,
            stride_h: l.stride,
            stride_w: l.stride,
            dilation_h: 1,
            dilation_w: 1,
        };
        // Input with its zeroed halo baked in (dense pixels, as the runtime stores them).
        let hw = l.in_hw + 2 * pad;
        let (eh, ew) = geo.input_extent(l.k, l.k);
        let rows = eh.max(hw);
        let cols = ew.max(hw);
        let input = data(rows * cols * l.cin, 3);
        let mut output = vec![0.0; out * out * l.cout];
        let flops = 2 * out * out * l.cout * (l.cin / l.groups) * l.k * l.k;
        g.throughput(Throughput::Elements(flops as u64));
        g.bench_function(BenchmarkId::from_parameter(l.name), |b| {
            b.iter(|| {
                conv2d(
                    isa,
                    &packed,
                    &geo,
                    l.act,
                    Nhwc::dense(&input, cols, l.cin),
                    NhwcMut::dense(&mut output, out, l.cout),
                    None,
                    0..out,
                )
                .expect("conv")
            })
        });
    }
    g.finish();
}

fn layer(
    name: &'static str,
    in_hw: usize,
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
) -> Layer {
    Layer {
        name,
        in_hw,
        cin,
        cout,
        k,
        stride,
        groups: 1,
        act: Act::Relu,
    }
}

fn dw(name: &'static str, in_hw: usize, c: usize, k: usize, stride: usize) -> Layer {
    Layer {
        name,
        in_hw,
        cin: c,
        cout: c,
        k,
        stride,
        groups: c,
        act: Act::Clip { min: 0.0, max: 6.0 },
    }
}

fn resnet18(c: &mut Crit) {
    bench_conv(
        c,
        "resnet18_conv",
        &[
            layer("7x7s2_3to64_224", 224, 3, 64, 7, 2),
            layer("3x3s1_64_56", 56, 64, 64, 3, 1),
            layer("3x3s1_128_28", 28, 128, 128, 3, 1),
            layer("3x3s1_256_14", 14, 256, 256, 3, 1),
            layer("3x3s1_512_7", 7, 512, 512, 3, 1),
            layer("3x3s2_64to128_56", 56, 64, 128, 3, 2),
            layer("3x3s2_128to256_28", 28, 128, 256, 3, 2),
            layer("3x3s2_256to512_14", 14, 256, 512, 3, 2),
            layer("1x1s2_64to128_56", 56, 64, 128, 1, 2),
            layer("1x1s2_128to256_28", 28, 128, 256, 1, 2),
            layer("1x1s2_256to512_14", 14, 256, 512, 1, 2),
        ],
    );
}

/// ResNet-18's 3×3 stride-1 shapes, direct vs Winograd F(4×4) vs F(2×2). Throughput counts
/// the direct convolution's FLOPs for all three, so Winograd rows read as *effective* GFLOP/s.
fn resnet18_winograd(c: &mut Crit) {
    let isa = Isa::detect();
    let mut g = c.benchmark_group("resnet18_winograd");
    for (name, hw, ch) in [
        ("64_56", 56, 64),
        ("128_28", 28, 128),
        ("256_14", 14, 256),
        ("512_7", 7, 512),
    ] {
        let shape = ConvShape {
            in_channels: ch,
            out_channels: ch,
            kernel_h: 3,
            kernel_w: 3,
            groups: 1,
        };
        let weights = data(ch * ch * 9, 1);
        let bias = data(ch, 2);
        let geo = ConvGeometry {
            out_h: hw,
            out_w: hw,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
        };
        let input = data((hw + 2) * (hw + 2) * ch, 3);
        let residual = data(hw * hw * ch, 4);
        let mut output = vec![0.0; hw * hw * ch];
        g.throughput(Throughput::Elements((2 * hw * hw * ch * ch * 9) as u64));
        let direct = pack_conv(shape, &weights, Some(&bias)).expect("pack");
        let f4 = pack_winograd(shape, &weights, Some(&bias), 4).expect("pack");
        let f2 = pack_winograd(shape, &weights, Some(&bias), 2).expect("pack");
        for (algo, packed) in [("direct", &direct), ("f4", &f4), ("f2", &f2)] {
            let id = format!("{algo}_3x3s1_{name}");
            g.bench_function(BenchmarkId::from_parameter(id), |b| {
                b.iter(|| {
                    let inp = Nhwc::dense(&input, hw + 2, ch);
                    let out = NhwcMut::dense(&mut output, hw, ch);
                    let res = Some(Nhwc::dense(&residual, hw, ch));
                    if packed.layout == LAYOUT_PANELS {
                        conv2d(isa, packed, &geo, Act::Relu, inp, out, res, 0..hw)
                    } else {
                        let tiles = winograd_units(packed.layout, hw, hw, ch);
                        winograd_conv2d(isa, packed, &geo, Act::Relu, inp, out, res, 0..tiles)
                    }
                    .expect("conv")
                })
            });
        }
    }
    g.finish();
}

fn efficientnet_lite0(c: &mut Crit) {
    let relu6 = Act::Clip { min: 0.0, max: 6.0 };
    let pw = |name, hw, cin, cout| Layer {
        name,
        in_hw: hw,
        cin,
        cout,
        k: 1,
        stride: 1,
        groups: 1,
        act: relu6,
    };
    bench_conv(
        c,
        "efficientnet_lite0_conv",
        &[
            Layer {
                name: "stem_3x3s2_3to32_224",
                in_hw: 224,
                cin: 3,
                cout: 32,
                k: 3,
                stride: 2,
                groups: 1,
                act: relu6,
            },
            dw("dw3x3s1_32_112", 112, 32, 3, 1),
            dw("dw3x3s2_96_112", 112, 96, 3, 2),
            dw("dw3x3s1_144_56", 56, 144, 3, 1),
            dw("dw5x5s2_144_56", 56, 144, 5, 2),
            dw("dw5x5s1_240_28", 28, 240, 5, 1),
            dw("dw3x3s2_240_28", 28, 240, 3, 2),
            dw("dw3x3s1_480_14", 14, 480, 3, 1),
            dw("dw5x5s1_672_14", 14, 672, 5, 1),
            dw("dw5x5s2_672_14", 14, 672, 5, 2),
            dw("dw5x5s1_1152_7", 7, 1152, 5, 1),
            pw("pw_expand_16to96_112", 112, 16, 96),
            pw("pw_expand_24to144_56", 56, 24, 144),
            pw("pw_project_144to24_56", 56, 144, 24),
            pw("pw_expand_40to240_28", 28, 40, 240),
            pw("pw_project_480to80_14", 14, 480, 80),
            pw("pw_expand_192to1152_7", 7, 192, 1152),
            pw("pw_head_320to1280_7", 7, 320, 1280),
        ],
    );
}

fn gemm_and_pool(c: &mut Crit) {
    let isa = Isa::detect();
    let mut g = c.benchmark_group("gemm_pool");
    for (name, m, k, n) in [
        ("gemm_512to1000_m1", 1, 512, 1000),
        ("gemm_1280to1000_m1", 1, 1280, 1000),
        // Transformer token GEMMs (ViT-Ti QKV and MLP, ViT-S MLP up and down).
        ("gemm_197x192x576", 197, 192, 576),
        ("gemm_197x192x768", 197, 192, 768),
        ("gemm_197x384x1536", 197, 384, 1536),
        ("gemm_197x1536x384", 197, 1536, 384),
    ] {
        let b =
            pack_gemm_b(k, n, &data(k * n, 4), true, 1.0, Some(&data(n, 5)), 1.0).expect("pack");
        let a = data(m * k, 6);
        let mut y = vec![0.0; m * n];
        g.throughput(Throughput::Elements((2 * m * k * n) as u64));
        g.bench_function(BenchmarkId::from_parameter(name), |bch| {
            bch.iter(|| gemm(isa, &b, Act::None, m, &a, &mut y, None, 0..m).expect("gemm"))
        });
    }
    // Pooling: count one FLOP per window element read.
    let pools = [
        ("maxpool3x3s2_64_112", POOL_MAX, 112, 64, 3, 2, 1),
        ("gap_512_7", POOL_AVG_EXCLUDE_PAD, 7, 512, 7, 1, 0),
        ("gap_1280_7", POOL_AVG_EXCLUDE_PAD, 7, 1280, 7, 1, 0),
    ];
    for (name, kind, hw, ch, k, s, pad) in pools {
        let out = (hw + 2 * pad - k) / s + 1;
        let geo = PoolGeometry {
            kind,
            out_h: out,
            out_w: out,
            kernel: [k, k],
            stride: [s, s],
            dilation: [1, 1],
            pads: [pad; 4],
        };
        let input = data(hw * hw * ch, 7);
        let mut output = vec![0.0; out * out * ch];
        g.throughput(Throughput::Elements((out * out * ch * k * k) as u64));
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                pool2d(
                    isa,
                    &geo,
                    ch,
                    hw,
                    hw,
                    Nhwc::dense(&input, hw, ch),
                    NhwcMut::dense(&mut output, out, ch),
                    0..out,
                )
                .expect("pool")
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime).warm_up_time(Duration::from_secs(1));
    targets = peak, resnet18, resnet18_winograd, efficientnet_lite0, gemm_and_pool
}
criterion_main!(benches);
