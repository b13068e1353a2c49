//! Notebook mode on the evcxr Jupyter kernel: a [`Session`] runs rhai cells one after another
//! with variables, script functions, datasets, models and results persisting between cells, and
//! renders the last value of a cell richly (tables as HTML, plots and image grids as PNG,
//! datasets as class counts plus a sample grid, models as an architecture summary with their
//! training history).
//!
//! Every evcxr cell is compiled into its own library with its own copy of this crate's and rhai's
//! statics (measured in this project with evcxr_jupyter 0.22): an rhai `Engine` made in one cell
//! fails in the next ("Function not found", then a crash).
//! So the session holds only plain data — the variables' values (tensor handles included, libtorch
//! is loaded once), the source text of the script functions defined so far, the run settings —
//! and builds a fresh engine, and a fresh rhai `Scope`, on every [`Session::run`]. (Not even an
//! empty `Scope` may cross cells: its `ThinVec`s point at a static inside the library of the cell
//! that made it, which the next cell's copy of `thin_vec` takes for a heap block and `realloc`s:
//! `realloc(): invalid pointer` on the first variable a later cell defines, measured.)
//!
//! ```text
//! :dep unlearn = { path = ".." }
//! let mut s = unlearn::notebook::Session::new()?;
//! s.run(r#" let data = builtin("mnist"); data "#)?     // class counts + a sample grid
//! ```
use crate::error::{Error, Result};
use crate::report::html::escape;
use crate::report::plot::{png_base64, rgb_images, Figure, GridRow};
use crate::script::{self, RunContext};
use rhai::{Dynamic, Scope};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use tch::Device;

/// A notebook's script state across cells.
pub struct Session {
    /// The variables, oldest first (a constant's value carries its read-only mode).
    variables: Vec<(String, Dynamic)>,
    /// The cells that defined script functions, oldest first, each with the (name, arity) of
    /// the functions it defined that no later cell redefined. Kept as source, not as rhai's AST:
    /// an AST held across evcxr cells crashed the kernel (a rhai value built by one copy of its
    /// code and freed by another), so each cell compiles them again and takes rhai's own list of
    /// their functions (`AST::clone_functions_only`), later definitions replacing earlier ones.
    function_cells: Vec<FunctionCell>,
    device: Device,
    seed: u64,
    out_dir: PathBuf,
    options: BTreeMap<String, String>,
    cells: usize,
}

/// A cell that defined functions: its source and the functions of it still in force.
struct FunctionCell {
    source: String,
    functions: Vec<(String, usize)>,
}

/// The (name, arity) of the script functions an AST defines, in rhai's order.
fn defined_functions(ast: &rhai::AST) -> Vec<(String, usize)> {
    ast.iter_functions().map(|f| (f.name.to_string(), f.params.len())).collect()
}

/// What a cell produced: its printed lines and a rendering of its last value (plain data).
#[derive(Clone, Default)]
pub struct Output {
    pub printed: String,
    /// Plain-text form of the value (always), and rich forms where the value has them.
    pub text: Option<String>,
    pub html: Option<String>,
    pub png: Option<Vec<u8>>,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.printed)?;
        if let Some(t) = &self.text {
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

/// Prints one evcxr rich-output block.
fn emit(mime: &str, content: &str) {
    crate::outln!("EVCXR_BEGIN_CONTENT {mime}\n{content}\nEVCXR_END_CONTENT");
}

impl Output {
    /// evcxr's rich display: the printed text, then HTML and/or PNG (or the plain text).
    pub fn evcxr_display(&self) {
        let mut html = String::new();
        if !self.printed.is_empty() {
            html.push_str(&format!("<pre>{}</pre>", escape(self.printed.trim_end())));
        }
        match (&self.html, &self.png, &self.text) {
            (Some(h), _, _) => html.push_str(h),
            (None, None, Some(t)) => html.push_str(&format!("<pre>{}</pre>", escape(t))),
            _ => {}
        }
        if let Some(p) = &self.png {
            html.push_str(&format!("<img src=\"data:image/png;base64,{}\"/>", png_base64(p)));
        }
        if !html.is_empty() {
            emit("text/html", &html);
        }
    }
}

/// Loads libtorch's CUDA library into the process so a notebook (whose link evcxr makes, without
/// our build.rs arguments) sees the GPU; `false` where there is none (a CPU-only libtorch).
pub fn load_cuda() -> bool {
    static LOADED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *LOADED.get_or_init(|| {
        // SAFETY: loading a shared library runs its initialisers; libtorch_cuda's are those
        // libtorch itself runs when linked normally.
        unsafe {
            libloading::os::unix::Library::open(
                Some("libtorch_cuda.so"),
                libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_GLOBAL,
            )
            .map(std::mem::forget)
            .is_ok()
        }
    })
}

impl Session {
    /// A session on the best device (CUDA when present), seed 0, outputs in `results/notebook`.
    pub fn new() -> Result<Self> {
        load_cuda();
        Self::with(Device::cuda_if_available(), 0, "results/notebook")
    }

    /// A session on `device` with `seed`, writing outputs under `out_dir`.
    pub fn with(device: Device, seed: u64, out_dir: impl Into<PathBuf>) -> Result<Self> {
        crate::runtime::seed_everything(seed);
        Ok(Session {
            variables: Vec::new(),
            function_cells: Vec::new(),
            device,
            seed,
            out_dir: out_dir.into(),
            options: BTreeMap::new(),
            cells: 0,
        })
    }

    /// Sets an `option("name", default)` value, as `--set name=value` does on the command line.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.options.insert(name.into(), value.into());
        self
    }

    /// Names of the variables defined so far.
    pub fn variables(&self) -> Vec<String> {
        self.variables.iter().map(|(name, _)| name.clone()).collect()
    }

    /// Names of the script functions defined so far.
    pub fn functions(&self) -> Vec<String> {
        let names: std::collections::BTreeSet<&String> =
            self.function_cells.iter().flat_map(|c| c.functions.iter().map(|(name, _)| name)).collect();
        names.into_iter().cloned().collect()
    }

    /// Runs one cell of rhai: earlier variables and functions are visible, new ones persist.
    /// Returns what it printed and a rendering of its last value; a failure is an error with
    /// the cell's line and column.
    pub fn run(&mut self, source: &str) -> Result<Output> {
        self.cells += 1;
        // this cell's own Scope (see the module notes), handed back to the session whatever happens
        let mut scope = Scope::with_capacity(self.variables.len());
        for (name, value) in self.variables.drain(..) {
            scope.push_dynamic(name, value);
        }
        let result = self.run_in(&mut scope, source);
        self.variables = scope.into_iter().map(|(name, value, _)| (name, value)).collect();
        result
    }

    fn run_in(&mut self, scope: &mut Scope<'static>, source: &str) -> Result<Output> {
        let name = format!("cell {}", self.cells);
        let ctx = Rc::new(RunContext::new(&name, self.device, self.seed, self.out_dir.clone(), self.options.clone()));
        let mut engine = script::engine(ctx, None);
        let printed = Rc::new(std::cell::RefCell::new(String::new()));
        let sink = printed.clone();
        engine.on_print(move |s| {
            let mut p = sink.borrow_mut();
            p.push_str(s);
            p.push('\n');
        });
        // the functions of earlier cells, recompiled against today's variables (a superset of
        // those each cell saw); merging in order lets a later definition replace an earlier one
        let mut ast = rhai::AST::empty();
        for earlier in &self.function_cells {
            let compiled = engine
                .compile_with_scope(scope, &earlier.source)
                .map_err(|e| Error::Script(format!("earlier function definitions no longer compile: {e}")))?;
            ast = ast.merge(&compiled.clone_functions_only());
        }
        let cell = script::check_with_scope(&engine, scope, &name, source).map_err(Error::Script)?;
        let defined = defined_functions(&cell);
        ast = ast.merge(&cell);
        ast.set_source(name.clone());
        let value = engine
            .eval_ast_with_scope::<Dynamic>(scope, &ast)
            .map_err(|e| Error::Script(script::render_eval_error(&e, &name, source)))?;
        if !defined.is_empty() {
            for earlier in &mut self.function_cells {
                earlier.functions.retain(|f| !defined.contains(f));
            }
            self.function_cells.retain(|c| !c.functions.is_empty());
            self.function_cells.push(FunctionCell { source: source.to_string(), functions: defined });
        }
        let mut out = render(&engine, &value)?;
        out.printed = printed.borrow().clone();
        Ok(out)
    }
}

/// A rich rendering of `value` (the engine is only used for the plain-text form).
fn render(engine: &rhai::Engine, value: &Dynamic) -> Result<Output> {
    use crate::data::{DataSplit, Dataset};
    use crate::report::summary::Summary;
    use crate::report::table::Table;
    use crate::script::models::ModelHandle;
    use crate::script::unlearn::UnlearnedHandle;
    if value.is_unit() {
        return Ok(Output::default());
    }
    let mut out = Output { text: Some(plain_text(engine, value)), ..Output::default() };
    if let Some(t) = value.read_lock::<Table>() {
        out.html = Some(t.to_html());
    } else if let Some(s) = value.read_lock::<Summary>() {
        out.html = Some(s.to_html());
    } else if let Some(f) = value.read_lock::<Figure>() {
        out.png = Some(f.to_png()?);
    } else if let Some(d) = value.read_lock::<DataSplit>() {
        out.html = Some(format!("<pre>{}</pre>", escape(&d.describe())));
        out.png = Some(sample_grid(&d.train, 8)?.to_png()?);
    } else if let Some(d) = value.read_lock::<Dataset>() {
        out.html = Some(format!("<pre>{}</pre>", escape(&d.describe())));
        out.png = Some(sample_grid(&d, 8)?.to_png()?);
    } else if let Some(m) = value.read_lock::<ModelHandle>() {
        out.html = Some(model_html(&m));
    } else if let Some(u) = value.read_lock::<UnlearnedHandle>() {
        out.html = Some(format!(
            "<p><b>{}</b>: {:.2} s on {} ({} items)</p>{}",
            escape(&u.result.method),
            u.result.seconds,
            escape(&u.result.retain.0),
            u.result.retain.1,
            model_html(&u.model)
        ));
    } else if let Some(r) = value.read_lock::<crate::condense::ReducedRetainSet>() {
        out.html = Some(format!("<pre>{}</pre>", escape(&r.describe())));
    }
    Ok(out)
}

/// The value as the script's `print` would show it.
fn plain_text(engine: &rhai::Engine, value: &Dynamic) -> String {
    let mut scope = Scope::new();
    scope.push_dynamic("__value", value.clone());
    engine.eval_with_scope::<String>(&mut scope, "`${__value}`").unwrap_or_else(|_| value.type_name().to_string())
}

/// Architecture, parameter count and a compact per-epoch table of every training run.
fn model_html(m: &crate::script::models::ModelHandle) -> String {
    let state = m.0.borrow();
    let spec = &state.model.spec;
    let mut html = format!(
        "<p><b>{}</b>: {} parameters, input {}x{}x{}, {} classes, on {}</p>",
        escape(&spec.name()),
        state.model.num_params(),
        spec.in_channels,
        spec.image_size[0],
        spec.image_size[1],
        spec.num_classes,
        crate::runtime::device_name(state.model.device())
    );
    for run in &state.history {
        html.push_str(&format!(
            "<details><summary>training on {} ({} items): {} epochs, {:.1} s, final loss {:.4}</summary><table><tr><th>epoch</th><th>loss</th><th>train acc %</th><th>lr</th><th>s</th></tr>",
            escape(&run.dataset),
            run.items,
            run.epochs.len(),
            run.seconds,
            run.epochs.last().map(|e| e.loss).unwrap_or(f64::NAN)
        ));
        for e in &run.epochs {
            html.push_str(&format!(
                "<tr><td>{}</td><td>{:.4}</td><td>{:.2}</td><td>{:.4}</td><td>{:.1}</td></tr>",
                e.epoch,
                e.loss,
                100.0 * e.accuracy,
                e.lr,
                e.seconds
            ));
        }
        html.push_str("</table></details>");
    }
    html
}

/// Up to `per_class` images of each class (first ones), a row per class.
pub fn sample_grid(data: &crate::data::Dataset, per_class: usize) -> Result<Figure> {
    let mut rows = Vec::new();
    let counts = data.class_counts();
    for (c, name) in data.classes().iter().enumerate().take(20) {
        let idx: Vec<i64> =
            (0..data.len() as i64).filter(|&i| data.labels_host()[i as usize] == c as i64).take(per_class).collect();
        if idx.is_empty() {
            continue;
        }
        let t = tch::Tensor::f_from_slice(&idx)?.f_to_device(data.device())?;
        let images = rgb_images(&data.normalization().invert(&data.images().f_index_select(0, &t)?)?)?;
        rows.push(GridRow { label: format!("{name}: {} images", counts[c]), images });
    }
    Ok(Figure::ImageGrid {
        title: format!("{}: {} images", data.name, data.len()),
        header: vec!["samples".into()],
        rows,
        scale: if data.image_shape()[1] <= 32 { 2 } else { 1 },
    })
}
