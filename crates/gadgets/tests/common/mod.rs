//! What the chip test files share.

use dzk_gadgets::{assign_int, AssignedInt, Fr, Rows};
use halo2_proofs::circuit::{Layouter, Value};
use halo2_proofs::plonk::{Advice, Column, Error};

/// Assigns `vals` down `col`, one per row, as free input cells.
pub fn inputs(
    layouter: &mut impl Layouter<Fr>,
    rows: &mut Rows,
    col: Column<Advice>,
    vals: &[i128],
) -> Result<Vec<AssignedInt>, Error> {
    let base = rows.take(vals.len());
    layouter.assign_region(
        || "inputs",
        |mut r| {
            Ok(vals
                .iter()
                .enumerate()
                .map(|(i, v)| assign_int(&mut r, col, base + i, Value::known(*v)))
                .collect())
        },
    )
}
