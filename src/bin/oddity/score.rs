//! `oddity score`: one `score,is_outlier` line per input row.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use clap::Args;

use oddity::io::any::{is_parquet, read_table_chunks};
use oddity::persist::write_atomic;
use oddity::{OddityError, PredictConfig, Result};

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

/// Parts of at least this many rows are scored at once; the table itself is
/// never held whole (only a part's features and scores).
const PART_ROWS: usize = 1 << 17;

pub(crate) fn score(a: ScoreArgs) -> Result<()> {
    let det = oddity::load_any(&a.detector, a.run.device)?;
    let cfg = PredictConfig { batch_size: a.run.batch_size, return_feature_score: false, ..Default::default() };
    let threshold = det.threshold();
    // Whole scoring batches per part, so that every row gets the score the
    // whole table scored at once would give it (`PredictConfig::first_row`);
    // at least two batches per worker, so that the first part is not cut
    // into smaller batches than a longer whole table would be.
    let batch = det.scoring_batch(&cfg);
    let workers = tch::get_num_threads().max(1) as usize;
    let part = PART_ROWS.max(2 * workers * batch).div_ceil(batch) * batch;
    let read = read_options(&a.header, &a.label);
    let mut unscorable = Unscorable::default();
    // Reads, scores and writes the table part by part into `sink`.
    let run = |sink: &mut Sink, unscorable: &mut Unscorable| {
        let mut scoring_error = false;
        let warnings = read_table_chunks(&a.data, &det.schema(), &read, part, &mut |first, x| {
            let scores = det.score_with(x.view(), &PredictConfig { first_row: first, ..cfg.clone() }).map_err(|e| {
                scoring_error = true;
                name_files(e, &a.data, &a.detector)
            })?;
            let s = scores.instance.to_vec();
            unscorable.note(first, &s);
            let flags: Option<Vec<bool>> = threshold.map(|t| s.iter().map(|&v| v as f64 > t).collect());
            sink(&s, flags.as_deref())
        });
        match warnings {
            Ok(w) => Ok(w),
            Err(e) if scoring_error => Err(e),
            Err(e) => Err(name_detector(e, &a.detector)),
        }
    };
    let warnings = match &a.out {
        Some(p) if is_parquet(p) => parquet_out(p, &run, &mut unscorable)?,
        Some(p) => {
            let mut failed = None;
            let mut warnings = Vec::new();
            let r = write_atomic(p, |w| {
                let mut w = BufWriter::new(w);
                let done = run(&mut |s, f| csv_lines(&mut w, s, f).map_err(|e| OddityError::io(p, e)), &mut unscorable)
                    .map(|ws| warnings = ws);
                match done.and_then(|()| w.flush().map_err(|e| OddityError::io(p, e))) {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        failed = Some(e);
                        Err(std::io::Error::other("not written"))
                    }
                }
            });
            failed.map_or(r, Err)?;
            warnings
        }
        None => {
            let stdout = std::io::stdout();
            let mut w = BufWriter::new(stdout.lock());
            // A closed pipe (`| head`) ends the run without an error.
            let mut closed = false;
            let r = run(
                &mut |s, f| match csv_lines(&mut w, s, f) {
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                        closed = true;
                        Err(OddityError::io("<stdout>", e))
                    }
                    other => stdout_result(other),
                },
                &mut unscorable,
            );
            if closed {
                return Ok(());
            }
            let warnings = r?;
            stdout_result(w.flush())?;
            warnings
        }
    };
    if threshold.is_none() {
        eprintln!(
            "warning: {} has no threshold; the is_outlier column is left empty (run `oddity threshold` first)",
            a.detector.display()
        );
    }
    tell("warning", &warnings);
    unscorable.report();
    Ok(())
}

/// One `score,is_outlier` line per row.
fn csv_lines(w: &mut dyn Write, scores: &[f32], flags: Option<&[bool]>) -> std::io::Result<()> {
    for (i, &s) in scores.iter().enumerate() {
        match flags {
            Some(f) => writeln!(w, "{s},{}", u8::from(f[i]))?,
            None => writeln!(w, "{s},")?,
        }
    }
    Ok(())
}

/// Rows the model could not score (their score is +inf, flagged).
#[derive(Default)]
struct Unscorable {
    count: usize,
    first: Vec<usize>,
}

impl Unscorable {
    fn note(&mut self, first_row: usize, scores: &[f32]) {
        for (i, _) in scores.iter().enumerate().filter(|(_, s)| !s.is_finite()) {
            self.count += 1;
            if self.first.len() < 10 {
                self.first.push(first_row + i + 1);
            }
        }
    }

    fn report(&self) {
        if self.count > 0 {
            let shown: Vec<String> = self.first.iter().map(usize::to_string).collect();
            eprintln!(
                "warning: {} rows could not be scored (score inf, flagged as outliers): data rows {}{} (1-based)",
                self.count,
                shown.join(", "),
                if self.count > 10 { ", ..." } else { "" }
            );
        }
    }
}

/// Where a part's scores and flags go.
type Sink<'s> = dyn FnMut(&[f32], Option<&[bool]>) -> Result<()> + 's;

/// Reads, scores and writes the whole table into a sink; returns the
/// table's warnings.
type Run<'r> = dyn Fn(&mut Sink, &mut Unscorable) -> Result<Vec<String>> + 'r;

/// Scores to a Parquet file, part by part, atomically.
#[cfg(feature = "parquet")]
fn parquet_out(p: &std::path::Path, run: &Run, unscorable: &mut Unscorable) -> Result<Vec<String>> {
    let mut failed = None;
    let mut warnings = Vec::new();
    let r = write_atomic(p, |out| {
        let done = oddity::io::parquet::ScoreWriter::new(out).and_then(|mut w| {
            warnings = run(&mut |s, f| w.write(s, f), unscorable)?;
            w.finish()
        });
        done.map_err(|e| {
            failed = Some(e);
            std::io::Error::other("not written")
        })
    });
    failed.map_or(r, Err)?;
    Ok(warnings)
}

#[cfg(not(feature = "parquet"))]
fn parquet_out(p: &std::path::Path, _: &Run, _: &mut Unscorable) -> Result<Vec<String>> {
    Err(oddity::io::any::no_parquet(p))
}
