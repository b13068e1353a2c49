//! A-AMU on fine-tuning (A-CF) and on L1-sparse fine-tuning (A-Sparse), method.md §2.1 and §2.4:
//! per retain batch of B items, L = (mean CE)² + λ·MMD²(g(CE unseen), g(CE forget))
//! (+ α‖θ‖₁ for A-Sparse), with 4B forget items and 4B unseen items of the forget sample's
//! classes; Adam (lr 2.4e-4; 1e-4 on CINIC-10), one epoch.
//!
//! The retain and forget batches go through the model in one forward (exact: instance norm
//! acts per image); the unseen batch in a no-grad forward. All sampling is planned before the
//! loop (see [`super::amu::sampling_plan`]).
use super::amu::{method_rng, sampling_plan, AmuLoss};
use super::{ce, l1_norm, timed, Method, UnlearnInput, Unlearned};
use crate::config::Named;
use crate::error::Result;
use crate::train::optim::{OptimizerKind, Schedule};
use crate::train::{fit, StepLoss, TrainConfig};
use serde::{Deserialize, Serialize};

/// Options of A-CF and A-Sparse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmuOptions {
    pub epochs: usize,
    /// Retain batch size B (forget and unseen samples are 4B).
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// λ, the weight of the MMD term.
    pub lambda: f64,
    /// Sigmoid sharpness k of the soft rank.
    pub k: f64,
    /// Clamp K of the probit.
    pub clamp: f64,
    /// Kernel width σ.
    pub sigma: f64,
    /// mean(CE²) instead of (mean CE)² (method.md §7 item 1).
    pub per_sample_square: bool,
    /// α of the L1 term over all parameters (A-Sparse: 1e-4; A-CF: 0).
    pub l1: f64,
    /// One forward over the retain, forget and unseen rows per step instead of a separate no-grad
    /// forward of the unseen rows: the same loss and gradient in fewer, larger kernels.
    pub fused: bool,
    pub seed: Option<u64>,
    pub progress: bool,
}

impl Default for AmuOptions {
    fn default() -> Self {
        AmuOptions {
            epochs: 1,
            batch_size: 64,
            lr: 2.4e-4,
            lambda: 34.0,
            k: 2.0,
            clamp: 60.0,
            sigma: 1.0,
            per_sample_square: false,
            l1: 0.0,
            fused: false,
            seed: None,
            progress: true,
        }
    }
}

impl crate::config::Options for AmuOptions {}

/// A-Sparse's defaults: A-CF's plus α = 1e-4.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ASparseOptions(pub AmuOptions);

impl Default for ASparseOptions {
    fn default() -> Self {
        ASparseOptions(AmuOptions { l1: 1e-4, ..Default::default() })
    }
}

impl crate::config::Options for ASparseOptions {}

/// Runs A-AMU with `o` (shared by A-CF and A-Sparse).
fn run_amu(name: &str, input: &UnlearnInput, o: &AmuOptions) -> Result<Unlearned> {
    let seed = o.seed.unwrap_or(input.seed);
    let retain = input.retain_set()?;
    let forget = input.forget_set()?;
    let unseen = input.unseen_set(name)?;
    let loss_fn =
        AmuLoss { lambda: o.lambda, k: o.k, clamp: o.clamp, sigma: o.sigma, per_sample_square: o.per_sample_square };
    let cfg = TrainConfig {
        epochs: o.epochs,
        batch_size: o.batch_size,
        optimizer: OptimizerKind::Adam,
        lr: o.lr,
        momentum: 0.0,
        weight_decay: 0.0,
        schedule: Schedule::Constant,
        warmup_epochs: 0,
        seed: Some(seed),
        progress: o.progress && input.progress,
    };
    let device = input.original.device();
    let ((model, report), seconds) = timed(device, || {
        // the plan for every step of every epoch, drawn before the loop
        let b = o.batch_size.max(1);
        let n = retain.len();
        let sizes: Vec<usize> = (0..n.div_ceil(b)).map(|i| b.min(n - i * b)).collect();
        let mut r = method_rng(seed ^ 0x616d75);
        let plans =
            (0..o.epochs).map(|_| sampling_plan(&sizes, &forget, &unseen, &mut r)).collect::<Result<Vec<_>>>()?;
        let mut model = input.original.try_clone()?;
        let report = fit(&mut model, &retain, &cfg, seed, |m, x, y, at| {
            let f = plans[at.epoch].forward(at.batch, m, x, &forget, &unseen, o.fused)?;
            let ce_r = ce(&f.logits.f_narrow(0, 0, x.size()[0])?, y, false)?;
            let mut loss = loss_fn.main(&ce_r)?.f_add(&loss_fn.distribution(&f.unseen_ce, &f.forget_ce)?)?;
            if o.l1 > 0.0 {
                loss = loss.f_add(&l1_norm(m)?.f_mul_scalar(o.l1)?)?;
            }
            let logits = f.logits;
            Ok(StepLoss { loss, logits: Some(logits) })
        })?;
        Ok((model, report))
    })?;
    Ok(Unlearned {
        method: name.into(),
        model,
        seconds,
        options: serde_json::to_value(o)?,
        retain: (retain.name.clone(), retain.len()),
        history: Some(report),
        condensed: None,
    })
}

pub struct ACf;

impl crate::config::Named for ACf {
    type Options = AmuOptions;
    const NAME: &'static str = "a_cf";
    const DESCRIPTION: &'static str = "A-AMU on fine-tuning: (mean retain CE)² + 34·MMD² of soft-rank-probit forget vs unseen losses, Adam, 1 epoch (method.md §2.1). For: uniform and class-wise requests (moves forget losses to unseen ones of the same classes)";
}

impl Method for ACf {
    fn run(&self, input: &UnlearnInput, o: &AmuOptions) -> Result<Unlearned> {
        run_amu(Self::NAME, input, o)
    }
}

pub struct ASparse;

impl crate::config::Named for ASparse {
    type Options = ASparseOptions;
    const NAME: &'static str = "a_sparse";
    const DESCRIPTION: &'static str = "A-AMU on L1-sparse fine-tuning: A-CF's loss + 1e-4·‖θ‖₁ over all parameters (method.md §2.4). For: uniform and class-wise requests";
}

impl Method for ASparse {
    fn run(&self, input: &UnlearnInput, o: &ASparseOptions) -> Result<Unlearned> {
        run_amu(Self::NAME, input, &o.0)
    }
}
