//! Non-linear functions (exp, logistic, tanh, rsqrt, sqrt, x³, sin, cos) by lookup into a table of *runs*,
//! independent of `k` and of zkml's table domain.
//!
//! A function of a fixed-point input is a step function: on the domain a circuit allows, it is a list of runs
//! `(lo, hi, y)`, every input `x ∈ [lo, hi]` giving `y` (see `dzk_ir::LookupFn::runs`). The table holds one
//! row `(tag, lo, hi, y)` per run, the tag naming the function, so its size is the number of steps of the
//! function, not the width of its domain: saturating functions stay small over any input range.
//!
//! Slot layout: advice `x, lo, hi, y, d_lo, d_hi`; a fixed `tag` column shared by the row. Gates:
//! `d_lo = x − lo` and `d_hi = hi − x`. Lookup: `(q·tag, q·lo, q·hi, q·y) ∈ table` (row 0 of the table is all
//! zeros for disabled rows). The caller's range chip proves `d_lo, d_hi ∈ [0, 2^R)`, so `lo ≤ x ≤ hi` for the
//! run the prover names, and the runs tile the domain without overlap: `y` is fully determined by `x`.
//! An `x` outside the domain has no run and cannot be proven.
//!
//! **Table groups.** A table longer than the circuit's `2^k` rows is spread over `G` groups of four table
//! columns each: run `i` of the concatenated tables (in load order) goes to group `i mod G`, and every group
//! starts with the all-zero row. Each slot then has `G` bits `b_0 … b_{G−1}` on advice columns of their own
//! (`q·b·(1−b) = 0` and `q·(Σ b − 1) = 0`), and makes one lookup per group, `b_g·(tag, lo, hi, y) ∈ group g`:
//! on the slot's rows exactly one group's lookup sees the tuple and the others see zeros, which every group
//! holds. So the tuple lies in the union of the groups, the whole table, and a chunk's `k` is set by
//! `⌈runs / G⌉` instead of `runs`. The bits stand in for the selector in the lookup, which keeps its input at
//! degree 2 (halo2-axiom caps the constraint degree at 5, and `q·b·lo` would need 6); that is why they cannot
//! share columns with other chips: off the slot's rows a bit is 0 (or, set by a cheating prover, only adds a
//! lookup that constrains nothing else). With `G = 1` there are no bits and the lookup is
//! `q·(tag, lo, hi, y)`, as above.

use std::sync::Arc;

use halo2_proofs::circuit::{Layouter, Region, Value};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::plonk::{
    Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector, TableColumn,
};
use halo2_proofs::poly::Rotation;

use crate::num::{assign_int, copy_int, fe};
use crate::range::{CheckCount, RangeChip, Width};
use crate::slots::lay_out;
use crate::{AssignedInt, Rows};

/// One run of a function's table: every `x` in `lo..=hi` maps to `y`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// First input.
    pub lo: i64,
    /// Last input (inclusive).
    pub hi: i64,
    /// The value.
    pub y: i128,
}

/// One function's table: its tag (≥ 1) and runs, sorted and non-overlapping.
#[derive(Clone, Debug)]
pub struct FnTable {
    /// The tag that names the function in the shared table; 0 is reserved for disabled rows.
    pub tag: u64,
    /// The runs, in increasing input order (shared: a table is built once and used by every circuit).
    pub runs: Arc<[Run]>,
    /// The position of this table's first run among the runs of all the tables the chip loads, in load order
    /// (the tables before it hold this many runs): run `i` of this table goes to group `(first + i) mod G`.
    pub first: usize,
}

impl FnTable {
    /// The run containing `x`, if any.
    pub fn find(&self, x: i128) -> Option<&Run> {
        self.find_index(x).map(|i| &self.runs[i])
    }

    /// The index of the run containing `x`, if any.
    pub fn find_index(&self, x: i128) -> Option<usize> {
        let i = self.runs.partition_point(|r| i128::from(r.hi) < x);
        self.runs
            .get(i)
            .filter(|r| i128::from(r.lo) <= x && x <= i128::from(r.hi))
            .map(|_| i)
    }

    /// Numbers the tables' `first` fields in the given (load) order.
    pub fn number(tables: &mut [FnTable]) {
        let mut first = 0;
        for t in tables {
            t.first = first;
            first += t.runs.len();
        }
    }
}

/// One slot: advice `[x, lo, hi, y, d_lo, d_hi]`, the group bits (none with one group) and its selector.
type Slot = ([Column<Advice>; 6], Vec<Column<Advice>>, Selector);

/// Columns and table of the function chip.
#[derive(Clone, Debug)]
pub struct FnConfig {
    slots: Vec<Slot>,
    tag: Column<Fixed>,
    /// One set of four table columns per group.
    tables: Vec<[TableColumn; 4]>,
}

/// The function-lookup chip.
#[derive(Clone, Debug)]
pub struct FnChip {
    config: FnConfig,
}

/// One evaluation's honest or tampered witness.
#[derive(Clone, Debug)]
pub struct FnWitness {
    /// The run's first input.
    pub lo: Value<i128>,
    /// The run's last input.
    pub hi: Value<i128>,
    /// The claimed value.
    pub y: Value<i128>,
    /// `x − lo`, range-checked.
    pub d_lo: Value<i128>,
    /// `hi − x`, range-checked.
    pub d_hi: Value<i128>,
    /// The group bits, one per table group (empty with one group): honestly 1 for the group that holds the run
    /// and 0 elsewhere.
    pub bits: Value<Vec<i128>>,
}

/// Rows and range checks `n` evaluations take over `slots` slots per row, counted by the rule the chip lays out
/// by ([`FnChip::WIDTHS`]): the cost model's side of [`FnChip::apply_many`].
pub fn lookup_cost(slots: usize, n: usize) -> (usize, CheckCount) {
    (n.div_ceil(slots), CheckCount::per_item(n, &FnChip::WIDTHS))
}

impl FnChip {
    /// The checks an evaluation's distances `[x − lo, hi − x]` take: a run may span the whole long range, so
    /// both are long checks. The chip lays out by this and [`lookup_cost`] counts by it.
    pub const WIDTHS: [Width; 2] = [Width::Long, Width::Long];

    /// Advice columns of their own (not shared with any other chip) `slots` slots over `groups` table groups
    /// need for their group bits: none with one group, `slots · groups` otherwise.
    pub fn bit_columns(slots: usize, groups: usize) -> usize {
        if groups > 1 {
            slots * groups
        } else {
            0
        }
    }

    /// Configures `slots` slots of 6 advice columns over the start of `columns` (shared with other chips), with
    /// the function tag in `tag`, a fixed column that chips whose rows never overlap this chip's may share (the
    /// lookup multiplies it by the slot's selector or bit), and the table spread over `groups` groups whose bits
    /// take [`Self::bit_columns`] columns of `bits`, which no other chip may use (see the module documentation).
    ///
    /// Side effects: enables equality on the `x`, `y` and difference columns; adds four table columns per group
    /// and one lookup per slot and group.
    pub fn configure<F: PrimeField>(
        meta: &mut ConstraintSystem<F>,
        columns: &[Column<Advice>],
        bits: &[Column<Advice>],
        tag: Column<Fixed>,
        slots: usize,
        groups: usize,
    ) -> FnConfig {
        let width = 6;
        assert!(
            slots >= 1
                && groups >= 1
                && columns.len() >= width * slots
                && bits.len() >= Self::bit_columns(slots, groups),
            "the function chip needs 6 shared advice columns per slot and one of its own per slot and group"
        );
        let mut own_bits = bits.chunks(groups.max(1));
        let tables: Vec<[TableColumn; 4]> = (0..groups)
            .map(|_| {
                [
                    meta.lookup_table_column(),
                    meta.lookup_table_column(),
                    meta.lookup_table_column(),
                    meta.lookup_table_column(),
                ]
            })
            .collect();
        let mut out = Vec::with_capacity(slots);
        for cols in columns.chunks_exact(width).take(slots) {
            let adv: [Column<Advice>; 6] = [cols[0], cols[1], cols[2], cols[3], cols[4], cols[5]];
            let bits: Vec<Column<Advice>> = if groups > 1 {
                own_bits.next().map(<[_]>::to_vec).unwrap_or_default()
            } else {
                Vec::new()
            };
            let q = meta.complex_selector();
            for c in [adv[0], adv[3], adv[4], adv[5]] {
                meta.enable_equality(c);
            }
            meta.create_gate("function run bounds", |m| {
                let s = m.query_selector(q);
                let [x, lo, hi, _, d_lo, d_hi] = adv.map(|c| m.query_advice(c, Rotation::cur()));
                vec![s.clone() * (x.clone() - lo - d_lo), s * (hi - x - d_hi)]
            });
            if !bits.is_empty() {
                meta.create_gate("function group bits", |m| {
                    let s = m.query_selector(q);
                    let bs: Vec<Expression<F>> = bits
                        .iter()
                        .map(|&c| m.query_advice(c, Rotation::cur()))
                        .collect();
                    let one = Expression::Constant(F::ONE);
                    let sum = bs
                        .iter()
                        .fold(Expression::Constant(F::ZERO), |acc, b| acc + b.clone());
                    let mut out: Vec<Expression<F>> = bs
                        .iter()
                        .map(|b| s.clone() * b.clone() * (one.clone() - b.clone()))
                        .collect();
                    out.push(s * (sum - one));
                    out
                });
            }
            for (g, table) in tables.iter().enumerate() {
                let bit = bits.get(g).copied();
                meta.lookup("function table", |m| {
                    let on = match bit {
                        Some(b) => m.query_advice(b, Rotation::cur()),
                        None => m.query_selector(q),
                    };
                    let t = m.query_fixed(tag, Rotation::cur());
                    let [_, lo, hi, y, _, _] = adv.map(|c| m.query_advice(c, Rotation::cur()));
                    let ins: [Expression<F>; 4] =
                        [on.clone() * t, on.clone() * lo, on.clone() * hi, on * y];
                    ins.into_iter().zip(*table).collect()
                });
            }
            out.push((adv, bits, q));
        }
        FnConfig {
            slots: out,
            tag,
            tables,
        }
    }

    /// The chip for a configuration.
    pub fn construct(config: FnConfig) -> Self {
        Self { config }
    }

    /// Evaluations per row.
    pub fn slots(&self) -> usize {
        self.config.slots.len()
    }

    /// Table groups.
    pub fn groups(&self) -> usize {
        self.config.tables.len()
    }

    /// Table rows the tables take in one group: one all-zero row, plus one row per run (the runs of all tables,
    /// dealt round-robin over `groups` groups).
    pub fn table_rows(tables: &[FnTable], groups: usize) -> usize {
        Self::group_rows(tables.iter().map(|t| t.runs.len()).sum(), groups)
    }

    /// [`Self::table_rows`] for tables of `runs` runs in all.
    pub fn group_rows(runs: usize, groups: usize) -> usize {
        1 + runs.div_ceil(groups.max(1))
    }

    /// Loads every table: in each group, row 0 all zeros, then the group's runs under their tags. The tables'
    /// `first` fields must number them in the order given ([`FnTable::number`]).
    pub fn load<F: PrimeField>(
        &self,
        layouter: &mut impl Layouter<F>,
        tables: &[&FnTable],
    ) -> Result<(), Error> {
        let groups = self.groups();
        let mut first = 0;
        for t in tables {
            if t.first != first {
                return Err(Error::Synthesis);
            }
            first += t.runs.len();
        }
        for (g, cols) in self.config.tables.iter().enumerate() {
            layouter.assign_table(
                || "function tables",
                |mut t| {
                    let mut row = 0;
                    let mut put = |vals: [F; 4]| -> Result<(), Error> {
                        for (col, v) in cols.iter().zip(vals) {
                            t.assign_cell(|| "function table", *col, row, || Value::known(v))?;
                        }
                        row += 1;
                        Ok(())
                    };
                    put([F::ZERO; 4])?;
                    for table in tables {
                        for (i, r) in table.runs.iter().enumerate() {
                            if (table.first + i) % groups == g {
                                put([
                                    F::from(table.tag),
                                    fe(r.lo.into()),
                                    fe(r.hi.into()),
                                    fe(r.y),
                                ])?;
                            }
                        }
                    }
                    Ok(())
                },
            )?;
        }
        Ok(())
    }

    /// The honest witness for `x` (unknown if `x` is, or if no run contains it).
    pub fn witness(&self, table: &FnTable, x: Value<i128>) -> FnWitness {
        let groups = self.groups();
        let run = x.map(|x| table.find_index(x).map(|i| (x, i, table.runs[i])));
        let get = |f: fn(i128, &Run) -> i128| {
            run.and_then(|r| match r {
                Some((x, _, r)) => Value::known(f(x, &r)),
                None => Value::unknown(),
            })
        };
        let bits = run.and_then(|r| match r {
            Some((_, i, _)) if groups > 1 => {
                let g = (table.first + i) % groups;
                Value::known((0..groups).map(|j| i128::from(j == g)).collect())
            }
            Some(_) => Value::known(vec![]),
            None => Value::unknown(),
        });
        FnWitness {
            lo: get(|_, r| r.lo.into()),
            hi: get(|_, r| r.hi.into()),
            y: get(|_, r| r.y),
            d_lo: get(|x, r| x - i128::from(r.lo)),
            d_hi: get(|x, r| i128::from(r.hi) - x),
            bits,
        }
    }

    /// `f(xᵢ)` for every cell, with both run bounds range-checked by `range`. Fails at synthesis if a known
    /// input lies outside the table's domain, or if a run is too long for `range`.
    pub fn apply_many<F: PrimeField>(
        &self,
        layouter: &mut impl Layouter<F>,
        rows: &mut Rows,
        range: &RangeChip,
        table: &FnTable,
        xs: &[AssignedInt],
    ) -> Result<Vec<AssignedInt>, Error> {
        if xs.is_empty() {
            return Ok(vec![]);
        }
        let limit = 1i128 << range.max_bits();
        if table
            .runs
            .iter()
            .any(|r| i128::from(r.hi) - i128::from(r.lo) >= limit)
        {
            return Err(Error::Synthesis);
        }
        for x in xs {
            x.value.error_if_known_and(|&v| table.find(v).is_none())?;
        }
        let (outs, checks) = lay_out(
            layouter,
            rows,
            "function lookups",
            self.slots(),
            xs.len(),
            |region, offset, slot, i, checks| {
                let w = self.witness(table, xs[i].value);
                let (y, [d_lo, d_hi]) =
                    self.assign_slot(region, offset, slot, table.tag, &xs[i], w)?;
                for (w, cell) in Self::WIDTHS.into_iter().zip([d_lo, d_hi]) {
                    checks.push(w, cell);
                }
                Ok(y)
            },
            // Each slot has its own selector: an unused slot is off and needs nothing.
            |_, _, _| {},
        )?;
        range.check_all(layouter, rows, &checks)?;
        Ok(outs)
    }

    /// Low level: one slot with an explicit witness. Returns `y` and the two differences to range-check.
    pub fn assign_slot<F: PrimeField>(
        &self,
        region: &mut Region<'_, F>,
        offset: usize,
        slot: usize,
        tag: u64,
        x: &AssignedInt,
        w: FnWitness,
    ) -> Result<(AssignedInt, [AssignedInt; 2]), Error> {
        let ([cx, clo, chi, cy, cdl, cdh], bits, q) = &self.config.slots[slot];
        let (cx, clo, chi, cy, cdl, cdh) = (*cx, *clo, *chi, *cy, *cdl, *cdh);
        q.enable(region, offset)?;
        let mut wrong_count = false;
        w.bits.as_ref().map(|b| wrong_count = b.len() != bits.len());
        if wrong_count {
            return Err(Error::Synthesis);
        }
        for (j, &c) in bits.iter().enumerate() {
            assign_int(region, c, offset, w.bits.as_ref().map(|b| b[j]));
        }
        region.assign_fixed(self.config.tag, offset, F::from(tag));
        copy_int(region, cx, offset, x);
        assign_int(region, clo, offset, w.lo);
        assign_int(region, chi, offset, w.hi);
        let y = assign_int(region, cy, offset, w.y);
        let dl = assign_int(region, cdl, offset, w.d_lo);
        let dh = assign_int(region, cdh, offset, w.d_hi);
        Ok((y, [dl, dh]))
    }
}
