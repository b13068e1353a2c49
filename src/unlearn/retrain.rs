//! Retrain from scratch (method.md §3): a new random initialisation trained with cross-entropy
//! on the retain set only. SGD lr 0.1, momentum 0.9, weight decay 5e-4, 100 epochs, warm-up 5 +
//! cosine: the exact but slow reference every other method is compared with.
use super::{Method, UnlearnInput, Unlearned};
use crate::error::Result;
use crate::train::optim::{OptimizerKind, Schedule};
use crate::train::TrainConfig;
use serde::{Deserialize, Serialize};

/// Retrain's options: those of `train()`, with method.md §3's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RetrainOptions(pub TrainConfig);

impl Default for RetrainOptions {
    fn default() -> Self {
        RetrainOptions(TrainConfig {
            epochs: 100,
            batch_size: 64,
            optimizer: OptimizerKind::Sgd,
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 5e-4,
            schedule: Schedule::WarmupCosine,
            warmup_epochs: 5,
            seed: None,
            progress: true,
        })
    }
}

impl RetrainOptions {
    /// The defaults with `epochs` epochs, the warm-up keeping its share of the schedule (what
    /// `#{ epochs: N }` gives a script).
    pub fn with_epochs(epochs: usize) -> Self {
        use super::MethodOptions;
        let mut o = RetrainOptions::default();
        o.0.epochs = epochs;
        o.settle(&serde_json::json!({ "epochs": epochs }));
        o
    }
}

impl super::MethodOptions for RetrainOptions {
    fn check(&self, _method: &str) -> Result<()> {
        self.0.check()
    }
    /// A default warm-up keeps its share of the default schedule when fewer epochs are asked for.
    fn settle(&mut self, given: &serde_json::Value) {
        super::fit_default_warmup(&mut self.0, given, &RetrainOptions::default().0);
    }
}

pub struct Retrain;

impl Method for Retrain {
    type Options = RetrainOptions;
    const NAME: &'static str = "retrain";
    const DESCRIPTION: &'static str = "retrain from a new random initialisation on the retain set (method.md §3; the exact reference). For: any request, at full training cost";
    fn run(&self, input: &UnlearnInput, o: &RetrainOptions) -> Result<Unlearned> {
        super::train_on_retain(Self::NAME, input, o.0.clone(), true)
    }
}
