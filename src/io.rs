//! Atomic file output: every result and checkpoint is written to a temporary file in the same
//! folder and renamed over the target, so an interrupted run never leaves a half-written file and
//! never destroys the previous version.
use crate::error::{io_at, Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A temporary path next to `path` (same folder, so the rename is atomic) that keeps the
/// extension, since libtorch chooses the format from it.
pub fn temp_sibling(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = format!(".{name}.{}.tmp", std::process::id());
    let tmp = match path.extension() {
        Some(ext) => format!("{tmp}.{}", ext.to_string_lossy()),
        None => tmp,
    };
    path.with_file_name(tmp)
}

/// Creates the parent folder of `path` if needed.
pub fn ensure_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_at(parent))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename).
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let path = path.as_ref();
    ensure_parent(path)?;
    let tmp = temp_sibling(path);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Serialises `value` as pretty JSON and writes it atomically.
pub fn write_json_atomic<T: serde::Serialize + ?Sized>(path: impl AsRef<Path>, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}
