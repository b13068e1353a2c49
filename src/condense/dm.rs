//! Distribution Matching (DM; Zhao & Bilen 2023) as method.md §1.7 configures the reference's
//! baseline: `ipc` synthetic images per class, initialised from random real (retained) images;
//! every iteration draws a fresh random ConvNet-3 and, class by class, a batch of 256 real
//! images; after a siamese DSA augmentation of both, the loss is the sum over classes of the
//! squared distance between the mean embeddings of the real and the synthetic images; SGD on
//! the images with lr 0.01 (not DM's original 1.0) and momentum 0.5, 20,000 iterations.
use super::dsa::Dsa;
use super::matching::{random_convnet, MatchingOptions, SyntheticImages};
use super::{CondenseInput, Condenser, ReducedRetainSet};
use crate::config::Named;
use crate::data::split::rng;
use crate::error::Result;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Real images per class and iteration (the default of the option `batch_real`, shared by DM,
/// GM and IDM).
pub const BATCH_REAL: usize = 256;
/// The reference's iterations and image learning rate.
pub const DM_ITERS: usize = 20_000;
pub const DM_LR: f64 = 0.01;

/// DM's options: the matching options with 20,000 iterations at lr 0.01.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DmOptions(pub MatchingOptions);

impl Default for DmOptions {
    fn default() -> Self {
        DmOptions(MatchingOptions::new(DM_ITERS, DM_LR))
    }
}

impl crate::config::Options for DmOptions {
    fn check(&self, _owner: &str) -> Result<()> {
        self.0.check()
    }
}

pub struct DistributionMatching;

impl crate::config::Named for DistributionMatching {
    type Options = DmOptions;
    const NAME: &'static str = "dm";
    const DESCRIPTION: &'static str = "Distribution Matching: synthetic images whose mean random-ConvNet embedding per class matches the real images' (method.md §1.7's baseline)";
}

impl Condenser for DistributionMatching {
    fn condense(&self, input: &CondenseInput, o: &DmOptions) -> Result<ReducedRetainSet> {
        let cfg = &o.0;
        let t = std::time::Instant::now();
        let train = input.train;
        let device = train.device();
        let mut r = rng(cfg.seed.unwrap_or(input.seed));
        // initialise from random real images; a class with fewer retained images gets fewer
        let mut syn = SyntheticImages::from_retained(input, cfg.ipc, &mut r, "DM")?;
        let (iters, lr) = (cfg.iters, cfg.lr);
        let mut dsa = Dsa::new(r.random());
        let mut buf: Option<Tensor> = None;
        let mut losses = Vec::new();
        for _ in 0..iters {
            crate::runtime::check_deadline()?;
            let net = random_convnet(train, r.random(), true)?;
            let mut total = Tensor::f_zeros([], (Kind::Float, device))?;
            for class in syn.classes() {
                let (real, syn_c) = syn.siamese_batches(train, &class, cfg.batch_real, &mut dsa, &mut r)?;
                let real_mean = tch::no_grad(|| -> Result<Tensor> {
                    Ok(net.embed(&real)?.f_mean_dim(&[0i64][..], false, Kind::Float)?)
                })?;
                let syn_mean = net.embed(&syn_c)?.f_mean_dim(&[0i64][..], false, Kind::Float)?;
                let loss = real_mean.f_sub(&syn_mean)?.f_square()?.f_sum(Kind::Float)?;
                loss.f_backward()?;
                total = total.f_add(&loss.f_detach()?)?;
            }
            losses.push(total);
            crate::train::optim::sgd_momentum_step(&mut syn.images, &mut buf, lr, cfg.momentum)?;
        }
        syn.into_reduced(Self::NAME, input, cfg.ipc, t, losses)
    }
}
