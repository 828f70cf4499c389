#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{create_proof, Circuit, ProvingKey};
use halo2_proofs::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG};
use halo2_proofs::poly::kzg::multiopen::ProverSHPLONK;
use rand::rngs::OsRng;
use snark_verifier_sdk::halo2::{PoseidonTranscript, POSEIDON_SPEC};
use snark_verifier_sdk::NativeLoader;

/// Which prover runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// halo2-axiom on the CPU.
    #[default]
    Cpu,
}

/// Why a proof could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// halo2 refused the witness or the keys (a witness that does not satisfy the circuit, a k too small).
    #[error("proving failed: {0:?}")]
    Halo2(halo2_proofs::plonk::Error),
}

/// Proves `circuit` (a chunk circuit or an aggregation circuit, carrying its witness) with `pk`; `public` are
/// the values of its one instance column. Zero-knowledge blinding uses the operating system's randomness.
pub fn prove<C: Circuit<Fr>>(
    backend: Backend,
    params: &ParamsKZG<Bn256>,
    pk: &ProvingKey<G1Affine>,
    circuit: C,
    public: &[Fr],
) -> Result<Vec<u8>, BackendError> {
    match backend {
        Backend::Cpu => {
            // snark-verifier's Poseidon transcript, so chunk proofs can be aggregated later without changing them.
            let mut transcript = PoseidonTranscript::<NativeLoader, Vec<u8>>::from_spec(
                vec![],
                POSEIDON_SPEC.clone(),
            );
            create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, _, _, _, _>(
                params,
                pk,
                &[circuit],
                &[&[public]],
                OsRng,
                &mut transcript,
            )
            .map_err(BackendError::Halo2)?;
            Ok(transcript.finalize())
        }
    }
}
