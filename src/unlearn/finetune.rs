//! Fine-tune ("CF", method.md §3): the original model trained further with cross-entropy on the
//! retain set. SGD lr 0.04, momentum 0.502, weight decay 0.0014, 50 epochs, warm-up 5 + cosine.
use super::{Method, UnlearnInput, Unlearned};
use crate::config::Named;
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

super::schedule_options!(FinetuneOptions);

pub struct Finetune;

impl crate::config::Named for Finetune {
    type Options = FinetuneOptions;
    const NAME: &'static str = "finetune";
    const DESCRIPTION: &'static str = "fine-tune the original model on the retain set (\"CF\", method.md §3). For: uniform requests (forgetting by drift; a class stays)";
}

impl Method for Finetune {
    fn run(&self, input: &UnlearnInput, o: &FinetuneOptions) -> Result<Unlearned> {
        super::train_on_retain(Self::NAME, input, o.0.clone(), false)
    }
}
