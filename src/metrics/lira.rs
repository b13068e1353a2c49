//! Per-example likelihood-ratio membership attacks on the forget items, with shadow models. Not
//! part of the paper's protocol (its own MIA is [`super::mia`]); two attacks, named for what
//! their shadows are:
//!
//! - **LiRA** (Carlini et al., 2022), the default: the shadows are *trained*, not unlearned. Each
//!   is trained from scratch, like the original, on the retain set plus a random half of the
//!   targets. It asks "does the model still look like one trained on x?": a model that
//!   forgot x well scores like the shadows that never saw it.
//! - **U-LiRA** (Hayes et al., "Inexact unlearning needs more careful evaluations", 2024) with
//!   `unlearned_shadows: true`: every shadow is trained as above and then *unlearned* with the
//!   method under test, forgetting the targets it trained on. The in-distribution of x is then
//!   "trained on x, then unlearned by this method", the out-distribution "never saw x", so the
//!   attack asks whether this method's unlearning can be told from never having trained on x.
//!   The bank belongs to one method (it attacks that method's results).
//!
//! Targets are forget items (members of the original training set) and held-out items of the
//! same classes (never trained on); each target is *in* exactly half of the shadows. For a
//! target `x` the logit-scaled confidences φ (the paper's MIA feature) of the in-shadows and of
//! the out-shadows are fitted by two Gaussians; a model is scored by
//! log N(φ_model(x); in) − log N(φ_model(x); out). The AUC separates the forget items from the
//! held-out ones: about 0.5 for a model that never saw the forget set (Retrain), higher the more
//! the model still tells them apart.
//!
//! Shadow training (and, for U-LiRA, unlearning) dominates the cost; the bank is built once and
//! then attacks any number of models. Its time is reported with it.
use super::mia::{logit_confidence, roc_auc};
use super::{heldout_of_classes, EvalContext, Metric, Metrics};
use crate::data::request::ForgetRequest;
use crate::data::split::rng;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::{Model, ModelSpec};
use crate::train::eval::logits;
use crate::train::{train, TrainConfig};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// Options of the shadow bank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiraConfig {
    /// Number of shadow models (at least 2; LiRA uses 64+, the global-variance variant works
    /// with a handful).
    pub shadows: usize,
    /// At most this many forget and this many held-out targets (a seeded sample of each side).
    pub max_targets: usize,
    /// Fraction of the retain set each shadow trains on besides its targets (1.0: all of it).
    pub retain_fraction: f64,
    /// One variance per side pooled over all targets (LiRA's recommendation below 64 shadows)
    /// instead of one per target.
    pub global_variance: bool,
    /// Training of each shadow (mimic the original's).
    pub train: TrainConfig,
    /// Seed of the target sample, the in/out assignment and the shadows; `None`: the run's.
    pub seed: Option<u64>,
    /// U-LiRA: unlearn every shadow's in-targets with `method` after training it.
    pub unlearned_shadows: bool,
    /// The method under test (U-LiRA only) and its options.
    pub method: Option<String>,
    pub method_options: serde_json::Value,
}

impl Default for LiraConfig {
    fn default() -> Self {
        LiraConfig {
            shadows: 8,
            max_targets: 500,
            retain_fraction: 1.0,
            global_variance: true,
            train: TrainConfig { progress: false, ..TrainConfig::default() },
            seed: None,
            unlearned_shadows: false,
            method: None,
            method_options: serde_json::json!({}),
        }
    }
}

impl LiraConfig {
    pub fn check(&self) -> Result<()> {
        let opt =
            |key: &str, msg: &str| Error::BadOption { func: "shadow_models".into(), key: key.into(), msg: msg.into() };
        if self.shadows < 2 {
            return Err(opt("shadows", "must be at least 2 (some in and some out for every target)"));
        }
        crate::config::at_most("shadow_models", "shadows", self.shadows, crate::config::MAX_SHADOWS)?;
        if self.max_targets < 2 {
            return Err(opt("max_targets", "must be at least 2"));
        }
        if !(self.retain_fraction > 0.0 && self.retain_fraction <= 1.0) {
            return Err(opt("retain_fraction", "must be in (0, 1]"));
        }
        match (&self.method, self.unlearned_shadows) {
            (None, true) => {
                return Err(opt("method", "unlearned_shadows needs the method under test (e.g. method: \"a_cf\")"))
            }
            (Some(_), false) => {
                return Err(opt(
                    "method",
                    "is used only with unlearned_shadows: true (U-LiRA); plain LiRA's shadows are not unlearned",
                ))
            }
            (Some(m), true) => {
                crate::unlearn::method(m)?;
            }
            (None, false) => {}
        }
        self.train.check()
    }

    /// "U-LiRA (shadows unlearned by METHOD)" or "LiRA (shadows trained, not unlearned)".
    pub fn attack_name(&self) -> String {
        match (&self.method, self.unlearned_shadows) {
            (Some(m), true) => format!("U-LiRA (shadows unlearned by {m})"),
            _ => "LiRA (shadows trained, not unlearned)".into(),
        }
    }
}

/// Shadow models' confidences on the targets, ready to attack any model.
#[derive(Debug, Clone, Serialize)]
pub struct ShadowBank {
    pub config: LiraConfig,
    pub seed: u64,
    /// Forget targets (indices into the training set), then held-out targets (indices into the
    /// held-out set).
    pub forget_targets: Vec<i64>,
    pub heldout_targets: Vec<i64>,
    /// `in_mask[s][t]`: target `t` was in shadow `s`'s training set.
    pub in_mask: Vec<Vec<bool>>,
    /// `phi[s][t]`: φ of target `t` under shadow `s`.
    pub phi: Vec<Vec<f64>>,
    /// Seconds per shadow (training + φ) and in all.
    pub shadow_seconds: Vec<f64>,
    pub seconds: f64,
    #[serde(skip)]
    targets: Option<Dataset>,
}

/// The attack's result for one model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiraScore {
    /// Which attack: [`LiraConfig::attack_name`].
    pub attack: String,
    /// AUC of the score separating forget targets (positives) from held-out ones.
    pub auc: f64,
    /// True-positive rate at 1 % and 0.1 % false positives.
    pub tpr_at_1pct: f64,
    pub tpr_at_01pct: f64,
    pub forget_targets: usize,
    pub heldout_targets: usize,
    pub shadows: usize,
    /// Cost of the shadow bank (seconds, shared by every model it attacks) and of this attack.
    pub shadow_seconds: f64,
    pub attack_seconds: f64,
}

/// A seeded sample of at most `max` of `0..n`, sorted.
fn sample(n: usize, max: usize, r: &mut rand_chacha::ChaCha8Rng) -> Vec<i64> {
    let mut idx: Vec<i64> = (0..n as i64).collect();
    idx.shuffle(r);
    idx.truncate(max);
    idx.sort_unstable();
    idx
}

/// Each of `targets` in exactly half of `shadows` (rounded alternately up and down).
pub(crate) fn balanced_masks(targets: usize, shadows: usize, seed: u64) -> Vec<Vec<bool>> {
    let mut r = rng(seed);
    let columns: Vec<Vec<bool>> = (0..targets)
        .map(|t| {
            let ins = if shadows % 2 == 0 { shadows / 2 } else { shadows / 2 + t % 2 };
            let mut col: Vec<bool> = (0..shadows).map(|s| s < ins).collect();
            col.shuffle(&mut r);
            col
        })
        .collect();
    (0..shadows).map(|s| columns.iter().map(|c| c[s]).collect()).collect()
}

/// Trains the shadow bank for `request` on `train`, with held-out targets from `heldout` (e.g.
/// the evaluation split; only its items of the forget set's classes are used). Shadows share
/// `spec`'s architecture with fresh initialisations. `unseen`: the unseen reference the method
/// under test takes (U-LiRA with an A-AMU method).
#[allow(clippy::too_many_arguments)]
pub fn train_shadows(
    spec: &ModelSpec,
    device: tch::Device,
    train_set: &Dataset,
    request: &ForgetRequest,
    heldout: &Dataset,
    unseen: Option<&Dataset>,
    cfg: &LiraConfig,
    run_seed: u64,
) -> Result<ShadowBank> {
    cfg.check()?;
    request.check_dataset(train_set)?;
    let seed = cfg.seed.unwrap_or(run_seed);
    let start = std::time::Instant::now();
    let forget = request.forget_set(train_set)?;
    let heldout = heldout_of_classes(heldout, forget.labels_host(), train_set.num_classes())?;
    if forget.len() < 2 || heldout.len() < 2 {
        return Err(Error::invalid(
            "likelihood-ratio attack targets",
            format!("{} forget / {} held-out items", forget.len(), heldout.len()),
            "at least 2 of each (held-out items of the forget set's classes)",
        ));
    }
    let mut r = rng(seed);
    let f_local = sample(forget.len(), cfg.max_targets, &mut r);
    let forget_targets: Vec<i64> = f_local.iter().map(|&i| request.forget[i as usize]).collect();
    let h_local = sample(heldout.len(), cfg.max_targets, &mut r);
    let f_part = forget.subset(&f_local, "forget targets")?;
    let h_part = heldout.subset(&h_local, "held-out targets")?.to_device(f_part.device())?;
    let targets = f_part.concat(&h_part, format!("{} attack targets", train_set.name))?;
    let n_targets = targets.len();
    let retain = request.retain_set(train_set)?;
    let in_mask = balanced_masks(n_targets, cfg.shadows, seed ^ 0x5eed_1a2a);
    let targets_here = targets.to_device(device)?;
    let mut phi = Vec::new();
    let mut shadow_seconds = Vec::new();
    for (s, mask) in in_mask.iter().enumerate() {
        let t = std::time::Instant::now();
        let shadow_seed = seed.wrapping_mul(1_000_003).wrapping_add(s as u64 + 1);
        let base = if cfg.retain_fraction < 1.0 {
            let keep = ((retain.len() as f64 * cfg.retain_fraction).round() as usize).max(1);
            let idx = sample(retain.len(), keep, &mut rng(shadow_seed));
            retain.subset(&idx, "retain sample")?
        } else {
            retain.clone()
        };
        let ins: Vec<i64> = (0..n_targets as i64).filter(|&t| mask[t as usize]).collect();
        let data = base.concat(&targets.subset(&ins, "in targets")?, format!("shadow {s} training set"))?;
        let mut model = Model::new(ModelSpec { init_seed: shadow_seed, ..spec.clone() }, device)?;
        let tcfg = TrainConfig { progress: false, ..cfg.train.clone() };
        train(&mut model, &data, &tcfg, shadow_seed)?;
        if let (true, Some(method)) = (cfg.unlearned_shadows, &cfg.method) {
            // U-LiRA: the shadow forgets the targets it trained on, with the method under test
            let forget: Vec<i64> = (base.len() as i64..data.len() as i64).collect();
            let shadow_request = ForgetRequest::indices(&data, &forget, &format!("shadow {s}'s in-targets"))?;
            let input = crate::unlearn::UnlearnInput {
                original: &model,
                train: &data,
                request: &shadow_request,
                retain: None,
                unseen,
                seed: shadow_seed,
                progress: false,
            };
            model = crate::unlearn::unlearn(method, &input, &cfg.method_options)?.model;
        }
        phi.push(logit_confidence(&logits(&model, &targets_here)?, targets_here.labels())?);
        crate::runtime::synchronize(device);
        shadow_seconds.push(t.elapsed().as_secs_f64());
        if cfg.train.progress {
            crate::errln!("shadow {}/{}: {:.1} s", s + 1, cfg.shadows, shadow_seconds[s]);
        }
    }
    Ok(ShadowBank {
        config: cfg.clone(),
        seed,
        forget_targets,
        heldout_targets: h_local,
        in_mask,
        phi,
        shadow_seconds,
        seconds: start.elapsed().as_secs_f64(),
        targets: Some(targets),
    })
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
    (m, var.sqrt())
}

fn log_normal(x: f64, mean: f64, std: f64) -> f64 {
    let z = (x - mean) / std;
    -0.5 * z * z - std.ln()
}

impl ShadowBank {
    fn num_targets(&self) -> usize {
        self.forget_targets.len() + self.heldout_targets.len()
    }

    /// The per-target log likelihood ratio of the confidences `phi_model` (one per target, in
    /// target order): log N(φ; μ_in, σ_in²) − log N(φ; μ_out, σ_out²).
    pub fn scores(&self, phi_model: &[f64]) -> Result<Vec<f64>> {
        let n = self.num_targets();
        if phi_model.len() != n {
            return Err(Error::Shape(format!("{} confidences for {n} attack targets", phi_model.len())));
        }
        let split = |t: usize| {
            let (mut i, mut o) = (Vec::new(), Vec::new());
            for (s, mask) in self.in_mask.iter().enumerate() {
                if mask[t] {
                    i.push(self.phi[s][t])
                } else {
                    o.push(self.phi[s][t])
                }
            }
            (i, o)
        };
        let splits: Vec<(Vec<f64>, Vec<f64>)> = (0..n).map(split).collect();
        let stats: Vec<((f64, f64), (f64, f64))> = splits.iter().map(|(i, o)| (mean_std(i), mean_std(o))).collect();
        let (g_in, g_out) = if self.config.global_variance {
            // pooled deviations from each target's own mean
            let (mut di, mut dout) = (Vec::new(), Vec::new());
            for ((i, o), ((mi, _), (mo, _))) in splits.iter().zip(&stats) {
                di.extend(i.iter().map(|x| x - mi));
                dout.extend(o.iter().map(|x| x - mo));
            }
            (Some(mean_std(&di).1), Some(mean_std(&dout).1))
        } else {
            (None, None)
        };
        const MIN_STD: f64 = 1e-3;
        Ok((0..n)
            .map(|t| {
                let ((mi, si), (mo, so)) = stats[t];
                let si = g_in.unwrap_or(si).max(MIN_STD);
                let so = g_out.unwrap_or(so).max(MIN_STD);
                log_normal(phi_model[t], mi, si) - log_normal(phi_model[t], mo, so)
            })
            .collect())
    }

    /// Attacks `model`: AUC and TPR at low FPR of its scores, forget targets as positives.
    pub fn attack(&self, model: &Model) -> Result<LiraScore> {
        let t = std::time::Instant::now();
        let targets = self
            .targets
            .as_ref()
            .ok_or_else(|| Error::invalid("shadow bank", "without its targets", "a bank made by train_shadows"))?
            .to_device(model.device())?;
        let phi = logit_confidence(&logits(model, &targets)?, targets.labels())?;
        let scores = self.scores(&phi)?;
        let nf = self.forget_targets.len();
        let labels: Vec<u8> = (0..scores.len()).map(|i| u8::from(i < nf)).collect();
        let auc = roc_auc(&scores, &labels)?;
        Ok(LiraScore {
            attack: self.config.attack_name(),
            auc,
            tpr_at_1pct: tpr_at_fpr(&scores, &labels, 0.01),
            tpr_at_01pct: tpr_at_fpr(&scores, &labels, 0.001),
            forget_targets: nf,
            heldout_targets: self.heldout_targets.len(),
            shadows: self.in_mask.len(),
            shadow_seconds: self.seconds,
            attack_seconds: t.elapsed().as_secs_f64(),
        })
    }
}

/// The largest true-positive rate over thresholds whose false-positive rate is at most `fpr`
/// (a score strictly above the threshold is called a member).
pub fn tpr_at_fpr(scores: &[f64], labels: &[u8], fpr: f64) -> f64 {
    let mut neg: Vec<f64> = scores.iter().zip(labels).filter(|(_, &l)| l == 0).map(|(s, _)| *s).collect();
    let pos: Vec<f64> = scores.iter().zip(labels).filter(|(_, &l)| l == 1).map(|(s, _)| *s).collect();
    if neg.is_empty() || pos.is_empty() {
        return 0.0;
    }
    neg.sort_by(|a, b| b.total_cmp(a));
    // at most floor(fpr * |neg|) negatives may lie above the threshold
    let allowed = (fpr * neg.len() as f64).floor() as usize;
    let threshold = neg[allowed.min(neg.len() - 1)];
    pos.iter().filter(|&&s| s > threshold).count() as f64 / pos.len() as f64
}

/// The attack as a [`Metric`]: needs the context's shadow bank.
pub struct Lira;

impl Metric for Lira {
    fn name(&self) -> &'static str {
        "lira"
    }
    fn measure(&self, model: &Model, ctx: &EvalContext, out: &mut Metrics) -> Result<()> {
        if let Some(bank) = ctx.lira {
            out.lira = Some(bank.attack(model)?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_put_every_target_in_half_the_shadows() {
        let m = balanced_masks(7, 6, 3);
        assert_eq!(m.len(), 6);
        let per_target: Vec<usize> = (0..7).map(|t| m.iter().filter(|shadow| shadow[t]).count()).collect();
        assert_eq!(per_target, vec![3; 7]);
        let odd = balanced_masks(4, 5, 3);
        let ins: Vec<usize> = (0..4).map(|t| (0..5).filter(|&s| odd[s][t]).count()).collect();
        assert_eq!(ins, vec![2, 3, 2, 3]);
    }
}
