//! MockProver tests for the function-lookup chip: honest evaluations equal `dzk_ir::LookupFn::eval` (zkml's
//! `min_val` rule included) over a domain much wider than the table; each named attack is rejected while its
//! honest twin in the same layout is accepted.

use dzk_gadgets::lookup::{lookup_cost, FnChip, FnConfig, FnTable, FnWitness, Run};
use dzk_gadgets::range::{RangeChip, RangeConfig};
use dzk_gadgets::{Fr, Rows};
use dzk_ir::LookupFn;

mod common;
use common::inputs;
use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner, Value};
use halo2_proofs::dev::MockProver;
use halo2_proofs::plonk::{Advice, Circuit, Column, ConstraintSystem, Error};

const K: u32 = 10;
const BITS: usize = 8;
const LIMBS: usize = 2; // range [0, 2^16)
const SF: i64 = 16;
const MIN_VAL: i64 = -256;
/// The widest domain the 16-bit range checks allow: runs at most 2^16 − 1 long.
const D: i64 = (1 << 16) - 1;

fn table(f: LookupFn, tag: u64) -> FnTable {
    FnTable {
        tag,
        first: 0,
        runs: f
            .runs(SF, MIN_VAL, -D, D, D as u64)
            .into_iter()
            .map(|r| Run {
                lo: r.lo,
                hi: r.hi,
                y: r.y.into(),
            })
            .collect(),
    }
}

fn tables() -> [FnTable; 2] {
    let mut ts = [table(LookupFn::Tanh, 1), table(LookupFn::Logistic, 2)];
    FnTable::number(&mut ts);
    ts
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    /// Honest tanh of these inputs.
    Honest,
    /// The honest run, but `y` of the neighbouring run: not a table row.
    WrongOutput,
    /// The whole neighbouring run `(lo, hi, y)` with honest differences: `x − lo` is negative, out of range.
    WrongRun,
    /// The honest run and `y`, but `d_lo` off by one (still in range): only the bounds gate can tell.
    DifferenceMismatch,
    /// A run of another function (logistic) that contains `x`, under tanh's tag: not a table row.
    OtherFunctionsRun,
    /// Slot 1 of a row tampered (wrong output) while slot 0 is honest.
    SecondSlotTampered,
    /// With table groups: the honest run and `y`, but the bit of a group that does not hold the run.
    WrongGroup,
    /// With table groups: no bit set (every lookup then sees zeros) and a wrong `y`.
    NoGroup,
    /// With table groups: the honest group's bit and another one set.
    TwoGroups,
    /// Honest tanh of these inputs; records how far each [`Rows`] cursor moved during the chip's call, for
    /// comparison with [`lookup_cost`].
    CostOfMany,
}

#[derive(Clone, Debug)]
struct Cfg {
    col: Column<Advice>,
    range: RangeConfig,
    f: FnConfig,
}

/// The chip over `G` table groups (1: one table, no group bits).
#[derive(Clone, Debug)]
struct TestCircuit<const G: usize> {
    case: Case,
    tamper: bool,
    xs: Vec<i64>,
    out: std::rc::Rc<std::cell::RefCell<Vec<i128>>>,
}

impl<const G: usize> Circuit<Fr> for TestCircuit<G> {
    type Config = Cfg;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        self.clone()
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> Cfg {
        let shared = 12;
        let all: Vec<_> = (0..shared + 8).map(|_| meta.advice_column()).collect();
        let bits: Vec<_> = (0..FnChip::bit_columns(2, G))
            .map(|_| meta.advice_column())
            .collect();
        let range = RangeChip::configure(
            meta,
            &all[shared..shared + 6],
            &all[shared + 6..],
            BITS,
            LIMBS,
        );
        let tag = meta.fixed_column();
        let f = FnChip::configure(meta, &all[..shared], &bits, tag, 2, G);
        meta.enable_equality(all[0]);
        Cfg {
            col: all[0],
            range,
            f,
        }
    }

    fn synthesize(&self, cfg: Cfg, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        let range = RangeChip::construct(cfg.range.clone());
        range.load(&mut layouter)?;
        let chip = FnChip::construct(cfg.f.clone());
        let [tanh, logistic] = tables();
        chip.load(&mut layouter, &[&tanh, &logistic])?;
        let mut rows = Rows::new();
        let rows = &mut rows;
        let vals: Vec<i128> = self.xs.iter().map(|&v| v.into()).collect();
        let xs = inputs(&mut layouter, rows, cfg.col, &vals)?;
        if self.case == Case::Honest {
            let ys = chip.apply_many(&mut layouter, rows, &range, &tanh, &xs)?;
            for y in ys {
                y.value.map(|v| self.out.borrow_mut().push(v));
            }
            return Ok(());
        }
        if self.case == Case::CostOfMany {
            let before = rows.cursors();
            chip.apply_many(&mut layouter, rows, &range, &tanh, &xs)?;
            let moved = before
                .iter()
                .zip(rows.cursors())
                .map(|(b, a)| (a - b) as i128);
            self.out.borrow_mut().extend(moved);
            return Ok(());
        }
        // One row, two slots: x[0] honest in slot 0, x[1] attacked (or its honest twin) in slot 1.
        let at = rows.take(1);
        let k = Value::known;
        let checks = layouter.assign_region(
            || "attacked lookup",
            |mut region| {
                let mut checks = Vec::new();
                let honest0 = chip.witness(&tanh, xs[0].value);
                let (_, d0) = chip.assign_slot(&mut region, at, 0, tanh.tag, &xs[0], honest0)?;
                checks.extend(d0);
                let x = i128::from(self.xs[1]);
                let honest = chip.witness(&tanh, xs[1].value);
                let w = if !self.tamper {
                    honest
                } else {
                    let i = tanh
                        .runs
                        .iter()
                        .position(|r| r.lo <= self.xs[1] && self.xs[1] <= r.hi)
                        .expect("x in the domain");
                    let next = tanh.runs[i + 1];
                    match self.case {
                        Case::WrongOutput | Case::SecondSlotTampered => FnWitness {
                            y: k(next.y),
                            ..honest
                        },
                        Case::WrongRun => FnWitness {
                            lo: k(next.lo.into()),
                            hi: k(next.hi.into()),
                            y: k(next.y),
                            d_lo: k(x - i128::from(next.lo)),
                            d_hi: k(i128::from(next.hi) - x),
                            bits: honest.bits,
                        },
                        Case::DifferenceMismatch => FnWitness {
                            d_lo: honest.d_lo.map(|d| d + 1),
                            ..honest
                        },
                        Case::OtherFunctionsRun => {
                            let r = logistic.find(x).expect("x in logistic's domain");
                            FnWitness {
                                lo: k(r.lo.into()),
                                hi: k(r.hi.into()),
                                y: k(r.y),
                                d_lo: k(x - i128::from(r.lo)),
                                d_hi: k(i128::from(r.hi) - x),
                                bits: honest.bits,
                            }
                        }
                        Case::WrongGroup => FnWitness {
                            bits: honest.bits.map(|b| {
                                let g = b.iter().position(|&v| v == 1).expect("one group");
                                let mut b = vec![0; G];
                                b[(g + 1) % G] = 1;
                                b
                            }),
                            ..honest
                        },
                        Case::NoGroup => FnWitness {
                            y: k(next.y),
                            bits: Value::known(vec![0; G]),
                            ..honest
                        },
                        Case::TwoGroups => FnWitness {
                            bits: honest.bits.map(|mut b| {
                                let g = b.iter().position(|&v| v == 1).expect("one group");
                                b[(g + 1) % G] = 1;
                                b
                            }),
                            ..honest
                        },
                        Case::Honest | Case::CostOfMany => unreachable!("handled above"),
                    }
                };
                let (_, d1) = chip.assign_slot(&mut region, at, 1, tanh.tag, &xs[1], w)?;
                checks.extend(d1);
                Ok(checks)
            },
        )?;
        if self.case == Case::WrongRun && self.tamper {
            // The range chip refuses a known negative value at synthesis; lay the raw limbs out instead, as a
            // cheating prover would, so the lookup itself must reject them.
            let limbs = range.limbs_of(checks[2].value.map(|d| d.rem_euclid(1 << 16)));
            let at = rows.take_long(1);
            layouter.assign_region(
                || "forged range check",
                |mut r| range.assign_slot(&mut r, at, 0, Some(&checks[2]), checks[2].value, &limbs),
            )?;
            range.check_many(&mut layouter, rows, &[checks[0], checks[1], checks[3]])?;
            return Ok(());
        }
        range.check_many(&mut layouter, rows, &checks)?;
        Ok(())
    }
}

fn run_with(case: Case, xs: &[i64], tamper: bool) -> (Result<(), String>, Vec<i128>) {
    run_in::<1>(case, xs, tamper)
}

fn run_in<const G: usize>(case: Case, xs: &[i64], tamper: bool) -> (Result<(), String>, Vec<i128>) {
    let c = TestCircuit::<G> {
        case,
        tamper,
        xs: xs.to_vec(),
        out: Default::default(),
    };
    let prover = MockProver::run(K, &c, vec![]).expect("synthesis");
    let res = prover.verify().map_err(|e| format!("{e:?}"));
    let out = c.out.borrow().clone();
    (res, out)
}

fn assert_rejected(case: Case) {
    assert_rejected_in::<1>(case);
}

fn assert_rejected_in<const G: usize>(case: Case) {
    // x = 3 (tanh(3/16)·16 ≈ 2.96 → 3) sits in a short run in the middle of the table.
    let xs = [-5, 3];
    assert_eq!(
        run_in::<G>(case, &xs, false).0,
        Ok(()),
        "the honest twin of {case:?} was rejected"
    );
    assert!(
        run_in::<G>(case, &xs, true).0.is_err(),
        "attack {case:?} was accepted"
    );
}

/// Tanh over `G` groups of saturated ends far outside zkml's table (±2^(k−1) = ±256), zkml's forced 0 at
/// min_val, and the middle: the chip's outputs, checked against the forward pass.
fn honest_tanh_over_a_wide_domain<const G: usize>() -> Vec<i128> {
    let xs = [
        -D, -40_000, -257, MIN_VAL, -255, -30, -1, 0, 1, 7, 29, 255, 40_000, D,
    ];
    let (res, out) = run_in::<G>(Case::Honest, &xs, false);
    assert_eq!(res, Ok(()), "{G} groups");
    let want: Vec<i128> = xs
        .iter()
        .map(|&x| LookupFn::Tanh.eval(x, SF, MIN_VAL).into())
        .collect();
    assert_eq!(out, want, "{G} groups");
    out
}

#[test]
fn honest_lookups_equal_the_forward_pass_over_a_wide_domain() {
    let out = honest_tanh_over_a_wide_domain::<1>();
    assert_eq!(out[3], 0, "min_val maps to 0 (zkml's table entry 0)");
    assert_eq!(out[2], -16, "just below min_val, tanh saturates at −sf");
}

#[test]
fn an_input_outside_the_domain_cannot_be_laid_out() {
    let c = TestCircuit::<1> {
        case: Case::Honest,
        tamper: false,
        xs: vec![D + 1],
        out: Default::default(),
    };
    assert!(MockProver::run(K, &c, vec![]).is_err());
}

#[test]
fn wrong_output_is_rejected() {
    assert_rejected(Case::WrongOutput);
}

#[test]
fn a_run_that_does_not_contain_the_input_is_rejected() {
    assert_rejected(Case::WrongRun);
}

#[test]
fn a_difference_not_tied_to_the_run_is_rejected() {
    assert_rejected(Case::DifferenceMismatch);
}

#[test]
fn another_functions_run_is_rejected() {
    assert_rejected(Case::OtherFunctionsRun);
}

#[test]
fn a_tampered_second_slot_is_rejected() {
    assert_rejected(Case::SecondSlotTampered);
}

#[test]
fn tables_are_small_and_tile_the_domain() {
    let [tanh, logistic] = tables();
    // tanh·16 takes −16..=16 (33 values), and zkml's min_val rule splits one run in three.
    assert!(tanh.runs.len() <= 33 + 2, "{}", tanh.runs.len());
    assert!(logistic.runs.len() <= 17 + 2, "{}", logistic.runs.len());
    assert_eq!(
        FnChip::table_rows(&tables(), 1),
        1 + tanh.runs.len() + logistic.runs.len()
    );
    assert_eq!(
        FnChip::table_rows(&tables(), 3),
        1 + (tanh.runs.len() + logistic.runs.len()).div_ceil(3)
    );
}

#[test]
fn grouped_tables_give_the_same_values() {
    assert_eq!(
        honest_tanh_over_a_wide_domain::<3>(),
        honest_tanh_over_a_wide_domain::<1>()
    );
}

#[test]
fn grouped_tables_reject_every_attack_of_one_table() {
    for case in [
        Case::WrongOutput,
        Case::WrongRun,
        Case::DifferenceMismatch,
        Case::OtherFunctionsRun,
        Case::SecondSlotTampered,
    ] {
        assert_rejected_in::<3>(case);
    }
}

#[test]
fn a_group_that_does_not_hold_the_run_is_rejected() {
    assert_rejected_in::<3>(Case::WrongGroup);
    assert_rejected_in::<2>(Case::WrongGroup);
}

#[test]
fn a_lookup_with_no_group_is_rejected() {
    // Every group's lookup would see zeros, which every group holds: only `Σ b = 1` stops a free `y`.
    assert_rejected_in::<3>(Case::NoGroup);
    let (res, _) = run_in::<3>(Case::NoGroup, &[-5, 3], true);
    let err = res.expect_err("rejected");
    assert!(err.contains("function group bits"), "{err}");
}

#[test]
fn a_lookup_in_two_groups_is_rejected() {
    assert_rejected_in::<3>(Case::TwoGroups);
}

#[test]
fn lookup_cost_counts_the_rows_and_checks_the_chip_lays_out() {
    let mut meta = ConstraintSystem::<Fr>::default();
    let cfg = TestCircuit::<1>::configure(&mut meta);
    let range = RangeChip::construct(cfg.range);
    let chip = FnChip::construct(cfg.f);
    // Five evaluations on three rows of two slots; both distances of each take a long check.
    let xs = [-40, -5, 0, 3, 900];
    let (res, moved) = run_with(Case::CostOfMany, &xs, false);
    assert_eq!(res, Ok(()));
    let (main, checks) = lookup_cost(chip.slots(), xs.len());
    assert_eq!((main, checks.short, checks.long), (3, 0, 10));
    let mut counted = Rows::new();
    counted.take(main);
    range.take_rows(&mut counted, checks);
    let counted: Vec<i128> = counted.cursors().iter().map(|&c| c as i128).collect();
    assert_eq!(moved, counted, "rows moved by the chip against lookup_cost");
}
