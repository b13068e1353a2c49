//! SalUn (Fan et al. 2024; not in the reference code, added as a baseline): a saliency mask
//! keeps the `mask_ratio` of parameters with the largest |gradient| of the forget
//! cross-entropy; then only those are fine-tuned (the others are restored after every step) on
//! forget items relabelled at random (each with a label other than its own) together with
//! retain batches under cross-entropy.
use super::amu::method_rng;
use super::{ce, finished, run_pass, timed, Method, SgdOptions, UnlearnInput, Unlearned};
use crate::config::Named;
use crate::error::{Error, Result};
use crate::train::optim::{self, OptimizerKind};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SalUnOptions {
    #[serde(flatten)]
    pub sgd: SgdOptions,
    /// Fraction of parameters (by forget-gradient magnitude) that may change.
    pub mask_ratio: f64,
}

impl Default for SalUnOptions {
    fn default() -> Self {
        SalUnOptions { sgd: SgdOptions::new(5, 1e-2, 0.9, 5e-4), mask_ratio: 0.5 }
    }
}

impl crate::config::Options for SalUnOptions {
    fn check(&self, method: &str) -> Result<()> {
        if !(self.mask_ratio > 0.0 && self.mask_ratio <= 1.0) {
            return Err(Error::option(method, "mask_ratio", format!("{} is outside (0, 1]", self.mask_ratio)));
        }
        Ok(())
    }
}

pub struct SalUn;

impl crate::config::Named for SalUn {
    type Options = SalUnOptions;
    const NAME: &'static str = "salun";
    const DESCRIPTION: &'static str = "SalUn: saliency-masked fine-tuning with random labels on the forget set and true labels on the retain set. For: class-wise requests";
}

impl Method for SalUn {
    fn run(&self, input: &UnlearnInput, o: &SalUnOptions) -> Result<Unlearned> {
        let retain = input.retain_set()?;
        let forget = input.forget_set()?;
        let k = forget.num_classes() as i64;
        let mut r = method_rng(o.sgd.seed(input));
        // a random wrong label for every forget item
        let random_labels: Vec<i64> =
            forget.labels_host().iter().map(|&y| (y + r.random_range(1..k.max(2))) % k).collect();
        let (model, seconds) = timed(input.original.device(), || {
            let model = input.original.try_clone()?;
            let device = model.device();
            let vars = model.var_store().trainable_variables();
            // saliency: |grad| of the forget cross-entropy, over the whole forget set
            let loss = ce(&model.forward(forget.images())?, forget.labels(), true)?;
            loss.f_backward()?;
            let grads: Vec<Tensor> = vars.iter().map(|v| v.grad().f_abs()).collect::<std::result::Result<_, _>>()?;
            let flat = Tensor::f_cat(
                &grads.iter().map(|g| g.f_flatten(0, -1)).collect::<std::result::Result<Vec<_>, _>>()?,
                0,
            )?;
            let keep = ((o.mask_ratio * flat.numel() as f64).round() as i64).max(1);
            let (threshold, _) = flat.f_kthvalue(flat.numel() as i64 - keep + 1, 0, false)?;
            let masks: Vec<Tensor> = grads
                .iter()
                .map(|g| g.f_ge_tensor(&threshold)?.f_to_kind(Kind::Float))
                .collect::<std::result::Result<_, _>>()?;
            for v in &vars {
                let _ = v.grad().f_zero_()?;
            }
            // parameters outside the mask stay at their original values: restored after each step
            let frozen: Vec<Tensor> =
                vars.iter().map(|v| v.f_detach()?.f_mul_scalar(1.0)).collect::<std::result::Result<_, _>>()?;
            let restore = |_: &crate::models::Model| -> Result<()> {
                tch::no_grad(|| -> Result<()> {
                    for ((v, m), f) in vars.iter().zip(&masks).zip(&frozen) {
                        let mut v = v.shallow_clone();
                        let kept = v.f_mul(m)?.f_add(&f.f_mul(&m.f_neg()?.f_add_scalar(1.0)?)?)?;
                        v.f_copy_(&kept)?;
                    }
                    Ok(())
                })
            };
            let relabelled = Tensor::f_from_slice(&random_labels)?.f_to_device(device)?;
            let mut opt =
                optim::build(model.var_store(), OptimizerKind::Sgd, o.sgd.lr, o.sgd.momentum, o.sgd.weight_decay)?;
            // forget items ride along with the retain batches, cycling
            let per_batch =
                (forget.len() as f64 / retain.len().div_ceil(o.sgd.batch_size) as f64).ceil().max(1.0) as i64;
            let mut cursor = 0i64;
            for e in 0..o.sgd.epochs {
                run_pass(
                    &model,
                    &mut opt,
                    retain.len(),
                    o.sgd.batch_size,
                    &mut r,
                    e,
                    |m, idx| {
                        let fi = Tensor::f_arange_start(cursor, cursor + per_batch, (Kind::Int64, device))?
                            .f_remainder(forget.len() as i64)?;
                        cursor += per_batch;
                        let x = Tensor::f_cat(
                            &[retain.images().f_index_select(0, idx)?, forget.images().f_index_select(0, &fi)?],
                            0,
                        )?;
                        let y = Tensor::f_cat(
                            &[retain.labels().f_index_select(0, idx)?, relabelled.f_index_select(0, &fi)?],
                            0,
                        )?;
                        ce(&m.forward(&x)?, &y, true)
                    },
                    restore,
                )?;
            }
            Ok(model)
        })?;
        finished(Self::NAME, model, seconds, o, &retain, None)
    }
}
