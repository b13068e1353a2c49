//! Synthetic class-structured images of any shape, seeded: for tests, teaching and GPU
//! benchmarks where no real data can travel.
//!
//! Each class has a smooth random prototype (random values on a 4x4 grid per channel, upsampled
//! bilinearly). An image of class c is `separation * prototype_c + (1 - separation) * noise`
//! with uniform per-pixel noise, so `separation` sets how easy the classes are to tell apart.
//! All random values come from one seeded host generator: the same seed gives the same images on
//! every device.
use super::split::rng;
use super::{DataSplit, Dataset, LoadOptions};
use crate::error::{Error, Result};
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyntheticOptions {
    pub train: usize,
    pub test: usize,
    pub classes: usize,
    pub channels: i64,
    pub height: i64,
    pub width: i64,
    /// Weight of the class prototype against the noise, in [0, 1].
    pub separation: f64,
    pub seed: u64,
}

impl Default for SyntheticOptions {
    /// CIFAR-10's shape and size.
    fn default() -> Self {
        SyntheticOptions {
            train: 50_000,
            test: 10_000,
            classes: 10,
            channels: 3,
            height: 32,
            width: 32,
            separation: 0.5,
            seed: 0,
        }
    }
}

impl SyntheticOptions {
    pub fn check(&self) -> Result<()> {
        let bad = |key: &str, v: String, exp: &str| {
            Err(Error::BadOption { func: "synthetic".into(), key: key.into(), msg: format!("{v}: expected {exp}") })
        };
        if self.train == 0 || self.test == 0 {
            return bad("train/test", format!("{}/{}", self.train, self.test), "at least 1 image in each part");
        }
        if self.classes < 2 {
            return bad("classes", self.classes.to_string(), "at least 2");
        }
        if !(1..=4).contains(&self.channels) || self.height < 1 || self.width < 1 {
            return bad(
                "channels/height/width",
                format!("{}/{}/{}", self.channels, self.height, self.width),
                "1 to 4 channels and a positive size",
            );
        }
        if !(0.0..=1.0).contains(&self.separation) {
            return bad("separation", self.separation.to_string(), "a value in [0, 1]");
        }
        Ok(())
    }
}

/// Generates `n` images with balanced labels in a random order; returns unit-scale images.
fn generate(
    o: &SyntheticOptions,
    prototypes: &Tensor,
    n: usize,
    rng: &mut rand_chacha::ChaCha8Rng,
    device: Device,
) -> Result<(Tensor, Vec<i64>)> {
    let mut labels: Vec<i64> = (0..n as i64).map(|i| i % o.classes as i64).collect();
    labels.shuffle(rng);
    let item = (o.channels * o.height * o.width) as usize;
    // noise in chunks, uploaded as we go, so the host never holds more than one chunk
    let chunk = (1usize << 24) / item.max(1) + 1;
    let mut parts = Vec::new();
    let mut done = 0;
    while done < n {
        let m = chunk.min(n - done);
        let noise: Vec<f32> = (0..m * item).map(|_| rng.random::<f32>()).collect();
        parts.push(
            Tensor::f_from_slice(&noise)?.f_view([m as i64, o.channels, o.height, o.width])?.f_to_device(device)?,
        );
        done += m;
    }
    let noise = Tensor::f_cat(&parts, 0)?;
    drop(parts);
    let idx = Tensor::f_from_slice(&labels)?.f_to_device(device)?;
    let proto = prototypes.f_index_select(0, &idx)?;
    let s = o.separation;
    let images = proto.f_mul_scalar(s)?.f_add(&noise.f_mul_scalar(1.0 - s)?)?.f_clamp(0.0, 1.0)?;
    Ok((images, labels))
}

/// A synthetic train/test pair (normalised with the train part's statistics).
pub fn synthetic(o: &SyntheticOptions, opts: &LoadOptions, device: Device) -> Result<DataSplit> {
    o.check()?;
    // before any allocation
    let item = (o.channels * o.height * o.width) as u64;
    let images = (o.train + o.test) as u64;
    let what = format!("{images} synthetic images of {}x{}x{}", o.channels, o.height, o.width);
    // (float32 images, their noise while being generated, labels)
    crate::runtime::ensure_fits(device, images.saturating_mul(item * 8 + 8), &what)?;
    let mut rng = rng(o.seed);
    let grid: Vec<f32> = (0..o.classes as i64 * o.channels * 16).map(|_| rng.random::<f32>()).collect();
    let prototypes = Tensor::f_from_slice(&grid)?
        .f_view([o.classes as i64, o.channels, 4, 4])?
        .f_to_device(device)?
        .f_upsample_bilinear2d([o.height, o.width], false, None, None)?;
    let classes: Vec<String> = (0..o.classes).map(|c| format!("class{c}")).collect();
    let source = format!(
        "synthetic {}x{}x{}, {} classes, separation {}, seed {}",
        o.channels, o.height, o.width, o.classes, o.separation, o.seed
    );
    let (train_images, train_labels) = generate(o, &prototypes, o.train, &mut rng, device)?;
    let (test_images, test_labels) = generate(o, &prototypes, o.test, &mut rng, device)?;
    let train_images = opts.convert(train_images)?;
    let given = opts.normalization(train_images.size()[1] as usize)?;
    let train =
        Dataset::from_unit_tensor("synthetic/train", &source, train_images, train_labels, classes.clone(), given)?;
    let norm = train.normalization().clone();
    let test = Dataset::from_unit_tensor(
        "synthetic/test",
        &source,
        opts.convert(test_images)?,
        test_labels,
        classes,
        Some(norm),
    )?;
    Ok(DataSplit { name: "synthetic".into(), train, test })
}
