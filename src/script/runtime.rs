//! Script bindings for the run itself: command-line options, output folder, seed, device, and
//! saving results with their run record.
use super::{ctx, rt, RhaiResult};
use rhai::plugin::*;
use rhai::{Dynamic, Map};

#[export_module]
pub mod run_api {
    use super::*;

    /// The value of `--set name=value`, or `default` when it was not given. The value is parsed
    /// to the type of `default` (integer, float, bool or string).
    #[rhai_fn(return_raw)]
    pub fn option(context: NativeCallContext, name: &str, default: Dynamic) -> RhaiResult<Dynamic> {
        let c = ctx(&context)?;
        c.used_options.borrow_mut().insert(name.to_string());
        let Some(raw) = c.options.get(name) else {
            return Ok(default);
        };
        let bad = |what: &str| rt(format!("--set {name}={raw}: expected {what} (the script's default is {default})"));
        if default.is_int() {
            raw.trim().parse::<i64>().map(Dynamic::from_int).map_err(|_| bad("an integer"))
        } else if default.is_float() {
            raw.trim().parse::<f64>().map(Dynamic::from_float).map_err(|_| bad("a number"))
        } else if default.is_bool() {
            raw.trim().parse::<bool>().map(Dynamic::from_bool).map_err(|_| bad("true or false"))
        } else {
            Ok(Dynamic::from(raw.clone()))
        }
    }
    /// The output folder (`--out`, default `results/<script name>`).
    #[rhai_fn(return_raw)]
    pub fn out_dir(context: NativeCallContext) -> RhaiResult<String> {
        Ok(ctx(&context)?.out_dir().display().to_string())
    }
    /// `name` inside the output folder.
    #[rhai_fn(return_raw)]
    pub fn out_path(context: NativeCallContext, name: &str) -> RhaiResult<String> {
        let path = ctx(&context)?.out_dir().join(name);
        crate::script::allowed_path(&context, &path, "output path")?;
        Ok(path.display().to_string())
    }
    /// Whether `path` names an existing file (e.g. a cached checkpoint).
    #[rhai_fn(return_raw)]
    pub fn file_exists(context: NativeCallContext, path: &str) -> RhaiResult<bool> {
        Ok(crate::script::allowed(&context, path, "file")?.is_file())
    }
    /// The run's seed (`--seed`, default 0): the default of every `seed` option.
    #[rhai_fn(return_raw)]
    pub fn seed(context: NativeCallContext) -> RhaiResult<i64> {
        Ok(ctx(&context)?.seed() as i64)
    }
    /// The run's device ("cpu", "cuda:0", ...).
    #[rhai_fn(return_raw)]
    pub fn device(context: NativeCallContext) -> RhaiResult<String> {
        Ok(crate::runtime::device_name(ctx(&context)?.device))
    }
    /// `value` with exactly `decimals` digits after the point, e.g. `fmt(97.4512, 2)` is "97.45".
    #[rhai_fn(name = "fmt", return_raw)]
    pub fn fmt_float(value: f64, decimals: i64) -> RhaiResult<String> {
        if !(0..=17).contains(&decimals) {
            return Err(rt(format!("fmt(): decimals {decimals} outside 0..=17")));
        }
        Ok(format!("{value:.*}", decimals as usize))
    }
    /// `value` (an integer) as text with `decimals` zero digits after the point.
    #[rhai_fn(name = "fmt", return_raw)]
    pub fn fmt_int(value: i64, decimals: i64) -> RhaiResult<String> {
        fmt_float(value as f64, decimals)
    }
    /// This process's memory: #{ rss_mb, peak_rss_mb } (resident now, and the peak so far; Linux).
    pub fn memory() -> Map {
        let mb =
            |b: Option<u64>| b.map(|b| Dynamic::from_float(b as f64 / (1u64 << 20) as f64)).unwrap_or(Dynamic::UNIT);
        let mut m = Map::new();
        m.insert("rss_mb".into(), mb(crate::runtime::rss_bytes()));
        m.insert("peak_rss_mb".into(), mb(crate::runtime::peak_rss_bytes()));
        m
    }
    /// Versions of unlearn, tch and libtorch, and CUDA availability, as a map.
    #[rhai_fn(return_raw)]
    pub fn versions() -> RhaiResult<Dynamic> {
        rhai::serde::to_dynamic(crate::runtime::Versions::current())
    }
    /// Writes `result` (a map) as `<out>/<name>.json` together with the run record (script,
    /// seed, device, options, versions, times), atomically. Returns the path.
    #[rhai_fn(name = "save_result", return_raw)]
    pub fn save_result_named(context: NativeCallContext, name: &str, result: Map) -> RhaiResult<String> {
        crate::script::experiment_work(&context, "save_result()")?;
        let c = ctx(&context)?;
        crate::script::plain_file_name("save_result()", name)?;
        let path = c.out_dir().join(format!("{name}.json"));
        crate::report::save_result(&path, &Dynamic::from_map(result), &c.info).map_err(rt)?;
        Ok(path.display().to_string())
    }
    /// The `result` part of `<out>/<name>.json` written by an earlier save_result(), or () when
    /// there is none (a run resuming what an interrupted one finished). A file that is not such a
    /// record is an error naming it.
    #[rhai_fn(return_raw)]
    pub fn load_result(context: NativeCallContext, name: &str) -> RhaiResult<Dynamic> {
        let c = ctx(&context)?;
        crate::script::plain_file_name("load_result()", name)?;
        let path = c.out_dir().join(format!("{name}.json"));
        if !path.is_file() {
            return Ok(Dynamic::UNIT);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| rt(format!("{}: {e}", path.display())))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| rt(format!("{}: not a result record ({e})", path.display())))?;
        let result =
            value.get("result").ok_or_else(|| rt(format!("{}: not a result record (no `result`)", path.display())))?;
        rhai::serde::to_dynamic(result)
    }
    /// The result an earlier run saved with `save_resumable(name, parts, result)`, when it was made
    /// under the same fingerprint: `parts` (a map of everything the result depends on that the
    /// run does not already know: data digests, model and method options, ...) plus the run's own
    /// parts (the script's SHA-256, `--seed`, every `--set` option, `--device`, `--deterministic`,
    /// the CPU thread count). () when there is none. A record made under another fingerprint
    /// stops the run with an error naming every part that differs, unless the run was given
    /// `--overwrite` (then it is () and the next save replaces it).
    #[rhai_fn(return_raw)]
    pub fn resumed(context: NativeCallContext, name: &str, parts: Map) -> RhaiResult<Dynamic> {
        let c = ctx(&context)?;
        crate::script::plain_file_name("resumed()", name)?;
        let path = c.out_dir().join(format!("{name}.json"));
        let fingerprint = fingerprint_of(&c, "resumed", &parts)?;
        match crate::resume::load::<serde_json::Value>(&path, &fingerprint, c.overwrite).map_err(rt)? {
            Some(v) => rhai::serde::to_dynamic(v),
            None => Ok(Dynamic::UNIT),
        }
    }
    /// Saves `result` as `<out>/<name>.json` with its fingerprint (`parts` plus the run's, as
    /// `resumed()` takes them) and the run record, atomically. Returns the path.
    #[rhai_fn(return_raw)]
    pub fn save_resumable(context: NativeCallContext, name: &str, parts: Map, result: Dynamic) -> RhaiResult<String> {
        crate::script::experiment_work(&context, "save_resumable()")?;
        let c = ctx(&context)?;
        crate::script::plain_file_name("save_resumable()", name)?;
        let path = c.out_dir().join(format!("{name}.json"));
        let fingerprint = fingerprint_of(&c, "save_resumable", &parts)?;
        let run = serde_json::to_value(&c.info).map_err(rt)?;
        crate::resume::save(&path, &fingerprint, &result, &[("run", run), ("written", crate::report::now().into())])
            .map_err(rt)?;
        Ok(path.display().to_string())
    }
    /// Writes `result` (a map) as `<out>/result.json` with the run record. Returns the path.
    #[rhai_fn(name = "save_result", return_raw)]
    pub fn save_result(context: NativeCallContext, result: Map) -> RhaiResult<String> {
        save_result_named(context, "result", result)
    }
}

/// The run's fingerprint with `parts` added (each key a part of its own).
fn fingerprint_of(c: &crate::script::RunContext, func: &str, parts: &Map) -> RhaiResult<crate::resume::Fingerprint> {
    let json = crate::script::options::map_to_json(func, parts).map_err(rt)?;
    let mut f = c.fingerprint();
    if let serde_json::Value::Object(o) = json {
        for (k, v) in o {
            f.insert(k, v);
        }
    }
    Ok(f)
}

super::binding_package!(
    /// The script functions and types of run, options and results.
    RuntimePackage,
    "runtime",
    run_api,
    []
);
