//! `unlearn sweep`: run a script's sweep here (N points at a time) or as a Slurm job array, or
//! plan, report, collect or resubmit it. Which action runs is one flag; options that only another
//! action reads are an error, not silently dropped.
use super::run::{run_script, RunArgs};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use unlearn::sweep::slurm::SlurmOptions;
use unlearn::sweep::{Action, Exec};

/// `unlearn sweep SCRIPT`.
#[derive(clap::Args)]
pub struct SweepCmd {
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
}

impl SweepCmd {
    pub fn run(self) -> anyhow::Result<()> {
        let SweepCmd {
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
        } = self;
        // options that only one action reads are an error elsewhere, not silently dropped
        // (a forgotten --slurm must not run the whole sweep on a login node)
        let submits = slurm || resubmit_failed;
        if !submits && slurm_opts.given() {
            bail!("Slurm options (--partition, --time, ...) need --slurm or --resubmit-failed");
        }
        let runs = !(plan || slurm || status || collect || resubmit_failed || point.is_some());
        if jobs != 1 && !runs {
            bail!("--jobs runs points locally; it does not go with --plan, --slurm, --status, --collect, --resubmit-failed or --point");
        }
        if allow_partial && !collect {
            bail!("--allow-partial goes with --collect");
        }
        if run.overwrite && !(runs || slurm || point.is_some()) {
            bail!("--overwrite goes with a local run, --point or --slurm");
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
                bail!("--jobs 0: expected at least 1");
            }
            Action::Run { jobs }
        };
        let exe = std::env::current_exe().context("cannot find the unlearn binary")?;
        let exec =
            Exec { action, exe, point_args: run.child_args(&script), threads: run.threads, overwrite: run.overwrite };
        let ctx = run_script(&script, &run, exec)?;
        if !ctx.sweep_called.get() {
            return Err(no_sweep(&script, ""));
        }
        Ok(())
    }
}

/// What a Slurm submission asks for (`--slurm`, `--resubmit-failed`).
#[derive(clap::Args, Clone, Default)]
pub struct SlurmArgs {
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
        self.options() != SlurmOptions::default()
    }

    fn options(&self) -> SlurmOptions {
        SlurmOptions {
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

/// The error for `unlearn sweep` on a script that defines no sweep.
pub fn no_sweep(script: &Path, flag: &str) -> anyhow::Error {
    let flag = if flag.is_empty() { String::new() } else { format!(" {flag}") };
    anyhow::anyhow!(
        "{} defines no sweep, so `unlearn sweep{flag}` has nothing to act on (nothing was run): call sweep(#{{ grid: #{{ seed: [1, 2, 3] }} }}, |point| {{ ... }}) in it, or run it with `unlearn run`",
        script.display()
    )
}
