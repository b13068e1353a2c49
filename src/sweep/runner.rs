//! The sweep executor: what a sweep does with its [`Plan`] under each [`Action`]. It prints the
//! plan or where its points stand, runs the points that are not complete (here, one after another,
//! or in child processes N at a time), runs one point (`--point I`), submits to Slurm or resubmits
//! the failed points, and collects the table. The experiment is the caller's: a function of the
//! point that returns its rows (the script binding passes the script's closure; Rust code passes
//! any closure), run with the point's seed and recorded in the point's folder.
//!
//! ```no_run
//! use unlearn::sweep::{grid_points, Exec, Outcome, Plan, Runner};
//! # fn main() -> unlearn::Result<()> {
//! let root = std::path::Path::new("results/sweep");
//! let points = grid_points(&[("seed".into(), vec![1.into(), 2.into(), 3.into()])])?;
//! let plan = Plan::new("demo", root, vec!["seed".into()], points, serde_json::Value::Null, Default::default(), 0)?;
//! let run = unlearn::report::RunInfo::new("demo", tch::Device::Cpu, 0, root, Default::default());
//! let exec = Exec::in_process();
//! let outcome = Runner::new(&plan, &exec, &run).execute(|point| -> unlearn::Result<_> {
//!     let seed = point.values["seed"].as_f64().unwrap_or(0.0);
//!     let mut row = serde_json::Map::new();
//!     row.insert("x".into(), (2.0 * seed).into());
//!     Ok(vec![row])
//! })?;
//! if let Outcome::Collected(table) = outcome {
//!     print!("{}", table.to_text());
//! }
//! # Ok(())
//! # }
//! ```
use super::{local, slurm, Action, Exec, Marker, Plan, Point, State};
use crate::error::{Error, Result};
use crate::report::summary::Summary;
use crate::report::RunInfo;
use serde_json::{Map, Value};
use std::time::Instant;

/// One row of a point's results, field by field; the runner adds the point's parameters where
/// the row lacks them.
pub type PointRow = Map<String, Value>;

/// The error of a point's function. The runner writes it into the point's failure marker and its
/// report; one that [`PointError::ends_run`] stops the whole sweep instead of just its point. The
/// runner's own errors (records that cannot be written, failed points) convert into it.
pub trait PointError: std::fmt::Display + From<Error> {
    /// Whether this error ends the whole run (the run's `--timeout`), not just the point.
    fn ends_run(&self) -> bool;
}

impl PointError for Error {
    /// The run's `--timeout` ends the whole sweep; any other error only its point.
    fn ends_run(&self) -> bool {
        matches!(self, Error::Timeout(_))
    }
}

/// What a sweep action ended with.
#[derive(Debug)]
pub enum Outcome {
    /// The collected table: mean ± 95 % confidence interval per group (a run of the points,
    /// `--collect`).
    Collected(Summary),
    /// The action is done and has no table (`--plan`, `--status`, `--point I`, `--slurm`,
    /// `--resubmit-failed`): what follows the sweep in a script is for its results, which these
    /// actions have not.
    Done,
}

/// Executes a plan as `exec` says; every record carries `run` (the run record of this process,
/// with each point's own folder and seed).
#[derive(Debug, Clone, Copy)]
pub struct Runner<'a> {
    pub plan: &'a Plan,
    pub exec: &'a Exec,
    pub run: &'a RunInfo,
}

/// Neither complete nor queued or running: what a run or a submission takes on.
pub fn to_run(s: &State) -> bool {
    !matches!(s, State::Complete) && !in_queue(s)
}

/// Queued in Slurm or running in some process.
pub fn in_queue(s: &State) -> bool {
    matches!(s, State::Queued { .. } | State::Running { .. })
}

/// The indices of the points whose state passes `keep`.
pub fn points_where(plan: &Plan, states: &[State], keep: impl Fn(&State) -> bool) -> Vec<usize> {
    plan.points.iter().zip(states).filter(|(_, s)| keep(s)).map(|(p, _)| p.index).collect()
}

impl<'a> Runner<'a> {
    pub fn new(plan: &'a Plan, exec: &'a Exec, run: &'a RunInfo) -> Self {
        Runner { plan, exec, run }
    }

    /// Does what `exec.action` says with the plan, calling `f` for every point that runs in this
    /// process. An action that writes into the sweep's folder as a whole holds its lock
    /// meanwhile (see [`Action::writes_output`]).
    pub fn execute<E, F>(&self, mut f: F) -> Result<Outcome, E>
    where
        E: PointError,
        F: FnMut(&Point) -> Result<Vec<PointRow>, E>,
    {
        let plan = self.plan;
        // a sweep with its own `out` folder holds that folder too (the run holds --out; the same
        // folder is an inner claim)
        let _lock = if self.exec.action.writes_output() {
            Some(crate::io::OutputLock::acquire(&plan.root, &format!("sweep `{}`", plan.name))?)
        } else {
            None
        };
        match self.exec.action.clone() {
            Action::Plan => {
                crate::out!("{}", plan.describe());
                Ok(Outcome::Done)
            }
            Action::Status => {
                let states = slurm::states(plan, true)?;
                crate::out!("{}", local::status_report(plan, &states));
                Ok(Outcome::Done)
            }
            Action::Collect { allow_partial } => Ok(Outcome::Collected(self.collect(allow_partial)?)),
            Action::Point(i) => {
                self.run_one(i, &mut f)?;
                Ok(Outcome::Done)
            }
            Action::Slurm(opts) => {
                self.submit_todo(&opts)?;
                Ok(Outcome::Done)
            }
            Action::ResubmitFailed(opts) => {
                self.resubmit_failed(&opts)?;
                Ok(Outcome::Done)
            }
            Action::Run { jobs } => self.run_all(jobs, &mut f).map(Outcome::Collected),
        }
    }

    /// Runs `point` in this process: the point's seed ([`Plan::point_seed`]) seeds every
    /// generator first (so a point gives the same result wherever and in whatever order it runs),
    /// `f` computes its rows, and its record, or the failure marker, is written after. The
    /// marker says the point is running meanwhile.
    pub fn run_point<E, F>(&self, point: &Point, f: &mut F) -> Result<(), E>
    where
        E: PointError,
        F: FnMut(&Point) -> Result<Vec<PointRow>, E>,
    {
        std::fs::create_dir_all(&point.folder).map_err(|e| Error::io(&point.folder, e))?;
        let marker = Marker::running();
        marker.write(point)?;
        crate::runtime::seed_everything(self.plan.point_seed(point));
        let t0 = Instant::now();
        let result = f(point);
        let seconds = t0.elapsed().as_secs_f64();
        let outcome = result.and_then(|rows| {
            let rows = super::with_point_values(rows, point);
            super::write_complete(self.plan, point, rows, seconds, self.run).map_err(E::from)
        });
        if let Err(e) = &outcome {
            let _ = marker.failed(&e.to_string()).write(point);
        }
        outcome
    }

    /// `--point I`: runs point `index` unless it is complete, after checking that the plan saved
    /// when the sweep started still gives it the same parameters.
    pub fn run_one<E, F>(&self, index: usize, f: &mut F) -> Result<(), E>
    where
        E: PointError,
        F: FnMut(&Point) -> Result<Vec<PointRow>, E>,
    {
        let plan = self.plan;
        let point = plan.point(index)?;
        if let Some(saved) = Plan::load_saved(&plan.root)? {
            if saved.points.get(index).map(|p| &p.values) != Some(&point.values) {
                return Err(Error::Sweep(format!(
                    "sweep `{}`: point {index} is now ({}) but was ({}) when the sweep was started; \
                     the script changed: run or submit the sweep again",
                    plan.name,
                    point.label(),
                    saved.points.get(index).map(Point::label).unwrap_or_else(|| "absent".into())
                ))
                .into());
            }
        }
        if super::read_complete(plan, point).is_some() {
            crate::outln!("point {index} ({}) is already complete: {}", point.label(), point.folder.display());
        } else {
            crate::outln!("point {index} ({}): running into {}", point.label(), point.folder.display());
            self.run_point(point, f)?;
            crate::outln!("point {index}: complete");
        }
        Ok(())
    }

    /// Runs every point that is neither complete nor queued or running elsewhere: in this
    /// process one after another, or (`jobs` > 1 with `exec.point_args`) in child processes
    /// `jobs` at a time; then collects the table. A failed point does not stop the others; the
    /// error lists every failure (a rerun runs only those). An error that
    /// [`PointError::ends_run`] stops at once.
    pub fn run_all<E, F>(&self, jobs: usize, f: &mut F) -> Result<Summary, E>
    where
        E: PointError,
        F: FnMut(&Point) -> Result<Vec<PointRow>, E>,
    {
        let plan = self.plan;
        let states = slurm::states(plan, false)?;
        self.check_stale(&states)?;
        let busy: Vec<String> =
            points_where(plan, &states, in_queue).iter().map(|&i| format!("{i} ({})", states[i].word())).collect();
        let todo = points_where(plan, &states, to_run);
        let done = plan.points.len() - todo.len() - busy.len();
        crate::outln!(
            "sweep `{}`: {} points, {done} already complete, {} to run{}",
            plan.name,
            plan.points.len(),
            todo.len(),
            if jobs > 1 && todo.len() > 1 { format!(", {jobs} at a time") } else { String::new() }
        );
        if !busy.is_empty() {
            crate::outln!(
                "not run here, as they are queued or running elsewhere (see --status): points {}",
                busy.join(", ")
            );
        }
        if !todo.is_empty() {
            plan.save()?;
        }
        let mut failed: Vec<String> = Vec::new();
        if jobs > 1 && !self.exec.point_args.is_empty() {
            let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
            let threads = self.exec.threads.unwrap_or(((cores / jobs.min(todo.len().max(1))).max(1)) as i32);
            let out = local::run_children(plan, &todo, jobs, threads, &self.exec.exe, &self.exec.point_args, |l| {
                crate::outln!("{l}")
            })?;
            failed.extend(
                out.into_iter().map(|(i, log)| format!("  {i}: {}; log {}", plan.points[i].label(), log.display())),
            );
        } else {
            for (n, &i) in todo.iter().enumerate() {
                let point = &plan.points[i];
                crate::outln!("point {i} ({}), {} of {}: running", point.label(), n + 1, todo.len());
                let t0 = Instant::now();
                match self.run_point(point, f) {
                    Ok(()) => crate::outln!("point {i}: complete in {:.1} s", t0.elapsed().as_secs_f64()),
                    Err(e) if e.ends_run() => return Err(e),
                    Err(e) => {
                        crate::errln!("point {i} ({}) FAILED: {e}", point.label());
                        failed.push(format!("  {i}: {}: {e}", point.label()));
                    }
                }
            }
        }
        if !failed.is_empty() {
            return Err(Error::Sweep(format!(
                "{} of the {} points of sweep `{}` failed (the others are complete and a rerun skips them):\n{}",
                failed.len(),
                plan.points.len(),
                plan.name,
                failed.join("\n")
            ))
            .into());
        }
        Ok(self.collect(false)?)
    }

    /// `--slurm`: submits the points that are neither complete nor queued.
    pub fn submit_todo(&self, opts: &slurm::SlurmOptions) -> Result<()> {
        let plan = self.plan;
        let states = slurm::states(plan, true)?;
        self.check_stale(&states)?;
        let todo = points_where(plan, &states, to_run);
        let skipped = plan.points.len() - todo.len();
        if todo.is_empty() {
            crate::outln!("sweep `{}`: every point is complete or queued; nothing to submit", plan.name);
        } else {
            if skipped > 0 {
                crate::outln!("{skipped} points are complete or queued and are not submitted again");
            }
            self.submit(&todo, opts)?;
        }
        Ok(())
    }

    /// `--resubmit-failed`: submits only the points that failed or were interrupted, after
    /// printing where every point stands.
    pub fn resubmit_failed(&self, opts: &slurm::SlurmOptions) -> Result<()> {
        let plan = self.plan;
        let states = slurm::states(plan, true)?;
        let failed = points_where(plan, &states, |s| matches!(s, State::Failed { .. } | State::Interrupted { .. }));
        if failed.is_empty() {
            crate::outln!("sweep `{}`: no failed points", plan.name);
        } else {
            crate::out!("{}", local::status_report(plan, &states));
            self.submit(&failed, opts)?;
        }
        Ok(())
    }

    /// Submits `points` to Slurm and says what was written and submitted.
    pub fn submit(&self, points: &[usize], opts: &slurm::SlurmOptions) -> Result<()> {
        let plan = self.plan;
        plan.save()?;
        let arrays = slurm::submit(plan, points, opts, &self.exec.exe, &self.exec.point_args, self.exec.threads)?;
        for slurm::SubmittedArray { script, job, points: chunk } in arrays {
            match job {
                Some(j) => crate::outln!(
                    "submitted job {j}: {} point{} of sweep `{}` (points {}); batch script {}; logs {}",
                    chunk.len(),
                    if chunk.len() == 1 { "" } else { "s" },
                    plan.name,
                    slurm::array_spec(&chunk),
                    script.display(),
                    slurm::slurm_dir(plan).join("logs").display()
                ),
                None => crate::outln!("wrote {} (--dry-run: not submitted)", script.display()),
            }
        }
        Ok(())
    }

    /// The collected table of the sweep, saved in its root and printed; an error lists the
    /// points that are missing unless `allow_partial`.
    pub fn collect(&self, allow_partial: bool) -> Result<Summary> {
        let plan = self.plan;
        let (records, missing) = super::gather(plan);
        if !missing.is_empty() {
            let list: Vec<String> = missing.iter().take(20).map(|p| format!("  {}: {}", p.index, p.label())).collect();
            let msg = format!(
                "{} of the {} points of sweep `{}` are not complete:\n{}{}",
                missing.len(),
                plan.points.len(),
                plan.name,
                list.join("\n"),
                if missing.len() > 20 { "\n  ..." } else { "" }
            );
            if !allow_partial {
                return Err(Error::Sweep(format!(
                    "{msg}\n(`--status` says why; `--collect --allow-partial` summarises the rest)"
                )));
            }
            crate::errln!("warning: {msg}");
        }
        let rows: Vec<Value> = records.iter().flat_map(|r| r.rows.iter().cloned()).collect();
        if rows.is_empty() {
            return Err(Error::Sweep(format!("sweep `{}`: no point is complete yet", plan.name)));
        }
        for w in super::mixed_conditions(&records) {
            crate::errln!("warning: sweep `{}`: {w}", plan.name);
        }
        let summary = super::summarize_rows(plan, &rows)?;
        super::save_collected(plan, &rows, &summary, self.run)?;
        crate::out!("{}", summary.to_text());
        crate::outln!(
            "collected {} rows of {} points into {}",
            rows.len(),
            plan.points.len() - missing.len(),
            plan.root.join(format!("{}.csv", super::SUMMARY_NAME)).display()
        );
        Ok(summary)
    }

    /// Refuses to replace records of another configuration unless `exec.overwrite`
    /// (`--overwrite`).
    pub fn check_stale(&self, states: &[State]) -> Result<()> {
        let plan = self.plan;
        let stale: Vec<(usize, &String)> = plan
            .points
            .iter()
            .zip(states)
            .filter_map(|(p, s)| match s {
                State::Stale { differs } => Some((p.index, differs)),
                _ => None,
            })
            .collect();
        if stale.is_empty() || self.exec.overwrite {
            return Ok(());
        }
        Err(Error::Sweep(format!(
            "{} points of sweep `{}` in {} hold results of another configuration (point {}: {}); \
             give another --out, or pass --overwrite to `unlearn sweep` to replace them",
            stale.len(),
            plan.name,
            plan.root.display(),
            stale[0].0,
            stale[0].1
        )))
    }
}
