//! `oddity info`: a detector file's metadata as JSON.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;
use serde_json::{json, Value};

use oddity::persist;
use oddity::table::ColumnKind;
use oddity::{registry, Device, OddityError, Result, TrainReport};

use crate::print_out;

#[derive(Args, Debug)]
pub(crate) struct InfoArgs {
    /// Detector file.
    #[arg(value_name = "DET.oddity")]
    detector: PathBuf,
}

/// What `oddity info` prints (a struct, so the keys keep this order).
#[derive(Serialize)]
struct Info<'a> {
    file: String,
    kind: &'a str,
    name: &'static str,
    library_version: &'a str,
    format_version: u16,
    n_features: Value,
    schema: Value,
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

pub(crate) fn info(a: InfoArgs) -> Result<()> {
    let f = persist::read(&a.detector)?;
    // Verify fully: the detector must load (config, arrays, state), not only
    // the file's outer checks pass.
    let entry = registry::entry_of(&f)?;
    let det = entry.load(&f, Device::Cpu)?;
    let schema = det.schema();
    let columns: Vec<Value> = schema
        .columns
        .iter()
        .map(|c| match &c.kind {
            ColumnKind::Numeric { median, indicator } => {
                json!({ "name": c.name, "role": c.role(), "median": median, "missing_indicator": indicator })
            }
            ColumnKind::Categorical { vocab } => {
                json!({ "name": c.name, "role": c.role(), "vocab_size": vocab.len(), "vocab": vocab })
            }
            _ => json!({ "name": c.name, "role": c.role() }),
        })
        .collect();
    let schema = json!({
        "stored": m_has_schema(&f),
        "header": schema.header,
        "n_features": schema.n_features(),
        "columns": columns,
    });
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
                "planned_epochs": r.planned_epochs,
                "epochs_from_step_budget": r.from_budget,
                "steps": r.steps,
                "best_epoch": r.best_epoch,
                "stopped_early": r.stopped_early,
                "n_train": r.n_train,
                "n_val": r.n_val,
                "train_seconds": r.train_seconds,
                "final_loss": r.final_loss(),
                "final_val_loss": r.epochs.last().and_then(|e| e.val_loss),
                "jitter_retries": r.jitter_retries,
                "max_jitter": r.max_jitter,
                "note": r.note,
            })
        }
    };
    let gmm = m.gmm.as_ref().map(|g| json!({ "k": g.k, "d": g.d, "phi": g.phi, "jitter": g.jitter }));
    let tensors: Vec<Value> =
        m.arrays.iter().map(|t| json!({ "name": t.name, "dtype": t.dtype, "shape": t.shape })).collect();
    let n_parameters: u64 = m.arrays.iter().map(|t| t.shape.iter().product::<u64>()).sum();
    let out = Info {
        file: a.detector.display().to_string(),
        kind: &m.kind,
        name: entry.kind.name(),
        library_version: &m.library_version,
        format_version: m.format_version,
        n_features: config.get("n_features").cloned().unwrap_or(Value::Null),
        schema,
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

/// False for files of formats 1 and 2 and detectors fitted on a matrix,
/// whose schema `info` shows is the implied all-numeric one.
fn m_has_schema(f: &persist::DetectorFile) -> bool {
    f.meta.schema_json.is_some()
}
