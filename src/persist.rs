//! One-file detector persistence (layout in docs/file-format.md).
//!
//! ```text
//! offset  size  field
//! 0       8     magic  89 4F 44 44 49 54 59 0A  ("\x89ODDITY\n")
//! 8       2     format version, u16 little endian
//! 10      2     reserved, 0
//! 12      8     body length in bytes, u64 LE
//! 20      32    SHA-256 of the body
//! 52      ...   body: u32 LE metadata length, metadata (bincode 2, standard
//!               config), then the tensor data (f32 LE, offsets in the metadata)
//! ```
//! Loading verifies everything before building anything and never sizes an
//! allocation from an unchecked length. Writes go to a temporary file in the
//! same folder that is flushed, synced and renamed over the target.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tch::{nn, Device, Kind, Tensor};

use crate::detector::DetectorKind;
use crate::detectors::common::Fitted;
use crate::error::{OddityError, Result};
use crate::fit::TrainReport;
use crate::gmm::GmmState;
use crate::scale::Standardizer;

/// File magic.
pub const MAGIC: [u8; 8] = *b"\x89ODDITY\n";
/// The format version this library writes; it reads this and older ones.
pub const FORMAT_VERSION: u16 = 1;
const HEADER_LEN: usize = 52;
/// Upper bound on the metadata block (configs, GMM, reports are small).
const MAX_META: usize = 64 << 20;

/// One stored tensor: name, element type, shape, and where its bytes are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorEntry {
    /// Variable name, e.g. `encoder.0.weight`.
    pub name: String,
    /// Element type; only `f32` (little endian) exists in format 1.
    pub dtype: String,
    /// Shape.
    pub shape: Vec<u64>,
    /// Byte offset from the start of the tensor data.
    pub offset: u64,
    /// Byte length.
    pub len: u64,
}

/// Everything but the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileMeta {
    /// Which detector.
    pub kind: DetectorKind,
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
    /// Weights index.
    pub tensors: Vec<TensorEntry>,
}

/// What a detector hands to [`write()`].
pub(crate) struct Payload<'a> {
    pub kind: DetectorKind,
    pub config_json: String,
    pub extra_json: String,
    pub vs: &'a nn::VarStore,
    pub state: &'a Fitted,
    pub gmm: Option<&'a GmmState>,
    pub device: Device,
}

fn bincode_cfg() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_META>()
}

fn format_err(path: &Path, reason: impl Into<String>) -> OddityError {
    OddityError::Format { path: path.to_path_buf(), reason: reason.into() }
}

/// Serialises a detector into bytes.
pub(crate) fn encode(p: &Payload) -> Result<Vec<u8>> {
    let mut vars: Vec<(String, Tensor)> = p.vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let mut data = Vec::new();
    let mut tensors = Vec::with_capacity(vars.len());
    for (name, t) in &vars {
        let t = t.detach().to_device(Device::Cpu).to_kind(Kind::Float).contiguous();
        let n = t.numel();
        let mut v = vec![0f32; n];
        t.copy_data(&mut v, n);
        let offset = data.len() as u64;
        data.extend(v.iter().flat_map(|f| f.to_le_bytes()));
        tensors.push(TensorEntry {
            name: name.clone(),
            dtype: "f32".into(),
            shape: t.size().iter().map(|&d| d as u64).collect(),
            offset,
            len: (n * 4) as u64,
        });
    }
    let meta = FileMeta {
        kind: p.kind,
        library_version: env!("CARGO_PKG_VERSION").into(),
        format_version: FORMAT_VERSION,
        config_json: p.config_json.clone(),
        extra_json: p.extra_json.clone(),
        fitted: p.state.fitted,
        threshold: p.state.threshold,
        scaler: p.state.scaler.clone(),
        gmm: p.gmm.cloned(),
        report_json: p
            .state
            .report
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| OddityError::Numerical(e.to_string()))?,
        saved_on: crate::device::describe(p.device),
        tensors,
    };
    let meta_bytes = bincode::serde::encode_to_vec(&meta, bincode_cfg())
        .map_err(|e| OddityError::Numerical(format!("cannot encode metadata: {e}")))?;
    let mut body = Vec::with_capacity(4 + meta_bytes.len() + data.len());
    body.extend((meta_bytes.len() as u32).to_le_bytes());
    body.extend(&meta_bytes);
    body.extend(&data);
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend(MAGIC);
    out.extend(FORMAT_VERSION.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend((body.len() as u64).to_le_bytes());
    out.extend(Sha256::digest(&body));
    out.extend(body);
    Ok(out)
}

/// Writes a detector to `path` atomically.
pub(crate) fn write(path: &Path, p: &Payload) -> Result<()> {
    let bytes = encode(p)?;
    write_atomic(path, |w| w.write_all(&bytes))
}

/// Writes through `fill` into a temporary file beside `path`, then renames it
/// over `path`. If `fill` or any step fails, `path` is untouched and the
/// temporary file is removed.
pub fn write_atomic(path: &Path, fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| format_err(path, "not a file path"))?.to_string_lossy().to_string();
    let tmp = dir.join(format!(".{name}.tmp-{}-{}", std::process::id(), unique()));
    let result = (|| -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        fill(&mut f)?;
        f.flush()?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        OddityError::io(path, e)
    })
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos() as u64);
    (t << 16) ^ N.fetch_add(1, Ordering::Relaxed)
}

/// A verified detector file, ready to be turned back into a detector.
#[derive(Debug)]
pub struct DetectorFile {
    path: PathBuf,
    /// The metadata.
    pub meta: FileMeta,
    data: Vec<u8>,
}

/// Reads and verifies a detector file.
pub fn read(path: &Path) -> Result<DetectorFile> {
    let bytes = fs::read(path).map_err(|e| OddityError::io(path, e))?;
    decode(path, bytes)
}

/// Verifies and parses the bytes of a detector file.
pub fn decode(path: &Path, bytes: Vec<u8>) -> Result<DetectorFile> {
    let err = |r: &str| format_err(path, r);
    if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
        return Err(err("not an oddity detector file (bad magic bytes)"));
    }
    if bytes.len() < HEADER_LEN {
        return Err(err("truncated: the header is incomplete"));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version > FORMAT_VERSION {
        return Err(err(&format!(
            "written in format version {version} by a newer oddity; this library (oddity {}) reads versions up to {FORMAT_VERSION}: upgrade oddity",
            env!("CARGO_PKG_VERSION")
        )));
    }
    if version == 0 {
        return Err(err("corrupted: format version 0 does not exist"));
    }
    if bytes[10] != 0 || bytes[11] != 0 {
        return Err(err("corrupted: reserved header bytes are not zero"));
    }
    let mut len8 = [0u8; 8];
    len8.copy_from_slice(&bytes[12..20]);
    let body_len = u64::from_le_bytes(len8);
    let have = (bytes.len() - HEADER_LEN) as u64;
    if have < body_len {
        return Err(err(&format!("truncated: body has {have} of {body_len} bytes")));
    }
    if have > body_len {
        return Err(err(&format!("corrupted: {} unexpected bytes after the body", have - body_len)));
    }
    let body = &bytes[HEADER_LEN..];
    if Sha256::digest(body).as_slice() != &bytes[20..52] {
        return Err(err("corrupted: checksum mismatch (the file was damaged after it was written)"));
    }
    if body.len() < 4 {
        return Err(err("corrupted: body too short"));
    }
    let meta_len = u32::from_le_bytes([body[0], body[1], body[2], body[3]]) as usize;
    if meta_len > MAX_META || 4 + meta_len > body.len() {
        return Err(err("corrupted: metadata length out of range"));
    }
    let (meta, used): (FileMeta, usize) = bincode::serde::decode_from_slice(&body[4..4 + meta_len], bincode_cfg())
        .map_err(|e| err(&format!("corrupted metadata: {e}")))?;
    if used != meta_len {
        return Err(err("corrupted: metadata length mismatch"));
    }
    let data = body[4 + meta_len..].to_vec();
    for t in &meta.tensors {
        let numel = t.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
        let ok = t.dtype == "f32"
            && numel.and_then(|n| n.checked_mul(4)) == Some(t.len)
            && t.offset.checked_add(t.len).is_some_and(|end| end <= data.len() as u64);
        if !ok {
            return Err(err(&format!("corrupted: tensor `{}` does not fit its data", t.name)));
        }
    }
    if let Some(g) = &meta.gmm {
        g.validate().map_err(|e| err(&e.to_string()))?;
    }
    Ok(DetectorFile { path: path.to_path_buf(), meta, data })
}

impl DetectorFile {
    /// Fails with a clear message if the file holds another detector kind.
    pub fn expect_kind(&self, kind: DetectorKind) -> Result<()> {
        if self.meta.kind != kind {
            return Err(format_err(
                &self.path,
                format!(
                    "holds an {} detector, not an {}: use {}::load or oddity::load_any",
                    self.meta.kind.name(),
                    kind.name(),
                    self.meta.kind.name()
                ),
            ));
        }
        Ok(())
    }

    /// The detector config.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_str(&self.meta.config_json).map_err(|e| format_err(&self.path, format!("invalid config: {e}")))
    }

    /// Detector-specific extras.
    pub fn extra<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_str(&self.meta.extra_json)
            .map_err(|e| format_err(&self.path, format!("invalid extra state: {e}")))
    }

    /// Wraps an error found while rebuilding the detector.
    pub(crate) fn invalid(&self, e: OddityError) -> OddityError {
        format_err(&self.path, format!("stored detector is invalid: {e}"))
    }

    /// Copies the stored weights into the variables of `vs`; every variable
    /// must be present with the same shape, and no stored tensor may be left over.
    pub(crate) fn load_vars(&self, vs: &nn::VarStore) -> Result<()> {
        let vars = vs.variables();
        if vars.len() != self.meta.tensors.len() {
            return Err(format_err(
                &self.path,
                format!("holds {} tensors, the configured network has {}", self.meta.tensors.len(), vars.len()),
            ));
        }
        for (name, mut var) in vars {
            let e = self
                .meta
                .tensors
                .iter()
                .find(|t| t.name == name)
                .ok_or_else(|| format_err(&self.path, format!("missing tensor `{name}`")))?;
            let shape: Vec<i64> = e.shape.iter().map(|&d| d as i64).collect();
            if shape != var.size() {
                return Err(format_err(
                    &self.path,
                    format!("tensor `{name}` has shape {shape:?}, the network expects {:?}", var.size()),
                ));
            }
            let bytes = &self.data[e.offset as usize..(e.offset + e.len) as usize];
            let floats: Vec<f32> =
                bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            if floats.iter().any(|v| !v.is_finite()) {
                return Err(format_err(&self.path, format!("tensor `{name}` holds non-finite weights")));
            }
            let t = Tensor::from_slice(&floats).view(shape.as_slice());
            tch::no_grad(|| var.copy_(&t));
        }
        Ok(())
    }

    /// Threshold, scaler, report and fitted flag.
    pub(crate) fn fitted_state(&self) -> Fitted {
        Fitted {
            fitted: self.meta.fitted,
            threshold: self.meta.threshold.filter(|t| t.is_finite()),
            scaler: self.meta.scaler.clone(),
            report: self.meta.report_json.as_deref().and_then(|s| serde_json::from_str::<TrainReport>(s).ok()),
        }
    }

    /// The fitted mixture, required for GMM detectors that were fitted, and
    /// checked against the configured `k` components in `d` dimensions.
    pub(crate) fn gmm(&self, k: usize, d: usize) -> Result<Option<GmmState>> {
        match (&self.meta.gmm, self.meta.fitted) {
            (None, true) => Err(format_err(&self.path, "fitted GMM detector without GMM parameters")),
            (Some(g), _) if g.k != k || g.d != d => {
                Err(format_err(&self.path, format!("GMM has K={}, D={}; the config needs K={k}, D={d}", g.k, g.d)))
            }
            (g, _) => Ok(g.clone()),
        }
    }

    /// Checks the scaler's width.
    pub(crate) fn check_scaler(&self, n_features: usize) -> Result<()> {
        match &self.meta.scaler {
            Some(s) if s.mean.len() != n_features || s.std.len() != n_features => {
                Err(format_err(&self.path, "standardization width does not match the network"))
            }
            Some(s) if s.mean.iter().chain(&s.std).any(|v| !v.is_finite()) || s.std.contains(&0.0) => {
                Err(format_err(&self.path, "standardization holds invalid values"))
            }
            _ => Ok(()),
        }
    }
}

/// Loads any detector file as a boxed [`crate::Detector`], from its own kind tag.
pub fn load_any(path: &Path, device: crate::Device) -> Result<Box<dyn crate::Detector>> {
    let f = read(path)?;
    Ok(match f.meta.kind {
        DetectorKind::Ae => Box::new(crate::OutlierAE::from_file(&f, device)?),
        DetectorKind::Aegmm => Box::new(crate::OutlierAEGMM::from_file(&f, device)?),
        DetectorKind::Vaegmm => Box::new(crate::OutlierVAEGMM::from_file(&f, device)?),
    })
}
