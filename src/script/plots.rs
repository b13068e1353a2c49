//! Script bindings for plots (`src/report/plot.rs`). Every plot function returns a Figure;
//! `figure.save(path)` writes PNG or SVG by extension, or both for a path without one.
use super::metrics::evaluated_item;
use super::options::{check_keys, int_or};
use super::request::Request;
use super::{ctx, rt, RhaiResult};
use crate::condense::ReducedRetainSet;
use crate::data::Dataset;
use crate::report::plot::{self, Figure};
use crate::report::table::Table;
use rhai::plugin::*;
use rhai::{Array, CustomType, Dynamic, Map, TypeBuilder};

/// The options of `plot_blend()`.
pub const PLOT_BLEND_KEYS: [&str; 3] = ["clusters", "members", "seed"];

#[export_module]
pub mod plots_api {
    use super::*;

    /// Bars per method: retain, forget and test accuracy and MIA (and LiRA AUC when evaluated).
    pub fn plot_metrics(table: Table) -> Figure {
        plot::metric_bars(&table)
    }
    /// Quality versus time of a table's traced rows (unlearn() results run with `trace`): retain,
    /// forget and test accuracy and MIA along each run, with the reference's value and the
    /// Retrain-like band (options: accuracy (0.02), mia (2.0), as evaluate()'s retrain_like).
    #[rhai_fn(return_raw)]
    pub fn plot_curves(table: Table, options: Map) -> RhaiResult<Figure> {
        let tol: crate::metrics::curve::Tolerances =
            crate::script::options::parse("plot_curves", &options).map_err(rt)?;
        plot::quality_curves(&table, &tol).map_err(rt)
    }
    #[rhai_fn(name = "plot_curves", return_raw)]
    pub fn plot_curves_default(table: Table) -> RhaiResult<Figure> {
        plot_curves(table, Map::new())
    }
    /// Each method's end-to-end time against its mean gap to the table's reference.
    #[rhai_fn(return_raw)]
    pub fn plot_time_vs_gap(table: Table) -> RhaiResult<Figure> {
        plot::time_vs_gap(&table).map_err(rt)
    }
    /// Per-item loss distributions of the forget set and of `unseen` data, one panel per item
    /// (models or unlearn() results, e.g. [model, fast]: before and after unlearning).
    #[rhai_fn(return_raw)]
    pub fn plot_losses(items: Array, request: Request, unseen: Dataset) -> RhaiResult<Figure> {
        let forget = request.request.forget_set(&request.data).map_err(rt)?;
        let named =
            items.into_iter().enumerate().map(|(i, item)| evaluated_item(item, i)).collect::<RhaiResult<Vec<_>>>()?;
        // every model stays borrowed while the figure is made (an item may appear twice)
        let guards: Vec<_> = named.iter().map(|(_, m)| m.0.borrow()).collect();
        let models: Vec<(String, &crate::models::Model)> =
            named.iter().zip(&guards).map(|((name, _), g)| (name.clone(), &g.model)).collect();
        plot::model_loss_distributions(&models, &forget, &unseen).map_err(rt)
    }
    /// Blended images next to members of their clusters. Options: clusters (8), members (8),
    /// seed (the run's).
    #[rhai_fn(return_raw)]
    pub fn plot_blend(
        context: NativeCallContext,
        reduced: ReducedRetainSet,
        train: Dataset,
        options: Map,
    ) -> RhaiResult<Figure> {
        let c = ctx(&context)?;
        check_keys("plot_blend", &options, &PLOT_BLEND_KEYS)?;
        let int = |k: &str, d: i64| int_or("plot_blend", &options, k, d);
        let (clusters, members, seed) = (int("clusters", 8)?, int("members", 8)?, int("seed", c.seed() as i64)?);
        if clusters < 1 || members < 0 {
            return Err(rt("plot_blend(): `clusters` must be at least 1 and `members` at least 0"));
        }
        plot::blend_grid(&reduced, &train, clusters as usize, members as usize, seed as u64).map_err(rt)
    }
    #[rhai_fn(name = "plot_blend", return_raw)]
    pub fn plot_blend_default(
        context: NativeCallContext,
        reduced: ReducedRetainSet,
        train: Dataset,
    ) -> RhaiResult<Figure> {
        plot_blend(context, reduced, train, Map::new())
    }
    /// Writes the figure (atomically): `x.png` / `x.svg`, or both for a path without extension.
    /// Returns the paths written.
    #[rhai_fn(name = "save", return_raw)]
    pub fn figure_save(context: NativeCallContext, f: &mut Figure, path: &str) -> RhaiResult<Array> {
        crate::script::experiment_work(&context, "save()")?;
        let file = crate::script::allowed(&context, path, "plot file")?;
        let written = f.save(&file).map_err(rt)?;
        Ok(written.into_iter().map(|p| Dynamic::from(p.display().to_string())).collect())
    }
}

/// How a Figure prints (`print`, `debug`, string interpolation).
fn figure_text(f: &mut Figure) -> String {
    f.describe()
}

impl CustomType for Figure {
    fn build(mut t: TypeBuilder<Self>) {
        t.with_name("Figure").on_print(figure_text).on_debug(figure_text);
    }
}

super::binding_package!(
    /// The script functions and types of plots.
    PlotsPackage,
    "plots",
    plots_api,
    [Figure]
);
