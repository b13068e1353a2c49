//! The `unlearn` command line: run or check a script, list the script API, print versions.
use clap::{Parser, Subcommand};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use unlearn::runtime::{parse_device, Versions};
use unlearn::script::policy::{Limits, PathPolicy};
use unlearn::script::{self, RunContext};

#[derive(Parser)]
#[command(
    name = "unlearn",
    about = "Fast, scriptable, measurable machine unlearning of image classifiers",
    disable_version_flag = true
)]
struct Cli {
    /// Print the versions of unlearn, tch and libtorch, and CUDA/cuDNN availability.
    #[arg(short = 'V', long = "version")]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

// parsed once per process: the size of the bench variant does not matter
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run a script.
    Run {
        /// The .rhai script.
        script: PathBuf,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Run a script's sweep (`sweep(#{ grid: ... }, |point| ...)`): every point that is not
    /// complete, here (N at a time with --jobs) or as a Slurm job array (--slurm); or plan,
    /// report and collect it.
    Sweep {
        /// The .rhai script that defines the sweep.
        script: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        /// Print the points and their output folders; run nothing.
        #[arg(long, group = "action")]
        plan: bool,
        /// Submit the points that are neither complete nor queued as a Slurm job array.
        #[arg(long, group = "action")]
        slurm: bool,
        /// Print where every point stands: complete, queued, running, failed (with its log).
        #[arg(long, group = "action")]
        status: bool,
        /// Gather the finished points into one table (mean and 95 % confidence interval).
        #[arg(long, group = "action")]
        collect: bool,
        /// Resubmit to Slurm only the points that failed.
        #[arg(long, group = "action")]
        resubmit_failed: bool,
        /// Run only point I (what a Slurm array task or a local child process runs).
        #[arg(long, group = "action", value_name = "I")]
        point: Option<usize>,
        /// Run this many points at a time, each in its own process (local executor).
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// With --collect: summarise the finished points even when some are missing.
        #[arg(long)]
        allow_partial: bool,
        #[command(flatten)]
        slurm_opts: SlurmArgs,
    },
    /// Time every phase of the pipeline on the CIFAR-shaped synthetic workload described in
    /// docs/benchmark.md (scaled down on the CPU unless sizes are given); writes bench.json,
    /// bench.txt and the scaling plots.
    Bench {
        /// auto (CUDA if available), cpu, cuda or cuda:N.
        #[arg(long, default_value = "auto")]
        device: String,
        /// Training images (default: 50000 on CUDA, 1000 on the CPU).
        #[arg(long)]
        train: Option<usize>,
        /// Test images (default: 10000 on CUDA, 500 on the CPU).
        #[arg(long)]
        test: Option<usize>,
        /// Blend clusters per class (default: 1000 on CUDA, 10 on the CPU).
        #[arg(long)]
        ipc: Option<usize>,
        /// The model: resnet18 (default on CUDA) or convnet3 (default on the CPU, width 32).
        #[arg(long)]
        arch: Option<String>,
        /// ConvNet width.
        #[arg(long)]
        width: Option<i64>,
        /// Run the untimed warm-up (default on CUDA).
        #[arg(long, conflicts_with = "no_warmup")]
        warmup: bool,
        /// Phases, comma-separated, from: blend, a_cf, a_cf_fused, a_cf_full, finetune, retrain, mia.
        #[arg(long, value_delimiter = ',')]
        phases: Option<Vec<String>>,
        /// Training-set sizes of the scaling sweep (at fixed ipc), comma-separated; "none" for no sweep.
        #[arg(long)]
        sweep_train: Option<String>,
        /// ipc values of the scaling sweep (at fixed training-set size); "none" for no sweep.
        #[arg(long)]
        sweep_ipc: Option<String>,
        /// A-CF steps timed per sweep point.
        #[arg(long)]
        sweep_acf_steps: Option<usize>,
        /// Skip the untimed warm-up run.
        #[arg(long)]
        no_warmup: bool,
        /// Let cuDNN pick convolution algorithms by timing them.
        #[arg(long)]
        cudnn_benchmark: bool,
        /// Compute of the unlearned model: fp32, bf16, cl (channels-last) or bf16+cl.
        #[arg(long, default_value = "fp32")]
        compute: String,
        /// A-CF compute variants to time first (comma-separated, as --compute takes them).
        #[arg(long, value_delimiter = ',')]
        acf_variants: Vec<String>,
        /// Steps timed per A-CF variant.
        #[arg(long, default_value_t = 100)]
        variant_steps: usize,
        /// Run the main phases with the fastest A-CF variant.
        #[arg(long)]
        use_fastest: bool,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Only redraw the sweep plots of a saved bench.json into --out.
        #[arg(long, value_name = "BENCH_JSON")]
        replot: Option<PathBuf>,
        /// Output folder.
        #[arg(long, default_value = "results/bench")]
        out: PathBuf,
    },
    /// Compile a script and check it without running it: syntax, unknown functions (with the
    /// closest name), imports of missing modules, unknown keys in option maps written in a call.
    Check { script: PathBuf },
    /// List what scripts can call, grouped by domain: every function with its script-level
    /// signature and what it does, the stdlib's `ex::` functions, every unlearning method with
    /// its options and defaults, the hyper-parameter profiles and the condensers.
    Functions {
        /// Only what mentions WORD (in its name, signature, group or description), e.g. `train`.
        word: Option<String>,
        /// The same catalogue as JSON.
        #[arg(long)]
        json: bool,
        /// Write rhai definition files (.d.rhai) into DIR for the rhai language server and editor
        /// extensions (completion and checks while writing scripts).
        #[arg(long, value_name = "DIR")]
        definitions: Option<PathBuf>,
    },
}

/// What `run` and `sweep` share: device, seed, options, output folder and the run's limits.
#[derive(clap::Args, Clone)]
struct RunArgs {
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
    threads: Option<i32>,
    /// Repeatable CUDA runs: cuDNN off (much slower convolutions).
    #[arg(long)]
    deterministic: bool,
    /// Replace saved results made under another configuration (sweep points, multi-round steps,
    /// single-round seeds: other script, --set options, --seed, compute) instead of stopping.
    #[arg(long)]
    overwrite: bool,
}

impl RunArgs {
    /// The arguments that make a child process or Slurm task run `script` the same way (paths
    /// made absolute: a task may start elsewhere), without --threads.
    fn child_args(&self, script: &Path) -> Vec<std::ffi::OsString> {
        let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).into_os_string();
        let mut a: Vec<std::ffi::OsString> =
            vec!["sweep".into(), abs(script), "--device".into(), self.device.clone().into()];
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

/// What a Slurm submission asks for (`--slurm`, `--resubmit-failed`).
#[derive(clap::Args, Clone, Default)]
struct SlurmArgs {
    /// Slurm partition.
    #[arg(long)]
    partition: Option<String>,
    /// GPUs per array task.
    #[arg(long)]
    gpus_per_task: Option<u32>,
    /// CPUs per array task (also the task's libtorch threads unless --threads is given).
    #[arg(long)]
    cpus_per_task: Option<u32>,
    /// Time limit per task, as sbatch takes it (e.g. 02:00:00).
    #[arg(long)]
    time: Option<String>,
    /// Memory per task, as sbatch takes it (e.g. 16G).
    #[arg(long)]
    mem: Option<String>,
    /// At most this many tasks of the array at once.
    #[arg(long)]
    max_parallel: Option<u32>,
    /// At most this many tasks per job array (the cluster's MaxArraySize; default 1000); more
    /// points are submitted as several arrays.
    #[arg(long)]
    max_array_size: Option<u32>,
    /// Another #SBATCH argument, e.g. --sbatch-arg=--account=proj. Repeatable.
    #[arg(long = "sbatch-arg", value_name = "ARG", allow_hyphen_values = true)]
    sbatch_args: Vec<String>,
    /// Write the batch script without submitting it.
    #[arg(long)]
    dry_run: bool,
}

impl SlurmArgs {
    /// Whether any Slurm option was given.
    fn given(&self) -> bool {
        let o = self.options();
        o != unlearn::sweep::slurm::SlurmOptions::default()
    }

    fn options(&self) -> unlearn::sweep::slurm::SlurmOptions {
        unlearn::sweep::slurm::SlurmOptions {
            partition: self.partition.clone(),
            gpus_per_task: self.gpus_per_task,
            cpus_per_task: self.cpus_per_task,
            time: self.time.clone(),
            mem: self.mem.clone(),
            max_parallel: self.max_parallel,
            max_array_size: self.max_array_size,
            extra: self.sbatch_args.clone(),
            dry_run: self.dry_run,
        }
    }
}

/// Sets up and runs `script` with `args`; `sweep` says how a sweep in it executes, and a sweep
/// action other than a plain run needs a script that calls `sweep()` (checked before anything
/// runs). Holds the output folder's lock for the run when the action writes there. Returns the
/// run's context (to ask what the script did).
fn run_script(script: &Path, args: &RunArgs, sweep: unlearn::sweep::Exec) -> Result<Rc<RunContext>, String> {
    let options = parse_sets(&args.set)?;
    let device = parse_device(&args.device).map_err(|e| format!("error: --device: {e}"))?;
    let source = script::read_script(script)?;
    let out = args.out_or_default(script);
    let name = script.display().to_string();
    let mut run_limits = Limits::default();
    for l in &args.limits {
        run_limits.set(l).map_err(|e| format!("error: {e}"))?;
    }
    if let Some(t) = args.timeout {
        if !(t.is_finite() && t > 0.0) {
            return Err(format!("error: --timeout {t}: expected a positive number of seconds"));
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
            return Err(format!("error: --threads {n}: expected at least 1"));
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
    ctx.compute = std::collections::BTreeMap::from([
        ("--device".to_string(), args.device.clone().into()),
        ("--deterministic".to_string(), args.deterministic.into()),
    ]);
    ctx.overwrite = args.overwrite;
    let ctx = Rc::new(ctx);
    let engine = script::engine(ctx.clone(), script_dir(script));
    // syntax errors before anything is created; `unlearn sweep` on a script without a sweep
    // would otherwise run it whole before finding out
    let ast = script::check(&engine, &name, &source)?;
    // unknown functions, missing modules and unknown option keys: in a second, not minutes in
    script::lint::lint(&engine, &name, &source, script_dir(script))?;
    if !ctx.sweep.point_args.is_empty() && script::calls_function(&ast, "sweep") == Some(false) {
        return Err(no_sweep(script, ctx.sweep.action.flag()));
    }
    let _lock = if ctx.sweep.action.writes_output() {
        Some(unlearn::io::OutputLock::acquire(&ctx.out_dir(), &command_line()).map_err(|e| format!("error: {e}"))?)
    } else {
        None
    };
    script::run_compiled(&engine, ast, &name, &source)?;
    for k in ctx.unused_options() {
        unlearn::errln!("warning: --set {k}=... was never read by {name}");
    }
    Ok(ctx)
}

/// This process's command line, for the output folder's lock (shown to a run that finds it taken).
fn command_line() -> String {
    let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    format!("unlearn {}", args.get(1..).unwrap_or_default().join(" "))
}

/// The error for `unlearn sweep` on a script that defines no sweep.
fn no_sweep(script: &Path, flag: &str) -> String {
    let flag = if flag.is_empty() { String::new() } else { format!(" {flag}") };
    format!(
        "error: {} defines no sweep, so `unlearn sweep{flag}` has nothing to act on (nothing was run): call sweep(#{{ grid: #{{ seed: [1, 2, 3] }} }}, |point| {{ ... }}) in it, or run it with `unlearn run`",
        script.display()
    )
}

fn parse_sets(sets: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for s in sets {
        let Some((k, v)) = s.split_once('=') else {
            return Err(format!("error: --set {s}: expected KEY=VALUE"));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("error: --set {s}: the key is empty"));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

fn script_dir(path: &Path) -> Option<&Path> {
    path.parent().filter(|p| !p.as_os_str().is_empty())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        unlearn::outln!("{}", Versions::current().describe());
        return ExitCode::SUCCESS;
    }
    let Some(command) = cli.command else {
        unlearn::errln!("error: no command given; try `unlearn --help`");
        return ExitCode::from(2);
    };
    let result = match command {
        Command::Run { script, run } => run_script(&script, &run, unlearn::sweep::Exec::in_process()).map(|_| ()),
        Command::Sweep {
            script,
            run,
            plan,
            slurm,
            status,
            collect,
            resubmit_failed,
            point,
            jobs,
            allow_partial,
            slurm_opts,
        } => (|| -> Result<(), String> {
            use unlearn::sweep::{Action, Exec};
            // options that only one action reads are an error elsewhere, not silently dropped
            // (a forgotten --slurm must not run the whole sweep on a login node)
            let submits = slurm || resubmit_failed;
            if !submits && slurm_opts.given() {
                return Err("error: Slurm options (--partition, --time, ...) need --slurm or --resubmit-failed".into());
            }
            let runs = !(plan || slurm || status || collect || resubmit_failed || point.is_some());
            if jobs != 1 && !runs {
                return Err("error: --jobs runs points locally; it does not go with --plan, --slurm, --status, --collect, --resubmit-failed or --point".into());
            }
            if allow_partial && !collect {
                return Err("error: --allow-partial goes with --collect".into());
            }
            if run.overwrite && !(runs || slurm || point.is_some()) {
                return Err("error: --overwrite goes with a local run, --point or --slurm".into());
            }
            let action = if plan {
                Action::Plan
            } else if slurm {
                Action::Slurm(slurm_opts.options())
            } else if status {
                Action::Status
            } else if collect {
                Action::Collect { allow_partial }
            } else if resubmit_failed {
                Action::ResubmitFailed(slurm_opts.options())
            } else if let Some(i) = point {
                Action::Point(i)
            } else {
                if jobs == 0 {
                    return Err("error: --jobs 0: expected at least 1".into());
                }
                Action::Run { jobs }
            };
            let exe = std::env::current_exe().map_err(|e| format!("error: cannot find the unlearn binary: {e}"))?;
            let exec = Exec {
                action,
                exe,
                point_args: run.child_args(&script),
                threads: run.threads,
                overwrite: run.overwrite,
            };
            let ctx = run_script(&script, &run, exec)?;
            if !ctx.sweep_called.get() {
                return Err(no_sweep(&script, ""));
            }
            Ok(())
        })(),
        Command::Bench {
            device,
            train,
            test,
            ipc,
            arch,
            width,
            warmup,
            phases,
            sweep_train,
            sweep_ipc,
            sweep_acf_steps,
            no_warmup,
            cudnn_benchmark,
            compute,
            acf_variants,
            variant_steps,
            use_fastest,
            seed,
            replot,
            out,
        } => (|| -> Result<(), String> {
            use unlearn::bench::{self, BenchConfig};
            let _lock = unlearn::io::OutputLock::acquire(&out, &command_line()).map_err(|e| format!("error: {e}"))?;
            if let Some(json) = replot {
                for p in bench::replot(&json, &out).map_err(|e| format!("error: bench --replot: {e}"))? {
                    unlearn::outln!("wrote {}", p.display());
                }
                return Ok(());
            }
            let device = parse_device(&device).map_err(|e| format!("error: --device: {e}"))?;
            let mut cfg = if device.is_cuda() { BenchConfig::full() } else { BenchConfig::cpu() };
            let sizes = |flag: &str, v: &str| -> Result<Vec<usize>, String> {
                if v == "none" {
                    return Ok(Vec::new());
                }
                v.split(',')
                    .map(|s| {
                        s.trim()
                            .parse::<usize>()
                            .map_err(|_| format!("error: --{flag} {v}: expected numbers separated by commas, or none"))
                    })
                    .collect()
            };
            cfg.train = train.unwrap_or(cfg.train);
            cfg.test = test.unwrap_or(cfg.test);
            cfg.ipc = ipc.unwrap_or(cfg.ipc);
            if let Some(p) = phases {
                cfg.phases = p;
            }
            if let Some(v) = sweep_train {
                cfg.sweep_train = sizes("sweep-train", &v)?;
            }
            if let Some(v) = sweep_ipc {
                cfg.sweep_ipc = sizes("sweep-ipc", &v)?;
            }
            cfg.sweep_acf_steps = sweep_acf_steps.unwrap_or(cfg.sweep_acf_steps);
            cfg.arch = arch.unwrap_or(cfg.arch);
            cfg.width = width.unwrap_or(cfg.width);
            cfg.warmup = (cfg.warmup || warmup) && !no_warmup;
            cfg.cudnn_benchmark = cudnn_benchmark;
            cfg.compute = unlearn::models::Compute::parse(&compute).map_err(|e| format!("error: --compute: {e}"))?;
            cfg.acf_variants = acf_variants;
            cfg.variant_steps = variant_steps.max(1);
            cfg.use_fastest = use_fastest;
            cfg.seed = seed;
            unlearn::runtime::seed_everything(seed);
            let report =
                bench::run(&cfg, device, |line| unlearn::errln!("{line}")).map_err(|e| format!("error: bench: {e}"))?;
            unlearn::out!("{}", report.to_text());
            let written = report.save(&out).map_err(|e| format!("error: bench: {e}"))?;
            for p in written {
                unlearn::outln!("wrote {}", p.display());
            }
            Ok(())
        })(),
        Command::Check { script } => (|| -> Result<(), String> {
            let source = script::read_script(&script)?;
            let engine = script::offline_engine(script_dir(&script));
            let name = script.display().to_string();
            script::check(&engine, &name, &source)?;
            script::lint::lint(&engine, &name, &source, script_dir(&script))?;
            unlearn::outln!("{}: ok", script.display());
            Ok(())
        })(),
        Command::Functions { word, json, definitions } => (|| -> Result<(), String> {
            if let Some(dir) = definitions {
                let engine = script::offline_engine(None);
                let files = script::functions::write_definitions(&engine, &dir)
                    .map_err(|e| format!("error: cannot write definitions to {}: {e}", dir.display()))?;
                unlearn::outln!("wrote {} definition files to {}", files.len(), dir.display());
                return Ok(());
            }
            if json {
                let v = script::functions::catalogue_json(word.as_deref());
                unlearn::outln!("{}", serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?);
            } else {
                unlearn::out!("{}", script::functions::listing(word.as_deref()));
            }
            Ok(())
        })(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            unlearn::err!("{msg}");
            if !msg.ends_with('\n') {
                unlearn::errln!();
            }
            ExitCode::FAILURE
        }
    }
}
