//! Choosing a chunk's layout: the search over column and table geometries ([`ChunkCircuit::fit`]), the `k` a
//! layout needs (its rows, its range table, each function-table group, its instances) and the proving cost
//! the search minimises.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use dzk_gadgets::lookup::FnChip;
use dzk_gadgets::Fr;
use dzk_ir::Model;
use dzk_merkle::PACK_BITS;
use halo2_proofs::plonk::ConstraintSystem;

use crate::chunk::{
    configure_chips, counting_config, ChunkCircuit, ChunkIo, LayoutParams, Visibility,
    MIN_RANGE_BITS,
};
use crate::layers::has_products;
use crate::resources::Limit;
use crate::tables;
use crate::CircuitError;

/// The rows one group of function-table columns takes for tables of `runs` runs in all spread over `groups`
/// groups (the all-zero row included): what `partition` reports per group.
pub fn function_table_group_rows(runs: usize, groups: usize) -> usize {
    FnChip::group_rows(runs, groups)
}

/// halo2 fills a table column with its default value from the first unused row to the last usable one, and that
/// first unused row must itself be usable: a table needs one usable row beyond the rows it holds (a group that
/// filled every usable row failed keygen with `NotEnoughRowsAvailable`).
pub(crate) const TABLE_SPARE_ROW: usize = 1;

/// The most groups a function table may be spread over: with `k ≥ 16`, tables of up to about 2^21 runs (every
/// function of zkml's models at scales up to 2^17, softmax's exponential included) fit.
pub const MAX_FN_GROUPS: usize = 32;

/// The table groups layout `p` gives function tables of `runs` runs (the all-zero row not counted) when the
/// rest of the circuit needs `other` rows, halo2's reserved rows included: the fewest that keep the tables
/// within the `2^k` those rows set (more would only add lookups), or as many as the slots allow.
pub(crate) fn fn_groups_for(p: &LayoutParams, runs: usize, other: usize, reserved: usize) -> usize {
    if runs == 0 || p.fn_slots == 0 {
        return 1;
    }
    let room = other.next_power_of_two().max(16);
    let max = MAX_FN_GROUPS;
    (1..=max)
        .find(|&g| FnChip::group_rows(runs, g) + TABLE_SPARE_ROW + reserved <= room)
        .unwrap_or(max)
}

impl ChunkCircuit {
    /// The circuit of layers `start..end` with the cheapest layout: 12 or 16 shared advice columns, range
    /// tables of 7 to 13 bits (each with enough limbs for checks at least [`MIN_RANGE_BITS`] wide and at most
    /// the packing width), one or two long and one or two short range checks per row, the Poseidon chip on the shared columns or on one or two
    /// lanes of its own, and (for slices with matrix products) no matrix-check chip or one of width 2, 3 or 4,
    /// whichever gives the smallest [`Self::cost_estimate`] with `COLUMN_OVERHEAD_ROWS` (2^12) more per committed
    /// polynomial (ties to the smaller `k`). Small slices get small
    /// tables, so their `k` is not held up by the table; slices with wide boundaries hash beside their layers
    /// instead of after them; convolutions move off the shared columns when that lowers `k` enough to pay for
    /// the chip's.
    ///
    /// Narrower tables are tried only while the table is what sets `k`: once the rows do, a narrower table
    /// only adds limb columns at the same or a larger `k`, so the search stops going down.
    pub fn fit(model: Arc<Model>, start: usize, end: usize) -> Result<Self, CircuitError> {
        Self::fit_within(model, start, end, None)
    }

    /// [`Self::fit`] among the layouts that fit `limit` (all of them for `None`). The reference layouts of
    /// [`crate::CostModel`] are among those searched, so a slice the cost model puts within a limit always has one.
    /// The model's inputs and outputs are hashed ([`Visibility::default`]); [`Self::fit_within_io`] fits a chunk
    /// as a plan proves it.
    pub fn fit_within(
        model: Arc<Model>,
        start: usize,
        end: usize,
        limit: Option<Limit>,
    ) -> Result<Self, CircuitError> {
        Self::fit_search(model, start, end, None, Visibility::default(), limit)
    }

    /// [`Self::fit_within`] for a chunk that reads and writes `io` (for a chunk of a chain, [`ChunkIo::chain`]),
    /// with the model's inputs and outputs public as `visibility` makes them: a public side is an instance per
    /// value, not a hash, so it changes the rows (and the instances must fit the usable rows too).
    pub fn fit_within_io(
        model: Arc<Model>,
        start: usize,
        end: usize,
        io: &ChunkIo,
        visibility: Visibility,
        limit: Option<Limit>,
    ) -> Result<Self, CircuitError> {
        Self::fit_search(model, start, end, Some(io), visibility, limit)
    }

    /// The cheapest of `layouts` (each with the table groups its rows call for) for slice `start..end` reading
    /// and writing `io` under `visibility`, among those that fit `limit`: for large chunks, where the full search
    /// of [`Self::fit_within_io`] would count the chunk once per layout it tries.
    pub fn best_of_io(
        model: Arc<Model>,
        start: usize,
        end: usize,
        (io, visibility): (&ChunkIo, Visibility),
        layouts: &[LayoutParams],
        limit: Option<Limit>,
    ) -> Result<Self, CircuitError> {
        let mut best: Option<(u64, u32, Self)> = None;
        for &params in layouts {
            let (cost, k, c) = Self::evaluate(&model, start, end, (Some(io), visibility), params)?;
            if limit.is_none_or(|l| l.allows(c.params, k))
                && best
                    .as_ref()
                    .is_none_or(|(bc, bk, _)| (cost, k) < (*bc, *bk))
            {
                best = Some((cost, k, c));
            }
        }
        best.map(|(_, _, c)| c).ok_or(CircuitError::BadSlice {
            start,
            end,
            layers: model.layers().len(),
        })
    }

    /// The smallest `k` of slice `start..end` reading and writing `io` under `visibility` and any of `layouts`
    /// (which the layout search need not choose: it may prefer fewer columns at a larger `k`).
    pub fn smallest_k_of_io(
        model: Arc<Model>,
        start: usize,
        end: usize,
        (io, visibility): (&ChunkIo, Visibility),
        layouts: &[LayoutParams],
    ) -> Result<u32, CircuitError> {
        let mut best = None;
        for &params in layouts {
            let (_, k, _) = Self::evaluate(&model, start, end, (Some(io), visibility), params)?;
            best = Some(best.map_or(k, |b: u32| b.min(k)));
        }
        best.ok_or(CircuitError::BadSlice {
            start,
            end,
            layers: model.layers().len(),
        })
    }

    /// Layout `params` for the slice (with `io` when given) under `visibility`, its function tables spread over
    /// as many groups as it takes to keep them within the rows' `k`: `(cost, k, circuit)`.
    fn evaluate(
        model: &Arc<Model>,
        start: usize,
        end: usize,
        (io, visibility): (Option<&ChunkIo>, Visibility),
        params: LayoutParams,
    ) -> Result<(u64, u32, Self), CircuitError> {
        let make = |params: LayoutParams| -> Result<Self, CircuitError> {
            let c = Self::new(model.clone(), start, end, params)?.with_visibility(visibility);
            match io {
                Some(io) => c.with_io(io.clone()),
                None => Ok(c),
            }
        };
        let base = make(params)?;
        let rows = base.rows();
        let groups = fn_groups_for(
            &params,
            base.function_table_rows().saturating_sub(1),
            base.other_need(rows),
            base.reserved(),
        );
        let c = if groups == 1 {
            base
        } else {
            make(LayoutParams {
                fn_groups: groups,
                ..params
            })?
        };
        let k = c.k_with_rows(rows);
        Ok((choice_cost(c.params, k), k, c))
    }

    fn fit_search(
        model: Arc<Model>,
        start: usize,
        end: usize,
        io: Option<&ChunkIo>,
        visibility: Visibility,
        limit: Option<Limit>,
    ) -> Result<Self, CircuitError> {
        let mut best: Option<(u64, u32, Self)> = None;
        let fn_choices: &[usize] = if tables::keys(&model, start, end).is_empty() {
            &[0]
        } else {
            &[1, 2]
        };
        let check_choices: &[usize] = if has_products(&model, start, end) {
            &[0, 2, 3, 4]
        } else {
            &[0]
        };
        let shapes = [12, 16].into_iter().flat_map(|advice| {
            [0, 1, 2].into_iter().flat_map(move |lanes| {
                [(1, 1), (1, 2), (2, 1), (2, 2)].map(|(long, short)| (advice, lanes, long, short))
            })
        });
        for (advice, hash_lanes, range_slots, short_slots) in shapes {
            for &fn_slots in fn_choices {
                for &check_width in check_choices {
                    for bits in (7..=13).rev() {
                        let params = LayoutParams {
                            advice,
                            range_bits: bits,
                            range_limbs: MIN_RANGE_BITS.div_ceil(bits),
                            hash_lanes,
                            range_slots,
                            short_slots,
                            fn_slots,
                            fn_groups: 1,
                            check_width,
                        };
                        if params.range_bits * params.range_limbs > PACK_BITS {
                            continue;
                        }
                        // Spread the tables over as many groups as it takes to keep them within the rows' k.
                        let (cost, k, c) =
                            Self::evaluate(&model, start, end, (io, visibility), params)?;
                        let allowed = limit.is_none_or(|l| l.allows(c.params, k));
                        if allowed
                            && best
                                .as_ref()
                                .is_none_or(|(bc, bk, _)| (cost, k) < (*bc, *bk))
                        {
                            best = Some((cost, k, c));
                        }
                        // The table (2^bits rows plus the reserved ones) needs k = bits + 1 at least; past
                        // that, the rows set k.
                        if k > bits as u32 + 1 {
                            break;
                        }
                    }
                }
            }
        }
        best.map(|(_, _, c)| c).ok_or(CircuitError::BadSlice {
            start,
            end,
            layers: model.layers().len(),
        })
    }

    /// The proving cost of the layout: the polynomials a proof commits to, each over `2^k` rows (every
    /// commitment, FFT and quotient evaluation runs over that area): the advice columns, 3 per lookup (a
    /// permuted input, a permuted table and a product), one product per `degree − 2` columns of the
    /// permutation argument, and the `degree − 1` pieces of the quotient. The layout search minimises this
    /// plus `COLUMN_OVERHEAD_ROWS` (2^12) per polynomial.
    pub fn cost_estimate(&self) -> u64 {
        layout_cost(self.params, self.min_k())
    }

    /// Rows the slice's function tables take (0 without function lookups): one per step of each function on its
    /// domain, plus one all-zero row. Independent of zkml's `k`; spread over the layout's table groups, each
    /// group takes [`Self::function_table_group_rows`].
    pub fn function_table_rows(&self) -> usize {
        tables::table_rows(&self.model, self.start, self.end, 1)
    }

    /// Rows each of the layout's function-table groups takes (0 without function lookups).
    pub fn function_table_group_rows(&self) -> usize {
        tables::table_rows(&self.model, self.start, self.end, self.params.fn_groups)
    }

    /// The smallest `k` whose usable rows hold the layout, the range table, each function-table group and the
    /// instances.
    pub fn min_k(&self) -> u32 {
        self.k_with_rows(self.rows())
    }

    /// Rows halo2 reserves at the end of the circuit (blinding factors and one more).
    fn reserved(&self) -> usize {
        counting_config(self.params).1
    }

    /// The rows everything but the function tables needs, given the layout's `rows`, reserved rows included.
    fn other_need(&self, rows: usize) -> usize {
        rows.max(1 << self.params.range_bits)
            .max(self.instance_len())
            + self.reserved()
    }

    /// [`Self::min_k`] for the layout's rows already counted (counting them is the expensive part).
    fn k_with_rows(&self, rows: usize) -> u32 {
        let need = self
            .other_need(rows)
            .max(self.function_table_group_rows() + TABLE_SPARE_ROW + self.reserved());
        need.next_power_of_two().trailing_zeros().max(4)
    }
}

/// Rows of work each committed polynomial is charged beside its `2^k` when a layout is chosen
/// ([`choice_cost`]): a column adds a commitment and its evaluations to every proof, which every verifier pays
/// whatever `k` is, and an aggregation node far more (each commitment is a non-native elliptic-curve operation
/// in its circuit). Without it, a small chunk would trade one `k` for twice the columns at the same proving area:
/// once cut commitments got cheaper, the digits model's chunks did (33 advice columns at k = 9 instead of 17 at
/// k = 10), and aggregating them took 40% longer. From `k ≈ 16` on it rarely changes a choice.
pub(crate) const COLUMN_OVERHEAD_ROWS: u64 = 1 << 12;

/// What the layout search minimises: [`layout_cost`] plus [`COLUMN_OVERHEAD_ROWS`] per committed polynomial.
pub(crate) fn choice_cost(p: LayoutParams, k: u32) -> u64 {
    let area = layout_cost(p, k);
    area + (area >> k) * COLUMN_OVERHEAD_ROWS
}

/// [`ChunkCircuit::cost_estimate`] of a layout at `k`: it depends on the layout's columns alone.
pub(crate) fn layout_cost(p: LayoutParams, k: u32) -> u64 {
    (configured(p).cost_columns as u64) << k
}

/// What configuring layout `p` gives, once per layout per process: the partitioner asks for the same few
/// layouts' shapes and costs for every slice it weighs, and each configuration builds the whole constraint
/// system.
#[derive(Clone, Copy)]
struct Configured {
    shape: LayoutShape,
    /// The polynomials a proof commits to per row: see [`layout_cost`].
    cost_columns: usize,
}

fn configured(p: LayoutParams) -> Configured {
    static CACHE: OnceLock<Mutex<HashMap<LayoutParams, Configured>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(c) = cache.lock().ok().and_then(|m| m.get(&p).copied()) {
        return c;
    }
    let mut meta = ConstraintSystem::<Fr>::default();
    configure_chips(&mut meta, p);
    let lookups = p.range_slots * p.range_limbs + p.short_slots + p.fn_slots * p.fn_groups.max(1);
    let degree = meta.degree().max(3);
    let permutation = meta.permutation().get_columns().len().div_ceil(degree - 2);
    let c = Configured {
        shape: LayoutShape {
            advice: meta.num_advice_columns(),
            fixed: meta.num_fixed_columns(),
            selectors: meta.num_selectors(),
            permutation: meta.permutation().get_columns().len(),
            lookups: meta.lookups().len(),
            degree: meta.degree(),
        },
        cost_columns: p.advice_columns() + 3 * lookups + permutation + degree - 1,
    };
    if let Ok(mut m) = cache.lock() {
        m.insert(p, c);
    }
    c
}

/// What a layout's constraint system holds, for estimates of keygen and proving resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayoutShape {
    /// Advice columns.
    pub advice: usize,
    /// Fixed columns, lookup-table columns among them.
    pub fixed: usize,
    /// Selectors (keygen turns them into fixed columns).
    pub selectors: usize,
    /// Columns in the permutation argument.
    pub permutation: usize,
    /// Lookup arguments.
    pub lookups: usize,
    /// The constraint degree (halo2-axiom's cap applied).
    pub degree: usize,
}

/// The shape of layout `p`'s constraint system.
pub fn layout_shape(p: LayoutParams) -> LayoutShape {
    configured(p).shape
}

/// [`ChunkCircuit::cost_estimate`] of layout `p` at `k`, without a circuit.
pub fn layout_cost_at(p: LayoutParams, k: u32) -> u64 {
    layout_cost(p, k)
}
