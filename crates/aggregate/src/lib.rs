#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use dzk_backend::{prove, Backend, BackendError};
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Public model inputs (instances of chunk 0 after `h_in, h_out`).
    pub public_inputs: usize,
    /// Public model outputs (the last instances of the last chunk).
    pub public_outputs: usize,
}

/// One chunk proof to aggregate: its verifying key, the SRS downsized to its `k`, its instances and proof.
pub struct ChunkProof<'a> {
    /// The chunk's verifying key.
    pub vk: &'a VerifyingKey<G1Affine>,
    /// The SRS at the chunk's `k` (downsized from the aggregation SRS: one trusted setup for all).
    pub params: &'a ParamsKZG<Bn256>,
    /// `[h_in, h_out, public inputs…, public outputs…]`.
    pub instances: Vec<Fr>,
    /// The chunk proof (SHPLONK, snark-verifier's Poseidon transcript).
    pub proof: Vec<u8>,
}

/// An aggregated proof and what it states.
#[derive(Clone, Debug)]
pub struct Aggregated {
    /// The aggregation circuit's configuration (the verifier rebuilds its verifying key from it).
    pub config: AggregationConfigParams,
    /// Public values: accumulator limbs, root, `h_in` of chunk 0, `h_out` of the last chunk, public model
    /// inputs, public model outputs.
    pub instances: Vec<Fr>,
    /// The proof.
    pub proof: Vec<u8>,
}

impl Aggregated {
    /// The Merkle root the proof states.
    pub fn root(&self) -> Fr {
        self.instances[ACCUMULATOR_LIMBS]
    }
}

fn snark(c: &ChunkProof<'_>) -> Snark {
    let protocol = compile(
        c.params,
        c.vk,
        Config::kzg().with_num_instance(vec![c.instances.len()]),
    );
    Snark::new(protocol, vec![c.instances.clone()], c.proof.clone())
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

/// The aggregation circuit for `snarks` (one per chunk, in plan order): verifies each, constrains
/// `h_out(i) == h_in(i+1)`, recomputes the Merkle root of `dzk_merkle::MerkleTree` from the chunks' `h_in`,
/// `h_out`, and exposes `[accumulator, root, h_in(0), h_out(n−1), public inputs, public outputs]`.
fn circuit(
    stage: CircuitBuilderStage,
    config: AggregationConfigParams,
    params: &ParamsKZG<Bn256>,
    snarks: Vec<Snark>,
    shape: Shape,
) -> Result<AggregationCircuit, AggregateError> {
    let n = snarks.len();
    let want_first = 2 + shape.public_inputs + if n == 1 { shape.public_outputs } else { 0 };
    let want_last = 2 + shape.public_outputs + if n == 1 { shape.public_inputs } else { 0 };
    for (i, s) in snarks.iter().enumerate() {
        let len = s.instances.first().map_or(0, Vec::len);
        let want = if i == 0 {
            want_first
        } else if i == n - 1 {
            want_last
        } else {
            2
        };
        if len != want {
            return Err(AggregateError::Shape(format!(
                "chunk {i} has {len} instances, the plan gives it {want}"
            )));
        }
    }
    if n == 0 {
        return Err(AggregateError::Shape("no chunk proofs to aggregate".into()));
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
    for w in prev.windows(2) {
        ctx.constrain_equal(&w[0][1], &w[1][0]);
    }
    let constant = |ctx: &mut Context<Fr>, v: Fr| ctx.load_constant(v);
    let mut level: Vec<AssignedValue<Fr>> = Vec::with_capacity(n.next_power_of_two());
    for (i, inst) in prev.iter().enumerate() {
        let tag = constant(ctx, Fr::from_u128(TAG_LEAF));
        let idx = constant(ctx, Fr::from(i as u64));
        level.push(hash(ctx, gate, &[tag, idx, inst[0], inst[1]]));
    }
    if level.len() < n.next_power_of_two() {
        let tag = constant(ctx, Fr::from_u128(TAG_PAD));
        let pad = hash(ctx, gate, &[tag]);
        level.resize(n.next_power_of_two(), pad);
    }
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len() / 2);
        for p in level.chunks(2) {
            let tag = constant(ctx, Fr::from_u128(TAG_NODE));
            next.push(hash(ctx, gate, &[tag, p[0], p[1]]));
        }
        level = next;
    }
    let tag = constant(ctx, Fr::from_u128(TAG_ROOT));
    let count = constant(ctx, Fr::from(n as u64));
    let root = hash(ctx, gate, &[tag, count, level[0]]);
    let first = &prev[0];
    let last = &prev[n - 1];
    let mut public = vec![root, first[0], last[1]];
    public.extend_from_slice(&first[2..2 + shape.public_inputs]);
    public.extend_from_slice(&last[last.len() - shape.public_outputs..]);
    c.builder.assigned_instances[0].extend(public);
    Ok(c)
}

/// The aggregation circuit's proving key and layout for one plan's chunks.
pub struct Keys {
    /// The proving key.
    pub pk: halo2_proofs::plonk::ProvingKey<G1Affine>,
    /// The circuit's configuration (recorded in the aggregated proof).
    pub config: AggregationConfigParams,
    breaks: halo2_base::gates::flex_gate::MultiPhaseThreadBreakPoints,
}

/// A chunk's verifying key, the SRS at its `k`, and its number of instances: what the aggregation circuit's
/// keys depend on (not the proofs).
pub type ChunkKey<'a> = (&'a VerifyingKey<G1Affine>, &'a ParamsKZG<Bn256>, usize);

fn dummies(chunks: &[ChunkKey<'_>]) -> Vec<Snark> {
    chunks
        .iter()
        .map(|(vk, p, n)| gen_dummy_snark_from_vk::<SHPLONK>(p, vk, vec![*n], None))
        .collect()
}

/// Keys for the aggregation circuit over `chunks` (in plan order), with `params` the aggregation SRS (its `k`
/// is the circuit's; the chunks' SRS must be downsized from it).
pub fn keygen(
    params: &ParamsKZG<Bn256>,
    chunks: &[ChunkKey<'_>],
    shape: Shape,
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
        dummies(chunks),
        shape,
    )?;
    let config = c.calculate_params(Some(20));
    let vk = keygen_vk(params, &c).map_err(|e| AggregateError::Keygen(format!("{e:?}")))?;
    let pk = keygen_pk(params, vk, &c).map_err(|e| AggregateError::Keygen(format!("{e:?}")))?;
    Ok(Keys {
        pk,
        config,
        breaks: c.break_points(),
    })
}

/// Aggregates every chunk proof of a run (in plan order) with keys from [`keygen`]. Each chunk proof is first
/// verified natively and the links checked, so a bad run is refused at once with the reason; the circuit
/// enforces both again (see [`prove_unchecked`]).
pub fn prove_aggregate(
    params: &ParamsKZG<Bn256>,
    keys: &Keys,
    chunks: &[ChunkProof<'_>],
    shape: Shape,
) -> Result<Aggregated, AggregateError> {
    let dk: KzgDecidingKey<Bn256> = (params.get_g()[0], params.g2(), params.s_g2()).into();
    for (i, c) in chunks.iter().enumerate() {
        let s = snark(c);
        let mut t =
            PoseidonTranscript::<NativeLoader, &[u8]>::from_spec(&c.proof, POSEIDON_SPEC.clone());
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            PlonkVerifier::<SHPLONK>::read_proof(&dk, &s.protocol, &s.instances, &mut t)
                .and_then(|p| PlonkVerifier::<SHPLONK>::verify(&dk, &s.protocol, &s.instances, &p))
                .is_ok()
        }))
        .unwrap_or(false);
        if !ok {
            return Err(AggregateError::Shape(format!(
                "chunk {i}'s proof does not verify"
            )));
        }
    }
    for (i, w) in chunks.windows(2).enumerate() {
        if w[0].instances.get(1) != w[1].instances.first() {
            return Err(AggregateError::Shape(format!(
                "cut {}: chunk {i}'s output commitment differs from chunk {}'s input commitment",
                i + 1,
                i + 1
            )));
        }
    }
    prove_unchecked(params, keys, chunks, shape)
}

/// [`prove_aggregate`] without the native checks: what a cheating aggregator could run. Tests use it to show
/// that the circuit itself refuses broken links and bad chunk proofs (the proof it makes does not verify).
#[doc(hidden)]
pub fn prove_unchecked(
    params: &ParamsKZG<Bn256>,
    keys: &Keys,
    chunks: &[ChunkProof<'_>],
    shape: Shape,
) -> Result<Aggregated, AggregateError> {
    let snarks: Vec<Snark> = chunks.iter().map(snark).collect();
    // The SDK reads each chunk proof natively before laying out the circuit and panics on malformed bytes.
    let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        circuit(
            CircuitBuilderStage::Prover,
            keys.config,
            params,
            snarks,
            shape,
        )
    }))
    .map_err(|_| AggregateError::Shape("a chunk proof cannot be read".into()))??;
    let prover = built.use_break_points(keys.breaks.clone());
    let instances = prover.instances().concat();
    let proof = prove(Backend::Cpu, params, &keys.pk, prover, &instances)?;
    Ok(Aggregated {
        config: keys.config,
        instances,
        proof,
    })
}

/// [`keygen`] then [`prove_aggregate`].
pub fn aggregate(
    params: &ParamsKZG<Bn256>,
    chunks: &[ChunkProof<'_>],
    shape: Shape,
) -> Result<Aggregated, AggregateError> {
    let keys: Vec<ChunkKey<'_>> = chunks
        .iter()
        .map(|c| (c.vk, c.params, c.instances.len()))
        .collect();
    let keys = keygen(params, &keys, shape)?;
    prove_aggregate(params, &keys, chunks, shape)
}

/// The aggregation circuit's verifying key for a run whose chunks have verifying keys `vks` (with the SRS at
/// each chunk's `k`) and instance counts `counts`; rebuilt by the verifier from trusted inputs, never read.
pub fn verifying_key(
    params: &ParamsKZG<Bn256>,
    chunks: &[ChunkKey<'_>],
    config: AggregationConfigParams,
    shape: Shape,
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
        dummies(chunks),
        shape,
    )?;
    keygen_vk(params, &c).map_err(|e| AggregateError::Keygen(format!("{e:?}")))
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
/// on the accumulator it carries (which stands for every chunk proof). `true` when both hold.
pub fn verify(
    params: &ParamsKZG<Bn256>,
    vk: &VerifyingKey<G1Affine>,
    instances: &[Fr],
    proof: &[u8],
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
    let mut transcript =
        PoseidonTranscript::<NativeLoader, &[u8]>::from_spec(proof, POSEIDON_SPEC.clone());
    let Ok(read) =
        PlonkVerifier::<SHPLONK>::read_proof(&dk, &protocol, &instances, &mut transcript)
    else {
        return false;
    };
    PlonkVerifier::<SHPLONK>::verify(&dk, &protocol, &instances, &read).is_ok()
}
