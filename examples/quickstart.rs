//! Quick start: the autoencoder detector on synthetic data, no files needed.
//!
//! Shows the whole API in a few lines: fit on inliers, infer the threshold
//! from the 95th percentile, predict on new data with injected outliers,
//! read the scores, save and reload. Takes a few seconds on 2 cores.
//!
//!     cargo run --release --example quickstart

use ndarray::{concatenate, Array2, Axis};
use oddity::eval::metrics::roc_auc;
use oddity::*;
use rand::{Rng, SeedableRng};

/// Rows on a 3-d plane in 12 dimensions (inliers) or spread out (outliers).
fn data(seed: u64, n: usize, outlier: bool) -> Array2<f32> {
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut normal = || {
        let (u1, u2): (f64, f64) = (r.random_range(1e-12..1.0), r.random());
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    };
    let plane = Array2::from_shape_fn((3, 12), |(i, j)| ((i * 12 + j) as f32 * 0.7).sin());
    if outlier {
        Array2::from_shape_fn((n, 12), |_| 3.0 * normal())
    } else {
        Array2::from_shape_fn((n, 3), |_| normal()).dot(&plane) + Array2::from_shape_fn((n, 12), |_| 0.05 * normal())
    }
}

fn main() -> Result<()> {
    let x_train = data(1, 10_000, false);
    let mut det = OutlierAE::new(AeConfig::symmetric(12, &[32, 16], 3, Activation::Tanh), Device::Cpu)?;
    let report =
        det.fit(x_train.view(), &FitConfig { epochs: Some(10), batch_size: 128, verbose: true, ..Default::default() })?;
    println!(
        "trained {} epochs in {:.2} s, final loss {:.4}",
        report.epochs.len(),
        report.train_seconds,
        report.final_loss().unwrap_or(f64::NAN)
    );

    let threshold = det.infer_threshold(data(2, 1_000, false).view(), 95.0)?;
    let x_test = concatenate![Axis(0), data(3, 950, false), data(4, 50, true)];
    let labels: Vec<bool> = (0..1000).map(|i| i >= 950).collect();
    let pred = det.predict(x_test.view(), &PredictConfig::default())?;
    let scores: Vec<f64> = pred.instance_score.iter().flatten().map(|&s| s as f64).collect();
    println!(
        "threshold {threshold:.4}; flagged {} of 1000 rows; ROC AUC {:.4}",
        pred.is_outlier.count(),
        roc_auc(&labels, &scores)?
    );

    let path = std::env::temp_dir().join("quickstart.oddity");
    det.save(&path)?;
    let again = load_any(&path, Device::Cpu)?;
    assert_eq!(again.score(x_test.view())?.instance, det.score(x_test.view())?.instance);
    println!("saved and reloaded {} from {}: identical scores", again.meta().name, path.display());
    Ok(())
}
