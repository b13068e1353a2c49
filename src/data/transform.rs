//! Image conversions on unit-scale (`[0, 1]`) float tensors `N x C x H x W`: channel count and
//! size, for models that need a shape the data does not have.
use crate::error::{Error, Result};
use tch::{Kind, Tensor};

/// ITU-R BT.601 luma weights, as PIL's `convert("L")`.
const LUMA: [f64; 3] = [0.299, 0.587, 0.114];

/// Converts to `channels` (1 or 3): gray -> RGB repeats the channel, RGB -> gray takes the luma.
pub fn to_channels(images: &Tensor, channels: i64) -> Result<Tensor> {
    let c = images.size()[1];
    match (c, channels) {
        (a, b) if a == b => Ok(images.shallow_clone()),
        (1, 3) => Ok(images.f_repeat([1, 3, 1, 1])?),
        (3, 1) => {
            let w = Tensor::f_from_slice(&LUMA)?
                .f_to_kind(Kind::Float)?
                .f_to_device(images.device())?
                .f_view([1, 3, 1, 1])?;
            Ok(images.f_mul(&w)?.f_sum_dim_intlist(&[1i64][..], true, Kind::Float)?)
        }
        _ => Err(Error::invalid("channels", channels, format!("1 or 3 (the images have {c})"))),
    }
}

/// Resizes to `h x w` with bilinear interpolation (antialiased when shrinking).
pub fn resize(images: &Tensor, h: i64, w: i64) -> Result<Tensor> {
    if h < 1 || w < 1 {
        return Err(Error::invalid("size", format!("{h}x{w}"), "a positive height and width"));
    }
    let s = images.size();
    if s[2] == h && s[3] == w {
        return Ok(images.shallow_clone());
    }
    let shrinking = h < s[2] || w < s[3];
    let out = if shrinking {
        images.f_internal_upsample_bilinear2d_aa([h, w], false, None, None)?
    } else {
        images.f_upsample_bilinear2d([h, w], false, None, None)?
    };
    Ok(out.f_clamp(0.0, 1.0)?)
}
