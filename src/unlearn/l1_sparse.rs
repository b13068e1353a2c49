//! L1-sparse fine-tuning (method.md §3, `sparisification.py`): CE + α_e·‖θ‖₁ on the retain set,
//! α_e = α·(1 − e/(E − E₀)) for e < E − E₀, else 0. α 1e-4, E 30, E₀ 1, SGD lr 1e-2, momentum
//! 0.9, weight decay 5e-4, MS[50,75].
use super::{ce, finished, l1_norm, timed, Method, SgdOptions, UnlearnInput, Unlearned};
use crate::config::Named;
use crate::error::Result;
use crate::train::optim::Schedule;
use crate::train::{fit, StepLoss};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct L1Options {
    #[serde(flatten)]
    pub sgd: SgdOptions,
    /// α, the L1 weight at epoch 0.
    pub alpha: f64,
    /// E₀: the last E₀ epochs run without the L1 term.
    pub no_l1_epochs: usize,
}

impl Default for L1Options {
    fn default() -> Self {
        L1Options { sgd: SgdOptions::new(30, 1e-2, 0.9, 5e-4), alpha: 1e-4, no_l1_epochs: 1 }
    }
}

impl crate::config::Options for L1Options {}

/// α_e of method.md §3.
fn l1_weight(alpha: f64, epoch: usize, epochs: usize, no_l1: usize) -> f64 {
    let span = epochs.saturating_sub(no_l1);
    if epoch < span {
        alpha * (1.0 - epoch as f64 / span as f64)
    } else {
        0.0
    }
}

pub struct L1Sparse;

impl crate::config::Named for L1Sparse {
    type Options = L1Options;
    const NAME: &'static str = "l1_sparse";
    const DESCRIPTION: &'static str = "fine-tune on the retain set with a decaying L1 penalty on all parameters (method.md §3). For: uniform requests";
}

impl Method for L1Sparse {
    fn run(&self, input: &UnlearnInput, o: &L1Options) -> Result<Unlearned> {
        let cfg = o.sgd.train_config(Schedule::MultiStep, 0, input);
        let retain = input.retain_set()?;
        let ((model, report), seconds) = timed(input.original.device(), || {
            let mut model = input.original.try_clone()?;
            let report = fit(&mut model, &retain, &cfg, o.sgd.seed(input), |m, x, y, at| {
                let logits = m.forward(x)?;
                let mut loss = ce(&logits, y, true)?;
                let a = l1_weight(o.alpha, at.epoch, o.sgd.epochs, o.no_l1_epochs);
                if a > 0.0 {
                    loss = loss.f_add(&l1_norm(m)?.f_mul_scalar(a)?)?;
                }
                Ok(StepLoss { loss, logits: Some(logits) })
            })?;
            Ok((model, report))
        })?;
        finished(Self::NAME, model, seconds, o, &retain, Some(report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l1_weight_decays_linearly_then_stops() {
        assert_eq!(l1_weight(1e-4, 0, 30, 1), 1e-4);
        assert!((l1_weight(1e-4, 29, 30, 1)).abs() < 1e-20);
        assert!((l1_weight(1e-4, 14, 30, 1) - 1e-4 * (1.0 - 14.0 / 29.0)).abs() < 1e-15);
    }
}
