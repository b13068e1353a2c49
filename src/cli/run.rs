//! `unlearn run`: set up a script's run (device, seed, `--set` options, output folder, limits,
//! the folders its paths may name) and run it. `unlearn sweep` runs its scripts the same way.
use super::{command_line, rendered, script_dir};
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use unlearn::runtime::parse_device;
use unlearn::script::policy::{Limits, PathPolicy};
use unlearn::script::{self, RunContext};
use unlearn::sweep::Exec;

/// `unlearn run SCRIPT`.
#[derive(clap::Args)]
pub struct RunCmd {
    /// The .rhai script.
    script: PathBuf,
    #[command(flatten)]
    run: RunArgs,
}

impl RunCmd {
    pub fn run(self) -> anyhow::Result<()> {
        run_script(&self.script, &self.run, Exec::in_process()).map(|_| ())
    }
}

/// What `run` and `sweep` share: device, seed, options, output folder and the run's limits.
#[derive(clap::Args, Clone)]
pub struct RunArgs {
    /// auto (CUDA if available), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Seed of every random choice that has no seed of its own.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// key=value, read by the script with option("key", default). Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Output folder (default: results/<script name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Stop the run after this many seconds (at the next check: between script operations,
    /// every few training steps, every Blend iteration); files already written stay complete.
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,
    /// A script limit, NAME=VALUE: operations (1e9), call_depth (64), expr_depth (128),
    /// string_size (64 MiB), array_size (1e7), map_size (1e6); 0: no limit. Repeatable.
    #[arg(long = "limit", value_name = "NAME=VALUE")]
    limits: Vec<String>,
    /// Another folder the script's file paths may name (besides the working directory, the
    /// output folder and the script's folder). Repeatable.
    #[arg(long = "allow", value_name = "DIR")]
    allow: Vec<PathBuf>,
    /// Let the script's file paths name any folder.
    #[arg(long)]
    allow_any_path: bool,
    /// CPU threads of libtorch (a run repeats bit for bit with the same seed and threads).
    #[arg(long)]
    pub threads: Option<i32>,
    /// Repeatable CUDA runs: cuDNN off (much slower convolutions).
    #[arg(long)]
    deterministic: bool,
    /// Replace saved results made under another configuration (sweep points, multi-round steps,
    /// single-round seeds: other script, --set options, --seed, compute) instead of stopping.
    #[arg(long)]
    pub overwrite: bool,
}

impl RunArgs {
    /// The arguments that make a child process or Slurm task run `script` the same way (paths
    /// made absolute: a task may start elsewhere), without --threads.
    pub fn child_args(&self, script: &Path) -> Vec<OsString> {
        let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).into_os_string();
        let mut a: Vec<OsString> = vec!["sweep".into(), abs(script), "--device".into(), self.device.clone().into()];
        a.extend(["--seed".into(), self.seed.to_string().into()]);
        a.extend(["--out".into(), abs(&self.out_or_default(script))]);
        for s in &self.set {
            a.extend(["--set".into(), s.into()]);
        }
        if let Some(t) = self.timeout {
            a.extend(["--timeout".into(), t.to_string().into()]);
        }
        for l in &self.limits {
            a.extend(["--limit".into(), l.into()]);
        }
        for d in &self.allow {
            a.extend(["--allow".into(), abs(d)]);
        }
        if self.allow_any_path {
            a.push("--allow-any-path".into());
        }
        if self.deterministic {
            a.push("--deterministic".into());
        }
        if self.overwrite {
            a.push("--overwrite".into());
        }
        a
    }

    fn out_or_default(&self, script: &Path) -> PathBuf {
        self.out.clone().unwrap_or_else(|| {
            let stem = script.file_stem().map(|s| s.to_os_string()).unwrap_or_else(|| "run".into());
            PathBuf::from("results").join(stem)
        })
    }
}

/// Sets up and runs `script` with `args`; `sweep` says how a sweep in it executes, and a sweep
/// action other than a plain run needs a script that calls `sweep()` (checked before anything
/// runs). Holds the output folder's lock for the run when the action writes there. Returns the
/// run's context (to ask what the script did).
pub fn run_script(script: &Path, args: &RunArgs, sweep: Exec) -> anyhow::Result<Rc<RunContext>> {
    let options = parse_sets(&args.set)?;
    let device = parse_device(&args.device).context("--device")?;
    let source = script::read_script(script).map_err(rendered)?;
    let out = args.out_or_default(script);
    let name = script.display().to_string();
    let mut run_limits = Limits::default();
    for l in &args.limits {
        run_limits.set(l).map_err(anyhow::Error::msg)?;
    }
    if let Some(t) = args.timeout {
        if !(t.is_finite() && t > 0.0) {
            bail!("--timeout {t}: expected a positive number of seconds");
        }
        run_limits.timeout = Some(std::time::Duration::from_secs_f64(t));
    }
    let paths = if args.allow_any_path {
        PathPolicy::anywhere()
    } else {
        let mut roots = vec![PathBuf::from("."), out.clone()];
        roots.extend(script_dir(script).map(Path::to_path_buf));
        roots.extend(args.allow.iter().cloned());
        PathPolicy::under(&roots)
    };
    if let Some(n) = args.threads {
        if n < 1 {
            bail!("--threads {n}: expected at least 1");
        }
        tch::set_num_threads(n);
    }
    // libtorch's own generators too, for anything that draws from them
    unlearn::runtime::seed_everything(args.seed);
    unlearn::runtime::set_deterministic(args.deterministic);
    unlearn::runtime::set_deadline(run_limits.timeout);
    let mut ctx =
        RunContext::new(&name, device, args.seed, out, options).with_policy(paths, run_limits).with_sweep(sweep);
    // the compute flags as asked (a Slurm task resolves `auto` on its own node)
    ctx.compute = BTreeMap::from([
        ("--device".to_string(), args.device.clone().into()),
        ("--deterministic".to_string(), args.deterministic.into()),
    ]);
    ctx.overwrite = args.overwrite;
    let ctx = Rc::new(ctx);
    let engine = script::engine(ctx.clone(), script_dir(script));
    // syntax errors before anything is created; `unlearn sweep` on a script without a sweep
    // would otherwise run it whole before finding out
    let ast = script::check(&engine, &name, &source).map_err(rendered)?;
    // unknown functions, missing modules and unknown option keys: in a second, not minutes in
    script::lint::lint(&engine, &name, &source, script_dir(script)).map_err(rendered)?;
    if !ctx.sweep.point_args.is_empty() && script::calls_function(&ast, "sweep") == Some(false) {
        return Err(super::sweep::no_sweep(script, ctx.sweep.action.flag()));
    }
    let _lock = if ctx.sweep.action.writes_output() {
        Some(unlearn::io::OutputLock::acquire(&ctx.out_dir(), &command_line())?)
    } else {
        None
    };
    script::run_compiled(&engine, ast, &name, &source).map_err(rendered)?;
    for k in ctx.unused_options() {
        unlearn::errln!("warning: --set {k}=... was never read by {name}");
    }
    Ok(ctx)
}

/// The `--set KEY=VALUE` options, by key (a later one replaces an earlier).
fn parse_sets(sets: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for s in sets {
        let Some((k, v)) = s.split_once('=') else {
            bail!("--set {s}: expected KEY=VALUE");
        };
        let k = k.trim();
        if k.is_empty() {
            bail!("--set {s}: the key is empty");
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}
