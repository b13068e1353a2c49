//! Blend (method.md §1.4): one synthetic image per free cluster, a blend of the cluster's images
//! with one learnable scalar per image, normalised by the plain sum of the cluster's weights
//! (no softmax, no clamp: weights may go negative), learned so that the synthetic image's
//! embedding under a random ConvNet-3 matches the mean embedding of the cluster's images.
//!
//!   s_m  = Σ_j (a_mj / Σ_k a_mk) x_mj
//!   L(a) = (1/M) Σ_m (1/D) ‖φ(s_m) − μ_m‖²,   μ_m = mean_j φ(x_mj)
//!
//! SGD with momentum 0.5 (PyTorch semantics) and the learning rate η(ipc) of §1.4, 12 iterations
//! by default. All clusters are blended in one batched forward/backward per iteration (valid
//! because ConvNet-3's instance norm acts per image), in chunks of whole clusters when memory
//! requires; gradients accumulate across chunks, so chunking changes nothing but memory.
use crate::error::{Error, Result};
use crate::models::Model;
use serde::{Deserialize, Serialize};
use std::rc::Rc;
use tch::{Kind, Tensor};

/// Blend's learning rate as a function of `ipc` (method.md §1.4, copied verbatim from the
/// reference code): −2.397e-6·ipc³ + 0.01265·ipc² − 0.2558·ipc + 1.461.
pub fn blend_lr(ipc: f64) -> f64 {
    -2.397e-6 * ipc.powi(3) + 0.01265 * ipc.powi(2) - 0.2558 * ipc + 1.461
}

/// Blend settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlendConfig {
    pub iters: usize,
    pub lr: f64,
    pub momentum: f64,
    /// Clusters per forward/backward chunk.
    pub chunk_clusters: usize,
    /// Images per no-grad forward when computing the targets.
    pub embed_batch: usize,
}

/// What a Blend run produced.
#[derive(Debug)]
pub struct BlendOutput {
    /// `M x C x H x W` synthetic images, in the normalised space of the inputs.
    pub images: Tensor,
    /// The final blend weights, one per input image.
    pub weights: Tensor,
    /// The loss L(a) at each iteration (before its step).
    pub losses: Vec<f64>,
    /// min(a) at the end (method.md §7 item 7: shows divergence).
    pub min_weight: f64,
}

/// Segment sums: `out[seg[i]] += v[i]` over `m` segments.
fn segment_sum(v: &Tensor, seg: &Tensor, m: i64) -> Result<Tensor> {
    let mut shape = v.size();
    shape[0] = m;
    Ok(Tensor::f_zeros(shape.as_slice(), (v.kind(), v.device()))?.f_index_add(0, seg, v)?)
}

/// The synthetic images for weights `a` (chunk-local segments `seg`, `m` clusters).
fn blend_images(x: &Tensor, a: &Tensor, seg: &Tensor, m: i64) -> Result<Tensor> {
    let denom = segment_sum(a, seg, m)?.f_index_select(0, seg)?;
    let w = a.f_div(&denom)?.f_view([-1, 1, 1, 1])?;
    segment_sum(&x.f_mul(&w)?, seg, m)
}

/// Runs Blend on `x` (`N x C x H x W`) whose items belong to clusters `seg` (`0..m`, sorted
/// ascending, every cluster non-empty), matching under `net` (a ConvNet; its weights are
/// not changed).
pub fn blend(x: &Tensor, seg_host: &[i64], net: &Model, cfg: &BlendConfig) -> Result<BlendOutput> {
    let device = x.device();
    let n = seg_host.len();
    if x.size()[0] as usize != n {
        return Err(Error::Shape(format!("{} images for {n} cluster ids", x.size()[0])));
    }
    if seg_host.windows(2).any(|w| w[1] < w[0] || w[1] > w[0] + 1) || seg_host.first().is_some_and(|&s| s != 0) {
        return Err(Error::invalid("cluster ids", "(list)", "sorted ids 0..M with every cluster non-empty"));
    }
    let m = seg_host.last().map(|&s| s + 1).unwrap_or(0);
    if m == 0 {
        return Ok(BlendOutput {
            images: x.f_narrow(0, 0, 0)?,
            weights: Tensor::f_zeros([0], (Kind::Float, device))?,
            losses: vec![],
            min_weight: f64::NAN,
        });
    }
    // image ranges of cluster chunks
    let mut starts = vec![0usize; m as usize + 1];
    for &s in seg_host {
        starts[s as usize + 1] += 1;
    }
    for i in 0..m as usize {
        starts[i + 1] += starts[i];
    }
    let chunk = cfg.chunk_clusters.max(1);
    let chunks: Vec<(i64, i64)> = (0..m).step_by(chunk).map(|c0| (c0, (c0 + chunk as i64).min(m))).collect();
    let seg = Tensor::f_from_slice(seg_host)?.f_to_device(device)?;
    let local = |c0: i64, c1: i64| -> Result<(Tensor, Tensor, i64, i64)> {
        let (i0, i1) = (starts[c0 as usize] as i64, starts[c1 as usize] as i64);
        Ok((x.f_narrow(0, i0, i1 - i0)?, seg.f_narrow(0, i0, i1 - i0)?.f_sub_scalar(c0)?, i0, i1 - i0))
    };
    // targets: mean embedding per cluster
    let mu = tch::no_grad(|| -> Result<Tensor> {
        let mut feats = Vec::new();
        for start in (0..n as i64).step_by(cfg.embed_batch.max(1)) {
            let len = (cfg.embed_batch as i64).min(n as i64 - start);
            feats.push(net.embed(&x.f_narrow(0, start, len)?)?);
        }
        let f = Tensor::f_cat(&feats, 0)?;
        let counts = segment_sum(&Tensor::f_ones([n as i64], (Kind::Float, device))?, &seg, m)?;
        Ok(segment_sum(&f, &seg, m)?.f_div(&counts.f_unsqueeze(1)?)?)
    })?;
    let d = mu.size()[1];
    let sizes = segment_sum(&Tensor::f_ones([n as i64], (Kind::Float, device))?, &seg, m)?;
    let mut a = sizes.f_index_select(0, &seg)?.f_reciprocal()?.f_set_requires_grad(true)?;
    let mut buf: Option<Tensor> = None;
    let mut losses_t = Vec::new();
    for _ in 0..cfg.iters {
        crate::runtime::check_deadline()?;
        let mut total = Tensor::f_zeros([], (Kind::Float, device))?;
        for &(c0, c1) in &chunks {
            let (xc, sc, i0, len) = local(c0, c1)?;
            let ac = a.f_narrow(0, i0, len)?;
            let s = blend_images(&xc, &ac, &sc, c1 - c0)?;
            let diff = net.embed(&s)?.f_sub(&mu.f_narrow(0, c0, c1 - c0)?)?;
            let loss = diff.f_square()?.f_sum(Kind::Float)?.f_div_scalar((m * d) as f64)?;
            loss.f_backward()?;
            total = total.f_add(&loss.f_detach()?)?;
        }
        losses_t.push(total);
        crate::train::optim::sgd_momentum_step(&mut a, &mut buf, cfg.lr, cfg.momentum)?;
    }
    let a = a.f_detach()?;
    let images = tch::no_grad(|| -> Result<Tensor> {
        let mut out = Vec::with_capacity(chunks.len());
        for &(c0, c1) in &chunks {
            let (xc, sc, i0, len) = local(c0, c1)?;
            out.push(blend_images(&xc, &a.f_narrow(0, i0, len)?, &sc, c1 - c0)?);
        }
        Ok(Tensor::f_cat(&out, 0)?)
    })?;
    let losses = if losses_t.is_empty() {
        vec![]
    } else {
        Vec::<f64>::try_from(&Tensor::f_stack(&losses_t, 0)?.f_to_kind(Kind::Double)?)?
    };
    let min_weight = a.f_min()?.f_double_value(&[])?;
    Ok(BlendOutput { images, weights: a, losses, min_weight })
}

/// The Blend condenser: features of a random ConvNet-3 → k-means per class → free/residual split
/// Blend's options (method.md §1.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlendOptions {
    /// k-means clusters per class.
    pub ipc: usize,
    /// Iterations of the blend weights (12; 20 in the condensation benchmark).
    pub iters: usize,
    /// Learning rate of the weights; `None`: η(ipc) ([`blend_lr`]).
    pub lr: Option<f64>,
    /// SGD momentum of the weights.
    pub momentum: f64,
    /// Seed of the feature networks and k-means; `None` takes the run's.
    pub seed: Option<u64>,
    pub kmeans_max_iter: usize,
    pub kmeans_tol: f64,
    /// Images per no-grad forward (features, targets).
    pub embed_batch: usize,
    /// Clusters per forward/backward chunk (memory only; the result is the same).
    pub chunk_clusters: usize,
}

impl Default for BlendOptions {
    fn default() -> Self {
        BlendOptions {
            ipc: 10,
            iters: 12,
            lr: None,
            momentum: 0.5,
            seed: None,
            kmeans_max_iter: 100,
            kmeans_tol: 1e-4,
            embed_batch: 1024,
            chunk_clusters: 1024,
        }
    }
}

impl crate::config::Options for BlendOptions {
    fn check(&self, _owner: &str) -> Result<()> {
        super::check_common(self.ipc, Some(self.iters), self.lr)?;
        crate::config::at_most("condense", "kmeans_max_iter", self.kmeans_max_iter, crate::config::MAX_ITERATIONS)?;
        if self.embed_batch == 0 || self.chunk_clusters == 0 || self.kmeans_max_iter == 0 {
            return Err(super::bad_option("embed_batch/chunk_clusters/kmeans_max_iter", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// → Blend of the free clusters; R̃ = residual real images + blended images (method.md §1.1).
pub struct Blend;

impl crate::config::Named for Blend {
    type Options = BlendOptions;
    const NAME: &'static str = "blend";
    const DESCRIPTION: &'static str = "Blend: per-class k-means on random-ConvNet features; every cluster without a forget item becomes one learned blend of its images, the others stay real (method.md §1)";
}

impl super::Condenser for Blend {
    fn condense(&self, input: &super::CondenseInput, cfg: &BlendOptions) -> Result<super::ReducedRetainSet> {
        use crate::models::{Arch, ModelSpec};
        use rand::Rng;
        let train = input.train;
        let device = train.device();
        let seed = cfg.seed.unwrap_or(input.seed);
        // independent draws for the two random networks and k-means (method.md §1.2: φ_clu ≠ φ_dm)
        let mut r = crate::data::split::rng(seed);
        let (seed_clu, seed_dm, seed_km): (u64, u64, u64) = (r.random(), r.random(), r.random());
        let convnet = |s: u64| -> Result<Model> {
            let mut m = Model::new(ModelSpec::new(Arch::Convnet, train.image_shape(), train.num_classes(), s), device)?;
            m.var_store_mut().freeze();
            Ok(m)
        };
        // ipc at least every class's size makes one cluster per image: Blend would keep the whole
        // set (ratio 1.0) after all its work
        let largest = train.class_counts().into_iter().max().unwrap_or(0);
        if input.clustering.is_none() && cfg.ipc >= largest {
            return Err(Error::BadOption {
                func: "condense".into(),
                key: "ipc".into(),
                msg: format!(
                    "{} clusters per class is at least the size of every class (the largest has {largest} images): Blend would keep every image; choose an ipc below the class sizes",
                    cfg.ipc
                ),
            });
        }
        let mut timings = super::Timings::default();
        let clustering = match &input.clustering {
            Some(c) => c.clone(),
            None => {
                let t = std::time::Instant::now();
                let features = match input.feature_model {
                    Some(m) => super::features::embed_dataset(m, train, cfg.embed_batch)?,
                    None => super::features::embed_dataset(&convnet(seed_clu)?, train, cfg.embed_batch)?,
                };
                crate::runtime::synchronize(device);
                timings.features = t.elapsed().as_secs_f64();
                let km = super::kmeans::KMeansConfig {
                    k: cfg.ipc,
                    max_iter: cfg.kmeans_max_iter,
                    tol: cfg.kmeans_tol,
                    seed: seed_km,
                };
                let c = super::kmeans::kmeans_per_class(&features, train.labels_host(), train.num_classes(), &km)?;
                timings.kmeans_init = c.init_seconds;
                timings.kmeans_lloyd = c.lloyd_seconds;
                std::rc::Rc::new(c)
            }
        };
        let t = std::time::Instant::now();
        let split = super::split::free_residual_split(&clustering, input.request)?;
        timings.split = t.elapsed().as_secs_f64();

        let t = std::time::Instant::now();
        let idx = Tensor::f_from_slice(&split.free_items)?.f_to_device(device)?;
        let x_free = train.images().f_index_select(0, &idx)?;
        let net = convnet(seed_dm)?;
        let bcfg = BlendConfig {
            iters: cfg.iters,
            lr: cfg.lr.unwrap_or_else(|| blend_lr(cfg.ipc as f64)),
            momentum: cfg.momentum,
            chunk_clusters: cfg.chunk_clusters,
            embed_batch: cfg.embed_batch,
        };
        let out = blend(&x_free, &split.free_cluster, &net, &bcfg)?;
        crate::runtime::synchronize(device);
        timings.condense = t.elapsed().as_secs_f64();

        let residual = train.subset(&split.residual, format!("{} (residual)", train.name))?;
        let synthetic = train.derived(format!("{} (blended)", train.name), out.images, split.free_labels.clone())?;
        let name = format!("{}[blend ipc {}]", train.name, cfg.ipc);
        let dataset = residual.concat(&synthetic, name)?;
        let mut reduced = super::ReducedRetainSet::new(
            "blend",
            dataset,
            input.request.retain.len(),
            split.residual.len(),
            split.num_free(),
            timings,
            Some(clustering),
        );
        reduced.blend_losses = out.losses;
        reduced.min_weight = Some(out.min_weight);
        reduced.split = Some(Rc::new(split));
        Ok(reduced)
    }
}
