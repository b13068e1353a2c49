//! `unlearn check`: compile a script and check it without running it (syntax, unknown functions,
//! missing modules, unknown option keys), with the engine of a run that has no device or data.
use super::{rendered, script_dir};
use std::path::PathBuf;
use unlearn::script;

/// `unlearn check SCRIPT`.
#[derive(clap::Args)]
pub struct CheckCmd {
    script: PathBuf,
}

impl CheckCmd {
    pub fn run(self) -> anyhow::Result<()> {
        let source = script::read_script(&self.script).map_err(rendered)?;
        let engine = script::offline_engine(script_dir(&self.script));
        let name = self.script.display().to_string();
        script::check(&engine, &name, &source).map_err(rendered)?;
        script::lint::lint(&engine, &name, &source, script_dir(&self.script)).map_err(rendered)?;
        unlearn::outln!("{}: ok", self.script.display());
        Ok(())
    }
}
