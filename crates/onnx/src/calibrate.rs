//! Scale calibration and the float-against-fixed accuracy report.
//!
//! The float reference is the ONNX model itself, run by tract in `f32`. The fixed-point side is dzk's own
//! forward pass, which the circuit reproduces bit for bit.

use std::path::Path;

use tract_onnx::prelude::*;

use crate::graph::Graph;
use crate::input::float_inputs;
use crate::lower::{lower, Imported};
use crate::{FloatInput, ImportError, Options};

/// Per-output agreement between the float model and the fixed-point model.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OutputError {
    /// The ONNX output name.
    pub name: String,
    /// The largest `|float − fixed / sf|` over every value and sample.
    pub max_abs_error: f64,
    /// The largest `|float|`, for scale.
    pub max_abs_value: f64,
    /// Samples whose argmax (over the flattened output) agrees.
    pub argmax_agree: usize,
}

/// The accuracy of a fixed-point import on some samples.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Accuracy {
    /// How many samples.
    pub samples: usize,
    /// One entry per output.
    pub outputs: Vec<OutputError>,
}

/// What calibration tried and chose.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Calibration {
    /// The chosen scale bits (the largest that fits).
    pub scale_bits: u32,
    /// The `k` it had to fit.
    pub k: u32,
    /// The largest `|value|` of any layer on any sample at the chosen scale.
    pub max_abs: i64,
    /// `log2(2^(k-1) / max_abs)`: how many bits of room are left.
    pub margin_bits: f64,
    /// Every scale tried, highest first, with why it did not fit.
    pub rejected: Vec<(u32, String)>,
    /// Float against fixed at the chosen scale.
    pub accuracy: Accuracy,
}

/// The largest `|v|` any layer produces on `samples`, or why the forward pass fails.
fn peak(imp: &Imported, samples: &[Vec<FloatInput>]) -> Result<i64, String> {
    let mut top = 0i64;
    for (s, sample) in samples.iter().enumerate() {
        let inp = float_inputs(&imp.model, sample).map_err(|e| format!("sample {s}: {e}"))?;
        let trace = imp
            .model
            .forward(&inp)
            .map_err(|e| format!("sample {s}: {e}"))?;
        for (lo, hi) in trace.layer_ranges().iter().flatten() {
            top = top.max(lo.saturating_abs()).max(hi.saturating_abs());
        }
        for (_, t) in inp.tensors() {
            if let Some((lo, hi)) = t.range() {
                top = top.max(lo.saturating_abs()).max(hi.saturating_abs());
            }
        }
    }
    Ok(top)
}

/// Runs the float model on each sample: one list of output arrays per sample.
fn float_outputs(g: &Graph, samples: &[Vec<FloatInput>]) -> Result<Vec<Vec<Vec<f64>>>, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        float_outputs_unguarded(g, samples)
    }))
    .unwrap_or_else(|p| {
        Err(format!(
            "tract failed running the float model: {}",
            crate::graph::panic_message(p.as_ref())
        ))
    })
}

fn float_outputs_unguarded(
    g: &Graph,
    samples: &[Vec<FloatInput>],
) -> Result<Vec<Vec<Vec<f64>>>, String> {
    let plan = g
        .tract
        .clone()
        .into_optimized()
        .and_then(|m| m.into_runnable())
        .map_err(|e| format!("tract cannot run the float model: {e:#}"))?;
    let mut all = Vec::new();
    for (s, sample) in samples.iter().enumerate() {
        if sample.len() != g.inputs.len() {
            return Err(format!(
                "sample {s} has {} inputs, the model takes {}",
                sample.len(),
                g.inputs.len()
            ));
        }
        let mut ins = TVec::new();
        for (x, i) in sample.iter().zip(&g.inputs) {
            let data: Vec<f32> = x.values.iter().map(|&v| v as f32).collect();
            let t = Tensor::from_shape(&i.shape, &data).map_err(|e| format!("sample {s}: {e}"))?;
            ins.push(t.into());
        }
        let outs = plan
            .run(ins)
            .map_err(|e| format!("sample {s}: tract: {e:#}"))?;
        let mut arrays = Vec::new();
        for o in outs {
            let v = o
                .cast_to::<f64>()
                .map_err(|e| e.to_string())?
                .as_slice::<f64>()
                .map_err(|e| e.to_string())?
                .to_vec();
            arrays.push(v);
        }
        all.push(arrays);
    }
    Ok(all)
}

fn argmax(v: &[f64]) -> Option<usize> {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
}

/// Compares the fixed-point model with the float model on `samples`.
fn accuracy(g: &Graph, imp: &Imported, samples: &[Vec<FloatInput>]) -> Result<Accuracy, String> {
    let floats = float_outputs(g, samples)?;
    let sf = imp.model.scale() as f64;
    let mut outputs: Vec<OutputError> = imp
        .outputs
        .iter()
        .map(|o| OutputError {
            name: o.name.clone(),
            max_abs_error: 0.0,
            max_abs_value: 0.0,
            argmax_agree: 0,
        })
        .collect();
    for (s, (sample, float)) in samples.iter().zip(&floats).enumerate() {
        let inp = float_inputs(&imp.model, sample).map_err(|e| format!("sample {s}: {e}"))?;
        let trace = imp
            .model
            .forward(&inp)
            .map_err(|e| format!("sample {s}: {e}"))?;
        for ((o, acc), f) in imp.outputs.iter().zip(&mut outputs).zip(float) {
            let fixed: Vec<f64> = trace
                .tensor(o.idx)
                .ok_or_else(|| format!("output '{}' was not computed", o.name))?
                .data()
                .iter()
                .map(|&q| q as f64 / sf)
                .collect();
            if fixed.len() != f.len() {
                return Err(format!(
                    "output '{}': {} values against tract's {}",
                    o.name,
                    fixed.len(),
                    f.len()
                ));
            }
            for (a, b) in fixed.iter().zip(f) {
                acc.max_abs_error = acc.max_abs_error.max((a - b).abs());
                acc.max_abs_value = acc.max_abs_value.max(b.abs());
            }
            if argmax(&fixed) == argmax(f) {
                acc.argmax_agree += 1;
            }
        }
    }
    Ok(Accuracy {
        samples: samples.len(),
        outputs,
    })
}

/// Imports `path` at the largest scale (from `opts.scale_bits` down) whose every value fits `[-2^(k-1),
/// 2^(k-1))` on every sample, with `k` = `opts.k` (default 18), and reports its accuracy.
pub fn calibrate(
    path: &Path,
    opts: &Options,
    samples: &[Vec<FloatInput>],
) -> Result<(Imported, Calibration), ImportError> {
    let g = Graph::load(path, &opts.input_shapes)?;
    let k = opts.k.unwrap_or(18);
    let bad = |detail: String| ImportError::Model {
        file: path.to_path_buf(),
        detail,
    };
    if samples.is_empty() {
        return Err(bad("calibration needs at least one sample".into()));
    }
    let limit = 1i64 << (k - 1);
    let mut rejected = Vec::new();
    for bits in (1..=opts.scale_bits.min(k - 2)).rev() {
        let o = Options {
            scale_bits: bits,
            k: Some(k),
            input_shapes: opts.input_shapes.clone(),
        };
        let imp = crate::graph::guarded(path, || lower(&g, &o))?;
        match peak(&imp, samples) {
            Ok(top) if top < limit - 16 => {
                let accuracy = accuracy(&g, &imp, samples).map_err(bad)?;
                let margin_bits = ((limit as f64) / (top.max(1) as f64)).log2();
                return Ok((
                    imp,
                    Calibration {
                        scale_bits: bits,
                        k,
                        max_abs: top,
                        margin_bits,
                        rejected,
                        accuracy,
                    },
                ));
            }
            Ok(top) => rejected.push((bits, format!("a value reaches {top}, over 2^{}", k - 1))),
            Err(e) => rejected.push((bits, e)),
        }
    }
    Err(bad(format!(
        "no scale fits k = {k} on these samples (tried {}..=1); raise --k",
        opts.scale_bits.min(k - 2)
    )))
}

/// Imports `path` at the scale of `opts` and measures its accuracy on `samples` against the float model run by
/// tract, reading the file once.
pub fn import_measured(
    path: &Path,
    opts: &Options,
    samples: &[Vec<FloatInput>],
) -> Result<(Imported, Accuracy), ImportError> {
    let g = Graph::load(path, &opts.input_shapes)?;
    let imp = crate::graph::guarded(path, || lower(&g, opts))?;
    let acc = accuracy(&g, &imp, samples).map_err(|detail| ImportError::Model {
        file: path.to_path_buf(),
        detail,
    })?;
    Ok((imp, acc))
}
