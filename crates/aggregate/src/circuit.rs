//! The aggregation circuit: snark-verifier-sdk's `AggregationCircuit` over a node's children, with dzk's links
//! between them and the Merkle value computed from their instances.

use dzk_merkle::{TAG_LEAF, TAG_NODE, TAG_PAD, TAG_ROOT};
use halo2_base::gates::circuit::CircuitBuilderStage;
use halo2_base::gates::{GateInstructions, RangeInstructions};
use halo2_base::poseidon::hasher::PoseidonSponge;
use halo2_base::{AssignedValue, Context};
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::plonk::VerifyingKey;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use snark_verifier_sdk::halo2::aggregation::{
    AggregationCircuit, AggregationConfigParams, VerifierUniversality,
};
use snark_verifier_sdk::halo2::gen_dummy_snark_from_vk;
use snark_verifier_sdk::snark_verifier::system::halo2::{compile, Config};
use snark_verifier_sdk::{CircuitExt, Snark, SHPLONK};

use crate::{AggregateError, Child, ChildKey, Node, Shape, ACCUMULATOR_LIMBS};

/// The snark-verifier view of a child: a node's protocol names its accumulator, so the node above folds it into
/// its own (and the final pairing check decides it too).
pub(crate) fn snark(c: &Child<'_>, is_node: bool) -> Snark {
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
pub(crate) fn circuit(
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
    let flat_only = shape.is_graph() || !shape.output_parts.is_empty();
    if flat_only && (node.children_are_nodes() || !node.is_root()) {
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
        if node.children_are_nodes() || shape.output_parts.is_empty() {
            public.extend_from_slice(&last[last.len() - shape.public_outputs..]);
        } else {
            // The parts of a split last layer, each its share (the last values of its instances), in order.
            for (j, inst) in prev.iter().enumerate() {
                let k = shape.outputs_of(node.first + j, node.chunks);
                public.extend_from_slice(&inst[inst.len() - k..]);
            }
        }
    }
    c.builder.assigned_instances[0].extend(public);
    Ok(c)
}

/// Placeholder snarks with the children's keys: what keygen and the verifier lay the circuit out with.
pub(crate) fn dummies(node: Node, children: &[ChildKey<'_>]) -> Vec<Snark> {
    let acc = node
        .children_are_nodes()
        .then(AggregationCircuit::accumulator_indices)
        .flatten();
    children
        .iter()
        .map(|(vk, p, n)| gen_dummy_snark_from_vk::<SHPLONK>(p, vk, vec![*n], acc.clone()))
        .collect()
}
