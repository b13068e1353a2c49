//! Datasets on the device: images as one `N x C x H x W` float tensor (normalised with recorded
//! per-channel statistics), labels as one int64 tensor; batches are index selections.
pub mod builtin;
pub mod cifar;
pub mod idx;
pub mod image_folder;
pub mod loader;
pub mod mat;
pub mod mnist;
pub mod request;
pub mod source;
pub mod split;
pub mod svhn;
pub mod synthetic;
pub mod transform;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use tch::{Device, Kind, Tensor};

/// Per-channel normalisation `x' = (x - mean) / std`, with `x` in [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Normalization {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Normalization {
    /// Per-channel mean and (population) standard deviation of `images` (`N x C x H x W`, [0, 1]).
    pub fn of(images: &Tensor) -> Result<Self> {
        // no full-size copy: libtorch reduces float32 with pairwise/Welford accumulation
        let (std, mean) = images.f_std_mean_dim(&[0i64, 2, 3][..], false, false)?;
        let mean = Vec::<f64>::try_from(&mean.f_to_kind(Kind::Double)?)?;
        let mut std = Vec::<f64>::try_from(&std.f_to_kind(Kind::Double)?)?;
        // a constant channel would divide by zero
        for s in &mut std {
            if *s < 1e-8 {
                *s = 1.0;
            }
        }
        Ok(Normalization { mean, std })
    }

    /// Normalises `images` (in [0, 1]) in place, without a second copy of the data.
    fn apply_(&self, images: &mut Tensor) -> Result<()> {
        let (mean, std) = self.tensors(images)?;
        let _ = images.f_sub_(&mean)?;
        let _ = images.f_div_(&std)?;
        Ok(())
    }

    /// Undoes the normalisation: back to [0, 1].
    pub fn invert(&self, images: &Tensor) -> Result<Tensor> {
        let (mean, std) = self.tensors(images)?;
        Ok(images.f_mul(&std)?.f_add(&mean)?)
    }

    /// Mean and std as `1 x C x 1 x 1` tensors on the images' device.
    fn tensors(&self, images: &Tensor) -> Result<(Tensor, Tensor)> {
        let c = images.size()[1];
        if self.mean.len() as i64 != c || self.std.len() as i64 != c {
            return Err(Error::Shape(format!("normalisation has {} channels, images have {c}", self.mean.len())));
        }
        let shape = [1, c, 1, 1];
        let mean = Tensor::f_from_slice(&self.mean)?.f_to_kind(Kind::Float)?.f_view(shape)?;
        let std = Tensor::f_from_slice(&self.std)?.f_to_kind(Kind::Float)?.f_view(shape)?;
        Ok((mean.f_to_device(images.device())?, std.f_to_device(images.device())?))
    }

    /// Checks the statistics: one mean and one positive std per channel.
    pub fn check(&self, channels: usize) -> Result<()> {
        if self.mean.len() != channels || self.std.len() != channels {
            return Err(Error::invalid(
                "normalisation",
                format!("mean {:?}, std {:?}", self.mean, self.std),
                format!("{channels} values each (one per channel)"),
            ));
        }
        if let Some(s) = self.std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(Error::invalid("normalisation std", s, "positive finite values"));
        }
        Ok(())
    }
}

/// A labelled image dataset resident on one device.
///
/// Cloning is cheap: tensors are shared (`shallow_clone`), never copied.
#[derive(Debug)]
pub struct Dataset {
    /// Short name, e.g. `mnist-builtin/train`.
    pub name: String,
    /// Where the data came from (a path or a generator description).
    pub source: String,
    images: Tensor,
    labels: Tensor,
    labels_host: Arc<Vec<i64>>,
    classes: Arc<Vec<String>>,
    norm: Normalization,
}

impl Clone for Dataset {
    fn clone(&self) -> Self {
        Dataset {
            name: self.name.clone(),
            source: self.source.clone(),
            images: self.images.shallow_clone(),
            labels: self.labels.shallow_clone(),
            labels_host: self.labels_host.clone(),
            classes: self.classes.clone(),
            norm: self.norm.clone(),
        }
    }
}

impl Dataset {
    /// Builds a dataset from 8-bit pixels in `N x C x H x W` order.
    ///
    /// `norm`: the statistics to normalise with; `None` computes them from these images.
    #[allow(clippy::too_many_arguments)]
    pub fn from_u8(
        name: impl Into<String>,
        source: impl Into<String>,
        pixels: &[u8],
        shape: [usize; 4],
        labels: Vec<i64>,
        classes: Vec<String>,
        norm: Option<Normalization>,
        device: Device,
    ) -> Result<Self> {
        let images = unit_images(pixels, shape, device)?;
        Self::from_unit_tensor(name, source, images, labels, classes, norm)
    }

    /// Builds a dataset from float images in [0, 1] (`N x C x H x W`, on the target device).
    /// The tensor is normalised in place: pass a copy if you keep using it.
    pub fn from_unit_tensor(
        name: impl Into<String>,
        source: impl Into<String>,
        images: Tensor,
        labels: Vec<i64>,
        classes: Vec<String>,
        norm: Option<Normalization>,
    ) -> Result<Self> {
        let size = images.size();
        if size.len() != 4 || size[0] as usize != labels.len() {
            return Err(Error::Shape(format!(
                "images {size:?} for {} labels: expected N x C x H x W with N = labels",
                labels.len()
            )));
        }
        let k = classes.len() as i64;
        if let Some((i, &bad)) = labels.iter().enumerate().find(|(_, &l)| l < 0 || l >= k) {
            return Err(Error::invalid(format!("label of item {i}"), bad, format!("a class index in 0..{k}")));
        }
        let norm = match norm {
            Some(n) => n,
            None => Normalization::of(&images)?,
        };
        let mut images = images;
        norm.apply_(&mut images)?;
        let labels_t = Tensor::f_from_slice(&labels)?.f_to_device(images.device())?;
        Ok(Dataset {
            name: name.into(),
            source: source.into(),
            images,
            labels: labels_t,
            labels_host: Arc::new(labels),
            classes: Arc::new(classes),
            norm,
        })
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.labels_host.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels_host.is_empty()
    }
    /// `[C, H, W]` of one image.
    pub fn image_shape(&self) -> [i64; 3] {
        let s = self.images.size();
        [s[1], s[2], s[3]]
    }
    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }
    pub fn classes(&self) -> &[String] {
        &self.classes
    }
    pub fn normalization(&self) -> &Normalization {
        &self.norm
    }
    pub fn device(&self) -> Device {
        self.images.device()
    }
    /// The normalised images, `N x C x H x W` float.
    pub fn images(&self) -> &Tensor {
        &self.images
    }
    /// The labels, `N` int64, on the dataset's device.
    pub fn labels(&self) -> &Tensor {
        &self.labels
    }
    /// The labels, on the host (used for splits and requests without a device round-trip).
    pub fn labels_host(&self) -> &[i64] {
        &self.labels_host
    }

    /// SHA-256 of the content: shape, normalised images (as f32), labels and class names. Two
    /// datasets with the same digest hold the same items in the same order (resumable results
    /// fingerprint their data with it).
    pub fn digest(&self) -> Result<String> {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(format!("{:?} {:?}", self.images.size(), self.classes).as_bytes());
        for l in self.labels_host.iter() {
            h.update(l.to_le_bytes());
        }
        // in chunks, so a large set never needs a second full copy on the host
        let n = self.len() as i64;
        let chunk = 4096;
        let mut start = 0;
        while start < n {
            crate::resume::hash_tensor(&mut h, &self.images.f_narrow(0, start, chunk.min(n - start))?)?;
            start += chunk;
        }
        Ok(crate::resume::hex(&h.finalize()))
    }

    /// One 64-bit signature per item, computed on the device from the exact bits of its image:
    /// the images' f32 bit patterns weighted by fixed pseudo-random integers and summed with
    /// wrapping integer arithmetic, so equal images give equal signatures whatever the order,
    /// batching or thread count, and different images collide with probability about 2^-64.
    fn item_signatures(&self) -> Result<Tensor> {
        let n = self.len() as i64;
        let flat = self.images.f_to_kind(tch::Kind::Float)?.f_contiguous()?.f_reshape([n, -1])?;
        let d = flat.size()[1];
        // fixed odd weights from a splitmix64 stream (not a run's seed: signatures must agree
        // between runs)
        let w: Vec<i64> = (0..d as u64)
            .map(|i| {
                (split::splitmix64(0x005E_ED0F_5167u64.wrapping_add(i.wrapping_mul(split::GOLDEN_GAMMA))) | 1) as i64
            })
            .collect();
        let w = Tensor::f_from_slice(&w)?.f_to_device(self.device())?;
        let bits = flat.f_view_dtype(tch::Kind::Int)?.f_to_kind(tch::Kind::Int64)?;
        Ok(bits.f_mul(&w.f_unsqueeze(0)?)?.f_sum_dim_intlist(&[1i64][..], false, tch::Kind::Int64)?)
    }

    /// How many items of `self` have an image identical to one of `other`'s (by 64-bit
    /// signatures of the images' exact bits, computed on the device).
    pub fn count_shared_items(&self, other: &Dataset) -> Result<usize> {
        if self.is_empty() || other.is_empty() || self.image_shape() != other.image_shape() {
            return Ok(0);
        }
        let a = self.item_signatures()?;
        let b = other.item_signatures()?.f_to_device(a.device())?;
        Ok(Tensor::f_isin(&a, &b, false, false)?.f_sum(tch::Kind::Int64)?.f_int64_value(&[])? as usize)
    }

    /// Items per class, in class order.
    pub fn class_counts(&self) -> Vec<usize> {
        self.count_classes(self.labels_host.iter())
    }

    /// Items per class among `indices` (in range), in class order: the class counts of
    /// `subset(indices)` without making it.
    pub fn class_counts_of(&self, indices: &[i64]) -> Vec<usize> {
        self.count_classes(indices.iter().map(|&i| &self.labels_host[i as usize]))
    }

    fn count_classes<'a>(&self, labels: impl Iterator<Item = &'a i64>) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes()];
        for &l in labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// `n` items that keep every class in its share ([`split::apportion`]: n·N_k/N rounded by
    /// largest remainders). Within a class its first items are taken, and the result keeps this dataset's order,
    /// so on data stored in a random order it is about the prefix, and on class-ordered data
    /// (image folders) it still holds every class.
    pub fn take_stratified(&self, n: usize) -> Result<Dataset> {
        let total = self.len();
        if n == 0 || n > total {
            return Err(Error::invalid(
                "number of items to take",
                n,
                format!("1..={total} (the items of {})", self.name),
            ));
        }
        let counts = self.class_counts();
        let quota = split::apportion(&counts, n as f64 / total as f64);
        let mut taken = vec![0usize; counts.len()];
        let mut idx = Vec::with_capacity(n);
        for (i, &l) in self.labels_host.iter().enumerate() {
            let k = l as usize;
            if taken[k] < quota[k] {
                taken[k] += 1;
                idx.push(i as i64);
            }
        }
        self.subset(&idx, format!("{}[{n} stratified]", self.name))
    }

    /// At most `max` items of every class: a seeded random choice within each class larger than
    /// that (the reference's SVHN cap of 4,500 per class takes the first items of a shuffled
    /// loader), the rest whole; the result keeps this dataset's order.
    pub fn cap_per_class(&self, max: usize, seed: u64) -> Result<Dataset> {
        if max == 0 {
            return Err(Error::invalid("items per class", 0, "at least 1"));
        }
        let keep: Vec<i64> =
            split::capped(&self.labels_host, self.num_classes(), max, seed).into_iter().map(|i| i as i64).collect();
        self.subset(&keep, format!("{}[at most {max} per class]", self.name))
    }

    /// The items at `indices` (positions in this dataset), in that order.
    pub fn subset(&self, indices: &[i64], name: impl Into<String>) -> Result<Dataset> {
        let n = self.len() as i64;
        if let Some(&bad) = indices.iter().find(|&&i| i < 0 || i >= n) {
            return Err(Error::invalid("index", bad, format!("an item index in 0..{n} of {}", self.name)));
        }
        let idx = Tensor::f_from_slice(indices)?.f_to_device(self.device())?;
        Ok(Dataset {
            name: name.into(),
            source: self.source.clone(),
            images: self.images.f_index_select(0, &idx)?,
            labels: self.labels.f_index_select(0, &idx)?,
            labels_host: Arc::new(indices.iter().map(|&i| self.labels_host[i as usize]).collect()),
            classes: self.classes.clone(),
            norm: self.norm.clone(),
        })
    }

    /// New items in this dataset's normalised space (same classes and normalisation), e.g.
    /// synthetic images made from its items.
    pub fn derived(&self, name: impl Into<String>, images: Tensor, labels: Vec<i64>) -> Result<Dataset> {
        let s = images.size();
        if s.len() != 4 || s[1..] != self.image_shape() || s[0] as usize != labels.len() {
            return Err(Error::Shape(format!(
                "derived images {s:?} with {} labels: expected N x {:?}",
                labels.len(),
                self.image_shape()
            )));
        }
        let k = self.num_classes() as i64;
        if let Some(&bad) = labels.iter().find(|&&l| l < 0 || l >= k) {
            return Err(Error::invalid("label", bad, format!("a class in 0..{k}")));
        }
        Ok(Dataset {
            name: name.into(),
            source: self.source.clone(),
            images: images.f_to_device(self.device())?,
            labels: Tensor::f_from_slice(&labels)?.f_to_device(self.device())?,
            labels_host: Arc::new(labels),
            classes: self.classes.clone(),
            norm: self.norm.clone(),
        })
    }

    /// This dataset's items followed by `other`'s (same classes, normalisation and shape).
    pub fn concat(&self, other: &Dataset, name: impl Into<String>) -> Result<Dataset> {
        if other.classes != self.classes || other.norm != self.norm || other.image_shape() != self.image_shape() {
            return Err(Error::Shape(format!(
                "cannot concatenate {} and {}: classes, normalisation and image shape must agree",
                self.name, other.name
            )));
        }
        let mut labels = self.labels_host.to_vec();
        labels.extend_from_slice(&other.labels_host);
        let images = Tensor::f_cat(&[&self.images, &other.images.f_to_device(self.device())?], 0)?;
        self.derived(name, images, labels)
    }

    /// Moves the dataset to `device`.
    pub fn to_device(&self, device: Device) -> Result<Dataset> {
        let mut d = self.clone();
        d.images = self.images.f_to_device(device)?;
        d.labels = self.labels.f_to_device(device)?;
        Ok(d)
    }

    /// A short multi-line description: size, shape, normalisation and items per class.
    pub fn describe(&self) -> String {
        let [c, h, w] = self.image_shape();
        let mut out = format!(
            "{}: {} images of {c}x{h}x{w}, {} classes, on {}\n  source: {}\n  normalisation: mean {:?}, std {:?}\n  per class:",
            self.name,
            self.len(),
            self.num_classes(),
            crate::runtime::device_name(self.device()),
            self.source,
            self.norm.mean.iter().map(|v| (v * 1e4).round() / 1e4).collect::<Vec<_>>(),
            self.norm.std.iter().map(|v| (v * 1e4).round() / 1e4).collect::<Vec<_>>(),
        );
        for (name, count) in self.classes.iter().zip(self.class_counts()) {
            out.push_str(&format!(" {name}:{count}"));
        }
        out
    }
}

/// A train/test pair from one source, normalised with the train part's statistics.
#[derive(Debug, Clone)]
pub struct DataSplit {
    pub name: String,
    pub train: Dataset,
    pub test: Dataset,
}

impl DataSplit {
    pub fn describe(&self) -> String {
        format!("{}\n{}\n{}", self.name, self.train.describe(), self.test.describe())
    }

    /// `train` training and `test` test items for a quick run, each class keeping its share
    /// ([`Dataset::take_stratified`]).
    pub fn take(&self, train: usize, test: usize) -> Result<DataSplit> {
        let part = |d: &Dataset, n: usize, what: &str| -> Result<Dataset> {
            if n < 1 || n > d.len() {
                return Err(Error::BadOption {
                    func: "take".into(),
                    key: what.into(),
                    msg: format!("size {n} is not in 1..={}", d.len()),
                });
            }
            d.take_stratified(n)
        };
        Ok(DataSplit {
            name: format!("{} ({train}/{test})", self.name),
            train: part(&self.train, train, "train")?,
            test: part(&self.test, test, "test")?,
        })
    }
}

/// method.md §4.1's split of a test set: `unseen` is A-AMU's reference of unseen data and
/// nothing else; `evaluation` is for test accuracy and the MIA.
#[derive(Debug, Clone)]
pub struct ReferenceSplit {
    pub unseen: Dataset,
    pub evaluation: Dataset,
}

/// Options of [`Dataset::reference_split`]: 70 % unseen / 30 % evaluation by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReferenceSplitOptions {
    /// Fraction in the unseen reference part (A-AMU only).
    pub fraction: f64,
    /// Seed of the draw; `None` takes the caller's.
    pub seed: Option<u64>,
    /// The reference code draws a plain random split (false); true draws per class.
    pub stratified: bool,
}

impl Default for ReferenceSplitOptions {
    fn default() -> Self {
        ReferenceSplitOptions { fraction: 0.7, seed: None, stratified: false }
    }
}

/// Options every file loader takes (script option maps deserialise into this).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadOptions {
    /// Per-channel mean to normalise with (needs `std` too). Default: the training part's own.
    pub mean: Option<Vec<f64>>,
    /// Per-channel standard deviation to normalise with (needs `mean` too).
    pub std: Option<Vec<f64>>,
    /// Convert the images to this many channels (1 or 3).
    pub channels: Option<i64>,
    /// Resize the images to `size x size`.
    pub size: Option<i64>,
    /// Where the loader may read (every file it opens is checked); not an option of scripts:
    /// their run's policy is set by the binding.
    #[serde(skip)]
    pub paths: crate::paths::PathPolicy,
}

impl LoadOptions {
    /// The same options, reading only where `paths` allows.
    pub fn under(&self, paths: &crate::paths::PathPolicy) -> LoadOptions {
        LoadOptions { paths: paths.clone(), ..self.clone() }
    }

    /// The given normalisation, if any, checked against `channels`.
    pub fn normalization(&self, channels: usize) -> Result<Option<Normalization>> {
        match (&self.mean, &self.std) {
            (None, None) => Ok(None),
            (Some(mean), Some(std)) => {
                let n = Normalization { mean: mean.clone(), std: std.clone() };
                n.check(channels)?;
                Ok(Some(n))
            }
            _ => Err(Error::invalid("normalisation", "only one of mean/std", "both `mean` and `std`, or neither")),
        }
    }

    /// Applies the channel and size conversions to unit-scale images.
    pub fn convert(&self, images: Tensor) -> Result<Tensor> {
        let mut images = images;
        if let Some(c) = self.channels {
            images = transform::to_channels(&images, c)?;
        }
        if let Some(s) = self.size {
            images = transform::resize(&images, s, s)?;
        }
        Ok(images)
    }
}

/// 8-bit pixels (`N x C x H x W`) to a unit-scale float tensor on `device`, checking first that
/// the device has room for it (the upload is done in bytes, the conversion on the device).
fn unit_images(pixels: &[u8], shape: [usize; 4], device: Device) -> Result<Tensor> {
    let [n, c, h, w] = shape;
    if pixels.len() != n * c * h * w {
        return Err(Error::Shape(format!("{} pixels for {n}x{c}x{h}x{w} images", pixels.len())));
    }
    let what = format!("{n} images of {c}x{h}x{w} as float32");
    // float copy plus the bytes being converted
    crate::runtime::ensure_fits(device, (pixels.len() * 5) as u64, &what)?;
    let run = || -> Result<Tensor> {
        let bytes = Tensor::f_from_slice(pixels)?.f_view([n as i64, c as i64, h as i64, w as i64])?;
        let mut images = bytes.f_to_device(device)?.f_to_kind(Kind::Float)?;
        let _ = images.f_div_scalar_(255.0)?;
        Ok(images)
    };
    run().map_err(|e| crate::runtime::explain_alloc_error(e, device, (pixels.len() * 4) as u64, &what))
}

/// A train/test pair from 8-bit pixels of the same image shape `[C, H, W]`, converted and
/// normalised as `opts` says (default: the train part's own statistics, applied to both).
#[allow(clippy::too_many_arguments)]
pub fn from_u8_split(
    name: &str,
    source: &Path,
    train: (Vec<u8>, Vec<i64>),
    test: (Vec<u8>, Vec<i64>),
    shape: [usize; 3],
    classes: Vec<String>,
    opts: &LoadOptions,
    device: Device,
) -> Result<DataSplit> {
    let [c, h, w] = shape;
    let source = source.display().to_string();
    let part = |(pixels, labels): (Vec<u8>, Vec<i64>)| -> Result<(Tensor, Vec<i64>)> {
        let images = unit_images(&pixels, [labels.len(), c, h, w], device)?;
        drop(pixels);
        Ok((opts.convert(images)?, labels))
    };
    let (train_images, train_labels) = part(train)?;
    let channels = train_images.size()[1] as usize;
    let given = opts.normalization(channels)?;
    let train = Dataset::from_unit_tensor(
        format!("{name}/train"),
        &source,
        train_images,
        train_labels,
        classes.clone(),
        given,
    )?;
    let norm = train.normalization().clone();
    let (test_images, test_labels) = part(test)?;
    let test =
        Dataset::from_unit_tensor(format!("{name}/test"), &source, test_images, test_labels, classes, Some(norm))?;
    Ok(DataSplit { name: name.into(), train, test })
}

impl Dataset {
    /// The same items with `channels` channels (1 or 3); the normalisation follows (a gray
    /// channel's statistics are repeated, RGB statistics are recomputed for the luma).
    pub fn with_channels(&self, channels: i64) -> Result<Dataset> {
        if self.image_shape()[0] == channels {
            return Ok(self.clone());
        }
        let unit = transform::to_channels(&self.norm.invert(&self.images)?, channels)?;
        let norm = if channels == 3 {
            Normalization { mean: vec![self.norm.mean[0]; 3], std: vec![self.norm.std[0]; 3] }
        } else {
            Normalization::of(&unit)?
        };
        self.replace_images(unit, norm)
    }

    /// The same items resized to `h x w` (bilinear, antialiased when shrinking), same normalisation.
    pub fn resized(&self, h: i64, w: i64) -> Result<Dataset> {
        let unit = transform::resize(&self.norm.invert(&self.images)?, h, w)?;
        self.replace_images(unit, self.norm.clone())
    }

    fn replace_images(&self, unit: Tensor, norm: Normalization) -> Result<Dataset> {
        let mut images = unit;
        norm.apply_(&mut images)?;
        let mut d = self.clone();
        d.images = images;
        d.norm = norm;
        Ok(d)
    }

    /// Splits the items into two parts with `fraction` of them in the first, seeded; stratified
    /// (the same fraction of every class) or a plain random split. Both parts keep item order.
    /// method.md §4.1's split of this test set into an unseen reference and an evaluation part
    /// (`seed` where the options give none).
    pub fn reference_split(&self, options: &ReferenceSplitOptions, seed: u64) -> Result<ReferenceSplit> {
        let (unseen, evaluation) = self.split(options.fraction, options.stratified, options.seed.unwrap_or(seed))?;
        Ok(ReferenceSplit { unseen, evaluation })
    }

    pub fn split(&self, fraction: f64, stratified: bool, seed: u64) -> Result<(Dataset, Dataset)> {
        let (a, b) = if stratified {
            split::stratified_split(self.labels_host(), self.num_classes(), fraction, seed)?
        } else {
            split::random_split(self.len(), fraction, seed)?
        };
        if a.is_empty() || b.is_empty() {
            return Err(Error::invalid(
                "split fraction",
                fraction,
                format!("a fraction that leaves items in both parts of {} ({} items)", self.name, self.len()),
            ));
        }
        let pct = (fraction * 100.0).round();
        Ok((
            self.subset(&a, format!("{}[{pct}%]", self.name))?,
            self.subset(&b, format!("{}[{}%]", self.name, 100.0 - pct))?,
        ))
    }
}
