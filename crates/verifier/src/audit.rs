//! `verify-all`: every check of DESIGN.md §2 over a run's proofs.
//!
//! The auditor's trusted inputs are the run directory (plan and verifying keys) and the SRS; if they cannot
//! be read the audit stops with [`Unreadable`]. Everything in the proofs directory is evidence: a file there
//! that is missing, malformed, of the wrong kind, from another run or simply wrong makes the verdict
//! [`Verdict::Rejected`] with the reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dzk_circuit::{ChunkCircuit, LayoutParams};
use dzk_format::run::{total_values, MerkleFile, Plan, ProofMeta, SaltTags};
use dzk_format::{Envelope, Kind};
use dzk_merkle::hex::{from_hex, to_hex};
use dzk_merkle::{ChunkLeaf, MerkleTree};
use halo2_proofs::halo2curves::bn256::{Fr, G1Affine};
use halo2_proofs::plonk::VerifyingKey;
use halo2_proofs::SerdeFormat;
use serde::Serialize;

use crate::kit::{Kit, VerifierSrs};
use crate::srs;

/// The audit could not start: a trusted input is missing or unreadable.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct Unreadable {
    /// The file or directory.
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
}

/// One chunk's line of the report.
#[derive(Clone, Debug, Serialize)]
pub struct ChunkLine {
    /// Chunk index.
    pub index: u32,
    /// Layers `start..end`.
    pub layers: (usize, usize),
    /// `k`.
    pub k: u32,
    /// `None` when the chunk's proof verified against its own vk; the reason otherwise.
    pub error: Option<String>,
    /// `h_in`, hex (the first input commitment, for a chunk that reads several boundaries).
    pub h_in: Option<String>,
    /// `h_out`, hex.
    pub h_out: Option<String>,
    /// The boundaries the chunk reads, in instance order (`[index]` for a chunk of a chain).
    pub reads: Vec<u32>,
    /// The input commitments after the first, hex, of a chunk that reads several boundaries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub more_inputs: Vec<String>,
}

/// The outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "reason", rename_all = "snake_case")]
pub enum Verdict {
    /// Every check passed.
    Valid,
    /// The first failing check.
    Rejected(String),
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The plan's digest.
    pub plan_digest: String,
    /// One line per chunk of the plan.
    pub chunks: Vec<ChunkLine>,
    /// The Merkle root recomputed from the proofs (when every chunk has a readable proof).
    pub root: Option<String>,
    /// The model's public inputs, if the plan makes them public and the first proof is readable.
    #[serde(serialize_with = "json_values_opt")]
    pub public_inputs: Option<Vec<String>>,
    /// The model's public outputs, if the plan makes them public and the last proof is readable.
    #[serde(serialize_with = "json_values_opt")]
    pub public_outputs: Option<Vec<String>>,
    /// Whether the SRS is a labelled insecure dev setup.
    pub insecure_setup: bool,
    /// What the recomputed root was compared with: `"--root"` (the root the auditor gave: pinned),
    /// `"merkle.dzk"` (the prover's own file: not pinned, a whole run on another input would verify too) or
    /// `None` (nothing).
    pub root_checked_against: Option<String>,
    /// Whether the root was pinned by the auditor (`--root`).
    pub root_pinned: bool,
    /// The verdict (`"verdict": "valid"` or `"rejected"` with `"reason"` in JSON).
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// Public values for JSON: each a number when it is a small signed integer (as `dzk forward --json` gives
/// them), else its hex string.
pub fn json_values(values: &[String]) -> Vec<serde_json::Value> {
    values
        .iter()
        .map(|v| match v.parse::<i64>() {
            Ok(n) => serde_json::Value::from(n),
            Err(_) => serde_json::Value::from(v.as_str()),
        })
        .collect()
}

fn json_values_opt<S: serde::Serializer>(
    values: &Option<Vec<String>>,
    ser: S,
) -> Result<S::Ok, S::Error> {
    use serde::Serialize;
    values.as_deref().map(json_values).serialize(ser)
}

/// The plan's file name in a run directory (and in a kit).
pub const PLAN: &str = "plan.dzk";

/// Reads and checks a run's plan file.
pub fn read_plan(run_dir: &Path) -> Result<Plan, Unreadable> {
    let path = run_dir.join(PLAN);
    let unreadable = |reason: String| Unreadable {
        path: path.clone(),
        reason,
    };
    let bytes = std::fs::read(&path).map_err(|e| unreadable(e.to_string()))?;
    let env = Envelope::decode(&bytes, Kind::Plan).map_err(|e| unreadable(e.to_string()))?;
    let plan: Plan =
        serde_json::from_slice(&env.body).map_err(|e| unreadable(format!("bad plan: {e}")))?;
    plan.check()
        .map_err(|e| unreadable(format!("inconsistent plan: {e}")))?;
    Ok(plan)
}

/// Reads a verifying key body for a circuit of size `2^k`, refusing (not panicking on) malformed bytes. The key's
/// own `k` is checked first: halo2 allocates the evaluation domain of whatever `k` the bytes name before reading
/// further, so a damaged `k` would otherwise take gigabytes.
pub fn read_vk(
    bytes: &[u8],
    layout: LayoutParams,
    k: u32,
) -> Result<VerifyingKey<G1Affine>, String> {
    // halo2-axiom's RawBytes layout: a version byte (2), then k as a little-endian u32.
    match bytes.get(1..5) {
        Some(b) if u32::from_le_bytes([b[0], b[1], b[2], b[3]]) == k => {}
        Some(b) => {
            return Err(format!(
                "not a verifying key for k = {k} (it says k = {})",
                u32::from_le_bytes([b[0], b[1], b[2], b[3]])
            ))
        }
        None => return Err("not a verifying key (truncated)".into()),
    }
    let res = std::panic::catch_unwind(|| {
        VerifyingKey::<G1Affine>::read::<_, ChunkCircuit>(
            &mut &bytes[..],
            SerdeFormat::RawBytes,
            layout,
        )
    });
    match res {
        Ok(Ok(vk)) => Ok(vk),
        Ok(Err(e)) => Err(format!("not a verifying key: {e}")),
        Err(_) => Err("not a verifying key (malformed)".into()),
    }
}

/// The file name of chunk `i`'s proof.
pub fn proof_name(i: u32) -> String {
    format!("chunk-{i}.proof")
}

/// The file name of chunk `i`'s verifying key.
pub fn vk_name(i: u32) -> String {
    format!("chunk-{i}.vk")
}

/// The number of instances chunk `c` of `plan` must have.
pub fn instance_count(plan: &Plan, i: usize) -> usize {
    let c = &plan.chunks[i];
    let reads = c.reads();
    let mut n = reads.len() + 1;
    if reads.contains(&0) && plan.visibility.public_input {
        n += plan.boundary_tensors(0).map_or(0, total_values);
    }
    if plan.states_outputs(c.index) && plan.visibility.public_output {
        n += total_values(&c.outputs);
    }
    n
}

/// A chunk proof file, decoded and checked against the plan's digest (not yet verified).
pub struct Evidence {
    /// The file name.
    pub file: String,
    /// The chunk index it names.
    pub index: u32,
    /// Its metadata.
    pub meta: ProofMeta,
    /// Its public instances.
    pub instances: Vec<Fr>,
    /// The proof bytes.
    pub proof: Vec<u8>,
}

/// Reads a chunk proof file made for the plan with digest `plan_digest`; the reason, naming the file, if it is
/// unreadable, of the wrong kind or for another plan.
pub fn read_evidence(path: &Path, plan_digest: &str) -> Result<Evidence, String> {
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let bytes = std::fs::read(path).map_err(|e| format!("{file}: {e}"))?;
    let env = Envelope::decode(&bytes, Kind::ChunkProof).map_err(|e| format!("{file}: {e}"))?;
    if env.header.plan_digest.as_deref() != Some(plan_digest) {
        return Err(format!(
            "{file}: made for another plan (plan digest {}), not this run's {plan_digest}",
            env.header.plan_digest.as_deref().unwrap_or("missing")
        ));
    }
    let index = env
        .header
        .chunk_index
        .ok_or_else(|| format!("{file}: no chunk index"))?;
    let meta: ProofMeta = env
        .header
        .params_as()
        .ok_or_else(|| format!("{file}: no proof metadata"))?;
    let instances = meta
        .instances
        .iter()
        .map(|h| from_hex(h).map_err(|e| format!("{file}: instance {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Evidence {
        file,
        index,
        meta,
        instances,
        proof: env.body,
    })
}

/// Where a verification's SRS comes from.
#[derive(Clone, Copy, Debug)]
pub enum SrsSource<'a> {
    /// An SRS directory (`dzk setup`): the whole SRS is read, its verifier's part used.
    Dir(&'a Path),
    /// An auditor's kit: the verifier's part of the SRS alone.
    Kit(&'a Kit),
}

impl SrsSource<'_> {
    /// The verifier's part of the SRS, whether it is an insecure dev setup, and where it came from.
    pub fn load(self) -> Result<(VerifierSrs, bool, PathBuf), Unreadable> {
        match self {
            SrsSource::Dir(dir) => {
                let (info, params) = srs::load(dir).map_err(|e| Unreadable {
                    path: dir.to_path_buf(),
                    reason: e.to_string(),
                })?;
                let vs = VerifierSrs::of(&params).ok_or_else(|| Unreadable {
                    path: dir.to_path_buf(),
                    reason: "an SRS of one point verifies nothing".into(),
                })?;
                Ok((vs, info.insecure_dev_seed.is_some(), dir.to_path_buf()))
            }
            SrsSource::Kit(kit) => Ok((
                kit.srs,
                kit.manifest.insecure_dev_seed.is_some()
                    || kit.srs.dev_seed(srs::DEV_SEEDS_RECOGNISED).is_some(),
                kit.dir.join(crate::kit::MANIFEST),
            )),
        }
    }
}

/// A Merkle root the auditor pins, and where it came from (`"--root"`, `"kit"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinnedRoot {
    /// The root.
    pub root: Fr,
    /// Where it came from.
    pub source: &'static str,
}

/// Checks chunk `i`'s proof `ev` against the plan and the verifying key in `keys_dir` (a run directory or a
/// kit): the key's digest, the proof's key, `k` and public values, then the proof itself. `Err(Unreadable)`
/// when the key file cannot be read; `Ok(Err(reason))` when the proof is rejected.
pub fn check_chunk(
    plan: &Plan,
    i: usize,
    ev: &Evidence,
    keys_dir: &Path,
    vs: &VerifierSrs,
) -> Result<Result<(), String>, Unreadable> {
    let c = &plan.chunks[i];
    let vk_path = keys_dir.join(vk_name(c.index));
    let vk_env = std::fs::read(&vk_path)
        .map_err(|e| e.to_string())
        .and_then(|b| Envelope::decode(&b, Kind::VerifyingKey).map_err(|e| e.to_string()))
        .map_err(|reason| Unreadable {
            path: vk_path.clone(),
            reason: if c.vk_blake3.is_none() {
                format!(
                    "{reason}; the run has no keys: run `dzk keygen {} --params PARAMS_DIR` (keys are \
                     deterministic, so proofs made without them, by `dzk prove`, verify against them)",
                    keys_dir.display()
                )
            } else {
                format!(
                    "{reason}; give --run the run directory that `dzk keygen` wrote the chunk keys into (or \
                     --kit a kit from `dzk export-verifier`)"
                )
            },
        })?;
    let vk_digest = blake3::hash(&vk_env.body).to_hex().to_string();
    Ok((|| -> Result<(), String> {
        if c.vk_blake3.as_deref() != Some(vk_digest.as_str()) {
            return Err(format!(
                "{} is not the verifying key the plan records (run `dzk keygen` again)",
                vk_name(c.index)
            ));
        }
        if ev.meta.vk_blake3 != vk_digest {
            return Err("proven against another verifying key".into());
        }
        if ev.meta.k != c.k {
            return Err(format!("proof says k = {}, the plan {}", ev.meta.k, c.k));
        }
        let want = instance_count(plan, i);
        if ev.instances.len() != want {
            return Err(format!(
                "{} public values, the plan needs {want}",
                ev.instances.len()
            ));
        }
        let vk = read_vk(&vk_env.body, LayoutParams::from(&c.layout), c.k)?;
        crate::verify_chunk(&vs.params(c.k), &vk, &ev.instances, &ev.proof)
            .map_err(|e| e.to_string())
    })())
}

/// Verifies a whole run: the proofs in `proofs_dir` against the plan and verifying keys in `keys_dir` (a run
/// directory or a kit) and the SRS `srs`. `expected_root` is the published root, if the auditor has one
/// (otherwise the root in `PROOFS_DIR/merkle.dzk`, if present, is checked).
///
/// Verification reads only the verifier's part of the SRS ([`VerifierSrs`]): no chunk's SRS is cut down.
pub fn verify_all(
    proofs_dir: &Path,
    keys_dir: &Path,
    srs_source: SrsSource<'_>,
    expected_root: Option<PinnedRoot>,
) -> Result<Report, Unreadable> {
    let run_dir = keys_dir;
    let plan = read_plan(run_dir)?;
    let digest = plan.digest();
    let (vs, insecure, srs_path) = srs_source.load()?;
    let listing = std::fs::read_dir(proofs_dir).map_err(|e| Unreadable {
        path: proofs_dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut chunks: Vec<ChunkLine> = plan
        .chunks
        .iter()
        .map(|c| ChunkLine {
            index: c.index,
            layers: (c.start, c.end),
            k: c.k,
            error: None,
            h_in: None,
            h_out: None,
            reads: c.reads(),
            more_inputs: Vec::new(),
        })
        .collect();
    let mut problems: Vec<String> = Vec::new();
    let given = vs.id();
    if let Some(recorded) = plan.srs_id.as_deref().filter(|r| **r != given) {
        problems.push(format!(
            "the SRS in {} (id {given}) is not the one the run's keys were made with (id {recorded}): its proofs \
             verify only against keygen's SRS",
            srs_path.display()
        ));
    }
    // Every *.proof file is evidence, whatever its name.
    let mut found: BTreeMap<u32, Evidence> = BTreeMap::new();
    let mut files: Vec<PathBuf> = listing
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "proof"))
        .collect();
    files.sort();
    let mut by_index: BTreeMap<u32, Vec<Evidence>> = BTreeMap::new();
    for path in files {
        match read_evidence(&path, &digest) {
            Err(reason) => problems.push(reason),
            Ok(ev) => by_index.entry(ev.index).or_default().push(ev),
        }
    }
    for (index, evs) in by_index {
        if evs.len() > 1 {
            let names: Vec<&str> = evs.iter().map(|e| e.file.as_str()).collect();
            problems.push(format!(
                "chunk {index} appears {} times ({})",
                evs.len(),
                names.join(", ")
            ));
            continue;
        }
        let Some(ev) = evs.into_iter().next() else {
            continue;
        };
        if index as usize >= plan.chunks.len() {
            problems.push(format!(
                "{}: chunk {index} is not in the plan's {} chunks",
                ev.file,
                plan.chunks.len()
            ));
        } else if ev.file != proof_name(index) {
            problems.push(format!(
                "{} holds the proof of chunk {index} (files swapped or renamed)",
                ev.file
            ));
        } else {
            found.insert(index, ev);
        }
    }
    for (i, c) in plan.chunks.iter().enumerate() {
        let line = &mut chunks[i];
        let Some(ev) = found.get(&c.index) else {
            line.error = Some(format!("missing: no {}", proof_name(c.index)));
            continue;
        };
        let check = check_chunk(&plan, i, ev, run_dir, &vs)?;
        let g = line.reads.len();
        if ev.instances.len() > g {
            line.h_in = Some(to_hex(&ev.instances[0]));
            line.more_inputs = ev.instances[1..g].iter().map(to_hex).collect();
            line.h_out = Some(to_hex(&ev.instances[g]));
        }
        line.error = check.err();
    }
    for line in &chunks {
        if let Some(e) = &line.error {
            problems.push(format!("chunk {}: {e}", line.index));
        }
    }
    // Links: every boundary a chunk reads is what its producer committed to: h_out(b − 1) == h_in of the chunk's
    // group reading boundary b (in a chain, h_out(i) == h_in(i + 1)). The readers of the model's inputs agree.
    let tags = |i: u32| found.get(&i).and_then(|ev| ev.meta.salt_tags.as_ref());
    let mut first_input_reader: Option<(u32, String, Vec<String>)> = None;
    for line in &chunks {
        for (g, &b) in line.reads.iter().enumerate() {
            let inp = if g == 0 {
                line.h_in.clone()
            } else {
                line.more_inputs.get(g - 1).cloned()
            };
            let Some(inp) = inp else { continue };
            if b == 0 {
                let publics = if plan.visibility.public_input {
                    found.get(&line.index).map_or_else(Vec::new, |ev| {
                        let n = plan.boundary_tensors(0).map_or(0, total_values);
                        ev.instances
                            .iter()
                            .skip(line.reads.len() + 1)
                            .take(n)
                            .map(to_hex)
                            .collect()
                    })
                } else {
                    Vec::new()
                };
                match &first_input_reader {
                    None => first_input_reader = Some((line.index, inp, publics)),
                    Some((first, h, p)) if *h != inp || *p != publics => problems.push(format!(
                        "chunks {first} and {} both read the model's inputs but commit to (or publish) different \
                         values: prove every chunk that reads them from the one boundary-0.dzk of `dzk boundaries`",
                        line.index
                    )),
                    Some(_) => {}
                }
                continue;
            }
            let producer = b - 1;
            let Some(out) = chunks.get(producer as usize).and_then(|p| p.h_out.clone()) else {
                continue;
            };
            if let Some(p) = link_problem(
                (producer, line.index, g),
                (&out, tags(producer)),
                (&inp, tags(line.index)),
            ) {
                problems.push(p);
            }
        }
    }
    // The Merkle root over (index, h_in…, h_out).
    let leaves: Option<Vec<ChunkLeaf>> = chunks
        .iter()
        .map(|l| {
            Some(ChunkLeaf {
                index: u64::from(l.index),
                h_in: from_hex(l.h_in.as_deref()?).ok()?,
                h_out: from_hex(l.h_out.as_deref()?).ok()?,
                more_inputs: l
                    .more_inputs
                    .iter()
                    .map(|h| from_hex(h).ok())
                    .collect::<Option<_>>()?,
            })
        })
        .collect();
    let root = leaves
        .and_then(|l| MerkleTree::new(l).ok())
        .map(|t| t.root());
    let published = match expected_root {
        Some(r) => Some((r.root, r.source)),
        None => match read_merkle_root(proofs_dir, &digest) {
            Ok(r) => r.map(|r| (r, "merkle.dzk")),
            Err(e) => {
                problems.push(e);
                None
            }
        },
    };
    if let (Some(root), Some((want, source))) = (root, &published) {
        if root != *want {
            let source = match *source {
                "--root" => "the --root given",
                "kit" => "the kit's published root",
                other => other,
            };
            problems.push(format!(
                "the Merkle root of the proofs, {}, is not {source}'s {}",
                to_hex(&root),
                to_hex(want)
            ));
        }
    }
    // The model's outputs: the last chunk's public values, or those of a split last layer's parts joined along
    // the last axis (`Plan::output_join`; the verifier makes the concatenation no chunk proves).
    let public_outputs = if plan.visibility.public_output {
        plan.output_chunks()
            .iter()
            .map(|&c| {
                let ev = found.get(&c)?;
                let skip = instance_count(&plan, c as usize)
                    - total_values(&plan.chunks[c as usize].outputs);
                Some(
                    ev.instances
                        .iter()
                        .skip(skip)
                        .map(signed)
                        .collect::<Vec<_>>(),
                )
            })
            .collect::<Option<Vec<_>>>()
            .and_then(|parts| plan.join_outputs(&parts))
    } else {
        None
    };
    let public_inputs = if plan.visibility.public_input {
        found.get(&0).map(|ev| {
            let n = total_values(&plan.chunks[0].inputs);
            let skip = plan.chunks[0].reads().len() + 1;
            ev.instances.iter().skip(skip).take(n).map(signed).collect()
        })
    } else {
        None
    };
    let verdict = match problems.first() {
        None => Verdict::Valid,
        Some(_) => Verdict::Rejected(problems.join("; ")),
    };
    Ok(Report {
        plan_digest: digest,
        chunks,
        root: root.map(|r| to_hex(&r)),
        public_inputs,
        public_outputs,
        insecure_setup: insecure,
        root_checked_against: published.as_ref().map(|p| p.1.to_string()),
        root_pinned: expected_root.is_some(),
        verdict,
    })
}

/// What is wrong with the boundary chunk `left` wrote and chunk `right` read as its input group `group`, given
/// `left`'s output commitment and `right`'s input commitment with their proofs' salt fingerprints (`None`: the
/// link holds). In a chain, `right = left + 1` and `group = 0`. When the commitments differ and the salts do too,
/// the likely cause is a chunk proven again with a new salt, and the message gives the repair; when the salts
/// agree (or are not recorded), the chunks were proven from different activations.
pub fn link_problem(
    (left, right, group): (u32, u32, usize),
    out: (&str, Option<&SaltTags>),
    inp: (&str, Option<&SaltTags>),
) -> Option<String> {
    if out.0 == inp.0 {
        return None;
    }
    let in_tag = |t: &SaltTags| {
        if t.inputs.is_empty() {
            (group == 0).then(|| t.input.clone())
        } else {
            t.inputs.get(group).cloned()
        }
    };
    let salts_differ =
        matches!((out.1, inp.1), (Some(a), Some(b)) if Some(&a.output) != in_tag(b).as_ref());
    let cut = left + 1;
    Some(if salts_differ {
        format!(
            "cut {cut}: chunk {left}'s output commitment differs from chunk {right}'s input commitment, and so do \
             their salts: chunk {left} was proven again with a new salt (or chunk {right} from another boundary \
             file), the activations may well be the same. Repair: prove chunk {left} again with the salt chunk \
             {right} was proven with, `dzk prove-chunk RUN --chunk {left} --force --next boundary-{cut}.dzk` \
             (the file chunk {right} was proven from)"
        )
    } else {
        format!(
            "cut {cut}: chunk {left}'s output commitment differs from chunk {right}'s input commitment (proven \
             from different activations)"
        )
    })
}

/// A field element as the small signed integer it encodes (or hex if it is not one).
pub fn signed(x: &Fr) -> String {
    use halo2_proofs::halo2curves::ff::PrimeField;
    let small = |v: &Fr| -> Option<u64> {
        let r = v.to_repr();
        let b = r.as_ref();
        b[8..]
            .iter()
            .all(|&x| x == 0)
            .then(|| u64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8])))
    };
    if let Some(v) = small(x) {
        return v.to_string();
    }
    if let Some(v) = small(&-*x) {
        return format!("-{v}");
    }
    to_hex(x)
}

/// The root recorded in `PROOFS_DIR/merkle.dzk`, if that file exists.
fn read_merkle_root(proofs_dir: &Path, plan_digest: &str) -> Result<Option<Fr>, String> {
    let path = proofs_dir.join("merkle.dzk");
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(None);
    };
    let env = Envelope::decode(&bytes, Kind::Merkle).map_err(|e| format!("merkle.dzk: {e}"))?;
    if env.header.plan_digest.as_deref() != Some(plan_digest) {
        return Err("merkle.dzk belongs to another plan".into());
    }
    let m: MerkleFile =
        serde_json::from_slice(&env.body).map_err(|e| format!("merkle.dzk: {e}"))?;
    from_hex(&m.root)
        .map(Some)
        .map_err(|e| format!("merkle.dzk: root {e}"))
}
