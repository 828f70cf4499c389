//! `partition --max-memory`: every chunk within a memory bound by the estimate `partition` prints (a chunk may
//! take a narrower layout at a larger `k` to meet it), and the plan proves and verifies like any other; a bound no
//! layer can meet, a size that is not one, and a bound beside `--chunks` are refused with exit code 2.

use std::path::PathBuf;

use serde_json::Value;

mod common;
use common::{assert_valid_with_outputs, dzk, err, ok, repo, s};

fn mnist() -> PathBuf {
    repo().join("../shared/models/zkml/mnist/model.msgpack")
}

fn mnist_input() -> PathBuf {
    repo().join("../shared/models/zkml/mnist/inp.msgpack")
}

/// Each chunk's larger estimate (keygen or proving), bytes, and its `k`, from `partition --json`.
fn peaks(v: &Value) -> Vec<(u64, u64)> {
    v["chunks"]
        .as_array()
        .expect("chunks")
        .iter()
        .map(|c| {
            let e = &c["estimate"];
            let keygen = e["keygen_bytes"].as_u64().expect("keygen bytes");
            let prove = e["prove_bytes"].as_u64().expect("prove bytes");
            (keygen.max(prove), c["k"].as_u64().expect("k"))
        })
        .collect()
}

fn partition(args: &[&str], run: &std::path::Path) -> Value {
    let model = mnist();
    let mut a = vec!["partition", s(&model)];
    a.extend_from_slice(args);
    a.extend(["-o", s(run), "--json"]);
    serde_json::from_str(&ok(&a)).expect("json")
}

#[test]
fn max_memory_bounds_every_chunk_and_the_plan_proves() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let bound: u64 = 120 << 20;
    // The same largest k without a memory bound: some chunk needs more than the bound.
    let by_k = partition(&["--max-k", "13"], &dir.join("by-k"));
    assert!(
        peaks(&by_k).iter().any(|&(m, _)| m > bound),
        "the bound changes nothing: {by_k}"
    );
    let run = dir.join("run");
    let v = partition(&["--max-memory", "120M"], &run);
    let chunks = peaks(&v);
    assert!(
        chunks.len() > peaks(&by_k).len(),
        "{} chunks within 120 MiB, {} within 2^13 rows",
        chunks.len(),
        peaks(&by_k).len()
    );
    for (i, &(m, k)) in chunks.iter().enumerate() {
        assert!(m <= bound, "chunk {i} needs {m} bytes by the estimate: {v}");
        assert!(k <= 13, "chunk {i} has k = {k}");
    }
    // The plan records each chunk's layout; proving uses it, and the run verifies with the model's outputs.
    let (params, proofs) = (dir.join("params"), dir.join("proofs"));
    ok(&["setup", "--k", "13", "-o", s(&params)]);
    ok(&["keygen", s(&run), "--params", s(&params)]);
    ok(&[
        "prove",
        s(&run),
        "--input",
        s(&mnist_input()),
        "--params",
        s(&params),
        "-o",
        s(&proofs),
    ]);
    assert_valid_with_outputs(&run, &params, &proofs, (&mnist(), &mnist_input()));
}

#[test]
fn memory_bounds_that_cannot_be_met_or_read_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = tmp.path().join("run");
    // MNIST's first convolution reads 784 values and its parts 8 channels at most: no part fits 50 MiB.
    let o = dzk(&[
        "partition",
        s(&mnist()),
        "--max-memory",
        "50M",
        "-o",
        s(&run),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    let e = err(&o);
    assert!(
        e.contains("layer 0 alone needs about") && e.contains("more than --max-memory 50 MiB"),
        "{e}"
    );
    assert!(!run.exists(), "a refused partition wrote files");
    for (args, says) in [
        (vec!["--max-memory", "lots"], "not a memory size"),
        (vec!["--max-memory", "0"], "not a memory size"),
        (
            vec!["--chunks", "2", "--max-memory", "1G"],
            "cannot be used with",
        ),
    ] {
        let model = mnist();
        let mut a = vec!["partition", s(&model)];
        a.extend(args.iter().copied());
        a.extend(["-o", s(&run)]);
        let o = dzk(&a);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", err(&o));
        assert!(err(&o).contains(says), "{args:?}: {}", err(&o));
        assert!(!run.exists(), "{args:?} wrote files");
    }
}
