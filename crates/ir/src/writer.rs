//! Building a zkml model file layer by layer (what an importer from another format writes).

use std::collections::BTreeMap;

use crate::zkml::{WireLayer, WireModel, WireTensor};
use crate::{IrError, Model, Tensor};

/// Writes a zkml model: inputs, constants and layers are added in order, tensor indices are handed out, and
/// [`ModelWriter::finish`] checks the result by loading it as any model file is loaded.
#[derive(Clone, Debug)]
pub struct ModelWriter {
    scale: i64,
    k: u32,
    num_cols: i64,
    inputs: Vec<i64>,
    outputs: Vec<i64>,
    tensors: Vec<WireTensor>,
    layers: Vec<WireLayer>,
    shapes: BTreeMap<i64, Vec<usize>>,
    next: i64,
}

fn wide(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&d| d as i64).collect()
}

impl ModelWriter {
    /// An empty model at fixed-point scale `scale` whose lookups and range checks span `2^k` values.
    pub fn new(scale: i64, k: u32) -> Self {
        Self {
            scale,
            k,
            num_cols: 10,
            inputs: Vec::new(),
            outputs: Vec::new(),
            tensors: Vec::new(),
            layers: Vec::new(),
            shapes: BTreeMap::new(),
            next: 0,
        }
    }

    /// The fixed-point scale.
    pub fn scale(&self) -> i64 {
        self.scale
    }

    /// Sets `k`, which bounds every looked-up or range-checked value to `[-2^(k-1), 2^(k-1))`.
    pub fn set_k(&mut self, k: u32) {
        self.k = k;
    }

    fn fresh(&mut self, shape: &[usize]) -> i64 {
        let idx = self.next;
        self.next += 1;
        self.shapes.insert(idx, shape.to_vec());
        idx
    }

    /// A model input of `shape`, supplied by the input file.
    pub fn input(&mut self, shape: &[usize]) -> i64 {
        let idx = self.fresh(shape);
        self.inputs.push(idx);
        idx
    }

    /// A constant tensor (weights, biases) of the model.
    pub fn constant(&mut self, t: &Tensor) -> i64 {
        let idx = self.fresh(t.shape());
        self.tensors.push(WireTensor {
            idx,
            shape: wide(t.shape()),
            data: t.data().to_vec(),
        });
        idx
    }

    /// The shape a tensor was given, `None` for an index this writer did not hand out.
    pub fn shape(&self, idx: i64) -> Option<&[usize]> {
        self.shapes.get(&idx).map(Vec::as_slice)
    }

    /// The constant stored under `idx`, if it is one.
    pub fn constant_value(&self, idx: i64) -> Option<Tensor> {
        let t = self.tensors.iter().find(|t| t.idx == idx)?;
        Tensor::new(self.shapes.get(&idx)?.clone(), t.data.clone()).ok()
    }

    /// Appends a layer of zkml type `layer_type` reading `inputs` and writing fresh tensors of `out_shapes`,
    /// whose indices it returns. Nothing is checked until [`ModelWriter::finish`].
    pub fn layer(
        &mut self,
        layer_type: &str,
        params: Vec<i64>,
        inputs: &[i64],
        out_shapes: &[Vec<usize>],
    ) -> Vec<i64> {
        let inp_shapes = inputs
            .iter()
            .map(|i| wide(self.shapes.get(i).map(Vec::as_slice).unwrap_or(&[])))
            .collect();
        let outs: Vec<i64> = out_shapes.iter().map(|s| self.fresh(s)).collect();
        self.layers.push(WireLayer {
            layer_type: layer_type.into(),
            params,
            inp_idxes: inputs.to_vec(),
            inp_shapes,
            out_idxes: outs.clone(),
            out_shapes: out_shapes.iter().map(|s| wide(s)).collect(),
            mask: Vec::new(),
            implementation: None,
        });
        outs
    }

    /// The number of layers written so far.
    pub fn layer_count(&self) -> usize {
        self.layers.len()
    }

    /// Declares the model outputs.
    pub fn set_outputs(&mut self, outputs: Vec<i64>) {
        self.outputs = outputs;
    }

    /// The model inputs, in order.
    pub fn inputs(&self) -> &[i64] {
        &self.inputs
    }

    /// Encodes the model and loads it back (`file` names it in errors), returning the bytes and the model.
    pub fn finish(&self, file: &str) -> Result<(Vec<u8>, Model), IrError> {
        let wire = WireModel {
            global_sf: self.scale,
            k: i64::from(self.k),
            num_cols: self.num_cols,
            inp_idxes: self.inputs.clone(),
            out_idxes: self.outputs.clone(),
            tensors: self.tensors.clone(),
            layers: self.layers.clone(),
        };
        let bytes = rmp_serde::to_vec_named(&wire).map_err(|e| IrError::Model {
            file: file.into(),
            reason: format!("cannot encode the model: {e}"),
        })?;
        let model = Model::from_msgpack(&bytes, file)?;
        Ok((bytes, model))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TensorFile;

    #[test]
    fn a_written_model_loads_and_runs() {
        let mut w = ModelWriter::new(4, 12);
        let x = w.input(&[1, 2]);
        let wt = w.constant(&Tensor::new(vec![1, 2], vec![4, 8]).expect("tensor"));
        let b = w.constant(&Tensor::new(vec![1], vec![1]).expect("tensor"));
        let y = w.layer("FullyConnected", vec![0], &[x, wt, b], &[vec![1, 1]]);
        w.set_outputs(y.clone());
        let (_, model) = w.finish("mem").expect("model");
        let inp = TensorFile::new(vec![(x, Tensor::new(vec![1, 2], vec![4, 2]).expect("t"))])
            .expect("file");
        let out = model.forward(&inp).expect("forward");
        // round((4·4 + 2·8) / 4) + 1 = 9
        assert_eq!(out.tensor(y[0]).expect("y").data(), &[9]);
    }

    #[test]
    fn a_bad_layer_is_refused_when_finished() {
        let mut w = ModelWriter::new(4, 12);
        let x = w.input(&[1, 2]);
        let y = w.layer("NoSuchLayer", vec![], &[x], &[vec![1, 2]]);
        w.set_outputs(y);
        assert!(w.finish("mem").is_err());
    }
}
