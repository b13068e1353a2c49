//! Distillation (method.md §3, `distillation.py`): the student starts as the original model and
//! learns on the retain set with 1.0·CE + 0.001·KL_T=2 towards the original (the teacher).
//! SGD lr 0.04 (5e-3 on a reduced set in the reference's configs), momentum 0.86, weight decay
//! 1e-3, 50 epochs, MS[50,75].
use super::{ce, finished, kl_t, timed, Method, SgdOptions, UnlearnInput, Unlearned};
use crate::config::Named;
use crate::error::Result;
use crate::train::optim::Schedule;
use crate::train::{fit, StepLoss};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DistillOptions {
    #[serde(flatten)]
    pub sgd: SgdOptions,
    pub ce_weight: f64,
    pub kl_weight: f64,
    pub temperature: f64,
}

impl Default for DistillOptions {
    fn default() -> Self {
        DistillOptions {
            sgd: SgdOptions::new(50, 0.04, 0.86, 1e-3),
            ce_weight: 1.0,
            kl_weight: 0.001,
            temperature: 2.0,
        }
    }
}

impl crate::config::Options for DistillOptions {}

pub struct Distillation;

impl crate::config::Named for Distillation {
    type Options = DistillOptions;
    const NAME: &'static str = "distillation";
    const DESCRIPTION: &'static str = "distil the original model into a copy of itself on the retain set: CE + 0.001·KL_T (method.md §3). For: uniform requests (it keeps what generalises; it does not remove a class)";
}

impl Method for Distillation {
    fn run(&self, input: &UnlearnInput, o: &DistillOptions) -> Result<Unlearned> {
        let cfg = o.sgd.train_config(Schedule::MultiStep, 0, input);
        let retain = input.retain_set()?;
        let teacher = input.original;
        let ((model, report), seconds) = timed(teacher.device(), || {
            let mut model = teacher.try_clone()?;
            let report = fit(&mut model, &retain, &cfg, o.sgd.seed(input), |m, x, y, _| {
                let logits = m.forward(x)?;
                let t = tch::no_grad(|| teacher.forward(x))?;
                let loss = ce(&logits, y, true)?
                    .f_mul_scalar(o.ce_weight)?
                    .f_add(&kl_t(&logits, &t, o.temperature)?.f_mul_scalar(o.kl_weight)?)?;
                Ok(StepLoss { loss, logits: Some(logits) })
            })?;
            Ok((model, report))
        })?;
        finished(Self::NAME, model, seconds, o, &retain, Some(report))
    }
}
