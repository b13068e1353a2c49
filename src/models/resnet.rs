//! CIFAR ResNet-18 / ResNet-50 with instance norm, as the reference code's `model/networks.py`
//! (method.md §4.2): every BatchNorm replaced by GroupNorm(C, C, affine); a 3x3 stride-1 stem
//! without max-pool; BasicBlocks [2,2,2,2] (ResNet-18) or Bottlenecks [3,4,6,3] (ResNet-50) of
//! widths 64/128/256/512; 1x1 conv + norm shortcuts where the shape changes; global average pool
//! (the 4x4 pool at 32x32, any input size here) -> Linear.
use super::layers::{Conv, InitRng, InstanceNorm, Linear};
use crate::error::Result;
use tch::nn::Path;
use tch::Tensor;

#[derive(Debug)]
struct Shortcut {
    conv: Conv,
    norm: InstanceNorm,
}

#[derive(Debug)]
enum Block {
    Basic {
        c1: Conv,
        n1: InstanceNorm,
        c2: Conv,
        n2: InstanceNorm,
        short: Option<Shortcut>,
    },
    Bottleneck {
        c1: Conv,
        n1: InstanceNorm,
        c2: Conv,
        n2: InstanceNorm,
        c3: Conv,
        n3: InstanceNorm,
        short: Option<Shortcut>,
    },
}

impl Block {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (out, short) = match self {
            Block::Basic { c1, n1, c2, n2, short } => {
                let y = n1.forward(&c1.forward(x)?)?.f_relu()?;
                (n2.forward(&c2.forward(&y)?)?, short)
            }
            Block::Bottleneck { c1, n1, c2, n2, c3, n3, short } => {
                let y = n1.forward(&c1.forward(x)?)?.f_relu()?;
                let y = n2.forward(&c2.forward(&y)?)?.f_relu()?;
                (n3.forward(&c3.forward(&y)?)?, short)
            }
        };
        let identity = match short {
            Some(s) => s.norm.forward(&s.conv.forward(x)?)?,
            None => x.shallow_clone(),
        };
        Ok(out.f_add(&identity)?.f_relu()?)
    }
}

/// Which residual block and how many per stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    R18,
    R50,
}

#[derive(Debug)]
pub struct ResNet {
    stem: Conv,
    stem_norm: InstanceNorm,
    blocks: Vec<Block>,
    classifier: Linear,
}

impl ResNet {
    pub fn new(p: &Path, rng: &mut InitRng, depth: Depth, in_channels: i64, num_classes: i64) -> Self {
        let (counts, expansion) = match depth {
            Depth::R18 => ([2, 2, 2, 2], 1),
            Depth::R50 => ([3, 4, 6, 3], 4),
        };
        let stem = Conv::new(p / "conv1", rng, in_channels, 64, 3, 1, 1, false);
        let stem_norm = InstanceNorm::new(p / "bn1", 64);
        let mut blocks = Vec::new();
        let mut cin = 64;
        for (stage, (&planes, &n)) in [64i64, 128, 256, 512].iter().zip(counts.iter()).enumerate() {
            for i in 0..n {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                let q = p / format!("layer{}", stage + 1) / i;
                let cout = planes * expansion;
                let short = (stride != 1 || cin != cout).then(|| Shortcut {
                    conv: Conv::new(&q / "shortcut" / 0, rng, cin, cout, 1, stride, 0, false),
                    norm: InstanceNorm::new(&q / "shortcut" / 1, cout),
                });
                let block = match depth {
                    Depth::R18 => Block::Basic {
                        c1: Conv::new(&q / "conv1", rng, cin, planes, 3, stride, 1, false),
                        n1: InstanceNorm::new(&q / "bn1", planes),
                        c2: Conv::new(&q / "conv2", rng, planes, planes, 3, 1, 1, false),
                        n2: InstanceNorm::new(&q / "bn2", planes),
                        short,
                    },
                    Depth::R50 => Block::Bottleneck {
                        c1: Conv::new(&q / "conv1", rng, cin, planes, 1, 1, 0, false),
                        n1: InstanceNorm::new(&q / "bn1", planes),
                        c2: Conv::new(&q / "conv2", rng, planes, planes, 3, stride, 1, false),
                        n2: InstanceNorm::new(&q / "bn2", planes),
                        c3: Conv::new(&q / "conv3", rng, planes, cout, 1, 1, 0, false),
                        n3: InstanceNorm::new(&q / "bn3", cout),
                        short,
                    },
                };
                blocks.push(block);
                cin = cout;
            }
        }
        let classifier = Linear::new(p / "classifier", rng, 512 * expansion, num_classes);
        ResNet { stem, stem_norm, blocks, classifier }
    }

    /// The pooled penultimate features (512-d for ResNet-18, 2048-d for ResNet-50).
    pub fn embed(&self, x: &Tensor) -> Result<Tensor> {
        let mut y = self.stem_norm.forward(&self.stem.forward(x)?)?.f_relu()?;
        for b in &self.blocks {
            y = b.forward(&y)?;
        }
        Ok(y.f_adaptive_avg_pool2d([1, 1])?.f_flatten(1, -1)?)
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
