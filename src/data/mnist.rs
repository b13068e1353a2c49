//! MNIST-layout datasets (MNIST, Fashion-MNIST): a folder with the four standard IDX files,
//! plain or `.gz`.
use super::idx::{read_idx, IdxArray};
use super::{from_u8_split, DataSplit, LoadOptions};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use tch::Device;

/// Finds `stem` or `stem.gz` in `dir`.
fn find(dir: &Path, stem: &str, paths: &crate::paths::PathPolicy) -> Result<PathBuf> {
    for name in [stem.to_string(), format!("{stem}.gz")] {
        let p = dir.join(&name);
        if p.is_file() {
            paths.check_file(&p, "dataset file")?;
            return Ok(p);
        }
    }
    Err(Error::format(dir, format!("missing `{stem}` (or `{stem}.gz`): an MNIST-layout folder holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte")))
}

/// Reads one images/labels pair and checks they fit together.
/// Returns `(pixels, [n, 1, h, w], labels)`.
pub fn read_pair(images: &Path, labels: &Path, num_classes: usize) -> Result<(Vec<u8>, [usize; 4], Vec<i64>)> {
    let IdxArray { dims, data } = read_idx(images)?;
    if dims.len() != 3 {
        return Err(Error::format(
            images,
            format!("expected 3 dimensions (count x height x width) for images, found {}: {dims:?}", dims.len()),
        ));
    }
    let lab = read_idx(labels)?;
    if lab.dims.len() != 1 {
        return Err(Error::format(
            labels,
            format!("expected 1 dimension for labels, found {}: {:?}", lab.dims.len(), lab.dims),
        ));
    }
    if lab.dims[0] != dims[0] {
        return Err(Error::format(
            labels,
            format!("{} labels but {} has {} images", lab.dims[0], images.display(), dims[0]),
        ));
    }
    if let Some((i, &bad)) = lab.data.iter().enumerate().find(|(_, &l)| l as usize >= num_classes) {
        return Err(Error::format(
            labels,
            format!("label {bad} of item {i} is out of range: expected 0..{num_classes}"),
        ));
    }
    let labels = lab.data.iter().map(|&l| l as i64).collect();
    Ok((data, [dims[0], 1, dims[1], dims[2]], labels))
}

/// Fashion-MNIST's class names, in label order.
pub const FASHION_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// Which MNIST-layout dataset a folder holds (only the class names differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Digits,
    Fashion,
}

/// Loads an MNIST-layout folder onto `device`. Both parts are normalised with the train part's
/// statistics unless `opts` gives them.
pub fn load_mnist_dir(dir: impl AsRef<Path>, flavor: Flavor, opts: &LoadOptions, device: Device) -> Result<DataSplit> {
    let dir = dir.as_ref();
    if !dir.is_dir() {
        return Err(Error::format(dir, "not a folder (expected an MNIST-layout folder with the four IDX files)"));
    }
    let (name, classes): (&str, Vec<String>) = match flavor {
        Flavor::Digits => ("mnist", (0..10).map(|d| d.to_string()).collect()),
        Flavor::Fashion => ("fashion-mnist", FASHION_CLASSES.iter().map(|c| c.to_string()).collect()),
    };
    let (train_px, [_, c, h, w], train_labels) = read_pair(
        &find(dir, "train-images-idx3-ubyte", &opts.paths)?,
        &find(dir, "train-labels-idx1-ubyte", &opts.paths)?,
        10,
    )?;
    let (test_px, test_shape, test_labels) = read_pair(
        &find(dir, "t10k-images-idx3-ubyte", &opts.paths)?,
        &find(dir, "t10k-labels-idx1-ubyte", &opts.paths)?,
        10,
    )?;
    if test_shape[1..] != [c, h, w] {
        return Err(Error::format(
            dir,
            format!("train images are {h}x{w} but test images {}x{}", test_shape[2], test_shape[3]),
        ));
    }
    // the folder tells IDX datasets apart (KMNIST, EMNIST digits, ... share the format)
    let name = match dir.file_name().map(|f| f.to_string_lossy()) {
        Some(folder) if !folder.is_empty() => format!("{name}:{folder}"),
        _ => name.to_string(),
    };
    from_u8_split(&name, dir, (train_px, train_labels), (test_px, test_labels), [c, h, w], classes, opts, device)
}
