//! Script bindings for condensation (`src/condense`).
use super::models::ModelHandle;
use super::options::map_to_json;
use super::request::Request;
use super::{ctx, rt, RhaiResult};
use crate::condense::{condense as run_condense, CondenseConfig, CondenseInput, ReducedRetainSet};
use crate::data::Dataset;
use rhai::plugin::*;
use rhai::{Array, CustomType, Dynamic, Map, TypeBuilder};

fn run(
    context: &NativeCallContext,
    train: &Dataset,
    request: &Request,
    options: &Map,
    model: Option<&ModelHandle>,
) -> RhaiResult<ReducedRetainSet> {
    let c = ctx(context)?;
    let cfg = CondenseConfig::from_json("condense", &map_to_json("condense", options).map_err(rt)?).map_err(rt)?;
    let borrowed = model.map(|m| m.0.borrow());
    let input = CondenseInput {
        train,
        request: &request.request,
        clustering: None,
        feature_model: borrowed.as_ref().map(|b| &b.model),
        seed: c.seed(),
    };
    run_condense(&input, &cfg).map_err(rt)
}

#[export_module]
pub mod condense_api {
    use super::*;

    /// The reduced retain set for `request` on `train` (method.md §1). Options: `method`
    /// ("blend" | "random" | "dm" | "gm" | "idm", default "blend") and that method's own options
    /// (a key of another method is an error). blend: ipc (10 clusters per class), iters (12), lr
    /// (η(ipc)), momentum (0.5), seed, kmeans_max_iter (100), kmeans_tol (1e-4), embed_batch
    /// (1024), chunk_clusters (1024). random: ipc (10), size (total instead of ipc per class),
    /// seed. dm, gm, idm: ipc (10), iters (DM and IDM 20000, GM 1000), lr (DM and IDM 0.01, GM
    /// 0.1), momentum (0.5), batch_real (256 real images per class and step), seed; gm also
    /// outer_loop and inner_loop (by ipc: 1-5 → 1, 1; 10 → 10, 50; 20 → 20, 25; 30 → 30, 20;
    /// 40 → 40, 15; 50 → 50, 10; other ipcs must give them) and net_lr (0.01); idm also
    /// pool_size (3). `unlearn functions condense` lists them with their defaults.
    #[rhai_fn(name = "condense", return_raw)]
    pub fn condense_opts(
        context: NativeCallContext,
        train: Dataset,
        request: Request,
        options: Map,
    ) -> RhaiResult<ReducedRetainSet> {
        crate::script::experiment_work(&context, "condense()")?;
        run(&context, &train, &request, &options, None)
    }
    /// The reduced retain set with the default options (Blend, ipc 10).
    #[rhai_fn(name = "condense", return_raw)]
    pub fn condense_default(
        context: NativeCallContext,
        train: Dataset,
        request: Request,
    ) -> RhaiResult<ReducedRetainSet> {
        crate::script::experiment_work(&context, "condense()")?;
        run(&context, &train, &request, &Map::new(), None)
    }
    /// The whole of `train` condensed, nothing forgotten (method.md §1.7's benchmark: with
    /// Blend, `ipc` images per class). Same options as condense(train, request, options).
    #[rhai_fn(name = "condense", return_raw)]
    pub fn condense_whole_set(
        context: NativeCallContext,
        train: Dataset,
        options: Map,
    ) -> RhaiResult<ReducedRetainSet> {
        crate::script::experiment_work(&context, "condense()")?;
        let c = ctx(&context)?;
        let cfg = CondenseConfig::from_json("condense", &map_to_json("condense", &options).map_err(rt)?).map_err(rt)?;
        crate::condense::condense_whole(&train, &cfg, None, c.seed()).map_err(rt)
    }
    /// The reduced retain set, clustering the features of `model` instead of a random ConvNet-3.
    #[rhai_fn(name = "condense", return_raw)]
    pub fn condense_with_model(
        context: NativeCallContext,
        model: ModelHandle,
        train: Dataset,
        request: Request,
        options: Map,
    ) -> RhaiResult<ReducedRetainSet> {
        crate::script::experiment_work(&context, "condense()")?;
        run(&context, &train, &request, &options, Some(&model))
    }
    /// The reduced retain set for a later round's request, reusing `previous`'s clustering and
    /// options (method.md §4.4: k-means once, the split and Blend again every round).
    #[rhai_fn(return_raw)]
    pub fn recondense(
        context: NativeCallContext,
        previous: ReducedRetainSet,
        request: Request,
    ) -> RhaiResult<ReducedRetainSet> {
        crate::script::experiment_work(&context, "recondense()")?;
        let c = ctx(&context)?;
        let input = CondenseInput {
            train: &request.data,
            request: &request.request,
            clustering: previous.clustering.clone(),
            feature_model: None,
            seed: c.seed(),
        };
        run_condense(&input, &previous.config).map_err(rt)
    }

    /// The first `n` synthetic images, as a Dataset (for viewing).
    #[rhai_fn(name = "images", pure, return_raw)]
    pub fn reduced_images(r: &mut ReducedRetainSet, n: i64) -> RhaiResult<Dataset> {
        let s = r.synthetic_set().map_err(rt)?;
        let n = n.clamp(0, s.len() as i64);
        s.subset(&(0..n).collect::<Vec<_>>(), format!("{} (first {n})", s.name)).map_err(rt)
    }
    /// Sizes, ratio and time per phase.
    #[rhai_fn(name = "describe", pure)]
    pub fn reduced_describe(r: &mut ReducedRetainSet) -> String {
        r.describe()
    }
}

impl CustomType for ReducedRetainSet {
    fn build(mut t: TypeBuilder<Self>) {
        t.with_name("ReducedRetainSet")
            .with_comments(&[
                "/// A reduced retain set R̃: residual real images, then synthetic ones, with how it was made.",
            ])
            .on_print(|r| r.describe())
            .on_debug(|r| r.describe())
            .with_get("dataset", |r: &mut Self| r.dataset.clone())
            .and_comments(&["/// The reduced retain set as a Dataset (residual real images, then the synthetic ones)."])
            .with_get("ratio", |r: &mut Self| r.ratio())
            .and_comments(&["/// |reduced| / |retain|."])
            .with_get("timings", |r: &mut Self| -> RhaiResult<Dynamic> {
                let mut m: Map = rhai::serde::to_dynamic(&r.timings)?.cast();
                m.insert("total".into(), Dynamic::from_float(r.timings.total()));
                Ok(m.into())
            })
            .and_comments(&["/// Seconds per phase: #{ features, kmeans_init, kmeans_lloyd, split, condense, total }."])
            .with_get("residual", |r: &mut Self| r.residual as i64)
            .and_comments(&["/// Number of residual real images."])
            .with_get("synthetic", |r: &mut Self| r.synthetic as i64)
            .and_comments(&["/// Number of synthetic images (one per free cluster for Blend)."])
            .with_get("kmeans_iterations", |r: &mut Self| -> Array {
                r.clustering
                    .as_ref()
                    .map(|c| c.iterations.iter().map(|&i| Dynamic::from_int(i as i64)).collect())
                    .unwrap_or_default()
            })
            .and_comments(&["/// Lloyd iterations each class ran (empty for methods without k-means)."])
            .with_get("losses", |r: &mut Self| -> Array {
                r.blend_losses.iter().map(|&l| Dynamic::from_float(l)).collect()
            })
            .and_comments(&["/// Blend's loss at each iteration."]);
    }
}

super::binding_package!(
    /// The script functions and types of condensation.
    CondensePackage,
    "condense",
    condense_api,
    [ReducedRetainSet]
);
