//! The real models: every zkml model and input in `../shared/models/zkml` loads, MNIST reproduces zkml's
//! reference output, the weight-less configs run with synthetic weights, and dzk's shipped `testdata/`
//! model reproduces the outputs of its independent Python reference.

use std::path::PathBuf;

use dzk_ir::{Model, TensorFile};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn zkml(rel: &str) -> PathBuf {
    repo().join("../shared/models/zkml").join(rel)
}

/// zkml's circuit output on mnist/model.msgpack with mnist/inp.msgpack (shared/models/zkml/README.md).
const MNIST_REFERENCE: [i64; 10] = [
    -5312, -8056, -8186, -1669, -4260, 6614, -5131, -6862, -3047, -805,
];

#[test]
fn mnist_matches_zkml_reference_exactly() {
    let model = Model::load(&zkml("mnist/model.msgpack")).expect("mnist model");
    assert!(model.has_weights());
    assert_eq!(model.parameter_count(), 6742);
    let input = TensorFile::load(&zkml("mnist/inp.msgpack")).expect("mnist input");
    let trace = model.forward(&input).expect("forward");
    let (idx, out) = &trace.outputs().tensors()[0];
    assert_eq!(*idx, 37);
    assert_eq!(out.shape(), &[1, 1, 1, 10]);
    assert_eq!(out.data(), &MNIST_REFERENCE);
    assert_eq!(out.argmax(), Some(5));
}

#[test]
fn every_shared_model_and_input_loads() {
    for m in [
        "mnist/model.msgpack",
        "mnist/config.msgpack",
        "gpt-2/config.msgpack",
        "clip/config.msgpack",
        "twitter/config.msgpack",
    ] {
        let model = Model::load(&zkml(m)).unwrap_or_else(|e| panic!("{m}: {e}"));
        assert!(!model.layers().is_empty(), "{m}");
    }
    for i in [
        "mnist/inp.msgpack",
        "gpt-2/inp.msgpack",
        "clip/inp.msgpack",
        "twitter/inp1.msgpack",
        "twitter/inp2.msgpack",
        "twitter/inp3.msgpack",
    ] {
        let f = TensorFile::load(&zkml(i)).unwrap_or_else(|e| panic!("{i}: {e}"));
        assert_eq!(f.tensors().len(), 1, "{i}");
    }
    let gpt2 = Model::load(&zkml("gpt-2/config.msgpack")).expect("gpt-2");
    assert_eq!(gpt2.layers().len(), 1093);
    assert!(!gpt2.has_weights());
}

#[test]
fn config_without_weights_is_refused_without_synthetic_weights() {
    let model = Model::load(&zkml("twitter/config.msgpack")).expect("twitter");
    let input = TensorFile::load(&zkml("twitter/inp1.msgpack")).expect("input");
    let err = model.forward(&input).expect_err("no weights");
    assert!(err.to_string().contains("weight without values"), "{err}");
}

#[test]
fn synthetic_weights_are_deterministic_and_run_the_twitter_model() {
    let input = TensorFile::load(&zkml("twitter/inp1.msgpack")).expect("input");
    let run = |seed| {
        let model = Model::load(&zkml("twitter/config.msgpack"))
            .expect("twitter")
            .with_synthetic_weights(seed, &[0])
            .expect("synthetic");
        model.forward(&input).expect("forward").outputs().tensors()[0]
            .1
            .clone()
    };
    let (a, b, c) = (run(7), run(7), run(8));
    assert_eq!(a.shape(), &[1, 10]);
    assert_eq!(a, b, "the same seed must give the same outputs");
    assert_ne!(a, c, "another seed must give other weights");
}

#[test]
fn mnist_config_runs_with_synthetic_weights() {
    // The config is the MNIST network plus Reshape and Softmax: its outputs are probabilities at scale 512.
    let input = TensorFile::load(&zkml("mnist/inp.msgpack")).expect("input");
    let model = Model::load(&zkml("mnist/config.msgpack"))
        .expect("config")
        .with_synthetic_weights(1, &[0])
        .expect("synthetic");
    let out = model.forward(&input).expect("forward").outputs().tensors()[0]
        .1
        .clone();
    assert_eq!(out.shape(), &[1, 10]);
    let sum: i64 = out.data().iter().sum();
    assert!(
        (sum - 512).abs() <= 10,
        "softmax outputs should sum to about 1.0 (512), got {sum}"
    );
}

#[test]
fn shipped_digits_model_matches_its_python_reference() {
    let dir = repo().join("testdata");
    let expected: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("models/digits_cnn.expected.json")).expect("expected.json"),
    )
    .expect("json");
    let model = Model::load(&dir.join("models/digits_cnn.msgpack")).expect("digits model");
    let cases = expected["expected"].as_array().expect("cases");
    assert!(cases.len() >= 4);
    for case in cases {
        let input = TensorFile::load(&dir.join(case["input"].as_str().expect("input path")))
            .expect("input");
        let out = model.forward(&input).expect("forward").outputs().tensors()[0]
            .1
            .clone();
        let want: Vec<i64> = case["logits"]
            .as_array()
            .expect("logits")
            .iter()
            .map(|v| v.as_i64().expect("int"))
            .collect();
        assert_eq!(out.data(), &want[..], "{}", case["input"]);
        assert_eq!(out.argmax(), case["argmax"].as_u64().map(|a| a as usize));
    }
}

#[test]
fn slice_boundaries_carry_every_live_tensor() {
    let model = Model::load(&zkml("mnist/model.msgpack")).expect("mnist");
    // The whole model: the image in, the logits out.
    assert_eq!(model.slice_boundary(0, 16), (vec![0], vec![37]));
    // Cut after the first conv: its output crosses the cut.
    assert_eq!(model.slice_boundary(0, 1), (vec![0], vec![22]));
    assert_eq!(model.slice_boundary(1, 16), (vec![22], vec![37]));
    // Cut inside a Mul/Add pair: only the Mul output crosses; the channel scale stays a constant.
    assert_eq!(model.slice_boundary(2, 3), (vec![23], vec![24]));
}
