//! Reading format 2 (up to the table schema): its metadata is format 3's
//! without the trailing `schema_json`; such a detector gets an all-numeric
//! schema as wide as its input.

use serde::Deserialize;

use super::meta::{ArrayEntry, FileMeta};
use crate::math::gmm::GmmState;
use crate::math::scale::Standardizer;

/// `FileMeta` as format 2 lays it out (bincode: fields in this order).
#[derive(Deserialize)]
struct FileMetaV2 {
    kind: String,
    library_version: String,
    format_version: u16,
    config_json: String,
    extra_json: String,
    fitted: bool,
    threshold: Option<f64>,
    scaler: Option<Standardizer>,
    gmm: Option<GmmState>,
    report_json: Option<String>,
    saved_on: String,
    arrays: Vec<ArrayEntry>,
}

/// Decodes a format-2 metadata block into today's [`FileMeta`].
pub(super) fn decode_meta(
    block: &[u8],
    cfg: impl bincode::config::Config,
) -> std::result::Result<(FileMeta, usize), bincode::error::DecodeError> {
    let (m, used): (FileMetaV2, usize) = bincode::serde::decode_from_slice(block, cfg)?;
    let meta = FileMeta {
        kind: m.kind,
        library_version: m.library_version,
        format_version: m.format_version,
        config_json: m.config_json,
        extra_json: m.extra_json,
        fitted: m.fitted,
        threshold: m.threshold,
        scaler: m.scaler,
        gmm: m.gmm,
        report_json: m.report_json,
        saved_on: m.saved_on,
        arrays: m.arrays,
        schema_json: None,
    };
    Ok((meta, used))
}
