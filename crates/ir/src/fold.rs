//! Constant folding: a layer that reads only constants computes a constant; and a layer whose values reach no
//! output computes nothing the statement needs.
//!
//! zkml's exports hold such layers (GPT-2's first layer adds two constant tensors). They have no place in a
//! circuit, which proves what is computed from the inputs: [`Model::fold_constants_file`] computes them once, with
//! the forward pass's own code, and writes their outputs into the model as constants.
//!
//! zkml's exports also compute reshapes' target shapes from activations (CLIP: a `Noop` that keeps the first
//! values of a `[1, 77, 3072]` activation, then `Noop`s, a `Concatenation` and a `Pack` of them, read as a
//! `Reshape`'s shape operand). A reshape takes its declared output shape and ignores that operand's values, as a
//! `Noop` ignores every input but the one it passes, so those layers reach no output; but a chunk holding one reads
//! the whole activation it starts from. [`Model::fold_constants_file`] leaves them out too: a reshape's shape
//! operand they wrote becomes a constant holding the declared shape, a `Noop`'s ignored operand a constant of zeros.

use std::collections::{BTreeMap, BTreeSet};

use crate::zkml::{check_values, decode, WireModel, WireTensor};
use crate::{IrError, Model};

/// What [`Model::fold_constants_file`] made: the folded model file and the layers it took out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Folded {
    /// The model file with the folded layers' outputs among its constants and the layers left out.
    pub bytes: Vec<u8>,
    /// The layers taken out (folded into constants, or left out because no output depends on their values), by
    /// their index in the file given, in order.
    pub layers: Vec<usize>,
    /// Those of [`Self::layers`] left out because no output depends on their values (see the module docs).
    pub unused: Vec<usize>,
}

impl Model {
    /// Whether some layer reads only constants with values, or no output depends on some layer's values, so that
    /// [`Self::fold_constants_file`] would take it out.
    pub fn has_foldable_layers(&self) -> bool {
        let none_folded = BTreeSet::new();
        self.layers.iter().any(|l| {
            l.inputs
                .iter()
                .all(|i| self.tensors.get(i).is_some_and(|t| t.data.is_some()))
                && !l.outputs.iter().any(|o| self.outputs.contains(o))
        }) || !self.unused_layers(&none_folded).is_empty()
    }

    /// Whether operand `i` of layer `l` is one whose values the layer ignores: a reshape's shape operand (the
    /// declared output shape is what counts), or an operand a `Noop` does not pass.
    fn ignores_operand(l: &crate::Layer, i: usize) -> bool {
        match l.op {
            crate::Op::Reshape => i > 0,
            crate::Op::Noop { pass } => i != pass,
            _ => false,
        }
    }

    /// The layers (not in `folded`) whose outputs are read, but only where the value is ignored
    /// ([`Self::ignores_operand`]) or by such layers: walking back from the model's outputs and from every tensor
    /// no layer reads (a layer nothing reads at all is kept, as zkml wrote it), a layer's operands count unless it
    /// ignores them.
    fn unused_layers(&self, folded: &BTreeSet<usize>) -> Vec<usize> {
        let read: BTreeSet<i64> = self
            .layers
            .iter()
            .flat_map(|l| l.inputs.iter().copied())
            .collect();
        let mut needed: BTreeSet<i64> = self
            .outputs
            .iter()
            .copied()
            .chain(
                self.layers
                    .iter()
                    .flat_map(|l| l.outputs.iter().copied())
                    .filter(|o| !read.contains(o)),
            )
            .collect();
        let mut unused = Vec::new();
        for (index, l) in self.layers.iter().enumerate().rev() {
            if folded.contains(&index) {
                continue;
            }
            if !l.outputs.iter().any(|o| needed.contains(o)) {
                unused.push(index);
                continue;
            }
            for (i, t) in l.inputs.iter().enumerate() {
                if !Self::ignores_operand(l, i) {
                    needed.insert(*t);
                }
            }
        }
        unused.reverse();
        unused
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
        let unused = model.unused_layers(&folded.iter().copied().collect());
        if folded.is_empty() && unused.is_empty() {
            return Ok(Folded {
                bytes: bytes.to_vec(),
                layers: folded,
                unused,
            });
        }
        // The tensors the left-out layers wrote: a kept layer reads them only as operands it ignores, which
        // become constants (a reshape's the declared shape, any other zeros of the declared shape).
        let dropped: BTreeSet<i64> = unused
            .iter()
            .flat_map(|&i| model.layers[i].outputs.iter().copied())
            .collect();
        let mut next_idx = wire.fresh_idx();
        let mut stand_ins = Vec::new();
        // Only outputs that some kept layer reads become constants; a folded layer's output read by nothing
        // else is dropped with it.
        let kept: Vec<_> = wire
            .layers
            .iter()
            .enumerate()
            .filter(|(i, _)| folded.binary_search(i).is_err() && unused.binary_search(i).is_err())
            .map(|(index, l)| {
                let mut l = l.clone();
                for i in 0..l.inp_idxes.len() {
                    if !dropped.contains(&l.inp_idxes[i]) {
                        continue;
                    }
                    let shape = l.inp_shapes.get(i).cloned().unwrap_or_default();
                    let n: i64 = shape.iter().product();
                    let data = match (&model.layers[index].op, l.out_shapes.first()) {
                        (crate::Op::Reshape, Some(out)) if i == 1 && n == out.len() as i64 => {
                            out.clone()
                        }
                        _ => vec![0; n.max(0) as usize],
                    };
                    stand_ins.push(WireTensor {
                        idx: next_idx,
                        shape,
                        data,
                    });
                    l.inp_idxes[i] = next_idx;
                    next_idx += 1;
                }
                l
            })
            .collect();
        wire.tensors.extend(stand_ins);
        let mut folded: Vec<usize> = folded.into_iter().chain(unused.iter().copied()).collect();
        folded.sort_unstable();
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
            unused,
        })
    }
}
