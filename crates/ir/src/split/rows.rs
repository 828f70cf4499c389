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
//! A part may carry the layers right after the split one that are split by rows along the same axis and read
//! the part's rows where they are sliced ([`Model::row_tail`]): an attention's `Q·Kᵀ` split by heads carries its
//! scale, softmax and product with `V` (`V` sliced by heads too), so the chunk after the parts reads the heads'
//! `[h, n, d]` results instead of their `[h, n, n]` scores.
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

    /// How many layers right after layer `index` (split by rows along an axis) the parts of its split can carry:
    /// the longest run of layers after it, each of which is split by rows along the same axis and extent
    /// (`row_axis`), has an output of the same rank, and reads at least one tensor of the run (the split
    /// layer's output or a later run layer's) where it is sliced along that axis: a softmax's input, a batched
    /// product's first operand (or its second, split along the batch), an element-wise layer's operand of the
    /// output's rank and rows (a table's input). Its other operands are sliced or read whole as for the split
    /// layer itself. Of that run, the longest prefix with one way out (its tensors but the last read by no layer
    /// after it). So each part computes the run's rows from its own rows alone: an attention's `Q·Kᵀ`, its scale,
    /// softmax and product with `V`, head by head or row by row.
    pub fn row_tail(&self, index: usize) -> usize {
        let Some((axis, rows)) = self.row_axis(index) else {
            return 0;
        };
        let Some(head) = self.layers.get(index) else {
            return 0;
        };
        let rank = head.output_shapes.first().map_or(0, Vec::len);
        let mut inside: Vec<i64> = vec![head.outputs[0]];
        for j in index + 1..self.layers.len() {
            if !self.acts_per_row(j, &inside, (axis, rows), rank) {
                break;
            }
            inside.push(self.layers[j].outputs[0]);
        }
        let at: Vec<usize> = (index + 1..index + inside.len()).collect();
        self.one_way_out(index, &inside, &at)
    }

    /// Whether layer `j` acts row by row along `axis` (of `rows`) on the tensors of `inside`, each of output rank
    /// `rank` (see [`Self::row_tail`]).
    pub(super) fn acts_per_row(
        &self,
        j: usize,
        inside: &[i64],
        (axis, rows): (usize, usize),
        rank: usize,
    ) -> bool {
        let l = &self.layers[j];
        if self.row_axis(j) != Some((axis, rows))
            || l.output_shapes.first().map(Vec::len) != Some(rank)
            || l.inputs.len() != l.input_shapes.len()
        {
            return false;
        }
        let mut reads = false;
        for (i, t) in l.inputs.iter().enumerate() {
            if !inside.contains(t) {
                continue;
            }
            reads = true;
            let shape = &l.input_shapes[i];
            let position = match &l.op {
                Op::Softmax { .. } => i == 0,
                Op::BatchMatMul { .. } => i == 0 || axis == 0,
                Op::Lookup { .. } => i == 0,
                _ => true,
            };
            if !position || shape.len() != rank || shape.get(axis) != Some(&rows) {
                return false;
            }
        }
        reads
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

/// The layers of layer `index` of `model` (whose constants are `values`) and the `chain[1..]` layers after it that
/// its parts carry ([`Model::row_tail`]; `chain` are their wire forms), split into `parts` along `axis` (of `rows`
/// rows; [`Model::row_axis`]): per part, for each layer of the chain a `Slice` of each of its operands that varies
/// along that axis (a constant operand's share is a new constant, pushed to `tensors`; a tensor of the chain is
/// the part's own), and the layer over them; then the `Concatenation` along `axis` that writes the chain's last
/// tensor. Returns the layers and how many each part takes.
pub(super) fn split_rows(
    (model, index, chain): (&Model, usize, &[WireLayer]),
    (axis, rows): (usize, usize),
    parts: usize,
    values: &BTreeMap<i64, WireTensor>,
    (tensors, fresh): (&mut Vec<WireTensor>, &mut Fresh),
) -> Result<(Vec<WireLayer>, usize), String> {
    let last = chain.last().ok_or("nothing to split")?;
    let mut layers = Vec::new();
    let mut outs = Vec::with_capacity(parts);
    let mut out_shapes = Vec::with_capacity(parts);
    for p in 0..parts {
        let (lo, hi) = (p * rows / parts, (p + 1) * rows / parts);
        // The part's own tensor for each tensor of the chain so far.
        let mut own: BTreeMap<i64, (i64, Vec<i64>)> = BTreeMap::new();
        let mut y = (0, Vec::new());
        for (j, l) in chain.iter().enumerate() {
            let layer = model.layers.get(index + j).ok_or("no such layer")?;
            y = part_layer(
                (layer, l),
                (axis, lo, hi),
                values,
                &own,
                (tensors, fresh),
                &mut layers,
            )?;
            own.insert(l.out_idxes[0], y.clone());
        }
        outs.push(y.0);
        out_shapes.push(y.1);
    }
    let per_part = layers.len() / parts.max(1);
    layers.push(WireLayer {
        layer_type: "Concatenation".into(),
        params: vec![axis as i64],
        inp_idxes: outs,
        inp_shapes: out_shapes,
        out_idxes: last.out_idxes.clone(),
        out_shapes: last.out_shapes.clone(),
        mask: Vec::new(),
        implementation: None,
    });
    Ok((layers, per_part))
}

/// One part's share of `layer` (wire form `l`): rows `lo..hi` along `axis` of its output, from the slices of its
/// operands that vary along that axis (pushed to `layers` before it) or the part's `own` tensors. Returns the
/// tensor it writes and its shape.
fn part_layer(
    (layer, l): (&crate::Layer, &WireLayer),
    (axis, lo, hi): (usize, usize, usize),
    values: &BTreeMap<i64, WireTensor>,
    own: &BTreeMap<i64, (i64, Vec<i64>)>,
    (tensors, fresh): (&mut Vec<WireTensor>, &mut Fresh),
    layers: &mut Vec<WireLayer>,
) -> Result<(i64, Vec<i64>), String> {
    let out_dims = layer
        .output_shapes
        .first()
        .ok_or("the layer has no output")?;
    // The axis of operand `i` that is sliced (none: read whole).
    let sliced_axis = |i: usize| -> Option<usize> {
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
    };
    let mut inp_idxes = Vec::with_capacity(l.inp_idxes.len());
    let mut inp_shapes = Vec::with_capacity(l.inp_idxes.len());
    for (i, &idx) in l.inp_idxes.iter().enumerate() {
        if let Some((t, shape)) = own.get(&idx) {
            // A tensor of the chain: the part's own rows of it.
            inp_idxes.push(*t);
            inp_shapes.push(shape.clone());
            continue;
        }
        let Some(at) = sliced_axis(i) else {
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
    Ok((y, part_out))
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
