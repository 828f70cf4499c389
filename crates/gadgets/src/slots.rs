//! The row loop the slot chips share (rescale, comparison, clamp, affine, function lookup): `n` items laid out
//! `slots` to a row on fresh shared rows, in one region.

use halo2_proofs::circuit::{Layouter, Region};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::plonk::Error;

use crate::range::Checks;
use crate::{AssignedInt, Rows};

/// Takes `ceil(n / slots)` shared rows and lays item `i` out in slot `i % slots` of row `base + i / slots`.
///
/// `item(region, offset, slot, i, checks)` assigns item `i`, returns its output cell and adds the cells it
/// needs range-checked to `checks`, in order. When the last row is not full, `fill(region, offset, first)`
/// fills its slots `first..` (a row's selector covers all of its slots, so they must satisfy the gate).
/// Returns the outputs and the checks, which the caller runs with [`crate::range::RangeChip::check_all`]
/// once the region is done. Nothing is taken or assigned when `n` is 0.
pub(crate) fn lay_out<F: PrimeField>(
    layouter: &mut impl Layouter<F>,
    rows: &mut Rows,
    name: &'static str,
    slots: usize,
    n: usize,
    mut item: impl FnMut(
        &mut Region<'_, F>,
        usize,
        usize,
        usize,
        &mut Checks,
    ) -> Result<AssignedInt, Error>,
    fill: impl Fn(&mut Region<'_, F>, usize, usize),
) -> Result<(Vec<AssignedInt>, Checks), Error> {
    if n == 0 {
        return Ok((Vec::new(), Checks::default()));
    }
    let base = rows.take(n.div_ceil(slots));
    layouter.assign_region(
        || name,
        |mut region| {
            let mut outs = Vec::with_capacity(n);
            let mut checks = Checks::default();
            for i in 0..n {
                outs.push(item(
                    &mut region,
                    base + i / slots,
                    i % slots,
                    i,
                    &mut checks,
                )?);
            }
            let used = n % slots;
            if used != 0 {
                fill(&mut region, base + n / slots, used);
            }
            Ok((outs, checks))
        },
    )
}
