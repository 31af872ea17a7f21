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
///
/// A `path` that is a symbolic link is written through: the link's target
/// is replaced, and the link stays. Temporary files of this name left by a
/// process that no longer runs (killed during a save) are removed first.
pub fn write_atomic(path: &Path, fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    let resolved = follow_links(path);
    let path = resolved.as_path();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| OddityError::Format { path: path.to_path_buf(), reason: "not a file path".into() })?
        .to_string_lossy()
        .to_string();
    remove_stale_temporaries(&dir, &name);
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

/// The file a chain of symbolic links ends at (at most 40 hops), even when
/// that file does not exist yet; `path` itself when it is no link.
fn follow_links(path: &Path) -> PathBuf {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match fs::read_link(&p) {
            Ok(target) if target.is_absolute() => p = target,
            Ok(target) => p = p.parent().map_or_else(|| target.clone(), |d| d.join(&target)),
            Err(_) => break,
        }
    }
    p
}

/// A temporary file older than this is no save in progress: a save writes
/// its file in seconds.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(600);

/// Removes `.NAME.tmp-PID-N` files in `dir` that a killed save left: regular
/// files of exactly that form, whose process does not run here (Linux: no
/// `/proc/PID`) and that have not been written for ten minutes (a writer on
/// another host or in another PID namespace sharing the folder is not
/// visible in `/proc`). Elsewhere, or without `/proc`, nothing is removed.
fn remove_stale_temporaries(dir: &Path, name: &str) {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let file = e.file_name();
        let Some(rest) = file.to_str().and_then(|f| f.strip_prefix(&prefix)) else { continue };
        let Some((pid, n)) = rest.split_once('-') else { continue };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if !digits(n) || pid == std::process::id() || proc.join(pid.to_string()).exists() {
            continue;
        }
        let Ok(meta) = fs::symlink_metadata(e.path()) else { continue };
        let old = meta.modified().ok().and_then(|t| t.elapsed().ok()).is_some_and(|age| age >= STALE_AFTER);
        if meta.file_type().is_file() && old {
            let _ = fs::remove_file(e.path());
        }
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos() as u64);
    (t << 16) ^ N.fetch_add(1, Ordering::Relaxed)
}
