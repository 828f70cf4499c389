//! `out = m₁·x + m₂·y + m₃·x·y + c` with fixed coefficients: addition, subtraction, adding a constant (a bias)
//! and the product of two activations.
//!
//! Slot layout: advice `x, y, out`, fixed `m₁, m₂, m₃, c`. Gate: `out = m₁·x + m₂·y + m₃·x·y + c` (degree 4 with
//! its selector, no more than the lookups already need).

use halo2_proofs::circuit::{Layouter, Region, Value};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Fixed, Selector};
use halo2_proofs::poly::Rotation;

use crate::num::{assign_int, copy_int, fe};
use crate::slots::lay_out;
use crate::{AssignedInt, Rows};

/// One slot: advice `[x, y, out]`, fixed `[m1, m2, m3, c]`.
type Slot = ([Column<Advice>; 3], [Column<Fixed>; 4]);

/// Columns of the affine chip.
#[derive(Clone, Debug)]
pub struct AffineConfig {
    /// Per slot: advice `[x, y, out]`, fixed `[m1, m2, m3, c]`.
    slots: Vec<Slot>,
    /// The row's selector: it enables the gate of every slot.
    q: Selector,
}

/// The affine chip.
#[derive(Clone, Debug)]
pub struct AffineChip {
    config: AffineConfig,
}

/// One affine operation: `m1·x + m2·y + xy·x·y + c`; `y = None` means `m2 = xy = 0`.
#[derive(Clone, Copy, Debug)]
pub struct Affine<'a> {
    /// First operand.
    pub x: &'a AssignedInt,
    /// Its coefficient.
    pub m1: i64,
    /// Optional second operand and its coefficient.
    pub y: Option<(&'a AssignedInt, i64)>,
    /// Coefficient of the product `x·y` (0 without `y`).
    pub xy: i64,
    /// Constant term.
    pub c: i64,
}

impl AffineChip {
    /// Fixed columns the chip takes over `advice` advice columns (see [`Self::configure`]).
    pub fn fixed_columns(advice: usize) -> usize {
        4 * (advice / 3)
    }

    /// Configures slots of 3 advice columns over `columns`, slot `j` with its fixed `m1, m2, m3, c` in columns
    /// `4j … 4j+3` of `fixed` (which chips whose rows never overlap this chip's may share).
    ///
    /// Side effects: enables equality on every column.
    pub fn configure<F: PrimeField>(
        meta: &mut ConstraintSystem<F>,
        columns: &[Column<Advice>],
        fixed: &[Column<Fixed>],
    ) -> AffineConfig {
        assert!(columns.len() >= 3, "affine needs 3 advice columns");
        assert!(
            fixed.len() >= Self::fixed_columns(columns.len()),
            "affine needs 4 fixed columns per slot"
        );
        let mut slots = Vec::new();
        // One selector for every slot of a row: unused slots hold zeros, which satisfy the gate.
        let q = meta.selector();
        for (cols, f) in columns.chunks_exact(3).zip(fixed.chunks_exact(4)) {
            let adv = [cols[0], cols[1], cols[2]];
            let fix = [f[0], f[1], f[2], f[3]];
            for col in adv {
                meta.enable_equality(col);
            }
            meta.create_gate("affine", |m| {
                let s = m.query_selector(q);
                let [x, y, out] = adv.map(|col| m.query_advice(col, Rotation::cur()));
                let [m1, m2, m3, c] = fix.map(|col| m.query_fixed(col, Rotation::cur()));
                vec![s * (out - m1 * x.clone() - m2 * y.clone() - m3 * x * y - c)]
            });
            slots.push((adv, fix));
        }
        AffineConfig { slots, q }
    }

    /// The chip for a configuration.
    pub fn construct(config: AffineConfig) -> Self {
        Self { config }
    }

    /// Operations per row.
    pub fn slots(&self) -> usize {
        self.config.slots.len()
    }

    /// Evaluates every operation.
    pub fn apply_many<F: PrimeField>(
        &self,
        layouter: &mut impl Layouter<F>,
        rows: &mut Rows,
        ops: &[Affine<'_>],
    ) -> Result<Vec<AssignedInt>, Error> {
        // Affine operations need no range checks: the slot loop's check list stays empty.
        let (outs, _) = lay_out(
            layouter,
            rows,
            "affine",
            self.slots(),
            ops.len(),
            |region, offset, slot, i, _| {
                let op = &ops[i];
                let honest = op.x.value.map(|x| x * i128::from(op.m1) + i128::from(op.c));
                let honest = match op.y {
                    Some((y, m2)) => honest
                        .zip(op.x.value)
                        .zip(y.value)
                        .map(|((h, x), y)| h + y * i128::from(m2) + x * y * i128::from(op.xy)),
                    None => honest,
                };
                self.assign_slot(region, offset, slot, op, honest)
            },
            |region, offset, first| self.fill_unused(region, offset, first),
        )?;
        Ok(outs)
    }

    /// Low level: fills slots `first..` of the row at `offset` (whose selector a used slot enabled) with
    /// zeros, cells and coefficients, which satisfy the gate. Their cells are never copied anywhere.
    pub fn fill_unused<F: PrimeField>(
        &self,
        region: &mut Region<'_, F>,
        offset: usize,
        first: usize,
    ) {
        for &(adv, fix) in &self.config.slots[first..] {
            for c in adv {
                assign_int(region, c, offset, Value::known(0));
            }
            for f in fix {
                region.assign_fixed(f, offset, F::ZERO);
            }
        }
    }

    /// Low level: one slot with an explicit output value.
    pub fn assign_slot<F: PrimeField>(
        &self,
        region: &mut Region<'_, F>,
        offset: usize,
        slot: usize,
        op: &Affine<'_>,
        out: Value<i128>,
    ) -> Result<AssignedInt, Error> {
        let ([cx, cy, co], [f1, f2, f3, fc]) = self.config.slots[slot];
        self.config.q.enable(region, offset)?;
        copy_int(region, cx, offset, op.x);
        match op.y {
            Some((y, m2)) => {
                copy_int(region, cy, offset, y);
                region.assign_fixed(f2, offset, fe::<F>(m2.into()));
                region.assign_fixed(f3, offset, fe::<F>(op.xy.into()));
            }
            None => {
                // m2 = 0 makes the free cell irrelevant.
                assign_int(region, cy, offset, Value::known(0));
                region.assign_fixed(f2, offset, F::ZERO);
                region.assign_fixed(f3, offset, F::ZERO);
            }
        }
        region.assign_fixed(f1, offset, fe::<F>(op.m1.into()));
        region.assign_fixed(fc, offset, fe::<F>(op.c.into()));
        Ok(assign_int(region, co, offset, out))
    }
}
