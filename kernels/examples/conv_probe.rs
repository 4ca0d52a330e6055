//! Quick single-thread GFLOP/s probe for a few conv shapes, interleaved with the FMA peak of the
//! same tier so the ratio stays meaningful on a busy machine. Conv time is this thread's CPU time
//! (not wall time), so being descheduled by other processes does not count.
//! `cargo run -p kernels --release --example conv_probe [--isa avx2,avx512] [--reps N] [name-filter…]`
//! (default: the detected tier; `--isa all` runs every available tier). Input and output start
//! on a 64-byte line, or `PROBE_MISALIGN` floats past one. `PROBE_ROWS=N` computes only the
//! first N output rows (a thread's share of a split layer); `PROBE_ACT` picks the activation
//! (relu, the default; silu, hardswish, none).

use kernels::*;

fn main() {
    let (isas, reps, copies, filter) = parse_args();
    let misalign: usize = std::env::var("PROBE_MISALIGN").map_or(0, |v| v.parse().expect("floats"));
    let act = match std::env::var("PROBE_ACT").as_deref() {
        Err(_) | Ok("relu") => Act::Relu,
        Ok("silu") => Act::Silu,
        Ok("hardswish") => Act::HardSwish,
        Ok("none") => Act::None,
        Ok(other) => panic!("PROBE_ACT {other}: relu, silu, hardswish or none"),
    };
    // (name, in_hw, cin, cout, k, stride, groups)
    let layers = [
        ("7x7s2_3to64_224", 224, 3, 64, 7, 2, 1),
        ("3x3s1_64_56", 56, 64, 64, 3, 1, 1),
        ("3x3s1_128_28", 28, 128, 128, 3, 1, 1),
        ("3x3s1_256_14", 14, 256, 256, 3, 1, 1),
        ("3x3s1_512_7", 7, 512, 512, 3, 1, 1),
        ("3x3s2_64to128_56", 56, 64, 128, 3, 2, 1),
        ("3x3s2_128to256_28", 28, 128, 256, 3, 2, 1),
        ("3x3s2_256to512_14", 14, 256, 512, 3, 2, 1),
        ("1x1s2_64to128_56", 56, 64, 128, 1, 2, 1),
        ("1x1s2_128to256_28", 28, 128, 256, 1, 2, 1),
        ("1x1s2_256to512_14", 14, 256, 512, 1, 2, 1),
        ("1x1s1_144to24_56", 56, 144, 24, 1, 1, 1),
        ("1x1s1_16to96_112", 112, 16, 96, 1, 1, 1),
        ("1x1s1_16to64_112", 112, 16, 64, 1, 1, 1),
        ("1x1s1_16to64_28", 28, 16, 64, 1, 1, 1),
        ("1x1s1_16to64_14", 14, 16, 64, 1, 1, 1),
        ("1x1s1_64to64_28", 28, 64, 64, 1, 1, 1),
        ("1x1s1_256to64_28", 28, 256, 64, 1, 1, 1),
        ("1x1s1_32to16_112", 112, 32, 16, 1, 1, 1),
        ("1x1s1_32to16_28", 28, 32, 16, 1, 1, 1),
        ("1x1s1_480to80_14", 14, 480, 80, 1, 1, 1),
        ("1x1s1_40to240_28", 28, 40, 240, 1, 1, 1),
        ("1x1s1_16to48_112", 112, 16, 48, 1, 1, 1),
        ("1x1s1_672to112_14", 14, 672, 112, 1, 1, 1),
        ("1x1s1_24to72_56", 56, 24, 72, 1, 1, 1),
        ("1x1s1_1152to192_7", 7, 1152, 192, 1, 1, 1),
        ("1x1s1_192to1152_7", 7, 192, 1152, 1, 1, 1),
        ("1x1s1_320to1280_7", 7, 320, 1280, 1, 1, 1),
        ("1x1s1_96to576_14", 14, 96, 576, 1, 1, 1),
        ("1x1s1_240to40_28", 28, 240, 40, 1, 1, 1),
        ("1x1s1_40to120_28", 28, 40, 120, 1, 1, 1),
        ("dw3x3s1_32_112", 112, 32, 32, 3, 1, 32),
        ("dw3x3s1_32_28", 28, 32, 32, 3, 1, 32),
        ("dw3x3s1_144_56", 56, 144, 144, 3, 1, 144),
        ("dw3x3s1_480_14", 14, 480, 480, 3, 1, 480),
        ("dw5x5s2_672_14", 14, 672, 672, 5, 2, 672),
        ("dw5x5s1_240_28", 28, 240, 240, 5, 1, 240),
        ("dw5x5s1_672_14", 14, 672, 672, 5, 1, 672),
        ("dw5x5s1_1152_7", 7, 1152, 1152, 5, 1, 1152),
        ("dw3x3s2_240_28", 28, 240, 240, 3, 2, 240),
        ("dw5x5s1_120_28", 28, 120, 120, 5, 1, 120),
        ("gemv_512to1000", 1, 512, 1000, 1, 1, 1),
    ];
    for (name, hw, cin, cout, k, stride, groups) in layers {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let pad = k / 2;
        let out = (hw + 2 * pad - k) / stride + 1;
        let shape = ConvShape {
            in_channels: cin,
            out_channels: cout,
            kernel_h: k,
            kernel_w: k,
            groups,
        };
        let w: Vec<f32> = (0..cout * cin / groups * k * k)
            .map(|i| ((i % 13) as f32 - 6.0) * 0.01)
            .collect();
        // `--copies N` rotates N copies of the weights, so that layers whose weights would
        // otherwise stay in L2/L3 between calls stream them as inside a whole model.
        let packs: Vec<_> = (0..copies)
            .map(|_| pack_conv(shape, &w, None).unwrap())
            .collect();
        let geo = ConvGeometry {
            out_h: out,
            out_w: out,
            stride_h: stride,
            stride_w: stride,
            dilation_h: 1,
            dilation_w: 1,
        };
        let (eh, ew) = geo.input_extent(k, k);
        let cols = ew.max(hw + 2 * pad);
        let rows = eh.max(hw + 2 * pad);
        let input_buf: Vec<f32> = (0..rows * cols * cin + 32)
            .map(|i| ((i % 7) as f32 - 3.0) * 0.1)
            .collect();
        let mut output_buf = vec![0.0f32; out * out * cout + 32];
        // Both start `misalign` floats past a 64-byte boundary.
        let start = |p: *const f32| (16 - (p as usize % 64) / 4) % 16 + misalign;
        let a = start(input_buf.as_ptr());
        let input = &input_buf[a..a + rows * cols * cin];
        let b = start(output_buf.as_ptr());
        let output = &mut output_buf[b..b + out * out * cout];
        let flops = (2 * out * out * cout * cin / groups * k * k) as f64;
        for &isa in &isas {
            let mut best = f64::MAX;
            let mut peak = 0.0f64;
            for _ in 0..reps {
                let t = cpu_time();
                let steps = 1 << 20;
                std::hint::black_box(fma_burst(isa, steps));
                peak = peak
                    .max((steps * fma_burst_flops_per_step(isa)) as f64 / (cpu_time() - t) / 1e9);
                let t = cpu_time();
                let mut n = 0;
                while cpu_time() - t < 0.06 {
                    conv2d(
                        isa,
                        &packs[n % copies],
                        &geo,
                        act,
                        Nhwc::dense(input, cols, cin),
                        NhwcMut::dense(output, out, cout),
                        None,
                        0..std::env::var("PROBE_ROWS").map_or(out, |v| v.parse().expect("rows")),
                    )
                    .unwrap();
                    n += 1;
                }
                best = best.min((cpu_time() - t) / n as f64);
            }
            let g = flops / best / 1e9;
            println!(
                "{name:24} {:8} {:8.3} ms {g:7.1} GFLOP/s  peak {peak:6.1}  {:5.1}%",
                isa.name(),
                best * 1e3,
                100.0 * g / peak
            );
        }
    }
}

/// `--isa LIST` (comma-separated tier names, or `all`), `--reps N` (best of N windows, default
/// 5), `--copies N` (weight copies to rotate, default 1); the other arguments filter layers by
/// name.
fn parse_args() -> (Vec<Isa>, usize, usize, Vec<String>) {
    let mut isas = vec![Isa::detect()];
    let mut reps = 5;
    let mut copies = 1;
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
            "--copies" => {
                copies = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&c| c > 0)
                    .expect("--copies N (N >= 1)")
            }
            _ => filter.push(a),
        }
    }
    (isas, reps, copies, filter)
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
