//! Comparisons with the reference (retrained) model: gaps per metric and their mean, Tug-of-War
//! and run-time efficiency. method.md §4.5 notes the reference code computes none of them; the
//! definitions are the field's usual ones.
use super::Metrics;
use serde::Serialize;

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
