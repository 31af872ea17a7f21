//! `oddity fit`: train a detector on a CSV of inliers and save it.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;
use serde_json::Value;

use oddity::io::any::fit_table;
use oddity::registry;
use oddity::{Device, FitConfig, OddityError, Result, TableOptions, TrainReport};

use crate::{parse_device, read_options, tell, HeaderArgs, LabelArgs};

/// The built-in detectors' names, with their summaries, for `--detector`.
fn detector_names() -> clap::builder::PossibleValuesParser {
    let values = registry::BUILTIN.iter().map(|e| clap::builder::PossibleValue::new(e.kind.tag()).help(e.summary));
    clap::builder::PossibleValuesParser::new(values)
}

#[derive(Args, Debug)]
pub(crate) struct FitArgs {
    /// Detector type (see `oddity detectors`).
    #[arg(long, value_parser = detector_names())]
    detector: String,
    /// Training table (inliers only): CSV, gzip CSV, or Parquet (`.parquet`); `-` reads stdin.
    #[arg(long, value_name = "FILE.csv")]
    train: PathBuf,
    /// Where to write the detector (atomically; replaces an existing file).
    #[arg(long, value_name = "DET.oddity")]
    out: PathBuf,
    /// TOML (by extension) or JSON file with optional `detector` and `fit` sections.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Passes over the training data [default: the config file's, else
    /// enough for the step budget].
    #[arg(long, value_name = "N")]
    epochs: Option<usize>,
    /// Optimizer steps to train for when no epoch count is set [default: 3000,
    /// or the config file's].
    #[arg(long, value_name = "N")]
    step_budget: Option<usize>,
    /// Rows per optimisation step [default: 256, or the config file's].
    #[arg(long, value_name = "N")]
    batch_size: Option<usize>,
    /// Optimizer learning rate [default: 0.001, or the config file's].
    #[arg(long, value_name = "F")]
    learning_rate: Option<f64>,
    /// Seed of weights, shuffling, validation split, VAE noise, KNN's subsample and the forest [default: 0, or the config file's].
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
    #[command(flatten)]
    header: HeaderArgs,
    #[command(flatten)]
    table: TableArgs,
    /// No progress output (the one-line summary is still printed).
    #[arg(long, short)]
    quiet: bool,
}

/// Column roles and encoding; added to the `[table]` section of `--config`.
#[derive(Args, Debug)]
pub(crate) struct TableArgs {
    /// Read these columns (header names, or 1-based positions without a header) as categorical; repeatable, or comma-separated.
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    categorical: Vec<String>,
    /// These columns must be numeric (a text cell is then an error).
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    numeric: Vec<String>,
    /// Leave these columns out.
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    ignore: Vec<String>,
    /// Categorical values seen fewer times than N in training go to the column's `other` slot [default: 1, or the config file's].
    #[arg(long, value_name = "N")]
    min_count: Option<u64>,
    /// No missing-indicator features for numeric columns with missing cells.
    #[arg(long)]
    no_missing_indicator: bool,
}

impl TableArgs {
    fn apply(&self, mut t: TableOptions) -> TableOptions {
        t.categorical.extend(self.categorical.iter().cloned());
        t.numeric.extend(self.numeric.iter().cloned());
        t.ignore.extend(self.ignore.iter().cloned());
        t.min_count = self.min_count.unwrap_or(t.min_count);
        t.missing_indicator &= !self.no_missing_indicator;
        t
    }
}

/// The `--config` file: every section optional. The detector section is
/// kept as JSON and parsed by the registry entry of `--detector`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    detector: Option<Value>,
    fit: Option<FitConfig>,
    table: Option<TableOptions>,
}

pub(crate) fn fit(a: FitArgs) -> Result<()> {
    let entry = registry::get(&a.detector)?;
    let config_text = a.config.as_deref().map(|p| std::fs::read_to_string(p).map_err(|e| OddityError::io(p, e)));
    let config_text = config_text.transpose()?;
    let source = a.config.as_deref().zip(config_text.as_deref());
    let mut c = parse_config(source, entry)?;
    let topts = a.table.apply(c.table.take().unwrap_or_default());
    let t = fit_table(&a.train, &read_options(&a.header, &a.label), &topts)?;
    tell("warning", &t.warnings);
    let table = table_summary(&t.schema);
    let (x, schema) = (t.x, t.schema);
    let n = x.ncols();
    let from_file = c.detector.is_some();
    let mut det = entry.build(n, c.detector, a.device).map_err(|e| match (&a.config, e) {
        (Some(p), OddityError::InvalidParameter { name, reason }) if from_file && name != "device" => {
            OddityError::param(name, format!("{reason} (in the [detector] section of {})", p.display()))
        }
        (_, e) => e,
    })?;
    let mut fc = c.fit.unwrap_or_default();
    fc.epochs = a.epochs.or(fc.epochs);
    fc.step_budget = a.step_budget.unwrap_or(fc.step_budget);
    fc.batch_size = a.batch_size.unwrap_or(fc.batch_size);
    fc.learning_rate = a.learning_rate.unwrap_or(fc.learning_rate);
    fc.seed = a.seed.unwrap_or(fc.seed);
    fc.validation_split = a.validation_split.unwrap_or(fc.validation_split);
    fc.verbose = !a.quiet;
    if fc.epochs == Some(0) {
        return Err(OddityError::param(
            "epochs (--epochs, or [fit] epochs of --config)",
            "0 trains nothing: the detector would be saved with its initial weights (use at least 1; KNN, iforest and ecod ignore it)",
        ));
    }
    let report = det.fit(x.view(), &fc)?;
    det.set_schema(schema)?;
    det.save(&a.out)?;
    eprintln!("{}", fit_summary(det.kind().name(), &x.dim(), &table, &report, &a.out));
    Ok(())
}

/// Parses the config file: TOML if the name ends in `.toml`, JSON otherwise.
/// Unknown fields anywhere are errors, so a misspelt setting is never ignored.
fn parse_config(source: Option<(&Path, &str)>, entry: &registry::Entry) -> Result<ConfigFile> {
    let Some((path, text)) = source else {
        return Ok(ConfigFile { detector: None, fit: None, table: None });
    };
    let name = path.display().to_string();
    let is_toml = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    let (mut typed, raw): (ConfigFile, Value) = if is_toml {
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
    // The detector section, parsed by its detector: defaults filled in, a
    // bad value refused here, with the file's name.
    if let Some(d) = typed.detector.take() {
        let canonical = entry.canonical_config(d).map_err(|e| OddityError::Parse {
            source_name: name.clone(),
            line: 1,
            column: None,
            reason: format!("[detector] section for `{}`: {}", entry.kind.tag(), config_reason(e)),
        })?;
        typed.detector = Some(canonical);
    }
    let sections = [
        ("detector", typed.detector.as_ref().map(serde_json::to_value)),
        ("fit", typed.fit.as_ref().map(serde_json::to_value)),
        ("table", typed.table.as_ref().map(serde_json::to_value)),
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

/// The reason of a config error, without the parameter name the registry
/// puts in front.
fn config_reason(e: OddityError) -> String {
    match e {
        OddityError::InvalidParameter { reason, .. } => reason,
        e => e.to_string(),
    }
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

/// What the schema made of the table, for the summary line.
fn table_summary(s: &oddity::Schema) -> String {
    let count = |role: &str| s.columns.iter().filter(|c| c.role() == role).count();
    let mut parts = vec![if s.header { "header".to_string() } else { "no header".to_string() }];
    for role in ["numeric", "categorical", "ignored", "label"] {
        let n = count(role);
        if n > 0 {
            parts.push(format!("{n} {role}"));
        }
    }
    parts.join(", ")
}

fn fit_summary(name: &str, dim: &(usize, usize), table: &str, r: &TrainReport, out: &Path) -> String {
    let loss = r.final_loss().map_or_else(|| "n/a".to_string(), |l| format!("{l:.6}"));
    let val = r.epochs.last().and_then(|e| e.val_loss).map(|v| format!(", val loss {v:.6}")).unwrap_or_default();
    format!(
        "fitted {} on {} rows x {} features (table: {table}; {} epochs{}{}, {:.2} s, final loss {loss}{val}); saved {}",
        name,
        dim.0,
        dim.1,
        r.epochs.len(),
        if r.from_budget { format!(" = {} steps, from the step budget", r.steps) } else { String::new() },
        if r.stopped_early { " (stopped early)" } else { "" },
        r.train_seconds,
        out.display()
    )
}
