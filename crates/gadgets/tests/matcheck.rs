//! MockProver tests of the matrix-check chip: the honest witness passes in both phases and its outputs equal the
//! native product; each named attack is rejected while its honest twin (the same layout) is accepted; the
//! chip's row count is what its cursor takes.

use std::cell::RefCell;
use std::rc::Rc;

use dzk_gadgets::matcheck::{MatCheckChip, MatCheckConfig, Tamper, Weights};
use dzk_gadgets::{AssignedInt, Fr, Rows};
use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner};
use halo2_proofs::dev::MockProver;
use halo2_proofs::plonk::{Advice, Circuit, Column, ConstraintSystem, Error};

mod common;
use common::inputs;

const K: u32 = 8;
/// Slots per row: a row check of 5 inputs, 3 outputs and a bias has 9 terms, so its third row has 3 unused
/// slots (the compensation attack needs one).
const W: usize = 4;
const INPUTS: usize = 5;
const OUTPUTS: usize = 3;

/// The product under test: rows of `x` (row 2 leaves input 3 out, like a tap on padding), `W` as outputs ×
/// inputs, and the bias.
#[derive(Clone, Debug)]
struct Product {
    xs: Vec<Vec<(usize, i128)>>,
    w: Vec<i64>,
    init: Vec<i128>,
}

fn product(bias: bool) -> Product {
    let x = |p: usize, t: usize| ((p * 7 + t * 3) % 11) as i128 - 5;
    let xs = (0..4)
        .map(|p| {
            (0..INPUTS)
                .filter(|&t| !(p == 2 && t == 3))
                .map(|t| (t, x(p, t)))
                .collect()
        })
        .collect();
    let w = (0..OUTPUTS * INPUTS)
        .map(|i| ((i * 5) % 9) as i64 - 4)
        .collect();
    let init = if bias {
        vec![300, -128, 0]
    } else {
        vec![0; OUTPUTS]
    };
    Product { xs, w, init }
}

fn native(p: &Product) -> Vec<Vec<i128>> {
    p.xs.iter()
        .map(|row| {
            (0..OUTPUTS)
                .map(|o| {
                    p.init[o]
                        + row
                            .iter()
                            .map(|(t, x)| x * i128::from(p.w[o * INPUTS + t]))
                            .sum::<i128>()
                })
                .collect()
        })
        .collect()
}

#[derive(Clone, Debug)]
struct TestCircuit {
    product: Product,
    tamper: Tamper,
    /// The weights as witness cells (an activation) instead of fixed constants.
    cell_weights: bool,
    /// The outputs' values as laid out, and the chip's rows as its cursor took them.
    seen: Rc<RefCell<(Vec<Vec<i128>>, usize)>>,
}

#[derive(Clone, Debug)]
struct Cfg {
    input: Column<Advice>,
    chip: MatCheckConfig,
}

impl Circuit<Fr> for TestCircuit {
    type Config = Cfg;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        self.clone()
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> Cfg {
        let input = meta.advice_column();
        meta.enable_equality(input);
        Cfg {
            input,
            chip: MatCheckChip::configure(meta, W),
        }
    }

    fn synthesize(&self, cfg: Cfg, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        let chip = MatCheckChip::construct(cfg.chip);
        let mut rows = Rows::new();
        let flat: Vec<i128> = self.product.xs.iter().flatten().map(|(_, x)| *x).collect();
        let cells = inputs(&mut layouter, &mut rows, cfg.input, &flat)?;
        let mut it = cells.into_iter();
        let xs: Vec<Vec<(usize, AssignedInt)>> = self
            .product
            .xs
            .iter()
            .map(|row| {
                row.iter()
                    .map(|(t, _)| (*t, it.next().expect("one cell per input")))
                    .collect()
            })
            .collect();
        // The chip's rows on a cursor of their own, to compare with `rows_for`.
        let mut own = Rows::new();
        let w: Vec<i128> = self.product.w.iter().map(|&w| w.into()).collect();
        let w_cells = if self.cell_weights {
            inputs(&mut layouter, &mut rows, cfg.input, &w)?
        } else {
            Vec::new()
        };
        let weights = if self.cell_weights {
            Weights::Cells(&w_cells)
        } else {
            Weights::Fixed(&self.product.w)
        };
        let (ys, pending) = chip.product(
            &mut layouter,
            &mut own,
            &xs,
            weights,
            &self.product.init,
            self.tamper,
        )?;
        let taken = own.used();
        let mut seen = self.seen.borrow_mut();
        seen.1 = taken;
        seen.0 = ys
            .iter()
            .map(|row| {
                row.iter()
                    .map(|c| {
                        let mut v = 0;
                        c.value.map(|x| v = x);
                        v
                    })
                    .collect()
            })
            .collect();
        drop(seen);
        layouter.next_phase();
        chip.finish(&mut layouter, &[pending])
    }
}

fn run(product: Product, tamper: Tamper) -> (Result<(), String>, Vec<Vec<i128>>, usize) {
    run_with(product, tamper, false)
}

fn run_with(
    product: Product,
    tamper: Tamper,
    cell_weights: bool,
) -> (Result<(), String>, Vec<Vec<i128>>, usize) {
    let c = TestCircuit {
        product,
        tamper,
        cell_weights,
        seen: Rc::default(),
    };
    let prover = MockProver::run(K, &c, vec![]).expect("synthesis");
    let res = prover.verify().map_err(|e| format!("{e:?}"));
    let (ys, rows) = c.seen.borrow().clone();
    (res, ys, rows)
}

fn assert_rejected(tamper: Tamper) {
    assert_rejected_with(tamper, false);
}

/// The attack is rejected and its honest twin accepted, with fixed or cell weights; returns the error.
fn assert_rejected_with(tamper: Tamper, cell_weights: bool) -> String {
    assert_eq!(
        run_with(product(true), Tamper::None, cell_weights).0,
        Ok(()),
        "the honest twin of {tamper:?} was rejected (cell weights: {cell_weights})"
    );
    let (res, ..) = run_with(product(true), tamper, cell_weights);
    res.expect_err(&format!(
        "attack {tamper:?} was accepted (cell weights: {cell_weights})"
    ))
}

#[test]
fn honest_product_matches_native_with_and_without_bias() {
    for bias in [true, false] {
        let p = product(bias);
        let (res, ys, _) = run(p.clone(), Tamper::None);
        assert_eq!(res, Ok(()), "bias {bias}");
        assert_eq!(ys, native(&p), "bias {bias}");
    }
}

#[test]
fn rows_for_is_what_the_product_takes() {
    for bias in [true, false] {
        let p = product(bias);
        let (_, _, taken) = run(p.clone(), Tamper::None);
        let mut meta = ConstraintSystem::<Fr>::default();
        let chip = MatCheckChip::construct(MatCheckChip::configure(&mut meta, W));
        let expect = chip.rows_for(INPUTS, OUTPUTS, bias, p.xs.iter().map(Vec::len));
        assert_eq!(taken, expect, "bias {bias}");
    }
    // Pinned: 3 powers, 5 weight chains and 1 bias chain of one row each, row checks of 9 terms (3 rows) and
    // one of 8 (2 rows).
    let mut meta = ConstraintSystem::<Fr>::default();
    let chip = MatCheckChip::construct(MatCheckChip::configure(&mut meta, W));
    assert_eq!(chip.rows_for(5, 3, true, [5, 5, 4, 5]), 3 + 6 + 11);
}

#[test]
fn wrong_output_is_rejected_by_the_end_of_its_row_check() {
    assert_rejected(Tamper::Output { p: 1, o: 2 });
    assert_rejected(Tamper::Output { p: 2, o: 0 });
    // The running sums match the tampered outputs, so only the running-sum gate's `end·acc = 0` can fail.
    let (res, ..) = run(product(true), Tamper::Output { p: 1, o: 2 });
    let err = res.expect_err("a wrong output");
    assert!(err.contains("running sum"), "{err}");
    assert!(!err.contains("powers"), "{err}");
}

#[test]
fn wrong_output_compensated_in_an_unused_slot_is_rejected() {
    assert_rejected(Tamper::OutputCompensatedInUnusedSlot { p: 0, o: 1 });
}

#[test]
fn wrong_weight_combination_is_rejected() {
    assert_rejected(Tamper::WeightSum { t: 0 });
    assert_rejected(Tamper::WeightSum { t: 4 });
}

#[test]
fn wrong_power_of_the_challenge_is_rejected() {
    assert_rejected(Tamper::Power { i: 0 });
    assert_rejected(Tamper::Power { i: 2 });
}

#[test]
fn input_copy_not_equal_to_the_input_is_rejected() {
    assert_rejected(Tamper::InputCopy { p: 3, t: 1 });
}

#[test]
fn output_fixed_up_after_the_challenge_is_rejected_by_the_coefficient_copy() {
    for cell_weights in [false, true] {
        let err = assert_rejected_with(
            Tamper::OutputFixedUpAfterChallenge { p: 1, o: 1 },
            cell_weights,
        );
        // Every running sum balances, `end` included: only the copy of `r^(o+1)` can fail.
        assert!(!err.contains("running sum"), "{err}");
        assert!(err.contains("Equality constraint"), "{err}");
    }
}

#[test]
fn cell_weights_product_matches_native_with_and_without_bias() {
    for bias in [true, false] {
        let p = product(bias);
        let (res, ys, _) = run_with(p.clone(), Tamper::None, true);
        assert_eq!(res, Ok(()), "bias {bias}");
        assert_eq!(ys, native(&p), "bias {bias}");
    }
}

#[test]
fn cell_weights_take_the_rows_fixed_weights_take() {
    let (_, _, fixed) = run_with(product(true), Tamper::None, false);
    let (_, _, cells) = run_with(product(true), Tamper::None, true);
    assert_eq!(fixed, cells);
}

#[test]
fn cell_weights_wrong_output_is_rejected() {
    let err = assert_rejected_with(Tamper::Output { p: 3, o: 0 }, true);
    assert!(err.contains("running sum"), "{err}");
    assert_rejected_with(Tamper::OutputCompensatedInUnusedSlot { p: 0, o: 2 }, true);
}

#[test]
fn cell_weights_wrong_weight_combination_or_power_is_rejected() {
    assert_rejected_with(Tamper::WeightSum { t: 2 }, true);
    assert_rejected_with(Tamper::Power { i: 1 }, true);
    assert_rejected_with(Tamper::InputCopy { p: 2, t: 4 }, true);
}

#[test]
fn cell_weight_copy_not_equal_to_the_weight_is_rejected() {
    // The outputs are the honest product with the tampered weight, so every gate holds: only the copy
    // constraint to the weight cell can fail.
    let err = assert_rejected_with(Tamper::WeightCopy { o: 2, t: 1 }, true);
    assert!(!err.contains("running sum"), "{err}");
    assert!(err.contains("Equality constraint"), "{err}");
}
