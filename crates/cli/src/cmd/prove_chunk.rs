//! `dzk prove-chunk`: prove one chunk from its boundary-in file; `dzk prove`: every chunk on this machine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use dzk_backend::Backend;
use dzk_format::run::{ChunkPlan, Plan};
use dzk_ir::TensorFile;
use dzk_merkle::hex::to_hex;
use dzk_prover::run::{
    chunk, chunk_vk, load_slice, memory_estimate, model_outputs, prepare, proof_is_valid,
    prove_chunk_run, prove_prepared, read_boundary, read_model_input, read_next, read_pk,
    BoundaryIn, Phase, Prepared, RunError,
};
use dzk_prover::Params;
use dzk_verifier::audit::proof_name;
use dzk_verifier::srs::downsized;
use serde_json::json;

use crate::backend::{BackendOpt, Chosen};
use crate::io::write_atomic;
use crate::run::{load_params, peak_rss_mib, read_plan, spinner};

/// Arguments of `dzk prove-chunk`.
#[derive(Debug, Args)]
pub struct ProveChunkCmd {
    /// The run directory.
    pub run: PathBuf,
    /// The chunk to prove.
    #[arg(long, value_name = "I")]
    pub chunk: u32,
    /// Its input: the boundary file the previous chunk emitted, or for chunk 0 the model's zkml input file. A
    /// chunk of a graph-shaped plan (a layer split across chunks) reads several boundaries: give each file
    /// (`--input A --input B`, any order; the plan and `dzk inspect` say which).
    #[arg(long, value_name = "FILE", num_args = 1.., required_unless_present = "boundaries")]
    pub input: Vec<PathBuf>,
    /// Instead of --input and --next: the directory `dzk boundaries` wrote. The chunk reads every boundary it
    /// needs from there (`boundary-B.dzk`), and its own output's file as --next when it is there.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["input", "next"])]
    pub boundaries: Option<PathBuf>,
    /// The SRS directory.
    #[arg(long, value_name = "PARAMS_DIR")]
    pub params: PathBuf,
    /// The proofs directory (chunk-I.proof is written there).
    #[arg(short = 'o', long = "output", value_name = "PROOFS_DIR")]
    pub out: PathBuf,
    /// Write the next chunk's input here before proving starts (for the last chunk: the model's outputs as a
    /// zkml tensor file; for a part of a split last layer, its share of them). Private: it holds activations
    /// and their salt.
    #[arg(long, value_name = "FILE")]
    pub emit_output: Option<PathBuf>,
    /// The next chunk's boundary file made ahead by `dzk boundaries`: its salt becomes this chunk's output
    /// salt, and its tensors must equal this chunk's outputs. Lets every chunk be proven at once.
    #[arg(long, value_name = "FILE")]
    pub next: Option<PathBuf>,
    /// Prove again even if a valid proof of this chunk exists. The new proof draws a new output salt (unless
    /// --next gives the next chunk's), so a proof of the next chunk made from the old boundary file no longer
    /// links to it.
    #[arg(long)]
    pub force: bool,
    /// Print a JSON summary (timings, peak memory) on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub backend: BackendOpt,
}

/// Proves chunk `index`; returns the JSON summary (or `None` if a valid proof was kept).
#[allow(clippy::too_many_arguments)]
pub fn prove_one(
    run: &Path,
    plan: &Plan,
    index: u32,
    inputs: &[&BoundaryIn],
    next: Option<&BoundaryIn>,
    params: &Params,
    params_dir: &Path,
    out: &Path,
    chosen: &Chosen,
    emit: &mut dyn FnMut(&[u8]) -> Result<(), RunError>,
) -> anyhow::Result<serde_json::Value> {
    let c = chunk(plan, index)?;
    let slice_path = run.join(&c.slice_file);
    let bytes =
        std::fs::read(&slice_path).with_context(|| format!("reading {}", slice_path.display()))?;
    let model = load_slice(c, &bytes)?;
    let started = std::time::Instant::now();
    let p = downsized(params, c.k, params_dir)?;
    let srs_s = started.elapsed().as_secs_f64();
    let pk_path = run.join(format!("chunk-{index}.pk"));
    let pk = match std::fs::read(&pk_path) {
        Ok(b) if c.vk_blake3.is_some() => {
            Some(read_pk(plan, c, &b).map_err(|e| anyhow::anyhow!("{}: {e}", pk_path.display()))?)
        }
        _ => {
            eprintln!("chunk {index}: no proving key in the run directory; making keys here");
            None
        }
    };
    let pb = spinner(&format!("chunk {index}: witness"));
    let proven = prove_chunk_run(
        plan,
        c,
        model,
        inputs,
        next,
        &p,
        pk,
        chosen.backend,
        emit,
        &mut |ph| {
            pb.set_message(match ph {
                Phase::Witness => format!("chunk {index}: witness and commitments"),
                Phase::Keygen => format!("chunk {index}: keygen (k = {})", c.k),
                Phase::Prove => format!("chunk {index}: proving (k = {})", c.k),
            })
        },
    )?;
    pb.finish_and_clear();
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join(proof_name(index));
    write_atomic(&path, &proven.proof_file)?;
    eprintln!(
        "chunk {index}: proved in {:.2} s, wrote {}",
        proven.seconds[2],
        path.display()
    );
    Ok(json!({
        "chunk": index, "layers": [c.start, c.end], "k": c.k, "proof": path,
        "h_in": to_hex(&proven.commitments.0[0]), "h_out": to_hex(&proven.commitments.1),
        "h_in_groups": proven.commitments.0.iter().map(to_hex).collect::<Vec<_>>(),
        "srs_s": srs_s, "witness_s": proven.seconds[0], "keygen_s": proven.seconds[1],
        "prove_s": proven.seconds[2], "peak_rss_mib": peak_rss_mib(),
        "backend": chosen.backend.name(), "backend_note": chosen.note,
    }))
}

impl ProveChunkCmd {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        let plan = read_plan(&self.run)?;
        let c = chunk(&plan, self.chunk)?;
        let (_, params) = load_params(&self.params)?;
        let existing = self.out.join(proof_name(self.chunk));
        let emit_done = self.emit_output.as_ref().is_none_or(|p| p.exists());
        // The last chunk, or a part of a split last layer: no chunk reads what it writes.
        let last = plan.states_outputs(self.chunk);
        let valid = existing.exists() && {
            let p = downsized(&params, c.k, &self.params)?;
            std::fs::read(&existing).is_ok_and(|proof| {
                chunk_vk(&self.run, &plan, c, &p)
                    .is_some_and(|vk| proof_is_valid(&plan, c, &vk, &p, &proof))
            })
        };
        if valid && !self.force && emit_done {
            eprintln!(
                "chunk {}: {} is a valid proof already; keeping it (--force proves again)",
                self.chunk,
                existing.display()
            );
            if self.json {
                println!(
                    "{}",
                    json!({"chunk": self.chunk, "skipped": true, "proof": existing})
                );
            }
            return Ok(());
        }
        // Here, not earlier: a kept proof needs no prover, and `choose` may hand this command to dzk-gpu.
        let chosen = self.backend.choose()?;
        if valid && !last && self.next.is_none() && self.boundaries.is_none() {
            // A new proof draws a new output salt, so h_out changes.
            eprintln!(
                "warning: replacing the valid proof {} with one under a new output salt: a proof of chunk(s) {:?} \
                 made from the old boundary file no longer links (give --next with that file to keep its salt)",
                existing.display(),
                plan.readers(self.chunk + 1)
            );
        }
        let (files, next_file) = match &self.boundaries {
            Some(dir) => {
                let next = dir.join(format!("boundary-{}.dzk", self.chunk + 1));
                (
                    c.reads()
                        .iter()
                        .map(|b| dir.join(format!("boundary-{b}.dzk")))
                        .collect(),
                    (!last && next.exists()).then_some(next),
                )
            }
            None => (self.input.clone(), self.next.clone()),
        };
        let mut inputs = Vec::with_capacity(files.len());
        for f in &files {
            let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
            inputs.push(read_boundary(&plan, c, &bytes, &f.display().to_string())?);
        }
        let next = match &next_file {
            Some(f) => {
                let b = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
                Some(read_next(&plan, c, &b, &f.display().to_string())?)
            }
            None => None,
        };
        let emit_path = self.emit_output.clone();
        let mut emit = |b: &[u8]| -> Result<(), RunError> {
            if let Some(p) = &emit_path {
                write_atomic(p, b).map_err(|e| RunError::Input {
                    file: p.display().to_string(),
                    reason: format!("{e:#}"),
                })?;
                eprintln!("wrote {}", p.display());
            }
            Ok(())
        };
        let summary = prove_one(
            &self.run,
            &plan,
            self.chunk,
            &inputs.iter().collect::<Vec<_>>(),
            next.as_ref(),
            &params,
            &self.params,
            &self.out,
            &chosen,
            &mut emit,
        )?;
        if self.json {
            println!("{summary}");
        }
        Ok(())
    }
}

/// Arguments of `dzk prove`.
#[derive(Debug, Args)]
pub struct ProveCmd {
    /// The run directory.
    pub run: PathBuf,
    /// The model's zkml input file.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// The SRS directory.
    #[arg(long, value_name = "PARAMS_DIR")]
    pub params: PathBuf,
    /// The proofs directory.
    #[arg(short = 'o', long = "output", value_name = "PROOFS_DIR")]
    pub out: PathBuf,
    /// Write the model's outputs here (zkml tensor file).
    #[arg(long, value_name = "FILE")]
    pub emit_output: Option<PathBuf>,
    /// Chunks proven at once (default: as many as the available memory holds, by an estimate of each
    /// chunk's peak, at most one per core).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub backend: BackendOpt,
}

impl ProveCmd {
    /// Runs the command: every chunk's witness first (each feeds the next, in memory), then the proofs,
    /// `--jobs` at a time.
    pub fn run(self) -> anyhow::Result<()> {
        let plan = read_plan(&self.run)?;
        let chosen = self.backend.choose()?;
        let (_, params) = load_params(&self.params)?;
        let bytes = std::fs::read(&self.input)
            .with_context(|| format!("reading {}", self.input.display()))?;
        let mut boundaries = BTreeMap::new();
        boundaries.insert(
            0,
            read_model_input(&plan, &bytes, &self.input.display().to_string())?,
        );
        let pb = spinner("witnesses");
        let mut prepared = Vec::with_capacity(plan.chunks.len());
        for c in &plan.chunks {
            pb.set_message(format!("chunk {}: witness and commitments", c.index));
            let p = witness(&self.run, &plan, c, &mut boundaries)?;
            prepared.push((c.clone(), p));
        }
        pb.finish_and_clear();
        if let Some(out) = &self.emit_output {
            let parts = prepared
                .iter()
                .filter(|(c, _)| plan.states_outputs(c.index))
                .map(|(c, p)| {
                    TensorFile::from_msgpack(&p.next, &format!("chunk {}'s outputs", c.index))
                })
                .collect::<Result<Vec<_>, _>>()?;
            write_atomic(out, &model_outputs(&plan, &parts)?.to_msgpack())?;
        }
        let peak = plan
            .chunks
            .iter()
            .map(memory_estimate)
            .max()
            .unwrap_or(1)
            .max(1);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut jobs = self
            .jobs
            .unwrap_or_else(|| {
                crate::run::meminfo("MemAvailable")
                    .map_or(1, |m| (m / peak) as usize)
                    .min(cores)
            })
            .clamp(1, plan.chunks.len());
        if chosen.backend == Backend::Gpu && jobs > 1 {
            // halo2-axiom-gpu drives one device context: its proofs follow one another.
            eprintln!("the GPU proves one chunk at a time (--jobs {jobs} ignored)");
            jobs = 1;
        }
        eprintln!("proving {} chunks, {jobs} at a time", plan.chunks.len());
        std::fs::create_dir_all(&self.out)
            .with_context(|| format!("creating {}", self.out.display()))?;
        let bar = crate::run::bar(plan.chunks.len() as u64, "proving");
        let queue = std::sync::Mutex::new(prepared.into_iter());
        let results = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..jobs {
                s.spawn(|| loop {
                    let next = queue.lock().map(|mut q| q.next()).unwrap_or(None);
                    let Some((c, p)) = next else { break };
                    let r = (|| -> anyhow::Result<serde_json::Value> {
                        let pk_path = self.run.join(format!("chunk-{}.pk", c.index));
                        let pk = match std::fs::read(&pk_path) {
                            Ok(b) if c.vk_blake3.is_some() => Some(
                                read_pk(&plan, &c, &b)
                                    .map_err(|e| anyhow::anyhow!("{}: {e}", pk_path.display()))?,
                            ),
                            _ => None,
                        };
                        let pp = downsized(&params, c.k, &self.params)?;
                        let proven = prove_prepared(&plan, &c, p, &pp, pk, chosen.backend, &mut |_| {})?;
                        let path = self.out.join(proof_name(c.index));
                        write_atomic(&path, &proven.proof_file)?;
                        eprintln!("chunk {}: proved in {:.2} s, wrote {}", c.index, proven.seconds[2], path.display());
                        Ok(json!({
                            "chunk": c.index, "layers": [c.start, c.end], "k": c.k, "proof": path,
                            "witness_s": proven.seconds[0], "keygen_s": proven.seconds[1], "prove_s": proven.seconds[2],
                            "backend": chosen.backend.name(),
                        }))
                    })();
                    bar.inc(1);
                    if let Ok(mut v) = results.lock() {
                        v.push((c.index, r));
                    }
                });
            }
        });
        bar.finish_and_clear();
        let mut results = results.into_inner().unwrap_or_default();
        results.sort_by_key(|r| r.0);
        let mut summaries = Vec::new();
        for (i, r) in results {
            summaries.push(r.with_context(|| format!("chunk {i}"))?);
        }
        if self.json {
            println!(
                "{}",
                json!({"chunks": summaries, "jobs": jobs, "peak_rss_mib": peak_rss_mib(),
                       "backend": chosen.backend.name(), "backend_note": chosen.note})
            );
        }
        Ok(())
    }
}

/// Chunk `c`'s witness from the boundaries computed so far (by boundary number); its own output boundary is
/// added to them.
fn witness(
    run: &Path,
    plan: &Plan,
    c: &ChunkPlan,
    boundaries: &mut BTreeMap<u32, BoundaryIn>,
) -> anyhow::Result<Prepared> {
    let slice_path = run.join(&c.slice_file);
    let slice =
        std::fs::read(&slice_path).with_context(|| format!("reading {}", slice_path.display()))?;
    let inputs = c
        .reads()
        .iter()
        .map(|b| {
            boundaries.get(b).with_context(|| {
                format!(
                    "chunk {} reads boundary {b}, which no earlier chunk wrote",
                    c.index
                )
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let p = prepare(plan, c, load_slice(c, &slice)?, &inputs, None)?;
    if !plan.states_outputs(c.index) {
        let b = read_next(plan, c, &p.next, &format!("chunk {}'s output", c.index))?;
        boundaries.insert(c.index + 1, b);
    }
    Ok(p)
}

/// Arguments of `dzk boundaries`.
#[derive(Debug, Args)]
pub struct BoundariesCmd {
    /// The run directory.
    pub run: PathBuf,
    /// The model's zkml input file.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Where to write `boundary-I.dzk` (chunk I's input, with its salt) and `outputs.msgpack`. Private:
    /// these are the activations.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub out: PathBuf,
}

impl BoundariesCmd {
    /// Runs the command: every chunk's forward pass in turn (fast; no proving), each cut with a fresh salt.
    pub fn run(self) -> anyhow::Result<()> {
        let plan = read_plan(&self.run)?;
        let bytes = std::fs::read(&self.input)
            .with_context(|| format!("reading {}", self.input.display()))?;
        let input = read_model_input(&plan, &bytes, &self.input.display().to_string())?;
        std::fs::create_dir_all(&self.out)
            .with_context(|| format!("creating {}", self.out.display()))?;
        write_atomic(
            &self.out.join("boundary-0.dzk"),
            &dzk_prover::run::boundary_file_at(&plan, 0, &input.tensors, input.salt),
        )?;
        let mut boundaries = BTreeMap::new();
        boundaries.insert(0, input);
        let mut parts = Vec::new();
        let mut written = vec![0u32];
        for c in &plan.chunks {
            let p = witness(&self.run, &plan, c, &mut boundaries)?;
            if plan.states_outputs(c.index) {
                let what = format!("chunk {}'s outputs", c.index);
                parts.push(TensorFile::from_msgpack(&p.next, &what)?);
            } else {
                let name = format!("boundary-{}.dzk", c.index + 1);
                write_atomic(&self.out.join(&name), &p.next)?;
                written.push(c.index + 1);
            }
        }
        write_atomic(
            &self.out.join("outputs.msgpack"),
            &model_outputs(&plan, &parts)?.to_msgpack(),
        )?;
        eprintln!(
            "wrote boundary-0..{}.dzk and outputs.msgpack to {}",
            written.last().copied().unwrap_or(0),
            self.out.display()
        );
        Ok(())
    }
}
