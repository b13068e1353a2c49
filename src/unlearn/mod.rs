//! Unlearning methods: one trait, one file per method, a registry (method.md §2-§3).
//!
//! Every method takes the same inputs — the original model, the forget request on the training
//! set, the retain set or a reduced retain set R̃, the unseen reference (A-AMU only) — and
//! returns a new model with its own timing. The original model is never changed.
pub mod a_cf;
pub mod amu;
pub mod bad_teacher;
pub mod cost;
pub mod distillation;
pub mod finetune;
pub mod l1_sparse;
pub mod multiround;
pub mod neggrad;
pub mod profiles;
pub mod pruning;
pub mod retrain;
pub mod salun;
pub mod scrub;
pub mod ssd;

use crate::config::{Listed, Named, Options};
use crate::data::request::ForgetRequest;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::Model;
use crate::train::TrainReport;
use serde::Serialize;

/// What a method works on.
pub struct UnlearnInput<'a> {
    pub original: &'a Model,
    /// The full training set the request was drawn on.
    pub train: &'a Dataset,
    pub request: &'a ForgetRequest,
    /// The set to retain on: a reduced retain set R̃, or `None` for the request's retain set.
    pub retain: Option<&'a Dataset>,
    /// Unseen in-distribution items (method.md §4.1's 70 % of the test set): A-AMU only.
    pub unseen: Option<&'a Dataset>,
    /// Seed used where a method's own `seed` option is not given.
    pub seed: u64,
    /// Progress output of the training loops.
    pub progress: bool,
}

impl UnlearnInput<'_> {
    /// The retain set to train on (R̃ when given).
    pub fn retain_set(&self) -> Result<Dataset> {
        match self.retain {
            Some(r) => Ok(r.clone()),
            None => self.request.retain_set(self.train),
        }
    }
    pub fn forget_set(&self) -> Result<Dataset> {
        self.request.forget_set(self.train)
    }
    /// Refuses inputs that would silently unlearn something else: a retain set (or R̃) that
    /// holds images of the forget set, e.g. `request.forget` given as `retain`. Blend's residual
    /// images are retained ones and its synthetic images are blends, so a real R̃ passes.
    pub fn check(&self) -> Result<()> {
        self.request.check_dataset(self.train)?;
        if let Some(r) = self.retain {
            let forget = self.forget_set()?;
            let shared = r.count_shared_items(&forget)?;
            if shared > 0 {
                return Err(Error::invalid(
                    "retain set",
                    format!("{} ({} items)", r.name, r.len()),
                    format!(
                        "a set without the items to forget: {shared} of its items are images of the forget set ({} items), so the method would train on what it must forget (a retain set is the request's retain set, a subset of it, or a reduced set from condense())",
                        forget.len()
                    ),
                ));
            }
        }
        Ok(())
    }
    pub fn unseen_set(&self, method: &str) -> Result<Dataset> {
        self.unseen.cloned().ok_or_else(|| {
            Error::invalid(
                format!("input of {method}"),
                "no unseen reference",
                "`unseen`: held-out items of the same distribution (e.g. the `unseen` part of test.reference_split())",
            )
        })
    }
}

/// A method's result.
#[derive(Debug)]
pub struct Unlearned {
    pub method: String,
    pub model: Model,
    /// Wall-clock seconds of the method (device-synchronised), model copy included.
    pub seconds: f64,
    /// The options it ran with (defaults filled in).
    pub options: serde_json::Value,
    /// The retain set it trained on (name, size).
    pub retain: (String, usize),
    /// Its training loop's record, where it has one.
    pub history: Option<TrainReport>,
    /// The condenser that made the reduced retain set it trained on, with its timings (set by
    /// [`Unlearned::condensed_by`]); `None` on a full retain set.
    pub condensed: Option<(String, crate::condense::Timings)>,
}

impl Unlearned {
    /// The same result, recorded as trained on `reduced` (its rows are named `method+condenser`
    /// and timed with the condensation's phases).
    pub fn condensed_by(mut self, reduced: &crate::condense::ReducedRetainSet) -> Self {
        self.condensed = Some((reduced.method.clone(), reduced.timings.clone()));
        self
    }
}

/// An unlearning method: a name, a description and typed options ([`Named`]) and the
/// algorithm. One file per method; the registry sees every method as an [`AnyMethod`].
pub trait Method: Named {
    /// Runs it with checked options on checked inputs (see [`run`], which checks both).
    fn run(&self, input: &UnlearnInput, options: &Self::Options) -> Result<Unlearned>;
}

/// Checks `input` and `options`, then runs `method`: the typed entry point, e.g.
/// `run(&a_cf::ACf, &input, &a_cf::AmuOptions { lambda: 10.0, ..Default::default() })`.
pub fn run<M: Method>(method: &M, input: &UnlearnInput, options: &M::Options) -> Result<Unlearned> {
    input.check()?;
    options.check(M::NAME)?;
    method.run(input, options)
}

/// A method as the registry, scripts and listings see it: by name, with JSON options. Every
/// [`Method`] is one.
pub trait AnyMethod: Listed {
    /// Parses `options` (a JSON object of overrides) into the method's options ("did you mean"
    /// for unknown keys), settles and checks them, and runs.
    fn run_json(&self, input: &UnlearnInput, options: &serde_json::Value) -> Result<Unlearned>;
}

impl<M: Method> AnyMethod for M {
    fn run_json(&self, input: &UnlearnInput, options: &serde_json::Value) -> Result<Unlearned> {
        self.run(input, &crate::config::options_of::<M>(M::NAME, options)?)
    }
}

/// Every registered method, in a stable order.
pub fn registry() -> Vec<Box<dyn AnyMethod>> {
    vec![
        Box::new(retrain::Retrain),
        Box::new(finetune::Finetune),
        Box::new(neggrad::NegGradPlus),
        Box::new(distillation::Distillation),
        Box::new(scrub::Scrub),
        Box::new(bad_teacher::BadTeacher),
        Box::new(l1_sparse::L1Sparse),
        Box::new(pruning::Pruning),
        Box::new(ssd::Ssd),
        Box::new(ssd::SsdLf),
        Box::new(salun::SalUn),
        Box::new(a_cf::ACf),
        Box::new(a_cf::ASparse),
        Box::new(scrub::AScrub),
    ]
}

/// The method called `name`.
pub fn method(name: &str) -> Result<Box<dyn AnyMethod>> {
    crate::config::find(registry(), "unlearning method", name)
}

/// Checks `input` ([`UnlearnInput::check`]) and runs the method called `name` with `options`
/// (a JSON object of option overrides, plus `profile` and `cond`: see [`profiles::resolve`]; a
/// reduced retain set takes the profile's `-cond` settings): the one entry point of scripts and
/// multi-round runs. The result's options record the profile.
pub fn unlearn(name: &str, input: &UnlearnInput, options: &serde_json::Value) -> Result<Unlearned> {
    let m = method(name)?;
    input.check()?;
    let (resolved, profile) = profiles::resolve(name, options, input.retain.is_some())?;
    let mut out = m.run_json(input, &resolved)?;
    if let Some(o) = out.options.as_object_mut() {
        o.insert("profile".into(), profile.into());
    }
    Ok(out)
}

/// Times `work` with a device synchronisation before the clock is read.
pub fn timed<T>(device: tch::Device, work: impl FnOnce() -> Result<T>) -> Result<(T, f64)> {
    let t = std::time::Instant::now();
    let out = work()?;
    crate::runtime::synchronize(device);
    Ok((out, t.elapsed().as_secs_f64()))
}

/// A summary for listings.
#[derive(Debug, Clone, Serialize)]
pub struct MethodInfo {
    pub name: String,
    pub description: String,
    pub defaults: serde_json::Value,
    /// The values each hyper-parameter profile sets for it (profile name -> options).
    pub profiles: serde_json::Map<String, serde_json::Value>,
}

/// Name, description, default options and profile values of every method.
pub fn method_infos() -> Vec<MethodInfo> {
    registry()
        .iter()
        .map(|m| MethodInfo {
            name: m.name().into(),
            description: m.description().into(),
            defaults: m.defaults(),
            profiles: profiles::for_method(m.name()),
        })
        .collect()
}

/// The options of a method that is `train()` on the retain set with defaults of its own (a
/// newtype over [`crate::train::TrainConfig`]: Retrain, Fine-tune): `with_epochs`, the train
/// config's checks, and the warm-up that keeps its share of a shortened schedule.
macro_rules! schedule_options {
    ($t:ident) => {
        impl $t {
            /// The defaults with `epochs` epochs, the warm-up keeping its share of the schedule
            /// (what `#{ epochs: N }` gives a script).
            pub fn with_epochs(epochs: usize) -> Self {
                use crate::config::Options;
                let mut o = $t::default();
                o.0.epochs = epochs;
                o.settle(&serde_json::json!({ "epochs": epochs }));
                o
            }
        }

        impl crate::config::Options for $t {
            fn check(&self, _method: &str) -> crate::error::Result<()> {
                self.0.check()
            }
            fn settle(&mut self, given: &serde_json::Value) {
                super::fit_default_warmup(&mut self.0, given, &$t::default().0);
            }
        }
    };
}
pub(crate) use schedule_options;

/// A default warm-up keeps its share of the default schedule when the user asks for fewer
/// epochs (Retrain's 5 of 100 becomes 0 of 3, not 3 of 3, which would end at the peak learning
/// rate); a warm-up the user set is left for the config check to judge.
pub fn fit_default_warmup(
    cfg: &mut crate::train::TrainConfig,
    options: &serde_json::Value,
    default: &crate::train::TrainConfig,
) {
    if options.get("warmup_epochs").is_none() && cfg.epochs != default.epochs {
        let share = default.warmup_epochs as f64 / default.epochs.max(1) as f64;
        cfg.warmup_epochs = ((share * cfg.epochs as f64).round() as usize).min(cfg.epochs);
    }
}

/// `kl_div(log_softmax(s/T), softmax(t/T), batchmean) · T²` (method.md porting notes): the
/// distillation term of SCRUB, Bad-Teacher and distillation.
pub fn kl_t(student: &tch::Tensor, teacher: &tch::Tensor, t: f64) -> Result<tch::Tensor> {
    let kind = student.kind();
    let ls = student.f_div_scalar(t)?.f_log_softmax(-1, kind)?;
    let lt = teacher.f_div_scalar(t)?.f_log_softmax(-1, kind)?;
    let kl = lt.f_exp()?.f_mul(&lt.f_sub(&ls)?)?.f_sum(kind)?;
    Ok(kl.f_div_scalar(student.size()[0] as f64)?.f_mul_scalar(t * t)?)
}

/// Per-sample or mean cross-entropy.
pub fn ce(logits: &tch::Tensor, y: &tch::Tensor, mean: bool) -> Result<tch::Tensor> {
    let r = if mean { tch::Reduction::Mean } else { tch::Reduction::None };
    Ok(logits.f_cross_entropy_loss::<tch::Tensor>(y, None, r, -100, 0.0)?)
}

/// Sum of |θ| over every trainable parameter.
pub fn l1_norm(model: &Model) -> Result<tch::Tensor> {
    let mut total = tch::Tensor::f_zeros([], (tch::Kind::Float, model.device()))?;
    for p in model.var_store().trainable_variables() {
        total = total.f_add(&p.f_abs()?.f_sum(tch::Kind::Float)?)?;
    }
    Ok(total)
}

/// One pass over `n` items in a seeded random order, in batches: `loss(model, indices)` per
/// batch, an optimiser step each, then `after_step(model)`. For methods whose epochs are made
/// of several passes sharing one optimiser (SCRUB's forget and retain passes). A non-finite loss
/// stops the pass with the batch where it appeared. The installed probe
/// ([`crate::train::probe`]) sees every step, the end of each pass as the end of an epoch.
/// Returns the mean batch loss.
#[allow(clippy::too_many_arguments)]
pub fn run_pass<L, A>(
    model: &Model,
    opt: &mut crate::train::optim::Optimizer,
    n: usize,
    batch: usize,
    rng: &mut rand_chacha::ChaCha8Rng,
    epoch: usize,
    mut loss: L,
    mut after_step: A,
) -> Result<f64>
where
    L: FnMut(&Model, &tch::Tensor) -> Result<tch::Tensor>,
    A: FnMut(&Model) -> Result<()>,
{
    use rand::seq::SliceRandom;
    use tch::{Kind, Tensor};
    let mut order: Vec<i64> = (0..n as i64).collect();
    order.shuffle(rng);
    let device = model.device();
    let order = Tensor::f_from_slice(&order)?.f_to_device(device)?;
    let mut sum = Tensor::f_zeros([], (Kind::Double, device))?;
    let mut first_bad = Tensor::f_full([], -1i64, (Kind::Int64, device))?;
    let mut step_t = Tensor::f_zeros([], (Kind::Int64, device))?;
    let batches = n.div_ceil(batch.max(1));
    for b in 0..batches {
        if b % 25 == 0 {
            crate::runtime::check_deadline()?;
        }
        let start = (b * batch) as i64;
        let idx = order.f_narrow(0, start, (batch as i64).min(n as i64 - start))?;
        let l = loss(model, &idx)?;
        opt.zero_grad()?;
        l.f_backward()?;
        opt.step()?;
        after_step(model)?;
        crate::train::probe::after_step(model, crate::train::probe::ProbeAt { epoch, batch: b, batches })?;
        let l = l.f_detach()?;
        sum = sum.f_add(&l.f_to_kind(Kind::Double)?)?;
        let newly_bad = l.f_isfinite()?.f_logical_not()?.f_logical_and(&first_bad.f_lt(0)?)?;
        first_bad = first_bad.f_where_self(&newly_bad.f_logical_not()?, &step_t)?;
        step_t = step_t.f_add_scalar(1)?;
    }
    let bad = first_bad.f_int64_value(&[])?;
    if bad >= 0 {
        return Err(Error::NonFinite { epoch: epoch + 1, batch: bad as usize + 1, loss: f64::NAN });
    }
    Ok(sum.f_double_value(&[])? / batches.max(1) as f64)
}

/// A result with the common fields filled in.
pub fn finished(
    name: &str,
    model: Model,
    seconds: f64,
    options: &impl Serialize,
    retain: &Dataset,
    history: Option<TrainReport>,
) -> Result<Unlearned> {
    Ok(Unlearned {
        method: name.into(),
        model,
        seconds,
        options: serde_json::to_value(options)?,
        retain: (retain.name.clone(), retain.len()),
        history,
        condensed: None,
    })
}

/// The SGD settings most baselines share (method.md §3), flattened into their option maps.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct SgdOptions {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    /// Seed of the batch order and the method's random choices; `None` takes the run's.
    pub seed: Option<u64>,
    pub progress: bool,
}

impl SgdOptions {
    pub fn new(epochs: usize, lr: f64, momentum: f64, weight_decay: f64) -> Self {
        SgdOptions { epochs, batch_size: 64, lr, momentum, weight_decay, seed: None, progress: true }
    }

    /// The `fit()` config with `schedule` (warm-up `warmup` epochs, shrunk to fit).
    pub fn train_config(
        &self,
        schedule: crate::train::optim::Schedule,
        warmup: usize,
        input: &UnlearnInput,
    ) -> crate::train::TrainConfig {
        crate::train::TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            optimizer: crate::train::optim::OptimizerKind::Sgd,
            lr: self.lr,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            schedule,
            warmup_epochs: warmup.min(self.epochs),
            seed: Some(self.seed.unwrap_or(input.seed)),
            progress: self.progress && input.progress,
        }
    }

    pub fn seed(&self, input: &UnlearnInput) -> u64 {
        self.seed.unwrap_or(input.seed)
    }
}

/// Trains on the retain set with `train()`: from a fresh initialisation (Retrain) or from a
/// copy of the original (Fine-tune). The shared body of both.
pub fn train_on_retain(
    name: &str,
    input: &UnlearnInput,
    mut cfg: crate::train::TrainConfig,
    fresh: bool,
) -> Result<Unlearned> {
    cfg.progress &= input.progress;
    let seed = cfg.seed.unwrap_or(input.seed);
    let retain = input.retain_set()?;
    let device = input.original.device();
    let init_seed = fresh.then(|| fresh_init_seed(seed, input.original.spec.init_seed));
    let ((model, report), seconds) = timed(device, || {
        let mut model = if let Some(init_seed) = init_seed {
            input.original.fresh_like(init_seed)?
        } else {
            input.original.try_clone()?
        };
        let report = crate::train::train(&mut model, &retain, &cfg, seed)?;
        Ok((model, report))
    })?;
    let mut out = finished(name, model, seconds, &cfg, &retain, Some(report))?;
    if let (Some(init_seed), Some(options)) = (init_seed, out.options.as_object_mut()) {
        options.insert("init_seed".into(), init_seed.into());
    }
    Ok(out)
}

/// The seed of a from-scratch model's initialisation (Retrain), drawn from its own stream: a
/// mix of the method's seed that never equals the original's `original_init`, so the reference
/// does not start from the original's exact initial weights (the run's seed is usually both).
fn fresh_init_seed(seed: u64, original_init: u64) -> u64 {
    // splitmix64 of the seed in a stream of its own
    use crate::data::split::splitmix64;
    let s = splitmix64(seed ^ 0x7265_7472_6169_6e21); // "retrain!"
    if s == original_init {
        splitmix64(s)
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic::{synthetic, SyntheticOptions};
    use crate::data::LoadOptions;
    use crate::models::{Arch, ModelSpec};
    use tch::Device;

    /// Retrain's initialisation (tests/unlearn_tests.rs: not the original's) is recorded, and is
    /// a function of the seed.
    #[test]
    fn retrain_initialises_from_a_function_of_its_seed() {
        let o = SyntheticOptions {
            train: 30,
            test: 6,
            classes: 3,
            channels: 1,
            height: 8,
            width: 8,
            separation: 0.5,
            seed: 4,
        };
        let data = synthetic(&o, &LoadOptions::default(), Device::Cpu).unwrap();
        let request = ForgetRequest::uniform(&data.train, 0.1, false, 1).unwrap();
        let seed = 7;
        let mut spec = ModelSpec::new(Arch::Convnet, data.train.image_shape(), data.train.num_classes(), seed);
        spec.width = 8;
        let original = Model::new(spec, Device::Cpu).unwrap();
        let input = UnlearnInput {
            original: &original,
            train: &data.train,
            request: &request,
            retain: None,
            unseen: None,
            seed,
            progress: false,
        };
        let out =
            method("retrain").unwrap().run_json(&input, &serde_json::json!({ "epochs": 1, "lr": 1e-12 })).unwrap();
        let init = out.options["init_seed"].as_u64().expect("init_seed recorded");
        assert_eq!(out.model.spec.init_seed, init);
        assert_eq!(init, fresh_init_seed(seed, seed), "a function of the seed: repeatable");
        // its own stream: not the seed, another for another seed, and never the original's
        // initialisation even where the stream's draw is it
        assert_ne!(init, seed);
        assert_ne!(init, fresh_init_seed(seed + 1, seed + 1));
        let drawn = fresh_init_seed(seed, 0);
        assert_ne!(fresh_init_seed(seed, drawn), drawn);
    }
}
