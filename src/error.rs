//! The one error type of the toolkit. Every variant names what was wrong and, where there is one,
//! the file, argument or option it came from, so a user can fix the input without reading code.
use std::path::{Path, PathBuf};

/// Errors of the typed API. The script layer turns them into rhai errors that carry the script
/// position of the call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file was read but its content is not what the format requires.
    #[error("{}: {msg}", path.display())]
    Format { path: PathBuf, msg: String },
    /// An argument has a value outside what the function accepts.
    #[error("invalid {what} `{value}`: expected {expected}")]
    InvalidArgument { what: String, value: String, expected: String },
    /// An option map has a key the function does not know.
    #[error("unknown option `{key}` for {func}(){hint}")]
    UnknownOption { func: String, key: String, hint: String },
    /// An option has the wrong type or an invalid value.
    #[error("option `{key}` of {func}(): {msg}")]
    BadOption { func: String, key: String, msg: String },
    /// Tensor shapes that do not fit together.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// Training produced a NaN or infinite loss.
    #[error("training diverged: non-finite loss ({loss}) at epoch {epoch}, batch {batch}; lower the learning rate or check the data")]
    NonFinite { epoch: usize, batch: usize, loss: f64 },
    /// The requested device cannot be used.
    #[error("device `{requested}`: {msg}")]
    Device { requested: String, msg: String },
    /// An error reported by libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// A script (or notebook cell) failed; the message carries the rendered position.
    #[error("{0}")]
    Script(String),
    /// The run's `--timeout` passed; it stopped at the next check (outputs already written are
    /// complete: every file is written atomically).
    #[error("stopped: the run's --timeout of {0} s has passed")]
    Timeout(f64),
    /// Another run holds the output folder (see [`crate::io::OutputLock`]).
    #[error("output folder {} is in use by another run ({holder}): wait for it to finish or give another --out; if that process is gone (e.g. it ran on another machine), delete {}", dir.display(), dir.join(crate::io::LOCK_FILE).display())]
    OutputInUse { dir: PathBuf, holder: String },
    /// A saved result was made under another configuration (see [`crate::resume`]).
    #[error("{} holds results of another configuration ({differs}): give another --out, or pass --overwrite to replace them", path.display())]
    Stale { path: PathBuf, differs: String },
    /// A sweep could not finish: points failed or are not complete, the script changed under a
    /// started sweep, or its folder holds results of another configuration; the message lists
    /// the points and says what to do.
    #[error("{0}")]
    Sweep(String),
    /// A result evaluated on another forget request than the one it was unlearned on (its
    /// `forgot` items of `dataset_len`; the request given has `given` of `given_len`): its forget
    /// accuracy, gaps and MIA would be about the wrong items.
    #[error("evaluate(): item {index} (`{method}`) was unlearned on another forget request ({forgot} of {dataset_len} items) than the one given ({given} of {given_len}): evaluate it with the request it forgot")]
    OtherRequest { index: usize, method: String, forgot: usize, dataset_len: usize, given: usize, given_len: usize },
    /// JSON (de)serialisation of a record.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io { path: path.as_ref().to_path_buf(), source }
    }
    /// A malformed file.
    pub fn format(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        Error::Format { path: path.as_ref().to_path_buf(), msg: msg.into() }
    }
    /// An argument with an unacceptable value.
    pub fn invalid(what: impl Into<String>, value: impl ToString, expected: impl Into<String>) -> Self {
        Error::InvalidArgument { what: what.into(), value: value.to_string(), expected: expected.into() }
    }
    /// Option `key` of the function or method `func` with a value it cannot take.
    pub fn option(func: impl Into<String>, key: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::BadOption { func: func.into(), key: key.into(), msg: msg.into() }
    }
}

/// Shorthand: `map_err(io_at(path))`.
pub fn io_at(path: impl AsRef<Path>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.as_ref().to_path_buf();
    move |e| Error::Io { path, source: e }
}
