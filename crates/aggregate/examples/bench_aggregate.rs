//! Measures aggregation against the number of chunks: a model cut by the partitioner into N chunks, each chunk
//! proven (SRS downsized from the aggregation SRS, salts chained so the links hold), then the aggregation
//! circuit's keygen, the aggregated proof, the verifier's rebuild of its verifying key, and verification.
//!
//! `cargo run --release -p dzk-aggregate --example bench_aggregate -- MODEL INPUT AGG_K (N|N/G)...`
//!
//! `N` aggregates the N chunk proofs in one circuit; `N/G` through a tree with at most G proofs per node, where
//! the times are the whole tree's (every node's keygen and proof; every node's key rebuilt) and the slowest
//! node's. Prints one Markdown table of the one-circuit rows, then one of the tree rows, then one row per tree
//! node. Peak RSS is the process's high-water mark so far, so it only grows down a table: run one N per
//! process for per-N memory. A node's row gives the high-water mark when it ended: where that is above the
//! previous row's, this node set it.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use dzk_aggregate::{
    aggregate_tree, keygen, prove_aggregate, tree_verifying_keys, verify, verifying_key, Child,
    ChildKey, Node, Shape, Step,
};
use dzk_circuit::{ChunkCircuit, Salts, Visibility};
use dzk_ir::{Model, TensorFile};
use dzk_prover::{dev_setup, keygen as chunk_keygen, prove_chunk};
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::VerifyingKey;
use halo2_proofs::poly::commitment::Params;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;

/// Peak resident memory of this process so far, in MiB (Linux `VmHWM`).
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

type Proven = (VerifyingKey<G1Affine>, ParamsKZG<Bn256>, Vec<Fr>, Vec<u8>);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        eprintln!("usage: bench_aggregate MODEL INPUT AGG_K N...");
        std::process::exit(2);
    }
    let model = Arc::new(Model::load(Path::new(&args[0]))?);
    let input = TensorFile::load(Path::new(&args[1]))?;
    let agg_k: u32 = args[2].parse()?;
    let params = dev_setup(agg_k, 1);
    let layers = model.layers().len();
    let vis = Visibility {
        public_input: false,
        public_output: true,
    };
    println!(
        "| chunks | chunk k | chunk proofs s | aggregation k | keygen s | prove s | vk rebuild s | verify ms | \
         proof B | public values | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut trees = Vec::new();
    let mut nodes = Vec::new();
    for n in &args[3..] {
        let (count, group) = match n.split_once('/') {
            Some((c, g)) => (c.parse::<usize>()?, Some(g.parse::<usize>()?)),
            None => (n.parse()?, None),
        };
        let cuts = dzk_partition::cut(&model, dzk_partition::Bound::Chunks(count))?;
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c.0).collect();
        bounds.push(layers);
        let t = Instant::now();
        let mut boundary = input.clone();
        let mut proven: Vec<Proven> = Vec::new();
        let mut ks = Vec::new();
        for (i, w) in bounds.windows(2).enumerate() {
            let c = ChunkCircuit::fit(model.clone(), w[0], w[1])?
                .with_visibility(vis)
                .with_inputs(
                    &boundary,
                    Salts {
                        input: Fr::from(i as u64 + 1),
                        output: Fr::from(i as u64 + 2),
                    },
                )?;
            boundary = model
                .forward_range(w[0], w[1], &boundary)?
                .outputs()
                .clone();
            let mut p = params.clone();
            p.downsize(c.min_k());
            ks.push(c.min_k().to_string());
            let (vk, pk) = chunk_keygen(&p, &c)?;
            let instances = c.instances().to_vec();
            let proof = prove_chunk(dzk_backend::Backend::Cpu, &p, &pk, c)?;
            proven.push((vk, p, instances, proof));
        }
        let chunk_s = t.elapsed().as_secs_f64();
        let last = proven.last().map_or(0, |c| c.2.len());
        let shape = &Shape {
            public_inputs: 0,
            public_outputs: last - 2,
            reads: Vec::new(),
            output_parts: Vec::new(),
        };
        let keys_in: Vec<ChildKey<'_>> = proven
            .iter()
            .map(|(vk, p, inst, _)| (vk, p, inst.len()))
            .collect();
        if let Some(group) = group {
            let (row, node_rows) =
                tree_row(&params, &proven, &keys_in, group, shape, &ks, chunk_s)?;
            trees.push(row);
            nodes.extend(node_rows);
            continue;
        }
        let t = Instant::now();
        let node = Node::flat(count);
        let keys = keygen(&params, node, &keys_in, shape)?;
        let keygen_s = t.elapsed().as_secs_f64();
        let chunk_proofs = children(&proven);
        let t = Instant::now();
        let agg = prove_aggregate(&params, &keys, &chunk_proofs, shape)?;
        let prove_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let vk = verifying_key(&params, node, &keys_in, agg.config, shape)?;
        let vk_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let ok = verify(&params, &vk, &agg.instances, &agg.proof);
        let verify_ms = t.elapsed().as_secs_f64() * 1e3;
        if !ok {
            return Err(format!("the aggregated proof of {count} chunks does not verify").into());
        }
        println!(
            "| {count} | {} | {chunk_s:.1} | {agg_k} | {keygen_s:.1} | {prove_s:.1} | {vk_s:.1} | {verify_ms:.1} | \
             {} | {} | {:.0} |",
            ks.join(", "),
            agg.proof.len(),
            agg.instances.len(),
            peak_mib()
        );
    }
    if !trees.is_empty() {
        println!();
        println!(
            "| chunks | per node | levels | nodes | chunk k | chunk proofs s | aggregation k | keygen + prove s \
             (all nodes) | slowest node s | vk rebuild s (all nodes) | verify ms | proof B | public values | \
             peak RSS MiB |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for row in trees {
            println!("{row}");
        }
        println!();
        println!(
            "| chunks | per node | level | node | covers chunks | keygen + prove s | peak RSS when it ended MiB |"
        );
        println!("|---|---|---|---|---|---|---|");
        for row in nodes {
            println!("{row}");
        }
    }
    Ok(())
}

/// The proven chunks as proofs to aggregate.
fn children(proven: &[Proven]) -> Vec<Child<'_>> {
    proven
        .iter()
        .map(|(vk, p, inst, proof)| Child {
            vk,
            params: p,
            instances: inst.clone(),
            proof: proof.clone(),
        })
        .collect()
}

/// One aggregation node's keygen + proof: when it began, then (once it ended) its seconds and the process's
/// high-water mark at its end.
struct NodeTime {
    step: Step,
    began: Instant,
    secs: f64,
    peak_mib: f64,
}

/// Ends the node begun last, if any.
fn end_last(nodes: &mut [NodeTime]) {
    if let Some(n) = nodes.last_mut() {
        n.secs = n.began.elapsed().as_secs_f64();
        n.peak_mib = peak_mib();
    }
}

/// Aggregates `proven` through the tree with `group` proofs per node; one Markdown row for the tree and one per
/// node.
fn tree_row(
    params: &ParamsKZG<Bn256>,
    proven: &[Proven],
    keys_in: &[ChildKey<'_>],
    group: usize,
    shape: &Shape,
    ks: &[String],
    chunk_s: f64,
) -> Result<(String, Vec<String>), Box<dyn std::error::Error>> {
    let chunks = children(proven);
    // Each node's time runs from its step to the next one's (or the end of the tree); the high-water mark
    // then is the one the node ended with.
    let mut nodes: Vec<NodeTime> = Vec::new();
    let t = Instant::now();
    let tree = aggregate_tree(params, &chunks, group, shape, |step| {
        end_last(&mut nodes);
        nodes.push(NodeTime {
            step,
            began: Instant::now(),
            secs: 0.0,
            peak_mib: 0.0,
        });
    })?;
    end_last(&mut nodes);
    let total_s = t.elapsed().as_secs_f64();
    let slowest = nodes.iter().map(|n| n.secs).fold(0.0, f64::max);
    let node_rows: Vec<String> = nodes
        .iter()
        .map(|n| {
            let covers = n.step.node.chunk_range();
            format!(
                "| {} | {group} | {} of {} | {} of {} | {}..{} | {:.1} | {:.0} |",
                proven.len(),
                n.step.level + 1,
                n.step.levels,
                n.step.index + 1,
                n.step.nodes,
                covers.start,
                covers.end,
                n.secs,
                n.peak_mib,
            )
        })
        .collect();
    let t = Instant::now();
    let vks = tree_verifying_keys(params, keys_in, group, &tree.configs(), shape, |_| {})?;
    let vk_s = t.elapsed().as_secs_f64();
    let root = tree.root();
    let vk = vks.last().and_then(|l| l.first()).ok_or("no root key")?;
    let t = Instant::now();
    let ok = verify(params, vk, &root.instances, &root.proof);
    let verify_ms = t.elapsed().as_secs_f64() * 1e3;
    if !ok {
        return Err(format!(
            "the tree's root proof over {} chunks does not verify",
            proven.len()
        )
        .into());
    }
    let row = format!(
        "| {} | {group} | {} | {} | {} | {chunk_s:.1} | {} | {total_s:.1} | {slowest:.1} | {vk_s:.1} | \
         {verify_ms:.1} | {} | {} | {:.0} |",
        proven.len(),
        tree.levels.len(),
        node_rows.len(),
        ks.join(", "),
        params.k(),
        root.proof.len(),
        root.instances.len(),
        peak_mib()
    );
    Ok((row, node_rows))
}
