//! Element-wise layers: Mul, Square, SquaredDifference, Add and Sub of activations or of an activation and a
//! constant (numpy broadcasting), and the divisions DivVar and DivFixed.

use dzk_gadgets::rescale::Quotient;
use dzk_ir::{Layer, Model, Op, Tensor};
use halo2_proofs::plonk::Error;

use super::{activation, constant, div_by_cells, input, CellTensor, Env};
use crate::ops::Ops;

/// Mul: two activations multiplied (the product, then `round(p / sf)`), or an activation times a constant
/// (`round(x·c / sf)`, `c` the rescale multiplier).
pub(super) fn mul<O: Ops>(
    ops: &mut O,
    model: &Model,
    l: &Layer,
    env: &Env<O::C>,
) -> Result<Vec<CellTensor<O::C>>, Error> {
    let sf = model.scale();
    Ok(
        match (constant(model, l.inputs[0]), constant(model, l.inputs[1])) {
            // Two activations: the product, then round(p / sf).
            (None, None) => {
                let (a, b) = broadcast_cells(&input(env, l, 0)?, &input(env, l, 1)?)?;
                vec![CellTensor {
                    cells: products_rescaled(ops, &a.cells, &b.cells, sf)?,
                    shape: a.shape,
                }]
            }
            // One constant operand: round(x·c / sf), with c as the rescale multiplier.
            (c0, c1) => {
                let (xn, c) = match (c0, c1) {
                    (None, Some(c)) => (0, c),
                    (Some(c), None) => (1, c),
                    _ => return Err(Error::Synthesis),
                };
                let (x, cv) = broadcast_pair(&input(env, l, xn)?, c)?;
                let items: Vec<_> = x
                    .cells
                    .iter()
                    .cloned()
                    .zip(cv)
                    .map(|(x, c)| (x, c, sf))
                    .collect();
                vec![CellTensor {
                    shape: x.shape.clone(),
                    cells: ops.rescale(&items, Quotient::Check)?,
                }]
            }
        },
    )
}

/// Square: `round(x² / sf)`.
pub(super) fn square<O: Ops>(
    ops: &mut O,
    model: &Model,
    l: &Layer,
    env: &Env<O::C>,
) -> Result<Vec<CellTensor<O::C>>, Error> {
    let sf = model.scale();
    let x = input(env, l, 0)?;
    Ok(vec![CellTensor {
        cells: products_rescaled(ops, &x.cells, &x.cells, sf)?,
        shape: x.shape,
    }])
}

/// SquaredDifference of two activations: `round((a − b)² / sf)`.
pub(super) fn squared_difference<O: Ops>(
    ops: &mut O,
    model: &Model,
    l: &Layer,
    env: &Env<O::C>,
) -> Result<Vec<CellTensor<O::C>>, Error> {
    let sf = model.scale();
    let (a, b) = broadcast_cells(&input(env, l, 0)?, &input(env, l, 1)?)?;
    let diffs = ops.affine(
        &a.cells
            .iter()
            .zip(&b.cells)
            .map(|(x, y)| (x.clone(), 1, Some((y.clone(), -1, 0)), 0))
            .collect::<Vec<_>>(),
    )?;
    Ok(vec![CellTensor {
        cells: products_rescaled(ops, &diffs, &diffs, sf)?,
        shape: a.shape,
    }])
}

/// `round(aᵢ·bᵢ / sf)` for each pair: the products (an affine row each), then a checked rescale.
fn products_rescaled<O: Ops>(
    ops: &mut O,
    a: &[O::C],
    b: &[O::C],
    sf: i64,
) -> Result<Vec<O::C>, Error> {
    let prods = ops.affine(
        &a.iter()
            .zip(b)
            .map(|(x, y)| (x.clone(), 0, Some((y.clone(), 0, 1)), 0))
            .collect::<Vec<_>>(),
    )?;
    let items: Vec<_> = prods.into_iter().map(|p| (p, 1, sf)).collect();
    ops.rescale(&items, Quotient::Check)
}

/// Add (with its fused activation) or Sub, of two activations or an activation and a constant.
pub(super) fn add_sub<O: Ops>(
    ops: &mut O,
    model: &Model,
    l: &Layer,
    env: &Env<O::C>,
) -> Result<Vec<CellTensor<O::C>>, Error> {
    let sf = model.scale();
    let sign = if matches!(l.op, Op::Sub) { -1 } else { 1 };
    let cells = match (constant(model, l.inputs[0]), constant(model, l.inputs[1])) {
        (None, None) => {
            let (a, b) = broadcast_cells(&input(env, l, 0)?, &input(env, l, 1)?)?;
            let items: Vec<_> = a
                .cells
                .iter()
                .zip(&b.cells)
                .map(|(x, y)| (x.clone(), 1, Some((y.clone(), sign, 0)), 0))
                .collect();
            CellTensor {
                shape: a.shape,
                cells: ops.affine(&items)?,
            }
        }
        // x ± c
        (None, Some(c)) => {
            let (x, cv) = broadcast_pair(&input(env, l, 0)?, c)?;
            let items: Vec<_> = x
                .cells
                .iter()
                .zip(cv)
                .map(|(x, c)| (x.clone(), 1, None, sign * c))
                .collect();
            CellTensor {
                shape: x.shape,
                cells: ops.affine(&items)?,
            }
        }
        // c ± x
        (Some(c), None) => {
            let (x, cv) = broadcast_pair(&input(env, l, 1)?, c)?;
            let items: Vec<_> = x
                .cells
                .iter()
                .zip(cv)
                .map(|(x, c)| (x.clone(), sign, None, c))
                .collect();
            CellTensor {
                shape: x.shape,
                cells: ops.affine(&items)?,
            }
        }
        (Some(_), Some(_)) => return Err(Error::Synthesis),
    };
    Ok(match l.op {
        Op::Add { activation: act } => vec![CellTensor {
            cells: activation(ops, cells.cells, act, sf)?,
            shape: cells.shape,
        }],
        _ => vec![cells],
    })
}

/// DivVar: each element divided by one activation cell, `round(sf·x / d)`, which also proves `d ≥ 1`.
pub(super) fn div_var<O: Ops>(
    ops: &mut O,
    model: &Model,
    l: &Layer,
    env: &Env<O::C>,
) -> Result<Vec<CellTensor<O::C>>, Error> {
    let sf = model.scale();
    let (x, d) = (input(env, l, 0)?, input(env, l, 1)?);
    let [dc] = <[O::C; 1]>::try_from(d.cells).map_err(|_| Error::Synthesis)?;
    let pairs: Vec<_> = x.cells.iter().map(|c| (c.clone(), dc.clone())).collect();
    Ok(vec![CellTensor {
        shape: x.shape.clone(),
        cells: div_by_cells(ops, &pairs, sf)?,
    }])
}

/// DivFixed: `round(x / divisor)`, a checked rescale.
pub(super) fn div_fixed<O: Ops>(
    ops: &mut O,
    l: &Layer,
    env: &Env<O::C>,
    divisor: i64,
) -> Result<Vec<CellTensor<O::C>>, Error> {
    let x = input(env, l, 0)?;
    let items: Vec<_> = x.cells.iter().map(|c| (c.clone(), 1, divisor)).collect();
    Ok(vec![CellTensor {
        shape: x.shape.clone(),
        cells: ops.rescale(&items, Quotient::Check)?,
    }])
}

/// Broadcasts two activation tensors to their common numpy shape (repeating cells, no new constraints).
pub(super) fn broadcast_cells<C: Clone>(
    a: &CellTensor<C>,
    b: &CellTensor<C>,
) -> Result<(CellTensor<C>, CellTensor<C>), Error> {
    let nd = a.shape.len().max(b.shape.len());
    let pad = |s: &[usize]| [vec![1; nd - s.len()], s.to_vec()].concat();
    let (sa, sb) = (pad(&a.shape), pad(&b.shape));
    let mut shape = Vec::with_capacity(nd);
    for (&x, &y) in sa.iter().zip(&sb) {
        shape.push(match (x, y) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(Error::Synthesis),
        });
    }
    let spread = |t: &CellTensor<C>| -> Result<CellTensor<C>, Error> {
        let idx = Tensor::new(t.shape.clone(), (0..t.cells.len() as i64).collect())
            .map_err(|_| Error::Synthesis)?;
        let idx = idx.broadcast_to(&shape).map_err(|_| Error::Synthesis)?;
        Ok(CellTensor {
            cells: idx
                .data()
                .iter()
                .map(|&i| t.cells[i as usize].clone())
                .collect(),
            shape: shape.clone(),
        })
    };
    Ok((spread(a)?, spread(b)?))
}

/// Broadcasts an activation tensor and a constant to their common numpy shape; returns the (possibly
/// repeated) activation cells and the constant values aligned with them.
pub(super) fn broadcast_pair<C: Clone>(
    x: &CellTensor<C>,
    c: &Tensor,
) -> Result<(CellTensor<C>, Vec<i64>), Error> {
    let nd = x.shape.len().max(c.shape().len());
    let pad = |s: &[usize]| [vec![1; nd - s.len()], s.to_vec()].concat();
    let (xs, cs) = (pad(&x.shape), pad(c.shape()));
    let shape: Vec<usize> = xs.iter().zip(&cs).map(|(&a, &b)| a.max(b)).collect();
    let idx = Tensor::new(x.shape.clone(), (0..x.cells.len() as i64).collect())
        .map_err(|_| Error::Synthesis)?;
    let idx = idx.broadcast_to(&shape).map_err(|_| Error::Synthesis)?;
    let cv = c
        .broadcast_to(&shape)
        .map_err(|_| Error::Synthesis)?
        .into_data();
    Ok((
        CellTensor {
            cells: idx
                .data()
                .iter()
                .map(|&i| x.cells[i as usize].clone())
                .collect(),
            shape,
        },
        cv,
    ))
}
