//! The `dzk` command line: parse arguments, dispatch to one subcommand, map errors to exit codes. Two binaries
//! run it: `dzk` (src/main.rs, CPU only, on every machine) and `dzk-gpu` (src/bin/dzk-gpu.rs, built with the
//! `gpu` feature by `cargo xtask gpu`), which `dzk` starts for the proving commands when a GPU is there.
//!
//! Exit codes: 0 success, 1 a proof or link rejected, 2 usage, IO or format error.

mod args;
mod backend;
mod cmd;
mod io;
mod run;

use std::process::ExitCode;

use clap::Parser;

/// Output piped into a reader that stops early (`dzk inspect big | head`) ends the command quietly, as it
/// would any Unix tool, instead of a panic from `println!`.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// The whole program: what both binaries' `main` run.
pub fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = cmd::Cli::parse();
    match cli.command.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if let Some(r) = err.downcast_ref::<run::Rejected>() {
                eprintln!("rejected: {r}");
                return ExitCode::from(1);
            }
            // One line: the context chain, outermost first.
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
