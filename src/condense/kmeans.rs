//! k-means per class on the device, all classes in one batched computation (method.md §1.3, §7
//! item 5): k-means++ initialisation, Lloyd iterations until Σ_k ‖c_k^new − c_k^old‖₂ < tol (at
//! most `max_iter`), empty clusters reseeded to a random point of their class. Each class stops
//! on its own criterion, as if it ran alone; the labels are those of its last assignment step.
//!
//! Classes of different sizes are padded to the largest and masked. Random choices (the first
//! centroid, the k-means++ draws, reseeding) use numbers drawn up front from a seeded host
//! generator, so a run is repeatable and there is no host round-trip inside the loops except the
//! stopping test, read every few Lloyd iterations.
use crate::data::split::rng;
use crate::error::{Error, Result};
use rand::Rng;
use serde::Serialize;
use tch::{Device, Kind, Tensor};

/// k-means settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KMeansConfig {
    /// Clusters per class (`ipc`); a class with fewer items gets one cluster per item.
    pub k: usize,
    pub max_iter: usize,
    pub tol: f64,
    pub seed: u64,
}

impl Default for KMeansConfig {
    fn default() -> Self {
        KMeansConfig { k: 10, max_iter: 100, tol: 1e-4, seed: 0 }
    }
}

/// The result: a global cluster id `class * k + local` per item, and diagnostics.
#[derive(Debug, Clone, Serialize)]
pub struct Clustering {
    pub k: usize,
    pub num_classes: usize,
    /// Cluster of every item (`class * k + local id`).
    pub assignment: Vec<i64>,
    /// Lloyd iterations each class ran.
    pub iterations: Vec<usize>,
    /// Total objective (sum of squared distances to the assigned centroid) after each
    /// assignment step.
    pub objective: Vec<f64>,
    /// Seconds of the k-means++ initialisation and of the Lloyd iterations (device-synchronised).
    pub init_seconds: f64,
    pub lloyd_seconds: f64,
}

impl Clustering {
    /// Number of items in each (global) cluster.
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes = vec![0; self.num_classes * self.k];
        for &g in &self.assignment {
            sizes[g as usize] += 1;
        }
        sizes
    }
}

/// Squared distances `[C, n, K]` between padded points `x` `[C, n, D]` (with norms `xx`
/// `[C, n]`) and centroids `c` `[C, K, D]`.
fn sq_dist(x: &Tensor, xx: &Tensor, c: &Tensor) -> Result<Tensor> {
    let cc = c.f_square()?.f_sum_dim_intlist(&[-1i64][..], false, Kind::Float)?;
    let cross = x.f_bmm(&c.f_transpose(1, 2)?)?;
    Ok(xx.f_unsqueeze(2)?.f_add(&cc.f_unsqueeze(1)?)?.f_sub(&cross.f_mul_scalar(2.0)?)?.f_clamp_min(0.0)?)
}

/// Runs k-means on `features` (`[N, D]`, on any device) separately for every class of `labels`.
pub fn kmeans_per_class(
    features: &Tensor,
    labels: &[i64],
    num_classes: usize,
    cfg: &KMeansConfig,
) -> Result<Clustering> {
    kmeans_inner(features, labels, num_classes, cfg, None)
}

/// Lloyd's iterations from given initial centroids `init` (`[C, k, D]`, class by class; every
/// class needs at least `k` items), instead of k-means++: what scikit-learn's
/// `KMeans(init=C0, n_init=1, algorithm="lloyd")` runs, for checking against it.
pub fn kmeans_per_class_from(
    features: &Tensor,
    labels: &[i64],
    num_classes: usize,
    cfg: &KMeansConfig,
    init: &Tensor,
) -> Result<Clustering> {
    kmeans_inner(features, labels, num_classes, cfg, Some(init))
}

fn kmeans_inner(
    features: &Tensor,
    labels: &[i64],
    num_classes: usize,
    cfg: &KMeansConfig,
    init: Option<&Tensor>,
) -> Result<Clustering> {
    let device = features.device();
    let (n_items, d) = match features.size().as_slice() {
        &[n, d] => (n as usize, d),
        other => return Err(Error::Shape(format!("features {other:?}: expected N x D"))),
    };
    if n_items != labels.len() {
        return Err(Error::Shape(format!("{n_items} feature rows for {} labels", labels.len())));
    }
    if cfg.k == 0 {
        return Err(Error::invalid("clusters per class (ipc)", 0, "at least 1"));
    }
    let (c, k) = (num_classes as i64, cfg.k as i64);
    let mut members: Vec<Vec<i64>> = vec![Vec::new(); num_classes];
    for (i, &l) in labels.iter().enumerate() {
        members[l as usize].push(i as i64);
    }
    let counts: Vec<i64> = members.iter().map(|m| m.len() as i64).collect();
    let n_max = counts.iter().copied().max().unwrap_or(0).max(1);
    // what the sizes below allocate, checked first (a huge `ipc` or `kmeans_max_iter` must be an
    // error naming it, not an allocation that aborts): the reseeding draws (f64 on the host, f32
    // on the device) and the [C, n, K] distances with their temporaries
    let (cu, ku, nu, du) = (c as u64, k as u64, n_max as u64, d.max(0) as u64);
    let draws = (cfg.max_iter as u64).saturating_add(1).saturating_mul(cu).saturating_mul(ku);
    let what = format!("k-means with {k} clusters per class over {c} classes (options `ipc` and `kmeans_max_iter`)");
    // f64 draws, their f64 tensor and its f32 copy
    crate::runtime::ensure_fits(Device::Cpu, draws.saturating_mul(20), &what)?;
    let on_device = draws
        .saturating_mul(4)
        .saturating_add(cu.saturating_mul(nu).saturating_mul(ku.saturating_add(du)).saturating_mul(16));
    crate::runtime::ensure_fits(device, on_device, &what)?;
    // padded item indices and masks
    let mut idx = vec![0i64; (c * n_max) as usize];
    let mut valid = vec![0f32; (c * n_max) as usize];
    for (ci, m) in members.iter().enumerate() {
        for (j, &i) in m.iter().enumerate() {
            idx[ci * n_max as usize + j] = i;
            valid[ci * n_max as usize + j] = 1.0;
        }
    }
    let on = |t: Tensor| t.f_to_device(device);
    let idx_t = on(Tensor::f_from_slice(&idx)?)?;
    let mask = on(Tensor::f_from_slice(&valid)?.f_view([c, n_max])?)?;
    let counts_t = on(Tensor::f_from_slice(&counts)?)?;
    // clusters a class can have: min(k, n_c)
    let k_valid: Vec<f32> =
        counts.iter().flat_map(|&n| (0..k).map(move |j| if j < n.min(k) { 1.0 } else { 0.0 })).collect();
    let cluster_ok = on(Tensor::f_from_slice(&k_valid)?.f_view([c, k])?)?;

    // random numbers for every choice, drawn up front
    let mut r = rng(cfg.seed);
    let init_u: Vec<f64> = (0..c * k).map(|_| r.random::<f64>()).collect();
    let reseed_u: Vec<f64> = (0..cfg.max_iter as i64 * c * k).map(|_| r.random::<f64>()).collect();
    let init_u = on(Tensor::f_from_slice(&init_u)?.f_to_kind(Kind::Float)?.f_view([k, c])?)?;
    let reseed_u = on(Tensor::f_from_slice(&reseed_u)?.f_to_kind(Kind::Float)?.f_view([cfg.max_iter as i64, c, k])?)?;

    tch::no_grad(|| -> Result<Clustering> {
        let t0 = std::time::Instant::now();
        let x = features.f_to_kind(Kind::Float)?.f_index_select(0, &idx_t)?.f_view([c, n_max, d])?;
        let xx = x.f_square()?.f_sum_dim_intlist(&[-1i64][..], false, Kind::Float)?;
        let counts_f = counts_t.f_to_kind(Kind::Float)?;
        let last = counts_t.f_sub_scalar(1)?.f_clamp_min(0)?.f_unsqueeze(1)?;
        // pick, per class, the item at position `pos` [C] (clamped to the class)
        let gather = |pos: &Tensor| -> Result<Tensor> {
            let pos = pos.f_minimum(&last.f_squeeze_dim(1)?)?;
            let sel = pos.f_view([c, 1, 1])?.f_expand([c, 1, d], false)?;
            Ok(x.f_gather(1, &sel, false)?.f_squeeze_dim(1)?)
        };
        if let Some(init) = init {
            if init.size() != [c, k, d] || counts.iter().any(|&n| n < k) {
                return Err(Error::Shape(format!(
                    "initial centroids {:?} for {c} classes of at least {k} items in {d} dimensions",
                    init.size()
                )));
            }
        }
        // k-means++: first centroid uniform, then proportional to the squared distance
        let mut centroids = Tensor::f_zeros([c, k, d], (Kind::Float, device))?;
        let first = init_u.f_get(0)?.f_mul(&counts_f)?.f_floor()?.f_to_kind(Kind::Int64)?;
        let c0 = gather(&first)?;
        centroids.f_select(1, 0)?.f_copy_(&c0)?;
        let dist_to = |cent: &Tensor| -> Result<Tensor> {
            let cross = x.f_bmm(&cent.f_unsqueeze(2)?)?.f_squeeze_dim(2)?;
            let cc = cent.f_square()?.f_sum_dim_intlist(&[-1i64][..], true, Kind::Float)?;
            Ok(xx.f_add(&cc)?.f_sub(&cross.f_mul_scalar(2.0)?)?.f_clamp_min(0.0)?)
        };
        let mut min_d2 = dist_to(&c0)?.f_mul(&mask)?;
        if let Some(init) = init {
            centroids = init.f_to_kind(Kind::Float)?.f_to_device(device)?;
        }
        for j in (1..k).filter(|_| init.is_none()) {
            let cum = min_d2.f_cumsum(1, Kind::Float)?;
            let total = cum.f_select(1, n_max - 1)?;
            let target = init_u.f_get(j)?.f_mul(&total)?.f_unsqueeze(1)?;
            // first position whose cumulative weight exceeds the target
            let pos = target.f_searchsorted(&cum, false, true, "right", None::<Tensor>)?.f_squeeze_dim(1)?;
            let cj = gather(&pos)?;
            centroids.f_select(1, j)?.f_copy_(&cj)?;
            min_d2 = min_d2.f_minimum(&dist_to(&cj)?.f_mul(&mask)?)?;
        }
        crate::runtime::synchronize(device);
        let init_seconds = t0.elapsed().as_secs_f64();

        // Lloyd. Per iteration: one batched matmul for the distances (norms precomputed), the
        // assignment, two index-adds for the sums and sizes, the update. What does not change
        // is computed once: the masked points, the +inf bias of the clusters a class cannot
        // have, and the reseeding positions of every iteration. The stopping test is read from
        // the device after iterations 1, 2, 4 and then every `READ_EVERY`, not after every one:
        // an iteration after every class has stopped changes nothing and its objective is not
        // recorded, and the early reads keep such spare iterations few when k-means converges
        // in a handful (as Blend's small clusters do).
        const READ_EVERY: i64 = 4;
        let t1 = std::time::Instant::now();
        let bias = Tensor::f_zeros([c, 1, k], (Kind::Float, device))?
            .f_masked_fill(&cluster_ok.f_unsqueeze(1)?.f_eq(0.0)?, f64::INFINITY)?;
        let can_have = cluster_ok.f_gt(0.0)?;
        let class_offset = Tensor::f_arange(c, (Kind::Int64, device))?.f_mul_scalar(k)?.f_unsqueeze(1)?;
        let xm = x.f_mul(&mask.f_unsqueeze(2)?)?.f_view([-1, d])?;
        let mask_flat = mask.f_view([-1])?;
        let reseed_pos = reseed_u
            .f_mul(&counts_f.f_view([1, c, 1])?)?
            .f_floor()?
            .f_to_kind(Kind::Int64)?
            .f_minimum(&last.f_unsqueeze(0)?)?;
        let mut active = counts_t.f_gt(0)?;
        let mut final_assign = Tensor::f_zeros([c, n_max], (Kind::Int64, device))?;
        let mut iters = Tensor::f_zeros([c], (Kind::Int64, device))?;
        let mut objective = Vec::new();
        let mut pending: Vec<Tensor> = Vec::new(); // [objective, any class active] per unread iteration
        for it in 0..cfg.max_iter as i64 {
            crate::runtime::check_deadline()?;
            let dist = sq_dist(&x, &xx, &centroids)?.f_add(&bias)?;
            let (min_d, assign) = dist.f_min_dim(2, false)?;
            let obj = min_d.f_mul(&mask)?.f_sum(Kind::Double)?;
            let act = active.f_unsqueeze(1)?;
            final_assign = assign.f_where_self(&act, &final_assign)?;
            iters = iters.f_add(&active.f_to_kind(Kind::Int64)?)?;
            // new centroids: member means; empty clusters reseeded to a random item of the class
            let global = assign.f_add(&class_offset)?.f_view([-1])?;
            let sums = Tensor::f_zeros([c * k, d], (Kind::Float, device))?.f_index_add(0, &global, &xm)?;
            let sizes = Tensor::f_zeros([c * k], (Kind::Float, device))?.f_index_add(0, &global, &mask_flat)?;
            let means = sums.f_div(&sizes.f_clamp_min(1.0)?.f_unsqueeze(1)?)?.f_view([c, k, d])?;
            let pos = reseed_pos.f_get(it)?;
            let reseed = x.f_gather(1, &pos.f_unsqueeze(2)?.f_expand([c, k, d], false)?, false)?;
            let empty = sizes.f_view([c, k])?.f_eq(0.0)?.f_logical_and(&can_have)?.f_unsqueeze(2)?;
            let new = reseed.f_where_self(&empty, &means)?;
            let new = new.f_where_self(&act.f_unsqueeze(2)?, &centroids)?;
            let shift = new
                .f_sub(&centroids)?
                .f_square()?
                .f_sum_dim_intlist(&[-1i64][..], false, Kind::Float)?
                .f_sqrt()?
                .f_mul(&cluster_ok)?
                .f_sum_dim_intlist(&[-1i64][..], false, Kind::Float)?;
            centroids = new;
            active = active.f_logical_and(&shift.f_ge(cfg.tol)?)?;
            pending.push(Tensor::f_stack(&[obj, active.f_any()?.f_to_kind(Kind::Double)?], 0)?);
            let done_iters = it + 1;
            if done_iters <= 2 || done_iters % READ_EVERY == 0 || done_iters == cfg.max_iter as i64 {
                let status = Vec::<f64>::try_from(&Tensor::f_cat(&pending, 0)?)?;
                pending.clear();
                let mut done = false;
                for pair in status.chunks(2) {
                    objective.push(pair[0]);
                    if pair[1] == 0.0 {
                        done = true;
                        break;
                    }
                }
                if done {
                    break;
                }
            }
        }
        crate::runtime::synchronize(device);
        let lloyd_seconds = t1.elapsed().as_secs_f64();
        let final_global = final_assign.f_add(&class_offset)?;
        let padded = Vec::<i64>::try_from(&final_global.f_view([-1])?.f_to_device(Device::Cpu)?)?;
        let mut assignment = vec![0i64; n_items];
        for (ci, m) in members.iter().enumerate() {
            for (j, &i) in m.iter().enumerate() {
                assignment[i as usize] = padded[ci * n_max as usize + j];
            }
        }
        let iterations =
            Vec::<i64>::try_from(&iters.f_to_device(Device::Cpu)?)?.into_iter().map(|v| v as usize).collect();
        Ok(Clustering { k: cfg.k, num_classes, assignment, iterations, objective, init_seconds, lloyd_seconds })
    })
}
