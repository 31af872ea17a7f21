//! The detector registry: a detector's name maps to how to build it from a
//! config, load it from a file, and choose its default config for `n`
//! features. `load_any`, the CLI's `--detector`, the examples, benches and
//! tests all go through it, so adding a detector is one folder plus one
//! line in [`BUILTIN`].
//!
//! The built-in list is closed: `load_any` and the CLI know these detectors.
//! A crate outside oddity can still implement [`Detector`] and
//! [`Registered`], save its files in the same format, and load them with a
//! [`Registry`] of its own that adds its [`Entry`] to the built-ins. No
//! global mutable state, so two programs never disagree on what a name means.

use std::path::Path;

use super::api::Detector;
pub use super::registered::{entry, load_as, Entry, Registered};
use crate::error::{OddityError, Result};
use crate::persist::{self, DetectorFile};
use crate::Device;

/// The detectors built into oddity, in the order help texts list them.
#[rustfmt::skip]
pub static BUILTIN: &[Entry] = &[
    entry::<super::ae::OutlierAE>(),
    entry::<super::aegmm::OutlierAEGMM>(),
    entry::<super::vaegmm::OutlierVAEGMM>(),
    entry::<super::iforest::OutlierIForest>(),
    entry::<super::knn::OutlierKNN>(),
    entry::<super::ecod::OutlierECOD>(),
];

/// A set of detectors: the built-ins, plus any a program adds.
#[derive(Debug, Clone)]
pub struct Registry {
    entries: Vec<Entry>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry { entries: BUILTIN.to_vec() }
    }
}

impl Registry {
    /// Adds a detector; its name must be new.
    pub fn register(&mut self, e: Entry) -> Result<()> {
        if self.entries.iter().any(|o| o.kind.tag() == e.kind.tag()) {
            return Err(OddityError::param("detector", format!("`{}` is registered already", e.kind.tag())));
        }
        self.entries.push(e);
        Ok(())
    }

    /// Every entry.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry named `name` (registry name or class name, any case).
    pub fn get(&self, name: &str) -> Result<&Entry> {
        lookup(&self.entries, name)
    }

    /// Reads, verifies and loads any detector file of a registered kind.
    pub fn load(&self, path: &Path, device: Device) -> Result<Box<dyn Detector>> {
        let f = persist::read(path)?;
        file_entry(&self.entries, &f)?.load(&f, device)
    }
}

/// The entry whose registry name is exactly the file's kind tag.
fn file_entry<'a>(entries: &'a [Entry], f: &DetectorFile) -> Result<&'a Entry> {
    entries.iter().find(|e| e.kind.tag() == f.meta.kind).ok_or_else(|| {
        f.error(format!("holds a detector of unknown kind `{}` (known: {})", f.meta.kind, names(entries)))
    })
}

/// The built-in entry of a verified file's kind.
pub fn entry_of(f: &DetectorFile) -> Result<&'static Entry> {
    file_entry(BUILTIN, f)
}

fn names(entries: &[Entry]) -> String {
    entries.iter().map(|e| e.kind.tag()).collect::<Vec<_>>().join(", ")
}

fn lookup<'a>(entries: &'a [Entry], name: &str) -> Result<&'a Entry> {
    let want = name.trim().to_ascii_lowercase();
    entries
        .iter()
        .find(|e| e.kind.tag() == want || e.kind.name().to_ascii_lowercase() == want)
        .ok_or_else(|| OddityError::param("detector", format!("`{name}` is not one of {}", names(entries))))
}

/// The built-in entry named `name` (registry name or class name, any case).
pub fn get(name: &str) -> Result<&'static Entry> {
    lookup(BUILTIN, name)
}

/// The built-in detectors' registry names.
pub fn names_builtin() -> Vec<&'static str> {
    BUILTIN.iter().map(|e| e.kind.tag()).collect()
}

/// Loads any built-in detector file as a boxed [`Detector`], from its own
/// kind tag.
pub fn load_any(path: &Path, device: Device) -> Result<Box<dyn Detector>> {
    let f = persist::read(path)?;
    entry_of(&f)?.load(&f, device)
}
