//! The partitioner's cost model: the exact rows of any slice under each of a dozen reference layouts, in
//! microseconds per slice, from one count of the whole model per layout.
//!
//! Every chip call advances one of the layout's five row cursors by an amount that depends only on the layer
//! (its shapes, constants and operand forms), never on which slice the layer is in; a slice's boundary adds the
//! rows of its inputs (range checks) and its two commitments, which depend only on the tensors live at each cut.
//! So the cursors of slice `[a, b)` are `prefix[b] − prefix[a] + ins[a] + outs[b]`, where `prefix` holds the
//! cursors after each layer of one whole-model count, and `ins`/`outs` the boundary's rows at every cut. A test
//! checks this against [`crate::ChunkCircuit::rows`] for every slice of the shipped models.

use std::collections::HashMap;
use std::sync::Arc;

use dzk_gadgets::{Fr, Rows};
use dzk_ir::Model;
use halo2_proofs::circuit::Value;
use halo2_proofs::plonk::ConstraintSystem;

use crate::chunk::{bind, configure_chips, LayoutParams, Sides, Visibility};
use crate::fit::{choice_cost, fn_groups_for};
use crate::layers::{has_products, lay_out, unsupported_layers, Boundary};
use crate::ops::{Ops, RowCounter};
use crate::resources::Limit;
use crate::tables;
use crate::CircuitError;
use dzk_gadgets::lookup::FnChip;

/// Rows of every slice of a model under a few reference layouts ([`CostModel::layouts`]), without laying slices
/// out; a slice's cost is its best among them.
#[derive(Clone, Debug)]
pub struct CostModel {
    counts: Vec<Counted>,
    /// Whether each count is of one of [`CostModel::wide_layouts`].
    wide: Vec<bool>,
    /// How many layers before `l` fit no other layout under the bound alone (`n + 1` entries): a slice may take a
    /// wide layout only when it holds one of them.
    stuck: Vec<usize>,
    /// For each function table the model uses: its rows and how many layers before `l` use it (the same under
    /// every layout).
    tables: Vec<(usize, Vec<usize>)>,
}

/// The rows of every slice under one layout.
#[derive(Clone, Debug)]
struct Counted {
    layout: LayoutParams,
    /// Cursors before layer `l` of a whole-model count (`prefix[0]` is zero), `n + 1` entries.
    prefix: Vec<[usize; 5]>,
    /// Cursors a slice starting at cut `c` spends on its boundary-in tensors and `h_in`.
    ins: Vec<[usize; 5]>,
    /// Cursors a slice ending at cut `c` spends on its boundary-out tensors and `h_out`.
    outs: Vec<[usize; 5]>,
    /// Rows halo2 reserves (blinding factors and one more).
    reserved: usize,
    /// Instances the model's inputs take in a slice starting at cut 0 (0 when they are hashed).
    public_in: usize,
    /// Instances the model's outputs take in a slice ending at the last cut (0 when they are hashed).
    public_out: usize,
}

/// The most memory (by [`crate::estimate`]) a wide layout may need at a bound's `k` to be weighed under it: the
/// 16 GiB machine class dzk's figures are measured on. Wider layouts at larger `k` would need more per chunk than
/// the bound means to allow, and the reference layouts hold every layer the wide ones could from `k = 18` on.
pub const WIDE_LAYOUT_MEMORY: u64 = 16 << 30;

/// Whether `model` looks functions up and whether it has matrix products: what sets a layout's function slots
/// and matrix-check widths.
fn kinds(model: &Model) -> (bool, bool) {
    let n = model.layers().len();
    (
        !tables::keys(model, 0, n).is_empty(),
        has_products(model, 0, n),
    )
}

fn add(a: [usize; 5], b: [usize; 5]) -> [usize; 5] {
    std::array::from_fn(|i| a[i] + b[i])
}

impl CostModel {
    /// The reference layouts for a model: one for wide boundaries (16 shared columns, a 13-bit range table, 4
    /// long checks per row and 4 Poseidon lanes of its own: a chunk that reads or writes hundreds of thousands of
    /// values, such as CLIP's at `--max-k 20` or the chunk after a split layer, needs its hashing spread), then
    /// 16 or 12 shared columns, 13-, 9- or 7-bit range tables (2, 3 or 4 limbs),
    /// 2 long and 2 short checks per row, one Poseidon lane of its own, when the model looks functions up two
    /// function slots (their tables spread over as many groups as a slice needs), and a
    /// matrix-check chip of width 4 or none when it has matrix products. Each slice takes the table groups
    /// [`Self::layout_under`] gives.
    /// [`crate::ChunkCircuit::fit`] searches each of these among others, so a slice always fits at least as well
    /// as the model says.
    pub fn reference_layouts(model: &Model) -> Vec<LayoutParams> {
        let (looks_up, products) = kinds(model);
        let checks: &[usize] = if products { &[4, 0] } else { &[0] };
        let mut out = Vec::new();
        // Wide boundaries (the chunk after a split layer reads all of its channels): more Poseidon lanes and
        // range checks per row, beside the other chips, so hashing and checking the boundary take fewer rows.
        for &check_width in checks {
            out.push(LayoutParams {
                advice: 16,
                range_bits: 13,
                range_limbs: 2,
                range_slots: 4,
                short_slots: 2,
                hash_lanes: 4,
                fn_slots: if looks_up { 2 } else { 0 },
                fn_groups: 1,
                check_width,
            });
        }
        for advice in [16, 12] {
            for (range_bits, range_limbs) in [(13, 2), (9, 3), (7, 4)] {
                for &check_width in checks {
                    out.push(LayoutParams {
                        advice,
                        range_bits,
                        range_limbs,
                        range_slots: 2,
                        short_slots: 2,
                        hash_lanes: 1,
                        fn_slots: if looks_up { 2 } else { 0 },
                        fn_groups: 1,
                        check_width,
                    });
                }
            }
        }
        out
    }

    /// Narrow layouts, for chunks bounded by memory: 12 shared columns, one long and one short range check per
    /// row, Poseidon on the shared columns, one function slot and a matrix check of width 2 or none. They hold
    /// less per row than [`Self::reference_layouts`], so at a given `k` they need about half the memory: under a
    /// memory bound a chunk may take a larger `k` with fewer columns.
    pub fn narrow_layouts(model: &Model) -> Vec<LayoutParams> {
        let (looks_up, products) = kinds(model);
        let checks: &[usize] = if products { &[2, 0] } else { &[0] };
        let mut out = Vec::new();
        for (range_bits, range_limbs) in [(13, 2), (9, 3)] {
            for &check_width in checks {
                out.push(LayoutParams {
                    advice: 12,
                    range_bits,
                    range_limbs,
                    range_slots: 1,
                    short_slots: 1,
                    hash_lanes: 0,
                    fn_slots: usize::from(looks_up),
                    fn_groups: 1,
                    check_width,
                });
            }
        }
        out
    }

    /// The layouts a slice is weighed under for `limit`: the reference layouts, the narrow ones too when the
    /// limit bounds memory, and under a bound the wide ones whose estimated memory at the bound's `k` is at most
    /// [`WIDE_LAYOUT_MEMORY`] (all of them at `k = 16` and `17`, the 24-column ones at `18`, none from `19`).
    pub fn layouts_for(model: &Model, limit: Option<Limit>) -> Vec<LayoutParams> {
        let mut out = Self::reference_layouts(model);
        if limit.is_some_and(|l| l.max_bytes.is_some()) {
            out.extend(Self::narrow_layouts(model));
        }
        if let Some(l) = limit {
            out.extend(
                Self::wide_layouts(model)
                    .into_iter()
                    .filter(|&p| crate::estimate(p, l.max_k).peak_bytes() <= WIDE_LAYOUT_MEMORY),
            );
        }
        out
    }

    /// Wide layouts, for chunks bounded in rows: 24, 32, 48 or 64 shared columns (2 to 6 packing slots per
    /// row), 6 to 16 long and 4 to 8 short range checks per row, 12 to 24 Poseidon lanes and 2 to 5 function
    /// slots. A transformer's layer that reads and writes its whole residual stream (GPT-2's `[1, 64, 768]`)
    /// spends most of its rows hashing and range-checking its boundaries, which no cut shrinks: with the
    /// reference layouts such a layer alone needs `k = 18`, with these `k = 16` (at three to four times the
    /// columns, so about the same proving area). A slice takes one only when it holds a layer that fits no
    /// other layout alone (see [`Self::fits`]), and [`Self::layouts_for`] weighs only those within
    /// [`WIDE_LAYOUT_MEMORY`] at the bound's `k`.
    pub fn wide_layouts(model: &Model) -> Vec<LayoutParams> {
        let (looks_up, products) = kinds(model);
        let checks: &[usize] = if products { &[4, 0] } else { &[0] };
        let mut out = Vec::new();
        for (advice, range_slots, short_slots, hash_lanes, fn_slots) in [
            (24, 6, 4, 12, 2),
            (32, 8, 4, 16, 3),
            (48, 12, 8, 24, 4),
            (64, 16, 8, 24, 5),
        ] {
            for &check_width in checks {
                out.push(LayoutParams {
                    advice,
                    range_bits: 13,
                    range_limbs: 2,
                    range_slots,
                    short_slots,
                    hash_lanes,
                    fn_slots: if looks_up { fn_slots } else { 0 },
                    fn_groups: 1,
                    check_width,
                });
            }
        }
        out
    }

    /// Counts the whole model once per reference layout, its inputs and outputs hashed
    /// ([`Visibility::default`]). Fails first, and at once, with every layer that has no chip path.
    pub fn new(model: &Arc<Model>) -> Result<Self, CircuitError> {
        Self::new_for(model, None, Visibility::default())
    }

    /// [`Self::new`] under the layouts of [`Self::layouts_for`] `limit`, with the model's inputs and outputs
    /// public as `visibility` makes them (the slices that start at the first cut or end at the last are then
    /// counted as a chunk that states them is proven: an instance per value instead of a hash).
    pub fn new_for(
        model: &Arc<Model>,
        limit: Option<Limit>,
        visibility: Visibility,
    ) -> Result<Self, CircuitError> {
        Self::check(model)?;
        let n = model.layers().len();
        let live: Vec<Vec<usize>> = (0..=n)
            .map(|cut| {
                model
                    .live_at(cut)
                    .into_iter()
                    .map(|idx| model.tensor_shape(idx).map_or(0, |s| s.iter().product()))
                    .collect()
            })
            .collect();
        // The layouts' counts are independent: one thread per core, each counting its share in turn.
        let layouts = Self::layouts_for(model, limit);
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, layouts.len().max(1));
        let per = layouts.len().div_ceil(threads).max(1);
        let live = &live;
        let counts = std::thread::scope(|s| {
            let handles: Vec<_> = layouts
                .chunks(per)
                .map(|share| {
                    s.spawn(move || {
                        share
                            .iter()
                            .map(|&layout| Counted::new(model, layout, live, visibility))
                            .collect::<Result<Vec<_>, _>>()
                    })
                })
                .collect();
            let mut counts = Vec::with_capacity(layouts.len());
            for h in handles {
                match h.join() {
                    Ok(share) => counts.extend(share?),
                    Err(_) => {
                        return Err(CircuitError::Layout("a cost-model thread panicked".into()))
                    }
                }
            }
            Ok(counts)
        })?;
        let tables = tables::keys(model, 0, n)
            .into_iter()
            .map(|key| {
                let mut count = Vec::with_capacity(n + 1);
                count.push(0);
                for l in 0..n {
                    let uses = tables::keys(model, l, l + 1).contains(&key);
                    count.push(count[l] + usize::from(uses));
                }
                (tables::key_rows(key, model), count)
            })
            .collect();
        let wide_set = Self::wide_layouts(model);
        let wide: Vec<bool> = counts
            .iter()
            .map(|c| wide_set.contains(&c.layout))
            .collect();
        let mut cost = Self {
            counts,
            wide,
            stuck: vec![0; n + 1],
            tables,
        };
        if let Some(limit) = limit {
            for l in 0..n {
                let tables = cost.table_rows(l, l + 1);
                let fits = cost.counts.iter().zip(&cost.wide).any(|(c, &w)| {
                    !w && limit.allows(c.layout_for(l, l + 1, tables), c.min_k(l, l + 1, tables))
                });
                cost.stuck[l + 1] = cost.stuck[l] + usize::from(!fits);
            }
        }
        Ok(cost)
    }

    /// Checks that every layer of the model has a chip path (microseconds per layer); the error lists every one
    /// that has none.
    pub fn check(model: &Model) -> Result<(), CircuitError> {
        let bad = unsupported_layers(model, 0, model.layers().len());
        if bad.is_empty() {
            Ok(())
        } else {
            Err(CircuitError::UnsupportedLayers(bad))
        }
    }

    /// The reference layouts, in the order [`Self::rows`] takes them.
    pub fn layouts(&self) -> Vec<LayoutParams> {
        self.counts.iter().map(|c| c.layout).collect()
    }

    /// The rows of slice `[a, b)` under layout `i` of [`Self::layouts`]: what [`crate::ChunkCircuit::rows`] gives
    /// for that layout.
    pub fn rows(&self, i: usize, a: usize, b: usize) -> usize {
        self.counts[i].rows(a, b)
    }

    /// Rows of the function tables slice `[a, b)` looks up (0 for none): what
    /// [`crate::ChunkCircuit::function_table_rows`] gives.
    pub fn table_rows(&self, a: usize, b: usize) -> usize {
        let used: usize = self
            .tables
            .iter()
            .filter(|(_, count)| count[b] > count[a])
            .map(|(rows, _)| rows)
            .sum();
        if used == 0 {
            0
        } else {
            1 + used
        }
    }

    /// The rows that set slice `[a, b)`'s `k` under its best reference layout: its layout, its range table, its
    /// function tables and its instances, plus halo2's reserved rows.
    pub fn need(&self, a: usize, b: usize) -> usize {
        let tables = self.table_rows(a, b);
        self.weighed(a, b)
            .map(|c| c.need(a, b, tables))
            .min()
            .unwrap_or(0)
    }

    /// The smallest `k` of slice `[a, b)` among the reference layouts.
    pub fn min_k(&self, a: usize, b: usize) -> u32 {
        let tables = self.table_rows(a, b);
        self.weighed(a, b)
            .map(|c| c.min_k(a, b, tables))
            .min()
            .unwrap_or(4)
    }

    /// Slice `[a, b)` under each layout: the layout with the table groups the slice takes, its smallest `k` and
    /// its rows.
    fn candidates(
        &self,
        a: usize,
        b: usize,
    ) -> impl Iterator<Item = (LayoutParams, u32, usize)> + '_ {
        let tables = self.table_rows(a, b);
        self.weighed(a, b).map(move |c| {
            (
                c.layout_for(a, b, tables),
                c.min_k(a, b, tables),
                c.rows(a, b),
            )
        })
    }

    /// The counts slice `[a, b)` is weighed under: every layout's but the wide ones', which only a slice holding a
    /// layer that fits no other layout alone takes. So the wide layouts make chunks possible where nothing else
    /// does, and never merge chunks that fit narrower layouts into fewer, wider ones (which would need more memory
    /// per chunk for the same bound).
    fn weighed(&self, a: usize, b: usize) -> impl Iterator<Item = &Counted> + '_ {
        let stuck = self.stuck[b] > self.stuck[a];
        self.counts
            .iter()
            .zip(&self.wide)
            .filter(move |&(_, &w)| !w || stuck)
            .map(|(c, _)| c)
    }

    /// Whether slice `[a, b)` fits `limit` under one of the layouts.
    pub fn fits(&self, a: usize, b: usize, limit: Limit) -> bool {
        self.candidates(a, b).any(|(l, k, _)| limit.allows(l, k))
    }

    /// The least memory slice `[a, b)` needs by [`crate::estimate`] ([`crate::Estimate::peak_bytes`]) among the
    /// layouts, each at its smallest `k`.
    pub fn least_bytes(&self, a: usize, b: usize) -> u64 {
        self.candidates(a, b)
            .map(|(l, k, _)| crate::estimate(l, k).peak_bytes())
            .min()
            .unwrap_or(0)
    }

    /// The cheapest reference layout for slice `[a, b)` by [`crate::ChunkCircuit::cost_estimate`] with a charge
    /// per committed polynomial (what [`crate::ChunkCircuit::fit`] minimises; ties to the
    /// smaller `k`) among those that fit `limit`: `(layout, k, rows)`, exact for that layout, with
    /// no layout counted again.
    pub fn best_layout(
        &self,
        a: usize,
        b: usize,
        limit: Option<Limit>,
    ) -> Option<(LayoutParams, u32, usize)> {
        self.candidates(a, b)
            .filter(|&(l, k, _)| limit.is_none_or(|m| m.allows(l, k)))
            .min_by_key(|&(l, k, _)| (choice_cost(l, k), k))
    }

    /// The model's inputs and outputs that are public instances (as the visibility the model was counted under
    /// makes them): `(inputs, outputs)` values, 0 for a hashed side. A chunk that states them needs at least as
    /// many usable rows, whatever its layout.
    pub fn public_values(&self) -> (usize, usize) {
        self.counts
            .first()
            .map_or((0, 0), |c| (c.public_in, c.public_out))
    }

    /// The fewest rows halo2 reserves (blinding factors and one more) under any of the layouts.
    pub fn reserved_rows(&self) -> usize {
        self.counts.iter().map(|c| c.reserved).min().unwrap_or(0)
    }

    /// The smallest `k` of slice `[a, b)` under layout `i`: [`crate::ChunkCircuit::min_k`] for
    /// [`Self::layout_under`].
    pub fn min_k_under(&self, i: usize, a: usize, b: usize) -> u32 {
        self.counts[i].min_k(a, b, self.table_rows(a, b))
    }

    /// Reference layout `i` as slice `[a, b)` takes it: with its function tables spread over the groups that
    /// keep them within the `k` the rest of the slice sets (`crate::ChunkCircuit::fit` chooses the same).
    pub fn layout_under(&self, i: usize, a: usize, b: usize) -> LayoutParams {
        self.counts[i].layout_for(a, b, self.table_rows(a, b))
    }
}

impl Counted {
    /// Counts `model` under `layout`; `live[c]` lists the sizes of the tensors live at cut `c`; the model's
    /// inputs (at cut 0) and outputs (at cut `n`) are public as `visibility` makes them.
    fn new(
        model: &Arc<Model>,
        layout: LayoutParams,
        live: &[Vec<usize>],
        visibility: Visibility,
    ) -> Result<Self, CircuitError> {
        let n = model.layers().len();
        let mut meta = ConstraintSystem::<Fr>::default();
        let config = configure_chips(&mut meta, layout);
        let reserved = meta.blinding_factors() + 1;
        let counter = |marks: Option<Vec<[usize; 5]>>| RowCounter {
            chips: &config.chips,
            rows: Rows::new(),
            checks: 0,
            cell_checks: 0,
            marks,
        };
        // One count of every layer, the cursors recorded after each; the model inputs' rows come first and are
        // taken off again, so that `prefix` holds the layers alone.
        let mut c = counter(Some(Vec::with_capacity(n)));
        let unknown = |_: i64, k: usize| vec![Value::unknown(); k];
        let at_start = {
            let mut i = counter(None);
            input_cells(&mut i, &live[0])?;
            i.rows.cursors()
        };
        lay_out(&mut c, model, 0, n, &unknown).map_err(|e| CircuitError::Layout(e.to_string()))?;
        let marks = c.marks.unwrap_or_default();
        let mut prefix = Vec::with_capacity(n + 1);
        prefix.push([0; 5]);
        prefix.extend(
            marks
                .iter()
                .map(|m| std::array::from_fn(|i| m[i] - at_start[i])),
        );
        // A slice's boundary rows depend only on the sizes of the tensors live at its cuts (the inputs' rows on
        // each tensor's size, the commitments and the outputs' checks on their total): count each distinct list
        // once.
        let empty = {
            let mut e = counter(None);
            let _ = e.commit(Fr::from(0u64), &[], Value::unknown());
            e.rows.cursors()
        };
        let minus_empty =
            |c: [usize; 5]| -> [usize; 5] { std::array::from_fn(|k| c[k] - empty[k]) };
        let mut in_seen: HashMap<&[usize], [usize; 5]> = HashMap::new();
        let mut out_seen: HashMap<usize, [usize; 5]> = HashMap::new();
        let mut ins = Vec::with_capacity(n + 1);
        let mut outs = Vec::with_capacity(n + 1);
        // `bind` commits both sides; each count below holds one empty commitment of the other side, which
        // `minus_empty` takes off. A public side is laid out as a chunk that states it is (its commitment empty).
        let count_in = |sizes: &[usize], public: bool| -> Result<[usize; 5], CircuitError> {
            let mut i = counter(None);
            let b = Boundary {
                ins: input_cells(&mut i, sizes)?,
                outs: Vec::new(),
            };
            let sides = Sides {
                groups: vec![(sizes.len(), public)],
                public_out: false,
            };
            bind(&mut i, &b, &sides, Value::unknown())
                .map_err(|e| CircuitError::Layout(e.to_string()))?;
            Ok(minus_empty(i.rows.cursors()))
        };
        let count_out = |total: usize, public: bool| -> Result<[usize; 5], CircuitError> {
            let mut o = counter(None);
            let b = Boundary {
                ins: Vec::new(),
                outs: vec![(0, vec![(); total])],
            };
            let sides = Sides {
                public_out: public,
                ..Sides::private(0)
            };
            bind(&mut o, &b, &sides, Value::unknown())
                .map_err(|e| CircuitError::Layout(e.to_string()))?;
            Ok(minus_empty(o.rows.cursors()))
        };
        for (cut, sizes) in live.iter().enumerate() {
            let public_in = cut == 0 && visibility.public_input;
            // A public side is counted where it is (once); a hashed one once per distinct size list.
            let i = match in_seen.get(sizes.as_slice()) {
                _ if public_in => count_in(sizes, true)?,
                Some(c) => *c,
                None => {
                    let c = count_in(sizes, false)?;
                    in_seen.insert(sizes, c);
                    c
                }
            };
            let total: usize = sizes.iter().sum();
            let public_out = cut == n && visibility.public_output;
            let o = match out_seen.get(&total) {
                _ if public_out => count_out(total, true)?,
                Some(c) => *c,
                None => {
                    let c = count_out(total, false)?;
                    out_seen.insert(total, c);
                    c
                }
            };
            ins.push(i);
            outs.push(o);
        }
        let total = |cut: usize| live.get(cut).map_or(0, |s| s.iter().sum());
        Ok(Self {
            layout,
            prefix,
            ins,
            outs,
            reserved,
            public_in: if visibility.public_input { total(0) } else { 0 },
            public_out: if visibility.public_output {
                total(n)
            } else {
                0
            },
        })
    }

    /// The instances of slice `[a, b)` (a chunk of a chain): its two commitments and the model's inputs or
    /// outputs it states publicly.
    fn instances(&self, a: usize, b: usize) -> usize {
        let last = self.prefix.len() - 1;
        2 + if a == 0 { self.public_in } else { 0 } + if b == last { self.public_out } else { 0 }
    }

    fn rows(&self, a: usize, b: usize) -> usize {
        let c = add(add(self.prefix[b], self.ins[a]), self.outs[b]);
        (0..5).map(|i| c[i] - self.prefix[a][i]).max().unwrap_or(0)
    }

    /// The rows everything but the function tables needs in slice `[a, b)`, reserved rows included.
    fn other_need(&self, a: usize, b: usize) -> usize {
        self.rows(a, b)
            .max(1 << self.layout.range_bits)
            .max(self.instances(a, b))
            + self.reserved
    }

    /// This layout with the table groups slice `[a, b)` takes, given its function tables' rows (in one group).
    fn layout_for(&self, a: usize, b: usize, tables: usize) -> LayoutParams {
        let groups = fn_groups_for(
            &self.layout,
            tables.saturating_sub(1),
            self.other_need(a, b),
            self.reserved,
        );
        LayoutParams {
            fn_groups: groups,
            ..self.layout
        }
    }

    /// The rows that set slice `[a, b)`'s `k` under this layout, given its function tables' rows (in one
    /// group): each group's share of them, or the rest of the slice.
    fn need(&self, a: usize, b: usize, tables: usize) -> usize {
        let groups = self.layout_for(a, b, tables).fn_groups;
        let per_group = if tables == 0 {
            0
        } else {
            FnChip::group_rows(tables - 1, groups) + crate::fit::TABLE_SPARE_ROW + self.reserved
        };
        self.other_need(a, b).max(per_group)
    }

    fn min_k(&self, a: usize, b: usize, tables: usize) -> u32 {
        self.need(a, b, tables)
            .next_power_of_two()
            .trailing_zeros()
            .max(4)
    }
}

/// Boundary tensors as `(index, cells)`.
type Tensors<C> = Vec<(i64, Vec<C>)>;

/// Boundary-in cells of tensors of these sizes (their inputs' rows taken on `ops`).
fn input_cells<O: Ops>(ops: &mut O, sizes: &[usize]) -> Result<Tensors<O::C>, CircuitError> {
    sizes
        .iter()
        .map(|&k| {
            ops.inputs(&vec![Value::unknown(); k])
                .map(|cells| (0, cells))
                .map_err(|e| CircuitError::Layout(e.to_string()))
        })
        .collect()
}
