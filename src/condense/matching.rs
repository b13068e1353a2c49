//! What the image-learning baselines (DM, GM, IDM) share: `ipc` synthetic images per class,
//! initialised from random retained images of the class, real batches drawn per class, and the
//! reduced retain set they become.
use super::dsa::Dsa;
use super::{CondenseInput, ReducedRetainSet, Timings};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::{Arch, Model, ModelSpec};
use rand::seq::{IndexedRandom, SliceRandom};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// The synthetic images being learned, class by class.
pub struct SyntheticImages {
    /// The retained items of each class.
    pub by_class: Vec<Vec<i64>>,
    /// `(start, len)` of each class's synthetic images (`len` < ipc where the class has fewer
    /// retained images; 0 where it has none).
    pub ranges: Vec<(i64, i64)>,
    /// The label of every synthetic image.
    pub labels: Vec<i64>,
    /// All synthetic images, `N x C x H x W`: a leaf that requires grad.
    pub images: Tensor,
}

impl SyntheticImages {
    /// `ipc` random retained images of each class (all of them where a class has fewer), drawn
    /// with `r`; `method` names the condenser in the error for an empty retain set.
    pub fn from_retained(input: &CondenseInput, ipc: usize, r: &mut ChaCha8Rng, method: &str) -> Result<Self> {
        let train = input.train;
        let labels = train.labels_host();
        let mut by_class: Vec<Vec<i64>> = vec![Vec::new(); train.num_classes()];
        for &i in &input.request.retain {
            by_class[labels[i as usize] as usize].push(i);
        }
        let mut init = Vec::new();
        let mut syn_labels = Vec::new();
        let mut ranges = Vec::with_capacity(by_class.len());
        for (c, items) in by_class.iter().enumerate() {
            let mut pick = items.clone();
            pick.shuffle(r);
            pick.truncate(ipc);
            ranges.push((init.len() as i64, pick.len() as i64));
            syn_labels.extend(std::iter::repeat_n(c as i64, pick.len()));
            init.extend(pick);
        }
        if init.is_empty() {
            return Err(Error::invalid("retain set", 0, format!("retained images to initialise {method} from")));
        }
        let idx = Tensor::f_from_slice(&init)?.f_to_device(train.device())?;
        let images = train.images().f_index_select(0, &idx)?.f_detach()?.f_set_requires_grad(true)?;
        Ok(SyntheticImages { by_class, ranges, labels: syn_labels, images })
    }

    /// Every class with synthetic images.
    pub fn classes(&self) -> impl Iterator<Item = Class<'_>> + '_ {
        self.by_class
            .iter()
            .zip(&self.ranges)
            .enumerate()
            .filter(|(_, (items, &(_, len)))| len > 0 && !items.is_empty())
            .map(|(c, (items, &(start, len)))| Class { label: c as i64, start, len, items })
    }

    /// One step's pair for `class`: a batch of `batch_real` of its real images and its synthetic
    /// images, both augmented by the same DSA draw (the real ones under no gradient; the
    /// synthetic ones differentiable w.r.t. [`SyntheticImages::images`]).
    pub fn siamese_batches(
        &self,
        train: &Dataset,
        class: &Class,
        batch_real: usize,
        dsa: &mut Dsa,
        r: &mut ChaCha8Rng,
    ) -> Result<(Tensor, Tensor)> {
        let real = real_batch(train, class.items, batch_real, r)?;
        let draw = dsa.draw_siamese(batch_real.max(class.len as usize));
        let real = tch::no_grad(|| draw.apply(&real))?;
        let syn = draw.apply(&self.images.f_narrow(0, class.start, class.len)?)?;
        Ok((real, syn))
    }

    /// The reduced retain set: the learned images alone; `losses` (one scalar tensor per
    /// iteration) become `blend_losses`.
    pub fn into_reduced(
        self,
        method: &str,
        input: &CondenseInput,
        ipc: usize,
        started: std::time::Instant,
        losses: Vec<Tensor>,
    ) -> Result<ReducedRetainSet> {
        let train = input.train;
        let images = self.images.f_detach()?;
        crate::runtime::synchronize(train.device());
        let synthetic = train.derived(format!("{}[{method} ipc {ipc}]", train.name), images, self.labels)?;
        let timings = Timings { condense: started.elapsed().as_secs_f64(), ..Default::default() };
        let n = synthetic.len();
        let mut reduced = ReducedRetainSet::new(method, synthetic, input.request.retain.len(), 0, n, timings, None);
        if !losses.is_empty() {
            reduced.blend_losses = Vec::<f64>::try_from(&Tensor::f_stack(&losses, 0)?.f_to_kind(Kind::Double)?)?;
        }
        Ok(reduced)
    }
}

/// The options DM, GM and IDM share (method.md §1.7): synthetic images per class, iterations,
/// the images' SGD, real images per class and step, the seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchingOptions {
    /// Synthetic images per class.
    pub ipc: usize,
    pub iters: usize,
    /// Learning rate of the images.
    pub lr: f64,
    pub momentum: f64,
    /// Real images per class and step.
    pub batch_real: usize,
    /// Seed of every random choice; `None` takes the run's.
    pub seed: Option<u64>,
}

impl MatchingOptions {
    /// ipc 10, momentum 0.5, 256 real images per class and step, with `iters` and `lr`.
    pub fn new(iters: usize, lr: f64) -> Self {
        MatchingOptions { ipc: 10, iters, lr, momentum: 0.5, batch_real: super::dm::BATCH_REAL, seed: None }
    }

    pub fn check(&self) -> crate::error::Result<()> {
        super::check_common(self.ipc, Some(self.iters), Some(self.lr))?;
        if self.batch_real == 0 {
            return Err(super::bad_option("batch_real", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// A class's synthetic images and retained items.
pub struct Class<'a> {
    pub label: i64,
    /// Its synthetic images are rows `start..start + len` of [`SyntheticImages::images`].
    pub start: i64,
    pub len: i64,
    pub items: &'a [i64],
}

/// A freshly drawn random ConvNet-3 (the reference's width and depth) for `train`'s images and
/// classes; `frozen`: its parameters take no gradient.
pub fn random_convnet(train: &Dataset, seed: u64, frozen: bool) -> Result<Model> {
    let spec = ModelSpec::new(Arch::Convnet, train.image_shape(), train.num_classes(), seed);
    let mut net = Model::new(spec, train.device())?;
    if frozen {
        net.var_store_mut().freeze();
    }
    Ok(net)
}

/// `n` real images of a class (all of its `items` where it has fewer), drawn without replacement.
fn real_batch(train: &Dataset, items: &[i64], n: usize, r: &mut ChaCha8Rng) -> Result<Tensor> {
    let pick: Vec<i64> = items.choose_multiple(r, n.min(items.len())).copied().collect();
    Ok(train.images().f_index_select(0, &Tensor::f_from_slice(&pick)?.f_to_device(train.device())?)?)
}

/// Mean cross-entropy of `logits` against one label for every row.
pub fn class_ce(logits: &Tensor, label: i64) -> Result<Tensor> {
    let n = logits.size()[0];
    let y = Tensor::f_full([n], label, (Kind::Int64, logits.device()))?;
    Ok(logits.f_cross_entropy_loss::<Tensor>(&y, None, tch::Reduction::Mean, -100, 0.0)?)
}
