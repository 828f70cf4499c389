//! `max(x, t)` and `min(x, t)` where `t` is a constant `c` or another cell `y`: ReLU is `max(x, 0)`, ReLU6 adds
//! `min(·, 6·sf)`, max pooling is a tree of `max(x, y)`.
//!
//! Slot layout: advice `x, y, b, diff, out`, fixed `c, use_y, is_min`; the threshold is `t = c + use_y·y`.
//! Gates: `b·(1 − b) = 0` (a real bit); `diff = b·(x − t) + (1 − b)·(t − x − 1)`; and, with
//! `M = b·x + (1 − b)·t` (the max), `out = M + is_min·(x + t − 2M)`: the max when `is_min = 0`, the min
//! `x + t − M` when `is_min = 1`. One selector enables every slot of a row; an unused slot holds zeros with
//! `b = 1`, which satisfy the gates. The range chip proves `diff ∈ [0, 2^R)`, so `b = 1` exactly when `x ≥ t`: the
//! output is fully determined for negative inputs too (zkml's ReLU left it free). With `use_y = 0` (a fixed
//! value) the `y` cell cannot influence anything.

use halo2_proofs::circuit::{Cell, Layouter, Region, Value};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;

use crate::num::{assign_fe, assign_int, copy_int, fe};
use crate::range::{CheckCount, RangeChip, Width};
use crate::slots::lay_out;
use crate::{AssignedInt, Rows};

/// Which side of the comparison to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpMode {
    /// `max(x, t)`.
    Max,
    /// `min(x, t)`.
    Min,
}

/// The threshold a value is compared with.
#[derive(Clone, Copy, Debug)]
pub enum Threshold<'a> {
    /// A constant, fixed in the verifying key.
    Const(i64),
    /// Another cell.
    Cell(&'a AssignedInt),
}

/// One slot: advice `[x, y, b, diff, out]`, fixed `[c, use_y, is_min]`.
type Slot = ([Column<Advice>; 5], [Column<Fixed>; 3]);

/// Columns of the comparison chip.
#[derive(Clone, Debug)]
pub struct CmpConfig {
    slots: Vec<Slot>,
    /// The row's selector: it enables the gates of every slot.
    q: Selector,
}

/// The comparison chip.
#[derive(Clone, Debug)]
pub struct CmpChip {
    config: CmpConfig,
}

/// One comparison's honest or tampered witness.
#[derive(Clone, Copy, Debug)]
pub struct CmpWitness {
    /// The bit `[x ≥ t]`.
    pub b: Value<i128>,
    /// The range-checked difference.
    pub diff: Value<i128>,
    /// The result.
    pub out: Value<i128>,
}

impl Threshold<'_> {
    fn value(&self) -> Value<i128> {
        match self {
            Threshold::Const(c) => Value::known(i128::from(*c)),
            Threshold::Cell(y) => y.value,
        }
    }
}

/// Rows and range checks `n` comparisons (or max-pairs) take over `slots` slots per row, counted by the rule the
/// chip lays out by ([`CmpChip::WIDTHS`]): the cost model's side of [`CmpChip::compare_many`] and
/// [`CmpChip::max_many`].
pub fn compare_cost(slots: usize, n: usize) -> (usize, CheckCount) {
    (n.div_ceil(slots), CheckCount::per_item(n, &CmpChip::WIDTHS))
}

impl CmpChip {
    /// The check a comparison's difference takes: the difference is as wide as the values compared, so a long
    /// check. The chip lays out by this and [`compare_cost`] counts by it.
    pub const WIDTHS: [Width; 1] = [Width::Long];

    /// Fixed columns the chip takes over `advice` advice columns (see [`Self::configure`]).
    pub fn fixed_columns(advice: usize) -> usize {
        3 * (advice / 5)
    }

    /// Configures slots of 5 advice columns over `columns`, slot `j` with its fixed `c, use_y, is_min` in
    /// columns `3j..3j+3` of `fixed` (which chips whose rows never overlap this chip's may share).
    ///
    /// Side effects: enables equality on every column.
    pub fn configure<F: PrimeField>(
        meta: &mut ConstraintSystem<F>,
        columns: &[Column<Advice>],
        fixed: &[Column<Fixed>],
    ) -> CmpConfig {
        assert!(columns.len() >= 5, "comparison needs 5 advice columns");
        assert!(
            fixed.len() >= Self::fixed_columns(columns.len()),
            "comparison needs 3 fixed columns per slot"
        );
        let mut slots = Vec::new();
        let sel = meta.selector();
        for (cols, f) in columns.chunks_exact(5).zip(fixed.chunks_exact(3)) {
            let adv = [cols[0], cols[1], cols[2], cols[3], cols[4]];
            let fix = [f[0], f[1], f[2]];
            for col in adv {
                meta.enable_equality(col);
            }
            // (x, t, b, diff, out) with t = c + use_y·y.
            let q = |m: &mut halo2_proofs::plonk::VirtualCells<'_, F>| {
                let [x, y, b, diff, out] = adv.map(|col| m.query_advice(col, Rotation::cur()));
                let [c, use_y] = [fix[0], fix[1]].map(|col| m.query_fixed(col, Rotation::cur()));
                (x, c + use_y * y, b, diff, out)
            };
            let one = || Expression::Constant(F::ONE);
            meta.create_gate("comparison bit and difference", |m| {
                let s = m.query_selector(sel);
                let (x, t, b, diff, _) = q(m);
                vec![
                    s.clone() * b.clone() * (one() - b.clone()),
                    s * (diff
                        - (b.clone() * (x.clone() - t.clone()) + (one() - b) * (t - x - one()))),
                ]
            });
            meta.create_gate("max or min select", |m| {
                let s = m.query_selector(sel);
                let (x, t, b, _, out) = q(m);
                let is_min = m.query_fixed(fix[2], Rotation::cur());
                let max = b.clone() * x.clone() + (one() - b) * t.clone();
                let two = Expression::Constant(F::from(2));
                vec![s * (out - max.clone() - is_min * (x + t - two * max))]
            });
            slots.push((adv, fix));
        }
        CmpConfig { slots, q: sel }
    }

    /// The chip for a configuration.
    pub fn construct(config: CmpConfig) -> Self {
        Self { config }
    }

    /// Comparisons per row.
    pub fn slots(&self) -> usize {
        self.config.slots.len()
    }

    /// The honest witness for `x` against threshold value `t`.
    pub fn witness(x: Value<i128>, t: Value<i128>, mode: CmpMode) -> CmpWitness {
        let xt = x.zip(t);
        let b = xt.map(|(x, t)| i128::from(x >= t));
        let diff = xt.map(|(x, t)| if x >= t { x - t } else { t - x - 1 });
        let out = xt.map(|(x, t)| match mode {
            CmpMode::Max => x.max(t),
            CmpMode::Min => x.min(t),
        });
        CmpWitness { b, diff, out }
    }

    /// `max`/`min` of every `(xᵢ, c, mode)` against a constant, with the differences range-checked by `range`.
    pub fn compare_many<F: PrimeField>(
        &self,
        layouter: &mut impl Layouter<F>,
        rows: &mut Rows,
        range: &RangeChip,
        items: &[(AssignedInt, i64, CmpMode)],
    ) -> Result<Vec<AssignedInt>, Error> {
        let items: Vec<_> = items
            .iter()
            .map(|(x, c, m)| (x, Threshold::Const(*c), *m))
            .collect();
        self.threshold_many(layouter, rows, range, &items)
    }

    /// `max(xᵢ, yᵢ)` of every pair of cells, with the differences range-checked by `range`.
    pub fn max_many<F: PrimeField>(
        &self,
        layouter: &mut impl Layouter<F>,
        rows: &mut Rows,
        range: &RangeChip,
        pairs: &[(AssignedInt, AssignedInt)],
    ) -> Result<Vec<AssignedInt>, Error> {
        let items: Vec<_> = pairs
            .iter()
            .map(|(x, y)| (x, Threshold::Cell(y), CmpMode::Max))
            .collect();
        self.threshold_many(layouter, rows, range, &items)
    }

    fn threshold_many<F: PrimeField>(
        &self,
        layouter: &mut impl Layouter<F>,
        rows: &mut Rows,
        range: &RangeChip,
        items: &[(&AssignedInt, Threshold<'_>, CmpMode)],
    ) -> Result<Vec<AssignedInt>, Error> {
        let (outs, checks) = lay_out(
            layouter,
            rows,
            "comparisons",
            self.slots(),
            items.len(),
            |region, offset, slot, i, checks| {
                let (x, t, mode) = &items[i];
                let w = Self::witness(x.value, t.value(), *mode);
                let (out, diff) = self.assign_slot(region, offset, slot, x, *t, *mode, w)?;
                for (w, cell) in Self::WIDTHS.into_iter().zip([diff]) {
                    checks.push(w, cell);
                }
                Ok(out)
            },
            |region, offset, first| self.fill_unused(region, offset, first),
        )?;
        range.check_all(layouter, rows, &checks)?;
        Ok(outs)
    }

    /// Low level: fills slots `first..` of the row at `offset` (whose selector a used slot enabled) with
    /// x = y = diff = out = 0, b = 1 and zero constants, which satisfy the gates. Their cells are never
    /// range-checked and never copied anywhere.
    pub fn fill_unused<F: PrimeField>(
        &self,
        region: &mut Region<'_, F>,
        offset: usize,
        first: usize,
    ) {
        for &([cx, cy, cb, cd, co], fix) in &self.config.slots[first..] {
            for (c, v) in [(cx, 0), (cy, 0), (cb, 1), (cd, 0), (co, 0)] {
                assign_int(region, c, offset, Value::known(v));
            }
            for f in fix {
                region.assign_fixed(f, offset, F::ZERO);
            }
        }
    }

    /// Low level: one slot with an explicit witness. Returns the output and the difference to range-check.
    #[allow(clippy::too_many_arguments)]
    pub fn assign_slot<F: PrimeField>(
        &self,
        region: &mut Region<'_, F>,
        offset: usize,
        slot: usize,
        x: &AssignedInt,
        t: Threshold<'_>,
        mode: CmpMode,
        w: CmpWitness,
    ) -> Result<(AssignedInt, AssignedInt), Error> {
        let values = [w.b, w.diff, w.out].map(|v| v.map(fe::<F>));
        let x_fe = (x.cell, x.value.map(fe::<F>));
        let [_, diff, out] = self.assign_slot_fe(region, offset, slot, x_fe, t, mode, values)?;
        Ok((
            AssignedInt {
                cell: out,
                value: w.out,
            },
            AssignedInt {
                cell: diff,
                value: w.diff,
            },
        ))
    }

    /// Low level: [`Self::assign_slot`] with the input `x` (its cell and value) and the witness `[b, diff, out]`
    /// as field elements, for witnesses no integer stands for. Returns the cells of `b, diff, out`.
    #[allow(clippy::too_many_arguments)]
    pub fn assign_slot_fe<F: PrimeField>(
        &self,
        region: &mut Region<'_, F>,
        offset: usize,
        slot: usize,
        (x_cell, x): (Cell, Value<F>),
        t: Threshold<'_>,
        mode: CmpMode,
        w: [Value<F>; 3],
    ) -> Result<[Cell; 3], Error> {
        let ([cx, cy, cb, cd, co], [fc, fuse, fmin]) = self.config.slots[slot];
        self.config.q.enable(region, offset)?;
        let is_min = match mode {
            CmpMode::Max => F::ZERO,
            CmpMode::Min => F::ONE,
        };
        region.assign_fixed(fmin, offset, is_min);
        let xc = assign_fe(region, cx, offset, x);
        region.constrain_equal(xc, x_cell);
        match t {
            Threshold::Const(c) => {
                region.assign_fixed(fc, offset, fe::<F>(c.into()));
                region.assign_fixed(fuse, offset, F::ZERO);
                assign_int(region, cy, offset, Value::known(0));
            }
            Threshold::Cell(y) => {
                region.assign_fixed(fc, offset, F::ZERO);
                region.assign_fixed(fuse, offset, F::ONE);
                copy_int(region, cy, offset, y);
            }
        }
        let [b, diff, out] = w;
        Ok([
            assign_fe(region, cb, offset, b),
            assign_fe(region, cd, offset, diff),
            assign_fe(region, co, offset, out),
        ])
    }
}
