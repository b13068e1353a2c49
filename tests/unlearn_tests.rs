//! A-AMU's loss against method.md §2.3's test vector and finite differences; sampling; the
//! methods on a small real problem.
use tch::{Device, Kind, Tensor};
use unlearn::data::builtin::builtin;
use unlearn::data::request::ForgetRequest;
use unlearn::data::synthetic::{synthetic, SyntheticOptions};
use unlearn::data::{Dataset, LoadOptions};
use unlearn::models::{Arch, Model, ModelSpec};
use unlearn::train::eval::accuracy;
use unlearn::train::{train, TrainConfig};
use unlearn::unlearn::amu::{mmd2, sampling_plan, soft_rank_probit, AmuLoss};
use unlearn::unlearn::{method, registry, UnlearnInput};

const FORGET_CE: [f64; 6] = [0.01, 0.05, 0.2, 0.02, 0.1, 0.03];
const TEST_CE: [f64; 6] = [0.3, 1.2, 0.05, 2.5, 0.7, 0.15];
const G_F: [f64; 6] = [0.0, 0.018180, 0.147359, 0.002058, 0.056986, 0.006133];
const G_T: [f64; 6] = [0.069485, 0.415738, 0.0, 0.797585, 0.227937, 0.018952];
const MMD2: f64 = 0.04098796;

fn vec_of(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double)).unwrap()
}

#[test]
fn transform_and_mmd_reproduce_the_method_md_test_vector() {
    for kind in [Kind::Double, Kind::Float] {
        let f = Tensor::from_slice(&FORGET_CE).to_kind(kind);
        let t = Tensor::from_slice(&TEST_CE).to_kind(kind);
        let gf = soft_rank_probit(&f, 2.0, 60.0).unwrap();
        let gt = soft_rank_probit(&t, 2.0, 60.0).unwrap();
        for (got, want) in vec_of(&gf).iter().zip(G_F).chain(vec_of(&gt).iter().zip(G_T)) {
            assert!((got - want).abs() < 1e-5, "{kind:?}: g {got} vs {want}");
        }
        let m = mmd2(&gt, &gf, 1.0).unwrap().double_value(&[]);
        let tol = if kind == Kind::Double { 1e-8 } else { 1e-6 };
        assert!((m - MMD2).abs() < tol, "{kind:?}: MMD² {m} vs {MMD2}");
    }
}

#[test]
fn gradient_of_the_loss_wrt_forget_logits_matches_finite_differences() {
    tch::manual_seed(7);
    let loss_fn = AmuLoss { lambda: 34.0, k: 2.0, clamp: 60.0, sigma: 1.0, per_sample_square: false };
    let logits_f = (Tensor::randn([8, 5], (Kind::Double, Device::Cpu)) * 2.0).set_requires_grad(true);
    let yf = Tensor::from_slice(&[0i64, 1, 2, 3, 4, 0, 1, 2]);
    let logits_t = Tensor::randn([8, 5], (Kind::Double, Device::Cpu)) * 2.0;
    let yt = Tensor::from_slice(&[4i64, 3, 2, 1, 0, 4, 3, 2]);
    let ce = |l: &Tensor, y: &Tensor| l.cross_entropy_loss::<Tensor>(y, None, tch::Reduction::None, -100, 0.0);
    let value = |lf: &Tensor| loss_fn.distribution(&ce(&logits_t, &yt), &ce(lf, &yf)).unwrap();
    value(&logits_f).backward();
    let grad = logits_f.grad();
    let base = logits_f.detach();
    let eps = 1e-6;
    for i in 0..8 {
        for j in 0..5 {
            let bump = |d: f64| {
                let l = base.copy();
                let _ = l.get(i).get(j).fill_(base.double_value(&[i, j]) + d);
                value(&l).double_value(&[])
            };
            let fd = (bump(eps) - bump(-eps)) / (2.0 * eps);
            let g = grad.double_value(&[i, j]);
            assert!((fd - g).abs() < 1e-5 * (1.0 + g.abs()), "[{i},{j}] analytic {g} vs numeric {fd}");
        }
    }
}

/// The inputs of a method run on the request's own retain set, without progress output.
fn input_for<'a>(
    original: &'a Model,
    train: &'a Dataset,
    request: &'a ForgetRequest,
    unseen: Option<&'a Dataset>,
    seed: u64,
) -> UnlearnInput<'a> {
    UnlearnInput { original, train, request, retain: None, unseen, seed, progress: false }
}

fn toy(n: usize, classes: usize, seed: u64) -> (Dataset, Dataset) {
    let o = SyntheticOptions { train: n, test: n, classes, channels: 1, height: 8, width: 8, separation: 0.5, seed };
    let s = synthetic(&o, &LoadOptions::default(), Device::Cpu).unwrap();
    (s.train, s.test)
}

#[test]
fn the_unseen_sample_only_holds_classes_of_the_forget_sample() {
    let (train_set, unseen) = toy(400, 10, 1);
    // forget only classes 2 and 7: every unseen item must be of class 2 or 7
    let request = ForgetRequest::classes(&train_set, &[2, 7]).unwrap();
    let forget = request.forget_set(&train_set).unwrap();
    let mut r = unlearn::data::split::rng(3);
    let plan = sampling_plan(&[64, 64, 10], &forget, &unseen, &mut r).unwrap();
    for (k, &((fo, fl), (to, tl))) in plan.steps.iter().enumerate() {
        let want = if k < 2 { 80.min(forget.len()) as i64 } else { 40 };
        assert_eq!(fl, want, "step {k}: forget sample size");
        let f_classes: std::collections::HashSet<i64> =
            vec_of(&plan.forget.narrow(0, fo, fl)).iter().map(|&i| forget.labels_host()[i as usize]).collect();
        let t_items = vec_of(&plan.unseen.narrow(0, to, tl));
        assert!(tl > 0 && t_items.iter().all(|&i| f_classes.contains(&unseen.labels_host()[i as usize])));
        // without replacement
        let distinct: std::collections::HashSet<i64> = t_items.iter().map(|&i| i as i64).collect();
        assert_eq!(distinct.len(), t_items.len());
    }
    // per step of a mixed request: classes follow the step's own forget sample
    let request = ForgetRequest::uniform(&train_set, 0.05, false, 2).unwrap();
    let forget = request.forget_set(&train_set).unwrap();
    let plan = sampling_plan(&[2, 2, 2], &forget, &unseen, &mut r).unwrap();
    for &((fo, fl), (to, tl)) in &plan.steps {
        let f_classes: std::collections::HashSet<i64> =
            vec_of(&plan.forget.narrow(0, fo, fl)).iter().map(|&i| forget.labels_host()[i as usize]).collect();
        assert!(vec_of(&plan.unseen.narrow(0, to, tl))
            .iter()
            .all(|&i| f_classes.contains(&unseen.labels_host()[i as usize])));
    }
}

fn small_convnet(data: &Dataset, seed: u64) -> Model {
    let mut spec = ModelSpec::new(Arch::Convnet, data.image_shape(), data.num_classes(), seed);
    spec.width = 32;
    Model::new(spec, Device::Cpu).unwrap()
}

#[test]
fn a_cf_on_real_mnist_moves_forget_accuracy_towards_test_accuracy() {
    let split = builtin("mnist", &LoadOptions::default(), Device::Cpu).expect("run `make setup` first");
    let train_set = split.train.subset(&(0..2000).collect::<Vec<_>>(), "mnist-2000").unwrap();
    let (unseen, evaluation) = split.test.split(0.7, false, 1).unwrap();
    let mut original = small_convnet(&train_set, 3);
    let cfg = TrainConfig { epochs: 8, lr: 0.05, progress: false, ..Default::default() };
    train(&mut original, &train_set, &cfg, 1).unwrap();
    let request = ForgetRequest::uniform(&train_set, 0.1, false, 1).unwrap();
    let forget = request.forget_set(&train_set).unwrap();
    let retain = request.retain_set(&train_set).unwrap();
    let before = (
        accuracy(&original, &retain).unwrap(),
        accuracy(&original, &forget).unwrap(),
        accuracy(&original, &evaluation).unwrap(),
    );
    let input = input_for(&original, &train_set, &request, Some(&unseen), 5);
    let out = method("a_cf").unwrap().run_json(&input, &serde_json::json!({})).unwrap();
    let after = (
        accuracy(&out.model, &retain).unwrap(),
        accuracy(&out.model, &forget).unwrap(),
        accuracy(&out.model, &evaluation).unwrap(),
    );
    eprintln!("retain/forget/test before {before:?}, after A-CF {after:?}, {:.2} s", out.seconds);
    let gap_before = before.1 - before.2;
    let gap_after = (after.1 - after.2).abs();
    assert!(gap_before > 0.02, "the original model does not overfit its forget set: nothing to test");
    assert!(gap_after < gap_before, "forget-test gap {gap_before} -> {gap_after}");
    assert!(after.0 > before.0 - 0.04, "retain accuracy fell from {} to {}", before.0, after.0);
    // the original is untouched
    assert_eq!(accuracy(&original, &forget).unwrap(), before.1);
}

#[test]
fn retrain_never_learns_from_the_forget_set() {
    // forget a whole class: a model trained only on the retain set never predicts it
    let (train_set, _) = toy(300, 3, 4);
    let request = ForgetRequest::classes(&train_set, &[1]).unwrap();
    let original = small_convnet(&train_set, 1);
    let input = input_for(&original, &train_set, &request, None, 2);
    let out = method("retrain").unwrap().run_json(&input, &serde_json::json!({ "epochs": 3, "lr": 0.05 })).unwrap();
    let forget = request.forget_set(&train_set).unwrap();
    assert_eq!(accuracy(&out.model, &forget).unwrap(), 0.0);
    assert_eq!(out.retain.1, request.retain.len());
    let history = out.history.unwrap();
    assert_eq!(history.items, 200);
    assert_eq!(history.config.warmup_epochs, 0, "the default warm-up (5 of 100 epochs) keeps its share of 3 epochs");
}

/// The reference must not start from the original's initial weights: the original is usually
/// built with the run's seed, which is also Retrain's default seed.
#[test]
fn retrain_starts_from_an_initialisation_of_its_own() {
    let (train_set, _) = toy(120, 3, 4);
    let request = ForgetRequest::uniform(&train_set, 0.1, false, 1).unwrap();
    let seed = 7;
    let original = small_convnet(&train_set, seed);
    let input = input_for(&original, &train_set, &request, None, seed);
    // a step too small to move the weights: what is left is the initialisation
    let out = method("retrain")
        .unwrap()
        .run_json(&input, &serde_json::json!({ "epochs": 1, "lr": 1e-12, "momentum": 0.0, "weight_decay": 0.0 }))
        .unwrap();
    let flat = |m: &Model| {
        let mut vars: Vec<(String, Tensor)> = m.var_store().variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        Tensor::cat(&vars.iter().map(|(_, t)| t.flatten(0, -1)).collect::<Vec<_>>(), 0)
    };
    let diff = (flat(&out.model) - flat(&original)).abs().max().double_value(&[]);
    assert!(diff > 1e-2, "Retrain starts from the original's weights (largest difference {diff})");
    // its own seed, recorded with the options and in the model's spec
    let init = out.options["init_seed"].as_u64().expect("init_seed recorded");
    assert_ne!(init, original.spec.init_seed);
    assert_eq!(out.model.spec.init_seed, init);
    // (that it is a function of the seed: a unit test in src/unlearn/mod.rs)
}

#[test]
fn every_registered_method_runs_a_short_epoch_and_rejects_unknown_options() {
    let (train_set, unseen) = toy(120, 3, 5);
    let request = ForgetRequest::uniform(&train_set, 0.1, false, 3).unwrap();
    let original = small_convnet(&train_set, 2);
    let input = input_for(&original, &train_set, &request, Some(&unseen), 2);
    for m in registry() {
        let opts = if m.defaults().get("epochs").is_some() {
            serde_json::json!({ "epochs": 1 })
        } else {
            serde_json::json!({})
        };
        let out = m.run_json(&input, &opts).unwrap();
        assert!(out.seconds > 0.0, "{}", m.name());
        if m.defaults().get("epochs").is_some() {
            assert_eq!(out.options["epochs"], 1, "{}", m.name());
        }
        let err = m.run_json(&input, &serde_json::json!({ "epoch": 1 })).unwrap_err().to_string();
        assert!(err.contains(&format!("unknown option `epoch` for {}()", m.name())), "{err}");
    }
    assert_eq!(method("a_sparse").unwrap().defaults()["l1"], 1e-4);
    assert_eq!(method("a_cf").unwrap().defaults()["lambda"], 34.0);
    let err = method("a_cf")
        .unwrap()
        .run_json(&UnlearnInput { unseen: None, ..input }, &serde_json::json!({}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unseen"), "{err}");
    assert!(method("salsa").is_err());
}

#[test]
fn the_typed_api_and_the_registry_run_the_same_method() {
    use unlearn::config::Options;
    use unlearn::unlearn::a_cf::{ACf, AmuOptions};
    use unlearn::unlearn::pruning::{Pruning, PruningOptions};
    use unlearn::unlearn::retrain::{Retrain, RetrainOptions};
    use unlearn::unlearn::{run, AnyMethod};
    tch::set_num_threads(1); // bit-equal weights from two runs
    let (train_set, unseen) = toy(120, 3, 8);
    let request = ForgetRequest::uniform(&train_set, 0.1, false, 2).unwrap();
    let original = small_convnet(&train_set, 3);
    let input = input_for(&original, &train_set, &request, Some(&unseen), 4);
    let weights = |m: &Model| {
        let mut vars: Vec<(String, Tensor)> = m.var_store().variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        Tensor::cat(&vars.iter().map(|(_, t)| t.flatten(0, -1)).collect::<Vec<_>>(), 0)
    };
    // A-CF: a typed options struct and the same options as JSON give the same model and record
    let typed = AmuOptions { lambda: 10.0, batch_size: 16, ..Default::default() };
    let a = run(&ACf, &input, &typed).unwrap();
    let b = ACf.run_json(&input, &serde_json::json!({ "lambda": 10.0, "batch_size": 16 })).unwrap();
    assert_eq!(weights(&a.model), weights(&b.model));
    assert_eq!(a.options, b.options);
    assert_eq!(a.options["lambda"], 10.0);
    // Retrain: the JSON path settles the default warm-up to its share of a shorter schedule
    // (5 of 100 epochs -> 0 of 3); the typed struct is taken as given
    let mut settled = RetrainOptions::default();
    settled.0.epochs = 3;
    settled.settle(&serde_json::json!({ "epochs": 3 }));
    assert_eq!(settled.0.warmup_epochs, 0);
    let json = Retrain.run_json(&input, &serde_json::json!({ "epochs": 3 })).unwrap();
    assert_eq!(json.options["warmup_epochs"], 0);
    let typed = run(&Retrain, &input, &settled).unwrap();
    assert_eq!(weights(&typed.model), weights(&json.model));
    // the options type checks itself, whichever way it comes in
    let bad = PruningOptions { target_sparsity: 1.5, ..Default::default() };
    let e1 = run(&Pruning, &input, &bad).unwrap_err().to_string();
    let e2 = Pruning.run_json(&input, &serde_json::json!({ "target_sparsity": 1.5 })).unwrap_err().to_string();
    assert_eq!(e1, e2);
    assert!(e1.contains("target_sparsity") && e1.contains("[0, 1)"), "{e1}");
    // and the typed entry checks the inputs as unlearn() does: a retain set holding forget items
    let forget = request.forget_set(&train_set).unwrap();
    let e = run(
        &ACf,
        &UnlearnInput { retain: Some(&forget), ..input_for(&original, &train_set, &request, Some(&unseen), 4) },
        &AmuOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("forget set"), "{e}");
}

#[test]
fn pruning_reaches_its_target_sparsity() {
    let (train_set, _) = toy(120, 3, 6);
    let request = ForgetRequest::uniform(&train_set, 0.1, false, 1).unwrap();
    let original = small_convnet(&train_set, 4);
    let input = input_for(&original, &train_set, &request, None, 1);
    let out = method("pruning").unwrap().run_json(&input, &serde_json::json!({ "epochs": 8, "step": 2 })).unwrap();
    let s = unlearn::unlearn::pruning::conv_sparsity(&out.model).unwrap();
    assert!((s - 0.95).abs() < 0.005, "sparsity {s}");
    assert_eq!(unlearn::unlearn::pruning::conv_sparsity(&original).unwrap(), 0.0);
}

#[test]
fn ssd_dampens_only_where_the_forget_importance_dominates() {
    let params = vec![Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0])];
    let full = vec![Tensor::from_slice(&[1.0f32, 1.0, 1.0, 0.0])];
    // equal importances: nothing changes
    unlearn::unlearn::ssd::dampen(&params, &full, &full, 10.0, 1.0).unwrap();
    assert_eq!(vec_of(&params[0]), vec![1.0, 2.0, 3.0, 4.0]);
    // I_f = 20·I_d on the first two: scaled by λ·I_d/I_f = 0.05; 5·I_d on the third: kept
    let forget = vec![Tensor::from_slice(&[20.0f32, 20.0, 5.0, 0.0])];
    unlearn::unlearn::ssd::dampen(&params, &forget, &full, 10.0, 1.0).unwrap();
    let got = vec_of(&params[0]);
    for (g, w) in got.iter().zip([0.05, 0.1, 3.0, 4.0]) {
        assert!((g - w).abs() < 1e-6, "{got:?}");
    }
}

#[test]
fn kl_t_matches_its_definition() {
    let s = Tensor::from_slice(&[1.0f64, 2.0, 0.5, 0.0, -1.0, 3.0]).view([2, 3]);
    let t = Tensor::from_slice(&[0.5f64, 1.0, 2.0, 1.0, 1.0, 1.0]).view([2, 3]);
    let got = unlearn::unlearn::kl_t(&s, &t, 2.0).unwrap().double_value(&[]);
    // Σ_i Σ_j p_t log(p_t / p_s) / B · T², softmaxes at T = 2
    let sm = |v: &[f64]| {
        let e: Vec<f64> = v.iter().map(|x| (x / 2.0).exp()).collect();
        let z: f64 = e.iter().sum();
        e.iter().map(|x| x / z).collect::<Vec<_>>()
    };
    let rows = [([1.0, 2.0, 0.5], [0.5, 1.0, 2.0]), ([0.0, -1.0, 3.0], [1.0, 1.0, 1.0])];
    let want: f64 = rows
        .iter()
        .map(|(a, b)| {
            let (ps, pt) = (sm(a), sm(b));
            pt.iter().zip(&ps).map(|(p, q)| p * (p / q).ln()).sum::<f64>()
        })
        .sum::<f64>()
        / 2.0
        * 4.0;
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
}

#[test]
fn multi_round_chains_models_reuses_clustering_and_resumes() {
    use unlearn::condense::CondenseConfig;
    use unlearn::unlearn::multiround::{run_multiround, Manifest, MultiRoundPlan};
    let (train_set, unseen) = toy(240, 3, 7);
    let rounds = ForgetRequest::rounds(&train_set, 3, 0.1, false, 2).unwrap();
    let original = small_convnet(&train_set, 3);
    let plan = MultiRoundPlan {
        methods: vec![("a_cf".into(), serde_json::json!({})), ("finetune".into(), serde_json::json!({ "epochs": 1 }))],
        condense: Some(CondenseConfig::from_json("condense", &serde_json::json!({ "ipc": 20 })).unwrap()),
        seed: 4,
        same_feature_net: false,
    };
    // every round's Blend draws a fresh feature network φ unless told to keep one
    assert_eq!(plan.round_seed(4, 0), 4);
    assert_ne!(plan.round_seed(4, 1), plan.round_seed(4, 2));
    assert_ne!(plan.round_seed(4, 1), 4);
    assert_eq!(MultiRoundPlan { same_feature_net: true, ..plan.clone() }.round_seed(4, 2), 4);
    let dir = tempfile::tempdir().unwrap();
    let run = unlearn::resume::Fingerprint::new().with("--set width", "8");
    let go =
        |original: &unlearn::models::Model, plan: &MultiRoundPlan, run: &unlearn::resume::Fingerprint, overwrite| {
            run_multiround(original, &train_set, &rounds, Some(&unseen), plan, dir.path(), false, run, overwrite)
        };
    let (records, finals) = go(&original, &plan, &run, false).unwrap();
    assert_eq!(records.len(), 6);
    assert_eq!(records.iter().map(|r| r.forget_size).collect::<Vec<_>>(), vec![24, 24, 22, 22, 19, 19]);
    for r in &records {
        assert!(r.end_to_end_seconds >= r.unlearning_seconds && r.condense_seconds > 0.0);
        assert!(r.trained_on < r.retain_size, "condensed sets are smaller");
    }
    assert_eq!(finals.len(), 2);
    // resume: forget the last two steps as if the run had been killed, rerun, get them back
    let path = dir.path().join("manifest.json");
    let mut m: Manifest = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(m.clustering.is_some());
    m.records.truncate(4);
    std::fs::write(&path, serde_json::to_string(&m).unwrap()).unwrap();
    let (again, _) = go(&original, &plan, &run, false).unwrap();
    assert_eq!(again.len(), 6);
    assert_eq!(again[..4], records[..4], "finished steps must not run again");
    // anything the results depend on, changed, refuses the folder and names what differs: a
    // method's option, the caller's parts (a --set option), the original model's weights
    let mut other = plan.clone();
    other.methods[1].1 = serde_json::json!({ "epochs": 2 });
    let err = go(&original, &other, &run, false).unwrap_err().to_string();
    assert!(err.contains("manifest.json") && err.contains("methods:") && err.contains("--overwrite"), "{err}");
    let wider = unlearn::resume::Fingerprint::new().with("--set width", "32");
    let err = go(&original, &plan, &wider, false).unwrap_err().to_string();
    assert!(err.contains("--set width: `32` here, `8` in the record"), "{err}");
    let retrained = small_convnet(&train_set, 4);
    let err = go(&retrained, &plan, &run, false).unwrap_err().to_string();
    assert!(err.contains("original model:") && !err.contains("methods:"), "{err}");
    // --overwrite starts anew: every step runs again under the new fingerprint
    let (fresh, _) = go(&original, &other, &run, true).unwrap();
    assert_eq!(fresh.len(), 6);
    let m: Manifest = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(m.plan, other);
    assert_eq!(go(&original, &other, &run, false).unwrap().0, fresh, "the replaced manifest resumes");
}

/// method.md §3's iterative pruning schedule: 20 epochs, a pruning event every 5 epochs counted
/// from the end (epochs 0, 5, 10, 15), each pruning 1 − 0.05^(1/4) ≈ 0.5271 of what is left, so
/// 95 % of the convolution weights are zero after the last.
#[test]
fn pruning_schedule_is_the_references() {
    let (events, rate) = unlearn::unlearn::pruning::schedule(20, 5, 0.95);
    assert_eq!(events, vec![0, 5, 10, 15]);
    assert!((rate - 0.5271).abs() < 1e-4, "{rate}");
    assert!(((1.0 - rate).powi(4) - 0.05).abs() < 1e-12);
    // a short run keeps the events at the end
    assert_eq!(unlearn::unlearn::pruning::schedule(7, 5, 0.95).0, vec![2]);
}

/// A retain set that holds forget items (e.g. `retain: request.forget` in a script) is refused
/// before the method runs; the request's retain set, a part of it and a Blend-reduced set pass.
#[test]
fn a_retain_set_holding_forget_items_is_refused() {
    use unlearn::unlearn::UnlearnInput;
    let (train_set, _) = toy(120, 3, 9);
    let request = ForgetRequest::uniform(&train_set, 0.1, false, 5).unwrap();
    let original = small_convnet(&train_set, 3);
    let forget = request.forget_set(&train_set).unwrap();
    let retain = request.retain_set(&train_set).unwrap();
    let part = retain.subset(&[0, 1, 2, 3], "part").unwrap();
    let mixed_idx: Vec<i64> = vec![request.retain[0], request.forget[0], request.forget[1]];
    let mixed = train_set.subset(&mixed_idx, "mixed").unwrap();
    let input = |r: Option<&'_ Dataset>| -> String {
        let i = UnlearnInput {
            original: &original,
            train: &train_set,
            request: &request,
            retain: r,
            unseen: None,
            seed: 1,
            progress: false,
        };
        match unlearn::unlearn::unlearn("finetune", &i, &serde_json::json!({ "epochs": 1 })) {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string(),
        }
    };
    let e = input(Some(&forget));
    assert!(e.contains("retain set") && e.contains(&format!("{} of its items", forget.len())), "{e}");
    let e = input(Some(&mixed));
    assert!(e.contains("2 of its items are images of the forget set"), "{e}");
    assert_eq!(input(None), "ok");
    assert_eq!(input(Some(&part)), "ok");
    let reduced = unlearn::condense::condense(
        &unlearn::condense::CondenseInput {
            train: &train_set,
            request: &request,
            clustering: None,
            feature_model: None,
            seed: 2,
        },
        &unlearn::condense::CondenseConfig::from_json("condense", &serde_json::json!({ "ipc": 4, "iters": 2 }))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(input(Some(&reduced.dataset)), "ok");
    // signatures see exact content: the same images in another order and another set agree
    let again = train_set.subset(&[request.forget[1], request.forget[0]], "again").unwrap();
    assert_eq!(again.count_shared_items(&forget).unwrap(), 2);
}

/// Every value of every hyper-parameter profile, written out (the reference protocol's
/// per-configuration settings), and how a method's options are resolved from them.
#[test]
fn hyper_parameter_profiles_pin_the_reference_settings() {
    use serde_json::json;
    use unlearn::unlearn::profiles::{profile, profiles, resolve};
    // (CF, distillation lr, SCRUB max_steps/lr, Bad-Teacher epochs/lr/retain_fraction,
    //  L1 alpha/epochs/no_l1_epochs/lr, pruning lr, A-CF = A-Sparse lr)
    #[allow(clippy::type_complexity)]
    let table: Vec<(
        &str,
        serde_json::Value,
        f64,
        (u64, f64),
        (u64, f64, Option<f64>),
        (f64, u64, u64, f64),
        f64,
        f64,
    )> = vec![
        ("cifar10-resnet18", json!({"lr": 0.04}), 0.04, (5, 1e-2), (20, 1e-2, None), (1e-4, 30, 1, 1e-2), 0.04, 2.4e-4),
        (
            "cifar10-resnet18-cond",
            json!({"lr": 0.04}),
            5e-3,
            (9, 5e-3),
            (20, 5e-3, None),
            (1e-4, 30, 1, 5e-3),
            0.04,
            2.4e-4,
        ),
        ("cifar10-resnet50", json!({"lr": 0.03}), 0.03, (5, 1e-2), (30, 5e-3, None), (1e-5, 40, 3, 1e-2), 0.03, 2.4e-4),
        (
            "cifar10-resnet50-cond",
            json!({"lr": 0.03}),
            5e-3,
            (9, 5e-3),
            (30, 3e-3, None),
            (1e-5, 40, 3, 5e-3),
            0.03,
            2.4e-4,
        ),
        ("svhn-resnet18", json!({"lr": 0.04}), 0.04, (5, 1e-2), (20, 1e-2, None), (1e-4, 30, 1, 1e-2), 0.04, 2.4e-4),
        (
            "svhn-resnet18-cond",
            json!({"lr": 0.3}),
            5e-3,
            (9, 5e-3),
            (20, 5e-3, None),
            (8e-4, 30, 1, 5e-3),
            0.04,
            2.4e-4,
        ),
        ("svhn-resnet50", json!({"lr": 0.03}), 0.03, (5, 1e-2), (30, 5e-3, None), (1e-5, 40, 3, 1e-2), 0.03, 2.4e-4),
        (
            "svhn-resnet50-cond",
            json!({"lr": 0.12, "warmup_epochs": 3}),
            5e-3,
            (9, 5e-3),
            (30, 4e-3, None),
            (5e-4, 40, 3, 5e-3),
            0.03,
            2.4e-4,
        ),
        (
            "cinic10-resnet18",
            json!({"lr": 0.04}),
            0.04,
            (5, 5e-3),
            (20, 5e-3, Some(0.723)),
            (1e-4, 30, 1, 1e-2),
            0.01,
            1e-4,
        ),
        (
            "cinic10-resnet18-cond",
            json!({"lr": 0.04}),
            5e-3,
            (10, 1e-3),
            (20, 5e-3, None),
            (1e-4, 30, 1, 5e-3),
            0.04,
            1e-4,
        ),
    ];
    assert_eq!(
        profiles().iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        table.iter().map(|t| t.0).collect::<Vec<_>>()
    );
    for (name, cf, distill, scrub, bad, l1, prune, amu) in &table {
        let mut bad_v = json!({"epochs": bad.0, "lr": bad.1});
        if let Some(f) = bad.2 {
            bad_v["retain_fraction"] = json!(f);
        }
        let want = json!({
            "retrain": {"epochs": 100, "lr": 0.1},
            "finetune": cf,
            "distillation": {"lr": distill},
            "scrub": {"max_steps": scrub.0, "lr": scrub.1},
            "bad_teacher": bad_v,
            "l1_sparse": {"alpha": l1.0, "epochs": l1.1, "no_l1_epochs": l1.2, "lr": l1.3},
            "pruning": {"lr": prune},
            "a_cf": {"lr": amu},
            "a_sparse": {"lr": amu},
        });
        assert_eq!(profile(name).unwrap().methods, want, "{name}");
    }
    // the default profile is the methods' own defaults: resolving changes nothing on a full set
    for m in unlearn::unlearn::registry() {
        let (opts, used) = resolve(m.name(), &json!({}), false).unwrap();
        assert_eq!(used, "cifar10-resnet18");
        let defaults = m.defaults();
        for (k, v) in opts.as_object().unwrap() {
            assert_eq!(&defaults[k], v, "{}: the default profile's `{k}` differs from the default", m.name());
        }
    }
    // a reduced set takes the -cond values, `cond: false` does not, given options win
    assert_eq!(
        resolve("scrub", &json!({}), true).unwrap(),
        (json!({"max_steps": 9, "lr": 5e-3}), "cifar10-resnet18-cond".into())
    );
    assert_eq!(resolve("scrub", &json!({"cond": false}), true).unwrap().0, json!({"max_steps": 5, "lr": 1e-2}));
    assert_eq!(
        resolve("scrub", &json!({"profile": "cinic10-resnet18", "lr": 0.5}), true).unwrap(),
        (json!({"max_steps": 10, "lr": 0.5}), "cinic10-resnet18-cond".into())
    );
    // a profile's warm-up goes with its epochs
    assert_eq!(
        resolve("finetune", &json!({"profile": "svhn-resnet50", "cond": true}), false).unwrap().0["warmup_epochs"],
        3
    );
    assert!(resolve("finetune", &json!({"profile": "svhn-resnet50", "cond": true, "epochs": 2}), false)
        .unwrap()
        .0
        .get("warmup_epochs")
        .is_none());
    let e = resolve("scrub", &json!({"profile": "mnist-lenet"}), false).unwrap_err().to_string();
    assert!(e.contains("profile") && e.contains("cifar10-resnet18"), "{e}");
}

/// SSD's importances: the mean over batches of the squared batch-mean gradient. Pinned against a
/// plain per-batch computation, in the data's order and shuffled (one batch over everything is
/// the same in any order; smaller batches differ by which items share a batch, and repeat with
/// the seed). `dampen` on hand-made importances, and `swapped` passing them the other way round.
#[test]
fn ssd_importances_dampening_and_swapped_are_pinned() {
    use unlearn::unlearn::ssd::{dampen, importances};
    tch::set_num_threads(1);
    let (data, _) = toy(24, 3, 2);
    let model = small_convnet(&data, 5);
    let vars = model.var_store().trainable_variables();
    // plain form: batches of 8 in order
    let mut want: Vec<tch::Tensor> = vars.iter().map(|v| v.zeros_like()).collect();
    for b in 0..3 {
        let x = data.images().narrow(0, b * 8, 8);
        let y = data.labels().narrow(0, b * 8, 8);
        for v in &vars {
            let mut g = v.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        model.forward(&x).unwrap().cross_entropy_for_logits(&y).backward();
        for (w, v) in want.iter_mut().zip(&vars) {
            *w = &*w + v.grad().square() / 3.0;
        }
    }
    let close = |a: &[tch::Tensor], b: &[tch::Tensor]| a.iter().zip(b).all(|(x, y)| x.allclose(y, 1e-5, 1e-10, false));
    let in_order = importances(&model, &data, 8, false, None).unwrap();
    assert!(close(&in_order, &want), "importances differ from the plain per-batch form");
    let all_at_once = importances(&model, &data, 24, false, None).unwrap();
    assert!(close(&importances(&model, &data, 24, false, Some(9)).unwrap(), &all_at_once));
    let shuffled = importances(&model, &data, 8, false, Some(9)).unwrap();
    assert!(!close(&shuffled, &in_order), "shuffled batches group other items");
    assert!(close(&importances(&model, &data, 8, false, Some(9)).unwrap(), &shuffled), "the seed repeats");

    // dampen: p ← p·min(λ·I_d/I_f, 1) where I_f > α·I_d
    let p = tch::Tensor::from_slice(&[1.0f32, 1.0, 1.0, 2.0]);
    let i_f = tch::Tensor::from_slice(&[10.0f32, 1.0, 100.0, 0.0]);
    let i_d = tch::Tensor::from_slice(&[1.0f32, 1.0, 1.0, 0.0]);
    dampen(&[p.shallow_clone()], &[i_f], &[i_d], 5.0, 1.0).unwrap();
    assert_eq!(Vec::<f32>::try_from(&p).unwrap(), vec![0.1, 1.0, 0.01, 2.0]);

    // swapped: the method with `swapped: true` equals dampen with the importances exchanged
    let request = ForgetRequest::uniform(&data, 0.25, false, 3).unwrap();
    let input = unlearn::unlearn::UnlearnInput {
        original: &model,
        train: &data,
        request: &request,
        retain: None,
        unseen: None,
        seed: 4,
        progress: false,
    };
    let opts = serde_json::json!({ "swapped": true, "alpha": 1.0, "shuffle": false });
    let got = unlearn::unlearn::unlearn("ssd", &input, &opts).unwrap().model;
    let forget = request.forget_set(&data).unwrap();
    let full = forget.concat(&request.retain_set(&data).unwrap(), "f+r").unwrap();
    let manual = model.try_clone().unwrap();
    let i_f = importances(&manual, &forget, 64, false, None).unwrap();
    let i_d = importances(&manual, &full, 64, false, None).unwrap();
    dampen(&manual.var_store().trainable_variables(), &i_d, &i_f, 1.0, 1.0).unwrap();
    let unswapped =
        unlearn::unlearn::unlearn("ssd", &input, &serde_json::json!({ "alpha": 1.0, "shuffle": false })).unwrap().model;
    let same = |a: &Model, b: &Model| {
        a.var_store().trainable_variables().iter().zip(b.var_store().trainable_variables()).all(|(x, y)| x.equal(&y))
    };
    assert!(same(&got, &manual), "swapped = importances exchanged");
    assert!(!same(&unswapped, &manual), "and it makes a difference here");
}
