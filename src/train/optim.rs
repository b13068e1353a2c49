//! Optimisers and learning-rate schedules, with PyTorch semantics (method.md "Rust / tch porting
//! notes"): SGD adds weight decay to the gradient before momentum; Adam uses β = (0.9, 0.999),
//! eps = 1e-8; schedules are recomputed per epoch (LambdaLR) and set with `set_lr`.
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::nn::{self, OptimizerConfig};
use tch::Tensor;

/// Which optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    Sgd,
    Adam,
}

/// Learning-rate schedule over epochs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// The same learning rate every epoch.
    Constant,
    /// Linear warm-up then cosine to zero (method.md §4.3 and §3 "warm+cos"): factor (e+1)/W for
    /// e < W, then ½(1 + cos(π (e − W)/(E − W))).
    WarmupCosine,
    /// method.md §3's "MS[50,75]": ×0.1 at epochs 50 and 75 (never triggers for E ≤ 50).
    MultiStep,
}

impl Schedule {
    /// The factor applied to the base learning rate in epoch `epoch` (0-based) of `epochs`.
    pub fn factor(self, epoch: usize, epochs: usize, warmup: usize) -> f64 {
        match self {
            Schedule::Constant => 1.0,
            Schedule::MultiStep => 0.1f64.powi([50, 75].iter().filter(|&&m| epoch >= m).count() as i32),
            Schedule::WarmupCosine => {
                if epoch < warmup {
                    (epoch + 1) as f64 / warmup as f64
                } else {
                    let span = epochs.saturating_sub(warmup).max(1) as f64;
                    0.5 * (1.0 + (std::f64::consts::PI * (epoch - warmup) as f64 / span).cos())
                }
            }
        }
    }
}

/// Builds the optimiser over all trainable variables of `vs`.
pub fn build(
    vs: &nn::VarStore,
    kind: OptimizerKind,
    lr: f64,
    momentum: f64,
    weight_decay: f64,
) -> Result<nn::Optimizer> {
    if !(lr.is_finite() && lr > 0.0) {
        return Err(Error::invalid("learning rate", lr, "a positive finite number"));
    }
    let opt = match kind {
        OptimizerKind::Sgd => nn::Sgd { momentum, dampening: 0.0, wd: weight_decay, nesterov: false }.build(vs, lr)?,
        OptimizerKind::Adam => {
            nn::Adam { beta1: 0.9, beta2: 0.999, wd: weight_decay, eps: 1e-8, amsgrad: false }.build(vs, lr)?
        }
    };
    Ok(opt)
}

/// One SGD step with momentum on a single leaf tensor, with PyTorch's semantics (no dampening,
/// no weight decay): `buf = grad` on the first step, then `buf = momentum * buf + grad`;
/// `param -= lr * buf`; the gradient is zeroed. For parameters that live outside a `VarStore`
/// (Blend's weights, the matching baselines' images).
pub fn sgd_momentum_step(param: &mut Tensor, buf: &mut Option<Tensor>, lr: f64, momentum: f64) -> Result<()> {
    let mut g = param.grad();
    sgd_momentum_update(param, &g, buf, lr, momentum)?;
    tch::no_grad(|| -> Result<()> {
        let _ = g.f_zero_()?;
        Ok(())
    })
}

/// [`sgd_momentum_step`] with the gradient given instead of read from `param` (GM computes the
/// images' gradient with `run_backward`, so that none is accumulated into the network's).
pub fn sgd_momentum_update(
    param: &mut Tensor,
    grad: &Tensor,
    buf: &mut Option<Tensor>,
    lr: f64,
    momentum: f64,
) -> Result<()> {
    tch::no_grad(|| -> Result<()> {
        let b = match buf.take() {
            None => grad.f_mul_scalar(1.0)?,
            Some(b) => b.f_mul_scalar(momentum)?.f_add(grad)?,
        };
        let _ = param.f_sub_(&b.f_mul_scalar(lr)?)?;
        *buf = Some(b);
        Ok(())
    })
}
