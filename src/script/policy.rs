//! What a script run may do (issue 9): which folders its file paths may name, how many operations
//! and how deep its calls and data may go, and how long it may run.
pub use crate::paths::PathPolicy;
use std::time::Duration;

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
