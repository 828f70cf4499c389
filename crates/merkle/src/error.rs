//! Errors of the native hashing crate.

/// What can go wrong when packing values or building a tree.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MerkleError {
    /// A value does not fit the packing width.
    #[error("value {value} at position {position} is outside the packable range [-2^27, 2^27)")]
    OutOfRange {
        /// Position in the packed sequence.
        position: usize,
        /// The value.
        value: i64,
    },
    /// A tree needs at least one leaf.
    #[error("a Merkle tree needs at least one leaf")]
    Empty,
    /// A leaf index outside the tree.
    #[error("leaf {index} is outside a tree of {leaves} leaves")]
    NoLeaf {
        /// The index asked for.
        index: usize,
        /// Leaves in the tree.
        leaves: usize,
    },
    /// A field element in text form that is not canonical hex.
    #[error("not a field element: {0}")]
    BadHex(String),
}
