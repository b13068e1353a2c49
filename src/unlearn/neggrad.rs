//! NegGrad+ (Kurmanji et al. 2023; not in the reference code, added as a common baseline):
//! fine-tune the original model on retain batches while ascending the cross-entropy of forget
//! batches, L = CE(retain batch) − forget_weight · CE(forget batch), one forget batch of the same
//! size per retain batch, cycling through a seeded shuffle of the forget set.
use super::{ce, finished, timed, Method, SgdOptions, UnlearnInput, Unlearned};
use crate::config::Named;
use crate::error::Result;
use crate::train::optim::Schedule;
use crate::train::{fit, StepLoss};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use tch::Tensor;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NegGradOptions {
    #[serde(flatten)]
    pub sgd: SgdOptions,
    /// Weight of the (negated) forget cross-entropy.
    pub forget_weight: f64,
}

impl Default for NegGradOptions {
    fn default() -> Self {
        NegGradOptions { sgd: SgdOptions::new(5, 0.01, 0.9, 5e-4), forget_weight: 0.05 }
    }
}

impl crate::config::Options for NegGradOptions {}

pub struct NegGradPlus;

impl crate::config::Named for NegGradPlus {
    type Options = NegGradOptions;
    const NAME: &'static str = "neggrad_plus";
    const DESCRIPTION: &'static str = "NegGrad+: retain cross-entropy minus a weighted forget cross-entropy. For: class-wise requests given enough epochs (its forget term is small)";
}

impl Method for NegGradPlus {
    fn run(&self, input: &UnlearnInput, o: &NegGradOptions) -> Result<Unlearned> {
        let seed = o.sgd.seed(input);
        let cfg = o.sgd.train_config(Schedule::Constant, 0, input);
        let retain = input.retain_set()?;
        let forget = input.forget_set()?;
        // forget batches: a seeded shuffle of the forget set, cycled, uploaded once
        let steps_per_epoch = retain.len().div_ceil(o.sgd.batch_size.max(1));
        let mut r = super::amu::method_rng(seed ^ 0x6e67);
        let mut order: Vec<i64> = Vec::new();
        while order.len() < steps_per_epoch * o.sgd.epochs * o.sgd.batch_size {
            let mut pass: Vec<i64> = (0..forget.len() as i64).collect();
            pass.shuffle(&mut r);
            order.extend(pass);
        }
        let order = Tensor::f_from_slice(&order)?.f_to_device(forget.device())?;
        let bs = o.sgd.batch_size as i64;
        let ((model, report), seconds) = timed(input.original.device(), || {
            let mut model = input.original.try_clone()?;
            let report = fit(&mut model, &retain, &cfg, seed, |m, x, y, at| {
                let n = x.size()[0];
                let start = ((at.epoch * steps_per_epoch + at.batch) as i64) * bs;
                let idx = order.f_narrow(0, start, n.min(bs))?;
                let (xf, yf) = (forget.images().f_index_select(0, &idx)?, forget.labels().f_index_select(0, &idx)?);
                let logits = m.forward(&Tensor::f_cat(&[x, &xf], 0)?)?;
                let ce_r = ce(&logits.f_narrow(0, 0, n)?, y, true)?;
                let ce_f = ce(&logits.f_narrow(0, n, idx.size()[0])?, &yf, true)?;
                Ok(StepLoss { loss: ce_r.f_sub(&ce_f.f_mul_scalar(o.forget_weight)?)?, logits: Some(logits) })
            })?;
            Ok((model, report))
        })?;
        finished(Self::NAME, model, seconds, o, &retain, Some(report))
    }
}
