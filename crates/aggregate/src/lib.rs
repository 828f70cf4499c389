#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use dzk_backend::{prove_with, BackendError};
pub use dzk_backend::{Backend, Transcript};
use dzk_merkle::{TAG_LEAF, TAG_NODE, TAG_PAD, TAG_ROOT};
use halo2_base::gates::circuit::CircuitBuilderStage;
use halo2_base::gates::{GateInstructions, RangeInstructions};
use halo2_base::poseidon::hasher::PoseidonSponge;
use halo2_base::{AssignedValue, Context};
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::plonk::{keygen_pk, keygen_vk, VerifyingKey};
use halo2_proofs::poly::commitment::{Params, ParamsProver};
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_proofs::SerdeFormat;
use snark_verifier_sdk::halo2::aggregation::{
    AggregationCircuit, AggregationConfigParams, VerifierUniversality,
};
use snark_verifier_sdk::halo2::{gen_dummy_snark_from_vk, PoseidonTranscript, POSEIDON_SPEC};
use snark_verifier_sdk::snark_verifier::pcs::kzg::KzgDecidingKey;
use snark_verifier_sdk::snark_verifier::system::halo2::transcript::evm::EvmTranscript;
use snark_verifier_sdk::snark_verifier::system::halo2::{compile, Config};
use snark_verifier_sdk::snark_verifier::verifier::SnarkVerifier;
use snark_verifier_sdk::{CircuitExt, NativeLoader, PlonkVerifier, Snark, SHPLONK};

pub use snark_verifier_sdk::halo2::aggregation::AggregationConfigParams as ConfigParams;

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
    /// Public model outputs (the last instances of the last chunk).
    pub public_outputs: usize,
    /// For a graph-shaped run (layers split across chunks), the boundaries each chunk reads
    /// (`dzk_format::run::ChunkPlan::reads`: boundary `b ≥ 1` is chunk `b − 1`'s output, 0 the model's inputs), one
    /// input commitment each; empty for a chain, where chunk `i` reads boundary `i`. Only a flat aggregation (one
    /// node over every chunk) takes a graph.
    pub reads: Vec<Vec<u32>>,
}

impl Shape {
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
                + if first + 1 == self.chunks {
                    shape.public_outputs
                } else {
                    0
                }
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

/// The snark-verifier view of a child: a node's protocol names its accumulator, so the node above folds it into
/// its own (and the final pairing check decides it too).
fn snark(c: &Child<'_>, is_node: bool) -> Snark {
    Snark::new(
        protocol(c.params, c.vk, c.instances.len(), is_node),
        vec![c.instances.clone()],
        c.proof.clone(),
    )
}

fn protocol(
    params: &ParamsKZG<Bn256>,
    vk: &VerifyingKey<G1Affine>,
    instances: usize,
    is_node: bool,
) -> snark_verifier_sdk::snark_verifier::verifier::plonk::PlonkProtocol<G1Affine> {
    let config = Config::kzg().with_num_instance(vec![instances]);
    let config = if is_node {
        config.with_accumulator_indices(AggregationCircuit::accumulator_indices())
    } else {
        config
    };
    compile(params, vk, config)
}

/// Poseidon of `inputs` in-circuit, the same sponge as `dzk_merkle::hash`.
fn hash(
    ctx: &mut Context<Fr>,
    gate: &impl GateInstructions<Fr>,
    inputs: &[AssignedValue<Fr>],
) -> AssignedValue<Fr> {
    let mut sponge = PoseidonSponge::<Fr, 3, 2>::new::<8, 57, 0>(ctx);
    sponge.update(inputs);
    sponge.squeeze(ctx, gate)
}

/// The aggregation circuit of `node` over `snarks` (its children, in chunk order): verifies each, constrains
/// `h_out` of each child to `h_in` of the next, recomputes the node's Merkle subtree from the children's values
/// (chunk leaves from their `h_in`, `h_out` and position; a node child's stated top), and exposes
/// `[accumulator, root or top, h_in, h_out, public inputs, public outputs]`.
fn circuit(
    stage: CircuitBuilderStage,
    config: AggregationConfigParams,
    params: &ParamsKZG<Bn256>,
    node: Node,
    snarks: Vec<Snark>,
    shape: &Shape,
) -> Result<AggregationCircuit, AggregateError> {
    let n = snarks.len();
    if n == 0 {
        return Err(AggregateError::Shape("no proofs to aggregate".into()));
    }
    if n != node.children() {
        return Err(AggregateError::Shape(format!(
            "{n} proofs given, the node over chunks {:?} aggregates {}",
            node.chunk_range(),
            node.children()
        )));
    }
    if shape.is_graph() && (node.children_are_nodes() || !node.is_root()) {
        return Err(AggregateError::Shape(
            "a graph-shaped run (layers split across chunks) is aggregated by one node over every chunk, not \
             through a tree"
                .into(),
        ));
    }
    let what = if node.children_are_nodes() {
        "aggregated proof"
    } else {
        "chunk"
    };
    for (j, s) in snarks.iter().enumerate() {
        let len = s.instances.first().map_or(0, Vec::len);
        let want = node.child_instance_len(j, shape);
        if len != want {
            return Err(AggregateError::Shape(format!(
                "{what} {} has {len} instances, the plan gives it {want}",
                if node.children_are_nodes() {
                    j
                } else {
                    node.first + j
                }
            )));
        }
    }
    let mut c = AggregationCircuit::new::<SHPLONK>(
        stage,
        config,
        params,
        snarks,
        VerifierUniversality::None,
    );
    let prev: Vec<Vec<AssignedValue<Fr>>> = c.previous_instances().clone();
    let range = c.builder.range_chip();
    let gate = range.gate();
    let ctx = c.builder.main(0);
    // A child's fields: its Merkle value (a node's), h_in, h_out, then the public inputs/outputs it carries.
    let (at_in, at_out, at_extra) = if node.children_are_nodes() {
        (
            ACCUMULATOR_LIMBS + 1,
            ACCUMULATOR_LIMBS + 2,
            ACCUMULATOR_LIMBS + 3,
        )
    } else {
        (0, 1, 2)
    };
    if shape.is_graph() {
        // Every edge: the commitment chunk c states for boundary b ≥ 1 is h_out(b − 1); the readers of the model's
        // inputs (boundary 0) state chunk 0's commitment and public inputs.
        for (c, inst) in prev.iter().enumerate() {
            for (g, &b) in shape.reads_of(c).iter().enumerate() {
                if b == 0 {
                    if c > 0 {
                        ctx.constrain_equal(&prev[0][0], &inst[g]);
                        let at = shape.reads_of(c).len() + 1;
                        for i in 0..shape.public_inputs {
                            ctx.constrain_equal(&prev[0][2 + i], &inst[at + i]);
                        }
                    }
                } else {
                    let p = b as usize - 1;
                    let out = shape.reads_of(p).len();
                    ctx.constrain_equal(&prev[p][out], &inst[g]);
                }
            }
        }
    } else {
        for w in prev.windows(2) {
            ctx.constrain_equal(&w[0][at_out], &w[1][at_in]);
        }
    }
    let constant = |ctx: &mut Context<Fr>, v: Fr| ctx.load_constant(v);
    let mut level: Vec<AssignedValue<Fr>> = Vec::with_capacity(node.slots);
    for (j, inst) in prev.iter().enumerate() {
        if node.children_are_nodes() {
            level.push(inst[ACCUMULATOR_LIMBS]);
        } else {
            let tag = constant(ctx, Fr::from_u128(TAG_LEAF));
            let idx = constant(ctx, Fr::from((node.first + j) as u64));
            // (i, h_in…, h_out): one input commitment per boundary the chunk reads.
            let g = shape.reads_of(node.first + j).len();
            let mut leaf = vec![tag, idx];
            leaf.extend_from_slice(&inst[..=g]);
            level.push(hash(ctx, gate, &leaf));
        }
    }
    if level.len() < node.slots {
        // A padding subtree as tall as a child's: the padding leaf, hashed up.
        let tag = constant(ctx, Fr::from_u128(TAG_PAD));
        let mut pad = hash(ctx, gate, &[tag]);
        for _ in 0..node.child_span.trailing_zeros() {
            let tag = constant(ctx, Fr::from_u128(TAG_NODE));
            pad = hash(ctx, gate, &[tag, pad, pad]);
        }
        level.resize(node.slots, pad);
    }
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len() / 2);
        for p in level.chunks(2) {
            let tag = constant(ctx, Fr::from_u128(TAG_NODE));
            next.push(hash(ctx, gate, &[tag, p[0], p[1]]));
        }
        level = next;
    }
    let value = if node.is_root() {
        let tag = constant(ctx, Fr::from_u128(TAG_ROOT));
        let count = constant(ctx, Fr::from(node.chunks as u64));
        hash(ctx, gate, &[tag, count, level[0]])
    } else {
        level[0]
    };
    let first = &prev[0];
    let last = &prev[n - 1];
    // A chunk child's h_out follows its input commitments (one in a chain).
    let (at_out, at_extra) = if node.children_are_nodes() {
        (at_out, at_extra)
    } else {
        let g = shape.reads_of(node.first).len();
        (shape.reads_of(node.first + n - 1).len(), g + 1)
    };
    let mut public = vec![value, first[at_in], last[at_out]];
    let range = node.chunk_range();
    if range.start == 0 {
        public.extend_from_slice(&first[at_extra..at_extra + shape.public_inputs]);
    }
    if range.end == node.chunks {
        public.extend_from_slice(&last[last.len() - shape.public_outputs..]);
    }
    c.builder.assigned_instances[0].extend(public);
    Ok(c)
}

/// An aggregation node's proving key and layout.
pub struct Keys {
    /// The proving key.
    pub pk: halo2_proofs::plonk::ProvingKey<G1Affine>,
    /// The circuit's configuration (recorded in the aggregated proof).
    pub config: AggregationConfigParams,
    /// The node the keys are for.
    pub node: Node,
    breaks: halo2_base::gates::flex_gate::MultiPhaseThreadBreakPoints,
}

/// A child's verifying key, the SRS at its `k`, and its number of instances: what a node's keys depend on (not
/// the proofs).
pub type ChildKey<'a> = (&'a VerifyingKey<G1Affine>, &'a ParamsKZG<Bn256>, usize);

fn dummies(node: Node, children: &[ChildKey<'_>]) -> Vec<Snark> {
    let acc = node
        .children_are_nodes()
        .then(AggregationCircuit::accumulator_indices)
        .flatten();
    children
        .iter()
        .map(|(vk, p, n)| gen_dummy_snark_from_vk::<SHPLONK>(p, vk, vec![*n], acc.clone()))
        .collect()
}

/// Keys for the aggregation circuit of `node` over `children` (in chunk order), with `params` the aggregation SRS
/// (its `k` is the circuit's; the chunks' SRS must be downsized from it, and a node child's is this one).
pub fn keygen(
    params: &ParamsKZG<Bn256>,
    node: Node,
    children: &[ChildKey<'_>],
    shape: &Shape,
) -> Result<Keys, AggregateError> {
    let k = params.k();
    let start = AggregationConfigParams {
        degree: k,
        lookup_bits: k as usize - 1,
        ..Default::default()
    };
    let mut c = circuit(
        CircuitBuilderStage::Keygen,
        start,
        params,
        node,
        dummies(node, children),
        shape,
    )?;
    let config = c.calculate_params(Some(20));
    let vk = keygen_vk(params, &c).map_err(|e| AggregateError::Keygen(format!("{e:?}")))?;
    let pk = keygen_pk(params, vk, &c).map_err(|e| AggregateError::Keygen(format!("{e:?}")))?;
    Ok(Keys {
        pk,
        config,
        node,
        breaks: c.break_points(),
    })
}

/// Whether a child proof verifies natively: a chunk proof on its own, a node's proof with its accumulator's
/// pairing check (which stands for everything below it).
fn child_verifies(c: &Child<'_>, is_node: bool) -> bool {
    if is_node {
        return verify(c.params, c.vk, &c.instances, &c.proof);
    }
    let params = c.params;
    let dk: KzgDecidingKey<Bn256> = (params.get_g()[0], params.g2(), params.s_g2()).into();
    let s = snark(c, false);
    let mut t =
        PoseidonTranscript::<NativeLoader, &[u8]>::from_spec(&c.proof, POSEIDON_SPEC.clone());
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        PlonkVerifier::<SHPLONK>::read_proof(&dk, &s.protocol, &s.instances, &mut t)
            .and_then(|p| PlonkVerifier::<SHPLONK>::verify(&dk, &s.protocol, &s.instances, &p))
            .is_ok()
    }))
    .unwrap_or(false)
}

/// Aggregates a node's children (in chunk order) with keys from [`keygen`]. Each child proof is first verified
/// natively and the links checked, so a bad run is refused at once with the reason; the circuit enforces both
/// again (see [`prove_unchecked`]). The proof uses the Poseidon transcript, so it can be aggregated again.
pub fn prove_aggregate(
    params: &ParamsKZG<Bn256>,
    keys: &Keys,
    children: &[Child<'_>],
    shape: &Shape,
) -> Result<Aggregated, AggregateError> {
    prove_aggregate_with(
        params,
        keys,
        children,
        shape,
        Transcript::Poseidon,
        Backend::Cpu,
    )
}

/// [`prove_aggregate`] with the given transcript ([`Transcript::Keccak`] for a root proof to be checked by an
/// EVM contract, `dzk_evm`) and prover.
pub fn prove_aggregate_with(
    params: &ParamsKZG<Bn256>,
    keys: &Keys,
    children: &[Child<'_>],
    shape: &Shape,
    transcript: Transcript,
    backend: Backend,
) -> Result<Aggregated, AggregateError> {
    let node = keys.node;
    let nodes = node.children_are_nodes();
    let name = |j: usize| {
        if nodes {
            let r = Node {
                first: node.first + j * node.child_span,
                child_span: 1,
                slots: node.child_span,
                ..node
            }
            .chunk_range();
            format!("the aggregated proof of chunks {}..{}", r.start, r.end)
        } else {
            format!("chunk {}", node.first + j)
        }
    };
    for (j, c) in children.iter().enumerate() {
        if !child_verifies(c, nodes) {
            return Err(AggregateError::Shape(format!(
                "{}'s proof does not verify",
                name(j)
            )));
        }
    }
    if shape.is_graph() && !nodes {
        for (c, child) in children.iter().enumerate() {
            for (g, &b) in shape.reads_of(c).iter().enumerate() {
                let (from, at) = if b == 0 {
                    (0, 0)
                } else {
                    (b as usize - 1, shape.reads_of(b as usize - 1).len())
                };
                if c != from && children[from].instances.get(at) != child.instances.get(g) {
                    return Err(AggregateError::Shape(if b == 0 {
                        format!(
                            "chunks 0 and {c} read the model's inputs under different commitments"
                        )
                    } else {
                        format!(
                            "cut {b}: chunk {from}'s output commitment differs from chunk {c}'s input commitment"
                        )
                    }));
                }
            }
        }
        return prove_unchecked_with(params, keys, children, shape, transcript, backend);
    }
    let (at_in, at_out) = if nodes {
        (ACCUMULATOR_LIMBS + 1, ACCUMULATOR_LIMBS + 2)
    } else {
        (0, 1)
    };
    for (j, w) in children.windows(2).enumerate() {
        if w[0].instances.get(at_out) != w[1].instances.get(at_in) {
            let cut = node.first + (j + 1) * node.child_span;
            return Err(AggregateError::Shape(format!(
                "cut {cut}: {}'s output commitment differs from {}'s input commitment",
                name(j),
                name(j + 1)
            )));
        }
    }
    prove_unchecked_with(params, keys, children, shape, transcript, backend)
}

/// [`prove_aggregate`] without the native checks: what a cheating aggregator could run. Tests use it to show
/// that the circuit itself refuses broken links and bad child proofs (the proof it makes does not verify).
#[doc(hidden)]
pub fn prove_unchecked(
    params: &ParamsKZG<Bn256>,
    keys: &Keys,
    children: &[Child<'_>],
    shape: &Shape,
) -> Result<Aggregated, AggregateError> {
    prove_unchecked_with(
        params,
        keys,
        children,
        shape,
        Transcript::Poseidon,
        Backend::Cpu,
    )
}

/// [`prove_unchecked`] with the given transcript and prover.
#[doc(hidden)]
pub fn prove_unchecked_with(
    params: &ParamsKZG<Bn256>,
    keys: &Keys,
    children: &[Child<'_>],
    shape: &Shape,
    transcript: Transcript,
    backend: Backend,
) -> Result<Aggregated, AggregateError> {
    let prover = laid_out(CircuitBuilderStage::Prover, params, keys, children, shape)?
        .use_break_points(keys.breaks.clone());
    let instances = prover.instances().concat();
    let proof = prove_with(backend, params, &keys.pk, prover, &instances, transcript)?;
    Ok(Aggregated {
        config: keys.config,
        instances,
        proof,
        transcript,
        vk: keys.pk.get_vk().clone(),
    })
}

/// The aggregation circuit of `keys`' node with the witness laid out from `children`, checked by nothing. At
/// [`CircuitBuilderStage::Prover`] it holds the witness alone (the constraints are the proving key's); at
/// [`CircuitBuilderStage::Mock`] it also records the copy constraints, as keygen does.
fn laid_out(
    stage: CircuitBuilderStage,
    params: &ParamsKZG<Bn256>,
    keys: &Keys,
    children: &[Child<'_>],
    shape: &Shape,
) -> Result<AggregationCircuit, AggregateError> {
    let nodes = keys.node.children_are_nodes();
    let snarks: Vec<Snark> = children.iter().map(|c| snark(c, nodes)).collect();
    // The SDK reads each child proof natively before laying out the circuit and panics on malformed bytes.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        circuit(stage, keys.config, params, keys.node, snarks, shape)
    }))
    .map_err(|_| AggregateError::Shape("a child proof cannot be read".into()))?
}

/// How many of the circuit's copy constraints (between two witness cells, or a witness cell and a constant) the
/// witness that [`prove_unchecked`] would prove from `children` breaks: the circuit laid out as keygen lays it
/// out, every recorded equality checked against the cells' values. A proof of a witness that breaks one cannot
/// verify (the permutation argument); tests use this to show in seconds what a forged proof shows in minutes.
/// (Gates and lookups are not checked here: a forged proof, in `cargo xtask slow`, checks everything.)
#[doc(hidden)]
pub fn broken_copies(
    params: &ParamsKZG<Bn256>,
    keys: &Keys,
    children: &[Child<'_>],
    shape: &Shape,
) -> Result<usize, AggregateError> {
    let c = laid_out(CircuitBuilderStage::Mock, params, keys, children, shape)?;
    let core = c.builder.core();
    let threads: std::collections::HashMap<_, _> = core
        .phase_manager
        .iter()
        .flat_map(|p| &p.threads)
        .map(|t| (t.tag(), t))
        .collect();
    let value = |cell: &halo2_base::ContextCell| -> Result<Fr, AggregateError> {
        threads
            .get(&(cell.type_id, cell.context_id))
            .and_then(|t| t.advice.get(cell.offset))
            .map(|a| a.evaluate())
            .ok_or_else(|| {
                AggregateError::Shape(format!("a copy constraint names an unknown cell {cell:?}"))
            })
    };
    let copies = core
        .copy_manager
        .lock()
        .map_err(|_| AggregateError::Shape("the copy constraints cannot be read".into()))?;
    let mut broken = 0;
    for (a, b) in &copies.advice_equalities {
        broken += usize::from(value(a)? != value(b)?);
    }
    for (constant, cell) in &copies.constant_equalities {
        broken += usize::from(value(cell)? != *constant);
    }
    Ok(broken)
}

/// A run aggregated through a tree ([`aggregate_tree`]): every node's proof, by level (bottom first) and node.
/// The root's proof is the whole run's statement; the verifier needs only it and every node's configuration
/// ([`tree_verifying_keys`]).
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
    fn of(levels: &[Vec<Node>], level: usize, index: usize) -> Self {
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
/// is keyed, proven (its children verified natively first, as [`prove_aggregate`] does) and its proving key
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
    // The level below: its verifying keys and proofs (none while the children are the chunk proofs).
    let mut below: Vec<(VerifyingKey<G1Affine>, Aggregated)> = Vec::new();
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
                    .map(|(vk, a)| Child {
                        vk,
                        params,
                        instances: a.instances.clone(),
                        proof: a.proof.clone(),
                    })
                    .collect()
            };
            let ks: Vec<ChildKey<'_>> = children
                .iter()
                .map(|c| (c.vk, c.params, c.instances.len()))
                .collect();
            let keys = keygen(params, *node, &ks, shape)?;
            let transcript = if node.is_root() {
                root
            } else {
                Transcript::Poseidon
            };
            let agg = prove_aggregate_with(params, &keys, &children, shape, transcript, backend)?;
            done.push((keys.pk.get_vk().clone(), agg));
        }
        proofs.push(done.iter().map(|(_, a)| a.clone()).collect());
        below = done;
    }
    Ok(TreeProof {
        group,
        levels: proofs,
    })
}

/// The verifying key of `node`'s aggregation circuit with configuration `config`, over children with keys
/// `children` (their verifying keys, SRS at their `k`, instance counts); rebuilt by the verifier from trusted
/// inputs, never read.
pub fn verifying_key(
    params: &ParamsKZG<Bn256>,
    node: Node,
    children: &[ChildKey<'_>],
    config: AggregationConfigParams,
    shape: &Shape,
) -> Result<VerifyingKey<G1Affine>, AggregateError> {
    if config.degree != params.k() {
        return Err(AggregateError::Shape(format!(
            "the proof's aggregation circuit has k = {}, the SRS k = {}",
            config.degree,
            params.k()
        )));
    }
    let c = circuit(
        CircuitBuilderStage::Keygen,
        config,
        params,
        node,
        dummies(node, children),
        shape,
    )?;
    keygen_vk(params, &c).map_err(|e| AggregateError::Keygen(format!("{e:?}")))
}

/// Every node's verifying key of a tree of aggregations ([`aggregate_tree`]) over chunks with keys `chunks`,
/// by level (bottom first; the last is the root's alone), rebuilt bottom up from the chunk keys and each node's
/// recorded configuration; `progress` is called before each node. Refuses configurations that do not match the
/// tree's shape.
pub fn tree_verifying_keys(
    params: &ParamsKZG<Bn256>,
    chunks: &[ChildKey<'_>],
    group: usize,
    configs: &[Vec<AggregationConfigParams>],
    shape: &Shape,
    mut progress: impl FnMut(Step),
) -> Result<Vec<Vec<VerifyingKey<G1Affine>>>, AggregateError> {
    let levels = tree(chunks.len(), group)?;
    let counts: Vec<usize> = levels.iter().map(Vec::len).collect();
    let given: Vec<usize> = configs.iter().map(Vec::len).collect();
    if counts != given {
        return Err(AggregateError::Shape(format!(
            "the tree over {} chunks with {group} per node has nodes {counts:?} by level, the proof records \
             configurations for {given:?}",
            chunks.len()
        )));
    }
    let mut keys: Vec<Vec<VerifyingKey<G1Affine>>> = Vec::with_capacity(levels.len());
    for (l, level) in levels.iter().enumerate() {
        let mut done = Vec::with_capacity(level.len());
        for (i, node) in level.iter().enumerate() {
            progress(Step::of(&levels, l, i));
            let kids = node.children_of(i);
            let ks: Vec<ChildKey<'_>> = if l == 0 {
                chunks[kids].to_vec()
            } else {
                let below = &levels[l - 1];
                keys[l - 1][kids.clone()]
                    .iter()
                    .zip(&below[kids])
                    .map(|(vk, child)| (vk, params, child.instance_len(shape)))
                    .collect()
            };
            done.push(verifying_key(params, *node, &ks, configs[l][i], shape)?);
        }
        keys.push(done);
    }
    Ok(keys)
}

/// An aggregation verifying key's bytes (halo2's raw format), for an auditor's cache: see
/// [`read_verifying_key`].
pub fn verifying_key_bytes(vk: &VerifyingKey<G1Affine>) -> Vec<u8> {
    vk.to_bytes(SerdeFormat::RawBytes)
}

/// Reads bytes from [`verifying_key_bytes`] back for the aggregation circuit with configuration `config`,
/// refusing (not panicking on) malformed bytes. The caller must know where the bytes came from: a verifying
/// key decides what verifies, so only a key this machine rebuilt itself from trusted inputs may be cached.
pub fn read_verifying_key(
    bytes: &[u8],
    config: AggregationConfigParams,
) -> Result<VerifyingKey<G1Affine>, String> {
    let res = std::panic::catch_unwind(|| {
        VerifyingKey::<G1Affine>::read::<_, AggregationCircuit>(
            &mut &bytes[..],
            SerdeFormat::RawBytes,
            config,
        )
    });
    match res {
        Ok(Ok(vk)) => Ok(vk),
        Ok(Err(e)) => Err(format!("not an aggregation verifying key: {e}")),
        Err(_) => Err("not an aggregation verifying key (malformed)".into()),
    }
}

/// Checks an aggregated proof against the aggregation verifying key: the outer proof and the pairing check
/// on the accumulator it carries (which stands for every chunk proof). `true` when both hold. The proof must
/// use the Poseidon transcript (see [`verify_with`]).
pub fn verify(
    params: &ParamsKZG<Bn256>,
    vk: &VerifyingKey<G1Affine>,
    instances: &[Fr],
    proof: &[u8],
) -> bool {
    verify_with(params, vk, instances, proof, Transcript::Poseidon)
}

/// [`verify`] for a proof made with `transcript`. A proof read with the other transcript does not verify.
pub fn verify_with(
    params: &ParamsKZG<Bn256>,
    vk: &VerifyingKey<G1Affine>,
    instances: &[Fr],
    proof: &[u8],
    transcript: Transcript,
) -> bool {
    let protocol = compile(
        params,
        vk,
        Config::kzg()
            .with_num_instance(vec![instances.len()])
            .with_accumulator_indices(AggregationCircuit::accumulator_indices()),
    );
    let dk: KzgDecidingKey<Bn256> = (params.get_g()[0], params.g2(), params.s_g2()).into();
    let instances = vec![instances.to_vec()];
    // snark-verifier asserts on some malformed proofs (a point off the curve) rather than returning an error.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let read = match transcript {
            Transcript::Poseidon => {
                let mut t = PoseidonTranscript::<NativeLoader, &[u8]>::from_spec(
                    proof,
                    POSEIDON_SPEC.clone(),
                );
                PlonkVerifier::<SHPLONK>::read_proof(&dk, &protocol, &instances, &mut t)
            }
            Transcript::Keccak => {
                let mut t = EvmTranscript::<G1Affine, NativeLoader, &[u8], Vec<u8>>::new(proof);
                PlonkVerifier::<SHPLONK>::read_proof(&dk, &protocol, &instances, &mut t)
            }
        };
        read.and_then(|p| PlonkVerifier::<SHPLONK>::verify(&dk, &protocol, &instances, &p))
            .is_ok()
    }))
    .unwrap_or(false)
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
