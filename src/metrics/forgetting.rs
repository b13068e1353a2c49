//! The per-example forgetting score of the NeurIPS 2023 machine-unlearning challenge (Triantafillou
//! et al.; its public evaluation code is the reference this file is tested against).
//!
//! Unlearning is judged as a privacy game: from N models unlearned by the method (each run with
//! its own seed, all from the same original) and N *oracles* (models retrained from scratch
//! without the forget set, each with its own seed), take every forget example's logit-scaled
//! confidence φ = log p_y − log(1 − p_y) under each model. For one example, the N unlearned and
//! the N retrained values are two samples; the best decision rule telling them apart (one
//! threshold, or an interval, over a grid of 100 thresholds per unit of φ) bounds how
//! distinguishable the two are, as an (ε, δ = 1e-5) differential-privacy-style ε:
//! ε = max over rules of max(log(1 − δ − FPR) − log FNR, log(1 − δ − FNR) − log FPR), capped at 50
//! (perfect separation, or unlearned models that agree to within 1 % of the oracles' spread).
//! Every example earns points by its ε: 1 below 0.5, ½ in [0.5, 1), ¼ in [1, 1.5), … up to
//! ⌈ln(N − 1)⌉, nothing beyond. The forgetting score F is the mean over the forget set, in [0, 1],
//! **higher is better** (closer to the oracles). F depends on N: with few models the best a method
//! can reach is low (with 4 and 4, two samples of one distribution already give ε = ln 3, so F is
//! at most about ¼); compare scores only at equal N. A deterministic method (every run the same
//! model) scores 0 by construction.
//!
//! The challenge's final score weighs F by utility: F × (mean retain accuracy of the unlearned
//! models / the oracles') × (mean test accuracy, likewise).
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// δ of the (ε, δ) bound.
pub const DELTA: f64 = 1e-5;
/// The largest ε (perfectly told apart).
pub const EPSILON_CAP: f64 = 50.0;
/// Thresholds per unit of confidence in the decision-rule grid.
const THRESHOLDS_PER_UNIT: f64 = 100.0;
/// Half-width, in units of φ, of the interval rule's search around each side's spread.
const BUFFER: f64 = 2.0;

/// The challenge's logit-scaled confidence of each row of `logits` (`[n, k]`, row-major) for its
/// label: log(p_y + 1e-45) − log(Σ_{j≠y} p_j + 1e-45). As the reference, the exponentials of the
/// max-shifted logits are single-precision (so a wrong class more than about 104 below the top
/// underflows to 0 and the confidence saturates near 103.6), the rest double.
pub fn logit_scaled_confidence(logits: &[f64], k: usize, labels: &[i64]) -> Result<Vec<f64>> {
    if k == 0 || logits.len() != labels.len() * k {
        return Err(Error::Shape(format!("{} logits for {} labels of {k} classes", logits.len(), labels.len())));
    }
    labels
        .iter()
        .zip(logits.chunks(k))
        .map(|(&y, row)| {
            let y = usize::try_from(y)
                .ok()
                .filter(|&y| y < k)
                .ok_or_else(|| Error::invalid("label", y, format!("a class in 0..{k}")))?;
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = row.iter().map(|v| (((v - max) as f32).exp()) as f64).collect();
            let sum: f64 = e.iter().sum();
            let correct = e[y] / sum;
            let wrong: f64 = e.iter().enumerate().filter(|&(j, _)| j != y).map(|(_, v)| v / sum).sum();
            Ok((correct + 1e-45).ln() - (wrong + 1e-45).ln())
        })
        .collect()
}

/// Rust's counterpart of NumPy's `linspace(start, stop, num)`: `start + i·step`, the last value
/// exactly `stop`.
fn linspace_f64(start: f64, stop: f64, num: usize) -> Vec<f64> {
    if num == 0 {
        return Vec::new();
    }
    if num == 1 {
        return vec![start];
    }
    let step = (stop - start) / (num - 1) as f64;
    let mut out: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    out[num - 1] = stop;
    out
}

/// A single-precision grid from `start` to `stop` (both ends exact), as the reference's
/// single-threshold rule makes it (its thresholds are 32-bit floats).
fn linspace_f32(start: f64, stop: f64, num: usize) -> Vec<f64> {
    let (s, e) = (start as f32, stop as f32);
    if num <= 1 {
        return if num == 1 { vec![s as f64] } else { Vec::new() };
    }
    let step = (e - s) / (num - 1) as f32;
    let half = num / 2;
    (0..num).map(|i| if i < half { s + step * i as f32 } else { e - step * (num - i - 1) as f32 } as f64).collect()
}

fn spread(v: &[f64]) -> f64 {
    let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    hi - lo
}

/// The decision outcomes a rule family reaches: `seen[a * (n + 1) + b]` when some rule predicts
/// "positive" for `a` of the positives and `b` of the negatives.
struct Outcomes {
    n: usize,
    seen: Vec<bool>,
}

impl Outcomes {
    fn mark(&mut self, a: usize, b: usize) {
        self.seen[a * (self.n + 1) + b] = true;
    }
}

/// Items of sorted `v` at most `x` / below `x`.
fn at_most(v: &[f64], x: f64) -> usize {
    v.partition_point(|&c| c <= x)
}
fn below(v: &[f64], x: f64) -> usize {
    v.partition_point(|&c| c < x)
}

/// The interval rule: "positive" when l ≤ φ ≤ r, the positive side being the one of smaller
/// spread, over the reference's grid (right ends 100 per unit from its top − 2 to top + 2, left
/// ends 400 per right end around r − spread).
fn interval_outcomes(pos: &[f64], neg: &[f64], out: &mut Outcomes) {
    let (pd, nd) = (spread(pos), spread(neg));
    let width = if pd > nd { nd } else { pd };
    let (p, q) = if pd >= nd { (neg, pos) } else { (pos, neg) };
    let mut ps = p.to_vec();
    let mut qs = q.to_vec();
    ps.sort_by(f64::total_cmp);
    qs.sort_by(f64::total_cmp);
    let p_min = ps[0];
    let p_max = ps[ps.len() - 1];
    let lo = p_min + width - BUFFER;
    let hi = p_max + BUFFER;
    let rights = linspace_f64(lo, hi, ((hi - lo) * THRESHOLDS_PER_UNIT).ceil().max(0.0) as usize);
    let num_left = (2.0 * BUFFER * THRESHOLDS_PER_UNIT).ceil() as usize;
    for &r in &rights {
        let (p_le, q_le) = (at_most(&ps, r), at_most(&qs, r));
        let lefts = linspace_f64(r - width - BUFFER, r - width + BUFFER, num_left);
        // the left ends rise: count the items below each with a moving pointer
        let (mut pi, mut qi) = (0usize, 0usize);
        for &l in &lefts {
            while pi < ps.len() && ps[pi] < l {
                pi += 1;
            }
            while qi < qs.len() && qs[qi] < l {
                qi += 1;
            }
            out.mark(p_le.saturating_sub(pi), q_le.saturating_sub(qi));
        }
    }
}

/// The threshold rule: "positive" when φ ≥ t, t over a grid of 100 per unit spanning both sides.
fn threshold_outcomes(pos: &[f64], neg: &[f64], out: &mut Outcomes) {
    let all: Vec<f64> = pos.iter().chain(neg).copied().collect();
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut ps = pos.to_vec();
    let mut qs = neg.to_vec();
    ps.sort_by(f64::total_cmp);
    qs.sort_by(f64::total_cmp);
    for t in linspace_f32(lo, hi, ((hi - lo) * THRESHOLDS_PER_UNIT).ceil().max(0.0) as usize) {
        out.mark(ps.len() - below(&ps, t), qs.len() - below(&qs, t));
    }
}

/// ε of one decision outcome (`a` of `n` positives and `b` of `n` negatives called positive), or
/// `None` where the outcome says nothing (one error rate zero, the other not).
fn outcome_epsilon(a: usize, b: usize, n: usize, delta: f64) -> Option<f64> {
    // in double precision (the reference computes in single precision: its values differ from
    // these by rounding, below 1e-6)
    let rate = |k: usize| k as f64 / n as f64;
    let (fpr, fnr) = (rate(b), rate(n - a));
    if a == n && b == 0 {
        return Some(f64::INFINITY); // perfect separation
    }
    if fpr * fnr == 0.0 {
        return None;
    }
    let x = (1.0 - delta - fpr).ln() - fnr.ln();
    let y = (1.0 - delta - fnr).ln() - fpr.ln();
    let best = match (x.is_nan(), y.is_nan()) {
        (true, true) => return None,
        (true, false) => y,
        (false, true) => x,
        (false, false) => x.max(y),
    };
    Some(best.max(0.0))
}

/// ε of one example from its confidences under the `pos` models and the `neg` models (equal in
/// number; "positive" is the side of larger median, see [`epsilons`]), with `delta`; capped at
/// [`EPSILON_CAP`].
pub fn example_epsilon(pos: &[f64], neg: &[f64], delta: f64) -> Result<f64> {
    let n = pos.len();
    if n < 2 || neg.len() != n {
        return Err(Error::Shape(format!(
            "{} and {} models: the forgetting score needs at least 2 on each side, as many unlearned as retrained",
            pos.len(),
            neg.len()
        )));
    }
    if pos.iter().chain(neg).any(|v| !v.is_finite()) {
        return Err(Error::invalid("confidences", "a value that is not finite", "finite logit-scaled confidences"));
    }
    let (pd, nd) = (spread(pos), spread(neg));
    let (largest, smallest) = if pd > nd { (pd, nd) } else { (nd, pd) };
    // one side (almost) a point: as distinguishable as it gets (NaN when both are points: go on)
    if smallest / largest < 0.01 {
        return Ok(EPSILON_CAP);
    }
    let mut outcomes = Outcomes { n, seen: vec![false; (n + 1) * (n + 1)] };
    interval_outcomes(pos, neg, &mut outcomes);
    threshold_outcomes(pos, neg, &mut outcomes);
    let mut best: Option<f64> = None;
    for a in 0..=n {
        for b in 0..=n {
            if outcomes.seen[a * (n + 1) + b] {
                if let Some(e) = outcome_epsilon(a, b, n, delta) {
                    best = Some(best.map_or(e, |m: f64| m.max(e)));
                }
            }
        }
    }
    let e = best.ok_or_else(|| {
        Error::invalid("forgetting score", "an example no decision rule could measure", "confidences that vary")
    })?;
    Ok(e.clamp(0.0, EPSILON_CAP))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// ε of every forget example from `unlearned[m][i]` and `retrained[m][i]` (model m, example i);
/// for each example the side of larger median confidence is the positive one.
pub fn epsilons(unlearned: &[Vec<f64>], retrained: &[Vec<f64>]) -> Result<Vec<f64>> {
    let n = unlearned.len();
    if n != retrained.len() || n < 2 {
        return Err(Error::Shape(format!(
            "{n} unlearned and {} retrained models: the forgetting score needs as many of each, at least 2",
            retrained.len()
        )));
    }
    let examples = unlearned[0].len();
    if unlearned.iter().chain(retrained).any(|m| m.len() != examples) {
        return Err(Error::Shape("models with confidences for different numbers of forget examples".into()));
    }
    (0..examples)
        .map(|i| {
            let u: Vec<f64> = unlearned.iter().map(|m| m[i]).collect();
            let r: Vec<f64> = retrained.iter().map(|m| m[i]).collect();
            let retrain_positive = median(&mut r.clone()) > median(&mut u.clone());
            if retrain_positive {
                example_epsilon(&r, &u, DELTA)
            } else {
                example_epsilon(&u, &r, DELTA)
            }
        })
        .collect()
}

/// F from the examples' `eps` with `models` models a side: the mean of their points (1 for ε
/// below 0.5, halving every 0.5, none from ⌈ln(models − 1)⌉ on).
pub fn forget_score(eps: &[f64], models: usize) -> f64 {
    if eps.is_empty() || models < 2 {
        return 0.0;
    }
    let max_eps = ((models - 1) as f64).ln().ceil();
    let mut buckets = Vec::new();
    let (mut start, mut points) = (0.0f64, 1.0f64);
    while start + 0.5 <= max_eps {
        buckets.push((start, points));
        points /= 2.0;
        start += 0.5;
    }
    let total: f64 =
        eps.iter().map(|&e| buckets.iter().find(|(s, _)| e < s + 0.5).map(|(_, p)| *p).unwrap_or(0.0)).sum();
    total / eps.len() as f64
}

/// The forgetting score of one method against an oracle bank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForgettingScore {
    /// F in [0, 1]: higher is better (forget examples as indistinguishable from the oracles').
    pub forget_score: f64,
    /// F × retain ratio × test ratio (the challenge's final score): higher is better.
    pub final_score: f64,
    /// Mean retain accuracy of the unlearned models over the oracles' (1 is Retrain's).
    pub retain_ratio: f64,
    /// Mean test accuracy of the unlearned models over the oracles'.
    pub test_ratio: f64,
    /// Models a side.
    pub models: usize,
    /// Forget examples scored.
    pub examples: usize,
    /// Their ε, in forget-set order.
    pub epsilons: Vec<f64>,
    /// Mean accuracies of the unlearned models.
    pub retain_acc: f64,
    pub test_acc: f64,
    pub forget_acc: f64,
    /// The oracle bank's hash (which oracles this score is against).
    pub oracle_hash: String,
}

/// The score from the unlearned models' confidences and accuracies (`retain`, `test`, `forget`:
/// one per model) against an oracle bank's.
pub fn score(
    unlearned: &[Vec<f64>],
    accuracies: &[[f64; 3]],
    oracles: &super::oracle::OracleBank,
) -> Result<ForgettingScore> {
    let eps = epsilons(unlearned, &oracles.confidences)?;
    let mean_of = |j: usize| accuracies.iter().map(|a| a[j]).sum::<f64>() / accuracies.len().max(1) as f64;
    let (ur, ut, uf) = (mean_of(0), mean_of(1), mean_of(2));
    let (rr, rt) = (oracles.mean_retain_acc(), oracles.mean_test_acc());
    let ratio = |u: f64, r: f64| if r > 0.0 { u / r } else { 0.0 };
    let f = forget_score(&eps, unlearned.len());
    Ok(ForgettingScore {
        forget_score: f,
        final_score: f * ratio(ur, rr) * ratio(ut, rt),
        retain_ratio: ratio(ur, rr),
        test_ratio: ratio(ut, rt),
        models: unlearned.len(),
        examples: eps.len(),
        epsilons: eps,
        retain_acc: ur,
        test_acc: ut,
        forget_acc: uf,
        oracle_hash: oracles.hash.clone(),
    })
}

/// The forgetting score of `models` (N runs of one method on `ctx`'s request, each with its own
/// seed) against `bank` (N oracles of the same request on `train`, accuracies on the same
/// evaluation split).
pub fn forgetting_score(
    models: &[&crate::models::Model],
    bank: &super::oracle::OracleBank,
    train: &crate::data::Dataset,
    ctx: &super::EvalContext,
) -> Result<ForgettingScore> {
    bank.check_context(train, ctx)?;
    if models.len() != bank.models() {
        return Err(Error::invalid(
            "forgetting score",
            format!("{} unlearned models against {} oracles", models.len(), bank.models()),
            "as many runs of the method as oracles (the score compares two samples of equal size)",
        ));
    }
    let mut confidences = Vec::with_capacity(models.len());
    let mut accuracies = Vec::with_capacity(models.len());
    for m in models {
        let (c, a) = super::oracle::measure(m, ctx)?;
        confidences.push(c);
        accuracies.push(a);
    }
    score(&confidences, &accuracies, bank)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_the_number_of_models() {
        // 4 models: ⌈ln 3⌉ = 2, buckets [0, .5) 1, [.5, 1) ½, [1, 1.5) ¼, [1.5, 2) ⅛
        assert_eq!(forget_score(&[0.1, 0.7, 1.2, 1.7, 2.0, 50.0], 4), (1.0 + 0.5 + 0.25 + 0.125) / 6.0);
        // 2 models: ⌈ln 1⌉ = 0, no bucket: nothing to earn
        assert_eq!(forget_score(&[0.0], 2), 0.0);
    }

    #[test]
    fn grids_end_exactly_at_their_bounds() {
        let g = linspace_f64(-1.3, 2.7, 401);
        assert_eq!((g[0], g[400]), (-1.3, 2.7));
        let h = linspace_f32(0.1, 3.3, 321);
        assert_eq!((h[0], h[320]), (0.1f32 as f64, 3.3f32 as f64));
    }

    /// The interval rule's outcomes by the plain definition: every (left, right) threshold pair,
    /// each side counted item by item.
    fn interval_outcomes_plain(pos: &[f64], neg: &[f64]) -> Vec<bool> {
        let n = pos.len();
        let (pd, nd) = (spread(pos), spread(neg));
        let width = if pd > nd { nd } else { pd };
        let (p, q) = if pd >= nd { (neg, pos) } else { (pos, neg) };
        let lo = p.iter().copied().fold(f64::INFINITY, f64::min) + width - BUFFER;
        let hi = p.iter().copied().fold(f64::NEG_INFINITY, f64::max) + BUFFER;
        let mut seen = vec![false; (n + 1) * (n + 1)];
        for r in linspace_f64(lo, hi, ((hi - lo) * THRESHOLDS_PER_UNIT).ceil() as usize) {
            for l in linspace_f64(r - width - BUFFER, r - width + BUFFER, 400) {
                let inside = |v: &[f64]| v.iter().filter(|&&c| l <= c && c <= r).count();
                seen[inside(p) * (n + 1) + inside(q)] = true;
            }
        }
        seen
    }

    #[test]
    fn the_swept_interval_rule_equals_its_plain_definition() {
        use rand::Rng;
        let mut r = crate::data::split::rng(9);
        for case in 0..6 {
            let n = 3 + case;
            let scale = 0.3 + case as f64 * 0.5;
            let pos: Vec<f64> = (0..n).map(|_| r.random_range(-1.0..1.0) * scale).collect();
            let neg: Vec<f64> = (0..n).map(|_| r.random_range(-1.0..1.0) + case as f64 * 0.4).collect();
            let mut out = Outcomes { n, seen: vec![false; (n + 1) * (n + 1)] };
            interval_outcomes(&pos, &neg, &mut out);
            assert_eq!(out.seen, interval_outcomes_plain(&pos, &neg), "case {case}");
        }
    }

    #[test]
    fn separated_sides_reach_the_cap_and_equal_ones_do_not() {
        let a = [0.0, 0.1, 0.2, 0.3];
        let b = [5.0, 5.1, 5.3, 5.2];
        assert_eq!(example_epsilon(&b, &a, DELTA).unwrap(), EPSILON_CAP);
        let e = example_epsilon(&[0.0, 0.2, 0.1, 0.3], &a, DELTA).unwrap();
        assert!((0.0..EPSILON_CAP).contains(&e), "{e}");
        assert!(example_epsilon(&a, &b[..3], DELTA).is_err());
    }
}
