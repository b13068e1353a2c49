//! Every file format, from files written byte by byte here; conversions; synthetic data.
mod common;
use common::{cifar_record, mat_file, matrix};
use std::io::Write;
use std::path::Path;
use tch::{Device, Kind, Tensor};
use unlearn::data::cifar::{load_cifar10, load_cifar100, Cifar100Labels};
use unlearn::data::image_folder::{load_image_folder, FolderOptions};
use unlearn::data::svhn::{load_svhn, SvhnOptions};
use unlearn::data::synthetic::{synthetic, SyntheticOptions};
use unlearn::data::{DataSplit, Dataset, LoadOptions};

/// The images of a dataset back in [0, 255], as f64 (exact for 8-bit sources).
fn pixels_back(d: &Dataset) -> Vec<f64> {
    let n = d.normalization();
    let c = d.image_shape()[0];
    let mean = Tensor::from_slice(&n.mean).view([1, c, 1, 1]);
    let std = Tensor::from_slice(&n.std).view([1, c, 1, 1]);
    let raw = d.images().to_kind(Kind::Double) * std + mean;
    Vec::<f64>::try_from((raw * 255.0).round().flatten(0, -1)).unwrap()
}

#[test]
fn cifar10_binary_loads_pixels_labels_and_class_names() {
    let dir = tempfile::tempdir().unwrap();
    let mut expected_pixels = Vec::new();
    let mut expected_labels = Vec::new();
    for b in 1..=5 {
        let mut bytes = Vec::new();
        for k in 0..3 {
            let label = ((b * 3 + k) % 10) as u8;
            let rec = cifar_record(&[label], b * 10 + k);
            expected_pixels.extend(rec[1..].iter().map(|&p| p as f64));
            expected_labels.push(label as i64);
            bytes.extend(rec);
        }
        std::fs::write(dir.path().join(format!("data_batch_{b}.bin")), bytes).unwrap();
    }
    std::fs::write(dir.path().join("test_batch.bin"), [cifar_record(&[9], 1), cifar_record(&[0], 2)].concat()).unwrap();
    let split = load_cifar10(dir.path(), &LoadOptions::default(), Device::Cpu).unwrap();
    assert_eq!(split.train.len(), 15);
    assert_eq!(split.test.len(), 2);
    assert_eq!(split.train.image_shape(), [3, 32, 32]);
    assert_eq!(split.train.labels_host(), expected_labels.as_slice());
    assert_eq!(pixels_back(&split.train), expected_pixels);
    assert_eq!(split.test.labels_host(), &[9, 0]);
    assert_eq!(split.train.classes()[0], "airplane");
    // class names from batches.meta.txt when present
    let names: String = (0..10).map(|i| format!("c{i}\n")).collect();
    std::fs::write(dir.path().join("batches.meta.txt"), names + "\n").unwrap();
    let split = load_cifar10(dir.path(), &LoadOptions::default(), Device::Cpu).unwrap();
    assert_eq!(split.train.classes()[9], "c9");
}

#[test]
fn cifar_errors_name_the_file_and_the_expected_size() {
    let dir = tempfile::tempdir().unwrap();
    for b in 1..=5 {
        std::fs::write(dir.path().join(format!("data_batch_{b}.bin")), cifar_record(&[1], b)).unwrap();
    }
    let err = load_cifar10(dir.path(), &LoadOptions::default(), Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("test_batch.bin") && err.contains("missing"), "{err}");
    let mut truncated = cifar_record(&[1], 0);
    truncated.truncate(1000);
    std::fs::write(dir.path().join("test_batch.bin"), &truncated).unwrap();
    let err = load_cifar10(dir.path(), &LoadOptions::default(), Device::Cpu).unwrap_err().to_string();
    assert!(
        err.contains("test_batch.bin") && err.contains("3073-byte records") && err.contains("found 1000 bytes"),
        "{err}"
    );
    std::fs::write(dir.path().join("test_batch.bin"), cifar_record(&[10], 0)).unwrap();
    let err = load_cifar10(dir.path(), &LoadOptions::default(), Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("label 10 is out of range 0..10"), "{err}");
}

#[test]
fn cifar100_fine_and_coarse_labels() {
    let dir = tempfile::tempdir().unwrap();
    // records: coarse, fine, pixels
    let train = [cifar_record(&[3, 57], 0), cifar_record(&[19, 99], 1), cifar_record(&[0, 4], 2)].concat();
    std::fs::write(dir.path().join("train.bin"), train).unwrap();
    std::fs::write(dir.path().join("test.bin"), cifar_record(&[7, 70], 3)).unwrap();
    let fine = load_cifar100(dir.path(), Cifar100Labels::Fine, &LoadOptions::default(), Device::Cpu).unwrap();
    assert_eq!(fine.train.labels_host(), &[57, 99, 4]);
    assert_eq!(fine.train.num_classes(), 100);
    let coarse = load_cifar100(dir.path(), Cifar100Labels::Coarse, &LoadOptions::default(), Device::Cpu).unwrap();
    assert_eq!(coarse.train.labels_host(), &[3, 19, 0]);
    assert_eq!(coarse.test.labels_host(), &[7]);
    assert_eq!(coarse.train.num_classes(), 20);
    assert_eq!(pixels_back(&coarse.test), cifar_record(&[], 3).iter().map(|&p| p as f64).collect::<Vec<_>>());
    // a record of the wrong length
    std::fs::write(dir.path().join("test.bin"), cifar_record(&[1], 3)).unwrap();
    let err =
        load_cifar100(dir.path(), Cifar100Labels::Fine, &LoadOptions::default(), Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("test.bin") && err.contains("3074-byte records") && err.contains("found 3073 bytes"), "{err}");
}

/// SVHN-layout X (32x32x3xN, column-major) for `n` images whose pixel (img, ch, row, col) is known.
fn svhn_pixel(img: usize, ch: usize, row: usize, col: usize) -> u8 {
    ((img * 31 + ch * 7 + row * 3 + col * 5) % 256) as u8
}

fn svhn_x(n: usize) -> Vec<u8> {
    let mut x = vec![0u8; 32 * 32 * 3 * n];
    for img in 0..n {
        for ch in 0..3 {
            for col in 0..32 {
                for row in 0..32 {
                    x[row + 32 * col + 1024 * ch + 3072 * img] = svhn_pixel(img, ch, row, col);
                }
            }
        }
    }
    x
}

fn write_svhn(dir: &Path, train_labels: &[f64], test_labels: &[u8], compress: bool) {
    let n = train_labels.len();
    let y: Vec<u8> = train_labels.iter().flat_map(|v| v.to_le_bytes()).collect();
    let train = mat_file(
        &[matrix("X", 9, &[32, 32, 3, n as i32], 2, &svhn_x(n)), matrix("y", 6, &[n as i32, 1], 9, &y)],
        compress,
    );
    std::fs::write(dir.join("train_32x32.mat"), train).unwrap();
    let m = test_labels.len();
    // test labels stored as uint8 inside a double-class array, as MATLAB does to save space
    let test = mat_file(
        &[matrix("y", 6, &[m as i32, 1], 2, test_labels), matrix("X", 9, &[32, 32, 3, m as i32], 2, &svhn_x(m))],
        compress,
    );
    std::fs::write(dir.join("test_32x32.mat"), test).unwrap();
}

#[test]
fn svhn_mat_loads_plain_and_compressed_with_digit_zero_as_label_ten() {
    for compress in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        write_svhn(dir.path(), &[10.0, 1.0, 5.0, 10.0], &[3, 10], compress);
        let split = load_svhn(dir.path(), &SvhnOptions::default(), &LoadOptions::default(), Device::Cpu).unwrap();
        assert_eq!(split.train.labels_host(), &[0, 1, 5, 0]);
        assert_eq!(split.test.labels_host(), &[3, 0]);
        let px = pixels_back(&split.train);
        for (img, ch, row, col) in [(0, 0, 0, 0), (1, 2, 5, 17), (3, 1, 31, 2)] {
            let at = ((img * 3 + ch) * 32 + row) * 32 + col;
            assert_eq!(px[at], svhn_pixel(img, ch, row, col) as f64, "compress {compress} at {img},{ch},{row},{col}");
        }
    }
}

#[test]
fn svhn_cap_per_class_keeps_a_seeded_subset() {
    let dir = tempfile::tempdir().unwrap();
    let labels: Vec<f64> = (0..30).map(|i| (i % 3 + 1) as f64).collect();
    write_svhn(dir.path(), &labels, &[1], true);
    let opts = SvhnOptions { cap_per_class: Some(4), seed: 1 };
    let a = load_svhn(dir.path(), &opts, &LoadOptions::default(), Device::Cpu).unwrap();
    assert_eq!(a.train.class_counts()[1..4], [4, 4, 4]);
    let b = load_svhn(dir.path(), &opts, &LoadOptions::default(), Device::Cpu).unwrap();
    assert!(a.train.images().equal(b.train.images()));
    let c =
        load_svhn(dir.path(), &SvhnOptions { cap_per_class: Some(4), seed: 2 }, &LoadOptions::default(), Device::Cpu)
            .unwrap();
    assert!(!a.train.images().equal(c.train.images()));
}

#[test]
fn svhn_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    write_svhn(dir.path(), &[1.0, 11.0], &[1], false);
    let err =
        load_svhn(dir.path(), &SvhnOptions::default(), &LoadOptions::default(), Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("train_32x32.mat") && err.contains("label 11 of image 1 is outside 1..10"), "{err}");
    let f = dir.path().join("train_32x32.mat");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() - 100]).unwrap();
    let err =
        load_svhn(dir.path(), &SvhnOptions::default(), &LoadOptions::default(), Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("train_32x32.mat") && err.contains("truncated"), "{err}");
    let mut hdf5 = b"\x89HDF\r\n\x1a\n".to_vec();
    hdf5.resize(300, b'.');
    std::fs::write(&f, hdf5).unwrap();
    let err =
        load_svhn(dir.path(), &SvhnOptions::default(), &LoadOptions::default(), Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("not a MATLAB 5 MAT file"), "{err}");
    // a variable missing
    std::fs::write(&f, mat_file(&[matrix("X", 9, &[32, 32, 3, 1], 2, &svhn_x(1))], false)).unwrap();
    let err =
        load_svhn(dir.path(), &SvhnOptions::default(), &LoadOptions::default(), Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("no variable `y`"), "{err}");
}

fn write_png(path: &Path, w: u32, h: u32, seed: u8, gray: bool) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    if gray {
        image::GrayImage::from_fn(w, h, |x, y| image::Luma([seed.wrapping_add((x * 3 + y) as u8)])).save(path).unwrap();
    } else {
        image::RgbImage::from_fn(w, h, |x, y| image::Rgb([seed, (x * 8) as u8, (y * 8) as u8])).save(path).unwrap();
    }
}

#[test]
fn image_folder_loads_classes_in_sorted_order() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write_png(&r.join("train/cat/a.png"), 8, 6, 10, false);
    write_png(&r.join("train/cat/b.png"), 8, 6, 20, false);
    write_png(&r.join("train/airplane/c.png"), 8, 6, 30, false);
    write_png(&r.join("train/airplane/d.png"), 8, 6, 40, true); // grayscale, as some CINIC images
    std::fs::write(r.join("train/cat/notes.txt"), "not an image").unwrap();
    write_png(&r.join("test/cat/e.png"), 8, 6, 50, false);
    let split = load_image_folder(r, &FolderOptions::default(), &LoadOptions::default(), Device::Cpu).unwrap();
    assert_eq!(split.train.classes(), &["airplane".to_string(), "cat".to_string()]);
    assert_eq!(split.train.labels_host(), &[0, 0, 1, 1]);
    assert_eq!(split.train.image_shape(), [3, 6, 8]);
    assert_eq!(split.test.labels_host(), &[1]);
    let px = pixels_back(&split.train);
    // c.png: red channel is the seed, green is 8x, blue is 8y; at (x=2, y=3)
    let plane = 6 * 8;
    assert_eq!((px[3 * 8 + 2], px[plane + 3 * 8 + 2], px[2 * plane + 3 * 8 + 2]), (30.0, 16.0, 24.0));
    // the grayscale image became three equal channels
    let d0 = 3 * plane;
    assert_eq!(px[d0 + 5], px[d0 + plane + 5]);
    // a different size is an error naming the file, unless `size` resizes everything
    write_png(&r.join("train/cat/z.png"), 10, 10, 60, false);
    let err =
        load_image_folder(r, &FolderOptions::default(), &LoadOptions::default(), Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("z.png") && err.contains("image is 10x10"), "{err}");
    let opts = LoadOptions { size: Some(4), ..Default::default() };
    let split = load_image_folder(r, &FolderOptions::default(), &opts, Device::Cpu).unwrap();
    assert_eq!(split.train.image_shape(), [3, 4, 4]);
    // a test class that the training part lacks
    write_png(&r.join("test/dog/f.png"), 8, 6, 70, false);
    let err = load_image_folder(r, &FolderOptions::default(), &opts, Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("class `dog` does not exist"), "{err}");
    // a corrupt image
    std::fs::remove_dir_all(r.join("test/dog")).unwrap();
    std::fs::write(r.join("test/cat/bad.png"), b"\x89PNG\r\n\x1a\nbroken").unwrap();
    let err = load_image_folder(r, &FolderOptions::default(), &opts, Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("bad.png") && err.contains("cannot decode"), "{err}");
}

#[test]
fn synthetic_data_is_seeded_balanced_and_learnable_in_shape() {
    let o = SyntheticOptions {
        train: 60,
        test: 20,
        classes: 3,
        channels: 2,
        height: 9,
        width: 7,
        separation: 0.6,
        seed: 4,
    };
    let a: DataSplit = synthetic(&o, &LoadOptions::default(), Device::Cpu).unwrap();
    assert_eq!(a.train.image_shape(), [2, 9, 7]);
    assert_eq!(a.train.class_counts(), vec![20, 20, 20]);
    let b = synthetic(&o, &LoadOptions::default(), Device::Cpu).unwrap();
    assert!(a.train.images().equal(b.train.images()) && a.test.images().equal(b.test.images()));
    let c = synthetic(&SyntheticOptions { seed: 5, ..o.clone() }, &LoadOptions::default(), Device::Cpu).unwrap();
    assert!(!a.train.images().equal(c.train.images()));
    // class structure: items of one class are closer to their class mean than to another's
    let x = a.train.images().flatten(1, -1);
    let labels = Tensor::from_slice(a.train.labels_host());
    let means: Vec<Tensor> = (0..3)
        .map(|k| x.index_select(0, &labels.eq(k).nonzero().squeeze_dim(1)).mean_dim(0, false, Kind::Float))
        .collect();
    let own = (x.get(0) - &means[a.train.labels_host()[0] as usize]).norm().double_value(&[]);
    let other = (x.get(0) - &means[(a.train.labels_host()[0] as usize + 1) % 3]).norm().double_value(&[]);
    assert!(own < other, "{own} vs {other}");
    let err = synthetic(&SyntheticOptions { separation: 2.0, ..o }, &LoadOptions::default(), Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("separation"), "{err}");
}

#[test]
fn channel_and_size_conversions() {
    let o =
        SyntheticOptions { train: 6, test: 2, classes: 2, channels: 1, height: 28, width: 28, ..Default::default() };
    let gray = synthetic(&o, &LoadOptions::default(), Device::Cpu).unwrap();
    let rgb = gray.train.with_channels(3).unwrap();
    assert_eq!(rgb.image_shape(), [3, 28, 28]);
    assert!(rgb.images().get(0).get(0).equal(&rgb.images().get(0).get(2)));
    let big = rgb.resized(32, 32).unwrap();
    assert_eq!(big.image_shape(), [3, 32, 32]);
    // the same conversions at load time, with given statistics
    let opts = LoadOptions {
        channels: Some(3),
        size: Some(32),
        mean: Some(vec![0.5; 3]),
        std: Some(vec![0.25; 3]),
        ..Default::default()
    };
    let loaded = synthetic(&o, &LoadOptions { mean: None, std: None, ..opts.clone() }, Device::Cpu).unwrap();
    assert_eq!(loaded.train.image_shape(), [3, 32, 32]);
    let bad = LoadOptions {
        mean: Some(vec![0.5]),
        std: Some(vec![0.25]),
        channels: Some(3),
        size: None,
        ..Default::default()
    };
    let err = synthetic(&o, &bad, Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("3 values each"), "{err}");
    let err = gray.train.with_channels(2).unwrap_err().to_string();
    assert!(err.contains("1 or 3"), "{err}");
}

#[test]
fn a_dataset_larger_than_memory_fails_with_the_size_it_needs() {
    // 400k CIFAR-shaped images of 32x32 at 8 bytes a pixel would be ~7 GiB per part; ask for far more
    let o = SyntheticOptions { train: 2_000_000_000, test: 1, classes: 2, ..Default::default() };
    let err = synthetic(&o, &LoadOptions::default(), Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("needs") && err.contains("GiB") && err.contains("available"), "{err}");
}

#[test]
fn full_cifar10_loads_within_1_gib_beyond_its_tensors() {
    // full-size CIFAR-10 files (50,000 + 10,000 records), loaded by the CLI in its own process
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cifar-10-batches-bin");
    std::fs::create_dir(&data).unwrap();
    let mut record = cifar_record(&[0], 0);
    for (name, n) in [
        ("data_batch_1.bin", 10_000),
        ("data_batch_2.bin", 10_000),
        ("data_batch_3.bin", 10_000),
        ("data_batch_4.bin", 10_000),
        ("data_batch_5.bin", 10_000),
        ("test_batch.bin", 10_000),
    ] {
        let mut f = std::io::BufWriter::new(std::fs::File::create(data.join(name)).unwrap());
        for i in 0..n {
            record[0] = (i % 10) as u8;
            record[1] = (i % 251) as u8;
            f.write_all(&record).unwrap();
        }
    }
    let script = dir.path().join("load.rhai");
    std::fs::write(
        &script,
        format!(
            "let before = memory();\nlet d = cifar10(\"{}\");\nlet after = memory();\nprint(`${{d.train.len()}} ${{before.peak_rss_mb}} ${{after.peak_rss_mb}}`);\n",
            data.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_unlearn"))
        .args(["run", script.to_str().unwrap(), "--device", "cpu"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Vec<f64> = stdout.split_whitespace().map(|t| t.parse().unwrap()).collect();
    assert_eq!(v[0], 50_000.0);
    let tensors_mb = 60_000.0 * 3072.0 * 4.0 / (1 << 20) as f64;
    let beyond = v[2] - v[1] - tensors_mb;
    eprintln!(
        "peak before {:.0} MiB, after {:.0} MiB, tensors {tensors_mb:.0} MiB, beyond {beyond:.0} MiB",
        v[1], v[2]
    );
    assert!(beyond < 1024.0, "loading used {beyond:.0} MiB beyond its tensors");
}

/// Issue 17: channels come from the files (a folder of 8-bit grayscale PNGs is one channel, not
/// three equal ones), and a class folder without images is an error, not a class of 0 images.
#[test]
fn image_folders_take_channels_from_the_files_and_refuse_empty_classes() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    for (i, class) in ["a", "b"].iter().enumerate() {
        write_png(&r.join(format!("train/{class}/x.png")), 8, 6, 10 * i as u8, true);
        write_png(&r.join(format!("test/{class}/y.png")), 8, 6, 20 * i as u8, true);
    }
    let split = load_image_folder(r, &FolderOptions::default(), &LoadOptions::default(), Device::Cpu).unwrap();
    assert_eq!(split.train.image_shape(), [1, 6, 8]);
    assert_eq!(split.test.image_shape(), [1, 6, 8]);
    // asked for three, or one colour image among them: three
    let three = LoadOptions { channels: Some(3), ..Default::default() };
    assert_eq!(load_image_folder(r, &FolderOptions::default(), &three, Device::Cpu).unwrap().train.image_shape()[0], 3);
    write_png(&r.join("train/b/z.png"), 8, 6, 30, false);
    let split = load_image_folder(r, &FolderOptions::default(), &LoadOptions::default(), Device::Cpu).unwrap();
    assert_eq!(split.train.image_shape(), [3, 6, 8]);
    // an empty class folder
    std::fs::create_dir_all(r.join("train/c")).unwrap();
    std::fs::write(r.join("train/c/readme.txt"), "no images").unwrap();
    let e =
        load_image_folder(r, &FolderOptions::default(), &LoadOptions::default(), Device::Cpu).unwrap_err().to_string();
    assert!(e.contains("train/c") && e.contains("holds no .png or .jpg images"), "{e}");
}
