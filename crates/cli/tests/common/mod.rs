//! What the binary's test files share: paths of the shipped files and running `dzk`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shipped digits CNN.
pub fn digits_model() -> PathBuf {
    repo().join("testdata/models/digits_cnn.msgpack")
}

/// Shipped input `i` of the digits CNN.
pub fn digits_input(i: usize) -> PathBuf {
    repo().join(format!("testdata/inputs/digits_{i}.msgpack"))
}

/// Runs `dzk` with `args`, its caches under the test target directory (not the user's home).
pub fn dzk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dzk"))
        .args(args)
        .env(
            "DZK_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("dzk-cache"),
        )
        .output()
        .expect("run dzk")
}

/// A path as `&str`.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Runs `dzk` with `args`, which must succeed, and returns its stdout.
pub fn ok(args: &[&str]) -> String {
    let o = dzk(args);
    assert!(
        o.status.success(),
        "dzk {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A finished command's stderr, as text.
pub fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `dzk verify-all PROOFS --run RUN --params PARAMS --json`: its exit code, its report (`Null` when it printed
/// none) and its stderr.
pub fn verify(run: &Path, params: &Path, proofs: &Path) -> (i32, serde_json::Value, String) {
    let o = dzk(&[
        "verify-all",
        s(proofs),
        "--run",
        s(run),
        "--params",
        s(params),
        "--json",
    ]);
    let v = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    (o.status.code().unwrap_or(-1), v, err(&o))
}

/// `dzk prove-chunk` for each of chunks `0..chunks` of `run` from `dzk boundaries`' files in `b`, into `proofs`, as
/// separate machines would.
pub fn prove_each_chunk(run: &Path, b: &Path, params: &Path, proofs: &Path, chunks: usize) {
    for i in 0..chunks {
        ok(&[
            "prove-chunk",
            s(run),
            "--chunk",
            &i.to_string(),
            "--boundaries",
            s(b),
            "--params",
            s(params),
            "-o",
            s(proofs),
        ]);
    }
}

/// `dzk verify-all` of `proofs` says VALID (exit 0) and states `dzk forward`'s outputs of `model` on `input`.
pub fn assert_valid_with_outputs(
    run: &Path,
    params: &Path,
    proofs: &Path,
    (model, input): (&Path, &Path),
) {
    let (code, report, e) = verify(run, params, proofs);
    assert_eq!(code, 0, "{report}\n{e}");
    assert_eq!(report["verdict"], "valid", "{report}");
    assert_eq!(stated_outputs(&report), forward_outputs(model, input));
}

/// The boundaries a chunk of `partition --json`'s `chunks` reads.
pub fn chunk_reads(c: &serde_json::Value) -> Vec<u64> {
    c["reads"]
        .as_array()
        .expect("reads")
        .iter()
        .map(|b| b.as_u64().expect("boundary"))
        .collect()
}

/// The public outputs a `verify-all --json` report states (numbers, or strings for values past 64 bits).
pub fn stated_outputs(report: &serde_json::Value) -> Vec<i64> {
    report["public_outputs"]
        .as_array()
        .expect("public outputs")
        .iter()
        .map(|x| {
            x.as_str()
                .and_then(|s| s.parse().ok())
                .or(x.as_i64())
                .expect("integer")
        })
        .collect()
}

/// Writes zkml model `m` and its input file `input` (JSON values) to `dir` as `{stem}.msgpack` and
/// `{stem}-in.msgpack`; returns their paths.
pub fn write_model(
    dir: &Path,
    stem: &str,
    m: &serde_json::Value,
    input: &serde_json::Value,
) -> (PathBuf, PathBuf) {
    let (mp, ip) = (
        dir.join(format!("{stem}.msgpack")),
        dir.join(format!("{stem}-in.msgpack")),
    );
    std::fs::write(&mp, rmp_serde::to_vec_named(m).expect("encode")).expect("write");
    std::fs::write(&ip, rmp_serde::to_vec_named(input).expect("encode")).expect("write");
    (mp, ip)
}

/// The first output of `model` on `input` as `dzk forward` computes it.
pub fn forward_outputs(model: &Path, input: &Path) -> Vec<i64> {
    let v: serde_json::Value =
        serde_json::from_str(&ok(&["forward", s(model), s(input), "--json"]))
            .expect("forward json");
    v["outputs"][0]["data"]
        .as_array()
        .expect("outputs")
        .iter()
        .map(|x| x.as_i64().expect("integer"))
        .collect()
}

/// `dzk boundaries` of `run` on `input` into `out`: the model's outputs it wrote (`outputs.msgpack`), flat.
pub fn boundaries_outputs(run: &Path, input: &Path, out: &Path) -> Vec<i64> {
    ok(&["boundaries", s(run), "--input", s(input), "-o", s(out)]);
    dzk_ir::TensorFile::load(&out.join("outputs.msgpack"))
        .expect("outputs")
        .tensors()
        .iter()
        .flat_map(|(_, t)| t.data().to_vec())
        .collect()
}

/// Copies the files (not the folders) of `from` into `to`, which it makes.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        if e.path().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    }
}

/// Rewrites boundary file `f` with its first tensor's first value changed, its salt and header kept: what a
/// consumer proven "from other values than its producer wrote" reads.
pub fn change_a_boundary_value(f: &Path) {
    use dzk_format::{Envelope, Kind};
    use dzk_ir::TensorFile;
    let env = Envelope::decode(&std::fs::read(f).expect("read"), Kind::Boundary).expect("boundary");
    let t = TensorFile::from_msgpack(&env.body, "b").expect("tensors");
    let (idx, first) = t.tensors()[0].clone();
    let mut data = first.data().to_vec();
    data[0] += 1;
    let changed = TensorFile::new(vec![(
        idx,
        dzk_ir::Tensor::new(first.shape().to_vec(), data).expect("tensor"),
    )])
    .expect("file");
    let mut env2 = Envelope::new(Kind::Boundary, "zkml-msgpack", changed.to_msgpack());
    env2.header.plan_digest = env.header.plan_digest.clone();
    env2.header.chunk_index = env.header.chunk_index;
    env2.header.params = env.header.params.clone();
    std::fs::write(f, env2.encode()).expect("write");
}
