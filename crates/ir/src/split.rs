//! Splitting a layer across chunks: a matrix product whose weights are constants becomes several layers of the
//! same kind, each over a share of the output channels, and a concatenation that joins their outputs.
//!
//! Each output channel of a convolution or a fully connected layer is computed from the input and that channel's
//! weights and bias alone (its rescale and activation are per element), so the parts compute exactly the
//! original's values, channel by channel, and the concatenation puts them back in order: the forward pass of the
//! split model equals the original's on every input. A circuit proves each part with the chips the original
//! used, so no new chip and no new soundness argument is needed; what changes is only which chunk holds which
//! channels.
//!
//! A part may carry the layers after the split one that act channel by channel on its output (its *tail*:
//! pooling, element-wise tables, reshapes that keep the last axis, products and sums of two tensors of the tail or
//! of one and a per-channel or single constant; the tail may branch and meet again, as GELU does): each part then
//! applies them to its own channels, with the constants' share of those channels, and the concatenation joins the
//! last of them. Each of those layers computes every output channel from that channel alone, so this too is exact,
//! and the next chunk reads the (often smaller) pooled output instead of the layer's.
//!
//! A softmax, a batched product of two activations and an element-wise layer are split by rows instead
//! ([`rows`]): each part slices its rows of the operands and a concatenation along that axis joins them. Such a
//! part may carry the layers after it that act row by row along the same axis (an attention's scale, softmax and
//! product with `V` after `Q·Kᵀ`), slicing their other operands too.

use std::collections::BTreeMap;

mod hoist;
mod rows;

use crate::zkml::{decode, WireLayer, WireModel, WireTensor};
use crate::{ConvKind, IrError, Model, Op};

/// Where [`Model::split_layers_file`] put a split layer's parts (indices in the split model).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Section {
    /// The first part's first layer index.
    pub start: usize,
    /// How many parts; the concatenation is layer [`Self::join`].
    pub parts: usize,
    /// Layers per part: the split layer's share and its tail's (1 without a tail), and the leading copy of the
    /// previous section's concatenation when [`Self::lead`], or when [`Self::sliced`] before each of those
    /// layers the slices of its operands that vary along the split axis (not a constant, not the part's own).
    pub len: usize,
    /// The layers after the split one that each part carries ([`Model::split_tail`]).
    pub tail: usize,
    /// Each part starts with its own copy of the previous section's concatenation: the split layer read only
    /// that concatenation, so its parts read the previous section's parts directly
    /// ([`Model::split_layers_chained`]).
    pub lead: bool,
    /// The parts are joined by a concatenation at [`Self::join`]; `false` when the next section's parts read
    /// them directly (that section has [`Self::lead`]).
    pub joined: bool,
    /// The layer is split by rows ([`Model::splits_by_rows`]): each part starts with a `Slice` of its rows of
    /// each operand that varies along the split axis, and the concatenation joins the parts along that axis.
    pub sliced: bool,
}

impl Section {
    /// One past the last part's last layer: the concatenation's layer index when [`Self::joined`], else the
    /// next section's first layer.
    pub fn join(&self) -> usize {
        self.start + self.parts * self.len
    }

    /// How many layers of the model given the section stands for: the split layer and its tail.
    pub fn original_layers(&self) -> usize {
        1 + self.tail
    }

    /// Part `p`'s layers `(start, end)`.
    pub fn part(&self, p: usize) -> (usize, usize) {
        let a = self.start + p * self.len;
        (a, a + self.len)
    }
}

/// One layer to split: its index, the parts, and how many of the layers after it each part carries (at most
/// [`Model::channel_tail`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitAt {
    /// The layer.
    pub layer: usize,
    /// The parts.
    pub parts: usize,
    /// The layers after it that each part carries, channel by channel.
    pub tail: usize,
}

/// What [`Model::split_layers_file`] made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// The model file with the split layers replaced by their parts and a concatenation each.
    pub bytes: Vec<u8>,
    /// Each split layer's parts, in layer order.
    pub sections: Vec<Section>,
}

impl Model {
    /// The most parts layer `index` can be split into (its output channels, or for a split by rows its rows), or
    /// why it cannot be split: convolutions (not depthwise) and fully connected layers whose weights (and bias)
    /// are constants split by output channels; softmaxes, batched products and element-wise layers by rows
    /// ([`Self::splits_by_rows`]).
    pub fn split_limit(&self, index: usize) -> Result<usize, String> {
        let l = self
            .layers
            .get(index)
            .ok_or_else(|| format!("there is no layer {index}"))?;
        let channels = match &l.op {
            Op::Conv2D {
                kind: ConvKind::Conv,
                ..
            }
            | Op::FullyConnected { .. } => {
                let w = l.inputs.get(1).and_then(|w| self.tensors.get(w));
                match w.and_then(|t| t.data.as_ref()) {
                    Some(t) => t.shape().first().copied().unwrap_or(0),
                    None => return Err("its weights are not constants of the model".into()),
                }
            }
            _ => {
                if let Some((_, rows)) = self.row_axis(index) {
                    return Ok(rows);
                }
                return Err(match l.op {
                    Op::Softmax { .. } => {
                        "its input has no axis before the last with more than one row".into()
                    }
                    Op::BatchMatMul { .. } => {
                        "its first operand has neither more than one batch nor more than one row"
                            .into()
                    }
                    _ if rows::splits_by_position(&l.op) => {
                        "its operands do not broadcast to its output, or it has one position".into()
                    }
                    _ => format!("{} layers are not split (yet)", l.layer_type),
                });
            }
        };
        if let Some(b) = l.inputs.get(2) {
            match self.tensors.get(b).and_then(|t| t.data.as_ref()) {
                Some(t) if t.len() == channels || t.len() == 1 => {}
                Some(_) => return Err("its bias is neither per channel nor one value".into()),
                None => return Err("its bias is not a constant of the model".into()),
            }
        }
        let out = l.output_shapes.first().and_then(|s| s.last()).copied();
        if out != Some(channels) || l.outputs.len() != 1 {
            return Err("its declared output does not end in its output channels".into());
        }
        Ok(channels)
    }

    /// How many layers after layer `index` act channel by channel on its output, so that each part of a split
    /// can carry them: the longest run of layers right after it, each of which
    /// - reads at least one tensor of the run (the split layer's output or a later run layer's), with the same
    ///   shape as its output, ending in the split layer's channels, and otherwise only constants of one value or
    ///   one per channel along the last axis (for additions, subtractions and products) or constant operands
    ///   it does not compute with (a table's exponent, a reshape's shape);
    /// - is pooling, an element-wise table, a square, a constant division, an addition, subtraction or product
    ///   (of two run tensors, or of one and such a constant), or a reshape that keeps the last axis;
    ///
    /// and whose tensors, all but the last layer's, are read by no layer after the run and are not model outputs
    /// (so the parts can stand in for the whole run, and the concatenation after them writes the last layer's
    /// tensor). The run may branch and meet again (GELU's `x · (1 + tanh(…x…))`): it is a graph inside, with one
    /// way out.
    pub fn channel_tail(&self, index: usize) -> usize {
        let Some(head) = self.layers.get(index) else {
            return 0;
        };
        let Some(&channels) = head.output_shapes.first().and_then(|s| s.last()) else {
            return 0;
        };
        // A layer split by rows: its parts carry nothing after it.
        if head.outputs.len() != 1 || self.splits_by_rows(index) {
            return 0;
        }
        let mut inside: Vec<i64> = vec![head.outputs[0]];
        for l in &self.layers[index + 1..] {
            if !self.acts_per_channel(l, &inside, channels) {
                break;
            }
            inside.push(l.outputs[0]);
        }
        let at: Vec<usize> = (index + 1..index + inside.len()).collect();
        self.one_way_out(index, &inside, &at)
    }

    /// How many layers after layer `index` each part of its split can carry: [`Self::row_tail`] for a layer split
    /// by rows, else [`Self::channel_tail`].
    pub fn split_tail(&self, index: usize) -> usize {
        if self.splits_by_rows(index) {
            self.row_tail(index)
        } else {
            self.channel_tail(index)
        }
    }

    /// Of the run of layers after layer `index` that the parts of its split could carry, writing the tensors
    /// `inside` (layer `index`'s output, then one per run layer, in order; run layer `t` is layer `at[t]`): the
    /// length of the longest prefix with one way out, every tensor but its last layer's read only inside the
    /// prefix and none a model output, so the parts can stand in for the whole prefix and the concatenation after
    /// them writes its last layer's tensor.
    pub(crate) fn one_way_out(&self, index: usize, inside: &[i64], at: &[usize]) -> usize {
        // The last layer reading each tensor of the run (a model output counts as read by no layer ever).
        let mut last_reader: BTreeMap<i64, usize> = inside.iter().map(|&t| (t, index)).collect();
        for (i, l) in self.layers.iter().enumerate().skip(index + 1) {
            for t in &l.inputs {
                if let Some(r) = last_reader.get_mut(t) {
                    *r = i;
                }
            }
        }
        for t in &self.outputs {
            if let Some(r) = last_reader.get_mut(t) {
                *r = usize::MAX;
            }
        }
        (0..=at.len().min(inside.len().saturating_sub(1)))
            .rev()
            .find(|&t| {
                let end = t.checked_sub(1).map_or(index, |i| at[i]);
                inside[..t].iter().all(|x| last_reader[x] <= end)
            })
            .unwrap_or(0)
    }

    /// Whether layer `l` computes each of its output channels from those channels of the tensors in `inside`
    /// alone (see [`Self::channel_tail`]).
    fn acts_per_channel(&self, l: &crate::Layer, inside: &[i64], channels: usize) -> bool {
        let out_ok = l.outputs.len() == 1
            && l.output_shapes.len() == 1
            && l.output_shapes[0].last() == Some(&channels);
        if !out_ok || l.inputs.len() != l.input_shapes.len() {
            return false;
        }
        let constant = |t: i64| self.tensors.get(&t).is_some_and(|c| c.data.is_some());
        let per_channel = |t: i64| {
            self.tensors.get(&t).is_some_and(|c| {
                c.data.is_some() && {
                    let n: usize = c.shape.iter().product();
                    n == 1 || (n == channels && c.shape.last() == Some(&channels))
                }
            })
        };
        let out_shape = &l.output_shapes[0];
        // A run tensor read as an operand: same shape as the output (no broadcasting across positions).
        let run_operand =
            |i: usize| inside.contains(&l.inputs[i]) && &l.input_shapes[i] == out_shape;
        let first_in_run =
            inside.contains(&l.inputs[0]) && l.input_shapes[0].last() == Some(&channels);
        match &l.op {
            Op::AvgPool2D { .. } | Op::MaxPool2D { .. } | Op::Square | Op::DivFixed { .. } => {
                l.inputs.len() == 1 && first_in_run
            }
            Op::Lookup { replace, .. } => {
                replace.is_empty()
                    && run_operand(0)
                    && l.inputs[1..]
                        .iter()
                        .all(|&t| constant(t) && !inside.contains(&t))
            }
            Op::Reshape => first_in_run && l.inputs[1..].iter().all(|t| !inside.contains(t)),
            Op::Add { .. } | Op::Sub | Op::Mul => {
                l.inputs.len() == 2
                    && (0..2).any(run_operand)
                    && (0..2).all(|i| run_operand(i) || per_channel(l.inputs[i]))
            }
            _ => false,
        }
    }

    /// Splits each layer `(index, parts)` of `splits` (indices into this file's layers, each at most once) into
    /// `parts` layers of the same kind over consecutive shares of its output channels (as equal as they can
    /// be), followed by a `Concatenation` along the last axis that writes the layer's output tensor. The parts'
    /// weights, biases and outputs are new tensors; every other layer and tensor keeps its index. Layer indices
    /// after a split layer shift up by its parts. The split file must load, and its forward pass equals the
    /// original's on every input.
    pub fn split_layers_file(
        bytes: &[u8],
        file: &str,
        splits: &[(usize, usize)],
    ) -> Result<Split, IrError> {
        let at: Vec<SplitAt> = splits
            .iter()
            .map(|&(layer, parts)| SplitAt {
                layer,
                parts,
                tail: 0,
            })
            .collect();
        Self::split_layers_with_tails(bytes, file, &at)
    }

    /// [`Self::split_layers_file`], each part also carrying the `tail` layers after its split layer (each at most
    /// [`Self::channel_tail`]), channel by channel: part `p` is then `1 + tail` layers, and the concatenation joins
    /// the last of them into the last tail layer's output tensor. A tail layer's per-channel constant is sliced
    /// with the channels; a single value is shared.
    pub fn split_layers_with_tails(
        bytes: &[u8],
        file: &str,
        splits: &[SplitAt],
    ) -> Result<Split, IrError> {
        Self::split_layers_inner(bytes, file, splits, false)
    }

    /// [`Self::split_layers_with_tails`], and where a split layer comes right after another split's tail and
    /// reads nothing but that split's concatenation (no other layer reads it, and it is not a model output), the
    /// concatenation is not a layer of its own: each part of the later split starts with its own copy of it
    /// (reading the earlier split's parts, writing a new tensor its split layer reads), so a chunk holding a
    /// later part reads the earlier parts directly and no chunk only joins them. The copies compute the same
    /// values, so the forward pass is still the original's.
    pub fn split_layers_chained(
        bytes: &[u8],
        file: &str,
        splits: &[SplitAt],
    ) -> Result<Split, IrError> {
        Self::split_layers_inner(bytes, file, splits, true)
    }

    /// Whether the split of layer `next` can read the parts of the split of layer `index` with `tail` tail layers
    /// directly (see [`Self::split_layers_chained`]).
    fn reads_only_join(&self, index: usize, tail: usize, next: usize) -> bool {
        let (Some(last), Some(l)) = (self.layers.get(index + tail), self.layers.get(next)) else {
            return false;
        };
        let Some(&t) = last.outputs.first() else {
            return false;
        };
        next == index + tail + 1
            && l.inputs.first() == Some(&t)
            && !self.outputs.contains(&t)
            && self.layers.iter().enumerate().all(|(i, r)| {
                !r.inputs.contains(&t) || (i == next && r.inputs[1..].iter().all(|&x| x != t))
            })
    }

    fn split_layers_inner(
        bytes: &[u8],
        file: &str,
        splits: &[SplitAt],
        chained: bool,
    ) -> Result<Split, IrError> {
        let fail = |reason: String| IrError::Model {
            file: file.into(),
            reason,
        };
        let mut wire: WireModel = decode(bytes, file, "model")?;
        let model = Self::from_wire(wire.clone(), file)?;
        let mut by_layer = BTreeMap::new();
        for &SplitAt {
            layer: index,
            parts,
            tail,
        } in splits
        {
            let limit = model.split_limit(index).map_err(|e| {
                fail(format!(
                    "layer {index} ({}) cannot be split: {e}",
                    model
                        .layers
                        .get(index)
                        .map_or("?", |l| l.layer_type.as_str())
                ))
            })?;
            if parts < 2 || parts > limit || by_layer.insert(index, (parts, tail)).is_some() {
                return Err(fail(format!(
                    "layer {index} cannot be split into {parts} parts (2 to {limit}, once)"
                )));
            }
            let can = model.split_tail(index);
            if tail > can {
                let how = match model.splits_by_rows(index) {
                    true => "row by row along its split axis",
                    false => "channel by channel",
                };
                return Err(fail(format!(
                    "layer {index}'s parts cannot carry {tail} layers after it (at most {can} act {how} on its \
                     output)"
                )));
            }
        }
        let ends: Vec<(usize, usize)> = by_layer.iter().map(|(&l, &(_, t))| (l, l + t)).collect();
        if ends.windows(2).any(|w| w[1].0 <= w[0].1) {
            return Err(fail("a split layer lies in the tail of another".into()));
        }
        let next_idx = wire.fresh_idx();
        let mut fresh = Fresh(next_idx);
        let values: BTreeMap<i64, WireTensor> =
            wire.tensors.iter().map(|t| (t.idx, t.clone())).collect();
        let mut layers = Vec::with_capacity(wire.layers.len() + splits.len() * 3);
        let mut sections: Vec<Section> = Vec::new();
        // The concatenation of the previous split, when the next split's parts each start with a copy of it.
        let mut pending: Option<WireLayer> = None;
        let mut skip = 0;
        for (index, l) in wire.layers.iter().enumerate() {
            if skip > 0 {
                // A tail layer, already carried by the parts.
                skip -= 1;
                continue;
            }
            let Some(&(parts, tail)) = by_layer.get(&index) else {
                layers.push(l.clone());
                continue;
            };
            skip = tail;
            if let Some(axis) = model.row_axis(index) {
                // No previous split feeds a row split (see `feeds`), and it feeds none.
                let (parted, len) = rows::split_rows(
                    (&model, index, &wire.layers[index..=index + tail]),
                    axis,
                    parts,
                    &values,
                    (&mut wire.tensors, &mut fresh),
                )
                .map_err(|e| fail(format!("layer {index}: {e}")))?;
                sections.push(Section {
                    start: layers.len(),
                    parts,
                    len,
                    tail,
                    lead: false,
                    joined: true,
                    sliced: true,
                });
                layers.extend(parted);
                continue;
            }
            let lead = pending.take();
            // Whether the next split reads this one's parts directly: then no concatenation here. Only a split
            // by output channels reads another's parts.
            let next = index + tail + 1;
            let feeds = chained
                && by_layer.contains_key(&next)
                && model.row_axis(next).is_none()
                && model.reads_only_join(index, tail, next);
            let w = &values[&l.inp_idxes[1]];
            let channels = w.shape[0] as usize;
            let per_channel = w.data.len() / channels.max(1);
            let bias = l.inp_idxes.get(2).map(|b| &values[b]);
            sections.push(Section {
                start: layers.len(),
                parts,
                len: 1 + tail + usize::from(lead.is_some()),
                tail,
                lead: lead.is_some(),
                joined: !feeds,
                sliced: false,
            });
            let tails = &wire.layers[index + 1..=index + tail];
            let last = tails.last().unwrap_or(l);
            let mut outs = Vec::with_capacity(parts);
            let mut out_shapes = Vec::with_capacity(parts);
            for p in 0..parts {
                let (lo, hi) = (p * channels / parts, (p + 1) * channels / parts);
                let n = (hi - lo) as i64;
                // A constant's share of the channels: a new tensor, or the one value shared.
                let share = |t: &WireTensor, tensors: &mut Vec<WireTensor>, fresh: &mut Fresh| {
                    if t.data.len() == 1 {
                        return (t.idx, t.shape.clone());
                    }
                    let idx = fresh.next();
                    let mut shape = t.shape.clone();
                    if let Some(last) = shape.last_mut() {
                        *last = n;
                    }
                    tensors.push(WireTensor {
                        idx,
                        shape: shape.clone(),
                        data: t.data[lo..hi].to_vec(),
                    });
                    (idx, shape)
                };
                let wi = fresh.next();
                let mut w_shape = w.shape.clone();
                w_shape[0] = n;
                wire.tensors.push(WireTensor {
                    idx: wi,
                    shape: w_shape.clone(),
                    data: w.data[lo * per_channel..hi * per_channel].to_vec(),
                });
                let mut input = l.inp_idxes[0];
                if let Some(join) = &lead {
                    // This part's own copy of the previous split's concatenation.
                    input = fresh.next();
                    layers.push(WireLayer {
                        out_idxes: vec![input],
                        ..join.clone()
                    });
                }
                let mut inp_idxes = vec![input, wi];
                let mut inp_shapes = vec![l.inp_shapes[0].clone(), w_shape];
                if let Some(b) = bias {
                    let (bi, b_shape) = share(b, &mut wire.tensors, &mut fresh);
                    inp_idxes.push(bi);
                    inp_shapes.push(if b.data.len() == 1 {
                        l.inp_shapes[2].clone()
                    } else {
                        b_shape
                    });
                }
                let narrow = |shape: &[i64]| {
                    let mut s = shape.to_vec();
                    if let Some(last) = s.last_mut() {
                        *last = n;
                    }
                    s
                };
                // A layer like `like` over this part's channels: reading `inp`, writing a fresh tensor `y`.
                let part_of = |like: &WireLayer, (inp_idxes, inp_shapes), y: i64| WireLayer {
                    layer_type: like.layer_type.clone(),
                    params: like.params.clone(),
                    inp_idxes,
                    inp_shapes,
                    out_idxes: vec![y],
                    out_shapes: vec![narrow(&like.out_shapes[0])],
                    mask: like.mask.clone(),
                    implementation: like.implementation,
                };
                let mut y = fresh.next();
                let mut y_shape = narrow(&l.out_shapes[0]);
                layers.push(part_of(l, (inp_idxes, inp_shapes), y));
                // The part's own tensor for each tensor of the run so far.
                let mut own: BTreeMap<i64, (i64, Vec<i64>)> = BTreeMap::new();
                own.insert(l.out_idxes[0], (y, y_shape.clone()));
                for (j, t) in tails.iter().enumerate() {
                    // Only additions, subtractions and products compute with a constant operand; a table's or
                    // a reshape's other operands are parameters, read as they are.
                    let computes = matches!(
                        model.layers[index + 1 + j].op,
                        Op::Add { .. } | Op::Sub | Op::Mul
                    );
                    let mut inp_idxes = Vec::with_capacity(t.inp_idxes.len());
                    let mut inp_shapes = Vec::with_capacity(t.inp_idxes.len());
                    for (i, idx) in t.inp_idxes.iter().enumerate() {
                        if let Some((pi, ps)) = own.get(idx) {
                            inp_idxes.push(*pi);
                            inp_shapes.push(ps.clone());
                        } else if let (true, Some(c)) = (computes, values.get(idx)) {
                            // An operand constant: this part's share of its channels, or its one value.
                            let (ci, c_shape) = share(c, &mut wire.tensors, &mut fresh);
                            inp_idxes.push(ci);
                            inp_shapes.push(if c.data.len() == 1 {
                                t.inp_shapes[i].clone()
                            } else {
                                c_shape
                            });
                        } else {
                            // A constant the layer does not compute with (a table's exponent, a reshape's
                            // shape), or a tensor from before the split: read as it is.
                            inp_idxes.push(*idx);
                            inp_shapes.push(t.inp_shapes[i].clone());
                        }
                    }
                    y = fresh.next();
                    y_shape = narrow(&t.out_shapes[0]);
                    own.insert(t.out_idxes[0], (y, y_shape.clone()));
                    layers.push(part_of(t, (inp_idxes, inp_shapes), y));
                }
                outs.push(y);
                out_shapes.push(y_shape);
            }
            let join = WireLayer {
                layer_type: "Concatenation".into(),
                params: vec![-1],
                inp_idxes: outs,
                inp_shapes: out_shapes,
                out_idxes: last.out_idxes.clone(),
                out_shapes: last.out_shapes.clone(),
                mask: Vec::new(),
                implementation: None,
            };
            if feeds {
                pending = Some(join);
            } else {
                layers.push(join);
            }
        }
        wire.layers = layers;
        let bytes = rmp_serde::to_vec_named(&wire)
            .map_err(|e| fail(format!("cannot encode the split model: {e}")))?;
        Self::from_msgpack(&bytes, file)?;
        Ok(Split { bytes, sections })
    }
}

/// Fresh tensor indices, past every index the file uses.
struct Fresh(i64);

impl Fresh {
    fn next(&mut self) -> i64 {
        self.0 += 1;
        self.0 - 1
    }
}
