//! Integers in the field: signed conversion and assigned cells that remember their integer value.

use halo2_proofs::circuit::{Cell, Region, Value};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::plonk::{Advice, Column};

/// The field element of a signed integer: `v` for `v ≥ 0`, `p - |v|` otherwise.
pub fn fe<F: PrimeField>(v: i128) -> F {
    if v >= 0 {
        F::from_u128(v as u128)
    } else {
        -F::from_u128(v.unsigned_abs())
    }
}

/// An assigned advice cell together with the signed integer it holds (unknown during keygen).
#[derive(Clone, Copy, Debug)]
pub struct AssignedInt {
    /// The cell, for copy constraints.
    pub cell: Cell,
    /// The integer value.
    pub value: Value<i128>,
}

/// Assigns the integer `value` to `column` at `offset` of `region`.
pub fn assign_int<F: PrimeField>(
    region: &mut Region<'_, F>,
    column: Column<Advice>,
    offset: usize,
    value: Value<i128>,
) -> AssignedInt {
    let cell = assign_fe(region, column, offset, value.map(fe::<F>));
    AssignedInt { cell, value }
}

/// Assigns the field element `value` to `column` at `offset` of `region`: the chips' low-level hooks take field
/// values so that tests can lay out witnesses no integer stands for (a quotient that is not an integer).
pub fn assign_fe<F: PrimeField>(
    region: &mut Region<'_, F>,
    column: Column<Advice>,
    offset: usize,
    value: Value<F>,
) -> Cell {
    region.assign_advice(column, offset, value).cell()
}

/// Assigns `value` and constrains it equal to `source` (a copy of a cell from elsewhere).
pub fn copy_int<F: PrimeField>(
    region: &mut Region<'_, F>,
    column: Column<Advice>,
    offset: usize,
    source: &AssignedInt,
) -> AssignedInt {
    let out = assign_int(region, column, offset, source.value);
    region.constrain_equal(out.cell, source.cell);
    out
}

/// Row allocation for a circuit.
///
/// halo2-axiom's `SimpleFloorPlanner` is single-pass and places every region at row 0, so regions do not
/// get offsets from the planner: every chip call takes its rows from a cursor and assigns at absolute offsets.
/// The range chip owns its columns, so its checks advance their own cursors (long and short checks) and run
/// beside the other chips' rows; the circuit needs `used()` rows, the largest of the three.
#[derive(Debug, Default, Clone)]
pub struct Rows {
    main: usize,
    long: usize,
    short: usize,
    hash: usize,
    check: usize,
}

impl Rows {
    /// All cursors at row 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reserves `n` rows of the shared columns and returns the first.
    pub fn take(&mut self, n: usize) -> usize {
        let at = self.main;
        self.main += n;
        at
    }

    /// Reserves `n` rows of the range chip's long-check columns.
    pub fn take_long(&mut self, n: usize) -> usize {
        let at = self.long;
        self.long += n;
        at
    }

    /// Reserves `n` rows of the range chip's short-check columns.
    pub fn take_short(&mut self, n: usize) -> usize {
        let at = self.short;
        self.short += n;
        at
    }

    /// Reserves `n` rows of a Poseidon chip configured on its own columns.
    pub fn take_hash(&mut self, n: usize) -> usize {
        let at = self.hash;
        self.hash += n;
        at
    }

    /// Reserves `n` rows of the matrix-check chip's own columns.
    pub fn take_check(&mut self, n: usize) -> usize {
        let at = self.check;
        self.check += n;
        at
    }

    /// How far each cursor has gone: `[shared, long checks, short checks, hash, matrix check]`.
    pub fn cursors(&self) -> [usize; 5] {
        [self.main, self.long, self.short, self.hash, self.check]
    }

    /// Rows the circuit needs: the furthest any cursor has gone.
    pub fn used(&self) -> usize {
        self.main
            .max(self.long)
            .max(self.short)
            .max(self.hash)
            .max(self.check)
    }
}
