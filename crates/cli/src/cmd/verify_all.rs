//! `dzk verify-all`: the auditor's one command. Exit 0 valid, 1 rejected, 2 unreadable input.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use dzk_merkle::hex::from_hex;
use dzk_merkle::hex::to_hex;
use dzk_verifier::audit::{json_values, verify_all, PinnedRoot, SrsSource, Verdict};

use crate::run::Rejected;

/// Arguments of `dzk verify-all`.
#[derive(Debug, Args)]
pub struct VerifyAllCmd {
    /// The proofs directory.
    #[arg(required_unless_present = "aggregate")]
    pub proofs: Option<PathBuf>,
    /// Check this aggregated proof (`dzk aggregate`) instead of the chunk proofs: one proof, its accumulator's
    /// pairing check, and the root it states.
    #[arg(long, value_name = "FILE", conflicts_with = "proofs")]
    pub aggregate: Option<PathBuf>,
    /// The run directory (plan and verifying keys).
    #[arg(
        long,
        value_name = "RUN_DIR",
        required_unless_present = "kit",
        requires = "params"
    )]
    pub run: Option<PathBuf>,
    /// The SRS directory.
    #[arg(long, value_name = "PARAMS_DIR", requires = "run")]
    pub params: Option<PathBuf>,
    /// The auditor's kit (`dzk export-verifier`) instead of --run and --params: the plan, the chunks' verifying
    /// keys and the verifier's part of the SRS, and the published root when the kit carries one.
    #[arg(long, value_name = "KIT_DIR", conflicts_with_all = ["run", "params"])]
    pub kit: Option<PathBuf>,
    /// The published Merkle root. Without it the run's root is compared only with PROOFS_DIR/merkle.dzk, which
    /// the prover wrote: a whole run on another input would verify too, and the report says the root is not
    /// pinned.
    #[arg(long, value_name = "HEX")]
    pub root: Option<String>,
    /// Reject (exit 1) unless the root is pinned by --root: for scripts that must never accept a run on the
    /// prover's word alone.
    #[arg(long)]
    pub require_root: bool,
    /// With --aggregate: keep the aggregation verifying key this command rebuilds (minutes) in DIR, keyed by
    /// a hash of everything it depends on, and use it next time [default: $DZK_CACHE_DIR, else
    /// $XDG_CACHE_HOME/dzk, else ~/.cache/dzk].
    #[arg(long, value_name = "DIR", requires = "aggregate")]
    pub vk_cache: Option<PathBuf>,
    /// With --aggregate: always rebuild the aggregation verifying key; neither read nor write a cache.
    #[arg(long, requires = "aggregate", conflicts_with = "vk_cache")]
    pub no_vk_cache: bool,
    /// With --aggregate: do not read the aggregation verifying key that `dzk aggregate` recorded in the run
    /// directory (its digest in the plan); rebuild it from the chunks' keys (or take this machine's cache).
    #[arg(long, requires = "aggregate")]
    pub rebuild_vk: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

impl VerifyAllCmd {
    fn run_aggregate(
        &self,
        file: &std::path::Path,
        pinned: Option<PinnedRoot>,
        kit: Option<&dzk_verifier::kit::Kit>,
    ) -> anyhow::Result<()> {
        let root = pinned.map(|p| p.root);
        let cache = if self.no_vk_cache {
            None
        } else {
            self.vk_cache
                .clone()
                .or_else(super::aggregate::default_cache_dir)
        };
        let (run, source) = match (kit, &self.run, &self.params) {
            (Some(k), _, _) => (k.dir.clone(), SrsSource::Kit(k)),
            (None, Some(run), Some(params)) => (run.clone(), SrsSource::Dir(params)),
            _ => anyhow::bail!(
                "--aggregate needs --kit KIT_DIR, or --run RUN_DIR and --params PARAMS_DIR"
            ),
        };
        let r = match super::aggregate::verify_aggregate(
            file,
            &run,
            source,
            root,
            cache.as_deref(),
            !self.rebuild_vk,
        ) {
            Ok(r) => r,
            Err(e) => {
                if e.is::<Rejected>() && !self.json {
                    println!("REJECTED");
                }
                return Err(e);
            }
        };
        if r.insecure_setup {
            eprintln!(
                "warning: the SRS is an INSECURE dev setup: proofs made with it can be forged"
            );
        }
        if self.json {
            println!(
                "{}",
                serde_json::json!({"verdict": "valid", "aggregate": file, "root": r.root,
                                   "root_pinned": root.is_some(),
                                   "public_inputs": json_values(&r.public_inputs),
                                   "public_outputs": json_values(&r.public_outputs),
                                   "insecure_setup": r.insecure_setup,
                                   "vk_source": r.vk_source.as_str(),
                                   "transcript": r.transcript.name()})
            );
        } else {
            println!("aggregated proof {}: ok", file.display());
            println!(
                "root {} ({})",
                r.root,
                pinning(root.is_some(), pinned.map(|p| p.source))
            );
            if !r.public_inputs.is_empty() {
                println!("public inputs [{}]", r.public_inputs.join(", "));
            }
            if !r.public_outputs.is_empty() {
                println!("public outputs [{}]", r.public_outputs.join(", "));
            }
            println!("VALID");
        }
        Ok(())
    }

    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        let kit = self
            .kit
            .as_deref()
            .map(dzk_verifier::kit::read_kit)
            .transpose()?;
        let given = match &self.root {
            Some(r) => Some(parse_root(r)?),
            None => None,
        };
        let pinned = match (given, kit.as_ref().and_then(|k| k.root)) {
            (Some(g), Some(k)) if g != k => anyhow::bail!(
                "--root {} and the kit's published root {} differ",
                to_hex(&g),
                to_hex(&k)
            ),
            (Some(g), _) => Some(PinnedRoot {
                root: g,
                source: "--root",
            }),
            (None, Some(k)) => Some(PinnedRoot {
                root: k,
                source: "kit",
            }),
            (None, None) => None,
        };
        let root = pinned.map(|p| p.root);
        if self.require_root && root.is_none() {
            if !self.json {
                println!("REJECTED");
            }
            return Err(Rejected(
                "--require-root: no --root given (and no kit with a published root), so the run's root is not \
                 pinned to a published one"
                    .into(),
            )
            .into());
        }
        if let Some(file) = &self.aggregate {
            return self.run_aggregate(file, pinned, kit.as_ref());
        }
        let proofs = self.proofs.clone().context("give PROOFS_DIR")?;
        let report = match (&kit, &self.run, &self.params) {
            (Some(k), _, _) => verify_all(&proofs, &k.dir, SrsSource::Kit(k), pinned)?,
            (None, Some(run), Some(params)) => {
                verify_all(&proofs, run, SrsSource::Dir(params), pinned)?
            }
            _ => anyhow::bail!("give --kit KIT_DIR, or --run RUN_DIR and --params PARAMS_DIR"),
        };
        if report.insecure_setup {
            eprintln!(
                "warning: the SRS is an INSECURE dev setup: proofs made with it can be forged"
            );
        }
        if self.json {
            println!(
                "{}",
                serde_json::to_string(&report).context("encoding the report")?
            );
        } else {
            for c in &report.chunks {
                println!(
                    "chunk {}: layers {}..{}, k = {}: {}",
                    c.index,
                    c.layers.0,
                    c.layers.1,
                    c.k,
                    c.error.as_deref().unwrap_or("ok")
                );
            }
            if let Some(r) = &report.root {
                let against = report.root_checked_against.as_deref();
                println!("root {r} ({})", pinning(report.root_pinned, against));
            }
            if let Some(i) = &report.public_inputs {
                println!("public inputs [{}]", i.join(", "));
            }
            if let Some(o) = &report.public_outputs {
                println!("public outputs [{}]", o.join(", "));
            }
        }
        match report.verdict {
            Verdict::Valid => {
                if !self.json {
                    println!("VALID");
                }
                Ok(())
            }
            Verdict::Rejected(reason) => {
                if !self.json {
                    println!("REJECTED");
                }
                Err(Rejected(reason).into())
            }
        }
    }
}

/// What the verdict's root line says about where the root was checked.
fn pinning(pinned: bool, against: Option<&str>) -> &'static str {
    match (pinned, against) {
        (true, Some("kit")) => "pinned: equals the kit's published root",
        (true, _) => "pinned: equals the --root given",
        (false, Some(_)) => {
            "NOT pinned: checked only against merkle.dzk, which the prover wrote; give --root with the published root"
        }
        (false, None) => "NOT pinned: give --root with the published root",
    }
}

/// `--root`: 64 hex digits (an optional 0x), a field element.
pub fn parse_root(text: &str) -> anyhow::Result<halo2_proofs::halo2curves::bn256::Fr> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    if digits.len() != 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        anyhow::bail!(
            "--root {text:?}: a root is 64 hex digits (as `dzk merkle` prints it), this is {} characters",
            digits.len()
        );
    }
    from_hex(&format!("0x{digits}")).map_err(|_| {
        anyhow::anyhow!(
            "--root {text:?}: 64 hex digits but not a field element (at or above the modulus)"
        )
    })
}
