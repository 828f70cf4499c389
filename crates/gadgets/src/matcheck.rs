//! Matrix products checked against a random challenge (Freivalds): `y[p] = W·x[p] + b` for every row `p` at once,
//! where `W` is either constants of the model (fixed columns) or cells of the witness (an activation: attention's
//! `Q·Kᵀ` and `A·V`).
//!
//! A product with `O` outputs and `T` inputs per row costs `T·O` multiplications as dot products. This chip
//! instead commits the outputs `y[p,o]` as free witnesses in phase 0, draws a challenge `r` from the transcript
//! after every phase-0 column is committed, and checks one equation per row:
//!
//! ```text
//! Σ_t x[p,t]·ŵ_t + b̂ − Σ_o y[p,o]·r^(o+1) = 0,   ŵ_t = Σ_o W[o,t]·r^(o+1),   b̂ = Σ_o b_o·r^(o+1)
//! ```
//!
//! `ŵ` and `b̂` are computed in the circuit from the weights and the powers of `r`, once per product. If
//! any `y[p,o]` differs from the true product, the row's left side is a nonzero polynomial in `r` of degree at
//! most `O`, and the prover fixed it before `r` existed: it vanishes for at most `O` of the `≈ 2^254`
//! challenges. The check costs `T + O + 1` multiplications per row and `O·(T + 1)` per product. Weights that
//! are cells ([`Weights::Cells`]) are copied into phase-0 `u` cells of the weight chains (`s = 1`), so they too
//! are fixed before `r` is drawn and the same argument holds: `A·B` for two witness matrices costs
//! `O·T + P·(T + O + 1)` multiplications instead of `P·O·T`.
//!
//! Columns (all the chip's own): `u_0 … u_{w−1}` (phase 0: copies of `x`, the outputs `y`), `c_0 … c_{w−1}` and
//! `acc` (phase 1: copies of `ŵ_t`, of the powers and of `b̂`, and the running sums), fixed `s_i, f_i` per slot
//! and `chain`, `end` per row. Gates:
//!
//! - sum (selector `q`): `acc = chain·acc[prev] + Σ_i (s_i·u_i + f_i)·c_i`, and `end·acc = 0`;
//! - powers (selector `q_pow`): `c_0[next] = r·c_0`; (selector `q_start`) `c_0 = r`.
//!
//! A term is one slot: an input (`s = 1`, `c` a copy of `ŵ_t`), an output (`s = −1`, `c` a copy of
//! `r^(o+1)`), the bias (`s = 0, f = 1`, `c` a copy of `b̂`) or a weight (`s = 0, f = W[o,t]`, `c` a copy of
//! `r^(o+1)`; for a cell weight `s = 1, f = 0` and `u` a copy of the cell); an unused slot has `s = f = 0` and adds nothing whatever its cells hold. A row check ends on a
//! row with `end = 1`. All `s`, `f`, `chain` and `end` are fixed columns, so they are part of the verifying key.
//!
//! Phases: [`MatCheckChip::product`] lays out everything phase 0 holds (the `u` cells, the fixed columns,
//! the selectors) and returns the outputs and a [`PendingProduct`]; once every phase-0 cell of the circuit
//! is assigned, the circuit calls `Layouter::next_phase` and then [`MatCheckChip::finish`] with all of them.

use halo2_proofs::circuit::{Cell, Layouter, Region, Value};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::plonk::{
    Advice, Challenge, Column, ConstraintSystem, Error, Expression, FirstPhase, Fixed, SecondPhase,
    Selector,
};
use halo2_proofs::poly::Rotation;

use crate::num::{assign_int, fe};
use crate::{AssignedInt, Rows};

/// Columns of the matrix-check chip.
#[derive(Clone, Debug)]
pub struct MatCheckConfig {
    u: Vec<Column<Advice>>,
    c: Vec<Column<Advice>>,
    acc: Column<Advice>,
    s: Vec<Column<Fixed>>,
    f: Vec<Column<Fixed>>,
    chain: Column<Fixed>,
    end: Column<Fixed>,
    q: Selector,
    q_pow: Selector,
    q_start: Selector,
    r: Challenge,
}

/// The matrix-check chip.
#[derive(Clone, Debug)]
pub struct MatCheckChip {
    config: MatCheckConfig,
}

/// A phase-1 cell and its value.
#[derive(Clone, Copy, Debug)]
struct Fe<F> {
    cell: Cell,
    value: Value<F>,
}

/// What a slot's `c` cell copies in phase 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Coef {
    /// `r^(o+1)`.
    Power(usize),
    /// `ŵ_t`.
    Weight(usize),
    /// `b̂`.
    Bias,
    /// Nothing (an unused slot: 0).
    Zero,
}

/// One slot of a chain: the fixed `s` and `f`, the phase-0 value `u` (and the cell it copies, for an input or a
/// cell weight) and what `c` copies.
#[derive(Clone, Copy, Debug)]
struct Term {
    s: i8,
    f: i128,
    u: Value<i128>,
    copy: Option<Cell>,
    coef: Coef,
}

/// The weights `W` of a product, as outputs × inputs (row-major: `W[o·T + t]`).
#[derive(Clone, Copy, Debug)]
pub enum Weights<'a> {
    /// Constants of the model, in fixed columns (part of the verifying key).
    Fixed(&'a [i64]),
    /// Cells of the witness (an activation), copied into the chip before the challenge is drawn.
    Cells(&'a [AssignedInt]),
}

impl Weights<'_> {
    /// How many weights.
    pub fn len(&self) -> usize {
        match self {
            Weights::Fixed(w) => w.len(),
            Weights::Cells(w) => w.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of weight `i`.
    fn value(&self, i: usize) -> Value<i128> {
        match self {
            Weights::Fixed(w) => Value::known(w[i].into()),
            Weights::Cells(w) => w[i].value,
        }
    }
}

/// A run of rows whose `acc` sums its terms.
#[derive(Clone, Debug)]
struct Chain {
    at: usize,
    terms: Vec<Term>,
}

/// A witness change an attacker could make, for the chip's tests (`None` in circuits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tamper {
    /// The honest witness.
    #[default]
    None,
    /// Output `o` of row `p` off by one, with every running sum recomputed to match (only `end` can tell).
    Output {
        /// Row of `x`.
        p: usize,
        /// Output index.
        o: usize,
    },
    /// Output `o` of row `p` off by one and the difference put into the unused slot after the row's terms
    /// (its `u` and `c`), running sums recomputed: an unused slot must add nothing.
    OutputCompensatedInUnusedSlot {
        /// Row of `x`.
        p: usize,
        /// Output index.
        o: usize,
    },
    /// `ŵ_t` replaced by `ŵ_t + 1` where it is computed (its chain's last `acc`), copies following.
    WeightSum {
        /// Input index.
        t: usize,
    },
    /// The power `r^(i+1)` replaced by `r^(i+1) + 1` where it is laid out, copies following.
    Power {
        /// Power index.
        i: usize,
    },
    /// The copy of input `t` in row `p` holds `x + 1` instead of the input cell's value, running sums matching.
    InputCopy {
        /// Row of `x`.
        p: usize,
        /// Input index.
        t: usize,
    },
    /// The copy of the cell weight `W[o,t]` holds `W + 1` (and the outputs are the product with that weight):
    /// only the copy constraint to the weight cell can tell.
    WeightCopy {
        /// Output index.
        o: usize,
        /// Input index.
        t: usize,
    },
    /// Output `o` of row `p` off by one, fixed up after the challenge: the row check's coefficient cell for that
    /// output holds `r^(o+1)·y/(y+1)` instead of a copy of `r^(o+1)`, so that its product with the wrong output
    /// is what the honest one gives and every running sum, `end` included, balances.
    OutputFixedUpAfterChallenge {
        /// Row of `x`.
        p: usize,
        /// Output index.
        o: usize,
    },
}

/// An attack's change to one chain's phase-1 cells (tests only).
#[derive(Clone, Copy, Debug)]
enum Adjust<'a, F> {
    None,
    /// The chain's last running sum plus one.
    Bump,
    /// The first unused slot's `c` holds this value, counted as if the slot were an input.
    Compensate(&'a Fe<F>),
    /// Output `o`'s coefficient cell absorbs the output's error.
    FixUp(usize),
}

/// One product laid out in phase 0, waiting for the challenge.
#[derive(Clone, Debug)]
pub struct PendingProduct {
    outputs: usize,
    powers_at: usize,
    /// One chain per input `t` (`ŵ_t`), then the bias chain if any.
    weights: Vec<Chain>,
    bias: Option<Chain>,
    /// One chain per row of `x`, each ending with `end = 1`.
    checks: Vec<Chain>,
    tamper: Tamper,
}

impl MatCheckChip {
    /// Advice columns the chip takes at width `w` (all its own): `w` in phase 0, `w + 1` in phase 1.
    pub fn advice_columns(w: usize) -> usize {
        2 * w + 1
    }

    /// Fixed columns the chip takes at width `w` (all its own).
    pub fn fixed_columns(w: usize) -> usize {
        2 * w + 2
    }

    /// Configures the chip on `w` slots per row, on columns of its own, with a challenge drawn after phase 0.
    ///
    /// Side effects: enables equality on the `u`, `c` and `acc` columns.
    pub fn configure<F: PrimeField>(meta: &mut ConstraintSystem<F>, w: usize) -> MatCheckConfig {
        assert!(w >= 1, "a matrix check needs at least one slot per row");
        let u: Vec<_> = (0..w).map(|_| meta.advice_column_in(FirstPhase)).collect();
        let c: Vec<_> = (0..w).map(|_| meta.advice_column_in(SecondPhase)).collect();
        let acc = meta.advice_column_in(SecondPhase);
        let s: Vec<_> = (0..w).map(|_| meta.fixed_column()).collect();
        let f: Vec<_> = (0..w).map(|_| meta.fixed_column()).collect();
        let (chain, end) = (meta.fixed_column(), meta.fixed_column());
        let (q, q_pow, q_start) = (meta.selector(), meta.selector(), meta.selector());
        let r = meta.challenge_usable_after(FirstPhase);
        for col in u.iter().chain(&c).chain([&acc]) {
            meta.enable_equality(*col);
        }
        meta.create_gate("matrix check: running sum", |m| {
            let q = m.query_selector(q);
            let acc_cur = m.query_advice(acc, Rotation::cur());
            let acc_prev = m.query_advice(acc, Rotation::prev());
            let chain = m.query_fixed(chain, Rotation::cur());
            let end = m.query_fixed(end, Rotation::cur());
            let mut sum = Expression::Constant(F::ZERO);
            for i in 0..w {
                let si = m.query_fixed(s[i], Rotation::cur());
                let fi = m.query_fixed(f[i], Rotation::cur());
                let ui = m.query_advice(u[i], Rotation::cur());
                let ci = m.query_advice(c[i], Rotation::cur());
                sum = sum + (si * ui + fi) * ci;
            }
            vec![
                q.clone() * (acc_cur.clone() - chain * acc_prev - sum),
                q * end * acc_cur,
            ]
        });
        meta.create_gate("matrix check: powers of the challenge", |m| {
            let (q_pow, q_start) = (m.query_selector(q_pow), m.query_selector(q_start));
            let r = m.query_challenge(r);
            let cur = m.query_advice(c[0], Rotation::cur());
            let next = m.query_advice(c[0], Rotation::next());
            vec![
                q_pow * (next - r.clone() * cur.clone()),
                q_start * (cur - r),
            ]
        });
        MatCheckConfig {
            u,
            c,
            acc,
            s,
            f,
            chain,
            end,
            q,
            q_pow,
            q_start,
            r,
        }
    }

    /// The chip for a configuration.
    pub fn construct(config: MatCheckConfig) -> Self {
        Self { config }
    }

    /// Slots per row.
    pub fn width(&self) -> usize {
        self.config.u.len()
    }

    /// Rows a product takes on the chip's cursor: `outputs` powers, one chain of `outputs` weights per input
    /// (`inputs` of them) and one for a bias, and one chain per row of `x` (`taps` inputs present in it, its
    /// outputs and the bias).
    pub fn rows_for(
        &self,
        inputs: usize,
        outputs: usize,
        bias: bool,
        taps: impl IntoIterator<Item = usize>,
    ) -> usize {
        let w = self.width();
        let chain = |n: usize| n.div_ceil(w).max(1);
        outputs
            + (inputs + usize::from(bias)) * chain(outputs)
            + taps
                .into_iter()
                .map(|n| chain(n + outputs + usize::from(bias)))
                .sum::<usize>()
    }

    /// Lays out phase 0 of `y[p,o] = init[o] + Σ_(t, x) x·weights[o·T + t]` for every row `p` of `xs`, where a
    /// row lists the inputs present in it as `(t, cell)` (inputs left out are zero, like taps on a convolution's
    /// padding). Returns the outputs (fresh cells, `init.len()` per row) and what [`Self::finish`] completes.
    pub fn product<F: PrimeField>(
        &self,
        layouter: &mut impl Layouter<F>,
        rows: &mut Rows,
        xs: &[Vec<(usize, AssignedInt)>],
        weights: Weights<'_>,
        init: &[i128],
        tamper: Tamper,
    ) -> Result<(Vec<Vec<AssignedInt>>, PendingProduct), Error> {
        let outputs = init.len();
        assert!(outputs > 0, "a product has at least one output");
        assert_eq!(weights.len() % outputs, 0, "weights are outputs × inputs");
        let inputs = weights.len() / outputs;
        let bias = init.iter().any(|&b| b != 0);
        let n = self.rows_for(inputs, outputs, bias, xs.iter().map(|row| row.len()));
        let mut at = rows.take_check(n);
        let powers_at = at;
        at += outputs;
        let w = self.width();
        let mut next_chain = |terms: Vec<Term>| {
            let c = Chain { at, terms };
            at += c.terms.len().div_ceil(w).max(1);
            c
        };
        // The weight as the product uses it (a tampered copy changes it).
        let weight = |o: usize, t: usize| {
            let v = weights.value(o * inputs + t);
            if tamper == (Tamper::WeightCopy { o, t }) {
                v.map(|w| w + 1)
            } else {
                v
            }
        };
        let weight_chains: Vec<_> = (0..inputs)
            .map(|t| {
                next_chain(
                    (0..outputs)
                        .map(|o| match weights {
                            Weights::Fixed(w) => Term {
                                s: 0,
                                f: w[o * inputs + t].into(),
                                u: Value::known(0),
                                copy: None,
                                coef: Coef::Power(o),
                            },
                            Weights::Cells(w) => Term {
                                s: 1,
                                f: 0,
                                u: weight(o, t),
                                copy: Some(w[o * inputs + t].cell),
                                coef: Coef::Power(o),
                            },
                        })
                        .collect(),
                )
            })
            .collect();
        let bias_chain = bias.then(|| {
            next_chain(
                init.iter()
                    .enumerate()
                    .map(|(o, &b)| Term {
                        s: 0,
                        f: b,
                        u: Value::known(0),
                        copy: None,
                        coef: Coef::Power(o),
                    })
                    .collect(),
            )
        });
        let mut ys = Vec::with_capacity(xs.len());
        let mut checks = Vec::with_capacity(xs.len());
        for (p, row) in xs.iter().enumerate() {
            let mut terms = Vec::with_capacity(row.len() + outputs + 1);
            for (t, x) in row {
                assert!(*t < inputs, "input index {t} out of {inputs}");
                let mut u = x.value;
                if tamper == (Tamper::InputCopy { p, t: *t }) {
                    u = u.map(|v| v + 1);
                }
                terms.push(Term {
                    s: 1,
                    f: 0,
                    u,
                    copy: Some(x.cell),
                    coef: Coef::Weight(*t),
                });
            }
            for (o, b) in init.iter().enumerate() {
                let mut y = row.iter().fold(Value::known(*b), |acc, (t, x)| {
                    acc.zip(x.value)
                        .zip(weight(o, *t))
                        .map(|((a, v), w)| a + v * w)
                });
                if matches!(tamper, Tamper::Output { p: tp, o: to } | Tamper::OutputCompensatedInUnusedSlot { p: tp, o: to } | Tamper::OutputFixedUpAfterChallenge { p: tp, o: to } if (tp, to) == (p, o))
                {
                    y = y.map(|v| v + 1);
                }
                terms.push(Term {
                    s: -1,
                    f: 0,
                    u: y,
                    copy: None,
                    coef: Coef::Power(o),
                });
            }
            if bias {
                terms.push(Term {
                    s: 0,
                    f: 1,
                    u: Value::known(0),
                    copy: None,
                    coef: Coef::Bias,
                });
            }
            checks.push(next_chain(terms));
        }
        let pending = PendingProduct {
            outputs,
            powers_at,
            weights: weight_chains,
            bias: bias_chain,
            checks,
            tamper,
        };
        layouter.assign_region(
            || "matrix check (phase 0)",
            |mut region| {
                let cfg = &self.config;
                cfg.q_start.enable(&mut region, powers_at)?;
                for i in 0..outputs.saturating_sub(1) {
                    cfg.q_pow.enable(&mut region, powers_at + i)?;
                }
                for chain in pending.weights.iter().chain(&pending.bias) {
                    self.assign_chain_fixed(&mut region, chain, false)?;
                    self.assign_chain_u(&mut region, chain, false)?;
                }
                ys.clear();
                for (p, chain) in pending.checks.iter().enumerate() {
                    self.assign_chain_fixed(&mut region, chain, true)?;
                    let extra = matches!(pending.tamper, Tamper::OutputCompensatedInUnusedSlot { p: tp, .. } if tp == p);
                    ys.push(self.assign_chain_u(&mut region, chain, extra)?);
                }
                Ok(())
            },
        )?;
        Ok((ys, pending))
    }

    /// Fixed columns and the selector of a chain's rows; `end` on its last row for a row check.
    fn assign_chain_fixed<F: PrimeField>(
        &self,
        region: &mut Region<'_, F>,
        chain: &Chain,
        end: bool,
    ) -> Result<(), Error> {
        let cfg = &self.config;
        let w = self.width();
        let n = chain.terms.len().div_ceil(w).max(1);
        for r in 0..n {
            let at = chain.at + r;
            cfg.q.enable(region, at)?;
            region.assign_fixed(cfg.chain, at, fe::<F>(i128::from(r > 0)));
            region.assign_fixed(cfg.end, at, fe::<F>(i128::from(end && r + 1 == n)));
            for i in 0..w {
                let (s, f) = chain.terms.get(r * w + i).map_or((0, 0), |t| (t.s, t.f));
                region.assign_fixed(cfg.s[i], at, fe::<F>(s.into()));
                region.assign_fixed(cfg.f[i], at, fe::<F>(f));
            }
        }
        Ok(())
    }

    /// The phase-0 `u` cells of a chain: copies of the cells its terms name (the inputs of a row check, the
    /// cell weights of a weight chain), fresh output cells (returned), zeros elsewhere (`extra`: a 1 in the
    /// first unused slot, for one attack).
    fn assign_chain_u<F: PrimeField>(
        &self,
        region: &mut Region<'_, F>,
        chain: &Chain,
        extra: bool,
    ) -> Result<Vec<AssignedInt>, Error> {
        let cfg = &self.config;
        let w = self.width();
        let n = chain.terms.len().div_ceil(w).max(1);
        let mut outs = Vec::new();
        for k in 0..n * w {
            let (at, col) = (chain.at + k / w, cfg.u[k % w]);
            match chain.terms.get(k) {
                Some(t) => {
                    // `t.u` is the copied cell's value unless a test tampers with the copy.
                    let cell = assign_int(region, col, at, t.u);
                    if let Some(src) = t.copy {
                        region.constrain_equal(cell.cell, src);
                    }
                    if t.s == -1 {
                        outs.push(cell);
                    }
                }
                None => {
                    let v = i128::from(extra && k == chain.terms.len());
                    assign_int(region, col, at, Value::known(v));
                }
            }
        }
        Ok(outs)
    }

    /// Phase 1 of every pending product: the powers of the challenge, `ŵ`, `b̂` and every row check's running
    /// sums. Call once, after `Layouter::next_phase` (keygen and the mock prover run it with the challenge
    /// unknown in their first pass, which is fine).
    pub fn finish<F: PrimeField>(
        &self,
        layouter: &mut impl Layouter<F>,
        pending: &[PendingProduct],
    ) -> Result<(), Error> {
        if pending.is_empty() {
            return Ok(());
        }
        let r = layouter.get_challenge(self.config.r);
        layouter.assign_region(
            || "matrix check (phase 1)",
            |mut region| {
                for p in pending {
                    self.finish_one(&mut region, p, r)?;
                }
                Ok(())
            },
        )
    }

    fn finish_one<F: PrimeField>(
        &self,
        region: &mut Region<'_, F>,
        p: &PendingProduct,
        r: Value<F>,
    ) -> Result<(), Error> {
        let cfg = &self.config;
        let mut powers: Vec<Fe<F>> = Vec::with_capacity(p.outputs);
        let mut v = r;
        for i in 0..p.outputs {
            let mut val = v;
            if p.tamper == (Tamper::Power { i }) {
                val = val.map(|x| x + F::ONE);
            }
            let cell = region.assign_advice(cfg.c[0], p.powers_at + i, val).cell();
            powers.push(Fe { cell, value: val });
            v = v * r;
        }
        let mut what = Vec::with_capacity(p.weights.len());
        for (t, chain) in p.weights.iter().enumerate() {
            let adjust = if p.tamper == (Tamper::WeightSum { t }) {
                Adjust::Bump
            } else {
                Adjust::None
            };
            what.push(self.finish_chain(region, chain, &powers, &[], None, adjust)?);
        }
        let bhat = match &p.bias {
            Some(chain) => {
                Some(self.finish_chain(region, chain, &powers, &[], None, Adjust::None)?)
            }
            None => None,
        };
        for (idx, chain) in p.checks.iter().enumerate() {
            let adjust = match p.tamper {
                Tamper::OutputCompensatedInUnusedSlot { p: tp, o } if tp == idx => {
                    Adjust::Compensate(&powers[o])
                }
                Tamper::OutputFixedUpAfterChallenge { p: tp, o } if tp == idx => Adjust::FixUp(o),
                _ => Adjust::None,
            };
            self.finish_chain(region, chain, &powers, &what, bhat.as_ref(), adjust)?;
        }
        Ok(())
    }

    /// The `c` cells and running sums of one chain; returns its last `acc`. `adjust` is an attack's change
    /// (none in circuits).
    fn finish_chain<F: PrimeField>(
        &self,
        region: &mut Region<'_, F>,
        chain: &Chain,
        powers: &[Fe<F>],
        what: &[Fe<F>],
        bhat: Option<&Fe<F>>,
        adjust: Adjust<'_, F>,
    ) -> Result<Fe<F>, Error> {
        let cfg = &self.config;
        let w = self.width();
        let n = chain.terms.len().div_ceil(w).max(1);
        let mut acc = Value::known(F::ZERO);
        let mut last = None;
        for r in 0..n {
            let at = chain.at + r;
            for i in 0..w {
                let k = r * w + i;
                let (term, source) = match (chain.terms.get(k), adjust) {
                    (Some(t), _) => (
                        *t,
                        match t.coef {
                            Coef::Power(o) => Some(&powers[o]),
                            Coef::Weight(t) => Some(&what[t]),
                            Coef::Bias => bhat,
                            Coef::Zero => None,
                        },
                    ),
                    (None, Adjust::Compensate(s)) if k == chain.terms.len() => {
                        // The attack: u = 1 here (phase 0), c = the compensation, counted as an input.
                        region.assign_advice(cfg.c[i], at, s.value);
                        acc = acc + s.value;
                        continue;
                    }
                    (None, _) => (
                        Term {
                            s: 0,
                            f: 0,
                            u: Value::known(0),
                            copy: None,
                            coef: Coef::Zero,
                        },
                        None,
                    ),
                };
                let mut c = source.map_or(Value::known(F::ZERO), |s| s.value);
                if let (Adjust::FixUp(o), Coef::Power(to), -1) = (adjust, term.coef, term.s) {
                    if o == to {
                        // The attack: c·(y + 1) = r^(o+1)·y, so the wrong output adds what the right one did.
                        c = c.zip(term.u).map(|(c, u)| {
                            c * fe::<F>(u - 1) * fe::<F>(u).invert().unwrap_or(F::ZERO)
                        });
                    }
                }
                let cell = region.assign_advice(cfg.c[i], at, c).cell();
                if let Some(s) = source {
                    region.constrain_equal(cell, s.cell);
                }
                let factor = term
                    .u
                    .map(|u| fe::<F>(i128::from(term.s) * u) + fe::<F>(term.f));
                acc = acc + factor * c;
            }
            let mut val = acc;
            if matches!(adjust, Adjust::Bump) && r + 1 == n {
                val = val.map(|v| v + F::ONE);
            }
            let cell = region.assign_advice(cfg.acc, at, val).cell();
            last = Some(Fe { cell, value: val });
        }
        Ok(last.expect("a chain has at least one row"))
    }
}
