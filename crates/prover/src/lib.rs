#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod run;
mod setup;

use dzk_backend::{prove, Backend, BackendError};
use dzk_circuit::ChunkCircuit;
use halo2_proofs::halo2curves::bn256::{Bn256, G1Affine};
use halo2_proofs::plonk::{keygen_pk, keygen_vk_custom, ProvingKey, VerifyingKey};
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// The KZG parameters (SRS) on BN254.
pub type Params = ParamsKZG<Bn256>;

/// Why keys or a proof could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProverError {
    /// Key generation failed (for example, `k` too small for the circuit).
    #[error("key generation failed: {0:?}")]
    Keygen(halo2_proofs::plonk::Error),
    /// The circuit needs a larger `k` than the parameters offer.
    #[error("the circuit needs k = {need}, the parameters have k = {have}")]
    ParamsTooSmall {
        /// k the circuit needs.
        need: u32,
        /// k the parameters have.
        have: u32,
    },
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// A deterministic KZG setup of size `2^k` from `seed`. **Insecure**: whoever knows the seed knows the
/// toxic waste and can forge proofs. For tests and demos only; label everything made with it.
/// The same SRS as halo2's `ParamsKZG::setup` with this seed's ChaCha20 stream, computed with fixed-base windows.
pub fn dev_setup(k: u32, seed: u64) -> ParamsKZG<Bn256> {
    setup::setup(k, ChaCha20Rng::seed_from_u64(seed))
}

/// The verifying and proving keys of `circuit` (its shape and fixed columns; no witness needed).
pub fn keygen(
    params: &ParamsKZG<Bn256>,
    circuit: &ChunkCircuit,
) -> Result<(VerifyingKey<G1Affine>, ProvingKey<G1Affine>), ProverError> {
    use halo2_proofs::poly::commitment::Params;
    let need = circuit.min_k();
    if need > params.k() {
        return Err(ProverError::ParamsTooSmall {
            need,
            have: params.k(),
        });
    }
    let shape = halo2_proofs::plonk::Circuit::without_witnesses(circuit);
    let vk = keygen_vk_custom(params, &shape, true).map_err(ProverError::Keygen)?;
    let pk = keygen_pk(params, vk.clone(), &shape).map_err(ProverError::Keygen)?;
    Ok((vk, pk))
}

/// Proves one chunk: `circuit` must carry its witness (`ChunkCircuit::with_inputs`).
pub fn prove_chunk(
    backend: Backend,
    params: &ParamsKZG<Bn256>,
    pk: &ProvingKey<G1Affine>,
    circuit: ChunkCircuit,
) -> Result<Vec<u8>, ProverError> {
    let public = circuit.instances().to_vec();
    Ok(prove(backend, params, pk, circuit, &public)?)
}
