//! The Rust examples run as tests (at a small scale), so the typed API they show keeps working.

#[allow(dead_code)] // its main() is the example's, not the test's
#[path = "../examples/quickstart.rs"]
mod quickstart;

#[test]
fn the_rust_quickstart_runs_and_measures_every_model_against_retrain() {
    tch::set_num_threads(2);
    let table = quickstart::quickstart(&quickstart::Scale::small(), 1).unwrap();
    let names: Vec<&str> = table.rows.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(names, ["original", "retrain", "finetune", "a_cf+blend"]);
    assert_eq!(table.reference.as_deref(), Some("retrain"));
    let retrain = &table.rows[1];
    assert_eq!(retrain.gaps.as_ref().map(|g| g.mean), Some(0.0), "retrain is the reference");
    assert!(!table.rows[0].timed, "the original has no unlearning time");
    for r in &table.rows[1..] {
        assert!(r.timed && r.phases.end_to_end() > 0.0, "{} has no time", r.method);
    }
    // the Blend row is timed with Blend's phases too
    assert!(table.rows[3].phases.features > 0.0 && table.rows[3].phases.condense > 0.0);
    for r in &table.rows {
        let m = &r.metrics;
        for acc in [m.retain_acc, m.forget_acc, m.test_acc] {
            assert!((0.0..=1.0).contains(&acc), "{}: {acc}", r.method);
        }
    }
    // even three epochs learn the digits: far above chance (10 %)
    assert!(table.rows[0].metrics.test_acc > 0.3, "original test accuracy {}", table.rows[0].metrics.test_acc);
    // the text form ends with a reading of the numbers, as the script's does
    assert!(table.reading().is_some() && table.to_text().contains("Fastest"), "{}", table.to_text());
}
