//! The one-file detector format (layout in docs/file-format.md).
//!
//! ```text
//! offset  size  field
//! 0       8     magic  89 4F 44 44 49 54 59 0A  ("\x89ODDITY\n")
//! 8       2     format version, u16 little endian
//! 10      2     reserved, 0
//! 12      8     body length in bytes, u64 LE
//! 20      32    SHA-256 of the body
//! 52      ...   body: u32 LE metadata length, metadata (bincode 2, standard
//!               config), then the array data (little endian, offsets in the
//!               metadata)
//! ```
//! This layer knows no detector: a detector hands it a [`Record`] (its kind
//! tag, config and state as JSON, named arrays) and gets a verified
//! [`DetectorFile`] back. Loading verifies everything before building
//! anything and never sizes an allocation from an unchecked length.

use std::fs;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::atomic::write_atomic;
use super::meta::{ArrayData, ArrayEntry, Dtype, FileMeta, Record};
use super::{v1, v2};
use crate::error::{OddityError, Result};
use crate::math::gmm::GmmState;
use crate::math::scale::Standardizer;

/// File magic.
pub const MAGIC: [u8; 8] = *b"\x89ODDITY\n";
/// The format version this library writes; it reads this one, 2 (no
/// schema) and 1 (kind as an enum, no schema).
pub const FORMAT_VERSION: u16 = 3;
pub(super) const HEADER_LEN: usize = 52;
/// Upper bound on the metadata block (configs, GMM, reports are small).
pub(super) const MAX_META: usize = 64 << 20;

fn bincode_cfg() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_META>()
}

pub(super) fn format_err(path: &Path, reason: impl Into<String>) -> OddityError {
    OddityError::Format { path: path.to_path_buf(), reason: reason.into() }
}

/// Serialises a record into the bytes of a file.
pub fn encode(r: &Record) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    let mut arrays = Vec::with_capacity(r.arrays.len());
    for a in &r.arrays {
        let offset = data.len() as u64;
        let (dtype, n) = match &a.data {
            ArrayData::F32(v) => {
                data.extend(v.iter().flat_map(|f| f.to_le_bytes()));
                (Dtype::F32, v.len())
            }
            ArrayData::U32(v) => {
                data.extend(v.iter().flat_map(|f| f.to_le_bytes()));
                (Dtype::U32, v.len())
            }
        };
        let numel = a.shape.iter().product::<u64>();
        if numel != n as u64 || arrays.iter().any(|e: &ArrayEntry| e.name == a.name) {
            let msg = format!("array `{}`: shape {:?} for {n} values, or a repeated name", a.name, a.shape);
            return Err(OddityError::Numerical(msg));
        }
        arrays.push(ArrayEntry {
            name: a.name.clone(),
            dtype: dtype.name().into(),
            shape: a.shape.clone(),
            offset,
            len: (n * 4) as u64,
        });
    }
    let meta = FileMeta {
        kind: r.kind.clone(),
        library_version: env!("CARGO_PKG_VERSION").into(),
        format_version: FORMAT_VERSION,
        config_json: r.config_json.clone(),
        extra_json: r.extra_json.clone(),
        fitted: r.fitted,
        threshold: r.threshold,
        scaler: r.scaler.clone(),
        gmm: r.gmm.clone(),
        report_json: r.report_json.clone(),
        saved_on: r.saved_on.clone(),
        arrays,
        schema_json: r.schema_json.clone(),
    };
    encode_raw(&meta, &data)
}

/// The bytes of a file holding `meta` and the array bytes `data`, with the
/// header and a fresh checksum, as written. For tools and tests that
/// rewrite a file's metadata; [`decode`] checks the result like any file.
pub fn encode_raw(meta: &FileMeta, data: &[u8]) -> Result<Vec<u8>> {
    let meta_bytes = bincode::serde::encode_to_vec(meta, bincode_cfg())
        .map_err(|e| OddityError::Numerical(format!("cannot encode metadata: {e}")))?;
    let mut body = Vec::with_capacity(4 + meta_bytes.len() + data.len());
    body.extend((meta_bytes.len() as u32).to_le_bytes());
    body.extend(&meta_bytes);
    body.extend(data);
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend(MAGIC);
    out.extend(meta.format_version.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend((body.len() as u64).to_le_bytes());
    out.extend(Sha256::digest(&body));
    out.extend(body);
    Ok(out)
}

/// Writes a record to `path` atomically.
pub fn write(path: &Path, r: &Record) -> Result<()> {
    let bytes = encode(r)?;
    write_atomic(path, |w| w.write_all(&bytes))
}

/// A verified detector file, ready to be turned back into a detector.
#[derive(Debug)]
pub struct DetectorFile {
    path: PathBuf,
    /// The metadata (a format-1 file's, converted).
    pub meta: FileMeta,
    data: Vec<u8>,
}

/// Reads and verifies a detector file.
pub fn read(path: &Path) -> Result<DetectorFile> {
    // A FIFO or a device would be read without end.
    let meta = fs::metadata(path).map_err(|e| OddityError::io(path, e))?;
    if !meta.is_file() {
        return Err(format_err(path, "not a regular file"));
    }
    let bytes = fs::read(path).map_err(|e| OddityError::io(path, e))?;
    decode(path, bytes)
}

/// Verifies and parses the bytes of a detector file (format 1, 2 or 3).
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
    let block = &body[4..4 + meta_len];
    let (meta, used) = if version == 1 {
        v1::decode_meta(block, bincode_cfg()).map_err(|e| err(&format!("corrupted metadata: {e}")))?
    } else if version == 2 {
        v2::decode_meta(block, bincode_cfg()).map_err(|e| err(&format!("corrupted metadata: {e}")))?
    } else {
        bincode::serde::decode_from_slice::<FileMeta, _>(block, bincode_cfg())
            .map_err(|e| err(&format!("corrupted metadata: {e}")))?
    };
    if used != meta_len {
        return Err(err("corrupted: metadata length mismatch"));
    }
    if meta.format_version != version {
        return Err(err(&format!(
            "corrupted: the metadata says format version {}, the header {version}",
            meta.format_version
        )));
    }
    let data = body[4 + meta_len..].to_vec();
    // The arrays tile the data block exactly, in order: no gaps, overlaps
    // or trailing bytes (so every byte of the file is accounted for).
    let mut next = 0u64;
    for t in &meta.arrays {
        if t.offset != next {
            return Err(err(&format!(
                "corrupted: array `{}` starts at byte {} of the data, expected {next}",
                t.name, t.offset
            )));
        }
        next = t.offset.saturating_add(t.len);
    }
    if next != data.len() as u64 {
        return Err(err(&format!("corrupted: the arrays cover {next} of {} data bytes", data.len())));
    }
    for (i, t) in meta.arrays.iter().enumerate() {
        let numel = t.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
        let ok = Dtype::parse(&t.dtype).is_some()
            && numel.and_then(|n| n.checked_mul(4)) == Some(t.len)
            && t.offset.checked_add(t.len).is_some_and(|end| end <= data.len() as u64);
        if !ok {
            return Err(err(&format!("corrupted: array `{}` does not fit its data", t.name)));
        }
        if meta.arrays[..i].iter().any(|o| o.name == t.name) {
            return Err(err(&format!("corrupted: array `{}` is stored twice", t.name)));
        }
    }
    if let Some(g) = &meta.gmm {
        g.validate().map_err(|e| err(&e.to_string()))?;
    }
    Ok(DetectorFile { path: path.to_path_buf(), meta, data })
}

impl DetectorFile {
    /// The array bytes, as stored (for tools that rewrite a file with
    /// [`encode_raw`]).
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Where the file was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A format error about this file.
    pub fn error(&self, reason: impl Into<String>) -> OddityError {
        format_err(&self.path, reason)
    }

    /// Wraps an error found while rebuilding the detector.
    /// A device the caller asked for that cannot be had is the caller's
    /// error, not the file's, and passes through unchanged.
    pub fn invalid(&self, e: OddityError) -> OddityError {
        match e {
            OddityError::DeviceUnavailable(_) => e,
            OddityError::InvalidParameter { name: "device", .. } => e,
            e => format_err(&self.path, format!("stored detector is invalid: {e}")),
        }
    }

    /// The detector config.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_str(&self.meta.config_json).map_err(|e| self.error(format!("invalid config: {e}")))
    }

    /// Detector-specific extras.
    pub fn extra<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_str(&self.meta.extra_json).map_err(|e| self.error(format!("invalid extra state: {e}")))
    }

    /// The index entry of array `name`.
    pub fn entry(&self, name: &str) -> Result<&ArrayEntry> {
        self.meta.arrays.iter().find(|t| t.name == name).ok_or_else(|| self.error(format!("missing array `{name}`")))
    }

    fn bytes(&self, e: &ArrayEntry, dtype: Dtype, shape: Option<&[u64]>) -> Result<&[u8]> {
        if e.dtype != dtype.name() {
            return Err(self.error(format!("array `{}` is {}, expected {}", e.name, e.dtype, dtype.name())));
        }
        if let Some(want) = shape {
            if e.shape != want {
                return Err(self.error(format!("array `{}` has shape {:?}, expected {want:?}", e.name, e.shape)));
            }
        }
        // `decode` checked that offset + len lies inside the data.
        Ok(&self.data[e.offset as usize..(e.offset + e.len) as usize])
    }

    /// The f32 values of array `name`, checked to be finite and, if given,
    /// to have shape `shape`.
    pub fn f32s(&self, name: &str, shape: Option<&[u64]>) -> Result<Vec<f32>> {
        let e = self.entry(name)?;
        let v: Vec<f32> = self
            .bytes(e, Dtype::F32, shape)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if v.iter().any(|x| !x.is_finite()) {
            return Err(self.error(format!("array `{name}` holds non-finite values")));
        }
        Ok(v)
    }

    /// The u32 values of array `name`, with shape `shape` if given.
    pub fn u32s(&self, name: &str, shape: Option<&[u64]>) -> Result<Vec<u32>> {
        let e = self.entry(name)?;
        Ok(self
            .bytes(e, Dtype::U32, shape)?
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// Fails unless the file holds exactly the arrays named in `names`.
    pub fn expect_arrays(&self, names: &[&str]) -> Result<()> {
        if let Some(extra) = self.meta.arrays.iter().find(|a| !names.contains(&a.name.as_str())) {
            return Err(self.error(format!("holds an unexpected array `{}`", extra.name)));
        }
        for n in names {
            self.entry(n)?;
        }
        Ok(())
    }

    /// The fitted mixture, required when the file says fitted, and checked
    /// against `k` components in `d` dimensions.
    pub fn gmm(&self, k: usize, d: usize) -> Result<Option<GmmState>> {
        match (&self.meta.gmm, self.meta.fitted) {
            (None, true) => Err(self.error("fitted GMM detector without GMM parameters")),
            (Some(g), _) if g.k != k || g.d != d => {
                Err(self.error(format!("GMM has K={}, D={}; the config needs K={k}, D={d}", g.k, g.d)))
            }
            (g, _) => Ok(g.clone()),
        }
    }

    /// The standardizer, checked to be `n_features` wide with finite values
    /// and positive deviations.
    pub fn scaler(&self, n_features: usize) -> Result<Option<Standardizer>> {
        match &self.meta.scaler {
            Some(s) if s.mean.len() != n_features || s.std.len() != n_features => {
                Err(self.error("standardization width does not match the detector"))
            }
            Some(s) if s.mean.iter().chain(&s.std).any(|v| !v.is_finite()) || s.std.iter().any(|&v| v <= 0.0) => {
                Err(self.error("standardization holds invalid values"))
            }
            s => Ok(s.clone()),
        }
    }
}
