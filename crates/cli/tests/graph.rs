//! A run shaped as a graph: `partition --max-k` splits a layer too large for the bound across chunks, every
//! chunk is proven at once from `dzk boundaries`' files, and `verify-all` checks every edge; each way such a run
//! can be wrong is rejected with its own reason.

use std::path::{Path, PathBuf};
use std::process::Output;

use dzk_format::run::Plan;
use dzk_ir::{Model, TensorFile};

mod common;
use common::{change_a_boundary_value, copy_dir, dzk, err, ok, repo, s, verify};

fn model() -> PathBuf {
    repo().join("testdata/models/wide_mlp.msgpack")
}

fn input() -> PathBuf {
    repo().join("testdata/inputs/wide_mlp.msgpack")
}

struct Graph {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    plan: Plan,
}

impl Graph {
    fn run(&self) -> PathBuf {
        self.dir.join("run")
    }
    fn params(&self) -> PathBuf {
        self.dir.join("params")
    }
    fn boundary(&self, set: &str, b: u32) -> PathBuf {
        self.dir.join(set).join(format!("boundary-{b}.dzk"))
    }

    /// Chunk `i` proven into `proofs` from the boundary files of `set`, each read boundary given as `--input`
    /// and its own output's file as `--next` (so every chunk can be proven at once).
    fn prove(&self, i: u32, set: &str, proofs: &Path, extra: &[&str]) -> Output {
        let c = &self.plan.chunks[i as usize];
        let mut args: Vec<String> = vec![
            "prove-chunk".into(),
            s(&self.run()).into(),
            "--chunk".into(),
            i.to_string(),
        ];
        for b in c.reads() {
            args.extend(["--input".into(), s(&self.boundary(set, b)).into()]);
        }
        if (i as usize) + 1 < self.plan.chunks.len() {
            args.extend(["--next".into(), s(&self.boundary(set, i + 1)).into()]);
        }
        args.extend([
            "--params".into(),
            s(&self.params()).into(),
            "-o".into(),
            s(proofs).into(),
        ]);
        args.extend(extra.iter().map(|x| x.to_string()));
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        dzk(&a)
    }

    fn verify(&self, proofs: &Path) -> (i32, serde_json::Value, String) {
        verify(&self.run(), &self.params(), proofs)
    }

    fn rejected(&self, proofs: &Path, reason: &str) {
        let (code, out, e) = self.verify(proofs);
        assert_eq!(
            code, 1,
            "expected a rejection saying {reason:?}\n{out}\n{e}"
        );
        assert!(
            e.contains(reason),
            "the rejection does not say {reason:?}: {e}"
        );
        assert!(!e.contains("panicked"), "{e}");
    }
}

/// Partitions the wide MLP at `--max-k 12` (its wide layer alone needs k = 13), makes keys, writes two sets of
/// boundary files (two runs of `dzk boundaries`: the same activations under other salts) and proves every chunk
/// from the first.
fn graph() -> Graph {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    let run = dir.join("run");
    let o = dzk(&["partition", s(&model()), "--max-k", "12", "-o", s(&run)]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(err(&o).contains("layer 0 in 2 parts"), "{}", err(&o));
    let plan = dzk_verifier::audit::read_plan(&run).expect("plan");
    let g = Graph {
        _tmp: tmp,
        dir,
        plan,
    };
    ok(&["setup", "--k", "12", "-o", s(&g.params())]);
    ok(&["keygen", s(&run), "--params", s(&g.params())]);
    for set in ["b", "b2"] {
        ok(&[
            "boundaries",
            s(&run),
            "--input",
            s(&input()),
            "-o",
            s(&g.dir.join(set)),
        ]);
    }
    for i in (0..g.plan.chunks.len() as u32).rev() {
        let o = g.prove(i, "b", &g.dir.join("proofs"), &[]);
        assert!(o.status.success(), "chunk {i}: {}", err(&o));
    }
    g
}

#[test]
fn a_split_layer_proves_as_a_graph_and_every_broken_edge_is_rejected() {
    let g = graph();
    // The plan: two parts of layer 0, each reading the model's inputs; the chunk after them reads the inputs
    // (the skip connection) and both parts. Every chunk fits the bound.
    let p = &g.plan;
    assert_eq!(p.split_layers.len(), 1);
    assert_eq!((p.split_layers[0].layer, p.split_layers[0].parts), (0, 2));
    assert_eq!(p.chunks.len(), 3);
    assert_eq!(p.chunks[0].reads(), vec![0]);
    assert_eq!(p.chunks[1].reads(), vec![0]);
    assert_eq!(p.chunks[2].reads(), vec![0, 1, 2]);
    assert!(p.chunks.iter().all(|c| c.k <= 12));
    assert!(p.is_graph());
    // Under a major version of its own, which a dzk that knows only chains refuses.
    let bytes = std::fs::read(g.run().join("plan.dzk")).expect("plan");
    assert_eq!(
        u16::from_le_bytes([bytes[8], bytes[9]]),
        dzk_format::GRAPH_PLAN_MAJOR
    );
    let proofs = g.dir.join("proofs");
    let (code, report, e) = g.verify(&proofs);
    assert_eq!(code, 0, "{report}\n{e}");
    assert_eq!(report["verdict"], "valid", "{report}");
    // `dzk verify` of the chunk after the parts names its three input commitments and its h_out.
    let one = ok(&[
        "verify",
        s(&proofs.join("chunk-2.proof")),
        "--run",
        s(&g.run()),
        "--params",
        s(&g.params()),
        "--json",
    ]);
    let one: serde_json::Value = serde_json::from_str(&one).expect("json");
    assert_eq!(
        one["h_in_groups"].as_array().map(Vec::len),
        Some(3),
        "{one}"
    );
    assert_eq!(
        one["h_out"], report["chunks"][2]["h_out"],
        "{one}\n{report}"
    );
    // The outputs are the forward pass's of the model as given (before the split).
    let m = Model::load(&model()).expect("model");
    let want = m
        .forward(&TensorFile::load(&input()).expect("input"))
        .expect("forward");
    let outs: Vec<i64> = report["public_outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .map(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|x| x.parse().ok()))
                .expect("an integer")
        })
        .collect();
    assert_eq!(outs, want.outputs().tensors()[0].1.data());
    assert_eq!(
        TensorFile::load(&g.dir.join("b/outputs.msgpack")).expect("outputs"),
        *want.outputs()
    );
    // merkle's root is verify-all's: the join chunk's leaf binds its three input commitments.
    let m_out = ok(&["merkle", s(&proofs)]);
    let root = report["root"].as_str().expect("root");
    assert!(m_out.contains(root), "{m_out} vs {root}");
    assert_eq!(
        report["chunks"][2]["more_inputs"].as_array().map(Vec::len),
        Some(2)
    );

    // A missing part.
    let missing = g.dir.join("missing");
    copy_dir(&proofs, &missing);
    std::fs::remove_file(missing.join("chunk-1.proof")).expect("rm");
    g.rejected(&missing, "chunk 1: missing");

    // Two parts swapped.
    let swapped = g.dir.join("swapped");
    copy_dir(&proofs, &swapped);
    std::fs::rename(swapped.join("chunk-0.proof"), swapped.join("tmp")).expect("mv");
    std::fs::rename(swapped.join("chunk-1.proof"), swapped.join("chunk-0.proof")).expect("mv");
    std::fs::rename(swapped.join("tmp"), swapped.join("chunk-1.proof")).expect("mv");
    g.rejected(&swapped, "holds the proof of chunk");

    // A part from another run: the same model partitioned at --max-k 12 with the output hashed, so another plan.
    let other = g.dir.join("other-run");
    ok(&[
        "partition",
        s(&model()),
        "--max-k",
        "12",
        "--hashed-output",
        "-o",
        s(&other),
    ]);
    ok(&["keygen", s(&other), "--params", s(&g.params())]);
    ok(&[
        "boundaries",
        s(&other),
        "--input",
        s(&input()),
        "-o",
        s(&g.dir.join("other-b")),
    ]);
    let other_proofs = g.dir.join("other-proofs");
    let o = dzk(&[
        "prove-chunk",
        s(&other),
        "--chunk",
        "1",
        "--input",
        s(&g.dir.join("other-b/boundary-0.dzk")),
        "--params",
        s(&g.params()),
        "-o",
        s(&other_proofs),
    ]);
    assert!(o.status.success(), "{}", err(&o));
    let foreign = g.dir.join("foreign");
    copy_dir(&proofs, &foreign);
    std::fs::copy(
        other_proofs.join("chunk-1.proof"),
        foreign.join("chunk-1.proof"),
    )
    .expect("cp");
    g.rejected(&foreign, "another plan");

    // An edge whose commitments differ: part 1 proven again under a new output salt (no --next); the chunk
    // after it was proven from the old file. The message names the edge and the repair.
    let resalted = g.dir.join("resalted");
    copy_dir(&proofs, &resalted);
    let o = dzk(&[
        "prove-chunk",
        s(&g.run()),
        "--chunk",
        "1",
        "--input",
        s(&g.boundary("b", 0)),
        "--params",
        s(&g.params()),
        "-o",
        s(&resalted),
        "--force",
    ]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        err(&o).contains("[2]"),
        "the warning names the readers: {}",
        err(&o)
    );
    g.rejected(&resalted, "cut 2: chunk 1's output commitment differs from chunk 2's input commitment, and so do their salts");

    // A consumer proven from other values than its producer wrote: part 0's boundary file with one value
    // changed (its salt kept) proves (the join chunk cannot tell), but its input commitment is not part 0's.
    let tampered_b = g.dir.join("tampered-b");
    copy_dir(&g.dir.join("b"), &tampered_b);
    change_a_boundary_value(&tampered_b.join("boundary-1.dzk"));
    let other_values = g.dir.join("other-values");
    copy_dir(&proofs, &other_values);
    std::fs::remove_file(other_values.join("chunk-2.proof")).expect("rm");
    let o = g.prove(2, "tampered-b", &other_values, &[]);
    assert!(o.status.success(), "{}", err(&o));
    g.rejected(&other_values, "cut 1: chunk 0's output commitment differs from chunk 2's input commitment (proven from different activations)");

    // Readers of the model's inputs under different salts: part 0 proven from the second set of boundaries.
    let two_salts = g.dir.join("two-salts");
    copy_dir(&proofs, &two_salts);
    std::fs::remove_file(two_salts.join("chunk-0.proof")).expect("rm");
    let o = dzk(&[
        "prove-chunk",
        s(&g.run()),
        "--chunk",
        "0",
        "--input",
        s(&g.boundary("b2", 0)),
        "--next",
        s(&g.boundary("b", 1)),
        "--params",
        s(&g.params()),
        "-o",
        s(&two_salts),
    ]);
    assert!(o.status.success(), "{}", err(&o));
    g.rejected(&two_salts, "both read the model's inputs but commit to");
}

#[test]
fn a_graph_chunk_refuses_inputs_that_are_not_its_boundaries() {
    let g = graph();
    let scratch = g.dir.join("scratch");
    let run = g.run();
    let try_inputs = |inputs: &[&Path]| {
        let mut args = vec![
            "prove-chunk".to_string(),
            s(&run).into(),
            "--chunk".into(),
            "2".into(),
        ];
        for i in inputs {
            args.extend(["--input".into(), s(i).into()]);
        }
        args.extend([
            "--params".into(),
            s(&g.params()).into(),
            "-o".into(),
            s(&scratch).into(),
        ]);
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        dzk(&a)
    };
    // One boundary missing, one given twice, and the plain input file where several chunks read the inputs.
    let (b0, b1, b2) = (g.boundary("b", 0), g.boundary("b", 1), g.boundary("b", 2));
    for (inputs, needle) in [
        (
            vec![b0.as_path(), b1.as_path()],
            "reads boundaries [0, 1, 2]",
        ),
        (
            vec![b0.as_path(), b1.as_path(), b1.as_path()],
            "given 2 times",
        ),
        (
            vec![input().as_path(), b1.as_path(), b2.as_path()],
            "must share one salt",
        ),
    ] {
        let o = try_inputs(&inputs);
        assert_eq!(o.status.code(), Some(2), "{}", err(&o));
        assert!(err(&o).contains(needle), "{needle}: {}", err(&o));
        assert!(!scratch.join("chunk-2.proof").exists());
    }
    // A part given the wrong output file as --next.
    let o = dzk(&[
        "prove-chunk",
        s(&run),
        "--chunk",
        "0",
        "--input",
        s(&b0),
        "--next",
        s(&b2),
        "--params",
        s(&g.params()),
        "-o",
        s(&scratch),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("boundary-2.dzk"), "{}", err(&o));
    // `dzk prove` runs the whole graph on one machine and verifies.
    let all = g.dir.join("all");
    ok(&[
        "prove",
        s(&run),
        "--input",
        s(&input()),
        "--params",
        s(&g.params()),
        "-o",
        s(&all),
    ]);
    let (code, out, e) = g.verify(&all);
    assert_eq!(code, 0, "{out}\n{e}");
}

/// A graph-shaped run aggregated into one proof (one node over every chunk: the circuit constrains every edge and
/// recomputes each leaf over all of a chunk's input commitments), verified with `verify-all --aggregate`; a tree
/// over it is refused, and so is a run with a broken edge (before any proving).
#[test]
#[ignore = "an aggregation at k = 18 (minutes on a 2-core machine): run by `cargo xtask slow`"]
fn a_graph_shaped_run_aggregates_into_one_proof() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let (run, params, b, proofs) = (
        dir.join("run"),
        dir.join("params"),
        dir.join("b"),
        dir.join("proofs"),
    );
    ok(&["partition", s(&model()), "--max-k", "12", "-o", s(&run)]);
    ok(&["setup", "--k", "18", "-o", s(&params)]);
    ok(&["keygen", s(&run), "--params", s(&params)]);
    ok(&["boundaries", s(&run), "--input", s(&input()), "-o", s(&b)]);
    ok(&[
        "prove",
        s(&run),
        "--input",
        s(&b.join("boundary-0.dzk")),
        "--params",
        s(&params),
        "-o",
        s(&proofs),
    ]);
    // A tree over a graph-shaped run is refused with the reason.
    let o = dzk(&[
        "aggregate",
        s(&proofs),
        "--run",
        s(&run),
        "--params",
        s(&params),
        "--group",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("not through a tree"), "{}", err(&o));
    let out = ok(&[
        "aggregate",
        s(&proofs),
        "--run",
        s(&run),
        "--params",
        s(&params),
        "--json",
    ]);
    let made: serde_json::Value = serde_json::from_str(&out).expect("json");
    let report = ok(&[
        "verify-all",
        s(&proofs),
        "--run",
        s(&run),
        "--params",
        s(&params),
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&report).expect("json");
    let o = dzk(&[
        "verify-all",
        "--aggregate",
        s(&proofs.join("aggregate.dzk")),
        "--run",
        s(&run),
        "--params",
        s(&params),
        "--rebuild-vk",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", err(&o), made);
    let agg: serde_json::Value = serde_json::from_slice(&o.stdout).expect("aggregate verdict json");
    assert_eq!(agg["verdict"], "valid", "{agg}");
    // The aggregated proof states the run's Merkle root (every chunk's leaf over all its input commitments).
    assert_eq!(agg["root"], report["root"], "{agg}\n{report}");
    assert_eq!(agg["public_outputs"], report["public_outputs"], "{agg}");
}
