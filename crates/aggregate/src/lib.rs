#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use dzk_backend::BackendError;
pub use dzk_backend::{Backend, Transcript};
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::VerifyingKey;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use snark_verifier_sdk::halo2::aggregation::AggregationConfigParams;

pub use snark_verifier_sdk::halo2::aggregation::AggregationConfigParams as ConfigParams;

mod circuit;
mod prove;
mod tree;
mod verify;

pub use prove::{
    broken_copies, check_children, configure, keygen, prove_aggregate, prove_aggregate_with,
    prove_node, prove_unchecked, prove_unchecked_with, public_values, ChildKey, Keys,
};
pub use tree::{aggregate_tree, aggregate_tree_with, Step, TreeProof};
pub use verify::{
    read_verifying_key, tree_verifying_keys, verify, verify_with, verifying_key,
    verifying_key_bytes,
};

/// Limbs of the KZG accumulator at the start of an aggregated proof's public values.
pub const ACCUMULATOR_LIMBS: usize = 12;

/// Why a run could not be aggregated, or an aggregated proof could not be checked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AggregateError {
    /// Nothing to aggregate, or chunks whose instances do not have the plan's shape.
    #[error("{0}")]
    Shape(String),
    /// Keys could not be made for the aggregation circuit (an SRS too small for it, most often).
    #[error("aggregation keygen failed: {0}")]
    Keygen(String),
    /// The prover refused.
    #[error(transparent)]
    Prove(#[from] BackendError),
}

/// What the aggregated statement exposes besides the chunks: how many public model inputs the first chunk and
/// public model outputs the last chunk carry (after their two commitments).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Shape {
    /// Public model inputs (instances of chunk 0 after `h_in, h_out`).
    pub public_inputs: usize,
    /// Public model outputs (the last instances of the last chunk, or of the chunks [`Self::output_parts`] names).
    pub public_outputs: usize,
    /// For a graph-shaped run (layers split across chunks), the boundaries each chunk reads
    /// (`dzk_format::run::ChunkPlan::reads`: boundary `b ≥ 1` is chunk `b − 1`'s output, 0 the model's inputs), one
    /// input commitment each; empty for a chain, where chunk `i` reads boundary `i`. Only a flat aggregation (one
    /// node over every chunk) takes a graph.
    pub reads: Vec<Vec<u32>>,
    /// When the parts of a split last layer state the model's outputs (`dzk_format::run::Plan::output_join`): the
    /// public outputs of each, the run's last chunks in order (they add up to [`Self::public_outputs`], which the
    /// aggregated proof states in that order, part after part). Empty: the last chunk states them all.
    pub output_parts: Vec<usize>,
}

impl Shape {
    /// The public model outputs chunk `c` of a run of `chunks` chunks carries (the last instances of its proof).
    pub fn outputs_of(&self, c: usize, chunks: usize) -> usize {
        if self.output_parts.is_empty() {
            return if c + 1 == chunks {
                self.public_outputs
            } else {
                0
            };
        }
        let first = chunks.saturating_sub(self.output_parts.len());
        c.checked_sub(first)
            .and_then(|j| self.output_parts.get(j).copied())
            .unwrap_or(0)
    }

    /// The boundaries chunk `c` reads.
    pub fn reads_of(&self, c: usize) -> Vec<u32> {
        self.reads.get(c).cloned().unwrap_or_else(|| vec![c as u32])
    }

    /// Whether the run is graph-shaped.
    pub fn is_graph(&self) -> bool {
        !self.reads.is_empty()
    }
}

/// Where one aggregation sits in the tree of aggregations over a run's `chunks` chunk proofs ([`tree`]).
///
/// A node aggregates up to `slots` children, each standing for `child_span` consecutive chunks: the chunk proofs
/// themselves when `child_span` is 1, else the proofs of nodes one level down. Its chunks start at `first`, a
/// multiple of `child_span · slots`, so the node's subtree is a subtree of the run's Merkle tree
/// (`dzk_merkle::MerkleTree`), and slots past the run's last chunk hold that tree's padding. The root covers the
/// whole padded tree and states the Merkle root itself; every other node states the top of its subtree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node {
    /// Chunks in the run.
    pub chunks: usize,
    /// The first chunk under this node.
    pub first: usize,
    /// Chunks under each child (a power of two; 1 when the children are chunk proofs).
    pub child_span: usize,
    /// Child slots (a power of two).
    pub slots: usize,
}

impl Node {
    /// The one node over all of a run's chunk proofs (the tree of one level).
    pub fn flat(chunks: usize) -> Self {
        Self {
            chunks,
            first: 0,
            child_span: 1,
            slots: chunks.next_power_of_two(),
        }
    }

    /// Whether this node covers the whole run (its proof states the Merkle root).
    pub fn is_root(&self) -> bool {
        self.first == 0 && self.child_span * self.slots == self.chunks.next_power_of_two()
    }

    /// The chunks under this node.
    pub fn chunk_range(&self) -> std::ops::Range<usize> {
        self.first..(self.first + self.child_span * self.slots).min(self.chunks)
    }

    /// The proofs this node aggregates (the slots a chunk falls under).
    pub fn children(&self) -> usize {
        self.chunk_range().len().div_ceil(self.child_span)
    }

    /// Where this node's children are in the level below (the chunks at the bottom), when it is node `index`
    /// of its level.
    pub fn children_of(&self, index: usize) -> std::ops::Range<usize> {
        let at = index * self.slots;
        at..at + self.children()
    }

    /// Whether the children are aggregated proofs (nodes one level down) rather than chunk proofs.
    pub fn children_are_nodes(&self) -> bool {
        self.child_span > 1
    }

    /// The length of this node's public values: accumulator, Merkle value, `h_in`, `h_out`, then the public
    /// model inputs when it covers the first chunk and the public model outputs when it covers the last.
    pub fn instance_len(&self, shape: &Shape) -> usize {
        let r = self.chunk_range();
        ACCUMULATOR_LIMBS
            + 3
            + if r.start == 0 { shape.public_inputs } else { 0 }
            + if r.end == self.chunks {
                shape.public_outputs
            } else {
                0
            }
    }

    /// The instance count child `j` must have.
    fn child_instance_len(&self, j: usize, shape: &Shape) -> usize {
        let first = self.first + j * self.child_span;
        if self.children_are_nodes() {
            Node {
                chunks: self.chunks,
                first,
                child_span: 1,
                slots: self.child_span,
            }
            .instance_len(shape)
        } else {
            let reads = shape.reads_of(first);
            reads.len()
                + 1
                + if reads.contains(&0) {
                    shape.public_inputs
                } else {
                    0
                }
                + shape.outputs_of(first, self.chunks)
        }
    }
}

/// The tree of aggregations over `chunks` chunk proofs with at most `group` children per node (a power of two, at
/// least 2): its levels, bottom first; the last level is the root alone. When the run, padded to a power of two,
/// has at most `group` chunks, the tree is one node over all of them ([`Node::flat`]).
pub fn tree(chunks: usize, group: usize) -> Result<Vec<Vec<Node>>, AggregateError> {
    if chunks == 0 {
        return Err(AggregateError::Shape("no chunk proofs to aggregate".into()));
    }
    if group < 2 || !group.is_power_of_two() {
        return Err(AggregateError::Shape(format!(
            "a node aggregates a power of two of proofs, at least 2 (not {group})"
        )));
    }
    let width = chunks.next_power_of_two();
    let mut levels = Vec::new();
    let mut child_span = 1;
    loop {
        let slots = group.min(width / child_span);
        let span = child_span * slots;
        let level: Vec<Node> = (0..chunks.div_ceil(span))
            .map(|i| Node {
                chunks,
                first: i * span,
                child_span,
                slots,
            })
            .collect();
        levels.push(level);
        if span == width {
            return Ok(levels);
        }
        child_span = span;
    }
}

/// One proof to aggregate: a chunk proof, or the aggregated proof of a node one level down.
pub struct Child<'a> {
    /// Its verifying key.
    pub vk: &'a VerifyingKey<G1Affine>,
    /// The SRS at its `k` (downsized from the aggregation SRS: one trusted setup for all).
    pub params: &'a ParamsKZG<Bn256>,
    /// A chunk's `[h_in, h_out, public inputs…, public outputs…]`, or a node's public values
    /// ([`Node::instance_len`]).
    pub instances: Vec<Fr>,
    /// The proof (SHPLONK, snark-verifier's Poseidon transcript).
    pub proof: Vec<u8>,
}

/// An aggregated proof and what it states.
#[derive(Clone, Debug)]
pub struct Aggregated {
    /// The aggregation circuit's configuration (the verifier rebuilds its verifying key from it).
    pub config: AggregationConfigParams,
    /// Public values: accumulator limbs, Merkle root (a subtree's top below the root), `h_in` of the first
    /// chunk under it, `h_out` of the last, public model inputs, public model outputs.
    pub instances: Vec<Fr>,
    /// The proof.
    pub proof: Vec<u8>,
    /// The transcript it was made with: Poseidon (it can be aggregated again) or Keccak (for the EVM).
    pub transcript: Transcript,
    /// The verifying key it verifies against (the one [`tree_verifying_keys`] rebuilds from the chunks' keys).
    pub vk: VerifyingKey<G1Affine>,
}

impl Aggregated {
    /// The Merkle root the proof states (the top of its subtree for a node below the root).
    pub fn root(&self) -> Fr {
        self.instances[ACCUMULATOR_LIMBS]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(levels: &[Vec<Node>]) -> Vec<Vec<std::ops::Range<usize>>> {
        levels
            .iter()
            .map(|l| l.iter().map(Node::chunk_range).collect())
            .collect()
    }

    #[test]
    fn a_tree_covers_the_run_in_aligned_subtrees_and_ends_in_one_root() {
        // Up to `group` chunks (padded): one node, the flat aggregation.
        let one = tree(3, 4).expect("tree");
        assert_eq!(one, vec![vec![Node::flat(3)]]);
        assert_eq!(tree(1, 2).expect("tree"), vec![vec![Node::flat(1)]]);
        assert!(Node::flat(3).is_root() && Node::flat(1).is_root());
        // 3 chunks, 2 per node: [0, 1] and [2 + padding], then the root over both.
        let t = tree(3, 2).expect("tree");
        assert_eq!(spans(&t), vec![vec![0..2, 2..3], vec![0..3]]);
        assert_eq!(t[0][1].children(), 1);
        assert_eq!(t[1][0].children(), 2);
        assert!(t[1][0].children_are_nodes() && !t[0][0].children_are_nodes());
        assert!(!t[0][0].is_root() && t[1][0].is_root());
        // 5 chunks, 2 per node: the padded width is 8, so three levels; the last subtree of level 1 is chunk 4's
        // node and a padding subtree of two leaves.
        let t = tree(5, 2).expect("tree");
        assert_eq!(
            spans(&t),
            vec![vec![0..2, 2..4, 4..5], vec![0..4, 4..5], vec![0..5]]
        );
        assert_eq!(
            (t[1][1].child_span, t[1][1].slots, t[1][1].children()),
            (2, 2, 1)
        );
        // Where each node's children sit in the level below: node 1 of level 1 takes level 0's node 2.
        assert_eq!(t[1][1].children_of(1), 2..3);
        assert_eq!(t[0][2].children_of(2), 4..5);
        assert_eq!(t[2][0].children_of(0), 0..2);
        // 5 chunks, 4 per node: the root takes the two subtrees of 4 (width 8), not 4 slots.
        let t = tree(5, 4).expect("tree");
        assert_eq!(spans(&t), vec![vec![0..4, 4..5], vec![0..5]]);
        assert_eq!(t[1][0].slots, 2);
        assert!(t[1][0].is_root());
        // Every level's nodes tile the chunks, and every node's subtree is aligned to its width.
        for n in 1..=20 {
            for g in [2, 4, 8] {
                let t = tree(n, g).expect("tree");
                for level in &t {
                    let covered: Vec<usize> = level.iter().flat_map(Node::chunk_range).collect();
                    assert_eq!(covered, (0..n).collect::<Vec<_>>(), "n = {n}, group = {g}");
                    for node in level {
                        assert_eq!(node.first % (node.child_span * node.slots), 0);
                        assert!(node.slots <= g && node.slots.is_power_of_two());
                    }
                }
                let top = t.last().expect("tree");
                assert_eq!(top.len(), 1);
                assert!(top[0].is_root());
                assert!(t[..t.len() - 1]
                    .iter()
                    .flatten()
                    .all(|node| !node.is_root()));
            }
        }
    }

    #[test]
    fn a_tree_needs_chunks_and_a_power_of_two_of_at_least_two_per_node() {
        for (n, g) in [(0, 2), (4, 1), (4, 3), (4, 0)] {
            assert!(tree(n, g).is_err(), "tree({n}, {g})");
        }
    }

    #[test]
    fn a_node_knows_the_instances_of_its_children_and_its_own() {
        let shape = &Shape {
            public_inputs: 3,
            public_outputs: 2,
            reads: Vec::new(),
            output_parts: Vec::new(),
        };
        let t = tree(3, 2).expect("tree");
        // Chunk 0 carries the public inputs, chunk 2 the public outputs.
        assert_eq!(t[0][0].child_instance_len(0, shape), 2 + 3);
        assert_eq!(t[0][0].child_instance_len(1, shape), 2);
        assert_eq!(t[0][1].child_instance_len(0, shape), 2 + 2);
        assert_eq!(t[0][0].instance_len(shape), ACCUMULATOR_LIMBS + 3 + 3);
        assert_eq!(t[0][1].instance_len(shape), ACCUMULATOR_LIMBS + 3 + 2);
        assert_eq!(
            t[1][0].child_instance_len(0, shape),
            t[0][0].instance_len(shape)
        );
        assert_eq!(
            t[1][0].child_instance_len(1, shape),
            t[0][1].instance_len(shape)
        );
        assert_eq!(t[1][0].instance_len(shape), ACCUMULATOR_LIMBS + 3 + 3 + 2);
        // One chunk: it carries both.
        assert_eq!(Node::flat(1).child_instance_len(0, shape), 2 + 3 + 2);
    }
}
