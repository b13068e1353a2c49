//! Optimisers and learning-rate schedules, with PyTorch semantics (method.md "Rust / tch porting
//! notes"): SGD adds weight decay to the gradient before momentum; Adam uses β = (0.9, 0.999),
//! eps = 1e-8; schedules are recomputed per epoch (LambdaLR) and set with `set_lr`.
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::nn;
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
pub fn build(vs: &nn::VarStore, kind: OptimizerKind, lr: f64, momentum: f64, weight_decay: f64) -> Result<Optimizer> {
    if !(lr.is_finite() && lr > 0.0) {
        return Err(Error::invalid("learning rate", lr, "a positive finite number"));
    }
    let params = vs.trainable_variables();
    let zeros = |params: &[Tensor]| params.iter().map(|p| p.f_zeros_like()).collect::<std::result::Result<Vec<_>, _>>();
    let state = match kind {
        OptimizerKind::Sgd => {
            State::Sgd { buffers: if momentum != 0.0 { zeros(&params)? } else { Vec::new() }, first: true }
        }
        OptimizerKind::Adam => State::Adam {
            exp_avg: zeros(&params)?,
            exp_avg_sq: zeros(&params)?,
            steps: params
                .iter()
                .map(|p| Tensor::f_zeros([], (tch::Kind::Float, p.device())))
                .collect::<std::result::Result<Vec<_>, _>>()?,
        },
    };
    Ok(Optimizer { params, lr, momentum, weight_decay, state })
}

/// An optimiser over a model's trainable variables with PyTorch's semantics (SGD: weight decay
/// added to the gradient, then momentum, the first step's buffer the gradient; Adam: β = (0.9,
/// 0.999), eps = 1e-8, L2 weight decay), stepping every parameter at once with libtorch's fused
/// kernels (PyTorch's `fused=True`; see `src/train/fused.cpp`). Parameters without a gradient
/// are skipped, as PyTorch skips them.
pub struct Optimizer {
    params: Vec<Tensor>,
    lr: f64,
    momentum: f64,
    weight_decay: f64,
    state: State,
}

enum State {
    Sgd { buffers: Vec<Tensor>, first: bool },
    Adam { exp_avg: Vec<Tensor>, exp_avg_sq: Vec<Tensor>, steps: Vec<Tensor> },
}

impl Optimizer {
    /// Sets every parameter's gradient to none, as PyTorch's `zero_grad()`: a parameter the
    /// next backward pass does not reach has no gradient, and [`Optimizer::step`] skips it.
    pub fn zero_grad(&mut self) -> Result<()> {
        super::fused::zero_grad(&self.params)
    }

    /// `zero_grad`, the backward pass of `loss`, `step`.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        self.zero_grad()?;
        loss.f_backward()?;
        self.step()
    }

    /// The learning rate of the next steps.
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// One update of every parameter that has a gradient.
    pub fn step(&mut self) -> Result<()> {
        let with_grad: Vec<(usize, Tensor)> =
            self.params.iter().enumerate().map(|(i, p)| (i, p.grad())).filter(|(_, g)| g.defined()).collect();
        if with_grad.is_empty() {
            return Ok(());
        }
        let pick = |v: &[Tensor]| with_grad.iter().map(|(i, _)| v[*i].shallow_clone()).collect::<Vec<Tensor>>();
        let params = pick(&self.params);
        let grads: Vec<Tensor> = with_grad.iter().map(|(_, g)| g.shallow_clone()).collect();
        match &mut self.state {
            State::Sgd { buffers, first } => {
                let buffers = if self.momentum != 0.0 { pick(buffers) } else { Vec::new() };
                super::fused::sgd(&params, &grads, &buffers, self.lr, self.momentum, self.weight_decay, *first)?;
                *first = false;
            }
            State::Adam { exp_avg, exp_avg_sq, steps } => {
                let (m, v, s) = (pick(exp_avg), pick(exp_avg_sq), pick(steps));
                super::fused::adam(&params, &grads, &m, &v, &s, self.lr, 0.9, 0.999, self.weight_decay, 1e-8)?;
            }
        }
        Ok(())
    }
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
