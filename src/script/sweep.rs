//! Script binding of sweeps (issue 10): `sweep(#{ grid, ... }, |point| ...)` defines the points
//! and the experiment function; the command line decides what happens to them (see
//! [`crate::sweep::Action`]). The plan, records, Slurm and child processes live in
//! [`crate::sweep`]; this layer only calls the script's function.
use super::options::{check_keys, map_to_json};
use super::{ctx, rt, RhaiResult, RunContext};
use crate::report::summary::Summary;
use crate::report::table::Table;
use crate::sweep::{self, local, slurm, Action, Marker, Plan, Point, State};
use rhai::plugin::*;
use rhai::{Array, Dynamic, Engine, FnPtr, Map};
use serde_json::Value;
use std::rc::Rc;

/// The keys of a sweep definition (`sweep(#{ ... }, ...)`, `sweep_plan(#{ ... })`).
pub const KEYS: [&str; 6] = ["name", "grid", "points", "out", "group_by", "config"];

fn json(v: &Dynamic, what: &str) -> RhaiResult<Value> {
    serde_json::to_value(v).map_err(|e| rt(format!("sweep(): {what} cannot be recorded ({e})")))
}

/// The plan of a sweep definition.
fn plan_of(context: &NativeCallContext, c: &RunContext, def: &Map) -> RhaiResult<Plan> {
    check_keys("sweep", def, &KEYS)?;
    let text = |key: &str| -> RhaiResult<Option<String>> {
        def.get(key)
            .map(|v| v.clone().into_string().map_err(|t| rt(format!("sweep(): `{key}` is a {t}, expected a string"))))
            .transpose()
    };
    let name = match text("name")? {
        Some(n) => n,
        None => std::path::Path::new(&c.info.script)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "sweep".into()),
    };
    let root = match text("out")? {
        Some(o) => super::allowed(context, &o, "sweep output folder")?,
        None => c.out_dir(),
    };
    let (params, points) = match (def.get("grid"), def.get("points")) {
        (Some(g), None) => {
            let g = g.clone().try_cast::<Map>().ok_or_else(|| {
                rt("sweep(): `grid` must be a map from parameter names to lists, e.g. #{ seed: [1, 2, 3] }")
            })?;
            let mut grid = Vec::new();
            for (k, v) in g {
                let values = v.clone().try_cast::<Array>().ok_or_else(|| {
                    rt(format!("sweep(): grid parameter `{k}` is a {}, expected a list of values", v.type_name()))
                })?;
                let values = values.iter().map(|x| json(x, &format!("a value of `{k}`"))).collect::<RhaiResult<_>>()?;
                grid.push((k.to_string(), values));
            }
            let params = grid.iter().map(|(k, _)| k.clone()).collect();
            (params, sweep::grid_points(&grid).map_err(rt)?)
        }
        (None, Some(p)) => {
            let list = p.clone().try_cast::<Array>().ok_or_else(|| rt("sweep(): `points` must be a list of maps"))?;
            let mut points = Vec::new();
            for (i, item) in list.iter().enumerate() {
                let m = item
                    .clone()
                    .try_cast::<Map>()
                    .ok_or_else(|| rt(format!("sweep(): point {i} is a {}, expected a map", item.type_name())))?;
                match map_to_json("sweep", &m).map_err(rt)? {
                    Value::Object(o) => points.push(o),
                    _ => unreachable!("a map converts to an object"),
                }
            }
            let params = points.first().map(|p| p.keys().cloned().collect()).unwrap_or_default();
            (params, points)
        }
        _ => return Err(rt("sweep(): give either `grid` (a map of lists) or `points` (a list of maps)")),
    };
    let config = match def.get("config") {
        Some(v) => json(v, "`config`")?,
        None => Value::Null,
    };
    let mut plan = Plan::new(&name, &root, params, points, config, c.options.clone(), c.seed())
        .map_err(|e| rt(format!("sweep(): {e}")))?;
    plan.script_sha256 = c.info.script_sha256.clone();
    plan.compute = c.compute.clone();
    if let Some(g) = def.get("group_by") {
        let list =
            g.clone().try_cast::<Array>().ok_or_else(|| rt("sweep(): `group_by` must be a list of field names"))?;
        plan.group_by = list
            .into_iter()
            .map(|x| x.into_string().map_err(|t| rt(format!("sweep(): a `group_by` field is a {t}"))))
            .collect::<RhaiResult<_>>()?;
    }
    Ok(plan)
}

/// The rows a point's function returned: a map (one row), a list of maps, or an evaluate() table.
fn rows_of(value: Dynamic) -> Result<Vec<serde_json::Map<String, Value>>, String> {
    let items: Array = if value.is::<Table>() {
        let mut t = value.cast::<Table>();
        super::metrics::metrics_api::table_flat_rows(&mut t).map_err(|e| e.to_string())?
    } else if value.is_map() {
        vec![value]
    } else if value.is_array() {
        value.cast::<Array>()
    } else {
        return Err(format!(
            "the sweep's function returned a {}: expected a map (one row), a list of maps, or an evaluate() table",
            value.type_name()
        ));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, r)| match serde_json::to_value(&r) {
            Ok(Value::Object(o)) if r.is_map() => Ok(o),
            Ok(_) => Err(format!("row {i} of the sweep's function is a {}, expected a map", r.type_name())),
            Err(e) => Err(format!("row {i} of the sweep's function cannot be recorded ({e})")),
        })
        .collect()
}

/// Whether `e` ends the whole run (the `--timeout`), not just the point.
fn ends_run(e: &EvalAltResult) -> bool {
    matches!(e, EvalAltResult::ErrorTerminated(..))
}

/// Runs `point` in this process: its folder is the output folder and its seed
/// ([`Plan::point_seed`]) the run's seed while the function runs, every generator seeded with it
/// first (so a point gives the same result wherever and in whatever order it runs); the record or
/// the failure marker is written after.
fn run_point(context: &NativeCallContext, c: &RunContext, plan: &Plan, point: &Point, f: &FnPtr) -> RhaiResult<()> {
    std::fs::create_dir_all(&point.folder).map_err(|e| rt(format!("{}: {e}", point.folder.display())))?;
    let marker = Marker::running();
    marker.write(point).map_err(rt)?;
    c.points_run.set(c.points_run.get() + 1);
    let previous = c.set_out_dir(point.folder.clone());
    let seed = plan.point_seed(point);
    let previous_seed = c.set_seed(seed);
    crate::runtime::seed_everything(seed);
    let mut values = Map::new();
    for (k, v) in &point.values {
        values.insert(k.as_str().into(), rhai::serde::to_dynamic(v)?);
    }
    let t0 = std::time::Instant::now();
    let result = f.call_within_context::<Dynamic>(context, (values,));
    c.set_out_dir(previous);
    c.set_seed(previous_seed);
    let seconds = t0.elapsed().as_secs_f64();
    let outcome = result.and_then(|v| {
        let rows = rows_of(v).map_err(rt)?;
        sweep::write_complete(plan, point, sweep::with_point_values(rows, point), seconds, &c.info).map_err(rt)
    });
    if let Err(e) = &outcome {
        let _ = marker.failed(&e.to_string()).write(point);
    }
    outcome
}

/// The collected table of a sweep, saved in its root and printed; an error lists the points that
/// are missing unless `allow_partial`.
fn collect(c: &RunContext, plan: &Plan, allow_partial: bool) -> RhaiResult<Summary> {
    let (records, missing) = sweep::gather(plan);
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
            return Err(rt(format!("{msg}\n(`--status` says why; `--collect --allow-partial` summarises the rest)")));
        }
        crate::errln!("warning: {msg}");
    }
    let rows: Vec<Value> = records.iter().flat_map(|r| r.rows.iter().cloned()).collect();
    if rows.is_empty() {
        return Err(rt(format!("sweep `{}`: no point is complete yet", plan.name)));
    }
    for w in sweep::mixed_conditions(&records) {
        crate::errln!("warning: sweep `{}`: {w}", plan.name);
    }
    let summary = sweep::summarize_rows(plan, &rows).map_err(rt)?;
    sweep::save_collected(plan, &rows, &summary, &c.info).map_err(rt)?;
    crate::out!("{}", summary.to_text());
    crate::outln!(
        "collected {} rows of {} points into {}",
        rows.len(),
        plan.points.len() - missing.len(),
        plan.root.join(format!("{}.csv", sweep::SUMMARY_NAME)).display()
    );
    Ok(summary)
}

/// Submits `points` to Slurm and says what was written and submitted.
fn submit(c: &RunContext, plan: &Plan, points: &[usize], opts: &slurm::SlurmOptions) -> RhaiResult<()> {
    plan.save().map_err(rt)?;
    let arrays = slurm::submit(plan, points, opts, &c.sweep.exe, &c.sweep.point_args, c.sweep.threads).map_err(rt)?;
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

/// Refuses to replace records of another configuration unless `--overwrite` was given.
fn check_stale(c: &RunContext, plan: &Plan, states: &[State]) -> RhaiResult<()> {
    let stale: Vec<(usize, &String)> = plan
        .points
        .iter()
        .zip(states)
        .filter_map(|(p, s)| match s {
            State::Stale { differs } => Some((p.index, differs)),
            _ => None,
        })
        .collect();
    if stale.is_empty() || c.sweep.overwrite {
        return Ok(());
    }
    Err(rt(format!(
        "{} points of sweep `{}` in {} hold results of another configuration (point {}: {}); \
         give another --out, or pass --overwrite to `unlearn sweep` to replace them",
        stale.len(),
        plan.name,
        plan.root.display(),
        stale[0].0,
        stale[0].1
    )))
}

fn in_queue(s: &State) -> bool {
    matches!(s, State::Queued { .. } | State::Running { .. })
}

/// The indices of the points whose state passes `keep`.
fn points_where(plan: &Plan, states: &[State], keep: impl Fn(&State) -> bool) -> Vec<usize> {
    plan.points.iter().zip(states).filter(|(_, s)| keep(s)).map(|(p, _)| p.index).collect()
}

/// Neither complete nor queued or running: what a run or a submission takes on.
fn to_run(s: &State) -> bool {
    !matches!(s, State::Complete) && !in_queue(s)
}

#[export_module]
pub mod sweep_api {
    use super::*;

    /// A sweep: `def` is #{ grid: #{ name: [values], ... } (or points: [#{...}, ...]), name (the
    /// script's name), out (out_dir()), group_by (method and every parameter but seed),
    /// config (anything the results depend on) }; `experiment` is called with each point's
    /// parameters (a map) and returns its rows (a map, a list of maps, or an evaluate() table);
    /// out_dir() is the point's own folder meanwhile. Under `unlearn run` every point that is not
    /// complete runs here; `unlearn sweep` can plan, run N at a time, or submit to Slurm (and then
    /// wants one sweep per script).
    /// Returns the collected table: mean ± 95 % confidence interval per group.
    #[rhai_fn(return_raw)]
    pub fn sweep(context: NativeCallContext, def: Map, experiment: FnPtr) -> RhaiResult<Summary> {
        let c: Rc<RunContext> = ctx(&context)?;
        // `unlearn sweep` acts on the script's one sweep (`--point I` must mean one thing); a run
        // in this process (`unlearn run`, a notebook) may hold several
        if c.sweep_called.replace(true) && !c.sweep.point_args.is_empty() {
            return Err(rt("sweep(): under `unlearn sweep` a script defines one sweep, and this is its second call"));
        }
        let plan = plan_of(&context, &c, &def)?;
        // a sweep with its own `out` folder holds that folder too (the run holds --out; the same
        // folder is an inner claim)
        let _lock = if c.sweep.action.writes_output() {
            Some(crate::io::OutputLock::acquire(&plan.root, &format!("sweep `{}`", plan.name)).map_err(rt)?)
        } else {
            None
        };
        match c.sweep.action.clone() {
            Action::Plan => {
                crate::out!("{}", plan.describe());
                Err(crate::script::sweep_done())
            }
            Action::Status => {
                let states = slurm::states(&plan, true).map_err(rt)?;
                crate::out!("{}", local::status_report(&plan, &states));
                Err(crate::script::sweep_done())
            }
            Action::Collect { allow_partial } => collect(&c, &plan, allow_partial),
            Action::Point(i) => {
                let point = plan.point(i).map_err(rt)?;
                if let Some(saved) = Plan::load_saved(&plan.root).map_err(rt)? {
                    if saved.points.get(i).map(|p| &p.values) != Some(&point.values) {
                        return Err(rt(format!(
                            "sweep `{}`: point {i} is now ({}) but was ({}) when the sweep was started; \
                             the script changed: run or submit the sweep again",
                            plan.name,
                            point.label(),
                            saved.points.get(i).map(Point::label).unwrap_or_else(|| "absent".into())
                        )));
                    }
                }
                if sweep::read_complete(&plan, point).is_some() {
                    crate::outln!("point {i} ({}) is already complete: {}", point.label(), point.folder.display());
                } else {
                    crate::outln!("point {i} ({}): running into {}", point.label(), point.folder.display());
                    run_point(&context, &c, &plan, point, &experiment)?;
                    crate::outln!("point {i}: complete");
                }
                Err(crate::script::sweep_done())
            }
            Action::Slurm(opts) => {
                let states = slurm::states(&plan, true).map_err(rt)?;
                check_stale(&c, &plan, &states)?;
                let todo = points_where(&plan, &states, to_run);
                let skipped = plan.points.len() - todo.len();
                if todo.is_empty() {
                    crate::outln!("sweep `{}`: every point is complete or queued; nothing to submit", plan.name);
                } else {
                    if skipped > 0 {
                        crate::outln!("{skipped} points are complete or queued and are not submitted again");
                    }
                    submit(&c, &plan, &todo, &opts)?;
                }
                Err(crate::script::sweep_done())
            }
            Action::ResubmitFailed(opts) => {
                let states = slurm::states(&plan, true).map_err(rt)?;
                let failed =
                    points_where(&plan, &states, |s| matches!(s, State::Failed { .. } | State::Interrupted { .. }));
                if failed.is_empty() {
                    crate::outln!("sweep `{}`: no failed points", plan.name);
                } else {
                    crate::out!("{}", local::status_report(&plan, &states));
                    submit(&c, &plan, &failed, &opts)?;
                }
                Err(crate::script::sweep_done())
            }
            Action::Run { jobs } => {
                let states = slurm::states(&plan, false).map_err(rt)?;
                check_stale(&c, &plan, &states)?;
                let busy: Vec<String> = points_where(&plan, &states, in_queue)
                    .iter()
                    .map(|&i| format!("{i} ({})", states[i].word()))
                    .collect();
                let todo = points_where(&plan, &states, to_run);
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
                    plan.save().map_err(rt)?;
                }
                let mut failed: Vec<String> = Vec::new();
                if jobs > 1 && !c.sweep.point_args.is_empty() {
                    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
                    let threads = c.sweep.threads.unwrap_or(((cores / jobs.min(todo.len().max(1))).max(1)) as i32);
                    let out =
                        local::run_children(&plan, &todo, jobs, threads, &c.sweep.exe, &c.sweep.point_args, |l| {
                            crate::outln!("{l}")
                        })
                        .map_err(rt)?;
                    failed.extend(
                        out.into_iter()
                            .map(|(i, log)| format!("  {i}: {}; log {}", plan.points[i].label(), log.display())),
                    );
                } else {
                    for (n, &i) in todo.iter().enumerate() {
                        let point = &plan.points[i];
                        crate::outln!("point {i} ({}), {} of {}: running", point.label(), n + 1, todo.len());
                        let t0 = std::time::Instant::now();
                        match run_point(&context, &c, &plan, point, &experiment) {
                            Ok(()) => crate::outln!("point {i}: complete in {:.1} s", t0.elapsed().as_secs_f64()),
                            Err(e) if ends_run(&e) => return Err(e),
                            Err(e) => {
                                crate::errln!("point {i} ({}) FAILED: {e}", point.label());
                                failed.push(format!("  {i}: {}: {e}", point.label()));
                            }
                        }
                    }
                }
                if !failed.is_empty() {
                    return Err(rt(format!(
                        "{} of the {} points of sweep `{}` failed (the others are complete and a rerun skips them):\n{}",
                        failed.len(),
                        plan.points.len(),
                        plan.name,
                        failed.join("\n")
                    )));
                }
                collect(&c, &plan, false)
            }
        }
    }

    /// The output folder of a sweep definition's points, without running anything: a list of
    /// #{ index, point, folder, complete }.
    #[rhai_fn(return_raw)]
    pub fn sweep_plan(context: NativeCallContext, def: Map) -> RhaiResult<Array> {
        let c = ctx(&context)?;
        let plan = plan_of(&context, &c, &def)?;
        plan.points
            .iter()
            .map(|p| {
                let mut m = Map::new();
                m.insert("index".into(), Dynamic::from_int(p.index as i64));
                m.insert("point".into(), rhai::serde::to_dynamic(&p.values)?);
                m.insert("folder".into(), Dynamic::from(p.folder.display().to_string()));
                m.insert("complete".into(), Dynamic::from_bool(sweep::read_complete(&plan, p).is_some()));
                Ok(Dynamic::from_map(m))
            })
            .collect()
    }
}

pub fn register(engine: &mut Engine) {
    engine.register_global_module(exported_module!(sweep_api).into());
}
