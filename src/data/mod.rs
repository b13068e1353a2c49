//! Datasets on the device: images as one `N x C x H x W` float tensor (normalised with recorded
//! per-channel statistics), labels as one int64 tensor; batches are index selections.
pub mod builtin;
pub mod idx;
pub mod loader;
pub mod mnist;
pub mod split;

use crate::error::{Error, Result};
use serde::Serialize;
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
        let mean = images.f_mean_dim(&[0i64, 2, 3][..], false, Kind::Double)?;
        let std = images.f_to_kind(Kind::Double)?.f_std_dim(&[0i64, 2, 3][..], false, false)?;
        let mean = Vec::<f64>::try_from(&mean)?;
        let mut std = Vec::<f64>::try_from(&std)?;
        // a constant channel would divide by zero
        for s in &mut std {
            if *s < 1e-8 {
                *s = 1.0;
            }
        }
        Ok(Normalization { mean, std })
    }

    /// Applies the normalisation to `images` in [0, 1].
    pub fn apply(&self, images: &Tensor) -> Result<Tensor> {
        let c = images.size()[1];
        if self.mean.len() as i64 != c || self.std.len() as i64 != c {
            return Err(Error::Shape(format!("normalisation has {} channels, images have {c}", self.mean.len())));
        }
        let shape = [1, c, 1, 1];
        let mean = Tensor::f_from_slice(&self.mean)?.f_to_kind(Kind::Float)?.f_view(shape)?;
        let std = Tensor::f_from_slice(&self.std)?.f_to_kind(Kind::Float)?.f_view(shape)?;
        let mean = mean.f_to_device(images.device())?;
        let std = std.f_to_device(images.device())?;
        Ok(images.f_sub(&mean)?.f_div(&std)?)
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
        let [n, c, h, w] = shape;
        if pixels.len() != n * c * h * w {
            return Err(Error::Shape(format!("{} pixels for {n}x{c}x{h}x{w} images", pixels.len())));
        }
        let images = Tensor::f_from_slice(pixels)?
            .f_view([n as i64, c as i64, h as i64, w as i64])?
            .f_to_device(device)?
            .f_to_kind(Kind::Float)?
            .f_div_scalar(255.0)?;
        Self::from_unit_tensor(name, source, images, labels, classes, norm)
    }

    /// Builds a dataset from float images in [0, 1] (`N x C x H x W`, on the target device).
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
        let images = norm.apply(&images)?;
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

    /// Items per class, in class order.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes()];
        for &l in self.labels_host.iter() {
            counts[l as usize] += 1;
        }
        counts
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
}
