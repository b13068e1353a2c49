//! What every reported metric means and which direction is better, in one line each: printed
//! under tables and summaries and written into their JSON (`definitions`), so a number never
//! travels without its reading.
use serde::Serialize;

/// One metric's definition.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Definition {
    /// The field name in tables, CSV, JSON and script rows.
    pub key: &'static str,
    pub definition: &'static str,
    /// Which direction is better, in words.
    pub better: &'static str,
}

const fn d(key: &'static str, definition: &'static str, better: &'static str) -> Definition {
    Definition { key, definition, better }
}

const RETRAIN: &str = "closer to Retrain is better";

/// Every metric this toolkit reports.
pub const DEFINITIONS: &[Definition] = &[
    d("retain_acc", "accuracy on the real retain set, in [0, 1]", "higher is better (Retrain's is the target)"),
    d("forget_acc", "accuracy on the forget set, in [0, 1]", RETRAIN),
    d("test_acc", "accuracy on the evaluation part of the test set, in [0, 1]", "higher is better (Retrain's is the target)"),
    d("mia", "100 x AUC of a logistic attack on the logit-scaled confidence, forget vs held-out items of their classes", "50 is ideal; closer to Retrain is better"),
    d("mia_raw", "the MIA before the swap rule", "50 is ideal"),
    d("lira_auc", "AUC of the likelihood-ratio attack with shadow models, forget vs held-out targets", "0.5 is ideal"),
    d("lira_tpr_1pct", "true-positive rate of that attack at 1 % false positives", "lower is better (1 % is chance)"),
    d("seconds", "the method's own wall-clock seconds", "lower is better"),
    d("end_to_end_s", "seconds a deletion request waits: condensation plus unlearning", "lower is better"),
    d("speedup", "Retrain's end-to-end seconds over the method's", "higher is better"),
    d("gap_retain", "|retain_acc - Retrain's|", "lower is better"),
    d("gap_forget", "|forget_acc - Retrain's|", "lower is better"),
    d("gap_test", "|test_acc - Retrain's|", "lower is better"),
    d("gap_mia", "|mia - Retrain's| / 100", "lower is better"),
    d("gap_mean", "mean of the gaps (the accuracies' only when the MIA is unmeasured)", "lower is better"),
    d("tug_of_war", "(1 - gap_forget) x (1 - gap_retain) x (1 - gap_test), the Tug-of-War", "higher is better (1 is Retrain)"),
    d("forget_score", "the unlearning challenge's F: forget examples' distinguishability from retrained oracles (per-example epsilon, bucketed), in [0, 1]; comparable only at equal numbers of models", "higher is better"),
    d("final_score", "F x (retain accuracy / oracles') x (test accuracy / oracles')", "higher is better"),
    d("time_to_retrain_like_s", "seconds (condensation, then training; evaluation excluded) until every accuracy is within the tolerance of Retrain's and the MIA within its own; empty when never", "lower is better"),
    d("retrain_like_reached", "1 when the run became Retrain-like at all, else 0 (a mean over seeds: the share that did)", "higher is better"),
    d("relearn_steps", "SGD steps on the forget set until forget accuracy is back to the original's; empty when not within the limit", "closer to Retrain's is better (fewer means hidden, not removed)"),
    d("relearn_reached", "1 when the forget accuracy came back within the step limit, else 0", "closer to Retrain's is better"),
    d("retain_mia", "the MIA on retain items vs held-out items (all classes)", "lower is better (50 is ideal)"),
    d("retain_mia_change", "retain_mia minus the original model's", "lower is better (above 0: retain items more exposed)"),
];

/// The definition of `key`, if it is a metric.
pub fn find(key: &str) -> Option<&'static Definition> {
    DEFINITIONS.iter().find(|d| d.key == key)
}

/// "key: definition; better" lines for the metrics among `keys`, in their order.
pub fn legend<'a>(keys: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    keys.into_iter().filter_map(find).map(|d| format!("{}: {}; {}", d.key, d.definition, d.better)).collect()
}

/// `{key: {definition, better}}` for the metrics among `keys` (the JSON's `definitions`).
pub fn json<'a>(keys: impl IntoIterator<Item = &'a str>) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for d in keys.into_iter().filter_map(find) {
        m.insert(d.key.into(), serde_json::json!({ "definition": d.definition, "better": d.better }));
    }
    serde_json::Value::Object(m)
}
