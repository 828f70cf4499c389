//! Every chunk is fitted as it is proven: a chunk that states the model's inputs or outputs as public instances
//! (`--public-input`, the default public outputs) has its `k` planned with those instances, so `dzk boundaries`
//! and `keygen` take the plan as it is; public values that outnumber the bound's rows are refused at once.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

mod common;
use common::{boundaries_outputs, dzk, err, forward_outputs, s, write_model};

/// Two additions of a constant over `[n]`: every chunk of it is boundary (its `n` inputs and `n` outputs).
fn adds_model(dir: &Path, n: usize) -> (PathBuf, PathBuf) {
    let l = |ins: [i64; 2], out: i64| {
        json!({"layer_type": "Add", "params": [], "inp_idxes": ins, "inp_shapes": [[n], [1]],
               "out_idxes": [out], "out_shapes": [[n]], "mask": []})
    };
    let m = json!({"global_sf": 64, "k": 14, "num_cols": 6, "inp_idxes": [0], "out_idxes": [2],
        "tensors": [{"idx": 3, "shape": [1], "data": [5]}], "layers": [l([0, 3], 1), l([1, 3], 2)]});
    let x: Vec<i64> = (0..n as i64).map(|i| (i * 7 % 50) - 25).collect();
    let input = json!([{"idx": 0, "shape": [n], "data": x}]);
    write_model(dir, "adds", &m, &input)
}

fn partition(model: &Path, run: &Path, args: &[&str]) -> std::process::Output {
    let mut a = vec!["partition", s(model), "-o", s(run), "--json"];
    a.extend(args);
    dzk(&a)
}

#[test]
fn public_inputs_or_outputs_set_the_planned_k_and_too_many_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let n = 24_576;
    let (model, input) = adds_model(dir, n);
    // Public outputs (the default) or public inputs: 24,576 instances, more than 2^14 rows hold, whatever the
    // cuts. Hashed, the same values fit 2^14 rows, which is what the plan used to be fitted with.
    for (args, side, hint) in [
        (
            &[][..],
            "outputs",
            "--hashed-output commits to them instead",
        ),
        (
            &["--public-input", "--hashed-output"][..],
            "inputs",
            "leave out --public-input",
        ),
    ] {
        let run = dir.join(format!("refused-{side}"));
        let mut a = vec!["--max-k", "14"];
        a.extend(args);
        let o = partition(&model, &run, &a);
        assert_eq!(o.status.code(), Some(2), "{}", err(&o));
        let e = err(&o);
        assert!(
            e.contains(&format!(
                "the model's {n} {side} are public instances, one row each, more than 2^14 rows hold"
            )) && e.contains(hint)
                && e.contains("adds.msgpack"),
            "{e}"
        );
        assert!(!run.join("plan.dzk").exists(), "no plan is written");
    }
    // Where they fit, the chunk that states them is planned with them: `dzk boundaries` (which refuses a chunk
    // that needs a larger k than its plan says) gives the model's outputs.
    for (args, max_k) in [
        (&["--hashed-output"][..], "14"),
        (&[][..], "15"),
        (&["--public-input", "--hashed-output"][..], "15"),
        (&["--public-input"][..], "15"),
    ] {
        let run = dir.join(format!("run-{}-{max_k}", args.join("")));
        let mut a = vec!["--max-k", max_k];
        a.extend(args);
        let o = partition(&model, &run, &a);
        assert!(o.status.success(), "{args:?}: {}", err(&o));
        let v: Value = serde_json::from_slice(&o.stdout).expect("json");
        for c in v["chunks"].as_array().expect("chunks") {
            assert!(
                c["k"].as_u64().expect("k") <= max_k.parse().expect("k"),
                "{c}"
            );
        }
        let got = boundaries_outputs(&run, &input, &run.join("b"));
        assert_eq!(got, forward_outputs(&model, &input), "{args:?}");
    }
}
