//! A dataset named in one string, as the command line takes it: `builtin` (the built-in MNIST
//! digits), `synthetic` (CIFAR-shaped, seeded) or `KIND:PATH` with KIND one of `mnist`,
//! `fashion_mnist`, `cifar10`, `cifar100`, `svhn`, `cinic10` (train/ and test/ class folders,
//! with CINIC-10's normalisation unless others are given) and `image_folder` (train/ and test/
//! class folders).
use super::cifar::{load_cifar10, load_cifar100, Cifar100Labels};
use super::image_folder::{load_image_folder, FolderOptions};
use super::mnist::{load_mnist_dir, Flavor};
use super::svhn::{load_svhn, SvhnOptions};
use super::synthetic::{synthetic, SyntheticOptions};
use super::{DataSplit, LoadOptions};
use crate::error::{Error, Result};
use tch::Device;

/// The kinds a `KIND:PATH` names.
pub const KINDS: &[&str] = &["mnist", "fashion_mnist", "cifar10", "cifar100", "svhn", "cinic10", "image_folder"];

/// CINIC-10's per-channel mean and standard deviation (its authors' values).
pub const CINIC10_MEAN: [f64; 3] = [0.478, 0.472, 0.430];
pub const CINIC10_STD: [f64; 3] = [0.242, 0.238, 0.258];

/// Loads the dataset `spec` names (see the module notes) onto `device` with `opts`.
pub fn load(spec: &str, opts: &LoadOptions, device: Device) -> Result<DataSplit> {
    let expected = || format!("builtin, synthetic or KIND:PATH with KIND one of {KINDS:?}");
    match spec {
        "builtin" | "builtin:mnist" => return super::builtin::builtin("mnist", opts, device),
        "synthetic" => return synthetic(&SyntheticOptions::default(), opts, device),
        _ => {}
    }
    let (kind, path) = spec.split_once(':').ok_or_else(|| Error::invalid("dataset", spec, expected()))?;
    if path.is_empty() {
        return Err(Error::invalid("dataset", spec, "a folder after the colon (KIND:PATH)"));
    }
    match kind {
        "mnist" => load_mnist_dir(path, Flavor::Digits, opts, device),
        "fashion_mnist" => load_mnist_dir(path, Flavor::Fashion, opts, device),
        "cifar10" => load_cifar10(path, opts, device),
        "cifar100" => load_cifar100(path, Cifar100Labels::Fine, opts, device),
        "svhn" => load_svhn(path, &SvhnOptions::default(), opts, device),
        "image_folder" => load_image_folder(path, &FolderOptions::default(), opts, device),
        "cinic10" => {
            let mut o = opts.clone();
            if o.mean.is_none() && o.std.is_none() {
                (o.mean, o.std) = (Some(CINIC10_MEAN.to_vec()), Some(CINIC10_STD.to_vec()));
            }
            load_image_folder(path, &FolderOptions::default(), &o, device)
        }
        other => Err(Error::invalid("dataset kind", other, format!("one of {KINDS:?}"))),
    }
}
