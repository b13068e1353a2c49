//! Residual knowledge: what unlearning hid rather than removed.
//!
//! - **Relearning test** ([`relearn`]): fine-tune the unlearned model on the forget set itself
//!   (plain SGD on shuffled batches) and count the optimiser steps until its forget accuracy is back
//!   to the original model's. A model that forgot returns slowly, like Retrain's, which never saw
//!   the forget set; one that only suppressed its knowledge returns in a few steps. Fewer steps
//!   than Retrain's model is the warning sign; compare with Retrain's count on the same request.
//! - **Retain-side privacy audit** ([`retain_mia`]): the paper's MIA telling retain items from
//!   held-out ones (the evaluation split), before (the original) and after unlearning. Unlearning
//!   can expose the examples that stay (the "privacy onion"): a score that rises above the
//!   original's means the retain set became easier to detect. 50 is ideal; lower is better.
use super::mia::{model_mia, MiaScore, MIN_ATTACK_ITEMS};
use super::MiaOptions;
use crate::data::loader::Batches;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::Model;
use crate::train::eval::accuracy;
use crate::train::optim::{build, OptimizerKind};
use serde::{Deserialize, Serialize};
use tch::{Reduction, Tensor};

/// Options of the relearning test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelearnConfig {
    /// SGD learning rate and momentum.
    pub lr: f64,
    pub momentum: f64,
    pub batch_size: usize,
    /// Give up after this many steps (the count is then reported as not reached).
    pub max_steps: usize,
    /// The target is the original's forget accuracy minus this (a fraction).
    pub tolerance: f64,
    /// Seed of the batch order; `None`: the run's.
    pub seed: Option<u64>,
}

impl Default for RelearnConfig {
    fn default() -> Self {
        RelearnConfig { lr: 0.01, momentum: 0.9, batch_size: 32, max_steps: 200, tolerance: 0.0, seed: None }
    }
}

impl crate::config::Options for RelearnConfig {}

impl RelearnConfig {
    pub fn check(&self) -> Result<()> {
        let opt = |key: &str, msg: &str| Error::BadOption { func: "relearn".into(), key: key.into(), msg: msg.into() };
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(opt("lr", "must be a positive number"));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(opt("momentum", "must be in [0, 1)"));
        }
        if self.batch_size == 0 || self.max_steps == 0 {
            return Err(opt(if self.batch_size == 0 { "batch_size" } else { "max_steps" }, "must be at least 1"));
        }
        if !(0.0..1.0).contains(&self.tolerance) {
            return Err(opt("tolerance", "must be in [0, 1)"));
        }
        Ok(())
    }
}

/// The relearning test's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relearn {
    /// Steps until the forget accuracy reached the target; `None`: not within `max_steps`.
    pub steps: Option<usize>,
    pub target: f64,
    /// Forget accuracy before relearning and after each step.
    pub forget_acc: Vec<f64>,
    pub max_steps: usize,
}

/// Fine-tunes a copy of `model` on `forget` until its accuracy there reaches `target` − the
/// tolerance (see the module); `model` is not changed.
pub fn relearn(model: &Model, forget: &Dataset, target: f64, cfg: &RelearnConfig, run_seed: u64) -> Result<Relearn> {
    cfg.check()?;
    let goal = target - cfg.tolerance;
    let m = model.try_clone()?;
    let data = forget.to_device(m.device())?;
    let mut acc = vec![accuracy(&m, &data)?];
    if acc[0] >= goal {
        return Ok(Relearn { steps: Some(0), target: goal, forget_acc: acc, max_steps: cfg.max_steps });
    }
    let mut opt = build(m.var_store(), OptimizerKind::Sgd, cfg.lr, cfg.momentum, 0.0)?;
    let mut rng = crate::data::split::rng(cfg.seed.unwrap_or(run_seed) ^ 0x07e1_ea2e);
    let mut step = 0;
    while step < cfg.max_steps {
        let mut batches = Batches::shuffled(&data, cfg.batch_size, &mut rng)?;
        while let Some((x, y)) = batches.next_batch()? {
            let loss = m.forward(&x)?.f_cross_entropy_loss::<Tensor>(&y, None, Reduction::Mean, -100, 0.0)?;
            opt.zero_grad()?;
            loss.f_backward()?;
            opt.step()?;
            step += 1;
            let a = accuracy(&m, &data)?;
            acc.push(a);
            if a >= goal {
                return Ok(Relearn { steps: Some(step), target: goal, forget_acc: acc, max_steps: cfg.max_steps });
            }
            if step == cfg.max_steps {
                break;
            }
        }
    }
    Ok(Relearn { steps: None, target: goal, forget_acc: acc, max_steps: cfg.max_steps })
}

/// The paper's MIA of `model` telling `retain` items (members) from `evaluation` items (never
/// trained on), each side a seeded sample of the smaller one's size; unmeasured below
/// [`MIN_ATTACK_ITEMS`] a side.
pub fn retain_mia(model: &Model, retain: &Dataset, evaluation: &Dataset, seed: u64) -> Result<MiaScore> {
    if retain.len().min(evaluation.len()) < MIN_ATTACK_ITEMS {
        return Ok(MiaScore::unmeasured());
    }
    model_mia(model, retain, evaluation, evaluation, &MiaOptions { seed: seed ^ 0x004e_7a1a, swap_below: None })
}
