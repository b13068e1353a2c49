//! Run records: every result file carries the configuration, seed, versions, device and times of
//! the run that produced it. The results themselves: evaluation tables ([`evaluate`], [`table`]),
//! summaries over runs, plots, and the HTML of their rich displays.
use crate::error::Result;
pub mod evaluate;
pub mod html;
pub mod plot;
pub mod summary;
pub mod table;

use crate::io::write_json_atomic;
use crate::runtime::Versions;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Describes one `unlearn run`.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub script: String,
    /// SHA-256 of the script file as it ran (empty where there is no file: a notebook).
    pub script_sha256: String,
    pub seed: u64,
    pub device: String,
    /// `--set key=value` options.
    pub options: BTreeMap<String, String>,
    pub out_dir: String,
    pub started: String,
    pub versions: Versions,
    /// Whether the run repeats bit for bit, and why (see [`crate::runtime::determinism`]).
    pub determinism: String,
}

impl RunInfo {
    /// The record of a run of `script` (a file, hashed when it can be read; any name otherwise)
    /// on `device` with `seed`, writing under `out_dir`, with `--set` `options`; started now.
    pub fn new(
        script: &str,
        device: tch::Device,
        seed: u64,
        out_dir: &Path,
        options: BTreeMap<String, String>,
    ) -> Self {
        RunInfo {
            script: script.to_string(),
            script_sha256: std::fs::read(script).map(|b| crate::resume::sha256_hex(&b)).unwrap_or_default(),
            seed,
            device: crate::runtime::device_name(device),
            options,
            out_dir: out_dir.display().to_string(),
            started: now(),
            versions: Versions::current(),
            determinism: crate::runtime::determinism(device),
        }
    }
}

/// A result document: what the script saved plus the run it came from.
#[derive(Debug, Serialize)]
pub struct ResultRecord<'a, T: Serialize> {
    pub result: &'a T,
    pub run: &'a RunInfo,
    pub written: String,
}

/// The current local time in RFC 3339.
pub fn now() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// Writes `result` with its run record to `path` (JSON, atomically).
/// A result with the definitions of its metrics (`{key: {definition, better}}`) beside its fields.
#[derive(Serialize)]
pub struct WithDefinitions<'a, T: Serialize> {
    #[serde(flatten)]
    pub result: &'a T,
    pub definitions: serde_json::Value,
}

pub fn save_result<T: Serialize>(path: &Path, result: &T, run: &RunInfo) -> Result<()> {
    write_json_atomic(path, &ResultRecord { result, run, written: now() })
}
