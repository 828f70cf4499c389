//! Boundary files: the activations a chunk reads (its producer's output or the model's input) with the salt of
//! their commitment, read and checked against the plan, and written for the next chunk.

use dzk_format::run::{BoundaryMeta, ChunkPlan, Plan};
use dzk_format::{Envelope, Kind};
use dzk_ir::TensorFile;
use dzk_merkle::hex::{from_hex, to_hex};
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::{Field, PrimeField};
use rand::rngs::OsRng;

use super::{input, RunError};

/// A chunk's input: the activations of one boundary it reads, and their salt.
#[derive(Clone, Debug)]
pub struct BoundaryIn {
    /// The tensors.
    pub tensors: TensorFile,
    /// The salt of their commitment.
    pub salt: Fr,
    /// The boundary (`ChunkPlan::sources`): 0 for the model's inputs, else its producer's index plus one.
    pub cut: u32,
}

/// Reads the model's input file (a plain zkml input file, its salt drawn at random here, or `dzk boundaries`'
/// `boundary-0.dzk`) for the commands that run every chunk (`dzk prove`, `dzk boundaries`).
pub fn read_model_input(plan: &Plan, bytes: &[u8], file: &str) -> Result<BoundaryIn, RunError> {
    read_boundary_file(plan, 0, bytes, file, true)
}

/// Reads one of chunk `c`'s input files: a boundary file made by its producer's `--emit-output` or by
/// `dzk boundaries` (checked against the plan and the boundaries `c` reads), or, for a chunk that reads the model's
/// inputs, a plain zkml input file (its salt is then drawn at random; refused when other chunks read the model's
/// inputs too, since their commitments must then share one salt).
pub fn read_boundary(
    plan: &Plan,
    c: &ChunkPlan,
    bytes: &[u8],
    file: &str,
) -> Result<BoundaryIn, RunError> {
    let reads = c.reads();
    if !bytes.starts_with(&Kind::Boundary.magic()) {
        if !reads.contains(&0) {
            return Err(input(
                file,
                format!(
                    "chunk {} needs the boundary file{} {} (from `dzk prove-chunk --emit-output` or `dzk \
                     boundaries`), not a plain input file",
                    c.index,
                    if reads.len() > 1 { "s" } else { "" },
                    reads
                        .iter()
                        .map(|b| format!("boundary-{b}.dzk"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let readers = plan.readers(0);
        if readers.len() > 1 {
            return Err(input(
                file,
                format!(
                    "chunks {readers:?} all read the model's inputs, so their commitments must share one salt: \
                     prove from the boundary-0.dzk that `dzk boundaries` writes"
                ),
            ));
        }
    }
    let b = read_boundary_file(plan, c.index, bytes, file, reads.contains(&0))?;
    if !reads.contains(&b.cut) {
        return Err(input(
            file,
            format!(
                "is boundary {} (chunk {}'s output), which chunk {} does not read (it reads {reads:?})",
                b.cut,
                i64::from(b.cut) - 1,
                c.index
            ),
        ));
    }
    Ok(b)
}

/// Reads chunk `c`'s own output boundary file made ahead by `dzk boundaries` (`--next`): boundary `c + 1`.
pub fn read_next(
    plan: &Plan,
    c: &ChunkPlan,
    bytes: &[u8],
    file: &str,
) -> Result<BoundaryIn, RunError> {
    let b = read_boundary_file(plan, c.index + 1, bytes, file, false)?;
    if b.cut != c.index + 1 {
        return Err(input(
            file,
            format!(
                "is boundary {}, not chunk {}'s output (boundary {})",
                b.cut,
                c.index,
                c.index + 1
            ),
        ));
    }
    Ok(b)
}

fn read_boundary_file(
    plan: &Plan,
    reader: u32,
    bytes: &[u8],
    file: &str,
    plain_ok: bool,
) -> Result<BoundaryIn, RunError> {
    let (tensors, salt, cut) = if bytes.starts_with(&Kind::Boundary.magic()) {
        let env = Envelope::decode(bytes, Kind::Boundary).map_err(|e| input(file, e))?;
        if env.header.plan_digest.as_deref() != Some(plan.digest().as_str()) {
            return Err(input(file, "belongs to another plan"));
        }
        let meta: BoundaryMeta = env
            .header
            .params_as()
            .ok_or_else(|| input(file, "no boundary metadata"))?;
        if !plan.is_graph() && meta.cut != reader {
            return Err(input(
                file,
                format!("is the input of chunk {}, not chunk {reader}", meta.cut),
            ));
        }
        let salt = from_hex(&meta.salt).map_err(|e| input(file, e))?;
        (TensorFile::from_msgpack(&env.body, file)?, salt, meta.cut)
    } else if plain_ok {
        (TensorFile::from_msgpack(bytes, file)?, Fr::random(OsRng), 0)
    } else {
        return Err(input(
            file,
            format!(
                "chunk {reader} needs the boundary file chunk {} emitted (`dzk prove-chunk --emit-output`)",
                i64::from(reader) - 1
            ),
        ));
    };
    let wanted = plan.boundary_tensors(cut).ok_or_else(|| {
        input(
            file,
            format!("is boundary {cut}, which the plan does not have"),
        )
    })?;
    for t in wanted {
        let got = tensors.get(t.idx).ok_or_else(|| {
            input(
                file,
                format!("lacks tensor {} that chunk {reader} reads", t.idx),
            )
        })?;
        if got.len() != t.numel() {
            return Err(input(
                file,
                format!(
                    "tensor {} has {} values, the plan says shape {:?}",
                    t.idx,
                    got.len(),
                    t.shape
                ),
            ));
        }
    }
    Ok(BoundaryIn { tensors, salt, cut })
}

/// The boundary file for the cut after chunk `c` (the next chunk's input), with its salt.
pub fn boundary_file(plan: &Plan, c: &ChunkPlan, tensors: &TensorFile, salt: Fr) -> Vec<u8> {
    boundary_file_at(plan, c.index + 1, tensors, salt)
}

/// The boundary file of cut `cut` (the input of chunk `cut`), with its salt.
pub fn boundary_file_at(plan: &Plan, cut: u32, tensors: &TensorFile, salt: Fr) -> Vec<u8> {
    let mut env = Envelope::new(Kind::Boundary, "zkml-msgpack", tensors.to_msgpack());
    env.header.plan_digest = Some(plan.digest());
    env.header.chunk_index = Some(cut);
    env.header.params = serde_json::to_value(BoundaryMeta {
        cut,
        salt: to_hex(&salt),
    })
    .ok();
    env.encode()
}

/// The model's outputs as a zkml tensor file, from the outputs of the chunks that state them
/// (`Plan::output_chunks`, in that order): the last chunk's own, or the parts' joined along the last axis into
/// the output tensor of `Plan::output_join`.
pub fn model_outputs(plan: &Plan, parts: &[TensorFile]) -> Result<TensorFile, RunError> {
    let bad = |reason: String| input("plan.dzk", reason);
    let Some(j) = &plan.output_join else {
        return match parts {
            [one] => Ok(one.clone()),
            _ => Err(bad(format!("{} output files for one chunk", parts.len()))),
        };
    };
    let values = j
        .chunks
        .iter()
        .zip(parts)
        .map(|(&c, f)| {
            let spec = plan.chunks.get(c as usize).and_then(|c| c.outputs.first());
            spec.and_then(|s| f.get(s.idx))
                .map(|t| t.data().to_vec())
                .ok_or_else(|| {
                    bad(format!(
                        "chunk {c}'s outputs lack the tensor the plan names"
                    ))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let data = plan
        .join_outputs(&values)
        .ok_or_else(|| bad("the parts' outputs do not make up the model's".into()))?;
    let tensor = dzk_ir::Tensor::new(j.output.shape.clone(), data).map_err(bad)?;
    TensorFile::new(vec![(j.output.idx, tensor)]).map_err(bad)
}

/// A salt's fingerprint for [`ProofMeta::salt_tags`](dzk_format::run::ProofMeta::salt_tags): the first 16 bytes
/// of BLAKE3 over a domain tag and the salt. Publishing it reveals nothing usable about the salt (a 254-bit random
/// value) and so nothing about the committed activations.
pub fn salt_tag(salt: &Fr) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"dzk salt tag v1\0");
    h.update(salt.to_repr().as_ref());
    h.finalize().to_hex()[..32].to_string()
}
