//! `partition --max-k K` answers with a plan whose every chunk fits `2^K` rows for the shipped models and the
//! synthesised transformers, from the smallest `K` each reaches today (issue 20 asks for 16 and up: every one does;
//! CLIP at 16 splits its attention softmaxes by rows). About an hour on a 2-core machine: run by
//! `cargo xtask slow`.

use std::path::Path;

use serde_json::Value;

mod common;
use common::{dzk, err, ok, repo, s};

/// `partition MODEL --max-k K --json` into `run`: every chunk's `k` is at most `K`.
fn fits(model: &Path, k: u32, run: &Path) {
    let o = dzk(&[
        "partition",
        s(model),
        "--max-k",
        &k.to_string(),
        "-o",
        s(run),
        "--json",
    ]);
    assert!(
        o.status.success(),
        "{} at --max-k {k}: {}",
        model.display(),
        err(&o)
    );
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    let chunks = v["chunks"].as_array().expect("chunks");
    for c in chunks {
        let ck = c["k"].as_u64().expect("k");
        assert!(
            ck <= u64::from(k),
            "{} at --max-k {k}: chunk with k = {ck}",
            model.display()
        );
    }
}

#[test]
#[ignore = "partitions GPT-2, CLIP and Twitter at several bounds (about 45 minutes on a 2-core machine): run by `cargo xtask slow`"]
fn every_model_partitions_within_every_bound_it_reaches() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let zkml = repo().join("../shared/models/zkml");
    for (model, from) in [
        (zkml.join("mnist/model.msgpack"), 11),
        (repo().join("testdata/models/digits_cnn.msgpack"), 16),
    ] {
        for k in from..=20 {
            fits(&model, k, &d.join(format!("run-{k}")));
        }
    }
    for (name, input, from) in [
        ("twitter", "inp1.msgpack", 16),
        ("clip", "inp.msgpack", 16),
        ("gpt-2", "inp.msgpack", 16),
    ] {
        let model = d.join(format!("{name}.msgpack"));
        ok(&[
            "synth",
            s(&zkml.join(name).join("config.msgpack")),
            "--seed",
            "7",
            "--input",
            s(&zkml.join(name).join(input)),
            "-o",
            s(&model),
        ]);
        for k in from..=20 {
            fits(&model, k, &d.join(format!("{name}-{k}")));
            std::fs::remove_dir_all(d.join(format!("{name}-{k}"))).expect("rm");
        }
    }
}
