//! The partition within a bound (`--max-k`, `--max-memory`): the greedy chain when every layer fits, else the
//! layers where it gets stuck split (by output channels, or by rows) into parts checked exactly, and the chunks
//! cut around them.

use std::sync::Arc;

use dzk_circuit::{ChunkCircuit, ChunkIo, CostModel, InputGroup, Limit, Visibility};
use dzk_format::run::SplitSpec;
use dzk_ir::{Model, Section, SplitAt};

use super::{chunk_io, output_section, roles, unsplit, Partition};
use crate::{cut_with, need_of, Bound, PartitionError};

/// Whether slice `a..b` of `model`, reading and writing `io` under `visibility`, fits `limit` under one of
/// `layouts` or, for a bound small enough that [`crate::plan`] searches every layout, under the layout that
/// search finds.
fn fits(
    model: &Arc<Model>,
    (a, b): (usize, usize),
    (io, visibility): (&ChunkIo, Visibility),
    layouts: &[dzk_circuit::LayoutParams],
    limit: Limit,
) -> bool {
    ChunkCircuit::best_of_io(model.clone(), a, b, (io, visibility), layouts, Some(limit)).is_ok()
        || ((1usize << limit.max_k) <= crate::FULL_SEARCH_ROWS
            && ChunkCircuit::fit_within_io(model.clone(), a, b, io, visibility, Some(limit))
                .is_ok())
}

/// The bound in words, for errors: "2^K rows", and the memory when bounded.
fn bound_words(limit: Limit) -> String {
    match limit.max_bytes {
        Some(m) => format!(
            "2^{} rows within {}",
            limit.max_k,
            dzk_circuit::bytes_text(m)
        ),
        None => format!("2^{} rows", limit.max_k),
    }
}

/// A first guess at the parts slice `[a, b)` (a layer and its channel tail) takes under `limit`: its rows
/// under the layout that needs the fewest parts, each part holding as many rows as that layout's largest `k`
/// within the limit allows.
fn parts_guess(cost: &CostModel, (a, b): (usize, usize), limit: Limit) -> usize {
    if limit.max_bytes.is_none() {
        return cost.need(a, b).div_ceil(1usize << limit.max_k);
    }
    (0..cost.layouts().len())
        .filter_map(|i| {
            let k = limit.largest_k(cost.layout_under(i, a, b))?;
            Some(cost.rows(i, a, b).div_ceil(1usize << k))
        })
        .min()
        .unwrap_or_else(|| cost.need(a, b).div_ceil(1usize << limit.max_k))
}

/// The partition within `limit` (`--max-k`, `--max-memory`): see [`partition`].
pub(super) fn within(
    model: Arc<Model>,
    bytes: &[u8],
    file: &str,
    cost: CostModel,
    limit: Limit,
    visibility: Visibility,
) -> Result<Partition, PartitionError> {
    let public_output = visibility.public_output;
    let n = model.layers().len();
    // Public model inputs that outnumber the rows: every chunk that reads them (the first, or each part of a
    // split first layer) states them all, so none fits. Public outputs can be shared out between the parts of a
    // last layer split by output channels; only when the last layer cannot be split so are too many of them
    // refused like this (below).
    let (public_in, public_out) = cost.public_values();
    let room = (1usize << limit.max_k).saturating_sub(cost.reserved_rows() + 2);
    let too_many = |side: &'static str, values: usize, hint: &'static str| {
        (values > room).then_some(PartitionError::PublicTooLarge {
            side,
            values,
            max_k: limit.max_k,
            hint,
        })
    };
    if let Some(e) = too_many(
        "inputs",
        public_in,
        "leave out --public-input to commit to them instead",
    ) {
        return Err(e);
    }
    match cut_with(&cost, n, Bound::Within(limit)) {
        Ok(cuts) => return Ok(unsplit(model, cost, cuts, Some(limit))),
        Err(PartitionError::TooBig { .. }) => {}
        Err(e) => return Err(e),
    }
    // The layers where the greedy cut gets stuck (no chunk starting there fits, not even the layer alone), found
    // in one pass that treats each as split and goes on after it; a first guess at its parts from its rows.
    // (A layer that does not fit alone may still sit inside a longer chunk that fits: its boundaries, not its
    // work, were too large. Only the layers no chunk can hold are split.)
    let mut splits = Vec::new();
    // Layers to move before a stuck softmax so that its parts carry the product with `V` after it.
    let mut moves = Vec::new();
    let mut a = 0;
    while a < n {
        if let Some(b) = (a + 1..=n).rev().find(|&b| cost.fits(a, b, limit)) {
            a = b;
            continue;
        }
        let hoist = model.row_tail_hoist(a);
        if !hoist.is_empty() {
            moves.push((a, hoist));
        }
        let need = need_of(&cost, (a, a + 1), limit);
        // Each part carries the layers after the split one that act channel by channel (or, split by rows, row
        // by row), so the chunk after the parts reads their (pooled, or multiplied by `V`) output.
        let tail = model.split_tail(a);
        // Only the parts of a layer split by output channels share the model's outputs out (a row split's are
        // joined by a chunk that states them all).
        if a + 1 + tail == n && (model.splits_by_rows(a) || model.split_limit(a).is_err()) {
            if let Some(e) = too_many(
                "outputs",
                public_out,
                "--hashed-output commits to them instead",
            ) {
                return Err(e);
            }
        }
        let most = model
            .split_limit(a)
            .map_err(|reason| PartitionError::Unsplittable {
                layer: a,
                need,
                reason,
            })?;
        // Each part repeats the layer's input, so the parts' rows add up to more than the layer's: start from
        // the fewest parts the rows alone allow and add parts until each fits.
        let parts = parts_guess(&cost, (a, a + 1 + tail), limit).clamp(2, most);
        splits.push(SplitSpec {
            layer: a,
            parts,
            tail,
            reads_parts: false,
        });
        a += 1 + tail;
    }
    if !moves.is_empty() {
        // The reordered model gets a cost model of its own: this one's is no longer needed.
        drop((model, cost));
        return within_reordered(bytes, file, &moves, limit, visibility);
    }
    // Split, check every part exactly, and give more parts to a layer whose parts do not fit yet.
    let mut shrunk = false;
    loop {
        let at: Vec<SplitAt> = splits
            .iter()
            .map(|s| SplitAt {
                layer: s.layer,
                parts: s.parts,
                tail: s.tail,
            })
            .collect();
        let split = Model::split_layers_chained(bytes, file, &at)?;
        let m = Arc::new(Model::from_msgpack(&split.bytes, file)?);
        let layouts = CostModel::layouts_for(&m, Some(limit));
        let mut again = false;
        let last = output_section(&m, &split.sections).map(|s| s.start);
        for (s, sec) in splits.iter_mut().zip(&split.sections) {
            let too_big = (0..sec.parts).any(|p| {
                let mut io = part_io(&m, sec, p);
                // The parts of a split last layer state the model's outputs: public instances when they are.
                io.public_outputs = public_output && last == Some(sec.start);
                let (pa, pb) = sec.part(p);
                !fits(&m, (pa, pb), (&io, visibility), &layouts, limit)
            });
            if too_big {
                let most = model.split_limit(s.layer).unwrap_or(s.parts);
                if s.parts >= most {
                    return Err(PartitionError::Unsplittable {
                        layer: s.layer,
                        need: need_of(&cost, (s.layer, s.layer + 1), limit),
                        reason: format!(
                            "even one {} per part does not fit {} (its input alone is too large)",
                            model.split_unit(s.layer),
                            bound_words(limit)
                        ),
                    });
                }
                s.parts = (s.parts + s.parts.div_ceil(4)).min(most);
                again = true;
            }
        }
        if again {
            continue;
        }
        // The parts of a split last layer state the outputs as public instances, which takes fewer rows than the
        // hashed boundary the first guess counted: the fewest parts that still fit (once).
        if let (false, true, Some(start)) = (shrunk, public_output, last) {
            shrunk = true;
            if let Some(i) = split.sections.iter().position(|s| s.start == start) {
                let fewest = fewest_output_parts(bytes, file, &splits[i], limit, visibility)?;
                if fewest < splits[i].parts {
                    splits[i].parts = fewest;
                    continue;
                }
            }
        }
        let cost = CostModel::new_for(&m, Some(limit), visibility)?;
        let cuts = cut_around(&m, &cost, &split.sections, limit, visibility).map_err(|e| match e {
            // A layer index of the split model means nothing to the user: name the split layer instead.
            PartitionError::TooBig { layer, need } => {
                match split
                    .sections
                    .iter()
                    .position(|s| s.joined && s.join() == layer)
                {
                    Some(i) if public_output && layer + 1 == m.layers().len() => {
                        PartitionError::Unsplittable {
                            layer: splits[i].layer,
                            need,
                            reason: format!(
                                "its parts fit, but the chunk that joins them states the model's {} outputs as \
                                 public instances, which needs {need}: --hashed-output commits to them instead",
                                m.outputs()
                                    .iter()
                                    .filter_map(|&t| m.tensor_shape(t))
                                    .map(|s| s.iter().product::<usize>())
                                    .sum::<usize>()
                            ),
                        }
                    }
                    Some(i) => PartitionError::Unsplittable {
                        layer: splits[i].layer,
                        need,
                        reason: format!(
                            "its parts fit, but the layer after it reads all of its {} {}s at once, which needs \
                             {need}: a bound this small needs the layers after it split too",
                            model.split_limit(splits[i].layer).unwrap_or(0),
                            model.split_unit(splits[i].layer)
                        ),
                    },
                    None => PartitionError::TooBig {
                        layer: original_layer(&split.sections, layer),
                        need,
                    },
                }
            }
            e => e,
        })?;
        for (s, sec) in splits.iter_mut().zip(&split.sections) {
            s.reads_parts = sec.lead;
        }
        return Ok(Partition {
            model: m,
            bytes: Some(split.bytes),
            cost,
            cuts,
            splits,
            sections: split.sections,
            limit: Some(limit),
        });
    }
}

/// [`within`] of the model in `bytes` with the layers of `moves` moved before the softmaxes where the greedy cut
/// gets stuck (`dzk_ir::Model::row_tail_hoist`: an attention's `V` projection computed after its softmax), so
/// that the softmaxes' parts carry their products with `V`. The split layers and the errors name layers by their
/// index in the model given.
fn within_reordered(
    bytes: &[u8],
    file: &str,
    moves: &[(usize, Vec<usize>)],
    limit: Limit,
    visibility: Visibility,
) -> Result<Partition, PartitionError> {
    let (bytes, order) = Model::move_before_file(bytes, file, moves)?;
    let model = Arc::new(Model::from_msgpack(&bytes, file)?);
    let cost = CostModel::new_for(&model, Some(limit), visibility)?;
    let given = |layer: usize| order.get(layer).copied().unwrap_or(layer);
    let mut parted =
        within(model, &bytes, file, cost, limit, visibility).map_err(|e| e.renumbered(given))?;
    for s in &mut parted.splits {
        s.layer = given(s.layer);
    }
    // The chunks cut the reordered model, split or not.
    parted.bytes.get_or_insert(bytes);
    Ok(parted)
}

/// The fewest parts, at most `s.parts` (which fit), into which the split last layer `s` of the model in `bytes` fits
/// `limit` when its parts state the model's outputs as public instances: a binary search (after one probe of
/// a part fewer), each probe splitting that layer alone and fitting one of its widest parts (parts of equal width
/// are the same circuit but for their constants).
fn fewest_output_parts(
    bytes: &[u8],
    file: &str,
    s: &SplitSpec,
    limit: Limit,
    visibility: Visibility,
) -> Result<usize, PartitionError> {
    let fits_in = |parts: usize| -> Result<bool, PartitionError> {
        let at = SplitAt {
            layer: s.layer,
            parts,
            tail: s.tail,
        };
        let split = Model::split_layers_with_tails(bytes, file, &[at])?;
        let m = Arc::new(Model::from_msgpack(&split.bytes, file)?);
        let Some(sec) = split.sections.first() else {
            return Ok(false);
        };
        let layouts = CostModel::layouts_for(&m, Some(limit));
        let width = |p: usize| {
            let (_, b) = sec.part(p);
            m.tensor_shape(m.layers()[b - 1].outputs[0])
                .and_then(|s| s.last().copied())
                .unwrap_or(0)
        };
        let widest = (0..sec.parts).max_by_key(|&p| width(p)).unwrap_or(0);
        let mut io = part_io(&m, sec, widest);
        io.public_outputs = true;
        Ok(fits(
            &m,
            sec.part(widest),
            (&io, visibility),
            &layouts,
            limit,
        ))
    };
    // One part fewer first: where the outputs' hashing did not set the parts' size (a head whose work fills its
    // parts, as GPT-2's does), that one probe ends the search.
    if s.parts <= 2 || !fits_in(s.parts - 1)? {
        return Ok(s.parts);
    }
    // `lo` parts do not fit (one: the layer was split because it does not), `hi` parts do.
    let (mut lo, mut hi) = (1, s.parts - 1);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if fits_in(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

/// The index in the model given of layer `layer` of the split model (not a part or a concatenation).
fn original_layer(sections: &[Section], layer: usize) -> usize {
    // A section stands for its split layer and tail in the model given and holds `parts · len` layers, and its
    // concatenation when joined.
    let added: usize = sections
        .iter()
        .filter(|s| s.join() < layer)
        .map(|s| s.parts * s.len + usize::from(s.joined) - s.original_layers())
        .sum();
    layer - added
}

/// What part `p` of section `sec` reads (the tensors live before the split layer, or with [`Section::lead`]
/// each of the previous section's parts' outputs, one boundary each) and writes (its share).
fn part_io(model: &Model, sec: &Section, p: usize) -> ChunkIo {
    let (a, b) = sec.part(p);
    let groups = if sec.lead {
        model.layers()[a]
            .inputs
            .iter()
            .map(|&t| InputGroup {
                model_inputs: false,
                tensors: vec![t],
            })
            .collect()
    } else {
        vec![InputGroup {
            model_inputs: sec.start == 0,
            tensors: model.live_at(sec.start),
        }]
    };
    ChunkIo {
        groups,
        outputs: model.layers()[b - 1].outputs.clone(),
        public_outputs: false,
    }
}

/// Greedy chunks within `limit` around the split layers' parts: each part is a chunk, the chunk after the parts
/// starts at the concatenation (none after the parts of [`output_section`]), and no other chunk crosses a
/// section. A chunk that reads several boundaries
/// (after the parts) is checked exactly, with its real inputs and outputs (the model's public as `visibility`
/// makes them), and shortened until it fits.
fn cut_around(
    model: &Arc<Model>,
    cost: &CostModel,
    sections: &[Section],
    limit: Limit,
    visibility: Visibility,
) -> Result<Vec<(usize, usize)>, PartitionError> {
    let n = model.layers().len();
    let layouts = CostModel::layouts_for(model, Some(limit));
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let mut a = 0;
    let last = output_section(model, sections).map(|s| s.start);
    while a < n {
        if let Some(s) = sections.iter().find(|s| s.start == a) {
            cuts.extend((0..s.parts).map(|p| s.part(p)));
            if last == Some(s.start) {
                // The parts state the model's outputs: no chunk joins them.
                break;
            }
            a = s.join();
            continue;
        }
        let stop = sections
            .iter()
            .map(|s| s.start)
            .filter(|&st| st > a)
            .min()
            .unwrap_or(n);
        let joins = sections.iter().any(|s| s.joined && s.join() == a);
        let mut found = None;
        for b in (a + 1..=stop).rev() {
            if !cost.fits(a, b, limit) {
                continue;
            }
            if joins {
                let mut trial = cuts.clone();
                trial.push((a, b));
                let roles = roles(model, &trial, sections);
                let io = chunk_io(model, &trial, &roles, trial.len() - 1);
                if !fits(model, (a, b), (&io, visibility), &layouts, limit) {
                    continue;
                }
            }
            found = Some(b);
            break;
        }
        let Some(b) = found else {
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
