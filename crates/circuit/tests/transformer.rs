//! The tiny transformer (`testdata/models/tiny_transformer.msgpack`: attention with `Q·Kᵀ` and `A·V` written as
//! FullyConnected layers with activation weights, and as BatchMatMul; layer norm, GELU with tanh, softmax) as
//! chunk circuits: the honest witness proves the forward pass's outputs with activation products as dot products
//! and as matrix checks, in one chunk and in three that chain, and every tampered activation product is rejected
//! by the matrix check.

use std::sync::Arc;

use dzk_circuit::{ChunkCircuit, CostModel, LayoutParams, Limit, Visibility};
use dzk_gadgets::matcheck::Tamper;
use dzk_gadgets::Fr;
use dzk_ir::{Model, TensorFile};
use halo2_proofs::dev::MockProver;

mod common;
use common::*;

fn tiny() -> (Arc<Model>, TensorFile) {
    let t = repo().join("testdata");
    (
        Arc::new(Model::load(&t.join("models/tiny_transformer.msgpack")).expect("model")),
        TensorFile::load(&t.join("inputs/tiny_transformer.msgpack")).expect("input"),
    )
}

/// The fitted layout with a matrix-check chip of width 2: every activation product goes to the chip.
fn with_checks(model: &Arc<Model>, start: usize, end: usize) -> ChunkCircuit {
    let fitted = ChunkCircuit::fit(model.clone(), start, end).expect("fit");
    let p = LayoutParams {
        check_width: 2,
        ..fitted.layout()
    };
    ChunkCircuit::new(model.clone(), start, end, p).expect("supported")
}

/// Every failure MockProver reports, as text.
fn failures(c: &ChunkCircuit, public: Vec<Fr>) -> Vec<String> {
    let prover = MockProver::run(c.min_k(), c, vec![public]).expect("synthesis");
    match prover.verify() {
        Ok(()) => Vec::new(),
        Err(e) => e.iter().map(|f| format!("{f:?}")).collect(),
    }
}

#[test]
fn tiny_transformer_as_one_chunk_proves_its_forward_outputs_with_and_without_matrix_checks() {
    let (model, input) = tiny();
    let n = model.layers().len();
    let dots = ChunkCircuit::fit(model.clone(), 0, n).expect("fit");
    let checks = with_checks(&model, 0, n);
    // Head 0's Q·Kᵀ and A·V (FullyConnected) and head 1's two BatchMatMuls.
    assert_eq!(checks.activation_products(), 4);
    assert_eq!(checks.matrix_checks(), 4);
    assert!(checks.rows() < dots.rows() || dots.layout().check_width > 0);
    for c in [dots, checks] {
        let c = witness(c, &input);
        assert_proves_forward(&model, &c, &input, 5);
    }
}

#[test]
fn tiny_transformer_in_three_chunks_chains() {
    let (model, input) = tiny();
    let n = model.layers().len();
    // Layer norm and head 0 / head 1 and the projection / the MLP.
    let cuts = [(0, 19), (19, 35), (35, n)];
    let mut file = input;
    for (a, b) in cuts {
        let c = witness(with_checks(&model, a, b), &file);
        assert_proves_forward(&model, &c, &file, 0);
        file = c.boundary_outputs().expect("outputs").clone();
    }
}

#[test]
fn wide_layouts_prove_the_forward_outputs_and_the_cost_model_counts_them_exactly() {
    let (model, input) = tiny();
    let n = model.layers().len();
    let wide = CostModel::wide_layouts(&model);
    assert!(!wide.is_empty());
    for p in &wide {
        assert!(p.advice >= 20, "{p:?} packs two elements a row at least");
    }
    // The narrowest (two packing slots a row, a matrix-check chip) and the widest (six, dot products): in
    // three chunks that chain, the honest witness proves the forward pass and a changed commitment fails.
    let cuts = [(0, 19), (19, 35), (35, n)];
    let ends = [wide[0], wide[wide.len() - 1]];
    assert!(ends[0].check_width > 0 && ends[1].check_width == 0);
    for p in &ends {
        let mut file = input.clone();
        for (a, b) in cuts {
            let c = ChunkCircuit::new(model.clone(), a, b, *p).expect("supported");
            let c = witness(c, &file);
            assert_proves_forward(&model, &c, &file, 0);
            file = c.boundary_outputs().expect("outputs").clone();
        }
    }
    // A bounded cost model counts the wide layouts too, exactly: its rows of every slice equal the circuit's.
    let cost =
        CostModel::new_for(&model, Some(Limit::k(16)), Visibility::default()).expect("cost model");
    let layouts = cost.layouts();
    for p in &wide {
        assert!(layouts.contains(p), "{p:?} counted under a bound");
    }
    for (i, layout) in layouts.iter().enumerate() {
        if !wide.contains(layout) {
            continue;
        }
        for a in (0..n).step_by(5) {
            for b in (a + 1..=n).step_by(7) {
                let c = ChunkCircuit::new(model.clone(), a, b, cost.layout_under(i, a, b))
                    .expect("circuit");
                assert_eq!(cost.rows(i, a, b), c.rows(), "{layout:?} rows of {a}..{b}");
                assert_eq!(
                    cost.min_k_under(i, a, b),
                    c.min_k(),
                    "{layout:?} k of {a}..{b}"
                );
            }
        }
    }
}

#[test]
fn tampered_activation_products_are_rejected_by_the_matrix_check() {
    let (model, input) = tiny();
    let n = model.layers().len();
    let honest = witness(with_checks(&model, 0, n), &input);
    let public = expected_instances(&model, &honest, &input);
    assert_eq!(failures(&honest, public.clone()), Vec::<String>::new());
    for nth in 0..honest.activation_products() {
        for tamper in [
            // A wrong product entry, the running sums recomputed: the row check's end is not zero.
            Tamper::Output { p: 1, o: 2 },
            // The same, fixed up after the challenge in the coefficient cell: its copy of r^(o+1) breaks.
            Tamper::OutputFixedUpAfterChallenge { p: 2, o: 1 },
            // The weight operand's copy differs from the activation it copies.
            Tamper::WeightCopy { o: 1, t: 2 },
            // The data operand's copy differs from the activation it copies.
            Tamper::InputCopy { p: 0, t: 3 },
        ] {
            let c = witness(
                with_checks(&model, 0, n).with_product_tamper(nth, tamper),
                &input,
            );
            let found = failures(&c, public.clone());
            assert!(
                found
                    .iter()
                    .any(|f| f.contains("matrix check") || f.contains("Equality constraint")),
                "product {nth}, {tamper:?}: {found:?}"
            );
        }
    }
}
