//! Dot products with weights in fixed columns: `acc = init + Σ xᵢ·wᵢ`, chained across rows.
//!
//! Row layout: `x_0 … x_{w-1}` and `acc` in advice columns, `w_0 … w_{w-1}`, `init` and `chain` in fixed
//! columns. Gate: `acc = chain·acc[prev] + init + Σ xᵢ·wᵢ`. The first row of a product has `chain = 0` and
//! `init` = the constant term; later rows have `chain = 1`, `init = 0`. Weights and constants are fixed
//! columns, so they are part of the verifying key: a prover cannot swap them.

use halo2_proofs::circuit::{Layouter, Region, Value};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;

use crate::num::{assign_int, copy_int, fe};
use crate::{AssignedInt, Rows};

/// Columns of the dot-product chip.
#[derive(Clone, Debug)]
pub struct DotConfig {
    xs: Vec<Column<Advice>>,
    ws: Vec<Column<Fixed>>,
    acc: Column<Advice>,
    init: Column<Fixed>,
    chain: Column<Fixed>,
    q: Selector,
}

/// The dot-product chip.
#[derive(Clone, Debug)]
pub struct DotChip {
    config: DotConfig,
}

impl DotChip {
    /// Fixed columns a dot product of width `width` takes (see [`Self::configure`]).
    pub fn fixed_columns(width: usize) -> usize {
        width + 2
    }

    /// Configures a dot product of width `xs.len()` per row, accumulating into `acc`, with its weights, `init`
    /// and `chain` in the first `xs.len() + 2` columns of `fixed`. Those may be shared with chips whose rows
    /// never overlap this chip's (each gate is multiplied by its own selector, and a row holds one chip).
    ///
    /// Side effects: enables equality on `xs` and `acc`.
    pub fn configure<F: PrimeField>(
        meta: &mut ConstraintSystem<F>,
        xs: &[Column<Advice>],
        acc: Column<Advice>,
        fixed: &[Column<Fixed>],
    ) -> DotConfig {
        assert!(
            !xs.is_empty(),
            "dot product needs at least one input column"
        );
        assert!(
            fixed.len() >= Self::fixed_columns(xs.len()),
            "dot product of width {} needs {} fixed columns",
            xs.len(),
            Self::fixed_columns(xs.len())
        );
        let ws: Vec<_> = fixed[..xs.len()].to_vec();
        let (init, chain) = (fixed[xs.len()], fixed[xs.len() + 1]);
        let q = meta.selector();
        for c in xs.iter().chain([&acc]) {
            meta.enable_equality(*c);
        }
        meta.create_gate("dot product row", |m| {
            let s = m.query_selector(q);
            let acc_cur = m.query_advice(acc, Rotation::cur());
            let acc_prev = m.query_advice(acc, Rotation::prev());
            let chain = m.query_fixed(chain, Rotation::cur());
            let init = m.query_fixed(init, Rotation::cur());
            let sum = xs
                .iter()
                .zip(&ws)
                .fold(Expression::Constant(F::ZERO), |e, (x, w)| {
                    e + m.query_advice(*x, Rotation::cur()) * m.query_fixed(*w, Rotation::cur())
                });
            vec![s * (acc_cur - chain * acc_prev - init - sum)]
        });
        DotConfig {
            xs: xs.to_vec(),
            ws,
            acc,
            init,
            chain,
            q,
        }
    }

    /// The chip for a configuration.
    pub fn construct(config: DotConfig) -> Self {
        Self { config }
    }

    /// Inputs per row.
    pub fn width(&self) -> usize {
        self.config.xs.len()
    }

    /// Rows a product of `n` terms takes.
    pub fn rows_for(&self, n: usize) -> usize {
        n.div_ceil(self.width()).max(1)
    }

    /// `init + Σ xᵢ·wᵢ`, with `xs` copied in and `ws`, `init` fixed.
    pub fn dot<F: PrimeField>(
        &self,
        layouter: &mut impl Layouter<F>,
        rows: &mut Rows,
        xs: &[AssignedInt],
        ws: &[i64],
        init: i128,
    ) -> Result<AssignedInt, Error> {
        assert_eq!(xs.len(), ws.len(), "one weight per input");
        let base = rows.take(self.rows_for(xs.len()));
        layouter.assign_region(
            || "dot product",
            |mut region| self.assign_dot(&mut region, base, xs, ws, init, None),
        )
    }

    /// Low level: lays the product out from `offset`; `acc_override` replaces the honest accumulator values
    /// (tests use it to try a wrong result).
    pub fn assign_dot<F: PrimeField>(
        &self,
        region: &mut Region<'_, F>,
        offset: usize,
        xs: &[AssignedInt],
        ws: &[i64],
        init: i128,
        acc_override: Option<&dyn Fn(usize, Value<i128>) -> Value<i128>>,
    ) -> Result<AssignedInt, Error> {
        let w = self.width();
        let mut acc = Value::known(init);
        let mut last = None;
        for row in 0..self.rows_for(xs.len()) {
            let at = offset + row;
            self.config.q.enable(region, at)?;
            region.assign_fixed(self.config.chain, at, fe::<F>(i128::from(row > 0)));
            region.assign_fixed(
                self.config.init,
                at,
                fe::<F>(if row == 0 { init } else { 0 }),
            );
            for slot in 0..w {
                let i = row * w + slot;
                let (x, wt) = match (xs.get(i), ws.get(i)) {
                    (Some(x), Some(&wt)) => {
                        (copy_int(region, self.config.xs[slot], at, x).value, wt)
                    }
                    // Padding: weight 0, so the free cell cannot change the result.
                    _ => (
                        assign_int(region, self.config.xs[slot], at, Value::known(0)).value,
                        0,
                    ),
                };
                region.assign_fixed(self.config.ws[slot], at, fe::<F>(wt.into()));
                acc = acc.zip(x).map(|(a, x)| a + x * i128::from(wt));
            }
            let v = acc_override.map_or(acc, |f| f(row, acc));
            last = Some(assign_int(region, self.config.acc, at, v));
        }
        Ok(last.expect("a product has at least one row"))
    }
}
