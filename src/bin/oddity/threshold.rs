//! `oddity threshold`: set a detector's threshold to a percentile of its
//! scores on a CSV, and save it back.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use oddity::io::any::read_table_with;
use oddity::{PredictConfig, Result, Ties};

use crate::{name_detector, name_files, print_out, read_options, tell, HeaderArgs, LabelArgs, RunArgs};

#[derive(Args, Debug)]
pub(crate) struct ThresholdArgs {
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
    header: HeaderArgs,
    #[command(flatten)]
    run: RunArgs,
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

pub(crate) fn threshold(a: ThresholdArgs) -> Result<()> {
    let mut det = oddity::load_any(&a.detector, a.run.device)?;
    let (x, warnings) = read_table_with(&a.data, &det.schema(), &read_options(&a.header, &a.label))
        .map_err(|e| name_detector(e, &a.detector))?;
    tell("warning", &warnings);
    let cfg = PredictConfig {
        batch_size: a.run.batch_size,
        return_feature_score: false,
        ties: a.ties.into(),
        ..Default::default()
    };
    let t = det.infer_threshold_with(x.view(), a.percentile, &cfg).map_err(|e| name_files(e, &a.data, &a.detector))?;
    det.save(&a.detector)?;
    print_out(&format!("{t}\n"))
}
