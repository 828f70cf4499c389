//! `cargo xtask ci`: every check a change must pass, in the order that fails fastest.

use std::process::Command;

use anyhow::{bail, Context};

/// Runs `cargo` with `args` in the workspace root, failing if it fails.
pub fn cargo(args: &[&str]) -> anyhow::Result<()> {
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(crate::tidy::workspace_root()?)
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Which `dzk` the cluster tests drive.
pub enum Dzk {
    /// `target/debug/dzk`, which `cargo test --workspace` has just built (its dependencies optimised as in
    /// release): CI's choice, since a release build of the CLI from nothing costs a clean clone
    /// minutes of compiling for proofs of a few seconds.
    Debug,
    /// `target/release/dzk`, built by the tests' fixture: for `cargo xtask slow`, whose proofs are long.
    Release,
}

/// The cluster tests (`python/tests`, pytest on a real local Ray cluster and a one-node Slurm cluster), those
/// that `markers` selects (`"not slow"` for CI, `"slow"` for `cargo xtask slow`), driving `dzk`. They need the
/// package and its test extras: `python3 -m pip install './python[test]'` (`.ci/run` does this).
pub fn python_tests(markers: &str, dzk: Dzk) -> anyhow::Result<()> {
    let root = crate::tidy::workspace_root()?;
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import ray, pytest, dzk_ray"])
        .current_dir(&root)
        .output()
        .with_context(|| format!("running {python}"))?;
    if !probe.status.success() {
        bail!(
            "the Python tests need ray, pytest and dzk_ray: run `{python} -m pip install './python[test]'` ({})",
            String::from_utf8_lossy(&probe.stderr).trim()
        );
    }
    let mut pytest = Command::new(&python);
    pytest
        .args(["-m", "pytest", "-q", "python/tests", "-m", markers])
        .current_dir(&root);
    if let Dzk::Debug = dzk {
        // `cargo test --workspace` builds it for the CLI's tests; building it again here with `cargo build` would
        // resolve features without the dev-dependencies and recompile some of the tree.
        let built = root.join("target/debug/dzk");
        if !built.is_file() {
            bail!(
                "{} is missing: build it with `cargo build -p dzk-cli` (`ci` runs these tests after \
                 `cargo test --workspace`, which builds it)",
                built.display()
            );
        }
        // Linked into a folder of its own: the GPU prover that `ci` builds beside it would otherwise be shipped to
        // every Ray worker and started by every task, and the tests expect a `dzk` alone, as a release build is.
        let dir = root.join("target/cluster-tests");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let bin = dir.join("dzk");
        let _ = std::fs::remove_file(&bin);
        std::fs::hard_link(&built, &bin)
            .or_else(|_| std::fs::copy(&built, &bin).map(drop))
            .with_context(|| format!("linking {} to {}", built.display(), bin.display()))?;
        eprintln!("xtask: DZK_BIN={}", bin.display());
        pytest.env("DZK_BIN", bin);
    }
    eprintln!("xtask: {python} -m pytest -q python/tests -m '{markers}'");
    let status = pytest.status().context("running pytest")?;
    if !status.success() {
        bail!("python tests failed ({status})");
    }
    Ok(())
}

/// Installs the pinned solc-js and points `DZK_SOLCJS` at it for the tests that follow (unless already set).
pub fn with_solc() -> anyhow::Result<()> {
    if std::env::var_os("DZK_SOLCJS").is_none() {
        let program = crate::solc::install()?;
        std::env::set_var("DZK_SOLCJS", program);
    }
    Ok(())
}

/// The CI sequence.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let fast = args.iter().any(|a| a == "--fast");
    if let Some(other) = args.iter().find(|a| *a != "--fast") {
        bail!("unknown ci flag {other}");
    }
    cargo(&["fmt", "--all", "--check"])?;
    crate::tidy::run()?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    with_solc()?;
    // The GPU prover (dzk-gpu) is built on every run, so the `gpu` feature never rots; the backend tests then
    // start it on this GPU-less machine and must see `dzk` fall back to the CPU (crates/cli/tests/backend.rs).
    // Its dependencies are compiled with the features of the CPU build, so `cargo test` below reuses them; its
    // clippy (`cargo xtask gpu --clippy`, about a minute) is left to the developer who changes that code.
    crate::gpu::run_build(&[])?;
    std::env::set_var("DZK_EXPECT_GPU_PROVER", "1");
    cargo(&["test", "--workspace"])?;
    python_tests("not slow", Dzk::Debug)?;
    if !fast {
        std::env::set_var(
            "RUSTDOCFLAGS",
            "-D rustdoc::broken_intra_doc_links -D warnings",
        );
        cargo(&["doc", "--workspace", "--no-deps"])?;
    }
    eprintln!("xtask: ci passed");
    Ok(())
}
