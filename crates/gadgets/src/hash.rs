//! Poseidon in the circuit, equal to `dzk_merkle::hash`, and the packing of fixed-point values into field
//! elements, equal to `dzk_merkle::pack`.
//!
//! # Poseidon chip
//! The sponge is a chain of *slots*; each slot holds a state `s = (s₀, s₁, s₂)`, three helper cells
//! `t = (t₀, t₁, t₂)` and four fixed constants `c`, and its gate constrains the *next* slot's state `s'`:
//!
//! | slot | gate |
//! |---|---|
//! | init | `s' = (c₀, c₁, t₂)`: `c₀ = 2⁶⁴` (the sponge's capacity), `c₁` the tag, `t₂` the salt |
//! | full round | `xⱼ = sⱼ + cⱼ`, `tⱼ = xⱼ²`, `s'ᵢ = Σⱼ Mᵢⱼ·tⱼ²·xⱼ` |
//! | partial round | `t₀ = x₀²`, `s'ᵢ = Mᵢ₀·t₀²·x₀ + Mᵢ₁·x₁ + Mᵢ₂·x₂` |
//! | two partial rounds | `t₀ = x₀²`, `lᵢ = Mᵢ₀·t₀²·x₀ + Mᵢ₁·s₁ + Mᵢ₂·s₂`, `t₁ = l₀ + c₁`, `t₂ = t₁²`, `s'ᵢ = Mᵢ₀·t₂²·t₁ + Mᵢ₁·(l₁ + c₂) + Mᵢ₂·(l₂ + c₃)` |
//! | absorb 2 | `s' = (s₀, s₁ + t₁, s₂ + t₂)`, `t₁, t₂` copies of the absorbed cells |
//! | absorb 1 | `s' = (s₀, s₁ + t₁, s₂ + 1)`: the last input and the sponge's padding |
//! | absorb 0 | `s' = (s₀, s₁ + 1, s₂)`: padding alone, after an even number of inputs |
//!
//! In a slot of two partial rounds `r, r + 1`, `x₀ = s₀ + c₀` with `c₀` round `r`'s first constant; `t₁` is
//! the first element of round `r + 1`'s S-box input (the first state element after round `r`, plus round
//! `r + 1`'s first constant), and the other constants of both rounds, which enter linearly, are folded:
//! `c₁ = M₀₁·k₁ + M₀₂·k₂ + k'₀`, `c₂ = M₁₁·k₁ + M₁₂·k₂ + k'₁`, `c₃ = M₂₁·k₁ + M₂₂·k₂ + k'₂` with `k`, `k'` the
//! two rounds' constants. So round `r + 1`'s input is `(t₁, l₁ + c₂, l₂ + c₃)`, exactly `M·(x₀⁵, s₁ + k₁,
//! s₂ + k₂) + k'`, and the slot's output is that of the two rounds.
//!
//! Every gate has degree 4 with its selector (the helper cells keep x⁵ out of a single term: `lᵢ` and
//! `t₂²·t₁` are of degree 3 in the cells), the same degree the other chips need. Slots sit side by side in
//! *lanes* of 6 advice columns; a row of `L` lanes holds `L` consecutive slots, the last lane's next slot being
//! the first lane of the next row. One permutation is 37 slots (8 full rounds, 28 slots of two partial rounds
//! and one of one); a hash of `m` packed elements takes `1 + 37 + (⌊m/2⌋ + 1)·38 + 1` slots, 19 rows per
//! permutation with 2 lanes (halo2-base's one-column hasher takes about 2,300 cells per permutation, this
//! chip 228).
//!
//! # Packing chip
//! One slot per element: advice `v₀..v₈` and `out`, and a selector per group size `n`:
//! `out = Σᵢ₍ᵢ<ₙ₎ (vᵢ + 2²⁷)·2²⁸ⁱ`. Slots sit side by side, one per 10 columns the chip is given (a row of a
//! 48-column layout packs 4 elements). Injectivity needs every `vᵢ` in `[-2²⁷, 2²⁷)`: the caller range-checks the
//! cells it packs (the chunk circuit does, with the range chip).

use dzk_merkle::poseidon::{Spec, ROUNDS, R_F, R_P};
use dzk_merkle::{PACK_BITS, PACK_OFFSET, PACK_PER_ELEMENT};
use halo2_proofs::circuit::{Cell, Layouter, Region, Value};
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;

use crate::num::fe;
use crate::{AssignedInt, Fr, Rows};
use halo2_proofs::halo2curves::ff::{Field, PrimeField};

/// An assigned cell holding a field element (not necessarily a small integer).
#[derive(Clone, Copy, Debug)]
pub struct AssignedFe {
    /// The cell.
    pub cell: Cell,
    /// Its value.
    pub value: Value<Fr>,
}

/// Advice columns one lane of the Poseidon chip takes.
pub const LANE_WIDTH: usize = 6;

/// The kinds of slot, each with its own selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Init,
    Full,
    Partial,
    /// Two partial rounds in one slot.
    Partial2,
    Absorb2,
    Absorb1,
    Absorb0,
}

const KINDS: [Kind; 7] = [
    Kind::Init,
    Kind::Full,
    Kind::Partial,
    Kind::Partial2,
    Kind::Absorb2,
    Kind::Absorb1,
    Kind::Absorb0,
];

#[derive(Clone, Debug)]
struct Lane {
    s: [Column<Advice>; 3],
    t: [Column<Advice>; 3],
    c: [Column<Fixed>; 4],
    q: [Selector; 7],
}

/// Columns of the Poseidon chip.
#[derive(Clone, Debug)]
pub struct PoseidonConfig {
    lanes: Vec<Lane>,
    /// The chip has columns of its own and takes rows from `Rows::take_hash`, beside the other chips.
    own_columns: bool,
}

/// The Poseidon chip.
#[derive(Clone, Debug)]
pub struct PoseidonChip {
    config: PoseidonConfig,
}

/// A deliberate fault for attack tests: add `delta` to helper/state cell `cell` (0..3 = `s`, 3..6 = `t`) of slot
/// `slot`, after the honest witness is computed.
#[derive(Clone, Copy, Debug)]
pub struct Fault {
    /// Slot index along the chain.
    pub slot: usize,
    /// Cell within the slot: 0..3 state, 3..6 helpers.
    pub cell: usize,
    /// Added to the honest value.
    pub delta: Fr,
}

/// The slots of one permutation: a slot per full round, then the partial rounds two to a slot (the first of
/// the two rounds' index), one alone if their number is odd.
fn permutation() -> Vec<(Kind, usize)> {
    let mut out = Vec::with_capacity(PERMUTATION_SLOTS);
    let mut r = 0;
    while r < ROUNDS {
        if Spec::is_full(r) {
            out.push((Kind::Full, r));
            r += 1;
        } else if r + 1 < ROUNDS && !Spec::is_full(r + 1) {
            out.push((Kind::Partial2, r));
            r += 2;
        } else {
            out.push((Kind::Partial, r));
            r += 1;
        }
    }
    out
}

/// Slots per permutation: the full rounds, and the partial rounds two to a slot.
const PERMUTATION_SLOTS: usize = R_F + R_P.div_ceil(2);

/// The slot kinds of a hash of `m` elements after the tag and salt, in order (rounds carry their index).
fn schedule(m: usize) -> Vec<(Kind, usize)> {
    let perm = permutation();
    let mut s = vec![(Kind::Init, 0)];
    s.extend(perm.iter().copied());
    for _ in 0..m / 2 {
        s.push((Kind::Absorb2, 0));
        s.extend(perm.iter().copied());
    }
    s.push((
        if m % 2 == 1 {
            Kind::Absorb1
        } else {
            Kind::Absorb0
        },
        0,
    ));
    s.extend(perm);
    s
}

/// `schedule(m).len()` without building it: the init slot and one per absorption (`m / 2` pairs, then a last
/// one with 0 or 1 element), each followed by a permutation's rounds.
fn schedule_len(m: usize) -> usize {
    (m / 2 + 2) * (PERMUTATION_SLOTS + 1)
}

/// A slot's four fixed constants (see the module documentation).
fn constants(kind: Kind, r: usize, tag: Fr) -> [Fr; 4] {
    let spec = Spec::get();
    match kind {
        Kind::Init => [capacity(), tag, Fr::ZERO, Fr::ZERO],
        Kind::Full | Kind::Partial => {
            let k = spec.round_constants[r];
            [k[0], k[1], k[2], Fr::ZERO]
        }
        Kind::Partial2 => {
            let (k, k2, m) = (
                spec.round_constants[r],
                spec.round_constants[r + 1],
                &spec.mds,
            );
            let fold = |i: usize| m[i][1] * k[1] + m[i][2] * k[2] + k2[i];
            [k[0], fold(0), fold(1), fold(2)]
        }
        _ => [Fr::ZERO; 4],
    }
}

/// One slot's witness: state, helpers.
type SlotWitness = ([Fr; 3], [Fr; 3]);

/// The honest witness of every slot, and the final state.
fn trace(sched: &[(Kind, usize)], tag: Fr, salt: Fr, inputs: &[Fr]) -> (Vec<SlotWitness>, [Fr; 3]) {
    let spec = Spec::get();
    let mds = &spec.mds;
    let mut s = [Fr::ZERO; 3];
    let mut next_in = inputs.iter();
    let mut out = Vec::with_capacity(sched.len());
    for &(kind, r) in sched {
        let (t, next) = match kind {
            Kind::Init => ([Fr::ZERO, Fr::ZERO, salt], [capacity(), tag, salt]),
            Kind::Partial2 => {
                let c = constants(kind, r, tag);
                let x0 = s[0] + c[0];
                let t0 = x0.square();
                let y0 = t0.square() * x0;
                let l: [Fr; 3] =
                    std::array::from_fn(|i| mds[i][0] * y0 + mds[i][1] * s[1] + mds[i][2] * s[2]);
                let u = l[0] + c[1];
                let v = u.square();
                let x = [u, l[1] + c[2], l[2] + c[3]];
                let y = [v.square() * u, x[1], x[2]];
                let next = std::array::from_fn(|i| (0..3).map(|j| mds[i][j] * y[j]).sum());
                ([t0, u, v], next)
            }
            Kind::Full | Kind::Partial => {
                let rc = spec.round_constants[r];
                let x: [Fr; 3] = std::array::from_fn(|j| s[j] + rc[j]);
                let mut t = [Fr::ZERO; 3];
                let mut y = x;
                for j in 0..3 {
                    if kind == Kind::Full || j == 0 {
                        t[j] = x[j].square();
                        y[j] = t[j].square() * x[j];
                    }
                }
                let next = std::array::from_fn(|i| (0..3).map(|j| mds[i][j] * y[j]).sum());
                (t, next)
            }
            Kind::Absorb2 => {
                let a = next_in.next().copied().unwrap_or_default();
                let b = next_in.next().copied().unwrap_or_default();
                ([Fr::ZERO, a, b], [s[0], s[1] + a, s[2] + b])
            }
            Kind::Absorb1 => {
                let a = next_in.next().copied().unwrap_or_default();
                ([Fr::ZERO, a, Fr::ZERO], [s[0], s[1] + a, s[2] + Fr::ONE])
            }
            Kind::Absorb0 => ([Fr::ZERO; 3], [s[0], s[1] + Fr::ONE, s[2]]),
        };
        out.push((s, t));
        s = next;
    }
    (out, s)
}

fn capacity() -> Fr {
    Fr::from_u128(1u128 << 64)
}

impl PoseidonChip {
    /// Fixed columns the chip takes over `advice` advice columns (see [`Self::configure`]).
    pub fn fixed_columns(advice: usize) -> usize {
        4 * (advice / LANE_WIDTH)
    }

    /// Configures `⌊columns / 6⌋` lanes over `columns` (at least 6). With `own_columns`, the columns are the
    /// chip's alone and its rows come from `Rows::take_hash`, running beside the other chips' rows; otherwise
    /// it shares the main columns and cursor.
    ///
    /// Lane `l` keeps its round constants in columns `4l … 4l+3` of `fixed`, which chips whose rows never
    /// overlap this chip's may share (never the case with `own_columns`).
    ///
    /// Side effects: enables equality on every lane column; adds 7 selectors per lane.
    pub fn configure(
        meta: &mut ConstraintSystem<Fr>,
        columns: &[Column<Advice>],
        fixed: &[Column<Fixed>],
        own_columns: bool,
    ) -> PoseidonConfig {
        assert!(
            columns.len() >= LANE_WIDTH,
            "the Poseidon chip needs 6 advice columns"
        );
        assert!(
            fixed.len() >= Self::fixed_columns(columns.len()),
            "the Poseidon chip needs 4 fixed columns per lane"
        );
        let lanes: Vec<Lane> = columns
            .chunks_exact(LANE_WIDTH)
            .zip(fixed.chunks_exact(4))
            .map(|(c, f)| Lane {
                s: [c[0], c[1], c[2]],
                t: [c[3], c[4], c[5]],
                c: [f[0], f[1], f[2], f[3]],
                q: [(); 7].map(|_| meta.selector()),
            })
            .collect();
        for lane in &lanes {
            for col in lane.s.iter().chain(&lane.t) {
                meta.enable_equality(*col);
            }
        }
        let mds = Spec::get().mds;
        let n = lanes.len();
        for (l, lane) in lanes.iter().enumerate() {
            // The next slot: the next lane on this row, or the first lane of the next row.
            let (next_cols, rot) = if l + 1 < n {
                (lanes[l + 1].s, Rotation::cur())
            } else {
                (lanes[0].s, Rotation::next())
            };
            for (kind, q) in KINDS.iter().zip(lane.q) {
                let kind = *kind;
                meta.create_gate("poseidon slot", |m| {
                    let q = m.query_selector(q);
                    let s = lane.s.map(|c| m.query_advice(c, Rotation::cur()));
                    let t = lane.t.map(|c| m.query_advice(c, Rotation::cur()));
                    let c = lane.c.map(|c| m.query_fixed(c, Rotation::cur()));
                    let nx = next_cols.map(|c| m.query_advice(c, rot));
                    let one = Expression::Constant(Fr::ONE);
                    let cons: Vec<Expression<Fr>> = match kind {
                        Kind::Init => vec![
                            nx[0].clone() - c[0].clone(),
                            nx[1].clone() - c[1].clone(),
                            nx[2].clone() - t[2].clone(),
                        ],
                        Kind::Full | Kind::Partial => {
                            let x: [Expression<Fr>; 3] =
                                std::array::from_fn(|j| s[j].clone() + c[j].clone());
                            let mut cons = Vec::new();
                            let mut y = x.clone();
                            for j in 0..3 {
                                if kind == Kind::Full || j == 0 {
                                    cons.push(t[j].clone() - x[j].clone() * x[j].clone());
                                    y[j] = t[j].clone() * t[j].clone() * x[j].clone();
                                }
                            }
                            for i in 0..3 {
                                let sum = (0..3)
                                    .map(|j| Expression::Constant(mds[i][j]) * y[j].clone())
                                    .reduce(|a, b| a + b)
                                    .unwrap_or(Expression::Constant(Fr::ZERO));
                                cons.push(nx[i].clone() - sum);
                            }
                            cons
                        }
                        Kind::Partial2 => {
                            let m = |i: usize, j: usize| Expression::Constant(mds[i][j]);
                            let x0 = s[0].clone() + c[0].clone();
                            let y0 = t[0].clone() * t[0].clone() * x0.clone();
                            let l: [Expression<Fr>; 3] = std::array::from_fn(|i| {
                                m(i, 0) * y0.clone()
                                    + m(i, 1) * s[1].clone()
                                    + m(i, 2) * s[2].clone()
                            });
                            let y = [
                                t[2].clone() * t[2].clone() * t[1].clone(),
                                l[1].clone() + c[2].clone(),
                                l[2].clone() + c[3].clone(),
                            ];
                            let mut cons = vec![
                                t[0].clone() - x0.clone() * x0,
                                t[1].clone() - l[0].clone() - c[1].clone(),
                                t[2].clone() - t[1].clone() * t[1].clone(),
                            ];
                            for (i, n) in nx.iter().enumerate() {
                                cons.push(
                                    n.clone()
                                        - (m(i, 0) * y[0].clone()
                                            + m(i, 1) * y[1].clone()
                                            + m(i, 2) * y[2].clone()),
                                );
                            }
                            cons
                        }
                        Kind::Absorb2 => vec![
                            nx[0].clone() - s[0].clone(),
                            nx[1].clone() - s[1].clone() - t[1].clone(),
                            nx[2].clone() - s[2].clone() - t[2].clone(),
                        ],
                        Kind::Absorb1 => vec![
                            nx[0].clone() - s[0].clone(),
                            nx[1].clone() - s[1].clone() - t[1].clone(),
                            nx[2].clone() - s[2].clone() - one,
                        ],
                        Kind::Absorb0 => vec![
                            nx[0].clone() - s[0].clone(),
                            nx[1].clone() - s[1].clone() - one,
                            nx[2].clone() - s[2].clone(),
                        ],
                    };
                    cons.into_iter().map(|e| q.clone() * e).collect::<Vec<_>>()
                });
            }
        }
        PoseidonConfig { lanes, own_columns }
    }

    /// The chip for a configuration.
    pub fn construct(config: PoseidonConfig) -> Self {
        Self { config }
    }

    /// Slots per row.
    pub fn lanes(&self) -> usize {
        self.config.lanes.len()
    }

    /// Rows a hash of the tag, the salt and `m` elements takes.
    pub fn rows_for(&self, m: usize) -> usize {
        (schedule_len(m) + 1).div_ceil(self.lanes())
    }

    /// Reserves the rows of a hash of `m` elements on the chip's cursor; returns the first.
    pub fn reserve(&self, rows: &mut Rows, m: usize) -> usize {
        let n = self.rows_for(m);
        if self.config.own_columns {
            rows.take_hash(n)
        } else {
            rows.take(n)
        }
    }

    /// `Poseidon(tag, salt, inputs…)`, equal to `dzk_merkle::hash`. The inputs are copied (copy constraints)
    /// into the absorb slots; the salt is a private witness; the tag is a fixed constant.
    pub fn hash(
        &self,
        layouter: &mut impl Layouter<Fr>,
        rows: &mut Rows,
        tag: Fr,
        salt: Value<Fr>,
        inputs: &[AssignedFe],
    ) -> Result<AssignedFe, Error> {
        self.hash_with_fault(layouter, rows, tag, salt, inputs, None)
    }

    /// [`Self::hash`] with a deliberate fault in the witness (attack tests only).
    pub fn hash_with_fault(
        &self,
        layouter: &mut impl Layouter<Fr>,
        rows: &mut Rows,
        tag: Fr,
        salt: Value<Fr>,
        inputs: &[AssignedFe],
        fault: Option<Fault>,
    ) -> Result<AssignedFe, Error> {
        let sched = schedule(inputs.len());
        let lanes = self.lanes();
        let base = self.reserve(rows, inputs.len());
        let values: Value<Vec<Fr>> = inputs.iter().map(|c| c.value).collect();
        let witness = salt.zip(values).map(|(salt, xs)| {
            let (mut slots, last) = trace(&sched, tag, salt, &xs);
            if let Some(f) = fault {
                if let Some(slot) = slots.get_mut(f.slot) {
                    if f.cell < 3 {
                        slot.0[f.cell] += f.delta;
                    } else {
                        slot.1[f.cell - 3] += f.delta;
                    }
                }
            }
            (slots, last)
        });
        layouter.assign_region(
            || "poseidon",
            |mut region| {
                let mut next_input = inputs.iter();
                for (i, &(kind, r)) in sched.iter().enumerate() {
                    let lane = &self.config.lanes[i % lanes];
                    let row = base + i / lanes;
                    let q = lane.q[KINDS.iter().position(|k| *k == kind).unwrap_or(0)];
                    q.enable(&mut region, row)?;
                    let c = constants(kind, r, tag);
                    for (col, v) in lane.c.iter().zip(c) {
                        region.assign_fixed(*col, row, v);
                    }
                    let w = witness.as_ref().map(|(slots, _)| slots[i]);
                    for j in 0..3 {
                        region.assign_advice(lane.s[j], row, w.map(|w| w.0[j]));
                    }
                    let t: Vec<Cell> = (0..3)
                        .map(|j| {
                            region
                                .assign_advice(lane.t[j], row, w.map(|w| w.1[j]))
                                .cell()
                        })
                        .collect();
                    match kind {
                        Kind::Absorb2 => {
                            for cell in &t[1..] {
                                let src = next_input.next().ok_or(Error::Synthesis)?;
                                region.constrain_equal(src.cell, *cell);
                            }
                        }
                        Kind::Absorb1 => {
                            let src = next_input.next().ok_or(Error::Synthesis)?;
                            region.constrain_equal(src.cell, t[1]);
                        }
                        _ => {}
                    }
                }
                // The final state: the digest is its second element.
                let i = sched.len();
                let lane = &self.config.lanes[i % lanes];
                let row = base + i / lanes;
                let last = witness.as_ref().map(|(_, last)| *last);
                let mut digest = None;
                for j in 0..3 {
                    let v = last.map(|s| s[j]);
                    let cell = region.assign_advice(lane.s[j], row, v).cell();
                    if j == 1 {
                        digest = Some(AssignedFe { cell, value: v });
                    }
                }
                digest.ok_or(Error::Synthesis)
            },
        )
    }
}

/// The columns of one packing slot: nine values and their packed element, with a selector per group size.
#[derive(Clone, Debug)]
struct PackSlot {
    v: [Column<Advice>; PACK_PER_ELEMENT],
    out: Column<Advice>,
    /// `q[n - 1]` packs `n` values.
    q: [Selector; PACK_PER_ELEMENT],
}

/// Columns of the packing chip: one slot per 10 columns it was given.
#[derive(Clone, Debug)]
pub struct PackConfig {
    slots: Vec<PackSlot>,
}

/// The packing chip.
#[derive(Clone, Debug)]
pub struct PackChip {
    config: PackConfig,
}

impl PackChip {
    /// Configures one slot over each 10 of `columns` (the columns left over after the last full slot are not used):
    /// a row packs as many elements as it has slots.
    ///
    /// Side effects: enables equality on the columns it uses; adds 9 selectors per slot.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, columns: &[Column<Advice>]) -> PackConfig {
        assert!(
            columns.len() > PACK_PER_ELEMENT,
            "the packing chip needs 10 advice columns"
        );
        let slots = columns
            .chunks_exact(PACK_PER_ELEMENT + 1)
            .map(|cols| Self::configure_slot(meta, cols))
            .collect();
        PackConfig { slots }
    }

    fn configure_slot(meta: &mut ConstraintSystem<Fr>, columns: &[Column<Advice>]) -> PackSlot {
        let v: [Column<Advice>; PACK_PER_ELEMENT] = std::array::from_fn(|i| columns[i]);
        let out = columns[PACK_PER_ELEMENT];
        for c in v.iter().chain([&out]) {
            meta.enable_equality(*c);
        }
        let q = [(); PACK_PER_ELEMENT].map(|_| meta.selector());
        for (n, q) in q.iter().enumerate() {
            meta.create_gate("pack", |m| {
                let q = m.query_selector(*q);
                let out = m.query_advice(out, Rotation::cur());
                let sum = (0..=n)
                    .map(|i| {
                        let w = Fr::from(2).pow_vartime([(PACK_BITS * i) as u64]);
                        (m.query_advice(v[i], Rotation::cur())
                            + Expression::Constant(fe::<Fr>(PACK_OFFSET.into())))
                            * Expression::Constant(w)
                    })
                    .reduce(|a, b| a + b)
                    .unwrap_or(Expression::Constant(Fr::ZERO));
                vec![q * (out - sum)]
            });
        }
        PackSlot { v, out, q }
    }

    /// The chip for a configuration.
    pub fn construct(config: PackConfig) -> Self {
        Self { config }
    }

    /// Elements packed per row.
    pub fn slots(&self) -> usize {
        self.config.slots.len()
    }

    /// The packed elements `n` values make.
    pub fn elements(n: usize) -> usize {
        n.div_ceil(PACK_PER_ELEMENT)
    }

    /// Rows for packing `n` values: element `e` sits in slot `e % slots` of row `e / slots`.
    pub fn rows_for(&self, n: usize) -> usize {
        Self::elements(n).div_ceil(self.slots())
    }

    /// Packs `values` (each already range-checked into `[-2²⁷, 2²⁷)` by the caller), copying each cell.
    pub fn pack(
        &self,
        layouter: &mut impl Layouter<Fr>,
        rows: &mut Rows,
        values: &[AssignedInt],
    ) -> Result<Vec<AssignedFe>, Error> {
        self.pack_with_fault(layouter, rows, values, None)
    }

    /// [`Self::pack`] with a deliberate fault (attack tests only): `(value position, delta)` adds `delta` to the
    /// copy of that value in the packing row, or to the packed output when the position is `usize::MAX`.
    pub fn pack_with_fault(
        &self,
        layouter: &mut impl Layouter<Fr>,
        rows: &mut Rows,
        values: &[AssignedInt],
        fault: Option<(usize, i128)>,
    ) -> Result<Vec<AssignedFe>, Error> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let base = rows.take(self.rows_for(values.len()));
        let slots = self.slots();
        layouter.assign_region(
            || "pack",
            |mut region| {
                values
                    .chunks(PACK_PER_ELEMENT)
                    .enumerate()
                    .map(|(e, group)| {
                        let slot = &self.config.slots[e % slots];
                        Self::assign_element(&mut region, slot, base + e / slots, e, group, fault)
                    })
                    .collect()
            },
        )
    }

    fn assign_element(
        region: &mut Region<'_, Fr>,
        slot: &PackSlot,
        row: usize,
        index: usize,
        group: &[AssignedInt],
        fault: Option<(usize, i128)>,
    ) -> Result<AssignedFe, Error> {
        slot.q[group.len() - 1].enable(region, row)?;
        let mut acc = Value::known(Fr::ZERO);
        let shift = Fr::from(2).pow_vartime([PACK_BITS as u64]);
        let mut w = Fr::ONE;
        for (i, v) in group.iter().enumerate() {
            let pos = index * PACK_PER_ELEMENT + i;
            let delta = match fault {
                Some((p, d)) if p == pos => d,
                _ => 0,
            };
            let val = v.value.map(|x| x + delta);
            let cell = region.assign_advice(slot.v[i], row, val.map(fe::<Fr>));
            region.constrain_equal(cell.cell(), v.cell);
            acc = acc
                .zip(val)
                .map(|(a, x)| a + fe::<Fr>(x + i128::from(PACK_OFFSET)) * w);
            w *= shift;
        }
        if let Some((usize::MAX, d)) = fault {
            acc = acc.map(|a| a + fe::<Fr>(d));
        }
        let out = region.assign_advice(slot.out, row, acc);
        Ok(AssignedFe {
            cell: out.cell(),
            value: acc,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{permutation, schedule, schedule_len, Kind, PERMUTATION_SLOTS};
    use dzk_merkle::poseidon::{Spec, ROUNDS};

    /// Every round of the permutation in order, once: the full ones alone, the partial ones two to a slot.
    #[test]
    fn the_permutation_covers_every_round_once() {
        let mut rounds = Vec::new();
        for (kind, r) in permutation() {
            match kind {
                Kind::Full => assert!(Spec::is_full(r)),
                Kind::Partial => assert!(!Spec::is_full(r)),
                Kind::Partial2 => assert!(!Spec::is_full(r) && !Spec::is_full(r + 1)),
                _ => panic!("{kind:?} in a permutation"),
            }
            rounds.push(r);
            if kind == Kind::Partial2 {
                rounds.push(r + 1);
            }
        }
        assert_eq!(rounds, (0..ROUNDS).collect::<Vec<_>>());
        assert_eq!(permutation().len(), PERMUTATION_SLOTS);
    }

    #[test]
    fn schedule_len_is_the_schedule_s_length() {
        for m in 0..40 {
            assert_eq!(schedule_len(m), schedule(m).len(), "m = {m}");
        }
    }
}
