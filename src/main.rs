//! The `unlearn` command line: run or check a script, run a sweep, forget from a deployed model,
//! time the pipeline, list the script API, print versions. Parses the arguments, hands them to the subcommand's module under
//! `cli/`, and prints the error it returns.
mod cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

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

// parsed once per process: the size of the bench variant does not matter
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run a script.
    Run(cli::run::RunCmd),
    /// Run a script's sweep (`sweep(#{ grid: ... }, |point| ...)`): every point that is not
    /// complete, here (N at a time with --jobs) or as a Slurm job array (--slurm); or plan,
    /// report and collect it.
    Sweep(cli::sweep::SweepCmd),
    /// Forget part of a deployed classifier's training data without a script: load the model
    /// (TorchScript from PyTorch, or an unlearn checkpoint) and its data, unlearn the request,
    /// measure before and after, and write the unlearned model, report.html, report.json and
    /// deletion-record.json.
    Forget(cli::forget::ForgetCmd),
    /// Time every phase of the pipeline on the CIFAR-shaped synthetic workload described in
    /// docs/benchmark.md (scaled down on the CPU unless sizes are given); writes bench.json,
    /// bench.txt and the scaling plots.
    Bench(cli::bench::BenchCmd),
    /// Compile a script and check it without running it: syntax, unknown functions (with the
    /// closest name), imports of missing modules, unknown keys in option maps written in a call.
    Check(cli::check::CheckCmd),
    /// List what scripts can call, grouped by domain: every function with its script-level
    /// signature and what it does, the stdlib's `ex::` functions, every unlearning method with
    /// its options and defaults, the hyper-parameter profiles and the condensers.
    Functions(cli::functions::FunctionsCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        unlearn::outln!("{}", unlearn::runtime::Versions::current().describe());
        return ExitCode::SUCCESS;
    }
    let Some(command) = cli.command else {
        unlearn::errln!("error: no command given; try `unlearn --help`");
        return ExitCode::from(2);
    };
    let result = match command {
        Command::Run(c) => c.run(),
        Command::Sweep(c) => c.run(),
        Command::Forget(c) => c.run(),
        Command::Bench(c) => c.run(),
        Command::Check(c) => c.run(),
        Command::Functions(c) => c.run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = cli::error_text(&e);
            unlearn::err!("{msg}");
            if !msg.ends_with('\n') {
                unlearn::errln!();
            }
            ExitCode::FAILURE
        }
    }
}
