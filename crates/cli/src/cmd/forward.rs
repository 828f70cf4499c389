//! `dzk forward`: run a model on an input and print or write its outputs.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde_json::json;

use crate::args::{load_input, supplied, WeightArgs};
use crate::io::write_atomic;

/// How many values of an output the human summary prints before eliding.
const PRINT_LIMIT: usize = 32;

/// Arguments of `dzk forward`.
#[derive(Debug, Args)]
pub struct ForwardCmd {
    /// The zkml model file (`model.msgpack`), or a config file with `--synthetic-weights`.
    pub model: PathBuf,
    /// The zkml input file (`inp.msgpack`).
    pub input: PathBuf,
    /// Write the outputs here as a zkml tensor file (msgpack).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print a JSON summary on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// Print the outputs as real numbers (divided by the model's scale) instead of fixed-point integers.
    #[arg(long)]
    pub float: bool,
    /// Weight options.
    #[command(flatten)]
    pub weights: WeightArgs,
}

impl ForwardCmd {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        let input = load_input(&self.input)?;
        let model = self
            .weights
            .load_model(&self.model, &supplied(&input), true)?;
        let trace = model.forward(&input).context("running the forward pass")?;
        if let Some(out) = &self.output {
            write_atomic(out, &trace.outputs().to_msgpack())?;
        }
        let outputs = trace.outputs().tensors();
        // A classifier's answer: the argmax of a single output with more than one value.
        let argmax = match outputs {
            [(_, t)] if t.len() > 1 => t.argmax(),
            _ => None,
        };
        if self.json {
            let sf = model.scale() as f64;
            let outs: Vec<_> = outputs
                .iter()
                .map(|(idx, t)| {
                    if self.float {
                        let real: Vec<f64> = t.data().iter().map(|&v| v as f64 / sf).collect();
                        json!({"idx": idx, "shape": t.shape(), "data": real})
                    } else {
                        json!({"idx": idx, "shape": t.shape(), "data": t.data()})
                    }
                })
                .collect();
            println!(
                "{}",
                json!({"model": self.model, "input": self.input, "scale": model.scale(), "outputs": outs, "argmax": argmax})
            );
        } else {
            for (idx, t) in outputs {
                let sf = model.scale() as f64;
                let shown: Vec<String> = t
                    .data()
                    .iter()
                    .take(PRINT_LIMIT)
                    .map(|&v| {
                        if self.float {
                            format!("{:.6}", v as f64 / sf)
                        } else {
                            v.to_string()
                        }
                    })
                    .collect();
                let more = if t.len() > PRINT_LIMIT {
                    format!(", ... ({} values)", t.len())
                } else {
                    String::new()
                };
                let scale = if self.float {
                    format!("real, dequantised from scale {}", model.scale())
                } else {
                    format!("scale {}", model.scale())
                };
                println!(
                    "output {idx} {:?} ({scale}): [{}{more}]",
                    t.shape(),
                    shown.join(", ")
                );
            }
            if let Some(a) = argmax {
                println!("argmax: {a}");
            }
        }
        if let Some(out) = &self.output {
            eprintln!("wrote {}", out.display());
        }
        Ok(())
    }
}
