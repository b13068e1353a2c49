//! Quality versus time: a method evaluated along its run, and the time at which it first comes
//! within δ of Retrain ("time to Retrain-like").
//!
//! A one-epoch method and a fifty-epoch one are compared fairly only along their runs: where each
//! stands after t seconds. [`unlearn_traced`] runs a method with a probe
//! ([`crate::train::probe`]) that, every `every` optimiser steps (or at the end of every epoch
//! when `every` is 0), synchronises the device and evaluates the model on the request: retain,
//! forget and test accuracy and the paper's MIA. The time of each point is the method's own
//! training time up to it: the clock is stopped while the probe evaluates, and the result's
//! `seconds` have the evaluations taken out. The curve starts at the original model (0 s) and ends
//! at the method's result. A method without a training loop (e.g. SSD) has those two points only;
//! one whose epochs are several passes (SCRUB) counts the end of each pass as an epoch end.
//! Times are on the method's own clock: what the method does outside its timed part (checking
//! its inputs, building its retain and forget sets) is taken out of every point, so the end point
//! is the result's `seconds` and every point is at or before it.
use super::{evaluate, EvalContext, Metrics, MiaOptions};
use crate::data::request::ForgetRequest;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::Model;
use crate::train::probe::{with_probe, Probe, ProbeAt};
use crate::unlearn::{UnlearnInput, Unlearned};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

/// Options of a traced run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CurveOptions {
    /// Evaluate every this many optimiser steps; 0: at the end of every epoch.
    pub every: usize,
}

impl crate::config::Options for CurveOptions {}

/// One evaluation along a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// The method's training seconds up to this point (evaluations excluded).
    pub seconds: f64,
    /// Optimiser steps so far.
    pub step: usize,
    pub retain_acc: f64,
    pub forget_acc: f64,
    pub test_acc: f64,
    /// The paper's MIA (NaN when too few items to attack).
    pub mia: f64,
}

impl CurvePoint {
    fn new(seconds: f64, step: usize, m: &Metrics) -> Self {
        CurvePoint {
            seconds,
            step,
            retain_acc: m.retain_acc,
            forget_acc: m.forget_acc,
            test_acc: m.test_acc,
            mia: m.mia.score,
        }
    }
}

/// How close counts as "Retrain-like": every accuracy within `accuracy` (a fraction: 0.02 is 2
/// points) and the MIA within `mia` points of Retrain's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tolerances {
    pub accuracy: f64,
    pub mia: f64,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances { accuracy: 0.02, mia: 2.0 }
    }
}

impl crate::config::Options for Tolerances {}

/// A method's quality along its run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityCurve {
    pub method: String,
    pub every: usize,
    pub points: Vec<CurvePoint>,
    /// Seconds spent evaluating (left out of the points' times and of the result's).
    pub eval_seconds: f64,
}

impl QualityCurve {
    /// Whether `p` is within `tol` of `reference` on retain, forget and test accuracy and, where
    /// both are measured, the MIA.
    pub fn matches(p: &CurvePoint, reference: &Metrics, tol: &Tolerances) -> bool {
        let close = |a: f64, b: f64| (a - b).abs() <= tol.accuracy + 1e-12;
        let mia_ok = p.mia.is_nan() || !reference.mia.measured() || (p.mia - reference.mia.score).abs() <= tol.mia;
        close(p.retain_acc, reference.retain_acc)
            && close(p.forget_acc, reference.forget_acc)
            && close(p.test_acc, reference.test_acc)
            && mia_ok
    }

    /// The first time the run is Retrain-like (within `tol` of `reference`), or `None` if it never
    /// is.
    pub fn time_to_match(&self, reference: &Metrics, tol: &Tolerances) -> Option<f64> {
        self.points.iter().find(|p| Self::matches(p, reference, tol)).map(|p| p.seconds)
    }
}

/// The probe of a traced run: owns what it evaluates on.
struct Tracer {
    request: ForgetRequest,
    evaluation: Dataset,
    retain: Dataset,
    forget: Dataset,
    heldout: Dataset,
    mia: MiaOptions,
    every: usize,
    start: Instant,
    paused: f64,
    step: usize,
    points: Vec<CurvePoint>,
}

impl Tracer {
    fn point(&mut self, model: &Model) -> Result<()> {
        crate::runtime::synchronize(model.device());
        let seconds = self.start.elapsed().as_secs_f64() - self.paused;
        let t = Instant::now();
        let ctx = EvalContext {
            request: &self.request,
            retain: self.retain.clone(),
            forget: self.forget.clone(),
            evaluation: &self.evaluation,
            heldout: self.heldout.clone(),
            mia: self.mia.clone(),
            lira: None,
        };
        let m = evaluate(model, &ctx)?;
        self.points.push(CurvePoint::new(seconds, self.step, &m));
        self.paused += t.elapsed().as_secs_f64();
        Ok(())
    }
}

impl Probe for Tracer {
    fn after_step(&mut self, model: &Model, at: ProbeAt) -> Result<()> {
        self.step += 1;
        let due = if self.every > 0 { self.step % self.every == 0 } else { at.ends_epoch() };
        if due {
            self.point(model)?;
        }
        Ok(())
    }
}

/// Runs the method `name` as [`crate::unlearn::unlearn`] does, evaluating it along the way on
/// `ctx` (the input's request; its evaluation split). Returns the result, its `seconds` without
/// the evaluations, and its curve.
pub fn unlearn_traced(
    name: &str,
    input: &UnlearnInput,
    options: &serde_json::Value,
    ctx: &EvalContext,
    curve: &CurveOptions,
) -> Result<(Unlearned, QualityCurve)> {
    if ctx.request != input.request {
        return Err(Error::invalid(
            "traced run",
            "an evaluation context of another request",
            "the request the method unlearns",
        ));
    }
    let tracer = Rc::new(RefCell::new(Tracer {
        request: ctx.request.clone(),
        evaluation: ctx.evaluation.clone(),
        retain: ctx.retain.clone(),
        forget: ctx.forget.clone(),
        heldout: ctx.heldout.clone(),
        mia: ctx.mia.clone(),
        every: curve.every,
        start: Instant::now(),
        paused: 0.0,
        step: 0,
        points: Vec::new(),
    }));
    // the starting point: the original, at 0 s
    {
        let mut t = tracer.borrow_mut();
        t.point(input.original)?;
        t.points[0].seconds = 0.0;
        t.start = Instant::now();
        t.paused = 0.0;
    }
    let probe: Rc<RefCell<dyn Probe>> = tracer.clone();
    let mut result = with_probe(probe, || crate::unlearn::unlearn(name, input, options))?;
    let mut t = tracer.borrow_mut();
    crate::runtime::synchronize(result.model.device());
    let during = t.paused;
    // the tracer's clock ran from before the method's own: the difference is work outside the
    // method's timed part, taken out of every point
    let traced = t.start.elapsed().as_secs_f64() - during;
    result.seconds = (result.seconds - during).max(0.0);
    let offset = (traced - result.seconds).max(0.0);
    for p in t.points.iter_mut().skip(1) {
        p.seconds = (p.seconds - offset).clamp(0.0, result.seconds);
    }
    // the end point: the result, at its own time
    let last_step = t.step;
    t.point(&result.model)?;
    let end = t.points.len() - 1;
    t.points[end].seconds = result.seconds;
    t.points[end].step = last_step;
    // a step's point that is the result itself (the last step) is not repeated
    if end >= 1 && t.points[end - 1].step == last_step && last_step > 0 {
        t.points.remove(end - 1);
    }
    let eval_seconds = t.paused;
    Ok((result, QualityCurve { method: name.to_string(), every: curve.every, points: t.points.clone(), eval_seconds }))
}
