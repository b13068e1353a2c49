//! The catalogue of what scripts can call, for `unlearn functions`: every function of the typed
//! API's script skin grouped by domain, with script-level signatures (types as scripts name
//! them) and the first paragraph of its doc comment; the embedded stdlib's functions (`ex::...`);
//! every unlearning method with its options and defaults; and rhai definition files for editors.
use rhai::Engine;
use serde::Serialize;
use std::path::Path;

/// One callable entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// The group it is listed under ("data", "unlearning", "stdlib experiments", ...).
    pub domain: String,
    pub name: String,
    /// In script terms: `train(model: Model, data: Dataset, options: map) -> Model`.
    pub signature: String,
    /// The first paragraph of its doc comment.
    pub doc: String,
}

/// A domain's registration of its script functions.
type Register = fn(&mut Engine);

/// The domains, in the order they are listed, each with the function that registers it.
fn domains() -> Vec<(&'static str, Register)> {
    vec![
        ("run, options and results", super::runtime::register),
        ("data", super::data::register),
        ("forget requests", super::request::register),
        ("models and training", super::models::register),
        ("condensation", super::condense::register),
        ("unlearning", super::unlearn::register),
        ("evaluation and tables", super::metrics::register),
        ("forgetting score, memorisation and audits", super::evaluation::register),
        ("plots", super::plots::register),
        ("sweeps", super::sweep::register),
    ]
}

/// The binding's handle types and the names scripts know them by.
const HANDLES: [(&str, &str); 4] = [
    ("ModelHandle", "Model"),
    ("UnlearnedHandle", "Unlearned"),
    ("ShadowBankHandle", "ShadowBank"),
    ("OracleBankHandle", "OracleBank"),
];

/// A Rust type name as script users know it.
pub fn script_type(t: &str) -> String {
    let t = t.trim().trim_start_matches("&mut ").trim_start_matches('&');
    let t = t.strip_prefix("RhaiResult<").and_then(|r| r.strip_suffix('>')).unwrap_or(t);
    // a fallible function registered through a TypeBuilder: Result<T, Box<EvalAltResult>>
    let t = match t.split_once("Result<").and_then(|(_, r)| r.split_once(',')) {
        Some((ok, err)) if err.contains("EvalAltResult") => ok.trim(),
        _ => t,
    };
    let t = t.strip_prefix("Rc<").and_then(|r| r.strip_suffix('>')).unwrap_or(t);
    if t.contains("Range<") {
        return "range".into();
    }
    let t = t.rsplit("::").next().unwrap_or(t);
    match t {
        "str" | "String" | "ImmutableString" => "string".into(),
        "i64" | "INT" => "int".into(),
        "f64" | "FLOAT" => "float".into(),
        "bool" => "bool".into(),
        "Array" => "array".into(),
        "Map" => "map".into(),
        "Dynamic" => "any".into(),
        other => HANDLES.iter().find(|(rust, _)| *rust == other).map_or(other, |(_, script)| script).to_string(),
    }
}

/// `text` with `RhaiResult<T>` unwrapped and the Rust names of script types replaced.
fn script_names(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("RhaiResult<") {
        out.push_str(&rest[..at]);
        let inner = &rest[at + "RhaiResult<".len()..];
        let mut depth = 1;
        let mut end = inner.len();
        for (i, ch) in inner.char_indices() {
            match ch {
                '<' => depth += 1,
                '>' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push_str(inner[..end].trim());
        rest = inner.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    let mut out = out.replace("std::ops::Range<i64>", "range").replace("RhaiResult", "?");
    for (rust, script) in HANDLES {
        out = out.replace(rust, script);
    }
    out
}

/// The first paragraph of a doc comment, on one line.
fn first_paragraph(doc: &str) -> String {
    doc.lines()
        .map(|l| l.trim().trim_start_matches("///").trim_start_matches("/**").trim_end_matches("*/").trim())
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The functions `engine`'s global modules register (not rhai's own packages), as entries of
/// `domain`. An overload without a doc comment takes its name's documented one; names with no
/// documentation at all (to_string and other plumbing) are left out.
fn entries_of(engine: &Engine, domain: &str) -> Vec<Entry> {
    let json = engine.gen_fn_metadata_to_json(false).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    let mut raw: Vec<(String, String, Option<String>)> = Vec::new();
    for f in v["functions"].as_array().into_iter().flatten() {
        let name = f["name"].as_str().unwrap_or("").to_string();
        let params: Vec<(String, String)> = f["params"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| (p["name"].as_str().unwrap_or("_").to_string(), script_type(p["type"].as_str().unwrap_or("?"))))
            .collect();
        let ret = script_type(f["returnType"].as_str().unwrap_or("()"));
        let signature = if let Some(prop) = name.strip_prefix("get$") {
            let owner = params.first().map(|p| p.1.clone()).unwrap_or_default();
            format!("{owner}.{prop} -> {ret}")
        } else {
            let args = params.iter().map(|(n, t)| format!("{n}: {t}")).collect::<Vec<_>>().join(", ");
            format!("{name}({args}) -> {ret}")
        };
        let doc = f["docComments"]
            .as_array()
            .map(|d| first_paragraph(&d.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join("\n")));
        raw.push((name, signature, doc));
    }
    let doc_of = |name: &str| raw.iter().find(|(n, _, d)| n == name && d.is_some()).and_then(|(_, _, d)| d.clone());
    let mut out: Vec<Entry> = raw
        .iter()
        .filter_map(|(name, signature, doc)| {
            let doc = doc.clone().or_else(|| doc_of(name))?;
            let shown = name.strip_prefix("get$").unwrap_or(name).to_string();
            Some(Entry { domain: domain.into(), name: shown, signature: signature.clone(), doc })
        })
        .collect();
    out.sort_by(|a, b| (&a.name, &a.signature).cmp(&(&b.name, &b.signature)));
    out.dedup();
    out
}

/// The functions of the embedded stdlib modules (`import "experiments" as ex;` -> `ex::name`).
fn stdlib_entries(engine: &Engine) -> Vec<Entry> {
    let mut out = Vec::new();
    for (module, src) in super::stdlib::MODULES {
        let Ok(ast) = engine.compile(*src) else { continue };
        let alias = if *module == "experiments" { "ex" } else { module };
        for f in ast.iter_functions() {
            if f.access == rhai::FnAccess::Private {
                continue;
            }
            let doc = first_paragraph(&f.comments.join("\n"));
            out.push(Entry {
                domain: format!("stdlib {module} (import \"{module}\" as {alias};)"),
                name: f.name.to_string(),
                signature: format!("{alias}::{}({})", f.name, f.params.join(", ")),
                doc,
            });
        }
    }
    out
}

/// Every entry: each domain's functions, then the stdlib's.
pub fn catalogue() -> Vec<Entry> {
    let mut out = Vec::new();
    for (domain, register) in domains() {
        let mut e = Engine::new_raw();
        register(&mut e);
        out.extend(entries_of(&e, domain));
    }
    out.extend(stdlib_entries(&Engine::new()));
    out
}

/// Whether `entry` matches the filter word (in its name, signature, domain or doc; any case).
fn matches(entry: &Entry, word: &str) -> bool {
    let w = word.to_lowercase();
    [&entry.name, &entry.signature, &entry.domain, &entry.doc].iter().any(|s| s.to_lowercase().contains(&w))
}

/// The unlearning methods as text: name, what it does, options with defaults, profile values.
fn methods_text(filter: Option<&str>) -> String {
    let mut out = String::new();
    for m in crate::unlearn::method_infos() {
        let text = format!("{} {} {}", m.name, m.description, m.defaults);
        if filter.is_some_and(|w| !text.to_lowercase().contains(&w.to_lowercase())) {
            continue;
        }
        out.push_str(&format!("{:<14}{}\n    options: {}\n", m.name, m.description, m.defaults));
        for (p, v) in &m.profiles {
            out.push_str(&format!("    profile {p}: {v}\n"));
        }
    }
    out
}

/// The listing of `unlearn functions [WORD]`: grouped by domain, only what matches `filter`.
pub fn listing(filter: Option<&str>) -> String {
    let mut out = String::new();
    let mut domain = String::new();
    for e in catalogue().into_iter().filter(|e| filter.is_none_or(|w| matches(e, w))) {
        if e.domain != domain {
            out.push_str(&format!("\n== {} ==\n", e.domain));
            domain = e.domain.clone();
        }
        out.push_str(&format!("{}\n    {}\n", e.signature, e.doc));
    }
    let methods = methods_text(filter);
    if !methods.is_empty() {
        out.push_str(
            "\n== unlearning methods, for unlearn(model, NAME, #{ request, retain, unseen, profile, ... }) ==\n",
        );
        out.push_str(&methods);
    }
    let profiles: Vec<String> = crate::unlearn::profiles::profiles().iter().map(|p| p.name.clone()).collect();
    let condensers: String = crate::condense::registry()
        .iter()
        .map(|c| format!("  {}: {}\n      options (defaults): {}\n", c.name(), c.description(), c.defaults()))
        .collect();
    if filter.is_none_or(|w| "profiles condense condensation".contains(&w.to_lowercase())) {
        out.push_str(&format!(
            "\n== hyper-parameter profiles (option `profile`, default {}; a reduced retain set takes the -cond variant unless `cond: false`) ==\n{profiles:?}\n",
            crate::unlearn::profiles::DEFAULT
        ));
        out.push_str(&format!(
            "\n== condensation methods, for condense(train, request, #{{ method: NAME, ... }}) ==\n{condensers}"
        ));
    }
    if out.trim().is_empty() {
        return format!("no script function, method or profile matches `{}`\n", filter.unwrap_or(""));
    }
    out.trim_start().to_string()
}

/// The catalogue as JSON: #{ functions: [entries], methods: [name, description, defaults,
/// profiles], profiles: [names], condensers: [name, description, defaults] }, filtered like
/// [`listing`].
pub fn catalogue_json(filter: Option<&str>) -> serde_json::Value {
    let functions: Vec<Entry> = catalogue().into_iter().filter(|e| filter.is_none_or(|w| matches(e, w))).collect();
    let methods: Vec<crate::unlearn::MethodInfo> = crate::unlearn::method_infos()
        .into_iter()
        .filter(|m| {
            filter.is_none_or(|w| {
                format!("{} {} {}", m.name, m.description, m.defaults).to_lowercase().contains(&w.to_lowercase())
            })
        })
        .collect();
    serde_json::json!({
        "functions": functions,
        "methods": methods,
        "profiles": crate::unlearn::profiles::profiles().iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
        "condensers": crate::condense::registry()
            .iter()
            .map(|c| serde_json::json!({ "name": c.name(), "description": c.description(), "defaults": c.defaults() }))
            .collect::<Vec<_>>(),
    })
}

/// Writes rhai definition files (`.d.rhai`) for `engine` into `dir`, for the rhai language
/// server and editor extensions: every registered function and type, with the embedded stdlib
/// modules as `stdlib_NAME.d.rhai` stubs. Returns the files written.
pub fn write_definitions(engine: &Engine, dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    engine.definitions().include_standard_packages(true).write_to_dir(dir)?;
    // rhai writes the Rust names of our types: give them their script names
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.to_string_lossy().ends_with(".d.rhai") {
            let text = std::fs::read_to_string(&path)?;
            let fixed = script_names(&text);
            if fixed != text {
                crate::io::write_atomic(&path, fixed.as_bytes()).map_err(|e| std::io::Error::other(e.to_string()))?;
            }
        }
    }
    for (module, src) in super::stdlib::MODULES {
        let Ok(ast) = engine.compile(*src) else { continue };
        let mut text = format!("module {module};\n\n");
        for f in ast.iter_functions().filter(|f| f.access != rhai::FnAccess::Private) {
            for c in f.comments {
                text.push_str(c);
                text.push('\n');
            }
            let params: Vec<String> = f.params.iter().map(|p| format!("{p}: ?")).collect();
            text.push_str(&format!("fn {}({}) -> ?;\n\n", f.name, params.join(", ")));
        }
        crate::io::write_atomic(dir.join(format!("{module}.d.rhai")), text.as_bytes())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
    }
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".d.rhai"))
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_use_script_names() {
        assert_eq!(
            script_names(
                "fn f(m: ModelHandle) -> RhaiResult<ShadowBankHandle>;\nfn g() -> RhaiResult<UnlearnedHandle>;"
            ),
            "fn f(m: Model) -> ShadowBank;\nfn g() -> Unlearned;"
        );
    }

    #[test]
    fn script_types_hide_rust_names() {
        assert_eq!(script_type("ShadowBankHandle"), "ShadowBank");
        assert_eq!(script_type("std::ops::Range<i64>"), "range");
        assert_eq!(script_type("RhaiResult<ModelHandle>"), "Model");
        assert_eq!(script_type("&mut crate::data::Dataset"), "Dataset");
        assert_eq!(script_type("ImmutableString"), "string");
        assert_eq!(script_type("Result<rhai::types::dynamic::Dynamic, Box<rhai::types::error::EvalAltResult>>"), "any");
    }
}
