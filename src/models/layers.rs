//! The three layers the architectures need, with fallible forwards (a bad input is an error,
//! never a panic) and PyTorch's default initialisation (weights and biases uniform in
//! ±1/sqrt(fan_in), norms weight 1 / bias 0), so a random ConvNet-3 here is distributed like the
//! reference code's (method.md §1.2).
//!
//! The random values are drawn on the host from the model's own seeded generator, not from
//! libtorch's global one: the same seed gives the same weights on every device and in every
//! thread.
use crate::error::Result;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tch::nn::{Init, Path};
use tch::Tensor;

/// Where initial values come from: a seeded generator, or zeros for a model whose weights are
/// about to be overwritten (a checkpoint being loaded, a copy).
pub type InitRng<'a> = Option<&'a mut ChaCha8Rng>;

/// A variable uniform in ±1/sqrt(fan_in) (PyTorch's `kaiming_uniform_(a=√5)` and bias default).
fn default_uniform(p: &Path, name: &str, shape: &[i64], fan_in: i64, rng: &mut InitRng) -> Tensor {
    match rng {
        Some(rng) => {
            let bound = (1.0 / (fan_in as f64).sqrt()) as f32;
            let n: i64 = shape.iter().product();
            let values: Vec<f32> = (0..n).map(|_| rng.random_range(-bound..bound)).collect();
            p.var_copy(name, &Tensor::from_slice(&values).view(shape))
        }
        None => p.var(name, shape, Init::Const(0.0)),
    }
}

/// 2-D convolution, square kernel.
#[derive(Debug)]
pub struct Conv {
    weight: Tensor,
    bias: Option<Tensor>,
    stride: i64,
    padding: i64,
}

impl Conv {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        p: Path,
        rng: &mut InitRng,
        cin: i64,
        cout: i64,
        kernel: i64,
        stride: i64,
        padding: i64,
        bias: bool,
    ) -> Self {
        let fan_in = cin * kernel * kernel;
        let weight = default_uniform(&p, "weight", &[cout, cin, kernel, kernel], fan_in, rng);
        let bias = bias.then(|| default_uniform(&p, "bias", &[cout], fan_in, rng));
        Conv { weight, bias, stride, padding }
    }
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let w = like_input(&self.weight, x, true)?;
        let b = self.bias.as_ref().map(|b| like_input(b, x, false)).transpose()?;
        Ok(x.f_conv2d(&w, b.as_ref(), [self.stride; 2], [self.padding; 2], [1, 1], 1)?)
    }
}

/// Whether `x` (`N x C x H x W`) is laid out channels-last (NHWC strides).
pub fn is_channels_last(x: &Tensor) -> bool {
    let (size, stride) = (x.size(), x.stride());
    size.len() == 4 && size[1] > 1 && stride[1] == 1
}

/// The same values laid out channels-last (what PyTorch's `channels_last` memory format is:
/// NCHW sizes with NHWC strides), differentiably.
pub fn to_channels_last(x: &Tensor) -> Result<Tensor> {
    Ok(x.f_permute([0, 2, 3, 1])?.f_contiguous()?.f_permute([0, 3, 1, 2])?)
}

/// A parameter in the input's precision (and, for a 4-D kernel, its layout), differentiably: the
/// master copy stays float32, so bf16 compute keeps float32 optimiser updates.
fn like_input(w: &Tensor, x: &Tensor, kernel: bool) -> Result<Tensor> {
    let w = if w.kind() != x.kind() { w.f_to_kind(x.kind())? } else { w.shallow_clone() };
    if kernel && is_channels_last(x) && !is_channels_last(&w) {
        return to_channels_last(&w);
    }
    Ok(w)
}

/// Instance norm as the reference code writes it: `GroupNorm(C groups, C channels, affine)`.
#[derive(Debug)]
pub struct InstanceNorm {
    weight: Tensor,
    bias: Tensor,
    channels: i64,
}

impl InstanceNorm {
    pub fn new(p: Path, channels: i64) -> Self {
        InstanceNorm {
            weight: p.var("weight", &[channels], Init::Const(1.0)),
            bias: p.var("bias", &[channels], Init::Const(0.0)),
            channels,
        }
    }
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (w, b) = (like_input(&self.weight, x, false)?, like_input(&self.bias, x, false)?);
        Ok(x.f_group_norm(self.channels, Some(&w), Some(&b), 1e-5, true)?)
    }
}

/// Fully connected layer.
#[derive(Debug)]
pub struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    pub fn new(p: Path, rng: &mut InitRng, fin: i64, fout: i64) -> Self {
        let weight = default_uniform(&p, "weight", &[fout, fin], fin, rng);
        let bias = default_uniform(&p, "bias", &[fout], fin, rng);
        Linear { weight, bias }
    }
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (w, b) = (like_input(&self.weight, x, false)?, like_input(&self.bias, x, false)?);
        Ok(x.f_linear(&w, Some(&b))?)
    }
}
