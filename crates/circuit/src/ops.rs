//! The operations a layer mapping needs, over two backends: the real chips, and a row counter.
//!
//! The layer mapping (`layers.rs`) is written once, generic over [`Ops`]; `RowCounter` takes exactly the rows
//! the chips take, which makes the cost model exact by construction.

use dzk_gadgets::affine::{Affine, AffineChip};
use dzk_gadgets::clamp::{clamp_cost, ClampChip};
use dzk_gadgets::cmp::{compare_cost, CmpChip, CmpMode};
use dzk_gadgets::dot::DotChip;
use dzk_gadgets::hash::{AssignedFe, PackChip, PoseidonChip};
use dzk_gadgets::lookup::{lookup_cost, FnChip, FnTable};
use dzk_gadgets::matcheck::{MatCheckChip, PendingProduct, Tamper, Weights};
use dzk_gadgets::range::{CheckCount, RangeChip};
use dzk_gadgets::rescale::{rescale_cost, Quotient, RescaleChip};
use dzk_gadgets::{assign_int, AssignedInt, Fr, Rows};
use halo2_proofs::circuit::{Layouter, Value};
use halo2_proofs::plonk::{Advice, Column, Error};

use crate::tables::TableKey;

/// One affine item: `m1·x + m2·y + xy·x·y + c`, as `(x, m1, Some((y, m2, xy)), c)`.
pub(crate) type AffineItem<C> = (C, i64, Option<(C, i64, i64)>, i64);

/// The weights of a matrix product, outputs × inputs (`w[o·T + t]`): constants of the model (fixed columns) or
/// cells of the witness (an activation, as in attention's `Q·Kᵀ`).
#[derive(Debug)]
pub(crate) enum Wts<'a, C> {
    Const(&'a [i64]),
    Cells(&'a [C]),
}

impl<C> Clone for Wts<'_, C> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<C> Copy for Wts<'_, C> {}

impl<C> Wts<'_, C> {
    fn len(&self) -> usize {
        match self {
            Wts::Const(w) => w.len(),
            Wts::Cells(w) => w.len(),
        }
    }
}

/// What a layer mapping can ask for.
pub(crate) trait Ops {
    /// A cell (real) or nothing (counting).
    type C: Clone;
    /// Fresh private cells for boundary inputs, range-checked as signed values.
    fn inputs(&mut self, values: &[Value<i128>]) -> Result<Vec<Self::C>, Error>;
    /// `init + Σ xᵢ·wᵢ`.
    fn dot(&mut self, xs: &[Self::C], ws: &[i64], init: i128) -> Result<Self::C, Error>;
    /// The matrix product `y[p·O + o] = init[o] + Σ_(t, x) x·w[o·T + t]` over the rows `p` of `xs`, each listing
    /// the inputs present in it as `(t, x)` (inputs left out are zero), with `O = init.len()` and
    /// `T = w.len() / O`: by the matrix-check chip where the circuit has one and it takes fewer rows, otherwise
    /// as dot products (for cell weights, each product `x·w` by the affine chip first).
    fn product(
        &mut self,
        xs: &[Vec<(usize, Self::C)>],
        w: Wts<'_, Self::C>,
        init: &[i128],
    ) -> Result<Vec<Self::C>, Error>;
    /// `round(m·a / d)` each; `quotient` says whether the quotients need their own range check.
    fn rescale(
        &mut self,
        items: &[(Self::C, i64, i64)],
        quotient: Quotient,
    ) -> Result<Vec<Self::C>, Error>;
    /// `max`/`min` against a constant each.
    fn compare(&mut self, items: &[(Self::C, i64, CmpMode)]) -> Result<Vec<Self::C>, Error>;
    /// `clamp(x, 0, h)` each (ReLU6): the clamp chip, which also bounds `x`.
    fn clamp(&mut self, items: &[(Self::C, i64)]) -> Result<Vec<Self::C>, Error>;
    /// The integer a cell holds (unknown when counting or at keygen).
    fn value(&self, c: &Self::C) -> Value<i128>;
    /// Range-checks existing cells: each in `[0, 2^R)`.
    fn check(&mut self, cells: &[Self::C]) -> Result<(), Error>;
    /// `max(x, y)` of each pair of cells.
    fn max_pairs(&mut self, pairs: &[(Self::C, Self::C)]) -> Result<Vec<Self::C>, Error>;
    /// `m1·x + m2·y + c` each.
    fn affine(&mut self, items: &[AffineItem<Self::C>]) -> Result<Vec<Self::C>, Error>;
    /// Range-checks existing cells as signed values: each in `[-2^(R-1), 2^(R-1))`.
    fn check_signed(&mut self, cells: &[Self::C]) -> Result<(), Error> {
        let half = 1i64 << (self.range_bits() - 1);
        let shifted = self.affine(
            &cells
                .iter()
                .map(|c| (c.clone(), 1, None, half))
                .collect::<Vec<_>>(),
        )?;
        self.check(&shifted)
    }
    /// The width `R` of the long range check.
    fn range_bits(&self) -> usize;
    /// `f(x)` of every cell by the function table `key` (inputs outside its domain cannot be proven).
    fn lookup(&mut self, key: TableKey, cells: &[Self::C]) -> Result<Vec<Self::C>, Error>;
    /// A digest cell (real) or nothing (counting).
    type D;
    /// `Poseidon(tag, salt, pack(cells))`; the cells must already be range-checked (signed, `R` bits).
    fn commit(&mut self, tag: Fr, cells: &[Self::C], salt: Value<Fr>) -> Result<Self::D, Error>;
    /// Called after each layer is laid out (the row counter records its cursors there).
    fn layer_done(&mut self) {}
}

/// The chips of one chunk circuit.
#[derive(Clone, Debug)]
pub(crate) struct Chips {
    pub range: RangeChip,
    pub dot: DotChip,
    pub rescale: RescaleChip,
    pub cmp: CmpChip,
    pub clamp: ClampChip,
    pub affine: AffineChip,
    pub pack: PackChip,
    pub poseidon: PoseidonChip,
    /// The function-lookup chip, only in circuits whose slice looks functions up.
    pub func: Option<FnChip>,
    /// The matrix-check chip, only in circuits laid out with one.
    pub matcheck: Option<MatCheckChip>,
    pub io: Vec<Column<Advice>>,
}

impl Chips {
    /// Shared rows `n` boundary inputs take: their cells and the sign shift (the range check takes long rows).
    fn input_rows(&self, n: usize) -> [usize; 2] {
        [n.div_ceil(self.io.len()), n.div_ceil(self.affine.slots())]
    }
}

/// A matrix product as one dot product per output (the layout without a matrix-check chip); with cell weights,
/// the products `x·w` of each output come from the affine chip and the dot product sums them.
fn product_by_dots<O: Ops + ?Sized>(
    ops: &mut O,
    xs: &[Vec<(usize, O::C)>],
    w: Wts<'_, O::C>,
    init: &[i128],
) -> Result<Vec<O::C>, Error> {
    let inputs = w.len() / init.len().max(1);
    let mut out = Vec::with_capacity(xs.len() * init.len());
    for row in xs {
        let cells: Vec<O::C> = row.iter().map(|(_, x)| x.clone()).collect();
        for (o, &b) in init.iter().enumerate() {
            out.push(match w {
                Wts::Const(w) => {
                    let ws: Vec<i64> = row.iter().map(|(t, _)| w[o * inputs + t]).collect();
                    ops.dot(&cells, &ws, b)?
                }
                Wts::Cells(w) => {
                    let items: Vec<AffineItem<O::C>> = row
                        .iter()
                        .map(|(t, x)| (x.clone(), 0, Some((w[o * inputs + t].clone(), 0, 1)), 0))
                        .collect();
                    let prods = ops.affine(&items)?;
                    ops.dot(&prods, &vec![1; prods.len()], b)?
                }
            });
        }
    }
    Ok(out)
}

/// The rows a matrix product takes as dot products on the shared columns (with cell weights, the affine chip's
/// products first): what [`product_by_dots`] lays out.
fn dot_rows<C>(chips: &Chips, xs: &[Vec<(usize, C)>], w: Wts<'_, C>, outputs: usize) -> usize {
    let per_output = |n: usize| match w {
        Wts::Const(_) => chips.dot.rows_for(n),
        Wts::Cells(_) => n.div_ceil(chips.affine.slots()) + chips.dot.rows_for(n),
    };
    xs.iter().map(|row| outputs * per_output(row.len())).sum()
}

/// The matrix-check chip, if the circuit has one and it takes fewer rows for this product than dot products
/// on the shared columns would (a single row of `x`, like most fully connected layers, is cheaper as dots:
/// the chip pays `O·(T + 1)` multiplications per product before its first row). Decided from shapes alone,
/// so keygen, proving and counting agree. Returns the chip and the rows it takes for the product.
fn check_for<'c, C>(
    chips: &'c Chips,
    xs: &[Vec<(usize, C)>],
    w: Wts<'_, C>,
    init: &[i128],
) -> Option<(&'c MatCheckChip, usize)> {
    let chip = chips.matcheck.as_ref()?;
    let outputs = init.len().max(1);
    let bias = init.iter().any(|&b| b != 0);
    let check = chip.rows_for(w.len() / outputs, outputs, bias, xs.iter().map(Vec::len));
    (check < dot_rows(chips, xs, w, outputs)).then_some((chip, check))
}

/// Counts rows without laying anything out.
pub(crate) struct RowCounter<'a> {
    pub chips: &'a Chips,
    pub rows: Rows,
    /// Matrix products laid out by the matrix-check chip.
    pub checks: usize,
    /// Of those, the products whose weights are cells (two activations).
    pub cell_checks: usize,
    /// The cursors after each layer, when recording (the cost model's per-layer rows).
    pub marks: Option<Vec<[usize; 5]>>,
}

impl RowCounter<'_> {
    /// Charges a slot chip's cost, as its cost function counts it: the shared rows, then the rows its range
    /// checks take.
    fn charge(&mut self, (main, checks): (usize, CheckCount)) {
        self.rows.take(main);
        self.chips.range.take_rows(&mut self.rows, checks);
    }
}

impl Ops for RowCounter<'_> {
    type C = ();
    type D = ();
    fn layer_done(&mut self) {
        if let Some(m) = &mut self.marks {
            m.push(self.rows.cursors());
        }
    }
    fn range_bits(&self) -> usize {
        self.chips.range.max_bits()
    }
    fn commit(&mut self, _: Fr, cells: &[()], _: Value<Fr>) -> Result<(), Error> {
        self.rows.take(self.chips.pack.rows_for(cells.len()));
        self.chips
            .poseidon
            .reserve(&mut self.rows, PackChip::elements(cells.len()));
        Ok(())
    }
    fn inputs(&mut self, values: &[Value<i128>]) -> Result<Vec<()>, Error> {
        if !values.is_empty() {
            for r in self.chips.input_rows(values.len()) {
                self.rows.take(r);
            }
            self.rows.take_long(self.chips.range.rows_for(values.len()));
        }
        Ok(vec![(); values.len()])
    }
    fn dot(&mut self, xs: &[()], _: &[i64], _: i128) -> Result<(), Error> {
        self.rows.take(self.chips.dot.rows_for(xs.len()));
        Ok(())
    }
    fn product(
        &mut self,
        xs: &[Vec<(usize, ())>],
        w: Wts<'_, ()>,
        init: &[i128],
    ) -> Result<Vec<()>, Error> {
        let Some((_, rows)) = check_for(self.chips, xs, w, init) else {
            // The rows `product_by_dots` takes, counted from the shapes alone.
            self.rows.take(dot_rows(self.chips, xs, w, init.len()));
            return Ok(vec![(); xs.len() * init.len()]);
        };
        self.rows.take_check(rows);
        self.checks += 1;
        self.cell_checks += usize::from(matches!(w, Wts::Cells(_)));
        Ok(vec![(); xs.len() * init.len()])
    }
    fn rescale(&mut self, items: &[((), i64, i64)], quotient: Quotient) -> Result<Vec<()>, Error> {
        if !items.is_empty() {
            let range = &self.chips.range;
            let cost = rescale_cost(
                self.chips.rescale.slots(),
                range.short_bits(),
                range.max_bits(),
                items.iter().map(|i| i.2),
                quotient,
            );
            self.charge(cost);
        }
        Ok(vec![(); items.len()])
    }
    fn compare(&mut self, items: &[((), i64, CmpMode)]) -> Result<Vec<()>, Error> {
        if !items.is_empty() {
            self.charge(compare_cost(self.chips.cmp.slots(), items.len()));
        }
        Ok(vec![(); items.len()])
    }
    fn clamp(&mut self, items: &[((), i64)]) -> Result<Vec<()>, Error> {
        if !items.is_empty() {
            let cost = clamp_cost(
                self.chips.clamp.slots(),
                self.chips.range.short_bits(),
                items.iter().map(|i| i.1),
            );
            self.charge(cost);
        }
        Ok(vec![(); items.len()])
    }
    fn value(&self, _: &()) -> Value<i128> {
        Value::unknown()
    }
    fn lookup(&mut self, _: TableKey, cells: &[()]) -> Result<Vec<()>, Error> {
        let func = self.chips.func.as_ref().ok_or(Error::Synthesis)?;
        if !cells.is_empty() {
            self.charge(lookup_cost(func.slots(), cells.len()));
        }
        Ok(vec![(); cells.len()])
    }
    fn check(&mut self, cells: &[()]) -> Result<(), Error> {
        self.rows.take_long(self.chips.range.rows_for(cells.len()));
        Ok(())
    }
    fn max_pairs(&mut self, pairs: &[((), ())]) -> Result<Vec<()>, Error> {
        if !pairs.is_empty() {
            self.charge(compare_cost(self.chips.cmp.slots(), pairs.len()));
        }
        Ok(vec![(); pairs.len()])
    }
    fn affine(&mut self, items: &[AffineItem<()>]) -> Result<Vec<()>, Error> {
        if !items.is_empty() {
            self.rows
                .take(items.len().div_ceil(self.chips.affine.slots()));
        }
        Ok(vec![(); items.len()])
    }
}

/// Lays the operations out with the chips.
pub(crate) struct Real<'a, L: Layouter<Fr>> {
    pub chips: &'a Chips,
    /// The slice's function tables (loaded into the function chip).
    pub tables: &'a [(TableKey, FnTable)],
    pub layouter: &'a mut L,
    pub rows: &'a mut Rows,
    /// Matrix checks laid out in phase 0, finished after the challenge is drawn.
    pub pending: &'a mut Vec<PendingProduct>,
    /// An attack on the `n`th matrix-checked product (tests only).
    pub tamper: Option<(usize, Tamper)>,
    /// Matrix-checked products laid out so far.
    pub products: usize,
}

impl<L: Layouter<Fr>> Ops for Real<'_, L> {
    type C = AssignedInt;
    type D = AssignedFe;
    fn range_bits(&self) -> usize {
        self.chips.range.max_bits()
    }
    fn commit(
        &mut self,
        tag: Fr,
        cells: &[AssignedInt],
        salt: Value<Fr>,
    ) -> Result<AssignedFe, Error> {
        let packed = self.chips.pack.pack(self.layouter, self.rows, cells)?;
        self.chips
            .poseidon
            .hash(self.layouter, self.rows, tag, salt, &packed)
    }
    fn inputs(&mut self, values: &[Value<i128>]) -> Result<Vec<AssignedInt>, Error> {
        if values.is_empty() {
            return Ok(vec![]);
        }
        let io = &self.chips.io;
        let base = self.rows.take(values.len().div_ceil(io.len()));
        let cells = self.layouter.assign_region(
            || "boundary inputs",
            |mut region| {
                Ok(values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        assign_int(&mut region, io[i % io.len()], base + i / io.len(), *v)
                    })
                    .collect::<Vec<_>>())
            },
        )?;
        // x + 2^(R-1) ∈ [0, 2^R): every input is a small signed integer, so no later arithmetic wraps.
        let half = 1i64 << (self.chips.range.max_bits() - 1);
        let ops: Vec<_> = cells
            .iter()
            .map(|x| Affine {
                x,
                m1: 1,
                y: None,
                xy: 0,
                c: half,
            })
            .collect();
        let shifted = self
            .chips
            .affine
            .apply_many(self.layouter, self.rows, &ops)?;
        self.chips
            .range
            .check_many(self.layouter, self.rows, &shifted)?;
        Ok(cells)
    }
    fn dot(&mut self, xs: &[AssignedInt], ws: &[i64], init: i128) -> Result<AssignedInt, Error> {
        self.chips.dot.dot(self.layouter, self.rows, xs, ws, init)
    }
    fn product(
        &mut self,
        xs: &[Vec<(usize, AssignedInt)>],
        w: Wts<'_, AssignedInt>,
        init: &[i128],
    ) -> Result<Vec<AssignedInt>, Error> {
        let Some((chip, _)) = check_for(self.chips, xs, w, init) else {
            return product_by_dots(self, xs, w, init);
        };
        let weights = match w {
            Wts::Const(w) => Weights::Fixed(w),
            Wts::Cells(w) => Weights::Cells(w),
        };
        let tamper = match self.tamper {
            Some((nth, t)) if nth == self.products => t,
            _ => Tamper::None,
        };
        self.products += 1;
        let (ys, pending) = chip.product(self.layouter, self.rows, xs, weights, init, tamper)?;
        self.pending.push(pending);
        Ok(ys.into_iter().flatten().collect())
    }
    fn rescale(
        &mut self,
        items: &[(AssignedInt, i64, i64)],
        quotient: Quotient,
    ) -> Result<Vec<AssignedInt>, Error> {
        if items.is_empty() {
            return Ok(vec![]);
        }
        self.chips.rescale.rescale_many(
            self.layouter,
            self.rows,
            &self.chips.range,
            items,
            quotient,
        )
    }
    fn compare(
        &mut self,
        items: &[(AssignedInt, i64, CmpMode)],
    ) -> Result<Vec<AssignedInt>, Error> {
        if items.is_empty() {
            return Ok(vec![]);
        }
        self.chips
            .cmp
            .compare_many(self.layouter, self.rows, &self.chips.range, items)
    }
    fn clamp(&mut self, items: &[(AssignedInt, i64)]) -> Result<Vec<AssignedInt>, Error> {
        if items.is_empty() {
            return Ok(vec![]);
        }
        self.chips
            .clamp
            .clamp_many(self.layouter, self.rows, &self.chips.range, items)
    }
    fn value(&self, c: &AssignedInt) -> Value<i128> {
        c.value
    }
    fn lookup(&mut self, key: TableKey, cells: &[AssignedInt]) -> Result<Vec<AssignedInt>, Error> {
        let func = self.chips.func.as_ref().ok_or(Error::Synthesis)?;
        let (_, table) = self
            .tables
            .iter()
            .find(|(k, _)| *k == key)
            .ok_or(Error::Synthesis)?;
        func.apply_many(self.layouter, self.rows, &self.chips.range, table, cells)
    }
    fn check(&mut self, cells: &[AssignedInt]) -> Result<(), Error> {
        self.chips.range.check_many(self.layouter, self.rows, cells)
    }
    fn max_pairs(
        &mut self,
        pairs: &[(AssignedInt, AssignedInt)],
    ) -> Result<Vec<AssignedInt>, Error> {
        self.chips
            .cmp
            .max_many(self.layouter, self.rows, &self.chips.range, pairs)
    }
    fn affine(&mut self, items: &[AffineItem<AssignedInt>]) -> Result<Vec<AssignedInt>, Error> {
        if items.is_empty() {
            return Ok(vec![]);
        }
        let ops: Vec<_> = items
            .iter()
            .map(|(x, m1, y, c)| Affine {
                x,
                m1: *m1,
                y: y.as_ref().map(|(y, m, _)| (y, *m)),
                xy: y.as_ref().map_or(0, |(_, _, p)| *p),
                c: *c,
            })
            .collect();
        self.chips.affine.apply_many(self.layouter, self.rows, &ops)
    }
}
