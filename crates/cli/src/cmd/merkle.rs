//! `dzk merkle`: the Merkle root over the chunk proofs' commitments, with every chunk's inclusion path.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use dzk_format::run::{MerkleFile, ProofMeta, SaltTags};
use dzk_format::{Envelope, Kind};
use dzk_merkle::hex::{from_hex, to_hex};
use dzk_merkle::{ChunkLeaf, InclusionPath, MerkleTree};
use dzk_verifier::audit::link_problem;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::io::write_atomic;
use crate::run::Rejected;

/// Arguments of `dzk merkle`.
#[derive(Debug, Args)]
pub struct MerkleCmd {
    /// The proofs directory (its `chunk-I.proof` files).
    #[arg(required_unless_present = "check_path")]
    pub proofs: Option<PathBuf>,
    /// Where to write the Merkle file (default: PROOFS_DIR/merkle.dzk).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also write each chunk's leaf and inclusion path as `chunk-I.path.json` into this directory.
    #[arg(long, value_name = "DIR")]
    pub paths: Option<PathBuf>,
    /// Verify one `chunk-I.path.json` against `--root` instead (exit 0 if it is included, 1 if not).
    #[arg(long, value_name = "PATH_FILE", requires = "root")]
    pub check_path: Option<PathBuf>,
    /// The root to check a path against.
    #[arg(long, value_name = "HEX")]
    pub root: Option<String>,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// One leaf with its inclusion path.
#[derive(Debug, Serialize, Deserialize)]
struct PathFile {
    leaf: ChunkLeaf,
    path: InclusionPath,
}

/// A proof's chunk index, leaf, plan digest, salt fingerprints and the boundaries it read.
type Found = (u32, ChunkLeaf, String, Option<SaltTags>, Vec<u32>);

impl MerkleCmd {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        if let Some(file) = &self.check_path {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            let p: PathFile = serde_json::from_str(&text)
                .with_context(|| format!("{}: not an inclusion path file", file.display()))?;
            let root = from_hex(self.root.as_deref().unwrap_or_default()).context("--root")?;
            if p.path.verify(root, &p.leaf) {
                println!(
                    "included: chunk {} under root {}",
                    p.leaf.index,
                    to_hex(&root)
                );
                return Ok(());
            }
            return Err(Rejected(format!(
                "{}: chunk {} is not included under root {}",
                file.display(),
                p.leaf.index,
                to_hex(&root)
            ))
            .into());
        }
        let dir = self.proofs.clone().context("give PROOFS_DIR")?;
        let mut found: Vec<Found> = Vec::new();
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "proof"))
            .collect();
        files.sort();
        for path in files {
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let env = Envelope::decode(&bytes, Kind::ChunkProof)
                .with_context(|| format!("{}", path.display()))?;
            let meta: ProofMeta = env
                .header
                .params_as()
                .with_context(|| format!("{}: no proof metadata", path.display()))?;
            let index = env
                .header
                .chunk_index
                .with_context(|| format!("{}: no chunk index", path.display()))?;
            let h = |i: usize| -> anyhow::Result<_> {
                let s = meta
                    .instances
                    .get(i)
                    .with_context(|| format!("{}: too few public values", path.display()))?;
                from_hex(s).with_context(|| format!("{}", path.display()))
            };
            // A chunk of a graph-shaped plan says which boundaries it read (one input commitment each).
            let g = meta.reads.len().max(1);
            let leaf = ChunkLeaf {
                index: u64::from(index),
                h_in: h(0)?,
                h_out: h(g)?,
                more_inputs: (1..g).map(h).collect::<anyhow::Result<_>>()?,
            };
            found.push((
                index,
                leaf,
                env.header.plan_digest.clone().unwrap_or_default(),
                meta.salt_tags.clone(),
                if meta.reads.is_empty() {
                    vec![index]
                } else {
                    meta.reads.clone()
                },
            ));
        }
        found.sort_by_key(|f| f.0);
        if found.is_empty() {
            anyhow::bail!("{}: no chunk proofs (chunk-I.proof)", dir.display());
        }
        for (n, f) in found.iter().enumerate() {
            if f.0 as usize != n {
                anyhow::bail!(
                    "{}: chunk {n} is missing or duplicated (found chunk {})",
                    dir.display(),
                    f.0
                );
            }
            if f.2 != found[0].2 {
                anyhow::bail!("{}: the proofs come from different plans", dir.display());
            }
        }
        // The root is computed whatever the links say (it is what was proven), but a broken chain is said
        // loudly: verify-all will reject this run.
        let mut broken = Vec::new();
        for f in &found {
            for (g, &b) in f.4.iter().enumerate() {
                let Some(producer) = b.checked_sub(1).and_then(|p| found.get(p as usize)) else {
                    continue;
                };
                let out = to_hex(&producer.1.h_out);
                let inp = to_hex(if g == 0 {
                    &f.1.h_in
                } else {
                    &f.1.more_inputs[g - 1]
                });
                if let Some(p) = link_problem(
                    (producer.0, f.0, g),
                    (&out, producer.3.as_ref()),
                    (&inp, f.3.as_ref()),
                ) {
                    eprintln!("warning: {p}");
                    broken.push(p);
                }
            }
        }
        let leaves: Vec<ChunkLeaf> = found.iter().map(|f| f.1.clone()).collect();
        let tree = MerkleTree::new(leaves.clone())?;
        let paths = (0..leaves.len())
            .map(|i| tree.path(i))
            .collect::<Result<Vec<_>, _>>()?;
        let file = MerkleFile {
            root: to_hex(&tree.root()),
            leaves: leaves
                .iter()
                .map(|l| serde_json::to_value(l).unwrap_or_default())
                .collect(),
            paths: paths
                .iter()
                .map(|p| serde_json::to_value(p).unwrap_or_default())
                .collect(),
        };
        let mut env = Envelope::new(
            Kind::Merkle,
            "json",
            serde_json::to_vec_pretty(&file).context("encoding")?,
        );
        env.header.plan_digest = Some(found[0].2.clone());
        let out = self.out.clone().unwrap_or_else(|| dir.join("merkle.dzk"));
        write_atomic(&out, &env.encode())?;
        if let Some(pd) = &self.paths {
            std::fs::create_dir_all(pd).with_context(|| format!("creating {}", pd.display()))?;
            for (leaf, path) in leaves.iter().zip(&paths) {
                let pf = PathFile {
                    leaf: leaf.clone(),
                    path: path.clone(),
                };
                write_atomic(
                    &pd.join(format!("chunk-{}.path.json", leaf.index)),
                    &serde_json::to_vec_pretty(&pf).context("encoding")?,
                )?;
            }
        }
        if self.json {
            println!(
                "{}",
                json!({"root": file.root, "leaves": file.leaves, "paths": file.paths, "file": out,
                    "broken_links": broken})
            );
        } else {
            println!("root {}", file.root);
        }
        eprintln!("wrote {}", out.display());
        Ok(())
    }
}
