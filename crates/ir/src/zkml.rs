//! zkml's msgpack wire format (`src/utils/loader.rs` in zkml), read and written unchanged.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{IrError, Tensor, MAX_VALUE, MIN_VALUE};

/// One tensor as zkml stores it: `{idx, shape, data}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct WireTensor {
    pub idx: i64,
    pub shape: Vec<i64>,
    pub data: Vec<i64>,
}

/// One layer as zkml stores it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct WireLayer {
    pub layer_type: String,
    pub params: Vec<i64>,
    pub inp_idxes: Vec<i64>,
    pub inp_shapes: Vec<Vec<i64>>,
    pub out_idxes: Vec<i64>,
    pub out_shapes: Vec<Vec<i64>>,
    #[serde(default)]
    pub mask: Vec<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implementation: Option<i64>,
}

/// A whole model or config file as zkml stores it. Unknown keys (such as old files' `commit`) are ignored, and so
/// are the commitment and selector options, which change zkml's circuit but not what the model computes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct WireModel {
    pub global_sf: i64,
    pub k: i64,
    pub num_cols: i64,
    pub inp_idxes: Vec<i64>,
    pub out_idxes: Vec<i64>,
    pub tensors: Vec<WireTensor>,
    pub layers: Vec<WireLayer>,
}

impl WireModel {
    /// One past the largest tensor index the file uses (constants, inputs, every layer's operands and outputs):
    /// the first index free for a new tensor.
    pub(crate) fn fresh_idx(&self) -> i64 {
        self.tensors
            .iter()
            .map(|t| t.idx)
            .chain(self.inp_idxes.iter().copied())
            .chain(
                self.layers
                    .iter()
                    .flat_map(|l| l.inp_idxes.iter().chain(&l.out_idxes).copied()),
            )
            .max()
            .unwrap_or(0)
            + 1
    }
}

/// Reads a file, naming it in the error.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, IrError> {
    std::fs::read(path).map_err(|error| IrError::Io {
        path: path.to_path_buf(),
        error,
    })
}

/// Decodes msgpack bytes into `T`, with an error that names the file.
pub(crate) fn decode<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
    file: &str,
    expected: &'static str,
) -> Result<T, IrError> {
    if bytes.is_empty() {
        return Err(IrError::Decode {
            file: file.into(),
            expected,
            detail: "the file is empty".into(),
        });
    }
    rmp_serde::from_slice(bytes).map_err(|e| IrError::Decode {
        file: file.into(),
        expected,
        detail: what_it_is(bytes, expected).unwrap_or_else(|| e.to_string()),
    })
}

/// What a file that did not decode as a zkml `expected` file is, when that can be told from its first bytes.
fn what_it_is(bytes: &[u8], expected: &str) -> Option<String> {
    if bytes.starts_with(b"DZK\0") {
        return Some("this is one of dzk's own files (`dzk inspect` says which)".into());
    }
    let map = matches!(bytes.first()?, 0x80..=0x8f | 0xde | 0xdf);
    let list = matches!(bytes.first()?, 0x90..=0x9f | 0xdc | 0xdd);
    match expected {
        "input" if map => Some(
            "this looks like a zkml model file (a map of layers and tensors); an input file is a list of \
             tensors"
                .into(),
        ),
        "model" if list => Some(
            "this looks like a zkml input file (a list of tensors); a model file is a map of layers and tensors"
                .into(),
        ),
        _ => None,
    }
}

/// Converts a zkml shape (i64 dimensions) into a checked `usize` shape.
pub(crate) fn shape_of(shape: &[i64]) -> Result<Vec<usize>, String> {
    shape
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| format!("negative dimension {d} in shape {shape:?}"))
        })
        .collect()
}

/// Checks that every value lies in the range zkml can turn into a field element.
pub(crate) fn check_values(data: &[i64]) -> Result<(), String> {
    match data
        .iter()
        .find(|&&v| !(MIN_VALUE..=MAX_VALUE).contains(&v))
    {
        Some(v) => Err(format!(
            "value {v} is outside zkml's range [-2^31, 2^63 - 2^31]"
        )),
        None => Ok(()),
    }
}

/// A zkml tensor file (`inp.msgpack`, or the output `dzk forward -o` writes): a list of indexed tensors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorFile {
    tensors: Vec<(i64, Tensor)>,
}

impl TensorFile {
    /// Tensors under zkml indices; fails if an index repeats.
    pub fn new(tensors: Vec<(i64, Tensor)>) -> Result<Self, String> {
        let mut seen = std::collections::BTreeSet::new();
        if let Some((idx, _)) = tensors.iter().find(|(i, _)| !seen.insert(*i)) {
            return Err(format!("tensor index {idx} appears twice"));
        }
        Ok(Self { tensors })
    }

    /// Reads and validates a tensor file.
    pub fn load(path: &Path) -> Result<Self, IrError> {
        let bytes = read_file(path)?;
        Self::from_msgpack(&bytes, &path.display().to_string())
    }

    /// Decodes and validates tensor-file bytes; `file` names them in errors.
    pub fn from_msgpack(bytes: &[u8], file: &str) -> Result<Self, IrError> {
        let wire: Vec<WireTensor> = decode(bytes, file, "input")?;
        let mut tensors = Vec::with_capacity(wire.len());
        for t in wire {
            let bad = |reason: String| IrError::Tensor {
                file: file.into(),
                idx: t.idx,
                reason,
            };
            let shape = shape_of(&t.shape).map_err(bad)?;
            check_values(&t.data).map_err(bad)?;
            tensors.push((t.idx, Tensor::new(shape, t.data.clone()).map_err(bad)?));
        }
        Self::new(tensors).map_err(|reason| IrError::Model {
            file: file.into(),
            reason,
        })
    }

    /// The tensors, in file order.
    pub fn tensors(&self) -> &[(i64, Tensor)] {
        &self.tensors
    }

    /// The tensor stored under `idx`.
    pub fn get(&self, idx: i64) -> Option<&Tensor> {
        self.tensors.iter().find(|(i, _)| *i == idx).map(|(_, t)| t)
    }

    /// The msgpack bytes zkml reads (maps with named fields, as Python's `msgpack.packb` writes).
    pub fn to_msgpack(&self) -> Vec<u8> {
        let wire: Vec<WireTensor> = self
            .tensors
            .iter()
            .map(|(idx, t)| WireTensor {
                idx: *idx,
                shape: t.shape().iter().map(|&d| d as i64).collect(),
                data: t.data().to_vec(),
            })
            .collect();
        // Serializing plain integers and vectors into memory cannot fail.
        rmp_serde::to_vec_named(&wire).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_file_round_trips() {
        let f = TensorFile::new(vec![
            (3, Tensor::new(vec![2], vec![-1, 5]).expect("tensor")),
            (9, Tensor::new(vec![], vec![7]).expect("tensor")),
        ])
        .expect("file");
        let back = TensorFile::from_msgpack(&f.to_msgpack(), "mem").expect("decode");
        assert_eq!(back, f);
    }

    #[test]
    fn tensor_file_rejects_bad_input() {
        assert!(matches!(
            TensorFile::from_msgpack(&[], "e"),
            Err(IrError::Decode { .. })
        ));
        let wire = vec![WireTensor {
            idx: 0,
            shape: vec![3],
            data: vec![1, 2],
        }];
        let bytes = rmp_serde::to_vec_named(&wire).expect("encode");
        let err = TensorFile::from_msgpack(&bytes, "x.msgpack").expect_err("length mismatch");
        assert!(err.to_string().contains("x.msgpack: tensor 0"), "{err}");
        let wire = vec![WireTensor {
            idx: 0,
            shape: vec![1],
            data: vec![MIN_VALUE - 1],
        }];
        let bytes = rmp_serde::to_vec_named(&wire).expect("encode");
        assert!(TensorFile::from_msgpack(&bytes, "x").is_err());
    }
}
