//! Static checks of a script, before anything runs (`unlearn check`, and `unlearn run` / `sweep`
//! before they start): mistakes that would otherwise stop a run minutes in are found in the
//! compiled AST alone, every one of them, each at its line and column.
//!
//! - A call to a function that does not exist, or exists only with other numbers of arguments,
//!   with the closest known name. Known: the engine's registered functions (standard packages
//!   included), rhai's keywords (`print`, `Fn`, `call`, ...), the script's own `fn`s, the
//!   functions of an imported module (`ex::single_round`), and for a method call (`x.f()`) also
//!   property getters and the keys of the script's maps (a map's closure is called as `m.f()`).
//! - An import of a module that cannot be found, resolved as the run resolves it (the embedded
//!   stdlib, then `NAME.rhai` next to the script), with the closest module name. Imported
//!   modules are checked too.
//! - An unknown key in an option map written in the call (`train(m, d, #{ epoch: 8 })`), against
//!   the key lists the functions check at run time (a config's fields, the bindings' key lists),
//!   so that check and run agree; `unlearn()` with a literal method name also checks the name
//!   and the method's own options.
//!
//! What only a run can tell is left to it: maps built elsewhere or extended with `+`, a method
//! name that is not a literal, functions reached through `Fn("name")`, nested option maps
//! (`unlearn_rounds(#{ methods: #{ a_cf: #{ ... } } })`), types and values.
use super::{data, metrics, models, plots, request, stdlib, sweep, unlearn};
use crate::config::known_keys;
use rhai::{ASTNode, Engine, Expr, FnAccess, FnCallExpr, OptimizationLevel, Position, Stmt, AST};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Functions the engine evaluates itself; they take any number of arguments here.
const KEYWORDS: [&str; 10] =
    ["print", "debug", "type_of", "eval", "Fn", "call", "curry", "is_shared", "is_def_var", "is_def_fn"];

/// At most this many modules are followed through imports.
const MAX_MODULES: usize = 64;

/// Checks the script `source` (named `name` in messages, in `script_dir`, already compiled by
/// [`super::check`] with `engine`) without running it. `Err` holds every problem, rendered as
/// runtime errors are (file:line:col, the line, a caret).
pub fn lint(engine: &Engine, name: &str, source: &str, script_dir: Option<&Path>) -> Result<(), String> {
    let Some(registry) = Registry::of(engine) else { return Ok(()) };
    // a parse without the optimiser: it would turn a constant option map into one value and
    // drop code it can tell never runs
    let mut parser = Engine::new_raw();
    parser.set_optimization_level(OptimizationLevel::None);
    parser.set_max_expr_depths(engine.max_expr_depth(), engine.max_function_expr_depth());
    let Ok(ast) = parser.compile(source) else { return Ok(()) };
    let base = script_dir.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let mut problems: Vec<Problem> = Vec::new();
    let units = load_units(&parser, Unit::new(name.to_string(), source.to_string(), ast), &base, &mut problems);
    let members: BTreeSet<String> = units.iter().flat_map(|u| u.facts.members.iter().cloned()).collect();
    for (i, unit) in units.iter().enumerate() {
        let checker = Checker { registry: &registry, members: &members, unit, units: &units };
        for (pos, msg) in checker.problems() {
            problems.push(Problem { unit: i, pos, msg });
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    problems.sort_by_key(|p| (p.unit, p.pos.line().unwrap_or(0), p.pos.position().unwrap_or(0)));
    problems.dedup_by(|a, b| a.unit == b.unit && a.pos == b.pos && a.msg == b.msg);
    let mut out = String::new();
    for p in &problems {
        let u = &units[p.unit];
        out.push_str(&super::render_at(&p.msg, &u.name, &u.source, p.pos));
    }
    if problems.len() > 1 {
        out.push_str(&format!("{} problems found\n", problems.len()));
    }
    Err(out)
}

/// One problem: where (a unit of [`load_units`] and a position in it) and what.
struct Problem {
    unit: usize,
    pos: Position,
    msg: String,
}

/// A function's parameters: (name, type).
type Params = Vec<(String, String)>;

/// What the engine has registered (standard packages included), from its function metadata.
struct Registry {
    /// Function name -> the numbers of arguments it is registered with.
    arities: BTreeMap<String, BTreeSet<usize>>,
    /// Properties with a getter (`x.name`).
    getters: BTreeSet<String>,
    /// (name, number of arguments) -> each overload's parameters as (name, type).
    params: BTreeMap<(String, usize), Vec<Params>>,
}

impl Registry {
    fn of(engine: &Engine) -> Option<Registry> {
        let json = engine.gen_fn_metadata_to_json(true).ok()?;
        let v: serde_json::Value = serde_json::from_str(&json).ok()?;
        let mut r = Registry { arities: BTreeMap::new(), getters: BTreeSet::new(), params: BTreeMap::new() };
        for f in v["functions"].as_array()? {
            let Some(name) = f["name"].as_str() else { continue };
            let n = f["numParams"].as_u64().unwrap_or(0) as usize;
            if let Some(prop) = name.strip_prefix("get$") {
                r.getters.insert(prop.to_string());
                continue;
            }
            r.arities.entry(name.to_string()).or_default().insert(n);
            let params = f["params"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| (p["name"].as_str().unwrap_or("").to_string(), p["type"].as_str().unwrap_or("").to_string()))
                .collect();
            r.params.entry((name.to_string(), n)).or_default().push(params);
        }
        Some(r)
    }
}

/// An `import` statement.
#[derive(Clone)]
struct Import {
    /// The module path when it is a literal.
    path: Option<String>,
    alias: Option<String>,
    pos: Position,
}

/// What a script or module defines and names.
#[derive(Default)]
struct Facts {
    /// Its functions (closures left out): name -> numbers of parameters.
    functions: BTreeMap<String, BTreeSet<usize>>,
    /// The functions an importer may call (`private` ones left out).
    exported: BTreeMap<String, BTreeSet<usize>>,
    /// Variables, constants, loop variables and parameters.
    variables: BTreeSet<String>,
    /// Map keys and properties written in it.
    members: BTreeSet<String>,
    imports: Vec<Import>,
}

impl Facts {
    fn of(ast: &AST) -> Facts {
        let mut f = Facts::default();
        for def in ast.iter_functions() {
            f.variables.extend(def.params.iter().map(|p| p.to_string()));
            if def.name.starts_with("anon$") {
                continue; // a closure
            }
            f.functions.entry(def.name.to_string()).or_default().insert(def.params.len());
            if !matches!(def.access, FnAccess::Private) {
                f.exported.entry(def.name.to_string()).or_default().insert(def.params.len());
            }
        }
        ast.walk(&mut |path: &[ASTNode]| {
            match path.last() {
                Some(ASTNode::Expr(Expr::Variable(v, ..))) => {
                    f.variables.insert(v.1.to_string());
                }
                Some(ASTNode::Stmt(Stmt::Var(v, ..))) => {
                    f.variables.insert(v.0.name.to_string());
                }
                Some(ASTNode::Stmt(Stmt::For(x, ..))) => {
                    f.variables.insert(x.0.name.to_string());
                    f.variables.extend(x.1.as_ref().map(|i| i.name.to_string()));
                }
                Some(ASTNode::Expr(Expr::Map(m, _))) => {
                    f.members.extend(m.0.iter().map(|(k, _)| k.name.to_string()));
                }
                Some(ASTNode::Expr(Expr::Property(p, _))) => {
                    f.members.insert(p.2.to_string());
                }
                Some(ASTNode::Stmt(Stmt::Import(x, pos))) => {
                    let path = match &x.0 {
                        Expr::StringConstant(s, _) => Some(s.to_string()),
                        _ => None,
                    };
                    let alias = Some(x.1.name.to_string()).filter(|a| !a.is_empty());
                    let pos = if x.0.position().is_none() { *pos } else { x.0.position() };
                    f.imports.push(Import { path, alias, pos });
                }
                _ => {}
            }
            true
        });
        f
    }
}

/// The main script or an imported module.
struct Unit {
    /// As messages name it: the script's name, `stdlib/NAME.rhai`, or the module file's path.
    name: String,
    source: String,
    ast: AST,
    facts: Facts,
    /// Import alias -> the module's import path and unit, or `None` when it is not known (not a
    /// literal, not found, does not compile).
    aliases: BTreeMap<String, Option<(String, usize)>>,
}

impl Unit {
    fn new(name: String, source: String, ast: AST) -> Unit {
        let facts = Facts::of(&ast);
        Unit { name, source, ast, facts, aliases: BTreeMap::new() }
    }
}

/// Where an import path leads.
enum Resolved {
    /// A module: its name for messages and its source.
    Module(String, String),
    /// Nothing by that name.
    Missing(PathBuf),
    /// A file that cannot be read here (the run will say why).
    Unreadable,
}

/// Resolves `path` as the run's resolver does ([`stdlib::resolver`]): the embedded stdlib, then
/// `path` with the extension `.rhai` under `base` (rhai's file resolver sets the extension).
fn resolve(path: &str, base: &Path) -> Resolved {
    if let Some((n, src)) = stdlib::MODULES.iter().find(|(n, _)| *n == path) {
        return Resolved::Module(format!("stdlib/{n}.rhai"), src.to_string());
    }
    let mut file = base.join(path);
    file.set_extension("rhai");
    if !file.exists() {
        return Resolved::Missing(file);
    }
    match std::fs::read_to_string(&file) {
        Ok(src) => Resolved::Module(file.display().to_string(), src),
        Err(_) => Resolved::Unreadable,
    }
}

/// The modules a missing import could have meant: the stdlib's and the `.rhai` files of the
/// folder it was looked for in.
fn module_names(path: &str, base: &Path) -> Vec<String> {
    let mut names: Vec<String> = stdlib::MODULES.iter().map(|(n, _)| n.to_string()).collect();
    let (dir, prefix) = match path.rfind('/') {
        Some(i) => (base.join(&path[..i]), path[..=i].to_string()),
        None => (base.to_path_buf(), String::new()),
    };
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "rhai") {
                if let Some(stem) = p.file_stem().and_then(|s| s.to_str()) {
                    names.push(format!("{prefix}{stem}"));
                }
            }
        }
    }
    names.sort();
    names
}

/// `main` and every module it imports (transitively, each once), with the problems of imports
/// that lead nowhere.
fn load_units(parser: &Engine, main: Unit, base: &Path, problems: &mut Vec<Problem>) -> Vec<Unit> {
    let mut units = vec![main];
    let mut by_name: BTreeMap<String, Option<usize>> = BTreeMap::new();
    let mut i = 0;
    while i < units.len() {
        for import in units[i].facts.imports.clone() {
            let Some(path) = import.path else { continue };
            let target = match resolve(&path, base) {
                Resolved::Module(name, source) => match by_name.get(&name) {
                    Some(known) => *known,
                    None => {
                        let unit = (units.len() < MAX_MODULES)
                            .then(|| parser.compile(&source).ok())
                            .flatten()
                            .map(|ast| Unit::new(name.clone(), source, ast));
                        let index = unit.map(|u| {
                            units.push(u);
                            units.len() - 1
                        });
                        by_name.insert(name, index);
                        index
                    }
                },
                Resolved::Missing(file) => {
                    let hint = did_you_mean(&path, module_names(&path, base).iter().map(String::as_str));
                    problems.push(Problem {
                        unit: i,
                        pos: import.pos,
                        msg: format!(
                            "module `{path}` not found: not in the stdlib, and no file {}{hint}",
                            file.display()
                        ),
                    });
                    None
                }
                Resolved::Unreadable => None,
            };
            if let Some(alias) = import.alias {
                units[i].aliases.insert(alias, target.map(|t| (path.clone(), t)));
            }
        }
        i += 1;
    }
    units
}

/// " — did you mean `x`?" for the closest candidate, or "".
fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    crate::config::closest(name, candidates).map(|c| format!(" — did you mean `{c}`?")).unwrap_or_default()
}

/// Whether `name` is a function name a script can write (not an operator such as `+`).
fn is_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_alphabetic() || c == '_') && name.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// "2", "2 or 3", "1, 2 or 3".
fn counts(n: &BTreeSet<usize>) -> String {
    let v: Vec<String> = n.iter().map(|x| x.to_string()).collect();
    match v.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => "no".into(),
    }
}

/// "argument" or "arguments" after [`counts`].
fn arguments(n: &BTreeSet<usize>) -> &'static str {
    if n.len() == 1 && n.contains(&1) {
        "argument"
    } else {
        "arguments"
    }
}

/// The keys an option map takes.
enum Keys {
    /// Known: the function named in messages (as the run names it) and the keys.
    Known(String, Vec<String>),
    /// Not known before the run.
    Unchecked,
}

/// The keys the map parameter `param` of the script function `func` takes, as the function
/// checks them at run time; `args` are the call's arguments (the object first for a method
/// call; `unlearn()` takes its method's options).
fn option_keys(func: &str, param: &str, args: &[Option<&Expr>]) -> Keys {
    use crate::condense::CondenseConfig;
    use crate::metrics::lira::LiraConfig;
    use crate::train::TrainConfig;
    let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let keys = match (func, param) {
        ("train", "options") => [known_keys::<TrainConfig>(), list(&[models::KEEP_BEST])].concat(),
        ("condense", "options") => CondenseConfig::known_keys(),
        ("unlearn", "options") => {
            let Some(Some(Expr::StringConstant(name, _))) = args.get(1) else { return Keys::Unchecked };
            let Ok(m) = crate::unlearn::method(name) else { return Keys::Unchecked };
            let mut keys = [list(&unlearn::INPUT_KEYS), list(&crate::unlearn::profiles::KEYS)].concat();
            keys.extend(m.defaults().as_object().into_iter().flat_map(|o| o.keys().cloned()));
            // the run names the method in the message
            return Keys::Known(name.to_string(), unique(keys));
        }
        ("unlearn_rounds", "options") => list(&unlearn::ROUNDS_KEYS),
        ("method_work", "sizes") => list(&unlearn::WORK_SIZES_KEYS),
        ("evaluate", "options") => list(&metrics::EVALUATE_KEYS),
        ("mia", "options") => list(&metrics::MIA_KEYS),
        ("summarize", "options") => list(&metrics::SUMMARIZE_KEYS),
        ("shadow_models", "options") => [known_keys::<LiraConfig>(), list(&[metrics::SHADOW_UNSEEN])].concat(),
        ("forget_uniform", "options") => known_keys::<request::UniformOptions>(),
        ("forget_rounds", "options") => known_keys::<request::RoundsOptions>(),
        ("model" | "convnet3" | "resnet18" | "resnet50", "options") => known_keys::<crate::models::ModelOptions>(),
        ("load_model", "options") => known_keys::<crate::models::ModelFileOptions>(),
        ("time_steps", "options") => list(&models::TIME_STEPS_KEYS),
        ("reference_split", "options") => known_keys::<crate::data::ReferenceSplitOptions>(),
        ("split", "options") => known_keys::<data::SplitOptions>(),
        ("builtin" | "mnist" | "fashion_mnist" | "cifar10", "options") => known_keys::<crate::data::LoadOptions>(),
        ("cifar100", "options") => known_keys::<data::Cifar100Options>(),
        ("svhn", "options") => known_keys::<data::SvhnScriptOptions>(),
        ("image_folder", "options") => known_keys::<data::FolderScriptOptions>(),
        ("synthetic", "options") => known_keys::<data::SyntheticScriptOptions>(),
        ("plot_blend", "options") => list(&plots::PLOT_BLEND_KEYS),
        ("plot_curves", "options") => known_keys::<crate::metrics::curve::Tolerances>(),
        ("oracle_bank", "options") => known_keys::<crate::metrics::oracle::OracleConfig>(),
        ("memorization", "options") => known_keys::<crate::metrics::memorization::MemorizationConfig>(),
        ("forget_memorization", "options") => list(&super::evaluation::MEMORIZATION_REQUEST_KEYS),
        ("relearn", "options") => known_keys::<crate::metrics::relearn::RelearnConfig>(),
        ("sweep" | "sweep_plan", "def") => list(&sweep::KEYS),
        _ => return Keys::Unchecked,
    };
    Keys::Known(func.to_string(), keys)
}

/// `keys` without repeats, in their order.
fn unique(keys: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    keys.into_iter().filter(|k| seen.insert(k.clone())).collect()
}

/// The keys and their positions of a map written in the call, or `None` for any other argument.
fn literal_map_keys(e: &Expr) -> Option<Vec<(String, Position)>> {
    match e {
        Expr::Map(x, _) => Some(x.0.iter().map(|(k, _)| (k.name.to_string(), k.pos)).collect()),
        Expr::DynamicConstant(d, pos) => {
            d.read_lock::<rhai::Map>().map(|m| m.keys().map(|k| (k.to_string(), *pos)).collect())
        }
        _ => None,
    }
}

/// Functions that take an unlearning method's name, and its argument's index.
const METHOD_NAME_PARAMS: [(&str, usize); 2] = [("unlearn", 1), ("method_work", 0)];

/// Checks the calls of one unit.
struct Checker<'a> {
    registry: &'a Registry,
    /// Map keys and properties of every unit (a method call may be a map's closure).
    members: &'a BTreeSet<String>,
    unit: &'a Unit,
    units: &'a [Unit],
}

impl Checker<'_> {
    fn problems(&self) -> Vec<(Position, String)> {
        let mut out = Vec::new();
        self.unit.ast.walk(&mut |path: &[ASTNode]| {
            match path.last() {
                Some(ASTNode::Expr(Expr::FnCall(f, pos))) | Some(ASTNode::Stmt(Stmt::FnCall(f, pos))) => {
                    self.call(f, *pos, false, &mut out)
                }
                Some(ASTNode::Expr(Expr::MethodCall(f, pos))) => self.call(f, *pos, true, &mut out),
                _ => {}
            }
            true
        });
        out
    }

    /// Candidate names for an unknown function.
    fn function_names(&self) -> impl Iterator<Item = &str> {
        let registered = self.registry.arities.keys().map(String::as_str).filter(|n| is_name(n));
        registered.chain(self.unit.facts.functions.keys().map(String::as_str)).chain(KEYWORDS)
    }

    fn call(&self, f: &FnCallExpr, pos: Position, method: bool, out: &mut Vec<(Position, String)>) {
        let name = f.name.as_str();
        if f.is_operator_call() || !is_name(name) || KEYWORDS.contains(&name) {
            return;
        }
        if !f.namespace.is_empty() {
            return self.qualified(f, pos, out);
        }
        let given = f.args.len();
        let registered = self.registry.arities.get(name);
        let script = self.unit.facts.functions.get(name);
        if method {
            // a map's closure (`m.f()`) or a property: any number of arguments
            let member = self.members.contains(name) || self.registry.getters.contains(name);
            if registered.is_none() && script.is_none() {
                if !member {
                    let hint = did_you_mean(name, self.function_names());
                    out.push((pos, format!("unknown method `.{name}()`: no function `{name}`{hint}")));
                }
                return;
            }
            // a method call passes the object first; a script function gets it as `this`
            let mut allowed: BTreeSet<usize> = registered.into_iter().flatten().copied().collect();
            allowed.extend(script.into_iter().flatten().map(|n| n + 1));
            if !member && !allowed.contains(&(given + 1)) {
                let after: BTreeSet<usize> = allowed.iter().filter(|&&n| n > 0).map(|n| n - 1).collect();
                let msg = if after.is_empty() {
                    format!("`{name}` takes no object: call it as `{name}(...)`, not `x.{name}(...)`")
                } else {
                    format!("`.{name}()` takes {} {} after the object, here {given}", counts(&after), arguments(&after))
                };
                out.push((pos, msg));
                return;
            }
            if script.is_some_and(|s| s.contains(&given)) {
                return; // the script's own function is called, not the registered one
            }
        } else {
            let Some(allowed) = (match (registered, script) {
                (None, None) => None,
                (r, s) => Some(r.into_iter().chain(s).flatten().copied().collect::<BTreeSet<usize>>()),
            }) else {
                let hint = did_you_mean(name, self.function_names());
                let var = if self.unit.facts.variables.contains(name) {
                    format!(" (`{name}` is a variable: call the function it holds with `{name}.call(...)`)")
                } else {
                    String::new()
                };
                out.push((pos, format!("unknown function `{name}`{hint}{var}")));
                return;
            };
            if !allowed.contains(&given) {
                out.push((pos, format!("`{name}` takes {} {}, here {given}", counts(&allowed), arguments(&allowed))));
                return;
            }
            if script.is_some_and(|s| s.contains(&given)) {
                return; // the script's own function
            }
        }
        let args: Vec<Option<&Expr>> = if method {
            std::iter::once(None).chain(f.args.iter().map(Some)).collect()
        } else {
            f.args.iter().map(Some).collect()
        };
        self.arguments(name, &args, out);
    }

    /// Checks the literal arguments of a call to the registered function `name`: option maps
    /// and unlearning method names.
    fn arguments(&self, name: &str, args: &[Option<&Expr>], out: &mut Vec<(Position, String)>) {
        for (func, index) in METHOD_NAME_PARAMS {
            if func != name {
                continue;
            }
            if let Some(Some(Expr::StringConstant(m, pos))) = args.get(index) {
                if crate::unlearn::method(m).is_err() {
                    let names: Vec<&str> = crate::unlearn::registry().iter().map(|m| m.name()).collect();
                    let hint = did_you_mean(m, names.iter().copied());
                    out.push((*pos, format!("unknown unlearning method `{m}`{hint} (one of {names:?})")));
                }
            }
        }
        let Some(overloads) = self.registry.params.get(&(name.to_string(), args.len())) else { return };
        let mut seen = BTreeSet::new();
        for params in overloads {
            for (i, (param, ty)) in params.iter().enumerate() {
                if ty != "Map" || !seen.insert(i) {
                    continue;
                }
                let Some(keys) = args.get(i).copied().flatten().and_then(literal_map_keys) else { continue };
                let Keys::Known(func, known) = option_keys(name, param, args) else { continue };
                for (key, pos) in keys {
                    if !known.contains(&key) {
                        out.push((pos, crate::config::unknown(&func, &key, &known).to_string()));
                    }
                }
            }
        }
    }

    /// A call `alias::name(...)` of an imported module's function.
    fn qualified(&self, f: &FnCallExpr, pos: Position, out: &mut Vec<(Position, String)>) {
        let ns = &f.namespace;
        if ns.path.len() != 1 {
            return;
        }
        let (alias, name) = (ns.root(), f.name.as_str());
        match self.unit.aliases.get(alias) {
            None if alias != "global" => {
                let hint = did_you_mean(alias, self.unit.aliases.keys().map(String::as_str));
                out.push((ns.position(), format!("`{alias}::{name}`: no module is imported as `{alias}`{hint}")));
            }
            Some(Some((module, index))) => {
                let exported = &self.units[*index].facts.exported;
                match exported.get(name) {
                    None => {
                        let hint = did_you_mean(name, exported.keys().map(String::as_str));
                        out.push((
                            pos,
                            format!("unknown function `{alias}::{name}`: module `{module}` defines no `{name}`{hint}"),
                        ));
                    }
                    Some(n) if !n.contains(&f.args.len()) => {
                        out.push((
                            pos,
                            format!("`{alias}::{name}` takes {} {}, here {}", counts(n), arguments(n), f.args.len()),
                        ));
                    }
                    Some(_) => {}
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Map parameters that take any keys: results and record parts are the script's own, and
    /// `method_work()`'s options are resolved as a cost estimate (unknown keys do not stop it).
    const FREE_MAPS: [(&str, &str); 5] = [
        ("save_result", "result"),
        ("resumed", "parts"),
        ("save_resumable", "parts"),
        ("method_work", "options"),
        // a memorization() result, read for its `scores` and `models`
        ("forget_memorization", "memorization"),
    ];

    fn engine() -> Engine {
        super::super::offline_engine(None)
    }

    /// Every map parameter of this crate's functions has its key list here, or takes any keys.
    #[test]
    fn every_option_map_has_its_keys() {
        let json = engine().gen_fn_metadata_to_json(false).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let method = Expr::StringConstant("a_cf".into(), Position::NONE);
        let mut missing = Vec::new();
        for f in v["functions"].as_array().unwrap() {
            let name = f["name"].as_str().unwrap();
            for p in f["params"].as_array().into_iter().flatten() {
                let (param, ty) = (p["name"].as_str().unwrap_or("_"), p["type"].as_str().unwrap_or("?")); // TypeBuilder getters name no parameters
                if ty != "Map" || FREE_MAPS.contains(&(name, param)) {
                    continue;
                }
                if let Keys::Unchecked = option_keys(name, param, &[None, Some(&method)]) {
                    missing.push(format!("{name}({param})"));
                }
            }
        }
        assert!(missing.is_empty(), "map parameters without a key list: {missing:?}");
    }

    #[test]
    fn the_standard_functions_and_keywords_are_known() {
        let r = Registry::of(&engine()).unwrap();
        for name in [
            "print",
            "debug",
            "len",
            "push",
            "keys",
            "contains",
            "to_string",
            "parse_int",
            "sub_string",
            "index_of",
            "split",
            "map",
            "filter",
            "reduce",
            "max",
            "min",
            "round",
            "floor",
            "ceiling",
            "to_int",
            "to_float",
        ] {
            assert!(r.arities.contains_key(name), "{name}");
        }
        let lint = |src: &str| lint(&engine(), "t.rhai", src, None);
        lint(
            "print(type_of(1)); debug(1); let f = Fn(\"g\"); fn g() { 1 }\nf.call(); is_def_var(\"x\"); f.curry(1);\n",
        )
        .unwrap();
    }

    #[test]
    fn shipped_scripts_and_the_stdlib_pass() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for dir in ["scripts", "stdlib"] {
            for e in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "rhai") {
                    let src = std::fs::read_to_string(&p).unwrap();
                    let engine = super::super::offline_engine(p.parent());
                    lint(&engine, &p.display().to_string(), &src, p.parent()).unwrap();
                }
            }
        }
    }
}
