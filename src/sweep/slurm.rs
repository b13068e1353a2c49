//! The Slurm executor: one job-array task per sweep point (`SLURM_ARRAY_TASK_ID` is the point's
//! index in the plan), submitted with `sbatch`, watched with `squeue`. Every submission writes its
//! own batch script under `<root>/slurm/` and is recorded in `<root>/slurm/submissions.json`, so
//! `--status` can tell a queued task from a failed one and `--resubmit-failed` reruns only those.
use super::{Plan, State};
use crate::error::{Error, Result};
use crate::io::write_json_atomic;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the batch script asks of Slurm.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub gpus_per_task: Option<u32>,
    pub cpus_per_task: Option<u32>,
    /// Time limit per task, in any form `sbatch --time` takes (e.g. `02:00:00`).
    pub time: Option<String>,
    /// Memory per task (`sbatch --mem`, e.g. `16G`).
    pub mem: Option<String>,
    /// At most this many tasks at once (`--array=...%K`).
    pub max_parallel: Option<u32>,
    /// Further `#SBATCH` arguments, e.g. `--account=proj` or `--qos=short`.
    pub extra: Vec<String>,
    /// Write the batch script but do not submit it.
    pub dry_run: bool,
}

/// One `sbatch` of the sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Submission {
    pub job_id: String,
    /// The points (array task ids) it holds.
    pub points: Vec<usize>,
    pub script: PathBuf,
    pub submitted: String,
}

/// The folder of batch scripts, logs and the submission record.
pub fn slurm_dir(plan: &Plan) -> PathBuf {
    plan.root.join("slurm")
}

/// The log of task `task` of job `job`.
pub fn log_path(plan: &Plan, job: &str, task: usize) -> PathBuf {
    slurm_dir(plan).join("logs").join(format!("{job}_{task}.out"))
}

/// Earlier submissions of the sweep (oldest first).
pub fn submissions(plan: &Plan) -> Result<Vec<Submission>> {
    let path = slurm_dir(plan).join("submissions.json");
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Format { path, msg: format!("not a submission record ({e})") })
}

/// For each point, the job of the latest submission that holds it.
pub fn latest_jobs(subs: &[Submission]) -> BTreeMap<usize, String> {
    let mut out = BTreeMap::new();
    for s in subs {
        for &p in &s.points {
            out.insert(p, s.job_id.clone());
        }
    }
    out
}

/// `0-3,5,7-8`: sorted indices as Slurm's `--array` ranges.
pub fn array_spec(indices: &[usize]) -> String {
    let mut sorted = indices.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 {
            j += 1;
        }
        parts.push(if i == j { sorted[i].to_string() } else { format!("{}-{}", sorted[i], sorted[j]) });
        i = j + 1;
    }
    parts.join(",")
}

/// `s` quoted for a POSIX shell.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The batch script of a job array over `points`: each task runs
/// `<exe> <point_args...> --threads T --point $SLURM_ARRAY_TASK_ID` in `workdir`, T being
/// `threads` or else the task's CPUs.
pub fn batch_script(
    plan: &Plan,
    points: &[usize],
    opts: &SlurmOptions,
    exe: &Path,
    point_args: &[String],
    threads: Option<i32>,
    workdir: &Path,
) -> String {
    let logs = slurm_dir(plan).join("logs");
    let mut s = String::from("#!/bin/bash\n");
    let mut directive = |d: String| s.push_str(&format!("#SBATCH {d}\n"));
    directive(format!("--job-name={}", sh_quote(&format!("unlearn-{}", plan.name))));
    let mut array = format!("--array={}", array_spec(points));
    if let Some(k) = opts.max_parallel {
        array.push_str(&format!("%{k}"));
    }
    directive(array);
    directive(format!("--output={}", sh_quote(&logs.join("%A_%a.out").display().to_string())));
    directive(format!("--chdir={}", sh_quote(&workdir.display().to_string())));
    directive("--ntasks=1".into());
    if let Some(p) = &opts.partition {
        directive(format!("--partition={}", sh_quote(p)));
    }
    if let Some(g) = opts.gpus_per_task {
        directive(format!("--gpus-per-task={g}"));
    }
    if let Some(c) = opts.cpus_per_task {
        directive(format!("--cpus-per-task={c}"));
    }
    if let Some(t) = &opts.time {
        directive(format!("--time={}", sh_quote(t)));
    }
    if let Some(m) = &opts.mem {
        directive(format!("--mem={}", sh_quote(m)));
    }
    for e in &opts.extra {
        directive(sh_quote(e));
    }
    s.push_str(&format!(
        "# Written by `unlearn sweep --slurm` at {}: sweep `{}`, {} of its {} points.\n\
         # Each array task runs the point whose index (in {}) is its SLURM_ARRAY_TASK_ID.\n\
         set -euo pipefail\n\
         export UNLEARN_SWEEP_LOG={}/\"${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}.out\"\n",
        crate::report::now(),
        plan.name,
        points.len(),
        plan.points.len(),
        plan.root.join(super::PLAN_FILE).display(),
        sh_quote(&logs.display().to_string()),
    ));
    let mut cmd = vec![sh_quote(&exe.display().to_string())];
    cmd.extend(point_args.iter().map(|a| sh_quote(a)));
    cmd.push("--threads".into());
    cmd.push(threads.map(|t| t.to_string()).unwrap_or_else(|| "\"${SLURM_CPUS_PER_TASK:-1}\"".into()));
    cmd.push("--point".into());
    cmd.push("\"$SLURM_ARRAY_TASK_ID\"".into());
    s.push_str(&format!("exec {}\n", cmd.join(" ")));
    s
}

/// Runs a Slurm client command; the error says which and why.
fn slurm_command(program: &str, args: &[&str]) -> Result<std::process::Output> {
    Command::new(program).args(args).output().map_err(|e| {
        Error::invalid("Slurm command", program, format!("a Slurm client on PATH (is this a Slurm login node?): {e}"))
    })
}

/// Writes the batch script for `points`, submits it (unless `dry_run`) and records the
/// submission. Returns the script's path and the job id (`None` for a dry run).
pub fn submit(
    plan: &Plan,
    points: &[usize],
    opts: &SlurmOptions,
    exe: &Path,
    point_args: &[String],
    threads: Option<i32>,
) -> Result<(PathBuf, Option<String>)> {
    let workdir = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let dir = slurm_dir(plan);
    std::fs::create_dir_all(dir.join("logs")).map_err(|e| Error::io(dir.join("logs"), e))?;
    let mut subs = submissions(plan)?;
    let script = dir.join(format!("job-{}.sbatch", subs.len() + 1));
    let text = batch_script(plan, points, opts, exe, point_args, threads, &workdir);
    crate::io::write_atomic(&script, text.as_bytes())?;
    if opts.dry_run {
        return Ok((script, None));
    }
    let script_text = script.display().to_string();
    let out = slurm_command("sbatch", &["--parsable", &script_text])?;
    if !out.status.success() {
        return Err(Error::invalid(
            "sbatch",
            script_text,
            format!("a submitted job; sbatch said: {}", String::from_utf8_lossy(&out.stderr).trim()),
        ));
    }
    // `--parsable` prints `JOBID` or `JOBID;CLUSTER`
    let stdout = String::from_utf8_lossy(&out.stdout);
    let job_id = stdout.trim().split(';').next().unwrap_or("").to_string();
    if job_id.is_empty() || !job_id.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::invalid("sbatch output", stdout.trim(), "a job id"));
    }
    subs.push(Submission {
        job_id: job_id.clone(),
        points: points.to_vec(),
        script: script.clone(),
        submitted: crate::report::now(),
    });
    write_json_atomic(dir.join("submissions.json"), &subs)?;
    Ok((script, Some(job_id)))
}

/// The array tasks of `jobs` in the queue: `JOB_TASK` → state (PENDING, RUNNING, ...).
pub fn queue(jobs: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if jobs.is_empty() {
        return Ok(out);
    }
    // `--me` rather than `-j`: squeue fails on a job id it has already forgotten
    let o = slurm_command("squeue", &["--noheader", "--array", "--me", "--format=%i|%T"])?;
    if !o.status.success() {
        return Err(Error::invalid(
            "squeue",
            "--me",
            format!("the queue; squeue said: {}", String::from_utf8_lossy(&o.stderr).trim()),
        ));
    }
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let Some((id, state)) = line.trim().split_once('|') else { continue };
        // pending tasks may still be listed as one range, `JOB_[3-5%2]`
        let Some((job, tasks)) = id.split_once('_') else { continue };
        if !jobs.iter().any(|j| j == job) {
            continue;
        }
        for t in expand_tasks(tasks) {
            out.insert(format!("{job}_{t}"), state.to_string());
        }
    }
    Ok(out)
}

/// `7` → [7]; `[3-5,9%2]` → [3, 4, 5, 9].
fn expand_tasks(tasks: &str) -> Vec<usize> {
    let inner = tasks.trim_start_matches('[').trim_end_matches(']');
    let inner = inner.split('%').next().unwrap_or("");
    let mut out = Vec::new();
    for part in inner.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<usize>().ok()),
        }
    }
    out
}

/// Every point's state, with the Slurm queue consulted when the sweep was submitted.
pub fn states(plan: &Plan) -> Result<Vec<State>> {
    let subs = submissions(plan)?;
    let latest = latest_jobs(&subs);
    let jobs: Vec<String> = subs.iter().map(|s| s.job_id.clone()).collect();
    let q = if jobs.is_empty() { BTreeMap::new() } else { queue(&jobs)? };
    Ok(plan
        .points
        .iter()
        .map(|p| {
            let job = latest.get(&p.index);
            super::point_state(plan, p, &q, job.map(String::as_str), job.map(|j| log_path(plan, j, p.index)))
        })
        .collect())
}
