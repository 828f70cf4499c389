//! The Merkle tree over chunk commitments.
//!
//! - leaf `i`: `Poseidon(TAG_LEAF, i, h_in, h_out)`, so a leaf binds its position and both commitments (a chunk
//!   that reads several boundaries: `Poseidon(TAG_LEAF, i, h_in_0, …, h_in_{a−1}, h_out)`);
//! - inner node: `Poseidon(TAG_NODE, left, right)`;
//! - padding to a power of two: `Poseidon(TAG_PAD)`, a value no chunk's leaf takes (never a copy of a leaf);
//! - root: `Poseidon(TAG_ROOT, n, top)`, so trees with different leaf counts never share a root.

use halo2curves::bn256::Fr;
use halo2curves::ff::PrimeField;
use serde::{Deserialize, Serialize};

use crate::{hash, MerkleError, TAG_LEAF, TAG_NODE, TAG_PAD, TAG_ROOT};

/// One chunk's entry in the tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkLeaf {
    /// The chunk's index in the plan.
    pub index: u64,
    /// Its input commitment (the first, for a chunk that reads several boundaries).
    #[serde(with = "crate::hex")]
    pub h_in: Fr,
    /// Its output commitment.
    #[serde(with = "crate::hex")]
    pub h_out: Fr,
    /// The input commitments after the first of a chunk that reads several boundaries, in instance order; empty
    /// for a chunk of a chain.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "crate::hex::vec"
    )]
    pub more_inputs: Vec<Fr>,
}

impl ChunkLeaf {
    /// The leaf's hash.
    pub fn hash(&self) -> Fr {
        let mut v = vec![Fr::from_u128(TAG_LEAF), Fr::from(self.index), self.h_in];
        v.extend(self.more_inputs.iter().copied());
        v.push(self.h_out);
        hash(&v)
    }
}

/// An inner node.
pub fn node(left: Fr, right: Fr) -> Fr {
    hash(&[Fr::from_u128(TAG_NODE), left, right])
}

/// The padding leaf.
pub fn padding() -> Fr {
    hash(&[Fr::from_u128(TAG_PAD)])
}

fn root_of(leaves: u64, top: Fr) -> Fr {
    hash(&[Fr::from_u128(TAG_ROOT), Fr::from(leaves), top])
}

/// A tree over `n ≥ 1` chunk leaves, padded to a power of two.
#[derive(Clone, Debug)]
pub struct MerkleTree {
    leaves: Vec<ChunkLeaf>,
    /// `levels[0]` are the (padded) leaf hashes; the last level is the single top node.
    levels: Vec<Vec<Fr>>,
    root: Fr,
}

/// The siblings from a leaf up to the top, and what the root binds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionPath {
    /// The leaf's position.
    pub index: u64,
    /// Leaves in the tree (before padding).
    pub leaves: u64,
    /// Sibling hashes, bottom first.
    #[serde(with = "crate::hex::vec")]
    pub siblings: Vec<Fr>,
}

impl MerkleTree {
    /// Builds the tree. Leaves must be given in chunk order; their `index` fields are part of their hashes.
    pub fn new(leaves: Vec<ChunkLeaf>) -> Result<Self, MerkleError> {
        if leaves.is_empty() {
            return Err(MerkleError::Empty);
        }
        let width = leaves.len().next_power_of_two();
        let mut level: Vec<Fr> = leaves.iter().map(ChunkLeaf::hash).collect();
        level.resize(width, padding());
        let mut levels = vec![level];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let next = levels[levels.len() - 1]
                .chunks(2)
                .map(|p| node(p[0], p[1]))
                .collect();
            levels.push(next);
        }
        let top = levels[levels.len() - 1][0];
        let root = root_of(leaves.len() as u64, top);
        Ok(Self {
            leaves,
            levels,
            root,
        })
    }

    /// The root.
    pub fn root(&self) -> Fr {
        self.root
    }

    /// The leaves, in order.
    pub fn leaves(&self) -> &[ChunkLeaf] {
        &self.leaves
    }

    /// The inclusion path of leaf `index`.
    pub fn path(&self, index: usize) -> Result<InclusionPath, MerkleError> {
        if index >= self.leaves.len() {
            return Err(MerkleError::NoLeaf {
                index,
                leaves: self.leaves.len(),
            });
        }
        let mut at = index;
        let mut siblings = Vec::with_capacity(self.levels.len() - 1);
        for level in &self.levels[..self.levels.len() - 1] {
            siblings.push(level[at ^ 1]);
            at /= 2;
        }
        Ok(InclusionPath {
            index: index as u64,
            leaves: self.leaves.len() as u64,
            siblings,
        })
    }
}

impl InclusionPath {
    /// Whether `leaf` sits at this path's position under `root`. The path's length must be the depth a tree
    /// of `leaves` leaves has, and the leaf's own index must be the path's.
    pub fn verify(&self, root: Fr, leaf: &ChunkLeaf) -> bool {
        if self.leaves == 0 || self.index >= self.leaves || leaf.index != self.index {
            return false;
        }
        let depth = self.leaves.next_power_of_two().trailing_zeros() as usize;
        if self.siblings.len() != depth {
            return false;
        }
        let mut acc = leaf.hash();
        let mut at = self.index;
        for s in &self.siblings {
            acc = if at.is_multiple_of(2) {
                node(acc, *s)
            } else {
                node(*s, acc)
            };
            at /= 2;
        }
        root_of(self.leaves, acc) == root
    }
}
