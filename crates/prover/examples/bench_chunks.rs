//! Measures one-chunk and multi-chunk proving: keygen, prove and verify times, proof size, peak memory.
//!
//! `cargo run --release -p dzk-prover --example bench_chunks -- MODEL INPUT [CUTS...]`, where each CUTS is a
//! comma-separated list of layer boundaries (`0,16` is the whole MNIST model, `0,4,16` two chunks) or `auto:N`,
//! the partitioner's N-chunk cut. Each chunk is also proven without commitments (a baseline that is not a dzk
//! statement) to measure what the commitments cost.
//! Prints one Markdown table row per chunk. `cargo xtask bench` runs it and writes docs/benchmarks.md.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use dzk_backend::Backend;
use dzk_circuit::{ChunkCircuit, Salts};
use dzk_ir::{Model, TensorFile};
use dzk_prover::{dev_setup, keygen, prove_chunk};
use dzk_verifier::verify_chunk;
use halo2_proofs::halo2curves::bn256::Fr;

/// Peak resident memory of this process so far, in MiB (Linux `VmHWM`).
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: bench_chunks MODEL INPUT [CUTS ...]");
        std::process::exit(2);
    }
    let model = Arc::new(Model::load(Path::new(&args[0]))?);
    let input = TensorFile::load(Path::new(&args[1]))?;
    let n = model.layers().len();
    // `auto:N` is the partitioner's N-chunk cut; otherwise a comma-separated list of layer boundaries.
    let mut plans: Vec<Vec<usize>> = Vec::new();
    for c in &args[2..] {
        if let Some(count) = c.strip_prefix("auto:") {
            let cuts = dzk_partition::cut(&model, dzk_partition::Bound::Chunks(count.parse()?))?;
            let mut bounds: Vec<usize> = cuts.iter().map(|c| c.0).collect();
            bounds.push(n);
            plans.push(bounds);
        } else {
            plans.push(c.split(',').filter_map(|x| x.parse().ok()).collect());
        }
    }
    if plans.is_empty() {
        plans.push(vec![0, n]);
    }
    println!(
        "| chunks | layers | rows | k | keygen s | prove s | verify ms | proof B | peak RSS MiB | \
         without commitments: rows | k | prove s | commitment overhead |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for cuts in plans {
        let mut boundary = input.clone();
        for w in cuts.windows(2) {
            let (a, b) = (w[0], w[1]);
            let fitted = ChunkCircuit::fit(model.clone(), a, b)?;
            let circuit = fitted.clone().with_inputs(
                &boundary,
                Salts {
                    input: Fr::from(1),
                    output: Fr::from(2),
                },
            )?;
            let next = model.forward_range(a, b, &boundary)?.outputs().clone();
            let k = circuit.min_k();
            let rows = circuit.rows();
            let params = dev_setup(k, 1);
            let t = Instant::now();
            let (vk, pk) = keygen(&params, &circuit)?;
            let keygen_s = t.elapsed().as_secs_f64();
            let public = circuit.instances().to_vec();
            let t = Instant::now();
            let proof = prove_chunk(Backend::Cpu, &params, &pk, circuit)?;
            let prove_s = t.elapsed().as_secs_f64();
            let t = Instant::now();
            verify_chunk(&params, &vk, &public, &proof)?;
            let verify_ms = t.elapsed().as_secs_f64() * 1e3;
            drop((pk, vk));
            // The same slice without commitments, proven right after: what the commitments cost.
            let base = fitted
                .without_commitments()
                .with_inputs(&boundary, Salts::default())?;
            let (base_rows, base_k) = (base.rows(), base.min_k());
            let base_params = dev_setup(base_k, 1);
            let (_, base_pk) = keygen(&base_params, &base)?;
            let t = Instant::now();
            prove_chunk(Backend::Cpu, &base_params, &base_pk, base)?;
            let base_s = t.elapsed().as_secs_f64();
            println!(
                "| {} | {a}..{b} | {rows} | {k} | {keygen_s:.2} | {prove_s:.2} | {verify_ms:.1} | {} | {:.0} | \
                 {base_rows} | {base_k} | {base_s:.2} | {:+.0}% |",
                cuts.len() - 1,
                proof.len(),
                peak_mib(),
                (prove_s / base_s - 1.0) * 100.0
            );
            boundary = next;
        }
    }
    Ok(())
}
