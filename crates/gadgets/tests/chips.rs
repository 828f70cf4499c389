//! MockProver tests for every chip: the honest witness passes and agrees with dzk-ir's native arithmetic;
//! each named attack (a tampered witness) is rejected; row counts are pinned.

use dzk_gadgets::affine::{Affine, AffineChip, AffineConfig};
use dzk_gadgets::clamp::{clamp_cost, ClampChip, ClampConfig, ClampWitness};
use dzk_gadgets::cmp::{compare_cost, CmpChip, CmpConfig, CmpMode, CmpWitness, Threshold};
use dzk_gadgets::dot::{DotChip, DotConfig};
use dzk_gadgets::range::{RangeChip, RangeConfig};
use dzk_gadgets::rescale::{rescale_cost, Quotient, RescaleChip, RescaleConfig, RescaleWitness};
use dzk_gadgets::{AssignedInt, Fr, Rows};

mod common;
use common::inputs;
use halo2_proofs::circuit::{Layouter, Region, SimpleFloorPlanner, Value};
use halo2_proofs::dev::MockProver;
use halo2_proofs::halo2curves::ff::{Field, PrimeField};
use halo2_proofs::plonk::{Advice, Circuit, Column, ConstraintSystem, Error};

const K: u32 = 10;
const BITS: usize = 8;
const LIMBS: usize = 2; // range [0, 2^16)

#[derive(Clone, Debug)]
struct Cfg {
    cols: Vec<Column<Advice>>,
    range: RangeConfig,
    dot: DotConfig,
    rescale: RescaleConfig,
    cmp: CmpConfig,
    affine: AffineConfig,
    clamp: ClampConfig,
}

/// An attack on the clamp chip (`h = 3072`); each names the witness it lays out instead of the honest one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClampAttack {
    /// x = −5 claimed inside `[0, h]` (region 0, output −5): the distance `t = x` is negative.
    NegativePassedThrough,
    /// x = 3100 claimed inside (output 3100): the headroom `h − x` is negative.
    AboveClaimedInside,
    /// x = 3100 claimed below 0 (output 0): the distance `−1 − x` is negative.
    AboveClaimedBelow,
    /// x = 2000 with region 3, not a trit: distance, headroom and output follow the gates' formulas, which
    /// give output 3h + x with both checks in range; only the trit gate stands in the way.
    NonTrit,
    /// x = 2000 with the honest region and checks but output 2001: the output gate.
    OutputMismatch,
    /// x = 2000 with distance 1999 (in range): the distance gate.
    DistanceMismatch,
    /// x = 2000 with headroom 1071 (in range): the headroom gate.
    HeadroomMismatch,
}

/// What a test circuit lays out: honest operations, or one attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    /// Range-check these values honestly.
    Range([i64; 3]),
    /// A value whose limbs are each in the table but do not recompose to it.
    RangeBadRecomposition,
    /// A limb outside the table, recomposing correctly (v = 2^16 written as limbs (0, 256)).
    RangeLimbOutOfTable,
    /// Honest dot product of (x, w) with a constant term.
    Dot,
    /// Dot product with a wrong accumulator.
    DotWrongResult,
    /// A short check of a value just outside the table (2^8).
    ShortOutOfTable,
    /// Honest rescale of (a, m, d).
    Rescale(i64, i64, i64),
    /// Quotient off by one at an exact half (1/2 rounded down instead of up): r = 2d, out of range above.
    RescaleOffByOneAtHalf,
    /// Quotient too large by one: remainder negative, out of range below.
    RescaleRemainderNegative,
    /// [`Case::RescaleOffByOneAtHalf`] under the one-sided remainder check (only the scaled complement is
    /// range-checked): `s·(2d − 1 − r)` is negative.
    RescaleOneSidedOffByOneAtHalf,
    /// [`Case::RescaleRemainderNegative`] under the one-sided check: `s·(2d − 1 − r)` reaches `2^16`.
    RescaleOneSidedRemainderNegative,
    /// Honest q, r, rc, but the shifted quotient qs off by one (still in range): only the shift gate can tell.
    RescaleShiftMismatch,
    /// Honest q, r, qs, but the complement rc off by one (still in range): only the complement gate can tell.
    RescaleComplementMismatch,
    /// ReLU of −5 with the honest bit and output but a wrong (in-range) difference: the difference gate.
    CmpDifferenceMismatch,
    /// max(7, 0) with the honest bit and difference but output 6: the max select gate.
    CmpMaxSelectWrong,
    /// min(3100, 3072) with the honest bit and difference but output 3100: the min select gate.
    CmpMinSelectWrong,
    /// Honest max/min against a constant.
    Cmp(i64, i64, CmpMode),
    /// ReLU of a negative input claimed to be the input itself (bit set to 1).
    ReluNegativePassedThrough,
    /// A non-boolean "bit" (b = 2) chosen to satisfy the difference gate.
    CmpNonBooleanBit,
    /// Honest max of two cells.
    MaxOfCells(i64, i64),
    /// max(3, 9) claimed to be 3 (bit set to 1): the difference 3 − 9 is negative.
    MaxOfCellsPicksSmaller,
    /// Honest affine ops.
    Affine,
    /// Affine op with a wrong output.
    AffineWrongOutput,
    /// Honest `clamp(x, 0, h)`.
    Clamp(i64, i64),
    /// One clamp attack.
    ClampTampered(ClampAttack),
    /// A cell of a multi-op row left unconstrained: slot 1 of a rescale row tampered while slot 0 is honest.
    RescaleSecondSlotTampered,
    /// Rescale of 7/4 whose quotient the chip leaves to its caller ([`Quotient::BoundedByCaller`]), tampered with
    /// an in-range remainder r = 3 (honest 2) and the field's quotient (18 − 3)/8, which no integer is: the gates
    /// and remainder checks hold. With `relu`, a ReLU follows and claims 0 (honest 2); its difference
    /// −1 − q is then a field element far outside the range, which is what rejects the quotient.
    RescaleFieldQuotient { relu: bool },
    /// Honest rescales of [`COST_RESCALES`], clamps of [`COST_CLAMPS`], comparisons of [`COST_COMPARES`] and
    /// the max of one pair; records how far each [`Rows`] cursor moved during these calls, for comparison with
    /// the cost functions.
    CostOfMany(Quotient),
}

/// `(a, d)` with `m = 1`: a short one-sided, a short two-sided, a long two-sided and a long one-sided remainder
/// check (8-bit short, 16-bit long checks), five items on three rows of two slots.
const COST_RESCALES: [(i64, i64); 5] = [(1000, 2), (-77, 9), (4000, 300), (-3000, 512), (5, 2)];
/// `(x, h)`: short headroom checks for `h = 200`, long ones for `h = 3072`.
const COST_CLAMPS: [(i64, i64); 3] = [(-5, 200), (100, 3072), (5000, 3072)];
/// `(x, c)` for `max(x, c)`: three comparisons on two rows of two slots.
const COST_COMPARES: [(i64, i64); 3] = [(-5, 0), (7, 3), (2, 9)];

#[derive(Clone, Debug)]
struct TestCircuit {
    case: Case,
    /// For attack cases: lay out the tampered witness (true) or its honest twin in the same layout (false).
    tamper: bool,
    /// What the honest operations produced (for comparison with native arithmetic).
    out: std::rc::Rc<std::cell::RefCell<Vec<i128>>>,
}

impl TestCircuit {
    fn new(case: Case, tamper: bool) -> Self {
        Self {
            case,
            tamper,
            out: Default::default(),
        }
    }
}

fn record(out: &std::rc::Rc<std::cell::RefCell<Vec<i128>>>, cells: &[AssignedInt]) {
    for c in cells {
        c.value.map(|v| out.borrow_mut().push(v));
    }
}

impl Circuit<Fr> for TestCircuit {
    type Config = Cfg;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        self.clone()
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> Cfg {
        // 10 shared columns, then the range chip's own: 2 long slots (6 columns) and 2 short columns.
        let all: Vec<_> = (0..18).map(|_| meta.advice_column()).collect();
        let range = RangeChip::configure(meta, &all[10..16], &all[16..18], BITS, LIMBS);
        let cols = all[..10].to_vec();
        // One pool of fixed columns for all four chips, as in the chunk circuit: their rows never overlap.
        let pool: Vec<_> = (0..AffineChip::fixed_columns(9))
            .map(|_| meta.fixed_column())
            .collect();
        let dot = DotChip::configure(meta, &cols[..4], cols[4], &pool);
        let rescale = RescaleChip::configure(meta, &cols, &pool, BITS * LIMBS);
        let cmp = CmpChip::configure(meta, &cols[..10], &pool);
        let affine = AffineChip::configure(meta, &cols[..9], &pool);
        let clamp = ClampChip::configure(meta, &cols, &pool);
        meta.enable_equality(cols[9]);
        Cfg {
            clamp,
            cols,
            range,
            dot,
            rescale,
            cmp,
            affine,
        }
    }

    fn synthesize(&self, cfg: Cfg, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        let range = RangeChip::construct(cfg.range.clone());
        range.load(&mut layouter)?;
        let dot = DotChip::construct(cfg.dot.clone());
        let rescale = RescaleChip::construct(cfg.rescale.clone());
        let cmp = CmpChip::construct(cfg.cmp.clone());
        let affine = AffineChip::construct(cfg.affine.clone());
        let clamp = ClampChip::construct(cfg.clamp.clone());
        let col = cfg.cols[9];
        let k = |v: i128| Value::known(v);
        let mut rows = Rows::new();
        let rows = &mut rows;
        match self.case {
            Case::Range(vs) => {
                let xs = inputs(&mut layouter, rows, col, &vs.map(i128::from))?;
                range.check_many(&mut layouter, rows, &xs)?;
            }
            Case::RangeBadRecomposition | Case::RangeLimbOutOfTable => {
                // Honest twins: 65535 = (255, 255) and 300 = (44, 1).
                let v = match (self.case, self.tamper) {
                    (Case::RangeLimbOutOfTable, true) => 1 << 16,
                    (Case::RangeLimbOutOfTable, false) => 65535,
                    _ => 300,
                };
                let x = inputs(&mut layouter, rows, col, &[v])?;
                let limbs = match (self.case, self.tamper) {
                    (Case::RangeLimbOutOfTable, true) => [k(0), k(256)],
                    (Case::RangeLimbOutOfTable, false) => [k(255), k(255)],
                    (_, true) => [k(44), k(2)], // 44 + 2·256 = 556 ≠ 300
                    (_, false) => [k(44), k(1)],
                };
                let at = rows.take(1);
                layouter.assign_region(
                    || "tampered range",
                    |mut r| range.assign_slot(&mut r, at, 0, Some(&x[0]), x[0].value, &limbs),
                )?;
            }
            Case::ShortOutOfTable => {
                let x = inputs(
                    &mut layouter,
                    rows,
                    col,
                    &[if self.tamper { 256 } else { 255 }],
                )?;
                let at = rows.take_short(1);
                layouter.assign_region(
                    || "tampered short",
                    |mut r| range.assign_short(&mut r, at, 1, &x[0], x[0].value),
                )?;
            }
            Case::Dot | Case::DotWrongResult => {
                let xs = inputs(&mut layouter, rows, col, &[3, -2, 7, 1, 5, -4])?;
                let ws = [2, 5, -1, 0, 3, 4];
                let out = if self.case == Case::Dot {
                    dot.dot(&mut layouter, rows, &xs, &ws, 100)?
                } else {
                    let wrong =
                        |row: usize, v: Value<i128>| if row == 1 { v + Value::known(1) } else { v };
                    let at = rows.take(dot.rows_for(xs.len()));
                    layouter.assign_region(
                        || "tampered dot",
                        |mut r| {
                            dot.assign_dot(
                                &mut r,
                                at,
                                &xs,
                                &ws,
                                100,
                                self.tamper.then_some(&wrong as _),
                            )
                        },
                    )?
                };
                record(&self.out, &[out]);
            }
            Case::Rescale(a, m, d) => {
                let x = inputs(&mut layouter, rows, col, &[a.into()])?;
                let q = rescale.rescale_many(
                    &mut layouter,
                    rows,
                    &range,
                    &[(x[0], m, d)],
                    Quotient::Check,
                )?;
                record(&self.out, &q);
            }
            Case::RescaleShiftMismatch => {
                let x = inputs(&mut layouter, rows, col, &[7])?;
                let honest = rescale.witness(Value::known(7), 1, 4, 1);
                let w = RescaleWitness {
                    qs: honest.qs + k(i128::from(self.tamper)),
                    ..honest
                };
                let at = rows.take(1);
                let (_, [r, rc, qs]) = layouter.assign_region(
                    || "tampered shift",
                    |mut reg| {
                        let out = rescale.assign_slot(&mut reg, at, 0, &x[0], (1, 4, 1), w)?;
                        rescale.fill_unused(&mut reg, at, 1);
                        Ok(out)
                    },
                )?;
                range.check_short_many(&mut layouter, rows, &[r, rc])?;
                range.check_many(&mut layouter, rows, &[qs])?;
            }
            Case::RescaleComplementMismatch => {
                let x = inputs(&mut layouter, rows, col, &[7])?;
                let honest = rescale.witness(Value::known(7), 1, 4, 1);
                let w = RescaleWitness {
                    rc: honest.rc - k(i128::from(self.tamper)),
                    ..honest
                };
                let at = rows.take(1);
                let (_, [r, rc, qs]) = layouter.assign_region(
                    || "tampered complement",
                    |mut reg| {
                        let out = rescale.assign_slot(&mut reg, at, 0, &x[0], (1, 4, 1), w)?;
                        rescale.fill_unused(&mut reg, at, 1);
                        Ok(out)
                    },
                )?;
                range.check_short_many(&mut layouter, rows, &[r, rc])?;
                range.check_many(&mut layouter, rows, &[qs])?;
            }
            Case::CmpDifferenceMismatch | Case::CmpMaxSelectWrong | Case::CmpMinSelectWrong => {
                let (x, c, mode) = match self.case {
                    Case::CmpDifferenceMismatch => (-5, 0, CmpMode::Max),
                    Case::CmpMaxSelectWrong => (7, 0, CmpMode::Max),
                    _ => (3100, 3072, CmpMode::Min),
                };
                let xs = inputs(&mut layouter, rows, col, &[x])?;
                let honest = CmpChip::witness(k(x), k(c.into()), mode);
                let t = k(i128::from(self.tamper));
                let w = match self.case {
                    Case::CmpDifferenceMismatch => CmpWitness {
                        diff: honest.diff + t,
                        ..honest
                    },
                    Case::CmpMaxSelectWrong => CmpWitness {
                        out: honest.out - t,
                        ..honest
                    },
                    _ => CmpWitness {
                        out: honest.out + t * k(28),
                        ..honest
                    },
                };
                let at = rows.take(1);
                let diff = layouter
                    .assign_region(
                        || "tampered cmp gate",
                        |mut r| cmp_one(&cmp, &mut r, at, 0, &xs[0], Threshold::Const(c), mode, w),
                    )?
                    .1;
                range.check_many(&mut layouter, rows, &[diff])?;
            }
            Case::RescaleOffByOneAtHalf
            | Case::RescaleRemainderNegative
            | Case::RescaleOneSidedOffByOneAtHalf
            | Case::RescaleOneSidedRemainderNegative => {
                // a = 1, d = 2: 0.5 rounds up to 1 (r = 0). Two-sided: s = 1, r and rc checked. One-sided:
                // s = 2^16/(2d), only rc checked (as a long check: this is the two-sided cases' layout too).
                let one_sided = matches!(
                    self.case,
                    Case::RescaleOneSidedOffByOneAtHalf | Case::RescaleOneSidedRemainderNegative
                );
                let s: i128 = if one_sided { (1 << 16) / 4 } else { 1 };
                let x = inputs(&mut layouter, rows, col, &[1])?;
                let half = 1i128 << 15;
                let w = if !self.tamper {
                    rescale.witness(Value::known(1), 1, 2, s)
                } else if matches!(
                    self.case,
                    Case::RescaleOffByOneAtHalf | Case::RescaleOneSidedOffByOneAtHalf
                ) {
                    RescaleWitness {
                        q: k(0),
                        r: k(4),
                        rc: k(-s),
                        qs: k(half),
                    }
                } else {
                    RescaleWitness {
                        q: k(2),
                        r: k(-4),
                        rc: k(7 * s),
                        qs: k(2 + half),
                    }
                };
                let at = rows.take(1);
                let (_, [r, rc, _]) = layouter.assign_region(
                    || "tampered rescale",
                    |mut r| {
                        let out = rescale.assign_slot(&mut r, at, 0, &x[0], (1, 2, s), w)?;
                        rescale.fill_unused(&mut r, at, 1);
                        Ok(out)
                    },
                )?;
                let checks = if one_sided { vec![rc] } else { vec![r, rc] };
                // check_many refuses out-of-range witnesses at synthesis; lay the checks out raw (as long
                // checks, the weaker kind) so that the constraint system, not the witness generator, rejects them.
                let at = rows.take_long(2);
                layouter.assign_region(
                    || "raw range",
                    |mut r| {
                        for (i, c) in checks.iter().enumerate() {
                            range.assign_slot(
                                &mut r,
                                at + i / 2,
                                i % 2,
                                Some(c),
                                c.value,
                                &range.limbs_of(c.value),
                            )?;
                        }
                        if checks.len() == 1 {
                            let zeros = [Value::known(0); LIMBS];
                            range.assign_slot(&mut r, at, 1, None, Value::known(0), &zeros)?;
                        }
                        Ok(())
                    },
                )?;
            }
            Case::CostOfMany(quotient) => {
                let values: Vec<i128> = COST_RESCALES
                    .iter()
                    .chain(&COST_CLAMPS)
                    .chain(&COST_COMPARES)
                    .map(|&(x, _)| x.into())
                    .collect();
                let cells = inputs(&mut layouter, rows, col, &values)?;
                let (xs, rest) = cells.split_at(COST_RESCALES.len());
                let (hs, cs) = rest.split_at(COST_CLAMPS.len());
                let before = rows.cursors();
                let items: Vec<_> = xs
                    .iter()
                    .zip(COST_RESCALES)
                    .map(|(x, (_, d))| (*x, 1, d))
                    .collect();
                rescale.rescale_many(&mut layouter, rows, &range, &items, quotient)?;
                let items: Vec<_> = hs
                    .iter()
                    .zip(COST_CLAMPS)
                    .map(|(x, (_, h))| (*x, h))
                    .collect();
                clamp.clamp_many(&mut layouter, rows, &range, &items)?;
                let items: Vec<_> = cs
                    .iter()
                    .zip(COST_COMPARES)
                    .map(|(x, (_, c))| (*x, c, CmpMode::Max))
                    .collect();
                cmp.compare_many(&mut layouter, rows, &range, &items)?;
                cmp.max_many(&mut layouter, rows, &range, &[(cs[0], cs[1])])?;
                let after = rows.cursors();
                let moved: Vec<i128> = before
                    .iter()
                    .zip(after)
                    .map(|(b, a)| (a - b) as i128)
                    .collect();
                self.out.borrow_mut().extend(moved);
            }
            Case::RescaleSecondSlotTampered => {
                let x = inputs(&mut layouter, rows, col, &[6, 6])?;
                let honest = rescale.witness(Value::known(6), 1, 4, 1);
                // 6/4 = 1.5 → 2; claim 1 with the honest remainder
                let bad = if self.tamper {
                    RescaleWitness { q: k(1), ..honest }
                } else {
                    honest
                };
                let at = rows.take(1);
                let checks = layouter.assign_region(
                    || "two-slot rescale",
                    |mut r| {
                        let (_, c0) =
                            rescale.assign_slot(&mut r, at, 0, &x[0], (1, 4, 1), honest)?;
                        let (_, c1) = rescale.assign_slot(&mut r, at, 1, &x[1], (1, 4, 1), bad)?;
                        Ok([c0, c1].concat())
                    },
                )?;
                range.check_many(&mut layouter, rows, &checks)?;
            }
            Case::RescaleFieldQuotient { relu } => {
                let x = inputs(&mut layouter, rows, col, &[7])?;
                let f = |v: i128| Value::known(dzk_gadgets::fe::<Fr>(v));
                // 2ma + d = 18 = 2d·q + r with 2d = 8: honestly q = 2, r = 2; tampered r = 3 and q = 15/8 in Fr.
                let (r, q) = if self.tamper {
                    let q = Fr::from(15) * Fr::from(8).invert().expect("8 ≠ 0");
                    (3, Value::known(q))
                } else {
                    (2, f(2))
                };
                let half = f(1 << (BITS * LIMBS - 1));
                let w = [q, f(r), f(7 - r), q + half];
                let at = rows.take(1);
                let [cq, cr, crc, _] = layouter.assign_region(
                    || "rescale with a field quotient",
                    |mut reg| {
                        let cells = rescale.assign_slot_fe(&mut reg, at, 0, &x[0], (1, 4, 1), w)?;
                        rescale.fill_unused(&mut reg, at, 1);
                        Ok(cells)
                    },
                )?;
                // Two-sided remainder checks of r and 2d − 1 − r, both in range; no check of q (the caller's).
                let checked =
                    [(cr, r), (crc, 7 - r)].map(|(cell, v)| AssignedInt { cell, value: k(v) });
                range.check_short_many(&mut layouter, rows, &checked)?;
                if relu {
                    // ReLU = max(q, 0): honestly b = 1, diff = 2, out = 2; the attack claims b = 0, out = 0, and
                    // diff = 0 − q − 1, whose low limbs are laid out (no limbs in the table recompose it).
                    let diff = if self.tamper {
                        q.map(|q| -q - Fr::ONE)
                    } else {
                        f(2)
                    };
                    let (b, out) = if self.tamper { (0, 0) } else { (1, 2) };
                    let at = rows.take(1);
                    let [_, cdiff, _] = layouter.assign_region(
                        || "relu of the quotient",
                        |mut reg| {
                            let cells = cmp.assign_slot_fe(
                                &mut reg,
                                at,
                                0,
                                (cq, q),
                                Threshold::Const(0),
                                CmpMode::Max,
                                [f(b), diff, f(out)],
                            )?;
                            cmp.fill_unused(&mut reg, at, 1);
                            Ok(cells)
                        },
                    )?;
                    let limbs: Vec<_> = (0..LIMBS)
                        .map(|i| diff.map(|d| Fr::from(u64::from(d.to_repr()[i]))))
                        .collect();
                    let at = rows.take_long(1);
                    layouter.assign_region(
                        || "range check of the difference",
                        |mut reg| range.assign_slot_fe(&mut reg, at, 0, Some(cdiff), diff, &limbs),
                    )?;
                }
            }
            Case::Cmp(x, c, mode) => {
                let xs = inputs(&mut layouter, rows, col, &[x.into()])?;
                let out = cmp.compare_many(&mut layouter, rows, &range, &[(xs[0], c, mode)])?;
                record(&self.out, &out);
            }
            Case::ReluNegativePassedThrough | Case::CmpNonBooleanBit => {
                // x = -5, ReLU = max(x, 0) must be 0.
                let xs = inputs(&mut layouter, rows, col, &[-5])?;
                let w = if !self.tamper {
                    CmpChip::witness(k(-5), k(0), CmpMode::Max)
                } else if self.case == Case::ReluNegativePassedThrough {
                    // b = 1 claims x ≥ 0; the difference x − 0 = −5 is then out of range.
                    CmpWitness {
                        b: k(1),
                        diff: k(-5),
                        out: k(-5),
                    }
                } else {
                    // b = 2: diff = 2·(−5) + (−1)·(0 + 5 − 1) = −14, out = 2·(−5) − 0 = −10. Choose values satisfying
                    // the select gate; only the boolean gate stands in the way.
                    CmpWitness {
                        b: k(2),
                        diff: k(-14),
                        out: k(-10),
                    }
                };
                let at = rows.take(2);
                let diff = layouter
                    .assign_region(
                        || "tampered cmp",
                        |mut r| {
                            cmp_one(
                                &cmp,
                                &mut r,
                                at,
                                0,
                                &xs[0],
                                Threshold::Const(0),
                                CmpMode::Max,
                                w,
                            )
                        },
                    )?
                    .1;
                layouter.assign_region(
                    || "raw range",
                    |mut r| {
                        range.assign_slot(
                            &mut r,
                            at + 1,
                            0,
                            Some(&diff),
                            diff.value,
                            &range.limbs_of(diff.value),
                        )
                    },
                )?;
            }
            Case::Clamp(x, h) => {
                let xs = inputs(&mut layouter, rows, col, &[x.into()])?;
                let out = clamp.clamp_many(&mut layouter, rows, &range, &[(xs[0], h)])?;
                record(&self.out, &out);
            }
            Case::ClampTampered(attack) => {
                use ClampAttack as A;
                let h = 3072;
                let x: i128 = match attack {
                    A::NegativePassedThrough => -5,
                    A::AboveClaimedInside | A::AboveClaimedBelow => 3100,
                    _ => 2000,
                };
                let xs = inputs(&mut layouter, rows, col, &[x])?;
                let honest = ClampChip::witness(k(x), h);
                let w = |r: i128, t: i128, u: i128, out: i128| ClampWitness {
                    r: k(r),
                    t: k(t),
                    u: k(u),
                    out: k(out),
                };
                let h128 = i128::from(h);
                let bad = match attack {
                    A::NegativePassedThrough => w(0, x, h128 - x, x),
                    A::AboveClaimedInside => w(0, x, h128 - x, x),
                    A::AboveClaimedBelow => w(1, -1 - x, 0, 0),
                    // lo(3) = −3, hi(3) = 3, mid(3) = 1.
                    A::NonTrit => w(3, 3 * (1 + x) + 3 * (x - h128) + x, h128 - x, 3 * h128 + x),
                    A::OutputMismatch => ClampWitness {
                        out: honest.out + k(1),
                        ..honest
                    },
                    A::DistanceMismatch => ClampWitness {
                        t: honest.t - k(1),
                        ..honest
                    },
                    A::HeadroomMismatch => ClampWitness {
                        u: honest.u - k(1),
                        ..honest
                    },
                };
                let at = rows.take(1);
                let (_, [t, u]) = layouter.assign_region(
                    || "tampered clamp",
                    |mut r| {
                        let out = clamp.assign_slot(
                            &mut r,
                            at,
                            0,
                            &xs[0],
                            h,
                            if self.tamper { bad } else { honest },
                        )?;
                        clamp.fill_unused(&mut r, at, 1);
                        Ok(out)
                    },
                )?;
                // Both checks laid out raw (check_many refuses out-of-range witnesses at synthesis), as long
                // checks: h = 3072 does not fit the 8-bit short table.
                let at = rows.take_long(1);
                layouter.assign_region(
                    || "raw range",
                    |mut r| {
                        for (slot, c) in [t, u].iter().enumerate() {
                            range.assign_slot(
                                &mut r,
                                at,
                                slot,
                                Some(c),
                                c.value,
                                &range.limbs_of(c.value),
                            )?;
                        }
                        Ok(())
                    },
                )?;
            }
            Case::MaxOfCells(x, y) => {
                let xs = inputs(&mut layouter, rows, col, &[x.into(), y.into()])?;
                let out = cmp.max_many(&mut layouter, rows, &range, &[(xs[0], xs[1])])?;
                record(&self.out, &out);
            }
            Case::MaxOfCellsPicksSmaller => {
                let xs = inputs(&mut layouter, rows, col, &[3, 9])?;
                let w = if self.tamper {
                    CmpWitness {
                        b: k(1),
                        diff: k(-6),
                        out: k(3),
                    }
                } else {
                    CmpChip::witness(k(3), k(9), CmpMode::Max)
                };
                let at = rows.take(1);
                let diff = layouter
                    .assign_region(
                        || "tampered max",
                        |mut r| {
                            cmp_one(
                                &cmp,
                                &mut r,
                                at,
                                0,
                                &xs[0],
                                Threshold::Cell(&xs[1]),
                                CmpMode::Max,
                                w,
                            )
                        },
                    )?
                    .1;
                let at = rows.take_long(1);
                layouter.assign_region(
                    || "raw range",
                    |mut r| {
                        range.assign_slot(
                            &mut r,
                            at,
                            0,
                            Some(&diff),
                            diff.value,
                            &range.limbs_of(diff.value),
                        )
                    },
                )?;
            }
            Case::Affine | Case::AffineWrongOutput => {
                let xs = inputs(&mut layouter, rows, col, &[7, -3])?;
                let ops = [
                    Affine {
                        x: &xs[0],
                        m1: 1,
                        y: Some((&xs[1], 1)),
                        xy: 0,
                        c: 0,
                    }, // 7 + (−3) = 4
                    Affine {
                        x: &xs[0],
                        m1: 1,
                        y: Some((&xs[1], -1)),
                        xy: 0,
                        c: 0,
                    }, // 7 − (−3) = 10
                    Affine {
                        x: &xs[1],
                        m1: 1,
                        y: None,
                        xy: 0,
                        c: 9,
                    }, // −3 + 9 = 6
                    Affine {
                        x: &xs[0],
                        m1: 0,
                        y: Some((&xs[1], 0)),
                        xy: 1,
                        c: 0,
                    }, // 7·(−3) = −21
                    Affine {
                        x: &xs[1],
                        m1: 0,
                        y: Some((&xs[1], 0)),
                        xy: 1,
                        c: 0,
                    }, // (−3)² = 9
                ];
                if self.case == Case::Affine {
                    let out = affine.apply_many(&mut layouter, rows, &ops)?;
                    record(&self.out, &out);
                } else {
                    let at = rows.take(1);
                    layouter.assign_region(
                        || "tampered affine",
                        |mut r| {
                            let out = affine.assign_slot(
                                &mut r,
                                at,
                                0,
                                &ops[0],
                                k(if self.tamper { 5 } else { 4 }),
                            )?;
                            affine.fill_unused(&mut r, at, 1);
                            Ok(out)
                        },
                    )?;
                }
            }
        }
        Ok(())
    }
}

/// One comparison in slot `slot` of the row at `at`, the row's later slots filled as unused.
#[allow(clippy::too_many_arguments)]
fn cmp_one(
    cmp: &CmpChip,
    r: &mut Region<'_, Fr>,
    at: usize,
    slot: usize,
    x: &AssignedInt,
    t: Threshold<'_>,
    mode: CmpMode,
    w: CmpWitness,
) -> Result<(AssignedInt, AssignedInt), Error> {
    let out = cmp.assign_slot(r, at, slot, x, t, mode, w)?;
    cmp.fill_unused(r, at, slot + 1);
    Ok(out)
}

fn run(case: Case) -> (Result<(), String>, Vec<i128>) {
    run_with(case, false)
}

fn run_with(case: Case, tamper: bool) -> (Result<(), String>, Vec<i128>) {
    let c = TestCircuit::new(case, tamper);
    let prover = MockProver::run(K, &c, vec![]).expect("synthesis");
    let res = prover.verify().map_err(|e| format!("{e:?}"));
    let out = c.out.borrow().clone();
    (res, out)
}

/// The attack is rejected, and its honest twin (the same layout with the honest witness) is accepted, so the
/// rejection comes from the constraint under attack and not from the layout.
fn assert_rejected(case: Case) {
    assert_eq!(
        run_with(case, false).0,
        Ok(()),
        "the honest twin of {case:?} was rejected"
    );
    assert!(
        run_with(case, true).0.is_err(),
        "attack {case:?} was accepted"
    );
}

#[test]
fn range_honest_and_attacks() {
    assert_eq!(run(Case::Range([0, 255, 65535])).0, Ok(()));
    assert_rejected(Case::RangeBadRecomposition);
    assert_rejected(Case::RangeLimbOutOfTable);
    assert_rejected(Case::ShortOutOfTable);
}

#[test]
fn range_refuses_out_of_range_witnesses_at_synthesis() {
    // The witness generator reports out-of-range values instead of laying out a failing proof.
    let c = TestCircuit::new(Case::Range([0, 1, 65536]), false);
    assert!(MockProver::run(K, &c, vec![]).is_err());
    let c = TestCircuit::new(Case::Range([-1, 1, 2]), false);
    assert!(MockProver::run(K, &c, vec![]).is_err());
}

#[test]
fn dot_matches_native_and_rejects_wrong_result() {
    let (res, out) = run(Case::Dot);
    assert_eq!(res, Ok(()));
    // 100 + 3·2 − 2·5 − 7·1 + 1·0 + 5·3 − 4·4 = 88
    assert_eq!(out, vec![88]);
    assert_rejected(Case::DotWrongResult);
}

#[test]
fn rescale_matches_native_rounding() {
    for (a, m, d) in [
        (1, 1, 2),
        (-1, 1, 2),
        (3, 1, 2),
        (-3, 1, 2),
        (7, 1, 4),
        (-7, 1, 4),
        (1000, 1, 512),
        (-257, 3, 512),
        (0, 5, 9),
        (30000, 1, 300),
        (-30000, 7, 300),
    ] {
        let (res, out) = run(Case::Rescale(a, m, d));
        assert_eq!(res, Ok(()), "{a}·{m}/{d}");
        let native =
            dzk_ir::fixed::div_round(i128::from(a) * i128::from(m), d.into()).expect("defined");
        assert_eq!(out, vec![i128::from(native)], "{a}·{m}/{d}");
    }
}

#[test]
fn rescale_attacks_are_rejected() {
    assert_rejected(Case::RescaleOffByOneAtHalf);
    assert_rejected(Case::RescaleRemainderNegative);
    assert_rejected(Case::RescaleOneSidedOffByOneAtHalf);
    assert_rejected(Case::RescaleOneSidedRemainderNegative);
    assert_rejected(Case::RescaleSecondSlotTampered);
    assert_rejected(Case::RescaleShiftMismatch);
    assert_rejected(Case::RescaleComplementMismatch);
}

#[test]
fn a_non_integer_quotient_left_to_the_caller_is_rejected_by_the_relu_after_it() {
    // Regression test for a review finding: under Quotient::BoundedByCaller the rescale's gates and remainder
    // checks accept the field's quotient (18 − 3)/8; only the ReLU's range-checked difference rejects it, so a
    // layout that skips the quotient check must keep a comparison right after the rescale (dzk-circuit's ReLU).
    assert_eq!(
        run_with(Case::RescaleFieldQuotient { relu: false }, true).0,
        Ok(()),
        "the rescale alone is expected to leave its quotient unbounded"
    );
    assert_rejected(Case::RescaleFieldQuotient { relu: true });
}

#[test]
fn cmp_matches_native_and_rejects_attacks() {
    for (x, c, mode, want) in [
        (-5, 0, CmpMode::Max, 0),
        (5, 0, CmpMode::Max, 5),
        (0, 0, CmpMode::Max, 0),
        (3100, 3072, CmpMode::Min, 3072),
        (-9, 3072, CmpMode::Min, -9),
    ] {
        let (res, out) = run(Case::Cmp(x, c, mode));
        assert_eq!(res, Ok(()), "{x} {c} {mode:?}");
        assert_eq!(out, vec![want]);
    }
    assert_rejected(Case::ReluNegativePassedThrough);
    assert_rejected(Case::CmpNonBooleanBit);
    for (x, y) in [(3, 9), (9, 3), (-4, -4), (-7, 2)] {
        let (res, out) = run(Case::MaxOfCells(x, y));
        assert_eq!(res, Ok(()), "max({x}, {y})");
        assert_eq!(out, vec![i128::from(x.max(y))]);
    }
    assert_rejected(Case::MaxOfCellsPicksSmaller);
    assert_rejected(Case::CmpDifferenceMismatch);
    assert_rejected(Case::CmpMaxSelectWrong);
    assert_rejected(Case::CmpMinSelectWrong);
}

#[test]
fn affine_matches_native_and_rejects_wrong_output() {
    let (res, out) = run(Case::Affine);
    assert_eq!(res, Ok(()));
    assert_eq!(out, vec![4, 10, 6, -21, 9]);
    assert_rejected(Case::AffineWrongOutput);
}

#[test]
fn slots_and_rows_are_pinned() {
    let mut meta = ConstraintSystem::<Fr>::default();
    let cfg = TestCircuit::configure(&mut meta);
    let range = RangeChip::construct(cfg.range);
    assert_eq!(
        (range.slots(), range.max_bits(), range.rows_for(7)),
        (2, 16, 4)
    );
    assert_eq!((range.short_bits(), range.short_rows_for(5)), (8, 3));
    let dot = DotChip::construct(cfg.dot);
    assert_eq!((dot.width(), dot.rows_for(9), dot.rows_for(0)), (4, 3, 1));
    assert_eq!(RescaleChip::construct(cfg.rescale).slots(), 2);
    assert_eq!(CmpChip::construct(cfg.cmp).slots(), 2);
    assert_eq!(AffineChip::construct(cfg.affine).slots(), 3);
    assert_eq!(ClampChip::construct(cfg.clamp).slots(), 2);
}

#[test]
fn clamp_matches_native_and_rejects_attacks() {
    // h = 3072 takes a long headroom check with this 8-bit short table, h = 200 a short one.
    for (x, h) in [
        (-30000, 3072),
        (-5, 3072),
        (-1, 3072),
        (0, 3072),
        (1, 3072),
        (3071, 3072),
        (3072, 3072),
        (3073, 3072),
        (30000, 3072),
        (-7, 200),
        (0, 200),
        (150, 200),
        (200, 200),
        (255, 200),
        (0, 0),
        (9, 0),
    ] {
        let (res, out) = run(Case::Clamp(x, h));
        assert_eq!(res, Ok(()), "clamp({x}, 0, {h})");
        assert_eq!(out, vec![i128::from(x.clamp(0, h))], "clamp({x}, 0, {h})");
    }
    for attack in [
        ClampAttack::NegativePassedThrough,
        ClampAttack::AboveClaimedInside,
        ClampAttack::AboveClaimedBelow,
        ClampAttack::NonTrit,
        ClampAttack::OutputMismatch,
        ClampAttack::DistanceMismatch,
        ClampAttack::HeadroomMismatch,
    ] {
        assert_rejected(Case::ClampTampered(attack));
    }
}

#[test]
fn cost_functions_count_the_rows_and_checks_the_chips_lay_out() {
    let mut meta = ConstraintSystem::<Fr>::default();
    let cfg = TestCircuit::configure(&mut meta);
    let range = RangeChip::construct(cfg.range);
    let (rescale, clamp, cmp) = (
        RescaleChip::construct(cfg.rescale),
        ClampChip::construct(cfg.clamp),
        CmpChip::construct(cfg.cmp),
    );
    for quotient in [Quotient::Check, Quotient::BoundedByCaller] {
        let (res, moved) = run(Case::CostOfMany(quotient));
        assert_eq!(res, Ok(()), "{quotient:?}");
        let mut counted = Rows::new();
        let (main, checks) = rescale_cost(
            rescale.slots(),
            range.short_bits(),
            range.max_bits(),
            COST_RESCALES.iter().map(|&(_, d)| d),
            quotient,
        );
        // Remainders: 1 + 2 + 1 short (d = 2, 9, 2) and 2 + 1 long (d = 300, 512); quotients: one long
        // check each under Quotient::Check.
        let quotients = if quotient == Quotient::Check { 5 } else { 0 };
        assert_eq!((main, checks.short, checks.long), (3, 4, 3 + quotients));
        counted.take(main);
        range.take_rows(&mut counted, checks);
        let (main, checks) = clamp_cost(
            clamp.slots(),
            range.short_bits(),
            COST_CLAMPS.iter().map(|&(_, h)| h),
        );
        // Distances: always long; headrooms: one short (h = 200), two long.
        assert_eq!((main, checks.short, checks.long), (2, 1, 5));
        counted.take(main);
        range.take_rows(&mut counted, checks);
        // Comparisons, then one max-pair: a long check on each difference.
        let (main, checks) = compare_cost(cmp.slots(), COST_COMPARES.len());
        assert_eq!((main, checks.short, checks.long), (2, 0, 3));
        counted.take(main);
        range.take_rows(&mut counted, checks);
        let (main, checks) = compare_cost(cmp.slots(), 1);
        assert_eq!((main, checks.short, checks.long), (1, 0, 1));
        counted.take(main);
        range.take_rows(&mut counted, checks);
        let counted: Vec<i128> = counted.cursors().iter().map(|&c| c as i128).collect();
        assert_eq!(
            moved, counted,
            "{quotient:?}: rows moved by the chips against the cost functions"
        );
    }
}

#[test]
fn remainder_checks_are_one_sided_exactly_for_powers_of_two() {
    use dzk_gadgets::rescale::RemainderCheck as R;
    let r = |long, scale, one_sided| {
        Some(R {
            long,
            scale,
            one_sided,
        })
    };
    assert_eq!(R::for_divisor(2, 8, 16), r(false, 64, true));
    assert_eq!(R::for_divisor(128, 8, 16), r(false, 1, true));
    assert_eq!(R::for_divisor(9, 8, 16), r(false, 1, false));
    assert_eq!(R::for_divisor(512, 8, 16), r(true, 64, true));
    assert_eq!(R::for_divisor(300, 8, 16), r(true, 1, false));
    assert_eq!(R::for_divisor(1 << 15, 8, 16), r(true, 1, true));
    assert_eq!(R::for_divisor((1 << 15) + 1, 8, 16), None);
    assert_eq!(R::for_divisor(0, 8, 16), None);
    assert_eq!(R::for_divisor(-4, 8, 16), None);
    // Remainder checks per rescale: one under a one-sided check, two under a two-sided one.
    let remainder_checks = |c: R| c.widths(Quotient::BoundedByCaller).iter().flatten().count();
    assert_eq!(r(true, 64, true).map(remainder_checks), Some(1));
    assert_eq!(r(false, 1, false).map(remainder_checks), Some(2));
}
