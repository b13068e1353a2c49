//! Dataset Condensation with gradient matching (GM; Zhao, Mopuri & Bilen, ICLR 2021) in its
//! DSA variant (Zhao & Bilen, ICML 2021), as the reference's condensation benchmark runs it.
//!
//! `ipc` synthetic images per class, initialised from random retained images of the class. Every
//! iteration draws a fresh random ConvNet-3 and runs `outer_loop` steps; each step, class by
//! class, draws a batch of `batch_real` (256) real images, augments the real and the synthetic
//! images of the class with one siamese DSA draw, and takes the gradient of the mean
//! cross-entropy w.r.t. the network's parameters on each (the real one detached, the synthetic
//! one kept differentiable w.r.t. the images). The step's loss is the sum over classes of
//! [`match_distance`] between the two; one SGD step (lr 0.1, momentum 0.5) moves the images.
//! Between steps (not after the last) the network trains `inner_loop` epochs on the current
//! synthetic set (detached, shuffled batches of 256, a fresh DSA draw per batch, plain SGD with
//! `net_lr` 0.01). 1000 iterations by default.
//!
//! Outer/inner loops by ipc ([`gm_loops`]): the original code's table, ipc 1 → (1, 1),
//! 10 → (10, 50), 20 → (20, 25), 30 → (30, 20), 40 → (40, 15), 50 → (50, 10), which the
//! reference extends to every ipc up to 5 → (1, 1). Any other ipc has no entry there (both codes
//! stop with an error): give `outer_loop` and `inner_loop`. Either option overrides the table.
//!
//! Differences from the reference: it runs `iterations + 1` outer iterations (its loop includes
//! the evaluation point of the original code), here exactly `iters`; its DSA seeds come from the
//! clock, here from the seed; a class with fewer retained images than `ipc` keeps them all and
//! gets fewer synthetic images.
use super::dsa::Dsa;
use super::matching::{class_ce, random_convnet, MatchingOptions, SyntheticImages};
use super::{CondenseInput, Condenser, ReducedRetainSet};
use crate::config::Named;
use crate::data::split::rng;
use crate::error::{Error, Result};
use crate::models::Model;
use crate::train::optim::{self, OptimizerKind};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// The reference's iterations, image learning rate and network learning rate.
pub const GM_ITERS: usize = 1000;
pub const GM_LR: f64 = 0.1;
pub const GM_NET_LR: f64 = 0.01;
/// Synthetic images per batch when the network trains on them (the original `batch_train`).
pub const BATCH_TRAIN: usize = 256;

/// The `(outer_loop, inner_loop)` the reference uses at `ipc`, or `None` where it has none.
pub fn gm_loops(ipc: usize) -> Option<(usize, usize)> {
    match ipc {
        1..=5 => Some((1, 1)),
        10 => Some((10, 50)),
        20 => Some((20, 25)),
        30 => Some((30, 20)),
        40 => Some((40, 15)),
        50 => Some((50, 10)),
        _ => None,
    }
}

/// GM's options: the matching options (1000 iterations at lr 0.1), its loops and the network's
/// learning rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GmOptions {
    #[serde(flatten)]
    pub matching: MatchingOptions,
    /// Image steps per iteration (one fresh network each iteration); `None`: the reference's
    /// table by ipc ([`gm_loops`]).
    pub outer_loop: Option<usize>,
    /// Epochs the network trains on the synthetic set between two image steps; `None`: the
    /// table's.
    pub inner_loop: Option<usize>,
    /// Learning rate of that network training (plain SGD).
    pub net_lr: f64,
}

impl Default for GmOptions {
    fn default() -> Self {
        GmOptions {
            matching: MatchingOptions::new(GM_ITERS, GM_LR),
            outer_loop: None,
            inner_loop: None,
            net_lr: GM_NET_LR,
        }
    }
}

impl GmOptions {
    /// The loops it asks for: its `outer_loop`/`inner_loop`, the table's where one is `None`.
    pub fn loops(&self) -> Option<(usize, usize)> {
        let table = gm_loops(self.matching.ipc);
        Some((self.outer_loop.or(table.map(|t| t.0))?, self.inner_loop.or(table.map(|t| t.1))?))
    }
}

impl crate::config::Options for GmOptions {
    fn check(&self, _owner: &str) -> Result<()> {
        self.matching.check()?;
        if self.outer_loop == Some(0) {
            return Err(super::bad_option("outer_loop", "must be at least 1".into()));
        }
        for (key, value) in [("outer_loop", self.outer_loop), ("inner_loop", self.inner_loop)] {
            if let Some(v) = value {
                crate::config::at_most("condense", key, v, crate::config::MAX_ITERATIONS)?;
            }
        }
        if !(self.net_lr.is_finite() && self.net_lr > 0.0) {
            return Err(super::bad_option("net_lr", "must be a positive finite number".into()));
        }
        if self.loops().is_none() {
            let (outer, inner) = (self.outer_loop.is_none(), self.inner_loop.is_none());
            let key = if outer { "outer_loop" } else { "inner_loop" };
            let missing = if outer && inner { "outer_loop and inner_loop" } else { key };
            return Err(super::bad_option(
                key,
                format!(
                    "GM has default loops for ipc 1 to 5, 10, 20, 30, 40 and 50 only, not {}: give {missing}",
                    self.matching.ipc
                ),
            ));
        }
        Ok(())
    }
}

/// The gradient-matching distance of the original code (its "ours" metric): for every parameter
/// tensor with at least two dimensions, both gradients are viewed as one row per output channel
/// (`out x rest`), and the distance is Σ over rows of 1 − ⟨g_s, g_r⟩ / (‖g_s‖·‖g_r‖ + 1e-6);
/// biases and norm scales (1-d tensors) count 0, as there. Summed over the tensors; one batched
/// reduction per tensor. Differentiable w.r.t. `gw_syn`.
pub fn match_distance(gw_syn: &[Tensor], gw_real: &[Tensor]) -> Result<Tensor> {
    if gw_syn.len() != gw_real.len() {
        return Err(Error::Shape(format!("{} synthetic gradients for {} real ones", gw_syn.len(), gw_real.len())));
    }
    let device = gw_syn.first().map(|g| g.device()).unwrap_or(tch::Device::Cpu);
    let mut total = Tensor::f_zeros([], (Kind::Float, device))?;
    for (gs, gr) in gw_syn.iter().zip(gw_real) {
        if gs.size() != gr.size() {
            return Err(Error::Shape(format!("gradients of shapes {:?} and {:?}", gs.size(), gr.size())));
        }
        if gs.dim() < 2 {
            continue;
        }
        let out = gs.size()[0];
        let (s, r) = (gs.f_reshape([out, -1])?, gr.f_reshape([out, -1])?);
        let dot = s.f_mul(&r)?.f_sum_dim_intlist(&[1i64][..], false, Kind::Float)?;
        let ns = s.f_square()?.f_sum_dim_intlist(&[1i64][..], false, Kind::Float)?.f_sqrt()?;
        let nr = r.f_square()?.f_sum_dim_intlist(&[1i64][..], false, Kind::Float)?.f_sqrt()?;
        let cos = dot.f_div(&ns.f_mul(&nr)?.f_add_scalar(1e-6)?)?;
        total = total.f_add(&cos.f_neg()?.f_add_scalar(1.0)?.f_sum(Kind::Float)?)?;
    }
    Ok(total)
}

/// The gradient of the mean cross-entropy of `net` on `x`, every item labelled `label`, w.r.t.
/// `params`; with `create_graph` it stays differentiable (w.r.t. `x` among others).
fn ce_gradient(net: &Model, params: &[Tensor], x: &Tensor, label: i64, create_graph: bool) -> Result<Vec<Tensor>> {
    let loss = class_ce(&net.forward(x)?, label)?;
    let grads = Tensor::f_run_backward(&[&loss], params, create_graph, create_graph)?;
    if create_graph {
        Ok(grads)
    } else {
        grads.iter().map(|g| Ok(g.f_detach()?)).collect()
    }
}

/// GM's loss for one class on `net` (its trainable parameters `params`): [`match_distance`]
/// between the gradients on the (augmented) real images, detached, and on the (augmented)
/// synthetic ones, differentiable w.r.t. them.
pub fn class_match_loss(net: &Model, params: &[Tensor], real: &Tensor, syn: &Tensor, label: i64) -> Result<Tensor> {
    let gw_real = ce_gradient(net, params, real, label, false)?;
    let gw_syn = ce_gradient(net, params, syn, label, true)?;
    match_distance(&gw_syn, &gw_real)
}

/// `epochs` passes of plain SGD over the synthetic set (`images` detached), shuffled batches of
/// [`BATCH_TRAIN`], each augmented by a fresh DSA draw (the original code's inner loop).
fn train_on_synthetic(
    net: &Model,
    opt: &mut crate::train::optim::Optimizer,
    images: &Tensor,
    labels: &Tensor,
    epochs: usize,
    dsa: &mut Dsa,
    r: &mut ChaCha8Rng,
) -> Result<()> {
    let n = images.size()[0];
    let mut order: Vec<i64> = (0..n).collect();
    for _ in 0..epochs {
        crate::runtime::check_deadline()?;
        order.shuffle(r);
        for batch in order.chunks(BATCH_TRAIN) {
            let idx = Tensor::f_from_slice(batch)?.f_to_device(images.device())?;
            let x = dsa.draw(batch.len()).apply(&images.f_index_select(0, &idx)?)?;
            let y = labels.f_index_select(0, &idx)?;
            let loss = net.forward(&x)?.f_cross_entropy_loss::<Tensor>(&y, None, tch::Reduction::Mean, -100, 0.0)?;
            opt.zero_grad()?;
            loss.f_backward()?;
            opt.step()?;
        }
    }
    Ok(())
}

pub struct GradientMatching;

impl crate::config::Named for GradientMatching {
    type Options = GmOptions;
    const NAME: &'static str = "gm";
    const DESCRIPTION: &'static str = "Gradient Matching: synthetic images whose class-CE gradients on a training network match the real images' (method.md §1.7's baseline)";
}

impl Condenser for GradientMatching {
    fn condense(&self, input: &CondenseInput, o: &GmOptions) -> Result<ReducedRetainSet> {
        let cfg = &o.matching;
        let t = std::time::Instant::now();
        let train = input.train;
        let device = train.device();
        let (outer, inner) = o.loops().ok_or_else(|| Error::BadOption {
            func: "condense".into(),
            key: "outer_loop".into(),
            msg: format!("GM has no default loops for ipc {}: give outer_loop and inner_loop", cfg.ipc),
        })?;
        let mut r = rng(cfg.seed.unwrap_or(input.seed));
        let mut syn = SyntheticImages::from_retained(input, cfg.ipc, &mut r, "GM")?;
        let labels = Tensor::f_from_slice(&syn.labels)?.f_to_device(device)?;
        let (iters, lr) = (cfg.iters, cfg.lr);
        let mut dsa = Dsa::new(r.random());
        let mut buf: Option<Tensor> = None;
        let mut losses = Vec::with_capacity(iters);
        for _ in 0..iters {
            crate::runtime::check_deadline()?;
            let net = random_convnet(train, r.random(), false)?;
            let params = net.var_store().trainable_variables();
            let mut opt = optim::build(net.var_store(), OptimizerKind::Sgd, o.net_lr, 0.0, 0.0)?;
            let mut iteration = Tensor::f_zeros([], (Kind::Float, device))?;
            for step in 0..outer {
                let mut grad = syn.images.f_zeros_like()?;
                for class in syn.classes() {
                    let (real, syn_c) = syn.siamese_batches(train, &class, cfg.batch_real, &mut dsa, &mut r)?;
                    let loss = class_match_loss(&net, &params, &real, &syn_c, class.label)?;
                    // the images' gradient only: none flows into the network's parameters
                    let g = Tensor::f_run_backward(&[&loss], &[&syn.images], false, false)?;
                    grad = grad.f_add(&g[0])?;
                    iteration = iteration.f_add(&loss.f_detach()?)?;
                }
                optim::sgd_momentum_update(&mut syn.images, &grad, &mut buf, lr, cfg.momentum)?;
                if step + 1 < outer {
                    let images = syn.images.f_detach()?;
                    train_on_synthetic(&net, &mut opt, &images, &labels, inner, &mut dsa, &mut r)?;
                }
            }
            // the sum over classes, averaged over the outer steps
            losses.push(iteration.f_div_scalar(outer as f64)?);
        }
        syn.into_reduced(Self::NAME, input, cfg.ipc, t, losses)
    }
}
