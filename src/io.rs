//! Atomic file output: every result and checkpoint is written to a temporary file in the same
//! folder and renamed over the target, so an interrupted run never leaves a half-written file and
//! never destroys the previous version. A process killed between the two leaves its temporary
//! file behind; [`OutputLock::acquire`] clears those of dead processes when the next run starts.
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
fn temp_sibling(path: &Path) -> PathBuf {
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
    let name = name.to_str()?.strip_prefix('.')?;
    // `NAME.OWNER.tmp.EXT` (the target's extension kept) or `NAME.OWNER.tmp`
    let front = name
        .rsplit_once('.')
        .and_then(|(front, _ext)| front.strip_suffix(TEMP_MARK))
        .filter(|f| owner_of(f).is_some())
        .or_else(|| name.strip_suffix(TEMP_MARK))?;
    owner_of(front)
}

/// (pid, host) of `NAME.PID@HOST` or, as earlier versions wrote them, `NAME.PID`.
fn owner_of(front: &str) -> Option<(u32, Option<String>)> {
    // host names may hold dots, pids and the `@` do not
    let (front, host) = match front.rsplit_once('@') {
        Some((front, host)) => (front, Some(host.to_string())),
        None => (front, None),
    };
    let (name, pid) = front.rsplit_once('.')?;
    if name.is_empty() {
        return None;
    }
    Some((pid.parse().ok()?, host))
}

/// Removes, under `dir` (down to `depth` folder levels), the temporary files of writers that
/// died on this host before renaming them (a killed run); returns what it removed. Files of live
/// processes, and of other hosts sharing the folder, are left alone.
fn remove_stale_temps(dir: &Path, depth: usize) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return removed };
    let host = crate::runtime::host_name();
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            // not into hidden folders (`.git` under an `--out .`): runs write none
            if depth > 0 && !entry.file_name().to_string_lossy().starts_with('.') {
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

/// Writes `path` atomically through `write`, which writes the whole file at the path it is
/// given (a temporary sibling, renamed over `path` once `write` succeeds): for writers that
/// only take a path, such as libtorch's.
pub fn write_atomic_with(path: impl AsRef<Path>, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let path = path.as_ref();
    ensure_parent(path)?;
    let tmp = temp_sibling(path);
    let result = write(&tmp).and_then(|()| std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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
/// files in one folder.
///
/// The claim is an advisory `flock` on the folder's [`LOCK_FILE`], held open for the run: the
/// kernel releases it when the process ends however it ends, so the lock of a killed run is free
/// at once and is simply taken over. The file's text (pid, host, start, command) only tells a
/// second run who holds the folder. A lock whose text names another host is left alone even when
/// no `flock` holds it (a shared file system may not carry locks between machines): the user
/// deletes it once that run is gone. A process claiming a folder it holds already (a sweep
/// writing into its run's `--out`) gets an inner claim that leaves the lock to the outer one.
#[derive(Debug)]
pub struct OutputLock {
    path: PathBuf,
    /// `path` canonical: its entry in [`HELD`].
    key: PathBuf,
    holder: LockHolder,
    /// The open lock file holding the `flock`; `None` for an inner claim.
    file: Option<std::fs::File>,
}

/// Lock files this process holds (canonical paths), so that a second claim is known as its own
/// without comparing pids, which another process may share (pid reuse, containers).
static HELD: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn held() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

impl OutputLock {
    /// Claims `dir` (created if needed) for this process; `command` says what runs (shown to a
    /// second run that finds the folder taken). Stale temporary files of dead writers under `dir`
    /// are removed. The error names the folder and the run that holds it.
    pub fn acquire(dir: &Path, command: &str) -> Result<OutputLock> {
        use std::os::unix::fs::MetadataExt;
        use std::os::unix::io::AsRawFd;
        std::fs::create_dir_all(dir).map_err(io_at(dir))?;
        let path = dir.join(LOCK_FILE);
        let key = dir.canonicalize().map_err(io_at(dir))?.join(LOCK_FILE);
        let holder = LockHolder {
            pid: std::process::id(),
            host: crate::runtime::host_name(),
            started: crate::report::now(),
            command: command.to_string(),
        };
        if held().contains(&key) {
            let outer = read_holder(&path).unwrap_or(holder);
            return Ok(OutputLock { path, key, holder: outer, file: None });
        }
        let in_use = |h: Option<LockHolder>| Error::OutputInUse {
            dir: dir.to_path_buf(),
            holder: h.map(|h| h.to_string()).unwrap_or_else(|| "a run whose lock file is still being written".into()),
        };
        // a holder that releases the folder removes the file: retry on the new one
        for _ in 0..10 {
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io_at(&path))?;
            // SAFETY: flock on a descriptor we own; it only sets an advisory lock.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                    return Err(in_use(read_holder(&path)));
                }
                return Err(Error::io(&path, e));
            }
            // the file we locked must still be the one at `path` (not one a holder just removed)
            let same = match (file.metadata(), std::fs::metadata(&path)) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            };
            if !same {
                continue;
            }
            if let Some(h) = read_holder(&path).filter(|h| h.host != holder.host) {
                return Err(in_use(Some(h)));
            }
            let text = serde_json::to_string_pretty(&holder)? + "\n";
            let written = file.set_len(0).and_then(|()| file.write_all(text.as_bytes())).and_then(|()| file.sync_all());
            if let Err(e) = written {
                let _ = std::fs::remove_file(&path);
                return Err(Error::io(&path, e));
            }
            held().push(key.clone());
            remove_stale_temps(dir, 4);
            return Ok(OutputLock { path, key, holder, file: Some(file) });
        }
        Err(in_use(read_holder(&path)))
    }

    /// Who holds the folder (for an inner claim: the outer one).
    pub fn holder(&self) -> &LockHolder {
        &self.holder
    }
}

fn read_holder(path: &Path) -> Option<LockHolder> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            // removed while still locked, so a waiting claimant sees the file change and retries
            let _ = std::fs::remove_file(&self.path);
            held().retain(|k| *k != self.key);
            drop(file);
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
        // a target whose own extension is `tmp`
        assert_eq!(temp_owner(OsStr::new(".a.tmp.5@h.tmp.tmp")), Some((5, Some("h".into()))));
        assert_eq!(temp_owner(OsStr::new(".5.tmp")), None);
    }

    #[test]
    fn a_failed_write_leaves_the_previous_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("result.json");
        write_atomic(&path, b"first version").unwrap();
        // a write that fails half-way leaves the previous version whole
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        let inside = ro.join("r.json");
        write_atomic(&inside, b"old").unwrap();
        // a directory where the temp file would go makes the write fail half-way
        std::fs::create_dir(temp_sibling(&inside)).unwrap();
        assert!(write_atomic(&inside, b"new").is_err());
        assert_eq!(std::fs::read(&inside).unwrap(), b"old");
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        // the only thing beside each target is what the test itself put there
        let names = |d: &Path| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(d)
                .unwrap()
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(dir.path()), ["result.json", "ro"]);
        let blocker = temp_sibling(&inside).file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(names(&ro), [blocker, "r.json".to_string()]);
    }

    #[cfg(target_os = "linux")]
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
        use std::os::unix::io::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE);
        let first = OutputLock::acquire(dir.path(), "first").unwrap();
        // the same process again (a sweep inside its run's folder): an inner claim that leaves
        // the lock to the outer one
        let inner = OutputLock::acquire(dir.path(), "inner").unwrap();
        assert_eq!(inner.holder().command, "first");
        drop(inner);
        assert!(path.exists(), "still held by the outer claim");
        drop(first);
        assert!(!path.exists(), "released");
        // another process's claim: a flock through another open file, and its text
        let host = crate::runtime::host_name();
        let other = LockHolder { pid: 1, host: host.clone(), started: "x".into(), command: "init".into() };
        std::fs::write(&path, serde_json::to_string(&other).unwrap()).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0);
        let e = OutputLock::acquire(dir.path(), "second").unwrap_err().to_string();
        assert!(e.contains("in use") && e.contains("pid 1 on") && e.contains("init"), "{e}");
        // that process is killed: the kernel drops its flock, the text stays; the next run takes
        // the folder over and removes the dead writer's temporary files
        drop(f);
        let dead = u32::MAX - 1;
        let tmp = dir.path().join(format!(".result.json.{dead}@{host}.tmp.json"));
        std::fs::write(&tmp, b"half").unwrap();
        let live = dir.path().join(format!(".result.json.{}.tmp.json", std::process::id()));
        std::fs::write(&live, b"mine").unwrap();
        let again = OutputLock::acquire(dir.path(), "third").unwrap();
        assert_eq!(again.holder().command, "third");
        assert!(read_holder(&path).is_some_and(|h| h.command == "third"));
        assert!(!tmp.exists(), "a dead writer's temporary file is removed");
        assert!(live.exists(), "a live writer's temporary file stays");
        drop(again);
        // a lock written on another host is never taken over (its flock may not reach here)
        let remote = LockHolder { host: "elsewhere".into(), ..other };
        std::fs::write(&path, serde_json::to_string(&remote).unwrap()).unwrap();
        let e = OutputLock::acquire(dir.path(), "fourth").unwrap_err().to_string();
        assert!(e.contains("elsewhere"), "{e}");
    }
}
