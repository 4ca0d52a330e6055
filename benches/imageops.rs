//! Image preprocessing cost per ML.PREDICT row: decode, resize to 224x224, and both fused.
//! Uses `shared/` next to the workspace (or `$BQMLC_SHARED`).

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use kernels::imageops::{self, DecodeLimits, Image};

fn shared() -> PathBuf {
    std::env::var_os("BQMLC_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}

fn bench(c: &mut Criterion) {
    let images = shared().join("data/images");
    let limits = DecodeLimits::default();
    // samoyed: 1546x1213 JPEG (large photo); goldfish: 500x500 JPEG (tutorial);
    // coffee: 600x400 PNG.
    for name in ["samoyed.jpg", "goldfish.jpg", "coffee.png"] {
        let bytes = std::fs::read(images.join(name)).expect("read sample image");
        let img = imageops::decode(&bytes).unwrap();
        let raw = imageops::decode_raw(&bytes, &limits).unwrap();
        let mut g = c.benchmark_group(name);
        g.sample_size(20);
        g.bench_function("decode", |b| {
            b.iter(|| imageops::decode(black_box(&bytes)).unwrap())
        });
        g.bench_function("resize_f32_224", |b| {
            b.iter(|| imageops::resize_bilinear(black_box(&img), 224, 224, false).unwrap())
        });
        g.bench_function("resize_u8_224", |b| {
            b.iter(|| imageops::resize_decoded(black_box(&raw), 224, 224, false).unwrap())
        });
        g.bench_function("decode_resized_224", |b| {
            b.iter(|| {
                imageops::decode_resized(black_box(&bytes), &limits, 224, 224, false).unwrap()
            })
        });
        g.finish();
    }
    // Upscale path: 224x224 -> 512x512 (rows reused between output rows).
    let small = Image::new(224, 224, 3, vec![0.5; 224 * 224 * 3]).unwrap();
    c.bench_function("resize_f32_224_to_512", |b| {
        b.iter(|| imageops::resize_bilinear(black_box(&small), 512, 512, false).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
