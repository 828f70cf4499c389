#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
pub mod hex;
pub mod pack;
pub mod poseidon;
pub mod tree;

pub use error::MerkleError;
pub use halo2curves::bn256::Fr;
pub use pack::{commit, pack, PACK_BITS, PACK_OFFSET, PACK_PER_ELEMENT};
pub use poseidon::{hash, permute, Spec};
pub use tree::{ChunkLeaf, InclusionPath, MerkleTree};

/// A domain tag: the ASCII bytes of `name` (at most 16) read as a big-endian integer.
///
/// Every hash dzk computes starts with one, so a digest of one kind cannot stand for a digest of another.
pub const fn tag(name: &str) -> u128 {
    let b = name.as_bytes();
    assert!(b.len() <= 16, "a tag is at most 16 bytes");
    let mut v = 0u128;
    let mut i = 0;
    while i < b.len() {
        v = (v << 8) | b[i] as u128;
        i += 1;
    }
    v
}

/// Tag of an activation commitment.
pub const TAG_ACT: u128 = tag("dzk/act/v1");
/// Tag of a Merkle leaf (one chunk's commitments).
pub const TAG_LEAF: u128 = tag("dzk/leaf/v1");
/// Tag of an inner Merkle node.
pub const TAG_NODE: u128 = tag("dzk/node/v1");
/// Tag of the padding leaf that fills a tree to a power of two.
pub const TAG_PAD: u128 = tag("dzk/pad/v1");
/// Tag of the root, which also binds the number of leaves.
pub const TAG_ROOT: u128 = tag("dzk/root/v1");
