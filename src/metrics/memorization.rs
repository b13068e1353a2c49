//! Per-example memorisation, for forget sets harder than random ones.
//!
//! Memorisation of a training example x (Feldman, 2020) is how much better a model does on x
//! when x was in its training set than when it was not. It is estimated here from a bank of
//! models, each trained from scratch on a random half of the training set so that every example is
//! *in* exactly half of them and *out* of the others: mem(x) = mean p_y(x) over the in-models −
//! mean p_y(x) over the out-models, p_y the softmax probability of x's label (the confidence
//! version, less noisy than 0/1 correctness with a handful of models). Typical examples score
//! near 0 (learnt from their neighbours either way); atypical, ambiguous or mislabelled ones score
//! high. Requests drawn from the high-memorisation stratum are the hard ones for unlearning
//! methods (the RUM line of work): random requests are mostly easy, well-generalised examples.
use super::lira::balanced_masks;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::{Model, ModelSpec};
use crate::train::eval::logits;
use crate::train::{train, TrainConfig};
use serde::{Deserialize, Serialize};
use tch::Kind;

/// Options of [`memorization`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemorizationConfig {
    /// Models in the bank (each on half the data; at least 2).
    pub models: usize,
    /// Training of each model (mimic the original's).
    pub train: TrainConfig,
    /// Seed of the halves and the models; `None`: the run's.
    pub seed: Option<u64>,
}

impl Default for MemorizationConfig {
    fn default() -> Self {
        MemorizationConfig { models: 4, train: TrainConfig { progress: false, ..TrainConfig::default() }, seed: None }
    }
}

impl crate::config::Options for MemorizationConfig {}

/// Memorisation scores of a training set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Memorization {
    /// mem(x) per training item, in dataset order, in [−1, 1].
    pub scores: Vec<f64>,
    pub models: usize,
    pub seed: u64,
    /// Digest of the training data it was measured on.
    pub data_digest: String,
    pub config: MemorizationConfig,
    pub seconds: f64,
}

/// Softmax probability of each item's label under `model`.
fn label_probability(model: &Model, data: &Dataset) -> Result<Vec<f64>> {
    let l = logits(model, data)?.f_to_kind(Kind::Double)?.f_softmax(-1, Kind::Double)?;
    let p = l.f_gather(1, &data.labels().f_unsqueeze(1)?, false)?.f_squeeze_dim(1)?;
    Ok(Vec::<f64>::try_from(&p.f_to_device(tch::Device::Cpu)?)?)
}

/// Estimates the memorisation of every item of `data` with models of `spec`'s architecture (fresh
/// initialisations) on `device`.
pub fn memorization(
    spec: &ModelSpec,
    device: tch::Device,
    data: &Dataset,
    cfg: &MemorizationConfig,
    run_seed: u64,
) -> Result<Memorization> {
    if cfg.models < 2 {
        return Err(Error::BadOption {
            func: "memorization".into(),
            key: "models".into(),
            msg: "must be at least 2 (every item in some models and out of others)".into(),
        });
    }
    crate::config::at_most("memorization", "models", cfg.models, crate::config::MAX_SHADOWS)?;
    cfg.train.check()?;
    if data.len() < 2 {
        return Err(Error::invalid("memorisation data", data.len(), "at least 2 items"));
    }
    let start = std::time::Instant::now();
    let seed = cfg.seed.unwrap_or(run_seed);
    let masks = balanced_masks(data.len(), cfg.models, seed ^ 0x3e3_0a11);
    let here = data.to_device(device)?;
    let n = data.len();
    let (mut in_sum, mut in_n, mut out_sum, mut out_n) = (vec![0.0; n], vec![0usize; n], vec![0.0; n], vec![0usize; n]);
    for (s, mask) in masks.iter().enumerate() {
        let model_seed = seed.wrapping_mul(1_000_003).wrapping_add(104_729 + s as u64);
        let ins: Vec<i64> = (0..n as i64).filter(|&i| mask[i as usize]).collect();
        let half = here.subset(&ins, format!("{} (half {s})", data.name))?;
        let mut model = Model::new(ModelSpec { init_seed: model_seed, ..spec.clone() }, device)?;
        train(&mut model, &half, &TrainConfig { progress: false, ..cfg.train.clone() }, model_seed)?;
        let p = label_probability(&model, &here)?;
        for i in 0..n {
            if mask[i] {
                in_sum[i] += p[i];
                in_n[i] += 1;
            } else {
                out_sum[i] += p[i];
                out_n[i] += 1;
            }
        }
    }
    let scores = (0..n).map(|i| in_sum[i] / in_n[i].max(1) as f64 - out_sum[i] / out_n[i].max(1) as f64).collect();
    Ok(Memorization {
        scores,
        models: cfg.models,
        seed,
        data_digest: data.digest()?,
        config: cfg.clone(),
        seconds: start.elapsed().as_secs_f64(),
    })
}
