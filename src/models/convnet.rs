//! ConvNet-3 of the dataset-condensation benchmark (method.md §1.2): `depth` times
//! Conv 3x3 (pad 1, bias) -> instance norm -> ReLU -> AvgPool 2x2, then a linear classifier.
//! At 3x32x32 with width 128 the embedding is 128x4x4 = 2048-d.
use super::layers::{Conv, InitRng, InstanceNorm, Linear};
use crate::error::{Error, Result};
use tch::nn::Path;
use tch::Tensor;

#[derive(Debug)]
pub struct ConvNet {
    blocks: Vec<(Conv, InstanceNorm)>,
    classifier: Linear,
}

/// Spatial size after `depth` 2x2 average pools (each floors).
fn pooled_size(size: i64, depth: usize) -> i64 {
    (0..depth).fold(size, |s, _| s / 2)
}

impl ConvNet {
    pub fn new(
        p: &Path,
        rng: &mut InitRng,
        in_channels: i64,
        num_classes: i64,
        width: i64,
        depth: usize,
        hw: [i64; 2],
    ) -> Result<Self> {
        let (h, w) = (pooled_size(hw[0], depth), pooled_size(hw[1], depth));
        if h < 1 || w < 1 {
            return Err(Error::Shape(format!(
                "ConvNet depth {depth} pools a {}x{} image to nothing: use a smaller depth or larger images",
                hw[0], hw[1]
            )));
        }
        let mut blocks = Vec::with_capacity(depth);
        let mut cin = in_channels;
        for i in 0..depth {
            let q = p / "features" / i;
            blocks
                .push((Conv::new(&q / "conv", rng, cin, width, 3, 1, 1, true), InstanceNorm::new(&q / "norm", width)));
            cin = width;
        }
        let classifier = Linear::new(p / "classifier", rng, width * h * w, num_classes);
        Ok(ConvNet { blocks, classifier })
    }

    /// The flattened embedding (2048-d at 3x32x32, width 128).
    pub fn embed(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.shallow_clone();
        for (conv, norm) in &self.blocks {
            x = norm.forward(&conv.forward(&x)?)?.f_relu()?.f_avg_pool2d(
                [2, 2],
                [2, 2],
                [0, 0],
                false,
                true,
                None::<i64>,
            )?;
        }
        Ok(x.f_flatten(1, -1)?)
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.classifier.forward(&self.embed(x)?)
    }

    /// The embedding and the logits of one pass.
    pub fn embed_and_forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let e = self.embed(x)?;
        let logits = self.classifier.forward(&e)?;
        Ok((e, logits))
    }
}
