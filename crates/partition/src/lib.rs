#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::sync::Arc;

use dzk_circuit::{ChunkCircuit, ChunkIo, CircuitError, CostModel, Limit, Visibility};
use dzk_format::run::{ChunkPlan, LayoutSpec, OutputJoin, Plan, TensorSpec, VisibilitySpec};
use dzk_ir::{IrError, Model, Section};

mod graph;
pub use graph::{chunk_io, output_section, partition, roles, sources, Partition, Role};

/// How to bound the chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// Exactly this many chunks, the largest as small as possible.
    Chunks(usize),
    /// As few chunks as possible, each fitting `2^k` rows.
    MaxK(u32),
    /// As few chunks as possible, each fitting the limit: `2^k` rows and, where given, a memory bound.
    Within(Limit),
}

impl Bound {
    /// The limit every chunk must fit (`None` for `Chunks`).
    pub fn limit(&self) -> Option<Limit> {
        match *self {
            Bound::Chunks(_) => None,
            Bound::MaxK(k) => Some(Limit::k(k)),
            Bound::Within(l) => Some(l),
        }
    }
}

/// What a layer needs beyond the bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// More rows than `2^max_k`.
    Rows {
        /// The `k` it needs.
        need: u32,
        /// The bound.
        max_k: u32,
    },
    /// More memory than the bound by the estimate, at every `k` within it.
    Memory {
        /// The least it needs by the estimate, bytes.
        need_bytes: u64,
        /// The bound, bytes.
        max_bytes: u64,
    },
}

impl std::fmt::Display for Need {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Need::Rows { need, max_k } => write!(f, "k = {need}, more than --max-k {max_k}"),
            Need::Memory {
                need_bytes,
                max_bytes,
            } => write!(
                f,
                "about {} to key or prove by the estimate under any layout, more than --max-memory {}",
                dzk_circuit::bytes_text(need_bytes),
                dzk_circuit::bytes_text(max_bytes)
            ),
        }
    }
}

/// What slice `[a, b)` needs beyond `limit` (which it does not fit): more rows, or more memory.
fn need_of(cost: &CostModel, (a, b): (usize, usize), limit: Limit) -> Need {
    let need = cost.min_k(a, b);
    match limit.max_bytes {
        Some(max_bytes) if need <= limit.max_k => Need::Memory {
            need_bytes: cost.least_bytes(a, b),
            max_bytes,
        },
        _ => Need::Rows {
            need: need.max(limit.max_k + 1),
            max_k: limit.max_k,
        },
    }
}

/// Why a model cannot be partitioned as asked.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    /// More chunks than layers, or zero.
    #[error("cannot cut {layers} layers into {chunks} chunks")]
    Count {
        /// Chunks asked for.
        chunks: usize,
        /// Layers in the model.
        layers: usize,
    },
    /// A single layer needs more than the bound: more than `2^k` rows, or more memory.
    #[error("layer {layer} alone needs {need}")]
    TooBig {
        /// The layer.
        layer: usize,
        /// What it needs.
        need: Need,
    },
    /// A single layer needs more than the bound and cannot be split into parts that fit.
    #[error("layer {layer} alone needs {need}, and cannot be split: {reason}")]
    Unsplittable {
        /// The layer.
        layer: usize,
        /// What it needs.
        need: Need,
        /// Why it cannot be split.
        reason: String,
    },
    /// The model's inputs or outputs are public instances, one row each, more than the bound's rows hold.
    #[error(
        "the model's {values} {side} are public instances, one row each, more than 2^{max_k} rows hold \
         (with the two commitments and halo2's reserved rows): {hint}"
    )]
    PublicTooLarge {
        /// "inputs" or "outputs".
        side: &'static str,
        /// How many values.
        values: usize,
        /// The bound.
        max_k: u32,
        /// What to do instead.
        hint: &'static str,
    },
    /// The circuit cannot be built.
    #[error(transparent)]
    Circuit(#[from] CircuitError),
    /// A slice file cannot be written.
    #[error(transparent)]
    Ir(#[from] IrError),
}

impl PartitionError {
    /// The error with the layer it names (a layer too big, or one that cannot be split) renumbered by `f`: from
    /// a rewritten model's indices to those of the model given.
    pub fn renumbered(self, f: impl Fn(usize) -> usize) -> Self {
        match self {
            Self::TooBig { layer, need } => Self::TooBig {
                layer: f(layer),
                need,
            },
            Self::Unsplittable {
                layer,
                need,
                reason,
            } => Self::Unsplittable {
                layer: f(layer),
                need,
                reason,
            },
            e => e,
        }
    }
}

/// Chunks whose rows (tables included) exceed this take the best of [`CostModel`]'s reference layouts instead of
/// [`ChunkCircuit::fit`]'s full search (`2^17` rows: `k ≥ 18`).
pub const FULL_SEARCH_ROWS: usize = 1 << 17;

/// The chunk boundaries `[(start, end)…]` for `bound`, chosen with [`CostModel`]: the exact rows of every slice
/// under one reference layout, from one count of the whole model (so a model of a thousand layers partitions in
/// seconds). Fails at once, listing every layer that has no chip path.
///
/// `Chunks(n)`: dynamic programming over the cut positions for the smallest largest chunk (rows, range and
/// function tables and halo2's reserved rows together). `MaxK(k)` and `Within(limit)`: greedily from the first
/// layer, each chunk as long as fits under one of the cost model's layouts (so [`plan`] finds each a layout
/// within the bound). The model's inputs and outputs are counted hashed ([`Visibility::default`]).
pub fn cut(model: &Arc<Model>, bound: Bound) -> Result<Vec<(usize, usize)>, PartitionError> {
    let n = model.layers().len();
    if let Bound::Chunks(chunks) = bound {
        if chunks == 0 || chunks > n {
            return Err(PartitionError::Count { chunks, layers: n });
        }
    }
    cut_with(
        &CostModel::new_for(model, bound.limit(), Visibility::default())?,
        n,
        bound,
    )
}

/// [`cut`] with a cost model already made for the model's `n` layers (so [`plan`] can use it too).
pub fn cut_with(
    cost: &CostModel,
    n: usize,
    bound: Bound,
) -> Result<Vec<(usize, usize)>, PartitionError> {
    match bound {
        Bound::Chunks(chunks) => {
            // best[c][j]: the smallest possible largest chunk when layers 0..j make c chunks; from[c][j] the
            // start of the last of them.
            // Each slice's cost once (the recurrence reads every slice once per chunk count).
            let need: Vec<Vec<usize>> = (0..n)
                .map(|i| (i + 1..=n).map(|j| cost.need(i, j)).collect())
                .collect();
            let inf = usize::MAX;
            let mut best = vec![vec![inf; n + 1]; chunks + 1];
            let mut from = vec![vec![0; n + 1]; chunks + 1];
            best[0][0] = 0;
            for c in 1..=chunks {
                for j in c..=n {
                    for i in c - 1..j {
                        if best[c - 1][i] == inf {
                            continue;
                        }
                        let v = best[c - 1][i].max(need[i][j - i - 1]);
                        if v < best[c][j] {
                            best[c][j] = v;
                            from[c][j] = i;
                        }
                    }
                }
            }
            let mut cuts = Vec::with_capacity(chunks);
            let mut j = n;
            for c in (1..=chunks).rev() {
                let i = from[c][j];
                cuts.push((i, j));
                j = i;
            }
            cuts.reverse();
            Ok(cuts)
        }
        Bound::MaxK(k) => greedy(cost, n, Limit::k(k)),
        Bound::Within(limit) => greedy(cost, n, limit),
    }
}

/// The chunks of [`cut_with`] within `limit`: from each start, the furthest end whose slice fits (a slice can fit
/// where a shorter one does not: its boundary may be smaller).
fn greedy(cost: &CostModel, n: usize, limit: Limit) -> Result<Vec<(usize, usize)>, PartitionError> {
    let mut cuts = Vec::new();
    let mut a = 0;
    while a < n {
        let Some(b) = (a + 1..=n).rev().find(|&b| cost.fits(a, b, limit)) else {
            return Err(PartitionError::TooBig {
                layer: a,
                need: need_of(cost, (a, a + 1), limit),
            });
        };
        cuts.push((a, b));
        a = b;
    }
    Ok(cuts)
}

fn specs(model: &Model, idxs: &[i64]) -> Vec<TensorSpec> {
    idxs.iter()
        .map(|&idx| TensorSpec {
            idx,
            shape: model.tensor_shape(idx).unwrap_or_default(),
        })
        .collect()
}

/// The plan for `cuts`: each chunk's cheapest layout (within `limit` when given), its boundary tensors
/// and its slice file's name and digest (from `slices`, the slice files' bytes in chunk order). `cost` is the
/// model's [`CostModel`] (made for `visibility`); `sections` where the split layers' parts are (empty for a
/// chain). When the cuts end with the parts of [`output_section`], they state the model's outputs
/// ([`Plan::output_join`]). Every chunk is fitted as it is proven: its model inputs and outputs public as
/// `visibility` makes them.
#[allow(clippy::too_many_arguments)]
pub fn plan(
    model: &Arc<Model>,
    cost: &CostModel,
    model_file: &str,
    model_bytes: &[u8],
    cuts: &[(usize, usize)],
    sections: &[Section],
    visibility: VisibilitySpec,
    slices: &[Vec<u8>],
    limit: Option<Limit>,
) -> Result<Plan, PartitionError> {
    // The parts of a split last layer that end the plan state the model's outputs.
    let n = model.layers().len();
    let output_join = output_section(model, sections)
        .filter(|s| cuts.len() >= s.parts && cuts.last().is_some_and(|&(_, b)| b + 1 == n))
        .and_then(|s| {
            let first = cuts.len() - s.parts;
            Some(OutputJoin {
                chunks: (first..cuts.len()).map(|i| i as u32).collect(),
                output: specs(model, model.outputs()).into_iter().next()?,
            })
        });
    let mut chunks = Vec::with_capacity(cuts.len());
    let roles = roles(model, cuts, sections);
    let vis = Visibility::from(visibility);
    for (i, &(a, b)) in cuts.iter().enumerate() {
        if roles[i] != Role::Chain {
            // A chunk that reads several boundaries, or a part: fitted with its real inputs and outputs (public
            // instances for a part that states its share of them).
            let mut io = chunk_io(model, cuts, &roles, i);
            io.public_outputs = visibility.public_output
                && output_join
                    .as_ref()
                    .is_some_and(|j| j.chunks.contains(&(i as u32)));
            let layouts = CostModel::layouts_for(model, limit);
            let c = if cost.need(a, b) > FULL_SEARCH_ROWS {
                ChunkCircuit::best_of_io(model.clone(), a, b, (&io, vis), &layouts, limit)?
            } else {
                match ChunkCircuit::fit_within_io(model.clone(), a, b, &io, vis, limit) {
                    Ok(c) => c,
                    Err(_) => {
                        ChunkCircuit::best_of_io(model.clone(), a, b, (&io, vis), &layouts, limit)?
                    }
                }
            };
            chunks.push(chunk_plan(
                model,
                i,
                (a, b),
                (c.layout(), c.min_k(), c.rows()),
                (&io.inputs(), &io.outputs),
                slices,
                sources(roles[i]),
            ));
            continue;
        }
        // A large chunk takes the best reference layout, whose rows the cost model knows exactly: the full
        // search would count the chunk once per layout it tries (minutes for GPT-2), and at this size rows set
        // `k` whatever the range table. A small chunk gets the full search.
        let (p, k, rows) = match cost.best_layout(a, b, limit) {
            Some(best) if cost.need(a, b) > FULL_SEARCH_ROWS => best,
            // `fit` stops narrowing the range table once rows set `k`, so under a bound it can miss the one
            // narrow-table layout that fits; the cost model's reference layouts are the fallback.
            best => match ChunkCircuit::fit_within_io(
                model.clone(),
                a,
                b,
                &ChunkIo::chain(model, a, b),
                vis,
                limit,
            ) {
                Ok(c) => {
                    let rows = c.rows();
                    (c.layout(), c.min_k(), rows)
                }
                Err(e) => best.ok_or(e)?,
            },
        };
        let (ins, outs) = model.slice_boundary(a, b);
        chunks.push(chunk_plan(
            model,
            i,
            (a, b),
            (p, k, rows),
            (&ins, &outs),
            slices,
            Vec::new(),
        ));
    }
    Ok(Plan {
        model_file: model_file.into(),
        model_blake3: blake3::hash(model_bytes).to_hex().to_string(),
        layers: model.layers().len(),
        folded_layers: Vec::new(),
        split_layers: Vec::new(),
        visibility,
        chunks,
        output_join,
        srs_id: None,
        aggregation_vks: Default::default(),
    })
}

fn chunk_plan(
    model: &Model,
    i: usize,
    (a, b): (usize, usize),
    (p, k, rows): (dzk_circuit::LayoutParams, u32, usize),
    (ins, outs): (&[i64], &[i64]),
    slices: &[Vec<u8>],
    sources: Vec<u32>,
) -> ChunkPlan {
    ChunkPlan {
        index: i as u32,
        start: a,
        end: b,
        k,
        rows,
        layout: LayoutSpec {
            advice: p.advice,
            range_bits: p.range_bits,
            range_limbs: p.range_limbs,
            range_slots: p.range_slots,
            short_slots: p.short_slots,
            hash_lanes: p.hash_lanes,
            fn_slots: p.fn_slots,
            fn_groups: p.fn_groups,
            check_width: p.check_width,
        },
        inputs: specs(model, ins),
        outputs: specs(model, outs),
        slice_file: slice_name(i),
        slice_blake3: slices
            .get(i)
            .map(|s| blake3::hash(s).to_hex().to_string())
            .unwrap_or_default(),
        vk_blake3: None,
        sources,
    }
}

/// The slice file name of chunk `i`.
pub fn slice_name(i: usize) -> String {
    format!("chunk-{i}.model.msgpack")
}
