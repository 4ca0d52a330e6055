//! Direct vs Winograd F(4×4,3×3) vs F(2×2,3×3) on 3×3 stride-1 shapes, single thread, best of
//! five 60 ms CPU-time windows each. GFLOP/s are *effective* (direct-convolution FLOPs / time).
//! `cargo run -p kernels --release --example wino_probe [--isa avx2,avx512|all] [--reps N] [name-filter…]`
//! (default: the detected tier).

use kernels::*;

fn main() {
    let (isas, reps, filter) = parse_args();
    // (name, hw, cin, cout)
    let layers = [
        ("3x3s1_64_56", 56, 64, 64),
        ("3x3s1_128_28", 28, 128, 128),
        ("3x3s1_256_14", 14, 256, 256),
        ("3x3s1_512_7", 7, 512, 512),
        ("3x3s1_32_56", 56, 32, 32),
        ("3x3s1_16_56", 56, 16, 16),
        ("3x3s1_8_56", 56, 8, 8),
        ("3x3s1_8to32_28", 28, 8, 32),
        ("3x3s1_32_14", 14, 32, 32),
    ];
    for (name, hw, cin, cout) in layers {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let shape = ConvShape {
            in_channels: cin,
            out_channels: cout,
            kernel_h: 3,
            kernel_w: 3,
            groups: 1,
        };
        let w: Vec<f32> = (0..cout * cin * 9)
            .map(|i| ((i % 13) as f32 - 6.0) * 0.01)
            .collect();
        let geo = ConvGeometry {
            out_h: hw,
            out_w: hw,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
        };
        let cols = hw + 2;
        let input: Vec<f32> = (0..cols * cols * cin)
            .map(|i| ((i % 7) as f32 - 3.0) * 0.1)
            .collect();
        let mut output = vec![0.0; hw * hw * cout];
        let flops = (2 * hw * hw * cout * cin * 9) as f64;
        let direct = pack_conv(shape, &w, None).unwrap();
        let f4 = pack_winograd(shape, &w, None, 4).unwrap();
        let f2 = pack_winograd(shape, &w, None, 2).unwrap();
        for &isa in &isas {
            let mut line = format!("{name:16} {:8}", isa.name());
            for (label, packed) in [("direct", &direct), ("F4", &f4), ("F2", &f2)] {
                let mut best = f64::MAX;
                for _ in 0..reps {
                    let t = cpu_time();
                    let mut n = 0;
                    while cpu_time() - t < 0.06 {
                        let inp = Nhwc::dense(&input, cols, cin);
                        let out = NhwcMut::dense(&mut output, hw, cout);
                        if packed.layout == LAYOUT_PANELS {
                            conv2d(isa, packed, &geo, Act::Relu, inp, out, None, 0..hw).unwrap();
                        } else {
                            let tiles = winograd_units(packed.layout, hw, hw, cout);
                            winograd_conv2d(isa, packed, &geo, Act::Relu, inp, out, None, 0..tiles)
                                .unwrap();
                        }
                        n += 1;
                    }
                    best = best.min((cpu_time() - t) / n as f64);
                }
                line += &format!(
                    "  {label} {:7.3} ms {:6.1} GF/s",
                    best * 1e3,
                    flops / best / 1e9
                );
            }
            let t = cpu_time();
            let steps = 1 << 22;
            std::hint::black_box(fma_burst(isa, steps));
            let peak = (steps * fma_burst_flops_per_step(isa)) as f64 / (cpu_time() - t) / 1e9;
            println!("{line}  peak {peak:5.1}");
        }
    }
}

/// `--isa LIST` (comma-separated tier names, or `all`), `--reps N` (best of N windows, default
/// 5); the other arguments filter layers by name.
fn parse_args() -> (Vec<Isa>, usize, Vec<String>) {
    let mut isas = vec![Isa::detect()];
    let mut reps = 5;
    let mut filter = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--isa" => {
                let v = args.next().expect("--isa needs a value");
                isas = if v == "all" {
                    Isa::all_available()
                } else {
                    v.split(',')
                        .map(|s| s.parse().expect("tier name"))
                        .collect()
                };
                for isa in &isas {
                    assert!(isa.is_available(), "this CPU lacks the {isa} tier");
                }
            }
            "--reps" => reps = args.next().and_then(|v| v.parse().ok()).expect("--reps N"),
            _ => filter.push(a),
        }
    }
    (isas, reps, filter)
}

/// This thread's CPU time in seconds.
fn cpu_time() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}
