//! `oddity`: fit, threshold, score and inspect anomaly detectors from the
//! command line. See docs/cli.md.
//!
//! Exit status 0 on success, 1 on any error, with one `error: ...` line on
//! stderr. Results go to stdout, progress and warnings to stderr.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use oddity::csv::{read_csv, CsvOptions, DropColumn};
use oddity::persist;
use oddity::{
    Activation, AeConfig, AegmmConfig, Detector, DetectorKind, Device, FitConfig, OddityError, OutlierAE, OutlierAEGMM,
    OutlierVAEGMM, PredictConfig, Result, Ties, TrainReport, VaegmmConfig,
};

#[derive(Parser, Debug)]
#[command(
    name = "oddity",
    version,
    about = "Unsupervised anomaly detection (AE, AEGMM, VAEGMM) on libtorch",
    long_about = "Unsupervised anomaly detection (AE, AEGMM, VAEGMM) on libtorch.\n\n\
        Typical use: `fit` on a CSV of inliers, `threshold` from a percentile of scores on \
        representative data, then `score` new rows. Input files are numeric CSV with an optional \
        header; `-` reads stdin. Exit status: 0 on success, 1 on any error.",
    after_help = "Example:\n  oddity fit --detector aegmm --train normal.csv --out kdd.oddity --epochs 50\n  \
        oddity threshold kdd.oddity --data val.csv --percentile 95 --label-column label\n  \
        oddity score kdd.oddity new.csv > scores.csv\n  oddity info kdd.oddity"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a detector on inliers and save it to a file.
    Fit(FitArgs),
    /// Set a detector's threshold to a percentile of its scores on DATA, save it back, print it.
    Threshold(ThresholdArgs),
    /// Score rows: one `score,is_outlier` line per input row, in input order, on stdout.
    ///
    /// Higher scores are more anomalous. `is_outlier` is 1 when score > threshold, else 0;
    /// it is left empty when the detector has no threshold yet (with one warning on stderr).
    Score(ScoreArgs),
    /// Print a detector file's metadata as JSON.
    Info(InfoArgs),
}

/// Which detector to train.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum KindArg {
    /// Autoencoder; the score is the mean squared reconstruction error.
    Ae,
    /// Autoencoder + Gaussian mixture (DAGMM); the score is the sample energy.
    Aegmm,
    /// Variational autoencoder + Gaussian mixture.
    Vaegmm,
}

/// What `threshold` does with scores tied at the percentile.
#[derive(Debug, Clone, Copy, Default, ValueEnum)]
enum TiesArg {
    /// Flag a tied group at the percentile when that brings the flagged count
    /// nearer `100 - P` % of the rows.
    #[default]
    Nearest,
    /// The percentile as is (Alibi Detect): a tied group there is never flagged.
    Percentile,
}

impl From<TiesArg> for Ties {
    fn from(t: TiesArg) -> Self {
        match t {
            TiesArg::Nearest => Ties::NearestCount,
            TiesArg::Percentile => Ties::Percentile,
        }
    }
}

impl From<KindArg> for DetectorKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Ae => DetectorKind::Ae,
            KindArg::Aegmm => DetectorKind::Aegmm,
            KindArg::Vaegmm => DetectorKind::Vaegmm,
        }
    }
}

/// Which input column to leave out (a label).
#[derive(Args, Debug, Clone)]
struct LabelArgs {
    /// Leave out the column with this header name (e.g. a label); the CSV must have a header.
    #[arg(long, value_name = "NAME", conflicts_with = "label_index")]
    label_column: Option<String>,
    /// Leave out the column at this 1-based position (for files without a header).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    label_index: Option<u64>,
}

impl LabelArgs {
    fn csv_options(&self) -> CsvOptions {
        let drop = match (&self.label_column, self.label_index) {
            (Some(name), _) => Some(DropColumn::Name(name.clone())),
            (None, Some(i)) => Some(DropColumn::Index(i.saturating_sub(1) as usize)),
            (None, None) => None,
        };
        CsvOptions { drop }
    }
}

#[derive(Args, Debug)]
struct FitArgs {
    /// Detector type.
    #[arg(long, value_enum)]
    detector: KindArg,
    /// Training CSV (inliers only); `-` reads stdin.
    #[arg(long, value_name = "FILE.csv")]
    train: PathBuf,
    /// Where to write the detector (atomically; replaces an existing file).
    #[arg(long, value_name = "DET.oddity")]
    out: PathBuf,
    /// TOML (by extension) or JSON file with optional `detector` and `fit` sections.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Passes over the training data [default: 20, or the config file's].
    #[arg(long, value_name = "N")]
    epochs: Option<usize>,
    /// Rows per optimisation step [default: 256, or the config file's].
    #[arg(long, value_name = "N")]
    batch_size: Option<usize>,
    /// Optimizer learning rate [default: 0.001, or the config file's].
    #[arg(long, value_name = "F")]
    learning_rate: Option<f64>,
    /// Seed of weights, shuffling, validation split and VAE noise [default: 0, or the config file's].
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Fraction of rows held out for a validation loss, in [0, 1) [default: 0, or the config file's].
    #[arg(long, value_name = "F")]
    validation_split: Option<f64>,
    /// cpu, cuda, cuda:N, or auto (CUDA when present).
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    device: Device,
    #[command(flatten)]
    label: LabelArgs,
    /// No progress output (the one-line summary is still printed).
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct ThresholdArgs {
    /// Detector file; updated in place (atomically).
    #[arg(value_name = "DET.oddity")]
    detector: PathBuf,
    /// CSV to score; `-` reads stdin. Usually validation data with the expected share of outliers.
    #[arg(long, value_name = "FILE.csv")]
    data: PathBuf,
    /// Percentile of the scores in [0, 100] (numpy's linear interpolation), e.g. 95.
    #[arg(long, value_name = "P")]
    percentile: f64,
    /// Scores tied at the percentile (duplicated rows): flag the group if that
    /// is nearer the requested share (`nearest`), or never (`percentile`).
    #[arg(long, value_enum, default_value_t)]
    ties: TiesArg,
    #[command(flatten)]
    label: LabelArgs,
    #[command(flatten)]
    run: RunArgs,
}

/// Where and in what batches a loaded detector scores.
#[derive(Args, Debug)]
struct RunArgs {
    /// Rows per forward pass.
    #[arg(long, value_name = "N", default_value_t = oddity::detector::DEFAULT_SCORE_BATCH)]
    batch_size: usize,
    /// cpu, cuda, cuda:N, or auto.
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    device: Device,
}

#[derive(Args, Debug)]
struct ScoreArgs {
    /// Detector file.
    #[arg(value_name = "DET.oddity")]
    detector: PathBuf,
    /// CSV to score, or `-` for stdin.
    #[arg(value_name = "FILE.csv|-")]
    data: PathBuf,
    #[command(flatten)]
    label: LabelArgs,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Args, Debug)]
struct InfoArgs {
    /// Detector file.
    #[arg(value_name = "DET.oddity")]
    detector: PathBuf,
}

fn parse_device(s: &str) -> std::result::Result<Device, String> {
    Device::parse(s).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help or --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::FAILURE;
        }
    };
    // A panic would be a bug; report it on one line like any other error.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("error: internal error{at}: {}", one_line(&msg));
    }));
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli))) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {}", one_line(&e.to_string()));
            ExitCode::FAILURE
        }
        Err(_) => ExitCode::FAILURE,
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Fit(a) => fit(a),
        Command::Threshold(a) => threshold(a),
        Command::Score(a) => score(a),
        Command::Info(a) => info(a),
    }
}

// ---------------------------------------------------------------- fit

/// The `--config` file: both sections optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile<D> {
    detector: Option<D>,
    fit: Option<FitConfig>,
}

fn fit(a: FitArgs) -> Result<()> {
    let kind = DetectorKind::from(a.detector);
    let (x, _) = read_csv(&a.train, &a.label.csv_options())?;
    let n = x.ncols();
    let config_text = a.config.as_deref().map(|p| std::fs::read_to_string(p).map_err(|e| OddityError::io(p, e)));
    let config_text = config_text.transpose()?;
    let source = a.config.as_deref().zip(config_text.as_deref());
    let (mut det, file_fit): (Box<dyn Detector>, Option<FitConfig>) = match kind {
        DetectorKind::Ae => {
            let c = parse_config::<AeConfig>(source)?;
            let cfg = c.detector.unwrap_or_else(|| default_ae(n));
            check_width(cfg.n_features, n)?;
            (Box::new(OutlierAE::new(cfg, a.device)?), c.fit)
        }
        DetectorKind::Aegmm => {
            let c = parse_config::<AegmmConfig>(source)?;
            let cfg = c.detector.unwrap_or_else(|| AegmmConfig::new(n));
            check_width(cfg.n_features, n)?;
            (Box::new(OutlierAEGMM::new(cfg, a.device)?), c.fit)
        }
        DetectorKind::Vaegmm => {
            let c = parse_config::<VaegmmConfig>(source)?;
            let cfg = c.detector.unwrap_or_else(|| VaegmmConfig::new(n));
            check_width(cfg.n_features, n)?;
            (Box::new(OutlierVAEGMM::new(cfg, a.device)?), c.fit)
        }
    };
    let mut fc = file_fit.unwrap_or_default();
    fc.epochs = a.epochs.unwrap_or(fc.epochs);
    fc.batch_size = a.batch_size.unwrap_or(fc.batch_size);
    fc.learning_rate = a.learning_rate.unwrap_or(fc.learning_rate);
    fc.seed = a.seed.unwrap_or(fc.seed);
    fc.validation_split = a.validation_split.unwrap_or(fc.validation_split);
    fc.verbose = !a.quiet;
    let report = det.fit(x.view(), &fc)?;
    det.save(&a.out)?;
    eprintln!("{}", fit_summary(kind, &x.dim(), &report, &a.out));
    Ok(())
}

/// Default AE for `n` features: tanh hidden layers of max(2n, 8) and max(n, 4)
/// units, a tanh code of max(2, n/4) units, mirrored decoder, linear output.
fn default_ae(n: usize) -> AeConfig {
    AeConfig::symmetric(n, &[(2 * n).max(8), n.max(4)], (n / 4).max(2), Activation::Tanh)
}

fn check_width(configured: usize, data: usize) -> Result<()> {
    if configured != data {
        return Err(OddityError::param(
            "detector.n_features",
            format!("the config file says {configured}, the training data has {data} columns"),
        ));
    }
    Ok(())
}

/// Parses the config file: TOML if the name ends in `.toml`, JSON otherwise.
/// Unknown fields anywhere are errors, so a misspelt setting is never ignored.
fn parse_config<D: DeserializeOwned + Serialize>(source: Option<(&Path, &str)>) -> Result<ConfigFile<D>> {
    let Some((path, text)) = source else {
        return Ok(ConfigFile { detector: None, fit: None });
    };
    let name = path.display().to_string();
    let is_toml = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    let (typed, raw): (ConfigFile<D>, Value) = if is_toml {
        let de_err = |e: toml::de::Error| {
            let (line, column) = e.span().map_or((1, None), |s| line_col(text, s.start));
            OddityError::Parse { source_name: name.clone(), line, column, reason: e.message().to_string() }
        };
        (toml::from_str(text).map_err(de_err)?, toml::from_str(text).map_err(de_err)?)
    } else {
        let de_err = |e: serde_json::Error| {
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            let msg = e.to_string();
            let reason = msg.strip_suffix(&suffix).unwrap_or(&msg).to_string();
            OddityError::Parse {
                source_name: name.clone(),
                line: e.line().max(1),
                column: Some(e.column().max(1)),
                reason,
            }
        };
        (serde_json::from_str(text).map_err(de_err)?, serde_json::from_str(text).map_err(de_err)?)
    };
    let sections = [
        ("detector", typed.detector.as_ref().map(serde_json::to_value)),
        ("fit", typed.fit.as_ref().map(serde_json::to_value)),
    ];
    for (section, known) in sections {
        let (Some(given), Some(Ok(known))) = (raw.get(section), known) else { continue };
        if let Some(field) = unknown_field(given, &known, section) {
            let key = field.rsplit('.').next().unwrap_or(&field);
            let (line, column) = text.find(key).map_or((1, None), |at| line_col(text, at));
            let reason = format!("unknown field `{field}`");
            return Err(OddityError::Parse { source_name: name, line, column, reason });
        }
    }
    Ok(typed)
}

/// The dotted path of the first key in `given` that the parsed value `known`
/// (the same section re-serialised) does not have.
fn unknown_field(given: &Value, known: &Value, at: &str) -> Option<String> {
    match (given, known) {
        (Value::Object(g), Value::Object(k)) => g.iter().find_map(|(key, v)| {
            let path = format!("{at}.{key}");
            match k.get(key) {
                None => Some(path),
                Some(kv) => unknown_field(v, kv, &path),
            }
        }),
        (Value::Array(g), Value::Array(k)) => {
            g.iter().zip(k).enumerate().find_map(|(i, (gv, kv))| unknown_field(gv, kv, &format!("{at}[{i}]")))
        }
        _ => None,
    }
}

/// 1-based line and column of byte offset `at` in `text`.
fn line_col(text: &str, at: usize) -> (usize, Option<usize>) {
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, Some(column))
}

fn fit_summary(kind: DetectorKind, dim: &(usize, usize), r: &TrainReport, out: &Path) -> String {
    let loss = r.final_loss().map_or_else(|| "n/a".to_string(), |l| format!("{l:.6}"));
    let val = r.epochs.last().and_then(|e| e.val_loss).map(|v| format!(", val loss {v:.6}")).unwrap_or_default();
    format!(
        "fitted {} on {} rows x {} features ({} epochs{}, {:.2} s, final loss {loss}{val}); saved {}",
        kind.name(),
        dim.0,
        dim.1,
        r.epochs.len(),
        if r.stopped_early { " (stopped early)" } else { "" },
        r.train_seconds,
        out.display()
    )
}

// ---------------------------------------------------------------- threshold

fn threshold(a: ThresholdArgs) -> Result<()> {
    let mut det = oddity::load_any(&a.detector, a.run.device)?;
    let (x, _) = read_csv(&a.data, &a.label.csv_options())?;
    let cfg = PredictConfig {
        batch_size: a.run.batch_size,
        return_feature_score: false,
        ties: a.ties.into(),
        ..Default::default()
    };
    let t = det.infer_threshold_with(x.view(), a.percentile, &cfg)?;
    det.save(&a.detector)?;
    print_out(&format!("{t}\n"))
}

// ---------------------------------------------------------------- score

fn score(a: ScoreArgs) -> Result<()> {
    let det = oddity::load_any(&a.detector, a.run.device)?;
    let (x, _) = read_csv(&a.data, &a.label.csv_options())?;
    let cfg = PredictConfig { batch_size: a.run.batch_size, return_feature_score: false, ..Default::default() };
    let scores = det.score_with(x.view(), &cfg)?;
    let threshold = det.threshold();
    if threshold.is_none() {
        eprintln!(
            "warning: {} has no threshold; the is_outlier column is left empty (run `oddity threshold` first)",
            a.detector.display()
        );
    }
    let stdout = std::io::stdout();
    let mut w = BufWriter::new(stdout.lock());
    let written = (|| -> std::io::Result<()> {
        for &s in scores.instance.iter() {
            match threshold {
                Some(t) => writeln!(w, "{s},{}", u8::from(s as f64 > t))?,
                None => writeln!(w, "{s},")?,
            }
        }
        w.flush()
    })();
    stdout_result(written)
}

/// Writes `text` to stdout.
fn print_out(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    stdout_result(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}

/// A closed pipe (e.g. `| head`) is not an error of ours; anything else is.
fn stdout_result(r: std::io::Result<()>) -> Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(|e| OddityError::io("<stdout>", e)),
    }
}

// ---------------------------------------------------------------- info

/// What `oddity info` prints (a struct, so the keys keep this order).
#[derive(Serialize)]
struct Info<'a> {
    file: String,
    kind: DetectorKind,
    name: &'static str,
    library_version: &'a str,
    format_version: u16,
    n_features: Value,
    fitted: bool,
    threshold: Option<f64>,
    standardized: bool,
    gmm: Option<Value>,
    training: Value,
    saved_on: &'a str,
    n_parameters: u64,
    tensors: Vec<Value>,
    config: Value,
    extra: Value,
}

fn info(a: InfoArgs) -> Result<()> {
    let f = persist::read(&a.detector)?;
    let m = &f.meta;
    let bad = |what: &str, e: serde_json::Error| OddityError::Format {
        path: a.detector.clone(),
        reason: format!("invalid {what} JSON: {e}"),
    };
    let config: Value = serde_json::from_str(&m.config_json).map_err(|e| bad("config", e))?;
    let extra: Value = serde_json::from_str(&m.extra_json).map_err(|e| bad("extra state", e))?;
    let training = match &m.report_json {
        None => Value::Null,
        Some(s) => {
            let r: TrainReport = serde_json::from_str(s).map_err(|e| bad("training report", e))?;
            json!({
                "epochs": r.epochs.len(),
                "best_epoch": r.best_epoch,
                "stopped_early": r.stopped_early,
                "n_train": r.n_train,
                "n_val": r.n_val,
                "train_seconds": r.train_seconds,
                "final_loss": r.final_loss(),
                "final_val_loss": r.epochs.last().and_then(|e| e.val_loss),
                "jitter_retries": r.jitter_retries,
                "max_jitter": r.max_jitter,
            })
        }
    };
    let gmm = m.gmm.as_ref().map(|g| json!({ "k": g.k, "d": g.d, "phi": g.phi, "jitter": g.jitter }));
    let tensors: Vec<Value> =
        m.tensors.iter().map(|t| json!({ "name": t.name, "dtype": t.dtype, "shape": t.shape })).collect();
    let n_parameters: u64 = m.tensors.iter().map(|t| t.shape.iter().product::<u64>()).sum();
    let out = Info {
        file: a.detector.display().to_string(),
        kind: m.kind,
        name: m.kind.name(),
        library_version: &m.library_version,
        format_version: m.format_version,
        n_features: config.get("n_features").cloned().unwrap_or(Value::Null),
        fitted: m.fitted,
        threshold: m.threshold,
        standardized: m.scaler.is_some(),
        gmm,
        training,
        saved_on: &m.saved_on,
        n_parameters,
        tensors,
        config,
        extra,
    };
    let text = serde_json::to_string_pretty(&out).map_err(|e| OddityError::Numerical(e.to_string()))?;
    print_out(&format!("{text}\n"))
}
