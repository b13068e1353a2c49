//! The oracle bank: N models retrained from scratch without the forget set (the Retrain method,
//! one seed each), measured once — every forget example's logit-scaled confidence under each, and
//! their retain / test / forget accuracy — and reused by every method scored against them
//! ([`super::forgetting`]). Retraining dominates the cost of the forgetting score, so a bank is
//! saved in a folder named after what it depends on (the training data, the request, the
//! evaluation split, the architecture and initialisation, Retrain's options and the seeds) and
//! loaded, not retrained, when asked for again. Its hash (of that key and every measured value)
//! goes with every score computed against it.
use super::EvalContext;
use crate::data::request::ForgetRequest;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::Model;
use crate::train::eval::{accuracy, logits};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Options of [`oracle_bank`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OracleConfig {
    /// Oracles (the challenge used 512; at least 3, since with N the score's buckets reach
    /// ⌈ln(N − 1)⌉).
    pub models: usize,
    /// Retrain's options for every oracle (e.g. `{"epochs": 2}`; the seed is the oracle's).
    pub retrain: serde_json::Value,
    /// Seed of the oracles' seeds; `None`: the run's.
    pub seed: Option<u64>,
    /// Folder of saved banks (one subfolder per key); `None`: nothing saved or reused.
    pub dir: Option<PathBuf>,
    pub progress: bool,
}

impl Default for OracleConfig {
    fn default() -> Self {
        OracleConfig { models: 4, retrain: serde_json::json!({}), seed: None, dir: None, progress: false }
    }
}

impl crate::config::Options for OracleConfig {}

/// What a bank depends on: a bank is reused only for the same key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OracleKey {
    /// Digests of the training data, the forget indices and the evaluation split.
    pub train: String,
    pub forget: String,
    pub evaluation: String,
    /// The architecture and initialisation (the spec as JSON).
    pub model: String,
    pub retrain: serde_json::Value,
    pub seeds: Vec<u64>,
}

/// The oracles' measurements.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OracleBank {
    pub key: OracleKey,
    /// `confidences[m][i]`: the challenge's logit-scaled confidence of forget item `i` (request
    /// order) under oracle `m`.
    pub confidences: Vec<Vec<f64>>,
    /// Per oracle: accuracy on the real retain set, the evaluation split and the forget set.
    pub retain_acc: Vec<f64>,
    pub test_acc: Vec<f64>,
    pub forget_acc: Vec<f64>,
    /// Seconds to retrain each oracle (when it was trained, not loaded).
    pub seconds: Vec<f64>,
    /// SHA-256 of the key and every measured value.
    pub hash: String,
    /// The folder it was saved in or loaded from.
    pub folder: Option<PathBuf>,
    /// Whether it was loaded from that folder instead of trained.
    pub reused: bool,
}

/// Per model: the forget items' confidences and [retain, test, forget] accuracy in `ctx`.
pub fn measure(model: &Model, ctx: &EvalContext) -> Result<(Vec<f64>, [f64; 3])> {
    let forget = ctx.forget.to_device(model.device())?;
    let l = logits(model, &forget)?;
    // forget accuracy from the same logits (no second pass)
    let hits = l.f_argmax(-1, false)?.f_eq_tensor(forget.labels())?.f_sum(tch::Kind::Int64)?.f_int64_value(&[])?;
    let l = l.f_to_kind(tch::Kind::Double)?.f_to_device(tch::Device::Cpu)?;
    let k = l.size()[1] as usize;
    let flat = Vec::<f64>::try_from(&l.f_flatten(0, -1)?)?;
    let conf = super::forgetting::logit_scaled_confidence(&flat, k, forget.labels_host())?;
    let accs = [accuracy(model, &ctx.retain)?, accuracy(model, ctx.evaluation)?, hits as f64 / forget.len() as f64];
    Ok((conf, accs))
}

impl OracleBank {
    pub fn models(&self) -> usize {
        self.confidences.len()
    }
    pub fn mean_retain_acc(&self) -> f64 {
        mean(&self.retain_acc)
    }
    pub fn mean_test_acc(&self) -> f64 {
        mean(&self.test_acc)
    }
    pub fn mean_forget_acc(&self) -> f64 {
        mean(&self.forget_acc)
    }

    fn content_hash(&self) -> Result<String> {
        let content = serde_json::json!({
            "key": self.key, "confidences": self.confidences, "retain_acc": self.retain_acc,
            "test_acc": self.test_acc, "forget_acc": self.forget_acc,
        });
        Ok(crate::resume::sha256_hex(serde_json::to_string(&content)?.as_bytes()))
    }

    /// Fails unless the bank was made for `ctx`'s request and evaluation split on `train`.
    pub fn check_context(&self, train: &Dataset, ctx: &EvalContext) -> Result<()> {
        let key = key_parts(train, ctx.request, ctx.evaluation)?;
        for (what, mine, theirs) in [
            ("training data", &self.key.train, &key.0),
            ("forget request", &self.key.forget, &key.1),
            ("evaluation split", &self.key.evaluation, &key.2),
        ] {
            if mine != theirs {
                return Err(Error::invalid(
                    "oracle bank",
                    format!("made for another {what}"),
                    format!("a bank of this experiment's {what} (a score against other oracles means nothing)"),
                ));
            }
        }
        Ok(())
    }

    /// Oracle `i`'s model, from the bank's folder, onto `device`.
    pub fn model(&self, i: usize, device: tch::Device) -> Result<Model> {
        let folder = self.folder.as_ref().ok_or_else(|| {
            Error::invalid("oracle bank", "kept in memory only", "a bank saved in a folder (option `dir`)")
        })?;
        let seed = self.key.seeds.get(i).ok_or_else(|| Error::invalid("oracle", i, "an oracle of the bank"))?;
        Model::load(folder.join(format!("oracle-{seed}.safetensors")), device)
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn key_parts(train: &Dataset, request: &ForgetRequest, evaluation: &Dataset) -> Result<(String, String, String)> {
    let forget = crate::data::request::labels_digest(&request.forget);
    Ok((train.digest()?, format!("{}-{forget}", request.labels_digest), evaluation.digest()?))
}

/// The bank for `request` on `train` with accuracies on `evaluation`: loaded from `cfg.dir` when a
/// bank of the same key is there, else `cfg.models` oracles retrained from `original`'s
/// architecture (fresh initialisations, Retrain with `cfg.retrain`) and saved there.
pub fn oracle_bank(
    original: &Model,
    train: &Dataset,
    request: &ForgetRequest,
    evaluation: &Dataset,
    cfg: &OracleConfig,
    run_seed: u64,
) -> Result<OracleBank> {
    let opt = |key: &str, msg: &str| Error::BadOption { func: "oracle_bank".into(), key: key.into(), msg: msg.into() };
    if cfg.models < 3 {
        return Err(opt(
            "models",
            "must be at least 3 (with N oracles the score's buckets end at ⌈ln(N − 1)⌉, 0 for 2)",
        ));
    }
    crate::config::at_most("oracle_bank", "models", cfg.models, crate::config::MAX_SHADOWS)?;
    if !cfg.retrain.is_object() {
        return Err(opt("retrain", "must be a map of Retrain's options"));
    }
    request.check_dataset(train)?;
    let seed = cfg.seed.unwrap_or(run_seed);
    let seeds: Vec<u64> = (0..cfg.models as u64).map(|i| seed.wrapping_mul(1_000_003).wrapping_add(7919 + i)).collect();
    let (t, f, e) = key_parts(train, request, evaluation)?;
    let key = OracleKey {
        train: t,
        forget: f,
        evaluation: e,
        model: serde_json::to_string(&original.spec)?,
        retrain: cfg.retrain.clone(),
        seeds: seeds.clone(),
    };
    let folder = match &cfg.dir {
        Some(d) => Some(
            d.join(format!("oracles-{}", &crate::resume::sha256_hex(serde_json::to_string(&key)?.as_bytes())[..16])),
        ),
        None => None,
    };
    if let Some(folder) = &folder {
        if let Some(bank) = load(folder, &key)? {
            return Ok(bank);
        }
    }
    let ctx = EvalContext::new(train, request, evaluation, super::MiaOptions { seed, swap_below: None }, None)?;
    let mut bank = OracleBank {
        key,
        confidences: Vec::new(),
        retain_acc: Vec::new(),
        test_acc: Vec::new(),
        forget_acc: Vec::new(),
        seconds: Vec::new(),
        hash: String::new(),
        folder: folder.clone(),
        reused: false,
    };
    for (i, &s) in seeds.iter().enumerate() {
        let input = crate::unlearn::UnlearnInput {
            original,
            train,
            request,
            retain: None,
            unseen: None,
            seed: s,
            progress: cfg.progress,
        };
        let mut options = cfg.retrain.clone();
        options["seed"] = s.into();
        let result = crate::unlearn::unlearn("retrain", &input, &options)?;
        let (conf, accs) = measure(&result.model, &ctx)?;
        bank.confidences.push(conf);
        bank.retain_acc.push(accs[0]);
        bank.test_acc.push(accs[1]);
        bank.forget_acc.push(accs[2]);
        bank.seconds.push(result.seconds);
        if let Some(folder) = &folder {
            result.model.save(folder.join(format!("oracle-{s}.safetensors")))?;
        }
        if cfg.progress {
            crate::errln!("oracle {}/{}: {:.1} s", i + 1, seeds.len(), result.seconds);
        }
    }
    bank.hash = bank.content_hash()?;
    if let Some(folder) = &folder {
        crate::io::write_json_atomic(folder.join("bank.json"), &bank)?;
    }
    Ok(bank)
}

/// The bank saved in `folder` if it has `key` and its hash checks out; `None` when there is none.
fn load(folder: &Path, key: &OracleKey) -> Result<Option<OracleBank>> {
    let path = folder.join("bank.json");
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(crate::error::io_at(&path))?;
    let mut bank: OracleBank =
        serde_json::from_str(&text).map_err(|e| Error::format(&path, format!("not an oracle bank: {e}")))?;
    if &bank.key != key {
        return Err(Error::format(&path, "an oracle bank of another key in a folder named after this key"));
    }
    if bank.content_hash()? != bank.hash {
        return Err(Error::format(
            &path,
            "its hash does not match its content (edited or damaged): delete the folder to retrain",
        ));
    }
    bank.folder = Some(folder.to_path_buf());
    bank.reused = true;
    Ok(Some(bank))
}
