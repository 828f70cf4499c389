//! The partitioner's cost model equals the real layout's row counter for every slice of the shipped models (and,
//! with the model's inputs and outputs public, for every slice that states them), and refuses a model with every
//! layer that has no chip path listed at once.

use std::path::PathBuf;
use std::sync::Arc;

use dzk_circuit::{ChunkCircuit, CircuitError, CostModel, Visibility};
use dzk_ir::Model;

fn load(rel: &str) -> Arc<Model> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    Arc::new(Model::load(&p).expect("model"))
}

fn assert_exact(model: &Arc<Model>, name: &str) {
    assert_exact_as(model, name, Visibility::default());
}

/// [`assert_exact`] for the model counted under `vis`; with a public side, only the slices that state it (the
/// others are counted as under the default).
fn assert_exact_as(model: &Arc<Model>, name: &str, vis: Visibility) {
    let cost = CostModel::new_for(model, None, vis).expect("cost model");
    let n = model.layers().len();
    let public = vis != Visibility::default();
    for i in 0..cost.layouts().len() {
        for a in 0..n {
            for b in a + 1..=n {
                if public && a != 0 && b != n {
                    continue;
                }
                let layout = cost.layout_under(i, a, b);
                let c = ChunkCircuit::new(model.clone(), a, b, layout)
                    .expect("circuit")
                    .with_visibility(vis);
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
fn cost_model_equals_the_layout_for_the_slices_that_state_public_inputs_or_outputs() {
    for (public_input, public_output) in [(true, false), (false, true), (true, true)] {
        let vis = Visibility {
            public_input,
            public_output,
        };
        assert_exact_as(&load("testdata/models/digits_cnn.msgpack"), "digits", vis);
        assert_exact_as(
            &load("testdata/models/tiny_transformer.msgpack"),
            "tiny transformer",
            vis,
        );
    }
}

/// Public model inputs or outputs take an instance row each: the cost model counts the chunk that states them
/// with its instances (and without hashing them), exactly as the circuit lays it out, and its `k` holds them.
#[test]
fn public_values_are_counted_in_the_chunk_that_states_them() {
    let n = 5000usize;
    let l = |ins: Vec<i64>, out: i64| {
        serde_json::json!({"layer_type": "Add", "params": [], "inp_idxes": ins, "inp_shapes": [[n], [1]],
            "out_idxes": [out], "out_shapes": [[n]], "mask": []})
    };
    let v = serde_json::json!({"global_sf": 64, "k": 12, "num_cols": 6, "inp_idxes": [0], "out_idxes": [2],
        "tensors": [{"idx": 3, "shape": [1], "data": [5]}], "layers": [l(vec![0, 3], 1), l(vec![1, 3], 2)]});
    let m = Arc::new(
        Model::from_msgpack(&rmp_serde::to_vec_named(&v).expect("encode"), "adds").expect("model"),
    );
    let hashed = CostModel::new(&m).expect("cost model");
    assert_eq!(hashed.public_values(), (0, 0));
    for (public_input, public_output) in [(true, false), (false, true)] {
        let vis = Visibility {
            public_input,
            public_output,
        };
        let cost = CostModel::new_for(&m, None, vis).expect("cost model");
        assert_eq!(
            cost.public_values(),
            (
                if public_input { n } else { 0 },
                if public_output { n } else { 0 }
            )
        );
        let (a, b) = if public_input { (0, 1) } else { (1, 2) };
        for i in 0..cost.layouts().len() {
            let layout = cost.layout_under(i, a, b);
            let c = ChunkCircuit::new(m.clone(), a, b, layout)
                .expect("circuit")
                .with_visibility(vis);
            assert_eq!(c.instance_len(), n + 2);
            assert_eq!(cost.rows(i, a, b), c.rows(), "{vis:?} {layout:?}");
            assert_eq!(cost.min_k_under(i, a, b), c.min_k(), "{vis:?} {layout:?}");
            assert!(
                c.min_k() >= 13,
                "{vis:?} {layout:?}: {n} instances need 2^13 rows"
            );
            // Stating the side instead of hashing it saves its commitment's rows.
            assert!(
                cost.rows(i, a, b) < hashed.rows(i, a, b),
                "{vis:?} {layout:?}"
            );
        }
    }
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
