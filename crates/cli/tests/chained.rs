//! Consecutive splits chained: MNIST at `--max-k 11` splits both convolutions (each with its pooling), and the
//! second's parts read the first's parts directly (no chunk only joins them). The plan proves and verifies with
//! the model's outputs; a chained part proven from other values than a part of the first split wrote is rejected
//! on that edge.

use std::path::PathBuf;

use serde_json::Value;

mod common;
use common::{
    assert_valid_with_outputs, change_a_boundary_value, copy_dir, dzk, err, ok, prove_each_chunk,
    repo, s, verify,
};

fn mnist() -> PathBuf {
    repo().join("../shared/models/zkml/mnist/model.msgpack")
}

fn mnist_input() -> PathBuf {
    repo().join("../shared/models/zkml/mnist/inp.msgpack")
}

#[test]
fn consecutive_splits_prove_with_parts_reading_parts_and_each_edge_is_checked() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let run = dir.join("run");
    let o = dzk(&[
        "partition",
        s(&mnist()),
        "--max-k",
        "11",
        "-o",
        s(&run),
        "--json",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        err(&o).contains("(each reading the previous split's parts)"),
        "{}",
        err(&o)
    );
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    let splits = v["split_layers"].as_array().expect("splits");
    assert_eq!(splits.len(), 2, "{v}");
    assert_eq!(splits[1]["reads_parts"], true, "{v}");
    let first = splits[0]["parts"].as_u64().expect("parts") as u32;
    let second = splits[1]["parts"].as_u64().expect("parts") as u32;
    let chunks = v["chunks"].as_array().expect("chunks");
    assert!(chunks.iter().all(|c| c["k"].as_u64() <= Some(11)), "{v}");
    let parts_of_first: Vec<u32> = (1..=first).collect();
    for c in &chunks[first as usize..(first + second) as usize] {
        let reads: Vec<u32> = c["reads"]
            .as_array()
            .expect("reads")
            .iter()
            .map(|b| b.as_u64().expect("boundary") as u32)
            .collect();
        assert_eq!(
            reads, parts_of_first,
            "a chained part reads every part of the first split: {c}"
        );
    }

    let (params, b, proofs) = (dir.join("params"), dir.join("b"), dir.join("proofs"));
    ok(&["setup", "--k", "11", "-o", s(&params)]);
    ok(&["keygen", s(&run), "--params", s(&params)]);
    ok(&[
        "boundaries",
        s(&run),
        "--input",
        s(&mnist_input()),
        "-o",
        s(&b),
    ]);
    prove_each_chunk(&run, &b, &params, &proofs, chunks.len());
    assert_valid_with_outputs(&run, &params, &proofs, (&mnist(), &mnist_input()));

    // The first chained part proven from other values than part 0 of the first split wrote (boundary 1 with a
    // value changed, its salt kept): it proves (it cannot tell), but that edge's commitments differ.
    let tampered = dir.join("tampered-b");
    copy_dir(&b, &tampered);
    change_a_boundary_value(&tampered.join("boundary-1.dzk"));
    let other = dir.join("other-values");
    copy_dir(&proofs, &other);
    let chained = first.to_string();
    std::fs::remove_file(other.join(format!("chunk-{chained}.proof"))).expect("rm");
    ok(&[
        "prove-chunk",
        s(&run),
        "--chunk",
        &chained,
        "--boundaries",
        s(&tampered),
        "--params",
        s(&params),
        "-o",
        s(&other),
    ]);
    let (code, report, e) = verify(&run, &params, &other);
    assert_eq!(code, 1, "{report}\n{e}");
    let says = format!(
        "cut 1: chunk 0's output commitment differs from chunk {chained}'s input commitment (proven from different activations)"
    );
    assert!(e.contains(&says), "{e}");
}
