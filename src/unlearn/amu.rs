//! A-AMU's loss (method.md §2, code `Accelerated_CF_Unlearner`):
//!
//!   L = (mean CE on a retain batch)² + λ · MMD²_σ( g(CE on unseen items), g(CE on forget items) )
//!
//! with g the one-sided soft-rank "Gaussianisation" of log1p(CE) (§2.2) and the biased Gaussian
//! MMD² (§2.3). The unseen branch carries no gradient. Per retain batch of B items the forget
//! sample has 4B items (all of F when smaller) and the unseen sample 4B items of the unseen
//! reference whose class is among the forget sample's (§2.1 steps 1-2).
use crate::data::split::rng;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::Model;
use rand::seq::{IndexedRandom, SliceRandom};
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

/// The transform g of method.md §2.2 on per-sample cross-entropies `ce` (`[n]`):
/// u_i = log(1 + ce_i + 1e-8); P_i = (1/n) Σ_j sigmoid(k · max(0, u_i − u_j));
/// g_i = clamp(√2 · erfinv(2 P_i − 1), −K, K). The relu makes every pair with u_j ≥ u_i
/// (j = i included) contribute sigmoid(0) = 1/2, so g ≥ 0 and the smallest loss maps to 0.
pub fn soft_rank_probit(ce: &Tensor, k: f64, clamp: f64) -> Result<Tensor> {
    let u = ce.f_add_scalar(1.0 + 1e-8)?.f_log()?;
    let diff = u.f_unsqueeze(1)?.f_sub(&u.f_unsqueeze(0)?)?.f_relu()?;
    let p = diff.f_mul_scalar(k)?.f_sigmoid()?.f_mean_dim(&[1i64][..], false, u.kind())?;
    let z = p.f_mul_scalar(2.0)?.f_sub_scalar(1.0)?.f_erfinv()?.f_mul_scalar(std::f64::consts::SQRT_2)?;
    Ok(z.f_clamp(-clamp, clamp)?)
}

/// Biased (V-statistic) MMD² between scalar samples `a` (`[n]`) and `b` (`[m]`) with the
/// Gaussian kernel exp(−(x − y)² / (2σ²)), from squared differences (no cdist, so no sqrt at 0).
pub fn mmd2(a: &Tensor, b: &Tensor, sigma: f64) -> Result<Tensor> {
    let kernel = |x: &Tensor, y: &Tensor| -> Result<Tensor> {
        let d2 = x.f_unsqueeze(1)?.f_sub(&y.f_unsqueeze(0)?)?.f_square()?;
        Ok(d2.f_div_scalar(-2.0 * sigma * sigma)?.f_exp()?.f_mean(x.kind())?)
    };
    Ok(kernel(a, a)?.f_add(&kernel(b, b)?)?.f_sub(&kernel(a, b)?.f_mul_scalar(2.0)?)?)
}

/// The hyper-parameters of the A-AMU regulariser.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AmuLoss {
    /// λ (`weight_distribution`), 34 in the reference.
    pub lambda: f64,
    /// Sigmoid sharpness k, 2.
    pub k: f64,
    /// Probit clamp K, 60.
    pub clamp: f64,
    /// Kernel width σ, 1.
    pub sigma: f64,
    /// (mean CE)² (false, the reference) or mean(CE²) (method.md §7 item 1).
    pub per_sample_square: bool,
}

impl AmuLoss {
    /// The steepened retain loss: (mean CE)², or mean(CE²).
    pub fn main(&self, retain_ce: &Tensor) -> Result<Tensor> {
        if self.per_sample_square {
            Ok(retain_ce.f_square()?.f_mean(Kind::Float)?)
        } else {
            Ok(retain_ce.f_mean(Kind::Float)?.f_square()?)
        }
    }

    /// λ · MMD²(g(unseen CE), g(forget CE)).
    pub fn distribution(&self, unseen_ce: &Tensor, forget_ce: &Tensor) -> Result<Tensor> {
        let gt = soft_rank_probit(unseen_ce, self.k, self.clamp)?;
        let gf = soft_rank_probit(forget_ce, self.k, self.clamp)?;
        Ok(mmd2(&gt, &gf, self.sigma)?.f_mul_scalar(self.lambda)?)
    }
}

/// Every step's forget and unseen indices for one epoch, drawn on the host from a seeded
/// generator and uploaded once, so the training loop does no sampling and no host round-trip.
pub struct SamplingPlan {
    /// Concatenated per-step forget indices (positions in the forget set).
    pub forget: Tensor,
    /// Concatenated per-step unseen indices (positions in the unseen reference).
    pub unseen: Tensor,
    /// (offset, length) of each step's forget and unseen slices.
    pub steps: Vec<((i64, i64), (i64, i64))>,
}

/// One step's forwards (method.md §2.1).
pub struct AmuForward {
    /// Logits of the retain batch followed by the forget sample (one forward, with gradient).
    pub logits: Tensor,
    /// Per-item cross-entropy of the forget sample.
    pub forget_ce: Tensor,
    /// Per-item cross-entropy of the unseen sample (a no-grad forward).
    pub unseen_ce: Tensor,
}

impl SamplingPlan {
    /// The forwards of step `step` for the retain batch `x` (the retain rows of `logits` are
    /// its first `x.size()[0]`). `fused`: the unseen sample goes through the same forward as the
    /// retain and forget rows (fewer, larger kernels) instead of a separate no-grad forward;
    /// the loss and its gradient are the same.
    pub fn forward(
        &self,
        step: usize,
        m: &Model,
        x: &Tensor,
        forget: &Dataset,
        unseen: &Dataset,
        fused: bool,
    ) -> Result<AmuForward> {
        let ((fo, fl), (to, tl)) = self.steps[step];
        let fi = self.forget.f_narrow(0, fo, fl)?;
        let (xf, yf) = (forget.images().f_index_select(0, &fi)?, forget.labels().f_index_select(0, &fi)?);
        let ti = self.unseen.f_narrow(0, to, tl)?;
        let (xt, yt) = (unseen.images().f_index_select(0, &ti)?, unseen.labels().f_index_select(0, &ti)?);
        let nr = x.size()[0];
        if fused {
            // one forward over retain, forget and unseen rows; the unseen CE is detached, so its
            // rows add nothing to the gradient (exact: instance norm acts per image)
            let all = m.forward(&Tensor::f_cat(&[x, &xf, &xt], 0)?)?;
            let forget_ce = super::ce(&all.f_narrow(0, nr, fl)?, &yf, false)?;
            let unseen_ce = super::ce(&all.f_narrow(0, nr + fl, tl)?, &yt, false)?.f_detach()?;
            let logits = all.f_narrow(0, 0, nr + fl)?;
            return Ok(AmuForward { logits, forget_ce, unseen_ce });
        }
        let logits = m.forward(&Tensor::f_cat(&[x, &xf], 0)?)?;
        let forget_ce = super::ce(&logits.f_narrow(0, nr, fl)?, &yf, false)?;
        let unseen_ce = tch::no_grad(|| super::ce(&m.forward(&xt)?, &yt, false))?;
        Ok(AmuForward { logits, forget_ce, unseen_ce })
    }
}

/// Draws a plan for retain batches of the given sizes (method.md §2.1 steps 1-2).
pub fn sampling_plan(
    batch_sizes: &[usize],
    forget: &Dataset,
    unseen: &Dataset,
    r: &mut ChaCha8Rng,
) -> Result<SamplingPlan> {
    if forget.is_empty() {
        return Err(Error::invalid("forget set", &forget.name, "a non-empty forget set"));
    }
    if unseen.is_empty() {
        return Err(Error::invalid("unseen reference", &unseen.name, "a non-empty set of unseen items"));
    }
    let k = unseen.num_classes().max(forget.num_classes());
    let mut by_class: Vec<Vec<i64>> = vec![Vec::new(); k];
    for (i, &l) in unseen.labels_host().iter().enumerate() {
        by_class[l as usize].push(i as i64);
    }
    let all_forget: Vec<i64> = (0..forget.len() as i64).collect();
    let (mut f_idx, mut t_idx, mut steps) = (Vec::new(), Vec::new(), Vec::with_capacity(batch_sizes.len()));
    for &b in batch_sizes {
        let want = 4 * b;
        let fs: Vec<i64> = all_forget.choose_multiple(r, want.min(all_forget.len())).copied().collect();
        let mut present = vec![false; k];
        for &i in &fs {
            present[forget.labels_host()[i as usize] as usize] = true;
        }
        let mut pool: Vec<i64> =
            by_class.iter().enumerate().filter(|(c, _)| present[*c]).flat_map(|(_, v)| v.iter().copied()).collect();
        if pool.is_empty() {
            return Err(Error::invalid(
                "unseen reference",
                &unseen.name,
                "items of the forget set's classes (it has none of a class being forgotten)",
            ));
        }
        pool.shuffle(r);
        pool.truncate(want);
        steps.push(((f_idx.len() as i64, fs.len() as i64), (t_idx.len() as i64, pool.len() as i64)));
        f_idx.extend(fs);
        t_idx.extend(pool);
    }
    let device = forget.device();
    Ok(SamplingPlan {
        forget: Tensor::f_from_slice(&f_idx)?.f_to_device(device)?,
        unseen: Tensor::f_from_slice(&t_idx)?.f_to_device(unseen.device())?,
        steps,
    })
}

/// A fresh generator for a method's random choices.
pub fn method_rng(seed: u64) -> ChaCha8Rng {
    rng(seed)
}
