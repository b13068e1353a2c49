//! Multi-round unlearning (method.md §4.4): a sequence of forget requests, each method starting
//! round r from its own round r−1 model; with condensation, the clustering of round 0 is reused
//! and the free/residual split and Blend are redone every round against everything forgotten so
//! far. Each round's time is recorded as unlearning only and end to end (plus condensation, plus
//! k-means in round 0).
//!
//! Resumable ([`crate::resume`]): after every (round, method) the model is saved and the manifest
//! rewritten, both atomically. The manifest carries the fingerprint of everything the steps
//! depend on (the caller's run parts, the plan with every method's options, the requests, the
//! original model's weights and the unseen reference); a rerun with the same fingerprint continues
//! after the last finished step, one with another is refused naming what differs (or, with
//! `overwrite`, starts anew).
use super::UnlearnInput;
use crate::condense::kmeans::Clustering;
use crate::condense::{condense, CondenseConfig, CondenseInput};
use crate::data::request::{labels_digest, ForgetRequest};
use crate::data::Dataset;
use crate::error::{io_at, Error, Result};
use crate::models::Model;
use crate::resume::{Fingerprint, Found};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// What to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiRoundPlan {
    /// (method name, its options) in the order they run each round.
    pub methods: Vec<(String, serde_json::Value)>,
    /// Condensation of each round's retain set, or none (full retain sets).
    pub condense: Option<CondenseConfig>,
    pub seed: u64,
    /// Blend every round with the same random feature network φ; by default each round draws a
    /// fresh one (as the reference, which builds a new network per call), from a seed of its own.
    #[serde(default)]
    pub same_feature_net: bool,
}

impl MultiRoundPlan {
    /// The seed of round `round`'s condensation draws (its feature network φ among them).
    pub fn round_seed(&self, seed: u64, round: usize) -> u64 {
        if self.same_feature_net || round == 0 {
            seed
        } else {
            seed.wrapping_add((round as u64).wrapping_mul(crate::data::split::GOLDEN_GAMMA))
        }
    }
}

/// One finished (round, method).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundRecord {
    pub round: usize,
    pub method: String,
    pub forget_size: usize,
    pub retain_size: usize,
    /// Size of the set the method trained on (R̃ with condensation).
    pub trained_on: usize,
    pub unlearning_seconds: f64,
    /// Condensation time of this round (k-means included in round 0).
    pub condense_seconds: f64,
    pub end_to_end_seconds: f64,
    /// Checkpoint of the model after this round.
    pub checkpoint: String,
    /// The method's options, defaults filled in.
    #[serde(default)]
    pub options: serde_json::Value,
}

/// The manifest of a run folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// What the records depend on (see [`fingerprint`]).
    pub fingerprint: Fingerprint,
    pub plan: MultiRoundPlan,
    pub records: Vec<RoundRecord>,
    /// Round-0 clustering, so a resumed run splits and blends exactly as the first did.
    pub clustering: Option<Vec<i64>>,
}

fn requests_digest(train: &Dataset, rounds: &[ForgetRequest]) -> String {
    let mut all: Vec<i64> = Vec::new();
    for r in rounds {
        all.push(-1);
        all.extend(&r.forget);
    }
    format!("{}-{}", labels_digest(train.labels_host()), labels_digest(&all))
}

/// Everything the steps of a multi-round run depend on: `run` (the caller's parts: script,
/// options, seed, compute; see [`crate::resume::run_parts`]), the plan (every method
/// with its options, the condensation, the seed), the requests, the original model's weights and
/// the unseen reference.
pub fn fingerprint(
    run: &Fingerprint,
    original: &Model,
    train: &Dataset,
    rounds: &[ForgetRequest],
    unseen: Option<&Dataset>,
    plan: &MultiRoundPlan,
) -> Result<Fingerprint> {
    let unseen = unseen.map(|u| format!("{} ({} items, labels {})", u.name, u.len(), labels_digest(u.labels_host())));
    Ok(run
        .clone()
        .with("methods", &plan.methods)
        .with("condense", &plan.condense)
        .with("seed", plan.seed)
        .with("same feature network", plan.same_feature_net)
        .with("training set", format!("{} ({} items)", train.name, train.len()))
        .with("requests", requests_digest(train, rounds))
        .with("original model", format!("{} weights sha256 {}", original.spec.name(), original.digest()?))
        .with("unseen reference", unseen))
}

/// Runs (or resumes) a multi-round experiment in `out` and returns every record. `run` holds the
/// caller's fingerprint parts ([`fingerprint`] adds the rest); `overwrite` replaces a manifest
/// made under another fingerprint instead of refusing it.
#[allow(clippy::too_many_arguments)]
pub fn run_multiround(
    original: &Model,
    train: &Dataset,
    rounds: &[ForgetRequest],
    unseen: Option<&Dataset>,
    plan: &MultiRoundPlan,
    out: &Path,
    progress: bool,
    run: &Fingerprint,
    overwrite: bool,
) -> Result<(Vec<RoundRecord>, BTreeMap<String, Model>)> {
    if rounds.is_empty() || plan.methods.is_empty() {
        return Err(Error::invalid("multi-round plan", "(empty)", "at least one request and one method"));
    }
    for r in rounds {
        r.check_dataset(train)?;
    }
    let manifest_path = out.join("manifest.json");
    let fingerprint = fingerprint(run, original, train, rounds, unseen, plan)?;
    let fresh =
        || Manifest { fingerprint: fingerprint.clone(), plan: plan.clone(), records: Vec::new(), clustering: None };
    let mut manifest = if manifest_path.is_file() {
        let text = std::fs::read_to_string(&manifest_path).map_err(io_at(&manifest_path))?;
        let old: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::format(&manifest_path, format!("not a manifest: {e}")))?;
        // a manifest of an older version (no fingerprint) differs in every part
        let old_fp: Fingerprint =
            old.get("fingerprint").cloned().map(serde_json::from_value).transpose()?.unwrap_or_default();
        match crate::resume::check(&manifest_path, &fingerprint, &old_fp, overwrite)? {
            Found::Replace => fresh(),
            Found::Same => serde_json::from_value(old)
                .map_err(|e| Error::format(&manifest_path, format!("not a manifest: {e}")))?,
        }
    } else {
        fresh()
    };
    let ckpt = |round: usize, name: &str| -> PathBuf { out.join(format!("round{round}_{name}.safetensors")) };
    let mut current: BTreeMap<String, Model> = BTreeMap::new();
    let mut clustering: Option<Rc<Clustering>> = None;
    if let (Some(assign), Some(c)) = (&manifest.clustering, &plan.condense) {
        clustering = Some(Rc::new(Clustering {
            k: c.ipc(),
            num_classes: train.num_classes(),
            assignment: assign.clone(),
            iterations: vec![],
            objective: vec![],
            init_seconds: 0.0,
            lloyd_seconds: 0.0,
        }));
    }
    for (round, request) in rounds.iter().enumerate() {
        let pending: Vec<&(String, serde_json::Value)> = plan
            .methods
            .iter()
            .filter(|(m, _)| !manifest.records.iter().any(|r| r.round == round && &r.method == m))
            .collect();
        if pending.is_empty() {
            continue;
        }
        let (reduced, condense_seconds) = match &plan.condense {
            None => (None, 0.0),
            Some(cfg) => {
                let cfg = cfg.clone().with_seed(cfg.seed().map(|s| plan.round_seed(s, round)));
                let input = CondenseInput {
                    train,
                    request,
                    clustering: clustering.clone(),
                    feature_model: None,
                    seed: plan.round_seed(plan.seed, round),
                };
                let r = condense(&input, &cfg)?;
                if clustering.is_none() {
                    clustering = r.clustering.clone();
                    manifest.clustering = clustering.as_ref().map(|c| c.assignment.clone());
                }
                let t = r.timings.total();
                (Some(r), t)
            }
        };
        for (name, options) in pending {
            let start = match current.remove(name) {
                Some(m) => m,
                None if round == 0 => original.try_clone()?,
                None => {
                    // a checkpoint keeps the weights, not how the model computes
                    let mut m = Model::load(ckpt(round - 1, name), original.device())?;
                    m.set_compute(original.compute());
                    m
                }
            };
            let input = UnlearnInput {
                original: &start,
                train,
                request,
                retain: reduced.as_ref().map(|r| &r.dataset),
                unseen,
                seed: plan.seed,
                progress,
            };
            let result = super::unlearn(name, &input, options)?;
            let path = ckpt(round, name);
            result.model.save(&path)?;
            manifest.records.push(RoundRecord {
                round,
                method: name.clone(),
                forget_size: request.forget.len(),
                retain_size: request.retain.len(),
                trained_on: result.retain.1,
                unlearning_seconds: result.seconds,
                condense_seconds,
                end_to_end_seconds: result.seconds + condense_seconds,
                checkpoint: path.display().to_string(),
                options: result.options.clone(),
            });
            crate::io::write_json_atomic(&manifest_path, &manifest)?;
            current.insert(name.clone(), result.model);
        }
    }
    // the final models (loaded from disk for steps finished by an earlier run)
    let last = rounds.len() - 1;
    let mut finals = BTreeMap::new();
    for (name, _) in &plan.methods {
        let m = match current.remove(name) {
            Some(m) => m,
            None => {
                let mut m = Model::load(ckpt(last, name), original.device())?;
                m.set_compute(original.compute());
                m
            }
        };
        finals.insert(name.clone(), m);
    }
    Ok((manifest.records, finals))
}
