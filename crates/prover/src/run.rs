//! The proving side of a run: SRS files, keys per chunk, and proving one chunk from its boundary file.
//!
//! Functions here return bytes; the CLI writes them (atomically).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use dzk_backend::Backend;
use dzk_circuit::{ChunkCircuit, ChunkIo, LayoutParams, Visibility};
use dzk_format::run::{ChunkPlan, Plan, ProofMeta, SaltTags};
use dzk_format::{Envelope, Kind};
use dzk_ir::{Model, TensorFile};
use dzk_merkle::hex::{from_hex, to_hex};
use dzk_verifier::audit::{read_vk, vk_name};
use dzk_verifier::srs::SetupInfo;
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::plonk::{ProvingKey, VerifyingKey};
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_proofs::SerdeFormat;
use rand::rngs::OsRng;

use crate::{dev_setup, keygen, prove_chunk, ProverError};

mod boundary;

pub use boundary::{
    boundary_file, boundary_file_at, model_outputs, read_boundary, read_model_input, read_next,
    salt_tag, BoundaryIn,
};

/// Why a run step failed. Every message names what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// An input file is not what the step needs.
    #[error("{file}: {reason}")]
    Input {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// Keygen or proving failed.
    #[error(transparent)]
    Prover(#[from] ProverError),
    /// The circuit could not be built.
    #[error(transparent)]
    Circuit(#[from] dzk_circuit::CircuitError),
    /// A model or tensor file is malformed (the message names the file).
    #[error(transparent)]
    File(#[from] dzk_ir::IrError),
}

fn input(file: &str, reason: impl std::fmt::Display) -> RunError {
    RunError::Input {
        file: file.into(),
        reason: reason.to_string(),
    }
}

/// A dev SRS of size `2^k` from `seed` (insecure, labelled so) as `(setup.json, SRS bytes)`.
pub fn dev_srs(k: u32, seed: u64) -> (SetupInfo, Vec<u8>) {
    use halo2_proofs::poly::commitment::Params;
    let params = dev_setup(k, seed);
    let mut bytes = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = params.write(&mut bytes);
    (
        SetupInfo {
            k,
            file: format!("kzg_bn254_{k}.srs"),
            insecure_dev_seed: Some(seed),
            source: "dev".into(),
        },
        bytes,
    )
}

/// Checks an imported ceremony SRS (`kzg_bn254_{k}.srs`) and describes it.
pub fn import_srs(bytes: &[u8], file: &str) -> Result<SetupInfo, RunError> {
    use halo2_proofs::poly::commitment::Params;
    let params = dzk_verifier::srs::read_params(bytes, std::path::Path::new(file))
        .map_err(|e| input(file, e))?;
    Ok(SetupInfo {
        k: params.k(),
        file: format!("kzg_bn254_{}.srs", params.k()),
        insecure_dev_seed: None,
        source: file.into(),
    })
}

/// The chunk `index` of `plan`, or an error naming the plan.
pub fn chunk(plan: &Plan, index: u32) -> Result<&ChunkPlan, RunError> {
    plan.chunks.get(index as usize).ok_or_else(|| {
        input(
            "plan.dzk",
            format!("has {} chunks, no chunk {index}", plan.chunks.len()),
        )
    })
}

/// Loads chunk `c`'s model slice, checking its digest against the plan.
pub fn load_slice(c: &ChunkPlan, bytes: &[u8]) -> Result<Arc<Model>, RunError> {
    if blake3::hash(bytes).to_hex().as_str() != c.slice_blake3 {
        return Err(input(
            &c.slice_file,
            "does not match the plan's digest (a slice from another partition?)",
        ));
    }
    Ok(Arc::new(Model::from_msgpack(bytes, &c.slice_file)?))
}

fn circuit(plan: &Plan, c: &ChunkPlan, model: Arc<Model>) -> Result<ChunkCircuit, RunError> {
    let io = ChunkIo::from_plan(&model, plan, c);
    let circuit = ChunkCircuit::new(model, c.start, c.end, LayoutParams::from(&c.layout))?
        .with_io(io)?
        .with_visibility(Visibility::from(plan.visibility));
    // The plan's `k` was fitted as the chunk is proven, its public sides included; a plan of a dzk before that
    // fitted every boundary hashed, and public inputs or outputs may take fewer rows, so a chunk may fit a
    // smaller `k`, never need a larger one.
    if circuit.min_k() > c.k {
        return Err(input(
            &c.slice_file,
            format!(
                "needs k = {} but the plan says {} (another dzk version?)",
                circuit.min_k(),
                c.k
            ),
        ));
    }
    Ok(circuit)
}

/// Keys of one chunk as envelope bytes: `(vk file, pk file, vk digest)`.
pub fn keygen_chunk(
    plan: &Plan,
    c: &ChunkPlan,
    model: Arc<Model>,
    params: &ParamsKZG<Bn256>,
) -> Result<(Vec<u8>, Vec<u8>, String), RunError> {
    let circuit = circuit(plan, c, model)?;
    let (vk, pk) = keygen(params, &circuit)?;
    let vk_bytes = vk.to_bytes(SerdeFormat::RawBytes);
    let vk_digest = blake3::hash(&vk_bytes).to_hex().to_string();
    let wrap = |kind, body: Vec<u8>| {
        let mut env = Envelope::new(kind, "halo2-raw", body);
        env.header.plan_digest = Some(plan.digest());
        env.header.chunk_index = Some(c.index);
        env.header.params = Some(serde_json::json!({"k": c.k, "layout": c.layout}));
        env.encode()
    };
    Ok((
        wrap(Kind::VerifyingKey, vk_bytes),
        wrap(Kind::ProvingKey, pk.to_bytes(SerdeFormat::RawBytes)),
        vk_digest,
    ))
}

/// Reads a proving key file for chunk `c`, checking it belongs to this plan and the vk the plan records.
pub fn read_pk(plan: &Plan, c: &ChunkPlan, bytes: &[u8]) -> Result<ProvingKey<G1Affine>, String> {
    let env = Envelope::decode(bytes, Kind::ProvingKey).map_err(|e| e.to_string())?;
    if env.header.plan_digest.as_deref() != Some(plan.digest().as_str())
        || env.header.chunk_index != Some(c.index)
    {
        return Err("belongs to another plan or chunk".into());
    }
    let layout = LayoutParams::from(&c.layout);
    let res = std::panic::catch_unwind(|| {
        ProvingKey::<G1Affine>::read::<_, ChunkCircuit>(
            &mut &env.body[..],
            SerdeFormat::RawBytes,
            layout,
        )
    });
    let pk = match res {
        Ok(Ok(pk)) => pk,
        _ => return Err("not a proving key".into()),
    };
    let vk_digest = blake3::hash(&pk.get_vk().to_bytes(SerdeFormat::RawBytes))
        .to_hex()
        .to_string();
    if c.vk_blake3.as_deref() != Some(vk_digest.as_str()) {
        return Err("its verifying key is not the one the plan records".into());
    }
    Ok(pk)
}

/// The phases `prove_chunk_run` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Computing the witness (the slice's forward pass) and the commitments.
    Witness,
    /// Generating keys (when no proving key file is at hand).
    Keygen,
    /// Proving.
    Prove,
}

/// What proving one chunk produced.
#[derive(Debug)]
pub struct Proven {
    /// The proof file's bytes.
    pub proof_file: Vec<u8>,
    /// `h_in` of each boundary the chunk reads, in instance order, and `h_out`.
    pub commitments: (Vec<Fr>, Fr),
    /// Seconds per phase: witness, keygen (0 with a pk), prove.
    pub seconds: [f64; 3],
}

/// A chunk with its witness, ready to prove.
pub struct Prepared {
    /// The circuit, carrying its witness.
    pub circuit: ChunkCircuit,
    /// The next chunk's boundary file (for a chunk that states the model's outputs: its outputs as a zkml tensor
    /// file; [`model_outputs`] joins a split last layer's parts).
    pub next: Vec<u8>,
    /// Seconds the witness took.
    pub witness_s: f64,
    /// The input salts (one per boundary read, in instance order) and the output salt.
    pub salts: (Vec<Fr>, Fr),
}

/// Computes chunk `c`'s witness from its input (the slice's forward pass and both commitments) and the next
/// chunk's boundary file. The output salt is fresh, unless `next` (the next chunk's boundary file, made
/// ahead by `dzk boundaries`) is given: then its salt is used and its tensors must be this chunk's outputs.
pub fn prepare(
    plan: &Plan,
    c: &ChunkPlan,
    model: Arc<Model>,
    inputs: &[&BoundaryIn],
    next: Option<&BoundaryIn>,
) -> Result<Prepared, RunError> {
    let t = Instant::now();
    let salt_out = next.map_or_else(|| Fr::random(OsRng), |n| n.salt);
    if let Some(n) = next {
        if plan.is_graph() && n.cut != c.index + 1 {
            return Err(RunError::Input {
                file: "--next".into(),
                reason: format!(
                    "is boundary {}, not chunk {}'s output (boundary {})",
                    n.cut,
                    c.index,
                    c.index + 1
                ),
            });
        }
    }
    // One input per boundary read, in the chunk's instance order.
    let reads = c.reads();
    let mut salts = Vec::with_capacity(reads.len());
    let mut tensors = Vec::new();
    for &b in &reads {
        let mut found = inputs.iter().filter(|i| i.cut == b);
        let (Some(i), None) = (found.next(), found.next()) else {
            return Err(RunError::Input {
                file: "--input".into(),
                reason: format!(
                    "chunk {} reads boundaries {reads:?}: give each one's file once (boundary {b} given {} times)",
                    c.index,
                    inputs.iter().filter(|i| i.cut == b).count()
                ),
            });
        };
        salts.push(i.salt);
        for (idx, t) in i.tensors.tensors() {
            tensors.push((*idx, t.clone()));
        }
    }
    if inputs.len() != reads.len() {
        return Err(RunError::Input {
            file: "--input".into(),
            reason: format!(
                "chunk {} reads {} boundar{} {reads:?}, {} input files given",
                c.index,
                reads.len(),
                if reads.len() == 1 { "y" } else { "ies" },
                inputs.len()
            ),
        });
    }
    tensors.sort_by_key(|t| t.0);
    tensors.dedup_by_key(|t| t.0);
    let merged = TensorFile::new(tensors).map_err(|reason| RunError::Input {
        file: "--input".into(),
        reason,
    })?;
    let circuit = circuit(plan, c, model)?.with_group_inputs(&merged, &salts, salt_out)?;
    let outputs = circuit
        .boundary_outputs()
        .cloned()
        .ok_or_else(|| input_err(c))?;
    if let Some(n) = next {
        for t in &c.outputs {
            if outputs.get(t.idx).map(|x| x.data()) != n.tensors.get(t.idx).map(|x| x.data()) {
                return Err(RunError::Input {
                    file: "--next".into(),
                    reason: format!(
                        "tensor {} of the next boundary file is not what chunk {} computes from its input",
                        t.idx, c.index
                    ),
                });
            }
        }
    }
    let next = if plan.states_outputs(c.index) {
        outputs.to_msgpack()
    } else {
        boundary_file(plan, c, &outputs, salt_out)
    };
    Ok(Prepared {
        circuit,
        next,
        witness_s: t.elapsed().as_secs_f64(),
        salts: (salts, salt_out),
    })
}

/// Proves a prepared chunk with `backend` (making keys first when `pk` is `None`, checked against the plan's
/// vk digest).
pub fn prove_prepared(
    plan: &Plan,
    c: &ChunkPlan,
    prepared: Prepared,
    params: &ParamsKZG<Bn256>,
    pk: Option<ProvingKey<G1Affine>>,
    backend: Backend,
    phase: &mut dyn FnMut(Phase),
) -> Result<Proven, RunError> {
    let mut seconds = [prepared.witness_s, 0.0, 0.0];
    let salts = prepared.salts.clone();
    let circuit = prepared.circuit;
    let pk = match pk {
        Some(pk) => pk,
        None => {
            phase(Phase::Keygen);
            let t = Instant::now();
            let (vk, pk) = keygen(params, &circuit)?;
            seconds[1] = t.elapsed().as_secs_f64();
            check_vk(c, &vk)?;
            pk
        }
    };
    let instances = circuit.instances().to_vec();
    let vk_blake3 = blake3::hash(&pk.get_vk().to_bytes(SerdeFormat::RawBytes))
        .to_hex()
        .to_string();
    phase(Phase::Prove);
    let t = Instant::now();
    let proof = prove_chunk(backend, params, &pk, circuit)?;
    seconds[2] = t.elapsed().as_secs_f64();
    let mut env = Envelope::new(Kind::ChunkProof, "halo2-shplonk-poseidon", proof);
    env.header.plan_digest = Some(plan.digest());
    env.header.chunk_index = Some(c.index);
    env.header.params = serde_json::to_value(ProofMeta {
        k: c.k,
        vk_blake3,
        instances: instances.iter().map(to_hex).collect(),
        reads: c.sources.clone(),
        salt_tags: Some(SaltTags {
            input: salt_tag(&salts.0[0]),
            output: salt_tag(&salts.1),
            inputs: if salts.0.len() > 1 {
                salts.0.iter().map(salt_tag).collect()
            } else {
                Vec::new()
            },
        }),
    })
    .ok();
    let g = salts.0.len();
    Ok(Proven {
        proof_file: env.encode(),
        commitments: (instances[..g].to_vec(), instances[g]),
        seconds,
    })
}

/// Proves chunk `c` from its input with `backend`. `emit` receives the next chunk's boundary file before proving starts
/// (so the next machine need not wait for this proof); `phase` is told when each phase starts.
#[allow(clippy::too_many_arguments)]
pub fn prove_chunk_run(
    plan: &Plan,
    c: &ChunkPlan,
    model: Arc<Model>,
    inputs: &[&BoundaryIn],
    next: Option<&BoundaryIn>,
    params: &ParamsKZG<Bn256>,
    pk: Option<ProvingKey<G1Affine>>,
    backend: Backend,
    emit: &mut dyn FnMut(&[u8]) -> Result<(), RunError>,
    phase: &mut dyn FnMut(Phase),
) -> Result<Proven, RunError> {
    phase(Phase::Witness);
    let prepared = prepare(plan, c, model, inputs, next)?;
    emit(&prepared.next)?;
    prove_prepared(plan, c, prepared, params, pk, backend, phase)
}

pub use dzk_circuit::Estimate;

/// Chunk `c`'s estimated keygen and proving resources, from its layout's constraint system and `k`
/// ([`dzk_circuit::estimate`]).
pub fn estimate(c: &ChunkPlan) -> Estimate {
    dzk_circuit::estimate(LayoutParams::from(&c.layout), c.k)
}

/// An upper bound of one chunk's proving memory in bytes ([`Estimate::prove_bytes`]), used to decide how many
/// chunks one machine proves at once.
pub fn memory_estimate(c: &ChunkPlan) -> u64 {
    estimate(c).prove_bytes
}

fn input_err(c: &ChunkPlan) -> RunError {
    input(&c.slice_file, "the forward pass produced no outputs")
}

fn check_vk(c: &ChunkPlan, vk: &VerifyingKey<G1Affine>) -> Result<(), RunError> {
    let digest = blake3::hash(&vk.to_bytes(SerdeFormat::RawBytes))
        .to_hex()
        .to_string();
    match &c.vk_blake3 {
        Some(want) if *want != digest => Err(input(
            "plan.dzk",
            format!(
                "chunk {}'s keys differ from the ones the plan records (another slice or dzk version?)",
                c.index
            ),
        )),
        _ => Ok(()),
    }
}

/// Chunk `c`'s verifying key, as the plan records it, from whatever this machine has: the run directory's
/// `.vk` file, else its `.pk` file's key, else made here from the slice (seconds: no proving key is made).
/// `None` when none of these gives the key whose digest the plan records.
pub fn chunk_vk(
    run: &Path,
    plan: &Plan,
    c: &ChunkPlan,
    params: &ParamsKZG<Bn256>,
) -> Option<VerifyingKey<G1Affine>> {
    let want = c.vk_blake3.as_deref()?;
    let digest = |vk: &VerifyingKey<G1Affine>| {
        blake3::hash(&vk.to_bytes(SerdeFormat::RawBytes))
            .to_hex()
            .to_string()
    };
    let layout = LayoutParams::from(&c.layout);
    if let Ok(bytes) = std::fs::read(run.join(vk_name(c.index))) {
        if let Ok(env) = Envelope::decode(&bytes, Kind::VerifyingKey) {
            if let Ok(vk) = read_vk(&env.body, layout, c.k) {
                if digest(&vk) == want {
                    return Some(vk);
                }
            }
        }
    }
    if let Ok(bytes) = std::fs::read(run.join(format!("chunk-{}.pk", c.index))) {
        if let Ok(pk) = read_pk(plan, c, &bytes) {
            return Some(pk.get_vk().clone());
        }
    }
    let slice = std::fs::read(run.join(&c.slice_file)).ok()?;
    let circuit = circuit(plan, c, load_slice(c, &slice).ok()?).ok()?;
    if circuit.min_k() > halo2_proofs::poly::commitment::Params::k(params) {
        return None;
    }
    let shape = halo2_proofs::plonk::Circuit::without_witnesses(&circuit);
    let vk = halo2_proofs::plonk::keygen_vk_custom(params, &shape, true).ok()?;
    (digest(&vk) == want).then_some(vk)
}

/// Whether `bytes` is a proof of chunk `c` of this plan that verifies against `vk` (used to keep finished
/// chunks).
pub fn proof_is_valid(
    plan: &Plan,
    c: &ChunkPlan,
    vk: &VerifyingKey<G1Affine>,
    params: &ParamsKZG<Bn256>,
    bytes: &[u8],
) -> bool {
    let ok = (|| -> Option<()> {
        let env = Envelope::decode(bytes, Kind::ChunkProof).ok()?;
        (env.header.plan_digest.as_deref() == Some(plan.digest().as_str())).then_some(())?;
        (env.header.chunk_index == Some(c.index)).then_some(())?;
        let meta: ProofMeta = env.header.params_as()?;
        (Some(&meta.vk_blake3) == c.vk_blake3.as_ref()).then_some(())?;
        let inst: Vec<Fr> = meta
            .instances
            .iter()
            .map(|h| from_hex(h).ok())
            .collect::<Option<_>>()?;
        dzk_verifier::verify_chunk(params, vk, &inst, &env.body).ok()
    })();
    ok.is_some()
}
