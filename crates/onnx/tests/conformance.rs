//! One small ONNX model per operator variant (testdata/onnx/conformance/, made by
//! testdata/scripts/make_onnx_conformance.py): dzk's fixed-point forward pass of each import against
//! onnxruntime's output. Every case runs; the failures are listed together.

use std::path::{Path, PathBuf};

use dzk_onnx::{float_inputs, import, FloatInput, Options};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/onnx/conformance")
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// At scale 2^12 each value carries an error of a few 2^-12 per rounding; products, tables and the tanh form of
/// erf add to that. The bound is absolute plus relative.
fn tolerance(name: &str, y: f64) -> f64 {
    let base = if name.starts_with("erf") || name.starts_with("gelu") {
        0.01
    } else {
        0.004
    };
    base + 0.01 * y.abs()
}

#[test]
fn every_operator_variant_agrees_with_onnxruntime() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("conformance dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for path in &cases {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("name")
            .to_string();
        let doc: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(path.with_extension("json")).expect("json"),
        )
        .expect("json");
        let opts = Options {
            scale_bits: 12,
            k: None,
            input_shapes: vec![],
        };
        let imp = match import(path, &opts) {
            Ok(i) => i,
            Err(e) => {
                failures.push(format!("{name}: import failed: {e}"));
                continue;
            }
        };
        let xs: Vec<FloatInput> = doc["inputs"]
            .as_array()
            .expect("inputs")
            .iter()
            .map(|v| FloatInput {
                shape: None,
                values: floats(v),
            })
            .collect();
        let inp = float_inputs(&imp.model, &xs).expect("inputs");
        let trace = match imp.model.forward(&inp) {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("{name}: forward failed: {e}"));
                continue;
            }
        };
        let sf = imp.model.scale() as f64;
        let got: Vec<f64> = trace
            .tensor(imp.outputs[0].idx)
            .expect("output")
            .data()
            .iter()
            .map(|&q| q as f64 / sf)
            .collect();
        let want = floats(&doc["output"]);
        let shape: Vec<usize> = doc["output_shape"]
            .as_array()
            .expect("shape")
            .iter()
            .map(|d| d.as_u64().expect("dim") as usize)
            .collect();
        if imp.outputs[0].shape != shape {
            failures.push(format!(
                "{name}: shape {:?}, onnxruntime {shape:?}",
                imp.outputs[0].shape
            ));
            continue;
        }
        if let Some((i, (a, b))) = got
            .iter()
            .zip(&want)
            .enumerate()
            .find(|(_, (a, b))| (*a - *b).abs() > tolerance(&name, **b))
        {
            failures.push(format!("{name}: value {i} is {a}, onnxruntime {b}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
