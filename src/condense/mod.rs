//! Condensation of the retain set (method.md §1): Blend and the baselines, one file each behind
//! one trait, found by name in a registry.
//!
//! Every condenser takes the training set and a forget request and returns a
//! [`ReducedRetainSet`]: a dataset the unlearning methods take wherever they take a retain set,
//! with its size ratio and the time of every phase (device-synchronised).
pub mod blend;
pub mod dm;
pub mod dsa;
pub mod features;
pub mod gm;
pub mod idm;
pub mod kmeans;
pub mod matching;
pub mod random;
pub mod split;

use crate::config::{Listed, Named, Options};
use crate::data::request::ForgetRequest;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::Model;
use kmeans::Clustering;
use serde::{Deserialize, Serialize};
use std::rc::Rc;

/// A condensation method: a name, a description and typed options ([`Named`]) and the
/// algorithm. One file per condenser; the registry sees each as an [`AnyCondenser`].
pub trait Condenser: Named {
    /// Runs it on checked inputs with checked options (see [`run`], which checks both).
    fn condense(&self, input: &CondenseInput, options: &Self::Options) -> Result<ReducedRetainSet>;
}

/// Checks `input` and `options`, then runs `condenser`: the typed entry point, e.g.
/// `run(&blend::Blend, &input, &blend::BlendOptions { ipc: 40, ..Default::default() })`. The
/// result records the options it ran with ([`ReducedRetainSet::config`]).
pub fn run<C: Condenser>(condenser: &C, input: &CondenseInput, options: &C::Options) -> Result<ReducedRetainSet> {
    options.check(C::NAME)?;
    input.request.check_dataset(input.train)?;
    let mut reduced = condenser.condense(input, options)?;
    reduced.config = CondenseConfig::of::<C>(options)?;
    Ok(reduced)
}

/// A condenser as the registry and scripts see it: by name, with JSON options. Every
/// [`Condenser`] is one.
pub trait AnyCondenser: Listed {
    /// Parses `options` (a JSON object of overrides, without `method`) into the condenser's
    /// options ("did you mean" for unknown keys), checks and runs.
    fn condense_json(&self, input: &CondenseInput, options: &serde_json::Value) -> Result<ReducedRetainSet>;
    /// `options` with the defaults filled in (parsed and checked, nothing run).
    fn resolve(&self, options: &serde_json::Value) -> Result<serde_json::Map<String, serde_json::Value>>;
}

impl<C: Condenser> AnyCondenser for C {
    fn condense_json(&self, input: &CondenseInput, options: &serde_json::Value) -> Result<ReducedRetainSet> {
        run(self, input, &parse_options::<C>(options)?)
    }
    fn resolve(&self, options: &serde_json::Value) -> Result<serde_json::Map<String, serde_json::Value>> {
        Ok(CondenseConfig::of::<C>(&parse_options::<C>(options)?)?.options)
    }
}

/// `options` as `C`'s options, parsed, settled and checked as every method's and condenser's are
/// ([`crate::config::options_of`]); an unknown key names the condensers that do take it.
fn parse_options<C: Condenser>(options: &serde_json::Value) -> Result<C::Options> {
    crate::config::options_of::<C>("condense", options).map_err(|e| match e {
        Error::UnknownOption { func, key, hint } => {
            let takers: Vec<&str> =
                registry().iter().filter(|c| c.defaults().get(&key).is_some()).map(|c| c.name()).collect();
            let hint = if takers.is_empty() {
                hint
            } else {
                format!(" — not an option of method `{}` (taken by: {}){hint}", C::NAME, takers.join(", "))
            };
            Error::UnknownOption { func, key, hint }
        }
        e => e,
    })
}

/// Which condenser and its options, as scripts, multi-round plans and records hold them: flat in
/// JSON, `{ method: "blend", ipc: 10, ... }`. Parsed by [`CondenseConfig::from_json`], it holds
/// every option of that condenser with the defaults filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CondenseConfig {
    /// "blend", "random", "dm", "gm" or "idm".
    pub method: String,
    /// That condenser's options.
    #[serde(flatten)]
    pub options: serde_json::Map<String, serde_json::Value>,
}

impl Default for CondenseConfig {
    /// Blend with its defaults.
    fn default() -> Self {
        CondenseConfig::of::<blend::Blend>(&blend::BlendOptions::default()).expect("Blend's defaults serialise")
    }
}

impl CondenseConfig {
    /// The config of condenser `C` with `options`.
    pub fn of<C: Condenser>(options: &C::Options) -> Result<Self> {
        match serde_json::to_value(options)? {
            serde_json::Value::Object(options) => Ok(CondenseConfig { method: C::NAME.into(), options }),
            other => Err(Error::invalid("condense options", other.to_string(), "a JSON object")),
        }
    }

    /// Parses a script's or a plan's `{ method, ...options }` for the function `func`: the method
    /// (default "blend") must be registered and the rest must be its options; defaults are filled
    /// in and the options checked.
    pub fn from_json(func: &str, value: &serde_json::Value) -> Result<Self> {
        let mut options = match value {
            serde_json::Value::Object(m) => m.clone(),
            serde_json::Value::Null => serde_json::Map::new(),
            other => return Err(Error::invalid(format!("{func}() options"), other.to_string(), "an option map")),
        };
        let method = match options.remove("method") {
            None => blend::Blend::NAME.to_string(),
            Some(serde_json::Value::String(m)) => m,
            Some(other) => {
                return Err(Error::BadOption {
                    func: func.into(),
                    key: "method".into(),
                    msg: format!("{other} is not a name: expected one of {:?}", names()),
                })
            }
        };
        let c = condenser_for(func, &method)?;
        let options = c.resolve(&serde_json::Value::Object(options))?;
        Ok(CondenseConfig { method, options })
    }

    /// Clusters or images per class (every condenser has `ipc`; 0 only for a hand-made config
    /// without it).
    pub fn ipc(&self) -> usize {
        self.options.get("ipc").and_then(|v| v.as_u64()).unwrap_or(0) as usize
    }

    /// The seed it gives, if any.
    pub fn seed(&self) -> Option<u64> {
        self.options.get("seed").and_then(|v| v.as_u64())
    }

    /// The same config with seed `seed`.
    pub fn with_seed(mut self, seed: Option<u64>) -> Self {
        self.options.insert("seed".into(), seed.map_or(serde_json::Value::Null, Into::into));
        self
    }

    /// Every option key some condenser takes, and `method` (for static checks of scripts).
    pub fn known_keys() -> Vec<String> {
        let mut keys = vec!["method".to_string()];
        for c in registry() {
            for k in c.defaults().as_object().into_iter().flat_map(|o| o.keys()) {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
        keys
    }
}

/// Checks shared by the condensers' options: `ipc` at least 1, `iters` at most
/// [`crate::config::MAX_ITERATIONS`], a finite learning rate where one is given.
pub(crate) fn check_common(ipc: usize, iters: Option<usize>, lr: Option<f64>) -> Result<()> {
    if ipc == 0 {
        return Err(bad_option("ipc", "must be at least 1".into()));
    }
    if let Some(iters) = iters {
        crate::config::at_most("condense", "iters", iters, crate::config::MAX_ITERATIONS)?;
    }
    if lr.is_some_and(|lr| !lr.is_finite()) {
        return Err(bad_option("lr", "must be finite".into()));
    }
    Ok(())
}

/// An error about option `key` of condense().
pub(crate) fn bad_option(key: &str, msg: String) -> Error {
    Error::option("condense", key, msg)
}

/// The most networks IDM's pool takes (each is a ConvNet-3 held for the whole run; a bound
/// against typos).
pub const MAX_POOL_SIZE: usize = 1000;

/// What a condenser works on.
pub struct CondenseInput<'a> {
    pub train: &'a Dataset,
    pub request: &'a ForgetRequest,
    /// A clustering to reuse (multi-round: made once in round 0).
    pub clustering: Option<Rc<Clustering>>,
    /// The network whose features are clustered; `None`: a fresh random ConvNet-3.
    pub feature_model: Option<&'a Model>,
    /// The seed of the run, used where the options' `seed` is `None`.
    pub seed: u64,
}

/// Seconds per phase, each measured after a device synchronisation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timings {
    pub features: f64,
    pub kmeans_init: f64,
    pub kmeans_lloyd: f64,
    pub split: f64,
    /// Blend's optimisation, or the whole of a baseline.
    pub condense: f64,
}

impl Timings {
    pub fn total(&self) -> f64 {
        self.features + self.kmeans_init + self.kmeans_lloyd + self.split + self.condense
    }
}

/// The reduced retain set R̃ and how it was made.
#[derive(Debug, Clone)]
pub struct ReducedRetainSet {
    pub method: String,
    /// Residual real images followed by the synthetic ones.
    pub dataset: Dataset,
    pub retain_size: usize,
    pub residual: usize,
    pub synthetic: usize,
    pub timings: Timings,
    pub clustering: Option<Rc<Clustering>>,
    /// The condenser and the options it ran with (set by [`run`]).
    pub config: CondenseConfig,
    /// Blend's loss per iteration, and min(a) at the end.
    pub blend_losses: Vec<f64>,
    pub min_weight: Option<f64>,
    /// Blend's free/residual split: which retained items each synthetic image blends.
    pub split: Option<Rc<split::FreeResidualSplit>>,
}

impl ReducedRetainSet {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        method: &str,
        dataset: Dataset,
        retain_size: usize,
        residual: usize,
        synthetic: usize,
        timings: Timings,
        clustering: Option<Rc<Clustering>>,
    ) -> Self {
        ReducedRetainSet {
            method: method.into(),
            dataset,
            retain_size,
            residual,
            synthetic,
            timings,
            clustering,
            config: CondenseConfig::default(),
            blend_losses: Vec::new(),
            min_weight: None,
            split: None,
        }
    }

    /// |R̃| / |R| (method.md §1.5: the reference prints it as "Ratio of Reduced Retain Set to Retain Set").
    pub fn ratio(&self) -> f64 {
        self.dataset.len() as f64 / self.retain_size.max(1) as f64
    }

    /// The synthetic part alone.
    pub fn synthetic_set(&self) -> Result<Dataset> {
        let idx: Vec<i64> = (self.residual as i64..(self.residual + self.synthetic) as i64).collect();
        self.dataset.subset(&idx, format!("{} (synthetic)", self.dataset.name))
    }

    pub fn describe(&self) -> String {
        let t = &self.timings;
        format!(
            "{} reduced retain set: {} images ({} residual real + {} synthetic) for a retain set of {}: ratio {:.4}\n  time: features {:.3} s, k-means {:.3} s (init {:.3}, Lloyd {:.3}), split {:.3} s, {} {:.3} s, total {:.3} s",
            self.method,
            self.dataset.len(),
            self.residual,
            self.synthetic,
            self.retain_size,
            self.ratio(),
            t.features,
            t.kmeans_init + t.kmeans_lloyd,
            t.kmeans_init,
            t.kmeans_lloyd,
            t.split,
            self.method,
            t.condense,
            t.total()
        )
    }
}

/// Every registered condenser.
pub fn registry() -> Vec<Box<dyn AnyCondenser>> {
    vec![
        Box::new(blend::Blend),
        Box::new(random::RandomSubset),
        Box::new(dm::DistributionMatching),
        Box::new(gm::GradientMatching),
        Box::new(idm::ImprovedDistributionMatching),
    ]
}

/// Names of the registered condensers, in the registry's order.
pub fn names() -> Vec<&'static str> {
    registry().iter().map(|c| c.name()).collect()
}

/// The condenser called `name`.
pub fn condenser(name: &str) -> Result<Box<dyn AnyCondenser>> {
    crate::config::find(registry(), "condensation method", name)
}

/// The condenser called `name`, or an error about option `method` of `func`.
fn condenser_for(func: &str, name: &str) -> Result<Box<dyn AnyCondenser>> {
    condenser(name).map_err(|_| Error::BadOption {
        func: func.into(),
        key: "method".into(),
        msg: format!("`{name}` is not one of {:?}", names()),
    })
}

/// Runs the condenser `cfg` names with its options (checked): the entry point of scripts and
/// multi-round plans.
pub fn condense(input: &CondenseInput, cfg: &CondenseConfig) -> Result<ReducedRetainSet> {
    condenser_for("condense", &cfg.method)?.condense_json(input, &serde_json::Value::Object(cfg.options.clone()))
}

/// Condenses the whole of `train`, nothing forgotten: the condensation benchmark of method.md
/// §1.7 (with Blend every cluster is free, so R̃ holds exactly `ipc` images per class).
pub fn condense_whole(
    train: &Dataset,
    cfg: &CondenseConfig,
    feature_model: Option<&Model>,
    seed: u64,
) -> Result<ReducedRetainSet> {
    use crate::data::request::{labels_digest, RequestKind};
    let request = ForgetRequest {
        kind: RequestKind::Indices { source: "nothing: the whole set (method.md §1.7)".into() },
        dataset: train.name.clone(),
        dataset_len: train.len(),
        labels_digest: labels_digest(train.labels_host()),
        forget: Vec::new(),
        retain: (0..train.len() as i64).collect(),
        earlier: Vec::new(),
    };
    condense(&CondenseInput { train, request: &request, clustering: None, feature_model, seed }, cfg)
}
