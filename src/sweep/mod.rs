//! Sweeps (issue 10): many runs of one experiment function over a grid (or list) of named
//! parameters, each point in its own folder, executed here, as local child processes N at a time,
//! or as a Slurm job array ([`slurm`]), and gathered into one table of mean and 95 % confidence
//! interval.
//!
//! A point is *complete* when `<folder>/point.json` exists and records the same identity (the
//! project's one resume mechanism, [`crate::resume`]): sweep name, point parameters, the sweep's
//! `config`, the script's SHA-256, the `--set` options, `--seed` and the compute flags. Every record is
//! written atomically, so a point is either complete or not: an interrupted sweep resumes by
//! running only the points that are not. A record of another identity is *stale*: executors
//! refuse to replace it unless told to (`--overwrite`). While a point runs,
//! `<folder>/status.json` says so (host, process, Slurm job and task, log); a failure rewrites it
//! with the error.
//!
//! Every point runs with its own seed, `--seed` plus its `seed` parameter when it has an integer
//! one: the default of every `seed` option (the methods' batch order included) and the seed of
//! libtorch's generators, so a point gives the same numbers wherever and in whatever order it runs.
//!
//! [`Runner`] executes a plan as the command line asks ([`Exec`]), with the experiment given as a
//! function of the point: the script binding passes the script's closure, Rust code any closure.
pub mod local;
pub mod runner;
pub mod slurm;

pub use runner::{Outcome, PointError, PointRow, Runner};

use crate::error::{Error, Result};
use crate::io::write_json_atomic;
use crate::report::summary::{summarize, Spread, Summary};
use crate::report::RunInfo;
use crate::resume::Fingerprint;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The record of a finished point.
pub const POINT_FILE: &str = "point.json";
/// The marker of a running or failed point.
pub const STATUS_FILE: &str = "status.json";
/// The plan of the last local run or Slurm submission.
pub const PLAN_FILE: &str = "sweep.json";
/// The collected table (`.csv` and `.json`) and the rows it summarises (`sweep_rows.json`).
pub const SUMMARY_NAME: &str = "sweep_summary";

/// What a sweep does with its plan, chosen on the command line (see [`Runner::execute`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Run every point that is not complete (nor running or queued elsewhere): in this process
    /// (`jobs` 1) or in `jobs` child processes at a time; then collect. What `unlearn run` and
    /// notebooks do.
    Run { jobs: usize },
    /// Print the points and their folders (`--plan`).
    Plan,
    /// Run one point (`--point I`: a Slurm task or a local child process).
    Point(usize),
    /// Submit the points that are neither complete nor queued as a job array (`--slurm`).
    Slurm(slurm::SlurmOptions),
    /// Resubmit only the failed points (`--resubmit-failed`).
    ResubmitFailed(slurm::SlurmOptions),
    /// Print where every point stands (`--status`).
    Status,
    /// Gather the finished points into the table (`--collect`); with `allow_partial`, even when
    /// some are missing.
    Collect { allow_partial: bool },
}

impl Action {
    /// The command-line flag that asks for this action under `unlearn sweep` ("" for a plain
    /// run of every point).
    pub fn flag(&self) -> &'static str {
        match self {
            Action::Run { .. } => "",
            Action::Plan => "--plan",
            Action::Point(_) => "--point",
            Action::Slurm(_) => "--slurm",
            Action::ResubmitFailed(_) => "--resubmit-failed",
            Action::Status => "--status",
            Action::Collect { .. } => "--collect",
        }
    }

    /// Whether this action runs points (their experiment work) in this process or its children.
    pub fn runs_points(&self) -> bool {
        matches!(self, Action::Run { .. } | Action::Point(_))
    }

    /// Whether this action writes into the sweep's output folder as a whole (and so holds its
    /// lock): `--point I` writes only its point's folder, `--plan` and `--status` nothing.
    pub fn writes_output(&self) -> bool {
        !matches!(self, Action::Plan | Action::Status | Action::Point(_))
    }
}

/// How this process executes a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Exec {
    pub action: Action,
    /// The `unlearn` binary that child processes and Slurm tasks run.
    pub exe: PathBuf,
    /// Arguments that make it run this sweep's script the same way (`sweep SCRIPT --out ...
    /// --seed ... --set ...`); `--threads` and `--point I` are added per point.
    pub point_args: Vec<std::ffi::OsString>,
    /// `--threads` when given.
    pub threads: Option<i32>,
    /// Replace point records made under another identity (`--overwrite`).
    pub overwrite: bool,
}

impl Exec {
    /// Points run in this process, one after another (`unlearn run`, notebooks).
    pub fn in_process() -> Exec {
        Exec {
            action: Action::Run { jobs: 1 },
            exe: PathBuf::from("unlearn"),
            point_args: Vec::new(),
            threads: None,
            overwrite: false,
        }
    }
}

/// One point: its index in the plan, its parameter values (in the plan's parameter order) and
/// its output folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub index: usize,
    pub values: Map<String, Value>,
    #[serde(with = "crate::io::path_text")]
    pub folder: PathBuf,
}

impl Point {
    /// `name=value, ...` for messages.
    pub fn label(&self) -> String {
        self.values.iter().map(|(k, v)| format!("{k}={}", value_text(v))).collect::<Vec<_>>().join(", ")
    }
}

/// What identifies a point's result (a [`Fingerprint`], see [`Plan::identity`]): a record made
/// under another identity is stale and the point runs again.
pub type Identity = Fingerprint;

/// Every point of a sweep and where its results go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub name: String,
    #[serde(with = "crate::io::path_text")]
    pub root: PathBuf,
    /// Parameter names, in the order of the folders' names.
    pub params: Vec<String>,
    pub points: Vec<Point>,
    /// Grouping fields of the collected table (empty: the default, see [`Plan::group_fields`]).
    pub group_by: Vec<String>,
    pub config: Value,
    pub options: BTreeMap<String, String>,
    pub seed: u64,
    /// SHA-256 of the script's text when the plan was made (recorded with every point, so the
    /// collected table can tell when its points came from different versions of the script).
    #[serde(default)]
    pub script_sha256: String,
    /// How the points compute as asked on the command line (`--device`, `--deterministic`): part
    /// of every point's identity. The thread count is not (the executor sets it per point; each
    /// record keeps the count it ran with).
    #[serde(default)]
    pub compute: BTreeMap<String, Value>,
}

pub use crate::resume::sha256_hex;

/// The distinct items of `items`, in the order they first appear.
fn first_seen<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut seen: Vec<T> = Vec::new();
    for v in items {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    seen
}

/// A value as text: strings bare, `()` as "none", anything else as compact JSON.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "none".into(),
        other => other.to_string(),
    }
}

/// A value as part of a folder name: letters, digits and `._+-` kept, anything else `_`; long
/// values cut to 48 characters.
fn folder_part(v: &Value) -> String {
    let text: String =
        value_text(v).chars().map(|c| if c.is_ascii_alphanumeric() || "._+-".contains(c) { c } else { '_' }).collect();
    text.chars().take(48).collect()
}

/// The folder name of a point: `name=value,name=value` in parameter order.
pub fn folder_name(values: &Map<String, Value>) -> String {
    values
        .iter()
        .map(|(k, v)| format!("{}={}", folder_part(&Value::String(k.clone())), folder_part(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// The grid's points: the Cartesian product of `grid` (name, values) with the last parameter
/// varying fastest.
pub fn grid_points(grid: &[(String, Vec<Value>)]) -> Result<Vec<Map<String, Value>>> {
    if grid.is_empty() {
        return Err(Error::invalid("sweep grid", "#{}", "at least one parameter with a list of values"));
    }
    let mut points = vec![Map::new()];
    for (name, values) in grid {
        if values.is_empty() {
            return Err(Error::invalid(format!("sweep grid parameter `{name}`"), "[]", "a non-empty list of values"));
        }
        points = points
            .into_iter()
            .flat_map(|p| {
                values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.insert(name.clone(), v.clone());
                    q
                })
            })
            .collect();
    }
    Ok(points)
}

impl Plan {
    /// A plan of `points` (parameter maps, all with the same names) under `root`.
    pub fn new(
        name: &str,
        root: &Path,
        params: Vec<String>,
        points: Vec<Map<String, Value>>,
        config: Value,
        options: BTreeMap<String, String>,
        seed: u64,
    ) -> Result<Plan> {
        if name.is_empty() || name.contains(['/', '\\']) {
            return Err(Error::invalid("sweep name", name, "a non-empty name without folders"));
        }
        if points.is_empty() {
            return Err(Error::invalid("sweep points", "[]", "at least one point"));
        }
        let mut out: Vec<Point> = Vec::with_capacity(points.len());
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (index, p) in points.into_iter().enumerate() {
            let mut values = Map::new();
            for k in &params {
                let v = p.get(k).ok_or_else(|| {
                    Error::invalid(
                        format!("sweep point {index}"),
                        Value::Object(p.clone()),
                        format!("a value for `{k}`"),
                    )
                })?;
                values.insert(k.clone(), v.clone());
            }
            if let Some(extra) = p.keys().find(|k| !params.contains(k)) {
                return Err(Error::invalid(
                    format!("sweep point {index}"),
                    Value::Object(p.clone()),
                    format!("the parameters of the other points ({}), not `{extra}`", params.join(", ")),
                ));
            }
            let folder = folder_name(&values);
            if let Some(first) = seen.insert(folder.clone(), index) {
                return Err(Error::invalid(
                    format!("sweep point {index}"),
                    Value::Object(values),
                    format!("a point different from point {first}: both would write to folder `{folder}`"),
                ));
            }
            out.push(Point { index, values, folder: root.join(folder) });
        }
        Ok(Plan {
            name: name.into(),
            root: root.to_path_buf(),
            params,
            points: out,
            group_by: Vec::new(),
            config,
            options,
            seed,
            script_sha256: String::new(),
            compute: BTreeMap::new(),
        })
    }

    /// The seed `point` runs with: `--seed` plus its `seed` parameter when that is an integer.
    pub fn point_seed(&self, point: &Point) -> u64 {
        match point.values.get("seed") {
            Some(Value::Number(n)) if n.is_i64() => self.seed.wrapping_add(n.as_i64().unwrap_or(0) as u64),
            Some(Value::Number(n)) if n.is_u64() => self.seed.wrapping_add(n.as_u64().unwrap_or(0)),
            _ => self.seed,
        }
    }

    /// What every point's identity shares (name, config, options, seed, script, compute), as text: a Slurm
    /// submission made under another one does not describe this sweep's points.
    pub fn fingerprint(&self) -> String {
        serde_json::json!([self.name, self.config, self.options, self.seed, self.script_sha256, self.compute])
            .to_string()
    }

    /// The identity a record of `point` must carry to count as complete: the run's parts
    /// ([`crate::resume::run_parts`]: script, `--seed`, each `--set` option, compute) plus the
    /// sweep's name, the point's parameters and the sweep's `config`.
    pub fn identity(&self, point: &Point) -> Identity {
        crate::resume::run_parts(&self.script_sha256, self.seed, &self.options, &self.compute)
            .with("sweep", &self.name)
            .with("point", &point.values)
            .with("config", &self.config)
    }

    /// Point `index`; the error names the range.
    pub fn point(&self, index: usize) -> Result<&Point> {
        self.points.get(index).ok_or_else(|| {
            Error::invalid(
                "sweep point",
                index,
                format!("an index from 0 to {} (the sweep has {} points)", self.points.len() - 1, self.points.len()),
            )
        })
    }

    /// The grouping fields of the collected table: `group_by` when given, else `method` (when every
    /// row has one) and every parameter but `seed`.
    pub fn group_fields(&self, rows: &[Value]) -> Vec<String> {
        if !self.group_by.is_empty() {
            return self.group_by.clone();
        }
        let mut by = Vec::new();
        if !rows.is_empty()
            && rows.iter().all(|r| r.get("method").is_some())
            && !self.params.iter().any(|p| p == "method")
        {
            by.push("method".to_string());
        }
        by.extend(self.params.iter().filter(|p| *p != "seed").cloned());
        by
    }

    /// A table of the points, their folders and whether each is complete.
    pub fn describe(&self) -> String {
        let sizes: Vec<String> = self
            .params
            .iter()
            .map(|p| format!("{p} {}", first_seen(self.points.iter().map(|pt| &pt.values[p])).len()))
            .collect();
        let mut rows: Vec<Vec<String>> = vec![{
            let mut h = vec!["#".to_string()];
            h.extend(self.params.iter().cloned());
            h.push("done".into());
            h.push("folder".into());
            h
        }];
        let mut complete = 0;
        for p in &self.points {
            let done = read_complete(self, p).is_some();
            complete += done as usize;
            let mut r = vec![p.index.to_string()];
            r.extend(p.values.values().map(value_text));
            r.push(if done { "yes" } else { "-" }.into());
            r.push(p.folder.display().to_string());
            rows.push(r);
        }
        let mut out = format!(
            "sweep `{}`: {} points ({}), {complete} complete, under {}\n",
            self.name,
            self.points.len(),
            sizes.join(" x "),
            self.root.display()
        );
        out.push_str(&crate::report::table::aligned(&rows));
        out
    }

    /// Writes `<root>/sweep.json` (the plan, which `--point` runs check they still match).
    pub fn save(&self) -> Result<()> {
        write_json_atomic(self.root.join(PLAN_FILE), self)
    }

    /// The plan saved in `root`, if any (a file that is not a plan is an error naming it).
    pub fn load_saved(root: &Path) -> Result<Option<Plan>> {
        let path = root.join(PLAN_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Format { path, msg: format!("not a sweep plan ({e})") })
    }
}

/// The result part of `point.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PointResult {
    pub identity: Identity,
    pub index: usize,
    /// The experiment function's rows, each with the point's parameters added where absent.
    pub rows: Vec<Value>,
    /// Wall time of the experiment function.
    pub seconds: f64,
    /// The seed the point ran with ([`Plan::point_seed`]).
    #[serde(default)]
    pub seed: u64,
    /// libtorch's CPU threads and the device: on the CPU the last bits of a result depend on
    /// the thread count.
    #[serde(default)]
    pub threads: i32,
    #[serde(default)]
    pub device: String,
    #[serde(default)]
    pub script_sha256: String,
}

/// The record in `point`'s folder, whatever its identity.
pub fn read_record(point: &Point) -> Option<PointResult> {
    let text = std::fs::read_to_string(point.folder.join(POINT_FILE)).ok()?;
    let record: Value = serde_json::from_str(&text).ok()?;
    serde_json::from_value(record.get("result")?.clone()).ok()
}

/// The record of `point` when it is complete (same identity), else `None`.
pub fn read_complete_record(plan: &Plan, point: &Point) -> Option<PointResult> {
    read_record(point).filter(|r| r.identity == plan.identity(point))
}

/// The rows of `point` when its record is complete (same identity), else `None`.
pub fn read_complete(plan: &Plan, point: &Point) -> Option<Vec<Value>> {
    read_complete_record(plan, point).map(|r| r.rows)
}

/// How a record of `point` (`old`, its identity) differs from this sweep's identity; `None` when
/// it does not (a record of another identity is *stale*), e.g. "--set take: `600` here, `2000`
/// in the record".
pub fn stale(plan: &Plan, point: &Point, old: &Identity) -> Option<String> {
    let diffs = plan.identity(point).differences(old);
    (!diffs.is_empty()).then(|| diffs.join("; "))
}

/// `rows` with the point's parameters added to each row that lacks them.
pub fn with_point_values(rows: Vec<Map<String, Value>>, point: &Point) -> Vec<Value> {
    rows.into_iter()
        .map(|mut r| {
            for (k, v) in &point.values {
                r.entry(k.clone()).or_insert_with(|| v.clone());
            }
            Value::Object(r)
        })
        .collect()
}

/// Writes the record of a finished point and removes its status marker.
pub fn write_complete(plan: &Plan, point: &Point, rows: Vec<Value>, seconds: f64, run: &RunInfo) -> Result<()> {
    let result = PointResult {
        identity: plan.identity(point),
        index: point.index,
        rows,
        seconds,
        seed: plan.point_seed(point),
        threads: tch::get_num_threads(),
        device: run.device.clone(),
        script_sha256: plan.script_sha256.clone(),
    };
    let mut run = run.clone();
    run.out_dir = point.folder.display().to_string();
    run.seed = plan.point_seed(point);
    crate::report::save_result(&point.folder.join(POINT_FILE), &result, &run)?;
    let _ = std::fs::remove_file(point.folder.join(STATUS_FILE));
    Ok(())
}

/// The marker of a running or failed point (`status.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Marker {
    /// "running" or "failed".
    pub state: String,
    pub started: String,
    pub host: String,
    pub pid: u32,
    /// `SLURM_ARRAY_JOB_ID` and `SLURM_ARRAY_TASK_ID` of a Slurm task.
    pub slurm_job: Option<String>,
    pub slurm_task: Option<String>,
    /// The log the process writes to, when the executor set one (`UNLEARN_SWEEP_LOG`).
    pub log: Option<String>,
    pub error: Option<String>,
    pub finished: Option<String>,
}

/// The host name (for markers; `?` when unknown).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "?".into())
}

impl Marker {
    /// A marker for a point starting in this process.
    pub fn running() -> Marker {
        Marker {
            state: "running".into(),
            started: crate::report::now(),
            host: host_name(),
            pid: std::process::id(),
            slurm_job: std::env::var("SLURM_ARRAY_JOB_ID").ok(),
            slurm_task: std::env::var("SLURM_ARRAY_TASK_ID").ok(),
            log: std::env::var("UNLEARN_SWEEP_LOG").ok().filter(|s| !s.is_empty()),
            ..Marker::default()
        }
    }

    /// Writes the marker into the point's folder.
    pub fn write(&self, point: &Point) -> Result<()> {
        write_json_atomic(point.folder.join(STATUS_FILE), self)
    }

    /// The marker of `point`, if any.
    pub fn read(point: &Point) -> Option<Marker> {
        serde_json::from_str(&std::fs::read_to_string(point.folder.join(STATUS_FILE)).ok()?).ok()
    }

    /// This marker turned into a failure with `error`.
    pub fn failed(mut self, error: &str) -> Marker {
        self.state = "failed".into();
        self.error = Some(error.to_string());
        self.finished = Some(crate::report::now());
        self
    }
}

/// Whether process `pid` lives on this machine (Linux `/proc`; a zombie, killed but not yet
/// reaped, does not count).
fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // `pid (comm) S ...`: the state follows the last `)`
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|st| st != "Z" && st != "X"),
        Err(_) => false,
    }
}

/// Where a point stands.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    Complete,
    /// In the Slurm queue: the job (`JOB_TASK`) and its state (PENDING, RUNNING, ...).
    Queued {
        job: String,
        state: String,
    },
    /// Running in a live process of this machine, or (`checked` false) started by a process of
    /// another machine that this one cannot see.
    Running {
        host: String,
        pid: u32,
        since: String,
        checked: bool,
    },
    /// Failed: the error when the process could report it, and its log.
    Failed {
        error: String,
        log: Option<String>,
    },
    /// Started by a local process that is gone without finishing (killed or interrupted).
    Interrupted {
        since: String,
        log: Option<String>,
    },
    /// Holds the record of another identity (what differs), and nothing runs it.
    Stale {
        differs: String,
    },
    /// Never run.
    NotStarted,
}

impl State {
    /// A short word for tables.
    pub fn word(&self) -> String {
        match self {
            State::Complete => "complete".into(),
            State::Queued { state, .. } => state.to_lowercase(),
            State::Running { .. } => "running".into(),
            State::Failed { .. } => "failed".into(),
            State::Interrupted { .. } => "interrupted".into(),
            State::Stale { .. } => "stale".into(),
            State::NotStarted => "not started".into(),
        }
    }
}

/// The state of `point`. `queue` maps `JOB_TASK` to the Slurm state of the array tasks in the
/// queue; `submitted` is the (job, task) of the latest submission of this sweep that holds the
/// point, `slurm_log` that task's log.
pub fn point_state(
    plan: &Plan,
    point: &Point,
    queue: &BTreeMap<String, String>,
    submitted: Option<(&str, usize)>,
    slurm_log: Option<PathBuf>,
) -> State {
    // read once: complete when its identity is this sweep's, stale when it is another's
    let record = read_record(point);
    if record.as_ref().is_some_and(|r| r.identity == plan.identity(point)) {
        return State::Complete;
    }
    if let Some((job, task)) = submitted {
        let id = format!("{job}_{task}");
        if let Some(s) = queue.get(&id) {
            return State::Queued { job: id, state: s.clone() };
        }
    }
    let slurm_log = slurm_log.map(|p| p.display().to_string());
    let marker = Marker::read(point);
    // a task of a submission this sweep has no record of (a hand-made sbatch) counts too
    if let Some(m) = &marker {
        if let (Some(job), Some(task)) = (&m.slurm_job, &m.slurm_task) {
            let id = format!("{job}_{task}");
            if let Some(s) = queue.get(&id) {
                return State::Queued { job: id, state: s.clone() };
            }
        }
    }
    match marker {
        Some(m) if m.state == "failed" => {
            State::Failed { error: m.error.unwrap_or_else(|| "failed".into()), log: m.log.or(slurm_log) }
        }
        Some(m) if m.slurm_job.is_some() => State::Failed {
            error:
                "the task ended without finishing or reporting an error (time limit, memory, node failure or scancel?)"
                    .into(),
            log: m.log.or(slurm_log),
        },
        Some(m) if m.host != host_name() => {
            State::Running { host: m.host, pid: m.pid, since: m.started, checked: false }
        }
        Some(m) if pid_alive(m.pid) && m.pid != std::process::id() => {
            State::Running { host: m.host, pid: m.pid, since: m.started, checked: true }
        }
        Some(m) => State::Interrupted { since: m.started, log: m.log },
        None if submitted.is_some() => State::Failed {
            error: "the task left the queue without starting the point (cancelled, or failed before the script ran)"
                .into(),
            log: slurm_log,
        },
        None => match record.and_then(|r| stale(plan, point, &r.identity)) {
            Some(differs) => State::Stale { differs },
            None => State::NotStarted,
        },
    }
}

/// The records of every complete point (plan order) and the points that are not complete.
pub fn gather(plan: &Plan) -> (Vec<PointResult>, Vec<&Point>) {
    let mut records = Vec::new();
    let mut missing = Vec::new();
    for p in &plan.points {
        match read_complete_record(plan, p) {
            Some(r) => records.push(r),
            None => missing.push(p),
        }
    }
    (records, missing)
}

/// The collected table of `rows`: mean and 95 % confidence interval per group.
pub fn summarize_rows(plan: &Plan, rows: &[Value]) -> Result<Summary> {
    Ok(summarize(rows, &plan.group_fields(rows))?.with_spread(Spread::Ci95))
}

/// Warnings about complete points (`records`) that ran under different conditions: libtorch
/// threads, device, or version of the script.
pub fn mixed_conditions(records: &[PointResult]) -> Vec<String> {
    let mut out = Vec::new();
    let mut distinct = |what: &str, values: Vec<String>| {
        let seen = first_seen(values);
        if seen.len() > 1 {
            out.push(format!("the points ran with different {what}: {}", seen.join(", ")));
        }
    };
    distinct("libtorch CPU threads", records.iter().map(|r| r.threads.to_string()).collect());
    distinct("devices", records.iter().map(|r| r.device.clone()).collect());
    distinct(
        "versions of the script (SHA-256)",
        records.iter().map(|r| r.script_sha256.chars().take(12).collect()).collect(),
    );
    out
}

/// Writes `<root>/sweep_summary.{csv,json}` and `<root>/sweep_rows.json`.
pub fn save_collected(plan: &Plan, rows: &[Value], summary: &Summary, run: &RunInfo) -> Result<()> {
    summary.save(&plan.root, SUMMARY_NAME, run)?;
    crate::report::save_result(&plan.root.join("sweep_rows.json"), &serde_json::json!({ "rows": rows }), run)
}
