//! A tree of aggregations over a run, proven level by level.

use halo2_proofs::halo2curves::bn256::Bn256;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use snark_verifier_sdk::halo2::aggregation::AggregationConfigParams;

use crate::{
    prove_node, tree, AggregateError, Aggregated, Backend, Child, Node, Shape, Transcript,
};

/// A run aggregated through a tree ([`aggregate_tree`]): every node's proof, by level (bottom first) and node.
/// The root's proof is the whole run's statement; the verifier needs only it and every node's configuration
/// ([`tree_verifying_keys`](crate::tree_verifying_keys)).
#[derive(Clone, Debug)]
pub struct TreeProof {
    /// Children per node (the `group` of [`tree`]).
    pub group: usize,
    /// The nodes' proofs, shaped like [`tree`]'s levels.
    pub levels: Vec<Vec<Aggregated>>,
}

impl TreeProof {
    /// The root's proof.
    pub fn root(&self) -> &Aggregated {
        &self.levels[self.levels.len() - 1][0]
    }

    /// Each node's circuit configuration, by level and node.
    pub fn configs(&self) -> Vec<Vec<AggregationConfigParams>> {
        self.levels
            .iter()
            .map(|l| l.iter().map(|a| a.config).collect())
            .collect()
    }
}

/// One step of a tree's aggregation or of its verifying key's rebuild, for progress reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// The level (0: the nodes over chunk proofs).
    pub level: usize,
    /// Levels in the tree.
    pub levels: usize,
    /// The node's index in its level.
    pub index: usize,
    /// Nodes in the level.
    pub nodes: usize,
    /// The node.
    pub node: Node,
}

impl Step {
    /// Node `index` of level `level` of `levels`.
    pub(crate) fn of(levels: &[Vec<Node>], level: usize, index: usize) -> Self {
        Self {
            level,
            levels: levels.len(),
            index,
            nodes: levels[level].len(),
            node: levels[level][index],
        }
    }
}

/// Aggregates a run's chunk proofs (in plan order) through the tree of [`tree`]`(chunks.len(), group)`: each node
/// is proven by [`prove_node`] (its children checked natively first, then keyed and proven) and its proving key
/// dropped before the next. `progress` is called before each node. Every proof uses the Poseidon transcript.
pub fn aggregate_tree(
    params: &ParamsKZG<Bn256>,
    chunks: &[Child<'_>],
    group: usize,
    shape: &Shape,
    progress: impl FnMut(Step),
) -> Result<TreeProof, AggregateError> {
    aggregate_tree_with(
        params,
        chunks,
        group,
        shape,
        Transcript::Poseidon,
        Backend::Cpu,
        progress,
    )
}

/// [`aggregate_tree`] with the root's proof made with `root` (the nodes below it always use Poseidon, which
/// the node above verifies in-circuit), every node proven with `backend`.
pub fn aggregate_tree_with(
    params: &ParamsKZG<Bn256>,
    chunks: &[Child<'_>],
    group: usize,
    shape: &Shape,
    root: Transcript,
    backend: Backend,
    mut progress: impl FnMut(Step),
) -> Result<TreeProof, AggregateError> {
    let levels = tree(chunks.len(), group)?;
    let mut proofs: Vec<Vec<Aggregated>> = Vec::with_capacity(levels.len());
    // The level below: its proofs, each with its verifying key (none while the children are the chunk proofs).
    let mut below: Vec<Aggregated> = Vec::new();
    for (l, level) in levels.iter().enumerate() {
        let mut done = Vec::with_capacity(level.len());
        for (i, node) in level.iter().enumerate() {
            progress(Step::of(&levels, l, i));
            let kids = node.children_of(i);
            let children: Vec<Child<'_>> = if l == 0 {
                chunks[kids]
                    .iter()
                    .map(|c| Child {
                        vk: c.vk,
                        params: c.params,
                        instances: c.instances.clone(),
                        proof: c.proof.clone(),
                    })
                    .collect()
            } else {
                below[kids]
                    .iter()
                    .map(|a| Child {
                        vk: &a.vk,
                        params,
                        instances: a.instances.clone(),
                        proof: a.proof.clone(),
                    })
                    .collect()
            };
            let transcript = if node.is_root() {
                root
            } else {
                Transcript::Poseidon
            };
            done.push(prove_node(
                params, *node, &children, shape, transcript, backend,
            )?);
        }
        proofs.push(done.clone());
        below = done;
    }
    Ok(TreeProof {
        group,
        levels: proofs,
    })
}
