//! Every experiment script in scripts/ runs end to end on a tiny configuration, through the CLI,
//! and writes a CSV with the expected columns and rows.
use std::path::{Path, PathBuf};
use std::process::Command;

fn run_script(script: &str, out: &Path, sets: &[&str]) -> String {
    let (ok, text) = try_script(script, out, sets, &[]);
    assert!(ok, "{script} failed:\n{text}");
    text
}

/// Runs `script` with `sets` and further arguments; whether it succeeded, and its output.
fn try_script(script: &str, out: &Path, sets: &[&str], args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_unlearn"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args(["run", script, "--out"]).arg(out).args(args);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let o = cmd.output().unwrap();
    (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

/// The CSV's header cells and data lines.
fn csv(path: PathBuf) -> (Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    (header, lines.map(String::from).collect())
}

fn has_columns(header: &[String], cols: &[&str]) {
    for c in cols {
        assert!(header.iter().any(|h| h == c), "missing column {c} in {header:?}");
    }
}

#[test]
fn quickstart_writes_the_table_and_four_plots() {
    let dir = tempfile::tempdir().unwrap();
    let sets = ["take=500", "width=8", "epochs=1", "ipc=4", "lira_shadows=2"];
    let text = run_script("scripts/quickstart.rhai", dir.path(), &sets);
    assert!(text.contains("a_cf+blend") && text.contains("speed-up"), "{text}");
    let (header, rows) = csv(dir.path().join("table.csv"));
    assert_eq!(header, unlearn::report::table::COLUMNS.map(String::from).to_vec());
    let methods: Vec<&str> = rows.iter().map(|r| r.split(',').next().unwrap()).collect();
    assert_eq!(methods, ["original", "retrain", "finetune", "a_cf+blend"]);
    let lira = header.iter().position(|h| h == "lira_auc").unwrap();
    for r in &rows {
        let auc: f64 = r.split(',').nth(lira).unwrap().parse().unwrap_or_else(|_| panic!("no LiRA AUC: {r}"));
        assert!((0.0..=1.0).contains(&auc), "{r}");
    }
    for name in ["metrics", "time_vs_gap", "losses", "blend"] {
        let png = image::open(dir.path().join(format!("{name}.png"))).unwrap();
        assert!(png.width() > 300 && png.height() > 200, "{name}.png is {}x{}", png.width(), png.height());
        let svg = std::fs::read_to_string(dir.path().join(format!("{name}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{name}.svg");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("table.json")).unwrap()).unwrap();
    assert!(json["run"]["versions"].is_object() && json["run"]["seed"].is_u64());
    // a second run reuses the cached original model
    let again = run_script("scripts/quickstart.rhai", dir.path(), &["take=500", "width=8", "epochs=1", "ipc=4"]);
    assert!(again.contains("reusing the original model"), "{again}");
}

#[test]
fn single_round_with_the_evaluations_of_the_field() {
    // a memorisation-stratified request, curves, the forgetting score with 3 oracles, relearning
    // and the retain-side MIA, on a tiny run
    let dir = tempfile::tempdir().unwrap();
    let text = run_script(
        "scripts/single_round.rhai",
        dir.path(),
        &[
            "take=300",
            "width=8",
            "epochs=1",
            "ipc=4",
            "seeds=1",
            "methods=retrain,finetune",
            "request=memorization",
            "stratum=high",
            "curves=4",
            "forgetting=3",
            "relearn=true",
            "retain_mia=true",
        ],
    );
    let (header, rows) = csv(dir.path().join("single_round.csv"));
    has_columns(
        &header,
        &[
            "forget_score_mean",
            "final_score_mean",
            "retrain_like_reached_mean",
            "relearn_reached_mean",
            "retain_mia_change_mean",
        ],
    );
    assert_eq!(rows.len(), 4, "2 settings x 2 methods: {rows:?}");
    // Retrain's run ends at its own metrics: it is Retrain-like by its end
    let reached = header.iter().position(|h| h == "retrain_like_reached_mean").unwrap();
    let retrain = rows.iter().find(|r| r.starts_with("full,retrain,")).unwrap();
    assert_eq!(retrain.split(',').nth(reached), Some("1.000000"), "{retrain}");
    for def in ["forget_score: ", "relearn_steps: ", "time_to_retrain_like_s: "] {
        assert!(text.contains(def), "the summary defines {def}:\n{text}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("single_round.json")).unwrap()).unwrap();
    assert!(json["result"]["definitions"]["forget_score"]["better"].as_str().unwrap().contains("higher"));
    // the oracle bank was saved for reuse, and the request was the high-memorisation stratum
    let oracles: Vec<_> = std::fs::read_dir(dir.path().join("oracles")).unwrap().collect();
    assert_eq!(oracles.len(), 1, "one bank (one seed, one request)");
    let record = std::fs::read_to_string(dir.path().join("single_round_seed_1.json")).unwrap();
    assert!(record.contains("\"memorization\""), "{record}");
    // the curves of every setting are plotted
    for f in ["curves_seed1_full.png", "curves_seed1_blend_ipc_4.svg"] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
}

#[test]
fn single_round_script_summarises_every_setting_and_method() {
    let dir = tempfile::tempdir().unwrap();
    run_script(
        "scripts/single_round.rhai",
        dir.path(),
        &["take=400", "width=8", "epochs=1", "ipc=4", "seeds=2", "methods=retrain,finetune,a_cf"],
    );
    let (header, rows) = csv(dir.path().join("single_round.csv"));
    has_columns(
        &header,
        &[
            "condense",
            "method",
            "n",
            "retain_acc_mean",
            "forget_acc_std",
            "mia_mean",
            "gap_mean_mean",
            "end_to_end_s_mean",
            "tug_of_war_mean",
        ],
    );
    assert_eq!(rows.len(), 6, "2 settings x 3 methods: {rows:?}");
    let n_col = header.iter().position(|h| h == "n").unwrap();
    assert!(rows.iter().all(|r| r.split(',').nth(n_col) == Some("2")), "two seeds per group: {rows:?}");

    // every setting is measured against Retrain on the full retain set: it is the full setting's
    // retrain row (gap 0); Blend's retrain row, trained on R̃, is measured against it
    let seed1 = dir.path().join("single_round_seed_1.json");
    let record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&seed1).unwrap()).unwrap();
    let retrain_gap = |setting: &str, method: &str| {
        record["result"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["method"] == method && r["condense"] == setting)
            .unwrap_or_else(|| panic!("no retrain row for {setting}: {record}"))["gap_mean"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(retrain_gap("full", "retrain"), 0.0);
    assert!(retrain_gap("blend ipc 4", "retrain+blend") > 0.0, "Retrain on R̃ is not the reference: {record}");

    // an interrupted run (seed 2 never saved): the rerun reuses seed 1 and computes seed 2 only,
    // and gives the same summary
    let before = std::fs::read(&seed1).unwrap();
    std::fs::remove_file(dir.path().join("single_round_seed_2.json")).unwrap();
    let text = run_script(
        "scripts/single_round.rhai",
        dir.path(),
        &["take=400", "width=8", "epochs=1", "ipc=4", "seeds=2", "methods=retrain,finetune,a_cf"],
    );
    assert!(text.contains("seed 1: reusing") && !text.contains("seed 2: reusing"), "{text}");
    assert_eq!(std::fs::read(&seed1).unwrap(), before, "seed 1's record was not rewritten");
    assert!(dir.path().join("single_round_seed_2.json").is_file());
    let (_, again) = csv(dir.path().join("single_round.csv"));
    assert_eq!(again.len(), 6);
    // another configuration never reuses them: it stops, naming what differs, and --overwrite
    // replaces them
    let other = ["take=400", "width=8", "epochs=1", "ipc=4", "seeds=1", "methods=retrain,finetune"];
    let (ok, text) = try_script("scripts/single_round.rhai", dir.path(), &other, &[]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("single_round_seed_1.json")
            && text.contains("--set methods: `retrain,finetune` here, `retrain,finetune,a_cf` in the record")
            && text.contains("--overwrite"),
        "{text}"
    );
    let (ok, text) = try_script("scripts/single_round.rhai", dir.path(), &other, &["--overwrite"]);
    assert!(ok && !text.contains("reusing"), "{text}");
    assert_ne!(std::fs::read(&seed1).unwrap(), before, "seed 1's record was replaced");
}

#[test]
fn multi_round_script_reports_every_round_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let sets = ["take=400", "width=8", "epochs=1", "ipc=4", "rounds=2", "methods=finetune,a_cf"];
    run_script("scripts/multi_round.rhai", dir.path(), &sets);
    let (header, rows) = csv(dir.path().join("multi_round.csv"));
    has_columns(
        &header,
        &[
            "condense",
            "round",
            "method",
            "n",
            "forget_acc_mean",
            "gap_mean_mean",
            "end_to_end_s_mean",
            "forget_size_mean",
        ],
    );
    // full: finetune, a_cf and the Retrain reference; blend: finetune, a_cf; two rounds each
    assert_eq!(rows.len(), 10, "{rows:?}");
    let first = std::fs::read_to_string(dir.path().join("multi_round.csv")).unwrap();
    let manifest = dir.path().join("multiround/seed1_full/manifest.json");
    let stamp_of = || {
        std::fs::metadata(dir.path().join("multiround/seed1_full/round0_retrain.safetensors"))
            .unwrap()
            .modified()
            .unwrap()
    };
    let stamp = stamp_of();
    assert!(manifest.is_file());
    // rerunning resumes: no step is redone, and the results are the same
    run_script("scripts/multi_round.rhai", dir.path(), &sets);
    assert_eq!(stamp, stamp_of(), "a finished step was redone");
    let second = std::fs::read_to_string(dir.path().join("multi_round.csv")).unwrap();
    // everything but the evaluation time (measured anew) is the same
    let keep = |text: &str| -> Vec<Vec<String>> {
        let head: Vec<&str> = text.lines().next().unwrap().split(',').collect();
        text.lines()
            .map(|l| {
                l.split(',').zip(&head).filter(|(_, h)| !h.starts_with("eval_s")).map(|(c, _)| c.to_string()).collect()
            })
            .collect()
    };
    assert_eq!(keep(&first), keep(&second));
    // the same command with another width never reuses the width-8 steps: it stops naming the
    // option and the original model; --overwrite runs every step again
    let wider = ["take=400", "width=16", "epochs=1", "ipc=4", "rounds=2", "methods=finetune,a_cf"];
    let (ok, text) = try_script("scripts/multi_round.rhai", dir.path(), &wider, &[]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("manifest.json")
            && text.contains("--set width: `16` here, `8` in the record")
            && text.contains("original model"),
        "{text}"
    );
    let (ok, text) = try_script("scripts/multi_round.rhai", dir.path(), &wider, &["--overwrite"]);
    assert!(ok, "{text}");
    assert_ne!(stamp, stamp_of(), "--overwrite runs the steps again");
}

#[test]
fn condense_benchmark_script_compares_condensers_per_ipc() {
    let dir = tempfile::tempdir().unwrap();
    run_script(
        "scripts/condense_benchmark.rhai",
        dir.path(),
        &["take=400", "width=8", "ipcs=2,3", "dm_iters=3", "epochs_scale=0.05"],
    );
    let (header, rows) = csv(dir.path().join("condense_benchmark.csv"));
    has_columns(
        &header,
        &["ipc", "method", "n", "train_acc_mean", "test_acc_mean", "mia_mean", "condense_seconds_mean", "images_mean"],
    );
    assert_eq!(rows.len(), 6, "2 ipc x 3 methods: {rows:?}");
    // ipc images per class, 10 classes, for every condenser
    let ipc = header.iter().position(|h| h == "ipc").unwrap();
    let images = header.iter().position(|h| h == "images_mean").unwrap();
    for r in &rows {
        let cells: Vec<&str> = r.split(',').collect();
        let want: f64 = cells[ipc].parse::<f64>().unwrap() * 10.0;
        assert_eq!(cells[images].parse::<f64>().unwrap(), want, "{r}");
    }
}

/// `--set profile=paper` prints the reference protocol's plan and its cost on this machine, from a
/// few timed steps, and on a CPU stops there when the estimate passes an hour; `plan=true` prints
/// the plan only; every epoch count is a --set.
#[test]
fn the_paper_profile_prints_its_plan_and_cost_before_committing_to_hours() {
    let dir = tempfile::tempdir().unwrap();
    let sets = ["profile=paper", "take=400", "request=class"];
    let (ok, text) = try_script("scripts/single_round.rhai", dir.path(), &sets, &["--device", "cpu"]);
    assert!(ok, "{text}");
    for want in [
        "plan (single_round, profile cifar10-resnet18)",
        "3 seeds; request: one class, drawn per seed",
        "original resnet18: 200 epochs, best test-accuracy epoch kept",
        "full retain set (",
        "retrain (100 ep)",
        "scrub (15 ep)",
        "ssd ",
        "a_cf (1 ep)",
        "blend ipc 6 (|R~| about 54)",
        "estimated cost on cpu",
        "stopped before starting",
        "--set confirm=true",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }
    assert!(!dir.path().join("single_round.csv").exists(), "nothing ran");
    let sets = ["profile=paper", "take=400", "plan=true", "pretrain_epochs=20", "finetune_epochs=3", "seeds=1"];
    let (ok, text) = try_script("scripts/multi_round.rhai", dir.path(), &sets, &[]);
    assert!(ok, "{text}");
    for want in [
        "1 seeds",
        "3 rounds",
        "original resnet18: 20 epochs",
        "finetune (3 ep)",
        "a_scrub",
        "--set plan=true: nothing run",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }
    // the condensation benchmark times one iteration of each condenser and extrapolates
    let sets = ["profile=paper", "take=200", "plan=true", "ipcs=2", "methods=blend,dm", "seeds=1"];
    let (ok, text) = try_script("scripts/condense_benchmark.rhai", dir.path(), &sets, &[]);
    assert!(ok, "{text}");
    for want in
        ["evaluation network convnet3", "ipc 2: blend (20 it)", "dm (20000 it)", "estimated cost on", "nothing run"]
    {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }
}

/// GM and IDM are not in the default list (slow on a CPU) but run when asked for, with their
/// iterations set from the command line.
#[test]
fn condense_benchmark_script_runs_gm_and_idm_on_request() {
    let dir = tempfile::tempdir().unwrap();
    run_script(
        "scripts/condense_benchmark.rhai",
        dir.path(),
        &["take=400", "width=8", "ipcs=2", "methods=gm,idm", "gm_iters=1", "idm_iters=2", "epochs_scale=0.05"],
    );
    let (header, rows) = csv(dir.path().join("condense_benchmark.csv"));
    let method = header.iter().position(|h| h == "method").unwrap();
    let images = header.iter().position(|h| h == "images_mean").unwrap();
    let mut got: Vec<(String, f64)> = rows
        .iter()
        .map(|r| {
            let cells: Vec<&str> = r.split(',').collect();
            (cells[method].to_string(), cells[images].parse::<f64>().unwrap())
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, [("gm".to_string(), 20.0), ("idm".to_string(), 20.0)]);
}
