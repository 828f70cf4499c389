//! The verifier's side: aggregation verifying keys rebuilt from trusted inputs, cached as bytes, and the check of
//! an aggregated proof.

use halo2_base::gates::circuit::CircuitBuilderStage;
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{keygen_vk, VerifyingKey};
use halo2_proofs::poly::commitment::{Params, ParamsProver};
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_proofs::SerdeFormat;
use snark_verifier_sdk::halo2::aggregation::{AggregationCircuit, AggregationConfigParams};
use snark_verifier_sdk::halo2::{PoseidonTranscript, POSEIDON_SPEC};
use snark_verifier_sdk::snark_verifier::pcs::kzg::KzgDecidingKey;
use snark_verifier_sdk::snark_verifier::system::halo2::transcript::evm::EvmTranscript;
use snark_verifier_sdk::snark_verifier::system::halo2::{compile, Config};
use snark_verifier_sdk::snark_verifier::verifier::SnarkVerifier;
use snark_verifier_sdk::{CircuitExt, NativeLoader, PlonkVerifier, SHPLONK};

use crate::circuit::{circuit, dummies};
use crate::tree::Step;
use crate::{tree, AggregateError, ChildKey, Node, Shape, Transcript};

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

/// Every node's verifying key of a tree of aggregations ([`aggregate_tree`](crate::aggregate_tree)) over chunks with keys `chunks`,
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
