//! zkml's wire format as the tests write it: a model file built field by field.
#![allow(dead_code)]

use serde::Serialize;

/// A tensor of a model file.
#[derive(Serialize)]
pub struct WT {
    pub idx: i64,
    pub shape: Vec<i64>,
    pub data: Vec<i64>,
}

/// A layer of a model file.
#[derive(Serialize)]
pub struct WL {
    pub layer_type: String,
    pub params: Vec<i64>,
    pub inp_idxes: Vec<i64>,
    pub inp_shapes: Vec<Vec<i64>>,
    pub out_idxes: Vec<i64>,
    pub out_shapes: Vec<Vec<i64>>,
    pub mask: Vec<i64>,
}

/// A model file.
#[derive(Serialize)]
pub struct WM {
    pub global_sf: i64,
    pub k: i64,
    pub num_cols: i64,
    pub inp_idxes: Vec<i64>,
    pub out_idxes: Vec<i64>,
    pub tensors: Vec<WT>,
    pub layers: Vec<WL>,
}
