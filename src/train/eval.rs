//! Evaluation passes: no-grad, large batches, counts kept on the device and read once.
use crate::data::loader::Batches;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::Model;
use tch::{Kind, Tensor};

/// Batch size of evaluation passes.
pub const EVAL_BATCH: usize = 1024;

/// Top-1 accuracy of `model` on `data`, in [0, 1].
pub fn accuracy(model: &Model, data: &Dataset) -> Result<f64> {
    if data.is_empty() {
        return Err(Error::invalid("dataset", &data.name, "a non-empty dataset for accuracy"));
    }
    let data = if data.device() != model.device() { data.to_device(model.device())? } else { data.clone() };
    tch::no_grad(|| {
        let mut correct = Tensor::f_zeros([], (Kind::Int64, model.device()))?;
        let mut batches = Batches::sequential(&data, EVAL_BATCH)?;
        while let Some((x, y)) = batches.next_batch()? {
            let pred = model.forward(&x)?.f_argmax(-1, false)?;
            correct = correct.f_add(&pred.f_eq_tensor(&y)?.f_sum(Kind::Int64)?)?;
        }
        Ok(correct.f_double_value(&[])? / data.len() as f64)
    })
}

/// Logits of `model` for every item of `data`, in item order (`N x classes`).
pub fn logits(model: &Model, data: &Dataset) -> Result<Tensor> {
    if data.is_empty() {
        return Err(crate::error::Error::invalid("evaluation set", &data.name, "at least one item"));
    }
    tch::no_grad(|| {
        let mut out = Vec::new();
        let mut batches = Batches::sequential(data, EVAL_BATCH)?;
        while let Some((x, _)) = batches.next_batch()? {
            out.push(model.forward(&x)?);
        }
        Ok(Tensor::f_cat(&out, 0)?)
    })
}

/// Cross-entropy of `model` on every item of `data`, in item order (host copy, one sync).
pub fn per_item_loss(model: &Model, data: &Dataset) -> Result<Vec<f64>> {
    let data = if data.device() != model.device() { data.to_device(model.device())? } else { data.clone() };
    let l =
        logits(model, &data)?.f_cross_entropy_loss::<Tensor>(data.labels(), None, tch::Reduction::None, -100, 0.0)?;
    Ok(Vec::<f64>::try_from(&l.f_to_kind(Kind::Double)?.f_to_device(tch::Device::Cpu)?)?)
}
