//! Fine-tune ("CF", method.md §3): the original model trained further with cross-entropy on the
//! retain set. SGD lr 0.04, momentum 0.502, weight decay 0.0014, 50 epochs, warm-up 5 + cosine.
use super::{Method, UnlearnInput, Unlearned};
use crate::error::Result;
use crate::train::optim::{OptimizerKind, Schedule};
use crate::train::TrainConfig;
use serde::{Deserialize, Serialize};

/// Fine-tune's options: those of `train()`, with method.md §3's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FinetuneOptions(pub TrainConfig);

impl Default for FinetuneOptions {
    fn default() -> Self {
        FinetuneOptions(TrainConfig {
            epochs: 50,
            batch_size: 64,
            optimizer: OptimizerKind::Sgd,
            lr: 0.04,
            momentum: 0.502,
            weight_decay: 0.0014,
            schedule: Schedule::WarmupCosine,
            warmup_epochs: 5,
            seed: None,
            progress: true,
        })
    }
}

impl FinetuneOptions {
    /// The defaults with `epochs` epochs, the warm-up keeping its share of the schedule (what
    /// `#{ epochs: N }` gives a script).
    pub fn with_epochs(epochs: usize) -> Self {
        use super::MethodOptions;
        let mut o = FinetuneOptions::default();
        o.0.epochs = epochs;
        o.settle(&serde_json::json!({ "epochs": epochs }));
        o
    }
}

impl super::MethodOptions for FinetuneOptions {
    fn check(&self, _method: &str) -> Result<()> {
        self.0.check()
    }
    /// A default warm-up keeps its share of the default schedule when fewer epochs are asked for.
    fn settle(&mut self, given: &serde_json::Value) {
        super::fit_default_warmup(&mut self.0, given, &FinetuneOptions::default().0);
    }
}

pub struct Finetune;

impl Method for Finetune {
    type Options = FinetuneOptions;
    const NAME: &'static str = "finetune";
    const DESCRIPTION: &'static str = "fine-tune the original model on the retain set (\"CF\", method.md §3). For: uniform requests (forgetting by drift; a class stays)";
    fn run(&self, input: &UnlearnInput, o: &FinetuneOptions) -> Result<Unlearned> {
        super::train_on_retain(Self::NAME, input, o.0.clone(), false)
    }
}
