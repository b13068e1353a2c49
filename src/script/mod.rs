//! The rhai engine: a thin skin over the typed API (no algorithm lives here). One binding module
//! per domain, the embedded stdlib, the run context, and error messages that point at the script
//! line and column.
pub mod condense;
pub mod data;
pub mod evaluation;
pub mod functions;
pub mod lint;
pub mod metrics;
pub mod models;
pub mod options;
pub mod plots;
pub mod policy;
pub mod request;
pub mod runtime;
pub mod stdlib;
pub mod sweep;
pub mod unlearn;

use crate::report::RunInfo;
use rhai::packages::Package;
use rhai::{Dynamic, Engine, EvalAltResult, NativeCallContext, ParseError, Position};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use tch::Device;

/// Result type of script-facing functions.
pub type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// A runtime error for scripts; rhai adds the position of the call.
pub fn rt(e: impl std::fmt::Display) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(e.to_string().into(), Position::NONE).into()
}

/// What a script run knows about itself: device, seed, output folder, `--set` options.
#[derive(Debug)]
pub struct RunContext {
    pub device: Device,
    /// `--seed`; a sweep point's own seed while it runs (see [`RunContext::seed`]).
    seed: std::cell::Cell<u64>,
    /// `--out`; a sweep point's own folder while it runs (see [`RunContext::out_dir`]).
    out_dir: RefCell<PathBuf>,
    /// `--out` as given.
    base_out: PathBuf,
    pub options: BTreeMap<String, String>,
    /// `--set` names the script asked for (to warn about typos in the others).
    pub used_options: RefCell<BTreeSet<String>>,
    pub info: RunInfo,
    /// Where its file paths may point.
    pub paths: policy::PathPolicy,
    /// Engine limits and the timeout.
    pub limits: policy::Limits,
    /// How `sweep()` executes (the default: every point here, one after another).
    pub sweep: crate::sweep::Exec,
    /// Whether the script has called `sweep()` (a script defines one sweep).
    pub sweep_called: std::cell::Cell<bool>,
    /// Sweep points this process has run (their `--set` reads happen here only then).
    pub points_run: std::cell::Cell<usize>,
    /// How the run computes as asked on the command line (`--device`, `--deterministic`), for
    /// the fingerprints of resumable results ([`RunContext::fingerprint`]).
    pub compute: BTreeMap<String, serde_json::Value>,
    /// `--overwrite`: a resumable record made under another configuration is replaced instead of
    /// stopping the run.
    pub overwrite: bool,
}

impl RunContext {
    pub fn new(script: &str, device: Device, seed: u64, out_dir: PathBuf, options: BTreeMap<String, String>) -> Self {
        let info = RunInfo::new(script, device, seed, &out_dir, options.clone());
        RunContext {
            device,
            seed: std::cell::Cell::new(seed),
            base_out: out_dir.clone(),
            out_dir: RefCell::new(out_dir),
            options,
            used_options: RefCell::new(BTreeSet::new()),
            info,
            paths: policy::PathPolicy::anywhere(),
            limits: policy::Limits::default(),
            sweep: crate::sweep::Exec::in_process(),
            sweep_called: std::cell::Cell::new(false),
            points_run: std::cell::Cell::new(0),
            compute: BTreeMap::from([("--device".to_string(), crate::runtime::device_name(device).into())]),
            overwrite: false,
        }
    }

    /// What every resumable result of this run depends on besides its own inputs: the script's
    /// SHA-256, the seed, each `--set` option, the compute flags and, on the CPU (where the last
    /// bits of a result depend on it), libtorch's thread count. See [`crate::resume`].
    pub fn fingerprint(&self) -> crate::resume::Fingerprint {
        let f = crate::resume::run_parts(&self.info.script_sha256, self.seed(), &self.options, &self.compute);
        match self.device {
            Device::Cpu => f.with("CPU threads", tch::get_num_threads()),
            _ => f,
        }
    }

    /// The default of every `seed` option: `--seed`, or the seed of the sweep point that is
    /// running.
    pub fn seed(&self) -> u64 {
        self.seed.get()
    }

    /// Makes `seed` the default seed; returns the previous one.
    pub fn set_seed(&self, seed: u64) -> u64 {
        self.seed.replace(seed)
    }

    /// The output folder: `--out`, or the folder of the sweep point that is running.
    pub fn out_dir(&self) -> PathBuf {
        self.out_dir.borrow().clone()
    }

    /// Makes `dir` the output folder; returns the previous one.
    pub fn set_out_dir(&self, dir: PathBuf) -> PathBuf {
        self.out_dir.replace(dir)
    }

    /// The file system path of a path text from the script. Scripts hold text (UTF-8), so a
    /// folder whose name is not UTF-8 reaches them through `out_dir()` with its odd bytes shown as
    /// U+FFFD; a text that starts with such a folder's shown name is mapped back to its real bytes,
    /// so outputs land in the real folder, never in a look-alike.
    pub fn script_path(&self, text: &str) -> PathBuf {
        for real in [self.out_dir(), self.base_out.clone()] {
            if real.to_str().is_some() {
                continue;
            }
            let shown = real.display().to_string();
            if let Some(rest) = text.strip_prefix(&shown) {
                if rest.is_empty() {
                    return real;
                }
                if let Some(rest) = rest.strip_prefix('/') {
                    return real.join(rest);
                }
            }
        }
        PathBuf::from(text)
    }

    /// The same context executing sweeps as `exec` says.
    pub fn with_sweep(mut self, exec: crate::sweep::Exec) -> Self {
        self.sweep = exec;
        self
    }

    /// The same context confined to `paths` and `limits`.
    pub fn with_policy(mut self, paths: policy::PathPolicy, limits: policy::Limits) -> Self {
        self.paths = paths;
        self.limits = limits;
        self
    }

    /// `--set` options the script never read. Empty when a sweep ran no point here (`--plan`,
    /// `--status`, `--jobs N`, Slurm, a rerun of a complete sweep): the point function, which
    /// reads them, did not run in this process, so nothing can be said.
    pub fn unused_options(&self) -> Vec<String> {
        if self.sweep_called.get() && self.points_run.get() == 0 {
            return Vec::new();
        }
        let used = self.used_options.borrow();
        self.options.keys().filter(|k| !used.contains(*k)).cloned().collect()
    }
}

/// Fails when this run may do no experiment work: `unlearn sweep --plan`, `--status`, `--collect`,
/// `--slurm` and `--resubmit-failed` only read the sweep's definition and its records, so
/// `what` (training, unlearning, evaluating, writing results) before the `sweep()` call is an
/// error there, before it starts (after it, only `--collect` goes on, to save its table).
pub fn experiment_work(c: &NativeCallContext, what: &str) -> RhaiResult<()> {
    let ctx = ctx(c)?;
    // `--collect` returns the table from sweep(): what the script does with it afterwards (save
    // it, plot it) is its job
    let collected = matches!(ctx.sweep.action, crate::sweep::Action::Collect { .. }) && ctx.sweep_called.get();
    if !ctx.sweep.action.runs_points() && !collected {
        let action = ctx.sweep.action.flag();
        return Err(rt(format!(
            "{what} is experiment work, which `unlearn sweep {action}` never runs: call it inside the sweep's point function (or run the script without {action})"
        )));
    }
    Ok(())
}

/// Whether the script calls the function `name` anywhere (its top level, its functions and
/// closures), as a plain call or a method call; `None` when it cannot be told because the
/// script imports modules (the call may be in one).
pub fn calls_function(ast: &rhai::AST, name: &str) -> Option<bool> {
    let mut found = false;
    let mut imports = false;
    ast.walk(&mut |path: &[rhai::ASTNode]| {
        use rhai::{ASTNode, Expr, Stmt};
        let call = match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(f, _) | Expr::MethodCall(f, _))) => Some(f),
            // a call that is a whole statement
            Some(ASTNode::Stmt(Stmt::FnCall(f, _))) => Some(f),
            _ => None,
        };
        found |= call.is_some_and(|f| f.name == name);
        imports |= matches!(path.last(), Some(ASTNode::Stmt(Stmt::Import(..))));
        !found
    });
    if found {
        Some(true)
    } else if imports {
        None
    } else {
        Some(false)
    }
}

/// The run context of the script calling a native function.
pub fn ctx(c: &NativeCallContext) -> RhaiResult<Rc<RunContext>> {
    c.tag()
        .and_then(|t| t.clone().try_cast::<Rc<RunContext>>())
        .ok_or_else(|| rt("internal error: the engine has no run context"))
}

/// Rejects a result name that is not a plain file name (`func` names the caller in the message).
pub fn plain_file_name(func: &str, name: &str) -> RhaiResult<()> {
    if name.is_empty() || name.contains(['/', '\\']) || name == ".." {
        return Err(rt(format!("{func}: name `{name}` must be a plain file name without folders")));
    }
    Ok(())
}

/// The file a script's `path` names, if the run may use it for `purpose` ("dataset",
/// "checkpoint", ...): the error names the path and the allowed folders. Use the returned path,
/// not the script's text: it keeps a non-UTF-8 output folder's bytes (see
/// [`RunContext::script_path`]).
pub fn allowed(c: &NativeCallContext, path: &str, purpose: &str) -> RhaiResult<PathBuf> {
    let ctx = ctx(c)?;
    ctx.paths.check(&ctx.script_path(path), purpose).map_err(rt)
}

/// [`allowed`] for a path the binding made itself.
pub fn allowed_path(c: &NativeCallContext, path: &Path, purpose: &str) -> RhaiResult<PathBuf> {
    ctx(c)?.paths.check(path, purpose).map_err(rt)
}

/// An engine with every binding registered, the stdlib resolver (then `script_dir`), and `ctx`.
pub fn engine(ctx: Rc<RunContext>, script_dir: Option<&Path>) -> Engine {
    let mut engine = Engine::new();
    // limits that keep a runaway script from taking the machine down (debug builds of rhai
    // default to a call depth of 8, too low for real scripts)
    ctx.limits.apply(&mut engine);
    if ctx.limits.timeout.is_some() {
        // between script operations; long native calls check the same deadline themselves
        engine.on_progress(|_| crate::runtime::check_deadline().err().map(|e| Dynamic::from(e.to_string())));
    }
    engine.set_strict_variables(true);
    engine.on_print(|s| crate::outln!("{s}"));
    engine.on_debug(|s, src, pos| {
        crate::errln!("[debug] {}{pos:?}: {s}", src.map(|s| format!("{s} ")).unwrap_or_default())
    });
    engine.set_module_resolver(stdlib::resolver(script_dir, &ctx.paths));
    // every engine of a thread (a run's, a notebook cell's, a check's) shares one built package
    thread_local! {
        static PACKAGE: ScriptPackage = ScriptPackage::new();
    }
    PACKAGE.with(|p| {
        p.register_into_engine(&mut engine);
    });
    engine.set_default_tag(Dynamic::from(ctx));
    engine
}

/// A binding module's rhai package: its exported functions (`combine_with_exported_module!`) and
/// the types it builds with a TypeBuilder (or names), and its `register(engine)`.
macro_rules! binding_package {
    ($(#[$doc:meta])* $package:ident, $name:literal, $module:ident, [$($ty:ty),*]) => {
        rhai::def_package! {
            $(#[$doc])*
            pub $package(module) {
                rhai::plugin::combine_with_exported_module!(module, $name, $module);
            } |> |engine| {
                $( engine.build_type::<$ty>(); )*
            }
        }

        /// Registers this module's functions and types into `engine`.
        pub fn register(engine: &mut rhai::Engine) {
            use rhai::packages::Package;
            $package::new().register_into_engine(engine);
        }
    };
}
pub(crate) use binding_package;

rhai::def_package! {
    /// Every script function and type of unlearn: the domains' packages together.
    pub ScriptPackage(module):
        data::DataPackage,
        condense::CondensePackage,
        models::ModelsPackage,
        metrics::MetricsPackage,
        evaluation::EvaluationPackage,
        plots::PlotsPackage,
        request::RequestPackage,
        runtime::RuntimePackage,
        unlearn::UnlearnPackage,
        sweep::SweepPackage
    {}
}

/// An engine for listing and compiling only (CPU context, nothing runs).
pub fn offline_engine(script_dir: Option<&Path>) -> Engine {
    let ctx = RunContext::new("", Device::Cpu, 0, PathBuf::from("results"), BTreeMap::new());
    engine(Rc::new(ctx), script_dir)
}

/// Reads a script file; the error names the file.
pub fn read_script(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("error: cannot read script {}: {e}", path.display()))
}

/// Compiles a cell against the variables of `scope` (notebooks: strict variables see them).
pub fn check_with_scope(engine: &Engine, scope: &rhai::Scope, name: &str, source: &str) -> Result<rhai::AST, String> {
    engine.compile_with_scope(scope, source).map_err(|e| render_parse_error(&e, name, source))
}

/// Compiles a script without running it; the error is rendered with file, line and caret.
pub fn check(engine: &Engine, name: &str, source: &str) -> Result<rhai::AST, String> {
    engine.compile(source).map_err(|e| render_parse_error(&e, name, source))
}

/// What `sweep()` returns to end a script whose sweep action is done (`--plan`, `--slurm`,
/// `--point I`, ...): the code after the sweep is for its results, which these actions have not.
pub const SWEEP_DONE: &str = "unlearn: sweep action done";

/// The error that ends a script after its sweep action (see [`SWEEP_DONE`]).
pub fn sweep_done() -> Box<EvalAltResult> {
    EvalAltResult::ErrorTerminated(Dynamic::from(SWEEP_DONE), Position::NONE).into()
}

/// Compiles and runs a script; the error is rendered with file, line and caret.
pub fn run(engine: &Engine, name: &str, source: &str) -> Result<(), String> {
    run_compiled(engine, check(engine, name, source)?, name, source)
}

/// Runs a script compiled by [`check`] with `engine`; the error is rendered as [`run`]'s.
pub fn run_compiled(engine: &Engine, mut ast: rhai::AST, name: &str, source: &str) -> Result<(), String> {
    ast.set_source(name.to_string());
    match engine.run_ast(&ast) {
        Err(e) if matches!(&*e, EvalAltResult::ErrorTerminated(t, _) if t.clone().into_string().is_ok_and(|s| s == SWEEP_DONE)) => {
            Ok(())
        }
        r => r.map_err(|e| render_eval_error(&e, name, source)),
    }
}

fn render_parse_error(e: &ParseError, name: &str, source: &str) -> String {
    let msg = e.err_type().to_string();
    render_at(&format!("syntax error: {msg}"), name, source, e.position())
}

/// `error: msg` then `--> file:line:col`, the source line and a caret under the column.
pub fn render_at(msg: &str, name: &str, source: &str, pos: Position) -> String {
    let mut out = format!("error: {msg}\n");
    let (Some(line), Some(col)) = (pos.line(), pos.position().or(Some(1))) else {
        out.push_str(&format!("  --> {name}\n"));
        return out;
    };
    let text = source.lines().nth(line - 1).unwrap_or("");
    let width = line.to_string().len();
    let pad = " ".repeat(width);
    out.push_str(&format!("{pad}--> {name}:{line}:{col}\n"));
    out.push_str(&format!("{pad} |\n{line} | {text}\n{pad} | {}^\n", " ".repeat(col.saturating_sub(1))));
    out
}

/// The source text for a module name that an error refers to.
fn source_of(name: &str, main_name: &str, main_source: &str) -> Option<String> {
    if name.is_empty() || name == main_name {
        return Some(main_source.to_string());
    }
    if let Some(stdlib) = name.strip_prefix("stdlib/").and_then(|n| n.strip_suffix(".rhai")) {
        return stdlib::MODULES.iter().find(|(n, _)| *n == stdlib).map(|(_, s)| s.to_string());
    }
    std::fs::read_to_string(name).ok()
}

/// Renders a runtime error at its innermost located position, with the call chain as notes.
pub fn render_eval_error(err: &EvalAltResult, name: &str, source: &str) -> String {
    // (description, source name, position) from the outermost call to the innermost
    let mut frames: Vec<(String, String, Position)> = Vec::new();
    let mut current_src = name.to_string();
    let mut e = err;
    loop {
        match e {
            EvalAltResult::ErrorInFunctionCall(f, src, inner, pos) => {
                frames.push((format!("in call to `{f}`"), current_src.clone(), *pos));
                if !src.is_empty() {
                    current_src = src.clone();
                }
                e = inner;
            }
            EvalAltResult::ErrorInModule(m, inner, pos) => {
                frames.push((format!("in module `{m}`"), current_src.clone(), *pos));
                current_src = m.clone();
                e = inner;
            }
            _ => break,
        }
    }
    let msg = match e {
        EvalAltResult::ErrorRuntime(v, _) => v.to_string(),
        EvalAltResult::ErrorTerminated(v, _) => v.to_string(),
        other => {
            let text = other.to_string();
            let suffix = format!(" ({})", other.position());
            text.strip_suffix(&suffix).map(str::to_string).unwrap_or(text)
        }
    };
    let mut pos = e.position();
    let mut at = current_src.clone();
    let mut notes = frames.clone();
    if pos.is_none() {
        // fall back to the innermost frame with a position
        if let Some((_, src, p)) = notes.pop() {
            at = src;
            pos = p;
        }
    }
    let text = source_of(&at, name, source).unwrap_or_default();
    let mut out = render_at(&msg, &at, &text, pos);
    for (what, src, p) in notes.iter().rev() {
        if let Some(line) = p.line() {
            out.push_str(&format!("note: {what} at {src}:{line}:{}\n", p.position().unwrap_or(1)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_to_a_function_are_found_wherever_they_are() {
        let engine = Engine::new();
        let found = |src: &str| calls_function(&engine.compile(src).unwrap(), "sweep").unwrap();
        assert!(found("sweep(#{}, |p| p);"), "a statement");
        assert!(found("let t = sweep(#{}, |p| p);"), "an expression");
        assert!(found("if true { print(sweep(1, 2)); }"), "nested");
        assert!(found("fn run_it() { sweep(1, 2) }\nrun_it();"), "in a function");
        assert!(found("let f = || sweep(1, 2);"), "in a closure");
        assert!(found("let x = #{}; x.sweep(1);"), "a method call");
        assert!(!found("let sweep_out = 1;\nprint(\"sweep(\");\nsweeps(1);"), "names and text that only look like it");
        // the call may be in an imported module: cannot tell
        assert_eq!(calls_function(&engine.compile("import \"ex\" as ex;\nex::run_it(1);").unwrap(), "sweep"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_non_utf8_output_folder_is_mapped_back_from_script_text() {
        use std::os::unix::ffi::OsStrExt;
        let out = PathBuf::from(std::ffi::OsStr::from_bytes(b"/tmp/r\xffs"));
        let ctx = RunContext::new("s", Device::Cpu, 0, out.clone(), BTreeMap::new());
        let shown = out.display().to_string();
        assert!(shown.contains('\u{FFFD}'));
        assert_eq!(ctx.script_path(&shown), out);
        assert_eq!(ctx.script_path(&format!("{shown}/a/b.json")), out.join("a/b.json"));
        // other texts are taken as they are, also look-alikes that only share the start
        assert_eq!(ctx.script_path(&format!("{shown}x/b.json")), PathBuf::from(format!("{shown}x/b.json")));
        assert_eq!(ctx.script_path("data/x"), PathBuf::from("data/x"));
        // a point's folder inside it too
        ctx.set_out_dir(out.join("seed=1"));
        assert_eq!(ctx.script_path(&format!("{shown}/seed=1/r.json")), out.join("seed=1/r.json"));
    }
}
