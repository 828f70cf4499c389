//! `dzk export-verifier` (the auditor's kit) and `dzk verify` (one chunk proof).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use dzk_format::run::KitManifest;
use dzk_format::{Envelope, Kind};
use dzk_merkle::hex::to_hex;
use dzk_verifier::audit::{check_chunk, read_evidence, read_plan, vk_name, SrsSource, PLAN};
use dzk_verifier::kit::{read_kit, Kit, VerifierSrs, MANIFEST};
use dzk_verifier::srs;
use serde_json::json;

use crate::io::write_atomic;
use crate::run::Rejected;

/// Arguments of `dzk export-verifier`.
#[derive(Debug, Args)]
pub struct ExportVerifierCmd {
    /// The keyed run directory (plan and chunk verifying keys).
    pub run: PathBuf,
    /// The SRS directory the keys were made with.
    #[arg(long, value_name = "PARAMS_DIR")]
    pub params: PathBuf,
    /// The kit directory to write (created; an existing kit there is replaced).
    #[arg(short = 'o', long = "output", value_name = "KIT_DIR")]
    pub out: PathBuf,
    /// The published Merkle root (as `dzk merkle` prints it), put in the kit so that every verification with
    /// it pins the root.
    #[arg(long, value_name = "HEX")]
    pub root: Option<String>,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

impl ExportVerifierCmd {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        let plan = read_plan(&self.run)?;
        let unkeyed: Vec<u32> = plan
            .chunks
            .iter()
            .filter(|c| c.vk_blake3.is_none())
            .map(|c| c.index)
            .collect();
        if !unkeyed.is_empty() {
            anyhow::bail!(
                "{}: chunks {unkeyed:?} have no verifying key yet: run `dzk keygen {} --params PARAMS_DIR` first",
                self.run.display(),
                self.run.display()
            );
        }
        let root = match &self.root {
            Some(r) => Some(super::verify_all::parse_root(r)?),
            None => None,
        };
        let (info, params) = srs::load(&self.params)
            .with_context(|| format!("reading {}", self.params.display()))?;
        let vs = VerifierSrs::of(&params)
            .with_context(|| format!("{}: an SRS of one point", self.params.display()))?;
        if let Some(recorded) = plan.srs_id.as_deref().filter(|r| **r != vs.id()) {
            anyhow::bail!(
                "{}: not the SRS the run's keys were made with (its id is {}, keygen's {recorded})",
                self.params.display(),
                vs.id()
            );
        }
        // The files, read and checked before anything is written.
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        let plan_bytes = std::fs::read(self.run.join(PLAN))
            .with_context(|| format!("reading {}", self.run.join(PLAN).display()))?;
        files.push((PLAN.into(), plan_bytes));
        for c in &plan.chunks {
            let path = self.run.join(vk_name(c.index));
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let env = Envelope::decode(&bytes, Kind::VerifyingKey)
                .with_context(|| format!("reading {}", path.display()))?;
            if c.vk_blake3.as_deref() != Some(blake3::hash(&env.body).to_hex().as_str()) {
                anyhow::bail!(
                    "{}: not the verifying key the plan records (run `dzk keygen` again)",
                    path.display()
                );
            }
            files.push((vk_name(c.index), bytes));
        }
        // The aggregation verifying keys `dzk aggregate` recorded, so that `verify-all --aggregate --kit` reads
        // them instead of needing the SRS to rebuild them.
        for (key, digest) in &plan.aggregation_vks {
            let name = super::aggregate_verify::recorded_vk_name(key);
            let path = self.run.join(&name);
            let body_digest = std::fs::read(&path).ok().and_then(|b| {
                Envelope::decode(&b, Kind::VerifyingKey)
                    .ok()
                    .map(|e| (blake3::hash(&e.body).to_hex().to_string(), b))
            });
            match body_digest {
                Some((d, bytes)) if d == *digest => files.push((name, bytes)),
                _ => eprintln!(
                    "warning: {} is missing or not the aggregation key the plan records; the kit leaves it out \
                     (an aggregated proof of that tree then needs --run and --params to verify)",
                    path.display()
                ),
            }
        }
        let manifest = KitManifest {
            plan_digest: plan.digest(),
            srs: vs.to_kit(),
            srs_id: vs.id(),
            insecure_dev_seed: info.insecure_dev_seed,
            root: root.map(|r| to_hex(&r)),
            files: files
                .iter()
                .map(|(n, b)| (n.clone(), blake3::hash(b).to_hex().to_string()))
                .collect(),
        };
        let mut env = Envelope::new(
            Kind::Kit,
            "json",
            serde_json::to_vec_pretty(&manifest).context("encoding the kit")?,
        );
        env.header.plan_digest = Some(manifest.plan_digest.clone());
        files.push((MANIFEST.into(), env.encode()));
        let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
        write_kit_dir(&self.out, &files)?;
        if let Some(w) = info.warning() {
            eprintln!("warning: {w}");
        }
        if self.json {
            println!(
                "{}",
                json!({"kit": self.out, "plan_digest": manifest.plan_digest, "srs_id": manifest.srs_id,
                       "root": manifest.root, "files": manifest.files, "bytes": bytes})
            );
        } else {
            println!(
                "kit {}: {} files, {bytes} bytes; root {}",
                self.out.display(),
                files.len(),
                manifest
                    .root
                    .as_deref()
                    .unwrap_or("not included (give --root to pin it)")
            );
        }
        Ok(())
    }
}

/// Writes the kit's files into a fresh directory beside `out`, then puts it in `out`'s place: a reader never
/// sees half a kit. `out` may not exist, or be empty, or hold a kit (which is replaced); anything else is
/// refused.
fn write_kit_dir(out: &Path, files: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
    if out.exists() {
        let entries: Vec<_> = std::fs::read_dir(out)
            .with_context(|| format!("reading {}", out.display()))?
            .filter_map(Result::ok)
            .collect();
        if !entries.is_empty() && !out.join(MANIFEST).exists() {
            anyhow::bail!(
                "{}: exists and is not a kit; give -o a new directory",
                out.display()
            );
        }
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let name = out
        .file_name()
        .with_context(|| format!("{} is not a directory path", out.display()))?;
    let tmp = parent.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let written = (|| -> anyhow::Result<()> {
        for (n, b) in files {
            write_atomic(&tmp.join(n), b)?;
        }
        if out.exists() {
            std::fs::remove_dir_all(out).with_context(|| format!("replacing {}", out.display()))?;
        }
        std::fs::rename(&tmp, out).with_context(|| format!("writing {}", out.display()))
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written
}

/// Arguments of `dzk verify`.
#[derive(Debug, Args)]
pub struct VerifyCmd {
    /// One chunk proof file (`chunk-I.proof`).
    pub proof: PathBuf,
    /// The auditor's kit (`dzk export-verifier`).
    #[arg(long, value_name = "KIT_DIR", conflicts_with_all = ["run", "params"], required_unless_present = "run")]
    pub kit: Option<PathBuf>,
    /// The run directory (plan and verifying keys), instead of a kit.
    #[arg(long, value_name = "RUN_DIR", requires = "params")]
    pub run: Option<PathBuf>,
    /// The SRS directory, with --run.
    #[arg(long, value_name = "PARAMS_DIR", requires = "run")]
    pub params: Option<PathBuf>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

impl VerifyCmd {
    /// Runs the command: exit 0 when the proof verifies, 1 when it is rejected, 2 when an input is unreadable.
    pub fn run(self) -> anyhow::Result<()> {
        let kit: Option<Kit> = self.kit.as_deref().map(read_kit).transpose()?;
        let (keys_dir, source) = match (&kit, &self.run, &self.params) {
            (Some(k), _, _) => (k.dir.clone(), SrsSource::Kit(k)),
            (None, Some(run), Some(params)) => (run.clone(), SrsSource::Dir(params)),
            _ => anyhow::bail!("give --kit KIT_DIR, or --run RUN_DIR and --params PARAMS_DIR"),
        };
        let plan = read_plan(&keys_dir)?;
        let (vs, insecure, _) = source.load()?;
        let verdict = (|| -> anyhow::Result<(u32, Vec<String>)> {
            let ev = read_evidence(&self.proof, &plan.digest()).map_err(Rejected)?;
            let i = ev.index as usize;
            if i >= plan.chunks.len() {
                return Err(Rejected(format!(
                    "{}: chunk {i} is not in the plan's {} chunks",
                    ev.file,
                    plan.chunks.len()
                ))
                .into());
            }
            if let Some(recorded) = plan.srs_id.as_deref().filter(|r| **r != vs.id()) {
                return Err(Rejected(format!(
                    "the SRS (id {}) is not the one the run's keys were made with (id {recorded})",
                    vs.id()
                ))
                .into());
            }
            check_chunk(&plan, i, &ev, &keys_dir, &vs)?
                .map_err(|e| Rejected(format!("chunk {i}: {e}")))?;
            // One input commitment per boundary the chunk reads, then h_out.
            let g = plan.chunks[i].reads().len();
            Ok((
                ev.index,
                ev.instances.iter().take(g + 1).map(to_hex).collect(),
            ))
        })();
        if insecure {
            eprintln!(
                "warning: the SRS is an INSECURE dev setup: proofs made with it can be forged"
            );
        }
        match verdict {
            Ok((index, instances)) => {
                if self.json {
                    println!(
                        "{}",
                        json!({"verdict": "valid", "proof": self.proof, "chunk": index,
                               "h_in": instances.first(), "h_out": instances.last(),
                               "h_in_groups": &instances[..instances.len().saturating_sub(1)],
                               "insecure_setup": insecure})
                    );
                } else {
                    println!(
                        "chunk {index}: h_in {}, h_out {}",
                        instances.first().map_or("-", String::as_str),
                        instances.last().map_or("-", String::as_str)
                    );
                    println!("VALID");
                }
                Ok(())
            }
            Err(e) => {
                if e.is::<Rejected>() {
                    if self.json {
                        println!(
                            "{}",
                            json!({"verdict": "rejected", "proof": self.proof, "reason": e.to_string()})
                        );
                    } else {
                        println!("REJECTED");
                    }
                }
                Err(e)
            }
        }
    }
}
