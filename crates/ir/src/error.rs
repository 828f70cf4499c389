//! The error type of the IR crate.

use std::path::PathBuf;

/// Everything that can be wrong with a model file, an input file or a forward pass.
///
/// Every variant names where the problem is (file, layer index and type, or tensor index) and what it is,
/// so that a command line tool can print it on one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IrError {
    /// The file could not be read at all.
    #[error("cannot read {}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said (in the message; not an error `source`, which a caller's error
        /// chain would print a second time).
        error: std::io::Error,
    },
    /// The bytes are not the msgpack structure zkml writes.
    #[error("{file}: not a valid zkml {expected} file: {detail}")]
    Decode {
        /// The file.
        file: String,
        /// What kind of file was expected ("model" or "input").
        expected: &'static str,
        /// The decoder's message.
        detail: String,
    },
    /// A model-level field is wrong.
    #[error("{file}: {reason}")]
    Model {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A tensor (constant or input) is malformed.
    #[error("{file}: tensor {idx}: {reason}")]
    Tensor {
        /// The file holding the tensor.
        file: String,
        /// zkml's tensor index.
        idx: i64,
        /// What is wrong.
        reason: String,
    },
    /// A layer is malformed: unknown type, wrong parameters, wrong wiring or shapes.
    #[error("{file}: layer {index} ({layer_type}): {reason}")]
    Layer {
        /// The file.
        file: String,
        /// Position of the layer in the file's layer list.
        index: usize,
        /// zkml's layer type string.
        layer_type: String,
        /// What is wrong.
        reason: String,
    },
    /// A forward pass could not compute a layer (a zero divisor, a value out of zkml's range, ...).
    #[error("{file}: forward pass failed at layer {index} ({layer_type}): {reason}")]
    Eval {
        /// The model file.
        file: String,
        /// Position of the layer.
        index: usize,
        /// zkml's layer type string.
        layer_type: String,
        /// What went wrong.
        reason: String,
    },
}
