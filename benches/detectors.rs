//! Criterion benchmarks: one training epoch (400,000 x 18, batch 1024) and
//! scoring throughput (10k, 100k, 1M rows) for AE, AEGMM and VAEGMM, and the
//! GMM energy alone. CPU groups always; CUDA groups when a GPU is present
//! (the clock stops after the results are on the host, which synchronises).
//!
//!     cargo bench --bench detectors            # everything
//!     cargo bench --bench detectors -- score   # a subset

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::Array2;
use oddity::math::gmm::{GmmAccumulator, Jitter};
use oddity::*;
use rand::{Rng, SeedableRng};

const F: usize = 18;

/// KDD-shaped synthetic rows: a 3-d structure plus noise.
fn data(n: usize, seed: u64) -> Array2<f32> {
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut normal = move || {
        let (u1, u2): (f64, f64) = (r.random_range(1e-12..1.0), r.random());
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    };
    let a = Array2::from_shape_fn((3, F), |(i, j)| ((i * F + j) as f32).sin());
    Array2::from_shape_fn((n, 3), |_| normal()).dot(&a) + Array2::from_shape_fn((n, F), |_| 0.1 * normal())
}

/// A registered detector for 18 columns: its default config, and for the AE
/// the KDD example's 60-30-10 tanh network.
fn detector(kind: &str, device: Device) -> Box<dyn Detector> {
    let cfg = match kind {
        "ae" => serde_json::to_value(AeConfig::symmetric(F, &[60, 30], 10, Activation::Tanh)).ok(),
        _ => None,
    };
    registry::get(kind).unwrap().build(F, cfg, device).unwrap()
}

fn devices() -> Vec<(&'static str, Device)> {
    let mut d = vec![("cpu", Device::Cpu)];
    if tch::Cuda::is_available() {
        d.push(("cuda", Device::Cuda(0)));
    }
    d
}

/// The network detectors (training epochs and scoring throughput).
const KINDS: [(&str, &str); 3] = [("ae", "ae"), ("aegmm", "aegmm"), ("vaegmm", "vaegmm")];

fn train_epoch(c: &mut Criterion) {
    let x = data(400_000, 1);
    for (dev_name, dev) in devices() {
        let mut g = c.benchmark_group(format!("{dev_name}_train_epoch_400k"));
        g.sample_size(10).measurement_time(Duration::from_secs(20)).warm_up_time(Duration::from_secs(2));
        for (name, kind) in KINDS {
            let mut det = detector(kind, dev);
            let cfg = FitConfig { epochs: Some(1), batch_size: 1024, ..Default::default() };
            g.bench_function(name, |b| b.iter(|| det.fit(x.view(), &cfg).unwrap()));
        }
        g.finish();
    }
}

fn score(c: &mut Criterion) {
    let x = data(1_000_000, 2);
    for (dev_name, dev) in devices() {
        let mut g = c.benchmark_group(format!("{dev_name}_score"));
        g.sample_size(10).measurement_time(Duration::from_secs(10)).warm_up_time(Duration::from_secs(1));
        for (name, kind) in KINDS {
            let mut det = detector(kind, dev);
            det.fit(
                x.slice(ndarray::s![..20_000, ..]),
                &FitConfig { epochs: Some(1), batch_size: 1024, ..Default::default() },
            )
            .unwrap();
            for n in [10_000usize, 100_000, 1_000_000] {
                let xs = x.slice(ndarray::s![..n, ..]);
                g.throughput(Throughput::Elements(n as u64));
                g.bench_with_input(BenchmarkId::new(name, n), &xs, |b, xs| b.iter(|| det.score(xs.view()).unwrap()));
            }
        }
        g.finish();
    }
}

fn gmm_energy(c: &mut Criterion) {
    let n = 100_000i64;
    for (dev_name, dev) in devices() {
        let d = dev.resolve().unwrap();
        let z = tch::Tensor::randn([n, 3], (tch::Kind::Float, d));
        let gamma = tch::Tensor::randn([n, 2], (tch::Kind::Float, d)).softmax(-1, tch::Kind::Float);
        let mut acc = GmmAccumulator::new(2, 3, d);
        acc.add(&z, &gamma);
        let scorer = acc.finish(&mut Jitter::new(1e-6, 6)).unwrap().scorer(d);
        let mut g = c.benchmark_group(format!("{dev_name}_gmm"));
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function("energy_100k_k2_d3", |b| {
            b.iter(|| {
                let e = scorer.energy(&z);
                if d.is_cuda() {
                    tch::Cuda::synchronize(0);
                }
                e
            })
        });
        g.bench_function("batch_params_energy_1024", |b| {
            let zb = z.narrow(0, 0, 1024);
            let gb = gamma.narrow(0, 0, 1024);
            b.iter(|| {
                let p = oddity::math::gmm::gmm_params(&zb, &gb, &mut Jitter::new(1e-6, 6)).unwrap();
                oddity::math::gmm::energy(&zb, &p)
            })
        });
        g.finish();
    }
}

criterion_group!(benches, train_epoch, score, gmm_energy);
criterion_main!(benches);
