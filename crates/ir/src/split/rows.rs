//! Splitting a layer by rows: each part slices its share of the layer's operands along one axis, applies the
//! layer to them, and a concatenation along that axis joins the parts. Three kinds of layer split so:
//!
//! - a **softmax**, along the first axis before the last that holds more than one row: it normalises each row
//!   (the last axis) on its own, with the mask's entries for that row;
//! - a **batched matrix product** `A·B` (`[b, n, m]` by `[b, m, p]`), along the batch axis (both operands
//!   sliced) or, with one batch, along `A`'s rows (`B` read whole): each output row is `A`'s row times `B`;
//! - an **element-wise layer** (sums, differences, products, squares, constant divisions, tables), along the
//!   output's first axis of more than one position: each output is computed from the operands' values at the
//!   same position (broadcast), so each operand is sliced where it varies along that axis and read whole where
//!   it broadcasts; a constant operand that varies is replaced by its share, a new constant.
//!
//! So a part computes exactly the original's values for its rows and the concatenation puts them back in
//! order. The parts use the slicing, concatenation and layer chips the original model's layers use: no new
//! chip and no new soundness argument.

use std::collections::BTreeMap;

use super::Fresh;
use crate::zkml::{WireLayer, WireTensor};
use crate::{Model, Op, Tensor};

/// Whether `op` is split by rows as an element-wise layer (by position): each output position from the operands'
/// values at that position alone.
pub(super) fn splits_by_position(op: &Op) -> bool {
    match op {
        Op::Add { .. }
        | Op::Sub
        | Op::Mul
        | Op::SquaredDifference
        | Op::Square
        | Op::DivFixed { .. } => true,
        Op::Lookup { replace, .. } => replace.is_empty(),
        _ => false,
    }
}

/// Whether `shape` broadcasts to `out` (aligned at the end, each axis equal or of one).
fn broadcasts(shape: &[usize], out: &[usize]) -> bool {
    shape.len() <= out.len()
        && shape
            .iter()
            .rev()
            .zip(out.iter().rev())
            .all(|(&s, &o)| s == o || s == 1)
}

impl Model {
    /// The axis layer `index` is split along by rows, and its extent (see the module): for a softmax (one input,
    /// its output the input's shape) the first axis before the last with more than one row; for a batched
    /// product the batch axis, or with one batch its first operand's rows; for an element-wise layer (its
    /// computed operands broadcasting to its output) the output's first axis of more than one position. `None`
    /// for every other layer, and where no such axis has more than one.
    pub(crate) fn row_axis(&self, index: usize) -> Option<(usize, usize)> {
        let l = self.layers.get(index)?;
        if l.outputs.len() != 1 {
            return None;
        }
        let out = l.output_shapes.first()?;
        let first_above_one = |shape: &[usize], below: usize| {
            (0..below)
                .find(|&ax| shape[ax] > 1)
                .map(|ax| (ax, shape[ax]))
        };
        match &l.op {
            Op::Softmax { .. } => {
                if l.inputs.len() != 1 || l.input_shapes.first() != Some(out) {
                    return None;
                }
                first_above_one(out, out.len().checked_sub(1)?)
            }
            Op::BatchMatMul { .. } => {
                let a = l.input_shapes.first()?;
                if l.inputs.len() != 2 || a.len() != 3 || out.len() != 3 {
                    return None;
                }
                first_above_one(a, 2)
            }
            op if splits_by_position(op) => {
                let computed = if matches!(op, Op::Lookup { .. }) {
                    1
                } else {
                    l.inputs.len()
                };
                if l.input_shapes.len() < computed
                    || !l.input_shapes[..computed]
                        .iter()
                        .all(|s| broadcasts(s, out))
                {
                    return None;
                }
                first_above_one(out, out.len())
            }
            _ => None,
        }
    }

    /// Whether layer `index` is split by rows ([`Self::split_limit`] counts its rows), not by output channels.
    pub fn splits_by_rows(&self, index: usize) -> bool {
        self.row_axis(index).is_some()
    }

    /// What one part of layer `index`'s split holds at least: a "row" of a softmax or a batched product, a
    /// "position" of an element-wise layer, else an "output channel".
    pub fn split_unit(&self, index: usize) -> &'static str {
        match self.layers.get(index).map(|l| &l.op) {
            _ if !self.splits_by_rows(index) => "output channel",
            Some(op) if splits_by_position(op) => "position",
            _ => "row",
        }
    }
}

/// The layers of layer `l` (of `model`, whose constants are `values`) split into `parts` along `axis` (of `rows`
/// rows; [`Model::row_axis`]): per part a `Slice` of each operand that varies along that axis (a constant
/// operand's share is a new constant, pushed to `tensors`) and the layer over them, then the `Concatenation`
/// along `axis` that writes `l`'s output. Returns the layers and how many each part takes.
pub(super) fn split_rows(
    (model, index, l): (&Model, usize, &WireLayer),
    (axis, rows): (usize, usize),
    parts: usize,
    values: &BTreeMap<i64, WireTensor>,
    (tensors, fresh): (&mut Vec<WireTensor>, &mut Fresh),
) -> Result<(Vec<WireLayer>, usize), String> {
    let layer = model.layers.get(index).ok_or("no such layer")?;
    let out_dims = layer
        .output_shapes
        .first()
        .ok_or("the layer has no output")?;
    // For each operand, the axis of it that is sliced (none: read whole).
    let sliced_axis: Vec<Option<usize>> = (0..l.inp_idxes.len())
        .map(|i| {
            let shape = layer.input_shapes.get(i)?;
            match &layer.op {
                Op::Softmax { .. } => (i == 0).then_some(axis),
                // `B` is sliced with `A` along the batch, read whole along `A`'s rows.
                Op::BatchMatMul { .. } => (i == 0 || axis == 0).then_some(axis),
                Op::Lookup { .. } if i > 0 => None,
                _ => {
                    let at = axis.checked_sub(out_dims.len() - shape.len())?;
                    (shape[at] > 1).then_some(at)
                }
            }
        })
        .collect();
    let per_part = 1 + sliced_axis
        .iter()
        .enumerate()
        .filter(|&(i, a)| a.is_some() && !values.contains_key(&l.inp_idxes[i]))
        .count();
    let mut layers = Vec::with_capacity(per_part * parts + 1);
    let mut outs = Vec::with_capacity(parts);
    let mut out_shapes = Vec::with_capacity(parts);
    for p in 0..parts {
        let (lo, hi) = (p * rows / parts, (p + 1) * rows / parts);
        let mut inp_idxes = Vec::with_capacity(l.inp_idxes.len());
        let mut inp_shapes = Vec::with_capacity(l.inp_idxes.len());
        for (i, (&idx, at)) in l.inp_idxes.iter().zip(&sliced_axis).enumerate() {
            let Some(at) = *at else {
                inp_idxes.push(idx);
                inp_shapes.push(l.inp_shapes.get(i).cloned().unwrap_or_default());
                continue;
            };
            let dims = layer.input_shapes.get(i).ok_or("an operand has no shape")?;
            let mut part_shape: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
            part_shape[at] = (hi - lo) as i64;
            let y = fresh.next();
            if let Some(c) = values.get(&idx) {
                // A constant operand: its share, a new constant.
                let mut start = vec![0; dims.len()];
                start[at] = lo;
                let mut len = dims.clone();
                len[at] = hi - lo;
                let share = Tensor::new(dims.clone(), c.data.clone())?.slice(&start, &len)?;
                tensors.push(WireTensor {
                    idx: y,
                    shape: part_shape.clone(),
                    data: share.into_data(),
                });
            } else {
                let mut begin = vec![0i64; dims.len()];
                begin[at] = lo as i64;
                let mut size = vec![-1i64; dims.len()];
                size[at] = (hi - lo) as i64;
                layers.push(WireLayer {
                    layer_type: "Slice".into(),
                    params: begin.into_iter().chain(size).collect(),
                    inp_idxes: vec![idx],
                    inp_shapes: vec![dims.iter().map(|&d| d as i64).collect()],
                    out_idxes: vec![y],
                    out_shapes: vec![part_shape.clone()],
                    mask: Vec::new(),
                    implementation: None,
                });
            }
            inp_idxes.push(y);
            inp_shapes.push(part_shape);
        }
        let mut part_out: Vec<i64> = out_dims.iter().map(|&d| d as i64).collect();
        part_out[axis] = (hi - lo) as i64;
        let params = match layer.op {
            Op::Softmax { .. } => part_mask(&l.params, out_dims, axis, (lo, hi))?,
            _ => l.params.clone(),
        };
        let y = fresh.next();
        layers.push(WireLayer {
            layer_type: l.layer_type.clone(),
            params,
            inp_idxes,
            inp_shapes,
            out_idxes: vec![y],
            out_shapes: vec![part_out.clone()],
            mask: l.mask.clone(),
            implementation: l.implementation,
        });
        outs.push(y);
        out_shapes.push(part_out);
    }
    layers.push(WireLayer {
        layer_type: "Concatenation".into(),
        params: vec![axis as i64],
        inp_idxes: outs,
        inp_shapes: out_shapes,
        out_idxes: l.out_idxes.clone(),
        out_shapes: l.out_shapes.clone(),
        mask: Vec::new(),
        implementation: None,
    });
    Ok((layers, per_part))
}

/// A part's softmax params (its mask, `[rank, shape.., values..]`, or none) for rows `lo..hi` along `axis` of an
/// input of shape `dims`: the mask as it is when it does not vary along `axis` (it broadcasts to the part as to
/// the whole), else the part's rows of the mask broadcast to the whole input.
fn part_mask(
    params: &[i64],
    dims: &[usize],
    axis: usize,
    (lo, hi): (usize, usize),
) -> Result<Vec<i64>, String> {
    let Some((&rank, rest)) = params.split_first() else {
        return Ok(Vec::new());
    };
    let rank = usize::try_from(rank).map_err(|_| "bad mask rank".to_string())?;
    if rest.len() < rank || rank > dims.len() {
        return Err(format!(
            "a mask of rank {rank} does not fit an input of shape {dims:?}"
        ));
    }
    let mask_shape: Vec<usize> = rest[..rank]
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("bad mask shape {:?}", &rest[..rank])))
        .collect::<Result<_, _>>()?;
    // The mask's axis under `axis` (shapes aligned at the end), if it has one of more than one entry.
    let offset = dims.len() - rank;
    if axis < offset || mask_shape[axis - offset] == 1 {
        return Ok(params.to_vec());
    }
    let whole = Tensor::new(mask_shape, rest[rank..].to_vec())?.broadcast_to(dims)?;
    let mut start = vec![0; dims.len()];
    start[axis] = lo;
    let mut len = dims.to_vec();
    len[axis] = hi - lo;
    let part = whole.slice(&start, &len)?;
    let mut params = vec![dims.len() as i64];
    params.extend(part.shape().iter().map(|&d| d as i64));
    params.extend(part.into_data());
    Ok(params)
}
