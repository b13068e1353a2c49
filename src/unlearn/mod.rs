//! Unlearning methods: one trait, one file per method, a registry (method.md §2-§3).
//!
//! Every method takes the same inputs — the original model, the forget request on the training
//! set, the retain set or a reduced retain set R̃, the unseen reference (A-AMU only) — and
//! returns a new model with its own timing. The original model is never changed.
pub mod a_cf;
pub mod amu;
pub mod finetune;
pub mod neggrad;
pub mod retrain;

use crate::data::request::ForgetRequest;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::Model;
use crate::train::TrainReport;
use serde::Serialize;

/// What a method works on.
pub struct UnlearnInput<'a> {
    pub original: &'a Model,
    /// The full training set the request was drawn on.
    pub train: &'a Dataset,
    pub request: &'a ForgetRequest,
    /// The set to retain on: a reduced retain set R̃, or `None` for the request's retain set.
    pub retain: Option<&'a Dataset>,
    /// Unseen in-distribution items (method.md §4.1's 70 % of the test set): A-AMU only.
    pub unseen: Option<&'a Dataset>,
    /// Seed used where a method's own `seed` option is not given.
    pub seed: u64,
    /// Progress output of the training loops.
    pub progress: bool,
}

impl UnlearnInput<'_> {
    /// The retain set to train on (R̃ when given).
    pub fn retain_set(&self) -> Result<Dataset> {
        match self.retain {
            Some(r) => Ok(r.clone()),
            None => self.request.retain_set(self.train),
        }
    }
    pub fn forget_set(&self) -> Result<Dataset> {
        self.request.forget_set(self.train)
    }
    pub fn unseen_set(&self, method: &str) -> Result<Dataset> {
        self.unseen.cloned().ok_or_else(|| {
            Error::invalid(
                format!("input of {method}"),
                "no unseen reference",
                "`unseen`: held-out items of the same distribution (e.g. the `unseen` part of test.reference_split())",
            )
        })
    }
}

/// A method's result.
#[derive(Debug)]
pub struct Unlearned {
    pub method: String,
    pub model: Model,
    /// Wall-clock seconds of the method (device-synchronised), model copy included.
    pub seconds: f64,
    /// The options it ran with (defaults filled in).
    pub options: serde_json::Value,
    /// The retain set it trained on (name, size).
    pub retain: (String, usize),
    /// Its training loop's record, where it has one.
    pub history: Option<TrainReport>,
}

/// An unlearning method.
pub trait Method {
    /// Registry name (`"a_cf"`, `"retrain"`, ...).
    fn name(&self) -> &'static str;
    /// One line: what it does, with its method.md section.
    fn description(&self) -> &'static str;
    /// Its options with their defaults.
    fn defaults(&self) -> serde_json::Value;
    /// Runs it; `options` is a JSON object of option overrides.
    fn run(&self, input: &UnlearnInput, options: &serde_json::Value) -> Result<Unlearned>;
}

/// Every registered method, in a stable order.
pub fn registry() -> Vec<Box<dyn Method>> {
    vec![
        Box::new(retrain::Retrain),
        Box::new(finetune::Finetune),
        Box::new(neggrad::NegGradPlus),
        Box::new(a_cf::ACf),
        Box::new(a_cf::ASparse),
    ]
}

/// The method called `name`.
pub fn method(name: &str) -> Result<Box<dyn Method>> {
    let all = registry();
    let names: Vec<&str> = all.iter().map(|m| m.name()).collect();
    let names = format!("one of {names:?}");
    all.into_iter().find(|m| m.name() == name).ok_or_else(|| Error::invalid("unlearning method", name, names))
}

/// Times `work` with a device synchronisation before the clock is read.
pub fn timed<T>(device: tch::Device, work: impl FnOnce() -> Result<T>) -> Result<(T, f64)> {
    let t = std::time::Instant::now();
    let out = work()?;
    crate::runtime::synchronize(device);
    Ok((out, t.elapsed().as_secs_f64()))
}

/// A summary for listings.
#[derive(Debug, Clone, Serialize)]
pub struct MethodInfo {
    pub name: String,
    pub description: String,
    pub defaults: serde_json::Value,
}

/// Name, description and default options of every method.
pub fn method_infos() -> Vec<MethodInfo> {
    registry()
        .iter()
        .map(|m| MethodInfo { name: m.name().into(), description: m.description().into(), defaults: m.defaults() })
        .collect()
}

/// A default warm-up longer than the epochs the user asked for shrinks to fit; one the user set
/// is left for the config check to judge.
pub fn fit_default_warmup(cfg: &mut crate::train::TrainConfig, options: &serde_json::Value) {
    if options.get("warmup_epochs").is_none() {
        cfg.warmup_epochs = cfg.warmup_epochs.min(cfg.epochs);
    }
}
