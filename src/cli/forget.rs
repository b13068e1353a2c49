//! `unlearn forget`: honour a deletion request on a deployed classifier without a script (see
//! `unlearn::forget`). Parses the flags into a `ForgetJob`, prints each step and the before/after
//! table, and names the files written.
use anyhow::Context;
use std::path::PathBuf;
use unlearn::data::LoadOptions;
use unlearn::forget::{forget, BlendChoice, ForgetJob};
use unlearn::models::ModelFileOptions;
use unlearn::runtime::parse_device;

/// `unlearn forget --model MODEL --data KIND:PATH --forget REQUEST --out DIR`.
#[derive(clap::Args)]
pub struct ForgetCmd {
    /// The deployed model: a TorchScript file from PyTorch (.pt, torch.jit.script or
    /// torch.jit.trace, then torch.jit.save), an unlearn checkpoint, or a PyTorch state dict of
    /// unlearn's architectures with --arch (.safetensors). Never modified.
    #[arg(long)]
    model: PathBuf,
    /// Its training data: builtin (the built-in MNIST digits), or KIND:PATH with KIND one of
    /// mnist, fashion_mnist, cifar10, cifar100, svhn, cinic10, image_folder.
    #[arg(long)]
    data: String,
    /// What to forget, in the training part: class:NAME (a whole class, by name or index),
    /// uniform:FRACTION (a seeded random share, for trials), or a file of indices (integers
    /// separated by spaces, commas or lines, or a JSON array; or a request saved by a script).
    #[arg(long)]
    forget: String,
    /// Folder for the unlearned model (unlearned.pt or unlearned.safetensors), report.html,
    /// report.json and deletion-record.json.
    #[arg(long)]
    out: PathBuf,
    /// The unlearning method (see `unlearn functions methods`); default: chosen by the request,
    /// SalUn for a whole class, A-CF on a Blend-reduced retain set otherwise.
    #[arg(long)]
    method: Option<String>,
    /// Options of the method as KEY=VALUE (a JSON value: epochs=3, lr=0.001). Repeatable.
    #[arg(long = "option", value_name = "KEY=VALUE")]
    options: Vec<String>,
    /// Condense the retain set with Blend: ipc=N clusters per class, off, or auto (with the
    /// default A-CF on a subset request: clusters of about five images).
    #[arg(long, default_value = "auto")]
    blend: String,
    /// Unseen data of the same distribution for A-AMU methods (KIND:PATH, both parts); default:
    /// 70 % of every class of the test part is kept aside for it, the rest measures.
    #[arg(long)]
    unseen: Option<String>,
    /// An untrained TorchScript model of the same architecture: what methods that train from
    /// scratch (retrain, bad_teacher) start from.
    #[arg(long)]
    init: Option<PathBuf>,
    /// The architecture of a PyTorch state dict (.safetensors) saved from the modules of
    /// examples/pytorch/unlearn_models.py: convnet3, resnet18 or resnet50 (an unlearn checkpoint
    /// names its own).
    #[arg(long)]
    arch: Option<String>,
    /// ConvNet width of such a state dict (default 128).
    #[arg(long)]
    width: Option<i64>,
    /// ConvNet depth of such a state dict (default 3).
    #[arg(long)]
    depth: Option<usize>,
    /// Per-channel mean the model's inputs are normalised with, comma-separated (e.g. 0.1307);
    /// default: the training part's own. Give --std with it.
    #[arg(long, value_delimiter = ',')]
    mean: Option<Vec<f64>>,
    /// Per-channel standard deviation of the normalisation (e.g. 0.3081).
    #[arg(long, value_delimiter = ',')]
    std: Option<Vec<f64>>,
    /// auto (CUDA if available), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Replace the deletion record of an earlier job in --out.
    #[arg(long)]
    overwrite: bool,
}

impl ForgetCmd {
    pub fn run(self) -> anyhow::Result<()> {
        let device = parse_device(&self.device).context("--device")?;
        let blend = BlendChoice::parse(&self.blend)?;
        let mut method_options = serde_json::Map::new();
        for o in &self.options {
            let (k, v) = o.split_once('=').with_context(|| format!("--option `{o}`: expected KEY=VALUE"))?;
            let value = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_string()));
            method_options.insert(k.trim().to_string(), value);
        }
        let load = LoadOptions { mean: self.mean, std: self.std, ..Default::default() };
        let job = ForgetJob {
            model: self.model,
            model_options: ModelFileOptions { init: self.init, arch: self.arch, width: self.width, depth: self.depth },
            data: self.data,
            load,
            forget: self.forget,
            out: self.out,
            method: self.method,
            method_options,
            blend,
            unseen: self.unseen,
            seed: self.seed,
            device,
            overwrite: self.overwrite,
        };
        let outcome = forget(&job, &mut |line| unlearn::outln!("[forget] {line}"))?;
        unlearn::outln!("{}", outcome.table.to_text());
        for f in &outcome.files {
            unlearn::outln!("wrote {}", f.display());
        }
        Ok(())
    }
}
