//! Datasets: the IDX reader on files written byte by byte here, the MNIST-layout loader, the
//! built-in MNIST, stratified splits, device batches.
mod common;
use common::{gz, idx_bytes};
use std::path::Path;
use tch::{Device, Kind};
use unlearn::data::idx::read_idx;
use unlearn::data::loader::Batches;
use unlearn::data::mnist::{load_mnist_dir, Flavor};
use unlearn::data::split::{apportion, stratified_split};
use unlearn::data::{Dataset, LoadOptions};

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn idx_reads_plain_and_gz() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..2 * 3 * 4).map(|v| v as u8 * 7).collect();
    let bytes = idx_bytes(&[2, 3, 4], &data);
    let plain = dir.path().join("x-idx3-ubyte");
    write(&plain, &bytes);
    let a = read_idx(&plain).unwrap();
    assert_eq!(a.dims, vec![2, 3, 4]);
    assert_eq!(a.data, data);
    let zipped = dir.path().join("x-idx3-ubyte.gz");
    write(&zipped, &gz(&bytes));
    assert_eq!(read_idx(&zipped).unwrap(), a);
}

#[test]
fn idx_rejects_bad_files_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", idx_bytes(&[2, 3, 4], &[1u8; 20]), "expected 24 bytes of data (2x3x4), found 20 (truncated?)"),
        ("trailing", idx_bytes(&[2, 3, 4], &[1u8; 25]), "found more"),
        (
            "magic",
            {
                let mut b = idx_bytes(&[2], &[1, 2]);
                b[0] = 0x12;
                b
            },
            "bad magic number 0x12000801",
        ),
        (
            "dtype",
            {
                let mut b = idx_bytes(&[2], &[1, 2]);
                b[2] = 0x0d;
                b
            },
            "data type 0x0d is not supported",
        ),
        ("empty", vec![], "too short for an IDX header (empty file?)"),
        ("short-header", vec![0, 0, 8, 3, 0, 0, 0, 2], "truncated header: expected 3 dimensions"),
        // a header that claims 4 GiB in a 12-byte file must fail before allocating
        ("huge", idx_bytes(&[65536, 65536], &[0u8; 4]), "expected 4294967296 bytes"),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.path().join(name);
        write(&path, &bytes);
        let err = read_idx(&path).unwrap_err().to_string();
        assert!(err.contains(name), "{name}: error does not name the file: {err}");
        assert!(err.contains(expected), "{name}: expected `{expected}` in `{err}`");
    }
    let gz_truncated = dir.path().join("gz-truncated.gz");
    write(&gz_truncated, &gz(&idx_bytes(&[2, 3, 4], &[1u8; 10])));
    let err = read_idx(&gz_truncated).unwrap_err().to_string();
    assert!(err.contains("gz-truncated.gz") && err.contains("found 10"), "{err}");
    let missing = read_idx(dir.path().join("nope")).unwrap_err().to_string();
    assert!(missing.contains("nope"), "{missing}");
}

fn write_mnist_dir(dir: &Path, n_train: usize, n_test: usize, gzip: bool) -> (Vec<u8>, Vec<u8>) {
    let px: Vec<u8> = (0..n_train * 28 * 28).map(|i| (i * 31 % 256) as u8).collect();
    let labels: Vec<u8> = (0..n_train).map(|i| (i % 10) as u8).collect();
    let tpx: Vec<u8> = (0..n_test * 28 * 28).map(|i| (i * 17 % 256) as u8).collect();
    let tlabels: Vec<u8> = (0..n_test).map(|i| ((i + 3) % 10) as u8).collect();
    let files = [
        ("train-images-idx3-ubyte", idx_bytes(&[n_train as u32, 28, 28], &px)),
        ("train-labels-idx1-ubyte", idx_bytes(&[n_train as u32], &labels)),
        ("t10k-images-idx3-ubyte", idx_bytes(&[n_test as u32, 28, 28], &tpx)),
        ("t10k-labels-idx1-ubyte", idx_bytes(&[n_test as u32], &tlabels)),
    ];
    for (name, bytes) in files {
        if gzip {
            write(&dir.join(format!("{name}.gz")), &gz(&bytes));
        } else {
            write(&dir.join(name), &bytes);
        }
    }
    (px, labels)
}

#[test]
fn mnist_dir_loads_pixels_labels_and_normalisation() {
    for gzip in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (px, labels) = write_mnist_dir(dir.path(), 20, 7, gzip);
        let split = load_mnist_dir(dir.path(), Flavor::Digits, &LoadOptions::default(), Device::Cpu).unwrap();
        assert_eq!(split.train.len(), 20);
        assert_eq!(split.test.len(), 7);
        assert_eq!(split.train.image_shape(), [1, 28, 28]);
        // named after its folder: IDX datasets (KMNIST, EMNIST, ...) are told apart
        let folder = dir.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(split.train.name.contains(&format!("mnist:{folder}")), "{}", split.train.name);
        assert_eq!(split.train.labels_host(), labels.iter().map(|&l| l as i64).collect::<Vec<_>>().as_slice());
        // undo the normalisation and compare pixels exactly
        let norm = split.train.normalization().clone();
        let raw = split.train.images().to_kind(Kind::Double) * norm.std[0] + norm.mean[0];
        let back = Vec::<f64>::try_from((raw * 255.0).round().flatten(0, -1)).unwrap();
        let expected: Vec<f64> = px.iter().map(|&p| p as f64).collect();
        assert_eq!(back, expected);
        // the train part is normalised to mean 0 / std 1, the test part with the train statistics
        let mean = split.train.images().mean(Kind::Double).double_value(&[]);
        let std = split.train.images().to_kind(Kind::Double).std(false).double_value(&[]);
        assert!(mean.abs() < 1e-5 && (std - 1.0).abs() < 1e-5, "mean {mean} std {std}");
        assert_eq!(split.test.normalization(), &norm);
    }
}

#[test]
fn mnist_dir_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_dir(dir.path(), 20, 7, false);
    // label count does not match image count
    write(&dir.path().join("train-labels-idx1-ubyte"), &idx_bytes(&[19], &[1u8; 19]));
    let err = load_mnist_dir(dir.path(), Flavor::Digits, &LoadOptions::default(), Device::Cpu).unwrap_err().to_string();
    assert!(
        err.contains("train-labels-idx1-ubyte") && err.contains("19 labels but") && err.contains("20 images"),
        "{err}"
    );
    // label out of range
    write(&dir.path().join("train-labels-idx1-ubyte"), &idx_bytes(&[20], &[12u8; 20]));
    let err = load_mnist_dir(dir.path(), Flavor::Digits, &LoadOptions::default(), Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("label 12 of item 0 is out of range"), "{err}");
    // a missing file
    std::fs::remove_file(dir.path().join("t10k-images-idx3-ubyte")).unwrap();
    write(&dir.path().join("train-labels-idx1-ubyte"), &idx_bytes(&[20], &[1u8; 20]));
    let err = load_mnist_dir(dir.path(), Flavor::Digits, &LoadOptions::default(), Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("missing `t10k-images-idx3-ubyte`"), "{err}");
    // images with the wrong number of dimensions
    write(&dir.path().join("t10k-images-idx3-ubyte"), &idx_bytes(&[7, 784], &[0u8; 7 * 784]));
    let err = load_mnist_dir(dir.path(), Flavor::Digits, &LoadOptions::default(), Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("t10k-images-idx3-ubyte") && err.contains("expected 3 dimensions"), "{err}");
}

#[test]
fn stratified_split_is_disjoint_covering_stratified_and_seeded() {
    // uneven classes: 0..7 get 13, 17, 19, ... items
    let labels: Vec<i64> = (0..7).flat_map(|c| std::iter::repeat_n(c as i64, 13 + 4 * c)).collect();
    let n = labels.len();
    let (a, b) = stratified_split(&labels, 7, 0.3, 42).unwrap();
    assert_eq!(a.len(), (0.3 * n as f64).round() as usize);
    let mut all: Vec<i64> = a.iter().chain(b.iter()).copied().collect();
    all.sort();
    assert_eq!(all, (0..n as i64).collect::<Vec<_>>(), "not a disjoint cover");
    for c in 0..7i64 {
        let size = labels.iter().filter(|&&l| l == c).count() as f64;
        let in_a = a.iter().filter(|&&i| labels[i as usize] == c).count() as f64;
        assert!((in_a - 0.3 * size).abs() < 1.0, "class {c}: {in_a} of {size}");
    }
    assert_eq!(stratified_split(&labels, 7, 0.3, 42).unwrap(), (a.clone(), b.clone()));
    assert_ne!(stratified_split(&labels, 7, 0.3, 43).unwrap().0, a);
    assert!(stratified_split(&labels, 7, 1.0, 1).unwrap_err().to_string().contains("strictly between 0 and 1"));
    assert!(stratified_split(&[0, 9], 3, 0.5, 1).unwrap_err().to_string().contains("label of item 1"));
}

#[test]
fn apportion_adds_up_by_largest_remainder() {
    assert_eq!(apportion(&[1001, 1127, 991], 0.2), vec![200, 226, 198]);
    assert_eq!(apportion(&[3, 3, 3], 0.5).iter().sum::<usize>(), 5);
    assert_eq!(apportion(&[3, 3, 3], 0.5), vec![2, 2, 1]);
}

#[test]
fn builtin_mnist_is_the_documented_split() {
    let split =
        unlearn::data::builtin::builtin("mnist", &LoadOptions::default(), Device::Cpu).expect("run `make setup` first");
    assert_eq!((split.train.len(), split.test.len()), (8000, 2000));
    assert_eq!(split.train.image_shape(), [1, 28, 28]);
    let (train, test) = (split.train.class_counts(), split.test.class_counts());
    // the package's per-digit counts, 20 % of each in the test part
    let totals = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];
    for d in 0..10 {
        assert_eq!(train[d] + test[d], totals[d], "digit {d}");
        assert!((test[d] as f64 - 0.2 * totals[d] as f64).abs() < 1.0, "digit {d}: {} in test", test[d]);
    }
    // a fixed random order, not class by class: the first 500 items hold every digit
    let first = split.train.subset(&(0..500).collect::<Vec<_>>(), "first").unwrap().class_counts();
    assert!(first.iter().all(|&c| c > 20), "{first:?}");
    // fixed: loading twice gives the same items
    let again = unlearn::data::builtin::builtin("mnist", &LoadOptions::default(), Device::Cpu).unwrap();
    assert!(again.test.images().equal(split.test.images()));
    let err = unlearn::data::builtin::builtin("cifar", &LoadOptions::default(), Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("`cifar`") && err.contains("mnist"), "{err}");
}

fn toy_dataset(n: usize) -> Dataset {
    let px: Vec<u8> = (0..n * 3 * 4 * 4).map(|i| (i % 251) as u8).collect();
    let labels: Vec<i64> = (0..n as i64).map(|i| i % 3).collect();
    Dataset::from_u8(
        "toy",
        "test",
        &px,
        [n, 3, 4, 4],
        labels,
        vec!["a".into(), "b".into(), "c".into()],
        None,
        Device::Cpu,
    )
    .unwrap()
}

#[test]
fn batches_cover_every_item_once_and_follow_the_seed() {
    let data = toy_dataset(103);
    let order = |seed: u64| {
        let mut rng = unlearn::data::split::rng(seed);
        let mut b = Batches::shuffled(&data, 10, &mut rng).unwrap();
        assert_eq!(b.count(), 11);
        let mut firsts = Vec::new();
        let mut total = 0;
        while let Some((x, y)) = b.next_batch().unwrap() {
            assert_eq!(x.size()[1..], [3, 4, 4]);
            total += y.size()[0];
            firsts.push(x.double_value(&[0, 0, 0, 0]));
        }
        assert_eq!(total, 103);
        firsts
    };
    assert_eq!(order(5), order(5));
    assert_ne!(order(5), order(6));
}

#[test]
fn subset_selects_items_and_rejects_bad_indices() {
    let data = toy_dataset(9);
    let s = data.subset(&[8, 0, 4], "s").unwrap();
    assert_eq!(s.labels_host(), &[2, 0, 1]);
    assert!(s.images().get(0).equal(&data.images().get(8)));
    let err = data.subset(&[1, 9], "s").unwrap_err().to_string();
    assert!(err.contains("`9`") && err.contains("0..9"), "{err}");
    let err = Dataset::from_u8("bad", "t", &[0u8; 16], [1, 1, 4, 4], vec![5], vec!["a".into()], None, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("label of item 0") && err.contains("`5`"), "{err}");
}

/// Issue 17: take() on class-ordered data (an image folder lists class after class) keeps every
/// class in its share, not the first classes only, and keeps the data's order.
#[test]
fn take_keeps_every_class_in_its_share() {
    let px = vec![0u8; 10 * 4];
    let labels = vec![0i64, 0, 0, 0, 1, 1, 1, 1, 2, 2];
    let classes = vec!["a".into(), "b".into(), "c".into()];
    let d = Dataset::from_u8("ordered", "test", &px, [10, 1, 2, 2], labels, classes, None, Device::Cpu).unwrap();
    let t = d.take_stratified(5).unwrap();
    assert_eq!(t.labels_host(), &[0, 0, 1, 1, 2]);
    assert_eq!(t.class_counts(), vec![2, 2, 1]);
    assert_eq!(d.take_stratified(10).unwrap().labels_host(), d.labels_host());
    assert_eq!(d.take_stratified(1).unwrap().len(), 1);
    assert!(d.take_stratified(0).is_err() && d.take_stratified(11).is_err());
}
