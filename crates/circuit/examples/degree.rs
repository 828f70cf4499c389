//! Prints the constraint system's shape for the default layout: `cargo run -p dzk-circuit --example degree`.

use dzk_circuit::{ChunkCircuit, LayoutParams};
use dzk_gadgets::Fr;
use halo2_proofs::plonk::{Circuit, ConstraintSystem};

fn main() {
    for p in [
        LayoutParams::default(),
        LayoutParams {
            range_slots: 1,
            short_slots: 1,
            ..LayoutParams::default()
        },
        LayoutParams {
            fn_slots: 1,
            ..LayoutParams::default()
        },
        LayoutParams {
            fn_slots: 1,
            fn_groups: 8,
            ..LayoutParams::default()
        },
    ] {
        let mut cs = ConstraintSystem::<Fr>::default();
        ChunkCircuit::configure_with_params(&mut cs, p);
        println!(
            "{p:?}: degree {}, blinding {}, advice {}, fixed {}, selectors {}, lookups {}, gates {}",
            cs.degree(),
            cs.blinding_factors(),
            cs.num_advice_columns(),
            cs.num_fixed_columns(),
            cs.num_selectors(),
            cs.lookups().len(),
            cs.gates().len()
        );
    }
}
