//! `dzk inspect`: describe a model, config or input file, or one of dzk's own files.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use dzk_ir::{Model, TensorFile};
use serde_json::json;

use crate::args::{load_input, supplied, WeightArgs};

/// Arguments of `dzk inspect`.
#[derive(Debug, Args)]
pub struct InspectCmd {
    /// A zkml model, config or input file, or one of dzk's files (plan, proof, key, boundary, Merkle file,
    /// aggregated proof).
    pub file: PathBuf,
    /// Run the model on this input and show the value range every layer reaches.
    #[arg(long, value_name = "INPUT")]
    pub input: Option<PathBuf>,
    /// Print JSON on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Weight options (for `--input` on a config file).
    #[command(flatten)]
    pub weights: WeightArgs,
}

/// What the first bytes say the file holds.
enum Kind {
    Model,
    Tensors,
    /// One of dzk's own files, with its bytes.
    Dzk(dzk_format::Kind, Vec<u8>),
}

fn sniff(path: &std::path::Path) -> anyhow::Result<Kind> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if let Some(kind) = dzk_format::Kind::of(&bytes) {
        return Ok(Kind::Dzk(kind, bytes));
    }
    if bytes.starts_with(b"DZK\0") {
        bail!(
            "{}: a dzk file of a kind this dzk does not know (magic {:?}); a newer dzk wrote it?",
            path.display(),
            String::from_utf8_lossy(&bytes[..bytes.len().min(8)])
        );
    }
    match bytes.first() {
        None => bail!("{}: the file is empty", path.display()),
        Some(0x80..=0x8f | 0xde | 0xdf) => Ok(Kind::Model),
        Some(0x90..=0x9f | 0xdc | 0xdd) => Ok(Kind::Tensors),
        Some(b) => bail!(
            "{}: neither a zkml file (msgpack map or array) nor one of dzk's (first byte 0x{b:02x})",
            path.display()
        ),
    }
}

fn shape(s: &[usize]) -> String {
    format!(
        "[{}]",
        s.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(",")
    )
}

impl InspectCmd {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        match sniff(&self.file)? {
            Kind::Dzk(kind, bytes) => {
                if self.input.is_some() {
                    bail!(
                        "--input applies to a model file, and {} is a {kind}",
                        self.file.display()
                    );
                }
                let (value, lines) = super::inspect_artifact::describe(&self.file, &bytes, kind)?;
                if self.json {
                    println!("{value}");
                } else {
                    for line in lines {
                        println!("{line}");
                    }
                }
                Ok(())
            }
            Kind::Tensors => {
                if self.input.is_some() {
                    bail!(
                        "--input applies to a model file, and {} is a tensor file",
                        self.file.display()
                    );
                }
                self.tensors(&load_input(&self.file)?)
            }
            Kind::Model => {
                let input = self.input.as_deref().map(load_input).transpose()?;
                let keep: Vec<i64> = input.as_ref().map(supplied).unwrap_or_default();
                let model = self
                    .weights
                    .load_model(&self.file, &keep, input.is_some())?;
                let ranges = match &input {
                    Some(i) => Some(
                        model
                            .forward(i)
                            .context("running the forward pass")?
                            .layer_ranges()
                            .to_vec(),
                    ),
                    None => None,
                };
                self.model(&model, ranges.as_deref())
            }
        }
    }

    fn tensors(&self, f: &TensorFile) -> anyhow::Result<()> {
        if self.json {
            let ts: Vec<_> = f
                .tensors()
                .iter()
                .map(|(i, t)| json!({"idx": i, "shape": t.shape(), "len": t.len(), "range": t.range()}))
                .collect();
            println!(
                "{}",
                json!({"kind": "tensors", "file": self.file, "tensors": ts})
            );
        } else {
            println!(
                "tensor file {} ({} tensors)",
                self.file.display(),
                f.tensors().len()
            );
            for (i, t) in f.tensors() {
                let range = t
                    .range()
                    .map_or("empty".to_string(), |(lo, hi)| format!("{lo}..{hi}"));
                println!("  tensor {i:<6} {:<20} values {range}", shape(t.shape()));
            }
        }
        Ok(())
    }

    fn model(&self, m: &Model, ranges: Option<&[Option<(i64, i64)>]>) -> anyhow::Result<()> {
        let free = m.free_tensors();
        if self.json {
            let layers: Vec<_> = m
                .layers()
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    json!({
                        "index": i, "type": l.layer_type, "inputs": l.inputs, "input_shapes": l.input_shapes,
                        "outputs": l.outputs, "output_shapes": l.output_shapes,
                        "range": ranges.and_then(|r| r[i]),
                    })
                })
                .collect();
            let inputs: Vec<_> = free
                .iter()
                .map(|(i, s)| json!({"idx": i, "shape": s}))
                .collect();
            println!(
                "{}",
                json!({
                    "kind": if m.has_weights() { "model" } else { "config" }, "file": self.file,
                    "scale": m.scale(), "k": m.k(), "zkml_columns": m.num_cols(), "inputs": inputs,
                    "declared_inputs": m.declared_inputs(), "outputs": m.outputs(),
                    "parameters": m.parameter_count(), "has_weights": m.has_weights(), "layers": layers,
                })
            );
            return Ok(());
        }
        let kind = if m.has_weights() {
            "model"
        } else {
            "config (no weights)"
        };
        println!("{kind} {}", self.file.display());
        println!(
            "  scale factor {}  zkml k {}  zkml columns {}",
            m.scale(),
            m.k(),
            m.num_cols()
        );
        let ins: Vec<String> = free
            .iter()
            .map(|(i, s)| format!("{i} {}", shape(s)))
            .collect();
        println!(
            "  inputs  {}",
            if ins.is_empty() {
                "none".into()
            } else {
                ins.join(", ")
            }
        );
        println!("  outputs {:?}", m.outputs());
        println!(
            "  {} layers, {} parameters",
            m.layers().len(),
            m.parameter_count()
        );
        let header = if ranges.is_some() { "  range" } else { "" };
        println!(
            "  {:>5}  {:<22} {:<24} {:<18}{header}",
            "#", "type", "inputs", "output"
        );
        for (i, l) in m.layers().iter().enumerate() {
            let ins: Vec<String> = l.inputs.iter().map(|x| x.to_string()).collect();
            let out = l
                .output_shapes
                .iter()
                .map(|s| shape(s))
                .collect::<Vec<_>>()
                .join(" ");
            let range = match ranges {
                Some(r) => r[i].map_or("  -".into(), |(lo, hi)| format!("  {lo}..{hi}")),
                None => String::new(),
            };
            println!(
                "  {i:>5}  {:<22} {:<24} {:<18}{range}",
                l.layer_type,
                ins.join(","),
                out
            );
        }
        Ok(())
    }
}
