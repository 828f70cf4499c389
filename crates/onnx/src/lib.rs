//! dzk's ONNX importer.
//!
//! [`import`] parses an ONNX file with `tract-onnx` (its protobuf parser and its shape and constant inference,
//! not its optimiser), lowers every node to zkml layers that dzk proves, quantises weights and constants at
//! scale `2^B`, and returns a zkml model file: partition, prove and verify then work on it unchanged.
//!
//! Lowering keeps ONNX's layouts at every node's edges (NCHW for images); a convolution or pooling node is
//! wrapped in the transposes to and from zkml's NHWC, which cost nothing in a proof (wiring only), and a
//! transpose pair between two such nodes is dropped. Nothing is silently skipped: a node with no lowering is
//! an error naming it, its op and the nearest supported rewrite ([`OPERATORS`] lists what is supported).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod calibrate;
mod graph;
mod input;
mod lower;
mod precheck;

use std::path::PathBuf;

pub use calibrate::{calibrate, import_measured, Accuracy, Calibration, OutputError};
pub use input::{float_inputs, read_float_input, read_samples, FloatInput};
pub use lower::{Imported, ImportedTensor, OPERATORS};

/// What [`import`] is asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// Fixed-point scale `2^scale_bits` for weights, constants and activations.
    pub scale_bits: u32,
    /// The model's `k`: looked-up and range-checked values must lie in `[-2^(k-1), 2^(k-1))`. `None` picks
    /// `scale_bits + 6` (real values up to ±32).
    pub k: Option<u32>,
    /// Shapes for the graph inputs, in order, replacing what the file declares (needed where it leaves a
    /// dimension open). Empty: the file's shapes.
    pub input_shapes: Vec<Vec<usize>>,
}

impl Options {
    /// The `k` these options give.
    pub fn k(&self) -> u32 {
        self.k.unwrap_or(self.scale_bits + 6)
    }
}

/// Why an ONNX file cannot be imported. Every variant names the file, and a node where one is at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file cannot be read or is not an ONNX model.
    #[error("{file}: {detail}")]
    Read {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The model as a whole cannot be imported (opset, inputs, shapes, options).
    #[error("{file}: {detail}")]
    Model {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A node whose operator dzk has no lowering for.
    #[error("{file}: node '{node}' ({op}) is not supported: {hint}")]
    Unsupported {
        /// The file.
        file: PathBuf,
        /// The node's name (or its first output's, when unnamed).
        node: String,
        /// The ONNX operator.
        op: String,
        /// The nearest supported rewrite.
        hint: String,
    },
    /// A node of a supported operator whose attributes or operands dzk cannot lower.
    #[error("{file}: node '{node}' ({op}): {detail}")]
    Node {
        /// The file.
        file: PathBuf,
        /// The node's name.
        node: String,
        /// The ONNX operator.
        op: String,
        /// What is wrong.
        detail: String,
    },
}

/// Reads `path` and lowers it to a zkml model at the scale and `k` of `opts`.
pub fn import(path: &std::path::Path, opts: &Options) -> Result<Imported, ImportError> {
    let g = graph::Graph::load(path, &opts.input_shapes)?;
    graph::guarded(path, || lower::lower(&g, opts))
}
