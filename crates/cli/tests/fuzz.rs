//! Fuzzing every parser of untrusted bytes: dzk's envelopes (plan, chunk proof, verifying key, boundary, Merkle
//! file, aggregated proof), zkml models and inputs, ONNX models (`dzk import`), the SRS and `setup.json`, and a chunk proof's bytes under the
//! real verifier. Seeds are the files of a real (small) run; each round mutates one (bit flips, overwritten
//! bytes, huge length fields, truncation, duplication; for envelopes also the body or header re-sealed with a
//! valid digest, which reaches the parsers behind the digest) and hands it to its parser. No parser may panic,
//! hang or allocate without bound: every call runs under `catch_unwind` and a clock, and the process's peak
//! memory is bounded.
//!
//! By default (CI) every target gets `DZK_FUZZ_ROUNDS` rounds (default 2,000), each from its own mutation stream,
//! so a run is the same on every machine whatever its speed. `DZK_FUZZ_SECS` instead spreads a time budget over
//! the targets; `cargo xtask fuzz --secs N` runs this test so, in release mode. `DZK_FUZZ_SEED` picks the
//! streams (default fixed; xtask draws one and prints it). A watchdog ends the test with the input saved when
//! one call runs past a minute, so a hang fails at once instead of running out CI's clock (a CI run once spent
//! an hour in tract's analyser on one mutated ONNX file).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dzk_circuit::LayoutParams;
use dzk_format::run::{AggregateMeta, MerkleFile};
use dzk_format::{Envelope, Kind};
use dzk_ir::{Model, TensorFile};
use dzk_verifier::audit;
use dzk_verifier::srs;

mod common;
use common::{digits_input, digits_model, dzk, s};

/// xorshift64*: a reproducible mutation stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutation of `seed`.
fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    if b.is_empty() {
        return vec![rng.next() as u8];
    }
    for _ in 0..=rng.below(3) {
        let at = rng.below(b.len());
        match rng.below(7) {
            0 => b[at] ^= 1 << rng.below(8),
            1 => b[at] = [0x00, 0xff, 0x7f, 0x80][rng.below(4)],
            2 => {
                // A length or count field blown up.
                let v = [u32::MAX, 1 << 31, 1 << 30, 0x7fff_ffff][rng.below(4)];
                let end = (at + 4).min(b.len());
                b[at..end].copy_from_slice(&v.to_le_bytes()[..end - at]);
            }
            3 => b.truncate(at),
            4 => {
                let len = rng.below(64).min(b.len() - at);
                let piece = b[at..at + len].to_vec();
                b.splice(at..at, piece);
            }
            5 => b.insert(at, rng.next() as u8),
            _ => {
                let end = (at + 1 + rng.below(16)).min(b.len());
                b.drain(at..end);
            }
        }
        if b.is_empty() {
            break;
        }
    }
    b
}

/// A mutation behind the digest: the envelope's body or header parameters changed, then sealed again.
fn mutate_sealed(rng: &mut Rng, seed: &[u8], kind: Kind) -> Vec<u8> {
    let Ok(env) = Envelope::decode(seed, kind) else {
        return mutate(rng, seed);
    };
    let mut body = env.body.clone();
    let mut header = env.header.clone();
    if rng.below(2) == 0 || header.params.is_none() {
        body = mutate(rng, &body);
    } else {
        let text = header
            .params
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let changed = String::from_utf8_lossy(&mutate(rng, text.as_bytes())).into_owned();
        header.params = serde_json::from_str(&changed).ok();
    }
    let mut out = Envelope::new(kind, &header.body_encoding, body);
    out.header.plan_digest = header.plan_digest;
    out.header.chunk_index = header.chunk_index;
    out.header.params = header.params;
    out.encode()
}

/// A small real run: plan, keys, proofs, Merkle file, boundary files, SRS.
struct Seeds {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Seeds {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let run = |args: &[&str]| {
            let o = dzk(args);
            assert!(
                o.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        };
        let p = |name: &str| dir.join(name);
        run(&[
            "partition",
            s(&digits_model()),
            "--chunks",
            "2",
            "-o",
            s(&p("run")),
        ]);
        run(&["setup", "--k", "10", "-o", s(&p("params"))]);
        run(&["keygen", s(&p("run")), "--params", s(&p("params"))]);
        run(&[
            "boundaries",
            s(&p("run")),
            "--input",
            s(&digits_input(3)),
            "-o",
            s(&p("b")),
        ]);
        run(&[
            "prove",
            s(&p("run")),
            "--input",
            s(&digits_input(3)),
            "--params",
            s(&p("params")),
            "-o",
            s(&p("proofs")),
        ]);
        run(&["merkle", s(&p("proofs"))]);
        run(&[
            "export-verifier",
            s(&p("run")),
            "--params",
            s(&p("params")),
            "-o",
            s(&p("kit")),
        ]);
        Self { _tmp: tmp, dir }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).expect(name)
    }
}

/// A fuzz target: its name, its seed file, the envelope kind (to mutate behind the digest too) and its parser.
type Target<'a> = (&'static str, Vec<u8>, Option<Kind>, Box<dyn Fn(&[u8]) + 'a>);

/// What each round found: the longest call, and every panic.
#[derive(Default)]
struct Findings {
    rounds: usize,
    slowest: Duration,
    panics: Vec<String>,
}

/// How long one call may run before the watchdog ends the test.
const HANG: Duration = Duration::from_secs(60);

/// The call in progress, for the watchdog: its target, when it started, and its input.
type Current = std::sync::Mutex<Option<(String, Instant, Vec<u8>)>>;

/// Watches `current`; when a call has run past [`HANG`], saves its input and ends the process (a hung call
/// cannot be stopped from its own thread). Writes straight to stderr: the test harness's capture would be lost.
fn watchdog(current: std::sync::Arc<Current>) {
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        let guard = current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((name, started, bytes)) = guard.as_ref() {
            if started.elapsed() > HANG {
                let file = std::env::temp_dir().join(format!("dzk-fuzz-{name}-hang.bin"));
                let _ = std::fs::write(&file, bytes);
                let msg = format!(
                    "fuzz: {name}: one call has run for {:?}: hung; its input is saved at {}\n",
                    started.elapsed(),
                    file.display()
                );
                let _ = std::io::Write::write_all(&mut std::io::stderr(), msg.as_bytes());
                std::process::exit(1);
            }
        }
    });
}

/// How long a target runs: a number of rounds (the same stream on every machine) or until a time.
#[derive(Clone, Copy)]
enum Budget {
    Rounds(usize),
    Until(Instant),
}

/// Runs `parse` on mutations of `seed` for `budget`.
#[allow(clippy::too_many_arguments)]
fn fuzz(
    name: &str,
    rng: &mut Rng,
    budget: Budget,
    seed: &[u8],
    kind: Option<Kind>,
    findings: &mut Findings,
    current: &Current,
    parse: &dyn Fn(&[u8]),
) {
    let mut rounds = 0;
    while match budget {
        Budget::Rounds(n) => rounds < n,
        Budget::Until(t) => Instant::now() < t || rounds < 20,
    } {
        let bytes = match kind {
            Some(k) if rng.below(2) == 0 => mutate_sealed(rng, seed, k),
            _ => mutate(rng, seed),
        };
        let t = Instant::now();
        *current.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((name.replace(' ', "-"), t, bytes.clone()));
        let res = catch_unwind(AssertUnwindSafe(|| parse(&bytes)));
        *current.lock().unwrap_or_else(|e| e.into_inner()) = None;
        findings.slowest = findings.slowest.max(t.elapsed());
        if res.is_err() {
            let file =
                std::env::temp_dir().join(format!("dzk-fuzz-{name}-{}.bin", findings.panics.len()));
            let _ = std::fs::write(&file, &bytes);
            findings.panics.push(format!(
                "{name}: panicked on the input saved at {}",
                file.display()
            ));
        }
        rounds += 1;
    }
    findings.rounds += rounds;
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

#[test]
fn no_parser_of_untrusted_bytes_panics_hangs_or_blows_up() {
    let seeds = Seeds::new();
    let var = |name: &str| -> Option<u64> { std::env::var(name).ok().and_then(|v| v.parse().ok()) };
    let secs = var("DZK_FUZZ_SECS");
    let rounds = var("DZK_FUZZ_ROUNDS").unwrap_or(2000) as usize;
    let seed = var("DZK_FUZZ_SEED").unwrap_or(0x5eed);
    let plan = audit::read_plan(&seeds.path("run")).expect("plan");
    let digest = plan.digest();
    let c1 = plan.chunks[1].clone();
    let layout = LayoutParams::from(&plan.chunks[0].layout);
    let k0 = plan.chunks[0].k;
    let (_, params) = srs::load(&seeds.path("params")).expect("srs");
    let p0 = srs::downsized(&params, plan.chunks[0].k, &seeds.path("params")).expect("downsized");
    let vk0 = audit::read_vk(
        &Envelope::decode(&seeds.read("run/chunk-0.vk"), Kind::VerifyingKey)
            .expect("vk")
            .body,
        layout,
        k0,
    )
    .expect("vk");
    let honest = audit::read_evidence(&seeds.path("proofs/chunk-0.proof"), &digest).expect("proof");
    let input = TensorFile::load(&digits_input(3)).expect("input");
    let scratch = seeds.path("scratch");
    std::fs::create_dir_all(&scratch).expect("mkdir");
    let at = |name: &str, bytes: &[u8]| -> PathBuf {
        let p = scratch.join(name);
        std::fs::write(&p, bytes).expect("write");
        p
    };
    // A synthetic aggregated proof envelope: the header fields the verifier reads, a random body.
    let aggregate = {
        let meta = AggregateMeta {
            chunks: 2,
            config: serde_json::json!({"degree": 22, "num_advice": [4], "num_lookup_advice": [1], "num_fixed": 1, "lookup_bits": 21}),
            instances: (0..17).map(|i| format!("0x{i:064x}")).collect(),
            tree: None,
        };
        let mut env = Envelope::new(
            Kind::AggregateProof,
            "halo2-shplonk-poseidon",
            vec![7; 2048],
        );
        env.header.plan_digest = Some(digest.clone());
        env.header.params = serde_json::to_value(meta).ok();
        env.encode()
    };
    let targets: Vec<Target<'_>> = vec![
        (
            "plan",
            seeds.read("run/plan.dzk"),
            Some(Kind::Plan),
            Box::new(|b: &[u8]| {
                let dir = scratch.join("plan-dir");
                let _ = std::fs::create_dir_all(&dir);
                std::fs::write(dir.join("plan.dzk"), b).expect("write");
                let _ = audit::read_plan(&dir);
            }),
        ),
        (
            "chunk proof",
            seeds.read("proofs/chunk-0.proof"),
            Some(Kind::ChunkProof),
            Box::new(|b: &[u8]| {
                if let Ok(ev) = audit::read_evidence(&at("chunk-0.proof", b), &digest) {
                    let _ = dzk_verifier::verify_chunk(&p0, &vk0, &ev.instances, &ev.proof);
                }
            }),
        ),
        (
            "proof bytes",
            honest.proof.clone(),
            None,
            Box::new(|b: &[u8]| {
                let _ = dzk_verifier::verify_chunk(&p0, &vk0, &honest.instances, b);
            }),
        ),
        (
            "verifying key",
            seeds.read("run/chunk-0.vk"),
            Some(Kind::VerifyingKey),
            Box::new(|b: &[u8]| {
                if let Ok(env) = Envelope::decode(b, Kind::VerifyingKey) {
                    let _ = audit::read_vk(&env.body, layout, k0);
                }
            }),
        ),
        (
            "boundary",
            seeds.read("b/boundary-1.dzk"),
            Some(Kind::Boundary),
            Box::new(|b: &[u8]| {
                let _ = dzk_prover::run::read_boundary(&plan, &c1, b, "boundary-1.dzk");
            }),
        ),
        (
            "merkle",
            seeds.read("proofs/merkle.dzk"),
            Some(Kind::Merkle),
            Box::new(|b: &[u8]| {
                if let Ok(env) = Envelope::decode(b, Kind::Merkle) {
                    if let Ok(m) = serde_json::from_slice::<MerkleFile>(&env.body) {
                        let _ = dzk_merkle::hex::from_hex(&m.root);
                    }
                }
            }),
        ),
        (
            "aggregate",
            aggregate,
            Some(Kind::AggregateProof),
            Box::new(|b: &[u8]| {
                if let Ok(env) = Envelope::decode(b, Kind::AggregateProof) {
                    if let Some(meta) = env.header.params_as::<AggregateMeta>() {
                        let _: Vec<_> = meta
                            .instances
                            .iter()
                            .map(|h| dzk_merkle::hex::from_hex(h))
                            .collect();
                        let _ = meta.tree.map(|t| t.configs.len());
                    }
                }
            }),
        ),
        (
            "zkml model",
            std::fs::read(digits_model()).expect("model"),
            None,
            Box::new(|b: &[u8]| {
                if let Ok(m) = Model::from_msgpack(b, "model.msgpack") {
                    let _ = m.forward(&input);
                }
            }),
        ),
        (
            // `dzk import` of a damaged ONNX file (tract's parser and analyser under dzk-onnx's guard).
            "onnx model",
            std::fs::read(common::repo().join("testdata/onnx/tiny_transformer.onnx"))
                .expect("onnx"),
            None,
            Box::new(|b: &[u8]| {
                let path = seeds.path("fuzz.onnx");
                if std::fs::write(&path, b).is_ok() {
                    let opts = dzk_onnx::Options {
                        scale_bits: 10,
                        k: None,
                        input_shapes: vec![],
                    };
                    if let Ok(imp) = dzk_onnx::import(&path, &opts) {
                        let _ = dzk_ir::Model::from_msgpack(&imp.bytes, "imported");
                    }
                }
            }),
        ),
        (
            "zkml input",
            std::fs::read(digits_input(3)).expect("input"),
            None,
            Box::new(|b: &[u8]| {
                let _ = TensorFile::from_msgpack(b, "inp.msgpack");
            }),
        ),
        (
            "srs",
            seeds.read("params/kzg_bn254_10.srs"),
            None,
            Box::new(|b: &[u8]| {
                let _ = srs::read_params(b, Path::new("kzg_bn254_10.srs"));
            }),
        ),
        (
            "kit manifest",
            seeds.read("kit/kit.dzk"),
            Some(Kind::Kit),
            Box::new(|b: &[u8]| {
                let dir = scratch.join("kit-dir");
                if !dir.exists() {
                    let _ = std::fs::create_dir_all(&dir);
                    for f in ["plan.dzk", "chunk-0.vk", "chunk-1.vk"] {
                        let _ = std::fs::copy(seeds.path("kit").join(f), dir.join(f));
                    }
                }
                std::fs::write(dir.join("kit.dzk"), b).expect("write");
                if let Ok(kit) = dzk_verifier::kit::read_kit(&dir) {
                    let _ = kit.srs.params(10);
                }
            }),
        ),
        (
            "setup.json",
            seeds.read("params/setup.json"),
            None,
            Box::new(|b: &[u8]| {
                let dir = scratch.join("params-dir");
                let _ = std::fs::create_dir_all(&dir);
                let _ = std::fs::copy(
                    seeds.path("params/kzg_bn254_10.srs"),
                    dir.join("kzg_bn254_10.srs"),
                );
                std::fs::write(dir.join("setup.json"), b).expect("write");
                let _ = srs::load(&dir);
            }),
        ),
    ];
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut findings = Findings::default();
    let current = std::sync::Arc::new(Current::default());
    watchdog(current.clone());
    let started = Instant::now();
    let before = peak_rss_mib();
    for (i, (name, file, kind, parse)) in targets.iter().enumerate() {
        // Each target its own stream, so one target's rounds never shift another's inputs.
        let mut rng = Rng((seed ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1);
        let budget = match secs {
            Some(secs) => {
                Budget::Until(Instant::now() + Duration::from_secs(secs) / targets.len() as u32)
            }
            None => Budget::Rounds(rounds),
        };
        fuzz(
            name,
            &mut rng,
            budget,
            file,
            *kind,
            &mut findings,
            &current,
            parse.as_ref(),
        );
    }
    std::panic::set_hook(quiet);
    eprintln!(
        "fuzz: {} rounds over {} targets in {:.1} s (seed {seed}), slowest call {:?}, peak memory {:.0} MiB (was {:.0})",
        findings.rounds,
        targets.len(),
        started.elapsed().as_secs_f64(),
        findings.slowest,
        peak_rss_mib(),
        before
    );
    assert!(findings.panics.is_empty(), "{}", findings.panics.join("\n"));
    assert!(
        findings.slowest < Duration::from_secs(10),
        "a call took {:?}",
        findings.slowest
    );
    assert!(
        peak_rss_mib() < before + 2048.0,
        "memory grew to {:.0} MiB",
        peak_rss_mib()
    );
}
