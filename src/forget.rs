//! Forgetting in one call, without a script: what `unlearn forget` does. Load a deployed
//! classifier (a checkpoint of ours or a TorchScript model from PyTorch) and its training data,
//! build the deletion request, condense the retain set when asked, unlearn, measure the model
//! before and after, and write the unlearned model (in the input's format; the input file is
//! never touched), a self-contained `report.html`, `report.json` and `deletion-record.json`: what
//! was forgotten, the SHA-256 of the request and of both model files, the method and its full
//! options, the metrics before and after, versions, device and times. Every file is written
//! atomically.
//!
//! The method follows the request unless one is given ([`choose`]): a random subset of the
//! training set goes to Blend + A-CF, a whole class to SalUn, as the measured "which method
//! when" table of the README suggests.
use crate::condense::{self, blend::Blend, blend::BlendOptions, CondenseInput, ReducedRetainSet};
use crate::data::request::{ForgetRequest, RequestKind};
use crate::data::{DataSplit, Dataset, LoadOptions, ReferenceSplitOptions};
use crate::error::{Error, Result};
use crate::metrics::{EvalContext, MiaOptions};
use crate::models::{Model, ModelFileOptions};
use crate::report::evaluate::Item;
use crate::report::html::escape;
use crate::report::plot::{blend_grid, model_loss_distributions, png_base64, Figure};
use crate::report::table::Table;
use crate::unlearn::{timed, UnlearnInput, Unlearned};
use serde::Serialize;
use std::path::{Path, PathBuf};
use tch::Device;

/// Whether and how the retain set is condensed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BlendChoice {
    /// As the chosen method suggests: Blend for a method chosen for a random subset.
    #[default]
    Auto,
    /// Train on the full retain set.
    Off,
    /// Blend with this many clusters per class.
    Ipc(usize),
}

impl BlendChoice {
    /// `off`, `auto`, `ipc=N` or `N`.
    pub fn parse(text: &str) -> Result<BlendChoice> {
        let bad = || Error::invalid("--blend", text, "off, auto or ipc=N (clusters per class, N >= 1)");
        match text.trim() {
            "off" | "none" => Ok(BlendChoice::Off),
            "auto" => Ok(BlendChoice::Auto),
            t => {
                let n = t.strip_prefix("ipc=").unwrap_or(t).parse::<usize>().map_err(|_| bad())?;
                if n == 0 {
                    return Err(bad());
                }
                Ok(BlendChoice::Ipc(n))
            }
        }
    }
}

/// One deletion job.
#[derive(Debug, Clone)]
pub struct ForgetJob {
    /// The deployed model: `.safetensors` (unlearn's) or `.pt` (TorchScript).
    pub model: PathBuf,
    /// How to read the model file: `init` (an untrained TorchScript of the same architecture,
    /// for methods that start from scratch), `arch` of a PyTorch state dict.
    pub model_options: ModelFileOptions,
    /// The training data, as [`crate::data::source::load`] reads it.
    pub data: String,
    /// How the images are normalised (the model's own preprocessing).
    pub load: LoadOptions,
    /// The request: `class:NAME`, `uniform:FRACTION`, or a file of indices into the training
    /// part (or a request saved as JSON).
    pub forget: String,
    pub out: PathBuf,
    /// The method; `None` follows the request ([`choose`]).
    pub method: Option<String>,
    /// Options of the method (JSON object), over its defaults.
    pub method_options: serde_json::Map<String, serde_json::Value>,
    pub blend: BlendChoice,
    /// Unseen data of the same distribution (a dataset spec, both parts used); `None` keeps
    /// part of the test set aside for it.
    pub unseen: Option<String>,
    pub seed: u64,
    pub device: Device,
    /// Replace an earlier deletion record in `out`.
    pub overwrite: bool,
}

/// The method chosen, the condensation and the reason, in words.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    pub method: String,
    /// Blend's clusters per class, when the retain set is condensed.
    pub blend_ipc: Option<usize>,
    pub why: String,
}

/// What was forgotten, by what, with which effect: the record a compliance process keeps.
#[derive(Debug, Clone, Serialize)]
pub struct DeletionRecord {
    pub tool: String,
    pub created: String,
    pub data: String,
    /// SHA-256 of the training part's labels and images as loaded.
    pub data_digest: String,
    pub request: RequestRecord,
    pub input_model: FileRecord,
    pub output_model: FileRecord,
    pub method: String,
    pub method_options: serde_json::Value,
    pub condensation: Option<serde_json::Value>,
    pub choice: Choice,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
    pub seconds: Seconds,
    pub device: String,
    pub seed: u64,
    pub versions: crate::runtime::Versions,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    pub source: String,
    pub kind: String,
    pub forgotten: usize,
    pub retained: usize,
    /// SHA-256 of the forgotten indices, ascending, as a JSON array (e.g. `[3,17,42]`).
    pub indices_sha256: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileRecord {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

/// Seconds per phase (device-synchronised where the device works).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Seconds {
    pub load: f64,
    pub condense: f64,
    pub unlearn: f64,
    pub evaluate: f64,
    pub total: f64,
}

/// What a job produced.
pub struct ForgetOutcome {
    pub choice: Choice,
    pub table: Table,
    pub record: DeletionRecord,
    /// The files written, model first.
    pub files: Vec<PathBuf>,
}

/// The request `spec` names on `train` (see [`ForgetJob::forget`]).
pub fn load_request(spec: &str, train: &Dataset, seed: u64) -> Result<ForgetRequest> {
    if let Some(class) = spec.strip_prefix("class:") {
        let index = ForgetRequest::class_index(train, class)?;
        return ForgetRequest::classes(train, &[index]);
    }
    if let Some(fraction) = spec.strip_prefix("uniform:") {
        let f: f64 =
            fraction.parse().map_err(|_| Error::invalid("--forget", spec, "uniform:FRACTION, e.g. uniform:0.1"))?;
        return ForgetRequest::uniform(train, f, false, seed);
    }
    let path = Path::new(spec);
    if !path.exists() {
        return Err(Error::invalid(
            "--forget",
            spec,
            "class:NAME, uniform:FRACTION, or an existing file of indices into the training part (or a saved request)",
        ));
    }
    let text = std::fs::read_to_string(path).map_err(crate::error::io_at(path))?;
    if text.trim_start().starts_with('{') {
        ForgetRequest::load(path, train)
    } else {
        ForgetRequest::indices_file(train, path)
    }
}

/// The method for `request` (and whether to condense), with the reason: `method` when given;
/// otherwise SalUn for a request of whole classes (it removes a class as Retrain does in the
/// measured table) and A-CF on a Blend-reduced retain set for any other (closest to Retrain on
/// random subsets, and the method this toolkit is built around).
pub fn choose(method: Option<&str>, blend: BlendChoice, request: &ForgetRequest, train: &Dataset) -> Result<Choice> {
    let whole_classes = matches!(request.kind, RequestKind::Classes { .. });
    let (method, why) = match method {
        Some(m) => {
            crate::unlearn::method(m)?;
            (m.to_string(), format!("`{m}` as asked"))
        }
        None if whole_classes => (
            "salun".to_string(),
            "the request is a whole class: SalUn removes a class as Retrain does (README, \"Which method when\")".to_string(),
        ),
        None => (
            "a_cf".to_string(),
            "the request is a subset of the training set: A-CF on a Blend-reduced retain set comes closest to Retrain on random subsets at a fraction of its time (README, \"Which method when\")".to_string(),
        ),
    };
    // clusters of about five images: the reference's CIFAR-10 ratio (1000 clusters of 5000)
    let smallest = train.class_counts_of(&request.retain).into_iter().filter(|&n| n > 0).min().unwrap_or(1);
    let ipc = match blend {
        BlendChoice::Off => None,
        BlendChoice::Ipc(n) => Some(n),
        BlendChoice::Auto if method == "a_cf" && !whole_classes => Some((smallest / 5).max(1)),
        BlendChoice::Auto => None,
    };
    let why = match ipc {
        Some(n) => format!("{why}; Blend with {n} clusters per class"),
        None => format!("{why}; the full retain set"),
    };
    Ok(Choice { method, blend_ipc: ipc, why })
}

fn file_record(path: &Path) -> Result<FileRecord> {
    let bytes = std::fs::read(path).map_err(crate::error::io_at(path))?;
    Ok(FileRecord {
        path: path.display().to_string(),
        sha256: crate::resume::sha256_hex(&bytes),
        bytes: bytes.len() as u64,
    })
}

/// The row of `table` for `method` as JSON (its metrics and times).
fn row_json(table: &Table, index: usize) -> Result<serde_json::Value> {
    Ok(serde_json::to_value(&table.rows[index])?)
}

/// Runs `job`, calling `log` with a line for each step.
pub fn forget(job: &ForgetJob, log: &mut dyn FnMut(&str)) -> Result<ForgetOutcome> {
    let started = std::time::Instant::now();
    let record_path = job.out.join("deletion-record.json");
    if record_path.exists() && !job.overwrite {
        return Err(Error::invalid(
            "--out",
            job.out.display(),
            "a folder without a deletion record (it holds one from an earlier job: give another folder, or --overwrite)",
        ));
    }
    let ext = match job.model.extension().and_then(|e| e.to_str()) {
        Some(e @ ("pt" | "pth" | "safetensors")) => e.to_string(),
        _ => {
            return Err(Error::invalid(
                "--model",
                job.model.display(),
                "a .safetensors checkpoint or a TorchScript .pt file",
            ))
        }
    };
    let out_model = job.out.join(format!("unlearned.{ext}"));
    if let (Ok(a), Ok(b)) = (job.model.canonicalize(), out_model.canonicalize()) {
        if a == b {
            return Err(Error::invalid(
                "--out",
                job.out.display(),
                "another folder than the input model's (it is never overwritten)",
            ));
        }
    }
    let input_model = file_record(&job.model)?;

    // 1. data, model, request, unseen data
    let ((data, original, request, unseen, evaluation), load_seconds) = timed(job.device, || {
        let data: DataSplit = crate::data::source::load(&job.data, &job.load, job.device)?;
        let original = Model::load_file(&job.model, Some(&data.train), &job.model_options, job.device)?;
        let request = load_request(&job.forget, &data.train, job.seed)?;
        let (unseen, evaluation) = match &job.unseen {
            Some(spec) => {
                let u = crate::data::source::load(spec, &job.load, job.device)?;
                (u.train.concat(&u.test, format!("{spec} (unseen)"))?, data.test.clone())
            }
            None => {
                // per class, so every class is in both parts (a class request needs its held-out
                // items on both sides)
                let split = ReferenceSplitOptions { stratified: true, ..Default::default() };
                let parts = data.test.reference_split(&split, job.seed)?;
                (parts.unseen, parts.evaluation)
            }
        };
        Ok((data, original, request, unseen, evaluation))
    })?;
    log(&format!(
        "loaded {} and {} ({} training, {} test images of {:?}, {} classes) in {:.1} s",
        original.spec.name(),
        job.data,
        data.train.len(),
        data.test.len(),
        data.train.image_shape(),
        data.train.num_classes(),
        load_seconds
    ));
    log(&format!("request: {}", request.describe()));
    let choice = choose(job.method.as_deref(), job.blend, &request, &data.train)?;
    log(&format!("method: {} ({})", choice.method, choice.why));

    // 2. condensation, when chosen
    let reduced: Option<ReducedRetainSet> = match choice.blend_ipc {
        Some(ipc) => {
            let input = CondenseInput {
                train: &data.train,
                request: &request,
                clustering: None,
                feature_model: None,
                seed: job.seed,
            };
            let r = condense::run(&Blend, &input, &BlendOptions { ipc, ..Default::default() })?;
            log(&format!("condensed: {}", r.describe().lines().next().unwrap_or("")));
            Some(r)
        }
        None => None,
    };

    // 3. unlearning
    let input = UnlearnInput {
        original: &original,
        train: &data.train,
        request: &request,
        retain: reduced.as_ref().map(|r| &r.dataset),
        unseen: Some(&unseen),
        seed: job.seed,
        progress: false,
    };
    let mut result: Unlearned =
        crate::unlearn::unlearn(&choice.method, &input, &serde_json::Value::Object(job.method_options.clone()))?;
    if let Some(r) = &reduced {
        result = result.condensed_by(r);
    }
    log(&format!("unlearned in {:.1} s", result.seconds));

    // 4. before and after, on the real retain and forget sets and the held-out evaluation part
    let ctx = EvalContext::new(
        &data.train,
        &request,
        &evaluation,
        MiaOptions { seed: job.seed, swap_below: Some(42.0) },
        None,
    )?;
    let ((table, losses), eval_seconds) = timed(job.device, || {
        let items = [Item::model("before", &original), Item::unlearned(&result, &result.model, &request)];
        let table = Table::evaluate(&items, None, &ctx)?;
        let models = [("before".to_string(), &original), ("after".to_string(), &result.model)];
        Ok((table, model_loss_distributions(&models, &ctx.forget, &unseen)?))
    })?;

    // 5. files: the model, then the reports, then the record (each atomic)
    result.model.save(&out_model)?;
    let output_model = file_record(&out_model)?;
    let grid = match &reduced {
        Some(r) => Some(blend_grid(r, &data.train, 8, 6, job.seed)?),
        None => None,
    };
    let seconds = Seconds {
        load: load_seconds,
        condense: reduced.as_ref().map_or(0.0, |r| r.timings.total()),
        unlearn: result.seconds,
        evaluate: eval_seconds,
        total: started.elapsed().as_secs_f64(),
    };
    let indices = serde_json::to_string(&request.forget)?;
    let record = DeletionRecord {
        tool: format!("unlearn {}", env!("CARGO_PKG_VERSION")),
        created: crate::report::now(),
        data: job.data.clone(),
        data_digest: data.train.digest()?,
        request: RequestRecord {
            source: job.forget.clone(),
            kind: request.describe_kind(),
            forgotten: request.forget.len(),
            retained: request.retain.len(),
            indices_sha256: crate::resume::sha256_hex(indices.as_bytes()),
        },
        input_model,
        output_model,
        method: choice.method.clone(),
        method_options: result.options.clone(),
        condensation: reduced.as_ref().map(|r| serde_json::to_value(&r.config)).transpose()?,
        choice: choice.clone(),
        before: row_json(&table, 0)?,
        after: row_json(&table, 1)?,
        seconds,
        device: crate::runtime::device_name(job.device),
        seed: job.seed,
        versions: crate::runtime::Versions::current(),
    };
    let html = report_html(&record, &table, &losses, grid.as_ref())?;
    let report = serde_json::json!({ "record": &record, "table": &table });
    let html_path = job.out.join("report.html");
    let json_path = job.out.join("report.json");
    crate::io::write_atomic(&html_path, html.as_bytes())?;
    crate::io::write_json_atomic(&json_path, &report)?;
    crate::io::write_json_atomic(&record_path, &record)?;
    Ok(ForgetOutcome { choice, table, record, files: vec![out_model, html_path, json_path, record_path] })
}

/// One self-contained page (no script, images inline).
fn report_html(record: &DeletionRecord, table: &Table, losses: &Figure, grid: Option<&Figure>) -> Result<String> {
    let img = |f: &Figure| -> Result<String> {
        Ok(format!(
            "<img alt=\"{}\" src=\"data:image/png;base64,{}\"/>",
            escape(&f.describe()),
            png_base64(&f.to_png()?)
        ))
    };
    let r = &record.request;
    let mut body = format!(
        "<h1>Deletion report</h1>\n<p>{} of {} training items of <code>{}</code> forgotten ({}), by <b>{}</b>: {}.</p>\n",
        r.forgotten,
        r.forgotten + r.retained,
        escape(&record.data),
        escape(&r.kind),
        escape(&record.method),
        escape(&record.choice.why)
    );
    body.push_str("<h2>Before and after</h2>\n");
    body.push_str(&table.to_html());
    body.push_str(
        "\n<p>Accuracies in %, on the real retain and forget sets and a held-out part of the test set. MIA: how well an attack tells the forget set from unseen data by the model's losses (50 is chance; what Retrain would give depends on the data). Seconds: unlearning (with condensation, when used).</p>\n",
    );
    body.push_str("<h2>Losses of the forget set and of unseen data</h2>\n");
    body.push_str("<p>A model that forgot looks at its forget items as at data it never saw.</p>\n");
    body.push_str(&img(losses)?);
    if let Some(g) = grid {
        body.push_str("\n<h2>Blend: the reduced retain set</h2>\n");
        body.push_str(&img(g)?);
    }
    body.push_str("\n<h2>Record</h2>\n<table>\n");
    let rows = [
        ("input model", format!("{} (sha256 {})", record.input_model.path, record.input_model.sha256)),
        ("output model", format!("{} (sha256 {})", record.output_model.path, record.output_model.sha256)),
        ("forgotten indices", format!("{} (sha256 of the sorted list {})", r.forgotten, r.indices_sha256)),
        ("method options", record.method_options.to_string()),
        (
            "seconds",
            format!(
                "load {:.2}, condense {:.2}, unlearn {:.2}, evaluate {:.2}, total {:.2}",
                record.seconds.load,
                record.seconds.condense,
                record.seconds.unlearn,
                record.seconds.evaluate,
                record.seconds.total
            ),
        ),
        ("device, seed", format!("{}, {}", record.device, record.seed)),
        ("tool", format!("{} ({})", record.tool, record.created)),
    ];
    for (k, v) in rows {
        body.push_str(&format!("<tr><th>{}</th><td>{}</td></tr>\n", escape(k), escape(&v)));
    }
    body.push_str("</table>\n");
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Deletion report</title>\n<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}img{{max-width:100%}}code{{background:#f4f4f4}}</style></head>\n<body>\n{body}</body></html>\n"
    ))
}
