//! CIFAR-10 and CIFAR-100, binary versions.
//!
//! CIFAR-10 (`cifar-10-batches-bin/`): `data_batch_1.bin` … `data_batch_5.bin` and
//! `test_batch.bin`, each a run of 3073-byte records: 1 label byte, then 3072 pixel bytes (1024 red,
//! 1024 green, 1024 blue, each 32x32 row-major). Class names come from `batches.meta.txt`.
//!
//! CIFAR-100 (`cifar-100-binary/`): `train.bin` and `test.bin`, 3074-byte records: coarse label,
//! fine label, 3072 pixels. Class names from `fine_label_names.txt` / `coarse_label_names.txt`.
use super::{from_u8_split, LoadOptions};
use crate::data::DataSplit;
use crate::error::{io_at, Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::Device;

const PIXELS: usize = 3 * 32 * 32;
const CIFAR10_CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

/// Reads records of `header + 3072` bytes; returns pixels and the label at `label_at`.
fn read_records(
    path: &Path,
    header: usize,
    label_at: usize,
    classes: usize,
    expect_hint: &str,
) -> Result<(Vec<u8>, Vec<i64>)> {
    let bytes = std::fs::read(path).map_err(io_at(path))?;
    let record = header + PIXELS;
    if bytes.is_empty() || bytes.len() % record != 0 {
        return Err(Error::format(
            path,
            format!(
                "expected a whole number of {record}-byte records ({expect_hint}), found {} bytes (truncated?)",
                bytes.len()
            ),
        ));
    }
    let n = bytes.len() / record;
    let mut pixels = Vec::with_capacity(n * PIXELS);
    let mut labels = Vec::with_capacity(n);
    for (i, r) in bytes.chunks_exact(record).enumerate() {
        let label = r[label_at] as usize;
        if label >= classes {
            return Err(Error::format(path, format!("record {i}: label {label} is out of range 0..{classes}")));
        }
        labels.push(label as i64);
        pixels.extend_from_slice(&r[header..]);
    }
    Ok((pixels, labels))
}

/// Class names from a text file with one name per line, or `fallback`.
fn class_names(
    path: &Path,
    count: usize,
    fallback: impl Fn(usize) -> String,
    paths: &crate::paths::PathPolicy,
) -> Result<Vec<String>> {
    if !path.is_file() {
        return Ok((0..count).map(fallback).collect());
    }
    paths.check_file(path, "dataset file")?;
    let text = std::fs::read_to_string(path).map_err(io_at(path))?;
    let names: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    if names.len() != count {
        return Err(Error::format(path, format!("{} class names, expected {count}", names.len())));
    }
    Ok(names)
}

fn require(path: PathBuf, paths: &crate::paths::PathPolicy) -> Result<PathBuf> {
    if path.is_file() {
        paths.check_file(&path, "dataset file")?;
        Ok(path)
    } else {
        Err(Error::format(&path, "missing (see the README for the expected CIFAR folder layout)"))
    }
}

/// Loads the CIFAR-10 binary version from its folder.
pub fn load_cifar10(dir: impl AsRef<Path>, opts: &LoadOptions, device: Device) -> Result<DataSplit> {
    let dir = dir.as_ref();
    let hint = "a CIFAR-10 batch is 10000 records = 30730000 bytes";
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for b in 1..=5 {
        let (p, l) = read_records(&require(dir.join(format!("data_batch_{b}.bin")), &opts.paths)?, 1, 0, 10, hint)?;
        pixels.extend_from_slice(&p);
        labels.extend(l);
    }
    let (test_pixels, test_labels) = read_records(&require(dir.join("test_batch.bin"), &opts.paths)?, 1, 0, 10, hint)?;
    let classes = class_names(&dir.join("batches.meta.txt"), 10, |i| CIFAR10_CLASSES[i].to_string(), &opts.paths)?;
    let shape = [3, 32, 32];
    from_u8_split("cifar10", dir, (pixels, labels), (test_pixels, test_labels), shape, classes, opts, device)
}

/// Which CIFAR-100 labels to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Cifar100Labels {
    /// The 100 fine classes.
    #[default]
    Fine,
    /// The 20 superclasses.
    Coarse,
}

/// Loads the CIFAR-100 binary version from its folder.
pub fn load_cifar100(
    dir: impl AsRef<Path>,
    labels: Cifar100Labels,
    opts: &LoadOptions,
    device: Device,
) -> Result<DataSplit> {
    let dir = dir.as_ref();
    let (label_at, count, names_file) = match labels {
        Cifar100Labels::Coarse => (0, 20, "coarse_label_names.txt"),
        Cifar100Labels::Fine => (1, 100, "fine_label_names.txt"),
    };
    let hint = "train.bin is 50000 records = 153700000 bytes, test.bin 10000 records";
    let train = read_records(&require(dir.join("train.bin"), &opts.paths)?, 2, label_at, count, hint)?;
    let test = read_records(&require(dir.join("test.bin"), &opts.paths)?, 2, label_at, count, hint)?;
    let classes = class_names(&dir.join(names_file), count, |i| i.to_string(), &opts.paths)?;
    let name = match labels {
        Cifar100Labels::Fine => "cifar100",
        Cifar100Labels::Coarse => "cifar100-coarse",
    };
    from_u8_split(name, dir, train, test, [3, 32, 32], classes, opts, device)
}
