//! Issue 22's evaluation: the unlearning challenge's forgetting score (against fixtures computed
//! by its public evaluation code), oracle banks, memorisation-stratified requests, quality-versus-
//! time curves, the relearning test and the retain-side MIA, and metric definitions.
use unlearn::metrics::forgetting::{epsilons, forget_score, logit_scaled_confidence};

fn fixture() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/forgetting_score.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn matrix(v: &serde_json::Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()).collect()
}

#[test]
fn epsilons_and_scores_equal_the_challenge_code() {
    let f = fixture();
    let cases = f["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let (u, r) = (matrix(&c["unlearned"]), matrix(&c["retrained"]));
        let eps = epsilons(&u, &r).unwrap();
        let want: Vec<f64> = c["epsilons"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        assert_eq!(eps.len(), want.len(), "{name}");
        for (i, (a, b)) in eps.iter().zip(&want).enumerate() {
            // the same decision outcomes give the same logarithms; the reference takes them in
            // single precision (relative rounding about 6e-8 on values below 50)
            assert!((a - b).abs() < 5e-6, "{name}, example {i}: {a} vs the reference's {b}");
        }
        let score = forget_score(&eps, u.len());
        assert!((score - c["forget_score"].as_f64().unwrap()).abs() < 1e-12, "{name}: F {score}");
    }
}

#[test]
fn confidences_equal_the_challenge_code() {
    let f = fixture();
    let c = &f["confidence"];
    let logits = matrix(&c["logits"]);
    let k = logits[0].len();
    let flat: Vec<f64> = logits.concat();
    let labels: Vec<i64> = c["targets"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect();
    let ours = logit_scaled_confidence(&flat, k, &labels).unwrap();
    for (i, (a, b)) in ours.iter().zip(c["confidence"].as_array().unwrap()).enumerate() {
        let b = b.as_f64().unwrap();
        // the reference exponentiates in single precision: relative error up to about 1e-7 in
        // each probability, a few 1e-7 in their logarithms
        assert!((a - b).abs() < 1e-5 * (1.0 + b.abs()), "row {i}: {a} vs {b}");
    }
}

use tch::Device;
use unlearn::data::request::{ForgetRequest, Stratum};
use unlearn::data::synthetic::{synthetic, SyntheticOptions};
use unlearn::data::{DataSplit, Dataset};
use unlearn::metrics::curve::{unlearn_traced, CurveOptions, CurvePoint, QualityCurve, Tolerances};
use unlearn::metrics::forgetting::forgetting_score;
use unlearn::metrics::memorization::{memorization, MemorizationConfig};
use unlearn::metrics::oracle::{oracle_bank, OracleConfig};
use unlearn::metrics::relearn::{relearn, RelearnConfig};
use unlearn::metrics::{EvalContext, Metrics, MiaOptions};
use unlearn::models::{Arch, Model, ModelSpec};
use unlearn::report::evaluate::{Audits, Item};
use unlearn::report::table::Table;
use unlearn::train::{train, TrainConfig};
use unlearn::unlearn::{unlearn as run_method, UnlearnInput};

/// A small synthetic task (8x8, 4 classes) and an original trained on it.
fn setup() -> (DataSplit, Model) {
    tch::set_num_threads(1);
    let o = SyntheticOptions {
        train: 240,
        test: 120,
        classes: 4,
        channels: 1,
        height: 8,
        width: 8,
        separation: 0.5,
        seed: 5,
    };
    let split = synthetic(&o, &unlearn::data::LoadOptions::default(), Device::Cpu).unwrap();
    let mut spec = ModelSpec::new(Arch::Convnet, split.train.image_shape(), split.train.num_classes(), 3);
    spec.width = 8;
    spec.depth = 2;
    let mut original = Model::new(spec, Device::Cpu).unwrap();
    let cfg = TrainConfig { epochs: 3, lr: 0.05, progress: false, ..Default::default() };
    train(&mut original, &split.train, &cfg, 1).unwrap();
    (split, original)
}

fn quick_retrain() -> serde_json::Value {
    serde_json::json!({ "epochs": 2, "lr": 0.05, "warmup_epochs": 0, "progress": false })
}

fn input<'a>(original: &'a Model, train: &'a Dataset, request: &'a ForgetRequest, seed: u64) -> UnlearnInput<'a> {
    UnlearnInput { original, train, request, retain: None, unseen: None, seed, progress: false }
}

#[test]
fn an_oracle_bank_is_saved_once_reused_by_key_and_scores_runs() {
    let (split, original) = setup();
    let request = ForgetRequest::uniform(&split.train, 0.1, false, 2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = OracleConfig {
        models: 3,
        retrain: quick_retrain(),
        seed: Some(4),
        dir: Some(dir.path().into()),
        progress: false,
    };
    let bank = oracle_bank(&original, &split.train, &request, &split.test, &cfg, 0).unwrap();
    assert!(!bank.reused);
    assert_eq!(bank.confidences.len(), 3);
    assert_eq!(bank.confidences[0].len(), request.forget.len());
    let again = oracle_bank(&original, &split.train, &request, &split.test, &cfg, 0).unwrap();
    assert!(again.reused, "the same key loads the saved bank");
    assert_eq!((again.hash.clone(), again.confidences.clone()), (bank.hash.clone(), bank.confidences.clone()));
    // another seed set is another key: another folder
    let other =
        oracle_bank(&original, &split.train, &request, &split.test, &OracleConfig { seed: Some(5), ..cfg.clone() }, 0)
            .unwrap();
    assert!(!other.reused);
    assert_ne!(other.folder, bank.folder);
    // a damaged bank is refused with its file named
    let file = bank.folder.as_ref().unwrap().join("bank.json");
    let mut saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    saved["retain_acc"][0] = 0.5.into();
    std::fs::write(&file, saved.to_string()).unwrap();
    let err = oracle_bank(&original, &split.train, &request, &split.test, &cfg, 0).unwrap_err().to_string();
    assert!(err.contains("bank.json"), "{err}");
    // the saved oracles load back
    assert!(other.model(0, Device::Cpu).is_ok());

    let ctx =
        EvalContext::new(&split.train, &request, &split.test, MiaOptions { seed: 1, swap_below: None }, None).unwrap();
    // Retrain's own runs are samples of the oracles' distribution; one model three times is a point
    let runs: Vec<Model> = (0..3)
        .map(|s| {
            run_method("retrain", &input(&original, &split.train, &request, 100 + s), &quick_retrain()).unwrap().model
        })
        .collect();
    let refs: Vec<&Model> = runs.iter().collect();
    let f = forgetting_score(&refs, &other, &split.train, &ctx).unwrap();
    assert_eq!(f.models, 3);
    assert_eq!(f.examples, request.forget.len());
    assert_eq!(f.oracle_hash, other.hash);
    assert!(f.forget_score > 0.0, "retrained runs against oracles: F {}", f.forget_score);
    assert!((f.final_score - f.forget_score * f.retain_ratio * f.test_ratio).abs() < 1e-12);
    let same = forgetting_score(&[&original, &original, &original], &other, &split.train, &ctx).unwrap();
    assert_eq!(same.forget_score, 0.0, "identical runs are a point mass: every epsilon is capped");
    assert!(forgetting_score(&refs[..2], &other, &split.train, &ctx).is_err(), "2 runs against 3 oracles");
    // a bank of another request is refused
    let r2 = ForgetRequest::uniform(&split.train, 0.1, false, 3).unwrap();
    let ctx2 =
        EvalContext::new(&split.train, &r2, &split.test, MiaOptions { seed: 1, swap_below: None }, None).unwrap();
    assert!(forgetting_score(&refs, &other, &split.train, &ctx2).unwrap_err().to_string().contains("forget request"));
}

#[test]
fn memorization_scores_every_item_and_strata_draw_from_their_third() {
    let (split, original) = setup();
    let cfg = MemorizationConfig {
        models: 2,
        train: TrainConfig { epochs: 2, lr: 0.05, progress: false, ..Default::default() },
        seed: Some(3),
    };
    let mem = memorization(&original.spec, Device::Cpu, &split.train, &cfg, 0).unwrap();
    assert_eq!(mem.scores.len(), split.train.len());
    assert!(mem.scores.iter().all(|s| (-1.0..=1.0).contains(s)));
    // in-models fit their half better than the out-models: memorisation is positive on average
    let mean = mem.scores.iter().sum::<f64>() / mem.scores.len() as f64;
    assert!(mean > 0.0, "mean memorisation {mean}");

    // strata on known scores: item i scores i
    let n = split.train.len();
    let scores: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let high = ForgetRequest::memorization(&split.train, &scores, 2, Stratum::High, 0.1, 1).unwrap();
    assert_eq!(high.forget.len(), 24);
    assert!(high.forget.iter().all(|&i| i as usize >= n - n / 3), "{:?}", high.forget);
    let low = ForgetRequest::memorization(&split.train, &scores, 2, Stratum::Low, 0.1, 1).unwrap();
    assert!(low.forget.iter().all(|&i| (i as usize) < n / 3));
    let top = ForgetRequest::memorization(&split.train, &scores, 2, Stratum::Top, 0.1, 1).unwrap();
    assert_eq!(top.forget, ((n - 24) as i64..n as i64).collect::<Vec<_>>());
    assert!(top.describe().contains("top"), "{}", top.describe());
    // more than a stratum holds, and scores of another dataset, are refused
    assert!(ForgetRequest::memorization(&split.train, &scores, 2, Stratum::High, 0.5, 1).is_err());
    assert!(ForgetRequest::memorization(&split.train, &scores[1..], 2, Stratum::High, 0.1, 1).is_err());
}

#[test]
fn a_traced_run_starts_at_the_original_and_ends_at_its_result() {
    let (split, original) = setup();
    let request = ForgetRequest::uniform(&split.train, 0.1, false, 2).unwrap();
    let ctx =
        EvalContext::new(&split.train, &request, &split.test, MiaOptions { seed: 1, swap_below: None }, None).unwrap();
    let opts = serde_json::json!({ "epochs": 2, "lr": 0.05, "progress": false, "batch_size": 32 });
    let (result, curve) = unlearn_traced(
        "finetune",
        &input(&original, &split.train, &request, 1),
        &opts,
        &ctx,
        &CurveOptions { every: 3 },
    )
    .unwrap();
    // 216 retain items, batches of 32: 7 steps an epoch, 14 in all; points at 0, 3, 6, 9, 12, end
    let steps: Vec<usize> = curve.points.iter().map(|p| p.step).collect();
    assert_eq!(steps, vec![0, 3, 6, 9, 12, 14]);
    assert_eq!(curve.points[0].seconds, 0.0);
    assert!(curve.points.windows(2).all(|w| w[0].seconds <= w[1].seconds));
    assert_eq!(curve.points.last().unwrap().seconds, result.seconds);
    assert!(curve.eval_seconds > 0.0);
    // the end point is the result's own evaluation, the start the original's
    let end = unlearn::metrics::evaluate(&result.model, &ctx).unwrap();
    let last = curve.points.last().unwrap();
    assert_eq!((last.retain_acc, last.forget_acc, last.test_acc), (end.retain_acc, end.forget_acc, end.test_acc));
    let start = unlearn::metrics::evaluate(&original, &ctx).unwrap();
    assert_eq!(curve.points[0].forget_acc, start.forget_acc);
    // traced and untraced runs train the same model
    let plain = run_method("finetune", &input(&original, &split.train, &request, 1), &opts).unwrap();
    assert_eq!(plain.model.digest().unwrap(), result.model.digest().unwrap());
    // methods whose epochs are passes of their own loop (SalUn) are traced along the way too
    let salun = serde_json::json!({ "epochs": 1, "batch_size": 32, "progress": false });
    let (r, c) =
        unlearn_traced("salun", &input(&original, &split.train, &request, 1), &salun, &ctx, &CurveOptions { every: 2 })
            .unwrap();
    assert!(c.points.len() > 3, "{:?}", c.points.iter().map(|p| p.step).collect::<Vec<_>>());
    assert!(c.points.iter().all(|p| p.seconds <= r.seconds));
    // a context of another request is refused
    let r2 = ForgetRequest::uniform(&split.train, 0.1, false, 3).unwrap();
    let ctx2 =
        EvalContext::new(&split.train, &r2, &split.test, MiaOptions { seed: 1, swap_below: None }, None).unwrap();
    assert!(unlearn_traced(
        "finetune",
        &input(&original, &split.train, &request, 1),
        &opts,
        &ctx2,
        &CurveOptions::default()
    )
    .is_err());
}

#[test]
fn time_to_retrain_like_is_the_first_point_within_every_tolerance() {
    let p = |seconds: f64, r: f64, f: f64, t: f64, mia: f64| CurvePoint {
        seconds,
        step: 0,
        retain_acc: r,
        forget_acc: f,
        test_acc: t,
        mia,
    };
    let curve = QualityCurve {
        method: "m".into(),
        every: 1,
        points: vec![
            p(0.0, 0.99, 0.99, 0.90, 70.0),
            p(1.0, 0.98, 0.91, 0.90, 70.0), // accuracies close, MIA not
            p(2.0, 0.98, 0.91, 0.90, 51.5),
            p(3.0, 0.98, 0.90, 0.90, 50.0),
        ],
        eval_seconds: 0.1,
    };
    let mut reference = Metrics { retain_acc: 0.98, forget_acc: 0.90, test_acc: 0.90, ..Default::default() };
    reference.mia.score = 50.0;
    assert_eq!(curve.time_to_match(&reference, &Tolerances::default()), Some(2.0));
    assert_eq!(curve.time_to_match(&reference, &Tolerances { accuracy: 0.02, mia: 1.0 }), Some(3.0));
    assert_eq!(curve.time_to_match(&reference, &Tolerances { accuracy: 0.001, mia: 1.0 }), Some(3.0));
    reference.forget_acc = 0.5;
    assert_eq!(curve.time_to_match(&reference, &Tolerances::default()), None);
}

#[test]
fn audits_fill_their_columns_and_every_column_has_its_definition() {
    let (split, original) = setup();
    let request = ForgetRequest::uniform(&split.train, 0.1, false, 2).unwrap();
    let ctx =
        EvalContext::new(&split.train, &request, &split.test, MiaOptions { seed: 1, swap_below: None }, None).unwrap();
    let retrained = run_method("retrain", &input(&original, &split.train, &request, 1), &quick_retrain()).unwrap();
    let forget = request.forget_set(&split.train).unwrap();
    // relearning: already there is 0 steps; an unreachable target is "not reached"
    let cfg = RelearnConfig { max_steps: 3, ..Default::default() };
    assert_eq!(relearn(&original, &forget, 0.0, &cfg, 1).unwrap().steps, Some(0));
    let never = relearn(&retrained.model, &forget, 1.01, &cfg, 1).unwrap();
    assert_eq!((never.steps, never.forget_acc.len()), (None, 4));
    assert!(relearn(&original, &forget, 0.5, &RelearnConfig { lr: -1.0, ..cfg.clone() }, 1).is_err());

    let items = vec![Item::model("original", &original), Item::unlearned(&retrained, &retrained.model, &request)];
    let reference = Item::unlearned(&retrained, &retrained.model, &request);
    let audits = Audits {
        original: Some(&original),
        relearn: Some(RelearnConfig { max_steps: 20, ..Default::default() }),
        retain_mia: true,
        ..Default::default()
    };
    let table = Table::evaluate_with(&items, Some(&reference), &ctx, &audits).unwrap();
    let orig = &table.rows[0];
    assert_eq!(orig.relearn.as_ref().unwrap().steps, Some(0), "the original is its own target");
    assert_eq!(orig.retain_mia_change, Some(0.0));
    assert!(table.rows[1].relearn.is_some() && table.rows[1].retain_mia.is_some());
    let text = table.to_text();
    for key in ["retain_acc:", "forget_acc:", "mia:", "relearn_steps:", "retain_mia_change:", "tug_of_war:"] {
        assert!(text.contains(key), "the footer defines {key}:\n{text}");
    }
    assert!(text.contains("relearn"), "{text}");
    // the saved JSON carries the definitions of every column
    let dir = tempfile::tempdir().unwrap();
    let run = unlearn::report::RunInfo::new("test", Device::Cpu, 1, dir.path(), Default::default());
    table.save(dir.path(), &run).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("table.json")).unwrap()).unwrap();
    let defs = &json["result"]["definitions"];
    for c in unlearn::report::table::COLUMNS.iter().filter(|c| {
        ![
            "method",
            "options",
            "mia_n",
            "mia_swapped",
            "features_s",
            "kmeans_s",
            "condense_s",
            "eval_s",
            "epochs",
            "retain_size",
        ]
        .contains(c)
    }) {
        assert!(defs[*c]["better"].is_string(), "no definition of {c} in table.json");
    }
}

/// Runs a script file through the CLI; (success, output).
fn run_script(code: &str, out: &std::path::Path) -> (bool, String) {
    let script = out.join("s.rhai");
    std::fs::write(&script, code).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_unlearn"))
        .args(["run"])
        .arg(&script)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

#[test]
fn scripts_reach_every_part() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = run_script(
        r#"
let data = load_data("synthetic").take(240, 120);
let net = model("convnet3", data, #{ width: 8 });
train(net, data.train, #{ epochs: 1, lr: 0.05, progress: false });
let mem = memorization(net, data.train, #{ models: 2, train: #{ epochs: 1, lr: 0.05 } });
let request = forget_memorization(data.train, mem, #{ stratum: "top", fraction: 0.1 });
let parts = data.test.reference_split(#{});
let bank = oracle_bank(net, request, parts.evaluation, #{ models: 3, retrain: #{ epochs: 1, lr: 0.05 } });
print(bank);
let trace = #{ evaluation: parts.evaluation, every: 2 };
let retrained = unlearn(net, "retrain", #{ request: request, epochs: 1, lr: 0.05, progress: false, trace: trace });
let fast = unlearn(net, "finetune", #{ request: request, epochs: 1, progress: false, trace: trace });
let runs = [fast];
for s in 2..=3 { runs.push(unlearn(net, "finetune", #{ request: request, epochs: 1, progress: false, seed: s })); }
let f = forgetting_score(runs, bank);
print(`F ${f.forget_score}`);
let table = evaluate([retrained, #{ name: "finetune", model: fast, forgetting: f }], request, parts.evaluation,
    #{ reference: retrained, original: net, relearn: #{ max_steps: 5 }, retain_mia: true });
print(table);
plot_curves(table).save(out_path("curves.png"));
print(`points ${fast.curve.points.len()}`);
print(relearn(fast, request, 1.01, #{ max_steps: 2 }));
print(retain_mia(net, request, parts.evaluation));
"#,
        dir.path(),
    );
    assert!(ok, "{text}");
    assert!(text.contains("oracle bank of 3 retrained models (trained)"), "{text}");
    assert!(text.contains("to RL s") && text.contains("relearn") && text.contains("ret MIA"), "{text}");
    assert!(text.contains("F from 3 runs against 3 oracles"), "{text}");
    assert!(dir.path().join("curves.png").is_file());
    assert!(dir.path().join("oracles").is_dir());
    // runs unlearned on another request than the bank's are refused
    let (ok, text) = run_script(
        r#"
let data = load_data("synthetic").take(240, 120);
let net = model("convnet3", data, #{ width: 8 });
let r1 = forget_uniform(data.train, 0.1, #{ seed: 1 });
let r2 = forget_uniform(data.train, 0.1, #{ seed: 2 });
let parts = data.test.reference_split(#{});
let bank = oracle_bank(net, r1, parts.evaluation, #{ models: 3, retrain: #{ epochs: 1 }, dir: out_path("o2") });
let runs = [];
for s in 1..=3 { runs.push(unlearn(net, "finetune", #{ request: r2, epochs: 1, progress: false, seed: s })); }
forgetting_score(runs, bank);
"#,
        dir.path(),
    );
    assert!(!ok && text.contains("another forget request") && text.contains("bank's"), "{text}");
    // bad input names what was expected
    let (ok, text) = run_script(
        r#"let data = load_data("synthetic").take(120, 60);
forget_memorization(data.train, #{ scores: [0.5] }, #{ stratum: "hardest" });"#,
        dir.path(),
    );
    assert!(!ok && text.contains("low, medium, high or top"), "{text}");
}
