//! The pipeline end to end through the `dzk` binary, as machines and auditors run it: partition, setup,
//! keygen, prove-chunk (chained through `--emit-output`), merkle, verify-all; and every way a run can be
//! wrong, each rejected (exit 1) with its own reason.

use std::path::{Path, PathBuf};
use std::process::Output;

use dzk_format::{Envelope, Kind};
use dzk_ir::{Model, TensorFile};

mod common;
use common::{copy_dir, digits_input, digits_model, dzk, ok, repo, s};

/// A run directory, an SRS, a proofs directory.
struct Run {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Run {
    fn run(&self) -> PathBuf {
        self.dir.join("run")
    }
    fn params(&self) -> PathBuf {
        self.dir.join("params")
    }
    fn proofs(&self) -> PathBuf {
        self.dir.join("proofs")
    }
    fn chunks(&self) -> usize {
        dzk_verifier::audit::read_plan(&self.run())
            .expect("plan")
            .chunks
            .len()
    }

    /// Partitions `model` into `n` chunks, makes a dev SRS and the keys.
    fn new(model: &Path, n: usize) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let r = Run { _tmp: tmp, dir };
        let n = n.to_string();
        ok(&["partition", s(model), "--chunks", &n, "-o", s(&r.run())]);
        let plan = dzk_verifier::audit::read_plan(&r.run()).expect("plan");
        let k = plan.chunks.iter().map(|c| c.k).max().expect("chunks");
        ok(&["setup", "--k", &k.to_string(), "-o", s(&r.params())]);
        ok(&["keygen", s(&r.run()), "--params", s(&r.params())]);
        r
    }

    /// Proves chunk `i` from `input` into `proofs`, emitting the next input to `emit`.
    fn prove_chunk(&self, i: usize, input: &Path, proofs: &Path, emit: &Path) -> Output {
        dzk(&[
            "prove-chunk",
            s(&self.run()),
            "--chunk",
            &i.to_string(),
            "--input",
            s(input),
            "--params",
            s(&self.params()),
            "-o",
            s(proofs),
            "--emit-output",
            s(emit),
        ])
    }

    /// Proves every chunk as separate machines would, chained through boundary files; returns the model
    /// outputs the last chunk emitted.
    fn prove_all(&self, input: &Path, proofs: &Path) -> TensorFile {
        let mut cur = input.to_path_buf();
        for i in 0..self.chunks() {
            let emit = self.dir.join(format!(
                "{}-boundary-{}.dzk",
                proofs.display().to_string().len(),
                i + 1
            ));
            let o = self.prove_chunk(i, &cur, proofs, &emit);
            assert!(
                o.status.success(),
                "chunk {i}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            cur = emit;
        }
        TensorFile::load(&cur).expect("the last chunk emits the model outputs")
    }

    fn verify(&self, extra: &[&str]) -> (i32, String, String) {
        let mut args = vec![
            "verify-all",
            s(&self.proofs()).to_owned().leak() as &str,
            "--run",
            s(&self.run()).to_owned().leak(),
            "--params",
            s(&self.params()).to_owned().leak(),
        ];
        args.extend_from_slice(extra);
        let o = dzk(&args);
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }
}

fn assert_valid(r: &Run) {
    let (code, out, err) = r.verify(&[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("VALID"), "{out}");
}

fn assert_rejected(r: &Run, extra: &[&str], reason: &str) {
    let (code, out, err) = r.verify(extra);
    assert_eq!(
        code, 1,
        "expected a rejection mentioning {reason:?}\n{out}\n{err}"
    );
    assert!(
        err.contains(reason),
        "the rejection does not say {reason:?}: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

fn forward(model: &Path, input: &Path) -> TensorFile {
    let m = Model::load(model).expect("model");
    m.forward(&TensorFile::load(input).expect("input"))
        .expect("forward")
        .outputs()
        .clone()
}

#[test]
fn digits_model_in_1_2_and_4_chunks_proves_and_verifies() {
    for n in [1, 2, 4] {
        let r = Run::new(&digits_model(), n);
        assert_eq!(r.chunks(), n);
        let out = r.prove_all(&digits_input(5), &r.proofs());
        assert_eq!(
            out,
            forward(&digits_model(), &digits_input(5)),
            "{n} chunks"
        );
        ok(&["merkle", s(&r.proofs())]);
        assert_valid(&r);
    }
}

/// MNIST as one chunk, and with `--chunks 4`: its first convolution, with the pooling and per-channel scales
/// after it, split across chunks by output channels (a chain cannot put fewer than 2^14 rows in its first chunk;
/// the split plan needs 2^13 in every chunk, in 3 chunks).
#[test]
fn mnist_in_one_chunk_and_split_across_chunks_proves_and_verifies() {
    let z = repo().join("../shared/models/zkml/mnist");
    let (model, input) = (z.join("model.msgpack"), z.join("inp.msgpack"));
    let want = forward(&model, &input);
    let mut one_k = 0;
    for n in [1, 4] {
        let r = Run::new(&model, n);
        let plan = dzk_verifier::audit::read_plan(&r.run()).expect("plan");
        let k = plan.chunks.iter().map(|c| c.k).max().expect("k");
        if n == 1 {
            one_k = k;
        } else {
            assert_eq!(plan.split_layers.len(), 1, "{:?}", plan.split_layers);
            let split = plan.split_layers[0];
            assert_eq!((split.layer, split.tail), (0, 3), "{split:?}");
            assert!(plan.chunks.len() <= n && plan.is_graph());
            assert!(k < one_k, "largest chunk k = {k}, one chunk k = {one_k}");
            // The chunk after the parts reads only the parts: the model's input is not needed after them.
            let join = &plan.chunks[split.parts];
            assert_eq!(join.sources, (1..=split.parts as u32).collect::<Vec<_>>());
        }
        let emit = r.dir.join("out.msgpack");
        ok(&[
            "prove",
            s(&r.run()),
            "--input",
            s(&input),
            "--params",
            s(&r.params()),
            "-o",
            s(&r.proofs()),
            "--emit-output",
            s(&emit),
        ]);
        assert_eq!(
            TensorFile::load(&emit).expect("outputs"),
            want,
            "{n} chunks"
        );
        ok(&["merkle", s(&r.proofs())]);
        let (code, out, err) = r.verify(&["--json"]);
        assert_eq!(code, 0, "{out}\n{err}");
        let report: serde_json::Value = serde_json::from_str(&out).expect("json report");
        assert_eq!(report["verdict"], "valid");
        // zkml's reference logits, published by the last chunk.
        assert_eq!(
            report["public_outputs"],
            serde_json::json!([-5312, -8056, -8186, -1669, -4260, 6614, -5131, -6862, -3047, -805])
        );
    }
}

/// A fresh copy of the valid proofs, for one attack.
fn attack(r: &Run, name: &str, f: impl FnOnce(&Path)) -> Run {
    let dir = r.dir.join(format!("attack-{name}"));
    copy_dir(&r.proofs(), &dir.join("proofs"));
    // The attack run shares the honest run's plan, keys and SRS.
    for sub in ["run", "params"] {
        copy_dir(&r.dir.join(sub), &dir.join(sub));
    }
    f(&dir.join("proofs"));
    Run {
        _tmp: tempfile::tempdir().expect("tempdir"),
        dir,
    }
}

#[test]
fn every_kind_of_wrong_run_is_rejected_with_its_own_reason() {
    let r = Run::new(&digits_model(), 3);
    assert_eq!(r.chunks(), 3);
    r.prove_all(&digits_input(2), &r.proofs());
    ok(&["merkle", s(&r.proofs())]);
    assert_valid(&r);
    let proof = |p: &Path, i: usize| p.join(format!("chunk-{i}.proof"));

    // Root pinning: without --root the root is checked only against the prover's merkle.dzk, and the report
    // says so; with it, pinned; --require-root rejects an unpinned run.
    let (code, out, _) = r.verify(&[]);
    assert_eq!(code, 0);
    assert!(
        out.contains("NOT pinned: checked only against merkle.dzk"),
        "{out}"
    );
    let (_, out, _) = r.verify(&["--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(report["root_pinned"], false);
    assert_eq!(report["root_checked_against"], "merkle.dzk");
    let root = report["root"].as_str().expect("root").to_string();
    let (code, out, err) = r.verify(&["--root", &root, "--require-root", "--json"]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(report["root_pinned"], true);
    assert_eq!(report["root_checked_against"], "--root");
    let (_, out, _) = r.verify(&["--root", root.trim_start_matches("0x")]);
    assert!(out.contains("pinned: equals the --root given"), "{out}");
    assert_rejected(&r, &["--require-root"], "no --root given");
    // A root that is no root: a usage error (exit 2) saying why.
    let (code, _, err) = r.verify(&["--root", "0x1234"]);
    assert_eq!(code, 2);
    assert!(err.contains("a root is 64 hex digits"), "{err}");
    let (code, _, err) = r.verify(&["--root", &"ff".repeat(32)]);
    assert_eq!(code, 2);
    assert!(err.contains("not a field element"), "{err}");
    srs_identity(&r);
    inspect_reads_dzk_files(&r);
    auditors_kit(&r, &root);

    // Re-running a finished chunk skips it (re-proving would draw a new output salt and break the link to
    // the next chunk, so only --force proves again).
    let o = dzk(&[
        "prove-chunk",
        s(&r.run()),
        "--chunk",
        "0",
        "--input",
        s(&digits_input(2)),
        "--params",
        s(&r.params()),
        "-o",
        s(&r.proofs()),
    ]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("keeping it"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // A flipped byte: the envelope's digest catches it...
    let a = attack(&r, "flip", |p| {
        let mut b = std::fs::read(proof(p, 1)).expect("read");
        let at = b.len() - 40;
        b[at] ^= 1;
        std::fs::write(proof(p, 1), b).expect("write");
    });
    assert_rejected(&a, &[], "digest");
    // ...and with the digest recomputed, the proof itself does not verify.
    let a = attack(&r, "flip-resealed", |p| {
        let b = std::fs::read(proof(p, 1)).expect("read");
        let mut env = Envelope::decode(&b, Kind::ChunkProof).expect("decode");
        let at = env.body.len() / 2;
        env.body[at] ^= 1;
        let header = env.header.clone();
        let mut resealed = Envelope::new(Kind::ChunkProof, &header.body_encoding, env.body);
        resealed.header.plan_digest = header.plan_digest;
        resealed.header.chunk_index = header.chunk_index;
        resealed.header.params = header.params;
        std::fs::write(proof(p, 1), resealed.encode()).expect("write");
    });
    assert_rejected(&a, &[], "chunk 1: the proof does not verify");
    // Two chunk files swapped.
    let a = attack(&r, "swap", |p| {
        std::fs::rename(proof(p, 0), p.join("tmp")).expect("mv");
        std::fs::rename(proof(p, 1), proof(p, 0)).expect("mv");
        std::fs::rename(p.join("tmp"), proof(p, 1)).expect("mv");
    });
    assert_rejected(&a, &[], "chunk-0.proof holds the proof of chunk 1");
    // A missing chunk.
    let a = attack(&r, "missing", |p| {
        std::fs::remove_file(proof(p, 2)).expect("rm")
    });
    assert_rejected(&a, &[], "chunk 2: missing");
    // A duplicated chunk.
    let a = attack(&r, "dup", |p| {
        std::fs::copy(proof(p, 1), p.join("chunk-1-copy.proof")).expect("cp");
    });
    assert_rejected(&a, &[], "chunk 1 appears 2 times");
    // A truncated file.
    let a = attack(&r, "trunc", |p| {
        let b = std::fs::read(proof(p, 0)).expect("read");
        std::fs::write(proof(p, 0), &b[..b.len() / 3]).expect("write");
    });
    assert_rejected(&a, &[], "chunk-0.proof");
    // A file of the wrong kind, and a future format version.
    let a = attack(&r, "kind", |p| {
        std::fs::copy(r.run().join("chunk-0.vk"), proof(p, 0)).expect("cp");
    });
    assert_rejected(&a, &[], "this is a verifying key, not a chunk proof");
    let a = attack(&r, "version", |p| {
        let mut b = std::fs::read(proof(p, 0)).expect("read");
        b[8] = 2;
        std::fs::write(proof(p, 0), b).expect("write");
    });
    assert_rejected(&a, &[], "chunk proof is format v2");
    // A wrong published root.
    let wrong = format!("0x{}", "0".repeat(63) + "1");
    assert_rejected(&r, &["--root", &wrong], "is not the --root given");

    // Chunk 2 proven from a different input than chunk 1 produced: another machine ran chunks 0 and 1 on
    // another image and chunk 2 took its boundary.
    let other = r.dir.join("other-proofs");
    let b1 = r.dir.join("other-b1.dzk");
    let b2 = r.dir.join("other-b2.dzk");
    assert!(r
        .prove_chunk(0, &digits_input(7), &other, &b1)
        .status
        .success());
    assert!(r.prove_chunk(1, &b1, &other, &b2).status.success());
    let a = attack(&r, "link", |p| {
        let out = r.dir.join("other-out.msgpack");
        // A valid proof of chunk 2 is already there, so this keeps it; --force below replaces it.
        let _ = r.prove_chunk(2, &b2, p, &out);
    });
    // prove-chunk skipped chunk 2 (a valid proof was there); force it.
    let o = dzk(&[
        "prove-chunk",
        s(&r.run()),
        "--chunk",
        "2",
        "--input",
        s(&b2),
        "--params",
        s(&r.params()),
        "-o",
        s(&a.proofs()),
        "--force",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::remove_file(a.proofs().join("merkle.dzk")).expect("rm merkle");
    assert_rejected(&a, &[], "cut 2: chunk 1's output commitment differs");

    // Proofs from two runs mixed, and a verifying key from another plan.
    let r2 = Run::new(&digits_model(), 2);
    r2.prove_all(&digits_input(2), &r2.proofs());
    let a = attack(&r, "mixed", |p| {
        std::fs::copy(r2.proofs().join("chunk-1.proof"), proof(p, 1)).expect("cp");
    });
    assert_rejected(&a, &[], "chunk-1.proof: made for another plan");
    let a = attack(&r, "vk", |_| {});
    // (The other plan's chunk 0 covers the same layers, so its vk is byte-identical and harmless; its chunk 1
    // is another circuit.)
    std::fs::copy(r2.run().join("chunk-1.vk"), a.run().join("chunk-0.vk")).expect("cp");
    assert_rejected(
        &a,
        &[],
        "chunk-0.vk is not the verifying key the plan records",
    );

    // The untouched copy still verifies (the attacks above fail for their own reasons, not the copying).
    let (code, _, err) = attack(&r, "untouched", |_| {}).verify(&[]);
    assert_eq!(code, 0, "{err}");
    // A missing run directory is unreadable input: exit 2, not a rejection.
    let o = dzk(&[
        "verify-all",
        s(&r.proofs()),
        "--run",
        "/nonexistent/run",
        "--params",
        s(&r.params()),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/run/plan.dzk"));
}

/// `dzk export-verifier RUN --params PARAMS -o KIT` with `extra` arguments: the command's output.
fn export_kit(run: &Path, params: &Path, kit: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "export-verifier",
        s(run),
        "--params",
        s(params),
        "-o",
        s(kit),
    ];
    args.extend_from_slice(extra);
    dzk(&args)
}

/// [`export_kit`], which must succeed: its stdout.
fn export_kit_ok(run: &Path, params: &Path, kit: &Path, extra: &[&str]) -> String {
    let o = export_kit(run, params, kit, extra);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The auditor's kit: kilobytes that verify the run without the run directory or the SRS, pin the root they
/// carry, and refuse to be used when damaged; `dzk verify` checks one proof with it.
fn auditors_kit(r: &Run, root: &str) {
    let kit = r.dir.join("kit");
    let made: serde_json::Value = serde_json::from_str(&export_kit_ok(
        &r.run(),
        &r.params(),
        &kit,
        &["--root", root, "--json"],
    ))
    .expect("json");
    assert!(made["bytes"].as_u64().expect("bytes") < 64 * 1024, "{made}");
    // The kit alone: no run directory, no SRS on the auditor's side.
    let proofs = r.proofs();
    let verify_kit = |kit: &Path, extra: &[&str]| {
        let mut args = vec!["verify-all", s(&proofs), "--kit", s(kit)];
        args.extend_from_slice(extra);
        let o = dzk(&args);
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, out, err) = verify_kit(&kit, &["--require-root", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(report["verdict"], "valid");
    assert_eq!(report["root_pinned"], true);
    assert_eq!(report["root_checked_against"], "kit");
    let (_, out, _) = verify_kit(&kit, &[]);
    assert!(
        out.contains("pinned: equals the kit's published root"),
        "{out}"
    );
    // One proof.
    let proof0 = r.proofs().join("chunk-0.proof");
    let o = dzk(&["verify", s(&proof0), "--kit", s(&kit)]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("VALID"));
    let o = dzk(&[
        "verify",
        s(&proof0),
        "--run",
        s(&r.run()),
        "--params",
        s(&r.params()),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut bytes = std::fs::read(&proof0).expect("read");
    let at = bytes.len() - 40;
    bytes[at] ^= 1;
    let bent = r.dir.join("bent-chunk-0.proof");
    std::fs::write(&bent, &bytes).expect("write");
    let o = dzk(&["verify", s(&bent), "--kit", s(&kit)]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A kit without the root: valid but not pinned, and --require-root rejects it; another root is refused.
    let bare = r.dir.join("kit-bare");
    export_kit_ok(&r.run(), &r.params(), &bare, &[]);
    let (code, out, _) = verify_kit(&bare, &[]);
    assert_eq!(code, 0);
    assert!(out.contains("NOT pinned"), "{out}");
    let (code, _, err) = verify_kit(&bare, &["--require-root"]);
    assert_eq!(code, 1, "{err}");
    let other_root = format!("0x{}", "0".repeat(63) + "1");
    let (code, _, err) = verify_kit(&kit, &["--root", &other_root]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("differ"), "{err}");
    // A damaged kit is unreadable input (exit 2), naming the file.
    let damaged = r.dir.join("kit-damaged");
    copy_dir(&kit, &damaged);
    let vk = damaged.join("chunk-1.vk");
    let mut bytes = std::fs::read(&vk).expect("read");
    let at = bytes.len() - 5;
    bytes[at] ^= 1;
    std::fs::write(&vk, bytes).expect("write");
    let (code, _, err) = verify_kit(&damaged, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("chunk-1.vk") && err.contains("digest differs"),
        "{err}"
    );
    // Another SRS's points in the manifest: the kit's SRS id check refuses them.
    let swapped = r.dir.join("kit-srs");
    copy_dir(&kit, &swapped);
    let manifest = swapped.join("kit.dzk");
    let env = dzk_format::Envelope::decode(
        &std::fs::read(&manifest).expect("read"),
        dzk_format::Kind::Kit,
    )
    .expect("kit");
    let mut m: dzk_format::run::KitManifest = serde_json::from_slice(&env.body).expect("manifest");
    std::mem::swap(&mut m.srs.g0, &mut m.srs.g1);
    let mut env2 = dzk_format::Envelope::new(
        dzk_format::Kind::Kit,
        "json",
        serde_json::to_vec(&m).expect("json"),
    );
    env2.header.plan_digest = env.header.plan_digest.clone();
    std::fs::write(&manifest, env2.encode()).expect("write");
    let (code, _, err) = verify_kit(&swapped, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("kit.dzk"), "{err}");
    // The kit of another run: its proofs are for another plan.
    let other = Run::new(&digits_model(), 2);
    let other_kit = r.dir.join("kit-other");
    export_kit_ok(&other.run(), &other.params(), &other_kit, &[]);
    let (code, _, err) = verify_kit(&other_kit, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("another plan"), "{err}");
    // The kit is readable by inspect; -o over a directory that is not a kit is refused.
    let out = ok(&["inspect", s(&kit.join("kit.dzk"))]);
    assert!(
        out.starts_with("auditor's kit") && out.contains("4 files"),
        "{out}"
    );
    let o = export_kit(&r.run(), &r.params(), &r.run(), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a kit"));
}

/// `dzk inspect` says what each of dzk's files holds, and refuses a damaged one (exit 2).
fn inspect_reads_dzk_files(r: &Run) {
    let plan = r.run().join("plan.dzk");
    let proof = r.proofs().join("chunk-1.proof");
    for (file, says) in [
        (plan.clone(), "partition plan"),
        (proof.clone(), "chunk proof"),
        (r.run().join("chunk-0.vk"), "verifying key"),
        (r.proofs().join("merkle.dzk"), "Merkle file"),
    ] {
        let out = ok(&["inspect", s(&file)]);
        assert!(out.starts_with(says), "{out}");
        let v: serde_json::Value =
            serde_json::from_str(&ok(&["inspect", s(&file), "--json"])).expect("json");
        assert_eq!(v["kind"], says);
    }
    let out = ok(&["inspect", s(&plan)]);
    assert!(out.contains("3 chunks, 3 keyed, SRS id"), "{out}");
    let out = ok(&["inspect", s(&proof)]);
    assert!(
        out.contains("h_out 0x") && out.contains("salt fingerprints recorded"),
        "{out}"
    );
    let mut bytes = std::fs::read(&proof).expect("read");
    let at = bytes.len() - 10;
    bytes[at] ^= 1;
    let damaged = r.dir.join("damaged.proof");
    std::fs::write(&damaged, bytes).expect("write");
    let o = dzk(&["inspect", s(&damaged)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("damaged.proof"));
}

/// The SRS's identity: the plan records keygen's; verify-all given another SRS says so, keygen of one chunk
/// with another SRS is refused, and a dev SRS whose setup.json was edited to hide it is still recognised.
fn srs_identity(r: &Run) {
    let plan = dzk_verifier::audit::read_plan(&r.run()).expect("plan");
    assert!(plan.srs_id.is_some(), "keygen records the SRS id");
    let k = plan.chunks.iter().map(|c| c.k).max().expect("chunks");
    let other = r.dir.join("other-params");
    ok(&[
        "setup",
        "--k",
        &k.to_string(),
        "--seed",
        "9",
        "-o",
        s(&other),
    ]);
    let o = dzk(&[
        "verify-all",
        s(&r.proofs()),
        "--run",
        s(&r.run()),
        "--params",
        s(&other),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("is not the one the run's keys were made with"),
        "{err}"
    );
    let o = dzk(&["keygen", s(&r.run()), "--params", s(&other), "--chunk", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("other keys were made with another SRS"));
    // A dev SRS relabelled as a ceremony's in setup.json: recognised by its points.
    let hidden = r.dir.join("hidden-params");
    copy_dir(&r.params(), &hidden);
    let info = hidden.join("setup.json");
    let mut setup: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&info).expect("read")).expect("json");
    setup["insecure_dev_seed"] = serde_json::Value::Null;
    setup["source"] = "perpetual-powers-of-tau".into();
    std::fs::write(&info, serde_json::to_vec(&setup).expect("json")).expect("write");
    let o = dzk(&[
        "verify-all",
        s(&r.proofs()),
        "--run",
        s(&r.run()),
        "--params",
        s(&hidden),
        "--json",
    ]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("INSECURE"));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(report["insecure_setup"], true);
}

#[test]
fn inclusion_paths_verify_and_a_changed_sibling_does_not() {
    let r = Run::new(&digits_model(), 2);
    r.prove_all(&digits_input(1), &r.proofs());
    let paths = r.dir.join("paths");
    let out = ok(&["merkle", s(&r.proofs()), "--paths", s(&paths), "--json"]);
    let m: serde_json::Value = serde_json::from_str(&out).expect("json");
    let root = m["root"].as_str().expect("root").to_string();
    for i in 0..2 {
        let p = paths.join(format!("chunk-{i}.path.json"));
        ok(&["merkle", "--check-path", s(&p), "--root", &root]);
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).expect("read")).expect("json");
        v["path"]["siblings"][0] = serde_json::json!(format!("0x{}", "0".repeat(63) + "2"));
        let bad = r.dir.join(format!("bad-{i}.json"));
        std::fs::write(&bad, v.to_string()).expect("write");
        let o = dzk(&["merkle", "--check-path", s(&bad), "--root", &root]);
        assert_eq!(o.status.code(), Some(1));
    }
}

#[test]
fn boundaries_ahead_let_chunks_be_proven_in_any_order() {
    let r = Run::new(&digits_model(), 3);
    let b = r.dir.join("boundaries");
    ok(&[
        "boundaries",
        s(&r.run()),
        "--input",
        s(&digits_input(4)),
        "-o",
        s(&b),
    ]);
    let file = |i: usize| b.join(format!("boundary-{i}.dzk"));
    for i in [2usize, 0, 1] {
        let mut args = vec![
            "prove-chunk".to_string(),
            s(&r.run()).into(),
            "--chunk".into(),
            i.to_string(),
            "--input".into(),
            s(&file(i)).into(),
            "--params".into(),
            s(&r.params()).into(),
            "-o".into(),
            s(&r.proofs()).into(),
        ];
        if i < 2 {
            args.extend(["--next".to_string(), s(&file(i + 1)).into()]);
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&a);
    }
    assert_valid(&r);
    assert_eq!(
        TensorFile::load(&b.join("outputs.msgpack")).expect("outputs"),
        forward(&digits_model(), &digits_input(4))
    );
    // A --next file of another cut is refused (exit 2, naming the file).
    let o = dzk(&[
        "prove-chunk",
        s(&r.run()),
        "--chunk",
        "0",
        "--input",
        s(&file(0)),
        "--next",
        s(&file(2)),
        "--params",
        s(&r.params()),
        "-o",
        s(&r.dir.join("other")),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("boundary-2.dzk"));
    safe_re_runs(&r, &file(0), &file(1));
}

/// On a valid run proven from `dzk boundaries`' files: a machine without the chunk's `.vk` keeps a valid proof;
/// `--force` says what it breaks, verify-all and merkle explain the broken link (salts, not activations) and
/// give the repair, which works; `partition` will not write over a keyed run without `--force`.
fn safe_re_runs(r: &Run, input0: &Path, boundary1: &Path) {
    let (run, params, proofs) = (r.run(), r.params(), r.proofs());
    let prove0 = |extra: &[&str]| {
        let mut args = vec![
            "prove-chunk",
            s(&run),
            "--chunk",
            "0",
            "--input",
            s(input0),
            "--params",
            s(&params),
            "-o",
            s(&proofs),
        ];
        args.extend_from_slice(extra);
        let o = dzk(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let proof0 = r.proofs().join("chunk-0.proof");
    let before = std::fs::read(&proof0).expect("proof");
    // No .vk here (README says proving machines need none); the proof is checked with the .pk's key.
    let vk = r.run().join("chunk-0.vk");
    let vk_away = r.dir.join("chunk-0.vk.away");
    std::fs::rename(&vk, &vk_away).expect("mv");
    let err = prove0(&[]);
    assert!(err.contains("keeping it"), "{err}");
    // Neither .vk nor .pk: the key is made from the slice to check the proof.
    let pk = r.run().join("chunk-0.pk");
    let pk_away = r.dir.join("chunk-0.pk.away");
    std::fs::rename(&pk, &pk_away).expect("mv");
    let err = prove0(&[]);
    assert!(err.contains("keeping it"), "{err}");
    assert_eq!(std::fs::read(&proof0).expect("proof"), before);
    std::fs::rename(&vk_away, &vk).expect("mv");
    std::fs::rename(&pk_away, &pk).expect("mv");

    // --force without --next: a new output salt, said before it happens; the link breaks and is explained.
    let err = prove0(&["--force"]);
    assert!(err.contains("no longer links"), "{err}");
    let (code, out, err) = r.verify(&[]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("and so do their salts"), "{err}");
    assert!(err.contains("--force --next boundary-1.dzk"), "{err}");
    let o = dzk(&["merkle", s(&r.proofs()), "--json"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("warning: cut 1:"));
    let merkle: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(merkle["broken_links"].as_array().map(Vec::len), Some(1));
    // The repair: chunk 0 again with chunk 1's salt.
    prove0(&["--force", "--next", s(boundary1)]);
    ok(&["merkle", s(&r.proofs())]);
    assert_valid(r);

    // partition over a keyed run: refused, the plan untouched; --force replaces it.
    let plan = std::fs::read(r.run().join("plan.dzk")).expect("plan");
    let o = dzk(&[
        "partition",
        s(&digits_model()),
        "--chunks",
        "2",
        "-o",
        s(&r.run()),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("keyed already"));
    assert_eq!(std::fs::read(r.run().join("plan.dzk")).expect("plan"), plan);
    ok(&[
        "partition",
        s(&digits_model()),
        "--chunks",
        "2",
        "-o",
        s(&r.run()),
        "--force",
    ]);
    assert_ne!(std::fs::read(r.run().join("plan.dzk")).expect("plan"), plan);
}

#[test]
fn public_input_and_hashed_output_visibility() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let (run, params, proofs) = (d.join("run"), d.join("params"), d.join("proofs"));
    ok(&[
        "partition",
        s(&digits_model()),
        "--chunks",
        "2",
        "-o",
        s(&run),
        "--public-input",
        "--hashed-output",
    ]);
    ok(&["setup", "--k", "10", "-o", s(&params)]);
    ok(&["keygen", s(&run), "--params", s(&params)]);
    ok(&[
        "prove",
        s(&run),
        "--input",
        s(&digits_input(3)),
        "--params",
        s(&params),
        "-o",
        s(&proofs),
    ]);
    let out = ok(&[
        "verify-all",
        s(&proofs),
        "--run",
        s(&run),
        "--params",
        s(&params),
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(report["verdict"], "valid");
    // The output is committed, not published; the input (8×8 pixels) is chunk 0's public instances.
    assert!(report["public_outputs"].is_null());
    let pixels = TensorFile::load(&digits_input(3)).expect("input").tensors()[0]
        .1
        .data()
        .to_vec();
    assert_eq!(report["public_inputs"], serde_json::json!(pixels));
    let proof = std::fs::read(proofs.join("chunk-0.proof")).expect("proof");
    let env = Envelope::decode(&proof, Kind::ChunkProof).expect("decode");
    let n = env.header.params.expect("meta")["instances"]
        .as_array()
        .map(Vec::len);
    assert_eq!(n, Some(2 + 64));
    let last = std::fs::read(proofs.join("chunk-1.proof")).expect("proof");
    let env = Envelope::decode(&last, Kind::ChunkProof).expect("decode");
    assert_eq!(
        env.header.params.expect("meta")["instances"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

/// A small attention block in zkml's format: FC, tanh·σ gating, scores `p·pᵀ`, a causal MaskNegInf and masked
/// softmax, `attn·p`, then `rsqrt(x² + 1)`: every kind of function table through the whole pipeline.
fn attention_model(dir: &Path) -> (PathBuf, PathBuf) {
    use serde_json::json;
    let l = |ty: &str,
             params: serde_json::Value,
             ins: serde_json::Value,
             shapes: serde_json::Value,
             out: i64,
             out_shape: serde_json::Value| {
        json!({"layer_type": ty, "params": params, "inp_idxes": ins, "inp_shapes": shapes,
               "out_idxes": [out], "out_shapes": [out_shape], "mask": []})
    };
    let w: Vec<i64> = (0..64).map(|i| (i * 37 % 41) - 20).collect();
    let b: Vec<i64> = (0..8).map(|i| i * 5 - 16).collect();
    let causal = json!([3, 1, 4, 4, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0]);
    let m = json!({
        "global_sf": 64, "k": 14, "num_cols": 6, "inp_idxes": [0], "out_idxes": [10, 15], "tensors": [
            {"idx": 1, "shape": [8, 8], "data": w},
            {"idx": 2, "shape": [8], "data": b},
            {"idx": 30, "shape": [1, 4, 8], "data": vec![64; 32]},
        ],
        "layers": [
            l("FullyConnected", json!([0]), json!([0, 1, 2]), json!([[4, 8], [8, 8], [8]]), 3, json!([4, 8])),
            l("Tanh", json!([]), json!([3]), json!([[4, 8]]), 4, json!([4, 8])),
            l("Logistic", json!([]), json!([3]), json!([[4, 8]]), 5, json!([4, 8])),
            l("Mul", json!([]), json!([4, 5]), json!([[4, 8], [4, 8]]), 6, json!([4, 8])),
            l("Reshape", json!([]), json!([6]), json!([[4, 8]]), 7, json!([1, 4, 8])),
            l("BatchMatMul", json!([0, 1]), json!([7, 7]), json!([[1, 4, 8], [1, 4, 8]]), 8, json!([1, 4, 4])),
            l("MaskNegInf", causal.clone(), json!([8]), json!([[1, 4, 4]]), 9, json!([1, 4, 4])),
            l("Softmax", causal, json!([9]), json!([[1, 4, 4]]), 10, json!([1, 4, 4])),
            l("BatchMatMul", json!([0, 0]), json!([10, 7]), json!([[1, 4, 4], [1, 4, 8]]), 11, json!([1, 4, 8])),
            l("Square", json!([]), json!([11]), json!([[1, 4, 8]]), 12, json!([1, 4, 8])),
            l("Add", json!([0]), json!([12, 30]), json!([[1, 4, 8], [1, 4, 8]]), 13, json!([1, 4, 8])),
            l("Rsqrt", json!([]), json!([13]), json!([[1, 4, 8]]), 15, json!([1, 4, 8])),
        ],
    });
    let x: Vec<i64> = (0..32).map(|i| (i * 29 % 97) - 48).collect();
    let input = json!([{"idx": 0, "shape": [4, 8], "data": x}]);
    common::write_model(dir, "attention", &m, &input)
}

#[test]
fn an_attention_block_with_every_function_table_proves_and_verifies() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (model, input) = attention_model(tmp.path());
    let r = Run::new(&model, 2);
    let plan = dzk_verifier::audit::read_plan(&r.run()).expect("plan");
    assert!(
        plan.chunks.iter().any(|c| c.layout.fn_slots > 0),
        "{plan:?}"
    );
    let out = r.prove_all(&input, &r.proofs());
    assert_eq!(out, forward(&model, &input));
    ok(&["merkle", s(&r.proofs())]);
    assert_valid(&r);
}

#[test]
fn a_function_table_longer_than_the_circuit_is_spread_over_groups_and_proves() {
    // Softmax at scale 2^12: its exponential's table has tens of thousands of runs, far more than the few hundred
    // rows of the head; the chunk's k is set by one group's share of the table instead of the whole table.
    let model = repo().join("testdata/models/softmax_head_sf12.msgpack");
    let input = repo().join("testdata/inputs/softmax_head_sf12.msgpack");
    let r = Run::new(&model, 1);
    let plan = dzk_verifier::audit::read_plan(&r.run()).expect("plan");
    let c = &plan.chunks[0];
    assert!(c.layout.fn_groups > 1, "{c:?}");
    let made: serde_json::Value = serde_json::from_str(&ok(&[
        "partition",
        s(&model),
        "--chunks",
        "1",
        "-o",
        s(&r.dir.join("again")),
        "--json",
    ]))
    .expect("json");
    let chunk = &made["chunks"][0];
    let table = chunk["table_rows"].as_u64().expect("table rows");
    assert!(
        table > 1 << c.k,
        "the table ({table} rows) fits 2^{} alone",
        c.k
    );
    assert_eq!(
        chunk["table_groups"].as_u64(),
        Some(c.layout.fn_groups as u64)
    );
    assert!(chunk["rows"].as_u64().expect("rows") <= 1 << c.k);
    let out = r.prove_all(&input, &r.proofs());
    assert_eq!(out, forward(&model, &input));
    ok(&["merkle", s(&r.proofs())]);
    assert_valid(&r);
}

#[test]
fn a_softmax_at_scale_2_17_partitions_within_every_bound_from_16() {
    // Its exponential's table alone has about 1.7 million runs (k = 21 as one table).
    let model = repo().join("testdata/models/softmax_head_sf17.msgpack");
    let tmp = tempfile::tempdir().expect("tempdir");
    for max_k in [16u64, 18, 20] {
        let out = tmp.path().join(format!("run-{max_k}"));
        let made: serde_json::Value = serde_json::from_str(&ok(&[
            "partition",
            s(&model),
            "--max-k",
            &max_k.to_string(),
            "-o",
            s(&out),
            "--json",
        ]))
        .expect("json");
        for c in made["chunks"].as_array().expect("chunks") {
            let k = c["k"].as_u64().expect("k");
            assert!(k <= max_k, "--max-k {max_k}: {c}");
            assert!(c["table_rows"].as_u64().expect("table") > 1 << 20, "{c}");
            assert!(c["rows"].as_u64().expect("rows") <= 1 << k, "{c}");
        }
    }
}

#[test]
fn a_layer_of_constants_is_folded_and_the_model_proves_with_its_outputs_unchanged() {
    // The digits CNN with its last bias computed by a layer of constants: Add(bias − 7, 7).
    let mut v: serde_json::Value =
        rmp_serde::from_slice(&std::fs::read(digits_model()).expect("read")).expect("decode");
    let bias = v["tensors"]
        .as_array()
        .expect("tensors")
        .iter()
        .find(|t| t["idx"] == 6)
        .expect("tensor 6")
        .clone();
    let less: Vec<i64> = bias["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|x| x.as_i64().expect("int") - 7)
        .collect();
    let tensors = v["tensors"].as_array_mut().expect("tensors");
    tensors.push(serde_json::json!({"idx": 900, "shape": bias["shape"], "data": less}));
    tensors.push(serde_json::json!({"idx": 901, "shape": [1], "data": [7]}));
    let layers = v["layers"].as_array_mut().expect("layers");
    assert_eq!(layers[4]["inp_idxes"], serde_json::json!([11, 5, 6]));
    layers[4]["inp_idxes"] = serde_json::json!([11, 5, 902]);
    layers.insert(
        0,
        serde_json::json!({"layer_type": "Add", "params": [0], "inp_idxes": [900, 901],
            "inp_shapes": [bias["shape"], [1]], "out_idxes": [902], "out_shapes": [bias["shape"]], "mask": []}),
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tmp.path().join("digits-folded.msgpack");
    std::fs::write(&model, rmp_serde::to_vec_named(&v).expect("encode")).expect("write");
    let r = Run::new(&model, 1);
    let plan = dzk_verifier::audit::read_plan(&r.run()).expect("plan");
    assert_eq!(plan.folded_layers, vec![0]);
    assert_eq!((plan.layers, plan.chunks[0].end), (5, 5));
    let input = digits_input(2);
    let out = r.prove_all(&input, &r.proofs());
    assert_eq!(out, forward(&digits_model(), &input));
    assert_eq!(out, forward(&model, &input));
    assert_valid(&r);
}

/// zkml's exports of CLIP and GPT-2 compute a reshape's target shape from an activation (a `Noop` keeping its
/// first values). Nothing the model outputs depends on those values, but a chunk holding such a layer reads the
/// whole activation: `partition` leaves it out, the reshape reads a constant of its declared shape, and the model
/// proves with the outputs of the model given.
#[test]
fn layers_computing_only_a_reshapes_shape_are_left_out_and_the_model_proves() {
    // The digits CNN with its flattening reshape's shape operand (tensor 7) computed from the pooled activation.
    let mut v: serde_json::Value =
        rmp_serde::from_slice(&std::fs::read(digits_model()).expect("read")).expect("decode");
    let layers = v["layers"].as_array_mut().expect("layers");
    assert_eq!(layers[2]["layer_type"], "Reshape");
    assert_eq!(layers[2]["inp_idxes"], serde_json::json!([9, 7]));
    layers[2]["inp_idxes"] = serde_json::json!([9, 903]);
    layers.insert(
        2,
        serde_json::json!({"layer_type": "Noop", "params": [0], "inp_idxes": [9],
            "inp_shapes": [[1, 3, 3, 6]], "out_idxes": [903], "out_shapes": [[2]], "mask": []}),
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tmp.path().join("digits-shape.msgpack");
    std::fs::write(&model, rmp_serde::to_vec_named(&v).expect("encode")).expect("write");
    let input = digits_input(2);
    assert_eq!(forward(&model, &input), forward(&digits_model(), &input));
    let r = Run::new(&model, 2);
    let plan = dzk_verifier::audit::read_plan(&r.run()).expect("plan");
    assert_eq!(plan.folded_layers, vec![2]);
    assert_eq!(plan.layers, 5);
    let out = r.prove_all(&input, &r.proofs());
    assert_eq!(out, forward(&model, &input));
    assert_valid(&r);
}

#[test]
fn the_tiny_transformer_in_2_chunks_proves_and_verifies() {
    // Attention whose Q·Kᵀ and A·V multiply two activations (FullyConnected and BatchMatMul), layer norm, GELU,
    // softmax: partitioned, keyed, proven chunk by chunk and audited.
    let model = repo().join("testdata/models/tiny_transformer.msgpack");
    let input = repo().join("testdata/inputs/tiny_transformer.msgpack");
    let r = Run::new(&model, 2);
    let out = r.prove_all(&input, &r.proofs());
    assert_eq!(out, forward(&model, &input));
    ok(&["merkle", s(&r.proofs())]);
    assert_valid(&r);
}

/// The digits CNN as one chunk, proven and aggregated for the EVM (Keccak transcript, with the contract's
/// calldata) with one SRS of `k` for the chunk and the aggregation circuit.
struct Aggregated {
    _tmp: tempfile::TempDir,
    d: PathBuf,
    run: PathBuf,
    params: PathBuf,
    proofs: PathBuf,
    agg: PathBuf,
    calldata: PathBuf,
    /// What `aggregate --json` printed.
    made: serde_json::Value,
    /// A kit exported before `aggregate`.
    early_kit: PathBuf,
}

fn aggregated_digits(k: u32) -> Aggregated {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path().to_path_buf();
    let (run, params, proofs) = (d.join("run"), d.join("params"), d.join("proofs"));
    // One chunk: the aggregation of two chunks, with the links between them, is tested in
    // crates/aggregate/tests.
    ok(&[
        "partition",
        s(&digits_model()),
        "--chunks",
        "1",
        "-o",
        s(&run),
    ]);
    ok(&["setup", "--k", &k.to_string(), "-o", s(&params)]);
    ok(&["keygen", s(&run), "--params", s(&params)]);
    ok(&[
        "prove",
        s(&run),
        "--input",
        s(&digits_input(1)),
        "--params",
        s(&params),
        "-o",
        s(&proofs),
    ]);
    // A kit exported before `aggregate` holds no aggregation key.
    let early_kit = d.join("kit-early");
    export_kit_ok(&run, &params, &early_kit, &[]);
    // Made for the EVM (Keccak transcript), with the contract's calldata; verify-all reads either transcript.
    let agg = d.join("run.agg.dzk");
    let calldata = d.join("calldata.hex");
    let o = dzk(&[
        "aggregate",
        s(&proofs),
        "--run",
        s(&run),
        "--params",
        s(&params),
        "-o",
        s(&agg),
        "--evm-calldata",
        s(&calldata),
        "--json",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    // stderr is a pipe here, not a terminal: the step is still announced, as a plain line with its clock.
    let step = format!("aggregating 1 chunk proof (k = {k})");
    assert!(
        err.lines()
            .any(|l| l.starts_with("[00:") && l.contains(&step)),
        "{err}"
    );
    // Below k = 22 the Solidity verifier would not fit EIP-170's limit, and `aggregate` says so.
    assert_eq!(err.contains("larger than EIP-170's"), k < 22, "{err}");
    let made: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    // The root it states is the chunk proofs' own Merkle root.
    let merkle: serde_json::Value =
        serde_json::from_str(&ok(&["merkle", s(&proofs), "--json"])).expect("json");
    assert_eq!(made["root"], merkle["root"]);
    Aggregated {
        _tmp: tmp,
        d,
        run,
        params,
        proofs,
        agg,
        calldata,
        made,
        early_kit,
    }
}

#[test]
fn an_aggregated_proof_verifies_and_wrong_ones_are_rejected() {
    // At the aggregation circuit's smallest k, which keeps this test within CI's time; the EVM verifier, which
    // needs k = 22, is tested in `cargo xtask slow` (below).
    let Aggregated {
        _tmp,
        d,
        run,
        params,
        proofs,
        agg,
        made,
        early_kit,
        ..
    } = aggregated_digits(18);
    let cache = d.join("vk-cache");
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify-all",
            "--aggregate",
            s(&agg),
            "--run",
            s(&run),
            "--params",
            s(&params),
            "--vk-cache",
            s(&cache),
        ];
        args.extend_from_slice(extra);
        dzk(&args)
    };
    let o = verify(&["--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(report["verdict"], "valid");
    assert_eq!(report["root"], made["root"]);
    assert_eq!(report["transcript"], "keccak");
    assert_eq!(made["transcript"], "keccak");
    // `aggregate` recorded its verifying key in the run (the file, its digest in the plan): the auditor reads it.
    assert_eq!(report["vk_source"], "recorded");
    let recorded = PathBuf::from(made["aggregation_vk"].as_str().expect("recorded key"));
    assert!(
        recorded.starts_with(&run) && recorded.exists(),
        "{recorded:?}"
    );
    let plan = dzk_verifier::audit::read_plan(&run).expect("plan");
    assert_eq!(plan.aggregation_vks.len(), 1);
    // --rebuild-vk rebuilds it from the chunks' keys and caches it; the next --rebuild-vk reads the cache.
    let o = verify(&["--json", "--rebuild-vk"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rebuilt: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(rebuilt["vk_source"], "rebuilt");
    let cached: Vec<_> = std::fs::read_dir(&cache)
        .expect("cache dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    // The rebuilt key is the recorded one, byte for byte.
    let recorded_body =
        Envelope::decode(&std::fs::read(&recorded).expect("read"), Kind::VerifyingKey)
            .expect("decode")
            .body;
    let cached_bytes = std::fs::read(&cached[0]).expect("read");
    assert_eq!(&cached_bytes[..cached_bytes.len() - 32], &recorded_body[..]);
    let o = verify(&["--json", "--rebuild-vk"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let again: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(again["vk_source"], "cache");
    // A recorded key file that is not the one the plan records is said and not used.
    let good_key = std::fs::read(&recorded).expect("read");
    let mut env_key = Envelope::decode(&good_key, Kind::VerifyingKey).expect("decode");
    let at = env_key.body.len() / 2;
    env_key.body[at] ^= 1;
    let resealed = Envelope::new(Kind::VerifyingKey, "halo2-raw", env_key.body);
    std::fs::write(&recorded, resealed.encode()).expect("write");
    let o = verify(&["--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("is not the aggregation verifying key the plan records"));
    let fallback: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(fallback["vk_source"], "cache");
    std::fs::write(&recorded, &good_key).expect("write");
    // The auditor's kit exported after `aggregate` carries the recorded key: the aggregated proof verifies with
    // the kit alone. The early kit cannot verify it, and says why (exit 2).
    let kit = d.join("kit");
    export_kit_ok(
        &run,
        &params,
        &kit,
        &["--root", made["root"].as_str().expect("root")],
    );
    let o = dzk(&[
        "verify-all",
        "--aggregate",
        s(&agg),
        "--kit",
        s(&kit),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let with_kit: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(with_kit["verdict"], "valid");
    assert_eq!(with_kit["vk_source"], "recorded");
    assert_eq!(with_kit["root_pinned"], true);
    assert_eq!(with_kit["public_outputs"], report["public_outputs"]);
    let o = dzk(&["verify-all", "--aggregate", s(&agg), "--kit", s(&early_kit)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("holds no aggregation verifying key"));
    assert_eq!(again["verdict"], report["verdict"]);
    assert_eq!(again["root"], report["root"]);
    let want = forward(&digits_model(), &digits_input(1)).tensors()[0]
        .1
        .data()
        .to_vec();
    assert_eq!(report["public_outputs"], serde_json::json!(want));
    // Another published root: rejected (exit 1) with the reason.
    let wrong = format!("0x{}", "11".repeat(31) + "01");
    let o = verify(&["--root", &wrong]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not the --root given"));
    // A proof that claims a tree its plan does not give (two levels over 2 chunks, 2 per node), or a tree whose
    // root configuration is not the proof's: rejected with the reason, before any key is rebuilt.
    let good = std::fs::read(&agg).expect("read");
    let env = Envelope::decode(&good, Kind::AggregateProof).expect("decode");
    let meta = env.header.params.clone().expect("metadata");
    let config = meta["config"].clone();
    for (tree, why) in [
        (
            serde_json::json!({"group": 2, "configs": [[config.clone()], [config.clone()]]}),
            "has nodes [1] by level, the proof records configurations for [1, 1]",
        ),
        (
            serde_json::json!({"group": 2, "configs": [[{"degree": 18}]]}),
            "the tree's root configuration differs from the proof's",
        ),
    ] {
        let mut forged = env.clone();
        let mut m = meta.clone();
        m["tree"] = tree;
        forged.header.params = Some(m);
        std::fs::write(&agg, forged.encode()).expect("write");
        let o = verify(&[]);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(why),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // The envelope names the proof's transcript: this Keccak proof read as a Poseidon one does not verify, and
    // an encoding dzk does not know is refused with the reason.
    for (encoding, why) in [
        ("halo2-shplonk-poseidon", "does not verify"),
        ("halo2-plonk-blake2b", "unknown proof encoding"),
    ] {
        let mut forged = env.clone();
        forged.header.body_encoding = encoding.into();
        std::fs::write(&agg, forged.encode()).expect("write");
        let o = verify(&[]);
        assert_eq!(o.status.code(), Some(1), "{encoding}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(why),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // A flipped byte in the proof: rejected.
    let mut bytes = good.clone();
    let n = bytes.len();
    bytes[n - 100] ^= 1;
    std::fs::write(&agg, &bytes).expect("write");
    let o = verify(&[]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A damaged cache file is detected, ignored and replaced by a rebuilt key: the good proof still verifies.
    std::fs::write(&agg, &good).expect("write");
    let mut key = std::fs::read(&cached[0]).expect("read");
    let mid = key.len() / 2;
    key[mid] ^= 1;
    std::fs::write(&cached[0], &key).expect("write");
    let o = verify(&["--json", "--rebuild-vk"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("ignoring the cached"));
    let replaced: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(replaced["vk_source"], "rebuilt");
    assert_ne!(std::fs::read(&cached[0]).expect("read"), key);
    // A run that does not verify is not aggregated.
    std::fs::remove_file(proofs.join("chunk-0.proof")).expect("rm");
    let o = dzk(&[
        "aggregate",
        s(&proofs),
        "--run",
        s(&run),
        "--params",
        s(&params),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not aggregated"));
}

/// The aggregated proof's Solidity verifier, at k = 22 where it fits EIP-170's limit: about 15 minutes on a
/// 2-core machine (a k = 22 aggregation), so in `cargo xtask slow`.
#[test]
#[ignore = "a k = 22 aggregation: about 15 minutes on a 2-core machine, run by `cargo xtask slow`"]
fn the_aggregated_proof_verifies_on_the_evm_and_tampered_calldata_does_not() {
    let Aggregated {
        _tmp,
        d,
        run,
        params,
        agg,
        calldata,
        made,
        ..
    } = aggregated_digits(22);
    let cache = d.join("vk-cache");
    // `export-solidity` checks the proof as `verify-all --aggregate` does, with the recorded key.
    let sol = d.join("Verifier.sol");
    let o = dzk(&[
        "export-solidity",
        s(&agg),
        "--run",
        s(&run),
        "--params",
        s(&params),
        "-o",
        s(&sol),
        "--vk-cache",
        s(&cache),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let exported: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(exported["vk_source"], "recorded");
    evm_checks(&d, &sol, &exported, &calldata, &made);
}

/// The Solidity verifier `sol` of the aggregated run in `d`, as `export-solidity` reported it (`exported`):
/// compiled by solc-js within EIP-170's limit, deployed in a local EVM, and called with the run's calldata
/// (accepted), with tampered calldata and with another run's proof (each rejected, exit 1).
fn evm_checks(
    d: &Path,
    sol: &Path,
    exported: &serde_json::Value,
    calldata: &Path,
    made: &serde_json::Value,
) {
    let bin = d.join("Verifier.bin");
    assert_eq!(exported["bytecode"], serde_json::json!(bin));
    let runtime = exported["runtime_bytes"].as_u64().expect("runtime size");
    assert!(runtime > 0 && runtime <= 24_576, "{exported}");
    assert!(
        exported["verify_gas"].as_u64().expect("gas") > 21_000,
        "{exported}"
    );
    assert_eq!(exported["root"], made["root"]);
    let source = std::fs::read_to_string(sol).expect("source");
    assert!(source.contains("contract Halo2Verifier"), "{source:.200}");
    let verify = |data: &Path| {
        dzk(&[
            "verify-evm",
            "--bytecode",
            s(&bin),
            "--calldata",
            s(data),
            "--json",
        ])
    };
    let o = verify(calldata);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["verdict"], "valid");
    assert_eq!(v["verify_gas"], exported["verify_gas"]);
    // Tampered calldata: each reverts. Words: 12 accumulator limbs, the root, h_in, h_out, the outputs.
    let good = dzk_evm::from_hex(&std::fs::read_to_string(calldata).expect("read")).expect("hex");
    let publics = made_publics(made);
    let word = |i: usize| 32 * i + 31;
    let tampered = d.join("tampered.hex");
    for (what, at) in [
        ("a flipped proof byte", good.len() - 100),
        ("an accumulator limb", word(0)),
        ("the root", word(12)),
        ("h_out of the last chunk", word(14)),
        ("a model output", word(publics - 1)),
    ] {
        let mut bad = good.clone();
        bad[at] ^= 1;
        std::fs::write(&tampered, dzk_evm::to_hex(&bad)).expect("write");
        let o = verify(&tampered);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{what}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(v["verdict"], "rejected", "{what}");
    }
    // The root written as root + r (the same field element, another 256-bit word): the generated verifier
    // alone would reduce it and accept, so a consumer reading the word would see a root the proof does not
    // state; dzk's contract reverts.
    let mut bad = good.clone();
    add_modulus(&mut bad[32 * 12..32 * 13]);
    std::fs::write(&tampered, dzk_evm::to_hex(&bad)).expect("write");
    assert_eq!(
        verify(&tampered).status.code(),
        Some(1),
        "a non-canonical root"
    );
    // Truncated calldata reverts too.
    std::fs::write(&tampered, dzk_evm::to_hex(&good[..good.len() - 32])).expect("write");
    assert_eq!(verify(&tampered).status.code(), Some(1));
    // Unreadable calldata is bad input (exit 2), naming the file.
    std::fs::write(&tampered, "0xnot hex").expect("write");
    let o = verify(&tampered);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("tampered.hex"));

    // Another run: the digits model as one chunk again, but with its own SRS (k = 18, another seed) and so its
    // own keys, aggregated for the EVM. Its proof is valid for its own contract and states as many public
    // values, but this contract rejects it.
    let (run2, params2, proofs2) = (d.join("run2"), d.join("params2"), d.join("proofs2"));
    ok(&[
        "partition",
        s(&digits_model()),
        "--chunks",
        "1",
        "-o",
        s(&run2),
    ]);
    ok(&["setup", "--k", "18", "--seed", "3", "-o", s(&params2)]);
    ok(&["keygen", s(&run2), "--params", s(&params2)]);
    ok(&[
        "prove",
        s(&run2),
        "--input",
        s(&digits_input(2)),
        "--params",
        s(&params2),
        "-o",
        s(&proofs2),
    ]);
    let other = d.join("other.hex");
    ok(&[
        "aggregate",
        s(&proofs2),
        "--run",
        s(&run2),
        "--params",
        s(&params2),
        "--evm-calldata",
        s(&other),
    ]);
    let theirs = dzk_evm::from_hex(&std::fs::read_to_string(&other).expect("read")).expect("hex");
    assert_eq!(
        dzk_evm::split_calldata(&theirs, publics).map(|(v, _)| v.len()),
        Some(publics)
    );
    let o = verify(&other);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // It fails inside the contract (a revert, or a halt when a point of the wrong key's check runs off).
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("rejected: "),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The number of public values of an aggregated proof, from `dzk aggregate --json`'s report.
fn made_publics(made: &serde_json::Value) -> usize {
    let agg = std::fs::read(made["file"].as_str().expect("file")).expect("read");
    let env = Envelope::decode(&agg, Kind::AggregateProof).expect("decode");
    env.header.params.expect("metadata")["instances"]
        .as_array()
        .expect("instances")
        .len()
}

/// Adds BN254's scalar modulus r to a 32-byte big-endian word (below r, so no overflow).
fn add_modulus(word: &mut [u8]) {
    const R: [u8; 32] = [
        0x30, 0x64, 0x4e, 0x72, 0xe1, 0x31, 0xa0, 0x29, 0xb8, 0x50, 0x45, 0xb6, 0x81, 0x81, 0x58,
        0x5d, 0x28, 0x33, 0xe8, 0x48, 0x79, 0xb9, 0x70, 0x91, 0x43, 0xe1, 0xf5, 0x93, 0xf0, 0x00,
        0x00, 0x01,
    ];
    let mut carry = 0u16;
    for i in (0..32).rev() {
        let sum = u16::from(word[i]) + u16::from(R[i]) + carry;
        word[i] = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
}
