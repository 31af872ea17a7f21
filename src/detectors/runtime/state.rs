//! What every detector keeps besides its model: fitted flag, threshold,
//! standardizer, training report; and the fit and scoring preambles.

use ndarray::ArrayView2;
use tch::{Device, Tensor};

use serde::Serialize;

use crate::error::{OddityError, Result};
use crate::math::scale::Standardizer;
use crate::math::tensor::{to_tensor, Transform};
use crate::persist::{DetectorFile, NamedArray, Record};
use crate::table::Schema;
use crate::train;
use crate::train::config::{FitConfig, TrainReport};
use crate::validate::{check_features, check_shape};

/// What every detector knows besides its model: whether it was fitted, its
/// threshold, the standardizer fitted on its training rows, and the report
/// of its last `fit`. [`crate::Detector`]'s provided methods read it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DetectorState {
    /// True once `fit` has completed.
    pub fitted: bool,
    /// The threshold, if inferred or set; always finite.
    pub threshold: Option<f64>,
    /// The input standardization fitted on the training rows, if any.
    pub scaler: Option<Standardizer>,
    /// The report of the last `fit`.
    pub report: Option<TrainReport>,
    /// The table schema that maps raw rows to this detector's features, if
    /// it was fitted on a table (`None`: all-numeric, see
    /// [`crate::Detector::schema`]). `fit` on a matrix clears it.
    pub schema: Option<Schema>,
}

impl DetectorState {
    /// Sets the threshold; it must be finite.
    pub fn set_threshold(&mut self, t: f64) -> Result<()> {
        if !t.is_finite() {
            return Err(OddityError::param("threshold", format!("{t} is not finite")));
        }
        self.threshold = Some(t);
        Ok(())
    }

    /// The state stored in a detector file, checked: a finite threshold, a
    /// standardizer `n_features` wide with positive deviations, a readable
    /// report.
    pub fn from_file(f: &DetectorFile, n_features: usize) -> Result<Self> {
        let m = &f.meta;
        if let Some(t) = m.threshold {
            if !t.is_finite() {
                return Err(f.error(format!("the threshold {t} is not finite")));
            }
        }
        let report = match m.report_json.as_deref() {
            None => None,
            Some(s) => Some(
                serde_json::from_str::<TrainReport>(s).map_err(|e| f.error(format!("invalid training report: {e}")))?,
            ),
        };
        let schema = match m.schema_json.as_deref() {
            None => None,
            Some(s) => {
                let schema = Schema::from_json(s).map_err(|e| f.error(format!("invalid table schema: {e}")))?;
                if schema.n_features() != n_features {
                    return Err(f.error(format!(
                        "the table schema makes {} features, the detector takes {n_features}",
                        schema.n_features()
                    )));
                }
                Some(schema)
            }
        };
        Ok(DetectorState { fitted: m.fitted, threshold: m.threshold, scaler: f.scaler(n_features)?, report, schema })
    }

    /// Sets the table schema; it must make `n_features` features.
    pub fn set_schema(&mut self, schema: Schema, n_features: usize) -> Result<()> {
        schema.validate()?;
        if schema.n_features() != n_features {
            return Err(OddityError::FeatureMismatch { expected: n_features, got: schema.n_features() });
        }
        self.schema = Some(schema);
        Ok(())
    }

    /// Fails when a file of a detector without a mixture holds one.
    pub fn expect_no_mixture(f: &DetectorFile) -> Result<()> {
        match f.meta.gmm {
            Some(_) => Err(f.error("holds a mixture, which this detector does not have")),
            None => Ok(()),
        }
    }

    /// Fails unless a fitted file holds a standardizer exactly when the
    /// detector's config says `standardize` (a missing one would score raw
    /// rows against a model of standardized ones).
    pub fn check_scaler(&self, f: &DetectorFile, standardize: bool) -> Result<()> {
        match (self.fitted, standardize, self.scaler.is_some()) {
            (true, true, false) => Err(f.error("the config standardizes, but the file holds no standardizer")),
            (_, false, true) => Err(f.error("the config does not standardize, but the file holds a standardizer")),
            _ => Ok(()),
        }
    }

    /// A file record of this state with the detector's own parts.
    pub fn record(
        &self,
        kind: &str,
        config: &impl Serialize,
        extra: &impl Serialize,
        arrays: Vec<NamedArray>,
        device: Device,
    ) -> Result<Record> {
        Ok(Record {
            kind: kind.into(),
            config_json: json(config)?,
            extra_json: json(extra)?,
            fitted: self.fitted,
            threshold: self.threshold,
            scaler: self.scaler.clone(),
            gmm: None,
            report_json: self.report.as_ref().map(json).transpose()?,
            saved_on: crate::device::describe(device),
            arrays,
            schema_json: self.schema.as_ref().map(Schema::to_json).transpose()?,
        })
    }
}

/// A value as JSON, for the detector file.
pub(crate) fn json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| OddityError::Numerical(format!("cannot encode as JSON: {e}")))
}

/// Training data after the fit preamble.
pub(crate) struct Prepared {
    pub scaler: Option<Standardizer>,
    /// Every row, transformed, on the device.
    pub all: Tensor,
    /// Rows to train on.
    pub train: Tensor,
    /// Held-out rows, if a validation split was asked for.
    pub val: Option<Tensor>,
}

/// The fit preamble: validates, fits the scaler if asked, moves the data to
/// the device, and splits off validation rows.
pub(crate) fn prepare_fit(
    x: &ArrayView2<f32>,
    n_features: usize,
    standardize: bool,
    cfg: &FitConfig,
    device: Device,
) -> Result<Prepared> {
    cfg.validate()?;
    check_features(x, n_features, "training data")?;
    let scaler = standardize.then(|| Standardizer::fit(x));
    let all = Transform::new(scaler.as_ref(), device).apply(to_tensor(x, device)?);
    let (tr, va) = train::split_rows(x.nrows(), cfg)?;
    if va.is_empty() {
        let train = all.shallow_clone();
        return Ok(Prepared { scaler, all, train, val: None });
    }
    let idx = |v: &[i64]| Tensor::from_slice(v).to_device(device);
    let train = all.index_select(0, &idx(&tr));
    let val = Some(all.index_select(0, &idx(&va)));
    Ok(Prepared { scaler, all, train, val })
}

/// Checks a scoring call: fitted, right width, finite (a non-finite cell
/// is named by its row in the whole table: `first_row` is the input's).
pub(crate) fn check_score(
    name: &'static str,
    fitted: &DetectorState,
    x: &ArrayView2<f32>,
    n_features: usize,
    first_row: usize,
) -> Result<()> {
    check_score_shape(name, fitted, x, n_features)?;
    crate::validate::check_data_from(x, "input", first_row)
}

/// [`check_score`] without the finiteness check, for callers that go
/// through [`score_rows`], which checks each batch as it prepares it (one
/// pass over the input fewer, and on the workers).
pub(crate) fn check_score_shape(
    name: &'static str,
    fitted: &DetectorState,
    x: &ArrayView2<f32>,
    n_features: usize,
) -> Result<()> {
    if !fitted.fitted {
        return Err(OddityError::NotFitted(name));
    }
    check_shape(x, n_features, "input")
}
