//! Script bindings for unlearning methods (`src/unlearn`).
use super::models::ModelHandle;
use super::options::{check_keys, int_or, map_to_json};
use super::request::Request;
use super::{ctx, rt, RhaiResult};
use crate::condense::ReducedRetainSet;
use crate::data::Dataset;
use crate::unlearn::{method, method_infos, UnlearnInput, Unlearned};
use rhai::plugin::*;
use rhai::{Array, CustomType, Dynamic, Map, TypeBuilder};
use std::rc::Rc;

/// An unlearning result as scripts see it.
#[derive(Clone)]
pub struct UnlearnedHandle {
    pub result: Rc<Unlearned>,
    pub model: ModelHandle,
    /// The forget request it was unlearned on (evaluate() must be given the same one).
    pub request: Rc<crate::data::request::ForgetRequest>,
    /// Its quality along the run, when it ran with `trace`.
    pub curve: Option<Rc<crate::metrics::curve::QualityCurve>>,
}

/// The inputs an `unlearn()` map may carry besides the method's own options.
pub const INPUT_KEYS: [&str; 5] = ["request", "retain", "unseen", "progress", "trace"];

/// The keys of `unlearn()`'s `trace` map.
pub const TRACE_KEYS: [&str; 4] = ["evaluation", "every", "seed", "mia_swap"];

/// The options of `unlearn_rounds()`.
pub const ROUNDS_KEYS: [&str; 8] =
    ["requests", "methods", "condense", "unseen", "out", "progress", "seed", "same_feature_net"];

/// The keys of `method_work()`'s `sizes` map.
pub const WORK_SIZES_KEYS: [&str; 3] = ["retain", "forget", "reduced"];

fn dataset_of(v: &Dynamic, key: &str) -> RhaiResult<Dataset> {
    if let Some(d) = v.read_lock::<Dataset>() {
        return Ok(d.clone());
    }
    if let Some(r) = v.read_lock::<ReducedRetainSet>() {
        return Ok(r.dataset.clone());
    }
    Err(rt(format!("unlearn(): `{key}` is a {}, expected a Dataset or a reduced retain set", v.type_name())))
}

#[export_module]
pub mod unlearn_api {
    use super::*;

    /// Unlearns with the method `name` (see methods()) and returns the result; the original
    /// model is not changed. Options: request (a forget request, required), retain (a reduced
    /// retain set or a Dataset; default the request's retain set), unseen (held-out items, for
    /// the A-AMU methods), progress (true), profile (a hyper-parameter profile, see profiles();
    /// default "cifar10-resnet18"), cond (take the profile's reduced-set values; default: whether
    /// `retain` is given), and the method's own options (most take `seed`, default the run's: the
    /// batch order and the method's other draws), which win over the profile's. With trace:
    /// #{ evaluation (the evaluation split, required), every (evaluate every k optimiser steps;
    /// 0, the default: every epoch), seed and mia_swap (the MIA's, as evaluate()'s: give the
    /// same as there) } the method is evaluated along its run
    /// (evaluation time left out of its seconds): the result's `curve`, and evaluate() then
    /// reports its time to Retrain-like.
    #[rhai_fn(name = "unlearn", return_raw)]
    pub fn unlearn(
        context: NativeCallContext,
        model: ModelHandle,
        name: &str,
        options: Map,
    ) -> RhaiResult<UnlearnedHandle> {
        crate::script::experiment_work(&context, "unlearn()")?;
        let c = ctx(&context)?;
        let m = method(name).map_err(rt)?;
        let request =
            options.get("request").and_then(|v| v.read_lock::<Request>().map(|r| r.clone())).ok_or_else(|| {
                rt(format!("unlearn(model, \"{name}\", ...): option `request` (a forget request) is required"))
            })?;
        let retain = options.get("retain").map(|v| dataset_of(v, "retain")).transpose()?;
        let unseen = options.get("unseen").map(|v| dataset_of(v, "unseen")).transpose()?;
        let progress = match options.get("progress") {
            Some(v) => v.as_bool().map_err(|t| rt(format!("unlearn(): `progress` is a {t}, expected a bool")))?,
            None => true,
        };
        let mut own = options.clone();
        for k in INPUT_KEYS {
            own.remove(k);
        }
        let json = map_to_json(name, &own).map_err(rt)?;
        let trace = match options.get("trace") {
            Some(v) => Some(v.clone().try_cast::<Map>().ok_or_else(|| {
                rt(format!("unlearn(): `trace` is a {}, expected a map (#{{ evaluation, every }})", v.type_name()))
            })?),
            None => None,
        };
        let original = model.0.borrow();
        let input = UnlearnInput {
            original: &original.model,
            train: &request.data,
            request: &request.request,
            retain: retain.as_ref(),
            unseen: unseen.as_ref(),
            seed: c.seed(),
            progress,
        };
        let (mut result, curve) = match &trace {
            None => (crate::unlearn::unlearn(m.name(), &input, &json).map_err(rt)?, None),
            Some(t) => {
                check_keys("unlearn: trace", t, &TRACE_KEYS)?;
                let evaluation = t.get("evaluation").map(|v| dataset_of(v, "trace.evaluation")).transpose()?.ok_or_else(
                    || rt("unlearn(): `trace` needs `evaluation` (the evaluation split, e.g. reference_split().evaluation)"),
                )?;
                let every = int_or("unlearn: trace", t, "every", 0)?;
                if every < 0 {
                    return Err(rt("unlearn(): `trace.every` must be 0 (every epoch) or a number of steps"));
                }
                let mia = crate::script::metrics::mia_options("unlearn: trace", c.seed(), t)?;
                let ectx = crate::metrics::EvalContext::new(&request.data, &request.request, &evaluation, mia, None)
                    .map_err(rt)?;
                let opts = crate::metrics::curve::CurveOptions { every: every as usize };
                let (r, curve) =
                    crate::metrics::curve::unlearn_traced(m.name(), &input, &json, &ectx, &opts).map_err(rt)?;
                (r, Some(Rc::new(curve)))
            }
        };
        if let Some(reduced) = options.get("retain").and_then(|v| v.read_lock::<ReducedRetainSet>()) {
            result = result.condensed_by(&reduced);
        }
        let model = result.model.try_clone().map_err(rt)?;
        let handle = ModelHandle::with_origin(model, format!("unlearned by {}", result.method));
        if let Some(h) = result.history.take() {
            let mut state = handle.0.borrow_mut();
            state.history.push(h);
            state.origin_runs = 1;
        }
        Ok(UnlearnedHandle { result: Rc::new(result), model: handle, request: Rc::new(request.request.clone()), curve })
    }

    /// Multi-round unlearning (method.md §4.4), resumable. Options: requests (an array of forget
    /// requests, e.g. forget_rounds()), methods (an array of names, or a map name -> options),
    /// condense (condense() options, or () for full retain sets), unseen, out (a folder; default
    /// <out>/multiround), progress, seed (the run's), same_feature_net (false: every round's
    /// Blend draws a fresh random feature network). Each method starts round r from its own round r-1 model.
    /// Returns #{ records: [per round and method: sizes, unlearning/condense/end-to-end seconds,
    /// checkpoint], models: #{ method: final Model } }. Rerunning continues after the last finished step.
    #[rhai_fn(return_raw)]
    pub fn unlearn_rounds(context: NativeCallContext, model: ModelHandle, options: Map) -> RhaiResult<Map> {
        crate::script::experiment_work(&context, "unlearn_rounds()")?;
        use crate::unlearn::multiround::{run_multiround, MultiRoundPlan};
        let c = ctx(&context)?;
        check_keys("unlearn_rounds", &options, &ROUNDS_KEYS)?;
        let requests: Vec<Request> = options
            .get("requests")
            .and_then(|v| v.clone().try_cast::<Array>())
            .ok_or_else(|| rt("unlearn_rounds(): option `requests` (an array of forget requests) is required"))?
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                v.try_cast::<Request>()
                    .ok_or_else(|| rt(format!("unlearn_rounds(): requests[{i}] is not a forget request")))
            })
            .collect::<RhaiResult<_>>()?;
        let methods: Vec<(String, serde_json::Value)> = match options.get("methods") {
            Some(v) if v.is_array() => v
                .clone()
                .cast::<Array>()
                .into_iter()
                .map(|n| {
                    n.into_string()
                        .map(|n| (n, serde_json::json!({})))
                        .map_err(|t| rt(format!("unlearn_rounds(): a method name is a {t}")))
                })
                .collect::<RhaiResult<_>>()?,
            Some(v) if v.is_map() => v
                .clone()
                .cast::<Map>()
                .into_iter()
                .map(|(k, o)| {
                    let o = o.try_cast::<Map>().unwrap_or_default();
                    Ok((k.to_string(), map_to_json(&k, &o).map_err(rt)?))
                })
                .collect::<RhaiResult<_>>()?,
            _ => {
                return Err(rt(
                    "unlearn_rounds(): option `methods` (an array of names or a map name -> options) is required",
                ))
            }
        };
        for (m, _) in &methods {
            method(m).map_err(rt)?;
        }
        let condense = match options.get("condense") {
            Some(v) if v.is_map() => {
                Some(crate::script::options::parse("condense", &v.clone().cast::<Map>()).map_err(rt)?)
            }
            _ => None,
        };
        let unseen = options.get("unseen").map(|v| dataset_of(v, "unseen")).transpose()?;
        let out = match options.get("out") {
            Some(v) => {
                let s = v.clone().into_string().map_err(|t| rt(format!("unlearn_rounds(): `out` is a {t}")))?;
                crate::script::allowed(&context, &s, "multi-round output folder")?
            }
            None => c.out_dir().join("multiround"),
        };
        let progress = options.get("progress").and_then(|v| v.as_bool().ok()).unwrap_or(true);
        let first = requests.first().ok_or_else(|| rt("unlearn_rounds(): `requests` is empty"))?;
        let train = first.data.clone();
        let rounds: Vec<_> = requests.iter().map(|r| r.request.clone()).collect();
        let seed = int_or("unlearn_rounds", &options, "seed", c.seed() as i64)? as u64;
        let same_feature_net = match options.get("same_feature_net") {
            Some(v) => v
                .as_bool()
                .map_err(|t| rt(format!("unlearn_rounds(): `same_feature_net` is a {t}, expected a bool")))?,
            None => false,
        };
        let plan = MultiRoundPlan { methods, condense, seed, same_feature_net };
        let original = model.0.borrow();
        let (records, finals) = run_multiround(
            &original.model,
            &train,
            &rounds,
            unseen.as_ref(),
            &plan,
            &out,
            progress,
            &c.fingerprint(),
            c.overwrite,
        )
        .map_err(rt)?;
        let mut result = Map::new();
        result.insert("records".into(), rhai::serde::to_dynamic(&records)?);
        let mut models = Map::new();
        for (name, m) in finals {
            let origin = format!("unlearned by {name}, {} rounds", rounds.len());
            models.insert(name.into(), Dynamic::from(ModelHandle::with_origin(m, origin)));
        }
        result.insert("models".into(), models.into());
        Ok(result)
    }

    /// Every registered unlearning method: an array of #{ name, description, defaults, profiles
    /// (the values each hyper-parameter profile sets for it) }.
    #[rhai_fn(return_raw)]
    pub fn methods() -> RhaiResult<Array> {
        method_infos().into_iter().map(rhai::serde::to_dynamic).collect()
    }

    /// The hyper-parameter profiles: #{ name: #{ method: #{ option: value } } }. A method takes
    /// one with the option `profile: NAME` (default "cifar10-resnet18"); on a reduced retain set
    /// it takes NAME's "-cond" variant unless `cond: false`. Options given to unlearn() win.
    #[rhai_fn(return_raw)]
    pub fn profiles() -> RhaiResult<Map> {
        let mut out = Map::new();
        for p in crate::unlearn::profiles::profiles() {
            out.insert(p.name.into(), rhai::serde::to_dynamic(&p.methods)?);
        }
        Ok(out)
    }

    /// The work of a method's run in images through the network (pre-processing and evaluation
    /// not included): #{ train_images, forward_images }, for cost estimates with time_steps().
    /// `options`: as unlearn() takes them (profile, cond and the method's own); `sizes`:
    /// #{ retain (the set it trains on), forget, reduced (whether that set is a reduced one) }.
    #[rhai_fn(return_raw)]
    pub fn method_work(name: &str, options: Map, sizes: Map) -> RhaiResult<Dynamic> {
        check_keys("method_work", &sizes, &WORK_SIZES_KEYS)?;
        let size = |k: &str| -> RhaiResult<usize> { Ok(int_or("method_work", &sizes, k, 0)?.max(0) as usize) };
        let reduced = sizes.get("reduced").map(|v| v.as_bool().unwrap_or(false)).unwrap_or(false);
        let s = crate::unlearn::cost::Sizes { retain: size("retain")?, forget: size("forget")?, reduced };
        let json = map_to_json(name, &options).map_err(rt)?;
        rhai::serde::to_dynamic(crate::unlearn::cost::work(name, &json, &s).map_err(rt)?)
    }

    /// The profile for a dataset kind and model ("cifar10", "svhn" or "cinic10"; "resnet18" or
    /// "resnet50"), or () when the reference has none.
    pub fn profile_for(dataset: &str, arch: &str) -> Dynamic {
        crate::unlearn::profiles::profile_for(dataset, arch).map(Dynamic::from).unwrap_or(Dynamic::UNIT)
    }
}

/// How a Unlearned prints (`print`, `debug`, string interpolation).
fn result_text(r: &mut UnlearnedHandle) -> String {
    format!("{} in {:.2} s on {} ({} items)", r.result.method, r.result.seconds, r.result.retain.0, r.result.retain.1)
}

impl CustomType for UnlearnedHandle {
    fn build(mut t: TypeBuilder<Self>) {
        t.with_name("Unlearned")
            .with_get("model", |r: &mut Self| -> ModelHandle { r.model.clone() })
            .and_comments(&["/// The unlearned model."])
            .with_get("method", |r: &mut Self| -> String { r.result.method.clone() })
            .and_comments(&["/// The method's name."])
            .with_get("seconds", |r: &mut Self| -> f64 { r.result.seconds })
            .and_comments(&["/// Seconds the method took (device-synchronised)."])
            .with_get("options", |r: &mut Self| -> RhaiResult<Dynamic> { rhai::serde::to_dynamic(&r.result.options) })
            .and_comments(&["/// The options it ran with, defaults filled in."])
            .with_get("retain_size", |r: &mut Self| -> i64 { r.result.retain.1 as i64 })
            .and_comments(&["/// Size of the retain set it trained on."])
            .with_get("curve", |r: &mut Self| -> RhaiResult<Dynamic> {
                match &r.curve {
                    Some(c) => rhai::serde::to_dynamic(&**c),
                    None => Ok(Dynamic::UNIT),
                }
            })
            .and_comments(&["/// Its quality along the run (run with `trace`): #{ method, every, points: [#{ seconds, step, retain_acc, forget_acc, test_acc, mia }], eval_seconds }, else ()."])
            .on_print(result_text)
            .on_debug(result_text);
    }
}

super::binding_package!(
    /// The script functions and types of unlearning.
    UnlearnPackage,
    "unlearn",
    unlearn_api,
    [UnlearnedHandle]
);
