//! `dzk import` (an ONNX model to a zkml model) and `dzk import-input` (real-valued inputs to an input file).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use dzk_ir::Model;
use dzk_onnx::{Accuracy, Calibration, Imported, Options};
use serde_json::json;

use crate::io::write_atomic;

/// The scale `import` uses when neither `--scale-bits` nor `--calibrate` is given.
const DEFAULT_SCALE_BITS: u32 = 10;
/// The highest scale `--calibrate` tries when `--scale-bits` does not say.
const CALIBRATE_FROM_BITS: u32 = 16;

/// Arguments of `dzk import`.
#[derive(Debug, Args)]
pub struct ImportCmd {
    /// The ONNX model.
    pub onnx: PathBuf,
    /// The zkml model file to write.
    #[arg(short = 'o', long = "output", value_name = "MODEL")]
    pub out: PathBuf,
    /// Fixed-point scale 2^B for weights and activations (default 10; with --calibrate, the highest tried,
    /// default 16).
    #[arg(long, value_name = "B")]
    pub scale_bits: Option<u32>,
    /// The model's k: looked-up and range-checked values must lie in [-2^(k-1), 2^(k-1)). Default: B + 6
    /// (real values up to ±32); with --calibrate, 18.
    #[arg(long, value_name = "K")]
    pub k: Option<u32>,
    /// Pick the largest scale whose every intermediate value fits k on these samples (JSON list of samples, or
    /// a .npy array whose first axis counts them), and report float-against-fixed accuracy on them.
    #[arg(long, value_name = "SAMPLES", conflicts_with = "accuracy")]
    pub calibrate: Option<PathBuf>,
    /// Report float-against-fixed accuracy on these samples at the chosen scale (same format as --calibrate).
    #[arg(long, value_name = "SAMPLES")]
    pub accuracy: Option<PathBuf>,
    /// The shape of a graph input, replacing what the file declares (needed where it leaves a dimension open);
    /// once per input, in order. Example: --input-shape 1,3,32,32
    #[arg(long, value_name = "DIMS", value_parser = parse_dims)]
    pub input_shape: Vec<Dims>,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

/// A shape given on the command line.
#[derive(Clone, Debug)]
pub struct Dims(Vec<usize>);

fn parse_dims(s: &str) -> Result<Dims, String> {
    s.split(',')
        .map(|d| {
            d.trim().parse::<usize>().map_err(|_| {
                format!("'{s}' is not a shape: give dimensions as D,D,... (e.g. 1,3,32,32)")
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Dims)
}

fn accuracy_json(a: &Accuracy) -> serde_json::Value {
    json!({"samples": a.samples, "outputs": a.outputs})
}

fn print_accuracy(a: &Accuracy) {
    eprintln!(
        "float (tract) against fixed point on {} samples:",
        a.samples
    );
    for o in &a.outputs {
        eprintln!(
            "  {}: max |error| {:.5} (largest |value| {:.3}), argmax agrees on {}/{}",
            o.name, o.max_abs_error, o.max_abs_value, o.argmax_agree, a.samples
        );
    }
}

/// Runs `f` with the panic hook silenced: tract panics on some malformed files, dzk-onnx turns each such panic
/// into an error that carries its message, and the hook's own report would only repeat it as noise.
fn quietly<T>(f: impl FnOnce() -> T) -> T {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let out = f();
    std::panic::set_hook(hook);
    out
}

impl ImportCmd {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        quietly(|| self.import())
    }

    fn import(self) -> anyhow::Result<()> {
        let samples = |p: &Path| dzk_onnx::read_samples(p).map_err(anyhow::Error::msg);
        let mut opts = Options {
            scale_bits: self.scale_bits.unwrap_or(DEFAULT_SCALE_BITS),
            k: self.k,
            input_shapes: self.input_shape.iter().map(|d| d.0.clone()).collect(),
        };
        let (imp, calibration, accuracy): (Imported, Option<Calibration>, Option<Accuracy>) =
            match (&self.calibrate, &self.accuracy) {
                (Some(p), _) => {
                    let s = samples(p)?;
                    opts.scale_bits = self.scale_bits.unwrap_or(CALIBRATE_FROM_BITS);
                    let (imp, cal) = dzk_onnx::calibrate(&self.onnx, &opts, &s)?;
                    (imp, Some(cal), None)
                }
                (None, Some(p)) => {
                    let s = samples(p)?;
                    let (imp, acc) = dzk_onnx::import_measured(&self.onnx, &opts, &s)?;
                    (imp, None, Some(acc))
                }
                (None, None) => (dzk_onnx::import(&self.onnx, &opts)?, None, None),
            };
        write_atomic(&self.out, &imp.bytes)?;
        let layers = imp.model.layers().len();
        if self.json {
            let tensors = |ts: &[dzk_onnx::ImportedTensor]| -> Vec<serde_json::Value> {
                ts.iter()
                    .map(|t| json!({"name": t.name, "idx": t.idx, "shape": t.shape}))
                    .collect()
            };
            let cal = calibration.as_ref().map(|c| {
                json!({
                    "scale_bits": c.scale_bits, "k": c.k, "max_abs": c.max_abs, "margin_bits": c.margin_bits,
                    "rejected": c.rejected.iter().map(|(b, why)| json!({"scale_bits": b, "why": why})).collect::<Vec<_>>(),
                })
            });
            let acc = calibration
                .as_ref()
                .map(|c| &c.accuracy)
                .or(accuracy.as_ref())
                .map(accuracy_json);
            println!(
                "{}",
                json!({
                    "onnx": self.onnx, "model": self.out, "opset": imp.opset, "nodes": imp.nodes, "ops": imp.ops,
                    "layers": layers, "parameters": imp.model.parameter_count(),
                    "scale_bits": imp.scale_bits, "scale": imp.model.scale(), "k": imp.k,
                    "inputs": tensors(&imp.inputs), "outputs": tensors(&imp.outputs),
                    "calibration": cal, "accuracy": acc,
                })
            );
        }
        let ops: Vec<String> = imp.ops.iter().map(|(o, n)| format!("{o} ×{n}")).collect();
        eprintln!(
            "imported {} (opset {}, {} nodes: {}) as {layers} layers, {} parameters, scale 2^{}, k {}",
            self.onnx.display(),
            imp.opset,
            imp.nodes,
            ops.join(", "),
            imp.model.parameter_count(),
            imp.scale_bits,
            imp.k
        );
        if let Some(c) = &calibration {
            for (b, why) in &c.rejected {
                eprintln!("  scale 2^{b} does not fit: {why}");
            }
            eprintln!(
                "calibrated: scale 2^{} fits k {} with {:.1} bits to spare (largest |value| {})",
                c.scale_bits, c.k, c.margin_bits, c.max_abs
            );
            print_accuracy(&c.accuracy);
        }
        if let Some(a) = &accuracy {
            print_accuracy(a);
        }
        eprintln!("wrote {}", self.out.display());
        Ok(())
    }
}

/// Arguments of `dzk import-input`.
#[derive(Debug, Args)]
pub struct ImportInputCmd {
    /// The zkml model the input is for (its scale and input shapes).
    pub model: PathBuf,
    /// Real-valued input: a .npy array, or JSON (a nested array of numbers, or {"inputs": [...]} with one
    /// array per model input).
    pub input: PathBuf,
    /// The zkml input file to write.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub out: PathBuf,
}

impl ImportInputCmd {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        let model = Model::load(&self.model).context("loading model")?;
        let xs = dzk_onnx::read_float_input(&self.input).map_err(anyhow::Error::msg)?;
        let file = dzk_onnx::float_inputs(&model, &xs)
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.input.display()))?;
        write_atomic(&self.out, &file.to_msgpack())?;
        eprintln!(
            "wrote {} ({} tensors at scale {})",
            self.out.display(),
            file.tensors().len(),
            model.scale()
        );
        Ok(())
    }
}
