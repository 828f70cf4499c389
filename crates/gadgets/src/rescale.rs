//! zkml's rounding division by a constant: `q = floor((2·m·a + d) / (2d))`, round half up.
//!
//! Slot layout: advice `a, q, r, rc, qs`, fixed `m, d, s`. Gates:
//! `2·m·a + d = 2d·q + r`, `rc = s·(2d − 1 − r)`, `qs = q + 2^(R−1)`, where `R` is the range chip's width.
//!
//! The remainder is checked one of two ways ([`RemainderCheck`]), on short checks (`[0, 2^bits)`) when
//! `2d ≤ 2^bits` and long checks (`[0, 2^R)`) otherwise:
//! - **two-sided**, `s = 1`: the range chip proves `r ∈ [0, B)` and `rc = 2d − 1 − r ∈ [0, B)`, hence
//!   `0 ≤ r < 2d` (no off-by-one at exact halves);
//! - **one-sided**, when `2d` is a power of two dividing `B`: `s = B/(2d)` and only `rc = s·(2d − 1 − r)` is
//!   checked. `r = 2ma + d − 2dq` is a small integer because `q` is bounded (below), so `s·(2d − 1 − r)` cannot
//!   wrap the field; its lying in `[0, B)` then means `2d − 1 − r ∈ [0, 2d)`, the same `0 ≤ r < 2d` for one lookup
//!   instead of two.
//!
//! `qs ∈ [0, 2^R)` proves `|q| < 2^(R−1)`. Bounding `q` matters: in the field every `r` has *some* `q`; only a
//! small `q` makes the equation hold over the integers (and makes `r` small, which the one-sided check needs).
//! A caller whose very next step range-bounds `q` anyway (a comparison, whose checked difference bounds its
//! input) may skip the `qs` check ([`Quotient::BoundedByCaller`]); the `qs` cell and gate remain.
//! Precondition: `|m·a| < 2^200`, true for any product of range-checked values.

use halo2_proofs::circuit::{Cell, Layouter, Region, Value};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;

use crate::num::{assign_fe, assign_int, copy_int, fe};
use crate::range::{CheckCount, RangeChip, Width};
use crate::slots::lay_out;
use crate::{AssignedInt, Rows};

/// One slot: advice `[a, q, r, rc, qs]`, fixed `[m, d, s]`.
type Slot = ([Column<Advice>; 5], [Column<Fixed>; 3]);

/// Columns of the rescale chip.
#[derive(Clone, Debug)]
pub struct RescaleConfig {
    /// Per slot: advice `[a, q, r, rc, qs]`, fixed `[m, d, s]`.
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

/// How one rescale's remainder is range-checked (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemainderCheck {
    /// Long checks (`[0, 2^R)`) instead of short ones (`[0, 2^bits)`).
    pub long: bool,
    /// The fixed `s`: 1 for the two-sided check, `B/(2d)` for the one-sided one.
    pub scale: i128,
    /// Only `rc` is checked.
    pub one_sided: bool,
}

impl RemainderCheck {
    /// The check for divisor `d` with short checks of `short_bits` and long checks of `long_bits`; `None` when
    /// `d ≤ 0` or `2d > 2^long_bits`.
    pub fn for_divisor(d: i64, short_bits: usize, long_bits: usize) -> Option<Self> {
        let two_d = 2 * i128::from(d);
        if d <= 0 || two_d > 1i128 << long_bits {
            return None;
        }
        let long = two_d > 1i128 << short_bits;
        let bound = 1i128 << if long { long_bits } else { short_bits };
        Some(if two_d.count_ones() == 1 {
            Self {
                long,
                scale: bound / two_d,
                one_sided: true,
            }
        } else {
            Self::two_sided(long)
        })
    }

    /// The two-sided check on the given width (long or short).
    pub fn two_sided(long: bool) -> Self {
        Self {
            long,
            scale: 1,
            one_sided: false,
        }
    }

    /// The checks a rescale's cells `[r, rc, qs]` take, in layout order: `r` only under a two-sided check and
    /// `qs` only when the quotient takes its own (long) check. The one rule [`RescaleChip::rescale_many`] lays
    /// out by and [`rescale_cost`] counts by.
    pub fn widths(&self, quotient: Quotient) -> [Option<Width>; 3] {
        // A remainder below 2d ≤ 2^bits takes short checks; a larger divisor, long ones.
        let w = if self.long { Width::Long } else { Width::Short };
        [
            (!self.one_sided).then_some(w),
            Some(w),
            (quotient == Quotient::Check).then_some(Width::Long),
        ]
    }
}

/// Shared rows and range checks `rescale_many` takes for items with divisors `ds`. Divisors
/// [`RemainderCheck::for_divisor`] refuses are counted as a two-sided long check (`rescale_many` refuses them).
pub fn rescale_cost(
    slots: usize,
    short_bits: usize,
    long_bits: usize,
    ds: impl Iterator<Item = i64>,
    quotient: Quotient,
) -> (usize, CheckCount) {
    let (mut n, mut count) = (0usize, CheckCount::default());
    for d in ds {
        n += 1;
        let check = RemainderCheck::for_divisor(d, short_bits, long_bits)
            .unwrap_or(RemainderCheck::two_sided(true));
        for w in check.widths(quotient).into_iter().flatten() {
            count.add(w);
        }
    }
    (n.div_ceil(slots), count)
}

/// One rescale's honest or tampered witness.
#[derive(Clone, Copy, Debug)]
pub struct RescaleWitness {
    /// The quotient.
    pub q: Value<i128>,
    /// The remainder `2ma + d − 2dq`.
    pub r: Value<i128>,
    /// The scaled complement `s·(2d − 1 − r)`.
    pub rc: Value<i128>,
    /// The shifted quotient `q + 2^(R−1)`.
    pub qs: Value<i128>,
}

impl RescaleChip {
    /// Fixed columns the chip takes over `advice` advice columns (see [`Self::configure`]).
    pub fn fixed_columns(advice: usize) -> usize {
        3 * (advice / 5)
    }

    /// Configures slots of 5 advice columns over `columns`, slot `j` with its fixed `m, d, s` in columns `3j..3j+3`
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
            "rescale needs 3 fixed columns per slot"
        );
        let half_range = 1i128 << (range_bits - 1);
        let mut slots = Vec::new();
        // One selector for every slot of a row: an unused slot holds a = q = r = rc = 0, qs = 2^(R−1)
        // with m = d = s = 0, which satisfies the gates.
        let q = meta.selector();
        for (c, f) in columns.chunks_exact(5).zip(fixed.chunks_exact(3)) {
            let adv = [c[0], c[1], c[2], c[3], c[4]];
            let fix = [f[0], f[1], f[2]];
            for col in adv {
                meta.enable_equality(col);
            }
            meta.create_gate("rescale", |m| {
                let s = m.query_selector(q);
                let [a, qq, r, rc, qs] = adv.map(|col| m.query_advice(col, Rotation::cur()));
                let [mul, d, scale] = fix.map(|col| m.query_fixed(col, Rotation::cur()));
                let two = Expression::Constant(fe::<F>(2));
                let one = Expression::Constant(F::ONE);
                vec![
                    s.clone()
                        * (two.clone() * mul * a + d.clone()
                            - two.clone() * d.clone() * qq.clone()
                            - r.clone()),
                    s.clone() * (rc - scale * (two * d - one - r)),
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

    /// The honest witness for `a`, `m`, `d` under a remainder check with scale `s`.
    pub fn witness(&self, a: Value<i128>, m: i64, d: i64, s: i128) -> RescaleWitness {
        let (m, d) = (i128::from(m), i128::from(d));
        let q = a.map(|a| (2 * m * a + d).div_euclid(2 * d));
        let r = a.zip(q).map(|(a, q)| 2 * m * a + d - 2 * d * q);
        RescaleWitness {
            q,
            r,
            rc: r.map(|r| s * (2 * d - 1 - r)),
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
        let checks = items
            .iter()
            .map(|&(_, _, d)| {
                RemainderCheck::for_divisor(d, range.short_bits(), range.max_bits())
                    .ok_or(Error::Synthesis)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (outs, to_check) = lay_out(
            layouter,
            rows,
            "rescale",
            self.slots(),
            items.len(),
            |region, offset, slot, i, to_check| {
                let ((a, m, d), check) = (&items[i], &checks[i]);
                let w = self.witness(a.value, *m, *d, check.scale);
                let (q, cells) =
                    self.assign_slot(region, offset, slot, a, (*m, *d, check.scale), w)?;
                for (cell, width) in cells.into_iter().zip(check.widths(quotient)) {
                    if let Some(width) = width {
                        to_check.push(width, cell);
                    }
                }
                Ok(q)
            },
            |region, offset, first| self.fill_unused(region, offset, first),
        )?;
        range.check_all(layouter, rows, &to_check)?;
        Ok(outs)
    }

    /// Low level: fills slots `first..` of the row at `offset` (whose selector a used slot enabled) with
    /// a = q = r = rc = 0, qs = 2^(R−1) and m = d = s = 0, which satisfy the gates. Their cells are never
    /// range-checked and never copied anywhere.
    pub fn fill_unused<F: PrimeField>(
        &self,
        region: &mut Region<'_, F>,
        offset: usize,
        first: usize,
    ) {
        for &([ca, cq, cr, crc, cqs], [fm, fd, fs]) in &self.config.slots[first..] {
            for (c, v) in [
                (ca, 0),
                (cq, 0),
                (cr, 0),
                (crc, 0),
                (cqs, self.config.half_range),
            ] {
                assign_int(region, c, offset, Value::known(v));
            }
            region.assign_fixed(fm, offset, F::ZERO);
            region.assign_fixed(fd, offset, F::ZERO);
            region.assign_fixed(fs, offset, F::ZERO);
        }
    }

    /// Low level: one slot with an explicit witness and fixed `(m, d, s)`. Returns `q` and the cells to
    /// range-check: `r` and `rc` (only `rc` under a one-sided check) and `qs` (a long check).
    pub fn assign_slot<F: PrimeField>(
        &self,
        region: &mut Region<'_, F>,
        offset: usize,
        slot: usize,
        a: &AssignedInt,
        mds: (i64, i64, i128),
        w: RescaleWitness,
    ) -> Result<(AssignedInt, [AssignedInt; 3]), Error> {
        let values = [w.q, w.r, w.rc, w.qs];
        let [q, r, rc, qs] =
            self.assign_slot_fe(region, offset, slot, a, mds, values.map(|v| v.map(fe::<F>)))?;
        let [q, r, rc, qs] = [(q, w.q), (r, w.r), (rc, w.rc), (qs, w.qs)]
            .map(|(cell, value)| AssignedInt { cell, value });
        Ok((q, [r, rc, qs]))
    }

    /// Low level: [`Self::assign_slot`] with the witness `[q, r, rc, qs]` as field elements, for witnesses no
    /// integer stands for (a quotient that is not an integer). Returns the cells of `q, r, rc, qs`.
    pub fn assign_slot_fe<F: PrimeField>(
        &self,
        region: &mut Region<'_, F>,
        offset: usize,
        slot: usize,
        a: &AssignedInt,
        (m, d, s): (i64, i64, i128),
        w: [Value<F>; 4],
    ) -> Result<[Cell; 4], Error> {
        let ([ca, cq, cr, crc, cqs], [fm, fd, fs]) = self.config.slots[slot];
        self.config.q.enable(region, offset)?;
        region.assign_fixed(fm, offset, fe::<F>(m.into()));
        region.assign_fixed(fd, offset, fe::<F>(d.into()));
        region.assign_fixed(fs, offset, fe::<F>(s));
        copy_int(region, ca, offset, a);
        let [q, r, rc, qs] = w;
        Ok([
            assign_fe(region, cq, offset, q),
            assign_fe(region, cr, offset, r),
            assign_fe(region, crc, offset, rc),
            assign_fe(region, cqs, offset, qs),
        ])
    }
}
