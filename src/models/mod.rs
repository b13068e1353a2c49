//! Architectures (method.md §1.2, §4.2) behind one [`Model`] type, and checkpoints as
//! `.safetensors` files that carry their architecture in the header metadata, so a checkpoint
//! loads without knowing what it holds and a mismatch is a clear error.
pub mod convnet;
pub mod layers;
pub mod resnet;
pub mod torchscript;

use crate::error::{Error, Result};
use crate::io;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

/// The architectures the toolkit builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// ConvNet-3 (any depth/width) with instance norm.
    Convnet,
    /// CIFAR ResNet-18 with instance norm.
    Resnet18,
    /// CIFAR ResNet-50 with instance norm.
    Resnet50,
    /// A classifier saved from PyTorch as TorchScript (loaded from its file, never built).
    Torchscript,
}

impl Arch {
    pub const NAMES: &'static [&'static str] = &["convnet3", "resnet18", "resnet50"];

    pub fn parse(name: &str) -> Result<Arch> {
        match name {
            "convnet3" | "convnet" | "cnn" => Ok(Arch::Convnet),
            "resnet18" => Ok(Arch::Resnet18),
            "resnet50" => Ok(Arch::Resnet50),
            other => Err(Error::invalid("architecture", other, format!("one of {:?}", Arch::NAMES))),
        }
    }
}

/// Everything needed to rebuild a model: recorded in checkpoints and results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub arch: Arch,
    pub in_channels: i64,
    pub num_classes: i64,
    /// Input height and width.
    pub image_size: [i64; 2],
    /// ConvNet channels per layer (128 in the reference); ignored by ResNets.
    pub width: i64,
    /// ConvNet layers (3 in the reference); ignored by ResNets.
    pub depth: usize,
    /// Seed of the random initialisation.
    pub init_seed: u64,
    /// Where a model loaded from a file came from ("model.pt, sha256 …"): TorchScript models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl ModelSpec {
    /// The spec for `arch` on images of `shape` (`[C, H, W]`) with `num_classes` classes and the
    /// reference ConvNet settings (width 128, depth 3).
    /// A lower bound of the parameters this spec builds (exact for a ConvNet), in u128 so any
    /// header value fits.
    fn min_params(&self) -> u128 {
        let (c, k) = (self.in_channels.max(0) as u128, self.num_classes.max(0) as u128);
        match self.arch {
            Arch::Convnet => {
                let (w, d) = (self.width.max(0) as u128, self.depth as u128);
                let pooled = |s: i64| (s.max(0) as u128) >> d.min(127);
                let (h, wd) = (pooled(self.image_size[0]), pooled(self.image_size[1]));
                // first conv, the other convs, conv biases and norm affine, classifier
                let m = |a: u128, b: u128| a.saturating_mul(b);
                m(m(c, w), 9)
                    .saturating_add(m(m(m(d.saturating_sub(1), w), w), 9))
                    .saturating_add(m(m(3, w), d))
                    .saturating_add(m(m(m(w, h), wd), k))
                    .saturating_add(k)
            }
            // the convolutions after the stem, the stem and the classifier
            Arch::Resnet18 => {
                (11_000_000u128).saturating_add(c.saturating_mul(64 * 9)).saturating_add(k.saturating_mul(512))
            }
            Arch::Resnet50 => {
                (23_000_000u128).saturating_add(c.saturating_mul(64 * 9)).saturating_add(k.saturating_mul(2048))
            }
            Arch::Torchscript => 0,
        }
    }

    pub fn new(arch: Arch, shape: [i64; 3], num_classes: usize, init_seed: u64) -> Self {
        ModelSpec {
            arch,
            in_channels: shape[0],
            num_classes: num_classes as i64,
            image_size: [shape[1], shape[2]],
            width: 128,
            depth: 3,
            init_seed,
            source: None,
        }
    }

    /// The spec for `arch` with `options` (width and depth apply to ConvNets; the seed is
    /// `seed` where the options give none).
    pub fn with_options(arch: Arch, shape: [i64; 3], num_classes: usize, options: &ModelOptions, seed: u64) -> Self {
        let mut spec = ModelSpec::new(arch, shape, num_classes, options.seed.unwrap_or(seed));
        spec.width = options.width;
        spec.depth = options.depth;
        spec
    }

    pub fn name(&self) -> String {
        match self.arch {
            Arch::Convnet => format!("ConvNet-{} (width {}, instance norm)", self.depth, self.width),
            Arch::Resnet18 => "ResNet-18 (instance norm)".into(),
            Arch::Resnet50 => "ResNet-50 (instance norm)".into(),
            Arch::Torchscript => format!("TorchScript model ({})", self.source.as_deref().unwrap_or("no file")),
        }
    }

    /// Fails, naming the size options, when the parameters (float32, drawn on the host first)
    /// cannot fit in the memory available on the host or on `device`, instead of an allocation
    /// that aborts the process.
    fn check_fits(&self, device: Device) -> Result<()> {
        let params = self.min_params();
        let bytes = u64::try_from(params.saturating_mul(4)).unwrap_or(u64::MAX);
        let what = match self.arch {
            Arch::Convnet => format!("{} ({params} parameters; lower the option `width` or `depth`)", self.name()),
            _ => format!("{} ({params} parameters)", self.name()),
        };
        crate::runtime::ensure_fits(Device::Cpu, bytes, &what)?;
        if device != Device::Cpu {
            crate::runtime::ensure_fits(device, bytes, &what)?;
        }
        Ok(())
    }

    fn check(&self) -> Result<()> {
        if self.in_channels < 1 || self.num_classes < 1 || self.image_size.iter().any(|&s| s < 1) {
            return Err(Error::invalid("model spec", format!("{self:?}"), "positive channels, classes and image size"));
        }
        if self.arch == Arch::Convnet && (self.width < 1 || self.depth < 1) {
            return Err(Error::invalid(
                "ConvNet width/depth",
                format!("{}/{}", self.width, self.depth),
                "at least 1 each",
            ));
        }
        Ok(())
    }
}

#[derive(Debug)]
enum Net {
    Conv(convnet::ConvNet),
    Res(resnet::ResNet),
    Script(torchscript::ScriptNet),
}

/// How a model computes (not what: every setting gives the same function up to rounding), chosen
/// for speed on the device and recorded with results (issue 8; `unlearn bench` measures them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Compute {
    /// bf16 activations and weight copies; the parameters (and so the optimiser) stay float32 and
    /// the logits are returned as float32.
    pub bf16: bool,
    /// Channels-last (NHWC) activations and kernels.
    pub channels_last: bool,
}

impl Compute {
    /// A setting by name: `fp32`, `bf16`, `cl` (channels-last) or `bf16+cl`. (An `instance_norm`
    /// kernel in place of `group_norm` was measured too: 2.2x slower per A-CF step on an H200,
    /// benches/RESULTS.md, so it is not offered.)
    pub fn parse(name: &str) -> Result<Compute> {
        let mut c = Compute::default();
        for part in name.split('+') {
            match part.trim() {
                "fp32" => {}
                "bf16" => c.bf16 = true,
                "cl" | "channels_last" => c.channels_last = true,
                other => {
                    return Err(Error::invalid(
                        "compute setting",
                        format!("{other}` in `{name}"),
                        "fp32, bf16, cl or bf16+cl",
                    ))
                }
            }
        }
        Ok(c)
    }

    /// The name [`Compute::parse`] reads.
    pub fn name(&self) -> String {
        match (self.bf16, self.channels_last) {
            (false, false) => "fp32".into(),
            (true, false) => "bf16".into(),
            (false, true) => "cl".into(),
            (true, true) => "bf16+cl".into(),
        }
    }
}

/// A classifier with its parameters (a `VarStore` on one device).
#[derive(Debug)]
pub struct Model {
    pub spec: ModelSpec,
    vs: nn::VarStore,
    net: Net,
    compute: Compute,
}

/// Metadata key under which checkpoints store the [`ModelSpec`] JSON.
const SPEC_KEY: &str = "unlearn.model_spec";

impl Model {
    /// A freshly initialised model; the initialisation is drawn from `spec.init_seed` (the same
    /// weights on every device).
    pub fn new(spec: ModelSpec, device: Device) -> Result<Self> {
        spec.check()?;
        spec.check_fits(device)?;
        let mut rng = crate::data::split::rng(spec.init_seed);
        Self::build(spec, device, Some(&mut rng))
    }

    /// Builds the network; `rng` None leaves every weight zero (to be overwritten).
    fn build(spec: ModelSpec, device: Device, mut rng: layers::InitRng) -> Result<Self> {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let r = &mut rng;
        let (c, k) = (spec.in_channels, spec.num_classes);
        let net = match spec.arch {
            Arch::Convnet => Net::Conv(convnet::ConvNet::new(&root, r, c, k, spec.width, spec.depth, spec.image_size)?),
            Arch::Resnet18 => Net::Res(resnet::ResNet::new(&root, r, resnet::Depth::R18, c, k)),
            Arch::Resnet50 => Net::Res(resnet::ResNet::new(&root, r, resnet::Depth::R50, c, k)),
            Arch::Torchscript => return Err(Error::invalid(
                "model spec",
                spec.name(),
                "an architecture unlearn builds: a TorchScript model is loaded from its file (Model::load_torchscript)",
            )),
        };
        Ok(Model { spec, vs, net, compute: Compute::default() })
    }

    /// A TorchScript model from `files` (its `init` with `fresh`) with `spec`, in evaluation mode.
    fn build_script(
        spec: ModelSpec,
        files: &std::rc::Rc<torchscript::ScriptFiles>,
        device: Device,
        fresh: bool,
    ) -> Result<Self> {
        let vs = nn::VarStore::new(device);
        let net = torchscript::ScriptNet::load(files, &vs.root(), fresh)?;
        Ok(Model { spec, vs, net: Net::Script(net), compute: Compute::default() })
    }

    /// Loads a classifier saved from PyTorch as TorchScript, for images of `shape` (`[C, H, W]`)
    /// and `num_classes` classes, checked on a batch of zeros; `init`, an untrained model of the
    /// same architecture, is what methods that train from scratch start from. See
    /// [`torchscript`] for what happens to batch norm and dropout.
    pub fn load_torchscript(
        path: impl AsRef<Path>,
        shape: [i64; 3],
        num_classes: usize,
        init: Option<&Path>,
        device: Device,
    ) -> Result<Model> {
        let path = path.as_ref();
        let files = torchscript::ScriptFiles::read(path, init)?;
        let mut spec = ModelSpec::new(Arch::Torchscript, shape, num_classes, 0);
        spec.source = Some(format!("{}, sha256 {}", path.display(), crate::resume::sha256_hex(&files.bytes)));
        spec.check()?;
        let model = Self::build_script(spec, &files, device, false)?;
        let Net::Script(net) = &model.net else { unreachable!("built as a script") };
        net.check_classifier(shape, num_classes as i64, device)?;
        if let Some((init_path, _)) = &files.init {
            let fresh = Self::build_script(model.spec.clone(), &files, device, true)?;
            let Net::Script(init_net) = &fresh.net else { unreachable!("built as a script") };
            init_net.check_classifier(shape, num_classes as i64, device)?;
            let names = |m: &Model| {
                let mut v: Vec<(String, Vec<i64>)> = m.vs.variables().into_iter().map(|(n, t)| (n, t.size())).collect();
                v.sort();
                v
            };
            if names(&fresh) != names(&model) {
                return Err(Error::format(
                    init_path,
                    format!(
                        "its parameters (names and shapes) differ from those of {}: not the same architecture",
                        path.display()
                    ),
                ));
            }
        }
        Ok(model)
    }

    /// A model from a file, by its extension: a checkpoint of unlearn's or a PyTorch state dict
    /// (`.safetensors`; a state dict without unlearn's header needs `options.arch`), or a
    /// classifier saved from PyTorch as TorchScript (`.pt`, `.pth`, with `options.init`). A
    /// state dict or TorchScript model needs the data it classifies (`like`: its image shape and
    /// class count); a checkpoint given `like` is checked against it.
    pub fn load_file(
        path: impl AsRef<Path>,
        like: Option<&crate::data::Dataset>,
        options: &ModelFileOptions,
        device: Device,
    ) -> Result<Model> {
        let path = path.as_ref();
        let torchscript = matches!(path.extension().and_then(|e| e.to_str()), Some("pt" | "pth"));
        let needs_data = |what: &str| {
            Error::invalid(
                "model file",
                path.display(),
                format!("with {what}, the data it classifies (its image shape and class count)"),
            )
        };
        if torchscript {
            if options.arch.is_some() || options.width.is_some() || options.depth.is_some() {
                return Err(Error::invalid(
                    "arch",
                    path.display(),
                    "no arch, width or depth: a TorchScript model carries its architecture",
                ));
            }
            let data = like.ok_or_else(|| needs_data("a TorchScript model"))?;
            return Model::load_torchscript(
                path,
                data.image_shape(),
                data.num_classes(),
                options.init.as_deref(),
                device,
            );
        }
        if let Some(init) = &options.init {
            return Err(Error::invalid(
                "init",
                init.display(),
                "no init: a model of unlearn's architectures draws its own initialisation",
            ));
        }
        let model = match &options.arch {
            Some(arch) => {
                let data = like.ok_or_else(|| needs_data("a state dict"))?;
                let defaults = ModelOptions::default();
                let o = ModelOptions {
                    width: options.width.unwrap_or(defaults.width),
                    depth: options.depth.unwrap_or(defaults.depth),
                    seed: None,
                };
                let spec = ModelSpec::with_options(Arch::parse(arch)?, data.image_shape(), data.num_classes(), &o, 0);
                Model::load_state_dict(path, spec, device)?
            }
            None => Model::load(path, device)?,
        };
        if let Some(data) = like {
            let [c, _, _] = data.image_shape();
            if model.spec.in_channels != c || model.spec.num_classes != data.num_classes() as i64 {
                return Err(Error::Shape(format!(
                    "{}: a model of {} input channel(s) and {} classes, but {} has {c} channel(s) and {} classes",
                    path.display(),
                    model.spec.in_channels,
                    model.spec.num_classes,
                    data.name,
                    data.num_classes()
                )));
            }
        }
        Ok(model)
    }

    /// A freshly initialised model of this one's architecture (what Retrain starts from): drawn
    /// from `init_seed` for the architectures unlearn builds; a TorchScript model's `init` file.
    pub fn fresh_like(&self, init_seed: u64) -> Result<Model> {
        let mut m = match &self.net {
            Net::Script(net) => Self::build_script(self.spec.clone(), &net.files, self.device(), true)?,
            _ => Model::new(ModelSpec { init_seed, ..self.spec.clone() }, self.device())?,
        };
        // a fresh model computes as this one does (bf16, channels-last)
        m.set_compute(self.compute);
        Ok(m)
    }

    /// How the model computes (see [`Compute`]).
    pub fn compute(&self) -> Compute {
        self.compute
    }

    /// Sets how the model computes; copies made with [`Model::try_clone`] inherit it. A
    /// TorchScript model computes as it was saved (float32, its own layout) and keeps the default.
    pub fn set_compute(&mut self, compute: Compute) {
        if !matches!(self.net, Net::Script(_)) {
            self.compute = compute;
        }
    }

    /// The input in the model's compute precision and layout.
    fn prepare(&self, x: &Tensor) -> Result<Tensor> {
        let x = if self.compute.bf16 { x.f_to_kind(tch::Kind::BFloat16)? } else { x.shallow_clone() };
        if self.compute.channels_last && !layers::is_channels_last(&x) {
            return layers::to_channels_last(&x);
        }
        Ok(x)
    }

    /// Outputs back in float32 (losses and metrics are computed in float32).
    fn finish(&self, y: Tensor) -> Result<Tensor> {
        Ok(if y.kind() != tch::Kind::Float { y.f_to_kind(tch::Kind::Float)? } else { y })
    }

    pub fn device(&self) -> Device {
        self.vs.device()
    }
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }
    pub fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.vs
    }
    /// Number of trainable scalars.
    pub fn num_params(&self) -> i64 {
        self.vs.trainable_variables().iter().map(|t| t.numel() as i64).sum()
    }

    fn check_input(&self, x: &Tensor) -> Result<()> {
        let s = x.size();
        let fixed_size = matches!(self.spec.arch, Arch::Convnet | Arch::Torchscript);
        let ok = s.len() == 4 && s[1] == self.spec.in_channels && (!fixed_size || s[2..] == self.spec.image_size);
        if !ok {
            return Err(Error::Shape(format!(
                "{} expects N x {} x {} x {} images, got {s:?}",
                self.spec.name(),
                self.spec.in_channels,
                self.spec.image_size[0],
                self.spec.image_size[1]
            )));
        }
        Ok(())
    }

    /// Logits for a batch `N x C x H x W`. (Our architectures have no dropout or batch norm, so
    /// train and eval mode compute the same function; a TorchScript model always runs in eval
    /// mode, see [`torchscript`].)
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.check_input(x)?;
        let x = self.prepare(x)?;
        self.finish(match &self.net {
            Net::Conv(n) => n.forward(&x)?,
            Net::Res(n) => n.forward(&x)?,
            Net::Script(n) => n.forward(&x)?,
        })
    }

    /// Penultimate features for a batch.
    pub fn embed(&self, x: &Tensor) -> Result<Tensor> {
        self.check_input(x)?;
        let x = self.prepare(x)?;
        self.finish(match &self.net {
            Net::Conv(n) => n.embed(&x)?,
            Net::Res(n) => n.embed(&x)?,
            Net::Script(n) => n.embed(&x)?,
        })
    }

    /// The penultimate features and the logits of one forward pass (what [`Model::embed`] and
    /// [`Model::forward`] give, for the cost of one).
    pub fn embed_and_forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        self.check_input(x)?;
        let x = self.prepare(x)?;
        let (e, logits) = match &self.net {
            Net::Conv(n) => n.embed_and_forward(&x)?,
            Net::Res(n) => n.embed_and_forward(&x)?,
            Net::Script(n) => (n.embed(&x)?, n.forward(&x)?),
        };
        Ok((self.finish(e)?, self.finish(logits)?))
    }

    /// A deep copy (same spec, same weights, independent parameters).
    pub fn try_clone(&self) -> Result<Model> {
        let mut m = match &self.net {
            Net::Script(net) => Self::build_script(self.spec.clone(), &net.files, self.device(), false)?,
            _ => Self::build(self.spec.clone(), self.device(), None)?,
        };
        m.vs.copy(&self.vs)?;
        m.set_compute(self.compute);
        Ok(m)
    }

    /// SHA-256 of the spec and every weight (by name, as f32): two models with the same digest
    /// compute the same function. Resumable results fingerprint the model they start from with it.
    pub fn digest(&self) -> Result<String> {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(serde_json::to_string(&self.spec)?.as_bytes());
        let mut named: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, t) in &named {
            h.update(name.as_bytes());
            h.update(format!("{:?}", t.size()).as_bytes());
            crate::resume::hash_tensor(&mut h, t)?;
        }
        Ok(crate::resume::hex(&h.finalize()))
    }

    /// Saves the model atomically: our architectures as one `.safetensors` file with the weights
    /// and the spec; a TorchScript model as TorchScript (`.pt`) with its current weights.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let ext = path.extension().and_then(|e| e.to_str());
        if let Net::Script(net) = &self.net {
            if !matches!(ext, Some("pt" | "pth")) {
                return Err(Error::invalid(
                    "checkpoint path",
                    path.display(),
                    "a file name ending in .pt (a TorchScript model saves as TorchScript)",
                ));
            }
            return net.save(path);
        }
        if ext != Some("safetensors") {
            return Err(Error::invalid("checkpoint path", path.display(), "a file name ending in .safetensors"));
        }
        let mut named: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let mut owned = Vec::with_capacity(named.len());
        for (name, t) in &named {
            let t = t.f_detach()?.f_to_device(Device::Cpu)?.f_to_kind(Kind::Float)?.f_contiguous()?;
            let values = Vec::<f32>::try_from(&t.f_flatten(0, -1)?)?;
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
            owned.push((name.clone(), shape, bytes));
        }
        let views = owned
            .iter()
            .map(|(name, shape, bytes)| {
                let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .map_err(|e| Error::format(path, format!("safetensors: {e:?}")))?;
                Ok((name.clone(), view))
            })
            .collect::<Result<Vec<_>>>()?;
        // one metadata entry: safetensors serialises its (std) HashMap in a per-process random
        // order, so a second entry would make identical models give different files
        let meta = HashMap::from([(SPEC_KEY.to_string(), serde_json::to_string(&self.spec)?)]);
        let bytes = safetensors::tensor::serialize(views, &Some(meta))
            .map_err(|e| Error::format(path, format!("safetensors: {e:?}")))?;
        io::write_atomic(path, &bytes)
    }

    /// Loads a checkpoint written by [`Model::save`] onto `device`.
    pub fn load(path: impl AsRef<Path>, device: Device) -> Result<Model> {
        Self::load_safetensors(path.as_ref(), None, device)
    }

    /// Loads a PyTorch state dict saved as safetensors (`safetensors.torch.save_file(model.
    /// state_dict(), path)`) as a model of `spec`: the names, shapes and count of its tensors must
    /// be those of `spec`'s architecture, which are PyTorch's own for the modules of
    /// `examples/pytorch/unlearn_models.py` (a checkpoint of ours is such a state dict too).
    /// float16 and bfloat16 tensors are widened to float32.
    pub fn load_state_dict(path: impl AsRef<Path>, spec: ModelSpec, device: Device) -> Result<Model> {
        Self::load_safetensors(path.as_ref(), Some(spec), device)
    }

    fn load_safetensors(path: &Path, given: Option<ModelSpec>, device: Device) -> Result<Model> {
        let bytes = std::fs::read(path).map_err(crate::error::io_at(path))?;
        let bad = |msg: String| Error::format(path, msg);
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| bad(format!("not a readable safetensors file: {e:?}")))?;
        let spec = match given {
            Some(spec) => spec,
            None => {
                let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
                    .map_err(|e| bad(format!("bad safetensors header: {e:?}")))?;
                let spec_json = meta.metadata().as_ref().and_then(|m| m.get(SPEC_KEY)).ok_or_else(|| {
                    bad(format!(
                        "no `{SPEC_KEY}` in the header: not a checkpoint written by unlearn (a PyTorch state dict of one of its architectures loads with the architecture given: `arch`)"
                    ))
                })?;
                serde_json::from_str(spec_json).map_err(|e| bad(format!("bad model spec in the header: {e}")))?
            }
        };
        spec.check()?;
        // the spec decides what is allocated: it must not imply more parameters than the file
        // holds (a tampered header would otherwise allocate without bound)
        let floor = spec.min_params();
        if floor.saturating_mul(2) > bytes.len() as u128 {
            return Err(bad(format!(
                "a {} has at least {floor} parameters, more than the file's {} bytes hold",
                spec.name(),
                bytes.len()
            )));
        }
        let model = Self::build(spec, device, None)?;
        let vars = model.vs.variables();
        let in_file: std::collections::BTreeSet<String> = st.names().into_iter().cloned().collect();
        let wanted: std::collections::BTreeSet<String> = vars.keys().cloned().collect();
        let list = |v: Vec<&String>| {
            let shown: Vec<&str> = v.iter().take(5).map(|s| s.as_str()).collect();
            format!(
                "{}{}",
                shown.join(", "),
                if v.len() > 5 { format!(" and {} more", v.len() - 5) } else { String::new() }
            )
        };
        let missing: Vec<&String> = wanted.difference(&in_file).collect();
        let unexpected: Vec<&String> = in_file.difference(&wanted).collect();
        if !missing.is_empty() || !unexpected.is_empty() {
            let mut msg = format!("not the tensors of a {}:", model.spec.name());
            if !missing.is_empty() {
                msg.push_str(&format!(" missing {}", list(missing)));
            }
            if !unexpected.is_empty() {
                msg.push_str(&format!(" unexpected {}", list(unexpected)));
            }
            return Err(bad(msg));
        }
        tch::no_grad(|| -> Result<()> {
            for (name, mut var) in vars {
                let view = st.tensor(&name).map_err(|_| bad(format!("tensor `{name}` missing")))?;
                let kind = match view.dtype() {
                    safetensors::Dtype::F32 => Kind::Float,
                    safetensors::Dtype::F16 => Kind::Half,
                    safetensors::Dtype::BF16 => Kind::BFloat16,
                    other => return Err(bad(format!("tensor `{name}` is {other:?}, expected F32, F16 or BF16"))),
                };
                let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
                if shape != var.size() {
                    return Err(bad(format!(
                        "tensor `{name}` has shape {shape:?}, the model expects {:?}",
                        var.size()
                    )));
                }
                let t = Tensor::f_from_data_size(view.data(), &shape, kind)?.f_to_kind(Kind::Float)?;
                // a diverged run's weights load fine and then predict one class: refuse them
                if !bool::try_from(t.f_isfinite()?.f_all()?)? {
                    return Err(bad(format!(
                        "tensor `{name}` holds NaN or infinite values: the checkpoint comes from a run that diverged, or is damaged"
                    )));
                }
                var.f_copy_(&t)?;
            }
            Ok(())
        })?;
        Ok(model)
    }
}

/// Options of a model loaded from a file (the script function `load_model(path, data, options)`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelFileOptions {
    /// An untrained TorchScript model of the same architecture: what methods that train from
    /// scratch (Retrain, Bad-Teacher) start from.
    pub init: Option<std::path::PathBuf>,
    /// The architecture of a PyTorch state dict without unlearn's header (`convnet3`,
    /// `resnet18`, `resnet50`), with `width` and `depth` for a ConvNet.
    pub arch: Option<String>,
    pub width: Option<i64>,
    pub depth: Option<usize>,
}

/// Options of a new model (the script functions `convnet3()`, `model()`, ...).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelOptions {
    /// ConvNet channels per layer.
    pub width: i64,
    /// ConvNet layers.
    pub depth: usize,
    /// Seed of the initialisation; `None` takes the run's seed.
    pub seed: Option<u64>,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions { width: 128, depth: 3, seed: None }
    }
}

/// A model with what is known of it: the training runs of this session and where its weights
/// came from (what `print(model)` and a model's history show).
pub struct ModelState {
    pub model: Model,
    /// Training runs in this session (a loaded checkpoint's own training is not known).
    pub history: Vec<crate::train::TrainReport>,
    /// Where the weights came from, in words: "new", "loaded from PATH", "unlearned by METHOD".
    pub origin: String,
    /// The first entries of `history` that made the origin (an unlearning method's own run).
    pub origin_runs: usize,
}

impl ModelState {
    /// A model whose weights came from `origin`, with no training run yet.
    pub fn with_origin(model: Model, origin: impl Into<String>) -> Self {
        ModelState { model, history: Vec::new(), origin: origin.into(), origin_runs: 0 }
    }

    /// Where the weights come from and how much this session trained them, e.g. "loaded from
    /// m.safetensors, then trained 2 epoch(s)".
    pub fn provenance(&self) -> String {
        let epochs: usize = self.history.iter().skip(self.origin_runs).map(|h| h.epochs.len()).sum();
        match (self.origin.as_str(), epochs) {
            ("new", 0) => "untrained".into(),
            ("new", n) => format!("trained {n} epoch(s)"),
            (origin, 0) => origin.to_string(),
            (origin, n) => format!("{origin}, then trained {n} epoch(s)"),
        }
    }
}
