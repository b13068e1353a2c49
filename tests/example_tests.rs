//! The Rust examples run as tests (at a small scale), so the typed API they show keeps working.

#[allow(dead_code)] // its main() is the example's, not the test's
#[path = "../examples/quickstart.rs"]
mod quickstart;

#[test]
fn the_rust_quickstart_runs_and_measures_every_model_against_retrain() {
    tch::set_num_threads(2);
    let rows = quickstart::quickstart(&quickstart::Scale::small(), 1).unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["original", "retrain", "finetune", "a_cf+blend"]);
    let retrain = &rows[1];
    assert_eq!(retrain.gap, 0.0, "retrain is the reference");
    assert!(rows[0].seconds.is_none(), "the original has no unlearning time");
    for r in &rows[1..] {
        assert!(r.seconds.is_some_and(|s| s > 0.0), "{} has no time", r.name);
    }
    for r in &rows {
        let m = &r.metrics;
        for acc in [m.retain_acc, m.forget_acc, m.test_acc] {
            assert!((0.0..=1.0).contains(&acc), "{}: {acc}", r.name);
        }
        assert!(r.gap.is_finite() && r.gap >= 0.0, "{}", r.name);
    }
    // even three epochs learn the digits: far above chance (10 %)
    assert!(rows[0].metrics.test_acc > 0.3, "original test accuracy {}", rows[0].metrics.test_acc);
}
