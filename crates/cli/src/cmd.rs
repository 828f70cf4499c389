//! The command line grammar: one variant per subcommand, each in its own module.

mod forward;
mod inspect;

use clap::{Parser, Subcommand};

/// dzk: prove ML inference in zero knowledge, across many machines.
#[derive(Debug, Parser)]
#[command(name = "dzk", version, about, long_about = None)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Describe a zkml model, config or input file: layers, shapes, parameters, value ranges.
    Inspect(inspect::InspectCmd),
    /// Run a model on an input in zkml's exact fixed-point arithmetic and print (or write) its outputs.
    Forward(forward::ForwardCmd),
}

impl Command {
    /// Runs the chosen subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            Command::Inspect(cmd) => cmd.run(),
            Command::Forward(cmd) => cmd.run(),
        }
    }
}
