//! Reading format 1 (oddity 0.1.0 up to the detector registry): its
//! metadata differs from format 2 only in the kind tag, an enum there
//! (variant index `0` = ae, `1` = aegmm, `2` = vaegmm) and a name here.

use serde::Deserialize;

use super::meta::{ArrayEntry, FileMeta};
use crate::math::gmm::GmmState;
use crate::math::scale::Standardizer;

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum KindV1 {
    Ae,
    Aegmm,
    Vaegmm,
}

/// `FileMeta` as format 1 lays it out (bincode: fields in this order).
#[derive(Deserialize)]
struct FileMetaV1 {
    kind: KindV1,
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
    tensors: Vec<ArrayEntry>,
}

/// Decodes a format-1 metadata block into today's [`FileMeta`].
pub(super) fn decode_meta(
    block: &[u8],
    cfg: impl bincode::config::Config,
) -> std::result::Result<(FileMeta, usize), bincode::error::DecodeError> {
    let (m, used): (FileMetaV1, usize) = bincode::serde::decode_from_slice(block, cfg)?;
    let kind = match m.kind {
        KindV1::Ae => "ae",
        KindV1::Aegmm => "aegmm",
        KindV1::Vaegmm => "vaegmm",
    };
    let meta = FileMeta {
        kind: kind.into(),
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
        arrays: m.tensors,
        schema_json: None,
    };
    Ok((meta, used))
}
