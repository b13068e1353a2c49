//! Forget requests: what must be forgotten, as reproducible objects.
//!
//! A request splits a training set into a forget set and a retain set (disjoint, covering it,
//! with whatever earlier rounds forgot set aside), records how it was drawn (definition and
//! seed) and a digest of the labels it was drawn on, and serialises to JSON so a later run
//! replays exactly the same request. Multi-round sequences follow method.md §4.4: round r forgets
//! a fraction of what round r−1 retained.
use super::split::{random_split, stratified_split};
use super::Dataset;
use crate::error::{io_at, Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;

/// How a request was defined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RequestKind {
    /// A random `fraction` of the items (of every class, when stratified).
    Uniform { fraction: f64, stratified: bool, seed: u64 },
    /// Every item of these classes.
    Classes { classes: Vec<i64> },
    /// An explicit list of items (from a script or a file).
    Indices { source: String },
    /// A random `fraction` of the dataset drawn from one memorisation stratum (`low`, `medium`,
    /// `high`: thirds by score), or the `top` fraction by memorisation.
    Memorization { stratum: Stratum, fraction: f64, seed: u64, models: usize },
    /// Round `round` (0-based) of a multi-round sequence: `fraction` of the previous round's
    /// retain set.
    Round { round: usize, fraction: f64, stratified: bool, seed: u64 },
}

/// A memorisation stratum (see [`crate::metrics::memorization`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stratum {
    /// The third of the items with the lowest memorisation (typical examples).
    Low,
    Medium,
    /// The third with the highest.
    High,
    /// The items of highest memorisation, exactly `fraction` of the dataset (no draw).
    Top,
}

impl Stratum {
    pub const NAMES: [&'static str; 4] = ["low", "medium", "high", "top"];
    pub fn parse(s: &str) -> Result<Stratum> {
        match s {
            "low" => Ok(Stratum::Low),
            "medium" => Ok(Stratum::Medium),
            "high" => Ok(Stratum::High),
            "top" => Ok(Stratum::Top),
            _ => Err(Error::invalid("memorisation stratum", s, "low, medium, high or top")),
        }
    }
    pub fn name(&self) -> &'static str {
        Self::NAMES[*self as usize]
    }
}

/// A forget request on one dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForgetRequest {
    pub kind: RequestKind,
    /// Name of the dataset it was drawn on.
    pub dataset: String,
    /// Number of items of that dataset.
    pub dataset_len: usize,
    /// FNV-1a digest of its labels: a replay on other data is refused.
    pub labels_digest: String,
    /// Items to forget now (sorted).
    pub forget: Vec<i64>,
    /// Items to keep (sorted).
    pub retain: Vec<i64>,
    /// Items forgotten by earlier rounds (sorted; empty for a single request).
    pub earlier: Vec<i64>,
}

/// FNV-1a over the labels, as hex.
pub fn labels_digest(labels: &[i64]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for l in labels {
        for b in l.to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    format!("{h:016x}")
}

impl ForgetRequest {
    fn build(kind: RequestKind, data: &Dataset, forget: Vec<i64>, earlier: Vec<i64>) -> Result<Self> {
        let mut out: HashSet<i64> = forget.iter().copied().collect();
        out.extend(earlier.iter().copied());
        let retain: Vec<i64> = (0..data.len() as i64).filter(|i| !out.contains(i)).collect();
        let r = ForgetRequest {
            kind,
            dataset: data.name.clone(),
            dataset_len: data.len(),
            labels_digest: labels_digest(data.labels_host()),
            forget,
            retain,
            earlier,
        };
        r.check()?;
        Ok(r)
    }

    /// Checks the invariants: sorted, in range, disjoint, covering, both sets non-empty.
    pub fn check(&self) -> Result<()> {
        let n = self.dataset_len as i64;
        if self.forget.is_empty() {
            return Err(Error::invalid("forget request", self.describe_kind(), "at least one item to forget"));
        }
        if self.retain.is_empty() {
            return Err(Error::invalid("forget request", self.describe_kind(), "at least one item left to retain"));
        }
        for (what, v) in [("forget", &self.forget), ("retain", &self.retain), ("earlier", &self.earlier)] {
            if v.windows(2).any(|w| w[0] >= w[1]) || v.iter().any(|&i| i < 0 || i >= n) {
                return Err(Error::invalid(
                    format!("{what} indices"),
                    "(list)",
                    format!("sorted, distinct indices in 0..{n}"),
                ));
            }
        }
        if self.forget.len() + self.retain.len() + self.earlier.len() != self.dataset_len {
            return Err(Error::invalid(
                "forget request",
                "(sets)",
                "forget, retain and earlier sets that cover the dataset",
            ));
        }
        let all: HashSet<i64> = self.forget.iter().chain(&self.retain).chain(&self.earlier).copied().collect();
        if all.len() != self.dataset_len {
            return Err(Error::invalid("forget request", "(sets)", "disjoint forget, retain and earlier sets"));
        }
        Ok(())
    }

    /// A uniform random fraction of `data` (stratified: the same fraction of every class).
    pub fn uniform(data: &Dataset, fraction: f64, stratified: bool, seed: u64) -> Result<Self> {
        check_fraction(fraction)?;
        let forget = pick(data, &(0..data.len() as i64).collect::<Vec<_>>(), fraction, stratified, seed)?;
        Self::build(RequestKind::Uniform { fraction, stratified, seed }, data, forget, Vec::new())
    }

    /// Whether `other` forgets the same items of a dataset of the same size (a model unlearned on
    /// one request is measured, or scored, only on that request).
    pub fn same_forget_set(&self, other: &ForgetRequest) -> bool {
        self.forget == other.forget && self.dataset_len == other.dataset_len
    }

    /// `fraction` of `data` by memorisation (`scores`: one per item, e.g.
    /// [`crate::metrics::memorization`]'s, from `models` models): a seeded random draw inside the
    /// `stratum`'s third of the items ranked by score (ties by index), or the `top` fraction.
    pub fn memorization(
        data: &Dataset,
        scores: &[f64],
        models: usize,
        stratum: Stratum,
        fraction: f64,
        seed: u64,
    ) -> Result<Self> {
        check_fraction(fraction)?;
        let n = data.len();
        if scores.len() != n {
            return Err(Error::Shape(format!("{} memorisation scores for {} items of {}", scores.len(), n, data.name)));
        }
        if scores.iter().any(|s| !s.is_finite()) {
            return Err(Error::invalid("memorisation scores", "a value that is not finite", "finite scores"));
        }
        let mut order: Vec<i64> = (0..n as i64).collect();
        order.sort_by(|&a, &b| scores[a as usize].total_cmp(&scores[b as usize]).then(a.cmp(&b)));
        let count = ((n as f64 * fraction).round() as usize).max(1);
        let forget = if stratum == Stratum::Top {
            let mut f = order[n - count.min(n)..].to_vec();
            f.sort_unstable();
            f
        } else {
            let third = n / 3;
            let (lo, hi) = match stratum {
                Stratum::Low => (0, third),
                Stratum::Medium => (third, n - third),
                _ => (n - third, n),
            };
            let pool = &order[lo..hi];
            if count > pool.len() {
                return Err(Error::invalid(
                    "fraction",
                    fraction,
                    format!("at most a third of the data ({} items) for a stratum of {} items", pool.len(), pool.len()),
                ));
            }
            let mut f = pick_n(pool, count, seed);
            f.sort_unstable();
            f
        };
        Self::build(RequestKind::Memorization { stratum, fraction, seed, models }, data, forget, Vec::new())
    }

    /// Every item of the given classes.
    pub fn classes(data: &Dataset, classes: &[i64]) -> Result<Self> {
        let k = data.num_classes() as i64;
        let mut seen = HashSet::new();
        for &c in classes {
            if c < 0 || c >= k {
                return Err(Error::invalid(
                    "class",
                    c,
                    format!("a class of {} in 0..{k} ({:?})", data.name, data.classes()),
                ));
            }
            if !seen.insert(c) {
                return Err(Error::invalid("class", c, "each class once"));
            }
        }
        let forget: Vec<i64> =
            data.labels_host().iter().enumerate().filter(|(_, l)| seen.contains(l)).map(|(i, _)| i as i64).collect();
        let mut sorted = classes.to_vec();
        sorted.sort_unstable();
        Self::build(RequestKind::Classes { classes: sorted }, data, forget, Vec::new())
    }

    /// A class by name or number (as text), resolved against `data`'s class names.
    pub fn class_index(data: &Dataset, class: &str) -> Result<i64> {
        if let Some(i) = data.classes().iter().position(|c| c == class) {
            return Ok(i as i64);
        }
        Err(Error::invalid("class", class, format!("one of {:?}", data.classes())))
    }

    /// An explicit list of items; duplicates and out-of-range indices are errors.
    pub fn indices(data: &Dataset, indices: &[i64], source: &str) -> Result<Self> {
        let n = data.len() as i64;
        let mut seen = HashSet::new();
        for &i in indices {
            if i < 0 || i >= n {
                return Err(Error::invalid("forget index", i, format!("an item of {} in 0..{n}", data.name)));
            }
            if !seen.insert(i) {
                return Err(Error::invalid("forget index", i, "each index once (it appears twice)"));
            }
        }
        let mut forget = indices.to_vec();
        forget.sort_unstable();
        Self::build(RequestKind::Indices { source: source.to_string() }, data, forget, Vec::new())
    }

    /// Reads a file of indices (integers separated by white space or commas, `#` comments, or a
    /// JSON array) and makes a request of them.
    pub fn indices_file(data: &Dataset, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(io_at(path))?;
        let indices: Vec<i64> = if text.trim_start().starts_with('[') {
            serde_json::from_str(&text)
                .map_err(|e| Error::format(path, format!("not a JSON array of integers: {e}")))?
        } else {
            let mut out = Vec::new();
            for (n, line) in text.lines().enumerate() {
                let line = line.split('#').next().unwrap_or("");
                for tok in line.split(|c: char| c.is_whitespace() || c == ',').filter(|t| !t.is_empty()) {
                    out.push(tok.parse::<i64>().map_err(|_| {
                        Error::format(path, format!("line {}: `{tok}` is not an integer index", n + 1))
                    })?);
                }
            }
            out
        };
        Self::indices(data, &indices, &path.display().to_string()).map_err(|e| match e {
            Error::InvalidArgument { what, value, expected } => {
                Error::format(path, format!("invalid {what} `{value}`: expected {expected}"))
            }
            other => other,
        })
    }

    /// `rounds` requests; round 0 forgets `fraction` of `data`, round r forgets `fraction` of
    /// round r−1's retain set (method.md §4.4: 10 % of 90,000 → 9,000, 8,100, 7,290).
    pub fn rounds(data: &Dataset, rounds: usize, fraction: f64, stratified: bool, seed: u64) -> Result<Vec<Self>> {
        check_fraction(fraction)?;
        if rounds == 0 {
            return Err(Error::invalid("rounds", 0, "at least 1"));
        }
        if rounds > data.len() {
            return Err(Error::invalid(
                "rounds",
                rounds,
                format!("at most one per item of {} ({})", data.name, data.len()),
            ));
        }
        let mut out: Vec<ForgetRequest> = Vec::new();
        let mut pool: Vec<i64> = (0..data.len() as i64).collect();
        let mut earlier: Vec<i64> = Vec::new();
        for round in 0..rounds {
            let round_seed = seed.wrapping_add(round as u64);
            let forget = pick(data, &pool, fraction, stratified, round_seed)?;
            let kind = RequestKind::Round { round, fraction, stratified, seed };
            let r = Self::build(kind, data, forget, earlier.clone())?;
            earlier.extend_from_slice(&r.forget);
            earlier.sort_unstable();
            pool = r.retain.clone();
            out.push(r);
        }
        Ok(out)
    }

    /// Checks that the request was drawn on `data` (same size and labels).
    pub fn check_dataset(&self, data: &Dataset) -> Result<()> {
        if self.dataset_len != data.len() || self.labels_digest != labels_digest(data.labels_host()) {
            return Err(Error::invalid(
                "dataset for this forget request",
                &data.name,
                format!(
                    "the dataset it was drawn on ({}: {} items, labels digest {}; this one has {} items, digest {})",
                    self.dataset,
                    self.dataset_len,
                    self.labels_digest,
                    data.len(),
                    labels_digest(data.labels_host())
                ),
            ));
        }
        Ok(())
    }

    /// Writes the request as JSON, atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::io::write_json_atomic(path, self)
    }

    /// Reads a request written by [`ForgetRequest::save`] and checks it against `data`.
    pub fn load(path: impl AsRef<Path>, data: &Dataset) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(io_at(path))?;
        let r: ForgetRequest =
            serde_json::from_str(&text).map_err(|e| Error::format(path, format!("not a forget request: {e}")))?;
        r.check().map_err(|e| Error::format(path, e.to_string()))?;
        r.check_dataset(data).map_err(|e| Error::format(path, e.to_string()))?;
        Ok(r)
    }

    /// The forget set as a dataset.
    pub fn forget_set(&self, data: &Dataset) -> Result<Dataset> {
        self.check_dataset(data)?;
        data.subset(&self.forget, format!("{}[forget {}]", data.name, self.forget.len()))
    }

    /// The retain set as a dataset.
    pub fn retain_set(&self, data: &Dataset) -> Result<Dataset> {
        self.check_dataset(data)?;
        data.subset(&self.retain, format!("{}[retain {}]", data.name, self.retain.len()))
    }

    /// A one-line description of the definition.
    pub fn describe_kind(&self) -> String {
        match &self.kind {
            RequestKind::Uniform { fraction, stratified, seed } => {
                format!("uniform {}%{} (seed {seed})", fraction * 100.0, if *stratified { " stratified" } else { "" })
            }
            RequestKind::Classes { classes } => format!("classes {classes:?}"),
            RequestKind::Indices { source } => format!("indices from {source}"),
            RequestKind::Memorization { stratum, fraction, seed, models } => format!(
                "{}% of the {} memorisation stratum ({models} models, seed {seed})",
                fraction * 100.0,
                stratum.name()
            ),
            RequestKind::Round { round, fraction, stratified, seed } => format!(
                "round {round}: {}% of the remaining retain set{} (seed {seed})",
                fraction * 100.0,
                if *stratified { " stratified" } else { "" }
            ),
        }
    }

    /// Sizes and the definition.
    pub fn describe(&self) -> String {
        format!(
            "forget request on {}: {}; forget {}, retain {}{}",
            self.dataset,
            self.describe_kind(),
            self.forget.len(),
            self.retain.len(),
            if self.earlier.is_empty() { String::new() } else { format!(", forgotten earlier {}", self.earlier.len()) }
        )
    }
}

fn check_fraction(fraction: f64) -> Result<()> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(Error::invalid("forget fraction", fraction, "a number strictly between 0 and 1"));
    }
    Ok(())
}

/// `fraction` of the items in `pool` (positions in `data`), sorted.
fn pick(data: &Dataset, pool: &[i64], fraction: f64, stratified: bool, seed: u64) -> Result<Vec<i64>> {
    let chosen = if stratified {
        let labels: Vec<i64> = pool.iter().map(|&i| data.labels_host()[i as usize]).collect();
        stratified_split(&labels, data.num_classes(), fraction, seed)?.0
    } else {
        random_split(pool.len(), fraction, seed)?.0
    };
    let mut out: Vec<i64> = chosen.iter().map(|&j| pool[j as usize]).collect();
    out.sort_unstable();
    Ok(out)
}

/// `count` items of `pool`, a seeded random draw.
fn pick_n(pool: &[i64], count: usize, seed: u64) -> Vec<i64> {
    use rand::seq::SliceRandom;
    let mut v = pool.to_vec();
    v.shuffle(&mut super::split::rng(seed));
    v.truncate(count);
    v
}

/// A forget request together with the dataset it splits: what scripts and notebooks pass around,
/// so the forget and retain sets are one call away.
#[derive(Debug, Clone)]
pub struct Request {
    pub request: ForgetRequest,
    pub data: Dataset,
}

impl Request {
    pub fn new(request: ForgetRequest, data: &Dataset) -> Self {
        Request { request, data: data.clone() }
    }
    /// The forget set, as a Dataset.
    pub fn forget_set(&self) -> Result<Dataset> {
        self.request.forget_set(&self.data)
    }
    /// The retain set, as a Dataset.
    pub fn retain_set(&self) -> Result<Dataset> {
        self.request.retain_set(&self.data)
    }
}
