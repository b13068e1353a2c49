//! Script bindings for evaluation (`src/metrics`) and result tables (`src/report/table.rs`).
use super::models::ModelHandle;
use super::options::map_to_json;
use super::requests::Request;
use super::unlearning::UnlearnedHandle;
use super::{ctx, rt, RhaiResult};
use crate::data::Dataset;
use crate::metrics::{evaluate_model, gaps, run_time_efficiency, tug_of_war, MiaOptions};
use crate::report::summary::{summarize, Summary};
use crate::report::table::{Row, Table};
use rhai::plugin::*;
use rhai::{Array, Dynamic, Engine, Map};

#[export_module]
pub mod metrics_api {
    use super::*;

    /// Evaluates unlearning results (and plain models, shown as "original") on `request`:
    /// retain / forget / test accuracy (test on `evaluation`, e.g. reference_split().evaluation),
    /// the paper's MIA (method.md §4.5), time. Options: reference (the retrained result: adds gaps,
    /// Tug-of-War and speed-up), seed (MIA; the run's), mia_swap (true: the reference's swap
    /// rule under 42). Returns a Table to print or save.
    #[rhai_fn(return_raw)]
    pub fn evaluate(
        context: NativeCallContext,
        items: Array,
        request: Request,
        evaluation: Dataset,
        options: Map,
    ) -> RhaiResult<Table> {
        let c = ctx(&context)?;
        let known = ["reference", "seed", "mia_swap"];
        if let Some(k) = options.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(rt(format!("unknown option `{k}` for evaluate() (known: {})", known.join(", "))));
        }
        let seed = match options.get("seed") {
            Some(v) => v.as_int().map_err(|t| rt(format!("evaluate(): `seed` is a {t}")))? as u64,
            None => c.seed,
        };
        let swap = options.get("mia_swap").map(|v| v.as_bool().unwrap_or(true)).unwrap_or(true);
        let mia = MiaOptions { seed, swap_below: swap.then_some(42.0) };
        let mut rows = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let (name, model, seconds) = if let Some(u) = item.clone().try_cast::<UnlearnedHandle>() {
                (u.result.method.clone(), u.model.clone(), u.result.seconds)
            } else if let Some(m) = item.try_cast::<ModelHandle>() {
                ("original".to_string(), m, 0.0)
            } else {
                return Err(rt(format!("evaluate(): item {i} is neither an unlearning result nor a model")));
            };
            let metrics = evaluate_model(&model.0.borrow().model, &request.data, &request.request, &evaluation, &mia)
                .map_err(rt)?;
            rows.push(Row { method: name, seconds, metrics, gaps: None, tug_of_war: None, speedup: None });
        }
        let mut reference = None;
        if let Some(r) = options.get("reference") {
            let u = r
                .clone()
                .try_cast::<UnlearnedHandle>()
                .ok_or_else(|| rt("evaluate(): `reference` must be an unlearning result (e.g. the retrained one)"))?;
            let ref_metrics =
                evaluate_model(&u.model.0.borrow().model, &request.data, &request.request, &evaluation, &mia)
                    .map_err(rt)?;
            for row in &mut rows {
                let g = gaps(&row.metrics, &ref_metrics);
                row.tug_of_war = Some(tug_of_war(&g));
                row.gaps = Some(g);
                if row.seconds > 0.0 {
                    row.speedup = Some(run_time_efficiency(u.result.seconds, row.seconds));
                }
            }
            reference = Some(u.result.method.clone());
        }
        Ok(Table { rows, reference })
    }
    /// evaluate() with the default options.
    #[rhai_fn(name = "evaluate", return_raw)]
    pub fn evaluate_default(
        context: NativeCallContext,
        items: Array,
        request: Request,
        evaluation: Dataset,
    ) -> RhaiResult<Table> {
        evaluate(context, items, request, evaluation, Map::new())
    }

    /// The rows: an array of maps (method, seconds, metrics, gaps, tug_of_war, speedup).
    #[rhai_fn(get = "rows", pure, return_raw)]
    pub fn table_rows(t: &mut Table) -> RhaiResult<Dynamic> {
        rhai::serde::to_dynamic(&t.rows)
    }
    /// Writes `<dir>/table.csv` and `<dir>/table.json` (with the run record), atomically; returns dir.
    #[rhai_fn(name = "save", return_raw)]
    pub fn table_save(context: NativeCallContext, t: &mut Table, dir: &str) -> RhaiResult<String> {
        let c = ctx(&context)?;
        t.save(std::path::Path::new(dir), &c.info).map_err(rt)?;
        Ok(dir.to_string())
    }
    /// Flat rows of the table (method, accuracies, mia, mia_raw, seconds, speedup, gap_*, tug_of_war),
    /// ready for summarize().
    #[rhai_fn(name = "flat_rows", pure, return_raw)]
    pub fn table_flat_rows(t: &mut Table) -> RhaiResult<Array> {
        let mut out = Array::new();
        for r in &t.rows {
            let m = &r.metrics;
            let mut row = Map::new();
            row.insert("method".into(), Dynamic::from(r.method.clone()));
            for (k, v) in [
                ("retain_acc", m.retain_acc),
                ("forget_acc", m.forget_acc),
                ("test_acc", m.test_acc),
                ("mia", m.mia.score),
                ("mia_raw", m.mia.raw),
                ("seconds", r.seconds),
            ] {
                row.insert(k.into(), Dynamic::from_float(v));
            }
            if let (Some(g), Some(tow)) = (&r.gaps, r.tug_of_war) {
                for (k, v) in [
                    ("gap_retain", g.retain),
                    ("gap_forget", g.forget),
                    ("gap_test", g.test),
                    ("gap_mia", g.mia),
                    ("gap_mean", g.mean),
                    ("tug_of_war", tow),
                ] {
                    row.insert(k.into(), Dynamic::from_float(v));
                }
            }
            if let Some(s) = r.speedup {
                row.insert("speedup".into(), Dynamic::from_float(s));
            }
            out.push(row.into());
        }
        Ok(out)
    }
    /// Mean ± std (sample) over runs: `rows` (maps) grouped by the fields named in `by`; every
    /// other numeric field except `seed` is summarised.
    #[rhai_fn(name = "summarize", return_raw)]
    pub fn summarize_rows(rows: Array, by: Array) -> RhaiResult<Summary> {
        let by: Vec<String> = by
            .into_iter()
            .map(|b| b.into_string().map_err(|t| rt(format!("summarize(): a grouping field is a {t}"))))
            .collect::<RhaiResult<_>>()?;
        let rows: Vec<serde_json::Value> = rows
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let m = r.try_cast::<Map>().ok_or_else(|| rt(format!("summarize(): row {i} is not a map")))?;
                map_to_json("summarize", &m).map_err(rt)
            })
            .collect::<RhaiResult<_>>()?;
        summarize(&rows, &by).map_err(rt)
    }
    /// Writes `<dir>/<name>.csv` and `<dir>/<name>.json` (with the run record); returns dir.
    #[rhai_fn(name = "save", return_raw)]
    pub fn summary_save(context: NativeCallContext, s: &mut Summary, dir: &str, name: &str) -> RhaiResult<String> {
        let c = ctx(&context)?;
        s.save(std::path::Path::new(dir), name, &c.info).map_err(rt)?;
        Ok(dir.to_string())
    }
    #[rhai_fn(name = "to_string", pure)]
    pub fn summary_to_string(s: &mut Summary) -> String {
        s.to_text()
    }
    #[rhai_fn(name = "to_debug", pure)]
    pub fn summary_to_debug(s: &mut Summary) -> String {
        s.to_text()
    }
    #[rhai_fn(name = "to_string", pure)]
    pub fn table_to_string(t: &mut Table) -> String {
        t.to_text()
    }
    #[rhai_fn(name = "to_debug", pure)]
    pub fn table_to_debug(t: &mut Table) -> String {
        t.to_text()
    }
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Table>("Table");
    engine.register_type_with_name::<Summary>("Summary");
    engine.register_global_module(exported_module!(metrics_api).into());
}
