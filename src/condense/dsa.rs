//! Differentiable Siamese Augmentation (DSA; Zhao & Bilen 2021), as the condensation baselines
//! of method.md §1.7 use it: strategy "color_crop_cutout_flip_scale_rotate" in the reference's
//! single-op mode (one randomly chosen group per call) with its default strengths. "Siamese"
//! ([`Dsa::draw_siamese`]): the real and the synthetic batch of one step get the same draw, and,
//! as in the reference (a seeded call runs in its batch mode), every item of both batches shares
//! it, so the matching compares like with like. A plain draw ([`Dsa::draw`], e.g. GM's inner
//! training on the synthetic set) gives every item its own parameters. Every operation is built from
//! differentiable tensor ops, so gradients reach the synthetic images.
use crate::data::split::rng;
use crate::error::Result;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

/// The reference's `ParamDiffAug` defaults.
const RATIO_SCALE: f64 = 1.2;
const RATIO_ROTATE_DEG: f64 = 15.0;
const RATIO_CROP_PAD: f64 = 0.125;
const RATIO_CUTOUT: f64 = 0.5;
const BRIGHTNESS: f64 = 1.0;
const SATURATION: f64 = 2.0;
const CONTRAST: f64 = 0.5;

/// The operation groups of the strategy.
const GROUPS: [&str; 6] = ["color", "crop", "cutout", "flip", "scale", "rotate"];

/// One step's random draws, shared by the real and the synthetic batch.
pub struct DsaDraw {
    group: usize,
    /// Uniform numbers in [0, 1): `u[k][i]` for draw k of item i.
    u: Vec<Vec<f32>>,
}

impl DsaDraw {
    /// Draws a group and enough per-item numbers for batches of up to `n` items; `shared`: one
    /// set of numbers for every item (the reference's batch mode).
    pub fn new(r: &mut ChaCha8Rng, n: usize, shared: bool) -> Self {
        let group = r.random_range(0..GROUPS.len());
        let u = (0..4)
            .map(|_| if shared { vec![r.random::<f32>(); n] } else { (0..n).map(|_| r.random::<f32>()).collect() })
            .collect();
        DsaDraw { group, u }
    }

    fn col(&self, k: usize, n: i64, x: &Tensor) -> Result<Tensor> {
        Ok(Tensor::f_from_slice(&self.u[k][..n as usize])?.f_to_device(x.device())?.f_view([n, 1, 1, 1])?)
    }

    /// Applies this step's augmentation to `x` (`N x C x H x W`).
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let s = x.size();
        let (n, h, w) = (s[0], s[2], s[3]);
        match GROUPS[self.group] {
            "color" => {
                let x = x.f_add(&self.col(0, n, x)?.f_sub_scalar(0.5)?.f_mul_scalar(BRIGHTNESS)?)?;
                let mean = x.f_mean_dim(&[1i64][..], true, Kind::Float)?;
                let x = x.f_sub(&mean)?.f_mul(&self.col(1, n, &x)?.f_mul_scalar(SATURATION)?)?.f_add(&mean)?;
                let mean = x.f_mean_dim(&[1i64, 2, 3][..], true, Kind::Float)?;
                Ok(x.f_sub(&mean)?.f_mul(&self.col(2, n, &x)?.f_add_scalar(CONTRAST)?)?.f_add(&mean)?)
            }
            "crop" => {
                // translate by up to 12.5 % of the size, zero padding (an affine shift)
                let tx = self.col(0, n, x)?.f_mul_scalar(2.0)?.f_sub_scalar(1.0)?.f_mul_scalar(2.0 * RATIO_CROP_PAD)?;
                let ty = self.col(1, n, x)?.f_mul_scalar(2.0)?.f_sub_scalar(1.0)?.f_mul_scalar(2.0 * RATIO_CROP_PAD)?;
                let (one, zero) = (Tensor::f_ones_like(&tx)?, Tensor::f_zeros_like(&tx)?);
                affine(x, &[&one, &zero, &tx, &zero, &one, &ty])
            }
            "cutout" => {
                let (ch, cw) = (((h as f64) * RATIO_CUTOUT + 0.5) as i64, ((w as f64) * RATIO_CUTOUT + 0.5) as i64);
                let oy = self
                    .col(0, n, x)?
                    .f_mul_scalar((h + 1 - ch % 2) as f64)?
                    .f_floor()?
                    .f_sub_scalar((ch / 2) as f64)?;
                let ox = self
                    .col(1, n, x)?
                    .f_mul_scalar((w + 1 - cw % 2) as f64)?
                    .f_floor()?
                    .f_sub_scalar((cw / 2) as f64)?;
                let ys = Tensor::f_arange(h, (Kind::Float, x.device()))?.f_view([1, 1, h, 1])?;
                let xs = Tensor::f_arange(w, (Kind::Float, x.device()))?.f_view([1, 1, 1, w])?;
                let in_y = ys.f_ge_tensor(&oy)?.f_logical_and(&ys.f_lt_tensor(&oy.f_add_scalar(ch as f64)?)?)?;
                let in_x = xs.f_ge_tensor(&ox)?.f_logical_and(&xs.f_lt_tensor(&ox.f_add_scalar(cw as f64)?)?)?;
                let keep = in_y.f_logical_and(&in_x)?.f_logical_not()?.f_to_kind(Kind::Float)?;
                Ok(x.f_mul(&keep)?)
            }
            "flip" => {
                let flip = self.col(0, n, x)?.f_lt(0.5)?;
                Ok(x.f_flip([3])?.f_where_self(&flip, x)?)
            }
            "scale" => {
                let lo = 1.0 / RATIO_SCALE;
                let sx = self.col(0, n, x)?.f_mul_scalar(RATIO_SCALE - lo)?.f_add_scalar(lo)?;
                let sy = self.col(1, n, x)?.f_mul_scalar(RATIO_SCALE - lo)?.f_add_scalar(lo)?;
                let zero = Tensor::f_zeros_like(&sx)?;
                affine(x, &[&sx, &zero, &zero, &zero, &sy, &zero])
            }
            _ => {
                let theta = self.col(0, n, x)?.f_sub_scalar(0.5)?.f_mul_scalar(2.0 * RATIO_ROTATE_DEG.to_radians())?;
                let (c, s) = (theta.f_cos()?, theta.f_sin()?);
                let zero = Tensor::f_zeros_like(&c)?;
                affine(x, &[&c, &s.f_neg()?, &zero, &s, &c, &zero])
            }
        }
    }
}

/// Resamples `x` through per-item 2x3 affine matrices given as six `N x 1 x 1 x 1` tensors.
fn affine(x: &Tensor, m: &[&Tensor; 6]) -> Result<Tensor> {
    let n = x.size()[0];
    let parts: Vec<Tensor> = m.iter().map(|t| t.f_view([n, 1])).collect::<std::result::Result<_, _>>()?;
    let theta = Tensor::f_cat(&parts, 1)?.f_view([n, 2, 3])?;
    let grid = Tensor::f_affine_grid_generator(&theta, x.size().as_slice(), true)?;
    // bilinear, zero padding, align_corners = true (the reference's F.grid_sample call)
    Ok(x.f_grid_sampler(&grid, 0, 0, true)?)
}

/// A seeded source of DSA draws.
pub struct Dsa {
    rng: ChaCha8Rng,
}

impl Dsa {
    pub fn new(seed: u64) -> Self {
        Dsa { rng: rng(seed) }
    }
    /// A draw for batches of up to `n` items, each item with its own parameters.
    pub fn draw(&mut self, n: usize) -> DsaDraw {
        DsaDraw::new(&mut self.rng, n, false)
    }
    /// The siamese draw of a matching step: one set of parameters for every item of the real
    /// and the synthetic batch (the reference's seeded batch mode).
    pub fn draw_siamese(&mut self, n: usize) -> DsaDraw {
        DsaDraw::new(&mut self.rng, n, true)
    }
}
