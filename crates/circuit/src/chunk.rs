//! `ChunkCircuit`: one contiguous slice of a model's layers as a halo2 circuit.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dzk_gadgets::matcheck::Tamper;
use dzk_gadgets::{fe, Fr, Rows};
use dzk_ir::{Model, TensorFile};
use dzk_merkle::{commit, PACK_BITS, TAG_ACT};
use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::plonk::{Circuit, ConstraintSystem, Error};

use crate::fit::MAX_FN_GROUPS;
use crate::layers::{check_supported, lay_out_io, Boundary};
use crate::ops::{Ops, Real, RowCounter};
use crate::tables;
use crate::CircuitError;

mod config;
mod io;

pub(crate) use config::{configure_chips, counting_config};
pub use config::{ChunkConfig, LayoutParams};
pub use io::{ChunkIo, InputGroup, Salts, Visibility};

/// The narrowest long range check [`ChunkCircuit::fit`] accepts: values up to `±2^(MIN_RANGE_BITS−1)`.
pub const MIN_RANGE_BITS: usize = 26;

/// A slice `[start, end)` of a model as a circuit.
///
/// Boundary-in tensors are private witnesses (range-checked), weights are fixed columns, and the public
/// instances are, in order: `h_in = Poseidon(TAG_ACT, salt_in, pack(B_in))` computed from the cells the layers
/// read, `h_out = Poseidon(TAG_ACT, salt_out, pack(B_out))` computed from the cells they wrote, then the model
/// inputs (first chunk) and outputs (last chunk) that [`Visibility`] makes public, or the outputs a part of a split
/// last layer states ([`ChunkIo::public_outputs`]), flattened in boundary order. Public tensors are left out of
/// their side's hash.
#[derive(Clone, Debug)]
pub struct ChunkCircuit {
    pub(crate) model: Arc<Model>,
    pub(crate) start: usize,
    pub(crate) end: usize,
    io: Arc<ChunkIo>,
    pub(crate) params: LayoutParams,
    visibility: Visibility,
    /// Boundary-in values by tensor index; `None` for keygen.
    boundary: Option<Arc<BTreeMap<i64, Vec<i64>>>>,
    /// The input groups' salts and the output salt (with a witness only).
    salts: Option<(Vec<Fr>, Fr)>,
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
        let io = Arc::new(ChunkIo::chain(&model, start, end));
        Ok(Self {
            model,
            start,
            end,
            io,
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

    /// Sets what the chunk reads and writes (before [`Self::with_inputs`]); a chain's chunk keeps the default,
    /// [`ChunkIo::chain`]. Every tensor the slice reads that it does not compute must be in some group (and no
    /// tensor in two), no group may be empty and only the first may be the model's inputs, and every output
    /// must be computed by the slice or read by it.
    pub fn with_io(mut self, io: ChunkIo) -> Result<Self, CircuitError> {
        let bad = |reason: String| CircuitError::Layout(format!("chunk io: {reason}"));
        let layers = &self.model.layers()[self.start..self.end];
        let written: std::collections::BTreeSet<i64> = layers
            .iter()
            .flat_map(|l| l.outputs.iter().copied())
            .collect();
        let mut given = std::collections::BTreeSet::new();
        for (g, group) in io.groups.iter().enumerate() {
            if group.tensors.is_empty() || (group.model_inputs && g > 0) {
                return Err(bad(format!("input group {g} is empty or out of place")));
            }
            for &t in &group.tensors {
                if written.contains(&t) || self.model.tensors().contains_key(&t) || !given.insert(t)
                {
                    return Err(bad(format!(
                        "tensor {t} of input group {g} is computed by the slice, a constant or given twice"
                    )));
                }
            }
        }
        for l in layers {
            for t in &l.inputs {
                if !written.contains(t)
                    && !self.model.tensors().contains_key(t)
                    && !given.contains(t)
                {
                    return Err(bad(format!(
                        "the slice reads tensor {t}, which no input group holds"
                    )));
                }
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for &t in &io.outputs {
            if !(written.contains(&t) || given.contains(&t)) || !seen.insert(t) {
                return Err(bad(format!(
                    "output tensor {t} is neither computed nor read by the slice, or listed twice"
                )));
            }
        }
        if io.outputs.is_empty() {
            return Err(bad("the chunk writes nothing".into()));
        }
        self.io = Arc::new(io);
        Ok(self)
    }

    /// What the chunk reads and writes.
    pub fn io(&self) -> &ChunkIo {
        &self.io
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

    /// Which of this chunk's input groups and whether its boundary-out tensors are public rather than hashed.
    fn public_sides(&self) -> Sides {
        Sides {
            groups: self
                .io
                .groups
                .iter()
                .map(|g| {
                    (
                        g.tensors.len(),
                        g.model_inputs && self.visibility.public_input,
                    )
                })
                .collect(),
            public_out: self.io.public_outputs
                || (self.end == self.model.layers().len() && self.visibility.public_output),
        }
    }

    /// The number of public instances: one commitment per input group, the output commitment and the public
    /// model inputs/outputs.
    pub fn instance_len(&self) -> usize {
        let sides = self.public_sides();
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
            return numel(&self.io.outputs);
        }
        let public_in: usize = self
            .io
            .groups
            .iter()
            .zip(&sides.groups)
            .filter(|(_, s)| s.1)
            .map(|(g, _)| numel(&g.tensors))
            .sum();
        self.io.groups.len()
            + 1
            + public_in
            + if sides.public_out {
                numel(&self.io.outputs)
            } else {
                0
            }
    }

    /// Adds the witness: the slice's boundary-in tensors and the two salts. Runs the slice's forward pass to
    /// obtain the boundary-out tensors, and computes the public instances natively.
    pub fn with_inputs(self, inputs: &TensorFile, salts: Salts) -> Result<Self, CircuitError> {
        self.with_group_inputs(inputs, &[salts.input], salts.output)
    }

    /// [`Self::with_inputs`] for a chunk reading several groups: `in_salts` holds each input group's salt (the
    /// producer's), `out_salt` the output's.
    pub fn with_group_inputs(
        mut self,
        inputs: &TensorFile,
        in_salts: &[Fr],
        out_salt: Fr,
    ) -> Result<Self, CircuitError> {
        if in_salts.len() != self.io.groups.len() {
            return Err(CircuitError::Input {
                idx: -1,
                reason: format!(
                    "{} input salts for {} input groups",
                    in_salts.len(),
                    self.io.groups.len()
                ),
            });
        }
        let mut boundary = BTreeMap::new();
        for idx in self.io.inputs() {
            let t = inputs.get(idx).ok_or_else(|| CircuitError::Input {
                idx,
                reason: "missing from the inputs".into(),
            })?;
            boundary.insert(idx, t.data().to_vec());
        }
        let given: Vec<(i64, dzk_ir::Tensor)> = self
            .io
            .inputs()
            .into_iter()
            .filter_map(|i| inputs.get(i).map(|t| (i, t.clone())))
            .collect();
        let given =
            TensorFile::new(given).map_err(|reason| CircuitError::Input { idx: -1, reason })?;
        let trace = self
            .model
            .forward_slice(self.start, self.end, &given, &self.io.outputs)?;
        tables::check_domains(&self.model, self.start, self.end, &trace)?;
        let sides = self.public_sides();
        let flat = |ts: Vec<&[i64]>| ts.concat();
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
        let mut public = Vec::new();
        let mut public_ins = Vec::new();
        for (g, (group, &(_, pi))) in self.io.groups.iter().zip(&sides.groups).enumerate() {
            let vals = flat(
                group
                    .tensors
                    .iter()
                    .map(|t| boundary[t].as_slice())
                    .collect(),
            );
            public.push(hashed(pi, &vals, in_salts[g], "input")?);
            if pi {
                public_ins.extend(vals.iter().map(|&v| fe::<Fr>(v.into())));
            }
        }
        let po = sides.public_out;
        public.push(hashed(po, &out_vals, out_salt, "output")?);
        public.extend(public_ins);
        if po {
            public.extend(out_vals.iter().map(|&v| fe::<Fr>(v.into())));
        }
        if !self.commitments {
            public = out_vals.iter().map(|&v| fe::<Fr>(v.into())).collect();
        }
        self.public = public;
        self.boundary = Some(Arc::new(boundary));
        self.salts = Some((in_salts.to_vec(), out_salt));
        self.outputs = Some(Arc::new(trace.outputs().clone()));
        Ok(self)
    }

    /// The public instance values: `[h_in…, h_out, public inputs…, public outputs…]`, one `h_in` per input
    /// group (empty without a witness).
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
        let config = counting_config(self.params);
        let mut counter = RowCounter {
            chips: &config.0.chips,
            rows: Rows::new(),
            checks: 0,
            cell_checks: 0,
            marks: None,
        };
        let unknown = |_: i64, n: usize| vec![Value::unknown(); n];
        // Counting cannot fail: it runs the same mapping `new` has checked, with no witness.
        let io = (self.io.inputs(), self.io.outputs.clone());
        if let Ok(b) = lay_out_io(
            &mut counter,
            &self.model,
            (self.start, self.end),
            (&io.0, &io.1),
            &unknown,
        ) {
            if self.commitments {
                let _ = bind(&mut counter, &b, &self.public_sides(), Value::unknown());
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
        let salts = self.salts.clone().map_or_else(Value::unknown, Value::known);
        let mut pending = Vec::new();
        let io = (self.io.inputs(), self.io.outputs.clone());
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
            let b = lay_out_io(
                &mut ops,
                &self.model,
                (self.start, self.end),
                (&io.0, &io.1),
                &boundary,
            )?;
            if !self.commitments {
                let outs: Vec<_> = b.outs.iter().flat_map(|(_, c)| c.iter()).collect();
                for (i, c) in outs.iter().enumerate() {
                    ops.layouter.constrain_instance(c.cell, config.instance, i);
                }
                self.laid_out.store(ops.rows.used(), Ordering::Relaxed);
                return finish_checks(&config, &mut layouter, &pending);
            }
            bind(&mut ops, &b, &self.public_sides(), salts)?
        };
        // Every phase-0 cell is assigned: commit them, draw the challenge, finish the matrix checks.
        finish_checks(&config, &mut layouter, &pending)?;
        for (g, h) in h_in.iter().enumerate() {
            layouter.constrain_instance(h.cell, config.instance, g);
        }
        let g = h_in.len();
        layouter.constrain_instance(h_out.cell, config.instance, g);
        for (i, c) in public.iter().enumerate() {
            layouter.constrain_instance(c.cell, config.instance, g + 1 + i);
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

/// `(h_in per input group, h_out, public cells)` of one chunk.
type Bound<O> = (Vec<<O as Ops>::D>, <O as Ops>::D, Vec<<O as Ops>::C>);

/// Which boundary sides of a chunk are public: per input group its tensor count and whether it is public, and
/// whether the outputs are.
#[derive(Clone, Debug)]
pub(crate) struct Sides {
    pub groups: Vec<(usize, bool)>,
    pub public_out: bool,
}

impl Sides {
    /// One private input group and private outputs (the cost model's boundaries).
    pub(crate) fn private(tensors: usize) -> Self {
        Self {
            groups: vec![(tensors, false)],
            public_out: false,
        }
    }
}

/// Commits to both boundaries: one `h_in` per input group over its (already range-checked) boundary-in cells
/// (`b.ins` holds the groups one after another), `h_out` over the boundary-out cells after range-checking them
/// into the packing range; public sides are returned as cells for the instance column instead of being hashed.
pub(crate) fn bind<O: Ops>(
    ops: &mut O,
    b: &Boundary<O::C>,
    sides: &Sides,
    salts: Value<(Vec<Fr>, Fr)>,
) -> Result<Bound<O>, Error> {
    let tag = Fr::from_u128(TAG_ACT);
    let flat = |side: &[(i64, Vec<O::C>)]| -> Vec<O::C> {
        side.iter().flat_map(|(_, c)| c.iter().cloned()).collect()
    };
    let outs = flat(&b.outs);
    let none: &[O::C] = &[];
    let mut h_in = Vec::with_capacity(sides.groups.len());
    let mut public = Vec::new();
    let mut at = 0;
    for (g, &(n, public_in)) in sides.groups.iter().enumerate() {
        let ins = flat(b.ins.get(at..at + n).ok_or(Error::Synthesis)?);
        at += n;
        let salt = salts
            .as_ref()
            .map(|s| s.0.get(g).copied().unwrap_or_default());
        h_in.push(ops.commit(tag, if public_in { none } else { &ins }, salt)?);
        if public_in {
            public.extend(ins);
        }
    }
    let public_out = sides.public_out;
    if !public_out {
        ops.check_signed(&outs)?;
    }
    let h_out = ops.commit(
        tag,
        if public_out { none } else { &outs },
        salts.map(|s| s.1),
    )?;
    if public_out {
        public.extend(outs);
    }
    Ok((h_in, h_out, public))
}
