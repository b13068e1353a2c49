//! `unlearn functions`: the script API's catalogue as text or JSON, or rhai definition files for
//! editors.
use anyhow::Context;
use std::path::PathBuf;
use unlearn::script;

/// `unlearn functions [WORD]`.
#[derive(clap::Args)]
pub struct FunctionsCmd {
    /// Only what mentions WORD (in its name, signature, group or description), e.g. `train`.
    word: Option<String>,
    /// The same catalogue as JSON.
    #[arg(long)]
    json: bool,
    /// Write rhai definition files (.d.rhai) into DIR for the rhai language server and editor
    /// extensions (completion and checks while writing scripts).
    #[arg(long, value_name = "DIR")]
    definitions: Option<PathBuf>,
}

impl FunctionsCmd {
    pub fn run(self) -> anyhow::Result<()> {
        if let Some(dir) = self.definitions {
            let engine = script::offline_engine(None);
            let files = script::functions::write_definitions(&engine, &dir)
                .with_context(|| format!("cannot write definitions to {}", dir.display()))?;
            unlearn::outln!("wrote {} definition files to {}", files.len(), dir.display());
            return Ok(());
        }
        if self.json {
            let v = script::functions::catalogue_json(self.word.as_deref());
            unlearn::outln!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            unlearn::out!("{}", script::functions::listing(self.word.as_deref()));
        }
        Ok(())
    }
}
