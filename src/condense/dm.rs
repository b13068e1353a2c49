//! Distribution Matching (DM; Zhao & Bilen 2023) as method.md §1.7 configures the reference's
//! baseline: `ipc` synthetic images per class, initialised from random real (retained) images;
//! every iteration draws a fresh random ConvNet-3 and, class by class, a batch of 256 real
//! images; after a siamese DSA augmentation of both, the loss is the sum over classes of the
//! squared distance between the mean embeddings of the real and the synthetic images; SGD on
//! the images with lr 0.01 (not DM's original 1.0) and momentum 0.5, 20,000 iterations.
use super::dsa::Dsa;
use super::{CondenseConfig, CondenseInput, Condenser, ReducedRetainSet, Timings};
use crate::data::split::rng;
use crate::error::{Error, Result};
use crate::models::{Arch, Model, ModelSpec};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;
use tch::{Kind, Tensor};

/// Real images per class and iteration.
pub const BATCH_REAL: usize = 256;
/// The reference's iterations and image learning rate.
pub const DM_ITERS: usize = 20_000;
pub const DM_LR: f64 = 0.01;

pub struct DistributionMatching;

impl Condenser for DistributionMatching {
    fn name(&self) -> &'static str {
        "dm"
    }

    fn condense(&self, input: &CondenseInput, cfg: &CondenseConfig) -> Result<ReducedRetainSet> {
        let t = std::time::Instant::now();
        let train = input.train;
        let device = train.device();
        let k = train.num_classes();
        let mut r = rng(cfg.seed.unwrap_or(input.seed));
        let labels = train.labels_host();
        let mut by_class: Vec<Vec<i64>> = vec![Vec::new(); k];
        for &i in &input.request.retain {
            by_class[labels[i as usize] as usize].push(i);
        }
        // initialise from random real images; a class with fewer retained images gets fewer
        let mut init = Vec::new();
        let mut syn_labels = Vec::new();
        let mut ranges = Vec::with_capacity(k);
        for (c, items) in by_class.iter().enumerate() {
            let mut pick = items.clone();
            pick.shuffle(&mut r);
            pick.truncate(cfg.ipc);
            ranges.push((init.len() as i64, pick.len() as i64));
            syn_labels.extend(std::iter::repeat_n(c as i64, pick.len()));
            init.extend(pick);
        }
        if init.is_empty() {
            return Err(Error::invalid("retain set", 0, "retained images to initialise DM from"));
        }
        let idx = Tensor::f_from_slice(&init)?.f_to_device(device)?;
        let mut syn = train.images().f_index_select(0, &idx)?.f_detach()?.f_set_requires_grad(true)?;
        let iters = cfg.iters.unwrap_or(DM_ITERS);
        let lr = cfg.lr.unwrap_or(DM_LR);
        let mut dsa = Dsa::new(r.random());
        let mut buf: Option<Tensor> = None;
        let mut losses = Vec::new();
        for _ in 0..iters {
            crate::runtime::check_deadline()?;
            let mut net = Model::new(ModelSpec::new(Arch::Convnet, train.image_shape(), k, r.random()), device)?;
            net.var_store_mut().freeze();
            let mut total = Tensor::f_zeros([], (Kind::Float, device))?;
            for (c, items) in by_class.iter().enumerate() {
                let (start, len) = ranges[c];
                if len == 0 || items.is_empty() {
                    continue;
                }
                let real: Vec<i64> = items.choose_multiple(&mut r, BATCH_REAL.min(items.len())).copied().collect();
                let real = train.images().f_index_select(0, &Tensor::f_from_slice(&real)?.f_to_device(device)?)?;
                let draw = dsa.draw(BATCH_REAL.max(len as usize));
                let real_mean = tch::no_grad(|| -> Result<Tensor> {
                    Ok(net.embed(&draw.apply(&real)?)?.f_mean_dim(&[0i64][..], false, Kind::Float)?)
                })?;
                let syn_c = draw.apply(&syn.f_narrow(0, start, len)?)?;
                let syn_mean = net.embed(&syn_c)?.f_mean_dim(&[0i64][..], false, Kind::Float)?;
                let loss = real_mean.f_sub(&syn_mean)?.f_square()?.f_sum(Kind::Float)?;
                loss.f_backward()?;
                total = total.f_add(&loss.f_detach()?)?;
            }
            losses.push(total);
            crate::train::optim::sgd_momentum_step(&mut syn, &mut buf, lr, cfg.momentum)?;
        }
        let images = syn.f_detach()?;
        crate::runtime::synchronize(device);
        let synthetic = train.derived(format!("{}[dm ipc {}]", train.name, cfg.ipc), images, syn_labels)?;
        let timings = Timings { condense: t.elapsed().as_secs_f64(), ..Default::default() };
        let n = synthetic.len();
        let mut reduced =
            ReducedRetainSet::new(self.name(), synthetic, input.request.retain.len(), 0, n, timings, None, cfg);
        if !losses.is_empty() {
            reduced.blend_losses = Vec::<f64>::try_from(&Tensor::f_stack(&losses, 0)?.f_to_kind(Kind::Double)?)?;
        }
        Ok(reduced)
    }
}
