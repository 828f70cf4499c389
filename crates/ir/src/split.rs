//! Splitting a layer across chunks: a matrix product whose weights are constants becomes several layers of the
//! same kind, each over a share of the output channels, and a concatenation that joins their outputs.
//!
//! Each output channel of a convolution or a fully connected layer is computed from the input and that channel's
//! weights and bias alone (its rescale and activation are per element), so the parts compute exactly the
//! original's values, channel by channel, and the concatenation puts them back in order: the forward pass of the
//! split model equals the original's on every input. A circuit proves each part with the chips the original
//! used, so no new chip and no new soundness argument is needed; what changes is only which chunk holds which
//! channels.

use std::collections::BTreeMap;

use crate::zkml::{decode, WireLayer, WireModel, WireTensor};
use crate::{ConvKind, IrError, Model, Op};

/// Where [`Model::split_layers_file`] put a split layer's parts (indices in the split model).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Section {
    /// The first part's layer index.
    pub start: usize,
    /// How many parts (layers `start..start + parts`); the concatenation is layer `start + parts`.
    pub parts: usize,
}

impl Section {
    /// The concatenation's layer index (one past the last part).
    pub fn join(&self) -> usize {
        self.start + self.parts
    }
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
    /// The most parts layer `index` can be split into (its output channels), or why it cannot be split: only
    /// convolutions (not depthwise) and fully connected layers whose weights (and bias) are constants with
    /// values split.
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
            _ => return Err(format!("{} layers are not split (yet)", l.layer_type)),
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
        let fail = |reason: String| IrError::Model {
            file: file.into(),
            reason,
        };
        let mut wire: WireModel = decode(bytes, file, "model")?;
        let model = Self::from_wire(wire.clone(), file)?;
        let mut by_layer = BTreeMap::new();
        for &(index, parts) in splits {
            let limit = model.split_limit(index).map_err(|e| {
                fail(format!(
                    "layer {index} ({}) cannot be split: {e}",
                    model
                        .layers
                        .get(index)
                        .map_or("?", |l| l.layer_type.as_str())
                ))
            })?;
            if parts < 2 || parts > limit || by_layer.insert(index, parts).is_some() {
                return Err(fail(format!(
                    "layer {index} cannot be split into {parts} parts (2 to {limit}, once)"
                )));
            }
        }
        let mut next_idx = wire
            .tensors
            .iter()
            .map(|t| t.idx)
            .chain(wire.inp_idxes.iter().copied())
            .chain(
                wire.layers
                    .iter()
                    .flat_map(|l| l.inp_idxes.iter().chain(&l.out_idxes).copied()),
            )
            .max()
            .unwrap_or(0)
            + 1;
        let mut fresh = || {
            next_idx += 1;
            next_idx - 1
        };
        let values: BTreeMap<i64, WireTensor> =
            wire.tensors.iter().map(|t| (t.idx, t.clone())).collect();
        let mut layers = Vec::with_capacity(wire.layers.len() + splits.len() * 3);
        let mut sections = Vec::new();
        for (index, l) in wire.layers.iter().enumerate() {
            let Some(&parts) = by_layer.get(&index) else {
                layers.push(l.clone());
                continue;
            };
            let w = &values[&l.inp_idxes[1]];
            let channels = w.shape[0] as usize;
            let per_channel = w.data.len() / channels.max(1);
            let bias = l.inp_idxes.get(2).map(|b| &values[b]);
            sections.push(Section {
                start: layers.len(),
                parts,
            });
            let mut outs = Vec::with_capacity(parts);
            let mut out_shapes = Vec::with_capacity(parts);
            for p in 0..parts {
                let (lo, hi) = (p * channels / parts, (p + 1) * channels / parts);
                let n = (hi - lo) as i64;
                let wi = fresh();
                let mut w_shape = w.shape.clone();
                w_shape[0] = n;
                wire.tensors.push(WireTensor {
                    idx: wi,
                    shape: w_shape.clone(),
                    data: w.data[lo * per_channel..hi * per_channel].to_vec(),
                });
                let mut inp_idxes = vec![l.inp_idxes[0], wi];
                let mut inp_shapes = vec![l.inp_shapes[0].clone(), w_shape];
                if let Some(b) = bias {
                    if b.data.len() == 1 {
                        inp_idxes.push(b.idx);
                        inp_shapes.push(l.inp_shapes[2].clone());
                    } else {
                        let bi = fresh();
                        let mut b_shape = b.shape.clone();
                        if let Some(last) = b_shape.last_mut() {
                            *last = n;
                        }
                        wire.tensors.push(WireTensor {
                            idx: bi,
                            shape: b_shape.clone(),
                            data: b.data[lo..hi].to_vec(),
                        });
                        inp_idxes.push(bi);
                        inp_shapes.push(b_shape);
                    }
                }
                let yi = fresh();
                let mut y_shape = l.out_shapes[0].clone();
                if let Some(last) = y_shape.last_mut() {
                    *last = n;
                }
                layers.push(WireLayer {
                    layer_type: l.layer_type.clone(),
                    params: l.params.clone(),
                    inp_idxes,
                    inp_shapes,
                    out_idxes: vec![yi],
                    out_shapes: vec![y_shape.clone()],
                    mask: l.mask.clone(),
                    implementation: l.implementation,
                });
                outs.push(yi);
                out_shapes.push(y_shape);
            }
            layers.push(WireLayer {
                layer_type: "Concatenation".into(),
                params: vec![-1],
                inp_idxes: outs,
                inp_shapes: out_shapes,
                out_idxes: l.out_idxes.clone(),
                out_shapes: l.out_shapes.clone(),
                mask: Vec::new(),
                implementation: None,
            });
        }
        wire.layers = layers;
        let bytes = rmp_serde::to_vec_named(&wire)
            .map_err(|e| fail(format!("cannot encode the split model: {e}")))?;
        Self::from_msgpack(&bytes, file)?;
        Ok(Split { bytes, sections })
    }
}
