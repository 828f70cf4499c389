//! `ChunkCircuit`: one contiguous slice of a model's layers as a halo2 circuit.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dzk_gadgets::affine::AffineChip;
use dzk_gadgets::cmp::CmpChip;
use dzk_gadgets::dot::DotChip;
use dzk_gadgets::range::RangeChip;
use dzk_gadgets::rescale::RescaleChip;
use dzk_gadgets::{fe, Fr, Rows};
use dzk_ir::{Model, TensorFile};
use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
use halo2_proofs::plonk::{Circuit, Column, ConstraintSystem, Error, Instance};

use crate::layers::{check_supported, lay_out};
use crate::ops::{Chips, Real, RowCounter};
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
}

impl Default for LayoutParams {
    fn default() -> Self {
        Self {
            advice: 16,
            range_bits: 13,
            range_limbs: 2,
            range_slots: 2,
            short_slots: 2,
        }
    }
}

/// The configured chips and the instance column of a chunk circuit.
#[derive(Clone, Debug)]
pub struct ChunkConfig {
    chips: Chips,
    instance: Column<Instance>,
}

/// A slice `[start, end)` of a model as a circuit: boundary-in tensors are private witnesses (range-checked),
/// boundary-out tensors are public instances, weights are fixed columns.
#[derive(Clone, Debug)]
pub struct ChunkCircuit {
    model: Arc<Model>,
    start: usize,
    end: usize,
    params: LayoutParams,
    /// Boundary-in values by tensor index; `None` for keygen.
    boundary: Option<Arc<BTreeMap<i64, Vec<i64>>>>,
    public: Vec<Fr>,
    /// Rows the last synthesis laid out (a diagnostic that ties the cost model to the real layout).
    laid_out: Arc<AtomicUsize>,
}

fn configure_chips(meta: &mut ConstraintSystem<Fr>, p: LayoutParams) -> ChunkConfig {
    assert!(
        p.advice >= 5,
        "a chunk circuit needs at least 5 advice columns"
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
    let dot = DotChip::construct(DotChip::configure(
        meta,
        &adv[..p.advice - 1],
        adv[p.advice - 1],
    ));
    let rescale = RescaleChip::construct(RescaleChip::configure(
        meta,
        &adv,
        p.range_bits * p.range_limbs,
    ));
    let cmp = CmpChip::construct(CmpChip::configure(meta, &adv));
    let affine = AffineChip::construct(AffineChip::configure(meta, &adv));
    let instance = meta.instance_column();
    meta.enable_equality(instance);
    ChunkConfig {
        chips: Chips {
            range,
            dot,
            rescale,
            cmp,
            affine,
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
        check_supported(&model, start, end)?;
        Ok(Self {
            model,
            start,
            end,
            params,
            boundary: None,
            public: Vec::new(),
            laid_out: Arc::default(),
        })
    }

    /// The circuit of layers `start..end` with the layout that needs the smallest `k`: range tables of 8 to 13
    /// bits, each with enough limbs for checks at least [`MIN_RANGE_BITS`] wide (ties go to the wider table,
    /// which needs fewer lookups). Small slices get small tables, so their `k` is not held up by the table.
    pub fn fit(model: Arc<Model>, start: usize, end: usize) -> Result<Self, CircuitError> {
        let mut best: Option<(u32, Self)> = None;
        for bits in (8..=13).rev() {
            let params = LayoutParams {
                range_bits: bits,
                range_limbs: MIN_RANGE_BITS.div_ceil(bits),
                ..LayoutParams::default()
            };
            let c = Self::new(model.clone(), start, end, params)?;
            let k = c.min_k();
            if best.as_ref().is_none_or(|(bk, _)| k < *bk) {
                best = Some((k, c));
            }
        }
        best.map(|(_, c)| c).ok_or(CircuitError::BadSlice {
            start,
            end,
            layers: model.layers().len(),
        })
    }

    /// Adds the witness: the slice's boundary-in tensors. Runs the slice's forward pass to obtain the public
    /// boundary-out values.
    pub fn with_inputs(mut self, inputs: &TensorFile) -> Result<Self, CircuitError> {
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
        self.public = trace
            .outputs()
            .tensors()
            .iter()
            .flat_map(|(_, t)| t.data().iter().map(|&v| fe::<Fr>(v.into())))
            .collect();
        self.boundary = Some(Arc::new(boundary));
        Ok(self)
    }

    /// The public instance values: the boundary-out tensors, flattened in index order.
    pub fn public_outputs(&self) -> &[Fr] {
        &self.public
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
        let mut meta = ConstraintSystem::<Fr>::default();
        let config = configure_chips(&mut meta, self.params);
        let mut counter = RowCounter {
            chips: &config.chips,
            rows: Rows::new(),
        };
        let unknown = |_: i64, n: usize| vec![Value::unknown(); n];
        // Counting cannot fail: it runs the same mapping `new` has checked, with no witness.
        let _ = lay_out(&mut counter, &self.model, self.start, self.end, &unknown);
        counter.rows.used()
    }

    /// Rows the most recent synthesis of this circuit (or a clone of it) laid out, excluding the range table.
    pub fn rows_laid_out(&self) -> usize {
        self.laid_out.load(Ordering::Relaxed)
    }

    /// The smallest `k` whose usable rows hold both the layout and the range table.
    pub fn min_k(&self) -> u32 {
        let mut meta = ConstraintSystem::<Fr>::default();
        configure_chips(&mut meta, self.params);
        let reserved = meta.blinding_factors() + 1;
        let need = self
            .rows()
            .max(1 << self.params.range_bits)
            .max(self.public.len())
            + reserved;
        need.next_power_of_two().trailing_zeros().max(4)
    }
}

impl Circuit<Fr> for ChunkCircuit {
    type Config = ChunkConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = LayoutParams;

    fn without_witnesses(&self) -> Self {
        Self {
            boundary: None,
            public: Vec::new(),
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
        let mut rows = Rows::new();
        let boundary = |idx: i64, n: usize| match &self.boundary {
            Some(b) => b.get(&idx).map_or_else(
                || vec![Value::unknown(); n],
                |v| v.iter().map(|&x| Value::known(i128::from(x))).collect(),
            ),
            None => vec![Value::unknown(); n],
        };
        let public = {
            let mut ops = Real {
                chips: &config.chips,
                layouter: &mut layouter,
                rows: &mut rows,
            };
            lay_out(&mut ops, &self.model, self.start, self.end, &boundary)?
        };
        for (i, c) in public.iter().enumerate() {
            layouter.constrain_instance(c.cell, config.instance, i);
        }
        self.laid_out.store(rows.used(), Ordering::Relaxed);
        Ok(())
    }
}
