//! zkml's rounding division by a constant: `q = floor((2·m·a + d) / (2d))`, round half up.
//!
//! Slot layout: advice `a, q, r, rc, qs`, fixed `m, d`. Gates:
//! `2·m·a + d = 2d·q + r`, `rc = 2d − 1 − r`, `qs = q + 2^(R−1)`, where `R` is the range chip's width.
//! The range chip then proves `r, rc ∈ [0, 2^bits)` (short checks; `2d ≤ 2^bits` is required), hence
//! `0 ≤ r < 2d` (no off-by-one at exact halves), and `qs ∈ [0, 2^R)`, hence `|q| < 2^(R−1)`. Bounding `q`
//! matters: in the field every `r` has *some* `q`; only a small `q` makes the equation hold over the integers.
//! A caller whose very next step range-bounds `q` anyway (a comparison, whose checked difference bounds its
//! input) may skip the `qs` check ([`Quotient::BoundedByCaller`]); the `qs` cell and gate remain.
//! Precondition: `|m·a| < 2^200`, true for any product of range-checked values.

use halo2_proofs::circuit::{Layouter, Region, Value};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;

use crate::num::{assign_int, copy_int, fe};
use crate::range::RangeChip;
use crate::{AssignedInt, Rows};

/// One slot: advice `[a, q, r, rc, qs]`, fixed `[m, d]`.
type Slot = ([Column<Advice>; 5], [Column<Fixed>; 2]);

/// Columns of the rescale chip.
#[derive(Clone, Debug)]
pub struct RescaleConfig {
    /// Per slot: advice `[a, q, r, rc, qs]`, fixed `[m, d]`.
    slots: Vec<Slot>,
    /// The row's selector: it enables the gates of every slot.
    q: Selector,
    half_range: i128,
}

/// The rescale chip.
#[derive(Clone, Debug)]
pub struct RescaleChip {
    config: RescaleConfig,
}

/// Who bounds the quotient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quotient {
    /// The chip range-checks `q + 2^(R−1)`.
    Check,
    /// The caller's next step range-bounds `q` (for example a comparison against a constant).
    BoundedByCaller,
}

/// Rows `rescale_many` takes for `n` items with divisors `ds` (shared rows, long-check and short-check counts).
pub fn rescale_cost(
    slots: usize,
    short_bits: usize,
    ds: impl Iterator<Item = i64>,
    quotient: Quotient,
) -> (usize, usize, usize) {
    let (mut n, mut long, mut short) = (0usize, 0usize, 0usize);
    for d in ds {
        n += 1;
        if 2 * i128::from(d) <= 1i128 << short_bits {
            short += 2;
        } else {
            long += 2;
        }
        if quotient == Quotient::Check {
            long += 1;
        }
    }
    (n.div_ceil(slots), long, short)
}

/// One rescale's honest or tampered witness.
#[derive(Clone, Copy, Debug)]
pub struct RescaleWitness {
    /// The quotient.
    pub q: Value<i128>,
    /// The remainder `2ma + d − 2dq`.
    pub r: Value<i128>,
    /// The complement `2d − 1 − r`.
    pub rc: Value<i128>,
    /// The shifted quotient `q + 2^(R−1)`.
    pub qs: Value<i128>,
}

impl RescaleChip {
    /// Fixed columns the chip takes over `advice` advice columns (see [`Self::configure`]).
    pub fn fixed_columns(advice: usize) -> usize {
        2 * (advice / 5)
    }

    /// Configures slots of 5 advice columns over `columns`, slot `j` with its fixed `m, d` in columns `2j, 2j+1`
    /// of `fixed` (which chips whose rows never overlap this chip's may share); `range_bits` is the range
    /// chip's `max_bits()`.
    ///
    /// Side effects: enables equality on every column.
    pub fn configure<F: PrimeField>(
        meta: &mut ConstraintSystem<F>,
        columns: &[Column<Advice>],
        fixed: &[Column<Fixed>],
        range_bits: usize,
    ) -> RescaleConfig {
        assert!(columns.len() >= 5, "rescale needs 5 advice columns");
        assert!(
            fixed.len() >= Self::fixed_columns(columns.len()),
            "rescale needs 2 fixed columns per slot"
        );
        let half_range = 1i128 << (range_bits - 1);
        let mut slots = Vec::new();
        // One selector for every slot of a row: an unused slot holds a = q = r = 0, rc = −1, qs = 2^(R−1)
        // with m = d = 0, which satisfies the gates.
        let q = meta.selector();
        for (c, f) in columns.chunks_exact(5).zip(fixed.chunks_exact(2)) {
            let adv = [c[0], c[1], c[2], c[3], c[4]];
            let fix = [f[0], f[1]];
            for col in adv {
                meta.enable_equality(col);
            }
            meta.create_gate("rescale", |m| {
                let s = m.query_selector(q);
                let [a, qq, r, rc, qs] = adv.map(|col| m.query_advice(col, Rotation::cur()));
                let [mul, d] = fix.map(|col| m.query_fixed(col, Rotation::cur()));
                let two = Expression::Constant(fe::<F>(2));
                let one = Expression::Constant(F::ONE);
                vec![
                    s.clone()
                        * (two.clone() * mul * a + d.clone()
                            - two.clone() * d.clone() * qq.clone()
                            - r.clone()),
                    s.clone() * (rc - (two * d - one - r)),
                    s * (qs - qq - Expression::Constant(fe::<F>(half_range))),
                ]
            });
            slots.push((adv, fix));
        }
        RescaleConfig {
            slots,
            q,
            half_range,
        }
    }

    /// The chip for a configuration.
    pub fn construct(config: RescaleConfig) -> Self {
        Self { config }
    }

    /// Rescales per row.
    pub fn slots(&self) -> usize {
        self.config.slots.len()
    }

    /// The honest witness for `a`, `m`, `d`.
    pub fn witness(&self, a: Value<i128>, m: i64, d: i64) -> RescaleWitness {
        let (m, d) = (i128::from(m), i128::from(d));
        let q = a.map(|a| (2 * m * a + d).div_euclid(2 * d));
        let r = a.zip(q).map(|(a, q)| 2 * m * a + d - 2 * d * q);
        RescaleWitness {
            q,
            r,
            rc: r.map(|r| 2 * d - 1 - r),
            qs: q.map(|q| q + self.config.half_range),
        }
    }

    /// `round(m·aᵢ / dᵢ)` for every `(aᵢ, m, dᵢ)`, with all remainders and quotients range-checked by `range`.
    pub fn rescale_many<F: PrimeField>(
        &self,
        layouter: &mut impl Layouter<F>,
        rows: &mut Rows,
        range: &RangeChip,
        items: &[(AssignedInt, i64, i64)],
        quotient: Quotient,
    ) -> Result<Vec<AssignedInt>, Error> {
        for &(_, _, d) in items {
            if d <= 0 || (2 * i128::from(d)) > (1i128 << range.max_bits()) {
                return Err(Error::Synthesis);
            }
        }
        let base = rows.take(items.len().div_ceil(self.slots()));
        let (outs, short, long) = layouter.assign_region(
            || "rescale",
            |mut region| {
                let mut outs = Vec::with_capacity(items.len());
                let (mut short, mut long) = (
                    Vec::with_capacity(2 * items.len()),
                    Vec::with_capacity(items.len()),
                );
                for (i, (a, m, d)) in items.iter().enumerate() {
                    let w = self.witness(a.value, *m, *d);
                    let (q, [r, rc, qs]) = self.assign_slot(
                        &mut region,
                        base + i / self.slots(),
                        i % self.slots(),
                        a,
                        *m,
                        *d,
                        w,
                    )?;
                    outs.push(q);
                    // A remainder below 2d ≤ 2^bits needs one lookup; a larger divisor needs the long check.
                    if 2 * i128::from(*d) <= 1i128 << range.short_bits() {
                        short.extend([r, rc]);
                    } else {
                        long.extend([r, rc]);
                    }
                    if quotient == Quotient::Check {
                        long.push(qs);
                    }
                }
                let used = items.len() % self.slots();
                if used != 0 {
                    self.fill_unused(&mut region, base + items.len() / self.slots(), used);
                }
                Ok((outs, short, long))
            },
        )?;
        range.check_short_many(layouter, rows, &short)?;
        range.check_many(layouter, rows, &long)?;
        Ok(outs)
    }

    /// Low level: fills slots `first..` of the row at `offset` (whose selector a used slot enabled) with
    /// a = q = r = 0, rc = −1, qs = 2^(R−1) and m = d = 0, which satisfy the gates. Their cells are never
    /// range-checked and never copied anywhere.
    pub fn fill_unused<F: PrimeField>(
        &self,
        region: &mut Region<'_, F>,
        offset: usize,
        first: usize,
    ) {
        for &([ca, cq, cr, crc, cqs], [fm, fd]) in &self.config.slots[first..] {
            for (c, v) in [
                (ca, 0),
                (cq, 0),
                (cr, 0),
                (crc, -1),
                (cqs, self.config.half_range),
            ] {
                assign_int(region, c, offset, Value::known(v));
            }
            region.assign_fixed(fm, offset, F::ZERO);
            region.assign_fixed(fd, offset, F::ZERO);
        }
    }

    /// Low level: one slot with an explicit witness. Returns `q` and the cells to range-check: `r` and `rc`
    /// (short checks) and `qs` (a long check).
    #[allow(clippy::too_many_arguments)]
    pub fn assign_slot<F: PrimeField>(
        &self,
        region: &mut Region<'_, F>,
        offset: usize,
        slot: usize,
        a: &AssignedInt,
        m: i64,
        d: i64,
        w: RescaleWitness,
    ) -> Result<(AssignedInt, [AssignedInt; 3]), Error> {
        let ([ca, cq, cr, crc, cqs], [fm, fd]) = self.config.slots[slot];
        self.config.q.enable(region, offset)?;
        region.assign_fixed(fm, offset, fe::<F>(m.into()));
        region.assign_fixed(fd, offset, fe::<F>(d.into()));
        copy_int(region, ca, offset, a);
        let q = assign_int(region, cq, offset, w.q);
        let r = assign_int(region, cr, offset, w.r);
        let rc = assign_int(region, crc, offset, w.rc);
        let qs = assign_int(region, cqs, offset, w.qs);
        Ok((q, [r, rc, qs]))
    }
}
