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
//!
//! Here the flags become a [`BenchConfig`] (the GPU or the CPU workload, with the sizes given);
//! [`config`] holds the workload's settings, [`phases`] runs and times it, [`report`] writes what
//! it measured (`--replot` only redraws the plots of a saved report). It uses only the library's
//! public API.
mod config;
mod phases;
mod report;

use crate::cli::command_line;
use anyhow::{anyhow, Context};
use config::BenchConfig;
use std::path::PathBuf;
use unlearn::models::Compute;
use unlearn::runtime::parse_device;

/// `unlearn bench`.
#[derive(clap::Args)]
pub struct BenchCmd {
    /// auto (CUDA if available), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Training images (default: 50000 on CUDA, 1000 on the CPU).
    #[arg(long)]
    train: Option<usize>,
    /// Test images (default: 10000 on CUDA, 500 on the CPU).
    #[arg(long)]
    test: Option<usize>,
    /// Blend clusters per class (default: 1000 on CUDA, 10 on the CPU).
    #[arg(long)]
    ipc: Option<usize>,
    /// The model: resnet18 (default on CUDA) or convnet3 (default on the CPU, width 32).
    #[arg(long)]
    arch: Option<String>,
    /// ConvNet width.
    #[arg(long)]
    width: Option<i64>,
    /// Run the untimed warm-up (default on CUDA).
    #[arg(long, conflicts_with = "no_warmup")]
    warmup: bool,
    /// Phases, comma-separated, from: blend, a_cf, a_cf_fused, a_cf_full, finetune, retrain, mia.
    #[arg(long, value_delimiter = ',')]
    phases: Option<Vec<String>>,
    /// Training-set sizes of the scaling sweep (at fixed ipc), comma-separated; "none" for no sweep.
    #[arg(long)]
    sweep_train: Option<String>,
    /// ipc values of the scaling sweep (at fixed training-set size); "none" for no sweep.
    #[arg(long)]
    sweep_ipc: Option<String>,
    /// A-CF steps timed per sweep point.
    #[arg(long)]
    sweep_acf_steps: Option<usize>,
    /// Skip the untimed warm-up run.
    #[arg(long)]
    no_warmup: bool,
    /// Let cuDNN pick convolution algorithms by timing them.
    #[arg(long)]
    cudnn_benchmark: bool,
    /// Compute of the unlearned model: fp32, bf16, cl (channels-last) or bf16+cl.
    #[arg(long, default_value = "fp32")]
    compute: String,
    /// A-CF compute variants to time first (comma-separated, as --compute takes them).
    #[arg(long, value_delimiter = ',')]
    acf_variants: Vec<String>,
    /// Steps timed per A-CF variant.
    #[arg(long, default_value_t = 100)]
    variant_steps: usize,
    /// Run the main phases with the fastest A-CF variant.
    #[arg(long)]
    use_fastest: bool,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Only redraw the sweep plots of a saved bench.json into --out.
    #[arg(long, value_name = "BENCH_JSON")]
    replot: Option<PathBuf>,
    /// Output folder.
    #[arg(long, default_value = "results/bench")]
    out: PathBuf,
}

impl BenchCmd {
    pub fn run(self) -> anyhow::Result<()> {
        let out = self.out.clone();
        let _lock = unlearn::io::OutputLock::acquire(&out, &command_line())?;
        if let Some(json) = &self.replot {
            for p in report::replot(json, &out).context("bench --replot")? {
                unlearn::outln!("wrote {}", p.display());
            }
            return Ok(());
        }
        let device = parse_device(&self.device).context("--device")?;
        let cfg = self.config(device.is_cuda())?;
        unlearn::runtime::seed_everything(cfg.seed);
        let report = phases::run(&cfg, device, |line| unlearn::errln!("{line}")).context("bench")?;
        unlearn::out!("{}", report.to_text());
        for p in report.save(&out).context("bench")? {
            unlearn::outln!("wrote {}", p.display());
        }
        Ok(())
    }

    /// The workload asked for: the full one on CUDA, the CPU one elsewhere, with the sizes and
    /// settings given on the command line.
    fn config(self, cuda: bool) -> anyhow::Result<BenchConfig> {
        let mut cfg = if cuda { BenchConfig::full() } else { BenchConfig::cpu() };
        let sizes = |flag: &str, v: &str| -> anyhow::Result<Vec<usize>> {
            if v == "none" {
                return Ok(Vec::new());
            }
            v.split(',')
                .map(|s| {
                    s.trim()
                        .parse::<usize>()
                        .map_err(|_| anyhow!("--{flag} {v}: expected numbers separated by commas, or none"))
                })
                .collect()
        };
        cfg.train = self.train.unwrap_or(cfg.train);
        cfg.test = self.test.unwrap_or(cfg.test);
        cfg.ipc = self.ipc.unwrap_or(cfg.ipc);
        if let Some(p) = self.phases {
            cfg.phases = p;
        }
        if let Some(v) = self.sweep_train {
            cfg.sweep_train = sizes("sweep-train", &v)?;
        }
        if let Some(v) = self.sweep_ipc {
            cfg.sweep_ipc = sizes("sweep-ipc", &v)?;
        }
        cfg.sweep_acf_steps = self.sweep_acf_steps.unwrap_or(cfg.sweep_acf_steps);
        cfg.arch = self.arch.unwrap_or(cfg.arch);
        cfg.width = self.width.unwrap_or(cfg.width);
        cfg.warmup = (cfg.warmup || self.warmup) && !self.no_warmup;
        cfg.cudnn_benchmark = self.cudnn_benchmark;
        cfg.compute = Compute::parse(&self.compute).context("--compute")?;
        cfg.acf_variants = self.acf_variants;
        cfg.variant_steps = self.variant_steps.max(1);
        cfg.use_fastest = self.use_fastest;
        cfg.seed = self.seed;
        Ok(cfg)
    }
}
