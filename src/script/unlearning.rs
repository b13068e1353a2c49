//! Script bindings for unlearning methods (`src/unlearn`).
use super::models::ModelHandle;
use super::options::map_to_json;
use super::requests::Request;
use super::{ctx, rt, RhaiResult};
use crate::condense::ReducedRetainSet;
use crate::data::Dataset;
use crate::unlearn::{method, method_infos, UnlearnInput, Unlearned};
use rhai::plugin::*;
use rhai::{Array, Dynamic, Engine, Map};
use std::rc::Rc;

/// An unlearning result as scripts see it.
#[derive(Clone)]
pub struct UnlearnedHandle {
    pub result: Rc<Unlearned>,
    pub model: ModelHandle,
}

/// The inputs an `unlearn()` map may carry besides the method's own options.
const INPUT_KEYS: [&str; 4] = ["request", "retain", "unseen", "progress"];

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
    /// the A-AMU methods), progress (true), and the method's own options.
    #[rhai_fn(name = "unlearn", return_raw)]
    pub fn unlearn(
        context: NativeCallContext,
        model: ModelHandle,
        name: &str,
        options: Map,
    ) -> RhaiResult<UnlearnedHandle> {
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
        let original = model.0.borrow();
        let input = UnlearnInput {
            original: &original.model,
            train: &request.data,
            request: &request.request,
            retain: retain.as_ref(),
            unseen: unseen.as_ref(),
            seed: c.seed,
            progress,
        };
        let mut result = m.run(&input, &json).map_err(rt)?;
        let model = result.model.try_clone().map_err(rt)?;
        let handle = ModelHandle::new(model);
        if let Some(h) = result.history.take() {
            handle.0.borrow_mut().history.push(h);
        }
        Ok(UnlearnedHandle { result: Rc::new(result), model: handle })
    }

    /// Every registered unlearning method: an array of #{ name, description, defaults }.
    #[rhai_fn(return_raw)]
    pub fn methods() -> RhaiResult<Array> {
        method_infos().into_iter().map(rhai::serde::to_dynamic).collect()
    }

    /// The unlearned model.
    #[rhai_fn(get = "model", pure)]
    pub fn result_model(r: &mut UnlearnedHandle) -> ModelHandle {
        r.model.clone()
    }
    /// The method's name.
    #[rhai_fn(get = "method", pure)]
    pub fn result_method(r: &mut UnlearnedHandle) -> String {
        r.result.method.clone()
    }
    /// Seconds the method took (device-synchronised).
    #[rhai_fn(get = "seconds", pure)]
    pub fn result_seconds(r: &mut UnlearnedHandle) -> f64 {
        r.result.seconds
    }
    /// The options it ran with, defaults filled in.
    #[rhai_fn(get = "options", pure, return_raw)]
    pub fn result_options(r: &mut UnlearnedHandle) -> RhaiResult<Dynamic> {
        rhai::serde::to_dynamic(&r.result.options)
    }
    /// Size of the retain set it trained on.
    #[rhai_fn(get = "retain_size", pure)]
    pub fn result_retain_size(r: &mut UnlearnedHandle) -> i64 {
        r.result.retain.1 as i64
    }
    #[rhai_fn(name = "to_string", pure)]
    pub fn result_to_string(r: &mut UnlearnedHandle) -> String {
        format!(
            "{} in {:.2} s on {} ({} items)",
            r.result.method, r.result.seconds, r.result.retain.0, r.result.retain.1
        )
    }
    #[rhai_fn(name = "to_debug", pure)]
    pub fn result_to_debug(r: &mut UnlearnedHandle) -> String {
        result_to_string(r)
    }
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<UnlearnedHandle>("Unlearned");
    engine.register_global_module(exported_module!(unlearn_api).into());
}
