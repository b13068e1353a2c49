//! The local executor's parallel form: the points that are not complete, each in its own child
//! process (`unlearn sweep SCRIPT --point I`, exactly what a Slurm task runs), N at a time, with
//! the CPU threads shared out and every child's output in `<root>/logs/point-I.log`.
use super::{Plan, State};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The log of point `index` run by a local child process.
pub fn log_path(plan: &Plan, index: usize) -> PathBuf {
    plan.root.join("logs").join(format!("point-{index}.log"))
}

/// Runs `points` in child processes, `jobs` at a time, each with `threads` libtorch threads;
/// `report` gets a line per started and finished point. Returns the points that failed, with
/// their logs.
pub fn run_children(
    plan: &Plan,
    points: &[usize],
    jobs: usize,
    threads: i32,
    exe: &Path,
    point_args: &[std::ffi::OsString],
    mut report: impl FnMut(&str),
) -> Result<Vec<(usize, PathBuf)>> {
    let mut waiting: std::collections::VecDeque<usize> = points.iter().copied().collect();
    let mut running: Vec<(usize, Child, Instant, PathBuf)> = Vec::new();
    let mut failed = Vec::new();
    while !waiting.is_empty() || !running.is_empty() {
        while running.len() < jobs.max(1) {
            let Some(i) = waiting.pop_front() else { break };
            let log = log_path(plan, i);
            crate::io::ensure_parent(&log)?;
            let file = std::fs::File::create(&log).map_err(|e| Error::io(&log, e))?;
            let err = file.try_clone().map_err(|e| Error::io(&log, e))?;
            let child = Command::new(exe)
                .args(point_args)
                .args(["--threads", &threads.to_string(), "--point", &i.to_string()])
                .env("UNLEARN_SWEEP_LOG", &log)
                .stdin(Stdio::null())
                .stdout(file)
                .stderr(err)
                .spawn()
                .map_err(|e| Error::io(exe, e))?;
            report(&format!("point {i} ({}): started, log {}", plan.points[i].label(), log.display()));
            running.push((i, child, Instant::now(), log));
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut k = 0;
        while k < running.len() {
            match running[k].1.try_wait().map_err(|e| Error::io(exe, e))? {
                None => k += 1,
                Some(status) => {
                    let (i, _, t0, log) = running.swap_remove(k);
                    let secs = t0.elapsed().as_secs_f64();
                    if status.success() {
                        report(&format!("point {i}: done in {secs:.1} s"));
                    } else {
                        report(&format!("point {i}: FAILED ({status}) after {secs:.1} s; log {}", log.display()));
                        failed.push((i, log));
                    }
                }
            }
        }
    }
    Ok(failed)
}

/// A count per state, then a table of the points that are queued, running, failed, interrupted or
/// stale (with the error, log or difference).
pub fn status_report(plan: &Plan, states: &[State]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for s in states {
        let w = s.word();
        match counts.iter_mut().find(|(k, _)| *k == w) {
            Some((_, n)) => *n += 1,
            None => counts.push((w, 1)),
        }
    }
    let mut out = format!(
        "sweep `{}` ({}): {} points: {}\n",
        plan.name,
        plan.root.display(),
        plan.points.len(),
        counts.iter().map(|(k, n)| format!("{n} {k}")).collect::<Vec<_>>().join(", ")
    );
    let mut rows = vec![vec!["#".to_string(), "point".into(), "state".into(), "detail".into()]];
    for (p, s) in plan.points.iter().zip(states) {
        let detail = match s {
            State::Complete | State::NotStarted => continue,
            State::Queued { job, .. } => format!("Slurm task {job}"),
            State::Running { host, pid, since, checked: true } => format!("pid {pid} on {host} since {since}"),
            State::Running { host, pid, since, .. } => {
                format!("pid {pid} on {host} since {since} (another machine: if that process is gone, delete its status.json)")
            }
            State::Stale { differs } => format!("holds results of another configuration ({differs})"),
            State::Failed { error, log } => {
                let first = error.lines().next().unwrap_or("");
                match log {
                    Some(l) => format!("{first}; log {l}"),
                    None => first.to_string(),
                }
            }
            State::Interrupted { since, log } => {
                let mut d = format!("started {since}, its process is gone");
                if let Some(l) = log {
                    d.push_str(&format!("; log {l}"));
                }
                d
            }
        };
        rows.push(vec![p.index.to_string(), p.label(), s.word(), detail]);
    }
    if rows.len() > 1 {
        out.push_str(&crate::report::table::aligned(&rows));
    }
    out
}
