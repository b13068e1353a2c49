//! Script bindings for models (`src/models`) and training (`src/train`).
use super::data::shape_and_classes;
use super::options::{check_keys, int_or, parse};
use super::{ctx, rt, RhaiResult};
use crate::data::Dataset;
use crate::models::{Arch, Model, ModelFileOptions, ModelOptions, ModelSpec, ModelState};
use crate::train::{self, TrainConfig, TrainReport};
use rhai::plugin::*;
use rhai::{Array, CustomType, Dynamic, Map, TypeBuilder};
use std::cell::RefCell;
use std::rc::Rc;

/// A model as scripts see it: shared (a script variable and a copy of it are the same model;
/// `copy()` makes an independent one), with the history of its training runs.
#[derive(Clone)]
pub struct ModelHandle(pub Rc<RefCell<ModelState>>);

impl ModelHandle {
    /// A freshly initialised model.
    pub fn new(model: Model) -> Self {
        Self::with_origin(model, "new")
    }

    /// A model whose weights came from `origin` (shown by `print(model)`).
    pub fn with_origin(model: Model, origin: impl Into<String>) -> Self {
        ModelHandle(Rc::new(RefCell::new(ModelState::with_origin(model, origin))))
    }

    /// Where the weights come from and how much this session trained them
    /// ([`ModelState::provenance`]).
    pub fn provenance(&self) -> String {
        self.0.borrow().provenance()
    }
}

fn build(context: &NativeCallContext, func: &str, arch: Arch, data: &Dynamic, opts: &Map) -> RhaiResult<ModelHandle> {
    let c = ctx(context)?;
    let o: ModelOptions = parse(func, opts).map_err(rt)?;
    if arch != Arch::Convnet && (opts.contains_key("width") || opts.contains_key("depth")) {
        return Err(rt(format!("{func}(): options `width` and `depth` apply to convnet3 only")));
    }
    let (shape, classes) = shape_and_classes(data)?;
    let spec = ModelSpec::with_options(arch, shape, classes, &o, c.seed());
    Model::new(spec, c.device).map(ModelHandle::new).map_err(rt)
}

fn load(context: &NativeCallContext, path: &str, data: Option<&Dataset>, opts: &Map) -> RhaiResult<ModelHandle> {
    let o: ModelFileOptions = parse("load_model", opts).map_err(rt)?;
    let file = crate::script::allowed(context, path, "model file")?;
    let init = match &o.init {
        Some(p) => Some(crate::script::allowed(context, &p.to_string_lossy(), "init model file")?),
        None => None,
    };
    let c = ctx(context)?;
    let model = Model::load_file(&file, data, &ModelFileOptions { init, ..o }, c.device).map_err(rt)?;
    Ok(ModelHandle::with_origin(model, format!("loaded from {path}")))
}

fn history_to_dynamic(history: &[TrainReport]) -> RhaiResult<Dynamic> {
    rhai::serde::to_dynamic(history)
}

/// The options of `time_steps()`.
pub const TIME_STEPS_KEYS: [&str; 2] = ["batch_size", "steps"];

/// The option `train()` takes besides [`TrainConfig`]'s (the Dataset to keep the best epoch on).
pub const KEEP_BEST: &str = "keep_best";

#[export_module]
pub mod model_api {
    use super::*;

    /// ConvNet-3 with instance norm (method.md §1.2) for the images and classes of `data`
    /// (a DataSplit or a Dataset). Options: width (128), depth (3), seed (the run's seed).
    #[rhai_fn(name = "convnet3", return_raw)]
    pub fn convnet3_opts(context: NativeCallContext, data: Dynamic, options: Map) -> RhaiResult<ModelHandle> {
        build(&context, "convnet3", Arch::Convnet, &data, &options)
    }
    /// ConvNet-3 with instance norm and default options.
    #[rhai_fn(name = "convnet3", return_raw)]
    pub fn convnet3(context: NativeCallContext, data: Dynamic) -> RhaiResult<ModelHandle> {
        build(&context, "convnet3", Arch::Convnet, &data, &Map::new())
    }
    /// CIFAR ResNet-18 with instance norm (method.md §4.2) for `data`. Options: seed.
    #[rhai_fn(name = "resnet18", return_raw)]
    pub fn resnet18_opts(context: NativeCallContext, data: Dynamic, options: Map) -> RhaiResult<ModelHandle> {
        build(&context, "resnet18", Arch::Resnet18, &data, &options)
    }
    /// CIFAR ResNet-18 with instance norm and default options.
    #[rhai_fn(name = "resnet18", return_raw)]
    pub fn resnet18(context: NativeCallContext, data: Dynamic) -> RhaiResult<ModelHandle> {
        build(&context, "resnet18", Arch::Resnet18, &data, &Map::new())
    }
    /// CIFAR ResNet-50 with instance norm (method.md §4.2) for `data`. Options: seed.
    #[rhai_fn(name = "resnet50", return_raw)]
    pub fn resnet50_opts(context: NativeCallContext, data: Dynamic, options: Map) -> RhaiResult<ModelHandle> {
        build(&context, "resnet50", Arch::Resnet50, &data, &options)
    }
    /// CIFAR ResNet-50 with instance norm and default options.
    #[rhai_fn(name = "resnet50", return_raw)]
    pub fn resnet50(context: NativeCallContext, data: Dynamic) -> RhaiResult<ModelHandle> {
        build(&context, "resnet50", Arch::Resnet50, &data, &Map::new())
    }
    /// A model by architecture name ("convnet3", "resnet18", "resnet50") for `data`, with options.
    #[rhai_fn(name = "model", return_raw)]
    pub fn model_by_name(
        context: NativeCallContext,
        arch: &str,
        data: Dynamic,
        options: Map,
    ) -> RhaiResult<ModelHandle> {
        let a = Arch::parse(arch).map_err(rt)?;
        build(&context, arch, a, &data, &options)
    }
    /// Loads a checkpoint written by `save` (its architecture is read from the file).
    #[rhai_fn(return_raw)]
    pub fn load_model(context: NativeCallContext, path: &str) -> RhaiResult<ModelHandle> {
        load(&context, path, None, &Map::new())
    }
    /// Loads a model for `data`: a checkpoint written by `save` (checked against the data's
    /// channels and classes) or a classifier saved from PyTorch as TorchScript (.pt), checked on
    /// the data's image shape and class count. It runs in eval mode (batch-norm statistics stay
    /// as saved, dropout off) and `save(model, "out.pt")` writes it back as TorchScript.
    #[rhai_fn(name = "load_model", return_raw)]
    pub fn load_model_for(context: NativeCallContext, path: &str, data: Dataset) -> RhaiResult<ModelHandle> {
        load(&context, path, Some(&data), &Map::new())
    }
    /// load_model(path, data) with options: init (an untrained TorchScript model of the same
    /// architecture, what Retrain and Bad-Teacher start from); arch ("convnet3", "resnet18",
    /// "resnet50"), width, depth: the architecture of a PyTorch state dict (.safetensors) saved
    /// from the modules of examples/pytorch/unlearn_models.py.
    #[rhai_fn(name = "load_model", return_raw)]
    pub fn load_model_opts(
        context: NativeCallContext,
        path: &str,
        data: Dataset,
        options: Map,
    ) -> RhaiResult<ModelHandle> {
        load(&context, path, Some(&data), &options)
    }

    /// Trains the model in place on `data` with cross-entropy and returns it. Options: epochs (1),
    /// batch_size (64), optimizer ("sgd" | "adam"), lr (0.1), momentum (0.9), weight_decay (5e-4),
    /// schedule ("warmup_cosine" | "constant" | "multistep"), warmup_epochs (0), seed (the run's),
    /// progress (true), keep_best (a Dataset: evaluate on it after every epoch and keep the
    /// weights of the best epoch, recorded in the history, as the reference selects its original
    /// models on the test set).
    #[rhai_fn(name = "train", return_raw)]
    pub fn train_opts(
        context: NativeCallContext,
        model: ModelHandle,
        data: Dataset,
        options: Map,
    ) -> RhaiResult<ModelHandle> {
        crate::script::experiment_work(&context, "train()")?;
        let c = ctx(&context)?;
        let mut options = options;
        let select = match options.remove(KEEP_BEST) {
            None => None,
            Some(v) => match v.clone().try_cast::<Dataset>() {
                Some(d) => Some(d),
                None if v.as_bool() == Ok(false) => None,
                None => {
                    return Err(rt(format!(
                    "train(): `keep_best` is a {}, expected the Dataset to select the best epoch on (e.g. data.test)",
                    v.type_name()
                )))
                }
            },
        };
        let cfg: TrainConfig = parse("train", &options).map_err(rt)?;
        let seed = cfg.seed.unwrap_or(c.seed());
        {
            let mut state = model.0.borrow_mut();
            let report = match &select {
                Some(s) => train::train_keep_best(&mut state.model, &data, &cfg, seed, s),
                None => train::train(&mut state.model, &data, &cfg, seed),
            }
            .map_err(rt)?;
            state.history.push(report);
        }
        Ok(model)
    }
    /// Trains the model in place with the default options (one epoch) and returns it.
    #[rhai_fn(name = "train", return_raw)]
    pub fn train_default(context: NativeCallContext, model: ModelHandle, data: Dataset) -> RhaiResult<ModelHandle> {
        train_opts(context, model, data, Map::new())
    }
    /// Times training steps and forward passes of the model on `data` (on a copy; the model is
    /// not changed): #{ train_seconds_per_image, forward_seconds_per_image, batch_size, steps }.
    /// Options: batch_size (64), steps (10). What cost estimates extrapolate from.
    #[rhai_fn(return_raw)]
    pub fn time_steps(model: ModelHandle, data: Dataset, options: Map) -> RhaiResult<Dynamic> {
        check_keys("time_steps", &options, &TIME_STEPS_KEYS)?;
        let batch = int_or("time_steps", &options, "batch_size", 64)?.max(1) as usize;
        let steps = int_or("time_steps", &options, "steps", 10)?.max(1) as usize;
        let t = train::time_steps(&model.0.borrow().model, &data, batch, steps).map_err(rt)?;
        rhai::serde::to_dynamic(t)
    }
    /// Top-1 accuracy of the model on `data`, in [0, 1].
    #[rhai_fn(return_raw)]
    pub fn accuracy(model: ModelHandle, data: Dataset) -> RhaiResult<f64> {
        crate::train::eval::accuracy(&model.0.borrow().model, &data).map_err(rt)
    }

    /// Saves the model (weights and architecture) as a .safetensors file, atomically; returns the path.
    #[rhai_fn(name = "save", return_raw)]
    pub fn model_save(context: NativeCallContext, model: &mut ModelHandle, path: &str) -> RhaiResult<String> {
        crate::script::experiment_work(&context, "save()")?;
        let file = crate::script::allowed(&context, path, "checkpoint")?;
        model.0.borrow().model.save(&file).map_err(rt)?;
        Ok(path.to_string())
    }
    /// An independent copy of the model (same weights; training one does not change the other).
    #[rhai_fn(name = "copy", return_raw)]
    pub fn model_copy(model: &mut ModelHandle) -> RhaiResult<ModelHandle> {
        let m = model.0.borrow().model.try_clone().map_err(rt)?;
        let h = ModelHandle::with_origin(m, model.0.borrow().origin.clone());
        h.0.borrow_mut().history = model.0.borrow().history.clone();
        h.0.borrow_mut().origin_runs = model.0.borrow().origin_runs;
        Ok(h)
    }
    /// A copy that computes with `setting` ("fp32", "bf16", "cl" for channels-last, "bf16+cl"):
    /// the same weights and function up to rounding; unlearning it keeps the setting. bf16 keeps
    /// float32 parameters and optimiser updates (benches/RESULTS.md has its speed and metrics).
    #[rhai_fn(name = "with_compute", return_raw)]
    pub fn model_with_compute(model: &mut ModelHandle, setting: &str) -> RhaiResult<ModelHandle> {
        let compute = crate::models::Compute::parse(setting).map_err(rt)?;
        let copy = model_copy(model)?;
        copy.0.borrow_mut().model.set_compute(compute);
        Ok(copy)
    }
    /// Names of the architectures that `model(name, data, options)` builds.
    pub fn architectures() -> Array {
        arch_names()
    }
}

/// Model names accepted by `model(...)`.
pub fn arch_names() -> Array {
    Arch::NAMES.iter().map(|n| Dynamic::from(n.to_string())).collect()
}

/// How a Model prints (`print`, `debug`, string interpolation).
fn model_text(model: &mut ModelHandle) -> String {
    let provenance = model.provenance();
    let s = model.0.borrow();
    format!(
        "Model {} ({} params, {} classes, {provenance}, on {})",
        s.model.spec.name(),
        s.model.num_params(),
        s.model.spec.num_classes,
        crate::runtime::device_name(s.model.device())
    )
}

impl CustomType for ModelHandle {
    fn build(mut t: TypeBuilder<Self>) {
        t.with_name("Model")
            .with_get("compute", |model: &mut Self| -> String { model.0.borrow().model.compute().name() })
            .and_comments(&["/// How the model computes (\"fp32\", \"bf16\", \"cl\" or \"bf16+cl\")."])
            .with_get("params", |model: &mut Self| -> i64 { model.0.borrow().model.num_params() })
            .and_comments(&["/// Number of trainable parameters."])
            .with_get("arch", |model: &mut Self| -> String { model.0.borrow().model.spec.name() })
            .and_comments(&["/// Architecture description, e.g. \"ResNet-18 (instance norm)\"."])
            .with_get("history", |model: &mut Self| -> RhaiResult<Dynamic> {
                history_to_dynamic(&model.0.borrow().history)
            })
            .and_comments(&[
                "/// Training runs so far: an array of maps (config, seed, dataset, per-epoch loss/accuracy/time).",
            ])
            .on_print(model_text)
            .on_debug(model_text);
    }
}

super::binding_package!(
    /// The script functions and types of models and training.
    ModelsPackage,
    "models",
    model_api,
    [ModelHandle]
);
