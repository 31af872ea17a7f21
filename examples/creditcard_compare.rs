//! Labels when you have a few: supervised baselines against the unsupervised
//! autoencoder on the credit-card fraud data, on one seeded stratified split.
//!
//! Trains four models and scores the same test rows with each:
//! - `baseline`: the dense classifier (16 relu, dropout 0.5, sigmoid output
//!   whose bias starts at ln(pos/neg)), batch 2048, early stopping on the
//!   validation AUPRC (patience 10, best weights restored);
//! - `weighted`: the same with balanced class weights in the loss;
//! - `oversampled`: the same on training data whose frauds were drawn with
//!   replacement up to as many as the legitimate rows;
//! - `autoencoder`: `OutlierAE` (29-14-7-7-29) trained on legitimate training
//!   rows only; its threshold is the F1-best one on the validation split
//!   (`threshold::from_labels`). The classifiers flag `p > 0.5`.
//!
//! Prints a table (TP, FP, TN, FN, precision, recall, ROC AUC, AUPRC), then one
//! JSON line per model, and writes `creditcard_compare_roc.png` and
//! `creditcard_compare_pr.png` to `--out`.
//!
//! Protocol: `Time` dropped; one split stratified by label into 64 % train,
//! 16 % validation, 20 % test (seeded by `--seed`, like the weights); `Amount`
//! standardised with the mean and std of the training rows. ROC and PR curves
//! of the classifiers use their logits, which rank rows like the
//! probabilities without saturating at 1.0 in f32.
//!
//! Options: `--seed`, `--out DIR`, `--data PATH`, `--epochs N` (caps every
//! model; defaults: 100 for the classifiers, 30 for the autoencoder, both with
//! early stopping), `--batch-size` (the classifiers'), `--device`, `--quiet`,
//! `--no-plots`. Runs libtorch on one thread (the networks are tiny).
//!
//! Time on 2 CPU cores: 45-80 s, on a busy machine (see docs/creditcard_compare.md).
//!
//!     cargo run --release --example creditcard_compare -- --seed 0 --out out

mod common;

use std::time::Instant;

use clap::Parser;
use ndarray::Array2;
use oddity::baselines::imbalance::random_oversample;
use oddity::baselines::supervised::{tutorial_fit_config, BaselineClassifier, ClassWeights, ClassifierConfig};
use oddity::datasets::{self, AmountTransform, CreditCardPrep};
use oddity::eval::plot::{self, CurveInput};
use oddity::eval::report::{evaluate, Evaluation};
use oddity::eval::threshold::{from_labels, LabelObjective};
use oddity::*;

/// The three parts of one stratified split.
struct Split {
    x_train: Array2<f32>,
    y_train: Vec<bool>,
    x_val: Array2<f32>,
    y_val: Vec<bool>,
    x_test: Array2<f32>,
    y_test: Vec<bool>,
}

/// One model's result on the test rows.
struct Outcome {
    model: &'static str,
    /// How the threshold was chosen, in words.
    rule: String,
    ev: Evaluation,
    scores: Vec<f64>,
    train_seconds: f64,
    epochs_run: usize,
    best_epoch: usize,
}

fn count(y: &[bool]) -> usize {
    y.iter().filter(|&&b| b).count()
}

/// Loads the data, splits it 64/16/20 stratified by label, and standardises
/// `Amount` (the last column) with the training rows' mean and std.
fn split(args: &common::Args) -> Result<Split> {
    let t = Instant::now();
    let path = datasets::locate(&datasets::CREDITCARD, args.data.as_deref())?;
    let prep = CreditCardPrep { drop_time: true, amount: AmountTransform::Raw, max_amount: None };
    let cc = datasets::load_creditcard(&path, &prep)?;
    let y = &cc.is_fraud;
    let parts = datasets::stratified_split(y, &[0.64, 0.16, 0.20], args.seed)?;
    let mut x = cc.x;
    datasets::standardize_amount(&mut x, &parts[0])?;
    let part = |k: usize| -> Result<(Array2<f32>, Vec<bool>)> {
        Ok((datasets::select_rows(&x.view(), &parts[k])?, parts[k].iter().map(|&i| y[i]).collect()))
    };
    let ((x_train, y_train), (x_val, y_val), (x_test, y_test)) = (part(0)?, part(1)?, part(2)?);
    eprintln!(
        "data: {} ({} rows, {} frauds) loaded and split in {:.1}s: train {} ({} frauds), validation {} ({}), test {} ({})",
        path.display(),
        y.len(),
        count(y),
        t.elapsed().as_secs_f64(),
        y_train.len(),
        count(&y_train),
        y_val.len(),
        count(&y_val),
        y_test.len(),
        count(&y_test)
    );
    Ok(Split { x_train, y_train, x_val, y_val, x_test, y_test })
}

/// Trains a classifier on `(x, y)` with early stopping on the validation
/// split, and evaluates `p > 0.5` on the test split.
fn classifier(
    model: &'static str,
    weights: ClassWeights,
    x: &Array2<f32>,
    y: &[bool],
    s: &Split,
    fit: &FitConfig,
    device: Device,
) -> Result<Outcome> {
    eprintln!("training {model} on {} rows ({} positive)", y.len(), count(y));
    let cfg = ClassifierConfig { class_weights: weights, ..ClassifierConfig::new(x.ncols()) };
    let mut clf = BaselineClassifier::new(cfg, device)?;
    let r = clf.fit(x.view(), y, s.x_val.view(), &s.y_val, fit)?;
    eprintln!(
        "{model}: {} epochs in {:.1}s, best epoch {} (validation AUPRC {:.4})",
        r.train.epochs.len(),
        r.train.train_seconds,
        r.train.best_epoch,
        r.best_val_auprc().unwrap_or(f64::NAN)
    );
    let scores = common::f64s(&clf.decision_function(s.x_test.view())?);
    Ok(Outcome {
        model,
        rule: "p > 0.5".into(),
        ev: evaluate(&s.y_test, &scores, 0.0)?, // logit > 0 is p > 0.5
        scores,
        train_seconds: r.train.train_seconds,
        epochs_run: r.train.epochs.len(),
        best_epoch: r.train.best_epoch,
    })
}

/// Trains the autoencoder on legitimate training rows, picks the F1-best
/// threshold on the validation split, and evaluates it on the test split.
fn autoencoder(s: &Split, fit: &FitConfig, device: Device) -> Result<Outcome> {
    let legit: Vec<usize> = (0..s.y_train.len()).filter(|&i| !s.y_train[i]).collect();
    let x_legit = datasets::select_rows(&s.x_train.view(), &legit)?;
    eprintln!("training autoencoder on {} legitimate rows", x_legit.nrows());
    let mut det = OutlierAE::new(AeConfig::creditcard(x_legit.ncols()), device)?;
    let r = det.fit(x_legit.view(), fit)?;
    eprintln!("autoencoder: {} epochs in {:.1}s, best epoch {}", r.epochs.len(), r.train_seconds, r.best_epoch);
    let best = from_labels(&mut det, s.x_val.view(), &s.y_val, LabelObjective::MaxF1)?;
    let scores = common::f64s(&det.score(s.x_test.view())?.instance);
    Ok(Outcome {
        model: "autoencoder",
        rule: format!("score > {:.4} (F1-best on validation)", best.threshold),
        ev: evaluate(&s.y_test, &scores, best.threshold)?,
        scores,
        train_seconds: r.train_seconds,
        epochs_run: r.epochs.len(),
        best_epoch: r.best_epoch,
    })
}

fn run() -> Result<()> {
    let t0 = Instant::now();
    let args = common::Args::parse();
    // These networks are tiny: libtorch's intra-op threads only add
    // synchronisation (3-8x slower per epoch on a busy 2-core machine).
    tch::set_num_threads(1);
    let device = Device::parse(&args.device)?;
    std::fs::create_dir_all(&args.out).map_err(|e| OddityError::io(&args.out, e))?;
    let s = split(&args)?;

    let mut fit = tutorial_fit_config(args.seed);
    fit.epochs = args.epochs.or(fit.epochs);
    fit.batch_size = args.batch_size.unwrap_or(fit.batch_size);
    fit.verbose = !args.quiet;
    let (x_over, y_over) = random_oversample(s.x_train.view(), &s.y_train, 1.0, args.seed)?;
    let ae_fit = FitConfig {
        epochs: Some(args.epochs.unwrap_or(30)),
        batch_size: 256,
        seed: args.seed,
        verbose: !args.quiet,
        validation_split: 0.1,
        early_stopping: Some(EarlyStopping { patience: 5, min_delta: 0.0, restore_best_weights: true }),
        ..Default::default()
    };
    let outcomes = vec![
        classifier("baseline", ClassWeights::None, &s.x_train, &s.y_train, &s, &fit, device)?,
        classifier("weighted", ClassWeights::Balanced, &s.x_train, &s.y_train, &s, &fit, device)?,
        classifier("oversampled", ClassWeights::None, &x_over, &y_over, &s, &fit, device)?,
        autoencoder(&s, &ae_fit, device)?,
    ];

    println!(
        "\ncredit-card fraud, seed {}: test split {} rows, {} frauds",
        args.seed,
        s.y_test.len(),
        count(&s.y_test)
    );
    println!(
        "{:<12} {:>5} {:>6} {:>6} {:>4} {:>9} {:>7} {:>8} {:>7}  threshold",
        "model", "TP", "FP", "TN", "FN", "precision", "recall", "ROC AUC", "AUPRC"
    );
    for o in &outcomes {
        let e = &o.ev;
        println!(
            "{:<12} {:>5} {:>6} {:>6} {:>4} {:>9.4} {:>7.4} {:>8.4} {:>7.4}  {}",
            o.model, e.tp, e.fp, e.tn, e.fn_, e.precision, e.recall, e.roc_auc, e.auprc, o.rule
        );
    }
    for o in &outcomes {
        let e = &o.ev;
        let json = serde_json::json!({
            "model": o.model, "dataset": "creditcard", "seed": args.seed, "tp": e.tp, "fp": e.fp, "tn": e.tn,
            "fn": e.fn_, "precision": e.precision, "recall": e.recall, "f1": e.f1, "roc_auc": e.roc_auc,
            "auprc": e.auprc, "threshold": e.threshold, "threshold_rule": o.rule, "n_test": e.n,
            "n_test_frauds": e.n_outliers, "train_seconds": o.train_seconds, "epochs_run": o.epochs_run,
            "best_epoch": o.best_epoch,
        });
        println!("{json}");
    }
    if !args.no_plots {
        let curves: Vec<CurveInput> =
            outcomes.iter().map(|o| CurveInput::new(o.model, s.y_test.clone(), o.scores.clone())).collect();
        let roc = args.out.join("creditcard_compare_roc.png");
        let pr = args.out.join("creditcard_compare_pr.png");
        plot::plot_roc(&roc, &curves)?;
        plot::plot_pr(&pr, &curves)?;
        eprintln!("plots: {}, {}", roc.display(), pr.display());
    }
    eprintln!("total {:.1}s", t0.elapsed().as_secs_f64());
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
