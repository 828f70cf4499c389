//! Importing the committed ONNX models: the fixed-point forward pass against onnxruntime's outputs.

use std::path::{Path, PathBuf};

use dzk_onnx::{float_inputs, import, read_samples, Options};

fn onnx_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/onnx")
}

struct Expected {
    outputs: Vec<Vec<f64>>,
    labels: Option<Vec<usize>>,
}

fn expected(name: &str) -> Expected {
    let text = std::fs::read_to_string(onnx_dir().join(format!("{name}.expected.json")))
        .expect("expected");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let outputs = v["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .map(|o| {
            o.as_array()
                .expect("array")
                .iter()
                .map(|x| x.as_f64().expect("number"))
                .collect()
        })
        .collect();
    let labels = v.get("labels").map(|l| {
        l.as_array()
            .expect("labels")
            .iter()
            .map(|x| x.as_u64().expect("label") as usize)
            .collect()
    });
    Expected { outputs, labels }
}

fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
        .expect("non-empty")
}

/// Imports `name` at `bits` and returns, per sample, the largest error against onnxruntime and whether the
/// argmax agrees.
fn agreement(name: &str, bits: u32) -> Vec<(f64, bool)> {
    let imp = import(
        &onnx_dir().join(format!("{name}.onnx")),
        &Options {
            scale_bits: bits,
            k: None,
            input_shapes: vec![],
        },
    )
    .expect("import");
    let samples = read_samples(&onnx_dir().join(format!("{name}.samples.json"))).expect("samples");
    let want = expected(name);
    let sf = imp.model.scale() as f64;
    samples
        .iter()
        .zip(&want.outputs)
        .map(|(s, w)| {
            let inp = float_inputs(&imp.model, s).expect("inputs");
            let trace = imp.model.forward(&inp).expect("forward");
            let got: Vec<f64> = trace
                .tensor(imp.outputs[0].idx)
                .expect("output")
                .data()
                .iter()
                .map(|&q| q as f64 / sf)
                .collect();
            assert_eq!(got.len(), w.len(), "{name}: output size");
            let err = got
                .iter()
                .zip(w)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            (err, argmax(&got) == argmax(w))
        })
        .collect()
}

#[test]
fn the_mlp_agrees_with_onnxruntime() {
    let r = agreement("digits_mlp", 10);
    for (i, (err, same)) in r.iter().enumerate() {
        eprintln!("sample {i}: max error {err}, argmax same {same}");
        assert!(*same, "sample {i}: argmax differs");
        assert!(*err < 0.05, "sample {i}: error {err}");
    }
    assert!(expected("digits_mlp").labels.is_some());
}

#[test]
fn the_cnn_agrees_with_onnxruntime() {
    let r = agreement("digits_cnn", 10);
    for (i, (err, same)) in r.iter().enumerate() {
        eprintln!("sample {i}: max error {err}, argmax same {same}");
        assert!(*same, "sample {i}: argmax differs");
        assert!(*err < 0.05, "sample {i}: error {err}");
    }
}

#[test]
fn the_transformer_block_agrees_with_onnxruntime() {
    let r = agreement("tiny_transformer", 12);
    for (i, (err, same)) in r.iter().enumerate() {
        eprintln!("sample {i}: max error {err}, argmax same {same}");
        assert!(*same, "sample {i}: argmax differs");
        assert!(*err < 0.1, "sample {i}: error {err}");
    }
}

#[test]
fn every_other_operator_agrees_with_onnxruntime() {
    let r = agreement("ops_zoo", 10);
    for (i, (err, same)) in r.iter().enumerate() {
        eprintln!("sample {i}: max error {err}, argmax same {same}");
        assert!(*same, "sample {i}: argmax differs");
        assert!(*err < 0.02, "sample {i}: error {err}");
    }
}
