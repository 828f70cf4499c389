//! The partitioner's cost model equals the real layout's row counter for every slice of the shipped models,
//! and refuses a model with every layer that has no chip path listed at once.

use std::path::PathBuf;
use std::sync::Arc;

use dzk_circuit::{ChunkCircuit, CircuitError, CostModel};
use dzk_ir::Model;

fn load(rel: &str) -> Arc<Model> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    Arc::new(Model::load(&p).expect("model"))
}

fn assert_exact(model: &Arc<Model>, name: &str) {
    let cost = CostModel::new(model).expect("cost model");
    let n = model.layers().len();
    for i in 0..cost.layouts().len() {
        for a in 0..n {
            for b in a + 1..=n {
                let layout = cost.layout_under(i, a, b);
                let c = ChunkCircuit::new(model.clone(), a, b, layout).expect("circuit");
                assert_eq!(
                    cost.rows(i, a, b),
                    c.rows(),
                    "{name} {layout:?} rows of {a}..{b}"
                );
                assert_eq!(
                    cost.table_rows(a, b),
                    c.function_table_rows(),
                    "{name} table rows of {a}..{b}"
                );
                assert_eq!(
                    cost.min_k_under(i, a, b),
                    c.min_k(),
                    "{name} {layout:?} k of {a}..{b}"
                );
            }
        }
    }
}

#[test]
fn cost_model_equals_the_layout_for_every_slice_of_the_cnns() {
    assert_exact(&load("testdata/models/digits_cnn.msgpack"), "digits");
    assert_exact(&load("../shared/models/zkml/mnist/model.msgpack"), "mnist");
}

#[test]
fn cost_model_equals_the_layout_for_every_slice_of_the_transformer() {
    assert_exact(
        &load("testdata/models/tiny_transformer.msgpack"),
        "tiny transformer",
    );
}

#[test]
fn a_model_without_chip_paths_is_refused_with_every_layer_listed() {
    // MNIST with its first two convolutions reading their own weights as data: two layers whose data operand is
    // a constant, which no chip takes.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/models/zkml/mnist/model.msgpack");
    let bytes = std::fs::read(&path).expect("read");
    let mut v: serde_json::Value = rmp_serde::from_slice(&bytes).expect("msgpack");
    let mut bent = Vec::new();
    for (i, l) in v["layers"]
        .as_array_mut()
        .expect("layers")
        .iter_mut()
        .enumerate()
    {
        if l["layer_type"] == "Conv2D" && bent.len() < 2 {
            l["inp_idxes"][0] = l["inp_idxes"][1].clone();
            bent.push(i);
        }
    }
    let m = Arc::new(
        Model::from_msgpack(&rmp_serde::to_vec_named(&v).expect("encode"), "bent").expect("model"),
    );
    match CostModel::new(&m) {
        Err(CircuitError::UnsupportedLayers(list)) => {
            let at: Vec<usize> = list
                .iter()
                .map(|e| match e {
                    CircuitError::Unsupported { index, .. } => *index,
                    other => panic!("{other}"),
                })
                .collect();
            assert_eq!(at, bent);
            let msg = CircuitError::UnsupportedLayers(list).to_string();
            assert!(msg.contains("2 layers cannot be proven yet"), "{msg}");
            assert!(msg.contains("the data operand is a constant"), "{msg}");
        }
        other => panic!("expected every unsupported layer, got {other:?}"),
    }
}
