//! The `dzk` binary: parse arguments, dispatch to one subcommand, map errors to exit codes.
//!
//! Exit codes: 0 success, 1 a proof or link rejected, 2 usage, IO or format error.

mod args;
mod cmd;
mod io;
mod run;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
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
