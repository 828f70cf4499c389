//! `dzk aggregate-node`: one node of a tree of aggregations, so that a cluster proves every node of a level at
//! once (`dzk aggregate --group G` proves them one after another on one machine). A node below the root writes
//! a node file for the node above; the root writes the run's aggregated proof, the same file `dzk aggregate`
//! writes, which `verify-all --aggregate` checks.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use dzk_aggregate::{Child, ConfigParams, Node, Transcript};
use dzk_format::run::NodeMeta;
use dzk_format::{Envelope, Kind};
use dzk_merkle::hex::{from_hex, to_hex};
use dzk_verifier::audit::{proof_name, read_evidence};
use halo2_proofs::halo2curves::bn256::{Fr, G1Affine};
use halo2_proofs::plonk::VerifyingKey;
use halo2_proofs::poly::commitment::Params;
use serde_json::json;

use crate::backend::BackendOpt;
use crate::io::write_atomic;
use crate::run::spinner;

use super::aggregate::{encode_config, encode_configs, shape, trusted, write_root};
use super::aggregate_verify::TreeShape;

/// Arguments of `dzk aggregate-node`.
#[derive(Debug, Args)]
pub struct AggregateNodeCmd {
    /// The directory of the run's chunk proofs.
    pub proofs: PathBuf,
    /// The run directory (plan and verifying keys).
    #[arg(long, value_name = "RUN_DIR")]
    pub run: PathBuf,
    /// The SRS directory (k ≥ 18; the chunks' keys were made from it).
    #[arg(long, value_name = "PARAMS_DIR")]
    pub params: PathBuf,
    /// Proofs per node of the tree (a power of two, at least 2), as `dzk aggregate --group`.
    #[arg(long, value_name = "G")]
    pub group: usize,
    /// The node's level: 0 over chunk proofs, each level above over the node proofs of the one below.
    #[arg(long, required_unless_present = "tree")]
    pub level: Option<usize>,
    /// The node's index in its level.
    #[arg(long, required_unless_present = "tree")]
    pub node: Option<usize>,
    /// Print the tree's nodes per level (what a scheduler submits: level by level, each level's nodes at once)
    /// and prove nothing; reads only the plan.
    #[arg(long, conflicts_with_all = ["level", "node"])]
    pub tree: bool,
    /// Where node proofs are read (level ≥ 1) and written (below the root). Default: PROOFS/nodes.
    #[arg(long, value_name = "DIR")]
    pub nodes: Option<PathBuf>,
    /// The root only: make its proof with the Keccak transcript, for the Solidity verifier.
    #[arg(long)]
    pub evm: bool,
    /// The root only: also write the verifier contract's calldata (hex) here; implies --evm.
    #[arg(long, value_name = "FILE")]
    pub evm_calldata: Option<PathBuf>,
    /// The root only: the aggregated proof file. Default: PROOFS/aggregate.dzk.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Prove a node below the root again even when its node file is there already (by default a node file that
    /// reads back as this node of this run's tree is kept, so a level submitted again redoes only what failed).
    #[arg(long)]
    pub force: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub backend: BackendOpt,
}

/// The file of node `index` of level `level` in the nodes directory.
pub fn node_name(level: usize, index: usize) -> String {
    format!("node-{level}-{index}.dzk")
}

/// A node proof read back for the node above: its key, public values, proof and subtree configurations.
struct NodeProof {
    vk: VerifyingKey<G1Affine>,
    instances: Vec<Fr>,
    proof: Vec<u8>,
    configs: Vec<Vec<ConfigParams>>,
}

/// Reads node `index` of `level` from `dir`, checking that it is that node of this run's tree.
fn read_node(
    dir: &Path,
    level: usize,
    index: usize,
    digest: &str,
    chunks: usize,
    group: usize,
) -> anyhow::Result<NodeProof> {
    let path = dir.join(node_name(level, index));
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "reading {} (prove node {index} of level {level} first: `dzk aggregate-node --level {level} --node \
             {index}`)",
            path.display()
        )
    })?;
    let bad = |why: String| anyhow::anyhow!("{}: {why}", path.display());
    let env = Envelope::decode(&bytes, Kind::AggregateNode).map_err(|e| bad(e.to_string()))?;
    let meta: NodeMeta = env
        .header
        .params_as()
        .ok_or_else(|| bad("no node metadata in the header".into()))?;
    if env.header.plan_digest.as_deref() != Some(digest) {
        return Err(bad("a node proof of another plan".into()));
    }
    let at = (meta.chunks, meta.group, meta.level, meta.index);
    let want = (chunks as u32, group as u32, level as u32, index as u32);
    if at != want {
        return Err(bad(format!(
            "node {} of level {} of a tree over {} chunks with {} proofs per node, not node {index} of level \
             {level} over {chunks} with {group}",
            at.3, at.2, at.0, at.1
        )));
    }
    let config: ConfigParams = serde_json::from_value(meta.config.clone())
        .map_err(|e| bad(format!("its configuration: {e}")))?;
    let vk_bytes =
        dzk_evm::from_hex(&meta.vk).map_err(|e| bad(format!("its verifying key: {e}")))?;
    let vk = dzk_aggregate::read_verifying_key(&vk_bytes, config).map_err(bad)?;
    let instances = meta
        .instances
        .iter()
        .map(|h| from_hex(h))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("its public values: {e}")))?;
    let configs = meta
        .configs
        .iter()
        .map(|l| {
            l.iter()
                .map(|c| serde_json::from_value(c.clone()))
                .collect::<Result<Vec<ConfigParams>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("its subtree's configurations: {e}")))?;
    Ok(NodeProof {
        vk,
        instances,
        proof: env.body,
        configs,
    })
}

impl AggregateNodeCmd {
    /// `--tree`: the nodes of each level, from the plan alone.
    fn print_tree(&self) -> anyhow::Result<()> {
        let plan = dzk_verifier::audit::read_plan(&self.run)?;
        let chunks = plan.chunks.len();
        let levels = dzk_aggregate::tree(chunks, self.group)
            .map_err(|e| anyhow::anyhow!("--group {}: {e}", self.group))?;
        let sizes: Vec<usize> = levels.iter().map(Vec::len).collect();
        if self.json {
            println!(
                "{}",
                json!({"chunks": chunks, "group": self.group, "levels": sizes})
            );
        } else {
            for (l, n) in sizes.iter().enumerate() {
                let what = if l + 1 == sizes.len() {
                    " (the root)"
                } else {
                    ""
                };
                println!(
                    "level {l}: {n} node{}{what}",
                    if *n == 1 { "" } else { "s" }
                );
            }
        }
        Ok(())
    }

    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        let (level, index) = match (self.level, self.node) {
            (Some(l), Some(n)) if !self.tree => (l, n),
            _ => return self.print_tree(),
        };
        let chosen = self.backend.choose()?;
        let t = trusted(&self.run, &self.params)?;
        let chunks = t.plan.chunks.len();
        let levels = dzk_aggregate::tree(chunks, self.group)
            .map_err(|e| anyhow::anyhow!("--group {}: {e}", self.group))?;
        let node: Node = *levels
            .get(level)
            .and_then(|l| l.get(index))
            .ok_or_else(|| {
                let sizes: Vec<usize> = levels.iter().map(Vec::len).collect();
                anyhow::anyhow!(
                    "the tree over {chunks} chunk proofs with --group {} has nodes {sizes:?} by level: there is \
                     no node {} of level {}",
                    self.group,
                    index,
                    level
                )
            })?;
        let root = node.is_root();
        if !root && (self.evm || self.evm_calldata.is_some() || self.out.is_some()) {
            anyhow::bail!(
                "--evm, --evm-calldata and -o are for the root (level {}), not node {} of level {}",
                levels.len() - 1,
                index,
                level
            );
        }
        let nodes_dir = self
            .nodes
            .clone()
            .unwrap_or_else(|| self.proofs.join("nodes"));
        let digest = t.plan.digest();
        let r = node.chunk_range();
        if !root && !self.force {
            let file = nodes_dir.join(node_name(level, index));
            if file.exists()
                && read_node(&nodes_dir, level, index, &digest, chunks, self.group).is_ok()
            {
                eprintln!(
                    "node {index} of level {level}: {} is there already; keeping it (--force proves again)",
                    file.display()
                );
                if self.json {
                    println!(
                        "{}",
                        json!({"file": file, "level": level, "node": index, "levels": levels.len(),
                               "root": false, "chunks": [r.start, r.end], "skipped": true})
                    );
                }
                return Ok(());
            }
        }
        let kids = node.children_of(index);
        // The children: chunk proofs (level 0) or the node proofs of the level below.
        let below = if level == 0 {
            Vec::new()
        } else {
            kids.clone()
                .map(|j| read_node(&nodes_dir, level - 1, j, &digest, chunks, self.group))
                .collect::<anyhow::Result<Vec<_>>>()?
        };
        let children: Vec<Child<'_>> = if level == 0 {
            let mut out = Vec::with_capacity(kids.len());
            for i in kids {
                let ev = read_evidence(
                    &self.proofs.join(proof_name(t.plan.chunks[i].index)),
                    &digest,
                )
                .map_err(|e| anyhow::anyhow!("{e}"))?;
                let (vk, params, _) = &t.chunks[i];
                out.push(Child {
                    vk,
                    params,
                    instances: ev.instances,
                    proof: ev.proof,
                });
            }
            out
        } else {
            below
                .iter()
                .map(|n| Child {
                    vk: &n.vk,
                    params: &t.params,
                    instances: n.instances.clone(),
                    proof: n.proof.clone(),
                })
                .collect()
        };
        let transcript = if root && (self.evm || self.evm_calldata.is_some()) {
            Transcript::Keccak
        } else {
            Transcript::Poseidon
        };
        let pb = spinner(&format!(
            "aggregating node {} of level {} (chunks {}..{}, k = {})",
            index,
            level,
            r.start,
            r.end,
            t.params.k()
        ));
        let started = Instant::now();
        // A child that does not verify, or a broken link, is refused before the keys' minutes.
        let agg = dzk_aggregate::prove_node(
            &t.params,
            node,
            &children,
            &shape(&t.plan),
            transcript,
            chosen.backend,
        )?;
        let secs = started.elapsed().as_secs_f64();
        pb.finish_and_clear();
        // The subtree's configurations by level, this node's last: the children's side by side, level by level.
        let mut configs: Vec<Vec<ConfigParams>> = vec![Vec::new(); level];
        for n in &below {
            for (l, c) in n.configs.iter().enumerate() {
                if let Some(level) = configs.get_mut(l) {
                    level.extend(c.iter().copied());
                }
            }
        }
        configs.push(vec![agg.config]);
        let (file, recorded) = if root {
            let out = self
                .out
                .clone()
                .unwrap_or_else(|| self.proofs.join("aggregate.dzk"));
            let tree = TreeShape {
                group: self.group,
                configs,
            };
            let recorded = write_root(
                &self.run,
                &t,
                &agg,
                &tree,
                &out,
                self.evm_calldata.as_deref(),
            )?;
            (out, recorded)
        } else {
            let meta = NodeMeta {
                chunks: chunks as u32,
                group: self.group as u32,
                level: level as u32,
                index: index as u32,
                config: encode_config(&agg.config)?,
                instances: agg.instances.iter().map(to_hex).collect(),
                vk: dzk_evm::to_hex(&dzk_aggregate::verifying_key_bytes(&agg.vk)),
                configs: encode_configs(&configs)?,
            };
            let mut env = Envelope::new(
                Kind::AggregateNode,
                super::aggregate::encoding(transcript).as_str(),
                agg.proof.clone(),
            );
            env.header.plan_digest = Some(digest);
            env.header.params = Some(serde_json::to_value(&meta).context("encoding the metadata")?);
            let out = nodes_dir.join(node_name(level, index));
            std::fs::create_dir_all(&nodes_dir)
                .with_context(|| format!("creating {}", nodes_dir.display()))?;
            write_atomic(&out, &env.encode())?;
            (out, None)
        };
        if self.json {
            println!(
                "{}",
                json!({"file": file, "level": level, "node": index, "levels": levels.len(),
                       "root": root, "chunks": [r.start, r.end], "k": t.params.k(), "prove_s": secs,
                       "proof_bytes": agg.proof.len(), "transcript": transcript.name(),
                       "merkle": to_hex(&agg.root()), "aggregation_vk": recorded,
                       "backend": chosen.backend.name(), "backend_note": chosen.note})
            );
        } else {
            println!(
                "aggregated node {} of level {} (chunks {}..{}) into {} in {secs:.1} s{}",
                index,
                level,
                r.start,
                r.end,
                file.display(),
                if root {
                    format!(": the run's aggregated proof, root {}", to_hex(&agg.root()))
                } else {
                    String::new()
                }
            );
        }
        Ok(())
    }
}
