//! Metrics (method.md §4.5), one file each behind the small [`Metric`] trait:
//! - [`accuracy`]: retain / forget / test accuracy (retain on the *real* retain set);
//! - [`mia`]: the paper's membership-inference score;
//! - [`lira`]: a per-example likelihood-ratio attack with shadow models (U-LiRA style);
//! - [`compare`]: gaps to the retrained model, Tug-of-War and run-time efficiency;
//! - [`forgetting`] with [`oracle`]: the unlearning challenge's per-example forgetting score
//!   against a bank of retrained models;
//! - [`memorization`]: per-example memorisation, for harder forget requests;
//! - [`curve`]: quality versus time along a method's run, time to Retrain-like;
//! - [`relearn`]: residual knowledge (relearning test) and the retain-side MIA audit;
//! - [`definitions`]: every reported metric's one-line definition and direction.
pub mod accuracy;
pub mod compare;
pub mod curve;
pub mod definitions;
pub mod forgetting;
pub mod lira;
pub mod memorization;
pub mod mia;
pub mod oracle;
pub mod relearn;

pub use compare::{gaps, run_time_efficiency, tug_of_war, Gaps};

use crate::data::request::ForgetRequest;
use crate::data::Dataset;
use crate::error::Result;
use crate::models::Model;
use lira::{LiraScore, ShadowBank};
use mia::MiaScore;
use serde::Serialize;

/// One model's metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Accuracy on the real retain set (even when training used a reduced one).
    pub retain_acc: f64,
    pub forget_acc: f64,
    /// Accuracy on the evaluation part of the test set.
    pub test_acc: f64,
    pub mia: MiaScore,
    /// The likelihood-ratio attack, when a shadow bank was given.
    pub lira: Option<LiraScore>,
    /// Seconds of evaluation (device-synchronised).
    pub eval_seconds: f64,
}

/// Options of the MIA.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MiaOptions {
    pub seed: u64,
    /// The reference's swap-and-max rule below this score (42), or none.
    pub swap_below: Option<f64>,
}

/// What every metric may look at: the request's real retain and forget sets, the evaluation
/// set, its items of the forget set's classes, and the attack settings.
pub struct EvalContext<'a> {
    /// The forget request measured (a model unlearned on another is refused, see
    /// [`crate::report::evaluate`]).
    pub request: &'a ForgetRequest,
    pub retain: Dataset,
    pub forget: Dataset,
    pub evaluation: &'a Dataset,
    /// Evaluation items of the classes present in the forget set (method.md §4.5 MIA step 1).
    pub heldout: Dataset,
    pub mia: MiaOptions,
    pub lira: Option<&'a ShadowBank>,
}

impl<'a> EvalContext<'a> {
    pub fn new(
        train: &Dataset,
        request: &'a ForgetRequest,
        evaluation: &'a Dataset,
        mia: MiaOptions,
        lira: Option<&'a ShadowBank>,
    ) -> Result<Self> {
        let retain = request.retain_set(train)?;
        let forget = request.forget_set(train)?;
        let heldout = heldout_of_classes(evaluation, forget.labels_host(), train.num_classes())?;
        Ok(EvalContext { request, retain, forget, evaluation, heldout, mia, lira })
    }
}

/// The items of `data` whose class occurs in `labels`.
pub fn heldout_of_classes(data: &Dataset, labels: &[i64], num_classes: usize) -> Result<Dataset> {
    let mut present = vec![false; num_classes.max(data.num_classes())];
    for &l in labels {
        present[l as usize] = true;
    }
    let idx: Vec<i64> = (0..data.len() as i64).filter(|&i| present[data.labels_host()[i as usize] as usize]).collect();
    data.subset(&idx, format!("{} (forget classes)", data.name))
}

/// A metric: measures a model and fills its part of [`Metrics`].
pub trait Metric {
    fn name(&self) -> &'static str;
    fn measure(&self, model: &Model, ctx: &EvalContext, out: &mut Metrics) -> Result<()>;
}

/// The metrics that apply to `ctx`: accuracies and the paper's MIA always, the likelihood-ratio
/// attack when `ctx` carries a shadow bank.
fn standard_metrics(ctx: &EvalContext) -> Vec<Box<dyn Metric>> {
    let mut out: Vec<Box<dyn Metric>> = vec![Box::new(accuracy::Accuracies), Box::new(mia::PaperMia)];
    if ctx.lira.is_some() {
        out.push(Box::new(lira::Lira));
    }
    out
}

/// Every standard metric of `model` in `ctx`, timed with a device synchronisation.
pub fn evaluate(model: &Model, ctx: &EvalContext) -> Result<Metrics> {
    let t = std::time::Instant::now();
    let mut out = Metrics::default();
    for m in standard_metrics(ctx) {
        m.measure(model, ctx, &mut out)?;
    }
    crate::runtime::synchronize(model.device());
    out.eval_seconds = t.elapsed().as_secs_f64();
    Ok(out)
}

/// Metrics of `model` for `request` on `train`, tested on `evaluation` (no shadow bank).
pub fn evaluate_model(
    model: &Model,
    train: &Dataset,
    request: &ForgetRequest,
    evaluation: &Dataset,
    mia: &MiaOptions,
) -> Result<Metrics> {
    evaluate(model, &EvalContext::new(train, request, evaluation, mia.clone(), None)?)
}
