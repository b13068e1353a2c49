//! The benchmark run: the synthetic workload on the device, then each phase timed after a device
//! synchronisation (Blend's steps, the A-CF variants, one epoch of A-CF, Fine-tune and Retrain,
//! the MIA), and the points of the scaling sweep.
use super::config::BenchConfig;
use super::report::{growth, BenchReport, PhaseTime, Sizes, SweepPoint};
use serde_json::json;
use tch::Device;
use unlearn::condense::{self, CondenseInput};
use unlearn::data::request::ForgetRequest;
use unlearn::data::synthetic::{synthetic, SyntheticOptions};
use unlearn::data::{Dataset, LoadOptions};
use unlearn::error::{Error, Result};
use unlearn::metrics::{heldout_of_classes, mia::model_mia, MiaOptions};
use unlearn::models::{Arch, Compute, Model, ModelSpec};
use unlearn::runtime::{device_hardware, device_memory_in_use, device_name, peak_rss_bytes, synchronize, Versions};
use unlearn::unlearn::{self as methods, timed, UnlearnInput};

struct Workload {
    train: Dataset,
    request: ForgetRequest,
    forget: Dataset,
    unseen: Dataset,
    heldout: Dataset,
    /// The 30 % evaluation split (the MIA's swap rule compares all of it with the forget set).
    evaluation: Dataset,
    model: Model,
    test_len: usize,
}

fn workload(cfg: &BenchConfig, train: usize, test: usize, device: Device) -> Result<Workload> {
    let o = SyntheticOptions { train, test, classes: cfg.classes, seed: cfg.seed, ..Default::default() };
    let split = synthetic(&o, &LoadOptions::default(), device)?;
    let request = ForgetRequest::uniform(&split.train, cfg.forget, false, cfg.seed + 1)?;
    let forget = request.forget_set(&split.train)?;
    // method.md §4.1: 70 % of the test set is the unseen reference, 30 % the evaluation set
    let (unseen, evaluation) = split.test.split(0.7, false, cfg.seed + 2)?;
    let heldout = heldout_of_classes(&evaluation, forget.labels_host(), cfg.classes)?;
    let mut spec = ModelSpec::new(Arch::parse(&cfg.arch)?, split.train.image_shape(), cfg.classes, cfg.seed + 3);
    spec.width = cfg.width;
    let mut model = Model::new(spec, device)?;
    model.set_compute(cfg.compute);
    Ok(Workload { test_len: split.test.len(), train: split.train, request, forget, unseen, heldout, evaluation, model })
}

fn phase(name: &str, seconds: f64, steps: Option<usize>, note: impl Into<String>) -> PhaseTime {
    PhaseTime { phase: name.into(), seconds, steps, note: note.into() }
}

/// Blend on `w`, its phases, and R̃.
fn run_blend(cfg: &BenchConfig, w: &Workload, ipc: usize) -> Result<(condense::ReducedRetainSet, Vec<PhaseTime>)> {
    let options =
        condense::blend::BlendOptions { ipc, iters: cfg.blend_iters, seed: Some(cfg.seed + 4), ..Default::default() };
    let input =
        CondenseInput { train: &w.train, request: &w.request, clustering: None, feature_model: None, seed: cfg.seed };
    let reduced = condense::run(&condense::blend::Blend, &input, &options)?;
    let t = &reduced.timings;
    let clustering = reduced
        .clustering
        .as_ref()
        .ok_or_else(|| Error::invalid("Blend result", "without a clustering", "the clustering Blend records"))?;
    let iters: usize = clustering.iterations.iter().sum();
    let free = reduced.synthetic;
    let phases = vec![
        phase("features", t.features, None, format!("random ConvNet-3 over {} images", w.train.len())),
        phase("kmeans_init", t.kmeans_init, None, format!("k-means++, {} classes x {ipc} clusters", cfg.classes)),
        phase(
            "kmeans_lloyd",
            t.kmeans_lloyd,
            Some(iters),
            format!("{:.1} Lloyd iterations per class", iters as f64 / clustering.iterations.len().max(1) as f64),
        ),
        phase("split", t.split, None, format!("{free} free clusters")),
        phase("blend", t.condense, Some(cfg.blend_iters), format!("{free} blends")),
        phase("pre-processing", t.total(), None, "features + k-means + split + Blend"),
    ];
    Ok((reduced, phases))
}

fn sizes(w: &Workload, reduced: Option<&condense::ReducedRetainSet>) -> Sizes {
    let mut s = Sizes {
        train: w.train.len(),
        test: w.test_len,
        forget: w.forget.len(),
        retain: w.request.retain.len(),
        unseen: w.unseen.len(),
        heldout: w.heldout.len(),
        ..Default::default()
    };
    if let Some(r) = reduced {
        s.reduced = r.dataset.len();
        s.residual = r.residual;
        s.synthetic = r.synthetic;
        if let Some(c) = &r.clustering {
            s.kmeans_iterations_mean = c.iterations.iter().sum::<usize>() as f64 / c.iterations.len().max(1) as f64;
        }
    }
    s
}

/// Runs one unlearning method for one epoch and returns its time and steps.
fn one_epoch(
    w: &Workload,
    method: &str,
    retain: Option<&Dataset>,
    cfg: &BenchConfig,
    extra: serde_json::Value,
) -> Result<(f64, usize)> {
    let mut options = json!({ "epochs": 1, "batch_size": cfg.batch, "progress": false, "seed": cfg.seed + 5 });
    if let (Some(o), Some(e)) = (options.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    let input = UnlearnInput {
        original: &w.model,
        train: &w.train,
        request: &w.request,
        retain,
        unseen: Some(&w.unseen),
        seed: cfg.seed,
        progress: false,
    };
    let out = methods::method(method)?.run_json(&input, &options)?;
    let n = retain.map(|r| r.len()).unwrap_or(w.request.retain.len());
    Ok((out.seconds, n.div_ceil(cfg.batch)))
}

/// Runs the benchmark. `log` receives a line per finished phase.
pub fn run(cfg: &BenchConfig, device: Device, mut log: impl FnMut(&str)) -> Result<BenchReport> {
    cfg.check()?;
    if let Device::Cuda(_) = device {
        tch::Cuda::cudnn_set_benchmark(cfg.cudnn_benchmark);
    }
    let started = chrono::Utc::now().to_rfc3339();
    let mut peak = 0u64;
    let warmup_seconds = if cfg.warmup {
        let small = BenchConfig {
            train: cfg.train.min(2000),
            test: cfg.test.min(1000),
            ipc: cfg.ipc.min(20),
            blend_iters: 2,
            warmup: false,
            sweep_train: vec![],
            sweep_ipc: vec![],
            ..cfg.clone()
        };
        let t = std::time::Instant::now();
        run_main(&small, device, &mut |_| {}, &mut 0)?;
        synchronize(device);
        let s = t.elapsed().as_secs_f64();
        log(&format!("warm-up (small workload, untimed): {s:.2} s"));
        Some(s)
    } else {
        None
    };
    sample_memory(device, &mut peak);
    let (sizes, phases) = run_main(cfg, device, &mut log, &mut peak)?;
    let mut sweep = Vec::new();
    for &n in &cfg.sweep_train {
        sweep.push(sweep_point(cfg, device, n, cfg.ipc, &mut log)?);
        sample_memory(device, &mut peak);
    }
    for &ipc in &cfg.sweep_ipc {
        if ipc != cfg.ipc || !cfg.sweep_train.contains(&cfg.train) {
            sweep.push(sweep_point(cfg, device, cfg.train, ipc, &mut log)?);
            sample_memory(device, &mut peak);
        }
    }
    let growth = growth(&sweep, cfg.ipc);
    let peak_memory_bytes = match device {
        Device::Cuda(_) => Some(peak).filter(|&p| p > 0),
        _ => peak_rss_bytes(),
    };
    Ok(BenchReport {
        config: cfg.clone(),
        device: device_name(device),
        hardware: device_hardware(device),
        versions: Versions::current(),
        started,
        warmup_seconds,
        sizes,
        phases,
        peak_memory_bytes,
        sweep,
        growth,
    })
}

/// The first `batches` batches of `data` (A-CF timed on part of R̃).
fn first_batches(data: &Dataset, batches: usize, batch: usize) -> Result<Dataset> {
    let idx: Vec<i64> = (0..(batches * batch).min(data.len()) as i64).collect();
    data.subset(&idx, "R̃ (first batches)")
}

/// Raises `peak` to the device memory in use now (after the queued work is done).
fn sample_memory(device: Device, peak: &mut u64) {
    synchronize(device);
    if let Some(b) = device_memory_in_use(device) {
        *peak = (*peak).max(b);
    }
}

fn run_main(
    cfg: &BenchConfig,
    device: Device,
    log: &mut dyn FnMut(&str),
    peak: &mut u64,
) -> Result<(Sizes, Vec<PhaseTime>)> {
    let (w, data_s) = timed(device, || workload(cfg, cfg.train, cfg.test, device))?;
    let mut phases = vec![phase("data", data_s, None, "synthetic images generated on the device, request, splits")];
    log(&format!("data: {data_s:.3} s"));
    let mut reduced = None;
    let push = |phases: &mut Vec<PhaseTime>, p: PhaseTime, log: &mut dyn FnMut(&str)| {
        log(&format!(
            "{}: {:.3} s{}",
            p.phase,
            p.seconds,
            p.steps.map(|s| format!(" ({s} steps)")).unwrap_or_default()
        ));
        phases.push(p);
    };
    if cfg.wants("blend") {
        let (r, ps) = run_blend(cfg, &w, cfg.ipc)?;
        for p in ps {
            push(&mut phases, p, log);
        }
        reduced = Some(r);
        sample_memory(device, peak);
    }
    let mut w = w;
    if let (false, Some(r)) = (cfg.acf_variants.is_empty(), &reduced) {
        let steps = r.dataset.len().div_ceil(cfg.batch);
        let take = cfg.variant_steps.min(steps);
        let (warm, part) = (first_batches(&r.dataset, 5, cfg.batch)?, first_batches(&r.dataset, take, cfg.batch)?);
        let mut best: Option<(f64, Compute)> = None;
        for v in &cfg.acf_variants {
            let c = Compute::parse(v)?;
            w.model.set_compute(c);
            let name = format!("a_cf[{}]", Compute::name(&c));
            // a variant the device cannot run is reported and skipped, not fatal
            let timed = one_epoch(&w, "a_cf", Some(&warm), cfg, json!({}))
                .and_then(|_| one_epoch(&w, "a_cf", Some(&part), cfg, json!({})));
            let s = match timed {
                Ok((s, _)) => s,
                Err(e) => {
                    log(&format!("{name}: failed: {e}"));
                    phases.push(phase(&name, f64::NAN, None, format!("failed: {e}")));
                    continue;
                }
            };
            let per_step = s / take as f64;
            let note = format!("{:.2} ms per step over {take} steps, x {steps} steps", 1e3 * per_step);
            push(&mut phases, phase(&name, per_step * steps as f64, Some(steps), note), log);
            if best.is_none_or(|(b, _)| per_step < b) {
                best = Some((per_step, c));
            }
        }
        let chosen = match (cfg.use_fastest, best) {
            (true, Some((_, c))) => c,
            _ => cfg.compute,
        };
        w.model.set_compute(chosen);
        log(&format!("main phases compute with {}", Compute::name(&chosen)));
    }
    let pre = phases.iter().find(|p| p.phase == "pre-processing").map(|p| p.seconds);
    for (name, fused) in [("a_cf", false), ("a_cf_fused", true)] {
        if let (true, Some(r)) = (cfg.wants(name), &reduced) {
            let (s, steps) = one_epoch(&w, "a_cf", Some(&r.dataset), cfg, json!({ "fused": fused }))?;
            let how = if fused {
                "one fused forward per step"
            } else {
                "retain+forget forward, separate no-grad unseen forward"
            };
            let how = format!("{how}, {}", Compute::name(&w.model.compute()));
            push(
                &mut phases,
                phase(name, s, Some(steps), format!("1 epoch on R̃ ({} images), {how}", r.dataset.len())),
                log,
            );
            sample_memory(device, peak);
            if let (Some(pre), "a_cf") = (pre, name) {
                push(&mut phases, phase("blend + a_cf", pre + s, None, "pre-processing + A-CF on R̃"), log);
            }
        }
    }
    if cfg.wants("a_cf_full") {
        let (s, steps) = one_epoch(&w, "a_cf", None, cfg, json!({}))?;
        let note = format!("1 epoch on the full retain set, {}", Compute::name(&w.model.compute()));
        push(&mut phases, phase("a_cf_full", s, Some(steps), note), log);
        sample_memory(device, peak);
    }
    for name in ["finetune", "retrain"] {
        if cfg.wants(name) {
            let (s, steps) = one_epoch(&w, name, None, cfg, json!({ "warmup_epochs": 0 }))?;
            let note = format!("1 epoch on the retain set, {}", Compute::name(&w.model.compute()));
            push(&mut phases, phase(name, s, Some(steps), note), log);
            sample_memory(device, peak);
        }
    }
    if cfg.wants("mia") {
        let (score, s) = timed(device, || {
            model_mia(
                &w.model,
                &w.forget,
                &w.heldout,
                &w.evaluation,
                &MiaOptions { seed: cfg.seed, swap_below: Some(42.0) },
            )
        })?;
        push(
            &mut phases,
            phase(
                "mia",
                s,
                None,
                format!(
                    "forward of {} + {} items, 5-fold logistic regression (AUC {:.1})",
                    w.forget.len(),
                    w.heldout.len(),
                    score.score
                ),
            ),
            log,
        );
        sample_memory(device, peak);
    }
    Ok((sizes(&w, reduced.as_ref()), phases))
}

fn sweep_point(
    cfg: &BenchConfig,
    device: Device,
    train: usize,
    ipc: usize,
    log: &mut dyn FnMut(&str),
) -> Result<SweepPoint> {
    let test = (train / 5).max(10 * cfg.classes);
    let w = workload(cfg, train, test, device)?;
    let (reduced, mut phases) = run_blend(cfg, &w, ipc)?;
    // A-CF on at most `sweep_acf_steps` batches of R̃, scaled to the epoch's steps
    let steps = reduced.dataset.len().div_ceil(cfg.batch);
    let take = steps.min(cfg.sweep_acf_steps);
    let part = first_batches(&reduced.dataset, take, cfg.batch)?;
    let (s, _) = one_epoch(&w, "a_cf", Some(&part), cfg, json!({}))?;
    phases.push(phase(
        "a_cf",
        s * steps as f64 / take as f64,
        Some(steps),
        format!("time per step over {take} steps x {steps} steps"),
    ));
    let point = SweepPoint { train, ipc, sizes: sizes(&w, Some(&reduced)), phases };
    log(&format!(
        "sweep n={train} ipc={ipc}: {}",
        point.phases.iter().map(|p| format!("{} {:.3}", p.phase, p.seconds)).collect::<Vec<_>>().join(", ")
    ));
    Ok(point)
}
