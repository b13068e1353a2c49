//! The random-subset baseline: real retained images drawn uniformly with a seed: `ipc` per class
//! (all of a class's retained images where it has fewer), or `size` in all, spread over the
//! classes in proportion to their retained counts (to compare with a Blend-reduced set of that size).
use super::{CondenseInput, Condenser, ReducedRetainSet, Timings};
use crate::config::Named;
use crate::data::split::{apportion, rng};
use crate::error::Result;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// The random subset's options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RandomOptions {
    /// Images per class.
    pub ipc: usize,
    /// This many images in all (drawn per class in proportion) instead of `ipc` per class, e.g.
    /// the size of a Blend-reduced set.
    pub size: Option<usize>,
    /// Seed of the draw; `None` takes the run's.
    pub seed: Option<u64>,
}

impl Default for RandomOptions {
    fn default() -> Self {
        RandomOptions { ipc: 10, size: None, seed: None }
    }
}

impl crate::config::Options for RandomOptions {
    fn check(&self, _owner: &str) -> Result<()> {
        super::check_common(self.ipc, None, None)?;
        if self.size == Some(0) {
            return Err(super::bad_option("size", "must be at least 1".into()));
        }
        Ok(())
    }
}

pub struct RandomSubset;

impl crate::config::Named for RandomSubset {
    type Options = RandomOptions;
    const NAME: &'static str = "random";
    const DESCRIPTION: &'static str =
        "a random subset of the retained images, ipc per class or `size` in all (the baseline of method.md §1.7)";
}

impl Condenser for RandomSubset {
    fn condense(&self, input: &CondenseInput, cfg: &RandomOptions) -> Result<ReducedRetainSet> {
        let t = std::time::Instant::now();
        let labels = input.train.labels_host();
        let mut by_class: Vec<Vec<i64>> = vec![Vec::new(); input.train.num_classes()];
        for &i in &input.request.retain {
            by_class[labels[i as usize] as usize].push(i);
        }
        let mut r = rng(cfg.seed.unwrap_or(input.seed));
        let quotas: Vec<usize> = match cfg.size {
            None => by_class.iter().map(|items| cfg.ipc.min(items.len())).collect(),
            Some(size) => {
                let counts: Vec<usize> = by_class.iter().map(Vec::len).collect();
                let total = counts.iter().sum::<usize>().max(1);
                apportion(&counts, (size.min(total)) as f64 / total as f64)
            }
        };
        let mut chosen: Vec<i64> = Vec::new();
        for (mut items, quota) in by_class.into_iter().zip(quotas) {
            items.shuffle(&mut r);
            items.truncate(quota);
            chosen.extend(items);
        }
        chosen.sort_unstable();
        let dataset = input.train.subset(&chosen, format!("{}[random {}]", input.train.name, chosen.len()))?;
        let timings = Timings { condense: t.elapsed().as_secs_f64(), ..Default::default() };
        Ok(ReducedRetainSet::new(Self::NAME, dataset, input.request.retain.len(), chosen.len(), 0, timings, None))
    }
}
