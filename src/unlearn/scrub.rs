//! SCRUB (Kurmanji et al. 2023; method.md §3, `scrub.py`) and A-SCRUB (§2.4,
//! `accelerated_scrub.py`). The student starts as the original model, the teacher is the
//! original. An epoch is a forget pass (batches of 64 over F, loss −0.2·KL_T(student‖teacher):
//! move away from the teacher on the forget set; SCRUB only in epochs 0..=max_steps, as the
//! reference's `e <= m_steps`)
//! then a retain pass with one shared optimiser:
//! - SCRUB: γ·CE + β·KL_T on retain batches; SGD lr 1e-2, momentum 0.9, wd 5e-4, 15 epochs,
//!   max_steps 5, warm-up 5 + cosine.
//! - A-SCRUB: γ·(CE)² + β·KL_T + λ·MMD² (A-AMU's term, §2.1); Adam lr 1e-4, 1 epoch.
//!   γ 0.99, β 0.001, T 2 for both.
use super::amu::{method_rng, sampling_plan, AmuLoss};
use super::{ce, finished, kl_t, run_pass, timed, Method, SgdOptions, UnlearnInput, Unlearned};
use crate::config::Named;
use crate::error::Result;
use crate::train::optim::{self, OptimizerKind, Schedule};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScrubOptions {
    #[serde(flatten)]
    pub sgd: SgdOptions,
    /// The last (0-based) epoch that starts with a forget pass (the reference's m_steps: epochs
    /// 0..=max_steps do, so 5 gives 6 forget passes).
    pub max_steps: usize,
    pub gamma: f64,
    pub beta: f64,
    /// Weight of the forget pass's (negated) KL.
    pub forget_weight: f64,
    pub temperature: f64,
    pub warmup_epochs: usize,
}

impl Default for ScrubOptions {
    fn default() -> Self {
        ScrubOptions {
            sgd: SgdOptions::new(15, 1e-2, 0.9, 5e-4),
            max_steps: 5,
            gamma: 0.99,
            beta: 0.001,
            forget_weight: 0.2,
            temperature: 2.0,
            warmup_epochs: 5,
        }
    }
}

impl crate::config::Options for ScrubOptions {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AScrubOptions {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub gamma: f64,
    pub beta: f64,
    pub forget_weight: f64,
    pub temperature: f64,
    pub lambda: f64,
    pub k: f64,
    pub clamp: f64,
    pub sigma: f64,
    pub seed: Option<u64>,
    pub progress: bool,
}

impl Default for AScrubOptions {
    fn default() -> Self {
        AScrubOptions {
            epochs: 1,
            batch_size: 64,
            lr: 1e-4,
            gamma: 0.99,
            beta: 0.001,
            forget_weight: 0.2,
            temperature: 2.0,
            lambda: 34.0,
            k: 2.0,
            clamp: 60.0,
            sigma: 1.0,
            seed: None,
            progress: true,
        }
    }
}

impl crate::config::Options for AScrubOptions {}

/// Whether SCRUB's 0-based epoch `epoch` starts with a forget pass: the reference runs one for
/// every epoch e ≤ m_steps (method.md §3), so `max_steps` 5 gives 6 forget passes.
fn forget_pass(epoch: usize, max_steps: usize) -> bool {
    epoch <= max_steps
}

pub struct Scrub;

impl crate::config::Named for Scrub {
    type Options = ScrubOptions;
    const NAME: &'static str = "scrub";
    const DESCRIPTION: &'static str = "SCRUB: forget passes away from the original (−KL), retain passes towards it (CE + KL) (method.md §3). For: uniform and class-wise requests; removing a class takes its forget passes (max_steps)";
}

impl Method for Scrub {
    fn run(&self, input: &UnlearnInput, o: &ScrubOptions) -> Result<Unlearned> {
        let seed = o.sgd.seed(input);
        let retain = input.retain_set()?;
        let forget = input.forget_set()?;
        let teacher = input.original;
        let t = o.temperature;
        let (model, seconds) = timed(teacher.device(), || {
            let model = teacher.try_clone()?;
            let mut opt =
                optim::build(model.var_store(), OptimizerKind::Sgd, o.sgd.lr, o.sgd.momentum, o.sgd.weight_decay)?;
            let mut r = method_rng(seed);
            for e in 0..o.sgd.epochs {
                opt.set_lr(
                    o.sgd.lr * Schedule::WarmupCosine.factor(e, o.sgd.epochs, o.warmup_epochs.min(o.sgd.epochs)),
                );
                if forget_pass(e, o.max_steps) {
                    run_pass(
                        &model,
                        &mut opt,
                        forget.len(),
                        o.sgd.batch_size,
                        &mut r,
                        e,
                        |m, idx| {
                            let x = forget.images().f_index_select(0, idx)?;
                            let tl = tch::no_grad(|| teacher.forward(&x))?;
                            Ok(kl_t(&m.forward(&x)?, &tl, t)?.f_mul_scalar(-o.forget_weight)?)
                        },
                        |_| Ok(()),
                    )?;
                }
                run_pass(
                    &model,
                    &mut opt,
                    retain.len(),
                    o.sgd.batch_size,
                    &mut r,
                    e,
                    |m, idx| {
                        let (x, y) = (retain.images().f_index_select(0, idx)?, retain.labels().f_index_select(0, idx)?);
                        let logits = m.forward(&x)?;
                        let tl = tch::no_grad(|| teacher.forward(&x))?;
                        Ok(ce(&logits, &y, true)?
                            .f_mul_scalar(o.gamma)?
                            .f_add(&kl_t(&logits, &tl, t)?.f_mul_scalar(o.beta)?)?)
                    },
                    |_| Ok(()),
                )?;
            }
            Ok(model)
        })?;
        finished(Self::NAME, model, seconds, o, &retain, None)
    }
}

pub struct AScrub;

impl crate::config::Named for AScrub {
    type Options = AScrubOptions;
    const NAME: &'static str = "a_scrub";
    const DESCRIPTION: &'static str = "A-AMU on SCRUB: a forget pass (−KL), then γ·CE² + β·KL + 34·MMD² on retain batches, Adam, 1 epoch (method.md §2.4). For: uniform requests";
}

impl Method for AScrub {
    fn run(&self, input: &UnlearnInput, o: &AScrubOptions) -> Result<Unlearned> {
        let seed = o.seed.unwrap_or(input.seed);
        // method.md §7 item 12: the retain pass uses R̃ when one is given
        let retain = input.retain_set()?;
        let forget = input.forget_set()?;
        let unseen = input.unseen_set(Self::NAME)?;
        let teacher = input.original;
        let amu = AmuLoss { lambda: o.lambda, k: o.k, clamp: o.clamp, sigma: o.sigma, per_sample_square: false };
        let (model, seconds) = timed(teacher.device(), || {
            let model = teacher.try_clone()?;
            let mut opt = optim::build(model.var_store(), OptimizerKind::Adam, o.lr, 0.0, 0.0)?;
            let mut r = method_rng(seed);
            let b = o.batch_size.max(1);
            let sizes: Vec<usize> = (0..retain.len().div_ceil(b)).map(|i| b.min(retain.len() - i * b)).collect();
            for e in 0..o.epochs {
                run_pass(
                    &model,
                    &mut opt,
                    forget.len(),
                    b,
                    &mut r,
                    e,
                    |m, idx| {
                        let x = forget.images().f_index_select(0, idx)?;
                        let tl = tch::no_grad(|| teacher.forward(&x))?;
                        Ok(kl_t(&m.forward(&x)?, &tl, o.temperature)?.f_mul_scalar(-o.forget_weight)?)
                    },
                    |_| Ok(()),
                )?;
                let plan = sampling_plan(&sizes, &forget, &unseen, &mut r)?;
                let mut step = 0usize;
                run_pass(
                    &model,
                    &mut opt,
                    retain.len(),
                    b,
                    &mut r,
                    e,
                    |m, idx| {
                        let (x, y) = (retain.images().f_index_select(0, idx)?, retain.labels().f_index_select(0, idx)?);
                        let f = plan.forward(step, m, &x, &forget, &unseen, false)?;
                        step += 1;
                        let lr_ = f.logits.f_narrow(0, 0, x.size()[0])?;
                        let tlog = tch::no_grad(|| teacher.forward(&x))?;
                        let (ce_t, ce_f) = (f.unseen_ce, f.forget_ce);
                        let main = ce(&lr_, &y, true)?.f_square()?.f_mul_scalar(o.gamma)?;
                        Ok(main
                            .f_add(&kl_t(&lr_, &tlog, o.temperature)?.f_mul_scalar(o.beta)?)?
                            .f_add(&amu.distribution(&ce_t, &ce_f)?)?)
                    },
                    |_| Ok(()),
                )?;
            }
            Ok(model)
        })?;
        finished(Self::NAME, model, seconds, o, &retain, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SCRUB's forget passes (method.md §3): the reference runs one in every epoch e ≤ m_steps.
    #[test]
    fn scrub_runs_a_forget_pass_in_epochs_zero_to_max_steps() {
        let passes = |epochs: usize, max_steps: usize| (0..epochs).filter(|&e| forget_pass(e, max_steps)).count();
        assert_eq!(passes(15, 5), 6, "m_steps 5 of 15 epochs");
        assert_eq!(passes(15, 9), 10, "the cond profile's m_steps 9");
        assert_eq!(passes(3, 5), 3, "never more than the epochs");
        assert!(forget_pass(0, 0) && !forget_pass(1, 0));
    }
}
