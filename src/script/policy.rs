//! What a script run may do (issue 9): which folders its file paths may name, how many operations
//! and how deep its calls and data may go, and how long it may run.
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// Folders a script's file paths must resolve under; `None`: anywhere (the library default, e.g.
/// notebooks); the command line confines runs to the working directory, the output folder, the
/// script's folder and `--allow` folders.
#[derive(Debug, Clone, Default)]
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
    pub fn check(&self, path: &str, purpose: &str) -> Result<PathBuf, String> {
        let Some(roots) = &self.roots else { return Ok(PathBuf::from(path)) };
        let resolved = resolve(Path::new(path));
        if let Some(r) = &resolved {
            if roots.iter().any(|root| r.starts_with(root)) {
                return Ok(PathBuf::from(path));
            }
        }
        let shown =
            resolved.map(|r| r.display().to_string()).unwrap_or_else(|| "`..` in a part that does not exist".into());
        let list: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        Err(format!(
            "{purpose} `{path}` ({shown}) is outside the folders this run may use ({}): pass --allow DIR to permit another folder",
            list.join(", ")
        ))
    }
}

/// Limits of the rhai engine and of the run's time.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Script operations. For every limit, 0 means none (rhai's convention).
    pub operations: u64,
    pub call_depth: usize,
    pub expr_depth: usize,
    pub string_size: usize,
    pub array_size: usize,
    pub map_size: usize,
    /// Wall-clock limit of the run.
    pub timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            operations: 1_000_000_000,
            call_depth: 64,
            expr_depth: 128,
            string_size: 64 << 20,
            array_size: 10_000_000,
            map_size: 1_000_000,
            timeout: None,
        }
    }
}

/// The names `--limit NAME=VALUE` takes.
pub const LIMIT_NAMES: &[&str] = &["operations", "call_depth", "expr_depth", "string_size", "array_size", "map_size"];

impl Limits {
    /// Sets one limit from `NAME=VALUE`.
    pub fn set(&mut self, spec: &str) -> Result<(), String> {
        let (name, value) = spec
            .split_once('=')
            .ok_or_else(|| format!("--limit {spec}: expected NAME=VALUE, NAME one of {LIMIT_NAMES:?}"))?;
        let v: u64 =
            value.trim().parse().map_err(|_| format!("--limit {spec}: `{value}` is not a non-negative integer"))?;
        let as_size = |v: u64| usize::try_from(v).map_err(|_| format!("--limit {spec}: too large"));
        match name.trim() {
            "operations" => self.operations = v,
            "call_depth" => self.call_depth = as_size(v)?,
            "expr_depth" => self.expr_depth = as_size(v)?,
            "string_size" => self.string_size = as_size(v)?,
            "array_size" => self.array_size = as_size(v)?,
            "map_size" => self.map_size = as_size(v)?,
            other => return Err(format!("--limit {spec}: unknown limit `{other}`, expected one of {LIMIT_NAMES:?}")),
        }
        Ok(())
    }

    /// Applies the engine limits (not the timeout, see [`super::engine`]).
    pub fn apply(&self, engine: &mut rhai::Engine) {
        engine.set_max_operations(self.operations);
        engine.set_max_call_levels(self.call_depth);
        engine.set_max_expr_depths(self.expr_depth, self.expr_depth / 2);
        engine.set_max_string_size(self.string_size);
        engine.set_max_array_size(self.array_size);
        engine.set_max_map_size(self.map_size);
    }
}
