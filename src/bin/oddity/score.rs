//! `oddity score`: one `score,is_outlier` line per input row.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use clap::Args;

use oddity::io::any::{is_parquet, read_table_with};
use oddity::persist::write_atomic;
use oddity::{PredictConfig, Result};

use crate::{name_detector, name_files, read_options, stdout_result, tell, HeaderArgs, LabelArgs, RunArgs};

#[derive(Args, Debug)]
pub(crate) struct ScoreArgs {
    /// Detector file.
    #[arg(value_name = "DET.oddity")]
    detector: PathBuf,
    /// Table to score: CSV, gzip CSV, Parquet (`.parquet`), or `-` for stdin.
    #[arg(value_name = "FILE.csv|-")]
    data: PathBuf,
    /// Write the scores to this file instead of stdout: Parquet (columns `score`, `is_outlier`) if it ends in `.parquet`, else CSV lines.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    label: LabelArgs,
    #[command(flatten)]
    header: HeaderArgs,
    #[command(flatten)]
    run: RunArgs,
}

pub(crate) fn score(a: ScoreArgs) -> Result<()> {
    let det = oddity::load_any(&a.detector, a.run.device)?;
    let (x, warnings) = read_table_with(&a.data, &det.schema(), &read_options(&a.header, &a.label))
        .map_err(|e| name_detector(e, &a.detector))?;
    tell("warning", &warnings);
    let cfg = PredictConfig { batch_size: a.run.batch_size, return_feature_score: false, ..Default::default() };
    let scores = det.score_with(x.view(), &cfg).map_err(|e| name_files(e, &a.data, &a.detector))?;
    let unscorable: Vec<usize> = (0..scores.instance.len()).filter(|&i| !scores.instance[i].is_finite()).collect();
    if !unscorable.is_empty() {
        let shown: Vec<String> = unscorable.iter().take(10).map(|i| (i + 1).to_string()).collect();
        eprintln!(
            "warning: {} rows could not be scored (score inf, flagged as outliers): data rows {}{} (1-based)",
            unscorable.len(),
            shown.join(", "),
            if unscorable.len() > 10 { ", ..." } else { "" }
        );
    }
    let threshold = det.threshold();
    if threshold.is_none() {
        eprintln!(
            "warning: {} has no threshold; the is_outlier column is left empty (run `oddity threshold` first)",
            a.detector.display()
        );
    }
    let flags: Option<Vec<bool>> = threshold.map(|t| scores.instance.iter().map(|&s| s as f64 > t).collect());
    let lines = |w: &mut dyn Write| -> std::io::Result<()> {
        for (i, &s) in scores.instance.iter().enumerate() {
            match &flags {
                Some(f) => writeln!(w, "{s},{}", u8::from(f[i]))?,
                None => writeln!(w, "{s},")?,
            }
        }
        w.flush()
    };
    match &a.out {
        Some(p) if is_parquet(p) => write_parquet(p, &scores.instance.to_vec(), flags.as_deref()),
        Some(p) => write_atomic(p, |w| lines(&mut BufWriter::new(w))),
        None => {
            let stdout = std::io::stdout();
            let mut w = BufWriter::new(stdout.lock());
            stdout_result(lines(&mut w))
        }
    }
}

#[cfg(feature = "parquet")]
fn write_parquet(p: &std::path::Path, scores: &[f32], flags: Option<&[bool]>) -> Result<()> {
    oddity::io::parquet::write_scores(p, scores, flags)
}

#[cfg(not(feature = "parquet"))]
fn write_parquet(p: &std::path::Path, _: &[f32], _: Option<&[bool]>) -> Result<()> {
    Err(oddity::io::any::no_parquet(p))
}
