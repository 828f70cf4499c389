//! The CUDA prover (feature `gpu`): halo2-axiom-gpu's `create_proof`, which reads halo2-axiom's proving keys
//! and circuits as they are and writes the same proof format, so every verifier in dzk checks its proofs
//! unchanged. Only the `dzk-gpu` binary has it; `dzk` starts that binary only after [`crate::device::probe`]
//! found a device and `dzk-gpu devices` answered (a binary linking CUDA aborts before `main` without a GPU).

use halo2_axiom_gpu::plonk::create_proof;
use halo2_axiom_gpu::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG as GpuParams};
use halo2_axiom_gpu::poly::kzg::multiopen::ProverSHPLONK;
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{Circuit, ProvingKey};
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_proofs::transcript::{EncodedChallenge, TranscriptWrite};
use halo2_proofs::SerdeFormat;
use rand::rngs::OsRng;

use crate::device::{self, Device};
use crate::BackendError;

/// The GPU architectures this binary's CUDA code was compiled for (`CUDA_ARCH` at build time, e.g. `90`).
pub const CUDA_ARCH: Option<&str> = option_env!("CUDA_ARCH");

/// Starts the GPU prover's device context (what the first proof would do) and returns the device it runs on.
/// Fails, without aborting, when the context cannot be made or the device is older than the compiled code.
pub fn ready() -> Result<Device, String> {
    let driver = device::probe().map_err(|e| e.to_string())?;
    let ordinal =
        std::panic::catch_unwind(|| halo2_axiom_gpu::cuda::utils::HALO2_GPU_CTX.device_id)
            .map_err(|p| format!("the GPU context cannot be made: {}", panic_text(&p)))?;
    let device = driver
        .devices
        .into_iter()
        .find(|d| u32::try_from(d.ordinal) == Ok(ordinal))
        .ok_or_else(|| {
            format!("the GPU context runs on device {ordinal}, which the driver does not list")
        })?;
    let (major, minor) = device.compute_capability;
    let have = major * 10 + minor;
    let oldest = CUDA_ARCH
        .unwrap_or("90")
        .split(',')
        .filter_map(|a| {
            a.trim()
                .trim_end_matches(char::is_alphabetic)
                .parse::<i32>()
                .ok()
        })
        .min()
        .unwrap_or(90);
    if have < oldest {
        return Err(format!(
            "{} has compute capability {major}.{minor}; this GPU prover was built for sm_{oldest} and newer \
             (rebuild it with CUDA_ARCH={have} cargo xtask gpu)",
            device.name
        ));
    }
    Ok(device)
}

/// A panic's message.
fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "(no message)".into())
}

/// halo2-axiom's parameters in halo2-axiom-gpu's type (the same points, in the same serialisation).
fn gpu_params(params: &ParamsKZG<Bn256>) -> Result<GpuParams<Bn256>, BackendError> {
    let mut bytes = Vec::new();
    params
        .write_custom(&mut bytes, SerdeFormat::RawBytesUnchecked)
        .and_then(|()| {
            GpuParams::<Bn256>::read_custom(&mut bytes.as_slice(), SerdeFormat::RawBytesUnchecked)
        })
        .map_err(|e| BackendError::Gpu(format!("the SRS cannot be handed to the GPU prover: {e}")))
}

/// halo2-axiom-gpu's `create_proof`, writing into `transcript`. A CUDA failure (including a panic inside the
/// GPU crate) is a [`BackendError::Gpu`].
pub(crate) fn prove<C, E, T>(
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
    let params = gpu_params(params)?;
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, _, _, _, _>(
            &params,
            pk,
            &[circuit],
            &[&[public]],
            OsRng,
            transcript,
        )
    }));
    match run {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(BackendError::Gpu(format!("{e:?}"))),
        Err(p) => Err(BackendError::Gpu(format!(
            "the GPU prover panicked: {}",
            panic_text(&p)
        ))),
    }
}
