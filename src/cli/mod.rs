//! The subcommands of the `unlearn` binary, one file each (`run`, `sweep`, `forget`, `bench`,
//! `check`, `functions`), and what they share: the script's folder, the command line recorded in an output
//! folder's lock, and how an error reaches the terminal.
//!
//! Each subcommand is a `clap::Args` struct whose `run` returns `anyhow::Result<()>`: the
//! library's errors convert with `?` or take a `.context(...)` naming the flag they came from.
pub mod bench;
pub mod check;
pub mod forget;
pub mod functions;
pub mod run;
pub mod sweep;

use std::fmt;
use std::path::Path;

/// An error the script layer has already rendered for the terminal: `error: ...` with
/// `--> file:line:col`, the source line and a caret (see `unlearn::script::render_at`). Shown as
/// it is; never given a context.
#[derive(Debug)]
pub struct Rendered(pub String);

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Rendered {}

/// The script layer's `Err(String)` (already rendered) as an error of the binary.
pub fn rendered(msg: String) -> anyhow::Error {
    Rendered(msg).into()
}

/// What the user sees of `e`: a [`Rendered`] error as it is; anything else as `error: ` and its
/// chain, `context: cause`. A cause whose text already ends with its source's (the toolkit's
/// file errors are `path: source`) does not repeat it.
pub fn error_text(e: &anyhow::Error) -> String {
    if let Some(r) = e.downcast_ref::<Rendered>() {
        return r.0.clone();
    }
    let mut out = String::from("error: ");
    let mut last = String::new();
    for (i, cause) in e.chain().enumerate() {
        let text = cause.to_string();
        if i > 0 {
            if last.ends_with(&text) {
                break;
            }
            out.push_str(": ");
        }
        out.push_str(&text);
        last = text;
    }
    out
}

/// This process's command line, for the output folder's lock (shown to a run that finds it taken).
pub fn command_line() -> String {
    let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    format!("unlearn {}", args.get(1..).unwrap_or_default().join(" "))
}

/// The folder of a script, where its imports and relative paths start; `None` for a bare name.
pub fn script_dir(path: &Path) -> Option<&Path> {
    path.parent().filter(|p| !p.as_os_str().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn error_text_names_the_flag_and_says_a_file_error_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e = Err::<(), _>(unlearn::Error::io("/x/bench.json", io)).context("bench --replot").unwrap_err();
        assert_eq!(error_text(&e), "error: bench --replot: /x/bench.json: gone");
        let e = anyhow::anyhow!("--set a: expected KEY=VALUE");
        assert_eq!(error_text(&e), "error: --set a: expected KEY=VALUE");
        let shown = "error: stop here\n --> s.rhai:2:1\n  |\n2 | throw 1;\n  | ^\n";
        assert_eq!(error_text(&rendered(shown.into())), shown);
    }
}
