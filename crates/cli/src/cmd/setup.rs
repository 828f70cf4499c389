//! `dzk setup`: the KZG SRS every chunk shares (smaller k are derived from it).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use dzk_prover::run::{dev_srs, import_srs};

use crate::io::write_atomic;
use crate::run::spinner;

/// Arguments of `dzk setup`.
#[derive(Debug, Args)]
pub struct SetupCmd {
    /// Size of a deterministic dev SRS: 2^K points. INSECURE: anyone with the seed can forge proofs.
    #[arg(
        long,
        value_name = "K",
        conflicts_with = "import",
        required_unless_present = "import"
    )]
    pub k: Option<u32>,
    /// Seed of the dev SRS.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Import a ceremony SRS in halo2's `kzg_bn254_{k}.srs` format instead.
    #[arg(long, value_name = "FILE")]
    pub import: Option<PathBuf>,
    /// The directory to write (setup.json and kzg_bn254_K.srs).
    #[arg(short = 'o', long = "output", value_name = "PARAMS_DIR")]
    pub out: PathBuf,
}

impl SetupCmd {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        let (info, bytes) = match (&self.import, self.k) {
            (Some(file), _) => {
                let bytes =
                    std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
                let pb = spinner(&format!("checking {}", file.display()));
                let info = import_srs(&bytes, &file.display().to_string())?;
                pb.finish_and_clear();
                (info, bytes)
            }
            (None, Some(k)) => {
                if !(4..=26).contains(&k) {
                    anyhow::bail!("--k {k}: a dev SRS must have 4 <= k <= 26");
                }
                let pb = spinner(&format!(
                    "dev setup: 2^{k} points on G1, and their Lagrange basis"
                ));
                let made = dev_srs(k, self.seed);
                pb.finish_and_clear();
                made
            }
            (None, None) => anyhow::bail!("give --k K or --import FILE"),
        };
        std::fs::create_dir_all(&self.out)
            .with_context(|| format!("creating {}", self.out.display()))?;
        write_atomic(&self.out.join(&info.file), &bytes)?;
        write_atomic(
            &self.out.join("setup.json"),
            &serde_json::to_vec_pretty(&info).context("encoding setup.json")?,
        )?;
        if let Some(w) = info.warning() {
            eprintln!("warning: {w}");
        }
        println!("SRS k = {} in {}", info.k, self.out.display());
        Ok(())
    }
}
