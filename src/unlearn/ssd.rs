//! Selective Synaptic Dampening (Foster et al. 2024; method.md §3, `ssd.py`, `ssd_lf.py`).
//! Importances are per-parameter means over batches of squared gradients of the cross-entropy
//! (SSD) or of |gradient| of the mean squared logit norm (SSD-LF, label-free), on the forget
//! set (I_f) and on the forget set plus the retain set (I_d). A parameter is dampened where
//! I_f > α·I_d: p ← p·min(λ·I_d/I_f, 1); α 10, λ 1. This is the original paper's order;
//! `swapped: true` reproduces the reference code, which passes the two importances the other
//! way round (method.md §7 item 11). As in the reference, whose loaders shuffle, the batches
//! are drawn in a seeded random order (the importance of a batch is the square of its mean
//! gradient, so which items share a batch matters).
use super::{ce, finished, timed, Method, UnlearnInput, Unlearned};
use crate::config::Named;
use crate::data::Dataset;
use crate::error::Result;
use crate::models::Model;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SsdOptions {
    /// α (`selection_weighting`).
    pub alpha: f64,
    /// λ (`dampening_constant`).
    pub lambda: f64,
    pub batch_size: usize,
    /// Reproduce the reference code's swapped importances.
    pub swapped: bool,
    /// Draw the batches in a random order (the reference's shuffling loaders); false: in the
    /// data's order.
    pub shuffle: bool,
    /// Seed of the batch order; `None` takes the run's.
    pub seed: Option<u64>,
}

impl Default for SsdOptions {
    fn default() -> Self {
        SsdOptions { alpha: 10.0, lambda: 1.0, batch_size: 64, swapped: false, shuffle: true, seed: None }
    }
}

impl crate::config::Options for SsdOptions {}

/// Mean over batches of the per-parameter importance of `data` for `model`; the batches are
/// consecutive items of `data` in a random order drawn from `shuffle_seed`, or in the data's
/// order when it is `None`.
pub fn importances(
    model: &Model,
    data: &Dataset,
    batch: usize,
    label_free: bool,
    shuffle_seed: Option<u64>,
) -> Result<Vec<Tensor>> {
    let vars = model.var_store().trainable_variables();
    let mut acc: Vec<Tensor> = vars.iter().map(|v| v.f_zeros_like()).collect::<std::result::Result<_, _>>()?;
    let n = data.len() as i64;
    let order = match shuffle_seed {
        Some(seed) => {
            use rand::seq::SliceRandom;
            let mut idx: Vec<i64> = (0..n).collect();
            idx.shuffle(&mut super::amu::method_rng(seed));
            Some(Tensor::f_from_slice(&idx)?.f_to_device(data.device())?)
        }
        None => None,
    };
    let mut batches = 0usize;
    for start in (0..n).step_by(batch.max(1)) {
        let len = (batch as i64).min(n - start);
        let (x, y) = match &order {
            Some(o) => {
                let idx = o.f_narrow(0, start, len)?;
                (data.images().f_index_select(0, &idx)?, data.labels().f_index_select(0, &idx)?)
            }
            None => (data.images().f_narrow(0, start, len)?, data.labels().f_narrow(0, start, len)?),
        };
        for v in &vars {
            let mut g = v.grad();
            if g.defined() {
                let _ = g.f_zero_()?;
            }
        }
        let logits = model.forward(&x)?;
        let loss = if label_free {
            logits.f_square()?.f_sum_dim_intlist(&[1i64][..], false, Kind::Float)?.f_mean(Kind::Float)?
        } else {
            ce(&logits, &y, true)?
        };
        loss.f_backward()?;
        tch::no_grad(|| -> Result<()> {
            for (a, v) in acc.iter_mut().zip(&vars) {
                let g = v.grad();
                if g.defined() {
                    let imp = if label_free { g.f_abs()? } else { g.f_square()? };
                    *a = a.f_add(&imp)?;
                }
            }
            Ok(())
        })?;
        batches += 1;
    }
    for v in &vars {
        let mut g = v.grad();
        if g.defined() {
            let _ = g.f_zero_()?;
        }
    }
    acc.into_iter().map(|a| Ok(a.f_div_scalar(batches.max(1) as f64)?)).collect()
}

/// p ← p·min(λ·I_d/I_f, 1) where I_f > α·I_d (in place).
pub fn dampen(params: &[Tensor], forget_imp: &[Tensor], full_imp: &[Tensor], alpha: f64, lambda: f64) -> Result<()> {
    tch::no_grad(|| {
        for ((p, f), d) in params.iter().zip(forget_imp).zip(full_imp) {
            let select = f.f_gt_tensor(&d.f_mul_scalar(alpha)?)?;
            let factor = d.f_mul_scalar(lambda)?.f_div(f)?.f_clamp_max(1.0)?;
            let factor = factor.f_where_self(&select, &Tensor::f_ones_like(&factor)?)?;
            let mut p = p.shallow_clone();
            let _ = p.f_mul_(&factor)?;
        }
        Ok(())
    })
}

fn run_ssd(name: &str, input: &UnlearnInput, o: &SsdOptions, label_free: bool) -> Result<Unlearned> {
    let retain = input.retain_set()?;
    let forget = input.forget_set()?;
    let (model, seconds) = timed(input.original.device(), || {
        let model = input.original.try_clone()?;
        let full = forget.concat(&retain, "forget + retain")?;
        let seed = o.shuffle.then(|| o.seed.unwrap_or(input.seed));
        // the two loaders draw their own orders
        let i_f = importances(&model, &forget, o.batch_size, label_free, seed)?;
        let i_d = importances(&model, &full, o.batch_size, label_free, seed.map(|s| s ^ 0x55AA_55AA))?;
        let params = model.var_store().trainable_variables();
        if o.swapped {
            dampen(&params, &i_d, &i_f, o.alpha, o.lambda)?;
        } else {
            dampen(&params, &i_f, &i_d, o.alpha, o.lambda)?;
        }
        Ok(model)
    })?;
    finished(name, model, seconds, o, &retain, None)
}

pub struct Ssd;

impl crate::config::Named for Ssd {
    type Options = SsdOptions;
    const NAME: &'static str = "ssd";
    const DESCRIPTION: &'static str = "Selective Synaptic Dampening: shrink parameters far more important to the forget set than to the data (method.md §3). For: class-wise requests (no training; on a uniform one it lowers every accuracy)";
}

impl Method for Ssd {
    fn run(&self, input: &UnlearnInput, o: &SsdOptions) -> Result<Unlearned> {
        run_ssd(Self::NAME, input, o, false)
    }
}

pub struct SsdLf;

impl crate::config::Named for SsdLf {
    type Options = SsdOptions;
    const NAME: &'static str = "ssd_lf";
    const DESCRIPTION: &'static str = "label-free SSD: importances from |gradient| of the squared logit norm (method.md §3). For: class-wise requests";
}

impl Method for SsdLf {
    fn run(&self, input: &UnlearnInput, o: &SsdOptions) -> Result<Unlearned> {
        run_ssd(Self::NAME, input, o, true)
    }
}
