//! Errors building a chunk circuit.

/// Why a slice cannot be turned into a circuit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CircuitError {
    /// The slice bounds are not a non-empty range of the model's layers.
    #[error("slice {start}..{end} is not a non-empty range of the model's {layers} layers")]
    BadSlice {
        /// First layer.
        start: usize,
        /// One past the last layer.
        end: usize,
        /// Layers in the model.
        layers: usize,
    },
    /// A layer (or a form of it) has no circuit yet.
    #[error("layer {index} ({layer_type}) cannot be proven yet: {reason}")]
    Unsupported {
        /// Layer index.
        index: usize,
        /// zkml layer type.
        layer_type: String,
        /// What is missing.
        reason: String,
    },
    /// Several layers have no circuit yet (all of them, listed at once).
    #[error("{} layers cannot be proven yet: {}", .0.len(), list(.0))]
    UnsupportedLayers(Vec<CircuitError>),
    /// A boundary-in tensor has no value, or the wrong number of values.
    #[error("boundary tensor {idx}: {reason}")]
    Input {
        /// Tensor index.
        idx: i64,
        /// What is wrong.
        reason: String,
    },
    /// A value the forward pass reaches lies outside what a layer's circuit can prove (a function table's
    /// domain).
    #[error("layer {index} ({layer_type}): {reason}")]
    OutOfRange {
        /// Layer index.
        index: usize,
        /// zkml layer type.
        layer_type: String,
        /// Which value, and the range it left.
        reason: String,
    },
    /// Layout parameters that cannot work.
    #[error("bad layout: {0}")]
    Layout(String),
    /// The forward pass failed on the given inputs.
    #[error(transparent)]
    Forward(#[from] dzk_ir::IrError),
}

/// `layer I (TYPE): reason; …` for a list of [`CircuitError::Unsupported`].
fn list(errors: &[CircuitError]) -> String {
    errors
        .iter()
        .map(|e| match e {
            CircuitError::Unsupported {
                index,
                layer_type,
                reason,
            } => format!("layer {index} ({layer_type}): {reason}"),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}
