//! `dzk keygen`: verifying and proving keys per chunk; the plan records each vk's digest.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use dzk_prover::run::{chunk, keygen_chunk, load_slice};
use dzk_verifier::audit::vk_name;
use dzk_verifier::srs::{downsized, srs_id};

use crate::io::write_atomic;
use crate::run::{bar, load_params, read_plan, write_plan};

/// Arguments of `dzk keygen`.
#[derive(Debug, Args)]
pub struct KeygenCmd {
    /// The run directory (`dzk partition -o`).
    pub run: PathBuf,
    /// The SRS directory (`dzk setup -o`).
    #[arg(long, value_name = "PARAMS_DIR")]
    pub params: PathBuf,
    /// Only this chunk (a machine needs only its own chunk's slice).
    #[arg(long, value_name = "I")]
    pub chunk: Option<u32>,
}

impl KeygenCmd {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        let mut plan = read_plan(&self.run)?;
        let (_, params) = load_params(&self.params)?;
        let id = srs_id(&params);
        // Keying one chunk joins the keys made before; keying them all starts afresh.
        let recorded = plan.srs_id.as_deref().filter(|_| self.chunk.is_some());
        if let Some(recorded) = recorded.filter(|r| *r != id) {
            anyhow::bail!(
                "{}: this run's other keys were made with another SRS (id {recorded}); {} holds SRS id {id}. \
                 Every chunk must be keyed with one SRS (a prefix of one setup): key them all again without \
                 --chunk to change it",
                self.run.display(),
                self.params.display()
            );
        }
        let which: Vec<u32> = match self.chunk {
            Some(i) => vec![chunk(&plan, i)?.index],
            None => plan.chunks.iter().map(|c| c.index).collect(),
        };
        let pb = bar(which.len() as u64, "keygen");
        for i in which {
            let c = chunk(&plan, i)?.clone();
            pb.set_message(format!("keygen chunk {i} (k = {})", c.k));
            let slice_path = self.run.join(&c.slice_file);
            let bytes = std::fs::read(&slice_path)
                .with_context(|| format!("reading {}", slice_path.display()))?;
            let model = load_slice(&c, &bytes)?;
            let p = downsized(&params, c.k, &self.params)?;
            let (vk, pk, digest) = keygen_chunk(&plan, &c, model, &p)?;
            write_atomic(&self.run.join(vk_name(i)), &vk)?;
            write_atomic(&self.run.join(format!("chunk-{i}.pk")), &pk)?;
            plan.chunks[i as usize].vk_blake3 = Some(digest);
            // Re-read the plan before writing, so machines keying different chunks do not undo each other.
            let mut fresh = read_plan(&self.run)?;
            if fresh.digest() != plan.digest() {
                anyhow::bail!(
                    "{}: the plan changed while keys were made",
                    self.run.display()
                );
            }
            fresh.chunks[i as usize].vk_blake3 = plan.chunks[i as usize].vk_blake3.clone();
            fresh.srs_id = Some(id.clone());
            write_plan(&self.run, &fresh)?;
            plan = fresh;
            pb.inc(1);
            eprintln!("chunk {i}: wrote {} and chunk-{i}.pk", vk_name(i));
        }
        pb.finish_and_clear();
        Ok(())
    }
}
