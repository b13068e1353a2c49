//! Metrics (method.md §4.5): retain / forget / test accuracy, the paper's MIA, gaps to the
//! retrained model, Tug-of-War and run-time efficiency.
pub mod mia;

use crate::data::request::ForgetRequest;
use crate::data::Dataset;
use crate::error::Result;
use crate::models::Model;
use crate::train::eval::{accuracy, logits};
use mia::{logit_confidence, mia_score, MiaScore};
use serde::Serialize;

/// One model's metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// Accuracy on the real retain set (even when training used a reduced one).
    pub retain_acc: f64,
    pub forget_acc: f64,
    /// Accuracy on the evaluation part of the test set.
    pub test_acc: f64,
    pub mia: MiaScore,
    /// Seconds of evaluation (device-synchronised).
    pub eval_seconds: f64,
}

/// Options of the MIA.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MiaOptions {
    pub seed: u64,
    /// The reference's swap-and-max rule below this score (42), or none.
    pub swap_below: Option<f64>,
}

/// Metrics of `model` for `request` on `train`, tested on `evaluation`.
pub fn evaluate_model(
    model: &Model,
    train: &Dataset,
    request: &ForgetRequest,
    evaluation: &Dataset,
    mia: &MiaOptions,
) -> Result<Metrics> {
    let t = std::time::Instant::now();
    let retain = request.retain_set(train)?;
    let forget = request.forget_set(train)?;
    let retain_acc = accuracy(model, &retain)?;
    let forget_acc = accuracy(model, &forget)?;
    let test_acc = accuracy(model, evaluation)?;
    // held-out items of the classes present in the forget set (§4.5 step 1)
    let mut present = vec![false; train.num_classes()];
    for &l in forget.labels_host() {
        present[l as usize] = true;
    }
    let held: Vec<i64> =
        (0..evaluation.len() as i64).filter(|&i| present[evaluation.labels_host()[i as usize] as usize]).collect();
    let held = evaluation.subset(&held, format!("{} (forget classes)", evaluation.name))?;
    let phi_f = logit_confidence(&logits(model, &forget)?, forget.labels())?;
    let phi_t = logit_confidence(&logits(model, &held)?, held.labels())?;
    let mia = mia_score(&phi_f, &phi_t, mia.seed, mia.swap_below, None)?;
    crate::runtime::synchronize(model.device());
    Ok(Metrics { retain_acc, forget_acc, test_acc, mia, eval_seconds: t.elapsed().as_secs_f64() })
}

/// Absolute differences to the reference (retrained) model, accuracies in [0, 1], MIA /100.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gaps {
    pub retain: f64,
    pub forget: f64,
    pub test: f64,
    pub mia: f64,
    /// Mean of the four.
    pub mean: f64,
}

pub fn gaps(m: &Metrics, reference: &Metrics) -> Gaps {
    let retain = (m.retain_acc - reference.retain_acc).abs();
    let forget = (m.forget_acc - reference.forget_acc).abs();
    let test = (m.test_acc - reference.test_acc).abs();
    let mia = (m.mia.score - reference.mia.score).abs() / 100.0;
    Gaps { retain, forget, test, mia, mean: (retain + forget + test + mia) / 4.0 }
}

/// Tug-of-War: Π over forget, retain and test accuracy of (1 − |gap to the reference|).
pub fn tug_of_war(g: &Gaps) -> f64 {
    (1.0 - g.forget) * (1.0 - g.retain) * (1.0 - g.test)
}

/// Run-time efficiency: the reference's time over the method's.
pub fn run_time_efficiency(reference_seconds: f64, seconds: f64) -> f64 {
    reference_seconds / seconds.max(1e-12)
}
