//! Script bindings for forget requests (`src/data/request.rs`).
use super::options::parse;
use super::{ctx, rt, RhaiResult};
use crate::data::request::ForgetRequest;
use crate::data::Dataset;
use rhai::plugin::*;
use rhai::{Array, CustomType, Dynamic, Map, TypeBuilder};
use serde::{Deserialize, Serialize};

pub use crate::data::request::Request;

/// `forget_uniform()` options.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UniformOptions {
    /// Seed of the draw (default: the run's seed).
    pub seed: Option<u64>,
    /// The same fraction of every class (default false: a plain random draw, as the reference).
    pub stratified: bool,
}

/// `forget_rounds()` options.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoundsOptions {
    pub rounds: usize,
    pub fraction: f64,
    pub seed: Option<u64>,
    pub stratified: bool,
}

impl Default for RoundsOptions {
    /// method.md §4.4: 3 rounds of 10 %.
    fn default() -> Self {
        RoundsOptions { rounds: 3, fraction: 0.1, seed: None, stratified: false }
    }
}

fn ints(func: &str, values: Array) -> RhaiResult<Vec<i64>> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_int().map_err(|t| rt(format!("{func}(): item {i} of the array is a {t}, expected an integer")))
        })
        .collect()
}

fn int_array(v: &[i64]) -> Array {
    v.iter().map(|&i| Dynamic::from_int(i)).collect()
}

fn wrap(request: ForgetRequest, data: &Dataset) -> Request {
    Request::new(request, data)
}

#[export_module]
pub mod request_api {
    use super::*;

    /// Forget a random `fraction` of `data` (0 < fraction < 1). Options: seed (the run's),
    /// stratified (false; true takes the same fraction of every class).
    #[rhai_fn(name = "forget_uniform", return_raw)]
    pub fn forget_uniform_opts(
        context: NativeCallContext,
        data: Dataset,
        fraction: f64,
        options: Map,
    ) -> RhaiResult<Request> {
        let c = ctx(&context)?;
        let o: UniformOptions = parse("forget_uniform", &options).map_err(rt)?;
        ForgetRequest::uniform(&data, fraction, o.stratified, o.seed.unwrap_or(c.seed()))
            .map(|r| wrap(r, &data))
            .map_err(rt)
    }
    /// Forget a random `fraction` of `data`, seeded by the run's seed.
    #[rhai_fn(name = "forget_uniform", return_raw)]
    pub fn forget_uniform(context: NativeCallContext, data: Dataset, fraction: f64) -> RhaiResult<Request> {
        forget_uniform_opts(context, data, fraction, Map::new())
    }
    /// Forget every item of one class, given by number.
    #[rhai_fn(name = "forget_class", return_raw)]
    pub fn forget_class(data: Dataset, class: i64) -> RhaiResult<Request> {
        ForgetRequest::classes(&data, &[class]).map(|r| wrap(r, &data)).map_err(rt)
    }
    /// Forget every item of one class, given by name (one of `data.classes`).
    #[rhai_fn(name = "forget_class", return_raw)]
    pub fn forget_class_named(data: Dataset, class: &str) -> RhaiResult<Request> {
        let c = ForgetRequest::class_index(&data, class).map_err(rt)?;
        forget_class(data, c)
    }
    /// A class of `data` drawn uniformly at random with `seed` (the reference draws the class of
    /// a class-wise request at random, unseeded; here each seed draws its own, repeatably).
    #[rhai_fn(return_raw)]
    pub fn random_class(data: Dataset, seed: i64) -> RhaiResult<i64> {
        use rand::Rng;
        let k = data.num_classes();
        if k == 0 {
            return Err(rt(format!("random_class(): {} has no classes", data.name)));
        }
        Ok(crate::data::split::rng(seed as u64 ^ 0xC1A5_5E5D).random_range(0..k) as i64)
    }
    /// Forget every item of several classes (an array of class numbers).
    #[rhai_fn(return_raw)]
    pub fn forget_classes(data: Dataset, classes: Array) -> RhaiResult<Request> {
        let classes = ints("forget_classes", classes)?;
        ForgetRequest::classes(&data, &classes).map(|r| wrap(r, &data)).map_err(rt)
    }
    /// Forget the items at the given positions (an array of distinct integers).
    #[rhai_fn(return_raw)]
    pub fn forget_indices(data: Dataset, indices: Array) -> RhaiResult<Request> {
        let idx = ints("forget_indices", indices)?;
        ForgetRequest::indices(&data, &idx, "script").map(|r| wrap(r, &data)).map_err(rt)
    }
    /// Forget the items listed in a file: integers separated by white space or commas (`#`
    /// starts a comment), or a JSON array.
    #[rhai_fn(return_raw)]
    pub fn forget_indices_file(context: NativeCallContext, data: Dataset, path: &str) -> RhaiResult<Request> {
        let file = crate::script::allowed(&context, path, "index file")?;
        ForgetRequest::indices_file(&data, &file).map(|r| wrap(r, &data)).map_err(rt)
    }
    /// A multi-round sequence (method.md §4.4): an array of requests, round r forgetting
    /// `fraction` of what round r-1 retained. Options: rounds (3), fraction (0.1), seed (the run's), stratified (false).
    #[rhai_fn(return_raw)]
    pub fn forget_rounds(context: NativeCallContext, data: Dataset, options: Map) -> RhaiResult<Array> {
        let c = ctx(&context)?;
        let o: RoundsOptions = parse("forget_rounds", &options).map_err(rt)?;
        let rounds =
            ForgetRequest::rounds(&data, o.rounds, o.fraction, o.stratified, o.seed.unwrap_or(c.seed())).map_err(rt)?;
        Ok(rounds.into_iter().map(|r| Dynamic::from(wrap(r, &data))).collect())
    }
    /// Replays a request saved with `save`; refuses a dataset other than the one it was drawn on.
    #[rhai_fn(return_raw)]
    pub fn load_request(context: NativeCallContext, path: &str, data: Dataset) -> RhaiResult<Request> {
        let file = crate::script::allowed(&context, path, "request file")?;
        ForgetRequest::load(&file, &data).map(|r| wrap(r, &data)).map_err(rt)
    }

    /// Writes the request (definition, seed, indices, dataset digest) as JSON, atomically; returns the path.
    #[rhai_fn(name = "save", return_raw)]
    pub fn request_save(context: NativeCallContext, r: &mut Request, path: &str) -> RhaiResult<String> {
        crate::script::experiment_work(&context, "save()")?;
        let file = crate::script::allowed(&context, path, "request file")?;
        r.request.save(&file).map_err(rt)?;
        Ok(path.to_string())
    }
    /// Sizes and definition.
    #[rhai_fn(name = "describe", pure)]
    pub fn request_describe(r: &mut Request) -> String {
        r.request.describe()
    }
}

/// How a Request prints (`print`, `debug`, string interpolation).
fn request_text(r: &mut Request) -> String {
    r.request.describe()
}

impl CustomType for Request {
    fn build(mut t: TypeBuilder<Self>) {
        t.with_name("Request")
            .with_get("forget", |r: &mut Self| -> RhaiResult<Dataset> { r.forget_set().map_err(rt) })
            .and_comments(&["/// The forget set, as a Dataset."])
            .with_get("retain", |r: &mut Self| -> RhaiResult<Dataset> { r.retain_set().map_err(rt) })
            .and_comments(&["/// The retain set, as a Dataset."])
            .with_get("forget_indices", |r: &mut Self| -> Array { int_array(&r.request.forget) })
            .and_comments(&["/// Positions of the forgotten items in the dataset (sorted)."])
            .with_get("retain_indices", |r: &mut Self| -> Array { int_array(&r.request.retain) })
            .and_comments(&["/// Positions of the retained items in the dataset (sorted)."])
            .with_get("earlier_indices", |r: &mut Self| -> Array { int_array(&r.request.earlier) })
            .and_comments(&["/// Positions forgotten by earlier rounds (multi-round; empty otherwise)."])
            .with_get("size", |r: &mut Self| -> i64 { r.request.forget.len() as i64 })
            .and_comments(&["/// Number of items to forget."])
            .with_get("definition", |r: &mut Self| -> RhaiResult<Dynamic> { rhai::serde::to_dynamic(&r.request.kind) })
            .and_comments(&["/// The definition (kind, fraction, seed, classes, ...) as a map."])
            .with_get("dataset", |r: &mut Self| -> Dataset { r.data.clone() })
            .and_comments(&["/// The dataset the request splits."])
            .on_print(request_text)
            .on_debug(request_text);
    }
}

super::binding_package!(
    /// The script functions and types of forget requests.
    RequestPackage,
    "request",
    request_api,
    [Request]
);
