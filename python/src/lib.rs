//! `oddity._oddity`: the native half of the Python package. It holds one
//! detector behind a mutex and does what the CLI does with it, through the
//! same registry and the same calls (`load_any`, `Entry::build`,
//! `score_with` with the CLI's options), so that the scores are the CLI's,
//! bit for bit, on the same rows. Python's side (python/oddity/) converts
//! inputs to C-contiguous float32 and gives the scikit-learn names.
//!
//! The GIL is released while fitting, scoring and reading or writing files.
//! Every error, and any panic that escaped the library, comes back as a
//! Python exception with oddity's message.

use std::path::PathBuf;
use std::sync::Mutex;

use ndarray::ArrayView2;
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray2};
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyPermissionError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use serde_json::{json, Value};

use oddity::detectors::api::DEFAULT_SCORE_BATCH;
use oddity::{registry, Detector, Device, FitConfig, OddityError, PredictConfig, Ties};

/// oddity's error as the Python exception a caller expects: files that
/// cannot be read or written are OSError (FileNotFoundError,
/// PermissionError), failures of the numerics or of libtorch RuntimeError,
/// everything about the input, the settings or a file's content ValueError.
fn to_py(e: OddityError) -> PyErr {
    let msg = e.to_string();
    match &e {
        OddityError::Io { source, .. } => match source.kind() {
            std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(msg),
            std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(msg),
            _ => PyOSError::new_err(msg),
        },
        OddityError::Diverged { .. }
        | OddityError::Cholesky { .. }
        | OddityError::Numerical(_)
        | OddityError::Torch(_)
        | OddityError::DeviceUnavailable(_) => PyRuntimeError::new_err(msg),
        _ => PyValueError::new_err(msg),
    }
}

/// Runs `f` with the GIL released, turning an escaped panic into a
/// RuntimeError (never a crash of the interpreter).
fn released<T: Send>(py: Python<'_>, f: impl FnOnce() -> oddity::Result<T> + Send) -> PyResult<T> {
    py.allow_threads(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .unwrap_or_else(|p| {
                let text = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into());
                Err(OddityError::Numerical(format!("internal error: {}", text.lines().next().unwrap_or(""))))
            })
            .map_err(to_py)
    })
}

fn parse_device(device: &str) -> PyResult<Device> {
    Device::parse(device).map_err(to_py)
}

fn json_err(what: &'static str, e: serde_json::Error) -> PyErr {
    PyValueError::new_err(format!("invalid parameter `{what}`: {e}"))
}

/// The scoring options of `oddity score` (docs/cli.md): instance scores
/// only, the default batch size.
fn score_config(batch_size: usize) -> PredictConfig {
    PredictConfig { batch_size, return_feature_score: false, ..Default::default() }
}

/// The dotted path of the first key of `given` that `known` (the same
/// section parsed and written back) lacks: a misspelt setting is an error,
/// as in the CLI's config files.
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

/// One detector. Built by [`load`] or [`build`]; Python's `oddity.Detector`
/// wraps it.
#[pyclass(module = "oddity._oddity", name = "NativeDetector")]
struct NativeDetector {
    det: Mutex<Box<dyn Detector>>,
    /// The file it was loaded from, if any (for `info`).
    path: Option<PathBuf>,
}

impl NativeDetector {
    fn new(det: Box<dyn Detector>, path: Option<PathBuf>) -> Self {
        NativeDetector { det: Mutex::new(det), path }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Box<dyn Detector>) -> T) -> T {
        let mut g = self.det.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }
}

#[pymethods]
impl NativeDetector {
    /// Registry name, e.g. `aegmm`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.with(|d| d.kind().tag())
    }

    /// Input width.
    #[getter]
    fn n_features(&self) -> usize {
        self.with(|d| d.n_features())
    }

    #[getter]
    fn fitted(&self) -> bool {
        self.with(|d| d.is_fitted())
    }

    #[getter]
    fn threshold(&self) -> Option<f64> {
        self.with(|d| d.threshold())
    }

    fn set_threshold(&self, py: Python<'_>, threshold: f64) -> PyResult<()> {
        released(py, || self.with(|d| d.set_threshold(threshold)))
    }

    /// Instance scores of a C-contiguous float32 2-D array, as `oddity score`
    /// computes them.
    #[pyo3(signature = (x, batch_size = DEFAULT_SCORE_BATCH))]
    fn score<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f32>,
        batch_size: usize,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let view: ArrayView2<f32> = x.as_array();
        let cfg = score_config(batch_size);
        let s = released(py, || self.with(|d| d.score_with(view, &cfg)))?;
        Ok(s.instance.into_pyarray(py))
    }

    /// Sets the threshold to a percentile of the scores of `x`, as
    /// `oddity threshold` does; returns it.
    #[pyo3(signature = (x, percentile, ties = "nearest", batch_size = DEFAULT_SCORE_BATCH))]
    fn infer_threshold(
        &self,
        py: Python<'_>,
        x: PyReadonlyArray2<'_, f32>,
        percentile: f64,
        ties: &str,
        batch_size: usize,
    ) -> PyResult<f64> {
        let ties = match ties {
            "nearest" => Ties::NearestCount,
            "percentile" => Ties::Percentile,
            other => {
                return Err(PyValueError::new_err(format!(
                    "invalid parameter `ties`: `{other}` is not one of nearest, percentile"
                )))
            }
        };
        let view = x.as_array();
        let cfg = PredictConfig { ties, ..score_config(batch_size) };
        released(py, || self.with(|d| d.infer_threshold_with(view, percentile, &cfg)))
    }

    /// Trains on the rows of `x` (inliers); `fit_json` is a JSON `FitConfig`
    /// (the CLI config file's `fit` section). Returns the training report as
    /// JSON.
    #[pyo3(signature = (x, fit_json = None))]
    fn fit(&self, py: Python<'_>, x: PyReadonlyArray2<'_, f32>, fit_json: Option<&str>) -> PyResult<String> {
        let fc = fit_config(fit_json)?;
        let view = x.as_array();
        let report = released(py, || self.with(|d| d.fit(view, &fc)))?;
        serde_json::to_string(&report).map_err(|e| PyRuntimeError::new_err(e.to_string()))
    }

    /// Writes the detector to one file, atomically.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        released(py, || self.with(|d| d.save(&path)))
    }

    /// Metadata as JSON: kind, class name, width, fitted, threshold, config,
    /// training report, library version.
    fn info(&self, py: Python<'_>) -> PyResult<String> {
        let (record, kind, n, fitted, threshold) =
            released(py, || self.with(|d| Ok((d.record()?, d.kind(), d.n_features(), d.is_fitted(), d.threshold()))))?;
        let parse = |what: &'static str, s: &str| serde_json::from_str::<Value>(s).map_err(|e| json_err(what, e));
        let training = match &record.report_json {
            Some(s) => parse("training", s)?,
            None => Value::Null,
        };
        let info = json!({
            "file": self.path.as_ref().map(|p| p.display().to_string()),
            "kind": kind.tag(),
            "name": kind.name(),
            "library_version": env!("CARGO_PKG_VERSION"),
            "n_features": n,
            "fitted": fitted,
            "threshold": threshold,
            "standardized": record.scaler.is_some(),
            "n_parameters": record.arrays.iter().map(|a| a.shape.iter().product::<u64>()).sum::<u64>(),
            "config": parse("config", &record.config_json)?,
            "training": training,
        });
        Ok(info.to_string())
    }
}

fn fit_config(fit_json: Option<&str>) -> PyResult<FitConfig> {
    let Some(text) = fit_json else { return Ok(FitConfig::default()) };
    let given: Value = serde_json::from_str(text).map_err(|e| json_err("fit", e))?;
    let fc: FitConfig = serde_json::from_value(given.clone()).map_err(|e| json_err("fit", e))?;
    let known = serde_json::to_value(&fc).map_err(|e| json_err("fit", e))?;
    if let Some(field) = unknown_field(&given, &known, "fit") {
        return Err(PyValueError::new_err(format!("invalid parameter `fit`: unknown field `{field}`")));
    }
    if fc.epochs == Some(0) {
        return Err(PyValueError::new_err(
            "invalid parameter `epochs`: 0 trains nothing: the detector would keep its initial weights (use at least 1; knn, iforest and ecod ignore it)",
        ));
    }
    Ok(fc)
}

/// Reads, verifies and loads any detector file.
#[pyfunction]
#[pyo3(signature = (path, device = "cpu"))]
fn load(py: Python<'_>, path: PathBuf, device: &str) -> PyResult<NativeDetector> {
    let device = parse_device(device)?;
    let det = released(py, || oddity::load_any(&path, device))?;
    Ok(NativeDetector::new(det, Some(path)))
}

/// An unfitted detector `name` for `n_features` columns, from a JSON config
/// (the CLI config file's `detector` section; defaults filled in, unknown
/// fields refused) or the default one.
#[pyfunction]
#[pyo3(signature = (name, n_features, config_json = None, device = "cpu"))]
fn build(
    py: Python<'_>,
    name: &str,
    n_features: usize,
    config_json: Option<&str>,
    device: &str,
) -> PyResult<NativeDetector> {
    let device = parse_device(device)?;
    let entry = registry::get(name).map_err(to_py)?;
    let config = match config_json {
        None => None,
        Some(text) => {
            let given: Value = serde_json::from_str(text).map_err(|e| json_err("config", e))?;
            // A partial config is completed from the defaults for this width.
            let mut full = entry.default_config(n_features).map_err(to_py)?;
            merge(&mut full, &given);
            let canonical = entry.canonical_config(full).map_err(to_py)?;
            if let Some(field) = unknown_field(&given, &canonical, "config") {
                return Err(PyValueError::new_err(format!("invalid parameter `config`: unknown field `{field}`")));
            }
            Some(canonical)
        }
    };
    let det = released(py, || entry.build(n_features, config, device))?;
    Ok(NativeDetector::new(det, None))
}

/// Overwrites the keys of `base` with those of `over`, recursively into
/// objects (arrays and values are replaced whole).
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(bv) if bv.is_object() && v.is_object() => merge(bv, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// The built-in detectors' registry names.
#[pyfunction]
fn detectors() -> Vec<&'static str> {
    registry::names_builtin()
}

/// The default config of detector `name` for `n_features` columns, as JSON.
#[pyfunction]
fn default_config(name: &str, n_features: usize) -> PyResult<String> {
    let entry = registry::get(name).map_err(to_py)?;
    Ok(entry.default_config(n_features).map_err(to_py)?.to_string())
}

#[pymodule]
fn _oddity(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeDetector>()?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(build, m)?)?;
    m.add_function(wrap_pyfunction!(detectors, m)?)?;
    m.add_function(wrap_pyfunction!(default_config, m)?)?;
    m.add("DEFAULT_SCORE_BATCH", DEFAULT_SCORE_BATCH)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
