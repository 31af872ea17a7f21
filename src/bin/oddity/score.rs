//! `oddity score`: one `score,is_outlier` line per input row.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use clap::Args;

use oddity::io::table::read_csv_with;
use oddity::{PredictConfig, Result};

use crate::{name_detector, name_files, read_options, stdout_result, tell, HeaderArgs, LabelArgs, RunArgs};

#[derive(Args, Debug)]
pub(crate) struct ScoreArgs {
    /// Detector file.
    #[arg(value_name = "DET.oddity")]
    detector: PathBuf,
    /// CSV to score, or `-` for stdin.
    #[arg(value_name = "FILE.csv|-")]
    data: PathBuf,
    #[command(flatten)]
    label: LabelArgs,
    #[command(flatten)]
    header: HeaderArgs,
    #[command(flatten)]
    run: RunArgs,
}

pub(crate) fn score(a: ScoreArgs) -> Result<()> {
    let det = oddity::load_any(&a.detector, a.run.device)?;
    let (x, warnings) = read_csv_with(&a.data, &det.schema(), &read_options(&a.header, &a.label))
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
