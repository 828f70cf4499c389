//! `dzk partition`: cut a model into chunks and write the plan and one model slice per chunk.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use dzk_circuit::{bytes_text, CostModel, Limit, Visibility};
use dzk_format::run::{total_values, VisibilitySpec};
use dzk_ir::Model;
use dzk_partition::{partition, plan, slice_name, Bound};
use serde_json::json;

use crate::io::write_atomic;
use crate::run::{read_plan, spinner, write_plan};

/// Arguments of `dzk partition`.
#[derive(Debug, Args)]
pub struct PartitionCmd {
    /// The zkml model file.
    pub model: PathBuf,
    /// Cut into at most this many chunks, the largest as small as the cost model allows: exactly this many as a
    /// chain, or fewer where splitting layers across chunks (by output channels, or a softmax, batched product or
    /// element-wise layer by rows) makes the largest smaller.
    #[arg(long, conflicts_with_all = ["max_k", "max_memory"], required_unless_present_any = ["max_k", "max_memory"])]
    pub chunks: Option<usize>,
    /// Cut into as few chunks as possible, each fitting 2^K rows.
    #[arg(long, value_name = "K")]
    pub max_k: Option<u32>,
    /// Cut into as few chunks as possible, each needing at most SIZE to key and to prove by the estimate that
    /// `partition` prints (binary units: 16G is 16 GiB; K, M, G or T, with or without "iB"). Chunks may then
    /// take a larger k with fewer columns. With --max-k both bound every chunk; alone, k is bounded by the
    /// largest SRS dzk reads.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_memory: Option<u64>,
    /// The run directory to write (plan.dzk and chunk-I.model.msgpack).
    #[arg(short = 'o', long = "output", value_name = "RUN_DIR")]
    pub out: PathBuf,
    /// Make the model input public (default: committed in chunk 0's h_in, so it stays private).
    #[arg(long)]
    pub public_input: bool,
    /// Commit to the model output in the last chunk's h_out (default: public).
    #[arg(long)]
    pub hashed_output: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
    /// Partition a weight-less config with deterministic synthetic weights from this seed (what `dzk synth`
    /// writes); the slices then carry those weights.
    #[arg(long, value_name = "SEED")]
    pub synthetic_weights: Option<u64>,
    /// Write over a run directory whose plan already has keys (their digests are lost with the old plan).
    #[arg(long)]
    pub force: bool,
}

impl PartitionCmd {
    /// Runs the command.
    pub fn run(self) -> anyhow::Result<()> {
        if !self.force && self.out.join("plan.dzk").exists() {
            if let Ok(old) = read_plan(&self.out) {
                let keyed = old.chunks.iter().filter(|c| c.vk_blake3.is_some()).count();
                if keyed > 0 {
                    anyhow::bail!(
                        "{}: this run is keyed already (its plan records {keyed} chunk verifying key(s)); \
                         partitioning again replaces plan.dzk, and its keys and proofs stop matching the plan. \
                         Give another -o, or --force to replace it",
                        self.out.display()
                    );
                }
            }
        }
        let mut bytes = std::fs::read(&self.model)
            .with_context(|| format!("reading {}", self.model.display()))?;
        let name = self.model.display().to_string();
        if let Some(seed) = self.synthetic_weights {
            bytes = Model::synthesize_file(&bytes, &name, seed, None)
                .context("generating synthetic weights")?;
        }
        let model = Model::from_msgpack(&bytes, &name).context("loading model")?;
        if !model.has_weights() {
            return Err(crate::args::no_weights(&self.model));
        }
        if model.free_tensors().is_empty() {
            anyhow::bail!(
                "{name}: the model reads no input: every tensor its layers read is a constant, so there is nothing \
                 to prove. A config synthesised without --input keeps only its declared inputs (GPT-2's config \
                 declares none): give `dzk synth --input INPUT` the input file the model is run on"
            );
        }
        // Layers that read only constants compute constants: folded once here, so no chunk proves them.
        let folded = if model.has_foldable_layers() {
            Model::fold_constants_file(&bytes, &name).context("folding constant layers")?
        } else {
            dzk_ir::Folded {
                bytes: Vec::new(),
                layers: Vec::new(),
                unused: Vec::new(),
            }
        };
        let model = if folded.layers.is_empty() {
            model
        } else {
            let constant: Vec<usize> = folded
                .layers
                .iter()
                .copied()
                .filter(|l| !folded.unused.contains(l))
                .collect();
            let mut what = Vec::new();
            if !constant.is_empty() {
                what.push(format!(
                    "folded {} layer(s) whose operands are all constants into constants (model layers {})",
                    constant.len(),
                    list_indices(&constant)
                ));
            }
            if !folded.unused.is_empty() {
                what.push(format!(
                    "left out {} layer(s) whose values no output depends on (reshapes' shapes computed from \
                     activations; model layers {})",
                    folded.unused.len(),
                    list_indices(&folded.unused)
                ));
            }
            eprintln!(
                "{}; the plan's layer ranges count the {} layers left",
                what.join("; "),
                model.layers().len() - folded.layers.len()
            );
            Model::from_msgpack(&folded.bytes, &name).context("loading the folded model")?
        };
        let model = std::sync::Arc::new(model);
        let bound = match (self.chunks, self.max_k, self.max_memory) {
            (Some(n), _, _) => Bound::Chunks(n),
            (None, Some(k), None) => Bound::MaxK(k),
            (None, k, Some(m)) => Bound::Within(Limit {
                max_k: k.unwrap_or(dzk_verifier::srs::MAX_K),
                max_bytes: Some(m),
            }),
            (None, None, None) => anyhow::bail!("give --chunks N, --max-k K or --max-memory SIZE"),
        };
        // Fail fast, before any counting: every layer without a chip path, listed at once.
        // Errors name layers by their index in the file given, not in the folded model.
        let taken = folded.layers.clone();
        CostModel::check(&model)
            .map_err(|e| dzk_partition::PartitionError::from(in_file_circuit(e, &taken)))
            .with_context(|| format!("partitioning {name}"))?;
        // Every chunk is counted and fitted as it will be proven: the model's inputs and outputs public or hashed.
        let visibility = VisibilitySpec {
            public_input: self.public_input,
            public_output: !self.hashed_output,
        };
        let public = Visibility::from(visibility);
        let pb = spinner("measuring every slice with the cost model");
        let cost = CostModel::new_for(&model, bound.limit(), public)
            .map_err(dzk_partition::PartitionError::from)
            .with_context(|| format!("partitioning {name}"))?;
        let sliced = if folded.layers.is_empty() {
            &bytes
        } else {
            &folded.bytes
        };
        // The model as given (folded): what its split layers are, and for the second look that `--chunks` may
        // take below.
        let given = model.clone();
        let whole = self
            .chunks
            .is_some()
            .then(|| (model.clone(), cost.clone(), sliced));
        let parted = partition(model, sliced, &name, cost, bound, public)
            .map_err(|e| in_file(e, &taken))
            .with_context(|| format!("partitioning {name}"))?;
        let (model, cost, cuts) = (parted.model.clone(), &parted.cost, &parted.cuts);
        pb.set_message("writing slices");
        let sliced = parted.bytes.as_deref().unwrap_or(sliced);
        let slices = Model::slice_files(sliced, &name, cuts)?;
        pb.set_message(format!(
            "fitting the layout of each of {} chunks",
            cuts.len()
        ));
        let file_name = self
            .model
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or(name.clone());
        let mut plan = plan(
            &model,
            cost,
            &file_name,
            &bytes,
            cuts,
            &parted.sections,
            visibility,
            &slices,
            parted.limit,
        )?;
        plan.folded_layers = folded.layers;
        plan.split_layers = parted.splits.clone();
        if !parted.splits.is_empty() {
            let memory = match self.max_memory {
                Some(m) => format!(" and --max-memory {}", bytes_text(m)),
                None => String::new(),
            };
            let how = if parted.sections.iter().any(|s| s.sliced) {
                "by output channels or by rows"
            } else {
                "by output channels"
            };
            eprintln!(
                "split {} layer(s) across chunks {how}, so that every chunk fits 2^{} rows{memory}: {}; \
                 the plan's layer ranges count the {} layers after the split",
                parted.splits.len(),
                plan.chunks.iter().map(|c| c.k).max().unwrap_or_default(),
                parted
                    .splits
                    .iter()
                    .zip(&parted.sections)
                    .map(|(s, sec)| {
                        let what = match s.tail {
                            0 if sec.sliced => {
                                let by = match given.split_unit(s.layer) {
                                    "row" => "rows",
                                    unit => unit,
                                };
                                format!(
                                    "layer {} (a {}, by {by}) in {} parts",
                                    s.layer,
                                    given.layers()[s.layer].layer_type,
                                    s.parts
                                )
                            }
                            0 => format!("layer {} in {} parts", s.layer, s.parts),
                            t => format!(
                                "layer {} and the {t} after it ({}) in {} parts",
                                s.layer,
                                match sec.sliced {
                                    true => "row by row",
                                    false => "channel by channel",
                                },
                                s.parts
                            ),
                        };
                        match s.reads_parts {
                            true => format!("{what} (each reading the previous split's parts)"),
                            false => what,
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                parted.model.layers().len()
            );
        }
        if let Some(j) = &plan.output_join {
            eprintln!(
                "the last layer's {} parts (chunks {}..={}) state the model's {} outputs between them and end the \
                 plan: no chunk reads them back, {}",
                j.chunks.len(),
                j.chunks.first().copied().unwrap_or_default(),
                j.chunks.last().copied().unwrap_or_default(),
                j.output.numel(),
                if plan.visibility.public_output {
                    "each part's share is public and the verifier joins them"
                } else {
                    "each part commits to its share in its own h_out (--hashed-output)"
                }
            );
        }
        // Fewer chunks than asked: say why the other machines would not help.
        let fewer = match (self.chunks, whole) {
            (Some(n), Some((whole, whole_cost, whole_bytes))) if plan.chunks.len() < n => {
                let k = plan.chunks.iter().map(|c| c.k).max().unwrap_or_default();
                Some(fewer_note(n, plan.chunks.len(), k, || {
                    partition(
                        whole,
                        whole_bytes,
                        &name,
                        whole_cost,
                        Bound::MaxK(k - 1),
                        public,
                    )
                    .map(|p| p.cuts.len())
                    .map_err(|e| e.to_string())
                }))
            }
            _ => None,
        };
        if let Some(note) = &fewer {
            eprintln!("note: {note}");
        }
        std::fs::create_dir_all(&self.out)
            .with_context(|| format!("creating {}", self.out.display()))?;
        for (i, s) in slices.iter().enumerate() {
            write_atomic(&self.out.join(slice_name(i)), s)?;
        }
        write_plan(&self.out, &plan)?;
        pb.finish_and_clear();
        // What sets each chunk's k: its layout's rows, its range table, and its share of the function tables.
        let sizes: Vec<ChunkSize> = plan
            .chunks
            .iter()
            .map(|c| ChunkSize::of(c, cost.table_rows(c.start, c.end)))
            .collect();
        if self.json {
            let chunks: Vec<_> = plan
                .chunks
                .iter()
                .zip(&sizes)
                .map(|(c, z)| {
                    json!({"index": c.index, "layers": [c.start, c.end], "k": c.k, "rows": z.used,
                    "layout_rows": c.rows, "range_table_rows": z.range_table, "table_rows": z.tables,
                    "table_groups": c.layout.fn_groups, "table_rows_per_group": z.per_group,
                    "shape": shape_json(c), "estimate": estimate_json(c),
                    "inputs": c.inputs, "outputs": c.outputs, "reads": c.reads()})
                })
                .collect();
            println!(
                "{}",
                json!({"run": self.out, "plan_digest": plan.digest(), "chunks": chunks, "visibility": plan.visibility,
                    "folded_layers": plan.folded_layers, "split_layers": plan.split_layers,
                    "output_join": plan.output_join,
                    "chunks_asked": self.chunks, "fewer_chunks": fewer})
            );
        } else {
            for (c, z) in plan.chunks.iter().zip(&sizes) {
                let tables = match (z.tables, c.layout.fn_groups) {
                    (0, _) => String::new(),
                    (t, 1) => format!(", function tables {t}"),
                    (t, g) => format!(", function tables {t} in {g} groups of {}", z.per_group),
                };
                let reads = crate::run::reads_text(c);
                let share = if plan.output_join.is_some() && plan.states_outputs(c.index) {
                    " (its share of the model's outputs)"
                } else {
                    ""
                };
                println!(
                    "chunk {}: layers {}..{}, k = {}: {} of {} rows (layout {}, range table {}{tables}), {} values in{reads}, \
                     {} out{share}",
                    c.index,
                    c.start,
                    c.end,
                    c.k,
                    z.used,
                    1u64 << c.k,
                    c.rows,
                    z.range_table,
                    total_values(&c.inputs),
                    total_values(&c.outputs)
                );
                let e = dzk_prover::run::estimate(c);
                println!(
                    "  estimated on 2 cores: keygen {} in {}, prove {} in {}",
                    bytes_text(e.keygen_bytes),
                    secs(e.keygen_s),
                    bytes_text(e.prove_bytes),
                    secs(e.prove_s)
                );
            }
            println!("plan digest {}", plan.digest());
        }
        // The largest chunk's memory against this machine's.
        if let Some(total) = crate::run::meminfo("MemTotal") {
            for c in &plan.chunks {
                let e = dzk_prover::run::estimate(c);
                let need = e.keygen_bytes.max(e.prove_bytes);
                if need > total {
                    eprintln!(
                        "warning: chunk {} needs about {} to key or prove by the estimate, more than this \
                         machine's {}: give --max-memory, --max-k a smaller K or --chunks a larger N, or key \
                         and prove it on a larger machine",
                        c.index,
                        bytes_text(need),
                        bytes_text(total)
                    );
                }
            }
        }
        eprintln!("wrote {}", self.out.join("plan.dzk").display());
        Ok(())
    }
}

/// Why `--chunks n` gave `got` chunks, the largest at `k`: `smaller` is the plan at `k − 1` (its chunk count) or
/// why there is none. The search takes the smallest largest `k` within `n` chunks, so the plan at `k − 1` needs
/// more than `n` chunks or cannot be made, unless the search stopped at its smallest `k`.
fn fewer_note(
    n: usize,
    got: usize,
    k: u32,
    smaller: impl FnOnce() -> Result<usize, String>,
) -> String {
    let why = if k == 0 {
        "no chunk can be smaller".to_string()
    } else {
        match smaller() {
            Ok(m) if m <= n => {
                return format!(
                    "--chunks {n}: {got} chunks, the largest at k = {k}, the smallest k that --chunks tries; \
                     every chunk within k = {} takes {m} chunks (--max-k {})",
                    k - 1,
                    k - 1
                )
            }
            Ok(m) => format!("every chunk within k = {} would take {m} chunks", k - 1),
            Err(e) => format!("no plan has every chunk within k = {} ({e})", k - 1),
        }
    };
    format!(
        "--chunks {n}: {got} chunks, the largest at k = {k}, and {why}; {} more machine{} would not make the \
         largest chunk smaller",
        n - got,
        if n - got == 1 { "" } else { "s" }
    )
}

/// `0, 1, 2` — or the first few and a count, for long lists.
fn list_indices(xs: &[usize]) -> String {
    let shown: Vec<String> = xs.iter().take(8).map(|x| x.to_string()).collect();
    match xs.len() {
        n if n > 8 => format!("{} and {} more", shown.join(", "), n - 8),
        _ => shown.join(", "),
    }
}

/// The rows that compete for a chunk's `2^k`: the layout's, the range table's and each function-table group's.
struct ChunkSize {
    /// The largest of them: the rows the chunk uses of its `2^k` (halo2 reserves a few more).
    used: usize,
    /// The range table: `2^range_bits` rows.
    range_table: usize,
    /// The function tables' rows in all (the all-zero row included), 0 without any.
    tables: usize,
    /// One group's share of them.
    per_group: usize,
}

impl ChunkSize {
    fn of(c: &dzk_format::run::ChunkPlan, tables: usize) -> Self {
        let groups = c.layout.fn_groups.max(1);
        let per_group = if tables == 0 {
            0
        } else {
            dzk_circuit::function_table_group_rows(tables - 1, groups)
        };
        let range_table = 1 << c.layout.range_bits;
        Self {
            used: c.rows.max(range_table).max(per_group),
            range_table,
            tables,
            per_group,
        }
    }
}

/// The constraint system's shape of chunk `c`'s layout.
fn shape_json(c: &dzk_format::run::ChunkPlan) -> serde_json::Value {
    let s = dzk_circuit::layout_shape(dzk_circuit::LayoutParams::from(&c.layout));
    json!({"advice": s.advice, "fixed": s.fixed, "selectors": s.selectors, "permutation": s.permutation,
           "lookups": s.lookups, "degree": s.degree})
}

/// Chunk `c`'s estimated keygen and proving memory (bytes) and time (seconds on 2 cores).
fn estimate_json(c: &dzk_format::run::ChunkPlan) -> serde_json::Value {
    let e = dzk_prover::run::estimate(c);
    json!({"keygen_bytes": e.keygen_bytes, "prove_bytes": e.prove_bytes,
           "keygen_s": (e.keygen_s * 10.0).round() / 10.0, "prove_s": (e.prove_s * 10.0).round() / 10.0,
           "cores": 2})
}

fn secs(s: f64) -> String {
    if s >= 90.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{s:.1} s")
    }
}

/// A memory size for `--max-memory`: a number of bytes, or one with K, M, G or T (binary: `16G` is 16 GiB),
/// optionally followed by `iB` or `B`; a fraction is allowed (`1.5T`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let body = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let (num, shift) = match body.chars().last() {
        Some('k') => (&body[..body.len() - 1], 10),
        Some('m') => (&body[..body.len() - 1], 20),
        Some('g') => (&body[..body.len() - 1], 30),
        Some('t') => (&body[..body.len() - 1], 40),
        _ => (body, 0),
    };
    let bad =
        || format!("{s:?} is not a memory size (give bytes, or a number with K, M, G or T: 16G)");
    let x: f64 = num.trim().parse().map_err(|_| bad())?;
    if !x.is_finite() || x <= 0.0 {
        return Err(bad());
    }
    let bytes = x * (1u64 << shift) as f64;
    if bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// The index in the file given of layer `i` of the model left after taking out the layers `taken` (sorted).
fn file_index(taken: &[usize], i: usize) -> usize {
    let mut at = i;
    for &t in taken {
        if t <= at {
            at += 1;
        } else {
            break;
        }
    }
    at
}

/// `e` with its layers named by their index in the file given.
fn in_file_circuit(e: dzk_circuit::CircuitError, taken: &[usize]) -> dzk_circuit::CircuitError {
    use dzk_circuit::CircuitError as C;
    match e {
        C::Unsupported {
            index,
            layer_type,
            reason,
        } => C::Unsupported {
            index: file_index(taken, index),
            layer_type,
            reason,
        },
        C::UnsupportedLayers(all) => {
            C::UnsupportedLayers(all.into_iter().map(|e| in_file_circuit(e, taken)).collect())
        }
        e => e,
    }
}

/// `e` with its layer named by its index in the file given.
fn in_file(e: dzk_partition::PartitionError, taken: &[usize]) -> dzk_partition::PartitionError {
    use dzk_partition::PartitionError as P;
    match e {
        P::Circuit(c) => P::Circuit(in_file_circuit(c, taken)),
        e => e.renumbered(|layer| file_index(taken, layer)),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_in_binary_units() {
        assert_eq!(parse_size("16G"), Ok(16 << 30));
        assert_eq!(parse_size("16GiB"), Ok(16 << 30));
        assert_eq!(parse_size("16gb"), Ok(16 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1.5T"), Ok(3 << 39));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("100K"), Ok(100 << 10));
        for bad in ["", "G", "-1G", "0", "lots", "16X", "nanG"] {
            assert!(parse_size(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn a_layer_of_the_folded_model_is_named_by_its_index_in_the_file() {
        // Layers 1, 2 and 5 of the file taken out: the folded model's 0, 1, 2, 3 are the file's 0, 3, 4, 6.
        let taken = [1, 2, 5];
        let got: Vec<usize> = (0..4).map(|i| super::file_index(&taken, i)).collect();
        assert_eq!(got, vec![0, 3, 4, 6]);
        assert_eq!(super::file_index(&[], 7), 7);
    }
}
