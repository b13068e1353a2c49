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
    /// NaN where either MIA was not measured (too few items).
    pub mia: f64,
    /// Mean of the four (of the three accuracies where the MIA was not measured).
    pub mean: f64,
}

pub fn gaps(m: &Metrics, reference: &Metrics) -> Gaps {
    let retain = (m.retain_acc - reference.retain_acc).abs();
    let forget = (m.forget_acc - reference.forget_acc).abs();
    let test = (m.test_acc - reference.test_acc).abs();
    if !(m.mia.measured() && reference.mia.measured()) {
        // no attack ran (too few items): the mean of the three accuracies
        return Gaps { retain, forget, test, mia: f64::NAN, mean: (retain + forget + test) / 3.0 };
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::mia::MiaScore;

    #[test]
    fn an_unmeasured_mia_leaves_the_mean_gap_to_the_accuracies() {
        let m = Metrics {
            retain_acc: 0.9,
            forget_acc: 0.8,
            test_acc: 0.7,
            mia: MiaScore::unmeasured(),
            ..Default::default()
        };
        let reference = Metrics { retain_acc: 1.0, forget_acc: 0.5, test_acc: 0.7, ..Default::default() };
        let g = gaps(&m, &reference);
        assert!(g.mia.is_nan());
        assert!((g.mean - (0.1 + 0.3 + 0.0) / 3.0).abs() < 1e-12, "{g:?}");
        // both measured: the mean of the four, as before
        let g = gaps(&Metrics { mia: MiaScore { score: 60.0, ..Default::default() }, ..m.clone() }, &reference);
        assert!((g.mia - 0.6).abs() < 1e-12 && (g.mean - (0.1 + 0.3 + 0.0 + 0.6) / 4.0).abs() < 1e-12, "{g:?}");
    }
}
