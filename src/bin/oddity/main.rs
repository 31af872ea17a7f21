//! `oddity`: fit, threshold, score and inspect anomaly detectors from the
//! command line. See docs/cli.md.
//!
//! Exit status 0 on success, 1 on any error, with one `error: ...` line on
//! stderr. Results go to stdout, progress and warnings to stderr.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use oddity::io::csv::DropColumn;
use oddity::io::table::{HeaderMode, ReadOptions};
use oddity::{registry, Device, OddityError, Result};

mod fit;
mod info;
mod score;
mod threshold;

use fit::FitArgs;
use info::InfoArgs;
use score::ScoreArgs;
use threshold::ThresholdArgs;

#[derive(Parser, Debug)]
#[command(
    name = "oddity",
    version,
    about = "Unsupervised anomaly detection on libtorch: autoencoders, DAGMM and classical detectors",
    long_about = "Unsupervised anomaly detection on libtorch: autoencoders, DAGMM and classical detectors.\n\n\
        Typical use: `fit` on a CSV of inliers, `threshold` from a percentile of scores on \
        representative data, then `score` new rows. Input files are CSV (optionally gzip) with an \
        optional header; text columns are one-hot encoded and missing cells imputed by a schema \
        learned at `fit` and saved in the detector; `-` reads stdin. Exit status: 0 on success, 1 on any error.",
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
    /// Print a detector file's metadata as JSON (the file is verified and loaded first).
    Info(InfoArgs),
    /// List the detectors `fit --detector` accepts, with their default config for N columns.
    Detectors(DetectorsArgs),
}

#[derive(Args, Debug)]
struct DetectorsArgs {
    /// Print each detector's default config for this many input columns, as JSON.
    #[arg(long, value_name = "N")]
    features: Option<usize>,
}

/// Which input column to leave out (a label).
#[derive(Args, Debug, Clone)]
pub(crate) struct LabelArgs {
    /// Leave out the column with this header name (e.g. a label); the CSV must have a header.
    #[arg(long, value_name = "NAME", conflicts_with = "label_index")]
    label_column: Option<String>,
    /// Leave out the column at this 1-based position (for files without a header).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    label_index: Option<u64>,
}

/// Whether the table's first line is a header (docs/cli.md, "Header").
#[derive(Args, Debug, Clone)]
pub(crate) struct HeaderArgs {
    /// The first non-blank line is a header.
    #[arg(long, conflicts_with = "no_header")]
    header: bool,
    /// Every line is data (no header).
    #[arg(long)]
    no_header: bool,
}

/// How to read a table: header and label.
pub(crate) fn read_options(h: &HeaderArgs, l: &LabelArgs) -> ReadOptions {
    let header = match (h.header, h.no_header) {
        (true, _) => HeaderMode::Present,
        (_, true) => HeaderMode::Absent,
        _ => HeaderMode::Auto,
    };
    let label = match (&l.label_column, l.label_index) {
        (Some(name), _) => Some(DropColumn::Name(name.clone())),
        (None, Some(i)) => Some(DropColumn::Index(i.saturating_sub(1) as usize)),
        (None, None) => None,
    };
    ReadOptions { header, label }
}

/// Prints notes and warnings of the table readers on stderr.
pub(crate) fn tell(prefix: &str, lines: &[String]) {
    for l in lines {
        eprintln!("{prefix}: {l}");
    }
}

/// Where and in what batches a loaded detector scores.
#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// Rows per forward pass.
    #[arg(long, value_name = "N", default_value_t = oddity::detectors::api::DEFAULT_SCORE_BATCH)]
    pub(crate) batch_size: usize,
    /// cpu, cuda, cuda:N, or auto.
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    pub(crate) device: Device,
}

pub(crate) fn parse_device(s: &str) -> std::result::Result<Device, String> {
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
    // A panic would be a bug. The library turns libtorch's panics into
    // errors where it catches them, so the hook only records the last one;
    // one that reaches here is reported on one line like any other error.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let first = msg.lines().next().unwrap_or("").chars().take(300).collect::<String>();
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = format!("internal error{at}: {first}");
    }));
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli))) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {}", one_line(&flag_names(e).to_string()));
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("error: {}", one_line(&LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner())));
            ExitCode::FAILURE
        }
    }
}

/// A width mismatch between a CSV and a detector names both files.
pub(crate) fn name_files(e: OddityError, csv: &std::path::Path, det: &std::path::Path) -> OddityError {
    match e {
        OddityError::FeatureMismatch { expected, got } => OddityError::param(
            "data",
            format!(
                "{} has {got} columns (label column left out), but {} was fitted on {expected}",
                csv.display(),
                det.display()
            ),
        ),
        e => e,
    }
}

/// A table that does not fit a detector's schema names the detector too.
pub(crate) fn name_detector(e: OddityError, det: &std::path::Path) -> OddityError {
    match e {
        OddityError::InvalidParameter { name: "data", reason } => {
            OddityError::param("data", format!("{reason} (detector {})", det.display()))
        }
        e => e,
    }
}

static LAST_PANIC: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// Errors about a setting name the flag that set it.
fn flag_names(e: OddityError) -> OddityError {
    match e {
        OddityError::DeviceUnavailable(m) => OddityError::param("--device", m),
        OddityError::InvalidParameter { name: "threshold_perc", reason } => OddityError::param("--percentile", reason),
        OddityError::InvalidParameter { name: "batch_size", reason } => OddityError::param("--batch-size", reason),
        OddityError::InvalidParameter { name: "device", reason } => OddityError::param("--device", reason),
        e => e,
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Fit(a) => fit::fit(a),
        Command::Threshold(a) => threshold::threshold(a),
        Command::Score(a) => score::score(a),
        Command::Info(a) => info::info(a),
        Command::Detectors(a) => detectors(a),
    }
}

/// `oddity detectors`: the registry, one line per detector, or with
/// `--features N` one JSON object of default configs.
fn detectors(a: DetectorsArgs) -> Result<()> {
    let Some(n) = a.features else {
        let lines: String = registry::BUILTIN.iter().map(|e| format!("{:8} {}\n", e.kind.tag(), e.summary)).collect();
        return print_out(&lines);
    };
    let mut all = serde_json::Map::new();
    for e in registry::BUILTIN {
        all.insert(e.kind.tag().into(), e.default_config(n)?);
    }
    let text = serde_json::to_string_pretty(&all).map_err(|e| OddityError::Numerical(e.to_string()))?;
    print_out(&format!("{text}\n"))
}

/// Writes `text` to stdout.
pub(crate) fn print_out(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    stdout_result(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}

/// A closed pipe (e.g. `| head`) is not an error of ours; anything else is.
pub(crate) fn stdout_result(r: std::io::Result<()>) -> Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(|e| OddityError::io("<stdout>", e)),
    }
}
