//! IR layers mapped onto chip operations, generic over [`Ops`] (real chips or the row counter).
//!
//! Every mapping mirrors `dzk_ir`'s forward pass exactly; the tests check the circuit's public outputs
//! against it.

use std::collections::BTreeMap;

use dzk_gadgets::cmp::CmpMode;
use dzk_gadgets::rescale::Quotient;
use dzk_ir::{
    conv_geometry, Activation, ConvGeometry, ConvKind, Layer, Model, Op, Padding, Tensor,
};
use halo2_proofs::circuit::Value;
use halo2_proofs::plonk::Error;

use crate::ops::Ops;
use crate::tables::{uses_table, TableKey};
use crate::CircuitError;

mod products;

/// A tensor of circuit cells.
#[derive(Clone, Debug)]
pub(crate) struct CellTensor<C> {
    pub shape: Vec<usize>,
    pub cells: Vec<C>,
}

/// The constant (weight) tensor `idx`, if the model holds its values.
fn constant(model: &Model, idx: i64) -> Option<&Tensor> {
    model.tensors().get(&idx).and_then(|t| t.data.as_ref())
}

fn unsupported(index: usize, layer: &Layer, reason: &str) -> CircuitError {
    CircuitError::Unsupported {
        index,
        layer_type: layer.layer_type.clone(),
        reason: reason.into(),
    }
}

/// Whether the slice has a matrix product the matrix-check chip can take: a convolution that is not depthwise,
/// a fully connected layer or a batch matrix product, with constant or activation weights.
pub(crate) fn has_products(model: &Model, start: usize, end: usize) -> bool {
    model.layers()[start..end].iter().any(|l| {
        matches!(
            l.op,
            Op::Conv2D {
                kind: ConvKind::Conv,
                ..
            } | Op::FullyConnected { .. }
                | Op::BatchMatMul { .. }
        )
    })
}

/// Every layer of the slice that has no chip path, each with its reason, in layer order. Looks only at layer
/// types and at which operands are constants, so it answers in microseconds per layer.
pub(crate) fn unsupported_layers(model: &Model, start: usize, end: usize) -> Vec<CircuitError> {
    let mut out = Vec::new();
    for (index, l) in model.layers().iter().enumerate().take(end).skip(start) {
        let is_const = |n: usize| {
            l.inputs
                .get(n)
                .is_some_and(|&i| constant(model, i).is_some())
        };
        let why = match &l.op {
            // Weights and bias may be constants or activations; the data operand must be an activation.
            Op::Conv2D { .. } | Op::FullyConnected { .. } | Op::BatchMatMul { .. } => {
                is_const(0).then_some("the data operand is a constant")
            }
            Op::AvgPool2D { .. }
            | Op::DivFixed { .. }
            | Op::Square
            | Op::MaxPool2D { .. }
            | Op::Mean { .. }
            | Op::Lookup { .. }
            | Op::Softmax { .. } => is_const(0).then_some("the operand is a constant"),
            Op::SquaredDifference | Op::DivVar => (is_const(0) || is_const(1))
                .then_some("an operand is a constant (both must be activations)"),
            op if op.is_wiring() => (0..l.inputs.len())
                .all(is_const)
                .then_some("every operand is a constant"),
            Op::Add { .. } | Op::Sub | Op::Mul => {
                (is_const(0) && is_const(1)).then_some("both operands are constants")
            }
            _ => Some("no chip path for this layer type yet"),
        };
        if let Some(reason) = why {
            out.push(unsupported(index, l, reason));
        }
    }
    out
}

/// Checks that every layer of the slice has a circuit, before anything is laid out: the first that has none.
pub(crate) fn check_supported(model: &Model, start: usize, end: usize) -> Result<(), CircuitError> {
    match unsupported_layers(model, start, end).into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// A quotient feeding an activation is bounded by the activation's comparison (its checked difference
/// `±(q − c)` bounds `q`), so it needs no check of its own; otherwise the rescale checks it.
fn quotient_bound(act: Activation) -> Quotient {
    match act {
        Activation::None => Quotient::Check,
        Activation::Relu | Activation::Relu6 => Quotient::BoundedByCaller,
    }
}

fn activation<O: Ops>(
    ops: &mut O,
    cells: Vec<O::C>,
    act: Activation,
    sf: i64,
) -> Result<Vec<O::C>, Error> {
    match act {
        Activation::None => Ok(cells),
        Activation::Relu => ops.compare(
            &cells
                .into_iter()
                .map(|c| (c, 0, CmpMode::Max))
                .collect::<Vec<_>>(),
        ),
        Activation::Relu6 => ops.clamp(&cells.into_iter().map(|c| (c, 6 * sf)).collect::<Vec<_>>()),
    }
}

/// The cells of a slice's boundary tensors, each list in `slice_boundary` order.
pub(crate) struct Boundary<C> {
    /// Boundary-in tensors: the cells the slice's layers read (range-checked on entry).
    pub ins: Vec<(i64, Vec<C>)>,
    /// Boundary-out tensors: the cells the slice's layers wrote (or passed on).
    pub outs: Vec<(i64, Vec<C>)>,
}

/// Lays out the slice `start..end` of a chain: its boundaries are the tensors live at its cuts.
pub(crate) fn lay_out<O: Ops>(
    ops: &mut O,
    model: &Model,
    start: usize,
    end: usize,
    boundary: &dyn Fn(i64, usize) -> Vec<Value<i128>>,
) -> Result<Boundary<O::C>, Error> {
    let (ins, outs) = model.slice_boundary(start, end);
    lay_out_io(ops, model, (start, end), (&ins, &outs), boundary)
}

/// Lays out the slice `start..end` reading the tensors `ins` (range-checked on entry, in that order) and
/// handing over `outs`. `boundary` supplies each boundary-in tensor's values (unknown at keygen).
pub(crate) fn lay_out_io<O: Ops>(
    ops: &mut O,
    model: &Model,
    (start, end): (usize, usize),
    (ins, outs): (&[i64], &[i64]),
    boundary: &dyn Fn(i64, usize) -> Vec<Value<i128>>,
) -> Result<Boundary<O::C>, Error> {
    let sf = model.scale();
    let (ins, outs) = (ins.to_vec(), outs.to_vec());
    let mut env: BTreeMap<i64, CellTensor<O::C>> = BTreeMap::new();
    let mut in_cells = Vec::with_capacity(ins.len());
    // Boundary inputs take the shape their first reader in the slice declares (a tensor the slice only passes
    // on takes its model-wide shape).
    for idx in ins {
        let shape = model.layers()[start..end]
            .iter()
            .find_map(|l| {
                l.inputs
                    .iter()
                    .position(|&i| i == idx)
                    .map(|n| l.input_shapes[n].clone())
            })
            .or_else(|| model.tensor_shape(idx))
            .unwrap_or_default();
        let n = shape.iter().product();
        let cells = ops.inputs(&boundary(idx, n))?;
        in_cells.push((idx, cells.clone()));
        env.insert(idx, CellTensor { shape, cells });
    }
    for (index, l) in model.layers().iter().enumerate().take(end).skip(start) {
        let get = |env: &BTreeMap<i64, CellTensor<O::C>>, n: usize| {
            env.get(&l.inputs[n]).cloned().ok_or(Error::Synthesis)
        };
        let out: Vec<CellTensor<O::C>> = match &l.op {
            Op::Conv2D {
                kind,
                padding,
                activation: act,
                stride,
            } => products::conv2d(ops, model, l, &env, (*kind, *padding, *act, *stride))?,
            Op::FullyConnected { activation: act } => {
                products::fully_connected(ops, model, l, &env, *act)?
            }
            Op::AvgPool2D { window, stride } => {
                let (windows, shape) = pool_windows(&get(&env, 0)?, *window, *stride)?;
                let div = (window.0 * window.1) as i64;
                let mut sums = Vec::with_capacity(windows.len());
                for w in &windows {
                    sums.push((ops.dot(w, &vec![1; w.len()], 0)?, 1, div));
                }
                vec![CellTensor {
                    shape,
                    cells: ops.rescale(&sums, Quotient::Check)?,
                }]
            }
            Op::Mul => match (constant(model, l.inputs[0]), constant(model, l.inputs[1])) {
                // Two activations: the product, then round(p / sf).
                (None, None) => {
                    let (a, b) = broadcast_cells(&get(&env, 0)?, &get(&env, 1)?)?;
                    let prods = ops.affine(
                        &a.cells
                            .iter()
                            .zip(&b.cells)
                            .map(|(x, y)| (x.clone(), 0, Some((y.clone(), 0, 1)), 0))
                            .collect::<Vec<_>>(),
                    )?;
                    let items: Vec<_> = prods.into_iter().map(|p| (p, 1, sf)).collect();
                    vec![CellTensor {
                        shape: a.shape,
                        cells: ops.rescale(&items, Quotient::Check)?,
                    }]
                }
                // One constant operand: round(x·c / sf), with c as the rescale multiplier.
                (c0, c1) => {
                    let (xn, c) = match (c0, c1) {
                        (None, Some(c)) => (0, c),
                        (Some(c), None) => (1, c),
                        _ => return Err(Error::Synthesis),
                    };
                    let (x, cv) = broadcast_pair(&get(&env, xn)?, c)?;
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
            Op::Square => {
                let x = get(&env, 0)?;
                let sq = ops.affine(
                    &x.cells
                        .iter()
                        .map(|c| (c.clone(), 0, Some((c.clone(), 0, 1)), 0))
                        .collect::<Vec<_>>(),
                )?;
                let items: Vec<_> = sq.into_iter().map(|p| (p, 1, sf)).collect();
                vec![CellTensor {
                    shape: x.shape.clone(),
                    cells: ops.rescale(&items, Quotient::Check)?,
                }]
            }
            Op::SquaredDifference => {
                let (a, b) = broadcast_cells(&get(&env, 0)?, &get(&env, 1)?)?;
                let diffs = ops.affine(
                    &a.cells
                        .iter()
                        .zip(&b.cells)
                        .map(|(x, y)| (x.clone(), 1, Some((y.clone(), -1, 0)), 0))
                        .collect::<Vec<_>>(),
                )?;
                let sq = ops.affine(
                    &diffs
                        .iter()
                        .map(|d| (d.clone(), 0, Some((d.clone(), 0, 1)), 0))
                        .collect::<Vec<_>>(),
                )?;
                let items: Vec<_> = sq.into_iter().map(|p| (p, 1, sf)).collect();
                vec![CellTensor {
                    shape: a.shape,
                    cells: ops.rescale(&items, Quotient::Check)?,
                }]
            }
            Op::Mean { axes } => {
                // Mirrors dzk-ir: batch 1, exactly one kept axis, round(sum / count) per kept index.
                let x = get(&env, 0)?;
                let s = &x.shape;
                let keep: Vec<usize> = (1..s.len()).filter(|a| !axes.contains(a)).collect();
                let (&[keep], Some(1)) = (keep.as_slice(), s.first().copied()) else {
                    return Err(Error::Synthesis);
                };
                let count = (s.iter().product::<usize>() / s[keep].max(1)) as i64;
                let stride: usize = s[keep + 1..].iter().product();
                let mut groups: Vec<Vec<O::C>> = vec![Vec::new(); s[keep]];
                for (flat, c) in x.cells.iter().enumerate() {
                    groups[(flat / stride) % s[keep]].push(c.clone());
                }
                let mut sums = Vec::with_capacity(groups.len());
                for g in &groups {
                    sums.push((ops.dot(g, &vec![1; g.len()], 0)?, 1, count));
                }
                vec![CellTensor {
                    shape: l.output_shapes[0].clone(),
                    cells: ops.rescale(&sums, Quotient::Check)?,
                }]
            }
            Op::Add { .. } | Op::Sub => {
                let sign = if matches!(l.op, Op::Sub) { -1 } else { 1 };
                let cells = match (constant(model, l.inputs[0]), constant(model, l.inputs[1])) {
                    (None, None) => {
                        let (a, b) = broadcast_cells(&get(&env, 0)?, &get(&env, 1)?)?;
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
                        let (x, cv) = broadcast_pair(&get(&env, 0)?, c)?;
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
                        let (x, cv) = broadcast_pair(&get(&env, 1)?, c)?;
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
                match l.op {
                    Op::Add { activation: act } => vec![CellTensor {
                        cells: activation(ops, cells.cells, act, sf)?,
                        shape: cells.shape,
                    }],
                    _ => vec![cells],
                }
            }
            Op::MaxPool2D { window, stride } => {
                let (windows, shape) = pool_windows(&get(&env, 0)?, *window, *stride)?;
                vec![CellTensor {
                    shape,
                    cells: max_tree(ops, windows)?,
                }]
            }
            Op::BatchMatMul { adj_y } => products::batch_matmul(ops, model, l, &env, *adj_y)?,
            Op::DivVar => {
                let (x, d) = (get(&env, 0)?, get(&env, 1)?);
                let [dc] = <[O::C; 1]>::try_from(d.cells).map_err(|_| Error::Synthesis)?;
                let pairs: Vec<_> = x.cells.iter().map(|c| (c.clone(), dc.clone())).collect();
                vec![CellTensor {
                    shape: x.shape.clone(),
                    cells: div_by_cells(ops, &pairs, sf)?,
                }]
            }
            Op::Lookup { f, replace } => vec![lookup(ops, model, get(&env, 0)?, *f, replace)?],
            Op::Softmax { mask } => vec![softmax(ops, model, get(&env, 0)?, mask.as_ref())?],
            Op::DivFixed { divisor } => {
                let x = get(&env, 0)?;
                let items: Vec<_> = x.cells.iter().map(|c| (c.clone(), 1, *divisor)).collect();
                vec![CellTensor {
                    shape: x.shape.clone(),
                    cells: ops.rescale(&items, Quotient::Check)?,
                }]
            }
            op if op.is_wiring() => wire(ops, model, index, l, &env)?,
            _ => return Err(Error::Synthesis),
        };
        for (o, t) in l.outputs.iter().zip(out) {
            env.insert(*o, t);
        }
        ops.layer_done();
    }
    let mut out_cells = Vec::with_capacity(outs.len());
    for o in outs {
        out_cells.push((o, env.get(&o).ok_or(Error::Synthesis)?.cells.clone()));
    }
    Ok(Boundary {
        ins: in_cells,
        outs: out_cells,
    })
}

/// `round(m·xᵢ / dᵢ)` for pairs of cells `(xᵢ, dᵢ)`: the quotient `q` is a fresh witness (signed-range-checked),
/// and `r = 2m·x + d − 2q·d`, `rc = 2d − 1 − r` are range-checked, so `0 ≤ r < 2d` and `d ≥ 1`: `q` is the
/// round-half-up quotient and nothing else.
fn div_by_cells<O: Ops>(ops: &mut O, pairs: &[(O::C, O::C)], m: i64) -> Result<Vec<O::C>, Error> {
    let two_m = 2 * m;
    let qv: Vec<Value<i128>> = pairs
        .iter()
        .map(|(x, d)| {
            ops.value(x).zip(ops.value(d)).map(|(x, d)| {
                if d > 0 {
                    (i128::from(two_m) * x + d).div_euclid(2 * d)
                } else {
                    0
                }
            })
        })
        .collect();
    let q = ops.inputs(&qv)?;
    let (xs, ds): (Vec<O::C>, Vec<O::C>) = pairs.iter().cloned().unzip();
    let p = pairwise(ops, &q, &ds, (0, 0, 1, 0))?;
    let t = pairwise(ops, &xs, &ds, (two_m, 1, 0, 0))?;
    let r = pairwise(ops, &t, &p, (1, -2, 0, 0))?;
    let rc = pairwise(ops, &ds, &r, (2, -1, 0, -1))?;
    ops.check(&[r, rc].concat())?;
    Ok(q)
}

/// `m₁·aᵢ + m₂·bᵢ + m₃·aᵢ·bᵢ + c` for each pair `(aᵢ, bᵢ)`, with `(m₁, m₂, m₃, c)` given.
fn pairwise<O: Ops>(
    ops: &mut O,
    a: &[O::C],
    b: &[O::C],
    (m1, m2, m3, c): (i64, i64, i64, i64),
) -> Result<Vec<O::C>, Error> {
    ops.affine(
        &a.iter()
            .zip(b)
            .map(|(a, b)| (a.clone(), m1, Some((b.clone(), m2, m3)), c))
            .collect::<Vec<_>>(),
    )
}

/// The maximum of each (non-empty) window: a tree of proven pairwise maxima, one level at a time for all
/// windows together.
fn max_tree<O: Ops>(ops: &mut O, mut windows: Vec<Vec<O::C>>) -> Result<Vec<O::C>, Error> {
    while windows.iter().any(|w| w.len() > 1) {
        let pairs: Vec<(O::C, O::C)> = windows
            .iter()
            .flat_map(|w| w.chunks_exact(2).map(|p| (p[0].clone(), p[1].clone())))
            .collect();
        let mut maxes = ops.max_pairs(&pairs)?.into_iter();
        for w in &mut windows {
            let odd = (w.len() % 2 == 1).then(|| w[w.len() - 1].clone());
            let mut next: Vec<O::C> = maxes.by_ref().take(w.len() / 2).collect();
            next.extend(odd);
            *w = next;
        }
    }
    windows
        .into_iter()
        .map(|mut w| w.pop().ok_or(Error::Synthesis))
        .collect()
}

/// A cell fixed to `c` (`0·anchor + c`).
fn constant_cell<O: Ops>(ops: &mut O, anchor: &O::C, c: i64) -> Result<O::C, Error> {
    ops.affine(&[(anchor.clone(), 0, None, c)])?
        .pop()
        .ok_or(Error::Synthesis)
}

/// An element-wise function: by its table, except ReLU (a comparison); zkml's Rsqrt replacements become
/// constants (the function of `max_val` or `min_val`).
fn lookup<O: Ops>(
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
fn softmax<O: Ops>(
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

/// Where an output element of a wiring layer comes from.
#[derive(Clone)]
enum Src<C> {
    Cell(C),
    Const(i64),
}

/// A wiring layer (Reshape, Transpose, Concatenation, Pack, Split, Slice, Pad, Broadcast, Rotate, ResizeNN,
/// Noop, MaskNegInf): dzk-ir moves element ids with the forward pass's own code, and the outputs take the cells
/// the ids name. Constants (a shape tensor being concatenated, padding zeros, MaskNegInf's `min_val`) become
/// cells fixed by an affine `0·anchor + c`, one per distinct value.
fn wire<O: Ops>(
    ops: &mut O,
    model: &Model,
    index: usize,
    l: &Layer,
    env: &BTreeMap<i64, CellTensor<O::C>>,
) -> Result<Vec<CellTensor<O::C>>, Error> {
    let mut table: Vec<Src<O::C>> = Vec::new();
    let mut payloads = Vec::with_capacity(l.inputs.len());
    for i in &l.inputs {
        let (shape, srcs): (Vec<usize>, Vec<Src<O::C>>) = match (env.get(i), constant(model, *i)) {
            (Some(t), _) => (
                t.shape.clone(),
                t.cells.iter().cloned().map(Src::Cell).collect(),
            ),
            (None, Some(c)) => (
                c.shape().to_vec(),
                c.data().iter().map(|&v| Src::Const(v)).collect(),
            ),
            (None, None) => return Err(Error::Synthesis),
        };
        let first = table.len() as i64 + 1;
        let ids = (first..first + srcs.len() as i64).collect();
        table.extend(srcs);
        payloads.push(Tensor::new(shape, ids).map_err(|_| Error::Synthesis)?);
    }
    let outs = model
        .wire(index, &payloads.iter().collect::<Vec<_>>())
        .map_err(|_| Error::Synthesis)?;
    // Ids are 1..=n; anything else is a constant the layer filled in (0 for padding, min_val for MaskNegInf).
    let source = |id: i64| match usize::try_from(id - 1).ok().and_then(|i| table.get(i)) {
        Some(s) => s.clone(),
        None => Src::Const(id),
    };
    // Cells for the constants the outputs use, each made once.
    let anchor = table
        .iter()
        .find_map(|s| {
            if let Src::Cell(c) = s {
                Some(c.clone())
            } else {
                None
            }
        })
        .ok_or(Error::Synthesis)?;
    let mut wanted: Vec<i64> = outs
        .iter()
        .flat_map(|t| {
            t.data().iter().filter_map(|&id| {
                if let Src::Const(v) = source(id) {
                    Some(v)
                } else {
                    None
                }
            })
        })
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let made = ops.affine(
        &wanted
            .iter()
            .map(|&v| (anchor.clone(), 0, None, v))
            .collect::<Vec<_>>(),
    )?;
    let consts: BTreeMap<i64, O::C> = wanted.into_iter().zip(made).collect();
    outs.iter()
        .map(|t| {
            let cells = t
                .data()
                .iter()
                .map(|&id| match source(id) {
                    Src::Cell(c) => Ok(c),
                    Src::Const(v) => consts.get(&v).cloned().ok_or(Error::Synthesis),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(CellTensor {
                shape: t.shape().to_vec(),
                cells,
            })
        })
        .collect()
}

/// The cells of every VALID pooling window over `[1, H, W, C]`, in output order (row, column, channel), and the
/// output shape `[1, OH, OW, C]`.
fn pool_windows<C: Clone>(
    x: &CellTensor<C>,
    window: (usize, usize),
    stride: (usize, usize),
) -> Result<(Vec<Vec<C>>, Vec<usize>), Error> {
    let [_, h, wd, c] = <[usize; 4]>::try_from(x.shape.as_slice()).map_err(|_| Error::Synthesis)?;
    let ConvGeometry {
        out_h: oh,
        out_w: ow,
        ..
    } = conv_geometry(h, wd, window, stride, Padding::Valid).ok_or(Error::Synthesis)?;
    let mut windows = Vec::with_capacity(oh * ow * c);
    for i in 0..oh {
        for j in 0..ow {
            for k in 0..c {
                let mut w = Vec::with_capacity(window.0 * window.1);
                for dy in 0..window.0 {
                    for dx in 0..window.1 {
                        w.push(
                            x.cells[((i * stride.0 + dy) * wd + j * stride.1 + dx) * c + k].clone(),
                        );
                    }
                }
                windows.push(w);
            }
        }
    }
    Ok((windows, vec![1, oh, ow, c]))
}

/// Broadcasts two activation tensors to their common numpy shape (repeating cells, no new constraints).
fn broadcast_cells<C: Clone>(
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
fn broadcast_pair<C: Clone>(
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
