//! Training: optimisers lower the loss, schedules, divergence is caught with its position.
use tch::{Device, Kind, Tensor};
use unlearn::data::{Dataset, Normalization};
use unlearn::models::{Arch, Model, ModelSpec};
use unlearn::train::optim::{self, OptimizerKind, Schedule};
use unlearn::train::{eval::accuracy, train, TrainConfig};

fn blobs(n: usize, seed: i64) -> Dataset {
    // 4 classes, each a different constant brightness pattern plus noise
    tch::manual_seed(seed);
    let labels: Vec<i64> = (0..n as i64).map(|i| i % 4).collect();
    let y = Tensor::from_slice(&labels).to_kind(Kind::Float).view([n as i64, 1, 1, 1]);
    let x = (Tensor::rand([n as i64, 1, 8, 8], (Kind::Float, Device::Cpu)) * 0.2 + y * 0.2).clamp(0.0, 1.0);
    Dataset::from_unit_tensor("blobs", "test", x, labels, (0..4).map(|c| c.to_string()).collect(), None).unwrap()
}

fn small_convnet(seed: u64) -> Model {
    let mut s = ModelSpec::new(Arch::Convnet, [1, 8, 8], 4, seed);
    s.width = 16;
    s.depth = 2;
    Model::new(s, Device::Cpu).unwrap()
}

#[test]
fn a_few_sgd_and_adam_steps_lower_the_loss_on_a_fixed_batch() {
    let data = blobs(32, 1);
    for kind in [OptimizerKind::Sgd, OptimizerKind::Adam] {
        let m = small_convnet(3);
        let lr = if kind == OptimizerKind::Sgd { 0.05 } else { 1e-3 };
        let mut opt = optim::build(m.var_store(), kind, lr, 0.9, 5e-4).unwrap();
        let loss = |m: &Model| m.forward(data.images()).unwrap().cross_entropy_for_logits(data.labels());
        let before = loss(&m).double_value(&[]);
        for _ in 0..5 {
            let l = loss(&m);
            opt.backward_step(&l).unwrap();
        }
        let after = loss(&m).double_value(&[]);
        assert!(after < before, "{kind:?}: loss {before} -> {after}");
    }
}

/// The fused optimisers (libtorch's `_fused_sgd_` / `_fused_adam_` through src/train/fused.cpp)
/// step as libtorch's own SGD and Adam (tch's `nn::Sgd` / `nn::Adam`): the same weights after
/// steps with momentum, weight decay, a learning-rate change, and a step that leaves the
/// classifier without a gradient (skipped by both). One thread; 1e-6: the fused kernels sum in
/// another order than the per-parameter ones.
#[test]
fn the_fused_optimisers_step_as_libtorchs_sgd_and_adam() {
    use tch::nn::OptimizerConfig;
    tch::set_num_threads(1);
    let data = blobs(32, 5);
    let cases = [
        (OptimizerKind::Sgd, 0.05, 0.9, 5e-4),
        (OptimizerKind::Sgd, 0.05, 0.0, 0.0),
        (OptimizerKind::Adam, 1e-3, 0.0, 5e-4),
        (OptimizerKind::Adam, 1e-2, 0.0, 0.0),
    ];
    for (kind, lr, momentum, wd) in cases {
        let ours_m = small_convnet(7);
        let theirs_m = small_convnet(7);
        let mut ours = optim::build(ours_m.var_store(), kind, lr, momentum, wd).unwrap();
        let mut theirs = match kind {
            OptimizerKind::Sgd => {
                tch::nn::Sgd { momentum, dampening: 0.0, wd, nesterov: false }.build(theirs_m.var_store(), lr).unwrap()
            }
            OptimizerKind::Adam => tch::nn::Adam { beta1: 0.9, beta2: 0.999, wd, eps: 1e-8, amsgrad: false }
                .build(theirs_m.var_store(), lr)
                .unwrap(),
        };
        for step in 0..8i64 {
            if step == 4 {
                ours.set_lr(lr * 0.3);
                theirs.set_lr(lr * 0.3);
            }
            let (x, y) = (data.images().narrow(0, (step % 4) * 8, 8), data.labels().narrow(0, (step % 4) * 8, 8));
            // step 5 trains the features alone: the classifier gets no gradient
            let loss = |m: &Model| {
                if step == 5 {
                    m.embed(&x).unwrap().square().mean(Kind::Float)
                } else {
                    m.forward(&x).unwrap().cross_entropy_for_logits(&y)
                }
            };
            ours.zero_grad().unwrap();
            loss(&ours_m).backward();
            ours.step().unwrap();
            theirs.zero_grad();
            loss(&theirs_m).backward();
            theirs.step();
        }
        // (a ConvNet's conv bias feeds an instance norm, which removes it: its gradient is
        // rounding noise, which Adam scales to steps of ±lr, differently in any two
        // implementations; it changes no output, so the outputs are compared for it)
        let theirs_vars = theirs_m.var_store().variables();
        for (name, t) in ours_m.var_store().variables() {
            if kind == OptimizerKind::Adam && name.ends_with("conv.bias") {
                continue;
            }
            let diff = t.f_sub(&theirs_vars[&name]).unwrap().abs().max().double_value(&[]);
            assert!(diff < 1e-6, "{kind:?} (momentum {momentum}, wd {wd}): `{name}` differs by {diff}");
        }
        let (a, b) = (ours_m.forward(data.images()).unwrap(), theirs_m.forward(data.images()).unwrap());
        let diff = a.f_sub(&b).unwrap().abs().max().double_value(&[]);
        assert!(diff < 1e-6, "{kind:?} (momentum {momentum}, wd {wd}): logits differ by {diff}");
    }
}

#[test]
fn training_learns_separable_data_and_reports_epochs() {
    let data = blobs(256, 2);
    let mut m = small_convnet(4);
    let cfg = TrainConfig { epochs: 3, lr: 0.05, batch_size: 32, progress: false, ..Default::default() };
    let report = train(&mut m, &data, &cfg, 11).unwrap();
    assert_eq!(report.epochs.len(), 3);
    assert!(report.epochs[2].loss < report.epochs[0].loss, "{:?}", report.epochs);
    assert!(accuracy(&m, &data).unwrap() > 0.9);
    // same seed, same model, same result (CPU runs are repeatable)
    let mut m2 = small_convnet(4);
    let report2 = train(&mut m2, &data, &cfg, 11).unwrap();
    assert_eq!(
        report.epochs.iter().map(|e| e.loss).collect::<Vec<_>>(),
        report2.epochs.iter().map(|e| e.loss).collect::<Vec<_>>()
    );
}

#[test]
fn warmup_cosine_schedule_matches_the_formula() {
    let s = Schedule::WarmupCosine;
    // W = 2, E = 6: 1/2, 1, then ½(1 + cos(π k / 4)) for k = 0..3
    let f: Vec<f64> = (0..6).map(|e| s.factor(e, 6, 2)).collect();
    let expected = [
        0.5,
        1.0,
        1.0,
        0.5 * (1.0 + (std::f64::consts::PI / 4.0).cos()),
        0.5,
        0.5 * (1.0 + (3.0 * std::f64::consts::PI / 4.0).cos()),
    ];
    for (a, b) in f.iter().zip(expected) {
        assert!((a - b).abs() < 1e-12, "{f:?}");
    }
    assert_eq!(Schedule::Constant.factor(3, 6, 2), 1.0);
}

#[test]
fn non_finite_loss_stops_training_with_epoch_and_batch() {
    // 40 items, batch 8: item 20 carries a NaN pixel, so the epoch-1 batch that holds it is the
    // first with a non-finite loss
    let x = Tensor::rand([40, 1, 8, 8], (Kind::Float, Device::Cpu));
    let _ = x.get(20).fill_(f64::NAN);
    let labels: Vec<i64> = (0..40).map(|i| i % 4).collect();
    let norm = Normalization { mean: vec![0.5], std: vec![0.25] };
    let data = Dataset::from_unit_tensor("nan", "test", x, labels, (0..4).map(|c| c.to_string()).collect(), Some(norm))
        .unwrap();
    let mut m = small_convnet(5);
    let cfg = TrainConfig { epochs: 2, batch_size: 8, lr: 0.01, progress: false, ..Default::default() };
    // find which batch holds item 20 under this seed
    let mut order: Vec<i64> = (0..40).collect();
    rand::seq::SliceRandom::shuffle(order.as_mut_slice(), &mut unlearn::data::split::rng(9));
    let batch = order.iter().position(|&i| i == 20).unwrap() / 8 + 1;
    let err = train(&mut m, &data, &cfg, 9).unwrap_err().to_string();
    assert!(err.contains(&format!("at epoch 1, batch {batch}")), "{err} (expected batch {batch})");
}

#[test]
fn bad_options_are_rejected_before_work() {
    let data = blobs(8, 3);
    let mut m = small_convnet(6);
    for (cfg, key) in [
        (TrainConfig { epochs: 0, ..Default::default() }, "epochs"),
        (TrainConfig { lr: -1.0, ..Default::default() }, "lr"),
        (TrainConfig { momentum: 1.5, ..Default::default() }, "momentum"),
        (TrainConfig { epochs: 2, warmup_epochs: 3, ..Default::default() }, "warmup_epochs"),
    ] {
        let err = train(&mut m, &data, &cfg, 1).unwrap_err().to_string();
        assert!(err.contains(&format!("option `{key}`")), "{err}");
    }
}

/// `keep_best` (the reference's model selection): the model ends with the weights of the epoch
/// of highest accuracy on the selection set (the first on ties), and the report says which.
#[test]
fn keep_best_ends_with_the_best_epochs_weights() {
    tch::set_num_threads(1);
    let data = blobs(128, 5);
    let select = blobs(64, 6);
    // a rate high enough that accuracy moves up and down from epoch to epoch
    let cfg = TrainConfig {
        epochs: 6,
        lr: 0.5,
        batch_size: 16,
        schedule: Schedule::Constant,
        progress: false,
        ..Default::default()
    };
    let mut m = small_convnet(8);
    let report = unlearn::train::train_keep_best(&mut m, &data, &cfg, 3, &select).unwrap();
    let sel = report.selection.clone().expect("a selection record");
    assert_eq!(sel.accuracy.len(), 6);
    let max = sel.accuracy.iter().cloned().fold(f64::MIN, f64::max);
    let first = sel.accuracy.iter().position(|&a| a == max).unwrap() + 1;
    assert_eq!((sel.best_epoch, sel.best_accuracy), (first, max), "{sel:?}");
    assert_eq!(accuracy(&m, &select).unwrap(), max, "the kept weights are the best epoch's");
    // the same run without selection ends at the last epoch: the same weights exactly when the
    // last epoch is the best
    let mut plain = small_convnet(8);
    train(&mut plain, &data, &cfg, 3).unwrap();
    assert_eq!(accuracy(&plain, &select).unwrap(), *sel.accuracy.last().unwrap());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["selection"]["best_epoch"], first);
}
