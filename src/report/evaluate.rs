//! Evaluation tables: every item's metrics on one forget request (method.md §4.5), one row each,
//! and, against a reference (the retrained model), each row's gaps, Tug-of-War and speed-up.
//! What `evaluate()` does in a script; the binding only turns its items into [`Item`]s.
use super::table::{Phases, Provenance, Row, Table};
use crate::data::request::ForgetRequest;
use crate::error::{Error, Result};
use crate::metrics::curve::{QualityCurve, Tolerances};
use crate::metrics::forgetting::ForgettingScore;
use crate::metrics::relearn::{relearn, retain_mia, RelearnConfig};
use crate::metrics::{evaluate as evaluate_metrics, gaps, run_time_efficiency, tug_of_war, EvalContext, Metrics};
use crate::models::Model;
use crate::unlearn::Unlearned;

/// A model to evaluate and what its row says besides the metrics.
#[derive(Clone)]
pub struct Item<'a> {
    /// The row's name: the method, `+<condenser>` when it trained on a reduced retain set.
    pub name: String,
    pub model: &'a Model,
    /// Seconds per phase of making the model (its evaluation is measured here).
    pub phases: Phases,
    /// How the model was made, where known.
    pub provenance: Provenance,
    /// Whether its time is known (an unlearning result, or a model given its seconds): an
    /// untimed row shows "–" and takes no speed-up.
    pub timed: bool,
    /// For an unlearning result: its method and the forget request it forgot. Evaluating it on
    /// another request is refused: its forget accuracy, gaps and MIA would be about the wrong
    /// items.
    pub forgot: Option<(String, &'a ForgetRequest)>,
    /// Its quality along its run, when it was traced ([`crate::metrics::curve`]).
    pub curve: Option<QualityCurve>,
    /// The forgetting score of its method's runs, when computed ([`crate::metrics::forgetting`]).
    pub forgetting: Option<ForgettingScore>,
}

/// Audits [`Table::evaluate_with`] runs on every row besides the standard metrics.
#[derive(Debug, Clone, Default)]
pub struct Audits<'a> {
    /// The original model: the relearning test's target (its forget accuracy) and the retain-side
    /// MIA's baseline.
    pub original: Option<&'a Model>,
    /// Run the relearning test with these options (needs `original`).
    pub relearn: Option<RelearnConfig>,
    /// Measure the retain-side MIA.
    pub retain_mia: bool,
    /// What counts as Retrain-like for traced rows.
    pub tolerances: Tolerances,
    /// Seed of the relearning batches and the retain-side MIA's sample.
    pub seed: u64,
}

impl<'a> Item<'a> {
    /// `model` as it is, under `name` (e.g. "original"): untimed, nothing known of how it was
    /// made.
    pub fn model(name: impl Into<String>, model: &'a Model) -> Self {
        Item {
            name: name.into(),
            model,
            phases: Phases::default(),
            provenance: Provenance::default(),
            timed: false,
            forgot: None,
            curve: None,
            forgetting: None,
        }
    }

    /// The unlearning result `result` (its model now `model`, e.g. `&result.model`), unlearned on
    /// `request`: named after its method, `+<condenser>` when it trained on a reduced retain set
    /// ([`Unlearned::condensed`]), timed with the condensation's phases, and made with its options
    /// on its training set.
    pub fn unlearned(result: &Unlearned, model: &'a Model, request: &'a ForgetRequest) -> Self {
        let name = match &result.condensed {
            Some((c, _)) => format!("{}+{c}", result.method),
            None => result.method.clone(),
        };
        let mut phases = Phases { unlearning: result.seconds, ..Phases::default() };
        if let Some((_, t)) = &result.condensed {
            phases.features = t.features;
            phases.kmeans = t.kmeans_init + t.kmeans_lloyd;
            phases.condense = t.split + t.condense;
        }
        Item {
            name,
            model,
            phases,
            provenance: Provenance::new(&result.options, &result.retain.0, result.retain.1),
            timed: true,
            forgot: Some((result.method.clone(), request)),
            curve: None,
            forgetting: None,
        }
    }

    /// Fails when the item was unlearned on another forget request than `request` (`index`:
    /// its place in the list, for the message).
    pub fn check_request(&self, request: &ForgetRequest, index: usize) -> Result<()> {
        let Some((method, r)) = &self.forgot else { return Ok(()) };
        if !r.same_forget_set(request) {
            return Err(Error::OtherRequest {
                index,
                method: method.clone(),
                forgot: r.forget.len(),
                dataset_len: r.dataset_len,
                given: request.forget.len(),
                given_len: request.dataset_len,
            });
        }
        Ok(())
    }
}

impl Table {
    /// Evaluates `items` on `ctx`, one row each in order: retain / forget / test accuracy, the
    /// paper's MIA (the likelihood-ratio attack too when `ctx` has a shadow bank), and time per
    /// phase. With a `reference` (the retrained model) every row gets its gaps to the reference,
    /// Tug-of-War and, when both times are known, the speed-up (the reference's end-to-end time
    /// over the row's); the reference is usually one of the items, and then its metrics are
    /// reused, not measured again. Every item (and the reference) must have been unlearned on
    /// `ctx.request`; this is checked before anything is evaluated.
    pub fn evaluate(items: &[Item], reference: Option<&Item>, ctx: &EvalContext) -> Result<Table> {
        Self::evaluate_with(items, reference, ctx, &Audits::default())
    }

    /// [`Table::evaluate`], then on every row: the relearning test and the retain-side MIA when
    /// `audits` asks for them, the forgetting score an item carries, and, for a traced item with
    /// a reference, its time to Retrain-like (the first point of its curve within
    /// `audits.tolerances` of the reference's metrics, plus its condensation time when it trained
    /// on a reduced retain set, as its end-to-end time counts it).
    pub fn evaluate_with(
        items: &[Item],
        reference: Option<&Item>,
        ctx: &EvalContext,
        audits: &Audits,
    ) -> Result<Table> {
        let (mut table, ref_metrics) = Self::evaluate_rows(items, reference, ctx)?;
        if audits.relearn.is_some() && audits.original.is_none() {
            return Err(Error::invalid(
                "relearning test",
                "no original model",
                "the original model (its forget accuracy is the target)",
            ));
        }
        let original_forget = match (&audits.relearn, audits.original) {
            (Some(_), Some(m)) => Some(crate::train::eval::accuracy(m, &ctx.forget)?),
            _ => None,
        };
        let original_retain_mia = match (audits.retain_mia, audits.original) {
            (true, Some(m)) => Some(retain_mia(m, &ctx.retain, ctx.evaluation, audits.seed)?),
            _ => None,
        };
        for (row, item) in table.rows.iter_mut().zip(items) {
            row.forgetting = item.forgetting.clone();
            if let Some(curve) = &item.curve {
                if let Some(m) = &ref_metrics {
                    // on a reduced retain set the request also waited for the condensation
                    let pre = row.phases.end_to_end() - row.phases.unlearning;
                    row.time_to_retrain_like = Some(curve.time_to_match(m, &audits.tolerances).map(|t| t + pre));
                }
                row.curve = Some(curve.clone());
            }
            if let (Some(cfg), Some(target)) = (&audits.relearn, original_forget) {
                row.relearn = Some(relearn(item.model, &ctx.forget, target, cfg, audits.seed)?);
            }
            if audits.retain_mia {
                let m = retain_mia(item.model, &ctx.retain, ctx.evaluation, audits.seed)?;
                row.retain_mia_change =
                    original_retain_mia.as_ref().filter(|o| o.measured() && m.measured()).map(|o| m.score - o.score);
                row.retain_mia = Some(m);
            }
        }
        Ok(table)
    }

    /// The rows, with gaps to `reference` when given, and the reference's own metrics.
    fn evaluate_rows(items: &[Item], reference: Option<&Item>, ctx: &EvalContext) -> Result<(Table, Option<Metrics>)> {
        for (i, item) in items.iter().enumerate() {
            item.check_request(ctx.request, i)?;
        }
        if let Some(r) = reference {
            r.check_request(ctx.request, 0)?;
        }
        let mut rows = Vec::with_capacity(items.len());
        for item in items {
            let metrics = evaluate_metrics(item.model, ctx)?;
            let phases = Phases { evaluation: metrics.eval_seconds, ..item.phases.clone() };
            rows.push(Row {
                provenance: item.provenance.clone(),
                timed: item.timed,
                ..Row::new(item.name.clone(), phases, metrics)
            });
        }
        let Some(r) = reference else { return Ok((Table { rows, reference: None }, None)) };
        let ref_metrics = match items.iter().position(|m| std::ptr::eq(m.model, r.model)) {
            Some(i) => rows[i].metrics.clone(),
            None => evaluate_metrics(r.model, ctx)?,
        };
        let ref_seconds = r.phases.end_to_end();
        for row in &mut rows {
            let g = gaps(&row.metrics, &ref_metrics);
            row.tug_of_war = Some(tug_of_war(&g));
            row.gaps = Some(g);
            if row.timed && row.phases.end_to_end() > 0.0 && ref_seconds > 0.0 {
                row.speedup = Some(run_time_efficiency(ref_seconds, row.phases.end_to_end()));
            }
        }
        Ok((Table { rows, reference: Some(r.name.clone()) }, Some(ref_metrics)))
    }
}
