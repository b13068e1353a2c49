//! The `.rhai` standard library (`stdlib/`), embedded in the binary and importable by name
//! (`import "experiments" as ex;`). The user's script folder is searched after it.
use rhai::module_resolvers::{FileModuleResolver, ModuleResolversCollection};
use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Scope, Shared};
use std::path::Path;

/// Embedded modules: (import name, source).
pub const MODULES: &[(&str, &str)] = &[("experiments", include_str!("../../stdlib/experiments.rhai"))];

/// Resolves the embedded stdlib modules.
pub struct StdlibResolver;

impl ModuleResolver for StdlibResolver {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let Some((name, src)) = MODULES.iter().find(|(name, _)| *name == path) else {
            return Err(EvalAltResult::ErrorModuleNotFound(path.into(), pos).into());
        };
        let mut ast = engine
            .compile(*src)
            .map_err(|e| EvalAltResult::ErrorInModule(format!("stdlib/{name}.rhai"), e.into(), pos))?;
        ast.set_source(format!("stdlib/{name}.rhai"));
        let module = Module::eval_ast_as_new(Scope::new(), &ast, engine)
            .map_err(|e| EvalAltResult::ErrorInModule(format!("stdlib/{name}.rhai"), e, pos))?;
        Ok(module.into())
    }
}

/// The stdlib first, then `.rhai` files next to the script (`import "helpers"` finds `helpers.rhai`).
pub fn resolver(script_dir: Option<&Path>) -> ModuleResolversCollection {
    let mut all = ModuleResolversCollection::new();
    all.push(StdlibResolver);
    let files = match script_dir {
        Some(dir) => FileModuleResolver::new_with_path(dir),
        None => FileModuleResolver::new(),
    };
    all.push(files);
    all
}
