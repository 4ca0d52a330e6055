//! Whole models end to end on the compiled (jit) backend: ResNet-18 and EfficientNet-Lite0
//! at 1×224×224×3, one and two threads. Throughput is FLOPs per iteration (2 × the graph's
//! multiply-adds), so criterion's "elem/s" reads as FLOP/s. Wall-clock time: use
//! `bqmlc bench --compare-ort` for the interleaved comparison with ONNX Runtime.
//! Run: `cargo bench --bench models -- --warm-up-time 2 --measurement-time 10`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use runtime::Tensor;

fn models(c: &mut Criterion) {
    let shared = compiler::conformance::shared_dir().join("models");
    let mut group = c.benchmark_group("model");
    group.sample_size(20);
    for name in ["resnet18_probs.onnx", "efficientnet_lite0_probs.onnx"] {
        let graph =
            compiler::load_file(&shared.join(name), &Default::default()).expect("load model");
        group.throughput(Throughput::Elements(graph.flops()));
        let model = compiler::compile(graph).expect("compile model");
        let n: usize = model.inputs()[0].shape.iter().product();
        let input = Tensor::f32(
            model.inputs()[0].shape.clone(),
            (0..n).map(|i| (i % 255) as f32 / 255.0).collect(),
        );
        for threads in [1, 2] {
            let mut state = model.new_state(threads);
            group.bench_with_input(
                BenchmarkId::new(name, format!("{threads}t")),
                &input,
                |b, x| b.iter(|| model.predict(&mut state, &[x]).expect("predict")),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, models);
criterion_main!(benches);
