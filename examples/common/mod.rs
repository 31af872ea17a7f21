//! Shared by the examples: command line, the KDD protocol, reporting.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use ndarray::{Array2, ArrayView2};
use oddity::datasets::{self, create_outlier_batch, KddFeatures};
use oddity::eval::metrics;
use oddity::eval::plot::{self, CurveInput};
use oddity::eval::report::evaluate;
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
    /// Threshold rule for scores tied at the percentile: `nearest` (the
    /// library's default) or `percentile` (Alibi Detect's: never flag a tie).
    #[arg(long, default_value = "nearest")]
    pub ties: String,
}

/// Parses `--ties`.
pub fn parse_ties(v: &str) -> Result<Ties> {
    match v {
        "nearest" => Ok(Ties::NearestCount),
        "percentile" => Ok(Ties::Percentile),
        other => Err(OddityError::param("ties", format!("`{other}`: expected nearest or percentile"))),
    }
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

/// A fresh detector of `kind` with the KDD network of Alibi's example, set
/// explicitly (not the data-aware defaults): `AegmmConfig::new(18)` and
/// `VaegmmConfig::new(18)` (scored by energy), a 60-30-10 tanh net for the
/// AE, and the `--recon` features where the detector has them.
pub fn kdd_detector(kind: DetectorKind, device: Device, recon: Option<&str>) -> Result<Box<dyn Detector>> {
    let entry = registry::get(kind.tag())?;
    let cfg = match kind.tag() {
        "ae" => json_of(&AeConfig::symmetric(18, &[60, 30], 10, Activation::Tanh))?,
        "aegmm" => json_of(&AegmmConfig::new(18))?,
        "vaegmm" => json_of(&VaegmmConfig::new(18))?,
        _ => entry.default_config(18)?,
    };
    entry.build(18, Some(with_recon(cfg, recon)?), device)
}

/// `cfg` with its `recon` field set from `--recon`, if given.
fn with_recon(mut cfg: serde_json::Value, recon: Option<&str>) -> Result<serde_json::Value> {
    if let Some(r) = recon {
        let r = json_of(&parse_recon(r)?)?;
        match cfg.get_mut("recon") {
            Some(slot) => *slot = r,
            None => return Err(OddityError::param("recon", "this detector has no reconstruction features")),
        }
    }
    Ok(cfg)
}

fn json_of<T: serde::Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| OddityError::Numerical(e.to_string()))
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
pub fn run_kdd(kind: &str, name: &str) -> Result<()> {
    let kind = registry::get(kind)?.kind;
    let args = Args::parse();
    let device = Device::parse(&args.device)?;
    let thr_cfg = PredictConfig { ties: parse_ties(&args.ties)?, ..Default::default() };
    std::fs::create_dir_all(&args.out).map_err(|e| OddityError::io(&args.out, e))?;
    let s = kdd_splits(args.data.as_deref())?;
    let fit = FitConfig {
        epochs: Some(args.epochs.unwrap_or(50)),
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
        b.fit(s.x_train.view(), &FitConfig { epochs: Some(0), ..fit.clone() })?;
        b.infer_threshold_with(s.x_thr.view(), 95.0, &thr_cfg)?;
        let sc = f64s(&b.score(s.x_test.view())?.instance);
        Some((evaluate(&s.y_test, &sc, b.threshold().unwrap_or(f64::NAN))?, sc))
    };

    let mut det = kdd_detector(kind, device, args.recon.as_deref())?;
    eprintln!(
        "training {} on {} rows, {} epochs, batch {}, device {}",
        kind.name(),
        s.x_train.nrows(),
        fit.epochs_for(s.x_train.nrows()),
        fit.batch_size,
        args.device
    );
    let report = det.fit(s.x_train.view(), &fit)?;
    let threshold = det.infer_threshold_with(s.x_thr.view(), 95.0, &thr_cfg)?;
    let pred = det.predict(s.x_test.view(), &PredictConfig::default())?;
    let scores = f64s(pred.instance_score.as_ref().ok_or(OddityError::Numerical("no scores".into()))?);
    let ev = evaluate(&s.y_test, &scores, threshold)?;
    let rows_per_s = if args.no_bench { None } else { Some(scoring_rows_per_second(det.as_ref(), s.x_bench.view())?) };

    println!("\n{} on KDD Cup '99 (10 %), seed {}", kind.name(), args.seed);
    println!(
        "trained in {:.1} s ({:.3} s/epoch), jitter retries {}",
        report.train_seconds,
        report.train_seconds / report.planned_epochs.max(1) as f64,
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
        let untrained = baseline.as_ref().map(|(_, b)| b.as_slice());
        plot_curves_and_loss(&args.out, name, kind, &s.y_test, &scores, untrained, &report)?;
    }
    let json = serde_json::json!({
        "detector": kind.name(), "dataset": "kddcup99_10pct", "seed": args.seed, "epochs": fit.epochs,
        "device": args.device, "train_seconds": report.train_seconds,
        "seconds_per_epoch": report.train_seconds / report.planned_epochs.max(1) as f64,
        "threshold": threshold, "ties": args.ties, "precision": ev.precision, "recall": ev.recall, "f1": ev.f1,
        "roc_auc": ev.roc_auc, "auprc": ev.auprc, "n_train": s.x_train.nrows(), "n_test": ev.n,
        "scoring_rows_per_second": rows_per_s, "jitter_retries": report.jitter_retries,
        "untrained": baseline.as_ref().map(|(b, _)| serde_json::json!({"f1": b.f1, "roc_auc": b.roc_auc, "auprc": b.auprc})),
    });
    println!("{json}");
    Ok(())
}

/// ROC and PR curves of the test scores (with the untrained network's, if
/// any) and the loss per epoch (with the validation loss, if any), written as
/// `OUT/NAME_{roc,pr,loss}.png`.
fn plot_curves_and_loss(
    out: &Path,
    name: &str,
    kind: DetectorKind,
    y_test: &[bool],
    scores: &[f64],
    untrained: Option<&[f64]>,
    report: &TrainReport,
) -> Result<()> {
    let p = |f: &str| out.join(format!("{name}_{f}.png"));
    let mut curves = vec![CurveInput::new(kind.name(), y_test.to_vec(), scores.to_vec())];
    if let Some(b) = untrained {
        curves.push(CurveInput::new("untrained", y_test.to_vec(), b.to_vec()));
    }
    plot::plot_roc(p("roc"), &curves)?;
    plot::plot_pr(p("pr"), &curves)?;
    let train: Vec<f64> = report.epochs.iter().map(|e| e.train_loss).collect();
    let val: Option<Vec<f64>> = report.epochs.iter().map(|e| e.val_loss).collect();
    if !train.is_empty() {
        plot::plot_loss(p("loss"), &train, val.as_deref(), &format!("{} training loss", kind.name()))?;
    }
    println!("plots: {}", out.join(format!("{name}_*.png")).display());
    Ok(())
}

// ---------------------------------------------------------------------------
// Credit-card fraud (creditcard_ae, creditcard_aegmm).

/// The credit-card examples' options: the shared ones plus the protocol's.
#[derive(Parser, Debug, Clone)]
pub struct CreditCardArgs {
    #[command(flatten)]
    pub common: Args,
    /// Seed of the stratified train/validation/test split (default: --seed,
    /// so that a multi-seed run also varies which frauds are tested on).
    #[arg(long)]
    pub split_seed: Option<u64>,
    /// Percentile of the validation legitimate rows' scores used as the
    /// unsupervised threshold (99.5 = flag about 0.5 % of legitimate traffic).
    #[arg(long, default_value_t = 99.5)]
    pub percentile: f64,
    /// How `Amount` enters: `std` (standardised) or `log1p` (ln(1 + Amount),
    /// then standardised); statistics from the legitimate train rows.
    #[arg(long)]
    pub amount: Option<String>,
    /// Drop rows with Amount >= this before splitting (the Keras reference
    /// uses 1500); default: keep every row.
    #[arg(long)]
    pub max_amount: Option<f64>,
    /// Adam learning rate (default: the example's own).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Standardise every feature inside the detector, true or false
    /// (default: the example's own).
    #[arg(long)]
    pub standardize: Option<bool>,
    /// Early-stopping patience in epochs, on the loss of held-out legitimate
    /// training rows (default: the example's own).
    #[arg(long)]
    pub patience: Option<usize>,
    /// AE feature score: `squared` (Alibi's), `lognorm` (ln(1 + r² / s),
    /// s = the feature's mean squared training residual) or `maha` (shares
    /// of the residual's Mahalanobis distance); default: the example's own.
    /// Ignored by the GMM detectors.
    #[arg(long)]
    pub score: Option<String>,
    /// libtorch CPU threads, which is also the number of scoring workers. 1
    /// by default: training these networks does not gain from a second
    /// thread, on a busy 2-core machine extra threads make an epoch several
    /// times slower, and scoring the test split takes well under a second.
    #[arg(long, default_value_t = 1)]
    pub threads: i32,
}

/// What an example trains with unless told otherwise.
#[derive(Debug, Clone, Copy)]
pub struct CreditCardDefaults {
    /// Upper bound; early stopping usually ends training before it.
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub standardize: bool,
    pub patience: usize,
    /// `ln(1 + Amount)` before standardising.
    pub log_amount: bool,
    /// AE feature score.
    pub score: FeatureScore,
}

/// Share of the training legitimate rows the fit holds out for its
/// validation loss (early stopping, best-weight restore).
pub const CC_FIT_VALIDATION: f64 = 0.1;

/// The credit-card protocol's data: one stratified split of all rows into
/// 64 % train, 16 % validation, 20 % test (an 80/20 split whose 80 % is split
/// 80/20 again; every part keeps the 0.17 % fraud rate). The detector sees the
/// legitimate train rows only. `Amount` is standardised with the mean and
/// (population) std of those rows, so nothing about the validation or test
/// rows leaks into the inputs.
pub struct CreditCardSplits {
    /// Legitimate rows of the train part.
    pub x_train: Array2<f32>,
    pub x_val: Array2<f32>,
    pub y_val: Vec<bool>,
    pub x_test: Array2<f32>,
    pub y_test: Vec<bool>,
    /// Rows and frauds loaded (after `max_amount`).
    pub n_rows: usize,
    pub n_frauds: usize,
}

pub fn creditcard_splits(
    data: Option<&Path>,
    max_amount: Option<f64>,
    log_amount: bool,
    seed: u64,
) -> Result<CreditCardSplits> {
    let t = Instant::now();
    let path = datasets::locate(&datasets::CREDITCARD, data)?;
    // Raw amounts: we standardise below with training statistics only.
    let prep = datasets::CreditCardPrep { drop_time: true, amount: datasets::AmountTransform::Raw, max_amount };
    let cc = datasets::load_creditcard(&path, &prep)?;
    let y = &cc.is_fraud;
    let parts = datasets::stratified_split(y, &[0.64, 0.16, 0.20], seed)?;
    let train: Vec<usize> = parts[0].iter().copied().filter(|&i| !y[i]).collect();
    let labels = |idx: &[usize]| idx.iter().map(|&i| y[i]).collect::<Vec<bool>>();

    let mut x = cc.x;
    let a = x.ncols() - 1; // Amount is the last column
    if log_amount {
        // Amounts are >= 0 in this file; ln_1p keeps 0 at 0.
        x.column_mut(a).mapv_inplace(|v| v.max(0.0).ln_1p());
    }
    let (mean, std) = datasets::standardize_amount(&mut x, &train)?;

    let xv = x.view();
    let s = CreditCardSplits {
        x_train: datasets::select_rows(&xv, &train)?,
        x_val: datasets::select_rows(&xv, &parts[1])?,
        y_val: labels(&parts[1]),
        x_test: datasets::select_rows(&xv, &parts[2])?,
        y_test: labels(&parts[2]),
        n_rows: y.len(),
        n_frauds: count(y),
    };
    eprintln!(
        "data: {} ({} rows, {} frauds) loaded and split in {:.1}s; Amount mean {mean:.2}, std {std:.2} (train legit)",
        path.display(),
        s.n_rows,
        s.n_frauds,
        t.elapsed().as_secs_f64()
    );
    Ok(s)
}

fn count(y: &[bool]) -> usize {
    y.iter().filter(|&&b| b).count()
}

/// A fresh detector of `kind` for the credit-card data: the classic
/// 29-14-7-7-29 autoencoder, Alibi's KDD networks for AEGMM and VAEGMM
/// (the networks this example's figures were measured with), or the
/// registry's default config of the others.
pub fn creditcard_detector(
    kind: DetectorKind,
    n_features: usize,
    standardize: bool,
    score: FeatureScore,
    device: Device,
    recon: Option<&str>,
) -> Result<Box<dyn Detector>> {
    let entry = registry::get(kind.tag())?;
    let mut cfg = match kind.tag() {
        "ae" => json_of(&AeConfig { score, ..AeConfig::creditcard(n_features) })?,
        "aegmm" => json_of(&AegmmConfig::new(n_features))?,
        "vaegmm" => json_of(&VaegmmConfig::new(n_features))?,
        _ => entry.default_config(n_features)?,
    };
    if let Some(s) = cfg.get_mut("standardize") {
        *s = standardize.into();
    }
    entry.build(n_features, Some(with_recon(cfg, recon)?), device)
}

/// Instance scores as f64.
fn scores_of(det: &dyn Detector, x: ArrayView2<f32>) -> Result<Vec<f64>> {
    Ok(f64s(&det.score(x)?.instance))
}

/// The two thresholds of the protocol, both from the validation split: the
/// `perc` percentile of its legitimate rows' scores, and the F1-best one.
fn thresholds(val_scores: &[f64], y_val: &[bool], perc: f64, ties: Ties) -> Result<(f64, metrics::BestThreshold)> {
    let legit: Vec<f64> = val_scores.iter().zip(y_val).filter(|(_, &f)| !f).map(|(&s, _)| s).collect();
    Ok((percentile_threshold(&legit, perc, ties)?, metrics::best_f1_threshold(y_val, val_scores)?))
}

/// Runs the credit-card protocol for `kind`; prints the report and one JSON line.
pub fn run_creditcard(kind: &str, name: &str, d: CreditCardDefaults) -> Result<()> {
    let kind = registry::get(kind)?.kind;
    let cli = CreditCardArgs::parse();
    let args = &cli.common;
    tch::set_num_threads(cli.threads.max(1));
    let device = Device::parse(&args.device)?;
    let ties = parse_ties(&args.ties)?;
    std::fs::create_dir_all(&args.out).map_err(|e| OddityError::io(&args.out, e))?;
    let split_seed = cli.split_seed.unwrap_or(args.seed);
    let log_amount = match cli.amount.as_deref() {
        None => d.log_amount,
        Some("std") => false,
        Some("log1p") => true,
        Some(other) => return Err(OddityError::param("amount", format!("`{other}` is not std or log1p"))),
    };
    let s = creditcard_splits(args.data.as_deref(), cli.max_amount, log_amount, split_seed)?;
    let standardize = cli.standardize.unwrap_or(d.standardize);
    let fit = FitConfig {
        epochs: Some(args.epochs.unwrap_or(d.epochs)),
        batch_size: args.batch_size.unwrap_or(d.batch_size),
        learning_rate: cli.lr.unwrap_or(d.learning_rate),
        seed: args.seed,
        verbose: !args.quiet,
        validation_split: CC_FIT_VALIDATION,
        early_stopping: Some(EarlyStopping {
            patience: cli.patience.unwrap_or(d.patience),
            min_delta: 0.0,
            restore_best_weights: true,
        }),
        ..Default::default()
    };
    let score = cli.score.as_deref().map(FeatureScore::parse).transpose()?.unwrap_or(d.score);
    let new_detector =
        || creditcard_detector(kind, s.x_train.ncols(), standardize, score, device, args.recon.as_deref());

    // What training adds: the same network, untrained (GMM fitted on its codes).
    let baseline = if args.no_baseline {
        None
    } else {
        let mut b = new_detector()?;
        b.fit(s.x_train.view(), &FitConfig { epochs: Some(0), verbose: false, ..fit.clone() })?;
        let sc = scores_of(b.as_ref(), s.x_test.view())?;
        Some((metrics::roc_auc(&s.y_test, &sc)?, metrics::average_precision(&s.y_test, &sc)?, sc))
    };

    let mut det = new_detector()?;
    eprintln!(
        "training {} on {} legitimate rows ({} % held out for early stopping), up to {} epochs, batch {}, lr {}, \
         standardize {}, device {}",
        kind.name(),
        s.x_train.nrows(),
        CC_FIT_VALIDATION * 100.0,
        fit.epochs_for(s.x_train.nrows()),
        fit.batch_size,
        fit.learning_rate,
        standardize,
        args.device
    );
    let report = det.fit(s.x_train.view(), &fit)?;

    // Thresholds from the validation split only; the test split is scored once.
    let val_scores = scores_of(det.as_ref(), s.x_val.view())?;
    let (perc_thr, best) = thresholds(&val_scores, &s.y_val, cli.percentile, ties)?;
    det.set_threshold(perc_thr)?;
    let t = Instant::now();
    let scores = scores_of(det.as_ref(), s.x_test.view())?;
    let score_s = t.elapsed().as_secs_f64();
    let ev = evaluate(&s.y_test, &scores, perc_thr)?;
    let ev_f1 = evaluate(&s.y_test, &scores, best.threshold)?;
    let val_auc = metrics::roc_auc(&s.y_val, &val_scores)?;
    let val_ap = metrics::average_precision(&s.y_val, &val_scores)?;

    let epochs_run = report.epochs.len();
    println!("\n{} on credit-card fraud, seed {}, split seed {}", kind.name(), args.seed, split_seed);
    println!(
        "rows {} ({} frauds); train {} legitimate, validation {} ({} frauds), test {} ({} frauds)",
        s.n_rows,
        s.n_frauds,
        s.x_train.nrows(),
        s.y_val.len(),
        count(&s.y_val),
        ev.n,
        ev.n_outliers
    );
    println!(
        "trained in {:.1} s: {} epochs ({:.2} s/epoch), best epoch {}{}",
        report.train_seconds,
        epochs_run,
        report.train_seconds / epochs_run.max(1) as f64,
        report.best_epoch,
        if report.stopped_early { ", stopped early" } else { "" }
    );
    println!("validation: ROC AUC {val_auc:.4}  AUPRC {val_ap:.4}");
    println!("test: ROC AUC {:.4}  AUPRC {:.4}", ev.roc_auc, ev.auprc);
    for (label, e) in [
        (format!("{}th percentile of validation legit", cli.percentile), &ev),
        ("F1-best on validation".into(), &ev_f1),
    ] {
        println!(
            "threshold {:.4} ({label}):\n{}\nprecision {:.4}  recall {:.4}  F1 {:.4}",
            e.threshold,
            e.confusion(),
            e.precision,
            e.recall,
            e.f1
        );
    }
    if let Some((auc, ap, _)) = &baseline {
        println!("untrained network: ROC AUC {auc:.4}  AUPRC {ap:.4}");
    }
    let rows_per_s = (!args.no_bench).then(|| s.x_test.nrows() as f64 / score_s);
    if let Some(r) = rows_per_s {
        println!("scoring: {:.0} rows/s ({} test rows, one call, default batch)", r, s.x_test.nrows());
    }

    let model_path = args.out.join(format!("{name}.oddity"));
    det.save(&model_path)?;
    println!("saved detector (percentile threshold): {}", model_path.display());
    if !args.no_plots {
        let p = |f: &str| args.out.join(format!("{name}_{f}.png"));
        plot::plot_instance_scores(
            p("scores"),
            &scores,
            Some(&s.y_test),
            Some(perc_thr),
            &format!("{} scores, credit-card test split, {}th percentile threshold", kind.name(), cli.percentile),
        )?;
        plot::plot_instance_scores(
            p("scores_f1"),
            &scores,
            Some(&s.y_test),
            Some(best.threshold),
            &format!("{} scores, credit-card test split, F1-best validation threshold", kind.name()),
        )?;
        let untrained = baseline.as_ref().map(|(_, _, b)| b.as_slice());
        plot_curves_and_loss(&args.out, name, kind, &s.y_test, &scores, untrained, &report)?;
    }
    let at = |e: &oddity::eval::report::Evaluation| {
        serde_json::json!({"threshold": e.threshold, "precision": e.precision, "recall": e.recall, "f1": e.f1,
            "tp": e.tp, "fp": e.fp})
    };
    let json = serde_json::json!({
        "detector": kind.name(), "dataset": "creditcard", "seed": args.seed, "split_seed": split_seed,
        "device": args.device, "epochs": fit.epochs, "epochs_run": epochs_run, "best_epoch": report.best_epoch,
        "batch_size": fit.batch_size, "learning_rate": fit.learning_rate, "standardize": standardize,
        "threads": cli.threads.max(1),
        "score": (kind.tag() == "ae").then(|| format!("{score:?}")),
        "amount": if log_amount { "log1p" } else { "std" },
        "train_seconds": report.train_seconds,
        "seconds_per_epoch": report.train_seconds / epochs_run.max(1) as f64,
        "percentile": cli.percentile, "threshold": perc_thr, "precision": ev.precision, "recall": ev.recall,
        "f1": ev.f1, "roc_auc": ev.roc_auc, "auprc": ev.auprc, "best_f1": at(&ev_f1), "at_percentile": at(&ev),
        "val_roc_auc": val_auc, "val_auprc": val_ap, "val_best_f1": best.f1,
        "n_train": s.x_train.nrows(), "n_val": s.y_val.len(), "n_test": ev.n, "n_test_frauds": ev.n_outliers,
        "max_amount": cli.max_amount, "scoring_rows_per_second": rows_per_s, "jitter_retries": report.jitter_retries,
        "untrained": baseline.as_ref().map(|(auc, ap, _)| serde_json::json!({"roc_auc": auc, "auprc": ap})),
    });
    println!("{json}");
    Ok(())
}
