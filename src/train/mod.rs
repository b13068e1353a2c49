//! Supervised training (method.md §4.3: SGD, momentum, weight decay, warm-up + cosine, plain
//! cross-entropy, no augmentation) and evaluation.
pub mod eval;
mod fused;
pub mod optim;
pub mod probe;

use crate::data::loader::Batches;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::Model;
use crate::runtime::synchronize;
use indicatif::{ProgressBar, ProgressStyle};
use optim::{OptimizerKind, Schedule};
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tch::{Kind, Reduction, Tensor};

/// Options of [`train`]. Defaults follow method.md §4.3 (SGD lr 0.1, momentum 0.9, weight decay
/// 5e-4, batch 64, warm-up + cosine) except the number of epochs and the warm-up length, which
/// suit a short run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub schedule: Schedule,
    pub warmup_epochs: usize,
    /// Seed of the batch order; `None` takes the run's seed.
    pub seed: Option<u64>,
    /// Show a progress bar (on a terminal) and a line per epoch.
    pub progress: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 1,
            batch_size: 64,
            optimizer: OptimizerKind::Sgd,
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 5e-4,
            schedule: Schedule::WarmupCosine,
            warmup_epochs: 0,
            seed: None,
            progress: true,
        }
    }
}

impl TrainConfig {
    /// Validates the values; the error names the option and what was expected.
    pub fn check(&self) -> Result<()> {
        let opt = |key: &str, msg: String| Error::BadOption { func: "train".into(), key: key.into(), msg };
        if self.epochs == 0 {
            return Err(opt("epochs", "must be at least 1".into()));
        }
        crate::config::at_most("train", "epochs", self.epochs, crate::config::MAX_EPOCHS)?;
        if self.batch_size == 0 {
            return Err(opt("batch_size", "must be at least 1".into()));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(opt("lr", format!("{} is not a positive finite number", self.lr)));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(opt("momentum", format!("{} is outside [0, 1)", self.momentum)));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(opt("weight_decay", format!("{} is not a non-negative number", self.weight_decay)));
        }
        if self.warmup_epochs > self.epochs {
            return Err(opt("warmup_epochs", format!("{} is more than epochs ({})", self.warmup_epochs, self.epochs)));
        }
        Ok(())
    }
}

/// What one epoch did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpochStats {
    pub epoch: usize,
    pub lr: f64,
    /// Mean training cross-entropy over the epoch's items.
    pub loss: f64,
    /// Training accuracy over the epoch (model changing during it).
    pub accuracy: f64,
    /// Wall-clock seconds, measured after a device synchronisation.
    pub seconds: f64,
}

/// The record of a [`train`] call.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub config: TrainConfig,
    pub seed: u64,
    pub dataset: String,
    pub items: usize,
    pub epochs: Vec<EpochStats>,
    pub seconds: f64,
    /// Model selection, when training kept the best epoch ([`train_keep_best`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selection: Option<Selection>,
}

/// How [`train_keep_best`] chose its epoch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Selection {
    /// The set it selected on.
    pub dataset: String,
    /// Its accuracy after every epoch.
    pub accuracy: Vec<f64>,
    /// The epoch kept (1-based) and its accuracy.
    pub best_epoch: usize,
    pub best_accuracy: f64,
}

/// Steps between progress refreshes (each one reads the running loss: one host sync).
const PROGRESS_EVERY: usize = 25;

/// Where a training step is: epoch and batch, 0-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepAt {
    pub epoch: usize,
    pub batch: usize,
}

/// What a step's loss function returns: the loss to minimise and, where the step classifies the
/// batch, its logits (for the running training accuracy).
pub struct StepLoss {
    pub loss: Tensor,
    pub logits: Option<Tensor>,
}

/// Trains `model` in place on `data` with cross-entropy.
pub fn train(model: &mut Model, data: &Dataset, cfg: &TrainConfig, seed: u64) -> Result<TrainReport> {
    fit(model, data, cfg, seed, cross_entropy_step)
}

/// Trains `model` in place on `data` with cross-entropy, evaluates it on `select` after every
/// epoch and ends with the weights of the epoch of highest accuracy there (the first such epoch
/// on ties): the reference's model selection for its original models (best test accuracy, which
/// selects on the test set; say so when you report it). The report records every epoch's
/// accuracy and the epoch kept.
pub fn train_keep_best(
    model: &mut Model,
    data: &Dataset,
    cfg: &TrainConfig,
    seed: u64,
    select: &Dataset,
) -> Result<TrainReport> {
    let mut accuracy = Vec::new();
    let mut best: Option<(usize, f64, Model)> = None;
    let mut report = fit_each_epoch(model, data, cfg, seed, cross_entropy_step, |m, epoch| {
        let acc = eval::accuracy(m, select)?;
        accuracy.push(acc);
        if best.as_ref().is_none_or(|(_, b, _)| acc > *b) {
            best = Some((epoch + 1, acc, m.try_clone()?));
        }
        Ok(())
    })?;
    if let Some((best_epoch, best_accuracy, kept)) = best {
        model.var_store_mut().copy(kept.var_store())?;
        report.selection = Some(Selection { dataset: select.name.clone(), accuracy, best_epoch, best_accuracy });
    }
    Ok(report)
}

/// Seconds per image of a training step (forward, backward, SGD step) and of a forward pass,
/// measured on `steps` batches of `data` after one untimed warm-up batch, on a copy of `model`:
/// what cost estimates extrapolate from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StepTiming {
    pub train_seconds_per_image: f64,
    pub forward_seconds_per_image: f64,
    pub batch_size: usize,
    pub steps: usize,
}

/// Times `steps` training steps and forward passes of batches of `batch` images (see
/// [`StepTiming`]).
pub fn time_steps(model: &Model, data: &Dataset, batch: usize, steps: usize) -> Result<StepTiming> {
    if data.is_empty() || batch == 0 || steps == 0 {
        return Err(Error::invalid(
            "timing",
            format!("{} images, batch {batch}, {steps} steps", data.len()),
            "images, a batch and steps",
        ));
    }
    let device = model.device();
    let m = model.try_clone()?;
    let mut opt = optim::build(m.var_store(), OptimizerKind::Sgd, 1e-3, 0.9, 5e-4)?;
    let n = data.len() as i64;
    let b = (batch as i64).min(n);
    let batch_at = |s: usize| -> Result<(Tensor, Tensor)> {
        let start = (s as i64 * b) % (n - b + 1);
        Ok((
            data.images().f_narrow(0, start, b)?.f_to_device(device)?,
            data.labels().f_narrow(0, start, b)?.f_to_device(device)?,
        ))
    };
    let train_step = |s: usize, opt: &mut crate::train::optim::Optimizer| -> Result<()> {
        let (x, y) = batch_at(s)?;
        let loss = cross_entropy_step(&m, &x, &y, StepAt { epoch: 0, batch: s })?.loss;
        opt.zero_grad()?;
        loss.f_backward()?;
        opt.step()?;
        Ok(())
    };
    train_step(0, &mut opt)?;
    synchronize(device);
    let t = Instant::now();
    for s in 1..=steps {
        train_step(s, &mut opt)?;
    }
    synchronize(device);
    let train = t.elapsed().as_secs_f64() / (steps as f64 * b as f64);
    let t = Instant::now();
    tch::no_grad(|| -> Result<()> {
        for s in 1..=steps {
            let (x, _) = batch_at(s)?;
            let _ = m.forward(&x)?;
        }
        Ok(())
    })?;
    synchronize(device);
    let forward = t.elapsed().as_secs_f64() / (steps as f64 * b as f64);
    Ok(StepTiming { train_seconds_per_image: train, forward_seconds_per_image: forward, batch_size: b as usize, steps })
}

fn cross_entropy_step(m: &Model, x: &Tensor, y: &Tensor, _: StepAt) -> Result<StepLoss> {
    let logits = m.forward(x)?;
    let loss = logits.f_cross_entropy_loss::<Tensor>(y, None, Reduction::Mean, -100, 0.0)?;
    Ok(StepLoss { loss, logits: Some(logits) })
}

/// Trains `model` in place over batches of `data`, minimising what `step` returns for each
/// batch `(x, y)`: the loop every training-based method shares.
///
/// Batches are index selections of a per-epoch permutation drawn from `seed` (host generator,
/// so the order does not depend on the device). Running sums stay
/// on the device and are read every few steps; a non-finite loss stops training with the epoch
/// and batch where it first appeared.
pub fn fit<F>(model: &mut Model, data: &Dataset, cfg: &TrainConfig, seed: u64, step_loss: F) -> Result<TrainReport>
where
    F: FnMut(&Model, &Tensor, &Tensor, StepAt) -> Result<StepLoss>,
{
    fit_each_epoch(model, data, cfg, seed, step_loss, |_, _| Ok(()))
}

/// [`fit`], calling `after_epoch(model, epoch)` (0-based) at the end of every epoch.
fn fit_each_epoch<F, E>(
    model: &mut Model,
    data: &Dataset,
    cfg: &TrainConfig,
    seed: u64,
    mut step_loss: F,
    mut after_epoch: E,
) -> Result<TrainReport>
where
    F: FnMut(&Model, &Tensor, &Tensor, StepAt) -> Result<StepLoss>,
    E: FnMut(&Model, usize) -> Result<()>,
{
    cfg.check()?;
    if data.is_empty() {
        return Err(Error::invalid("training set", &data.name, "a non-empty dataset"));
    }
    if data.num_classes() as i64 > model.spec.num_classes {
        return Err(Error::Shape(format!(
            "{} has {} classes but the model outputs {}",
            data.name,
            data.num_classes(),
            model.spec.num_classes
        )));
    }
    let device = model.device();
    let data = if data.device() != device { data.to_device(device)? } else { data.clone() };
    let mut rng = crate::data::split::rng(seed);
    let mut opt = optim::build(model.var_store(), cfg.optimizer, cfg.lr, cfg.momentum, cfg.weight_decay)?;
    let start = Instant::now();
    let mut epochs = Vec::new();
    for epoch in 0..cfg.epochs {
        let lr = cfg.lr * cfg.schedule.factor(epoch, cfg.epochs, cfg.warmup_epochs);
        opt.set_lr(lr);
        let t0 = Instant::now();
        let mut batches = Batches::shuffled(&data, cfg.batch_size, &mut rng)?;
        let bar = progress_bar(cfg.progress, batches.count(), epoch, cfg.epochs);
        let zero = || Tensor::f_zeros([], (Kind::Double, device));
        let (mut loss_sum, mut correct) = (zero()?, zero()?);
        // index of the first batch with a non-finite loss, -1 while there is none
        let mut first_bad = Tensor::f_full([], -1i64, (Kind::Int64, device))?;
        let mut step_t = Tensor::f_zeros([], (Kind::Int64, device))?;
        let mut step = 0usize;
        let mut seen = 0usize;
        while let Some((x, y)) = batches.next_batch()? {
            let n = y.size()[0] as usize;
            let StepLoss { loss, logits } = step_loss(model, &x, &y, StepAt { epoch, batch: step })?;
            opt.zero_grad()?;
            loss.f_backward()?;
            opt.step()?;
            let loss = loss.f_detach()?;
            loss_sum = loss_sum.f_add(&loss.f_to_kind(Kind::Double)?.f_mul_scalar(n as f64)?)?;
            if let Some(logits) = logits {
                let hits =
                    logits.f_narrow(0, 0, n as i64)?.f_argmax(-1, false)?.f_eq_tensor(&y)?.f_sum(Kind::Double)?;
                correct = correct.f_add(&hits)?;
            }
            let newly_bad = loss.f_isfinite()?.f_logical_not()?.f_logical_and(&first_bad.f_lt(0)?)?;
            first_bad = first_bad.f_where_self(&newly_bad.f_logical_not()?, &step_t)?;
            step_t = step_t.f_add_scalar(1)?;
            step += 1;
            seen += n;
            probe::after_step(model, probe::ProbeAt { epoch, batch: step - 1, batches: batches.count() })?;
            if step % PROGRESS_EVERY == 0 || step == batches.count() {
                crate::runtime::check_deadline()?;
                check_finite(&first_bad, &loss_sum, epoch)?;
                if let Some(bar) = &bar {
                    bar.set_position(step as u64);
                    bar.set_message(format!("loss {:.4}", loss_sum.f_double_value(&[])? / seen as f64));
                }
            }
        }
        check_finite(&first_bad, &loss_sum, epoch)?;
        synchronize(device);
        let stats = EpochStats {
            epoch: epoch + 1,
            lr,
            loss: loss_sum.f_double_value(&[])? / seen as f64,
            accuracy: correct.f_double_value(&[])? / seen as f64,
            seconds: t0.elapsed().as_secs_f64(),
        };
        let line = format!(
            "epoch {}/{}: loss {:.4}, train accuracy {:.2} %, lr {:.4}, {:.1} s",
            stats.epoch,
            cfg.epochs,
            stats.loss,
            100.0 * stats.accuracy,
            lr,
            stats.seconds
        );
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        if cfg.progress {
            crate::errln!("{line}");
        }
        epochs.push(stats);
        after_epoch(model, epoch)?;
    }
    Ok(TrainReport {
        config: cfg.clone(),
        seed,
        dataset: data.name.clone(),
        items: data.len(),
        epochs,
        seconds: start.elapsed().as_secs_f64(),
        selection: None,
    })
}

fn check_finite(first_bad: &Tensor, loss_sum: &Tensor, epoch: usize) -> Result<()> {
    let bad = first_bad.f_int64_value(&[])?;
    if bad >= 0 {
        return Err(Error::NonFinite {
            epoch: epoch + 1,
            batch: bad as usize + 1,
            loss: loss_sum.f_double_value(&[])?,
        });
    }
    Ok(())
}

fn progress_bar(enabled: bool, steps: usize, epoch: usize, epochs: usize) -> Option<ProgressBar> {
    if !enabled {
        return None;
    }
    let bar = ProgressBar::new(steps as u64);
    if bar.is_hidden() {
        return None;
    }
    let style = ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(format!("{}/{}", epoch + 1, epochs));
    Some(bar)
}
