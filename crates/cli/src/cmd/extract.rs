//! `dzk extract`: a run of a model's layers (one transformer block, one attention) as a model file of its own,
//! and optionally its input file taken from the whole model's forward pass.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use dzk_ir::{Model, TensorFile};

use crate::args::load_input;
use crate::io::write_atomic;

/// Arguments of `dzk extract`.
#[derive(Debug, Args)]
pub struct ExtractCmd {
    /// The zkml model file.
    pub model: PathBuf,
    /// The layers to keep, `A..B` (layer A up to, not including, B; `dzk inspect` lists them).
    #[arg(long, value_name = "A..B", value_parser = parse_range)]
    pub layers: (usize, usize),
    /// The model file to write.
    #[arg(short = 'o', long = "output", value_name = "MODEL")]
    pub out: PathBuf,
    /// An input file of the whole model: with `--emit-input`, its forward pass gives the extracted model's inputs.
    #[arg(long, value_name = "INPUT", requires = "emit_input")]
    pub input: Option<PathBuf>,
    /// Write the extracted model's input file here: the values its inputs have in the whole model's forward pass
    /// on `--input`.
    #[arg(long, value_name = "FILE", requires = "input")]
    pub emit_input: Option<PathBuf>,
}

/// Parses `A..B`.
fn parse_range(s: &str) -> Result<(usize, usize), String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("'{s}' is not a layer range A..B"))?;
    let num = |v: &str| {
        v.trim()
            .parse::<usize>()
            .map_err(|_| format!("'{v}' in '{s}' is not a layer index"))
    };
    Ok((num(a)?, num(b)?))
}

impl ExtractCmd {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        let bytes = std::fs::read(&self.model)
            .with_context(|| format!("reading {}", self.model.display()))?;
        let name = self.model.display().to_string();
        let (a, b) = self.layers;
        let ex = Model::extract_file(&bytes, &name, a, b)?;
        let sub_input = match (&self.input, &self.emit_input) {
            (Some(input), Some(_)) => {
                let whole = Model::from_msgpack(&bytes, &name)?;
                let given = load_input(input)?;
                let trace = whole
                    .forward(&given)
                    .with_context(|| format!("running {name} on {}", input.display()))?;
                let tensors =
                    ex.inputs
                        .iter()
                        .map(|&i| {
                            trace.tensor(i).cloned().map(|t| (i, t)).with_context(|| {
                                format!("tensor {i} has no value in the forward pass")
                            })
                        })
                        .collect::<anyhow::Result<Vec<_>>>()?;
                Some(TensorFile::new(tensors).map_err(anyhow::Error::msg)?)
            }
            _ => None,
        };
        write_atomic(&self.out, &ex.bytes)?;
        if let (Some(file), Some(t)) = (&self.emit_input, &sub_input) {
            write_atomic(file, &t.to_msgpack())?;
        }
        let sub = Model::from_msgpack(&ex.bytes, &self.out.display().to_string())?;
        eprintln!(
            "wrote {} (layers {a}..{b} of {name}: {} layers, {} parameters; inputs {:?}, outputs {:?})",
            self.out.display(),
            sub.layers().len(),
            sub.parameter_count(),
            ex.inputs,
            ex.outputs
        );
        if let Some(file) = &self.emit_input {
            eprintln!("wrote {} (its inputs' values)", file.display());
        }
        Ok(())
    }
}
