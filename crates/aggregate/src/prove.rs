//! Keys and proofs of one aggregation node: keygen, the native checks that refuse a bad run at once, the proof,
//! and what tests use to show the circuit refuses what the native checks would.

use dzk_backend::prove_with;
use halo2_base::gates::circuit::CircuitBuilderStage;
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{keygen_pk, keygen_vk, VerifyingKey};
use halo2_proofs::poly::commitment::{Params, ParamsProver};
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use snark_verifier_sdk::halo2::aggregation::{AggregationCircuit, AggregationConfigParams};
use snark_verifier_sdk::halo2::{PoseidonTranscript, POSEIDON_SPEC};
use snark_verifier_sdk::snark_verifier::pcs::kzg::KzgDecidingKey;
use snark_verifier_sdk::snark_verifier::verifier::SnarkVerifier;
use snark_verifier_sdk::{CircuitExt, NativeLoader, PlonkVerifier, Snark, SHPLONK};

use crate::circuit::{circuit, dummies, snark};
use crate::{
    verify, AggregateError, Aggregated, Backend, Child, Node, Shape, Transcript, ACCUMULATOR_LIMBS,
};

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

/// The aggregation circuit of `node` over children with keys `children`, laid out with placeholder proofs, and
/// the configuration it settles (columns per phase, lookup bits) for the SRS `params`.
fn sized(
    params: &ParamsKZG<Bn256>,
    node: Node,
    children: &[ChildKey<'_>],
    shape: &Shape,
) -> Result<(AggregationCircuit, AggregationConfigParams), AggregateError> {
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
    Ok((c, config))
}

/// The configuration of `node`'s aggregation circuit over children with keys `children`: what [`keygen`] settles
/// before it makes the keys (seconds, where the keys take minutes), and what [`broken_copies`] lays out with.
pub fn configure(
    params: &ParamsKZG<Bn256>,
    node: Node,
    children: &[ChildKey<'_>],
    shape: &Shape,
) -> Result<AggregationConfigParams, AggregateError> {
    sized(params, node, children, shape).map(|(_, config)| config)
}

/// Keys for the aggregation circuit of `node` over `children` (in chunk order), with `params` the aggregation SRS
/// (its `k` is the circuit's; the chunks' SRS must be downsized from it, and a node child's is this one).
pub fn keygen(
    params: &ParamsKZG<Bn256>,
    node: Node,
    children: &[ChildKey<'_>],
    shape: &Shape,
) -> Result<Keys, AggregateError> {
    let (c, config) = sized(params, node, children, shape)?;
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
    check_children(keys.node, children, shape)?;
    prove_unchecked_with(params, keys, children, shape, transcript, backend)
}

/// What [`prove_aggregate`] checks before proving, natively: every child proof of `node` verifies (a node child
/// with its accumulator's pairing check), and every link between them holds (consecutive children in a chain,
/// every edge of the plan in a graph-shaped run). The error names the child or the cut. Needs no keys, so a
/// caller can refuse a bad run before the aggregation's keygen.
pub fn check_children(
    node: Node,
    children: &[Child<'_>],
    shape: &Shape,
) -> Result<(), AggregateError> {
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
        return Ok(());
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
    Ok(())
}

/// One node from nothing but its children (in chunk order): the children checked ([`check_children`], before
/// the keys' minutes), the node keyed from their keys, and proven with `transcript` and `backend`. The proving key
/// is dropped on return; the proof carries its verifying key ([`Aggregated::vk`]).
pub fn prove_node(
    params: &ParamsKZG<Bn256>,
    node: Node,
    children: &[Child<'_>],
    shape: &Shape,
    transcript: Transcript,
    backend: Backend,
) -> Result<Aggregated, AggregateError> {
    check_children(node, children, shape)?;
    let keys_in: Vec<ChildKey<'_>> = children
        .iter()
        .map(|c| (c.vk, c.params, c.instances.len()))
        .collect();
    let keys = keygen(params, node, &keys_in, shape)?;
    prove_unchecked_with(params, &keys, children, shape, transcript, backend)
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
    let prover = laid_out(
        CircuitBuilderStage::Prover,
        params,
        (keys.node, keys.config),
        children,
        shape,
    )?
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

/// The aggregation circuit of `node` with configuration `config` and the witness laid out from `children`,
/// checked by nothing. At [`CircuitBuilderStage::Prover`] it holds the witness alone (the constraints are the
/// proving key's); at [`CircuitBuilderStage::Mock`] it also records the copy constraints, as keygen does.
fn laid_out(
    stage: CircuitBuilderStage,
    params: &ParamsKZG<Bn256>,
    (node, config): (Node, AggregationConfigParams),
    children: &[Child<'_>],
    shape: &Shape,
) -> Result<AggregationCircuit, AggregateError> {
    let nodes = node.children_are_nodes();
    let snarks: Vec<Snark> = children.iter().map(|c| snark(c, nodes)).collect();
    // The SDK reads each child proof natively before laying out the circuit and panics on malformed bytes.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        circuit(stage, config, params, node, snarks, shape)
    }))
    .map_err(|_| AggregateError::Shape("a child proof cannot be read".into()))?
}

/// How many of the copy constraints (between two witness cells, or a witness cell and a constant) of `node`'s
/// aggregation circuit with configuration `config` (from [`configure`], no keys needed) the witness that
/// [`prove_unchecked`] would prove from `children` breaks: the circuit laid out as keygen lays it out, every
/// recorded equality checked against the cells' values. A proof of a witness that breaks one cannot verify (the
/// permutation argument); tests use this to show in seconds what a forged proof shows in minutes.
/// (Gates and lookups are not checked here: a forged proof, in `cargo xtask slow`, checks everything.)
#[doc(hidden)]
pub fn broken_copies(
    params: &ParamsKZG<Bn256>,
    (node, config): (Node, AggregationConfigParams),
    children: &[Child<'_>],
    shape: &Shape,
) -> Result<usize, AggregateError> {
    let c = laid_out(
        CircuitBuilderStage::Mock,
        params,
        (node, config),
        children,
        shape,
    )?;
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

/// The public values `node`'s aggregated proof would state for `children` ([`Aggregated::instances`]), from the
/// circuit laid out with configuration `config` (from [`configure`]; no keys): what tests check of the
/// statement's shape in seconds.
#[doc(hidden)]
pub fn public_values(
    params: &ParamsKZG<Bn256>,
    (node, config): (Node, AggregationConfigParams),
    children: &[Child<'_>],
    shape: &Shape,
) -> Result<Vec<Fr>, AggregateError> {
    let c = laid_out(
        CircuitBuilderStage::Mock,
        params,
        (node, config),
        children,
        shape,
    )?;
    Ok(c.instances().concat())
}
