#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod chunk;
mod cost;
mod error;
mod layers;
mod ops;
mod tables;

pub use chunk::{
    ChunkCircuit, ChunkConfig, LayoutParams, Salts, Visibility, MAX_FN_GROUPS, MIN_RANGE_BITS,
};
pub use cost::CostModel;
pub use error::CircuitError;
