//! Fuzzing of every file loader (issue 9) on stable Rust: valid seed files written here are
//! mutated (bit flips, truncation, insertions, header fields set to extreme values, splices) and
//! fed to the loader. No input may panic, and none may make the loader allocate more than a bound
//! derived from the input's size (the counting allocator below sees every Rust allocation; the
//! checkpoint loader's libtorch tensors are checked against the file size instead).
//!
//! `make test` runs each target for `FUZZ_SECONDS` (default 2) seconds. The long runs:
//!   FUZZ_SECONDS=600 cargo test --release --test fuzz_tests -- --test-threads=1
//! A failing input is written to `target/fuzz-failures/<target>-<n>.bin` to reproduce it.
mod common;
use common::{cifar_record, gz, idx_bytes, mat_file, matrix};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tch::Device;
use unlearn::data::request::ForgetRequest;
use unlearn::data::synthetic::{synthetic, SyntheticOptions};
use unlearn::data::{Dataset, LoadOptions};
use unlearn::models::{Arch, Model, ModelSpec};

/// Live and peak bytes of Rust heap allocations.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// One target at a time: the allocation peak is process-wide.
static SERIAL: Mutex<()> = Mutex::new(());

fn budget() -> Duration {
    let s = std::env::var("FUZZ_SECONDS").ok().and_then(|v| v.parse::<f64>().ok()).unwrap_or(2.0);
    Duration::from_secs_f64(s)
}

/// A mutated copy of one of `seeds`.
fn mutate(seeds: &[Vec<u8>], r: &mut ChaCha8Rng) -> Vec<u8> {
    let mut b = seeds[r.random_range(0..seeds.len())].clone();
    const EXTREME: [u32; 8] = [0, 1, 0x7f, 0xff, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff];
    for _ in 0..r.random_range(1..=4) {
        let len = b.len();
        match r.random_range(0..8) {
            0 if len > 0 => {
                for _ in 0..r.random_range(1..=8) {
                    let i = r.random_range(0..len);
                    b[i] ^= 1 << r.random_range(0..8);
                }
            }
            1 if len > 0 => {
                let i = r.random_range(0..len);
                b[i] = r.random();
            }
            2 if len > 0 => b.truncate(r.random_range(0..len)),
            3 => {
                let i = r.random_range(0..=len);
                let mut extra = vec![0u8; r.random_range(1..64)];
                r.fill_bytes(&mut extra);
                b.splice(i..i, extra);
            }
            // a header-like field (in the first 256 bytes, 4-aligned) set to an extreme value
            4 if len >= 4 => {
                let i = (r.random_range(0..len.min(256) - 3) / 4) * 4;
                let v = EXTREME[r.random_range(0..EXTREME.len())];
                let bytes = if r.random() { v.to_le_bytes() } else { v.to_be_bytes() };
                b[i..i + 4].copy_from_slice(&bytes);
            }
            // a splice from another seed
            5 => {
                let other = &seeds[r.random_range(0..seeds.len())];
                if !other.is_empty() {
                    let a = r.random_range(0..other.len());
                    let e = (a + r.random_range(1..=64)).min(other.len());
                    let i = r.random_range(0..=len);
                    b.splice(i..i, other[a..e].iter().copied());
                }
            }
            6 if len > 8 => {
                // repeat a chunk (length fields then disagree with the data)
                let a = r.random_range(0..len - 1);
                let e = (a + r.random_range(1..=32)).min(len);
                let chunk = b[a..e].to_vec();
                b.extend(chunk);
            }
            _ => {
                let mut junk = vec![0u8; r.random_range(0..512)];
                r.fill_bytes(&mut junk);
                b = junk;
            }
        }
    }
    b
}

/// Feeds mutated inputs, written to `file`, to `load` for the time budget; fails on a panic or an
/// allocation above 256 MiB + 2,000 x the input's size. Returns how many inputs ran and how many
/// loaded successfully.
fn fuzz(name: &str, file: &Path, seeds: Vec<Vec<u8>>, load: impl Fn(&Path) -> bool) -> (usize, usize) {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // the seeds themselves load
    for (i, s) in seeds.iter().enumerate() {
        std::fs::write(file, s).unwrap();
        assert!(load(file), "{name}: seed {i} does not load");
    }
    let mut r = ChaCha8Rng::seed_from_u64(0x5eed ^ name.len() as u64);
    let (start, limit) = (Instant::now(), budget());
    let (mut runs, mut ok) = (0usize, 0usize);
    while start.elapsed() < limit || runs < 50 {
        let input = mutate(&seeds, &mut r);
        std::fs::write(file, &input).unwrap();
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let result = catch_unwind(AssertUnwindSafe(|| load(file)));
        let grew = PEAK.load(Ordering::Relaxed).saturating_sub(base);
        let bound = (256 << 20) + 2000 * input.len();
        if result.is_err() || grew > bound {
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
            std::fs::create_dir_all(&dir).unwrap();
            let keep = dir.join(format!("{name}-{runs}.bin"));
            std::fs::write(&keep, &input).unwrap();
            panic!(
                "{name}: input {runs} ({} bytes, kept in {}) {}",
                input.len(),
                keep.display(),
                if result.is_err() {
                    "panicked".to_string()
                } else {
                    format!("allocated {grew} bytes (bound {bound})")
                }
            );
        }
        ok += result.unwrap() as usize;
        runs += 1;
    }
    eprintln!(
        "{name}: {runs} inputs in {:.1} s, {ok} loaded, no panic, allocations bounded",
        start.elapsed().as_secs_f64()
    );
    (runs, ok)
}

#[test]
fn fuzz_idx() {
    let dir = tempfile::tempdir().unwrap();
    let images = idx_bytes(&[3, 4, 4], &(0..48).map(|i| i as u8).collect::<Vec<_>>());
    let labels = idx_bytes(&[3], &[1, 2, 3]);
    let seeds = vec![images.clone(), labels, gz(&images)];
    let (runs, _) = fuzz("idx", &dir.path().join("x-idx3-ubyte"), seeds, |p| unlearn::data::idx::read_idx(p).is_ok());
    assert!(runs >= 50);
}

#[test]
fn fuzz_cifar() {
    let dir = tempfile::tempdir().unwrap();
    for b in 1..=5 {
        std::fs::write(dir.path().join(format!("data_batch_{b}.bin")), cifar_record(&[b as u8], b)).unwrap();
    }
    let seeds = vec![cifar_record(&[3], 0), [cifar_record(&[9], 1), cifar_record(&[0], 2)].concat()];
    fuzz("cifar", &dir.path().join("test_batch.bin"), seeds, |_| {
        unlearn::data::cifar::load_cifar10(dir.path(), &LoadOptions::default(), Device::Cpu).is_ok()
    });
}

#[test]
fn fuzz_svhn_mat() {
    let dir = tempfile::tempdir().unwrap();
    let n: usize = 2;
    let x: Vec<u8> = (0..32 * 32 * 3 * n).map(|i| (i % 251) as u8).collect();
    let y: Vec<u8> = [3.0f64, 10.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let vars = [matrix("X", 9, &[32, 32, 3, n as i32], 2, &x), matrix("y", 6, &[n as i32, 1], 9, &y)];
    let seeds = vec![mat_file(&vars, false), mat_file(&vars, true)];
    fuzz("svhn-mat", &dir.path().join("train_32x32.mat"), seeds, |p| unlearn::data::svhn::read_svhn_mat(p).is_ok());
}

#[test]
fn fuzz_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let mut seeds = Vec::new();
    for (arch, width) in [(Arch::Convnet, 4), (Arch::Convnet, 8)] {
        let mut spec = ModelSpec::new(arch, [1, 8, 8], 3, 1);
        spec.width = width;
        spec.depth = 2;
        Model::new(spec, Device::Cpu).unwrap().save(&path).unwrap();
        seeds.push(std::fs::read(&path).unwrap());
    }
    fuzz("checkpoint", &path, seeds, |p| match Model::load(p, Device::Cpu) {
        Ok(m) => {
            // libtorch's allocations are not counted above: bound them by the file instead
            let bytes = std::fs::metadata(p).unwrap().len() as i64;
            assert!(m.num_params() * 4 <= bytes, "{} parameters from {bytes} bytes", m.num_params());
            true
        }
        Err(_) => false,
    });
}

fn small_dataset() -> Dataset {
    let o = SyntheticOptions {
        train: 40,
        test: 10,
        classes: 4,
        channels: 1,
        height: 4,
        width: 4,
        separation: 0.5,
        seed: 1,
    };
    synthetic(&o, &LoadOptions::default(), Device::Cpu).unwrap().train
}

#[test]
fn fuzz_forget_index_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = small_dataset();
    let seeds = vec![b"1 2 3\n# a comment\n4,5\n".to_vec(), b"[0, 7, 39]".to_vec(), b"12\n13\n".to_vec()];
    fuzz("forget-indices", &dir.path().join("forget.txt"), seeds, |p| ForgetRequest::indices_file(&data, p).is_ok());
    // saved requests (JSON written by ForgetRequest::save)
    let path = dir.path().join("request.json");
    let mut seeds = Vec::new();
    for r in [ForgetRequest::uniform(&data, 0.2, true, 3).unwrap(), ForgetRequest::classes(&data, &[1]).unwrap()] {
        r.save(&path).unwrap();
        seeds.push(std::fs::read(&path).unwrap());
    }
    fuzz("forget-request", &path, seeds, |p| ForgetRequest::load(p, &data).is_ok());
}

#[test]
fn fuzz_image_folder() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let png = |w: u32, h: u32, seed: u8| -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8 ^ seed, y as u8, seed]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    };
    for (split, class) in [("train", "a"), ("train", "b"), ("test", "a"), ("test", "b")] {
        std::fs::create_dir_all(root.join(split).join(class)).unwrap();
        std::fs::write(root.join(split).join(class).join("0.png"), png(6, 6, 1)).unwrap();
    }
    let mut jpeg = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_fn(6, 6, |x, y| image::Rgb([x as u8 * 40, y as u8 * 40, 7]))
        .write_to(&mut jpeg, image::ImageFormat::Jpeg)
        .unwrap();
    let seeds = vec![png(6, 6, 9), jpeg.into_inner()];
    let opts = unlearn::data::image_folder::FolderOptions::default();
    fuzz("image-folder", &root.join("train").join("b").join("1.png"), seeds, |_| {
        unlearn::data::image_folder::load_image_folder(root, &opts, &LoadOptions::default(), Device::Cpu).is_ok()
    });
}
