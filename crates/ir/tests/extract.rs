//! A run of layers as a model of its own computes, on the values its inputs have in the whole model, the values
//! its outputs have there.

use std::path::PathBuf;

use dzk_ir::{Model, TensorFile};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_run_of_mnist_layers_extracted_computes_what_it_computes_in_the_model() {
    let z = repo().join("../shared/models/zkml/mnist");
    let bytes = std::fs::read(z.join("model.msgpack")).expect("model");
    let model = Model::from_msgpack(&bytes, "mnist").expect("load");
    let input = TensorFile::load(&z.join("inp.msgpack")).expect("input");
    let trace = model.forward(&input).expect("forward");
    let n = model.layers().len();
    for a in 0..n {
        for b in a + 1..=n {
            let ex = Model::extract_file(&bytes, "mnist", a, b).expect("extract");
            let sub = Model::from_msgpack(&ex.bytes, "sub").expect("load");
            assert_eq!(sub.layers().len(), b - a);
            assert_eq!(
                ex.inputs,
                model.live_at(a),
                "{a}..{b}: a chain's inputs are its cut"
            );
            let given = TensorFile::new(
                ex.inputs
                    .iter()
                    .map(|&i| (i, trace.tensor(i).expect("value").clone()))
                    .collect(),
            )
            .expect("inputs");
            let out = sub.forward(&given).expect("forward the extracted layers");
            for &o in &ex.outputs {
                assert_eq!(
                    out.tensor(o),
                    trace.tensor(o),
                    "{a}..{b}: tensor {o} differs"
                );
            }
            assert!(!ex.outputs.is_empty());
        }
    }
    for (a, b) in [(3, 3), (5, 2), (0, n + 1)] {
        let e = Model::extract_file(&bytes, "mnist", a, b).expect_err("refused");
        assert!(e.to_string().contains("not a run"), "{e}");
    }
}
