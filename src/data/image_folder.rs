//! Image folders: `root/<split>/<class>/*.png|jpg` (CINIC-10's layout, and what most people have).
//! Class names are the sorted sub-folder names of the training split; images are decoded in
//! parallel and, unless a `size` is given, must all have the size of the first one.
use super::{from_u8_split, DataSplit, LoadOptions};
use crate::error::{io_at, Error, Result};
use image::imageops::FilterType;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::Device;

/// Image-folder options (besides [`LoadOptions`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FolderOptions {
    /// Sub-folder of the training part.
    pub train: String,
    /// Sub-folder of the test part.
    pub test: String,
}

impl Default for FolderOptions {
    fn default() -> Self {
        FolderOptions { train: "train".into(), test: "test".into() }
    }
}

const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_at(dir))? {
        out.push(entry.map_err(io_at(dir))?.path());
    }
    out.sort();
    Ok(out)
}

/// Image files with their class index.
type Files = Vec<(PathBuf, i64)>;

/// (class names, files with their class index) of one split folder.
fn list_split(
    dir: &Path,
    classes: Option<&[String]>,
    paths: &crate::paths::PathPolicy,
) -> Result<(Vec<String>, Files)> {
    if !dir.is_dir() {
        return Err(Error::format(dir, "missing: an image folder holds <root>/<split>/<class>/*.png|jpg"));
    }
    let class_dirs: Vec<PathBuf> = sorted_entries(dir)?.into_iter().filter(|p| p.is_dir()).collect();
    let names: Vec<String> = class_dirs
        .iter()
        .map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
        .collect();
    if names.is_empty() {
        return Err(Error::format(dir, "no class sub-folders"));
    }
    let classes: Vec<String> = classes.map(|c| c.to_vec()).unwrap_or_else(|| names.clone());
    let mut files = Vec::new();
    for (dir_path, name) in class_dirs.iter().zip(&names) {
        let label = classes.iter().position(|c| c == name).ok_or_else(|| {
            Error::format(dir_path, format!("class `{name}` does not exist in the training part ({classes:?})"))
        })?;
        // a link may lead anywhere: where a linked class folder or image leads must be allowed
        // too (a plain file in a plain folder under an allowed root is inside it)
        paths.check_file(dir_path, "class folder")?;
        let before = files.len();
        for f in sorted_entries(dir_path)? {
            let ext = f.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
            if f.is_file() && EXTENSIONS.contains(&ext.as_str()) {
                if std::fs::symlink_metadata(&f).is_ok_and(|m| m.file_type().is_symlink()) {
                    paths.check_file(&f, "image")?;
                }
                files.push((f, label as i64));
            }
        }
        // a class of no images would count as a class (of every metric's denominators) that can
        // neither be learned nor forgotten
        if files.len() == before {
            return Err(Error::format(
                dir_path,
                format!("class folder `{name}` holds no .png or .jpg images: add its images or remove the folder"),
            ));
        }
    }
    Ok((classes, files))
}

/// Decodes `files` in parallel into one `N x C x H x W` byte buffer; also says whether every
/// image was stored grayscale.
/// `size`: the target width and height (default: the first image's); `resize`: whether other
/// sizes are resized to it or rejected.
fn decode_all(
    files: &[(PathBuf, i64)],
    channels: usize,
    size: Option<(u32, u32)>,
    resize: bool,
) -> Result<(Vec<u8>, [usize; 3], bool)> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let all_gray = AtomicBool::new(true);
    let decode = |path: &Path| -> Result<image::DynamicImage> {
        image::ImageReader::open(path)
            .map_err(io_at(path))?
            .with_guessed_format()
            .map_err(io_at(path))?
            .decode()
            .map_err(|e| Error::format(path, format!("cannot decode image: {e}")))
    };
    let (w, h) = match size {
        Some(s) => s,
        None => {
            let first = decode(&files[0].0)?;
            (first.width(), first.height())
        }
    };
    let item =
        (w as usize).checked_mul(h as usize).and_then(|p| p.checked_mul(channels)).filter(|&i| i > 0).ok_or_else(
            || Error::invalid("image size", format!("{w}x{h}"), "a non-empty size whose pixels can be counted"),
        )?;
    let total = files.len().checked_mul(item).ok_or_else(|| {
        Error::invalid("image folder", format!("{} images of {w}x{h}", files.len()), "a size that fits in memory")
    })?;
    crate::runtime::ensure_fits(Device::Cpu, total as u64, &format!("{} images of {w}x{h}", files.len()))?;
    let mut pixels = vec![0u8; total];
    pixels.par_chunks_mut(item).zip(files.par_iter()).try_for_each(|(dst, (path, _))| -> Result<()> {
        let mut img = decode(path)?;
        if !matches!(
            img.color(),
            image::ColorType::L8 | image::ColorType::L16 | image::ColorType::La8 | image::ColorType::La16
        ) {
            all_gray.store(false, Ordering::Relaxed);
        }
        if (img.width(), img.height()) != (w, h) {
            if !resize {
                return Err(Error::format(
                    path,
                    format!(
                        "image is {}x{} but the first training image is {w}x{h}: pass the `size` option to resize all images",
                        img.width(),
                        img.height()
                    ),
                ));
            }
            img = img.resize_exact(w, h, FilterType::Triangle);
        }
        let plane = w as usize * h as usize;
        if channels == 1 {
            dst.copy_from_slice(img.to_luma8().as_raw());
        } else {
            // interleaved RGB -> planar channels
            let rgb = img.to_rgb8();
            for (i, px) in rgb.as_raw().chunks_exact(3).enumerate() {
                dst[i] = px[0];
                dst[plane + i] = px[1];
                dst[2 * plane + i] = px[2];
            }
        }
        Ok(())
    })?;
    Ok((pixels, [channels, h as usize, w as usize], all_gray.into_inner()))
}

/// The first channel of each `[3, H, W]` item of `pixels` (grayscale images decoded to three
/// equal channels).
fn first_channel(pixels: &[u8], shape: [usize; 3]) -> Vec<u8> {
    let plane = shape[1] * shape[2];
    pixels.chunks_exact(3 * plane).flat_map(|item| &item[..plane]).copied().collect()
}

/// Loads `root/<train>/<class>/*` and `root/<test>/<class>/*`.
pub fn load_image_folder(
    root: impl AsRef<Path>,
    folders: &FolderOptions,
    opts: &LoadOptions,
    device: Device,
) -> Result<DataSplit> {
    let root = root.as_ref();
    let (classes, train_files) = list_split(&root.join(&folders.train), None, &opts.paths)?;
    let (_, test_files) = list_split(&root.join(&folders.test), Some(&classes), &opts.paths)?;
    let channels = if opts.channels == Some(1) { 1 } else { 3 };
    let size = opts.size.map(|s| (s as u32, s as u32));
    let (mut train_px, mut shape, train_gray) = decode_all(&train_files, channels, size, size.is_some())?;
    let train_size = Some((shape[2] as u32, shape[1] as u32));
    let (mut test_px, _, test_gray) = decode_all(&test_files, channels, train_size, size.is_some())?;
    // channels from the files unless asked: one when every image is stored grayscale
    if opts.channels.is_none() && channels == 3 && train_gray && test_gray {
        train_px = first_channel(&train_px, shape);
        test_px = first_channel(&test_px, shape);
        shape[0] = 1;
    }
    let labels = |files: &[(PathBuf, i64)]| files.iter().map(|(_, l)| *l).collect::<Vec<_>>();
    let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "images".into());
    from_u8_split(
        &name,
        root,
        (train_px, labels(&train_files)),
        (test_px, labels(&test_files)),
        shape,
        classes,
        opts,
        device,
    )
}
