//! Iterative magnitude pruning (method.md §3, `prunning.py`): global unstructured L1 pruning of
//! all convolution weights at epochs e with (E − e) mod step = 0, each event removing the same
//! fraction 1 − (1 − target)^(1/events) of the still-unpruned weights, with cross-entropy
//! fine-tuning on the retain set in between. Masks are re-applied after every optimiser step
//! (equivalent to torch's pruning re-parametrisation). Target sparsity 0.95, E 20, step 5 →
//! events at 0, 5, 10, 15 with rate 0.5271; SGD lr 0.04, momentum 0.9, weight decay 5e-4.
use super::amu::method_rng;
use super::{ce, finished, run_pass, timed, Method, SgdOptions, UnlearnInput, Unlearned};
use crate::config::Named;
use crate::error::{Error, Result};
use crate::models::Model;
use crate::train::optim::{self, OptimizerKind};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PruningOptions {
    #[serde(flatten)]
    pub sgd: SgdOptions,
    /// Final fraction of convolution weights set to zero.
    pub target_sparsity: f64,
    /// Epochs between pruning events.
    pub step: usize,
}

impl Default for PruningOptions {
    fn default() -> Self {
        PruningOptions { sgd: SgdOptions::new(20, 0.04, 0.9, 5e-4), target_sparsity: 0.95, step: 5 }
    }
}

/// The convolution weights (4-D variables) of a model.
fn conv_weights(model: &Model) -> Vec<Tensor> {
    let mut vars: Vec<(String, Tensor)> =
        model.var_store().variables().into_iter().filter(|(_, t)| t.dim() == 4).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars.into_iter().map(|(_, t)| t).collect()
}

/// Fraction of convolution weights that are exactly zero.
pub fn conv_sparsity(model: &Model) -> Result<f64> {
    let (mut zeros, mut total) = (0i64, 0i64);
    for w in conv_weights(model) {
        zeros += w.f_eq(0.0)?.f_sum(Kind::Int64)?.f_int64_value(&[])?;
        total += w.numel() as i64;
    }
    Ok(zeros as f64 / total.max(1) as f64)
}

/// The pruning events (epochs, 0-based: every `step` epochs counted back from the end) and the
/// rate pruned at each, so that `target_sparsity` is reached after the last:
/// 1 − (1 − target)^(1/events). 20 epochs, step 5, 95 %: events 0, 5, 10, 15 at rate 0.5271.
pub fn schedule(epochs: usize, step: usize, target_sparsity: f64) -> (Vec<usize>, f64) {
    let events: Vec<usize> = (0..epochs).filter(|e| (epochs - e) % step.max(1) == 0).collect();
    let rate = if events.is_empty() { 0.0 } else { 1.0 - (1.0 - target_sparsity).powf(1.0 / events.len() as f64) };
    (events, rate)
}

/// Prunes `rate` of the still-unpruned weights with the smallest magnitude, over all `masks` at once.
fn prune(weights: &[Tensor], masks: &mut [Tensor], rate: f64) -> Result<()> {
    let alive: Vec<Tensor> = weights
        .iter()
        .zip(masks.iter())
        .map(|(w, m)| w.f_abs()?.f_masked_select(&m.f_gt(0.0)?))
        .collect::<std::result::Result<_, _>>()?;
    let alive = Tensor::f_cat(&alive, 0)?;
    let k = (rate * alive.numel() as f64).round() as i64;
    if k < 1 {
        return Ok(());
    }
    let (threshold, _) = alive.f_kthvalue(k, 0, false)?;
    for (w, m) in weights.iter().zip(masks.iter_mut()) {
        *m = m.f_mul(&w.f_abs()?.f_gt_tensor(&threshold)?.f_to_kind(Kind::Float)?)?;
    }
    Ok(())
}

fn apply(weights: &[Tensor], masks: &[Tensor]) -> Result<()> {
    tch::no_grad(|| {
        for (w, m) in weights.iter().zip(masks) {
            let mut w = w.shallow_clone();
            let _ = w.f_mul_(m)?;
        }
        Ok(())
    })
}

impl crate::config::Options for PruningOptions {
    fn check(&self, method: &str) -> Result<()> {
        if !(0.0..1.0).contains(&self.target_sparsity) || self.step == 0 {
            let msg = format!(
                "{} / {}: expected a sparsity in [0, 1) and a step of at least 1",
                self.target_sparsity, self.step
            );
            return Err(Error::option(method, "target_sparsity/step", msg));
        }
        Ok(())
    }
}

pub struct Pruning;

impl crate::config::Named for Pruning {
    type Options = PruningOptions;
    const NAME: &'static str = "pruning";
    const DESCRIPTION: &'static str = "iterative global magnitude pruning of the convolutions to 95 % sparsity with fine-tuning in between (method.md §3). For: uniform requests (it weakens a class, rarely removes it)";
}

impl Method for Pruning {
    fn run(&self, input: &UnlearnInput, o: &PruningOptions) -> Result<Unlearned> {
        let epochs = o.sgd.epochs;
        let (events, rate) = schedule(epochs, o.step, o.target_sparsity);
        let retain = input.retain_set()?;
        let (model, seconds) = timed(input.original.device(), || {
            let model = input.original.try_clone()?;
            let weights = conv_weights(&model);
            let mut masks: Vec<Tensor> =
                weights.iter().map(|w| w.f_ones_like()).collect::<std::result::Result<_, _>>()?;
            let mut opt =
                optim::build(model.var_store(), OptimizerKind::Sgd, o.sgd.lr, o.sgd.momentum, o.sgd.weight_decay)?;
            let mut r = method_rng(o.sgd.seed(input));
            for e in 0..epochs {
                if events.contains(&e) {
                    prune(&weights, &mut masks, rate)?;
                    apply(&weights, &masks)?;
                }
                run_pass(
                    &model,
                    &mut opt,
                    retain.len(),
                    o.sgd.batch_size,
                    &mut r,
                    e,
                    |m, idx| {
                        ce(
                            &m.forward(&retain.images().f_index_select(0, idx)?)?,
                            &retain.labels().f_index_select(0, idx)?,
                            true,
                        )
                    },
                    |_| apply(&weights, &masks),
                )?;
            }
            Ok(model)
        })?;
        finished(Self::NAME, model, seconds, o, &retain, None)
    }
}
