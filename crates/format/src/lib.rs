#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod envelope;
mod error;
pub mod run;

pub use envelope::{
    Envelope, Header, Kind, FORMAT_MAJOR, FORMAT_MINOR, GRAPH_PLAN_MAJOR, OUTPUT_PARTS_PLAN_MAJOR,
};
pub use error::FormatError;
