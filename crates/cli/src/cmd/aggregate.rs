//! `dzk aggregate`: every chunk proof of a run in one proof; and the auditor's check of such a proof
//! (`dzk verify-all --aggregate FILE`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use dzk_aggregate::{Child, ChildKey, ConfigParams, Shape, Transcript};
use dzk_circuit::LayoutParams;
use dzk_format::run::{total_values, AggregateMeta, Plan, TreeMeta};
use dzk_format::{Envelope, Kind};
use dzk_merkle::hex::to_hex;
use dzk_verifier::audit::{
    proof_name, read_evidence, read_plan, read_vk, verify_all, vk_name, Verdict,
};
use dzk_verifier::kit::Kit;
use dzk_verifier::srs;
use halo2_proofs::halo2curves::bn256::{Bn256, G1Affine};
use halo2_proofs::plonk::VerifyingKey;
use halo2_proofs::poly::commitment::Params;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use serde_json::json;

use crate::backend::BackendOpt;
use crate::io::write_atomic;
use crate::run::{bar, spinner, Rejected};

/// The smallest aggregation SRS accepted: below it the verifier circuit's tables do not fit.
pub(super) const MIN_AGG_K: u32 = 18;

/// The smallest aggregation k whose Solidity verifier fits EIP-170's limit (measured on the digits model:
/// 21,120 bytes at k = 22; about 83 KB at k = 19).
const EVM_K: u32 = 22;

/// Arguments of `dzk aggregate`.
#[derive(Debug, Args)]
pub struct AggregateCmd {
    /// The proofs directory (its `chunk-I.proof` files).
    pub proofs: PathBuf,
    /// The run directory (plan and verifying keys).
    #[arg(long, value_name = "RUN_DIR")]
    pub run: PathBuf,
    /// The SRS directory; its k is the aggregation circuit's (at least 18; `dzk setup --k 19`).
    #[arg(long, value_name = "PARAMS_DIR")]
    pub params: PathBuf,
    /// Where to write the aggregated proof (default: PROOFS_DIR/aggregate.dzk).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Aggregate through a tree with at most G proofs per node (a power of two, at least 2): nodes over G chunk
    /// proofs each, then nodes over G of those, up to one root, so the chunk count is not bounded by one
    /// aggregation circuit. Default: one aggregation over all the chunk proofs.
    #[arg(long, value_name = "G")]
    pub group: Option<usize>,
    /// Make the (root) proof for the EVM: with the Keccak transcript that the Solidity verifier of
    /// `dzk export-solidity` reads, instead of the Poseidon one. `verify-all --aggregate` checks either.
    #[arg(long)]
    pub evm: bool,
    /// With --evm (implied): also write the verifier contract's calldata for this proof to FILE, as 0x-hex
    /// (the public values as 32-byte words, then the proof).
    #[arg(long, value_name = "FILE")]
    pub evm_calldata: Option<PathBuf>,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub backend: BackendOpt,
}

/// The body encoding of an aggregated proof made with `transcript`.
pub(super) fn encoding(transcript: Transcript) -> String {
    format!("halo2-shplonk-{}", transcript.name())
}

/// The transcript an aggregated proof's body encoding names.
pub(super) fn transcript_of(body_encoding: &str) -> Option<Transcript> {
    [Transcript::Poseidon, Transcript::Keccak]
        .into_iter()
        .find(|t| encoding(*t) == body_encoding)
}

/// What the aggregated statement exposes besides the chunks, from the plan.
pub(super) fn shape(plan: &Plan) -> Shape {
    // The public outputs of each chunk that states them (the last, or a split last layer's parts), in order.
    let outputs: Vec<usize> = if plan.visibility.public_output {
        plan.output_chunks()
            .iter()
            .map(|&c| total_values(&plan.chunks[c as usize].outputs))
            .collect()
    } else {
        Vec::new()
    };
    Shape {
        public_inputs: if plan.visibility.public_input {
            total_values(&plan.chunks[0].inputs)
        } else {
            0
        },
        public_outputs: outputs.iter().sum(),
        // A graph-shaped run: the edges the aggregation circuit constrains (one node over every chunk only).
        reads: if plan.is_graph() {
            plan.chunks.iter().map(|c| c.reads()).collect()
        } else {
            Vec::new()
        },
        // The parts of a split last layer, each stating its share.
        output_parts: if plan.output_join.is_some() {
            outputs
        } else {
            Vec::new()
        },
    }
}

/// The run's trusted inputs: plan, SRS, and per chunk its verifying key (digest-checked against the plan) and
/// the SRS at its k.
pub(super) struct Trusted {
    pub(super) plan: Plan,
    pub(super) insecure: bool,
    /// The whole SRS, or (from a kit) the verifier's part of it at the aggregation circuit's k.
    pub(super) params: ParamsKZG<Bn256>,
    /// Whether `params` is the whole SRS (a kit's can verify but neither prove nor rebuild keys).
    pub(super) full: bool,
    /// The SRS's identity.
    pub(super) srs_id: String,
    pub(super) chunks: Vec<ChunkKey>,
}

/// A chunk's verifying key, its SRS and its number of public values.
type ChunkKey = (VerifyingKey<G1Affine>, ParamsKZG<Bn256>, usize);

/// The chunks' verifying keys from `dir` (a run directory or a kit), each checked against the plan's digest,
/// with their parameters from `params_for(k)`.
fn chunk_keys(
    dir: &Path,
    plan: &Plan,
    mut params_for: impl FnMut(u32) -> anyhow::Result<ParamsKZG<Bn256>>,
) -> anyhow::Result<Vec<ChunkKey>> {
    let mut chunks = Vec::with_capacity(plan.chunks.len());
    for (i, c) in plan.chunks.iter().enumerate() {
        let path = dir.join(vk_name(c.index));
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let env = Envelope::decode(&bytes, Kind::VerifyingKey)
            .with_context(|| format!("reading {}", path.display()))?;
        let digest = blake3::hash(&env.body).to_hex().to_string();
        if c.vk_blake3.as_deref() != Some(digest.as_str()) {
            anyhow::bail!(
                "{}: not the verifying key the plan records (run `dzk keygen` again)",
                path.display()
            );
        }
        let vk = read_vk(&env.body, LayoutParams::from(&c.layout), c.k)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        chunks.push((
            vk,
            params_for(c.k)?,
            dzk_verifier::audit::instance_count(plan, i),
        ));
    }
    Ok(chunks)
}

/// The trusted inputs from an auditor's kit: enough to verify an aggregated proof against a key the plan
/// records, not to rebuild one. `params` is set to the aggregation circuit's k once its configuration is known.
pub(super) fn trusted_kit(kit: &Kit) -> anyhow::Result<Trusted> {
    let plan = read_plan(&kit.dir)?;
    let vs = kit.srs;
    Ok(Trusted {
        insecure: kit.manifest.insecure_dev_seed.is_some()
            || vs.dev_seed(srs::DEV_SEEDS_RECOGNISED).is_some(),
        params: vs.params(MIN_AGG_K),
        full: false,
        srs_id: vs.id(),
        chunks: chunk_keys(&kit.dir, &plan, |k| Ok(vs.params(k)))?,
        plan,
    })
}

pub(super) fn trusted(run: &Path, params_dir: &Path) -> anyhow::Result<Trusted> {
    let plan = read_plan(run)?;
    let (info, params) =
        srs::load(params_dir).with_context(|| format!("reading {}", params_dir.display()))?;
    if params.k() < MIN_AGG_K {
        anyhow::bail!(
            "{}: the SRS has k = {}; aggregation needs k ≥ {MIN_AGG_K} (run `dzk setup --k 19`, then keygen and \
             prove with it)",
            params_dir.display(),
            params.k()
        );
    }
    let chunks = chunk_keys(run, &plan, |k| Ok(srs::downsized(&params, k, params_dir)?))?;
    Ok(Trusted {
        plan,
        insecure: info.insecure_dev_seed.is_some(),
        srs_id: srs::srs_id(&params),
        params,
        full: true,
        chunks,
    })
}

pub(super) fn keys(t: &Trusted) -> Vec<ChildKey<'_>> {
    t.chunks.iter().map(|(vk, p, n)| (vk, p, *n)).collect()
}

impl AggregateCmd {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        if let Some(g) = self.group {
            dzk_aggregate::tree(1, g).map_err(|e| anyhow::anyhow!("--group {g}: {e}"))?;
        }
        let chosen = self.backend.choose()?;
        // Only a run that verifies is aggregated: a rejected one gets its reasons, not a proof.
        let report = verify_all(
            &self.proofs,
            &self.run,
            dzk_verifier::audit::SrsSource::Dir(&self.params),
            None,
        )?;
        if let Verdict::Rejected(reason) = report.verdict {
            return Err(Rejected(format!(
                "the run does not verify, so it is not aggregated: {reason}"
            ))
            .into());
        }
        let t = trusted(&self.run, &self.params)?;
        let digest = t.plan.digest();
        let mut proofs = Vec::with_capacity(t.plan.chunks.len());
        for c in &t.plan.chunks {
            let ev = read_evidence(&self.proofs.join(proof_name(c.index)), &digest)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            proofs.push(ev);
        }
        let chunks: Vec<Child<'_>> = t
            .chunks
            .iter()
            .zip(&proofs)
            .map(|((vk, p, _), ev)| Child {
                vk,
                params: p,
                instances: ev.instances.clone(),
                proof: ev.proof.clone(),
            })
            .collect();
        let group = self.group.unwrap_or_else(|| flat_group(chunks.len()));
        let levels = dzk_aggregate::tree(chunks.len(), group)?;
        let nodes: usize = levels.iter().map(Vec::len).sum();
        let pb = if nodes == 1 {
            spinner(&format!(
                "aggregating {} chunk proof{} (k = {})",
                chunks.len(),
                if chunks.len() == 1 { "" } else { "s" },
                t.params.k()
            ))
        } else {
            bar(nodes as u64, "")
        };
        let started = Instant::now();
        let mut done = 0;
        let transcript = if self.evm || self.evm_calldata.is_some() {
            Transcript::Keccak
        } else {
            Transcript::Poseidon
        };
        if transcript == Transcript::Keccak && t.params.k() < EVM_K {
            eprintln!(
                "warning: at k = {} the aggregation circuit has so many columns that its Solidity verifier is larger \
                 than EIP-170's 24,576 bytes (about 83 KB at k = 19); with an SRS of k = {EVM_K} it fits",
                t.params.k()
            );
        }
        let tree = dzk_aggregate::aggregate_tree_with(
            &t.params,
            &chunks,
            group,
            &shape(&t.plan),
            transcript,
            chosen.backend,
            |s| {
                if nodes > 1 {
                    pb.set_position(done);
                    pb.set_message(step_message("aggregating", s));
                }
                done += 1;
            },
        )?;
        let secs = started.elapsed().as_secs_f64();
        pb.finish_and_clear();
        let agg = tree.root();
        let out = self
            .out
            .unwrap_or_else(|| self.proofs.join("aggregate.dzk"));
        let recorded = write_root(
            &self.run,
            &t,
            agg,
            &TreeShape {
                group,
                configs: tree.configs(),
            },
            &out,
            self.evm_calldata.as_deref(),
        )?;
        let root = to_hex(&agg.root());
        if self.json {
            println!(
                "{}",
                json!({"file": out, "root": root, "chunks": chunks.len(), "k": t.params.k(),
                       "levels": levels.len(), "nodes": nodes, "group": self.group,
                       "prove_s": secs, "proof_bytes": agg.proof.len(),
                       "transcript": transcript.name(), "calldata": self.evm_calldata,
                       "aggregation_vk": recorded, "backend": chosen.backend.name(),
                       "backend_note": chosen.note})
            );
        } else {
            println!(
                "aggregated {} chunk proofs into {}{}",
                chunks.len(),
                out.display(),
                if levels.len() > 1 {
                    format!(
                        " through a tree of {nodes} aggregations on {} levels",
                        levels.len()
                    )
                } else {
                    String::new()
                }
            );
            println!("root {root}");
            println!(
                "proof {} bytes ({} transcript), {secs:.1} s",
                agg.proof.len(),
                transcript.name()
            );
            if let Some(path) = &self.evm_calldata {
                println!("calldata for the verifier contract: {}", path.display());
            }
        }
        Ok(())
    }
}

/// An aggregation circuit's configuration as the JSON that aggregated proofs and node files carry.
pub(super) fn encode_config(c: &ConfigParams) -> anyhow::Result<serde_json::Value> {
    serde_json::to_value(c).context("encoding a configuration")
}

/// A tree's configurations by level, each as [`encode_config`] writes it.
pub(super) fn encode_configs(
    levels: &[Vec<ConfigParams>],
) -> anyhow::Result<Vec<Vec<serde_json::Value>>> {
    levels
        .iter()
        .map(|l| l.iter().map(encode_config).collect())
        .collect()
}

/// Writes a tree's root proof `agg` as the run's aggregated proof at `out` (with every node's configuration when
/// the tree has more than one level), its EVM calldata when `evm_calldata` is given, and records its verifying
/// key in the run. Returns the recorded key's file (`None`, with a warning, when it could not be recorded).
pub(super) fn write_root(
    run: &Path,
    t: &Trusted,
    agg: &dzk_aggregate::Aggregated,
    tree: &TreeShape,
    out: &Path,
    evm_calldata: Option<&Path>,
) -> anyhow::Result<Option<PathBuf>> {
    let meta = AggregateMeta {
        chunks: t.plan.chunks.len() as u32,
        config: encode_config(&agg.config)?,
        instances: agg.instances.iter().map(to_hex).collect(),
        tree: if tree.configs.len() > 1 {
            Some(TreeMeta {
                group: tree.group as u32,
                configs: encode_configs(&tree.configs)?,
            })
        } else {
            None
        },
    };
    let mut env = Envelope::new(
        Kind::AggregateProof,
        &encoding(agg.transcript),
        agg.proof.clone(),
    );
    env.header.plan_digest = Some(t.plan.digest());
    env.header.params = Some(serde_json::to_value(&meta).context("encoding the metadata")?);
    write_atomic(out, &env.encode())?;
    if let Some(path) = evm_calldata {
        let data = dzk_evm::calldata(&agg.instances, &agg.proof);
        write_atomic(path, dzk_evm::to_hex(&data).as_bytes())?;
    }
    Ok(match record_vk(run, t, tree, &shape(&t.plan), &agg.vk) {
        Ok(file) => Some(file),
        Err(e) => {
            eprintln!(
                "warning: could not record the aggregation verifying key in {}: {e:#} (auditors will rebuild it)",
                run.display()
            );
            None
        }
    })
}

/// The `group` that makes [`dzk_aggregate::tree`] one node over all `chunks` chunk proofs.
pub(super) fn flat_group(chunks: usize) -> usize {
    chunks.next_power_of_two().max(2)
}

/// A progress message for one node of a tree.
pub(super) fn step_message(what: &str, s: dzk_aggregate::Step) -> String {
    let r = s.node.chunk_range();
    format!(
        "{what}: level {}/{}, node {}/{} (chunks {}..{})",
        s.level + 1,
        s.levels,
        s.index + 1,
        s.nodes,
        r.start,
        r.end
    )
}

pub use super::aggregate_verify::{default_cache_dir, verify_aggregate};
use super::aggregate_verify::{record_vk, TreeShape};
