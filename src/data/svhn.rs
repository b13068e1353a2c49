//! SVHN, cropped digits (`train_32x32.mat`, `test_32x32.mat`): MATLAB 5 files with `X`, a
//! 32x32x3xN uint8 array (column-major), and `y`, N labels 1..10 where 10 means the digit 0.
//! The optional per-class cap of method.md §4.1 (4,500 per class in the reference) keeps a seeded
//! random subset of the training part.
use super::mat::{read_variables, Values};
use super::{from_u8_split, DataSplit, LoadOptions};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::Device;

/// SVHN-specific options (besides [`LoadOptions`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SvhnOptions {
    /// Keep at most this many training images per class (method.md §4.1 uses 4500).
    pub cap_per_class: Option<usize>,
    /// Seed of the capped subset.
    pub seed: u64,
}

/// Reads one SVHN `.mat` file: pixels in `N x 3 x 32 x 32` order and labels 0..9.
pub fn read_svhn_mat(path: &Path) -> Result<(Vec<u8>, Vec<i64>)> {
    let vars = read_variables(path, &["X", "y"])?;
    let bad = |msg: String| Error::format(path, msg);
    let x = vars.iter().find(|v| v.name == "X").ok_or_else(|| bad("no variable `X`".into()))?;
    let y = vars.iter().find(|v| v.name == "y").ok_or_else(|| bad("no variable `y`".into()))?;
    let n = match x.dims.as_slice() {
        [32, 32, 3, n] => *n,
        other => return Err(bad(format!("`X` has dimensions {other:?}, expected 32x32x3xN"))),
    };
    let Values::U8(raw) = &x.values else {
        return Err(bad("`X` is not stored as uint8".into()));
    };
    if y.values.len() != n {
        return Err(bad(format!("`y` has {} labels but `X` has {n} images", y.values.len())));
    }
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let v = y.values.get(i);
        if v.fract() != 0.0 || !(1.0..=10.0).contains(&v) {
            return Err(bad(format!("label {v} of image {i} is outside 1..10")));
        }
        labels.push(if v == 10.0 { 0 } else { v as i64 });
    }
    // column-major (row, col, channel, image) -> (image, channel, row, col)
    let mut pixels = vec![0u8; raw.len()];
    for img in 0..n {
        for ch in 0..3 {
            let src = &raw[(img * 3 + ch) * 1024..(img * 3 + ch + 1) * 1024];
            let dst = &mut pixels[(img * 3 + ch) * 1024..(img * 3 + ch + 1) * 1024];
            for col in 0..32 {
                for row in 0..32 {
                    dst[row * 32 + col] = src[col * 32 + row];
                }
            }
        }
    }
    Ok((pixels, labels))
}

/// Keeps at most `cap` items per class, a seeded random choice, in their original order.
pub fn cap_per_class(pixels: Vec<u8>, labels: Vec<i64>, classes: usize, cap: usize, seed: u64) -> (Vec<u8>, Vec<i64>) {
    let keep = crate::data::split::capped(&labels, classes, cap, seed);
    let item = pixels.len() / labels.len().max(1);
    let mut px = Vec::with_capacity(keep.len() * item);
    for &i in &keep {
        px.extend_from_slice(&pixels[i * item..(i + 1) * item]);
    }
    (px, keep.iter().map(|&i| labels[i]).collect())
}

/// Loads SVHN from a folder with `train_32x32.mat` and `test_32x32.mat`.
pub fn load_svhn(dir: impl AsRef<Path>, svhn: &SvhnOptions, opts: &LoadOptions, device: Device) -> Result<DataSplit> {
    let dir = dir.as_ref();
    let file = |name: &str| {
        let p = dir.join(name);
        if p.is_file() {
            opts.paths.check_file(&p, "dataset file")?;
            Ok(p)
        } else {
            Err(Error::format(&p, "missing: an SVHN folder holds train_32x32.mat and test_32x32.mat"))
        }
    };
    let (mut px, mut labels) = read_svhn_mat(&file("train_32x32.mat")?)?;
    let mut name = "svhn".to_string();
    if let Some(cap) = svhn.cap_per_class {
        if cap == 0 {
            return Err(Error::invalid("cap_per_class", 0, "at least 1"));
        }
        (px, labels) = cap_per_class(px, labels, 10, cap, svhn.seed);
        name = format!("svhn-cap{cap}");
    }
    let test = read_svhn_mat(&file("test_32x32.mat")?)?;
    let classes = (0..10).map(|d| d.to_string()).collect();
    from_u8_split(&name, dir, (px, labels), test, [3, 32, 32], classes, opts, device)
}
