//! `clamp(x, 0, h)`, ReLU6's clamp (`h = 6·sf`), in one slot with one long and one short range check, where
//! the comparison chip takes two slots and two long checks (`max(x, 0)`, then `min(·, h)`).
//!
//! Slot layout: advice `x, r, t, u, out`, fixed `h`. The region `r` is a trit: 0 when `0 ≤ x ≤ h`, 1 when
//! `x < 0`, 2 when `x > h` (`x = h` may take 0 or 2: both give `h`). With its Lagrange indicators
//! `mid = (1 − r)(2 − r)/2`, `lo = r(2 − r)`, `hi = r(r − 1)/2`, the gates are
//! - `r(r − 1)(r − 2) = 0` (so exactly one indicator is 1),
//! - `t = lo·(−1 − x) + hi·(x − h) + mid·x`,
//! - `u = mid·(h − x)`,
//! - `out = hi·h + mid·x`.
//!
//! The range chip proves `t ∈ [0, 2^R)` (a long check) and `u ∈ [0, 2^bits)` (a short check; `h < 2^bits` is
//! required, else `u` takes a long check too). So: `r = 1` only if `x ≤ −1` (output 0); `r = 2` only if `x ≥ h`
//! (output `h`); `r = 0` only if `0 ≤ x` (from `t`) and `x ≤ h` (from `u`: `x` is already a small integer, so
//! `h − x` cannot wrap), output `x`. Every `x` has its one right output, and in every region `x` is bounded by
//! `t`, so a rescale before the clamp may leave its quotient to it ([`crate::rescale::Quotient::BoundedByCaller`]).

use halo2_proofs::circuit::{Layouter, Region, Value};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;

use crate::num::{assign_int, copy_int, fe};
use crate::range::{CheckCount, RangeChip, Width};
use crate::slots::lay_out;
use crate::{AssignedInt, Rows};

/// One slot: advice `[x, r, t, u, out]`, fixed `h`.
type Slot = ([Column<Advice>; 5], Column<Fixed>);

/// Columns of the clamp chip.
#[derive(Clone, Debug)]
pub struct ClampConfig {
    slots: Vec<Slot>,
    /// The row's selector: it enables the gates of every slot.
    q: Selector,
}

/// The clamp chip.
#[derive(Clone, Debug)]
pub struct ClampChip {
    config: ClampConfig,
}

/// One clamp's honest or tampered witness.
#[derive(Clone, Copy, Debug)]
pub struct ClampWitness {
    /// The region: 0 inside `[0, h]`, 1 below, 2 above.
    pub r: Value<i128>,
    /// The long-checked distance.
    pub t: Value<i128>,
    /// The short-checked headroom `h − x` (inside; 0 elsewhere).
    pub u: Value<i128>,
    /// The result.
    pub out: Value<i128>,
}

/// Shared rows and range checks `clamp_many` takes for items with bounds `hs`.
pub fn clamp_cost(
    slots: usize,
    short_bits: usize,
    hs: impl Iterator<Item = i64>,
) -> (usize, CheckCount) {
    let (mut n, mut count) = (0usize, CheckCount::default());
    for h in hs {
        n += 1;
        for w in ClampChip::widths(h, short_bits) {
            count.add(w);
        }
    }
    (n.div_ceil(slots), count)
}

impl ClampChip {
    /// Fixed columns the chip takes over `advice` advice columns (see [`Self::configure`]).
    pub fn fixed_columns(advice: usize) -> usize {
        advice / 5
    }

    /// Configures slots of 5 advice columns over `columns`, slot `j` with its fixed `h` in column `j` of
    /// `fixed` (which chips whose rows never overlap this chip's may share).
    ///
    /// Side effects: enables equality on every column.
    pub fn configure<F: PrimeField>(
        meta: &mut ConstraintSystem<F>,
        columns: &[Column<Advice>],
        fixed: &[Column<Fixed>],
    ) -> ClampConfig {
        assert!(columns.len() >= 5, "clamp needs 5 advice columns");
        assert!(
            fixed.len() >= Self::fixed_columns(columns.len()),
            "clamp needs 1 fixed column per slot"
        );
        let mut slots = Vec::new();
        let sel = meta.selector();
        for (cols, &fh) in columns.chunks_exact(5).zip(fixed) {
            let adv = [cols[0], cols[1], cols[2], cols[3], cols[4]];
            for col in adv {
                meta.enable_equality(col);
            }
            meta.create_gate("clamp", |m| {
                let s = m.query_selector(sel);
                let [x, r, t, u, out] = adv.map(|col| m.query_advice(col, Rotation::cur()));
                let h = m.query_fixed(fh, Rotation::cur());
                let c = |v: u64| Expression::Constant(F::from(v));
                let half = Expression::Constant(F::TWO_INV);
                let mid = (c(1) - r.clone()) * (c(2) - r.clone()) * half.clone();
                let lo = r.clone() * (c(2) - r.clone());
                let hi = r.clone() * (r.clone() - c(1)) * half;
                vec![
                    s.clone() * r.clone() * (r.clone() - c(1)) * (r - c(2)),
                    s.clone()
                        * (t - (lo * (c(0) - c(1) - x.clone())
                            + hi.clone() * (x.clone() - h.clone())
                            + mid.clone() * x.clone())),
                    s.clone() * (u - mid.clone() * (h.clone() - x.clone())),
                    s * (out - (hi * h + mid * x)),
                ]
            });
            slots.push((adv, fh));
        }
        ClampConfig { slots, q: sel }
    }

    /// The chip for a configuration.
    pub fn construct(config: ClampConfig) -> Self {
        Self { config }
    }

    /// Clamps per row.
    pub fn slots(&self) -> usize {
        self.config.slots.len()
    }

    /// Whether `h`'s headroom takes a short check (`h < 2^short_bits`); a long one otherwise.
    pub fn short_headroom(h: i64, short_bits: usize) -> bool {
        i128::from(h) < 1i128 << short_bits
    }

    /// The checks a clamp's cells `[t, u]` take, in layout order: the distance `t` is as wide as `x`, a long
    /// check; the headroom `u ≤ h` is short when [`Self::short_headroom`]. The one rule
    /// [`Self::clamp_many`] lays out by and [`clamp_cost`] counts by.
    pub fn widths(h: i64, short_bits: usize) -> [Width; 2] {
        let u = if Self::short_headroom(h, short_bits) {
            Width::Short
        } else {
            Width::Long
        };
        [Width::Long, u]
    }

    /// The honest witness for `x` clamped to `[0, h]`.
    pub fn witness(x: Value<i128>, h: i64) -> ClampWitness {
        let h = i128::from(h);
        let r = x.map(|x| {
            if x < 0 {
                1
            } else if x > h {
                2
            } else {
                0
            }
        });
        let t = x.map(|x| {
            if x < 0 {
                -1 - x
            } else if x > h {
                x - h
            } else {
                x
            }
        });
        let u = x.map(|x| if (0..=h).contains(&x) { h - x } else { 0 });
        ClampWitness {
            r,
            t,
            u,
            out: x.map(|x| x.clamp(0, h)),
        }
    }

    /// `clamp(xᵢ, 0, hᵢ)` for every `(xᵢ, hᵢ)` (`hᵢ ≥ 0`), with the distances and headrooms range-checked by
    /// `range`.
    pub fn clamp_many<F: PrimeField>(
        &self,
        layouter: &mut impl Layouter<F>,
        rows: &mut Rows,
        range: &RangeChip,
        items: &[(AssignedInt, i64)],
    ) -> Result<Vec<AssignedInt>, Error> {
        if items.is_empty() {
            return Ok(vec![]);
        }
        if items
            .iter()
            .any(|&(_, h)| h < 0 || i128::from(h) >= 1i128 << range.max_bits())
        {
            return Err(Error::Synthesis);
        }
        let (outs, checks) = lay_out(
            layouter,
            rows,
            "clamps",
            self.slots(),
            items.len(),
            |region, offset, slot, i, checks| {
                let (x, h) = &items[i];
                let w = Self::witness(x.value, *h);
                let (out, cells) = self.assign_slot(region, offset, slot, x, *h, w)?;
                for (cell, width) in cells.into_iter().zip(Self::widths(*h, range.short_bits())) {
                    checks.push(width, cell);
                }
                Ok(out)
            },
            |region, offset, first| self.fill_unused(region, offset, first),
        )?;
        range.check_all(layouter, rows, &checks)?;
        Ok(outs)
    }

    /// Low level: fills slots `first..` of the row at `offset` (whose selector a used slot enabled) with
    /// x = r = t = u = out = 0 and h = 0, which satisfy the gates. Their cells are never range-checked and never
    /// copied anywhere.
    pub fn fill_unused<F: PrimeField>(
        &self,
        region: &mut Region<'_, F>,
        offset: usize,
        first: usize,
    ) {
        for &(adv, fh) in &self.config.slots[first..] {
            for c in adv {
                assign_int(region, c, offset, Value::known(0));
            }
            region.assign_fixed(fh, offset, F::ZERO);
        }
    }

    /// Low level: one slot with an explicit witness. Returns the output and the cells to range-check, `[t, u]`.
    pub fn assign_slot<F: PrimeField>(
        &self,
        region: &mut Region<'_, F>,
        offset: usize,
        slot: usize,
        x: &AssignedInt,
        h: i64,
        w: ClampWitness,
    ) -> Result<(AssignedInt, [AssignedInt; 2]), Error> {
        let ([cx, cr, ct, cu, co], fh) = self.config.slots[slot];
        self.config.q.enable(region, offset)?;
        region.assign_fixed(fh, offset, fe::<F>(h.into()));
        copy_int(region, cx, offset, x);
        assign_int(region, cr, offset, w.r);
        let t = assign_int(region, ct, offset, w.t);
        let u = assign_int(region, cu, offset, w.u);
        let out = assign_int(region, co, offset, w.out);
        Ok((out, [t, u]))
    }
}
