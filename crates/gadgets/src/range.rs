//! Range checks independent of `k`, against one fixed table `[0, 2^bits)`:
//! - long checks, `v ∈ [0, 2^(limbs·bits))`: a slot is `v, limb_0, …, limb_{n-1}` with the gate
//!   `v = Σ limb_i · 2^(i·bits)` and one lookup per limb;
//! - short checks, `v ∈ [0, 2^bits)`: the value itself is looked up (remainders of a rescale by `d` with
//!   `2d ≤ 2^bits` need nothing more).
//!
//! The chip owns its columns (they are not shared with other chips), so its rows come from their own cursors
//! in [`Rows`] and run beside the rest of the circuit. A table of `2^bits` rows needs `k > bits`; the checked
//! range grows with `limbs`, not with `k`.

use halo2_proofs::circuit::{Cell, Layouter, Region, Value};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::plonk::{
    Advice, Column, ConstraintSystem, Error, Expression, Selector, TableColumn,
};
use halo2_proofs::poly::Rotation;

use crate::num::{assign_fe, assign_int, copy_int, fe};
use crate::{AssignedInt, Rows};

/// Columns and table of the range chip.
#[derive(Clone, Debug)]
pub struct RangeConfig {
    bits: usize,
    limbs: usize,
    table: TableColumn,
    /// Per long slot: the checked value's column, then its limb columns.
    slots: Vec<(Column<Advice>, Vec<Column<Advice>>)>,
    q: Selector,
    /// Short-check columns, each looked up directly.
    short: Vec<Column<Advice>>,
    q_short: Selector,
}

/// The range-check chip.
#[derive(Clone, Debug)]
pub struct RangeChip {
    config: RangeConfig,
}

/// The check a cell takes: short (`[0, 2^bits)`, one lookup) or long (`[0, 2^R)`, one lookup per limb).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// `[0, 2^bits)`, on the short-check columns.
    Short,
    /// `[0, 2^R)`, on the long-check slots.
    Long,
}

/// How many checks of each width a chip call sends to the range chip: the cost model's side of [`Checks`],
/// counted from the same per-cell rule the chip lays out by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckCount {
    /// Short checks.
    pub short: usize,
    /// Long checks.
    pub long: usize,
}

impl CheckCount {
    /// The checks of `n` items whose cells each take the checks `widths`.
    pub fn per_item(n: usize, widths: &[Width]) -> Self {
        let mut count = Self::default();
        for w in widths {
            count.add(*w);
        }
        Self {
            short: n * count.short,
            long: n * count.long,
        }
    }

    /// Counts one check of `width`.
    pub fn add(&mut self, width: Width) {
        match width {
            Width::Short => self.short += 1,
            Width::Long => self.long += 1,
        }
    }
}

/// The cells a chip call sends to the range chip, gathered in layout order while it assigns its rows, and
/// checked together by [`RangeChip::check_all`].
#[derive(Debug, Default)]
pub struct Checks {
    short: Vec<AssignedInt>,
    long: Vec<AssignedInt>,
}

impl Checks {
    /// Adds `cell` to the checks of `width`.
    pub fn push(&mut self, width: Width, cell: AssignedInt) {
        match width {
            Width::Short => self.short.push(cell),
            Width::Long => self.long.push(cell),
        }
    }
}

impl RangeChip {
    /// Configures long checks over `columns` (grouped into slots of `limbs + 1` columns; leftovers unused) and
    /// short checks over `short`. The columns must not be shared with other chips.
    ///
    /// Side effects: enables equality on the value and short columns; adds one lookup per limb column and per
    /// short column, and one table.
    pub fn configure<F: PrimeField>(
        meta: &mut ConstraintSystem<F>,
        columns: &[Column<Advice>],
        short: &[Column<Advice>],
        bits: usize,
        limbs: usize,
    ) -> RangeConfig {
        assert!(
            bits >= 1 && limbs >= 1,
            "range chip needs at least one limb of one bit"
        );
        assert!(
            bits * limbs < 250,
            "checked range must stay far below the field size"
        );
        let per = limbs + 1;
        assert!(
            columns.len() >= per,
            "range chip needs at least {per} advice columns"
        );
        let q = meta.complex_selector();
        let table = meta.lookup_table_column();
        let slots: Vec<_> = columns
            .chunks_exact(per)
            .map(|c| (c[0], c[1..].to_vec()))
            .collect();
        for (v, ls) in &slots {
            meta.enable_equality(*v);
            meta.create_gate("range recomposition", |m| {
                let s = m.query_selector(q);
                let v = m.query_advice(*v, Rotation::cur());
                let sum =
                    ls.iter()
                        .enumerate()
                        .fold(Expression::Constant(F::ZERO), |acc, (i, l)| {
                            acc + m.query_advice(*l, Rotation::cur())
                                * Expression::Constant(fe::<F>(1i128 << (i * bits)))
                        });
                vec![s * (v - sum)]
            });
            for l in ls {
                meta.lookup("range limb", |m| {
                    let s = m.query_selector(q);
                    vec![(s * m.query_advice(*l, Rotation::cur()), table)]
                });
            }
        }
        let q_short = meta.complex_selector();
        for c in short {
            meta.enable_equality(*c);
            meta.lookup("range short", |m| {
                let s = m.query_selector(q_short);
                vec![(s * m.query_advice(*c, Rotation::cur()), table)]
            });
        }
        RangeConfig {
            bits,
            limbs,
            table,
            slots,
            q,
            short: short.to_vec(),
            q_short,
        }
    }

    /// The chip for a configuration.
    pub fn construct(config: RangeConfig) -> Self {
        Self { config }
    }

    /// The checked range is `[0, 2^max_bits())`.
    pub fn max_bits(&self) -> usize {
        self.config.bits * self.config.limbs
    }

    /// Checks per row.
    pub fn slots(&self) -> usize {
        self.config.slots.len()
    }

    /// Rows `n` long checks take.
    pub fn rows_for(&self, n: usize) -> usize {
        n.div_ceil(self.slots())
    }

    /// The bits of a short check: `[0, 2^short_bits())`.
    pub fn short_bits(&self) -> usize {
        self.config.bits
    }

    /// Rows `n` short checks take.
    pub fn short_rows_for(&self, n: usize) -> usize {
        n.div_ceil(self.config.short.len().max(1))
    }

    /// Runs every check in `checks`: the short ones, then the long ones (see [`Self::check_short_many`] and
    /// [`Self::check_many`]).
    pub fn check_all<F: PrimeField>(
        &self,
        layouter: &mut impl Layouter<F>,
        rows: &mut Rows,
        checks: &Checks,
    ) -> Result<(), Error> {
        self.check_short_many(layouter, rows, &checks.short)?;
        self.check_many(layouter, rows, &checks.long)
    }

    /// Reserves the rows [`Self::check_all`] takes for `count` checks, laying nothing out (the cost model).
    pub fn take_rows(&self, rows: &mut Rows, count: CheckCount) {
        rows.take_short(self.short_rows_for(count.short));
        rows.take_long(self.rows_for(count.long));
    }

    /// Proves every value lies in `[0, 2^short_bits())` by a direct lookup. Fails at synthesis if a known value
    /// does not, or if the chip has no short columns.
    pub fn check_short_many<F: PrimeField>(
        &self,
        layouter: &mut impl Layouter<F>,
        rows: &mut Rows,
        values: &[AssignedInt],
    ) -> Result<(), Error> {
        let max = 1i128 << self.config.bits;
        for v in values {
            v.value.error_if_known_and(|&x| !(0..max).contains(&x))?;
        }
        if values.is_empty() {
            return Ok(());
        }
        if self.config.short.is_empty() {
            return Err(Error::Synthesis);
        }
        let base = rows.take_short(self.short_rows_for(values.len()));
        let cols = &self.config.short;
        layouter.assign_region(
            || "short range checks",
            |mut region| {
                for (row, chunk) in values.chunks(cols.len()).enumerate() {
                    self.config.q_short.enable(&mut region, base + row)?;
                    for (col, v) in cols
                        .iter()
                        .zip(chunk.iter().map(Some).chain(std::iter::repeat(None)))
                    {
                        match v {
                            Some(v) => {
                                copy_int(&mut region, *col, base + row, v);
                            }
                            None => {
                                assign_int(&mut region, *col, base + row, Value::known(0));
                            }
                        }
                    }
                }
                Ok(())
            },
        )
    }

    /// Low level: one short check with an explicit value copied from `source` (tests try values outside the table).
    pub fn assign_short<F: PrimeField>(
        &self,
        region: &mut Region<'_, F>,
        offset: usize,
        slot: usize,
        source: &AssignedInt,
        value: Value<i128>,
    ) -> Result<(), Error> {
        self.config.q_short.enable(region, offset)?;
        for (i, col) in self.config.short.iter().enumerate() {
            if i == slot {
                let c = assign_int(region, *col, offset, value);
                region.constrain_equal(c.cell, source.cell);
            } else {
                assign_int(region, *col, offset, Value::known(0));
            }
        }
        Ok(())
    }

    /// Fills the lookup table with `0 .. 2^bits`.
    pub fn load<F: PrimeField>(&self, layouter: &mut impl Layouter<F>) -> Result<(), Error> {
        layouter.assign_table(
            || "range table",
            |mut t| {
                for i in 0..(1usize << self.config.bits) {
                    t.assign_cell(
                        || "range",
                        self.config.table,
                        i,
                        || Value::known(F::from(i as u64)),
                    )?;
                }
                Ok(())
            },
        )
    }

    /// The honest limbs of `v` (little-endian, `bits` each).
    pub fn limbs_of(&self, v: Value<i128>) -> Vec<Value<i128>> {
        let (bits, n) = (self.config.bits, self.config.limbs);
        (0..n)
            .map(|i| v.map(|v| (v >> (i * bits)) & ((1i128 << bits) - 1)))
            .collect()
    }

    /// Proves every value lies in `[0, 2^max_bits())`. Fails at synthesis if a known value does not.
    pub fn check_many<F: PrimeField>(
        &self,
        layouter: &mut impl Layouter<F>,
        rows: &mut Rows,
        values: &[AssignedInt],
    ) -> Result<(), Error> {
        let max = 1i128 << self.max_bits();
        for v in values {
            v.value.error_if_known_and(|&x| !(0..max).contains(&x))?;
        }
        if values.is_empty() {
            return Ok(());
        }
        let base = rows.take_long(self.rows_for(values.len()));
        layouter.assign_region(
            || "range checks",
            |mut region| {
                for (row, chunk) in values.chunks(self.slots()).enumerate() {
                    for (slot, v) in chunk.iter().enumerate() {
                        let limbs = self.limbs_of(v.value);
                        self.assign_slot(&mut region, base + row, slot, Some(v), v.value, &limbs)?;
                    }
                    // Unused slots of the last row hold zeros, which pass.
                    for slot in chunk.len()..self.slots() {
                        let zeros = vec![Value::known(0); self.config.limbs];
                        self.assign_slot(
                            &mut region,
                            base + row,
                            slot,
                            None,
                            Value::known(0),
                            &zeros,
                        )?;
                    }
                }
                Ok(())
            },
        )
    }

    /// Low level: assigns one slot with explicit witnesses (tests use it to try tampered limbs).
    /// `source`, when given, is copied into the value cell.
    pub fn assign_slot<F: PrimeField>(
        &self,
        region: &mut Region<'_, F>,
        offset: usize,
        slot: usize,
        source: Option<&AssignedInt>,
        value: Value<i128>,
        limbs: &[Value<i128>],
    ) -> Result<(), Error> {
        let limbs: Vec<_> = limbs.iter().map(|l| l.map(fe::<F>)).collect();
        self.assign_slot_fe(
            region,
            offset,
            slot,
            source.map(|s| s.cell),
            value.map(fe::<F>),
            &limbs,
        )
    }

    /// Low level: [`Self::assign_slot`] with field values, for witnesses no integer stands for.
    pub fn assign_slot_fe<F: PrimeField>(
        &self,
        region: &mut Region<'_, F>,
        offset: usize,
        slot: usize,
        source: Option<Cell>,
        value: Value<F>,
        limbs: &[Value<F>],
    ) -> Result<(), Error> {
        let (vcol, lcols) = &self.config.slots[slot];
        self.config.q.enable(region, offset)?;
        let c = assign_fe(region, *vcol, offset, value);
        if let Some(s) = source {
            region.constrain_equal(c, s);
        }
        for (col, l) in lcols.iter().zip(limbs) {
            assign_fe(region, *col, offset, *l);
        }
        Ok(())
    }
}
