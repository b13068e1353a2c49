//! Bad-Teacher (Chundawat et al. 2023; method.md §3, `bad_distillation.py`): the student (a
//! copy of the original) is distilled, with KL_T, from a mixed teacher: a randomly initialised
//! "incompetent" teacher on forget items and the original on retain items, over one shuffled
//! loader of F ∪ (a random 62.3 % of R, or all of R̃ when a reduced set is given; method.md §7
//! item 14). T 2, 20 epochs, SGD lr 1e-2, momentum 0.9, weight decay 5e-4, MS[50,75].
use super::amu::method_rng;
use super::{finished, kl_t, run_pass, timed, Method, SgdOptions, UnlearnInput, Unlearned};
use crate::config::Named;
use crate::error::Result;
use crate::train::optim::{self, OptimizerKind, Schedule};
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BadTeacherOptions {
    #[serde(flatten)]
    pub sgd: SgdOptions,
    pub temperature: f64,
    /// Fraction of the retain set in the loader; `None`: 0.623 of R, all of a reduced set.
    pub retain_fraction: Option<f64>,
}

impl Default for BadTeacherOptions {
    fn default() -> Self {
        BadTeacherOptions { sgd: SgdOptions::new(20, 1e-2, 0.9, 5e-4), temperature: 2.0, retain_fraction: None }
    }
}

impl crate::config::Options for BadTeacherOptions {}

pub struct BadTeacher;

impl crate::config::Named for BadTeacher {
    type Options = BadTeacherOptions;
    const NAME: &'static str = "bad_teacher";
    const DESCRIPTION: &'static str = "distil from a random teacher on the forget set and the original on the retain set (method.md §3). For: class-wise requests (it pulls the forget set to chance)";
}

impl Method for BadTeacher {
    fn run(&self, input: &UnlearnInput, o: &BadTeacherOptions) -> Result<Unlearned> {
        let seed = o.sgd.seed(input);
        let retain_all = input.retain_set()?;
        let forget = input.forget_set()?;
        let teacher = input.original;
        let fraction = o.retain_fraction.unwrap_or(if input.retain.is_some() { 1.0 } else { 0.623 }).clamp(0.0, 1.0);
        let mut r = method_rng(seed);
        let mut keep: Vec<i64> = (0..retain_all.len() as i64).collect();
        keep.shuffle(&mut r);
        keep.truncate(((fraction * retain_all.len() as f64).round() as usize).max(1));
        keep.sort_unstable();
        let retain = retain_all.subset(&keep, format!("{} ({}%)", retain_all.name, (fraction * 100.0).round()))?;
        let (model, seconds) = timed(teacher.device(), || {
            let mut incompetent = teacher.fresh_like(r.random())?;
            incompetent.var_store_mut().freeze();
            let model = teacher.try_clone()?;
            let both = forget.concat(&retain, "forget + retain")?;
            let is_forget = Tensor::f_cat(
                &[
                    Tensor::f_ones([forget.len() as i64], (Kind::Bool, teacher.device()))?,
                    Tensor::f_zeros([retain.len() as i64], (Kind::Bool, teacher.device()))?,
                ],
                0,
            )?;
            let mut opt =
                optim::build(model.var_store(), OptimizerKind::Sgd, o.sgd.lr, o.sgd.momentum, o.sgd.weight_decay)?;
            for e in 0..o.sgd.epochs {
                opt.set_lr(o.sgd.lr * Schedule::MultiStep.factor(e, o.sgd.epochs, 0));
                run_pass(
                    &model,
                    &mut opt,
                    both.len(),
                    o.sgd.batch_size,
                    &mut r,
                    e,
                    |m, idx| {
                        let x = both.images().f_index_select(0, idx)?;
                        let flag = is_forget.f_index_select(0, idx)?.f_unsqueeze(1)?;
                        let t = tch::no_grad(|| -> Result<Tensor> {
                            Ok(incompetent.forward(&x)?.f_where_self(&flag, &teacher.forward(&x)?)?)
                        })?;
                        kl_t(&m.forward(&x)?, &t, o.temperature)
                    },
                    |_| Ok(()),
                )?;
            }
            Ok(model)
        })?;
        finished(Self::NAME, model, seconds, o, &retain, None)
    }
}
