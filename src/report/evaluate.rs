//! Evaluation tables: every item's metrics on one forget request (method.md §4.5), one row each,
//! and, against a reference (the retrained model), each row's gaps, Tug-of-War and speed-up.
//! What `evaluate()` does in a script; the binding only turns its items into [`Item`]s.
use super::table::{Phases, Provenance, Row, Table};
use crate::data::request::ForgetRequest;
use crate::error::{Error, Result};
use crate::metrics::{evaluate as evaluate_metrics, gaps, run_time_efficiency, tug_of_war, EvalContext};
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
        }
    }

    /// Fails when the item was unlearned on another forget request than `request` (`index`:
    /// its place in the list, for the message).
    pub fn check_request(&self, request: &ForgetRequest, index: usize) -> Result<()> {
        let Some((method, r)) = &self.forgot else { return Ok(()) };
        if r.forget != request.forget || r.dataset_len != request.dataset_len {
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
        let Some(r) = reference else { return Ok(Table { rows, reference: None }) };
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
        Ok(Table { rows, reference: Some(r.name.clone()) })
    }
}
