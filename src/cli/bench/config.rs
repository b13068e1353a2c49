//! The benchmark's workload: its sizes, phases and settings, the full GPU one and the scaled-down
//! CPU one, and what makes a configuration runnable.
use serde::Serialize;
use unlearn::error::{Error, Result};
use unlearn::models::{Arch, Compute};

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

    /// Whether `phase` is one of the phases to run.
    pub fn wants(&self, phase: &str) -> bool {
        self.phases.iter().any(|p| p == phase)
    }
}
