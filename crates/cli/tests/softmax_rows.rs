//! A softmax too large for the bound, split by rows: `partition --max-k 14` cuts an attention-sized softmax
//! (`[8, 32, 96]`, a mask that differs per head) into parts that each slice their heads' rows of the input, and
//! the chunk after them reads every part. The plan's chunks fit the bound and `dzk boundaries` gives the model's
//! outputs; proving and verifying the whole run (about 4 minutes on 2 cores) is in `cargo xtask slow`. An
//! element-wise layer splits by position the same way, and is refused with the reason where it cannot.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

mod common;
use common::{
    assert_valid_with_outputs, boundaries_outputs, chunk_reads, dzk, err, forward_outputs, ok,
    prove_each_chunk, s, write_model,
};

/// Softmax over `[8, 32, 96]` (masked per head along the last axis), then (`head`) a reshape to `[256, 96]` and a
/// fully connected layer to 4 outputs, with its input: written to `dir`.
fn softmax_model(dir: &Path, head: bool) -> (PathBuf, PathBuf) {
    let (h, r, c) = (8usize, 32usize, 96usize);
    let l = |ty: &str, params: Value, ins: Value, shapes: Value, out: i64, out_shape: Value| {
        json!({"layer_type": ty, "params": params, "inp_idxes": ins, "inp_shapes": shapes,
               "out_idxes": [out], "out_shapes": [out_shape], "mask": []})
    };
    let mut mask = vec![3, h as i64, 1, c as i64];
    mask.extend((0..h * c).map(|i| i64::from((i / c * 7 + i % c) % 5 == 0)));
    let w: Vec<i64> = (0..4 * c as i64).map(|i| (i * 29 % 43) - 21).collect();
    let mut m = json!({
        "global_sf": 64, "k": 14, "num_cols": 6, "inp_idxes": [0], "out_idxes": [3], "tensors": [
            {"idx": 4, "shape": [4, c], "data": w},
            {"idx": 5, "shape": [4], "data": [-9, -6, -3, 0]},
        ],
        "layers": [
            l("Softmax", json!(mask), json!([0]), json!([[h, r, c]]), 1, json!([h, r, c])),
            l("Reshape", json!([]), json!([1]), json!([[h, r, c]]), 2, json!([h * r, c])),
            l("FullyConnected", json!([0]), json!([2, 4, 5]), json!([[h * r, c], [4, c], [4]]), 3,
              json!([h * r, 4])),
        ],
    });
    if !head {
        m["out_idxes"] = json!([1]);
        m["layers"].as_array_mut().expect("layers").truncate(1);
    }
    let x: Vec<i64> = (0..(h * r * c) as i64)
        .map(|i| (i * 29 % 97) - 48)
        .collect();
    let input = json!([{"idx": 0, "shape": [h, r, c], "data": x}]);
    write_model(dir, "softmax", &m, &input)
}

/// `dzk partition MODEL --max-k 14 -o RUN --json` and `extra`, which must succeed: the plan's JSON and what it
/// said on stderr.
fn partition_at_14(model: &Path, run: &Path, extra: &[&str]) -> (Value, String) {
    let mut args = vec![
        "partition",
        s(model),
        "--max-k",
        "14",
        "-o",
        s(run),
        "--json",
    ];
    args.extend(extra);
    let o = dzk(&args);
    assert!(o.status.success(), "{}", err(&o));
    (serde_json::from_slice(&o.stdout).expect("json"), err(&o))
}

/// `partition --max-k 14` of the softmax model into `run`: the softmax split by rows into parts that each read
/// the model's input, the chunk after them every part (it starts with their concatenation, also when that is
/// the model's last layer: the verifier joins parts that state the outputs along the last axis only), every
/// chunk within `2^14` rows. Returns the plan's JSON.
fn partition(model: &Path, run: &Path, extra: &[&str]) -> Value {
    let (v, _) = partition_at_14(model, run, extra);
    let splits = v["split_layers"].as_array().expect("splits");
    assert_eq!(splits.len(), 1, "{v}");
    assert_eq!(splits[0]["layer"], 0, "the softmax is split: {v}");
    let parts = splits[0]["parts"].as_u64().expect("parts") as usize;
    assert!((2..=8).contains(&parts), "{v}");
    let chunks = v["chunks"].as_array().expect("chunks");
    assert_eq!(chunks.len(), parts + 1, "{v}");
    for c in chunks {
        assert!(c["k"].as_u64().expect("k") <= 14, "{c}");
        assert!(c["rows"].as_u64().expect("rows") <= 1 << 14, "{c}");
    }
    for c in &chunks[..parts] {
        assert_eq!(chunk_reads(c), [0], "a part reads the model's input: {c}");
    }
    assert!(v["output_join"].is_null(), "{v}");
    let every: Vec<u64> = (1..=parts as u64).collect();
    assert_eq!(
        chunk_reads(&chunks[parts]),
        every,
        "the chunk after reads every part"
    );
    // Each part is a slice of its rows and their softmax.
    for (p, c) in chunks[..parts].iter().enumerate() {
        let m = dzk_ir::Model::load(&run.join(format!("chunk-{p}.model.msgpack"))).expect("slice");
        let at = |i: usize| c["layers"][i].as_u64().expect("layer") as usize;
        let types: Vec<&str> = m.layers()[at(0)..at(1)]
            .iter()
            .map(|l| l.layer_type.as_str())
            .collect();
        assert_eq!(types, ["Slice", "Softmax"], "chunk {p}");
    }
    v
}

#[test]
fn a_softmax_too_large_for_the_bound_is_split_by_rows_and_its_boundaries_give_the_outputs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    for head in [true, false] {
        let dir = dir.join(if head { "head" } else { "last" });
        std::fs::create_dir(&dir).expect("dir");
        let (model, input) = softmax_model(&dir, head);
        let run = dir.join("run");
        // The softmax's 24,576 values as public instances would not fit 2^14 rows in one chunk: hashed.
        let hashed: &[&str] = if head { &[] } else { &["--hashed-output"] };
        partition(&model, &run, hashed);
        let got = boundaries_outputs(&run, &input, &dir.join("b"));
        assert_eq!(got, forward_outputs(&model, &input), "head: {head}");
    }
    // With the softmax's outputs public, the chunk that joins its parts would state 24,576 values: more
    // instances than 2^14 rows hold (a row split's parts never share the outputs out), so `partition` refuses
    // and says what helps.
    let dir = dir.join("last");
    let o = dzk(&[
        "partition",
        s(&dir.join("softmax.msgpack")),
        "--max-k",
        "14",
        "-o",
        s(&dir.join("public")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(
        err(&o).contains(
            "the model's 24576 outputs are public instances, one row each, more than 2^14 rows"
        ) && err(&o).contains("--hashed-output commits to them instead"),
        "{}",
        err(&o)
    );
    assert!(!dir.join("public").join("plan.dzk").exists());
}

/// The whole run proven, each chunk from `dzk boundaries`' files, and verified with the model's outputs.
#[test]
#[ignore = "slow: about 4 minutes on 2 cores (cargo xtask slow)"]
fn a_softmax_split_by_rows_proves_and_verifies() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let (model, input) = softmax_model(dir, true);
    let run = dir.join("run");
    let v = partition(&model, &run, &[]);
    proves_and_verifies(dir, &run, &v, (&model, &input));
}

/// The run `run` (plan JSON `v`) of `model` keyed at `k = 14` (files in `dir`), its boundaries made from `input`,
/// every chunk proven from them, and `verify-all` VALID with the model's outputs.
fn proves_and_verifies(dir: &Path, run: &Path, v: &Value, (model, input): (&Path, &Path)) {
    let (params, b, proofs) = (dir.join("params"), dir.join("b"), dir.join("proofs"));
    ok(&["setup", "--k", "14", "-o", s(&params)]);
    ok(&["keygen", s(run), "--params", s(&params)]);
    ok(&["boundaries", s(run), "--input", s(input), "-o", s(&b)]);
    let chunks = v["chunks"].as_array().expect("chunks").len();
    prove_each_chunk(run, &b, &params, &proofs, chunks);
    assert_valid_with_outputs(run, &params, &proofs, (model, input));
}

/// Attention's second half over `[8, 32, 96]` scores (masked per head): their softmax times `V` (`[8, 96, 8]`),
/// reshaped to `[256, 8]`, and a fully connected layer to 4 outputs, with its input: written to `dir`. With
/// `v_after`, `V` is the input times a constant, computed after the softmax (as zkml's CLIP orders it).
fn attention_model(dir: &Path, v_after: bool) -> (PathBuf, PathBuf) {
    let (model, _) = softmax_model(dir, true);
    let mut m: Value =
        rmp_serde::from_slice(&std::fs::read(&model).expect("read")).expect("decode");
    let (h, r, c, d) = (8usize, 32usize, 96usize, 8usize);
    let w: Vec<i64> = (0..4 * d as i64).map(|i| (i * 29 % 43) - 21).collect();
    m["inp_idxes"] = json!([0, 6]);
    m["tensors"][0] = json!({"idx": 4, "shape": [4, d], "data": w});
    let layers = m["layers"].as_array_mut().expect("layers");
    layers.insert(
        1,
        json!({"layer_type": "BatchMatMul", "params": [0, 0], "inp_idxes": [1, 6],
               "inp_shapes": [[h, r, c], [h, c, d]], "out_idxes": [7], "out_shapes": [[h, r, d]], "mask": []}),
    );
    layers[2]["inp_idxes"] = json!([7]);
    layers[2]["inp_shapes"] = json!([[h, r, d]]);
    layers[2]["out_shapes"] = json!([[h * r, d]]);
    layers[3]["inp_shapes"] = json!([[h * r, d], [4, d], [4]]);
    if v_after {
        layers[1]["inp_idxes"] = json!([1, 9]);
        layers.insert(
            1,
            json!({"layer_type": "Mul", "params": [], "inp_idxes": [6, 8], "inp_shapes": [[h, c, d], []],
                   "out_idxes": [9], "out_shapes": [[h, c, d]], "mask": []}),
        );
        m["tensors"]
            .as_array_mut()
            .expect("tensors")
            .push(json!({"idx": 8, "shape": [], "data": [96]}));
    }
    let mut input: Value =
        rmp_serde::from_slice(&std::fs::read(dir.join("softmax-in.msgpack")).expect("read"))
            .expect("decode");
    let v: Vec<i64> = (0..(h * c * d) as i64)
        .map(|i| (i * 13 % 61) - 30)
        .collect();
    input
        .as_array_mut()
        .expect("tensors")
        .push(json!({"idx": 6, "shape": [h, c, d], "data": v}));
    write_model(dir, "attention", &m, &input)
}

/// The softmax of attention scores too large for the bound is split by heads, and each part carries the product
/// with `V` (sliced by heads too): the chunk after the parts reads their `[h, 32, 8]` results, not the `[h, 32,
/// 96]` probabilities. The plan fits the bound and `dzk boundaries` gives the model's outputs. Where `V` is
/// computed after the softmax, `partition` moves it before (the first chunk) and the parts carry the product all
/// the same.
#[test]
fn a_softmax_split_by_heads_carries_the_product_with_v() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for v_after in [false, true] {
        let dir = tmp.path().join(if v_after { "after" } else { "before" });
        std::fs::create_dir(&dir).expect("dir");
        let (model, input) = attention_model(&dir, v_after);
        let run = dir.join("run");
        let v = partition_attention(&model, &run, v_after);
        let got = boundaries_outputs(&run, &input, &dir.join("b"));
        assert_eq!(got, forward_outputs(&model, &input), "V after: {v_after}");
        let parts = v["split_layers"][0]["parts"].as_u64().expect("parts") as usize;
        // The chunk after the parts reads their results alone: 8 heads of `[32, 8]`.
        let join = &v["chunks"][parts + usize::from(v_after)];
        assert_eq!(values_read(join), 8 * 32 * 8, "{join}");
    }
}

/// How many values chunk `c` (of a plan's JSON) reads.
fn values_read(c: &Value) -> u64 {
    c["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .map(|t| {
            t["shape"]
                .as_array()
                .expect("shape")
                .iter()
                .map(|d| d.as_u64().expect("dim"))
                .product::<u64>()
        })
        .sum()
}

/// `partition --max-k 14` of the attention model into `run`: the softmax split by heads, each part (a chunk
/// reading the model's inputs, or with `v_after` the first chunk's `V` and scores) carrying the product with `V`;
/// the chunk after them reads every part. Returns the plan's JSON.
fn partition_attention(model: &Path, run: &Path, v_after: bool) -> Value {
    let (v, said) = partition_at_14(model, run, &[]);
    assert!(
        said.contains("layer 0 and the 1 after it (row by row)"),
        "{said}"
    );
    let splits = v["split_layers"].as_array().expect("splits");
    assert_eq!(splits.len(), 1, "{v}");
    assert_eq!(
        (&splits[0]["layer"], &splits[0]["tail"]),
        (&json!(0), &json!(1)),
        "{v}"
    );
    let parts = splits[0]["parts"].as_u64().expect("parts") as usize;
    let chunks = v["chunks"].as_array().expect("chunks");
    let first = usize::from(v_after);
    assert_eq!(chunks.len(), first + parts + 1, "{v}");
    for c in chunks {
        assert!(c["k"].as_u64().expect("k") <= 14, "{c}");
    }
    for (p, c) in chunks.iter().enumerate().skip(first).take(parts) {
        assert_eq!(
            chunk_reads(c),
            [first as u64],
            "a part reads the boundary before: {c}"
        );
        let m = dzk_ir::Model::load(&run.join(format!("chunk-{p}.model.msgpack"))).expect("slice");
        let at = |i: usize| c["layers"][i].as_u64().expect("layer") as usize;
        let types: Vec<&str> = m.layers()[at(0)..at(1)]
            .iter()
            .map(|l| l.layer_type.as_str())
            .collect();
        assert_eq!(
            types,
            ["Slice", "Softmax", "Slice", "BatchMatMul"],
            "chunk {p}"
        );
    }
    let every: Vec<u64> = (first as u64 + 1..=(first + parts) as u64).collect();
    assert_eq!(chunk_reads(&chunks[first + parts]), every, "{v}");
    v
}

/// The attention run proven chunk by chunk and verified with the model's outputs.
#[test]
#[ignore = "slow: about 4 minutes on 2 cores (cargo xtask slow)"]
fn a_softmax_part_carrying_the_product_with_v_proves_and_verifies() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let (model, input) = attention_model(dir, true);
    let run = dir.join("run");
    let v = partition_attention(&model, &run, true);
    proves_and_verifies(dir, &run, &v, (&model, &input));
}

/// An element-wise layer too large for the bound is split by position like a softmax by rows, but each part
/// still reads (and hashes) the whole input before it: where even one position per part does not fit,
/// `partition` says so, naming the unit and the cause, and writes no plan.
#[test]
fn an_element_wise_layer_whose_input_alone_is_too_large_is_refused_with_the_reason() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    // 8,192 values: hashing them alone fills 2^13 rows.
    let shape = [8usize, 32, 32];
    let m = json!({"global_sf": 64, "k": 14, "num_cols": 6, "inp_idxes": [0], "out_idxes": [1], "tensors": [],
        "layers": [{"layer_type": "Tanh", "params": [], "inp_idxes": [0], "inp_shapes": [shape],
                    "out_idxes": [1], "out_shapes": [shape], "mask": []}]});
    let model = dir.join("tanh.msgpack");
    std::fs::write(&model, rmp_serde::to_vec_named(&m).expect("encode")).expect("write");
    let run = dir.join("run");
    let o = dzk(&[
        "partition",
        s(&model),
        "--max-k",
        "13",
        "--hashed-output",
        "-o",
        s(&run),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(
        err(&o).contains("layer 0 alone needs k = 14")
            && err(&o).contains(
                "cannot be split: even one position per part does not fit 2^13 rows (its input alone is \
                 too large)"
            ),
        "{}",
        err(&o)
    );
    assert!(!run.join("plan.dzk").exists());
}
