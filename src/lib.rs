//! **unlearn**: fast, scriptable, measurable machine unlearning of image classifiers, on
//! libtorch. Implements Blend and A-AMU (arXiv 2507.09786) as described in the repository's
//! `docs/method.md`, with datasets, models, training, metrics and reports exposed to rhai
//! scripts (`unlearn run scripts/NAME.rhai`).
//!
//! Layout: [`data`] (datasets on the device, forget requests), [`models`] (architectures,
//! checkpoints), [`condense`] (Blend and the condensation baselines),
//! [`train`] (optimisers, schedules, the epoch loop, evaluation), [`unlearn`] (the methods),
//! [`metrics`], [`report`] (result records, tables, summaries, plots), [`sweep`]
//! (sweeps and their executors), [`arrays`] (results as `ndarray` arrays), [`script`] (the rhai
//! engine, a thin skin over the rest) and [`notebook`] (evcxr sessions).
//!
//! ## The typed API
//!
//! Everything a script does is a Rust call: methods and condensers take typed options
//! ([`unlearn::run`], [`condense::run`]; by name with JSON options through their registries).
//! The quickstart with the crate alone, `examples/quickstart.rs` (run by the tests):
//!
#![doc = concat!("```ignore\n", include_str!("../examples/quickstart.rs"), "\n```")]

pub mod arrays;
pub mod condense;
pub mod config;
pub mod console;
pub mod data;
pub mod error;
pub mod forget;
pub mod io;
pub mod metrics;
pub mod models;
pub mod notebook;
pub mod paths;
pub mod report;
pub mod resume;
pub mod runtime;
pub mod script;
pub mod sweep;
pub mod train;
pub mod unlearn;

pub use error::{Error, Result};
