//! Seeded, stratified splits of index sets. Pure host code on the labels, so a split does not
//! depend on the device and is identical on every machine for the same seed.
use crate::error::{Error, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The random generator for every host-side random choice: ChaCha8, portable and seedable.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Splits the items `0..labels.len()` into two disjoint sets that cover them, with `fraction`
/// of the items in the first set, class by class.
///
/// The first set gets `round(fraction * N)` items in all; each class gets its proportional share,
/// rounded by largest remainder so the per-class counts add up exactly. Within a class the chosen
/// items are a uniform random draw from `seed`. Both returned index lists are sorted.
pub fn stratified_split(labels: &[i64], num_classes: usize, fraction: f64, seed: u64) -> Result<(Vec<i64>, Vec<i64>)> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(Error::invalid("split fraction", fraction, "a number strictly between 0 and 1"));
    }
    let mut by_class: Vec<Vec<i64>> = vec![Vec::new(); num_classes];
    for (i, &l) in labels.iter().enumerate() {
        let c = usize::try_from(l).ok().filter(|&c| c < num_classes);
        let c =
            c.ok_or_else(|| Error::invalid(format!("label of item {i}"), l, format!("a class in 0..{num_classes}")))?;
        by_class[c].push(i as i64);
    }
    let counts: Vec<usize> = by_class.iter().map(Vec::len).collect();
    let quotas = apportion(&counts, fraction);
    let mut rng = rng(seed);
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for (mut items, quota) in by_class.into_iter().zip(quotas) {
        items.shuffle(&mut rng);
        first.extend_from_slice(&items[..quota]);
        second.extend_from_slice(&items[quota..]);
    }
    first.sort_unstable();
    second.sort_unstable();
    Ok((first, second))
}

/// Per-class quotas summing to `round(fraction * total)`: floors, then the remaining units to
/// the largest fractional parts (ties to the lower class index).
pub fn apportion(counts: &[usize], fraction: f64) -> Vec<usize> {
    let total: usize = counts.iter().sum();
    let target = (fraction * total as f64).round() as usize;
    let exact: Vec<f64> = counts.iter().map(|&n| fraction * n as f64).collect();
    let mut quotas: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| {
        let (fa, fb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        fb.partial_cmp(&fa).unwrap_or(std::cmp::Ordering::Equal).then(a.cmp(&b))
    });
    let mut left = target.saturating_sub(quotas.iter().sum());
    for &c in order.iter().cycle().take(counts.len() * 2) {
        if left == 0 {
            break;
        }
        if quotas[c] < counts[c] {
            quotas[c] += 1;
            left -= 1;
        }
    }
    quotas
}

/// A plain random split of `0..n`: `round(fraction * n)` items in the first part. Both sorted.
/// splitmix64's increment (2^64 / φ).
pub const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// One step of splitmix64: `z` advanced by [`GOLDEN_GAMMA`], then mixed. Fixed streams of
/// well-spread numbers from a plain counter (derived seeds, signature weights).
pub fn splitmix64(z: u64) -> u64 {
    let mut z = z.wrapping_add(GOLDEN_GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Positions of at most `cap` items per class of `labels` (`classes` classes): a seeded random
/// choice within each larger class, the rest whole; in their original order.
pub fn capped(labels: &[i64], classes: usize, cap: usize, seed: u64) -> Vec<usize> {
    use rand::seq::SliceRandom;
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l as usize].push(i);
    }
    let mut r = rng(seed);
    let mut keep: Vec<usize> = Vec::new();
    for mut items in by_class {
        if items.len() > cap {
            items.shuffle(&mut r);
            items.truncate(cap);
        }
        keep.extend(items);
    }
    keep.sort_unstable();
    keep
}

pub fn random_split(n: usize, fraction: f64, seed: u64) -> Result<(Vec<i64>, Vec<i64>)> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(Error::invalid("split fraction", fraction, "a number strictly between 0 and 1"));
    }
    let mut all: Vec<i64> = (0..n as i64).collect();
    all.shuffle(&mut rng(seed));
    let k = (fraction * n as f64).round() as usize;
    let mut first = all[..k].to_vec();
    let mut second = all[k..].to_vec();
    first.sort_unstable();
    second.sort_unstable();
    Ok((first, second))
}
