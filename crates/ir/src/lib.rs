#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod extract;
pub mod fixed;
mod fold;
mod forward;
mod model;
mod op;
mod split;
mod synthetic;
mod tensor;
mod writer;
mod zkml;

pub use error::IrError;
pub use extract::Extracted;
pub use fixed::{LookupFn, Run};
pub use fold::Folded;
pub use forward::Trace;
pub use model::{Layer, Model, TensorInfo};
pub use op::{conv_geometry, Activation, ConvGeometry, ConvKind, Mask, Op, Padding};
pub use split::{Section, Split, SplitAt};
pub use tensor::Tensor;
pub use writer::ModelWriter;
pub use zkml::TensorFile;

/// Smallest value zkml accepts in a model or input file: it maps `x` to a field element via `(x + 2^31) as u64`.
pub const MIN_VALUE: i64 = -(1 << 31);
/// Largest value zkml accepts in a file, so that `x + 2^31` does not overflow an `i64`.
pub const MAX_VALUE: i64 = i64::MAX - (1 << 31);
