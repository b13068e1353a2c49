//! The `unlearn` command line: run or check a script, list the script API, print versions.
use clap::{Parser, Subcommand};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use unlearn::runtime::{parse_device, Versions};
use unlearn::script::{self, RunContext};

#[derive(Parser)]
#[command(
    name = "unlearn",
    about = "Fast, scriptable, measurable machine unlearning of image classifiers",
    disable_version_flag = true
)]
struct Cli {
    /// Print the versions of unlearn, tch and libtorch, and CUDA/cuDNN availability.
    #[arg(short = 'V', long = "version")]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a script.
    Run {
        /// The .rhai script.
        script: PathBuf,
        /// auto (CUDA if available), cpu, cuda or cuda:N.
        #[arg(long, default_value = "auto")]
        device: String,
        /// Seed of every random choice that has no seed of its own.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// key=value, read by the script with option("key", default). Repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Output folder (default: results/<script name>).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Compile a script without running it.
    Check { script: PathBuf },
    /// List every script function with its signature and a one-line description.
    Functions {
        /// Print rhai's full JSON metadata instead.
        #[arg(long)]
        json: bool,
    },
}

fn parse_sets(sets: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for s in sets {
        let Some((k, v)) = s.split_once('=') else {
            return Err(format!("error: --set {s}: expected KEY=VALUE"));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("error: --set {s}: the key is empty"));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

fn script_dir(path: &Path) -> Option<&Path> {
    path.parent().filter(|p| !p.as_os_str().is_empty())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        println!("{}", Versions::current().describe());
        return ExitCode::SUCCESS;
    }
    let Some(command) = cli.command else {
        eprintln!("error: no command given; try `unlearn --help`");
        return ExitCode::from(2);
    };
    let result = match command {
        Command::Run { script, device, seed, set, out } => (|| -> Result<(), String> {
            let options = parse_sets(&set)?;
            let device = parse_device(&device).map_err(|e| format!("error: --device: {e}"))?;
            let source = script::read_script(&script)?;
            let stem = script.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "run".into());
            let out = out.unwrap_or_else(|| PathBuf::from("results").join(stem));
            let name = script.display().to_string();
            // libtorch's own generators too, for anything that draws from them
            unlearn::runtime::seed_everything(seed);
            let ctx = Rc::new(RunContext::new(&name, device, seed, out, options));
            let engine = script::engine(ctx.clone(), script_dir(&script));
            script::run(&engine, &name, &source)?;
            for k in ctx.unused_options() {
                eprintln!("warning: --set {k}=... was never read by {name}");
            }
            Ok(())
        })(),
        Command::Check { script } => (|| -> Result<(), String> {
            let source = script::read_script(&script)?;
            let engine = script::offline_engine(script_dir(&script));
            script::check(&engine, &script.display().to_string(), &source)?;
            println!("{}: ok", script.display());
            Ok(())
        })(),
        Command::Functions { json } => (|| -> Result<(), String> {
            let engine = script::offline_engine(None);
            if json {
                println!("{}", engine.gen_fn_metadata_to_json(false).map_err(|e| e.to_string())?);
            } else {
                print!("{}", script::function_list(&engine)?);
                println!("\nUnlearning methods, for unlearn(model, NAME, #{{ request, retain, unseen, ... }}):");
                for m in unlearn::unlearn::method_infos() {
                    println!("{:<14}{}\n    options: {}", m.name, m.description, m.defaults);
                }
                println!(
                    "\nCondensation methods, for condense(train, request, #{{ method: NAME, ... }}): {:?}",
                    unlearn::condense::CONDENSERS
                );
            }
            Ok(())
        })(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprint!("{msg}");
            if !msg.ends_with('\n') {
                eprintln!();
            }
            ExitCode::FAILURE
        }
    }
}
