//! The validated model graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::op::Op;
use crate::tensor::numel;
use crate::zkml::{check_values, decode, read_file, shape_of, WireModel, WireTensor};
use crate::{IrError, Tensor};

/// A constant tensor of the model: weights, biases, shape tensors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values, or `None` in a weight-less config file.
    pub data: Option<Tensor>,
}

/// One layer: a typed op and its wiring, as declared by the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    /// zkml's layer type string, kept for messages.
    pub layer_type: String,
    /// The parsed operation.
    pub op: Op,
    /// Indices of the tensors read, in order.
    pub inputs: Vec<i64>,
    /// Declared shapes of the inputs.
    pub input_shapes: Vec<Vec<usize>>,
    /// Indices of the tensors written.
    pub outputs: Vec<i64>,
    /// Declared shapes of the outputs.
    pub output_shapes: Vec<Vec<usize>>,
}

/// A zkml model, loaded and validated.
///
/// Layers run in file order. Every tensor a layer reads is a constant, a tensor written by an earlier layer,
/// or a free tensor that the input file must supply ([`Model::free_tensors`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    pub(crate) source: String,
    pub(crate) scale: i64,
    pub(crate) k: u32,
    pub(crate) num_cols: i64,
    pub(crate) declared_inputs: Vec<i64>,
    pub(crate) outputs: Vec<i64>,
    pub(crate) tensors: BTreeMap<i64, TensorInfo>,
    pub(crate) layers: Vec<Layer>,
}

impl Model {
    /// Reads and validates a model or config file.
    pub fn load(path: &Path) -> Result<Self, IrError> {
        let bytes = read_file(path)?;
        Self::from_msgpack(&bytes, &path.display().to_string())
    }

    /// Decodes and validates model bytes; `file` names them in errors.
    pub fn from_msgpack(bytes: &[u8], file: &str) -> Result<Self, IrError> {
        let wire: WireModel = decode(bytes, file, "model")?;
        Self::from_wire(wire, file)
    }

    pub(crate) fn from_wire(wire: WireModel, file: &str) -> Result<Self, IrError> {
        let model_err = |reason: String| IrError::Model {
            file: file.into(),
            reason,
        };
        if !(1..=(1 << 31)).contains(&wire.global_sf) {
            return Err(model_err(format!(
                "global_sf must be in 1..=2^31, got {}",
                wire.global_sf
            )));
        }
        if !(2..=40).contains(&wire.k) {
            return Err(model_err(format!("k must be in 2..=40, got {}", wire.k)));
        }
        if wire.layers.is_empty() {
            return Err(model_err("the model has no layers".into()));
        }

        // A declared input listed among the tensors with no values (Twitter's config) is an input, not a
        // weight-less constant: it is left out of the constants, so an input file supplies it.
        let written_any: BTreeSet<i64> = wire
            .layers
            .iter()
            .flat_map(|l| l.out_idxes.iter().copied())
            .collect();
        let mut tensors = BTreeMap::new();
        for t in &wire.tensors {
            if t.data.is_empty()
                && wire.inp_idxes.contains(&t.idx)
                && !written_any.contains(&t.idx)
                && numel(&shape_of(&t.shape).unwrap_or_default()) != Some(0)
            {
                continue;
            }
            let bad = |reason: String| IrError::Tensor {
                file: file.into(),
                idx: t.idx,
                reason,
            };
            let shape = shape_of(&t.shape).map_err(bad)?;
            if numel(&shape).is_none() {
                return Err(bad(format!("shape {shape:?} is too large")));
            }
            let data = if t.data.is_empty() && numel(&shape) != Some(0) {
                None
            } else {
                check_values(&t.data).map_err(bad)?;
                Some(Tensor::new(shape.clone(), t.data.clone()).map_err(bad)?)
            };
            if tensors.insert(t.idx, TensorInfo { shape, data }).is_some() {
                return Err(bad("the index appears twice in the tensor list".into()));
            }
        }

        let mut layers = Vec::with_capacity(wire.layers.len());
        let mut written: BTreeMap<i64, usize> = BTreeMap::new();
        for (index, l) in wire.layers.iter().enumerate() {
            let bad = |reason: String| IrError::Layer {
                file: file.into(),
                index,
                layer_type: l.layer_type.clone(),
                reason,
            };
            let op =
                Op::parse(&l.layer_type, &l.params, &l.mask, l.inp_idxes.len()).map_err(bad)?;
            // zkml's implementation variants (0..5) differ in circuit layout only, never in the values computed.
            if let Some(i) = l.implementation.filter(|i| !(0..=5).contains(i)) {
                return Err(bad(format!("implementation must be in 0..=5, got {i}")));
            }
            if l.inp_shapes.len() != l.inp_idxes.len() {
                return Err(bad(format!(
                    "{} inputs but {} input shapes",
                    l.inp_idxes.len(),
                    l.inp_shapes.len()
                )));
            }
            if l.out_shapes.len() != l.out_idxes.len() {
                return Err(bad(format!(
                    "{} outputs but {} output shapes",
                    l.out_idxes.len(),
                    l.out_shapes.len()
                )));
            }
            if l.out_idxes.len() != op.num_outputs() {
                return Err(bad(format!(
                    "writes {} tensors, expected {}",
                    l.out_idxes.len(),
                    op.num_outputs()
                )));
            }
            let input_shapes = l
                .inp_shapes
                .iter()
                .map(|s| shape_of(s))
                .collect::<Result<Vec<_>, _>>()
                .map_err(bad)?;
            let output_shapes = l
                .out_shapes
                .iter()
                .map(|s| shape_of(s))
                .collect::<Result<Vec<_>, _>>()
                .map_err(bad)?;
            if let Some(s) = input_shapes
                .iter()
                .chain(&output_shapes)
                .find(|s| numel(s).is_none())
            {
                return Err(bad(format!("shape {s:?} is too large")));
            }
            for &o in &l.out_idxes {
                if tensors.contains_key(&o) {
                    return Err(bad(format!(
                        "writes tensor {o}, which is a constant of the model"
                    )));
                }
                if let Some(prev) = written.insert(o, index) {
                    return Err(bad(format!(
                        "writes tensor {o}, already written by layer {prev}"
                    )));
                }
            }
            layers.push(Layer {
                layer_type: l.layer_type.clone(),
                op,
                inputs: l.inp_idxes.clone(),
                input_shapes,
                outputs: l.out_idxes.clone(),
                output_shapes,
            });
        }
        // A tensor read before the layer that writes it breaks the file-order (topological) execution.
        for (index, l) in layers.iter().enumerate() {
            for &i in &l.inputs {
                if let Some(&w) = written.get(&i) {
                    if w >= index {
                        return Err(IrError::Layer {
                            file: file.into(),
                            index,
                            layer_type: l.layer_type.clone(),
                            reason: format!("reads tensor {i} before layer {w} writes it"),
                        });
                    }
                }
            }
        }
        if wire.out_idxes.is_empty() {
            return Err(model_err(
                "out_idxes is empty: the model has no outputs".into(),
            ));
        }
        for &o in &wire.out_idxes {
            if !written.contains_key(&o) && !tensors.contains_key(&o) {
                return Err(model_err(format!(
                    "output tensor {o} is neither written by a layer nor a constant"
                )));
            }
        }
        Ok(Self {
            source: file.into(),
            scale: wire.global_sf,
            k: wire.k as u32,
            num_cols: wire.num_cols,
            declared_inputs: wire.inp_idxes,
            outputs: wire.out_idxes,
            tensors,
            layers,
        })
    }

    /// The file the model came from (for messages).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The fixed-point scale factor `sf`.
    pub fn scale(&self) -> i64 {
        self.scale
    }

    /// zkml's k: fixes `min_val = -2^(k-1)` and `max_val = 2^(k-1) - 10`, which some layers use as constants.
    pub fn k(&self) -> u32 {
        self.k
    }

    /// zkml's advice column count (informational; dzk's circuit chooses its own layout).
    pub fn num_cols(&self) -> i64 {
        self.num_cols
    }

    /// `-2^(k-1)`: the "negative infinity" of MaskNegInf and Rsqrt masks.
    pub fn min_val(&self) -> i64 {
        -(1i64 << (self.k - 1))
    }

    /// `2^(k-1) - 10`: the "positive infinity" of Rsqrt masks.
    pub fn max_val(&self) -> i64 {
        (1i64 << (self.k - 1)) - 10
    }

    /// The input indices the file declares (zkml stores but never checks them).
    pub fn declared_inputs(&self) -> &[i64] {
        &self.declared_inputs
    }

    /// The model outputs, in order.
    pub fn outputs(&self) -> &[i64] {
        &self.outputs
    }

    /// The layers, in execution order.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The constant tensors by index.
    pub fn tensors(&self) -> &BTreeMap<i64, TensorInfo> {
        &self.tensors
    }

    /// Whether the file carries its weights (a model file, not a config file): every listed constant has values,
    /// and the model reads no more free tensors than it declares inputs (GPT-2's config lists no tensors at all).
    pub fn has_weights(&self) -> bool {
        self.tensors.values().all(|t| t.data.is_some())
            && self.free_tensors().len() <= self.declared_inputs.len()
    }

    /// Whether the file is a config: no constant carries values (zkml's weight-less configs; GPT-2's lists no
    /// constants at all). A model with some weights and one missing is not a config but a broken model.
    pub fn is_config(&self) -> bool {
        self.tensors.values().all(|t| t.data.is_none())
    }

    /// The number of constant values (parameters), counted from shapes.
    pub fn parameter_count(&self) -> usize {
        self.tensors
            .values()
            .map(|t| numel(&t.shape).unwrap_or(0))
            .sum()
    }

    /// A copy of the zkml model file `bytes` holding only the weights of layers `start..end`: every other
    /// constant keeps its index and shape but loses its values (as in a zkml config file). The layer list is
    /// kept whole, so the slice still describes every cut; a machine proving the chunk needs nothing else.
    pub fn slice_file(
        bytes: &[u8],
        file: &str,
        start: usize,
        end: usize,
    ) -> Result<Vec<u8>, IrError> {
        Ok(Self::slice_files(bytes, file, &[(start, end)])?.remove(0))
    }

    /// [`Self::slice_file`] for several slices, decoding `bytes` once.
    pub fn slice_files(
        bytes: &[u8],
        file: &str,
        slices: &[(usize, usize)],
    ) -> Result<Vec<Vec<u8>>, IrError> {
        let wire: WireModel = decode(bytes, file, "model")?;
        slices
            .iter()
            .map(|&(start, end)| {
                let keep: BTreeSet<i64> = wire
                    .layers
                    .get(start..end.min(wire.layers.len()))
                    .unwrap_or_default()
                    .iter()
                    .flat_map(|l| l.inp_idxes.iter().copied())
                    .collect();
                let slice = WireModel {
                    global_sf: wire.global_sf,
                    k: wire.k,
                    num_cols: wire.num_cols,
                    inp_idxes: wire.inp_idxes.clone(),
                    out_idxes: wire.out_idxes.clone(),
                    layers: wire.layers.clone(),
                    tensors: wire
                        .tensors
                        .iter()
                        .map(|t| WireTensor {
                            idx: t.idx,
                            shape: t.shape.clone(),
                            data: if keep.contains(&t.idx) {
                                t.data.clone()
                            } else {
                                Vec::new()
                            },
                        })
                        .collect(),
                };
                rmp_serde::to_vec_named(&slice).map_err(|e| IrError::Model {
                    file: file.into(),
                    reason: format!("cannot encode the slice: {e}"),
                })
            })
            .collect()
    }

    /// The tensors live at the cut before layer `cut` (`0 ≤ cut ≤ layers`): every non-constant tensor that exists
    /// before the cut (a model input, or written by an earlier layer) and is needed at or after it (read by a
    /// later layer, or a model output). Skip connections are included: a tensor read two chunks later crosses
    /// every cut in between. In index order, except at the last cut, which holds the model outputs in the
    /// model's declared order.
    pub fn live_at(&self, cut: usize) -> Vec<i64> {
        let cut = cut.min(self.layers.len());
        if cut == self.layers.len() {
            return self.outputs.clone();
        }
        let written_before: BTreeSet<i64> = self.layers[..cut]
            .iter()
            .flat_map(|l| l.outputs.iter().copied())
            .collect();
        let written_after: BTreeSet<i64> = self.layers[cut..]
            .iter()
            .flat_map(|l| l.outputs.iter().copied())
            .collect();
        let needed: BTreeSet<i64> = self.layers[cut..]
            .iter()
            .flat_map(|l| l.inputs.iter().copied())
            .chain(self.outputs.iter().copied())
            .collect();
        needed
            .into_iter()
            .filter(|i| {
                // A declared tensor is a constant even when its values are absent (a config file, or a slice
                // that holds only its own chunk's weights).
                !self.tensors.contains_key(i)
                    && (written_before.contains(i) || !written_after.contains(i))
            })
            .collect()
    }

    /// The boundary tensors of the layer slice `start..end`: `(live_at(start), live_at(end))`. The inputs are
    /// what the slice reads from earlier layers or the model inputs, plus tensors it only passes on; the outputs
    /// are what later slices (or the model's outputs) need from this slice and everything before it.
    pub fn slice_boundary(&self, start: usize, end: usize) -> (Vec<i64>, Vec<i64>) {
        (self.live_at(start), self.live_at(end))
    }

    /// The shape of a non-constant tensor: the shape its producer declares, or for a model input the shape its
    /// first reader declares.
    pub fn tensor_shape(&self, idx: i64) -> Option<Vec<usize>> {
        for l in &self.layers {
            if let Some(n) = l.outputs.iter().position(|&o| o == idx) {
                return l.output_shapes.get(n).cloned();
            }
        }
        self.layers.iter().find_map(|l| {
            l.inputs
                .iter()
                .position(|&i| i == idx)
                .and_then(|n| l.input_shapes.get(n).cloned())
        })
    }

    /// Tensors read by some layer that are neither constants nor written by an earlier layer, with the shape
    /// the first reader declares: what an input file must supply.
    pub fn free_tensors(&self) -> BTreeMap<i64, Vec<usize>> {
        let written: BTreeSet<i64> = self
            .layers
            .iter()
            .flat_map(|l| l.outputs.iter().copied())
            .collect();
        let mut free = BTreeMap::new();
        for l in &self.layers {
            for (i, s) in l.inputs.iter().zip(&l.input_shapes) {
                if !written.contains(i) && !self.tensors.contains_key(i) {
                    free.entry(*i).or_insert_with(|| s.clone());
                }
            }
        }
        free
    }
}
