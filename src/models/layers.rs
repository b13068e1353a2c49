//! The three layers the architectures need, with fallible forwards (a bad input is an error,
//! never a panic) and PyTorch's default initialisation (weights and biases uniform in
//! ±1/sqrt(fan_in), norms weight 1 / bias 0), so a random ConvNet-3 here is distributed like the
//! reference code's (method.md §1.2).
use crate::error::Result;
use tch::nn::{Init, Path};
use tch::Tensor;

fn default_uniform(fan_in: i64) -> Init {
    let bound = 1.0 / (fan_in as f64).sqrt();
    Init::Uniform {
        lo: -bound,
        up: bound,
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
    pub fn new(
        p: Path,
        cin: i64,
        cout: i64,
        kernel: i64,
        stride: i64,
        padding: i64,
        bias: bool,
    ) -> Self {
        let fan_in = cin * kernel * kernel;
        let weight = p.var(
            "weight",
            &[cout, cin, kernel, kernel],
            default_uniform(fan_in),
        );
        let bias = bias.then(|| p.var("bias", &[cout], default_uniform(fan_in)));
        Conv {
            weight,
            bias,
            stride,
            padding,
        }
    }
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.f_conv2d(
            &self.weight,
            self.bias.as_ref(),
            [self.stride; 2],
            [self.padding; 2],
            [1, 1],
            1,
        )?)
    }
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
        Ok(x.f_group_norm(
            self.channels,
            Some(&self.weight),
            Some(&self.bias),
            1e-5,
            true,
        )?)
    }
}

/// Fully connected layer.
#[derive(Debug)]
pub struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    pub fn new(p: Path, fin: i64, fout: i64) -> Self {
        Linear {
            weight: p.var("weight", &[fout, fin], default_uniform(fin)),
            bias: p.var("bias", &[fout], default_uniform(fin)),
        }
    }
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.f_linear(&self.weight, Some(&self.bias))?)
    }
}
