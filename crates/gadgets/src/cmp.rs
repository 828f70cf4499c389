//! `max(x, c)` and `min(x, c)` against a constant `c`: ReLU is `max(x, 0)`, ReLU6 adds `min(·, 6·sf)`.
//!
//! Slot layout: advice `x, b, diff, out`, fixed `c`. Gates: `b·(1 − b) = 0` (a real bit);
//! `diff = b·(x − c) + (1 − b)·(c − x − 1)`; and `out = b·x + (1 − b)·c` (max) or `out = b·c + (1 − b)·x` (min).
//! The range chip proves `diff ∈ [0, 2^R)`, so `b = 1` exactly when `x ≥ c`: the output is fully determined
//! for negative inputs too (zkml's ReLU left it free).

use halo2_proofs::circuit::{Layouter, Region, Value};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;

use crate::num::{assign_int, fe};
use crate::range::{copy, RangeChip};
use crate::{AssignedInt, Rows};

/// Which side of the comparison to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpMode {
    /// `max(x, c)`.
    Max,
    /// `min(x, c)`.
    Min,
}

/// One slot: advice `[x, b, diff, out]`, fixed `c`, selectors `[bit, max, min]`.
type Slot = ([Column<Advice>; 4], Column<Fixed>, [Selector; 3]);

/// Columns of the comparison chip.
#[derive(Clone, Debug)]
pub struct CmpConfig {
    /// Per slot: advice `[x, b, diff, out]`, fixed `c`, and the slot's selectors `[bit, max, min]`.
    slots: Vec<Slot>,
}

/// The comparison chip.
#[derive(Clone, Debug)]
pub struct CmpChip {
    config: CmpConfig,
}

/// One comparison's honest or tampered witness.
#[derive(Clone, Copy, Debug)]
pub struct CmpWitness {
    /// The bit `[x ≥ c]`.
    pub b: Value<i128>,
    /// The range-checked difference.
    pub diff: Value<i128>,
    /// The result.
    pub out: Value<i128>,
}

impl CmpChip {
    /// Configures slots of 4 advice columns over `columns`.
    ///
    /// Side effects: enables equality on every column; adds 1 fixed column per slot.
    pub fn configure<F: PrimeField>(
        meta: &mut ConstraintSystem<F>,
        columns: &[Column<Advice>],
    ) -> CmpConfig {
        assert!(columns.len() >= 4, "comparison needs 4 advice columns");
        let mut slots = Vec::new();
        for cols in columns.chunks_exact(4) {
            let (q_bit, q_max, q_min) = (meta.selector(), meta.selector(), meta.selector());
            let adv = [cols[0], cols[1], cols[2], cols[3]];
            let c = meta.fixed_column();
            for col in adv {
                meta.enable_equality(col);
            }
            let q = |m: &mut halo2_proofs::plonk::VirtualCells<'_, F>| {
                (
                    adv.map(|col| m.query_advice(col, Rotation::cur())),
                    m.query_fixed(c, Rotation::cur()),
                )
            };
            let one = || Expression::Constant(F::ONE);
            meta.create_gate("comparison bit and difference", |m| {
                let s = m.query_selector(q_bit);
                let ([x, b, diff, _], c) = q(m);
                vec![
                    s.clone() * b.clone() * (one() - b.clone()),
                    s * (diff
                        - (b.clone() * (x.clone() - c.clone()) + (one() - b) * (c - x - one()))),
                ]
            });
            meta.create_gate("max select", |m| {
                let s = m.query_selector(q_max);
                let ([x, b, _, out], c) = q(m);
                vec![s * (out - (b.clone() * x + (one() - b) * c))]
            });
            meta.create_gate("min select", |m| {
                let s = m.query_selector(q_min);
                let ([x, b, _, out], c) = q(m);
                vec![s * (out - (b.clone() * c + (one() - b) * x))]
            });
            slots.push((adv, c, [q_bit, q_max, q_min]));
        }
        CmpConfig { slots }
    }

    /// The chip for a configuration.
    pub fn construct(config: CmpConfig) -> Self {
        Self { config }
    }

    /// Comparisons per row.
    pub fn slots(&self) -> usize {
        self.config.slots.len()
    }

    /// The honest witness.
    pub fn witness(x: Value<i128>, c: i64, mode: CmpMode) -> CmpWitness {
        let c = i128::from(c);
        let b = x.map(|x| i128::from(x >= c));
        let diff = x.map(|x| if x >= c { x - c } else { c - x - 1 });
        let out = x.map(|x| match mode {
            CmpMode::Max => x.max(c),
            CmpMode::Min => x.min(c),
        });
        CmpWitness { b, diff, out }
    }

    /// `max`/`min` of every `(xᵢ, c, mode)`, with the differences range-checked by `range`.
    pub fn compare_many<F: PrimeField>(
        &self,
        layouter: &mut impl Layouter<F>,
        rows: &mut Rows,
        range: &RangeChip,
        items: &[(AssignedInt, i64, CmpMode)],
    ) -> Result<Vec<AssignedInt>, Error> {
        let base = rows.take(items.len().div_ceil(self.slots()));
        let (outs, checks) = layouter.assign_region(
            || "comparisons",
            |mut region| {
                let mut outs = Vec::with_capacity(items.len());
                let mut checks = Vec::with_capacity(items.len());
                for (i, (x, c, mode)) in items.iter().enumerate() {
                    let w = Self::witness(x.value, *c, *mode);
                    let (out, diff) = self.assign_slot(
                        &mut region,
                        base + i / self.slots(),
                        i % self.slots(),
                        x,
                        *c,
                        *mode,
                        w,
                    )?;
                    outs.push(out);
                    checks.push(diff);
                }
                Ok((outs, checks))
            },
        )?;
        range.check_many(layouter, rows, &checks)?;
        Ok(outs)
    }

    /// Low level: one slot with an explicit witness. Returns the output and the difference to range-check.
    #[allow(clippy::too_many_arguments)]
    pub fn assign_slot<F: PrimeField>(
        &self,
        region: &mut Region<'_, F>,
        offset: usize,
        slot: usize,
        x: &AssignedInt,
        c: i64,
        mode: CmpMode,
        w: CmpWitness,
    ) -> Result<(AssignedInt, AssignedInt), Error> {
        let ([cx, cb, cd, co], fc, [q_bit, q_max, q_min]) = self.config.slots[slot];
        q_bit.enable(region, offset)?;
        match mode {
            CmpMode::Max => q_max.enable(region, offset)?,
            CmpMode::Min => q_min.enable(region, offset)?,
        }
        region.assign_fixed(fc, offset, fe::<F>(c.into()));
        copy(region, cx, offset, x);
        assign_int(region, cb, offset, w.b);
        let diff = assign_int(region, cd, offset, w.diff);
        let out = assign_int(region, co, offset, w.out);
        Ok((out, diff))
    }
}
