//! Metrics against scikit-learn (from the project's venv) and hand-computed values.
use std::process::Command;
use unlearn::metrics::mia::{fit_logistic_1d, logit_confidence, mia_score, oof_auc, roc_auc, stratified_folds};
use unlearn::metrics::{gaps, run_time_efficiency, tug_of_war, Metrics};

fn python() -> std::path::PathBuf {
    unlearn::data::builtin::cache_dir().join("venv").join("bin").join("python")
}

/// Runs `code` in the venv's Python with `input` as JSON on stdin; returns its JSON output.
fn sklearn(code: &str, input: &serde_json::Value) -> serde_json::Value {
    use std::io::Write;
    let mut child = Command::new(python())
        .args(["-c", code])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the venv's python (run `make setup`)");
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Seeded data with many ties: 1-D features of two overlapping groups, rounded.
fn data(n: usize, shift: f64) -> (Vec<f64>, Vec<u8>) {
    use rand::Rng;
    let mut r = unlearn::data::split::rng(11);
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..n {
        let label = (i % 2) as u8;
        let v: f64 = r.random_range(-2.0..2.0) + shift * label as f64;
        x.push((v * 4.0).round() / 4.0);
        y.push(label);
    }
    (x, y)
}

#[test]
fn auc_logistic_regression_and_oof_score_agree_with_scikit_learn() {
    let (x, y) = data(400, 0.7);
    let folds = stratified_folds(&y, 5, 0);
    let code = r#"
import json, sys, numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.linear_model import LogisticRegression
d = json.load(sys.stdin)
x = np.array(d["x"]).reshape(-1, 1); y = np.array(d["y"]); folds = np.array(d["folds"])
lr = LogisticRegression(tol=1e-10, max_iter=10000).fit(x, y)
prob = np.zeros(len(y))
for f in range(5):
    m = LogisticRegression(tol=1e-10, max_iter=10000).fit(x[folds != f], y[folds != f])
    prob[folds == f] = m.predict_proba(x[folds == f])[:, 1]
print(json.dumps({"auc_x": roc_auc_score(y, x[:, 0]), "w": lr.coef_[0][0], "b": lr.intercept_[0], "oof": 100 * roc_auc_score(y, prob)}))
"#;
    let input = serde_json::json!({ "x": x, "y": y, "folds": folds });
    let sk = sklearn(code, &input);
    let auc = roc_auc(&x, &y).unwrap();
    assert!((auc - sk["auc_x"].as_f64().unwrap()).abs() < 1e-6, "AUC with ties: {auc} vs {}", sk["auc_x"]);
    let (w, b) = fit_logistic_1d(&x, &y, 1.0);
    assert!(
        (w - sk["w"].as_f64().unwrap()).abs() < 1e-5 && (b - sk["b"].as_f64().unwrap()).abs() < 1e-5,
        "LR ({w}, {b}) vs {sk}"
    );
    let oof = 100.0 * oof_auc(&x, &y, &folds).unwrap();
    assert!((oof - sk["oof"].as_f64().unwrap()).abs() < 1e-3, "MIA score {oof} vs {}", sk["oof"]);
}

#[test]
fn logit_confidence_is_log_odds_of_the_true_class() {
    let logits = tch::Tensor::from_slice(&[2.0f32, 0.0, -1.0, 0.5, 0.5, 0.5]).view([2, 3]);
    let labels = tch::Tensor::from_slice(&[0i64, 2]);
    let phi = logit_confidence(&logits, &labels).unwrap();
    let p0 = 2f64.exp() / (2f64.exp() + 1.0 + (-1f64).exp());
    assert!((phi[0] - (p0 / (1.0 - p0)).ln()).abs() < 1e-6, "{phi:?}");
    assert!((phi[1] - (1.0f64 / 2.0).ln()).abs() < 1e-6, "{phi:?}");
}

#[test]
fn mia_is_near_50_for_indistinguishable_sets_and_high_for_separable_ones() {
    let (x, _) = data(600, 0.0);
    let s = mia_score(&x[..300], &x[300..], 1, None, None).unwrap();
    assert!((s.score - 50.0).abs() < 8.0, "{s:?}");
    let far: Vec<f64> = x[300..].iter().map(|v| v + 10.0).collect();
    let s = mia_score(&x[..300], &far, 1, Some(42.0), None).unwrap();
    assert!(s.score > 99.0 && s.raw == s.score, "{s:?}");
    assert!(mia_score(&x[..3], &x[..3], 1, None, None).is_err());
}

#[test]
fn gaps_tug_of_war_and_speedup_by_hand() {
    let m = |r: f64, f: f64, t: f64, mia: f64| Metrics {
        retain_acc: r,
        forget_acc: f,
        test_acc: t,
        mia: unlearn::metrics::mia::MiaScore { score: mia, raw: mia, n: 10 },
        eval_seconds: 0.0,
    };
    let g = gaps(&m(0.98, 0.95, 0.90, 55.0), &m(0.99, 0.90, 0.91, 50.0));
    assert!(
        (g.retain - 0.01).abs() < 1e-12
            && (g.forget - 0.05).abs() < 1e-12
            && (g.test - 0.01).abs() < 1e-12
            && (g.mia - 0.05).abs() < 1e-12
    );
    assert!((g.mean - 0.03).abs() < 1e-12);
    assert!((tug_of_war(&g) - 0.95 * 0.99 * 0.99).abs() < 1e-12);
    assert_eq!(run_time_efficiency(100.0, 4.0), 25.0);
}
