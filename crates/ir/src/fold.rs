//! Constant folding: a layer that reads only constants computes a constant.
//!
//! zkml's exports hold such layers (GPT-2's first layer adds two constant tensors). They have no place in a
//! circuit, which proves what is computed from the inputs: [`Model::fold_constants_file`] computes them once, with
//! the forward pass's own code, and writes their outputs into the model as constants.

use std::collections::{BTreeMap, BTreeSet};

use crate::zkml::{check_values, decode, WireModel, WireTensor};
use crate::{IrError, Model};

/// What [`Model::fold_constants_file`] made: the folded model file and the layers it took out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Folded {
    /// The model file with the folded layers' outputs among its constants and the layers left out.
    pub bytes: Vec<u8>,
    /// The folded layers, by their index in the file given, in order.
    pub layers: Vec<usize>,
}

impl Model {
    /// Whether some layer reads only constants with values, so that [`Self::fold_constants_file`] would fold it.
    pub fn has_foldable_layers(&self) -> bool {
        self.layers.iter().any(|l| {
            l.inputs
                .iter()
                .all(|i| self.tensors.get(i).is_some_and(|t| t.data.is_some()))
                && !l.outputs.iter().any(|o| self.outputs.contains(o))
        })
    }

    /// Folds every layer whose operands are all constants (after earlier folds), in file order: its outputs
    /// become constant tensors, computed by the forward pass, and the layer leaves the layer list. A layer is
    /// kept when one of its outputs is a model output or holds a value zkml's files cannot (outside
    /// [`crate::MIN_VALUE`]..=[`crate::MAX_VALUE`]), or when the forward pass cannot run it. The forward pass of the folded model equals the original's on
    /// every input; layer indices after a folded layer shift down. Returns `bytes` unchanged (and no layers) when
    /// nothing folds. A config without weights folds nothing.
    pub fn fold_constants_file(bytes: &[u8], file: &str) -> Result<Folded, IrError> {
        let mut wire: WireModel = decode(bytes, file, "model")?;
        let model = Self::from_wire(wire.clone(), file)?;
        let mut known: BTreeSet<i64> = model
            .tensors
            .iter()
            .filter(|(_, t)| t.data.is_some())
            .map(|(&i, _)| i)
            .collect();
        let mut folded = Vec::new();
        let mut computed: BTreeMap<i64, crate::Tensor> = BTreeMap::new();
        for (index, layer) in model.layers.iter().enumerate() {
            if !layer.inputs.iter().all(|i| known.contains(i))
                || layer.outputs.iter().any(|o| model.outputs.contains(o))
            {
                continue;
            }
            let ins: Vec<&crate::Tensor> = layer
                .inputs
                .iter()
                .map(|i| match computed.get(i) {
                    Some(t) => t,
                    None => model.tensors[i]
                        .data
                        .as_ref()
                        .expect("known constants have values"),
                })
                .collect();
            // A layer the forward pass cannot run (shapes that do not fit) is kept: partition then names it.
            let Ok(values) = model.eval_layer(index, &ins) else {
                continue;
            };
            let outs: Vec<_> = layer.outputs.iter().copied().zip(values).collect();
            if outs.iter().any(|(_, t)| check_values(t.data()).is_err()) {
                continue;
            }
            folded.push(index);
            for (o, t) in outs {
                known.insert(o);
                computed.insert(o, t);
            }
        }
        if folded.is_empty() {
            return Ok(Folded {
                bytes: bytes.to_vec(),
                layers: folded,
            });
        }
        // Only outputs that some kept layer reads become constants; a folded layer's output read by nothing
        // else is dropped with it.
        let kept: Vec<_> = wire
            .layers
            .iter()
            .enumerate()
            .filter(|(i, _)| folded.binary_search(i).is_err())
            .map(|(_, l)| l.clone())
            .collect();
        let read: BTreeSet<i64> = kept
            .iter()
            .flat_map(|l| l.inp_idxes.iter().copied())
            .collect();
        wire.layers = kept;
        wire.tensors
            .extend(
                computed
                    .into_iter()
                    .filter(|(i, _)| read.contains(i))
                    .map(|(idx, t)| WireTensor {
                        idx,
                        shape: t.shape().iter().map(|&s| s as i64).collect(),
                        data: t.data().to_vec(),
                    }),
            );
        let bytes = rmp_serde::to_vec_named(&wire).map_err(|e| IrError::Model {
            file: file.into(),
            reason: format!("cannot encode the folded model: {e}"),
        })?;
        // The folded file must load: a fold that breaks the model is a bug here, said with the file's name.
        Self::from_msgpack(&bytes, file)?;
        Ok(Folded {
            bytes,
            layers: folded,
        })
    }
}
