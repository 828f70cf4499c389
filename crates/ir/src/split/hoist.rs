//! Moving layers so that a softmax's parts can carry the product after it. zkml's CLIP (a TFLite export)
//! computes an attention's `V` projection after the softmax, between it and the softmax's product with `V`: the
//! layers right after the softmax then do not read it, and its row tail ([`Model::row_tail`]) is empty. Moved
//! before the softmax, those layers compute `V` first, the softmax's row run becomes contiguous, and its parts
//! carry the product with `V`.
//!
//! Moving a layer that reads nothing written between its new and old place keeps the order one the forward pass
//! can run, and every layer computes the same values from the same operands: the model computes what it did.

use std::collections::{BTreeMap, BTreeSet};

use crate::zkml::{decode, WireModel};
use crate::{IrError, Model, Op};

impl Model {
    /// The layers between softmax `index` and the rest of its row run that read none of the run's tensors (an
    /// attention's `V` projection computed after the softmax), which, moved before it
    /// ([`Self::move_before_file`]), let its parts carry a longer tail: the run is found as [`Self::row_tail`]
    /// finds it, passing over the layers that read none of its tensors. Empty where nothing needs to move, and
    /// for a layer that is not a softmax split by rows.
    pub fn row_tail_hoist(&self, index: usize) -> Vec<usize> {
        let Some(head) = self.layers.get(index) else {
            return Vec::new();
        };
        let Some((axis, rows)) = self.row_axis(index) else {
            return Vec::new();
        };
        if !matches!(head.op, Op::Softmax { .. }) {
            return Vec::new();
        }
        let rank = head.output_shapes.first().map_or(0, Vec::len);
        let mut inside = vec![head.outputs[0]];
        let (mut at, mut aside) = (Vec::new(), Vec::new());
        for j in index + 1..self.layers.len() {
            if !self.layers[j].inputs.iter().any(|t| inside.contains(t)) {
                aside.push(j);
                continue;
            }
            if !self.acts_per_row(j, &inside, (axis, rows), rank) {
                break;
            }
            inside.push(self.layers[j].outputs[0]);
            at.push(j);
        }
        match self.one_way_out(index, &inside, &at).checked_sub(1) {
            Some(last) => aside.into_iter().filter(|&j| j < at[last]).collect(),
            None => Vec::new(),
        }
    }

    /// The model in `bytes` with the layers of each `(index, layers)` of `moves` (each after layer `index`)
    /// moved, in their order, to right before layer `index`. Returns the file and its order: each of its layers'
    /// index in the file given. Refused unless every layer still reads only tensors written before it (a moved
    /// layer reads nothing written from `index` on but by the layers moved with it), so the forward pass is the
    /// original's.
    pub fn move_before_file(
        bytes: &[u8],
        file: &str,
        moves: &[(usize, Vec<usize>)],
    ) -> Result<(Vec<u8>, Vec<usize>), IrError> {
        let fail = |reason: String| IrError::Model {
            file: file.into(),
            reason,
        };
        let mut wire: WireModel = decode(bytes, file, "model")?;
        let model = Self::from_wire(wire.clone(), file)?;
        let n = model.layers.len();
        let mut before: BTreeMap<usize, &[usize]> = BTreeMap::new();
        let mut moved = BTreeSet::new();
        for (index, layers) in moves {
            let fits = *index < n && layers.iter().all(|&j| j > *index && j < n);
            if !fits || before.insert(*index, layers).is_some() {
                return Err(fail(format!(
                    "cannot move layers {layers:?} before layer {index} of {n}"
                )));
            }
            for &j in layers {
                if !moved.insert(j) || before.contains_key(&j) {
                    return Err(fail(format!(
                        "layer {j} is moved twice, or moved and moved to"
                    )));
                }
            }
        }
        let mut order = Vec::with_capacity(n);
        for i in 0..n {
            if let Some(layers) = before.get(&i) {
                order.extend_from_slice(layers);
            }
            if !moved.contains(&i) {
                order.push(i);
            }
        }
        // Every tensor a layer reads that some layer writes must be written before it.
        let writer: BTreeMap<i64, usize> = model
            .layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| l.outputs.iter().map(move |&t| (t, i)))
            .collect();
        let mut done = BTreeSet::new();
        for &i in &order {
            for t in &model.layers[i].inputs {
                if let Some(w) = writer.get(t).filter(|w| !done.contains(*w)) {
                    return Err(fail(format!(
                        "moved, layer {i} would read tensor {t} before layer {w} writes it"
                    )));
                }
            }
            done.insert(i);
        }
        wire.layers = order.iter().map(|&i| wire.layers[i].clone()).collect();
        let bytes = rmp_serde::to_vec_named(&wire)
            .map_err(|e| fail(format!("cannot encode the reordered model: {e}")))?;
        Self::from_msgpack(&bytes, file)?;
        Ok((bytes, order))
    }
}
