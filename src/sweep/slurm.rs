//! The Slurm executor: one job-array task per sweep point, submitted with `sbatch`, watched with
//! `squeue`. Task k of a submission runs the k-th point it lists (the batch script holds the list,
//! so `SLURM_ARRAY_TASK_ID` selects the point and stays below Slurm's MaxArraySize however large
//! the sweep; bigger submissions are split). Every submission writes its own batch script under
//! `<root>/slurm/` and is recorded in `<root>/slurm/submissions.json`, so `--status` can tell a
//! queued task from a failed one and `--resubmit-failed` reruns only those.
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
    /// At most this many tasks per job array (the cluster's MaxArraySize; default 1000): more
    /// points are submitted as several arrays.
    pub max_array_size: Option<u32>,
    /// Further `#SBATCH` arguments, e.g. `--account=proj` or `--qos=short`.
    pub extra: Vec<String>,
    /// Write the batch script but do not submit it.
    pub dry_run: bool,
}

/// One `sbatch` of the sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Submission {
    pub job_id: String,
    /// The points it holds: array task k runs point `points[k]`.
    pub points: Vec<usize>,
    pub script: PathBuf,
    pub submitted: String,
    /// [`Plan::fingerprint`] of the sweep it ran: a submission made with other options, config or
    /// seed says nothing about this sweep's points.
    #[serde(default)]
    pub fingerprint: String,
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

/// For each point, the (job, task) of the latest submission of this sweep that holds it.
pub fn latest_tasks(plan: &Plan, subs: &[Submission]) -> BTreeMap<usize, (String, usize)> {
    let fingerprint = plan.fingerprint();
    let mut out = BTreeMap::new();
    for s in subs.iter().filter(|s| s.fingerprint == fingerprint) {
        for (task, &p) in s.points.iter().enumerate() {
            out.insert(p, (s.job_id.clone(), task));
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

/// The batch script of a job array over `points`: task k runs
/// `<exe> <point_args...> --threads T --point points[k]` in `workdir`, T being `threads` or else
/// the task's CPUs.
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
    let mut array = format!("--array=0-{}", points.len().saturating_sub(1));
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
         # Array task k runs the k-th point listed here (indices of the points in {}).\n\
         set -euo pipefail\n\
         points=({})\n\
         export UNLEARN_SWEEP_LOG={}/\"${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}.out\"\n",
        crate::report::now(),
        plan.name,
        points.len(),
        plan.points.len(),
        plan.root.join(super::PLAN_FILE).display(),
        points.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" "),
        sh_quote(&logs.display().to_string()),
    ));
    let mut cmd = vec![sh_quote(&exe.display().to_string())];
    cmd.extend(point_args.iter().map(|a| sh_quote(a)));
    cmd.push("--threads".into());
    cmd.push(threads.map(|t| t.to_string()).unwrap_or_else(|| "\"${SLURM_CPUS_PER_TASK:-1}\"".into()));
    cmd.push("--point".into());
    cmd.push("\"${points[$SLURM_ARRAY_TASK_ID]}\"".into());
    s.push_str(&format!("exec {}\n", cmd.join(" ")));
    s
}

/// Runs a Slurm client command; the error says which and why.
fn slurm_command(program: &str, args: &[&str]) -> Result<std::process::Output> {
    Command::new(program).args(args).output().map_err(|e| {
        Error::invalid("Slurm command", program, format!("a Slurm client on PATH (is this a Slurm login node?): {e}"))
    })
}

/// One job array written (and submitted) by [`submit`].
#[derive(Debug, Clone)]
pub struct SubmittedArray {
    pub script: PathBuf,
    /// `None` for a dry run.
    pub job: Option<String>,
    pub points: Vec<usize>,
}

/// Writes a batch script for `points` (several when they are more than the array size),
/// submits each (unless `dry_run`) and records the submissions.
pub fn submit(
    plan: &Plan,
    points: &[usize],
    opts: &SlurmOptions,
    exe: &Path,
    point_args: &[std::ffi::OsString],
    threads: Option<i32>,
) -> Result<Vec<SubmittedArray>> {
    // a batch script is text: an argument that is not UTF-8 cannot be written into it faithfully
    let point_args: Vec<String> = point_args
        .iter()
        .map(|a| {
            a.to_str().map(str::to_string).ok_or_else(|| {
                Error::invalid(
                    "argument for the Slurm tasks",
                    a.to_string_lossy(),
                    "UTF-8 text (a batch script is text): give --out and --allow folders with UTF-8 names, or run the sweep locally",
                )
            })
        })
        .collect::<Result<_>>()?;
    let point_args = &point_args[..];
    let workdir = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let dir = slurm_dir(plan);
    std::fs::create_dir_all(dir.join("logs")).map_err(|e| Error::io(dir.join("logs"), e))?;
    let mut subs = submissions(plan)?;
    let size = opts.max_array_size.unwrap_or(1000).max(1) as usize;
    let mut out = Vec::new();
    for (i, chunk) in points.chunks(size).enumerate() {
        let script = if opts.dry_run {
            dir.join(format!("dry-run-{}.sbatch", i + 1))
        } else {
            dir.join(format!("job-{}.sbatch", subs.len() + 1))
        };
        let text = batch_script(plan, chunk, opts, exe, point_args, threads, &workdir);
        crate::io::write_atomic(&script, text.as_bytes())?;
        if opts.dry_run {
            out.push(SubmittedArray { script, job: None, points: chunk.to_vec() });
            continue;
        }
        let script_text = script.display().to_string();
        let o = slurm_command("sbatch", &["--parsable", &script_text])?;
        if !o.status.success() {
            return Err(Error::invalid(
                "sbatch",
                script_text,
                format!("a submitted job; sbatch said: {}", String::from_utf8_lossy(&o.stderr).trim()),
            ));
        }
        // `--parsable` prints `JOBID` or `JOBID;CLUSTER`
        let stdout = String::from_utf8_lossy(&o.stdout);
        let job_id = stdout.trim().split(';').next().unwrap_or("").to_string();
        if job_id.is_empty() || !job_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(Error::invalid("sbatch output", stdout.trim(), "a job id"));
        }
        subs.push(Submission {
            job_id: job_id.clone(),
            points: chunk.to_vec(),
            script: script.clone(),
            submitted: crate::report::now(),
            fingerprint: plan.fingerprint(),
        });
        write_json_atomic(dir.join("submissions.json"), &subs)?;
        out.push(SubmittedArray { script, job: Some(job_id), points: chunk.to_vec() });
    }
    Ok(out)
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
        let tasks = expand_tasks(tasks);
        if tasks.is_empty() {
            // a task of ours that cannot be read would look like one that left the queue
            return Err(Error::invalid("squeue line", line.trim(), "JOB_TASK|STATE with a task id or range"));
        }
        for t in tasks {
            out.insert(format!("{job}_{t}"), state.to_string());
        }
    }
    Ok(out)
}

/// `7` → [7]; `[3-5,9%2]` → [3, 4, 5, 9]; nothing for what is not a task id or range.
pub fn expand_tasks(tasks: &str) -> Vec<usize> {
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

/// Every point's state, with the Slurm queue consulted when the sweep was submitted or a point
/// was started by a Slurm task. Unless `strict`, a queue that cannot be read (no Slurm client
/// here) is a warning and counts as empty.
pub fn states(plan: &Plan, strict: bool) -> Result<Vec<State>> {
    let subs = submissions(plan)?;
    let latest = latest_tasks(plan, &subs);
    let mut jobs: Vec<String> = latest.values().map(|(j, _)| j.clone()).collect();
    for p in &plan.points {
        if let Some(j) = super::Marker::read(p).and_then(|m| m.slurm_job) {
            jobs.push(j);
        }
    }
    jobs.sort();
    jobs.dedup();
    let q = match (jobs.is_empty(), strict) {
        (true, _) => BTreeMap::new(),
        (false, true) => queue(&jobs)?,
        (false, false) => queue(&jobs).unwrap_or_else(|e| {
            crate::errln!("warning: cannot read the Slurm queue ({e}); counting no task as queued");
            BTreeMap::new()
        }),
    };
    Ok(plan
        .points
        .iter()
        .map(|p| {
            let task = latest.get(&p.index);
            super::point_state(
                plan,
                p,
                &q,
                task.map(|(j, t)| (j.as_str(), *t)),
                task.map(|(j, t)| log_path(plan, j, *t)),
            )
        })
        .collect())
}
