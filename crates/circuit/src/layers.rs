//! IR layers mapped onto chip operations, generic over [`Ops`] (real chips or the row counter).
//!
//! Every mapping mirrors `dzk_ir`'s forward pass exactly; the tests check the circuit's public outputs
//! against it.

use std::collections::BTreeMap;

use dzk_gadgets::cmp::CmpMode;
use dzk_gadgets::rescale::Quotient;
use dzk_ir::{Activation, ConvKind, Layer, Model, Op, Tensor};
use halo2_proofs::circuit::Value;
use halo2_proofs::plonk::Error;

use crate::ops::Ops;
use crate::CircuitError;

mod elementwise;
mod functions;
mod pool;
mod products;
mod wiring;

/// A tensor of circuit cells.
#[derive(Clone, Debug)]
pub(crate) struct CellTensor<C> {
    pub shape: Vec<usize>,
    pub cells: Vec<C>,
}

/// The tensors laid out so far, by id.
pub(crate) type Env<C> = BTreeMap<i64, CellTensor<C>>;

/// Input `n` of layer `l`, from the tensors laid out so far.
fn input<C: Clone>(env: &Env<C>, l: &Layer, n: usize) -> Result<CellTensor<C>, Error> {
    l.inputs
        .get(n)
        .and_then(|i| env.get(i))
        .cloned()
        .ok_or(Error::Synthesis)
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
    let (ins, outs) = (ins.to_vec(), outs.to_vec());
    let mut env: Env<O::C> = BTreeMap::new();
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
            Op::AvgPool2D { window, stride } => pool::avg_pool(ops, l, &env, (*window, *stride))?,
            Op::MaxPool2D { window, stride } => pool::max_pool(ops, l, &env, (*window, *stride))?,
            Op::Mean { axes } => pool::mean(ops, l, &env, axes)?,
            Op::Mul => elementwise::mul(ops, model, l, &env)?,
            Op::Square => elementwise::square(ops, model, l, &env)?,
            Op::SquaredDifference => elementwise::squared_difference(ops, model, l, &env)?,
            Op::Add { .. } | Op::Sub => elementwise::add_sub(ops, model, l, &env)?,
            Op::DivVar => elementwise::div_var(ops, model, l, &env)?,
            Op::DivFixed { divisor } => elementwise::div_fixed(ops, l, &env, *divisor)?,
            Op::BatchMatMul { adj_y } => products::batch_matmul(ops, model, l, &env, *adj_y)?,
            Op::Lookup { f, replace } => {
                vec![functions::lookup(
                    ops,
                    model,
                    input(&env, l, 0)?,
                    *f,
                    replace,
                )?]
            }
            Op::Softmax { mask } => {
                vec![functions::softmax(
                    ops,
                    model,
                    input(&env, l, 0)?,
                    mask.as_ref(),
                )?]
            }
            op if op.is_wiring() => wiring::wire(ops, model, index, l, &env)?,
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

/// A cell fixed to `c` (`0·anchor + c`).
fn constant_cell<O: Ops>(ops: &mut O, anchor: &O::C, c: i64) -> Result<O::C, Error> {
    ops.affine(&[(anchor.clone(), 0, None, c)])?
        .pop()
        .ok_or(Error::Synthesis)
}
