//! Results as `ndarray` arrays, for analysing them with the Rust ecosystem (statistics, plotting,
//! export) without touching tensors: per-item losses, the membership-inference confidence φ,
//! penultimate-layer embeddings and confusion matrices. Each is computed on the model's device
//! in large no-grad batches and copied to the host once.
//!
//! ```no_run
//! use unlearn::arrays;
//! # fn demo(model: &unlearn::models::Model, test: &unlearn::data::Dataset) -> unlearn::error::Result<()> {
//! let losses = arrays::per_item_losses(model, test)?; // Array1<f64>, one per item
//! let cm = arrays::confusion_matrix(model, test)?; // Array2<u64>, rows: true class
//! println!("mean loss {:.3}, class 0 correct {}", losses.mean().unwrap_or(0.0), cm[[0, 0]]);
//! # Ok(()) }
//! ```
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::models::Model;
use ndarray::{Array1, Array2};
use tch::{Device, Kind, Tensor};

/// A 1-D tensor as an `Array1<f64>` (any float or integer kind; one device-to-host copy).
pub fn array1(t: &Tensor) -> Result<Array1<f64>> {
    if t.dim() != 1 {
        return Err(Error::invalid("tensor", format!("shape {:?}", t.size()), "a 1-D tensor"));
    }
    let v = Vec::<f64>::try_from(&t.f_to_kind(Kind::Double)?.f_to_device(Device::Cpu)?.f_contiguous()?)?;
    Ok(Array1::from(v))
}

/// A 2-D tensor as an `Array2<f32>` (one device-to-host copy).
pub fn array2(t: &Tensor) -> Result<Array2<f32>> {
    let size = t.size();
    if size.len() != 2 {
        return Err(Error::invalid("tensor", format!("shape {size:?}"), "a 2-D tensor"));
    }
    let v =
        Vec::<f32>::try_from(&t.f_to_kind(Kind::Float)?.f_to_device(Device::Cpu)?.f_contiguous()?.f_flatten(0, -1)?)?;
    Array2::from_shape_vec((size[0] as usize, size[1] as usize), v)
        .map_err(|e| Error::invalid("tensor", format!("shape {size:?}"), e.to_string()))
}

/// Cross-entropy of `model` on every item of `data`, in item order.
pub fn per_item_losses(model: &Model, data: &Dataset) -> Result<Array1<f64>> {
    Ok(Array1::from(crate::train::eval::per_item_loss(model, data)?))
}

/// The membership-inference confidence φ = log p_y − log(1 − p_y) of every item (the score the
/// MIA's logistic regression is fitted on; see [`crate::metrics::mia::logit_confidence`]).
pub fn mia_confidence(model: &Model, data: &Dataset) -> Result<Array1<f64>> {
    let data = on_device(model, data)?;
    let logits = crate::train::eval::logits(model, &data)?;
    Ok(Array1::from(crate::metrics::mia::logit_confidence(&logits, data.labels())?))
}

/// The penultimate-layer features of every item (`N x D`), as clustering sees them.
pub fn embeddings(model: &Model, data: &Dataset) -> Result<Array2<f32>> {
    let data = on_device(model, data)?;
    array2(&crate::condense::features::embed_dataset(model, &data, crate::train::eval::EVAL_BATCH)?)
}

/// The confusion matrix of `model` on `data`: entry `[i, j]` counts items of class `i` predicted
/// as class `j` (`K x K`, K the dataset's classes; scikit-learn's `confusion_matrix` layout).
pub fn confusion_matrix(model: &Model, data: &Dataset) -> Result<Array2<u64>> {
    let data = on_device(model, data)?;
    let k = data.num_classes() as i64;
    let counts = tch::no_grad(|| -> Result<Tensor> {
        let pred = crate::train::eval::logits(model, &data)?.f_argmax(-1, false)?;
        if pred.numel() > 0 && pred.f_max()?.f_int64_value(&[])? >= k {
            return Err(Error::invalid(
                "model",
                format!("{} outputs", model.spec.num_classes),
                format!("at most the dataset's {k} classes for a confusion matrix"),
            ));
        }
        // one bincount over (true, predicted) pairs
        let pair = data.labels().f_mul_scalar(k)?.f_add(&pred)?;
        Ok(pair.f_bincount::<Tensor>(None, k * k)?)
    })?;
    let v = Vec::<i64>::try_from(&counts.f_to_device(Device::Cpu)?)?;
    Array2::from_shape_vec((k as usize, k as usize), v.into_iter().map(|c| c as u64).collect())
        .map_err(|e| Error::invalid("confusion matrix", format!("{k} classes"), e.to_string()))
}

fn on_device(model: &Model, data: &Dataset) -> Result<Dataset> {
    if data.device() != model.device() {
        data.to_device(model.device())
    } else {
        Ok(data.clone())
    }
}
