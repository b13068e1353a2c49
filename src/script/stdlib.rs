//! The `.rhai` standard library (`stdlib/`), embedded in the binary and importable by name
//! (`import "experiments" as ex;`). The user's script folder is searched after it.
use super::policy::PathPolicy;
use rhai::module_resolvers::{FileModuleResolver, ModuleResolversCollection};
use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Scope, Shared};
use std::path::{Path, PathBuf};

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

/// `.rhai` files, only where the run's path policy allows (an import is a read like any other).
struct ConfinedFiles {
    files: FileModuleResolver,
    base: PathBuf,
    paths: PathPolicy,
}

impl ModuleResolver for ConfinedFiles {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let file = self.base.join(format!("{path}.rhai"));
        self.paths.check(&file, "imported module").map_err(|e| {
            // a resolver in a collection may only fail with these two kinds (rhai)
            let inner = EvalAltResult::ErrorRuntime(e.into(), pos);
            Box::new(EvalAltResult::ErrorInModule(path.to_string(), inner.into(), pos))
        })?;
        self.files.resolve(engine, source, path, pos)
    }
}

/// The stdlib first, then `.rhai` files next to the script (`import "helpers"` finds `helpers.rhai`),
/// within `paths`.
pub fn resolver(script_dir: Option<&Path>, paths: &PathPolicy) -> ModuleResolversCollection {
    let mut all = ModuleResolversCollection::new();
    all.push(StdlibResolver);
    let base = script_dir.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    all.push(ConfinedFiles { files: FileModuleResolver::new_with_path(&base), base, paths: paths.clone() });
    all
}
