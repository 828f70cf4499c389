//! The matrix-product layers: Conv2D (plain and depthwise), FullyConnected and BatchMatMul, whose weight
//! operand is a constant of the model (fixed columns) or an activation (cells of the witness: attention's
//! `Q·Kᵀ` and `A·V`). Both go to [`Ops::product`], which proves them by the matrix check where that takes fewer
//! rows, then a checked rescale.

use std::collections::BTreeMap;

use dzk_ir::{conv_geometry, Activation, ConvGeometry, ConvKind, Layer, Model, Padding, Tensor};
use halo2_proofs::plonk::Error;

use super::{activation, constant, quotient_bound, CellTensor};
use crate::ops::{AffineItem, Ops, Wts};
use dzk_gadgets::rescale::Quotient;

/// A layer's weight (or bias) operand: a constant of the model, or an activation's cells.
enum Operand<'m, C> {
    Const(&'m Tensor),
    Cells(CellTensor<C>),
}

impl<C: Clone> Operand<'_, C> {
    fn shape(&self) -> &[usize] {
        match self {
            Operand::Const(t) => t.shape(),
            Operand::Cells(c) => &c.shape,
        }
    }

    fn len(&self) -> usize {
        match self {
            Operand::Const(t) => t.len(),
            Operand::Cells(c) => c.cells.len(),
        }
    }

    fn wts(&self) -> Wts<'_, C> {
        match self {
            Operand::Const(t) => Wts::Const(t.data()),
            Operand::Cells(c) => Wts::Cells(&c.cells),
        }
    }
}

/// Input `n` of layer `l` as an operand (`None` when the layer has no such input).
fn operand<'m, C: Clone>(
    model: &'m Model,
    env: &BTreeMap<i64, CellTensor<C>>,
    l: &Layer,
    n: usize,
) -> Result<Option<Operand<'m, C>>, Error> {
    let Some(&idx) = l.inputs.get(n) else {
        return Ok(None);
    };
    match (constant(model, idx), env.get(&idx)) {
        (Some(t), _) => Ok(Some(Operand::Const(t))),
        (None, Some(c)) => Ok(Some(Operand::Cells(c.clone()))),
        (None, None) => Err(Error::Synthesis),
    }
}

/// The data operand (input 0): always an activation.
fn data<C: Clone>(env: &BTreeMap<i64, CellTensor<C>>, l: &Layer) -> Result<CellTensor<C>, Error> {
    l.inputs
        .first()
        .and_then(|i| env.get(i))
        .cloned()
        .ok_or(Error::Synthesis)
}

/// `round(acc / sf) + bias` for accumulators laid out `[rows, outputs]`, then the activation. A constant bias
/// entered the accumulators as `bias·sf` (their initial value); a bias that is an activation is added here as
/// `acc + sf·bias` (one affine item each) before the rescale.
fn finish<O: Ops>(
    ops: &mut O,
    accs: Vec<O::C>,
    cell_bias: Option<&[O::C]>,
    act: Activation,
    sf: i64,
) -> Result<Vec<O::C>, Error> {
    let accs = match cell_bias {
        Some(b) if !b.is_empty() => {
            let items: Vec<AffineItem<O::C>> = accs
                .iter()
                .enumerate()
                .map(|(i, a)| (a.clone(), 1, Some((b[i % b.len()].clone(), sf, 0)), 0))
                .collect();
            ops.affine(&items)?
        }
        _ => accs,
    };
    let items: Vec<_> = accs.into_iter().map(|a| (a, 1, sf)).collect();
    let q = ops.rescale(&items, quotient_bound(act))?;
    activation(ops, q, act, sf)
}

/// A constant bias as the accumulators' initial values `bias·sf` for `outputs` outputs (zeros for none or an
/// activation bias), and an activation bias's cells.
fn bias_parts<C: Clone>(
    bias: Option<&Operand<'_, C>>,
    outputs: usize,
    sf: i64,
) -> Result<(Vec<i128>, Option<Vec<C>>), Error> {
    match bias {
        None => Ok((vec![0; outputs], None)),
        Some(Operand::Const(t)) => {
            if t.len() != outputs {
                return Err(Error::Synthesis);
            }
            Ok((
                t.data()
                    .iter()
                    .map(|&b| i128::from(b) * i128::from(sf))
                    .collect(),
                None,
            ))
        }
        Some(Operand::Cells(c)) => {
            if c.cells.len() != outputs {
                return Err(Error::Synthesis);
            }
            Ok((vec![0; outputs], Some(c.cells.clone())))
        }
    }
}

/// Conv2D, plain or depthwise, with constant or activation weights and bias.
pub(super) fn conv2d<O: Ops>(
    ops: &mut O,
    model: &Model,
    l: &Layer,
    env: &BTreeMap<i64, CellTensor<O::C>>,
    (kind, padding, act, stride): (ConvKind, Padding, Activation, (usize, usize)),
) -> Result<Vec<CellTensor<O::C>>, Error> {
    let sf = model.scale();
    let x = data(env, l)?;
    let w = operand(model, env, l, 1)?.ok_or(Error::Synthesis)?;
    let bias = operand(model, env, l, 2)?;
    let ([b, h, wd, c], [w0, kh, kw, wc]) = (
        <[usize; 4]>::try_from(x.shape.as_slice()).map_err(|_| Error::Synthesis)?,
        <[usize; 4]>::try_from(w.shape()).map_err(|_| Error::Synthesis)?,
    );
    let ConvGeometry {
        pad_top: pt,
        pad_left: pl,
        out_h: oh,
        out_w: ow,
    } = conv_geometry(h, wd, (kh, kw), stride, padding).ok_or(Error::Synthesis)?;
    // A depthwise convolution's output channel `o` reads input channel `o / M`, M = OC / C its channel
    // multiplier.
    let oc = match kind {
        ConvKind::Conv if wc == c => w0,
        ConvKind::Depthwise if w0 == 1 && c > 0 && wc.is_multiple_of(c) => wc,
        _ => return Err(Error::Synthesis),
    };
    if w.len() != w0 * kh * kw * wc {
        return Err(Error::Synthesis);
    }
    // round(acc/sf) + bias = round((acc + bias·sf)/sf): a constant bias enters as the constant term.
    let (init, cell_bias) = bias_parts(bias.as_ref(), oc, sf)?;
    // The taps of output (i, j) that fall inside the input, as (kernel row, kernel column, y, x); taps on the
    // zero padding contribute nothing and are left out.
    let taps = |i: usize, j: usize| {
        let mut v = Vec::with_capacity(kh * kw);
        for ci in 0..kh {
            for cj in 0..kw {
                let (Some(y), Some(xx)) = (
                    (i * stride.0 + ci).checked_sub(pt),
                    (j * stride.1 + cj).checked_sub(pl),
                ) else {
                    continue;
                };
                if y < h && xx < wd {
                    v.push((ci, cj, y, xx));
                }
            }
        }
        v
    };
    let accs: Vec<_> = match kind {
        // A matrix product: row (b, i, j) of the im2col matrix times the kernel as outputs × taps.
        ConvKind::Conv => {
            let mut rows = Vec::with_capacity(b * oh * ow);
            for bb in 0..b {
                for i in 0..oh {
                    for j in 0..ow {
                        let mut row = Vec::with_capacity(kh * kw * c);
                        for (ci, cj, y, xx) in taps(i, j) {
                            let at = ((bb * h + y) * wd + xx) * c;
                            for ch in 0..c {
                                row.push(((ci * kw + cj) * c + ch, x.cells[at + ch].clone()));
                            }
                        }
                        rows.push(row);
                    }
                }
            }
            ops.product(&rows, w.wts(), &init)?
        }
        // Each output channel reads its own input channel: one dot product per output (for activation weights,
        // a one-row product, whose products `x·w` the affine chip makes).
        ConvKind::Depthwise => {
            let mut accs = Vec::with_capacity(b * oh * ow * oc);
            for bb in 0..b {
                for i in 0..oh {
                    for j in 0..ow {
                        let taps = taps(i, j);
                        for (o, &b0) in init.iter().enumerate() {
                            let ch = o / (oc / c);
                            let xs: Vec<O::C> = taps
                                .iter()
                                .map(|&(_, _, y, xx)| {
                                    x.cells[((bb * h + y) * wd + xx) * c + ch].clone()
                                })
                                .collect();
                            let at = |&(ci, cj, _, _): &(usize, usize, usize, usize)| {
                                (ci * kw + cj) * oc + o
                            };
                            match &w {
                                Operand::Const(t) => {
                                    let ws: Vec<i64> =
                                        taps.iter().map(|tp| t.data()[at(tp)]).collect();
                                    accs.push(ops.dot(&xs, &ws, b0)?);
                                }
                                Operand::Cells(cw) => {
                                    let ws: Vec<O::C> =
                                        taps.iter().map(|tp| cw.cells[at(tp)].clone()).collect();
                                    let row: Vec<_> = xs.into_iter().enumerate().collect();
                                    accs.extend(ops.product(&[row], Wts::Cells(&ws), &[b0])?);
                                }
                            }
                        }
                    }
                }
            }
            accs
        }
    };
    Ok(vec![CellTensor {
        shape: vec![b, oh, ow, oc],
        cells: finish(ops, accs, cell_bias.as_deref(), act, sf)?,
    }])
}

/// FullyConnected: `round(x·Wᵀ / sf) + bias` for `x: [n, m]` (batch 0 of a rank-3 input), `W: [p, m]`.
pub(super) fn fully_connected<O: Ops>(
    ops: &mut O,
    model: &Model,
    l: &Layer,
    env: &BTreeMap<i64, CellTensor<O::C>>,
    act: Activation,
) -> Result<Vec<CellTensor<O::C>>, Error> {
    let sf = model.scale();
    let x = data(env, l)?;
    let w = operand(model, env, l, 1)?.ok_or(Error::Synthesis)?;
    let (n, m) = match x.shape.as_slice() {
        [n, m] | [_, n, m] => (*n, *m),
        _ => return Err(Error::Synthesis),
    };
    let &[p, wm] = w.shape() else {
        return Err(Error::Synthesis);
    };
    if wm != m || w.len() != p * m {
        return Err(Error::Synthesis);
    }
    let rows: Vec<Vec<_>> = (0..n)
        .map(|i| {
            x.cells[i * m..(i + 1) * m]
                .iter()
                .cloned()
                .enumerate()
                .collect()
        })
        .collect();
    let (accs, cell_bias) = match operand(model, env, l, 2)? {
        // A constant bias broadcast to [n, p]: one matrix product when every row has the same bias (a bias per
        // output); otherwise a product per row, each with its own.
        Some(Operand::Const(t)) => {
            let init: Vec<i128> = t
                .broadcast_to(&[n, p])
                .map_err(|_| Error::Synthesis)?
                .into_data()
                .iter()
                .map(|&b| i128::from(b) * i128::from(sf))
                .collect();
            let accs = if (0..n).all(|i| init[i * p..(i + 1) * p] == init[..p]) {
                ops.product(&rows, w.wts(), &init[..p])?
            } else {
                let mut accs = Vec::with_capacity(n * p);
                for (i, row) in rows.iter().enumerate() {
                    accs.extend(ops.product(
                        std::slice::from_ref(row),
                        w.wts(),
                        &init[i * p..(i + 1) * p],
                    )?);
                }
                accs
            };
            (accs, None)
        }
        Some(Operand::Cells(b)) => {
            if b.cells.len() != p && b.cells.len() != n * p {
                return Err(Error::Synthesis);
            }
            (ops.product(&rows, w.wts(), &vec![0; p])?, Some(b.cells))
        }
        None => (ops.product(&rows, w.wts(), &vec![0; p])?, None),
    };
    Ok(vec![CellTensor {
        shape: vec![n, p],
        cells: finish(ops, accs, cell_bias.as_deref(), act, sf)?,
    }])
}

/// BatchMatMul: for each batch, `round(A·B / sf)` (`B` transposed first when `adj_y`), one matrix product per
/// batch whose weights are `B`'s cells (an activation) or values (a constant).
pub(super) fn batch_matmul<O: Ops>(
    ops: &mut O,
    model: &Model,
    l: &Layer,
    env: &BTreeMap<i64, CellTensor<O::C>>,
    adj_y: bool,
) -> Result<Vec<CellTensor<O::C>>, Error> {
    let sf = model.scale();
    let a = data(env, l)?;
    let b = operand(model, env, l, 1)?.ok_or(Error::Synthesis)?;
    let ([bs, n, m], [bb, b1, b2]) = (
        <[usize; 3]>::try_from(a.shape.as_slice()).map_err(|_| Error::Synthesis)?,
        <[usize; 3]>::try_from(b.shape()).map_err(|_| Error::Synthesis)?,
    );
    let (p, bm) = if adj_y { (b1, b2) } else { (b2, b1) };
    if bb != bs || bm != m || b.len() != bb * b1 * b2 {
        return Err(Error::Synthesis);
    }
    // Where B[batch][k][j] (or Bᵀ's, when adj_y) lies, for one batch's weights as outputs × inputs:
    // w[j·m + k] = B[k][j].
    let at = |batch: usize, j: usize, k: usize| {
        if adj_y {
            (batch * b1 + j) * b2 + k
        } else {
            (batch * b1 + k) * b2 + j
        }
    };
    let mut accs = Vec::with_capacity(bs * n * p);
    for batch in 0..bs {
        let rows: Vec<Vec<_>> = (0..n)
            .map(|i| {
                (0..m)
                    .map(|k| (k, a.cells[(batch * n + i) * m + k].clone()))
                    .collect()
            })
            .collect();
        let order = (0..p).flat_map(|j| (0..m).map(move |k| at(batch, j, k)));
        accs.extend(match &b {
            Operand::Cells(c) => {
                let w: Vec<O::C> = order.map(|i| c.cells[i].clone()).collect();
                ops.product(&rows, Wts::Cells(&w), &vec![0; p])?
            }
            Operand::Const(t) => {
                let w: Vec<i64> = order.map(|i| t.data()[i]).collect();
                ops.product(&rows, Wts::Const(&w), &vec![0; p])?
            }
        });
    }
    let items: Vec<_> = accs.into_iter().map(|a| (a, 1, sf)).collect();
    Ok(vec![CellTensor {
        shape: vec![bs, n, p],
        cells: ops.rescale(&items, Quotient::Check)?,
    }])
}
