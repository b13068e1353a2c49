//! Which folders a run may read and write. The command line confines a script to its working
//! directory, output folder, script folder and `--allow` folders; every loader checks each file
//! it opens (after following symbolic links), so a link inside a dataset folder cannot lead a
//! run outside them.
use crate::error::{Error, Result};
use std::path::{Component, Path, PathBuf};

/// Folders a script's file paths must resolve under; `None`: anywhere (the library default, e.g.
/// notebooks); the command line confines runs to the working directory, the output folder, the
/// script's folder and `--allow` folders.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PathPolicy {
    roots: Option<Vec<PathBuf>>,
}

/// `path` as the operating system will resolve it: made absolute against the working directory,
/// its longest existing ancestor canonicalised (symbolic links and `..` resolved by the file
/// system, not by text), then the rest appended; `None` when the part that does not exist yet
/// contains `..` (it could climb anywhere once created).
fn resolve(path: &Path) -> Option<PathBuf> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")).join(path)
    };
    let mut existing = abs.clone();
    let mut rest = Vec::new();
    while existing.canonicalize().is_err() {
        let name = existing.file_name().map(|n| n.to_os_string());
        let parent = existing.parent().map(Path::to_path_buf);
        match (name, parent) {
            (Some(n), Some(p)) => {
                rest.push(n);
                existing = p;
            }
            // a trailing `..` or `.` of a path that does not exist
            _ => return None,
        }
    }
    let mut out = existing.canonicalize().ok()?;
    for name in rest.into_iter().rev() {
        match Path::new(&name).components().next() {
            Some(Component::Normal(_)) => out.push(name),
            Some(Component::CurDir) => {}
            _ => return None,
        }
    }
    Some(out)
}

impl PathPolicy {
    /// Any path.
    pub fn anywhere() -> Self {
        PathPolicy { roots: None }
    }

    /// Paths under one of `roots` (made absolute, links resolved).
    pub fn under(roots: &[PathBuf]) -> Self {
        PathPolicy { roots: Some(roots.iter().filter_map(|r| resolve(r)).collect()) }
    }

    /// The allowed folders, or `None` for anywhere.
    pub fn roots(&self) -> Option<&[PathBuf]> {
        self.roots.as_deref()
    }

    /// `path` if the policy allows it; the error names the path, what it was for and the folders
    /// that are allowed.
    pub fn check(&self, path: &Path, purpose: &str) -> Result<PathBuf, String> {
        let Some(roots) = &self.roots else { return Ok(path.to_path_buf()) };
        let resolved = resolve(path);
        if let Some(r) = &resolved {
            if roots.iter().any(|root| r.starts_with(root)) {
                return Ok(path.to_path_buf());
            }
        }
        let path = path.display();
        let shown =
            resolved.map(|r| r.display().to_string()).unwrap_or_else(|| "`..` in a part that does not exist".into());
        let list: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        Err(format!(
            "{purpose} `{path}` ({shown}) is outside the folders this run may use ({}): pass --allow DIR to permit another folder",
            list.join(", ")
        ))
    }

    /// [`PathPolicy::check`] for a file a loader is about to open: where it leads (a symbolic
    /// link is followed to its target) must be allowed too, as an error of the toolkit.
    pub fn check_file(&self, path: &Path, purpose: &str) -> Result<()> {
        self.check(path, purpose).map(|_| ()).map_err(Error::Script)
    }
}
