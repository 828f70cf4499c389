//! `dzk synth`: write a real model file from a weight-less config, with deterministic synthetic weights.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use dzk_ir::Model;

use crate::args::{load_input, supplied};
use crate::io::write_atomic;

/// Arguments of `dzk synth`.
#[derive(Debug, Args)]
pub struct SynthCmd {
    /// The zkml config file (weights missing) or model file.
    pub config: PathBuf,
    /// The seed of the weights: the same seed gives the same weights as `--synthetic-weights SEED`.
    #[arg(long, value_name = "SEED")]
    pub seed: u64,
    /// An input file whose tensors stay inputs (default: the file's declared inputs that no layer writes). Give
    /// it when the config's declared inputs are not what its input files supply (GPT-2's).
    #[arg(long, value_name = "INPUT")]
    pub input: Option<PathBuf>,
    /// The model file to write.
    #[arg(short = 'o', long = "output", value_name = "MODEL")]
    pub out: PathBuf,
}

impl SynthCmd {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        let bytes = std::fs::read(&self.config)
            .with_context(|| format!("reading {}", self.config.display()))?;
        let name = self.config.display().to_string();
        let keep = match &self.input {
            Some(p) => Some(supplied(&load_input(p)?)),
            None => None,
        };
        let out = Model::synthesize_file(&bytes, &name, self.seed, keep.as_deref())
            .context("generating synthetic weights")?;
        let model = Model::from_msgpack(&out, &self.out.display().to_string())
            .context("reading back the synthesised model")?;
        write_atomic(&self.out, &out)?;
        if model.free_tensors().is_empty() {
            eprintln!(
                "warning: {} reads no input: every tensor its layers read now holds synthetic values, so its \
                 outputs are constants and it has nothing to prove. Give --input with the input file the model is \
                 run on (GPT-2's config declares no input)",
                self.out.display()
            );
        }
        eprintln!(
            "wrote {} ({} layers, {} parameters, seed {})",
            self.out.display(),
            model.layers().len(),
            model.parameter_count(),
            self.seed
        );
        Ok(())
    }
}
