#![doc = include_str!("../README.md")]
// `unsafe` only in the driver probe (src/device.rs), which says why each use is sound.
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod device;
#[cfg(feature = "gpu")]
mod gpu;

use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{create_proof, Circuit, ProvingKey};
use halo2_proofs::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG};
use halo2_proofs::poly::kzg::multiopen::ProverSHPLONK;
use halo2_proofs::transcript::{EncodedChallenge, TranscriptWrite, TranscriptWriterBuffer};
use rand::rngs::OsRng;
use snark_verifier_sdk::halo2::{PoseidonTranscript, POSEIDON_SPEC};
use snark_verifier_sdk::snark_verifier::system::halo2::transcript::evm::EvmTranscript;
use snark_verifier_sdk::NativeLoader;

/// Which prover runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// halo2-axiom on the CPU.
    #[default]
    Cpu,
    /// halo2-axiom-gpu (CUDA), in a build with the `gpu` feature ([`GPU_BUILT`]); elsewhere proving with it
    /// is [`BackendError::GpuNotBuilt`].
    Gpu,
}

impl Backend {
    /// `cpu` or `gpu`, as `--json` output says it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Gpu => "gpu",
        }
    }
}

/// Whether this build has the CUDA prover (feature `gpu`: the `dzk-gpu` binary).
pub const GPU_BUILT: bool = cfg!(feature = "gpu");

/// The GPU architectures the CUDA prover was compiled for (`CUDA_ARCH` when it was built), in a build with it.
pub fn gpu_arch() -> Option<&'static str> {
    #[cfg(feature = "gpu")]
    return gpu::CUDA_ARCH;
    #[cfg(not(feature = "gpu"))]
    None
}

/// Whether [`Backend::Gpu`] can prove here: in a build with the CUDA prover, starts its device context (what the
/// first proof would do) and returns the device; otherwise, or when the context fails, why not.
pub fn gpu_ready() -> Result<device::Device, String> {
    #[cfg(feature = "gpu")]
    return gpu::ready();
    #[cfg(not(feature = "gpu"))]
    Err(BackendError::GpuNotBuilt.to_string())
}

/// The Fiat–Shamir transcript a proof is made with. The verifier must read it with the same one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transcript {
    /// snark-verifier's Poseidon transcript: cheap to verify inside a circuit, so the proof can be aggregated.
    /// Every chunk proof and every aggregation below the root uses it.
    #[default]
    Poseidon,
    /// Keccak-256, as the EVM computes it: cheap to verify in a Solidity contract, costly in a circuit. Only
    /// a root aggregation meant for on-chain verification uses it.
    Keccak,
}

impl Transcript {
    /// The name an envelope's body encoding carries after `halo2-shplonk-`.
    pub fn name(self) -> &'static str {
        match self {
            Transcript::Poseidon => "poseidon",
            Transcript::Keccak => "keccak",
        }
    }
}

/// Why a proof could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// halo2 refused the witness or the keys (a witness that does not satisfy the circuit, a k too small).
    #[error("proving failed: {0:?}")]
    Halo2(halo2_proofs::plonk::Error),
    /// [`Backend::Gpu`] in a build without the CUDA prover.
    #[error(
        "this binary has no GPU prover (the GPU prover is the dzk-gpu binary: cargo xtask gpu)"
    )]
    GpuNotBuilt,
    /// The CUDA prover failed.
    #[error("GPU proving failed: {0}")]
    Gpu(String),
}

/// Proves `circuit` (a chunk circuit or an aggregation circuit, carrying its witness) with `pk`; `public` are
/// the values of its one instance column. Zero-knowledge blinding uses the operating system's randomness.
/// The transcript is snark-verifier's Poseidon one ([`Transcript::Poseidon`]).
pub fn prove<C: Circuit<Fr>>(
    backend: Backend,
    params: &ParamsKZG<Bn256>,
    pk: &ProvingKey<G1Affine>,
    circuit: C,
    public: &[Fr],
) -> Result<Vec<u8>, BackendError> {
    prove_with(backend, params, pk, circuit, public, Transcript::Poseidon)
}

/// [`prove`] with the given transcript.
pub fn prove_with<C: Circuit<Fr>>(
    backend: Backend,
    params: &ParamsKZG<Bn256>,
    pk: &ProvingKey<G1Affine>,
    circuit: C,
    public: &[Fr],
    transcript: Transcript,
) -> Result<Vec<u8>, BackendError> {
    match transcript {
        Transcript::Poseidon => {
            let mut t = PoseidonTranscript::<NativeLoader, Vec<u8>>::from_spec(
                vec![],
                POSEIDON_SPEC.clone(),
            );
            with(backend, params, pk, circuit, public, &mut t)?;
            Ok(t.finalize())
        }
        Transcript::Keccak => {
            let mut t = EvmTranscript::<G1Affine, NativeLoader, Vec<u8>, Vec<u8>>::init(vec![]);
            with(backend, params, pk, circuit, public, &mut t)?;
            Ok(t.finalize())
        }
    }
}

/// Proves with `backend`, writing into `transcript`.
fn with<C, E, T>(
    backend: Backend,
    params: &ParamsKZG<Bn256>,
    pk: &ProvingKey<G1Affine>,
    circuit: C,
    public: &[Fr],
    transcript: &mut T,
) -> Result<(), BackendError>
where
    C: Circuit<Fr>,
    E: EncodedChallenge<G1Affine>,
    T: TranscriptWrite<G1Affine, E>,
{
    match backend {
        Backend::Cpu => cpu(params, pk, circuit, public, transcript),
        #[cfg(feature = "gpu")]
        Backend::Gpu => gpu::prove(params, pk, circuit, public, transcript),
        #[cfg(not(feature = "gpu"))]
        Backend::Gpu => Err(BackendError::GpuNotBuilt),
    }
}

/// halo2-axiom's `create_proof` on the CPU, writing into `transcript`.
fn cpu<C, E, T>(
    params: &ParamsKZG<Bn256>,
    pk: &ProvingKey<G1Affine>,
    circuit: C,
    public: &[Fr],
    transcript: &mut T,
) -> Result<(), BackendError>
where
    C: Circuit<Fr>,
    E: EncodedChallenge<G1Affine>,
    T: TranscriptWrite<G1Affine, E>,
{
    create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, _, _, _, _>(
        params,
        pk,
        &[circuit],
        &[&[public]],
        OsRng,
        transcript,
    )
    .map_err(BackendError::Halo2)
}
