//! `--backend auto|cpu|gpu` and `dzk devices` on machines without a usable GPU: no driver, a driver that sees
//! no device, one too old for CUDA 13, a GPU prover binary that is missing or cannot start (the real
//! `dzk-gpu`, which aborts before `main` without a GPU, when `cargo xtask gpu` built it beside `dzk`). `auto`
//! proves on the CPU and says why (stderr and `--json`), the proof verifies; `gpu` exits 2 with the reason and
//! writes nothing. A stand-in GPU prover that passes the check shows that `dzk` hands the command over to it.
//!
//! The driver is stood in for by a `libcuda.so.1` compiled here (cc) whose answers come from environment
//! variables, found first through `LD_LIBRARY_PATH`.

#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{digits_input, digits_model, s};

/// A fake NVIDIA driver: cuInit returns FAKE_CU_INIT (default 0), the version is FAKE_CU_VERSION (default
/// 13000), one device "Fake GPU" of compute capability 9.0.
const FAKE_DRIVER: &str = r#"
#include <stdlib.h>
#include <string.h>
static int env(const char *name, int dflt) { const char *v = getenv(name); return v ? atoi(v) : dflt; }
int cuInit(unsigned int flags) { (void)flags; return env("FAKE_CU_INIT", 0); }
int cuDriverGetVersion(int *v) { *v = env("FAKE_CU_VERSION", 13000); return 0; }
int cuDeviceGetCount(int *n) { *n = env("FAKE_CU_COUNT", 1); return 0; }
int cuDeviceGet(int *d, int ordinal) { *d = ordinal; return 0; }
int cuDeviceGetName(char *name, int len, int dev) { (void)dev; strncpy(name, "Fake GPU", len); return 0; }
int cuDeviceTotalMem_v2(size_t *bytes, int dev) { (void)dev; *bytes = (size_t)80 << 30; return 0; }
int cuDeviceGetAttribute(int *v, int attr, int dev) { (void)dev; *v = attr == 75 ? 9 : 0; return 0; }
"#;

/// A digits run as one chunk, keyed, with the fake driver built beside it.
struct Bench {
    tmp: tempfile::TempDir,
}

impl Bench {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let b = Bench { tmp };
        let (run, params) = (b.path("run"), b.path("params"));
        b.ok(
            &[
                "partition",
                s(&digits_model()),
                "--chunks",
                "1",
                "-o",
                s(&run),
            ],
            &[],
        );
        let plan = dzk_verifier::audit::read_plan(&run).expect("plan");
        let k = plan.chunks[0].k.to_string();
        b.ok(&["setup", "--k", &k, "-o", s(&params)], &[]);
        b.ok(&["keygen", s(&run), "--params", s(&params)], &[]);
        let lib = b.path("driver");
        std::fs::create_dir_all(&lib).expect("mkdir");
        std::fs::write(lib.join("fake.c"), FAKE_DRIVER).expect("write");
        let cc = Command::new("cc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(lib.join("libcuda.so.1"))
            .arg(lib.join("fake.c"))
            .output()
            .expect("cc (the fake driver)");
        assert!(
            cc.status.success(),
            "{}",
            String::from_utf8_lossy(&cc.stderr)
        );
        b
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// `dzk` with `args` and `env` (and an empty LD_LIBRARY_PATH unless `env` sets one).
    fn dzk(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_dzk"));
        c.args(args)
            .env("DZK_CACHE_DIR", self.path("cache"))
            .env("LD_LIBRARY_PATH", self.path("nothing"))
            .env_remove("DZK_GPU_PROVER");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().expect("run dzk")
    }

    fn ok(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let o = self.dzk(args, env);
        assert!(
            o.status.success(),
            "dzk {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o
    }

    /// `prove-chunk` of the one chunk into `proofs` with `--backend which`.
    fn prove(&self, proofs: &str, which: &str, env: &[(&str, &str)]) -> Output {
        let (run, params, out) = (self.path("run"), self.path("params"), self.path(proofs));
        self.dzk(
            &[
                "prove-chunk",
                s(&run),
                "--chunk",
                "0",
                "--input",
                s(&digits_input(1)),
                "--params",
                s(&params),
                "-o",
                s(&out),
                "--backend",
                which,
                "--json",
            ],
            env,
        )
    }

    /// `auto` proves on the CPU, says `why` on stderr and in the JSON, and the proof verifies.
    fn falls_back(&self, proofs: &str, env: &[(&str, &str)], why: &str) {
        let o = self.prove(proofs, "auto", env);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(j["backend"], "cpu", "{j}");
        let note = j["backend_note"]
            .as_str()
            .expect("a note saying why not the GPU");
        assert!(note.contains(why), "note {note:?} does not say {why:?}");
        assert_eq!(
            err.matches("dzk: proving on the CPU:").count(),
            1,
            "said once on stderr: {err}"
        );
        assert!(err.contains(why), "{err}");
        let v = self.ok(
            &[
                "verify-all",
                s(&self.path(proofs)),
                "--run",
                s(&self.path("run")),
                "--params",
                s(&self.path("params")),
                "--json",
            ],
            &[],
        );
        let j: serde_json::Value = serde_json::from_slice(&v.stdout).expect("json");
        assert_eq!(j["verdict"], "valid", "{j}");
    }

    /// `dzk devices --json` says `auto` proves on the CPU because of `why` (what `auto` decides, without the
    /// proof: `falls_back` proves in the cases that differ in how `dzk` gets there).
    fn decides_cpu(&self, env: &[(&str, &str)], why: &str) -> serde_json::Value {
        let o = self.ok(&["devices", "--json"], env);
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(j["build"], "cpu", "{j}");
        assert_eq!(j["auto"], "cpu", "{j}");
        let reason = j["reason"].as_str().expect("a reason");
        assert!(
            reason.contains(why),
            "reason {reason:?} does not say {why:?}"
        );
        j
    }

    /// `gpu` exits 2 saying `why`, and writes no proof.
    fn refuses_gpu(&self, proofs: &str, env: &[(&str, &str)], why: &str) {
        let o = self.prove(proofs, "gpu", env);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(
            err.contains("--backend gpu: ") && err.contains(why),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(!self.path(proofs).join("chunk-0.proof").exists());
    }

    fn driver(&self) -> String {
        s(&self.path("driver")).to_string()
    }
}

/// The GPU prover `cargo xtask gpu` builds beside `dzk`, when it did (CI builds it and sets
/// DZK_EXPECT_GPU_PROVER, so there its absence fails).
fn built_gpu_prover() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_BIN_EXE_dzk")).with_file_name("dzk-gpu");
    if p.is_file() {
        return Some(p);
    }
    assert!(
        std::env::var_os("DZK_EXPECT_GPU_PROVER").is_none(),
        "DZK_EXPECT_GPU_PROVER is set but {} was not built",
        p.display()
    );
    eprintln!(
        "{} is not built (cargo xtask gpu); its part is left out",
        p.display()
    );
    None
}

#[test]
fn without_a_usable_gpu_auto_proves_on_the_cpu_and_gpu_is_refused() {
    let b = Bench::new();
    let d = b.driver();
    let lib = [("LD_LIBRARY_PATH", d.as_str())];

    // No driver at all (an empty LD_LIBRARY_PATH; this test machine has none): proven on the CPU, verified.
    let devices = b.ok(&["devices", "--json"], &[]);
    let j: serde_json::Value = serde_json::from_slice(&devices.stdout).expect("json");
    if j["driver"].is_null() {
        b.decides_cpu(&[], "no NVIDIA driver");
        b.falls_back("p-none", &[], "no NVIDIA driver");
        b.refuses_gpu("g-none", &[], "no NVIDIA driver");
    } else {
        eprintln!("this machine has an NVIDIA driver: the no-driver case is left out");
    }

    // A driver that sees no device, one too old for CUDA 13, one that fails.
    let no_device = [lib[0], ("FAKE_CU_INIT", "100")];
    b.decides_cpu(&no_device, "sees no CUDA device");
    b.refuses_gpu("g-nodev", &no_device, "sees no CUDA device");
    let old = [lib[0], ("FAKE_CU_VERSION", "12040")];
    b.decides_cpu(&old, "supports CUDA 12.4");
    b.refuses_gpu("g-old", &old, "driver 580 or newer");
    let broken = [lib[0], ("FAKE_CU_INIT", "999")];
    b.decides_cpu(&broken, "cuInit failed: CUDA_ERROR_UNKNOWN (999)");
    b.refuses_gpu(
        "g-broken",
        &broken,
        "cuInit failed: CUDA_ERROR_UNKNOWN (999)",
    );

    // A device, but no GPU prover binary where DZK_GPU_PROVER says.
    let missing = [lib[0], ("DZK_GPU_PROVER", "/nonexistent/dzk-gpu")];
    b.decides_cpu(
        &missing,
        "DZK_GPU_PROVER=/nonexistent/dzk-gpu names no file",
    );
    b.refuses_gpu("g-missing", &missing, "names no file");

    // A GPU prover that cannot start (as dzk-gpu aborts before main without a real device).
    let crash = b.path("crash.sh");
    std::fs::write(
        &crash,
        "#!/bin/sh\necho 'panic in a function that cannot unwind' >&2\nkill -ABRT $$\n",
    )
    .expect("write");
    chmod_x(&crash);
    let crashing = [lib[0], ("DZK_GPU_PROVER", s(&crash))];
    let j = b.decides_cpu(&crashing, "cannot prove here");
    assert_eq!(j["driver"]["devices"][0]["name"], "Fake GPU", "{j}");
    assert_eq!(j["driver"]["cuda_version"], "13.0", "{j}");
    assert_eq!(j["gpu_prover"], s(&crash), "{j}");
    b.refuses_gpu(
        "g-crash",
        &crashing,
        "panic in a function that cannot unwind",
    );

    // The real GPU prover, given a driver that says there is a device: it cannot start; dzk proves on the CPU.
    match built_gpu_prover() {
        Some(real) => {
            let with_real = [lib[0], ("DZK_GPU_PROVER", s(&real))];
            b.falls_back("p-real", &with_real, "cannot prove here");
            b.refuses_gpu("g-real", &with_real, "cannot prove here");
            // Found beside dzk without DZK_GPU_PROVER.
            b.decides_cpu(
                &lib,
                &format!("the GPU prover {} cannot prove here", real.display()),
            );
        }
        None => b.falls_back("p-crash", &crashing, "cannot prove here"),
    }

    // --backend cpu never asks.
    let o = b.prove("p-cpu", "cpu", &crashing);
    assert!(o.status.success());
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(j["backend"], "cpu");
    assert!(j["backend_note"].is_null(), "{j}");
    assert!(!String::from_utf8_lossy(&o.stderr).contains("proving on"));
}

#[test]
fn a_gpu_prover_that_starts_is_handed_the_command() {
    let b = Bench::new();
    let d = b.driver();
    // A stand-in that passes the check, records its arguments and proves with the real dzk on the CPU (with no
    // driver in sight, so dzk does not hand the command back).
    let args_file = b.path("args");
    let stand_in = b.path("stand-in.sh");
    std::fs::write(
        &stand_in,
        format!(
            "#!/bin/sh\nif [ \"$1\" = devices ]; then\n  echo '{{\"build\": \"gpu\", \"ready\": true, \"device\": {{\"name\": \"Fake GPU\"}}}}'\n  exit 0\nfi\n\
             printf '%s\\n' \"$@\" > {}\nLD_LIBRARY_PATH= exec {} \"$@\"\n",
            s(&args_file),
            env!("CARGO_BIN_EXE_dzk")
        ),
    )
    .expect("write");
    chmod_x(&stand_in);
    let env = [
        ("LD_LIBRARY_PATH", d.as_str()),
        ("DZK_GPU_PROVER", s(&stand_in)),
    ];
    let o = b.prove("p", "gpu", &env);
    let err = String::from_utf8_lossy(&o.stderr);
    // The stand-in got exactly the command's arguments; the dzk it ran had no GPU, so --backend gpu refused there.
    assert!(
        err.contains(&format!(
            "dzk: proving on Fake GPU with {}",
            stand_in.display()
        )),
        "{err}"
    );
    let got = std::fs::read_to_string(&args_file).expect("the stand-in ran");
    let want: Vec<String> = [
        "prove-chunk",
        s(&b.path("run")),
        "--chunk",
        "0",
        "--input",
        s(&digits_input(1)),
        "--params",
        s(&b.path("params")),
        "-o",
        s(&b.path("p")),
        "--backend",
        "gpu",
        "--json",
    ]
    .iter()
    .map(|a| (*a).to_string())
    .collect();
    assert_eq!(got.lines().collect::<Vec<_>>(), want);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--backend gpu: no GPU: no NVIDIA driver"),
        "{err}"
    );
    // With auto, the stand-in's dzk proves on the CPU and its output is the command's.
    let o = b.prove("p", "auto", &env);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(j["backend"], "cpu", "{j}");
    assert!(b.path("p").join("chunk-0.proof").exists());
}

fn chmod_x(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}
