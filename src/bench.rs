//! `unlearn bench`: the CIFAR-shaped workload described in `docs/benchmark.md` (the single-round
//! protocol of method.md §4.3–§4.5 at CIFAR-10 scale) with every phase timed after a device
//! synchronisation.
//!
//! The pipeline is the toolkit's own (the same code `condense()` and `unlearn()` run in scripts):
//! a synthetic class-structured train/test set generated on the device, a uniform forget
//! request, Blend (features, k-means init and Lloyd, free/residual split, blend iterations), A-CF
//! for one epoch on R̃ and on the full retain set, one Fine-tune and one Retrain epoch, and the
//! paper's MIA. Sizes are options, so the same command is a short CPU run and the full GPU run;
//! a sweep over the training-set size and over ipc shows how each phase grows.
use crate::condense::{self, CondenseInput};
use crate::data::request::ForgetRequest;
use crate::data::synthetic::{synthetic, SyntheticOptions};
use crate::data::{Dataset, LoadOptions};
use crate::error::{Error, Result};
use crate::metrics::{heldout_of_classes, mia::model_mia, MiaOptions};
use crate::models::{Arch, Compute, Model, ModelSpec};
use crate::report::plot::{Figure, Series};
use crate::runtime::{device_hardware, device_memory_in_use, device_name, peak_rss_bytes, synchronize, Versions};
use crate::unlearn::{self as methods, timed, UnlearnInput};
use serde::Serialize;
use serde_json::json;
use std::path::Path;
use tch::Device;

/// Phases that `--phases` can pick; `blend` is the whole pre-processing (features, k-means,
/// split, Blend iterations).
pub const PHASES: &[&str] = &["blend", "a_cf", "a_cf_fused", "a_cf_full", "finetune", "retrain", "mia"];

/// What to run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchConfig {
    /// Synthetic training and test images (3x32x32).
    pub train: usize,
    pub test: usize,
    pub classes: usize,
    /// Blend clusters per class.
    pub ipc: usize,
    /// Fraction of the training set forgotten (uniform).
    pub forget: f64,
    pub blend_iters: usize,
    /// Retain batch size of A-CF, Fine-tune and Retrain (method.md: 64).
    pub batch: usize,
    /// The model unlearned ("resnet18" in the full workload of docs/benchmark.md) and, for a
    /// ConvNet, its width.
    pub arch: String,
    pub width: i64,
    pub phases: Vec<String>,
    /// Training-set sizes swept at fixed `ipc`, and ipc values swept at fixed `train`; empty: no sweep.
    pub sweep_train: Vec<usize>,
    pub sweep_ipc: Vec<usize>,
    /// In the sweep, A-CF runs at most this many steps and its epoch time is the measured time per
    /// step times the epoch's steps (the step does not depend on the set's size).
    pub sweep_acf_steps: usize,
    /// A run over a small workload first, untimed, so module loading and library handles are not
    /// counted in the first phase.
    pub warmup: bool,
    pub cudnn_benchmark: bool,
    /// How the unlearned model computes in the A-CF, Fine-tune and Retrain phases.
    pub compute: Compute,
    /// A-CF compute variants timed on the same R̃ before the main phases (`fp32`, `bf16`, `cl`
    /// (channels-last), `bf16+cl`), each over
    /// `variant_steps` steps after 5 untimed ones.
    pub acf_variants: Vec<String>,
    pub variant_steps: usize,
    /// Run the main phases with the fastest of `acf_variants` instead of `compute`.
    pub use_fastest: bool,
    pub seed: u64,
}

impl BenchConfig {
    /// The full workload of docs/benchmark.md (for a GPU).
    pub fn full() -> Self {
        BenchConfig {
            train: 50_000,
            test: 10_000,
            classes: 10,
            ipc: 1000,
            forget: 0.1,
            blend_iters: 12,
            batch: 64,
            arch: "resnet18".into(),
            width: 128,
            phases: PHASES.iter().map(|s| s.to_string()).collect(),
            sweep_train: vec![10_000, 50_000, 200_000],
            sweep_ipc: vec![100, 1000, 4000],
            sweep_acf_steps: 60,
            warmup: true,
            cudnn_benchmark: false,
            compute: Compute::default(),
            acf_variants: Vec::new(),
            variant_steps: 100,
            use_fastest: false,
            seed: 0,
        }
    }

    /// A scaled-down workload that runs in a few minutes on a 2-core CPU: the same phases, batch
    /// composition and Blend iterations, 50x fewer images, and a narrow ConvNet-3 (width 32) in
    /// place of ResNet-18, whose A-CF step (576 images) takes about 20 s on two cores.
    pub fn cpu() -> Self {
        BenchConfig {
            train: 1000,
            test: 500,
            ipc: 10,
            arch: "convnet3".into(),
            width: 32,
            sweep_train: vec![250, 500, 1000],
            sweep_ipc: vec![5, 10, 20],
            sweep_acf_steps: 3,
            warmup: false,
            ..Self::full()
        }
    }

    pub fn check(&self) -> Result<()> {
        let bad = |key: &str, msg: String| Error::BadOption { func: "bench".into(), key: key.into(), msg };
        for p in &self.phases {
            if !PHASES.contains(&p.as_str()) {
                return Err(bad("phases", format!("`{p}` is not one of {PHASES:?}")));
            }
        }
        if !(self.forget > 0.0 && self.forget < 1.0) {
            return Err(bad("forget", format!("{} is outside (0, 1)", self.forget)));
        }
        if self.train < 10 * self.classes || self.test < 10 * self.classes {
            return Err(bad("train/test", format!("{}/{}: at least 10 images per class", self.train, self.test)));
        }
        if self.ipc == 0 || self.batch == 0 || self.blend_iters == 0 || self.sweep_acf_steps == 0 {
            return Err(bad("ipc/batch/blend_iters/sweep_acf_steps", "must be at least 1".into()));
        }
        if self.sweep_train.iter().chain(&self.sweep_ipc).any(|&v| v == 0) {
            return Err(bad("sweep", "sizes must be at least 1".into()));
        }
        for v in &self.acf_variants {
            Compute::parse(v)?;
        }
        Arch::parse(&self.arch)?;
        if self.width < 1 {
            return Err(bad("width", format!("{}: expected at least 1", self.width)));
        }
        Ok(())
    }

    fn wants(&self, phase: &str) -> bool {
        self.phases.iter().any(|p| p == phase)
    }
}

/// One timed phase.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct PhaseTime {
    pub phase: String,
    pub seconds: f64,
    /// Steps or iterations it ran, where it has them.
    pub steps: Option<usize>,
    pub note: String,
}

/// Sizes the run used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Sizes {
    pub train: usize,
    pub test: usize,
    pub forget: usize,
    pub retain: usize,
    pub unseen: usize,
    pub heldout: usize,
    pub reduced: usize,
    pub residual: usize,
    pub synthetic: usize,
    pub kmeans_iterations_mean: f64,
}

/// One point of the scaling sweep.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct SweepPoint {
    pub train: usize,
    pub ipc: usize,
    pub sizes: Sizes,
    pub phases: Vec<PhaseTime>,
}

/// How a phase grows over the training-set sweep at fixed ipc: the exponent b of t ∝ n^b between
/// the smallest and the largest size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Growth {
    pub phase: String,
    pub exponent: f64,
    /// b ≤ 1.15 (linear, with room for timing noise and data-dependent iteration counts).
    pub at_most_linear: bool,
}

/// Everything `unlearn bench` measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub config: BenchConfig,
    pub device: String,
    /// The card ("NVIDIA H200") or "cpu".
    pub hardware: String,
    pub versions: Versions,
    pub started: String,
    pub warmup_seconds: Option<f64>,
    pub sizes: Sizes,
    pub phases: Vec<PhaseTime>,
    /// Largest device memory reading (CUDA: driver total − free, caching allocator included;
    /// CPU: peak resident set).
    pub peak_memory_bytes: Option<u64>,
    pub sweep: Vec<SweepPoint>,
    pub growth: Vec<Growth>,
}

/// The targets of the full workload on one H100/H200 (issue 8), by phase.
pub fn target(phase: &str) -> Option<f64> {
    match phase {
        "pre-processing" => Some(2.5),
        "a_cf" | "a_cf_fused" => Some(6.0),
        "blend + a_cf" => Some(8.0),
        "finetune" | "retrain" => Some(7.0),
        "mia" => Some(0.5),
        _ => None,
    }
}

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

/// Growth exponents over the training-set sweep at `ipc`.
fn growth(sweep: &[SweepPoint], ipc: usize) -> Vec<Growth> {
    let mut pts: Vec<&SweepPoint> = sweep.iter().filter(|p| p.ipc == ipc).collect();
    pts.sort_by_key(|p| p.train);
    pts.dedup_by_key(|p| p.train);
    let (Some(a), Some(b)) = (pts.first(), pts.last()) else { return Vec::new() };
    if a.train == b.train {
        return Vec::new();
    }
    a.phases
        .iter()
        .filter_map(|pa| {
            let pb = b.phases.iter().find(|p| p.phase == pa.phase)?;
            // Lloyd: per iteration (the number of iterations depends on the data, not the size)
            let per = |p: &PhaseTime| {
                if p.phase == "kmeans_lloyd" {
                    p.seconds / p.steps.unwrap_or(1).max(1) as f64
                } else {
                    p.seconds
                }
            };
            let (ta, tb) = (per(pa).max(1e-6), per(pb).max(1e-6));
            let exponent = (tb / ta).ln() / (b.train as f64 / a.train as f64).ln();
            Some(Growth { phase: pa.phase.clone(), exponent, at_most_linear: exponent <= 1.15 })
        })
        .collect()
}

impl BenchReport {
    /// The phase table (with the GPU targets of the full workload where they apply).
    pub fn to_text(&self) -> String {
        let full = self.config.train == 50_000 && self.config.ipc == 1000 && self.device.starts_with("cuda");
        let mut s = format!(
            "unlearn bench on {} ({}), {} train / {} test images of 3x32x32, ipc {}, {}{}\n",
            self.hardware,
            self.device,
            self.sizes.train,
            self.config.test,
            self.config.ipc,
            self.config.arch,
            if self.config.arch.starts_with("convnet") {
                format!(" (width {})", self.config.width)
            } else {
                String::new()
            }
        );
        s += &format!(
            "forget {}, retain {}, R̃ {} ({} residual + {} blended), unseen {}, held-out {}\n\n",
            self.sizes.forget,
            self.sizes.retain,
            self.sizes.reduced,
            self.sizes.residual,
            self.sizes.synthetic,
            self.sizes.unseen,
            self.sizes.heldout
        );
        s += &format!("{:<16}{:>10}{:>8}{:>10}  {}\n", "phase", "seconds", "steps", "target", "what");
        for p in &self.phases {
            let target = target(&p.phase).filter(|_| full).map(|t| {
                let mark = if p.seconds <= t { "ok" } else { "MISS" };
                format!("{t:.1} {mark}")
            });
            s += &format!(
                "{:<16}{:>10.3}{:>8}{:>10}  {}\n",
                p.phase,
                p.seconds,
                p.steps.map(|v| v.to_string()).unwrap_or_default(),
                target.unwrap_or_default(),
                p.note
            );
        }
        if let Some(b) = self.peak_memory_bytes {
            s += &format!("peak memory {}\n", crate::runtime::format_bytes(b));
        }
        if let Some(w) = self.warmup_seconds {
            s += &format!("warm-up (untimed) {w:.2} s\n");
        }
        if !self.sweep.is_empty() {
            let names: Vec<String> = self.sweep[0].phases.iter().map(|p| p.phase.clone()).collect();
            s += &format!("\nscaling sweep (seconds)\n{:>8}{:>6}{:>8}", "train", "ipc", "R̃");
            for n in &names {
                s += &format!("{:>15}", n);
            }
            s += "\n";
            for pt in &self.sweep {
                s += &format!("{:>8}{:>6}{:>8}", pt.train, pt.ipc, pt.sizes.reduced);
                for n in &names {
                    let v = pt.phases.iter().find(|p| &p.phase == n).map(|p| p.seconds).unwrap_or(f64::NAN);
                    s += &format!("{:>15.3}", v);
                }
                s += "\n";
            }
            if !self.growth.is_empty() {
                s += &format!(
                    "growth over the train sweep at ipc {} (t ∝ n^b; Lloyd per iteration):\n",
                    self.config.ipc
                );
                for g in &self.growth {
                    s += &format!(
                        "  {:<16} b = {:.2}{}\n",
                        g.phase,
                        g.exponent,
                        if g.at_most_linear { "" } else { "  (worse than linear)" }
                    );
                }
            }
        }
        s
    }

    /// Time of each phase against the training-set size (`by_train`) or ipc, log-log.
    pub fn sweep_figure(&self, by_train: bool) -> Option<Figure> {
        sweep_figure(&self.sweep, self.config.train, self.config.ipc, &self.hardware, by_train)
    }

    /// Writes `bench.json`, `bench.txt` and the sweep plots into `dir` (atomically).
    pub fn save(&self, dir: &Path) -> Result<Vec<std::path::PathBuf>> {
        let mut written = vec![dir.join("bench.json"), dir.join("bench.txt")];
        crate::io::write_json_atomic(&written[0], self)?;
        crate::io::write_atomic(&written[1], self.to_text().as_bytes())?;
        for (by_train, name) in [(true, "sweep_train"), (false, "sweep_ipc")] {
            if let Some(f) = self.sweep_figure(by_train) {
                written.extend(f.save(&dir.join(name))?);
            }
        }
        Ok(written)
    }
}

/// Time of each phase of `sweep` against the training-set size at `ipc` (`by_train`) or against
/// ipc at `train` images, log-log; `None` with fewer than two such points.
pub fn sweep_figure(sweep: &[SweepPoint], train: usize, ipc: usize, hardware: &str, by_train: bool) -> Option<Figure> {
    let mut pts: Vec<&SweepPoint> =
        sweep.iter().filter(|p| if by_train { p.ipc == ipc } else { p.train == train }).collect();
    pts.sort_by_key(|p| if by_train { p.train } else { p.ipc });
    pts.dedup_by_key(|p| if by_train { p.train } else { p.ipc });
    if pts.len() < 2 {
        return None;
    }
    let x: Vec<f64> = pts.iter().map(|p| if by_train { p.train } else { p.ipc } as f64).collect();
    let series = pts[0]
        .phases
        .iter()
        .map(|ph| Series {
            name: ph.phase.clone(),
            values: pts
                .iter()
                .map(|p| p.phases.iter().find(|q| q.phase == ph.phase).map(|q| q.seconds).unwrap_or(f64::NAN))
                .collect(),
        })
        .collect();
    let (what, fixed) = if by_train {
        ("training images".to_string(), format!("ipc {ipc}"))
    } else {
        ("ipc (clusters per class)".to_string(), format!("{train} training images"))
    };
    Some(Figure::Lines {
        title: format!("Phase time vs {what} ({fixed}, {hardware})"),
        x_label: format!("{what} (log)"),
        y_label: "seconds (log)".into(),
        x,
        series,
    })
}

/// Redraws the sweep plots of a saved `bench.json` (e.g. one brought back from a GPU machine)
/// into `dir`; returns the files written.
pub fn replot(json: &Path, dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let text = std::fs::read_to_string(json).map_err(|source| Error::Io { path: json.into(), source })?;
    let bad = |msg: String| Error::Format { path: json.into(), msg };
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let sweep: Vec<SweepPoint> = serde_json::from_value(v["sweep"].clone())
        .map_err(|e| bad(format!("`sweep` is not a list of sweep points: {e}")))?;
    let field = |k: &str| v["config"][k].as_u64().map(|n| n as usize).ok_or_else(|| bad(format!("no config.{k}")));
    let (train, ipc) = (field("train")?, field("ipc")?);
    let hardware = v["hardware"].as_str().unwrap_or("unknown device");
    let mut written = Vec::new();
    for (by_train, name) in [(true, "sweep_train"), (false, "sweep_ipc")] {
        if let Some(f) = sweep_figure(&sweep, train, ipc, hardware, by_train) {
            written.extend(f.save(&dir.join(name))?);
        }
    }
    if written.is_empty() {
        return Err(bad("its sweep has fewer than two points along either axis".into()));
    }
    Ok(written)
}
