//! What a method's run costs, counted in images passed through the network: training passes
//! (forward, backward and an optimiser step) and forward-only passes (teachers, importances'
//! evaluation, unseen samples). Multiplied by a timed step ([`crate::train::time_steps`]) it
//! gives a cost estimate before committing to a long run. Counts follow each method's loop
//! (method.md §2-§3) with its options resolved as [`super::unlearn`] resolves them (defaults,
//! profile, given options); pre-processing (condensation) and evaluation are not included.
use super::profiles;
use crate::error::Result;
use serde::Serialize;
use serde_json::Value;

/// The sizes a method works on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sizes {
    /// The set it trains on (the retain set, or R̃ when `reduced`).
    pub retain: usize,
    pub forget: usize,
    /// Whether `retain` is a reduced set (picks the profile's -cond values).
    pub reduced: bool,
}

/// Images through the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Work {
    /// Images in training steps (forward + backward + step).
    pub train_images: f64,
    /// Images in forward-only passes.
    pub forward_images: f64,
    /// The epochs it runs (its resolved `epochs` option; 0 for a method without epochs).
    pub epochs: f64,
}

impl Work {
    /// Seconds at the given per-image costs.
    pub fn seconds(&self, train_per_image: f64, forward_per_image: f64) -> f64 {
        self.train_images * train_per_image + self.forward_images * forward_per_image
    }
}

/// The work of `method` with `options` (as given to unlearn(): profile and cond included) on
/// `sizes`.
pub fn work(method: &str, options: &Value, sizes: &Sizes) -> Result<Work> {
    let m = super::method(method)?;
    let (resolved, _) = profiles::resolve(method, options, sizes.reduced)?;
    let mut o = m.defaults();
    if let (Some(base), Some(given)) = (o.as_object_mut(), resolved.as_object()) {
        base.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let num = |k: &str, default: f64| o.get(k).and_then(Value::as_f64).unwrap_or(default);
    let has_epochs = o.get("epochs").is_some();
    let epochs = num("epochs", 1.0);
    let (r, f) = (sizes.retain as f64, sizes.forget as f64);
    let w = |train: f64, forward: f64| Work {
        train_images: train,
        forward_images: forward,
        epochs: if has_epochs { epochs } else { 0.0 },
    };
    Ok(match method {
        "retrain" | "finetune" | "l1_sparse" | "pruning" => w(epochs * r, 0.0),
        // the teacher's forward on every retain batch
        "distillation" => w(epochs * r, epochs * r),
        // forget passes in epochs 0..=max_steps, retain passes every epoch, a teacher forward each
        "scrub" => {
            let fp = (num("max_steps", 5.0) + 1.0).min(epochs);
            w(epochs * r + fp * f, epochs * r + fp * f)
        }
        // one loader over F and a share of R; two teachers' forwards (one of them incompetent)
        "bad_teacher" => {
            let share =
                o.get("retain_fraction").and_then(Value::as_f64).unwrap_or(if sizes.reduced { 1.0 } else { 0.623 });
            let n = f + share * r;
            w(epochs * n, 2.0 * epochs * n)
        }
        // importances: a gradient pass over F and one over F ∪ R
        "ssd" | "ssd_lf" => w(2.0 * f + r, 0.0),
        // a retain batch B with 4B forget (with gradients) and 4B unseen (forward only) per step
        "a_cf" | "a_sparse" => w(5.0 * epochs * r, 4.0 * epochs * r),
        "a_scrub" => w(5.0 * epochs * r + epochs * f, 4.0 * epochs * r + epochs * (r + f)),
        // a gradient pass over the forget set, then training on F ∪ R
        "neggrad_plus" => w(epochs * (r + f), 0.0),
        "salun" => w(f + epochs * (r + f), 0.0),
        _ => w(epochs * r, 0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_follows_each_methods_loop_and_profile() {
        let s = Sizes { retain: 1000, forget: 100, reduced: false };
        let full = |m: &str| work(m, &serde_json::json!({}), &s).unwrap();
        assert_eq!(full("retrain").train_images, 100.0 * 1000.0);
        assert_eq!(full("finetune").train_images, 50.0 * 1000.0);
        // SCRUB: 15 retain passes, 6 forget passes (epochs 0..=5)
        assert_eq!(full("scrub").train_images, 15.0 * 1000.0 + 6.0 * 100.0);
        assert_eq!(full("a_cf"), Work { train_images: 5000.0, forward_images: 4000.0, epochs: 1.0 });
        assert_eq!(full("ssd").epochs, 0.0);
        // on a reduced set the -cond profile: SCRUB forgets in 10 epochs; given epochs win
        let cond = Sizes { reduced: true, ..s };
        assert_eq!(work("scrub", &serde_json::json!({}), &cond).unwrap().train_images, 15_000.0 + 1000.0);
        assert_eq!(work("finetune", &serde_json::json!({ "epochs": 2 }), &s).unwrap().train_images, 2000.0);
        assert!(work("nope", &serde_json::json!({}), &s).is_err());
    }
}
