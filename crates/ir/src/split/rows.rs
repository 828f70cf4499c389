//! Splitting a softmax by rows: each part slices its share of the input's rows (along the first axis before the
//! last that holds more than one), takes the softmax of those rows, and a concatenation along that axis joins
//! the parts.
//!
//! A softmax normalises each row (the last axis) on its own, with the mask's entries for that row, so a part
//! computes exactly the original's values for its rows and the concatenation puts them back in order. The parts
//! use the slicing, softmax and concatenation chips the original model's layers use: no new chip and no new
//! soundness argument.

use super::Fresh;
use crate::zkml::WireLayer;
use crate::{Model, Op, Tensor};

impl Model {
    /// The axis layer `index` is split along by rows, and its extent: a softmax (one input, its output the
    /// input's shape) over a tensor with an axis before the last of more than one row; the first such axis.
    /// `None` for every other layer.
    pub(crate) fn row_axis(&self, index: usize) -> Option<(usize, usize)> {
        let l = self.layers.get(index)?;
        if !matches!(l.op, Op::Softmax { .. })
            || l.inputs.len() != 1
            || l.outputs.len() != 1
            || l.input_shapes.first() != l.output_shapes.first()
        {
            return None;
        }
        let shape = l.input_shapes.first()?;
        let rows = shape.len().checked_sub(1)?;
        (0..rows)
            .find(|&ax| shape[ax] > 1)
            .map(|ax| (ax, shape[ax]))
    }

    /// Whether layer `index` is split by rows ([`Self::split_limit`] counts its rows), not by output channels.
    pub fn splits_by_rows(&self, index: usize) -> bool {
        self.row_axis(index).is_some()
    }

    /// What one part of layer `index`'s split holds at least: a "row" of a softmax split by rows, else an
    /// "output channel".
    pub fn split_unit(&self, index: usize) -> &'static str {
        if self.splits_by_rows(index) {
            "row"
        } else {
            "output channel"
        }
    }
}

/// The layers of softmax `l` split into `parts` along `axis` (of `rows` rows): per part a `Slice` of its rows
/// and a `Softmax` of them (2 layers), then the `Concatenation` along `axis` that writes `l`'s output.
pub(super) fn split_softmax(
    l: &WireLayer,
    (axis, rows): (usize, usize),
    parts: usize,
    fresh: &mut Fresh,
) -> Result<Vec<WireLayer>, String> {
    let shape = l
        .inp_shapes
        .first()
        .ok_or("the softmax has no input shape")?
        .clone();
    let dims: Vec<usize> = shape
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("bad input shape {shape:?}")))
        .collect::<Result<_, _>>()?;
    let mut layers = Vec::with_capacity(2 * parts + 1);
    let mut outs = Vec::with_capacity(parts);
    let mut out_shapes = Vec::with_capacity(parts);
    for p in 0..parts {
        let (lo, hi) = (p * rows / parts, (p + 1) * rows / parts);
        let mut part_shape = shape.clone();
        part_shape[axis] = (hi - lo) as i64;
        let mut begin = vec![0i64; shape.len()];
        begin[axis] = lo as i64;
        let mut size = vec![-1i64; shape.len()];
        size[axis] = (hi - lo) as i64;
        let sliced = fresh.next();
        layers.push(WireLayer {
            layer_type: "Slice".into(),
            params: begin.into_iter().chain(size).collect(),
            inp_idxes: vec![l.inp_idxes[0]],
            inp_shapes: vec![shape.clone()],
            out_idxes: vec![sliced],
            out_shapes: vec![part_shape.clone()],
            mask: Vec::new(),
            implementation: None,
        });
        let y = fresh.next();
        layers.push(WireLayer {
            layer_type: l.layer_type.clone(),
            params: part_mask(&l.params, &dims, axis, (lo, hi))?,
            inp_idxes: vec![sliced],
            inp_shapes: vec![part_shape.clone()],
            out_idxes: vec![y],
            out_shapes: vec![part_shape.clone()],
            mask: l.mask.clone(),
            implementation: l.implementation,
        });
        outs.push(y);
        out_shapes.push(part_shape);
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
    Ok(layers)
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
