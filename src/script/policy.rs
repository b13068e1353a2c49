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

/// `path` made absolute against the working directory, with `.` and `..` resolved lexically, and
/// then symbolic links resolved for the part that exists.
fn resolve(path: &Path) -> PathBuf {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")).join(path)
    };
    let mut lexical = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                lexical.pop();
            }
            Component::CurDir => {}
            other => lexical.push(other.as_os_str()),
        }
    }
    // the longest existing ancestor, canonicalised (symbolic links), then the rest
    let mut existing = lexical.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.file_name().map(|n| n.to_os_string()), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut out = existing.canonicalize().unwrap_or(existing);
    for name in rest.into_iter().rev() {
        out.push(name);
    }
    out
}

impl PathPolicy {
    /// Any path.
    pub fn anywhere() -> Self {
        PathPolicy { roots: None }
    }

    /// Paths under one of `roots` (made absolute, links resolved).
    pub fn under(roots: &[PathBuf]) -> Self {
        PathPolicy { roots: Some(roots.iter().map(|r| resolve(r)).collect()) }
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
        if roots.iter().any(|r| resolved.starts_with(r)) {
            return Ok(PathBuf::from(path));
        }
        let list: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        Err(format!(
            "{purpose} `{path}` ({}) is outside the folders this run may use ({}): pass --allow DIR to permit another folder",
            resolved.display(),
            list.join(", ")
        ))
    }
}

/// Limits of the rhai engine and of the run's time.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Script operations (0: no limit).
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
