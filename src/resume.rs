//! The one resume mechanism: a finished piece of work (a sweep point, a multi-round step, a
//! single-round seed) is saved with a [`Fingerprint`] of everything its result depends on, and a
//! later run reuses it only when its own fingerprint is the same. A record made under another
//! configuration is never reused silently: [`load`] refuses it and names every part that differs,
//! unless the user asked to replace such records (`--overwrite`).
use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What a result depends on, part by part: a part name (`"script"`, `"--set width"`,
/// `"original model"`, ...) and its value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(BTreeMap<String, Value>);

impl Fingerprint {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) part `name`.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Serialize) {
        let value = serde_json::to_value(value).unwrap_or_else(|e| Value::String(format!("(not serialisable: {e})")));
        self.0.insert(name.into(), value);
    }

    /// `self` with part `name` added.
    pub fn with(mut self, name: impl Into<String>, value: impl Serialize) -> Self {
        self.insert(name, value);
        self
    }

    /// How `record` (the fingerprint a saved result carries) differs from `self`, one line per
    /// part, e.g. "--set width: `32` here, `8` in the record"; empty when they are the same.
    pub fn differences(&self, record: &Fingerprint) -> Vec<String> {
        let names: BTreeSet<&String> = self.0.keys().chain(record.0.keys()).collect();
        names
            .into_iter()
            .filter_map(|name| {
                let (here, there) = (self.0.get(name), record.0.get(name));
                (here != there).then(|| format!("{name}: {} here, {} in the record", show(here), show(there)))
            })
            .collect()
    }
}

/// A part's value for messages (long values shortened).
fn show(v: Option<&Value>) -> String {
    let Some(v) = v else { return "unset".into() };
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    const MAX: usize = 160;
    if text.chars().count() > MAX {
        let cut: String = text.chars().take(MAX).collect();
        format!("`{cut}…`")
    } else {
        format!("`{text}`")
    }
}

/// A saved piece of work and the fingerprint it was made under.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record<T> {
    pub fingerprint: Fingerprint,
    pub result: T,
}

/// What [`check`] found in an existing record.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// Same fingerprint: reuse it.
    Same,
    /// Another fingerprint and `overwrite` was asked for: start anew (the record is replaced).
    Replace,
}

/// Compares a record's fingerprint with `fingerprint`: `Same`, `Replace` (when they differ and
/// `overwrite`), or an error naming `path` and every differing part.
pub fn check(path: &Path, fingerprint: &Fingerprint, record: &Fingerprint, overwrite: bool) -> Result<Found> {
    let diffs = fingerprint.differences(record);
    if diffs.is_empty() {
        Ok(Found::Same)
    } else if overwrite {
        Ok(Found::Replace)
    } else {
        Err(Error::Stale { path: path.to_path_buf(), differs: diffs.join("; ") })
    }
}

/// The result saved at `path` when its fingerprint is `fingerprint`; `None` when there is no
/// record, or it differs and `overwrite`; an error when it differs otherwise, or when the file is
/// not such a record.
pub fn load<T: DeserializeOwned>(path: &Path, fingerprint: &Fingerprint, overwrite: bool) -> Result<Option<T>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let record: Record<Value> = serde_json::from_str(&text)
        .map_err(|e| Error::format(path, format!("not a resumable record (fingerprint and result): {e}")))?;
    match check(path, fingerprint, &record.fingerprint, overwrite)? {
        Found::Replace => Ok(None),
        Found::Same => serde_json::from_value(record.result)
            .map(Some)
            .map_err(|e| Error::format(path, format!("the record's result does not read back: {e}"))),
    }
}

/// Writes `result` with `fingerprint` to `path`, atomically; `extra` fields (e.g. the run record)
/// are stored beside them.
pub fn save<T: Serialize>(path: &Path, fingerprint: &Fingerprint, result: &T, extra: &[(&str, Value)]) -> Result<()> {
    let mut doc = serde_json::Map::new();
    doc.insert("fingerprint".into(), serde_json::to_value(fingerprint)?);
    doc.insert("result".into(), serde_json::to_value(result)?);
    for (k, v) in extra {
        doc.insert((*k).into(), v.clone());
    }
    crate::io::write_json_atomic(path, &Value::Object(doc))
}

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

/// `bytes` as lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds `t`'s values to `h` as little-endian f32 (copied to the host): the content part of the
/// data and model digests that fingerprints use.
pub fn hash_tensor(h: &mut sha2::Sha256, t: &tch::Tensor) -> Result<()> {
    use sha2::Digest;
    let t = t.f_detach()?.f_to_device(tch::Device::Cpu)?.f_to_kind(tch::Kind::Float)?.f_contiguous()?;
    for v in Vec::<f32>::try_from(&t.f_flatten(0, -1)?)? {
        h.update(v.to_le_bytes());
    }
    Ok(())
}

/// The parts every run shares: the script's SHA-256, `--seed`, each `--set` option (a part of
/// its own, so a message names it), and how it computes (`compute`, e.g. the device asked for
/// and --deterministic; the CPU thread count where results depend on it).
pub fn run_parts(
    script_sha256: &str,
    seed: u64,
    options: &BTreeMap<String, String>,
    compute: &BTreeMap<String, Value>,
) -> Fingerprint {
    let mut f = Fingerprint::new().with("script", script_sha256).with("--seed", seed);
    for (k, v) in options {
        f.insert(format!("--set {k}"), v);
    }
    for (k, v) in compute {
        f.insert(k.clone(), v);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_every_part_that_differs_and_only_those() {
        let a = Fingerprint::new().with("--set width", "32").with("seed", 1).with("same", [1, 2]);
        let b = Fingerprint::new().with("--set width", "8").with("seed", 1).with("same", [1, 2]).with("old", true);
        let d = a.differences(&b);
        assert_eq!(
            d,
            vec![
                "--set width: `32` here, `8` in the record".to_string(),
                "old: unset here, `true` in the record".into()
            ]
        );
        assert!(a.differences(&a.clone()).is_empty());
    }

    #[test]
    fn load_reuses_the_same_fingerprint_refuses_another_and_overwrite_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let f = Fingerprint::new().with("--set width", "8");
        assert_eq!(load::<Vec<i32>>(&path, &f, false).unwrap(), None);
        save(&path, &f, &vec![1, 2, 3], &[]).unwrap();
        assert_eq!(load::<Vec<i32>>(&path, &f, false).unwrap(), Some(vec![1, 2, 3]));
        let g = Fingerprint::new().with("--set width", "32");
        let e = load::<Vec<i32>>(&path, &g, false).unwrap_err().to_string();
        assert!(
            e.contains("r.json")
                && e.contains("--set width: `32` here, `8` in the record")
                && e.contains("--overwrite"),
            "{e}"
        );
        assert_eq!(load::<Vec<i32>>(&path, &g, true).unwrap(), None);
        std::fs::write(&path, "{\"x\": 1}").unwrap();
        assert!(load::<Vec<i32>>(&path, &f, false).unwrap_err().to_string().contains("not a resumable record"));
    }
}
