//! Atomic file writes: a temporary file beside the target, flushed, synced
//! and renamed over it, so a reader sees the old file or the new one, never
//! half of one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{OddityError, Result};

/// Writes through `fill` into a temporary file beside `path`, then renames it
/// over `path`. If `fill` or any step fails, `path` is untouched and the
/// temporary file is removed.
pub fn write_atomic(path: &Path, fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| OddityError::Format { path: path.to_path_buf(), reason: "not a file path".into() })?
        .to_string_lossy()
        .to_string();
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
