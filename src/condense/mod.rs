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

use crate::data::request::ForgetRequest;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::Model;
use kmeans::Clustering;
use serde::{Deserialize, Serialize};
use std::rc::Rc;

/// Options of `condense()`; fields a method does not use are ignored by it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CondenseConfig {
    /// "blend", "random", "dm", "gm" or "idm".
    pub method: String,
    /// Clusters (Blend) or images (random, DM, GM, IDM) per class.
    pub ipc: usize,
    /// Random subset only: this many images in all (drawn per class in proportion), instead of
    /// `ipc` per class, e.g. the size of a Blend-reduced set.
    pub size: Option<usize>,
    /// Iterations; `None`: 12 for Blend (method.md §1.4; 20 in the condensation benchmark),
    /// 20,000 for DM and IDM, 1000 for GM (§1.7).
    pub iters: Option<usize>,
    /// Learning rate; `None`: η(ipc) of method.md §1.4 for Blend, 0.01 for DM and IDM, 0.1 for
    /// GM (§1.7).
    pub lr: Option<f64>,
    /// SGD momentum of Blend's weights and of the DM/GM/IDM images.
    pub momentum: f64,
    /// Real images per class and step (DM, GM, IDM).
    pub batch_real: usize,
    /// GM: image steps per iteration (one fresh network each iteration); `None`: the
    /// reference's table by ipc ([`gm::gm_loops`]).
    pub outer_loop: Option<usize>,
    /// GM: epochs the network trains on the synthetic set between two image steps; `None`: the
    /// table's.
    pub inner_loop: Option<usize>,
    /// GM: learning rate of that network training (plain SGD).
    pub net_lr: f64,
    /// IDM: random networks in its fixed pool.
    pub pool_size: usize,
    /// Seed of every random choice (feature networks, k-means, subsets); `None` takes the run's.
    pub seed: Option<u64>,
    pub kmeans_max_iter: usize,
    pub kmeans_tol: f64,
    /// Images per no-grad forward (features, Blend targets).
    pub embed_batch: usize,
    /// Blend clusters per forward/backward chunk (memory only; the result is the same).
    pub chunk_clusters: usize,
}

impl Default for CondenseConfig {
    fn default() -> Self {
        CondenseConfig {
            method: "blend".into(),
            ipc: 10,
            size: None,
            iters: None,
            lr: None,
            momentum: 0.5,
            batch_real: dm::BATCH_REAL,
            outer_loop: None,
            inner_loop: None,
            net_lr: gm::GM_NET_LR,
            pool_size: idm::POOL_SIZE,
            seed: None,
            kmeans_max_iter: 100,
            kmeans_tol: 1e-4,
            embed_batch: 1024,
            chunk_clusters: 1024,
        }
    }
}

impl CondenseConfig {
    pub fn check(&self) -> Result<()> {
        let bad = |key: &str, msg: String| Error::BadOption { func: "condense".into(), key: key.into(), msg };
        if !CONDENSERS.contains(&self.method.as_str()) {
            return Err(bad("method", format!("`{}` is not one of {CONDENSERS:?}", self.method)));
        }
        if self.size == Some(0) {
            return Err(bad("size", "must be at least 1".into()));
        }
        if self.ipc == 0 {
            return Err(bad("ipc", "must be at least 1".into()));
        }
        if self.lr.is_some_and(|lr| !lr.is_finite()) {
            return Err(bad("lr", "must be finite".into()));
        }
        if let Some(iters) = self.iters {
            crate::config::at_most("condense", "iters", iters, crate::config::MAX_ITERATIONS)?;
        }
        crate::config::at_most("condense", "kmeans_max_iter", self.kmeans_max_iter, crate::config::MAX_ITERATIONS)?;
        if self.batch_real == 0 {
            return Err(bad("batch_real", "must be at least 1".into()));
        }
        if self.outer_loop == Some(0) {
            return Err(bad("outer_loop", "must be at least 1".into()));
        }
        for (key, value) in [("outer_loop", self.outer_loop), ("inner_loop", self.inner_loop)] {
            if let Some(v) = value {
                crate::config::at_most("condense", key, v, crate::config::MAX_ITERATIONS)?;
            }
        }
        if !(self.net_lr.is_finite() && self.net_lr > 0.0) {
            return Err(bad("net_lr", "must be a positive finite number".into()));
        }
        if self.pool_size == 0 {
            return Err(bad("pool_size", "must be at least 1".into()));
        }
        crate::config::at_most("condense", "pool_size", self.pool_size, MAX_POOL_SIZE)?;
        if self.method == "gm" && gm::loops(self).is_none() {
            let (outer, inner) = (self.outer_loop.is_none(), self.inner_loop.is_none());
            let key = if outer { "outer_loop" } else { "inner_loop" };
            let missing = if outer && inner { "outer_loop and inner_loop" } else { key };
            return Err(bad(
                key,
                format!(
                    "GM has default loops for ipc 1 to 5, 10, 20, 30, 40 and 50 only, not {}: give {missing}",
                    self.ipc
                ),
            ));
        }
        if self.embed_batch == 0 || self.chunk_clusters == 0 || self.kmeans_max_iter == 0 {
            return Err(bad("embed_batch/chunk_clusters/kmeans_max_iter", "must be at least 1".into()));
        }
        Ok(())
    }
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
    /// The seed of the run, used where `CondenseConfig::seed` is `None`.
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
        config: &CondenseConfig,
    ) -> Self {
        ReducedRetainSet {
            method: method.into(),
            dataset,
            retain_size,
            residual,
            synthetic,
            timings,
            clustering,
            config: config.clone(),
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

/// A condensation method.
pub trait Condenser {
    fn name(&self) -> &'static str;
    fn condense(&self, input: &CondenseInput, cfg: &CondenseConfig) -> Result<ReducedRetainSet>;
}

/// Names of the registered condensers.
pub const CONDENSERS: &[&str] = &["blend", "random", "dm", "gm", "idm"];

/// The condenser called `name`.
pub fn condenser(name: &str) -> Result<Box<dyn Condenser>> {
    match name {
        "blend" => Ok(Box::new(blend::Blend)),
        "random" => Ok(Box::new(random::RandomSubset)),
        "dm" => Ok(Box::new(dm::DistributionMatching)),
        "gm" => Ok(Box::new(gm::GradientMatching)),
        "idm" => Ok(Box::new(idm::ImprovedDistributionMatching)),
        other => Err(Error::invalid("condensation method", other, format!("one of {CONDENSERS:?}"))),
    }
}

/// Validates `cfg` and runs the condenser it names.
pub fn condense(input: &CondenseInput, cfg: &CondenseConfig) -> Result<ReducedRetainSet> {
    cfg.check()?;
    input.request.check_dataset(input.train)?;
    condenser(&cfg.method)?.condense(input, cfg)
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
