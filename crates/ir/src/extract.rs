//! A run of a model's layers as a model of its own: one transformer block, one attention, one layer of a large
//! model, to partition, prove or measure alone.

use std::collections::BTreeSet;

use crate::zkml::{decode, WireModel};
use crate::{IrError, Model};

/// What [`Model::extract_file`] made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extracted {
    /// The model file of the layers.
    pub bytes: Vec<u8>,
    /// Its inputs: the tensors the layers read that neither they nor the model's constants provide, in the order
    /// they are first read.
    pub inputs: Vec<i64>,
    /// Its outputs: the tensors the layers write that later layers read or the model outputs, in the order they
    /// are written.
    pub outputs: Vec<i64>,
}

impl Model {
    /// The layers `start..end` of the model file `bytes` (named `file`) as a model file of their own: the same
    /// layers, with the constants they read, reading as inputs what earlier layers (or the model's inputs) wrote
    /// and writing as outputs what later layers read (or the model outputs). Its forward pass on the values its
    /// inputs have in the whole model's gives the values its outputs have there.
    pub fn extract_file(
        bytes: &[u8],
        file: &str,
        start: usize,
        end: usize,
    ) -> Result<Extracted, IrError> {
        let fail = |reason: String| IrError::Model {
            file: file.into(),
            reason,
        };
        let model = Self::from_msgpack(bytes, file)?;
        let n = model.layers.len();
        if start >= end || end > n {
            return Err(fail(format!(
                "layers {start}..{end} are not a run of its {n} layers (give A..B with A < B <= {n})"
            )));
        }
        let layers = &model.layers[start..end];
        let written: BTreeSet<i64> = layers
            .iter()
            .flat_map(|l| l.outputs.iter().copied())
            .collect();
        let mut inputs = Vec::new();
        for l in layers {
            for &i in &l.inputs {
                if !written.contains(&i) && !model.tensors.contains_key(&i) && !inputs.contains(&i)
                {
                    inputs.push(i);
                }
            }
        }
        let read_after: BTreeSet<i64> = model.layers[end..]
            .iter()
            .flat_map(|l| l.inputs.iter().copied())
            .chain(model.outputs.iter().copied())
            .collect();
        let outputs: Vec<i64> = layers
            .iter()
            .flat_map(|l| l.outputs.iter().copied())
            .filter(|o| read_after.contains(o))
            .collect();
        if outputs.is_empty() {
            return Err(fail(format!(
                "layers {start}..{end} write nothing that a later layer reads or the model outputs"
            )));
        }
        let mut wire: WireModel = decode(bytes, file, "model")?;
        let read: BTreeSet<i64> = layers
            .iter()
            .flat_map(|l| l.inputs.iter().copied())
            .collect();
        wire.layers = wire.layers[start..end].to_vec();
        wire.tensors.retain(|t| read.contains(&t.idx));
        wire.inp_idxes = inputs.clone();
        wire.out_idxes = outputs.clone();
        let out = rmp_serde::to_vec_named(&wire)
            .map_err(|e| fail(format!("cannot encode the extracted model: {e}")))?;
        Self::from_msgpack(&out, file)?;
        Ok(Extracted {
            bytes: out,
            inputs,
            outputs,
        })
    }
}
