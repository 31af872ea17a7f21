//! What a detector implements to be registered ([`Registered`]), and the
//! registry's [`Entry`] for it: function pointers built from the type, so
//! that the list of built-ins can be a `static`.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::api::{Detector, DetectorKind};
use crate::error::{OddityError, Result};
use crate::persist::{self, DetectorFile};
use crate::Device;

/// A detector type the registry can build and load.
pub trait Registered: Detector + Sized + 'static {
    /// Registry name and class name.
    const KIND: DetectorKind;
    /// One line for help texts.
    const SUMMARY: &'static str;
    /// The config struct (serde: the `--config` file's `detector` section,
    /// and the config stored in the file).
    type Config: Serialize + DeserializeOwned;
    /// The default config for `n_features` input columns.
    fn default_config(n_features: usize) -> Self::Config;
    /// The input width a config is for.
    fn config_width(cfg: &Self::Config) -> usize;
    /// An unfitted detector.
    fn build(cfg: Self::Config, device: Device) -> Result<Self>;
    /// The detector stored in a verified file of this kind.
    fn from_file(f: &DetectorFile, device: Device) -> Result<Self>;
}

/// One registered detector: function pointers, so the list is a `static`.
#[derive(Clone, Copy)]
pub struct Entry {
    /// Registry name and class name.
    pub kind: DetectorKind,
    /// One line for help texts.
    pub summary: &'static str,
    default_config: fn(usize) -> Result<Value>,
    canonical: fn(Value) -> Result<Value>,
    build: fn(Value, Device) -> Result<(Box<dyn Detector>, usize)>,
    load: fn(&DetectorFile, Device) -> Result<Box<dyn Detector>>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry").field("kind", &self.kind).field("summary", &self.summary).finish()
    }
}

fn json_err(what: &'static str, e: serde_json::Error) -> OddityError {
    OddityError::param(what, e.to_string())
}

fn default_config<D: Registered>(n: usize) -> Result<Value> {
    serde_json::to_value(D::default_config(n)).map_err(|e| json_err("detector", e))
}

fn canonical<D: Registered>(v: Value) -> Result<Value> {
    let c: D::Config = serde_json::from_value(v).map_err(|e| json_err("detector", e))?;
    serde_json::to_value(c).map_err(|e| json_err("detector", e))
}

fn build<D: Registered>(v: Value, device: Device) -> Result<(Box<dyn Detector>, usize)> {
    let c: D::Config = serde_json::from_value(v).map_err(|e| json_err("detector", e))?;
    let width = D::config_width(&c);
    Ok((Box::new(D::build(c, device)?), width))
}

fn load<D: Registered>(f: &DetectorFile, device: Device) -> Result<Box<dyn Detector>> {
    Ok(Box::new(D::from_file(f, device)?))
}

/// The registry entry of detector type `D`.
pub const fn entry<D: Registered>() -> Entry {
    Entry {
        kind: D::KIND,
        summary: D::SUMMARY,
        default_config: default_config::<D>,
        canonical: canonical::<D>,
        build: build::<D>,
        load: load::<D>,
    }
}

impl Entry {
    /// The default config for `n_features` columns, as JSON.
    pub fn default_config(&self, n_features: usize) -> Result<Value> {
        (self.default_config)(n_features)
    }

    /// A config parsed into the detector's config struct and written back:
    /// every field present, defaults filled in. Fails on a bad value.
    pub fn canonical_config(&self, config: Value) -> Result<Value> {
        (self.canonical)(config)
    }

    /// An unfitted detector for `n_features` columns: from `config` (JSON of
    /// the detector's config struct) if given, else the default config. A
    /// config for another width is an error.
    pub fn build(&self, n_features: usize, config: Option<Value>, device: Device) -> Result<Box<dyn Detector>> {
        let config = match config {
            Some(c) => c,
            None => self.default_config(n_features)?,
        };
        let (det, width) = (self.build)(config, device)?;
        if width != n_features {
            return Err(OddityError::param(
                "detector.n_features",
                format!("the config is for {width} columns, the data has {n_features}"),
            ));
        }
        Ok(det)
    }

    /// The detector in a verified file of this kind.
    pub fn load(&self, f: &DetectorFile, device: Device) -> Result<Box<dyn Detector>> {
        if f.meta.kind != self.kind.tag() {
            return Err(f.error(format!("holds a `{}` detector, not `{}`", f.meta.kind, self.kind.tag())));
        }
        super::runtime::guard(|| (self.load)(f, device))
    }
}

/// Loads a file that must hold a detector of type `D`.
pub fn load_as<D: Registered>(path: &Path, device: Device) -> Result<D> {
    let f = persist::read(path)?;
    if f.meta.kind != D::KIND.tag() {
        return Err(f.error(format!(
            "holds a `{}` detector, not `{}`: use oddity::load_any",
            f.meta.kind,
            D::KIND.tag()
        )));
    }
    super::runtime::guard(|| D::from_file(&f, device))
}
