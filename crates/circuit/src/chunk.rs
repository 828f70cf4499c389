//! `ChunkCircuit`: one contiguous slice of a model's layers as a halo2 circuit.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dzk_gadgets::affine::AffineChip;
use dzk_gadgets::clamp::ClampChip;
use dzk_gadgets::cmp::CmpChip;
use dzk_gadgets::dot::DotChip;
use dzk_gadgets::hash::{PackChip, PoseidonChip};
use dzk_gadgets::lookup::FnChip;
use dzk_gadgets::matcheck::{MatCheckChip, Tamper};
use dzk_gadgets::range::RangeChip;
use dzk_gadgets::rescale::RescaleChip;
use dzk_gadgets::{fe, Fr, Rows};
use dzk_ir::{Model, TensorFile};
use dzk_merkle::{commit, PACK_BITS, TAG_ACT};
use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::plonk::{Circuit, Column, ConstraintSystem, Error, Instance};

use crate::fit::MAX_FN_GROUPS;
use crate::layers::{check_supported, lay_out, Boundary};
use crate::ops::{Chips, Ops, Real, RowCounter};
use crate::tables;
use crate::CircuitError;

/// The narrowest long range check [`ChunkCircuit::fit`] accepts: values up to `±2^(MIN_RANGE_BITS−1)`.
pub const MIN_RANGE_BITS: usize = 26;

/// Column and table geometry of a chunk circuit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayoutParams {
    /// Advice columns, shared by every chip.
    pub advice: usize,
    /// Bits per range-table limb: the table has `2^range_bits` rows, so `k > range_bits`.
    pub range_bits: usize,
    /// Limbs per range check: values are checked in `[0, 2^(range_bits·range_limbs))`.
    pub range_limbs: usize,
    /// Long range checks per row (each takes `range_limbs + 1` advice columns of its own).
    pub range_slots: usize,
    /// Short range checks per row (one advice column each).
    pub short_slots: usize,
    /// Lanes of the Poseidon chip on advice columns of its own (6 each), running beside the other chips;
    /// 0 puts two lanes on the shared columns instead (no extra columns, but the hashes add rows).
    pub hash_lanes: usize,
    /// Function lookups per row (6 shared advice columns and one lookup each); 0 when the slice looks no
    /// function up (no chip, no table).
    pub fn_slots: usize,
    /// Groups the function tables are spread over (1: one table; `G ≥ 2`: `G` lookups per slot and `G` more
    /// shared columns per slot, for tables longer than `2^k`; see `dzk_gadgets::lookup`).
    pub fn_groups: usize,
    /// Slots per row of the matrix-check chip, on columns of its own (`2w + 1` advice): convolutions and fully
    /// connected layers are then checked against a challenge instead of as dot products. 0: no chip.
    pub check_width: usize,
}

impl Default for LayoutParams {
    fn default() -> Self {
        Self {
            advice: 16,
            range_bits: 13,
            range_limbs: 2,
            range_slots: 2,
            short_slots: 2,
            hash_lanes: 0,
            fn_slots: 0,
            fn_groups: 1,
            check_width: 0,
        }
    }
}

impl LayoutParams {
    /// Advice columns in all: shared, range (long and short), the hash chip's own and the matrix check's own.
    pub fn advice_columns(&self) -> usize {
        self.advice
            + self.range_slots * (self.range_limbs + 1)
            + self.short_slots
            + 6 * self.hash_lanes
            + FnChip::bit_columns(self.fn_slots, self.fn_groups)
            + if self.check_width > 0 {
                MatCheckChip::advice_columns(self.check_width)
            } else {
                0
            }
    }
}

impl From<&dzk_format::run::LayoutSpec> for LayoutParams {
    fn from(s: &dzk_format::run::LayoutSpec) -> Self {
        Self {
            advice: s.advice,
            range_bits: s.range_bits,
            range_limbs: s.range_limbs,
            range_slots: s.range_slots,
            short_slots: s.short_slots,
            hash_lanes: s.hash_lanes,
            fn_slots: s.fn_slots,
            fn_groups: s.fn_groups.max(1),
            check_width: s.check_width,
        }
    }
}

/// Whether the model's input and output are public instances or hashed like any other boundary.
///
/// Only the first chunk's boundary-in (the model inputs) and the last chunk's boundary-out (the model outputs)
/// can be public; every cut between chunks is always committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Visibility {
    /// The model inputs are public instances (otherwise hashed into the first chunk's `h_in`).
    pub public_input: bool,
    /// The model outputs are public instances (otherwise hashed into the last chunk's `h_out`).
    pub public_output: bool,
}

/// The salts of a chunk's two commitments: private, uniformly random field elements chosen by the producer of
/// each boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Salts {
    /// Salt of the boundary-in commitment `h_in`.
    pub input: Fr,
    /// Salt of the boundary-out commitment `h_out`.
    pub output: Fr,
}

/// The configured chips and the instance column of a chunk circuit.
#[derive(Clone, Debug)]
pub struct ChunkConfig {
    pub(crate) chips: Chips,
    instance: Column<Instance>,
}

/// A slice `[start, end)` of a model as a circuit.
///
/// Boundary-in tensors are private witnesses (range-checked), weights are fixed columns, and the public
/// instances are, in order: `h_in = Poseidon(TAG_ACT, salt_in, pack(B_in))` computed from the cells the layers
/// read, `h_out = Poseidon(TAG_ACT, salt_out, pack(B_out))` computed from the cells they wrote, then the model
/// inputs (first chunk) and outputs (last chunk) that [`Visibility`] makes public, flattened in boundary order.
/// Public tensors are left out of their side's hash.
#[derive(Clone, Debug)]
pub struct ChunkCircuit {
    pub(crate) model: Arc<Model>,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) params: LayoutParams,
    visibility: Visibility,
    /// Boundary-in values by tensor index; `None` for keygen.
    boundary: Option<Arc<BTreeMap<i64, Vec<i64>>>>,
    salts: Option<Salts>,
    /// The instance values (with a witness only).
    public: Vec<Fr>,
    /// The boundary-out tensors (with a witness only).
    outputs: Option<Arc<TensorFile>>,
    /// Rows the last synthesis laid out (a diagnostic that ties the cost model to the real layout).
    laid_out: Arc<AtomicUsize>,
    /// `false` only for the benchmark baseline (see [`ChunkCircuit::without_commitments`]).
    commitments: bool,
    /// An attack on the matrix check of the `n`th product the chip proves (tests only; `None` in every run).
    tamper: Option<(usize, Tamper)>,
}

pub(crate) fn configure_chips(meta: &mut ConstraintSystem<Fr>, p: LayoutParams) -> ChunkConfig {
    assert!(
        p.advice >= 12,
        "a chunk circuit needs at least 12 advice columns"
    );
    let adv: Vec<_> = (0..p.advice).map(|_| meta.advice_column()).collect();
    for c in &adv {
        meta.enable_equality(*c);
    }
    // The range chip's columns are its own: its checks advance separate row cursors beside the other chips.
    let long: Vec<_> = (0..p.range_slots * (p.range_limbs + 1))
        .map(|_| meta.advice_column())
        .collect();
    let short: Vec<_> = (0..p.short_slots).map(|_| meta.advice_column()).collect();
    let range = RangeChip::construct(RangeChip::configure(
        meta,
        &long,
        &short,
        p.range_bits,
        p.range_limbs,
    ));
    // Every chip on the shared columns takes whole rows of its own, so on any row at most one of their
    // selectors is on: they can keep their constants in one pool of fixed columns (each gate and lookup is
    // multiplied by its chip's selector, so a row's constants only ever meet that row's chip). The pool is as
    // wide as the widest chip needs, not the sum of all of them.
    let pool_len = [
        DotChip::fixed_columns(p.advice - 1),
        RescaleChip::fixed_columns(p.advice),
        CmpChip::fixed_columns(p.advice),
        ClampChip::fixed_columns(p.advice),
        AffineChip::fixed_columns(p.advice),
        if p.hash_lanes == 0 {
            PoseidonChip::fixed_columns(p.advice)
        } else {
            0
        },
        1,
    ]
    .into_iter()
    .max()
    .unwrap_or(1);
    let pool: Vec<_> = (0..pool_len).map(|_| meta.fixed_column()).collect();
    let dot = DotChip::construct(DotChip::configure(
        meta,
        &adv[..p.advice - 1],
        adv[p.advice - 1],
        &pool,
    ));
    let rescale = RescaleChip::construct(RescaleChip::configure(
        meta,
        &adv,
        &pool,
        p.range_bits * p.range_limbs,
    ));
    let cmp = CmpChip::construct(CmpChip::configure(meta, &adv, &pool));
    let clamp = ClampChip::construct(ClampChip::configure(meta, &adv, &pool));
    let affine = AffineChip::construct(AffineChip::configure(meta, &adv, &pool));
    let pack = PackChip::construct(PackChip::configure(meta, &adv));
    let poseidon = if p.hash_lanes == 0 {
        PoseidonChip::construct(PoseidonChip::configure(meta, &adv, &pool, false))
    } else {
        // Lanes on columns of their own run beside the other chips, so their constants get columns of their own.
        let own: Vec<_> = (0..6 * p.hash_lanes)
            .map(|_| meta.advice_column())
            .collect();
        let fixed: Vec<_> = (0..PoseidonChip::fixed_columns(own.len()))
            .map(|_| meta.fixed_column())
            .collect();
        PoseidonChip::construct(PoseidonChip::configure(meta, &own, &fixed, true))
    };
    let func = (p.fn_slots > 0).then(|| {
        let groups = p.fn_groups.max(1);
        let bits: Vec<_> = (0..FnChip::bit_columns(p.fn_slots, groups))
            .map(|_| meta.advice_column())
            .collect();
        FnChip::construct(FnChip::configure(
            meta, &adv, &bits, pool[0], p.fn_slots, groups,
        ))
    });
    let matcheck = (p.check_width > 0)
        .then(|| MatCheckChip::construct(MatCheckChip::configure(meta, p.check_width)));
    let instance = meta.instance_column();
    meta.enable_equality(instance);
    ChunkConfig {
        chips: Chips {
            range,
            dot,
            rescale,
            cmp,
            clamp,
            affine,
            pack,
            poseidon,
            func,
            matcheck,
            io: adv,
        },
        instance,
    }
}

impl ChunkCircuit {
    /// The circuit of layers `start..end`, without witnesses (enough for the cost model and keygen).
    pub fn new(
        model: Arc<Model>,
        start: usize,
        end: usize,
        params: LayoutParams,
    ) -> Result<Self, CircuitError> {
        if start >= end || end > model.layers().len() {
            return Err(CircuitError::BadSlice {
                start,
                end,
                layers: model.layers().len(),
            });
        }
        if params.range_bits * params.range_limbs > PACK_BITS || params.advice < 12 {
            return Err(CircuitError::Layout(format!(
                "range checks of {} bits are wider than the {PACK_BITS}-bit packing of commitments, or fewer \
                 than 12 advice columns ({})",
                params.range_bits * params.range_limbs,
                params.advice
            )));
        }
        check_supported(&model, start, end)?;
        let needs_fn = !tables::keys(&model, start, end).is_empty();
        if needs_fn
            && (params.fn_slots == 0
                || 6 * params.fn_slots > params.advice
                || !(1..=MAX_FN_GROUPS).contains(&params.fn_groups))
        {
            return Err(CircuitError::Layout(format!(
                "the slice looks functions up, which needs 1 to {} function slots and 1 to {MAX_FN_GROUPS} table \
                 groups, got {} slots and {} groups",
                params.advice / 6,
                params.fn_slots,
                params.fn_groups
            )));
        }
        Ok(Self {
            model,
            start,
            end,
            params,
            visibility: Visibility::default(),
            boundary: None,
            salts: None,
            public: Vec::new(),
            outputs: None,
            laid_out: Arc::default(),
            commitments: true,
            tamper: None,
        })
    }

    /// **Benchmark baseline only, not a dzk statement:** the slice without commitments, its boundary-out
    /// values public and its inputs unbound. It measures what the commitments cost; nothing in a run uses it.
    pub fn without_commitments(mut self) -> Self {
        self.commitments = false;
        self
    }

    /// **Attack tests only, not a dzk statement:** lays out the `nth` product that the matrix-check chip proves
    /// (counting from 0, in layer order) with the witness change `tamper`, so tests can show that the circuit
    /// rejects it.
    #[doc(hidden)]
    pub fn with_product_tamper(mut self, nth: usize, tamper: Tamper) -> Self {
        self.tamper = Some((nth, tamper));
        self
    }

    /// Sets which of the model's inputs and outputs are public (before [`Self::with_inputs`]).
    pub fn with_visibility(mut self, visibility: Visibility) -> Self {
        self.visibility = visibility;
        self
    }

    /// The visibility in effect.
    pub fn visibility(&self) -> Visibility {
        self.visibility
    }

    /// Whether this chunk's boundary-in / boundary-out tensors are public rather than hashed.
    fn public_sides(&self) -> (bool, bool) {
        (
            self.start == 0 && self.visibility.public_input,
            self.end == self.model.layers().len() && self.visibility.public_output,
        )
    }

    /// The number of public instances: the two commitments and the public model inputs/outputs.
    pub fn instance_len(&self) -> usize {
        let (ins, outs) = self.model.slice_boundary(self.start, self.end);
        let (pi, po) = self.public_sides();
        let numel = |ts: &[i64]| -> usize {
            ts.iter()
                .map(|&i| {
                    self.model
                        .tensor_shape(i)
                        .map_or(0, |s| s.iter().product::<usize>())
                })
                .sum()
        };
        if !self.commitments {
            return numel(&outs);
        }
        2 + if pi { numel(&ins) } else { 0 } + if po { numel(&outs) } else { 0 }
    }

    /// Adds the witness: the slice's boundary-in tensors and the two salts. Runs the slice's forward pass to
    /// obtain the boundary-out tensors, and computes the public instances natively.
    pub fn with_inputs(mut self, inputs: &TensorFile, salts: Salts) -> Result<Self, CircuitError> {
        let (ins, _) = self.model.slice_boundary(self.start, self.end);
        let mut boundary = BTreeMap::new();
        for idx in ins {
            let t = inputs.get(idx).ok_or_else(|| CircuitError::Input {
                idx,
                reason: "missing from the inputs".into(),
            })?;
            boundary.insert(idx, t.data().to_vec());
        }
        let trace = self.model.forward_range(self.start, self.end, inputs)?;
        tables::check_domains(&self.model, self.start, self.end, &trace)?;
        let (pi, po) = self.public_sides();
        let flat = |ts: Vec<&[i64]>| ts.concat();
        let in_vals = flat(boundary.values().map(Vec::as_slice).collect());
        let out_vals = flat(
            trace
                .outputs()
                .tensors()
                .iter()
                .map(|(_, t)| t.data())
                .collect(),
        );
        let hashed = |public: bool, vals: &[i64], salt: Fr, side: &str| {
            commit(salt, if public { &[] } else { vals }).map_err(|e| CircuitError::Input {
                idx: -1,
                reason: format!("the {side} boundary cannot be committed: {e}"),
            })
        };
        let h_in = hashed(pi, &in_vals, salts.input, "input")?;
        let h_out = hashed(po, &out_vals, salts.output, "output")?;
        let mut public = vec![h_in, h_out];
        if pi {
            public.extend(in_vals.iter().map(|&v| fe::<Fr>(v.into())));
        }
        if po {
            public.extend(out_vals.iter().map(|&v| fe::<Fr>(v.into())));
        }
        if !self.commitments {
            public = out_vals.iter().map(|&v| fe::<Fr>(v.into())).collect();
        }
        self.public = public;
        self.boundary = Some(Arc::new(boundary));
        self.salts = Some(salts);
        self.outputs = Some(Arc::new(trace.outputs().clone()));
        Ok(self)
    }

    /// The public instance values: `[h_in, h_out, public inputs…, public outputs…]` (empty without a witness).
    pub fn instances(&self) -> &[Fr] {
        &self.public
    }

    /// The boundary-out tensors the witness produces (what the next chunk reads), or `None` without a witness.
    pub fn boundary_outputs(&self) -> Option<&TensorFile> {
        self.outputs.as_deref()
    }

    /// The first and last layer of the slice.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The layout geometry.
    pub fn layout(&self) -> LayoutParams {
        self.params
    }

    /// The slice bounds.
    pub fn range(&self) -> (usize, usize) {
        (self.start, self.end)
    }

    /// The cost model: the exact number of rows the slice's layout takes (computed by the same layout code,
    /// without proving), excluding the range table.
    pub fn rows(&self) -> usize {
        self.count().0
    }

    /// Where the rows go: how far each of the layout's cursors reaches, as
    /// `[shared columns, long range checks, short range checks, Poseidon lanes, matrix check]`; [`Self::rows`]
    /// is the largest. Shows which part of a layout sets `k`.
    pub fn row_cursors(&self) -> [usize; 5] {
        self.count().2
    }

    /// How many of the slice's matrix products (convolutions, fully connected layers) the matrix-check chip
    /// proves; the others are dot products.
    pub fn matrix_checks(&self) -> usize {
        self.count().1 .0
    }

    /// How many of [`Self::matrix_checks`] multiply two activations (weights that are cells of the witness, as
    /// in attention's `Q·Kᵀ` and `A·V`).
    pub fn activation_products(&self) -> usize {
        self.count().1 .1
    }

    /// Runs the layout with the row counter: `(rows, (matrix checks, of them activation products), cursors)`.
    fn count(&self) -> (usize, (usize, usize), [usize; 5]) {
        let mut meta = ConstraintSystem::<Fr>::default();
        let config = configure_chips(&mut meta, self.params);
        let mut counter = RowCounter {
            chips: &config.chips,
            rows: Rows::new(),
            checks: 0,
            cell_checks: 0,
            marks: None,
        };
        let unknown = |_: i64, n: usize| vec![Value::unknown(); n];
        // Counting cannot fail: it runs the same mapping `new` has checked, with no witness.
        if let Ok(b) = lay_out(&mut counter, &self.model, self.start, self.end, &unknown) {
            if self.commitments {
                let _ = bind(&mut counter, &b, self.public_sides(), Value::unknown());
            }
        }
        (
            counter.rows.used(),
            (counter.checks, counter.cell_checks),
            counter.rows.cursors(),
        )
    }

    /// Rows the most recent synthesis of this circuit (or a clone of it) laid out, excluding the range table.
    pub fn rows_laid_out(&self) -> usize {
        self.laid_out.load(Ordering::Relaxed)
    }
}

impl Circuit<Fr> for ChunkCircuit {
    type Config = ChunkConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = LayoutParams;

    fn without_witnesses(&self) -> Self {
        Self {
            boundary: None,
            salts: None,
            public: Vec::new(),
            outputs: None,
            ..self.clone()
        }
    }

    fn params(&self) -> LayoutParams {
        self.params
    }

    fn configure_with_params(meta: &mut ConstraintSystem<Fr>, params: LayoutParams) -> ChunkConfig {
        configure_chips(meta, params)
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> ChunkConfig {
        configure_chips(meta, LayoutParams::default())
    }

    fn synthesize(
        &self,
        config: ChunkConfig,
        mut layouter: impl Layouter<Fr>,
    ) -> Result<(), Error> {
        config.chips.range.load(&mut layouter)?;
        let fn_tables = tables::tables(&self.model, self.start, self.end);
        if let Some(func) = &config.chips.func {
            let ts: Vec<&_> = fn_tables.iter().map(|(_, t)| t).collect();
            func.load(&mut layouter, &ts)?;
        }
        let mut rows = Rows::new();
        let boundary = |idx: i64, n: usize| match &self.boundary {
            Some(b) => b.get(&idx).map_or_else(
                || vec![Value::unknown(); n],
                |v| v.iter().map(|&x| Value::known(i128::from(x))).collect(),
            ),
            None => vec![Value::unknown(); n],
        };
        let salts = self
            .salts
            .map_or_else(Value::unknown, |s| Value::known((s.input, s.output)));
        let mut pending = Vec::new();
        let (h_in, h_out, public) = {
            let mut ops = Real {
                chips: &config.chips,
                tables: &fn_tables,
                layouter: &mut layouter,
                rows: &mut rows,
                pending: &mut pending,
                tamper: self.tamper,
                products: 0,
            };
            let b = lay_out(&mut ops, &self.model, self.start, self.end, &boundary)?;
            if !self.commitments {
                let outs: Vec<_> = b.outs.iter().flat_map(|(_, c)| c.iter()).collect();
                for (i, c) in outs.iter().enumerate() {
                    ops.layouter.constrain_instance(c.cell, config.instance, i);
                }
                self.laid_out.store(ops.rows.used(), Ordering::Relaxed);
                return finish_checks(&config, &mut layouter, &pending);
            }
            bind(&mut ops, &b, self.public_sides(), salts)?
        };
        // Every phase-0 cell is assigned: commit them, draw the challenge, finish the matrix checks.
        finish_checks(&config, &mut layouter, &pending)?;
        layouter.constrain_instance(h_in.cell, config.instance, 0);
        layouter.constrain_instance(h_out.cell, config.instance, 1);
        for (i, c) in public.iter().enumerate() {
            layouter.constrain_instance(c.cell, config.instance, 2 + i);
        }
        self.laid_out.store(rows.used(), Ordering::Relaxed);
        Ok(())
    }
}

/// Phase 1, when the circuit has a matrix-check chip: ends phase 0 (the prover commits every phase-0 column and
/// draws the challenge), then lays out the pending checks. Must come after the last phase-0 assignment.
fn finish_checks(
    config: &ChunkConfig,
    layouter: &mut impl Layouter<Fr>,
    pending: &[dzk_gadgets::matcheck::PendingProduct],
) -> Result<(), Error> {
    if let Some(chip) = &config.chips.matcheck {
        layouter.next_phase();
        chip.finish(layouter, pending)?;
    }
    Ok(())
}

/// `(h_in, h_out, public cells)` of one chunk.
type Bound<O> = (<O as Ops>::D, <O as Ops>::D, Vec<<O as Ops>::C>);

/// Commits to both boundaries: `h_in` over the (already range-checked) boundary-in cells, `h_out` over the
/// boundary-out cells after range-checking them into the packing range; public sides are returned as cells
/// for the instance column instead of being hashed.
pub(crate) fn bind<O: Ops>(
    ops: &mut O,
    b: &Boundary<O::C>,
    (public_in, public_out): (bool, bool),
    salts: Value<(Fr, Fr)>,
) -> Result<Bound<O>, Error> {
    let tag = Fr::from_u128(TAG_ACT);
    let flat = |side: &[(i64, Vec<O::C>)]| -> Vec<O::C> {
        side.iter().flat_map(|(_, c)| c.iter().cloned()).collect()
    };
    let (ins, outs) = (flat(&b.ins), flat(&b.outs));
    let none: &[O::C] = &[];
    let h_in = ops.commit(tag, if public_in { none } else { &ins }, salts.map(|s| s.0))?;
    if !public_out {
        ops.check_signed(&outs)?;
    }
    let h_out = ops.commit(
        tag,
        if public_out { none } else { &outs },
        salts.map(|s| s.1),
    )?;
    let mut public = Vec::new();
    if public_in {
        public.extend(ins);
    }
    if public_out {
        public.extend(outs);
    }
    Ok((h_in, h_out, public))
}
