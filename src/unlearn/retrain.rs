//! Retrain from scratch (method.md §3): a new random initialisation trained with cross-entropy
//! on the retain set only. SGD lr 0.1, momentum 0.9, weight decay 5e-4, 100 epochs, warm-up 5 +
//! cosine: the exact but slow reference every other method is compared with.
use super::{Method, UnlearnInput, Unlearned};
use crate::config::Named;
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

super::schedule_options!(RetrainOptions);

pub struct Retrain;

impl crate::config::Named for Retrain {
    type Options = RetrainOptions;
    const NAME: &'static str = "retrain";
    const DESCRIPTION: &'static str = "retrain from a new random initialisation on the retain set (method.md §3; the exact reference). For: any request, at full training cost";
}

impl Method for Retrain {
    fn run(&self, input: &UnlearnInput, o: &RetrainOptions) -> Result<Unlearned> {
        super::train_on_retain(Self::NAME, input, o.0.clone(), true)
    }
}
