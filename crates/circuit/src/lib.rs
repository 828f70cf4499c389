#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod chunk;
mod cost;
mod error;
mod fit;
mod layers;
mod ops;
mod resources;
mod tables;

pub use chunk::{
    ChunkCircuit, ChunkConfig, ChunkIo, InputGroup, LayoutParams, Salts, Visibility, MIN_RANGE_BITS,
};
pub use cost::{CostModel, WIDE_LAYOUT_MEMORY};
pub use error::CircuitError;
pub use fit::{
    function_table_group_rows, layout_cost_at, layout_shape, LayoutShape, MAX_FN_GROUPS,
};
pub use resources::{bytes_text, estimate, Estimate, Limit};
