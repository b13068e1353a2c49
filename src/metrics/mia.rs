//! The paper's membership-inference score (method.md §4.5, `utils/lira_mia.py`; not LiRA): a
//! 1-D logistic regression on the logit-scaled confidence φ = log p_y − log(1 − p_y), forget
//! items (label 0) against held-out items of the forget set's classes (label 1), scored by the
//! ROC-AUC of out-of-fold probabilities from stratified 5-fold cross-validation, × 100. The
//! ideal (retrain-like) value is about 50. With `swap_below` (42 in the reference) a score at or
//! below it is recomputed with the whole evaluation split against the forget set (the
//! reference's swapped loaders, see [`mia_score`]) and the larger kept; the raw AUC is always
//! reported too. The reference repeats the computation 20 times with a fixed seed
//! and identical results, so it is computed once here.
use crate::data::split::rng;
use crate::error::{Error, Result};
use rand::seq::SliceRandom;
use serde::Serialize;
use tch::{Kind, Tensor};

/// φ per item from logits `[n, K]` and labels `[n]` (method.md §4.5 step 2): with
/// ℓ_j = clamp(CE(logits, j), 0, 50), φ = max(−ℓ_y, log 1e-15) − log(max(Σ_{j≠y} exp(−ℓ_j), 1e-15)).
pub fn logit_confidence(logits: &Tensor, labels: &Tensor) -> Result<Vec<f64>> {
    let l = logits.f_to_kind(Kind::Double)?.f_log_softmax(-1, Kind::Double)?.f_neg()?.f_clamp(0.0, 50.0)?;
    let ly = l.f_gather(1, &labels.f_unsqueeze(1)?, false)?.f_squeeze_dim(1)?;
    let first = ly.f_neg()?.f_clamp_min(1e-15f64.ln())?;
    let all = l.f_neg()?.f_exp()?.f_sum_dim_intlist(&[1i64][..], false, Kind::Double)?;
    let rest = all.f_sub(&ly.f_neg()?.f_exp()?)?.f_clamp_min(1e-15)?.f_log()?;
    Ok(Vec::<f64>::try_from(&first.f_sub(&rest)?.f_to_device(tch::Device::Cpu)?)?)
}

/// ROC-AUC of `scores` for binary `labels` (1 = positive), ties counted as one half
/// (the Mann-Whitney statistic; equal to scikit-learn's `roc_auc_score`).
pub fn roc_auc(scores: &[f64], labels: &[u8]) -> Result<f64> {
    let pos = labels.iter().filter(|&&l| l == 1).count();
    let neg = labels.len() - pos;
    if pos == 0 || neg == 0 {
        return Err(Error::invalid("AUC labels", format!("{pos} positive / {neg} negative"), "both classes present"));
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].partial_cmp(&scores[b]).unwrap_or(std::cmp::Ordering::Equal));
    // average ranks over ties
    let mut ranks = vec![0.0; scores.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = avg;
        }
        i = j + 1;
    }
    let rank_sum: f64 = ranks.iter().zip(labels).filter(|(_, &l)| l == 1).map(|(r, _)| r).sum();
    Ok((rank_sum - (pos * (pos + 1)) as f64 / 2.0) / (pos * neg) as f64)
}

/// scikit-learn's default `LogisticRegression` (L2, C = 1, unpenalised intercept) on one
/// feature, fitted by Newton's method to convergence. Returns (weight, intercept).
pub fn fit_logistic_1d(x: &[f64], y: &[u8], c: f64) -> (f64, f64) {
    let (mut w, mut b) = (0.0f64, 0.0f64);
    for _ in 0..100 {
        // gradient and Hessian of  ½w² + C Σ log(1 + exp(−s_i (w x_i + b))),  s ∈ {−1, +1}
        let (mut gw, mut gb, mut hww, mut hwb, mut hbb) = (w, 0.0, 1.0, 0.0, 0.0);
        for (&xi, &yi) in x.iter().zip(y) {
            let p = 1.0 / (1.0 + (-(w * xi + b)).exp());
            let r = p - yi as f64;
            let h = p * (1.0 - p);
            gw += c * r * xi;
            gb += c * r;
            hww += c * h * xi * xi;
            hwb += c * h * xi;
            hbb += c * h;
        }
        let det = hww * hbb - hwb * hwb;
        if det.abs() < 1e-300 {
            break;
        }
        let dw = (hbb * gw - hwb * gb) / det;
        let db = (hww * gb - hwb * gw) / det;
        w -= dw;
        b -= db;
        if dw.abs() < 1e-12 && db.abs() < 1e-12 {
            break;
        }
    }
    (w, b)
}

/// Stratified fold ids (0..k) for binary labels, seeded: each class shuffled and dealt round-robin.
pub fn stratified_folds(labels: &[u8], k: usize, seed: u64) -> Vec<usize> {
    let mut r = rng(seed);
    let mut folds = vec![0; labels.len()];
    let mut next = 0usize;
    for class in [0u8, 1] {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        idx.shuffle(&mut r);
        for i in idx {
            folds[i] = next % k;
            next += 1;
        }
    }
    folds
}

/// Out-of-fold probabilities of the logistic regression, then their AUC.
pub fn oof_auc(x: &[f64], y: &[u8], folds: &[usize]) -> Result<f64> {
    let k = folds.iter().copied().max().map(|m| m + 1).unwrap_or(0);
    let mut prob = vec![0.0; x.len()];
    for f in 0..k {
        let (tx, ty): (Vec<f64>, Vec<u8>) =
            x.iter().zip(y).zip(folds).filter(|(_, &g)| g != f).map(|((a, b), _)| (*a, *b)).unzip();
        let (w, b) = fit_logistic_1d(&tx, &ty, 1.0);
        for i in (0..x.len()).filter(|&i| folds[i] == f) {
            prob[i] = 1.0 / (1.0 + (-(w * x[i] + b)).exp());
        }
    }
    roc_auc(&prob, y)
}

/// Below this many items per side the score is shown as rough (marked in tables): with n items
/// a side, one item moves the AUC by up to 100/n points.
pub const MIN_ITEMS_PER_SIDE: usize = 50;

/// The MIA result.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MiaScore {
    /// 100 × AUC, after the reference's swap rule when it applies: the larger of `raw` and
    /// `swapped`.
    pub score: f64,
    /// 100 × AUC of forget (0) against the held-out items of the forget set's classes (1).
    pub raw: f64,
    /// Items per side of that attack after truncation.
    pub n: usize,
    /// 100 × AUC of the swapped attack (the whole evaluation split against the forget set), when
    /// `raw` was at or below the swap limit.
    pub swapped: Option<f64>,
}

impl MiaScore {
    /// No attack ran: too few items (see [`PaperMia`]).
    pub fn unmeasured() -> Self {
        MiaScore { score: f64::NAN, raw: f64::NAN, n: 0, swapped: None }
    }

    /// Whether an attack ran (an unmeasured score is NaN).
    pub fn measured(&self) -> bool {
        !self.score.is_nan()
    }
}

/// The fewest items per side an attack runs on (five folds of one item each).
pub const MIN_ATTACK_ITEMS: usize = 5;

/// One attack (method.md §4.5 steps 3-5): the first n = min(|side 0|, |side 1|) of a seeded
/// shuffle of each side, labels 0 and 1, out-of-fold ROC-AUC × 100; `folds` for the 2n pooled
/// items (side 0 first), or seeded stratified 5-fold. Returns (score, n).
fn attack(side0: &[f64], side1: &[f64], seed: u64, folds: Option<&[usize]>) -> Result<(f64, usize)> {
    let n = side0.len().min(side1.len());
    if n < MIN_ATTACK_ITEMS {
        return Err(Error::invalid("MIA sample", n, "at least 5 forget and 5 held-out items of the same classes"));
    }
    let mut r = rng(seed);
    let take = |v: &[f64], r: &mut rand_chacha::ChaCha8Rng| {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.shuffle(r);
        idx[..n].iter().map(|&i| v[i]).collect::<Vec<f64>>()
    };
    let (a, b) = (take(side0, &mut r), take(side1, &mut r));
    let x: Vec<f64> = a.iter().chain(&b).copied().collect();
    let y: Vec<u8> = std::iter::repeat_n(0u8, n).chain(std::iter::repeat_n(1u8, n)).collect();
    let own_folds;
    let folds = match folds {
        Some(f) => f,
        None => {
            own_folds = stratified_folds(&y, 5, seed);
            &own_folds
        }
    };
    Ok((100.0 * oof_auc(&x, &y, folds)?, n))
}

/// The paper's MIA from φ of the forget items and of the held-out items of the same classes.
///
/// With `swap_below` (42 in the reference) a raw score at or below it reruns the attack with the
/// roles of the data swapped, as the reference's `LiRA_MIA` calls itself with its two loaders
/// swapped: side 0 the whole evaluation split `phi_evaluation` (every class: the class filter is
/// taken from the first loader, which then holds them all), side 1 the forget set, both truncated
/// to the smaller; the larger score is kept. (Flipping the labels of the same data would change
/// nothing: a refit logistic regression is symmetric.) `phi_evaluation` is called only when the
/// swap runs (it costs a forward pass over the whole split). `folds`: explicit fold ids for the
/// first attack's 2n pooled items (forget first), or `None` for seeded stratified 5-fold.
pub fn mia_score(
    phi_forget: &[f64],
    phi_heldout: &[f64],
    phi_evaluation: impl FnOnce() -> Result<Vec<f64>>,
    seed: u64,
    swap_below: Option<f64>,
    folds: Option<&[usize]>,
) -> Result<MiaScore> {
    let (raw, n) = attack(phi_forget, phi_heldout, seed, folds)?;
    let swapped = match swap_below {
        Some(limit) if raw <= limit => Some(attack(&phi_evaluation()?, phi_forget, seed, None)?.0),
        _ => None,
    };
    Ok(MiaScore { score: swapped.map_or(raw, |s| s.max(raw)), raw, n, swapped })
}

/// The paper's MIA of `model`: `members` (e.g. the forget set, label 0) against `heldout`
/// (held-out items of the same classes, label 1); `evaluation` is the whole split the swap rule
/// compares with.
pub fn model_mia(
    model: &crate::models::Model,
    members: &crate::data::Dataset,
    heldout: &crate::data::Dataset,
    evaluation: &crate::data::Dataset,
    o: &super::MiaOptions,
) -> Result<MiaScore> {
    use crate::train::eval::logits;
    let phi = |d: &crate::data::Dataset| logit_confidence(&logits(model, d)?, d.labels());
    mia_score(&phi(members)?, &phi(heldout)?, || phi(evaluation), o.seed, o.swap_below, None)
}

/// The paper's MIA as a [`Metric`](super::Metric): forget items against the evaluation items of
/// the forget set's classes.
pub struct PaperMia;

impl super::Metric for PaperMia {
    fn name(&self) -> &'static str {
        "mia"
    }
    /// Below [`MIN_ATTACK_ITEMS`] forget or held-out items (a deletion request of a few images)
    /// there is no attack to run: the score is left unmeasured (NaN, `n` 0), shown as "–".
    fn measure(&self, model: &crate::models::Model, ctx: &super::EvalContext, out: &mut super::Metrics) -> Result<()> {
        out.mia = if ctx.forget.len().min(ctx.heldout.len()) < MIN_ATTACK_ITEMS {
            MiaScore::unmeasured()
        } else {
            model_mia(model, &ctx.forget, &ctx.heldout, ctx.evaluation, &ctx.mia)?
        };
        Ok(())
    }
}
