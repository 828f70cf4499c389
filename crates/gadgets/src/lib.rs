#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod affine;
pub mod clamp;
pub mod cmp;
pub mod dot;
pub mod hash;
pub mod lookup;
pub mod matcheck;
mod num;
pub mod range;
pub mod rescale;
mod slots;

pub use num::{assign_int, fe, AssignedInt, Rows};

/// The scalar field every dzk circuit uses (BN254's Fr).
pub use halo2_proofs::halo2curves::bn256::Fr;
