//! Atomic file output: every result and checkpoint is written to a temporary file in the same
//! folder and renamed over the target, so an interrupted run never leaves a half-written file and
//! never destroys the previous version. A process killed between the two leaves its temporary
//! file behind; [`remove_stale_temps`] clears those of dead processes when the next run starts.
//!
//! Paths stay [`Path`]s throughout: a folder name that is not UTF-8 is kept byte for byte.
use crate::error::{io_at, Error, Result};
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The marker between a temporary file's owner and its extension.
const TEMP_MARK: &str = ".tmp";

/// A temporary path next to `path` (same folder, so the rename is atomic) that keeps the
/// extension, since libtorch chooses the format from it:
/// `.NAME.PID@HOST.tmp.EXT`, so a later run can tell whether its writer is gone.
pub fn temp_sibling(path: &Path) -> PathBuf {
    let mut tmp = OsString::from(".");
    tmp.push(path.file_name().unwrap_or_default());
    tmp.push(format!(".{}@{}{TEMP_MARK}", std::process::id(), crate::runtime::host_name()));
    if let Some(ext) = path.extension() {
        tmp.push(".");
        tmp.push(ext);
    }
    path.with_file_name(tmp)
}

/// The writer of a temporary file named by [`temp_sibling`]: its pid and, for names written since
/// the host was recorded, its host.
fn temp_owner(name: &OsStr) -> Option<(u32, Option<String>)> {
    let name = name.to_str()?;
    if !name.starts_with('.') {
        return None;
    }
    // `.NAME.OWNER.tmp` or `.NAME.OWNER.tmp.EXT`
    let at = name.rfind(TEMP_MARK)?;
    let rest = &name[at + TEMP_MARK.len()..];
    if !(rest.is_empty() || (rest.starts_with('.') && !rest[1..].contains('.'))) {
        return None;
    }
    // host names may hold dots, pids and the `@` do not
    let (front, host) = match name[..at].rsplit_once('@') {
        Some((front, host)) => (front, Some(host.to_string())),
        None => (&name[..at], None),
    };
    let pid = front.rsplit_once('.')?.1;
    Some((pid.parse().ok()?, host))
}

/// Removes, under `dir` (down to `depth` folder levels), the temporary files of writers that
/// died on this host before renaming them (a killed run); returns what it removed. Files of live
/// processes, and of other hosts sharing the folder, are left alone.
pub fn remove_stale_temps(dir: &Path, depth: usize) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return removed };
    let host = crate::runtime::host_name();
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            if depth > 0 {
                removed.extend(remove_stale_temps(&path, depth - 1));
            }
        } else if kind.is_file() {
            if let Some((pid, owner_host)) = temp_owner(&entry.file_name()) {
                let here = owner_host.as_deref().is_none_or(|h| h == host);
                if here && !crate::runtime::process_alive(pid) && std::fs::remove_file(&path).is_ok() {
                    removed.push(path);
                }
            }
        }
    }
    removed
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

/// Paths in JSON records, which hold text: written as shown (a name that is not UTF-8 gets
/// U+FFFD for its odd bytes), read back as written. For records that name folders for people
/// (a sweep's plan); the files themselves are always opened through `Path`s.
pub mod path_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::path::{Path, PathBuf};

    pub fn serialize<S: Serializer>(path: &Path, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&path.to_string_lossy())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<PathBuf, D::Error> {
        String::deserialize(d).map(PathBuf::from)
    }
}

/// The file that marks an output folder as in use by a run.
pub const LOCK_FILE: &str = ".unlearn.lock";

/// Who holds an output folder: written into its [`LOCK_FILE`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    pub started: String,
    pub command: String,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} on {}, since {} ({})", self.pid, self.host, self.started, self.command)
    }
}

/// An exclusive claim on an output folder for the duration of a run, so two runs never mix their
/// files in one folder. Released (the lock file removed) when dropped; a lock left by a process
/// that died on this host is taken over.
#[derive(Debug)]
pub struct OutputLock {
    path: PathBuf,
    holder: LockHolder,
    /// Whether this claim made the lock file (an inner claim of the same process did not).
    owned: bool,
}

impl OutputLock {
    /// Claims `dir` (created if needed) for this process; `command` says what runs (shown to a
    /// second run that finds the folder taken). Stale temporary files of dead writers under `dir`
    /// are removed. The error names the folder and the run that holds it.
    pub fn acquire(dir: &Path, command: &str) -> Result<OutputLock> {
        std::fs::create_dir_all(dir).map_err(io_at(dir))?;
        let path = dir.join(LOCK_FILE);
        let holder = LockHolder {
            pid: std::process::id(),
            host: crate::runtime::host_name(),
            started: crate::report::now(),
            command: command.to_string(),
        };
        let text = serde_json::to_string_pretty(&holder)? + "\n";
        // a few rounds: a stale lock is moved away, then the claim is tried again
        for _ in 0..5 {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).map_err(io_at(&path))?;
                    remove_stale_temps(dir, 4);
                    return Ok(OutputLock { path, holder, owned: true });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io(&path, e)),
            }
            match read_holder(&path) {
                // this process holds it already (a sweep writing into its run's --out): the
                // outer claim stays, and releases it
                Some(h) if h.host == holder.host && h.pid == holder.pid => {
                    return Ok(OutputLock { path, holder: h, owned: false });
                }
                // another run holds it
                Some(h) if h.host != holder.host || crate::runtime::process_alive(h.pid) => {
                    return Err(Error::OutputInUse { dir: dir.to_path_buf(), holder: h.to_string() });
                }
                // a dead process's lock: move it aside (only one claimant's rename succeeds)
                Some(_) => {
                    let aside = dir.join(format!("{LOCK_FILE}.stale.{}", std::process::id()));
                    if std::fs::rename(&path, &aside).is_ok() {
                        let _ = std::fs::remove_file(&aside);
                    }
                }
                // being written right now, or a crash between creating and writing it: give the
                // writer a moment, then treat an unreadable lock older than a few seconds as stale
                None => {
                    let age = std::fs::metadata(&path).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
                    if age.is_some_and(|a| a > std::time::Duration::from_secs(5)) {
                        let _ = std::fs::remove_file(&path);
                    } else {
                        std::thread::sleep(std::time::Duration::from_millis(200));
                    }
                }
            }
        }
        let holder = read_holder(&path).map(|h| h.to_string()).unwrap_or_else(|| "an unreadable lock file".into());
        Err(Error::OutputInUse { dir: dir.to_path_buf(), holder })
    }

    /// Who holds the lock (this process).
    pub fn holder(&self) -> &LockHolder {
        &self.holder
    }
}

fn read_holder(path: &Path) -> Option<LockHolder> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // only our own claim (a lock taken over by someone else stays theirs)
        if self.owned && read_holder(&self.path).is_some_and(|h| h == self.holder) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_tell_their_writer() {
        let t = temp_sibling(Path::new("/x/model.safetensors"));
        let name = t.file_name().unwrap();
        let (pid, host) = temp_owner(name).unwrap();
        assert_eq!(pid, std::process::id());
        assert_eq!(host.as_deref(), Some(crate::runtime::host_name().as_str()));
        assert_eq!(t.extension().unwrap(), "safetensors");
        // names of earlier versions (no host), dotted host names, and files that are no temporaries
        assert_eq!(temp_owner(OsStr::new(".result.json.42.tmp.json")), Some((42, None)));
        assert_eq!(temp_owner(OsStr::new(".a.7@node1.hpc.org.tmp")), Some((7, Some("node1.hpc.org".into()))));
        assert_eq!(temp_owner(OsStr::new("result.json")), None);
        assert_eq!(temp_owner(OsStr::new(".result.json.x.tmp.json")), None);
        assert_eq!(temp_owner(OsStr::new(".a.5.tmp.tar.gz")), None);
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_names_are_kept_byte_for_byte() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join(OsStr::from_bytes(b"r\xffsults"));
        let target = sub.join("result.json");
        write_atomic(&target, b"{}").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"{}");
        assert_eq!(std::fs::read_dir(&sub).unwrap().count(), 1, "no temporary file left");
    }

    #[test]
    fn an_output_folder_has_one_run_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let first = OutputLock::acquire(dir.path(), "first").unwrap();
        // the same process again (a sweep inside its run's folder): an inner claim that leaves
        // the lock to the outer one
        let inner = OutputLock::acquire(dir.path(), "inner").unwrap();
        assert_eq!(inner.holder().command, "first");
        drop(inner);
        assert!(dir.path().join(LOCK_FILE).exists(), "still held by the outer claim");
        // another process
        let other =
            LockHolder { pid: 1, host: crate::runtime::host_name(), started: "x".into(), command: "init".into() };
        std::fs::write(dir.path().join(LOCK_FILE), serde_json::to_string(&other).unwrap()).unwrap();
        let e = OutputLock::acquire(dir.path(), "second").unwrap_err().to_string();
        assert!(e.contains("in use") && e.contains("pid 1 on") && e.contains("init"), "{e}");
        std::fs::write(dir.path().join(LOCK_FILE), serde_json::to_string(first.holder()).unwrap()).unwrap();
        drop(first);
        assert!(!dir.path().join(LOCK_FILE).exists(), "released");
        // a lock of a process that is gone is taken over; so are its temporary files
        let dead = LockHolder {
            pid: u32::MAX - 1,
            host: crate::runtime::host_name(),
            started: "x".into(),
            command: "killed".into(),
        };
        std::fs::write(dir.path().join(LOCK_FILE), serde_json::to_string(&dead).unwrap()).unwrap();
        let tmp = dir.path().join(format!(".result.json.{}@{}.tmp.json", u32::MAX - 1, crate::runtime::host_name()));
        std::fs::write(&tmp, b"half").unwrap();
        let live = dir.path().join(format!(".result.json.{}.tmp.json", std::process::id()));
        std::fs::write(&live, b"mine").unwrap();
        let again = OutputLock::acquire(dir.path(), "third").unwrap();
        assert_eq!(again.holder().command, "third");
        assert!(!tmp.exists(), "a dead writer's temporary file is removed");
        assert!(live.exists(), "a live writer's temporary file stays");
        // another host's lock is never taken over (its pid means nothing here)
        drop(again);
        let remote = LockHolder { host: "elsewhere".into(), ..dead };
        std::fs::write(dir.path().join(LOCK_FILE), serde_json::to_string(&remote).unwrap()).unwrap();
        let e = OutputLock::acquire(dir.path(), "fourth").unwrap_err().to_string();
        assert!(e.contains("elsewhere"), "{e}");
    }
}
