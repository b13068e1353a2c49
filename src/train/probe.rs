//! Probes: code that looks at a model along its training, e.g. to evaluate it every k steps
//! (quality-versus-time curves, [`crate::metrics::curve`]). A probe is installed for the
//! duration of one piece of work ([`with_probe`]); every training loop ([`super::fit`], and the
//! multi-pass loop [`crate::unlearn::run_pass`]) calls it after each optimiser step. The probe's
//! time stays inside the loops' own epoch records (`EpochStats::seconds`); a traced run's result
//! has it taken out. The probe decides what to do and measures its own time, so that the
//! caller can leave it out of the run's time. With no probe installed a step pays one
//! thread-local read.
use crate::error::Result;
use crate::models::Model;
use std::cell::RefCell;
use std::rc::Rc;

/// Where a training loop is after a step: epoch and batch (0-based) and the epoch's batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeAt {
    pub epoch: usize,
    pub batch: usize,
    pub batches: usize,
}

impl ProbeAt {
    /// Whether this step ended its epoch.
    pub fn ends_epoch(&self) -> bool {
        self.batch + 1 == self.batches
    }
}

/// Looks at the model after every training step.
pub trait Probe {
    fn after_step(&mut self, model: &Model, at: ProbeAt) -> Result<()>;
}

thread_local! {
    static PROBE: RefCell<Option<Rc<RefCell<dyn Probe>>>> = const { RefCell::new(None) };
}

/// Runs `work` with `probe` called after every training step in it (on this thread); the probe
/// that was installed before (if any) is back afterwards, also when `work` fails.
pub fn with_probe<T>(probe: Rc<RefCell<dyn Probe>>, work: impl FnOnce() -> Result<T>) -> Result<T> {
    let before = PROBE.with(|p| p.borrow_mut().replace(probe));
    struct Restore(Option<Rc<RefCell<dyn Probe>>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let before = self.0.take();
            PROBE.with(|p| *p.borrow_mut() = before);
        }
    }
    let _restore = Restore(before);
    work()
}

/// Calls the installed probe, if any (the training loops' hook).
pub(crate) fn after_step(model: &Model, at: ProbeAt) -> Result<()> {
    let probe = PROBE.with(|p| p.borrow().clone());
    match probe {
        Some(p) => p.borrow_mut().after_step(model, at),
        None => Ok(()),
    }
}
