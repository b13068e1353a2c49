//! Script bindings for evaluation (`src/metrics`, [`crate::report::evaluate`]) and result tables
//! (`src/report/table.rs`): an evaluate() item becomes a typed [`Item`]; the evaluation is the
//! core's.
use super::models::ModelHandle;
use super::options::{bool_or, check_keys, int_or, map_to_json};
use super::request::Request;
use super::unlearn::UnlearnedHandle;
use super::{ctx, rt, RhaiResult};
use crate::data::Dataset;
use crate::metrics::curve::Tolerances;
use crate::metrics::lira::{train_shadows, LiraConfig, ShadowBank};
use crate::metrics::relearn::RelearnConfig;
use crate::metrics::{EvalContext, MiaOptions};
use crate::models::Model;
use crate::report::evaluate::{Audits, Item};
use crate::report::summary::{summarize, Summary};
use crate::report::table::Table;
use rhai::plugin::*;
use rhai::{Array, CustomType, Dynamic, Map, TypeBuilder};
use std::rc::Rc;

/// The options of `evaluate()`.
pub const EVALUATE_KEYS: [&str; 8] =
    ["reference", "seed", "mia_swap", "lira", "original", "relearn", "retain_mia", "retrain_like"];
/// The options of `mia()`.
pub const MIA_KEYS: [&str; 2] = ["seed", "mia_swap"];
/// The option `shadow_models()` takes besides [`LiraConfig`]'s (the unseen reference).
pub const SHADOW_UNSEEN: &str = "unseen";
/// The options of `summarize()`.
pub const SUMMARIZE_KEYS: [&str; 1] = ["spread"];

#[export_module]
pub mod metrics_api {
    use super::*;

    /// Evaluates unlearning results and models on `request`: retain / forget / test accuracy
    /// (test on `evaluation`, e.g. reference_split().evaluation), the paper's MIA (method.md §4.5),
    /// time per phase. An item is an unlearn() result (named after its method, `+blend` when it
    /// trained on a reduced set, with that set's condensation time), a Model (named "original"),
    /// or #{ name, model } with a Model or result. Options: reference (the retrained result: adds
    /// gaps, Tug-of-War and speed-up), lira (a shadow bank from shadow_models(): adds the
    /// likelihood-ratio attack), seed (MIA; the run's), mia_swap (true: the reference's swap rule
    /// under 42), original (the original model: the relearning test's target and the retain-side
    /// MIA's baseline), relearn (true or its options #{ lr: 0.01, momentum: 0.9, batch_size: 32,
    /// max_steps: 200, tolerance: 0.0 }: steps of SGD on the forget set until forget accuracy is
    /// back to the original's; needs original), retain_mia (true: the MIA of retain vs held-out
    /// items, and its change from the original's), retrain_like (#{ accuracy: 0.02, mia: 2.0 }:
    /// what counts as Retrain-like for traced results' time to Retrain-like). An item map may
    /// carry `forgetting` (a forgetting_score() result) for its row. Returns a Table to print,
    /// save or plot.
    #[rhai_fn(return_raw)]
    pub fn evaluate(
        context: NativeCallContext,
        items: Array,
        request: Request,
        evaluation: Dataset,
        options: Map,
    ) -> RhaiResult<Table> {
        crate::script::experiment_work(&context, "evaluate()")?;
        let c = ctx(&context)?;
        check_keys("evaluate", &options, &EVALUATE_KEYS)?;
        let mia = mia_options("evaluate", c.seed(), &options)?;
        let lira = match options.get("lira") {
            Some(v) => Some(v.clone().try_cast::<ShadowBankHandle>().ok_or_else(|| {
                rt(format!("evaluate(): `lira` is a {}, expected a shadow bank (shadow_models())", v.type_name()))
            })?),
            None => None,
        };
        let ectx = EvalContext::new(&request.data, &request.request, &evaluation, mia, lira.as_ref().map(|b| &*b.0))
            .map_err(rt)?;
        let resolved: Vec<Resolved> =
            items.into_iter().enumerate().map(|(i, item)| resolve(item, i)).collect::<RhaiResult<_>>()?;
        let not_a_reference = |_| {
            rt("evaluate(): `reference` must be an unlearning result (e.g. the retrained one), a model or #{ name, model }")
        };
        let reference = options.get("reference").map(|r| resolve(r.clone(), 0).map_err(not_a_reference)).transpose()?;
        // every model stays borrowed while the table is made (the reference may be one of them)
        let guards: Vec<_> = resolved.iter().map(|r| r.handle().0.borrow()).collect();
        let ref_guard = reference.as_ref().map(|r| r.handle().0.borrow());
        let items: Vec<Item> =
            resolved.iter().zip(&guards).map(|(r, g)| r.item(&g.model)).collect::<RhaiResult<_>>()?;
        let reference = match (&reference, &ref_guard) {
            (Some(r), Some(g)) => Some(r.item(&g.model).map_err(not_a_reference)?),
            _ => None,
        };
        let original = match options.get("original") {
            Some(v) => Some(v.clone().try_cast::<ModelHandle>().ok_or_else(|| {
                rt(format!("evaluate(): `original` is a {}, expected the original Model", v.type_name()))
            })?),
            None => None,
        };
        let original_guard = original.as_ref().map(|m| m.0.borrow());
        let audits = Audits {
            original: original_guard.as_ref().map(|g| &g.model),
            relearn: match options.get("relearn") {
                None => None,
                Some(v) if v.is_bool() => v.as_bool().ok().filter(|b| *b).map(|_| RelearnConfig::default()),
                Some(v) => {
                    let m = v.clone().try_cast::<Map>().ok_or_else(|| {
                        rt(format!("evaluate(): `relearn` is a {}, expected true or a map of options", v.type_name()))
                    })?;
                    Some(crate::script::options::parse::<RelearnConfig>("evaluate: relearn", &m).map_err(rt)?)
                }
            },
            retain_mia: bool_or("evaluate", &options, "retain_mia", false)?,
            tolerances: match options.get("retrain_like") {
                None => Tolerances::default(),
                Some(v) => {
                    let m = v.clone().try_cast::<Map>().ok_or_else(|| {
                        rt(format!("evaluate(): `retrain_like` is a {}, expected #{{ accuracy, mia }}", v.type_name()))
                    })?;
                    crate::script::options::parse::<Tolerances>("evaluate: retrain_like", &m).map_err(rt)?
                }
            },
            seed: c.seed(),
        };
        Table::evaluate_with(&items, reference.as_ref(), &ectx, &audits).map_err(rt)
    }
    /// Trains the shadow models of a likelihood-ratio attack on the forget items (see
    /// src/metrics/lira.rs) for `request`: each a fresh model of `model`'s architecture trained on
    /// the retain set plus half of the targets (forget items and `heldout` items of the same
    /// classes, e.g. reference_split().evaluation). By default the shadows are trained, not
    /// unlearned: LiRA against the unlearned model. With `unlearned_shadows: true` and `method`
    /// (the method under test, with `method_options`) every shadow is then unlearned with that
    /// method, forgetting its in-targets: U-LiRA proper, a bank for that method's results.
    /// Options: shadows (8), max_targets (500 per side), retain_fraction (1.0), global_variance
    /// (true), train (train() options of each shadow: mimic the original's), seed (the run's),
    /// unlearned_shadows (false), method, method_options (#{}), unseen (the unseen reference an
    /// A-AMU method takes). Pass it to evaluate(..., #{ lira: bank }).
    #[rhai_fn(return_raw)]
    pub fn shadow_models(
        context: NativeCallContext,
        model: ModelHandle,
        request: Request,
        heldout: Dataset,
        options: Map,
    ) -> RhaiResult<ShadowBankHandle> {
        crate::script::experiment_work(&context, "shadow_models()")?;
        let c = ctx(&context)?;
        let mut options = options;
        let unseen =
            match options.remove(SHADOW_UNSEEN) {
                Some(v) => Some(v.clone().try_cast::<Dataset>().ok_or_else(|| {
                    rt(format!("shadow_models(): `unseen` is a {}, expected a Dataset", v.type_name()))
                })?),
                None => None,
            };
        let cfg: LiraConfig = crate::script::options::parse("shadow_models", &options).map_err(rt)?;
        let (spec, device) = {
            let m = model.0.borrow();
            (m.model.spec.clone(), m.model.device())
        };
        let bank =
            train_shadows(&spec, device, &request.data, &request.request, &heldout, unseen.as_ref(), &cfg, c.seed())
                .map_err(rt)?;
        Ok(ShadowBankHandle(Rc::new(bank)))
    }
    /// The likelihood-ratio attack of `bank` against one model or unlearning result:
    /// #{ auc, tpr_at_1pct, tpr_at_01pct, forget_targets, heldout_targets, shadows, shadow_seconds, attack_seconds }.
    #[rhai_fn(return_raw)]
    pub fn lira(bank: ShadowBankHandle, item: Dynamic) -> RhaiResult<Dynamic> {
        let (_, model) = evaluated_item(item, 0)?;
        let score = bank.0.attack(&model.0.borrow().model).map_err(rt)?;
        rhai::serde::to_dynamic(&score)
    }

    /// The paper's MIA (method.md §4.5) of `model` telling `members` from `nonmembers` (the
    /// non-members of the members' classes; the swap rule compares all of `nonmembers` with the
    /// members): #{ score, raw, n, swapped }. E.g. train vs test for
    /// a model trained on a condensed set (method.md §1.7). Options: seed (the run's), mia_swap (true).
    #[rhai_fn(return_raw)]
    pub fn mia(
        context: NativeCallContext,
        item: Dynamic,
        members: Dataset,
        nonmembers: Dataset,
        options: Map,
    ) -> RhaiResult<Dynamic> {
        crate::script::experiment_work(&context, "mia()")?;
        let c = ctx(&context)?;
        check_keys("mia", &options, &MIA_KEYS)?;
        let o = mia_options("mia", c.seed(), &options)?;
        let (_, model) = evaluated_item(item, 0)?;
        let held = crate::metrics::heldout_of_classes(&nonmembers, members.labels_host(), members.num_classes())
            .map_err(rt)?;
        let score =
            crate::metrics::mia::model_mia(&model.0.borrow().model, &members, &held, &nonmembers, &o).map_err(rt)?;
        rhai::serde::to_dynamic(&score)
    }
    #[rhai_fn(name = "mia", return_raw)]
    pub fn mia_default(
        context: NativeCallContext,
        item: Dynamic,
        members: Dataset,
        nonmembers: Dataset,
    ) -> RhaiResult<Dynamic> {
        mia(context, item, members, nonmembers, Map::new())
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

    /// Writes `<dir>/table.csv` and `<dir>/table.json` (with the run record), atomically; returns dir.
    #[rhai_fn(name = "save", return_raw)]
    pub fn table_save(context: NativeCallContext, t: &mut Table, dir: &str) -> RhaiResult<String> {
        crate::script::experiment_work(&context, "save()")?;
        let folder = crate::script::allowed(&context, dir, "output folder")?;
        let c = ctx(&context)?;
        t.save(&folder, &c.info).map_err(rt)?;
        Ok(dir.to_string())
    }
    /// Flat rows of the table (method and the CSV's numeric columns it has), ready for summarize().
    #[rhai_fn(name = "flat_rows", pure, return_raw)]
    pub fn table_flat_rows(t: &mut Table) -> RhaiResult<Array> {
        t.flat_rows().iter().map(rhai::serde::to_dynamic).collect()
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
    /// summarize() with options: `spread` ("std", the default, or "ci95": the tables show
    /// ± the half-width of the 95 % confidence interval of the mean; the CSV has both).
    #[rhai_fn(name = "summarize", return_raw)]
    pub fn summarize_rows_with(rows: Array, by: Array, options: Map) -> RhaiResult<Summary> {
        crate::script::options::check_keys("summarize", &options, &SUMMARIZE_KEYS)?;
        let spread = match options.get("spread") {
            Some(v) => {
                let s = v
                    .clone()
                    .into_string()
                    .map_err(|t| rt(format!("summarize(): `spread` is a {t}, expected \"std\" or \"ci95\"")))?;
                crate::report::summary::Spread::parse(&s).map_err(rt)?
            }
            None => crate::report::summary::Spread::Std,
        };
        Ok(summarize_rows(rows, by)?.with_spread(spread))
    }
    /// Writes `<dir>/<name>.csv` and `<dir>/<name>.json` (with the run record); returns dir.
    #[rhai_fn(name = "save", return_raw)]
    pub fn summary_save(context: NativeCallContext, s: &mut Summary, dir: &str, name: &str) -> RhaiResult<String> {
        crate::script::experiment_work(&context, "save()")?;
        let folder = crate::script::allowed(&context, dir, "output folder")?;
        crate::script::plain_file_name("summary.save()", name)?;
        let c = ctx(&context)?;
        s.save(&folder, name, &c.info).map_err(rt)?;
        Ok(dir.to_string())
    }
    /// Two or three sentences reading the table against its reference (fastest, closest, what
    /// the fastest gives up), or "" without a reference. print(table) shows them too.
    #[rhai_fn(name = "reading", pure)]
    pub fn table_reading(t: &mut Table) -> String {
        t.reading().unwrap_or_default()
    }
}

/// The MIA options of an option map: seed (default the run's) and mia_swap (default true: the
/// reference's swap rule under 42).
pub(crate) fn mia_options(func: &str, run_seed: u64, options: &Map) -> RhaiResult<MiaOptions> {
    let seed = int_or(func, options, "seed", run_seed as i64)? as u64;
    let swap = bool_or(func, options, "mia_swap", true)?;
    Ok(MiaOptions { seed, swap_below: swap.then_some(42.0) })
}

/// What an evaluate() item evaluates: an unlearning result or a model.
enum Core {
    Unlearned(UnlearnedHandle),
    Model(ModelHandle),
}

/// An evaluate() item taken apart: its core and the maps around it (#{ name, model[, seconds,
/// condense_seconds, options, retain_size] }, e.g. a multi-round record), outermost first.
struct Resolved {
    core: Core,
    maps: Vec<Map>,
}

/// Takes an evaluate() item apart: an unlearn() result, a Model, or #{ name, model, ... } around
/// either (or around another such map).
fn resolve(item: Dynamic, i: usize) -> RhaiResult<Resolved> {
    let mut maps = Vec::new();
    let mut item = item;
    loop {
        if let Some(u) = item.clone().try_cast::<UnlearnedHandle>() {
            return Ok(Resolved { core: Core::Unlearned(u), maps });
        }
        if let Some(m) = item.clone().try_cast::<ModelHandle>() {
            return Ok(Resolved { core: Core::Model(m), maps });
        }
        let Some(map) = item.clone().try_cast::<Map>() else {
            return Err(rt(format!(
                "evaluate(): item {i} is a {}, expected an unlearning result, a model or #{{ name, model }}",
                item.type_name()
            )));
        };
        let name = map
            .get("name")
            .and_then(|n| n.clone().into_string().ok())
            .ok_or_else(|| rt(format!("evaluate(): item {i} is a map without a string `name`")))?;
        item =
            map.get("model").cloned().ok_or_else(|| rt(format!("evaluate(): item {i} (`{name}`) has no `model`")))?;
        maps.push(map);
    }
}

impl Resolved {
    /// The model the item evaluates.
    fn handle(&self) -> &ModelHandle {
        match &self.core {
            Core::Unlearned(u) => &u.model,
            Core::Model(m) => m,
        }
    }

    /// The typed item, its model being `model` (the handle's, borrowed): an unlearn() result is
    /// named after its method ([`Item::unlearned`]), a Model "original" and untimed; each map
    /// around it, innermost first, gives its `name` and may give `seconds` (which makes it timed),
    /// `condense_seconds`, `options` (a map: the method's options and epochs) and `retain_size`.
    fn item<'a>(&'a self, model: &'a Model) -> RhaiResult<Item<'a>> {
        let mut item = match &self.core {
            Core::Unlearned(u) => {
                let mut item = Item::unlearned(&u.result, model, &u.request);
                item.curve = u.curve.as_ref().map(|c| (**c).clone());
                item
            }
            Core::Model(_) => Item::model("original", model),
        };
        for map in self.maps.iter().rev() {
            let name = map.get("name").and_then(|n| n.clone().into_string().ok()).unwrap_or_default();
            if let Some(f) = map.get("forgetting") {
                item.forgetting = Some(rhai::serde::from_dynamic(f).map_err(|e| {
                    rt(format!("evaluate(): `forgetting` of item `{name}` is not a forgetting_score() result: {e}"))
                })?);
            }
            item.timed |= map.contains_key("seconds");
            for (key, slot) in
                [("seconds", &mut item.phases.unlearning), ("condense_seconds", &mut item.phases.condense)]
            {
                if let Some(v) = map.get(key) {
                    *slot = v
                        .as_float()
                        .map_err(|t| rt(format!("evaluate(): `{key}` of item `{name}` is a {t}, expected a number")))?;
                }
            }
            if let Some(o) = map.get("options") {
                let o = o.clone().try_cast::<Map>().ok_or_else(|| {
                    rt(format!("evaluate(): `options` of item `{name}` is a {}, expected a map", o.type_name()))
                })?;
                item.provenance.set_options(map_to_json("evaluate", &o).map_err(rt)?);
            }
            if let Some(n) = map.get("retain_size") {
                let n = n.as_int().map_err(|t| {
                    rt(format!("evaluate(): `retain_size` of item `{name}` is a {t}, expected an integer"))
                })?;
                item.provenance.retain_size = Some(n.max(0) as usize);
            }
            item.name = name;
        }
        Ok(item)
    }
}

/// The row name and model of an evaluate() item (see [`resolve`]), for the functions that take
/// the same items (lira(), mia(), plot_losses()).
pub(crate) fn evaluated_item(item: Dynamic, i: usize) -> RhaiResult<(String, ModelHandle)> {
    let r = resolve(item, i)?;
    let handle = r.handle().clone();
    let name = r.item(&handle.0.borrow().model)?.name;
    Ok((name, handle))
}

/// How a Table prints (`print`, `debug`, string interpolation).
fn table_text(t: &mut Table) -> String {
    t.to_text()
}

/// How a Summary prints (`print`, `debug`, string interpolation).
fn summary_text(s: &mut Summary) -> String {
    s.to_text()
}

impl CustomType for Table {
    fn build(mut t: TypeBuilder<Self>) {
        t.with_name("Table")
            .with_get("rows", |t: &mut Self| -> RhaiResult<Dynamic> { rhai::serde::to_dynamic(&t.rows) })
            .and_comments(&["/// The rows: an array of maps (method, seconds, metrics, gaps, tug_of_war, speedup)."])
            .on_print(table_text)
            .on_debug(table_text);
    }
}

/// A shadow bank as scripts hold it: shared, never copied (its models are large).
#[derive(Clone)]
pub struct ShadowBankHandle(pub Rc<ShadowBank>);

fn bank_text(bank: &mut ShadowBankHandle) -> String {
    let b = &bank.0;
    format!(
        "shadow bank of {}: {} shadows, {} forget + {} held-out targets, {:.1} s",
        b.config.attack_name(),
        b.in_mask.len(),
        b.forget_targets.len(),
        b.heldout_targets.len(),
        b.seconds
    )
}

impl CustomType for ShadowBankHandle {
    fn build(mut t: TypeBuilder<Self>) {
        t.with_name("ShadowBank")
            .with_get("seconds", |b: &mut Self| b.0.seconds)
            .and_comments(&["/// Seconds the shadow bank took to build."])
            .on_print(bank_text)
            .on_debug(bank_text);
    }
}

impl CustomType for Summary {
    fn build(mut t: TypeBuilder<Self>) {
        t.with_name("Summary").on_print(summary_text).on_debug(summary_text);
    }
}

super::binding_package!(
    /// The script functions and types of evaluation and tables.
    MetricsPackage,
    "metrics",
    metrics_api,
    [Table, Summary, ShadowBankHandle]
);
