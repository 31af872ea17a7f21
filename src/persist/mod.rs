//! The detector file: one versioned, checksummed file per detector
//! (docs/file-format.md), written atomically. This layer knows no detector:
//! it stores a kind tag, JSON config and state, and named arrays.

mod atomic;
mod format;
mod meta;
mod v1;
mod v2;

pub use atomic::write_atomic;
pub use format::{decode, encode, encode_raw, read, write, DetectorFile, FORMAT_VERSION, MAGIC};
pub use meta::{ArrayData, ArrayEntry, Dtype, FileMeta, NamedArray, Record};
