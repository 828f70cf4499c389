//! Layers too large for the bound: split across chunks, and the chunk graph that follows.
//!
//! A layer that alone needs more than `2^k` rows is split by output channels
//! (`dzk_ir::Model::split_layers_with_tails`) into parts that each fit, each part carrying the layers after it
//! that act channel by channel (pooling, per-channel scales); a softmax, a batched product or an element-wise
//! layer is split by rows, each part slicing its rows of the operands (`dzk_ir::Model::splits_by_rows`) and
//! carrying the layers after it that act row by row along the same axis (`dzk_ir::Model::row_tail`). The
//! search for parts that fit and the chunks cut around them are in [`within`]. The run is then a graph: each part is a chunk of
//! its own that reads the boundary before the split layer (what the chunk before wrote, or the model's inputs)
//! and writes its share of the output; the chunk after the parts (it starts with the concatenation) reads that
//! same boundary and every part's output. Every other chunk reads its predecessor's boundary, as in a chain.
//!
//! Where a split layer comes right after another split's parts and reads nothing but their concatenation (a
//! transformer MLP's second layer after the first with its GELU), no chunk joins the first parts: each part of
//! the second split starts with its own copy of the concatenation and reads the first split's parts' boundaries
//! directly (`dzk_ir::Model::split_layers_chained`). The chunk after the second split's parts then reads what is
//! still needed from before the first split (a residual) from the boundary before the first split's parts.
//!
//! A split of the model's last layer (a classifier's or language model's head) ends the run with its parts when
//! nothing but their concatenation is left: each part states its share of the model's outputs
//! (`Plan::output_join`), and no chunk reads them all back (GPT-2's LM head writes 3.2 M values).
//!
//! `--chunks N` splits too: it takes the plan of the smallest `k` whose `--max-k` partition needs no more than
//! `N` chunks, when that beats the best chain of exactly `N` chunks.

use std::sync::Arc;

use dzk_circuit::{ChunkCircuit, ChunkIo, CostModel, InputGroup, Limit, Visibility};
use dzk_format::run::SplitSpec;
use dzk_ir::{Model, Section};

use crate::{cut_with, Bound, PartitionError};

mod within;
use within::within;

/// A partition under `--max-k`, with the layers that did not fit split.
pub struct Partition {
    /// The model the chunks cut: the one given, or with the split layers rewritten.
    pub model: Arc<Model>,
    /// Its bytes when layers were split (`None`: the model given, unchanged).
    pub bytes: Option<Vec<u8>>,
    /// Its cost model.
    pub cost: CostModel,
    /// The chunks' layer ranges.
    pub cuts: Vec<(usize, usize)>,
    /// The layers split (by their index in the model given) and their parts.
    pub splits: Vec<SplitSpec>,
    /// Where each split layer's parts are in [`Self::model`].
    pub sections: Vec<Section>,
    /// The limit every chunk was planned within, to give [`crate::plan`] (`--max-k` and `--max-memory`, or the
    /// `k` of a split plan `--chunks` chose): the layout search then keeps each chunk within it, though a layout
    /// of fewer columns at a larger `k` may cost less to aggregate. `None` for a chain under `--chunks`: each
    /// chunk takes the layout that costs least.
    pub limit: Option<Limit>,
}

/// Where a chunk sits in a graph-shaped plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A chunk of the chain: it reads its predecessor's boundary.
    Chain,
    /// Part `part` of the split layer whose parts start at chunk `first`: it reads boundaries `from..=first`,
    /// which is boundary `first` alone (what the chunk before the parts wrote), or for a split whose parts read
    /// the previous split's parts directly ([`Section::lead`]), every one of those parts' boundaries.
    Part {
        /// The first part's chunk index.
        first: u32,
        /// Which part.
        part: usize,
        /// The first boundary it reads.
        from: u32,
    },
    /// The chunk after a split layer's `parts` parts, which start at chunk `first`: it reads every part's
    /// boundary, and boundary `before` too where a tensor live before the parts (before the first of a run of
    /// splits whose parts read each other's) is still needed after them (a residual).
    Join {
        /// The first part's chunk index.
        first: u32,
        /// The parts.
        parts: usize,
        /// The boundary before the parts that it reads, if any.
        before: Option<u32>,
    },
}

/// The section whose concatenation is the model's last layer and writes its only output, when nothing else is
/// live there: its parts can state the model's outputs themselves, with no chunk joining them
/// (`dzk_format::run::Plan::output_join`, whose parts the verifier joins along the last axis: a split by rows,
/// joined along another, keeps its concatenation in a chunk of its own).
pub fn output_section<'a>(model: &Model, sections: &'a [Section]) -> Option<&'a Section> {
    let n = model.layers().len();
    let s = sections
        .iter()
        .find(|s| s.joined && !s.sliced && s.join() + 1 == n)?;
    let join = &model.layers()[s.join()];
    let parts: Vec<i64> = (0..s.parts)
        .map(|p| model.layers()[s.part(p).1 - 1].outputs[0])
        .collect();
    let mut live = model.live_at(s.join());
    live.sort_unstable();
    let mut wanted = parts.clone();
    wanted.sort_unstable();
    (model.outputs() == join.outputs.as_slice() && join.inputs == parts && live == wanted)
        .then_some(s)
}

/// Each chunk's role, given the layer ranges `cuts` of `model` and the `sections` of its split layers.
pub fn roles(model: &Model, cuts: &[(usize, usize)], sections: &[Section]) -> Vec<Role> {
    let mut roles = vec![Role::Chain; cuts.len()];
    // Of the run of sections whose parts read each other's: the first section's start and its first chunk.
    let mut root: Option<(usize, u32)> = None;
    let mut previous: Option<u32> = None;
    for s in sections {
        let Some(first) = cuts.iter().position(|&(a, _)| a == s.start) else {
            root = None;
            previous = None;
            continue;
        };
        let first = first as u32;
        let from = match (s.lead, previous) {
            (true, Some(pf)) => pf + 1,
            _ => first,
        }
        .min(first);
        if !s.lead || root.is_none() {
            root = Some((s.start, first));
        }
        for p in 0..s.parts {
            roles[first as usize + p] = Role::Part {
                first,
                part: p,
                from,
            };
        }
        previous = Some(first);
        if !s.joined {
            continue;
        }
        if let (Some(r), Some((start, b0))) = (roles.get_mut(first as usize + s.parts), root) {
            let after = model.live_at(s.join());
            *r = Role::Join {
                first,
                parts: s.parts,
                before: model
                    .live_at(start)
                    .iter()
                    .any(|t| after.contains(t))
                    .then_some(b0),
            };
        }
        root = None;
        previous = None;
    }
    roles
}

/// The boundaries a chunk of role `role` reads (`ChunkPlan::sources`; empty for a chunk of the chain).
pub fn sources(role: Role) -> Vec<u32> {
    match role {
        Role::Chain => Vec::new(),
        Role::Part { first, from, .. } => (from..=first).collect(),
        Role::Join {
            first,
            parts,
            before,
        } => before
            .into_iter()
            .chain(first + 1..=first + parts as u32)
            .collect(),
    }
}

/// What chunk `i` (layers `cuts[i]`, role `roles[i]`) reads and writes.
pub fn chunk_io(model: &Model, cuts: &[(usize, usize)], roles: &[Role], i: usize) -> ChunkIo {
    let (a, b) = cuts[i];
    let before = |first: u32| InputGroup {
        model_inputs: first == 0,
        tensors: model.live_at(cuts[first as usize].0),
    };
    // Boundary `c + 1`: part `c`'s output.
    let part_output = |c: u32| InputGroup {
        model_inputs: false,
        tensors: model.layers()[cuts[c as usize].1 - 1].outputs.clone(),
    };
    match roles[i] {
        Role::Chain => ChunkIo::chain(model, a, b),
        Role::Part { first, from, .. } => ChunkIo {
            groups: if from == first {
                vec![before(first)]
            } else {
                (from - 1..first).map(part_output).collect()
            },
            outputs: model.layers()[b - 1].outputs.clone(),
            public_outputs: false,
        },
        Role::Join {
            first,
            parts,
            before: reads_before,
        } => ChunkIo {
            groups: reads_before
                .map(before)
                .into_iter()
                .chain((first..first + parts as u32).map(part_output))
                .collect(),
            outputs: model.live_at(b),
            public_outputs: false,
        },
    }
}

/// The partition for `bound` of `model` (whose file is `bytes`, named `file`; `cost` its cost model, made for
/// `visibility`: which of the model's inputs and outputs are public, as every chunk is then fitted; the parts of a
/// split last layer state public outputs as instances). Under
/// `MaxK(k)`, a layer that alone needs more than `2^k` rows is split into as few parts as fit, and the chunks
/// are cut around the parts; a layer that cannot be split is an error naming it and why. Under `Chunks(n)`: the
/// best chain of `n` chunks, unless splitting gives a smaller largest `k` within `n` chunks (then the split plan
/// of the smallest such `k`, which may have fewer chunks).
pub fn partition(
    model: Arc<Model>,
    bytes: &[u8],
    file: &str,
    cost: CostModel,
    bound: Bound,
    visibility: Visibility,
) -> Result<Partition, PartitionError> {
    let n = model.layers().len();
    match bound {
        Bound::MaxK(k) => within(model, bytes, file, cost, Limit::k(k), visibility),
        Bound::Within(limit) => within(model, bytes, file, cost, limit, visibility),
        Bound::Chunks(chunks) => {
            let cuts = cut_with(&cost, n, bound)?;
            let mut best = unsplit(model.clone(), cost.clone(), cuts, None);
            if chunks < 2 {
                return Ok(best);
            }
            let mut k = largest_k(&best, visibility);
            // Each smaller k while its plan still fits in `chunks` chunks (a plan under a smaller bound never
            // has fewer chunks, so the first that needs more ends the search).
            while k > MIN_SPLIT_K {
                k -= 1;
                match within(
                    model.clone(),
                    bytes,
                    file,
                    cost.clone(),
                    Limit::k(k),
                    visibility,
                ) {
                    Ok(p) if p.cuts.len() <= chunks => best = p,
                    _ => break,
                }
            }
            if best.sections.is_empty() {
                best.limit = None;
            }
            Ok(best)
        }
    }
}

/// The smallest `k` `--chunks` tries to split down to.
const MIN_SPLIT_K: u32 = 10;

/// The largest chunk `k` of partition `p` (exact for a chunk that reads several boundaries or is a part, the cost
/// model's for a chunk of the chain).
fn largest_k(p: &Partition, visibility: Visibility) -> u32 {
    let roles = roles(&p.model, &p.cuts, &p.sections);
    let layouts = CostModel::reference_layouts(&p.model);
    (0..p.cuts.len())
        .map(|i| {
            let (a, b) = p.cuts[i];
            if roles[i] == Role::Chain {
                return p.cost.min_k(a, b);
            }
            let io = chunk_io(&p.model, &p.cuts, &roles, i);
            ChunkCircuit::smallest_k_of_io(p.model.clone(), a, b, (&io, visibility), &layouts)
                .unwrap_or(u32::MAX)
        })
        .max()
        .unwrap_or(0)
}

/// The chain `cuts`, planned within `limit` (see [`Partition::limit`]).
fn unsplit(
    model: Arc<Model>,
    cost: CostModel,
    cuts: Vec<(usize, usize)>,
    limit: Option<Limit>,
) -> Partition {
    Partition {
        model,
        bytes: None,
        cost,
        cuts,
        splits: Vec::new(),
        sections: Vec::new(),
        limit,
    }
}
