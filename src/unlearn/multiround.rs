//! Multi-round unlearning (method.md §4.4): a sequence of forget requests, each method starting
//! round r from its own round r−1 model; with condensation, the clustering of round 0 is reused
//! and the free/residual split and Blend are redone every round against everything forgotten so
//! far. Each round's time is recorded as unlearning only and end to end (plus condensation, plus
//! k-means in round 0).
//!
//! Resumable: after every (round, method) the model is saved and the manifest rewritten, both
//! atomically; a rerun with the same plan continues after the last finished step.
use super::{method, UnlearnInput};
use crate::condense::kmeans::Clustering;
use crate::condense::{condense, CondenseConfig, CondenseInput};
use crate::data::request::{labels_digest, ForgetRequest};
use crate::data::Dataset;
use crate::error::{io_at, Error, Result};
use crate::models::Model;
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
}

/// The manifest of a run folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub plan: MultiRoundPlan,
    /// Digest of the requests (dataset labels and every round's forget set).
    pub requests_digest: String,
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

/// Runs (or resumes) a multi-round experiment in `out` and returns every record.
pub fn run_multiround(
    original: &Model,
    train: &Dataset,
    rounds: &[ForgetRequest],
    unseen: Option<&Dataset>,
    plan: &MultiRoundPlan,
    out: &Path,
    progress: bool,
) -> Result<(Vec<RoundRecord>, BTreeMap<String, Model>)> {
    if rounds.is_empty() || plan.methods.is_empty() {
        return Err(Error::invalid("multi-round plan", "(empty)", "at least one request and one method"));
    }
    for r in rounds {
        r.check_dataset(train)?;
    }
    let manifest_path = out.join("manifest.json");
    let digest = requests_digest(train, rounds);
    let mut manifest = if manifest_path.is_file() {
        let text = std::fs::read_to_string(&manifest_path).map_err(io_at(&manifest_path))?;
        let m: Manifest =
            serde_json::from_str(&text).map_err(|e| Error::format(&manifest_path, format!("not a manifest: {e}")))?;
        if m.plan != *plan || m.requests_digest != digest {
            return Err(Error::format(
                &manifest_path,
                "belongs to a different plan or different requests: use another output folder (or delete this one) to start anew",
            ));
        }
        m
    } else {
        Manifest { plan: plan.clone(), requests_digest: digest, records: Vec::new(), clustering: None }
    };
    let ckpt = |round: usize, name: &str| -> PathBuf { out.join(format!("round{round}_{name}.safetensors")) };
    let mut current: BTreeMap<String, Model> = BTreeMap::new();
    let mut clustering: Option<Rc<Clustering>> = None;
    if let (Some(assign), Some(c)) = (&manifest.clustering, &plan.condense) {
        clustering = Some(Rc::new(Clustering {
            k: c.ipc,
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
                let input = CondenseInput {
                    train,
                    request,
                    clustering: clustering.clone(),
                    feature_model: None,
                    seed: plan.seed,
                };
                let r = condense(&input, cfg)?;
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
            let result = method(name)?.run(&input, options)?;
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
