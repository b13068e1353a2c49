//! Classifiers trained in PyTorch and saved as TorchScript (`torch.jit.script` or
//! `torch.jit.trace`, then `torch.jit.save`): loaded with their parameters in the model's
//! `VarStore`, so every method trains them as it trains our own architectures, and saved back as
//! TorchScript with the new weights.
//!
//! **Modes.** The module always runs in evaluation mode, in training too: batch norm normalises
//! with its running statistics, which stay as the deployed model has them (unlearning changes
//! the parameters, its affine weights included, never the statistics), and dropout is off. So
//! every method optimises the very function that is deployed, the gradients are those of that
//! function, and a saved result behaves in PyTorch's `eval()` exactly as it did here. The forget
//! set's share of the running statistics (a mean over the whole training set) is not removed.
//! Instance and group norm have no running statistics and behave the same in both modes.
//!
//! **Fresh initialisation.** A method that starts from scratch (Retrain, Bad-Teacher's
//! incompetent teacher) needs an untrained model of the same architecture: the TorchScript file
//! given as `init` when the model is loaded. Without one those methods stop with an error that
//! says so; a TorchScript file holds no initialisation scheme to draw a new one from.
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use tch::{nn, Device, Tensor};

/// The files behind a TorchScript model: kept in memory so copies of the model (a method's
/// working copy, a fresh initialisation) load from them without reading the disk again.
#[derive(Debug)]
pub struct ScriptFiles {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    /// The untrained model of the same architecture, if given.
    pub init: Option<(PathBuf, Vec<u8>)>,
}

impl ScriptFiles {
    /// Reads `path` (and `init`), naming the file that cannot be read.
    pub fn read(path: &Path, init: Option<&Path>) -> Result<Rc<ScriptFiles>> {
        let read = |p: &Path| std::fs::read(p).map_err(crate::error::io_at(p));
        let init = match init {
            Some(p) => Some((p.to_path_buf(), read(p)?)),
            None => None,
        };
        Ok(Rc::new(ScriptFiles { path: path.to_path_buf(), bytes: read(path)?, init }))
    }
}

/// A TorchScript classifier whose parameters live in a `VarStore`.
pub struct ScriptNet {
    module: tch::TrainableCModule,
    pub files: Rc<ScriptFiles>,
    /// The file this module was loaded from: the model's, or its `init`.
    path: PathBuf,
}

impl std::fmt::Debug for ScriptNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ScriptNet({})", self.path.display())
    }
}

impl ScriptNet {
    /// Loads the model of `files` (its `init` with `fresh`) under `root`, in evaluation mode.
    pub fn load(files: &Rc<ScriptFiles>, root: &nn::Path, fresh: bool) -> Result<ScriptNet> {
        let (path, bytes) = if fresh {
            let (p, b) = files.init.as_ref().ok_or_else(|| {
                Error::invalid(
                    "fresh initialisation",
                    files.path.display(),
                    "an untrained TorchScript model of the same architecture, given as `init` when the model is loaded (a method that trains from scratch, such as Retrain, needs one)",
                )
            })?;
            (p.as_path(), b)
        } else {
            (files.path.as_path(), &files.bytes)
        };
        let mut module =
            tch::TrainableCModule::load_data(&mut std::io::Cursor::new(bytes), root.clone()).map_err(|e| {
                Error::format(path, format!("not a TorchScript model (saved with torch.jit.save): {}", first_line(&e)))
            })?;
        module.f_set_eval()?;
        Ok(ScriptNet { module, files: files.clone(), path: path.to_path_buf() })
    }

    /// The logits of a batch.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.module.forward_ts(&[x]).map_err(|e| {
            Error::Shape(format!(
                "{}: the TorchScript model failed on a batch of {:?}: {}",
                self.path.display(),
                x.size(),
                first_line(&e)
            ))
        })
    }

    /// The module's `embed` method (penultimate features), where it has one.
    pub fn embed(&self, x: &Tensor) -> Result<Tensor> {
        self.module.method_ts("embed", &[x]).map_err(|e| {
            Error::invalid(
                "penultimate features",
                self.path.display(),
                format!("a TorchScript model with an `embed` method (@torch.jit.export): {}", first_line(&e)),
            )
        })
    }

    /// Saves the module, with its current parameters, as TorchScript at `path`, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::io::write_atomic_with(path, |tmp| {
            self.module.save(tmp).map_err(|e| Error::format(path, format!("TorchScript save: {e}")))
        })
    }

    /// Checks that the model maps `[N, C, H, W]` images of `shape` to `N x num_classes` logits,
    /// with a two-image batch of zeros on `device`.
    pub fn check_classifier(&self, shape: [i64; 3], num_classes: i64, device: Device) -> Result<()> {
        let path = self.path.display();
        let x = Tensor::f_zeros([2, shape[0], shape[1], shape[2]], (tch::Kind::Float, device))?;
        let y = tch::no_grad(|| self.module.forward_ts(&[&x])).map_err(|e| {
            Error::Shape(format!(
                "{path} is not a classifier of {}x{}x{} images: a batch of 2 such images fails in it ({})",
                shape[0],
                shape[1],
                shape[2],
                first_line(&e)
            ))
        })?;
        if y.size() != [2, num_classes] {
            return Err(Error::Shape(format!(
                "{path} maps a batch of 2 images of {}x{}x{} to outputs of shape {:?}; a classifier of this data's {num_classes} classes gives [2, {num_classes}]",
                shape[0],
                shape[1],
                shape[2],
                y.size()
            )));
        }
        Ok(())
    }
}

/// The first line of a libtorch error (its full text carries a C++ backtrace).
fn first_line(e: &tch::TchError) -> String {
    let text = e.to_string();
    text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string()
}
