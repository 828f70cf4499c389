//! halo2-axiom caps a constraint system's degree at `MAX_DEGREE` (5 unless the environment says otherwise)
//! without a word: a gate or lookup of higher degree then makes proofs that never verify (MockProver does not
//! see it). This test, alone in its binary because it raises the cap for the process, checks the uncapped
//! degree of every layout family the chunk circuit has.

use dzk_circuit::{ChunkCircuit, LayoutParams};
use dzk_gadgets::Fr;
use halo2_proofs::plonk::{Circuit, ConstraintSystem};

/// Configures layout `p` and checks its degree (with the cap lifted by the caller).
fn assert_degree_at_most_five(p: LayoutParams) {
    let mut cs = ConstraintSystem::<Fr>::default();
    ChunkCircuit::configure_with_params(&mut cs, p);
    assert!(cs.degree() <= 5, "{p:?}: degree {}", cs.degree());
}

#[test]
fn every_layout_has_degree_at_most_five_without_the_cap() {
    std::env::set_var("MAX_DEGREE", "64");
    for advice in [12, 16] {
        for hash_lanes in [0, 1, 2] {
            for fn_slots in [0, 1, 2] {
                for fn_groups in [1, 2, 7, 32] {
                    for check_width in [0, 2, 4] {
                        let p = LayoutParams {
                            advice,
                            hash_lanes,
                            fn_slots,
                            fn_groups,
                            check_width,
                            ..LayoutParams::default()
                        };
                        assert_degree_at_most_five(p);
                    }
                }
            }
        }
    }
    // The wide layouts (several packing slots a row, many lanes, slots and function slots).
    for advice in [24, 48, 64] {
        for fn_groups in [1, 32] {
            for check_width in [0, 4] {
                let p = LayoutParams {
                    advice,
                    range_slots: 16,
                    short_slots: 8,
                    hash_lanes: 24,
                    fn_slots: advice / 12,
                    fn_groups,
                    check_width,
                    ..LayoutParams::default()
                };
                assert_degree_at_most_five(p);
            }
        }
    }
    // The check itself can fail: a degree-6 lookup input is seen.
    std::env::set_var("MAX_DEGREE", "64");
    let mut cs = ConstraintSystem::<Fr>::default();
    let a = cs.advice_column();
    let t = cs.lookup_table_column();
    let q = cs.complex_selector();
    cs.lookup("degree 3 input", |m| {
        let s = m.query_selector(q);
        let x = m.query_advice(a, halo2_proofs::poly::Rotation::cur());
        vec![(s * x.clone() * x, t)]
    });
    assert_eq!(cs.degree(), 6);
}
