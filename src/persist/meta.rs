//! What a detector file holds besides the array bytes: the metadata block
//! ([`FileMeta`], with its array index) and what a detector hands over to be
//! written ([`Record`], [`NamedArray`]).

use serde::{Deserialize, Serialize};

use crate::math::gmm::GmmState;
use crate::math::scale::Standardizer;

/// The element types an array can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// 32-bit float, little endian (network weights, stored rows, thresholds).
    F32,
    /// 32-bit unsigned integer, little endian (indices, counts).
    U32,
}

impl Dtype {
    /// The name written in the file.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::U32 => "u32",
        }
    }

    pub(super) fn parse(s: &str) -> Option<Dtype> {
        match s {
            "f32" => Some(Dtype::F32),
            "u32" => Some(Dtype::U32),
            _ => None,
        }
    }
}

/// One stored array: name, element type, shape, and where its bytes are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArrayEntry {
    /// Name, e.g. `encoder.0.weight` or `train_rows`.
    pub name: String,
    /// Element type: `f32` or `u32` (little endian); format 1 has only `f32`.
    pub dtype: String,
    /// Shape.
    pub shape: Vec<u64>,
    /// Byte offset from the start of the array data.
    pub offset: u64,
    /// Byte length.
    pub len: u64,
}

/// Everything but the array data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileMeta {
    /// Which detector: its registry name (`ae`, `aegmm`, `knn`, ...).
    pub kind: String,
    /// oddity version that wrote the file.
    pub library_version: String,
    /// Format version (repeated from the header).
    pub format_version: u16,
    /// The detector config as JSON (tolerant to added fields with defaults).
    pub config_json: String,
    /// Detector-specific extra state as JSON (e.g. the VAE likelihood scale).
    pub extra_json: String,
    /// True if the detector was fitted.
    pub fitted: bool,
    /// Threshold, if inferred.
    pub threshold: Option<f64>,
    /// Input standardization.
    pub scaler: Option<Standardizer>,
    /// Fitted mixture (AEGMM, VAEGMM).
    pub gmm: Option<GmmState>,
    /// Training summary as JSON.
    pub report_json: Option<String>,
    /// Device the detector was on when saved.
    pub saved_on: String,
    /// Index of the arrays (network weights, stored rows, trees ...).
    pub arrays: Vec<ArrayEntry>,
    /// The table schema as JSON (format 3; `None` in files of formats 1
    /// and 2, and for detectors fitted on a matrix: all-numeric).
    pub schema_json: Option<String>,
}

/// An array's values, by element type.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayData {
    /// f32 values.
    F32(Vec<f32>),
    /// u32 values.
    U32(Vec<u32>),
}

/// A named array a detector hands to [`write`].
#[derive(Debug, Clone, PartialEq)]
pub struct NamedArray {
    /// Unique name within the file.
    pub name: String,
    /// Shape; the product is the number of values.
    pub shape: Vec<u64>,
    /// Values, row-major.
    pub data: ArrayData,
}

impl NamedArray {
    /// An f32 array.
    pub fn f32(name: impl Into<String>, shape: &[usize], data: Vec<f32>) -> Self {
        NamedArray { name: name.into(), shape: shape.iter().map(|&d| d as u64).collect(), data: ArrayData::F32(data) }
    }

    /// A u32 array.
    pub fn u32(name: impl Into<String>, shape: &[usize], data: Vec<u32>) -> Self {
        NamedArray { name: name.into(), shape: shape.iter().map(|&d| d as u64).collect(), data: ArrayData::U32(data) }
    }
}

/// Everything a detector writes: what [`write`] takes.
#[derive(Debug, Clone)]
pub struct Record {
    /// The registry name of the detector.
    pub kind: String,
    /// The config as JSON.
    pub config_json: String,
    /// Detector-specific extra state as JSON (`null` if none).
    pub extra_json: String,
    /// True once fitted.
    pub fitted: bool,
    /// The threshold, if any.
    pub threshold: Option<f64>,
    /// The input standardization, if any.
    pub scaler: Option<Standardizer>,
    /// The fitted mixture, if any.
    pub gmm: Option<GmmState>,
    /// The training report as JSON, if fitted.
    pub report_json: Option<String>,
    /// Where the detector was when saved (`cpu`, `cuda:0`).
    pub saved_on: String,
    /// The arrays, in the order they are written.
    pub arrays: Vec<NamedArray>,
    /// The table schema as JSON, if the detector has one.
    pub schema_json: Option<String>,
}
