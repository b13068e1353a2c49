//! Hyper-parameter profiles: the reference protocol's per-configuration method settings, as
//! data. A profile is named `<dataset>-<model>` (the settings for the full retain set) or
//! `<dataset>-<model>-cond` (for a reduced retain set R̃ such as Blend's); it lists, for each
//! method it concerns, the option values that differ between configurations. Every other option
//! keeps the method's default.
//!
//! How a method's options are resolved ([`resolve`]): its defaults, then the profile's values,
//! then the options the caller gave (which always win). The profile is the `profile` option
//! (default [`DEFAULT`], whose values are the methods' defaults); a method that trains on a
//! reduced set takes the profile's `-cond` variant unless the `cond` option says otherwise.
use crate::error::{Error, Result};
use serde_json::{json, Map, Value};

/// The profile when none is named: CIFAR-10 with ResNet-18, the methods' own defaults.
pub const DEFAULT: &str = "cifar10-resnet18";

/// The keys [`resolve`] takes out of a method's options.
pub const KEYS: [&str; 2] = ["profile", "cond"];

/// One named set of method settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    /// `{ method: { option: value, ... }, ... }`.
    pub methods: Value,
}

/// The settings every profile lists, from its values: (CF lr, distillation lr, SCRUB max_steps
/// and lr, Bad-Teacher epochs and lr, L1-sparse α / epochs / epochs without L1 / lr, pruning lr,
/// A-CF and A-Sparse lr).
struct Row {
    finetune: Value,
    distill_lr: f64,
    scrub: (u64, f64),
    bad_teacher: (u64, f64, Option<f64>),
    l1: (f64, u64, u64, f64),
    prune_lr: f64,
    amu_lr: f64,
}

impl Row {
    fn methods(&self) -> Value {
        let mut bad = json!({ "epochs": self.bad_teacher.0, "lr": self.bad_teacher.1 });
        if let Some(f) = self.bad_teacher.2 {
            bad["retain_fraction"] = json!(f);
        }
        json!({
            // Retrain is the same everywhere: 100 epochs, lr 0.1, warm-up 5 + cosine
            "retrain": { "epochs": 100, "lr": 0.1 },
            "finetune": self.finetune,
            "distillation": { "lr": self.distill_lr },
            "scrub": { "max_steps": self.scrub.0, "lr": self.scrub.1 },
            "bad_teacher": bad,
            "l1_sparse": { "alpha": self.l1.0, "epochs": self.l1.1, "no_l1_epochs": self.l1.2, "lr": self.l1.3 },
            "pruning": { "lr": self.prune_lr },
            "a_cf": { "lr": self.amu_lr },
            "a_sparse": { "lr": self.amu_lr },
        })
    }
}

/// Every profile, in a stable order.
pub fn profiles() -> Vec<Profile> {
    let cf = |lr: f64| json!({ "lr": lr });
    // ResNet-18 on CIFAR-10 (and SVHN, whose full-set settings are the same)
    let r18 = || Row {
        finetune: cf(0.04),
        distill_lr: 0.04,
        scrub: (5, 1e-2),
        bad_teacher: (20, 1e-2, None),
        l1: (1e-4, 30, 1, 1e-2),
        prune_lr: 0.04,
        amu_lr: 2.4e-4,
    };
    // on a reduced set: the distillation-type and L1 rates drop to 5e-3, SCRUB forgets for 9
    // epochs; Bad-Teacher takes the whole of R̃ (no retain_fraction)
    let r18_cond =
        || Row { distill_lr: 5e-3, scrub: (9, 5e-3), bad_teacher: (20, 5e-3, None), l1: (1e-4, 30, 1, 5e-3), ..r18() };
    let r50 = || Row {
        finetune: cf(0.03),
        distill_lr: 0.03,
        scrub: (5, 1e-2),
        bad_teacher: (30, 5e-3, None),
        l1: (1e-5, 40, 3, 1e-2),
        prune_lr: 0.03,
        amu_lr: 2.4e-4,
    };
    let r50_cond =
        || Row { distill_lr: 5e-3, scrub: (9, 5e-3), bad_teacher: (30, 3e-3, None), l1: (1e-5, 40, 3, 5e-3), ..r50() };
    let rows = vec![
        ("cifar10-resnet18", r18()),
        ("cifar10-resnet18-cond", r18_cond()),
        ("cifar10-resnet50", r50()),
        ("cifar10-resnet50-cond", r50_cond()),
        ("svhn-resnet18", r18()),
        ("svhn-resnet18-cond", Row { finetune: cf(0.3), l1: (8e-4, 30, 1, 5e-3), ..r18_cond() }),
        ("svhn-resnet50", r50()),
        (
            "svhn-resnet50-cond",
            Row {
                finetune: json!({ "lr": 0.12, "warmup_epochs": 3 }),
                bad_teacher: (30, 4e-3, None),
                l1: (5e-4, 40, 3, 5e-3),
                ..r50_cond()
            },
        ),
        (
            "cinic10-resnet18",
            Row { scrub: (5, 5e-3), bad_teacher: (20, 5e-3, Some(0.723)), prune_lr: 0.01, amu_lr: 1e-4, ..r18() },
        ),
        ("cinic10-resnet18-cond", Row { scrub: (10, 1e-3), amu_lr: 1e-4, ..r18_cond() }),
    ];
    rows.into_iter().map(|(name, row)| Profile { name: name.into(), methods: row.methods() }).collect()
}

/// The profile called `name`; the error lists them all.
pub fn profile(name: &str) -> Result<Profile> {
    let all = profiles();
    let names: Vec<String> = all.iter().map(|p| p.name.clone()).collect();
    all.into_iter().find(|p| p.name == name).ok_or_else(|| Error::invalid("profile", name, format!("one of {names:?}")))
}

/// The profile a dataset and architecture take, when there is one (`"cifar10"`/`"svhn"`/
/// `"cinic10"`, `"resnet18"`/`"resnet50"`).
pub fn profile_for(dataset: &str, arch: &str) -> Option<String> {
    let name = format!("{dataset}-{arch}");
    profiles().iter().any(|p| p.name == name).then_some(name)
}

/// `method`'s values in the profile called `name` (an empty object when it lists none).
pub fn values(name: &str, method: &str) -> Result<Value> {
    Ok(profile(name)?.methods.get(method).cloned().unwrap_or_else(|| json!({})))
}

/// Every profile's values for `method` (those that list it), by profile name.
pub fn for_method(method: &str) -> Map<String, Value> {
    profiles().into_iter().filter_map(|p| p.methods.get(method).cloned().map(|v| (p.name, v))).collect()
}

/// Resolves a method's options: takes `profile` and `cond` out of `options`, and returns the
/// options to run with (the profile's values for `method`, overridden by the rest of `options`)
/// and the profile used. `reduced`: the method trains on a reduced retain set (the default of
/// `cond`).
pub fn resolve(method: &str, options: &Value, reduced: bool) -> Result<(Value, String)> {
    let mut own = options.as_object().cloned().unwrap_or_default();
    let bad = |key: &str, msg: String| Error::BadOption { func: method.into(), key: key.into(), msg };
    let base = match own.remove("profile") {
        None => DEFAULT.to_string(),
        Some(Value::String(s)) => s.trim_end_matches("-cond").to_string(),
        Some(other) => return Err(bad("profile", format!("{other} is not a profile name (a string)"))),
    };
    let cond = match own.remove("cond") {
        None => reduced,
        Some(Value::Bool(b)) => b,
        Some(other) => return Err(bad("cond", format!("{other}: expected true or false"))),
    };
    let name = if cond { format!("{base}-cond") } else { base.clone() };
    let name = match profile(&name) {
        Ok(_) => name,
        // a profile without a -cond variant serves both
        Err(_) if cond && profile(&base).is_ok() => base,
        Err(e) => return Err(bad("profile", e.to_string())),
    };
    let mut resolved = values(&name, method)?.as_object().cloned().unwrap_or_default();
    // a profile's warm-up belongs to its epochs: with other epochs the method's default share
    // applies (see `fit_default_warmup`)
    if own.contains_key("epochs") && !own.contains_key("warmup_epochs") {
        resolved.remove("warmup_epochs");
    }
    resolved.extend(own);
    Ok((Value::Object(resolved), name))
}
