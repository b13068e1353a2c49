//! Feature embedding for clustering (method.md §1.1 step 1): a model's penultimate features for
//! every item, in large no-grad batches, kept on the device.
use crate::data::Dataset;
use crate::error::Result;
use crate::models::Model;
use tch::Tensor;

/// `N x D` features of every item of `data` under `model`.
pub fn embed_dataset(model: &Model, data: &Dataset, batch: usize) -> Result<Tensor> {
    tch::no_grad(|| {
        let n = data.len() as i64;
        let mut out = Vec::new();
        for start in (0..n).step_by(batch.max(1)) {
            let len = (batch as i64).min(n - start);
            out.push(model.embed(&data.images().f_narrow(0, start, len)?)?);
        }
        Ok(Tensor::f_cat(&out, 0)?)
    })
}
