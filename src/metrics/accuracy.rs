//! Top-1 accuracies (method.md §4.5): on the real retain set R (even when the method trained on
//! a reduced R̃), on the forget set F and on the evaluation part of the test set.
use super::{EvalContext, Metric, Metrics};
use crate::error::Result;
use crate::models::Model;
use crate::train::eval::accuracy;

/// retain_acc, forget_acc and test_acc.
pub struct Accuracies;

impl Metric for Accuracies {
    fn name(&self) -> &'static str {
        "accuracy"
    }
    fn measure(&self, model: &Model, ctx: &EvalContext, out: &mut Metrics) -> Result<()> {
        out.retain_acc = accuracy(model, &ctx.retain)?;
        out.forget_acc = accuracy(model, &ctx.forget)?;
        out.test_acc = accuracy(model, ctx.evaluation)?;
        Ok(())
    }
}
