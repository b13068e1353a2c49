//! Script binding of sweeps (issue 10): `sweep(#{ grid, ... }, |point| ...)` defines the points
//! and the experiment function; the command line decides what happens to them (see
//! [`crate::sweep::Action`]). The plan, records, Slurm, child processes and the executor itself
//! ([`crate::sweep::Runner`]) live in [`crate::sweep`]; this layer turns the definition into a
//! [`Plan`] and the script's function into the runner's point function.
use super::options::{check_keys, map_to_json};
use super::{ctx, rt, RhaiResult, RunContext};
use crate::report::summary::Summary;
use crate::report::table::Table;
use crate::sweep::{self, Outcome, Plan, Point, PointError, PointRow, Runner};
use rhai::plugin::*;
use rhai::{Array, Dynamic, FnPtr, Map};
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
fn rows_of(value: Dynamic) -> Result<Vec<PointRow>, String> {
    if value.is::<Table>() {
        return Ok(value.cast::<Table>().flat_rows());
    }
    let items: Array = if value.is_map() {
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

/// A script error as the runner's point error: the script's own error, position included,
/// passes through the runner unchanged.
struct ScriptError(Box<EvalAltResult>);

impl From<crate::error::Error> for ScriptError {
    fn from(e: crate::error::Error) -> Self {
        ScriptError(rt(e))
    }
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl PointError for ScriptError {
    /// A terminated script (the `--timeout`) ends the whole run, not just the point.
    fn ends_run(&self) -> bool {
        matches!(*self.0, EvalAltResult::ErrorTerminated(..))
    }
}

/// Calls the script's function `f` on `point`: the point's folder is the output folder and its
/// seed ([`Plan::point_seed`]) the run's seed meanwhile.
fn call_point(
    context: &NativeCallContext,
    c: &RunContext,
    plan: &Plan,
    point: &Point,
    f: &FnPtr,
) -> Result<Vec<PointRow>, ScriptError> {
    let mut values = Map::new();
    for (k, v) in &point.values {
        values.insert(k.as_str().into(), rhai::serde::to_dynamic(v).map_err(ScriptError)?);
    }
    c.points_run.set(c.points_run.get() + 1);
    let previous = c.set_out_dir(point.folder.clone());
    let previous_seed = c.set_seed(plan.point_seed(point));
    let result = f.call_within_context::<Dynamic>(context, (values,));
    c.set_out_dir(previous);
    c.set_seed(previous_seed);
    rows_of(result.map_err(ScriptError)?).map_err(|e| ScriptError(rt(e)))
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
        let runner = Runner::new(&plan, &c.sweep, &c.info);
        match runner.execute(|point| call_point(&context, &c, &plan, point, &experiment)) {
            Ok(Outcome::Collected(summary)) => Ok(summary),
            Ok(Outcome::Done) => Err(crate::script::sweep_done()),
            Err(ScriptError(e)) => Err(e),
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

super::binding_package!(
    /// The script functions and types of sweeps.
    SweepPackage,
    "sweep",
    sweep_api,
    []
);
