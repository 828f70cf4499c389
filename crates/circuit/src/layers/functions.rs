//! Element-wise functions and softmax: table lookups (GELU, exp, …), the exact square root, ReLU by comparison,
//! and zkml's softmax over the last axis.

use std::collections::BTreeMap;

use dzk_gadgets::cmp::CmpMode;
use dzk_gadgets::rescale::Quotient;
use dzk_ir::{Activation, Model, Tensor};
use halo2_proofs::circuit::Value;
use halo2_proofs::plonk::Error;

use super::pool::max_tree;
use super::{activation, constant_cell, div_by_cells, pairwise, CellTensor};
use crate::ops::Ops;
use crate::tables::{uses_table, TableKey};

/// An element-wise function: by its table, except ReLU (a comparison); zkml's Rsqrt replacements become
/// constants (the function of `max_val` or `min_val`).
pub(super) fn lookup<O: Ops>(
    ops: &mut O,
    model: &Model,
    x: CellTensor<O::C>,
    f: dzk_ir::LookupFn,
    replace: &[(usize, i64)],
) -> Result<CellTensor<O::C>, Error> {
    let sf = model.scale();
    let mut fixed: BTreeMap<usize, i64> = BTreeMap::new();
    for &(i, sign) in replace {
        if i >= x.cells.len() {
            return Err(Error::Synthesis);
        }
        let v = if sign > 0 {
            model.max_val()
        } else {
            model.min_val()
        };
        fixed.insert(i, f.eval(v, sf, model.min_val()));
    }
    let free: Vec<O::C> = x
        .cells
        .iter()
        .enumerate()
        .filter(|(i, _)| !fixed.contains_key(i))
        .map(|(_, c)| c.clone())
        .collect();
    let ys = if uses_table(f, sf) {
        ops.lookup(TableKey::Full(f), &free)?
    } else if f == dzk_ir::LookupFn::Sqrt {
        sqrt_exact(ops, &free, sf)?
    } else {
        activation(ops, free, Activation::Relu, sf)?
    };
    let mut ys = ys.into_iter();
    let mut cells = Vec::with_capacity(x.cells.len());
    for (i, c) in x.cells.iter().enumerate() {
        cells.push(match fixed.get(&i) {
            Some(&y) => constant_cell(ops, c, y)?,
            None => ys.next().ok_or(Error::Synthesis)?,
        });
    }
    Ok(CellTensor {
        shape: x.shape,
        cells,
    })
}

/// zkml's square root at a power-of-two scale, `y = round(√(max(q, 0)·sf))`, by integer arithmetic instead of a
/// table (`tables::sqrt_is_exact` argues it equals the `f64` formula): `q⁺ = max(q, 0)` (a comparison),
/// `N = sf·q⁺`, a fresh `y`, `b = min(y, 1)` (a comparison), then `y² + y − N ≥ 0` and `N − y² + y − b ≥ 0`
/// range-checked, i.e. `(y − ½)² < N + ¼ ≤ (y + ½)²` for `y ≥ 1` and `N = 0` for `y = 0`: exactly one `y`
/// satisfies both (a negative `y` cannot: the two bounds would need `2|y| + b ≤ 0`).
fn sqrt_exact<O: Ops>(ops: &mut O, xs: &[O::C], sf: i64) -> Result<Vec<O::C>, Error> {
    let pos = activation(ops, xs.to_vec(), Activation::Relu, sf)?;
    let n = ops.affine(
        &pos.iter()
            .map(|p| (p.clone(), sf, None, 0))
            .collect::<Vec<_>>(),
    )?;
    let yv: Vec<Value<i128>> = n
        .iter()
        .map(|c| {
            ops.value(c).map(|n| {
                let mut y = (n.max(0) as f64).sqrt() as i128;
                while y * y + y < n {
                    y += 1;
                }
                while y > 0 && n < y * y - y + 1 {
                    y -= 1;
                }
                y
            })
        })
        .collect();
    let y = ops.inputs(&yv)?;
    let b = ops.compare(
        &y.iter()
            .map(|y| (y.clone(), 1, CmpMode::Min))
            .collect::<Vec<_>>(),
    )?;
    // y², t = y² + y; upper = t − N; lower = N − t + 2y − b = −upper + 2y − b.
    let y2 = pairwise(ops, &y, &y, (0, 0, 1, 0))?;
    let t = pairwise(ops, &y2, &y, (1, 1, 0, 0))?;
    let upper = pairwise(ops, &t, &n, (1, -1, 0, 0))?;
    let ny = pairwise(ops, &upper, &y, (-1, 2, 0, 0))?;
    let lower = pairwise(ops, &ny, &b, (1, -1, 0, 0))?;
    ops.check(&[upper, lower].concat())?;
    Ok(y)
}

/// Softmax over the last axis, as zkml computes it: `m = max` of the kept entries (a tree of proven maxima),
/// `eᵢ = T_exp(xᵢ − m)` at scale sf² (the table covers only `x − m ≤ 0`), `S = Σ eᵢ`, `n = round(S / sf)`
/// (a checked rescale), `yᵢ = round(eᵢ / n)` (a division by a cell that also proves `n ≥ 1`); masked
/// entries are the constant 0.
pub(super) fn softmax<O: Ops>(
    ops: &mut O,
    model: &Model,
    x: CellTensor<O::C>,
    mask: Option<&dzk_ir::Mask>,
) -> Result<CellTensor<O::C>, Error> {
    let sf = model.scale();
    let n = x.cells.len();
    let row = *x.shape.last().ok_or(Error::Synthesis)?;
    if row == 0 {
        return Ok(x);
    }
    let masked: Vec<i64> = match mask {
        Some(m) => Tensor::new(m.shape.clone(), m.values.clone())
            .and_then(|t| t.broadcast_to(&x.shape))
            .map_err(|_| Error::Synthesis)?
            .into_data(),
        None => vec![0; n],
    };
    let rows: Vec<Vec<usize>> = (0..n / row)
        .map(|r| {
            (r * row..(r + 1) * row)
                .filter(|&i| masked[i] == 0)
                .collect()
        })
        .collect();
    if rows.iter().any(Vec::is_empty) {
        return Err(Error::Synthesis);
    }
    let windows: Vec<Vec<O::C>> = rows
        .iter()
        .map(|ids| ids.iter().map(|&i| x.cells[i].clone()).collect())
        .collect();
    // A per-row cell repeated for each kept entry of its row.
    let per_entry = |cells: &[O::C]| -> Vec<O::C> {
        rows.iter()
            .zip(cells)
            .flat_map(|(ids, c)| ids.iter().map(move |_| c.clone()))
            .collect()
    };
    let kept: Vec<O::C> = windows.concat();
    let maxes = max_tree(ops, windows)?;
    let d = pairwise(ops, &kept, &per_entry(&maxes), (1, -1, 0, 0))?;
    let e = ops.lookup(TableKey::SoftmaxExp, &d)?;
    let mut sums = Vec::with_capacity(rows.len());
    let mut at = 0;
    for ids in &rows {
        let es = &e[at..at + ids.len()];
        sums.push((ops.dot(es, &vec![1; es.len()], 0)?, 1, sf));
        at += ids.len();
    }
    let norms = ops.rescale(&sums, Quotient::Check)?;
    let pairs: Vec<(O::C, O::C)> = e.into_iter().zip(per_entry(&norms)).collect();
    let ys = div_by_cells(ops, &pairs, 1)?;
    let mut out: Vec<Option<O::C>> = vec![None; n];
    for (i, y) in rows.iter().flatten().zip(ys) {
        out[*i] = Some(y);
    }
    let mut cells = Vec::with_capacity(n);
    for (i, c) in out.into_iter().enumerate() {
        cells.push(match c {
            Some(c) => c,
            None => constant_cell(ops, &x.cells[i], 0)?,
        });
    }
    Ok(CellTensor {
        shape: x.shape,
        cells,
    })
}
