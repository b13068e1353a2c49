//! Script bindings for the evaluation the unlearning benchmarks ask for (`src/metrics`): oracle
//! banks and the forgetting score, memorisation and memorisation-stratified requests, and the
//! relearning and retain-side audits on their own (evaluate() runs them per row too).
use super::metrics::evaluated_item;
use super::models::ModelHandle;
use super::request::Request;
use super::unlearn::UnlearnedHandle;
use super::{ctx, rt, RhaiResult};
use crate::data::request::{ForgetRequest, Stratum};
use crate::data::Dataset;
use crate::metrics::forgetting::forgetting_score as score_runs;
use crate::metrics::memorization::{memorization as estimate, MemorizationConfig};
use crate::metrics::oracle::{oracle_bank as build_bank, OracleBank, OracleConfig};
use crate::metrics::relearn::{relearn as relearn_test, retain_mia as retain_attack, RelearnConfig};
use crate::metrics::{EvalContext, MiaOptions};
use rhai::plugin::*;
use rhai::{Array, CustomType, Dynamic, Map, TypeBuilder};
use std::rc::Rc;

/// An oracle bank as scripts hold it, with the request and evaluation split it was made for.
#[derive(Clone)]
pub struct OracleBankHandle {
    pub bank: Rc<OracleBank>,
    pub request: Request,
    pub evaluation: Dataset,
}

/// The keys of `forget_memorization()`'s options.
pub const MEMORIZATION_REQUEST_KEYS: [&str; 3] = ["stratum", "fraction", "seed"];

fn bank_text(b: &mut OracleBankHandle) -> String {
    let bank = &b.bank;
    format!(
        "oracle bank of {} retrained models ({}), hash {}, retain accuracy {:.2} %, test {:.2} %, forget {:.2} %{}",
        bank.models(),
        if bank.reused { "reused" } else { "trained" },
        &bank.hash[..12],
        100.0 * bank.mean_retain_acc(),
        100.0 * bank.mean_test_acc(),
        100.0 * bank.mean_forget_acc(),
        bank.folder.as_ref().map(|f| format!(", in {}", f.display())).unwrap_or_default()
    )
}

impl CustomType for OracleBankHandle {
    fn build(mut t: TypeBuilder<Self>) {
        t.with_name("OracleBank")
            .with_get("hash", |b: &mut Self| b.bank.hash.clone())
            .and_comments(&["/// SHA-256 of the bank's key and measurements (recorded with every score)."])
            .with_get("models", |b: &mut Self| b.bank.models() as i64)
            .and_comments(&["/// Number of oracles."])
            .with_get("reused", |b: &mut Self| b.bank.reused)
            .and_comments(&["/// Whether it was loaded from its folder instead of retrained."])
            .with_get("seconds", |b: &mut Self| b.bank.seconds.iter().sum::<f64>())
            .and_comments(&["/// Seconds its oracles took to retrain when the bank was made (the same when it is reused: nothing is retrained then)."])
            .with_get("retain_acc", |b: &mut Self| b.bank.mean_retain_acc())
            .and_comments(&["/// The oracles' mean retain accuracy."])
            .with_get("test_acc", |b: &mut Self| b.bank.mean_test_acc())
            .and_comments(&["/// The oracles' mean test accuracy (on the evaluation split)."])
            .with_get("forget_acc", |b: &mut Self| b.bank.mean_forget_acc())
            .and_comments(&["/// The oracles' mean forget accuracy."])
            .on_print(bank_text)
            .on_debug(bank_text);
    }
}

fn mem_scores(func: &str, v: &Map) -> RhaiResult<(Vec<f64>, usize)> {
    let scores = v
        .get("scores")
        .and_then(|s| s.clone().try_cast::<Array>())
        .ok_or_else(|| rt(format!("{func}(): expected a memorization() result (a map with `scores`)")))?;
    let scores = scores
        .into_iter()
        .enumerate()
        .map(|(i, s)| s.as_float().map_err(|t| rt(format!("{func}(): score {i} is a {t}, expected a number"))))
        .collect::<RhaiResult<Vec<f64>>>()?;
    let models = v.get("models").and_then(|m| m.as_int().ok()).unwrap_or(0).max(0) as usize;
    Ok((scores, models))
}

#[export_module]
pub mod evaluation_api {
    use super::*;

    /// Retrains `models` oracles (4) from scratch without `request`'s forget set (Retrain with the
    /// options `retrain`, each its own seed), measures them on the forget set, the retain set and
    /// `evaluation`, and saves them in `dir` (default <out>/oracles) under a folder named after
    /// what they depend on (data, request, evaluation split, architecture, options, seeds): a later
    /// call with the same key loads them instead. Options: models, retrain (#{ epochs, ... }),
    /// seed (the run's), dir, progress (false). Pass the bank to forgetting_score().
    #[rhai_fn(return_raw)]
    pub fn oracle_bank(
        context: NativeCallContext,
        original: ModelHandle,
        request: Request,
        evaluation: Dataset,
        options: Map,
    ) -> RhaiResult<OracleBankHandle> {
        crate::script::experiment_work(&context, "oracle_bank()")?;
        let c = ctx(&context)?;
        let mut cfg: OracleConfig = crate::script::options::parse("oracle_bank", &options).map_err(rt)?;
        let dir = match &cfg.dir {
            Some(d) => crate::script::allowed(&context, &d.display().to_string(), "oracle bank folder")?,
            None => crate::script::allowed_path(&context, &c.out_dir().join("oracles"), "oracle bank folder")?,
        };
        cfg.dir = Some(dir);
        let bank = {
            let m = original.0.borrow();
            build_bank(&m.model, &request.data, &request.request, &evaluation, &cfg, c.seed()).map_err(rt)?
        };
        Ok(OracleBankHandle { bank: Rc::new(bank), request, evaluation })
    }

    /// The unlearning challenge's forgetting score of `runs` (as many unlearn() results or models
    /// of one method as `bank` has oracles, each run with its own seed from the same original)
    /// against `bank`: #{ forget_score (F in [0, 1], higher is better), final_score (F × retain
    /// and test accuracy ratios to the oracles'), retain_ratio, test_ratio, models, examples,
    /// epsilons, retain_acc, test_acc, forget_acc, oracle_hash }. Give it to an evaluate() item
    /// as #{ name, model, forgetting } to put it in the table.
    #[rhai_fn(return_raw)]
    pub fn forgetting_score(runs: Array, bank: OracleBankHandle) -> RhaiResult<Dynamic> {
        // a result unlearned on another request than the bank's would be scored on the wrong items
        for (i, r) in runs.iter().enumerate() {
            if let Some(u) = r.read_lock::<UnlearnedHandle>() {
                let theirs = &bank.request.request;
                if !u.request.same_forget_set(theirs) {
                    return Err(rt(format!(
                        "forgetting_score(): run {i} (`{}`) was unlearned on another forget request ({} of {} items) than the one the bank's oracles were retrained without ({} of {}): score runs of the bank's request",
                        u.result.method,
                        u.request.forget.len(),
                        u.request.dataset_len,
                        theirs.forget.len(),
                        theirs.dataset_len
                    )));
                }
            }
        }
        let handles: Vec<ModelHandle> = runs
            .into_iter()
            .enumerate()
            .map(|(i, r)| evaluated_item(r, i).map(|(_, m)| m))
            .collect::<RhaiResult<_>>()?;
        let guards: Vec<_> = handles.iter().map(|h| h.0.borrow()).collect();
        let models: Vec<&crate::models::Model> = guards.iter().map(|g| &g.model).collect();
        let ctx = EvalContext::new(
            &bank.request.data,
            &bank.request.request,
            &bank.evaluation,
            MiaOptions { seed: 0, swap_below: None },
            None,
        )
        .map_err(rt)?;
        let score = score_runs(&models, &bank.bank, &bank.request.data, &ctx).map_err(rt)?;
        rhai::serde::to_dynamic(&score)
    }

    /// Per-example memorisation of `data` (a training set): `models` models (4) of `model`'s
    /// architecture, each trained from scratch on a random half (every item in half of them);
    /// mem(x) = mean confidence in x's label when x was in − when it was out. Options: models,
    /// train (train() options of each: mimic the original's), seed (the run's). Returns
    /// #{ scores (one per item, dataset order), models, seed, seconds, data_digest }.
    #[rhai_fn(return_raw)]
    pub fn memorization(
        context: NativeCallContext,
        model: ModelHandle,
        data: Dataset,
        options: Map,
    ) -> RhaiResult<Dynamic> {
        crate::script::experiment_work(&context, "memorization()")?;
        let c = ctx(&context)?;
        let cfg: MemorizationConfig = crate::script::options::parse("memorization", &options).map_err(rt)?;
        let (spec, device) = {
            let m = model.0.borrow();
            (m.model.spec.clone(), m.model.device())
        };
        let mem = estimate(&spec, device, &data, &cfg, c.seed()).map_err(rt)?;
        let mut out = Map::new();
        out.insert("scores".into(), mem.scores.iter().map(|&s| Dynamic::from_float(s)).collect::<Array>().into());
        out.insert("models".into(), (mem.models as i64).into());
        out.insert("seed".into(), (mem.seed as i64).into());
        out.insert("seconds".into(), mem.seconds.into());
        out.insert("data_digest".into(), mem.data_digest.clone().into());
        Ok(out.into())
    }

    /// A forget request of `fraction` of `data` by memorisation (`memorization`: a memorization()
    /// result on `data`): stratum "low", "medium" or "high" draws it at random from that third of
    /// the items ranked by memorisation; "top" takes the items of highest memorisation. Options:
    /// stratum ("high"), fraction (0.1), seed (the run's).
    #[rhai_fn(return_raw)]
    pub fn forget_memorization(
        context: NativeCallContext,
        data: Dataset,
        memorization: Map,
        options: Map,
    ) -> RhaiResult<Request> {
        let c = ctx(&context)?;
        crate::script::options::check_keys("forget_memorization", &options, &MEMORIZATION_REQUEST_KEYS)?;
        let (scores, models) = mem_scores("forget_memorization", &memorization)?;
        if let Some(d) = memorization.get("data_digest").and_then(|d| d.clone().into_string().ok()) {
            if d != data.digest().map_err(rt)? {
                return Err(rt(format!(
                    "forget_memorization(): the memorisation scores were measured on other data than {} (a memorization() result of this dataset is expected)",
                    data.name
                )));
            }
        }
        let stratum = match options.get("stratum") {
            Some(s) => Stratum::parse(&s.clone().into_string().map_err(|t| {
                rt(format!("forget_memorization(): `stratum` is a {t}, expected one of {:?}", Stratum::NAMES))
            })?)
            .map_err(rt)?,
            None => Stratum::High,
        };
        let fraction = match options.get("fraction") {
            Some(f) => f
                .as_float()
                .map_err(|t| rt(format!("forget_memorization(): `fraction` is a {t}, expected a number")))?,
            None => 0.1,
        };
        let seed = crate::script::options::int_or("forget_memorization", &options, "seed", c.seed() as i64)? as u64;
        let r = ForgetRequest::memorization(&data, &scores, models, stratum, fraction, seed).map_err(rt)?;
        Ok(Request::new(r, &data))
    }

    /// The relearning test on its own: SGD on `request`'s forget set until the model's forget
    /// accuracy reaches `target` (e.g. the original's). Options: lr (0.01), momentum (0.9),
    /// batch_size (32), max_steps (200), tolerance (0), seed (the run's). Returns #{ steps (() when
    /// not reached), target, forget_acc (before and after each step), max_steps }.
    #[rhai_fn(return_raw)]
    pub fn relearn(
        context: NativeCallContext,
        item: Dynamic,
        request: Request,
        target: f64,
        options: Map,
    ) -> RhaiResult<Dynamic> {
        crate::script::experiment_work(&context, "relearn()")?;
        let c = ctx(&context)?;
        let cfg: RelearnConfig = crate::script::options::parse("relearn", &options).map_err(rt)?;
        let (_, model) = evaluated_item(item, 0)?;
        let forget = request.forget_set().map_err(rt)?;
        let r = relearn_test(&model.0.borrow().model, &forget, target, &cfg, c.seed()).map_err(rt)?;
        rhai::serde::to_dynamic(&r)
    }

    /// The retain-side MIA on its own: the paper's attack telling `request`'s retain items from
    /// `evaluation` items (#{ score, raw, n, swapped }; 50 is ideal, lower is better).
    #[rhai_fn(return_raw)]
    pub fn retain_mia(
        context: NativeCallContext,
        item: Dynamic,
        request: Request,
        evaluation: Dataset,
    ) -> RhaiResult<Dynamic> {
        let c = ctx(&context)?;
        let (_, model) = evaluated_item(item, 0)?;
        let retain = request.retain_set().map_err(rt)?;
        let m = retain_attack(&model.0.borrow().model, &retain, &evaluation, c.seed()).map_err(rt)?;
        rhai::serde::to_dynamic(&m)
    }
}

super::binding_package!(
    /// The script functions and types of the forgetting score, memorisation and audits.
    EvaluationPackage,
    "evaluation",
    evaluation_api,
    [OracleBankHandle]
);
