//! Shared by the examples: command line, the KDD protocol, reporting.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use ndarray::{Array2, ArrayView2};
use oddity::datasets::{self, create_outlier_batch, KddFeatures};
use oddity::eval::evaluate;
use oddity::plot::{self, CurveInput};
use oddity::*;

/// Options every example takes.
#[derive(Parser, Debug, Clone)]
pub struct Args {
    /// Seed of weight initialisation, shuffling and sampling noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Training epochs (default: the example's own).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Training batch size (default: the example's own).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Folder for plots and the saved detector.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// Data file (default: looked up, see datasets/README.md).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Skip the untrained-network baseline.
    #[arg(long)]
    pub no_baseline: bool,
    /// Skip the scoring-throughput measurement.
    #[arg(long)]
    pub no_bench: bool,
    /// Skip plots.
    #[arg(long)]
    pub no_plots: bool,
    /// Quiet training (no progress bar).
    #[arg(long)]
    pub quiet: bool,
    /// Reconstruction features of AEGMM/VAEGMM, comma separated: logmse, cos,
    /// euc, rel, alibirel, negcos (default: the library's, logmse,cos).
    #[arg(long)]
    pub recon: Option<String>,
}

/// Parses `--recon`.
pub fn parse_recon(v: &str) -> Result<ReconFeatures> {
    let features = v
        .split(',')
        .map(|f| match f.trim() {
            "rel" => Ok(ReconFeature::RelativeEuclidean),
            "cos" => Ok(ReconFeature::Cosine),
            "euc" => Ok(ReconFeature::Euclidean),
            "logmse" => Ok(ReconFeature::LogMse),
            "alibirel" => Ok(ReconFeature::AlibiRelative),
            "negcos" => Ok(ReconFeature::NegativeCosine),
            other => Err(OddityError::param("recon", format!("unknown feature `{other}`"))),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ReconFeatures { features, ..Default::default() })
}

pub fn f64s(a: &ndarray::Array1<f32>) -> Vec<f64> {
    a.iter().map(|&v| v as f64).collect()
}

/// The Alibi Detect KDD Cup '99 protocol on the 10 % file, 18 continuous
/// features: 400,000 normal rows drawn with replacement for training; a
/// 1,000-row batch with 5 % attacks to set the threshold (95th percentile);
/// a 1,000-row batch with 10 % attacks to test; 100,000 rows of the whole
/// file to time scoring. Data draws use fixed seeds (0, 1, 2, 12345) whatever
/// the model seed, as Alibi's notebook fixes numpy's.
pub struct KddSplits {
    pub x_train: Array2<f32>,
    pub x_thr: Array2<f32>,
    pub y_thr: Vec<bool>,
    pub x_test: Array2<f32>,
    pub y_test: Vec<bool>,
    pub x_bench: Array2<f32>,
}

pub fn kdd_splits(data: Option<&Path>) -> Result<KddSplits> {
    let t = Instant::now();
    let path = datasets::locate(&datasets::KDD_10_PERCENT, data)?;
    let kdd = datasets::load_kdd(&path, KddFeatures::Alibi18)?;
    let x = kdd.x.view();
    let (x_train, _) = create_outlier_batch(x, &kdd.is_attack, 400_000, 0.0, 0)?;
    let (x_thr, y_thr) = create_outlier_batch(x, &kdd.is_attack, 1_000, 5.0, 1)?;
    let (x_test, y_test) = create_outlier_batch(x, &kdd.is_attack, 1_000, 10.0, 2)?;
    let (x_bench, _) = create_outlier_batch(x, &kdd.is_attack, 100_000, 80.0, 12345)?;
    eprintln!(
        "data: {} ({} rows, {} attacks) loaded and sampled in {:.1}s",
        path.display(),
        kdd.x.nrows(),
        kdd.is_attack.iter().filter(|&&b| b).count(),
        t.elapsed().as_secs_f64()
    );
    Ok(KddSplits { x_train, x_thr, y_thr, x_test, y_test, x_bench })
}

/// A fresh detector of `kind` with the KDD network of Alibi's example.
pub fn kdd_detector(kind: DetectorKind, device: Device, recon: Option<&str>) -> Result<Box<dyn Detector>> {
    let recon = recon.map(parse_recon).transpose()?;
    Ok(match kind {
        DetectorKind::Aegmm => {
            let mut c = AegmmConfig::new(18);
            if let Some(r) = recon {
                c.recon = r;
            }
            Box::new(OutlierAEGMM::new(c, device)?)
        }
        DetectorKind::Vaegmm => {
            let mut c = VaegmmConfig::new(18);
            if let Some(r) = recon {
                c.recon = r;
            }
            Box::new(OutlierVAEGMM::new(c, device)?)
        }
        DetectorKind::Ae => Box::new(OutlierAE::new(AeConfig::symmetric(18, &[60, 30], 10, Activation::Tanh), device)?),
    })
}

/// Median wall time of 3 scoring calls (after a warm-up) -> rows per second.
pub fn scoring_rows_per_second(det: &dyn Detector, x: ArrayView2<f32>) -> Result<f64> {
    det.score(x.slice(ndarray::s![..1000.min(x.nrows()), ..]))?;
    let mut times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        det.score(x)?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(x.nrows() as f64 / times[1])
}

/// Runs the KDD protocol for `kind`; prints the report and one JSON line.
pub fn run_kdd(kind: DetectorKind, name: &str) -> Result<()> {
    let args = Args::parse();
    let device = Device::parse(&args.device)?;
    std::fs::create_dir_all(&args.out).map_err(|e| OddityError::io(&args.out, e))?;
    let s = kdd_splits(args.data.as_deref())?;
    let fit = FitConfig {
        epochs: args.epochs.unwrap_or(50),
        batch_size: args.batch_size.unwrap_or(1024),
        seed: args.seed,
        verbose: !args.quiet,
        ..Default::default()
    };

    // What training adds: the same network, untrained, GMM fitted on its codes.
    let baseline = if args.no_baseline {
        None
    } else {
        let mut b = kdd_detector(kind, device, args.recon.as_deref())?;
        b.fit(s.x_train.view(), &FitConfig { epochs: 0, ..fit.clone() })?;
        b.infer_threshold(s.x_thr.view(), 95.0)?;
        let sc = f64s(&b.score(s.x_test.view())?.instance);
        Some((evaluate(&s.y_test, &sc, b.threshold().unwrap_or(f64::NAN))?, sc))
    };

    let mut det = kdd_detector(kind, device, args.recon.as_deref())?;
    eprintln!(
        "training {} on {} rows, {} epochs, batch {}, device {}",
        kind.name(),
        s.x_train.nrows(),
        fit.epochs,
        fit.batch_size,
        args.device
    );
    let report = det.fit(s.x_train.view(), &fit)?;
    let threshold = det.infer_threshold(s.x_thr.view(), 95.0)?;
    let pred = det.predict(s.x_test.view(), &PredictConfig::default())?;
    let scores = f64s(pred.instance_score.as_ref().ok_or(OddityError::Numerical("no scores".into()))?);
    let ev = evaluate(&s.y_test, &scores, threshold)?;
    let rows_per_s = if args.no_bench { None } else { Some(scoring_rows_per_second(det.as_ref(), s.x_bench.view())?) };

    println!("\n{} on KDD Cup '99 (10 %), seed {}", kind.name(), args.seed);
    println!(
        "trained in {:.1} s ({:.3} s/epoch), jitter retries {}",
        report.train_seconds,
        report.train_seconds / fit.epochs.max(1) as f64,
        report.jitter_retries
    );
    println!("threshold (95th percentile of a 5 %-outlier batch): {threshold:.4}");
    println!("test batch: {} rows, {} attacks\n{}", ev.n, ev.n_outliers, ev.confusion());
    println!(
        "precision {:.4}  recall {:.4}  F1 {:.4}  ROC AUC {:.4}  AUPRC {:.4}",
        ev.precision, ev.recall, ev.f1, ev.roc_auc, ev.auprc
    );
    if let Some((b, _)) = &baseline {
        println!("untrained network: F1 {:.4}  ROC AUC {:.4}  AUPRC {:.4}", b.f1, b.roc_auc, b.auprc);
    }
    if let Some(r) = rows_per_s {
        println!("scoring: {:.0} rows/s ({} rows, default batch)", r, s.x_bench.nrows());
    }

    let model_path = args.out.join(format!("{name}.oddity"));
    det.save(&model_path)?;
    println!("saved detector: {}", model_path.display());
    if !args.no_plots {
        let p = |f: &str| args.out.join(format!("{name}_{f}.png"));
        plot::plot_instance_scores(
            p("scores"),
            &scores,
            Some(&s.y_test),
            Some(threshold),
            &format!("{} instance scores (KDD test batch)", kind.name()),
        )?;
        let mut curves = vec![CurveInput::new(kind.name(), s.y_test.clone(), scores.clone())];
        if let Some((_, b)) = &baseline {
            curves.push(CurveInput::new("untrained", s.y_test.clone(), b.clone()));
        }
        plot::plot_roc(p("roc"), &curves)?;
        plot::plot_pr(p("pr"), &curves)?;
        let train: Vec<f64> = report.epochs.iter().map(|e| e.train_loss).collect();
        if !train.is_empty() {
            plot::plot_loss(p("loss"), &train, None, &format!("{} training loss", kind.name()))?;
        }
        println!("plots: {}", args.out.join(format!("{name}_*.png")).display());
    }
    let json = serde_json::json!({
        "detector": kind.name(), "dataset": "kddcup99_10pct", "seed": args.seed, "epochs": fit.epochs,
        "device": args.device, "train_seconds": report.train_seconds,
        "seconds_per_epoch": report.train_seconds / fit.epochs.max(1) as f64,
        "threshold": threshold, "precision": ev.precision, "recall": ev.recall, "f1": ev.f1,
        "roc_auc": ev.roc_auc, "auprc": ev.auprc, "n_train": s.x_train.nrows(), "n_test": ev.n,
        "scoring_rows_per_second": rows_per_s, "jitter_retries": report.jitter_retries,
        "untrained": baseline.as_ref().map(|(b, _)| serde_json::json!({"f1": b.f1, "roc_auc": b.roc_auc, "auprc": b.auprc})),
    });
    println!("{json}");
    Ok(())
}
