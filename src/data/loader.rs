//! Mini-batches as index selections on the device: one permutation per epoch, drawn from the
//! caller's seeded generator (so the batch order is the same on every device and in every
//! thread) and uploaded once; each batch is an `index_select`, with no host synchronisation.
use super::Dataset;
use crate::error::Result;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

/// Iterates over `(images, labels)` batches of a dataset in a given order.
pub struct Batches<'a> {
    data: &'a Dataset,
    order: Tensor,
    batch_size: i64,
    pos: i64,
    len: i64,
}

impl<'a> Batches<'a> {
    /// Batches in a fresh random order drawn from `rng`.
    pub fn shuffled(data: &'a Dataset, batch_size: usize, rng: &mut ChaCha8Rng) -> Result<Self> {
        let mut order: Vec<i64> = (0..data.len() as i64).collect();
        order.shuffle(rng);
        let order = Tensor::f_from_slice(&order)?.f_to_device(data.device())?;
        Ok(Self::with_order(data, order, batch_size))
    }

    /// Batches in item order.
    pub fn sequential(data: &'a Dataset, batch_size: usize) -> Result<Self> {
        let n = data.len() as i64;
        let order = Tensor::f_arange(n, (Kind::Int64, data.device()))?;
        Ok(Self::with_order(data, order, batch_size))
    }

    fn with_order(data: &'a Dataset, order: Tensor, batch_size: usize) -> Self {
        let len = order.size()[0];
        Batches { data, order, batch_size: batch_size.max(1) as i64, pos: 0, len }
    }

    /// Number of batches (the last one may be smaller).
    pub fn count(&self) -> usize {
        ((self.len + self.batch_size - 1) / self.batch_size) as usize
    }

    /// The next batch, or `None` at the end.
    pub fn next_batch(&mut self) -> Result<Option<(Tensor, Tensor)>> {
        if self.pos >= self.len {
            return Ok(None);
        }
        let take = self.batch_size.min(self.len - self.pos);
        let idx = self.order.f_narrow(0, self.pos, take)?;
        self.pos += take;
        let x = self.data.images().f_index_select(0, &idx)?;
        let y = self.data.labels().f_index_select(0, &idx)?;
        Ok(Some((x, y)))
    }
}
